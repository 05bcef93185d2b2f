//! The checks kinds share, collected by a [`Checker`] so that every problem is reported.

use crate::error::{FieldError, FieldPath, Reason, ValidationErrors};
use crate::kinds::KindInfo;
use crate::meta::ObjectMeta;

pub(crate) struct Checker {
    object: String,
    errors: Vec<FieldError>,
}

impl Checker {
    pub(crate) fn new(object: String) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, path: &FieldPath, reason: Reason, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.clone(),
            reason,
            message: message.into(),
        });
    }

    /// A string that must not be empty; `hint` says what belongs there.
    pub(crate) fn required(&mut self, path: &FieldPath, value: &str, hint: &str) {
        if value.trim().is_empty() {
            self.push(path, Reason::Required, format!("must not be empty: {hint}"));
        }
    }

    pub(crate) fn one_of(&mut self, path: &FieldPath, value: &str, allowed: &[&str]) {
        if value.is_empty() {
            self.push(
                path,
                Reason::Required,
                format!("required: one of {}", allowed.join(", ")),
            );
        } else if !allowed.contains(&value) {
            self.push(
                path,
                Reason::NotSupported,
                format!(
                    "{value:?} is not supported: must be one of {}",
                    allowed.join(", ")
                ),
            );
        }
    }

    pub(crate) fn range(&mut self, path: &FieldPath, value: i64, (lo, hi): (i64, i64), unit: &str) {
        if value < lo || value > hi {
            self.push(
                path,
                Reason::Invalid,
                format!("must be between {lo} and {hi} {unit} (got {value})"),
            );
        }
    }

    /// A DNS-1123 label: what Wayfinder accepts for object names.
    pub(crate) fn dns_label(&mut self, path: &FieldPath, value: &str) {
        if value.is_empty() {
            self.push(
                path,
                Reason::Required,
                "required: a name of lower-case letters, digits and '-'",
            );
        } else if !is_dns_label(value) {
            self.push(
                path,
                Reason::Invalid,
                format!(
                    "{value:?} is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
                ),
            );
        }
    }

    pub(crate) fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors {
                object: self.object,
                errors: self.errors,
            })
        }
    }
}

pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub(crate) fn type_meta(
    c: &mut Checker,
    root: &FieldPath,
    api_version: &str,
    kind: &str,
    info: &KindInfo,
) {
    let want = info.api_version();
    if api_version != want {
        c.push(
            &root.field("apiVersion"),
            Reason::NotSupported,
            format!("must be {want}"),
        );
    }
    if kind != info.kind {
        c.push(
            &root.field("kind"),
            Reason::NotSupported,
            format!("must be {}", info.kind),
        );
    }
}

pub(crate) fn platform_metadata(c: &mut Checker, path: &FieldPath, meta: &ObjectMeta) {
    c.dns_label(&path.field("name"), &meta.name);
    if let Some(ns) = &meta.namespace
        && !ns.is_empty()
    {
        c.push(
            &path.field("namespace"),
            Reason::Forbidden,
            format!(
                "{ns:?} given, but this kind is platform-level and has no namespace; remove it"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::is_dns_label;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("eks-general"));
        assert!(is_dns_label("a1"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label("a_b"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
