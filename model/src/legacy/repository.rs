//! `package.appvia.io/v2beta1` Repository, served: one v2beta2 Repository, converted both
//! ways.
//!
//! | v2beta1 | v2beta2 |
//! |---|---|
//! | `url` | `url` |
//!
//! Carried: `interval` and `timeout` (how often and how long the chart index is fetched;
//! v2beta2 leaves that to the server) and `selectors` (v2beta2 repositories serve every
//! cluster). Back to v2beta1, `description` is carried.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Carried, Converted, LegacyError, definition_meta, typed};
use crate::error::FieldPath;
use crate::kinds::Object;
use crate::meta::ObjectMeta;
use crate::object::Typed;
use crate::package::RepositorySpec;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacyRepository {
    #[serde(default)]
    url: String,
    #[serde(default)]
    interval: Option<Value>,
    #[serde(default)]
    timeout: Option<Value>,
    #[serde(default)]
    selectors: Option<Value>,
}

/// A v2beta1 Repository's `spec` as the v2beta2 Repository it is.
pub(super) fn to_current(meta: &ObjectMeta, spec: Value) -> Result<Converted, Vec<LegacyError>> {
    let s: LegacyRepository = typed(spec, &FieldPath::root().field("spec")).map_err(|e| vec![e])?;
    let mut carried = Carried::default();
    carried.carry("spec.interval", s.interval);
    carried.carry("spec.timeout", s.timeout);
    carried.carry("spec.selectors", s.selectors.clone());
    let mut notes = Vec::new();
    if s.selectors.is_some() {
        notes.push("spec.selectors chose the clusters the repository was offered to; a v2beta2 repository serves every cluster, and plans choose packages".into());
    }
    let mut repository = Typed::new(
        &meta.name,
        RepositorySpec {
            url: s.url,
            description: None,
        },
    );
    repository.metadata = carried.annotate(definition_meta(meta));
    Ok(Converted {
        objects: vec![Object::Repository(repository)],
        carried: carried.paths(),
        notes,
    })
}

/// A v2beta2 Repository's `spec` as v2beta1 shows it, and the current fields it has no
/// place for (to carry).
pub(super) fn to_legacy(spec: Value) -> (Value, Map<String, Value>) {
    let s: RepositorySpec = serde_json::from_value(spec).unwrap_or_default();
    let mut out = Map::new();
    let mut extra = Map::new();
    out.insert("url".into(), json!(s.url));
    if let Some(d) = &s.description {
        extra.insert("spec.description".into(), json!(d));
    }
    (Value::Object(out), extra)
}
