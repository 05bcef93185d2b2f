//! The store's conformance suite (`wayfinder_controlplane::store::conformance`) on the etcd
//! backend: one test per function, each on its own real 3-member etcd cluster on loopback
//! (Debian's `etcd-server`; `.ci/run` installs it). Without etcd these tests fail, saying
//! how to install it; `WAYFINDER_SKIP_ETCD=1` skips them, saying so.
#![cfg(feature = "etcd")]

#[allow(dead_code)]
#[path = "../../tests/acceptance/src/etcd.rs"]
mod local_etcd;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wayfinder_controlplane::store::etcd::EtcdConfig;
use wayfinder_controlplane::store::{Store, conformance};

/// A new 3-member etcd cluster, its endpoints, and a runtime for the stores on it; `None`
/// (said) under `WAYFINDER_SKIP_ETCD=1`.
fn etcd() -> Option<(
    tempfile::TempDir,
    local_etcd::LocalEtcd,
    Vec<String>,
    tokio::runtime::Runtime,
)> {
    if std::env::var_os("WAYFINDER_SKIP_ETCD").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: WAYFINDER_SKIP_ETCD=1 (this test needs a real etcd cluster)");
        return None;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let etcd = local_etcd::LocalEtcd::start(dir.path(), 3)
        .unwrap_or_else(|e| panic!("a 3-member etcd cluster starts: {e:#}"));
    let endpoints: Vec<String> = etcd.members().iter().map(|m| m.endpoint()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    Some((dir, etcd, endpoints, rt))
}

/// Runs `test` with fresh stores, each under its own prefix of one new etcd cluster.
fn on_etcd(test: fn(conformance::Open<'_>)) {
    let Some((_dir, etcd, endpoints, rt)) = etcd() else {
        return;
    };
    let n = AtomicUsize::new(0);
    let open = || {
        let mut config = EtcdConfig::new(endpoints.clone());
        config.prefix = format!("/conformance-{}", n.fetch_add(1, Ordering::SeqCst));
        rt.block_on(Store::connect_etcd(&config, Duration::from_secs(5)))
            .expect("the etcd store connects")
    };
    test(&open);
    drop(rt);
    drop(etcd);
}

macro_rules! on_etcd {
    ($($name:ident),* $(,)?) => {
        const NAMED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                on_etcd(conformance::$name);
            }
        )*
    };
}

on_etcd!(
    create_if_absent,
    update_at_a_version,
    delete,
    a_refused_decision_writes_nothing,
    a_dry_run_writes_nothing,
    objects_and_tokens_commit_together,
    a_batch_commits_both_or_neither,
    lists_in_key_order_with_labels_and_prefix,
    projections_match_the_bodies,
    watch_from_a_version,
    watch_from_a_compacted_version,
    versions_strictly_increase,
    a_shared_limit_admits_exactly_the_limit,
    pages,
    server_key_is_created_once,
    token_lineage,
    the_read_barrier_returns,
    leadership_and_fenced_writes,
);

#[test]
fn every_function_of_the_suite_runs_on_etcd() {
    let mut all: Vec<&str> = conformance::ALL.iter().map(|(n, _)| *n).collect();
    let mut named = NAMED.to_vec();
    all.sort();
    named.sort();
    assert_eq!(named, all);
}

