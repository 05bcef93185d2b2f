//! Where an object lives: its address from a resource value, an import ID or an identity,
//! and back. One set of rules for the two ways of naming an object to import.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use wayfinder_model::Scope;
use wayfinder_model::kinds::{self, KindInfo};

use super::{ID, NAME, ResourceType, VERSION, WORKSPACE};
use crate::client::ObjectAddress;
use crate::codec::{Type, Value};
use crate::diag::{self, Diagnostic};

/// How an import (by ID or by identity) may name a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VersionRule {
    /// The kind has no versions.
    None,
    /// A version must be given (a workspaced versioned kind: its versions are the workspace's own).
    Required,
    /// A version may be left out: the latest published one (a platform-wide versioned kind).
    LatestWhenOmitted,
}

/// Why an import's address is incomplete.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    NoWorkspace,
    NoVersion,
}

/// One attribute of a resource's identity schema (its type is a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdentityAttribute {
    pub name: &'static str,
    /// Required to import; otherwise optional (the provider fills it in).
    pub required_for_import: bool,
    pub description: String,
}

impl ResourceType {
    /// Where the object a (known) resource value describes lives; `None` while its name,
    /// workspace or version is unknown or missing.
    pub fn address(&self, value: &Value) -> Option<ObjectAddress> {
        let known = |name: &str| value.get(name).as_str().map(str::to_string);
        Some(ObjectAddress {
            workspace: if self.workspaced() {
                Some(known(WORKSPACE)?)
            } else {
                None
            },
            name: known(NAME)?,
            version: if self.kind.versioned {
                Some(known(VERSION)?)
            } else {
                None
            },
        })
    }

    /// The forms of import ID this resource takes, for messages.
    pub fn id_forms(&self) -> String {
        match (self.workspaced(), self.kind.versioned) {
            (false, false) => "`NAME`".into(),
            (true, false) => {
                "`WORKSPACE/NAME`, or `NAME` for an object in the provider's workspace".into()
            }
            (false, true) => "`NAME@VERSION`, or `NAME` for its latest published version".into(),
            (true, true) => "`WORKSPACE/NAME@VERSION`".into(),
        }
    }

    /// How an import may name this resource's version: the one set of rules for import IDs
    /// and identities.
    pub(super) fn version_rule(&self) -> VersionRule {
        match (self.kind.versioned, self.workspaced()) {
            (false, _) => VersionRule::None,
            (true, true) => VersionRule::Required,
            (true, false) => VersionRule::LatestWhenOmitted,
        }
    }

    /// The workspace an import names: the one given, else the provider's default.
    fn import_workspace(
        &self,
        given: Option<&str>,
        default_workspace: Option<&str>,
    ) -> Result<Option<String>, Refusal> {
        if !self.workspaced() {
            return Ok(None);
        }
        given
            .filter(|ws| !ws.is_empty())
            .or(default_workspace)
            .map(|ws| Some(ws.to_string()))
            .ok_or(Refusal::NoWorkspace)
    }

    /// The version an import names, by [`ResourceType::version_rule`].
    fn import_version(&self, given: Option<&str>) -> Result<Option<String>, Refusal> {
        let given = given.filter(|v| !v.is_empty()).map(str::to_string);
        match self.version_rule() {
            VersionRule::None => Ok(None),
            VersionRule::Required => given.map(Some).ok_or(Refusal::NoVersion),
            VersionRule::LatestWhenOmitted => Ok(given),
        }
    }

    /// Reads an import ID (`name`, `workspace/name`, `name@version`). A versioned object
    /// without a version (where [`ResourceType::version_rule`] allows it) comes back with
    /// `version: None`, for the caller to resolve to the latest published one.
    pub fn parse_import_id(
        &self,
        id: &str,
        default_workspace: Option<&str>,
    ) -> Result<ObjectAddress, Diagnostic> {
        let bad = |why: &str| {
            diag::error(
                "Invalid import ID",
                format!(
                    "{id:?} is not a {} ID: {why}. Expected {}, e.g. `terraform import {}.example {}`, or an `import` block with that `id`.",
                    self.kind.kind,
                    self.id_forms(),
                    self.type_name,
                    self.example_id()
                ),
            )
        };
        let refused = |r: Refusal| match r {
            Refusal::NoWorkspace => bad(
                "it names no workspace, and the provider has no default `workspace` (or WAYFINDER_WORKSPACE)",
            ),
            Refusal::NoVersion => bad("the version is missing"),
        };
        let id = id.trim();
        let (rest, version) = match id.split_once('@') {
            Some(_) if !self.kind.versioned => {
                return Err(bad(&format!("{} objects have no versions", self.kind.kind)));
            }
            Some((_, "")) => return Err(bad("the version after `@` is empty")),
            Some((rest, v)) => (rest, Some(v)),
            None => (id, None),
        };
        let (workspace, name) = match rest.split_once('/') {
            Some(_) if !self.workspaced() => {
                return Err(bad(&format!(
                    "{} objects are platform-wide and have no workspace",
                    self.kind.kind
                )));
            }
            Some(("", _)) => return Err(bad("the workspace before `/` is empty")),
            Some((ws, name)) => (Some(ws), name),
            None => (None, rest),
        };
        let workspace = self
            .import_workspace(workspace, default_workspace)
            .map_err(refused)?;
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        if name.contains('/') {
            return Err(bad("names cannot contain `/`"));
        }
        Ok(ObjectAddress {
            workspace,
            name: name.to_string(),
            version: self.import_version(version).map_err(refused)?,
        })
    }

