//! The embedded SQLite store: objects, tokens and the global resource-version counter.
//!
//! One file, `DATA_DIR/wayfinder.db`, in WAL mode with `synchronous=FULL`. The schema is
//! versioned through `PRAGMA user_version` and migrated forward on open; a store written by
//! a newer server is refused rather than guessed at.
//!
//! Tables (schema 1):
//! - `meta(key, value)`: `resource_version`, the global counter every write bumps;
//! - `objects(api_group, kind, namespace, name, body, resource_version, generation, uid,
//!   created)`, keyed by `(api_group, kind, namespace, name)`; `namespace` is `''` for
//!   platform-level kinds; `body` is the object's JSON exactly as the model serialises it;
//! - `tokens(hash, subject, roles, created)`: only the SHA-256 of each token, never the token.
//!
//! - `events(resource_version, api_group, kind, namespace, name, type)` (schema 2): the
//!   last [`EVENT_HISTORY`] committed changes, for [`ObjectStore::watch`] to replay.
//! - `server_keys(name, value)` (schema 6): what the control plane keeps about itself,
//!   created once — `signing-key` (the PKCS#8 RSA key that signs its tokens: never logged,
//!   never in a response) and `instance` (its instance identifier); [`Store::server_key`].
//! - index `objects_status_network` (schema 3, dropped again by schema 4 once reads came
//!   from memory: it only made every write parse its body).
//!
//! **One owner, reads from memory.** Opening takes an exclusive lock on `wayfinder.db.lock`
//! beside the file, so one server uses a store file at a time (a second is refused with a
//! clear error; the operating system drops the lock when the process ends, however it
//! ends). That makes the committed objects and tokens safe to keep in memory: they are
//! read once on open and then kept by the committer, which applies each batch after its
//! `COMMIT` succeeds, while it still holds the write lock and before any caller or watcher
//! hears of it. The objects live in a persistent map (shared nodes, cheap to clone), so a
//! [`Snapshot`] is consistent for as long as it is held; each object's parsed model object
//! is computed once and shared. Gets, lists, projections, admission's snapshots and
//! token look-ups never touch SQLite, and a write transaction sees the committed objects
//! plus the open batch's writes in memory. SQLite stays the durable record: every write
//! still goes to the file and is acknowledged only once it is on disk.
//!
//! **Writes and group commit.** Every write reads the current row, lets the caller decide
//! ([`Store::mutate`]), writes the row, bumps the counter and records the change event.
//! Writes go through one write connection: each caller appends its write to the open
//! `BEGIN IMMEDIATE` transaction inside its own `SAVEPOINT` (a failed decision rolls back
//! only that savepoint), hands a ticket to the committer thread and waits. The committer
//! takes the write lock, collects every ticket queued meanwhile, commits once
//! (`synchronous=FULL`: one fsync for the whole batch), publishes the batch's change
//! events and answers every ticket with the commit's result. So a call returns only once
//! its write is on disk, and concurrent writers share fsyncs. Reads see only committed
//! data.
//!
//! [`ObjectStore`] is the interface shaped for a replicated backend: get, filtered list,
//! compare-and-swap on `resourceVersion`, and watch after a resource version.
//!
//! The inherent methods are synchronous. Reads ([`Store::get`], [`Store::list_filtered`],
//! [`Store::snapshot`], [`Store::token`]) come from memory and may be called from async
//! code directly; writes wait for the disk, so from async code call them through
//! [`Store::run`], which moves the call onto tokio's blocking pool. The [`ObjectStore`]
//! methods are async and do that themselves.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, mpsc};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::broadcast;
use wayfinder_model::Object;

/// The schema this build writes, and the newest it can read.
pub const SCHEMA_VERSION: i64 = 6;

/// Migrations, in order: `MIGRATIONS[i]` takes `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('resource_version', 0);
CREATE TABLE objects (
    api_group        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    namespace        TEXT NOT NULL,
    name             TEXT NOT NULL,
    body             TEXT NOT NULL,
    resource_version INTEGER NOT NULL,
    generation       INTEGER NOT NULL,
    uid              TEXT NOT NULL,
    created          TEXT NOT NULL,
    PRIMARY KEY (api_group, kind, namespace, name)
) STRICT, WITHOUT ROWID;
CREATE TABLE tokens (
    hash    TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    roles   TEXT NOT NULL,
    created TEXT NOT NULL
) STRICT;
CREATE INDEX tokens_by_subject ON tokens (subject);
"#,
    r#"
CREATE TABLE events (
    resource_version INTEGER PRIMARY KEY NOT NULL,
    api_group        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    namespace        TEXT NOT NULL,
    name             TEXT NOT NULL,
    type             TEXT NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED'))
) STRICT;
"#,
    // Where each cluster's network is, without reading bodies: the allocator looks at
    // every cluster's `status.network` for each cluster it builds.
    r#"
CREATE INDEX objects_status_network
    ON objects (api_group, kind, namespace, name, body -> '$."status"."network"');
"#,
    // The committed objects are read from memory since schema 4: the index only cost
    // every write a parse of its body.
    r#"
DROP INDEX IF EXISTS objects_status_network;
"#,
    // Token lineage: the subject of the token that minted each token ('' for the
    // administrator token and tokens from before this schema), so that revoking a token
    // revokes what it minted.
    r#"
ALTER TABLE tokens ADD COLUMN minted_by TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_by_maker ON tokens (minted_by);
"#,
    // What the control plane keeps about itself: the key that signs its tokens and its
    // instance identifier, each created once.
    r#"
CREATE TABLE server_keys (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;
"#,
];

/// How much of the database file connections map into memory for reading.
const MMAP_BYTES: i64 = 1 << 30;

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the store {} is in use by another wayfinder-server (it holds the lock on {}); stop that server, or give this one its own --data-dir",
        path.display(),
        lock.display()
    )]
    InUse { path: PathBuf, lock: PathBuf },
    #[error("cannot lock the store {} through {}", path.display(), lock.display())]
    Lock {
        path: PathBuf,
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the store {} has schema version {found}, but this wayfinder-server only knows up to {SCHEMA_VERSION}; run a newer wayfinder-server",
        path.display()
    )]
    SchemaTooNew { path: PathBuf, found: i64 },
    #[error("store query failed")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored object {key} is not valid JSON")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the store is closed (the server is shutting down)")]
    Closed,
    #[error("a store task failed")]
    Task(#[source] tokio::task::JoinError),
    #[error("committing the write to the store failed; it was not saved")]
    Commit(#[source] Arc<rusqlite::Error>),
    #[error("cannot start the store's committer thread")]
    Thread(#[source] std::io::Error),
    #[error(
        "resource version {requested} is too old to watch from: changes up to {oldest} are no longer kept; list again and watch from the list's resource version"
    )]
    Compacted { requested: i64, oldest: i64 },
    #[error("stored change event {resource_version} has an unknown type {found:?}")]
    CorruptEvent {
        resource_version: i64,
        found: String,
    },
}

/// Where an object lives: `(group, kind, namespace, name)`; `namespace` is empty for
/// platform-level kinds.
/// Ordered as the store lists: by group, kind, namespace, then name (byte order, as SQLite's
/// `BINARY` collation sorts the key columns).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    /// The key of a platform-level object.
    pub fn platform(kind: &wayfinder_model::KindInfo, name: &str) -> Self {
        Self {
            group: kind.group.to_string(),
            kind: kind.kind.to_string(),
            namespace: String::new(),
            name: name.to_string(),
        }
    }
}

impl ObjectKey {
    /// The key of an object in workspace `workspace` (its key, e.g. `team1`).
    pub fn workspaced(kind: &wayfinder_model::KindInfo, workspace: &str, name: &str) -> Self {
        Self {
            group: kind.group.to_string(),
            kind: kind.kind.to_string(),
            namespace: workspace.to_string(),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.group, self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, " {}/", self.namespace)?;
        } else {
            write!(f, " ")?;
        }
        write!(f, "{}", self.name)
    }
}

/// An object row as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// The whole object, `metadata` included, as JSON.
    pub body: serde_json::Value,
    pub resource_version: i64,
    pub generation: i64,
    pub uid: String,
    /// `metadata.creationTimestamp`, RFC 3339.
    pub created: String,
}

/// The row to write for an object; its `resource_version` is the one [`Store::mutate`]
/// passed to the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    pub body: serde_json::Value,
    pub generation: i64,
    pub uid: String,
    pub created: String,
}

/// What a write does to the object's row.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Insert or replace the row.
    Put(NewRow),
    /// Remove the row.
    Delete,
}

/// A token's owner as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub subject: String,
    pub roles: Vec<String>,
}

/// The store; see the module documentation. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    path: PathBuf,
    /// The committed objects and recent changes, in memory; `None` once closed.
    committed: Arc<RwLock<Option<Committed>>>,
    /// The exclusive lock on `<store>.lock` that makes this process the file's only user
    /// (the committed objects are kept in memory); released on close.
    owner: Mutex<Option<std::fs::File>>,
    /// Idle read connections (WAL readers see only committed data); `None` once closed.
    readers: Mutex<Option<Vec<Connection>>>,
    /// The one write connection and the transaction being filled.
    writer: Arc<Mutex<WriteState>>,
    /// The committer thread, joined on close.
    committer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Committed changes, in resource-version order; `None` once closed, so watches end.
    changes: Mutex<Option<broadcast::Sender<WatchEvent>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(store = %self.path.display(), "closing the store failed: {}", crate::ErrorChain(&e));
        }
    }
}

