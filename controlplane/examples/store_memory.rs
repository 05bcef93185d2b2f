//! Resident memory per stored object against the object's stored size: a child process
//! writes N compute templates (default 100,000) into a fresh SQLite store; then this
//! process, which has allocated nothing much yet, opens it (what a restarted server holds:
//! the committed state in memory) and reports the growth of its resident set, and how long
//! a page of 100 (`Store::list_page`, what `?limit=100` reads) takes at that size: the
//! first page and one from the middle of the collection (through its continue token).
//!
//! `cargo run --release -p wayfinder-controlplane --example store_memory -- [N] [--json]`
//! (`--json`, what `cargo xtask bench` runs: one JSON object on the last line).

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

/// `field` of `/proc/self/status` (`VmRSS`, `RssAnon`, `RssFile`), in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
        * 1024
}

fn rss_bytes() -> u64 {
    status_bytes("VmRSS")
}

fn write(path: &std::path::Path, n: usize) {
    let store = Store::open_sqlite(path).expect("the store opens");
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut batch = Batch::default();
        for i in chunk {
            let name = format!("template-{i:06}");
            let key = ObjectKey::platform(&wayfinder_model::kinds::COMPUTE_TEMPLATE, &name);
            batch.objects.push((
                key,
                Mutation::Put(NewRow {
                    body: template(&name),
                    generation: 1,
                    uid: "0b7c2f7e-5d0a-4b8e-9f53-1c9f0e8d2a41".into(),
                    created: "2026-01-01T00:00:00Z".into(),
                }),
            ));
        }
        let mut batch = Some(batch);
        store
            .commit::<_, StoreError>(false, None, |_| Ok((batch.take().unwrap_or_default(), ())))
            .expect("a commit");
    }
    store.close().expect("the store closes");
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    if let Some(path) = args.next() {
        // The child: write, and end (taking its memory with it).
        write(std::path::Path::new(&path), n);
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("wayfinder.db");
    let status = std::process::Command::new(std::env::current_exe().expect("this program"))
        .stdout(std::process::Stdio::null())
        .arg(n.to_string())
        .arg(&path)
        .status()
        .expect("the writer runs");
    assert!(status.success(), "the writer failed: {status}");
    let stored: u64 = (0..n)
        .map(|i| {
            let mut body = template(&format!("template-{i:06}"));
            wayfinder_controlplane::store::cache::strip_resource_version(&mut body);
            body.to_string().len() as u64
        })
        .sum();
    let before = (
        rss_bytes(),
        status_bytes("RssAnon"),
        status_bytes("RssFile"),
    );
    let store = Store::open_sqlite(&path).expect("the store opens");
    let after = (
        rss_bytes(),
        status_bytes("RssAnon"),
        status_bytes("RssFile"),
    );
    let listed = store
        .list_filtered(&wayfinder_controlplane::store::ListFilter::default())
        .expect("a list")
        .items
        .len();
    assert_eq!(listed, n);
    let (first_page_ms, middle_page_ms) = page_latencies(&store, n);
    let grew = after.0.saturating_sub(before.0);
    let per_object = grew as f64 / n as f64;
    let stored_per_object = stored as f64 / n as f64;
    println!(
        "{n} objects in a {:.1} MB file: resident +{:.1} MB after opening (anonymous +{:.1} MB, file-backed +{:.1} MB)",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        grew as f64 / 1e6,
        after.1.saturating_sub(before.1) as f64 / 1e6,
        after.2.saturating_sub(before.2) as f64 / 1e6,
    );
    println!(
        "{per_object:.0} B resident per object against {stored_per_object:.0} B of stored body: ratio {:.2}",
        per_object / stored_per_object
    );
    println!(
        "a page of {PAGE} of {n}: first {:.3} ms, mid-collection {:.3} ms (medians of {PAGE_RUNS})",
        first_page_ms, middle_page_ms
    );
    if json {
        println!(
            "{}",
            json!({
                "objects": n,
                "resident_per_object_bytes": per_object,
                "stored_per_object_bytes": stored_per_object,
                "ratio": per_object / stored_per_object,
                "page_limit": PAGE,
                "first_page_ms": first_page_ms,
                "middle_page_ms": middle_page_ms,
            })
        );
    }
}

/// The page size timed (`?limit=100`).
const PAGE: usize = 100;
/// How many times each page is read (the median is reported).
const PAGE_RUNS: usize = 51;

/// The median time, in ms, of reading the first page of [`PAGE`] compute templates, and of
/// one starting half-way through the `n` (through the continue token that leads there).
fn page_latencies(store: &Store, n: usize) -> (f64, f64) {
    let filter = wayfinder_controlplane::store::ListFilter::kind(
        &wayfinder_model::kinds::COMPUTE_TEMPLATE,
        "",
    );
    let first = store
        .list_page(&filter, PAGE, None)
        .expect("the first page");
    assert_eq!(first.listing.items.len(), PAGE.min(n));
    // The continue token of the page that ends half-way: the next page starts mid-collection.
    let middle_token = store
        .list_page(&filter, (n / 2).max(1), None)
        .expect("half the collection")
        .continue_token;
    let median_ms = |token: Option<&str>| {
        let mut times: Vec<f64> = (0..PAGE_RUNS)
            .map(|_| {
                let start = std::time::Instant::now();
                let page = store.list_page(&filter, PAGE, token).expect("a page");
                let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                assert!(!page.listing.items.is_empty());
                elapsed
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    (median_ms(None), median_ms(middle_token.as_deref()))
}
