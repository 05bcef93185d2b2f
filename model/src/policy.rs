//! `policy.appvia.io/v2beta1` ProvisioningPolicy: limits on self-service clusters — allowed
//! regions, instance types with per-type node maxima, nodes and estimated monthly cost per
//! cluster, and totals per workspace — scoped by workspace and stage (wayfinder-model.md §9;
//! Wayfinder does not publish the kind's own name, so it is ours).
//!
//! Besides the kind, this module is the policy engine that admission, the plan-time preview
//! and the compiler share:
//!
//! - [`effective_policy`] combines the policies that apply to a workspace, stage and cloud by
//!   Wayfinder's precedence — the most specific scope tier wins, ties are merged to the least
//!   restrictive value — and records which policy and tier set each limit.
//! - [`EffectivePolicy::to_api`] is the body of Wayfinder's
//!   `GET /api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/cluster`.
//! - [`check_cluster`] checks a resolved cluster, its cost [`Estimate`] and the workspace's
//!   other clusters ([`WorkspaceUsage`]) against it and reports every [`Violation`], each with
//!   the field path into the Cluster object, the policy and scope that set the limit, the
//!   limit and the value.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::common::{CLOUDS, SCOPE_SHAPE, ScopeSpec};
use crate::cost::{Estimate, format_usd, largest_size, pool_instance_types};
use crate::error::{FieldPath, PathSegment, Reason};
use crate::kinds::{KindInfo, PROVISIONING_POLICY};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Typed};
use crate::resolved::{PoolOrigin, ResolvedCluster};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// A provisioning policy.
pub type ProvisioningPolicy = Typed<ProvisioningPolicySpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisioningPolicySpec {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_limits: Option<ClusterLimits>,
}

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceTypeLimit {
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

// ---------------------------------------------------------------------------------------------
// The effective policy
// ---------------------------------------------------------------------------------------------

/// How specific a policy's scope is, least specific first, so that `Ord` is precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ScopeTier {
    /// All workspaces, all stages (or no scope at all).
    Everywhere,
    /// Named stages, all workspaces.
    Stage,
    /// Named workspaces, all stages.
    Workspace,
    /// Named workspaces and named stages.
    WorkspaceAndStage,
}

impl ScopeTier {
    /// The tier of a policy's scope; no scope means everywhere.
    pub fn of(scope: Option<&ScopeSpec>) -> Self {
        let (ws, stage) = scope.map_or((false, false), |s| {
            (!s.covers_all_workspaces(), !s.covers_all_stages())
        });
        match (ws, stage) {
            (true, true) => ScopeTier::WorkspaceAndStage,
            (true, false) => ScopeTier::Workspace,
            (false, true) => ScopeTier::Stage,
            (false, false) => ScopeTier::Everywhere,
        }
    }

    /// `workspace and stage`, `workspace`, `stage`, `all workspaces and stages`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeTier::WorkspaceAndStage => "workspace and stage",
            ScopeTier::Workspace => "workspace",
            ScopeTier::Stage => "stage",
            ScopeTier::Everywhere => "all workspaces and stages",
        }
    }

    /// The tier as it applies to `workspace` and `stage`, for messages:
    /// `workspace "pay", stage "prod"`, `workspace "pay", all stages`, …
    pub fn describe(self, workspace: &str, stage: &str) -> String {
        match self {
            ScopeTier::WorkspaceAndStage => format!("workspace {workspace:?}, stage {stage:?}"),
            ScopeTier::Workspace => format!("workspace {workspace:?}, all stages"),
            ScopeTier::Stage => format!("stage {stage:?}, all workspaces"),
            ScopeTier::Everywhere => "all workspaces and stages".to_string(),
        }
    }
}

impl fmt::Display for ScopeTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which policies set a limit: one, or several of the same tier when their values were merged
/// (every policy whose list was united, or every policy holding the winning ceiling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// Policy names, sorted.
    pub policies: Vec<String>,
    pub tier: ScopeTier,
}

impl Source {
    /// The policy names, comma-separated.
    pub fn policy_names(&self) -> String {
        self.policies.join(", ")
    }
}

/// A limit's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// The instance types a tier allows, each with its own node maximum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowedInstanceTypes {
    /// The policies whose lists were united.
    pub source: Source,
    /// Instance type → its node maximum, `None` when it has none.
    pub types: BTreeMap<String, Option<Sourced<i64>>>,
}

/// The limits in force at one level (per cluster or per workspace); `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveLimits {
    pub allowed_instance_types: Option<AllowedInstanceTypes>,
    /// USD per month.
    pub cost_per_month: Option<Sourced<i64>>,
    pub total_nodes: Option<Sourced<i64>>,
    /// Per workspace only.
    pub max_clusters: Option<Sourced<i64>>,
}

impl EffectiveLimits {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        *self == Self::default()
    }
}

/// The provisioning policy in force for one workspace, stage and cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectivePolicy {
    pub cloud: String,
    pub workspace: String,
    pub stage: String,
    /// The tier whose policies are in force; `None` when no policy applies (no limits).
    pub tier: Option<ScopeTier>,
    /// The policies in force, sorted by name.
    pub policies: Vec<String>,
    /// `None`: any region.
    pub allowed_regions: Option<Sourced<Vec<String>>>,
    pub per_cluster: EffectiveLimits,
    pub per_workspace: EffectiveLimits,
}

/// The body of Wayfinder's effective-policy API
/// (`GET /api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/cluster`):
/// `{cloud, allowedRegions, clusterLimits{perCluster{allowedInstanceTypes[{instanceType,
/// maxNodes}], costPerMonth, totalNodes}, perWorkspace{…}}}`. An empty `allowedRegions` and an
/// absent limit mean unlimited. `perWorkspace.maxClusters` is ours (Wayfinder documents a
/// cluster count limit but not its field name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectivePolicyBody {
    pub cloud: String,
    #[serde(default)]
    pub allowed_regions: Vec<String>,
    #[serde(default)]
    pub cluster_limits: ClusterLimits,
}

impl EffectivePolicy {
    /// No limits at all: what applies when no policy is in scope.
    pub fn unlimited(cloud: &str, workspace: &str, stage: &str) -> Self {
        Self {
            cloud: cloud.to_string(),
            workspace: workspace.to_string(),
            stage: stage.to_string(),
            tier: None,
            policies: Vec::new(),
            allowed_regions: None,
            per_cluster: EffectiveLimits::default(),
            per_workspace: EffectiveLimits::default(),
        }
    }

    /// Whether nothing is limited.
    pub fn is_unlimited(&self) -> bool {
        self.allowed_regions.is_none()
            && self.per_cluster.is_unlimited()
            && self.per_workspace.is_unlimited()
    }

    /// The scope of `source` as it applies here, e.g. `workspace "pay", all stages`.
    pub fn scope_text(&self, source: &Source) -> String {
        source.tier.describe(&self.workspace, &self.stage)
    }

    /// The effective-policy API body.
    pub fn to_api(&self) -> EffectivePolicyBody {
        EffectivePolicyBody {
            cloud: self.cloud.clone(),
            allowed_regions: self
                .allowed_regions
                .as_ref()
                .map(|r| r.value.clone())
                .unwrap_or_default(),
            cluster_limits: ClusterLimits {
                per_cluster: Some(self.per_cluster.to_api()),
                per_workspace: Some(self.per_workspace.to_api()),
            },
        }
    }
}

