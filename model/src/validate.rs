//! The checks kinds share, collected by a [`Checker`] so that every problem is reported.

use crate::error::{FieldError, FieldPath, Reason, ValidationErrors};
use crate::kinds::KindInfo;
use crate::meta::ObjectMeta;

/// Collects every problem found in one object.
pub struct Checker {
    object: String,
    errors: Vec<FieldError>,
}

impl Checker {
    /// A checker for one object; `object` is its `Kind/name`, for messages.
    pub fn new(object: String) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    /// Records one problem.
    pub fn push(&mut self, path: &FieldPath, reason: Reason, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.clone(),
            reason,
            message: message.into(),
        });
    }

    /// A string that must not be empty; `hint` says what belongs there.
    pub fn required(&mut self, path: &FieldPath, value: &str, hint: &str) {
        if value.trim().is_empty() {
            self.push(path, Reason::Required, format!("must not be empty: {hint}"));
        }
    }

    /// A value that must be one of `allowed`.
    pub fn one_of(&mut self, path: &FieldPath, value: &str, allowed: &[&str]) {
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

    /// A number that must lie in `lo..=hi`; `unit` names it in the message (`GiB`, `nodes`).
    pub fn range(&mut self, path: &FieldPath, value: i64, (lo, hi): (i64, i64), unit: &str) {
        if value < lo || value > hi {
            self.push(
                path,
                Reason::Invalid,
                format!("must be between {lo} and {hi} {unit} (got {value})"),
            );
        }
    }

    /// A DNS-1123 label: what Wayfinder accepts for object names.
    pub fn dns_label(&mut self, path: &FieldPath, value: &str) {
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

    /// A workspace key ([`WORKSPACE_KEY`]).
    pub fn workspace_key(&mut self, path: &FieldPath, value: &str) {
        if !is_workspace_key(value) {
            self.push(
                path,
                Reason::Invalid,
                format!("{value:?} is not a workspace key: {}", WORKSPACE_KEY.text),
            );
        }
    }

    /// A version as Wayfinder's pattern allows (`1.3.0`, `v1.15.3-2`).
    pub fn version(&mut self, path: &FieldPath, value: &str) {
        if value.is_empty() {
            self.push(path, Reason::Required, "required: a version such as 1.3.0");
        } else if !is_version(value) {
            self.push(
                path,
                Reason::Invalid,
                format!("{value:?} is not a version: use MAJOR.MINOR.PATCH with an optional v prefix and -suffix, e.g. 1.3.0 or v1.15.3-2"),
            );
        }
    }

    /// How many problems were found so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether no problem was found so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// A Kubernetes qualified name, as label and annotation keys are: `[prefix/]name`, the
    /// prefix a DNS subdomain of at most 253 characters, the name at most 63; `path` is the map.
    pub fn label_key(&mut self, path: &FieldPath, key: &str) {
        let (prefix, name) = match key.split_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, key),
        };
        let prefix_ok = prefix.is_none_or(is_dns_subdomain);
        if !prefix_ok || !is_label_name(name) {
            self.push(
                &path.field(key),
                Reason::Invalid,
                format!("{key:?} is not a label key: an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
            );
        }
    }

    /// A Kubernetes label: key `[prefix/]name`, value empty or a name; `path` is the map.
    pub fn label(&mut self, path: &FieldPath, key: &str, value: &str) {
        self.label_key(path, key);
        if !value.is_empty() && !is_label_name(value) {
            self.push(
                &path.field(key),
                Reason::Invalid,
                format!("{value:?} is not a label value: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
            );
        }
    }

    /// `Ok` when no problem was recorded, else every problem, in the order recorded.
    pub fn finish(self) -> Result<(), ValidationErrors> {
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

/// A rule on a value, stated once: how it is checked outside Rust and how it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule as a regular expression in Terraform's `regex()` syntax (RE2), for HCL
    /// `validation` conditions the compiler writes.
    pub hcl_regex: &'static str,
    /// The rule in words, for messages and descriptions.
    pub text: &'static str,
}

/// The words of [`WORKSPACE_KEY`], as a literal for `concat!` in `const` descriptions.
#[macro_export]
macro_rules! workspace_key_text {
    () => {
        "2 to 5 lower-case letters or digits, starting with a letter"
    };
}

/// A workspace key ([`is_workspace_key`]).
pub const WORKSPACE_KEY: Rule = Rule {
    hcl_regex: "^[a-z][a-z0-9]{1,4}$",
    text: workspace_key_text!(),
};

/// A workspace key: [`WORKSPACE_KEY`].
pub fn is_workspace_key(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=5).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_DNS_LABEL
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Longest DNS subdomain (RFC 1123), as Kubernetes limits object names and key prefixes.
pub const MAX_DNS_SUBDOMAIN: usize = 253;
/// Longest DNS label (RFC 1123).
pub const MAX_DNS_LABEL: usize = 63;

/// Whether `s` is a DNS label (RFC 1123): lower-case letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_DNS_LABEL
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters. Kubernetes service
/// account names and Wayfinder's access role names (`cluster.admin`) are such names.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_DNS_SUBDOMAIN && s.split('.').all(is_dns_label)
}

/// Whether `v` is a version as Wayfinder's pattern allows:
/// `^(v|)([0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9-.]+|)|)$`, non-empty (`1.3.0`, `v1.15.3-2`).
pub fn is_version(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (core, suffix) = match v.split_once('-') {
        Some((core, suffix)) => (core, Some(suffix)),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && suffix.is_none_or(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        })
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

/// An object's name: a DNS label, or with `dotted` a DNS subdomain of at most 253 characters.
fn object_name(c: &mut Checker, path: &FieldPath, name: &str, dotted: bool) {
    if !dotted || name.is_empty() {
        c.dns_label(path, name);
    } else if !is_dns_subdomain(name) {
        c.push(
            path,
            Reason::Invalid,
            format!("{name:?} is not a valid name: dot-separated parts of lower-case letters, digits and '-', each starting and ending with a letter or digit, at most 253 characters"),
        );
    }
}

pub(crate) fn platform_metadata(
    c: &mut Checker,
    path: &FieldPath,
    meta: &ObjectMeta,
    dotted: bool,
) {
    object_name(c, &path.field("name"), &meta.name, dotted);
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

/// Metadata of a workspaced kind: a name, and a namespace (when given) of the form `ws-KEY`.
pub(crate) fn workspace_metadata(
    c: &mut Checker,
    path: &FieldPath,
    meta: &ObjectMeta,
    dotted: bool,
) {
    object_name(c, &path.field("name"), &meta.name, dotted);
    if let Some(ns) = meta.namespace.as_deref().filter(|ns| !ns.is_empty())
        && !ns.strip_prefix("ws-").is_some_and(is_workspace_key)
    {
        c.push(
            &path.field("namespace"),
            Reason::Invalid,
            format!("{ns:?} is not a workspace namespace: use ws-KEY for workspace KEY (e.g. ws-team1), or leave it out and name the workspace in the request"),
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
