//! `compute.appvia.io/v2beta2` Cluster: a workspace's cluster, built from a published
//! cluster plan. Wayfinder's own v2beta2 Cluster spec is not public; this is ours
//! (documented in docs/cluster-spec.md):
//!
//! ```yaml
//! apiVersion: compute.appvia.io/v2beta2
//! kind: Cluster
//! metadata: {name: payments-dev, namespace: ws-pay}
//! spec:
//!   plan: {name: eks-general-purpose, version: 1.3.0}
//!   stage: nonprod
//!   region: eu-west-2
//!   cloudAccessRef: {name: aws-nonprod}
//!   computeTemplate: eks-general-purpose
//!   nodePools: [...]            # whole pools in the ComputeTemplate shape; same logicalName replaces
//!   network: {size: 22}         # or {cidr: 10.20.0.0/22}
//!   clusterLabels: {team: payments}
//! ```
//!
//! What a user may set beyond the plan's defaults is decided by the plan; checking that needs
//! the plan, so it happens when references are resolved, not here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compute::{NODE_POOL_SHAPE, NodePool};
use crate::error::{FieldPath, Reason};
use crate::kinds::{CLUSTER, KindInfo};
use crate::meta::ObjectMeta;
use crate::net::Ipv4Net;
use crate::object::{LAST_RECONCILE_SHAPE, Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// The labels Wayfinder sets on every cluster, which policies select on; a cluster's own
/// `clusterLabels` may not set them, and admission writes them into its `metadata.labels`
/// ([`KindInfo::server_labels`]).
pub const RESERVED_LABELS: &[&str] = &[
    "appvia.io/stage",
    "appvia.io/plan",
    "appvia.io/provider",
    "appvia.io/cloud",
    "appvia.io/workspace",
];

/// A cluster.
pub type Cluster = Typed<ClusterSpec>;

/// Smallest and largest network prefix a cluster may ask for; node ranges are at least /24.
pub const NETWORK_PREFIX_RANGE: (i64, i64) = (16, 24);

/// The spec of a Cluster: a Kubernetes cluster built from a published cluster plan version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// `spec.description`: what the cluster is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The published cluster plan version the cluster is built from.
    #[serde(default)]
    pub plan: PlanRef,
    /// The stage (`nonprod`, `prod`, …); it scopes plans, policies and cloud access.
    #[serde(default)]
    pub stage: String,
    /// The cloud region; the plan's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The cloud access to provision with; one in scope is chosen when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_access_ref: Option<CloudAccessRef>,
    /// A compute template of the plan's provider; the plan's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_template: Option<String>,
    /// Node pools that replace the template's pool of the same logical name, or add to them.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub node_pools: Option<Vec<NodePool>>,
    /// `spec.network`: the cluster's node network, a size to allocate or a CIDR; the plan's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<ClusterNetwork>,
    /// Labels applied to the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_labels: Option<BTreeMap<String, String>>,
}

/// `spec.plan`: a published version of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanRef {
    /// `name`: the cluster plan's name.
    #[serde(default)]
    pub name: String,
    /// `version`: the published plan version, e.g. `1.3.0`.
    #[serde(default)]
    pub version: String,
}

/// `spec.cloudAccessRef`: a CloudAccessConfig, by workspace and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudAccessRef {
    /// The workspace holding the cloud access; `admin` for the platform's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// `name`: the cloud access's name.
    #[serde(default)]
    pub name: String,
}

/// The cluster's network: a prefix size to allocate from assignable networks, or a CIDR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterNetwork {
    /// `size`: the prefix length to allocate from assignable networks, e.g. `22`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// `cidr`: the cluster's own node network, e.g. `10.0.4.0/22`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

/// What the server records in a cluster's `status` beyond the common `status`, `message`,
/// `conditions` and `lastReconcile` ([`crate::Status`]): what was built, and where its
/// deletion stands. Every field is optional; a write changes only the fields it sets.
/// Described by [`STATUS_SHAPE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The Kubernetes API endpoint, once built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The cloud's own identifier of the cluster (e.g. an EKS cluster ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    /// `status.provider`: the cluster provider built: `EKS`, `AKS` or `GKE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `status.cloud`: the cloud it runs in: `aws`, `azure` or `gcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    /// `status.region`: the cloud region it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `status.kubernetesVersion`: the Kubernetes version it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// The node network allocated, written as soon as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkAllocation>,
    /// The plan's packages installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<PackageStatus>>,
    /// The GlobalClusterPolicies delivered to the cluster, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_policies: Option<Vec<String>>,
    /// When deletion was asked for (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_requested: Option<String>,
    /// How many times deleting the cloud cluster has failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_attempts: Option<u64>,
    /// When a failed delete is tried again (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
}

