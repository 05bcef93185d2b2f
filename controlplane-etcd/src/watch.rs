//! [`Etcd::watch`]: a prefix watch grouped by revision and resumed on another endpoint.

use std::sync::atomic::Ordering;
use std::time::Duration;

use etcd_client::{EventType, WatchOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{Failure, classify};
use crate::{Error, Etcd, txn};

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change of one key. A delete has an empty value and create revision 0; its mod
/// revision is the delete's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
}

/// Every event of one revision (so every write of one txn), in etcd's order; or, with no
/// events, a progress notification: nothing under the prefix changed up to `revision`.
/// Progress is a hint only: etcd before 3.4.25 could send it before an event of its own
/// revision (etcd#15220).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub revision: i64,
    pub events: Vec<Event>,
}

/// A running watch: [`Watch::next`] yields batches in revision order with no gap, across
/// member failures, until an error ends it ([`Error::Compacted`]: relist and watch again;
/// [`Error::Unavailable`]: no endpoint for the total deadline). Dropping it stops it.
pub struct Watch {
    rx: mpsc::Receiver<Result<Batch, Error>>,
    progress: mpsc::Sender<()>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// The next batch; `None` once the watch has ended (after its error).
    pub async fn next(&mut self) -> Option<Result<Batch, Error>> {
        self.rx.recv().await
    }

    /// Asks etcd for a progress notification (an empty [`Batch`]); an optimisation for a
    /// cache waiting to reach a revision, never needed for correctness.
    pub fn request_progress(&self) {
        let _ = self.progress.try_send(());
    }
}

/// The same batches as [`Watch::next`], as a stream.
impl tokio_stream::Stream for Watch {
    type Item = Result<Batch, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Etcd {
    /// Watches every key under `prefix` from `from_revision` (inclusive; 0 = from now).
    pub fn watch(&self, prefix: &str, from_revision: i64) -> Watch {
        self.watch_range(
            self.full(prefix),
            self.full(&txn::prefix_end(prefix)),
            from_revision,
        )
    }

    pub(crate) fn watch_range(&self, start: Vec<u8>, end: Vec<u8>, from_revision: i64) -> Watch {
        let (tx, rx) = mpsc::channel(256);
        let (progress, progress_rx) = mpsc::channel(4);
        let etcd = self.clone();
        let task = tokio::spawn(async move {
            let result = etcd
                .run_watch(start, end, from_revision, &tx, progress_rx)
                .await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        Watch { rx, progress, task }
    }

    async fn run_watch(
        &self,
        start: Vec<u8>,
        end: Vec<u8>,
        from_revision: i64,
        tx: &mpsc::Sender<Result<Batch, Error>>,
        mut progress: mpsc::Receiver<()>,
    ) -> Result<(), Error> {
        let members = &self.inner.members;
        let n = members.len();
        let total = self.inner.timeouts.total;
        // The first revision not yet delivered (0 = from now, until the first answer).
        let mut next = from_revision;
        let mut i = self.inner.current.load(Ordering::Relaxed);
        let mut last: Vec<Option<String>> = vec![None; n];
        let mut failing_since: Option<Instant> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some(since) = failing_since
                && since.elapsed() >= total
            {
                return Err(Error::Unavailable {
                    endpoints: self.endpoints(),
                    last: members
                        .iter()
                        .zip(&last)
                        .map(|(m, why)| {
                            format!("{}: {}", m.url, why.as_deref().unwrap_or("not tried"))
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            let member = &members[i];
            let mut options = WatchOptions::new()
                .with_range(end.clone())
                .with_progress_notify();
            if next > 0 {
                options = options.with_start_revision(next);
            }
            let opened = tokio::time::timeout(
                self.inner.timeouts.request,
                member
                    .client
                    .watch_client()
                    .max_decoding_message_size(256 * 1024 * 1024)
                    .watch(start.clone(), Some(options)),
            )
            .await;
            let mut stream = match opened {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    let why = match classify(&member.url, e) {
                        Failure::Final(e) => return Err(e),
                        Failure::NotSent(r) | Failure::Unknown(r) => r,
                    };
                    last[i] = Some(why);
                    failing_since.get_or_insert_with(Instant::now);
                    i = (i + 1) % n;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                    continue;
                }
                Err(_) => {
                    last[i] = Some("watch not opened in time".into());
                    failing_since.get_or_insert_with(Instant::now);
                    i = (i + 1) % n;
                    continue;
                }
            };
            // Read until the stream fails; then resume from `next` elsewhere.
            let why = loop {
                let message = tokio::select! {
                    m = stream.message() => m,
                    Some(()) = progress.recv() => {
                        if let Err(e) = stream.request_progress().await {
                            break format!("progress request: {e}");
                        }
                        continue;
                    }
                };
                let resp = match message {
                    Ok(Some(resp)) => resp,
                    Ok(None) => break "the watch stream ended".to_string(),
                    Err(e) => break format!("{e}"),
                };
                if resp.canceled() {
                    if resp.compact_revision() > 0 {
                        return Err(Error::Compacted {
                            requested: next,
                            compacted: resp.compact_revision(),
                        });
                    }
                    break format!("watch canceled: {}", resp.cancel_reason());
                }
                // An answer: this endpoint works.
                failing_since = None;
                backoff = Duration::from_millis(50);
                let header = resp.header().map_or(0, |h| h.revision());
                if resp.created() && next == 0 {
                    // Watching "from now": now is the header's revision.
                    next = header + 1;
                }
                if resp.events().is_empty() {
                    if !resp.created() && header > 0 && header >= next - 1 {
                        let progress = Batch {
                            revision: header,
                            events: Vec::new(),
                        };
                        if tx.send(Ok(progress)).await.is_err() {
                            return Ok(());
                        }
                    }
                    continue;
                }
                let mut batch: Option<Batch> = None;
                for ev in resp.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let event = Event {
                        kind: match ev.event_type() {
                            EventType::Put => EventKind::Put,
                            EventType::Delete => EventKind::Delete,
                        },
                        key: self.relative(kv.key())?,
                        value: kv.value().to_vec(),
                        create_revision: kv.create_revision(),
                        mod_revision: kv.mod_revision(),
                    };
                    if event.mod_revision < next {
                        // Already delivered before a resume.
                        continue;
                    }
                    match &mut batch {
                        Some(b) if b.revision == event.mod_revision => b.events.push(event),
                        _ => {
                            if let Some(done) = batch.take() {
                                next = done.revision + 1;
                                if tx.send(Ok(done)).await.is_err() {
                                    return Ok(());
                                }
                            }
                            batch = Some(Batch {
                                revision: event.mod_revision,
                                events: vec![event],
                            });
                        }
                    }
                }
                if let Some(done) = batch.take() {
                    next = done.revision + 1;
                    if tx.send(Ok(done)).await.is_err() {
                        return Ok(());
                    }
                }
            };
            tracing::debug!(endpoint = %member.url, %why, next, "etcd watch interrupted; resuming on the next endpoint");
            last[i] = Some(why);
            failing_since.get_or_insert_with(Instant::now);
            i = (i + 1) % n;
            tokio::time::sleep(backoff).await;
        }
    }
}
