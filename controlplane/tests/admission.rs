//! Admission against a real server: references, cost, policy, dry run, dependants and
//! plan immutability.

mod common;
mod fixtures;

use common::{TestServer, assert_status, read};
use fixtures::{CLUSTERS_PAY, cluster, create, doc, platform};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn server() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data")).await;
    (dir, server)
}

fn causes(body: &Value) -> Vec<Value> {
    body["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn an_admitted_cluster_is_pending_with_labels_and_an_estimate() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let (status, c) = s.json(Method::POST, CLUSTERS_PAY, Some(&cluster())).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["metadata"]["namespace"], "ws-pay");
    assert_eq!(c["status"]["status"], "Pending");
    let labels = &c["metadata"]["labels"];
    assert_eq!(labels["appvia.io/stage"], "nonprod");
    assert_eq!(labels["appvia.io/plan"], "eks-general-purpose");
    assert_eq!(labels["appvia.io/provider"], "EKS");
    assert_eq!(labels["appvia.io/cloud"], "aws");
    assert_eq!(labels["appvia.io/workspace"], "pay");
    let est = &c["status"]["estimate"];
    assert_eq!(est["currency"], "USD");
    assert!(est["totalMonthlyUSD"].as_f64().unwrap() > 0.0, "{est}");
    assert_eq!(est["pools"][0]["logicalName"], "compute");
    assert_eq!(est["pools"][0]["nodes"], 6);
    let (_, got) = s
        .json(Method::GET, &format!("{CLUSTERS_PAY}/payments-dev"), None)
        .await;
    // The reconciler may have moved the status on since; the object is the one created.
    assert_eq!(got["spec"], c["spec"]);
    assert_eq!(got["metadata"]["uid"], c["metadata"]["uid"]);
    assert_eq!(got["metadata"]["labels"], c["metadata"]["labels"]);
    s.stop().await;
}

#[tokio::test]
async fn dry_run_returns_estimate_and_network_and_persists_nothing() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let (status, c) = s
        .json(
            Method::POST,
            &format!("{CLUSTERS_PAY}?dryRun=All"),
            Some(&cluster()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let est = &c["status"]["estimate"];
    assert!(est["pools"].as_array().unwrap().len() == 1, "{est}");
    assert!(
        est["controlPlane"]["monthlyUSD"].as_f64().unwrap() > 0.0,
        "{est}"
    );
    let net = &c["status"]["plannedNetwork"];
    assert_eq!(net["request"], json!({"size": 22}), "{net}");
    assert_eq!(net["networkPlan"], "eks-assignable");
    assert_eq!(net["cidr"], "10.0.0.0/22", "{net}");
    assert_eq!(net["from"], "AssignableNetwork/admin/aws-nonprod", "{net}");
    let (status, _) = s
        .json(Method::GET, &format!("{CLUSTERS_PAY}/payments-dev"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = s.json(Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(list["items"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn a_cluster_over_a_cost_ceiling_is_refused_with_policy_causes() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let policy = json!({
        "apiVersion": "policy.appvia.io/v2beta1", "kind": "ProvisioningPolicy",
        "metadata": {"name": "tight"},
        "spec": {"cloud": "aws", "scope": {"allWorkspaces": true, "allowedStages": ["nonprod"]},
                 "allowedRegions": ["eu-west-1"],
                 "clusterLimits": {"perCluster": {"costPerMonth": 100}}}
    });
    create(&s, &policy).await;
    for path in [
        CLUSTERS_PAY.to_string(),
        format!("{CLUSTERS_PAY}?dryRun=All"),
    ] {
        let (status, body) = s.json(Method::POST, &path, Some(&cluster())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_status(&body, 422, "Invalid");
        let causes = causes(&body);
        let cost = causes
            .iter()
            .find(|c| c["rule"] == "clusterCost")
            .unwrap_or_else(|| panic!("{body}"));
        assert_eq!(cost["reason"], "PolicyViolation");
        assert_eq!(cost["policy"], "tight");
        assert!(cost["limit"].as_str().unwrap().contains("100"), "{cost}");
        assert!(cost["value"].as_str().unwrap().contains("USD"), "{cost}");
        assert!(
            cost["scope"].as_str().unwrap().contains("nonprod"),
            "{cost}"
        );
        assert!(
            cost["field"].as_str().unwrap().starts_with("spec."),
            "{cost}"
        );
        let region = causes.iter().find(|c| c["rule"] == "region").unwrap();
        assert_eq!(region["field"], "spec.region");
        assert_eq!(region["value"], "eu-west-2");
        let msg = body["message"].as_str().unwrap();
        assert!(
            msg.contains("Cluster/payments-dev is refused (2 problems)"),
            "{msg}"
        );
    }
    let (status, _) = s
        .json(Method::GET, &format!("{CLUSTERS_PAY}/payments-dev"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The effective policy endpoint shows what is in force.
    let (status, eff) = s
        .json(
            Method::GET,
            "/api/v2/workspaces/pay/provisioningpolicy/aws/nonprod/cluster",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{eff}");
    assert_eq!(eff["cloud"], "aws");
    assert_eq!(eff["allowedRegions"], json!(["eu-west-1"]));
    assert_eq!(eff["clusterLimits"]["perCluster"]["costPerMonth"], 100);
    let (status, eff) = s
        .json(
            Method::GET,
            "/api/v2/workspaces/pay/provisioningpolicy/aws/prod/cluster",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(eff["allowedRegions"], json!([]));
    s.stop().await;
}

/// A cluster in us-east-2 (priced by its regional factor) on an instance type the catalog
/// does not price.
fn unpriced_cluster() -> Value {
    let mut c = cluster();
    c["spec"]["plan"]["version"] = json!("1.4.0");
    c["spec"]["region"] = json!("us-east-2");
    c["spec"]["nodePools"][0]["machine"] = json!("x2iedn.xlarge");
    c["spec"]["nodePools"][0]["spot"]["eks"]["additionalInstanceTypes"] = json!([]);
    c
}

#[tokio::test]
async fn an_unpriced_cluster_is_admitted_with_a_warning_or_refused_under_a_cost_limit() {
    let (_dir, s) = server().await;
    platform(&s).await;
    // A plan version offering us-east-2, c5.xlarge and an instance type the catalog lacks.
    let mut plan = doc("cluster_plan.yaml", "eks-general-purpose");
    plan["spec"]["version"] = json!("1.4.0");
    plan["spec"]["choices"]["regions"]["allowed"] = json!(["eu-west-2", "us-east-2"]);
    plan["spec"]["choices"]["nodePools"]["allowedMachines"] =
        json!(["m6i.large", "c5.xlarge", "x2iedn.xlarge"]);
    create(&s, &plan).await;
    // us-east-2 and c5.xlarge price.
    let mut priced = cluster();
    priced["spec"]["plan"]["version"] = json!("1.4.0");
    priced["spec"]["region"] = json!("us-east-2");
    priced["spec"]["nodePools"][0]["machine"] = json!("c5.xlarge");
    let resp = s
        .call(
            Method::POST,
            &format!("{CLUSTERS_PAY}?dryRun=All"),
            Some(&priced),
        )
        .await;
    assert!(resp.headers().get("warning").is_none());
    let (status, c) = read(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert!(c["status"]["estimate"]["totalMonthlyUSD"].as_f64().unwrap() > 0.0);

    // No cost limit: admitted, cost unknown, a Warning header says which price is missing.
    for path in [
        format!("{CLUSTERS_PAY}?dryRun=All"),
        CLUSTERS_PAY.to_string(),
    ] {
        let resp = s.call(Method::POST, &path, Some(&unpriced_cluster())).await;
        let warning = resp
            .headers()
            .get("warning")
            .expect("a Warning header")
            .to_str()
            .unwrap()
            .to_string();
        let (status, c) = read(resp).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        assert!(
            warning.starts_with("299 - \"the estimated monthly cost is unknown (not zero): node pool \\\"compute\\\": machine: the price catalog (2024-06) has no EKS price for instance type \\\"x2iedn.xlarge\\\" in us-east-2"),
            "{warning}"
        );
        assert!(
            warning.contains("providers.EKS.regions.us-east-1.x2iedn.xlarge (USD per hour)"),
            "{warning}"
        );
        let est = &c["status"]["estimate"];
        assert_eq!(est["unknown"], true, "{est}");
        assert!(est.get("totalMonthlyCents").is_none(), "{est}");
        assert_eq!(est["missing"][0]["field"], "spec.nodePools[0].machine");
    }

    // A cost limit applies: refused, on the pool's machine, saying how to add the price.
    let policy = json!({
        "apiVersion": "policy.appvia.io/v2beta1", "kind": "ProvisioningPolicy",
        "metadata": {"name": "budget"},
        "spec": {"cloud": "aws", "scope": {"allWorkspaces": true, "allStages": true},
                 "clusterLimits": {"perCluster": {"costPerMonth": 5000},
                                   "perWorkspace": {"maxClusters": 1}}}
    });
    create(&s, &policy).await;
    let mut other = unpriced_cluster();
    other["metadata"]["name"] = json!("payments-budget");
    let (status, body) = s.json(Method::POST, CLUSTERS_PAY, Some(&other)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let causes = causes(&body);
    // The cluster admitted with its cost unknown still counts in the workspace.
    assert_eq!(causes.len(), 2, "{body}");
    assert!(
        causes.iter().any(|c| c["rule"] == "workspaceClusters"),
        "{body}"
    );
    let cost = causes.iter().find(|c| c["rule"] == "clusterCost").unwrap();
    assert_eq!(cost["field"], "spec.nodePools[0].machine");
    assert_eq!(cost["value"], "unknown");
    let m = cost["message"].as_str().unwrap();
    assert!(
        m.starts_with("the cluster's estimated monthly cost cannot be checked against the 5000 USD allowed per cluster: node pool \"compute\": machine: the price catalog (2024-06) has no EKS price for instance type \"x2iedn.xlarge\""),
        "{m}"
    );
    assert!(m.contains("--price-catalog"), "{m}");
    s.stop().await;
}

#[tokio::test]
async fn unpublished_plans_and_wrong_provider_templates_are_refused() {
    let (_dir, s) = server().await;
    platform(&s).await;
    // A draft version of the plan.
    let mut draft = doc("cluster_plan.yaml", "eks-general-purpose");
    draft["spec"]["version"] = json!("1.4.0");
    draft["metadata"]["annotations"] =
        json!({"appvia.io/published": "false", "appvia.io/publishState": "Draft"});
    create(&s, &draft).await;
    let mut c = cluster();
    c["spec"]["plan"]["version"] = json!("1.4.0");
    let (status, body) = s.json(Method::POST, CLUSTERS_PAY, Some(&c)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let cs = causes(&body);
    assert!(
        cs.iter().any(|c| c["field"] == "spec.plan.version"
            && c["message"].as_str().unwrap().contains("draft")),
        "{body}"
    );
    // An AKS template offered by an EKS plan.
    create(&s, &doc("compute_template.yaml", "aks-general-purpose")).await;
    let mut plan = doc("cluster_plan.yaml", "eks-general-purpose");
    plan["spec"]["version"] = json!("1.5.0");
    plan["spec"]["choices"]["computeTemplates"]["allowed"] =
        json!(["eks-general-purpose", "aks-general-purpose"]);
    create(&s, &plan).await;
    let mut c = cluster();
    c["spec"]["plan"]["version"] = json!("1.5.0");
    c["spec"]["computeTemplate"] = json!("aks-general-purpose");
    let (status, body) = s
        .json(
            Method::POST,
            &format!("{CLUSTERS_PAY}?dryRun=All"),
            Some(&c),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        causes(&body)
            .iter()
            .any(|c| c["field"] == "spec.computeTemplate"),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test]
async fn dependants_block_deletes_without_the_objectmodified_header() {
    let (_dir, s) = server().await;
    platform(&s).await;
    create(&s, &cluster()).await;
    for path in [
        "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions/1.3.0",
        "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions",
        "/resources/networking.appvia.io/v2beta1/clusternetworkplans/eks-assignable",
        "/resources/compute.appvia.io/v2beta2/computetemplates/eks-general-purpose",
        "/resources/package.appvia.io/v2beta2/packages/cert-manager/versions/1.15.3-2",
        "/resources/org.appvia.io/v2beta1/stages/nonprod",
        "/resources/org.appvia.io/v2beta1/workspaces/pay",
    ] {
        let resp = s.call(Method::DELETE, path, None).await;
        assert!(resp.headers().get("x-wayfinder-objectmodified").is_none());
        let (status, body) = read(resp).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert_status(&body, 409, "Conflict");
        assert!(
            body["message"].as_str().unwrap().contains("depend"),
            "{path}: {body}"
        );
        let (status, _) = s.json(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path} still exists");
    }
    // Once the cluster is gone, the plan version can go.
    let (status, _) = s
        .json(
            Method::DELETE,
            &format!("{CLUSTERS_PAY}/payments-dev"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Deleting a cluster is two-phase: it is Deleting until the reconciler removes it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s
        .json(Method::GET, &format!("{CLUSTERS_PAY}/payments-dev"), None)
        .await
        .0
        != StatusCode::NOT_FOUND
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster was not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = s
        .json(
            Method::DELETE,
            "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions/1.3.0",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn a_plan_version_in_use_is_immutable_but_may_be_deprecated() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let path =
        "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions/1.3.0";
    // Before any cluster uses it, the version may change.
    let (_, plan) = s.json(Method::GET, path, None).await;
    let mut changed = plan.clone();
    changed["spec"]["description"] = json!("changed before use");
    let (status, plan) = s.json(Method::PUT, path, Some(&changed)).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    create(&s, &cluster()).await;
    let mut changed = plan.clone();
    changed["spec"]["description"] = json!("changed after use");
    let resp = s.call(Method::PUT, path, Some(&changed)).await;
    assert!(resp.headers().get("x-wayfinder-objectmodified").is_none());
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("publish a new version"), "{msg}");
    assert!(msg.contains("pay/payments-dev"), "{msg}");
    // Deprecating (an annotation change) is allowed.
    let mut deprecated = plan.clone();
    deprecated["metadata"]["annotations"] =
        json!({"appvia.io/published": "false", "appvia.io/publishState": "Deprecated"});
    let (status, body) = s.json(Method::PUT, path, Some(&deprecated)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The cluster on the deprecated version may still change; new clusters may not use it.
    let (_, mut c) = s
        .json(Method::GET, &format!("{CLUSTERS_PAY}/payments-dev"), None)
        .await;
    c["spec"]["description"] = json!("still here");
    // The reconciler writes status meanwhile: an unconditional update (no resourceVersion).
    c["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let (status, body) = s
        .json(
            Method::PUT,
            &format!("{CLUSTERS_PAY}/payments-dev"),
            Some(&c),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata"]["generation"], json!(2), "{body}");
    let mut other = cluster();
    other["metadata"]["name"] = json!("payments-two");
    let (status, body) = s.json(Method::POST, CLUSTERS_PAY, Some(&other)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("deprecated"),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test]
async fn concurrent_creates_cannot_together_pass_a_workspace_limit() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let policy = json!({
        "apiVersion": "policy.appvia.io/v2beta1", "kind": "ProvisioningPolicy",
        "metadata": {"name": "one-cluster"},
        "spec": {"cloud": "aws", "clusterLimits": {"perWorkspace": {"maxClusters": 1}}}
    });
    create(&s, &policy).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let mut c = cluster();
        c["metadata"]["name"] = json!(format!("payments-{i}"));
        let (client, url, token) = (s.client.clone(), s.url(CLUSTERS_PAY), s.token.clone());
        tasks.spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&c)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let statuses: Vec<StatusCode> = tasks.join_all().await;
    let admitted = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((admitted, refused), (1, 11), "{statuses:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_package_version_pinned_by_a_plan_in_use_is_immutable() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let path = "/resources/package.appvia.io/v2beta2/packages/cert-manager/versions/1.15.3-2";
    let (_, package) = s.json(Method::GET, path, None).await;
    // Unused: may change.
    let mut changed = package.clone();
    changed["spec"]["description"] = json!("changed before use");
    let (status, package) = s.json(Method::PUT, path, Some(&changed)).await;
    assert_eq!(status, StatusCode::OK, "{package}");
    create(&s, &cluster()).await;
    let mut changed = package.clone();
    changed["spec"]["description"] = json!("changed after use");
    let (status, body) = s.json(Method::PUT, path, Some(&changed)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("immutable"), "{msg}");
    assert!(msg.contains("pay/payments-dev"), "{msg}");
    let (_, unchanged) = s.json(Method::GET, path, None).await;
    assert_eq!(unchanged["spec"]["description"], "changed before use");
    s.stop().await;
}

#[tokio::test]
async fn deleting_every_version_deletes_none_when_one_is_in_use() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let versions = "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions";
    let (_, plan) = s
        .json(Method::GET, &format!("{versions}/1.3.0"), None)
        .await;
    let mut next = plan.clone();
    next["spec"]["version"] = json!("1.4.0");
    next["metadata"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k == "name" || k == "annotations" || k == "labels");
    let (status, body) = s
        .json(
            Method::POST,
            "/resources/compute.appvia.io/v2beta2/clusterplans",
            Some(&next),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    create(&s, &cluster()).await;
    let (status, body) = s.json(Method::DELETE, versions, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for v in ["1.3.0", "1.4.0"] {
        let (status, _) = s.json(Method::GET, &format!("{versions}/{v}"), None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "version {v} must survive a refused delete"
        );
    }
    s.stop().await;
}

/// A cluster create and the delete of the plan version it names race: admission and the
/// dependants check read inside the write transaction, so never do both succeed (a
/// cluster on a deleted plan version).
#[tokio::test]
async fn a_plan_delete_racing_a_cluster_create_never_both_succeed() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let plan =
        "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions/1.3.0";
    let (_, plan_body) = s.json(Method::GET, plan, None).await;
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..8 {
        let mut c = cluster();
        c["metadata"]["name"] = json!(format!("race-{round}"));
        let create = s.call(Method::POST, CLUSTERS_PAY, Some(&c));
        let delete = s.call(Method::DELETE, plan, None);
        let (created, deleted) = tokio::join!(create, delete);
        let (created, deleted) = (created.status(), deleted.status());
        assert!(
            !(created == StatusCode::CREATED && deleted == StatusCode::OK),
            "round {round}: the cluster was admitted and its plan version deleted"
        );
        *outcomes
            .entry((created.as_u16(), deleted.as_u16()))
            .or_insert(0) += 1;
        // Put the world back: the plan version again, no cluster.
        if deleted == StatusCode::OK {
            let mut again = plan_body.clone();
            again["metadata"]
                .as_object_mut()
                .unwrap()
                .retain(|k, _| k == "name" || k == "annotations" || k == "labels");
            let (status, body) = s
                .json(
                    Method::POST,
                    "/resources/compute.appvia.io/v2beta2/clusterplans",
                    Some(&again),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        if created == StatusCode::CREATED {
            let path = format!("{CLUSTERS_PAY}/race-{round}");
            s.json(Method::DELETE, &path, None).await;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while s.json(Method::GET, &path, None).await.0 != StatusCode::NOT_FOUND {
                assert!(std::time::Instant::now() < deadline, "cluster not removed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    eprintln!("(create, delete) outcomes: {outcomes:?}");
    s.stop().await;
}

/// A valid value other than `current` for immutable field `path` (`spec.provider`), and
/// what else must change with it; panics for a field it does not know, so that a new
/// immutable field gets a case here.
fn changed(path: &str, spec: &mut Value) {
    use wayfinder_model::common::CLOUDS;
    use wayfinder_model::compute::PROVIDERS;
    let field = path.strip_prefix("spec.").unwrap();
    let current = spec.get(field).cloned().unwrap_or(Value::Null);
    let other = |family: &[&str]| {
        let c = current.as_str().unwrap_or_default();
        let pick = family.iter().find(|v| !v.eq_ignore_ascii_case(c)).unwrap();
        // Keep the family's case (EKS, aws).
        json!(pick)
    };
    let new = match field {
        "provider" if PROVIDERS.contains(&current.as_str().unwrap_or_default()) => other(PROVIDERS),
        "provider" | "cloud" => other(CLOUDS),
        "roles" if current == json!(["member"]) => json!(["owner"]),
        "roles" => json!(["member"]),
        "ttl" => {
            spec.as_object_mut().unwrap().remove("expiresAt");
            json!(if current == json!("2h0m0s") {
                "3h0m0s"
            } else {
                "2h0m0s"
            })
        }
        "expiresAt" => {
            spec.as_object_mut().unwrap().remove("ttl");
            json!("2098-01-01T00:00:00Z")
        }
        _ => panic!("no changed value for {path}: add a case to `changed`"),
    };
    spec[field] = new;
}

#[tokio::test]
async fn changing_an_immutable_field_of_any_kind_is_refused_and_changes_nothing() {
    use wayfinder_model::kinds::ALL;
    let (_dir, s) = server().await;
    platform(&s).await;
    let mut covered = Vec::new();
    for kind in ALL.iter().filter(|k| !k.immutable_paths().is_empty()) {
        let file = format!("{}.yaml", wayfinder_model::naming::snake_case(kind.kind));
        let fixture = fixtures::docs(&file).remove(0);
        let path = fixtures::item_path(&fixture, None);
        let (status, _) = s.json(Method::GET, &path, None).await;
        if status == StatusCode::NOT_FOUND {
            create(&s, &fixture).await;
        }
        let (_, stored) = s.json(Method::GET, &path, None).await;
        for field in kind.immutable_paths() {
            for dry_run in [true, false] {
                let mut body = stored.clone();
                changed(&field, &mut body["spec"]);
                let at = if dry_run {
                    format!("{path}?dryRun=All")
                } else {
                    path.clone()
                };
                let (status, refused) = s.json(Method::PUT, &at, Some(&body)).await;
                assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{} {field}: {refused}",
                    kind.kind
                );
                assert_status(&refused, 422, "Invalid");
                assert!(
                    causes(&refused).iter().any(|c| c["field"] == field.as_str()
                        && c["reason"] == "FieldValueInvalid"
                        && c["message"] == "field is immutable: create a new object"),
                    "{} {field}: {refused}",
                    kind.kind
                );
                let (_, after) = s.json(Method::GET, &path, None).await;
                assert_eq!(after, stored, "{} {field} changed", kind.kind);
            }
            covered.push(format!("{}.{field}", kind.kind));
        }
    }
    assert!(covered.contains(&"ComputeTemplate.spec.provider".to_string()));
    // A change elsewhere still goes through.
    let template = fixtures::item_path(&doc("compute_template.yaml", "eks-general-purpose"), None);
    let (_, mut t) = s.json(Method::GET, &template, None).await;
    t["spec"]["description"] = json!("changed");
    let (status, body) = s.json(Method::PUT, &template, Some(&t)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn every_reference_that_blocks_deletes_blocks_the_delete_of_its_target() {
    use wayfinder_model::kinds::{REFERENCES, Scope};
    let (_dir, s) = server().await;
    platform(&s).await;
    create(&s, &cluster()).await;
    for r in REFERENCES.iter().filter(|r| r.blocks_delete) {
        let spaces: Vec<Option<&str>> = match r.from.scope {
            Scope::Platform => vec![None],
            Scope::Workspace => vec![Some("pay"), Some("admin")],
        };
        let mut referrer = None;
        for ws in spaces {
            let list = wayfinder_controlplane::resources::collection_path_in(r.from, ws);
            let (_, items) = s.json(Method::GET, &list, None).await;
            for item in items["items"].as_array().into_iter().flatten() {
                if let Some(o) = r.occurrences(&item["spec"]).into_iter().next() {
                    referrer = Some((item["metadata"]["name"].as_str().unwrap().to_string(), o));
                }
            }
        }
        let (from_name, at) = referrer.unwrap_or_else(|| {
            panic!(
                "no {} in the test platform refers to a {} through spec.{}: extend the fixtures",
                r.from.kind, r.to.kind, r.path
            )
        });
        let base = wayfinder_controlplane::resources::collection_path_in(
            r.to,
            (r.to.scope == Scope::Workspace).then_some("pay"),
        );
        let target = match &at.version {
            Some(v) => format!("{base}/{}/versions/{v}", at.name),
            None => format!("{base}/{}", at.name),
        };
        let (status, body) = s.json(Method::DELETE, &target, None).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{} {}: {body}",
            r.from.kind,
            r.path
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(r.from.kind) && message.contains(&from_name),
            "{} {}: {message}",
            r.from.kind,
            r.path
        );
        let (status, _) = s.json(Method::GET, &target, None).await;
        assert_eq!(status, StatusCode::OK, "{target} is gone");
    }
    s.stop().await;
}
