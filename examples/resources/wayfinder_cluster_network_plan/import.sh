# This resource is platform-wide: import it by name.
terraform import wayfinder_cluster_network_plan.eks_standard eks-standard
