data "wayfinder_cluster_network_plan" "eks" {
  name = "eks-standard"
}

output "assignable_networks" {
  value = data.wayfinder_cluster_network_plan.eks.assignable_networks
}
