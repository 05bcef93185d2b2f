//! Object metadata, as Kubernetes and Wayfinder spell it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `metadata` of every object. The server owns `resourceVersion`, `generation`, `uid` and
/// `creationTimestamp`; clients send `resourceVersion` back to update safely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// `metadata.name`: the object's name, unique per kind in its workspace (or on the platform).
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace`: the workspace's namespace (`ws-{workspace}`) for a workspaced kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.labels`: key-value labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `metadata.annotations`: key-value annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// `metadata.resourceVersion`: the stored version, set by the server; sent back to update safely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// `metadata.generation`: how many times the spec has changed, set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// `metadata.uid`: the object's unique ID, set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `metadata.creationTimestamp`: when the object was created (RFC 3339), set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}
