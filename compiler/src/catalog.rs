//! The definitions as a catalog: indexed by kind, workspace, name and version, their
//! references to one another resolved, and the catalog module (`OUT/catalog/`) that
//! publishes them — one resource per definition, wired together by resource references so
//! Terraform orders them, with variables for what differs between environments.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use wayfinder_model::common::cloud_for_provider;
use wayfinder_model::kinds::{self, KindInfo, Object, Occurrence, REFERENCES, Scope};
use wayfinder_model::org::ADMIN_WORKSPACE;
use wayfinder_model::shape::{self, FieldType};
use wayfinder_model::versioned::{PublishState, compare_versions, publish_state};
use wayfinder_model::{FieldPath, PathSegment, naming};

use crate::definition::Definition;
use crate::diagnostic::Diagnostic;
use crate::hcl::{Block, Body, Expr, ObjectKey};
use crate::module::{self, Output, Readme, Variable};
use crate::shapes::{self, Dynamics, Links};

/// The kinds the compiler takes, by name: the model's catalog ([`kinds::CATALOG`]), the
/// kinds an administrator publishes.
pub const CATALOG_KINDS: &[&str] = &CATALOG_NAMES;

const CATALOG_NAMES: [&str; kinds::CATALOG.len()] = {
    let mut names = [""; kinds::CATALOG.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = kinds::CATALOG[i].kind;
        i += 1;
    }
    names
};

/// One definition in the catalog.
#[derive(Debug)]
pub struct Entry<'a> {
    pub def: &'a Definition,
    pub info: &'static KindInfo,
    /// The workspace of a workspaced kind: from `metadata.namespace` (`ws-KEY`), else `admin`.
    pub workspace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    /// The resource label, unique per resource type.
    pub label: String,
}

impl Entry<'_> {
    pub fn resource_type(&self) -> String {
        naming::resource_type(self.info.kind)
    }

    /// `wayfinder_cluster_plan.eks_general_purpose_1_3_0`.
    pub fn address(&self) -> String {
        format!("{}.{}", self.resource_type(), self.label)
    }

    /// `name`, or `name@version` for a versioned kind: the key of outputs and variables.
    pub fn key(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }

    pub fn display(&self) -> String {
        format!("{}/{}", self.info.kind, self.key())
    }

    pub fn spec(&self) -> Value {
        self.def.object.spec_json()
    }
}

/// A look-up of an object the definitions do not hold, by a data source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lookup {
    pub kind: &'static str,
    pub name: String,
    /// The version of a versioned kind, when the reference pins one; else the latest
    /// published version is read.
    pub version: Option<String>,
    /// The workspace of a workspaced kind: `admin`, where the platform's objects live.
    pub workspace: Option<String>,
    pub label: String,
}

impl Lookup {
    pub fn address(&self) -> String {
        format!("data.{}.{}", naming::resource_type(self.kind), self.label)
    }
}

/// The definitions, indexed, with their references resolved.
#[derive(Debug)]
pub struct Catalog<'a> {
    /// In the model's kind order, then by name, version (oldest first) and workspace.
    pub entries: Vec<Entry<'a>>,
    /// Per entry: the expressions that replace names with references.
    pub links: Vec<Links>,
    /// Objects looked up with data sources.
    pub lookups: BTreeSet<Lookup>,
    /// Entry indexes by kind and name.
    by_name: BTreeMap<(&'static str, String), Vec<usize>>,
}

/// The resource label for an object name: `eks-general` → `eks_general`; a name starting
/// with a digit gets a `t_` prefix (`1a` → `t_1a`), as labels must start with a letter.
pub fn resource_label(name: &str) -> String {
    let label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if label.starts_with(|c: char| c.is_ascii_digit()) || label.is_empty() {
        format!("t_{label}")
    } else {
        label
    }
}

fn workspace_of(info: &KindInfo, object: &Object) -> Option<String> {
    match info.scope {
        Scope::Platform => None,
        Scope::Workspace => Some(
            object
                .metadata()
                .namespace
                .as_deref()
                .and_then(|ns| ns.strip_prefix("ws-"))
                .unwrap_or(ADMIN_WORKSPACE)
                .to_string(),
        ),
    }
}

