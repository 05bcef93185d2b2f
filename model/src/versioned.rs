//! Versioned kinds (ClusterPlan, Package): the publish state Wayfinder keeps in annotations,
//! and the ordering of versions.
//!
//! Wayfinder (wayfinder-model.md §0, §6) records a version's lifecycle in two annotations:
//!
//! | state | `appvia.io/published` | `appvia.io/publishState` |
//! |---|---|---|
//! | Draft | `"false"` | `Draft` |
//! | Published | `"true"` (or absent) | `Published` (or absent) |
//! | Deprecated | `"false"` | `Deprecated` |
//!
//! A missing `appvia.io/published` reads as published, as Wayfinder's client helper reads it.
//! The two annotations must agree: `publishState: Draft` without `published: "false"` is
//! refused, because Wayfinder's client would treat that version as published.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{FieldError, FieldPath, Reason};
use crate::kinds::Object;
use crate::meta::ObjectMeta;
use crate::validate::Checker;

/// `appvia.io/published`: `"true"` or `"false"`.
pub const PUBLISHED_ANNOTATION: &str = "appvia.io/published";
/// `appvia.io/publishState`: `Draft`, `Published` or `Deprecated`.
pub const PUBLISH_STATE_ANNOTATION: &str = "appvia.io/publishState";

/// Where a version is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishState {
    /// Being prepared: not offered to workspaces.
    Draft,
    /// Offered to workspaces: new clusters may use it.
    Published,
    /// Retired: existing clusters keep it, new ones may not use it.
    Deprecated,
}

impl PublishState {
    /// Every state, in lifecycle order.
    pub const ALL: [PublishState; 3] = [
        PublishState::Draft,
        PublishState::Published,
        PublishState::Deprecated,
    ];

    /// The state as it is written (`Draft`, `Published`, `Deprecated`).
    pub fn as_str(self) -> &'static str {
        match self {
            PublishState::Draft => "Draft",
            PublishState::Published => "Published",
            PublishState::Deprecated => "Deprecated",
        }
    }

    /// The `appvia.io/published` value that goes with this state.
    pub fn published(self) -> bool {
        self == PublishState::Published
    }

    /// Reads the written form back; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for PublishState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn annotation_path(name: &str) -> FieldPath {
    FieldPath::root()
        .field("metadata")
        .field("annotations")
        .field(name)
}

/// The publish state of a version, from its annotations; every problem when they cannot be
/// read or do not agree.
pub fn publish_state(meta: &ObjectMeta) -> Result<PublishState, Vec<FieldError>> {
    let get = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k));
    let mut errors = Vec::new();
    let published = match get(PUBLISHED_ANNOTATION).map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            errors.push(FieldError {
                path: annotation_path(PUBLISHED_ANNOTATION),
                reason: Reason::NotSupported,
                message: format!("{other:?} is not supported: must be \"true\" or \"false\""),
            });
            None
        }
    };
    let state = match get(PUBLISH_STATE_ANNOTATION) {
        None => None,
        Some(s) => match PublishState::parse(s) {
            Some(state) => Some(state),
            None => {
                errors.push(FieldError {
                    path: annotation_path(PUBLISH_STATE_ANNOTATION),
                    reason: Reason::NotSupported,
                    message: format!(
                        "{s:?} is not supported: must be one of Draft, Published, Deprecated"
                    ),
                });
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    match (published, state) {
        // Missing `published` reads as published.
        (None | Some(true), None) => Ok(PublishState::Published),
        (Some(false), None) => Ok(PublishState::Draft),
        (p, Some(state)) if p.unwrap_or(true) == state.published() => Ok(state),
        (p, Some(state)) => Err(vec![FieldError {
            path: annotation_path(PUBLISHED_ANNOTATION),
            reason: Reason::Invalid,
            message: format!(
                "{} disagrees with {PUBLISH_STATE_ANNOTATION}: {state}: set {PUBLISHED_ANNOTATION}: \"{}\" for {state}",
                match p {
                    None => "missing, which reads as \"true\",".to_string(),
                    Some(v) => format!("\"{v}\""),
                },
                state.published()
            ),
        }]),
    }
}

/// Sets both annotations for `state`.
pub fn set_publish_state(meta: &mut ObjectMeta, state: PublishState) {
    let annotations = meta.annotations.get_or_insert_with(Default::default);
    annotations.insert(
        PUBLISHED_ANNOTATION.to_string(),
        state.published().to_string(),
    );
    annotations.insert(
        PUBLISH_STATE_ANNOTATION.to_string(),
        state.as_str().to_string(),
    );
}

/// Pushes every problem with a versioned object's publish annotations.
pub(crate) fn check_annotations(c: &mut Checker, meta: &ObjectMeta) {
    if let Err(errors) = publish_state(meta) {
        for e in errors {
            c.push(&e.path, e.reason, e.message);
        }
    }
}

/// A version as Wayfinder writes them (`1.3.0`, `v1.15.3-2`), ordered as semantic versions
/// are: by major, minor and patch numerically, a version with a `-suffix` before the same
/// version without one, suffixes compared identifier by identifier (numeric identifiers
/// numerically and before alphanumeric ones). A `v` prefix is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    core: [&'a str; 3],
    pre: Option<&'a str>,
}

impl<'a> Version<'a> {
    /// Reads a version; `None` when it is not one ([`crate::common::is_version`]).
    pub fn parse(v: &'a str) -> Option<Self> {
        if !crate::common::is_version(v) {
            return None;
        }
        let v = v.strip_prefix('v').unwrap_or(v);
        let (core, pre) = match v.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (v, None),
        };
        let mut parts = core.split('.');
        let core = [parts.next()?, parts.next()?, parts.next()?];
        Some(Self { core, pre })
    }
}

