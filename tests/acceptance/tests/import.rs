//! Importing existing objects: `terraform import` with each ID form and clear errors for bad
//! ones, `import` blocks by resource identity (Terraform >= 1.12), and
//! `plan -generate-config-out` producing configuration that plans clean (Terraform asks the
//! provider for it from 1.14 on, and writes it from the schema itself before).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wayfinder_acceptance::config::{
    Entry, catalog, catalog_config, identity_import_blocks, import_blocks,
};
use wayfinder_acceptance::support::{
    GENERATE_RESOURCE_CONFIG, IMPORT_BLOCKS, RESOURCE_IDENTITY, cli_version, create_all,
};
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_json_eq, assert_no_crash, require_terraform,
    require_terraform_version,
};

/// A server holding the catalog's objects, created through the API (as if by hand, before
/// Terraform managed them).
fn server_with_catalog() -> (Server, Vec<Entry>) {
    let server = Server::start();
    let entries = catalog();
    let objects: Vec<_> = entries.iter().map(|e| e.object.clone()).collect();
    create_all(&server.client(), &objects);
    (server, entries)
}

fn states(wd: &Workdir, entries: &[Entry]) -> BTreeMap<String, Value> {
    let resources = wd.state_resources();
    entries
        .iter()
        .map(|e| {
            let r = resources
                .iter()
                .find(|r| r["address"] == e.address())
                .unwrap_or_else(|| panic!("{} is not in the state", e.address()));
            (e.address(), r["values"].clone())
        })
        .collect()
}

/// Plans `wd` and checks every resource is imported with no change.
fn assert_noop_imports(wd: &Workdir, entries: &[Entry]) {
    let plan = wd.plan_json(&[]);
    let changes = plan["resource_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(changes.len(), entries.len(), "{plan:#}");
    for c in &changes {
        assert!(
            c["change"]["importing"].is_object(),
            "{} is not imported: {c:#}",
            c["address"]
        );
        assert_eq!(
            c["change"]["actions"],
            json!(["no-op"]),
            "importing {} plans a change: {:#}",
            c["address"],
            c["change"]
        );
    }
}

#[test]
fn terraform_import_takes_each_id_form_and_explains_bad_ones() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    // Two versions of a plan, one published; a dotted access role; cloud access in admin.
    let wd = Workdir::new(&server);
    let setup = format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "admin"
}}

resource "wayfinder_cluster_network_plan" "eks" {{
  name = "eks-standard"

  template {{
    plan     = "eks-standard"
    provider = "aws"

    ipv4 {{
      cidr_blocks {{
        type = "node"
        size = 22
      }}
    }}
  }}
}}

resource "wayfinder_cluster_plan" "v1" {{
  name           = "eks"
  version        = "1.0.0"
  cloud_provider = "EKS"
  publish_state  = "Published"

  cluster {{
    kubernetes_version = "1.31"
  }}

  network {{
    network_plan = wayfinder_cluster_network_plan.eks.name
  }}
}}

resource "wayfinder_cluster_plan" "v2" {{
  name           = "eks"
  version        = "1.1.0"
  cloud_provider = "EKS"
  publish_state  = "Draft"

  cluster {{
    kubernetes_version = "1.32"
  }}

  network {{
    network_plan = wayfinder_cluster_network_plan.eks.name
  }}
}}

resource "wayfinder_global_access_role" "view" {{
  name = "cluster.view"

  access_role_template {{
    cluster_scope = true

    rules {{
      api_groups = [""]
      resources  = ["pods"]
      verbs      = ["get", "list"]
    }}
  }}
}}

resource "wayfinder_cloud_access_config" "aws" {{
  name  = "aws-main"
  cloud = "aws"
  type  = "Kubernetes"

  aws {{
    account = "123456789012"
  }}
}}
"#
    );
    wd.write_config(&setup);
    wd.init();
    wd.apply();
    assert!(
        api.object(
            wayfinder_model::kinds::ALL
                .iter()
                .find(|k| k.kind == "GlobalAccessRole")
                .unwrap(),
            None,
            "cluster.view",
            None
        )
        .is_some(),
        "the dotted name reached the server"
    );

    let imported = Workdir::new(&server);
    imported.write_config(&setup);
    imported.init();
    // Each form: NAME@VERSION, NAME (latest published), a dotted NAME, WORKSPACE/NAME, and
    // NAME of a workspaced kind (the provider's workspace).
    imported.import("wayfinder_cluster_plan.v2", "eks@1.1.0");
    imported.import("wayfinder_cluster_plan.v1", "eks");
    imported.import("wayfinder_global_access_role.view", "cluster.view");
    imported.import("wayfinder_cloud_access_config.aws", "admin/aws-main");
    imported.import("wayfinder_cluster_network_plan.eks", "eks-standard");
    for addr in [
        "wayfinder_cluster_plan.v1",
        "wayfinder_cluster_plan.v2",
        "wayfinder_global_access_role.view",
        "wayfinder_cloud_access_config.aws",
        "wayfinder_cluster_network_plan.eks",
    ] {
        assert_json_eq(
            &imported.resource_values(addr),
            &wd.resource_values(addr),
            &format!("{addr} imported"),
        );
    }
    assert_eq!(
        imported.resource_values("wayfinder_cluster_plan.v1")["version"],
        "1.0.0",
        "NAME imports the latest published version, not the draft"
    );
    imported.plan_is_empty(true);
    let by_name = Workdir::new(&server);
    by_name.write_config(&setup);
    by_name.init();
    by_name.import("wayfinder_cloud_access_config.aws", "aws-main");
    assert_eq!(
        by_name.resource_values("wayfinder_cloud_access_config.aws")["id"],
        "admin/aws-main"
    );

    // Bad IDs: the error says which form is expected.
    for (addr, id, expected) in [
        (
            "wayfinder_cluster_plan.v1",
            "eks@",
            "Expected `NAME@VERSION`",
        ),
        (
            "wayfinder_cluster_plan.v1",
            "team/eks@1.0.0",
            "platform-wide",
        ),
        (
            "wayfinder_cloud_access_config.aws",
            "a/b/c",
            "Expected `WORKSPACE/NAME`",
        ),
        (
            "wayfinder_global_access_role.view",
            "cluster.view@1",
            "have no versions",
        ),
        (
            "wayfinder_cluster_plan.v1",
            "nope",
            "has no published version",
        ),
    ] {
        let fresh = Workdir::new(&server);
        fresh.write_config(&setup);
        fresh.init();
        let out = fresh.try_run(&["import", "-input=false", "-no-color", addr, id]);
        assert_ne!(out.code, 0, "importing {addr} as {id:?} succeeded:\n{out}");
        assert_no_crash(&out);
        // Terraform wraps long diagnostics: compare with whitespace collapsed.
        let text = out
            .combined()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            text.contains(expected),
            "importing {addr} as {id:?} should say {expected:?}:\n{out}"
        );
    }
}

