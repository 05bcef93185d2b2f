//! The checks: each as the HCL condition and message its variable carries ([`Plan::checks`]),
//! and as a predicate that asks the model ([`Plan::holds`], [`Plan::failing`]).

use std::collections::{BTreeMap, BTreeSet};

use wayfinder_model::WorkspaceUsage;
use wayfinder_model::compute::NodePool;
use wayfinder_model::cost;
use wayfinder_model::policy::{Rule as PolicyRule, check_cluster, check_unpriced};
use wayfinder_model::resolve::RESERVED_LABELS;
use wayfinder_model::resolved::{PoolOrigin, ResolvedCluster};
use wayfinder_model::validate::{WORKSPACE_KEY, is_dns_label, is_workspace_key};

use crate::catalog::string_list;

/// What a check is about; the predicate for each is [`Plan::holds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rule {
    NameFormat,
    WorkspaceFormat,
    WorkspaceScope,
    StageFormat,
    StageScope,
    RegionChoice,
    PolicyRegion,
    TemplateChoice,
    PoolNamesUnique,
    PoolMachines,
    PoolMaxSize,
    PoolsPresent,
    PolicyInstanceTypes,
    PolicyTypeNodes,
    PolicyTotalNodes,
    PolicyCost,
    NetworkSize,
    NetworkCidr,
    ReservedLabels,
}

impl Rule {
    /// The test run's name.
    pub(super) fn run_name(self) -> &'static str {
        match self {
            Rule::NameFormat => "name_not_a_dns_label",
            Rule::WorkspaceFormat => "workspace_not_a_key",
            Rule::WorkspaceScope => "workspace_outside_the_plan_scope",
            Rule::StageFormat => "stage_not_a_dns_label",
            Rule::StageScope => "stage_outside_the_plan_scope",
            Rule::RegionChoice => "region_not_offered_by_the_plan",
            Rule::PolicyRegion => "region_not_allowed_by_policy",
            Rule::TemplateChoice => "compute_template_not_offered",
            Rule::PoolNamesUnique => "node_pool_names_repeat",
            Rule::PoolMachines => "machine_not_offered_by_the_plan",
            Rule::PoolMaxSize => "node_pool_larger_than_the_plan_allows",
            Rule::PoolsPresent => "no_node_pools",
            Rule::PolicyInstanceTypes => "instance_type_not_allowed_by_policy",
            Rule::PolicyTypeNodes => "too_many_nodes_of_an_instance_type",
            Rule::PolicyTotalNodes => "too_many_nodes",
            Rule::PolicyCost => "over_the_cost_ceiling",
            Rule::NetworkSize => "network_size_not_offered",
            Rule::NetworkCidr => "network_cidr_not_offered",
            Rule::ReservedLabels => "reserved_cluster_label",
        }
    }
}

/// One validation: the variable it belongs to, its HCL and its rule.
#[derive(Debug, Clone)]
pub(super) struct Check {
    pub(super) rule: Rule,
    pub(super) variable: &'static str,
    pub(super) condition: String,
    pub(super) message: String,
    /// The other variables its condition and message refer to.
    pub(super) refers_to: Vec<&'static str>,
}
use super::{Inputs, OTHER, Plan};

