variable "workspace" {
  description = "The workspace the cluster belongs to."
  type        = string
  default     = "pay"
}

variable "cluster_name" {
  description = "The cluster's name."
  type        = string
  default     = "payments-dev"
}

variable "node_pools" {
  description = "Node pools replacing (by logical_name) or added to the compute template's; see the module's README for the fields."
  type        = any
  default     = []
}
