//! `wayfinder_cluster` through the real Terraform CLI and a real server whose simulated
//! cloud builds clusters: the acceptance loop (the plan shows the cost, apply waits for
//! `Success`, empty plans with and without refresh, import and verify, update waits for the
//! new generation, destroy waits until gone), every planned known value against the applied
//! one, a failure that taints and a clean retry, a policy violation at plan on the right
//! line with nothing created, a network the cluster could not get, and a plan name known
//! only after apply.
//!
//! The platform (plan, template, network, cloud access) is published through the REST API
//! here: these tests are about the cluster. `scenario.rs` publishes it with Terraform.

use std::time::Duration;

use serde_json::{Value, json};
use wayfinder_acceptance::catalog::{
    self, cluster_path, cluster_phase, fixture, publish_platform, wait_cluster,
};
use wayfinder_acceptance::{
    ApiClient, PlannedChange, REQUIRED_PROVIDERS, Server, Workdir, assert_json_eq, assert_no_crash,
    require_terraform,
};

const ADDR: &str = "wayfinder_cluster.dev";

/// A cluster of plan `eks-general-purpose` 1.3.0 in workspace `pay` (the provider's), its
/// `compute` pool replacing the template's; `extra` goes inside the resource block.
fn cluster_config(machine: &str, max_size: i64, extra: &str) -> String {
    let blocks = catalog::cluster_blocks(machine, max_size, 22);
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "pay"
}}

resource "wayfinder_cluster" "dev" {{
  name        = "payments-dev"
  description = "Payments development"
  stage       = "nonprod"
  region      = "eu-west-2"

{blocks}
{extra}
  timeouts {{
    create = "2m"
    update = "2m"
    delete = "2m"
  }}
}}

output "cost" {{
  value = wayfinder_cluster.dev.estimated_monthly_cost
}}
"#
    )
}

fn actions_of(changes: &[PlannedChange], address: &str) -> Vec<String> {
    changes
        .iter()
        .find(|c| c.address == address)
        .map(|c| c.actions.clone())
        .unwrap_or_default()
}

fn server_cluster(api: &ApiClient) -> Option<Value> {
    let resp = api.get(&cluster_path("pay", "payments-dev"));
    match resp.status {
        200 => Some(resp.body),
        404 => None,
        other => panic!("GET cluster: {other}: {}", resp.text),
    }
}

/// The planned values of `address` in a saved plan, and which of them are unknown.
fn planned(wd: &Workdir, plan_file: &str, address: &str) -> (Value, Value) {
    let shown = wd.run(&["show", "-json", "-no-color", plan_file]);
    let plan: Value = serde_json::from_str(&shown.stdout).expect("plan JSON");
    let change = plan["resource_changes"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["address"] == address))
        .unwrap_or_else(|| panic!("{address} is not in the plan: {plan}"))["change"]
        .clone();
    (change["after"].clone(), change["after_unknown"].clone())
}

/// Asserts every value the plan knew is the value the apply produced: what Terraform
/// itself checks ("Provider produced inconsistent result after apply"), spelled out.
#[track_caller]
fn assert_planned_values_survive(after: &Value, unknown: &Value, applied: &Value, path: &str) {
    if unknown == &Value::Bool(true) {
        return;
    }
    match (after, applied) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                assert_planned_values_survive(
                    v,
                    &unknown[k.as_str()],
                    b.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                );
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(
                a.len(),
                b.len(),
                "{path}: planned {after}, applied {applied}"
            );
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_planned_values_survive(x, &unknown[i], y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            assert_eq!(x.as_f64(), y.as_f64(), "{path}: planned {x}, applied {y}")
        }
        _ => assert_eq!(after, applied, "{path}: planned {after}, applied {applied}"),
    }
}

/// Plans into a file, applies exactly that plan, and checks every planned known value.
/// Returns the planned values.
fn plan_apply_and_compare(wd: &Workdir) -> Value {
    wd.run(&["plan", "-input=false", "-no-color", "-out=step.tfplan"]);
    let (after, unknown) = planned(wd, "step.tfplan", ADDR);
    let out = wd.run(&["apply", "-input=false", "-no-color", "step.tfplan"]);
    assert_no_crash(&out);
    let applied = wd.resource_values(ADDR);
    assert_planned_values_survive(&after, &unknown, &applied, ADDR);
    after
}

