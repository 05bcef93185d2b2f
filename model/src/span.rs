//! Source locations of fields in YAML and JSON documents.
//!
//! Parsing (serde_yaml_ng, serde_json) reads values but keeps no positions past a syntax
//! error, so errors found later — a wrong type, an unknown field, a failed validation — only
//! know their field path. A [`SpanIndex`] maps a field path back to a line and column of the
//! source text. It is built with an event parser (saphyr-parser) on first use, so a document
//! that reads and validates cleanly never pays for it; JSON is indexed the same way, as YAML
//! flow syntax.
//!
//! An index never makes anything fail: text it cannot index, or whose documents do not line
//! up with the ones the reader took from it, simply locates nothing.

use std::fmt;
use std::sync::{Arc, OnceLock};

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::error::{FieldPath, PathSegment};

/// A one-based line and column; the column counts characters (a tab is one).
pub type Location = (usize, usize);

/// Where the fields of one document are in its source text.
///
/// [`locate`](Self::locate) answers with the position of a mapping entry's key, of a
/// sequence element's item, or of the document's root; a path that does not exist in the
/// source (a missing field) is answered with its nearest ancestor that does. Cloning is cheap:
/// the documents of one stream share their source text and index.
#[derive(Clone, Default)]
pub struct SpanIndex {
    source: Option<Arc<Source>>,
    document: usize,
    /// Path prefixes of an object converted from this document, and where each is in the
    /// source ([`aliased`](Self::aliased)).
    aliases: Option<Arc<[(FieldPath, FieldPath)]>>,
}

/// A source text and, once built, the tree of every document in it.
struct Source {
    text: Box<str>,
    expected: Expected,
    trees: OnceLock<Vec<Tree>>,
}

/// What the reader made of the text, for checking that the index lines up with it.
#[derive(Debug, Clone, Copy)]
struct Expected {
    /// Documents it read (an empty stream counts as one empty document, as serde_yaml_ng
    /// counts it).
    documents: usize,
    /// Whether it read to the end of the text without an error.
    complete: bool,
}

impl SpanIndex {
    /// An index that locates nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// The index of a JSON text (one document), built on first use.
    pub fn json(text: &str) -> Self {
        Self {
            source: Some(Arc::new(Source::new(
                text,
                Expected {
                    documents: 1,
                    complete: true,
                },
            ))),
            document: 0,
            aliases: None,
        }
    }

    /// One index per document of a YAML stream, built on first use, for a reader that took
    /// `documents` documents from it and reached its end (`complete`) or stopped at an
    /// error. If the index finds other document boundaries it locates nothing.
    pub(crate) fn yaml_stream(
        text: &str,
        documents: usize,
        complete: bool,
    ) -> impl Fn(usize) -> SpanIndex {
        let source = Arc::new(Source::new(
            text,
            Expected {
                documents,
                complete,
            },
        ));
        move |document| SpanIndex {
            source: Some(source.clone()),
            document,
            aliases: None,
        }
    }

    /// The location of the field at `path`: its key in a mapping, the item in a sequence,
    /// the start of the document for the empty path; or, when the path is not in the
    /// source, the location of its nearest ancestor that is.
    pub fn locate(&self, path: &FieldPath) -> Option<Location> {
        self.find(path).map(|(node, _)| node.at)
    }

    /// Like [`locate`](Self::locate), but the location of the field's value rather than its
    /// key (for an error about the value, such as a wrong type). An empty value is located
    /// at its key; a path not in the source, at its nearest ancestor's key.
    pub fn locate_value(&self, path: &FieldPath) -> Option<Location> {
        self.find(path)
            .map(|(node, exact)| if exact { node.value } else { node.at })
    }

    /// The index of an object converted from this document (a legacy definition migrated):
    /// a path under one of `aliases`' first prefixes is located under the second, the field
    /// it came from (`spec.network.networkPlan` at `spec.template.networking.networkPlan`).
    /// The longest matching prefix wins; other paths are located as they are.
    pub fn aliased(mut self, aliases: Vec<(FieldPath, FieldPath)>) -> Self {
        self.aliases = (!aliases.is_empty()).then(|| aliases.into());
        self
    }

