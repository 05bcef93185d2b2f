//! Leader election: a key per candidate under `/e/{role}/`, attached to a lease kept alive;
//! the candidate whose key was created first leads. Leases are not mutual exclusion (a
//! paused leader can outlive its lease): every write of a leader carries its fence,
//! [`Leadership::fence`], in the commit's [`crate::Guard`].

use std::time::Duration;

use etcd_client::{GetOptions, PutOptions, SortOrder, SortTarget};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Error, Etcd, txn};

/// This process leads `role` while `lost` reads `false`.
#[derive(Debug)]
pub struct Leadership {
    /// The election key (relative to the prefix).
    pub key: String,
    /// Its create revision: the fence is `create_revision_eq(key, create_revision)`.
    pub create_revision: i64,
    /// The lease the key is attached to.
    pub lease: i64,
    /// Turns `true` when the leadership is lost (the key is gone, or the lease could not be
    /// kept alive for its TTL); then stop acting as leader and campaign again.
    pub lost: watch::Receiver<bool>,
    etcd: Etcd,
    keeper: JoinHandle<()>,
}

impl Leadership {
    /// The fence for the leader's commits: `Guard.create_revision_eq.push(fence)`.
    pub fn fence(&self) -> (String, i64) {
        (self.key.clone(), self.create_revision)
    }

    /// Whether the leadership is known lost.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Gives leadership up at once: the lease is revoked, which deletes the key, and the
    /// next candidate leads.
    pub async fn resign(self) -> Result<(), Error> {
        self.keeper.abort();
        let lease = self.lease;
        self.etcd
            .run(true, |c| async move {
                c.lease_client().revoke(lease).await.map(|_| ())
            })
            .await
            .or_else(|e| match e {
                // Already expired: nothing left to give up.
                Error::Rejected { reason, .. } if reason.contains("not found") => Ok(()),
                other => Err(other),
            })
    }
}