impl<'a> Catalog<'a> {
    /// Indexes valid definitions (of [`CATALOG_KINDS`], unique per kind, workspace, name
    /// and version) and resolves their references; returns every problem with a reference,
    /// and a notice for each one looked up on the server instead.
    pub fn build(definitions: &'a [Definition]) -> (Catalog<'a>, Vec<Diagnostic>) {
        let mut entries: Vec<Entry<'a>> = definitions
            .iter()
            .map(|d| {
                let info = d.object.kind_info();
                Entry {
                    def: d,
                    info,
                    workspace: workspace_of(info, &d.object),
                    name: d.object.metadata().name.clone(),
                    version: info
                        .versioned
                        .then(|| d.object.version().unwrap_or_default().to_string()),
                    label: String::new(),
                }
            })
            .collect();
        let order = |e: &Entry| kinds::ALL.iter().position(|k| k.kind == e.info.kind);
        entries.sort_by(|a, b| {
            order(a)
                .cmp(&order(b))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| {
                    compare_versions(
                        a.version.as_deref().unwrap_or(""),
                        b.version.as_deref().unwrap_or(""),
                    )
                })
                .then_with(|| a.workspace.cmp(&b.workspace))
        });
        // Labels: from the name (and version), unique per resource type; a workspace other
        // than admin is named too.
        let mut used: BTreeSet<(String, String)> = BTreeSet::new();
        for e in &mut entries {
            let mut base = e.name.clone();
            if let Some(ws) = e.workspace.as_deref().filter(|w| *w != ADMIN_WORKSPACE) {
                base = format!("{ws}_{base}");
            }
            if let Some(v) = &e.version {
                base = format!("{base}_{v}");
            }
            let base = resource_label(&base);
            let rtype = e.resource_type();
            let mut label = base.clone();
            let mut n = 1;
            while used.contains(&(rtype.clone(), label.clone())) {
                n += 1;
                label = format!("{base}_{n}");
            }
            used.insert((rtype, label.clone()));
            e.label = label;
        }
        let mut by_name: BTreeMap<(&'static str, String), Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_name
                .entry((e.info.kind, e.name.clone()))
                .or_default()
                .push(i);
        }
        let mut catalog = Catalog {
            links: vec![Links::new(); entries.len()],
            entries,
            lookups: BTreeSet::new(),
            by_name,
        };
        let problems = catalog.resolve();
        (catalog, problems)
    }

    /// The entries of a kind.
    pub fn of_kind<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s Entry<'a>> + 's {
        self.entries.iter().filter(move |e| e.info.kind == kind)
    }

    /// The entry of `kind` named `name` at `version` (any version, the latest, when
    /// `None`). Workspaced kinds are searched in every workspace, `admin` first.
    pub fn find(&self, kind: &str, name: &str, version: Option<&str>) -> Option<usize> {
        let kind = kinds::ALL.iter().find(|k| k.kind == kind)?.kind;
        let named = self.by_name.get(&(kind, name.to_string()))?;
        let mut candidates: Vec<usize> = named
            .iter()
            .copied()
            .filter(|i| version.is_none_or(|v| self.entries[*i].version.as_deref() == Some(v)))
            .collect();
        candidates.sort_by(|a, b| {
            let (a, b) = (&self.entries[*a], &self.entries[*b]);
            (b.workspace.as_deref() == Some(ADMIN_WORKSPACE))
                .cmp(&(a.workspace.as_deref() == Some(ADMIN_WORKSPACE)))
                .then_with(|| {
                    compare_versions(
                        b.version.as_deref().unwrap_or(""),
                        a.version.as_deref().unwrap_or(""),
                    )
                })
        });
        candidates.first().copied()
    }

    fn resolve(&mut self) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        let mut lookups: BTreeSet<Lookup> = BTreeSet::new();
        for i in 0..self.entries.len() {
            let kind = self.entries[i].info.kind;
            let spec = self.entries[i].spec();
            for r in REFERENCES.iter().filter(|r| r.from.kind == kind) {
                let to = r.to.kind;
                for Occurrence {
                    path,
                    name,
                    version,
                } in r.occurrences(&spec)
                {
                    let field = FieldPath::root().field("spec");
                    let field = path.segments().iter().fold(field, |p, s| match s {
                        PathSegment::Field(f) => p.field(f),
                        PathSegment::Index(n) => p.index(*n),
                    });
                    let target = self.find(to, &name, version.as_deref());
                    let expr = match target {
                        Some(t) => {
                            let e = &self.entries[t];
                            Some((e.address(), t))
                        }
                        None => None,
                    };
                    match expr {
                        Some((address, t)) => {
                            self.links[i]
                                .insert(field.to_string(), Expr::raw(format!("{address}.name")));
                            if let Some(vf) = r.version {
                                let mut vp = field.clone();
                                vp.0.pop();
                                self.links[i].insert(
                                    vp.field(vf).to_string(),
                                    Expr::raw(format!("{address}.version")),
                                );
                            }
                            problems.extend(self.check_target(i, t, &field));
                        }
                        None if r.lookup => {
                            let lookup = Lookup {
                                kind: to,
                                label: resource_label(&match &version {
                                    Some(v) => format!("{name}_{v}"),
                                    None => name.clone(),
                                }),
                                name: name.clone(),
                                version: version.clone(),
                                workspace: (r.to.scope == Scope::Workspace)
                                    .then(|| ADMIN_WORKSPACE.to_string()),
                            };
                            self.links[i].insert(
                                field.to_string(),
                                Expr::raw(format!("{}.name", lookup.address())),
                            );
                            if let (Some(vf), Some(_)) = (r.version, &version) {
                                let mut vp = field.clone();
                                vp.0.pop();
                                self.links[i].insert(
                                    vp.field(vf).to_string(),
                                    Expr::raw(format!("{}.version", lookup.address())),
                                );
                            }
                            let what = match (&version, &lookup.workspace) {
                                (Some(v), _) => format!("{} {name:?} version {v}", r.what),
                                (None, Some(ws)) => {
                                    format!("{} {name:?} (in workspace {ws})", r.what)
                                }
                                (None, None) => format!("{} {name:?}", r.what),
                            };
                            let seen = lookups.contains(&lookup);
                            // Said once per object looked up, at its first reference.
                            if !seen {
                                problems.push(
                                    self.at(i, &field, format!(
                                        "{what} is not among the definitions: it will be looked up on the server ({}), where it must exist before the module is applied",
                                        lookup.address()
                                    ))
                                    .warning(),
                                );
                            }
                            lookups.insert(lookup);
                        }
                        None => {
                            let wanted = match &version {
                                Some(v) => format!("{} {name} version {v}", r.what),
                                None => format!("{} {name:?}", r.what),
                            };
                            let have: Vec<String> = self
                                .of_kind(to)
                                .filter(|e| version.is_none() || e.name == name)
                                .map(Entry::key)
                                .collect();
                            let have = match (&version, have.is_empty()) {
                                (Some(_), true) => {
                                    format!("the input has no {} {name} at all", to)
                                }
                                (Some(_), false) => {
                                    format!("the input has {}", have.join(", "))
                                }
                                (None, true) => format!("the input has no {}", to),
                                (None, false) => format!("the input has {}", have.join(", ")),
                            };
                            problems.push(self.at(
                                i,
                                &field,
                                format!(
                                    "{wanted} is not among the definitions, and the module cannot look {}s up on the server (the provider has no data source for them): add its {} definition to the input; {have}",
                                    r.what,
                                    to,
                                ),
                            ));
                        }
                    }
                }
            }
        }
        self.lookups = lookups;
        problems
    }

    /// A diagnostic at `field` of entry `i`.
    pub fn at(&self, i: usize, field: &FieldPath, message: String) -> Diagnostic {
        let e = &self.entries[i];
        Diagnostic::at_field(&e.def.file, e.def.document, &e.def.spans, field, message)
            .object(e.def.object.display_name())
    }

    /// Checks that a reference's target fits: a plan's network plan and compute templates are
    /// of its cloud, and its packages' dependencies are pinned too.
    fn check_target(&self, i: usize, t: usize, field: &FieldPath) -> Vec<Diagnostic> {
        let (from, to) = (&self.entries[i], &self.entries[t]);
        let mut out = Vec::new();
        match (&from.def.object, &to.def.object) {
            (Object::ClusterPlan(plan), Object::ClusterNetworkPlan(np)) => {
                let want = cloud_for_provider(&plan.spec.provider);
                let got = np.spec.template.as_ref().map(|t| t.provider.as_str());
                if let (Some(want), Some(got)) = (want, got)
                    && want != got
                {
                    out.push(self.at(
                        i,
                        field,
                        format!(
                            "network plan {} is for {got}; a {} plan needs one for {want}",
                            to.name, plan.spec.provider
                        ),
                    ));
                }
            }
            (Object::ClusterPlan(plan), Object::ComputeTemplate(t))
                if t.spec.provider != plan.spec.provider =>
            {
                out.push(self.at(
                    i,
                    field,
                    format!(
                        "compute template {} is for {}; the plan's provider is {}: choose {} templates",
                        to.name, t.spec.provider, plan.spec.provider, plan.spec.provider
                    ),
                ));
            }
            (Object::ClusterPlan(plan), Object::Package(pkg)) => {
                let pinned: Vec<&str> = plan
                    .spec
                    .packages()
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                for d in pkg.spec.dependencies.iter().flatten() {
                    if !pinned.contains(&d.as_str()) {
                        out.push(self.at(i, field, format!(
                            "package {} {} depends on {d}, which the plan does not pin: pin {d} too",
                            to.name,
                            to.version.as_deref().unwrap_or_default()
                        )));
                    }
                }
            }
            _ => {}
        }
        out
    }
}