impl EffectiveLimits {
    fn to_api(&self) -> Limits {
        Limits {
            allowed_instance_types: self.allowed_instance_types.as_ref().map(|a| {
                a.types
                    .iter()
                    .map(|(t, max)| InstanceTypeLimit {
                        instance_type: t.clone(),
                        max_nodes: max.as_ref().map(|m| m.value),
                    })
                    .collect()
            }),
            cost_per_month: self.cost_per_month.as_ref().map(|l| l.value),
            total_nodes: self.total_nodes.as_ref().map(|l| l.value),
            max_clusters: self.max_clusters.as_ref().map(|l| l.value),
        }
    }
}

/// The provisioning policy in force for `workspace` and `stage` on `cloud` (`aws`, `azure`,
/// `gcp`), by Wayfinder's precedence:
///
/// 1. Only policies of that cloud whose scope includes the workspace and the stage apply.
/// 2. The most specific tier wins as a whole: named workspace and stage, then named workspace
///    (all stages), then named stage (all workspaces), then all/all. Policies of less specific
///    tiers are ignored entirely, including limits the winning tier leaves unset.
/// 3. Several policies of the winning tier merge to the least restrictive value of each limit:
///    the union of allowed regions and of allowed instance types (the larger `maxNodes` of a
///    type listed twice), the larger of each ceiling. A limit missing (or an empty list) in any
///    of them is unlimited.
///
/// Every limit records the policies and tier that set it ([`Source`]).
pub fn effective_policy(
    policies: &[ProvisioningPolicy],
    workspace: &str,
    stage: &str,
    cloud: &str,
) -> EffectivePolicy {
    let mut best: Option<ScopeTier> = None;
    let mut winners: Vec<&ProvisioningPolicy> = Vec::new();
    for p in policies {
        if !p.spec.cloud.eq_ignore_ascii_case(cloud) {
            continue;
        }
        let scope = p.spec.scope.as_ref();
        if !scope.is_none_or(|s| s.includes_workspace(workspace) && s.includes_stage(stage)) {
            continue;
        }
        let tier = ScopeTier::of(scope);
        match best {
            Some(b) if tier < b => continue,
            Some(b) if tier == b => {}
            _ => {
                best = Some(tier);
                winners.clear();
            }
        }
        winners.push(p);
    }
    let mut out = EffectivePolicy::unlimited(cloud, workspace, stage);
    let Some(tier) = best else { return out };
    winners.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let all = || Source {
        policies: winners.iter().map(|p| p.metadata.name.clone()).collect(),
        tier,
    };
    out.tier = Some(tier);
    out.policies = all().policies;

    let lists: Option<Vec<&Vec<String>>> = winners
        .iter()
        .map(|p| p.spec.allowed_regions.as_ref().filter(|r| !r.is_empty()))
        .collect();
    out.allowed_regions = lists.map(|lists| {
        let mut regions: Vec<String> = Vec::new();
        for r in lists.into_iter().flatten() {
            if !regions.contains(r) {
                regions.push(r.clone());
            }
        }
        Sourced {
            value: regions,
            source: all(),
        }
    });

    let limits = |pick: fn(&ClusterLimits) -> Option<&Limits>| -> Vec<(&str, Option<&Limits>)> {
        winners
            .iter()
            .map(|p| {
                (
                    p.metadata.name.as_str(),
                    p.spec.cluster_limits.as_ref().and_then(pick),
                )
            })
            .collect()
    };
    out.per_cluster = merge_limits(&limits(|c| c.per_cluster.as_ref()), tier, &all);
    out.per_workspace = merge_limits(&limits(|c| c.per_workspace.as_ref()), tier, &all);
    out
}

/// Merges one level's limits of the winning tier's policies (`(name, limits)`, sorted by name).
fn merge_limits(
    limits: &[(&str, Option<&Limits>)],
    tier: ScopeTier,
    all: &dyn Fn() -> Source,
) -> EffectiveLimits {
    let ceiling = |get: fn(&Limits) -> Option<i64>| -> Option<Sourced<i64>> {
        let values: Option<Vec<(&str, i64)>> = limits
            .iter()
            .map(|(name, l)| l.and_then(get).map(|v| (*name, v)))
            .collect();
        largest(&values?, tier)
    };
    let lists: Option<Vec<(&str, &Vec<InstanceTypeLimit>)>> = limits
        .iter()
        .map(|(name, l)| {
            l.and_then(|l| l.allowed_instance_types.as_ref())
                .filter(|t| !t.is_empty())
                .map(|t| (*name, t))
        })
        .collect();
    let allowed_instance_types = lists.map(|lists| {
        // Type → (name, maxNodes) of every policy listing it.
        let mut by_type: BTreeMap<&str, Vec<(&str, Option<i64>)>> = BTreeMap::new();
        for (name, list) in &lists {
            for t in list.iter() {
                by_type
                    .entry(t.instance_type.as_str())
                    .or_default()
                    .push((name, t.max_nodes));
            }
        }
        let types = by_type
            .into_iter()
            .map(|(t, entries)| {
                let maxima: Option<Vec<(&str, i64)>> =
                    entries.iter().map(|(n, m)| m.map(|m| (*n, m))).collect();
                (t.to_string(), maxima.and_then(|m| largest(&m, tier)))
            })
            .collect();
        AllowedInstanceTypes {
            source: all(),
            types,
        }
    });
    EffectiveLimits {
        allowed_instance_types,
        cost_per_month: ceiling(|l| l.cost_per_month),
        total_nodes: ceiling(|l| l.total_nodes),
        max_clusters: ceiling(|l| l.max_clusters),
    }
}

/// The largest value, credited to every policy holding it.
fn largest(values: &[(&str, i64)], tier: ScopeTier) -> Option<Sourced<i64>> {
    let max = values.iter().map(|(_, v)| *v).max()?;
    let mut policies: Vec<String> = values
        .iter()
        .filter(|(_, v)| *v == max)
        .map(|(n, _)| n.to_string())
        .collect();
    policies.dedup();
    Some(Sourced {
        value: max,
        source: Source { policies, tier },
    })
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// The workspace's OTHER existing clusters on the same cloud, summed, for the per-workspace
/// limits. On an update, the cluster's own previous version is excluded (it is being replaced),
/// so the new version counts once. Nodes count every pool at its largest possible size, as for
/// the cluster being checked; cost is the sum of the other clusters' estimates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceUsage {
    pub clusters: i64,
    pub nodes: i64,
    /// Estimated monthly cost in US cents.
    pub cost_cents: i64,
    /// Nodes per instance type (a spot pool counts under each type it may run on).
    pub nodes_by_instance_type: BTreeMap<String, i64>,
}

impl WorkspaceUsage {
    /// Adds one existing cluster and its estimate.
    pub fn add(&mut self, cluster: &ResolvedCluster, estimate: &Estimate) {
        self.clusters = self.clusters.saturating_add(1);
        self.cost_cents = self.cost_cents.saturating_add(estimate.total_cents);
        for pool in &cluster.node_pools {
            let n = largest_size(pool);
            self.nodes = self.nodes.saturating_add(n);
            for t in distinct_types(pool) {
                let e = self
                    .nodes_by_instance_type
                    .entry(t.to_string())
                    .or_insert(0);
                *e = e.saturating_add(n);
            }
        }
    }

    /// The usage `cluster` is checked against: every cluster of `existing` in the same
    /// workspace and on the same cloud, except `cluster` itself (by name).
    pub fn excluding<'a>(
        cluster: &ResolvedCluster,
        existing: impl IntoIterator<Item = (&'a ResolvedCluster, &'a Estimate)>,
    ) -> Self {
        let mut u = Self::default();
        for (c, e) in existing {
            if c.workspace == cluster.workspace
                && c.cloud == cluster.cloud
                && c.name != cluster.name
            {
                u.add(c, e);
            }
        }
        u
    }
}