impl Drop for Leadership {
    /// Stops keeping the lease alive without revoking it, as a crashed process would: the
    /// lease expires after its TTL and the next candidate leads then.
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

impl Etcd {
    /// Blocks until this candidate leads `role` (TTL `ttl`, at least 2 s — etcd raises
    /// shorter TTLs). A leader that stops keeping its lease alive (a crash) is replaced
    /// within about the TTL (up to twice it if etcd's own leader changes meanwhile, as
    /// etcd 3.4 without lease checkpoints restarts TTLs then).
    pub async fn campaign(&self, role: &str, ttl: Duration) -> Result<Leadership, Error> {
        let ttl_secs = ttl.as_secs().max(2) as i64;
        loop {
            let lease = self
                .run(true, |c| async move {
                    c.lease_client().grant(ttl_secs, None).await.map(|r| r.id())
                })
                .await?;
            let key = format!("/e/{role}/{lease:016x}");
            let full = self.full(&key);
            // Writing the same key with the same lease again is harmless: a put is safe
            // to repeat here.
            let put = self
                .run(true, |c| {
                    let full = full.clone();
                    async move {
                        c.kv_client()
                            .put(full, Vec::new(), Some(PutOptions::new().with_lease(lease)))
                            .await
                    }
                })
                .await;
            put?;
            // The key is written: from now on the keeper keeps its lease alive (a TTL of
            // at least 2 s leaves ample time for this) and watches that it stays.
            let (lost_tx, lost) = watch::channel(false);
            let keeper = tokio::spawn(keep_alive(
                self.clone(),
                lease,
                Duration::from_secs(ttl_secs as u64),
                key.clone(),
                lost_tx,
            ));
            let mine = match self.get(&key).await {
                Ok(Some(mine)) => mine,
                Ok(None) => {
                    keeper.abort();
                    continue;
                }
                Err(e) => {
                    keeper.abort();
                    return Err(e);
                }
            };
            let leadership = Leadership {
                key: key.clone(),
                create_revision: mine.create_revision,
                lease,
                lost,
                etcd: self.clone(),
                keeper,
            };
            match self.wait_for_turn(role, &leadership).await {
                Ok(()) => return Ok(leadership),
                // Our lease ran out while waiting: start again with a new one.
                Err(Error::LeaseLost { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until no candidate of `role` created its key before ours.
    async fn wait_for_turn(&self, role: &str, mine: &Leadership) -> Result<(), Error> {
        let prefix = self.full(&format!("/e/{role}/"));
        let end = self.full(&txn::prefix_end(&format!("/e/{role}/")));
        let mut lost = mine.lost.clone();
        loop {
            if *lost.borrow() {
                return Err(Error::LeaseLost {
                    key: mine.key.clone(),
                    lease: mine.lease,
                });
            }
            let before = mine.create_revision - 1;
            let r = self
                .run(true, |c| {
                    let (prefix, end) = (prefix.clone(), end.clone());
                    async move {
                        c.kv_client()
                            .get(
                                prefix,
                                Some(
                                    GetOptions::new()
                                        .with_range(end)
                                        .with_max_create_revision(before)
                                        .with_sort(SortTarget::Create, SortOrder::Descend)
                                        .with_limit(1),
                                ),
                            )
                            .await
                    }
                })
                .await?;
            let Some(ahead) = r.kvs().first() else {
                // Still ours? (A lease that expired meanwhile took the key with it.)
                return match self.get(&mine.key).await? {
                    Some(kv) if kv.create_revision == mine.create_revision => Ok(()),
                    _ => Err(Error::LeaseLost {
                        key: mine.key.clone(),
                        lease: mine.lease,
                    }),
                };
            };
            // Wait for the candidate just ahead to go (a delete), re-checking now and then.
            let ahead_key = ahead.key().to_vec();
            let mut ahead_end = ahead_key.clone();
            ahead_end.push(0);
            let from = r.header().map_or(0, |h| h.revision()) + 1;
            let mut w = self.watch_range(ahead_key, ahead_end, from);
            let recheck = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(recheck);
            loop {
                tokio::select! {
                    b = w.next() => match b {
                        Some(Ok(b)) if b.events.iter().any(|e| e.kind == crate::EventKind::Delete) => break,
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => break,
                    },
                    _ = &mut recheck => break,
                    _ = lost.changed() => break,
                }
            }
        }
    }
}

/// Keeps `lease` alive every third of its TTL, re-checking that `key` still exists; sets
/// `lost` once the key is gone or no keep-alive succeeded for a whole TTL.
async fn keep_alive(etcd: Etcd, lease: i64, ttl: Duration, key: String, lost: watch::Sender<bool>) {
    let period = ttl / 3;
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(period).await;
        let left = ttl.saturating_sub(last_ok.elapsed());
        let renewed = etcd
            .run_within(true, period.min(left), left, |c| async move {
                let (mut keeper, mut stream) = c.lease_client().keep_alive(lease).await?;
                keeper.keep_alive().await?;
                let resp = stream.message().await?;
                Ok(resp.map_or(0, |r| r.ttl()))
            })
            .await;
        match renewed {
            Ok(remaining) if remaining > 0 => last_ok = Instant::now(),
            Ok(_) => {
                tracing::warn!(key, lease, "etcd lease expired: leadership lost");
                let _ = lost.send(true);
                return;
            }
            Err(e) => tracing::warn!(key, lease, error = %e, "etcd lease keep-alive failed"),
        }
        if last_ok.elapsed() >= ttl {
            tracing::warn!(
                key,
                lease,
                "etcd lease not kept alive for its TTL: leadership lost"
            );
            let _ = lost.send(true);
            return;
        }
        // Re-check the key itself (a revoked lease, a deleted key).
        if let Ok(None) = etcd.get(&key).await {
            tracing::warn!(key, lease, "etcd election key gone: leadership lost");
            let _ = lost.send(true);
            return;
        }
    }
}
