//! Admission: what every create, update and `dryRun=All` passes before it is stored, and
//! what blocks a delete. Every check is the model's (one engine); this module only feeds
//! it the stored objects ([`StoreView`]) and turns its answers into API errors.
//!
//! On create and update, in order:
//! 1. **Validation** ([`Object::validate`]): every problem, `422` with a cause per field.
//! 2. **Clusters**: [`resolve_cluster_with`] against the store (stage, plan version
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
//! 3. **AccessTokens**: roles allowed in the workspace
//!    ([`AccessTokenSpec::check_roles_in_workspace`]), an `expiresAt` in the future;
//!    `status.subject` and `status.expiresAt` (from `ttl` or `expiresAt`) are recorded. Roles
//!    and lifetime cannot change later.
//! 4. **ClusterPlan versions in use** are immutable: a `spec` change to a version a cluster
//!    uses is `409` (annotations, e.g. deprecating it, may change).
//!
//! Deletes blocked by dependants answer `409 Conflict` without `x-wayfinder-objectmodified`
//! ([`check_delete`]): a ClusterPlan version a cluster uses; a ClusterNetworkPlan a plan
//! version names; a ComputeTemplate a plan version offers (`choices.computeTemplates`) or
//! a cluster names; a Package version a plan version pins; a Stage a cluster is in; a
//! Workspace that still holds objects.
//!
//! **Concurrency.** The API decides admission first on a consistent snapshot of the
//! committed data, outside the write lock ([`crate::store::Store::read_recorded`], which
//! records every object and list admission read), then, inside the write transaction,
//! re-decides only when one of those was written since
//! ([`crate::store::Tx::changed_since`], which sees the open batch too). So what commits
//! was admitted against exactly what commits with it — two concurrent creates cannot
//! together pass a workspace limit, a plan version cannot go away under a cluster being
//! admitted — while unrelated writes decide in parallel and share one commit. A refusal is
//! answered from the snapshot, without taking the write lock.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use wayfinder_model::cluster::Cluster;
use wayfinder_model::cost::{Estimate, estimate_resolution, format_usd, unknown_cost_warning};
use wayfinder_model::kinds::{
    self, ASSIGNABLE_NETWORK, CLUSTER, CLUSTER_NETWORK_PLAN, CLUSTER_PLAN, KindInfo,
    PROVISIONING_POLICY, Scope,
};
use wayfinder_model::networking::{AssignableNetwork, NetworkRequest};
use wayfinder_model::org::{ADMIN_WORKSPACE, AccessTokenSpec};
use wayfinder_model::plan::ClusterPlan;
use wayfinder_model::resolve::{RESERVED_LABELS, ResolveOptions};
use wayfinder_model::versioned::compare_versions;
use wayfinder_model::{
    Object, ObjectView, ProvisioningPolicy, Resolution, ResolvedCluster, WorkspaceUsage,
    check_cluster, check_unpriced, effective_policy, resolve_cluster_with,
};

use crate::network::{self, PoolContext, RequestOrigin};
use crate::prices::catalog_in_use;
use crate::resources::{list_clusters, list_kind, object_key};
use crate::status::{ApiError, Cause};
use crate::store::{ListFilter, Reads, StoreError, parse_stored};
use std::sync::Arc;

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

/// A read-only [`ObjectView`] of the store for the model's resolver. A store failure is
/// remembered and turned into a `500` by [`StoreView::finish`] rather than read as "missing".
pub struct StoreView<'a> {
    store: &'a dyn Reads,
    error: RefCell<Option<StoreError>>,
}

impl<'a> StoreView<'a> {
    pub fn new(store: &'a dyn Reads) -> Self {
        Self {
            store,
            error: RefCell::new(None),
        }
    }

    /// `Err` if any read failed.
    pub fn finish(&self) -> Result<(), ApiError> {
        match self.take_error() {
            Some(e) => Err(ApiError::from(e)),
            None => Ok(()),
        }
    }

    /// The first read that failed, if one did.
    pub fn take_error(&self) -> Option<StoreError> {
        self.error.borrow_mut().take()
    }

    fn remember<T: Default>(&self, r: Result<T, StoreError>) -> T {
        r.unwrap_or_else(|e| {
            self.error.borrow_mut().get_or_insert(e);
            T::default()
        })
    }
}

