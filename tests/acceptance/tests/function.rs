//! `provider::wayfinder::monthly_cost` through the real Terraform CLI: offline on an
//! unconfigured provider, the same numbers as the server's dry-run estimate, and errors that
//! point at the offending argument.

use serde_json::{Value, json};
use wayfinder_acceptance::catalog::{cluster_path, fixture, publish_platform};
use wayfinder_acceptance::support::FUNCTIONS;
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, require_terraform_version,
};

/// An HCL node pool object.
fn pool_hcl(name: &str, machine: &str, max: i64, spot: bool, disk: Option<i64>) -> String {
    let disk = disk.map_or("null".to_string(), |d| d.to_string());
    format!(
        "{{ name = \"{name}\", machine = \"{machine}\", max_size = {max}, spot = {spot}, disk_size = {disk} }}"
    )
}

fn cost_config(cloud: &str, region: &str, pools: &[String]) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
output "cost" {{
  value = provider::wayfinder::monthly_cost("{cloud}", "{region}", [
    {}
  ])
}}
"#,
        pools.join(",\n    ")
    )
}

fn output_cost(wd: &Workdir) -> Value {
    wd.outputs()["cost"]["value"].clone()
}

#[test]
fn smoke_monthly_cost_is_computed_offline_on_an_unconfigured_provider() {
    require_terraform_version!(FUNCTIONS);
    // No server, no token: the provider is never configured (there is no provider block,
    // and WAYFINDER_* are unset), and the function still answers.
    let wd = Workdir::with_provider();
    wd.write_config(&cost_config(
        "aws",
        "eu-west-2",
        &[
            pool_hcl("compute", "m6i.xlarge", 6, false, Some(200)),
            pool_hcl("batch", "m6i.large", 3, true, None),
        ],
    ));
    wd.init();
    let out = wd.apply();
    assert_no_crash(&out);
    let cost = output_cost(&wd);
    assert_eq!(cost["currency"], "USD");
    let compute = cost["node_pools"]["compute"].as_f64().expect("a number");
    let batch = cost["node_pools"]["batch"].as_f64().expect("a number");
    let total = cost["total"].as_f64().expect("a number");
    // m6i.xlarge in eu-west-2 costs more than a third of a spot m6i.large pool of half the
    // nodes, and the total adds the control plane on top of the pools.
    assert!(compute > batch, "{cost}");
    assert!(total > compute + batch, "{cost}");
    // The same engine, called directly, gives the same figures.
    let pools: Vec<wayfinder_model::NodePool> = serde_json::from_value(json!([
        {"logicalName": "compute", "machine": "m6i.xlarge", "size": 6, "diskSize": 200},
        {"logicalName": "batch", "machine": "m6i.large", "size": 3, "spot": {"enabled": true}},
    ]))
    .unwrap();
    let e = wayfinder_model::cost::estimate(
        wayfinder_model::Catalog::builtin(),
        "EKS",
        "eu-west-2",
        &pools,
    )
    .unwrap();
    assert_eq!(
        format!("{total:.2}"),
        wayfinder_model::cost::format_usd(e.total_cents)
    );
}

#[test]
fn monthly_cost_matches_the_servers_dry_run_estimate() {
    require_terraform_version!(FUNCTIONS);
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);
    // The fixture cluster: its template's pools merged with its own, one with a bigger disk.
    let mut cluster = fixture("cluster.yaml", "payments-dev");
    cluster["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    cluster["spec"]["nodePools"][0]
        .as_object_mut()
        .unwrap()
        .remove("providerDetails");
    let collection = wayfinder_acceptance::support::collection_path(
        &wayfinder_model::kinds::CLUSTER,
        Some("pay"),
    );
    let resp = api.post(&format!("{collection}?dryRun=All"), &cluster);
    assert_eq!(resp.status, 201, "dry run: {}", resp.text);
    let estimate = resp.body["status"]["estimate"].clone();
    let pools = estimate["pools"].as_array().expect("status.estimate.pools");
    assert!(!pools.is_empty(), "{estimate}");
    assert_eq!(
        api.get(&cluster_path("pay", "payments-dev")).status,
        404,
        "a dry run stores nothing"
    );

    // The same pools, as a module would pass them to the function.
    let hcl_pools: Vec<String> = pools
        .iter()
        .map(|p| {
            pool_hcl(
                p["logicalName"].as_str().unwrap(),
                p["machine"].as_str().unwrap(),
                p["nodes"].as_i64().unwrap(),
                p["spot"].as_bool().unwrap(),
                p["diskGB"].as_i64(),
            )
        })
        .collect();
    let wd = Workdir::with_provider();
    wd.write_config(&cost_config(
        "aws",
        estimate["region"].as_str().unwrap(),
        &hcl_pools,
    ));
    wd.init();
    wd.apply();
    let cost = output_cost(&wd);
    assert_eq!(cost["currency"], estimate["currency"]);
    assert_eq!(
        cost["total"].as_f64(),
        estimate["totalMonthlyUSD"].as_f64(),
        "function {cost} vs server {estimate}"
    );
    for p in pools {
        let name = p["logicalName"].as_str().unwrap();
        assert_eq!(
            cost["node_pools"][name].as_f64(),
            p["monthlyUSD"].as_f64(),
            "pool {name}: function {cost} vs server {estimate}"
        );
    }
}

#[test]
fn monthly_cost_errors_point_at_the_argument() {
    require_terraform_version!(FUNCTIONS);
    let wd = Workdir::with_provider();
    wd.write_config(&cost_config(
        "aws",
        "eu-west-2",
        &[
            pool_hcl("compute", "m6i.large", 2, false, None),
            pool_hcl("gpu", "x9.huge", 1, false, None),
        ],
    ));
    wd.init();
    let out = wd.plan_expect_error("Invalid function argument");
    assert_no_crash(&out);
    // Terraform wraps long messages; compare with whitespace collapsed.
    let text = one_line(&out.combined());
    assert!(
        text.contains("Invalid value for \"node_pools\" parameter: node_pools[1].machine: \"x9.huge\" has no EKS price in eu-west-2"),
        "{out}"
    );
    assert!(
        text.contains("main.tf line"),
        "the error has a source location: {out}"
    );
    assert!(
        text.contains("m6i.large"),
        "it lists what the catalog has: {out}"
    );

    wd.write_config(&cost_config(
        "oracle",
        "eu-west-2",
        &[pool_hcl("compute", "m6i.large", 2, false, None)],
    ));
    let out = wd.plan_expect_error("Invalid function argument");
    let text = one_line(&out.combined());
    assert!(
        text.contains("Invalid value for \"cloud_provider\" parameter: cloud_provider \"oracle\" is not a cloud the price catalog knows"),
        "{out}"
    );
    assert!(text.contains("\"aws\""), "{out}");
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
