//! One configuration bootstraps everything: a workspace, an EKS catalog (stage, cloud
//! identity, cloud access, network plan, compute template, published plan) and a cluster
//! built from it, planned and applied in one go against a real server with the real
//! Terraform CLI — then the rest of the loop (empty plans without and with refresh, destroy,
//! check destroyed). The cluster's plan-time preview cannot run while its workspace does not
//! exist: the plan warns on the attribute, naming what is missing, and the cost is unknown
//! until apply.
//!
//! And when what the cluster refers to is never created, the apply fails with the
//! diagnostic that names it.

use std::time::Duration;

use serde_json::Value;
use wayfinder_acceptance::catalog::{cluster_path, cluster_phase, wait_cluster};
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, require_terraform,
};

const CLUSTER: &str = "wayfinder_cluster.etl_qa";

/// The whole platform and a cluster of workspace `dat`, as a platform team writes its first
/// configuration. `plan_ref` is the cluster's `plan` block's `name` expression.
fn bootstrap_config(plan_ref: &str) -> String {
    with_workspace(&catalog_and_cluster(
        plan_ref,
        "wayfinder_workspace.dat.name",
    ))
}

/// `config` with the workspace `dat` created in it too.
fn with_workspace(config: &str) -> String {
    format!(
        r#"{config}
resource "wayfinder_workspace" "dat" {{
  name    = "dat"
  key     = "dat"
  summary = "Data engineering"
}}
"#
    )
}

/// The EKS catalog and a cluster from it in the workspace `workspace_ref` names.
fn catalog_and_cluster(plan_ref: &str, workspace_ref: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "admin"
}}

resource "wayfinder_stage" "qa" {{
  name         = "qa"
  display_name = "QA"
  description  = "Clusters for testing"
}}

resource "wayfinder_cloud_identity" "aws" {{
  name  = "cloudidentity-aws"
  cloud = "aws"
  type  = "AWSIAMRoleForServiceAccount"

  aws {{
    role_arn = "arn:aws:iam::123456789012:role/wayfinder-identity"
  }}
}}

resource "wayfinder_cloud_access_config" "aws_qa" {{
  name  = "aws-qa"
  cloud = "aws"
  type  = "Kubernetes"

  scope {{
    all_workspaces = true
    allowed_stages = [wayfinder_stage.qa.name]
  }}

  aws {{
    account        = "123456789012"
    default_region = "eu-west-2"
  }}

  cloud_identity_ref {{
    cloud = "aws"
    name  = wayfinder_cloud_identity.aws.name
  }}

  permissions {{
    permission = "ClusterManager"
    aws_role   = "arn:aws:iam::123456789012:role/wf-ClusterManager"
  }}
}}

resource "wayfinder_cluster_network_plan" "eks" {{
  name    = "eks-qa"
  summary = "A fixed EKS network"

  template {{
    provider = "aws"

    ipv4 {{
      cidr_blocks {{
        type = "node"
        cidr = "10.40.0.0/22"
      }}
    }}
  }}
}}

resource "wayfinder_compute_template" "eks" {{
  name           = "eks-qa"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "compute"
    machine      = "m6i.large"
    size         = 2
  }}
}}

resource "wayfinder_cluster_plan" "eks" {{
  name           = "eks-qa"
  version        = "1.0.0"
  publish_state  = "Published"
  cloud_provider = "EKS"

  cluster {{
    kubernetes_version = "1.32"
  }}

  network {{
    network_plan = wayfinder_cluster_network_plan.eks.name
  }}

  choices {{
    regions {{
      default = "eu-west-2"
    }}

    compute_templates {{
      default = wayfinder_compute_template.eks.name
    }}
  }}
}}

resource "wayfinder_cluster" "etl_qa" {{
  workspace = {workspace_ref}
  name      = "etl-qa"
  stage     = wayfinder_stage.qa.name

  plan {{
    name    = {plan_ref}
    version = wayfinder_cluster_plan.eks.version
  }}

  timeouts {{
    create = "2m"
    delete = "2m"
  }}

  depends_on = [wayfinder_cloud_access_config.aws_qa]
}}
"#
    )
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `(after, after_unknown)` of `address` in a saved plan.
fn planned(wd: &Workdir, plan_file: &str, address: &str) -> (Value, Value) {
    let shown = wd.run(&["show", "-json", "-no-color", plan_file]);
    let plan: Value = serde_json::from_str(&shown.stdout).expect("plan JSON");
    let change = plan["resource_changes"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["address"] == address))
        .unwrap_or_else(|| panic!("{address} is not in the plan: {shown}"))
        .clone();
    (
        change["change"]["after"].clone(),
        change["change"]["after_unknown"].clone(),
    )
}

