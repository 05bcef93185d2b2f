//! The examples under `examples/` with the real Terraform CLI and the built provider (from
//! the harness's filesystem mirror):
//!
//! - every resource, data source, ephemeral resource and function the provider serves
//!   (`terraform providers schema -json`) has its example, and every example names one;
//! - every configuration is formatted as `terraform fmt` writes it;
//! - every configuration is valid (`terraform init` and `terraform validate`, which runs the
//!   provider's own validation, Wayfinder's model included);
//! - the quickstart runs for real against a real server: the administrator's configuration
//!   publishes the catalog compiled from `examples/definitions` and issues a member token;
//!   the CI pipeline script (`examples/ci/pipeline.sh`) plans the workspace's cluster as
//!   that member, shows its cost and policy result and applies it; a plan over the cost
//!   ceiling is refused with Terraform's diagnostic; both configurations are destroyed.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use wayfinder_acceptance::catalog::{self, cluster_phase, wait_cluster};
use wayfinder_acceptance::support::{
    EPHEMERAL_RESOURCES, FUNCTIONS, SELF_SERVICE_MODULES, provider_source, skip_part,
};
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, binary, repo_root, require_terraform,
    require_terraform_version, terraform_path,
};

fn examples() -> PathBuf {
    repo_root().join("examples")
}

/// The subdirectories of `examples/<section>`, by name.
fn example_dirs(section: &str) -> Vec<(String, PathBuf)> {
    let dir = examples().join(section);
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    out.sort();
    out
}

/// Copies the `.tf` files of `from` into `to` (created), adding a `versions.tf` with the
/// provider's source when the example has no `required_providers` of its own (the registry
/// shows resource examples without one; Terraform would otherwise look for
/// `hashicorp/wayfinder`).
fn copy_example(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    let mut has_required = false;
    for entry in fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = fs::read_to_string(&path).unwrap();
            has_required |= text.contains("required_providers");
            fs::write(to.join(entry.file_name()), text).unwrap();
        }
    }
    if !has_required {
        fs::write(to.join("versions.tf"), REQUIRED_PROVIDERS).unwrap();
    }
}

/// Copies the `.tf` files under `from` to `to`, keeping the layout, except those containing
/// `needle`; returns those left out, relative to `from`.
fn copy_tf_files_without(from: &Path, to: &Path, needle: &str) -> Vec<String> {
    let mut left_out = Vec::new();
    let mut stack = vec![from.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "tf") {
                let relative = path.strip_prefix(from).unwrap();
                let text = fs::read_to_string(&path).unwrap();
                if text.contains(needle) {
                    left_out.push(relative.display().to_string());
                } else {
                    let dest = to.join(relative);
                    fs::create_dir_all(dest.parent().unwrap()).unwrap();
                    fs::write(dest, text).unwrap();
                }
            }
        }
    }
    left_out.sort();
    left_out
}

/// `wayfinder-compile examples/definitions --out DIR`.
fn compile_definitions(out: &Path) {
    let compiled = Command::new(binary("wayfinder-compile"))
        .arg(examples().join("definitions"))
        .arg("--out")
        .arg(out)
        .output()
        .expect("running wayfinder-compile");
    assert!(
        compiled.status.success(),
        "wayfinder-compile failed ({}):\n{}{}",
        compiled.status,
        String::from_utf8_lossy(&compiled.stdout),
        String::from_utf8_lossy(&compiled.stderr)
    );
}

