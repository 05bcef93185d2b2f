//! `/resources/{group}/{version}[/workspaces/{ws}]/{plural}[/{name}[/versions[/{v}]]]`: the
//! generic REST handlers, driven by the model's kind registry.
//!
//! Every kind in [`wayfinder_model::kinds::ALL`] is served: platform kinds at
//! `/resources/{group}/{version}/{plural}[/{name}]`, workspaced kinds at
//! `/resources/{group}/{version}/workspaces/{ws}/{plural}[/{name}]`. Parsing, validation,
//! reference resolution, policy and cost are the model's (`crate::admission`); this
//! module adds what the server owns: names from the URL, `metadata.resourceVersion`,
//! `generation`, `uid` and `creationTimestamp`, optimistic concurrency, `dryRun=All`,
//! label selectors and the storage layout below.
//!
//! # Storage key scheme
//!
//! Rows are keyed `(group, kind, namespace, name)` ([`crate::store::ObjectKey`]); use [`object_key`]:
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
//! `admin` workspace always exists). Clusters live at [`crate::keys::cluster_key`]; [`crate::keys::list_clusters`]
//! lists them in every workspace.
//!
//! # Versioned kinds
//!
//! `POST …/{plural}` creates the version in `spec.version` (`409 AlreadyExists` when it
//! exists); `GET …/{plural}` lists every version of every name; `GET …/{name}` is the latest
//! published version (`404` naming the versions when none is published);
//! `GET …/{name}/versions` lists its versions; `GET|PUT|DELETE …/{name}/versions/{v}` is one
//! version (`PUT …/{name}` updates the version in the body's `spec.version`);
//! `DELETE …/{name}/versions` deletes every version (each in its own transaction; the answer
//! is the list of deleted versions). `DELETE …/{name}` without a version is refused.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wayfinder_model::kinds::{self, ACCESS_TOKEN, CLUSTER, KindInfo, WORKSPACE};
use wayfinder_model::legacy::{self, Handling, LegacyKind};
use wayfinder_model::{Object, Scope};

use crate::admission::{self, Admitted, Operation};
use crate::auth::{self, Principal, Verb, authorize};
pub use crate::keys::new_uid;
use crate::status::{ApiError, Cause, Details, OBJECT_MODIFIED_HEADER};
use crate::store::{
    Batch, Committed, Mutation, NewRow, ObjectKey, Reads, StoredObject, TokenRecord, TokenWrite,
    parse_stored,
};
use crate::{AppState, MAX_BODY_BYTES};

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

/// Every kind the model knows is served.
pub fn served_kinds() -> impl Iterator<Item = &'static KindInfo> {
    kinds::ALL.iter().copied()
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

pub use crate::keys::storage_name;
use crate::keys::{object_key, workspace_exists, workspace_keys};

fn served_list() -> String {
    served_kinds()
        .map(|k| format!("{} ({})", collection_path(k), k.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves the part of a path after `/resources/` (still percent-encoded).
pub fn resolve(rest: &str) -> Result<Target, ApiError> {
    let trimmed = rest.strip_suffix('/').unwrap_or(rest);
    let segments = trimmed
        .split('/')
        .map(percent_decode)
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| ApiError::bad_request("the path is not valid percent-encoded UTF-8"))?;
    let shape = || {
        ApiError::not_found(format!(
            "/resources/{rest} is not a resource path: expected /resources/{{group}}/{{version}}[/workspaces/{{workspace}}]/{{plural}}[/{{name}}[/versions/{{version}}]]; served: {}",
            served_list()
        ))
    };
    if segments.len() < 3 || segments.iter().any(|s| s.is_empty()) {
        return Err(shape());
    }
    let (group, version) = (segments[0].as_str(), segments[1].as_str());
    let workspaced_path = segments[2] == "workspaces" && segments.len() >= 5;
    let (workspace, plural, after) = if workspaced_path {
        (Some(segments[3].clone()), &segments[4], &segments[5..])
    } else {
        (None, &segments[2], &segments[3..])
    };
    let Some(kind) = kinds::by_plural(group, version, plural) else {
        if let Some(old) = legacy::by_plural(group, version, plural) {
            // The same path at the storage version, marked as reached through the legacy one.
            let current = rest.replacen(
                &format!("{group}/{version}/"),
                &format!("{group}/{}/", old.current.version),
                1,
            );
            let mut t = resolve(&current)?;
            t.legacy = Some(old);
            return Ok(t);
        }
        return Err(ApiError::not_found(format!(
            "the server does not serve {group}/{version}/{plural}; served: {}",
            served_list()
        )));
    };
    match (kind.scope, &workspace) {
        (Scope::Platform, Some(_)) => {
            return Err(ApiError::not_found(format!(
                "{} is platform-level, not in a workspace: use {}",
                kind.kind,
                collection_path(kind)
            )));
        }
        (Scope::Workspace, None) => {
            return Err(ApiError::not_found(format!(
                "{} is a workspaced kind: use {}",
                kind.kind,
                collection_path(kind)
            )));
        }
        _ => {}
    }
    let item = |name: &String, version| {
        Ok(Target {
            kind,
            workspace: workspace.clone(),
            name: Some(name.clone()),
            version,
            legacy: None,
        })
    };
    let not_versioned = || {
        ApiError::not_found(format!(
            "{} is not a versioned kind: use {}/{{name}}",
            kind.kind,
            collection_path(kind)
        ))
    };
    match after {
        [] => Ok(Target {
            kind,
            workspace: workspace.clone(),
            name: None,
            version: VersionSel::Latest,
            legacy: None,
        }),
        [name] => item(name, VersionSel::Latest),
        [name, v] if v == "versions" => {
            if kind.versioned {
                item(name, VersionSel::All)
            } else {
                Err(not_versioned())
            }
        }
        [name, v, ver] if v == "versions" => {
            if kind.versioned {
                item(name, VersionSel::One(ver.clone()))
            } else {
                Err(not_versioned())
            }
        }
        [_, v, ..] if v == "versions" => Err(shape()),
        [_, sub, ..] => Err(ApiError::not_found(format!(
            "{} has no subresource {sub:?}: use {}/{{name}}",
            kind.kind,
            collection_path(kind)
        ))),
    }
}

/// `%XX`-decodes one path segment; `None` when it is malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Query parameters the resource API understands; others are ignored.
#[derive(Debug, Default)]
struct Params {
    dry_run: bool,
    label_selector: Vec<LabelRequirement>,
    /// `limit`: at most this many items per list page (`None` or `0`: every item).
    limit: Option<usize>,
    /// `continue`: where the previous page ended.
    continue_token: Option<String>,
}

fn params(uri: &Uri, method: &Method) -> Result<Params, ApiError> {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| ApiError::bad_request(format!("the query string is not valid: {e}")))?
        .0;
    let mut p = Params::default();
    for (k, v) in pairs {
        match k.as_str() {
            "dryRun" if *method != Method::GET && *method != Method::HEAD => {
                if v != "All" {
                    return Err(ApiError::bad_request(format!(
                        "dryRun={v} is not supported: the only value is dryRun=All"
                    )));
                }
                p.dry_run = true;
            }
            "labelSelector" => p.label_selector.extend(parse_label_selector(&v)?),
            "limit" => {
                let n: usize = v.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "limit={v} is not valid: give a whole number of items per page, e.g. limit=100 (0 or no limit: every item)"
                    ))
                })?;
                p.limit = (n > 0).then_some(n);
            }
            "continue" if !v.is_empty() => p.continue_token = Some(v),
            _ => {}
        }
    }
    Ok(p)
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
    fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            LabelRequirement::Equals(k, v) => get(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            LabelRequirement::Exists(k) => get(k).is_some(),
            LabelRequirement::NotExists(k) => get(k).is_none(),
        }
    }
}

