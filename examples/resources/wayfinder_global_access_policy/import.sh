# This resource is platform-wide: import it by name.
terraform import wayfinder_global_access_policy.owner_nonprod owner-nonprod
