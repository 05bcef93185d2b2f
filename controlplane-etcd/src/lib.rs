//! `wayfinder-etcd`: the control plane's etcd client layer.
//!
//! The etcd storage backend of `wayfinder-server` (issue 17) sits on this crate; the crate
//! itself knows nothing of Wayfinder's objects. Keys are strings **relative to the
//! configured prefix** (`/o/{group}/{kind}/{ns}/{name}`, see `docs/etcd.md`) and values are
//! bytes; the crate prepends the prefix on the way out and strips it on the way in, so a
//! caller cannot touch keys outside its prefix.
//!
//! What it adds on top of the `etcd-client` crate:
//!
//! - **Failover across endpoints** ([`Etcd`]): one client per endpoint; a request that could
//!   not be sent (connection refused, no leader) moves to the next endpoint and is sent again,
//!   until a bounded total deadline, then [`Error::Unavailable`] naming every endpoint and
//!   why. `etcd-client`'s own balancing keeps sending to a dead member.
//! - **Guarded commits** ([`Etcd::commit`]): one txn whose compares come from a [`Guard`]
//!   (mod revisions of keys and ranges, fences), limits checked before sending
//!   ([`Error::TooLarge`]), a failed compare answered as [`Error::Conflict`] with the
//!   revision to wait for, a lost fence as [`Error::Fenced`], an unknown outcome as
//!   [`Error::Ambiguous`] — settled by reading back with [`Etcd::commit_settled`].
//! - **Reads** at one pinned revision, paged ([`Etcd::get_all`]); the linearizable revision
//!   for a read barrier ([`Etcd::current_revision`], [`Etcd::last_modified`]).
//! - **Watch** ([`Etcd::watch`]) grouped by revision (every event of one txn in one
//!   [`Batch`]), resumed on another endpoint from the last revision seen, and
//!   [`Error::Compacted`] when its start is gone.
//! - **Leader election** ([`Etcd::campaign`]) on a lease kept alive and re-checked, with a
//!   fence for the leader's writes; **compaction** kept bounded ([`Compactor`]).
//! - `testing` (feature `testing`): a real n-member etcd cluster on loopback for tests.
//!
//! Versions: tests run on Debian's etcd 3.4.23; production wants etcd ≥ 3.5.13 or ≥ 3.4.31
//! (3.4.23 is out of upstream support and predates the fix of etcd#15220, a progress
//! notification delivered before an event of its revision). Limits (etcd's defaults, which
//! the server enforces and this crate checks first): at most [`MAX_TXN_OPS`] compares and at
//! most [`MAX_TXN_OPS`] operations in a txn, requests of at most [`MAX_REQUEST_BYTES`].
#![forbid(unsafe_code)]

mod client;
mod compactor;
mod election;
mod error;
mod txn;
mod watch;

#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::time::Duration;

pub use client::{Etcd, Kv};
pub use compactor::{CompactStep, Compactor, DEFAULT_KEEP_REVISIONS};
pub use election::Leadership;
pub use error::Error;
pub use txn::{Commit, Guard, MAX_REQUEST_BYTES, MAX_TXN_OPS, Op, Probe, prefix_end};
pub use watch::{Batch, Event, EventKind, Watch};

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct Config {
    /// Client URLs, `http://host:port` or `https://host:port` (with [`Config::tls`]).
    pub endpoints: Vec<String>,
    /// Every key lives under this prefix (`--etcd-prefix`, default `/wayfinder`).
    pub prefix: String,
    /// Client TLS: the CA that signed the members' certificates, and this client's
    /// certificate and key.
    pub tls: Option<TlsFiles>,
    pub timeouts: Timeouts,
}

impl Config {
    /// The endpoints with the default prefix and timeouts, no TLS.
    pub fn new(endpoints: Vec<String>) -> Config {
        Config {
            endpoints,
            prefix: DEFAULT_PREFIX.to_string(),
            tls: None,
            timeouts: Timeouts::default(),
        }
    }
}

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "/wayfinder";

/// PEM files for client TLS (`--etcd-ca`, `--etcd-cert`, `--etcd-key`).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Time limits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Establishing a connection to one endpoint.
    pub connect: Duration,
    /// One request on one endpoint; a commit that exceeds it has an unknown outcome.
    pub request: Duration,
    /// A request across every endpoint and retry, before [`Error::Unavailable`]. Should
    /// exceed etcd's leader election (about 1–2 s with the default 1 s election timeout).
    pub total: Duration,
    /// HTTP/2 keep-alive pings on idle connections (watches, keep-alives), so that a dead
    /// member is noticed.
    pub keep_alive: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(5),
            total: Duration::from_secs(15),
            keep_alive: Duration::from_secs(5),
        }
    }
}
