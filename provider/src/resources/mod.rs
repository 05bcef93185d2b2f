//! Managed resources: one generic implementation over the model's kinds.
//!
//! A [`ResourceType`] is derived from a kind's [`KindInfo`]: its scope, whether it is
//! versioned, and the shape of its `spec`. Every resource has
//!
//! | attribute | when | what |
//! |---|---|---|
//! | `id` | always | computed: `name`, `workspace/name` or `name@version` |
//! | `workspace` | workspaced kinds | optional; the provider's `workspace` when not set; replaces |
//! | `name` | always | `metadata.name`; replaces |
//! | the spec's fields | always | attributes and nested blocks, named as [`naming`] says |
//! | `version` | versioned kinds | `spec.version`; replaces (each version is its own object) |
//! | `publish_state` | versioned kinds | `Draft`, `Published`, `Deprecated` (the two annotations) |
//! | `status` | kinds with a status ([`ResourceType::with_status`]) | computed: `status`, `message`, `conditions`, and the kind's own fields |
//!
//! **No perpetual diffs.** What the server sends back is *settled* against what Terraform
//! holds ([`settle_block`]): where the two mean the same to Wayfinder — a Go API with
//! `omitempty`, so an absent field, `null`, `""`, `[]` and `{}` are all "not set", and `1`
//! equals `1.0` — Terraform's own value is kept, with its exact form and types. Drift (a
//! real difference) shows as drift.

mod access_token;
pub mod cluster;

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};
use wayfinder_model::kinds::{self, KindInfo};
use wayfinder_model::meta::ObjectMeta;
use wayfinder_model::object::CONDITION_SHAPE;
use wayfinder_model::shape::{self, Field, FieldType};
use wayfinder_model::versioned::{PUBLISH_STATE_ANNOTATION, PUBLISHED_ANNOTATION, PublishState};
use wayfinder_model::{FieldPath, PathSegment, Scope, naming};

use crate::client::ObjectAddress;
use crate::codec::{Type, Value};
use crate::diag;
use crate::proto::tfplugin6 as pb;
use crate::schema::{Attribute, Block, NestedBlock, Nesting, Presence, Schema};

pub use access_token::STORE_TOKEN;

/// `id`: the object's identifier.
pub const ID: &str = "id";
/// `workspace`: the workspace of a workspaced kind.
pub const WORKSPACE: &str = "workspace";
/// `name`: `metadata.name`.
pub const NAME: &str = "name";
/// `version`: `spec.version` of a versioned kind.
pub const VERSION: &str = "version";
/// `publish_state`: a versioned object's publish state.
pub const PUBLISH_STATE: &str = "publish_state";
/// `status`: what the server reports.
pub const STATUS: &str = "status";
/// `annotations`: `metadata.annotations` (but the publish annotations).
pub const ANNOTATIONS: &str = "annotations";

/// A field of `status` a kind reports beyond `status`, `message` and `conditions`. Its
/// attribute is named by [`naming::snake_case`], as are the fields of objects inside it.
#[derive(Debug, Clone)]
pub struct StatusField {
    /// The field's name in the API (`expiresAt`).
    pub json: &'static str,
    pub ty: Type,
    pub description: &'static str,
}

/// The provider's default workspace as Terraform plans: known, unknown (the provider's
/// configuration waits on other resources), or not configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceDefault {
    Known(String),
    Unknown,
    None,
}

/// What planning a change produced.
#[derive(Debug, Default)]
pub struct Planned {
    pub state: Value,
    pub requires_replace: Vec<pb::AttributePath>,
    pub diagnostics: Vec<pb::Diagnostic>,
}

/// A resource type backed by one Wayfinder kind.
#[derive(Debug)]
pub struct ResourceType {
    pub type_name: String,
    pub kind: &'static KindInfo,
    schema: Schema,
    /// The type of the `status` attribute, when the kind has one.
    status: Option<Type>,
    /// A secret the server returns once, at creation (`wayfinder_access_token`).
    secret: Option<access_token::OnceSecret>,
    /// What the resource does beyond the generic lifecycle (`wayfinder_cluster`).
    behaviour: Option<Box<dyn Behaviour>>,
}

/// Every resource type the provider serves. Which attributes replace the object comes from
/// the model ([`wayfinder_model::shape::Field::immutable`]), as the server refuses changing
/// them in place.
pub fn all() -> Vec<ResourceType> {
    use wayfinder_model::kinds::*;
    vec![
        ResourceType::new(&CLUSTER_PLAN),
        ResourceType::new(&CLUSTER_NETWORK_PLAN),
        ResourceType::new(&COMPUTE_TEMPLATE),
        ResourceType::new(&CLOUD_ACCESS_CONFIG),
        ResourceType::new(&CLOUD_IDENTITY),
        ResourceType::new(&PACKAGE),
        ResourceType::new(&REPOSITORY),
        ResourceType::new(&PROVISIONING_POLICY),
        ResourceType::new(&WORKSPACE),
        ResourceType::new(&STAGE),
        ResourceType::new(&ASSIGNABLE_NETWORK),
        ResourceType::new(&GLOBAL_CLUSTER_POLICY),
        ResourceType::new(&GLOBAL_ACCESS_POLICY),
        ResourceType::new(&GLOBAL_ACCESS_ROLE),
        access_token::resource(),
        cluster::resource(),
    ]
}

