//! Definitions in, Terraform modules out: parsing and validation (by the model), duplicate
//! detection, reference resolution ([`crate::catalog`]), then the catalog module and one
//! self-service module per cluster plan ([`crate::cluster`]). No I/O happens here.

use std::collections::BTreeMap;

use wayfinder_model::FieldPath;

/// The resource label for an object name (kept here too: the acceptance harness names
/// resources the way the compiler does).
pub use crate::catalog::resource_label;
use crate::catalog::{CATALOG_KINDS, Catalog};
use crate::definition::{Definition, Module, Source};
use crate::diagnostic::Diagnostic;

/// The provider version constraint unless `--provider-version` says otherwise.
pub const DEFAULT_PROVIDER_VERSION: &str = ">= 0.1.0";

/// The file in the output directory that lists every file the compiler wrote there, so
/// that a later run can remove the ones it no longer writes, and only those.
pub const MANIFEST: &str = ".wayfinder-compile-manifest";

/// What the module says about its provenance and which provider it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// The provider version constraint written to `versions.tf`.
    pub provider_version: String,
    /// The inputs as the files' headers name them, relative to the output directory (the CLI
    /// passes its PATH arguments so, and each module's files name them relative to the
    /// module's directory, so the text does not depend on where the command was run from).
    /// When empty, the sources' names are used.
    pub generated_from: Vec<String>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            provider_version: DEFAULT_PROVIDER_VERSION.to_string(),
            generated_from: Vec::new(),
        }
    }
}

/// The result of a successful compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub module: Module,
    /// How many definitions went in.
    pub definitions: usize,
    /// Things worth knowing that are not errors (references looked up on the server).
    pub notices: Vec<Diagnostic>,
}

