//! The committed state in memory, whatever the backend: every committed object and token,
//! the log of recent changes, and the watch fan-out. A backend feeds it (SQLite from its
//! committer after each durable `COMMIT`; a replicated backend from its watch) through
//! [`Cache::apply`]; the [`Store`](super::Store) front reads from it.
//!
//! The objects live in a persistent map (shared nodes, cheap to clone), so a [`Snapshot`]
//! is consistent for as long as it is held; each object's parsed model object is computed
//! once, when first asked for, and shared. Lists and watches are ordered by
//! [`ObjectKey`], identically on every backend.
//!
//! The change log keeps the last [`EVENT_HISTORY`] changes: a watch from a version the log
//! still reaches is replayed from it, then followed live; from an older one it answers
//! [`StoreError::Compacted`]. A list paged at a version keeps that version's snapshot only
//! as long as the log reaches back to it.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;
use wayfinder_model::Object;

use super::{
    ContinueToken, EventType, ListFilter, Listing, ObjectKey, ReadSet, Reads, StoreError,
    StoredObject, TokenRecord, TokenWrite, WatchEvent, parse_stored,
};

pub use super::sqlite::EVENT_HISTORY;

/// How many paged snapshots are kept at most (the oldest go first).
const KEPT_PAGES: usize = 64;

/// A committed object in memory: its body as compact JSON (as stored, without
/// `metadata.resourceVersion`: a backend's bytes, about their size in memory), parsed
/// whenever it is read, and the model object it parses as (parsed once, when first asked
/// for — admission's reads of plans and templates — and shared by every reader after).
#[derive(Debug)]
pub struct Entry {
    raw: Box<str>,
    resource_version: i64,
    generation: i64,
    uid: Box<str>,
    created: Box<str>,
    parsed: std::sync::OnceLock<Option<Arc<Object>>>,
}

impl Entry {
    /// The entry of a committed row.
    pub fn new(mut stored: StoredObject) -> Arc<Self> {
        strip_resource_version(&mut stored.body);
        Self::from_raw(
            stored.body.to_string(),
            stored.resource_version,
            stored.generation,
            stored.uid,
            stored.created,
        )
    }

    /// The entry of a committed row whose body is the JSON `raw` (a `resourceVersion` in
    /// it is ignored: reads answer the row's).
    pub fn from_raw(
        raw: String,
        resource_version: i64,
        generation: i64,
        uid: String,
        created: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            raw: raw.into_boxed_str(),
            resource_version,
            generation,
            uid: uid.into_boxed_str(),
            created: created.into_boxed_str(),
            parsed: std::sync::OnceLock::new(),
        })
    }

    /// The row's version.
    pub fn resource_version(&self) -> i64 {
        self.resource_version
    }

    /// The body, with `metadata.resourceVersion` the row's version.
    pub fn body(&self) -> serde_json::Value {
        let mut body = self.raw_body();
        set_resource_version(&mut body, self.resource_version);
        body
    }

    /// The body as stored.
    fn raw_body(&self) -> serde_json::Value {
        // Written by serde_json or checked when loaded: it parses.
        serde_json::from_str(&self.raw).unwrap_or_else(|e| {
            tracing::error!(error = %e, "an object in memory is not valid JSON");
            serde_json::Value::Null
        })
    }

    /// The object as committed.
    pub fn stored(&self) -> StoredObject {
        StoredObject {
            body: self.body(),
            resource_version: self.resource_version,
            generation: self.generation,
            uid: self.uid.to_string(),
            created: self.created.to_string(),
        }
    }

    /// The part of the body at the JSON `pointer`.
    fn part(&self, pointer: &str) -> Option<serde_json::Value> {
        if pointer == "/metadata/resourceVersion" {
            return Some(serde_json::Value::String(self.resource_version.to_string()));
        }
        self.raw_body()
            .pointer_mut(pointer)
            .map(serde_json::Value::take)
    }

    /// Whether the body has every label `filter` asks for (no parse when it asks none).
    fn has_labels(&self, filter: &ListFilter) -> bool {
        filter.labels.is_empty() || filter.matches_labels(&self.raw_body())
    }

    fn parsed(&self) -> Option<Arc<Object>> {
        self.parsed
            .get_or_init(|| parse_stored(&self.body()).map(Arc::new))
            .clone()
    }
}

