//! `compute.appvia.io/v2beta1` ClusterPlan (wayfinder-model.md §6, "Legacy v2beta1"):
//! `summary`, `allocation`, `labels`, `policies[]` and `template` — the v2beta1 Cluster
//! spec every cluster of the plan started from, node pools included.
//!
//! It becomes a v2beta2 ClusterPlan, version [`MIGRATED_VERSION`], published, and — when
//! the template has node pools — a ComputeTemplate of the same name that the plan's
//! `choices.computeTemplates.default` names:
//!
//! | v2beta1 | v2beta2 |
//! |---|---|
//! | `summary` | `description` |
//! | `allocation` (`all`, `workspaces` + list, `none`) | `scope.allWorkspaces` / `allowedWorkspaces` |
//! | `template.provider` | `provider` (and the ComputeTemplate's) |
//! | `template.version` | `cluster.kubernetesVersion` ([`DEFAULT_KUBERNETES_VERSION`] when absent, said so) |
//! | `template.providerDetails.{eks,aks,gke}` | `cluster.providerDetails` (AKS `skuTier: Paid` is Azure's `Standard`) |
//! | `template.security` | `cluster.security` |
//! | `template.networking` | `network` |
//! | `template.region` | `choices.regions.default` |
//! | `template.nodePools` | ComputeTemplate `nodePools`, `choices.computeTemplates.default` |
//! | `policies[]` on `spec.region` (editable, `enum`) | `choices.regions.allowed` (`["*"]`, any public region, without an `enum`) |
//! | `policies[]` on `spec.nodePools.N.*` (editable) | `choices.nodePools` (`allowOverride`, `allowedMachines` from a machine `enum`, `maxSize` from a size `max`) |
//!
//! Carried ([`super::CARRIED_ANNOTATION`]): `labels`, every `policies[]` entry as written
//! (the ones above are also mapped), `template.channel`, `enableAutoUpgrade`,
//! `enablePrivateCluster`, `expires`, `clusterLabels` and `quotaLimits`, and a node pool's AKS
//! spot settings (`template.nodePools[N].spot.aks`: v2beta2's `spot` has EKS settings only).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Carried, Converted, LegacyError, definition_meta, err, take, typed};
use crate::common::ScopeSpec;
use crate::compute::{ComputeTemplateSpec, NodePool};
use crate::error::FieldPath;
use crate::kinds::Object;
use crate::meta::ObjectMeta;
use crate::object::Typed;
use crate::plan::Choice;
use crate::plan::{
    AksDetails, ClusterPlanSpec, EksDetails, GkeDetails, NamedCidr, NodePoolChoice, PlanChoices,
    PlanCluster, PlanNetwork, PlanProviderDetails, Security,
};

/// The version a migrated plan gets: v2beta1 plans were not versioned.
pub const MIGRATED_VERSION: &str = "1.0.0";

