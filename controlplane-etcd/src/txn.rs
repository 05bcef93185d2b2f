//! What a commit sends: the guard (compares), the operations, and etcd's limits checked
//! before anything is sent.

use std::collections::HashSet;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};

use crate::Error;

/// etcd's `--max-txn-ops` default: the longest of a txn's compare, success and failure
/// lists.
pub const MAX_TXN_OPS: usize = 128;

/// etcd's `--max-request-bytes` default (1.5 MiB).
pub const MAX_REQUEST_BYTES: usize = 1_572_864;

/// Room left under [`MAX_REQUEST_BYTES`] for what etcd wraps around a txn before checking
/// its size (the raft request header).
const REQUEST_HEADROOM: usize = 4096;

/// The conditions a commit is applied under: every one must hold at the txn's revision.
/// Plain data; keys are relative to the prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// `(key, m)`: the key's mod revision is `m`; `0` means the key is absent.
    pub mod_revision_eq: Vec<(String, i64)>,
    /// `(key, r)`: the key has not been written after `r` (absent or mod revision ≤ r).
    pub mod_revision_le: Vec<(String, i64)>,
    /// `(start, end, r)`: no key in `[start, end)` has been written after `r`. A range does
    /// not see deletes (a deleted key has left it): pair it with a collection key that every
    /// create and delete in the range writes. [`prefix_end`] gives the end of a prefix.
    pub range_mod_revision_le: Vec<(String, String, i64)>,
    /// `(key, r)`: the key exists with create revision `r` — a fence
    /// ([`crate::Leadership::fence`]). Its failure is [`Error::Fenced`].
    pub create_revision_eq: Vec<(String, i64)>,
    /// A key whose mod revision a failed txn reads back and reports in
    /// [`Error::Conflict`]'s `reported`: a caller that catches up to it decides again
    /// without another round trip.
    pub report_on_conflict: Option<String>,
}

impl Guard {
    /// No condition: the commit is applied unconditionally.
    pub fn none() -> Guard {
        Guard::default()
    }

    /// The number of compares the guard makes.
    pub fn len(&self) -> usize {
        self.mod_revision_eq.len()
            + self.mod_revision_le.len()
            + self.range_mod_revision_le.len()
            + self.create_revision_eq.len()
    }

    /// Whether the guard has no condition.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One write of a commit. Keys are relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(String, Vec<u8>),
    Delete(String),
}

impl Op {
    /// The key the operation writes.
    pub fn key(&self) -> &str {
        match self {
            Op::Put(k, _) | Op::Delete(k) => k,
        }
    }
}

/// A commit that was applied: every write of it took `revision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    pub revision: i64,
}

/// How to tell, by reading one key back, whether an ambiguous commit was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Applied when `key`'s value contains `needle` (an object's uid, a unique token).
    Contains { key: String, needle: Vec<u8> },
    /// Applied when `key` is absent (a delete).
    Absent { key: String },
}

impl Probe {
    pub(crate) fn key(&self) -> &str {
        match self {
            Probe::Contains { key, .. } | Probe::Absent { key } => key,
        }
    }
}

/// The end of the range of every key starting with `prefix` (exclusive): the prefix with
/// its last byte below 0x7f incremented. Keys of the layout are ASCII.
pub fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0x7f {
            bytes.push(last + 1);
            return String::from_utf8(bytes).expect("ASCII stays UTF-8");
        }
    }
    // Every byte was 0x7f or above: the range runs to the end of the prefix's ASCII space.
    "\u{7f}".to_string()
}

/// A txn built from a guard and operations, checked against etcd's limits.
pub(crate) struct Built {
    pub txn: Txn,
    /// The fences, in the order of the failure branch's gets.
    pub fences: Vec<(String, i64)>,
    /// Whether the failure branch ends with the get of [`Guard::report_on_conflict`].
    pub reports: bool,
}

