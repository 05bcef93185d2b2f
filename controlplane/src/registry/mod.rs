//! The registry: what a request to the resource API does to the store, below the HTTP edge
//! ([`crate::resources`]). Each operation takes a resolved [`Target`], the caller and, for
//! writes, the body and whether it is a dry run, and answers the object (or list) as JSON or
//! an [`ApiError`]: authorization, the workspace check, parsing, admission and the one
//! decision committed through [`crate::store::Store::commit`] are here, the same for every
//! kind. What differs by kind (an AccessToken's minted token, a Cluster's `Pending` status
//! and two-phase delete) is a [`strategy::KindStrategy`], looked up by kind
//! ([`strategy::strategy`]); nothing here names a kind but the workspace check.
//!
//! A legacy version's requests ([`legacy`]) are converted to the storage version and
//! answered back; a v2beta1 ClusterPlan's joined objects are written together there.
//!
//! # Storage key scheme
//!
//! Rows are keyed `(group, kind, namespace, name)` ([`crate::store::ObjectKey`]); use
//! [`crate::keys::object_key`]:
//!
//! | kind | `namespace` | `name` |
//! |---|---|---|
//! | platform, not versioned | `""` | `metadata.name` |
//! | platform, versioned (ClusterPlan, Package) | `""` | `{metadata.name}@{spec.version}` |
//! | workspaced (Cluster, AccessToken, CloudAccessConfig, …) | the workspace key (`pay`) | `metadata.name` |
//!
//! Stored bodies are the objects as the model serialises them, with `metadata.name` the
//! user-facing name (never `name@version`) and, for workspaced kinds,
//! `metadata.namespace: ws-{key}`. `@` cannot occur in object names, so the split is
//! unambiguous. A workspaced path needs the workspace to exist as a Workspace object (the
//! `admin` workspace always exists). Clusters live at [`crate::keys::cluster_key`];
//! [`crate::keys::list_clusters`] lists them in every workspace.

pub mod legacy;
pub mod strategy;

use std::collections::BTreeMap;

use axum::http::{HeaderName, StatusCode};
use serde_json::{Map, Value, json};
use wayfinder_model::kinds::{self, KindInfo, WORKSPACE};
use wayfinder_model::legacy::LegacyKind;
use wayfinder_model::{Object, Scope};

use crate::AppState;
use crate::admission::{self, Operation};
use crate::auth::{Principal, Verb, authorize};
use crate::keys::{new_uid, object_key, workspace_exists, workspace_keys};
use crate::status::{ApiError, Cause, Details, OBJECT_MODIFIED_HEADER};
use crate::store::{Batch, Committed, Mutation, NewRow, Reads, StoredObject};
use strategy::strategy;

/// Which version(s) of a versioned object a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSel {
    /// `…/{name}`: for a versioned kind, the latest published version.
    Latest,
    /// `…/{name}/versions`.
    All,
    /// `…/{name}/versions/{v}`.
    One(String),
}

/// What a `/resources/...` path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: &'static KindInfo,
    /// The workspace key of a workspaced kind.
    pub workspace: Option<String>,
    /// `None` for the collection.
    pub name: Option<String>,
    pub version: VersionSel,
    /// Set when the path names a legacy version of the kind ([`wayfinder_model::legacy`]):
    /// the request is converted to the storage version ([`Target::kind`]) and the answer
    /// back, or refused with how to migrate.
    pub legacy: Option<&'static LegacyKind>,
}

/// Who asks, and whether a write is only tried (`dryRun=All`: admitted, not committed).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub state: &'a AppState,
    pub principal: &'a Principal,
    pub dry_run: bool,
}

/// How a list is narrowed and paged.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub label_selector: Vec<LabelRequirement>,
    /// At most this many items per page (`None`: every item).
    pub limit: Option<usize>,
    /// Where the previous page ended.
    pub continue_token: Option<String>,
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

