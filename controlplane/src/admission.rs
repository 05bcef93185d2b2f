//! Admission: what every create, update and `dryRun=All` passes before it is stored, and
//! what blocks a delete. Every check is the model's (one engine); this module only feeds
//! it the stored objects ([`StoreView`]) and turns its answers into API errors.
//!
//! On create and update, in order:
//! 1. **Immutable fields** (update only, every kind): a changed field the model declares
//!    immutable ([`KindInfo::immutable_paths`], e.g. a compute template's `spec.provider`,
//!    an access token's roles and lifetime) is `422` with a `FieldValueInvalid` cause
//!    naming it ([`IMMUTABLE_MESSAGE`]).
//! 2. **Validation** ([`Object::validate`]): every problem, `422` with a cause per field.
//! 3. **Clusters**: [`resolve_cluster_with`] against the store (stage, plan version
//!    published and in scope, network plan, compute template of the plan's provider,
//!    packages, cloud access, the plan's choices); then the cost
//!    ([`estimate_resolution`] over [`catalog_in_use`], the control plane at the tier the plan
//!    asks for; a missing price leaves it unknown, refused only under a cost limit); then the
//!    effective provisioning policy ([`effective_policy`] over every stored
//!    ProvisioningPolicy for the workspace, stage and cloud) checked by [`check_cluster`]
//!    with [`WorkspaceUsage::excluding`] the workspace's other clusters. Each stage's
//!    problems are all reported at once (`422`, [`ApiError::refused`]); policy violations
//!    carry `policy`, `scope`, `limit` and `value`. An admitted cluster gets the labels
//!    `appvia.io/{stage,plan,provider,cloud,workspace}` and `status.estimate` and
//!    `status.plannedNetwork` (the network request and the block [`crate::network`] would
//!    allocate now; the reconciler does the real allocation into `status.network`).
//! 4. **AccessTokens**: roles allowed in the workspace
//!    ([`AccessTokenSpec::check_roles_in_workspace`]), an `expiresAt` in the future;
//!    `status.subject` and `status.expiresAt` (from `ttl` or `expiresAt`) are recorded.
//! 5. **ClusterPlan versions in use** are immutable: a `spec` change to a version a cluster
//!    uses is `409` (annotations, e.g. deprecating it, may change).
//!
//! Deletes blocked by dependants answer `409 Conflict` without `x-wayfinder-objectmodified`
//! ([`check_delete`]), following the model's reference graph ([`kinds::REFERENCES`], the
//! edges that block deletes): a ClusterPlan version a cluster uses; a ClusterNetworkPlan a
//! plan version names; a ComputeTemplate a plan version offers (`choices.computeTemplates`)
//! or a cluster names; a Package version a plan version pins; a Stage a cluster is in; and
//! a Workspace that still holds objects.
//!
//! **Concurrency.** Admission is part of a write's decision ([`crate::store::Store::commit`]):
//! the store runs it on a consistent snapshot, recording every object and list it read,
//! and before committing decides again only when one of those was written since. So what
//! commits was admitted against exactly what commits with it — two concurrent creates
//! cannot together pass a workspace limit, a plan version cannot go away under a cluster
//! being admitted — while unrelated writes decide in parallel and share one commit. A
//! refusal is answered from the snapshot.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use wayfinder_model::cluster::Cluster;
use wayfinder_model::cost::{Estimate, format_usd, unknown_cost_warning};
use wayfinder_model::kinds::{
    self, CLUSTER, CLUSTER_PLAN, KindInfo, PROVISIONING_POLICY, Reference, Scope,
};
use wayfinder_model::networking::NetworkRequest;
use wayfinder_model::org::AccessTokenSpec;
use wayfinder_model::plan::ClusterPlan;
use wayfinder_model::resolve::estimate_resolution;
use wayfinder_model::resolve::{RESERVED_LABELS, ResolveOptions};
use wayfinder_model::versioned::compare_versions;
use wayfinder_model::{
    Object, ObjectView, ProvisioningPolicy, Resolution, ResolvedCluster, WorkspaceUsage,
    check_cluster, check_unpriced, effective_policy, resolve_cluster_with,
};

use crate::keys::{list_clusters, list_kind, workspace_keys};
use crate::network;
use crate::prices::catalog_in_use;
use crate::status::{ApiError, Cause};
use crate::store::{ListFilter, Reads, StoreError, parse_stored};
use crate::view::StoreView;

/// Which write is being admitted.
#[derive(Debug, Clone)]
pub enum Operation {
    Create,
    /// An update; `current` is the stored body being replaced.
    Update {
        current: Value,
    },
}

