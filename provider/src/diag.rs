//! Building Terraform diagnostics.

use crate::proto::tfplugin6::{self as pb, attribute_path::step::Selector};

pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: pb::diagnostic::Severity::Error as i32,
        summary: summary.into(),
        detail: detail.into(),
        attribute: None,
    }
}

pub fn error_at(
    path: Option<pb::AttributePath>,
    summary: impl Into<String>,
    detail: impl Into<String>,
) -> pb::Diagnostic {
    pb::Diagnostic {
        attribute: path,
        ..error(summary, detail)
    }
}

/// A path to a top-level attribute.
pub fn attr(name: &str) -> pb::AttributePath {
    pb::AttributePath {
        steps: vec![pb::attribute_path::Step {
            selector: Some(Selector::AttributeName(name.to_string())),
        }],
    }
}

/// `node_pools[0].autoscaling.max_size`, as a user writes it.
pub fn render_path(path: &pb::AttributePath) -> String {
    let mut out = String::new();
    for step in &path.steps {
        match &step.selector {
            Some(Selector::AttributeName(n)) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(n);
            }
            Some(Selector::ElementKeyInt(i)) => out.push_str(&format!("[{i}]")),
            Some(Selector::ElementKeyString(k)) => out.push_str(&format!("[{k:?}]")),
            None => {}
        }
    }
    out
}