fn line_of(config: &str, needle: &str) -> usize {
    config
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the configuration"))
        + 1
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn cluster_lifecycle() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);

    // Step 1: create. The plan knows the cost; apply waits until the cluster is built.
    let wd = Workdir::new(&server);
    wd.write_config(&cluster_config("m6i.large", 4, ""));
    wd.init();
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(actions_of(&changes, ADDR), ["create"], "{text}");
    assert!(
        text.contains("estimated_monthly_cost") && text.contains("currency   = \"USD\""),
        "the cost is shown in the plan: {text}"
    );
    let planned_v1 = plan_apply_and_compare(&wd);
    let cost_v1 = planned_v1["estimated_monthly_cost"].clone();
    assert!(cost_v1["total"].as_f64().unwrap() > 0.0, "{cost_v1}");

    let object = server_cluster(&api).expect("the cluster exists");
    assert_eq!(
        cluster_phase(Some(&object)),
        Some("Success"),
        "apply returned only once built: {object}"
    );
    let state = wd.resource_values(ADDR);
    assert_eq!(state["id"], "pay/payments-dev");
    assert_eq!(state["workspace"], "pay");
    assert_eq!(state["status"]["status"], "Success");
    assert_eq!(state["status"]["last_reconcile"]["generation"], 1);
    assert_eq!(state["endpoint"], object["status"]["endpoint"]);
    assert!(state["endpoint"].as_str().unwrap().starts_with("https://"));
    // The plan's cost is the server's estimate of the stored cluster, to the cent.
    let estimate = &object["status"]["estimate"];
    assert_eq!(
        cost_v1["total"].as_f64(),
        estimate["totalMonthlyUSD"].as_f64()
    );
    assert_eq!(
        cost_v1["node_pools"]["compute"].as_f64(),
        estimate["pools"][0]["monthlyUSD"].as_f64(),
        "{estimate}"
    );
    assert_eq!(wd.outputs()["cost"]["value"], cost_v1);
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Import into a fresh working directory (ID workspace/name) and verify every
    // attribute but `timeouts`, which only Terraform holds.
    let imported = Workdir::new(&server);
    imported.write_config(&cluster_config("m6i.large", 4, ""));
    imported.init();
    imported.import(ADDR, "pay/payments-dev");
    let mut got = imported.resource_values(ADDR);
    let mut want = wd.resource_values(ADDR);
    got.as_object_mut().unwrap().remove("timeouts");
    want.as_object_mut().unwrap().remove("timeouts");
    assert_json_eq(&got, &want, "the imported state");

    // Step 2: update in place. The plan shows the new cost; apply waits for generation 2.
    wd.write_config(&cluster_config("m6i.large", 6, ""));
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(actions_of(&changes, ADDR), ["update"], "{text}");
    let planned_v2 = plan_apply_and_compare(&wd);
    let cost_v2 = &planned_v2["estimated_monthly_cost"];
    assert!(
        cost_v2["total"].as_f64() > cost_v1["total"].as_f64(),
        "six nodes cost more than four: {cost_v1} → {cost_v2}"
    );
    let object = server_cluster(&api).unwrap();
    assert_eq!(object["metadata"]["generation"], 2);
    assert_eq!(object["spec"]["nodePools"][0]["autoscaling"]["maxSize"], 6);
    let state = wd.resource_values(ADDR);
    assert_eq!(state["status"]["status"], "Success");
    assert_eq!(
        state["status"]["last_reconcile"]["generation"], 2,
        "applied only once generation 2 was built"
    );
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Step 3: destroy waits until the cluster is gone.
    let out = wd.destroy();
    assert_no_crash(&out);
    assert!(
        server_cluster(&api).is_none(),
        "destroy returned before the cluster was gone"
    );
}

#[test]
fn a_failed_cluster_is_tainted_and_a_clean_retry_replaces_it() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);
    let failing = r#"
  cluster_labels = {
    "wayfinder.dev/simulate" = "fail"
  }
