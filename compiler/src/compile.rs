//! Definitions in, a Terraform module out: parsing and validation (by the model), duplicate
//! detection, and the mapping of each object onto a resource. No I/O happens here.

use std::collections::BTreeMap;

use wayfinder_model::shape::{self, Field, FieldType};
use wayfinder_model::{FieldPath, Object, kinds, naming};

use crate::diagnostic::Diagnostic;
use crate::hcl::{Block, Body, Expr, File, ObjectKey};

/// `required_version` in the generated `versions.tf`.
pub const REQUIRED_TERRAFORM_VERSION: &str = ">= 1.6.0";
/// The provider's source address.
pub const PROVIDER_SOURCE: &str = "wayfinder/wayfinder";
/// The provider version constraint unless `--provider-version` says otherwise.
pub const DEFAULT_PROVIDER_VERSION: &str = ">= 0.1.0";

/// One input file's text and the name it is reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as the user spelled it; used in diagnostics.
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Decodes a file's bytes; invalid UTF-8 is reported with the line and column of the
    /// first bad byte. A leading byte-order mark is dropped.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Result<Self, Box<Diagnostic>> {
        let name = name.into();
        match String::from_utf8(bytes) {
            Ok(text) => {
                let text = match text.strip_prefix('\u{feff}') {
                    Some(rest) => rest.to_string(),
                    None => text,
                };
                Ok(Self { name, text })
            }
            Err(e) => {
                let bytes = e.as_bytes();
                let good = &bytes[..e.utf8_error().valid_up_to()];
                let line = good.iter().filter(|b| **b == b'\n').count() + 1;
                let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                // Valid up to here, so this slice is UTF-8; count characters for the column.
                let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
                Err(Box::new(
                    Diagnostic::file(
                    name,
                    format!(
                        "not valid UTF-8 (byte 0x{:02X} at offset {}); definitions must be UTF-8 text",
                        bytes[good.len()],
                        good.len()
                    ),
                )
                .at(line, column),
                ))
            }
        }
    }
}

/// What the module says about its provenance and which provider it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// The provider version constraint written to `versions.tf`.
    pub provider_version: String,
    /// The inputs as the header of `main.tf` names them (the CLI passes its PATH arguments
    /// relative to the output directory, so the text does not depend on where it was run
    /// from). When empty, the sources' names are used.
    pub generated_from: Vec<String>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            provider_version: DEFAULT_PROVIDER_VERSION.to_string(),
            generated_from: Vec::new(),
        }
    }
}

/// A generated module: file paths relative to the module directory (`/`-separated, e.g.
/// `main.tf`, later `catalog/main.tf`) and their contents, in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    files: BTreeMap<String, String>,
}

impl Module {
    pub fn insert(&mut self, path: impl Into<String>, contents: String) {
        self.files.insert(path.into(), contents);
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// `(relative path, contents)`, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The result of a successful compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub module: Module,
    /// How many definitions went in.
    pub definitions: usize,
}

/// One object read from the inputs, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub file: String,
    /// Zero-based index of the document in its file.
    pub document: usize,
    pub object: Object,
}

/// The kinds that compile into module resources.
pub const COMPILED_KINDS: &[&str] = &["ComputeTemplate"];