/// What admission adds to an object it lets through.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    /// Labels the server sets (merged over the object's).
    pub labels: BTreeMap<String, String>,
    /// `status` fields the server sets (merged over the stored status).
    pub status: Map<String, Value>,
}

/// Every stored ProvisioningPolicy (they are platform objects).
pub fn provisioning_policies(store: &dyn Reads) -> Result<Vec<ProvisioningPolicy>, StoreError> {
    Ok(store
        .list_parsed(&ListFilter::kind(&PROVISIONING_POLICY, ""))?
        .iter()
        .filter_map(|o| match o.as_ref() {
            Object::ProvisioningPolicy(p) => Some(p.clone()),
            _ => None,
        })
        .collect())
}

/// Every stored version of versioned object `name`, body and object, oldest version first.
pub fn versions_of(
    store: &dyn Reads,
    kind: &KindInfo,
    name: &str,
) -> Result<Vec<(Value, Object)>, StoreError> {
    let mut out: Vec<(Value, Object)> = list_kind(store, kind, None)?
        .into_iter()
        .filter_map(|o| parse_stored(&o.body).map(|p| (o.body, p)))
        .filter(|(_, o)| o.metadata().name == name)
        .collect();
    out.sort_by(|a, b| compare_versions(a.1.version().unwrap_or(""), b.1.version().unwrap_or("")));
    Ok(out)
}

