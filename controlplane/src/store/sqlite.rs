//! The embedded SQLite backend: objects, tokens and the global resource-version counter in
//! one file, `DATA_DIR/wayfinder.db`, in WAL mode with `synchronous=FULL`. The schema is
//! versioned through `PRAGMA user_version` and migrated forward on open; a store written by
//! a newer server is refused rather than guessed at.
//!
//! Tables:
//! - `meta(key, value)`: `resource_version`, the global counter every object write bumps
//!   (so this backend's versions happen to be consecutive; callers must not rely on it);
//! - `objects(api_group, kind, namespace, name, body, resource_version, generation, uid,
//!   created)`, keyed by `(api_group, kind, namespace, name)`; `namespace` is `''` for
//!   platform-level kinds; `body` is the object's JSON without `metadata.resourceVersion`
//!   (the column is the version; a body written by an older server may still hold one, and
//!   the column wins);
//! - `tokens(hash, subject, roles, created, minted_by)`: only the SHA-256 of each token;
//! - `events(resource_version, api_group, kind, namespace, name, type)` (schema 2): the
//!   last [`EVENT_HISTORY`] committed changes, loaded into the cache's change log on open;
//! - `server_keys(name, value)` (schema 6): what the control plane keeps about itself,
//!   created once ([`Backend::server_key`]).
//!
//! **One owner, reads from memory.** Opening takes an exclusive lock on `wayfinder.db.lock`
//! beside the file, so one server uses a store file at a time (a second is refused with a
//! clear error; the operating system drops the lock when the process ends, however it
//! ends). That makes the committed objects and tokens safe to keep in memory: they are
//! read once on open into the [`Cache`], and then the committer applies each batch to it
//! after its `COMMIT` succeeds, while it still holds the write lock and before any caller
//! or watcher hears of it.
//!
//! **Writes and group commit.** A decision runs first on a recorded snapshot, outside the
//! write lock, so concurrent writers decide in parallel. Then, holding the one write
//! connection, the write checks whether anything the decision read changed since (in the
//! committed change log or in the open batch) and decides again if so; each write appends
//! to the open `BEGIN IMMEDIATE` transaction inside its own `SAVEPOINT` (a refused or
//! failed write rolls back only that savepoint), hands a ticket to the committer thread and
//! waits. The committer takes the write lock, collects every ticket queued meanwhile,
//! commits once (`synchronous=FULL`: one fsync for the whole batch), applies the batch to
//! the cache and answers every ticket. So a call returns only once its write is on disk,
//! and concurrent writers share fsyncs.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

use super::cache::{Cache, Change, Entry, Recording, Snapshot, strip_resource_version};
use super::{
    Backend, Batch, Committed, EventType, Fence, Leadership, Mutation, ObjectKey, ReadSet, Reads,
    StoreError, TokenRecord, TokenWrite, WatchEvent,
};

/// Change events kept for a watch to replay (in the `events` table and the cache's log).
pub const EVENT_HISTORY: i64 = 10_000;

/// Idle read connections kept for reuse. Objects and tokens are read from memory; these
/// serve only the readiness probe.
const MAX_IDLE_READERS: usize = 4;

