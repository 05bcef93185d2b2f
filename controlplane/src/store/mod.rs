//! The store: what the control plane keeps, behind one seam.
//!
//! Every caller goes through [`Store`], the front. It owns a [`Backend`] (the embedded
//! SQLite file, [`sqlite`]; a replicated backend implements the same trait) and serves
//! reads from the backend's [`cache::Cache`]: the committed objects and tokens in memory,
//! the recent change log, and the watch fan-out, kept current by the backend.
//!
//! **Decisions and commits.** A write is a *decision*: a closure over [`Reads`] that
//! answers a [`Batch`] (object writes and token writes together) or refuses. The backend
//! runs it on a recorded snapshot, and commits the batch atomically and durably only if
//! nothing the decision read (its [`ReadSet`]) has changed, deciding again when it has.
//! So what commits was decided against exactly what commits with it. A commit answers
//! [`Committed`]: the resource version each object write took. Callers never compute a
//! version before the commit.
//!
//! **Resource versions** are `i64`, strictly increasing, and **not contiguous**: a backend
//! may skip versions, and the object writes of one commit may share one version.
//! `metadata.resourceVersion` is not stored in a body: a backend strips it on write, and the
//! cache puts the row's version there when it materialises an object ([`cache::Entry`]).
//!
//! Reads ([`Store::get`], [`Store::list_filtered`], [`Store::snapshot`], [`Store::token`])
//! come from memory and may be called from async code directly; commits wait for the
//! backend, so from async code call them through [`Store::run`].

pub mod cache;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use wayfinder_model::Object;

pub use cache::{Cache, Page, ProjectedChanges, Snapshot, Watch};
pub use sqlite::{EVENT_HISTORY, SCHEMA_VERSION};

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
        "resource version {requested} is too old: changes up to {oldest} are no longer kept; list again from the start and watch from the list's resource version"
    )]
    Compacted { requested: i64, oldest: i64 },
    #[error("stored change event {resource_version} has an unknown type {found:?}")]
    CorruptEvent {
        resource_version: i64,
        found: String,
    },
    #[error(
        "the continue token is not valid: {reason}; send the metadata.continue of the previous page unchanged, or list again from the start without it"
    )]
    InvalidContinue { reason: String },
    #[error("the write kept conflicting with concurrent writes ({attempts} attempts); retry it")]
    Conflict { attempts: u32 },
    #[error("this replica no longer leads; the write was refused")]
    Fenced,
    #[error("the store at {endpoints} is unavailable: {reason}")]
    Unavailable { endpoints: String, reason: String },
    #[error("{what} is larger than the store accepts (at most {limit})")]
    TooLarge { what: String, limit: String },
}

/// Where an object lives: `(group, kind, namespace, name)`; `namespace` is empty for
/// platform-level kinds.
/// Ordered as the store lists: by group, kind, namespace, then name (byte order, as SQLite's
/// `BINARY` collation sorts the key columns). Every backend lists in this order.
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

/// A committed object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// The whole object, `metadata` included, as JSON; `metadata.resourceVersion` is the
    /// row's version (filled in by the cache: it is not stored).
    pub body: serde_json::Value,
    pub resource_version: i64,
    pub generation: i64,
    pub uid: String,
    /// `metadata.creationTimestamp`, RFC 3339.
    pub created: String,
}

/// The row to write for an object. A `metadata.resourceVersion` in `body` is ignored: the
/// commit gives the version.
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

/// A token's row: whose it is, its roles, when it was made and by whom. Its JSON form
/// (`subject`, `roles`, `created`, `mintedBy`) is a token's value in etcd.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub subject: String,
    pub roles: Vec<String>,
    /// RFC 3339.
    pub created: String,
    /// The subject of the token that minted this one; `""` for none (the administrator
    /// token, tokens from before lineage was kept).
    #[serde(default)]
    pub minted_by: String,
}

impl TokenRecord {
    /// The row of a token of `subject` with `roles`, made at `created`, minted by no token.
    pub fn new(subject: &str, roles: &[&str], created: &str) -> Self {
        Self {
            subject: subject.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            created: created.to_string(),
            minted_by: String::new(),
        }
    }
}