/// The Kubernetes version a migrated plan gets when its template names none (Wayfinder then
/// used the newest it supported).
pub const DEFAULT_KUBERNETES_VERSION: &str = "1.32";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacySpec {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    allocation: Option<Allocation>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    policies: Option<Vec<Policy>>,
    template: Template,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Allocation {
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    workspaces: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    path: String,
    editable: bool,
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    enum_: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Template {
    provider: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    channel: Option<Value>,
    #[serde(default)]
    enable_auto_upgrade: Option<Value>,
    #[serde(default)]
    enable_private_cluster: Option<Value>,
    #[serde(default)]
    expires: Option<Value>,
    #[serde(default)]
    cluster_labels: Option<Value>,
    #[serde(default)]
    provider_details: Option<ProviderDetails>,
    #[serde(default)]
    networking: Option<Networking>,
    #[serde(default)]
    node_pools: Option<Vec<Value>>,
    #[serde(default)]
    security: Option<Security>,
    #[serde(default)]
    quota_limits: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderDetails {
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    eks: Option<EksDetails>,
    #[serde(default)]
    aks: Option<AksDetails>,
    #[serde(default)]
    gke: Option<GkeDetails>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Networking {
    network_plan: String,
    #[serde(default)]
    authorized_master_networks: Option<Vec<NamedCidr>>,
    #[serde(default)]
    authorized_networks: Option<Vec<NamedCidr>>,
    #[serde(default)]
    aks_services_network: Option<String>,
}

/// A v2beta1 ClusterPlan's `spec` as the v2beta2 ClusterPlan and ComputeTemplate it becomes.
pub(super) fn migrate(meta: &ObjectMeta, spec: Value) -> Result<Converted, Vec<LegacyError>> {
    let at = FieldPath::root().field("spec");
    // Whole values carried verbatim are read from the JSON; the rest through the shape.
    let raw = spec.clone();
    let s: LegacySpec = typed(spec, &at).map_err(|e| vec![e])?;
    let name = meta.name.clone();
    let t = &s.template;
    let tp = at.field("template");
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut carried = Carried::default();
    let raw_template = raw.get("template").cloned().unwrap_or(Value::Null);
    let field = |k: &str| raw_template.get(k).cloned();
    carried.carry("spec.labels", raw.get("labels").cloned());
    carried.carry("spec.policies", raw.get("policies").cloned());
    for k in [
        "channel",
        "enableAutoUpgrade",
        "enablePrivateCluster",
        "expires",
        "clusterLabels",
        "quotaLimits",
    ] {
        carried.carry(&format!("spec.template.{k}"), field(k));
    }
    let _ = (
        &s.labels,
        &t.channel,
        &t.enable_auto_upgrade,
        &t.enable_private_cluster,
    );
    let _ = (&t.expires, &t.cluster_labels, &t.quota_limits);

    // Provider details: the `type` must agree with the provider.
    let mut details = None;
    if let Some(pd) = &t.provider_details {
        if let Some(ty) = pd.type_.as_deref().filter(|ty| *ty != t.provider) {
            problems.push(err(
                tp.field("providerDetails").field("type"),
                format!(
                    "{ty:?} disagrees with spec.template.provider {:?}; the conversion cannot tell which is meant: make them the same",
                    t.provider
                ),
            ));
        }
        let mut aks = pd.aks.clone();
        if let Some(a) = &mut aks
            && a.sku_tier.as_deref() == Some("Paid")
        {
            a.sku_tier = Some("Standard".into());
            notes.push("spec.template.providerDetails.aks.skuTier Paid became Standard (Azure's name for the paid tier)".into());
        }
        details = Some(PlanProviderDetails {
            eks: pd.eks.clone(),
            aks,
            gke: pd.gke.clone(),
        });
    }

    let kubernetes_version = match &t.version {
        Some(v) => v.clone(),
        None => {
            notes.push(format!(
                "spec.template.version is absent: cluster.kubernetesVersion set to {DEFAULT_KUBERNETES_VERSION}; pin the version you mean"
            ));
            DEFAULT_KUBERNETES_VERSION.to_string()
        }
    };

    let network = match &t.networking {
        Some(n) => Some(PlanNetwork {
            network_plan: n.network_plan.clone(),
            authorized_master_networks: n.authorized_master_networks.clone(),
            authorized_networks: n.authorized_networks.clone(),
            aks_services_network: n.aks_services_network.clone(),
        }),
        None => {
            problems.push(err(
                tp.field("networking"),
                "required: v2beta2 plans name their network plan (spec.template.networking.networkPlan becomes spec.network.networkPlan)",
            ));
            None
        }
    };

    let scope = match &s.allocation {
        None => None,
        Some(a) => match a.type_.as_str() {
            "all" => Some(ScopeSpec {
                all_workspaces: Some(true),
                ..ScopeSpec::default()
            }),
            "workspaces" | "none" => {
                let list: Vec<String> = if a.type_ == "none" {
                    Vec::new()
                } else {
                    a.workspaces.clone().unwrap_or_default()
                };
                if list.iter().any(|w| w == "*") {
                    Some(ScopeSpec {
                        all_workspaces: Some(true),
                        ..ScopeSpec::default()
                    })
                } else {
                    Some(ScopeSpec {
                        all_workspaces: Some(false),
                        allowed_workspaces: Some(list),
                        ..ScopeSpec::default()
                    })
                }
            }
            other => {
                problems.push(err(
                    at.field("allocation").field("type"),
                    format!("{other:?} is not an allocation type; accepted: all, workspaces, none"),
                ));
                None
            }
        },
    };

    // An allocation spelled otherwise than its scope reads back (`workspaces: ["*"]` beside
    // `type: all`) is kept as written, so that it reads back so.
    if let (Some(written), Some(scope)) = (raw.get("allocation"), &scope)
        && serde_json::to_value(scope)
            .map(|s| allocation_of(&s))
            .ok()
            .as_ref()
            != Some(written)
    {
        carried.keep("spec.allocation", written.clone());
    }

    // Node pools: each read through the v2beta2 shape, the AKS `providerDetails.type`
    // checked against the provider and dropped.
    let mut pools = Vec::new();
    for (i, p) in t.node_pools.iter().flatten().enumerate() {
        let pp = tp.field("nodePools").index(i);
        let mut p = p.clone();
        if let Some(pd) = p.get_mut("providerDetails").and_then(Value::as_object_mut)
            && let Some(ty) = take(pd, "type")
            && ty.as_str() != Some(t.provider.as_str())
        {
            problems.push(err(
                pp.field("providerDetails").field("type"),
                format!(
                    "{ty} disagrees with spec.template.provider {:?}; make them the same",
                    t.provider
                ),
            ));
        }
        // v2beta2's `spot` has EKS settings only: AKS's are carried (and only for AKS).
        if let Some(aks) = p
            .get_mut("spot")
            .and_then(Value::as_object_mut)
            .and_then(|spot| take(spot, "aks"))
        {
            if t.provider == "AKS" {
                carried.carry(&format!("spec.template.nodePools.{i}.spot.aks"), Some(aks));
            } else {
                problems.push(err(
                    pp.field("spot").field("aks"),
                    format!(
                        "AKS spot settings, but spec.template.provider is {:?}; remove them or make the provider AKS",
                        t.provider
                    ),
                ));
            }
        }
        match typed::<NodePool>(p, &pp) {
            Ok(pool) => pools.push(pool),
            Err(e) => problems.push(e),
        }
    }

    // Policies: the ones with a v2beta2 choice become it.
    let policies = s.policies.clone().unwrap_or_default();
    let choices = choices(t, &pools, &policies, &at, &name, &mut problems, &mut notes);

    if !problems.is_empty() {
        return Err(problems);
    }
    let plan_meta = {
        let mut m = definition_meta(meta);
        let ann = m.annotations.get_or_insert_with(BTreeMap::new);
        ann.entry(crate::versioned::PUBLISHED_ANNOTATION.to_string())
            .or_insert_with(|| "true".into());
        ann.entry(crate::versioned::PUBLISH_STATE_ANNOTATION.to_string())
            .or_insert_with(|| "Published".into());
        carried.annotate(m)
    };
    let mut plan = Typed::new(
        &name,
        ClusterPlanSpec {
            description: s.summary.clone().or(s.description.clone()),
            version: MIGRATED_VERSION.to_string(),
            provider: t.provider.clone(),
            scope,
            cluster: Some(Box::new(PlanCluster {
                kubernetes_version,
                packages: None,
                provider_details: details,
                security: t.security.clone(),
            })),
            network,
            choices: choices.map(Box::new),
        },
    );
    plan.metadata = plan_meta;
    notes.insert(
        0,
        format!("v2beta1 plans are not versioned: this is version {MIGRATED_VERSION}, published"),
    );
    let mut objects = vec![Object::ClusterPlan(plan)];
    if !pools.is_empty() {
        let mut template = Typed::new(
            &name,
            ComputeTemplateSpec {
                description: Some(format!(
                    "The node pools of cluster plan {name} (migrated from compute.appvia.io/v2beta1)"
                )),
                provider: t.provider.clone(),
                node_pools: pools,
            },
        );
        template.metadata.labels = meta.labels.clone();
        template.metadata.annotations = Some(BTreeMap::from([(
            super::PRODUCED_BY_ANNOTATION.to_string(),
            format!("ClusterPlan/{name}"),
        )]));
        objects.push(Object::ComputeTemplate(template));
        notes.push(format!(
            "spec.template.nodePools became ComputeTemplate {name}, the plan's default compute template"
        ));
    }
    Ok(Converted {
        objects,
        carried: carried.paths(),
        notes,
    })
}

/// A v2beta2 ClusterPlan's `spec` (JSON, carried fields already taken out) and the node
/// pools of its default compute template as the v2beta1 `spec` they came from: the inverse of
/// [`migrate`] for every field with a counterpart. The policies a plan's choices came from
/// are carried, so choices other than the default region are not turned back.
pub(super) fn to_legacy(spec: &Value, node_pools: Option<&Value>) -> Value {
    let provider = spec.get("provider").cloned().unwrap_or(Value::Null);
    let mut out = Map::new();
    if let Some(d) = spec.get("description") {
        out.insert("summary".into(), d.clone());
    }
    if let Some(scope) = spec.get("scope") {
        out.insert("allocation".into(), allocation_of(scope));
    }
    let mut template = Map::new();
    template.insert("provider".into(), provider.clone());
    if let Some(region) = spec.pointer("/choices/regions/default") {
        template.insert("region".into(), region.clone());
    }
    let cluster = spec.get("cluster");
    if let Some(v) = cluster.and_then(|c| c.get("kubernetesVersion")) {
        template.insert("version".into(), v.clone());
    }
    if let Some(details) = cluster.and_then(|c| c.get("providerDetails")) {
        let mut details = details.clone();
        if let Some(d) = details.as_object_mut() {
            // v2beta1 named the provider in its details, and the paid AKS tier `Paid`.
            d.insert("type".into(), provider.clone());
            if let Some(tier) = d.get_mut("aks").and_then(|a| a.get_mut("skuTier"))
                && tier == "Standard"
            {
                *tier = Value::String("Paid".into());
            }
        }
        template.insert("providerDetails".into(), details);
    }
    if let Some(security) = cluster.and_then(|c| c.get("security")) {
        template.insert("security".into(), security.clone());
    }
    if let Some(network) = spec.get("network") {
        template.insert("networking".into(), network.clone());
    }
    if let Some(pools) = node_pools.and_then(Value::as_array) {
        let pools: Vec<Value> = pools
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if let Some(d) = p.get_mut("providerDetails").and_then(Value::as_object_mut) {
                    d.insert("type".into(), provider.clone());
                }
                p
            })
            .collect();
        template.insert("nodePools".into(), Value::Array(pools));
    }
    out.insert("template".into(), Value::Object(template));
    Value::Object(out)
}

/// The v2beta1 `allocation` a v2beta2 `scope` is, in its shortest spelling.
fn allocation_of(scope: &Value) -> Value {
    let all = scope.get("allWorkspaces").and_then(Value::as_bool) == Some(true);
    let list = scope.get("allowedWorkspaces").and_then(Value::as_array);
    match (all, list) {
        (true, _) => json!({"type": "all"}),
        (false, Some(list)) if !list.is_empty() => {
            json!({"type": "workspaces", "workspaces": list})
        }
        _ => json!({"type": "none"}),
    }
}

/// The v2beta2 choices a v2beta1 template and its policies amount to.
fn choices(
    t: &Template,
    pools: &[NodePool],
    policies: &[Policy],
    at: &FieldPath,
    name: &str,
    problems: &mut Vec<LegacyError>,
    notes: &mut Vec<String>,
) -> Option<PlanChoices> {
    let mut c = PlanChoices::default();
    if let Some(region) = &t.region {
        c.regions = Some(Choice {
            default: Some(region.clone()),
            allowed: None,
        });
    }
    if !pools.is_empty() {
        c.compute_templates = Some(Choice {
            default: Some(name.to_string()),
            allowed: None,
        });
    }
    let mut pool_choice: Option<NodePoolChoice> = None;
    let mut machine_enum: Option<(usize, Vec<String>)> = None;
    let mut mapped = Vec::new();
    let mut unmapped = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let pp = at.field("policies").index(i);
        let parts: Vec<&str> = p.path.split('.').collect();
        match parts.as_slice() {
            ["spec", "region"] if p.editable => {
                let allowed = strings(p.enum_.as_deref());
                match (&mut c.regions, allowed) {
                    (Some(r), Some(mut allowed)) => {
                        if let Some(d) = &r.default
                            && !allowed.contains(d)
                        {
                            allowed.insert(0, d.clone());
                        }
                        r.allowed = Some(allowed);
                        mapped.push(p.path.clone());
                    }
                    (None, Some(allowed)) => {
                        c.regions = Some(Choice {
                            default: allowed.first().cloned(),
                            allowed: Some(allowed),
                        });
                        mapped.push(p.path.clone());
                    }
                    // Editable without an enum: any region, which v2beta2 says as
                    // `allowed: ["*"]` (any public region of the plan's cloud).
                    (_, None) => {
                        let default = c.regions.as_ref().and_then(|r| r.default.clone());
                        c.regions = Some(Choice {
                            default,
                            allowed: Some(vec![crate::plan::ANY_REGION.to_string()]),
                        });
                        mapped.push(p.path.clone());
                    }
                }
            }
            ["spec", "nodePools", index, rest @ ..] if p.editable => {
                let Ok(index) = index.parse::<usize>() else {
                    problems.push(err(
                        pp.field("path"),
                        format!(
                            "{:?} does not name a node pool by index (spec.nodePools.0.machine)",
                            p.path
                        ),
                    ));
                    continue;
                };
                let choice = pool_choice.get_or_insert_with(|| NodePoolChoice {
                    allow_override: Some(true),
                    ..NodePoolChoice::default()
                });
                match rest {
                    ["machine"] => {
                        if let Some(list) = strings(p.enum_.as_deref()) {
                            if let Some((other, before)) = &machine_enum
                                && before != &list
                            {
                                problems.push(err(
                                    pp.field("enum"),
                                    format!(
                                        "differs from the machines policies[{other}] allows for another pool; v2beta2 allows the same machines for every pool (choices.nodePools.allowedMachines), so the conversion cannot tell which list is meant: make them the same"
                                    ),
                                ));
                            } else {
                                choice.allowed_machines = Some(list.clone());
                                machine_enum = Some((i, list));
                            }
                        }
                    }
                    ["size"] | ["autoscaling", "maxSize"] => {
                        if let Some(max) = p.max.as_ref().and_then(Value::as_i64) {
                            choice.max_size = Some(choice.max_size.map_or(max, |m| m.max(max)));
                        }
                    }
                    _ => {}
                }
                let _ = index;
                mapped.push(p.path.clone());
            }
            _ if !p.editable => mapped.push(p.path.clone()),
            _ => unmapped.push(format!(
                "{} (editable: v2beta2 has no choice for it, so clusters get the plan's value)",
                p.path
            )),
        }
    }
    if let Some(mut choice) = pool_choice {
        // Machines not editable: clusters keep the template's.
        let machine_editable = policies.iter().any(|p| {
            p.editable && p.path.starts_with("spec.nodePools.") && p.path.ends_with(".machine")
        });
        if !machine_editable {
            let mut machines: Vec<String> = pools.iter().map(|p| p.machine.clone()).collect();
            machines.dedup();
            choice.allowed_machines = Some(machines);
        }
        c.node_pools = Some(choice);
    }
    if !mapped.is_empty() {
        notes.push(format!(
            "policies on {} became the plan's choices (a field v2beta2 offers no choice for is fixed by the plan)",
            mapped.join(", ")
        ));
    }
    if !unmapped.is_empty() {
        notes.push(format!(
            "policies not expressible as choices: {}",
            unmapped.join("; ")
        ));
    }
    (c != PlanChoices::default()).then_some(c)
}

/// The strings of an `enum`.
fn strings(values: Option<&[Value]>) -> Option<Vec<String>> {
    let values = values?;
    let list: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    (!list.is_empty()).then_some(list)
}