    fn example_id(&self) -> String {
        let name = if kinds::dotted_names(self.kind) {
            "cluster.admin"
        } else {
            "example"
        };
        ObjectAddress {
            workspace: self.workspaced().then(|| "team".to_string()),
            name: name.to_string(),
            version: self.kind.versioned.then(|| "1.0.0".to_string()),
        }
        .id()
    }

    /// The identity schema (Terraform ≥ 1.12): `name`, and `workspace` and `version` where
    /// the kind has them. Every attribute is a string.
    pub(crate) fn identity_schema(&self) -> Vec<IdentityAttribute> {
        let mut attrs = Vec::new();
        if self.workspaced() {
            attrs.push(IdentityAttribute {
                name: WORKSPACE,
                required_for_import: false,
                description: "The workspace (its key); the provider's `workspace` when not given."
                    .into(),
            });
        }
        attrs.push(IdentityAttribute {
            name: NAME,
            required_for_import: true,
            description: format!("The {}'s name (`metadata.name`).", self.kind.kind),
        });
        if self.kind.versioned {
            // Terraform asks for the version of every versioned object: an identity names one
            // object, as the state records it. (Without one, the import would resolve the
            // latest published version, as an import ID may where `version_rule` allows.)
            attrs.push(IdentityAttribute {
                name: VERSION,
                required_for_import: true,
                description: "The version (`spec.version`).".into(),
            });
        }
        attrs
    }

    /// The type of an identity value.
    pub fn identity_type(&self) -> Type {
        let mut attrs = Vec::new();
        if self.workspaced() {
            attrs.push((WORKSPACE.to_string(), Type::String));
        }
        attrs.push((NAME.to_string(), Type::String));
        if self.kind.versioned {
            attrs.push((VERSION.to_string(), Type::String));
        }
        Type::Object(attrs)
    }

    /// The identity of the object at `at`.
    pub fn identity(&self, at: &ObjectAddress) -> Value {
        let mut m = BTreeMap::new();
        if self.workspaced() {
            m.insert(WORKSPACE.to_string(), opt_string(at.workspace.as_deref()));
        }
        m.insert(NAME.to_string(), Value::String(at.name.clone()));
        if self.kind.versioned {
            m.insert(VERSION.to_string(), opt_string(at.version.as_deref()));
        }
        Value::Map(m)
    }

    /// The address an identity (from an `import { identity = {...} }` block) names, by the
    /// same rules as an import ID.
    pub fn address_from_identity(
        &self,
        identity: &Value,
        default_workspace: Option<&str>,
    ) -> Result<ObjectAddress, Diagnostic> {
        let missing = |what: &str| {
            diag::error(
                "Incomplete import identity",
                format!(
                    "The identity of a {} needs `{what}`: give {{ {} }}.",
                    self.type_name,
                    self.identity_example()
                ),
            )
        };
        let refused = |r: Refusal| match r {
            Refusal::NoWorkspace => missing("workspace (the provider has no default workspace)"),
            Refusal::NoVersion => missing(VERSION),
        };
        let name = identity
            .get(NAME)
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing(NAME))?;
        Ok(ObjectAddress {
            workspace: self
                .import_workspace(identity.get(WORKSPACE).as_str(), default_workspace)
                .map_err(refused)?,
            name: name.to_string(),
            version: self
                .import_version(identity.get(VERSION).as_str())
                .map_err(refused)?,
        })
    }

    fn identity_example(&self) -> String {
        let mut parts = Vec::new();
        if self.workspaced() {
            parts.push("workspace = \"team\"".to_string());
        }
        parts.push("name = \"example\"".to_string());
        if self.kind.versioned {
            parts.push("version = \"1.0.0\"".to_string());
        }
        parts.join(", ")
    }

    /// The state an import starts from: the address only; ReadResource fills in the rest.
    pub fn import_stub(&self, at: &ObjectAddress) -> Value {
        let mut m = BTreeMap::new();
        m.insert(ID.to_string(), Value::String(at.id()));
        m.insert(NAME.to_string(), Value::String(at.name.clone()));
        if let Some(ws) = &at.workspace {
            m.insert(WORKSPACE.to_string(), Value::String(ws.clone()));
        }
        if let Some(v) = &at.version {
            m.insert(VERSION.to_string(), Value::String(v.clone()));
        }
        Value::Map(m).conform(&self.value_type())
    }
}

pub(super) fn opt_string(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// Where an object read from the API lives.
pub(crate) fn object_address(kind: &KindInfo, object: &Json) -> ObjectAddress {
    let text = |p: &str| object.pointer(p).and_then(Json::as_str).map(str::to_string);
    ObjectAddress {
        workspace: if kind.scope == Scope::Workspace {
            text("/metadata/namespace").map(|ns| ns.strip_prefix("ws-").unwrap_or(&ns).to_string())
        } else {
            None
        },
        name: text("/metadata/name").unwrap_or_default(),
        version: if kind.versioned {
            text("/spec/version")
        } else {
            None
        },
    }
}
