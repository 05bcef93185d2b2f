//! The non-resource API (`/api/v2`).
//!
//! `GET /api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/cluster`: the
//! provisioning policy in force for clusters of workspace `ws` in `stage` on `cloud`
//! (`aws`, `azure`, `gcp`), as Wayfinder's API shapes it ([`EffectivePolicy::to_api`]):
//! `{cloud, allowedRegions, clusterLimits{perCluster{…}, perWorkspace{…}}}`. For
//! administrators and the workspace's owners and members.

use crate::AppState;
use crate::admission::provisioning_policies;
use crate::auth::Principal;
use crate::resources::workspace_exists;
use crate::status::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

/// Clouds the effective-policy endpoint knows.
const CLOUDS: &[&str] = &["aws", "azure", "gcp"];

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
    // From memory: no blocking.
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