/// Parses `k=v,k2==v2,k3!=v3,k4,!k5` (equality-based selectors, as Kubernetes spells them).
pub fn parse_label_selector(s: &str) -> Result<Vec<LabelRequirement>, ApiError> {
    let bad = |part: &str, why: &str| {
        ApiError::bad_request(format!(
            "labelSelector {s:?}: {part:?} {why}; use comma-separated key=value, key!=value, key or !key"
        ))
    };
    let valid_key = |k: &str| {
        !k.is_empty()
            && k.len() <= 316
            && k.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_./".contains(&c))
    };
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let req = if let Some((k, v)) = part.split_once("!=") {
            LabelRequirement::NotEquals(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            LabelRequirement::Equals(k.trim().to_string(), v.trim().to_string())
        } else if let Some(k) = part.strip_prefix('!') {
            LabelRequirement::NotExists(k.trim().to_string())
        } else if part.contains(' ') || part.contains('(') {
            return Err(bad(
                part,
                "is a set-based requirement, which is not supported",
            ));
        } else {
            LabelRequirement::Exists(part.to_string())
        };
        let key = match &req {
            LabelRequirement::Equals(k, _)
            | LabelRequirement::NotEquals(k, _)
            | LabelRequirement::Exists(k)
            | LabelRequirement::NotExists(k) => k,
        };
        if !valid_key(key) {
            return Err(bad(part, "does not name a valid label key"));
        }
        out.push(req);
    }
    Ok(out)
}

/// The handler for every `/resources/...` path.
pub async fn handle(
    State(state): State<AppState>,
    principal: Principal,
    method: Method,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let rest = uri.path().strip_prefix("/resources/").unwrap_or_default();
    let target = resolve(rest)?;
    let params = params(&uri, &method)?;
    let body = body_bytes(body);
    let shared = state.store.is_shared();
    if !shared || matches!(method, Method::GET | Method::HEAD) {
        // Every write acknowledged before this request, by any replica, is seen by it:
        // a no-op where no other process writes.
        state.store.fresh().await?;
        let ctx = Ctx {
            state,
            principal,
            params,
        };
        return ctx.dispatch(&target, &method, &uri, body).await;
    }
    // A write on a shared store is tried first on this replica's cache as it is: what it
    // commits is guarded by the compares of everything it read (`Store::commit`), so a
    // stale cache can only make it refuse. A refusal that a write acknowledged elsewhere
    // could explain (the workspace, the object or a reference not found yet, a version
    // not seen yet, a policy's count) is answered only after trying again behind the read
    // barrier. One barrier per refused write instead of one per write.
    let ctx = Ctx {
        state,
        principal,
        params,
    };
    match ctx.dispatch(&target, &method, &uri, body.clone()).await {
        Err(e) if stale_could_explain(&e) => {
            ctx.state.store.fresh().await?;
            ctx.dispatch(&target, &method, &uri, body).await
        }
        answer => answer,
    }
}

/// Whether a refusal may come from a cache that has not yet seen a write acknowledged by
/// another replica.
fn stale_could_explain(e: &ApiError) -> bool {
    matches!(
        e.code,
        StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::CONFLICT
            | StatusCode::UNPROCESSABLE_ENTITY
    )
}

