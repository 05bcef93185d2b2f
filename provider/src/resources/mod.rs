//! Managed resources: one generic implementation over the model's kinds, each kind
//! declaring only the attributes of its `spec`.

pub mod cluster;
mod compute_template;

use serde_json::{Map, Value as Json, json};
use wayfinder_model::{FieldPath, KindInfo, PathSegment, naming};

use crate::codec::{Type, Value};
use crate::diag;
use crate::proto::tfplugin6 as pb;
use crate::schema::{Attribute, Block, Nesting, Presence, Schema};

/// A resource type backed by one Wayfinder kind.
#[derive(Debug)]
pub struct ResourceType {
    pub type_name: String,
    pub kind: &'static KindInfo,
    schema: Schema,
}

/// Every resource type the provider serves.
pub fn all() -> Vec<ResourceType> {
    vec![compute_template::resource()]
}

impl ResourceType {
    /// A platform-level kind: `id` and `name` (the object's name) followed by its spec.
    /// `replace` names the spec fields that cannot change in place.
    pub fn platform(kind: &'static KindInfo, replace: &[&str]) -> Self {
        let mut block = Block::from_fields(kind.spec, true);
        for a in &mut block.attributes {
            a.requires_replace = a.json.is_some_and(|j| replace.contains(&j));
            if a.requires_replace {
                a.description.push_str(" Changing it replaces the object.");
            }
        }
        let mut attributes = vec![
            Attribute::plain("id", Type::String, Presence::Computed, "The object's identifier: its name."),
            Attribute::plain(
                "name",
                Type::String,
                Presence::Required,
                "The object's name (`metadata.name`): lower-case letters, digits and `-`, at most 63 characters. Changing it replaces the object.",
            )
            .requires_replace(),
        ];
        attributes.append(&mut block.attributes);
        block.attributes = attributes;
        block.description = format!(
            "{} (`{}` {})",
            kind.description,
            kind.api_version(),
            kind.kind
        );
        Self {
            type_name: naming::resource_type(kind.kind),
            kind,
            schema: Schema { version: 0, block },
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn value_type(&self) -> Type {
        self.schema.value_type()
    }

    /// The Wayfinder object a (known) resource value describes.
    pub fn to_object(&self, value: &Value) -> Json {
        json!({
            "apiVersion": self.kind.api_version(),
            "kind": self.kind.kind,
            "metadata": { "name": value.get("name").to_json() },
            "spec": Json::Object(block_to_json(value, &self.schema.block)),
        })
    }

    /// The resource value for a Wayfinder object read from the API.
    pub fn from_object(&self, object: &Json) -> Value {
        let name = object
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Json::Null);
        let mut map =
            match block_from_json(object.get("spec").unwrap_or(&json!({})), &self.schema.block) {
                Value::Map(m) => m,
                _ => Default::default(),
            };
        map.insert("id".into(), Value::from_json(&name));
        map.insert("name".into(), Value::from_json(&name));
        Value::Map(map).conform(&self.value_type())
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
                    Some(PathSegment::Field(n)) if n == "name" => Some(diag::attr("name")),
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

    /// Top-level attributes whose change forces a new object.
    pub fn replacement_paths(&self, prior: &Value, planned: &Value) -> Vec<pb::AttributePath> {
        self.schema
            .block
            .attributes
            .iter()
            .filter(|a| a.requires_replace && prior.get(&a.name) != planned.get(&a.name))
            .map(|a| diag::attr(&a.name))
            .collect()
    }
}

fn block_to_json(value: &Value, block: &Block) -> Map<String, Json> {
    let mut out = Map::new();
    for a in &block.attributes {
        let Some(json_name) = a.json else { continue };
        let v = value.get(&a.name);
        if !v.is_null() {
            out.insert(json_name.to_string(), v.to_json());
        }
    }
    for nb in &block.blocks {
        match (nb.nesting, value.get(&nb.name)) {
            (_, Value::Null) => {}
            (Nesting::Single, v) => {
                out.insert(
                    nb.json.to_string(),
                    Json::Object(block_to_json(v, &nb.block)),
                );
            }
            // No blocks and no list are the same; the model drops empty object lists too.
            (Nesting::List, Value::List(items)) if items.is_empty() => {}
            (Nesting::List, Value::List(items)) => {
                out.insert(
                    nb.json.to_string(),
                    items
                        .iter()
                        .map(|i| Json::Object(block_to_json(i, &nb.block)))
                        .collect(),
                );
            }
            (Nesting::List, _) => {}
        }
    }
    out
}

fn block_from_json(json: &Json, block: &Block) -> Value {
    let Json::Object(obj) = json else {
        return Value::Null;
    };
    let mut out = std::collections::BTreeMap::new();
    for a in &block.attributes {
        if let Some(v) = a.json.and_then(|j| obj.get(j)) {
            out.insert(a.name.clone(), Value::from_json(v));
        }
    }
    for nb in &block.blocks {
        let v = match (nb.nesting, obj.get(nb.json)) {
            (Nesting::Single, Some(j)) => block_from_json(j, &nb.block),
            (Nesting::Single, None) => Value::Null,
            (Nesting::List, Some(Json::Array(items))) => Value::List(
                items
                    .iter()
                    .map(|i| block_from_json(i, &nb.block))
                    .collect(),
            ),
            (Nesting::List, _) => Value::List(Vec::new()),
        };
        out.insert(nb.name.clone(), v);
    }
    Value::Map(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> ResourceType {
        compute_template::resource()
    }

    fn sample_object() -> Json {
        json!({
            "apiVersion": "compute.appvia.io/v2beta2",
            "kind": "ComputeTemplate",
            "metadata": {"name": "eks-general", "resourceVersion": "4"},
            "spec": {
                "description": "General",
                "provider": "EKS",
                "nodePools": [{
                    "logicalName": "compute", "machine": "m6i.large", "diskSize": 100, "size": 2,
                    "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 5},
                    "spot": {"enabled": true, "eks": {"additionalInstanceTypes": ["m5.large"]}}
                }]
            }
        })
    }

    #[test]
    fn objects_round_trip_through_resource_values() {
        let r = template();
        let v = r.from_object(&sample_object());
        assert_eq!(v.get("id").as_str(), Some("eks-general"));
        assert_eq!(v.get("cloud_provider").as_str(), Some("EKS"));
        let pool = match v.get("node_pools") {
            Value::List(p) => p[0].clone(),
            other => panic!("{other:?}"),
        };
        assert!(pool.get("image").is_null());
        assert_eq!(
            pool.get("taints"),
            &Value::List(vec![]),
            "absent list blocks are empty lists"
        );
        assert!(
            pool.get("provider_details").is_null(),
            "absent single blocks are null"
        );
        let mut back = r.to_object(&v);
        let mut want = sample_object();
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        back["metadata"]
            .as_object_mut()
            .unwrap()
            .retain(|k, _| k == "name");
        assert_eq!(back, want);
    }

    #[test]
    fn values_always_carry_every_attribute() {
        let v = template().from_object(&json!({"metadata": {"name": "x"}, "spec": {}}));
        let Value::Map(m) = &v else { panic!() };
        let names: Vec<_> = m.keys().cloned().collect();
        assert_eq!(
            names,
            ["cloud_provider", "description", "id", "name", "node_pools"]
        );
    }

    #[test]
    fn field_paths_become_attribute_paths() {
        use pb::attribute_path::step::Selector;
        let r = template();
        let render = |p: &str| {
            let path = r.attribute_path(&FieldPath::parse(p).unwrap());
            path.map(|p| {
                p.steps
                    .iter()
                    .map(|s| match s.selector.as_ref().unwrap() {
                        Selector::AttributeName(n) => format!(".{n}"),
                        Selector::ElementKeyInt(i) => format!("[{i}]"),
                        Selector::ElementKeyString(k) => format!("[{k:?}]"),
                    })
                    .collect::<String>()
            })
        };
        assert_eq!(
            render("spec.nodePools[1].autoscaling.maxSize").as_deref(),
            Some(".node_pools[1].autoscaling.max_size")
        );
        assert_eq!(render("spec.provider").as_deref(), Some(".cloud_provider"));
        assert_eq!(render("metadata.name").as_deref(), Some(".name"));
        assert_eq!(
            render("spec.nodePools[0].spot.eks.additionalInstanceTypes[2]").as_deref(),
            Some(".node_pools[0].spot.eks.additional_instance_types[2]")
        );
        assert_eq!(
            render("spec.nodePools[0].bogus").as_deref(),
            Some(".node_pools[0]")
        );
        assert_eq!(render("apiVersion"), None);
    }
}
