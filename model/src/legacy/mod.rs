//! Legacy API versions: the `v2beta1` shapes of the kinds Wayfinder has since moved to
//! `v2beta2` (wayfinder-model.md §3, §4, §6, §8), and their conversion to and from the
//! storage version.
//!
//! Handled the Kubernetes way, in one of three ways per kind ([`Handling`]):
//!
//! - **Served** ([`Handling::Served`]): one legacy object is one current object. The server
//!   serves the legacy version too, converting a request body to the storage version and
//!   each answer back ([`to_current`], [`to_legacy`]): `GET` works at either version.
//!   CloudAccessConfig, CloudIdentity and Repository.
//! - **Joined** ([`Handling::Joined`]): a legacy object becomes several current ones, which
//!   the server commits together — both or neither — and reads back joined
//!   ([`migrate`], [`joined_with`], [`to_legacy_joined`]): a v2beta1 ClusterPlan is a plan
//!   and the ComputeTemplate its node pools became, marked [`PRODUCED_BY_ANNOTATION`].
//!   `wayfinder-compile` migrates it too.
//! - **Migrated** ([`Handling::Migrated`]): a legacy object becomes several current ones
//!   that the server does not commit for it (a v2beta1 Package's chart source becomes a
//!   Repository that other packages share). `wayfinder-compile` migrates them ([`migrate`])
//!   and says what it produced; the server refuses them, saying how to migrate
//!   ([`Handling::Migrated`] carries the reason).
//!
//! Nothing is dropped silently. A legacy field with no counterpart is carried, verbatim, in
//! the annotation [`CARRIED_ANNOTATION`] of the object it belonged to (a JSON object keyed by
//! the field's legacy path) and named in the report ([`Migration::carried`]); converting back
//! to the legacy version restores it. A field the conversion cannot place (unknown to the
//! legacy shape, or ambiguous) is an error naming its field path ([`LegacyError`]).
//!
//! No I/O: values in, values out.

mod cloudaccess;
mod package;
mod plan;
mod repository;

pub use plan::{DEFAULT_KUBERNETES_VERSION, MIGRATED_VERSION};

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::FieldPath;
use crate::kinds::{self, KindInfo, Object};
use crate::meta::ObjectMeta;

/// The annotation that carries legacy fields with no counterpart in the current version: a
/// JSON object from each field's legacy path (`spec.template.quotaLimits`) to its value.
pub const CARRIED_ANNOTATION: &str = "legacy.appvia.io/v2beta1";

/// The annotation that marks an object a legacy object's migration produced besides the
/// object of its own kind (a v2beta1 plan's ComputeTemplate): `Kind/name` of the legacy
/// object (`ClusterPlan/eks-standard`). The server overwrites or deletes such an object with
/// its legacy object, and never one without the mark ([`produced_by`]).
pub const PRODUCED_BY_ANNOTATION: &str = "legacy.appvia.io/produced-by";

/// The command that migrates what the server does not convert, for messages.
pub const MIGRATE_COMMAND: &str = "wayfinder-compile --migrate FILE... --out DIR";

/// How a legacy version is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// One legacy object is one current object: the server serves the version, converting.
    Served,
    /// A legacy object becomes several current objects, which the server commits together
    /// and reads back joined ([`to_legacy_joined`]); the compiler migrates it too.
    Joined,
    /// A legacy object becomes several current objects: `wayfinder-compile --migrate`
    /// converts it; the server refuses it with this reason and the command.
    Migrated {
        /// Why it does not map onto one current object.
        why: &'static str,
    },
}

/// A legacy version of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyKind {
    /// The legacy version, e.g. `v2beta1`.
    pub version: &'static str,
    /// The current (storage) version of the kind: its group, kind, plural and scope.
    pub current: &'static KindInfo,
    /// Served by the server, or migrated by the compiler.
    pub handling: Handling,
}