/// Puts `rv` into `body`'s `metadata.resourceVersion` (a body that is not a JSON object is
/// left alone).
pub fn set_resource_version(body: &mut serde_json::Value, rv: i64) {
    if let Some(obj) = body.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                "resourceVersion".into(),
                serde_json::Value::String(rv.to_string()),
            );
        }
    }
}

/// Takes `metadata.resourceVersion` out of `body`: what a backend stores.
pub fn strip_resource_version(body: &mut serde_json::Value) {
    if let Some(meta) = body.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("resourceVersion");
    }
}

/// One object write of a commit: the key, the resource version it took, its change event's
/// type (`None` when nothing changed: deleting what is not there) and the object as written
/// (`None` once deleted).
#[derive(Debug, Clone)]
pub struct Change {
    pub key: ObjectKey,
    pub resource_version: i64,
    pub event_type: Option<EventType>,
    pub object: Option<Arc<Entry>>,
}

impl Change {
    fn event(&self) -> Option<WatchEvent> {
        self.event_type.map(|event_type| WatchEvent {
            event_type,
            key: self.key.clone(),
            resource_version: self.resource_version,
        })
    }
}

/// The committed objects and tokens as of one resource version. Cloning is cheap (the maps
/// are persistent: a clone shares every node), so a snapshot stays consistent whatever
/// commits after it was taken.
#[derive(Clone)]
pub struct Snapshot {
    at: i64,
    objects: rpds::RedBlackTreeMapSync<ObjectKey, Arc<Entry>>,
    tokens: rpds::HashTrieMapSync<String, TokenRecord>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("at", &self.at)
            .field("objects", &self.objects.size())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// A snapshot at `at` of `objects` and `tokens` (hash → record).
    pub fn new(
        at: i64,
        objects: impl IntoIterator<Item = (ObjectKey, StoredObject)>,
        tokens: impl IntoIterator<Item = (String, TokenRecord)>,
    ) -> Self {
        let mut map = rpds::RedBlackTreeMapSync::new_sync();
        for (key, object) in objects {
            map.insert_mut(key, Entry::new(object));
        }
        let mut t = rpds::HashTrieMapSync::new_sync();
        for (hash, record) in tokens {
            t.insert_mut(hash, record);
        }
        Self {
            at,
            objects: map,
            tokens: t,
        }
    }

    /// A snapshot at `at` of `entries` and `tokens` (hash → record).
    pub fn from_entries(
        at: i64,
        entries: impl IntoIterator<Item = (ObjectKey, Arc<Entry>)>,
        tokens: impl IntoIterator<Item = (String, TokenRecord)>,
    ) -> Self {
        let mut snapshot = Self::new(at, [], tokens);
        for (key, entry) in entries {
            snapshot.objects.insert_mut(key, entry);
        }
        snapshot
    }

    /// The resource version this snapshot is at.
    pub fn resource_version(&self) -> i64 {
        self.at
    }

    /// One object.
    pub fn object(&self, key: &ObjectKey) -> Option<StoredObject> {
        self.objects.get(key).map(|e| e.stored())
    }

    /// The resource version of one object, without materialising its body.
    pub fn version_of(&self, key: &ObjectKey) -> Option<i64> {
        self.objects.get(key).map(|e| e.resource_version)
    }

