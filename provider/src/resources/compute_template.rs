//! `wayfinder_compute_template`: node-pool presets that cluster plans and clusters start from.

use wayfinder_model::kinds::COMPUTE_TEMPLATE;

use super::ResourceType;
use crate::schema::{Attribute, dsl::*};

pub fn resource() -> ResourceType {
    ResourceType::platform(
        &COMPUTE_TEMPLATE,
        "A compute template (`compute.appvia.io/v2beta2` ComputeTemplate): a named set of node-pool presets — general purpose, high-memory, low-cost spot — that cluster plans and workspace clusters start from. Administrators only.",
        vec![
            Attribute::spec("description", string(), Optional, "What the template is for, shown to workspace users."),
            Attribute::spec("provider", string(), Required, "The cluster provider the template targets: `EKS`, `AKS` or `GKE`. Changing it replaces the template.")
                .requires_replace(),
            Attribute::spec("nodePools", list_of(node_pool()), Required, "The node pools, at least one."),
        ],
    )
}

fn node_pool() -> Vec<Attribute> {
    vec![
        Attribute::field("logicalName", string(), Required, "The pool's name within the template; unique, lower-case letters, digits and `-`."),
        Attribute::field("description", string(), Optional, "What the pool is for."),
        Attribute::field("machine", string(), Required, "The instance type, e.g. `m6i.large`, `Standard_D4s_v5` or `e2-standard-4`."),
        Attribute::field("image", string(), Optional, "The node image, e.g. `AL2023_x86_64_STANDARD` (EKS) or `COS_CONTAINERD` (GKE)."),
        Attribute::field("diskSize", number(), Optional, "Root disk size in GiB, 10 to 16384."),
        Attribute::field("size", number(), Optional, "The initial node count, 0 to 1000. Required unless autoscaling is enabled; within its bounds when it is."),
        Attribute::field(
            "autoscaling",
            object(vec![
                Attribute::field("enabled", bool(), Optional, "Whether the pool scales between `min_size` and `max_size`."),
                Attribute::field("minSize", number(), Optional, "The fewest nodes; required when enabled."),
                Attribute::field("maxSize", number(), Optional, "The most nodes, at least `min_size`; required when enabled."),
            ]),
            Optional,
            "Autoscaling bounds for the pool.",
        ),
        Attribute::field("maxPodsPerNode", number(), Optional, "The most pods per node, 8 to 737."),
        Attribute::field(
            "spot",
            object(vec![
                Attribute::field("enabled", bool(), Optional, "Whether the pool runs on spot (preemptible) capacity."),
                Attribute::field(
                    "eks",
                    object(vec![Attribute::field(
                        "additionalInstanceTypes",
                        list_of_strings(),
                        Optional,
                        "Further instance types EKS may use to find spot capacity.",
                    )]),
                    Optional,
                    "EKS spot settings; only with `cloud_provider = \"EKS\"`.",
                ),
            ]),
            Optional,
            "Spot capacity settings.",
        ),
        Attribute::field(
            "taints",
            list_of(vec![
                Attribute::field("key", string(), Required, "The taint key."),
                Attribute::field("value", string(), Optional, "The taint value."),
                Attribute::field("effect", string(), Required, "`NoSchedule`, `PreferNoSchedule` or `NoExecute`."),
            ]),
            Optional,
            "Kubernetes taints applied to every node in the pool.",
        ),
        Attribute::field(
            "providerDetails",
            object(vec![Attribute::field(
                "aks",
                object(vec![Attribute::field("mode", string(), Optional, "`System` or `User`.")]),
                Optional,
                "AKS settings; only with `cloud_provider = \"AKS\"`.",
            )]),
            Optional,
            "Provider-specific node-pool settings.",
        ),
    ]
}
