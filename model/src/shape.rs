//! The shape of each kind's `spec`: every field with its Wayfinder name, type, whether it
//! is required, and what it means. The provider's schema, the compiler's HCL and the docs
//! are all derived from these declarations, so they cannot disagree about a field.

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Bool,
    StringList,
    StringMap,
    /// A nested object with its own fields.
    Object(&'static [Field]),
    /// A list of nested objects.
    ObjectList(&'static [Field]),
}

/// One field of a spec or of a nested object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The name in Wayfinder YAML/JSON (`nodePools`).
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    /// What the field means and accepts, in Markdown.
    pub description: &'static str,
}

impl Field {
    pub const fn required(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            required: true,
            description,
        }
    }

    pub const fn optional(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            required: false,
            description,
        }
    }
}

/// Finds the field called `name`.
pub fn find(fields: &'static [Field], name: &str) -> Option<&'static Field> {
    fields.iter().find(|f| f.name == name)
}

/// Checks that a JSON value uses only fields the shape declares, with matching types;
/// returns the paths that do not fit. Used in tests to keep shapes and structs in step.
pub fn mismatches(fields: &'static [Field], value: &serde_json::Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = value.as_object() else {
        return vec![format!("{path}: not an object")];
    };
    for (k, v) in obj {
        let p = format!("{path}.{k}");
        let Some(f) = find(fields, k) else {
            out.push(format!("{p}: not in the shape"));
            continue;
        };
        let ok = match (f.ty, v) {
            (FieldType::String, serde_json::Value::String(_)) => true,
            (FieldType::Number, serde_json::Value::Number(_)) => true,
            (FieldType::Bool, serde_json::Value::Bool(_)) => true,
            (FieldType::StringList, serde_json::Value::Array(a)) => a.iter().all(|i| i.is_string()),
            (FieldType::StringMap, serde_json::Value::Object(m)) => {
                m.values().all(|i| i.is_string())
            }
            (FieldType::Object(inner), o @ serde_json::Value::Object(_)) => {
                out.extend(mismatches(inner, o, &p));
                true
            }
            (FieldType::ObjectList(inner), serde_json::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    out.extend(mismatches(inner, item, &format!("{p}[{i}]")));
                }
                true
            }
            _ => false,
        };
        if !ok {
            out.push(format!("{p}: type does not match the shape ({:?})", f.ty));
        }
    }
    out
}