    /// The document's tree and the node for `path` (or its nearest ancestor, with `false`).
    fn find(&self, path: &FieldPath) -> Option<(&Node, bool)> {
        let tree = self.source.as_ref()?.trees().get(self.document)?;
        let alias = self
            .aliases
            .iter()
            .flat_map(|a| a.iter())
            .filter(|(from, _)| path.0.starts_with(&from.0))
            .max_by_key(|(from, _)| from.0.len());
        match alias {
            Some((from, to)) => {
                let mut source = to.clone();
                source.0.extend(path.0[from.0.len()..].iter().cloned());
                tree.find(&source)
            }
            None => tree.find(path),
        }
    }
}

impl PartialEq for SpanIndex {
    /// Two indexes are equal when they index the same document of the same text.
    fn eq(&self, other: &Self) -> bool {
        self.document == other.document
            && match (&self.source, &other.source) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a.text == b.text,
                _ => false,
            }
            && self.aliases == other.aliases
    }
}

impl fmt::Debug for SpanIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanIndex")
            .field("document", &self.document)
            .field("source_bytes", &self.source.as_ref().map(|s| s.text.len()))
            .finish()
    }
}

impl Source {
    fn new(text: &str, expected: Expected) -> Self {
        Self {
            text: text.into(),
            expected,
            trees: OnceLock::new(),
        }
    }

    /// Every document's tree, built on first call; empty when the text cannot be indexed or
    /// its documents do not line up with the reader's.
    fn trees(&self) -> &[Tree] {
        self.trees.get_or_init(|| {
            // A byte-order mark is allowed before each document in YAML 1.2 but only at the
            // start of the stream in 1.1 (serde_yaml_ng); the parsers would disagree.
            if self
                .text
                .trim_start_matches('\u{feff}')
                .contains('\u{feff}')
            {
                return Vec::new();
            }
            let (mut trees, complete) = build(&self.text);
            if complete && trees.is_empty() {
                // An empty stream, or comments only: one empty document to serde_yaml_ng.
                trees.push(Tree::default());
            }
            let lines_up = if self.expected.complete {
                complete && trees.len() == self.expected.documents
            } else {
                trees.len() >= self.expected.documents
            };
            if lines_up { trees } else { Vec::new() }
        })
    }
}

/// One node of a document: a mapping, a sequence, a scalar or an alias.
#[derive(Debug)]
struct Node {
    /// The key of a mapping entry; the item itself for a sequence element or the root.
    at: Location,
    /// The value (the key, when the value is empty).
    value: Location,
    children: Children,
}

#[derive(Debug)]
enum Children {
    Leaf,
    /// An alias: the fields below it are the anchored node's, located here.
    Alias,
    /// Keys in source order; keys that are not scalars are left out.
    Map(Vec<(Box<str>, usize)>),
    Seq(Vec<usize>),
}

/// The nodes of one document; the first is the root.
#[derive(Debug, Default)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn find(&self, path: &FieldPath) -> Option<(&Node, bool)> {
        let mut node = self.nodes.first()?;
        for segment in path.segments() {
            let next = match (segment, &node.children) {
                // The last of repeated keys is the one a reader keeps.
                (PathSegment::Field(name), Children::Map(entries)) => entries
                    .iter()
                    .rev()
                    .find(|(key, _)| **key == **name)
                    .map(|(_, id)| *id),
                (PathSegment::Index(i), Children::Seq(items)) => items.get(*i).copied(),
                _ => None,
            };
            match next.and_then(|id| self.nodes.get(id)) {
                Some(child) => node = child,
                None => return Some((node, false)),
            }
        }
        Some((node, true))
    }
}

/// What the builder is inside of.
enum Frame {
    Map {
        node: usize,
        /// The key read, waiting for its value: its text (`None` for a key that is not a
        /// scalar) and location.
        key: Option<(Option<Box<str>>, Location)>,
    },
    Seq {
        node: usize,
    },
    /// A mapping or sequence used as a key, skipped; `depth` counts its open collections.
    ComplexKey {
        depth: usize,
        at: Location,
    },
}