#[test]
fn every_served_type_has_its_example() {
    require_terraform!();
    let wd = Workdir::with_provider();
    wd.write_config(REQUIRED_PROVIDERS);
    wd.init();
    let out = wd.run(&["providers", "schema", "-json"]);
    let schema: Value = serde_json::from_str(&out.stdout).expect("providers schema -json");
    let provider = &schema["provider_schemas"][provider_source()];
    let names = |key: &str| -> BTreeSet<String> {
        provider[key]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let dirs = |section: &str| -> BTreeSet<String> {
        example_dirs(section).into_iter().map(|(n, _)| n).collect()
    };
    for (key, section, file, feature) in [
        ("resource_schemas", "resources", "resource.tf", None),
        (
            "data_source_schemas",
            "data-sources",
            "data-source.tf",
            None,
        ),
        (
            "ephemeral_resource_schemas",
            "ephemeral-resources",
            "ephemeral-resource.tf",
            Some(EPHEMERAL_RESOURCES),
        ),
        ("functions", "functions", "function.tf", Some(FUNCTIONS)),
    ] {
        // An older Terraform leaves what it does not know out of `providers schema -json`.
        if let Some(feature) = feature
            && !feature.available_for(&format!("checking examples/{section}/ against the schema"))
        {
            continue;
        }
        let served = names(key);
        assert!(!served.is_empty(), "the provider serves no {key}: {out}");
        assert_eq!(
            dirs(section),
            served,
            "examples/{section}/ should hold one directory per served type"
        );
        for name in &served {
            let example = examples().join(section).join(name).join(file);
            assert!(example.is_file(), "{} is missing", example.display());
            if section == "resources" {
                let import = examples().join(section).join(name).join("import.sh");
                let text = fs::read_to_string(&import)
                    .unwrap_or_else(|e| panic!("{}: {e}", import.display()));
                assert!(
                    text.contains(&format!("terraform import {name}.")),
                    "{} imports no {name}",
                    import.display()
                );
            }
        }
    }
}

#[test]
fn examples_are_formatted() {
    require_terraform!();
    let wd = Workdir::standalone();
    let copy;
    let dir = if FUNCTIONS.supported() {
        examples()
    } else {
        // An older `terraform fmt` cannot parse provider function calls: check a copy of
        // examples/ without the files that make them.
        copy = tempfile::tempdir().expect("a temporary directory");
        let left_out = copy_tf_files_without(&examples(), copy.path(), "provider::");
        assert!(!left_out.is_empty(), "no example calls a provider function");
        let what = format!("formatting {}", left_out.join(", "));
        assert!(!FUNCTIONS.available_for(&what));
        copy.path().to_path_buf()
    };
    let out = wd.try_run(&[
        "fmt",
        "-check",
        "-diff",
        "-recursive",
        "-no-color",
        &dir.to_string_lossy(),
    ]);
    assert_eq!(
        out.code, 0,
        "examples/ is not formatted as `terraform fmt` writes it (run `terraform fmt -recursive examples`):\n{out}"
    );
    // fmt checked something: the examples hold .tf files in every section.
    for section in [
        "provider",
        "resources",
        "data-sources",
        "functions",
        "quickstart",
        "ci",
    ] {
        assert!(examples().join(section).is_dir(), "examples/{section}");
    }
}

/// The resource, data-source and function examples, each as a module of one root: one
/// `terraform init` and one `terraform validate` check them all, and a problem names the
/// example's file.
#[test]
fn resource_data_source_and_function_examples_validate() {
    require_terraform!();
    let wd = Workdir::with_provider();
    let mut root = String::from(REQUIRED_PROVIDERS);
    let mut count = 0;
    for section in ["resources", "data-sources", "functions"] {
        if section == "functions" && !FUNCTIONS.available_for("validating examples/functions/") {
            continue;
        }
        for (name, dir) in example_dirs(section) {
            let module_dir = format!("{section}/{name}");
            copy_example(&dir, &wd.path().join(&module_dir));
            root.push_str(&format!(
                "\nmodule \"{}_{}\" {{\n  source = \"./{module_dir}\"\n}}\n",
                section.replace('-', "_"),
                name
            ));
            count += 1;
        }
    }
    assert!(count > 20, "only {count} examples found");
    wd.write_config(&root);
    wd.init();
    let out = wd.try_run(&["validate", "-no-color"]);
    assert_no_crash(&out);
    assert_eq!(out.code, 0, "an example is not valid:\n{out}");
    assert!(out.stdout.contains("Success!"), "{out}");
}

#[test]
fn the_provider_example_validates() {
    require_terraform!();
    let wd = Workdir::with_provider();
    copy_example(&examples().join("provider"), wd.path());
    wd.init();
    let out = wd.run(&["validate", "-no-color"]);
    assert!(out.stdout.contains("Success!"), "{out}");
}

/// Drops the `kubernetes` parts of a configuration: its `required_providers` entry and
/// every top-level block of the provider (`provider "kubernetes"`, `resource
/// "kubernetes_…"`). The file is formatted (checked by `examples_are_formatted`), so a
/// top-level block ends at the first `}` in column 0.
fn without_kubernetes(text: &str) -> String {
    let mut out = String::new();
    let mut skipping_block = false;
    let mut skipping_entry = false;
    for line in text.lines() {
        if skipping_block {
            skipping_block = line != "}";
            continue;
        }
        if skipping_entry {
            skipping_entry = line != "    }";
            continue;
        }
        if line.starts_with("provider \"kubernetes\"") || line.starts_with("resource \"kubernetes_")
        {
            skipping_block = true;
            continue;
        }
        if line == "    kubernetes = {" {
            skipping_entry = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn the_ephemeral_resource_example_validates() {
    require_terraform_version!(EPHEMERAL_RESOURCES);
    let path =
        examples().join("ephemeral-resources/wayfinder_cluster_credentials/ephemeral-resource.tf");
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("provider \"kubernetes\"")
            && text.contains("ephemeral.wayfinder_cluster_credentials"),
        "the example feeds the credentials to a kubernetes provider block"
    );
    // hashicorp/kubernetes cannot be installed here (no network beyond the package
    // registries), so its blocks are left out of the validated copy; `examples_are_formatted`
    // still checks the whole file.
    skip_part(&format!(
        "validating the kubernetes blocks of {} needs hashicorp/kubernetes, which cannot be installed offline; the wayfinder parts are validated",
        path.strip_prefix(repo_root()).unwrap_or(&path).display()
    ));
    let wd = Workdir::with_provider();
    let stripped = without_kubernetes(&text);
    assert!(!stripped.contains("kubernetes"), "{stripped}");
    assert!(stripped.contains("ephemeral \"wayfinder_cluster_credentials\""));
    wd.write_config(&stripped);
    wd.init();
    let out = wd.run(&["validate", "-no-color"]);
    assert!(out.stdout.contains("Success!"), "{out}");
}

/// Runs `examples/ci/pipeline.sh DIR` as CI would, with the given token.
fn pipeline(wd: &Workdir, server: &Server, token: &str, node_pools: Option<&str>) -> (i32, String) {
    let script = examples().join("ci/pipeline.sh");
    let cli_config = wd
        .path()
        .parent()
        .expect("the workdir's parent")
        .join("cli.tfrc");
    let mut cmd = Command::new("bash");
    for (key, _) in std::env::vars_os() {
        if key
            .to_str()
            .is_some_and(|k| k.starts_with("WAYFINDER_") || k.starts_with("TF_"))
        {
            cmd.env_remove(key);
        }
    }
    cmd.arg(&script)
        .arg(wd.path())
        .env("TERRAFORM", terraform_path())
        .env("TF_CLI_CONFIG_FILE", &cli_config)
        .env("CHECKPOINT_DISABLE", "1")
        .env("WAYFINDER_SERVER", server.url())
        .env("WAYFINDER_TOKEN", token)
        .stdin(Stdio::null());
    if let Some(pools) = node_pools {
        cmd.env("TF_VAR_node_pools", pools);
    }
    let out = cmd.output().expect("running pipeline.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_quickstart_and_the_ci_pipeline_run_for_real() {
    // The workspace's self-service module calls a provider function in a validation rule
    // that refers to other variables.
    require_terraform_version!(SELF_SERVICE_MODULES);
    let server = Server::start();
    let api = server.client();
    let quickstart = examples().join("quickstart");

    // The administrator publishes the catalog and issues the member token.
    let admin = Workdir::new(&server);
    compile_definitions(&admin.path().parent().unwrap().join("modules"));
    copy_example(&quickstart.join("admin"), admin.path());
    admin.init();
    admin.run(&["validate", "-no-color"]);
    admin.apply();
    admin.plan_is_empty(true);
    let plan = api.get(
        "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions/1.3.0",
    );
    assert_eq!(
        plan.status, 200,
        "the catalog's plan is not published: {}",
        plan.text
    );
    let member_token = admin
        .run(&["output", "-raw", "-no-color", "member_token"])
        .stdout;
    assert!(member_token.len() > 20, "no member token: {member_token:?}");

    // The member builds a cluster through the CI pipeline script.
    let mut workspace = Workdir::new(&server);
    workspace.set_env("WAYFINDER_TOKEN", &member_token);
    compile_definitions(&workspace.path().parent().unwrap().join("modules"));
    copy_example(&quickstart.join("workspace"), workspace.path());
    let (code, out) = pipeline(&workspace, &server, &member_token, None);
    assert_eq!(code, 0, "the pipeline failed:\n{out}");
    for expected in [
        "=== cost and policy",
        "module.cluster.wayfinder_cluster.this (create): allowed by Wayfinder's admission",
        "estimated monthly cost ",
        "Apply complete! Resources: 1 added",
        "Applied.",
    ] {
        assert!(out.contains(expected), "{expected:?} is missing:\n{out}");
    }
    let built = wait_cluster(&api, "pay", "payments-dev", Duration::from_secs(5), |b| {
        b.is_some()
    });
    assert_eq!(
        cluster_phase(built.as_ref()),
        Some("Success"),
        "apply returned before the cluster was built: {built:?}"
    );
    let outputs = workspace.outputs();
    let cost = outputs["estimated_monthly_cost"]["value"]["total"]
        .as_f64()
        .expect("a cost");
    let ceiling = outputs["monthly_cost_ceiling"]["value"]
        .as_f64()
        .expect("a ceiling");
    assert!(
        cost > 0.0 && cost <= ceiling,
        "cost {cost} ceiling {ceiling}"
    );
    assert!(
        out.contains(&format!("estimated monthly cost {cost} USD")),
        "the pipeline shows the cost the state holds ({cost}):\n{out}"
    );

    // Nothing to do the second time.
    let (code, out) = pipeline(&workspace, &server, &member_token, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");

    // Over the cost ceiling: refused at plan, with Terraform's diagnostic, nothing applied.
    let expensive = r#"[{logical_name="compute", machine="m6i.xlarge", size=3, autoscaling={enabled=true, min_size=3, max_size=20}}, {logical_name="batch", machine="m6i.xlarge", size=4}]"#;
    let (code, out) = pipeline(&workspace, &server, &member_token, Some(expensive));
    assert_eq!(code, 1, "an over-budget plan was not refused:\n{out}");
    for expected in [
        "Error: ",
        "estimated monthly cost",
        "4000 USD",
        "aws-baseline",
        "REFUSED",
    ] {
        assert!(out.contains(expected), "{expected:?} is missing:\n{out}");
    }
    assert!(!out.contains("=== terraform apply"), "{out}");
    let after = api.get(&catalog::cluster_path("pay", "payments-dev"));
    assert_eq!(
        after.body["spec"]["nodePools"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0),
        0,
        "the refused pools reached the server: {}",
        after.text
    );

    // The member may not touch the catalog.
    let denied = catalog::create(&api, &catalog::stage("scratch"), None);
    assert_eq!(denied["metadata"]["name"], "scratch");
    let as_member = wayfinder_acceptance::ApiClient::new(server.url(), Some(&member_token));
    let refused = as_member.delete("/resources/org.appvia.io/v2beta1/stages/scratch");
    assert_eq!(refused.status, 403, "{}", refused.text);
    api.delete("/resources/org.appvia.io/v2beta1/stages/scratch");

    // Clean up: the cluster with the member's token, then the catalog.
    workspace.destroy();
    assert_eq!(
        api.get(&catalog::cluster_path("pay", "payments-dev"))
            .status,
        404
    );
    admin.destroy();
    assert_eq!(
        plan_status(&api),
        404,
        "the catalog is still there after destroy"
    );
}

fn plan_status(api: &wayfinder_acceptance::ApiClient) -> u16 {
    api.get("/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions/1.3.0")
        .status
}

#[test]
fn kubernetes_blocks_are_dropped_whole() {
    let text = "terraform {\n  required_providers {\n    wayfinder = {\n      source = \"wayfinder/wayfinder\"\n    }\n    kubernetes = {\n      source = \"hashicorp/kubernetes\"\n    }\n  }\n}\n\nprovider \"kubernetes\" {\n  host = \"x\"\n}\n\nresource \"kubernetes_namespace\" \"a\" {\n  metadata {\n    name = \"a\"\n  }\n}\n\nephemeral \"wayfinder_cluster_credentials\" \"a\" {\n  cluster = \"c\"\n}\n";
    let out = without_kubernetes(text);
    assert_eq!(
        out,
        "terraform {\n  required_providers {\n    wayfinder = {\n      source = \"wayfinder/wayfinder\"\n    }\n  }\n}\n\n\n\nephemeral \"wayfinder_cluster_credentials\" \"a\" {\n  cluster = \"c\"\n}\n"
    );
}
