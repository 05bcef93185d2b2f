//! Schemas as we declare them, and their protocol form.
//!
//! Attributes of a kind's `spec` are declared by their Wayfinder (YAML/JSON) field name;
//! the Terraform attribute name is derived from it by the model's naming rule, so the
//! provider, the compiler and the docs can never disagree about a name.

use wayfinder_model::naming;

use crate::codec::Type;
use crate::proto::tfplugin6 as pb;

/// What kind of value an attribute holds.
#[derive(Debug, Clone)]
pub enum AttrType {
    Primitive(Type),
    /// A nested object (`x = { ... }`).
    Single(Vec<Attribute>),
    /// A list of nested objects (`x = [{ ... }]`).
    List(Vec<Attribute>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Computed,
    OptionalComputed,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    /// The Terraform attribute name.
    pub name: String,
    /// The Wayfinder field name, when the attribute maps to one.
    pub json: Option<&'static str>,
    pub ty: AttrType,
    pub presence: Presence,
    pub sensitive: bool,
    /// A change to this attribute cannot be made in place.
    pub requires_replace: bool,
    pub description: String,
}

impl Attribute {
    fn new(name: String, json: Option<&'static str>, ty: AttrType, presence: Presence, description: &str) -> Self {
        Self { name, json, ty, presence, sensitive: false, requires_replace: false, description: description.to_string() }
    }

    /// An attribute of the provider block or resource that maps to no Wayfinder field.
    pub fn plain(name: &str, ty: Type, presence: Presence, description: &str) -> Self {
        Self::new(name.to_string(), None, AttrType::Primitive(ty), presence, description)
    }

    /// A field at the top level of a kind's `spec`.
    pub fn spec(json: &'static str, ty: AttrType, presence: Presence, description: &str) -> Self {
        Self::new(naming::top_level_attribute(json), Some(json), ty, presence, description)
    }

    /// A field nested inside `spec`.
    pub fn field(json: &'static str, ty: AttrType, presence: Presence, description: &str) -> Self {
        Self::new(naming::nested_attribute(json), Some(json), ty, presence, description)
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }

    pub fn is_computed(&self) -> bool {
        matches!(self.presence, Presence::Computed | Presence::OptionalComputed)
    }

    /// The cty type of this attribute's value.
    pub fn value_type(&self) -> Type {
        match &self.ty {
            AttrType::Primitive(t) => t.clone(),
            AttrType::Single(attrs) => object_type(attrs),
            AttrType::List(attrs) => Type::List(Box::new(object_type(attrs))),
        }
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        let (ty, nested) = match &self.ty {
            AttrType::Primitive(t) => (t.to_json().to_string().into_bytes(), None),
            AttrType::Single(attrs) => (Vec::new(), Some(nested_object(attrs, pb::schema::object::NestingMode::Single))),
            AttrType::List(attrs) => (Vec::new(), Some(nested_object(attrs, pb::schema::object::NestingMode::List))),
        };
        pb::schema::Attribute {
            name: self.name.clone(),
            r#type: ty,
            nested_type: nested,
            description: self.description.clone(),
            required: self.presence == Presence::Required,
            optional: matches!(self.presence, Presence::Optional | Presence::OptionalComputed),
            computed: self.is_computed(),
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            ..Default::default()
        }
    }
}

fn nested_object(attrs: &[Attribute], nesting: pb::schema::object::NestingMode) -> pb::schema::Object {
    pb::schema::Object { attributes: attrs.iter().map(Attribute::to_proto).collect(), nesting: nesting as i32 }
}

/// The object type of a list of attributes.
pub fn object_type(attrs: &[Attribute]) -> Type {
    Type::Object(attrs.iter().map(|a| (a.name.clone(), a.value_type())).collect())
}

/// A whole schema: a provider block, a resource or a data source.
#[derive(Debug, Clone)]
pub struct Schema {
    pub version: i64,
    pub description: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    pub fn value_type(&self) -> Type {
        object_type(&self.attributes)
    }

    pub fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(pb::schema::Block {
                version: self.version,
                attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
                description: self.description.clone(),
                description_kind: pb::StringKind::Markdown as i32,
                ..Default::default()
            }),
        }
    }
}

/// Shorthands for declaring schemas.
pub mod dsl {
    use super::*;

    pub fn string() -> AttrType {
        AttrType::Primitive(Type::String)
    }
    pub fn number() -> AttrType {
        AttrType::Primitive(Type::Number)
    }
    pub fn bool() -> AttrType {
        AttrType::Primitive(Type::Bool)
    }
    pub fn list_of_strings() -> AttrType {
        AttrType::Primitive(Type::List(Box::new(Type::String)))
    }
    pub fn object(attrs: Vec<Attribute>) -> AttrType {
        AttrType::Single(attrs)
    }
    pub fn list_of(attrs: Vec<Attribute>) -> AttrType {
        AttrType::List(attrs)
    }
    pub use super::Presence::{Computed, Optional, OptionalComputed, Required};
}