"#;
    let wd = Workdir::new(&server);
    wd.write_config(&cluster_config("m6i.large", 4, failing));
    wd.init();
    let out = wd.try_apply();
    assert_ne!(out.code, 0, "{out}");
    assert_no_crash(&out);
    let text = one_line(&out.combined());
    assert!(text.contains("Cluster pay/payments-dev failed"), "{out}");
    assert!(
        text.contains("SimulatedFailure: the simulated cloud was told to fail this cluster"),
        "the server's reason is shown: {out}"
    );
    // The object exists (Failure) and is in the state, tainted.
    let object = server_cluster(&api).expect("the failed cluster stays on the server");
    assert_eq!(cluster_phase(Some(&object)), Some("Failure"));
    let state = wd.state_json();
    let resource = state["values"]["root_module"]["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["address"] == ADDR))
        .unwrap_or_else(|| panic!("the failed cluster is not in the state: {state}"))
        .clone();
    assert_eq!(resource["tainted"], true, "{resource}");
    assert_eq!(resource["values"]["status"]["status"], "Failure");

    // Without the label, the plan replaces the tainted cluster and the apply succeeds.
    wd.write_config(&cluster_config("m6i.large", 4, ""));
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(actions_of(&changes, ADDR), ["delete", "create"], "{text}");
    let out = wd.apply();
    assert_no_crash(&out);
    let object = server_cluster(&api).unwrap();
    assert_eq!(cluster_phase(Some(&object)), Some("Success"), "{object}");
    assert!(object["spec"].get("clusterLabels").is_none(), "{object}");
    assert_eq!(wd.resource_values(ADDR)["status"]["status"], "Success");
    wd.plan_is_empty(true);
    wd.destroy();
    assert!(server_cluster(&api).is_none());
}

/// In the smoke subset: the cluster's plan-time preview (the server's dry run with policy
/// and cost) as Terraform diagnostics on the right lines.
#[test]
fn smoke_a_policy_violation_fails_the_plan_on_its_line_and_creates_nothing() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);
    // nonprod-aws: instance types m6i.large (up to 10 nodes) and t3.medium only, at most
    // 1500 USD a month per cluster. The plan itself allows m6i.large and m6i.xlarge.
    catalog::create(
        &api,
        &fixture("provisioning_policy.yaml", "nonprod-aws"),
        None,
    );

    let wd = Workdir::new(&server);
    let config = cluster_config("m6i.xlarge", 4, "");
    wd.write_config(&config);
    wd.init();
    let out = wd.plan_expect_error("Policy violation at node_pools[0].machine");
    assert_no_crash(&out);
    let text = out.combined();
    let line = line_of(&config, "machine      = \"m6i.xlarge\"");
    assert!(
        text.contains(&format!("on main.tf line {line}")),
        "the diagnostic is on the machine's line ({line}): {out}"
    );
    let flat = one_line(&text);
    assert!(
        flat.contains("Policy: nonprod-aws"),
        "names the policy: {out}"
    );
    assert!(flat.contains("Limit:"), "names the limit: {out}");
    assert!(server_cluster(&api).is_none(), "nothing was created");

    // More nodes than the plan allows per pool: the diagnostic is on max_size.
    let config = cluster_config("m6i.large", 12, "");
    wd.write_config(&config);
    let out = wd.plan_expect_error("Error:");
    let text = out.combined();
    let line = line_of(&config, "max_size = 12");
    assert!(
        text.contains(&format!("on main.tf line {line}")),
        "the diagnostic is on max_size's line ({line}): {out}"
    );
    assert!(server_cluster(&api).is_none(), "nothing was created");
}

