//! Legacy `v2beta1` definitions in the input: read through the model's migration
//! ([`wayfinder_model::legacy`]), so that a repository of v2beta1 ClusterPlans, Packages and
//! cloud access compiles like its v2beta2 equivalent — each migration said in a notice
//! (what the document became, what was carried in an annotation and how fields were
//! mapped) — and, with `--migrate`, written out as the v2beta2 definitions they become
//! ([`migrated_module`]).
//!
//! A legacy document that cannot be converted (an unknown field, a field with no
//! counterpart, an ambiguous conversion) is an error at its file, line and field path, like
//! any other invalid definition, and nothing is written.

use wayfinder_model::{Document, Migrated};

use crate::definition::{Module, Source};
use crate::diagnostic::Diagnostic;

/// Reads a source's documents, legacy ones migrated: the documents (a migrated document
/// gives one per object it became, located at the legacy document), the migrations, and the
/// problems and notices (one per migration).
pub fn read(source: &Source) -> (Vec<Document>, Vec<Migrated>, Vec<Diagnostic>) {
    let (mut docs, migrations, errors) =
        wayfinder_model::read_yaml_documents_migrating(&source.name, &source.text);
    let mut diagnostics: Vec<Diagnostic> =
        errors.iter().map(Diagnostic::from_parse_error).collect();
    for m in &migrations {
        diagnostics.push(notice(&source.name, m));
        for object in &m.migration.objects {
            docs.push(Document {
                index: m.index,
                object: object.clone(),
                spans: m
                    .spans
                    .clone()
                    .aliased(wayfinder_model::legacy::source_paths(
                        m.migration.legacy,
                        object,
                    )),
            });
        }
    }
    docs.sort_by_key(|d| d.index);
    (docs, migrations, diagnostics)
}

/// Whether `doc` is an object a legacy document gave besides the one of its own kind (the
/// Repository a v2beta1 Package's chart source became). Two legacy packages with the same
/// chart source each give the same Repository: identical derived objects are one object,
/// defined where first met ([`crate::compile::load`], [`migrated_module`]).
pub fn is_derived(migrations: &[Migrated], doc: &Document) -> bool {
    migrations.iter().any(|m| {
        m.index == doc.index && m.migration.objects.iter().skip(1).any(|o| o == &doc.object)
    })
}

/// The notice that says what a legacy document became.
fn notice(file: &str, m: &Migrated) -> Diagnostic {
    let legacy = &m.migration;
    Diagnostic::file(file, legacy.report())
        .object(format!("{}/{}", legacy.legacy.current.kind, legacy.name))
        .document(m.index)
        .located(
            m.spans
                .locate(&wayfinder_model::FieldPath::root().field("apiVersion")),
        )
        .notice()
}

/// The file a migrated document is written to: `KIND-NAME.yaml` (`clusterplan-eks-standard.yaml`).
pub fn file_name(m: &Migrated) -> String {
    format!(
        "{}-{}.yaml",
        m.migration.legacy.current.kind.to_ascii_lowercase(),
        m.migration.name
    )
}