#[test]
fn smoke_import_blocks_by_identity() {
    require_terraform_version!(RESOURCE_IDENTITY);
    let (server, entries) = server_with_catalog();
    let by_id = Workdir::new(&server);
    by_id.write_config(&format!(
        "{}\n{}",
        catalog_config(&entries),
        import_blocks(&entries)
    ));
    by_id.init();
    assert_noop_imports(&by_id, &entries);
    by_id.apply();

    let by_identity = Workdir::new(&server);
    by_identity.write_config(&format!(
        "{}\n{}",
        catalog_config(&entries),
        identity_import_blocks(&entries)
    ));
    by_identity.init();
    assert_noop_imports(&by_identity, &entries);
    by_identity.apply();
    by_identity.plan_is_empty(false);
    by_identity.plan_is_empty(true);
    let a = states(&by_id, &entries);
    let b = states(&by_identity, &entries);
    for e in &entries {
        assert_json_eq(
            &b[&e.address()],
            &a[&e.address()],
            &format!("{} imported by identity against by id", e.address()),
        );
    }
    // The state records each identity.
    let state = by_identity.state_json();
    let resources = state["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for e in &entries {
        let r = resources
            .iter()
            .find(|r| r["address"] == e.address())
            .expect("in the state");
        let identity = &r["identity"];
        assert_eq!(
            identity["name"],
            json!(e.object.metadata().name),
            "{}: {r:#}",
            e.address()
        );
        if let Some(ws) = e.workspace() {
            assert_eq!(identity["workspace"], json!(ws), "{}", e.address());
        }
        if let Some(v) = e.object.version() {
            assert_eq!(identity["version"], json!(v), "{}", e.address());
        }
    }
}

#[test]
fn smoke_generated_configuration_plans_clean() {
    require_terraform_version!(IMPORT_BLOCKS);
    let (server, entries) = server_with_catalog();
    let wd = Workdir::new(&server);
    wd.write_config(&format!(
        "{REQUIRED_PROVIDERS}\nprovider \"wayfinder\" {{\n  workspace = \"admin\"\n}}\n\n{}",
        import_blocks(&entries)
    ));
    wd.init();
    let out = wd.run(&[
        "plan",
        "-input=false",
        "-no-color",
        "-generate-config-out=generated.tf",
    ]);
    assert_no_crash(&out);
    let generated = wd.read_file("generated.tf");
    println!("--- generated.tf ---\n{generated}");
    for e in &entries {
        assert!(
            generated.contains(&format!(
                "resource \"{}\" \"{}\"",
                e.address().split('.').next().unwrap(),
                e.label
            )),
            "{} is not in the generated configuration",
            e.address()
        );
    }
    // Only what configuration may set is written.
    for computed in ["  id ", "  status ", "  token "] {
        assert!(
            !generated.contains(computed),
            "the generated configuration sets a computed attribute ({computed:?}):\n{generated}"
        );
    }
    if GENERATE_RESOURCE_CONFIG.available_for("checking the configuration the provider writes") {
        // Terraform asked the provider (GenerateResourceConfig), which leaves out settings
        // equal to their defaults.
        assert!(
            !generated.contains("store_token = false"),
            "GenerateResourceConfig should leave the default store_token out:\n{generated}"
        );
    } else {
        // Older Terraform (and OpenTofu) writes the configuration from the schema itself,
        // which is what the rest of this test checks.
        assert!(
            generated.contains("store_token = false"),
            "{} writes every optional attribute from the schema:\n{generated}",
            cli_version()
        );
    }
    // The generated configuration plans as no-op imports, applies, and then plans empty.
    assert_noop_imports(&wd, &entries);
    wd.apply();
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);
}
