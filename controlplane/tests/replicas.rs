//! Several `wayfinder-server` processes on one real 3-member etcd cluster (`--store etcd`)
//! serve one control plane: writes through one are read through another, admission limits
//! hold across replicas, acknowledged writes survive a killed etcd member or a killed
//! replica, and the reconciler moves to another replica when its leader dies.
//!
//! Needs `etcd` (Debian's `etcd-server`; `.ci/run` installs it); without it these tests
//! fail saying how to install it, and `WAYFINDER_SKIP_ETCD=1` skips them, saying so.
#![cfg(feature = "etcd")]

mod common;
mod fixtures;
#[allow(dead_code)]
#[path = "../../tests/acceptance/src/launch.rs"]
mod launch;
#[allow(dead_code)]
#[path = "../../tests/acceptance/src/etcd.rs"]
mod local_etcd;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fixtures::{CLUSTERS_PAY, cluster, collection};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TEMPLATES: &str = "/resources/compute.appvia.io/v2beta2/computetemplates";

fn skipped() -> bool {
    let skip = std::env::var_os("WAYFINDER_SKIP_ETCD").is_some_and(|v| v == "1");
    if skip {
        eprintln!("SKIPPED: WAYFINDER_SKIP_ETCD=1 (this test needs a real etcd cluster)");
    }
    skip
}

/// A 3-member etcd cluster and replicas on it, stopped on drop.
struct ControlPlane {
    dir: tempfile::TempDir,
    etcd: local_etcd::LocalEtcd,
    replicas: Vec<Option<launch::Replica>>,
    token: String,
    client: reqwest::Client,
}

impl ControlPlane {
    fn start(n: usize, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etcd = local_etcd::LocalEtcd::start(&dir.path().join("etcd"), 3)
            .unwrap_or_else(|e| panic!("a 3-member etcd cluster starts: {e:#}"));
        let endpoints = etcd.endpoints();
        let mut replicas = Vec::new();
        let mut token = None;
        for i in 0..n {
            let data = dir.path().join(format!("replica-{i}"));
            std::fs::create_dir_all(&data).unwrap();
            let mut args = vec!["--store", "etcd", "--etcd-endpoints", &endpoints];
            args.extend_from_slice(extra);
            let r = launch::start_replica(
                &PathBuf::from(env!("CARGO_BIN_EXE_wayfinder-server")),
                "127.0.0.1:0",
                &data,
                &data.join("server.log"),
                &args,
            )
            .unwrap_or_else(|e| panic!("replica {i} starts: {e:#}"));
            if let Some(t) = &r.token {
                assert!(
                    token.is_none(),
                    "a second replica wrote an administrator token"
                );
                token = Some(t.clone());
            }
            replicas.push(Some(r));
        }
        Self {
            dir,
            etcd,
            replicas,
            token: token.expect("the first replica creates the administrator token"),
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, i: usize) -> String {
        self.replicas[i]
            .as_ref()
            .expect("a running replica")
            .url
            .clone()
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("replica-{i}/server.log")))
            .unwrap_or_default()
    }

    /// SIGKILL of replica `i`.
    fn kill(&mut self, i: usize) {
        if let Some(mut r) = self.replicas[i].take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }

    async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        call(&self.client, &self.url(i), &self.token, method, path, body).await
    }

    /// Creates `v` through replica `i`; panics unless `201`.
    async fn create(&self, i: usize, v: &Value) -> Value {
        let (status, body) = self
            .call(i, Method::POST, &collection(v, None), Some(v))
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}: {body}",
            v["metadata"]["name"]
        );
        body
    }

    /// The platform `payments-dev` needs, through replica `i`.
    async fn platform(&self, i: usize) {
        for v in fixtures::platform_docs() {
            self.create(i, &v).await;
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for r in self.replicas.iter_mut().flatten() {
            launch::stop(&mut r.child);
        }
    }
}

