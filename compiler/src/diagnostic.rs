//! Problems the compiler reports, and the two ways it prints them.

use std::fmt;

use serde::Serialize;
use wayfinder_model::span::SpanIndex;
use wayfinder_model::{FieldPath, ParseError, ValidationErrors};

/// How serious a diagnostic is: an error stops the compilation; a warning (a definition left
/// out of the modules, and why) and a notice (a reference looked up on the server instead of
/// compiled in) say something the user should know and do not. The names are those of CI
/// annotations (`error`, `warning`, `notice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    /// Something was left out of the modules (a definition of a kind no module can hold);
    /// the run still succeeds.
    Warning,
    Notice,
}

/// One problem, located as precisely as we know: the file; the line and column of the
/// syntax error or of the field (through the model's span index: the key, the value for a
/// wrong type, the enclosing mapping for a missing field); the object (`Kind/name`) and the
/// field path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// One-based.
    pub line: Option<usize>,
    /// One-based.
    pub column: Option<usize>,
    /// Zero-based index of the document in a multi-document file, when there is no line.
    #[serde(skip)]
    pub document: Option<usize>,
    /// `Kind/name`.
    pub object: Option<String>,
    /// `spec.nodePools[1].autoscaling.maxSize`.
    pub field: Option<String>,
    pub message: String,
    pub severity: Severity,
}

impl Diagnostic {
    /// A problem with a whole file (or path).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            document: None,
            object: None,
            field: None,
            message: message.into(),
            severity: Severity::Error,
        }
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// At `location` (one-based line and column) when it is known.
    pub fn located(self, location: Option<(usize, usize)>) -> Self {
        match location {
            Some((line, column)) => self.at(line, column),
            None => self,
        }
    }

    /// In document `document` (zero-based) of a multi-document file; said only when there
    /// is no line.
    pub fn document(mut self, document: usize) -> Self {
        self.document = (document > 0).then_some(document);
        self
    }

    /// This diagnostic as a notice, not an error.
    pub fn notice(mut self) -> Self {
        self.severity = Severity::Notice;
        self
    }

    /// This diagnostic as a warning, not an error.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// From the model's parse error; the file is the error's source name.
    pub fn from_parse_error(e: &ParseError) -> Self {
        Self {
            file: e.source_name.clone(),
            line: e.location.map(|(l, _)| l),
            column: e.location.map(|(_, c)| c),
            document: (e.location.is_none() && e.document > 0).then_some(e.document),
            object: e.object.clone(),
            field: (!e.path.is_empty()).then(|| e.path.to_string()),
            message: e.message.clone(),
            severity: Severity::Error,
        }
    }

    /// One diagnostic per problem the model's validation found in document `document` of
    /// `file`, each located at its field (or, for a missing field, at the nearest enclosing
    /// one) through the document's span index.
    pub fn from_validation(
        file: &str,
        document: usize,
        e: &ValidationErrors,
        spans: &SpanIndex,
    ) -> Vec<Self> {
        e.errors
            .iter()
            .map(|fe| {
                Self::file(file, fe.message.clone())
                    .object(e.object.clone())
                    .field(fe.path.to_string())
                    .document(document)
                    .located(spans.locate(&fe.path))
            })
            .collect()
    }

    /// A problem with the field at `path` of document `document` of `file`, located through
    /// the document's span index.
    pub fn at_field(
        file: &str,
        document: usize,
        spans: &SpanIndex,
        path: &FieldPath,
        message: impl Into<String>,
    ) -> Self {
        Self::file(file, message)
            .field(path.to_string())
            .document(document)
            .located(spans.locate(path))
    }

    /// The diagnostic as one line of JSON: `{"file", "line", "column", "object", "field",
    /// "message", "severity"}`, absent parts as `null`.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            // Serialising plain strings and numbers cannot fail; keep a fallback anyway.
            format!(
                "{{\"file\":null,\"line\":null,\"column\":null,\"object\":null,\"field\":null,\"message\":{:?},\"severity\":\"error\"}}",
                self.message
            )
        })
    }
}

/// `file[:line:col]: [Kind/name: ][field: ]message`, or `file (document N): …` for a
/// document after the first when no line is known.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        match (self.line, self.column, self.document) {
            (Some(l), Some(c), _) => write!(f, ":{l}:{c}")?,
            (Some(l), None, _) => write!(f, ":{l}")?,
            (None, _, Some(d)) => write!(f, " (document {})", d + 1)?,
            _ => {}
        }
        write!(f, ": ")?;
        if let Some(o) = &self.object {
            write!(f, "{o}: ")?;
        }
        if let Some(p) = &self.field {
            write!(f, "{p}: ")?;
        }
        match self.severity {
            Severity::Notice => write!(f, "note: ")?,
            Severity::Warning => write!(f, "warning: ")?,
            Severity::Error => {}
        }
        write!(f, "{}", self.message)
    }
}

/// `--message-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MessageFormat {
    /// One line per problem, for people.
    #[default]
    Human,
    /// One JSON object per line, for CI annotations.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_and_json_forms() {
        let d = Diagnostic::file("defs/a.yaml", "must be >= minSize (3)")
            .object("ComputeTemplate/x")
            .field("spec.nodePools[1].autoscaling.maxSize");
        assert_eq!(
            d.to_string(),
            "defs/a.yaml: ComputeTemplate/x: spec.nodePools[1].autoscaling.maxSize: must be >= minSize (3)"
        );
        assert_eq!(
            d.to_json_line(),
            r#"{"file":"defs/a.yaml","line":null,"column":null,"object":"ComputeTemplate/x","field":"spec.nodePools[1].autoscaling.maxSize","message":"must be >= minSize (3)","severity":"error"}"#
        );
        let located = Diagnostic::file("b.yaml", "not valid YAML").at(3, 7);
        assert_eq!(located.to_string(), "b.yaml:3:7: not valid YAML");
        assert!(located.to_json_line().contains(r#""line":3,"column":7"#));
    }

    #[test]
    fn validation_errors_are_located_through_the_document() {
        let text = "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata: {name: a}\nspec: {provider: EKS, nodePools: []}\n---\napiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata:\n  name: b\nspec:\n  provider: EKX\n  nodePools:\n    - {logicalName: x, size: 1}\n";
        let docs = wayfinder_model::parse_yaml_documents("d.yaml", text).unwrap();
        let e = docs[1].object.validate().unwrap_err();
        let lines: Vec<String> =
            Diagnostic::from_validation("d.yaml", docs[1].index, &e, &docs[1].spans)
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            lines,
            [
                "d.yaml:11:3: ComputeTemplate/b: spec.provider: \"EKX\" is not supported: must be one of EKS, AKS, GKE",
                // Missing: at the item's mapping.
                "d.yaml:13:7: ComputeTemplate/b: spec.nodePools[0].machine: must not be empty: an instance type such as m6i.large",
            ]
        );
        // Without an index, the document is named instead.
        let d = Diagnostic::from_validation("d.yaml", 1, &e, &SpanIndex::none());
        assert!(
            d[0].to_string()
                .starts_with("d.yaml (document 2): ComputeTemplate/b: spec.provider: "),
            "{}",
            d[0]
        );
        assert_eq!((d[0].line, d[0].column), (None, None));
    }
}