impl LabelRequirement {
    /// Whether an object with these labels meets the requirement.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            LabelRequirement::Equals(k, v) => get(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            LabelRequirement::Exists(k) => get(k).is_some(),
            LabelRequirement::NotExists(k) => get(k).is_none(),
        }
    }
}

/// A write's answer: the object as written, whether it was created (else updated or
/// deleted), and the warnings to send with it (`Warning` headers at the edge).
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

impl Written {
    fn new(object: Value, created: bool) -> Self {
        let warnings = crate::prices::estimate_warning(&object)
            .map(str::to_string)
            .into_iter()
            .collect();
        Written {
            object,
            created,
            warnings,
        }
    }
}

/// Every kind the model knows is served.
pub fn served_kinds() -> impl Iterator<Item = &'static KindInfo> {
    kinds::ALL.iter().copied()
}

/// Every served collection path with its kind, for messages.
pub fn served_list() -> String {
    served_kinds()
        .map(|k| format!("{} ({})", collection_path(k), k.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The collection path of a kind; workspaced kinds show `{workspace}`.
pub fn collection_path(kind: &KindInfo) -> String {
    match kind.scope {
        Scope::Platform => collection_path_in(kind, None),
        Scope::Workspace => collection_path_in(kind, Some("{workspace}")),
    }
}

/// The collection path of a kind in a workspace (ignored for platform kinds).
pub fn collection_path_in(kind: &KindInfo, workspace: Option<&str>) -> String {
    match (kind.scope, workspace) {
        (Scope::Workspace, Some(ws)) => format!(
            "/resources/{}/{}/workspaces/{ws}/{}",
            kind.group, kind.version, kind.plural
        ),
        _ => format!("/resources/{}/{}/{}", kind.group, kind.version, kind.plural),
    }
}

/// `Kind/name`, `Kind/name version v`, `Kind ws/name`, for messages.
fn describe(kind: &KindInfo, ws: Option<&str>, name: &str, version: Option<&str>) -> String {
    let mut s = match ws {
        Some(ws) => format!("{} {ws}/{name}", kind.kind),
        None => format!("{}/{name}", kind.kind),
    };
    if let Some(v) = version {
        s.push_str(&format!(" version {v}"));
    }
    s
}

/// `404` naming the workspace when a workspaced path names one that does not exist.
fn ensure_workspace(state: &AppState, t: &Target) -> Result<(), ApiError> {
    let Some(ws) = t.workspace.as_deref() else {
        return Ok(());
    };
    // From memory: no blocking.
    let store = &*state.store;
    if workspace_exists(store, ws)? {
        return Ok(());
    }
    let known = workspace_keys(store)?;
    Err(ApiError::not_found(format!(
        "workspace {ws} does not exist; workspaces: {}; an administrator creates one with POST {}",
        known.join(", "),
        collection_path(&WORKSPACE)
    ))
    .with_details(Details::object(&WORKSPACE, ws)))
}

/// A list body of `kind` at resource version `rv`.
fn list_body(kind: &KindInfo, rv: i64, items: Vec<Value>) -> Value {
    json!({
        "apiVersion": kind.api_version(),
        "kind": format!("{}List", kind.kind),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    })
}

/// `GET` of a collection, or of every version of a name (`…/{name}/versions`).
pub async fn list(cx: Caller<'_>, t: &Target, opts: &ListOptions) -> Result<Value, ApiError> {
    let kind = t.kind;
    authorize(cx.principal, Verb::List, kind, t.workspace.as_deref())?;
    ensure_workspace(cx.state, t)?;
    let ns = t.workspace.clone().unwrap_or_default();
    let selector = &opts.label_selector;
    let keep = |o: &StoredObject| {
        let body = &o.body;
        let labels = body
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        t.name
            .as_deref()
            .is_none_or(|n| body.pointer("/metadata/name").and_then(Value::as_str) == Some(n))
            && selector.iter().all(|r| r.matches(labels))
    };
    let filter = crate::store::ListFilter::kind(kind, &ns);
    let paged = opts.limit.is_some() || opts.continue_token.is_some();
    let (limit, token) = (
        opts.limit.unwrap_or(usize::MAX),
        opts.continue_token.as_deref(),
    );
    let store = &cx.state.store;
    let page = if t.name.is_none() && selector.is_empty() {
        store.list_page(&filter, limit, token)
    } else {
        store.list_page_where(&filter, limit, token, &keep)
    };
    let page = page
        .map_err(|e| match e {
            crate::store::StoreError::Compacted { requested, .. } => ApiError::new(
                StatusCode::GONE,
                "Expired",
                format!(
                    "the continue token is too old: the list's resource version {requested} is no longer kept; list again from the start, without continue"
                ),
            ),
            crate::store::StoreError::InvalidContinue { reason } => ApiError::bad_request(
                format!("continue is not valid: {reason}; send the metadata.continue of the previous page unchanged, or list again from the start without it"),
            ),
            e => e.into(),
        })?;
    let items: Vec<Value> = page
        .listing
        .items
        .into_iter()
        .map(|(_, o)| o.body)
        .collect();
    if let (Some(name), true, false) = (&t.name, items.is_empty(), paged) {
        return Err(not_found(kind, t.workspace.as_deref(), name, None));
    }
    let mut body = list_body(kind, page.listing.resource_version, items);
    if let Some(token) = page.continue_token {
        body["metadata"]["continue"] = json!(token);
        if let Some(n) = page.remaining {
            body["metadata"]["remainingItemCount"] = json!(n);
        }
    }
    Ok(body)
}

/// `GET` of one object; of a versioned kind's name, its latest published version.
pub async fn get(cx: Caller<'_>, t: &Target) -> Result<Value, ApiError> {
    let kind = t.kind;
    let ws = t.workspace.as_deref();
    let name = t.name.clone().unwrap_or_default();
    authorize(cx.principal, Verb::Get, kind, ws)?;
    ensure_workspace(cx.state, t)?;
    let store = &*cx.state.store;
    if kind.versioned && t.version == VersionSel::Latest {
        let versions = admission::versions_of(store, kind, &name)?;
        if versions.is_empty() {
            return Err(not_found(kind, None, &name, None));
        }
        let objects: Vec<Object> = versions.iter().map(|(_, o)| o.clone()).collect();
        return match wayfinder_model::latest_published(objects.iter()) {
            Some(latest) => {
                let v = latest.version().unwrap_or_default();
                Ok(versions
                    .into_iter()
                    .find(|(_, o)| o.version() == Some(v))
                    .map(|(b, _)| b)
                    .unwrap_or_default())
            }
            None => Err(ApiError::not_found(format!(
                "{}/{name} has no published version (versions: {}); get one with GET {}/{name}/versions/{{version}}",
                kind.kind,
                admission::version_list(&objects),
                collection_path(kind)
            ))
            .with_details(Details::object(kind, &name))),
        };
    }
    let version = match &t.version {
        VersionSel::One(v) => Some(v.as_str()),
        _ => None,
    };
    match store.get(&object_key(kind, ws, &name, version))? {
        Some(o) => Ok(o.body),
        None => Err(not_found(kind, ws, &name, version)),
    }
}

/// `POST` to a collection: the object in `body`, created.
pub async fn create(cx: Caller<'_>, t: &Target, body: &[u8]) -> Result<Written, ApiError> {
    let kind = t.kind;
    let ws = t.workspace.clone();
    authorize(cx.principal, Verb::Create, kind, ws.as_deref())?;
    ensure_workspace(cx.state, t)?;
    crate::quota::check_object_size(kind, body.len())?;
    let mut object = parse_body(kind, body)?;
    place(kind, ws.as_deref(), &mut object)?;
    let name = object.metadata().name.clone();
    let version = kind
        .versioned
        .then(|| object.version().map(str::to_string))
        .flatten();
    let strategy = strategy(kind);
    let prepared = strategy.prepare_create(cx, ws.as_deref(), &object)?;
    let quotas = cx.state.quotas;
    let key = object_key(kind, ws.as_deref(), &name, version.as_deref());
    let uid = new_uid();
    let created = crate::now_rfc3339();
    let dry_run = cx.dry_run;
    let (v, w) = (version.clone(), ws.clone());
    let p = prepared.clone();
    // One decision: admission, the object and what its kind commits with it (an
    // AccessToken's token hash). The store decides it on a snapshot and again, before
    // committing, only if something it read (plans, policies, the workspace's other
    // clusters) has changed since: what the write commits was admitted against what is
    // committed with it, and concurrent creates decide in parallel and still share one
    // commit.
    let (mut stored, committed) = cx
        .state
        .store
        .run(move |s| {
            s.commit(dry_run, None, |r: &dyn Reads| {
                if r.get(&key)?.is_some() {
                    return Err(already_exists(kind, w.as_deref(), &name, v.as_deref()));
                }
                if let Some(ws) = w.as_deref() {
                    crate::quota::check(r, &quotas, ws, &object, None)?;
                }
                let mut admitted =
                    admission::admit(r, kind, w.as_deref(), &object, Operation::Create, dry_run)?;
                let tokens =
                    strategy.admit(r, w.as_deref(), &object, &p, &created, &mut admitted)?;
                let body = finish(
                    object.clone(),
                    Finish {
                        generation: 1,
                        uid: &uid,
                        created: &created,
                        current: None,
                        strategy: Some(strategy),
                    },
                    &admitted,
                );
                let row = NewRow {
                    body: body.clone(),
                    generation: 1,
                    uid: uid.clone(),
                    created: created.clone(),
                };
                let mut batch = Batch::object(key.clone(), Mutation::Put(row));
                batch.tokens = tokens;
                Ok::<_, ApiError>((batch, body))
            })
        })
        .await??;
    set_resource_version(&mut stored, &committed, 0);
    let name = stored
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    strategy.answer(prepared, &mut stored);
    if !dry_run {
        tracing::info!(subject = %cx.principal.subject, object = %describe(kind, ws.as_deref(), &name, version.as_deref()), "created");
    }
    Ok(Written::new(stored, true))
}

/// `PUT` of one object: the object in `body` replaces it, guarded by the
/// `metadata.resourceVersion` sent.
pub async fn update(cx: Caller<'_>, t: &Target, body: &[u8]) -> Result<Written, ApiError> {
    let kind = t.kind;
    let ws = t.workspace.clone();
    let name = t.name.clone().unwrap_or_default();
    authorize(cx.principal, Verb::Update, kind, ws.as_deref())?;
    ensure_workspace(cx.state, t)?;
    crate::quota::check_object_size(kind, body.len())?;
    let mut object = parse_body(kind, body)?;
    let body_name = object.metadata().name.clone();
    if body_name != name {
        return Err(mismatch(
            kind,
            &name,
            "metadata.name",
            format!("must be {name:?}, the name in the URL"),
            format!(
                "metadata.name {body_name:?} does not match the name in the URL {name:?}; objects cannot be renamed"
            ),
        ));
    }
    place(kind, ws.as_deref(), &mut object)?;
    let version = if kind.versioned {
        let body_version = object.version().unwrap_or_default().to_string();
        if let VersionSel::One(v) = &t.version
            && *v != body_version
        {
            return Err(mismatch(
                kind,
                &name,
                "spec.version",
                format!("must be {v:?}, the version in the URL"),
                format!(
                    "spec.version {body_version:?} does not match the version in the URL {v:?}; to make a new version, POST it to {}",
                    collection_path(kind)
                ),
            ));
        }
        Some(body_version)
    } else {
        None
    };
    let key = object_key(kind, ws.as_deref(), &name, version.as_deref());
    let sent_rv = object
        .metadata()
        .resource_version
        .clone()
        .filter(|rv| !rv.is_empty());
    let dry_run = cx.dry_run;
    let (w, v) = (ws.clone(), version.clone());
    let quotas = cx.state.quotas;
    let (mut stored, committed) = cx
        .state
        .store
        .run(move |s| {
            // As for creates: decided on a snapshot, decided again before committing
            // only if something it read (the object itself included) has changed since.
            s.commit(dry_run, None, |r: &dyn Reads| {
                let Some(current) = r.get(&key)? else {
                    return Err(not_found(kind, w.as_deref(), &name, v.as_deref()));
                };
                if let Some(sent) = &sent_rv
                    && *sent != current.resource_version.to_string()
                {
                    return Err(modified(kind, &name, sent, &current));
                }
                if let Some(ws) = w.as_deref() {
                    crate::quota::check(r, &quotas, ws, &object, Some(&current.body))?;
                }
                let admitted = admission::admit(
                    r,
                    kind,
                    w.as_deref(),
                    &object,
                    Operation::Update {
                        current: current.body.clone(),
                    },
                    dry_run,
                )?;
                let row = updated_row(&object, &current, &admitted);
                let body = row.body.clone();
                Ok::<_, ApiError>((Batch::object(key.clone(), Mutation::Put(row)), body))
            })
        })
        .await??;
    set_resource_version(&mut stored, &committed, 0);
    if !dry_run {
        tracing::info!(subject = %cx.principal.subject, object = %describe(kind, ws.as_deref(), t.name.as_deref().unwrap_or_default(), version.as_deref()), "updated");
    }
    Ok(Written::new(stored, false))
}

/// The row an update of `current` to `object` writes: the generation moves when the spec
/// changed; uid and creation time are kept.
fn updated_row(object: &Object, current: &StoredObject, admitted: &admission::Admitted) -> NewRow {
    let spec_changed = current.body.get("spec") != Some(&object.spec_json());
    let generation = current.generation + i64::from(spec_changed);
    let body = finish(
        object.clone(),
        Finish {
            generation,
            uid: &current.uid,
            created: &current.created,
            current: Some(&current.body),
            strategy: None,
        },
        admitted,
    );
    NewRow {
        body,
        generation,
        uid: current.uid.clone(),
        created: current.created.clone(),
    }
}

/// `DELETE` of one object, one version, or every version (`…/{name}/versions`: the answer
/// is the list of what was deleted).
pub async fn delete(cx: Caller<'_>, t: &Target) -> Result<Value, ApiError> {
    let kind = t.kind;
    let ws = t.workspace.clone();
    let name = t.name.clone().unwrap_or_default();
    authorize(cx.principal, Verb::Delete, kind, ws.as_deref())?;
    ensure_workspace(cx.state, t)?;
    if t.version == VersionSel::Latest && kind.versioned {
        return Err(ApiError::bad_request(format!(
            "{} is versioned: delete one version with DELETE {}/{name}/versions/{{version}}, or every version with DELETE {}/{name}/versions",
            kind.kind,
            collection_path(kind),
            collection_path(kind)
        ))
        .with_details(Details::object(kind, &name)));
    }
    let dry_run = cx.dry_run;
    let (w, n, sel) = (ws.clone(), name.clone(), t.version.clone());
    let strategy = strategy(kind);
    // One commit: the dependants check and every version's delete commit together, or
    // nothing is deleted.
    let ((versions, mut deleted, marked), committed) = cx
        .state
        .store
        .run(move |s| {
            s.commit(dry_run, None, |r: &dyn Reads| {
                let versions: Vec<Option<String>> = match (&sel, kind.versioned) {
                    (VersionSel::One(v), true) => vec![Some(v.clone())],
                    (_, true) => {
                        let found = admission::versions_of(r, kind, &n)?;
                        if found.is_empty() {
                            return Err(not_found(kind, None, &n, None));
                        }
                        found
                            .iter()
                            .map(|(_, o)| o.version().map(str::to_string))
                            .collect()
                    }
                    (_, false) => vec![None],
                };
                admission::check_delete(r, kind, w.as_deref(), &n, &versions)?;
                let mut batch = Batch::default();
                let mut deleted = Vec::new();
                let mut marked = false;
                for version in &versions {
                    let key = object_key(kind, w.as_deref(), &n, version.as_deref());
                    let Some(current) = r.get(&key)? else {
                        return Err(not_found(kind, w.as_deref(), &n, version.as_deref()));
                    };
                    let deletion = strategy.on_delete(strategy::Doomed {
                        reads: r,
                        ws: w.as_deref(),
                        name: &n,
                        current,
                    })?;
                    marked |= matches!(deletion.mutation, Mutation::Put(_));
                    batch.objects.push((key, deletion.mutation));
                    batch.tokens.extend(deletion.tokens);
                    deleted.push(deletion.body);
                }
                Ok::<_, ApiError>((batch, (versions, deleted, marked)))
            })
        })
        .await??;
    if marked {
        // A marked object's body is as written: its version is the commit's.
        for (i, body) in deleted.iter_mut().enumerate() {
            set_resource_version(body, &committed, i);
        }
    }
    if !dry_run {
        for version in &versions {
            tracing::info!(subject = %cx.principal.subject, object = %describe(kind, ws.as_deref(), &name, version.as_deref()), "deleted");
        }
    }
    if t.version == VersionSel::All {
        return Ok(list_body(kind, committed.at, deleted));
    }
    Ok(deleted.pop().unwrap_or_default())
}

/// Puts the version the `i`th object write of `committed` took into `body`'s
/// `metadata.resourceVersion`: the version is learnt from the commit, never computed before.
fn set_resource_version(body: &mut Value, committed: &Committed, i: usize) {
    let rv = committed.versions.get(i).copied().unwrap_or(committed.at);
    crate::store::cache::set_resource_version(body, rv);
}

/// Puts an object where its URL says: a workspaced object gets `metadata.namespace:
/// ws-{key}` (a different namespace in the body is refused); a platform object loses an
/// empty namespace the model let through.
fn place(kind: &KindInfo, ws: Option<&str>, object: &mut Object) -> Result<(), ApiError> {
    let meta = object.metadata_mut();
    match (kind.scope, ws) {
        (Scope::Workspace, Some(ws)) => {
            let want = format!("ws-{ws}");
            if let Some(ns) = meta.namespace.as_deref().filter(|ns| !ns.is_empty())
                && ns != want
            {
                return Err(mismatch(
                    kind,
                    &meta.name,
                    "metadata.namespace",
                    format!("must be {want:?} (workspace {ws}, from the URL) or left out"),
                    format!(
                        "metadata.namespace {ns:?} does not match workspace {ws} in the URL; leave it out or set {want:?}"
                    ),
                ));
            }
            meta.namespace = Some(want);
        }
        _ => {
            if meta.namespace.as_deref() == Some("") {
                meta.namespace = None;
            }
        }
    }
    Ok(())
}

/// The server-owned metadata of a body to store ([`finish`]).
struct Finish<'a> {
    generation: i64,
    uid: &'a str,
    created: &'a str,
    /// The stored body an update replaces.
    current: Option<&'a Value>,
    /// A new object's kind strategy, which gives its initial status
    /// ([`strategy::KindStrategy::finish`]).
    strategy: Option<&'static dyn strategy::KindStrategy>,
}

/// The body to store: server-owned metadata set (not `resourceVersion`: the commit gives
/// it), the labels admission adds merged in, and `status` server-owned (the client's is
/// ignored): on create, the kind's initial status (a Cluster's `Pending`) and what
/// admission computed; on update, the stored status with admission's fields merged in.
fn finish(mut object: Object, f: Finish<'_>, admitted: &admission::Admitted) -> Value {
    let Finish {
        generation,
        uid,
        created,
        current,
        strategy,
    } = f;
    let meta = object.metadata_mut();
    meta.resource_version = None;
    meta.generation = Some(generation);
    meta.uid = Some(uid.to_string());
    meta.creation_timestamp = Some(created.to_string());
    if !admitted.labels.is_empty() {
        let labels = meta.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in &admitted.labels {
            labels.insert(k.clone(), v.clone());
        }
    }
    *object.status_mut() = None;
    let mut body = object.to_json();
    let mut status: Map<String, Value> = current
        .and_then(|c| c.get("status"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(strategy) = strategy {
        strategy.finish(&mut status);
    }
    for (k, v) in &admitted.status {
        status.insert(k.clone(), v.clone());
    }
    if !status.is_empty()
        && let Some(obj) = body.as_object_mut()
    {
        obj.insert("status".into(), Value::Object(status));
    }
    body
}

/// `400`: a field of `kind`/`name`'s body disagrees with the URL (or what it implies).
fn mismatch(kind: &KindInfo, name: &str, field: &str, cause: String, message: String) -> ApiError {
    let mut details = Details::object(kind, name);
    details
        .causes
        .push(Cause::field(field, "FieldValueInvalid", cause));
    ApiError::bad_request(message).with_details(details)
}

fn already_exists(
    kind: &KindInfo,
    ws: Option<&str>,
    name: &str,
    version: Option<&str>,
) -> ApiError {
    let what = describe(kind, ws, name, version);
    let how = match version {
        Some(v) => format!(
            "versions are immutable once used: to change it, PUT it back to {}/{name}/versions/{v} with its metadata.resourceVersion, or POST a new spec.version",
            collection_path_in(kind, ws)
        ),
        None => format!(
            "to change it, GET it and PUT it back to {}/{name} with its metadata.resourceVersion",
            collection_path_in(kind, ws)
        ),
    };
    ApiError::new(
        StatusCode::CONFLICT,
        "AlreadyExists",
        format!("{what} already exists; {how}"),
    )
    .with_details(Details::object(kind, name))
}

fn modified(kind: &KindInfo, name: &str, sent: &str, current: &StoredObject) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "Conflict",
        format!(
            "{}/{name} was modified since it was read (metadata.resourceVersion {sent} was sent, the current one is {}): re-read it and retry the update",
            kind.kind, current.resource_version
        ),
    )
    .with_details(Details::object(kind, name))
    .with_header(
        HeaderName::from_static(OBJECT_MODIFIED_HEADER),
        "true",
    )
}

/// Parses a request body with the model and checks it is the kind its URL serves.
fn parse_body(kind: &'static KindInfo, body: &[u8]) -> Result<Object, ApiError> {
    // A legacy object sent to the current version's path: say how it is handled.
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let text = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default();
        if let Some(message) = wayfinder_model::legacy::misplaced(text("apiVersion"), text("kind"))
        {
            let name = value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut details = Details::object(kind, name);
            details.causes.push(Cause::field(
                "apiVersion",
                "FieldValueNotSupported",
                message.clone(),
            ));
            return Err(ApiError::bad_request(message).with_details(details));
        }
    }
    let object = wayfinder_model::parse_json("request body", body)
        .map_err(|e| ApiError::from_parse(kind, &e))?;
    let got = object.kind_info();
    if got != kind {
        let mut details = Details::object(kind, &object.metadata().name);
        details.causes.push(Cause::field(
            "kind",
            "FieldValueInvalid",
            format!("must be {} ({})", kind.kind, kind.api_version()),
        ));
        return Err(ApiError::bad_request(format!(
            "the body is a {} ({}), but {} serves {} ({}); send it to {}",
            got.kind,
            got.api_version(),
            collection_path(kind),
            kind.kind,
            kind.api_version(),
            collection_path(got)
        ))
        .with_details(details));
    }
    Ok(object)
}

fn not_found(kind: &KindInfo, ws: Option<&str>, name: &str, version: Option<&str>) -> ApiError {
    ApiError::not_found(format!(
        "{} not found; list them with GET {}",
        describe(kind, ws, name, version),
        collection_path_in(kind, ws)
    ))
    .with_details(Details::object(kind, name))
}
