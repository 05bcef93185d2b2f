//! Tests of the policy engine: the effective policy, then the checks.

use std::collections::BTreeMap;

use super::*;
use crate::cluster::PlanRef;
use crate::common::ScopeSpec;
use crate::compute::{Autoscaling, NodePool, Spot, SpotEks};
use crate::cost::{Catalog, Estimate, PoolEstimate, estimate};
use crate::resolved::{PoolOrigin, ResolvedCluster};

mod check;
mod effective;

fn scope(ws: &[&str], stages: &[&str]) -> Option<ScopeSpec> {
    let list = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
    Some(ScopeSpec {
        all_workspaces: Some(ws.is_empty()),
        allowed_workspaces: list(ws),
        all_stages: Some(stages.is_empty()),
        allowed_stages: list(stages),
    })
}

fn pol(
    name: &str,
    cloud: &str,
    ws: &[&str],
    stages: &[&str],
    f: impl FnOnce(&mut ProvisioningPolicySpec),
) -> ProvisioningPolicy {
    let mut spec = ProvisioningPolicySpec {
        cloud: cloud.into(),
        scope: scope(ws, stages),
        ..Default::default()
    };
    f(&mut spec);
    ProvisioningPolicy::new(name, spec)
}

fn per_cluster(spec: &mut ProvisioningPolicySpec) -> &mut Limits {
    spec.cluster_limits
        .get_or_insert_with(Default::default)
        .per_cluster
        .get_or_insert_with(Default::default)
}

fn per_workspace(spec: &mut ProvisioningPolicySpec) -> &mut Limits {
    spec.cluster_limits
        .get_or_insert_with(Default::default)
        .per_workspace
        .get_or_insert_with(Default::default)
}

fn cost(n: i64) -> impl FnOnce(&mut ProvisioningPolicySpec) {
    move |s| per_cluster(s).cost_per_month = Some(n)
}

fn types(list: &[(&str, Option<i64>)]) -> Option<Vec<InstanceTypeLimit>> {
    Some(
        list.iter()
            .map(|(t, m)| InstanceTypeLimit {
                instance_type: t.to_string(),
                max_nodes: *m,
            })
            .collect(),
    )
}

fn src(policies: &[&str], tier: ScopeTier) -> Source {
    Source {
        policies: policies.iter().map(|s| s.to_string()).collect(),
        tier,
    }
}

fn tie() -> Vec<ProvisioningPolicy> {
    vec![
        pol("b", "aws", &["pay"], &[], |s| {
            s.allowed_regions = Some(vec!["eu-west-2".into(), "eu-west-1".into()]);
            let l = per_cluster(s);
            l.allowed_instance_types = types(&[("m6i.large", Some(5)), ("r6i.large", None)]);
            l.cost_per_month = Some(800);
            let w = per_workspace(s);
            w.max_clusters = Some(4);
            w.total_nodes = Some(50);
        }),
        pol("a", "aws", &["pay"], &[], |s| {
            s.allowed_regions = Some(vec!["eu-west-1".into()]);
            let l = per_cluster(s);
            l.allowed_instance_types = types(&[
                ("m6i.large", Some(3)),
                ("c6i.large", Some(2)),
                ("r6i.large", Some(9)),
            ]);
            l.cost_per_month = Some(500);
            l.total_nodes = Some(10);
            let w = per_workspace(s);
            w.max_clusters = Some(4);
            w.total_nodes = Some(40);
        }),
        // Less specific: ignored although tighter.
        pol("all", "aws", &[], &[], cost(10)),
    ]
}