async fn call(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = client
        .request(method, format!("{url}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(30));
    if let Some(b) = body {
        req = req.json(b);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        // No answer: the outcome is unknown (the process may have died mid-request).
        Err(e) => (StatusCode::from_u16(599).unwrap(), json!(e.to_string())),
    }
}

fn template(name: &str) -> Value {
    let mut t = common::template(name);
    t["metadata"]["name"] = json!(name);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_serve_one_control_plane_with_one_administrator_token() {
    if skipped() {
        return;
    }
    let cp = ControlPlane::start(2, &[]);
    // One administrator token per control plane: the second replica says one exists.
    assert!(!cp.dir.path().join("replica-1/admin-token").exists());
    assert!(
        cp.log(1)
            .contains("the control plane's administrator token exists"),
        "{}",
        cp.log(1)
    );
    // A write through one replica is read through the other at once, at the same version.
    let created = cp.create(0, &template("shared")).await;
    let (status, read) = cp
        .call(1, Method::GET, &format!("{TEMPLATES}/shared"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        read["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    assert_eq!(read["metadata"]["uid"], created["metadata"]["uid"]);
    // An update through the second is seen through the first; a stale version conflicts
    // whichever replica it goes to.
    let mut changed = read.clone();
    changed["spec"]["description"] = json!("changed through replica 1");
    let (status, updated) = cp
        .call(
            1,
            Method::PUT,
            &format!("{TEMPLATES}/shared"),
            Some(&changed),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (_, list) = cp.call(0, Method::GET, TEMPLATES, None).await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["metadata"]["name"] == "shared")
        .cloned()
        .expect("listed through replica 0");
    assert_eq!(item["spec"]["description"], "changed through replica 1");
    let (status, body) = cp
        .call(
            0,
            Method::PUT,
            &format!("{TEMPLATES}/shared"),
            Some(&changed),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A workspace created through one replica is there at once through the other: its
    // collections answer, and writes into it are admitted (nothing decided on a stale copy).
    for i in 0..20 {
        let ws = format!("ws{i}");
        cp.create(0, &fixtures::workspace(&ws)).await;
        let path = format!("/resources/compute.appvia.io/v2beta2/workspaces/{ws}/clusters");
        let (status, body) = cp.call(1, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{ws}: {body}");
    }
    // Resource versions come from etcd: they increase, and clients may not assume more.
    let (a, b) = (
        created["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap(),
        updated["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap(),
    );
    assert!(b > a, "{a} then {b}");
}

/// Creates `n` clusters named `{prefix}-{i}` at once, alternating replicas; the statuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_through_one_replica_right_after_a_write_through_the_other_sees_it() {
    if skipped() {
        return;
    }
    // A write is decided first on the replica's cache as it is; one refused there (the
    // workspace, the object or its version not seen yet) is decided again behind the
    // read barrier before the refusal is answered. Back and forth, with no pause.
    let cp = ControlPlane::start(2, &[]);
    for i in 0..15 {
        let (a, b) = (i % 2, 1 - i % 2);
        // Into a workspace created a moment ago through the other replica.
        let ws = format!("w{i}");
        cp.create(a, &fixtures::workspace(&ws)).await;
        let token = json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "AccessToken",
            "metadata": {"name": "ci"}, "spec": {"description": "t", "roles": ["member"]}});
        let path = format!("{}/{ws}/accesstokens", fixtures::TOKENS);
        let (status, body) = cp.call(b, Method::POST, &path, Some(&token)).await;
        assert_eq!(status, StatusCode::CREATED, "{ws}: {body}");
        // An update at the version the other replica just answered.
        let name = format!("t{i}");
        let created = cp.create(a, &template(&name)).await;
        let mut changed = created.clone();
        changed["spec"]["description"] = json!("updated through the other replica");
        let item = format!("{TEMPLATES}/{name}");
        let (status, body) = cp.call(b, Method::PUT, &item, Some(&changed)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        // A second create of the same name is refused, whichever replica it reaches.
        let (status, body) = cp
            .call(a, Method::POST, TEMPLATES, Some(&template(&name)))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
        // A delete of what the other replica just updated.
        let (status, body) = cp.call(a, Method::DELETE, &item, None).await;
        assert!(status.is_success(), "{name}: {status} {body}");
        let (status, body) = cp.call(b, Method::GET, &item, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {body}");
    }
}

async fn race_clusters(cp: &ControlPlane, prefix: &str, n: usize) -> Vec<StatusCode> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut c = cluster();
        c["metadata"]["name"] = json!(format!("{prefix}-{i}"));
        let (client, url, token) = (cp.client.clone(), cp.url(i % 2), cp.token.clone());
        tasks.spawn(async move {
            call(&client, &url, &token, Method::POST, CLUSTERS_PAY, Some(&c))
                .await
                .0
        });
    }
    tasks.join_all().await
}

/// The names listed at `path` through replica `i`.
async fn names(cp: &ControlPlane, i: usize, path: &str) -> std::collections::BTreeSet<String> {
    let (status, list) = cp.call(i, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

async fn cluster_names(cp: &ControlPlane, i: usize) -> std::collections::BTreeSet<String> {
    names(cp, i, CLUSTERS_PAY).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_creates_through_two_replicas_admit_exactly_the_workspace_limit() {
    if skipped() {
        return;
    }
    let cp = ControlPlane::start(2, &["--sim-provision-time", "200ms"]);
    cp.platform(0).await;
    cp.create(
        1,
        &json!({
            "apiVersion": "policy.appvia.io/v2beta1", "kind": "ProvisioningPolicy",
            "metadata": {"name": "ten-clusters"},
            "spec": {"cloud": "aws", "clusterLimits": {"perWorkspace": {"maxClusters": 10}}}
        }),
    )
    .await;
    let statuses = race_clusters(&cp, "first", 40).await;
    let admitted = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((admitted, refused), (10, 30), "{statuses:?}");
    assert_eq!(cluster_names(&cp, 0).await.len(), 10);
    assert_eq!(cluster_names(&cp, 1).await.len(), 10);

    // Deletes interleaved with 20 more creates: never more than ten at once.
    let names = cluster_names(&cp, 0).await;
    let mut deletes = tokio::task::JoinSet::new();
    for (i, name) in names.iter().take(5).enumerate() {
        let (client, url, token) = (cp.client.clone(), cp.url(i % 2), cp.token.clone());
        let path = format!("{CLUSTERS_PAY}/{name}");
        deletes.spawn(async move {
            call(&client, &url, &token, Method::DELETE, &path, None)
                .await
                .0
        });
    }
    let statuses = race_clusters(&cp, "second", 20).await;
    for s in deletes.join_all().await {
        assert!(s.is_success(), "{s}");
    }
    let admitted_again = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    assert!(admitted_again <= 5, "{statuses:?}");
    // The deleted ones go once the reconciler has deleted them; what remains is the five
    // kept and the ones admitted again: never above the limit.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = cluster_names(&cp, 1).await;
        assert!(now.len() <= 10, "{now:?}");
        if now.len() == 5 + admitted_again || Instant::now() > deadline {
            assert_eq!(now.len(), 5 + admitted_again, "{now:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates `n` templates `{prefix}-{i}` through both replicas, 16 at a time, calling
/// `midway` once `at` of them are acknowledged; the names acknowledged (201) and those whose
/// outcome is unknown (no answer, 5xx).
async fn create_many(
    cp: &mut ControlPlane,
    prefix: &str,
    n: usize,
    at: usize,
    midway: impl FnOnce(&mut ControlPlane),
) -> (Vec<String>, Vec<String>) {
    let mut acked = Vec::new();
    let mut unknown = Vec::new();
    let mut midway = Some(midway);
    let mut next = 0;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.len() < 16 && next < n {
            let name = format!("{prefix}-{next}");
            let live: Vec<String> = cp
                .replicas
                .iter()
                .flatten()
                .map(|r| r.url.clone())
                .collect();
            let url = live[next % live.len()].clone();
            let (client, token) = (cp.client.clone(), cp.token.clone());
            tasks.spawn(async move {
                let (s, _) = call(
                    &client,
                    &url,
                    &token,
                    Method::POST,
                    TEMPLATES,
                    Some(&template(&name)),
                )
                .await;
                (name, s)
            });
            next += 1;
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (name, status) = done.unwrap();
        if status == StatusCode::CREATED {
            acked.push(name);
        } else {
            assert!(
                status.is_server_error() || status.as_u16() == 599,
                "{name}: {status}"
            );
            unknown.push(name);
        }
        if acked.len() == at
            && let Some(f) = midway.take()
        {
            f(cp);
        }
    }
    (acked, unknown)
}

async fn template_names(cp: &ControlPlane, i: usize) -> std::collections::BTreeSet<String> {
    names(cp, i, TEMPLATES).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_etcd_member_killed_during_500_creates_loses_nothing_acknowledged() {
    if skipped() {
        return;
    }
    let mut cp = ControlPlane::start(2, &[]);
    let started = Instant::now();
    let (acked, unknown) = create_many(&mut cp, "t", 500, 100, |cp| cp.etcd.kill(0)).await;
    eprintln!(
        "500 creates through two replicas, an etcd member killed after 100: {} acknowledged, {} unknown, in {:?}",
        acked.len(),
        unknown.len(),
        started.elapsed()
    );
    assert!(
        acked.len() >= 400,
        "{} acknowledged, {} unknown",
        acked.len(),
        unknown.len()
    );
    // Read through both replicas: each one's cache kept following etcd across the member's
    // death (a read waits until its cache has every acknowledged write, or fails).
    for i in 0..2 {
        let names = template_names(&cp, i).await;
        for name in &acked {
            assert!(
                names.contains(name),
                "{name} was acknowledged but is missing via replica {i}"
            );
        }
        assert!(names.len() <= 500);
    }
    // The member comes back and catches up; writes go on.
    cp.etcd.restart(0).unwrap();
    cp.etcd.wait_healthy(Duration::from_secs(30)).unwrap();
    cp.create(1, &template("after-restart")).await;
    assert!(template_names(&cp, 0).await.contains("after-restart"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_write_leaves_the_other_serving_everything_acknowledged() {
    if skipped() {
        return;
    }
    let mut cp = ControlPlane::start(2, &[]);
    let (acked, _unknown) = create_many(&mut cp, "k", 200, 50, |cp| cp.kill(0)).await;
    assert!(acked.len() >= 100, "{} acknowledged", acked.len());
    let names = template_names(&cp, 1).await;
    for name in &acked {
        assert!(
            names.contains(name),
            "{name} was acknowledged but is missing"
        );
    }
}

/// Waits until cluster `name` is `Success` through replica `i`.
async fn wait_success(cp: &ControlPlane, i: usize, name: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (_, c) = cp
            .call(i, Method::GET, &format!("{CLUSTERS_PAY}/{name}"), None)
            .await;
        if c["status"]["status"] == "Success" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is not Success within {within:?}: {c}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reconciler_moves_to_another_replica_when_its_leader_dies() {
    if skipped() {
        return;
    }
    const TTL: Duration = Duration::from_secs(3);
    let mut cp = ControlPlane::start(
        2,
        &["--sim-provision-time", "500ms", "--etcd-leader-ttl", "3s"],
    );
    cp.platform(0).await;
    let mut first = cluster();
    first["metadata"]["name"] = json!("payments-one");
    cp.create(1, &first).await;
    wait_success(&cp, 0, "payments-one", Duration::from_secs(30)).await;
    // One replica leads the reconciler; the other waits its turn.
    let leads: Vec<bool> = (0..2)
        .map(|i| cp.log(i).contains("reconciler started"))
        .collect();
    assert_eq!(leads.iter().filter(|l| **l).count(), 1, "{leads:?}");
    let leader = leads.iter().position(|l| *l).unwrap();
    let other = 1 - leader;
    cp.kill(leader);
    let killed = Instant::now();
    let mut second = cluster();
    second["metadata"]["name"] = json!("payments-two");
    cp.create(other, &second).await;
    wait_success(&cp, other, "payments-two", TTL + Duration::from_secs(20)).await;
    let took = killed.elapsed();
    assert!(
        cp.log(other).contains("reconciler started"),
        "{}",
        cp.log(other)
    );
    assert!(took < TTL + Duration::from_secs(10), "took {took:?}");
    // The cluster built before the takeover is not built again by the new leader.
    let again = cp
        .log(other)
        .lines()
        .filter(|l| l.contains("reconciling") && l.contains("pay/payments-one"))
        .count();
    assert_eq!(again, 0, "{}", cp.log(other));
    eprintln!(
        "reconciler takeover: cluster built {took:?} after its leader was killed (lease {TTL:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_lost_while_serving_answers_503_and_the_replicas_recover_without_a_restart() {
    if skipped() {
        return;
    }
    let mut cp = ControlPlane::start(2, &[]);
    cp.create(0, &template("before")).await;
    for i in 0..3 {
        cp.etcd.kill(i);
    }
    let (status, body) = cp.call(1, Method::GET, TEMPLATES, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "{body}"
    );
    let (status, body) = cp
        .call(0, Method::POST, TEMPLATES, Some(&template("during")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let ready = cp
        .client
        .get(format!("{}/readyz", cp.url(0)))
        .send()
        .await
        .unwrap()
        .status();
    assert!(!ready.is_success(), "{ready}");
    for i in 0..3 {
        cp.etcd.restart(i).unwrap();
    }
    cp.etcd.wait_healthy(Duration::from_secs(30)).unwrap();
    // Back without a restart of either replica; the refused write is not there.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = cp
            .call(0, Method::POST, TEMPLATES, Some(&template("after")))
            .await;
        if status == StatusCode::CREATED {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let names = template_names(&cp, 1).await;
    assert!(
        names.contains("before") && names.contains("after"),
        "{names:?}"
    );
    assert!(!names.contains("during"), "{names:?}");
}

#[test]
fn an_unreachable_etcd_at_start_is_an_error_naming_the_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let port = local_etcd::free_port().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wayfinder-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--store", "etcd", "--etcd-endpoints", &endpoint])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&endpoint), "{stderr}");
    assert!(out.stdout.is_empty(), "it never said it listens");
}

/// Waits until every cluster of `names` is `Success` or `Failure` through replica `i`;
/// their bodies.
async fn wait_settled(
    cp: &ControlPlane,
    i: usize,
    names: &std::collections::BTreeSet<String>,
    within: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let (status, list) = cp.call(i, Method::GET, CLUSTERS_PAY, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let items: Vec<Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| names.contains(c["metadata"]["name"].as_str().unwrap_or_default()))
            .cloned()
            .collect();
        let settled = items
            .iter()
            .filter(|c| matches!(c["status"]["status"].as_str(), Some("Success" | "Failure")))
            .count();
        if items.len() == names.len() && settled == names.len() {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "{settled} of {} clusters settled within {within:?}: {items:?}",
            names.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_allocations_stay_unique_across_replicas_and_a_reconciler_handover() {
    if skipped() {
        return;
    }
    let mut cp = ControlPlane::start(
        2,
        &["--sim-provision-time", "300ms", "--etcd-leader-ttl", "3s"],
    );
    // The platform, with one assignable range of four /22 blocks (the plan asks a /22).
    const POOL: &str = "10.0.0.0/20";
    for mut v in fixtures::platform_docs() {
        if v["kind"] == "AssignableNetwork" {
            v["spec"]["networks"] = json!([{"range": POOL, "type": "node"}]);
        }
        cp.create(0, &v).await;
    }
    // Twelve creates at once through both replicas: each is admitted (admission previews a
    // network only in a dry run; the reconciler allocates).
    let statuses = race_clusters(&cp, "net", 12).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let names = cluster_names(&cp, 0).await;
    assert_eq!(names.len(), 12);
    // Once the leading reconciler has allocated some, it is killed: the other replica
    // takes over and allocates the rest.
    let leader = (0..2)
        .find(|i| cp.log(*i).contains("reconciler started"))
        .expect("one replica leads the reconciler");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = cp.call(leader, Method::GET, CLUSTERS_PAY, None).await;
        let allocated = list["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["status"]["network"].is_object())
                    .count()
            })
            .unwrap_or(0);
        if allocated >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no network allocated: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cp.kill(leader);
    let other = 1 - leader;
    let clusters = wait_settled(&cp, other, &names, Duration::from_secs(60)).await;
    assert!(
        cp.log(other).contains("reconciler started"),
        "{}",
        cp.log(other)
    );
    let pool = wayfinder_model::net::Ipv4Net::parse(POOL).unwrap();
    let mut built = Vec::new();
    let mut refused = Vec::new();
    for c in &clusters {
        let name = c["metadata"]["name"].as_str().unwrap().to_string();
        match c["status"]["status"].as_str() {
            Some("Success") => {
                let cidr = c["status"]["network"]["cidr"].as_str().unwrap_or_default();
                let net = wayfinder_model::net::Ipv4Net::parse(cidr)
                    .unwrap_or_else(|e| panic!("{name}: {cidr:?}: {e}"));
                assert!(pool.contains(&net) && net.prefix == 22, "{name}: {net}");
                built.push((name, net));
            }
            _ => {
                let text = c["status"].to_string();
                assert!(
                    text.contains("NetworkUnavailable")
                        && text.contains(&format!("no free /22 network is left in {POOL}")),
                    "{name}: {text}"
                );
                refused.push(name);
            }
        }
    }
    // Exactly the pool's four blocks, each once; the other eight refused, saying why.
    let mut nets: Vec<_> = built.iter().map(|(_, n)| *n).collect();
    nets.sort();
    nets.dedup();
    assert_eq!(nets.len(), built.len(), "a block given twice: {built:?}");
    assert_eq!(
        (built.len(), refused.len()),
        (4, 8),
        "{built:?} {refused:?}"
    );
    let built: Vec<String> = built.iter().map(|(n, net)| format!("{n} {net}")).collect();
    eprintln!(
        "network allocations across a reconciler handover: {}",
        built.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_two_mebibyte_object_through_a_replica_is_a_413_naming_the_limit_and_nothing_is_written()
{
    if skipped() {
        return;
    }
    let cp = ControlPlane::start(2, &[]);
    // Under the HTTP body limit (4 MiB), over the object limit (1 MiB) and etcd's 1.5 MiB.
    let mut big = template("big");
    big["spec"]["description"] = json!("x".repeat(2 * 1024 * 1024));
    let (status, body) = cp.call(0, Method::POST, TEMPLATES, Some(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["reason"], "RequestEntityTooLarge", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at most") && message.contains("1 MiB"),
        "{message}"
    );
    // The replica keeps serving; nothing was written, through either replica.
    cp.create(0, &template("small")).await;
    for i in 0..2 {
        let (status, _) = cp
            .call(i, Method::GET, &format!("{TEMPLATES}/big"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(template_names(&cp, i).await.contains("small"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_whose_plan_pins_150_packages_is_admitted_though_its_decision_reads_more_keys_than_etcd_compares()
 {
    if skipped() {
        return;
    }
    let cp = ControlPlane::start(2, &[]);
    // The plan pins 150 more packages: admitting a cluster of it reads each by key, more
    // than etcd's 128 compares in one txn.
    const EXTRA: usize = 150;
    let extra: Vec<Value> = (0..EXTRA)
        .map(|i| {
            let mut p = fixtures::doc("package.yaml", "external-dns");
            p["metadata"]["name"] = json!(format!("pkg-{i:03}"));
            p
        })
        .collect();
    for mut v in fixtures::platform_docs() {
        if v["kind"] == "ClusterPlan" {
            let pins = v["spec"]["cluster"]["packages"].as_array_mut().unwrap();
            for p in &extra {
                pins.push(json!({"name": p["metadata"]["name"], "version": p["spec"]["version"]}));
            }
            for (i, p) in extra.iter().enumerate() {
                cp.create(i % 2, p).await;
            }
        }
        cp.create(0, &v).await;
    }
    for i in 0..2 {
        let mut c = cluster();
        c["metadata"]["name"] = json!(format!("many-packages-{i}"));
        let (status, body) = cp.call(i, Method::POST, CLUSTERS_PAY, Some(&c)).await;
        assert_eq!(status, StatusCode::CREATED, "through replica {i}: {body}");
    }
    assert_eq!(cluster_names(&cp, 1).await.len(), 2);
}