    /// The objects `filter` covers, in key order (each parsed as it is reached).
    pub fn objects<'a>(
        &'a self,
        filter: &'a ListFilter,
    ) -> impl Iterator<Item = (&'a ObjectKey, StoredObject)> + 'a {
        self.covered(filter, None)
            .filter(|(_, e)| e.has_labels(filter))
            .map(|(k, e)| (k, e.stored()))
    }

    /// The owner of the token with this hash.
    pub fn token(&self, hash: &str) -> Option<TokenRecord> {
        self.tokens.get(hash).cloned()
    }

    /// The objects `filter`'s key parts cover, in key order, after `after` when given
    /// (labels not looked at).
    fn covered<'a>(
        &'a self,
        filter: &'a ListFilter,
        after: Option<&ObjectKey>,
    ) -> Box<dyn Iterator<Item = (&'a ObjectKey, &'a Arc<Entry>)> + 'a> {
        let lower = |start: ObjectKey| match after {
            Some(a) if *a >= start => Bound::Excluded(a.clone()),
            _ => Bound::Included(start),
        };
        match (&filter.group, &filter.kind) {
            (Some(group), Some(kind)) => {
                let start = ObjectKey {
                    group: group.clone(),
                    kind: kind.clone(),
                    namespace: filter.namespace.clone().unwrap_or_default(),
                    name: match filter.namespace {
                        Some(_) => filter.name_prefix.clone().unwrap_or_default(),
                        None => String::new(),
                    },
                };
                Box::new(
                    self.objects
                        .range((lower(start), Bound::Unbounded))
                        .take_while(move |(k, _)| {
                            k.group == *group
                                && k.kind == *kind
                                && filter.namespace.as_ref().is_none_or(|ns| {
                                    k.namespace == *ns
                                        && filter
                                            .name_prefix
                                            .as_ref()
                                            .is_none_or(|p| k.name.starts_with(p.as_str()))
                                })
                        })
                        .filter(move |(k, _)| filter.matches_key(k)),
                )
            }
            _ => {
                let start = ObjectKey {
                    group: String::new(),
                    kind: String::new(),
                    namespace: String::new(),
                    name: String::new(),
                };
                Box::new(
                    self.objects
                        .range((lower(start), Bound::Unbounded))
                        .filter(move |(k, _)| filter.matches_key(k)),
                )
            }
        }
    }

    /// Every object `filter` covers, with the version they were read at.
    pub fn listing(&self, filter: &ListFilter) -> Listing {
        Listing {
            resource_version: self.at,
            items: self
                .covered(filter, None)
                .filter(|(_, e)| e.has_labels(filter))
                .map(|(k, e)| (k.clone(), e.stored()))
                .collect(),
        }
    }

    fn projection(
        &self,
        filter: &ListFilter,
        pointer: &str,
    ) -> Vec<(ObjectKey, Option<serde_json::Value>)> {
        self.covered(filter, None)
            .filter(|(_, e)| e.has_labels(filter))
            .map(|(k, e)| (k.clone(), e.part(pointer)))
            .collect()
    }

    fn parsed_list(&self, filter: &ListFilter) -> Vec<Arc<Object>> {
        self.covered(filter, None)
            .filter(|(_, e)| e.has_labels(filter))
            .filter_map(|(_, e)| e.parsed())
            .collect()
    }

    /// Applies committed (or, for a view inside a write, pending) writes.
    pub fn apply(&mut self, objects: &[Change], tokens: &[TokenWrite]) {
        for change in objects {
            self.at = self.at.max(change.resource_version);
            match (&change.event_type, &change.object) {
                (None, _) => {}
                (Some(_), Some(object)) => {
                    self.objects
                        .insert_mut(change.key.clone(), Arc::clone(object));
                }
                (Some(_), None) => {
                    self.objects.remove_mut(&change.key);
                }
            }
        }
        for write in tokens {
            match write {
                TokenWrite::Put { hash, record } => {
                    self.tokens.insert_mut(hash.clone(), record.clone());
                }
                TokenWrite::Delete { hash } => {
                    self.tokens.remove_mut(hash);
                }
            }
        }
    }

    /// The page of `filter`'s objects `keep` accepts after `after`: at most `limit`, and
    /// how many more remain (counted only without `keep`: counting through `keep` would
    /// read every later object for each page).
    fn page(
        &self,
        filter: &ListFilter,
        limit: usize,
        after: Option<&ObjectKey>,
        keep: Option<&dyn Fn(&StoredObject) -> bool>,
    ) -> (Vec<(ObjectKey, StoredObject)>, Remaining) {
        let mut covered = self
            .covered(filter, after)
            .filter(|(_, e)| e.has_labels(filter));
        let mut items = Vec::new();
        for (k, e) in covered.by_ref() {
            let stored = e.stored();
            if keep.is_none_or(|keep| keep(&stored)) {
                items.push((k.clone(), stored));
                if items.len() == limit {
                    break;
                }
            }
        }
        let remaining = match keep {
            None => Remaining::Count(covered.count()),
            Some(keep) if covered.any(|(_, e)| keep(&e.stored())) => Remaining::Some,
            Some(_) => Remaining::Count(0),
        };
        (items, remaining)
    }
}

