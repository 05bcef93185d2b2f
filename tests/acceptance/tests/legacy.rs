//! Legacy `v2beta1` definitions with the real Terraform CLI, the real provider and a real
//! `wayfinder-server`: our ten legacy plan fixtures (`model/tests/data/legacy/plans`,
//! nine shaped like Wayfinder's example repository, across EKS, AKS and GKE, and one with
//! an AKS spot pool) and a package,
//! compiled as they are by `wayfinder-compile` — each migrated on the way in — into modules
//! that `terraform validate` accepts; the catalog module applied to the server creates
//! exactly what the migration says (spec and the carried `legacy.appvia.io/v2beta1`
//! annotation), plans are then empty, and destroy removes it all.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::json;
use wayfinder_acceptance::support::MOCK_PROVIDERS;
use wayfinder_acceptance::{
    Server, Workdir, assert_json_eq, binary, repo_root, require_terraform_version, strip_nulls,
};
use wayfinder_model::legacy::{self, CARRIED_ANNOTATION};

/// The network plans the legacy plans name, at the current version.
const NETWORK_PLANS: &str = r#"apiVersion: networking.appvia.io/v2beta1
kind: ClusterNetworkPlan
metadata:
  name: eks-fixed
spec:
  summary: A fixed EKS network
  template:
    plan: eks-fixed
    provider: aws
    ipv4:
      cidrBlocks: [{type: node, cidr: 10.10.0.0/16}]
---
apiVersion: networking.appvia.io/v2beta1
kind: ClusterNetworkPlan
metadata:
  name: eks-fixed-zones
spec:
  summary: A fixed EKS network in fixed zones
  template:
    plan: eks-fixed-zones
    provider: aws
    ipv4:
      cidrBlocks: [{type: node, cidr: 10.11.0.0/16}]
---
apiVersion: networking.appvia.io/v2beta1
kind: ClusterNetworkPlan
metadata:
  name: aks-fixed
spec:
  summary: A fixed AKS network
  template:
    plan: aks-fixed
    provider: azure
    ipv4:
      cidrBlocks: [{type: node, cidr: 10.12.0.0/16}]
---
apiVersion: networking.appvia.io/v2beta1
kind: ClusterNetworkPlan
metadata:
  name: gke-fixed
spec:
  summary: A fixed GKE network
  template:
    plan: gke-fixed
    provider: gcp
    ipv4:
      cidrBlocks: [{type: node, cidr: 10.13.0.0/16}]
"#;

fn legacy_dir() -> std::path::PathBuf {
    repo_root().join("model/tests/data/legacy")
}

/// Copies the legacy fixtures the catalog takes (plans, the package) into `input`, with the
/// network plans they name; returns what the model migrates them to.
fn input(input: &Path) -> Vec<legacy::Migration> {
    fs::create_dir_all(input).unwrap();
    fs::write(input.join("network-plans.yaml"), NETWORK_PLANS).unwrap();
    let mut docs = Vec::new();
    let mut files: Vec<_> = fs::read_dir(legacy_dir().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(legacy_dir().join("others/package-external-secrets.yaml"));
    files.sort();
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        fs::write(input.join(f.file_name().unwrap()), &text).unwrap();
        let (_, migrated, errors) =
            wayfinder_model::read_yaml_documents_migrating(&f.display().to_string(), &text);
        assert!(errors.is_empty(), "{errors:?}");
        docs.extend(migrated.into_iter().map(|m| m.migration));
    }
    docs
}

#[test]
fn legacy_definitions_compile_into_modules_that_apply_against_the_server() {
    require_terraform_version!(MOCK_PROVIDERS);
    let server = Server::start();
    let api = server.client();
    for ws in ["dat", "pay"] {
        let r = api.post(
            "/resources/org.appvia.io/v2beta1/workspaces",
            &json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "Workspace",
                    "metadata": {"name": ws}, "spec": {"key": ws, "summary": ws}}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let wd = Workdir::new(&server);
    let docs = input(&wd.path().join("legacy"));
    let run = Command::new(binary("wayfinder-compile"))
        .arg("legacy")
        .arg("--out")
        .arg("modules")
        .current_dir(wd.path())
        .output()
        .expect("running wayfinder-compile");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("(compute.appvia.io/v2beta1) migrated to")
            .count(),
        10,
        "{stderr}"
    );
    assert!(
        stderr.contains("(package.appvia.io/v2beta1) migrated to"),
        "{stderr}"
    );

    // Every self-service module validates.
    let mut validated = 0;
    for e in fs::read_dir(wd.path().join("modules/clusters")).unwrap() {
        let module = e.unwrap().path();
        let m = Workdir::with_provider();
        for f in fs::read_dir(&module).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                fs::copy(&f, m.path().join(f.file_name().unwrap())).unwrap();
            }
        }
        m.init();
        m.run(&["validate", "-no-color"]);
        validated += 1;
    }
    assert_eq!(validated, 10);

    wd.write_config("module \"catalog\" {\n  source = \"./modules/catalog\"\n}\n");
    wd.init();
    wd.apply();
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);
    let mut checked = 0;
    let mut objects = Vec::new();
    for m in docs {
        for o in m.objects {
            let info = o.kind_info();
            let stored = api
                .object(info, None, &o.metadata().name, o.version())
                .unwrap_or_else(|| panic!("{} is not on the server", o.display_name()));
            assert_json_eq(
                &strip_nulls(&stored["spec"]),
                &strip_nulls(&o.spec_json()),
                &format!("{} on the server, against its migration", o.display_name()),
            );
            let carried = o
                .metadata()
                .annotations
                .as_ref()
                .and_then(|a| a.get(CARRIED_ANNOTATION));
            assert_eq!(
                stored["metadata"]["annotations"][CARRIED_ANNOTATION].as_str(),
                carried.map(String::as_str),
                "{}: the carried legacy fields",
                o.display_name()
            );
            checked += 1;
            objects.push(o);
        }
    }
    // Ten plans and their compute templates, a package and its repository.
    assert_eq!(checked, 10 * 2 + 2);
    wd.destroy();
    for o in &objects {
        assert!(
            api.object(o.kind_info(), None, &o.metadata().name, o.version())
                .is_none(),
            "{} is still on the server after destroy",
            o.display_name()
        );
    }
}
