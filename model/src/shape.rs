//! The shape of each kind's `spec`: every field with its Wayfinder name, type, whether it
//! is required, and what it means. The provider's schema, the compiler's HCL and the docs
//! are all derived from these declarations, so they cannot disagree about a field.

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    String,
    /// A number.
    Number,
    /// True or false.
    Bool,
    /// A list of strings.
    StringList,
    /// A list of numbers (e.g. network prefix lengths).
    NumberList,
    /// A map of string keys to string values.
    StringMap,
    /// Free-form JSON (any value): bodies Wayfinder passes through untouched, such as the
    /// `match` and `validate` blocks of Kyverno rules.
    Json,
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
    /// The field's type.
    pub ty: FieldType,
    /// Whether the field must be set.
    pub required: bool,
    /// What the field means and accepts, in Markdown.
    pub description: &'static str,
    /// Whether the field cannot change once the object exists: an update that changes it is
    /// refused by the server, and the provider replaces the object instead.
    pub immutable: bool,
}

impl Field {
    /// A field that must be set.
    pub const fn required(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            required: true,
            description,
            immutable: false,
        }
    }

    /// A field that may be left out.
    pub const fn optional(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            required: false,
            description,
            immutable: false,
        }
    }

    /// This field, immutable once the object exists ([`Field::immutable`]).
    pub const fn immutable(mut self) -> Self {
        self.immutable = true;
        self
    }
}

/// Finds the field called `name`.
pub fn find(fields: &'static [Field], name: &str) -> Option<&'static Field> {
    fields.iter().find(|f| f.name == name)
}

/// The paths of the immutable fields of a shape (`provider`, `a.b` inside a nested object),
/// in declaration order. Fields inside lists are not tracked one by one: mark the list.
pub fn immutable_paths(fields: &'static [Field]) -> Vec<String> {
    fn walk(fields: &'static [Field], prefix: &str, out: &mut Vec<String>) {
        for f in fields {
            let p = if prefix.is_empty() {
                f.name.to_string()
            } else {
                format!("{prefix}.{}", f.name)
            };
            if f.immutable {
                out.push(p.clone());
            }
            if let FieldType::Object(inner) = f.ty {
                walk(inner, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(fields, "", &mut out);
    out
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
            (FieldType::NumberList, serde_json::Value::Array(a)) => a.iter().all(|i| i.is_number()),
            (FieldType::Json, _) => true,
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

/// Every field path a shape declares (`nodePools`, `nodePools[].machine`, …), in declaration
/// order; list items are written `[]`. Free-form JSON fields are leaves.
pub fn field_paths(fields: &'static [Field]) -> Vec<String> {
    fn walk(fields: &'static [Field], prefix: &str, out: &mut Vec<String>) {
        for f in fields {
            let p = if prefix.is_empty() {
                f.name.to_string()
            } else {
                format!("{prefix}.{}", f.name)
            };
            out.push(p.clone());
            match f.ty {
                FieldType::Object(inner) => walk(inner, &p, out),
                FieldType::ObjectList(inner) => walk(inner, &format!("{p}[]"), out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(fields, "", &mut out);
    out
}

/// The field paths of `value` that the shape declares, in the form [`field_paths`] uses;
/// fields the shape does not know are left out ([`mismatches`] reports those).
pub fn present_paths(fields: &'static [Field], value: &serde_json::Value) -> Vec<String> {
    fn walk(
        fields: &'static [Field],
        value: &serde_json::Value,
        prefix: &str,
        out: &mut Vec<String>,
    ) {
        let Some(obj) = value.as_object() else {
            return;
        };
        for (k, v) in obj {
            let Some(f) = find(fields, k) else {
                continue;
            };
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(p.clone());
            match (f.ty, v) {
                (FieldType::Object(inner), _) => walk(inner, v, &p, out),
                (FieldType::ObjectList(inner), serde_json::Value::Array(items)) => {
                    for item in items {
                        walk(inner, item, &format!("{p}[]"), out);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(fields, value, "", &mut out);
    out.sort();
    out.dedup();
    out
}
