# Import one version by NAME@VERSION (or NAME alone, for its latest published version).
terraform import wayfinder_cluster_plan.eks_general_purpose eks-general-purpose@1.3.0
