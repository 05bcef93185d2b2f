//! HCL derived from the model's field shapes: resource bodies (nested objects as nested
//! blocks, the provider's schema), type constraints, object values and `dynamic` blocks.
//! One mechanism for every kind; nothing here knows a kind by name.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use wayfinder_model::naming;
use wayfinder_model::shape::{Field, FieldType};
use wayfinder_model::{FieldPath, PathSegment};

use crate::hcl::{Block, Body, Expr, ObjectKey};

/// Expressions that replace literal values in a resource body, by the field path of the value
/// they replace (`spec.network.networkPlan`, `spec.cluster.packages[0].name`,
/// `spec.choices.computeTemplates.allowed[1]`): references to other resources.
pub type Links = BTreeMap<String, Expr>;

/// What to write instead of a nested object's literal block: `dynamic` blocks fed from a
/// variable, for the fields that differ between environments.
pub type Dynamics = BTreeMap<String, Block>;

/// The attribute name of `field` at the top of a resource (`provider` → `cloud_provider`) or
/// nested in it.
pub fn attribute_name(field: &str, top_level: bool) -> String {
    if top_level {
        naming::top_level_attribute(field)
    } else {
        naming::nested_attribute(field)
    }
}

/// Appends the fields of `value` to `body` in the shape's declaration order: scalars, lists
/// and maps as attributes, then nested objects as nested blocks and lists of objects as
/// repeated blocks, as the provider's schema has them. Free-form (`Json`) values are written
/// with their keys as they are. A value whose path is in `links` is written as the link; a
/// nested object whose path is in `dynamics` is replaced by that block, present or not.
pub fn append_fields(
    body: &mut Body,
    fields: &'static [Field],
    value: &Map<String, Value>,
    path: &FieldPath,
    top_level: bool,
    links: &Links,
    dynamics: &Dynamics,
) {
    let mut blocks = Vec::new();
    for f in fields {
        let name = attribute_name(f.name, top_level);
        let fp = path.field(f.name);
        if let Some(dynamic) = dynamics.get(&fp.to_string()) {
            blocks.push(dynamic.clone());
            continue;
        }
        let Some(v) = value.get(f.name) else { continue };
        match (f.ty, v) {
            // Absent and null are the same to Terraform.
            (_, Value::Null) => {}
            (FieldType::Object(inner), Value::Object(map)) => {
                let mut b = Body::new();
                append_fields(&mut b, inner, map, &fp, false, links, dynamics);
                blocks.push(Block::new(&name, &[], b));
            }
            (FieldType::ObjectList(inner), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Object(map) = item {
                        let mut b = Body::new();
                        append_fields(&mut b, inner, map, &fp.index(i), false, links, dynamics);
                        blocks.push(Block::new(&name, &[], b));
                    }
                }
            }
            (FieldType::Json, v) => {
                body.attribute(name, verbatim(v));
            }
            (FieldType::StringMap, Value::Object(map)) => {
                body.attribute(
                    name,
                    Expr::Object(
                        map.iter()
                            .map(|(k, v)| (ObjectKey::Map(k.clone()), verbatim(v)))
                            .collect(),
                    ),
                );
            }
            (_, Value::Array(items)) => {
                let elems = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        links
                            .get(&fp.index(i).to_string())
                            .cloned()
                            .unwrap_or_else(|| verbatim(item))
                    })
                    .collect();
                body.attribute(name, Expr::Tuple(elems));
            }
            (_, v) => {
                let e = links
                    .get(&fp.to_string())
                    .cloned()
                    .unwrap_or_else(|| verbatim(v));
                body.attribute(name, e);
            }
        }
    }
    for b in blocks {
        body.block(b);
    }
}

/// A JSON value as an HCL expression, object keys kept as they are (quoted where they are
/// not identifiers): free-form bodies and map values.
pub fn verbatim(value: &Value) -> Expr {
    match value {
        Value::Null => Expr::Null,
        Value::Bool(b) => Expr::Bool(*b),
        Value::Number(n) => Expr::number(n),
        Value::String(s) => Expr::string(s.clone()),
        Value::Array(items) => Expr::Tuple(items.iter().map(verbatim).collect()),
        Value::Object(map) => Expr::Object(
            map.iter()
                .map(|(k, v)| (ObjectKey::Map(k.clone()), verbatim(v)))
                .collect(),
        ),
    }
}

