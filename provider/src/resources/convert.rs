//! Resource values ⇄ Wayfinder objects (API JSON).

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};
use wayfinder_model::meta::ObjectMeta;
use wayfinder_model::naming;
use wayfinder_model::versioned::{PUBLISH_STATE_ANNOTATION, PUBLISHED_ANNOTATION, PublishState};

use super::address::{object_address, opt_string};
use super::{ANNOTATIONS, ID, LABELS, NAME, PUBLISH_STATE, ResourceType, STATUS, WORKSPACE};
use crate::codec::{Type, Value};
use crate::schema::{Block, Nesting};

impl ResourceType {
    /// The Wayfinder object a (known) resource value describes.
    pub(crate) fn to_object(&self, value: &Value) -> Json {
        let mut metadata = Map::new();
        metadata.insert(NAME.into(), value.get(NAME).to_json());
        if let Some(ws) = value.get(WORKSPACE).as_str().filter(|_| self.workspaced()) {
            metadata.insert("namespace".into(), Json::String(format!("ws-{ws}")));
        }
        if let Json::Object(labels) = value.get(LABELS).to_json()
            && !labels.is_empty()
        {
            metadata.insert("labels".into(), Json::Object(labels));
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
        map.insert(LABELS.into(), self.user_labels(object));
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

    /// `metadata.labels` but those the server owns; null when none is left.
    fn user_labels(&self, object: &Json) -> Value {
        let owned = self.kind.server_labels();
        let kept: Map<String, Json> = object
            .pointer("/metadata/labels")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
            .filter(|(k, _)| !owned.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if kept.is_empty() {
            Value::Null
        } else {
            Value::from_json(&Json::Object(kept))
        }
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
}

pub(super) fn is_publish_annotation(key: &str) -> bool {
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
pub(crate) fn snake_value(json: &Json, ty: &Type) -> Value {
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
    pub(super) fn has_unknown_outside_computed(&self, block: &Block) -> bool {
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
pub(crate) fn block_to_json(value: &Value, block: &Block) -> Map<String, Json> {
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
pub(crate) fn block_from_json(json: &Json, block: &Block) -> Value {
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
pub(super) fn typed_list_like(
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
