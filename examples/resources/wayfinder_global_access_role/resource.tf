# A Kubernetes role access policies can grant: read-only access to a namespace's common
# resources, secrets excluded.
resource "wayfinder_global_access_role" "namespace_view" {
  name = "namespace-view"

  access_role_template {
    description   = "Read-only access to standard resources, excluding secrets"
    cluster_scope = false

    rules {
      api_groups = [""]
      resources  = ["configmaps", "pods", "pods/log", "services"]
      verbs      = ["get", "list", "watch"]
    }

    rules {
      api_groups = ["apps"]
      resources  = ["deployments", "statefulsets"]
      verbs      = ["get", "list", "watch"]
    }
  }
}
