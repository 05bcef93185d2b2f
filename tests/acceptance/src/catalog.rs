//! A platform published through the REST API, for tests whose subject is not the platform
//! itself (clusters, credentials, the cost function): the model's fixture objects
//! (`model/tests/data/*.yaml`), workspace tokens, and waiting for a cluster's status.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wayfinder_model::kinds::{self, KindInfo};

use crate::support::collection_path;
use crate::{ApiClient, repo_root};

/// Every document of `model/tests/data/{file}`, as JSON.
pub fn fixture_docs(file: &str) -> Vec<Value> {
    let path = repo_root().join("model/tests/data").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    wayfinder_model::parse_yaml_documents(&path.to_string_lossy(), &text)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
        .into_iter()
        .map(|d| d.object.to_json())
        .collect()
}

/// The fixture document of `file` named `name`.
pub fn fixture(file: &str, name: &str) -> Value {
    fixture_docs(file)
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{file} has no {name}"))
}

fn kind_of(v: &Value) -> &'static KindInfo {
    kinds::by_api_version_kind(
        v["apiVersion"].as_str().unwrap_or_default(),
        v["kind"].as_str().unwrap_or_default(),
    )
    .unwrap_or_else(|| panic!("not a Wayfinder kind: {v}"))
}

/// The path of cluster `ws/name`.
pub fn cluster_path(ws: &str, name: &str) -> String {
    format!("{}/{name}", collection_path(&kinds::CLUSTER, Some(ws)))
}

/// Creates `object` (its workspace from `metadata.namespace` `ws-KEY`, else `ws`); panics
/// unless the server answers 201. Returns the stored object.
pub fn create(api: &ApiClient, object: &Value, ws: Option<&str>) -> Value {
    let kind = kind_of(object);
    let ws = object["metadata"]["namespace"]
        .as_str()
        .and_then(|n| n.strip_prefix("ws-"))
        .or(ws);
    let mut body = object.clone();
    if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    api.create(kind, ws, &body)
}

/// The blocks of a cluster on the platform [`publish_platform`] builds — plan
/// `eks-general-purpose` 1.3.0, cloud access `admin/aws-nonprod`, one `compute` pool of
/// `machine` (2 nodes, autoscaling 2 to `max_size`) and a network of `/network_size` — for
/// the inside of a `wayfinder_cluster` block, two spaces in.
pub fn cluster_blocks(machine: &str, max_size: i64, network_size: u8) -> String {
    format!(
        r#"  plan {{
    name    = "eks-general-purpose"
    version = "1.3.0"
  }}

  cloud_access_ref {{
    workspace = "admin"
    name      = "aws-nonprod"
  }}

  node_pools {{
    logical_name = "compute"
    machine      = "{machine}"
    disk_size    = 100
    size         = 2

    autoscaling {{
      enabled  = true
      min_size = 2
      max_size = {max_size}
    }}
  }}

  network {{
    size = {network_size}
  }}"#
    )
}

/// Stage, workspace, cloud identity and access, assignable network, network plan, compute
/// template, repository, packages and the published plan `eks-general-purpose` 1.3.0 —
/// everything the fixture cluster `payments-dev` of workspace `pay` needs — created with
/// the administrator's `api`. No provisioning policy.
pub fn publish_platform(api: &ApiClient) {
    for (file, name) in [
        ("workspace.yaml", "pay"),
        ("cloud_identity.yaml", "cloudidentity-aws"),
        ("cloud_access_config.yaml", "aws-nonprod"),
        ("assignable_network.yaml", "aws-nonprod"),
        ("cluster_network_plan.yaml", "eks-assignable"),
        ("compute_template.yaml", "eks-general-purpose"),
        ("repository.yaml", "jetstack"),
        ("package.yaml", "external-dns"),
        ("package.yaml", "cert-manager"),
        ("cluster_plan.yaml", "eks-general-purpose"),
    ] {
        if file == "cloud_identity.yaml" {
            create(api, &stage("nonprod"), None);
        }
        create(api, &fixture(file, name), None);
    }
}

/// A Stage.
pub fn stage(name: &str) -> Value {
    json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "Stage", "metadata": {"name": name},
           "spec": {"displayName": name}})
}

/// Creates AccessToken `name` in workspace `ws` with `roles` (`owner`, `member`) and
/// returns its secret (shown once).
pub fn access_token(api: &ApiClient, ws: &str, name: &str, roles: &[&str]) -> String {
    access_token_for(api, ws, name, roles, "2h")
}

/// [`access_token`] living `ttl` (a token that mints others must outlive them).
pub fn access_token_for(
    api: &ApiClient,
    ws: &str,
    name: &str,
    roles: &[&str],
    ttl: &str,
) -> String {
    let body = json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "AccessToken",
        "metadata": {"name": name},
        "spec": {"description": "acceptance test", "roles": roles, "ttl": ttl}});
    let created = create(api, &body, Some(ws));
    created["status"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no status.token in {created}"))
        .to_string()
}

/// Polls cluster `ws/name` until `done` says yes of its body (or of `None` once it is
/// gone), for up to `timeout`; returns the last body seen.
pub fn wait_cluster(
    api: &ApiClient,
    ws: &str,
    name: &str,
    timeout: Duration,
    done: impl Fn(Option<&Value>) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let resp = api.get(&cluster_path(ws, name));
        let body = match resp.status {
            200 => Some(resp.body),
            404 => None,
            other => panic!("GET cluster {ws}/{name}: {other}: {}", resp.text),
        };
        if done(body.as_ref()) {
            return body;
        }
        if Instant::now() > deadline {
            panic!(
                "cluster {ws}/{name} did not reach the awaited state within {timeout:?}; last: {body:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `status.status` of a cluster body.
pub fn cluster_phase(body: Option<&Value>) -> Option<&str> {
    body?.pointer("/status/status")?.as_str()
}