/// What a decision writes: applied together or not at all.
#[derive(Debug, Default)]
pub struct Batch {
    pub objects: Vec<(ObjectKey, Mutation)>,
    pub tokens: Vec<TokenWrite>,
}

impl Batch {
    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.tokens.is_empty()
    }

    /// One object write.
    pub fn object(key: ObjectKey, mutation: Mutation) -> Self {
        Self {
            objects: vec![(key, mutation)],
            tokens: Vec::new(),
        }
    }
}

/// A token row written by a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenWrite {
    /// Insert (or replace) the row of the token with this hash.
    Put { hash: String, record: TokenRecord },
    /// Remove the row of the token with this hash.
    Delete { hash: String },
}

/// What a commit did: the resource version each object write took (same order as
/// [`Batch::objects`]), and the version the store is at after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub versions: Vec<i64>,
    pub at: i64,
}

/// Proof of leadership for fenced writes (etcd: the election key and its create revision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub key: String,
    pub revision: i64,
}

/// Leadership of a role ([`Store::campaign`]): the fence for the leader's writes (`None`
/// where a backend has one writer anyway, SQLite) and a receiver that turns `true` when
/// leadership is lost.
#[derive(Debug, Clone)]
pub struct Leadership {
    pub fence: Option<Fence>,
    pub lost: tokio::sync::watch::Receiver<bool>,
}

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

/// Reads of committed objects and tokens; a decision reads only through this.
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

    /// The token rows (hash → record) of `subject`.
    fn tokens_of(&self, subject: &str) -> Result<Vec<(String, TokenRecord)>, StoreError>;

    /// The subjects whose tokens a token of `maker` minted.
    fn tokens_minted_by(&self, maker: &str) -> Result<Vec<String>, StoreError>;
}

/// What a decision read ([`Backend::commit`]): what must not have changed for the decision
/// to still hold when it commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSet {
    /// The snapshot's resource version.
    pub at: i64,
    /// Objects read one by one (present or not).
    pub keys: Vec<ObjectKey>,
    /// Lists and projections (labels aside: any change to a covered key counts).
    pub filters: Vec<ListFilter>,
    /// The decision read token rows.
    pub tokens: bool,
}

impl ReadSet {
    /// Whether a change to `key` could change what was read.
    pub fn covers(&self, key: &ObjectKey) -> bool {
        self.keys.iter().any(|k| k == key) || self.filters.iter().any(|f| f.matches_key(key))
    }
}

/// [`Reads`] as they will be once the objects at `gone` are deleted: a decision that
/// deletes several objects in one batch checks each against what the others leave.
pub struct Without<'a> {
    pub reads: &'a dyn Reads,
    pub gone: &'a [ObjectKey],
}

impl Reads for Without<'_> {
    fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        if self.gone.contains(key) {
            return Ok(None);
        }
        self.reads.get(key)
    }

    fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        let mut listing = self.reads.list_filtered(filter)?;
        listing.items.retain(|(k, _)| !self.gone.contains(k));
        Ok(listing)
    }

    fn tokens_of(&self, subject: &str) -> Result<Vec<(String, TokenRecord)>, StoreError> {
        self.reads.tokens_of(subject)
    }

    fn tokens_minted_by(&self, maker: &str) -> Result<Vec<String>, StoreError> {
        self.reads.tokens_minted_by(maker)
    }
}