/// The SQLite backend; see the module documentation.
pub struct Sqlite {
    path: PathBuf,
    cache: Arc<Cache>,
    /// The exclusive lock on `<store>.lock` that makes this process the file's only user
    /// (the committed objects are kept in memory); released on close.
    owner: Mutex<Option<std::fs::File>>,
    /// Idle read connections; `None` once closed.
    readers: Mutex<Option<Vec<Connection>>>,
    /// The one write connection and the transaction being filled.
    writer: Arc<Mutex<WriteState>>,
    /// The committer thread, joined on close.
    committer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Keeps leadership receivers open: with one owner of the file, leadership is never
    /// lost.
    leading: tokio::sync::watch::Sender<bool>,
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        if let Err(e) = self.shut() {
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
    /// Changes of the open transaction, applied to the cache once it commits.
    pending: Writes,
    /// Set when the open transaction had to be abandoned with writes in it: the
    /// committer answers their tickets with this error.
    abandoned: Option<Arc<rusqlite::Error>>,
    /// Where tickets go; `None` once the store is closing.
    tickets: Option<mpsc::Sender<Ticket>>,
}

/// The writes of a transaction: objects, and tokens.
#[derive(Default)]
struct Writes {
    objects: Vec<Change>,
    tokens: Vec<TokenWrite>,
}

/// A request to make the open transaction durable; answered after the `COMMIT`.
struct Ticket {
    reply: mpsc::SyncSender<Result<(), Arc<rusqlite::Error>>>,
}

impl Sqlite {
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
        let cache = Arc::new(load(&conn)?);
        let (tickets, queue) = mpsc::channel();
        let writer = Arc::new(Mutex::new(WriteState {
            conn: Some(conn),
            open: false,
            appended: 0,
            pending: Writes::default(),
            abandoned: None,
            tickets: Some(tickets),
        }));
        let committer = {
            let writer = Arc::clone(&writer);
            let cache = Arc::clone(&cache);
            std::thread::Builder::new()
                .name("wayfinder-store-commit".into())
                .spawn(move || commit_loop(&writer, &queue, &cache))
                .map_err(StoreError::Thread)?
        };
        Ok(Self {
            path: path.to_path_buf(),
            cache,
            owner: Mutex::new(Some(owner)),
            readers: Mutex::new(Some(Vec::new())),
            writer,
            committer: Mutex::new(Some(committer)),
            leading: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a read connection (WAL readers see only committed data).
    pub fn read<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let pooled = {
            let mut readers = lock(&self.readers);
            readers.as_mut().ok_or(StoreError::Closed)?.pop()
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path).map_err(|source| StoreError::Open {
                path: self.path.clone(),
                source,
            })?,
        };
        let out = f(&mut conn);
        let mut readers = lock(&self.readers);
        if let Some(idle) = readers.as_mut()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
        out
    }

