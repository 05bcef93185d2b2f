//! Schemas as Markdown, in the layout the Terraform Registry shows (as `tfplugindocs` writes
//! it): the attributes of a block grouped into Required, Optional and Read-Only, each with
//! its type and flags, and every nested block, nested attribute or object-typed attribute in
//! a section of its own ("Nested Schema for `a.b`") that the parent links to.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value as Json;
use terraform_provider_wayfinder::proto::tfplugin6 as pb;

/// Attribute paths (`["node_pools", "machine"]`) whose change replaces the resource.
pub type ReplacePaths = BTreeSet<Vec<String>>;

/// One entry of a Required/Optional/Read-Only list, and what nests under it.
struct Entry<'a> {
    name: &'a str,
    line: String,
    nested: Option<Nested<'a>>,
}

/// Something that gets its own "Nested Schema" section.
enum Nested<'a> {
    Block(&'a pb::schema::Block),
    Attributes(&'a [pb::schema::Attribute]),
    /// An object type (`["object", {...}]`), whose attributes have types but no descriptions.
    Object(Json),
}

/// Which list an entry goes in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Required,
    Optional,
    ReadOnly,
}

impl Group {
    fn title(self) -> &'static str {
        match self {
            Group::Required => "Required",
            Group::Optional => "Optional",
            Group::ReadOnly => "Read-Only",
        }
    }
}

/// The "## Schema" section of a block (a resource, data source, ephemeral resource or the
/// provider), with its nested sections. `replace` holds the paths that force replacement.
pub fn schema_section(block: &pb::schema::Block, replace: &ReplacePaths) -> String {
    let mut out = String::from("## Schema\n\n");
    let mut pending = Vec::new();
    block_lists(&mut out, block, &[], replace, "###", &mut pending);
    // Nested sections, depth first, in the order their parents list them.
    while !pending.is_empty() {
        let (path, nested) = pending.remove(0);
        let mut more = Vec::new();
        let anchor = anchor_id(&path, &nested);
        let _ = writeln!(
            out,
            "<a id=\"{anchor}\"></a>\n### Nested Schema for `{}`\n",
            path.join(".")
        );
        match nested {
            Nested::Block(b) => {
                if !b.description.is_empty() {
                    let _ = writeln!(out, "{}\n", b.description.trim());
                }
                block_lists(&mut out, b, &path, replace, "", &mut more);
            }
            Nested::Attributes(attrs) => {
                attribute_lists(&mut out, attrs, &[], &path, replace, "", &mut more);
            }
            Nested::Object(ty) => object_list(&mut out, &ty, &path, &mut more),
        }
        more.append(&mut pending);
        pending = more;
    }
    out.trim_end().to_string() + "\n"
}

fn block_lists<'a>(
    out: &mut String,
    block: &'a pb::schema::Block,
    path: &[String],
    replace: &ReplacePaths,
    heading: &str,
    pending: &mut Vec<(Vec<String>, Nested<'a>)>,
) {
    attribute_lists(
        out,
        &block.attributes,
        &block.block_types,
        path,
        replace,
        heading,
        pending,
    );
}

/// The Required/Optional/Read-Only lists of attributes and nested blocks, sorted by name
/// within each list as the registry shows them.
fn attribute_lists<'a>(
    out: &mut String,
    attributes: &'a [pb::schema::Attribute],
    blocks: &'a [pb::schema::NestedBlock],
    path: &[String],
    replace: &ReplacePaths,
    heading: &str,
    pending: &mut Vec<(Vec<String>, Nested<'a>)>,
) {
    let mut entries: Vec<(Group, Entry<'a>)> = Vec::new();
    for a in attributes {
        let group = if a.required {
            Group::Required
        } else if a.optional {
            Group::Optional
        } else {
            Group::ReadOnly
        };
        let child = child_path(path, &a.name);
        entries.push((group, attribute_entry(a, &child, replace)));
    }
    for b in blocks {
        let group = if b.min_items > 0 {
            Group::Required
        } else {
            Group::Optional
        };
        let child = child_path(path, &b.type_name);
        entries.push((group, block_entry(b, &child)));
    }
    entries.sort_by(|(ga, a), (gb, b)| ga.cmp(gb).then(a.name.cmp(b.name)));
    let mut current = None;
    for (group, entry) in entries {
        if current != Some(group) {
            if current.is_some() {
                out.push('\n');
            }
            if heading.is_empty() {
                let _ = writeln!(out, "{}:\n", group.title());
            } else {
                let _ = writeln!(out, "{heading} {}\n", group.title());
            }
            current = Some(group);
        }
        let _ = writeln!(out, "{}", entry.line);
        if let Some(n) = entry.nested {
            pending.push((child_path(path, entry.name), n));
        }
    }
    out.push('\n');
}

fn child_path(path: &[String], name: &str) -> Vec<String> {
    let mut p = path.to_vec();
    p.push(name.to_string());
    p
}

fn attribute_entry<'a>(
    a: &'a pb::schema::Attribute,
    path: &[String],
    replace: &ReplacePaths,
) -> Entry<'a> {
    let (kind, nested) = match &a.nested_type {
        Some(o) => (
            match nesting_of_object(o) {
                "single" => "Attributes".to_string(),
                "list" => "Attributes List".to_string(),
                "set" => "Attributes Set".to_string(),
                "map" => "Attributes Map".to_string(),
                other => format!("Attributes ({other})"),
            },
            Some(Nested::Attributes(&o.attributes)),
        ),
        None => {
            let ty: Json = serde_json::from_slice(&a.r#type).unwrap_or(Json::Null);
            let nested = object_inside(&ty).map(|o| Nested::Object(o.clone()));
            (type_label(&ty), nested)
        }
    };
    let mut flags = vec![kind];
    if a.sensitive {
        flags.push("Sensitive".into());
    }
    if a.write_only {
        flags.push("Write-only".into());
    }
    if a.deprecated {
        flags.push("Deprecated".into());
    }
    if replace.contains(path) {
        flags.push("Forces replacement".into());
    }
    let link = nested
        .as_ref()
        .map(|n| format!(" (see [below for nested schema](#{}))", anchor_id(path, n)))
        .unwrap_or_default();
    Entry {
        name: &a.name,
        line: format!(
            "- `{}` ({}){}{}",
            a.name,
            flags.join(", "),
            description_text(&a.description),
            link
        ),
        nested,
    }
}

