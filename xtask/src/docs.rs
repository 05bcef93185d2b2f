//! `cargo xtask docs [--check]`: the provider's documentation in the Terraform Registry's
//! layout, generated from the schemas the provider serves.
//!
//! The schemas come from the provider crate in-process: its own `GetProviderSchema` and
//! `GetResourceIdentitySchemas` handlers answer exactly what Terraform would be told, and
//! the resource types ([`resources::all`]) add what the protocol does not carry (which
//! attributes force replacement, the import ID forms). Around the schemas:
//!
//! - `examples/` gives each page its example usage (`resources/<type>/resource.tf`,
//!   `import.sh`, `data-sources/<type>/data-source.tf`,
//!   `ephemeral-resources/<type>/ephemeral-resource.tf`, `functions/<name>/function.tf`,
//!   `provider/provider.tf`); a type without its example is an error.
//! - `templates/` holds hand-written prose: `index.md.tmpl` (the provider's page, with the
//!   placeholders `{{example PATH}}`, `{{schema}}` and `{{contents}}`), and optionally
//!   `<section>/<name>.md` with extra sections for one page.
//!
//! Pages are named without the `wayfinder_` prefix, as the registry does:
//! `docs/resources/cluster.md` documents `wayfinder_cluster`. `--check` writes nothing and
//! fails when a committed page differs from what would be written (or is stale).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value as Json;
use terraform_provider_wayfinder::proto::tfplugin6 as pb;
use terraform_provider_wayfinder::proto::tfplugin6::provider_server::Provider as _;
use terraform_provider_wayfinder::provider::WayfinderProvider;
use terraform_provider_wayfinder::resources;
use terraform_provider_wayfinder::schema::{Block, NestedAttributes};

use crate::docs_render::{ReplacePaths, schema_section, type_constraint};
use crate::util::{detail, repo_root, say};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write nothing; fail when docs/ differs from what would be written.
    #[arg(long)]
    pub check: bool,
}

/// The provider's type-name prefix, left out of page names.
const PREFIX: &str = "wayfinder_";
/// The generated sections of docs/ (every other file there is hand-written).
const SECTIONS: &[&str] = &[
    "resources",
    "data-sources",
    "ephemeral-resources",
    "functions",
];

pub fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    let pages = generate(&root)?;
    let problems = differences(&root, &pages);
    if args.check {
        if problems.is_empty() {
            say(format_args!(
                "docs/ matches the provider's schemas ({} pages)",
                pages.len()
            ));
            return Ok(());
        }
        for p in &problems {
            detail(p);
        }
        bail!(
            "docs/ differs from what the provider's schemas and examples/ give ({} files); run `cargo xtask docs` and commit the result",
            problems.len()
        );
    }
    write(&root, &pages)?;
    say(format_args!(
        "wrote {} pages under docs/ ({} changed)",
        pages.len(),
        problems.len()
    ));
    for p in &problems {
        detail(p);
    }
    Ok(())
}

/// What the provider serves, as the docs need it.
struct Served {
    schema: pb::get_provider_schema::Response,
    identities: HashMap<String, pb::ResourceIdentitySchema>,
    resources: Vec<resources::ResourceType>,
}

fn served() -> Result<Served> {
    let provider = WayfinderProvider::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting a Tokio runtime")?;
    let schema = runtime
        .block_on(
            provider.get_provider_schema(tonic::Request::new(pb::get_provider_schema::Request {})),
        )
        .map_err(|s| anyhow!("GetProviderSchema: {s}"))?
        .into_inner();
    let identities = runtime
        .block_on(provider.get_resource_identity_schemas(tonic::Request::new(
            pb::get_resource_identity_schemas::Request {},
        )))
        .map_err(|s| anyhow!("GetResourceIdentitySchemas: {s}"))?
        .into_inner()
        .identity_schemas;
    Ok(Served {
        schema,
        identities,
        resources: resources::all(),
    })
}

