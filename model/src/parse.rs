//! Reading Wayfinder objects from YAML (multi-document) and JSON.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{FieldPath, ParseError};
use crate::kinds::{self, Object};

/// One object read from a document stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Zero-based index of the document in its stream.
    pub index: usize,
    pub object: Object,
}

/// Parses every document of a YAML stream, failing if any document fails. See
/// [`read_yaml_documents`] to keep the good documents too.
pub fn parse_yaml_documents(
    source_name: &str,
    text: &str,
) -> Result<Vec<Document>, Vec<ParseError>> {
    let (docs, errors) = read_yaml_documents(source_name, text);
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// Reads every document of a YAML stream: the objects that parsed, and an error for each
/// document that did not. Empty documents are skipped. A syntax error ends the stream, as
/// the parser cannot resynchronise after it.
pub fn read_yaml_documents(source_name: &str, text: &str) -> (Vec<Document>, Vec<ParseError>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for (index, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        match serde_json::Value::deserialize(de) {
            Ok(serde_json::Value::Null) => {}
            Ok(value) => match object_from_value(source_name, index, value) {
                Ok(object) => docs.push(Document { index, object }),
                Err(e) => errors.push(e),
            },
            Err(e) => {
                let location = e.location().map(|l| (l.line(), l.column()));
                errors.push(ParseError {
                    source_name: source_name.to_string(),
                    document: index,
                    location,
                    object: None,
                    path: FieldPath::root(),
                    message: format!("not valid YAML: {}", strip_location(&e.to_string())),
                });
                break;
            }
        }
    }
    (docs, errors)
}

/// Parses one JSON object, such as an API request body.
pub fn parse_json(source_name: &str, bytes: &[u8]) -> Result<Object, ParseError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ParseError {
        source_name: source_name.to_string(),
        document: 0,
        location: Some((e.line(), e.column())),
        object: None,
        path: FieldPath::root(),
        message: format!("not valid JSON: {}", strip_location(&e.to_string())),
    })?;
    object_from_value(source_name, 0, value)
}

