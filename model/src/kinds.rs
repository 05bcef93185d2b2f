//! The registry of kinds: API group, version, plural and scope of each, and the
//! [`Object`] sum type that parsing produces.

use serde::Serialize;

use crate::compute::ComputeTemplate;
use crate::error::ValidationErrors;
use crate::meta::ObjectMeta;
use crate::shape::Field;

/// Whether a kind lives at the platform level or inside a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Platform,
    Workspace,
}

/// Static facts about one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The kind in lower case, pluralised as Kubernetes does; the last path segment of its
    /// collection URL.
    pub plural: &'static str,
    pub scope: Scope,
    /// What the kind is for, in Markdown.
    pub description: &'static str,
    /// The fields of its `spec`.
    pub spec: &'static [Field],
}

impl KindInfo {
    /// `group/version`, the value of `apiVersion`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
}

pub const COMPUTE_TEMPLATE: KindInfo = KindInfo {
    group: "compute.appvia.io",
    version: "v2beta2",
    kind: "ComputeTemplate",
    plural: "computetemplates",
    scope: Scope::Platform,
    description: "A compute template: a named set of node-pool presets (general purpose, high-memory, low-cost spot) that cluster plans and workspace clusters start from. Administrators only.",
    spec: crate::compute::SPEC_SHAPE,
};

/// Every kind the model knows, in a stable order.
pub const ALL: &[KindInfo] = &[COMPUTE_TEMPLATE];

/// Looks a kind up by its `apiVersion` and `kind`.
pub fn by_api_version_kind(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    ALL.iter()
        .find(|k| k.kind == kind && api_version == k.api_version())
}

/// Looks a kind up by the group, version and plural of its URL.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static KindInfo> {
    ALL.iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
}

/// Any object the model can parse.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    ComputeTemplate(ComputeTemplate),
}

impl Object {
    pub fn kind_info(&self) -> &'static KindInfo {
        match self {
            Object::ComputeTemplate(_) => &COMPUTE_TEMPLATE,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::ComputeTemplate(o) => &o.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::ComputeTemplate(o) => &mut o.metadata,
        }
    }

    /// `Kind/name`, for messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind_info().kind, self.metadata().name)
    }

    /// Checks every field and returns every problem at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        match self {
            Object::ComputeTemplate(o) => o.validate(),
        }
    }

    /// The `spec` as JSON, for comparing whether a change bumps `metadata.generation`.
    pub fn spec_json(&self) -> serde_json::Value {
        match self {
            Object::ComputeTemplate(o) => serde_json::to_value(&o.spec).unwrap_or_default(),
        }
    }

    /// The whole object as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
