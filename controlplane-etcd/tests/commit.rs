//! Guarded commits on a real 3-member etcd cluster (`EtcdCluster`; etcd must be installed,
//! or `WAYFINDER_SKIP_ETCD=1` reports these tests skipped).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wayfinder_etcd::testing::EtcdCluster;
use wayfinder_etcd::{Config, Error, Etcd, Guard, MAX_TXN_OPS, Op, Probe, Timeouts, prefix_end};

/// The store's layout for one namespace of one kind: objects and their collection key.
const OBJECTS: &str = "/o/g/Cluster/team/";
const COLLECTION: &str = "/c/g/Cluster/team";

fn object(name: &str) -> String {
    format!("{OBJECTS}{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_on_a_present_or_absent_key_holds_only_until_the_key_changes() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let etcd = cluster.connect("/t1").await;

    // Absent (mod revision 0): create-if-absent succeeds once.
    let create = Guard {
        mod_revision_eq: vec![(object("a"), 0)],
        ..Guard::none()
    };
    let first = etcd
        .commit(&create, &[Op::Put(object("a"), b"v1".to_vec())])
        .await
        .unwrap();
    let again = etcd
        .commit(&create, &[Op::Put(object("a"), b"v2".to_vec())])
        .await;
    assert_eq!(
        again,
        Err(Error::Conflict {
            revision: first.revision,
            reported: None,
        })
    );

    // Present at its mod revision: an update against it succeeds once, and a conflict
    // answers the revision to wait for.
    let kv = etcd.get(&object("a")).await.unwrap().unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision),
        (&b"v1"[..], first.revision)
    );
    let update = Guard {
        mod_revision_eq: vec![(object("a"), kv.mod_revision)],
        ..Guard::none()
    };
    let second = etcd
        .commit(&update, &[Op::Put(object("a"), b"v2".to_vec())])
        .await
        .unwrap();
    assert!(second.revision > first.revision);
    let stale = etcd.commit(&update, &[Op::Delete(object("a"))]).await;
    assert_eq!(
        stale,
        Err(Error::Conflict {
            revision: second.revision,
            reported: None,
        })
    );
    // A guard asking for a key's mod revision on conflict gets it in the same answer
    // (0 for an absent key).
    for (key, expected) in [(object("a"), second.revision), (object("nope"), 0)] {
        let reporting = Guard {
            report_on_conflict: Some(key),
            ..update.clone()
        };
        assert_eq!(
            etcd.commit(&reporting, &[Op::Delete(object("a"))]).await,
            Err(Error::Conflict {
                revision: second.revision,
                reported: Some(expected),
            })
        );
    }

    // A delete makes the key compare as absent again.
    let at = Guard {
        mod_revision_eq: vec![(object("a"), second.revision)],
        ..Guard::none()
    };
    etcd.commit(&at, &[Op::Delete(object("a"))]).await.unwrap();
    assert_eq!(etcd.get(&object("a")).await.unwrap(), None);
    etcd.commit(&create, &[Op::Put(object("a"), b"v3".to_vec())])
        .await
        .unwrap();

    // mod_revision_le: unchanged since r.
    let now = etcd.current_revision().await.unwrap();
    let le = Guard {
        mod_revision_le: vec![(object("a"), now), (object("never"), now)],
        ..Guard::none()
    };
    etcd.commit(&le, &[Op::Put(object("b"), b"x".to_vec())])
        .await
        .unwrap();
    let older = Guard {
        mod_revision_le: vec![(object("b"), now)],
        ..Guard::none()
    };
    assert!(matches!(
        etcd.commit(&older, &[]).await,
        Err(Error::Conflict { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_guard_misses_a_delete_that_the_collection_key_catches() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let etcd = cluster.connect("/t2").await;
    for name in ["a", "b", "c"] {
        etcd.commit(
            &Guard::none(),
            &[
                Op::Put(object(name), b"{}".to_vec()),
                Op::Put(COLLECTION.into(), name.into()),
            ],
        )
        .await
        .unwrap();
    }
    let (read_at, listed) = etcd.get_all(OBJECTS).await.unwrap();
    assert_eq!(listed.len(), 3);
    let range = (OBJECTS.to_string(), prefix_end(OBJECTS), read_at);

    // Another writer deletes c, bumping the collection key in the same txn.
    etcd.commit(
        &Guard::none(),
        &[
            Op::Delete(object("c")),
            Op::Put(COLLECTION.into(), b"-c".to_vec()),
        ],
    )
    .await
    .unwrap();

    // The range alone still holds: a deleted key has left the range.
    let range_only = Guard {
        range_mod_revision_le: vec![range.clone()],
        ..Guard::none()
    };
    etcd.commit(&range_only, &[])
        .await
        .expect("a range compare does not see deletes");
    // With the collection key it conflicts.
    let with_collection = Guard {
        range_mod_revision_le: vec![range],
        mod_revision_le: vec![(COLLECTION.into(), read_at)],
        ..Guard::none()
    };
    assert!(matches!(
        etcd.commit(&with_collection, &[]).await,
        Err(Error::Conflict { .. })
    ));

    // A create or an update inside the range is seen by the range compare itself.
    let (read_at, _) = etcd.get_all(OBJECTS).await.unwrap();
    etcd.commit(
        &Guard::none(),
        &[Op::Put(object("a"), b"{\"x\":1}".to_vec())],
    )
    .await
    .unwrap();
    let range_only = Guard {
        range_mod_revision_le: vec![(OBJECTS.into(), prefix_end(OBJECTS), read_at)],
        ..Guard::none()
    };
    assert!(matches!(
        etcd.commit(&range_only, &[]).await,
        Err(Error::Conflict { .. })
    ));
}

/// Admission as the store does it: list the namespace, count, and create only if under the
/// limit, guarded by the new key (absent), the listed range and the collection key.
async fn create_under_limit(
    etcd: &Etcd,
    name: &str,
    limit: usize,
    conflicts: &AtomicUsize,
) -> bool {
    for attempt in 0..200u64 {
        let (at, listed) = etcd.get_all(OBJECTS).await.unwrap();
        if listed.len() >= limit {
            return false;
        }
        let guard = Guard {
            mod_revision_eq: vec![(object(name), 0)],
            mod_revision_le: vec![(COLLECTION.into(), at)],
            range_mod_revision_le: vec![(OBJECTS.into(), prefix_end(OBJECTS), at)],
            ..Guard::none()
        };
        let ops = [
            Op::Put(object(name), name.into()),
            Op::Put(COLLECTION.into(), name.into()),
        ];
        match etcd.commit(&guard, &ops).await {
            Ok(_) => return true,
            Err(Error::Conflict { .. }) => {
                conflicts.fetch_add(1, Ordering::Relaxed);
                // A little jitter so that racing creates spread out.
                tokio::time::sleep(Duration::from_millis(
                    (attempt * 7 + name.len() as u64 * 3) % 20,
                ))
                .await;
            }
            Err(e) => panic!("create {name}: {e}"),
        }
    }
    panic!("create {name}: still conflicting after 200 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_creates_through_two_clients_against_a_limit_of_ten_admit_exactly_ten() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let one = cluster.connect("/t3").await;
    // The second client talks to another member first.
    let mut cfg = cluster.config("/t3");
    cfg.endpoints.rotate_left(1);
    let two = Etcd::connect(&cfg).await.unwrap();
    assert_ne!(one.current_endpoint(), two.current_endpoint());

    let conflicts = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let etcd = if i % 2 == 0 { one.clone() } else { two.clone() };
        let conflicts = conflicts.clone();
        tasks.push(tokio::spawn(async move {
            create_under_limit(&etcd, &format!("c{i:02}"), 10, &conflicts).await
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    let (_, stored) = one.get_all(OBJECTS).await.unwrap();
    println!(
        "20 racing creates, limit 10: {admitted} admitted, {} conflicts retried, {:?}",
        conflicts.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert_eq!(admitted, 10);
    assert_eq!(stored.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_racing_deletes_never_pass_the_limit() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let one = cluster.connect("/t4").await;
    let mut cfg = cluster.config("/t4");
    cfg.endpoints.rotate_left(2);
    let two = Etcd::connect(&cfg).await.unwrap();
    let conflicts = Arc::new(AtomicUsize::new(0));
    // Fill up to the limit, then race 10 more creates with 5 deletes.
    for i in 0..10 {
        assert!(create_under_limit(&one, &format!("old{i}"), 10, &conflicts).await);
    }
    let mut creates = Vec::new();
    for i in 0..10 {
        let etcd = if i % 2 == 0 { one.clone() } else { two.clone() };
        let conflicts = conflicts.clone();
        creates.push(tokio::spawn(async move {
            create_under_limit(&etcd, &format!("new{i}"), 10, &conflicts).await
        }));
    }
    for i in 0..5 {
        let etcd = if i % 2 == 0 { two.clone() } else { one.clone() };
        let key = object(&format!("old{i}"));
        etcd.commit(
            &Guard::none(),
            &[Op::Delete(key), Op::Put(COLLECTION.into(), b"del".to_vec())],
        )
        .await
        .unwrap();
    }
    let mut admitted = 0;
    for t in creates {
        admitted += usize::from(t.await.unwrap());
    }
    let (_, stored) = one.get_all(OBJECTS).await.unwrap();
    assert!(stored.len() <= 10, "{} objects stored", stored.len());
    assert_eq!(stored.len(), 5 + admitted);
    // Every create admitted was admitted against a count under the limit, so at most the 5
    // freed places were taken.
    assert!(admitted <= 5, "{admitted} admitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_over_etcds_limits_is_too_large_before_it_is_sent() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let etcd = cluster.connect("/t5").await;
    let guard = Guard {
        mod_revision_eq: (0..=MAX_TXN_OPS)
            .map(|i| (object(&format!("k{i}")), 0))
            .collect(),
        ..Guard::none()
    };
    let err = etcd.commit(&guard, &[]).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 128, .. }), "{err}");
    // 128 compares and 128 operations are within the limit: etcd takes them.
    let guard = Guard {
        mod_revision_eq: (0..MAX_TXN_OPS)
            .map(|i| (object(&format!("k{i}")), 0))
            .collect(),
        ..Guard::none()
    };
    let ops: Vec<Op> = (0..MAX_TXN_OPS)
        .map(|i| Op::Put(object(&format!("k{i}")), b"1".to_vec()))
        .collect();
    etcd.commit(&guard, &ops).await.unwrap();
    // 1.6 MB is refused here; 1.5 MB goes through etcd.
    let err = etcd
        .commit(
            &Guard::none(),
            &[Op::Put(object("big"), vec![b'x'; 1_600_000])],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    etcd.commit(
        &Guard::none(),
        &[Op::Put(object("big"), vec![b'x'; 1_500_000])],
    )
    .await
    .unwrap();
    let err = etcd
        .commit(
            &Guard::none(),
            &[
                Op::Put(object("x"), b"1".to_vec()),
                Op::Put(object("x"), b"2".to_vec()),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::DuplicateKey { key: object("x") });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_list_is_read_in_pages_at_one_revision() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let etcd = cluster.connect("/t6").await;
    for chunk in 0..12 {
        let ops: Vec<Op> = (0..100)
            .map(|i| Op::Put(object(&format!("n{:05}", chunk * 100 + i)), vec![b'v'; 200]))
            .collect();
        etcd.commit(&Guard::none(), &ops).await.unwrap();
    }
    let before = etcd.current_revision().await.unwrap();
    let (at, all) = etcd.get_all(OBJECTS).await.unwrap();
    assert_eq!(at, before);
    assert_eq!(all.len(), 1200);
    assert!(all.windows(2).all(|w| w[0].key < w[1].key), "in key order");
    assert_eq!(all[0].key, object("n00000"));
    // Another prefix is not included, and the prefix is stripped from the keys.
    etcd.commit(
        &Guard::none(),
        &[Op::Put("/o/g/Cluster/teamb/x".into(), b"1".to_vec())],
    )
    .await
    .unwrap();
    assert_eq!(etcd.get_all(OBJECTS).await.unwrap().1.len(), 1200);
    let (rev, last) = etcd.last_modified("/o/").await.unwrap();
    assert_eq!(rev, last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_etcd_is_an_error_naming_every_endpoint_and_why() {
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let cfg = Config {
        endpoints: ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect(),
        prefix: "/x".into(),
        tls: None,
        timeouts: Timeouts {
            total: Duration::from_secs(2),
            ..Timeouts::default()
        },
    };
    let started = Instant::now();
    let err = Etcd::connect(&cfg).await.unwrap_err();
    let text = err.to_string();
    println!("{text}");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    for p in &ports {
        assert!(text.contains(&format!("http://127.0.0.1:{p}: ")), "{text}");
    }
    assert!(text.to_lowercase().contains("connect"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let bad = Etcd::connect(&Config::new(vec!["127.0.0.1:2379".into()]))
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::Config { .. }), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_commit_reports_what_reading_back_found() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let etcd = cluster.connect("/t7").await;
    // A commit with a known outcome passes through unchanged.
    let probe = Probe::Contains {
        key: object("s"),
        needle: b"uid-1".to_vec(),
    };
    let guard = Guard {
        mod_revision_eq: vec![(object("s"), 0)],
        ..Guard::none()
    };
    let c = etcd
        .commit_settled(
            &guard,
            &[Op::Put(object("s"), b"{\"uid\":\"uid-1\"}".to_vec())],
            &probe,
        )
        .await
        .unwrap();
    assert_eq!(
        etcd.get(&object("s")).await.unwrap().unwrap().mod_revision,
        c.revision
    );
    assert!(matches!(
        etcd.commit_settled(&guard, &[Op::Put(object("s"), b"{}".to_vec())], &probe)
            .await,
        Err(Error::Conflict { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_behind_mutual_tls_is_reached_with_its_ca_and_a_client_certificate() {
    let Some(cluster) = EtcdCluster::start_tls(3).await else {
        return;
    };
    assert!(
        cluster
            .endpoints()
            .iter()
            .all(|e| e.starts_with("https://127.0.0.1:"))
    );
    let etcd = cluster.connect("/tls").await;
    let c = etcd
        .commit(&Guard::none(), &[Op::Put(object("a"), b"1".to_vec())])
        .await
        .unwrap();
    assert_eq!(
        etcd.get(&object("a")).await.unwrap().unwrap().mod_revision,
        c.revision
    );

    // Without a client certificate the members refuse the connection: unavailable, naming
    // each endpoint.
    let mut cfg = cluster.config("/tls");
    cfg.timeouts.total = Duration::from_secs(2);
    let files = cfg.tls.as_mut().unwrap();
    files.cert = None;
    files.key = None;
    let err = Etcd::connect(&cfg).await.unwrap_err();
    println!("{err}");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    // Plain http:// with TLS files, or a missing file, is a configuration error.
    let mut cfg = cluster.config("/tls");
    cfg.endpoints = vec!["http://127.0.0.1:1".into()];
    assert!(matches!(
        Etcd::connect(&cfg).await,
        Err(Error::Config { .. })
    ));
    let mut cfg = cluster.config("/tls");
    cfg.tls.as_mut().unwrap().ca = "/nonexistent/ca.pem".into();
    let err = Etcd::connect(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
