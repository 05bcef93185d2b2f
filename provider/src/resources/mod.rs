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
//! | `annotations` | always | `metadata.annotations`, but the publish annotations |
//! | `labels` | always | `metadata.labels`, but the labels the server owns ([`KindInfo::server_labels`]: a cluster's Wayfinder labels) |
//! | the spec's fields | always | attributes and nested blocks, named as [`naming`](wayfinder_model::naming) says |
//! | `version` | versioned kinds | `spec.version`; replaces (each version is its own object) |
//! | `publish_state` | versioned kinds | `Draft`, `Published`, `Deprecated` (the two annotations) |
//! | `status` | kinds with a status ([`ResourceType::with_status`]) | computed: `status`, `message`, `conditions`, and the kind's own fields |
//!
//! **No perpetual diffs.** What the server sends back is settled against what Terraform
//! holds (`settle`); drift (a real difference) shows as drift.
//!
//! The layers, as terraform-plugin-framework has them: the protocol server (`crate::server`)
//! decodes a call and hands it to the `lifecycle` (`read`, `plan`, `create`, `update`,
//! `delete`, `import`), which works on the provider's own values and diagnostics, with the
//! HTTP client and what a resource does beyond the generic lifecycle (`Behaviour`).
//!
//! | module | what |
//! |---|---|
//! | `resource_type` | the schema, derived from the kind |
//! | `address` | import IDs, identities, an object's address |
//! | `convert` | resource values ⇄ Wayfinder objects |
//! | `settle` | what the server answers, settled against Terraform's values |
//! | `plan` | planning a create or update; checking and generating configuration |
//! | `lifecycle` | read, plan, create, update, delete, import |
//! | `behaviour` | hooks beyond the generic lifecycle |
//! | `errors` | failed API calls as diagnostics |

mod access_token;
mod address;
mod behaviour;
pub(crate) mod cluster;
mod convert;
pub(crate) mod errors;
mod lifecycle;
mod plan;
mod resource_type;
mod settle;

use wayfinder_model::kinds::KindInfo;
use wayfinder_model::naming;
use wayfinder_model::object::CONDITION_SHAPE;
use wayfinder_model::shape::{Field, FieldType};

use crate::codec::{Type, Value};
use crate::diag::{AttrPath, Diagnostic};
use crate::schema::Schema;

pub use access_token::STORE_TOKEN;
pub(crate) use address::{IdentityAttribute, object_address};
pub(crate) use behaviour::{ApplyContext, Behaviour, PlanContext};
pub(crate) use convert::block_from_json;

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
/// `labels`: `metadata.labels` (but those the server owns, the model's
/// [`KindInfo::server_labels`]).
pub const LABELS: &str = "labels";

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
    /// The identity of the object planned, when its address is known.
    pub identity: Option<Value>,
    pub requires_replace: Vec<AttrPath>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A resource type backed by one Wayfinder kind.
#[derive(Debug)]
pub struct ResourceType {
    pub type_name: String,
    pub kind: &'static KindInfo,
    schema: Schema,
    /// The type of the `status` attribute, when the kind has one.
    status: Option<Type>,
    /// What the resource does beyond the generic lifecycle (`wayfinder_cluster`,
    /// `wayfinder_access_token`).
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
pub(crate) fn status_fields(kind: &KindInfo) -> Vec<StatusField> {
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

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
