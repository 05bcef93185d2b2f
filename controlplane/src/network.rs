//! Cluster network allocation from AssignableNetworks (wayfinder-model.md §5).
//!
//! A cluster asks for its network through its plan's resolution
//! ([`NetworkRequest`]): a prefix length to allocate, or a fixed CIDR.
//!
//! - **Size**: the first free block of that size, at the lowest address, in the *pools*: the
//!   `node` ranges of the AssignableNetworks whose `spec.stage` is the cluster's stage and
//!   whose `spec.provider` is its cloud (`aws`, `azure`, `gcp`; the provider name, e.g. `EKS`,
//!   is accepted too), from the cluster's workspace and the platform's (`admin`) workspace —
//!   restricted to the names the ClusterNetworkPlan lists in `assignableNetworks` when it
//!   lists any. "Free" means it overlaps no network allocated to another cluster.
//! - **CIDR given by the cluster** (`spec.network.cidr`): it must overlap no other cluster's
//!   network and, when pools exist for the stage and cloud, lie inside one of them.
//! - **CIDR fixed by the network plan** (its node `cidr`): every cluster of the plan gets
//!   the same range in its own VPC, as Wayfinder does; it is recorded as not exclusive and
//!   blocks nobody.
//!
//! The allocation is recorded in the cluster's `status.network` ([`NetworkAllocation`]),
//! so it survives restarts and is freed when the cluster's row is removed: the networks
//! taken are always read from the other clusters' statuses (the reconciler keeps them in a
//! [`TakenNetworks`] map it brings up to date from the store's change events before each
//! allocation). The reconciler allocates under one lock, so two clusters never pick the
//! same block. On a store shared by replicas (etcd) the reconciler allocates inside the
//! commit of `status.network` instead, reading [`taken`] and the pools through the
//! decision, so the commit's guard covers them and a stale cache costs a retry, never a
//! block given twice.

use serde_json::Value;
use wayfinder_model::cluster::Cluster;
use wayfinder_model::kinds::{ASSIGNABLE_NETWORK, CLUSTER, CLUSTER_NETWORK_PLAN};
use wayfinder_model::net::Ipv4Net;
use wayfinder_model::networking::{AssignableNetwork, NetworkRequest};
use wayfinder_model::org::ADMIN_WORKSPACE;
use wayfinder_model::{Object, ObjectView, Resolution};

use crate::store::{ListFilter, ObjectKey, Reads, Store, StoreError};

pub use wayfinder_model::cluster::NetworkAllocation;

/// The exclusive networks held by every cluster except `except` (`(workspace, name)`), as
/// their status records them; reads only `status.network` of each.
pub fn taken(store: &dyn Reads, except: (&str, &str)) -> Result<Vec<Taken>, StoreError> {
    let clusters = ListFilter::every(&CLUSTER);
    Ok(store
        .project(&clusters, NETWORK_POINTER)?
        .into_iter()
        .filter(|(k, _)| (k.namespace.as_str(), k.name.as_str()) != except)
        .filter_map(|(k, part)| held_network(&k, part))
        .collect())
}

/// Where a cluster body records its network.
const NETWORK_POINTER: &str = "/status/network";

/// The exclusive network a cluster's `status.network` part holds, if any.
fn held_network(key: &ObjectKey, part: Option<Value>) -> Option<Taken> {
    let a: NetworkAllocation = serde_json::from_value(part?).ok()?;
    let net = a.net().filter(|_| a.exclusive)?;
    Some(Taken {
        net,
        owner: format!("{}/{}", key.namespace, key.name),
    })
}

/// The networks clusters hold, kept current from the store's change events: each
/// [`refresh`](TakenNetworks::refresh) re-reads only the clusters written since the last,
/// rather than every cluster's status on every allocation (all of them on first use, or
/// when the event history no longer reaches back).
#[derive(Debug, Default)]
pub struct TakenNetworks {
    /// The resource version the map is current at; `None` before the first refresh.
    at: Option<i64>,
    held: std::collections::HashMap<ObjectKey, Taken>,
}