/// The Terraform type of a status field of the model's shape; fields of nested objects
/// are named by [`naming::snake_case`].
fn status_type(ty: FieldType) -> Type {
    match ty {
        FieldType::String => Type::String,
        FieldType::Number => Type::Number,
        FieldType::Bool => Type::Bool,
        FieldType::StringList => Type::List(Box::new(Type::String)),
        FieldType::NumberList => Type::List(Box::new(Type::Number)),
        FieldType::StringMap => Type::Map(Box::new(Type::String)),
        FieldType::Json => Type::Dynamic,
        FieldType::Object(inner) => object_type(inner),
        FieldType::ObjectList(inner) => Type::List(Box::new(object_type(inner))),
    }
}

fn object_type(fields: &[Field]) -> Type {
    Type::Object(
        fields
            .iter()
            .map(|f| (naming::snake_case(f.name), status_type(f.ty)))
            .collect(),
    )
}

/// The fields of a kind's status shape ([`KindInfo::status`]) as [`StatusField`]s.
pub fn status_fields(kind: &KindInfo) -> Vec<StatusField> {
    kind.status
        .iter()
        .map(|f| StatusField {
            json: f.name,
            ty: status_type(f.ty),
            description: f.description,
        })
        .collect()
}

/// The condition fields of `status.conditions[]`, from the model's [`CONDITION_SHAPE`].
fn condition_type() -> Type {
    object_type(CONDITION_SHAPE)
}

impl ResourceType {
    /// The resource for `kind`: `id`, `workspace` (workspaced kinds), `name`, the spec's
    /// fields, `publish_state` (versioned kinds). The spec's immutable fields (the model's
    /// [`Field::immutable`]) replace the object; so does a versioned kind's `version`.
    pub fn new(kind: &'static KindInfo) -> Self {
        let mut spec = Block::from_fields(kind.spec, true);
        for a in &mut spec.attributes {
            a.requires_replace = a.json.is_some_and(|j| {
                shape::find(kind.spec, j).is_some_and(|f| f.immutable)
                    || (kind.versioned && j == "version")
            });
            if a.requires_replace {
                a.description.push_str(" Changing it replaces the object.");
            }
        }
        let mut attributes = vec![Attribute::plain(
            ID,
            Type::String,
            Presence::Computed,
            &id_description(kind),
        )];
        if kind.scope == Scope::Workspace {
            attributes.push(
                Attribute::plain(
                    WORKSPACE,
                    Type::String,
                    Presence::OptionalComputed,
                    "The workspace (its key) the object lives in. Defaults to the provider's `workspace` (or `WAYFINDER_WORKSPACE`); once created, the object stays in its workspace even if the provider's default changes. Changing it replaces the object.",
                )
                .requires_replace(),
            );
        }
        attributes.push(
            Attribute::plain(
                NAME,
                Type::String,
                Presence::Required,
                &name_description(kind),
            )
            .requires_replace(),
        );
        attributes.push(Attribute::plain(
            ANNOTATIONS,
            Type::Map(Box::new(Type::String)),
            Presence::Optional,
            if kind.versioned {
                "Annotations of the object (`metadata.annotations`), e.g. `appvia.io/displayName`. The publish annotations (`appvia.io/published`, `appvia.io/publishState`) are set with `publish_state`, not here."
            } else {
                "Annotations of the object (`metadata.annotations`), e.g. `appvia.io/displayName`."
            },
        ));
        attributes.append(&mut spec.attributes);
        if kind.versioned {
            attributes.push(Attribute::plain(
                PUBLISH_STATE,
                Type::String,
                Presence::Optional,
                "Where this version is in its lifecycle: `Draft` (not offered to workspaces), `Published` (new clusters may use it) or `Deprecated` (existing clusters keep it, new ones may not use it). Written as the annotations `appvia.io/published` and `appvia.io/publishState`; when not set, no annotation is written and Wayfinder treats the version as published.",
            ));
        }
        let block = Block {
            description: format!(
                "{} (`{}` {})",
                kind.description,
                kind.api_version(),
                kind.kind
            ),
            attributes,
            blocks: spec.blocks,
        };
        Self {
            type_name: naming::resource_type(kind.kind),
            kind,
            schema: Schema { version: 0, block },
            status: None,
            secret: None,
            behaviour: None,
        }
    }

    /// A platform-level kind; the same as [`ResourceType::new`].
    pub fn platform(kind: &'static KindInfo) -> Self {
        Self::new(kind)
    }

