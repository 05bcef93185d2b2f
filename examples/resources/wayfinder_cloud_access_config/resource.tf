# An AWS account every workspace may build non-production clusters in, through the roles
# Wayfinder's identity assumes.
resource "wayfinder_cloud_access_config" "aws_nonprod" {
  workspace   = "admin"
  name        = "aws-nonprod"
  description = "Non-production AWS account for cluster provisioning"
  cloud       = "aws"
  type        = "Kubernetes"

  scope {
    all_workspaces = true
    allowed_stages = ["nonprod"]
  }

  aws {
    account        = "123456789012"
    default_region = "eu-west-2"
  }

  cloud_identity_ref {
    cloud = "aws"
    name  = "cloudidentity-aws"
  }

  permissions {
    permission = "ClusterManager"
    aws_role   = "arn:aws:iam::123456789012:role/wf-ClusterManager"
  }

  permissions {
    permission = "NetworkManager"
    aws_role   = "arn:aws:iam::123456789012:role/wf-NetworkManager"
  }
}
