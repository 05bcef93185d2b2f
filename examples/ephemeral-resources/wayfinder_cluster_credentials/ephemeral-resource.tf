terraform {
  required_providers {
    wayfinder = {
      source = "wayfinder/wayfinder"
    }
    kubernetes = {
      source = "hashicorp/kubernetes"
    }
  }
}

resource "wayfinder_cluster" "app" {
  name  = "payments-dev"
  stage = "nonprod"

  plan {
    name    = "eks-general-purpose"
    version = "1.3.0"
  }
}

# `cluster = ….id`: the ID is known once the cluster exists, so Terraform opens the
# credentials after creating it. They are issued anew at plan and at apply, and never
# written to the plan or the state.
ephemeral "wayfinder_cluster_credentials" "app" {
  cluster = wayfinder_cluster.app.id
  ttl     = "30m"
}

provider "kubernetes" {
  host  = ephemeral.wayfinder_cluster_credentials.app.endpoint
  token = ephemeral.wayfinder_cluster_credentials.app.token
}

resource "kubernetes_namespace" "payments" {
  metadata {
    name = "payments"
  }
}
