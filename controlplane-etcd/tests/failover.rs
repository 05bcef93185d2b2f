//! Failover across endpoints and watch continuity on a real 3-member etcd cluster whose
//! members are killed with SIGKILL (`EtcdCluster`; etcd must be installed, or
//! `WAYFINDER_SKIP_ETCD=1` reports these tests skipped).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use wayfinder_etcd::testing::EtcdCluster;
use wayfinder_etcd::{Batch, Error, EventKind, Guard, Op, Probe};

fn index_of(cluster: &EtcdCluster, endpoint: &str) -> usize {
    cluster
        .endpoints()
        .iter()
        .position(|e| e == endpoint)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_commit_survives_a_kill_9_of_the_leader_member_the_client_uses() {
    let Some(mut cluster) = EtcdCluster::start(3).await else {
        return;
    };
    // The client talks to the raft leader first: its death costs an election too.
    let leader = cluster.leader_index().await.expect("a leader");
    let mut cfg = cluster.config("/f1");
    cfg.endpoints.rotate_left(leader);
    let etcd = wayfinder_etcd::Etcd::connect(&cfg).await.unwrap();
    let mut acknowledged: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut indeterminate = Vec::new();
    let mut killed_at = None;
    let mut first_after_kill = None;
    let mut killed_member = None;
    for i in 0..300 {
        if i == 100 {
            let victim = index_of(&cluster, &etcd.current_endpoint());
            let leader = cluster.leader_index().await;
            println!("killing member {victim} (the client's; the leader is {leader:?})");
            cluster.kill(victim);
            killed_member = Some(victim);
            killed_at = Some(Instant::now());
        }
        let key = format!("/o/g/K/ns/obj{i:04}");
        let uid = format!("uid-{i}");
        let guard = Guard {
            mod_revision_eq: vec![(key.clone(), 0)],
            ..Guard::none()
        };
        let ops = [
            Op::Put(key.clone(), format!("{{\"uid\":\"{uid}\"}}").into_bytes()),
            Op::Put("/c/g/K/ns".into(), uid.clone().into_bytes()),
        ];
        let probe = Probe::Contains {
            key: key.clone(),
            needle: uid.clone().into_bytes(),
        };
        match etcd.commit_settled(&guard, &ops, &probe).await {
            Ok(c) => {
                if killed_at.is_some() && first_after_kill.is_none() {
                    first_after_kill = killed_at.map(|k| k.elapsed());
                }
                acknowledged.insert(key, (uid, c.revision));
            }
            // Indeterminate: neither counted as present nor as absent.
            Err(
                e @ (Error::Unavailable { .. }
                | Error::NotCommitted { .. }
                | Error::Ambiguous { .. }),
            ) => {
                println!("commit {i}: {e}");
                indeterminate.push(key);
            }
            Err(e) => panic!("commit {i}: {e}"),
        }
    }
    let victim = killed_member.unwrap();
    assert_ne!(
        index_of(&cluster, &etcd.current_endpoint()),
        victim,
        "the client moved on"
    );
    println!(
        "{} acknowledged, {} indeterminate; first commit acknowledged {:?} after the kill",
        acknowledged.len(),
        indeterminate.len(),
        first_after_kill
    );
    assert!(
        acknowledged.len() >= 290,
        "{} acknowledged",
        acknowledged.len()
    );
    // Every acknowledged commit is there, at its revision, read through the survivors and
    // then through the restarted member alone.
    let (_, stored) = etcd.get_all("/o/").await.unwrap();
    let stored: BTreeMap<_, _> = stored.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
    for (key, (uid, rev)) in &acknowledged {
        let kv = stored
            .get(key)
            .unwrap_or_else(|| panic!("acknowledged {key} lost"));
        assert!(String::from_utf8_lossy(&kv.value).contains(uid.as_str()));
        assert_eq!(kv.mod_revision, *rev);
    }
    cluster.restart(victim).await;
    let mut only = cluster.config("/f1");
    only.endpoints = vec![cluster.endpoints()[victim].clone()];
    let restarted = wayfinder_etcd::Etcd::connect(&only).await.unwrap();
    let (_, again) = restarted.get_all("/o/").await.unwrap();
    let again: BTreeMap<_, _> = again
        .into_iter()
        .map(|kv| (kv.key, kv.mod_revision))
        .collect();
    for (key, (_, rev)) in &acknowledged {
        assert_eq!(again.get(key), Some(rev), "{key} on the restarted member");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stays_continuous_across_the_kill_of_its_member() {
    let Some(mut cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let watcher = cluster.connect("/f2").await;
    let mut cfg = cluster.config("/f2");
    cfg.endpoints.rotate_left(1);
    let writer = wayfinder_etcd::Etcd::connect(&cfg).await.unwrap();
    let from = watcher.current_revision().await.unwrap() + 1;
    let mut watch = watcher.watch("/o/", from);
    let victim = index_of(&cluster, &watcher.current_endpoint());

    let mut written = Vec::new();
    for i in 0..60 {
        if i == 30 {
            cluster.kill(victim);
        }
        // Two keys per txn: their events must come in one batch.
        let ops = [
            Op::Put(format!("/o/a{i:03}"), b"1".to_vec()),
            Op::Put(format!("/o/b{i:03}"), b"1".to_vec()),
        ];
        match writer.commit(&Guard::none(), &ops).await {
            Ok(c) => written.push(c.revision),
            Err(e) => println!("write {i}: {e} (indeterminate)"),
        }
    }
    let last = *written.last().unwrap();
    let mut seen: Vec<Batch> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.last().is_none_or(|b| b.revision < last) {
        let left = deadline.saturating_duration_since(Instant::now());
        let batch = tokio::time::timeout(left, watch.next())
            .await
            .expect("the watch delivered every write in time")
            .expect("the watch goes on")
            .expect("no watch error");
        if !batch.events.is_empty() {
            seen.push(batch);
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0].revision < w[1].revision),
        "strictly increasing"
    );
    let revisions: Vec<i64> = seen.iter().map(|b| b.revision).collect();
    for rev in &written {
        assert!(
            revisions.contains(rev),
            "revision {rev} missing from the watch"
        );
    }
    for b in &seen {
        assert_eq!(b.events.len(), 2, "a txn's events come together: {b:?}");
        assert!(
            b.events
                .iter()
                .all(|e| e.kind == EventKind::Put && e.mod_revision == b.revision)
        );
    }
    println!("{} batches across the kill of member {victim}", seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_compacted_revision_answers_compacted() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let etcd = cluster.connect("/f3").await;
    let first = etcd
        .commit(&Guard::none(), &[Op::Put("/o/x".into(), b"1".to_vec())])
        .await
        .unwrap();
    for i in 0..10 {
        etcd.commit(
            &Guard::none(),
            &[Op::Put("/o/x".into(), format!("{i}").into_bytes())],
        )
        .await
        .unwrap();
    }
    let now = etcd.current_revision().await.unwrap();
    etcd.compact(now - 2).await.unwrap();
    let mut w = etcd.watch("/o/", first.revision);
    let err = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        Error::Compacted {
            requested: first.revision,
            compacted: now - 2
        }
    );
    assert!(matches!(
        etcd.get_at("/o/x", first.revision).await,
        Err(Error::Compacted { .. })
    ));
    // From the compacted revision on, the watch works (a relist then watch).
    let mut w = etcd.watch("/o/", now - 2);
    let b = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(b.revision >= now - 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_lost_in_a_paused_member_is_settled_by_reading_back() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let mut cfg = cluster.config("/f4");
    cfg.timeouts.request = Duration::from_secs(1);
    let etcd = wayfinder_etcd::Etcd::connect(&cfg).await.unwrap();
    let member = index_of(&cluster, &etcd.current_endpoint());
    cluster.pause(member);
    let key = "/o/g/K/ns/lost".to_string();
    let guard = Guard {
        mod_revision_eq: vec![(key.clone(), 0)],
        ..Guard::none()
    };
    let probe = Probe::Contains {
        key: key.clone(),
        needle: b"uid-A".to_vec(),
    };
    let first = etcd
        .commit_settled(&guard, &[Op::Put(key.clone(), b"uid-A".to_vec())], &probe)
        .await;
    // The txn may still sit in the paused member; reading back elsewhere finds it absent.
    assert!(
        matches!(first, Err(Error::NotCommitted { .. })),
        "{first:?}"
    );
    // Deciding again is safe: the guard compares the key.
    let probe_b = Probe::Contains {
        key: key.clone(),
        needle: b"uid-B".to_vec(),
    };
    let second = etcd
        .commit_settled(&guard, &[Op::Put(key.clone(), b"uid-B".to_vec())], &probe_b)
        .await
        .unwrap();
    cluster.resume(member);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kv = etcd.get(&key).await.unwrap().unwrap();
    assert_eq!(kv.value, b"uid-B");
    assert_eq!(kv.mod_revision, second.revision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_answers_unavailable_while_the_cluster_is_down_and_recovers_when_it_returns() {
    let Some(mut cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let mut cfg = cluster.config("/f5");
    cfg.timeouts.total = Duration::from_secs(2);
    let etcd = wayfinder_etcd::Etcd::connect(&cfg).await.unwrap();
    let before = etcd
        .commit(&Guard::none(), &[Op::Put("/o/a".into(), b"1".to_vec())])
        .await
        .unwrap();
    let from = before.revision + 1;
    let mut watch = etcd.watch("/o/", from);
    for i in 0..3 {
        cluster.kill(i);
    }
    // Nothing was sent (connections refused): unavailable, not ambiguous, naming each member.
    let err = etcd
        .commit(&Guard::none(), &[Op::Put("/o/b".into(), b"1".to_vec())])
        .await
        .unwrap_err();
    println!("{err}");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    for e in cluster.endpoints() {
        assert!(err.to_string().contains(&e), "{err}");
    }
    // The watch gives up after its deadline too, saying so.
    let ended = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("the watch ends")
        .expect("with an error");
    assert!(matches!(ended, Err(Error::Unavailable { .. })), "{ended:?}");

    // The cluster returns: the same client works again, and a new watch from where the old
    // one stopped sees the next write.
    cluster.start_stopped().await;
    let after = etcd
        .commit(&Guard::none(), &[Op::Put("/o/c".into(), b"1".to_vec())])
        .await
        .unwrap();
    let mut watch = etcd.watch("/o/", from);
    let b = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(b.revision, after.revision);
    assert_eq!(b.events[0].key, "/o/c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_now_sees_later_writes_and_answers_a_progress_request_with_an_empty_batch() {
    let Some(cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let etcd = cluster.connect("/f6").await;
    etcd.commit(
        &Guard::none(),
        &[Op::Put("/o/before".into(), b"1".to_vec())],
    )
    .await
    .unwrap();
    let mut watch = etcd.watch("/o/", 0);
    // A write outside the prefix moves the revision without an event under it.
    let outside = etcd
        .commit(
            &Guard::none(),
            &[Op::Put("/k/elsewhere".into(), b"1".to_vec())],
        )
        .await
        .unwrap();
    // The watch has been created once a progress request is answered.
    let progress = loop {
        watch.request_progress();
        match tokio::time::timeout(Duration::from_millis(500), watch.next()).await {
            Ok(Some(Ok(b))) => break b,
            Ok(other) => panic!("{other:?}"),
            Err(_) => continue,
        }
    };
    assert!(progress.events.is_empty(), "{progress:?}");
    assert!(progress.revision >= outside.revision);
    let (rev, last) = etcd.last_modified("/o/").await.unwrap();
    assert!(last < outside.revision && rev >= outside.revision);
    let later = etcd
        .commit(&Guard::none(), &[Op::Delete("/o/before".into())])
        .await
        .unwrap();
    let b = loop {
        let b = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if !b.events.is_empty() {
            break b;
        }
    };
    assert_eq!(b.revision, later.revision);
    assert_eq!(b.events.len(), 1);
    assert_eq!(b.events[0].kind, EventKind::Delete);
    assert_eq!(
        (b.events[0].key.as_str(), b.events[0].create_revision),
        ("/o/before", 0)
    );
}