/// What remains after a page.
enum Remaining {
    /// Exactly this many.
    Count(usize),
    /// Some (not counted).
    Some,
}

impl Reads for Snapshot {
    fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.object(key))
    }

    fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        Ok(self.listing(filter))
    }

    fn project(
        &self,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<Vec<(ObjectKey, Option<serde_json::Value>)>, StoreError> {
        Ok(self.projection(filter, pointer))
    }

    fn get_parsed(&self, key: &ObjectKey) -> Result<Option<Arc<Object>>, StoreError> {
        Ok(self.objects.get(key).and_then(|e| e.parsed()))
    }

    fn list_parsed(&self, filter: &ListFilter) -> Result<Vec<Arc<Object>>, StoreError> {
        Ok(self.parsed_list(filter))
    }

    fn tokens_of(&self, subject: &str) -> Result<Vec<(String, TokenRecord)>, StoreError> {
        let mut found: Vec<_> = self
            .tokens
            .iter()
            .filter(|(_, t)| t.subject == subject)
            .map(|(h, t)| (h.clone(), t.clone()))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    fn tokens_minted_by(&self, maker: &str) -> Result<Vec<String>, StoreError> {
        let mut subjects: Vec<String> = self
            .tokens
            .values()
            .filter(|t| t.minted_by == maker)
            .map(|t| t.subject.clone())
            .collect();
        subjects.sort();
        subjects.dedup();
        Ok(subjects)
    }
}

/// [`Reads`] on a snapshot, remembering what was read.
pub struct Recording {
    snapshot: Snapshot,
    set: std::cell::RefCell<ReadSet>,
}

impl Recording {
    /// Starts recording reads of `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            set: std::cell::RefCell::new(ReadSet {
                at: snapshot.at,
                ..ReadSet::default()
            }),
            snapshot,
        }
    }

    /// What was read so far.
    pub fn read_set(&self) -> ReadSet {
        self.set.borrow().clone()
    }

    /// What was read.
    pub fn into_read_set(self) -> ReadSet {
        self.set.into_inner()
    }

    fn key(&self, key: &ObjectKey) -> &Snapshot {
        self.set.borrow_mut().keys.push(key.clone());
        &self.snapshot
    }

    fn filter(&self, filter: &ListFilter) -> &Snapshot {
        self.set.borrow_mut().filters.push(filter.clone());
        &self.snapshot
    }

    fn tokens(&self) -> &Snapshot {
        self.set.borrow_mut().tokens = true;
        &self.snapshot
    }
}

impl Reads for Recording {
    fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        self.key(key).get(key)
    }

    fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        self.filter(filter).list_filtered(filter)
    }

    fn project(
        &self,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<Vec<(ObjectKey, Option<serde_json::Value>)>, StoreError> {
        self.filter(filter).project(filter, pointer)
    }

    fn get_parsed(&self, key: &ObjectKey) -> Result<Option<Arc<Object>>, StoreError> {
        self.key(key).get_parsed(key)
    }

    fn list_parsed(&self, filter: &ListFilter) -> Result<Vec<Arc<Object>>, StoreError> {
        self.filter(filter).list_parsed(filter)
    }

    fn tokens_of(&self, subject: &str) -> Result<Vec<(String, TokenRecord)>, StoreError> {
        self.tokens().tokens_of(subject)
    }

    fn tokens_minted_by(&self, maker: &str) -> Result<Vec<String>, StoreError> {
        self.tokens().tokens_minted_by(maker)
    }
}

