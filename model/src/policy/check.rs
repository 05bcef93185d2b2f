//! Checking a resolved cluster, its cost estimate and its workspace's other clusters against
//! the effective policy: every broken limit is reported as a [`Violation`] with the field path
//! into the Cluster object.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::effective::{AllowedInstanceTypes, EffectiveLimits, EffectivePolicy, Source, Sourced};
use crate::cost::{CostError, Estimate, format_usd, largest_size, pool_instance_types};
use crate::error::{FieldPath, deserialize_path, serialize_path};
use crate::resolved::ResolvedCluster;

/// The workspace's OTHER existing clusters on the same cloud, summed, for the per-workspace
/// limits. On an update, the cluster's own previous version is excluded (it is being replaced),
/// so the new version counts once. Nodes count every pool at its largest possible size, as for
/// the cluster being checked; cost is the sum of the other clusters' estimates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceUsage {
    /// The other clusters counted.
    pub clusters: i64,
    /// Their nodes, every pool at its largest possible size.
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
    /// The limit broken.
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

/// One level of limits: the policy field, the rules its instance-type checks break, and how
/// its messages speak of what they count.
struct Level {
    /// `perCluster` or `perWorkspace`.
    field: &'static str,
    /// Whether the level counts the workspace's other clusters too.
    workspace: bool,
    instance_type: Rule,
    instance_type_nodes: Rule,
    /// What can grow: `the cluster`, `the workspace's clusters`.
    who: &'static str,
    /// Whose cost: `the cluster's`, `the workspace's`.
    whose: &'static str,
    /// What a node count includes besides this cluster, at the start of the parenthesis.
    others: &'static str,
    /// What a cost or cluster count includes besides this cluster, after the value.
    others_after: &'static str,
    /// `per cluster`, `per workspace`.
    per: &'static str,
    /// Where an instance type is refused: `for this cluster`, `in this workspace`.
    within: &'static str,
}

const PER_CLUSTER: Level = Level {
    field: "perCluster",
    workspace: false,
    instance_type: Rule::InstanceType,
    instance_type_nodes: Rule::InstanceTypeNodes,
    who: "the cluster",
    whose: "the cluster's",
    others: "",
    others_after: "",
    per: "per cluster",
    within: "for this cluster",
};

const PER_WORKSPACE: Level = Level {
    field: "perWorkspace",
    workspace: true,
    instance_type: Rule::WorkspaceInstanceType,
    instance_type_nodes: Rule::WorkspaceInstanceTypeNodes,
    who: "the workspace's clusters",
    whose: "the workspace's",
    others: "its other clusters and this one, ",
    others_after: " (its other clusters and this one)",
    per: "per workspace",
    within: "in this workspace",
};

/// What a ceiling counts.
#[derive(Clone, Copy)]
enum Counter {
    /// Nodes, every pool at its largest size.
    Nodes,
    /// The estimated monthly cost; the limit is in USD, the count in cents.
    Cost,
    /// Clusters, this one included.
    Clusters,
}

/// One ceiling of a level's limits, checked in the order of [`CEILINGS`].
struct Ceiling {
    /// The limit's field under `perCluster`/`perWorkspace`.
    field: &'static str,
    /// The rule broken per cluster; `None` where the limit does not apply to one cluster.
    per_cluster: Option<Rule>,
    /// The rule broken per workspace.
    per_workspace: Rule,
    limit: fn(&EffectiveLimits) -> Option<&Sourced<i64>>,
    counter: Counter,
}

