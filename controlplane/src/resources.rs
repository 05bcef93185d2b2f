//! `/resources/{group}/{version}[/workspaces/{ws}]/{plural}[/{name}[/versions[/{v}]]]`: the
//! HTTP edge of the resource API, driven by the model's kind registry.
//!
//! Every kind in [`wayfinder_model::kinds::ALL`] is served: platform kinds at
//! `/resources/{group}/{version}/{plural}[/{name}]`, workspaced kinds at
//! `/resources/{group}/{version}/workspaces/{ws}/{plural}[/{name}]`. This module only
//! extracts (the caller, the path resolved to a [`Target`], the query, the body), calls the
//! registry (`registry/`) and encodes its answer (status code, `Warning` headers, JSON); what a
//! request does — authorization, parsing, admission, the storage layout, optimistic
//! concurrency, `dryRun=All`, label selectors, what each kind adds — is the registry's.
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

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;
use wayfinder_model::Scope;
use wayfinder_model::kinds;
use wayfinder_model::legacy::{self, Handling, LegacyKind};

use crate::auth::Principal;
pub use crate::keys::{new_uid, storage_name};
use crate::registry::{self, Caller, ListOptions, Written, served_list};
pub use crate::registry::{
    LabelRequirement, Target, VersionSel, collection_path, collection_path_in, served_kinds,
};
use crate::status::ApiError;
use crate::{AppState, MAX_BODY_BYTES};

/// The shapes of a resource path, one route each, all answered by [`handle`]. The router
/// percent-decodes the segments; a static `workspaces` is preferred to a plural, so a path
/// of five or more segments whose third is `workspaces` is workspaced, and a shorter one
/// names Workspaces themselves (`…/workspaces[/{name}]`). What no shape matches (too few or
/// too many segments, a trailing slash) reaches [`unmatched`] through the server's
/// fallback: a catch-all route cannot sit beside these in axum's router.
pub const SHAPES: [&str; 8] = [
    "/resources/{group}/{version}/{plural}",
    "/resources/{group}/{version}/{plural}/{name}",
    "/resources/{group}/{version}/{plural}/{name}/{sub}",
    "/resources/{group}/{version}/{plural}/{name}/{sub}/{v}",
    "/resources/{group}/{version}/workspaces/{ws}/{plural}",
    "/resources/{group}/{version}/workspaces/{ws}/{plural}/{name}",
    "/resources/{group}/{version}/workspaces/{ws}/{plural}/{name}/{sub}",
    "/resources/{group}/{version}/workspaces/{ws}/{plural}/{name}/{sub}/{v}",
];

/// The resource API's routes ([`SHAPES`]).
pub fn routes() -> Router<AppState> {
    SHAPES
        .iter()
        .fold(Router::new(), |r, shape| r.route(shape, any(handle)))
}

/// The segments of a resource path, as the route that matched names them (decoded).
#[derive(Debug, Clone, Deserialize)]
pub struct Segments {
    group: String,
    version: String,
    ws: Option<String>,
    plural: String,
    name: Option<String>,
    /// `versions`, or a subresource the kind does not have.
    sub: Option<String>,
    v: Option<String>,
}

/// `404`: `path` is no resource path; says the shape and what is served.
fn not_a_resource_path(path: &str) -> ApiError {
    ApiError::not_found(format!(
        "{path} is not a resource path: expected /resources/{{group}}/{{version}}[/workspaces/{{workspace}}]/{{plural}}[/{{name}}[/versions/{{version}}]]; served: {}",
        served_list()
    ))
}