/// The catalog module's files, by path under `catalog/`.
pub fn emit(
    catalog: &Catalog,
    generated_from: &[String],
    provider_version: &str,
) -> Vec<(String, String)> {
    let header = module::header(generated_from);
    let mut variables: Vec<Variable> = Vec::new();
    let mut locals = Body::new();
    let mut main = Body::new();
    let mut outputs: Vec<Output> = Vec::new();

    for lookup in &catalog.lookups {
        let mut b = Body::new();
        if let Some(ws) = &lookup.workspace {
            b.attribute("workspace", Expr::string(ws));
        }
        b.attribute("name", Expr::string(&lookup.name));
        if let Some(v) = &lookup.version {
            b.attribute("version", Expr::string(v));
        }
        main.comment(
            "Not among the definitions: looked up on the server, where it must already exist.",
        );
        main.block(Block::new(
            "data",
            &[&naming::resource_type(lookup.kind), &lookup.label],
            b,
        ));
    }

    for info in kinds::ALL {
        let entries: Vec<(usize, &Entry)> = catalog
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.info.kind == info.kind)
            .collect();
        if entries.is_empty() {
            continue;
        }
        let words = naming::snake_case(info.kind);
        let human = words.replace('_', " ");
        // Publish state of versioned kinds, per version.
        if info.versioned {
            let keys: Vec<String> = entries.iter().map(|(_, e)| e.key()).collect();
            variables.push(publish_states_variable(&words, &human, &keys, &entries));
        }
        // Scopes of kinds that have one, per name.
        let scoped = shape::find(info.spec, "scope").and_then(|f| match f.ty {
            FieldType::Object(inner) => Some(inner),
            _ => None,
        });
        if let Some(scope_fields) = scoped {
            let mut names: Vec<&str> = entries.iter().map(|(_, e)| e.name.as_str()).collect();
            names.dedup();
            variables.push(scopes_variable(&words, &human, &names, scope_fields));
            // Each definition's scope (each version's, for a versioned kind), unless the
            // variable names the object.
            let scopes: Vec<(ObjectKey, Expr)> = entries
                .iter()
                .map(|(_, e)| {
                    let scope = e.spec().get("scope").cloned().unwrap_or(Value::Null);
                    let prefix = format!(
                        "lookup(var.{words}_scopes, {}, ",
                        crate::hcl::quote(&e.name)
                    );
                    let value = match scope {
                        Value::Object(map) => {
                            let Expr::Object(mut items) = shapes::object_value(scope_fields, &map)
                            else {
                                unreachable!("object_value gives objects")
                            };
                            // Every attribute, so that the dynamic block can read each one.
                            let mut full = Vec::new();
                            for f in scope_fields.iter() {
                                let k = naming::nested_attribute(f.name);
                                let pos = items
                                    .iter()
                                    .position(|(key, _)| *key == ObjectKey::Attribute(k.clone()));
                                full.push(match pos {
                                    Some(p) => items.remove(p),
                                    None => (ObjectKey::Attribute(k), Expr::Null),
                                });
                            }
                            Expr::Wrapped {
                                prefix,
                                items: full,
                                suffix: ")".into(),
                            }
                        }
                        _ => Expr::raw(format!("{prefix}null)")),
                    };
                    (ObjectKey::Map(e.key()), value)
                })
                .collect();
            locals.attribute(format!("{words}_scopes"), Expr::Object(scopes));
        }
        for (i, e) in &entries {
            main.block(resource(catalog, *i, e, &words, scoped.is_some()));
        }
        outputs.push(Output::new(
            &format!("{words}_ids"),
            format!(
                "The ID of each {human}, by name{}.",
                if info.versioned {
                    " and version (`name@version`)"
                } else {
                    ""
                }
            ),
            Expr::Object(
                entries
                    .iter()
                    .map(|(_, e)| {
                        (
                            ObjectKey::Map(e.key()),
                            Expr::Traversal(vec![e.resource_type(), e.label.clone(), "id".into()]),
                        )
                    })
                    .collect(),
            ),
        ));
    }

    let mut files = Vec::new();
    files.push((
        "versions.tf".to_string(),
        module::versions_tf(
            &header,
            CATALOG_TERRAFORM,
            "Terraform 1.7 or later: the module's tests (tests/) use mock_provider.",
            provider_version,
        ),
    ));
    files.push((
        "variables.tf".to_string(),
        module::tf_file(&header, variables.iter().map(Variable::block)),
    ));
    let mut main_file = Body::new();
    if !locals.is_empty() {
        main_file.block(Block::new("locals", &[], locals));
    }
    main_file.items.extend(main.items);
    files.push((
        "main.tf".to_string(),
        crate::hcl::File::new(main_file)
            .with_header(&header)
            .render(),
    ));
    files.push((
        "outputs.tf".to_string(),
        module::tf_file(&header, outputs.iter().map(Output::block)),
    ));
    files.push((
        "README.md".to_string(),
        Readme {
            title: "Wayfinder catalog",
            generated_from,
            intro: &catalog_intro(catalog),
            usage: CATALOG_USAGE,
            variables: &variables,
            outputs: &outputs,
            notes: &catalog_notes(catalog),
        }
        .render(),
    ));
    files.push((
        "tests/catalog.tftest.hcl".to_string(),
        catalog_tests(&header, catalog, &variables),
    ));
    files
}

