//! A small HCL writer whose output is byte-identical to what `terraform fmt` (hclwrite's
//! formatter) produces, so that `terraform fmt -check` passes on everything we generate.
//!
//! The rules it implements, each checked against Terraform v1.11's `fmt`:
//!
//! - two spaces of indentation per nesting level (block body, `[`, `{`);
//! - `=` is aligned across a *run* of consecutive lines that each hold a whole single-line
//!   attribute (or object element); the key is padded to the longest key in the run, counted
//!   in grapheme clusters (we keep keys ASCII, see below, so that is their length);
//! - a line that opens a multi-line value (`node_pools = [`) is not part of any run: it ends
//!   the run before it and is written with a single space before `=`; the closing `]`/`}`
//!   line ends any run inside the value;
//! - blank lines, blocks and comments end a run too. `fmt` never adds or removes blank lines,
//!   so where they go is our choice: one blank line on each side of a nested block;
//! - an empty block is written `name {` newline `}`, which `fmt` leaves alone.
//!
//! Object constructors follow the same rules as bodies. Objects with elements and tuples
//! holding a multi-line element are written one element per line (tuples with a trailing
//! comma); other tuples are written on one line as `["a", "b"]`.

use std::fmt::Write as _;

/// A Terraform configuration file: leading comment lines, then a body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    /// Comment lines written first, each as `# text`, followed by a blank line.
    pub header: Vec<String>,
    pub body: Body,
}

impl File {
    pub fn new(body: Body) -> Self {
        Self {
            header: Vec::new(),
            body,
        }
    }

    /// Adds a `# text` line to the file header.
    pub fn with_header(mut self, text: impl Into<String>) -> Self {
        self.header.push(text.into());
        self
    }

    /// The file's text, ending with one newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            write_comment(&mut out, 0, line);
        }
        if !self.header.is_empty() && !self.body.items.is_empty() {
            out.push('\n');
        }
        self.body.render_into(&mut out, 0);
        out
    }
}

/// The contents of a file or of a block: attributes and nested blocks, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Body {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Attribute(Attribute),
    Block(Block),
    /// A `# comment` line (or several, for a multi-line text) of its own.
    Comment(String),
}

/// `name = expression`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// An identifier; see [`is_identifier`].
    pub name: String,
    pub value: Expr,
}

/// `type "label" ... { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// An identifier.
    pub kind: String,
    /// Quoted and escaped as strings are. Keep them to identifiers, as Terraform's labels
    /// are: a label holding `${` or `%{` is written `$${`/`%%{`, which HCL reads correctly but
    /// Terraform v1.11's `fmt` mangles (it drops the label).
    pub labels: Vec<String>,
    pub body: Body,
}

impl Block {
    pub fn new(kind: impl Into<String>, labels: &[&str], body: Body) -> Self {
        Self {
            kind: kind.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            body,
        }
    }
}

/// An expression: a literal value, a collection of them, or a reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    /// A number, already in HCL/JSON number syntax (`2`, `-1`, `1.5e-7`).
    Number(String),
    String(String),
    Tuple(Vec<Expr>),
    Object(Vec<(ObjectKey, Expr)>),
    /// A reference such as `wayfinder_compute_template.eks_general.id`, written as is.
    Traversal(Vec<String>),
    /// Any other single-line expression (a function call, a condition, a `for`), written as
    /// is. It must already be in the form `terraform fmt` gives it: one space around binary
    /// operators, `=`, `=>`, `?` and `:`, one after each comma, none inside brackets.
    Raw(String),
    /// An object constructor inside a call, such as a type constraint: `prefix{`, the
    /// elements one per line, `}suffix` — `list(object({` … `}))`.
    Wrapped {
        prefix: String,
        items: Vec<(ObjectKey, Expr)>,
        suffix: String,
    },
}

/// The key of an object constructor element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKey {
    /// An attribute name: written bare when it is a plain identifier, quoted otherwise.
    Attribute(String),
    /// A map key (user data): always quoted.
    Map(String),
}

impl ObjectKey {
    /// The key as written: bare or quoted.
    pub fn render(&self) -> String {
        match self {
            ObjectKey::Attribute(name) if is_bare_key(name) => name.clone(),
            ObjectKey::Attribute(text) | ObjectKey::Map(text) => quote_key(text),
        }
    }
}

impl Expr {
    pub fn string(s: impl Into<String>) -> Self {
        Expr::String(s.into())
    }