/// What `--migrate` writes: a YAML file per legacy document (the report as comments, then
/// the v2beta2 objects it became) and the manifest of the files written (named `manifest`,
/// the compiler's manifest file), so that a later run removes only its own files. Problems (an invalid legacy document, an object it
/// becomes that the model refuses, two documents written to the same file) are all
/// returned, and then nothing is to be written.
pub fn migrated_module(
    sources: &[Source],
    manifest: &str,
) -> Result<(Module, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut module = Module::default();
    let mut problems = Vec::new();
    let mut notices = Vec::new();
    // Derived objects written so far, by kind and name: the object and its file.
    let mut derived: std::collections::BTreeMap<(&str, String), (wayfinder_model::Object, String)> =
        std::collections::BTreeMap::new();
    for source in sources {
        let (_, migrations, diagnostics) = read(source);
        for d in diagnostics {
            if d.is_error() {
                problems.push(d);
            } else {
                notices.push(d);
            }
        }
        for m in &migrations {
            // A derived object identical to one an earlier legacy document gave is written
            // there only; one that differs is an error naming both files.
            let mut migration = m.migration.clone();
            let mut reused = Vec::new();
            for o in m.migration.objects.iter().skip(1) {
                let key = (o.kind_info().kind, o.metadata().name.clone());
                match derived.get(&key) {
                    None => {
                        derived.insert(key, (o.clone(), source.name.clone()));
                    }
                    Some((first, file)) if first == o => {
                        migration.objects.retain(|x| x != o);
                        reused.push(format!(
                            "{} is identical to the one {file} gives, and written there only",
                            o.display_name()
                        ));
                    }
                    Some((_, file)) => problems.push(
                        Diagnostic::file(
                            &source.name,
                            format!(
                                "{} differs from the {} that {file} gives; a name must mean one object: make them the same or rename one",
                                o.display_name(),
                                o.display_name()
                            ),
                        )
                        .object(format!("{}/{}", m.migration.legacy.current.kind, m.migration.name))
                        .document(m.index),
                    ),
                }
            }
            migration.notes.extend(reused);
            for o in &m.migration.objects {
                if let Err(e) = o.validate() {
                    let spans = m
                        .spans
                        .clone()
                        .aliased(wayfinder_model::legacy::source_paths(m.migration.legacy, o));
                    problems.extend(Diagnostic::from_validation(
                        &source.name,
                        m.index,
                        &e,
                        &spans,
                    ));
                }
            }
            let name = file_name(m);
            if module.get(&name).is_some() {
                problems.push(
                    Diagnostic::file(
                        &source.name,
                        format!(
                            "{name} would be written twice: another legacy {} is also named {}; names must be unique per kind",
                            m.migration.legacy.current.kind, m.migration.name
                        ),
                    )
                    .document(m.index),
                );
            }
            module.insert(name, migration.to_yaml());
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if module.is_empty() {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        return Err(vec![Diagnostic::file(
            names.first().copied().unwrap_or("<input>"),
            format!(
                "no legacy definitions to migrate in {}; --migrate converts {}",
                names.join(", "),
                wayfinder_model::legacy::LEGACY
                    .iter()
                    .map(|l| l.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )]);
    }
    let mut listing = String::from(
        "# Written by wayfinder-compile --migrate: the v2beta2 definitions legacy v2beta1 ones became.\n# It removes the files below that it no longer writes, and no others.\n",
    );
    for (path, _) in module.files() {
        listing.push_str(path);
        listing.push('\n');
    }
    listing.push_str(manifest);
    listing.push('\n');
    module.insert(manifest, listing);
    Ok((module, notices))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "apiVersion: compute.appvia.io/v2beta1\nkind: ClusterPlan\nmetadata:\n  name: eks-old\nspec:\n  summary: Old plan\n  template:\n    provider: EKS\n    region: eu-west-2\n    version: \"1.30\"\n    networking:\n      networkPlan: eks-fixed\n    nodePools:\n    - logicalName: compute\n      machine: m5.large\n      size: 2\n";

    #[test]
    fn a_legacy_plan_reads_as_a_plan_and_a_compute_template_with_a_notice() {
        let (docs, migrations, diagnostics) = read(&Source::new("old.yaml", PLAN));
        let names: Vec<String> = docs.iter().map(|d| d.object.display_name()).collect();
        assert_eq!(names, ["ClusterPlan/eks-old", "ComputeTemplate/eks-old"]);
        assert_eq!(migrations.len(), 1);
        assert_eq!(diagnostics.len(), 1);
        assert!(!diagnostics[0].is_error());
        assert!(
            diagnostics[0]
                .to_string()
                .starts_with("old.yaml:1:1: ClusterPlan/eks-old: note: ClusterPlan/eks-old (compute.appvia.io/v2beta1) migrated to"),
            "{}",
            diagnostics[0]
        );
    }

    #[test]
    fn a_problem_with_a_migrated_field_is_located_at_the_legacy_fields_line() {
        let text = "apiVersion: cloudaccess.appvia.io/v2beta1\nkind: CloudAccessConfig\nmetadata:\n  name: aws-short\n  namespace: ws-admin\nspec:\n  cloud: aws\n  features:\n  - DNSZoneManagement\n  identityCred:\n    name: cloudidentity-aws\n  identifier: \"12345\"\n";
        let Err(problems) = migrated_module(&[Source::new("access.yaml", text)], "manifest") else {
            panic!("an account of five digits is refused");
        };
        let d = problems
            .iter()
            .find(|d| d.field.as_deref() == Some("spec.aws.account"))
            .unwrap_or_else(|| panic!("{problems:?}"));
        assert_eq!(d.line, Some(12), "{d}");
    }

    #[test]
    fn a_legacy_field_with_no_place_is_an_error_at_its_line() {
        let text = PLAN.replace(
            "    region: eu-west-2\n",
            "    region: eu-west-2\n    nodeCount: 3\n",
        );
        let (docs, _, diagnostics) = read(&Source::new("old.yaml", text));
        assert!(docs.is_empty());
        let d = &diagnostics[0];
        assert!(d.is_error());
        assert_eq!(d.line, Some(10), "{d}");
        assert_eq!(d.field.as_deref(), Some("spec.template.nodeCount"), "{d}");
    }
}
