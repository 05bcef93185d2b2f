//! Group commit on etcd: the writes a replica makes at the same time share one txn.
//!
//! Writes that need each other's outcome (creates counted against one workspace's limit,
//! allocations from one pool) read the same collection keys, so on etcd they would race:
//! every commit bumps the collection key, and all but one of the txns racing on it fail
//! and decide again. Instead, the writes of one replica take turns through a [`Lane`]:
//! they decide one after another into a [`Forming`] batch, each on the cache as it is
//! plus the writes decided before it in the batch, and the first of them (the leader)
//! sends the batch as one txn once the replica's batch in flight has landed
//! ([`MAX_FLIGHTS`]): the next batch forms while one flies. A write whose compares touch a
//! key the batch in flight writes waits for it to land (and the cache to reach it) and
//! decides again: deciding without that batch's writes would only fail. Each write's
//! compares are taken against the
//! batch's base snapshot, leaving out the keys an earlier write of the batch writes (that
//! write's own compares cover them): etcd checks every compare before applying any write,
//! so the txn applies only if everything each decision read still holds. A conflict fails
//! the whole batch, and every member decides again.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};

use wayfinder_etcd::{Error as EtcdError, Guard, MAX_TXN_OPS, Op, Probe};

use super::super::cache::{Change, Entry, Snapshot, strip_resource_version};
use super::super::{Batch, EventType, Mutation, ObjectKey};

/// At most this many writes share one txn.
pub(super) const MAX_MEMBERS: usize = 32;
/// At most this many txns of one replica in flight at once. One: measured with the bench
/// row on 2 cores (`cargo xtask bench --only controlplane`), more flights made smaller
/// batches and fewer creates per second than one flight with the next batch forming
/// behind it.
pub(super) const MAX_FLIGHTS: usize = 1;
/// Headroom under etcd's 128 compares and 128 operations per txn for the marker keys.
const MAX_COMBINED: usize = MAX_TXN_OPS - 8;
/// Bytes of values one combined txn carries at most before a write waits for the next
/// (etcd refuses requests over 1.5 MiB; one write alone may still be refused by it).
const MAX_COMBINED_BYTES: usize = 1024 * 1024;

/// The turn-taking of one replica's writes; see the module documentation.
#[derive(Default)]
pub(super) struct Lane {
    state: Mutex<LaneState>,
    turn: Condvar,
}

#[derive(Default)]
pub(super) struct LaneState {
    /// The batches whose txns are on their way, with the keys each writes.
    flying: HashMap<u64, HashSet<String>>,
    forming: Option<Forming>,
    next_id: u64,
    /// The outcome of each landed batch, and how many of its members have yet to read it.
    landed: HashMap<u64, (Landed, usize)>,
}

impl LaneState {
    /// The batches in flight that write a key `guard` compares: a decision that read
    /// those keys without their writes would fail.
    pub fn flights_under(&self, guard: &Guard) -> Vec<u64> {
        let keys = guard
            .mod_revision_eq
            .iter()
            .chain(&guard.mod_revision_le)
            .map(|(k, _)| k);
        let mut ids: Vec<u64> = Vec::new();
        for (id, written) in &self.flying {
            let hit = keys.clone().any(|k| written.contains(k))
                || guard.range_mod_revision_le.iter().any(|(start, end, _)| {
                    written
                        .iter()
                        .any(|k| k.as_str() >= start.as_str() && k.as_str() < end.as_str())
                });
            if hit {
                ids.push(*id);
            }
        }
        ids
    }
}

/// How a batch's txn ended.
#[derive(Debug, Clone)]
pub(super) enum Landed {
    /// Applied at this revision.
    Committed(i64),
    /// A compare failed; the cache has been brought to what beat it.
    Conflict,
    /// The answer was lost and the txn did not apply.
    NotCommitted,
    Failed(EtcdError),
}

/// A batch being formed: the writes decided into it, merged.
pub(super) struct Forming {
    pub id: u64,
    /// The committed state the batch's compares are taken against.
    pub base: Snapshot,
    /// `base` with the batch's writes so far: what the next member decides on.
    pub view: Snapshot,
    /// The keys the batch's members write.
    pub written: HashSet<ObjectKey>,
    pub guard: Guard,
    pub ops: Vec<Op>,
    op_keys: HashSet<String>,
    bytes: usize,
    pub probe: Option<Probe>,
    pub members: usize,
}

impl Forming {
    fn new(id: u64, base: Snapshot) -> Self {
        Self {
            id,
            view: base.clone(),
            base,
            written: HashSet::new(),
            guard: Guard::none(),
            ops: Vec::new(),
            op_keys: HashSet::new(),
            bytes: 0,
            probe: None,
            members: 0,
        }
    }

