# The latest published version of a plan (leave out `version`), e.g. to build from it
# without pinning a version in the configuration.
data "wayfinder_cluster_plan" "eks" {
  name = "eks-general-purpose"
}

output "eks_plan" {
  value = {
    version            = data.wayfinder_cluster_plan.eks.version
    kubernetes_version = data.wayfinder_cluster_plan.eks.cluster.kubernetes_version
    regions            = data.wayfinder_cluster_plan.eks.choices.regions.allowed
  }
}
