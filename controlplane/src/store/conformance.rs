//! The store's conformance suite: what every backend must do, as functions over a way to
//! open a fresh, empty [`Store`]. Each backend's tests call every function (one `#[test]`
//! each: `controlplane/tests/store_conformance.rs`), or [`run_all`].
//!
//! Nothing here assumes resource versions are contiguous: only that they strictly increase
//! from commit to commit (the object writes of one commit may share one).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::{
    Batch, CasError, EventType, ListFilter, Mutation, NewRow, ObjectKey, Precondition, Reads,
    Store, StoreError, TokenRecord, TokenWrite,
};

/// Opens a fresh, empty store.
pub type Open<'a> = &'a dyn Fn() -> Store;

/// One function of the suite.
pub type Check = fn(Open<'_>);

/// Every function of the suite, by name.
pub const ALL: &[(&str, Check)] = &[
    ("create_if_absent", create_if_absent),
    ("update_at_a_version", update_at_a_version),
    ("delete", delete),
    (
        "a_refused_decision_writes_nothing",
        a_refused_decision_writes_nothing,
    ),
    ("a_dry_run_writes_nothing", a_dry_run_writes_nothing),
    (
        "objects_and_tokens_commit_together",
        objects_and_tokens_commit_together,
    ),
    (
        "a_batch_commits_both_or_neither",
        a_batch_commits_both_or_neither,
    ),
    (
        "lists_in_key_order_with_labels_and_prefix",
        lists_in_key_order_with_labels_and_prefix,
    ),
    ("projections_match_the_bodies", projections_match_the_bodies),
    ("watch_from_a_version", watch_from_a_version),
    (
        "watch_from_a_compacted_version",
        watch_from_a_compacted_version,
    ),
    ("versions_strictly_increase", versions_strictly_increase),
    (
        "a_shared_limit_admits_exactly_the_limit",
        a_shared_limit_admits_exactly_the_limit,
    ),
    ("pages", pages),
    ("server_key_is_created_once", server_key_is_created_once),
    ("token_lineage", token_lineage),
    ("the_read_barrier_returns", the_read_barrier_returns),
    ("leadership_and_fenced_writes", leadership_and_fenced_writes),
];

/// Runs every function of the suite.
pub fn run_all(open: Open<'_>) {
    for (name, test) in ALL {
        tracing::info!(test = name, "store conformance");
        test(open);
    }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::platform(&wayfinder_model::kinds::COMPUTE_TEMPLATE, name)
}

fn cluster(ws: &str, name: &str) -> ObjectKey {
    ObjectKey::workspaced(&wayfinder_model::kinds::CLUSTER, ws, name)
}

fn put(body: serde_json::Value) -> Mutation {
    Mutation::Put(NewRow {
        body,
        generation: 1,
        uid: "u".into(),
        created: "2025-01-01T00:00:00Z".into(),
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Create-if-absent: the first create wins, a second is refused.
pub fn create_if_absent(open: Open<'_>) {
    let store = open();
    let rv = store
        .compare_and_swap(&key("a"), Precondition::Absent, put(json!({"v": 1})))
        .unwrap();
    assert!(matches!(
        store.compare_and_swap(&key("a"), Precondition::Absent, put(json!({}))),
        Err(CasError::AlreadyExists)
    ));
    let got = store.get(&key("a")).unwrap().unwrap();
    assert_eq!(got.resource_version, rv);
    assert_eq!(got.body["v"], json!(1));
    assert_eq!(
        got.body["metadata"]["resourceVersion"],
        json!(rv.to_string()),
        "the body answers the row's version"
    );
}

/// An update at the current version commits; at a stale one it conflicts.
pub fn update_at_a_version(open: Open<'_>) {
    let store = open();
    let k = key("a");
    let rv = store
        .compare_and_swap(&k, Precondition::Absent, put(json!({"v": 1})))
        .unwrap();
    let rv2 = store
        .compare_and_swap(&k, Precondition::ResourceVersion(rv), put(json!({"v": 2})))
        .unwrap();
    assert!(rv2 > rv);
    assert!(matches!(
        store.compare_and_swap(&k, Precondition::ResourceVersion(rv), put(json!({"v": 3}))),
        Err(CasError::Conflict { current }) if current == rv2
    ));
    assert!(matches!(
        store.compare_and_swap(
            &key("none"),
            Precondition::ResourceVersion(rv),
            put(json!({}))
        ),
        Err(CasError::NotFound)
    ));
    assert_eq!(store.get(&k).unwrap().unwrap().body["v"], json!(2));
}

/// A delete at the current version removes the object.
pub fn delete(open: Open<'_>) {
    let store = open();
    let k = key("a");
    let rv = store
        .compare_and_swap(&k, Precondition::Absent, put(json!({})))
        .unwrap();
    let gone = store
        .compare_and_swap(&k, Precondition::ResourceVersion(rv), Mutation::Delete)
        .unwrap();
    assert!(gone > rv);
    assert!(store.get(&k).unwrap().is_none());
    assert!(matches!(
        store.compare_and_swap(&k, Precondition::ResourceVersion(gone), Mutation::Delete),
        Err(CasError::NotFound)
    ));
}

/// A decision that refuses writes nothing, and the store's version does not move.
pub fn a_refused_decision_writes_nothing(open: Open<'_>) {
    let store = open();
    store
        .compare_and_swap(&key("seed"), Precondition::Absent, put(json!({})))
        .unwrap();
    let before = store.resource_version().unwrap();
    #[derive(Debug)]
    struct No;
    impl From<StoreError> for No {
        fn from(_: StoreError) -> Self {
            No
        }
    }
    let r = store.commit::<(), No>(false, None, |r| {
        r.get(&key("a"))?;
        Err(No)
    });
    assert!(r.is_err());
    assert_eq!(store.resource_version().unwrap(), before);
    assert!(store.get(&key("a")).unwrap().is_none());
}

/// A dry run answers the versions it would take and writes nothing.
pub fn a_dry_run_writes_nothing(open: Open<'_>) {
    let store = open();
    let before = store.resource_version().unwrap();
    let ((), committed) = store
        .mutate::<_, StoreError>(&key("b"), true, |_| Ok((put(json!({})), ())))
        .unwrap();
    assert_eq!(committed.versions.len(), 1);
    assert!(committed.versions[0] > before);
    assert_eq!(store.resource_version().unwrap(), before);
    assert!(store.get(&key("b")).unwrap().is_none());
}

/// An object and a token row written by one decision commit together; a refused one
/// writes neither.
pub fn objects_and_tokens_commit_together(open: Open<'_>) {
    let store = open();
    let record = TokenRecord::new("accesstoken/ws/t", &["member:ws"], "2025-01-01T00:00:00Z");
    let batch = || Batch {
        objects: vec![(key("t"), put(json!({})))],
        tokens: vec![TokenWrite::Put {
            hash: "h1".into(),
            record: record.clone(),
        }],
    };
    let refused = store.commit::<(), StoreError>(false, None, |r| {
        let _ = batch();
        r.tokens_of("accesstoken/ws/t")?;
        Err(StoreError::Closed)
    });
    assert!(refused.is_err());
    assert!(store.get(&key("t")).unwrap().is_none());
    assert!(store.token("h1").unwrap().is_none());
    let ((), committed) = store
        .commit::<_, StoreError>(false, None, |_| Ok((batch(), ())))
        .unwrap();
    assert_eq!(committed.versions.len(), 1);
    assert_eq!(
        store.get(&key("t")).unwrap().unwrap().resource_version,
        committed.versions[0]
    );
    assert_eq!(store.token("h1").unwrap(), Some(record.clone()));
    assert_eq!(
        store.tokens_of("accesstoken/ws/t").unwrap(),
        [("h1".to_string(), record)]
    );
    // Deleting the object and its token, together.
    store
        .commit::<_, StoreError>(false, None, |r| {
            let tokens = r
                .tokens_of("accesstoken/ws/t")?
                .into_iter()
                .map(|(hash, _)| TokenWrite::Delete { hash })
                .collect();
            Ok((
                Batch {
                    objects: vec![(key("t"), Mutation::Delete)],
                    tokens,
                },
                (),
            ))
        })
        .unwrap();
    assert!(store.get(&key("t")).unwrap().is_none());
    assert!(store.token("h1").unwrap().is_none());
    assert_eq!(store.count_tokens("accesstoken/ws/t").unwrap(), 0);
}

/// A batch of two objects commits both, each at the version [`super::Committed`] says; a
/// refused decision over both commits neither.
pub fn a_batch_commits_both_or_neither(open: Open<'_>) {
    let store = open();
    let ((), committed) = store
        .commit::<_, StoreError>(false, None, |_| {
            Ok((
                Batch {
                    objects: vec![(key("a"), put(json!({}))), (key("b"), put(json!({})))],
                    tokens: Vec::new(),
                },
                (),
            ))
        })
        .unwrap();
    assert_eq!(committed.versions.len(), 2);
    assert!(committed.versions[0] <= committed.versions[1]);
    assert!(committed.at >= committed.versions[1]);
    for (k, rv) in [
        (key("a"), committed.versions[0]),
        (key("b"), committed.versions[1]),
    ] {
        assert_eq!(store.get(&k).unwrap().unwrap().resource_version, rv);
    }
    let refused = store.commit::<(), StoreError>(false, None, |r| {
        r.get(&key("a"))?;
        r.get(&key("b"))?;
        Err(StoreError::Closed)
    });
    assert!(refused.is_err());
    let ((), _) = store
        .commit::<_, StoreError>(false, None, |_| {
            Ok((
                Batch {
                    objects: vec![(key("a"), Mutation::Delete), (key("c"), put(json!({})))],
                    tokens: Vec::new(),
                },
                (),
            ))
        })
        .unwrap();
    assert!(store.get(&key("a")).unwrap().is_none());
    assert!(store.get(&key("c")).unwrap().is_some());
}

/// Lists are in key order (group, kind, namespace, name), filter by name prefix and labels.
pub fn lists_in_key_order_with_labels_and_prefix(open: Open<'_>) {
    let store = open();
    for (name, team) in [("web-b", "y"), ("db", "x"), ("web-a", "x"), ("web", "z")] {
        store
            .compare_and_swap(
                &key(name),
                Precondition::Absent,
                put(json!({"metadata": {"labels": {"team": team}}})),
            )
            .unwrap();
    }
    // Keys whose byte order differs from a path's ('-' sorts before '/').
    for (ws, name) in [("a-b", "x"), ("a", "y"), ("a", "x-1")] {
        store
            .compare_and_swap(&cluster(ws, name), Precondition::Absent, put(json!({})))
            .unwrap();
    }
    let names = |f: ListFilter| -> Vec<String> {
        store
            .list_filtered(&f)
            .unwrap()
            .items
            .into_iter()
            .map(|(k, _)| format!("{}/{}", k.namespace, k.name))
            .collect()
    };
    let templates = ListFilter::kind(&wayfinder_model::kinds::COMPUTE_TEMPLATE, "");
    assert_eq!(
        names(templates.clone()),
        ["/db", "/web", "/web-a", "/web-b"]
    );
    let prefix = ListFilter {
        name_prefix: Some("web-".into()),
        ..templates
    };
    assert_eq!(names(prefix), ["/web-a", "/web-b"]);
    let team = ListFilter {
        labels: vec![("team".into(), "x".into())],
        ..ListFilter::default()
    };
    assert_eq!(names(team), ["/db", "/web-a"]);
    assert_eq!(
        names(ListFilter::every(&wayfinder_model::kinds::CLUSTER)),
        ["a/x-1", "a/y", "a-b/x"]
    );
    let all = store.list_filtered(&ListFilter::default()).unwrap();
    let keys: Vec<_> = all.items.iter().map(|(k, _)| k.clone()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(all.resource_version, store.resource_version().unwrap());
}

/// A projection answers what reading whole bodies would.
pub fn projections_match_the_bodies(open: Open<'_>) {
    let store = open();
    let bodies = [
        (
            "a",
            json!({"status": {"network": {"cidr": "10.0.0.0/22", "exclusive": true}}}),
        ),
        ("b", json!({"status": {"network": [1, "x", null]}})),
        ("c", json!({"status": {"network": true}})),
        ("h", json!({"status": {"network": null}})),
        ("i", json!({"status": {}})),
        ("j", json!({"status": {"network": {"a\"b/c": 1}}})),
    ];
    for (name, body) in &bodies {
        store
            .compare_and_swap(&key(name), Precondition::Absent, put(body.clone()))
            .unwrap();
    }
    let filter = ListFilter::kind(&wayfinder_model::kinds::COMPUTE_TEMPLATE, "");
    for pointer in ["/status/network", "/status/network/a\"b~1c", "/nothing"] {
        let got = store.project(&filter, pointer).unwrap();
        let expected: Vec<_> = bodies
            .iter()
            .map(|(n, b)| (key(n), b.pointer(pointer).cloned()))
            .collect();
        assert_eq!(got, expected, "{pointer}");
    }
    let other_kind = ListFilter::kind(&wayfinder_model::kinds::CLUSTER_PLAN, "");
    assert!(store.project(&other_kind, "/status").unwrap().is_empty());
}

/// A watch from a version replays what came after it, then follows live changes; every
/// event of a commit of several objects is delivered; closing the store ends it.
pub fn watch_from_a_version(open: Open<'_>) {
    let store = open();
    // Writes block (as from a thread of the blocking pool); only the watches are awaited.
    let rt = runtime();
    {
        let a = store
            .compare_and_swap(&key("a"), Precondition::Absent, put(json!({})))
            .unwrap();
        let a2 = store
            .compare_and_swap(
                &key("a"),
                Precondition::ResourceVersion(a),
                put(json!({"x": 1})),
            )
            .unwrap();
        let mut from_start = store.watch_changes(a - 1, ListFilter::default()).unwrap();
        let mut from_a = store.watch_changes(a, ListFilter::default()).unwrap();
        let e = rt.block_on(from_start.next()).unwrap().unwrap();
        assert_eq!((e.event_type, e.resource_version), (EventType::Added, a));
        let e = rt.block_on(from_start.next()).unwrap().unwrap();
        assert_eq!(
            (e.event_type, e.resource_version),
            (EventType::Modified, a2)
        );
        assert_eq!(
            rt.block_on(from_a.next())
                .unwrap()
                .unwrap()
                .resource_version,
            a2
        );
        // One commit of two objects: both events arrive.
        let ((), committed) = store
            .commit::<_, StoreError>(false, None, |_| {
                Ok((
                    Batch {
                        objects: vec![(key("b"), put(json!({}))), (key("c"), put(json!({})))],
                        tokens: Vec::new(),
                    },
                    (),
                ))
            })
            .unwrap();
        for (k, rv) in [
            (key("b"), committed.versions[0]),
            (key("c"), committed.versions[1]),
        ] {
            let e = rt.block_on(from_start.next()).unwrap().unwrap();
            assert_eq!(
                (e.event_type, e.key, e.resource_version),
                (EventType::Added, k, rv)
            );
        }
        let d = store
            .compare_and_swap(
                &key("a"),
                Precondition::ResourceVersion(a2),
                Mutation::Delete,
            )
            .unwrap();
        let e = rt.block_on(from_start.next()).unwrap().unwrap();
        assert_eq!(
            (e.event_type, e.key, e.resource_version),
            (EventType::Deleted, key("a"), d)
        );
        // Only what the filter covers.
        let mut clusters = store
            .watch_changes(d, ListFilter::every(&wayfinder_model::kinds::CLUSTER))
            .unwrap();
        store
            .compare_and_swap(&key("z"), Precondition::Absent, put(json!({})))
            .unwrap();
        let c = store
            .compare_and_swap(&cluster("w", "c"), Precondition::Absent, put(json!({})))
            .unwrap();
        let e = rt.block_on(clusters.next()).unwrap().unwrap();
        assert_eq!((e.key, e.resource_version), (cluster("w", "c"), c));
        // Dry runs and refused decisions publish nothing; closing ends the watch.
        store
            .mutate::<_, StoreError>(&key("dry"), true, |_| Ok((put(json!({})), ())))
            .unwrap();
        store.close().unwrap();
        while let Some(e) = rt.block_on(from_a.next()) {
            let e = e.unwrap();
            assert_ne!(e.key, key("dry"));
        }
    }
}

/// A watch from a version older than the kept changes answers [`StoreError::Compacted`].
pub fn watch_from_a_compacted_version(open: Open<'_>) {
    let store = open();
    let mut rvs = Vec::new();
    for n in ["a", "b", "c"] {
        rvs.push(
            store
                .compare_and_swap(&key(n), Precondition::Absent, put(json!({})))
                .unwrap(),
        );
    }
    store.forget_changes_before(rvs[2]).unwrap();
    assert!(matches!(
        store.watch_changes(rvs[0], ListFilter::default()),
        Err(StoreError::Compacted { .. })
    ));
    assert!(store.watch_changes(rvs[2], ListFilter::default()).is_ok());
}

/// Every commit's version is above every version committed before it started (versions
/// need not be contiguous, and writes committed together may share one: on etcd, the
/// writes a replica makes at the same time share a txn and so a revision).
pub fn versions_strictly_increase(open: Open<'_>) {
    let store = Arc::new(open());
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for j in 0..4 {
                    let before = store.resource_version().unwrap();
                    let rv = store
                        .compare_and_swap(
                            &key(&format!("o{i}-{j}")),
                            Precondition::Absent,
                            put(json!({})),
                        )
                        .unwrap();
                    assert!(rv > before, "committed at {rv}, after {before}");
                    seen.push(rv);
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let seen = t.join().unwrap();
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        all.extend(seen);
    }
    all.sort();
    assert!(store.resource_version().unwrap() >= *all.last().unwrap());
    // Each object reads back at the version its commit answered.
    let snapshot = store.snapshot().unwrap();
    for i in 0..16 {
        for j in 0..4 {
            let stored = snapshot.object(&key(&format!("o{i}-{j}"))).unwrap();
            assert!(all.binary_search(&stored.resource_version).is_ok());
        }
    }
}

/// 20 concurrent decisions that each read the collection and refuse past 10: exactly 10
/// commit.
pub fn a_shared_limit_admits_exactly_the_limit(open: Open<'_>) {
    const LIMIT: usize = 10;
    let store = open();
    let admitted = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for i in 0..20 {
            let (store, admitted) = (&store, &admitted);
            scope.spawn(move || {
                let r = store.commit::<_, StoreError>(false, None, |r| {
                    let listing = r.list_filtered(&ListFilter::kind(
                        &wayfinder_model::kinds::CLUSTER,
                        "limited",
                    ))?;
                    if listing.items.len() >= LIMIT {
                        return Err(StoreError::TooLarge {
                            what: "the workspace".into(),
                            limit: LIMIT.to_string(),
                        });
                    }
                    Ok((
                        Batch::object(cluster("limited", &format!("c{i:02}")), put(json!({}))),
                        (),
                    ))
                });
                if r.is_ok() {
                    admitted.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(admitted.load(Ordering::SeqCst), LIMIT);
    let listing = store
        .list_filtered(&ListFilter::kind(
            &wayfinder_model::kinds::CLUSTER,
            "limited",
        ))
        .unwrap();
    assert_eq!(listing.items.len(), LIMIT);
}

/// Lists page in key order; later pages answer the first page's state whatever commits in
/// between; an expired token is `Compacted`, a malformed one `InvalidContinue`.
pub fn pages(open: Open<'_>) {
    let store = open();
    for i in 0..25 {
        store
            .compare_and_swap(
                &key(&format!("o{i:02}")),
                Precondition::Absent,
                put(json!({})),
            )
            .unwrap();
    }
    let filter = ListFilter::kind(&wayfinder_model::kinds::COMPUTE_TEMPLATE, "");
    let first = store.list_page(&filter, 10, None).unwrap();
    assert_eq!(first.listing.items.len(), 10);
    assert_eq!(first.remaining, Some(15));
    let at = first.listing.resource_version;
    // Writes between pages: a delete of one not yet listed, a create, an update.
    store
        .compare_and_swap(
            &key("o20"),
            Precondition::ResourceVersion(
                store.get(&key("o20")).unwrap().unwrap().resource_version,
            ),
            Mutation::Delete,
        )
        .unwrap();
    store
        .compare_and_swap(&key("o99"), Precondition::Absent, put(json!({})))
        .unwrap();
    let mut names: Vec<String> = first
        .listing
        .items
        .iter()
        .map(|(k, _)| k.name.clone())
        .collect();
    let mut token = first.continue_token.clone();
    while let Some(t) = token {
        let page = store.list_page(&filter, 10, Some(&t)).unwrap();
        assert_eq!(
            page.listing.resource_version, at,
            "every page at the first's version"
        );
        names.extend(page.listing.items.iter().map(|(k, _)| k.name.clone()));
        token = page.continue_token;
    }
    let expected: Vec<String> = (0..25).map(|i| format!("o{i:02}")).collect();
    assert_eq!(names, expected);
    // A new list sees the writes.
    let now = store.list_filtered(&filter).unwrap();
    assert_eq!(now.items.len(), 25);
    // Malformed and expired tokens.
    assert!(matches!(
        store.list_page(&filter, 10, Some("not a token!")),
        Err(StoreError::InvalidContinue { .. })
    ));
    let token = first.continue_token.unwrap();
    store
        .forget_changes_before(store.resource_version().unwrap() + 1)
        .unwrap();
    assert!(matches!(
        store.list_page(&filter, 10, Some(&token)),
        Err(StoreError::Compacted { .. })
    ));
}

/// A server key is created once and answered the same after.
pub fn server_key_is_created_once(open: Open<'_>) {
    let store = open();
    assert_eq!(store.server_key("k", || None).unwrap(), None);
    assert_eq!(
        store.server_key("k", || Some(b"one".to_vec())).unwrap(),
        Some(b"one".to_vec())
    );
    assert_eq!(
        store.server_key("k", || Some(b"two".to_vec())).unwrap(),
        Some(b"one".to_vec())
    );
}

/// Tokens record who minted them; reads find them by subject and by maker.
pub fn token_lineage(open: Open<'_>) {
    let store = open();
    let mut child = TokenRecord::new("accesstoken/ws/child", &[], "2025-01-01T00:00:00Z");
    child.minted_by = "accesstoken/ws/parent".into();
    store.put_token("c1", child.clone()).unwrap();
    store.put_token("c2", child.clone()).unwrap();
    store
        .put_token(
            "p",
            TokenRecord::new("accesstoken/ws/parent", &[], "2025-01-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        store.tokens_minted_by("accesstoken/ws/parent").unwrap(),
        ["accesstoken/ws/child"]
    );
    let of_child: Vec<String> = store
        .tokens_of("accesstoken/ws/child")
        .unwrap()
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    assert_eq!(of_child, ["c1", "c2"]);
    assert_eq!(store.token("c1").unwrap(), Some(child));
}

/// The read barrier returns, and after it reads see every acknowledged write.
pub fn the_read_barrier_returns(open: Open<'_>) {
    let store = Arc::new(open());
    let rv = store
        .compare_and_swap(&key("a"), Precondition::Absent, put(json!({})))
        .unwrap();
    runtime().block_on(store.fresh()).unwrap();
    assert!(store.resource_version().unwrap() >= rv);
    assert!(store.get(&key("a")).unwrap().is_some());
    store.ping().unwrap();
}

/// A replica that campaigns leads, and its fenced writes commit.
pub fn leadership_and_fenced_writes(open: Open<'_>) {
    let store = open();
    let leadership = store.campaign("reconciler").unwrap();
    assert!(!*leadership.lost.borrow());
    store
        .mutate_fenced::<_, StoreError>(&key("a"), false, leadership.fence.as_ref(), |_| {
            Ok((put(json!({})), ()))
        })
        .unwrap();
    assert!(store.get(&key("a")).unwrap().is_some());
}
