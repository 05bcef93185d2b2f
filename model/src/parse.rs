//! Reading Wayfinder objects from YAML (multi-document) and JSON.
//!
//! Every error that names a field path also carries the line and column of that field in
//! the source text (see [`crate::span`]), and each [`Document`] keeps the index of its
//! fields' locations so that later errors — validation, policy — can be placed too.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{FieldPath, ParseError};
use crate::kinds::{self, Object};
use crate::span::{Location, SpanIndex};

/// One object read from a document stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Zero-based index of the document in its stream.
    pub index: usize,
    /// The object read.
    pub object: Object,
    /// Where the document's fields are in the source text; built on first use.
    pub spans: SpanIndex,
}

impl Document {
    /// The line and column of the field at `path` (its key), or of its nearest ancestor
    /// in the source when the field is not there (a missing required field); `None` when
    /// the source could not be indexed. For placing validation errors.
    pub fn locate(&self, path: &FieldPath) -> Option<Location> {
        self.spans.locate(path)
    }
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
/// the parser cannot resynchronise after it. (`crate::legacy::read_yaml_documents_migrating`
/// also migrates legacy documents.)
pub fn read_yaml_documents(source_name: &str, text: &str) -> (Vec<Document>, Vec<ParseError>) {
    let (docs, _, errors) = read_stream::<()>(source_name, text, &|_| None);
    (docs, errors)
}

/// What a document-level conversion makes of a document it takes: a value, or errors at
/// field paths.
pub(crate) type Converted<M> = Result<M, Vec<(FieldPath, String)>>;

/// [`read_yaml_documents`], with `convert` offered every document first: the documents it
/// takes (`Some`) are converted instead of read as objects, and returned with their index
/// and span index; their errors are located like any other's.
#[allow(clippy::type_complexity)]
pub(crate) fn read_stream<M>(
    source_name: &str,
    text: &str,
    convert: &dyn Fn(&serde_json::Value) -> Option<Converted<M>>,
) -> (Vec<Document>, Vec<(usize, M, SpanIndex)>, Vec<ParseError>) {
    let mut migrations = Vec::new();
    let mut objects = Vec::new();
    // Errors with the part of the field they are about, to be located once the stream is
    // read; a syntax error comes located.
    let mut errors: Vec<(ParseError, Option<Anchor>)> = Vec::new();
    let mut read = 0;
    let mut complete = true;
    for (index, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        match serde_json::Value::deserialize(de) {
            Ok(serde_json::Value::Null) => {}
            Ok(value) => match convert(&value) {
                Some(Ok(m)) => migrations.push((index, m)),
                Some(Err(es)) => {
                    let name = document_name(&value);
                    for (path, message) in es {
                        let anchor = Anchor::of_message(&message);
                        errors.push((
                            ParseError {
                                source_name: source_name.to_string(),
                                document: index,
                                location: None,
                                object: name.clone(),
                                path,
                                message,
                            },
                            Some(anchor),
                        ));
                    }
                }
                None => match read_object(source_name, index, value) {
                    Ok(object) => objects.push((index, object)),
                    Err((e, anchor)) => errors.push((e, Some(anchor))),
                },
            },
            Err(e) => {
                let location = e.location().map(|l| (l.line(), l.column()));
                errors.push((
                    ParseError {
                        source_name: source_name.to_string(),
                        document: index,
                        location,
                        object: None,
                        path: FieldPath::root(),
                        message: format!("not valid YAML: {}", strip_location(&e.to_string())),
                    },
                    None,
                ));
                complete = false;
                break;
            }
        }
        read = index + 1;
    }
    let spans = SpanIndex::yaml_stream(text, read, complete);
    let errors = errors
        .into_iter()
        .map(|(mut e, anchor)| {
            if let Some(anchor) = anchor {
                e.location = anchor.locate(&spans(e.document), &e.path);
            }
            e
        })
        .collect();
    let docs = objects
        .into_iter()
        .map(|(index, object)| Document {
            index,
            object,
            spans: spans(index),
        })
        .collect();
    let migrations = migrations
        .into_iter()
        .map(|(index, m)| (index, m, spans(index)))
        .collect();
    (docs, migrations, errors)
}

/// `Kind/name` of a document, for errors.
fn document_name(value: &serde_json::Value) -> Option<String> {
    let kind = value.get("kind")?.as_str()?;
    let name = value.get("metadata")?.get("name")?.as_str()?;
    Some(format!("{kind}/{name}"))
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
    read_object(source_name, 0, value).map_err(|(mut e, anchor)| {
        // It parsed as JSON, so it is UTF-8.
        if let Ok(text) = std::str::from_utf8(bytes) {
            e.location = anchor.locate(&SpanIndex::json(text), &e.path);
        }
        e
    })
}

/// Which part of a field an error is about, and so where it is located.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// The field itself (its key): an unknown field; a missing one (whose path is the
    /// mapping it is missing from).
    Key,
    /// Its value: a wrong type or an unacceptable value.
    Value,
}

