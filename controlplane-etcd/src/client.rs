//! [`Etcd`]: one client per endpoint, requests moved to the next endpoint when one could not
//! be sent, reads, and guarded commits.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, SortOrder, SortTarget, TlsOptions,
    TxnOpResponse,
};
use tokio::time::Instant;

use crate::txn::{self, Commit, Guard, Op, Probe};
use crate::{Config, Error, Timeouts};

/// Largest response accepted (a page of a list, a watch response). etcd caps a request at
/// 1.5 MiB but a range answer can hold many values.
const MAX_DECODING_BYTES: usize = 256 * 1024 * 1024;

/// Keys per page of [`Etcd::get_all`].
const PAGE: i64 = 500;

/// One stored key: its key relative to the prefix, its value, and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
}

/// A connection to an etcd cluster under one key prefix. Cheap to clone (shared).
#[derive(Clone)]
pub struct Etcd {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints())
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

pub(crate) struct Inner {
    pub members: Vec<Member>,
    /// The endpoint the last successful request went to; requests start there.
    pub current: AtomicUsize,
    pub prefix: String,
    pub timeouts: Timeouts,
}

pub(crate) struct Member {
    pub url: String,
    pub client: Client,
}

/// Why one attempt on one endpoint failed.
pub(crate) enum Failure {
    /// The request did not reach etcd's state machine: send it to another endpoint.
    NotSent(String),
    /// The request may have been applied.
    Unknown(String),
    /// A final answer.
    Final(Error),
}

/// Classifies an `etcd-client` error of a request sent to `endpoint`.
pub(crate) fn classify(endpoint: &str, err: etcd_client::Error) -> Failure {
    use tonic::Code;
    match err {
        etcd_client::Error::GRpcStatus(status) => {
            let msg = with_causes(status.message(), std::error::Error::source(&status));
            let lower = msg.to_ascii_lowercase();
            match status.code() {
                Code::OutOfRange if lower.contains("compacted") => {
                    Failure::Final(Error::Compacted {
                        requested: 0,
                        compacted: 0,
                    })
                }
                Code::InvalidArgument if lower.contains("too many operations") => {
                    Failure::Final(Error::TooLarge {
                        what: format!("etcd refused the txn: {msg}"),
                        limit: txn::MAX_TXN_OPS,
                    })
                }
                Code::InvalidArgument | Code::ResourceExhausted
                    if lower.contains("too large") || lower.contains("larger than max") =>
                {
                    Failure::Final(Error::TooLarge {
                        what: format!("etcd refused the request: {msg}"),
                        limit: txn::MAX_REQUEST_BYTES,
                    })
                }
                // A TLS handshake refused: the request never left.
                Code::Unavailable | Code::Unknown
                    if lower.contains("received fatal alert")
                        || lower.contains("invalid peer certificate") =>
                {
                    Failure::NotSent(msg)
                }
                Code::Unavailable
                    if lower.contains("error trying to connect")
                        || lower.contains("connection refused")
                        || lower.contains("tcp connect error")
                        || lower.contains("no leader")
                        || lower.contains("not capable")
                        || lower.contains("unhealthy cluster") =>
                {
                    Failure::NotSent(msg)
                }
                Code::Unavailable
                | Code::Unknown
                | Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::Internal => Failure::Unknown(format!("{:?}: {msg}", status.code())),
                code => Failure::Final(Error::Rejected {
                    endpoint: endpoint.to_string(),
                    reason: format!("{code:?}: {msg}"),
                }),
            }
        }
        // Failures to set up a connection: nothing was sent.
        etcd_client::Error::TransportError(e) => {
            Failure::NotSent(with_causes(&e.to_string(), std::error::Error::source(&e)))
        }
        etcd_client::Error::IoError(e) => Failure::NotSent(format!("io: {e}")),
        etcd_client::Error::InvalidArgs(e)
        | etcd_client::Error::EndpointError(e)
        | etcd_client::Error::Internal(e) => Failure::Final(Error::Rejected {
            endpoint: endpoint.to_string(),
            reason: e,
        }),
        other => Failure::Unknown(other.to_string()),
    }
}