    /// Whether a write with `guard` and `ops` can join: no object or token key written
    /// twice, and the merged txn within etcd's limits. The first write always joins (a
    /// write too large alone is refused as such).
    pub fn fits(&self, guard: &Guard, ops: &[Op]) -> bool {
        if self.members == 0 {
            return true;
        }
        if self.members >= MAX_MEMBERS {
            return false;
        }
        let mut new_ops = 0;
        let mut bytes = 0;
        for op in ops {
            match op {
                Op::Put(k, v) if v.is_empty() && self.op_keys.contains(k) => {}
                op if self.op_keys.contains(op.key()) => return false,
                Op::Put(k, v) => {
                    new_ops += 1;
                    bytes += k.len() + v.len();
                }
                Op::Delete(k) => {
                    new_ops += 1;
                    bytes += k.len();
                }
            }
        }
        self.ops.len() + new_ops <= MAX_COMBINED
            && self.guard.len() + guard.len() <= MAX_COMBINED
            && self.bytes + bytes <= MAX_COMBINED_BYTES
    }

    /// Adds a decided write: its compares and operations (marker keys once), and its
    /// objects and tokens to the view the next member decides on.
    pub fn join(&mut self, guard: Guard, ops: Vec<Op>, probe: Option<Probe>, batch: &Batch) {
        merge(&mut self.guard.mod_revision_eq, guard.mod_revision_eq);
        merge(&mut self.guard.mod_revision_le, guard.mod_revision_le);
        merge(
            &mut self.guard.range_mod_revision_le,
            guard.range_mod_revision_le,
        );
        for op in ops {
            if self.op_keys.insert(op.key().to_string()) {
                self.bytes += match &op {
                    Op::Put(k, v) => k.len() + v.len(),
                    Op::Delete(k) => k.len(),
                };
                self.ops.push(op);
            }
        }
        if self.probe.is_none() {
            self.probe = probe;
        }
        let mut at = self.view.resource_version();
        let changes: Vec<Change> = batch
            .objects
            .iter()
            .map(|(key, mutation)| {
                // A place-holder version above the base: only this replica's batch sees it.
                at += 1;
                self.written.insert(key.clone());
                match mutation {
                    Mutation::Put(row) => {
                        let mut body = row.body.clone();
                        strip_resource_version(&mut body);
                        let event = if self.view.object(key).is_some() {
                            EventType::Modified
                        } else {
                            EventType::Added
                        };
                        Change {
                            key: key.clone(),
                            resource_version: at,
                            event_type: Some(event),
                            object: Some(Entry::from_raw(
                                body.to_string(),
                                at,
                                row.generation,
                                row.uid.clone(),
                                row.created.clone(),
                            )),
                        }
                    }
                    Mutation::Delete => Change {
                        key: key.clone(),
                        resource_version: at,
                        event_type: Some(EventType::Deleted),
                        object: None,
                    },
                }
            })
            .collect();
        self.view.apply(&changes, &batch.tokens);
        self.members += 1;
    }
}

fn merge<T: PartialEq>(into: &mut Vec<T>, from: Vec<T>) {
    for item in from {
        if !into.contains(&item) {
            into.push(item);
        }
    }
}

/// A turn in the lane, held while deciding into the forming batch.
pub(super) struct Turn<'a> {
    lane: &'a Lane,
    pub state: MutexGuard<'a, LaneState>,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&'a self, g: MutexGuard<'a, LaneState>) -> MutexGuard<'a, LaneState> {
        self.turn.wait(g).unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a batch on `base()` if none is forming (while another batch flies: deciding
    /// overlaps the flight); the turn holds the lane until it is joined or left.
    pub fn turn<E>(&self, base: impl FnOnce() -> Result<Snapshot, E>) -> Result<Turn<'_>, E> {
        let mut state = self.lock();
        if state.forming.is_none() {
            state.next_id += 1;
            let id = state.next_id;
            state.forming = Some(Forming::new(id, base()?));
        }
        Ok(Turn { lane: self, state })
    }

    /// Waits until none of the batches `ids` is forming or in flight.
    pub fn wait_landed(&self, ids: &[u64]) {
        let mut state = self.lock();
        while ids.iter().any(|id| {
            state.flying.contains_key(id) || state.forming.as_ref().is_some_and(|f| f.id == *id)
        }) {
            state = self.wait(state);
        }
    }
}

