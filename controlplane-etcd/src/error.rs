//! The crate's errors.

/// What a call to etcd can answer besides success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The configuration cannot be used (a URL, a TLS file).
    #[error("etcd configuration: {what}")]
    Config { what: String },
    /// No endpoint answered within the total deadline. `last` says what each endpoint
    /// answered last.
    #[error("etcd is unavailable: no answer from {} ({last})", endpoints.join(", "))]
    Unavailable {
        endpoints: Vec<String>,
        last: String,
    },
    /// A compare of the guard failed: something the decision read has changed. The
    /// caller waits until its view reaches `revision` (the txn's header revision) and
    /// decides again. `reported` is the mod revision of the guard's
    /// `report_on_conflict` key when it asked for one (`0`: absent).
    #[error("etcd txn conflict: the guard no longer holds at revision {revision}")]
    Conflict {
        revision: i64,
        reported: Option<i64>,
    },
    /// The fence `key` no longer exists with create revision `revision`: the leadership
    /// it proves has ended. Nothing was written.
    #[error("fenced: the leadership {key} (create revision {revision}) no longer holds")]
    Fenced { key: String, revision: i64 },
    /// The request would exceed one of etcd's limits; nothing was sent (or etcd refused
    /// it). The caller coarsens its guard or refuses the request.
    #[error("etcd request too large: {what} (limit {limit})")]
    TooLarge { what: String, limit: usize },
    /// The same key twice among a commit's operations (etcd refuses it).
    #[error("etcd txn writes {key:?} more than once")]
    DuplicateKey { key: String },
    /// The commit was sent but its outcome is unknown (a timeout, a reset connection, a
    /// leader change): it may have been applied. Settle it by reading back
    /// ([`crate::Etcd::commit_settled`]); never retry it blindly.
    #[error("etcd commit outcome unknown on {endpoint}: {reason}")]
    Ambiguous { endpoint: String, reason: String },
    /// An ambiguous commit was settled by reading back: it was not applied.
    #[error("etcd commit not applied (settled by reading back {key:?}): {reason}")]
    NotCommitted { key: String, reason: String },
    /// The revision asked for has been compacted away: relist, then watch from the new
    /// revision (HTTP: 410 Gone). `compacted` is the revision etcd has compacted up to, as a
    /// watch is told; 0 when etcd did not say (a read at a revision).
    #[error("etcd revision {requested} has been compacted (compacted up to {compacted}); relist")]
    Compacted { requested: i64, compacted: i64 },
    /// A key under the prefix that is not UTF-8 (not written by this crate).
    #[error("etcd key under the prefix is not UTF-8: {key:?}")]
    BadKey { key: String },
    /// The leadership's lease ended while campaigning or leading.
    #[error("etcd lease {lease:x} of {key} expired")]
    LeaseLost { key: String, lease: i64 },
    /// etcd refused the request for another reason (permissions, invalid arguments).
    #[error("etcd refused the request on {endpoint}: {reason}")]
    Rejected { endpoint: String, reason: String },
}