impl TakenNetworks {
    /// Brings the map up to the store's latest committed write.
    pub fn refresh(&mut self, store: &Store) -> Result<(), StoreError> {
        let clusters = ListFilter::every(&CLUSTER);
        let changes = store.project_since(self.at, &clusters, NETWORK_POINTER)?;
        if changes.complete {
            self.held.clear();
        }
        for (key, part) in changes.parts {
            match held_network(&key, part) {
                Some(t) => self.held.insert(key, t),
                None => self.held.remove(&key),
            };
        }
        self.at = Some(changes.at);
        Ok(())
    }

    /// What [`taken`] answers, from the map: every held network but `except`'s.
    pub fn taken(&self, except: (&str, &str)) -> Vec<Taken> {
        let mut out: Vec<Taken> = self
            .held
            .iter()
            .filter(|(k, _)| (k.namespace.as_str(), k.name.as_str()) != except)
            .map(|(_, t)| t.clone())
            .collect();
        // In key order, as the store lists them, so messages name the same owner.
        out.sort_by(|a, b| a.owner.cmp(&b.owner));
        out
    }
}

/// A range clusters may be allocated from, with where it is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub net: Ipv4Net,
    /// `AssignableNetwork/{workspace}/{name}`.
    pub from: String,
}

/// A network another cluster holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub net: Ipv4Net,
    /// `{workspace}/{cluster}`, for messages.
    pub owner: String,
}

/// Why a network could not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error(
        "no AssignableNetwork has node ranges for stage {stage:?} and cloud {cloud:?} (looked in workspace {workspace} and admin{names}); an administrator must add one, or the cluster must give spec.network.cidr"
    )]
    NoPools {
        stage: String,
        cloud: String,
        workspace: String,
        /// `, names a, b` when the network plan restricts them, else empty.
        names: String,
    },
    #[error(
        "no free /{prefix} network is left in {pools}; delete a cluster, ask for a smaller network (a larger prefix length), or ask an administrator for more assignable ranges"
    )]
    Exhausted { prefix: u8, pools: String },
    #[error("spec.network.cidr {cidr} overlaps {other_cidr}, the network of cluster {owner}")]
    Overlaps {
        cidr: Ipv4Net,
        other_cidr: Ipv4Net,
        owner: String,
    },
    #[error(
        "spec.network.cidr {cidr} is not inside an assignable range for this stage and cloud: use a range inside {pools}, or ask for a size"
    )]
    OutsidePools { cidr: Ipv4Net, pools: String },
}

/// The first block of prefix length `prefix`, lowest address first over `ranges` (in address
/// order), that overlaps nothing in `taken`. `None` when every block is taken or no range is
/// large enough.
pub fn allocate(ranges: &[Ipv4Net], taken: &[Ipv4Net], prefix: u8) -> Option<Ipv4Net> {
    if prefix > 32 {
        return None;
    }
    let size = 1u64 << (32 - u32::from(prefix));
    // The taken blocks as disjoint address intervals in order, so one sweep per range
    // finds the first free aligned block: O(n log n) in the networks taken.
    let mut held: Vec<(u64, u64)> = taken
        .iter()
        .map(|t| (u64::from(t.addr), u64::from(t.last())))
        .collect();
    held.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(held.len());
    for (first, last) in held {
        match merged.last_mut() {
            Some((_, end)) if first <= *end + 1 => *end = (*end).max(last),
            _ => merged.push((first, last)),
        }
    }
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for range in sorted {
        if prefix < range.prefix {
            continue;
        }
        let end = u64::from(range.last());
        let mut addr = u64::from(range.addr);
        // The first interval that does not end before `addr`.
        let mut i = merged.partition_point(|&(_, last)| last < addr);
        while addr + size - 1 <= end {
            match merged.get(i) {
                Some(&(first, last)) if first < addr + size => {
                    // Jump past the block in the way, to the next aligned address.
                    addr = (last + 1).max(addr + size).div_ceil(size) * size;
                    while merged.get(i).is_some_and(|&(_, last)| last < addr) {
                        i += 1;
                    }
                }
                _ => {
                    return Some(Ipv4Net {
                        addr: addr as u32,
                        prefix,
                    });
                }
            }
        }
    }
    None
}

