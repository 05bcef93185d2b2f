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
