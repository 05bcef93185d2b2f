# The address space non-production AWS cluster networks are cut from. Assignable networks
# live in the platform's own workspace, `admin`.
resource "wayfinder_assignable_network" "aws_nonprod" {
  workspace      = "admin"
  name           = "aws-nonprod"
  cloud_provider = "aws"
  stage          = "nonprod"

  networks {
    range = "10.16.0.0/12"
    type  = "node"
  }
}