impl Anchor {
    /// How serde words the error says what it is about.
    fn of_message(message: &str) -> Self {
        if message.starts_with("unknown field") || message.starts_with("missing field") {
            Anchor::Key
        } else {
            Anchor::Value
        }
    }

    fn locate(self, spans: &SpanIndex, path: &FieldPath) -> Option<Location> {
        match self {
            Anchor::Key => spans.locate(path),
            Anchor::Value => spans.locate_value(path),
        }
    }
}

/// Reads an already-parsed JSON value as an object of the kind its `apiVersion` and `kind`
/// name. Without the source text, its errors carry no line and column.
pub fn object_from_value(
    source_name: &str,
    document: usize,
    value: serde_json::Value,
) -> Result<Object, ParseError> {
    read_object(source_name, document, value).map_err(|(e, _)| e)
}

/// [`object_from_value`], saying which part of the field at the error's path it is about.
fn read_object(
    source_name: &str,
    document: usize,
    value: serde_json::Value,
) -> Result<Object, (ParseError, Anchor)> {
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
        return Err((
            err(
                None,
                FieldPath::root(),
                format!(
                    "expected an object with apiVersion, kind, metadata and spec; supported kinds: {}",
                    supported()
                ),
            ),
            Anchor::Value,
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
        return Err((
            err(
                name,
                FieldPath::root().field(missing),
                format!("required; supported kinds: {}", supported()),
            ),
            Anchor::Key,
        ));
    }
    let Some(info) = kinds::by_api_version_kind(&api_version, &kind) else {
        let path = if kinds::ALL.iter().any(|k| k.kind == kind) {
            "apiVersion"
        } else {
            "kind"
        };
        return Err((
            err(
                name,
                FieldPath::root().field(path),
                format!(
                    "{kind} ({api_version}) is not a supported kind; supported kinds: {}",
                    supported()
                ),
            ),
            Anchor::Value,
        ));
    };
    kinds::typed_from_value(info, value).map_err(|(path, message)| {
        let anchor = Anchor::of_message(&message);
        (err(name.clone(), path, message), anchor)
    })
}

pub(crate) fn typed_from<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, (FieldPath, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = FieldPath::parse(&e.path().to_string()).unwrap_or_default();
        let message = unknown_field_message(&e.into_inner().to_string(), &path);
        (path, message)
    })
}

