//! Schemas as we declare them (the server gives them their protocol form).
//!
//! The attributes of a kind's `spec` are derived from the model's field shapes
//! ([`wayfinder_model::shape`]): names follow the model's naming rule, nested objects become
//! nested blocks (so Terraform can point a diagnostic at the exact line of a nested
//! attribute), and descriptions come from the same declarations the docs use.
//!
//! # Free-form fields
//!
//! How free-form fields ([`FieldType::Json`], e.g. the `match` and `validate` bodies of a
//! GlobalClusterPolicy's Kyverno rules) appear to users: as `dynamic` attributes, written
//! as HCL values.
//!
//! ```hcl
//! rules {
//!   name  = "require-team-label"
//!   match = { any = [{ resources = { kinds = ["Pod"] } }] }
//!   validate = {
//!     message = "Pods need a team label"
//!     pattern = { metadata = { labels = { team = "?*" } } }
//!   }
//! }
//! ```
//!
//! The other way, a JSON string (`match = jsonencode({...})`, normalised so that formatting
//! and key order do not diff, as `aws_iam_policy` does), was weighed and not taken:
//!
//! - **Writing rules naturally.** A Kyverno rule is structured data, and HCL can say it
//!   directly; Kyverno's YAML also converts as it is (`yamldecode(file("rule.yaml"))`, a
//!   module variable of any type). A string asks for `jsonencode` around every body, and a
//!   slip in hand-written JSON is found by the provider and pointed at the whole attribute,
//!   where Terraform finds a slip in HCL and points at its line.
//! - **Reading plans.** Terraform diffs a `dynamic` value structurally (`~ pattern.team`),
//!   where a string diff is one long changed line.
//! - **No perpetual diffs, either way.** A string needs its JSON normalised on every read;
//!   a `dynamic` value needs its *type* kept (a `tolist([...])` must come back a list, not a
//!   tuple). The codec keeps the type Terraform gave a value ([`crate::codec::Value::Typed`]),
//!   and reads and applies keep Terraform's value wherever the server's JSON means the
//!   same ([`crate::resources::settle_block`]), so nothing diffs that did not change.
//! - **Import and generated configuration.** A value read back from the server is typed as
//!   HCL types the same literal (objects, tuples), so `-generate-config-out` writes an
//!   object literal that plans clean.
//!
//! The cost is Terraform's rule for lists of blocks that hold `dynamic` attributes: such a
//! list (`rules`) is itself `dynamic` (a tuple), which [`NestedBlock::value_type`] and
//! [`NestedBlock::concrete_type`] follow. Sets cannot hold `dynamic` values, and no
//! free-form field is in one.

use wayfinder_model::naming;
use wayfinder_model::shape::{Field, FieldType};

use crate::codec::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    /// Set by the provider only.
    Computed,
    /// Set in configuration, or by the provider when configuration leaves it out.
    OptionalComputed,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    /// The Terraform attribute name.
    pub name: String,
    /// The Wayfinder field name, when the attribute maps to one.
    pub json: Option<&'static str>,
    pub ty: Type,
    pub presence: Presence,
    pub sensitive: bool,
    /// A change to this attribute cannot be made in place.
    pub requires_replace: bool,
    pub description: String,
    /// Nested attributes (an object, or a list of objects, whose fields are described one
    /// by one), instead of a plain type.
    pub nested: Option<NestedAttributes>,
}

/// The attributes of an object-typed attribute ([`Attribute::nested`]).
#[derive(Debug, Clone)]
pub struct NestedAttributes {
    pub nesting: Nesting,
    pub attributes: Vec<Attribute>,
}

impl Attribute {
    /// An attribute that maps to no Wayfinder field.
    pub fn plain(name: &str, ty: Type, presence: Presence, description: &str) -> Self {
        Self {
            name: name.to_string(),
            json: None,
            ty,
            presence,
            sensitive: false,
            requires_replace: false,
            description: description.to_string(),
            nested: None,
        }
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }

    /// Computed only: never set in configuration.
    pub fn is_computed(&self) -> bool {
        self.presence == Presence::Computed
    }

