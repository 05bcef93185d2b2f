# Workspace owners get administrative access to their non-production clusters, for at most
# eight hours at a time (the cap on `wayfinder_cluster_credentials`).
resource "wayfinder_global_access_policy" "owner_nonprod" {
  name = "owner-nonprod"

  scope {
    all_workspaces = true
    allowed_stages = ["nonprod"]
  }

  access_policy_template {
    description      = "Workspace owners administer their non-production clusters"
    access_role_refs = ["cluster.admin"]
    groups           = ["owner"]
    subject_type     = "User"

    constraints {
      ttl = "8h"

      clusters {
        allowed {
          match_labels = {
            "appvia.io/stage" = "nonprod"
          }
        }
      }
    }
  }
}