fn block_entry<'a>(b: &'a pb::schema::NestedBlock, path: &[String]) -> Entry<'a> {
    use pb::schema::nested_block::NestingMode;
    let mut kind = match NestingMode::try_from(b.nesting).unwrap_or(NestingMode::Invalid) {
        NestingMode::Single | NestingMode::Group => "Block".to_string(),
        NestingMode::List => "Block List".to_string(),
        NestingMode::Set => "Block Set".to_string(),
        NestingMode::Map => "Block Map".to_string(),
        NestingMode::Invalid => "Block (invalid nesting)".to_string(),
    };
    let single = matches!(
        NestingMode::try_from(b.nesting),
        Ok(NestingMode::Single | NestingMode::Group)
    );
    if !single {
        if b.min_items > 0 {
            let _ = write!(kind, ", Min: {}", b.min_items);
        }
        if b.max_items > 0 {
            let _ = write!(kind, ", Max: {}", b.max_items);
        }
    }
    let description = b
        .block
        .as_ref()
        .map(|blk| description_text(&blk.description))
        .unwrap_or_default();
    let nested = b.block.as_ref().map(Nested::Block);
    let link = nested
        .as_ref()
        .map(|n| format!(" (see [below for nested schema](#{}))", anchor_id(path, n)))
        .unwrap_or_default();
    Entry {
        name: &b.type_name,
        line: format!("- `{}` ({kind}){description}{link}", b.type_name),
        nested,
    }
}