/// The write side: the connection, whether a batch transaction is open, and what it holds.
struct WriteState {
    conn: Option<Connection>,
    /// A `BEGIN IMMEDIATE` transaction is open on `conn`.
    open: bool,
    /// Writes appended to the open transaction whose tickets are with the committer.
    appended: usize,
    /// Changes of the open transaction, applied to the committed objects in memory and
    /// published as change events once it commits.
    events: Writes,
    /// Set when the open transaction had to be abandoned with writes in it: the
    /// committer answers their tickets with this error.
    abandoned: Option<Arc<rusqlite::Error>>,
    /// Where tickets go; `None` once the store is closing.
    tickets: Option<mpsc::Sender<Ticket>>,
}

/// A request to make the open transaction durable; answered after the `COMMIT`.
struct Ticket {
    reply: mpsc::SyncSender<Result<(), Arc<rusqlite::Error>>>,
}

/// Idle read connections kept for reuse. Objects and tokens are read from memory; these
/// serve only the readiness probe and the event history a watch replays.
const MAX_IDLE_READERS: usize = 4;

/// Change events kept in the `events` table for [`ObjectStore::watch`] to replay.
pub const EVENT_HISTORY: i64 = 10_000;

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Read pages through a memory map rather than a read(2) per page: WAL mode drops a
    // connection's page cache whenever another commits.
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    Ok(conn)
}

/// Takes the exclusive lock on `<path>.lock`: this process becomes the store file's only
/// user, so the objects it keeps in memory are the committed ones. The operating system
/// drops the lock when the process ends, however it ends.
fn lock_owner(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock = PathBuf::from(name);
    let err = |source| StoreError::Lock {
        path: path.to_path_buf(),
        lock: lock.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(err)?;
    // A lock just released can still be held for a moment: a process that forks (a test
    // binary spawning a server, say) gives the child a copy of every open descriptor,
    // this lock's included, until the child's exec closes it. So a held lock is tried
    // again for a short while before the store is called in use.
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    path: path.to_path_buf(),
                    lock,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
        }
    }
}

/// How long [`lock_owner`] tries again a lock that is held before answering `InUse`.
const LOCK_PATIENCE: Duration = Duration::from_secs(1);

/// Reads a stored body back as a model object; `None` (logged) if it no longer parses.
pub fn parse_stored(body: &serde_json::Value) -> Option<Object> {
    match wayfinder_model::parse::object_from_value("store", 0, body.clone()) {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::warn!(error = %e, "a stored object no longer parses; it is skipped");
            None
        }
    }
}

/// A committed object in memory, and the model object it parses as (parsed once, when
/// first asked for, and shared by every reader after).
struct Entry {
    stored: StoredObject,
    parsed: std::sync::OnceLock<Option<Arc<Object>>>,
}

impl Entry {
    fn new(stored: StoredObject) -> Arc<Self> {
        Arc::new(Self {
            stored,
            parsed: std::sync::OnceLock::new(),
        })
    }

    fn parsed(&self) -> Option<Arc<Object>> {
        self.parsed
            .get_or_init(|| parse_stored(&self.stored.body).map(Arc::new))
            .clone()
    }
}

/// The committed objects as of one resource version: kept in memory by the committer
/// (which applies each batch once it is durable) and read without SQLite. Cloning is
/// cheap (the map is persistent: a clone shares every node), so a snapshot stays
/// consistent whatever commits after it was taken.
#[derive(Clone)]
pub struct Snapshot {
    at: i64,
    objects: rpds::RedBlackTreeMapSync<ObjectKey, Arc<Entry>>,
}

impl Snapshot {
    /// Every committed object, read once when the store opens.
    fn load(conn: &Connection) -> Result<Self, StoreError> {
        let listing = list_rows(conn, &ListFilter::default())?;
        let mut objects = rpds::RedBlackTreeMapSync::new_sync();
        for (key, object) in listing.items {
            objects.insert_mut(key, Entry::new(object));
        }
        Ok(Self {
            at: listing.resource_version,
            objects,
        })
    }

    /// The resource version this snapshot is at.
    pub fn resource_version(&self) -> i64 {
        self.at
    }

    fn entry(&self, key: &ObjectKey) -> Option<StoredObject> {
        self.object(key).cloned()
    }

    /// One object, borrowed from the snapshot.
    pub fn object(&self, key: &ObjectKey) -> Option<&StoredObject> {
        self.objects.get(key).map(|e| &e.stored)
    }

    /// The objects `filter` covers, borrowed, in key order.
    pub fn objects<'a>(
        &'a self,
        filter: &'a ListFilter,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a StoredObject)> + 'a {
        self.covered(filter)
            .filter(|(_, e)| filter.matches_labels(&e.stored.body))
            .map(|(k, e)| (k, &e.stored))
    }

    /// The objects `filter`'s key parts cover, in key order (labels not looked at).
    fn covered<'a>(
        &'a self,
        filter: &'a ListFilter,
    ) -> Box<dyn Iterator<Item = (&'a ObjectKey, &'a Arc<Entry>)> + 'a> {
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
                        .range(start..)
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
            _ => Box::new(
                self.objects
                    .iter()
                    .filter(move |(k, _)| filter.matches_key(k)),
            ),
        }
    }

    fn listing(&self, filter: &ListFilter) -> Listing {
        Listing {
            resource_version: self.at,
            items: self
                .covered(filter)
                .filter(|(_, e)| filter.matches_labels(&e.stored.body))
                .map(|(k, e)| (k.clone(), e.stored.clone()))
                .collect(),
        }
    }

    fn projection(
        &self,
        filter: &ListFilter,
        pointer: &str,
    ) -> Vec<(ObjectKey, Option<serde_json::Value>)> {
        self.covered(filter)
            .filter(|(_, e)| filter.matches_labels(&e.stored.body))
            .map(|(k, e)| (k.clone(), e.stored.body.pointer(pointer).cloned()))
            .collect()
    }

    fn parsed_one(&self, key: &ObjectKey) -> Option<Arc<Object>> {
        self.objects.get(key).and_then(|e| e.parsed())
    }

    fn parsed_list(&self, filter: &ListFilter) -> Vec<Arc<Object>> {
        self.covered(filter)
            .filter(|(_, e)| filter.matches_labels(&e.stored.body))
            .filter_map(|(_, e)| e.parsed())
            .collect()
    }

    /// Applies a committed batch.
    fn apply(&mut self, changes: &[Change]) {
        for change in changes {
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
    }
}

/// One write of a transaction: the key, the resource version it took, its change event's
/// type (`None` when nothing changed) and the object as written (`None` once deleted).
struct Change {
    key: ObjectKey,
    resource_version: i64,
    event_type: Option<EventType>,
    object: Option<Arc<Entry>>,
}

/// What the committer keeps in memory: the committed objects, and the keys of the last
/// [`EVENT_HISTORY`] changes (every change after `floor`), for [`Store::project_since`]
/// and [`Tx::changed_since`]. Updated only by the committer, while it holds the write lock,
/// so inside a write transaction it is exactly the committed state.
struct Committed {
    snapshot: Snapshot,
    floor: i64,
    log: VecDeque<(i64, ObjectKey)>,
    /// Every token's owner, by the token's hash.
    tokens: HashMap<String, TokenRecord>,
}

impl Committed {
    fn new(snapshot: Snapshot) -> Self {
        Self {
            floor: snapshot.at,
            snapshot,
            log: VecDeque::new(),
            tokens: HashMap::new(),
        }
    }

    /// What the store holds, read once when it opens.
    fn load(conn: &Connection) -> Result<Self, StoreError> {
        let mut committed = Self::new(Snapshot::load(conn)?);
        let mut stmt = conn.prepare("SELECT hash, subject, roles FROM tokens")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (hash, subject, roles) = row?;
            let roles: Vec<String> =
                serde_json::from_str(&roles).map_err(|source| StoreError::Corrupt {
                    key: format!("token of {subject}"),
                    source,
                })?;
            committed
                .tokens
                .insert(hash, TokenRecord { subject, roles });
        }
        Ok(committed)
    }

    fn apply_tokens(&mut self, changes: &[TokenChange]) {
        for change in changes {
            match change {
                TokenChange::Insert { hash, record } => {
                    self.tokens.insert(hash.clone(), record.clone());
                }
                TokenChange::Revoke(subject) => self.tokens.retain(|_, t| t.subject != *subject),
            }
        }
    }

    /// Applies a committed batch.
    fn apply(&mut self, writes: &Writes) {
        self.apply_tokens(&writes.tokens);
        self.snapshot.apply(&writes.objects);
        for change in writes.objects.iter().filter(|c| c.event_type.is_some()) {
            self.log
                .push_back((change.resource_version, change.key.clone()));
        }
        while self.log.len() > EVENT_HISTORY as usize {
            if let Some((rv, _)) = self.log.pop_front() {
                self.floor = rv;
            }
        }
    }

    /// The keys changed after resource version `after`, oldest first; `None` when the log
    /// no longer reaches back that far.
    fn changed_after(&self, after: i64) -> Option<impl Iterator<Item = &ObjectKey>> {
        (after >= self.floor).then(|| {
            let first = self.log.partition_point(|(rv, _)| *rv <= after);
            self.log.range(first..).map(|(_, k)| k)
        })
    }
}