/// Rewords serde's unknown-field message (``unknown field `nodePool`, expected one of
/// `description`, `provider`, `nodePools` ``) as `unknown field, did you mean nodePools?
/// (accepted: description, provider, nodePools)` when a known field is close, or
/// ``unknown field `x`; accepted: …`` when none is. The path already names the field; the
/// message names it only when the path does not end with it.
fn unknown_field_message(message: &str, path: &FieldPath) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let accepted: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if accepted.is_empty() {
        return message.to_string();
    }
    let named = matches!(
        path.segments().last(),
        Some(crate::error::PathSegment::Field(last)) if last == field
    );
    let best = accepted
        .iter()
        .map(|c| (edit_distance(&field.to_lowercase(), &c.to_lowercase()), *c))
        .min();
    let accepted = accepted.join(", ");
    match best {
        Some((d, c)) if d <= 2.max(field.chars().count() / 3) => {
            if named {
                format!("unknown field, did you mean {c}? (accepted: {accepted})")
            } else {
                format!("unknown field `{field}`, did you mean {c}? (accepted: {accepted})")
            }
        }
        _ => format!("unknown field `{field}`; accepted: {accepted}"),
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
    use crate::span::find_in;

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
            msg.starts_with(
                "a.yaml:7:3: ComputeTemplate/t: spec.nodePool: unknown field, did you mean nodePools? (accepted: "
            ),
            "{msg}"
        );
        assert!(msg.ends_with(", nodePools)"), "{msg}");
        assert!(!msg.contains('`'), "{msg}");
    }

    #[test]
    fn unknown_fields_without_a_near_miss_list_what_is_accepted() {
        let text = TEMPLATE.replace("size: 1", "flavour: 1");
        let errs = parse_yaml_documents("a.yaml", &text).unwrap_err();
        assert_eq!(errs[0].path.to_string(), "spec.nodePools[0].flavour");
        assert!(
            errs[0]
                .message
                .starts_with("unknown field `flavour`; accepted: logicalName, "),
            "{}",
            errs[0].message
        );
        assert_eq!(errs[0].location, Some(find_in(&text, "flavour", 0)));
        assert_eq!(
            unknown_field_message(
                "unknown field `sise`, expected `size` or `name`",
                &FieldPath::root()
            ),
            "unknown field `sise`, did you mean size? (accepted: size, name)"
        );
        assert_eq!(
            unknown_field_message("unknown field `x`, there are no fields", &FieldPath::root()),
            "unknown field `x`, there are no fields"
        );
    }

    #[test]
    fn wrong_types_name_the_path_and_locate_the_value() {
        let text = TEMPLATE.replace("size: 1", "size: lots");
        let errs = parse_yaml_documents("a.yaml", &text).unwrap_err();
        assert_eq!(errs[0].path.to_string(), "spec.nodePools[0].size");
        assert!(
            errs[0].message.contains("expected i64"),
            "{}",
            errs[0].message
        );
        // The value: `lots` in `  nodePools: [{logicalName: a, machine: m6i.large, size: lots}]`.
        assert_eq!(errs[0].location, Some(find_in(&text, "lots", 0)));
        assert_eq!(errs[0].location, Some((7, 58)));
        assert!(
            errs[0].to_string().starts_with("a.yaml:7:58: "),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn missing_fields_point_at_their_mapping() {
        let text = format!("# c\n{}", TEMPLATE.replace("metadata:\n  name: t\n", ""));
        let errs = parse_yaml_documents("a.yaml", &text).unwrap_err();
        assert_eq!(errs[0].path.to_string(), "");
        assert!(
            errs[0].message.starts_with("missing field `metadata`"),
            "{}",
            errs[0]
        );
        assert_eq!(errs[0].location, Some((2, 1)));
    }

    #[test]
    fn errors_in_later_documents_are_located_in_them() {
        let text = format!(
            "# first\n{TEMPLATE}---\n\n---\n{}",
            TEMPLATE
                .replace("name: t", "name: u")
                .replace("provider: EKS", "provider: [EKS]")
        );
        let (docs, errs) = read_yaml_documents("a.yaml", &text);
        assert_eq!(docs.len(), 1);
        assert_eq!((errs[0].document, errs[0].location), (2, Some((17, 13))));
        assert_eq!(
            text.lines().nth(16).map(|l| &l[12..]),
            Some("[EKS]"),
            "line 17, column 13"
        );
        // The good document keeps its index, to place later errors.
        let name = FieldPath::root().field("metadata").field("name");
        assert_eq!(docs[0].locate(&name), Some((5, 3)));
        assert_eq!(docs[0].spans.locate_value(&name), Some((5, 9)));
    }

    #[test]
    fn unsupported_and_missing_kinds_are_located() {
        let errs = parse_yaml_documents(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        )
        .unwrap_err();
        assert_eq!(errs[0].location, Some((2, 7)));
        let errs =
            parse_yaml_documents("a.yaml", "\n\nmetadata: {name: x}\nkind: ComputeTemplate\n")
                .unwrap_err();
        assert_eq!(errs[0].path.to_string(), "apiVersion");
        assert_eq!(errs[0].location, Some((3, 1)), "the document");
        let errs = parse_yaml_documents("a.yaml", "a: 1\n---\n- x\n").unwrap_err();
        assert_eq!((errs[0].document, errs[0].location), (0, Some((1, 1))));
        assert_eq!((errs[1].document, errs[1].location), (1, Some((3, 1))));
    }

    #[test]
    fn json_errors_with_paths_are_located() {
        let body = "{\"apiVersion\": \"compute.appvia.io/v2beta2\", \"kind\": \"ComputeTemplate\",\n \"metadata\": {\"name\": \"x\"},\n \"spec\": {\"provider\": \"EKS\", \"nodePools\": [{\"logicalName\": \"a\", \"machine\": \"m\", \"size\": \"two\"}],\n   \"nodePool\": []}}";
        let e = parse_json("request body", body.as_bytes()).unwrap_err();
        assert_eq!(e.path.to_string(), "spec.nodePools[0].size");
        assert_eq!(e.location, Some(find_in(body, "\"two\"", 0)));
        let e = parse_json("request body", body.replace("\"two\"", "2").as_bytes()).unwrap_err();
        assert_eq!(e.path.to_string(), "spec.nodePool");
        assert_eq!(e.location, Some(find_in(body, "\"nodePool\"", 0)));
        assert_eq!(e.location, Some((4, 4)));
        assert!(e.to_string().starts_with("request body:4:4: ComputeTemplate/x: spec.nodePool: unknown field, did you mean nodePools?"), "{e}");
        // Without the text there is nothing to locate with.
        let value: serde_json::Value = serde_json::from_str(&body.replace("\"two\"", "2")).unwrap();
        assert_eq!(object_from_value("v", 0, value).unwrap_err().location, None);
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
            msg.starts_with("a.yaml:2:7: ConfigMap/x: kind: ConfigMap (v1) is not a supported kind; supported kinds: ComputeTemplate (compute.appvia.io/v2beta2), "),
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

        /// Templates with fragments inserted anywhere: never a panic, and any location given
        /// is inside the text.
        #[test]
        fn broken_templates_never_panic(
            mutations in proptest::collection::vec((0usize..400, 0usize..8), 0..4),
            docs in 1usize..4,
        ) {
            let pieces = ["nodePool", "size: x", "[", "- ", ": ", "---\n", "\"", "{a: 1}"];
            let mut text = vec![TEMPLATE; docs].join("---\n");
            for (at, piece) in mutations {
                let at = (0..=at.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                text.insert_str(at, pieces[piece]);
            }
            let (docs, errors) = read_yaml_documents("p.yaml", &text);
            let inside = |(line, col): (usize, usize)| {
                text.lines().nth(line - 1).is_some_and(|l| col <= l.chars().count() + 1)
            };
            for d in &docs {
                let loc = d.locate(&FieldPath::root().field("spec").field("nodePools").index(3));
                proptest::prop_assert!(loc.is_none_or(inside), "{loc:?}\n{text}");
            }
            for e in errors {
                if !e.message.starts_with("not valid YAML") {
                    proptest::prop_assert!(e.location.is_none_or(inside), "{e}\n{text}");
                }
            }
            let _ = parse_json("p.json", text.as_bytes());
        }

        /// A key renamed or a value of the wrong type, in any field of any document: the
        /// error is located exactly there (the key, or the value).
        #[test]
        fn errors_are_located_where_the_field_is(
            docs in 1usize..4,
            target in 0usize..3,
            field in 0usize..8,
            wrong_type in proptest::bool::ANY,
        ) {
            let block = "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata:\n  name: t\n  labels: {a: b}\nspec:\n  description: d\n  provider: EKS\n  nodePools:\n    - logicalName: a\n      machine: m6i.large\n      size: 1\n      autoscaling:\n        enabled: true\n        maxSize: 3\n";
            let keys = ["name:", "description:", "provider:", "logicalName:", "machine:", "size:", "enabled:", "maxSize:"];
            let key = keys[field];
            let target = target % docs;
            let text = (0..docs)
                .map(|i| {
                    block
                        .lines()
                        .map(|line| {
                            let body = line.trim_start().trim_start_matches("- ");
                            if i != target || !body.starts_with(key) {
                                line.to_string()
                            } else if wrong_type {
                                format!("{}{key} [wrong]", &line[..line.len() - body.len()])
                            } else {
                                line.replacen(key, &format!("x{key}"), 1)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                        + "\n"
                })
                .collect::<Vec<_>>()
                .join("---\n");
            let needle = if wrong_type { "[wrong]".to_string() } else { format!("x{key}") };
            let (_, errors) = read_yaml_documents("p.yaml", &text);
            proptest::prop_assert_eq!(errors.len(), 1, "{:?}\n{}", errors, text);
            proptest::prop_assert_eq!(errors[0].document, target);
            proptest::prop_assert_eq!(
                errors[0].location,
                Some(find_in(&text, &needle, 0)),
                "{}\n{}",
                errors[0],
                text
            );
        }
    }
}
