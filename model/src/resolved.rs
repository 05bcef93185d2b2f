//! A cluster with its references resolved: what admission, policy and cost work on.

use std::collections::BTreeMap;

use crate::cluster::PlanRef;
use crate::compute::NodePool;
use crate::error::{FieldPath, PathSegment};

/// A Cluster after its plan, compute template and cloud access were looked up: the values
/// that will be provisioned, with where each came from so violations can point at the field
/// the user controls.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedCluster {
    /// The workspace the cluster is in.
    pub workspace: String,
    /// The cluster's name.
    pub name: String,
    /// The cluster's stage.
    pub stage: String,
    /// The plan version it is built from.
    pub plan: PlanRef,
    /// `EKS`, `AKS` or `GKE`, from the plan.
    pub provider: String,
    /// `aws`, `azure` or `gcp`.
    pub cloud: String,
    /// The region: the cluster's own, the plan's default, or the cloud access's default.
    pub region: String,
    /// The effective node pools: the compute template's, with the cluster's own pools
    /// replacing those of the same logical name and added after them.
    pub node_pools: Vec<NodePool>,
    /// Where each effective pool came from, index for index with `node_pools`.
    pub pool_origins: Vec<PoolOrigin>,
    /// Labels policies select on: `appvia.io/stage`, `appvia.io/plan`, `appvia.io/provider`,
    /// `appvia.io/cloud`, `appvia.io/workspace`, plus the cluster's own.
    pub labels: BTreeMap<String, String>,
}

/// Where an effective node pool was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolOrigin {
    /// `spec.nodePools[i]` of the Cluster.
    Cluster(usize),
    /// The compute template named by the cluster (or the plan's default).
    Template,
}

impl ResolvedCluster {
    /// The path of `field` (e.g. `machine`) of effective pool `i`, in the Cluster object: inside
    /// `spec.nodePools[j]` for the cluster's own pools, else `spec.computeTemplate`, which is
    /// what the user chose.
    pub fn pool_field_path(&self, i: usize, field: &str) -> FieldPath {
        let spec = FieldPath::root().field("spec");
        match self.pool_origins.get(i) {
            Some(PoolOrigin::Cluster(j)) => spec.field("nodePools").index(*j).field(field),
            _ => spec.field("computeTemplate"),
        }
    }

    /// `rel` (a path inside a node pool, e.g. `autoscaling.maxSize`) of effective pool `i`, in
    /// the Cluster object: through [`Self::pool_field_path`] for the first field, with the rest
    /// appended when the pool is the cluster's own.
    pub(crate) fn pool_path(&self, i: usize, rel: &FieldPath) -> FieldPath {
        let own = matches!(self.pool_origins.get(i), Some(PoolOrigin::Cluster(_)));
        match rel.segments().split_first() {
            Some((PathSegment::Field(first), rest)) => {
                let mut p = self.pool_field_path(i, first);
                if own {
                    p.0.extend(rest.iter().cloned());
                }
                p
            }
            _ => {
                let mut p = self.pool_field_path(i, "logicalName");
                if own {
                    p.0.pop();
                }
                p
            }
        }
    }
}
