//! The envelope every kind shares — `apiVersion`, `kind`, `metadata`, `spec`, `status` — and
//! the [`Spec`] trait through which each kind plugs its fields and rules into it.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{FieldPath, ValidationErrors};
use crate::kinds::{KindInfo, Scope};
use crate::meta::ObjectMeta;
use crate::shape::{Field, FieldType};
use crate::validate::{self, Checker};

/// One object of kind `S`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Typed<S> {
    /// `apiVersion`: `group/version` of the kind.
    pub api_version: String,
    /// `kind`: the kind's name.
    pub kind: String,
    /// `metadata`: the object's name, workspace and server-kept fields.
    pub metadata: ObjectMeta,
    /// `spec`: what the object should be.
    pub spec: S,
    /// Written by the server; ignored in definitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// A kind's `spec`: its fields and the rules over them.
pub trait Spec: Serialize + DeserializeOwned + Clone + PartialEq + Debug {
    /// The kind's registry entry.
    const INFO: &'static KindInfo;

    /// Checks the spec, pushing every problem found; `path` is `spec`.
    fn check(&self, c: &mut Checker, path: &FieldPath, meta: &ObjectMeta);

    /// Whether names may contain dots (a DNS subdomain, as Wayfinder names its access
    /// policies and roles: `cluster.admin`) rather than being a single DNS label.
    const DOTTED_NAMES: bool = false;

    /// `spec.version` of a versioned kind.
    fn version(&self) -> Option<&str> {
        None
    }
}

impl<S: Spec> Typed<S> {
    /// A new object of this kind with the given name and spec.
    pub fn new(name: &str, spec: S) -> Self {
        Self {
            api_version: S::INFO.api_version(),
            kind: S::INFO.kind.to_string(),
            metadata: ObjectMeta {
                name: name.to_string(),
                ..Default::default()
            },
            spec,
            status: None,
        }
    }

    /// Checks every field and returns every problem at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let info = S::INFO;
        let mut c = Checker::new(format!("{}/{}", info.kind, self.metadata.name));
        let root = FieldPath::root();
        validate::type_meta(&mut c, &root, &self.api_version, &self.kind, info);
        match info.scope {
            Scope::Platform => validate::platform_metadata(
                &mut c,
                &root.field("metadata"),
                &self.metadata,
                S::DOTTED_NAMES,
            ),
            Scope::Workspace => validate::workspace_metadata(
                &mut c,
                &root.field("metadata"),
                &self.metadata,
                S::DOTTED_NAMES,
            ),
        }
        // The limits first: an object over them is refused without the rest of the checks,
        // so that no check's cost depends on an unbounded input.
        let meta_ok = crate::limits::check_metadata(
            &mut c,
            &root.field("metadata"),
            self.metadata.labels.as_ref(),
            self.metadata.annotations.as_ref(),
        );
        let spec_json = serde_json::to_value(&self.spec).unwrap_or_default();
        let lists_ok = crate::limits::check_lists(&mut c, &root.field("spec"), &spec_json);
        if meta_ok && lists_ok {
            self.spec.check(&mut c, &root.field("spec"), &self.metadata);
        }
        c.finish()
    }
}

/// The status Wayfinder reports on objects (`status.status`, conditions, last reconcile),
/// plus whatever else a kind records there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `Pending`, `Creating`, `Success`, `Failure`, `Deleting`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `status.message`: what is happening, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `status.detail`: more about the message, e.g. the error behind a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `status.conditions`: the object's conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// `status.lastReconcile`: the last generation the server finished, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile: Option<LastReconcile>,
    /// Kind-specific status fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The shape of a [`Condition`], one item of `status.conditions`.
pub const CONDITION_SHAPE: &[Field] = &[
    Field::required(
        "type",
        FieldType::String,
        "What the condition is about, e.g. `Ready`.",
    ),
    Field::required("status", FieldType::String, "`True`, `False` or `Unknown`."),
    Field::optional(
        "reason",
        FieldType::String,
        "Why, in one CamelCase word, e.g. `InProgress`.",
    ),
    Field::optional("message", FieldType::String, "Why, for a person."),
    Field::optional(
        "observedGeneration",
        FieldType::Number,
        "The `metadata.generation` the condition was worked out for.",
    ),
    Field::optional(
        "lastTransitionTime",
        FieldType::String,
        "When `status` last changed (RFC 3339).",
    ),
];

/// The shape of [`LastReconcile`], `status.lastReconcile`.
pub const LAST_RECONCILE_SHAPE: &[Field] = &[
    Field::optional(
        "time",
        FieldType::String,
        "When the server finished (RFC 3339).",
    ),
    Field::optional(
        "generation",
        FieldType::Number,
        "The `metadata.generation` it finished.",
    ),
];

/// One item of `status.conditions` (described by [`CONDITION_SHAPE`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `type`: what the condition is about, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// `observedGeneration`: the `metadata.generation` the condition was worked out for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `lastTransitionTime`: when `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// `reason`: why, in one CamelCase word, e.g. `InProgress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `message`: why, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `status.lastReconcile` (described by [`LAST_RECONCILE_SHAPE`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastReconcile {
    /// `time`: when the server finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// `generation`: the `metadata.generation` it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}