impl LegacyKind {
    /// `group/version` of the legacy version.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.current.group, self.version)
    }

    /// `Kind (group/version)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.current.kind, self.api_version())
    }

    /// What the server answers to a legacy object it does not convert: why, and how to
    /// migrate it. `None` for a served version.
    pub fn refusal(&self) -> Option<String> {
        match self.handling {
            Handling::Served | Handling::Joined => None,
            Handling::Migrated { why } => Some(format!(
                "{} is a legacy version the server does not convert: {why}. Migrate the definitions with `{MIGRATE_COMMAND}`, which writes the {} objects they become, and apply those",
                self.describe(),
                self.current.version
            )),
        }
    }
}

/// The legacy versions this model understands.
pub const LEGACY: &[LegacyKind] = &[
    LegacyKind {
        version: "v2beta1",
        current: &kinds::CLUSTER_PLAN,
        handling: Handling::Joined,
    },
    LegacyKind {
        version: "v2beta1",
        current: &kinds::PACKAGE,
        handling: Handling::Migrated {
            why: "a v2beta1 package's chart source (spec.source.helm.url) becomes a Repository in v2beta2",
        },
    },
    LegacyKind {
        version: "v2beta1",
        current: &kinds::CLOUD_ACCESS_CONFIG,
        handling: Handling::Served,
    },
    LegacyKind {
        version: "v2beta1",
        current: &kinds::CLOUD_IDENTITY,
        handling: Handling::Served,
    },
    LegacyKind {
        version: "v2beta1",
        current: &kinds::REPOSITORY,
        handling: Handling::Served,
    },
];

/// The legacy version an `apiVersion` and `kind` name.
pub fn by_api_version_kind(api_version: &str, kind: &str) -> Option<&'static LegacyKind> {
    LEGACY
        .iter()
        .find(|l| l.current.kind == kind && l.api_version() == api_version)
}

/// The legacy version a URL's group, version and plural name.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static LegacyKind> {
    LEGACY
        .iter()
        .find(|l| l.current.group == group && l.version == version && l.current.plural == plural)
}

/// A field of a legacy object the conversion cannot place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyError {
    /// Where, in the legacy object (`spec.template.nodePools[0].machine`).
    pub path: FieldPath,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// What a legacy object became.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    /// Its legacy version.
    pub legacy: &'static LegacyKind,
    /// Its name.
    pub name: String,
    /// The current objects it became, the one of its own kind first.
    pub objects: Vec<Object>,
    /// The legacy fields with no counterpart, carried in [`CARRIED_ANNOTATION`] of the first
    /// object, by legacy path.
    pub carried: Vec<String>,
    /// How fields were mapped where it is not one to one (a default chosen, a value renamed,
    /// a policy turned into a choice), for the report.
    pub notes: Vec<String>,
}

impl Migration {
    /// One paragraph: what it was, what it became, what was carried and how it was mapped.
    pub fn report(&self) -> String {
        let made: Vec<String> = self
            .objects
            .iter()
            .map(|o| match o.version() {
                Some(v) => format!(
                    "{} {} ({})",
                    o.display_name(),
                    v,
                    o.kind_info().api_version()
                ),
                None => format!("{} ({})", o.display_name(), o.kind_info().api_version()),
            })
            .collect();
        let mut out = format!(
            "{}/{} ({}) migrated to {}",
            self.legacy.current.kind,
            self.name,
            self.legacy.api_version(),
            made.join(" and ")
        );
        if !self.carried.is_empty() {
            out.push_str(&format!(
                "; carried in annotation {CARRIED_ANNOTATION} (no counterpart in {}): {}",
                self.legacy.current.version,
                self.carried.join(", ")
            ));
        }
        for n in &self.notes {
            out.push_str("; ");
            out.push_str(n);
        }
        out
    }
}

impl Migration {
    /// The objects it became as a YAML stream, one document each, headed by the report as
    /// comments (what `wayfinder-compile --migrate` writes).
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for line in wrap(&self.report(), 90) {
            out.push_str("# ");
            out.push_str(&line);
            out.push('\n');
        }
        for (i, o) in self.objects.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&serde_yaml_ng::to_string(o).unwrap_or_default());
        }
        out
    }
}