/// Parses and validates every source; returns every definition and every problem found in
/// any of them (parse errors, validation errors, duplicate `kind`+`name`).
pub fn load(sources: &[Source]) -> (Vec<Definition>, Vec<Diagnostic>) {
    let mut definitions = Vec::new();
    let mut problems = Vec::new();
    // Where each `kind`+`name` was first defined: `file:line:column`, or the file and
    // document.
    let mut seen: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    let name_path = FieldPath::root().field("metadata").field("name");
    for source in sources {
        // Documents that parse are still validated when a neighbour does not, so that
        // every problem is reported in one run.
        let (docs, errors) = wayfinder_model::read_yaml_documents(&source.name, &source.text);
        problems.extend(errors.iter().map(Diagnostic::from_parse_error));
        for doc in docs {
            let kind = doc.object.kind_info().kind;
            if !COMPILED_KINDS.contains(&kind) {
                problems.push(
                    Diagnostic::file(
                        &source.name,
                        format!(
                            "{kind} definitions are not compiled into modules (yet); wayfinder-compile takes {}",
                            COMPILED_KINDS.join(", ")
                        ),
                    )
                    .object(doc.object.display_name())
                    .document(doc.index)
                    .located(doc.locate(&FieldPath::root().field("kind"))),
                );
                continue;
            }
            if let Err(e) = doc.object.validate() {
                problems.extend(Diagnostic::from_validation(
                    &source.name,
                    doc.index,
                    &e,
                    &doc.spans,
                ));
            }
            let key = (
                doc.object.kind_info().kind,
                doc.object.metadata().name.clone(),
            );
            match seen.get(&key) {
                // A missing name is a validation error already; no need to say it twice.
                _ if key.1.is_empty() => {}
                Some(place) => {
                    problems.push(
                        Diagnostic::at_field(
                            &source.name,
                            doc.index,
                            &doc.spans,
                            &name_path,
                            format!(
                                "defined more than once: {} is also defined in {place}; names must be unique per kind",
                                doc.object.display_name()
                            ),
                        )
                        .object(doc.object.display_name()),
                    );
                }
                None => {
                    let file = &source.name;
                    let place = match (doc.locate(&name_path), doc.index) {
                        (Some((line, column)), _) => format!("{file}:{line}:{column}"),
                        (None, 0) => file.clone(),
                        (None, d) => format!("{file} (document {})", d + 1),
                    };
                    seen.insert(key, place);
                }
            }
            definitions.push(Definition {
                file: source.name.clone(),
                document: doc.index,
                object: doc.object,
            });
        }
    }
    (definitions, problems)
}

/// Compiles the sources into a module, or returns every problem found.
pub fn compile(sources: &[Source], options: &CompileOptions) -> Result<Compiled, Vec<Diagnostic>> {
    let (definitions, problems) = load(sources);
    if !problems.is_empty() {
        return Err(problems);
    }
    if definitions.is_empty() {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let file = names.first().copied().unwrap_or("<input>");
        return Err(vec![Diagnostic::file(
            file,
            format!(
                "no definitions found in {}; expected YAML documents with apiVersion, kind, metadata and spec",
                if names.is_empty() {
                    "the input".to_string()
                } else {
                    names.join(", ")
                }
            ),
        )]);
    }
    let generated_from = if options.generated_from.is_empty() {
        sources.iter().map(|s| s.name.clone()).collect()
    } else {
        options.generated_from.clone()
    };
    Ok(Compiled {
        module: emit(&definitions, &options.provider_version, &generated_from),
        definitions: definitions.len(),
    })
}

/// Renders valid definitions into the module's files.
pub fn emit(
    definitions: &[Definition],
    provider_version: &str,
    generated_from: &[String],
) -> Module {
    // Objects grouped by kind (in the model's kind order), sorted by name within a kind.
    let mut by_kind: Vec<(&kinds::KindInfo, Vec<&Object>)> = Vec::new();
    for info in kinds::ALL {
        let mut objects: Vec<&Object> = definitions
            .iter()
            .map(|d| &d.object)
            .filter(|o| o.kind_info().kind == info.kind)
            .collect();
        objects.sort_by(|a, b| a.metadata().name.cmp(&b.metadata().name));
        if !objects.is_empty() {
            by_kind.push((info, objects));
        }
    }

    let mut module = Module::default();
    module.insert("versions.tf", versions_tf(provider_version).render());

    let mut main = Body::new();
    let mut outputs = Body::new();
    for (info, objects) in &by_kind {
        for object in objects {
            main.block(resource(object));
        }
        outputs.block(ids_output(info, objects));
    }
    let header = format!(
        "Generated by wayfinder-compile from {}. Do not edit; change the definitions and compile again.",
        generated_from.join(", ")
    );
    module.insert("main.tf", File::new(main).with_header(header).render());
    module.insert("outputs.tf", File::new(outputs).render());
    module
}