/// The writes of a transaction: objects, and tokens.
#[derive(Default)]
struct Writes {
    objects: Vec<Change>,
    tokens: Vec<TokenChange>,
}

impl Writes {
    fn token(change: TokenChange) -> Self {
        Self {
            objects: Vec::new(),
            tokens: vec![change],
        }
    }
}

/// A token write: one token stored, or every token of a subject revoked.
enum TokenChange {
    Insert { hash: String, record: TokenRecord },
    Revoke(String),
}

impl TokenChange {
    fn insert(hash: &str, subject: &str, roles: &[&str]) -> Self {
        Self::Insert {
            hash: hash.to_string(),
            record: TokenRecord {
                subject: subject.to_string(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
            },
        }
    }
}

/// `f` of what is committed now, under the read lock (`Closed` once the store is).
fn read_committed<R>(
    committed: &RwLock<Option<Committed>>,
    f: impl FnOnce(&Committed) -> R,
) -> Result<R, StoreError> {
    committed
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(f)
        .ok_or(StoreError::Closed)
}

/// The committed objects now (`Closed` once the store is).
fn committed_snapshot(committed: &RwLock<Option<Committed>>) -> Result<Snapshot, StoreError> {
    read_committed(committed, |c| c.snapshot.clone())
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

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and migrates its schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let owner = lock_owner(path)?;
        let mut conn = open_connection(path).map_err(open_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                store = %path.display(),
                journal_mode = %mode,
                "the store could not be put in WAL mode"
            );
        }
        migrate(&mut conn, path)?;
        let committed = Arc::new(RwLock::new(Some(Committed::load(&conn)?)));
        let (tickets, queue) = mpsc::channel();
        let writer = Arc::new(Mutex::new(WriteState {
            conn: Some(conn),
            open: false,
            appended: 0,
            events: Writes::default(),
            abandoned: None,
            tickets: Some(tickets),
        }));
        let (changes, _) = broadcast::channel(4096);
        let committer = {
            let writer = Arc::clone(&writer);
            let changes = changes.clone();
            let committed = Arc::clone(&committed);
            std::thread::Builder::new()
                .name("wayfinder-store-commit".into())
                .spawn(move || commit_loop(&writer, &queue, &changes, &committed))
                .map_err(StoreError::Thread)?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                committed,
                owner: Mutex::new(Some(owner)),
                readers: Mutex::new(Some(Vec::new())),
                writer,
                committer: Mutex::new(Some(committer)),
                changes: Mutex::new(Some(changes)),
            }),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on tokio's blocking pool, so async callers never block the runtime.
    pub async fn run<R, F>(self: &Arc<Self>, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Store) -> R + Send + 'static,
        R: Send + 'static,
    {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(StoreError::Task)
    }

    /// Another handle on the same store (the store closes when the last one goes or on
    /// [`close`](Store::close)).
    fn handle(&self) -> Store {
        Store {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Runs `f` on the blocking pool with a handle on this store.
    async fn blocking<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.handle();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(StoreError::Task)?
    }

    /// Commits writes still waiting, then closes every connection (checkpointing the WAL);
    /// later calls answer [`StoreError::Closed`]. Waits for calls in progress first.
    pub fn close(&self) -> Result<(), StoreError> {
        self.inner.close()
    }

    /// Answers a trivial query on a read connection: the readiness probe.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT 1")?
                .query_row([], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let pooled = {
            let mut readers = lock(&self.inner.readers);
            readers.as_mut().ok_or(StoreError::Closed)?.pop()
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.inner.path).map_err(|source| StoreError::Open {
                path: self.inner.path.clone(),
                source,
            })?,
        };
        let out = f(&mut conn);
        let mut readers = lock(&self.inner.readers);
        if let Some(idle) = readers.as_mut()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        out
    }

    /// The group commit. Appends `f`'s writes to the open batch transaction inside a
    /// savepoint (so a failed decision undoes only its own writes), then waits until the
    /// committer has made the batch durable. With `dry_run` the savepoint is rolled back
    /// and nothing waits.
    fn batched<R, E>(
        &self,
        dry_run: bool,
        f: impl FnOnce(&Connection, &[Change], &RwLock<Option<Committed>>) -> Result<(R, Writes), E>,
    ) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        let (out, done) = {
            let mut guard = lock(&self.inner.writer);
            let st = &mut *guard;
            let Some(tickets) = st.tickets.clone() else {
                return Err(StoreError::Closed.into());
            };
            let conn = st.conn.as_ref().ok_or(StoreError::Closed)?;
            if !st.open {
                conn.execute_batch("BEGIN IMMEDIATE")
                    .map_err(StoreError::from)?;
                st.open = true;
            }
            conn.execute_batch("SAVEPOINT mutation")
                .map_err(StoreError::from)?;
            let committed = &*self.inner.committed;
            let outcome =
                panic::catch_unwind(AssertUnwindSafe(|| f(conn, &st.events.objects, committed)));
            let keep = !dry_run && matches!(outcome, Ok(Ok(_)));
            let finish = if keep {
                conn.execute_batch("RELEASE mutation")
            } else {
                conn.execute_batch("ROLLBACK TO mutation; RELEASE mutation")
            };
            if let Err(e) = finish {
                // The transaction is in an unknown state: abandon it, and with it the
                // writes already appended (their tickets will report the failure).
                let _ = conn.execute_batch("ROLLBACK");
                st.open = false;
                st.events = Writes::default();
                let e = Arc::new(e);
                if st.appended > 0 {
                    st.abandoned = Some(Arc::clone(&e));
                }
                return Err(StoreError::Commit(e).into());
            }
            if !keep && st.appended == 0 {
                // Nothing else rides on this transaction: end it now rather than leave
                // the write lock held.
                let _ = conn.execute_batch("ROLLBACK");
                st.open = false;
            }
            let out = match outcome {
                Err(payload) => {
                    drop(guard);
                    panic::resume_unwind(payload)
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok((out, events))) => {
                    if !keep {
                        return Ok(out);
                    }
                    st.events.objects.extend(events.objects);
                    st.events.tokens.extend(events.tokens);
                    out
                }
            };
            let (reply, done) = mpsc::sync_channel(1);
            st.appended += 1;
            // Sent while the write lock is held: the committer drains tickets only after
            // taking the lock, so a ticket is always answered by the commit of the
            // transaction its writes went into.
            if tickets.send(Ticket { reply }).is_err() {
                return Err(StoreError::Closed.into());
            }
            (out, done)
        };
        match done.recv() {
            Ok(Ok(())) => Ok(out),
            Ok(Err(e)) => Err(StoreError::Commit(e).into()),
            Err(_) => Err(StoreError::Closed.into()),
        }
    }

    /// The committed objects as they are now: a consistent snapshot, cheap to take.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        committed_snapshot(&self.inner.committed)
    }

    /// The resource version of the last committed write.
    pub fn resource_version(&self) -> Result<i64, StoreError> {
        Ok(self.snapshot()?.at)
    }

    /// One object, or `None`.
    pub fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.snapshot()?.entry(key))
    }

    /// Every object matching `filter`, ordered by key, with the resource version the list
    /// was read at (a consistent snapshot).
    pub fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        Ok(self.snapshot()?.listing(filter))
    }

    /// Runs `f` inside the write transaction, so everything it reads through the [`Tx`]
    /// (the batch so far included) stays true until its writes commit: admission decided
    /// here cannot be raced by another write. Concurrent calls are group-committed (see
    /// `Store::batched`): each runs in its own savepoint of one shared transaction, so
    /// when `f` fails only its writes are undone and its error returned. Returns once the
    /// writes are durable. With `dry_run` everything runs the same and is rolled back.
    ///
    /// `f` runs while holding the write connection: keep it to reads, decisions and writes,
    /// with no waiting on anything else.
    pub fn transact<R, E>(
        &self,
        dry_run: bool,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        self.batched(dry_run, |conn, pending, committed| {
            let mut tx = Tx {
                conn,
                base: committed_snapshot(committed)?,
                committed,
                pending,
                events: Vec::new(),
                tokens: Vec::new(),
            };
            let out = f(&mut tx)?;
            Ok((
                out,
                Writes {
                    objects: tx.events,
                    tokens: tx.tokens,
                },
            ))
        })
    }

    /// Runs `f` against one consistent snapshot of the committed data (a read transaction
    /// on a read connection, outside the write lock) and records what it read: the
    /// snapshot's resource version, the keys it got and the filters it listed or projected.
    /// Work decided on the snapshot — admission — then needs re-deciding inside the write
    /// transaction only when [`Tx::changed_since`] says something it read has changed, so
    /// concurrent writers decide in parallel and hold the write lock only to write.
    pub fn read_recorded<R>(
        &self,
        f: impl FnOnce(&dyn Reads) -> R,
    ) -> Result<(R, ReadSet), StoreError> {
        let snapshot = self.snapshot()?;
        let recording = Recording {
            set: std::cell::RefCell::new(ReadSet {
                at: snapshot.at,
                keys: Vec::new(),
                filters: Vec::new(),
            }),
            snapshot,
        };
        let out = f(&recording);
        Ok((out, recording.set.into_inner()))
    }

    /// [`Reads::project`] kept up to date: the parts at `pointer` of the objects `filter`
    /// covers that were written after resource version `after` (`None` for an object since
    /// deleted or without the part), read in one snapshot. With `after` `None`, or when
    /// the event history no longer reaches back to it, or when `filter` has labels (events
    /// carry no body), every covered object is answered and `complete` is set: the caller
    /// starts over from the answer.
    pub fn project_since(
        &self,
        after: Option<i64>,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<ProjectedChanges, StoreError> {
        read_committed(&self.inner.committed, |c| {
            let snapshot = &c.snapshot;
            let changed = match after {
                Some(after) if filter.labels.is_empty() => c.changed_after(after),
                _ => None,
            };
            match changed {
                Some(keys) => {
                    let mut seen = std::collections::HashSet::new();
                    let parts = keys
                        .filter(|k| filter.matches_key(k) && seen.insert(*k))
                        .map(|k| {
                            let part = snapshot
                                .objects
                                .get(k)
                                .and_then(|e| e.stored.body.pointer(pointer).cloned());
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

    /// The one way objects are written. Reads the current row of `key`, calls
    /// `decide(current, next_resource_version)`, and applies the [`Mutation`] it returns
    /// together with bumping the global counter to `next_resource_version`; returns once
    /// the write is durable. Concurrent calls are group-committed: each runs in its own
    /// savepoint of one shared transaction, so when `decide` fails only its call is undone
    /// and its error returned. With `dry_run` everything runs the same and is rolled back,
    /// so nothing persists and the counter does not move.
    pub fn mutate<R, E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnOnce(Option<StoredObject>, i64) -> Result<(Mutation, R), E>,
    ) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        self.transact(dry_run, |tx| {
            let current = tx.get(key)?;
            let (mutation, out) = decide(current, tx.next_resource_version()?)?;
            tx.write(key, mutation)?;
            Ok(out)
        })
    }

    /// A compare-and-swap write: see [`Precondition`]. Returns the new resource version.
    pub fn compare_and_swap(
        &self,
        key: &ObjectKey,
        precondition: Precondition,
        mutation: Mutation,
    ) -> Result<i64, CasError> {
        self.mutate(key, false, |current, next| {
            let current_rv = current.as_ref().map(|c| c.resource_version);
            match (precondition, current_rv) {
                (Precondition::Absent, None) => {}
                (Precondition::Absent, Some(_)) => return Err(CasError::AlreadyExists),
                (Precondition::ResourceVersion(_), None) => return Err(CasError::NotFound),
                (Precondition::ResourceVersion(want), Some(have)) if want != have => {
                    return Err(CasError::Conflict { current: have });
                }
                (Precondition::ResourceVersion(_), Some(_)) => {}
            }
            if mutation == Mutation::Delete && current.is_none() {
                return Err(CasError::NotFound);
            }
            Ok((mutation, next))
        })
    }

    /// The owner of a token, looked up by the token's SHA-256 hash (hex).
    pub fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        read_committed(&self.inner.committed, |c| c.tokens.get(hash).cloned())
    }

    /// How many tokens a subject has.
    pub fn count_tokens(&self, subject: &str) -> Result<i64, StoreError> {
        read_committed(&self.inner.committed, |c| {
            c.tokens.values().filter(|t| t.subject == subject).count() as i64
        })
    }

    /// Stores a token by its hash.
    pub fn insert_token(
        &self,
        hash: &str,
        subject: &str,
        roles: &[&str],
        created: &str,
    ) -> Result<(), StoreError> {
        self.batched(false, |c, _, _| {
            insert_token_row(c, hash, subject, roles, created)?;
            Ok(((), Writes::token(TokenChange::insert(hash, subject, roles))))
        })
    }

    /// The value kept under `name` in `server_keys`; when there is none yet, `create()`'s
    /// value, stored durably first (`None`, and nothing stored, when `create` has none).
    /// Called once at start, not per request.
    pub fn server_key(
        &self,
        name: &str,
        create: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.batched(false, |c, _, _| {
            let found: Option<Vec<u8>> = c
                .prepare_cached("SELECT value FROM server_keys WHERE name = ?1")?
                .query_row(params![name], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let value = match found {
                Some(v) => Some(v),
                None => match create() {
                    Some(v) => {
                        c.prepare_cached("INSERT INTO server_keys (name, value) VALUES (?1, ?2)")?
                            .execute(params![name, v])?;
                        Some(v)
                    }
                    None => None,
                },
            };
            Ok((value, Writes::default()))
        })
    }

    /// Revokes every token of a subject; returns how many there were.
    pub fn delete_tokens(&self, subject: &str) -> Result<usize, StoreError> {
        self.batched(false, |c, _, _| {
            let n = delete_token_rows(c, subject)?;
            Ok((n, Writes::token(TokenChange::Revoke(subject.to_string()))))
        })
    }

    /// Change events after `after` (a resource version), replayed from the event history
    /// and then followed live; see [`ObjectStore::watch`].
    pub fn watch_changes(&self, after: i64, filter: ListFilter) -> Result<Watch, StoreError> {
        // Subscribe first, then read the history: nothing committed in between is missed
        // (duplicates are skipped by resource version).
        let live = lock(&self.inner.changes)
            .as_ref()
            .ok_or(StoreError::Closed)?
            .subscribe();
        let (history, floor, current) = self.read(|c| {
            let tx = c.transaction()?;
            let (current, floor) = history_floor(&tx)?;
            let mut stmt = tx.prepare_cached(
                "SELECT resource_version, api_group, kind, namespace, name, type FROM events
                 WHERE resource_version > ?1 ORDER BY resource_version",
            )?;
            let rows = stmt.query_map(params![after], |r| {
                Ok((r.get::<_, i64>(0)?, key_at(r, 1)?, r.get::<_, String>(5)?))
            })?;
            let mut history = VecDeque::new();
            for row in rows {
                let (resource_version, key, ty) = row?;
                let event_type = EventType::parse(&ty).ok_or_else(|| StoreError::CorruptEvent {
                    resource_version,
                    found: ty.clone(),
                })?;
                history.push_back(WatchEvent {
                    event_type,
                    key,
                    resource_version,
                });
            }
            drop(stmt);
            tx.finish()?;
            Ok((history, floor, current))
        })?;
        if after < floor {
            return Err(StoreError::Compacted {
                requested: after,
                oldest: floor,
            });
        }
        let history = history
            .into_iter()
            .filter(|e| filter.matches_key(&e.key))
            .collect();
        Ok(Watch {
            history,
            live,
            last: after.max(current),
            filter,
            ended: false,
        })
    }
}

/// Reads of objects, answered either from committed data ([`Store`]) or from inside a
/// write transaction ([`Tx`], which also sees the writes of its batch so far).
pub trait Reads {
    /// One object, or `None`.
    fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError>;

    /// Every object matching `filter`, ordered by key.
    fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError>;

    /// For every object matching `filter`, its key and the part of its body at the JSON
    /// `pointer` (`/status/network`); a backend may answer without reading whole bodies.
    fn project(
        &self,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<Vec<(ObjectKey, Option<serde_json::Value>)>, StoreError> {
        Ok(self
            .list_filtered(filter)?
            .items
            .into_iter()
            .map(|(k, o)| {
                let part = o.body.pointer(pointer).cloned();
                (k, part)
            })
            .collect())
    }

    /// One object as a model object; `None` when absent or when it no longer parses (logged).
    fn get_parsed(&self, key: &ObjectKey) -> Result<Option<Arc<Object>>, StoreError> {
        Ok(self
            .get(key)?
            .and_then(|o| parse_stored(&o.body))
            .map(Arc::new))
    }

    /// Every object matching `filter` that parses as a model object, ordered by key.
    fn list_parsed(&self, filter: &ListFilter) -> Result<Vec<Arc<Object>>, StoreError> {
        Ok(self
            .list_filtered(filter)?
            .items
            .iter()
            .filter_map(|(_, o)| parse_stored(&o.body))
            .map(Arc::new)
            .collect())
    }

    /// Every object of a kind in a namespace (`""` for platform-level kinds), by name.
    fn list(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<(i64, Vec<StoredObject>), StoreError> {
        let filter = ListFilter {
            group: Some(group.to_string()),
            kind: Some(kind.to_string()),
            namespace: Some(namespace.to_string()),
            ..ListFilter::default()
        };
        let listing = self.list_filtered(&filter)?;
        Ok((
            listing.resource_version,
            listing.items.into_iter().map(|(_, o)| o).collect(),
        ))
    }
}

impl Reads for Store {
    fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        Store::get(self, key)
    }

    fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        Store::list_filtered(self, filter)
    }

    fn project(
        &self,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<Vec<(ObjectKey, Option<serde_json::Value>)>, StoreError> {
        Ok(self.snapshot()?.projection(filter, pointer))
    }

    fn get_parsed(&self, key: &ObjectKey) -> Result<Option<Arc<Object>>, StoreError> {
        Ok(self.snapshot()?.parsed_one(key))
    }

    fn list_parsed(&self, filter: &ListFilter) -> Result<Vec<Arc<Object>>, StoreError> {
        Ok(self.snapshot()?.parsed_list(filter))
    }
}

impl Reads for Snapshot {
    fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.entry(key))
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
        Ok(self.parsed_one(key))
    }

    fn list_parsed(&self, filter: &ListFilter) -> Result<Vec<Arc<Object>>, StoreError> {
        Ok(self.parsed_list(filter))
    }
}

/// A write in progress (see [`Store::transact`]): reads see the committed objects and the
/// open batch's writes (its own included), and every [`write`](Tx::write) bumps the global
/// counter and records its change event.
pub struct Tx<'a> {
    conn: &'a Connection,
    /// The committed objects when this write's turn came (they cannot change before it
    /// commits: the committer needs the write lock this write holds).
    base: Snapshot,
    committed: &'a RwLock<Option<Committed>>,
    /// The writes of the open batch before this one.
    pending: &'a [Change],
    /// This write's own.
    events: Vec<Change>,
    tokens: Vec<TokenChange>,
}

impl Tx<'_> {
    /// The resource version the next [`write`](Tx::write) will get.
    pub fn next_resource_version(&self) -> Result<i64, StoreError> {
        let last = self.events.last().or(self.pending.last());
        Ok(last.map_or(self.base.at, |c| c.resource_version) + 1)
    }

    /// The uncommitted writes this transaction sees, oldest first.
    fn uncommitted(&self) -> impl DoubleEndedIterator<Item = &Change> {
        self.pending.iter().chain(&self.events)
    }

    /// The object at `key` as this transaction sees it.
    fn current(&self, key: &ObjectKey) -> Option<Arc<Entry>> {
        match self
            .uncommitted()
            .rev()
            .find(|c| c.event_type.is_some() && c.key == *key)
        {
            Some(change) => change.object.clone(),
            None => self.base.objects.get(key).cloned(),
        }
    }

    /// Every object as this transaction sees it.
    fn view(&self) -> Snapshot {
        let mut view = self.base.clone();
        view.apply(self.pending);
        view.apply(&self.events);
        view
    }

    /// Applies `mutation` to `key` at the next resource version, which it returns.
    pub fn write(&mut self, key: &ObjectKey, mutation: Mutation) -> Result<i64, StoreError> {
        let existed = self.current(key).is_some();
        let next = self.next_resource_version()?;
        let event_type = apply(self.conn, key, &mutation, next, existed)?;
        self.events.push(Change {
            key: key.clone(),
            resource_version: next,
            event_type,
            object: match mutation {
                Mutation::Put(row) => Some(Entry::new(StoredObject {
                    body: row.body,
                    resource_version: next,
                    generation: row.generation,
                    uid: row.uid,
                    created: row.created,
                })),
                Mutation::Delete => None,
            },
        });
        Ok(next)
    }

    /// Whether anything `set` read has been written since its snapshot, as this transaction
    /// sees it (the open batch included). `true` also when the kept history of changes no
    /// longer reaches back to the snapshot, so the caller re-decides rather than trusts it.
    pub fn changed_since(&self, set: &ReadSet) -> Result<bool, StoreError> {
        let committed = read_committed(self.committed, |c| {
            c.changed_after(set.at)
                .map(|mut keys| keys.any(|k| set.covers(k)))
        })?;
        Ok(committed.unwrap_or(true)
            || self
                .uncommitted()
                .any(|c| c.event_type.is_some() && set.covers(&c.key)))
    }

    /// Forgets the changes before `rv`, as trimming the history does; for tests.
    #[cfg(test)]
    pub(crate) fn trim_events_before(&mut self, rv: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM events WHERE resource_version < ?1",
            params![rv],
        )?;
        let mut committed = self.committed.write().unwrap_or_else(|p| p.into_inner());
        let c = committed.as_mut().ok_or(StoreError::Closed)?;
        c.log.retain(|(at, _)| *at >= rv);
        c.floor = c.floor.max((rv - 1).min(c.snapshot.at));
        Ok(())
    }

    /// Records a token's hash for `subject` (see [`Store::insert_token`]), in this write.
    pub fn insert_token(
        &mut self,
        hash: &str,
        subject: &str,
        roles: &[&str],
        created: &str,
    ) -> Result<(), StoreError> {
        insert_token_row(self.conn, hash, subject, roles, created)?;
        self.tokens.push(TokenChange::insert(hash, subject, roles));
        Ok(())
    }

    /// Records that `subject`'s tokens were minted by a token of subject `maker`.
    pub fn set_token_maker(&mut self, subject: &str, maker: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE tokens SET minted_by = ?2 WHERE subject = ?1")?
            .execute(params![subject, maker])?;
        Ok(())
    }

    /// The subjects of the tokens that tokens of `maker` minted.
    pub fn tokens_minted_by(&self, maker: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT subject FROM tokens WHERE minted_by = ?1")?;
        let rows = stmt.query_map(params![maker], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Removes every token of `subject`, in this write; how many there were.
    pub fn delete_tokens(&mut self, subject: &str) -> Result<usize, StoreError> {
        let n = delete_token_rows(self.conn, subject)?;
        self.tokens.push(TokenChange::Revoke(subject.to_string()));
        Ok(n)
    }
}

impl Reads for Tx<'_> {
    fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.current(key).map(|e| e.stored.clone()))
    }

    fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        Ok(self.view().listing(filter))
    }

    fn project(
        &self,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<Vec<(ObjectKey, Option<serde_json::Value>)>, StoreError> {
        Ok(self.view().projection(filter, pointer))
    }

    fn get_parsed(&self, key: &ObjectKey) -> Result<Option<Arc<Object>>, StoreError> {
        Ok(self.current(key).and_then(|e| e.parsed()))
    }

    fn list_parsed(&self, filter: &ListFilter) -> Result<Vec<Arc<Object>>, StoreError> {
        Ok(self.view().parsed_list(filter))
    }
}