    /// Adds the computed `status` attribute: an object with `status` (`Pending`,
    /// `Creating`, `Success`, `Failure`, …), `message`, `conditions` (`type`, `status`,
    /// `reason`, `message`, `observed_generation`, `last_transition_time`) and `extra`.
    pub fn with_status(mut self, extra: &[StatusField]) -> Self {
        let mut attrs = vec![
            ("status".to_string(), Type::String),
            ("message".to_string(), Type::String),
            (
                "conditions".to_string(),
                Type::List(Box::new(condition_type())),
            ),
        ];
        let mut described = String::from(
            "What Wayfinder reports about the object (read-only): `status` (`Pending`, `Creating`, `Updating`, `Success`, `Failure`, `Deleting`, …), `message` (for a person), `conditions` (each with `type`, `status` `True`/`False`/`Unknown`, `reason`, `message`, `observed_generation`, `last_transition_time`)",
        );
        for f in extra {
            let name = naming::snake_case(f.json);
            // Model descriptions are sentences; here each is a parenthesis in one.
            let d = f.description.trim_end_matches('.');
            let mut chars = d.chars();
            let d: String = chars
                .next()
                .map(|c| c.to_lowercase().chain(chars).collect())
                .unwrap_or_default();
            described.push_str(&format!(", `{name}` ({d})"));
            attrs.push((name, f.ty.clone()));
        }
        described.push('.');
        let ty = Type::Object(attrs);
        self.schema.block.attributes.push(Attribute::plain(
            STATUS,
            ty.clone(),
            Presence::Computed,
            &described,
        ));
        self.status = Some(ty);
        self
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn value_type(&self) -> Type {
        self.schema.value_type()
    }

    pub fn workspaced(&self) -> bool {
        self.kind.scope == Scope::Workspace
    }

    // -----------------------------------------------------------------------------------
    // Addresses, ids and identity

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

    /// Reads an import ID (`name`, `workspace/name`, `name@version`). A versioned object
    /// without a version comes back with `version: None`, for the caller to resolve to the
    /// latest published one.
    pub fn parse_import_id(
        &self,
        id: &str,
        default_workspace: Option<&str>,
    ) -> Result<ObjectAddress, pb::Diagnostic> {
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
        let id = id.trim();
        let (rest, version) = match id.split_once('@') {
            Some(_) if !self.kind.versioned => {
                return Err(bad(&format!("{} objects have no versions", self.kind.kind)));
            }
            Some((_, "")) => return Err(bad("the version after `@` is empty")),
            Some((rest, v)) => (rest, Some(v.to_string())),
            None => (id, None),
        };
        let (workspace, name) = match rest.split_once('/') {
            Some(_) if !self.workspaced() => {
                return Err(bad(&format!(
                    "{} objects are platform-wide and have no workspace",
                    self.kind.kind
                )));
            }
            Some((ws, name)) => {
                if ws.is_empty() {
                    return Err(bad("the workspace before `/` is empty"));
                }
                (Some(ws.to_string()), name)
            }
            None if self.workspaced() => match default_workspace {
                Some(ws) => (Some(ws.to_string()), rest),
                None => {
                    return Err(bad(
                        "it names no workspace, and the provider has no default `workspace` (or WAYFINDER_WORKSPACE)",
                    ));
                }
            },
            None => (None, rest),
        };
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        if name.contains('/') {
            return Err(bad("names cannot contain `/`"));
        }
        if self.workspaced() && self.kind.versioned && version.is_none() {
            return Err(bad("the version is missing"));
        }
        Ok(ObjectAddress {
            workspace,
            name: name.to_string(),
            version,
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
    /// the kind has them.
    pub fn identity_schema(&self) -> pb::ResourceIdentitySchema {
        use pb::resource_identity_schema::IdentityAttribute;
        let string = Type::String.to_json().to_string().into_bytes();
        let mut attrs = Vec::new();
        if self.workspaced() {
            attrs.push(IdentityAttribute {
                name: WORKSPACE.into(),
                r#type: string.clone(),
                optional_for_import: true,
                description: "The workspace (its key); the provider's `workspace` when not given."
                    .into(),
                ..Default::default()
            });
        }
        attrs.push(IdentityAttribute {
            name: NAME.into(),
            r#type: string.clone(),
            required_for_import: true,
            description: format!("The {}'s name (`metadata.name`).", self.kind.kind),
            ..Default::default()
        });
        if self.kind.versioned {
            attrs.push(IdentityAttribute {
                name: VERSION.into(),
                r#type: string,
                required_for_import: true,
                description: "The version (`spec.version`).".into(),
                ..Default::default()
            });
        }
        pb::ResourceIdentitySchema {
            version: 0,
            identity_attributes: attrs,
        }
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

    /// The address an identity (from an `import { identity = {...} }` block) names.
    pub fn address_from_identity(
        &self,
        identity: &Value,
        default_workspace: Option<&str>,
    ) -> Result<ObjectAddress, pb::Diagnostic> {
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
        let name = identity
            .get(NAME)
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing(NAME))?;
        let workspace = if self.workspaced() {
            Some(
                identity
                    .get(WORKSPACE)
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .or(default_workspace)
                    .ok_or_else(|| missing("workspace (the provider has no default workspace)"))?
                    .to_string(),
            )
        } else {
            None
        };
        let version = if self.kind.versioned {
            Some(
                identity
                    .get(VERSION)
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| missing(VERSION))?
                    .to_string(),
            )
        } else {
            None
        };
        Ok(ObjectAddress {
            workspace,
            name: name.to_string(),
            version,
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

    // -----------------------------------------------------------------------------------
    // Objects and values

    /// The Wayfinder object a (known) resource value describes.
    pub fn to_object(&self, value: &Value) -> Json {
        let mut metadata = Map::new();
        metadata.insert(NAME.into(), value.get(NAME).to_json());
        if let Some(ws) = value.get(WORKSPACE).as_str().filter(|_| self.workspaced()) {
            metadata.insert("namespace".into(), Json::String(format!("ws-{ws}")));
        }
        let mut annotations = match value.get(ANNOTATIONS).to_json() {
            Json::Object(m) => m,
            _ => Map::new(),
        };
        if self.kind.versioned
            && let Some(state) = value.get(PUBLISH_STATE).as_str()
        {
            annotations.insert(
                PUBLISHED_ANNOTATION.into(),
                Json::String((state == PublishState::Published.as_str()).to_string()),
            );
            annotations.insert(PUBLISH_STATE_ANNOTATION.into(), Json::String(state.into()));
        }
        if !annotations.is_empty() {
            metadata.insert("annotations".into(), Json::Object(annotations));
        }
        json!({
            "apiVersion": self.kind.api_version(),
            "kind": self.kind.kind,
            "metadata": Json::Object(metadata),
            "spec": Json::Object(block_to_json(value, &self.schema.block)),
        })
    }

    /// The resource value for a Wayfinder object read from the API, as it is (not settled
    /// against any prior value).
    pub fn from_object(&self, object: &Json) -> Value {
        let empty = json!({});
        let spec = object.get("spec").unwrap_or(&empty);
        let mut map = match block_from_json(spec, &self.schema.block) {
            Value::Map(m) => m,
            _ => BTreeMap::new(),
        };
        let at = object_address(self.kind, object);
        map.insert(ID.into(), Value::String(at.id()));
        map.insert(NAME.into(), Value::String(at.name.clone()));
        if self.workspaced() {
            map.insert(WORKSPACE.into(), opt_string(at.workspace.as_deref()));
        }
        if self.kind.versioned {
            map.insert(PUBLISH_STATE.into(), publish_state_value(object));
        }
        map.insert(ANNOTATIONS.into(), self.user_annotations(object));
        if let Some(ty) = &self.status {
            map.insert(
                STATUS.into(),
                snake_value(object.get("status").unwrap_or(&Json::Null), ty),
            );
        }
        if let Some(b) = &self.behaviour {
            b.read_extra(object, &mut map);
        }
        Value::Map(map).conform(&self.value_type())
    }

    /// The state after a read: the object settled against the prior state, and what only
    /// Terraform holds (the access token's secret) carried over.
    pub fn read_state(&self, object: &Json, prior: &Value) -> Value {
        let remote = self.from_object(object);
        let mut state = settle_block(&self.schema.block, remote, prior);
        if let Some(secret) = &self.secret {
            secret.carry_over(&mut state, prior);
        }
        if let Some(b) = &self.behaviour {
            b.carry_over(&mut state, prior);
        }
        state.conform(&self.value_type())
    }

    /// The state after an apply: the stored object settled against the planned state.
    pub fn applied_state(&self, stored: &Json, planned: &Value) -> Value {
        let remote = self.from_object(stored);
        let mut state = settle_block(&self.schema.block, remote, planned);
        if let Some(secret) = &self.secret {
            secret.after_apply(&mut state, planned, stored);
        }
        if let Some(b) = &self.behaviour {
            b.carry_over(&mut state, planned);
        }
        state.conform(&self.value_type())
    }

    /// `metadata.annotations` but what `publish_state` holds; null when none is left.
    fn user_annotations(&self, object: &Json) -> Value {
        let Some(a) = object
            .pointer("/metadata/annotations")
            .and_then(Json::as_object)
        else {
            return Value::Null;
        };
        let kept: Map<String, Json> = a
            .iter()
            .filter(|(k, _)| !(self.kind.versioned && is_publish_annotation(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if kept.is_empty() {
            Value::Null
        } else {
            Value::from_json(&Json::Object(kept))
        }
    }

    /// Problems only the provider can see in a configuration (the model sees the rest).
    pub fn check_config(&self, config: &Value) -> Vec<pb::Diagnostic> {
        let mut out = Vec::new();
        if self.kind.versioned
            && let Some(a) = config.get(ANNOTATIONS).untyped().as_map()
        {
            for key in a.keys().filter(|k| is_publish_annotation(k)) {
                out.push(diag::error_at(
                    Some(pb::AttributePath {
                        steps: vec![
                            pb::attribute_path::Step {
                                selector: Some(pb::attribute_path::step::Selector::AttributeName(
                                    ANNOTATIONS.into(),
                                )),
                            },
                            pb::attribute_path::Step {
                                selector: Some(
                                    pb::attribute_path::step::Selector::ElementKeyString(
                                        key.clone(),
                                    ),
                                ),
                            },
                        ],
                    }),
                    format!("Invalid annotations: {key} is set with publish_state"),
                    format!(
                        "The publish state of a {} version is its `publish_state` attribute (`Draft`, `Published` or `Deprecated`), which writes both publish annotations; remove {key:?} from `annotations`.",
                        self.kind.kind
                    ),
                ));
            }
        }
        out
    }

    // -----------------------------------------------------------------------------------
    // Planning

    /// Plans a create or update: fills in what configuration leaves to the provider
    /// (`workspace`, defaults), keeps the prior value wherever configuration means the same,
    /// computes `id`, leaves `status` unknown when anything changes, and says which changes
    /// replace the object.
    pub fn plan(
        &self,
        prior: &Value,
        proposed: Value,
        config: &Value,
        workspace: &WorkspaceDefault,
    ) -> Planned {
        let mut out = Planned::default();
        let Value::Map(mut planned) = proposed.untyped().clone() else {
            out.state = proposed;
            return out;
        };
        if self.workspaced() && config.get(WORKSPACE).is_null() {
            let v = if !prior.is_null() {
                prior.get(WORKSPACE).clone()
            } else {
                match workspace {
                    WorkspaceDefault::Known(ws) => Value::String(ws.clone()),
                    WorkspaceDefault::Unknown => Value::Unknown,
                    WorkspaceDefault::None => {
                        out.diagnostics.push(diag::error_at(
                            Some(diag::attr(WORKSPACE)),
                            format!("No workspace for this {}", self.type_name),
                            format!(
                                "A {} lives in a workspace. Set `workspace` in this resource, or a default `workspace` in the wayfinder provider block (or WAYFINDER_WORKSPACE).",
                                self.kind.kind
                            ),
                        ));
                        Value::Null
                    }
                }
            };
            planned.insert(WORKSPACE.into(), v);
        }
        if let Some(secret) = &self.secret {
            secret.plan_defaults(&mut planned, prior, config);
        }
        let mut planned = Value::Map(planned);
        if !prior.is_null() {
            planned = keep_equivalent_config(&self.schema.block, planned, prior);
        }
        let changed = prior.is_null() || !self.same_configuration(&planned, prior);
        let Value::Map(mut m) = planned else {
            unreachable!("planned is an object")
        };
        for a in self
            .schema
            .block
            .attributes
            .iter()
            .filter(|a| a.is_computed())
        {
            let v = match a.name.as_str() {
                ID => match self.address(&Value::Map(m.clone())) {
                    Some(at) => Value::String(at.id()),
                    None => Value::Unknown,
                },
                _ if self.secret.as_ref().is_some_and(|s| s.owns(&a.name)) => continue,
                _ if !changed => prior.get(&a.name).clone(),
                _ => Value::Unknown,
            };
            m.insert(a.name.clone(), v);
        }
        if let Some(secret) = &self.secret {
            secret.plan_secret(&mut m, prior);
        }
        let planned = Value::Map(m);
        if !prior.is_null() {
            out.requires_replace = self
                .schema
                .block
                .attributes
                .iter()
                .filter(|a| a.requires_replace)
                .filter(|a| {
                    let (p, n) = (prior.get(&a.name), planned.get(&a.name));
                    n.has_unknown() || !equivalent(&p.to_json(), &n.to_json())
                })
                .map(|a| diag::attr(&a.name))
                .collect();
        }
        out.state = planned;
        out
    }

    /// Whether two values agree on everything configuration can set.
    fn same_configuration(&self, a: &Value, b: &Value) -> bool {
        let settable = |v: &Value| -> Json {
            let mut j = v.to_json();
            if let Json::Object(m) = &mut j {
                for attr in self
                    .schema
                    .block
                    .attributes
                    .iter()
                    .filter(|a| a.is_computed())
                {
                    m.remove(&attr.name);
                }
            }
            j
        };
        !a.has_unknown_outside_computed(&self.schema.block)
            && equivalent(&settable(a), &settable(b))
    }

    /// The configuration `terraform plan -generate-config-out` writes for an imported
    /// object: the state without what only the provider sets, and without settings equal
    /// to their defaults.
    pub fn generate_config(&self, state: &Value) -> Value {
        let Value::Map(mut m) = state.untyped().clone() else {
            return Value::Null;
        };
        for a in self
            .schema
            .block
            .attributes
            .iter()
            .filter(|a| a.is_computed())
        {
            m.insert(a.name.clone(), Value::Null);
        }
        if let Some(secret) = &self.secret {
            secret.generate_config(&mut m);
        }
        Value::Map(m).conform(&self.value_type())
    }

    /// The attribute a Wayfinder field path points at, as far as the schema reaches
    /// (`spec.nodePools[0].autoscaling.maxSize` → `node_pools[0].autoscaling.max_size`).
    pub fn attribute_path(&self, field: &FieldPath) -> Option<pb::AttributePath> {
        use pb::attribute_path::{Step, step::Selector};
        let segs = field.segments();
        let rest = match segs.first() {
            Some(PathSegment::Field(f)) if f == "spec" => &segs[1..],
            Some(PathSegment::Field(f)) if f == "metadata" => {
                return match segs.get(1) {
                    Some(PathSegment::Field(n)) if n == "name" => Some(diag::attr(NAME)),
                    Some(PathSegment::Field(n)) if n == "annotations" && self.kind.versioned => {
                        Some(diag::attr(PUBLISH_STATE))
                    }
                    Some(PathSegment::Field(n)) if n == "namespace" && self.workspaced() => {
                        Some(diag::attr(WORKSPACE))
                    }
                    _ => None,
                };
            }
            _ => return None,
        };
        let mut block = Some(&self.schema.block);
        let mut steps = Vec::new();
        let mut indexable = false;
        for seg in rest {
            match seg {
                PathSegment::Field(f) => {
                    let Some(b) = block else { break };
                    if let Some(a) = b.attributes.iter().find(|a| a.json == Some(f.as_str())) {
                        steps.push(Step {
                            selector: Some(Selector::AttributeName(a.name.clone())),
                        });
                        indexable = matches!(a.ty, Type::List(_));
                        block = None;
                    } else if let Some(nb) = b.blocks.iter().find(|nb| nb.json == f.as_str()) {
                        steps.push(Step {
                            selector: Some(Selector::AttributeName(nb.name.clone())),
                        });
                        indexable = nb.nesting == Nesting::List;
                        block = Some(&nb.block);
                    } else {
                        break;
                    }
                }
                PathSegment::Index(i) if indexable => {
                    steps.push(Step {
                        selector: Some(Selector::ElementKeyInt(*i as i64)),
                    });
                    indexable = false;
                }
                PathSegment::Index(_) => break,
            }
        }
        (!steps.is_empty()).then_some(pb::AttributePath { steps })
    }
}

fn id_description(kind: &KindInfo) -> String {
    let form = match (kind.scope, kind.versioned) {
        (Scope::Platform, false) => "its name",
        (Scope::Workspace, false) => "`WORKSPACE/NAME`",
        (Scope::Platform, true) => "`NAME@VERSION`",
        (Scope::Workspace, true) => "`WORKSPACE/NAME@VERSION`",
    };
    format!("The object's identifier: {form}. This is also the ID `terraform import` takes.")
}

fn name_description(kind: &KindInfo) -> String {
    let form = if kinds::dotted_names(kind) {
        "lower-case letters, digits, `-` and `.` (a DNS subdomain, e.g. `cluster.admin`), at most 253 characters".to_string()
    } else if kind == &wayfinder_model::kinds::WORKSPACE {
        format!(
            "the workspace key: {}",
            wayfinder_model::validate::WORKSPACE_KEY.text
        )
    } else {
        "lower-case letters, digits and `-`, at most 63 characters".to_string()
    };
    format!("The object's name (`metadata.name`): {form}. Changing it replaces the object.")
}

fn opt_string(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// Where an object read from the API lives.
pub fn object_address(kind: &KindInfo, object: &Json) -> ObjectAddress {
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

fn is_publish_annotation(key: &str) -> bool {
    key == PUBLISHED_ANNOTATION || key == PUBLISH_STATE_ANNOTATION
}

/// `publish_state` of an object: null when it carries neither annotation.
fn publish_state_value(object: &Json) -> Value {
    let Some(annotations) = object
        .pointer("/metadata/annotations")
        .and_then(Json::as_object)
    else {
        return Value::Null;
    };
    if !annotations.contains_key(PUBLISHED_ANNOTATION)
        && !annotations.contains_key(PUBLISH_STATE_ANNOTATION)
    {
        return Value::Null;
    }
    let meta = ObjectMeta {
        annotations: Some(
            annotations
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
        ),
        ..Default::default()
    };
    match wayfinder_model::publish_state(&meta) {
        Ok(state) => Value::String(state.as_str().to_string()),
        // Annotations that disagree read as what publishState says.
        Err(_) => annotations
            .get(PUBLISH_STATE_ANNOTATION)
            .map(Value::from_json)
            .unwrap_or(Value::Null),
    }
}

/// Converts API JSON to a value of `ty`, matching object attributes to JSON fields by
/// [`naming::snake_case`] (`observedGeneration` → `observed_generation`).
pub fn snake_value(json: &Json, ty: &Type) -> Value {
    match (ty, json) {
        (_, Json::Null) => Value::Null,
        (Type::Object(attrs), Json::Object(o)) => Value::Map(
            attrs
                .iter()
                .map(|(name, t)| {
                    let v = o
                        .iter()
                        .find(|(k, _)| naming::snake_case(k) == *name)
                        .map(|(_, v)| snake_value(v, t))
                        .unwrap_or(Value::Null);
                    (name.clone(), v)
                })
                .collect(),
        ),
        (Type::List(t) | Type::Set(t), Json::Array(items)) => {
            Value::List(items.iter().map(|i| snake_value(i, t)).collect())
        }
        (Type::Map(t), Json::Object(o)) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), snake_value(v, t)))
                .collect(),
        ),
        (Type::String, Json::String(s)) => Value::String(s.clone()),
        (Type::String, Json::Number(_) | Json::Bool(_)) => Value::String(json.to_string()),
        // A value of another shape than declared: left out rather than sent malformed.
        (Type::String | Type::Number | Type::Bool | Type::Object(_), Json::Array(_))
        | (
            Type::String | Type::Number | Type::Bool | Type::List(_) | Type::Set(_),
            Json::Object(_),
        ) => Value::Null,
        (t, j) => Value::from_json(j).conform(t),
    }
}

impl Value {
    /// True when an attribute configuration may set is unknown.
    fn has_unknown_outside_computed(&self, block: &Block) -> bool {
        block
            .attributes
            .iter()
            .filter(|a| !a.is_computed())
            .any(|a| self.get(&a.name).has_unknown())
            || block.blocks.iter().any(|b| self.get(&b.name).has_unknown())
    }
}

// ---------------------------------------------------------------------------------------
// Blocks ⇄ API JSON

/// The API JSON of a block's value (the spec, or an object nested in it). Attributes that
/// map to no Wayfinder field are left out; so are null values and empty lists of blocks.
pub fn block_to_json(value: &Value, block: &Block) -> Map<String, Json> {
    let mut out = Map::new();
    for a in &block.attributes {
        let Some(json_name) = a.json else { continue };
        let v = value.get(&a.name);
        if !v.is_null() {
            out.insert(json_name.to_string(), v.to_json());
        }
    }
    for nb in &block.blocks {
        let v = value.get(&nb.name);
        // A block that maps to no Wayfinder field (`timeouts`) is Terraform's only.
        if v.is_null() || nb.json.is_empty() {
            continue;
        }
        match nb.nesting {
            Nesting::Single => {
                out.insert(
                    nb.json.to_string(),
                    Json::Object(block_to_json(v, &nb.block)),
                );
            }
            // No blocks and no list are the same; the model drops empty object lists too.
            Nesting::List => match v.as_list() {
                Some([]) | None => {}
                Some(items) => {
                    out.insert(
                        nb.json.to_string(),
                        items
                            .iter()
                            .map(|i| Json::Object(block_to_json(i, &nb.block)))
                            .collect(),
                    );
                }
            },
        }
    }
    out
}

/// A block's value from API JSON: every attribute present (null when absent), lists of
/// blocks `[]` when absent, single blocks null when absent.
pub fn block_from_json(json: &Json, block: &Block) -> Value {
    let Json::Object(obj) = json else {
        return Value::Null;
    };
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        if let Some(v) = a.json.and_then(|j| obj.get(j)) {
            let value = match &a.nested {
                Some(nested) => nested_from_json(v, nested, &a.ty),
                None => Value::from_json(v).conform(&a.ty),
            };
            out.insert(a.name.clone(), value);
        }
    }
    for nb in &block.blocks {
        let v = match (nb.nesting, obj.get(nb.json).filter(|_| !nb.json.is_empty())) {
            (Nesting::Single, Some(j)) => block_from_json(j, &nb.block),
            (Nesting::Single, None) => Value::Null,
            (Nesting::List, Some(Json::Array(items))) => typed_list(
                nb,
                items
                    .iter()
                    .map(|i| block_from_json(i, &nb.block))
                    .collect(),
            ),
            (Nesting::List, _) => typed_list(nb, Vec::new()),
        };
        out.insert(nb.name.clone(), v);
    }
    Value::Map(out).conform(&block.value_type())
}

/// The value of a nested attribute (a data source's view of a nested block) from API JSON.
fn nested_from_json(json: &Json, nested: &crate::schema::NestedAttributes, ty: &Type) -> Value {
    let inner = Block {
        attributes: nested.attributes.clone(),
        ..Block::default()
    };
    match (nested.nesting, json) {
        (Nesting::Single, _) => block_from_json(json, &inner),
        (Nesting::List, Json::Array(items)) => {
            let list = Value::List(items.iter().map(|i| block_from_json(i, &inner)).collect());
            if *ty == Type::Dynamic {
                let types = list
                    .as_list()
                    .unwrap_or_default()
                    .iter()
                    .map(|i| inner.concrete_type(i))
                    .collect();
                Value::Typed(Type::Tuple(types), Box::new(list))
            } else {
                list
            }
        }
        (Nesting::List, _) => Value::Null,
    }
}

/// A list of blocks; when the block holds `dynamic` attributes the list is a tuple and
/// carries its concrete type, as Terraform types it.
fn typed_list(nb: &crate::schema::NestedBlock, items: Vec<Value>) -> Value {
    typed_list_like(nb, items, &[])
}

/// [`typed_list`], where an item equal to the same item of one of `sources` keeps the type
/// that source recorded for it (inside a recorded tuple type, nested values carry no type
/// of their own, so it cannot be recomputed from the item).
fn typed_list_like(
    nb: &crate::schema::NestedBlock,
    items: Vec<Value>,
    sources: &[&Value],
) -> Value {
    if nb.value_type() != Type::Dynamic {
        return Value::List(items);
    }
    let recorded = |source: &Value, i: usize, item: &Value| -> Option<Type> {
        let Value::Typed(Type::Tuple(ts), inner) = source else {
            return None;
        };
        let si = inner.as_list()?;
        (ts.len() == si.len() && si.get(i) == Some(item)).then(|| ts[i].clone())
    };
    let types = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            sources
                .iter()
                .find_map(|s| recorded(s, i, item))
                .unwrap_or_else(|| nb.block.concrete_type(item))
        })
        .collect();
    Value::Typed(Type::Tuple(types), Box::new(Value::List(items)))
}

// ---------------------------------------------------------------------------------------
// Settling remote values against Terraform's

/// Whether two API JSON values mean the same to Wayfinder: absent, `null`, `""`, `[]` and
/// `{}` (and objects of nothing but those) are all "not set"; numbers compare by value;
/// object member order does not matter.
pub fn equivalent(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, x) | (x, Json::Null) => is_unset(x),
        (Json::Number(x), Json::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equivalent(a, b))
        }
        (Json::Object(x), Json::Object(y)) => x.keys().chain(y.keys()).all(|k| {
            equivalent(
                x.get(k).unwrap_or(&Json::Null),
                y.get(k).unwrap_or(&Json::Null),
            )
        }),
        (Json::Object(_) | Json::Array(_) | Json::String(_), _)
        | (_, Json::Object(_) | Json::Array(_) | Json::String(_)) => {
            is_unset(a) && is_unset(b) || a == b
        }
        _ => a == b,
    }
}

fn is_unset(j: &Json) -> bool {
    match j {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.values().all(is_unset),
        _ => false,
    }
}

/// The value to hold for a block after reading `remote`: wherever `remote` means the same
/// as `prior` ([`equivalent`]), `prior` — its exact form and `dynamic` types; elsewhere
/// `remote`. Nested blocks settle element by element when their counts agree.
pub fn settle_block(block: &Block, remote: Value, prior: &Value) -> Value {
    if prior.is_null() || prior.is_unknown() {
        return remote;
    }
    if !prior.has_unknown() && equivalent(&remote.to_json(), &prior.to_json()) {
        return prior.clone();
    }
    let Value::Map(mut rm) = remote.untyped().clone() else {
        return remote;
    };
    for a in &block.attributes {
        let r = rm.remove(&a.name).unwrap_or(Value::Null);
        let p = prior.get(&a.name);
        let v = if !p.has_unknown() && equivalent(&r.to_json(), &p.to_json()) {
            p.clone()
        } else {
            r
        };
        rm.insert(a.name.clone(), v);
    }
    for nb in &block.blocks {
        let r = rm.remove(&nb.name).unwrap_or(Value::Null);
        let p = prior.get(&nb.name);
        let v = match nb.nesting {
            Nesting::Single => settle_block(&nb.block, r, p),
            Nesting::List => match (r.as_list(), p.as_list()) {
                (Some(ri), Some(pi)) if ri.len() == pi.len() => typed_list_like(
                    nb,
                    ri.iter()
                        .zip(pi)
                        .map(|(r, p)| settle_block(&nb.block, r.clone(), p))
                        .collect(),
                    &[p, &r],
                ),
                _ => r,
            },
        };
        rm.insert(nb.name.clone(), v);
    }
    Value::Map(rm)
}

/// Planning: wherever configuration sets a value (not null) that means the same as the
/// prior one, plan the prior value, as Terraform allows; nothing else changes.
fn keep_equivalent_config(block: &Block, planned: Value, prior: &Value) -> Value {
    let Value::Map(mut m) = planned.untyped().clone() else {
        return planned;
    };
    for a in block.attributes.iter().filter(|a| !a.is_computed()) {
        let (Some(n), p) = (m.get(&a.name), prior.get(&a.name)) else {
            continue;
        };
        if !n.is_null()
            && !p.is_null()
            && !n.has_unknown()
            && !p.has_unknown()
            && equivalent(&n.to_json(), &p.to_json())
        {
            m.insert(a.name.clone(), p.clone());
        }
    }
    for nb in &block.blocks {
        let Some(n) = m.get(&nb.name).cloned() else {
            continue;
        };
        let p = prior.get(&nb.name);
        let v = match nb.nesting {
            Nesting::Single if !n.is_null() && !p.is_null() => {
                keep_equivalent_config(&nb.block, n, p)
            }
            // A tuple of blocks holding free-form values is kept whole or not at all: mixing
            // items would lose the types configuration gave them.
            Nesting::List if nb.value_type() == Type::Dynamic => {
                if !n.has_unknown() && !p.is_null() && equivalent(&n.to_json(), &p.to_json()) {
                    p.clone()
                } else {
                    n
                }
            }
            Nesting::List => match (n.as_list(), p.as_list()) {
                (Some(ni), Some(pi)) if ni.len() == pi.len() && !n.has_unknown() => {
                    typed_list_like(
                        nb,
                        ni.iter()
                            .zip(pi)
                            .map(|(n, p)| keep_equivalent_config(&nb.block, n.clone(), p))
                            .collect(),
                        &[p, &n],
                    )
                }
                _ => n,
            },
            Nesting::Single => n,
        };
        m.insert(nb.name.clone(), v);
    }
    Value::Map(m)
}

// ---------------------------------------------------------------------------------------
// Behaviour beyond the generic lifecycle

/// What a resource does beyond the generic create, read, update and delete — the cluster's
/// plan-time preview and its waits ([`cluster`]). Every method defaults to doing nothing
/// more, so the generic paths call them unconditionally.
#[tonic::async_trait]
pub trait Behaviour: Send + Sync + std::fmt::Debug {
    /// More checks of a configuration (values may be unknown).
    fn validate(&self, _config: &Value) -> Vec<pb::Diagnostic> {
        Vec::new()
    }

