//! Bounded history: every interval one replica compacts etcd to `current - keep`, chosen by a
//! compare-and-swap on the version of `{prefix}/compact` (as kube-apiserver's compactor
//! does): each replica swaps from the version it saw at its previous tick, so after one
//! replica has compacted in an interval the others' swaps fail until the next.

use std::time::Duration;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::task::JoinHandle;

use crate::{Error, Etcd};

/// Revisions kept by default (the SQLite store's event history is as long).
pub const DEFAULT_KEEP_REVISIONS: i64 = 10_000;

/// The compactor's key, relative to the prefix.
const COMPACT_KEY: &str = "/compact";

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactStep {
    /// The compact key's version after the tick: the next tick swaps from it.
    pub version: i64,
    /// The revision compacted to, when this replica compacted.
    pub compacted: Option<i64>,
}

/// A background compactor; stops when dropped.
#[derive(Debug)]
pub struct Compactor {
    task: JoinHandle<()>,
}

impl Compactor {
    /// Compacts every `interval`, keeping at least `keep` revisions.
    pub fn spawn(etcd: Etcd, interval: Duration, keep: i64) -> Compactor {
        let task = tokio::spawn(async move {
            let mut seen = 0;
            loop {
                tokio::time::sleep(interval).await;
                match etcd.compact_step(seen, keep).await {
                    Ok(step) => {
                        seen = step.version;
                        if let Some(rev) = step.compacted {
                            tracing::info!(revision = rev, "etcd compacted");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "etcd compaction failed"),
                }
            }
        });
        Compactor { task }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Etcd {
    /// One tick of the compactor: swap the compact key from version `seen` (0: absent) to
    /// `current - keep`, and compact to that revision only when the swap succeeded (another
    /// replica swapped first in this interval otherwise; the answer's version is the one to
    /// swap from next time).
    pub async fn compact_step(&self, seen: i64, keep: i64) -> Result<CompactStep, Error> {
        let key = self.full(COMPACT_KEY);
        let current = self.current_revision().await?;
        let target = current - keep;
        let txn = Txn::new()
            .when([Compare::version(key.clone(), CompareOp::Equal, seen)])
            .and_then([TxnOp::put(
                key.clone(),
                target.max(0).to_string(),
                None::<PutOptions>,
            )])
            .or_else([TxnOp::get(key.clone(), None)]);
        // Safe to repeat: a second attempt only fails its compare.
        let r = self
            .run(true, |c| {
                let txn = txn.clone();
                async move { c.kv_client().txn(txn).await }
            })
            .await?;
        if !r.succeeded() {
            let version = r
                .op_responses()
                .into_iter()
                .find_map(|op| match op {
                    TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.version()),
                    _ => None,
                })
                .unwrap_or(0);
            return Ok(CompactStep {
                version,
                compacted: None,
            });
        }
        let version = seen + 1;
        if target <= 1 {
            return Ok(CompactStep {
                version,
                compacted: None,
            });
        }
        self.compact(target).await?;
        Ok(CompactStep {
            version,
            compacted: Some(target),
        })
    }
}
