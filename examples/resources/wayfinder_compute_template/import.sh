# This resource is platform-wide: import it by name.
terraform import wayfinder_compute_template.eks_general_purpose eks-general-purpose
