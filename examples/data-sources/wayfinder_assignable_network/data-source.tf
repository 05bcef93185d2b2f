# The platform's assignable networks live in the admin workspace.
data "wayfinder_assignable_network" "nonprod" {
  workspace = "admin"
  name      = "aws-nonprod"
}

output "ranges" {
  value = [for n in data.wayfinder_assignable_network.nonprod.networks : n.range]
}
