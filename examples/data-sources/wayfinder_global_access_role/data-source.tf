data "wayfinder_global_access_role" "view" {
  name = "cluster.view"
}

output "cluster_scope" {
  value = data.wayfinder_global_access_role.view.access_role_template.cluster_scope
}