/// Which limit a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    /// `allowedRegions`.
    Region,
    /// `perCluster.allowedInstanceTypes`: the type is not listed.
    InstanceType,
    /// `perCluster.allowedInstanceTypes[].maxNodes`.
    InstanceTypeNodes,
    /// `perCluster.totalNodes`.
    ClusterNodes,
    /// `perCluster.costPerMonth`.
    ClusterCost,
    /// `perWorkspace.allowedInstanceTypes`: the type is not listed.
    WorkspaceInstanceType,
    /// `perWorkspace.allowedInstanceTypes[].maxNodes`.
    WorkspaceInstanceTypeNodes,
    /// `perWorkspace.totalNodes`.
    WorkspaceNodes,
    /// `perWorkspace.costPerMonth`.
    WorkspaceCost,
    /// `perWorkspace.maxClusters`.
    WorkspaceClusters,
}

/// One broken limit, for a 422 response or a Terraform attribute diagnostic. Serialises with
/// `path` as its display form (`spec.nodePools[0].machine`) and reads back the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub rule: Rule,
    /// Where in the Cluster object: `spec.region`, a pool field (through
    /// [`ResolvedCluster::pool_field_path`]; `spec.computeTemplate` for a template's pool), or
    /// the whole object (empty) for the workspace's cluster count.
    #[serde(
        serialize_with = "serialize_path",
        deserialize_with = "deserialize_path"
    )]
    pub path: FieldPath,
    /// Says the limit, the value and what is allowed.
    pub message: String,
    /// The policy (or comma-separated policies of one tier) that set the limit.
    pub policy: String,
    /// The scope tier of that policy as it applies here, e.g. `workspace "pay", all stages`.
    pub scope: String,
    /// The limit: the policy field and its value, e.g. `perCluster.costPerMonth: 500 USD`.
    pub limit: String,
    /// The value that broke it, e.g. `612.34 USD`.
    pub value: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

pub(crate) fn deserialize_path<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<FieldPath, D::Error> {
    let text = String::deserialize(d)?;
    FieldPath::parse(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a field path")))
}

pub(crate) fn serialize_path<S: serde::Serializer>(p: &FieldPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

/// `rel` (a path inside a node pool, e.g. `autoscaling.maxSize`) of effective pool `i`, in the
/// Cluster object: through [`ResolvedCluster::pool_field_path`] for the first field, with the
/// rest appended when the pool is the cluster's own.
pub(crate) fn pool_path(cluster: &ResolvedCluster, i: usize, rel: &FieldPath) -> FieldPath {
    let own = matches!(cluster.pool_origins.get(i), Some(PoolOrigin::Cluster(_)));
    match rel.segments().split_first() {
        Some((PathSegment::Field(first), rest)) => {
            let mut p = cluster.pool_field_path(i, first);
            if own {
                p.0.extend(rest.iter().cloned());
            }
            p
        }
        _ => {
            let mut p = cluster.pool_field_path(i, "logicalName");
            if own {
                p.0.pop();
            }
            p
        }
    }
}

/// The field that sets a pool's largest size: `autoscaling.maxSize` or `size`.
fn size_field(pool: &crate::compute::NodePool) -> FieldPath {
    if pool
        .autoscaling
        .as_ref()
        .is_some_and(|a| a.enabled.unwrap_or(false) && a.max_size.is_some())
    {
        FieldPath::root().field("autoscaling").field("maxSize")
    } else {
        FieldPath::root().field("size")
    }
}

/// A pool's instance types without repeats (the machine may be listed again as a spot type).
fn distinct_types(pool: &crate::compute::NodePool) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, t) in pool_instance_types(pool) {
        if seen.insert(t) {
            out.push(t);
        }
    }
    out
}

fn pool_name(cluster: &ResolvedCluster, i: usize) -> String {
    let name = cluster
        .node_pools
        .get(i)
        .map_or("", |p| p.logical_name.as_str());
    if name.is_empty() {
        format!("node pool {i}")
    } else {
        format!("node pool {name:?}")
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The level a set of limits applies at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Cluster,
    Workspace,
}

impl Level {
    fn field(self) -> &'static str {
        match self {
            Level::Cluster => "perCluster",
            Level::Workspace => "perWorkspace",
        }
    }
}

