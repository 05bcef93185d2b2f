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
//! Every write is one `BEGIN IMMEDIATE` transaction that reads the current row, lets the
//! caller decide ([`Store::mutate`]), writes the row and bumps the counter together.
//!
//! The methods are synchronous; from async code call them through [`Store::run`], which
//! moves the call onto tokio's blocking pool so the runtime is never blocked.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The schema this build writes, and the newest it can read.
pub const SCHEMA_VERSION: i64 = 1;

/// Migrations, in order: `MIGRATIONS[i]` takes `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
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
"#];

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
}

/// Where an object lives: `(group, kind, namespace, name)`; `namespace` is empty for
/// platform-level kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and migrates its schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
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
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        migrate(&mut conn, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(Some(conn)),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
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

    /// Closes the connection (checkpointing the WAL); later calls answer
    /// [`StoreError::Closed`]. Waits for a call in progress to finish first.
    pub fn close(&self) -> Result<(), StoreError> {
        let conn = self.lock().take();
        match conn {
            Some(conn) => conn.close().map_err(|(_, e)| StoreError::Sqlite(e)),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic while the lock was held left no transaction open (dropping a
        // `Transaction` rolls it back), so the connection is still sound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_conn<R, E>(&self, f: impl FnOnce(&mut Connection) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        let mut guard = self.lock();
        let conn = guard.as_mut().ok_or(StoreError::Closed)?;
        f(conn)
    }

    /// The current value of the global resource-version counter.
    pub fn resource_version(&self) -> Result<i64, StoreError> {
        self.with_conn(|c| current_rv(c))
    }

    /// One object, or `None`.
    pub fn get(&self, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
        self.with_conn(|c| get_row(c, key))
    }

    /// Every object of a kind in a namespace (`""` for platform-level kinds), sorted by
    /// name, with the resource version the list was read at.
    pub fn list(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<(i64, Vec<StoredObject>), StoreError> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let rv = current_rv(&tx)?;
            let mut stmt = tx.prepare_cached(
                "SELECT name, body, resource_version, generation, uid, created FROM objects
                 WHERE api_group = ?1 AND kind = ?2 AND namespace = ?3 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![group, kind, namespace], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (name, body, resource_version, generation, uid, created) = row?;
                let key = ObjectKey {
                    group: group.to_string(),
                    kind: kind.to_string(),
                    namespace: namespace.to_string(),
                    name,
                };
                out.push(StoredObject {
                    body: parse_body(&key, &body)?,
                    resource_version,
                    generation,
                    uid,
                    created,
                });
            }
            drop(stmt);
            tx.finish()?;
            Ok((rv, out))
        })
    }

    /// The one way objects are written. In one `BEGIN IMMEDIATE` transaction: reads the
    /// current row of `key`, calls `decide(current, next_resource_version)`, and applies the
    /// [`Mutation`] it returns together with bumping the global counter to
    /// `next_resource_version`. When `decide` fails nothing is written and its error is
    /// returned. With `dry_run` everything runs the same and the transaction is rolled back,
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
        self.with_conn(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let current = get_row(&tx, key)?;
            let next = current_rv(&tx)? + 1;
            let (mutation, out) = decide(current, next)?;
            let write = || -> Result<(), StoreError> {
                match &mutation {
                    Mutation::Put(row) => {
                        tx.prepare_cached(
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
                    }
                    Mutation::Delete => {
                        tx.prepare_cached(
                            "DELETE FROM objects
                             WHERE api_group = ?1 AND kind = ?2 AND namespace = ?3 AND name = ?4",
                        )?
                        .execute(params![key.group, key.kind, key.namespace, key.name])?;
                    }
                }
                tx.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'resource_version'")?
                    .execute(params![next])?;
                Ok(())
            };
            write()?;
            if dry_run {
                tx.rollback().map_err(StoreError::from)?;
            } else {
                tx.commit().map_err(StoreError::from)?;
            }
            Ok(out)
        })
    }

    /// The owner of a token, looked up by the token's SHA-256 hash (hex).
    pub fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.with_conn(|c| {
            let row: Option<(String, String)> = c
                .prepare_cached("SELECT subject, roles FROM tokens WHERE hash = ?1")?
                .query_row(params![hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match row {
                None => Ok(None),
                Some((subject, roles)) => {
                    let roles: Vec<String> =
                        serde_json::from_str(&roles).map_err(|source| StoreError::Corrupt {
                            key: format!("token of {subject}"),
                            source,
                        })?;
                    Ok(Some(TokenRecord { subject, roles }))
                }
            }
        })
    }

    /// How many tokens a subject has.
    pub fn count_tokens(&self, subject: &str) -> Result<i64, StoreError> {
        self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM tokens WHERE subject = ?1")?
                    .query_row(params![subject], |r| r.get(0))?,
            )
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
        let roles = serde_json::to_string(roles).unwrap_or_else(|_| "[]".to_string());
        self.with_conn(|c| {
            c.prepare_cached(
                "INSERT INTO tokens (hash, subject, roles, created) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![hash, subject, roles, created])?;
            Ok(())
        })
    }

    /// Revokes every token of a subject; returns how many there were.
    pub fn delete_tokens(&self, subject: &str) -> Result<usize, StoreError> {
        self.with_conn(|c| {
            Ok(c.prepare_cached("DELETE FROM tokens WHERE subject = ?1")?
                .execute(params![subject])?)
        })
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

fn get_row(c: &Connection, key: &ObjectKey) -> Result<Option<StoredObject>, StoreError> {
    let row: Option<(String, i64, i64, String, String)> = c
        .prepare_cached(
            "SELECT body, resource_version, generation, uid, created FROM objects
             WHERE api_group = ?1 AND kind = ?2 AND namespace = ?3 AND name = ?4",
        )?
        .query_row(params![key.group, key.kind, key.namespace, key.name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    row.map(|(body, resource_version, generation, uid, created)| {
        Ok(StoredObject {
            body: parse_body(key, &body)?,
            resource_version,
            generation,
            uid,
            created,
        })
    })
    .transpose()
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
}