/// `status.network` of a cluster: the node network it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAllocation {
    /// The cluster's node network, e.g. `10.0.4.0/22`.
    pub cidr: String,
    /// Where it came from: `AssignableNetwork/{workspace}/{name}` (allocated by size),
    /// `spec.network.cidr` (the cluster's own), or `ClusterNetworkPlan/{name}` (fixed).
    pub from: String,
    /// Whether other clusters must stay out of it (false for a network plan's fixed range).
    pub exclusive: bool,
}

/// Whether an allocation satisfies a request is `networking`'s
/// ([`NetworkAllocation::satisfies`]), which depends on this module, not the reverse.
impl NetworkAllocation {
    /// The parsed CIDR, when valid.
    pub fn net(&self) -> Option<Ipv4Net> {
        Ipv4Net::parse(&self.cidr).ok()
    }

    /// The allocation recorded in a cluster body's `status.network`, if any.
    pub fn from_status(body: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(body.get("status")?.get("network")?.clone()).ok()
    }
}

/// One installed package in `status.packages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageStatus {
    /// The package's name.
    pub name: String,
    /// The package version installed.
    pub version: String,
    /// `Installed`.
    pub status: String,
}

impl ClusterStatus {
    /// The cluster fields of a `status` object; fields it does not know are left out.
    pub fn from_status(status: &serde_json::Map<String, serde_json::Value>) -> Self {
        let known: serde_json::Map<String, serde_json::Value> = status
            .iter()
            .filter(|(k, _)| crate::shape::find(STATUS_SHAPE, k).is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        serde_json::from_value(serde_json::Value::Object(known)).unwrap_or_default()
    }

    /// Writes the fields this sets into a `status` object, keeping every other field.
    pub fn merge_into(&self, status: &mut serde_json::Map<String, serde_json::Value>) {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) {
            status.extend(fields);
        }
    }
}

const NETWORK_STATUS_SHAPE: &[Field] = &[
    Field::required(
        "cidr",
        FieldType::String,
        "The node network, e.g. `10.0.4.0/22`.",
    ),
    Field::required(
        "from",
        FieldType::String,
        "Where it came from: `AssignableNetwork/{workspace}/{name}`, `spec.network.cidr` or `ClusterNetworkPlan/{name}`.",
    ),
    Field::required(
        "exclusive",
        FieldType::Bool,
        "Whether other clusters must stay out of it (false for a network plan's fixed range).",
    ),
];

const PACKAGE_STATUS_SHAPE: &[Field] = &[
    Field::required("name", FieldType::String, "The package's name."),
    Field::required("version", FieldType::String, "The package version."),
    Field::required("status", FieldType::String, "`Installed`."),
];

/// The shape of a cluster's status beyond `status`, `message` and `conditions`:
/// `lastReconcile` (common to reconciled kinds) and [`ClusterStatus`]. The provider's
/// `wayfinder_cluster` resource and data source both show exactly these fields.
pub const STATUS_SHAPE: &[Field] = &[
    Field::optional(
        "lastReconcile",
        FieldType::Object(LAST_RECONCILE_SHAPE),
        "The last generation the server finished (`generation`) and when (`time`); it is the cluster's `metadata.generation` once a change is done.",
    ),
    Field::optional(
        "endpoint",
        FieldType::String,
        "The Kubernetes API endpoint, once built.",
    ),
    Field::optional(
        "cloudId",
        FieldType::String,
        "The cloud's own identifier of the cluster (e.g. an EKS cluster ARN), once built.",
    ),
    Field::optional(
        "provider",
        FieldType::String,
        "The cluster provider built: `EKS`, `AKS` or `GKE`.",
    ),
    Field::optional(
        "cloud",
        FieldType::String,
        "The cloud it runs in: `aws`, `azure` or `gcp`.",
    ),
    Field::optional("region", FieldType::String, "The region it was built in."),
    Field::optional(
        "kubernetesVersion",
        FieldType::String,
        "The Kubernetes version it runs.",
    ),
    Field::optional(
        "network",
        FieldType::Object(NETWORK_STATUS_SHAPE),
        "Its node network: `cidr`, where it came `from`, whether it is `exclusive`.",
    ),
    Field::optional(
        "packages",
        FieldType::ObjectList(PACKAGE_STATUS_SHAPE),
        "The packages installed from its plan: `name`, `version`, `status`.",
    ),
    Field::optional(
        "clusterPolicies",
        FieldType::StringList,
        "The global cluster policies delivered to it.",
    ),
    Field::optional(
        "deletionRequested",
        FieldType::String,
        "When its deletion was asked for (RFC 3339).",
    ),
    Field::optional(
        "deleteAttempts",
        FieldType::Number,
        "How many times deleting it has failed.",
    ),
    Field::optional(
        "retryAfter",
        FieldType::String,
        "When a failed delete is tried again (RFC 3339).",
    ),
];

