# How EKS cluster networks are laid out: a /22 node range from the stage's assignable
# networks, three availability zones with a NAT gateway each.
resource "wayfinder_cluster_network_plan" "eks_standard" {
  name                = "eks-standard"
  summary             = "EKS network from the assignable ranges"
  assignable_networks = ["aws-nonprod", "aws-prod"]

  allocation {
    type       = "all"
    workspaces = ["*"]
  }

  template {
    provider = "aws"

    provider_details {
      type = "aws"

      aws {
        availability_zones = 3
        nat_gateways       = 3
      }
    }

    ipv4 {
      cidr_blocks {
        type = "node"
        size = 22
      }
    }

    layout {
      mode            = "auto"
      private_subnets = 3
      public_subnets  = 3
    }
  }
}