/// Parses and validates every source; returns every definition of a catalog kind and every
/// problem found in any of them (parse errors, validation errors, duplicate `kind`+`name`),
/// with a warning for each definition of a kind no module holds (skipped, with why). Legacy
/// documents are migrated ([`crate::migrate`]); each migration is a notice among the
/// problems.
pub fn load(sources: &[Source]) -> (Vec<Definition>, Vec<Diagnostic>) {
    let mut definitions = Vec::new();
    let mut problems = Vec::new();
    // Where each `kind`+`name` was first defined: `file:line:column`, or the file and
    // document.
    // Where each object was first defined, by kind, workspace, name and version.
    type Key = (&'static str, Option<String>, String, Option<String>);
    let mut seen: BTreeMap<Key, String> = BTreeMap::new();
    // The objects first defined as derived from a legacy document, by the same key.
    let mut first_derived: BTreeMap<Key, wayfinder_model::Object> = BTreeMap::new();
    let name_path = FieldPath::root().field("metadata").field("name");
    for source in sources {
        // Documents that parse are still validated when a neighbour does not, so that
        // every problem is reported in one run.
        let (docs, migrations, diagnostics) = crate::migrate::read(source);
        problems.extend(diagnostics);
        for doc in docs {
            let derived = crate::migrate::is_derived(&migrations, &doc);
            let kind = doc.object.kind_info().kind;
            if !CATALOG_KINDS.contains(&kind) {
                let why = wayfinder_model::kinds::NOT_IN_CATALOG
                    .iter()
                    .find(|(k, _)| k.kind == kind)
                    .map_or("no module holds it", |(_, why)| why);
                problems.push(
                    Diagnostic::file(
                        &source.name,
                        format!("skipped, not compiled into a module: {why}"),
                    )
                    .object(doc.object.display_name())
                    .document(doc.index)
                    .located(doc.locate(&FieldPath::root().field("kind")))
                    .warning(),
                );
                continue;
            }
            if let Err(e) = doc.object.validate() {
                problems.extend(Diagnostic::from_validation(
                    &source.name,
                    doc.index,
                    &e,
                    &doc.spans,
                ));
            }
            let info = doc.object.kind_info();
            let key: Key = (
                info.kind,
                match info.scope {
                    wayfinder_model::Scope::Platform => None,
                    wayfinder_model::Scope::Workspace => {
                        Some(doc.object.metadata().namespace.clone().unwrap_or_default())
                    }
                },
                doc.object.metadata().name.clone(),
                doc.object.version().map(str::to_string),
            );
            match seen.get(&key) {
                // A missing name is a validation error already; no need to say it twice.
                _ if key.2.is_empty() => {}
                // Two legacy documents that give the same derived object (two packages
                // from one chart repository) give it once.
                Some(_) if derived && first_derived.get(&key) == Some(&doc.object) => continue,
                Some(place) => {
                    problems.push(
                        Diagnostic::at_field(
                            &source.name,
                            doc.index,
                            &doc.spans,
                            &name_path,
                            format!(
                                "defined more than once: {}{} is also defined in {place}; names must be unique per kind{}",
                                doc.object.display_name(),
                                key.3.as_deref().map(|v| format!(" version {v}")).unwrap_or_default(),
                                if info.versioned { " and version" } else { "" }
                            ),
                        )
                        .object(doc.object.display_name()),
                    );
                }
                None => {
                    let file = &source.name;
                    let place = match (doc.locate(&name_path), doc.index) {
                        (Some((line, column)), _) => format!("{file}:{line}:{column}"),
                        (None, 0) => file.clone(),
                        (None, d) => format!("{file} (document {})", d + 1),
                    };
                    if derived {
                        first_derived.insert(key.clone(), doc.object.clone());
                    }
                    seen.insert(key, place);
                }
            }
            definitions.push(Definition {
                file: source.name.clone(),
                document: doc.index,
                object: doc.object,
                spans: doc.spans,
            });
        }
    }
    (definitions, problems)
}

/// Compiles the sources into the catalog module and a self-service module per cluster
/// plan, or returns every problem found (notices included).
pub fn compile(sources: &[Source], options: &CompileOptions) -> Result<Compiled, Vec<Diagnostic>> {
    let (definitions, loaded) = load(sources);
    let (mut problems, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
        loaded.into_iter().partition(Diagnostic::is_error);
    if !problems.is_empty() {
        // References are checked too, so that every problem is reported in one run (the
        // definitions that failed validation are resolved as they are).
        let (_, more) = Catalog::build(&definitions);
        problems.extend(more.into_iter().filter(Diagnostic::is_error));
        problems.extend(warnings);
        return Err(problems);
    }
    if definitions.is_empty() {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let file = names.first().copied().unwrap_or("<input>");
        if !warnings.is_empty() {
            let mut out = warnings;
            out.push(Diagnostic::file(
                file,
                "nothing to compile: every definition was skipped; a module needs at least one definition of a catalog kind",
            ));
            return Err(out);
        }
        return Err(vec![Diagnostic::file(
            file,
            format!(
                "no definitions found in {}; expected YAML documents with apiVersion, kind, metadata and spec",
                if names.is_empty() {
                    "the input".to_string()
                } else {
                    names.join(", ")
                }
            ),
        )]);
    }
    let generated_from = if options.generated_from.is_empty() {
        sources.iter().map(|s| s.name.clone()).collect()
    } else {
        options.generated_from.clone()
    };
    let (catalog, mut diagnostics) = Catalog::build(&definitions);
    diagnostics.splice(0..0, warnings);
    let mut module = Module::default();
    let catalog_from = deeper(&generated_from, 1);
    for (path, text) in crate::catalog::emit(&catalog, &catalog_from, &options.provider_version) {
        module.insert(format!("catalog/{path}"), text);
    }
    let clusters_from = deeper(&generated_from, 2);
    let (clusters, more) =
        crate::cluster::emit_all(&catalog, &clusters_from, &options.provider_version);
    diagnostics.extend(more);
    for (path, text) in clusters {
        module.insert(format!("clusters/{path}"), text);
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let manifest = manifest(&module, &generated_from);
    module.insert(MANIFEST, manifest);
    Ok(Compiled {
        module,
        definitions: definitions.len(),
        notices: diagnostics,
    })
}

/// Input paths relative to the output directory, made relative to a module directory
/// `depth` levels below it (absolute paths stay as they are).
fn deeper(paths: &[String], depth: usize) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            if p.starts_with('/') || p.contains(':') {
                p.clone()
            } else if p == "." {
                "../".repeat(depth)
            } else {
                format!("{}{p}", "../".repeat(depth))
            }
        })
        .collect()
}

/// The manifest: a header, then every file written, one per line.
fn manifest(module: &Module, generated_from: &[String]) -> String {
    let mut out = format!(
        "# {}\n# The files below were written by wayfinder-compile; it removes those it no longer writes, and no others.\n",
        crate::module::header(generated_from)
    );
    for (path, _) in module.files() {
        out.push_str(path);
        out.push('\n');
    }
    out.push_str(MANIFEST);
    out.push('\n');
    out
}