impl<'c> Plan<'c> {
    pub(super) fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut push = |rule, variable: &'static str, condition: String, message: String| {
            let mut refers_to = references(&condition);
            for r in references(&message) {
                if !refers_to.contains(&r) {
                    refers_to.push(r);
                }
            }
            refers_to.retain(|r| *r != variable);
            out.push(Check {
                rule,
                variable,
                condition,
                message,
                refers_to,
            })
        };
        push(
            Rule::NameFormat,
            "name",
            dns_label_condition("var.name"),
            "The cluster name must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (got ${jsonencode(var.name)}).".into(),
        );
        push(
            Rule::WorkspaceFormat,
            "workspace",
            format!(
                "can(regex({}, var.workspace))",
                crate::hcl::quote(WORKSPACE_KEY.hcl_regex)
            ),
            format!(
                "The workspace is a workspace key: {} (got ${{jsonencode(var.workspace)}}).",
                WORKSPACE_KEY.text
            ),
        );
        if let Some(ws) = self.scope_workspaces() {
            push(
                Rule::WorkspaceScope,
                "workspace",
                format!("contains({}, var.workspace)", string_list(&ws)),
                format!(
                    "Cluster plan {} is available to workspaces {} only (got ${{jsonencode(var.workspace)}}).",
                    lit(&self.name),
                    lit(&ws.join(", "))
                ),
            );
        }
        push(
            Rule::StageFormat,
            "stage",
            dns_label_condition("var.stage"),
            "The stage must be lower-case letters, digits and '-', such as nonprod or prod (got ${jsonencode(var.stage)}).".into(),
        );
        if let Some(stages) = self.scope_stages() {
            push(
                Rule::StageScope,
                "stage",
                format!("contains({}, var.stage)", string_list(&stages)),
                format!(
                    "Cluster plan {} is available in stages {} only (got ${{jsonencode(var.stage)}}).",
                    lit(&self.name),
                    lit(&stages.join(", "))
                ),
            );
        }
        if let Some(regions) = self.regions() {
            push(
                Rule::RegionChoice,
                "region",
                format!(
                    "var.region == null ? true : contains({}, var.region)",
                    string_list(&regions)
                ),
                if self.any_region() {
                    format!(
                        "Cluster plan {} offers any public region of {}: {} (got ${{jsonencode(var.region)}}).",
                        lit(&self.name),
                        self.cloud,
                        lit(&regions.join(", "))
                    )
                } else {
                    format!(
                        "Cluster plan {} offers regions {} (got ${{jsonencode(var.region)}}).",
                        lit(&self.name),
                        lit(&regions.join(", "))
                    )
                },
            );
            if !self.policies.is_empty() {
                push(
                    Rule::PolicyRegion,
                    "region",
                    "var.region == null || local.policy.allowed_regions == null ? true : contains(local.policy.allowed_regions, var.region)".into(),
                    "Region ${jsonencode(var.region)} is not allowed in workspace ${var.workspace}, stage ${var.stage}: the provisioning policy (${local.policy.sources.regions}) allows ${join(\", \", coalesce(local.policy.allowed_regions, []))}.".into(),
                );
            }
        }
        if let Some(templates) = self.offered_templates() {
            push(
                Rule::TemplateChoice,
                "compute_template",
                format!(
                    "var.compute_template == null ? true : contains({}, var.compute_template)",
                    string_list(&templates)
                ),
                format!(
                    "Cluster plan {} offers compute templates {} (got ${{jsonencode(var.compute_template)}}).",
                    lit(&self.name),
                    lit(&templates.join(", "))
                ),
            );
        }
        if self.pools_choice() {
            push(
                Rule::PoolNamesUnique,
                "node_pools",
                "length(distinct([for p in var.node_pools : p.logical_name])) == length(var.node_pools)".into(),
                "Each node pool needs its own logical_name; a pool with a template pool's logical_name replaces that pool.".into(),
            );
            if let Some(machines) = self.allowed_machines() {
                push(
                    Rule::PoolMachines,
                    "node_pools",
                    format!(
                        "alltrue([for p in var.node_pools : contains({}, p.machine)])",
                        string_list(&machines)
                    ),
                    format!(
                        "Cluster plan {} lets node pools use machines {} only (got ${{join(\", \", distinct([for p in var.node_pools : p.machine]))}}).",
                        lit(&self.name),
                        lit(&machines.join(", "))
                    ),
                );
            }
            if let Some(max) = self.max_pool_size() {
                push(
                    Rule::PoolMaxSize,
                    "node_pools",
                    format!(
                        "alltrue([for p in var.node_pools : {} <= {max}])",
                        largest_size_hcl("p")
                    ),
                    format!(
                        "Cluster plan {} lets a node pool grow to {max} nodes at most (its size, or autoscaling.max_size when autoscaling is enabled).",
                        lit(&self.name)
                    ),
                );
            }
        }
        if self.pools_known() {
            push(
                Rule::PoolsPresent,
                self.pools_variable(),
                format!("length({}) > 0", self.pools_expr()),
                "A cluster needs at least one node pool: choose a compute template or define node_pools.".into(),
            );
        }
        if self.pool_policies() {
            let v = self.pools_variable();
            push(
                Rule::PolicyInstanceTypes,
                v,
                format!(
                    "local.policy.instance_types == null ? true : alltrue([for t in flatten([for p in {} : p.instance_types]) : contains(local.policy.instance_types, t)])",
                    self.pools_expr()
                ),
                format!(
                    "Instance types ${{join(\", \", [for t in distinct(flatten([for p in {} : p.instance_types])) : t if !contains(coalesce(local.policy.instance_types, []), t)])}} are not allowed in workspace ${{var.workspace}}, stage ${{var.stage}}: the provisioning policy (${{local.policy.sources.instance_types}}) allows ${{join(\", \", coalesce(local.policy.instance_types, []))}}.",
                    self.pools_expr()
                ),
            );
            push(
                Rule::PolicyTypeNodes,
                v,
                format!("alltrue([for t, max in local.policy.type_max_nodes : sum(concat([0], [for p in {} : p.max_size if contains(p.instance_types, t)])) <= max])", self.pools_expr()),
                "Too many nodes of one instance type for workspace ${var.workspace}, stage ${var.stage} (every pool at its largest size): the provisioning policy (${local.policy.sources.instance_types}) allows at most ${join(\", \", [for t, max in local.policy.type_max_nodes : format(\"%d %s\", max, t)])}.".into(),
            );
            push(
                Rule::PolicyTotalNodes,
                v,
                format!(
                    "local.policy.total_nodes == null ? true : sum(concat([0], [for p in {} : p.max_size])) <= local.policy.total_nodes",
                    self.pools_expr()
                ),
                format!(
                    "The cluster can grow to ${{sum(concat([0], [for p in {} : p.max_size]))}} nodes (every pool at its largest size), more than the ${{coalesce(local.policy.total_nodes, 0)}} the provisioning policy (${{local.policy.sources.total_nodes}}) allows in workspace ${{var.workspace}}, stage ${{var.stage}}.",
                    self.pools_expr()
                ),
            );
            if self.regions().is_some() {
                push(
                    Rule::PolicyCost,
                    v,
                    format!(
                        "var.region == null || local.policy.cost_per_month == null ? true : try({}.total <= local.policy.cost_per_month, false)",
                        self.cost_call(&self.pools_expr())
                    ),
                    format!(
                        "The cluster's estimated monthly cost is ${{try(format(\"%.2f USD\", {}.total), \"unknown (no list price for the region or an instance type)\")}}, over the ${{coalesce(local.policy.cost_per_month, 0)}} USD the provisioning policy (${{local.policy.sources.cost_per_month}}) allows in workspace ${{var.workspace}}, stage ${{var.stage}}.",
                        self.cost_call(&self.pools_expr())
                    ),
                );
            }
        }
        if let Some(sizes) = self.network_sizes() {
            let list = sizes
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            push(
                Rule::NetworkSize,
                "network_size",
                format!("var.network_size == null ? true : contains([{list}], var.network_size)"),
                format!(
                    "Cluster plan {} offers network sizes /{} (got ${{jsonencode(var.network_size)}}).",
                    lit(&self.name),
                    sizes
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", /")
                ),
            );
            if self.allow_cidr() {
                push(
                    Rule::NetworkCidr,
                    "network_cidr",
                    format!(
                        "var.network_cidr == null ? true : can(cidrhost(var.network_cidr, 0)) && contains([{list}], try(tonumber(split(\"/\", var.network_cidr)[1]), 0))"
                    ),
                    format!(
                        "The network must be an IPv4 CIDR of a size cluster plan {} offers (/{}); got ${{jsonencode(var.network_cidr)}}.",
                        lit(&self.name),
                        sizes
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(", /")
                    ),
                );
            }
        }
        push(
            Rule::ReservedLabels,
            "cluster_labels",
            format!(
                "alltrue([for k in keys(var.cluster_labels) : !contains({}, k)])",
                string_list(RESERVED_LABELS)
            ),
            format!(
                "Labels {} are set by Wayfinder and may not be given.",
                RESERVED_LABELS.join(", ")
            ),
        );
        out
    }

    /// The effective node pools for `inputs`: the template's, with the user's replacing those
    /// of the same logical name and added after them (as the model's resolver merges them).
    pub(super) fn effective_pools(&self, inputs: &Inputs) -> (Vec<NodePool>, Vec<PoolOrigin>) {
        let mut pools: Vec<NodePool> = inputs
            .compute_template
            .as_ref()
            .and_then(|t| self.templates.as_ref()?.get(t).cloned())
            .unwrap_or_default();
        let mut origins = vec![PoolOrigin::Template; pools.len()];
        for (j, p) in inputs.node_pools.iter().enumerate() {
            match pools.iter().position(|t| t.logical_name == p.logical_name) {
                Some(i) if origins[i] == PoolOrigin::Template => {
                    pools[i] = p.clone();
                    origins[i] = PoolOrigin::Cluster(j);
                }
                _ => {
                    pools.push(p.clone());
                    origins.push(PoolOrigin::Cluster(j));
                }
            }
        }
        (pools, origins)
    }

    pub(super) fn class_key(&self, inputs: &Inputs) -> String {
        let w = if self.policy_workspaces.contains(&inputs.workspace) {
            inputs.workspace.as_str()
        } else {
            OTHER
        };
        let s = if self.policy_stages.contains(&inputs.stage) {
            inputs.stage.as_str()
        } else {
            OTHER
        };
        format!("{w}/{s}")
    }

    /// The model's policy verdict on `inputs`: the rules it breaks.
    pub(super) fn policy_rules(&self, inputs: &Inputs) -> Vec<PolicyRule> {
        let key = self.class_key(inputs);
        let Some(class) = self.classes.iter().find(|c| c.key == key) else {
            return Vec::new();
        };
        let (pools, origins) = self.effective_pools(inputs);
        let cluster = ResolvedCluster {
            workspace: inputs.workspace.clone(),
            name: inputs.name.clone(),
            stage: inputs.stage.clone(),
            plan: Default::default(),
            provider: self.provider.clone(),
            cloud: self.cloud.to_string(),
            region: inputs.region.clone().unwrap_or_default(),
            node_pools: pools.clone(),
            pool_origins: origins,
            labels: BTreeMap::new(),
        };
        // What provider::wayfinder::monthly_cost prices: each pool's machine, largest size,
        // spot and disk (it is not given EKS's additional spot instance types).
        let priced: Vec<NodePool> = pools
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if let Some(s) = &mut p.spot {
                    s.eks = None;
                }
                p
            })
            .collect();
        let estimate = inputs
            .region
            .as_ref()
            .map(|r| cost::estimate(self.prices, &self.provider, r, &priced));
        let zero = cost::Estimate {
            provider: self.provider.clone(),
            region: String::new(),
            currency: "USD".into(),
            catalog_date: String::new(),
            pools: Vec::new(),
            control_plane_tier: String::new(),
            control_plane_cents: 0,
            total_cents: 0,
        };
        let e = match &estimate {
            Some(Ok(e)) => e.clone(),
            _ => zero,
        };
        // As the server's admission: a missing price is refused only under a cost limit.
        let usage = WorkspaceUsage::default();
        let violations = match &estimate {
            Some(Err(missing)) => check_unpriced(&class.policy, &cluster, missing, &usage),
            _ => check_cluster(&class.policy, &cluster, &e, &usage),
        };
        let mut rules: Vec<PolicyRule> = violations.into_iter().map(|v| v.rule).collect();
        if inputs.region.is_none() {
            rules.retain(|r| !matches!(r, PolicyRule::Region | PolicyRule::ClusterCost));
        }
        rules.dedup();
        rules
    }

    /// Whether `rule` holds for `inputs`, by the model's rules.
    pub(super) fn holds(&self, rule: Rule, inputs: &Inputs, policy: &[PolicyRule]) -> bool {
        let in_list =
            |list: Option<Vec<String>>, v: &str| list.is_none_or(|l| l.iter().any(|x| x == v));
        match rule {
            Rule::NameFormat => is_dns_label(&inputs.name),
            Rule::WorkspaceFormat => is_workspace_key(&inputs.workspace),
            Rule::WorkspaceScope => in_list(self.scope_workspaces(), &inputs.workspace),
            Rule::StageFormat => is_dns_label(&inputs.stage),
            Rule::StageScope => in_list(self.scope_stages(), &inputs.stage),
            Rule::RegionChoice => inputs
                .region
                .as_ref()
                .is_none_or(|r| in_list(self.regions(), r)),
            Rule::PolicyRegion => !policy.contains(&PolicyRule::Region),
            Rule::TemplateChoice => inputs
                .compute_template
                .as_ref()
                .is_none_or(|t| in_list(self.offered_templates(), t)),
            Rule::PoolNamesUnique => {
                let names: BTreeSet<&str> = inputs
                    .node_pools
                    .iter()
                    .map(|p| p.logical_name.as_str())
                    .collect();
                names.len() == inputs.node_pools.len()
            }
            Rule::PoolMachines => inputs
                .node_pools
                .iter()
                .all(|p| in_list(self.allowed_machines(), &p.machine)),
            Rule::PoolMaxSize => inputs.node_pools.iter().all(|p| {
                self.max_pool_size()
                    .is_none_or(|m| cost::largest_size(p) <= m)
            }),
            Rule::PoolsPresent => !self.effective_pools(inputs).0.is_empty(),
            Rule::PolicyInstanceTypes => !policy.contains(&PolicyRule::InstanceType),
            Rule::PolicyTypeNodes => !policy.contains(&PolicyRule::InstanceTypeNodes),
            Rule::PolicyTotalNodes => !policy.contains(&PolicyRule::ClusterNodes),
            Rule::PolicyCost => !policy.contains(&PolicyRule::ClusterCost),
            Rule::NetworkSize => inputs
                .network_size
                .is_none_or(|s| self.network_sizes().is_none_or(|l| l.contains(&s))),
            Rule::NetworkCidr => inputs.network_cidr.as_ref().is_none_or(|c| {
                wayfinder_model::net::Ipv4Net::parse(c).is_ok_and(|n| {
                    self.network_sizes()
                        .is_none_or(|l| l.contains(&i64::from(n.prefix)))
                })
            }),
            Rule::ReservedLabels => inputs
                .cluster_labels
                .keys()
                .all(|k| !RESERVED_LABELS.contains(&k.as_str())),
        }
    }

    /// The checks that fail for `inputs`, and the variables Terraform reports failing, in
    /// the order of `checks`. Terraform evaluates a variable's validations only when every
    /// variable they refer to has passed its own (it does not evaluate what depends on a
    /// failed value), so a failing check of a variable whose validations refer to a failed
    /// variable is not reported.
    pub(super) fn failing(
        &self,
        checks: &[Check],
        inputs: &Inputs,
    ) -> (Vec<Rule>, Vec<&'static str>) {
        let policy = self.policy_rules(inputs);
        let failed: Vec<&Check> = checks
            .iter()
            .filter(|c| !self.holds(c.rule, inputs, &policy))
            .collect();
        let mut vars: Vec<&'static str> = Vec::new();
        for c in checks {
            if !vars.contains(&c.variable) {
                vars.push(c.variable);
            }
        }
        // Variables in dependency order: each after those its validations refer to.
        let deps = |v: &str| -> Vec<&'static str> {
            let mut out: Vec<&'static str> = Vec::new();
            for c in checks.iter().filter(|c| c.variable == v) {
                for d in &c.refers_to {
                    if !out.contains(d) {
                        out.push(d);
                    }
                }
            }
            out
        };
        let mut reported: Vec<&'static str> = Vec::new();
        let mut blocked: Vec<&'static str> = Vec::new();
        let mut settled: Vec<&'static str> = Vec::new();
        while settled.len() < vars.len() {
            let before = settled.len();
            for v in &vars {
                if settled.contains(v) {
                    continue;
                }
                let ds = deps(v);
                if !ds.iter().all(|d| settled.contains(d) || !vars.contains(d)) {
                    continue;
                }
                if ds
                    .iter()
                    .any(|d| reported.contains(d) || blocked.contains(d))
                {
                    blocked.push(v);
                } else if failed.iter().any(|c| c.variable == *v) {
                    reported.push(v);
                }
                settled.push(v);
            }
            assert!(
                settled.len() > before,
                "the module's validations refer to each other in a cycle"
            );
        }
        let rules = failed
            .iter()
            .filter(|c| reported.contains(&c.variable))
            .map(|c| c.rule)
            .collect();
        let order: Vec<&'static str> = vars.into_iter().filter(|v| reported.contains(v)).collect();
        (rules, order)
    }
}