/// Checks a CIDR a cluster asked for: it overlaps nothing in `taken` and, when `ranges` is
/// not empty, lies inside one of them. Returns the index of the range holding it.
pub fn check_explicit(
    cidr: Ipv4Net,
    ranges: &[Ipv4Net],
    taken: &[Ipv4Net],
) -> Result<Option<usize>, ExplicitProblem> {
    if let Some(t) = taken.iter().position(|t| t.overlaps(&cidr)) {
        return Err(ExplicitProblem::Overlaps(t));
    }
    if ranges.is_empty() {
        return Ok(None);
    }
    ranges
        .iter()
        .position(|r| r.contains(&cidr))
        .map(Some)
        .ok_or(ExplicitProblem::OutsideRanges)
}

/// What is wrong with an explicit CIDR; see [`check_explicit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplicitProblem {
    /// It overlaps `taken[i]`.
    Overlaps(usize),
    /// Ranges exist and it is inside none of them.
    OutsideRanges,
}

/// The pools for a cluster: node ranges of `assignables` (each with its workspace) for
/// `stage` and `cloud`/`provider`, restricted to `names` when the network plan lists any,
/// in a stable order.
pub fn pools_for(
    assignables: &[(String, AssignableNetwork)],
    names: Option<&[String]>,
    stage: &str,
    cloud: &str,
    provider: &str,
) -> Vec<Pool> {
    let mut pools = Vec::new();
    for (ws, an) in assignables {
        let spec = &an.spec;
        let provider_ok = spec.provider.eq_ignore_ascii_case(cloud)
            || spec.provider.eq_ignore_ascii_case(provider);
        let named = names.is_none_or(|n| n.is_empty() || n.contains(&an.metadata.name));
        if spec.stage != stage || !provider_ok || !named {
            continue;
        }
        for r in &spec.networks {
            if !(r.type_.is_empty() || r.type_ == "node") {
                continue;
            }
            if let Ok(net) = Ipv4Net::parse(&r.range) {
                pools.push(Pool {
                    net,
                    from: format!("AssignableNetwork/{ws}/{}", an.metadata.name),
                });
            }
        }
    }
    pools.sort_by(|a, b| a.net.cmp(&b.net).then_with(|| a.from.cmp(&b.from)));
    pools
}

/// Where a cluster's network request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOrigin {
    /// The cluster's `spec.network` (or the plan's default size).
    Cluster,
    /// The network plan's fixed node range.
    NetworkPlan(String),
}

