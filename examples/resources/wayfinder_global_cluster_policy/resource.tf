# A Kyverno policy Wayfinder delivers to every production cluster of the payments
# workspace. Rule bodies are written as HCL objects with Kyverno's own field names.
resource "wayfinder_global_cluster_policy" "require_team_label" {
  name        = "require-team-label"
  description = "Every namespace says which team owns it"

  policy {
    type = "Kyverno"

    kyverno {
      validation_failure_action = "Enforce"
      background                = true

      rules {
        name = "namespace-has-team"
        match = {
          resources = {
            kinds = ["Namespace"]
          }
        }
        validate = {
          message = "Label every namespace with the team that owns it (metadata.labels.team)."
          pattern = {
            metadata = {
              labels = {
                team = "?*"
              }
            }
          }
        }
      }
    }
  }

  target {
    cluster {
      match_labels = {
        "appvia.io/stage" = "prod"
      }

      match_expressions {
        key      = "appvia.io/workspace"
        operator = "In"
        values   = ["pay"]
      }
    }
  }
}
