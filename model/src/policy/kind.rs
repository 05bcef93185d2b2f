//! The ProvisioningPolicy kind itself: its spec, its field shape and its validation.

use serde::{Deserialize, Serialize};

use crate::common::{CLOUDS, SCOPE_SHAPE, ScopeSpec};
use crate::error::{FieldPath, Reason};
use crate::kinds::{KindInfo, PROVISIONING_POLICY};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// A provisioning policy.
pub type ProvisioningPolicy = Typed<ProvisioningPolicySpec>;

/// The spec of a ProvisioningPolicy: the regions, instance types, node counts and cost allowed to a cloud's clusters where it applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisioningPolicySpec {
    /// `spec.description`: what the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The workspaces and stages it applies to; everywhere when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSpec>,
    /// `aws`, `azure` or `gcp`.
    #[serde(default)]
    pub cloud: String,
    /// Regions clusters may use; any when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_regions: Option<Vec<String>>,
    /// `spec.clusterLimits`: limits per cluster and per workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_limits: Option<ClusterLimits>,
}

/// `spec.clusterLimits` of a ProvisioningPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterLimits {
    /// Limits on each cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_cluster: Option<Limits>,
    /// Limits on all of a workspace's clusters together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_workspace: Option<Limits>,
}

/// `perCluster` or `perWorkspace` of a ProvisioningPolicy's `clusterLimits`; an absent limit is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Instance types that may be used, each with an optional node maximum; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_instance_types: Option<Vec<InstanceTypeLimit>>,
    /// Estimated monthly cost ceiling in USD (list prices, 720 hours a month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_month: Option<i64>,
    /// Most nodes, counting every pool at its largest possible size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_nodes: Option<i64>,
    /// Most clusters (per workspace only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clusters: Option<i64>,
}

/// One of `allowedInstanceTypes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceTypeLimit {
    /// `instanceType`: the instance type, e.g. `m6i.large`.
    #[serde(default)]
    pub instance_type: String,
    /// Most nodes of this type; no per-type maximum when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<i64>,
}

const LIMITS_SHAPE: &[Field] = &[
    Field::optional(
        "allowedInstanceTypes",
        FieldType::ObjectList(&[
            Field::required(
                "instanceType",
                FieldType::String,
                "An instance type, e.g. `m6i.large`.",
            ),
            Field::optional(
                "maxNodes",
                FieldType::Number,
                "The most nodes of this type.",
            ),
        ]),
        "Instance types that may be used, each with an optional node maximum; any when not set.",
    ),
    Field::optional(
        "costPerMonth",
        FieldType::Number,
        "Estimated monthly cost ceiling in USD (list prices, 720 hours a month).",
    ),
    Field::optional(
        "totalNodes",
        FieldType::Number,
        "The most nodes, counting every pool at its largest possible size.",
    ),
    Field::optional(
        "maxClusters",
        FieldType::Number,
        "The most clusters (`per_workspace` only).",
    ),
];

/// The fields of a ProvisioningPolicy's spec.
pub const SPEC_SHAPE: &[Field] = &[
    Field::optional("description", FieldType::String, "What the policy is for."),
    Field::optional(
        "scope",
        FieldType::Object(SCOPE_SHAPE),
        "The workspaces and stages it applies to; everywhere when not set.",
    ),
    Field::required(
        "cloud",
        FieldType::String,
        "The cloud it governs: `aws`, `azure` or `gcp`.",
    ),
    Field::optional(
        "allowedRegions",
        FieldType::StringList,
        "Regions clusters may use; any when not set.",
    ),
    Field::optional(
        "clusterLimits",
        FieldType::Object(&[
            Field::optional(
                "perCluster",
                FieldType::Object(LIMITS_SHAPE),
                "Limits on each cluster.",
            ),
            Field::optional(
                "perWorkspace",
                FieldType::Object(LIMITS_SHAPE),
                "Limits on all of a workspace's clusters together.",
            ),
        ]),
        "Limits on clusters.",
    ),
];

impl Spec for ProvisioningPolicySpec {
    const INFO: &'static KindInfo = &PROVISIONING_POLICY;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        if let Some(scope) = &self.scope {
            scope.check(c, &path.field("scope"));
        }
        c.one_of(&path.field("cloud"), &self.cloud, CLOUDS);
        for (i, r) in self.allowed_regions.iter().flatten().enumerate() {
            c.required(
                &path.field("allowedRegions").index(i),
                r,
                "a region name such as eu-west-2",
            );
        }
        if let Some(limits) = &self.cluster_limits {
            let p = path.field("clusterLimits");
            if let Some(l) = &limits.per_cluster {
                l.check(c, &p.field("perCluster"));
                if l.max_clusters.is_some() {
                    c.push(
                        &p.field("perCluster").field("maxClusters"),
                        Reason::Forbidden,
                        "a cluster count limit applies per workspace: move it to perWorkspace",
                    );
                }
            }
            if let Some(l) = &limits.per_workspace {
                l.check(c, &p.field("perWorkspace"));
            }
        }
    }
}

impl Limits {
    fn check(&self, c: &mut Checker, p: &FieldPath) {
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, t) in self.allowed_instance_types.iter().flatten().enumerate() {
            let tp = p.field("allowedInstanceTypes").index(i);
            c.required(
                &tp.field("instanceType"),
                &t.instance_type,
                "an instance type such as m6i.large",
            );
            if seen.contains(&t.instance_type.as_str()) {
                c.push(
                    &tp.field("instanceType"),
                    Reason::Duplicate,
                    format!(
                        "{:?} is listed twice; list each instance type once",
                        t.instance_type
                    ),
                );
            }
            seen.insert(&t.instance_type);
            if let Some(n) = t.max_nodes {
                c.range(&tp.field("maxNodes"), n, (1, 100_000), "nodes");
            }
        }
        if let Some(v) = self.cost_per_month {
            c.range(&p.field("costPerMonth"), v, (0, 100_000_000), "USD");
        }
        if let Some(v) = self.total_nodes {
            c.range(&p.field("totalNodes"), v, (1, 100_000), "nodes");
        }
        if let Some(v) = self.max_clusters {
            c.range(&p.field("maxClusters"), v, (0, 10_000), "clusters");
        }
    }
}