/// Builds the txn: `full` turns a relative key into the stored key.
pub(crate) fn build(
    guard: &Guard,
    ops: &[Op],
    full: impl Fn(&str) -> Vec<u8>,
) -> Result<Built, Error> {
    let mut seen = HashSet::new();
    for op in ops {
        if !seen.insert(op.key()) {
            return Err(Error::DuplicateKey {
                key: op.key().to_string(),
            });
        }
    }
    if guard.len() > MAX_TXN_OPS {
        return Err(Error::TooLarge {
            what: format!("a txn of {} compares", guard.len()),
            limit: MAX_TXN_OPS,
        });
    }
    if ops.len() > MAX_TXN_OPS {
        return Err(Error::TooLarge {
            what: format!("a txn of {} operations", ops.len()),
            limit: MAX_TXN_OPS,
        });
    }
    // An upper bound of the encoded request: each field's bytes plus its tags and lengths.
    const PER_ITEM: usize = 24;
    let mut size = 0usize;
    let mut compares = Vec::with_capacity(guard.len());
    for (k, m) in &guard.mod_revision_eq {
        let key = full(k);
        size += key.len() + PER_ITEM;
        compares.push(Compare::mod_revision(key, CompareOp::Equal, *m));
    }
    for (k, r) in &guard.mod_revision_le {
        let key = full(k);
        size += key.len() + PER_ITEM;
        compares.push(Compare::mod_revision(key, CompareOp::Less, r + 1));
    }
    for (start, end, r) in &guard.range_mod_revision_le {
        let (start, end) = (full(start), full(end));
        size += start.len() + end.len() + PER_ITEM;
        compares.push(Compare::mod_revision(start, CompareOp::Less, r + 1).with_range(end));
    }
    let mut fences = Vec::new();
    let mut on_failure = Vec::new();
    for (k, r) in &guard.create_revision_eq {
        let key = full(k);
        size += 2 * key.len() + 2 * PER_ITEM;
        compares.push(Compare::create_revision(key.clone(), CompareOp::Equal, *r));
        on_failure.push(TxnOp::get(key, None));
        fences.push((k.clone(), *r));
    }
    // After the fences' gets, which the answer is matched against in order.
    if let Some(k) = &guard.report_on_conflict {
        let key = full(k);
        size += key.len() + PER_ITEM;
        on_failure.push(TxnOp::get(key, None));
    }
    let mut writes = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Put(k, v) => {
                let key = full(k);
                size += key.len() + v.len() + PER_ITEM;
                writes.push(TxnOp::put(key, v.clone(), None::<PutOptions>));
            }
            Op::Delete(k) => {
                let key = full(k);
                size += key.len() + PER_ITEM;
                writes.push(TxnOp::delete(key, None));
            }
        }
    }
    let limit = MAX_REQUEST_BYTES - REQUEST_HEADROOM;
    if size > limit {
        return Err(Error::TooLarge {
            what: format!("a txn of about {size} bytes"),
            limit,
        });
    }
    Ok(Built {
        txn: Txn::new()
            .when(compares)
            .and_then(writes)
            .or_else(on_failure),
        fences,
        reports: guard.report_on_conflict.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(k: &str) -> Vec<u8> {
        format!("/p{k}").into_bytes()
    }

    #[test]
    fn a_prefix_ends_at_its_last_byte_plus_one() {
        assert_eq!(prefix_end("/o/g/k/"), "/o/g/k0");
        assert_eq!(prefix_end("a"), "b");
        assert_eq!(prefix_end("a\u{7f}"), "b");
    }

    #[test]
    fn a_key_written_twice_is_refused_before_sending() {
        let ops = [Op::Put("/a".into(), b"1".to_vec()), Op::Delete("/a".into())];
        let err = build(&Guard::none(), &ops, full).err().unwrap();
        assert_eq!(err, Error::DuplicateKey { key: "/a".into() });
    }

    #[test]
    fn more_than_128_compares_or_operations_are_too_large() {
        let guard = Guard {
            mod_revision_eq: (0..129).map(|i| (format!("/k{i}"), 0)).collect(),
            ..Guard::default()
        };
        let err = build(&guard, &[], full).err().unwrap();
        assert!(matches!(err, Error::TooLarge { limit: 128, .. }), "{err}");
        let ops: Vec<Op> = (0..129).map(|i| Op::Delete(format!("/k{i}"))).collect();
        let err = build(&Guard::none(), &ops, full).err().unwrap();
        assert!(matches!(err, Error::TooLarge { limit: 128, .. }), "{err}");
        let ops: Vec<Op> = (0..128).map(|i| Op::Delete(format!("/k{i}"))).collect();
        assert!(build(&Guard::none(), &ops, full).is_ok());
    }

    #[test]
    fn a_request_over_one_and_a_half_mebibytes_is_too_large() {
        let ops = [Op::Put("/big".into(), vec![b'x'; 1_600_000])];
        let err = build(&Guard::none(), &ops, full).err().unwrap();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        let ops = [Op::Put("/big".into(), vec![b'x'; 1_500_000])];
        assert!(build(&Guard::none(), &ops, full).is_ok());
    }
}
