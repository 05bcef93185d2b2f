# A platform identity lives in the admin workspace.
data "wayfinder_cloud_identity" "aws" {
  workspace = "admin"
  name      = "cloudidentity-aws"
}

output "role_arn" {
  value = data.wayfinder_cloud_identity.aws.aws.role_arn
}