    /// The group commit. Runs `f` inside a savepoint of the open batch transaction (so a
    /// refused or failed write undoes only its own), then waits until the committer has
    /// made the batch durable. `f` answering `None` keeps nothing.
    fn batched<R>(
        &self,
        f: impl FnOnce(&Connection, &Writes) -> Result<Option<(R, Writes)>, StoreError>,
    ) -> Result<Option<R>, StoreError> {
        let (out, done) = {
            let mut guard = lock(&self.writer);
            let st = &mut *guard;
            let Some(tickets) = st.tickets.clone() else {
                return Err(StoreError::Closed);
            };
            let conn = st.conn.as_ref().ok_or(StoreError::Closed)?;
            if !st.open {
                conn.execute_batch("BEGIN IMMEDIATE")?;
                st.open = true;
            }
            conn.execute_batch("SAVEPOINT mutation")?;
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(conn, &st.pending)));
            let keep = matches!(outcome, Ok(Ok(Some(_))));
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
                st.pending = Writes::default();
                let e = Arc::new(e);
                if st.appended > 0 {
                    st.abandoned = Some(Arc::clone(&e));
                }
                return Err(StoreError::Commit(e));
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
                Ok(Ok(None)) => return Ok(None),
                Ok(Ok(Some((out, writes)))) => {
                    st.pending.objects.extend(writes.objects);
                    st.pending.tokens.extend(writes.tokens);
                    out
                }
            };
            let (reply, done) = mpsc::sync_channel(1);
            st.appended += 1;
            // Sent while the write lock is held: the committer drains tickets only after
            // taking the lock, so a ticket is always answered by the commit of the
            // transaction its writes went into.
            if tickets.send(Ticket { reply }).is_err() {
                return Err(StoreError::Closed);
            }
            (out, done)
        };
        match done.recv() {
            Ok(Ok(())) => Ok(Some(out)),
            Ok(Err(e)) => Err(StoreError::Commit(e)),
            Err(_) => Err(StoreError::Closed),
        }
    }

    fn shut(&self) -> Result<(), StoreError> {
        // Stop taking writes; the committer commits what was appended and exits.
        lock(&self.writer).tickets = None;
        let committer = lock(&self.committer).take();
        if let Some(handle) = committer
            && handle.join().is_err()
        {
            tracing::error!(store = %self.path.display(), "the store's committer thread panicked");
        }
        self.cache.close();
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

impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    fn barrier(&self) -> Result<(), StoreError> {
        // One owner: every acknowledged write is in the cache before it is acknowledged.
        self.cache.snapshot().map(|_| ())
    }

    fn commit(
        &self,
        dry_run: bool,
        _fence: Option<&Fence>,
        decide: &mut dyn FnMut(&dyn Reads, &ReadSet) -> Option<Batch>,
    ) -> Result<Option<Committed>, StoreError> {
        // Decided on a snapshot outside the write lock, and again inside it only if
        // something it read has changed since.
        let recording = Recording::new(self.cache.snapshot()?);
        let decided = decide(&recording, &recording.read_set());
        let read = recording.into_read_set();
        let Some(decided) = decided else {
            return Ok(None);
        };
        if dry_run {
            let versions = (1..=decided.objects.len() as i64)
                .map(|i| read.at + i)
                .collect();
            return Ok(Some(Committed {
                versions,
                at: read.at,
            }));
        }
        let cache = Arc::clone(&self.cache);
        self.batched(move |conn, pending| {
            let base = cache.snapshot()?;
            let changed = read.tokens
                || cache.changed_since(&read)?.unwrap_or(true)
                || pending
                    .objects
                    .iter()
                    .any(|c| c.event_type.is_some() && read.covers(&c.key));
            let mut view = base;
            view.apply(&pending.objects, &pending.tokens);
            let batch = if changed {
                match decide(&view, &read) {
                    Some(b) => b,
                    None => return Ok(None),
                }
            } else {
                decided
            };
            let mut writes = Writes::default();
            let mut at = view.resource_version();
            let mut versions = Vec::with_capacity(batch.objects.len());
            for (key, mutation) in batch.objects {
                // As the batch so far leaves it.
                let existed = match writes
                    .objects
                    .iter()
                    .rev()
                    .find(|c| c.key == key && c.event_type.is_some())
                {
                    Some(c) => c.object.is_some(),
                    None => view.object(&key).is_some(),
                };
                at += 1;
                versions.push(at);
                writes
                    .objects
                    .push(write_object(conn, &key, mutation, at, existed)?);
            }
            for token in batch.tokens {
                write_token(conn, &token)?;
                writes.tokens.push(token);
            }
            Ok(Some((Committed { versions, at }, writes)))
        })
    }

    fn server_key(
        &self,
        name: &str,
        create: &mut dyn FnMut() -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.batched(|c, _| {
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
            Ok(Some((value, Writes::default())))
        })?;
        Ok(value.flatten())
    }

    fn campaign(&self, _role: &str) -> Result<Leadership, StoreError> {
        // One server owns the file: it leads every role, and never loses it.
        Ok(Leadership {
            fence: None,
            lost: self.leading.subscribe(),
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT 1")?
                .query_row([], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
    }

    fn close(&self) -> Result<(), StoreError> {
        self.shut()
    }
}

/// What the file holds, read once on open: the objects, the tokens and the kept events.
fn load(conn: &Connection) -> Result<Cache, StoreError> {
    let at = current_rv(conn)?;
    let mut objects = Vec::new();
    {
        // Kept as the stored JSON, checked to parse (without building it).
        let mut stmt = conn.prepare(
            "SELECT api_group, kind, namespace, name, body, resource_version, generation, uid, created
             FROM objects ORDER BY api_group, kind, namespace, name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                key_at(r, 0)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
            ))
        })?;
        for row in rows {
            let (key, body, rv, generation, uid, created) = row?;
            serde_json::from_str::<serde::de::IgnoredAny>(&body).map_err(|source| {
                StoreError::Corrupt {
                    key: key.to_string(),
                    source,
                }
            })?;
            objects.push((key, Entry::from_raw(body, rv, generation, uid, created)));
        }
    }
    let mut tokens = Vec::new();
    {
        let mut stmt =
            conn.prepare("SELECT hash, subject, roles, created, minted_by FROM tokens")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (hash, subject, roles, created, minted_by) = row?;
            let roles: Vec<String> =
                serde_json::from_str(&roles).map_err(|source| StoreError::Corrupt {
                    key: format!("token of {subject}"),
                    source,
                })?;
            tokens.push((
                hash,
                TokenRecord {
                    subject,
                    roles,
                    created,
                    minted_by,
                },
            ));
        }
    }
    let mut history = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT resource_version, api_group, kind, namespace, name, type FROM events
             ORDER BY resource_version",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, key_at(r, 1)?, r.get::<_, String>(5)?))
        })?;
        for row in rows {
            let (resource_version, key, ty) = row?;
            let event_type = EventType::parse(&ty).ok_or_else(|| StoreError::CorruptEvent {
                resource_version,
                found: ty.clone(),
            })?;
            history.push(WatchEvent {
                event_type,
                key,
                resource_version,
            });
        }
    }
    // Events are numbered without gaps: the log reaches back to just before the oldest
    // kept (with none kept, to now).
    let floor = history.first().map_or(at, |e| e.resource_version - 1);
    let snapshot = Snapshot::from_entries(at, objects, tokens);
    Ok(Cache::new(snapshot, history, floor))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock was held left no savepoint open (see `Sqlite::batched`), so the
    // state is still sound.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The committer: takes a ticket, then the write lock, drains every other ticket (all of
