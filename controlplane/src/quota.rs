//! Per-workspace quotas (`--workspace-max-objects`, `--workspace-max-bytes`) and the size
//! limit on one object ([`wayfinder_model::limits::MAX_OBJECT_BYTES`]).
//!
//! A workspace's usage is every object of every workspaced kind in it: how many, and the
//! bytes of their JSON. A create or update that would take the workspace past a quota is
//! refused with `403 Forbidden` naming the quota, its limit and the usage. The check reads
//! the workspace's objects through admission's recorded snapshot, so two concurrent creates
//! cannot together pass a quota: the second is re-decided inside the write against the
//! first.
//!
//! **Off by default**: the right numbers depend on the deployment (a workspace of a few
//! clusters and tokens uses well under a megabyte), while every object is already bounded
//! by the model's limits and the object size limit, and only administrators create
//! workspaces.

use serde_json::Value;
use wayfinder_model::Object;
use wayfinder_model::kinds::{self, KindInfo, Scope};
use wayfinder_model::limits::MAX_OBJECT_BYTES;

use crate::keys::list_kind;
use crate::status::ApiError;
use crate::store::Reads;

/// Limits on what one workspace holds; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    pub max_objects: Option<u64>,
    pub max_bytes: Option<u64>,
}

impl Quotas {
    pub fn is_off(&self) -> bool {
        self.max_objects.is_none() && self.max_bytes.is_none()
    }
}

/// The bytes an object body takes as stored (compact JSON).
pub fn stored_bytes(body: &Value) -> usize {
    serde_json::to_vec(body).map(|b| b.len()).unwrap_or(0)
}

/// `413` when a request body is over the object size limit, before it is parsed.
pub fn check_object_size(kind: &KindInfo, len: usize) -> Result<(), ApiError> {
    if len <= MAX_OBJECT_BYTES {
        return Ok(());
    }
    Err(ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!(
            "the {} is {len} bytes: an object may take at most {MAX_OBJECT_BYTES} bytes (1 MiB) as JSON; move large content (manifests, values) into a package repository",
            kind.kind
        ),
    ))
}

/// Refuses a write into workspace `ws` that would pass a quota: `object` (`replacing` the
/// stored body `replacing`, for an update). Sizes are measured only when a quota is set.
pub fn check(
    store: &dyn Reads,
    quotas: &Quotas,
    ws: &str,
    object: &Object,
    replacing: Option<&Value>,
) -> Result<(), ApiError> {
    if quotas.is_off() {
        return Ok(());
    }
    let bytes = stored_bytes(&object.to_json());
    let replacing = replacing.map(stored_bytes);
    let (mut count, mut used) = (0u64, 0u64);
    for k in kinds::ALL.iter().filter(|k| k.scope == Scope::Workspace) {
        for o in list_kind(store, k, Some(ws))? {
            count += 1;
            used += stored_bytes(&o.body) as u64;
        }
    }
    let after_count = count + u64::from(replacing.is_none());
    let after_bytes = (used + bytes as u64).saturating_sub(replacing.unwrap_or(0) as u64);
    if let Some(max) = quotas.max_objects
        && replacing.is_none()
        && after_count > max
    {
        return Err(ApiError::forbidden(format!(
            "quota exceeded: workspace {ws} holds {count} objects and its quota (--workspace-max-objects) is {max}; delete some, or ask an administrator to raise the quota"
        )));
    }
    if let Some(max) = quotas.max_bytes
        && after_bytes > max
        && after_bytes > used
    {
        return Err(ApiError::forbidden(format!(
            "quota exceeded: workspace {ws} would hold {after_bytes} bytes of objects and its quota (--workspace-max-bytes) is {max}; it holds {used} now; delete or shrink some, or ask an administrator to raise the quota"
        )));
    }
    Ok(())
}