/// A storage backend. Object safe; blocking methods (call them from the blocking pool —
/// [`Store::run`]), except `cache`.
pub trait Backend: Send + Sync + 'static {
    /// "sqlite" or "etcd", for logs and /readyz.
    fn name(&self) -> &'static str;
    /// The committed state in memory this backend keeps current.
    fn cache(&self) -> &Arc<Cache>;
    /// Whether [`barrier`](Backend::barrier) can have anything to wait for (another
    /// process may write: etcd); without, reads skip it.
    fn needs_barrier(&self) -> bool {
        false
    }
    /// Read barrier: returns once the cache holds every write acknowledged by any replica
    /// before the call.
    fn barrier(&self) -> Result<(), StoreError>;
    /// Decide and commit. `decide` runs on a recorded snapshot, and again when what it read
    /// changed before its batch could commit. `decide` answering `None` means "refused":
    /// nothing is written and `Ok(None)` is returned. With `dry_run` nothing is written
    /// and the versions are the ones it would have taken as best known. With `fence`, the
    /// commit is refused with [`StoreError::Fenced`] unless the leadership still holds.
    fn commit(
        &self,
        dry_run: bool,
        fence: Option<&Fence>,
        decide: &mut dyn FnMut(&dyn Reads, &ReadSet) -> Option<Batch>,
    ) -> Result<Option<Committed>, StoreError>;
    /// The value under `name` in the control plane's own keys, created once per control
    /// plane (not per replica) by `create` when absent.
    fn server_key(
        &self,
        name: &str,
        create: &mut dyn FnMut() -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Blocks until this replica leads `role`; the fence for its writes and a receiver
    /// that turns `true` when leadership is lost.
    fn campaign(&self, role: &str) -> Result<Leadership, StoreError>;
    /// Readiness: the backend answers.
    fn ping(&self) -> Result<(), StoreError>;
    /// Flush and close; later calls answer [`StoreError::Closed`].
    fn close(&self) -> Result<(), StoreError>;
}

