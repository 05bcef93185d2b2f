# The limits in force for AWS clusters of workspace `pay` in stage `nonprod`, whichever
# policies they come from.
data "wayfinder_provisioning_policy" "pay_nonprod" {
  workspace = "pay"
  stage     = "nonprod"
  cloud     = "aws"
}

output "monthly_cost_ceiling" {
  value = data.wayfinder_provisioning_policy.pay_nonprod.cluster_limits.per_cluster.cost_per_month
}
