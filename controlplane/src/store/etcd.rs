//! The etcd backend (cargo feature `etcd`): several `wayfinder-server` replicas on one etcd
//! cluster serve one control plane.
//!
//! It sits on `wayfinder-etcd` (`controlplane-etcd/`: failover across endpoints, guarded
//! txns, paged reads, watch, election, compactor) and keeps the same in-memory
//! [`Cache`] the SQLite backend keeps, fed here by one watch of the whole prefix, the way
//! kube-apiserver's watch cache is fed. So reads, lists, pages and watches are answered by
//! the same code on both backends, in the same order.
//!
//! **Keys** (under `--etcd-prefix`, `/wayfinder` by default; docs/etcd.md):
//! - `/o/{group}/{kind}/{namespace or _}/{name}`: an object. The value is a header line
//!   (`{"uid","generation","created","write"}`) and the body as compact JSON without
//!   `metadata.resourceVersion`, which is the key's mod revision on every read.
//! - `/c/{group}/{kind}/{namespace}` and `/c/{group}/{kind}`: collection keys, written with
//!   every write in the collection, so that a decision that listed the collection is
//!   guarded by one compare of the collection key's mod revision (a range compare alone
//!   does not see deletes). `/c/_tokens` likewise for token rows.
//! - `/t/{hash}`: a token row (JSON [`TokenRecord`]).
//! - `/k/{name}`: the control plane's own keys (the signing key, the instance id), created
//!   once with a create-if-absent txn.
//! - `/rev`: written by every commit; its mod revision is the read barrier's target.
//! - `/e/{role}/...`: leader election (the reconciler), `/compact`: the compactor's turn.
//!
//! **Commits.** A decision runs on a recorded snapshot of the cache taken after the read
//! barrier; its batch commits as one txn guarded by what it read: every key read compares
//! its mod revision with the one read (0 when absent), every list compares its collection
//! key against the snapshot's revision, a fenced write compares its leadership key's
//! create revision. On a conflict the cache catches up to the conflicting revision and the
//! decision runs again, at most [`MAX_ATTEMPTS`] times, then `409`. A txn whose answer was
//! lost is settled by reading back the write's unique id, never retried blindly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use wayfinder_etcd::{Commit, Error as EtcdError, Etcd, EventKind, Guard, Op, Probe};

mod lane;

use super::cache::{Cache, Change, Entry, Recording, Snapshot};
use super::{
    Backend, Batch, Committed, EventType, Fence, Leadership, Mutation, ObjectKey, ReadSet, Reads,
    StoreError, TokenRecord, TokenWrite,
};

pub use wayfinder_etcd::{Config as EtcdConfig, TlsFiles as EtcdTlsFiles};

/// How many times a decision runs before its write is answered `409` (many writers racing
/// on one collection take turns: each round commits one of them).
pub const MAX_ATTEMPTS: u32 = 64;

/// How long a decision keeps being retried after conflicts before its write is answered
/// `409`.
const RETRY_DEADLINE: Duration = Duration::from_secs(10);

/// How long the read barrier waits for the cache to reach etcd's revision.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(10);

/// Compaction: how often one replica compacts, keeping this many revisions.
const COMPACT_INTERVAL: Duration = Duration::from_secs(300);

/// More collection keys than this in one guard are coalesced into kind-wide ones (etcd
/// takes at most 128 compares per txn).
const MAX_COLLECTION_COMPARES: usize = 48;

/// More distinct object keys than this in one guard are compared through their collection
/// keys instead ([`guard_for`]).
const MAX_KEY_COMPARES: usize = 64;

