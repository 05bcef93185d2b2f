//! The non-resource API (`/api/v2`).
//!
//! `GET /api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/cluster`: the
//! provisioning policy in force for clusters of workspace `ws` in `stage` on `cloud`
//! (`aws`, `azure`, `gcp`), as Wayfinder's API shapes it ([`EffectivePolicy::to_api`]):
//! `{cloud, allowedRegions, clusterLimits{perCluster{…}, perWorkspace{…}}}`. For
//! administrators and the workspace's owners and members.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use wayfinder_model::kinds::PROVISIONING_POLICY;
use wayfinder_model::{Object, ProvisioningPolicy};

use crate::AppState;
use crate::auth::Principal;
use crate::resources::{list_kind, workspace_exists};
use crate::status::ApiError;

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
    let w = ws.clone();
    let (exists, stored) = state
        .store
        .run(move |s| -> Result<_, crate::store::StoreError> {
            Ok((
                workspace_exists(s, &w)?,
                list_kind(s, &PROVISIONING_POLICY, None)?,
            ))
        })
        .await??;
    if !exists {
        return Err(ApiError::not_found(format!(
            "workspace {ws} does not exist"
        )));
    }
    let policies: Vec<ProvisioningPolicy> = stored
        .iter()
        .filter_map(|o| match crate::store::parse_stored(&o.body) {
            Some(Object::ProvisioningPolicy(p)) => Some(p),
            _ => None,
        })
        .collect();
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