impl Ctx {
    async fn dispatch(
        &self,
        target: &Target,
        method: &Method,
        uri: &Uri,
        body: Result<Bytes, ApiError>,
    ) -> Result<Response, ApiError> {
        let ctx = self;
        if let Some(old) = target.legacy {
            return ctx.legacy(target, old, method, uri.path(), body).await;
        }
        let collection = target.name.is_none();
        let all_versions = target.version == VersionSel::All;
        match method {
            &Method::GET | &Method::HEAD if collection || all_versions => ctx.list(target).await,
            &Method::GET | &Method::HEAD => ctx.get(target).await,
            &Method::POST if collection => ctx.create(target, body?).await,
            &Method::PUT if !collection && !all_versions => ctx.update(target, body?).await,
            &Method::DELETE if !collection => ctx.delete(target).await,
            m => {
                let allow = if collection {
                    "GET, POST"
                } else if all_versions {
                    "GET, DELETE"
                } else {
                    "GET, PUT, DELETE"
                };
                Err(ApiError::method_not_allowed(m.as_str(), uri.path(), allow))
            }
        }
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(MAX_BODY_BYTES)
        } else {
            ApiError::bad_request(format!("cannot read the request body: {}", e.body_text()))
        }
    })
}

struct Ctx {
    state: AppState,
    principal: Principal,
    params: Params,
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

impl Ctx {
    /// A request at a legacy version: a served one converted to the storage version and the
    /// answer back ([`wayfinder_model::legacy::to_current`], [`to_legacy`](wayfinder_model::legacy::to_legacy));
    /// a migrated one refused, saying how to migrate.
    async fn legacy(
        &self,
        t: &Target,
        old: &'static LegacyKind,
        method: &Method,
        path: &str,
        body: Result<Bytes, ApiError>,
    ) -> Result<Response, ApiError> {
        if old.handling == Handling::Joined {
            return self.legacy_joined(t, old, method, path, body).await;
        }
        if let Some(refusal) = old.refusal() {
            return Err(match *method {
                Method::POST | Method::PUT => {
                    let mut details =
                        Details::object(t.kind, t.name.as_deref().unwrap_or_default());
                    details.causes.push(Cause::field(
                        "apiVersion",
                        "FieldValueNotSupported",
                        refusal.clone(),
                    ));
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", refusal)
                        .with_details(details)
                }
                _ => ApiError::not_found(refusal),
            });
        }
        let collection = t.name.is_none();
        let answer = match *method {
            Method::GET | Method::HEAD if collection => self.list(t).await?,
            Method::GET | Method::HEAD => self.get(t).await?,
            Method::POST if collection => {
                let body = current_body(t.kind, old, &body?)?;
                self.create(t, body).await?
            }
            Method::PUT if !collection => {
                let body = current_body(t.kind, old, &body?)?;
                self.update(t, body).await?
            }
            Method::DELETE if !collection => self.delete(t).await?,
            ref m => {
                let allow = if collection {
                    "GET, POST"
                } else {
                    "GET, PUT, DELETE"
                };
                return Err(ApiError::method_not_allowed(m.as_str(), path, allow));
            }
        };
        Ok(legacy_answer(answer, old).await)
    }

    fn dry_run(&self) -> bool {
        self.params.dry_run
    }

    /// `404` naming the workspace when a workspaced path names one that does not exist.
    async fn ensure_workspace(&self, t: &Target) -> Result<(), ApiError> {
        let Some(ws) = t.workspace.clone() else {
            return Ok(());
        };
        // From memory: no blocking.
        let store = &*self.state.store;
        if workspace_exists(store, &ws)? {
            return Ok(());
        }
        let known = workspace_keys(store)?;
        Err(ApiError::not_found(format!(
            "workspace {ws} does not exist; workspaces: {}; an administrator creates one with POST {}",
            known.join(", "),
            collection_path(&WORKSPACE)
        ))
        .with_details(Details::object(&WORKSPACE, &ws)))
    }