/// The compares that keep what `read` read true until the commit: each object key read at
/// `version(key)` (0: absent), each list's collection key no newer than `read.at`, the
/// token rows' collection key, and the fence's create revision.
///
/// etcd takes at most 128 compares per txn ([`wayfinder_etcd::MAX_TXN_OPS`]), so a
/// decision that read many objects is guarded coarser, never finer: every commit writes
/// the namespace's and the kind's collection keys with each object it writes (see `ops`),
/// so "the collection key was not written after `read.at`" implies "no key of the
/// collection was", a superset that can only add conflicts, never miss one.
/// - A key whose collection the decision listed is covered by that list's compare already.
/// - Beyond [`MAX_KEY_COMPARES`] keys, the collections holding most of them are compared
///   instead of their keys, largest first, until the keys left fit.
/// - Beyond [`MAX_COLLECTION_COMPARES`] collections, their kinds' collection keys; beyond
///   that many kinds, the range of every collection key.
///
/// So a guard holds at most `MAX_KEY_COMPARES + MAX_COLLECTION_COMPARES + 3` compares.
fn guard_for(read: &ReadSet, version: &dyn Fn(&ObjectKey) -> i64, fence: Option<&Fence>) -> Guard {
    use std::collections::{BTreeMap, BTreeSet};
    type Collection = (String, String, Option<String>);
    let mut guard = Guard::none();
    let mut everything = false;
    let mut listed: BTreeSet<Collection> = BTreeSet::new();
    for f in &read.filters {
        match (&f.group, &f.kind) {
            (Some(g), Some(k)) => {
                listed.insert((g.clone(), k.clone(), f.namespace.clone()));
            }
            _ => everything = true,
        }
    }
    let covered = |listed: &BTreeSet<Collection>, key: &ObjectKey| {
        everything
            || listed.contains(&(key.group.clone(), key.kind.clone(), None))
            || listed.contains(&(
                key.group.clone(),
                key.kind.clone(),
                Some(key.namespace.clone()),
            ))
    };
    let mut keys: Vec<&ObjectKey> = read
        .keys
        .iter()
        .filter(|k| !covered(&listed, k))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if keys.len() > MAX_KEY_COMPARES {
        let mut by_collection: BTreeMap<Collection, usize> = BTreeMap::new();
        for k in &keys {
            *by_collection
                .entry((k.group.clone(), k.kind.clone(), Some(k.namespace.clone())))
                .or_default() += 1;
        }
        let mut largest: Vec<(Collection, usize)> = by_collection.into_iter().collect();
        // Largest first; ties in key order, so a guard is the same for the same reads.
        largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut left = keys.len();
        for (collection, n) in largest {
            if left <= MAX_KEY_COMPARES {
                break;
            }
            listed.insert(collection);
            left -= n;
        }
        keys.retain(|k| !covered(&listed, k));
    }
    for key in keys {
        guard.mod_revision_eq.push((object_key(key), version(key)));
    }
    let mut collections: BTreeSet<String> = listed
        .iter()
        .map(|(g, k, ns)| collection_key(g, k, ns.as_deref()))
        .collect();
    if collections.len() > MAX_COLLECTION_COMPARES {
        // A kind-wide key is written with every namespace's: a superset, which can
        // only add conflicts, never miss one.
        collections = listed
            .iter()
            .map(|(g, k, _)| collection_key(g, k, None))
            .collect();
    }
    if everything || collections.len() > MAX_COLLECTION_COMPARES {
        guard.range_mod_revision_le.push((
            "/c/".to_string(),
            wayfinder_etcd::prefix_end("/c/"),
            read.at,
        ));
    } else {
        for c in collections {
            guard.mod_revision_le.push((c, read.at));
        }
    }
    if read.tokens && !everything {
        guard
            .mod_revision_le
            .push((TOKENS_COLLECTION.to_string(), read.at));
    }
    if let Some(fence) = fence {
        guard
            .create_revision_eq
            .push((fence.key.clone(), fence.revision));
    }
    guard
}

/// The etcd backend; see the module documentation.
pub struct EtcdBackend {
    etcd: Etcd,
    cache: Arc<Cache>,
    rt: tokio::runtime::Handle,
    /// The revision the cache has reached, for the read barrier.
    at: watch::Receiver<i64>,
    feed: Mutex<Option<tokio::task::JoinHandle<()>>>,
    compactor: Mutex<Option<wayfinder_etcd::Compactor>>,
    leaderships: Mutex<Vec<wayfinder_etcd::Leadership>>,
    leader_ttl: Duration,
    endpoints: String,
    /// Group commit of this replica's writes.
    lane: lane::Lane,
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// A fresh id for one commit's writes, so that a commit whose answer was lost is
/// recognised by reading it back.
fn write_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn enc(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

fn dec(s: &str) -> String {
    s.replace("%2F", "/").replace("%25", "%")
}

fn namespace_part(ns: &str) -> &str {
    if ns.is_empty() { "_" } else { ns }
}

/// `/o/{group}/{kind}/{ns or _}/{name}`.
fn object_key(key: &ObjectKey) -> String {
    format!(
        "/o/{}/{}/{}/{}",
        enc(&key.group),
        enc(&key.kind),
        enc(namespace_part(&key.namespace)),
        enc(&key.name)
    )
}

fn parse_object_key(key: &str) -> Option<ObjectKey> {
    let mut parts = key.strip_prefix("/o/")?.split('/');
    let (g, k, ns, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ns = dec(ns);
    Some(ObjectKey {
        group: dec(g),
        kind: dec(k),
        namespace: if ns == "_" { String::new() } else { ns },
        name: dec(name),
    })
}

fn collection_key(group: &str, kind: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!(
            "/c/{}/{}/{}",
            enc(group),
            enc(kind),
            enc(namespace_part(ns))
        ),
        None => format!("/c/{}/{}", enc(group), enc(kind)),
    }
}

const TOKENS_COLLECTION: &str = "/c/_tokens";

/// Written by every commit, so that its mod revision is the revision of the control plane's
/// last write: the read barrier's target. (etcd's own current revision may count writes
/// this cache never sees, and its progress notifications are unsafe before 3.4.25.)
const LAST_COMMIT: &str = "/rev";

fn token_key(hash: &str) -> String {
    format!("/t/{}", enc(hash))
}

/// An object's stored value: the header line, then the body.
fn encode_object(row: &super::NewRow, write: &str) -> Vec<u8> {
    let mut body = row.body.clone();
    super::cache::strip_resource_version(&mut body);
    let header = json!({
        "uid": row.uid,
        "generation": row.generation,
        "created": row.created,
        "write": write,
    });
    let mut out = header.to_string().into_bytes();
    out.push(b'\n');
    out.extend_from_slice(body.to_string().as_bytes());
    out
}

fn decode_object(key: &str, value: &[u8], mod_revision: i64) -> Result<Arc<Entry>, StoreError> {
    let corrupt = |source| StoreError::Corrupt {
        key: key.to_string(),
        source,
    };
    let text = std::str::from_utf8(value).map_err(|e| {
        corrupt(serde_json::Error::io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e,
        )))
    })?;
    let (header, body) = text.split_once('\n').unwrap_or((text, "{}"));
    let header: serde_json::Value = serde_json::from_str(header).map_err(corrupt)?;
    // Checked here, so the cache's lazy parse cannot fail later.
    serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(corrupt)?;
    Ok(Entry::from_raw(
        body.to_string(),
        mod_revision,
        header["generation"].as_i64().unwrap_or(1),
        header["uid"].as_str().unwrap_or_default().to_string(),
        header["created"].as_str().unwrap_or_default().to_string(),
    ))
}

