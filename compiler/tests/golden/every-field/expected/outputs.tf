output "compute_template_ids" {
  description = "The ID of each compute template, by name."
  value = {
    "1st-eks"         = wayfinder_compute_template.t_1st_eks.id
    "aks-high-memory" = wayfinder_compute_template.aks_high_memory.id
    "eks-spot-gpu"    = wayfinder_compute_template.eks_spot_gpu.id
    "gke-low-cost"    = wayfinder_compute_template.gke_low_cost.id
  }
}
