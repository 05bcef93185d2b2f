//! The provider's own diagnostics: what resources, data sources, ephemeral resources,
//! functions and the error mapping return. Only the server turns them into the protocol's
//! form (`server::to_proto`).

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One step of an [`AttrPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An attribute or block by name (`node_pools`).
    Attr(String),
    /// An element of a list by position (`[0]`).
    Index(i64),
    /// An element of a map by key (`["team"]`).
    Key(String),
}

/// Where in a resource's value a diagnostic points: `node_pools[0].autoscaling.max_size`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrPath {
    pub steps: Vec<Step>,
}

impl AttrPath {
    /// The path with `step` added at its end.
    pub fn then(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }
}

/// A problem (or a warning) for Terraform to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    /// The attribute it is about, when it is about one.
    pub path: Option<AttrPath>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        summary: summary.into(),
        detail: detail.into(),
        path: None,
    }
}

pub fn error_at(
    path: Option<AttrPath>,
    summary: impl Into<String>,
    detail: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        path,
        ..error(summary, detail)
    }
}

pub fn warning(
    path: Option<AttrPath>,
    summary: impl Into<String>,
    detail: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        ..error_at(path, summary, detail)
    }
}

/// A path to a top-level attribute.
pub fn attr(name: &str) -> AttrPath {
    AttrPath {
        steps: vec![Step::Attr(name.to_string())],
    }
}

/// `node_pools[0].autoscaling.max_size`, as a user writes it.
pub fn render_path(path: &AttrPath) -> String {
    let mut out = String::new();
    for step in &path.steps {
        match step {
            Step::Attr(n) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(n);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) => out.push_str(&format!("[{k:?}]")),
        }
    }
    out
}
