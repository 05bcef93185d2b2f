//! `wayfinder-compile`'s modules with the real Terraform CLI and the real provider:
//!
//! - every module compiled from `examples/definitions/` and from the compiler's golden
//!   inputs passes `terraform fmt -check`, `terraform validate` and `terraform test` (the
//!   generated plan-only tests, against `mock_provider` — whose functions the real provider
//!   still evaluates);
//! - the round trip: the catalog module, applied with an administrator's token to a real
//!   `wayfinder-server`, creates objects equal to the definitions, field by field; plans are
//!   then empty; destroy removes them all.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use wayfinder_acceptance::support::{
    MOCK_PROVIDERS, SELF_SERVICE_MODULES, cli_version, skip_part, skip_test,
};
use wayfinder_acceptance::{
    Server, Workdir, assert_json_eq, binary, repo_root, require_terraform,
    require_terraform_version, strip_nulls,
};
use wayfinder_model::versioned::publish_state;

/// Compiles `input` into `out` with the built `wayfinder-compile`; panics with its output
/// unless it succeeds.
fn compile(input: &Path, out: &Path) {
    let run = Command::new(binary("wayfinder-compile"))
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .expect("running wayfinder-compile");
    assert!(
        run.status.success(),
        "wayfinder-compile {} failed ({}):\n{}{}",
        input.display(),
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The module directories under a compiled output: `catalog/`, then `clusters/*/`.
fn modules(out: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![out.join("catalog")];
    let mut clusters: Vec<PathBuf> = fs::read_dir(out.join("clusters"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    clusters.sort();
    dirs.extend(clusters);
    dirs
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("creating a directory");
    for e in fs::read_dir(from).expect("reading a module").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).expect("copying a module file");
        }
    }
}

/// `fmt -check`, `init`, `validate` and `test` on every module compiled from `input` that
/// the Terraform in use can run. Returns how many were checked, and why each other one was
/// left out.
fn check_modules(input: &Path) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut left_out = Vec::new();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out");
    compile(input, &out);
    let found = modules(&out);
    assert!(found.len() > 1 || input.ends_with("input"), "{found:?}");
    for module in found {
        let name = module
            .strip_prefix(&out)
            .unwrap_or(&module)
            .display()
            .to_string();
        // The catalog's tests use mock_provider (1.7); a self-service module calls a provider
        // function (1.8) and validates variables against one another (1.9).
        let feature = if name == "catalog" {
            MOCK_PROVIDERS
        } else {
            SELF_SERVICE_MODULES
        };
        if !feature.supported() {
            left_out.push(feature.missing(&cli_version(), &format!("the module {name}")));
            continue;
        }
        let wd = Workdir::with_provider();
        copy_dir(&module, wd.path());
        wd.run(&["fmt", "-check", "-diff", "-recursive", "-no-color"]);
        wd.init();
        wd.run(&["validate", "-no-color"]);
        let test = wd.run(&["test", "-no-color"]);
        let summary = test
            .stdout
            .lines()
            .find(|l| l.starts_with("Success!"))
            .unwrap_or_else(|| panic!("{name}: no summary line in\n{test}"));
        assert!(
            summary.contains(" 0 failed") && !summary.starts_with("Success! 0 passed"),
            "{name}: {summary}\n{test}"
        );
        println!("{name}: {summary}");
        checked += 1;
    }
    (checked, left_out)
}

/// Reports what [`check_modules`] left out: the whole test as skipped when it checked no
/// module at all, else each module left out as a skipped part.
fn report_left_out(checked: usize, left_out: &[String]) {
    let left_out: std::collections::BTreeSet<&String> = left_out.iter().collect();
    if checked == 0 {
        assert!(!left_out.is_empty(), "no module was compiled");
        skip_test(&format!(
            "every compiled module needs a newer CLI: {}",
            left_out.into_iter().cloned().collect::<Vec<_>>().join("; ")
        ));
    } else {
        for why in left_out {
            skip_part(why);
        }
    }
}

#[test]
fn the_example_modules_pass_fmt_validate_and_test() {
    require_terraform!();
    let (checked, left_out) = check_modules(&repo_root().join("examples/definitions"));
    report_left_out(checked, &left_out);
}