#[test]
fn a_write_fenced_by_a_deposed_leader_is_refused() {
    use std::sync::Arc;
    use wayfinder_controlplane::store::{Mutation, NewRow, ObjectKey, StoreError};
    let Some((_dir, etcd, endpoints, rt)) = etcd() else {
        return;
    };
    let open = || {
        let mut config = EtcdConfig::new(endpoints.clone());
        config.prefix = "/fenced".to_string();
        Arc::new(
            rt.block_on(Store::connect_etcd(&config, Duration::from_secs(3)))
                .unwrap(),
        )
    };
    let (first, second) = (open(), open());
    let old = first.campaign("reconciler").unwrap();
    let waiting = {
        let second = Arc::clone(&second);
        std::thread::spawn(move || second.campaign("reconciler").unwrap())
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(!waiting.is_finished(), "two replicas lead at once");
    // The leader goes (it resigns as it closes); the other takes over.
    first.close().unwrap();
    let new = waiting.join().unwrap();
    assert_ne!(old.fence, new.fence);
    let key = ObjectKey::platform(&wayfinder_model::kinds::COMPUTE_TEMPLATE, "fenced");
    let put = || {
        Mutation::Put(NewRow {
            body: serde_json::json!({"metadata": {"name": "fenced"}}),
            generation: 1,
            uid: "u".into(),
            created: "2026-01-01T00:00:00Z".into(),
        })
    };
    let refused =
        second.mutate_fenced::<_, StoreError>(&key, false, old.fence.as_ref(), |_| Ok((put(), ())));
    assert!(matches!(refused, Err(StoreError::Fenced)), "{refused:?}");
    assert!(second.get(&key).unwrap().is_none(), "nothing was written");
    second
        .mutate_fenced::<_, StoreError>(&key, false, new.fence.as_ref(), |_| Ok((put(), ())))
        .unwrap();
    assert!(second.get(&key).unwrap().is_some());
    second.close().unwrap();
    drop(rt);
    drop(etcd);
}

fn template_key(name: &str) -> wayfinder_controlplane::store::ObjectKey {
    wayfinder_controlplane::store::ObjectKey::platform(
        &wayfinder_model::kinds::COMPUTE_TEMPLATE,
        name,
    )
}

fn row(body: serde_json::Value) -> wayfinder_controlplane::store::Mutation {
    wayfinder_controlplane::store::Mutation::Put(wayfinder_controlplane::store::NewRow {
        body,
        generation: 1,
        uid: "u".into(),
        created: "2026-01-01T00:00:00Z".into(),
    })
}

/// A store on `endpoints` under `prefix`.
fn connect(rt: &tokio::runtime::Runtime, endpoints: &[String], prefix: &str) -> Store {
    let mut config = EtcdConfig::new(endpoints.to_vec());
    config.prefix = prefix.to_string();
    rt.block_on(Store::connect_etcd(&config, Duration::from_secs(3)))
        .expect("the etcd store connects")
}

#[test]
fn a_decision_reading_two_hundred_keys_commits_and_still_decides_again_after_a_concurrent_write() {
    use wayfinder_controlplane::store::{Batch, Precondition, StoreError};
    let Some((_dir, etcd, endpoints, rt)) = etcd() else {
        return;
    };
    let (store, other) = (
        connect(&rt, &endpoints, "/many"),
        connect(&rt, &endpoints, "/many"),
    );
    for i in 0..200 {
        store
            .compare_and_swap(
                &template_key(&format!("t{i:03}")),
                Precondition::Absent,
                row(serde_json::json!({"n": i})),
            )
            .unwrap();
    }
    // Sums what it reads key by key (200 compares, more than etcd's 128 in one txn) into
    // one object; another replica changes one of those keys during the first decision.
    let mut runs = 0;
    let (sum, _) = store
        .commit::<_, StoreError>(false, None, |reads| {
            runs += 1;
            let mut sum = 0;
            for i in 0..200 {
                let o = reads.get(&template_key(&format!("t{i:03}")))?.unwrap();
                sum += o.body["n"].as_i64().unwrap();
            }
            if runs == 1 {
                let rv = other.get(&template_key("t150")).unwrap().unwrap();
                other
                    .compare_and_swap(
                        &template_key("t150"),
                        Precondition::ResourceVersion(rv.resource_version),
                        row(serde_json::json!({"n": 1150})),
                    )
                    .unwrap();
            }
            Ok((
                Batch::object(template_key("sum"), row(serde_json::json!({"n": sum}))),
                sum,
            ))
        })
        .expect("a decision over 200 keys commits: its guard is coarsened, not refused");
    let first = (0..200).sum::<i64>();
    assert_eq!(runs, 2, "the concurrent write made it decide again");
    assert_eq!(sum, first + 1000, "decided on the write it raced with");
    let stored = other.get(&template_key("sum")).unwrap().unwrap();
    assert_eq!(stored.body["n"], first + 1000);
    store.close().unwrap();
    other.close().unwrap();
    drop(rt);
    drop(etcd);
}

#[test]
fn a_commit_over_etcds_request_limit_is_too_large_writes_nothing_and_the_store_keeps_serving() {
    use wayfinder_controlplane::store::{Batch, Precondition, StoreError};
    let Some((_dir, etcd, endpoints, rt)) = etcd() else {
        return;
    };
    let store = connect(&rt, &endpoints, "/big");
    // Two objects of 0.9 MiB each, each under the server's 1 MiB object limit, in one
    // commit: 1.8 MiB, over etcd's 1.5 MiB request limit.
    let big = "x".repeat(900 * 1024);
    let refused = store.commit::<_, StoreError>(false, None, |_| {
        Ok((
            Batch {
                objects: vec![
                    (template_key("big-a"), row(serde_json::json!({"d": big}))),
                    (template_key("big-b"), row(serde_json::json!({"d": big}))),
                ],
                tokens: Vec::new(),
            },
            (),
        ))
    });
    let Err(e @ StoreError::TooLarge { .. }) = refused else {
        panic!("expected TooLarge, got {refused:?}");
    };
    let message = e.to_string();
    assert!(
        message.contains("bytes") && message.contains("--max-request-bytes"),
        "{message}"
    );
    assert!(store.get(&template_key("big-a")).unwrap().is_none());
    assert!(store.get(&template_key("big-b")).unwrap().is_none());
    // One of them alone fits; the store goes on.
    store
        .compare_and_swap(
            &template_key("big-a"),
            Precondition::Absent,
            row(serde_json::json!({"d": big})),
        )
        .unwrap();
    let again = connect(&rt, &endpoints, "/big");
    assert!(again.get(&template_key("big-a")).unwrap().is_some());
    assert!(again.get(&template_key("big-b")).unwrap().is_none());
    store.close().unwrap();
    again.close().unwrap();
    drop(rt);
    drop(etcd);
}

/// The member that leads etcd's raft now, by `etcdctl endpoint status`.
fn raft_leader(endpoints: &[String]) -> usize {
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &endpoints.join(","),
            "endpoint",
            "status",
            "-w",
            "json",
        ])
        .output()
        .expect("etcdctl runs (Debian's etcd-client)");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("etcdctl endpoint status: {e}: {out:?}"));
    let entries = status.as_array().expect("one entry per endpoint");
    entries
        .iter()
        .position(|s| {
            s["Status"]["header"]["member_id"].as_u64().is_some()
                && s["Status"]["header"]["member_id"] == s["Status"]["leader"]
        })
        .unwrap_or_else(|| panic!("no member leads: {status}"))
}