struct Ctx<'a> {
    policy: &'a EffectivePolicy,
    cluster: &'a ResolvedCluster,
    sizes: Vec<i64>,
    out: Vec<Violation>,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        rule: Rule,
        path: FieldPath,
        source: &Source,
        limit: String,
        value: String,
        what: String,
    ) {
        let policy = source.policy_names();
        let scope = self.policy.scope_text(source);
        let by = if source.policies.len() == 1 {
            format!("provisioning policy {policy:?}")
        } else {
            format!("provisioning policies {policy} (merged)")
        };
        self.out.push(Violation {
            rule,
            path,
            message: format!("{what} (limit set by {by} for {scope})"),
            policy,
            scope,
            limit,
            value,
        });
    }

    /// The path of the pool that takes a running node count from `start` over `limit`,
    /// counting only the pools `counts` says (`Some(n)`); the first contributing pool when
    /// `start` alone is already over; the whole object when no pool contributes.
    fn crossing(&self, start: i64, limit: i64, counts: impl Fn(usize) -> Option<i64>) -> FieldPath {
        let mut sum = start;
        let mut first = None;
        for i in 0..self.cluster.node_pools.len() {
            let Some(n) = counts(i).filter(|n| *n > 0) else {
                continue;
            };
            first.get_or_insert(i);
            sum = sum.saturating_add(n);
            if sum > limit {
                return pool_path(self.cluster, i, &size_field(&self.cluster.node_pools[i]));
            }
        }
        match first {
            Some(i) => pool_path(self.cluster, i, &size_field(&self.cluster.node_pools[i])),
            None => FieldPath::root(),
        }
    }

    /// Where a cost ceiling points: the dearest pool, or `spec.plan` (control plane only).
    fn cost_path(&self, estimate: &Estimate) -> FieldPath {
        estimate
            .pools
            .iter()
            .filter(|p| p.index < self.cluster.node_pools.len())
            .max_by_key(|p| (p.monthly_cents, std::cmp::Reverse(p.index)))
            .map_or_else(
                || FieldPath::root().field("spec").field("plan"),
                |p| pool_path(self.cluster, p.index, &FieldPath::root()),
            )
    }

    fn check_limits(
        &mut self,
        level: Level,
        limits: &EffectiveLimits,
        estimate: &Estimate,
        usage: &WorkspaceUsage,
    ) {
        let lf = level.field();
        let ws = level == Level::Workspace;
        let cluster = self.cluster;
        let (who, whose, others, cost_others) = if ws {
            (
                "the workspace's clusters",
                "the workspace's",
                "its other clusters and this one, ",
                " (its other clusters and this one)",
            )
        } else {
            ("the cluster", "the cluster's", "", "")
        };

        if let Some(allowed) = &limits.allowed_instance_types {
            let listed = allowed
                .types
                .iter()
                .map(|(t, m)| match m {
                    Some(m) => format!("{t} (at most {})", plural(m.value, "node", "nodes")),
                    None => t.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            for (i, pool) in cluster.node_pools.iter().enumerate() {
                for (rel, t) in pool_instance_types(pool) {
                    if allowed.types.contains_key(t) {
                        continue;
                    }
                    let what = format!(
                        "{}: instance type {t:?} is not allowed {}; allowed: {listed}",
                        pool_name(cluster, i),
                        if ws {
                            "in this workspace"
                        } else {
                            "for this cluster"
                        },
                    );
                    self.push(
                        if ws {
                            Rule::WorkspaceInstanceType
                        } else {
                            Rule::InstanceType
                        },
                        pool_path(cluster, i, &rel),
                        &allowed.source,
                        format!(
                            "{lf}.allowedInstanceTypes: {}",
                            allowed.types.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                        t.to_string(),
                        what,
                    );
                }
            }
            // Per-type maxima, each pool at its largest size.
            let mut totals: Vec<(&str, i64)> = Vec::new();
            for (i, pool) in cluster.node_pools.iter().enumerate() {
                for t in distinct_types(pool) {
                    match totals.iter_mut().find(|(x, _)| *x == t) {
                        Some((_, n)) => *n = n.saturating_add(self.sizes[i]),
                        None => totals.push((t, self.sizes[i])),
                    }
                }
            }
            for (t, here) in totals {
                let Some(Some(max)) = allowed.types.get(t) else {
                    continue;
                };
                let base = if ws {
                    usage.nodes_by_instance_type.get(t).copied().unwrap_or(0)
                } else {
                    0
                };
                let total = base.saturating_add(here);
                if total <= max.value {
                    continue;
                }
                let path = self.crossing(base, max.value, |i| {
                    distinct_types(&cluster.node_pools[i])
                        .contains(&t)
                        .then(|| self.sizes[i])
                });
                let what = format!(
                    "{who} can grow to {} of instance type {t:?} ({others}every pool at its largest size), more than the {} allowed {}",
                    plural(total, "node", "nodes"),
                    max.value,
                    if ws { "per workspace" } else { "per cluster" },
                );
                self.push(
                    if ws {
                        Rule::WorkspaceInstanceTypeNodes
                    } else {
                        Rule::InstanceTypeNodes
                    },
                    path,
                    &max.source,
                    format!("{lf}.allowedInstanceTypes[{t}].maxNodes: {}", max.value),
                    plural(total, "node", "nodes"),
                    what,
                );
            }
        }

        if let Some(max) = &limits.total_nodes {
            let base = if ws { usage.nodes } else { 0 };
            let total = self.sizes.iter().fold(base, |a, n| a.saturating_add(*n));
            if total > max.value {
                let path = self.crossing(base, max.value, |i| Some(self.sizes[i]));
                let what = format!(
                    "{who} can grow to {} ({others}every pool at its largest size), more than the {} allowed {}",
                    plural(total, "node", "nodes"),
                    max.value,
                    if ws { "per workspace" } else { "per cluster" },
                );
                self.push(
                    if ws {
                        Rule::WorkspaceNodes
                    } else {
                        Rule::ClusterNodes
                    },
                    path,
                    &max.source,
                    format!("{lf}.totalNodes: {}", max.value),
                    plural(total, "node", "nodes"),
                    what,
                );
            }
        }

        if let Some(max) = &limits.cost_per_month {
            let base = if ws { usage.cost_cents } else { 0 };
            let total = base.saturating_add(estimate.total_cents);
            if total > max.value.saturating_mul(100) {
                let what = format!(
                    "{whose} estimated monthly cost is {} USD{cost_others}, more than the {} USD allowed {}",
                    format_usd(total),
                    max.value,
                    if ws { "per workspace" } else { "per cluster" },
                );
                self.push(
                    if ws {
                        Rule::WorkspaceCost
                    } else {
                        Rule::ClusterCost
                    },
                    self.cost_path(estimate),
                    &max.source,
                    format!("{lf}.costPerMonth: {} USD", max.value),
                    format!("{} USD", format_usd(total)),
                    what,
                );
            }
        }

        if ws && let Some(max) = &limits.max_clusters {
            let total = usage.clusters.saturating_add(1);
            if total > max.value {
                let what = format!(
                    "the workspace would have {} on {}{cost_others}, more than the {} allowed",
                    plural(total, "cluster", "clusters"),
                    self.policy.cloud,
                    max.value,
                );
                self.push(
                    Rule::WorkspaceClusters,
                    FieldPath::root(),
                    &max.source,
                    format!("{lf}.maxClusters: {}", max.value),
                    plural(total, "cluster", "clusters"),
                    what,
                );
            }
        }
    }
}

/// Checks `cluster` against `policy` and reports every violation, in this order: region;
/// per-cluster instance types, per-type node maxima, total nodes and cost; then the same
/// per-workspace (counting `usage`, the workspace's other clusters, plus this one) and the
/// workspace's cluster count.
///
/// Node counts take every pool at its largest possible size ([`largest_size`]); a spot pool's
/// EKS additional instance types must be allowed too, and its nodes count against each type it
/// may run on. The cost is `estimate.total_cents` (pools and control plane). Paths: the region
/// is `spec.region`; an instance type is the pool's `machine` or
/// `spot.eks.additionalInstanceTypes[j]`; a node maximum is the size field (`size` or
/// `autoscaling.maxSize`) of the pool that takes the count over; a cost ceiling is the dearest
/// pool; the cluster count is the whole object. A template's pool is `spec.computeTemplate`.
pub fn check_cluster(
    policy: &EffectivePolicy,
    cluster: &ResolvedCluster,
    estimate: &Estimate,
    usage: &WorkspaceUsage,
) -> Vec<Violation> {
    let mut ctx = Ctx {
        policy,
        cluster,
        sizes: cluster.node_pools.iter().map(largest_size).collect(),
        out: Vec::new(),
    };
    if let Some(allowed) = &policy.allowed_regions
        && !allowed.value.contains(&cluster.region)
    {
        let list = allowed.value.join(", ");
        ctx.push(
            Rule::Region,
            FieldPath::root().field("spec").field("region"),
            &allowed.source,
            format!("allowedRegions: {list}"),
            cluster.region.clone(),
            format!(
                "region {:?} is not allowed; allowed: {list}",
                cluster.region
            ),
        );
    }
    ctx.check_limits(Level::Cluster, &policy.per_cluster, estimate, usage);
    ctx.check_limits(Level::Workspace, &policy.per_workspace, estimate, usage);
    ctx.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::PlanRef;
    use crate::compute::{Autoscaling, NodePool, Spot, SpotEks};
    use crate::cost::{Catalog, PoolEstimate, estimate};

    fn scope(ws: &[&str], stages: &[&str]) -> Option<ScopeSpec> {
        let list = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
        Some(ScopeSpec {
            all_workspaces: Some(ws.is_empty()),
            allowed_workspaces: list(ws),
            all_stages: Some(stages.is_empty()),
            allowed_stages: list(stages),
        })
    }

    fn pol(
        name: &str,
        cloud: &str,
        ws: &[&str],
        stages: &[&str],
        f: impl FnOnce(&mut ProvisioningPolicySpec),
    ) -> ProvisioningPolicy {
        let mut spec = ProvisioningPolicySpec {
            cloud: cloud.into(),
            scope: scope(ws, stages),
            ..Default::default()
        };
        f(&mut spec);
        ProvisioningPolicy::new(name, spec)
    }

    fn per_cluster(spec: &mut ProvisioningPolicySpec) -> &mut Limits {
        spec.cluster_limits
            .get_or_insert_with(Default::default)
            .per_cluster
            .get_or_insert_with(Default::default)
    }

    fn per_workspace(spec: &mut ProvisioningPolicySpec) -> &mut Limits {
        spec.cluster_limits
            .get_or_insert_with(Default::default)
            .per_workspace
            .get_or_insert_with(Default::default)
    }

    fn cost(n: i64) -> impl FnOnce(&mut ProvisioningPolicySpec) {
        move |s| per_cluster(s).cost_per_month = Some(n)
    }

    fn types(list: &[(&str, Option<i64>)]) -> Option<Vec<InstanceTypeLimit>> {
        Some(
            list.iter()
                .map(|(t, m)| InstanceTypeLimit {
                    instance_type: t.to_string(),
                    max_nodes: *m,
                })
                .collect(),
        )
    }

    fn src(policies: &[&str], tier: ScopeTier) -> Source {
        Source {
            policies: policies.iter().map(|s| s.to_string()).collect(),
            tier,
        }
    }

    #[test]
    fn each_tier_beats_the_next() {
        let mut policies = vec![
            pol("all", "aws", &[], &[], |s| {
                cost(100)(s);
                s.allowed_regions = Some(vec!["eu-west-1".into()]);
            }),
            pol("stage", "aws", &[], &["prod"], cost(200)),
            pol("ws", "aws", &["pay"], &[], cost(300)),
            pol("ws-stage", "aws", &["pay"], &["prod"], cost(400)),
        ];
        let want = [
            (400, "ws-stage", ScopeTier::WorkspaceAndStage),
            (300, "ws", ScopeTier::Workspace),
            (200, "stage", ScopeTier::Stage),
            (100, "all", ScopeTier::Everywhere),
        ];
        for (value, name, tier) in want {
            // Order of the input must not matter.
            policies.reverse();
            let e = effective_policy(&policies, "pay", "prod", "aws");
            assert_eq!(e.tier, Some(tier));
            assert_eq!(e.policies, vec![name]);
            assert_eq!(
                e.per_cluster.cost_per_month,
                Some(Sourced {
                    value,
                    source: src(&[name], tier)
                }),
                "{name}"
            );
            // The winning tier replaces the less specific ones as a whole: the all/all
            // policy's regions only apply when it wins.
            assert_eq!(e.allowed_regions.is_some(), name == "all", "{name}");
            policies.retain(|p| p.metadata.name != name);
        }
        let e = effective_policy(&policies, "pay", "prod", "aws");
        assert!(e.is_unlimited() && e.tier.is_none() && e.policies.is_empty());
    }

    #[test]
    fn other_clouds_workspaces_and_stages_are_ignored() {
        let policies = vec![
            pol("gcp-pay", "gcp", &["pay"], &["prod"], cost(1)),
            pol("other-ws", "aws", &["ops"], &["prod"], cost(2)),
            pol("other-stage", "aws", &["pay"], &["dev"], cost(3)),
            pol("dev-everyone", "aws", &[], &["dev"], cost(4)),
            pol("several", "aws", &["ops", "pay"], &[], cost(5)),
            pol("unscoped", "aws", &[], &[], cost(6)),
        ];
        let e = effective_policy(&policies, "pay", "prod", "aws");
        assert_eq!(e.policies, vec!["several"]);
        assert_eq!(e.per_cluster.cost_per_month.unwrap().value, 5);
        let e = effective_policy(&policies, "web", "prod", "aws");
        assert_eq!(e.policies, vec!["unscoped"]);
        let e = effective_policy(&policies, "web", "prod", "azure");
        assert!(e.is_unlimited());
        // A policy with no scope at all applies everywhere.
        let mut p = pol("none", "aws", &[], &[], cost(7));
        p.spec.scope = None;
        let e = effective_policy(&[p], "web", "prod", "aws");
        assert_eq!(e.tier, Some(ScopeTier::Everywhere));
    }

    fn tie() -> Vec<ProvisioningPolicy> {
        vec![
            pol("b", "aws", &["pay"], &[], |s| {
                s.allowed_regions = Some(vec!["eu-west-2".into(), "eu-west-1".into()]);
                let l = per_cluster(s);
                l.allowed_instance_types = types(&[("m6i.large", Some(5)), ("r6i.large", None)]);
                l.cost_per_month = Some(800);
                let w = per_workspace(s);
                w.max_clusters = Some(4);
                w.total_nodes = Some(50);
            }),
            pol("a", "aws", &["pay"], &[], |s| {
                s.allowed_regions = Some(vec!["eu-west-1".into()]);
                let l = per_cluster(s);
                l.allowed_instance_types = types(&[
                    ("m6i.large", Some(3)),
                    ("c6i.large", Some(2)),
                    ("r6i.large", Some(9)),
                ]);
                l.cost_per_month = Some(500);
                l.total_nodes = Some(10);
                let w = per_workspace(s);
                w.max_clusters = Some(4);
                w.total_nodes = Some(40);
            }),
            // Less specific: ignored although tighter.
            pol("all", "aws", &[], &[], cost(10)),
        ]
    }

    #[test]
    fn ties_merge_to_the_least_restrictive_value() {
        let e = effective_policy(&tie(), "pay", "prod", "aws");
        let w = ScopeTier::Workspace;
        assert_eq!(e.policies, vec!["a", "b"]);
        assert_eq!(
            e.allowed_regions,
            Some(Sourced {
                value: vec!["eu-west-1".to_string(), "eu-west-2".to_string()],
                source: src(&["a", "b"], w)
            })
        );
        let t = e.per_cluster.allowed_instance_types.as_ref().unwrap();
        assert_eq!(t.source, src(&["a", "b"], w));
        assert_eq!(
            t.types,
            BTreeMap::from([
                (
                    "c6i.large".to_string(),
                    Some(Sourced {
                        value: 2,
                        source: src(&["a"], w)
                    })
                ),
                (
                    "m6i.large".to_string(),
                    Some(Sourced {
                        value: 5,
                        source: src(&["b"], w)
                    })
                ),
                // Listed without a maximum by b: no maximum.
                ("r6i.large".to_string(), None),
            ])
        );
        assert_eq!(e.per_cluster.cost_per_month.as_ref().unwrap().value, 800);
        assert_eq!(
            e.per_cluster.cost_per_month.as_ref().unwrap().source,
            src(&["b"], w)
        );
        // b sets no totalNodes: unlimited.
        assert_eq!(e.per_cluster.total_nodes, None);
        // Equal values are credited to both.
        assert_eq!(
            e.per_workspace.max_clusters,
            Some(Sourced {
                value: 4,
                source: src(&["a", "b"], w)
            })
        );
        assert_eq!(e.per_workspace.total_nodes.as_ref().unwrap().value, 50);
    }

    #[test]
    fn a_missing_list_in_a_tie_means_any() {
        let mut policies = tie();
        policies[0].spec.allowed_regions = None;
        per_cluster(&mut policies[0].spec).allowed_instance_types = Some(vec![]);
        let e = effective_policy(&policies, "pay", "prod", "aws");
        assert_eq!(e.allowed_regions, None);
        assert_eq!(e.per_cluster.allowed_instance_types, None);
        // A policy with no clusterLimits at all makes every limit unlimited.
        policies[0].spec.cluster_limits = None;
        let e = effective_policy(&policies, "pay", "prod", "aws");
        assert_eq!(e.per_cluster, EffectiveLimits::default());
        assert_eq!(e.per_workspace, EffectiveLimits::default());
    }

    #[test]
    fn the_api_body_is_wayfinders() {
        let e = effective_policy(&tie(), "pay", "prod", "aws");
        let body = serde_json::to_value(e.to_api()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "cloud": "aws",
                "allowedRegions": ["eu-west-1", "eu-west-2"],
                "clusterLimits": {
                    "perCluster": {
                        "allowedInstanceTypes": [
                            {"instanceType": "c6i.large", "maxNodes": 2},
                            {"instanceType": "m6i.large", "maxNodes": 5},
                            {"instanceType": "r6i.large"}
                        ],
                        "costPerMonth": 800
                    },
                    "perWorkspace": {"totalNodes": 50, "maxClusters": 4}
                }
            })
        );
        let back: EffectivePolicyBody = serde_json::from_value(body).unwrap();
        assert_eq!(back, e.to_api());
        let none = effective_policy(&[], "pay", "prod", "aws");
        assert_eq!(
            serde_json::to_value(none.to_api()).unwrap(),
            serde_json::json!({"cloud": "aws", "allowedRegions": [],
                "clusterLimits": {"perCluster": {}, "perWorkspace": {}}})
        );
    }

    // --- checks -------------------------------------------------------------------------

    fn pool(name: &str, machine: &str, size: i64) -> NodePool {
        NodePool {
            logical_name: name.into(),
            machine: machine.into(),
            size: Some(size),
            ..Default::default()
        }
    }

    /// Three pools: the template's `base` (3 × m6i.large), the cluster's own `big`
    /// (autoscaling 1..6 × m5.4xlarge) and `spot` (2 × m6i.large, spot, may use c6i.large).
    fn cluster() -> ResolvedCluster {
        let mut big = pool("big", "m5.4xlarge", 2);
        big.autoscaling = Some(Autoscaling {
            enabled: Some(true),
            min_size: Some(1),
            max_size: Some(6),
        });
        let mut spot = pool("spot", "m6i.large", 2);
        spot.spot = Some(Spot {
            enabled: Some(true),
            eks: Some(SpotEks {
                additional_instance_types: Some(vec!["c6i.large".into(), "m6i.large".into()]),
            }),
        });
        ResolvedCluster {
            workspace: "pay".into(),
            name: "payments".into(),
            stage: "prod".into(),
            plan: PlanRef {
                name: "eks".into(),
                version: "1.0.0".into(),
            },
            provider: "EKS".into(),
            cloud: "aws".into(),
            region: "us-east-1".into(),
            node_pools: vec![pool("base", "m6i.large", 3), big, spot],
            pool_origins: vec![
                PoolOrigin::Template,
                PoolOrigin::Cluster(0),
                PoolOrigin::Cluster(1),
            ],
            labels: BTreeMap::new(),
        }
    }

    /// An estimate with the given pool costs (cents) and no control plane.
    fn est(pool_cents: &[i64]) -> Estimate {
        Estimate {
            provider: "EKS".into(),
            region: "us-east-1".into(),
            currency: "USD".into(),
            catalog_date: "test".into(),
            pools: pool_cents
                .iter()
                .enumerate()
                .map(|(index, c)| PoolEstimate {
                    index,
                    logical_name: String::new(),
                    machine: String::new(),
                    nodes: 0,
                    spot: false,
                    hourly_usd: 0.0,
                    disk_gb: 0,
                    compute_cents: *c,
                    disk_cents: 0,
                    monthly_cents: *c,
                })
                .collect(),
            control_plane_tier: "Standard".into(),
            control_plane_cents: 0,
            total_cents: pool_cents.iter().sum(),
        }
    }

    fn rows(v: &[Violation]) -> Vec<[String; 6]> {
        v.iter()
            .map(|v| {
                [
                    format!("{:?}", v.rule),
                    v.path.to_string(),
                    v.policy.clone(),
                    v.scope.clone(),
                    v.limit.clone(),
                    v.value.clone(),
                ]
            })
            .collect()
    }

    fn row(
        r: &str,
        path: &str,
        policy: &str,
        scope: &str,
        limit: &str,
        value: &str,
    ) -> [String; 6] {
        [r, path, policy, scope, limit, value].map(String::from)
    }

    #[test]
    fn a_cluster_within_every_limit_has_no_violations() {
        let p = pol("ok", "aws", &["pay"], &["prod"], |s| {
            s.allowed_regions = Some(vec!["us-east-1".into()]);
            let l = per_cluster(s);
            // Exactly at every limit: base 3 + spot 2 m6i.large, spot 2 c6i.large, 11 nodes.
            l.allowed_instance_types = types(&[
                ("m6i.large", Some(5)),
                ("m5.4xlarge", Some(6)),
                ("c6i.large", None),
            ]);
            l.total_nodes = Some(11);
            l.cost_per_month = Some(1000);
            let w = per_workspace(s);
            w.total_nodes = Some(11);
            w.cost_per_month = Some(1000);
            w.max_clusters = Some(1);
        });
        let e = effective_policy(&[p], "pay", "prod", "aws");
        let v = check_cluster(
            &e,
            &cluster(),
            &est(&[50_000, 40_000, 10_000]),
            &WorkspaceUsage::default(),
        );
        assert_eq!(v, vec![]);
    }

    #[test]
    fn every_check_reports_its_violation() {
        let p = pol("tight", "aws", &["pay"], &["prod"], |s| {
            s.allowed_regions = Some(vec!["eu-west-2".into(), "eu-west-1".into()]);
            let l = per_cluster(s);
            l.allowed_instance_types = types(&[("m6i.large", Some(4)), ("m5.4xlarge", Some(5))]);
            l.total_nodes = Some(10);
            l.cost_per_month = Some(900);
            let w = per_workspace(s);
            w.allowed_instance_types = types(&[("m6i.large", Some(6)), ("m5.4xlarge", None)]);
            w.total_nodes = Some(20);
            w.cost_per_month = Some(2000);
            w.max_clusters = Some(2);
        });
        let e = effective_policy(&[p], "pay", "prod", "aws");
        let usage = WorkspaceUsage {
            clusters: 2,
            nodes: 10,
            cost_cents: 150_000,
            nodes_by_instance_type: BTreeMap::from([("m6i.large".to_string(), 2)]),
        };
        let v = check_cluster(&e, &cluster(), &est(&[30_000, 60_000, 10_000]), &usage);
        let s = "workspace \"pay\", stage \"prod\"";
        assert_eq!(
            rows(&v),
            vec![
                row(
                    "Region",
                    "spec.region",
                    "tight",
                    s,
                    "allowedRegions: eu-west-2, eu-west-1",
                    "us-east-1"
                ),
                row(
                    "InstanceType",
                    "spec.nodePools[1].spot.eks.additionalInstanceTypes[0]",
                    "tight",
                    s,
                    "perCluster.allowedInstanceTypes: m5.4xlarge, m6i.large",
                    "c6i.large"
                ),
                // base 3 + spot 2 = 5 m6i.large; the spot pool takes it over 4.
                row(
                    "InstanceTypeNodes",
                    "spec.nodePools[1].size",
                    "tight",
                    s,
                    "perCluster.allowedInstanceTypes[m6i.large].maxNodes: 4",
                    "5 nodes"
                ),
                // big at its autoscaling maximum, 6.
                row(
                    "InstanceTypeNodes",
                    "spec.nodePools[0].autoscaling.maxSize",
                    "tight",
                    s,
                    "perCluster.allowedInstanceTypes[m5.4xlarge].maxNodes: 5",
                    "6 nodes"
                ),
                // 3 + 6 + 2 = 11; big takes it to 9, spot to 11.
                row(
                    "ClusterNodes",
                    "spec.nodePools[1].size",
                    "tight",
                    s,
                    "perCluster.totalNodes: 10",
                    "11 nodes"
                ),
                // The dearest pool is big.
                row(
                    "ClusterCost",
                    "spec.nodePools[0]",
                    "tight",
                    s,
                    "perCluster.costPerMonth: 900 USD",
                    "1000.00 USD"
                ),
                row(
                    "WorkspaceInstanceType",
                    "spec.nodePools[1].spot.eks.additionalInstanceTypes[0]",
                    "tight",
                    s,
                    "perWorkspace.allowedInstanceTypes: m5.4xlarge, m6i.large",
                    "c6i.large"
                ),
                // 2 existing + 3 + 2 = 7 > 6; base takes it to 5, spot to 7.
                row(
                    "WorkspaceInstanceTypeNodes",
                    "spec.nodePools[1].size",
                    "tight",
                    s,
                    "perWorkspace.allowedInstanceTypes[m6i.large].maxNodes: 6",
                    "7 nodes"
                ),
                // 10 existing + 11 = 21 > 20: the template's base pool gets to 13, big to 19,
                // spot to 21.
                row(
                    "WorkspaceNodes",
                    "spec.nodePools[1].size",
                    "tight",
                    s,
                    "perWorkspace.totalNodes: 20",
                    "21 nodes"
                ),
                row(
                    "WorkspaceCost",
                    "spec.nodePools[0]",
                    "tight",
                    s,
                    "perWorkspace.costPerMonth: 2000 USD",
                    "2500.00 USD"
                ),
                row(
                    "WorkspaceClusters",
                    "",
                    "tight",
                    s,
                    "perWorkspace.maxClusters: 2",
                    "3 clusters"
                ),
            ]
        );
        assert_eq!(
            v[0].to_string(),
            "spec.region: region \"us-east-1\" is not allowed; allowed: eu-west-2, eu-west-1 (limit set by provisioning policy \"tight\" for workspace \"pay\", stage \"prod\")"
        );
        assert_eq!(
            v[2].message,
            "the cluster can grow to 5 nodes of instance type \"m6i.large\" (every pool at its largest size), more than the 4 allowed per cluster (limit set by provisioning policy \"tight\" for workspace \"pay\", stage \"prod\")"
        );
        assert_eq!(
            v[5].message,
            "the cluster's estimated monthly cost is 1000.00 USD, more than the 900 USD allowed per cluster (limit set by provisioning policy \"tight\" for workspace \"pay\", stage \"prod\")"
        );
        assert!(v[10].message.starts_with(
            "the workspace would have 3 clusters on aws (its other clusters and this one), more than the 2 allowed"
        ));
        assert!(
            v[1].message
                .contains("allowed: m5.4xlarge (at most 5 nodes), m6i.large (at most 4 nodes)"),
            "{}",
            v[1].message
        );
        // Serialisable for a 422 body.
        let json = serde_json::to_value(&v[0]).unwrap();
        assert_eq!(json["path"], "spec.region");
        assert_eq!(json["rule"], "region");
        assert_eq!(json["policy"], "tight");
        let all = serde_json::to_string(&v).unwrap();
        let back: Vec<Violation> = serde_json::from_str(&all).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn template_pools_point_at_the_compute_template() {
        let p = pol("t", "aws", &[], &[], |s| {
            let l = per_cluster(s);
            l.allowed_instance_types = types(&[("m5.4xlarge", None), ("c6i.large", None)]);
            l.total_nodes = Some(2);
        });
        let e = effective_policy(&[p], "pay", "prod", "aws");
        let v = check_cluster(&e, &cluster(), &est(&[1, 1, 1]), &WorkspaceUsage::default());
        assert_eq!(
            rows(&v),
            vec![
                row(
                    "InstanceType",
                    "spec.computeTemplate",
                    "t",
                    "all workspaces and stages",
                    "perCluster.allowedInstanceTypes: c6i.large, m5.4xlarge",
                    "m6i.large"
                ),
                row(
                    "InstanceType",
                    "spec.nodePools[1].machine",
                    "t",
                    "all workspaces and stages",
                    "perCluster.allowedInstanceTypes: c6i.large, m5.4xlarge",
                    "m6i.large"
                ),
                row(
                    "InstanceType",
                    "spec.nodePools[1].spot.eks.additionalInstanceTypes[1]",
                    "t",
                    "all workspaces and stages",
                    "perCluster.allowedInstanceTypes: c6i.large, m5.4xlarge",
                    "m6i.large"
                ),
                // The template's 3 nodes alone are over 2.
                row(
                    "ClusterNodes",
                    "spec.computeTemplate",
                    "t",
                    "all workspaces and stages",
                    "perCluster.totalNodes: 2",
                    "11 nodes"
                ),
            ]
        );
    }

    #[test]
    fn merged_limits_name_every_policy() {
        let e = effective_policy(&tie(), "pay", "prod", "aws");
        let mut c = cluster();
        c.node_pools[0].size = Some(4); // 4 + 2 = 6 m6i.large
        let v = check_cluster(&e, &c, &est(&[1, 1, 1]), &WorkspaceUsage::default());
        let region = v.iter().find(|v| v.rule == Rule::Region).unwrap();
        assert_eq!(region.policy, "a, b");
        assert_eq!(region.scope, "workspace \"pay\", all stages");
        assert!(
            region
                .message
                .contains("provisioning policies a, b (merged)")
        );
        let m6i = v
            .iter()
            .find(|v| v.rule == Rule::InstanceTypeNodes)
            .unwrap();
        assert_eq!(m6i.policy, "b");
        assert_eq!(m6i.value, "6 nodes");
        let m5 = v.iter().find(|v| v.rule == Rule::InstanceType).unwrap();
        assert_eq!(
            (m5.policy.as_str(), m5.value.as_str()),
            ("a, b", "m5.4xlarge")
        );
        assert_eq!(
            m6i.limit,
            "perCluster.allowedInstanceTypes[m6i.large].maxNodes: 5"
        );
    }

    #[test]
    fn workspace_totals_count_the_other_clusters() {
        let p = pol("ws", "aws", &["pay"], &[], |s| {
            let w = per_workspace(s);
            w.max_clusters = Some(3);
            w.total_nodes = Some(30);
            w.cost_per_month = Some(3000);
        });
        let e = effective_policy(&[p], "pay", "prod", "aws");
        let me = cluster(); // 11 nodes
        let other = |name: &str, ws: &str, cloud: &str| ResolvedCluster {
            name: name.into(),
            workspace: ws.into(),
            cloud: cloud.into(),
            node_pools: vec![pool("a", "m6i.large", 8)],
            pool_origins: vec![PoolOrigin::Cluster(0)],
            ..cluster()
        };
        let existing = [
            (other("one", "pay", "aws"), est(&[100_000])),
            (other("two", "pay", "aws"), est(&[100_000])),
            // Not counted: the cluster's own previous version, another workspace, another cloud.
            (other("payments", "pay", "aws"), est(&[900_000])),
            (other("x", "ops", "aws"), est(&[900_000])),
            (other("y", "pay", "gcp"), est(&[900_000])),
        ];
        let usage = WorkspaceUsage::excluding(&me, existing.iter().map(|(c, e)| (c, e)));
        assert_eq!(
            usage,
            WorkspaceUsage {
                clusters: 2,
                nodes: 16,
                cost_cents: 200_000,
                nodes_by_instance_type: BTreeMap::from([("m6i.large".to_string(), 16)]),
            }
        );
        // 2 + 1 clusters, 16 + 11 = 27 nodes, 2000 + 1000 USD: all within.
        assert_eq!(check_cluster(&e, &me, &est(&[100_000]), &usage), vec![]);
        // One more existing cluster breaks all three.
        let mut more = usage.clone();
        more.add(&existing[0].0, &existing[0].1);
        let v = check_cluster(&e, &me, &est(&[100_000]), &more);
        let got: Vec<(Rule, &str)> = v.iter().map(|v| (v.rule, v.value.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (Rule::WorkspaceNodes, "35 nodes"),
                (Rule::WorkspaceCost, "4000.00 USD"),
                (Rule::WorkspaceClusters, "4 clusters"),
            ]
        );
        // The same limits per cluster would not count the others.
        let p = pol("pc", "aws", &["pay"], &[], |s| {
            let l = per_cluster(s);
            l.total_nodes = Some(30);
            l.cost_per_month = Some(3000);
        });
        let e = effective_policy(&[p], "pay", "prod", "aws");
        assert_eq!(check_cluster(&e, &me, &est(&[100_000]), &more), vec![]);
    }

    #[test]
    fn an_unlimited_policy_allows_anything() {
        let e = effective_policy(&[], "pay", "prod", "aws");
        let usage = WorkspaceUsage {
            clusters: 1_000,
            nodes: 1_000_000,
            cost_cents: i64::MAX,
            ..Default::default()
        };
        assert_eq!(
            check_cluster(&e, &cluster(), &est(&[i64::MAX / 4]), &usage),
            vec![]
        );
    }

    #[test]
    fn estimate_and_check_together_on_the_builtin_catalog() {
        let c = cluster();
        let e = estimate(Catalog::builtin(), &c.provider, &c.region, &c.node_pools).unwrap();
        // us-east-1: base 3 × m6i.large 0.096 × 720 = 207.36; big 6 × m5.4xlarge 0.768 × 720
        // = 3317.76; spot 2 × max(m6i.large 0.096, c6i.large 0.085) × 0.4 × 720 = 55.296 →
        // 55.30; disks 20 GiB × 0.08 = 1.60 a node → 4.80, 9.60, 3.20; control plane 72.00.
        let monthly: Vec<i64> = e.pools.iter().map(|p| p.monthly_cents).collect();
        assert_eq!(monthly, vec![20_736 + 480, 331_776 + 960, 5_530 + 320]);
        assert_eq!(e.total_cents, 21_216 + 332_736 + 5_850 + 7_200);
        let p = pol("cap", "aws", &[], &[], cost(3000));
        let v = check_cluster(
            &effective_policy(&[p], "pay", "prod", "aws"),
            &c,
            &e,
            &WorkspaceUsage::default(),
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].value, "3670.02 USD");
        assert_eq!(v[0].path.to_string(), "spec.nodePools[0]");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn machine() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("m6i.large".to_string()),
                Just("c6i.large".to_string()),
                Just("Standard_D4s_v5".to_string()),
                Just("e2-standard-4".to_string()),
                ".{0,12}",
            ]
        }

        fn any_i64() -> impl Strategy<Value = Option<i64>> {
            prop_oneof![
                Just(None),
                (-5i64..50).prop_map(Some),
                any::<i64>().prop_map(Some)
            ]
        }

        prop_compose! {
            fn node_pool()(
                name in "[a-z]{0,4}",
                machine in machine(),
                size in any_i64(),
                disk in any_i64(),
                auto in proptest::option::of((proptest::option::of(any::<bool>()), any_i64(), any_i64())),
                spot in proptest::option::of((proptest::option::of(any::<bool>()), proptest::option::of(proptest::collection::vec(machine(), 0..3)))),
            ) -> NodePool {
                NodePool {
                    logical_name: name,
                    machine,
                    size,
                    disk_size: disk,
                    autoscaling: auto.map(|(enabled, min_size, max_size)| Autoscaling { enabled, min_size, max_size }),
                    spot: spot.map(|(enabled, extra)| Spot {
                        enabled,
                        eks: Some(SpotEks { additional_instance_types: extra }),
                    }),
                    ..Default::default()
                }
            }
        }

        fn names(pool: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<String>>> {
            proptest::option::of(proptest::collection::vec(
                proptest::sample::select(pool).prop_map(String::from),
                0..3,
            ))
        }

        prop_compose! {
            fn limits()(
                t in proptest::option::of(proptest::collection::vec((machine(), any_i64()), 0..4)),
                cost in any_i64(),
                nodes in any_i64(),
                clusters in any_i64(),
            ) -> Limits {
                Limits {
                    allowed_instance_types: t.map(|v| v.into_iter().map(|(instance_type, max_nodes)| InstanceTypeLimit { instance_type, max_nodes }).collect()),
                    cost_per_month: cost,
                    total_nodes: nodes,
                    max_clusters: clusters,
                }
            }
        }

        prop_compose! {
            fn policy()(
                name in "[a-z]{1,3}",
                cloud in proptest::sample::select(&["aws", "azure", "gcp", "AWS", ""][..]),
                scope in proptest::option::of((proptest::option::of(any::<bool>()), names(&["pay", "ops"]), proptest::option::of(any::<bool>()), names(&["prod", "dev"]))),
                regions in names(&["us-east-1", "eu-west-2", "eastus"]),
                per_cluster in proptest::option::of(limits()),
                per_workspace in proptest::option::of(limits()),
            ) -> ProvisioningPolicy {
                ProvisioningPolicy::new(&name, ProvisioningPolicySpec {
                    cloud: cloud.to_string(),
                    scope: scope.map(|(all_workspaces, allowed_workspaces, all_stages, allowed_stages)| ScopeSpec { all_workspaces, allowed_workspaces, all_stages, allowed_stages }),
                    allowed_regions: regions,
                    cluster_limits: Some(ClusterLimits { per_cluster, per_workspace }),
                    description: None,
                })
            }
        }

        proptest! {
            #[test]
            fn arbitrary_pools_and_policies_never_panic(
                pools in proptest::collection::vec(node_pool(), 0..5),
                origins in proptest::collection::vec(proptest::option::of(0usize..6), 0..6),
                policies in proptest::collection::vec(policy(), 0..6),
                provider in proptest::sample::select(&["EKS", "AKS", "GKE", "XKE"][..]),
                region in proptest::sample::select(&["us-east-1", "eastus", "us-central1", "nowhere"][..]),
                usage in (any::<i64>(), any::<i64>(), any::<i64>()),
            ) {
                let cloud = crate::common::cloud_for_provider(provider).unwrap_or("aws");
                let e = effective_policy(&policies, "pay", "prod", cloud);
                for p in &e.policies {
                    prop_assert!(policies.iter().any(|x| &x.metadata.name == p && x.spec.cloud.eq_ignore_ascii_case(cloud)));
                }
                let body = serde_json::to_string(&e.to_api()).unwrap();
                let _: EffectivePolicyBody = serde_json::from_str(&body).unwrap();
                let cluster = ResolvedCluster {
                    provider: provider.to_string(),
                    cloud: cloud.to_string(),
                    region: region.to_string(),
                    pool_origins: origins.iter().map(|o| o.map_or(PoolOrigin::Template, PoolOrigin::Cluster)).collect(),
                    node_pools: pools,
                    ..cluster()
                };
                let estimate = match estimate(Catalog::builtin(), provider, region, &cluster.node_pools) {
                    Ok(est) => {
                        let sum = est.pools.iter().fold(est.control_plane_cents, |a, p| a.saturating_add(p.monthly_cents));
                        prop_assert_eq!(est.total_cents, sum);
                        prop_assert!(est.pools.iter().all(|p| p.monthly_cents >= 0 && p.nodes >= 0));
                        est
                    }
                    Err(errs) => {
                        prop_assert!(!errs.is_empty());
                        for err in &errs {
                            let _ = err.path_in(&cluster);
                        }
                        est(&[1, 2, 3, 4, 5, 6])
                    }
                };
                let usage = WorkspaceUsage { clusters: usage.0, nodes: usage.1, cost_cents: usage.2, ..Default::default() };
                for v in check_cluster(&e, &cluster, &estimate, &usage) {
                    prop_assert!(!v.message.is_empty() && !v.policy.is_empty());
                    let _ = serde_json::to_string(&v).unwrap();
                }
            }
        }
    }
}
