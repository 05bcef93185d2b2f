//! Storage keys and listings by kind: where an object of a kind is stored, and the
//! workspaces and objects there are. Shared by the API ([`crate::registry`]), admission
//! and the reconciler, below all of them.

use serde_json::Value;
use wayfinder_model::kinds::{CLUSTER, KindInfo, Scope, WORKSPACE};
use wayfinder_model::org::ADMIN_WORKSPACE;

use crate::store::{ObjectKey, Reads, StoreError, StoredObject};

/// The stored name of a version of a versioned object: `{name}@{version}`.
pub fn storage_name(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}@{v}"),
        None => name.to_string(),
    }
}

/// The store key of an object; see the storage key scheme in the registry's documentation.
/// `workspace` is ignored for platform kinds and `version` for kinds that are not versioned.
pub fn object_key(
    kind: &KindInfo,
    workspace: Option<&str>,
    name: &str,
    version: Option<&str>,
) -> ObjectKey {
    let name = storage_name(name, version.filter(|_| kind.versioned));
    match kind.scope {
        Scope::Platform => ObjectKey::platform(kind, &name),
        Scope::Workspace => ObjectKey::workspaced(kind, workspace.unwrap_or_default(), &name),
    }
}

/// The store key of Cluster `name` in workspace `workspace` (its key, e.g. `pay`).
pub fn cluster_key(workspace: &str, name: &str) -> ObjectKey {
    ObjectKey::workspaced(&CLUSTER, workspace, name)
}

/// The workspaces that exist: `admin` and every Workspace object's name, sorted.
pub fn workspace_keys(store: &dyn Reads) -> Result<Vec<String>, StoreError> {
    let (_, items) = store.list(WORKSPACE.group, WORKSPACE.kind, "")?;
    let mut keys: Vec<String> = items
        .iter()
        .filter_map(|o| o.body.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    keys.push(ADMIN_WORKSPACE.to_string());
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Whether workspace `ws` exists (`admin` always does).
pub fn workspace_exists(store: &dyn Reads, ws: &str) -> Result<bool, StoreError> {
    Ok(ws == ADMIN_WORKSPACE || store.get(&ObjectKey::platform(&WORKSPACE, ws))?.is_some())
}

/// Every stored Cluster with its workspace key, by workspace then name.
pub fn list_clusters(store: &dyn Reads) -> Result<Vec<(String, StoredObject)>, StoreError> {
    let mut out = Vec::new();
    for ws in workspace_keys(store)? {
        let (_, items) = store.list(CLUSTER.group, CLUSTER.kind, &ws)?;
        out.extend(items.into_iter().map(|o| (ws.clone(), o)));
    }
    Ok(out)
}

/// Every stored object of a kind in a workspace (`None`: platform), every version included.
pub fn list_kind(
    store: &dyn Reads,
    kind: &KindInfo,
    workspace: Option<&str>,
) -> Result<Vec<StoredObject>, StoreError> {
    let ns = match kind.scope {
        Scope::Platform => "",
        Scope::Workspace => workspace.unwrap_or_default(),
    };
    Ok(store.list(kind.group, kind.kind, ns)?.1)
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