    /// Attributes read from the object beyond the spec and `status`.
    fn read_extra(&self, _object: &Json, _value: &mut BTreeMap<String, Value>) {}

    /// What only Terraform holds, carried from `prior` into a state read or applied.
    fn carry_over(&self, _state: &mut Value, _prior: &Value) {}

    /// Adjusts a planned create or update (after the generic plan).
    async fn plan(&self, _ctx: PlanContext<'_>, _planned: &mut Planned) {}

    /// After the server accepted a create (`create`) or update and answered `stored`: the
    /// object to record, and diagnostics (an error with the object taints a create).
    async fn after_write(
        &self,
        _ctx: ApplyContext<'_>,
        stored: Json,
        _create: bool,
    ) -> (Json, Vec<pb::Diagnostic>) {
        (stored, Vec::new())
    }

    /// After the server accepted a delete.
    async fn after_delete(&self, _ctx: ApplyContext<'_>) -> Vec<pb::Diagnostic> {
        Vec::new()
    }
}

/// What [`Behaviour::plan`] sees.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    pub resource: &'a ResourceType,
    /// `None` while the provider's configuration is not known.
    pub client: Option<&'a crate::client::Client>,
    pub prior: &'a Value,
    pub config: &'a Value,
}

/// What [`Behaviour::after_write`] and [`Behaviour::after_delete`] see.
#[derive(Debug, Clone, Copy)]
pub struct ApplyContext<'a> {
    pub resource: &'a ResourceType,
    pub client: &'a crate::client::Client,
    pub at: &'a ObjectAddress,
    /// The planned state (the prior state for a delete).
    pub value: &'a Value,
}

impl ResourceType {
    /// Gives the resource a [`Behaviour`].
    pub fn with_behaviour(mut self, b: Box<dyn Behaviour>) -> Self {
        self.behaviour = Some(b);
        self
    }

    /// The resource's [`Behaviour`], if any.
    pub fn behaviour(&self) -> Option<&dyn Behaviour> {
        self.behaviour.as_deref()
    }

    /// Adds attributes and blocks that map to no spec field.
    pub fn with_extra(mut self, attributes: Vec<Attribute>, blocks: Vec<NestedBlock>) -> Self {
        self.schema.block.attributes.extend(attributes);
        self.schema.block.blocks.extend(blocks);
        self
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