/// What [`Store::project_since`] answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectedChanges {
    /// The resource version the answer is current at (pass it as `after` next time).
    pub at: i64,
    /// Every covered object is in `parts`, not only the changed ones.
    pub complete: bool,
    pub parts: Vec<(ObjectKey, Option<serde_json::Value>)>,
}

/// What a [`Store::read_recorded`] snapshot read: checked by [`Tx::changed_since`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSet {
    /// The snapshot's resource version.
    pub at: i64,
    /// Objects read one by one (present or not).
    pub keys: Vec<ObjectKey>,
    /// Lists and projections (labels aside: any change to a covered key counts).
    pub filters: Vec<ListFilter>,
}

impl ReadSet {
    /// Whether a change to `key` could change what was read.
    pub fn covers(&self, key: &ObjectKey) -> bool {
        self.keys.iter().any(|k| k == key) || self.filters.iter().any(|f| f.matches_key(key))
    }
}

/// [`Reads`] on a snapshot, remembering what was read.
struct Recording {
    snapshot: Snapshot,
    set: std::cell::RefCell<ReadSet>,
}

impl Recording {
    fn key(&self, key: &ObjectKey) -> &Snapshot {
        self.set.borrow_mut().keys.push(key.clone());
        &self.snapshot
    }

    fn filter(&self, filter: &ListFilter) -> &Snapshot {
        self.set.borrow_mut().filters.push(filter.clone());
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
}

fn insert_token_row(
    c: &Connection,
    hash: &str,
    subject: &str,
    roles: &[&str],
    created: &str,
) -> Result<(), StoreError> {
    let roles = serde_json::to_string(roles).unwrap_or_else(|_| "[]".to_string());
    c.prepare_cached("INSERT INTO tokens (hash, subject, roles, created) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![hash, subject, roles, created])?;
    Ok(())
}

fn delete_token_rows(c: &Connection, subject: &str) -> Result<usize, StoreError> {
    Ok(c.prepare_cached("DELETE FROM tokens WHERE subject = ?1")?
        .execute(params![subject])?)
}

/// `AND …` conditions on the key columns for the parts of `filter` that are set, and
/// their values in order: only those, so SQLite walks the primary key
/// (api_group, kind, namespace, name) instead of scanning every object.
fn key_conditions(filter: &ListFilter) -> (String, Vec<&str>) {
    let mut sql = String::new();
    let mut values: Vec<&str> = Vec::new();
    for (value, column) in [
        (&filter.group, "api_group"),
        (&filter.kind, "kind"),
        (&filter.namespace, "namespace"),
    ] {
        if let Some(v) = value {
            values.push(v);
            sql.push_str(&format!(" AND {column} = ?{}", values.len()));
        }
    }
    if let Some(prefix) = &filter.name_prefix {
        let n = values.len() + 1;
        sql.push_str(&format!(
            " AND name >= ?{n} AND substr(name, 1, length(?{n})) = ?{n}"
        ));
        values.push(prefix);
    }
    (sql, values)
}

/// The rows matching `filter` with the counter they were read at; runs in the caller's
/// transaction.
fn list_rows(c: &Connection, filter: &ListFilter) -> Result<Listing, StoreError> {
    let rv = current_rv(c)?;
    let (where_sql, values) = key_conditions(filter);
    let sql = format!(
        "SELECT api_group, kind, namespace, name, body, resource_version, generation, uid, created
         FROM objects WHERE 1{where_sql} ORDER BY api_group, kind, namespace, name"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
        Ok((
            key_at(r, 0)?,
            r.get::<_, String>(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        ))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (key, body, resource_version, generation, uid, created) = row?;
        let object = StoredObject {
            body: parse_body(&key, &body)?,
            resource_version,
            generation,
            uid,
            created,
        };
        if filter.matches_labels(&object.body) {
            items.push((key, object));
        }
    }
    Ok(Listing {
        resource_version: rv,
        items,
    })
}

impl Inner {
    fn close(&self) -> Result<(), StoreError> {
        // Stop taking writes; the committer commits what was appended and exits.
        lock(&self.writer).tickets = None;
        let committer = lock(&self.committer).take();
        if let Some(handle) = committer
            && handle.join().is_err()
        {
            tracing::error!(store = %self.path.display(), "the store's committer thread panicked");
        }
        lock(&self.changes).take();
        self.committed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let closed = self.close_connections();
        // Only now may another server take the file.
        lock(&self.owner).take();
        closed
    }

    fn close_connections(&self) -> Result<(), StoreError> {
        let readers = lock(&self.readers).take();
        for conn in readers.into_iter().flatten() {
            conn.close().map_err(|(_, e)| StoreError::Sqlite(e))?;
        }
        let conn = {
            let mut st = lock(&self.writer);
            if st.open
                && let Some(c) = st.conn.as_ref()
            {
                // Only reachable when the committer died: nothing acknowledged rides on
                // this transaction, so it is rolled back rather than guessed at.
                let _ = c.execute_batch("ROLLBACK");
                st.open = false;
            }
            st.conn.take()
        };
        match conn {
            Some(conn) => conn.close().map_err(|(_, e)| StoreError::Sqlite(e)),
            None => Ok(()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock was held left no savepoint open (see `Store::batched`), so the
    // state is still sound.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The committer: takes a ticket, then the write lock, drains every other ticket (all of
/// them belong to the open transaction), commits once, publishes the batch's change
/// events and answers every ticket with the commit's result.
fn commit_loop(
    writer: &Mutex<WriteState>,
    queue: &mpsc::Receiver<Ticket>,
    changes: &broadcast::Sender<WatchEvent>,
    committed: &RwLock<Option<Committed>>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        let mut st = lock(writer);
        batch.extend(queue.try_iter());
        let result = match (st.abandoned.take(), &st.conn, st.open) {
            (Some(e), _, _) => Err(e),
            (None, Some(conn), true) => commit(conn).map_err(Arc::new),
            // Already committed by an earlier round.
            _ => Ok(()),
        };
        st.open = false;
        st.appended = 0;
        let events = std::mem::take(&mut st.events);
        if result.is_ok() {
            // Under the write lock, so the next transaction reads what this one committed;
            // and before anyone hears of the commit, so a write's caller and a watcher told
            // of it read it back.
            if let Some(c) = committed
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                c.apply(&events);
            }
        }
        drop(st);
        if result.is_ok() {
            for event in events.objects.iter().filter_map(Change::event) {
                // No subscribers is fine.
                let _ = changes.send(event);
            }
        } else if let Err(e) = &result {
            tracing::error!(error = %e, writes = batch.len(), "committing a write batch failed");
        }
        for ticket in batch {
            let _ = ticket.reply.send(result.clone());
        }
    }
}

fn commit(conn: &Connection) -> Result<(), rusqlite::Error> {
    let trimmed = conn
        .prepare_cached(
            "DELETE FROM events WHERE resource_version <=
             (SELECT value FROM meta WHERE key = 'resource_version') - ?1",
        )
        .and_then(|mut s| s.execute(params![EVENT_HISTORY]))
        .and_then(|_| conn.execute_batch("COMMIT"));
    if trimmed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    trimmed
}

/// Writes `mutation` at resource version `next`; the change's event type, or `None` when
/// nothing changed (deleting what is not there).
fn apply(
    conn: &Connection,
    key: &ObjectKey,
    mutation: &Mutation,
    next: i64,
    existed: bool,
) -> Result<Option<EventType>, StoreError> {
    let event_type = match mutation {
        Mutation::Put(row) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO objects
                 (api_group, kind, namespace, name, body, resource_version, generation, uid, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                key.group,
                key.kind,
                key.namespace,
                key.name,
                row.body.to_string(),
                next,
                row.generation,
                row.uid,
                row.created,
            ])?;
            Some(if existed {
                EventType::Modified
            } else {
                EventType::Added
            })
        }
        Mutation::Delete => {
            let n = conn
                .prepare_cached(
                    "DELETE FROM objects
                     WHERE api_group = ?1 AND kind = ?2 AND namespace = ?3 AND name = ?4",
                )?
                .execute(params![key.group, key.kind, key.namespace, key.name])?;
            (n > 0).then_some(EventType::Deleted)
        }
    };
    conn.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'resource_version'")?
        .execute(params![next])?;
    if let Some(t) = event_type {
        conn.prepare_cached(
            "INSERT INTO events (resource_version, api_group, kind, namespace, name, type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            next,
            key.group,
            key.kind,
            key.namespace,
            key.name,
            t.as_str()
        ])?;
    }
    Ok(event_type)
}

// ---------------------------------------------------------------------------------------
// The store interface a replicated backend (etcd) implements too.

/// Which objects a list or a watch covers; `None` and empty mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    /// Only names starting with this.
    pub name_prefix: Option<String>,
    /// `metadata.labels` must hold every one of these pairs (lists only; watch events
    /// carry no body).
    pub labels: Vec<(String, String)>,
}

impl ListFilter {
    /// Objects of one kind in one namespace (`""` for platform-level kinds).
    pub fn kind(kind: &wayfinder_model::KindInfo, namespace: &str) -> Self {
        Self {
            group: Some(kind.group.to_string()),
            kind: Some(kind.kind.to_string()),
            namespace: Some(namespace.to_string()),
            ..Self::default()
        }
    }