    async fn list(&self, t: &Target) -> Result<Response, ApiError> {
        let kind = t.kind;
        authorize(&self.principal, Verb::List, kind, t.workspace.as_deref())?;
        self.ensure_workspace(t).await?;
        let ns = t.workspace.clone().unwrap_or_default();
        let selector = &self.params.label_selector;
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
        let paged = self.params.limit.is_some() || self.params.continue_token.is_some();
        let (limit, token) = (
            self.params.limit.unwrap_or(usize::MAX),
            self.params.continue_token.as_deref(),
        );
        let page = if t.name.is_none() && selector.is_empty() {
            self.state.store.list_page(&filter, limit, token)
        } else {
            self.state
                .store
                .list_page_where(&filter, limit, token, &keep)
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
        let Json(mut body) = list_body(kind, page.listing.resource_version, items);
        if let Some(token) = page.continue_token {
            body["metadata"]["continue"] = json!(token);
            if let Some(n) = page.remaining {
                body["metadata"]["remainingItemCount"] = json!(n);
            }
        }
        Ok(Json(body).into_response())
    }

    async fn get(&self, t: &Target) -> Result<Response, ApiError> {
        let kind = t.kind;
        let ws = t.workspace.clone();
        let name = t.name.clone().unwrap_or_default();
        authorize(&self.principal, Verb::Get, kind, ws.as_deref())?;
        self.ensure_workspace(t).await?;
        if kind.versioned && t.version == VersionSel::Latest {
            let versions = admission::versions_of(&*self.state.store, kind, &name)?;
            if versions.is_empty() {
                return Err(not_found(kind, None, &name, None));
            }
            let objects: Vec<Object> = versions.iter().map(|(_, o)| o.clone()).collect();
            return match wayfinder_model::latest_published(objects.iter()) {
                Some(latest) => {
                    let v = latest.version().unwrap_or_default();
                    let body = versions
                        .into_iter()
                        .find(|(_, o)| o.version() == Some(v))
                        .map(|(b, _)| b)
                        .unwrap_or_default();
                    Ok(Json(body).into_response())
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
            VersionSel::One(v) => Some(v.clone()),
            _ => None,
        };
        let key = object_key(kind, ws.as_deref(), &name, version.as_deref());
        let found = self.state.store.get(&key)?;
        match found {
            Some(o) => Ok(Json(o.body).into_response()),
            None => Err(not_found(kind, ws.as_deref(), &name, version.as_deref())),
        }
    }

    async fn create(&self, t: &Target, body: Bytes) -> Result<Response, ApiError> {
        let kind = t.kind;
        let ws = t.workspace.clone();
        authorize(&self.principal, Verb::Create, kind, ws.as_deref())?;
        self.ensure_workspace(t).await?;
        crate::quota::check_object_size(kind, body.len())?;
        let mut object = parse_body(kind, &body)?;
        place(kind, ws.as_deref(), &mut object)?;
        let name = object.metadata().name.clone();
        let version = kind
            .versioned
            .then(|| object.version().map(str::to_string))
            .flatten();
        let mut token = None;
        if kind == &ACCESS_TOKEN {
            let roles = object.token_roles();
            if !self.principal.is_admin() && roles.iter().any(|r| r == auth::ADMIN_ROLE) {
                return Err(ApiError::forbidden(format!(
                    "{} may not create a token with the role {:?}: a token may carry only roles its creator holds, and this token is not an administrator",
                    self.principal.subject,
                    auth::ADMIN_ROLE
                )));
            }
            if let Object::AccessToken(t) = &object {
                crate::lineage::check_mint(&self.state, &self.principal, &name, &t.spec)?;
                if !self.dry_run() {
                    // A Wayfinder-shaped exchange token; only its hash is kept.
                    let expires =
                        crate::lineage::requested_expiry(&t.spec, std::time::SystemTime::now());
                    let ws = ws.as_deref().unwrap_or_default();
                    let claims =
                        auth::exchange_claims(&self.state.signer, ws, &name, &roles, expires);
                    token = Some(
                        self.state
                            .signer
                            .sign(&claims)
                            .map_err(|e| ApiError::internal(&e))?,
                    );
                }
            }
        }
        let maker = (kind == &ACCESS_TOKEN).then(|| self.principal.subject.clone());
        let quotas = self.state.quotas;
        let key = object_key(kind, ws.as_deref(), &name, version.as_deref());
        let uid = new_uid();
        let created = crate::now_rfc3339();
        let dry_run = self.dry_run();
        let v = version.clone();
        let w = ws.clone();
        let secret = token.clone();
        // One decision: admission, the object and (for an AccessToken) its token's hash.
        // The store decides it on a snapshot and again, before committing, only if
        // something it read (plans, policies, the workspace's other clusters) has changed
        // since: what the write commits was admitted against what is committed with it,
        // and concurrent creates decide in parallel and still share one commit.
        let (mut stored, committed) = self
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
                    let mut admitted = admission::admit(
                        r,
                        kind,
                        w.as_deref(),
                        &object,
                        Operation::Create,
                        dry_run,
                    )?;
                    if let Some(m) = &maker {
                        admitted.status.insert("createdBy".into(), json!(m));
                    }
                    let body = finish(
                        object.clone(),
                        Finish {
                            generation: 1,
                            uid: &uid,
                            created: &created,
                            current: None,
                            pending: kind == &CLUSTER,
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
                    if let (Some(secret), Some(ws)) = (&secret, w.as_deref()) {
                        // The token's hash commits with its object, or neither does.
                        let subject = auth::access_token_subject(ws, &name);
                        batch.tokens = auth::revoke(r, &subject)?;
                        batch.tokens.push(TokenWrite::Put {
                            hash: auth::hash_token(secret),
                            record: TokenRecord {
                                subject,
                                roles: auth::token_roles(ws, &object.token_roles()),
                                created: created.clone(),
                                minted_by: maker.clone().unwrap_or_default(),
                            },
                        });
                    }
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
        if let Some(token) = token
            && let Some(status) = stored.get_mut("status").and_then(Value::as_object_mut)
        {
            // Returned this once; only its hash is kept.
            status.insert("token".into(), json!(token));
        }
        if !dry_run {
            tracing::info!(subject = %self.principal.subject, object = %describe(kind, ws.as_deref(), &name, version.as_deref()), "created");
        }
        let warnings = crate::prices::warning_headers(&stored);
        Ok((StatusCode::CREATED, warnings, Json(stored)).into_response())
    }

    async fn update(&self, t: &Target, body: Bytes) -> Result<Response, ApiError> {
        let kind = t.kind;
        let ws = t.workspace.clone();
        let name = t.name.clone().unwrap_or_default();
        authorize(&self.principal, Verb::Update, kind, ws.as_deref())?;
        self.ensure_workspace(t).await?;
        crate::quota::check_object_size(kind, body.len())?;
        let mut object = parse_body(kind, &body)?;
        let body_name = object.metadata().name.clone();
        if body_name != name {
            let mut details = Details::object(kind, &name);
            details.causes.push(Cause::field(
                "metadata.name",
                "FieldValueInvalid",
                format!("must be {name:?}, the name in the URL"),
            ));
            return Err(ApiError::bad_request(format!(
                "metadata.name {body_name:?} does not match the name in the URL {name:?}; objects cannot be renamed"
            ))
            .with_details(details));
        }
        place(kind, ws.as_deref(), &mut object)?;
        let version = if kind.versioned {
            let body_version = object.version().unwrap_or_default().to_string();
            if let VersionSel::One(v) = &t.version
                && *v != body_version
            {
                let mut details = Details::object(kind, &name);
                details.causes.push(Cause::field(
                    "spec.version",
                    "FieldValueInvalid",
                    format!("must be {v:?}, the version in the URL"),
                ));
                return Err(ApiError::bad_request(format!(
                    "spec.version {body_version:?} does not match the version in the URL {v:?}; to make a new version, POST it to {}",
                    collection_path(kind)
                ))
                .with_details(details));
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
        let dry_run = self.dry_run();
        let (w, v) = (ws.clone(), version.clone());
        let quotas = self.state.quotas;
        let (mut stored, committed) = self
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
                    let spec_changed = current.body.get("spec") != Some(&object.spec_json());
                    let generation = current.generation + i64::from(spec_changed);
                    let body = finish(
                        object.clone(),
                        Finish {
                            generation,
                            uid: &current.uid,
                            created: &current.created,
                            current: Some(&current.body),
                            pending: false,
                        },
                        &admitted,
                    );
                    let row = NewRow {
                        body: body.clone(),
                        generation,
                        uid: current.uid,
                        created: current.created,
                    };
                    Ok::<_, ApiError>((Batch::object(key.clone(), Mutation::Put(row)), body))
                })
            })
            .await??;
        set_resource_version(&mut stored, &committed, 0);
        if !dry_run {
            tracing::info!(subject = %self.principal.subject, object = %describe(kind, ws.as_deref(), t.name.as_deref().unwrap_or_default(), version.as_deref()), "updated");
        }
        let warnings = crate::prices::warning_headers(&stored);
        Ok((warnings, Json(stored)).into_response())
    }

    async fn delete(&self, t: &Target) -> Result<Response, ApiError> {
        let kind = t.kind;
        let ws = t.workspace.clone();
        let name = t.name.clone().unwrap_or_default();
        authorize(&self.principal, Verb::Delete, kind, ws.as_deref())?;
        self.ensure_workspace(t).await?;
        if t.version == VersionSel::Latest && kind.versioned {
            return Err(ApiError::bad_request(format!(
                "{} is versioned: delete one version with DELETE {}/{name}/versions/{{version}}, or every version with DELETE {}/{name}/versions",
                kind.kind,
                collection_path(kind),
                collection_path(kind)
            ))
            .with_details(Details::object(kind, &name)));
        }
        let dry_run = self.dry_run();
        let (w, n, sel) = (ws.clone(), name.clone(), t.version.clone());
        // One commit: the dependants check and every version's delete commit together,
        // or nothing is deleted.
        let ((versions, mut deleted, marked), committed) = self
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
                    for version in &versions {
                        let key = object_key(kind, w.as_deref(), &n, version.as_deref());
                        let Some(current) = r.get(&key)? else {
                            return Err(not_found(kind, w.as_deref(), &n, version.as_deref()));
                        };
                        // Clusters are deleted in two phases: marked Deleting here, removed
                        // by the reconciler once the cloud cluster is gone.
                        let (mutation, body) = if kind == &CLUSTER {
                            crate::reconciler::deletion_mutation(current)
                        } else {
                            (Mutation::Delete, current.body)
                        };
                        batch.objects.push((key, mutation));
                        if kind == &ACCESS_TOKEN
                            && let Some(ws) = w.as_deref()
                        {
                            // Revoked with the object, in the same commit.
                            let subject = auth::access_token_subject(ws, &n);
                            let (writes, _) = crate::lineage::revoke_with_minted(r, &subject)?;
                            batch.tokens.extend(writes);
                        }
                        deleted.push(body);
                    }
                    Ok::<_, ApiError>((batch, (versions, deleted, kind == &CLUSTER)))
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
                tracing::info!(subject = %self.principal.subject, object = %describe(kind, ws.as_deref(), &name, version.as_deref()), "deleted");
            }
        }
        if t.version == VersionSel::All {
            return Ok(list_body(kind, committed.at, deleted).into_response());
        }
        Ok(Json(deleted.pop().unwrap_or_default()).into_response())
    }
}

/// What a joined legacy write ([`Ctx::legacy_joined`]) decided for one of the objects it
/// commits: where it goes, what it is, what is there now and what admission added.
struct JoinedWrite {
    key: ObjectKey,
    object: Object,
    current: Option<StoredObject>,
    admitted: Admitted,
}

impl Ctx {
    /// A request at a legacy version that is several current objects
    /// ([`Handling::Joined`]): a v2beta1 ClusterPlan is a v2beta2 plan, version
    /// [`legacy::MIGRATED_VERSION`], and the ComputeTemplate its node pools became.
    ///
    /// - `POST`/`PUT`: the model's [`legacy::migrate`] makes the objects; each is admitted
    ///   in full as a direct create or update of it would be, and all are committed in one
    ///   write, or none (a dry run admits all and writes nothing). A produced object of that
    ///   name that exists and was not produced from this legacy object
    ///   ([`legacy::produced_by`]) is a `409` naming it, never overwritten. The answer is
    ///   the legacy object read back, with a `Warning` per object written.
    /// - `GET`: the plan version joined with its template ([`legacy::to_legacy_joined`]);
    ///   `…/{name}` is version [`legacy::MIGRATED_VERSION`], `…/{name}/versions/{v}` another.
    /// - `DELETE`: the plan version and what was produced from it, in one write.
    ///
    /// Every store call of a joined legacy object is here: one recorded read and one write
    /// transaction for a create or update, one write transaction for a delete.
    async fn legacy_joined(
        &self,
        t: &Target,
        old: &'static LegacyKind,
        method: &Method,
        path: &str,
        body: Result<Bytes, ApiError>,
    ) -> Result<Response, ApiError> {
        let kind = t.kind;
        let collection = t.name.is_none();
        let one = !collection && t.version != VersionSel::All;
        let version = match &t.version {
            VersionSel::One(v) => v.clone(),
            _ => legacy::MIGRATED_VERSION.to_string(),
        };
        let store = self.state.store.clone();
        let principal = self.principal.clone();
        let dry_run = self.dry_run();
        // The legacy object as it reads back: the plan joined with what it names.
        let show = |plan: &Value| -> Result<Value, ApiError> {
            let Some(object) = parse_stored(plan) else {
                return Ok(plan.clone());
            };
            let mut joined = Vec::new();
            for (k, n) in legacy::joined_with(old, &object) {
                authorize(&principal, Verb::Get, k, None)?;
                if let Some(o) = store
                    .get(&object_key(k, None, &n, None))?
                    .and_then(|o| parse_stored(&o.body))
                {
                    joined.push(o);
                }
            }
            Ok(legacy::to_legacy_joined(old, &object, &joined).unwrap_or_else(|| plan.clone()))
        };
        let warnings = |verb: &str, bodies: &[Value]| {
            let mut headers = axum::http::HeaderMap::new();
            for b in bodies {
                if let Some(o) = parse_stored(b) {
                    let what = match o.version() {
                        Some(v) => format!("{} version {v}", o.display_name()),
                        None => o.display_name(),
                    };
                    let text = format!(
                        "{} ({}) {verb} for {}/{} ({})",
                        what,
                        o.kind_info().api_version(),
                        kind.kind,
                        t.name.clone().unwrap_or_else(|| o.metadata().name.clone()),
                        old.api_version()
                    );
                    if !dry_run {
                        tracing::info!(subject = %principal.subject, object = %what, "{verb}");
                    }
                    if let Some(v) = crate::prices::warning(&text) {
                        headers.append("warning", v);
                    }
                }
            }
            headers
        };
        match *method {
            Method::GET | Method::HEAD if !one => {
                authorize(&principal, Verb::List, kind, None)?;
                let (rv, items) = store.list(kind.group, kind.kind, "")?;
                let selector = &self.params.label_selector;
                let mut shown = Vec::new();
                for o in items {
                    let name = o.body.pointer("/metadata/name").and_then(Value::as_str);
                    let labels = o
                        .body
                        .pointer("/metadata/labels")
                        .and_then(Value::as_object);
                    if t.name.as_deref().is_none_or(|n| Some(n) == name)
                        && selector.iter().all(|r| r.matches(labels))
                    {
                        shown.push(show(&o.body)?);
                    }
                }
                if let (Some(name), true) = (&t.name, shown.is_empty()) {
                    return Err(not_found(kind, None, name, None));
                }
                let mut list = list_body(kind, rv, shown).0;
                list["apiVersion"] = json!(old.api_version());
                Ok(Json(list).into_response())
            }
            Method::GET | Method::HEAD => {
                authorize(&principal, Verb::Get, kind, None)?;
                let name = t.name.clone().unwrap_or_default();
                match store.get(&object_key(kind, None, &name, Some(&version)))? {
                    Some(o) => Ok(Json(show(&o.body)?).into_response()),
                    None => Err(not_found(kind, None, &name, Some(&version))),
                }
            }
            Method::POST if collection => {
                let body = body?;
                self.joined_write(t, old, body, None, warnings, show).await
            }
            Method::PUT if one => {
                let body = body?;
                self.joined_write(t, old, body, Some(version), warnings, show)
                    .await
            }
            Method::DELETE if one => {
                authorize(&principal, Verb::Delete, kind, None)?;
                let name = t.name.clone().unwrap_or_default();
                let n = name.clone();
                let v = version.clone();
                let who = principal.clone();
                let deleted = store
                    .run(move |s| {
                        // One transaction: the plan version and what was produced from it
                        // are deleted together, or neither is (a dependant blocks both).
                        s.commit(dry_run, None, |r: &dyn Reads| {
                            let key = object_key(kind, None, &n, Some(&v));
                            let Some(current) = r.get(&key)? else {
                                return Err(not_found(kind, None, &n, Some(&v)));
                            };
                            admission::check_delete(r, kind, None, &n, &[Some(v.clone())])?;
                            let mut batch = Batch::object(key, Mutation::Delete);
                            let mut deleted = vec![current.body.clone()];
                            let joined = parse_stored(&current.body)
                                .map(|p| legacy::joined_with(old, &p))
                                .unwrap_or_default();
                            for (k, jn) in joined {
                                let key = object_key(k, None, &jn, None);
                                let Some(j) = r.get(&key)? else { continue };
                                // Only what this legacy object produced goes with it.
                                if !parse_stored(&j.body)
                                    .is_some_and(|o| legacy::produced_by(&o, old, &n))
                                {
                                    continue;
                                }
                                authorize(&who, Verb::Delete, k, None)?;
                                // Checked as the batch leaves things: the plan version that
                                // depends on it goes in the same write.
                                let gone: Vec<ObjectKey> =
                                    batch.objects.iter().map(|(k, _)| k.clone()).collect();
                                let after = crate::store::Without {
                                    reads: r,
                                    gone: &gone,
                                };
                                admission::check_delete(&after, k, None, &jn, &[None])?;
                                batch.objects.push((key, Mutation::Delete));
                                deleted.push(j.body);
                            }
                            Ok::<_, ApiError>((batch, deleted))
                        })
                        .map(|(deleted, _)| deleted)
                    })
                    .await??;
                let headers = warnings("deleted", &deleted);
                let shown = parse_stored(&deleted[0])
                    .and_then(|plan| {
                        let joined: Vec<Object> =
                            deleted[1..].iter().filter_map(parse_stored).collect();
                        legacy::to_legacy_joined(old, &plan, &joined)
                    })
                    .unwrap_or_else(|| deleted[0].clone());
                Ok((headers, Json(shown)).into_response())
            }
            ref m => {
                let allow = if collection {
                    "GET, POST"
                } else if one {
                    "GET, PUT, DELETE"
                } else {
                    "GET"
                };
                Err(ApiError::method_not_allowed(m.as_str(), path, allow))
            }
        }
    }