/// Reads an already-parsed JSON value as an object of the kind its `apiVersion` and `kind`
/// name.
pub fn object_from_value(
    source_name: &str,
    document: usize,
    value: serde_json::Value,
) -> Result<Object, ParseError> {
    let err = |object: Option<String>, path: FieldPath, message: String| ParseError {
        source_name: source_name.to_string(),
        document,
        location: None,
        object,
        path,
        message,
    };
    let supported = || {
        kinds::ALL
            .iter()
            .map(|k| format!("{} ({})", k.kind, k.api_version()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let serde_json::Value::Object(map) = &value else {
        return Err(err(
            None,
            FieldPath::root(),
            format!(
                "expected an object with apiVersion, kind, metadata and spec; supported kinds: {}",
                supported()
            ),
        ));
    };
    let text = |k: &str| {
        map.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .map(|n| format!("{}/{n}", if kind.is_empty() { "object" } else { &kind }));
    if api_version.is_empty() || kind.is_empty() {
        let missing = if api_version.is_empty() {
            "apiVersion"
        } else {
            "kind"
        };
        return Err(err(
            name,
            FieldPath::root().field(missing),
            format!("required; supported kinds: {}", supported()),
        ));
    }
    let Some(info) = kinds::by_api_version_kind(&api_version, &kind) else {
        let path = if kinds::ALL.iter().any(|k| k.kind == kind) {
            "apiVersion"
        } else {
            "kind"
        };
        return Err(err(
            name,
            FieldPath::root().field(path),
            format!(
                "{kind} ({api_version}) is not a supported kind; supported kinds: {}",
                supported()
            ),
        ));
    };
    kinds::typed_from_value(info, value).map_err(|(path, message)| err(name.clone(), path, message))
}

pub(crate) fn typed_from<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, (FieldPath, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = FieldPath::parse(&e.path().to_string()).unwrap_or_default();
        (path, with_suggestion(&e.into_inner().to_string()))
    })
}

/// Adds "did you mean …?" to serde's unknown-field message when a known field is close.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let best = candidates
        .iter()
        .map(|c| (edit_distance(&field.to_lowercase(), &c.to_lowercase()), *c))
        .min();
    match best {
        Some((d, c)) if d <= 2.max(field.len() / 3) => format!(
            "unknown field `{field}`, did you mean `{c}`? (accepted:{})",
            expected
                .trim_start_matches(',')
                .trim_start_matches(" expected")
        ),
        _ => message.to_string(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// serde_yaml and serde_json append " at line L column C"; we report the location apart.
fn strip_location(message: &str) -> String {
    let mut out = message.to_string();
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + " at line ".len()..];
        let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
        let line_len = digits(rest);
        let after = &rest[line_len..];
        let Some(col) = after.strip_prefix(" column ") else {
            break;
        };
        let end = i + " at line ".len() + line_len + " column ".len() + digits(col);
        out.replace_range(i..end, "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata:\n  name: t\nspec:\n  provider: EKS\n  nodePools: [{logicalName: a, machine: m6i.large, size: 1}]\n";

    #[test]
    fn reads_several_documents_and_skips_empty_ones() {
        let text = format!(
            "---\n{TEMPLATE}---\n---\n{}",
            TEMPLATE.replace("name: t", "name: u")
        );
        let docs = parse_yaml_documents("a.yaml", &text).unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| d.object.metadata().name.clone())
            .collect();
        assert_eq!(names, ["t", "u"]);
    }

    #[test]
    fn unknown_fields_name_the_path_and_suggest() {
        let text = TEMPLATE.replace("nodePools:", "nodePool:");
        let errs = parse_yaml_documents("a.yaml", &text).unwrap_err();
        assert_eq!(errs.len(), 1);
        let msg = errs[0].to_string();
        assert!(
            msg.starts_with("a.yaml: ComputeTemplate/t: spec.nodePool: unknown field `nodePool`, did you mean `nodePools`?"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_types_name_the_path() {
        let text = TEMPLATE.replace("size: 1", "size: lots");
        let errs = parse_yaml_documents("a.yaml", &text).unwrap_err();
        assert_eq!(errs[0].path.to_string(), "spec.nodePools[0].size");
        assert!(
            errs[0].message.contains("expected i64"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let errs = parse_yaml_documents("bad.yaml", "kind: [unclosed\n").unwrap_err();
        let e = &errs[0];
        assert!(e.location.is_some(), "{e}");
        assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
    }

    #[test]
    fn good_documents_survive_a_bad_neighbour() {
        let text = format!(
            "{TEMPLATE}---\n{}",
            TEMPLATE
                .replace("name: t", "name: u")
                .replace("size: 1", "size: x")
        );
        let (docs, errors) = read_yaml_documents("a.yaml", &text);
        assert_eq!(docs.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].document, 1);
    }

    #[test]
    fn locations_are_not_repeated_in_messages() {
        assert_eq!(
            strip_location("bad thing at line 2 column 1, while parsing x"),
            "bad thing, while parsing x"
        );
        assert_eq!(strip_location("bad at line 3 column 14"), "bad");
        assert_eq!(strip_location("at line is fine"), "at line is fine");
    }

    #[test]
    fn unsupported_kinds_list_what_is_supported() {
        let errs = parse_yaml_documents(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        )
        .unwrap_err();
        let msg = errs[0].to_string();
        assert!(
            msg.starts_with("a.yaml: ConfigMap/x: kind: ConfigMap (v1) is not a supported kind; supported kinds: ComputeTemplate (compute.appvia.io/v2beta2), "),
            "{msg}"
        );
        for k in kinds::ALL {
            assert!(
                msg.contains(&format!("{} ({})", k.kind, k.api_version())),
                "{msg}"
            );
        }
    }

    #[test]
    fn json_round_trips() {
        let docs = parse_yaml_documents("a.yaml", TEMPLATE).unwrap();
        let json = serde_json::to_vec(&docs[0].object).unwrap();
        let back = parse_json("body", &json).unwrap();
        assert_eq!(back, docs[0].object);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,200}") {
            let _ = parse_yaml_documents("p.yaml", &s);
            let _ = parse_json("p.json", s.as_bytes());
        }
    }
}