    /// Objects of one kind in every namespace.
    pub fn every(kind: &wayfinder_model::KindInfo) -> Self {
        Self {
            group: Some(kind.group.to_string()),
            kind: Some(kind.kind.to_string()),
            ..Self::default()
        }
    }

    /// Whether `key` is covered (labels are not looked at).
    pub fn matches_key(&self, key: &ObjectKey) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.group, &key.group)
            && eq(&self.kind, &key.kind)
            && eq(&self.namespace, &key.namespace)
            && self
                .name_prefix
                .as_deref()
                .is_none_or(|p| key.name.starts_with(p))
    }

    fn matches_labels(&self, body: &serde_json::Value) -> bool {
        let labels = body.get("metadata").and_then(|m| m.get("labels"));
        self.labels.iter().all(|(k, v)| {
            labels.and_then(|l| l.get(k)).and_then(|x| x.as_str()) == Some(v.as_str())
        })
    }
}

/// A list answer: the items and the resource version they were read at (watch from it).
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub resource_version: i64,
    pub items: Vec<(ObjectKey, StoredObject)>,
}

/// The condition a [`compare_and_swap`](ObjectStore::compare_and_swap) write needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Create-if-absent.
    Absent,
    /// Update or delete only if the object is at exactly this resource version.
    ResourceVersion(i64),
}