enum NodeKind<'a> {
    Scalar { text: &'a str, empty: bool },
    Alias,
    Map,
    Seq,
}

/// Builds one document's tree from its events.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    stack: Vec<Frame>,
}

impl Builder {
    fn node(&mut self, kind: NodeKind<'_>, at: Location) {
        let is_collection = matches!(kind, NodeKind::Map | NodeKind::Seq);
        let (entry_at, parent, key) = match self.stack.last_mut() {
            None => (at, None, None),
            Some(Frame::ComplexKey { depth, .. }) => {
                if is_collection {
                    *depth += 1;
                }
                return;
            }
            Some(Frame::Seq { node }) => (at, Some(*node), None),
            Some(Frame::Map { node, key }) => match key.take() {
                Some((name, key_at)) => (key_at, Some(*node), name),
                None => {
                    match kind {
                        NodeKind::Scalar { text, .. } => *key = Some((Some(text.into()), at)),
                        NodeKind::Alias => *key = Some((None, at)),
                        NodeKind::Map | NodeKind::Seq => {
                            self.stack.push(Frame::ComplexKey { depth: 1, at })
                        }
                    }
                    return;
                }
            },
        };
        let value = match kind {
            NodeKind::Scalar { empty: true, .. } => entry_at,
            _ => at,
        };
        let id = self.nodes.len();
        self.nodes.push(Node {
            at: entry_at,
            value,
            children: match kind {
                NodeKind::Map => Children::Map(Vec::new()),
                NodeKind::Seq => Children::Seq(Vec::new()),
                NodeKind::Alias => Children::Alias,
                NodeKind::Scalar { .. } => Children::Leaf,
            },
        });
        if let Some(parent) = parent.and_then(|p| self.nodes.get_mut(p)) {
            match (&mut parent.children, key) {
                (Children::Map(entries), Some(name)) => entries.push((name, id)),
                (Children::Seq(items), _) => items.push(id),
                _ => {}
            }
        }
        match kind {
            NodeKind::Map => self.stack.push(Frame::Map {
                node: id,
                key: None,
            }),
            NodeKind::Seq => self.stack.push(Frame::Seq { node: id }),
            _ => {}
        }
    }

    fn end(&mut self) {
        match self.stack.pop() {
            Some(Frame::ComplexKey { depth, at }) if depth > 1 => {
                self.stack.push(Frame::ComplexKey {
                    depth: depth - 1,
                    at,
                });
            }
            Some(Frame::ComplexKey { at, .. }) => {
                if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                    *key = Some((None, at));
                }
            }
            _ => {}
        }
    }
}

/// Every complete document's tree, and whether the parser reached the end of the text.
fn build(text: &str) -> (Vec<Tree>, bool) {
    let mut trees = Vec::new();
    let mut doc: Option<Builder> = None;
    for next in Parser::new_from_str(text) {
        let Ok((event, span)) = next else {
            // A document whose root is complete was read; the error is in what follows.
            if let Some(b) = doc.filter(|b| b.stack.is_empty() && !b.nodes.is_empty()) {
                trees.push(Tree { nodes: b.nodes });
            }
            return (trees, false);
        };
        let at = (span.start.line(), span.start.col() + 1);
        let b = doc.get_or_insert_with(Builder::default);
        match event {
            Event::DocumentStart(_) => *b = Builder::default(),
            Event::DocumentEnd => {
                if let Some(b) = doc.take() {
                    trees.push(Tree { nodes: b.nodes });
                }
            }
            Event::Scalar(text, style, ..) => b.node(
                NodeKind::Scalar {
                    text: &text,
                    empty: text.is_empty() && style == ScalarStyle::Plain,
                },
                at,
            ),
            Event::Alias(_) => b.node(NodeKind::Alias, at),
            Event::MappingStart(..) => b.node(NodeKind::Map, at),
            Event::SequenceStart(..) => b.node(NodeKind::Seq, at),
            Event::MappingEnd | Event::SequenceEnd => b.end(),
            Event::StreamEnd => return (trees, true),
            Event::StreamStart | Event::Nothing => {}
        }
    }
    (trees, true)
}

