//! `/resources/{group}/{version}[/workspaces/{ws}]/{plural}[/{name}]`: the generic REST
//! handlers, driven by the model's kind registry.
//!
//! Every kind in [`wayfinder_model::kinds::ALL`] with [`Scope::Platform`] is served at
//! `/resources/{group}/{version}/{plural}`; workspaced paths answer `404` until workspaced
//! kinds are served. Parsing and validation are the model's; this module adds what the
//! server owns: names from the URL, `metadata.resourceVersion`, `generation`, `uid` and
//! `creationTimestamp`, optimistic concurrency, `dryRun=All` and label selectors.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wayfinder_model::kinds::{self, KindInfo};
use wayfinder_model::{Object, Scope};

use crate::auth::{Principal, Verb, authorize};
use crate::status::{ApiError, Cause, Details, OBJECT_MODIFIED_HEADER};
use crate::store::{Mutation, NewRow, ObjectKey, StoredObject};
use crate::{AppState, MAX_BODY_BYTES};

/// What a `/resources/...` path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Collection(&'static KindInfo),
    Item(&'static KindInfo, String),
}

/// The kinds this server serves: platform-level ones that are not versioned. Versioned
/// kinds (ClusterPlan, Package) need per-version storage and `/versions/{v}` paths, and
/// workspaced kinds need workspace roles; both come with the control-plane work.
pub fn served_kinds() -> impl Iterator<Item = &'static KindInfo> {
    kinds::ALL
        .iter()
        .copied()
        .filter(|k| k.scope == Scope::Platform && !k.versioned)
}

/// The collection path of a served kind.
pub fn collection_path(kind: &KindInfo) -> String {
    format!("/resources/{}/{}/{}", kind.group, kind.version, kind.plural)
}

fn served_list() -> String {
    let list: Vec<String> = served_kinds()
        .map(|k| format!("{} ({})", collection_path(k), k.kind))
        .collect();
    if list.is_empty() {
        "nothing yet".to_string()
    } else {
        list.join(", ")
    }
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
            "/resources/{rest} is not a resource path: expected /resources/{{group}}/{{version}}/{{plural}}[/{{name}}]; served: {}",
            served_list()
        ))
    };
    if segments.len() < 3 || segments.iter().any(|s| s.is_empty()) {
        return Err(shape());
    }
    let (group, version) = (segments[0].as_str(), segments[1].as_str());
    let workspace_kind = kinds::by_plural(group, version, "workspaces");
    if segments[2] == "workspaces" && (segments.len() >= 5 || workspace_kind.is_none()) {
        return Err(workspaced_not_served(group, version, &segments[3..]));
    }
    let Some(kind) = kinds::by_plural(group, version, &segments[2]) else {
        return Err(ApiError::not_found(format!(
            "the server does not serve {group}/{version}/{}; served: {}",
            segments[2],
            served_list()
        )));
    };
    if kind.scope != Scope::Platform {
        return Err(ApiError::not_found(format!(
            "{} is a workspaced kind, and workspaced kinds are not served yet; served: {}",
            kind.kind,
            served_list()
        )));
    }
    match &segments[3..] {
        [] => Ok(Target::Collection(kind)),
        [name] => Ok(Target::Item(kind, name.clone())),
        [_, versions, ..] if versions == "versions" => Err(ApiError::not_found(format!(
            "{} is not a versioned kind: use {}/{{name}}",
            kind.kind,
            collection_path(kind)
        ))),
        [_, sub, ..] => Err(ApiError::not_found(format!(
            "{} has no subresource {sub:?}: use {}/{{name}}",
            kind.kind,
            collection_path(kind)
        ))),
    }
}