#[test]
fn the_golden_modules_pass_fmt_validate_and_test() {
    require_terraform!();
    let golden = repo_root().join("compiler/tests/golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(&golden)
        .expect("compiler/tests/golden")
        .flatten()
        .map(|e| e.path().join("input"))
        // The examples case is the examples, checked above.
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "{cases:?}");
    let (mut checked, mut left_out) = (0, Vec::new());
    for case in cases {
        let (n, why) = check_modules(&case);
        checked += n;
        left_out.extend(why);
    }
    report_left_out(checked, &left_out);
}

/// The example definitions, as the model reads them.
fn example_objects() -> Vec<wayfinder_model::Object> {
    objects_in(&repo_root().join("examples/definitions"))
}

/// Every definition in `dir` and its subdirectories, as the model reads them (legacy
/// `v2beta1` ones migrated to what they become), in file order. Directories named `invalid`
/// hold bad input on purpose and are left out.
fn objects_in(dir: &Path) -> Vec<wayfinder_model::Object> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir)
            .expect("a definitions directory")
            .flatten()
        {
            let p = e.path();
            if p.is_dir() && p.file_name().is_some_and(|n| n == "invalid") {
                continue;
            } else if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("reading a definition");
        let (docs, migrated, errors) =
            wayfinder_model::read_yaml_documents_migrating(&file.to_string_lossy(), &text);
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        objects.extend(docs.into_iter().map(|d| d.object));
        objects.extend(migrated.into_iter().flat_map(|m| m.migration.objects));
    }
    objects
}

fn workspace_of(o: &wayfinder_model::Object) -> Option<String> {
    match o.kind_info().scope {
        wayfinder_model::Scope::Platform => None,
        wayfinder_model::Scope::Workspace => Some(
            o.metadata()
                .namespace
                .as_deref()
                .and_then(|n| n.strip_prefix("ws-"))
                .unwrap_or("admin")
                .to_string(),
        ),
    }
}

#[test]
fn the_catalog_module_publishes_exactly_the_definitions() {
    // The catalog module's own tests use mock_provider.
    require_terraform_version!(MOCK_PROVIDERS);
    let definitions = example_objects();
    assert!(definitions.len() > 20, "{} definitions", definitions.len());
    catalog_round_trip(
        &repo_root().join("examples/definitions"),
        definitions,
        "eks-general-purpose@1.3.0",
    );
}

#[test]
fn the_wayfinder_shaped_repositorys_catalog_applies_and_publishes_every_definition_it_holds() {
    require_terraform_version!(MOCK_PROVIDERS);
    // Everything but the access token, which the compiler skips.
    let definitions: Vec<_> = objects_in(&wayfinder_repo())
        .into_iter()
        .filter(|o| o.kind_info().kind != "AccessToken")
        .collect();
    assert!(definitions.len() > 40, "{} definitions", definitions.len());
    catalog_round_trip(&wayfinder_repo(), definitions, "eks-standard@1.2.0");
}