    /// The create (`version` `None`) or update of a joined legacy object: see
    /// [`Ctx::legacy_joined`].
    async fn joined_write(
        &self,
        t: &Target,
        old: &'static LegacyKind,
        body: Bytes,
        version: Option<String>,
        warnings: impl Fn(&str, &[Value]) -> axum::http::HeaderMap,
        show: impl Fn(&Value) -> Result<Value, ApiError>,
    ) -> Result<Response, ApiError> {
        let kind = t.kind;
        let update = version.is_some();
        let verb = if update { Verb::Update } else { Verb::Create };
        authorize(&self.principal, verb, kind, None)?;
        crate::quota::check_object_size(kind, body.len())?;
        let value: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            // parse_body says what is wrong with it.
            Err(_) => {
                return Err(parse_body(kind, &body)
                    .err()
                    .unwrap_or_else(|| ApiError::bad_request("the body is not JSON")));
            }
        };
        if value.get("apiVersion").and_then(Value::as_str) != Some(old.api_version().as_str()) {
            // A body at the storage version is that one object, written as at its own path.
            return match version {
                Some(_) => self.update(t, body).await,
                None => self.create(t, body).await,
            };
        }
        let text = |p: &str| {
            value
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let name = text("/metadata/name");
        let migration = legacy::migrate(&value).map_err(|errors| {
            ApiError::refused(
                kind,
                &name,
                errors
                    .iter()
                    .map(|e| {
                        Cause::field(e.path.to_string(), "FieldValueInvalid", e.message.clone())
                    })
                    .collect(),
            )
        })?;
        let mut objects = migration.objects;
        for o in objects.iter_mut() {
            let k = o.kind_info();
            if k != kind {
                // A produced object may be created, or overwritten when it is this plan's.
                authorize(&self.principal, Verb::Create, k, None)?;
                authorize(&self.principal, Verb::Update, k, None)?;
            }
            place(k, None, o)?;
        }
        if let (Some(v), Some(url_name)) = (&version, &t.name) {
            let bad = |field: &str, want: &str, message: String| {
                let mut details = Details::object(kind, url_name);
                details.causes.push(Cause::field(
                    field,
                    "FieldValueInvalid",
                    format!("must be {want:?}"),
                ));
                Err::<(), _>(ApiError::bad_request(message).with_details(details))
            };
            if name != *url_name {
                bad(
                    "metadata.name",
                    url_name,
                    format!(
                        "metadata.name {name:?} does not match the name in the URL {url_name:?}; objects cannot be renamed"
                    ),
                )?;
            }
            if objects[0].version() != Some(v.as_str()) {
                bad(
                    "apiVersion",
                    v,
                    format!(
                        "a {} is version {} of its name; version {v} is read and written at {}",
                        old.describe(),
                        legacy::MIGRATED_VERSION,
                        collection_path(kind)
                    ),
                )?;
            }
        }
        let sent_rv = Some(text("/metadata/resourceVersion")).filter(|rv| !rv.is_empty());
        let dry_run = self.dry_run();
        let fresh: Vec<(String, String)> = objects
            .iter()
            .map(|_| (new_uid(), crate::now_rfc3339()))
            .collect();
        let legacy_name = migration.name.clone();
        let decide = move |r: &dyn Reads| -> Result<Vec<JoinedWrite>, ApiError> {
            let mut out = Vec::new();
            for (i, object) in objects.iter().enumerate() {
                let k = object.kind_info();
                let n = object.metadata().name.clone();
                let v = object.version();
                let key = object_key(k, None, &n, v);
                let current = r.get(&key)?;
                let op = match (&current, i == 0) {
                    (Some(_), true) if !update => return Err(already_exists(k, None, &n, v)),
                    (None, true) if update => return Err(not_found(k, None, &n, v)),
                    (Some(c), true) => {
                        if let Some(sent) = &sent_rv
                            && *sent != c.resource_version.to_string()
                        {
                            return Err(modified(k, &n, sent, c));
                        }
                        Operation::Update {
                            current: c.body.clone(),
                        }
                    }
                    (Some(c), false) => {
                        if !parse_stored(&c.body)
                            .is_some_and(|o| legacy::produced_by(&o, old, &legacy_name))
                        {
                            return Err(not_produced(k, &n, old, &legacy_name));
                        }
                        Operation::Update {
                            current: c.body.clone(),
                        }
                    }
                    (None, _) => Operation::Create,
                };
                let admitted = admission::admit(r, k, None, object, op, dry_run)?;
                out.push(JoinedWrite {
                    key,
                    object: object.clone(),
                    current,
                    admitted,
                });
            }
            Ok(out)
        };
        let build = move |w: &JoinedWrite, fresh: &(String, String)| {
            let (generation, uid, created) = match &w.current {
                Some(c) => {
                    let changed = c.body.get("spec") != Some(&w.object.spec_json());
                    (
                        c.generation + i64::from(changed),
                        c.uid.clone(),
                        c.created.clone(),
                    )
                }
                None => (1, fresh.0.clone(), fresh.1.clone()),
            };
            let body = finish(
                w.object.clone(),
                Finish {
                    generation,
                    uid: &uid,
                    created: &created,
                    current: w.current.as_ref().map(|c| &c.body),
                    pending: false,
                },
                &w.admitted,
            );
            NewRow {
                body,
                generation,
                uid,
                created,
            }
        };
        let rows: Vec<NewRow> = self
            .state
            .store
            .run(move |s| {
                // As for a create: decided on a snapshot (again when what it read changed
                // before the write could commit); every object in the one write.
                s.commit(dry_run, None, |r: &dyn Reads| {
                    let decided = decide(r)?;
                    let mut batch = Batch::default();
                    let mut rows = Vec::new();
                    for (w, f) in decided.iter().zip(&fresh) {
                        let row = build(w, f);
                        batch
                            .objects
                            .push((w.key.clone(), Mutation::Put(row.clone())));
                        rows.push(row);
                    }
                    Ok::<_, ApiError>((batch, rows))
                })
                .map(|(mut rows, committed)| {
                    for (i, row) in rows.iter_mut().enumerate() {
                        set_resource_version(&mut row.body, &committed, i);
                    }
                    rows
                })
            })
            .await??;
        let bodies: Vec<Value> = rows.into_iter().map(|r| r.body).collect();
        let headers = warnings(if update { "updated" } else { "created" }, &bodies);
        // Read back as the legacy object, from what was written (not what is stored now).
        let shown = match parse_stored(&bodies[0]) {
            Some(plan) => {
                let joined: Vec<Object> = bodies[1..].iter().filter_map(parse_stored).collect();
                legacy::to_legacy_joined(old, &plan, &joined).unwrap_or_else(|| bodies[0].clone())
            }
            None => show(&bodies[0])?,
        };
        let status = if update {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok((status, headers, Json(shown)).into_response())
    }
}

/// `409`: a produced object's name is taken by one this legacy object did not produce.
fn not_produced(kind: &KindInfo, name: &str, old: &LegacyKind, legacy_name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "AlreadyExists",
        format!(
            "{kind_name}/{name} already exists and was not produced from {legacy_kind}/{legacy_name} ({api}): it has no annotation {ann}: {legacy_kind}/{legacy_name}, so it is not overwritten; rename or delete {kind_name}/{name}, or migrate the definition with `{cmd}` and give the {kind_name} another name",
            kind_name = kind.kind,
            legacy_kind = old.current.kind,
            api = old.api_version(),
            ann = legacy::PRODUCED_BY_ANNOTATION,
            cmd = legacy::MIGRATE_COMMAND,
        ),
    )
    .with_details(Details::object(kind, name))
}

/// Puts the version the `i`th object write of `committed` took into `body`'s
/// `metadata.resourceVersion`: the version is learnt from the commit, never computed before.
fn set_resource_version(body: &mut Value, committed: &Committed, i: usize) {
    let rv = committed.versions.get(i).copied().unwrap_or(committed.at);
    crate::store::cache::set_resource_version(body, rv);
}

fn list_body(kind: &KindInfo, rv: i64, items: Vec<Value>) -> Json<Value> {
    Json(json!({
        "apiVersion": kind.api_version(),
        "kind": format!("{}List", kind.kind),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
}

trait TokenRoles {
    fn token_roles(&self) -> Vec<String>;
}

impl TokenRoles for Object {
    fn token_roles(&self) -> Vec<String> {
        match self {
            Object::AccessToken(t) => t.spec.roles.clone().unwrap_or_default(),
            _ => Vec::new(),
        }
    }
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
                let mut details = Details::object(kind, &meta.name);
                details.causes.push(Cause::field(
                    "metadata.namespace",
                    "FieldValueInvalid",
                    format!("must be {want:?} (workspace {ws}, from the URL) or left out"),
                ));
                return Err(ApiError::bad_request(format!(
                    "metadata.namespace {ns:?} does not match workspace {ws} in the URL; leave it out or set {want:?}"
                ))
                .with_details(details));
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
    /// A new Cluster: `status: Pending`.
    pending: bool,
}

/// The body to store: server-owned metadata set (not `resourceVersion`: the commit gives
/// it), the labels admission adds merged in, and `status` server-owned (the client's is
/// ignored): on create, what admission computed (for a Cluster also `status: Pending`); on
/// update, the stored status with admission's fields merged in.
fn finish(mut object: Object, f: Finish<'_>, admitted: &admission::Admitted) -> Value {
    let Finish {
        generation,
        uid,
        created,
        current,
        pending,
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
    let mut status = current
        .and_then(|c| c.get("status"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if pending {
        status.insert("status".into(), json!("Pending"));
        status.insert(
            "message".into(),
            json!("accepted; waiting to be provisioned"),
        );
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
/// A request body at a legacy version as the storage version's. A body already at the
/// storage version passes as it is; one the conversion cannot place is refused with a cause
/// per field.
fn current_body(kind: &'static KindInfo, old: &LegacyKind, body: &[u8]) -> Result<Bytes, ApiError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        // parse_body says what is wrong with it.
        Err(_) => return Ok(Bytes::copy_from_slice(body)),
    };
    if value.get("apiVersion").and_then(Value::as_str) != Some(old.api_version().as_str()) {
        return Ok(Bytes::copy_from_slice(body));
    }
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match legacy::to_current(&value) {
        Ok(object) => Ok(Bytes::from(serde_json::to_vec(&object).unwrap_or_default())),
        Err(errors) => Err(ApiError::refused(
            kind,
            &name,
            errors
                .iter()
                .map(|e| Cause::field(e.path.to_string(), "FieldValueInvalid", e.message.clone()))
                .collect(),
        )),
    }
}

/// A successful answer (an object or a list) as the legacy version shows it; anything else
/// as it is.
async fn legacy_answer(answer: Response, old: &LegacyKind) -> Response {
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "could not read the answer to convert it",
        )
        .into_response();
    };
    let as_is = |parts, bytes| Response::from_parts(parts, axum::body::Body::from(bytes));
    if !parts.status.is_success() {
        return as_is(parts, bytes);
    }
    let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) else {
        return as_is(parts, bytes);
    };
    let convert = |v: &mut Value| {
        if let Ok(object) = wayfinder_model::parse::object_from_value("stored", 0, v.clone())
            && let Some(shown) = legacy::to_legacy(old, &object)
        {
            *v = shown;
        }
    };
    if let Some(items) = json.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(convert);
        if let Some(v) = json.get_mut("apiVersion") {
            *v = Value::String(old.api_version());
        }
    } else {
        convert(&mut json);
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        axum::body::Body::from(serde_json::to_vec(&json).unwrap_or_default()),
    )
}

fn parse_body(kind: &'static KindInfo, body: &[u8]) -> Result<Object, ApiError> {
    // A legacy object sent to the current version's path: say how it is handled.
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let text = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default();
        if let Some(message) = legacy::misplaced(text("apiVersion"), text("kind")) {
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