/// The store; see the module documentation. Cheap to share behind an `Arc`.
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path` and migrates its schema.
    pub fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::with_backend(Arc::new(sqlite::Sqlite::open(path)?)))
    }

    /// Connects to etcd (`--store etcd`), loads the cache and starts following it; see
    /// [`etcd`]. An unreachable etcd is an error naming every endpoint tried.
    #[cfg(feature = "etcd")]
    pub async fn connect_etcd(
        config: &etcd::EtcdConfig,
        leader_ttl: std::time::Duration,
    ) -> Result<Self, StoreError> {
        Ok(Self::with_backend(Arc::new(
            etcd::EtcdBackend::connect(config, leader_ttl).await?,
        )))
    }

    /// The front over `backend`.
    pub fn with_backend(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// "sqlite" or "etcd".
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Whether other processes (replicas) write this store too (etcd).
    pub fn is_shared(&self) -> bool {
        self.backend.needs_barrier()
    }

    /// The committed state in memory.
    pub fn cache(&self) -> &Arc<Cache> {
        self.backend.cache()
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

    /// The read barrier: returns once reads from memory see every write acknowledged
    /// before the call, by any replica.
    pub async fn fresh(self: &Arc<Self>) -> Result<(), StoreError> {
        if !self.backend.needs_barrier() {
            return Ok(());
        }
        self.run(|s| s.backend.barrier()).await?
    }

    /// A token's row, looked up in memory; when it is not there and another replica may
    /// have just written it, looked up again after the read barrier.
    pub async fn token_fresh(
        self: &Arc<Self>,
        hash: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        match self.token(hash)? {
            Some(r) => Ok(Some(r)),
            None if self.backend.needs_barrier() => {
                self.fresh().await?;
                self.token(hash)
            }
            None => Ok(None),
        }
    }

    /// Commits writes still waiting, then closes; later calls answer
    /// [`StoreError::Closed`]. Waits for calls in progress first.
    pub fn close(&self) -> Result<(), StoreError> {
        self.backend.close()
    }

    /// Readiness: the backend answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping()
    }

    /// The committed objects as they are now: a consistent snapshot, cheap to take.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.cache().snapshot()
    }

    /// The resource version of the last committed write.
    pub fn resource_version(&self) -> Result<i64, StoreError> {
        Ok(self.snapshot()?.resource_version())
    }

    /// One object, or `None`.
    pub fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.snapshot()?.object(key))
    }

    /// Every object matching `filter`, ordered by key, with the resource version the list
    /// was read at (a consistent snapshot).
    pub fn list_filtered(&self, filter: &ListFilter) -> Result<Listing, StoreError> {
        Ok(self.snapshot()?.listing(filter))
    }

    /// At most `limit` objects matching `filter`, in key order, after the place
    /// `continue_token` (a page's [`Page::continue_token`]) names, as of the first page's
    /// resource version. An expired token is [`StoreError::Compacted`]; a malformed one
    /// [`StoreError::InvalidContinue`].
    pub fn list_page(
        &self,
        filter: &ListFilter,
        limit: usize,
        continue_token: Option<&str>,
    ) -> Result<Page, StoreError> {
        let start = continue_token.map(ContinueToken::decode).transpose()?;
        self.cache().page(filter, limit.max(1), start, None)
    }

    /// [`Store::list_page`] of the objects `keep` accepts (a page holds `limit` of those).
    pub fn list_page_where(
        &self,
        filter: &ListFilter,
        limit: usize,
        continue_token: Option<&str>,
        keep: &dyn Fn(&StoredObject) -> bool,
    ) -> Result<Page, StoreError> {
        let start = continue_token.map(ContinueToken::decode).transpose()?;
        self.cache().page(filter, limit.max(1), start, Some(keep))
    }

    /// The owner of a token, looked up by the token's SHA-256 hash (hex).
    pub fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.snapshot()?.token(hash))
    }

    /// How many tokens a subject has.
    pub fn count_tokens(&self, subject: &str) -> Result<i64, StoreError> {
        Ok(self.snapshot()?.tokens_of(subject)?.len() as i64)
    }

    /// Stores one token row (a commit of its own).
    pub fn put_token(&self, hash: &str, record: TokenRecord) -> Result<Committed, StoreError> {
        let write = TokenWrite::Put {
            hash: hash.to_string(),
            record,
        };
        let ((), committed) = self.commit::<_, StoreError>(false, None, |_| {
            Ok((
                Batch {
                    objects: Vec::new(),
                    tokens: vec![write.clone()],
                },
                (),
            ))
        })?;
        Ok(committed)
    }

    /// [`Reads::project`] kept up to date; see [`Cache::project_since`].
    pub fn project_since(
        &self,
        after: Option<i64>,
        filter: &ListFilter,
        pointer: &str,
    ) -> Result<ProjectedChanges, StoreError> {
        self.cache().project_since(after, filter, pointer)
    }

    /// Committed changes after `after` (a resource version) that `filter` covers (labels
    /// aside), replayed from the kept change log and then followed live;
    /// [`StoreError::Compacted`] when `after` is older than the log.
    pub fn watch_changes(&self, after: i64, filter: ListFilter) -> Result<Watch, StoreError> {
        self.cache().watch(after, filter)
    }

    /// Forgets the change log before resource version `rv`, as trimming it does: watches
    /// and continue tokens from before answer [`StoreError::Compacted`]. For tests.
    #[cfg(any(test, feature = "conformance"))]
    pub fn forget_changes_before(&self, rv: i64) -> Result<(), StoreError> {
        self.cache().forget_before(rv)
    }

    /// Decides and commits: `decide` reads through [`Reads`] and answers the batch to write
    /// and a result, or refuses with an error (nothing is written). It may run more than
    /// once (again when what it read changed before it could commit); the answer is the
    /// last run's. Returns once the batch is durable, with the versions it took. With
    /// `dry_run` nothing is written. With `fence` the commit is refused unless the
    /// leadership still holds.
    pub fn commit<R, E>(
        &self,
        dry_run: bool,
        fence: Option<&Fence>,
        mut decide: impl FnMut(&dyn Reads) -> Result<(Batch, R), E>,
    ) -> Result<(R, Committed), E>
    where
        E: From<StoreError>,
    {
        let mut answer: Option<Result<R, E>> = None;
        let committed =
            self.backend
                .commit(dry_run, fence, &mut |reads, _| match decide(reads) {
                    Ok((batch, out)) => {
                        answer = Some(Ok(out));
                        Some(batch)
                    }
                    Err(e) => {
                        answer = Some(Err(e));
                        None
                    }
                })?;
        match (answer, committed) {
            (Some(Ok(out)), Some(committed)) => Ok((out, committed)),
            (Some(Err(e)), _) => Err(e),
            // A backend that answers without deciding, or refuses a batch it was given.
            (_, _) => Err(StoreError::Closed.into()),
        }
    }

    /// One object's write: `decide(current)` answers the [`Mutation`] of `key` and a
    /// result, or refuses with an error. See [`Store::commit`].
    pub fn mutate<R, E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnMut(Option<StoredObject>) -> Result<(Mutation, R), E>,
    ) -> Result<(R, Committed), E>
    where
        E: From<StoreError>,
    {
        self.mutate_fenced(key, dry_run, None, decide)
    }

    /// [`Store::mutate`], refused with [`StoreError::Fenced`] unless `fence`'s leadership
    /// still holds.
    pub fn mutate_fenced<R, E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        fence: Option<&Fence>,
        mut decide: impl FnMut(Option<StoredObject>) -> Result<(Mutation, R), E>,
    ) -> Result<(R, Committed), E>
    where
        E: From<StoreError>,
    {
        self.commit(dry_run, fence, |r| {
            let (mutation, out) = decide(r.get(key)?)?;
            Ok((Batch::object(key.clone(), mutation), out))
        })
    }

    /// A compare-and-swap write: see [`Precondition`]. Returns the new resource version.
    pub fn compare_and_swap(
        &self,
        key: &ObjectKey,
        precondition: Precondition,
        mutation: Mutation,
    ) -> Result<i64, CasError> {
        let ((), committed) = self.mutate(key, false, |current| {
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
            Ok((mutation.clone(), ()))
        })?;
        Ok(committed.versions.first().copied().unwrap_or(committed.at))
    }

    /// The value kept under `name` among the control plane's own keys; when there is none
    /// yet, `create()`'s value, stored durably first (`None`, and nothing stored, when
    /// `create` has none). Created once per control plane. Called at start, not per request.
    pub fn server_key(
        &self,
        name: &str,
        create: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut create = Some(create);
        self.backend
            .server_key(name, &mut || create.take().and_then(|c| c()))
    }

    /// Blocks until this replica leads `role` (SQLite: at once).
    pub fn campaign(&self, role: &str) -> Result<Leadership, StoreError> {
        self.backend.campaign(role)
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
        self.snapshot()?.project(filter, pointer)
    }

    fn get_parsed(&self, key: &ObjectKey) -> Result<Option<Arc<Object>>, StoreError> {
        self.snapshot()?.get_parsed(key)
    }

    fn list_parsed(&self, filter: &ListFilter) -> Result<Vec<Arc<Object>>, StoreError> {
        self.snapshot()?.list_parsed(filter)
    }

    fn tokens_of(&self, subject: &str) -> Result<Vec<(String, TokenRecord)>, StoreError> {
        self.snapshot()?.tokens_of(subject)
    }

    fn tokens_minted_by(&self, maker: &str) -> Result<Vec<String>, StoreError> {
        self.snapshot()?.tokens_minted_by(maker)
    }
}

/// Where a page ends: the version of the first page and the last key answered. On the
/// wire, base64 (URL-safe, unpadded) of `{"rv":R,"start":"<group>/<kind>/<namespace>/<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueToken {
    pub rv: i64,
    pub start: ObjectKey,
}

