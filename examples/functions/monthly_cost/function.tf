terraform {
  # Provider functions need Terraform 1.8 or later (OpenTofu 1.7).
  required_version = ">= 1.8.0"

  required_providers {
    wayfinder = {
      source = "wayfinder/wayfinder"
    }
  }
}

# Offline: the function needs no server and no provider configuration.
locals {
  cost = provider::wayfinder::monthly_cost("aws", "eu-west-2", [
    { name = "system", machine = "m6i.large", max_size = 2, spot = false, disk_size = 50 },
    { name = "compute", machine = "m6i.xlarge", max_size = 6, spot = false, disk_size = 200 },
    { name = "batch", machine = "m6i.large", max_size = 4, spot = true, disk_size = null },
  ])
}

output "monthly_cost" {
  value = local.cost
}

check "budget" {
  assert {
    condition     = local.cost.total <= 1500
    error_message = "This cluster would cost ${local.cost.total} ${local.cost.currency} a month, over the 1500 budgeted."
  }
}
