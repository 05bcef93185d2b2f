//! Terraform configuration for Wayfinder objects, written as a user would write it: `name`,
//! `workspace`, `annotations`, `labels` and `publish_state` where the kind has them, then the spec's
//! fields — scalars and lists as attributes, nested objects as blocks, lists of objects as
//! repeated blocks, and free-form fields (Kyverno rules) as HCL object literals with their
//! keys as they are. The same model shapes drive the provider's schema, so a test that
//! applies this configuration checks the two agree.

use serde_json::Value;
use wayfinder_compiler::hcl::{Block, Body, Expr, File, ObjectKey};
use wayfinder_model::shape::{self, Field, FieldType};
use wayfinder_model::versioned::{PUBLISH_STATE_ANNOTATION, PUBLISHED_ANNOTATION};
use wayfinder_model::{Object, Scope, naming};

/// How an object's resource block is written beyond its own fields.
#[derive(Debug, Clone, Default)]
pub struct ResourceOptions {
    /// The `workspace` attribute: `None` leaves it out (the provider's default applies).
    pub workspace: Option<Expr>,
    /// `depends_on` addresses, e.g. `wayfinder_stage.prod`.
    pub depends_on: Vec<String>,
    /// Extra attributes written after `name`.
    pub extra: Vec<(String, Expr)>,
}

/// The resource type of an object: `wayfinder_cluster_plan`.
pub fn resource_type(object: &Object) -> String {
    naming::resource_type(object.kind_info().kind)
}

/// The `resource` block for `object`, labelled `label`.
pub fn resource_block(object: &Object, label: &str, options: &ResourceOptions) -> Block {
    let info = object.kind_info();
    let meta = object.metadata();
    let mut body = Body::new();
    body.attribute("name", Expr::string(&meta.name));
    if info.scope == Scope::Workspace
        && let Some(ws) = &options.workspace
    {
        body.attribute("workspace", ws.clone());
    }
    for (k, v) in &options.extra {
        body.attribute(k.clone(), v.clone());
    }
    let annotations: Vec<(ObjectKey, Expr)> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| {
            !(info.versioned && (*k == PUBLISHED_ANNOTATION || *k == PUBLISH_STATE_ANNOTATION))
        })
        .map(|(k, v)| (ObjectKey::Map(k.clone()), Expr::string(v)))
        .collect();
    if !annotations.is_empty() {
        body.attribute("annotations", Expr::Object(annotations));
    }
    let owned = info.server_labels();
    let labels: Vec<(ObjectKey, Expr)> = meta
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !owned.contains(&k.as_str()))
        .map(|(k, v)| (ObjectKey::Map(k.clone()), Expr::string(v)))
        .collect();
    if !labels.is_empty() {
        body.attribute("labels", Expr::Object(labels));
    }
    if info.versioned
        && meta.annotations.as_ref().is_some_and(|a| {
            a.contains_key(PUBLISHED_ANNOTATION) || a.contains_key(PUBLISH_STATE_ANNOTATION)
        })
        && let Ok(state) = wayfinder_model::publish_state(meta)
    {
        body.attribute("publish_state", Expr::string(state.as_str()));
    }
    if let Value::Object(spec) = object.spec_json() {
        append_fields(&mut body, info.spec, &spec, true);
    }
    if !options.depends_on.is_empty() {
        body.attribute(
            "depends_on",
            Expr::Tuple(
                options
                    .depends_on
                    .iter()
                    .map(|a| Expr::Traversal(a.split('.').map(str::to_string).collect()))
                    .collect(),
            ),
        );
    }
    Block::new("resource", &[&resource_type(object), label], body)
}

/// A whole file of blocks.
pub fn render(blocks: Vec<Block>) -> String {
    let mut body = Body::new();
    for b in blocks {
        body.block(b);
    }
    File::new(body).render()
}

fn append_fields(
    body: &mut Body,
    fields: &'static [Field],
    value: &serde_json::Map<String, Value>,
    top_level: bool,
) {
    let mut blocks = Vec::new();
    for (key, v) in value {
        let name = if top_level {
            naming::top_level_attribute(key)
        } else {
            naming::nested_attribute(key)
        };
        match (shape::find(fields, key).map(|f| f.ty), v) {
            (_, Value::Null) => {}
            (Some(FieldType::Object(inner)), Value::Object(map)) => {
                let mut b = Body::new();
                append_fields(&mut b, inner, map, false);
                blocks.push(Block::new(name, &[], b));
            }
            (Some(FieldType::ObjectList(inner)), Value::Array(items)) => {
                for item in items.iter().filter_map(Value::as_object) {
                    let mut b = Body::new();
                    append_fields(&mut b, inner, item, false);
                    blocks.push(Block::new(name.clone(), &[], b));
                }
            }
            (Some(FieldType::StringMap), Value::Object(map)) => {
                body.attribute(
                    name,
                    Expr::Object(
                        map.iter()
                            .map(|(k, v)| (ObjectKey::Map(k.clone()), verbatim(v)))
                            .collect(),
                    ),
                );
            }
            _ => {
                body.attribute(name, verbatim(v));
            }
        }
    }
    for block in blocks {
        body.block(block);
    }
}

/// A JSON value as an HCL literal with its keys as they are (free-form bodies such as
/// Kyverno's `match` keep Kyverno's own names).
pub fn verbatim(value: &Value) -> Expr {
    match value {
        Value::Null => Expr::Null,
        Value::Bool(b) => Expr::Bool(*b),
        Value::Number(n) => Expr::number(n),
        Value::String(s) => Expr::string(s.clone()),
        Value::Array(items) => Expr::Tuple(items.iter().map(verbatim).collect()),
        Value::Object(map) => Expr::Object(
            map.iter()
                .map(|(k, v)| (ObjectKey::Attribute(k.clone()), verbatim(v)))
                .collect(),
        ),
    }
}

