//! What every generated module has: `versions.tf`, `variables.tf`, `outputs.tf` and a
//! README whose inputs and outputs tables are made from the same declarations, so the two
//! cannot disagree.

use std::fmt::Write as _;

use crate::hcl::{Block, Body, Expr, File, ObjectKey};

/// The provider's source address.
pub const PROVIDER_SOURCE: &str = "wayfinder/wayfinder";

/// One `validation` block: a condition and the message shown when it is false.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// A single-line boolean expression.
    pub condition: String,
    /// The message; a template (`${…}` interpolates), written as a quoted string.
    pub error_message: String,
}

/// A `variable` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub description: String,
    /// A type constraint expression.
    pub ty: Expr,
    /// `None`: required.
    pub default: Option<Expr>,
    /// `false` writes `nullable = false`: null is refused and means the default.
    pub nullable: bool,
    pub validations: Vec<Validation>,
}

impl Variable {
    pub fn new(name: &str, description: impl Into<String>, ty: Expr) -> Self {
        Self {
            name: name.to_string(),
            description: description.into(),
            ty,
            default: None,
            nullable: true,
            validations: Vec::new(),
        }
    }

    /// Refuses null (a collection whose checks iterate over it).
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }

    pub fn default(mut self, value: Expr) -> Self {
        self.default = Some(value);
        self
    }

    pub fn validate(mut self, condition: impl Into<String>, message: impl Into<String>) -> Self {
        self.validations.push(Validation {
            condition: condition.into(),
            error_message: message.into(),
        });
        self
    }

    pub fn block(&self) -> Block {
        let mut body = Body::new();
        body.attribute("description", Expr::string(&self.description))
            .attribute("type", self.ty.clone());
        if let Some(d) = &self.default {
            body.attribute("default", d.clone());
        }
        if !self.nullable {
            body.attribute("nullable", Expr::Bool(false));
        }
        for v in &self.validations {
            let mut vb = Body::new();
            vb.attribute("condition", Expr::raw(&v.condition))
                .attribute(
                    "error_message",
                    Expr::raw(template_literal(&v.error_message)),
                );
            body.block(Block::new("validation", &[], vb));
        }
        Block::new("variable", &[&self.name], body)
    }
}

/// An `output` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub description: String,
    pub value: Expr,
}

impl Output {
    pub fn new(name: &str, description: impl Into<String>, value: Expr) -> Self {
        Self {
            name: name.to_string(),
            description: description.into(),
            value,
        }
    }

    pub fn block(&self) -> Block {
        let mut body = Body::new();
        body.attribute("description", Expr::string(&self.description))
            .attribute("value", self.value.clone());
        Block::new("output", &[&self.name], body)
    }
}

/// A quoted string that is a template: `${…}` interpolations are kept as they are (the caller
/// wrote them on purpose; quoted strings inside them are left alone too), while quotes,
/// backslashes and line breaks in the literal text are escaped.
pub fn template_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' && chars.get(i + 1) == Some(&'{') {
            // Copy the interpolation through its matching `}`.
            let mut depth = 0usize;
            let mut in_string = false;
            while i < chars.len() {
                let d = chars[i];
                out.push(d);
                i += 1;
                match (in_string, d) {
                    (true, '\\') => {
                        if let Some(&n) = chars.get(i) {
                            out.push(n);
                            i += 1;
                        }
                    }
                    (true, '"') => in_string = false,
                    (false, '"') => in_string = true,
                    (false, '{') => depth += 1,
                    (false, '}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
        i += 1;
    }
    out.push('"');
    out
}

/// The `generated from` line every file starts with.
pub fn header(generated_from: &[String]) -> String {
    format!(
        "Generated by wayfinder-compile from {}. Do not edit; change the definitions and compile again.",
        generated_from.join(", ")
    )
}

/// `versions.tf`: the Terraform version the module needs and why, and the provider.
pub fn versions_tf(
    header: &str,
    required_version: &str,
    why: &str,
    provider_version: &str,
) -> String {
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
        .comment(why)
        .attribute("required_version", Expr::string(required_version))
        .block(Block::new("required_providers", &[], providers));
    let mut body = Body::new();
    body.block(Block::new("terraform", &[], terraform));
    File::new(body).with_header(header).render()
}

/// A `.tf` file of blocks, with the header.
pub fn tf_file(header: &str, blocks: impl IntoIterator<Item = Block>) -> String {
    let mut body = Body::new();
    for b in blocks {
        body.block(b);
    }
    File::new(body).with_header(header).render()
}

/// The README of a module: a title, what it is, how to use it, then the inputs and the
/// outputs, each table in declaration order.
pub struct Readme<'a> {
    pub title: &'a str,
    pub generated_from: &'a [String],
    /// Markdown paragraphs after the title.
    pub intro: &'a str,
    /// A usage example (HCL), shown in a code block.
    pub usage: &'a str,
    pub variables: &'a [Variable],
    pub outputs: &'a [Output],
    /// Markdown after the tables (notes on checks, references looked up, …).
    pub notes: &'a str,
}

impl Readme<'_> {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<!-- {} -->\n\n# {}\n\n{}\n",
            header(self.generated_from),
            self.title,
            self.intro.trim_end()
        );
        if !self.usage.is_empty() {
            let _ = writeln!(out, "## Usage\n\n```hcl\n{}```\n", self.usage);
        }
        out.push_str("## Inputs\n\n");
        if self.variables.is_empty() {
            out.push_str("None.\n\n");
        } else {
            out.push_str("| Name | Description | Type | Default | Required |\n");
            out.push_str("|------|-------------|------|---------|:--------:|\n");
            for v in self.variables {
                let ty = one_line(&v.ty);
                let default = match &v.default {
                    Some(d) => format!("`{}`", cell(&one_line(d))),
                    None => "n/a".to_string(),
                };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | `{}` | {} | {} |",
                    v.name,
                    cell(&v.description),
                    cell(&ty),
                    default,
                    if v.default.is_none() { "yes" } else { "no" }
                );
            }
            out.push('\n');
        }
        out.push_str("## Outputs\n\n");
        if self.outputs.is_empty() {
            out.push_str("None.\n");
        } else {
            out.push_str("| Name | Description |\n|------|-------------|\n");
            for o in self.outputs {
                let _ = writeln!(out, "| `{}` | {} |", o.name, cell(&o.description));
            }
        }
        if !self.notes.is_empty() {
            let _ = write!(out, "\n{}\n", self.notes.trim_end());
        }
        out
    }
}

/// An expression on one line, for a table cell: objects as `{ a = 1, b = 2 }`.
pub fn one_line(e: &Expr) -> String {
    match e {
        Expr::Tuple(items) => format!(
            "[{}]",
            items.iter().map(one_line).collect::<Vec<_>>().join(", ")
        ),
        Expr::Object(items) if items.is_empty() => "{}".to_string(),
        Expr::Object(items) => format!(
            "{{ {} }}",
            items
                .iter()
                .map(|(k, v)| format!("{} = {}", k.render(), one_line(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Expr::Wrapped {
            prefix,
            items,
            suffix,
        } => format!("{prefix}{}{suffix}", one_line(&Expr::Object(items.clone()))),
        other => {
            let mut b = Body::new();
            b.attribute("x", other.clone());
            b.render(0)
                .trim_end()
                .trim_start_matches("x = ")
                .to_string()
        }
    }
}

/// Text safe in a Markdown table cell: no line breaks, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}