fn encode_token(record: &TokenRecord) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

fn decode_token(key: &str, value: &[u8]) -> Result<TokenRecord, StoreError> {
    serde_json::from_slice(value).map_err(|source| StoreError::Corrupt {
        key: key.to_string(),
        source,
    })
}

/// `decide` on `view`, and what it read.
fn decide_on(
    view: Snapshot,
    decide: &mut dyn FnMut(&dyn Reads, &ReadSet) -> Option<Batch>,
) -> (Option<Batch>, ReadSet) {
    let recording = Recording::new(view);
    let decided = decide(&recording, &recording.read_set());
    (decided, recording.into_read_set())
}

/// What etcd's errors are to the rest of the server.
fn store_error(endpoints: &str, e: EtcdError) -> StoreError {
    match e {
        EtcdError::Unavailable { endpoints, last } => StoreError::Unavailable {
            endpoints: endpoints.join(","),
            reason: last,
        },
        EtcdError::TooLarge { what, limit } => StoreError::TooLarge {
            what,
            limit: if limit == wayfinder_etcd::MAX_TXN_OPS {
                format!("{limit} compares or operations in one txn, etcd's --max-txn-ops")
            } else {
                format!(
                    "{limit} bytes in one request, etcd's --max-request-bytes of {} less room for its header",
                    wayfinder_etcd::MAX_REQUEST_BYTES
                )
            },
        },
        EtcdError::Compacted {
            requested,
            compacted,
        } => StoreError::Compacted {
            requested,
            oldest: compacted,
        },
        EtcdError::Fenced { .. } | EtcdError::LeaseLost { .. } => StoreError::Fenced,
        EtcdError::Conflict { .. } => StoreError::Conflict { attempts: 1 },
        other => StoreError::Unavailable {
            endpoints: endpoints.to_string(),
            reason: other.to_string(),
        },
    }
}

/// The cache of everything under the prefix at one revision.
async fn load(etcd: &Etcd) -> Result<Snapshot, StoreError> {
    let endpoints = etcd.endpoints().join(",");
    let (revision, kvs) = etcd
        .get_all("/")
        .await
        .map_err(|e| store_error(&endpoints, e))?;
    let mut objects = Vec::new();
    let mut tokens = Vec::new();
    for kv in kvs {
        if let Some(key) = parse_object_key(&kv.key) {
            objects.push((key, decode_object(&kv.key, &kv.value, kv.mod_revision)?));
        } else if let Some(hash) = kv.key.strip_prefix("/t/") {
            tokens.push((dec(hash), decode_token(&kv.key, &kv.value)?));
        }
    }
    Ok(Snapshot::from_entries(revision, objects, tokens))
}

/// One watch batch as the cache's changes.
fn changes_of(batch: &wayfinder_etcd::Batch) -> (Vec<Change>, Vec<TokenWrite>) {
    let mut objects = Vec::new();
    let mut tokens = Vec::new();
    for e in &batch.events {
        if let Some(key) = parse_object_key(&e.key) {
            match e.kind {
                EventKind::Put => match decode_object(&e.key, &e.value, e.mod_revision) {
                    Ok(entry) => objects.push(Change {
                        key,
                        resource_version: e.mod_revision,
                        event_type: Some(if e.create_revision == e.mod_revision {
                            EventType::Added
                        } else {
                            EventType::Modified
                        }),
                        object: Some(entry),
                    }),
                    Err(err) => {
                        tracing::error!(key = %e.key, error = %crate::ErrorChain(&err), "an object in etcd does not decode; it is skipped");
                    }
                },
                EventKind::Delete => objects.push(Change {
                    key,
                    resource_version: batch.revision,
                    event_type: Some(EventType::Deleted),
                    object: None,
                }),
            }
        } else if let Some(hash) = e.key.strip_prefix("/t/") {
            let hash = dec(hash);
            match e.kind {
                EventKind::Put => match decode_token(&e.key, &e.value) {
                    Ok(record) => tokens.push(TokenWrite::Put { hash, record }),
                    Err(err) => {
                        tracing::error!(key = %e.key, error = %crate::ErrorChain(&err), "a token row in etcd does not decode; it is skipped");
                    }
                },
                EventKind::Delete => tokens.push(TokenWrite::Delete { hash }),
            }
        }
    }
    (objects, tokens)
}

