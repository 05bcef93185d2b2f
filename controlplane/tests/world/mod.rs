//! A store holding everything a cluster needs (workspaces, stage, cloud access, network plan,
//! assignable network, compute template, published plan, packages, cluster and access
//! policies), written straight into the store, and helpers to watch clusters.
//!
//! The objects are written directly, as the API would store them, because workspaced and
//! versioned paths are not served by the API yet.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wayfinder_controlplane::reconciler;
use wayfinder_controlplane::store::{Mutation, NewRow, ObjectKey, Store, StoreError};
use wayfinder_model::kinds::{self, CLUSTER};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../model/tests/data/");

fn fixtures(file: &str) -> Vec<Value> {
    let path = format!("{DATA}{file}.yaml");
    let text = std::fs::read_to_string(&path).expect("fixture");
    wayfinder_model::parse_yaml_documents(&path, &text)
        .expect("fixture parses")
        .into_iter()
        .map(|d| d.object.to_json())
        .collect()
}

fn named(file: &str, name: &str) -> Value {
    fixtures(file)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{file}: no {name}"))
}

/// Writes `body` as the API would: server-owned metadata set, in workspace `ws` (None for
/// platform kinds); versioned kinds under the API's storage name (`name@version`).
pub fn put(store: &Store, ws: Option<&str>, body: Value) {
    let info = kinds::by_api_version_kind(
        body["apiVersion"].as_str().unwrap(),
        body["kind"].as_str().unwrap(),
    )
    .expect("a known kind");
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    let version = body["spec"]["version"].as_str().filter(|_| info.versioned);
    let row_name = wayfinder_controlplane::resources::storage_name(&name, version);
    let key = match ws {
        Some(ws) => ObjectKey::workspaced(info, ws, &row_name),
        None => ObjectKey::platform(info, &row_name),
    };
    store
        .mutate::<_, StoreError>(&key, false, |cur| {
            let mut body = body.clone();
            let generation = match &cur {
                Some(c) if c.body.get("spec") != body.get("spec") => c.generation + 1,
                Some(c) => c.generation,
                None => 1,
            };
            let uid = cur
                .as_ref()
                .map(|c| c.uid.clone())
                .unwrap_or_else(wayfinder_controlplane::resources::new_uid);
            let created = "2025-01-01T00:00:00Z".to_string();
            if let Some(c) = &cur
                && body.get("status").is_none()
                && let Some(st) = c.body.get("status")
            {
                body["status"] = st.clone();
            }
            let m = &mut body["metadata"];
            m["generation"] = json!(generation);
            m["uid"] = json!(uid);
            m["creationTimestamp"] = json!(created);
            Ok((
                Mutation::Put(NewRow {
                    body,
                    generation,
                    uid,
                    created,
                }),
                (),
            ))
        })
        .unwrap();
}

/// Opens the store of a data directory (creating it), for setup: close it before starting a
/// server on the directory (the server owns the file), then read through `Running::store`.
pub fn open(data_dir: &Path) -> Store {
    std::fs::create_dir_all(data_dir).unwrap();
    Store::open_sqlite(&data_dir.join(wayfinder_controlplane::STORE_FILE)).unwrap()
}