/// The paths a manifest lists (its own included), ignoring comments and blank lines.
pub fn manifest_paths(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata:\n  name: NAME\nspec:\n  provider: EKS\n  nodePools: [{logicalName: a, machine: m6i.large, size: 1}]\n";

    fn t(name: &str) -> String {
        T.replace("NAME", name)
    }

    #[test]
    fn labels() {
        use crate::catalog::resource_label;
        assert_eq!(resource_label("eks-general"), "eks_general");
        assert_eq!(resource_label("1st"), "t_1st");
        assert_eq!(resource_label("a"), "a");
        assert_eq!(resource_label("plan@1.3.0-rc.1"), "plan_1_3_0_rc_1");
    }

    #[test]
    fn duplicates_name_both_places() {
        let sources = [
            Source::new("a.yaml", t("x")),
            Source::new("b.yaml", format!("{}---\n{}", t("y"), t("x"))),
        ];
        let errs = compile(&sources, &CompileOptions::default()).unwrap_err();
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "b.yaml:12:3: ComputeTemplate/x: metadata.name: defined more than once: ComputeTemplate/x is also defined in a.yaml:4:3; names must be unique per kind"
            ]
        );
    }

    #[test]
    fn an_unknown_version_is_a_problem_of_its_document_and_the_others_are_still_checked() {
        let text = format!(
            "{}---\n{}---\n{}",
            t("good"),
            t("future").replace("compute.appvia.io/v2beta2", "compute.appvia.io/v9"),
            t("bad").replace("size: 1", "size: -1")
        );
        let errs = compile(&[Source::new("a.yaml", text)], &CompileOptions::default()).unwrap_err();
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].starts_with("a.yaml:9:13: ComputeTemplate/future: apiVersion: ComputeTemplate (compute.appvia.io/v9) is not a supported kind"),
            "{lines:#?}"
        );
        assert!(
            lines[1].contains("ComputeTemplate/bad: spec.nodePools[0].size"),
            "{lines:#?}"
        );
    }

    #[test]
    fn kinds_no_module_holds_are_skipped_with_a_warning_and_the_rest_compiles() {
        let token = "apiVersion: org.appvia.io/v2beta1\nkind: AccessToken\nmetadata: {name: ci, namespace: ws-pay}\nspec: {roles: [member]}\n";
        let compiled = compile(
            &[Source::new("a.yaml", format!("{token}---\n{}", t("x")))],
            &CompileOptions::default(),
        )
        .unwrap();
        assert_eq!(compiled.definitions, 1);
        let warning = &compiled.notices[0];
        assert_eq!(warning.severity, crate::Severity::Warning);
        assert_eq!(
            warning.to_string(),
            "a.yaml:2:1: AccessToken/ci: warning: skipped, not compiled into a module: an access token's secret is made by the server when the token is created and must not live in code; create tokens with the wayfinder_access_token resource or the API"
        );
        // With nothing else, there is nothing to compile.
        let errs =
            compile(&[Source::new("a.yaml", token)], &CompileOptions::default()).unwrap_err();
        assert!(
            errs.last()
                .unwrap()
                .message
                .starts_with("nothing to compile")
        );
    }

    #[test]
    fn empty_inputs_are_an_error() {
        let errs = compile(
            &[Source::new("a.yaml", "---\n")],
            &CompileOptions::default(),
        )
        .unwrap_err();
        assert!(
            errs[0]
                .message
                .starts_with("no definitions found in a.yaml")
        );
    }

    #[test]
    fn non_utf8_is_located() {
        let d = Source::from_bytes("a.yaml", b"kind: x\nname: ab\xff\n".to_vec()).unwrap_err();
        assert_eq!(
            d.to_string(),
            "a.yaml:2:9: not valid UTF-8 (byte 0xFF at offset 16); definitions must be UTF-8 text"
        );
        let s = Source::from_bytes("b.yaml", "\u{feff}a: 1".as_bytes().to_vec()).unwrap();
        assert_eq!(s.text, "a: 1");
    }

    #[test]
    fn output_is_sorted_by_name_whatever_the_input_order() {
        let a = compile(
            &[Source::new("f.yaml", format!("{}---\n{}", t("b"), t("a")))],
            &CompileOptions::default(),
        )
        .unwrap();
        let main = a.module.get("catalog/main.tf").unwrap();
        let pa = main.find("\"a\" {").unwrap();
        let pb = main.find("\"b\" {").unwrap();
        assert!(pa < pb, "{main}");
        assert_eq!(a.definitions, 2);
        let names: Vec<&str> = a.module.files().map(|(p, _)| p).collect();
        assert_eq!(
            names,
            [
                ".wayfinder-compile-manifest",
                "catalog/README.md",
                "catalog/main.tf",
                "catalog/outputs.tf",
                "catalog/tests/catalog.tftest.hcl",
                "catalog/variables.tf",
                "catalog/versions.tf"
            ]
        );
    }
}