pub(super) fn rule_text(rule: Rule) -> &'static str {
    match rule {
        Rule::NameFormat => "a DNS label",
        Rule::WorkspaceFormat => "a workspace key",
        Rule::WorkspaceScope => "a workspace the plan is available to",
        Rule::StageFormat => "a DNS label",
        Rule::StageScope => "a stage the plan is available in",
        Rule::RegionChoice => "a region the plan offers",
        Rule::PolicyRegion => "a region the provisioning policy allows",
        Rule::TemplateChoice => "a compute template the plan offers",
        Rule::PoolNamesUnique => "logical names unique",
        Rule::PoolMachines => "machines the plan offers",
        Rule::PoolMaxSize => "pools no larger than the plan allows",
        Rule::PoolsPresent => "at least one node pool",
        Rule::PolicyInstanceTypes => "instance types the provisioning policy allows",
        Rule::PolicyTypeNodes => "nodes per instance type within the provisioning policy",
        Rule::PolicyTotalNodes => "total nodes within the provisioning policy",
        Rule::PolicyCost => {
            "estimated monthly cost (provider::wayfinder::monthly_cost) within the provisioning policy's ceiling"
        }
        Rule::NetworkSize => "a network size the plan offers",
        Rule::NetworkCidr => "a CIDR of a size the plan offers",
        Rule::ReservedLabels => "none of Wayfinder's own labels",
    }
}

