//! The cluster reconciler against a real in-process server and the simulated driver.

mod world;

use std::time::Duration;

use serde_json::{Value, json};
use wayfinder_controlplane::reconciler::{self, begin_deletion, ready_condition};
use world::*;

fn names(v: &Value, field: &str) -> Vec<String> {
    v["status"][field]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|p| {
            p.get("name")
                .and_then(Value::as_str)
                .or_else(|| p.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The phases polled after a cluster was seen `Pending`, without that first `Pending`: the
/// poll may or may not catch it before the reconciler moves on.
fn without_pending(seen: &[String]) -> &[String] {
    match seen.first().map(String::as_str) {
        Some("Pending") => &seen[1..],
        _ => seen,
    }
}

/// What the API's DELETE of a cluster does: mark it Deleting and keep the row.
fn request_delete(store: &wayfinder_controlplane::store::Store, ws: &str, name: &str) {
    let mut body = get(store, ws, name).expect("cluster exists");
    begin_deletion(&mut body, "2025-06-01T00:00:00Z");
    put(store, Some(ws), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_is_built_with_its_network_packages_and_policies() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    put(
        &store,
        Some("pay"),
        cluster("dev", "pay", &[("team", "payments")]),
    );
    assert_eq!(
        reconciler::status_of(&get(&store, "pay", "dev").unwrap()),
        Some("Pending")
    );
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(300)).await;
    let store = server.store.clone();

    let (body, seen) = wait_phase(&store, "pay", "dev", "Success").await;
    // Pending was read above; under load the reconciler may leave it before the first poll.
    assert_eq!(without_pending(&seen), ["Creating", "Success"], "{body:#}");
    let st = &body["status"];
    assert_eq!(st["lastReconcile"]["generation"], json!(1));
    assert_eq!(body["metadata"]["generation"], json!(1));
    let ready = ready_condition(&body).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("True", Some("Ready"))
    );
    assert_eq!(ready.observed_generation, Some(1));
    assert_eq!(
        st["network"],
        json!({"cidr": "10.0.0.0/22", "from": "AssignableNetwork/admin/aws-nonprod", "exclusive": true})
    );
    assert_eq!(st["endpoint"], "https://dev.pay.sim.wayfinder.local:6443");
    assert_eq!(names(&body, "packages"), ["cert-manager", "external-dns"]);
    assert_eq!(st["packages"][0]["version"], "1.15.3-2");
    assert_eq!(st["packages"][0]["status"], "Installed");
    // The prod-only fixture policy does not go to a nonprod cluster.
    assert_eq!(
        names(&body, "clusterPolicies"),
        ["nonprod-only", "pvc-storageclass-global"]
    );
    assert_eq!(
        (st["provider"].as_str(), st["region"].as_str()),
        (Some("EKS"), Some("eu-west-2"))
    );
    // The store's resource version moved with every status write.
    assert_ne!(body["metadata"]["resourceVersion"], json!("0"));

    // A spec change: Updating, then Success at generation 2, keeping the network.
    let mut changed = body.clone();
    changed["spec"]["description"] = json!("now with a description");
    changed.as_object_mut().unwrap().remove("status");
    put(&server.store, Some("pay"), changed);
    let (body, seen) = wait(&store, "pay", "dev", |b| {
        b.is_some_and(|b| b["status"]["lastReconcile"]["generation"] == json!(2))
    })
    .await;
    let body = body.unwrap();
    assert!(seen.contains(&"Updating".to_string()), "{seen:?}");
    assert_eq!(reconciler::status_of(&body), Some("Success"));
    assert_eq!(body["status"]["network"]["cidr"], "10.0.0.0/22");
    assert_eq!(ready_condition(&body).unwrap().observed_generation, Some(2));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_told_to_fail_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    put(
        &store,
        Some("pay"),
        cluster("bad", "pay", &[("wayfinder.dev/simulate", "fail")]),
    );
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(100)).await;
    let store = server.store.clone();
    let (body, seen) = wait_phase(&store, "pay", "bad", "Failure").await;
    assert_eq!(without_pending(&seen), ["Creating", "Failure"]);
    let ready = ready_condition(&body).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("SimulatedFailure"))
    );
    assert!(
        body["status"]["message"]
            .as_str()
            .unwrap()
            .contains("told to fail"),
        "{body:#}"
    );
    assert_eq!(body["status"]["lastReconcile"]["generation"], json!(1));
    // It stays failed: not retried until its spec changes.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        reconciler::status_of(&get(&store, "pay", "bad").unwrap()),
        Some("Failure")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_frees_the_network_for_the_next_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    put(&store, Some("pay"), cluster("one", "pay", &[]));
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(200)).await;
    let store = server.store.clone();
    wait_phase(&store, "pay", "one", "Success").await;

    // The only /22 is taken: a second cluster (in another workspace) cannot get one.
    put(&server.store, Some("web"), cluster("two", "web", &[]));
    let (body, _) = wait_phase(&store, "web", "two", "Failure").await;
    let ready = ready_condition(&body).unwrap();
    assert_eq!(ready.reason.as_deref(), Some("NetworkUnavailable"));
    assert!(
        body["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no free /22 network"),
        "{body:#}"
    );

    request_delete(&server.store, "pay", "one");
    let (gone, seen) = wait(&store, "pay", "one", |b| b.is_none()).await;
    assert!(gone.is_none());
    assert_eq!(seen, ["Deleting", "(gone)"]);

    // Now a third cluster gets the freed network.
    put(&server.store, Some("web"), cluster("three", "web", &[]));
    let (body, _) = wait_phase(&store, "web", "three", "Success").await;
    assert_eq!(body["status"]["network"]["cidr"], "10.0.0.0/22");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_interrupted_by_a_restart_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    put(&store, Some("pay"), cluster("dev", "pay", &[]));
    // A slow cloud: stop the server while the cluster is Creating.
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_secs(30)).await;
    let store = server.store.clone();
    let (body, _) = wait(&store, "pay", "dev", |b| {
        b.is_some_and(|b| b["status"]["network"]["cidr"].is_string())
    })
    .await;
    let body = body.unwrap();
    assert_eq!(reconciler::status_of(&body), Some("Creating"));
    server.stop().await;
    let store = open(dir.path());
    assert_eq!(
        reconciler::status_of(&get(&store, "pay", "dev").unwrap()),
        Some("Creating")
    );

    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(100)).await;
    let store = server.store.clone();
    let (done, _) = wait_phase(&store, "pay", "dev", "Success").await;
    assert_eq!(done["status"]["network"], body["status"]["network"]);
    assert_eq!(done["status"]["lastReconcile"]["generation"], json!(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_while_creating_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    put(&store, Some("pay"), cluster("dev", "pay", &[]));
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(500)).await;
    let store = server.store.clone();
    wait_phase(&store, "pay", "dev", "Creating").await;
    request_delete(&server.store, "pay", "dev");
    let (_, seen) = wait(&store, "pay", "dev", |b| b.is_none()).await;
    assert!(!seen.contains(&"Success".to_string()), "{seen:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_creates_and_deletes_clusters_through_the_reconciler() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    // Admission prices every instance type; the fixture's m6a.large is not in the catalog.
    let mut template = store
        .get(&wayfinder_controlplane::store::ObjectKey::platform(
            &wayfinder_model::kinds::COMPUTE_TEMPLATE,
            "eks-general-purpose",
        ))
        .unwrap()
        .unwrap()
        .body;
    template["spec"]["nodePools"][0]["spot"]["eks"]["additionalInstanceTypes"] =
        json!(["m5.large"]);
    put(&store, None, template);
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(200)).await;
    let store = server.store.clone();
    let client = reqwest::Client::new();
    let base = format!(
        "{}/resources/compute.appvia.io/v2beta2/workspaces/pay/clusters",
        server.url
    );
    let mut body = cluster("api", "pay", &[]);
    body.as_object_mut().unwrap().remove("status");
    let resp = client
        .post(&base)
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = resp.status();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(code.as_u16(), 201, "{created:#}");
    let (done, seen) = wait_phase(&store, "pay", "api", "Success").await;
    assert!(seen.contains(&"Success".to_string()), "{seen:?}");
    assert_eq!(done["status"]["network"]["cidr"], "10.0.0.0/22");

    let resp = client
        .delete(format!("{base}/api"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answered: Value = resp.json().await.unwrap();
    assert_eq!(answered["status"]["status"], "Deleting", "{answered:#}");
    let (_, seen) = wait(&store, "pay", "api", |b| b.is_none()).await;
    assert_eq!(seen.last().map(String::as_str), Some("(gone)"));
    let resp = client
        .get(format!("{base}/api"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delete_is_retried_after_its_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    put(
        &store,
        Some("pay"),
        cluster(
            "sticky",
            "pay",
            &[("wayfinder.dev/simulate", "fail-delete-once")],
        ),
    );
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(50)).await;
    let store = server.store.clone();
    wait_phase(&store, "pay", "sticky", "Success").await;
    request_delete(&server.store, "pay", "sticky");
    let (failed, _) = wait_phase(&store, "pay", "sticky", "DeleteFailed").await;
    assert_eq!(failed["status"]["deleteAttempts"], json!(1), "{failed:#}");
    assert!(failed["status"]["retryAfter"].is_string(), "{failed:#}");
    let ready = ready_condition(&failed).unwrap();
    assert_eq!(ready.reason.as_deref(), Some("SimulatedDeleteFailure"));
    // Not retried at once: the back-off (5 s for the first failure) holds it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        reconciler::status_of(&get(&store, "pay", "sticky").unwrap()),
        Some("DeleteFailed")
    );
    // Then the resync retries it, and this time the cloud deletes it.
    let (gone, _) = wait(&store, "pay", "sticky", |b| b.is_none()).await;
    assert!(gone.is_none());
    server.stop().await;
}
