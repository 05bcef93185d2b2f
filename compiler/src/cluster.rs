//! Self-service modules (`OUT/clusters/<plan>/`): one per cluster plan, creating one
//! `wayfinder_cluster` from the plan's latest published version. Its variables are exactly
//! what a workspace user may choose for that plan; their `validation` blocks come from the
//! plan's choices and scope and from the provisioning policies among the definitions, so a bad
//! choice fails at `terraform validate`/`plan` with a message a user understands.
//!
//! Every check exists twice: as the HCL condition the module carries, and as a predicate
//! here that asks the model (its effective policy, its policy checks, its cost estimate). The
//! module's tests are generated from the predicates — a valid input, and for each check an
//! input that breaks it, expecting exactly the variables whose checks the model says fail —
//! so `terraform test` proves the HCL and the model agree.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use wayfinder_model::common::cloud_for_provider;
use wayfinder_model::compute::{Autoscaling, MAX_POOL_NODES, NODE_POOL_SHAPE, NodePool};
use wayfinder_model::cost::{self, Catalog as Prices};
use wayfinder_model::kinds::Object;
use wayfinder_model::plan::{ClusterPlanSpec, PlanChoices};
use wayfinder_model::policy::{EffectivePolicy, Rule as PolicyRule, ScopeTier, check_cluster};
use wayfinder_model::resolve::RESERVED_LABELS;
use wayfinder_model::resolved::{PoolOrigin, ResolvedCluster};
use wayfinder_model::validate::{is_dns_label, is_workspace_key};
use wayfinder_model::versioned::{PublishState, compare_versions, publish_state};
use wayfinder_model::{FieldPath, ProvisioningPolicy, WorkspaceUsage, effective_policy};

use crate::catalog::{Catalog, Entry, string_list};
use crate::diagnostic::Diagnostic;
use crate::hcl::{Block, Body, Expr, File, ObjectKey, quote};
use crate::module::{self, Output, Readme, Variable};
use crate::shapes;

/// `required_version` of a self-service module, and why.
pub const CLUSTER_TERRAFORM: &str = ">= 1.9.0";
const CLUSTER_TERRAFORM_WHY: &str = "Terraform 1.9 or later: the cost ceiling calls provider::wayfinder::monthly_cost (provider functions need 1.8), and validation conditions refer to other variables and locals (1.9).";

/// The workspace and stage used as "any other" when working out which policies apply.
const OTHER: &str = "*";

/// Every self-service module, by path under `clusters/`.
pub fn emit_all(
    catalog: &Catalog,
    generated_from: &[String],
    provider_version: &str,
) -> (Vec<(String, String)>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    let mut names: Vec<&str> = catalog
        .of_kind("ClusterPlan")
        .map(|e| e.name.as_str())
        .collect();
    names.dedup();
    for name in names {
        let versions: Vec<(usize, &Entry)> = catalog
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.info.kind == "ClusterPlan" && e.name == name)
            .collect();
        // The latest published version; the latest of all when none is published.
        let published: Vec<&(usize, &Entry)> = versions
            .iter()
            .filter(|(_, e)| publish_state(e.def.object.metadata()) == Ok(PublishState::Published))
            .collect();
        let &(index, entry) = published
            .iter()
            .copied()
            .max_by(|a, b| {
                compare_versions(
                    a.1.version.as_deref().unwrap_or(""),
                    b.1.version.as_deref().unwrap_or(""),
                )
            })
            .or_else(|| versions.last())
            .expect("at least one version");
        let Object::ClusterPlan(plan) = &entry.def.object else {
            continue;
        };
        let Some(plan) = Plan::new(catalog, index, entry, &plan.spec, &mut diagnostics) else {
            continue;
        };
        for (path, text) in plan.emit(generated_from, provider_version, &mut diagnostics) {
            files.push((format!("{name}/{path}"), text));
        }
    }
    (files, diagnostics)
}

/// What a user chooses: the module's inputs, as the predicates see them.
#[derive(Debug, Clone, PartialEq)]
struct Inputs {
    name: String,
    workspace: String,
    stage: String,
    region: Option<String>,
    compute_template: Option<String>,
    node_pools: Vec<NodePool>,
    network_size: Option<i64>,
    network_cidr: Option<String>,
    cluster_labels: BTreeMap<String, String>,
}

/// What a check is about; the predicate for each is [`Plan::holds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
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
    fn run_name(self) -> &'static str {
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
struct Check {
    rule: Rule,
    variable: &'static str,
    condition: String,
    message: String,
}

/// One effective policy, as the module's `local.policies` holds it.
#[derive(Debug, Clone)]
struct PolicyClass {
    key: String,
    policy: EffectivePolicy,
}