/// `required_version` of the catalog module.
pub const CATALOG_TERRAFORM: &str = ">= 1.7.0";

const CATALOG_USAGE: &str = r#"module "catalog" {
  source = "./catalog"

  # Publish a draft only where it is being tried out, e.g.:
  # cluster_plan_publish_states = { "eks-general-purpose@1.4.0" = "Published" }
}
"#;

fn catalog_intro(catalog: &Catalog) -> String {
    let mut counts: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    for e in &catalog.entries {
        let pos = kinds::ALL
            .iter()
            .position(|k| k.kind == e.info.kind)
            .unwrap_or(0);
        counts
            .entry(pos)
            .or_insert_with(|| (e.info.kind.to_string(), 0))
            .1 += 1;
    }
    let list: Vec<String> = counts.values().map(|(k, n)| format!("{n} {k}")).collect();
    format!(
        "The administrator's side of the platform: one resource per definition ({}), wired together by resource references so that Terraform creates them in order (a plan after its network plan, templates and packages) and destroys them in reverse. Apply it with an administrator's token.\n\nWhat differs between environments (the publish state of each version, the scope of plans and policies) is an input; everything else is the definitions.",
        list.join(", ")
    )
}

fn catalog_notes(catalog: &Catalog) -> String {
    if catalog.lookups.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "## Looked up on the server\n\nThese are referred to but not among the definitions; the module reads them with data sources, so they must exist before it is applied:\n\n",
    );
    for l in &catalog.lookups {
        let version = l
            .version
            .as_deref()
            .map(|v| format!(" version {v}"))
            .unwrap_or_default();
        let workspace = l
            .workspace
            .as_deref()
            .map(|w| format!(" in workspace `{w}`"))
            .unwrap_or_default();
        out.push_str(&format!(
            "- {} `{}`{version}{workspace} (`{}`)\n",
            l.kind,
            l.name,
            l.address()
        ));
    }
    out
}