/// The location of the `nth` (from 0) occurrence of `needle` in `text`, for tests.
#[cfg(test)]
pub(crate) fn find_in(text: &str, needle: &str, nth: usize) -> Location {
    let (offset, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in {text:?}"));
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..]
            .trim_start_matches('\u{feff}')
            .chars()
            .count()
            + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> FieldPath {
        FieldPath::parse(p).unwrap()
    }

    fn one(text: &str) -> SpanIndex {
        SpanIndex::yaml_stream(text, 1, true)(0)
    }

    const TEMPLATE: &str = "\
# a comment
apiVersion: compute.appvia.io/v2beta2
kind: ComputeTemplate
metadata:
  name: t
spec:
  nodePools:
    - logicalName: a
      size: 1
    - logicalName: b
      autoscaling: {enabled: true, maxSize: 0}
      taints:
      - key: k
        value:
";

    #[test]
    fn keys_items_and_values() {
        let s = one(TEMPLATE);
        let at = |needle: &str, nth: usize| Some(find_in(TEMPLATE, needle, nth));
        assert_eq!(s.locate(&FieldPath::root()), at("apiVersion", 0));
        assert_eq!(s.locate(&path("kind")), at("kind", 0));
        assert_eq!(s.locate_value(&path("kind")), at("ComputeTemplate", 0));
        assert_eq!(s.locate(&path("metadata.name")), at("name", 0));
        assert_eq!(s.locate(&path("spec.nodePools")), at("nodePools", 0));
        // A block mapping item starts at its first key.
        assert_eq!(s.locate(&path("spec.nodePools[1]")), at("logicalName", 1));
        assert_eq!(s.locate(&path("spec.nodePools[0].size")), at("size", 0));
        assert_eq!(s.locate_value(&path("spec.nodePools[0].size")), at("1", 0));
        assert_eq!(
            s.locate(&path("spec.nodePools[1].autoscaling.maxSize")),
            at("maxSize", 0)
        );
        assert_eq!(
            s.locate_value(&path("spec.nodePools[1].autoscaling")),
            at("{enabled", 0)
        );
        assert_eq!(
            s.locate(&path("spec.nodePools[1].taints[0].key")),
            at("key", 0)
        );
        // An empty value is located at its key.
        assert_eq!(
            s.locate_value(&path("spec.nodePools[1].taints[0].value")),
            at("value", 0)
        );
    }

    #[test]
    fn an_aliased_index_locates_a_converted_path_at_the_field_it_came_from() {
        let index = one("spec:\n  template:\n    networking:\n      networkPlan: x\n").aliased(
            vec![(path("spec.network"), path("spec.template.networking"))],
        );
        assert_eq!(
            index.locate(&path("spec.network.networkPlan")),
            Some((4, 7))
        );
        assert_eq!(index.locate(&path("spec.template")), Some((2, 3)));
        assert_eq!(index.locate(&path("spec.other")), Some((1, 1)));
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        let s = one(TEMPLATE);
        let at = |needle: &str, nth: usize| Some(find_in(TEMPLATE, needle, nth));
        assert_eq!(
            s.locate(&path("spec.nodePools[0].machine")),
            at("logicalName", 0),
            "the item's mapping"
        );
        assert_eq!(
            s.locate_value(&path("spec.nodePools[0].machine")),
            at("logicalName", 0)
        );
        assert_eq!(
            s.locate(&path("spec.nodePools[7].size")),
            at("nodePools", 0)
        );
        assert_eq!(s.locate(&path("status.x")), at("apiVersion", 0));
        // A field of a scalar, an index of a mapping: the deepest node there is.
        assert_eq!(s.locate(&path("kind.x")), at("kind", 0));
        assert_eq!(s.locate(&path("metadata[0]")), at("metadata", 0));
    }

    #[test]
    fn documents_line_up_with_serde_yaml_ng() {
        let text = "a: 1\n---\n---\n# only a comment\n---\nb:\n  c: 2\n...\n---\n- x\n";
        let at = SpanIndex::yaml_stream(text, 5, true);
        assert_eq!(at(0).locate(&path("a")), Some((1, 1)));
        assert_eq!(at(3).locate(&path("b.c")), Some((7, 3)));
        assert_eq!(at(4).locate(&path("[0]")), Some((10, 3)));
        assert_eq!(at(5).locate(&FieldPath::root()), None);
        // Disagreeing about the number of documents: nothing is located.
        assert_eq!(
            SpanIndex::yaml_stream(text, 4, true)(0).locate(&path("a")),
            None
        );
        assert_eq!(
            SpanIndex::yaml_stream(text, 6, true)(0).locate(&path("a")),
            None
        );
        // An empty stream is one empty document.
        for empty in ["", "# nothing\n"] {
            assert_eq!(
                SpanIndex::yaml_stream(empty, 1, true)(0).locate(&FieldPath::root()),
                None
            );
            // A stream that opens with `---` has no empty document before it.
            assert_eq!(
                SpanIndex::yaml_stream(&format!("{empty}---\na: 1\n"), 1, true)(0)
                    .locate(&path("a")),
                Some((if empty.is_empty() { 2 } else { 3 }, 1))
            );
        }
    }

    #[test]
    fn documents_before_a_syntax_error_are_indexed() {
        let text = "a: 1\n---\nb: [unclosed\n";
        let at = SpanIndex::yaml_stream(text, 1, false);
        assert_eq!(at(0).locate(&path("a")), Some((1, 1)));
        assert_eq!(at(1).locate(&path("b")), None);
        assert_eq!(
            SpanIndex::yaml_stream(text, 2, true)(0).locate(&path("a")),
            None
        );
        // A complete root followed by an error (both parsers read the scalar, then fail).
        let text = "scalar\n: x\n";
        let at = SpanIndex::yaml_stream(text, 1, false);
        assert_eq!(at(0).locate(&FieldPath::root()), Some((1, 1)));
    }

    #[test]
    fn complex_keys_aliases_and_quoted_keys() {
        let text = "? [x, {y: 1}]\n: 1\nbase: &b {m: 1}\nuse: *b\n\"q k\": 2\n'é': {z: 3}\n";
        let s = one(text);
        assert_eq!(s.locate(&path("base.m")), Some(find_in(text, "m:", 0)));
        // Below an alias: the alias's key.
        assert_eq!(s.locate(&path("use.m")), Some(find_in(text, "use", 0)));
        assert_eq!(s.locate_value(&path("use")), Some(find_in(text, "*b", 0)));
        assert_eq!(s.locate(&path("q k")), Some(find_in(text, "\"q k", 0)));
        assert_eq!(s.locate(&path("é.z")), Some(find_in(text, "z", 0)));
        assert_eq!(
            s.locate(&path("é.z")),
            Some((6, 7)),
            "columns count characters"
        );
    }

    #[test]
    fn repeated_keys_locate_the_last() {
        let s = one("a: 1\na: 2\n");
        assert_eq!(s.locate(&path("a")), Some((2, 1)));
    }

    #[test]
    fn json_is_indexed_as_flow_yaml() {
        let text = "{\"apiVersion\":\"v\",\"spec\":{\"nodePools\":[{\"size\":1},\n\t{\"size\": \"x\", \"a\\\"b\": [true, null]}]}}";
        let s = SpanIndex::json(text);
        let at = |needle: &str, nth: usize| Some(find_in(text, needle, nth));
        assert_eq!(s.locate(&path("spec.nodePools[1].size")), at("\"size", 1));
        assert_eq!(
            s.locate_value(&path("spec.nodePools[1].size")),
            at("\"x\"", 0)
        );
        assert_eq!(s.locate(&path("spec.nodePools[0].size")), at("\"size", 0));
        assert_eq!(s.locate(&path("apiVersion")), Some((1, 2)));
        assert_eq!(s.locate(&path("spec.nodePools[1].a\"b")), at("\"a\\", 0));
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(text).unwrap())
                .unwrap();
        assert_eq!(
            SpanIndex::json(&pretty).locate(&path("spec.nodePools[1].size")),
            Some(find_in(&pretty, "\"size", 1))
        );
    }

    #[test]
    fn unindexable_text_locates_nothing() {
        assert_eq!(SpanIndex::none().locate(&FieldPath::root()), None);
        assert_eq!(SpanIndex::json("{\"a\": [").locate(&path("a")), None);
        let bom = "a: 1\n---\n\u{feff}b: 2\n";
        assert_eq!(
            SpanIndex::yaml_stream(bom, 2, true)(0).locate(&path("a")),
            None
        );
        // A leading byte-order mark is fine.
        assert_eq!(one("\u{feff}a: 1\n").locate(&path("a")), Some((1, 1)));
    }

    #[test]
    fn equality_is_by_document_and_text() {
        let a = SpanIndex::yaml_stream("a: 1\n", 1, true);
        let b = SpanIndex::yaml_stream("a: 1\n", 1, true);
        assert_eq!(a(0), b(0));
        assert_ne!(a(0), a(1));
        assert_ne!(a(0), SpanIndex::none());
        assert!(format!("{:?}", a(0)).contains("document: 0"));
    }

    /// Every path of `value` (mapping keys and sequence indexes), depth first.
    fn paths(value: &serde_json::Value, at: FieldPath, out: &mut Vec<FieldPath>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    paths(v, at.field(k), out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    paths(v, at.index(i), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }

    /// What serde_yaml_ng reads from `text`, and each document's value; an index over the
    /// same text must agree on every path of every document, or locate nothing.
    fn agrees_with_serde_yaml_ng(text: &str) -> Result<bool, String> {
        use serde::Deserialize;
        let mut values = Vec::new();
        let mut complete = true;
        for de in serde_yaml_ng::Deserializer::from_str(text) {
            match serde_json::Value::deserialize(de) {
                Ok(v) => values.push(v),
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        let at = SpanIndex::yaml_stream(text, values.len(), complete);
        let mut indexed = false;
        for (i, value) in values.iter().enumerate() {
            let spans = at(i);
            let mut all = Vec::new();
            paths(value, FieldPath::root(), &mut all);
            for p in all {
                match spans.find(&p) {
                    Some((_, true)) => indexed = true,
                    Some((node, false)) if matches!(node.children, Children::Alias) => {}
                    None if !indexed => return Ok(false),
                    other => {
                        return Err(format!(
                            "document {i}, {p}: {:?}",
                            other.map(|(n, exact)| (n.at, exact))
                        ));
                    }
                }
            }
        }
        Ok(indexed)
    }

    #[test]
    fn every_path_serde_reads_is_indexed() {
        for text in [
            TEMPLATE,
            "a: 1\n---\n---\nb: [1, {c: 2}]\n...\n---\n- {d: [e, f]}\n- g\n",
            "x: &a {b: [1, 2]}\ny: *a\n",
            "{\"j\": {\"k\": [1, {\"l\": null}]}}",
        ] {
            assert_eq!(agrees_with_serde_yaml_ng(text), Ok(true), "{text}");
        }
    }

    fn piece() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "---\n",
            "...\n",
            "--- ",
            "# c\n",
            "a: 1\n",
            "b:\n  - x\n  - {y: 2}\n",
            "\n",
            "%YAML 1.1\n",
            "- 1\n",
            "'s'\n",
            "|\n  text\n",
            "  ",
            "&a x\n",
            "*a\n",
            "{",
            "}",
            "[",
            "]",
            ": ",
            "? ",
            "\t",
            "\"q\\\"\"",
            "!!str ",
            ",",
            "-",
            "\r\n",
            "é",
            "c:\n",
            "  d: {e: [f, g]}\n",
            "k: v # c\n",
            ">-\n  folded\n",
        ])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Streams of YAML fragments: where both parsers read them, every path is indexed.
        #[test]
        fn the_index_agrees_with_serde_yaml_ng(pieces in proptest::collection::vec(piece(), 0..16)) {
            let text = pieces.concat();
            let agreed = agrees_with_serde_yaml_ng(&text);
            proptest::prop_assert!(agreed.is_ok(), "{:?} in {:?}", agreed, text);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,120}") {
            let at = SpanIndex::yaml_stream(&s, 1, false);
            let _ = at(0).locate(&path("a.b[0]"));
            let _ = SpanIndex::json(&s).locate_value(&path("a"));
        }
    }
}
