# This resource is platform-wide: import it by name.
terraform import wayfinder_global_cluster_policy.require_team_label require-team-label
