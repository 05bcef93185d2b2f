//! The module's files: variables (with their checks), locals, the cluster resource,
//! outputs, `versions.tf` and the README with its notes.

use wayfinder_model::compute::{NODE_POOL_SHAPE, NodePool};
use wayfinder_model::cost;
use wayfinder_model::policy::{EffectivePolicy, ScopeTier};

use crate::catalog::string_list;
use crate::diagnostic::Diagnostic;
use crate::hcl::{Block, Body, Expr, File, ObjectKey, quote};
use crate::module::{self, Output, Readme, Variable};
use crate::shapes;

use super::checks::{Check, largest_size_hcl, rule_text, spot_hcl};
use super::{CLUSTER_TERRAFORM, CLUSTER_TERRAFORM_WHY, OTHER, Plan};

impl<'c> Plan<'c> {
    /// The module's variables, each with the validation blocks of its checks.
    pub(super) fn variables(&self, checks: &[Check]) -> Vec<Variable> {
        let string = || Expr::raw("string");
        let mut vars = vec![
            Variable::new(
                "name",
                "The cluster's name: lower-case letters, digits and '-', at most 63 characters.",
                string(),
            ),
            Variable::new(
                "workspace",
                match self.scope_workspaces() {
                    Some(ws) => format!("The workspace the cluster belongs to (its key); the plan is available to {}.", ws.join(", ")),
                    None => "The workspace the cluster belongs to (its key).".to_string(),
                },
                string(),
            )
            .not_null(),
        ];
        let stages = self.scope_stages();
        let mut stage = Variable::new(
            "stage",
            match &stages {
                Some(s) => format!("The stage, which scopes the plan, cloud access and policies; the plan is available in {}.", s.join(", ")),
                None => "The stage, such as nonprod or prod; it scopes the plan, cloud access and policies.".to_string(),
            },
            string(),
        )
        .not_null();
        if let Some([only]) = stages.as_deref() {
            stage = stage.default(Expr::string(only));
        }
        vars.push(stage);
        if let Some(regions) = self.regions() {
            let default = self
                .choices
                .regions
                .as_ref()
                .and_then(|c| c.default.as_deref());
            let options = if self.any_region() {
                format!(
                    "the {} public regions of {} the price catalog lists ({})",
                    regions.len(),
                    self.cloud,
                    regions.join(", ")
                )
            } else {
                regions.join(", ")
            };
            vars.push(choice_variable(
                "region",
                "The cloud region",
                &options,
                string(),
                default.map(Expr::string),
                "the cloud access's default region",
            ));
        }
        if let Some(templates) = self.offered_templates() {
            let c = self.choices.compute_templates.as_ref();
            let default = c.and_then(|c| c.default.as_deref());
            vars.push(choice_variable(
                "compute_template",
                "The compute template the node pools start from",
                &templates.join(", "),
                string(),
                default.map(Expr::string),
                "node_pools are the cluster's only pools",
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
            vars.push(
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
            );
        }
        if let Some(sizes) = self.network_sizes() {
            let list = sizes
                .iter()
                .map(|s| format!("/{s}"))
                .collect::<Vec<_>>()
                .join(", ");
            let default = self.choices.network.as_ref().and_then(|n| n.default_size);
            vars.push(choice_variable(
                "network_size",
                "The network's prefix length, allocated from the stage's assignable networks",
                &list,
                Expr::raw("number"),
                default.map(Expr::int),
                "the network plan's node range",
            ));
            if self.allow_cidr() {
                vars.push(
                    Variable::new(
                        "network_cidr",
                        format!("An explicit IPv4 range for the network instead of network_size, of a size the plan offers ({list})."),
                        string(),
                    )
                    .default(Expr::Null),
                );
            }
        }
        vars.push(
            Variable::new(
                "cloud_access_ref",
                "The cloud access to provision with, and the workspace holding it (`admin` for the platform's). When null, the one in scope for the workspace and stage.",
                Expr::Wrapped {
                    prefix: "object(".into(),
                    items: vec![
                        (ObjectKey::Attribute("name".into()), string()),
                        (ObjectKey::Attribute("workspace".into()), Expr::raw("optional(string)")),
                    ],
                    suffix: ")".into(),
                },
            )
            .default(Expr::Null),
        );
        vars.push(
            Variable::new(
                "cluster_labels",
                "Labels on the cluster (Wayfinder's own appvia.io/ labels are set for you).",
                Expr::raw("map(string)"),
            )
            .default(Expr::Object(Vec::new()))
            .not_null(),
        );
        vars.push(
            Variable::new("description", "What the cluster is for.", string()).default(Expr::Null),
        );
        vars.into_iter()
            .map(|v| {
                let own: Vec<&Check> = checks.iter().filter(|c| c.variable == v.name).collect();
                own.into_iter()
                    .fold(v, |v, c| v.validate(&c.condition, &c.message))
            })
            .collect()
    }

    pub(super) fn locals(&self) -> Option<Block> {
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
    pub(super) fn pools_expr(&self) -> String {
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
    pub(super) fn cost_call(&self, pools: &str) -> String {
        format!(
            "provider::wayfinder::monthly_cost({}, var.region, [for i, p in {pools} : {{ name = format(\"%d-%s\", i, p.logical_name), machine = p.machine, max_size = p.max_size, spot = p.spot, disk_size = p.disk_size }}])",
            quote(&self.provider)
        )
    }

    /// A template pool as the checks see it.
    pub(super) fn pool_value(&self, p: &NodePool) -> Expr {
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

    pub(super) fn resource(&self) -> Block {
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

    pub(super) fn outputs(&self) -> Vec<Output> {
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

    pub(super) fn emit(
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

    pub(super) fn notes(&self, checks: &[Check]) -> String {
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

/// An effective policy as the module's `local.policies` holds it.
pub(super) fn policy_value(p: &EffectivePolicy) -> Expr {
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

/// A variable choosing one of what the plan offers: `{what}: one of {options}.`, and when the
/// plan sets no default, what null means. The default is null when the plan sets none.
fn choice_variable(
    name: &str,
    what: &str,
    options: &str,
    ty: Expr,
    default: Option<Expr>,
    when_null: &str,
) -> Variable {
    let mut description = format!("{what}: one of {options}.");
    if default.is_none() {
        description.push_str(&format!(" When null, {when_null}."));
    }
    Variable::new(name, description, ty).default(default.unwrap_or(Expr::Null))
}
