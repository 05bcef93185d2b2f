//! The non-resource API (`/api/v2`), in the shapes of Wayfinder's (`wfclient`'s `apitypes`).
//!
//! - `POST /api/v2/exchange?ttl=30m` with `Authorization: Bearer <exchange token>` (an
//!   AccessToken's token): `{"token": "<API token>", "expires": <unix seconds>}` — a signed
//!   API token for the same subject, living `ttl` (Go's duration form; 30m when absent),
//!   bounded by the exchange token's own expiry, the server's `--max-token-ttl` and
//!   [`MAX_EXCHANGE_TTL`]. Nothing is stored: the API token names the exchange token it
//!   came from, so revoking the AccessToken ends it. An expired, revoked, malformed or
//!   wrongly-scoped token gets `401` in Wayfinder's error shape, `{code, message, detail,
//!   uri, verb}`, with a message that says what to do.
//! - `GET /api/v2/serverinfo`: `{featureFlags, version{release, sha}, instanceIdentifier,
//!   namespace}` — any valid token.
//! - `GET /api/v2/whoami`: `{authMethod, username, workspaces, wayfinderGroups,
//!   workspaceGroups, subjectKind}` — about the caller.
//!
//! `GET /api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/cluster`: the
//! provisioning policy in force for clusters of workspace `ws` in `stage` on `cloud`
//! (`aws`, `azure`, `gcp`), as Wayfinder's API shapes it ([`EffectivePolicy::to_api`]):
//! `{cloud, allowedRegions, clusterLimits{perCluster{…}, perWorkspace{…}}}`. For
//! administrators and the workspace's owners and members.

use crate::AppState;
use crate::admission::provisioning_policies;
use crate::auth::Principal;
use crate::keys::workspace_exists;
use crate::status::ApiError;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::{Duration, SystemTime};
use wayfinder_model::common::CLOUDS;

pub async fn effective_policy_handler(
    state: AppState,
    principal: Principal,
    ws: String,
    cloud: String,
    stage: String,
    resource: String,
) -> Result<Response, ApiError> {
    if !principal.is_admin() && principal.workspace_role(&ws).is_none() {
        return Err(ApiError::forbidden(format!(
            "{} may not read the provisioning policy of workspace {ws}: that needs the role \"admin\", or \"owner\" or \"member\" of workspace {ws}",
            principal.subject
        )));
    }
    if resource != "cluster" {
        return Err(ApiError::not_found(format!(
            "provisioning policies apply to resource type \"cluster\" only, not {resource:?}"
        )));
    }
    let cloud = cloud.to_ascii_lowercase();
    if !CLOUDS.contains(&cloud.as_str()) {
        return Err(ApiError::not_found(format!(
            "cloud {cloud:?} is not known: use one of {}",
            CLOUDS.join(", ")
        )));
    }
    // From memory, once it has every write acknowledged before this request.
    state.store.fresh().await?;
    let snapshot = state.store.snapshot()?;
    if !workspace_exists(&snapshot, &ws)? {
        return Err(ApiError::not_found(format!(
            "workspace {ws} does not exist"
        )));
    }
    let policies = provisioning_policies(&snapshot)?;
    let policy = wayfinder_model::effective_policy(&policies, &ws, &stage, &cloud);
    Ok(Json(policy.to_api()).into_response())
}

/// The axum handler for the route.
pub async fn effective_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path((ws, cloud, stage, resource)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    effective_policy_handler(state, principal, ws, cloud, stage, resource).await
}

/// The lifetime an exchange gives when the request names none (as Wayfinder's clients ask).
pub const DEFAULT_EXCHANGE_TTL: Duration = Duration::from_secs(30 * 60);

/// The longest an exchanged API token lives, whatever is asked.
pub const MAX_EXCHANGE_TTL: Duration = Duration::from_secs(12 * 3600);

/// An error in Wayfinder's non-resource API shape (`wfclient`'s `APIError`).
fn wayfinder_error(e: ApiError, method: &Method, uri: &Uri) -> Response {
    let body = json!({
        "code": e.code.as_u16(),
        "message": e.message,
        "detail": e.reason,
        "uri": uri.path(),
        "verb": method.as_str(),
    });
    let mut resp = (e.code, Json(body)).into_response();
    for (name, value) in e.headers {
        resp.headers_mut().insert(name, value);
    }
    resp
}

#[derive(Debug, serde::Deserialize)]
pub struct ExchangeQuery {
    ttl: Option<String>,
}

/// `POST /api/v2/exchange`; see the module documentation.
pub async fn exchange(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ExchangeQuery>,
) -> Response {
    match exchange_inner(&state, &headers, q).await {
        Ok(r) => r,
        Err(e) => wayfinder_error(e, &method, &uri),
    }
}

async fn exchange_inner(
    state: &AppState,
    headers: &HeaderMap,
    q: ExchangeQuery,
) -> Result<Response, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(crate::auth::bearer_token)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "exchange needs the header `Authorization: Bearer <exchange token>`, where the exchange token is the status.token an AccessToken was created with",
            )
        })?;
    let ttl = match q.ttl.as_deref() {
        None | Some("") => DEFAULT_EXCHANGE_TTL,
        Some(t) => wayfinder_model::common::parse_duration(t)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "ttl {t:?} is not a duration: give one as Go writes them, such as 30m or 1h0m0s"
                ))
            })?,
    };
    let (principal, claims, parent) = crate::auth::authenticate_exchange(state, token).await?;
    let now = SystemTime::now();
    let mut until = now + ttl.min(MAX_EXCHANGE_TTL);
    if let Some(max) = state.max_token_ttl {
        until = until.min(now + max);
    }
    if let Some(at) = claims.expires_at() {
        until = until.min(at);
    }
    let mut api = state.signer.claims(
        &principal.subject,
        Some(until),
        &[crate::jwt::SCOPE_ACCESS_TOKEN],
    );
    api.preferred_username = claims.preferred_username;
    api.workspace = claims.workspace;
    let (wayfinder, by_ws) = crate::auth::groups(&principal.roles);
    api.wayfinder_groups = wayfinder;
    api.workspace_groups = by_ws;
    api.exchanged_from = Some(parent);
    let signed = state
        .signer
        .sign(&api)
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(subject = %principal.subject, expires = %humantime::format_rfc3339_seconds(until), "exchanged an access token");
    Ok(Json(json!({"token": signed, "expires": crate::jwt::unix(until)})).into_response())
}

/// `GET /api/v2/serverinfo`.
pub async fn serverinfo(State(state): State<AppState>, _principal: Principal) -> Response {
    Json(json!({
        "featureFlags": {},
        "version": {
            "release": env!("CARGO_PKG_VERSION"),
            "sha": option_env!("WAYFINDER_GIT_SHA").unwrap_or("unknown"),
        },
        "instanceIdentifier": state.signer.instance(),
        "namespace": "",
    }))
    .into_response()
}

/// `GET /api/v2/whoami`.
pub async fn whoami(principal: Principal) -> Response {
    let (wayfinder, by_ws) = crate::auth::groups(&principal.roles);
    let (username, kind) = match crate::auth::parse_access_token_subject(&principal.subject) {
        Some((_, name)) => (name.to_string(), "AccessToken"),
        None => (principal.subject.clone(), "User"),
    };
    let workspaces: Vec<&String> = by_ws.keys().collect();
    Json(json!({
        "authMethod": "token",
        "username": username,
        "workspaces": workspaces,
        "wayfinderGroups": wayfinder,
        "workspaceGroups": by_ws,
        "subjectKind": kind,
    }))
    .into_response()
}