fn publish_states_variable(
    words: &str,
    human: &str,
    keys: &[String],
    entries: &[(usize, &Entry)],
) -> Variable {
    let defaults: Vec<String> = entries
        .iter()
        .map(|(_, e)| {
            let state = publish_state(e.def.object.metadata()).unwrap_or(PublishState::Published);
            format!("`{}`: {state}", e.key())
        })
        .collect();
    let states: Vec<&str> = PublishState::ALL.iter().map(|s| s.as_str()).collect();
    Variable::new(
        &format!("{words}_publish_states"),
        format!(
            "The publish state of each {human} version, by `name@version`: Draft, Published or Deprecated. Versions not named keep the state their definition gives ({}).",
            defaults.join(", ")
        ),
        Expr::raw("map(string)"),
    )
    .default(Expr::Object(Vec::new()))
    .validate(
        format!(
            "alltrue([for state in values(var.{words}_publish_states) : contains({}, state)])",
            string_list(&states)
        ),
        format!("Each publish state must be one of {}.", states.join(", ")),
    )
    .validate(
        format!(
            "alltrue([for key in keys(var.{words}_publish_states) : contains({}, key)])",
            string_list(keys)
        ),
        format!(
            "Name {human} versions as name@version; this catalog has {}.",
            keys.join(", ")
        ),
    )
}