#[test]
fn plan_version_and_network_problems_are_explained() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);

    // A version that does not exist: the same apply could create it, so the plan warns on
    // the attribute, naming the version and listing the published ones; the apply fails
    // with the same diagnostic as an error when nothing creates it.
    let wd = Workdir::new(&server);
    let config = cluster_config("m6i.large", 4, "").replace("\"1.3.0\"", "\"1.9.0\"");
    wd.write_config(&config);
    wd.init();
    let out = wd.run(&["plan", "-input=false", "-no-color"]);
    let flat = one_line(&out.combined());
    assert!(
        flat.contains("Warning: Cluster plan eks-general-purpose version \"1.9.0\" does not exist yet: cost and policy preview deferred to apply"),
        "{out}"
    );
    assert!(flat.contains("published versions: 1.3.0"), "{out}");
    let line = format!("on main.tf line {}", line_of(&config, "\"1.9.0\""));
    assert!(out.combined().contains(&line), "{out}");
    let out = wd.try_apply();
    assert_ne!(out.code, 0, "{out}");
    let flat = one_line(&out.combined());
    assert!(
        flat.contains("Error: Cluster plan eks-general-purpose version \"1.9.0\" does not exist"),
        "{out}"
    );
    assert!(out.combined().contains(&line), "{out}");
    assert!(server_cluster(&api).is_none());

    // A network no assignable range can give: a CIDR outside every range.
    let config = cluster_config("m6i.large", 4, "").replace(
        "network {\n    size = 22\n  }",
        "network {\n    cidr = \"192.168.0.0/22\"\n  }",
    );
    wd.write_config(&config);
    let out = wd.plan_expect_error("Cluster network unavailable");
    let flat = one_line(&out.combined());
    assert!(flat.contains("is not inside an assignable range"), "{out}");
    assert!(
        flat.contains("10.0.0.0/16"),
        "says which ranges would do: {out}"
    );
    assert!(
        out.combined().contains(&format!(
            "on main.tf line {}",
            line_of(&config, "192.168.0.0/22")
        )),
        "{out}"
    );
    assert!(server_cluster(&api).is_none());
}

#[test]
fn a_plan_name_known_only_after_apply_skips_the_preview_and_says_so() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);
    // The plan's name comes from a resource created in the same apply.
    let wd = Workdir::new(&server);
    let config = cluster_config("m6i.large", 4, "").replace(
        "name    = \"eks-general-purpose\"",
        "name    = terraform_data.plan_name.output",
    ) + r#"
resource "terraform_data" "plan_name" {
  input = "eks-general-purpose"
}
"#;
    wd.write_config(&config);
    wd.init();
    wd.run(&["plan", "-input=false", "-no-color", "-out=step.tfplan"]);
    let shown = wd.run(&["plan", "-input=false", "-no-color"]);
    let flat = one_line(&shown.combined());
    assert!(
        flat.contains("Cost and policy preview skipped: values known only after apply"),
        "{shown}"
    );
    assert!(
        flat.contains("plan.name is known only after apply"),
        "{shown}"
    );
    let (_, unknown) = planned(&wd, "step.tfplan", ADDR);
    assert_eq!(
        unknown["estimated_monthly_cost"], true,
        "the cost is unknown in the plan"
    );
    // At apply the name is known: the final plan runs the preview, and the cluster is built.
    let out = wd.run(&["apply", "-input=false", "-no-color", "step.tfplan"]);
    assert_no_crash(&out);
    let state = wd.resource_values(ADDR);
    assert!(state["estimated_monthly_cost"]["total"].as_f64().unwrap() > 0.0);
    assert_eq!(state["status"]["status"], "Success");
    wait_cluster(&api, "pay", "payments-dev", Duration::from_secs(5), |b| {
        cluster_phase(b) == Some("Success")
    });
    wd.destroy();
}

/// Publishes plan version 1.4.0, offering us-east-2, c5.xlarge and an instance type the
/// price catalog lacks.
fn publish_us_east_2_plan(api: &ApiClient) {
    let mut plan = fixture("cluster_plan.yaml", "eks-general-purpose");
    plan["spec"]["version"] = json!("1.4.0");
    plan["spec"]["choices"]["regions"]["allowed"] = json!(["eu-west-2", "us-east-2"]);
    plan["spec"]["choices"]["nodePools"]["allowedMachines"] =
        json!(["m6i.large", "c5.xlarge", "x2iedn.xlarge"]);
    catalog::create(api, &plan, None);
}