#[test]
fn a_watch_across_member_restarts_delivers_every_acknowledged_write_once_in_order_or_ends_compacted()
 {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use wayfinder_controlplane::store::{ListFilter, Precondition, StoreError};
    let Some((_dir, mut etcd, endpoints, rt)) = etcd() else {
        return;
    };
    let store = Arc::new(connect(&rt, &endpoints, "/watched"));
    let first = store
        .compare_and_swap(
            &template_key("w-first"),
            Precondition::Absent,
            row(serde_json::json!({})),
        )
        .unwrap();
    let from = first - 1;
    let watch = store
        .watch_changes(
            from,
            ListFilter::every(&wayfinder_model::kinds::COMPUTE_TEMPLATE),
        )
        .unwrap();
    // The watcher: every event, until the store closes or the watch ends (410).
    let watcher = rt.spawn(async move {
        let mut watch = watch;
        let mut events = Vec::new();
        while let Some(e) = watch.next().await {
            match e {
                Ok(e) => events.push((e.key.name.clone(), e.resource_version)),
                Err(e) => return (events, Some(e)),
            }
        }
        (events, None)
    });
    // The writer: creates one template after another; only acknowledged ones count.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut acked = vec![("w-first".to_string(), first)];
            let mut failed = 0;
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let name = format!("w{i:04}");
                i += 1;
                match store.compare_and_swap(
                    &template_key(&name),
                    Precondition::Absent,
                    row(serde_json::json!({})),
                ) {
                    Ok(rv) => acked.push((name, rv)),
                    Err(_) => failed += 1,
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (acked, failed)
        })
    };
    let pause = || std::thread::sleep(Duration::from_millis(1500));
    pause();
    // The member the client talks to first, then whichever member leads raft.
    let leader = raft_leader(&endpoints);
    for victim in [0, leader] {
        etcd.kill(victim);
        pause();
        pause();
        etcd.restart(victim).unwrap();
        etcd.wait_healthy(Duration::from_secs(30)).unwrap();
        pause();
    }
    stop.store(true, Ordering::SeqCst);
    let (acked, failed) = writer.join().unwrap();
    let last = acked.iter().map(|(_, rv)| *rv).max().unwrap();
    // Let the watch deliver the last acknowledged write, then end it by closing the store.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while store.resource_version().unwrap() < last && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    store.close().unwrap();
    let (events, ended) = rt.block_on(watcher).unwrap();
    eprintln!(
        "watch across two member restarts (endpoint 0, then raft leader {leader}): {} writes acknowledged, {failed} failed, {} events, ended: {ended:?}",
        acked.len(),
        events.len()
    );
    assert!(acked.len() > 50, "{} acknowledged", acked.len());
    match ended {
        None => {
            // Continuous: in revision order, each once, every acknowledged write there.
            for pair in events.windows(2) {
                assert!(pair[0].1 < pair[1].1, "out of order or twice: {pair:?}");
            }
            let delivered: BTreeMap<&str, i64> =
                events.iter().map(|(n, rv)| (n.as_str(), *rv)).collect();
            assert_eq!(delivered.len(), events.len(), "an object delivered twice");
            for (name, rv) in &acked {
                assert_eq!(
                    delivered.get(name.as_str()),
                    Some(rv),
                    "{name} acknowledged at {rv} but not delivered"
                );
            }
        }
        Some(StoreError::Compacted { .. }) => {
            // The 410 answer: the events up to it are in order, and a list from a fresh
            // store shows every acknowledged write.
            for pair in events.windows(2) {
                assert!(pair[0].1 < pair[1].1, "out of order or twice: {pair:?}");
            }
            let fresh = connect(&rt, &endpoints, "/watched");
            for (name, rv) in &acked {
                let o = fresh.get(&template_key(name)).unwrap();
                assert_eq!(o.map(|o| o.resource_version), Some(*rv), "{name}");
            }
            fresh.close().unwrap();
        }
        Some(other) => panic!("the watch ended with {other}"),
    }
    drop(rt);
    drop(etcd);
}
