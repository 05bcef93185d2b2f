# A cluster another configuration manages, e.g. to point a kubernetes provider or a DNS
# record at it.
data "wayfinder_cluster" "payments" {
  workspace = "pay"
  name      = "payments-dev"
}

output "payments_cluster" {
  value = {
    status   = data.wayfinder_cluster.payments.status.status
    endpoint = data.wayfinder_cluster.payments.status.endpoint
    network  = data.wayfinder_cluster.payments.status.network.cidr
  }
}