/// Workspaces `pay` (owner jane@example.com) and `web`, stage nonprod, the platform's AWS
/// cloud access and assignable network (one /22 only: 10.0.0.0/22), network plan, compute
/// template, the published EKS plan 1.3.0 with its two packages, cluster policies (one for
/// nonprod, the fixtures' prod-only one and their all-clusters one) and the fixtures'
/// access policies (owner-nonprod: 8h for admins and owners).
pub fn populate(store: &Store) {
    put(store, None, named("workspace", "pay"));
    let mut web = named("workspace", "pay");
    web["metadata"]["name"] = json!("web");
    web["spec"]["key"] = json!("web");
    web["spec"]["resourceNamespace"] = json!("ws-web");
    web["spec"]["owners"] = json!([{"kind": "User", "name": "bob@example.com"}]);
    put(store, None, web);
    put(
        store,
        None,
        json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "Stage",
               "metadata": {"name": "nonprod"}, "spec": {"displayName": "Non-production"}}),
    );
    put(
        store,
        Some("admin"),
        named("cloud_access_config", "aws-nonprod"),
    );
    set_pool(store, "10.0.0.0/22");
    put(store, None, named("cluster_network_plan", "eks-assignable"));
    put(
        store,
        None,
        named("compute_template", "eks-general-purpose"),
    );
    put(store, None, named("cluster_plan", "eks-general-purpose"));
    for p in fixtures("package") {
        put(store, None, p);
    }
    for p in fixtures("global_cluster_policy") {
        put(store, None, p);
    }
    let mut nonprod = named("global_cluster_policy", "pvc-storageclass-global");
    nonprod["metadata"]["name"] = json!("nonprod-only");
    nonprod["spec"]["target"] = json!({"cluster": {"matchLabels": {"appvia.io/stage": "nonprod"}}});
    put(store, None, nonprod);
    for p in fixtures("global_access_policy") {
        put(store, None, p);
    }
}

/// Makes the platform's assignable network for nonprod AWS the one range `range`.
pub fn set_pool(store: &Store, range: &str) {
    let mut an = named("assignable_network", "aws-nonprod");
    an["spec"]["networks"] = json!([{"range": range, "type": "node"}]);
    put(store, Some("admin"), an);
}

/// A cluster in workspace `ws` on the EKS plan, asking for a /22, with `Pending` status.
pub fn cluster(name: &str, ws: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": format!("ws-{ws}")},
        "spec": {
            "plan": {"name": "eks-general-purpose", "version": "1.3.0"},
            "stage": "nonprod",
            "cloudAccessRef": {"workspace": "admin", "name": "aws-nonprod"},
            "network": {"size": 22},
            "clusterLabels": labels,
        },
        "status": reconciler::pending_status(1),
    })
}

pub fn key(ws: &str, name: &str) -> ObjectKey {
    ObjectKey::workspaced(&CLUSTER, ws, name)
}

pub fn get(store: &Store, ws: &str, name: &str) -> Option<Value> {
    store.get(&key(ws, name)).unwrap().map(|o| o.body)
}

/// Polls until `done` holds for the cluster's body (`None` once it is gone), recording each
/// `status.status` seen; panics after 20 s with what was seen.
pub async fn wait(
    store: &Store,
    ws: &str,
    name: &str,
    done: impl Fn(Option<&Value>) -> bool,
) -> (Option<Value>, Vec<String>) {
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let body = get(store, ws, name);
        let phase = body
            .as_ref()
            .map(|b| reconciler::status_of(b).unwrap_or("(none)").to_string())
            .unwrap_or_else(|| "(gone)".to_string());
        if seen.last() != Some(&phase) {
            seen.push(phase);
        }
        if done(body.as_ref()) {
            return (body, seen);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{ws}/{name}: timed out; phases seen {seen:?}; last {body:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for `status.status == phase`.
pub async fn wait_phase(store: &Store, ws: &str, name: &str, phase: &str) -> (Value, Vec<String>) {
    let (b, seen) = wait(store, ws, name, |b| {
        b.and_then(reconciler::status_of) == Some(phase)
    })
    .await;
    (b.unwrap(), seen)
}

/// A server running in-process on `data_dir` with the simulated driver taking `sim`.
pub struct Running {
    pub url: String,
    /// The server's own store: write through it while the server runs, so its reconciler
    /// hears of the change at once.
    pub store: std::sync::Arc<Store>,
    pub token: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), wayfinder_controlplane::ServerError>>,
}

impl Running {
    pub async fn start(data_dir: &Path, sim: Duration) -> Self {
        let mut config =
            wayfinder_controlplane::Config::new("127.0.0.1:0".parse().unwrap(), data_dir.into());
        config.sim_provision_time = sim;
        let server = wayfinder_controlplane::Server::bind(config)
            .await
            .expect("server binds");
        let url = server.url();
        let token = std::fs::read_to_string(server.admin_token_file()).expect("admin token");
        let store = server.store();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            url,
            store,
            token,
            stop,
            task,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("server task")
            .expect("server stops cleanly");
    }
}
