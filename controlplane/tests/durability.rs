//! Acknowledged writes survive `kill -9`, and nothing is half-written: 500 creates in
//! flight at once (each on its own connection), the server killed with SIGKILL once 150 are
//! acknowledged, then restarted on the same data directory.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{COLLECTION, template};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::process::Child;

const CREATES: usize = 500;
/// The server is killed once this many creates were acknowledged.
const KILL_AFTER: usize = 150;

async fn start(data_dir: &Path) -> (Child, String, String) {
    let (child, line) = common::spawn_binary(data_dir, &["--log-level=warn".as_ref()]).await;
    let url = line
        .trim_end()
        .strip_prefix("wayfinder-server listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_string();
    let token = std::fs::read_to_string(data_dir.join("admin-token")).unwrap();
    (child, url, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_survive_sigkill_and_nothing_is_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url, token) = start(&data).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(CREATES)
        .build()
        .unwrap();

    let acked = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    // Every create waits at the gate until all are ready, so all 500 are in flight together.
    let gate = Arc::new(tokio::sync::Barrier::new(CREATES));
    let mut tasks = Vec::new();
    for i in 0..CREATES {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let (acked, enough, gate) = (acked.clone(), enough.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let name = format!("t{i:03}");
            let resp = client
                .post(format!("{url}{COLLECTION}"))
                .bearer_auth(token)
                .json(&template(&name))
                .send()
                .await;
            let Ok(resp) = resp else {
                return (name, None);
            };
            let status = resp.status();
            let Ok(body) = resp.json::<Value>().await else {
                return (name, None);
            };
            if status.is_success() {
                if acked.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    enough.notify_one();
                }
                (name, Some(body))
            } else {
                panic!("create {name} answered {status}: {body}");
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), enough.notified())
        .await
        .expect("enough creates are acknowledged in time");
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());

    let mut acknowledged: HashMap<String, Value> = HashMap::new();
    let mut unanswered = HashSet::new();
    for t in tasks {
        match t.await.unwrap() {
            (name, Some(body)) => {
                acknowledged.insert(name, body);
            }
            (name, None) => {
                unanswered.insert(name);
            }
        }
    }
    assert!(acknowledged.len() >= KILL_AFTER);
    assert_eq!(acknowledged.len() + unanswered.len(), CREATES);

    // Restart on the same data directory.
    let (mut child, url, token) = start(&data).await;
    let resp = client
        .get(format!("{url}{COLLECTION}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Value = resp.json().await.unwrap();
    let list_rv: i64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let items = list["items"].as_array().unwrap();
    let mut seen_rvs = HashSet::new();
    let mut stored = HashMap::new();
    for item in items {
        // Every stored object is whole: it parses and validates with the model.
        let text = serde_json::to_vec(item).unwrap();
        let object = wayfinder_model::parse_json("stored object", &text)
            .unwrap_or_else(|e| panic!("{e}: {item}"));
        object
            .validate()
            .unwrap_or_else(|e| panic!("{e:?}: {item}"));
        let rv: i64 = item["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen_rvs.insert(rv), "resourceVersion {rv} is used twice");
        assert!(
            rv <= list_rv,
            "the counter ({list_rv}) is behind an object ({rv})"
        );
        stored.insert(
            item["metadata"]["name"].as_str().unwrap().to_string(),
            item.clone(),
        );
    }
    for (name, body) in &acknowledged {
        let got = stored
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged create {name} was lost"));
        assert_eq!(got, body, "{name} is stored as it was acknowledged");
    }
    // Whatever else is stored was sent and not answered (committed just before the kill):
    // whole, as checked above.
    let committed_unanswered = stored
        .keys()
        .filter(|n| !acknowledged.contains_key(*n))
        .inspect(|n| assert!(unanswered.contains(*n), "{n} was never sent"))
        .count();
    eprintln!(
        "{CREATES} creates in flight; SIGKILL after {KILL_AFTER} acknowledgements: {} acknowledged, \
         {} unanswered; after restart {} stored = {} acknowledged (all present, identical) + \
         {committed_unanswered} committed but unanswered; 0 partial",
        acknowledged.len(),
        unanswered.len(),
        stored.len(),
        acknowledged.len(),
    );

    // The counter moves on from where it was: a new write gets a fresh, higher version.
    let resp = client
        .post(format!("{url}{COLLECTION}"))
        .bearer_auth(&token)
        .json(&template("after-restart"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    let rv: i64 = body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv > list_rv && !seen_rvs.contains(&rv));

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let conn = rusqlite::Connection::open(data.join("wayfinder.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