/// them belong to the open transaction), commits once, applies the batch to the cache and
/// answers every ticket with the commit's result.
fn commit_loop(writer: &Mutex<WriteState>, queue: &mpsc::Receiver<Ticket>, cache: &Cache) {
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
        let writes = std::mem::take(&mut st.pending);
        if result.is_ok() {
            // Under the write lock, so the next transaction reads what this one committed;
            // and before anyone hears of the commit, so a write's caller and a watcher told
            // of it read it back.
            cache.apply(&writes.objects, &writes.tokens);
        }
        drop(st);
        if let Err(e) = &result {
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

/// Writes `mutation` of `key` at resource version `rv` (its body without
/// `metadata.resourceVersion`): the change, for the cache.
fn write_object(
    conn: &Connection,
    key: &ObjectKey,
    mutation: Mutation,
    rv: i64,
    existed: bool,
) -> Result<Change, StoreError> {
    let (event_type, object) = match mutation {
        Mutation::Put(mut row) => {
            strip_resource_version(&mut row.body);
            let body = row.body.to_string();
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
                body,
                rv,
                row.generation,
                row.uid,
                row.created,
            ])?;
            let event = if existed {
                EventType::Modified
            } else {
                EventType::Added
            };
            let entry = Entry::from_raw(body, rv, row.generation, row.uid, row.created);
            (Some(event), Some(entry))
        }
        Mutation::Delete => {
            let n = conn
                .prepare_cached(
                    "DELETE FROM objects
                     WHERE api_group = ?1 AND kind = ?2 AND namespace = ?3 AND name = ?4",
                )?
                .execute(params![key.group, key.kind, key.namespace, key.name])?;
            ((n > 0).then_some(EventType::Deleted), None)
        }
    };
    conn.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'resource_version'")?
        .execute(params![rv])?;
    if let Some(t) = event_type {
        conn.prepare_cached(
            "INSERT INTO events (resource_version, api_group, kind, namespace, name, type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            rv,
            key.group,
            key.kind,
            key.namespace,
            key.name,
            t.as_str()
        ])?;
    }
    Ok(Change {
        key: key.clone(),
        resource_version: rv,
        event_type,
        object,
    })
}

fn write_token(conn: &Connection, write: &TokenWrite) -> Result<(), StoreError> {
    match write {
        TokenWrite::Put { hash, record } => {
            let roles = serde_json::to_string(&record.roles).unwrap_or_else(|_| "[]".into());
            conn.prepare_cached(
                "INSERT OR REPLACE INTO tokens (hash, subject, roles, created, minted_by)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                hash,
                record.subject,
                roles,
                record.created,
                record.minted_by
            ])?;
        }
        TokenWrite::Delete { hash } => {
            conn.prepare_cached("DELETE FROM tokens WHERE hash = ?1")?
                .execute(params![hash])?;
        }
    }
    Ok(())
}

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

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // No memory map: objects are read from the cache, once, when the store opens; the
    // file's pages need not stay resident.
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