/// Compiles `input`, applies its catalog module to a real server, checks that the server
/// holds exactly `definitions` (field by field), that plans are then empty, and that destroy
/// removes them all.
fn catalog_round_trip(input: &Path, definitions: Vec<wayfinder_model::Object>, a_plan: &str) {
    let server = Server::start();
    let api = server.client();
    let wd = Workdir::new(&server);
    compile(input, &wd.path().join("modules"));
    wd.write_config(
        r#"module "catalog" {
  source = "./modules/catalog"
}

output "cluster_plan_ids" {
  value = module.catalog.cluster_plan_ids
}
"#,
    );
    wd.init();
    wd.apply();
    // What was applied is what the definitions say: nothing left to change, refreshed or not.
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    for d in &definitions {
        let info = d.kind_info();
        let ws = workspace_of(d);
        let name = &d.metadata().name;
        let version = d.version();
        let what = match version {
            Some(v) => format!("{} version {v}", d.display_name()),
            None => d.display_name(),
        };
        let stored = api
            .object(info, ws.as_deref(), name, version)
            .unwrap_or_else(|| panic!("{what} is not on the server after apply"));
        assert_json_eq(
            &strip_nulls(&stored["spec"]),
            &strip_nulls(&d.spec_json()),
            &format!("{what} on the server, against its definition"),
        );
        assert_eq!(stored["metadata"]["name"], json!(name), "{what}");
        // Its labels too (`labels` in the module), but those the server owns.
        let owned = info.server_labels();
        let stored_labels: std::collections::BTreeMap<String, String> =
            serde_json::from_value(stored["metadata"]["labels"].clone()).unwrap_or_default();
        let stored_labels: std::collections::BTreeMap<String, String> = stored_labels
            .into_iter()
            .filter(|(k, _)| !owned.contains(&k.as_str()))
            .collect();
        assert_eq!(
            stored_labels,
            d.metadata().labels.clone().unwrap_or_default(),
            "{what}: labels on the server"
        );
        if info.versioned {
            let want = publish_state(d.metadata()).expect("a valid publish state");
            let meta: wayfinder_model::ObjectMeta =
                serde_json::from_value(stored["metadata"].clone()).expect("metadata");
            assert_eq!(
                publish_state(&meta).ok(),
                Some(want),
                "{what}: publish state on the server"
            );
        }
    }
    let ids = wd.outputs()["cluster_plan_ids"]["value"].clone();
    assert_eq!(
        ids.as_object().map(|m| m.len()),
        Some(
            definitions
                .iter()
                .filter(|d| d.kind_info().kind == "ClusterPlan")
                .count()
        ),
        "{ids}"
    );
    assert!(ids.get(a_plan).is_some(), "{ids}");

    wd.destroy();
    for d in &definitions {
        let gone = api
            .object(
                d.kind_info(),
                workspace_of(d).as_deref(),
                &d.metadata().name,
                d.version(),
            )
            .is_none();
        assert!(
            gone,
            "{} is still on the server after destroy",
            d.display_name()
        );
    }
}

/// `examples/wayfinder-repo`: our own repository of the shapes and kinds of Wayfinder's
/// published ones.
fn wayfinder_repo() -> PathBuf {
    repo_root().join("examples/wayfinder-repo")
}

#[test]
fn the_wayfinder_shaped_repository_compiles_into_modules_that_pass_fmt_validate_and_test() {
    require_terraform!();
    let (checked, left_out) = check_modules(&wayfinder_repo());
    report_left_out(checked, &left_out);
}

#[test]
fn every_document_of_the_wayfinder_shaped_repository_is_admitted_by_a_real_server() {
    let objects = objects_in(&wayfinder_repo());
    let kinds: std::collections::BTreeSet<&str> =
        objects.iter().map(|o| o.kind_info().kind).collect();
    // Every kind of the model, but a Cluster (a workspace's, not an administrator's).
    assert_eq!(
        kinds.len(),
        wayfinder_model::kinds::ALL.len() - 1,
        "kinds in the repository: {kinds:?}"
    );
    for cloud in ["aws", "azure", "gcp"] {
        assert!(
            objects.iter().any(|o| matches!(o, wayfinder_model::Object::CloudAccessConfig(c) if c.spec.cloud == cloud)),
            "no cloud access for {cloud}"
        );
    }
    let server = Server::start();
    // Panics naming any document the server refuses.
    wayfinder_acceptance::support::create_all(&server.client(), &objects);
    let api = server.client();
    for o in &objects {
        assert!(
            api.object(
                o.kind_info(),
                workspace_of(o).as_deref(),
                &o.metadata().name,
                o.version()
            )
            .is_some(),
            "{} is not on the server",
            o.display_name()
        );
    }
}