/// The `terraform { … }` block pinning Terraform and the provider.
pub fn versions_tf(provider_version: &str) -> File {
    let provider = Expr::Object(vec![
        (
            ObjectKey::Attribute("source".into()),
            Expr::string(PROVIDER_SOURCE),
        ),
        (
            ObjectKey::Attribute("version".into()),
            Expr::string(provider_version),
        ),
    ]);
    let mut providers = Body::new();
    providers.attribute("wayfinder", provider);
    let mut terraform = Body::new();
    terraform
        .attribute("required_version", Expr::string(REQUIRED_TERRAFORM_VERSION))
        .block(Block::new("required_providers", &[], providers));
    let mut body = Body::new();
    body.block(Block::new("terraform", &[], terraform));
    File::new(body)
}

/// The resource for one object: `name`, then the `spec` fields. How each field is written
/// follows the kind's shape in the model (the same declarations the provider's schema is
/// built from): scalars, string lists and string maps are attributes; nested objects are
/// nested blocks, and lists of objects repeated blocks. Within a body, attributes come
/// first, then blocks, each in the spec's declaration order.
pub fn resource(object: &Object) -> Block {
    let name = &object.metadata().name;
    let mut body = Body::new();
    body.attribute("name", Expr::string(name));
    if let serde_json::Value::Object(spec) = object.spec_json() {
        append_fields(&mut body, object.kind_info().spec, &spec, true);
    }
    Block::new(
        "resource",
        &[&resource_type(object), &resource_label(name)],
        body,
    )
}

/// Appends the fields of a JSON object to `body`, guided by their shape. A field the shape
/// does not declare (the model's tests keep that from happening) is written as an attribute.
fn append_fields(
    body: &mut Body,
    fields: &'static [Field],
    value: &serde_json::Map<String, serde_json::Value>,
    top_level: bool,
) {
    use serde_json::Value;
    let mut blocks = Vec::new();
    for (key, v) in value {
        let name = if top_level {
            naming::top_level_attribute(key)
        } else {
            naming::nested_attribute(key)
        };
        match (shape::find(fields, key).map(|f| f.ty), v) {
            // Absent and null are the same to Terraform.
            (_, Value::Null) => {}
            (Some(FieldType::Object(inner)), Value::Object(map)) => {
                blocks.push(nested_block(&name, inner, map));
            }
            (Some(FieldType::ObjectList(inner)), Value::Array(items))
                if items.iter().all(Value::is_object) =>
            {
                blocks.extend(
                    items
                        .iter()
                        .filter_map(Value::as_object)
                        .map(|map| nested_block(&name, inner, map)),
                );
            }
            (Some(FieldType::StringMap), Value::Object(map)) => {
                body.attribute(
                    name,
                    Expr::Object(
                        map.iter()
                            .map(|(k, v)| (ObjectKey::Map(k.clone()), expr_from_json(v)))
                            .collect(),
                    ),
                );
            }
            _ => {
                body.attribute(name, expr_from_json(v));
            }
        }
    }
    for block in blocks {
        body.block(block);
    }
}

fn nested_block(
    name: &str,
    fields: &'static [Field],
    value: &serde_json::Map<String, serde_json::Value>,
) -> Block {
    let mut body = Body::new();
    append_fields(&mut body, fields, value, false);
    Block::new(name, &[], body)
}

fn resource_type(object: &Object) -> String {
    naming::resource_type(object.kind_info().kind)
}

/// The resource label for an object name: `eks-general` → `eks_general`; a name starting
/// with a digit gets a `t_` prefix (`1a` → `t_1a`), as labels must start with a letter.
pub fn resource_label(name: &str) -> String {
    let label = name.replace(['-', '.'], "_");
    if label.starts_with(|c: char| c.is_ascii_digit()) {
        format!("t_{label}")
    } else {
        label
    }
}

