# A cluster built from the published plan eks-general-purpose 1.3.0. `terraform plan`
# asks the server whether it is allowed (plan, policies, cost) and shows
# `estimated_monthly_cost`; `terraform apply` waits until it is built.
resource "wayfinder_cluster" "payments_dev" {
  workspace        = "pay"
  name             = "payments-dev"
  description      = "Payments development cluster"
  stage            = "nonprod"
  region           = "eu-west-2"
  compute_template = "eks-general-purpose"
  cluster_labels = {
    team = "payments"
  }

  plan {
    name    = "eks-general-purpose"
    version = "1.3.0"
  }

  # Replaces the template's pool of the same logical name.
  node_pools {
    logical_name = "compute"
    description  = "Bigger application nodes"
    machine      = "m6i.xlarge"
    disk_size    = 200
    size         = 2

    autoscaling {
      enabled  = true
      min_size = 2
      max_size = 6
    }

    taints {
      key    = "dedicated"
      value  = "payments"
      effect = "NoSchedule"
    }
  }

  network {
    size = 22
  }

  timeouts {
    create = "45m"
  }
}

output "payments_dev" {
  value = {
    endpoint = wayfinder_cluster.payments_dev.endpoint
    cost     = wayfinder_cluster.payments_dev.estimated_monthly_cost.total
  }
}