impl Etcd {
    /// Connects to the cluster: a client per endpoint, then one linearizable read through
    /// them, so that an unreachable etcd is an [`Error::Unavailable`] naming every endpoint
    /// and why, here rather than on the first request.
    pub async fn connect(cfg: &Config) -> Result<Etcd, Error> {
        if cfg.endpoints.is_empty() {
            return Err(Error::Config {
                what: "no endpoint given (--etcd-endpoints URL[,URL...])".into(),
            });
        }
        let mut options = ConnectOptions::new()
            .with_connect_timeout(cfg.timeouts.connect)
            .with_keep_alive(cfg.timeouts.keep_alive, cfg.timeouts.keep_alive)
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        if let Some(tls) = &cfg.tls {
            let read = |what: &str, p: &std::path::Path| {
                std::fs::read(p).map_err(|e| Error::Config {
                    what: format!("reading the {what} {}: {e}", p.display()),
                })
            };
            let mut t = TlsOptions::new().ca_certificate(Certificate::from_pem(read(
                "CA certificate (--etcd-ca)",
                &tls.ca,
            )?));
            match (&tls.cert, &tls.key) {
                (Some(cert), Some(key)) => {
                    t = t.identity(Identity::from_pem(
                        read("client certificate (--etcd-cert)", cert)?,
                        read("client key (--etcd-key)", key)?,
                    ));
                }
                (None, None) => {}
                _ => {
                    return Err(Error::Config {
                        what: "--etcd-cert and --etcd-key go together".into(),
                    });
                }
            }
            options = options.with_tls(t);
        }
        let mut members = Vec::new();
        for url in &cfg.endpoints {
            let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
            if !scheme_ok {
                return Err(Error::Config {
                    what: format!(
                        "endpoint {url:?}: expected http://host:port or https://host:port"
                    ),
                });
            }
            if url.starts_with("http://") && cfg.tls.is_some() {
                return Err(Error::Config {
                    what: format!("endpoint {url:?}: TLS files were given, use https://"),
                });
            }
            let client = Client::connect([url.as_str()], Some(options.clone()))
                .await
                .map_err(|e| Error::Config {
                    what: format!("endpoint {url:?}: {e}"),
                })?;
            members.push(Member {
                url: url.clone(),
                client,
            });
        }
        let etcd = Etcd {
            inner: Arc::new(Inner {
                members,
                current: AtomicUsize::new(0),
                prefix: cfg.prefix.trim_end_matches('/').to_string(),
                timeouts: cfg.timeouts,
            }),
        };
        etcd.current_revision().await?;
        Ok(etcd)
    }

    /// The endpoints, as configured.
    pub fn endpoints(&self) -> Vec<String> {
        self.inner.members.iter().map(|m| m.url.clone()).collect()
    }

    /// The endpoint requests go to first (the last one that answered).
    pub fn current_endpoint(&self) -> String {
        let i = self.inner.current.load(Ordering::Relaxed);
        self.inner.members[i].url.clone()
    }