/// Every object in the YAML files of the model's test data (`model/tests/data/*.yaml`),
/// in file order, each with the file it came from.
pub fn model_test_objects() -> Vec<(String, Object)> {
    let dir = crate::repo_root().join("model").join("tests").join("data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("reading a definition");
        let name = file.to_string_lossy().into_owned();
        let docs = wayfinder_model::parse_yaml_documents(&name, &text)
            .unwrap_or_else(|errors| panic!("{name}: {errors:?}"));
        out.extend(docs.into_iter().map(|d| (name.clone(), d.object)));
    }
    out
}

/// One object of a configuration: the object, its resource block's label and options.
#[derive(Debug, Clone)]
pub struct Entry {
    pub object: Object,
    pub label: String,
    pub options: ResourceOptions,
}

impl Entry {
    /// `wayfinder_cluster_plan.eks_general_purpose`.
    pub fn address(&self) -> String {
        format!("{}.{}", resource_type(&self.object), self.label)
    }

    /// The workspace key of a workspaced object (from `metadata.namespace`).
    pub fn workspace(&self) -> Option<String> {
        (self.object.kind_info().scope == Scope::Workspace).then(|| {
            self.object
                .metadata()
                .namespace
                .as_deref()
                .and_then(|ns| ns.strip_prefix("ws-"))
                .unwrap_or("admin")
                .to_string()
        })
    }

    /// The object's Terraform id: `name`, `workspace/name` or `name@version`.
    pub fn id(&self) -> String {
        let name = &self.object.metadata().name;
        let mut id = match self.workspace() {
            Some(ws) => format!("{ws}/{name}"),
            None => name.clone(),
        };
        if let Some(v) = self.object.version() {
            id.push('@');
            id.push_str(v);
        }
        id
    }

    pub fn block(&self) -> Block {
        resource_block(&self.object, &self.label, &self.options)
    }
}

/// A catalog an administrator publishes, one object of every kind but Cluster, from the
/// model's test data: the first object of each kind. Objects of workspace `admin` rely on the
/// provider's default workspace (the configuration sets `workspace = "admin"` in the provider
/// block); objects of the catalog's workspace refer to its resource, so Terraform creates
/// the workspace first and deletes it last. The cluster plan depends on everything else
/// on the platform, as Wayfinder refuses to delete what a plan version names.
pub fn catalog() -> Vec<Entry> {
    let mut seen = std::collections::BTreeSet::new();
    let objects: Vec<Object> = model_test_objects()
        .into_iter()
        .map(|(_, o)| o)
        .filter(|o| o.kind_info().kind != "Cluster" && seen.insert(o.kind_info().kind))
        .collect();
    let workspace_label = objects
        .iter()
        .find(|o| o.kind_info().kind == "Workspace")
        .map(|o| crate_label(&o.metadata().name))
        .expect("the test data has a Workspace");
    let workspace_name = objects
        .iter()
        .find(|o| o.kind_info().kind == "Workspace")
        .map(|o| o.metadata().name.clone())
        .unwrap_or_default();
    let mut entries: Vec<Entry> = objects
        .into_iter()
        .map(|object| {
            let label = crate_label(&object.metadata().name);
            let mut options = ResourceOptions::default();
            let ns = object.metadata().namespace.clone().unwrap_or_default();
            if object.kind_info().scope == Scope::Workspace && ns == format!("ws-{workspace_name}")
            {
                options.workspace = Some(Expr::Traversal(vec![
                    "wayfinder_workspace".into(),
                    workspace_label.clone(),
                    "name".into(),
                ]));
            }
            Entry {
                object,
                label,
                options,
            }
        })
        .collect();
    let others: Vec<String> = entries
        .iter()
        .filter(|e| {
            e.object.kind_info().scope == Scope::Platform
                && !matches!(e.object.kind_info().kind, "ClusterPlan" | "Workspace")
        })
        .map(Entry::address)
        .collect();
    for e in &mut entries {
        if e.object.kind_info().kind == "ClusterPlan" {
            e.options.depends_on = others.clone();
        }
    }
    entries
}

fn crate_label(name: &str) -> String {
    wayfinder_compiler::compile::resource_label(name)
}

/// A whole configuration: the `terraform` and `provider` blocks (default workspace `admin`),
/// then `entries`.
pub fn catalog_config(entries: &[Entry]) -> String {
    format!(
        "{}\nprovider \"wayfinder\" {{\n  workspace = \"admin\"\n}}\n\n{}",
        crate::REQUIRED_PROVIDERS,
        render(entries.iter().map(Entry::block).collect())
    )
}

/// `import { to = ADDR  id = "ID" }` for each entry.
pub fn import_blocks(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| {
            format!(
                "import {{\n  to = {}\n  id = {:?}\n}}\n",
                e.address(),
                e.id()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `import { to = ADDR  identity = { ... } }` for each entry (Terraform >= 1.12).
pub fn identity_import_blocks(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| {
            let mut fields = Vec::new();
            if let Some(ws) = e.workspace() {
                fields.push(format!("    workspace = {ws:?}"));
            }
            fields.push(format!("    name = {:?}", e.object.metadata().name));
            if let Some(v) = e.object.version() {
                fields.push(format!("    version = {v:?}"));
            }
            format!(
                "import {{\n  to = {}\n  identity = {{\n{}\n  }}\n}}\n",
                e.address(),
                fields.join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The object as the API takes it (`metadata.namespace` left to the URL).
pub fn api_body(object: &Object) -> Value {
    let mut body = object.to_json();
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
    }
    body
}