/// The module's variables an expression refers to: `var.NAME`, and `workspace` and `stage`
/// through `local.policy`.
pub(super) fn references(expr: &str) -> Vec<&'static str> {
    const VARS: &[&str] = &[
        "name",
        "workspace",
        "stage",
        "region",
        "compute_template",
        "node_pools",
        "network_size",
        "network_cidr",
        "cloud_access_ref",
        "cluster_labels",
        "description",
    ];
    let mut out: Vec<&'static str> = VARS
        .iter()
        .copied()
        .filter(|v| {
            let needle = format!("var.{v}");
            expr.match_indices(&needle).any(|(i, _)| {
                !expr[i + needle.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
        })
        .collect();
    if expr.contains("local.policy") {
        for v in ["workspace", "stage"] {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// `can(regex(…))` for a DNS label.
pub(super) fn dns_label_condition(value: &str) -> String {
    format!("can(regex(\"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$\", {value})) && length({value}) <= 63")
}

/// The most nodes pool `p` can have (the model's `largest_size`).
pub(super) fn largest_size_hcl(p: &str) -> String {
    format!(
        "max(0, try({p}.autoscaling.enabled, null) == true ? coalesce(try({p}.autoscaling.max_size, null), {p}.size, 0) : coalesce({p}.size, 0))"
    )
}

pub(super) fn spot_hcl(p: &str) -> String {
    format!("try({p}.spot.enabled, null) == true")
}

/// Text from definitions inside an error message template: `${` and `%{` escaped.
pub(super) fn lit(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_variables_and_what_the_policy_local_depends_on() {
        assert_eq!(
            references(
                "var.region == null ? true : contains(local.policy.allowed_regions, var.region)"
            ),
            ["region", "workspace", "stage"]
        );
        // `var.name` inside `var.name_suffix` is not a reference to `name`.
        assert_eq!(references("var.name_suffix == var.stage"), ["stage"]);
        assert_eq!(references("length(var.node_pools) > 0"), ["node_pools"]);
        assert!(references("true").is_empty());
    }
}
