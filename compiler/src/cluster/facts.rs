//! What a plan allows a workspace user to choose: its scope, regions, compute templates,
//! node pools and network sizes, read once from the plan, its compute templates and the
//! provisioning policies of its cloud.

use std::collections::BTreeMap;

use wayfinder_model::common::cloud_for_provider;
use wayfinder_model::cost::Catalog as Prices;
use wayfinder_model::kinds::Object;
use wayfinder_model::plan::{Choice, ClusterPlanSpec};
use wayfinder_model::{FieldPath, ProvisioningPolicy, effective_policy};

use crate::catalog::{Catalog, Entry};
use crate::diagnostic::Diagnostic;

use super::{OTHER, Plan, PolicyClass, sorted_unique};

impl<'c> Plan<'c> {
    pub(super) fn new(
        catalog: &'c Catalog<'c>,
        index: usize,
        entry: &Entry,
        spec: &ClusterPlanSpec,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Self> {
        let cloud = cloud_for_provider(&spec.provider)?;
        // The plan's choices, or Wayfinder's behaviour over the compute templates among the
        // definitions: the model's answer, as the server's.
        let choices = spec
            .effective_choices(|| {
                catalog
                    .of_kind("ComputeTemplate")
                    .filter_map(|e| match &e.def.object {
                        Object::ComputeTemplate(t) => {
                            Some((e.name.clone(), t.spec.provider.clone()))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .into_owned();
        if spec.choices.is_none() {
            let offered = choices
                .compute_templates
                .as_ref()
                .map(|c| c.permitted().join(", "))
                .unwrap_or_default();
            diagnostics.push(
                catalog
                    .at(
                        index,
                        &FieldPath::root().field("spec"),
                        format!(
                            "no spec.choices: clusters get Wayfinder's behaviour — they may choose any public region of {cloud} (the cloud access's default when they name none), define node pools (within the provisioning policies) and choose a compute template of provider {}; {}",
                            spec.provider,
                            if offered.is_empty() {
                                "the definitions have none, so the self-service module asks for node pools only".to_string()
                            } else {
                                format!("the self-service module offers those among the definitions ({offered}); the server also accepts its other {} templates", spec.provider)
                            }
                        ),
                    )
                    .notice(),
            );
        }
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

    pub(super) fn scope_workspaces(&self) -> Option<Vec<String>> {
        self.spec
            .scope
            .as_ref()
            .filter(|s| !s.covers_all_workspaces())
            .map(|s| s.allowed_workspaces.clone().unwrap_or_default())
    }

    pub(super) fn scope_stages(&self) -> Option<Vec<String>> {
        self.spec
            .scope
            .as_ref()
            .filter(|s| !s.covers_all_stages())
            .map(|s| s.allowed_stages.clone().unwrap_or_default())
    }

    /// The regions a cluster may choose: the model's answer ([`Choice::permitted_regions`]),
    /// `["*"]` — what a plan without choices offers — being every public region of the plan's
    /// cloud. The module lists them in the region's `validation` block, so a region the
    /// server would refuse fails at `terraform validate`, offline, with the list.
    pub(super) fn regions(&self) -> Option<Vec<String>> {
        self.choices
            .regions
            .as_ref()
            .map(|c| c.permitted_regions(&self.provider))
    }

    /// Whether the plan offers any public region of its cloud (`["*"]`).
    pub(super) fn any_region(&self) -> bool {
        self.choices.regions.as_ref().is_some_and(Choice::is_any)
    }

    pub(super) fn offered_templates(&self) -> Option<Vec<String>> {
        self.choices
            .compute_templates
            .as_ref()
            .map(|c| c.permitted().iter().map(|s| s.to_string()).collect())
    }

    pub(super) fn pools_choice(&self) -> bool {
        self.choices
            .node_pools
            .as_ref()
            .is_some_and(|n| n.allow_override == Some(true))
    }

    pub(super) fn allowed_machines(&self) -> Option<Vec<String>> {
        self.choices
            .node_pools
            .as_ref()
            .and_then(|n| n.allowed_machines.clone())
            .filter(|m| !m.is_empty())
    }

    pub(super) fn max_pool_size(&self) -> Option<i64> {
        self.choices.node_pools.as_ref().and_then(|n| n.max_size)
    }

    pub(super) fn network_sizes(&self) -> Option<Vec<i64>> {
        self.choices.network.as_ref().map(|n| n.permitted())
    }

    pub(super) fn allow_cidr(&self) -> bool {
        self.choices
            .network
            .as_ref()
            .is_some_and(|n| n.allow_cidr == Some(true))
    }

    /// Whether the module can work out the effective node pools (every template offered is
    /// known, or none is offered).
    pub(super) fn pools_known(&self) -> bool {
        self.templates.is_some()
    }

    /// Whether the policy checks on pools are in the module.
    pub(super) fn pool_policies(&self) -> bool {
        self.pools_known() && !self.policies.is_empty()
    }

    /// The variable the pool checks hang on: what the user changes to fix them.
    pub(super) fn pools_variable(&self) -> &'static str {
        if self.pools_choice() {
            "node_pools"
        } else if self.offered_templates().is_some() {
            "compute_template"
        } else {
            "stage"
        }
    }

    pub(super) fn default_disk(&self) -> i64 {
        self.prices
            .providers
            .get(&self.provider)
            .map_or(0, |p| p.default_disk_gb)
    }
}
