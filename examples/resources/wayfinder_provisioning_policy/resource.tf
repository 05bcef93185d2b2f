# What non-production AWS clusters may use and cost. `terraform plan` of a cluster that
# breaks a limit fails, pointing at the attribute that broke it.
resource "wayfinder_provisioning_policy" "aws_nonprod" {
  name            = "aws-nonprod"
  description     = "Limits for non-production AWS clusters"
  cloud           = "aws"
  allowed_regions = ["eu-west-2", "eu-west-1"]

  scope {
    all_workspaces = true
    allowed_stages = ["nonprod"]
  }

  cluster_limits {
    per_cluster {
      cost_per_month = 1500
      total_nodes    = 20

      allowed_instance_types {
        instance_type = "m6i.large"
      }

      allowed_instance_types {
        instance_type = "m6i.xlarge"
        max_nodes     = 10
      }
    }

    per_workspace {
      cost_per_month = 5000
      max_clusters   = 5
    }
  }
}
