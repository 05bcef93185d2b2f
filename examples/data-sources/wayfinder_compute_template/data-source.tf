data "wayfinder_compute_template" "general" {
  name = "eks-general-purpose"
}

# The machine of each pool, by logical name.
output "machines" {
  value = { for p in data.wayfinder_compute_template.general.node_pools : p.logical_name => p.machine }
}