/// `AND …` conditions on the key columns for the parts of `filter` that are set, and
/// their values in order: only those, so SQLite walks the primary key
/// (api_group, kind, namespace, name) instead of scanning every object.
#[cfg(test)]
fn key_conditions(filter: &super::ListFilter) -> (String, Vec<&str>) {
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

/// The rows matching `filter` with the counter they were read at, read from the file (for
/// tests comparing it with the cache).
#[cfg(test)]
fn list_rows(c: &Connection, filter: &super::ListFilter) -> Result<super::Listing, StoreError> {
    use super::cache::set_resource_version;
    use super::{Listing, StoredObject};
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
        let mut body = parse_body(&key, &body)?;
        // The column is the version, whatever an older server left in the body.
        set_resource_version(&mut body, resource_version);
        let object = StoredObject {
            body,
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

#[cfg(test)]
fn parse_body(key: &ObjectKey, body: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        key: key.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{ListFilter, Precondition, Store};
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::platform(&wayfinder_model::kinds::COMPUTE_TEMPLATE, name)
    }

    fn put(body: serde_json::Value) -> Mutation {
        Mutation::Put(super::super::NewRow {
            body,
            generation: 1,
            uid: "u".into(),
            created: "2025-01-01T00:00:00Z".into(),
        })
    }

    fn open(path: &Path) -> (Store, Arc<Sqlite>) {
        let backend = Arc::new(Sqlite::open(path).unwrap());
        (Store::with_backend(backend.clone()), backend)
    }

    #[test]
    fn reopening_keeps_data_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        {
            let store = Store::open_sqlite(&path).unwrap();
            store
                .put_token(
                    "h",
                    TokenRecord::new("admin", &["admin"], "2025-01-01T00:00:00Z"),
                )
                .unwrap();
            store.close().unwrap();
            assert!(matches!(store.get(&key("a")), Err(StoreError::Closed)));
        }
        let store = Store::open_sqlite(&path).unwrap();
        assert_eq!(
            store.token("h").unwrap(),
            Some(TokenRecord::new(
                "admin",
                &["admin"],
                "2025-01-01T00:00:00Z"
            ))
        );
        assert_eq!(store.count_tokens("admin").unwrap(), 1);
        store.close().unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open_sqlite(&path).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn bodies_are_stored_without_their_resource_version_and_the_column_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let (store, backend) = open(&path);
        let rv = store
            .compare_and_swap(
                &key("a"),
                Precondition::Absent,
                put(json!({"metadata": {"name": "a", "resourceVersion": "999"}})),
            )
            .unwrap();
        let stored: String = backend
            .read(|c| Ok(c.query_row("SELECT body FROM objects", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(stored, r#"{"metadata":{"name":"a"}}"#);
        let got = store.get(&key("a")).unwrap().unwrap();
        assert_eq!(
            got.body["metadata"]["resourceVersion"],
            json!(rv.to_string())
        );
        store.close().unwrap();
        drop((store, backend));
        // A body an older server wrote with its version in it: the column wins.
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            r#"UPDATE objects SET body = '{"metadata":{"name":"a","resourceVersion":"5"}}', resource_version = 7"#,
            [],
        )
        .unwrap();
        drop(conn);
        let store = Store::open_sqlite(&path).unwrap();
        let got = store.get(&key("a")).unwrap().unwrap();
        assert_eq!(got.resource_version, 7);
        assert_eq!(got.body["metadata"]["resourceVersion"], json!("7"));
    }

    #[test]
    fn a_decision_is_made_again_inside_the_write_only_when_what_it_read_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_sqlite(&dir.path().join("w.db")).unwrap());
        store
            .compare_and_swap(&key("plan"), Precondition::Absent, put(json!({})))
            .unwrap();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let gate = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                gate.wait();
                store
                    .compare_and_swap(
                        &key("plan"),
                        Precondition::ResourceVersion(1),
                        put(json!({"v": 2})),
                    )
                    .unwrap();
                gate.wait();
            });
            store
                .commit::<_, StoreError>(false, None, |r| {
                    let n = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let plan = r.get(&key("plan"))?.unwrap();
                    if n == 0 {
                        // The plan changes between the decision and its commit.
                        gate.wait();
                        gate.wait();
                    }
                    let mut batch = Batch::default();
                    batch.objects.push((key("copy"), put(plan.body.clone())));
                    Ok((batch, ()))
                })
                .unwrap();
            writer.join().unwrap();
        });
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
        let copy = store.get(&key("copy")).unwrap().unwrap();
        assert_eq!(copy.body["v"], json!(2), "decided on what commits with it");
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
            let (store, backend) = open(&path);
            let store = Arc::new(store);
            let chunks: Vec<Vec<(u8, u8, u8)>> = ops.chunks(8).map(<[_]>::to_vec).collect();
            std::thread::scope(|scope| {
                for chunk in chunks {
                    let store = Arc::clone(&store);
                    scope.spawn(move || {
                        for (op, name, value) in chunk {
                            let k = key(&format!("o{name}"));
                            let _ = store.mutate::<_, StoreError>(&k, op == 3, |current| {
                                match op {
                                    0 | 3 => Ok((put(json!({"v": value})), ())),
                                    1 if current.is_some() => Ok((Mutation::Delete, ())),
                                    _ => Err(StoreError::Closed),
                                }
                            });
                        }
                    });
                }
            });
            let in_memory = store.list_filtered(&ListFilter::default()).unwrap();
            let also = backend
                .read(|c| list_rows(c, &ListFilter::default()))
                .unwrap();
            proptest::prop_assert_eq!(&in_memory, &also);
            store.close().unwrap();
            drop(store);
            drop(backend);
            let reopened = Store::open_sqlite(&path).unwrap();
            proptest::prop_assert_eq!(in_memory, reopened.list_filtered(&ListFilter::default()).unwrap());
        }
    }

    #[test]
    fn a_second_store_on_the_same_file_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let first = Store::open_sqlite(&path).unwrap();
        let err = Store::open_sqlite(&path).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("in use by another wayfinder-server")
                && message.contains("--data-dir"),
            "{message}"
        );
        first.close().unwrap();
        Store::open_sqlite(&path).unwrap().close().unwrap();
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
        let store = Store::open_sqlite(&path).unwrap();
        let token = store.token("h").unwrap().unwrap();
        assert_eq!(token.minted_by, "");
        assert_eq!(token.created, "now");
        let mut record = token.clone();
        record.minted_by = "accesstoken/aa/parent".into();
        store.put_token("h", record).unwrap();
        assert_eq!(
            store.tokens_minted_by("accesstoken/aa/parent").unwrap(),
            ["accesstoken/aa/t"]
        );
        store.close().unwrap();
        let store = Store::open_sqlite(&path).unwrap();
        assert_eq!(
            store.tokens_minted_by("accesstoken/aa/parent").unwrap(),
            ["accesstoken/aa/t"],
            "the maker is stored, not only kept in memory"
        );
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
        let (_store, backend) = open(&path);
        let indexes: i64 = backend
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

    #[test]
    fn the_kept_events_survive_a_restart_and_bound_how_far_back_a_watch_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open_sqlite(&path).unwrap();
        for n in ["a", "b", "c"] {
            store
                .compare_and_swap(&key(n), Precondition::Absent, put(json!({})))
                .unwrap();
        }
        store.close().unwrap();
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.execute("DELETE FROM events WHERE resource_version <= 2", [])
            .unwrap();
        drop(conn);
        let store = Store::open_sqlite(&path).unwrap();
        assert!(matches!(
            store.watch_changes(0, ListFilter::default()),
            Err(StoreError::Compacted { oldest: 2, .. })
        ));
        assert!(store.watch_changes(2, ListFilter::default()).is_ok());
    }
}