/// Why a compare-and-swap write was refused.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error("the object already exists")]
    AlreadyExists,
    #[error("the object does not exist")]
    NotFound,
    #[error("the object is at resource version {current}, not the one expected")]
    Conflict { current: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED`, `DELETED`, as Kubernetes watch events spell them.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "ADDED" => Some(EventType::Added),
            "MODIFIED" => Some(EventType::Modified),
            "DELETED" => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub key: ObjectKey,
    /// The resource version the change committed at (the object's new one; for a deletion,
    /// the version the deletion took).
    pub resource_version: i64,
}

/// A subscription to committed changes, in resource-version order.
#[derive(Debug)]
pub struct Watch {
    history: VecDeque<WatchEvent>,
    live: broadcast::Receiver<WatchEvent>,
    last: i64,
    filter: ListFilter,
    ended: bool,
}

impl Watch {
    /// The next change; `None` once the store is closed. An error ends the watch: the
    /// watcher fell more than the broadcast buffer behind and must re-list and watch again.
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
                Ok(e) if e.resource_version <= self.last => {}
                Ok(e) => {
                    self.last = e.resource_version;
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
                    return None;
                }
            }
        }
    }
}

/// A store shaped for replication: reads, a filtered list at a resource version,
/// compare-and-swap writes on `resourceVersion`, and a watch of committed changes after a
/// resource version. Every acknowledged write is durable. Implemented by the embedded
/// SQLite [`Store`]; an etcd backend maps these one to one (range, txn with a
/// mod-revision compare, watch with a start revision).
pub trait ObjectStore: Send + Sync {
    /// One object, or `None`.
    fn get_object(
        &self,
        key: &ObjectKey,
    ) -> impl Future<Output = Result<Option<StoredObject>, StoreError>> + Send;

    /// Every object `filter` covers, with the resource version the list was read at.
    fn list_objects(
        &self,
        filter: &ListFilter,
    ) -> impl Future<Output = Result<Listing, StoreError>> + Send;

    /// Create-if-absent, update-if-at-rv or delete-if-at-rv; the new resource version.
    fn compare_and_swap(
        &self,
        key: &ObjectKey,
        precondition: Precondition,
        mutation: Mutation,
    ) -> impl Future<Output = Result<i64, CasError>> + Send;

    /// Committed changes after resource version `after` that `filter` covers (labels
    /// aside). [`StoreError::Compacted`] when `after` is older than the kept history.
    fn watch(
        &self,
        after: i64,
        filter: ListFilter,
    ) -> impl Future<Output = Result<Watch, StoreError>> + Send;
}

impl ObjectStore for Store {
    async fn get_object(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        // From memory: no blocking.
        self.get(key)
    }

    async fn list_objects(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        self.list_filtered(filter)
    }

    async fn compare_and_swap(
        &self,
        key: &ObjectKey,
        precondition: Precondition,
        mutation: Mutation,
    ) -> Result<i64, CasError> {
        let key = key.clone();
        let store = self.handle();
        tokio::task::spawn_blocking(move || store.compare_and_swap(&key, precondition, mutation))
            .await
            .map_err(StoreError::Task)?
    }

    async fn watch(&self, after: i64, filter: ListFilter) -> Result<Watch, StoreError> {
        self.blocking(move |s| s.watch_changes(after, filter)).await
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(open_err)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(open_err)?;
        tx.execute_batch(sql).map_err(open_err)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(open_err)?;
        tx.commit().map_err(open_err)?;
        tracing::debug!(store = %path.display(), schema = i + 1, "migrated the store");
    }
    Ok(())
}

fn current_rv(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.prepare_cached("SELECT value FROM meta WHERE key = 'resource_version'")?
            .query_row([], |r| r.get(0))?,
    )
}

/// The object key in columns `first..first + 4` (group, kind, namespace, name) of a row.
fn key_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<ObjectKey> {
    Ok(ObjectKey {
        group: r.get(first)?,
        kind: r.get(first + 1)?,
        namespace: r.get(first + 2)?,
        name: r.get(first + 3)?,
    })
}

/// The current resource version, and the one after which the kept event history still
/// records every change (events are contiguous; with none kept, the current one).
fn history_floor(c: &Connection) -> Result<(i64, i64), StoreError> {
    let current = current_rv(c)?;
    let oldest: Option<i64> = c
        .prepare_cached("SELECT min(resource_version) FROM events")?
        .query_row([], |r| r.get(0))?;
    Ok((current, oldest.map_or(current, |o| o - 1)))
}

fn parse_body(key: &ObjectKey, body: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        key: key.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::platform(&wayfinder_model::kinds::COMPUTE_TEMPLATE, name)
    }

    fn put(body: serde_json::Value) -> Mutation {
        Mutation::Put(NewRow {
            body,
            generation: 1,
            uid: "u".into(),
            created: "2025-01-01T00:00:00Z".into(),
        })
    }

    #[test]
    fn writes_bump_the_counter_and_dry_runs_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        assert_eq!(store.resource_version().unwrap(), 0);
        let rv = store
            .mutate::<_, StoreError>(&key("a"), false, |cur, next| {
                assert!(cur.is_none());
                Ok((put(json!({"n": "a"})), next))
            })
            .unwrap();
        assert_eq!(rv, 1);
        store
            .mutate::<_, StoreError>(&key("b"), true, |_, next| Ok((put(json!({})), next)))
            .unwrap();
        assert_eq!(store.resource_version().unwrap(), 1);
        assert!(store.get(&key("b")).unwrap().is_none());
        let got = store.get(&key("a")).unwrap().unwrap();
        assert_eq!(got.body, json!({"n": "a"}));
        assert_eq!(got.resource_version, 1);
        let (rv, items) = store
            .list("compute.appvia.io", "ComputeTemplate", "")
            .unwrap();
        assert_eq!((rv, items.len()), (1, 1));
    }

    #[test]
    fn a_recorded_snapshot_is_stale_only_when_what_it_read_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        let write = |k: ObjectKey| {
            store
                .mutate::<_, StoreError>(&k, false, |_, next| Ok((put(json!({})), next)))
                .unwrap()
        };
        let cluster = |ws: &str, name: &str| {
            ObjectKey::workspaced(&wayfinder_model::kinds::CLUSTER, ws, name)
        };
        write(key("plan"));
        // A snapshot that read one object and listed the clusters of workspace `a`.
        let (found, read) = store
            .read_recorded(|r| {
                let got = r.get(&key("plan")).unwrap().is_some();
                r.list_filtered(&ListFilter::kind(&wayfinder_model::kinds::CLUSTER, "a"))
                    .unwrap();
                got
            })
            .unwrap();
        assert!(found);
        assert_eq!(read.at, 1);
        let stale = |store: &Store| {
            store
                .transact::<_, StoreError>(true, |tx| tx.changed_since(&read))
                .unwrap()
        };
        assert!(!stale(&store), "nothing was written since");
        write(key("other"));
        write(cluster("b", "c1"));
        assert!(
            !stale(&store),
            "writes to what it did not read leave it current"
        );
        write(cluster("a", "c1"));
        assert!(
            stale(&store),
            "a new cluster in the listed workspace makes it stale"
        );

        // Inside the open batch: a write appended before the check is seen by it.
        let (_, read) = store
            .read_recorded(|r| r.get(&key("plan")).map(|_| ()))
            .unwrap();
        let seen = store
            .transact::<_, StoreError>(true, |tx| {
                tx.write(&key("plan"), put(json!({"changed": true})))?;
                tx.changed_since(&read)
            })
            .unwrap();
        assert!(seen, "the batch's own writes count");
    }

    #[test]
    fn a_snapshot_older_than_the_event_history_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        let (_, read) = store
            .read_recorded(|r| r.get(&key("x")).map(|_| ()))
            .unwrap();
        // Unrelated writes, then the history before them is trimmed away.
        for i in 0..3 {
            store
                .mutate::<_, StoreError>(&key(&format!("n{i}")), false, |_, next| {
                    Ok((put(json!({})), next))
                })
                .unwrap();
        }
        store
            .transact::<_, StoreError>(false, |tx| tx.trim_events_before(3))
            .unwrap();
        let stale = store
            .transact::<_, StoreError>(true, |tx| tx.changed_since(&read))
            .unwrap();
        assert!(stale, "what happened in between is no longer known");
    }

    #[test]
    fn a_failed_decision_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        #[derive(Debug)]
        struct No;
        impl From<StoreError> for No {
            fn from(_: StoreError) -> Self {
                No
            }
        }
        let r = store.mutate::<(), No>(&key("a"), false, |_, _| Err(No));
        assert!(r.is_err());
        assert_eq!(store.resource_version().unwrap(), 0);
    }

    #[test]
    fn reopening_keeps_data_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        {
            let store = Store::open(&path).unwrap();
            store
                .insert_token("h", "admin", &["admin"], "2025-01-01T00:00:00Z")
                .unwrap();
            store.close().unwrap();
            assert!(matches!(store.get(&key("a")), Err(StoreError::Closed)));
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.token("h").unwrap(),
            Some(TokenRecord {
                subject: "admin".into(),
                roles: vec!["admin".into()]
            })
        );
        assert_eq!(store.count_tokens("admin").unwrap(), 1);
        store.close().unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(&path).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn compare_and_swap_checks_the_resource_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        let k = key("a");
        let rv = store
            .compare_and_swap(&k, Precondition::Absent, put(json!({"v": 1})))
            .unwrap();
        assert!(matches!(
            store.compare_and_swap(&k, Precondition::Absent, put(json!({}))),
            Err(CasError::AlreadyExists)
        ));
        assert!(matches!(
            store.compare_and_swap(&k, Precondition::ResourceVersion(rv + 7), put(json!({}))),
            Err(CasError::Conflict { current }) if current == rv
        ));
        let rv2 = store
            .compare_and_swap(&k, Precondition::ResourceVersion(rv), put(json!({"v": 2})))
            .unwrap();
        assert_eq!(rv2, rv + 1);
        assert!(matches!(
            store.compare_and_swap(&k, Precondition::ResourceVersion(rv), Mutation::Delete),
            Err(CasError::Conflict { .. })
        ));
        store
            .compare_and_swap(&k, Precondition::ResourceVersion(rv2), Mutation::Delete)
            .unwrap();
        assert!(store.get(&k).unwrap().is_none());
        assert!(matches!(
            store.compare_and_swap(&k, Precondition::ResourceVersion(rv2), Mutation::Delete),
            Err(CasError::NotFound)
        ));
    }

    #[test]
    fn concurrent_writes_are_isolated_and_numbered_without_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("w.db")).unwrap());
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    store.mutate::<_, CasError>(&key(&format!("o{i}")), false, |_, next| {
                        if i % 4 == 0 {
                            Err(CasError::NotFound)
                        } else {
                            Ok((put(json!({"i": i})), next))
                        }
                    })
                })
            })
            .collect();
        let mut rvs: Vec<i64> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap().ok())
            .collect();
        rvs.sort();
        assert_eq!(rvs, (1..=24).collect::<Vec<_>>());
        let listing = store.list_filtered(&ListFilter::default()).unwrap();
        assert_eq!(listing.resource_version, 24);
        assert_eq!(listing.items.len(), 24);
        assert!(
            listing
                .items
                .iter()
                .all(|(k, _)| k.name[1..].parse::<i32>().unwrap() % 4 != 0)
        );
    }

    #[test]
    fn lists_filter_by_prefix_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        for (name, team) in [("web-a", "x"), ("web-b", "y"), ("db", "x")] {
            store
                .compare_and_swap(
                    &key(name),
                    Precondition::Absent,
                    put(json!({"metadata": {"labels": {"team": team}}})),
                )
                .unwrap();
        }
        let names = |f: ListFilter| -> Vec<String> {
            store
                .list_filtered(&f)
                .unwrap()
                .items
                .into_iter()
                .map(|(k, _)| k.name)
                .collect()
        };
        let prefix = ListFilter {
            name_prefix: Some("web-".into()),
            ..ListFilter::kind(&wayfinder_model::kinds::COMPUTE_TEMPLATE, "")
        };
        assert_eq!(names(prefix), ["web-a", "web-b"]);
        let team = ListFilter {
            labels: vec![("team".into(), "x".into())],
            ..ListFilter::default()
        };
        assert_eq!(names(team), ["db", "web-a"]);
    }

    /// The SQL projection answers what reading whole bodies would, for every JSON type,
    /// missing parts, keys needing quoting, and filters on the key columns.
    #[test]
    fn projections_match_the_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db")).unwrap();
        let bodies = [
            (
                "a",
                json!({"status": {"network": {"cidr": "10.0.0.0/22", "exclusive": true}}}),
            ),
            ("b", json!({"status": {"network": [1, "x", null]}})),
            ("c", json!({"status": {"network": true}})),
            ("d", json!({"status": {"network": false}})),
            ("e", json!({"status": {"network": 7}})),
            ("f", json!({"status": {"network": 2.5}})),
            ("g", json!({"status": {"network": "text"}})),
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
            let sql = store.project(&filter, pointer).unwrap();
            let expected: Vec<_> = bodies
                .iter()
                .map(|(n, b)| (key(n), b.pointer(pointer).cloned()))
                .collect();
            assert_eq!(sql, expected, "{pointer}");
        }
        let one = ListFilter {
            name_prefix: Some("c".into()),
            ..filter.clone()
        };
        assert_eq!(
            store.project(&one, "/status/network").unwrap(),
            [(key("c"), Some(json!(true)))]
        );
        let other_kind = ListFilter::kind(&wayfinder_model::kinds::CLUSTER_PLAN, "");
        assert!(store.project(&other_kind, "/status").unwrap().is_empty());
    }

    /// The allocator's read of every cluster's network walks the index, not the bodies.
    #[test]
    fn the_kept_history_is_bounded_and_says_how_far_back_it_reaches() {
        let mut c = Committed::new(Snapshot {
            at: 0,
            objects: rpds::RedBlackTreeMapSync::new_sync(),
        });
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
        c.apply(&Writes {
            objects: changes,
            tokens: Vec::new(),
        });
        assert_eq!(c.log.len() as i64, EVENT_HISTORY);
        assert_eq!(c.floor, 5);
        assert!(c.changed_after(4).is_none(), "change 5 is forgotten");
        assert_eq!(c.changed_after(EVENT_HISTORY + 2).unwrap().count(), 3);
        assert_eq!(c.snapshot.at, EVENT_HISTORY + 5);
        assert_eq!(c.snapshot.objects.size(), 7);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

        /// Whatever mix of puts, deletes, refused decisions and dry runs goes through the
        /// group commit, from several threads at once, the objects kept in memory are what
        /// the file holds: reopening the store reads the same objects back.
        #[test]
        fn the_objects_in_memory_are_the_ones_on_disk(
            ops in proptest::collection::vec((0u8..4, 0u8..6, 0u8..4), 1..60)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.db");
            let store = Arc::new(Store::open(&path).unwrap());
            let chunks: Vec<Vec<(u8, u8, u8)>> = ops.chunks(8).map(<[_]>::to_vec).collect();
            std::thread::scope(|scope| {
                for chunk in chunks {
                    let store = Arc::clone(&store);
                    scope.spawn(move || {
                        for (op, name, value) in chunk {
                            let k = key(&format!("o{name}"));
                            let _ = store.mutate::<_, StoreError>(&k, op == 3, |current, next| {
                                match op {
                                    0 | 3 => Ok((put(json!({"v": value, "rv": next})), ())),
                                    1 if current.is_some() => Ok((Mutation::Delete, ())),
                                    _ => Err(StoreError::Closed),
                                }
                            });
                        }
                    });
                }
            });
            let in_memory = store.list_filtered(&ListFilter::default()).unwrap();
            let also = store
                .read(|c| list_rows(c, &ListFilter::default()))
                .unwrap();
            proptest::prop_assert_eq!(&in_memory, &also);
            store.close().unwrap();
            drop(store);
            let reopened = Store::open(&path).unwrap();
            proptest::prop_assert_eq!(in_memory, reopened.list_filtered(&ListFilter::default()).unwrap());
        }
    }

    #[test]
    fn a_second_store_on_the_same_file_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let first = Store::open(&path).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("in use by another wayfinder-server")
                && message.contains("--data-dir"),
            "{message}"
        );
        first.close().unwrap();
        Store::open(&path).unwrap().close().unwrap();
    }

    #[test]
    fn a_store_of_schema_4_gains_token_lineage_and_keeps_its_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..4] {
                tx.execute_batch(sql).unwrap();
            }
            tx.execute(
                "INSERT INTO tokens (hash, subject, roles, created) VALUES ('h', 'accesstoken/aa/t', '[]', 'now')",
                [],
            )
            .unwrap();
            tx.pragma_update(None, "user_version", 4).unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert!(store.token("h").unwrap().is_some());
        let makers: Vec<String> = store
            .read(|c| {
                let mut stmt = c.prepare("SELECT minted_by FROM tokens")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap();
        assert_eq!(makers, [""]);
        store
            .transact(false, |tx| {
                tx.set_token_maker("accesstoken/aa/t", "accesstoken/aa/parent")?;
                assert_eq!(
                    tx.tokens_minted_by("accesstoken/aa/parent")?,
                    ["accesstoken/aa/t"]
                );
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn a_store_of_schema_3_loses_the_network_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..3] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let indexes: i64 = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'objects_status_network'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(indexes, 0);
    }

    #[tokio::test]
    async fn watch_replays_history_then_follows_live_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        let a =
            ObjectStore::compare_and_swap(&store, &key("a"), Precondition::Absent, put(json!({})))
                .await
                .unwrap();
        let a2 = ObjectStore::compare_and_swap(
            &store,
            &key("a"),
            Precondition::ResourceVersion(a),
            put(json!({"x": 1})),
        )
        .await
        .unwrap();
        let mut w = ObjectStore::watch(&store, 0, ListFilter::default())
            .await
            .unwrap();
        let mut from_a = ObjectStore::watch(&store, a, ListFilter::default())
            .await
            .unwrap();
        let e = w.next().await.unwrap().unwrap();
        assert_eq!((e.event_type, e.resource_version), (EventType::Added, a));
        let e = w.next().await.unwrap().unwrap();
        assert_eq!(
            (e.event_type, e.resource_version),
            (EventType::Modified, a2)
        );
        assert_eq!(from_a.next().await.unwrap().unwrap().resource_version, a2);
        let d = ObjectStore::compare_and_swap(
            &store,
            &key("a"),
            Precondition::ResourceVersion(a2),
            Mutation::Delete,
        )
        .await
        .unwrap();
        let e = w.next().await.unwrap().unwrap();
        assert_eq!(e.event_type, EventType::Deleted);
        assert_eq!(e.resource_version, d);
        assert_eq!(e.key, key("a"));
        // Dry runs and failed decisions publish nothing.
        store
            .mutate::<_, StoreError>(&key("b"), true, |_, n| Ok((put(json!({})), n)))
            .unwrap();
        let got = ObjectStore::get_object(&store, &key("a")).await.unwrap();
        assert!(got.is_none());
        store.close().unwrap();
        assert!(w.next().await.is_none());
    }

    #[test]
    fn watching_from_before_the_kept_history_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open(&path).unwrap();
        for n in ["a", "b", "c"] {
            store
                .compare_and_swap(&key(n), Precondition::Absent, put(json!({})))
                .unwrap();
        }
        store.close().unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute("DELETE FROM events WHERE resource_version <= 2", [])
            .unwrap();
        drop(conn);
        let store = Store::open(&path).unwrap();
        assert!(matches!(
            store.watch_changes(0, ListFilter::default()),
            Err(StoreError::Compacted { oldest: 2, .. })
        ));
        assert!(store.watch_changes(2, ListFilter::default()).is_ok());
    }
}
