//! Benchmarks of the model engine: what admission and the plan-time preview do for one cluster.
//!
//! `cargo bench -p wayfinder-model --bench engine` (add `-- --quick` for a short run).

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wayfinder_model::cluster::PlanRef;
use wayfinder_model::common::ScopeSpec;
use wayfinder_model::compute::{Autoscaling, NodePool, Spot, SpotEks};
use wayfinder_model::cost::{Catalog, estimate};
use wayfinder_model::policy::{
    ClusterLimits, InstanceTypeLimit, Limits, ProvisioningPolicy, ProvisioningPolicySpec,
    WorkspaceUsage, check_cluster, effective_policy,
};
use wayfinder_model::resolved::{PoolOrigin, ResolvedCluster};

const WORKSPACES: &[&str] = &["pay", "ops", "web", "data", "ml"];
const STAGES: &[&str] = &["dev", "test", "prod"];
const CLOUDS: &[&str] = &["aws", "azure", "gcp"];

/// 1,000 policies over three clouds and every scope tier; a handful apply to `pay`/`prod` on
/// aws, with ties at the most specific tier.
fn policies() -> Vec<ProvisioningPolicy> {
    (0..1000)
        .map(|i| {
            let ws = WORKSPACES[i % WORKSPACES.len()];
            let stage = STAGES[(i / 5) % STAGES.len()];
            let named = |on: bool, v: &str| on.then(|| vec![v.to_string(), format!("x{}", i % 7)]);
            let tier = i % 4;
            let scope = ScopeSpec {
                all_workspaces: Some(tier == 0 || tier == 2),
                allowed_workspaces: named(tier == 1 || tier == 3, ws),
                all_stages: Some(tier == 0 || tier == 1),
                allowed_stages: named(tier == 2 || tier == 3, stage),
            };
            let limits = |scale: i64| Limits {
                allowed_instance_types: Some(
                    [
                        "m6i.large",
                        "m6i.xlarge",
                        "m5.4xlarge",
                        "c6i.large",
                        "r6i.large",
                    ]
                    .iter()
                    .take(2 + i % 4)
                    .map(|t| InstanceTypeLimit {
                        instance_type: t.to_string(),
                        max_nodes: Some(5 + (i % 10) as i64),
                    })
                    .collect(),
                ),
                cost_per_month: Some(scale * (500 + (i % 13) as i64 * 100)),
                total_nodes: Some(scale * (8 + (i % 5) as i64)),
                max_clusters: (scale > 1).then_some(3 + (i % 3) as i64),
            };
            ProvisioningPolicy::new(
                &format!("policy-{i:04}"),
                ProvisioningPolicySpec {
                    description: None,
                    scope: Some(scope),
                    cloud: CLOUDS[(i / 3) % CLOUDS.len()].to_string(),
                    allowed_regions: Some(vec!["eu-west-2".into(), "eu-west-1".into()]),
                    cluster_limits: Some(ClusterLimits {
                        per_cluster: Some(limits(1)),
                        per_workspace: Some(limits(5)),
                    }),
                },
            )
        })
        .collect()
}

fn cluster() -> ResolvedCluster {
    let pool = |name: &str, machine: &str, size: i64| NodePool {
        logical_name: name.into(),
        machine: machine.into(),
        size: Some(size),
        disk_size: Some(50),
        ..Default::default()
    };
    let mut big = pool("compute", "m6i.xlarge", 2);
    big.autoscaling = Some(Autoscaling {
        enabled: Some(true),
        min_size: Some(1),
        max_size: Some(8),
    });
    let mut spot = pool("batch", "m5.4xlarge", 3);
    spot.spot = Some(Spot {
        enabled: Some(true),
        eks: Some(SpotEks {
            additional_instance_types: Some(vec!["r6i.large".into()]),
        }),
    });
    ResolvedCluster {
        workspace: "pay".into(),
        name: "payments".into(),
        stage: "prod".into(),
        plan: PlanRef {
            name: "eks-general-purpose".into(),
            version: "1.3.0".into(),
        },
        provider: "EKS".into(),
        cloud: "aws".into(),
        region: "eu-west-2".into(),
        node_pools: vec![pool("system", "m6i.large", 3), big, spot],
        pool_origins: vec![
            PoolOrigin::Template,
            PoolOrigin::Cluster(0),
            PoolOrigin::Cluster(1),
        ],
        labels: BTreeMap::new(),
    }
}

fn admission(c: &mut Criterion) {
    let policies = policies();
    let cluster = cluster();
    let catalog = Catalog::builtin();
    let usage = WorkspaceUsage {
        clusters: 2,
        nodes: 20,
        cost_cents: 250_000,
        nodes_by_instance_type: BTreeMap::from([("m6i.large".into(), 6)]),
    };
    // The work is real: the cluster breaks some limits.
    let policy = effective_policy(&policies, "pay", "prod", "aws");
    let est = estimate(catalog, "EKS", "eu-west-2", &cluster.node_pools).unwrap();
    assert!(!policy.policies.is_empty());
    assert!(!check_cluster(&policy, &cluster, &est, &usage).is_empty());

    c.bench_function(
        "admission: effective_policy(1000 policies) + estimate + check_cluster(3 pools)",
        |b| {
            b.iter(|| {
                let cluster = black_box(&cluster);
                let policy = effective_policy(
                    black_box(&policies),
                    &cluster.workspace,
                    &cluster.stage,
                    &cluster.cloud,
                );
                let est = estimate(
                    black_box(catalog),
                    &cluster.provider,
                    &cluster.region,
                    &cluster.node_pools,
                )
                .unwrap();
                check_cluster(&policy, cluster, &est, black_box(&usage))
            })
        },
    );
    c.bench_function("effective_policy(1000 policies)", |b| {
        b.iter(|| effective_policy(black_box(&policies), "pay", "prod", "aws"))
    });
    c.bench_function("estimate(3 pools, built-in catalog)", |b| {
        b.iter(|| estimate(black_box(catalog), "EKS", "eu-west-2", &cluster.node_pools))
    });
    c.bench_function("Catalog::from_json(built-in)", |b| {
        b.iter(|| Catalog::from_json(black_box(wayfinder_model::cost::BUILTIN_CATALOG_JSON)))
    });
}

criterion_group!(benches, admission);
criterion_main!(benches);