impl Turn<'_> {
    /// The batch being formed (present for the whole turn).
    /// See [`LaneState::flights_under`].
    pub fn flights_under(&self, guard: &Guard) -> Vec<u64> {
        self.state.flights_under(guard)
    }

    pub fn forming(&mut self) -> &mut Forming {
        self.state
            .forming
            .as_mut()
            .expect("a turn holds a forming batch")
    }

    /// Ends the turn without joining: a forming batch no write joined is dropped.
    pub fn leave(mut self) {
        if self.state.forming.as_ref().is_some_and(|f| f.members == 0) {
            self.state.forming = None;
        }
        drop(self.state);
        self.lane.turn.notify_all();
    }

    /// Joined (see [`Forming::join`], called before): the first member of a batch leads
    /// it. The leader waits until the batch in flight (if any) has landed, while later
    /// writes decide into its batch, then `fly`s it and publishes how it landed; the
    /// others wait for that.
    pub fn finish(mut self, fly: impl FnOnce(&Forming) -> Landed) -> Landed {
        let id = self.forming().id;
        let lane = self.lane;
        let leader = self.forming().members == 1;
        lane.turn.notify_all();
        let mut state = self.state;
        if !leader {
            while !state.landed.contains_key(&id) {
                state = lane.wait(state);
            }
            let (landed, left) = state.landed.get_mut(&id).expect("present");
            let out = landed.clone();
            *left -= 1;
            if *left == 0 {
                state.landed.remove(&id);
            }
            return out;
        }
        while state.flying.len() >= MAX_FLIGHTS {
            state = lane.wait(state);
        }
        let batch = state.forming.take().expect("the leader's batch is forming");
        state.flying.insert(id, batch.op_keys.clone());
        drop(state);
        // The next write opens the next batch at once.
        lane.turn.notify_all();
        // Published however `fly` ends, so no member or later write waits forever.
        struct Land<'a> {
            lane: &'a Lane,
            id: u64,
            followers: usize,
            landed: Landed,
        }
        impl Drop for Land<'_> {
            fn drop(&mut self) {
                let mut state = self.lane.lock();
                state.flying.remove(&self.id);
                if self.followers > 0 {
                    state
                        .landed
                        .insert(self.id, (self.landed.clone(), self.followers));
                }
                drop(state);
                self.lane.turn.notify_all();
            }
        }
        let mut land = Land {
            lane,
            id,
            followers: batch.members - 1,
            landed: Landed::NotCommitted,
        };
        land.landed = fly(&batch);
        land.landed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewRow;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            group: "g".into(),
            kind: "K".into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn put(name: &str) -> Batch {
        Batch::object(
            key(name),
            Mutation::Put(NewRow {
                body: json!({"metadata": {"name": name}}),
                generation: 1,
                uid: format!("u-{name}"),
                created: "2026-01-01T00:00:00Z".into(),
            }),
        )
    }

    #[test]
    fn a_member_decides_on_the_writes_of_the_members_before_it() {
        let mut f = Forming::new(1, Snapshot::new(1, [], []));
        let ops = vec![
            Op::Put("/o/g/K/ns/a".into(), b"a".to_vec()),
            Op::Put("/c/g/K/ns".into(), Vec::new()),
        ];
        f.join(Guard::none(), ops, None, &put("a"));
        assert!(f.view.object(&key("a")).is_some());
        assert!(f.written.contains(&key("a")));
        assert!(
            f.base.object(&key("a")).is_none(),
            "the base stays the committed state"
        );
        // A second write of the same collection shares its marker key once; a second
        // write of the same object waits for the next batch.
        let b = vec![
            Op::Put("/o/g/K/ns/b".into(), b"b".to_vec()),
            Op::Put("/c/g/K/ns".into(), Vec::new()),
        ];
        assert!(f.fits(&Guard::none(), &b));
        f.join(Guard::none(), b, None, &put("b"));
        assert_eq!(f.ops.len(), 3);
        assert!(!f.fits(
            &Guard::none(),
            &[Op::Put("/o/g/K/ns/a".into(), b"again".to_vec())]
        ));
        assert_eq!(f.members, 2);
    }

    #[test]
    fn a_merged_txn_stays_within_etcds_limits() {
        let mut f = Forming::new(1, Snapshot::new(1, [], []));
        let many = |from: usize, n: usize| -> Vec<Op> {
            (from..from + n)
                .map(|i| Op::Put(format!("/o/k{i}"), b"v".to_vec()))
                .collect()
        };
        f.join(Guard::none(), many(0, 100), None, &Batch::default());
        assert!(!f.fits(&Guard::none(), &many(100, 30)));
        assert!(f.fits(&Guard::none(), &many(100, 20)));
        let compares = Guard {
            mod_revision_eq: (0..125).map(|i| (format!("/o/x{i}"), 0)).collect(),
            ..Guard::none()
        };
        assert!(!f.fits(&compares, &[]));
    }

    #[test]
    fn a_guard_touching_a_key_in_flight_waits_for_that_flight() {
        let mut state = LaneState::default();
        state.flying.insert(
            7,
            ["/o/g/K/ns/a".to_string(), "/c/g/K/ns".to_string()].into(),
        );
        state.flying.insert(8, ["/o/h/L/_/b".to_string()].into());
        let on_collection = Guard {
            mod_revision_le: vec![("/c/g/K/ns".into(), 5)],
            ..Guard::none()
        };
        assert_eq!(state.flights_under(&on_collection), vec![7]);
        let in_range = Guard {
            range_mod_revision_le: vec![("/o/h/".into(), "/o/h0".into(), 5)],
            ..Guard::none()
        };
        assert_eq!(state.flights_under(&in_range), vec![8]);
        let elsewhere = Guard {
            mod_revision_eq: vec![("/o/g/K/ns/z".into(), 0)],
            ..Guard::none()
        };
        assert!(state.flights_under(&elsewhere).is_empty());
    }
}