struct Plan<'c> {
    catalog: &'c Catalog<'c>,
    index: usize,
    name: String,
    version: String,
    provider: String,
    cloud: &'static str,
    spec: ClusterPlanSpec,
    choices: PlanChoices,
    /// The node pools of every compute template the plan offers; `None` when some are not
    /// among the definitions (the pool checks are then left to the server).
    templates: Option<BTreeMap<String, Vec<NodePool>>>,
    missing_templates: Vec<String>,
    /// Provisioning policies of the plan's cloud.
    policies: Vec<ProvisioningPolicy>,
    /// Workspaces and stages the policies name, which tell policy classes apart.
    policy_workspaces: Vec<String>,
    policy_stages: Vec<String>,
    classes: Vec<PolicyClass>,
    prices: &'static Prices,
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl<'c> Plan<'c> {
    fn new(
        catalog: &'c Catalog<'c>,
        index: usize,
        entry: &Entry,
        spec: &ClusterPlanSpec,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Self> {
        let cloud = cloud_for_provider(&spec.provider)?;
        let choices = spec.choices.as_deref().cloned().unwrap_or_default();
        let offered: Vec<String> = choices
            .compute_templates
            .as_ref()
            .map(|c| sorted_unique(c.permitted().iter().map(|s| s.to_string()).collect()))
            .unwrap_or_default();
        let mut templates = BTreeMap::new();
        let mut missing = Vec::new();
        for t in &offered {
            match catalog
                .find("ComputeTemplate", t, None)
                .map(|i| &catalog.entries[i].def.object)
            {
                Some(Object::ComputeTemplate(ct)) => {
                    templates.insert(t.clone(), ct.spec.node_pools.clone());
                }
                _ => missing.push(t.clone()),
            }
        }
        let policies: Vec<ProvisioningPolicy> = catalog
            .of_kind("ProvisioningPolicy")
            .filter_map(|e| match &e.def.object {
                Object::ProvisioningPolicy(p) if p.spec.cloud.eq_ignore_ascii_case(cloud) => {
                    Some(p.clone())
                }
                _ => None,
            })
            .collect();
        let policy_workspaces = sorted_unique(
            policies
                .iter()
                .filter_map(|p| p.spec.scope.as_ref())
                .filter(|s| !s.covers_all_workspaces())
                .flat_map(|s| s.allowed_workspaces.iter().flatten().cloned())
                .collect(),
        );
        let policy_stages = sorted_unique(
            policies
                .iter()
                .filter_map(|p| p.spec.scope.as_ref())
                .filter(|s| !s.covers_all_stages())
                .flat_map(|s| s.allowed_stages.iter().flatten().cloned())
                .collect(),
        );
        let mut classes = Vec::new();
        if !policies.is_empty() {
            for w in policy_workspaces.iter().map(String::as_str).chain([OTHER]) {
                for s in policy_stages.iter().map(String::as_str).chain([OTHER]) {
                    classes.push(PolicyClass {
                        key: format!("{w}/{s}"),
                        policy: effective_policy(&policies, w, s, cloud),
                    });
                }
            }
        }
        let has_pools_choice = choices
            .node_pools
            .as_ref()
            .is_some_and(|n| n.allow_override == Some(true));
        let has_default_template = choices
            .compute_templates
            .as_ref()
            .is_some_and(|c| c.default.is_some());
        if !has_pools_choice && !has_default_template {
            diagnostics.push(catalog.at(
                index,
                &FieldPath::root().field("spec").field("choices"),
                "clusters built from this plan would have no node pools: give choices.computeTemplates a default, or allow node-pool overrides (choices.nodePools.allowOverride: true)".to_string(),
            ));
            return None;
        }
        if !missing.is_empty() {
            diagnostics.push(
                catalog
                    .at(
                        index,
                        &FieldPath::root().field("spec").field("choices").field("computeTemplates"),
                        format!(
                            "compute templates {} are not among the definitions: the self-service module cannot check node pools, instance types, node counts or cost against the provisioning policies before plan; the server still does when the cluster is planned",
                            missing.join(", ")
                        ),
                    )
                    .notice(),
            );
        }
        Some(Plan {
            catalog,
            index,
            name: entry.name.clone(),
            version: entry.version.clone().unwrap_or_default(),
            provider: spec.provider.clone(),
            cloud,
            spec: spec.clone(),
            choices,
            templates: missing.is_empty().then_some(templates),
            missing_templates: missing,
            policies,
            policy_workspaces,
            policy_stages,
            classes,
            prices: Prices::builtin(),
        })
    }

    // -----------------------------------------------------------------------------------
    // What the module offers

    fn scope_workspaces(&self) -> Option<Vec<String>> {
        self.spec
            .scope
            .as_ref()
            .filter(|s| !s.covers_all_workspaces())
            .map(|s| s.allowed_workspaces.clone().unwrap_or_default())
    }

    fn scope_stages(&self) -> Option<Vec<String>> {
        self.spec
            .scope
            .as_ref()
            .filter(|s| !s.covers_all_stages())
            .map(|s| s.allowed_stages.clone().unwrap_or_default())
    }

    fn regions(&self) -> Option<Vec<String>> {
        self.choices
            .regions
            .as_ref()
            .map(|c| c.permitted().iter().map(|s| s.to_string()).collect())
    }

    fn offered_templates(&self) -> Option<Vec<String>> {
        self.choices
            .compute_templates
            .as_ref()
            .map(|c| c.permitted().iter().map(|s| s.to_string()).collect())
    }

    fn pools_choice(&self) -> bool {
        self.choices
            .node_pools
            .as_ref()
            .is_some_and(|n| n.allow_override == Some(true))
    }

    fn allowed_machines(&self) -> Option<Vec<String>> {
        self.choices
            .node_pools
            .as_ref()
            .and_then(|n| n.allowed_machines.clone())
            .filter(|m| !m.is_empty())
    }

    fn max_pool_size(&self) -> Option<i64> {
        self.choices.node_pools.as_ref().and_then(|n| n.max_size)
    }

    fn network_sizes(&self) -> Option<Vec<i64>> {
        self.choices.network.as_ref().map(|n| n.permitted())
    }

    fn allow_cidr(&self) -> bool {
        self.choices
            .network
            .as_ref()
            .is_some_and(|n| n.allow_cidr == Some(true))
    }

    /// Whether the module can work out the effective node pools (every template offered is
    /// known, or none is offered).
    fn pools_known(&self) -> bool {
        self.templates.is_some()
    }

    /// Whether the policy checks on pools are in the module.
    fn pool_policies(&self) -> bool {
        self.pools_known() && !self.policies.is_empty()
    }

    /// The variable the pool checks hang on: what the user changes to fix them.
    fn pools_variable(&self) -> &'static str {
        if self.pools_choice() {
            "node_pools"
        } else if self.offered_templates().is_some() {
            "compute_template"
        } else {
            "stage"
        }
    }

    fn default_disk(&self) -> i64 {
        self.prices
            .providers
            .get(&self.provider)
            .map_or(0, |p| p.default_disk_gb)
    }

    // -----------------------------------------------------------------------------------
    // The checks, in HCL

    fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut push = |rule, variable, condition: String, message: String| {
            out.push(Check {
                rule,
                variable,
                condition,
                message,
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
            "can(regex(\"^[a-z][a-z0-9]{1,4}$\", var.workspace))".into(),
            "The workspace is a workspace key: 2 to 5 lower-case letters or digits, starting with a letter (got ${jsonencode(var.workspace)}).".into(),
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
                format!(
                    "Cluster plan {} offers regions {} (got ${{jsonencode(var.region)}}).",
                    lit(&self.name),
                    lit(&regions.join(", "))
                ),
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

    // -----------------------------------------------------------------------------------
    // The checks, asked of the model

    /// The effective node pools for `inputs`: the template's, with the user's replacing those
    /// of the same logical name and added after them (as the model's resolver merges them).
    fn effective_pools(&self, inputs: &Inputs) -> (Vec<NodePool>, Vec<PoolOrigin>) {
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

    fn class_key(&self, inputs: &Inputs) -> String {
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
    fn policy_rules(&self, inputs: &Inputs) -> Vec<PolicyRule> {
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
        let mut rules: Vec<PolicyRule> =
            check_cluster(&class.policy, &cluster, &e, &WorkspaceUsage::default())
                .into_iter()
                .map(|v| v.rule)
                .collect();
        if inputs.region.is_none() {
            rules.retain(|r| !matches!(r, PolicyRule::Region | PolicyRule::ClusterCost));
        }
        if matches!(estimate, Some(Err(_))) && class.policy.per_cluster.cost_per_month.is_some() {
            rules.push(PolicyRule::ClusterCost);
        }
        rules
    }

    /// Whether `rule` holds for `inputs`, by the model's rules.
    fn holds(&self, rule: Rule, inputs: &Inputs, policy: &[PolicyRule]) -> bool {
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
    /// the order of `checks` (whose variables and their references are `deps`, from
    /// [`var_deps`]). Terraform evaluates a variable's validations only when every
    /// variable they refer to has passed its own (it does not evaluate what depends on a
    /// failed value), so a failing check of a variable whose validations refer to a failed
    /// variable is not reported.
    fn failing(
        &self,
        checks: &[Check],
        deps: &VarDeps,
        inputs: &Inputs,
    ) -> (Vec<Rule>, Vec<&'static str>) {
        let policy = self.policy_rules(inputs);
        let failed: Vec<&Check> = checks
            .iter()
            .filter(|c| !self.holds(c.rule, inputs, &policy))
            .collect();
        let vars: Vec<&'static str> = deps.iter().map(|(v, _)| *v).collect();
        let deps = |v: &str| -> &[&'static str] {
            deps.iter()
                .find(|(d, _)| *d == v)
                .map_or(&[], |(_, ds)| ds.as_slice())
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

    // -----------------------------------------------------------------------------------
    // Inputs for the tests

    fn defaults(&self) -> Inputs {
        Inputs {
            name: "example".into(),
            workspace: String::new(),
            stage: String::new(),
            region: self
                .choices
                .regions
                .as_ref()
                .and_then(|c| c.default.clone()),
            compute_template: self
                .choices
                .compute_templates
                .as_ref()
                .and_then(|c| c.default.clone()),
            node_pools: Vec::new(),
            network_size: self.choices.network.as_ref().and_then(|n| n.default_size),
            network_cidr: None,
            cluster_labels: BTreeMap::new(),
        }
    }

    /// Workspaces worth trying: the plan's, the policies', and one no policy names.
    fn workspace_candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.scope_workspaces().unwrap_or_default();
        out.extend(self.policy_workspaces.iter().cloned());
        out.extend(["team1", "wsa", "wsb"].map(String::from));
        let mut seen = BTreeSet::new();
        out.retain(|w| seen.insert(w.clone()));
        out
    }

    fn stage_candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.scope_stages().unwrap_or_default();
        out.extend(self.policy_stages.iter().cloned());
        out.extend(["nonprod", "prod", "other-stage"].map(String::from));
        let mut seen = BTreeSet::new();
        out.retain(|w| seen.insert(w.clone()));
        out
    }

    /// A valid input: the defaults, in the first workspace and stage where every check holds.
    fn valid(&self, checks: &[Check], deps: &VarDeps) -> Option<Inputs> {
        for w in self.workspace_candidates() {
            for s in self.stage_candidates() {
                let mut i = self.defaults();
                i.workspace = w.clone();
                i.stage = s.clone();
                if self.failing(checks, deps, &i).0.is_empty() {
                    return Some(i);
                }
            }
        }
        None
    }

    fn pool(&self, name: &str, machine: &str, size: i64) -> NodePool {
        NodePool {
            logical_name: name.to_string(),
            machine: machine.to_string(),
            size: Some(size),
            ..Default::default()
        }
    }

    /// Inputs that differ from `valid` in one variable, to look for one that breaks a check.
    fn variations(&self, valid: &Inputs) -> Vec<Inputs> {
        let mut out = Vec::new();
        let mut with = |f: &dyn Fn(&mut Inputs)| {
            let mut i = valid.clone();
            f(&mut i);
            if i != *valid {
                out.push(i);
            }
        };
        with(&|i| i.name = "Not_A_Name".into());
        for w in self
            .workspace_candidates()
            .into_iter()
            .chain(["Not_A_Key".to_string()])
        {
            with(&|i| i.workspace = w.clone());
        }
        for s in self
            .stage_candidates()
            .into_iter()
            .chain(["Not_A_Stage".to_string()])
        {
            with(&|i| i.stage = s.clone());
        }
        let priced_regions: Vec<String> = self
            .prices
            .providers
            .get(&self.provider)
            .map(|p| p.regions.keys().cloned().collect())
            .unwrap_or_default();
        if self.regions().is_some() {
            let mut regions = self.regions().unwrap_or_default();
            regions.extend(priced_regions.iter().cloned());
            for p in &self.policies {
                regions.extend(p.spec.allowed_regions.iter().flatten().cloned());
            }
            regions.push("xx-nowhere-1".into());
            for r in sorted_unique(regions) {
                with(&|i| i.region = Some(r.clone()));
            }
        }
        if let Some(t) = self.offered_templates() {
            for t in t.into_iter().chain(["no-such-template".to_string()]) {
                with(&|i| i.compute_template = Some(t.clone()));
            }
        }
        if self.pools_choice() {
            let region = valid
                .region
                .clone()
                .or_else(|| priced_regions.first().cloned());
            let priced: Vec<String> = region
                .as_ref()
                .and_then(|r| self.prices.providers.get(&self.provider)?.regions.get(r))
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            let mut machines: Vec<String> = self.allowed_machines().unwrap_or_default();
            for p in &self.policies {
                for l in [p
                    .spec
                    .cluster_limits
                    .as_ref()
                    .and_then(|c| c.per_cluster.as_ref())]
                .into_iter()
                .flatten()
                {
                    machines.extend(
                        l.allowed_instance_types
                            .iter()
                            .flatten()
                            .map(|t| t.instance_type.clone()),
                    );
                }
            }
            for pools in self.templates.iter().flat_map(|t| t.values()) {
                machines.extend(pools.iter().map(|p| p.machine.clone()));
            }
            machines.extend(priced.iter().cloned());
            machines.push("x1.unpriced".into());
            let machines = sorted_unique(machines);
            let mut sizes: Vec<i64> = vec![1];
            if let Some(m) = self.max_pool_size() {
                sizes.push(m + 1);
            }
            for c in &self.classes {
                let l = &c.policy.per_cluster;
                if let Some(t) = &l.total_nodes {
                    sizes.push(t.value + 1);
                }
                if let Some(a) = &l.allowed_instance_types {
                    sizes.extend(a.types.values().flatten().map(|m| m.value + 1));
                }
            }
            sizes.push(MAX_POOL_NODES);
            let sizes: Vec<i64> = sizes
                .into_iter()
                .filter(|s| (1..=MAX_POOL_NODES).contains(s))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for m in &machines {
                for s in &sizes {
                    let pool = self.pool("extra", m, *s);
                    with(&|i| i.node_pools = vec![pool.clone()]);
                }
            }
            let base = machines
                .first()
                .cloned()
                .unwrap_or_else(|| "x1.unpriced".into());
            let pool = self.pool(
                "extra",
                self.allowed_machines()
                    .and_then(|m| m.first().cloned())
                    .as_deref()
                    .unwrap_or(&base),
                1,
            );
            with(&|i| i.node_pools = vec![pool.clone(), pool.clone()]);
            // Autoscaling counts its maximum.
            if let Some(m) = self.max_pool_size() {
                let mut p = pool.clone();
                p.autoscaling = Some(Autoscaling {
                    enabled: Some(true),
                    min_size: Some(1),
                    max_size: Some((m + 1).min(MAX_POOL_NODES)),
                });
                with(&|i| i.node_pools = vec![p.clone()]);
            }
        }
        if let Some(sizes) = self.network_sizes() {
            for s in 16..=24 {
                with(&|i| i.network_size = Some(s));
            }
            if self.allow_cidr() {
                for s in 16..=24 {
                    with(&|i| i.network_cidr = Some(format!("10.16.0.0/{s}")));
                }
            }
            let _ = sizes;
        }
        with(&|i| {
            i.cluster_labels
                .insert("appvia.io/stage".into(), "prod".into());
        });
        out
    }

    // -----------------------------------------------------------------------------------
    // The module

    fn variables(&self, checks: &[Check]) -> Vec<Variable> {
        let of =
            |name: &str| -> Vec<&Check> { checks.iter().filter(|c| c.variable == name).collect() };
        let with_checks = |mut v: Variable, name: &str| {
            for c in of(name) {
                v = v.validate(&c.condition, &c.message);
            }
            v
        };
        let mut vars = Vec::new();
        vars.push(with_checks(
            Variable::new(
                "name",
                "The cluster's name: lower-case letters, digits and '-', at most 63 characters.",
                Expr::raw("string"),
            ),
            "name",
        ));
        vars.push(with_checks(
            Variable::new(
                "workspace",
                match self.scope_workspaces() {
                    Some(ws) => format!("The workspace the cluster belongs to (its key); the plan is available to {}.", ws.join(", ")),
                    None => "The workspace the cluster belongs to (its key).".to_string(),
                },
                Expr::raw("string"),
            )
            .not_null(),
            "workspace",
        ));
        let stages = self.scope_stages();
        let mut stage = Variable::new(
            "stage",
            match &stages {
                Some(s) => format!("The stage, which scopes the plan, cloud access and policies; the plan is available in {}.", s.join(", ")),
                None => "The stage, such as nonprod or prod; it scopes the plan, cloud access and policies.".to_string(),
            },
            Expr::raw("string"),
        )
        .not_null();
        if let Some([only]) = stages.as_deref() {
            stage = stage.default(Expr::string(only));
        }
        vars.push(with_checks(stage, "stage"));
        if let Some(regions) = self.regions() {
            let c = self.choices.regions.as_ref();
            vars.push(with_checks(
                Variable::new(
                    "region",
                    format!(
                        "The cloud region: one of {}.{}",
                        regions.join(", "),
                        if c.and_then(|c| c.default.as_ref()).is_none() {
                            " When null, the cloud access's default region."
                        } else {
                            ""
                        }
                    ),
                    Expr::raw("string"),
                )
                .default(opt_string(c.and_then(|c| c.default.as_deref()))),
                "region",
            ));
        }
        if let Some(templates) = self.offered_templates() {
            let c = self.choices.compute_templates.as_ref();
            vars.push(with_checks(
                Variable::new(
                    "compute_template",
                    format!(
                        "The compute template the node pools start from: one of {}.{}",
                        templates.join(", "),
                        if c.and_then(|c| c.default.as_ref()).is_none() {
                            " When null, node_pools are the cluster's only pools."
                        } else {
                            ""
                        }
                    ),
                    Expr::raw("string"),
                )
                .default(opt_string(c.and_then(|c| c.default.as_deref()))),
                "compute_template",
            ));
        }
        if self.pools_choice() {
            let mut limits = Vec::new();
            if let Some(m) = self.allowed_machines() {
                limits.push(format!("machines {}", m.join(", ")));
            }
            if let Some(m) = self.max_pool_size() {
                limits.push(format!("at most {m} nodes per pool"));
            }
            vars.push(with_checks(
                Variable::new(
                    "node_pools",
                    format!(
                        "Node pools that replace the compute template's pool of the same logical_name, or are added to them{}.",
                        if limits.is_empty() { String::new() } else { format!(" ({})", limits.join("; ")) }
                    ),
                    shapes::type_of(wayfinder_model::shape::FieldType::ObjectList(NODE_POOL_SHAPE)),
                )
                .default(Expr::Tuple(Vec::new()))
                .not_null(),
                "node_pools",
            ));
        }
        if let Some(sizes) = self.network_sizes() {
            let list = sizes
                .iter()
                .map(|s| format!("/{s}"))
                .collect::<Vec<_>>()
                .join(", ");
            let d = self.choices.network.as_ref().and_then(|n| n.default_size);
            vars.push(with_checks(
                Variable::new(
                    "network_size",
                    format!(
                        "The network's prefix length, allocated from the stage's assignable networks: one of {list}.{}",
                        if d.is_none() { " When null, the network plan's node range." } else { "" }
                    ),
                    Expr::raw("number"),
                )
                .default(d.map_or(Expr::Null, Expr::int)),
                "network_size",
            ));
            if self.allow_cidr() {
                vars.push(with_checks(
                    Variable::new(
                        "network_cidr",
                        format!("An explicit IPv4 range for the network instead of network_size, of a size the plan offers ({list})."),
                        Expr::raw("string"),
                    )
                    .default(Expr::Null),
                    "network_cidr",
                ));
            }
        }
        vars.push(
            Variable::new(
                "cloud_access_ref",
                "The cloud access to provision with, and the workspace holding it (`admin` for the platform's). When null, the one in scope for the workspace and stage.",
                Expr::Wrapped {
                    prefix: "object(".into(),
                    items: vec![
                        (ObjectKey::Attribute("name".into()), Expr::raw("string")),
                        (ObjectKey::Attribute("workspace".into()), Expr::raw("optional(string)")),
                    ],
                    suffix: ")".into(),
                },
            )
            .default(Expr::Null),
        );
        vars.push(with_checks(
            Variable::new(
                "cluster_labels",
                "Labels on the cluster (Wayfinder's own appvia.io/ labels are set for you).",
                Expr::raw("map(string)"),
            )
            .default(Expr::Object(Vec::new()))
            .not_null(),
            "cluster_labels",
        ));
        vars.push(
            Variable::new(
                "description",
                "What the cluster is for.",
                Expr::raw("string"),
            )
            .default(Expr::Null),
        );
        vars
    }

    fn locals(&self) -> Option<Block> {
        let mut body = Body::new();
        if !self.policies.is_empty() {
            body.comment(format!(
                "The provisioning policies for {} in force for the workspace and stage, by Wayfinder's precedence (the most specific scope wins), worked out by wayfinder-compile for each combination the policies tell apart; \"{OTHER}\" is any other.",
                self.cloud
            ));
            body.attribute(
                "policy_workspace",
                Expr::raw(format!(
                    "contains({}, var.workspace) ? var.workspace : \"{OTHER}\"",
                    string_list(&self.policy_workspaces)
                )),
            )
            .attribute(
                "policy_stage",
                Expr::raw(format!(
                    "contains({}, var.stage) ? var.stage : \"{OTHER}\"",
                    string_list(&self.policy_stages)
                )),
            )
            .attribute(
                "policy",
                Expr::raw("local.policies[\"${local.policy_workspace}/${local.policy_stage}\"]"),
            )
            .attribute(
                "policies",
                Expr::Object(
                    self.classes
                        .iter()
                        .map(|c| (ObjectKey::Map(c.key.clone()), policy_value(&c.policy)))
                        .collect(),
                ),
            );
        }
        if let Some(templates) = &self.templates {
            body.comment("The compute templates the plan offers, with what the checks need of each pool: its instance types and its largest size.");
            body.attribute(
                "template_pools",
                Expr::Object(
                    templates
                        .iter()
                        .map(|(name, pools)| {
                            (
                                ObjectKey::Map(name.clone()),
                                Expr::Tuple(pools.iter().map(|p| self.pool_value(p)).collect()),
                            )
                        })
                        .collect(),
                ),
            );
        }
        (!body.is_empty()).then(|| Block::new("locals", &[], body))
    }

    /// The effective node pools as an expression that names the variable the pool checks hang
    /// on: the template's pools, less those the user's pools replace, then the user's, each
    /// with what the checks need (its instance types and largest size). Spelled out in every
    /// check: a variable's condition must name the variable, and may not go through a local
    /// that does (Terraform sees a cycle).
    fn pools_expr(&self) -> String {
        let template = if self.offered_templates().is_some() {
            "try(local.template_pools[var.compute_template], [])"
        } else {
            "[]"
        };
        if self.pools_choice() {
            format!(
                "concat([for p in {template} : p if !contains(var.node_pools[*].logical_name, p.logical_name)], [for p in var.node_pools : {{ logical_name = p.logical_name, machine = p.machine, max_size = {}, spot = {}, disk_size = coalesce(p.disk_size, {}), instance_types = distinct(concat([p.machine], {} ? coalesce(try(p.spot.eks.additional_instance_types, null), []) : [])) }}])",
                largest_size_hcl("p"),
                spot_hcl("p"),
                self.default_disk(),
                spot_hcl("p"),
            )
        } else {
            template.to_string()
        }
    }

    /// `provider::wayfinder::monthly_cost(…)` over `pools` in `var.region`.
    fn cost_call(&self, pools: &str) -> String {
        format!(
            "provider::wayfinder::monthly_cost({}, var.region, [for i, p in {pools} : {{ name = format(\"%d-%s\", i, p.logical_name), machine = p.machine, max_size = p.max_size, spot = p.spot, disk_size = p.disk_size }}])",
            quote(&self.provider)
        )
    }

    /// A template pool as the checks see it.
    fn pool_value(&self, p: &NodePool) -> Expr {
        let types: Vec<String> = {
            let mut t: Vec<String> = Vec::new();
            for (_, x) in cost::pool_instance_types(p) {
                if !t.iter().any(|y| y == x) {
                    t.push(x.to_string());
                }
            }
            t
        };
        Expr::Object(vec![
            (
                ObjectKey::Attribute("logical_name".into()),
                Expr::string(&p.logical_name),
            ),
            (
                ObjectKey::Attribute("machine".into()),
                Expr::string(&p.machine),
            ),
            (
                ObjectKey::Attribute("max_size".into()),
                Expr::int(cost::largest_size(p)),
            ),
            (
                ObjectKey::Attribute("spot".into()),
                Expr::Bool(cost::is_spot(p)),
            ),
            (
                ObjectKey::Attribute("disk_size".into()),
                Expr::int(p.disk_size.unwrap_or(self.default_disk())),
            ),
            (
                ObjectKey::Attribute("instance_types".into()),
                Expr::Tuple(types.iter().map(Expr::string).collect()),
            ),
        ])
    }

    fn resource(&self) -> Block {
        let mut body = Body::new();
        body.attribute("name", Expr::raw("var.name"))
            .attribute("workspace", Expr::raw("var.workspace"))
            .attribute("description", Expr::raw("var.description"))
            .attribute("stage", Expr::raw("var.stage"));
        if self.regions().is_some() {
            body.attribute("region", Expr::raw("var.region"));
        }
        if self.offered_templates().is_some() {
            body.attribute("compute_template", Expr::raw("var.compute_template"));
        }
        body.attribute(
            "cluster_labels",
            Expr::raw("length(var.cluster_labels) == 0 ? null : var.cluster_labels"),
        );
        let mut plan = Body::new();
        plan.attribute("name", Expr::string(&self.name))
            .attribute("version", Expr::string(&self.version));
        body.block(Block::new("plan", &[], plan));
        let mut car = Body::new();
        car.attribute(
            "for_each",
            Expr::raw("var.cloud_access_ref == null ? [] : [var.cloud_access_ref]"),
        );
        let mut content = Body::new();
        content
            .attribute("name", Expr::raw("cloud_access_ref.value.name"))
            .attribute("workspace", Expr::raw("cloud_access_ref.value.workspace"));
        car.block(Block::new("content", &[], content));
        body.block(Block::new("dynamic", &["cloud_access_ref"], car));
        if self.pools_choice() {
            body.block(shapes::dynamic_block(
                "node_pools",
                "var.node_pools",
                NODE_POOL_SHAPE,
            ));
        }
        if self.network_sizes().is_some() {
            let mut n = Body::new();
            let (for_each, size) = if self.allow_cidr() {
                (
                    "var.network_size == null && var.network_cidr == null ? [] : [1]",
                    "var.network_cidr == null ? var.network_size : null",
                )
            } else {
                ("var.network_size == null ? [] : [1]", "var.network_size")
            };
            n.attribute("for_each", Expr::raw(for_each));
            let mut content = Body::new();
            content.attribute("size", Expr::raw(size));
            if self.allow_cidr() {
                content.attribute("cidr", Expr::raw("var.network_cidr"));
            }
            n.block(Block::new("content", &[], content));
            body.block(Block::new("dynamic", &["network"], n));
        }
        Block::new("resource", &["wayfinder_cluster", "this"], body)
    }

    fn outputs(&self) -> Vec<Output> {
        vec![
            Output::new(
                "id",
                "The cluster's ID.",
                Expr::raw("wayfinder_cluster.this.id"),
            ),
            Output::new(
                "endpoint",
                "The cluster's Kubernetes API endpoint, once it is built.",
                Expr::raw("wayfinder_cluster.this.endpoint"),
            ),
            Output::new(
                "status",
                "The cluster's status: Pending, Creating, Success, Failure, …",
                Expr::raw("wayfinder_cluster.this.status"),
            ),
            Output::new(
                "estimated_monthly_cost",
                "The estimated monthly cost from list prices: total, currency and per node pool.",
                Expr::raw("wayfinder_cluster.this.estimated_monthly_cost"),
            ),
        ]
    }

    /// The variables of `inputs` that differ from the module's defaults, as HCL values.
    fn input_values(&self, inputs: &Inputs, base: &Inputs, all: bool) -> Vec<(&'static str, Expr)> {
        let mut out = Vec::new();
        let opt = |v: &Option<String>| v.as_deref().map_or(Expr::Null, Expr::string);
        if all || inputs.name != base.name {
            out.push(("name", Expr::string(&inputs.name)));
        }
        if all || inputs.workspace != base.workspace {
            out.push(("workspace", Expr::string(&inputs.workspace)));
        }
        if all || inputs.stage != base.stage {
            out.push(("stage", Expr::string(&inputs.stage)));
        }
        if inputs.region != base.region {
            out.push(("region", opt(&inputs.region)));
        }
        if inputs.compute_template != base.compute_template {
            out.push(("compute_template", opt(&inputs.compute_template)));
        }
        if inputs.node_pools != base.node_pools {
            out.push((
                "node_pools",
                Expr::Tuple(
                    inputs
                        .node_pools
                        .iter()
                        .map(|p| match serde_json::to_value(p) {
                            Ok(Value::Object(m)) => shapes::object_value(NODE_POOL_SHAPE, &m),
                            _ => Expr::Null,
                        })
                        .collect(),
                ),
            ));
        }
        if inputs.network_size != base.network_size {
            out.push((
                "network_size",
                inputs.network_size.map_or(Expr::Null, Expr::int),
            ));
        }
        if inputs.network_cidr != base.network_cidr {
            out.push(("network_cidr", opt(&inputs.network_cidr)));
        }
        if inputs.cluster_labels != base.cluster_labels {
            out.push((
                "cluster_labels",
                Expr::Object(
                    inputs
                        .cluster_labels
                        .iter()
                        .map(|(k, v)| (ObjectKey::Map(k.clone()), Expr::string(v)))
                        .collect(),
                ),
            ));
        }
        out
    }

    fn tests(&self, header: &str, checks: &[Check], diagnostics: &mut Vec<Diagnostic>) -> String {
        let mut body = Body::new();
        body.comment("Plans only, against a mock of the provider: no server is needed. The provider itself still evaluates provider::wayfinder::monthly_cost.");
        body.block(Block::new("mock_provider", &["wayfinder"], Body::new()));
        // What each variable's validations refer to: worked out once, not per input tried.
        let deps = var_deps(checks);
        let Some(valid) = self.valid(checks, &deps) else {
            diagnostics.push(
                self.catalog
                    .at(
                        self.index,
                        &FieldPath::root().field("spec").field("choices"),
                        format!(
                            "with its defaults, cluster plan {} breaks a check in every workspace and stage tried ({}; {}), so its module's tests plan no valid cluster",
                            self.name,
                            self.workspace_candidates().join(", "),
                            self.stage_candidates().join(", ")
                        ),
                    )
                    .notice(),
            );
            return File::new(body).with_header(header).render();
        };
        let mut vars = Body::new();
        for (k, v) in self.input_values(&valid, &valid, true) {
            vars.attribute(k, v);
        }
        body.block(Block::new("variables", &[], vars));

        let mut run = Body::new();
        run.attribute("command", Expr::raw("plan"));
        let mut assert = |cond: String, msg: String| {
            let mut a = Body::new();
            a.attribute("condition", Expr::raw(cond))
                .attribute("error_message", Expr::string(msg));
            run.block(Block::new("assert", &[], a));
        };
        assert(
            format!("wayfinder_cluster.this.plan.name == {}", quote(&self.name)),
            "The cluster is not built from the plan.".into(),
        );
        assert(
            format!(
                "wayfinder_cluster.this.plan.version == {}",
                quote(&self.version)
            ),
            format!("The cluster is not built from version {}.", self.version),
        );
        if let Some(r) = &valid.region {
            assert(
                format!("wayfinder_cluster.this.region == {}", quote(r)),
                "The cluster does not get the plan's default region.".into(),
            );
        }
        if let Some(t) = &valid.compute_template {
            assert(
                format!("wayfinder_cluster.this.compute_template == {}", quote(t)),
                "The cluster does not get the plan's default compute template.".into(),
            );
        }
        body.block(Block::new("run", &["plan_defaults"], run));

        let variations = self.variations(&valid);
        // What fails for each variation does not depend on the check being looked for:
        // worked out once per variation, not once per check and variation.
        let verdicts: Vec<(&Inputs, Vec<Rule>, Vec<&'static str>)> = variations
            .iter()
            .map(|v| {
                let (rules, vars) = self.failing(checks, &deps, v);
                (v, rules, vars)
            })
            .collect();
        let mut done: BTreeSet<Rule> = BTreeSet::new();
        for c in checks {
            if !done.insert(c.rule) {
                continue;
            }
            // The variation breaking this check with the fewest other failures.
            let best = verdicts
                .iter()
                .filter(|(_, rules, _)| rules.contains(&c.rule))
                .min_by_key(|(_, rules, _)| rules.len());
            let Some((inputs, rules, failing_vars)) = best else {
                body.comment(format!(
                    "No single choice breaks the check of {} \"{}\" without breaking the input's type, so it has no run.",
                    c.variable,
                    c.rule.run_name()
                ));
                continue;
            };
            let mut run = Body::new();
            run.attribute("command", Expr::raw("plan"));
            let mut vars = Body::new();
            for (k, v) in self.input_values(inputs, &valid, false) {
                vars.attribute(k, v);
            }
            run.block(Block::new("variables", &[], vars));
            run.attribute(
                "expect_failures",
                Expr::Tuple(
                    failing_vars
                        .iter()
                        .map(|v| Expr::raw(format!("var.{v}")))
                        .collect(),
                ),
            );
            if rules.len() > 1 {
                body.comment(format!(
                    "Also breaks: {}.",
                    rules
                        .iter()
                        .filter(|r| **r != c.rule)
                        .map(|r| r.run_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            body.block(Block::new("run", &[c.rule.run_name()], run));
        }
        File::new(body).with_header(header).render()
    }

    fn emit(
        &self,
        generated_from: &[String],
        provider_version: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<(String, String)> {
        let header = module::header(generated_from);
        let checks = self.checks();
        let variables = self.variables(&checks);
        let outputs = self.outputs();
        let mut main = Body::new();
        if let Some(l) = self.locals() {
            main.block(l);
        }
        main.block(self.resource());
        let tests = self.tests(&header, &checks, diagnostics);
        let usage = format!(
            "module \"cluster\" {{\n  source = \"./clusters/{}\"\n\n  name      = \"payments-dev\"\n  workspace = \"{}\"\n  stage     = \"{}\"\n}}\n",
            self.name,
            self.scope_workspaces()
                .and_then(|w| w.first().cloned())
                .unwrap_or_else(|| "team1".into()),
            self.scope_stages()
                .and_then(|s| s.first().cloned())
                .unwrap_or_else(|| "nonprod".into()),
        );
        let intro = format!(
            "Builds a cluster from cluster plan `{}` version {} ({}{}). The inputs are what a workspace user may choose for this plan; everything else (Kubernetes version, packages, security, network plan) is fixed by the plan.\n\nA choice the plan or a provisioning policy does not allow fails at `terraform validate` or `terraform plan`, before anything is created; the server checks everything again when the cluster is planned and applied.",
            self.name,
            self.version,
            self.provider,
            self.spec
                .description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default(),
        );
        let notes = self.notes(&checks);
        vec![
            (
                "versions.tf".into(),
                module::versions_tf(
                    &header,
                    CLUSTER_TERRAFORM,
                    CLUSTER_TERRAFORM_WHY,
                    provider_version,
                ),
            ),
            (
                "variables.tf".into(),
                module::tf_file(&header, variables.iter().map(Variable::block)),
            ),
            (
                "main.tf".into(),
                File::new(main).with_header(&header).render(),
            ),
            (
                "outputs.tf".into(),
                module::tf_file(&header, outputs.iter().map(Output::block)),
            ),
            (
                "README.md".into(),
                Readme {
                    title: &format!("Cluster from plan {}", self.name),
                    generated_from,
                    intro: &intro,
                    usage: &usage,
                    variables: &variables,
                    outputs: &outputs,
                    notes: &notes,
                }
                .render(),
            ),
            (format!("tests/{}.tftest.hcl", self.name), tests),
        ]
    }

    fn notes(&self, checks: &[Check]) -> String {
        let mut out = String::from("## Checks before plan\n\n");
        for c in checks {
            out.push_str(&format!("- `{}`: {}\n", c.variable, rule_text(c.rule)));
        }
        if !self.policies.is_empty() {
            let mut names: Vec<&str> = self
                .policies
                .iter()
                .map(|p| p.metadata.name.as_str())
                .collect();
            names.sort_unstable();
            out.push_str(&format!(
                "\nProvisioning policies taken into account: {} (their scopes as the definitions give them). Per-workspace limits (clusters, nodes and cost across a workspace) depend on the workspace's other clusters, and are checked by the server when the cluster is planned.\n",
                names.join(", ")
            ));
        }
        if !self.missing_templates.is_empty() {
            out.push_str(&format!(
                "\nCompute templates {} are not among the definitions, so node pools, instance types, node counts and cost are checked by the server only.\n",
                self.missing_templates.join(", ")
            ));
        }
        if self.pool_policies() && self.regions().is_none() {
            out.push_str("\nThe plan lets clusters choose no region (the cloud access's default region is used), so the cost ceiling is checked by the server only.\n");
        }
        out
    }
}

fn rule_text(rule: Rule) -> &'static str {
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

/// An effective policy as the module's `local.policies` holds it.
fn policy_value(p: &EffectivePolicy) -> Expr {
    let key = |k: &str| ObjectKey::Attribute(k.to_string());
    let list = |v: &[String]| Expr::Tuple(v.iter().map(Expr::string).collect());
    let l = &p.per_cluster;
    let src = |s: Option<&wayfinder_model::policy::Source>| {
        Expr::string(s.map_or_else(String::new, |s| {
            let scope = match s.tier {
                ScopeTier::WorkspaceAndStage => "scoped to the workspace and stage",
                ScopeTier::Workspace => "scoped to the workspace",
                ScopeTier::Stage => "scoped to the stage",
                ScopeTier::Everywhere => "for all workspaces and stages",
            };
            format!("{}, {scope}", s.policy_names())
        }))
    };
    Expr::Object(vec![
        (
            key("allowed_regions"),
            p.allowed_regions
                .as_ref()
                .map_or(Expr::Null, |r| list(&r.value)),
        ),
        (
            key("instance_types"),
            l.allowed_instance_types.as_ref().map_or(Expr::Null, |a| {
                list(&a.types.keys().cloned().collect::<Vec<_>>())
            }),
        ),
        (
            key("type_max_nodes"),
            Expr::Object(
                l.allowed_instance_types
                    .iter()
                    .flat_map(|a| a.types.iter())
                    .filter_map(|(t, m)| {
                        m.as_ref()
                            .map(|m| (ObjectKey::Map(t.clone()), Expr::int(m.value)))
                    })
                    .collect(),
            ),
        ),
        (
            key("total_nodes"),
            l.total_nodes
                .as_ref()
                .map_or(Expr::Null, |t| Expr::int(t.value)),
        ),
        (
            key("cost_per_month"),
            l.cost_per_month
                .as_ref()
                .map_or(Expr::Null, |t| Expr::int(t.value)),
        ),
        (
            key("sources"),
            Expr::Object(vec![
                (
                    key("regions"),
                    src(p.allowed_regions.as_ref().map(|r| &r.source)),
                ),
                (
                    key("instance_types"),
                    src(l.allowed_instance_types.as_ref().map(|a| &a.source)),
                ),
                (
                    key("total_nodes"),
                    src(l.total_nodes.as_ref().map(|t| &t.source)),
                ),
                (
                    key("cost_per_month"),
                    src(l.cost_per_month.as_ref().map(|t| &t.source)),
                ),
            ]),
        ),
    ])
}

/// Each variable the checks validate, in the order of `checks`, with the other variables its
/// validations refer to.
type VarDeps = Vec<(&'static str, Vec<&'static str>)>;

fn var_deps(checks: &[Check]) -> VarDeps {
    let mut out: VarDeps = Vec::new();
    for c in checks {
        let i = match out.iter().position(|(v, _)| *v == c.variable) {
            Some(i) => i,
            None => {
                out.push((c.variable, Vec::new()));
                out.len() - 1
            }
        };
        for d in references(&c.condition)
            .into_iter()
            .chain(references(&c.message))
        {
            let ds = &mut out[i].1;
            if d != c.variable && !ds.contains(&d) {
                ds.push(d);
            }
        }
    }
    out
}

/// The module's variables an expression refers to: `var.NAME`, and `workspace` and `stage`
/// through `local.policy`.
fn references(expr: &str) -> Vec<&'static str> {
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
fn dns_label_condition(value: &str) -> String {
    format!("can(regex(\"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$\", {value})) && length({value}) <= 63")
}

/// The most nodes pool `p` can have (the model's `largest_size`).
fn largest_size_hcl(p: &str) -> String {
    format!(
        "max(0, try({p}.autoscaling.enabled, null) == true ? coalesce(try({p}.autoscaling.max_size, null), {p}.size, 0) : coalesce({p}.size, 0))"
    )
}

fn spot_hcl(p: &str) -> String {
    format!("try({p}.spot.enabled, null) == true")
}

fn opt_string(s: Option<&str>) -> Expr {
    s.map_or(Expr::Null, Expr::string)
}

/// Text from definitions inside an error message template: `${` and `%{` escaped.
fn lit(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}
