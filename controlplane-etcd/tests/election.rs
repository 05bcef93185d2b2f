//! Leader election, fencing and compaction on a real 3-member etcd cluster
//! (`EtcdCluster`; etcd must be installed, or `WAYFINDER_SKIP_ETCD=1` reports these tests
//! skipped).

use std::time::{Duration, Instant};

use wayfinder_etcd::testing::EtcdCluster;
use wayfinder_etcd::{Compactor, Error, Guard, Op};

const TTL: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_leaders_lease_hands_over_within_its_ttl_and_its_fenced_writes_are_refused() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let a = cluster.connect("/e1").await;
    let mut cfg = cluster.config("/e1");
    cfg.endpoints.rotate_left(1);
    let b = wayfinder_etcd::Etcd::connect(&cfg).await.unwrap();

    let leader = a.campaign("reconciler", TTL).await.unwrap();
    let fence = leader.fence();
    let fenced = |fence: &(String, i64)| Guard {
        create_revision_eq: vec![fence.clone()],
        ..Guard::none()
    };
    a.commit(
        &fenced(&fence),
        &[Op::Put("/o/status".into(), b"a".to_vec())],
    )
    .await
    .unwrap();

    let candidate = tokio::spawn(async move {
        let l = b.campaign("reconciler", TTL).await.unwrap();
        (Instant::now(), l, b)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!candidate.is_finished(), "only one leader at a time");

    // The leader dies: its lease is no longer kept alive (nor revoked).
    let died = Instant::now();
    drop(leader);
    let (led_at, second, b) = tokio::time::timeout(TTL * 3, candidate)
        .await
        .expect("takeover")
        .unwrap();
    let takeover = led_at - died;
    println!("takeover {takeover:?} after the leader died (lease TTL {TTL:?})");
    assert!(
        takeover <= TTL + Duration::from_secs(2),
        "takeover took {takeover:?}"
    );

    // The deposed leader's fenced write is refused; the new leader's goes through.
    let refused = a
        .commit(
            &fenced(&fence),
            &[Op::Put("/o/status".into(), b"stale".to_vec())],
        )
        .await;
    assert_eq!(
        refused,
        Err(Error::Fenced {
            key: fence.0.clone(),
            revision: fence.1
        })
    );
    b.commit(
        &fenced(&second.fence()),
        &[Op::Put("/o/status".into(), b"b".to_vec())],
    )
    .await
    .unwrap();
    assert_eq!(a.get("/o/status").await.unwrap().unwrap().value, b"b");
    assert!(!second.is_lost());
    second.resign().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resigning_hands_over_at_once_and_the_lost_signal_fires_when_the_key_goes() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let a = cluster.connect("/e2").await;
    let b = cluster.connect("/e2").await;
    let first = a.campaign("r", TTL).await.unwrap();
    let b2 = b.clone();
    let waiting = tokio::spawn(async move { b2.campaign("r", TTL).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resigned = Instant::now();
    first.resign().await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("handover")
        .unwrap();
    println!("handover {:?} after resigning", resigned.elapsed());
    assert!(resigned.elapsed() < Duration::from_secs(2));

    // Someone deletes the leader's key: the keep-alive's re-check notices.
    let mut lost = second.lost.clone();
    a.commit(&Guard::none(), &[Op::Delete(second.key.clone())])
        .await
        .unwrap();
    tokio::time::timeout(TTL * 2, lost.wait_for(|l| *l))
        .await
        .expect("lost noticed")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compactor_keeps_history_bounded_with_one_replica_compacting_per_interval() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let a = cluster.connect("/e3").await;
    let b = cluster.connect("/e3").await;
    let first = a
        .commit(&Guard::none(), &[Op::Put("/o/k".into(), b"0".to_vec())])
        .await
        .unwrap();
    for i in 0..200 {
        a.commit(
            &Guard::none(),
            &[Op::Put("/o/k".into(), format!("{i}").into_bytes())],
        )
        .await
        .unwrap();
    }
    // One tick by hand: the first swap wins, a replica swapping from the same version loses.
    let won = a.compact_step(0, 50).await.unwrap();
    let lost = b.compact_step(0, 50).await.unwrap();
    assert!(won.compacted.is_some());
    assert_eq!(lost.compacted, None);
    assert_eq!(lost.version, won.version);
    let compacted = won.compacted.unwrap();
    assert!(matches!(
        a.get_at("/o/k", first.revision).await,
        Err(Error::Compacted { .. })
    ));
    assert!(a.get_at("/o/k", compacted + 1).await.unwrap().is_some());

    // Two running compactors keep the history at ~keep revisions while writes go on.
    let _ca = Compactor::spawn(a.clone(), Duration::from_millis(300), 50);
    let _cb = Compactor::spawn(b.clone(), Duration::from_millis(300), 50);
    for i in 0..200 {
        a.commit(
            &Guard::none(),
            &[Op::Put("/o/k".into(), format!("{i}").into_bytes())],
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let now = a.current_revision().await.unwrap();
    assert!(matches!(
        a.get_at("/o/k", now - 120).await,
        Err(Error::Compacted { .. })
    ));
    assert!(a.get_at("/o/k", now - 40).await.unwrap().is_some());
    let version = a.get("/compact").await.unwrap().unwrap();
    println!(
        "compact key at {:?} after ~4 intervals",
        std::str::from_utf8(&version.value)
    );
}