/// A value of a shape as an HCL object value (not blocks): attribute names snake_cased as
/// the shape's fields, free-form values verbatim. For variable values and defaults.
pub fn object_value(fields: &'static [Field], value: &Map<String, Value>) -> Expr {
    let mut items = Vec::new();
    for f in fields {
        let Some(v) = value.get(f.name) else { continue };
        let e = match (f.ty, v) {
            (_, Value::Null) => continue,
            (FieldType::Object(inner), Value::Object(map)) => object_value(inner, map),
            (FieldType::ObjectList(inner), Value::Array(list)) => Expr::Tuple(
                list.iter()
                    .filter_map(Value::as_object)
                    .map(|m| object_value(inner, m))
                    .collect(),
            ),
            (_, v) => verbatim(v),
        };
        items.push((ObjectKey::Attribute(naming::nested_attribute(f.name)), e));
    }
    Expr::Object(items)
}

/// The type constraint of a field's values.
pub fn type_of(ty: FieldType) -> Expr {
    match ty {
        FieldType::String => Expr::raw("string"),
        FieldType::Number => Expr::raw("number"),
        FieldType::Bool => Expr::raw("bool"),
        FieldType::StringList => Expr::raw("list(string)"),
        FieldType::NumberList => Expr::raw("list(number)"),
        FieldType::StringMap => Expr::raw("map(string)"),
        FieldType::Json => Expr::raw("any"),
        FieldType::Object(inner) => Expr::Wrapped {
            prefix: "object(".into(),
            items: object_type_items(inner),
            suffix: ")".into(),
        },
        FieldType::ObjectList(inner) => Expr::Wrapped {
            prefix: "list(object(".into(),
            items: object_type_items(inner),
            suffix: "))".into(),
        },
    }
}

/// The attributes of an object type for `fields`: required fields as their type, the others
/// `optional(…)`.
pub fn object_type_items(fields: &'static [Field]) -> Vec<(ObjectKey, Expr)> {
    fields
        .iter()
        .map(|f| {
            let t = type_of(f.ty);
            let t = if f.required { t } else { optional(t) };
            (ObjectKey::Attribute(naming::nested_attribute(f.name)), t)
        })
        .collect()
}

/// `optional(t)`.
pub fn optional(t: Expr) -> Expr {
    match t {
        Expr::Raw(s) => Expr::Raw(format!("optional({s})")),
        Expr::Wrapped {
            prefix,
            items,
            suffix,
        } => Expr::Wrapped {
            prefix: format!("optional({prefix}"),
            items,
            suffix: format!("{suffix})"),
        },
        other => other,
    }
}

/// The contents of a block of `fields` filled from `source`, an object value with the
/// attributes of [`type_of`] (`node_pools.value`): attributes copied, nested objects and lists
/// of objects as `dynamic` blocks that are absent when the value is null.
pub fn dynamic_content(fields: &'static [Field], source: &str) -> Body {
    let mut body = Body::new();
    let mut blocks = Vec::new();
    for f in fields {
        let name = naming::nested_attribute(f.name);
        match f.ty {
            FieldType::Object(inner) => {
                blocks.push(dynamic_block(
                    &name,
                    &format!("{source}.{name} == null ? [] : [{source}.{name}]"),
                    inner,
                ));
            }
            FieldType::ObjectList(inner) => {
                blocks.push(dynamic_block(
                    &name,
                    &format!("{source}.{name} == null ? [] : {source}.{name}"),
                    inner,
                ));
            }
            _ => {
                body.attribute(&name, Expr::raw(format!("{source}.{name}")));
            }
        }
    }
    for b in blocks {
        body.block(b);
    }
    body
}

/// `dynamic "name" { for_each = …; content { … } }` for blocks of `fields`.
pub fn dynamic_block(name: &str, for_each: &str, fields: &'static [Field]) -> Block {
    let mut body = Body::new();
    body.attribute("for_each", Expr::raw(for_each))
        .block(Block::new(
            "content",
            &[],
            dynamic_content(fields, &format!("{name}.value")),
        ));
    Block::new("dynamic", &[name], body)
}

/// The JSON field path of a Terraform-side path, for messages: unchanged segments.
pub fn path_text(path: &FieldPath) -> String {
    path.segments()
        .iter()
        .map(|s| match s {
            PathSegment::Field(f) => format!(".{f}"),
            PathSegment::Index(i) => format!("[{i}]"),
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}