/// Follows etcd from `from` and applies every batch to the cache, resuming after errors
/// and reloading the whole cache when its revision was compacted away.
async fn feed(etcd: Etcd, cache: Arc<Cache>, at: watch::Sender<i64>, mut from: i64) {
    loop {
        let mut w = etcd.watch("/", from);
        loop {
            match w.next().await {
                // A progress notification says nothing changed up to its revision; on etcd
                // before 3.4.25 and 3.5.8 it can come before an event of that revision
                // (etcd#15220), so the cache's revision moves only with events.
                Some(Ok(batch)) if batch.events.is_empty() => {}
                Some(Ok(batch)) => {
                    let (objects, tokens) = changes_of(&batch);
                    cache.apply_at(&objects, &tokens, batch.revision);
                    from = batch.revision + 1;
                    at.send_replace(batch.revision);
                }
                Some(Err(EtcdError::Compacted { .. })) => {
                    tracing::warn!(
                        "the etcd revision the cache follows was compacted; reloading the cache (watchers are told to list again)"
                    );
                    match load(&etcd).await {
                        Ok(snapshot) => {
                            let revision = snapshot.resource_version();
                            cache.reset(snapshot);
                            from = revision + 1;
                            at.send_replace(revision);
                        }
                        Err(e) => {
                            tracing::warn!(error = %crate::ErrorChain(&e), "reloading the cache from etcd failed; retrying");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the etcd watch feeding the cache failed; resuming");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                None => {
                    if at.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
    }
}

impl EtcdBackend {
    /// Connects, loads the cache and starts following etcd. An unreachable etcd is an
    /// error naming every endpoint tried.
    pub async fn connect(config: &EtcdConfig, leader_ttl: Duration) -> Result<Self, StoreError> {
        let endpoints = config.endpoints.join(",");
        let etcd = Etcd::connect(config)
            .await
            .map_err(|e| store_error(&endpoints, e))?;
        let snapshot = load(&etcd).await?;
        let revision = snapshot.resource_version();
        let cache = Arc::new(Cache::new(snapshot, Vec::new(), revision));
        let (at_tx, at) = watch::channel(revision);
        let feed = tokio::spawn(feed(etcd.clone(), Arc::clone(&cache), at_tx, revision + 1));
        let compactor = wayfinder_etcd::Compactor::spawn(
            etcd.clone(),
            COMPACT_INTERVAL,
            wayfinder_etcd::DEFAULT_KEEP_REVISIONS,
        );
        Ok(Self {
            etcd,
            cache,
            rt: tokio::runtime::Handle::current(),
            at,
            feed: Mutex::new(Some(feed)),
            compactor: Mutex::new(Some(compactor)),
            leaderships: Mutex::new(Vec::new()),
            leader_ttl,
            endpoints,
            lane: lane::Lane::default(),
        })
    }

    /// A commit in its own txn: dry runs and fenced (leader's) writes.
    fn commit_alone(
        &self,
        dry_run: bool,
        fence: Option<&Fence>,
        decide: &mut dyn FnMut(&dyn Reads, &ReadSet) -> Option<Batch>,
    ) -> Result<Option<Committed>, StoreError> {
        let mut attempt = 0;
        let started = std::time::Instant::now();
        // The first decision is made on the cache as it is, without a round trip: a batch
        // it commits is guarded by the compares of everything it read, so a stale cache
        // costs a conflict, never a wrong write. An answer that commits no txn (a refusal,
        // a dry run, nothing to write) has no compare to catch staleness, so it is given
        // only after deciding again on everything acknowledged before (the barrier).
        let mut fresh = false;
        loop {
            attempt += 1;
            let snapshot = self.cache.snapshot()?;
            let (decided, read) = decide_on(snapshot.clone(), decide);
            let sends_nothing = dry_run || decided.as_ref().is_none_or(Batch::is_empty);
            if sends_nothing && !fresh {
                self.barrier()?;
                fresh = true;
                continue;
            }
            let Some(batch) = decided else {
                return Ok(None);
            };
            let n = batch.objects.len();
            if dry_run {
                return Ok(Some(Committed {
                    versions: vec![read.at + 1; n],
                    at: read.at,
                }));
            }
            if batch.is_empty() {
                return Ok(Some(Committed {
                    versions: Vec::new(),
                    at: read.at,
                }));
            }
            let (ops, probe) = self.ops(&batch);
            let guard = self.guard(&read, &snapshot, fence);
            match self.send(guard, &ops, probe.as_ref()) {
                Ok(commit) => {
                    // This replica's next read sees its own write.
                    self.catch_up(commit.revision)?;
                    return Ok(Some(Committed {
                        versions: vec![commit.revision; n],
                        at: commit.revision,
                    }));
                }
                Err(EtcdError::Conflict { reported, .. }) => {
                    if attempt >= MAX_ATTEMPTS || started.elapsed() > RETRY_DEADLINE {
                        return Err(StoreError::Conflict { attempts: attempt });
                    }
                    self.catch_up_after_conflict(reported)?;
                    fresh = true;
                    // A little jitter, so racing replicas do not collide in step.
                    let jitter: u64 = rand::random();
                    let pause = u64::from(attempt.min(10)) + jitter % 8;
                    std::thread::sleep(Duration::from_millis(pause));
                }
                Err(EtcdError::NotCommitted { .. }) if attempt < MAX_ATTEMPTS => {
                    // The lost txn did not apply (and, guarded by the probe key, cannot
                    // apply later beside a new one): decide again.
                    self.barrier()?;
                    fresh = true;
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    /// A write through the replica's [`lane`]: decided in turn and committed with the
    /// writes deciding beside it in one txn.
    fn commit_combined(
        &self,
        decide: &mut dyn FnMut(&dyn Reads, &ReadSet) -> Option<Batch>,
    ) -> Result<Option<Committed>, StoreError> {
        let mut attempt = 0;
        let started = std::time::Instant::now();
        // As in `commit_alone`: the first decision is made on the cache as it is; an
        // answer that commits no txn only after deciding again behind the barrier.
        let mut fresh = false;
        loop {
            attempt += 1;
            let mut turn = self.lane.turn(|| self.cache.snapshot())?;
            let forming = turn.forming();
            let (decided, mut read) = decide_on(forming.view.clone(), decide);
            let admitted = decided.is_some();
            let Some(batch) = decided.filter(|b| !b.is_empty()) else {
                let at = forming.base.resource_version();
                turn.leave();
                if !fresh {
                    self.barrier()?;
                    fresh = true;
                    continue;
                }
                // Refused (`None`), or admitted with nothing to write.
                return Ok(admitted.then(|| Committed {
                    versions: Vec::new(),
                    at,
                }));
            };
            let (ops, probe) = self.ops(&batch);
            // Compared against the base; what an earlier member writes, its compares cover.
            read.keys.retain(|k| !forming.written.contains(k));
            read.at = forming.base.resource_version();
            let guard = self.guard(&read, &forming.base, None);
            let forming_id = forming.id;
            let fits = forming.fits(&guard, &ops);
            let under = turn.flights_under(&guard);
            if !fits || !under.is_empty() {
                // Decided without writes in flight it depends on, or too big to join:
                // decide again once they (or the forming batch) have landed.
                let wait_for = if fits { under } else { vec![forming_id] };
                turn.leave();
                self.lane.wait_landed(&wait_for);
                attempt -= 1;
                continue;
            }
            let forming = turn.forming();
            forming.join(guard, ops, probe, &batch);
            let n = batch.objects.len();
            let landed = turn.finish(|f| self.fly(f));
            match landed {
                lane::Landed::Committed(revision) => {
                    // The leader caught up before landing; a no-op unless that failed.
                    self.catch_up(revision)?;
                    return Ok(Some(Committed {
                        versions: vec![revision; n],
                        at: revision,
                    }));
                }
                lane::Landed::Conflict | lane::Landed::NotCommitted => {
                    if attempt >= MAX_ATTEMPTS || started.elapsed() > RETRY_DEADLINE {
                        return Err(StoreError::Conflict { attempts: attempt });
                    }
                    fresh = true;
                }
                lane::Landed::Failed(e) => return Err(self.err(e)),
            }
        }
    }

    /// Sends a formed batch as one txn; on success and on conflict the cache is brought
    /// to where etcd is before the batch lands, so the next batch decides on it.
    fn fly(&self, batch: &lane::Forming) -> lane::Landed {
        match self.send(batch.guard.clone(), &batch.ops, batch.probe.as_ref()) {
            Ok(commit) => {
                if let Err(e) = self.catch_up(commit.revision) {
                    tracing::warn!(error = %e, "the cache is behind a commit of this replica");
                }
                lane::Landed::Committed(commit.revision)
            }
            Err(EtcdError::Conflict { reported, .. }) => {
                if let Err(e) = self.catch_up_after_conflict(reported) {
                    tracing::warn!(error = %e, "catching up after a conflict failed");
                }
                // A little jitter, so replicas racing on the same keys fall out of step.
                let jitter: u64 = rand::random();
                std::thread::sleep(Duration::from_millis(jitter % 4));
                lane::Landed::Conflict
            }
            Err(EtcdError::NotCommitted { .. }) => {
                if let Err(e) = self.barrier() {
                    tracing::warn!(error = %e, "the barrier after a lost commit failed");
                }
                lane::Landed::NotCommitted
            }
            Err(e) => lane::Landed::Failed(e),
        }
    }

    /// Sends one txn of `ops` under `guard`. A failed compare reads LAST_COMMIT back (see
    /// [`Self::catch_up_after_conflict`]); a lost answer is settled by reading `probe`.
    fn send(
        &self,
        mut guard: Guard,
        ops: &[Op],
        probe: Option<&Probe>,
    ) -> Result<Commit, EtcdError> {
        guard.report_on_conflict = Some(LAST_COMMIT.to_string());
        match probe {
            Some(probe) => self
                .rt
                .block_on(self.etcd.commit_settled(&guard, ops, probe)),
            None => self.rt.block_on(self.etcd.commit(&guard, ops)),
        }
    }

    /// After a conflict: whatever beat the txn is a commit of this control plane, so it
    /// wrote LAST_COMMIT, whose mod revision the failed txn read back (`reported`);
    /// catching up to it needs no further round trip.
    fn catch_up_after_conflict(&self, reported: Option<i64>) -> Result<(), StoreError> {
        match reported {
            Some(revision) => self.catch_up(revision),
            None => self.barrier(),
        }
    }

    fn err(&self, e: EtcdError) -> StoreError {
        store_error(&self.endpoints, e)
    }

    /// Waits until the cache has reached `revision`.
    fn catch_up(&self, revision: i64) -> Result<(), StoreError> {
        let mut at = self.at.clone();
        self.rt.block_on(async move {
            let wait = async {
                loop {
                    if *at.borrow_and_update() >= revision {
                        return Ok(());
                    }
                    match tokio::time::timeout(Duration::from_millis(100), at.changed()).await {
                        Ok(Ok(())) | Err(_) => {}
                        Ok(Err(_)) => return Err(StoreError::Closed),
                    }
                }
            };
            tokio::time::timeout(BARRIER_TIMEOUT, wait)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable {
                        endpoints: self.endpoints.clone(),
                        reason: format!(
                            "this replica's cache did not reach etcd's revision {revision} within {BARRIER_TIMEOUT:?}"
                        ),
                    })
                })
        })
    }

    /// The compares that keep what `read` read true until the commit ([`guard_for`]).
    fn guard(&self, read: &ReadSet, snapshot: &Snapshot, fence: Option<&Fence>) -> Guard {
        guard_for(read, &|k| snapshot.version_of(k).unwrap_or(0), fence)
    }

    /// The txn's operations for `batch`, and the probe that settles a lost answer.
    fn ops(&self, batch: &Batch) -> (Vec<Op>, Option<Probe>) {
        let write = write_id();
        let mut ops = Vec::new();
        let mut collections = std::collections::BTreeSet::new();
        let mut probe = None;
        for (key, mutation) in &batch.objects {
            let k = object_key(key);
            collections.insert(collection_key(&key.group, &key.kind, Some(&key.namespace)));
            collections.insert(collection_key(&key.group, &key.kind, None));
            match mutation {
                Mutation::Put(row) => {
                    if probe.is_none() {
                        probe = Some(Probe::Contains {
                            key: k.clone(),
                            needle: write.as_bytes().to_vec(),
                        });
                    }
                    ops.push(Op::Put(k, encode_object(row, &write)));
                }
                Mutation::Delete => {
                    if probe.is_none() {
                        probe = Some(Probe::Absent { key: k.clone() });
                    }
                    ops.push(Op::Delete(k));
                }
            }
        }
        for t in &batch.tokens {
            match t {
                TokenWrite::Put { hash, record } => {
                    if probe.is_none() {
                        probe = Some(Probe::Contains {
                            key: token_key(hash),
                            needle: record.created.as_bytes().to_vec(),
                        });
                    }
                    ops.push(Op::Put(token_key(hash), encode_token(record)));
                }
                TokenWrite::Delete { hash } => {
                    if probe.is_none() {
                        probe = Some(Probe::Absent {
                            key: token_key(hash),
                        });
                    }
                    ops.push(Op::Delete(token_key(hash)));
                }
            }
        }
        if !batch.tokens.is_empty() {
            collections.insert(TOKENS_COLLECTION.to_string());
        }
        for c in collections {
            ops.push(Op::Put(c, Vec::new()));
        }
        if !ops.is_empty() {
            ops.push(Op::Put(LAST_COMMIT.to_string(), Vec::new()));
        }
        (ops, probe)
    }
}

impl Backend for EtcdBackend {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    fn needs_barrier(&self) -> bool {
        true
    }

    fn barrier(&self) -> Result<(), StoreError> {
        // The revision of the last commit of this control plane (every commit writes
        // LAST_COMMIT; a linearizable read), which the cache reaches through events alone.
        let revision = self
            .rt
            .block_on(self.etcd.get(LAST_COMMIT))
            .map_err(|e| self.err(e))?
            .map_or(0, |kv| kv.mod_revision);
        self.catch_up(revision)
    }

    fn commit(
        &self,
        dry_run: bool,
        fence: Option<&Fence>,
        decide: &mut dyn FnMut(&dyn Reads, &ReadSet) -> Option<Batch>,
    ) -> Result<Option<Committed>, StoreError> {
        if dry_run || fence.is_some() {
            self.commit_alone(dry_run, fence, decide)
        } else {
            self.commit_combined(decide)
        }
    }

    fn server_key(
        &self,
        name: &str,
        create: &mut dyn FnMut() -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = format!("/k/{}", enc(name));
        loop {
            if let Some(kv) = self
                .rt
                .block_on(self.etcd.get(&key))
                .map_err(|e| self.err(e))?
            {
                return Ok(Some(kv.value));
            }
            let Some(value) = create() else {
                return Ok(None);
            };
            let guard = Guard {
                mod_revision_eq: vec![(key.clone(), 0)],
                ..Guard::none()
            };
            match self.rt.block_on(
                self.etcd
                    .commit(&guard, &[Op::Put(key.clone(), value.clone())]),
            ) {
                Ok(_) => return Ok(Some(value)),
                // Another replica created it first: read theirs.
                Err(EtcdError::Conflict { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    fn campaign(&self, role: &str) -> Result<Leadership, StoreError> {
        let leadership = self
            .rt
            .block_on(self.etcd.campaign(role, self.leader_ttl))
            .map_err(|e| self.err(e))?;
        let (key, revision) = leadership.fence();
        let out = Leadership {
            fence: Some(Fence { key, revision }),
            lost: leadership.lost.clone(),
        };
        let mut kept = self.leaderships.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|l| !l.is_lost());
        kept.push(leadership);
        Ok(out)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(2), self.etcd.current_revision()).await
            })
            .map_err(|_| StoreError::Unavailable {
                endpoints: self.endpoints.clone(),
                reason: "no answer within 2s".to_string(),
            })?
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn close(&self) -> Result<(), StoreError> {
        if let Some(feed) = self.feed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            feed.abort();
        }
        self.compactor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let leaderships: Vec<_> = self
            .leaderships
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for l in leaderships {
            // Hand over at once rather than after the lease runs out.
            if let Err(e) = self.rt.block_on(l.resign()) {
                tracing::warn!(error = %e, "resigning a leadership failed; it ends with its lease");
            }
        }
        self.cache.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_round_trip_through_their_etcd_keys() {
        for key in [
            ObjectKey {
                group: "compute.appvia.io".into(),
                kind: "ClusterPlan".into(),
                namespace: String::new(),
                name: "eks@1.0.0".into(),
            },
            ObjectKey {
                group: "compute.appvia.io".into(),
                kind: "Cluster".into(),
                namespace: "pay".into(),
                name: "odd/na%me".into(),
            },
        ] {
            let k = object_key(&key);
            assert_eq!(k.matches('/').count(), 5, "{k}");
            assert_eq!(parse_object_key(&k), Some(key));
        }
        assert_eq!(parse_object_key("/c/compute.appvia.io/Cluster"), None);
    }

    #[test]
    fn a_collection_key_for_a_namespace_differs_from_the_kind_wide_one() {
        let ns = collection_key("g", "K", Some(""));
        let all = collection_key("g", "K", None);
        assert_ne!(ns, all);
        assert_eq!(ns, "/c/g/K/_");
    }

    fn template(ns: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: "compute.appvia.io".into(),
            kind: "ComputeTemplate".into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn read_of(keys: Vec<ObjectKey>, filters: Vec<super::super::ListFilter>) -> ReadSet {
        ReadSet {
            at: 100,
            keys,
            filters,
            tokens: false,
        }
    }

    /// Whether `guard` fails when `key` is written after the read (each write also
    /// writes its namespace's and its kind's collection keys and `/rev`).
    fn catches_a_write_of(guard: &Guard, key: &ObjectKey) -> bool {
        let written = [
            object_key(key),
            collection_key(&key.group, &key.kind, Some(&key.namespace)),
            collection_key(&key.group, &key.kind, None),
        ];
        guard
            .mod_revision_eq
            .iter()
            .any(|(k, _)| written.contains(k))
            || guard
                .mod_revision_le
                .iter()
                .any(|(k, _)| written.contains(k))
            || guard
                .range_mod_revision_le
                .iter()
                .any(|(start, end, _)| written.iter().any(|k| k >= start && k < end))
    }

    #[test]
    fn a_few_keys_are_compared_one_by_one_at_the_version_read() {
        let read = read_of(
            vec![template("", "a"), template("", "b"), template("", "a")],
            vec![],
        );
        let guard = guard_for(&read, &|k| if k.name == "a" { 7 } else { 0 }, None);
        assert_eq!(
            guard.mod_revision_eq,
            vec![
                (object_key(&template("", "a")), 7),
                (object_key(&template("", "b")), 0)
            ]
        );
        assert!(guard.mod_revision_le.is_empty());
    }

    #[test]
    fn keys_beyond_the_budget_are_compared_through_their_collection_keys() {
        // 200 keys read one by one: 150 in `pay`, 40 in `web`, 10 platform-level.
        let mut keys: Vec<ObjectKey> = (0..150)
            .map(|i| template("pay", &format!("p{i}")))
            .collect();
        keys.extend((0..40).map(|i| template("web", &format!("w{i}"))));
        keys.extend((0..10).map(|i| template("", &format!("t{i}"))));
        let read = read_of(keys.clone(), vec![]);
        let guard = guard_for(&read, &|_| 5, None);
        assert!(
            guard.len() <= wayfinder_etcd::MAX_TXN_OPS,
            "{}",
            guard.len()
        );
        // The largest collection goes first; what is left fits one by one.
        assert_eq!(
            guard.mod_revision_le,
            vec![(
                collection_key("compute.appvia.io", "ComputeTemplate", Some("pay")),
                100
            )]
        );
        assert_eq!(guard.mod_revision_eq.len(), 50);
        for k in &keys {
            assert!(catches_a_write_of(&guard, k), "{k}");
        }
    }

    #[test]
    fn keys_in_many_namespaces_are_compared_through_the_kind_wide_key() {
        let keys: Vec<ObjectKey> = (0..200).map(|i| template(&format!("ws{i}"), "t")).collect();
        let guard = guard_for(&read_of(keys.clone(), vec![]), &|_| 5, None);
        assert_eq!(
            guard.mod_revision_le,
            vec![(
                collection_key("compute.appvia.io", "ComputeTemplate", None),
                100
            )]
        );
        assert!(guard.mod_revision_eq.len() <= MAX_KEY_COMPARES);
        for k in &keys {
            assert!(catches_a_write_of(&guard, k), "{k}");
        }
    }

    #[test]
    fn a_key_whose_collection_was_listed_needs_no_compare_of_its_own() {
        let listed = super::super::ListFilter {
            group: Some("compute.appvia.io".into()),
            kind: Some("ComputeTemplate".into()),
            namespace: Some("pay".into()),
            ..Default::default()
        };
        let read = read_of(
            vec![template("pay", "a"), template("web", "b")],
            vec![listed],
        );
        let guard = guard_for(&read, &|_| 3, None);
        assert_eq!(
            guard.mod_revision_eq,
            vec![(object_key(&template("web", "b")), 3)]
        );
        assert!(catches_a_write_of(&guard, &template("pay", "a")));
    }

    proptest::proptest! {
        /// Whatever was read, the guard stays within etcd's 128 compares and catches a
        /// write of every key read and of every key in every collection listed.
        #[test]
        fn every_guard_fits_etcd_and_catches_every_write_it_must(
            reads in proptest::collection::vec((0u8..3, 0u8..60, 0u8..40), 0..400),
            lists in proptest::collection::vec((0u8..3, proptest::option::of(0u8..60)), 0..80),
            tokens: bool,
            fenced: bool,
        ) {
            let kind = |k: u8| ["ComputeTemplate", "Cluster", "ClusterPlan"][k as usize];
            let key = |k: u8, ns: u8, name: u8| ObjectKey {
                group: "compute.appvia.io".into(),
                kind: kind(k).into(),
                namespace: format!("ws{ns}"),
                name: format!("n{name}"),
            };
            let keys: Vec<ObjectKey> = reads.iter().map(|&(k, ns, n)| key(k, ns, n)).collect();
            let filters: Vec<super::super::ListFilter> = lists
                .iter()
                .map(|&(k, ns)| super::super::ListFilter {
                    group: Some("compute.appvia.io".into()),
                    kind: Some(kind(k).into()),
                    namespace: ns.map(|ns| format!("ws{ns}")),
                    ..Default::default()
                })
                .collect();
            let read = ReadSet { at: 100, keys: keys.clone(), filters: filters.clone(), tokens };
            let fence = Fence { key: "/e/reconciler/1".into(), revision: 9 };
            let guard = guard_for(&read, &|_| 1, fenced.then_some(&fence));
            proptest::prop_assert!(guard.len() <= wayfinder_etcd::MAX_TXN_OPS, "{}", guard.len());
            for k in &keys {
                proptest::prop_assert!(catches_a_write_of(&guard, k), "{}", k);
            }
            for f in &filters {
                // Any key the list covers, present then or created since.
                let probe = ObjectKey {
                    group: f.group.clone().unwrap(),
                    kind: f.kind.clone().unwrap(),
                    namespace: f.namespace.clone().unwrap_or_else(|| "elsewhere".into()),
                    name: "new".into(),
                };
                proptest::prop_assert!(catches_a_write_of(&guard, &probe), "{:?}", f);
            }
            proptest::prop_assert_eq!(guard.create_revision_eq.len(), usize::from(fenced));
        }
    }

    #[test]
    fn a_stored_object_decodes_with_its_header_and_the_mod_revision() {
        let row = super::super::NewRow {
            body: json!({"metadata": {"name": "a", "resourceVersion": "7"}, "spec": {}}),
            generation: 3,
            uid: "u-1".into(),
            created: "2026-01-01T00:00:00Z".into(),
        };
        let bytes = encode_object(&row, "w-1");
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let entry = decode_object("/o/x", &bytes, 42).unwrap();
        let stored = entry.stored();
        assert_eq!(stored.resource_version, 42);
        assert_eq!(stored.generation, 3);
        assert_eq!(stored.uid, "u-1");
        assert_eq!(stored.body["metadata"]["resourceVersion"], "42");
    }
}