    pub fn int(n: i64) -> Self {
        Expr::Number(n.to_string())
    }

    /// From a JSON number; JSON number syntax is HCL number syntax.
    pub fn number(n: &serde_json::Number) -> Self {
        Expr::Number(n.to_string())
    }

    pub fn traversal(parts: &[&str]) -> Self {
        Expr::Traversal(parts.iter().map(|p| p.to_string()).collect())
    }

    pub fn raw(text: impl Into<String>) -> Self {
        Expr::Raw(text.into())
    }

    /// Whether the expression is written on a single line wherever it appears. A string
    /// written as a heredoc (see [`heredoc`]) counts as one: `fmt` aligns its opening line
    /// with its neighbours as if it were.
    pub fn is_single_line(&self) -> bool {
        match self {
            Expr::Null
            | Expr::Bool(_)
            | Expr::Number(_)
            | Expr::String(_)
            | Expr::Traversal(_)
            | Expr::Raw(_) => true,
            Expr::Tuple(items) => items.iter().all(Expr::is_single_line),
            Expr::Object(items) | Expr::Wrapped { items, .. } => items.is_empty(),
        }
    }

    /// Writes the expression as the value of an attribute or object element: as
    /// [`Expr::render_into`], except that a multi-line string becomes a heredoc.
    fn render_value_into(&self, out: &mut String, indent: usize) {
        match self {
            Expr::String(s) => match heredoc(s) {
                Some(text) => out.push_str(&text),
                None => out.push_str(&quote(s)),
            },
            other => other.render_into(out, indent),
        }
    }

    /// Writes the expression starting mid-line; continuation lines are indented for
    /// nesting level `indent` (the level of the line the expression starts on).
    fn render_into(&self, out: &mut String, indent: usize) {
        match self {
            Expr::Null => out.push_str("null"),
            Expr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Expr::Number(n) => out.push_str(n),
            Expr::String(s) => out.push_str(&quote(s)),
            Expr::Traversal(parts) => out.push_str(&parts.join(".")),
            Expr::Raw(text) => out.push_str(text),
            Expr::Wrapped {
                prefix,
                items,
                suffix,
            } => {
                out.push_str(prefix);
                Expr::Object(items.clone()).render_into(out, indent);
                out.push_str(suffix);
            }
            Expr::Tuple(items) if self.is_single_line() => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render_into(out, indent);
                }
                out.push(']');
            }
            Expr::Tuple(items) => {
                out.push_str("[\n");
                for item in items {
                    push_indent(out, indent + 1);
                    item.render_into(out, indent + 1);
                    out.push_str(",\n");
                }
                push_indent(out, indent);
                out.push(']');
            }
            Expr::Object(items) if items.is_empty() => out.push_str("{}"),
            Expr::Object(items) => {
                out.push_str("{\n");
                let rows: Vec<(String, &Expr)> =
                    items.iter().map(|(k, v)| (k.render(), v)).collect();
                write_aligned(out, indent + 1, &rows);
                push_indent(out, indent);
                out.push('}');
            }
        }
    }
}

impl Body {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an attribute.
    pub fn attribute(&mut self, name: impl Into<String>, value: Expr) -> &mut Self {
        self.items.push(Item::Attribute(Attribute {
            name: name.into(),
            value,
        }));
        self
    }

    /// Appends a nested block.
    pub fn block(&mut self, block: Block) -> &mut Self {
        self.items.push(Item::Block(block));
        self
    }