impl ObjectView for StoreView<'_> {
    fn get(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Option<Arc<Object>> {
        if kind.versioned && version.is_none() {
            let versions = self.list(kind, None);
            return wayfinder_model::latest_published(
                versions.iter().filter(|o| o.metadata().name == name),
            )
            .cloned();
        }
        let key = object_key(kind, workspace, name, version);
        self.remember(self.store.get_parsed(&key))
    }

    fn list(&self, kind: &KindInfo, workspace: Option<&str>) -> Vec<Arc<Object>> {
        let namespace = match (kind.scope, workspace) {
            (Scope::Platform, _) => "",
            (Scope::Workspace, Some(ws)) => ws,
            (Scope::Workspace, None) => return Vec::new(),
        };
        self.remember(self.store.list_parsed(&ListFilter::kind(kind, namespace)))
    }
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
        Operation::Update { current } => {
            for field in ["roles", "ttl", "expiresAt"] {
                let before = current.pointer(&format!("/spec/{field}"));
                let after = serde_json::to_value(spec)
                    .ok()
                    .and_then(|v| v.get(field).cloned());
                if before != after.as_ref() {
                    causes.push(Cause::field(
                        format!("spec.{field}"),
                        "FieldValueForbidden",
                        "an access token's roles and lifetime cannot change: delete the token and create a new one",
                    ));
                }
            }
        }
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

/// `status.plannedNetwork`: what the cluster asks for and what [`network::decide`] would
/// give it now (`cidr`, `from`), or why it could not (`problem`).
fn planned_network(
    store: &dyn Reads,
    view: &StoreView<'_>,
    workspace: &str,
    cluster: &Cluster,
    r: &Resolution,
) -> Result<Value, ApiError> {
    let rc = &r.cluster;
    let request = match r.network {
        NetworkRequest::Size(p) => json!({"size": p}),
        NetworkRequest::Cidr(n) => json!({"cidr": n.to_string()}),
    };
    let own_cidr = cluster
        .spec
        .network
        .as_ref()
        .is_some_and(|n| n.cidr.is_some());
    let origin = match r.network {
        NetworkRequest::Cidr(_) if !own_cidr => RequestOrigin::NetworkPlan(r.network_plan.clone()),
        _ => RequestOrigin::Cluster,
    };
    let names = match view
        .get(&CLUSTER_NETWORK_PLAN, None, &r.network_plan, None)
        .as_deref()
    {
        Some(Object::ClusterNetworkPlan(p)) => p.spec.assignable_networks.clone(),
        _ => None,
    };
    let mut holders = vec![workspace.to_string()];
    if workspace != ADMIN_WORKSPACE {
        holders.push(ADMIN_WORKSPACE.to_string());
    }
    let assignables: Vec<(String, AssignableNetwork)> = holders
        .iter()
        .flat_map(|h| {
            view.list(&ASSIGNABLE_NETWORK, Some(h))
                .into_iter()
                .filter_map(move |o| match o.as_ref() {
                    Object::AssignableNetwork(a) => Some((h.clone(), a.clone())),
                    _ => None,
                })
        })
        .collect();
    view.finish()?;
    let pools = network::pools_for(
        &assignables,
        names.as_deref(),
        &rc.stage,
        &rc.cloud,
        &rc.provider,
    );
    let taken = network::taken(store, (workspace, &rc.name))?;
    let context = PoolContext {
        workspace: workspace.to_string(),
        stage: rc.stage.clone(),
        cloud: rc.cloud.clone(),
        names: names.clone(),
    };
    let mut out = json!({"request": request, "networkPlan": r.network_plan});
    match network::decide(r.network, &origin, &pools, &taken, &context) {
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

/// Refuses (`409`, no `x-wayfinder-objectmodified`) the delete of `name` (the given
/// versions of a versioned kind) while other objects depend on it; see the module
/// documentation for the list.
pub fn check_delete(
    store: &dyn Reads,
    kind: &'static KindInfo,
    _workspace: Option<&str>,
    name: &str,
    versions: &[Option<String>],
) -> Result<(), ApiError> {
    let mut users: Vec<String> = Vec::new();
    let mut fix = "delete them first";
    match kind.kind {
        "ClusterPlan" => {
            for v in versions.iter().flatten() {
                for c in clusters_using_plan(store, name, v)? {
                    users.push(format!("Cluster {c} (on version {v})"));
                }
            }
            fix = "delete those clusters or move them to another plan version first; to stop new clusters using it, deprecate the version instead (annotations appvia.io/published: \"false\", appvia.io/publishState: Deprecated)";
        }
        "ClusterNetworkPlan" => {
            for p in plans(store)? {
                if p.spec
                    .network
                    .as_ref()
                    .is_some_and(|n| n.network_plan == name)
                {
                    users.push(format!(
                        "ClusterPlan/{} version {}",
                        p.metadata.name, p.spec.version
                    ));
                }
            }
            fix =
                "delete those plan versions or publish versions naming another network plan first";
        }
        "ComputeTemplate" => {
            for p in plans(store)? {
                let offered = p
                    .spec
                    .choices
                    .as_ref()
                    .and_then(|c| c.compute_templates.as_ref())
                    .is_some_and(|c| {
                        c.default.as_deref() == Some(name)
                            || c.allowed.iter().flatten().any(|a| a == name)
                    });
                if offered {
                    users.push(format!(
                        "ClusterPlan/{} version {}",
                        p.metadata.name, p.spec.version
                    ));
                }
            }
            for (ws, c) in clusters(store)? {
                if c.spec.compute_template.as_deref() == Some(name) {
                    users.push(format!("Cluster {ws}/{}", c.metadata.name));
                }
            }
        }
        "Package" => {
            for p in plans(store)? {
                for v in versions.iter().flatten() {
                    if p.spec
                        .packages()
                        .iter()
                        .any(|r| r.name == name && r.version == *v)
                    {
                        users.push(format!(
                            "ClusterPlan/{} version {} (pins {name} {v})",
                            p.metadata.name, p.spec.version
                        ));
                    }
                }
            }
        }
        "Stage" => {
            for (ws, c) in clusters(store)? {
                if c.spec.stage == name {
                    users.push(format!("Cluster {ws}/{}", c.metadata.name));
                }
            }
        }
        "Workspace" => {
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
            fix = "delete the workspace's objects first";
        }
        _ => {}
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