/// `1.0.0 (Published), 1.1.0 (Draft)`, for messages.
pub fn version_list(objects: &[Object]) -> String {
    objects
        .iter()
        .map(|o| {
            let state = wayfinder_model::publish_state(o.metadata())
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "unreadable publish state".to_string());
            format!("{} ({state})", o.version().unwrap_or("?"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Admits a create or update of `object` (already placed in its workspace); see the module
/// documentation. Runs on the blocking pool (it reads the store).
pub fn admit(
    store: &dyn Reads,
    kind: &'static KindInfo,
    workspace: Option<&str>,
    object: &Object,
    op: Operation,
    dry_run: bool,
) -> Result<Admitted, ApiError> {
    let name = object.metadata().name.clone();
    // An immutable field changed can never be admitted, whatever else is wrong: say so first.
    if let Operation::Update { current } = &op {
        check_immutable(kind, &name, current, object)?;
    }
    object
        .validate()
        .map_err(|e| ApiError::from_validation(kind, &name, &e))?;
    match object {
        Object::Cluster(c) => admit_cluster(store, workspace.unwrap_or_default(), c, &op, dry_run),
        Object::AccessToken(t) => {
            admit_token(kind, workspace.unwrap_or_default(), &name, &t.spec, &op)
        }
        Object::ClusterPlan(p) => {
            if let Operation::Update { current } = &op
                && current.get("spec") != Some(&object.spec_json())
            {
                let users = clusters_using_plan(store, &name, &p.spec.version)?;
                if !users.is_empty() {
                    return Err(ApiError::blocked(
                        kind,
                        &name,
                        format!(
                            "ClusterPlan/{name} version {} is used by cluster{} {}, and a plan version is immutable once a cluster uses it: publish a new version instead (POST it with a new spec.version), then move the clusters to it; annotations (e.g. appvia.io/publishState: Deprecated) may still change",
                            p.spec.version,
                            if users.len() == 1 { "" } else { "s" },
                            users.join(", ")
                        ),
                    ));
                }
            }
            Ok(Admitted::default())
        }
        Object::Package(p) => {
            if let Operation::Update { current } = &op
                && current.get("spec") != Some(&object.spec_json())
            {
                // A plan version in use is frozen (above); so is what it pins.
                let mut users = Vec::new();
                for plan in plans(store)? {
                    if plan
                        .spec
                        .packages()
                        .iter()
                        .any(|r| r.name == name && r.version == p.spec.version)
                    {
                        for c in
                            clusters_using_plan(store, &plan.metadata.name, &plan.spec.version)?
                        {
                            users.push(format!(
                                "cluster {c} (through ClusterPlan/{} version {})",
                                plan.metadata.name, plan.spec.version
                            ));
                        }
                    }
                }
                if !users.is_empty() {
                    return Err(ApiError::blocked(
                        kind,
                        &name,
                        format!(
                            "Package/{name} version {} is installed on {}, and a package version pinned by a plan in use is immutable: publish a new package version and a plan version that pins it instead",
                            p.spec.version,
                            users.join(", ")
                        ),
                    ));
                }
            }
            Ok(Admitted::default())
        }
        _ => Ok(Admitted::default()),
    }
}

/// The message of a refused change to an immutable field.
pub const IMMUTABLE_MESSAGE: &str = "field is immutable: create a new object";

/// Refuses (`422`, a `FieldValueInvalid` cause per field) an update that changes a field the
/// model declares immutable ([`KindInfo::immutable_paths`]), for every kind. Both sides are
/// compared as the model serialises them, so a field left out and one set to its default
/// compare as the model reads them.
fn check_immutable(
    kind: &KindInfo,
    name: &str,
    current: &Value,
    object: &Object,
) -> Result<(), ApiError> {
    if kind.immutable_paths().is_empty() {
        return Ok(());
    }
    let before = match parse_stored(current) {
        Some(o) => o.spec_json(),
        None => current.get("spec").cloned().unwrap_or_default(),
    };
    let causes: Vec<Cause> = kind
        .changed_immutable_paths(&before, &object.spec_json())
        .into_iter()
        .map(|p| Cause::field(p, "FieldValueInvalid", IMMUTABLE_MESSAGE))
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::refused(kind, name, causes))
    }
}

fn admit_token(
    kind: &KindInfo,
    workspace: &str,
    name: &str,
    spec: &AccessTokenSpec,
    op: &Operation,
) -> Result<Admitted, ApiError> {
    let mut causes: Vec<Cause> = spec
        .check_roles_in_workspace(workspace)
        .iter()
        .map(Cause::from_field_error)
        .collect();
    let now = std::time::SystemTime::now();
    let expires = match (&spec.expires_at, spec.ttl_duration()) {
        (Some(at), _) => match crate::auth::parse_time(at) {
            Some(t) if t > now => Some(t),
            _ => {
                causes.push(Cause::field(
                    "spec.expiresAt",
                    "FieldValueInvalid",
                    format!(
                        "{at:?} is not in the future: give a later time, or a ttl such as 720h"
                    ),
                ));
                None
            }
        },
        (None, Some(ttl)) => now.checked_add(ttl),
        (None, None) => None,
    };
    let mut admitted = Admitted::default();
    match op {
        Operation::Create => {
            admitted.status.insert(
                "subject".into(),
                json!(crate::auth::access_token_subject(workspace, name)),
            );
            if let Some(t) = expires {
                admitted.status.insert(
                    "expiresAt".into(),
                    json!(humantime::format_rfc3339_seconds(t).to_string()),
                );
            }
        }
        // Roles and lifetime are immutable in the model: [`check_immutable`].
        Operation::Update { .. } => {}
    }
    if causes.is_empty() {
        Ok(admitted)
    } else {
        Err(ApiError::refused(kind, name, causes))
    }
}

/// Resolves and estimates a cluster; `None` if it no longer resolves. One the catalog cannot
/// price still counts (nodes, itself), its cost as zero ([`Estimate::uncosted`]).
fn resolve_and_estimate(
    view: &StoreView<'_>,
    workspace: &str,
    cluster: &Cluster,
) -> Option<(ResolvedCluster, Estimate)> {
    let options = ResolveOptions {
        existing_plan: Some(cluster.spec.plan.clone()),
    };
    let r = resolve_cluster_with(cluster, workspace, view, &options).ok()?;
    let e = estimate_resolution(catalog_in_use(), &r)
        .unwrap_or_else(|_| Estimate::uncosted(&r.cluster));
    Some((r.cluster, e))
}

fn admit_cluster(
    store: &dyn Reads,
    workspace: &str,
    cluster: &Cluster,
    op: &Operation,
    dry_run: bool,
) -> Result<Admitted, ApiError> {
    let kind = &CLUSTER;
    let name = &cluster.metadata.name;
    let view = StoreView::new(store);
    let existing_plan = match op {
        Operation::Update { current } => match parse_stored(current) {
            Some(Object::Cluster(c)) => Some(c.spec.plan),
            _ => None,
        },
        Operation::Create => None,
    };
    let resolved =
        resolve_cluster_with(cluster, workspace, &view, &ResolveOptions { existing_plan });
    view.finish()?;
    let resolution = resolved.map_err(|errors| {
        ApiError::refused(
            kind,
            name,
            errors.iter().map(Cause::from_field_error).collect(),
        )
    })?;
    let rc = &resolution.cluster;

    // A price the catalog lacks leaves the cost unknown (not zero): refused only under a
    // cost limit (check_unpriced), else admitted with a warning.
    let estimate = estimate_resolution(catalog_in_use(), &resolution);

    let policies = provisioning_policies(store)?;
    let policy = effective_policy(&policies, workspace, &rc.stage, &rc.cloud);
    // The workspace's other clusters matter only to per-workspace limits; resolving them is
    // the costly part of admission, so skip it when no such limit applies.
    let others: Vec<(ResolvedCluster, Estimate)> = if policy.per_workspace.is_unlimited() {
        Vec::new()
    } else {
        view.list(&CLUSTER, Some(workspace))
            .into_iter()
            .filter_map(|o| match o.as_ref() {
                Object::Cluster(c) if c.metadata.name != *name => {
                    resolve_and_estimate(&view, workspace, c)
                }
                _ => None,
            })
            .collect()
    };
    view.finish()?;
    let usage = WorkspaceUsage::excluding(rc, others.iter().map(|(c, e)| (c, e)));
    let violations = match &estimate {
        Ok(e) => check_cluster(&policy, rc, e, &usage),
        Err(missing) => check_unpriced(&policy, rc, missing, &usage),
    };
    if !violations.is_empty() {
        return Err(ApiError::refused(
            kind,
            name,
            violations.iter().map(Cause::from_violation).collect(),
        ));
    }

    let mut admitted = Admitted::default();
    for (k, v) in &rc.labels {
        if RESERVED_LABELS.contains(&k.as_str()) {
            admitted.labels.insert(k.clone(), v.clone());
        }
    }
    let estimate = match &estimate {
        Ok(e) => estimate_json(e),
        Err(missing) => json!({
            "unknown": true,
            "missing": missing.iter().map(|e| json!({
                "field": e.path_in(rc).to_string(),
                "message": e.message,
            })).collect::<Vec<_>>(),
            "warning": unknown_cost_warning(missing),
        }),
    };
    admitted.status.insert("estimate".into(), estimate);
    // A dry run previews the network the reconciler would allocate; a real write leaves the
    // allocation to the reconciler and does not pay for scanning every cluster's network.
    if dry_run {
        admitted.status.insert(
            "plannedNetwork".into(),
            planned_network(store, &view, workspace, cluster, &resolution)?,
        );
    }
    Ok(admitted)
}

fn usd(cents: i64) -> Value {
    format_usd(cents)
        .parse::<f64>()
        .map(Value::from)
        .unwrap_or(Value::Null)
}

/// `status.estimate`: per pool and total, in USD per month (and in cents, exactly).
pub fn estimate_json(e: &Estimate) -> Value {
    json!({
        "currency": e.currency,
        "provider": e.provider,
        "region": e.region,
        "catalogDate": e.catalog_date,
        "pools": e.pools.iter().map(|p| json!({
            "logicalName": p.logical_name,
            "machine": p.machine,
            "nodes": p.nodes,
            "spot": p.spot,
            "hourlyUSD": p.hourly_usd,
            "diskGB": p.disk_gb,
            "monthlyUSD": usd(p.monthly_cents),
            "monthlyCents": p.monthly_cents,
        })).collect::<Vec<_>>(),
        "controlPlane": {
            "tier": e.control_plane_tier,
            "monthlyUSD": usd(e.control_plane_cents),
            "monthlyCents": e.control_plane_cents,
        },
        "totalMonthlyUSD": usd(e.total_cents),
        "totalMonthlyCents": e.total_cents,
    })
}

/// `status.plannedNetwork`: what the cluster asks for and what
/// [`network::allocation_for`] would give it now (`cidr`, `from`, `exclusive`), or why it
/// could not (`problem`).
fn planned_network(
    store: &dyn Reads,
    view: &StoreView<'_>,
    workspace: &str,
    cluster: &Cluster,
    r: &Resolution,
) -> Result<Value, ApiError> {
    let request = match r.network {
        NetworkRequest::Size(p) => json!({"size": p}),
        NetworkRequest::Cidr(n) => json!({"cidr": n.to_string()}),
    };
    let taken = network::taken(store, (workspace, &r.cluster.name))?;
    let decided = network::allocation_for(view, workspace, cluster, r, &taken);
    view.finish()?;
    let mut out = json!({"request": request, "networkPlan": r.network_plan});
    match decided {
        Ok(a) => {
            out["cidr"] = json!(a.cidr);
            out["from"] = json!(a.from);
            out["exclusive"] = json!(a.exclusive);
        }
        Err(e) => out["problem"] = json!(e.to_string()),
    }
    Ok(out)
}

/// `ws/name` of every cluster built from ClusterPlan `name` version `version`.
fn clusters_using_plan(
    store: &dyn Reads,
    name: &str,
    version: &str,
) -> Result<Vec<String>, ApiError> {
    Ok(clusters(store)?
        .into_iter()
        .filter(|(_, c)| c.spec.plan.name == name && c.spec.plan.version == version)
        .map(|(ws, c)| format!("{ws}/{}", c.metadata.name))
        .collect())
}

fn clusters(store: &dyn Reads) -> Result<Vec<(String, Cluster)>, ApiError> {
    Ok(list_clusters(store)?
        .into_iter()
        .filter_map(|(ws, o)| match parse_stored(&o.body) {
            Some(Object::Cluster(c)) => Some((ws, c)),
            _ => None,
        })
        .collect())
}

fn plans(store: &dyn Reads) -> Result<Vec<ClusterPlan>, ApiError> {
    Ok(list_kind(store, &CLUSTER_PLAN, None)?
        .iter()
        .filter_map(|o| match parse_stored(&o.body) {
            Some(Object::ClusterPlan(p)) => Some(p),
            _ => None,
        })
        .collect())
}

/// The objects that refer to `name` (one of `versions`, for a reference that pins a
/// version) through reference `r`, for messages: `ClusterPlan/p version 1.0.0`, `Cluster
/// ws/c`, with the version referred to when the reference pins one.
fn referrers(
    store: &dyn Reads,
    r: &Reference,
    name: &str,
    versions: &[Option<String>],
) -> Result<Vec<String>, ApiError> {
    let holders: Vec<Option<String>> = match r.from.scope {
        Scope::Platform => vec![None],
        Scope::Workspace => workspace_keys(store)?.into_iter().map(Some).collect(),
    };
    let mut out = Vec::new();
    for ws in holders {
        for o in list_kind(store, r.from, ws.as_deref())? {
            let Some(object) = parse_stored(&o.body) else {
                continue;
            };
            for at in r.occurrences(&object.spec_json()) {
                if at.name != name {
                    continue;
                }
                let pinned = match (&at.version, r.to.versioned) {
                    (Some(v), true) => {
                        if !versions.iter().flatten().any(|d| d == v) {
                            continue;
                        }
                        Some(v)
                    }
                    _ => None,
                };
                let n = &object.metadata().name;
                let who = match (&ws, object.version()) {
                    (Some(ws), _) => format!("{} {ws}/{n}", r.from.kind),
                    (None, Some(v)) => format!("{}/{n} version {v}", r.from.kind),
                    (None, None) => format!("{}/{n}", r.from.kind),
                };
                out.push(match (pinned, r.from.versioned) {
                    (Some(v), true) => format!("{who} (pins {name} {v})"),
                    (Some(v), false) => format!("{who} (on version {v})"),
                    (None, _) => who,
                });
            }
        }
    }
    Ok(out)
}

/// Refuses (`409`, no `x-wayfinder-objectmodified`) the delete of `name` (the given
/// versions of a versioned kind) while other objects depend on it: every reference of the
/// model's graph that blocks deletes ([`kinds::REFERENCES`]), and a workspace's objects.
pub fn check_delete(
    store: &dyn Reads,
    kind: &'static KindInfo,
    _workspace: Option<&str>,
    name: &str,
    versions: &[Option<String>],
) -> Result<(), ApiError> {
    let mut users: Vec<String> = Vec::new();
    for r in kinds::REFERENCES
        .iter()
        .filter(|r| r.blocks_delete && r.to.kind == kind.kind)
    {
        for user in referrers(store, r, name, versions)? {
            if !users.contains(&user) {
                users.push(user);
            }
        }
    }
    let fix = match kind.kind {
        "ClusterPlan" => {
            "delete those clusters or move them to another plan version first; to stop new clusters using it, deprecate the version instead (annotations appvia.io/published: \"false\", appvia.io/publishState: Deprecated)"
        }
        "ClusterNetworkPlan" => {
            "delete those plan versions or publish versions naming another network plan first"
        }
        "Workspace" => "delete the workspace's objects first",
        _ => "delete them first",
    };
    if kind.kind == "Workspace" {
        // Not a reference: a workspace holds its objects.
        for k in kinds::ALL.iter().filter(|k| k.scope == Scope::Workspace) {
            for o in list_kind(store, k, Some(name))? {
                let n = o
                    .body
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                users.push(format!("{} {name}/{n}", k.kind));
            }
        }
    }
    if users.is_empty() {
        return Ok(());
    }
    let what = match versions {
        [Some(v)] => format!("{}/{name} version {v}", kind.kind),
        _ if kind.versioned => format!("{}/{name} (every version)", kind.kind),
        _ => format!("{}/{name}", kind.kind),
    };
    Err(ApiError::blocked(
        kind,
        name,
        format!(
            "{what} cannot be deleted: {} depend{} on it; {fix}",
            users.join(", "),
            if users.len() == 1 { "s" } else { "" }
        ),
    ))
}