    /// The key prefix (without a trailing `/`).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    pub(crate) fn full(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.inner.prefix).into_bytes()
    }

    pub(crate) fn relative(&self, key: &[u8]) -> Result<String, Error> {
        let key = String::from_utf8(key.to_vec()).map_err(|e| Error::BadKey {
            key: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })?;
        Ok(key
            .strip_prefix(&self.inner.prefix)
            .map(str::to_string)
            .unwrap_or(key))
    }

    pub(crate) fn kv(&self, kv: &etcd_client::KeyValue) -> Result<Kv, Error> {
        Ok(Kv {
            key: self.relative(kv.key())?,
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        })
    }

    /// Runs `call` on one endpoint after another, from the current one, until one answers
    /// or the total deadline passes. `idempotent`: a request whose outcome is unknown (a
    /// timeout, a reset) may be sent again; otherwise it is [`Error::Ambiguous`].
    pub(crate) async fn run<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, Error>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.run_within(
            idempotent,
            self.inner.timeouts.request,
            self.inner.timeouts.total,
            call,
        )
        .await
    }

    pub(crate) async fn run_within<T, F, Fut>(
        &self,
        idempotent: bool,
        request: Duration,
        total: Duration,
        mut call: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let members = &self.inner.members;
        let n = members.len();
        let deadline = Instant::now() + total;
        let mut last: Vec<Option<String>> = vec![None; n];
        let mut backoff = Duration::from_millis(50);
        loop {
            let start = self.inner.current.load(Ordering::Relaxed);
            for step in 0..n {
                let i = (start + step) % n;
                let member = &members[i];
                let left = deadline.saturating_duration_since(Instant::now());
                let limit = request.min(left.max(Duration::from_millis(1)));
                let failure = match tokio::time::timeout(limit, call(member.client.clone())).await {
                    Ok(Ok(value)) => {
                        self.inner.current.store(i, Ordering::Relaxed);
                        return Ok(value);
                    }
                    Ok(Err(e)) => classify(&member.url, e),
                    Err(_) => Failure::Unknown(format!("no answer within {limit:?}")),
                };
                let reason = match failure {
                    Failure::Final(e) => return Err(e),
                    Failure::NotSent(r) => r,
                    Failure::Unknown(r) if idempotent => r,
                    Failure::Unknown(reason) => {
                        // The next request starts elsewhere; this one is for the caller
                        // to settle.
                        self.inner.current.store((i + 1) % n, Ordering::Relaxed);
                        return Err(Error::Ambiguous {
                            endpoint: member.url.clone(),
                            reason,
                        });
                    }
                };
                tracing::debug!(endpoint = %member.url, %reason, "etcd request failed; trying the next endpoint");
                last[i] = Some(reason);
                if Instant::now() >= deadline {
                    break;
                }
            }
            if Instant::now() + backoff >= deadline {
                return Err(Error::Unavailable {
                    endpoints: self.endpoints(),
                    last: members
                        .iter()
                        .zip(&last)
                        .map(|(m, why)| {
                            format!(
                                "{}: {}",
                                m.url,
                                why.as_deref().unwrap_or("not tried before the deadline")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// The cluster's current revision, by a linearizable read: every write acknowledged
    /// before the call is at or below it (the first half of a read barrier).
    pub async fn current_revision(&self) -> Result<i64, Error> {
        let key = self.full("/");
        self.run(true, |c| {
            let key = key.clone();
            async move {
                let r = c
                    .kv_client()
                    .get(key, Some(GetOptions::new().with_count_only()))
                    .await?;
                Ok(r.header().map_or(0, |h| h.revision()))
            }
        })
        .await
    }

    /// `(revision, last)`: the cluster's current revision (linearizable) and the highest
    /// mod revision of any key under `prefix` at it (0 when none). A cache fed by a watch
    /// of `prefix` is current once it has seen `last` — with no reliance on progress
    /// notifications, provided every delete under the prefix also writes a key under it
    /// (the layout's collection keys do).
    pub async fn last_modified(&self, prefix: &str) -> Result<(i64, i64), Error> {
        let start = self.full(prefix);
        let end = self.full(&txn::prefix_end(prefix));
        self.run(true, |c| {
            let (start, end) = (start.clone(), end.clone());
            async move {
                let r = c
                    .kv_client()
                    .get(
                        start,
                        Some(
                            GetOptions::new()
                                .with_range(end)
                                .with_keys_only()
                                .with_sort(SortTarget::Mod, SortOrder::Descend)
                                .with_limit(1),
                        ),
                    )
                    .await?;
                let rev = r.header().map_or(0, |h| h.revision());
                Ok((rev, r.kvs().first().map_or(0, |kv| kv.mod_revision())))
            }
        })
        .await
    }

    /// The value of `key` now (a linearizable read).
    pub async fn get(&self, key: &str) -> Result<Option<Kv>, Error> {
        self.get_inner(key, 0).await.map(|(_, kv)| kv)
    }

    /// The value of `key` at `revision` ([`Error::Compacted`] when it is gone).
    pub async fn get_at(&self, key: &str, revision: i64) -> Result<Option<Kv>, Error> {
        self.get_inner(key, revision).await.map(|(_, kv)| kv)
    }

    async fn get_inner(&self, key: &str, revision: i64) -> Result<(i64, Option<Kv>), Error> {
        let full = self.full(key);
        let r = self
            .run(true, |c| {
                let full = full.clone();
                async move {
                    c.kv_client()
                        .get(full, Some(GetOptions::new().with_revision(revision)))
                        .await
                }
            })
            .await
            .map_err(|e| compacted_at(e, revision))?;
        let rev = r.header().map_or(0, |h| h.revision());
        let kv = r.kvs().first().map(|kv| self.kv(kv)).transpose()?;
        Ok((rev, kv))
    }

    /// Every key under `prefix` at one revision (the first page's, a linearizable read),
    /// in key order, read in pages so that no answer grows past gRPC's limits. A page
    /// whose revision was compacted meanwhile starts the listing again (a few times).
    pub async fn get_all(&self, prefix: &str) -> Result<(i64, Vec<Kv>), Error> {
        let mut attempts = 0;
        loop {
            match self.get_all_once(prefix).await {
                Err(Error::Compacted { .. }) if attempts < 3 => attempts += 1,
                other => return other,
            }
        }
    }

    async fn get_all_once(&self, prefix: &str) -> Result<(i64, Vec<Kv>), Error> {
        let end = self.full(&txn::prefix_end(prefix));
        let mut from = self.full(prefix);
        let mut revision = 0i64;
        let mut out = Vec::new();
        loop {
            let r = self
                .run(true, |c| {
                    let (from, end) = (from.clone(), end.clone());
                    async move {
                        c.kv_client()
                            .max_decoding_message_size(MAX_DECODING_BYTES)
                            .get(
                                from,
                                Some(
                                    GetOptions::new()
                                        .with_range(end)
                                        .with_limit(PAGE)
                                        .with_revision(revision),
                                ),
                            )
                            .await
                    }
                })
                .await
                .map_err(|e| compacted_at(e, revision))?;
            if revision == 0 {
                revision = r.header().map_or(0, |h| h.revision());
            }
            for kv in r.kvs() {
                out.push(self.kv(kv)?);
            }
            match r.kvs().last() {
                Some(last) if r.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok((revision, out)),
            }
        }
    }

    /// Applies `ops` as one txn if every condition of `guard` holds.
    ///
    /// Refused before sending: a key written twice ([`Error::DuplicateKey`]), more than
    /// [`crate::MAX_TXN_OPS`] compares or operations or a request over about
    /// [`crate::MAX_REQUEST_BYTES`] ([`Error::TooLarge`]). A failed compare is
    /// [`Error::Conflict`] (or [`Error::Fenced`] when a fence failed); a request that could
    /// not be sent goes to the next endpoint; one sent whose answer was lost is
    /// [`Error::Ambiguous`].
    pub async fn commit(&self, guard: &Guard, ops: &[Op]) -> Result<Commit, Error> {
        let built = txn::build(guard, ops, |k| self.full(k))?;
        let t = built.txn;
        let r = self
            .run(false, |c| {
                let t = t.clone();
                async move { c.kv_client().txn(t).await }
            })
            .await?;
        let revision = r.header().map_or(0, |h| h.revision());
        if r.succeeded() {
            return Ok(Commit { revision });
        }
        for ((key, expected), resp) in built.fences.iter().zip(r.op_responses()) {
            if let TxnOpResponse::Get(get) = resp {
                let holds = get
                    .kvs()
                    .first()
                    .is_some_and(|kv| kv.create_revision() == *expected);
                if !holds {
                    return Err(Error::Fenced {
                        key: key.clone(),
                        revision: *expected,
                    });
                }
            }
        }
        let reported = if built.reports {
            match r.op_responses().last() {
                Some(TxnOpResponse::Get(get)) => {
                    Some(get.kvs().first().map_or(0, |kv| kv.mod_revision()))
                }
                _ => None,
            }
        } else {
            None
        };
        Err(Error::Conflict { revision, reported })
    }

    /// [`Etcd::commit`], with an unknown outcome settled by reading `probe` back: applied
    /// → the commit (its revision is the probe key's mod revision, or the read's revision
    /// for [`Probe::Absent`]); not applied → [`Error::NotCommitted`]. Deciding again after
    /// `NotCommitted` is safe when the guard compares the probe key (as an object write's
    /// does): a late application of the lost txn and a new one cannot both apply.
    pub async fn commit_settled(
        &self,
        guard: &Guard,
        ops: &[Op],
        probe: &Probe,
    ) -> Result<Commit, Error> {
        let ambiguous = match self.commit(guard, ops).await {
            Err(Error::Ambiguous { endpoint, reason }) => format!("{endpoint}: {reason}"),
            other => return other,
        };
        tracing::info!(key = probe.key(), %ambiguous, "settling an etcd commit of unknown outcome by reading back");
        let (revision, kv) = self.get_inner(probe.key(), 0).await?;
        let applied = match (probe, &kv) {
            (Probe::Contains { needle, .. }, Some(kv)) => contains(&kv.value, needle),
            (Probe::Contains { .. }, None) => false,
            (Probe::Absent { .. }, found) => found.is_none(),
        };
        if applied {
            Ok(Commit {
                revision: kv.map_or(revision, |kv| kv.mod_revision),
            })
        } else {
            Err(Error::NotCommitted {
                key: probe.key().to_string(),
                reason: ambiguous,
            })
        }
    }

    /// Compacts the history before `revision` (not physically: etcd frees the space in the
    /// background). Compacting to a revision already compacted is not an error.
    pub async fn compact(&self, revision: i64) -> Result<(), Error> {
        let r = self
            .run(true, |c| async move {
                c.kv_client().compact(revision, None).await.map(|_| ())
            })
            .await;
        match r {
            Err(Error::Compacted { .. }) => Ok(()),
            other => other,
        }
    }
}

/// `message: cause: cause…`, leaving out a cause the message already says.
fn with_causes(message: &str, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut out = message.to_string();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Fills in the revision a read asked for (the compacted one is not in etcd's message).
fn compacted_at(e: Error, requested: i64) -> Error {
    match e {
        Error::Compacted { .. } => Error::Compacted {
            requested,
            compacted: 0,
        },
        other => other,
    }
}
