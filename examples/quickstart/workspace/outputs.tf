output "cluster_id" {
  description = "The cluster's ID (workspace/name)."
  value       = module.cluster.id
}

output "endpoint" {
  description = "The cluster's Kubernetes API endpoint."
  value       = module.cluster.endpoint
}

output "estimated_monthly_cost" {
  description = "What the cluster is estimated to cost a month, in total and per node pool."
  value       = module.cluster.estimated_monthly_cost
}

output "monthly_cost_ceiling" {
  description = "The most a cluster of this workspace may cost a month here, by the provisioning policy."
  value       = data.wayfinder_provisioning_policy.this.cluster_limits.per_cluster.cost_per_month
}
