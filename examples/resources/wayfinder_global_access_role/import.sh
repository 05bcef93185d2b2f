# This resource is platform-wide: import it by name.
terraform import wayfinder_global_access_role.namespace_view namespace-view