    /// Appends a comment on lines of its own.
    pub fn comment(&mut self, text: impl Into<String>) -> &mut Self {
        self.items.push(Item::Comment(text.into()));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The body's text at nesting level `indent`.
    pub fn render(&self, indent: usize) -> String {
        let mut out = String::new();
        self.render_into(&mut out, indent);
        out
    }

    fn render_into(&self, out: &mut String, indent: usize) {
        let mut i = 0;
        while i < self.items.len() {
            if i > 0 && needs_blank_line(&self.items[i - 1], &self.items[i]) {
                out.push('\n');
            }
            match &self.items[i] {
                Item::Block(block) => {
                    block.render_into(out, indent);
                    i += 1;
                }
                Item::Comment(text) => {
                    write_comment(out, indent, text);
                    i += 1;
                }
                Item::Attribute(_) => {
                    // A run of consecutive attributes; write_aligned handles the alignment
                    // groups inside it.
                    let start = i;
                    while let Some(Item::Attribute(_)) = self.items.get(i) {
                        i += 1;
                    }
                    let rows: Vec<(String, &Expr)> = self.items[start..i]
                        .iter()
                        .filter_map(|item| match item {
                            Item::Attribute(a) => Some((a.name.clone(), &a.value)),
                            Item::Block(_) | Item::Comment(_) => None,
                        })
                        .collect();
                    write_aligned(out, indent, &rows);
                }
            }
        }
    }
}

impl Block {
    fn render_into(&self, out: &mut String, indent: usize) {
        push_indent(out, indent);
        out.push_str(&self.kind);
        for label in &self.labels {
            out.push(' ');
            out.push_str(&quote(label));
        }
        out.push_str(" {\n");
        self.body.render_into(out, indent + 1);
        push_indent(out, indent);
        out.push_str("}\n");
    }
}

/// A blank line separates a block from whatever is next to it; a comment sticks to the
/// block or attribute after it.
fn needs_blank_line(prev: &Item, next: &Item) -> bool {
    match (prev, next) {
        (Item::Comment(_), _) => false,
        (Item::Block(_), _) => true,
        (_, Item::Block(_) | Item::Comment(_)) => true,
        _ => false,
    }
}

/// Writes `key = value` lines at nesting level `indent`, aligning `=` across each group of
/// consecutive single-line values; a multi-line value ends the group and is not padded.
fn write_aligned(out: &mut String, indent: usize, rows: &[(String, &Expr)]) {
    let mut start = 0;
    while start < rows.len() {
        // The group: single-line rows from `start` up to the next multi-line one.
        let mut end = start;
        while end < rows.len() && rows[end].1.is_single_line() {
            end += 1;
        }
        let width = rows[start..end]
            .iter()
            .map(|(k, _)| columns(k))
            .max()
            .unwrap_or(0);
        for (key, value) in &rows[start..end] {
            push_indent(out, indent);
            out.push_str(key);
            for _ in columns(key)..width {
                out.push(' ');
            }
            out.push_str(" = ");
            value.render_value_into(out, indent);
            out.push('\n');
        }
        if let Some((key, value)) = rows.get(end) {
            push_indent(out, indent);
            out.push_str(key);
            out.push_str(" = ");
            value.render_value_into(out, indent);
            out.push('\n');
            end += 1;
        }
        start = end;
    }
}

/// The width `fmt` gives a key. Keys are ASCII (identifiers, or quoted with everything else
/// escaped), so it is their length in bytes.
fn columns(key: &str) -> usize {
    key.chars().count()
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn write_comment(out: &mut String, indent: usize, text: &str) {
    // A comment is one line: line breaks in the text start a new comment line. Trailing
    // white space is dropped, as fmt would.
    for line in text.replace("\r\n", "\n").split(['\n', '\r']) {
        let line = line.trim_end();
        push_indent(out, indent);
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// Whether `s` is an HCL identifier (letters, digits, `_` and `-`, not starting with a digit
/// or `-`). We only produce ASCII ones.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether an object key can be written bare. Stricter than [`is_identifier`]: no `-` (it
/// reads as subtraction to a person) and no keyword that changes how `{` … `}` parses.
fn is_bare_key(s: &str) -> bool {
    is_identifier(s)
        && !s.contains('-')
        && !matches!(s, "for" | "in" | "if" | "true" | "false" | "null")
}

/// A multi-line string as a heredoc (`<<EOT`, the text, `EOT`), when it can be one: it
/// has a line break, ends with one, and holds no carriage return or other control character
/// but tab, and no template introducer (`${`, `%{`). Heredocs have no backslash escapes, so
/// the text is written as it is; text with an introducer stays a quoted string, where its
/// escape (`$${`, `%%{`) reads the same to every HCL reader (hcl-rs 0.18 misreads some
/// escapes inside heredocs). The marker is `EOT`, or `EOT1`, `EOT2`, … when a line of the
/// text starts with it.
pub fn heredoc(s: &str) -> Option<String> {
    if !s.contains('\n')
        || !s.ends_with('\n')
        || s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        || s.contains("${")
        || s.contains("%{")
        || s.contains('\u{2028}')
        || s.contains('\u{2029}')
        || s.contains('\u{85}')
    {
        return None;
    }
    // No line may even start with the marker: HCL readers differ on a line such as `EOT $`.
    let lines: Vec<&str> = s.lines().map(str::trim_start).collect();
    let mut marker = "EOT".to_string();
    let mut n = 0;
    while lines.iter().any(|l| l.starts_with(marker.as_str())) {
        n += 1;
        marker = format!("EOT{n}");
    }
    let mut out = String::with_capacity(s.len() + 2 * marker.len() + 4);
    out.push_str("<<");
    out.push_str(&marker);
    out.push('\n');
    out.push_str(s);
    out.push_str(&marker);
    Some(out)
}

/// A quoted HCL string literal: `\\`, `\"`, `\n`, `\r`, `\t`, other control characters as
/// `\uNNNN`, and the template introducers `${` and `%{` escaped as `$${` and `%%{`.
pub fn quote(s: &str) -> String {
    quote_with(s, false)
}

/// A quoted object key: as [`quote`], and every non-ASCII character escaped too, so that its
/// width is its length (`fmt` aligns on grapheme clusters, which we do not compute).
fn quote_key(s: &str) -> String {
    quote_with(s, true)
}

fn quote_with(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() || (ascii_only && !c.is_ascii()) => {
                let n = u32::from(c);
                if n > 0xFFFF {
                    let _ = write!(out, "\\U{n:08X}");
                } else {
                    let _ = write!(out, "\\u{n:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr_body(pairs: Vec<(&str, Expr)>) -> Body {
        let mut body = Body::new();
        for (k, v) in pairs {
            body.attribute(k, v);
        }
        body
    }

    fn obj(pairs: Vec<(&str, Expr)>) -> Expr {
        Expr::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (ObjectKey::Attribute(k.to_string()), v))
                .collect(),
        )
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote(r#"a\b"c"#), r#""a\\b\"c""#);
        assert_eq!(quote("l1\nl2\r\tend"), r#""l1\nl2\r\tend""#);
        assert_eq!(quote("${var.x} %{if}"), r#""$${var.x} %%{if}""#);
        // `$` and `%` not followed by `{` are literal; `$${` in the data stays `$${`.
        assert_eq!(quote("50% $5 $$"), r#""50% $5 $$""#);
        assert_eq!(quote("$${x}"), r#""$$${x}""#);
        assert_eq!(quote("\u{1}\u{7f}\u{85}"), r#""\u0001\u007F\u0085""#);
        assert_eq!(quote("café ☕ 😀"), "\"café ☕ 😀\"");
        assert_eq!(quote(""), r#""""#);
    }

    #[test]
    fn map_keys_are_ascii() {
        assert_eq!(quote_key("é"), r#""\u00E9""#);
        assert_eq!(quote_key("😀"), r#""\U0001F600""#);
        assert_eq!(ObjectKey::Map("a".into()).render(), r#""a""#);
        assert_eq!(
            ObjectKey::Attribute("disk_size".into()).render(),
            "disk_size"
        );
        assert_eq!(ObjectKey::Attribute("for".into()).render(), r#""for""#);
        assert_eq!(
            ObjectKey::Attribute("eks-general".into()).render(),
            r#""eks-general""#
        );
        assert_eq!(ObjectKey::Attribute("1x".into()).render(), r#""1x""#);
    }

    #[test]
    fn consecutive_single_line_attributes_align() {
        let body = attr_body(vec![
            ("name", Expr::string("eks-general")),
            ("description", Expr::string("General purpose")),
            ("cloud_provider", Expr::string("EKS")),
        ]);
        assert_eq!(
            body.render(1),
            "  name           = \"eks-general\"\n  description    = \"General purpose\"\n  cloud_provider = \"EKS\"\n"
        );
    }

    #[test]
    fn a_multi_line_value_breaks_the_alignment_group() {
        let body = attr_body(vec![
            ("a", Expr::int(1)),
            (
                "node_pools",
                Expr::Tuple(vec![obj(vec![("x", Expr::int(1))])]),
            ),
            ("after", Expr::int(2)),
            ("longer_after", Expr::int(3)),
        ]);
        assert_eq!(
            body.render(0),
            "a = 1\nnode_pools = [\n  {\n    x = 1\n  },\n]\nafter        = 2\nlonger_after = 3\n"
        );
    }

    #[test]
    fn nested_objects_align_their_own_keys() {
        let body = attr_body(vec![(
            "pool",
            obj(vec![
                ("logical_name", Expr::string("compute")),
                ("size", Expr::int(2)),
                (
                    "autoscaling",
                    obj(vec![
                        ("enabled", Expr::Bool(true)),
                        ("min_size", Expr::int(1)),
                    ]),
                ),
                ("spot", Expr::Null),
            ]),
        )]);
        assert_eq!(
            body.render(0),
            "pool = {\n  logical_name = \"compute\"\n  size         = 2\n  autoscaling = {\n    enabled  = true\n    min_size = 1\n  }\n  spot = null\n}\n"
        );
    }

    #[test]
    fn empty_collections_and_scalar_tuples_stay_on_one_line() {
        let body = attr_body(vec![
            ("taints", Expr::Tuple(vec![])),
            ("details", Expr::Object(vec![])),
            (
                "types",
                Expr::Tuple(vec![Expr::string("a"), Expr::int(1), Expr::Tuple(vec![])]),
            ),
        ]);
        assert_eq!(
            body.render(0),
            "taints  = []\ndetails = {}\ntypes   = [\"a\", 1, []]\n"
        );
    }

    #[test]
    fn tuples_with_a_multi_line_element_put_each_element_on_its_own_line() {
        let body = attr_body(vec![(
            "x",
            Expr::Tuple(vec![
                Expr::string("s"),
                obj(vec![("a", Expr::int(1))]),
                Expr::Tuple(vec![Expr::int(1), Expr::int(2)]),
            ]),
        )]);
        assert_eq!(
            body.render(0),
            "x = [\n  \"s\",\n  {\n    a = 1\n  },\n  [1, 2],\n]\n"
        );
    }

    #[test]
    fn blocks_are_separated_by_blank_lines() {
        let mut inner = Body::new();
        inner.attribute("source", Expr::string("wayfinder/wayfinder"));
        let mut outer = Body::new();
        outer
            .attribute("required_version", Expr::string(">= 1.6.0"))
            .block(Block::new("required_providers", &[], inner.clone()))
            .block(Block::new("backend", &["local"], Body::new()))
            .attribute("x", Expr::int(1));
        let mut file = Body::new();
        file.block(Block::new("terraform", &[], outer))
            .block(Block::new("resource", &["a", "b"], inner));
        let text = File::new(file).with_header("Generated.").render();
        assert_eq!(
            text,
            "# Generated.\n\nterraform {\n  required_version = \">= 1.6.0\"\n\n  required_providers {\n    source = \"wayfinder/wayfinder\"\n  }\n\n  backend \"local\" {\n  }\n\n  x = 1\n}\n\nresource \"a\" \"b\" {\n  source = \"wayfinder/wayfinder\"\n}\n"
        );
    }

    #[test]
    fn references_and_map_keys() {
        let body = attr_body(vec![(
            "value",
            Expr::Object(vec![
                (
                    ObjectKey::Map("eks-general".into()),
                    Expr::traversal(&["wayfinder_compute_template", "eks_general", "id"]),
                ),
                (ObjectKey::Map("b".into()), Expr::int(2)),
            ]),
        )]);
        assert_eq!(
            body.render(0),
            "value = {\n  \"eks-general\" = wayfinder_compute_template.eks_general.id\n  \"b\"           = 2\n}\n"
        );
    }

    #[test]
    fn multi_line_comments_become_several_lines() {
        let text = File::new(Body::new()).with_header("a\nb\n\nc").render();
        assert_eq!(text, "# a\n# b\n#\n# c\n");
    }

    #[test]
    fn multi_line_strings_become_heredocs_where_they_can() {
        assert_eq!(
            heredoc("a\n  b\\c \"q\"\n").as_deref(),
            Some("<<EOT\na\n  b\\c \"q\"\nEOT")
        );
        // A line starting with the marker makes it pick another.
        assert_eq!(
            heredoc("EOT\n EOT1 x\n").as_deref(),
            Some("<<EOT2\nEOT\n EOT1 x\nEOT2")
        );
        for quoted in [
            "one line",
            "no final newline\nx",
            "a\r\n",
            "${x}\n",
            "%{ if }\n",
            "\u{1}\n",
        ] {
            assert_eq!(heredoc(quoted), None, "{quoted:?}");
        }
        let mut body = Body::new();
        body.attribute("a", Expr::string("x\n"))
            .attribute("bbb", Expr::int(1))
            .attribute("t", Expr::Tuple(vec![Expr::string("x\n")]));
        // A heredoc lines up with its neighbours; inside a tuple a string stays quoted.
        assert_eq!(
            body.render(0),
            "a   = <<EOT\nx\nEOT\nbbb = 1\nt   = [\"x\\n\"]\n"
        );
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("node_pools"));
        assert!(is_identifier("_x"));
        assert!(is_identifier("a-b"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("-a"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a.b"));
    }
}