/// The cluster config on plan 1.4.0 in us-east-2 with `machine`.
fn us_east_2(machine: &str) -> String {
    cluster_config(machine, 4, "")
        .replace("region      = \"eu-west-2\"", "region      = \"us-east-2\"")
        .replace("version = \"1.3.0\"", "version = \"1.4.0\"")
}

#[test]
fn us_east_2_on_c5_is_priced_and_an_unpriced_type_warns_or_fails_under_a_cost_limit() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);
    publish_us_east_2_plan(&api);

    // The issue's example: us-east-2 and c5.xlarge price.
    let wd = Workdir::new(&server);
    wd.write_config(&us_east_2("c5.xlarge"));
    wd.init();
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(actions_of(&changes, ADDR), ["create"], "{text}");
    assert!(
        text.contains("currency   = \"USD\"") && !text.contains("Warning:"),
        "the cost is shown, without a warning: {text}"
    );

    // A type the catalog does not price, no cost limit: a warning on the machine's line, the
    // cost unknown, the plan succeeds.
    let config = us_east_2("x2iedn.xlarge");
    wd.write_config(&config);
    let out = wd.run(&["plan", "-input=false", "-no-color"]);
    assert_no_crash(&out);
    let text = out.combined();
    let flat = one_line(&text);
    assert!(
        flat.contains("Warning: Cluster pay/payments-dev: estimated monthly cost unknown"),
        "{out}"
    );
    let line = line_of(&config, "machine      = \"x2iedn.xlarge\"");
    assert!(
        text.contains(&format!("on main.tf line {line}")),
        "the warning is on the machine's line ({line}): {out}"
    );
    assert!(
        flat.contains("no EKS price for instance type \"x2iedn.xlarge\" in us-east-2")
            && flat.contains("--price-catalog"),
        "says which price is missing and how to add it: {out}"
    );
    assert!(
        flat.contains("estimated_monthly_cost = (known after apply)"),
        "{out}"
    );

    // Under a cost limit: an error on the machine's line, nothing created.
    let policy = json!({
        "apiVersion": "policy.appvia.io/v2beta1", "kind": "ProvisioningPolicy",
        "metadata": {"name": "budget"},
        "spec": {"cloud": "aws", "scope": {"allWorkspaces": true, "allStages": true},
                 "clusterLimits": {"perCluster": {"costPerMonth": 5000}}}
    });
    catalog::create(&api, &policy, None);
    let out = wd.plan_expect_error("Policy violation at node_pools[0].machine");
    assert_no_crash(&out);
    let text = out.combined();
    assert!(
        text.contains(&format!("on main.tf line {line}")),
        "the error is on the machine's line ({line}): {out}"
    );
    assert!(
        one_line(&text).contains("cannot be checked against the 5000 USD allowed per cluster"),
        "{out}"
    );
    assert!(server_cluster(&api).is_none(), "nothing was created");
}

#[test]
fn an_operators_price_catalog_prices_what_the_built_in_one_lacks() {
    require_terraform!();
    // The built-in catalog plus the operator's price for x2iedn.xlarge in us-east-1, which
    // us-east-2 derives by its factor.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.json");
    let mut prices: Value =
        serde_json::from_str(wayfinder_model::cost::BUILTIN_CATALOG_JSON).unwrap();
    prices["providers"]["EKS"]["regions"]["us-east-1"]["x2iedn.xlarge"] = json!(0.8336);
    std::fs::write(&file, prices.to_string()).unwrap();
    let server = Server::start_with_args(&["--price-catalog", file.to_str().unwrap()]);
    let api = server.client();
    publish_platform(&api);
    publish_us_east_2_plan(&api);

    let wd = Workdir::new(&server);
    wd.write_config(&us_east_2("x2iedn.xlarge"));
    wd.init();
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(actions_of(&changes, ADDR), ["create"], "{text}");
    assert!(!text.contains("Warning:"), "{text}");
    // 720 h × 4 nodes × $0.8336 = $2400.77; disks 4 × 100 GiB × $0.08 = $32; control plane $72.
    assert!(
        one_line(&text).contains("total = 2504.77"),
        "the operator's price is used: {text}"
    );
}