/// The fields of a Cluster's spec.
pub const SPEC_SHAPE: &[Field] = &[
    Field::optional("description", FieldType::String, "What the cluster is for."),
    Field::required(
        "plan",
        FieldType::Object(&[
            Field::required("name", FieldType::String, "The cluster plan's name."),
            Field::required(
                "version",
                FieldType::String,
                "The published plan version, e.g. `1.3.0`.",
            ),
        ]),
        "The published cluster plan version the cluster is built from.",
    ),
    Field::required(
        "stage",
        FieldType::String,
        "The stage, e.g. `nonprod` or `prod`; it scopes plans, policies and cloud access.",
    ),
    Field::optional(
        "region",
        FieldType::String,
        "The cloud region, e.g. `eu-west-2`; the plan's default when not set.",
    ),
    Field::optional(
        "cloudAccessRef",
        FieldType::Object(&[
            Field::optional(
                "workspace",
                FieldType::String,
                "The workspace holding the cloud access; `admin` for the platform's own.",
            ),
            Field::required("name", FieldType::String, "The cloud access's name."),
        ]),
        "The cloud access to provision with; one in scope for the workspace and stage is chosen when not set.",
    ),
    Field::optional(
        "computeTemplate",
        FieldType::String,
        "A compute template of the plan's provider; the plan's default when not set.",
    ),
    Field::optional(
        "nodePools",
        FieldType::ObjectList(NODE_POOL_SHAPE),
        "Node pools that replace the compute template's pool of the same `logical_name`, or add to them, where the plan allows it.",
    ),
    Field::optional(
        "network",
        FieldType::Object(&[
            Field::optional(
                "size",
                FieldType::Number,
                "The network's prefix length, 16 to 24, allocated from the stage's assignable networks.",
            ),
            Field::optional(
                "cidr",
                FieldType::String,
                "An explicit IPv4 CIDR, at most /24, instead of `size`.",
            ),
        ]),
        "The cluster network: a size to allocate, or an explicit CIDR.",
    ),
    Field::optional(
        "clusterLabels",
        FieldType::StringMap,
        "Labels applied to the cluster.",
    ),
];