#[test]
fn the_server_and_the_compiler_agree_on_every_plan() {
    // Every plan fixture, and plans the model refuses, each through the compiler (alone: its
    // references are looked up on the server) and a real server's dry run.
    let mut plans: Vec<(String, wayfinder_model::Object)> = Vec::new();
    for dir in [
        repo_root().join("examples/definitions"),
        wayfinder_repo(),
        repo_root().join("model/tests/data"),
    ] {
        for o in objects_in(&dir) {
            if o.kind_info().kind == "ClusterPlan" {
                plans.push((format!("{}: {}", dir.display(), o.display_name()), o));
            }
        }
    }
    assert!(plans.len() >= 8, "{} plans", plans.len());
    let base = plans
        .iter()
        .find(|(_, o)| o.metadata().name == "eks-standard")
        .map(|(_, o)| o.to_json())
        .expect("eks-standard in the repository");
    for (what, choices) in [
        (
            "choices leaving clusters no node pools",
            json!({"regions": {"default": "eu-west-2"}}),
        ),
        (
            "templates offered without a default",
            json!({"computeTemplates": {"allowed": ["eks-general"]}}),
        ),
        (
            "a default not among the allowed templates",
            json!({"computeTemplates": {"default": "x", "allowed": ["eks-general"]}}),
        ),
    ] {
        let mut v = base.clone();
        v["spec"]["choices"] = choices;
        let o = wayfinder_model::parse::object_from_value(what, 0, v).expect("a plan");
        plans.push((what.to_string(), o));
    }
    let server = Server::start();
    let api = server.client();
    let mut verdicts = Vec::new();
    for (what, plan) in &plans {
        let yaml = serde_json::to_string(&plan.to_json()).expect("JSON");
        let compiled = wayfinder_compiler::compile(
            &[wayfinder_compiler::Source::new("plan.json", yaml)],
            &wayfinder_compiler::CompileOptions::default(),
        );
        let path = format!(
            "{}?dryRun=All",
            wayfinder_acceptance::support::collection_path(plan.kind_info(), None)
        );
        let resp = api.post(&path, &wayfinder_acceptance::config::api_body(plan));
        let admitted = (200..300).contains(&resp.status);
        assert_eq!(
            compiled.is_ok(),
            admitted,
            "{what}: the compiler says {:?}; the server answers {} {}",
            compiled.as_ref().err(),
            resp.status,
            resp.text
        );
        verdicts.push(admitted);
    }
    // Both verdicts occur.
    assert!(verdicts.iter().any(|a| *a) && verdicts.iter().any(|a| !*a));

    // Plans without choices (every plan of the Wayfinder-shaped repository): the regions a
    // cluster may choose. The compiled module's `region` check and a real server's dry run
    // of a cluster in each candidate region agree, region by region. Provisioning policies
    // are left out, so the plan's verdict is the only one on the region.
    let catalog: Vec<wayfinder_model::Object> = objects_in(&wayfinder_repo())
        .into_iter()
        .filter(|o| o.kind_info().kind != "ProvisioningPolicy")
        .collect();
    wayfinder_acceptance::support::create_all(&api, &catalog);
    let sources: Vec<wayfinder_compiler::Source> = catalog
        .iter()
        .enumerate()
        .map(|(i, o)| {
            wayfinder_compiler::Source::new(
                format!("def-{i}.json"),
                serde_json::to_string(&o.to_json()).expect("JSON"),
            )
        })
        .collect();
    let compiled =
        wayfinder_compiler::compile(&sources, &wayfinder_compiler::CompileOptions::default())
            .unwrap_or_else(|e| panic!("the repository compiles: {e:?}"));
    let mut checked = 0;
    for (plan, template, cloud, stray) in [
        ("eks-standard", "eks-general", "EKS", "westeurope"),
        ("aks-hardened", "aks-general", "AKS", "eu-west-2"),
        ("gke-playground", "gke-general", "GKE", "westeurope"),
    ] {
        let Some(wayfinder_model::Object::ClusterPlan(p)) = catalog
            .iter()
            .find(|o| o.kind_info().kind == "ClusterPlan" && o.metadata().name == plan)
        else {
            panic!("{plan} in the repository");
        };
        assert!(p.spec.choices.is_none(), "{plan} has no choices");
        let variables = compiled
            .module
            .get(&format!("clusters/{plan}/variables.tf"))
            .unwrap_or_else(|| panic!("{plan}'s module"));
        // `contains(["a", "b", ...], var.region)` in the region's validation.
        let listed: Vec<String> = variables
            .split("contains([")
            .filter_map(|rest| rest.split_once("], var.region)"))
            .map(|(list, _)| {
                list.split(", ")
                    .map(|r| r.trim_matches('"').to_string())
                    .collect()
            })
            .next()
            .unwrap_or_else(|| panic!("{plan}: no region check in\n{variables}"));
        assert_eq!(
            listed,
            wayfinder_model::cost::public_regions(cloud),
            "{plan}"
        );
        let mut candidates = listed.clone();
        candidates.extend([stray.to_string(), "xx-nowhere-1".to_string()]);
        for region in candidates {
            let cluster = json!({
                "apiVersion": "compute.appvia.io/v2beta2",
                "kind": "Cluster",
                "metadata": {"name": "probe"},
                "spec": {
                    "plan": {"name": plan, "version": p.spec.version},
                    "stage": "nonprod",
                    "region": region,
                    "computeTemplate": template,
                },
            });
            let path = format!(
                "{}?dryRun=All",
                wayfinder_acceptance::support::collection_path(
                    &wayfinder_model::kinds::CLUSTER,
                    Some("demo")
                )
            );
            let resp = api.post(&path, &cluster);
            let admitted = (200..300).contains(&resp.status);
            assert_eq!(
                listed.contains(&region),
                admitted,
                "{plan} in {region}: the module lists {}; the server answers {} {}",
                if listed.contains(&region) {
                    "it"
                } else {
                    "it not"
                },
                resp.status,
                resp.text
            );
            if !admitted {
                assert!(
                    resp.text.contains("spec.region")
                        && resp.text.contains("is not a public region"),
                    "{plan} in {region}: {}",
                    resp.text
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 130, "{checked} regions checked");
}

#[test]
fn a_module_referring_to_an_assignable_network_on_the_server_looks_it_up_and_applies() {
    require_terraform_version!(MOCK_PROVIDERS);
    let server = Server::start();
    let api = server.client();
    // The assignable network lives on the server only.
    let on_server: Vec<_> = objects_in(&wayfinder_repo().join("assignablenetworks"))
        .into_iter()
        .filter(|o| o.metadata().name == "aws-nonprod")
        .collect();
    wayfinder_acceptance::support::create_all(&api, &on_server);
    let wd = Workdir::new(&server);
    let defs = wd.path().join("defs");
    fs::create_dir_all(&defs).expect("defs");
    fs::write(
        defs.join("network.yaml"),
        "apiVersion: networking.appvia.io/v2beta1\nkind: ClusterNetworkPlan\nmetadata:\n  name: eks-shared\nspec:\n  summary: Allocated from a range the platform already has\n  assignableNetworks: [aws-nonprod]\n  template:\n    plan: eks-shared\n    provider: aws\n    ipv4:\n      cidrBlocks:\n      - type: node\n        size: 24\n",
    )
    .expect("writing a definition");
    let run = Command::new(binary("wayfinder-compile"))
        .arg(&defs)
        .arg("--out")
        .arg(wd.path().join("modules"))
        .output()
        .expect("running wayfinder-compile");
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{said}");
    assert!(
        said.contains("warning: assignable network \"aws-nonprod\" (in workspace admin) is not among the definitions: it will be looked up on the server (data.wayfinder_assignable_network.aws_nonprod)"),
        "{said}"
    );
    let main = fs::read_to_string(wd.path().join("modules/catalog/main.tf")).expect("main.tf");
    assert!(
        main.contains("assignable_networks = [data.wayfinder_assignable_network.aws_nonprod.name]"),
        "{main}"
    );
    wd.write_config("module \"catalog\" {\n  source = \"./modules/catalog\"\n}\n");
    wd.init();
    wd.apply();
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);
    let plan = api
        .object(
            &wayfinder_model::kinds::CLUSTER_NETWORK_PLAN,
            None,
            "eks-shared",
            None,
        )
        .expect("the network plan on the server");
    assert_eq!(plan["spec"]["assignableNetworks"], json!(["aws-nonprod"]));
    wd.destroy();
    assert!(
        api.object(
            &wayfinder_model::kinds::CLUSTER_NETWORK_PLAN,
            None,
            "eks-shared",
            None
        )
        .is_none()
    );
    // What was only looked up is left alone.
    assert!(
        api.object(
            &wayfinder_model::kinds::ASSIGNABLE_NETWORK,
            Some("admin"),
            "aws-nonprod",
            None
        )
        .is_some()
    );
}

#[test]
fn a_cluster_from_a_plan_without_choices_picks_a_template_of_its_provider_and_its_own_pools() {
    require_terraform_version!(SELF_SERVICE_MODULES);
    let server = Server::start();
    let api = server.client();
    let wd = Workdir::new(&server);
    compile(&wayfinder_repo(), &wd.path().join("modules"));
    let catalog = "module \"catalog\" {\n  source = \"./modules/catalog\"\n}\n";
    wd.write_config(catalog);
    wd.init();
    wd.apply();
    // eks-standard has no spec.choices: Wayfinder's behaviour. The cluster names one of the
    // EKS templates and adds a pool of its own, within the nonprod provisioning policy.
    let cluster = |template: &str, machine: &str| {
        format!(
            "{catalog}\nmodule \"cluster\" {{\n  source = \"./modules/clusters/eks-standard\"\n\n  name             = \"etl\"\n  workspace        = \"demo\"\n  stage            = \"nonprod\"\n  compute_template = \"{template}\"\n  node_pools = [\n    {{ logical_name = \"extra\", machine = \"{machine}\", size = 1 }},\n  ]\n}}\n"
        )
    };
    wd.write_config(&cluster("eks-spot", "m5.large"));
    wd.init();
    wd.apply();
    wd.plan_is_empty(false);
    let stored = api
        .get(&wayfinder_acceptance::catalog::cluster_path("demo", "etl"))
        .body;
    assert_eq!(
        stored["spec"]["computeTemplate"],
        json!("eks-spot"),
        "{stored}"
    );
    assert_eq!(
        stored["spec"]["nodePools"][0]["machine"],
        json!("m5.large"),
        "{stored}"
    );
    assert_eq!(
        wayfinder_acceptance::catalog::cluster_phase(Some(&stored)),
        Some("Success"),
        "{stored}"
    );
    // A template of another provider, and a machine the policy does not allow: refused at
    // plan by the module, as the server would.
    wd.write_config(&cluster("gke-general", "m5.large"));
    let out = wd.try_run(&["plan", "-no-color"]);
    assert_ne!(out.code, 0, "{}", out.combined());
    assert!(
        out.combined()
            .contains("offers compute templates eks-general, eks-spot"),
        "{}",
        out.combined()
    );
    wd.write_config(&cluster("eks-general", "r5.24xlarge"));
    let out = wd.try_run(&["plan", "-no-color"]);
    assert_ne!(out.code, 0, "{}", out.combined());
    assert!(out.combined().contains("r5.24xlarge"), "{}", out.combined());
    // The cluster may choose its region: any public region of AWS the policy allows.
    let in_region = |region: &str| {
        cluster("eks-spot", "m5.large").replace(
            "  compute_template",
            &format!("  region           = \"{region}\"\n  compute_template"),
        )
    };
    wd.write_config(&in_region("us-east-9"));
    let out = wd.try_run(&["plan", "-no-color"]);
    assert_ne!(out.code, 0, "{}", out.combined());
    assert!(
        out.combined()
            .contains("Cluster plan eks-standard offers any public region of aws"),
        "{}",
        out.combined()
    );
    wd.write_config(&in_region("ap-south-1"));
    let out = wd.try_run(&["plan", "-no-color"]);
    assert_ne!(out.code, 0, "{}", out.combined());
    assert!(
        out.combined()
            .contains("Region \"ap-south-1\" is not allowed"),
        "{}",
        out.combined()
    );
    wd.write_config(&in_region("us-east-2"));
    wd.apply();
    wd.plan_is_empty(false);
    let stored = api
        .get(&wayfinder_acceptance::catalog::cluster_path("demo", "etl"))
        .body;
    assert_eq!(stored["spec"]["region"], json!("us-east-2"), "{stored}");
    // The cluster goes first (the server refuses deleting what it depends on), then the
    // catalog.
    wd.write_config(catalog);
    wd.apply();
    wd.destroy();
    assert_eq!(
        api.get(&wayfinder_acceptance::catalog::cluster_path("demo", "etl"))
            .status,
        404
    );
}