/// Words of `text` in lines of at most `width` characters (longer words alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Converts a legacy object (a whole document: `apiVersion`, `kind`, `metadata`, `spec`) to
/// the current objects it becomes. Every field is placed, carried or refused.
pub fn migrate(value: &Value) -> Result<Migration, Vec<LegacyError>> {
    let text = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default();
    let Some(legacy) = by_api_version_kind(text("apiVersion"), text("kind")) else {
        return Err(vec![LegacyError {
            path: FieldPath::root().field("apiVersion"),
            message: format!(
                "not a legacy version this model converts; legacy versions: {}",
                LEGACY
                    .iter()
                    .map(LegacyKind::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }]);
    };
    let Some(map) = value.as_object() else {
        return Err(vec![err(FieldPath::root(), "expected an object")]);
    };
    let mut problems = Vec::new();
    for k in map.keys() {
        if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&k.as_str()) {
            problems.push(err(
                FieldPath::root().field(k),
                "unknown field; accepted: apiVersion, kind, metadata, spec",
            ));
        }
    }
    let metadata: ObjectMeta = match typed(
        map.get("metadata").cloned().unwrap_or(Value::Null),
        &FieldPath::root().field("metadata"),
    ) {
        Ok(m) => m,
        Err(e) => {
            problems.push(e);
            ObjectMeta::default()
        }
    };
    let spec = map
        .get("spec")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let converted = match legacy.current.kind {
        "ClusterPlan" => plan::migrate(&metadata, spec),
        "Package" => package::migrate(&metadata, spec),
        "CloudAccessConfig" => cloudaccess::access_to_current(&metadata, spec),
        "Repository" => repository::to_current(&metadata, spec),
        _ => cloudaccess::identity_to_current(&metadata, spec),
    };
    match converted {
        Ok(c) if problems.is_empty() => Ok(Migration {
            legacy,
            name: metadata.name,
            objects: c.objects,
            carried: c.carried,
            notes: c.notes,
        }),
        Ok(_) => Err(problems),
        Err(mut e) => {
            problems.append(&mut e);
            Err(problems)
        }
    }
}

/// What a kind's conversion made of a legacy object.
#[derive(Debug, Default)]
struct Converted {
    objects: Vec<Object>,
    carried: Vec<String>,
    notes: Vec<String>,
}

/// Where the fields of a current object a legacy one became came from, as path prefixes
/// (current, legacy) for [`crate::span::SpanIndex::aliased`]: so that a problem with a
/// migrated object is located at the legacy field's own line, not at its nearest common
/// ancestor (`spec`). Fields not listed are at the same path in both.
pub fn source_paths(legacy: &LegacyKind, object: &Object) -> Vec<(FieldPath, FieldPath)> {
    let pairs: &[(&str, &str)] = match (legacy.current.kind, object) {
        ("ClusterPlan", Object::ClusterPlan(_)) => &[
            ("spec.description", "spec.summary"),
            ("spec.provider", "spec.template.provider"),
            ("spec.scope", "spec.allocation"),
            ("spec.cluster.kubernetesVersion", "spec.template.version"),
            (
                "spec.cluster.providerDetails",
                "spec.template.providerDetails",
            ),
            ("spec.cluster.security", "spec.template.security"),
            ("spec.network", "spec.template.networking"),
            ("spec.choices.regions.default", "spec.template.region"),
            ("spec.choices", "spec.policies"),
        ],
        ("ClusterPlan", Object::ComputeTemplate(_)) => &[
            ("spec.provider", "spec.template.provider"),
            ("spec.nodePools", "spec.template.nodePools"),
        ],
        ("Package", Object::Package(_)) => &[
            ("spec.description", "spec.summary"),
            ("spec.helm.releaseName", "spec.releaseName"),
            ("spec.helm.repositoryRef", "spec.source.helm.url"),
            ("spec.helm.chartName", "spec.source.helm.name"),
            ("spec.helm.chartVersion", "spec.source.helm.version"),
            ("spec.helm.valuesTemplate", "spec.values"),
            ("spec.helm", "spec.source.helm"),
            (
                "spec.workloadIdentity.serviceAccountName",
                "spec.workloadIdentity.clusterServiceAccount.name",
            ),
            (
                "spec.workloadIdentity.role.aws",
                "spec.workloadIdentity.providerDetails.aws.customIAMPolicy",
            ),
        ],
        ("Package", Object::Repository(_)) => &[("spec", "spec.source.helm")],
        ("CloudAccessConfig", _) => &[
            ("spec.description", "spec.name"),
            ("spec.type", "spec.features"),
            ("spec.aws.account", "spec.identifier"),
            ("spec.aws.defaultRegion", "spec.defaultRegion"),
            ("spec.azure.subscription", "spec.identifier"),
            ("spec.azure", "spec.identifier"),
            ("spec.gcp.project", "spec.identifier"),
            ("spec.cloudIdentityRef", "spec.identityCred"),
            ("spec.permissions", "spec.roles"),
        ],
        _ => &[],
    };
    pairs
        .iter()
        .filter_map(|(from, to)| Some((FieldPath::parse(from)?, FieldPath::parse(to)?)))
        .collect()
}

/// A served legacy object as the one current object it is. A legacy object that becomes
/// several (a cloud access with several features) is refused, saying how to migrate it.
pub fn to_current(value: &Value) -> Result<Object, Vec<LegacyError>> {
    let mut m = migrate(value)?;
    if m.objects.len() == 1 {
        return Ok(m.objects.remove(0));
    }
    Err(vec![err(
        FieldPath::root(),
        format!(
            "becomes {} objects in {} ({}); migrate it with `{MIGRATE_COMMAND}` and apply those",
            m.objects.len(),
            m.legacy.current.version,
            m.objects
                .iter()
                .map(Object::display_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )])
}

/// A current object as its served legacy version would show it (the answer to a `GET` at
/// that version): fields with a counterpart converted back, carried fields restored, and
/// current fields with no legacy counterpart carried in [`CARRIED_ANNOTATION`]. `None` when
/// `legacy` is not served or is not this object's kind.
pub fn to_legacy(legacy: &LegacyKind, object: &Object) -> Option<Value> {
    if legacy.handling != Handling::Served || object.kind_info() != legacy.current {
        return None;
    }
    let mut json = object.to_json();
    let carried = take_carried(&mut json);
    let spec = json.get("spec").cloned().unwrap_or(Value::Null);
    let namespace = object.metadata().namespace.clone();
    let (mut spec, extra) = match object {
        Object::CloudAccessConfig(_) => cloudaccess::access_to_legacy(spec, namespace.as_deref()),
        Object::CloudIdentity(_) => cloudaccess::identity_to_legacy(spec),
        Object::Repository(_) => repository::to_legacy(spec),
        _ => return None,
    };
    for (path, v) in carried {
        put(&mut spec, &path, v);
    }
    json["apiVersion"] = Value::String(legacy.api_version());
    json["spec"] = spec;
    if !extra.is_empty() {
        let text = serde_json::to_string(&extra).unwrap_or_default();
        json["metadata"]["annotations"][CARRIED_ANNOTATION] = Value::String(text);
    }
    Some(json)
}

/// Whether `object` was produced by the migration of legacy object `Kind/name` (it carries
/// [`PRODUCED_BY_ANNOTATION`] naming it).
pub fn produced_by(object: &Object, legacy: &LegacyKind, name: &str) -> bool {
    object
        .metadata()
        .annotations
        .as_ref()
        .and_then(|a| a.get(PRODUCED_BY_ANNOTATION))
        .is_some_and(|v| *v == format!("{}/{name}", legacy.current.kind))
}

/// The objects, besides `object` itself, that its legacy version is read from (`kind`,
/// name): for a ClusterPlan, the ComputeTemplate its `choices.computeTemplates.default`
/// names, whose node pools were the v2beta1 plan's `template.nodePools`.
pub fn joined_with(legacy: &LegacyKind, object: &Object) -> Vec<(&'static KindInfo, String)> {
    match (legacy.current.kind, object) {
        ("ClusterPlan", Object::ClusterPlan(p)) => p
            .spec
            .choices
            .as_ref()
            .and_then(|c| c.compute_templates.as_ref())
            .and_then(|t| t.default.clone())
            .map(|name| vec![(&kinds::COMPUTE_TEMPLATE, name)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A current object as its legacy version shows it, joined with the objects
/// [`joined_with`] names (those found): the answer to a `GET` at a legacy version that is
/// several current objects (a v2beta1 ClusterPlan is a plan and its ComputeTemplate).
/// Fields with a counterpart are converted back and carried fields restored, so a legacy
/// document migrated and read back is what it was (but for values the migration chose, such
/// as a Kubernetes version when there was none). For a served kind it is [`to_legacy`];
/// `None` when `legacy` is not this object's kind or has no such conversion.
pub fn to_legacy_joined(legacy: &LegacyKind, object: &Object, joined: &[Object]) -> Option<Value> {
    if object.kind_info() != legacy.current {
        return None;
    }
    let Object::ClusterPlan(_) = object else {
        return to_legacy(legacy, object);
    };
    let wanted = joined_with(legacy, object);
    let template = joined.iter().find(|o| {
        wanted
            .iter()
            .any(|(k, n)| o.kind_info() == *k && o.metadata().name == *n)
    });
    let pools = template
        .map(|t| t.spec_json())
        .and_then(|s| s.get("nodePools").cloned());
    let mut json = object.to_json();
    let carried = take_carried(&mut json);
    let mut spec = plan::to_legacy(json.get("spec").unwrap_or(&Value::Null), pools.as_ref());
    for (path, v) in carried {
        put(&mut spec, &path, v);
    }
    json["apiVersion"] = Value::String(legacy.api_version());
    json["spec"] = spec;
    Some(json)
}

/// A legacy document of a YAML stream and what it became.
#[derive(Debug, Clone, PartialEq)]
pub struct Migrated {
    /// Zero-based index of the document in its stream.
    pub index: usize,
    /// What it became.
    pub migration: Migration,
    /// Where the legacy document's fields are in the source text.
    pub spans: crate::span::SpanIndex,
}

/// The documents, legacy ones migrated, and the problems of a YAML stream.
pub type MigratedStream = (
    Vec<crate::parse::Document>,
    Vec<Migrated>,
    Vec<crate::error::ParseError>,
);

/// [`crate::parse::read_yaml_documents`], migrating legacy documents to the current objects
/// they become ([`migrate`]); their errors are located (line, column) like any other's.
pub fn read_yaml_documents_migrating(source_name: &str, text: &str) -> MigratedStream {
    let convert = |value: &Value| {
        let text = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default();
        by_api_version_kind(text("apiVersion"), text("kind"))?;
        Some(migrate(value).map_err(|es| es.into_iter().map(|e| (e.path, e.message)).collect()))
    };
    let (docs, migrated, errors) = crate::parse::read_stream(source_name, text, &convert);
    let migrated = migrated
        .into_iter()
        .map(|(index, migration, spans)| Migrated {
            index,
            migration,
            spans,
        })
        .collect();
    (docs, migrated, errors)
}

/// What the server says to a legacy object sent where it is not converted (the body of a
/// request at the current version's path): how it is handled. `None` when `apiVersion` and
/// `kind` name no legacy version.
pub fn misplaced(api_version: &str, kind: &str) -> Option<String> {
    let legacy = by_api_version_kind(api_version, kind)?;
    Some(legacy.refusal().unwrap_or_else(|| {
        format!(
            "{} is a legacy version, converted where it is served: send it to /resources/{}/{}/… or write it at {}",
            legacy.describe(),
            legacy.current.group,
            legacy.version,
            legacy.current.api_version()
        )
    }))
}

// ---------------------------------------------------------------------------------------------
// Helpers the kinds' conversions share

fn err(path: FieldPath, message: impl Into<String>) -> LegacyError {
    LegacyError {
        path,
        message: message.into(),
    }
}

/// Reads `value` as `T`, an error at the offending field (under `at`) when it does not fit.
fn typed<T: DeserializeOwned>(value: Value, at: &FieldPath) -> Result<T, LegacyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let mut path = at.clone();
        if inner != "."
            && let Some(p) = FieldPath::parse(&inner)
        {
            path.0.extend(p.0);
        }
        err(path, e.into_inner().to_string())
    })
}

/// Removes and returns the carried fields of an object's JSON (its annotation), by path.
fn take_carried(json: &mut Value) -> BTreeMap<String, Value> {
    let Some(ann) = json
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return BTreeMap::new();
    };
    let text = ann.remove(CARRIED_ANNOTATION);
    if ann.is_empty()
        && let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("annotations");
    }
    text.and_then(|t| t.as_str().and_then(|t| serde_json::from_str(t).ok()))
        .unwrap_or_default()
}

/// Sets the value at a dotted path below `spec` (`spec.secretRef` → `secretRef`), creating
/// objects on the way; a number indexes an existing list (`template.nodePools.0.spot.aks`),
/// and the value is dropped when that list or element is not there.
fn put(spec: &mut Value, path: &str, v: Value) {
    let mut at = spec;
    let parts: Vec<&str> = path
        .strip_prefix("spec.")
        .unwrap_or(path)
        .split('.')
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let len = at.as_array().map_or(0, Vec::len);
        if let Ok(index) = part.parse::<usize>()
            && index < len
        {
            if i + 1 == parts.len() {
                at[index] = v;
                return;
            }
            at = &mut at[index];
            continue;
        }
        if part.parse::<usize>().is_ok() {
            // An element of a list that is not there (a plan read without its template).
            return;
        }
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_string(), v);
            return;
        }
        if !map.contains_key(*part) && parts[i + 1].parse::<usize>().is_ok() {
            // An element of a list that is not there (a plan read without its template).
            return;
        }
        at = map
            .entry((*part).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Carried fields: what has no counterpart, by legacy path, and the annotation that holds it
/// (with the legacy spelling of values that have one, [`Carried::keep`]).
#[derive(Debug, Default)]
struct Carried(BTreeMap<String, Value>, std::collections::BTreeSet<String>);

impl Carried {
    /// Carries `value` (when present and not null) under `path`.
    fn carry(&mut self, path: &str, value: Option<Value>) {
        if let Some(v) = value.filter(|v| !v.is_null()) {
            self.0.insert(path.to_string(), v);
        }
    }

    /// Keeps the legacy spelling of a field that has a counterpart but would read back
    /// spelled otherwise; restored on the way back, not reported as without a counterpart.
    fn keep(&mut self, path: &str, value: Value) {
        self.0.insert(path.to_string(), value);
        self.1.insert(path.to_string());
    }

    /// The carried fields with no counterpart, by legacy path.
    fn paths(&self) -> Vec<String> {
        self.0
            .keys()
            .filter(|k| !self.1.contains(*k))
            .cloned()
            .collect()
    }

    /// `metadata` with the annotation added (when anything is carried).
    fn annotate(&self, mut metadata: ObjectMeta) -> ObjectMeta {
        if !self.0.is_empty() {
            let text = serde_json::to_string(&self.0).unwrap_or_default();
            metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(CARRIED_ANNOTATION.to_string(), text);
        }
        metadata
    }
}

/// `metadata` as a definition carries it: what the server sets removed.
fn definition_meta(m: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        labels: m.labels.clone(),
        annotations: m.annotations.clone(),
        ..ObjectMeta::default()
    }
}

/// Takes field `k` out of a JSON object.
fn take(map: &mut Map<String, Value>, k: &str) -> Option<Value> {
    map.remove(k).filter(|v| !v.is_null())
}