#[test]
fn one_configuration_creates_a_workspace_a_catalog_and_a_cluster_in_one_apply() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    let wd = Workdir::new(&server);
    wd.write_config(&bootstrap_config("wayfinder_cluster_plan.eks.name"));
    wd.init();

    // The plan succeeds: the preview cannot run yet, and says what is missing.
    let out = wd.run(&["plan", "-input=false", "-no-color", "-out=boot.tfplan"]);
    assert_no_crash(&out);
    let flat = one_line(&out.combined());
    assert!(
        flat.contains(
            "Warning: Workspace dat does not exist yet: cost and policy preview deferred to apply"
        ),
        "the warning names the missing workspace, not the cluster: {out}"
    );
    assert!(!flat.contains("Cluster dat/etl-qa does not exist"), "{out}");
    assert!(flat.contains("with wayfinder_cluster.etl_qa"), "{out}");
    let (_, unknown) = planned(&wd, "boot.tfplan", CLUSTER);
    assert_eq!(
        unknown["estimated_monthly_cost"], true,
        "the cost is unknown until apply"
    );

    // One apply builds it all; the cluster is admitted in full and priced.
    let out = wd.run(&["apply", "-input=false", "-no-color", "boot.tfplan"]);
    assert_no_crash(&out);
    let state = wd.resource_values(CLUSTER);
    assert_eq!(state["status"]["status"], "Success", "{state}");
    assert!(
        state["estimated_monthly_cost"]["total"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "{state}"
    );
    wait_cluster(&api, "dat", "etl-qa", Duration::from_secs(5), |b| {
        cluster_phase(b) == Some("Success")
    });

    // The rest of the loop.
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);
    // With everything in place the preview runs: no warning left.
    let again = wd.run(&["plan", "-input=false", "-no-color"]);
    assert!(!again.combined().contains("deferred to apply"), "{again}");
    wd.destroy();
    assert_eq!(api.get(&cluster_path("dat", "etl-qa")).status, 404);
    assert_eq!(
        api.get("/resources/org.appvia.io/v2beta1/workspaces/dat")
            .status,
        404
    );
}

#[test]
fn a_reference_nothing_creates_fails_at_apply_naming_what_is_missing() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    let wd = Workdir::new(&server);
    // The cluster names a plan no resource creates.
    wd.write_config(&bootstrap_config("\"eks-missing\""));
    wd.init();
    let out = wd.run(&["plan", "-input=false", "-no-color"]);
    assert_no_crash(&out);
    assert!(
        one_line(&out.combined()).contains("Workspace dat does not exist yet"),
        "{out}"
    );

    let out = wd.try_apply();
    assert_no_crash(&out);
    assert_ne!(out.code, 0, "the apply must fail: {out}");
    let flat = one_line(&out.combined());
    assert!(
        flat.contains("Error: Cluster plan \"eks-missing\" does not exist"),
        "the error names the missing plan: {out}"
    );
    assert!(
        flat.contains("Cluster dat/etl-qa refers to it at spec.plan.name"),
        "{out}"
    );
    assert!(flat.contains("with wayfinder_cluster.etl_qa"), "{out}");
    assert_eq!(api.get(&cluster_path("dat", "etl-qa")).status, 404);
    // Everything else was created; destroy cleans it up.
    wd.destroy();
}

#[test]
fn in_an_existing_workspace_each_missing_catalog_object_is_a_warning_naming_it() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    let made = api.post(
        "/resources/org.appvia.io/v2beta1/workspaces",
        &serde_json::json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "Workspace",
                            "metadata": {"name": "dat"}, "spec": {"key": "dat", "summary": "Data"}}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let wd = Workdir::new(&server);
    wd.write_config(&catalog_and_cluster(
        "wayfinder_cluster_plan.eks.name",
        "\"dat\"",
    ));
    wd.init();
    // The workspace exists: the server's dry run runs and says what else is missing, each
    // a warning on the cluster's attribute that names it.
    let out = wd.run(&["plan", "-input=false", "-no-color"]);
    assert_no_crash(&out);
    let flat = one_line(&out.combined());
    for missing in [
        "Warning: Stage \"qa\" does not exist yet: cost and policy preview deferred to apply",
        "Warning: Cluster plan \"eks-qa\" does not exist yet: cost and policy preview deferred to apply",
    ] {
        assert!(flat.contains(missing), "{missing}\n{out}");
    }
    assert!(!flat.contains("Error:"), "{out}");
    wd.apply();
    let state = wd.resource_values(CLUSTER);
    assert_eq!(state["status"]["status"], "Success", "{state}");
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);
    wd.destroy();
    assert_eq!(api.get(&cluster_path("dat", "etl-qa")).status, 404);
}