/// A JSON value as an HCL expression, with no shape to go by: object keys are taken for
/// field names and become attribute names.
pub fn expr_from_json(value: &serde_json::Value) -> Expr {
    use serde_json::Value;
    match value {
        Value::Null => Expr::Null,
        Value::Bool(b) => Expr::Bool(*b),
        Value::Number(n) => Expr::number(n),
        Value::String(s) => Expr::string(s.clone()),
        Value::Array(items) => Expr::Tuple(items.iter().map(expr_from_json).collect()),
        Value::Object(map) => Expr::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        ObjectKey::Attribute(naming::nested_attribute(k)),
                        expr_from_json(v),
                    )
                })
                .collect(),
        ),
    }
}

/// `output "compute_template_ids"`: the ID of each object of a kind, by name.
fn ids_output(info: &kinds::KindInfo, objects: &[&Object]) -> Block {
    let rtype = naming::resource_type(info.kind);
    let words = naming::snake_case(info.kind);
    let value = Expr::Object(
        objects
            .iter()
            .map(|o| {
                let name = &o.metadata().name;
                (
                    ObjectKey::Map(name.clone()),
                    Expr::Traversal(vec![rtype.clone(), resource_label(name), "id".into()]),
                )
            })
            .collect(),
    );
    let mut body = Body::new();
    body.attribute(
        "description",
        Expr::string(format!(
            "The ID of each {}, by name.",
            words.replace('_', " ")
        )),
    )
    .attribute("value", value);
    Block::new("output", &[&format!("{words}_ids")], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata:\n  name: NAME\nspec:\n  provider: EKS\n  nodePools: [{logicalName: a, machine: m6i.large, size: 1}]\n";

    fn t(name: &str) -> String {
        T.replace("NAME", name)
    }

    #[test]
    fn labels() {
        assert_eq!(resource_label("eks-general"), "eks_general");
        assert_eq!(resource_label("1st"), "t_1st");
        assert_eq!(resource_label("a"), "a");
    }

    #[test]
    fn duplicates_name_both_places() {
        let sources = [
            Source::new("a.yaml", t("x")),
            Source::new("b.yaml", format!("{}---\n{}", t("y"), t("x"))),
        ];
        let errs = compile(&sources, &CompileOptions::default()).unwrap_err();
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "b.yaml:12:3: ComputeTemplate/x: metadata.name: defined more than once: ComputeTemplate/x is also defined in a.yaml:4:3; names must be unique per kind"
            ]
        );
    }

    #[test]
    fn empty_inputs_are_an_error() {
        let errs = compile(
            &[Source::new("a.yaml", "---\n")],
            &CompileOptions::default(),
        )
        .unwrap_err();
        assert!(
            errs[0]
                .message
                .starts_with("no definitions found in a.yaml")
        );
    }

    #[test]
    fn non_utf8_is_located() {
        let d = Source::from_bytes("a.yaml", b"kind: x\nname: ab\xff\n".to_vec()).unwrap_err();
        assert_eq!(
            d.to_string(),
            "a.yaml:2:9: not valid UTF-8 (byte 0xFF at offset 16); definitions must be UTF-8 text"
        );
        let s = Source::from_bytes("b.yaml", "\u{feff}a: 1".as_bytes().to_vec()).unwrap();
        assert_eq!(s.text, "a: 1");
    }

    #[test]
    fn output_is_sorted_by_name_whatever_the_input_order() {
        let a = compile(
            &[Source::new("f.yaml", format!("{}---\n{}", t("b"), t("a")))],
            &CompileOptions::default(),
        )
        .unwrap();
        let main = a.module.get("main.tf").unwrap();
        let pa = main.find("\"a\" {").unwrap();
        let pb = main.find("\"b\" {").unwrap();
        assert!(pa < pb, "{main}");
        assert_eq!(a.definitions, 2);
        let names: Vec<&str> = a.module.files().map(|(p, _)| p).collect();
        assert_eq!(names, ["main.tf", "outputs.tf", "versions.tf"]);
    }
}
