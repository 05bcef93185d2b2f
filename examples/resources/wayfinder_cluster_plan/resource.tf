# A versioned cluster plan: each version is its own object (`version` replaces), and
# `publish_state` decides whether workspaces may build from it.
resource "wayfinder_cluster_plan" "eks_general_purpose" {
  name           = "eks-general-purpose"
  version        = "1.3.0"
  publish_state  = "Published"
  description    = "General purpose EKS cluster"
  cloud_provider = "EKS"

  scope {
    all_workspaces = true
    allowed_stages = ["nonprod", "prod"]
  }

  cluster {
    kubernetes_version = "1.32"

    packages {
      name    = "cert-manager"
      version = "1.15.3-2"
    }

    provider_details {
      eks {
        imds_v2_required              = true
        imds_token_response_hop_limit = 2

        cloud_watch_logging {
          api   = true
          audit = true
        }

        encryption {
          secrets_encryption_enabled = true
        }
      }
    }

    security {
      pod_security_standard {
        enabled         = true
        default_profile = "baseline"
        allowed         = ["restricted", "baseline"]
      }
    }
  }

  network {
    network_plan = "eks-standard"

    authorized_master_networks {
      name = "office"
      cidr = "203.0.113.0/24"
    }
  }

  # What workspace users may choose when they build from this plan.
  choices {
    regions {
      default = "eu-west-2"
      allowed = ["eu-west-2", "eu-west-1"]
    }

    compute_templates {
      default = "eks-general-purpose"
      allowed = ["eks-general-purpose", "eks-high-memory"]
    }

    node_pools {
      allow_override   = true
      allowed_machines = ["m6i.large", "m6i.xlarge", "r6i.2xlarge"]
      max_size         = 20
    }

    network {
      default_size  = 22
      allowed_sizes = [21, 22, 23]
    }
  }
}