/// Compares digit strings as numbers, however long.
fn cmp_numeric(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let xn = !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
                let yn = !y.is_empty() && y.bytes().all(|b| b.is_ascii_digit());
                let o = match (xn, yn) {
                    (true, true) => cmp_numeric(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .iter()
            .zip(other.core.iter())
            .map(|(a, b)| cmp_numeric(a, b))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
            .then_with(|| match (self.pre, other.pre) {
                (None, None) => Ordering::Equal,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => cmp_pre(a, b),
            })
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders two version strings; text that is not a version sorts before every version, and
/// equal versions (`v1.0.0`, `1.0.0`) by their text, so the order is total.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.cmp(b))
}

/// The latest published version among `versions` (objects of one versioned kind and name):
/// the highest `spec.version` whose publish state is Published. Objects without a readable
/// version or publish state are skipped.
///
/// Takes objects or anything that borrows as one (`&Arc<Object>`).
pub fn latest_published<'a, O: std::borrow::Borrow<Object> + ?Sized + 'a>(
    versions: impl Iterator<Item = &'a O>,
) -> Option<&'a O> {
    let object = |o: &'a O| -> &'a Object { o.borrow() };
    versions
        .filter(|o| publish_state(object(o).metadata()) == Ok(PublishState::Published))
        .filter(|o| {
            object(o)
                .version()
                .is_some_and(|v| Version::parse(v).is_some())
        })
        .max_by(|a, b| {
            compare_versions(
                object(a).version().unwrap_or(""),
                object(b).version().unwrap_or(""),
            )
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn meta(annotations: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: "p".into(),
            annotations: (!annotations.is_empty()).then(|| {
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn publish_states_follow_wayfinders_annotations() {
        use PublishState::*;
        let p = PUBLISHED_ANNOTATION;
        let s = PUBLISH_STATE_ANNOTATION;
        for (ann, want) in [
            (vec![], Published),
            (vec![(p, "true")], Published),
            (vec![(p, "false")], Draft),
            (vec![(p, "true"), (s, "Published")], Published),
            (vec![(s, "Published")], Published),
            (vec![(p, "false"), (s, "Draft")], Draft),
            (vec![(p, "false"), (s, "Deprecated")], Deprecated),
        ] {
            assert_eq!(publish_state(&meta(&ann)), Ok(want), "{ann:?}");
        }
    }

    #[test]
    fn disagreeing_or_unknown_annotations_are_refused() {
        let p = PUBLISHED_ANNOTATION;
        let s = PUBLISH_STATE_ANNOTATION;
        let msgs = |ann: &[(&str, &str)]| -> Vec<String> {
            publish_state(&meta(ann))
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            msgs(&[(s, "Draft")]),
            [
                "metadata.annotations.appvia.io/published: missing, which reads as \"true\", disagrees with appvia.io/publishState: Draft: set appvia.io/published: \"false\" for Draft"
            ]
        );
        assert_eq!(
            msgs(&[(p, "true"), (s, "Deprecated")]),
            [
                "metadata.annotations.appvia.io/published: \"true\" disagrees with appvia.io/publishState: Deprecated: set appvia.io/published: \"false\" for Deprecated"
            ]
        );
        assert_eq!(
            msgs(&[(p, "false"), (s, "Published")]),
            [
                "metadata.annotations.appvia.io/published: \"false\" disagrees with appvia.io/publishState: Published: set appvia.io/published: \"true\" for Published"
            ]
        );
        assert_eq!(
            msgs(&[(p, "yes"), (s, "Live")]),
            [
                "metadata.annotations.appvia.io/published: \"yes\" is not supported: must be \"true\" or \"false\"",
                "metadata.annotations.appvia.io/publishState: \"Live\" is not supported: must be one of Draft, Published, Deprecated",
            ]
        );
    }

    #[test]
    fn set_publish_state_writes_agreeing_annotations() {
        for state in PublishState::ALL {
            let mut m = meta(&[]);
            set_publish_state(&mut m, state);
            assert_eq!(publish_state(&m), Ok(state));
        }
    }

    #[test]
    fn versions_order_as_semver() {
        let ordered = [
            "0.9.0",
            "1.2.10-1",
            "1.2.10-2",
            "1.2.10-10",
            "1.2.10-rc.1",
            "1.2.10",
            "v1.10.0",
            "2.0.0-alpha",
            "2.0.0-alpha.1",
            "2.0.0-alpha.beta",
            "2.0.0-beta",
            "2.0.0",
            "99999999999999999999999.0.0",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare_versions(w[0], w[1]), Ordering::Less, "{w:?}");
            assert_eq!(compare_versions(w[1], w[0]), Ordering::Greater, "{w:?}");
        }
        assert_eq!(
            Version::parse("v1.0.0")
                .unwrap()
                .cmp(&Version::parse("1.0.0").unwrap()),
            Ordering::Equal
        );
        assert_eq!(compare_versions("junk", "0.0.1"), Ordering::Less);
        assert!(Version::parse("1.0").is_none());
    }
}
