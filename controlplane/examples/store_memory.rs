//! Resident memory per stored object against the object's stored size: writes N compute
//! templates (default 100,000) into a fresh SQLite store, reopens it (so only the committed
//! state is in memory) and reports the growth of the process's resident set.
//!
//! `cargo run -p wayfinder-controlplane --example store_memory [N]`

use serde_json::json;
use wayfinder_controlplane::store::{Batch, Mutation, NewRow, ObjectKey, Store, StoreError};

/// The allocator `wayfinder-server` ships with: measure as shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn template(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "ComputeTemplate",
        "metadata": {
            "name": name,
            "generation": 1,
            "uid": "0b7c2f7e-5d0a-4b8e-9f53-1c9f0e8d2a41",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"team": "platform", "tier": "general"}
        },
        "spec": {
            "description": "General purpose nodes for services and batch work",
            "provider": "EKS",
            "nodePools": [
                {"logicalName": "compute", "machine": "m6i.large", "diskSize": 100, "size": 2,
                 "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 5},
                 "labels": {"workload": "general"}},
                {"logicalName": "memory", "machine": "r6i.xlarge", "diskSize": 200, "size": 1,
                 "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 3},
                 "taints": [{"key": "memory", "value": "true", "effect": "NoSchedule"}]},
                {"logicalName": "spot", "machine": "m6i.2xlarge", "diskSize": 100, "size": 0,
                 "spot": true,
                 "autoscaling": {"enabled": true, "minSize": 0, "maxSize": 10}}
            ]
        }
    })
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("wayfinder.db");
    let mut stored = 0usize;
    {
        let store = Store::open_sqlite(&path).expect("the store opens");
        for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
            let mut batch = Batch::default();
            for i in chunk {
                let name = format!("template-{i:06}");
                let body = template(&name);
                stored += body.to_string().len();
                let key = ObjectKey::platform(&wayfinder_model::kinds::COMPUTE_TEMPLATE, &name);
                batch.objects.push((
                    key,
                    Mutation::Put(NewRow {
                        body,
                        generation: 1,
                        uid: "0b7c2f7e-5d0a-4b8e-9f53-1c9f0e8d2a41".into(),
                        created: "2026-01-01T00:00:00Z".into(),
                    }),
                ));
            }
            let mut batch = Some(batch);
            store
                .commit::<_, StoreError>(false, None, |_| {
                    Ok((batch.take().unwrap_or_default(), ()))
                })
                .expect("a commit");
        }
        store.close().expect("the store closes");
    }
    let before = rss_bytes();
    let store = Store::open_sqlite(&path).expect("the store reopens");
    let after = rss_bytes();
    let listed = store
        .list_filtered(&wayfinder_controlplane::store::ListFilter::default())
        .expect("a list")
        .items
        .len();
    assert_eq!(listed, n);
    let per_object = (after.saturating_sub(before)) as f64 / n as f64;
    let stored_per_object = stored as f64 / n as f64;
    println!(
        "{n} objects: resident +{:.1} MB after opening ({per_object:.0} B per object); stored body {stored_per_object:.0} B per object; ratio {:.2}",
        (after.saturating_sub(before)) as f64 / 1e6,
        per_object / stored_per_object
    );
}