impl Spec for ClusterSpec {
    const INFO: &'static KindInfo = &CLUSTER;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        let plan = path.field("plan");
        c.dns_label(&plan.field("name"), &self.plan.name);
        c.version(&plan.field("version"), &self.plan.version);
        c.dns_label(&path.field("stage"), &self.stage);
        if let Some(region) = self.region.as_ref().filter(|r| !is_region(r)) {
            c.push(
                &path.field("region"),
                Reason::Invalid,
                format!("{region:?} is not a region name: lower-case letters, digits and '-', e.g. eu-west-2, westeurope, europe-west2"),
            );
        }
        if let Some(r) = &self.cloud_access_ref {
            let p = path.field("cloudAccessRef");
            c.dns_label(&p.field("name"), &r.name);
            if let Some(ws) = &r.workspace {
                c.workspace_key(&p.field("workspace"), ws);
            }
        }
        if let Some(t) = &self.compute_template {
            c.dns_label(&path.field("computeTemplate"), t);
        }
        // The provider is the plan's, known once the plan is resolved; provider-specific
        // rules are checked then.
        crate::compute::check_pools(
            c,
            &path.field("nodePools"),
            self.node_pools.as_deref().unwrap_or_default(),
            "",
        );
        if let Some(n) = &self.network {
            let p = path.field("network");
            match (n.size, &n.cidr) {
                (Some(_), Some(_)) => c.push(&p, Reason::Invalid, "set size or cidr, not both"),
                (None, None) => c.push(
                    &p,
                    Reason::Required,
                    "set size (a prefix length, 16 to 24) or cidr",
                ),
                (Some(size), None) => c.range(
                    &p.field("size"),
                    size,
                    NETWORK_PREFIX_RANGE,
                    "(prefix length)",
                ),
                (None, Some(cidr)) => match crate::net::Ipv4Net::parse(cidr) {
                    Err(e) => c.push(
                        &p.field("cidr"),
                        Reason::Invalid,
                        format!("{cidr:?} is not an IPv4 CIDR: {e}"),
                    ),
                    Ok(net) if i64::from(net.prefix) > NETWORK_PREFIX_RANGE.1 => c.push(
                        &p.field("cidr"),
                        Reason::Invalid,
                        format!("{cidr} is too small: a cluster network must be /24 or larger"),
                    ),
                    Ok(_) => {}
                },
            }
        }
        for (k, v) in self.cluster_labels.iter().flatten() {
            c.label(&path.field("clusterLabels"), k, v);
        }
    }
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Cluster {
        serde_yaml_ng::from_str(yaml).expect("a Cluster document")
    }

    fn problems(c: &Cluster) -> Vec<String> {
        match c.validate() {
            Ok(()) => Vec::new(),
            Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    const GOOD: &str = r#"
apiVersion: compute.appvia.io/v2beta2
kind: Cluster
metadata: {name: payments-dev, namespace: ws-pay}
spec:
  description: Payments, non-production
  plan: {name: eks-general-purpose, version: 1.3.0}
  stage: nonprod
  region: eu-west-2
  cloudAccessRef: {workspace: admin, name: aws-nonprod}
  computeTemplate: eks-general-purpose
  nodePools:
    - logicalName: compute
      machine: m6i.large
      size: 2
      autoscaling: {enabled: true, minSize: 1, maxSize: 5}
    - logicalName: batch
      machine: c6i.xlarge
      size: 0
  network: {size: 22}
  clusterLabels: {team: payments, appvia.io/cost-centre: cc-42}
"#;

    #[test]
    fn a_good_cluster_validates() {
        assert_eq!(problems(&parse(GOOD)), Vec::<String>::new());
        // The smallest cluster: a plan version and a stage.
        let min = parse(
            "apiVersion: compute.appvia.io/v2beta2\nkind: Cluster\nmetadata: {name: c}\nspec: {plan: {name: p, version: v1.0.0-rc.1}, stage: dev}\n",
        );
        assert_eq!(problems(&min), Vec::<String>::new());
    }

    #[test]
    fn the_shape_describes_every_field_of_the_struct() {
        let json = serde_json::to_value(&parse(GOOD).spec).unwrap();
        assert_eq!(
            crate::shape::mismatches(SPEC_SHAPE, &json, "spec"),
            Vec::<String>::new()
        );
        for f in SPEC_SHAPE {
            // `network` holds one of its two fields at a time; the rest are all set in GOOD.
            assert!(
                json.get(f.name).is_some(),
                "{} is not in the example",
                f.name
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let yaml = r#"
apiVersion: compute.appvia.io/v2beta1
kind: Cluster
metadata: {name: Payments, namespace: team-pay}
spec:
  plan: {name: "", version: "1.3"}
  stage: Prod
  region: EU_West_2
  cloudAccessRef: {workspace: Admin-Team, name: ""}
  computeTemplate: Big_Nodes
  nodePools:
    - logicalName: a
      machine: m6i.large
      size: 1
    - logicalName: a
      machine: ""
      size: 2000
  network: {size: 22, cidr: 10.0.0.0/22}
  clusterLabels: {"bad key!": x, team: "not a value", "-x.io/ok": y}
"#;
        assert_eq!(
            problems(&parse(yaml)),
            vec![
                "apiVersion: must be compute.appvia.io/v2beta2",
                "metadata.name: \"Payments\" is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
                "metadata.namespace: \"team-pay\" is not a workspace namespace: use ws-KEY for workspace KEY (e.g. ws-team1), or leave it out and name the workspace in the request",
                "spec.plan.name: required: a name of lower-case letters, digits and '-'",
                "spec.plan.version: \"1.3\" is not a version: use MAJOR.MINOR.PATCH with an optional v prefix and -suffix, e.g. 1.3.0 or v1.15.3-2",
                "spec.stage: \"Prod\" is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
                "spec.region: \"EU_West_2\" is not a region name: lower-case letters, digits and '-', e.g. eu-west-2, westeurope, europe-west2",
                "spec.cloudAccessRef.name: required: a name of lower-case letters, digits and '-'",
                "spec.cloudAccessRef.workspace: \"Admin-Team\" is not a workspace key: 2 to 5 lower-case letters or digits, starting with a letter",
                "spec.computeTemplate: \"Big_Nodes\" is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
                "spec.nodePools[1].machine: must not be empty: an instance type such as m6i.large",
                "spec.nodePools[1].size: must be between 0 and 1000 nodes (got 2000)",
                "spec.nodePools[1].logicalName: \"a\" is used by another node pool; logical names must be unique",
                "spec.network: set size or cidr, not both",
                "spec.clusterLabels.-x.io/ok: \"-x.io/ok\" is not a label key: an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                "spec.clusterLabels.bad key!: \"bad key!\" is not a label key: an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                "spec.clusterLabels.team: \"not a value\" is not a label value: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            ]
        );
    }

    fn with_network(network: &str) -> Vec<String> {
        problems(&parse(&GOOD.replace("network: {size: 22}", network)))
    }

    #[test]
    fn the_network_is_a_size_or_a_large_enough_cidr() {
        assert_eq!(with_network("network: {size: 16}"), Vec::<String>::new());
        assert_eq!(with_network("network: {size: 24}"), Vec::<String>::new());
        assert_eq!(
            with_network("network: {cidr: 10.20.0.0/20}"),
            Vec::<String>::new()
        );
        assert_eq!(
            with_network("network: {cidr: 10.20.0.0/24}"),
            Vec::<String>::new()
        );
        assert_eq!(
            with_network("network: {cidr: 10.20.0.0/26}"),
            vec![
                "spec.network.cidr: 10.20.0.0/26 is too small: a cluster network must be /24 or larger"
            ]
        );
        assert_eq!(
            with_network("network: {size: 25}"),
            vec!["spec.network.size: must be between 16 and 24 (prefix length) (got 25)"]
        );
        assert_eq!(
            with_network("network: {size: 12}"),
            vec!["spec.network.size: must be between 16 and 24 (prefix length) (got 12)"]
        );
        assert_eq!(
            with_network("network: {}"),
            vec!["spec.network: set size (a prefix length, 16 to 24) or cidr"]
        );
        assert_eq!(
            with_network("network: {cidr: 10.20.0.1/22}"),
            vec![
                "spec.network.cidr: \"10.20.0.1/22\" is not an IPv4 CIDR: host bits are set; the network is 10.20.0.0/22"
            ]
        );
        assert_eq!(
            with_network("network: {cidr: ten/8}"),
            vec![
                "spec.network.cidr: \"ten/8\" is not an IPv4 CIDR: \"ten\" is not an IPv4 address"
            ]
        );
    }

    #[test]
    fn pools_are_checked_without_a_provider_until_the_plan_is_resolved() {
        // Provider-specific fields are accepted here; the resolver checks them against the
        // plan's provider.
        let yaml = GOOD.replace(
            "      size: 0\n",
            "      size: 0\n      spot: {enabled: true, eks: {additionalInstanceTypes: [c6i.2xlarge]}}\n      providerDetails: {aks: {mode: user}}\n",
        );
        assert_eq!(problems(&parse(&yaml)), Vec::<String>::new());
        // But general pool rules apply.
        let yaml = GOOD.replace("minSize: 1, maxSize: 5", "minSize: 3, maxSize: 2");
        assert_eq!(
            problems(&parse(&yaml)),
            vec!["spec.nodePools[0].autoscaling.maxSize: must be >= minSize (3)"]
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let yaml = GOOD.replace("stage: nonprod", "stage: nonprod\n  regoin: eu-west-1");
        let err = serde_yaml_ng::from_str::<Cluster>(&yaml).unwrap_err();
        assert!(err.to_string().contains("regoin"), "{err}");
    }
}