/// The attributes of an object type, which carry no descriptions: name and type.
fn object_list<'a>(
    out: &mut String,
    ty: &Json,
    path: &[String],
    pending: &mut Vec<(Vec<String>, Nested<'a>)>,
) {
    let Some(fields) = ty.get(1).and_then(Json::as_object) else {
        return;
    };
    let _ = writeln!(out, "Read-Only:\n");
    let mut names: Vec<&String> = fields.keys().collect();
    names.sort();
    for name in names {
        let field = &fields[name];
        let child = child_path(path, name);
        let nested = object_inside(field).map(|o| Nested::Object(o.clone()));
        let link = nested
            .as_ref()
            .map(|n| {
                format!(
                    " (see [below for nested schema](#{}))",
                    anchor_id(&child, n)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "- `{name}` ({}){link}", type_label(field));
        if let Some(n) = nested {
            pending.push((child, n));
        }
    }
    out.push('\n');
}

fn nesting_of_object(o: &pb::schema::Object) -> &'static str {
    use pb::schema::object::NestingMode;
    match NestingMode::try_from(o.nesting).unwrap_or(NestingMode::Invalid) {
        NestingMode::Single => "single",
        NestingMode::List => "list",
        NestingMode::Set => "set",
        NestingMode::Map => "map",
        NestingMode::Invalid => "invalid",
    }
}

/// The anchor of a nested section, as tfplugindocs names them.
fn anchor_id(path: &[String], nested: &Nested<'_>) -> String {
    let prefix = match nested {
        Nested::Block(_) => "nestedblock",
        Nested::Attributes(_) | Nested::Object(_) => "nestedatt",
    };
    format!("{prefix}--{}", path.join("--"))
}

/// ` Description.` (with a leading space), or nothing.
fn description_text(description: &str) -> String {
    let d = description.trim();
    if d.is_empty() {
        String::new()
    } else {
        format!(" {}", d.replace('\n', " "))
    }
}

/// The object type directly inside a cty type: itself, or the element of a list, set or map.
fn object_inside(ty: &Json) -> Option<&Json> {
    match ty.get(0).and_then(Json::as_str)? {
        "object" => Some(ty),
        "list" | "set" | "map" => {
            let inner = ty.get(1)?;
            (inner.get(0).and_then(Json::as_str) == Some("object")).then_some(inner)
        }
        _ => None,
    }
}

/// A cty type (its JSON form) as the registry names it: `String`, `List of String`,
/// `Map of Number`, `Object`, `List of Object`.
pub fn type_label(ty: &Json) -> String {
    match ty {
        Json::String(s) => match s.as_str() {
            "string" => "String".into(),
            "number" => "Number".into(),
            "bool" => "Boolean".into(),
            "dynamic" => "Dynamic".into(),
            other => other.to_string(),
        },
        Json::Array(parts) => match parts.first().and_then(Json::as_str) {
            Some("list") => format!("List of {}", type_label(&parts[1])),
            Some("set") => format!("Set of {}", type_label(&parts[1])),
            Some("map") => format!("Map of {}", type_label(&parts[1])),
            Some("object") => "Object".into(),
            Some("tuple") => "Tuple".into(),
            _ => ty.to_string(),
        },
        _ => ty.to_string(),
    }
}

/// A cty type in Terraform's type-constraint syntax: `string`, `list(object({ a = string }))`.
pub fn type_constraint(ty: &Json) -> String {
    match ty {
        Json::String(s) => match s.as_str() {
            "dynamic" => "any".into(),
            other => other.to_string(),
        },
        Json::Array(parts) => match parts.first().and_then(Json::as_str) {
            Some(kind @ ("list" | "set" | "map")) => {
                format!("{kind}({})", type_constraint(&parts[1]))
            }
            Some("object") => {
                let fields = parts
                    .get(1)
                    .and_then(Json::as_object)
                    .map(|m| {
                        let mut names: Vec<&String> = m.keys().collect();
                        names.sort();
                        names
                            .into_iter()
                            .map(|n| format!("{n} = {}", type_constraint(&m[n])))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                format!("object({{ {fields} }})")
            }
            Some("tuple") => {
                let items = parts
                    .get(1)
                    .and_then(Json::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .map(type_constraint)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                format!("tuple([{items}])")
            }
            _ => ty.to_string(),
        },
        _ => ty.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attr(name: &str, ty: Json, required: bool, optional: bool) -> pb::schema::Attribute {
        pb::schema::Attribute {
            name: name.into(),
            r#type: ty.to_string().into_bytes(),
            description: format!("The {name}."),
            required,
            optional,
            computed: !required && !optional,
            ..Default::default()
        }
    }

    #[test]
    fn types_read_as_the_registry_names_them() {
        assert_eq!(type_label(&json!("string")), "String");
        assert_eq!(type_label(&json!(["list", "string"])), "List of String");
        assert_eq!(type_label(&json!(["map", "number"])), "Map of Number");
        assert_eq!(
            type_label(&json!(["list", ["object", {"a": "bool"}]])),
            "List of Object"
        );
        assert_eq!(
            type_constraint(&json!(["list", ["object", {"b": "number", "a": "string"}]])),
            "list(object({ a = string, b = number }))"
        );
    }

    #[test]
    fn groups_flags_and_nested_sections() {
        let block = pb::schema::Block {
            attributes: vec![
                attr("zeta", json!("string"), false, true),
                attr("name", json!("string"), true, false),
                pb::schema::Attribute {
                    sensitive: true,
                    ..attr("secret", json!("string"), false, false)
                },
                attr(
                    "status",
                    json!(["object", {"phase": "string", "net": ["object", {"cidr": "string"}]}]),
                    false,
                    false,
                ),
            ],
            block_types: vec![pb::schema::NestedBlock {
                type_name: "pools".into(),
                nesting: pb::schema::nested_block::NestingMode::List as i32,
                min_items: 1,
                block: Some(pb::schema::Block {
                    attributes: vec![attr("machine", json!("string"), true, false)],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let replace: ReplacePaths = [
            vec!["name".to_string()],
            vec!["pools".into(), "machine".into()],
        ]
        .into_iter()
        .collect();
        let md = schema_section(&block, &replace);
        let expected = "## Schema

### Required

- `name` (String, Forces replacement) The name.
- `pools` (Block List, Min: 1) (see [below for nested schema](#nestedblock--pools))

### Optional

- `zeta` (String) The zeta.

### Read-Only

- `secret` (String, Sensitive) The secret.
- `status` (Object) The status. (see [below for nested schema](#nestedatt--status))

<a id=\"nestedblock--pools\"></a>
### Nested Schema for `pools`

Required:

- `machine` (String, Forces replacement) The machine.

<a id=\"nestedatt--status\"></a>
### Nested Schema for `status`

Read-Only:

- `net` (Object) (see [below for nested schema](#nestedatt--status--net))
- `phase` (String)

<a id=\"nestedatt--status--net\"></a>
### Nested Schema for `status.net`

Read-Only:

- `cidr` (String)
";
        assert_eq!(md, expected, "got:\n{md}");
    }
}
