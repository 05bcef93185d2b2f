output "compute_template_ids" {
  description = "The ID of each compute template, by name."
  value = {
    "eks-general" = wayfinder_compute_template.eks_general.id
  }
}