fn scopes_variable(
    words: &str,
    human: &str,
    names: &[&str],
    fields: &'static [wayfinder_model::shape::Field],
) -> Variable {
    Variable::new(
        &format!("{words}_scopes"),
        format!(
            "The workspaces and stages each {human} applies to, by name, replacing the scope its definition gives. Without `allowed_workspaces` (or with `all_workspaces = true`) it applies to every workspace; likewise for stages."
        ),
        Expr::Wrapped {
            prefix: "map(object(".into(),
            items: shapes::object_type_items(fields),
            suffix: "))".into(),
        },
    )
    .default(Expr::Object(Vec::new()))
    .validate(
        format!(
            "alltrue([for name in keys(var.{words}_scopes) : contains({}, name)])",
            string_list(names)
        ),
        format!("Name {human}s of this catalog: {}.", names.join(", ")),
    )
}

/// `["a", "b"]`.
pub fn string_list<S: AsRef<str>>(items: &[S]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| crate::hcl::quote(s.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The resource for one entry.
fn resource(catalog: &Catalog, i: usize, e: &Entry, words: &str, scoped: bool) -> Block {
    let mut body = Body::new();
    body.attribute("name", Expr::string(&e.name));
    if let Some(ws) = &e.workspace {
        body.attribute("workspace", Expr::string(ws));
    }
    if e.version.is_some() {
        body.attribute(
            PUBLISH_STATE_ATTRIBUTE,
            Expr::raw(format!(
                "lookup(var.{words}_publish_states, {}, {})",
                crate::hcl::quote(&e.key()),
                crate::hcl::quote(
                    publish_state(e.def.object.metadata())
                        .unwrap_or(PublishState::Published)
                        .as_str()
                )
            )),
        );
    }
    // Annotations other than the publish state (which `publish_state` writes): a display
    // name, the legacy fields a migration carries (`legacy.appvia.io/v2beta1`).
    let annotations: Vec<(ObjectKey, Expr)> = e
        .def
        .object
        .metadata()
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| {
            !(e.info.versioned
                && [
                    wayfinder_model::versioned::PUBLISHED_ANNOTATION,
                    wayfinder_model::versioned::PUBLISH_STATE_ANNOTATION,
                ]
                .contains(&k.as_str()))
        })
        .map(|(k, v)| (ObjectKey::Map(k.clone()), Expr::string(v)))
        .collect();
    if !annotations.is_empty() {
        body.attribute("annotations", Expr::Object(annotations));
    }
    // Labels (`metadata.labels`), but those the server owns on the kind (the model's
    // `server_labels`): the provider's `labels` attribute.
    let owned = e.info.server_labels();
    let labels: Vec<(ObjectKey, Expr)> = e
        .def
        .object
        .metadata()
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !owned.contains(&k.as_str()))
        .map(|(k, v)| (ObjectKey::Map(k.clone()), Expr::string(v)))
        .collect();
    if !labels.is_empty() {
        body.attribute("labels", Expr::Object(labels));
    }
    let mut dynamics = Dynamics::new();
    if scoped
        && let Some(f) = shape::find(e.info.spec, "scope")
        && let FieldType::Object(inner) = f.ty
    {
        let value = format!("local.{words}_scopes[{}]", crate::hcl::quote(&e.key()));
        dynamics.insert(
            "spec.scope".to_string(),
            shapes::dynamic_block("scope", &format!("{value} == null ? [] : [{value}]"), inner),
        );
    }
    if let Value::Object(spec) = e.spec() {
        shapes::append_fields(
            &mut body,
            e.info.spec,
            &spec,
            &FieldPath::root().field("spec"),
            true,
            &catalog.links[i],
            &dynamics,
        );
    }
    Block::new("resource", &[&e.resource_type(), &e.label], body)
}

