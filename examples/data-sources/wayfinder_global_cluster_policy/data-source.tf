data "wayfinder_global_cluster_policy" "labels" {
  name = "require-team-label"
}

output "rules" {
  value = length(data.wayfinder_global_cluster_policy.labels.policy.kyverno.rules)
}
