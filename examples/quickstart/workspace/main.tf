# A workspace member's configuration: a cluster built from the published plan
# eks-general-purpose, through the self-service module `wayfinder-compile` wrote for it.
# The module checks the plan's choices and the provisioning policies before anything is
# planned; the server checks everything again (and prices the cluster) at `terraform plan`.
#
# Run with the member's token: WAYFINDER_SERVER and WAYFINDER_TOKEN.

terraform {
  required_version = ">= 1.8.0"

  required_providers {
    wayfinder = {
      source = "wayfinder/wayfinder"
    }
  }
}

provider "wayfinder" {
  workspace = var.workspace
}

module "cluster" {
  source = "../modules/clusters/eks-general-purpose"

  name        = var.cluster_name
  workspace   = var.workspace
  stage       = "nonprod"
  region      = "eu-west-2"
  description = "Payments development cluster"
  node_pools  = var.node_pools
  cluster_labels = {
    team = "payments"
  }
}

# The limits in force for this workspace's non-production AWS clusters.
data "wayfinder_provisioning_policy" "this" {
  workspace = var.workspace
  stage     = "nonprod"
  cloud     = "aws"
}