/// What [`Cache::project_since`] answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectedChanges {
    /// The resource version the answer is current at (pass it as `after` next time).
    pub at: i64,
    /// Every covered object is in `parts`, not only the changed ones.
    pub complete: bool,
    pub parts: Vec<(ObjectKey, Option<serde_json::Value>)>,
}

/// One page of a list ([`Cache::page`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The page's objects; `resource_version` is the first page's.
    pub listing: Listing,
    /// Where the next page starts; `None` on the last page.
    pub continue_token: Option<String>,
    /// How many objects the later pages hold, when counted (not for a list through a
    /// predicate, as Kubernetes leaves `remainingItemCount` out under a selector).
    pub remaining: Option<usize>,
}

/// What the cache holds while open.
struct State {
    snapshot: Snapshot,
    /// Every change after `floor` is in `log`.
    floor: i64,
    log: VecDeque<WatchEvent>,
    /// The snapshots paged lists are reading, newest last.
    pages: VecDeque<Snapshot>,
    live: broadcast::Sender<WatchEvent>,
}

/// The committed state in memory; see the module documentation.
pub struct Cache {
    state: RwLock<Option<State>>,
    /// Set once the cache is closed: a watch that ends then ends cleanly (one that ends
    /// because the cache was [`reset`](Cache::reset) ends with `Compacted`).
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl Cache {
    /// The cache of `snapshot`, whose change log holds `history` (oldest first): every
    /// change after `floor`.
    pub fn new(snapshot: Snapshot, history: Vec<WatchEvent>, floor: i64) -> Self {
        let (live, _) = broadcast::channel(4096);
        Self {
            state: RwLock::new(Some(State {
                floor: floor.min(snapshot.at),
                snapshot,
                log: history.into(),
                pages: VecDeque::new(),
                live,
            })),
            closed: Arc::default(),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, StoreError> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(f)
            .ok_or(StoreError::Closed)
    }

    fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, StoreError> {
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .map(f)
            .ok_or(StoreError::Closed)
    }

    /// The committed objects now (`Closed` once the cache is).
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.read(|s| s.snapshot.clone())
    }

    /// Applies a committed batch, logs its changes and tells every watcher, in that order
    /// and under one lock: a watch opened before sees the events live, one opened after
    /// replays them from the log.
    pub fn apply(&self, objects: &[Change], tokens: &[TokenWrite]) {
        let _ = self.write(|s| {
            s.snapshot.apply(objects, tokens);
            for event in objects.iter().filter_map(Change::event) {
                s.log.push_back(event.clone());
                // No subscribers is fine.
                let _ = s.live.send(event);
            }
            while s.log.len() > EVENT_HISTORY as usize {
                if let Some(e) = s.log.pop_front() {
                    s.floor = e.resource_version;
                }
            }
            let floor = s.floor;
            s.pages.retain(|p| p.at >= floor);
        });
    }

    /// [`apply`](Cache::apply) of a batch that committed at `at`, which the cache then is
    /// at even when nothing in the batch is an object (a backend whose revisions also count
    /// writes the cache does not keep: etcd's).
    pub fn apply_at(&self, objects: &[Change], tokens: &[TokenWrite], at: i64) {
        self.apply(objects, tokens);
        let _ = self.write(|s| s.snapshot.at = s.snapshot.at.max(at));
    }

    /// Replaces everything with `snapshot` (a backend that lost track of its changes
    /// reloaded): the log starts again at it, and every watch ends, so its watcher lists
    /// again.
    pub fn reset(&self, snapshot: Snapshot) {
        let _ = self.write(|s| {
            let (live, _) = broadcast::channel(4096);
            s.floor = snapshot.at;
            s.snapshot = snapshot;
            s.log.clear();
            s.pages.clear();
            // Dropping the old sender ends every watch subscribed to it.
            s.live = live;
        });
    }

    /// Whether anything `read` covers changed after its version (`None` when the log no
    /// longer reaches back that far: the caller decides again rather than trust it).
    pub fn changed_since(&self, read: &ReadSet) -> Result<Option<bool>, StoreError> {
        self.read(|s| changed_after(s, read.at).map(|mut keys| keys.any(|k| read.covers(&k.key))))
    }

    /// The parts at `pointer` of the objects `filter` covers that were written after
    /// resource version `after` (`None` for an object since deleted or without the part),
    /// read in one snapshot. With `after` `None`, or when the log no longer reaches back to
    /// it, or when `filter` has labels (events carry no body), every covered object is
    /// answered and `complete` is set: the caller starts over from the answer.
    pub fn project_since(
        &self,
        after: Option<i64>,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<ProjectedChanges, StoreError> {
        self.read(|s| {
            let snapshot = &s.snapshot;
            let changed = match after {
                Some(after) if filter.labels.is_empty() => changed_after(s, after),
                _ => None,
            };
            match changed {
                Some(events) => {
                    let mut seen = std::collections::HashSet::new();
                    let parts = events
                        .map(|e| &e.key)
                        .filter(|k| filter.matches_key(k) && seen.insert(*k))
                        .map(|k| {
                            let part = snapshot.objects.get(k).and_then(|e| e.part(pointer));
                            (k.clone(), part)
                        })
                        .collect();
                    ProjectedChanges {
                        at: snapshot.at,
                        complete: false,
                        parts,
                    }
                }
                None => ProjectedChanges {
                    at: snapshot.at,
                    complete: true,
                    parts: snapshot.projection(filter, pointer),
                },
            }
        })
    }

    /// Changes after `after` that `filter` covers: replayed from the log, then live.
    pub fn watch(&self, after: i64, filter: ListFilter) -> Result<Watch, StoreError> {
        self.read(|s| {
            let Some(history) = changed_after(s, after) else {
                return Err(StoreError::Compacted {
                    requested: after,
                    oldest: s.floor,
                });
            };
            let history = history
                .filter(|e| filter.matches_key(&e.key))
                .cloned()
                .collect();
            Ok(Watch {
                history,
                live: s.live.subscribe(),
                last: after.max(s.snapshot.at),
                filter,
                ended: false,
                closed: Arc::clone(&self.closed),
            })
        })?
    }

    /// A page of `filter`'s objects that `keep` accepts (all without it); see
    /// [`super::Store::list_page`].
    pub fn page(
        &self,
        filter: &ListFilter,
        limit: usize,
        start: Option<ContinueToken>,
        keep: Option<&dyn Fn(&StoredObject) -> bool>,
    ) -> Result<Page, StoreError> {
        let snapshot = self.read(|s| match &start {
            None => Ok(s.snapshot.clone()),
            Some(t) if t.rv == s.snapshot.at => Ok(s.snapshot.clone()),
            Some(t) => {
                s.pages
                    .iter()
                    .find(|p| p.at == t.rv)
                    .cloned()
                    .ok_or(StoreError::Compacted {
                        requested: t.rv,
                        oldest: s.floor,
                    })
            }
        })??;
        let (items, remaining) =
            snapshot.page(filter, limit, start.as_ref().map(|t| &t.start), keep);
        let more = match remaining {
            Remaining::Count(n) => n > 0,
            Remaining::Some => true,
        };
        let continue_token = match items.last() {
            Some((last, _)) if more => {
                // Kept for the next page, even when nothing commits meanwhile.
                let at = snapshot.at;
                self.write(|s| {
                    if !s.pages.iter().any(|p| p.at == at) {
                        s.pages.push_back(snapshot.clone());
                        while s.pages.len() > KEPT_PAGES {
                            s.pages.pop_front();
                        }
                    }
                })?;
                Some(
                    ContinueToken {
                        rv: at,
                        start: last.clone(),
                    }
                    .encode(),
                )
            }
            _ => None,
        };
        Ok(Page {
            listing: Listing {
                resource_version: snapshot.at,
                items,
            },
            remaining: match remaining {
                Remaining::Count(n) if continue_token.is_some() => Some(n),
                _ => None,
            },
            continue_token,
        })
    }

    /// Forgets the changes before `rv`, as trimming the log does.
    pub fn forget_before(&self, rv: i64) -> Result<(), StoreError> {
        self.write(|s| {
            s.log.retain(|e| e.resource_version >= rv);
            s.floor = s.floor.max((rv - 1).min(s.snapshot.at));
            let floor = s.floor;
            s.pages.retain(|p| p.at >= floor);
        })
    }

    /// Closes the cache: later reads answer `Closed`, and watches end.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.state.write().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The changes after `after`, oldest first; `None` when the log no longer reaches back.
fn changed_after(s: &State, after: i64) -> Option<impl Iterator<Item = &WatchEvent>> {
    (after >= s.floor).then(|| {
        let first = s.log.partition_point(|e| e.resource_version <= after);
        s.log.range(first..)
    })
}

/// A subscription to committed changes, in commit order.
#[derive(Debug)]
pub struct Watch {
    history: VecDeque<WatchEvent>,
    live: broadcast::Receiver<WatchEvent>,
    last: i64,
    filter: ListFilter,
    ended: bool,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Watch {
    /// The next change; `None` once the store is closed. An error ends the watch: the
    /// watcher fell more than the broadcast buffer behind, or the cache was reset, and must
    /// list again and watch again.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        if let Some(e) = self.history.pop_front() {
            self.last = self.last.max(e.resource_version);
            return Some(Ok(e));
        }
        if self.ended {
            return None;
        }
        loop {
            match self.live.recv().await {
                Ok(e) => {
                    self.last = self.last.max(e.resource_version);
                    if self.filter.matches_key(&e.key) {
                        return Some(Ok(e));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.ended = true;
                    return Some(Err(StoreError::Compacted {
                        requested: self.last,
                        oldest: self.last + 1,
                    }));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.ended = true;
                    if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                        return None;
                    }
                    // The cache was reset (its backend lost track of changes and
                    // reloaded): the watcher lists again and watches again.
                    return Some(Err(StoreError::Compacted {
                        requested: self.last,
                        oldest: self.last + 1,
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::platform(&wayfinder_model::kinds::COMPUTE_TEMPLATE, name)
    }

    #[test]
    fn the_kept_history_is_bounded_and_says_how_far_back_it_reaches() {
        let cache = Cache::new(Snapshot::new(0, [], []), Vec::new(), 0);
        let changes: Vec<Change> = (1..=EVENT_HISTORY + 5)
            .map(|rv| Change {
                key: key(&format!("k{}", rv % 7)),
                resource_version: rv,
                event_type: Some(EventType::Modified),
                object: Some(Entry::new(StoredObject {
                    body: json!({}),
                    resource_version: rv,
                    generation: 1,
                    uid: "u".into(),
                    created: "c".into(),
                })),
            })
            .collect();
        cache.apply(&changes, &[]);
        cache
            .read(|s| {
                assert_eq!(s.log.len() as i64, EVENT_HISTORY);
                assert_eq!(s.floor, 5);
                assert!(changed_after(s, 4).is_none(), "change 5 is forgotten");
                assert_eq!(changed_after(s, EVENT_HISTORY + 2).unwrap().count(), 3);
                assert_eq!(s.snapshot.at, EVENT_HISTORY + 5);
                assert_eq!(s.snapshot.objects.size(), 7);
            })
            .unwrap();
    }
}
