data "wayfinder_global_access_policy" "admin" {
  name = "cluster-admin"
}

output "roles" {
  value = data.wayfinder_global_access_policy.admin.access_policy_template.access_role_refs
}