/// Decides a cluster's network. `pools` from [`pools_for`]; `taken` are the exclusive
/// networks of every other cluster.
pub fn decide(
    request: NetworkRequest,
    origin: &RequestOrigin,
    pools: &[Pool],
    taken: &[Taken],
    context: &PoolContext,
) -> Result<NetworkAllocation, NetworkError> {
    let taken_nets: Vec<Ipv4Net> = taken.iter().map(|t| t.net).collect();
    let ranges: Vec<Ipv4Net> = pools.iter().map(|p| p.net).collect();
    let pool_list = || {
        if pools.is_empty() {
            "(no pools)".to_string()
        } else {
            pools
                .iter()
                .map(|p| format!("{} ({})", p.net, p.from))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    match (request, origin) {
        (NetworkRequest::Cidr(net), RequestOrigin::NetworkPlan(plan)) => Ok(NetworkAllocation {
            cidr: net.to_string(),
            from: format!("ClusterNetworkPlan/{plan}"),
            exclusive: false,
        }),
        (NetworkRequest::Cidr(net), RequestOrigin::Cluster) => {
            match check_explicit(net, &ranges, &taken_nets) {
                Ok(_) => Ok(NetworkAllocation {
                    cidr: net.to_string(),
                    from: "spec.network.cidr".to_string(),
                    exclusive: true,
                }),
                Err(ExplicitProblem::Overlaps(i)) => Err(NetworkError::Overlaps {
                    cidr: net,
                    other_cidr: taken[i].net,
                    owner: taken[i].owner.clone(),
                }),
                Err(ExplicitProblem::OutsideRanges) => Err(NetworkError::OutsidePools {
                    cidr: net,
                    pools: pool_list(),
                }),
            }
        }
        (NetworkRequest::Size(prefix), _) => {
            if pools.is_empty() {
                return Err(NetworkError::NoPools {
                    stage: context.stage.clone(),
                    cloud: context.cloud.clone(),
                    workspace: context.workspace.clone(),
                    names: match &context.names {
                        Some(n) if !n.is_empty() => format!(", names {}", n.join(", ")),
                        _ => String::new(),
                    },
                });
            }
            let net =
                allocate(&ranges, &taken_nets, prefix).ok_or_else(|| NetworkError::Exhausted {
                    prefix,
                    pools: pool_list(),
                })?;
            let from = pools
                .iter()
                .find(|p| p.net.contains(&net))
                .map(|p| p.from.clone())
                .unwrap_or_default();
            Ok(NetworkAllocation {
                cidr: net.to_string(),
                from,
                exclusive: true,
            })
        }
    }
}

/// The network decision for `cluster` of `workspace`, resolved as `resolution`, given the
/// networks other clusters hold (`taken`): the one place both the dry-run preview
/// (admission's `status.plannedNetwork`) and the reconciler's real allocation assemble it,
/// so the preview cannot disagree with the run.
///
/// Reads the network plan's `assignableNetworks` and the AssignableNetworks of the
/// cluster's workspace and of `admin` through `view`; a view that remembers read failures
/// ([`crate::view::StoreView`]) must be checked by the caller afterwards.
pub fn allocation_for(
    view: &dyn ObjectView,
    workspace: &str,
    cluster: &Cluster,
    resolution: &Resolution,
    taken: &[Taken],
) -> Result<NetworkAllocation, NetworkError> {
    let names: Option<Vec<String>> = match view
        .get(&CLUSTER_NETWORK_PLAN, None, &resolution.network_plan, None)
        .as_deref()
    {
        Some(Object::ClusterNetworkPlan(p)) => p.spec.assignable_networks.clone(),
        _ => None,
    };
    let mut holders = vec![workspace.to_string()];
    if workspace != ADMIN_WORKSPACE {
        holders.push(ADMIN_WORKSPACE.to_string());
    }
    let mut assignables: Vec<(String, AssignableNetwork)> = Vec::new();
    for ws in &holders {
        for o in view.list(&ASSIGNABLE_NETWORK, Some(ws)) {
            if let Object::AssignableNetwork(an) = o.as_ref() {
                assignables.push((ws.clone(), an.clone()));
            }
        }
    }
    let rc = &resolution.cluster;
    let pools = pools_for(
        &assignables,
        names.as_deref(),
        &rc.stage,
        &rc.cloud,
        &rc.provider,
    );
    // A CIDR the cluster gives itself is the cluster's; any other CIDR is the plan's.
    let own_cidr = cluster
        .spec
        .network
        .as_ref()
        .is_some_and(|n| n.cidr.is_some());
    let origin = match resolution.network {
        NetworkRequest::Cidr(_) if !own_cidr => {
            RequestOrigin::NetworkPlan(resolution.network_plan.clone())
        }
        _ => RequestOrigin::Cluster,
    };
    let context = PoolContext {
        workspace: workspace.to_string(),
        stage: rc.stage.clone(),
        cloud: rc.cloud.clone(),
        names,
    };
    decide(resolution.network, &origin, &pools, taken, &context)
}

/// What the pools were looked up for, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolContext {
    pub workspace: String,
    pub stage: String,
    pub cloud: String,
    pub names: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        Ipv4Net::parse(s).unwrap()
    }

    /// The first-fit rule stated plainly: every aligned candidate in order, checked against
    /// every taken block.
    fn first_fit(ranges: &[Ipv4Net], taken: &[Ipv4Net], prefix: u8) -> Option<Ipv4Net> {
        let size = 1u64 << (32 - u32::from(prefix));
        let mut sorted = ranges.to_vec();
        sorted.sort();
        sorted
            .into_iter()
            .filter(|r| prefix >= r.prefix)
            .flat_map(|r| {
                let first = u64::from(r.addr);
                let last = u64::from(r.last());
                (0..)
                    .map(move |i| first + i * size)
                    .take_while(move |a| a + size - 1 <= last)
            })
            .map(|a| Ipv4Net {
                addr: a as u32,
                prefix,
            })
            .find(|c| taken.iter().all(|t| !t.overlaps(c)))
    }

    /// Blocks of /24 to /30 somewhere in 10.0.0.0/16.
    fn small_net() -> impl proptest::strategy::Strategy<Value = Ipv4Net> {
        use proptest::strategy::Strategy;
        (0u32..(1 << 14), 24u8..=30).prop_map(|(off, prefix)| Ipv4Net {
            addr: (0x0a00_0000 + (off << 2)) & (u32::MAX << (32 - u32::from(prefix))),
            prefix,
        })
    }

    /// /22 ranges in 10.0.0.0/16.
    fn range() -> impl proptest::strategy::Strategy<Value = Ipv4Net> {
        use proptest::strategy::Strategy;
        (0u32..64).prop_map(|i| Ipv4Net {
            addr: 0x0a00_0000 + (i << 10),
            prefix: 22,
        })
    }

    #[test]
    fn the_kept_map_answers_what_reading_every_cluster_answers() {
        use crate::store::{Mutation, NewRow};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db")).unwrap();
        let write = |ws: &str, name: &str, network: Option<(&str, bool)>| {
            let key = crate::keys::cluster_key(ws, name);
            let mutation = match network {
                Some((cidr, exclusive)) => Mutation::Put(NewRow {
                    body: serde_json::json!({"status": {"network": {
                        "cidr": cidr, "from": "AssignableNetwork/admin/n", "exclusive": exclusive}}}),
                    generation: 1,
                    uid: "u".into(),
                    created: "2025-01-01T00:00:00Z".into(),
                }),
                None => Mutation::Delete,
            };
            store
                .mutate::<_, StoreError>(&key, false, |_| Ok((mutation.clone(), ())))
                .unwrap();
        };
        let mut kept = TakenNetworks::default();
        let agree = |kept: &mut TakenNetworks| {
            kept.refresh(&store).unwrap();
            for except in [("a", "c1"), ("", "")] {
                assert_eq!(kept.taken(except), taken(&store, except).unwrap());
            }
        };
        write("a", "c1", Some(("10.0.0.0/24", true)));
        write("a", "c2", Some(("10.0.1.0/24", true)));
        agree(&mut kept);
        assert_eq!(kept.taken(("", "")).len(), 2);
        write("b", "c1", Some(("10.0.2.0/24", false)));
        write("a", "c1", None);
        write("a", "c2", Some(("10.0.3.0/24", true)));
        write("a", "c3", Some(("10.0.4.0/24", true)));
        agree(&mut kept);
        assert_eq!(
            kept.taken(("", "")).len(),
            2,
            "deleted and non-exclusive networks are free"
        );
        // Once the history no longer reaches back, it starts over from every cluster.
        write("a", "c5", Some(("10.0.5.0/24", true)));
        store.forget_changes_before(i64::MAX).unwrap();
        write("a", "c6", Some(("10.0.6.0/24", true)));
        agree(&mut kept);
        assert_eq!(kept.taken(("", "")).len(), 4);
    }

    proptest::proptest! {
        #[test]
        fn the_sweep_finds_what_first_fit_finds(
            ranges in proptest::collection::vec(range(), 0..4),
            taken in proptest::collection::vec(small_net(), 0..40),
            prefix in 24u8..=28,
        ) {
            proptest::prop_assert_eq!(
                allocate(&ranges, &taken, prefix),
                first_fit(&ranges, &taken, prefix)
            );
        }
    }

    #[test]
    fn first_fit_lowest_address() {
        let ranges = [n("10.1.0.0/16"), n("10.0.0.0/16")];
        assert_eq!(allocate(&ranges, &[], 22), Some(n("10.0.0.0/22")));
        assert_eq!(
            allocate(&ranges, &[n("10.0.0.0/22")], 22),
            Some(n("10.0.4.0/22"))
        );
        // A hole left by a deleted cluster is reused first.
        assert_eq!(
            allocate(&ranges, &[n("10.0.4.0/22"), n("10.0.8.0/24")], 22),
            Some(n("10.0.0.0/22"))
        );
        // Smaller blocks in the way are skipped past, to the next aligned address.
        assert_eq!(
            allocate(&ranges, &[n("10.0.1.0/24")], 22),
            Some(n("10.0.4.0/22"))
        );
        // A large taken block that covers the whole first range moves to the second.
        assert_eq!(
            allocate(&ranges, &[n("10.0.0.0/15")], 24),
            None,
            "10.0.0.0/15 covers both ranges"
        );
        assert_eq!(
            allocate(&ranges, &[n("10.0.0.0/16")], 24),
            Some(n("10.1.0.0/24"))
        );
        // Deterministic: the same inputs give the same answer whatever the order.
        let taken = [n("10.0.8.0/22"), n("10.0.0.0/22"), n("10.0.4.0/22")];
        let mut rev = taken;
        rev.reverse();
        assert_eq!(allocate(&ranges, &taken, 22), allocate(&ranges, &rev, 22));
        assert_eq!(allocate(&ranges, &taken, 22), Some(n("10.0.12.0/22")));
    }

    #[test]
    fn too_large_requests_and_exhaustion() {
        assert_eq!(allocate(&[n("10.0.0.0/24")], &[], 22), None);
        assert_eq!(
            allocate(
                &[n("10.0.0.0/23")],
                &[n("10.0.0.0/24"), n("10.0.1.0/24")],
                24
            ),
            None
        );
        assert_eq!(
            allocate(&[n("10.0.0.0/24")], &[], 24),
            Some(n("10.0.0.0/24"))
        );
        assert_eq!(allocate(&[n("10.0.0.0/24")], &[], 33), None);
        // The top of the address space does not overflow.
        assert_eq!(
            allocate(&[n("255.255.255.0/24")], &[], 24),
            Some(n("255.255.255.0/24"))
        );
        assert_eq!(
            allocate(&[n("255.255.254.0/23")], &[n("255.255.254.0/24")], 24),
            Some(n("255.255.255.0/24"))
        );
        assert_eq!(
            allocate(&[n("255.255.255.0/24")], &[n("255.255.255.0/25")], 24),
            None
        );
    }

    #[test]
    fn explicit_cidrs_are_checked_against_ranges_and_taken() {
        let ranges = [n("10.0.0.0/16")];
        assert_eq!(
            check_explicit(n("10.0.4.0/22"), &ranges, &[n("10.0.0.0/22")]),
            Ok(Some(0))
        );
        assert_eq!(
            check_explicit(n("10.0.0.0/22"), &ranges, &[n("10.0.2.0/24")]),
            Err(ExplicitProblem::Overlaps(0))
        );
        assert_eq!(
            check_explicit(n("10.2.0.0/22"), &ranges, &[]),
            Err(ExplicitProblem::OutsideRanges)
        );
        // Straddling a range's edge is outside it.
        assert_eq!(
            check_explicit(n("10.0.0.0/15"), &ranges, &[]),
            Err(ExplicitProblem::OutsideRanges)
        );
        // Without pools, anything free goes.
        assert_eq!(check_explicit(n("192.168.0.0/24"), &[], &[]), Ok(None));
    }

    fn pools() -> Vec<Pool> {
        vec![Pool {
            net: n("10.0.0.0/20"),
            from: "AssignableNetwork/admin/aws-nonprod".into(),
        }]
    }

    #[test]
    fn decisions_name_their_source_and_explain_failures() {
        let ctx = PoolContext {
            workspace: "pay".into(),
            stage: "nonprod".into(),
            cloud: "aws".into(),
            names: Some(vec!["aws-nonprod".into()]),
        };
        let taken = vec![Taken {
            net: n("10.0.0.0/22"),
            owner: "pay/a".into(),
        }];
        let a = decide(
            NetworkRequest::Size(22),
            &RequestOrigin::Cluster,
            &pools(),
            &taken,
            &ctx,
        )
        .unwrap();
        assert_eq!(
            a,
            NetworkAllocation {
                cidr: "10.0.4.0/22".into(),
                from: "AssignableNetwork/admin/aws-nonprod".into(),
                exclusive: true
            }
        );
        assert!(a.satisfies(&NetworkRequest::Size(22)));
        assert!(!a.satisfies(&NetworkRequest::Size(23)));
        let e = decide(
            NetworkRequest::Cidr(n("10.0.2.0/24")),
            &RequestOrigin::Cluster,
            &pools(),
            &taken,
            &ctx,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.network.cidr 10.0.2.0/24 overlaps 10.0.0.0/22, the network of cluster pay/a"
        );
        let e = decide(
            NetworkRequest::Size(22),
            &RequestOrigin::Cluster,
            &[],
            &taken,
            &ctx,
        )
        .unwrap_err();
        assert!(e.to_string().contains("names aws-nonprod"), "{e}");
        let e = decide(
            NetworkRequest::Size(16),
            &RequestOrigin::Cluster,
            &pools(),
            &taken,
            &ctx,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("no free /16 network"), "{e}");
        // A network plan's fixed range is shared, not exclusive.
        let fixed = decide(
            NetworkRequest::Cidr(n("10.0.0.0/20")),
            &RequestOrigin::NetworkPlan("gke-standard".into()),
            &[],
            &taken,
            &ctx,
        )
        .unwrap();
        assert!(!fixed.exclusive);
        assert_eq!(fixed.from, "ClusterNetworkPlan/gke-standard");
    }

    #[test]
    fn pools_follow_stage_cloud_and_names() {
        let yaml = r#"
apiVersion: networking.appvia.io/v2beta1
kind: AssignableNetwork
metadata: {name: aws-nonprod, namespace: ws-admin}
spec:
  provider: aws
  stage: nonprod
  networks:
    - {range: 10.1.0.0/16, type: node}
    - {range: 10.0.0.0/16, type: node}
    - {range: 172.16.0.0/16, type: service}
"#;
        let an: AssignableNetwork = serde_json::from_value(
            wayfinder_model::parse_yaml_documents("t", yaml).unwrap()[0]
                .object
                .to_json(),
        )
        .unwrap();
        let list = vec![("admin".to_string(), an)];
        let got = pools_for(&list, None, "nonprod", "aws", "EKS");
        assert_eq!(
            got.iter().map(|p| p.net.to_string()).collect::<Vec<_>>(),
            ["10.0.0.0/16", "10.1.0.0/16"]
        );
        assert_eq!(got[0].from, "AssignableNetwork/admin/aws-nonprod");
        assert!(pools_for(&list, None, "prod", "aws", "EKS").is_empty());
        assert!(pools_for(&list, None, "nonprod", "gcp", "GKE").is_empty());
        assert!(pools_for(&list, Some(&["other".to_string()]), "nonprod", "aws", "EKS").is_empty());
        assert_eq!(
            pools_for(
                &list,
                Some(&["aws-nonprod".to_string()]),
                "nonprod",
                "aws",
                "EKS"
            )
            .len(),
            2
        );
    }
}