/// Every `/resources/...` path no route matches (the server's fallback sends it here,
/// after authentication as for any resource path): with a trailing slash, the same path
/// without one (as the collection or object it names); otherwise a `404` saying the shape
/// and what is served.
pub async fn unmatched(state: AppState, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(e) = Principal::from_request_parts(&mut parts, &state).await {
        return e.into_response();
    }
    let path = parts.uri.path();
    let Some(trimmed) = path.strip_suffix('/') else {
        return not_a_resource_path(path).into_response();
    };
    let mut uri = trimmed.to_string();
    if let Some(q) = parts.uri.query() {
        uri.push('?');
        uri.push_str(q);
    }
    match uri.parse() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return not_a_resource_path(path).into_response(),
    }
    // Routed once more; a second trailing slash is not trimmed.
    let once = routes().fallback(|uri: Uri| async move { not_a_resource_path(uri.path()) });
    match once
        .with_state(state)
        .oneshot(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The [`Target`] a resource path names: its kind (a legacy version's path as the storage
/// version's, marked legacy), workspace, name and version.
pub fn target(s: &Segments, path: &str) -> Result<Target, ApiError> {
    let given = [&s.ws, &s.name, &s.sub, &s.v];
    if [&s.group, &s.version, &s.plural]
        .iter()
        .any(|p| p.is_empty())
        || given.iter().any(|p| p.as_deref() == Some(""))
    {
        return Err(not_a_resource_path(path));
    }
    let (group, version, plural) = (s.group.as_str(), s.version.as_str(), s.plural.as_str());
    let Some(kind) = kinds::by_plural(group, version, plural) else {
        if let Some(old) = legacy::by_plural(group, version, plural) {
            // The same path at the storage version, marked as reached through the legacy one.
            let current = Segments {
                version: old.current.version.to_string(),
                ..s.clone()
            };
            let mut t = target(&current, path)?;
            t.legacy = Some(old);
            return Ok(t);
        }
        return Err(ApiError::not_found(format!(
            "the server does not serve {group}/{version}/{plural}; served: {}",
            served_list()
        )));
    };
    match (kind.scope, &s.ws) {
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
    let version = match (&s.name, s.sub.as_deref(), &s.v) {
        (None, ..) | (Some(_), None, _) => VersionSel::Latest,
        (Some(_), Some("versions"), v) if kind.versioned => match v {
            Some(v) => VersionSel::One(v.clone()),
            None => VersionSel::All,
        },
        (Some(_), Some("versions"), _) => {
            return Err(ApiError::not_found(format!(
                "{} is not a versioned kind: use {}/{{name}}",
                kind.kind,
                collection_path(kind)
            )));
        }
        (Some(_), Some(sub), _) => {
            return Err(ApiError::not_found(format!(
                "{} has no subresource {sub:?}: use {}/{{name}}",
                kind.kind,
                collection_path(kind)
            )));
        }
    };
    Ok(Target {
        kind,
        workspace: s.ws.clone(),
        name: s.name.clone(),
        version,
        legacy: None,
    })
}

/// The segments of a matched path; `400` when one is not valid percent-encoded UTF-8.
fn segments(path: Result<Path<Segments>, PathRejection>) -> Result<Segments, ApiError> {
    path.map(|Path(s)| s).map_err(|e| match e {
        PathRejection::FailedToDeserializePathParams(e)
            if matches!(e.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) =>
        {
            ApiError::bad_request("the path is not valid percent-encoded UTF-8")
        }
        e => ApiError::bad_request(format!("the path is not valid: {}", e.body_text())),
    })
}

/// Query parameters the resource API understands; others are ignored.
#[derive(Debug, Default)]
struct Params {
    dry_run: bool,
    list: ListOptions,
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
            "labelSelector" => p.list.label_selector.extend(parse_label_selector(&v)?),
            "limit" => {
                let n: usize = v.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "limit={v} is not valid: give a whole number of items per page, e.g. limit=100 (0 or no limit: every item)"
                    ))
                })?;
                p.list.limit = (n > 0).then_some(n);
            }
            "continue" if !v.is_empty() => p.list.continue_token = Some(v),
            _ => {}
        }
    }
    Ok(p)
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