/// Every generated page, by its path under `docs/`.
pub fn generate(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let served = served()?;
    let examples = root.join("examples");
    let templates = root.join("templates");
    let mut pages = BTreeMap::new();
    let mut contents = Contents::default();

    for (type_name, schema) in sorted(&served.schema.resource_schemas) {
        let r = served
            .resources
            .iter()
            .find(|r| r.type_name == type_name)
            .ok_or_else(|| {
                anyhow!("the provider serves {type_name} but resources::all() has no such type")
            })?;
        let dir = examples.join("resources").join(type_name);
        let page = resource_page(
            type_name,
            schema,
            &replace_paths(&r.schema().block),
            served.identities.get(type_name),
            r,
            &read(&dir.join("resource.tf"))?,
            &dir.join("import.sh"),
            &extra(&templates, "resources", type_name)?,
        )?;
        contents
            .resources
            .push((type_name.to_string(), summary(block_description(schema))));
        pages.insert(page_path("resources", type_name), page);
    }
    for (type_name, schema) in sorted(&served.schema.data_source_schemas) {
        let example = read(
            &examples
                .join("data-sources")
                .join(type_name)
                .join("data-source.tf"),
        )?;
        let page = simple_page(
            type_name,
            "Data Source",
            schema,
            &example,
            &extra(&templates, "data-sources", type_name)?,
        );
        contents
            .data_sources
            .push((type_name.to_string(), summary(block_description(schema))));
        pages.insert(page_path("data-sources", type_name), page);
    }
    for (type_name, schema) in sorted(&served.schema.ephemeral_resource_schemas) {
        let example = read(
            &examples
                .join("ephemeral-resources")
                .join(type_name)
                .join("ephemeral-resource.tf"),
        )?;
        let page = simple_page(
            type_name,
            "Ephemeral Resource",
            schema,
            &example,
            &extra(&templates, "ephemeral-resources", type_name)?,
        );
        contents
            .ephemeral
            .push((type_name.to_string(), summary(block_description(schema))));
        pages.insert(page_path("ephemeral-resources", type_name), page);
    }
    for (name, function) in sorted(&served.schema.functions) {
        let example = read(&examples.join("functions").join(name).join("function.tf"))?;
        let page = function_page(
            name,
            function,
            &example,
            &extra(&templates, "functions", name)?,
        );
        contents
            .functions
            .push((name.to_string(), function.summary.clone()));
        pages.insert(page_path("functions", name), page);
    }
    let provider = served
        .schema
        .provider
        .as_ref()
        .and_then(|s| s.block.as_ref())
        .ok_or_else(|| anyhow!("GetProviderSchema has no provider schema"))?;
    pages.insert(
        PathBuf::from("index.md"),
        index_page(root, &templates, provider, &contents)?,
    );
    Ok(pages)
}

fn sorted<T>(map: &HashMap<String, T>) -> Vec<(&str, &T)> {
    let mut v: Vec<(&str, &T)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    v.sort_by_key(|(k, _)| *k);
    v
}

fn short(type_name: &str) -> &str {
    type_name.strip_prefix(PREFIX).unwrap_or(type_name)
}

fn page_path(section: &str, type_name: &str) -> PathBuf {
    PathBuf::from(section).join(format!("{}.md", short(type_name)))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| {
        format!(
            "reading {}: every type the provider serves needs its example (see `cargo xtask docs --help`)",
            path.display()
        )
    })
}

/// The hand-written sections for one page, from `templates/<section>/<short name>.md`.
fn extra(templates: &Path, section: &str, type_name: &str) -> Result<String> {
    let path = templates
        .join(section)
        .join(format!("{}.md", short(type_name)));
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(anyhow!("reading {}: {e}", path.display())),
    }
}

fn block_description(schema: &pb::Schema) -> &str {
    schema
        .block
        .as_ref()
        .map(|b| b.description.as_str())
        .unwrap_or_default()
}

/// The first sentence of a description (not cut at `e.g.` or `i.e.`).
fn summary(description: &str) -> String {
    let d = description.trim();
    let mut from = 0;
    while let Some(i) = d[from..].find(". ").map(|i| i + from) {
        if d[..=i].ends_with("e.g.") || d[..=i].ends_with("i.e.") {
            from = i + 2;
            continue;
        }
        return d[..=i].to_string();
    }
    d.to_string()
}

/// The attribute paths of a resource whose change forces replacement (the protocol has no
/// field for it; our schema types do).
fn replace_paths(block: &Block) -> ReplacePaths {
    fn walk_attrs(
        attrs: &[terraform_provider_wayfinder::schema::Attribute],
        path: &[String],
        out: &mut ReplacePaths,
    ) {
        for a in attrs {
            let mut p = path.to_vec();
            p.push(a.name.clone());
            if a.requires_replace {
                out.insert(p.clone());
            }
            if let Some(NestedAttributes { attributes, .. }) = &a.nested {
                walk_attrs(attributes, &p, out);
            }
        }
    }
    fn walk(block: &Block, path: &[String], out: &mut ReplacePaths) {
        walk_attrs(&block.attributes, path, out);
        for b in &block.blocks {
            let mut p = path.to_vec();
            p.push(b.name.clone());
            walk(&b.block, &p, out);
        }
    }
    let mut out = ReplacePaths::new();
    walk(block, &[], &mut out);
    out
}

