# The platform administrator's configuration: the stages, a workspace for the payments
# team, the cloud access its clusters are built with, the catalog compiled from
# examples/definitions (cluster plans, compute templates, network plans, packages,
# provisioning policies), and an access token for a member of the workspace.
#
# Run with an administrator's token: WAYFINDER_SERVER and WAYFINDER_TOKEN.

terraform {
  required_version = ">= 1.7.0"

  required_providers {
    wayfinder = {
      source = "wayfinder/wayfinder"
    }
  }
}

provider "wayfinder" {
  # The platform's own objects (cloud identities, cloud access, assignable networks) live
  # in the `admin` workspace.
  workspace = "admin"
}

resource "wayfinder_stage" "nonprod" {
  name         = "nonprod"
  display_name = "Non-production"
  description  = "Development and test clusters"
}

resource "wayfinder_stage" "prod" {
  name         = "prod"
  display_name = "Production"
  description  = "Clusters that serve customers"
}

resource "wayfinder_workspace" "pay" {
  name        = "pay"
  key         = "pay"
  summary     = "Payments"
  description = "The payments team's clusters"

  owners {
    kind = "User"
    name = var.workspace_owner
  }
}

resource "wayfinder_cloud_identity" "aws" {
  name        = "cloudidentity-aws"
  description = "Wayfinder's IAM role"
  cloud       = "aws"
  type        = "AWSIAMRoleForServiceAccount"

  aws {
    role_arn = "arn:aws:iam::123456789012:role/wayfinder-identity"
  }
}

resource "wayfinder_cloud_access_config" "aws_nonprod" {
  name        = "aws-nonprod"
  description = "Non-production AWS account for cluster provisioning"
  cloud       = "aws"
  type        = "Kubernetes"

  scope {
    all_workspaces = true
    allowed_stages = [wayfinder_stage.nonprod.name]
  }

  aws {
    account        = "123456789012"
    default_region = "eu-west-2"
  }

  cloud_identity_ref {
    cloud = "aws"
    name  = wayfinder_cloud_identity.aws.name
  }

  permissions {
    permission = "ClusterManager"
    aws_role   = "arn:aws:iam::123456789012:role/wf-ClusterManager"
  }
}

# Everything in examples/definitions, compiled by `wayfinder-compile`.
module "catalog" {
  source = "../modules/catalog"

  depends_on = [wayfinder_stage.nonprod, wayfinder_stage.prod, wayfinder_workspace.pay]
}

# A token for the payments team's pipeline: a member of `pay` may build clusters there.
resource "wayfinder_access_token" "pay_ci" {
  workspace   = wayfinder_workspace.pay.name
  name        = "pay-ci"
  description = "The payments team's pipeline"
  roles       = ["member"]
  ttl         = var.member_token_ttl
  store_token = true
}