/// The handler for every resource path ([`SHAPES`]).
pub async fn handle(
    State(state): State<AppState>,
    principal: Principal,
    method: Method,
    path: Result<Path<Segments>, PathRejection>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let target = target(&segments(path)?, uri.path())?;
    let params = params(&uri, &method)?;
    let body = body_bytes(body);
    let cx = Caller {
        state: &state,
        principal: &principal,
        dry_run: params.dry_run,
    };
    let request = (&target, &method, uri.path(), &params.list);
    if !state.store.is_shared() || matches!(method, Method::GET | Method::HEAD) {
        // Every write acknowledged before this request, by any replica, is seen by it:
        // a no-op where no other process writes.
        state.store.fresh().await?;
        return dispatch(cx, request, body).await;
    }
    // A write on a shared store is tried first on this replica's cache as it is: what it
    // commits is guarded by the compares of everything it read (`Store::commit`), so a
    // stale cache can only make it refuse. A refusal that a write acknowledged elsewhere
    // could explain (the workspace, the object or a reference not found yet, a version
    // not seen yet, a policy's count) is answered only after trying again behind the read
    // barrier. One barrier per refused write instead of one per write.
    match dispatch(cx, request, body.clone()).await {
        Err(e) if stale_could_explain(&e) => {
            state.store.fresh().await?;
            dispatch(cx, request, body).await
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

/// What [`handle`] asks the registry: the target, the method, the path (for a `405`) and
/// the list options.
type Asked<'a> = (&'a Target, &'a Method, &'a str, &'a ListOptions);

/// One request to the registry by method, and its answer encoded.
async fn dispatch(
    cx: Caller<'_>,
    (t, method, path, list): Asked<'_>,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    if let Some(old) = t.legacy {
        return legacy(cx, t, old, list, method, path, body).await;
    }
    let collection = t.name.is_none();
    let all_versions = t.version == VersionSel::All;
    match method {
        &Method::GET | &Method::HEAD if collection || all_versions => {
            json(registry::list(cx, t, list).await?)
        }
        &Method::GET | &Method::HEAD => json(registry::get(cx, t).await?),
        &Method::POST if collection => written(registry::create(cx, t, &body?).await?),
        &Method::PUT if !collection && !all_versions => {
            written(registry::update(cx, t, &body?).await?)
        }
        &Method::DELETE if !collection => json(registry::delete(cx, t).await?),
        m => Err(not_allowed(
            m,
            path,
            collection,
            all_versions.then_some("GET, DELETE"),
        )),
    }
}

/// A request at a legacy version: a served one converted to the storage version and the
/// answer back; a migrated one refused, saying how to migrate; a joined one
/// ([`Handling::Joined`]) read and written as its several current objects.
async fn legacy(
    cx: Caller<'_>,
    t: &Target,
    old: &'static LegacyKind,
    list: &ListOptions,
    method: &Method,
    path: &str,
    body: Result<Bytes, ApiError>,
) -> Result<Response, ApiError> {
    use registry::legacy as l;
    let collection = t.name.is_none();
    if old.handling == Handling::Joined {
        let one = !collection && t.version != VersionSel::All;
        return match *method {
            Method::GET | Method::HEAD if !one => json(l::joined_list(cx, t, old, list).await?),
            Method::GET | Method::HEAD => json(l::joined_get(cx, t, old).await?),
            Method::POST if collection => {
                written(l::joined_write(cx, t, old, &body?, false).await?)
            }
            Method::PUT if one => written(l::joined_write(cx, t, old, &body?, true).await?),
            Method::DELETE if one => written(l::joined_delete(cx, t, old).await?),
            // Every version of a joined object is only read.
            ref m => Err(not_allowed(m, path, collection, (!one).then_some("GET"))),
        };
    }
    l::refused(t, old, matches!(*method, Method::POST | Method::PUT))?;
    let shown = |mut v: Value| {
        l::show(old, &mut v);
        v
    };
    match *method {
        Method::GET | Method::HEAD if collection => json(shown(registry::list(cx, t, list).await?)),
        Method::GET | Method::HEAD => json(shown(registry::get(cx, t).await?)),
        Method::POST if collection => {
            let body = l::to_current(t.kind, old, &body?)?;
            let mut w = registry::create(cx, t, &body).await?;
            w.object = shown(w.object);
            written(w)
        }
        Method::PUT if !collection => {
            let body = l::to_current(t.kind, old, &body?)?;
            let mut w = registry::update(cx, t, &body).await?;
            w.object = shown(w.object);
            written(w)
        }
        Method::DELETE if !collection => json(shown(registry::delete(cx, t).await?)),
        ref m => Err(not_allowed(m, path, collection, None)),
    }
}

/// `405` with the methods a path takes: a collection `GET, POST`; every version of a name
/// what `versions` says; one object `GET, PUT, DELETE`.
fn not_allowed(
    m: &Method,
    path: &str,
    collection: bool,
    versions: Option<&'static str>,
) -> ApiError {
    let allow = match (collection, versions) {
        (true, _) => "GET, POST",
        (false, Some(allow)) => allow,
        (false, None) => "GET, PUT, DELETE",
    };
    ApiError::method_not_allowed(m.as_str(), path, allow)
}

fn json(v: Value) -> Result<Response, ApiError> {
    Ok(Json(v).into_response())
}

/// A write's answer: `201` for a create, else `200`, with its warnings.
fn written(w: Written) -> Result<Response, ApiError> {
    let status = if w.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let headers = crate::prices::warning_headers(&w.warnings);
    Ok((status, headers, Json(w.object)).into_response())
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