const CEILINGS: &[Ceiling] = &[
    Ceiling {
        field: "totalNodes",
        per_cluster: Some(Rule::ClusterNodes),
        per_workspace: Rule::WorkspaceNodes,
        limit: |l| l.total_nodes.as_ref(),
        counter: Counter::Nodes,
    },
    Ceiling {
        field: "costPerMonth",
        per_cluster: Some(Rule::ClusterCost),
        per_workspace: Rule::WorkspaceCost,
        limit: |l| l.cost_per_month.as_ref(),
        counter: Counter::Cost,
    },
    Ceiling {
        field: "maxClusters",
        per_cluster: None,
        per_workspace: Rule::WorkspaceClusters,
        limit: |l| l.max_clusters.as_ref(),
        counter: Counter::Clusters,
    },
];

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
                return self
                    .cluster
                    .pool_path(i, &size_field(&self.cluster.node_pools[i]));
            }
        }
        match first {
            Some(i) => self
                .cluster
                .pool_path(i, &size_field(&self.cluster.node_pools[i])),
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
                |p| self.cluster.pool_path(p.index, &FieldPath::root()),
            )
    }

    /// Checks one level's limits. `usage` is the workspace's other clusters, counted only at
    /// the workspace level.
    fn check_limits(
        &mut self,
        level: &Level,
        limits: &EffectiveLimits,
        estimate: &Estimate,
        usage: &WorkspaceUsage,
    ) {
        let none = WorkspaceUsage::default();
        let usage = if level.workspace { usage } else { &none };
        if let Some(allowed) = &limits.allowed_instance_types {
            self.check_instance_types(level, allowed, usage);
        }
        for ceiling in CEILINGS {
            let rule = if level.workspace {
                Some(ceiling.per_workspace)
            } else {
                ceiling.per_cluster
            };
            if let (Some(rule), Some(max)) = (rule, (ceiling.limit)(limits)) {
                self.check_ceiling(level, ceiling, rule, max, estimate, usage);
            }
        }
    }

    /// The instance types a level allows: each pool's types must be listed, and each listed
    /// type's node maximum holds over the pools that may run it.
    fn check_instance_types(
        &mut self,
        level: &Level,
        allowed: &AllowedInstanceTypes,
        usage: &WorkspaceUsage,
    ) {
        let cluster = self.cluster;
        let lf = level.field;
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
                    level.within,
                );
                self.push(
                    level.instance_type,
                    cluster.pool_path(i, &rel),
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
        // Per-type maxima, each pool at its largest size, types in the order pools use them.
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
            let base = usage.nodes_by_instance_type.get(t).copied().unwrap_or(0);
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
                "{} can grow to {} of instance type {t:?} ({}every pool at its largest size), more than the {} allowed {}",
                level.who,
                plural(total, "node", "nodes"),
                level.others,
                max.value,
                level.per,
            );
            self.push(
                level.instance_type_nodes,
                path,
                &max.source,
                format!("{lf}.allowedInstanceTypes[{t}].maxNodes: {}", max.value),
                plural(total, "node", "nodes"),
                what,
            );
        }
    }

    /// One ceiling of [`CEILINGS`] at `level`: the count (with `usage`) against `max`.
    fn check_ceiling(
        &mut self,
        level: &Level,
        ceiling: &Ceiling,
        rule: Rule,
        max: &Sourced<i64>,
        estimate: &Estimate,
        usage: &WorkspaceUsage,
    ) {
        let limit = format!("{}.{}: {}", level.field, ceiling.field, max.value);
        let (per, others) = (level.per, level.others_after);
        match ceiling.counter {
            Counter::Nodes => {
                let total = self
                    .sizes
                    .iter()
                    .fold(usage.nodes, |a, n| a.saturating_add(*n));
                if total > max.value {
                    let path = self.crossing(usage.nodes, max.value, |i| Some(self.sizes[i]));
                    let what = format!(
                        "{} can grow to {} ({}every pool at its largest size), more than the {} allowed {per}",
                        level.who,
                        plural(total, "node", "nodes"),
                        level.others,
                        max.value,
                    );
                    let value = plural(total, "node", "nodes");
                    self.push(rule, path, &max.source, limit, value, what);
                }
            }
            Counter::Cost => {
                let total = usage.cost_cents.saturating_add(estimate.total_cents);
                if total > max.value.saturating_mul(100) {
                    let what = format!(
                        "{} estimated monthly cost is {} USD{others}, more than the {} USD allowed {per}",
                        level.whose,
                        format_usd(total),
                        max.value,
                    );
                    let path = self.cost_path(estimate);
                    let value = format!("{} USD", format_usd(total));
                    self.push(rule, path, &max.source, format!("{limit} USD"), value, what);
                }
            }
            Counter::Clusters => {
                let total = usage.clusters.saturating_add(1);
                if total > max.value {
                    let what = format!(
                        "the workspace would have {} on {}{others}, more than the {} allowed",
                        plural(total, "cluster", "clusters"),
                        self.policy.cloud,
                        max.value,
                    );
                    let value = plural(total, "cluster", "clusters");
                    self.push(rule, FieldPath::root(), &max.source, limit, value, what);
                }
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
    ctx.check_limits(&PER_CLUSTER, &policy.per_cluster, estimate, usage);
    ctx.check_limits(&PER_WORKSPACE, &policy.per_workspace, estimate, usage);
    ctx.out
}

/// Checks a cluster whose cost the catalog cannot estimate (`missing`: the prices it lacks).
/// Every other limit is checked as by [`check_cluster`]; a cost limit (`costPerMonth`, per
/// cluster, else per workspace) cannot be checked without the price, so each missing price is
/// a violation of it, on the field that needs the price, saying which price is missing and how
/// to add it. With no cost limit in force a missing price is no violation: the cluster is
/// admitted with its cost unknown (and a warning: [`crate::cost::unknown_cost_warning`]).
pub fn check_unpriced(
    policy: &EffectivePolicy,
    cluster: &ResolvedCluster,
    missing: &[CostError],
    usage: &WorkspaceUsage,
) -> Vec<Violation> {
    let mut uncosted = policy.clone();
    uncosted.per_cluster.cost_per_month = None;
    uncosted.per_workspace.cost_per_month = None;
    let mut out = check_cluster(&uncosted, cluster, &Estimate::uncosted(cluster), usage);
    let limit = [
        (&PER_CLUSTER, Rule::ClusterCost, &policy.per_cluster),
        (&PER_WORKSPACE, Rule::WorkspaceCost, &policy.per_workspace),
    ]
    .into_iter()
    .find_map(|(level, rule, l)| l.cost_per_month.as_ref().map(|m| (level, rule, m)));
    if let Some((level, rule, max)) = limit {
        let mut ctx = Ctx {
            policy,
            cluster,
            sizes: Vec::new(),
            out: Vec::new(),
        };
        for e in missing {
            ctx.push(
                rule,
                e.path_in(cluster),
                &max.source,
                format!("{}.costPerMonth: {} USD", level.field, max.value),
                "unknown".into(),
                format!(
                    "{} estimated monthly cost cannot be checked against the {} USD allowed {}: {}",
                    level.whose, max.value, level.per, e.message
                ),
            );
        }
        out.extend(ctx.out);
    }
    out
}
