//! The effective policy: the limits in force for one workspace, stage and cloud, combined from
//! every policy that applies by Wayfinder's precedence, each limit with the policies and scope
//! tier that set it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::kind::{ClusterLimits, InstanceTypeLimit, Limits, ProvisioningPolicy};
use crate::common::ScopeSpec;

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
    /// The tier of the policies.
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
    /// The limit's value.
    pub value: T,
    /// The policies that set it.
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
    /// The instance types allowed, each with its node maximum; any when `None`.
    pub allowed_instance_types: Option<AllowedInstanceTypes>,
    /// USD per month.
    pub cost_per_month: Option<Sourced<i64>>,
    /// The most nodes, every pool at its largest possible size.
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
    /// The cloud the policy is for: `aws`, `azure` or `gcp`.
    pub cloud: String,
    /// The workspace the policy is for.
    pub workspace: String,
    /// The stage the policy is for.
    pub stage: String,
    /// The tier whose policies are in force; `None` when no policy applies (no limits).
    pub tier: Option<ScopeTier>,
    /// The policies in force, sorted by name.
    pub policies: Vec<String>,
    /// `None`: any region.
    pub allowed_regions: Option<Sourced<Vec<String>>>,
    /// Limits on each cluster.
    pub per_cluster: EffectiveLimits,
    /// Limits on all of the workspace's clusters together.
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
    /// `cloud`: `aws`, `azure` or `gcp`.
    pub cloud: String,
    /// `allowedRegions`: the regions clusters may use; any when empty.
    #[serde(default)]
    pub allowed_regions: Vec<String>,
    /// `clusterLimits`: the limits per cluster and per workspace; unlimited when absent.
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