impl ContinueToken {
    /// The opaque token.
    pub fn encode(&self) -> String {
        let k = &self.start;
        let json = serde_json::json!({
            "rv": self.rv,
            "start": format!("{}/{}/{}/{}", k.group, k.kind, k.namespace, k.name),
        });
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// The token back; [`StoreError::InvalidContinue`] saying what is wrong.
    pub fn decode(token: &str) -> Result<Self, StoreError> {
        let bad = |reason: &str| StoreError::InvalidContinue {
            reason: reason.to_string(),
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| bad("it is not base64"))?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| bad("it does not hold JSON"))?;
        let rv = value
            .get("rv")
            .and_then(serde_json::Value::as_i64)
            .filter(|rv| *rv >= 0)
            .ok_or_else(|| bad("it has no resource version"))?;
        let start = value
            .get("start")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| bad("it has no start key"))?;
        let mut parts = start.splitn(4, '/');
        let (Some(group), Some(kind), Some(namespace), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("its start key is not group/kind/namespace/name"));
        };
        Ok(Self {
            rv,
            start: ObjectKey {
                group: group.to_string(),
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
        })
    }
}

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

    /// Whether `body`'s labels hold every pair of the filter's.
    pub fn matches_labels(&self, body: &serde_json::Value) -> bool {
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

/// The condition a [`Store::compare_and_swap`] write needs.
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

    /// The type a watch event spelling names.
    pub fn parse(s: &str) -> Option<Self> {
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
    /// the version the deletion took). Changes of one commit may share it.
    pub resource_version: i64,
}