/// The attribute holding a versioned object's publish state.
pub const PUBLISH_STATE_ATTRIBUTE: &str = "publish_state";

/// `tests/catalog.tftest.hcl`: a plan with the definitions as they are, checking each
/// resource's name, and a run per validation with a value it refuses.
fn catalog_tests(header: &str, catalog: &Catalog, variables: &[Variable]) -> String {
    let mut body = Body::new();
    body.comment("Plans only, against a mock of the provider: no server is needed.");
    body.block(Block::new("mock_provider", &["wayfinder"], Body::new()));
    let mut run = Body::new();
    run.attribute("command", Expr::raw("plan"));
    for e in &catalog.entries {
        let mut a = Body::new();
        a.attribute(
            "condition",
            Expr::raw(format!(
                "{}.name == {}",
                e.address(),
                crate::hcl::quote(&e.name)
            )),
        )
        .attribute(
            "error_message",
            Expr::string(format!("{} is not planned under its name.", e.display())),
        );
        run.block(Block::new("assert", &[], a));
    }
    body.block(Block::new("run", &["definitions_as_given"], run));
    for v in variables {
        let bad: Vec<(&str, Expr)> = if v.name.ends_with("_publish_states") {
            let key = catalog
                .entries
                .iter()
                .find(|e| v.name == format!("{}_publish_states", naming::snake_case(e.info.kind)))
                .map(Entry::key)
                .unwrap_or_default();
            vec![
                (
                    "unknown_state",
                    Expr::Object(vec![(ObjectKey::Map(key), Expr::string("Retired"))]),
                ),
                (
                    "unknown_version",
                    Expr::Object(vec![(
                        ObjectKey::Map("no-such-name@0.0.0".into()),
                        Expr::string("Published"),
                    )]),
                ),
            ]
        } else if v.name.ends_with("_scopes") {
            vec![(
                "unknown_name",
                Expr::Object(vec![(
                    ObjectKey::Map("no-such-name".into()),
                    Expr::Object(vec![(
                        ObjectKey::Attribute("all_workspaces".into()),
                        Expr::Bool(true),
                    )]),
                )]),
            )]
        } else {
            Vec::new()
        };
        for (what, value) in bad {
            let mut run = Body::new();
            run.attribute("command", Expr::raw("plan"));
            let mut vars = Body::new();
            vars.attribute(&v.name, value);
            run.block(Block::new("variables", &[], vars));
            run.attribute(
                "expect_failures",
                Expr::Tuple(vec![Expr::raw(format!("var.{}", v.name))]),
            );
            body.block(Block::new("run", &[&format!("{}_{what}", v.name)], run));
        }
    }
    crate::hcl::File::new(body).with_header(header).render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_from_a_catalog_kind_reaches_a_catalog_kind_the_compiler_can_link() {
        let from_catalog: Vec<_> = REFERENCES
            .iter()
            .filter(|r| kinds::CATALOG.contains(&r.from))
            .collect();
        assert!(!from_catalog.is_empty());
        for r in from_catalog {
            assert!(
                kinds::CATALOG.contains(&r.to),
                "{} {} refers to {}, which the compiler does not take",
                r.from.kind,
                r.path,
                r.to.kind
            );
            assert!(CATALOG_KINDS.contains(&r.to.kind));
        }
        assert_eq!(
            CATALOG_KINDS,
            kinds::CATALOG.iter().map(|k| k.kind).collect::<Vec<_>>()
        );
    }
}