    /// The provider may choose the value (computed, or optional and computed).
    pub fn provider_may_set(&self) -> bool {
        matches!(
            self.presence,
            Presence::Computed | Presence::OptionalComputed
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block; null when absent.
    Single,
    /// Any number of blocks; an empty list when absent.
    List,
}

#[derive(Debug, Clone)]
pub struct NestedBlock {
    pub name: String,
    pub json: &'static str,
    pub nesting: Nesting,
    pub required: bool,
    pub block: Block,
}

impl NestedBlock {
    /// The type Terraform gives this block's value. As in Terraform, a list of blocks
    /// holding `dynamic` attributes is itself `dynamic` (a tuple, each block typed by its own
    /// values), since a list's elements must all have one type.
    pub fn value_type(&self) -> Type {
        let inner = self.block.value_type();
        match self.nesting {
            Nesting::Single => inner,
            Nesting::List if inner.has_dynamic() => Type::Dynamic,
            Nesting::List => Type::List(Box::new(inner)),
        }
    }

    /// The concrete type of a value of this block type: what a `dynamic` position holding it
    /// records.
    pub fn concrete_type(&self, value: &crate::codec::Value) -> Type {
        match self.nesting {
            Nesting::Single if value.is_null() => self.block.value_type(),
            Nesting::Single => self.block.concrete_type(value),
            Nesting::List if self.block.value_type().has_dynamic() => Type::Tuple(
                value
                    .as_list()
                    .unwrap_or_default()
                    .iter()
                    .map(|item| self.block.concrete_type(item))
                    .collect(),
            ),
            Nesting::List => Type::List(Box::new(self.block.value_type())),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Block {
    pub description: String,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

impl Block {
    /// A block for the fields of a spec (`top_level`) or of an object nested in it.
    pub fn from_fields(fields: &[Field], top_level: bool) -> Self {
        let mut block = Block::default();
        for f in fields {
            let name = if top_level {
                naming::top_level_attribute(f.name)
            } else {
                naming::nested_attribute(f.name)
            };
            let primitive = |ty: Type| Attribute {
                name: name.clone(),
                json: Some(f.name),
                ty,
                presence: if f.required {
                    Presence::Required
                } else {
                    Presence::Optional
                },
                sensitive: false,
                requires_replace: false,
                description: f.description.to_string(),
                nested: None,
            };
            let nested = |inner: &[Field], nesting| NestedBlock {
                name: name.clone(),
                json: f.name,
                nesting,
                required: f.required,
                block: Block {
                    description: f.description.to_string(),
                    ..Block::from_fields(inner, false)
                },
            };
            match f.ty {
                FieldType::String => block.attributes.push(primitive(Type::String)),
                FieldType::Number => block.attributes.push(primitive(Type::Number)),
                FieldType::Bool => block.attributes.push(primitive(Type::Bool)),
                FieldType::StringList => block
                    .attributes
                    .push(primitive(Type::List(Box::new(Type::String)))),
                FieldType::StringMap => block
                    .attributes
                    .push(primitive(Type::Map(Box::new(Type::String)))),
                FieldType::NumberList => block
                    .attributes
                    .push(primitive(Type::List(Box::new(Type::Number)))),
                // Free-form bodies (Kyverno rules) take any value: see "Free-form fields" above.
                FieldType::Json => block.attributes.push(primitive(Type::Dynamic)),
                FieldType::Object(inner) => block.blocks.push(nested(inner, Nesting::Single)),
                FieldType::ObjectList(inner) => block.blocks.push(nested(inner, Nesting::List)),
            }
        }
        block
    }

    /// This block's attributes and nested blocks as computed attributes (nested blocks
    /// become nested attributes), for a data source whose result the server decides: a
    /// data source cannot hold blocks Terraform would expect in its configuration.
    pub fn as_computed_attributes(&self) -> Vec<Attribute> {
        let mut out: Vec<Attribute> = self
            .attributes
            .iter()
            .map(|a| Attribute {
                presence: Presence::Computed,
                requires_replace: false,
                description: a
                    .description
                    .trim_end_matches(" Changing it replaces the object.")
                    .to_string(),
                ..a.clone()
            })
            .collect();
        out.extend(self.blocks.iter().map(|b| Attribute {
            name: b.name.clone(),
            json: Some(b.json),
            ty: b.value_type(),
            presence: Presence::Computed,
            sensitive: false,
            requires_replace: false,
            description: b.block.description.clone(),
            nested: Some(NestedAttributes {
                nesting: b.nesting,
                attributes: b.block.as_computed_attributes(),
            }),
        }));
        out
    }

    /// The concrete object type of a value of this block: its declared type with each
    /// `dynamic` attribute typed by its value, as Terraform types a block it decodes.
    pub fn concrete_type(&self, value: &crate::codec::Value) -> Type {
        let mut attrs: Vec<(String, Type)> = self
            .attributes
            .iter()
            .map(|a| {
                let ty = match a.ty {
                    Type::Dynamic => Type::of(value.get(&a.name)),
                    ref t => t.clone(),
                };
                (a.name.clone(), ty)
            })
            .collect();
        attrs.extend(
            self.blocks
                .iter()
                .map(|b| (b.name.clone(), b.concrete_type(value.get(&b.name)))),
        );
        Type::Object(attrs)
    }

    /// The cty object type of this block's value.
    pub fn value_type(&self) -> Type {
        let mut attrs: Vec<(String, Type)> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.ty.clone()))
            .collect();
        attrs.extend(self.blocks.iter().map(|b| (b.name.clone(), b.value_type())));
        Type::Object(attrs)
    }
}

/// A whole schema: a provider block, a resource or a data source.
#[derive(Debug, Clone)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}