fn front_matter(title: &str, description: &str) -> String {
    let mut out = format!("---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n");
    for line in summary(description).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str("---\n\n");
    out
}

fn example_section(example: &str) -> String {
    format!(
        "## Example Usage\n\n```terraform\n{}\n```\n\n",
        example.trim_end()
    )
}

fn with_extra(extra: &str) -> String {
    if extra.is_empty() {
        String::new()
    } else {
        format!("{extra}\n\n")
    }
}

fn simple_page(
    type_name: &str,
    what: &str,
    schema: &pb::Schema,
    example: &str,
    extra: &str,
) -> String {
    let description = block_description(schema);
    let mut out = front_matter(
        &format!("{type_name} {what} - terraform-provider-wayfinder"),
        description,
    );
    let _ = write!(out, "# {type_name} ({what})\n\n{}\n\n", description.trim());
    out.push_str(&example_section(example));
    out.push_str(&with_extra(extra));
    if let Some(block) = &schema.block {
        out.push_str(&schema_section(block, &ReplacePaths::new()));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn resource_page(
    type_name: &str,
    schema: &pb::Schema,
    replace: &ReplacePaths,
    identity: Option<&pb::ResourceIdentitySchema>,
    r: &resources::ResourceType,
    example: &str,
    import_sh: &Path,
    extra: &str,
) -> Result<String> {
    let description = block_description(schema);
    let mut out = front_matter(
        &format!("{type_name} Resource - terraform-provider-wayfinder"),
        description,
    );
    let _ = write!(
        out,
        "# {type_name} (Resource)\n\n{}\n\n",
        description.trim()
    );
    out.push_str(&example_section(example));
    out.push_str(&with_extra(extra));
    if let Some(block) = &schema.block {
        out.push_str(&schema_section(block, replace));
    }
    out.push('\n');
    out.push_str(&import_section(type_name, r, identity, import_sh)?);
    Ok(out)
}

/// The `terraform import` lines of an `import.sh`: `(address, id)`.
fn import_commands(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("terraform import "))
        .filter_map(|rest| {
            let mut parts = rest.split_whitespace();
            let address = parts.next()?.to_string();
            let id = parts.next()?.trim_matches(['"', '\'']).to_string();
            Some((address, id))
        })
        .collect()
}

fn import_section(
    type_name: &str,
    r: &resources::ResourceType,
    identity: Option<&pb::ResourceIdentitySchema>,
    import_sh: &Path,
) -> Result<String> {
    let script = read(import_sh)?;
    let commands = import_commands(&script);
    let Some((address, id)) = commands.first() else {
        bail!(
            "{}: no `terraform import {type_name}.LABEL ID` line",
            import_sh.display()
        );
    };
    for (address, id) in &commands {
        if address.split('.').next() != Some(type_name) {
            bail!(
                "{}: `terraform import {address} …` imports into another type than {type_name}",
                import_sh.display()
            );
        }
        // The example must be an ID the provider takes.
        r.parse_import_id(id, Some("pay")).map_err(|d| {
            anyhow!(
                "{}: {id:?} is not an import ID of {type_name}: {}",
                import_sh.display(),
                d.detail
            )
        })?;
    }
    let at = r
        .parse_import_id(id, None)
        .or_else(|_| r.parse_import_id(id, Some("pay")))
        .map_err(|d| anyhow!("{}: {}", import_sh.display(), d.detail))?;
    let mut out = String::from("## Import\n\n");
    let _ = write!(
        out,
        "Import an existing object by its ID: {}.\n\n\
         In Terraform 1.5 or later (OpenTofu 1.5 or later), use an `import` block:\n\n\
         ```terraform\nimport {{\n  to = {address}\n  id = \"{id}\"\n}}\n```\n\n",
        r.id_forms()
    );
    if let Some(identity) = identity {
        let mut fields: Vec<(String, String)> = Vec::new();
        for a in &identity.identity_attributes {
            let value = match a.name.as_str() {
                resources::WORKSPACE => at.workspace.clone(),
                resources::NAME => Some(at.name.clone()),
                resources::VERSION => at.version.clone(),
                _ => None,
            };
            if let Some(v) = value {
                fields.push((a.name.clone(), v));
            }
        }
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("    {k:<width$} = \"{v}\"\n"))
            .collect();
        let _ = write!(
            out,
            "In Terraform 1.12 or later, the `import` block may name the object by its resource identity instead:\n\n\
             ```terraform\nimport {{\n  to = {address}\n  identity = {{\n{body}  }}\n}}\n```\n\n\
             The identity's attributes:\n\n"
        );
        for a in &identity.identity_attributes {
            let ty: Json = serde_json::from_slice(&a.r#type).unwrap_or(Json::Null);
            let need = if a.required_for_import {
                "Required"
            } else {
                "Optional"
            };
            let _ = writeln!(
                out,
                "- `{}` ({}, {need}) {}",
                a.name,
                crate::docs_render::type_label(&ty),
                a.description.trim()
            );
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "Or with the `terraform import` command:\n\n```shell\n{}\n```\n",
        script.trim_end()
    );
    Ok(out)
}

fn function_page(name: &str, f: &pb::Function, example: &str, extra: &str) -> String {
    let mut out = front_matter(
        &format!("{name} function - terraform-provider-wayfinder"),
        &f.summary,
    );
    let _ = write!(
        out,
        "# function: {name}\n\n{}\n\n{}\n\n",
        f.summary.trim(),
        f.description.trim()
    );
    out.push_str(&example_section(example));
    out.push_str(&with_extra(extra));
    let ty = |bytes: &[u8]| -> Json { serde_json::from_slice(bytes).unwrap_or(Json::Null) };
    let params: Vec<String> = f
        .parameters
        .iter()
        .map(|p| format!("{} {}", p.name, type_constraint(&ty(&p.r#type))))
        .chain(
            f.variadic_parameter
                .iter()
                .map(|p| format!("{}... {}", p.name, type_constraint(&ty(&p.r#type)))),
        )
        .collect();
    let ret = f
        .r#return
        .as_ref()
        .map(|r| type_constraint(&ty(&r.r#type)))
        .unwrap_or_else(|| "any".into());
    let _ = write!(
        out,
        "## Signature\n\n```text\n{name}({}) {ret}\n```\n\nCalled as `provider::wayfinder::{name}(…)`; provider functions need Terraform 1.8 or later (OpenTofu 1.7 or later).\n\n## Arguments\n\n",
        params.join(", ")
    );
    for (i, p) in f.parameters.iter().enumerate() {
        let mut flags = vec![type_constraint(&ty(&p.r#type))];
        if p.allow_null_value {
            flags.push("nullable".into());
        }
        let _ = writeln!(
            out,
            "{}. `{}` ({}) {}",
            i + 1,
            p.name,
            flags.join(", "),
            p.description.trim()
        );
    }
    if let Some(p) = &f.variadic_parameter {
        let _ = writeln!(
            out,
            "{}. `{}` (variadic, {}) {}",
            f.parameters.len() + 1,
            p.name,
            type_constraint(&ty(&p.r#type)),
            p.description.trim()
        );
    }
    let _ = write!(out, "\n## Return Type\n\n`{ret}`\n");
    if !f.deprecation_message.is_empty() {
        let _ = write!(out, "\n**Deprecated:** {}\n", f.deprecation_message);
    }
    out
}

/// The lists of pages, for the index.
#[derive(Default)]
struct Contents {
    resources: Vec<(String, String)>,
    data_sources: Vec<(String, String)>,
    ephemeral: Vec<(String, String)>,
    functions: Vec<(String, String)>,
}

impl Contents {
    fn render(&self) -> String {
        let mut out = String::new();
        for (title, section, list) in [
            ("Resources", "resources", &self.resources),
            ("Data Sources", "data-sources", &self.data_sources),
            (
                "Ephemeral Resources",
                "ephemeral-resources",
                &self.ephemeral,
            ),
            ("Functions", "functions", &self.functions),
        ] {
            let _ = writeln!(out, "### {title}\n");
            for (name, summary) in list {
                let _ = writeln!(
                    out,
                    "- [`{name}`]({section}/{}.md) — {}",
                    short(name),
                    summary.trim()
                );
            }
            out.push('\n');
        }
        out.trim_end().to_string()
    }
}

fn index_page(
    root: &Path,
    templates: &Path,
    provider: &pb::schema::Block,
    contents: &Contents,
) -> Result<String> {
    let path = templates.join("index.md.tmpl");
    let template = read(&path)?;
    let mut out = String::new();
    for line in template.lines() {
        let trimmed = line.trim();
        if let Some(inner) = trimmed
            .strip_prefix("{{")
            .and_then(|l| l.strip_suffix("}}"))
        {
            let inner = inner.trim();
            if inner == "schema" {
                let section = schema_section(provider, &ReplacePaths::new());
                // The provider's page lists its arguments under "Schema" one level down.
                out.push_str(section.trim_start_matches("## Schema\n\n"));
            } else if inner == "contents" {
                out.push_str(&contents.render());
                out.push('\n');
            } else if let Some(example) = inner.strip_prefix("example ") {
                let text = read(&root.join("examples").join(example.trim()))?;
                let _ = writeln!(out, "```terraform\n{}\n```", text.trim_end());
            } else {
                bail!(
                    "{}: unknown placeholder {trimmed}; expected {{{{schema}}}}, {{{{contents}}}} or {{{{example PATH}}}}",
                    path.display()
                );
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The differences between `docs/` and `pages`: changed, missing and stale files.
fn differences(root: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let docs = root.join("docs");
    let mut out = Vec::new();
    for (rel, text) in pages {
        match fs::read_to_string(docs.join(rel)) {
            Ok(current) if current == *text => {}
            Ok(current) => {
                let line = current
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| current.lines().count().min(text.lines().count()));
                out.push(format!(
                    "docs/{} differs from the generated page from line {}",
                    rel.display(),
                    line + 1
                ));
            }
            Err(_) => out.push(format!("docs/{} is missing", rel.display())),
        }
    }
    for stale in stale_files(&docs, pages) {
        out.push(format!(
            "docs/{} documents nothing the provider serves",
            stale.display()
        ));
    }
    out
}

/// Files in the generated sections that no page of `pages` is.
fn stale_files(docs: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for section in SECTIONS {
        let Ok(entries) = fs::read_dir(docs.join(section)) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .map(|e| PathBuf::from(section).join(e.file_name()))
            .filter(|p| !pages.contains_key(p))
            .collect();
        names.sort();
        out.extend(names);
    }
    out
}

fn write(root: &Path, pages: &BTreeMap<PathBuf, String>) -> Result<()> {
    let docs = root.join("docs");
    for stale in stale_files(&docs, pages) {
        fs::remove_file(docs.join(&stale))
            .with_context(|| format!("removing the stale docs/{}", stale.display()))?;
    }
    for (rel, text) in pages {
        let path = docs.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI fails the moment the committed docs and the schemas (or examples) disagree.
    #[test]
    fn committed_docs_match_what_the_schemas_generate() {
        let root = repo_root();
        let pages = generate(&root).expect("generating the docs");
        let problems = differences(&root, &pages);
        assert!(
            problems.is_empty(),
            "docs/ is out of date; run `cargo xtask docs` and commit the result:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn every_type_has_a_page_and_its_example() {
        let root = repo_root();
        let pages = generate(&root).expect("generating the docs");
        let served = served().unwrap();
        for t in served.schema.resource_schemas.keys() {
            let page = &pages[&page_path("resources", t)];
            assert!(page.contains("## Example Usage"), "{t}");
            assert!(page.contains("## Import"), "{t}");
            assert!(page.contains(&format!("import {{\n  to = {t}.")), "{t}");
        }
        for t in served.schema.data_source_schemas.keys() {
            assert!(pages.contains_key(&page_path("data-sources", t)), "{t}");
        }
        for t in served.schema.ephemeral_resource_schemas.keys() {
            assert!(
                pages.contains_key(&page_path("ephemeral-resources", t)),
                "{t}"
            );
        }
        for f in served.schema.functions.keys() {
            assert!(pages.contains_key(&page_path("functions", f)), "{f}");
        }
        assert!(pages[Path::new("index.md")].contains("WAYFINDER_TOKEN"));
    }

    #[test]
    fn summaries_are_first_sentences() {
        assert_eq!(summary("One, e.g. a. Two."), "One, e.g. a.");
        assert_eq!(summary("Only one"), "Only one");
    }

    #[test]
    fn import_lines_are_read() {
        assert_eq!(
            import_commands(
                "# comment\nterraform import wayfinder_stage.a nonprod\n  terraform import wayfinder_x.b \"pay/x\"\n"
            ),
            vec![
                ("wayfinder_stage.a".to_string(), "nonprod".to_string()),
                ("wayfinder_x.b".to_string(), "pay/x".to_string())
            ]
        );
    }

    #[test]
    fn a_changed_page_and_a_stale_page_are_differences() {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        fs::create_dir_all(docs.join("resources")).unwrap();
        fs::write(docs.join("resources/a.md"), "old\n").unwrap();
        fs::write(docs.join("resources/gone.md"), "x\n").unwrap();
        let pages: BTreeMap<PathBuf, String> = [
            (PathBuf::from("resources/a.md"), "new\n".to_string()),
            (PathBuf::from("index.md"), "i\n".to_string()),
        ]
        .into();
        let found = differences(dir.path(), &pages);
        assert_eq!(found.len(), 3, "{found:?}");
        write(dir.path(), &pages).unwrap();
        assert!(differences(dir.path(), &pages).is_empty());
        assert!(!docs.join("resources/gone.md").exists());
    }
}
