output "cluster_plans" {
  description = "The cluster plan versions published, name@version => ID."
  value       = module.catalog.cluster_plan_ids
}

output "member_token" {
  description = "The payments member's access token: hand it to the workspace's pipeline as WAYFINDER_TOKEN."
  value       = wayfinder_access_token.pay_ci.token
  sensitive   = true
}
