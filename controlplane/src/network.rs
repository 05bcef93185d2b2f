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
//! taken are always read from the other clusters' statuses. The reconciler allocates under
//! one lock, so two clusters never pick the same block.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wayfinder_model::kinds::CLUSTER;
use wayfinder_model::net::Ipv4Net;
use wayfinder_model::networking::{AssignableNetwork, NetworkRequest};

use crate::store::{ListFilter, Reads, StoreError};

/// `status.network` of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAllocation {
    /// The cluster's node network, e.g. `10.0.4.0/22`.
    pub cidr: String,
    /// Where it came from: `AssignableNetwork/{workspace}/{name}` (allocated by size),
    /// `spec.network.cidr` (the cluster's own), or `ClusterNetworkPlan/{name}` (fixed).
    pub from: String,
    /// Whether other clusters must stay out of it (false for a network plan's fixed range).
    pub exclusive: bool,
}

impl NetworkAllocation {
    /// The parsed CIDR, when valid.
    pub fn net(&self) -> Option<Ipv4Net> {
        Ipv4Net::parse(&self.cidr).ok()
    }

    /// Whether this allocation satisfies `request` (so an update can keep it).
    pub fn satisfies(&self, request: &NetworkRequest) -> bool {
        match (self.net(), request) {
            (Some(net), NetworkRequest::Size(p)) => net.prefix == *p && self.exclusive,
            (Some(net), NetworkRequest::Cidr(c)) => net == *c,
            (None, _) => false,
        }
    }

    /// The allocation recorded in a cluster body's `status.network`, if any.
    pub fn from_status(body: &Value) -> Option<Self> {
        serde_json::from_value(body.get("status")?.get("network")?.clone()).ok()
    }
}

/// The exclusive networks held by every cluster except `except` (`(workspace, name)`), as
/// their status records them; reads only `status.network` of each.
pub fn taken(store: &dyn Reads, except: (&str, &str)) -> Result<Vec<Taken>, StoreError> {
    let clusters = ListFilter {
        group: Some(CLUSTER.group.to_string()),
        kind: Some(CLUSTER.kind.to_string()),
        ..ListFilter::default()
    };
    Ok(store
        .project(&clusters, "/status/network")?
        .into_iter()
        .filter(|(k, _)| (k.namespace.as_str(), k.name.as_str()) != except)
        .filter_map(|(k, part)| {
            let a: NetworkAllocation = serde_json::from_value(part?).ok()?;
            let net = a.net().filter(|_| a.exclusive)?;
            Some(Taken {
                net,
                owner: format!("{}/{}", k.namespace, k.name),
            })
        })
        .collect())
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
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for range in sorted {
        if prefix < range.prefix {
            continue;
        }
        let end = u64::from(range.last());
        let mut addr = u64::from(range.addr);
        while addr + size - 1 <= end {
            let candidate = Ipv4Net {
                addr: addr as u32,
                prefix,
            };
            let blocking = taken
                .iter()
                .filter(|t| t.overlaps(&candidate))
                .map(|t| u64::from(t.last()))
                .max();
            match blocking {
                None => return Some(candidate),
                // Jump past the block in the way, to the next aligned address.
                Some(last) => addr = (last + 1).max(addr + size).div_ceil(size) * size,
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
