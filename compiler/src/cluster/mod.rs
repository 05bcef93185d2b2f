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
//!
//! One `Plan` per module, its methods split by concern: `facts` (what the plan allows),
//! `checks` (each check in HCL and as a predicate asking the model), `variations` (test
//! inputs), `emit` (variables, locals, the resource, outputs and the module's files) and
//! `tftest` (the `terraform test` file).

use std::collections::BTreeMap;

use wayfinder_model::ProvisioningPolicy;
use wayfinder_model::compute::NodePool;
use wayfinder_model::cost::Catalog as Prices;
use wayfinder_model::kinds::Object;
use wayfinder_model::plan::{ClusterPlanSpec, PlanChoices};
use wayfinder_model::policy::EffectivePolicy;
use wayfinder_model::versioned::{PublishState, compare_versions, publish_state};

use crate::catalog::{Catalog, Entry};
use crate::diagnostic::Diagnostic;

mod checks;
mod emit;
mod facts;
mod tftest;
mod variations;

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
