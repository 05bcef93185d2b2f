# Node pools a cluster plan offers as a starting point: a fixed system pool and an
# autoscaling pool for applications.
resource "wayfinder_compute_template" "eks_general_purpose" {
  name           = "eks-general-purpose"
  description    = "General purpose EKS node pools"
  cloud_provider = "EKS"

  node_pools {
    logical_name = "system"
    description  = "Cluster add-ons"
    machine      = "m6i.large"
    disk_size    = 50
    size         = 2
  }

  node_pools {
    logical_name      = "compute"
    description       = "Application workloads"
    machine           = "m6i.xlarge"
    image             = "AL2023_x86_64_STANDARD"
    disk_size         = 100
    size              = 2
    max_pods_per_node = 110

    autoscaling {
      enabled  = true
      min_size = 2
      max_size = 10
    }
  }
}