fn workspaced_not_served(group: &str, version: &str, after_workspaces: &[String]) -> ApiError {
    if let [_, plural, ..] = after_workspaces
        && let Some(kind) = kinds::by_plural(group, version, plural)
        && kind.scope == Scope::Platform
    {
        return ApiError::not_found(format!(
            "{} is platform-level, not in a workspace: use {}",
            kind.kind,
            collection_path(kind)
        ));
    }
    ApiError::not_found(format!(
        "workspaced kinds (/resources/{{group}}/{{version}}/workspaces/{{workspace}}/...) are not served yet; served: {}",
        served_list()
    ))
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
    let ctx = Ctx {
        state,
        principal,
        params,
    };
    match (&target, &method) {
        (Target::Collection(kind), &Method::GET | &Method::HEAD) => ctx.list(kind).await,
        (Target::Collection(kind), &Method::POST) => ctx.create(kind, body_bytes(body)?).await,
        (Target::Item(kind, name), &Method::GET | &Method::HEAD) => ctx.get(kind, name).await,
        (Target::Item(kind, name), &Method::PUT) => ctx.update(kind, name, body_bytes(body)?).await,
        (Target::Item(kind, name), &Method::DELETE) => ctx.delete(kind, name).await,
        (Target::Collection(_), m) => Err(ApiError::method_not_allowed(
            m.as_str(),
            uri.path(),
            "GET, POST",
        )),
        (Target::Item(..), m) => Err(ApiError::method_not_allowed(
            m.as_str(),
            uri.path(),
            "GET, PUT, DELETE",
        )),
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

impl Ctx {
    async fn list(&self, kind: &'static KindInfo) -> Result<Response, ApiError> {
        authorize(&self.principal, Verb::List, kind, None)?;
        let (rv, items) = self
            .state
            .store
            .run(move |s| s.list(kind.group, kind.kind, ""))
            .await??;
        let selector = &self.params.label_selector;
        let items: Vec<Value> = items
            .into_iter()
            .map(|o| o.body)
            .filter(|body| {
                let labels = body
                    .get("metadata")
                    .and_then(|m| m.get("labels"))
                    .and_then(Value::as_object);
                selector.iter().all(|r| r.matches(labels))
            })
            .collect();
        Ok(Json(json!({
            "apiVersion": kind.api_version(),
            "kind": format!("{}List", kind.kind),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        }))
        .into_response())
    }

    async fn get(&self, kind: &'static KindInfo, name: &str) -> Result<Response, ApiError> {
        authorize(&self.principal, Verb::Get, kind, None)?;
        let key = ObjectKey::platform(kind, name);
        let found = self.state.store.run(move |s| s.get(&key)).await??;
        match found {
            Some(o) => Ok(Json(o.body).into_response()),
            None => Err(not_found(kind, name)),
        }
    }

    async fn create(&self, kind: &'static KindInfo, body: Bytes) -> Result<Response, ApiError> {
        authorize(&self.principal, Verb::Create, kind, None)?;
        let mut object = parse_body(kind, &body)?;
        let name = object.metadata().name.clone();
        validate(kind, &object)?;
        let key = ObjectKey::platform(kind, &name);
        let uid = new_uid();
        let created = crate::now_rfc3339();
        let dry_run = self.params.dry_run;
        let stored = self
            .state
            .store
            .run(move |s| {
                s.mutate(&key, dry_run, |current, next_rv| {
                    if current.is_some() {
                        return Err(already_exists(kind, &key.name));
                    }
                    // Values the client sent for server-owned fields are ignored.
                    let meta = object.metadata_mut();
                    meta.resource_version = Some(next_rv.to_string());
                    meta.generation = Some(1);
                    meta.uid = Some(uid.clone());
                    meta.creation_timestamp = Some(created.clone());
                    normalise_platform_meta(&mut object);
                    let body = object.to_json();
                    let row = NewRow {
                        body: body.clone(),
                        generation: 1,
                        uid,
                        created,
                    };
                    Ok((Mutation::Put(row), body))
                })
            })
            .await??;
        if !dry_run {
            tracing::info!(subject = %self.principal.subject, object = %format_args!("{}/{name}", kind.kind), "created");
        }
        Ok((StatusCode::CREATED, Json(stored)).into_response())
    }

    async fn update(
        &self,
        kind: &'static KindInfo,
        name: &str,
        body: Bytes,
    ) -> Result<Response, ApiError> {
        authorize(&self.principal, Verb::Update, kind, None)?;
        let mut object = parse_body(kind, &body)?;
        let body_name = object.metadata().name.clone();
        if body_name != name {
            let mut details = Details::object(kind, name);
            details.causes.push(Cause {
                field: "metadata.name".to_string(),
                reason: "FieldValueInvalid".to_string(),
                message: format!("must be {name:?}, the name in the URL"),
            });
            return Err(ApiError::bad_request(format!(
                "metadata.name {body_name:?} does not match the name in the URL {name:?}; objects cannot be renamed"
            ))
            .with_details(details));
        }
        validate(kind, &object)?;
        let sent_rv = object
            .metadata()
            .resource_version
            .clone()
            .filter(|rv| !rv.is_empty());
        let key = ObjectKey::platform(kind, name);
        let dry_run = self.params.dry_run;
        let stored = self
            .state
            .store
            .run(move |s| {
                s.mutate(&key, dry_run, |current, next_rv| {
                    let Some(current) = current else {
                        return Err(not_found(kind, &key.name));
                    };
                    if let Some(sent) = &sent_rv
                        && *sent != current.resource_version.to_string()
                    {
                        return Err(modified(kind, &key.name, sent, &current));
                    }
                    let spec_changed = current.body.get("spec") != Some(&object.spec_json());
                    let generation = if spec_changed {
                        current.generation + 1
                    } else {
                        current.generation
                    };
                    let meta = object.metadata_mut();
                    meta.resource_version = Some(next_rv.to_string());
                    meta.generation = Some(generation);
                    meta.uid = Some(current.uid.clone());
                    meta.creation_timestamp = Some(current.created.clone());
                    normalise_platform_meta(&mut object);
                    let body = object.to_json();
                    let row = NewRow {
                        body: body.clone(),
                        generation,
                        uid: current.uid,
                        created: current.created,
                    };
                    Ok((Mutation::Put(row), body))
                })
            })
            .await??;
        if !dry_run {
            tracing::info!(subject = %self.principal.subject, object = %format_args!("{}/{name}", kind.kind), "updated");
        }
        Ok(Json(stored).into_response())
    }

    async fn delete(&self, kind: &'static KindInfo, name: &str) -> Result<Response, ApiError> {
        authorize(&self.principal, Verb::Delete, kind, None)?;
        let key = ObjectKey::platform(kind, name);
        let dry_run = self.params.dry_run;
        let deleted = self
            .state
            .store
            .run(move |s| {
                s.mutate(&key, dry_run, |current, _| match current {
                    Some(current) => Ok((Mutation::Delete, current.body)),
                    None => Err(not_found(kind, &key.name)),
                })
            })
            .await??;
        if !dry_run {
            tracing::info!(subject = %self.principal.subject, object = %format_args!("{}/{name}", kind.kind), "deleted");
        }
        Ok(Json(deleted).into_response())
    }
}

/// Platform-level objects have no namespace; drop an empty one the model let through.
fn normalise_platform_meta(object: &mut Object) {
    let meta = object.metadata_mut();
    if meta.namespace.as_deref() == Some("") {
        meta.namespace = None;
    }
}

fn already_exists(kind: &KindInfo, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "AlreadyExists",
        format!(
            "{}/{name} already exists; to change it, GET it and PUT it back to {}/{name} with its metadata.resourceVersion",
            kind.kind,
            collection_path(kind)
        ),
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
    let object = wayfinder_model::parse_json("request body", body)
        .map_err(|e| ApiError::from_parse(kind, &e))?;
    let got = object.kind_info();
    if got != kind {
        let mut details = Details::object(kind, &object.metadata().name);
        details.causes.push(Cause {
            field: "kind".to_string(),
            reason: "FieldValueInvalid".to_string(),
            message: format!("must be {} ({})", kind.kind, kind.api_version()),
        });
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

fn validate(kind: &'static KindInfo, object: &Object) -> Result<(), ApiError> {
    object
        .validate()
        .map_err(|e| ApiError::from_validation(kind, &object.metadata().name, &e))
}

fn not_found(kind: &KindInfo, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "{}/{name} not found; list them with GET {}",
        kind.kind,
        collection_path(kind)
    ))
    .with_details(Details::object(kind, name))
}

/// A random identifier in UUID (version 4) form.
pub fn new_uid() -> String {
    use rand::Rng;
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
