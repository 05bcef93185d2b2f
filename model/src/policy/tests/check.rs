use super::*;

fn pool(name: &str, machine: &str, size: i64) -> NodePool {
    NodePool {
        logical_name: name.into(),
        machine: machine.into(),
        size: Some(size),
        ..Default::default()
    }
}

/// Three pools: the template's `base` (3 × m6i.large), the cluster's own `big`
/// (autoscaling 1..6 × m5.4xlarge) and `spot` (2 × m6i.large, spot, may use c6i.large).
fn cluster() -> ResolvedCluster {
    let mut big = pool("big", "m5.4xlarge", 2);
    big.autoscaling = Some(Autoscaling {
        enabled: Some(true),
        min_size: Some(1),
        max_size: Some(6),
    });
    let mut spot = pool("spot", "m6i.large", 2);
    spot.spot = Some(Spot {
        enabled: Some(true),
        eks: Some(SpotEks {
            additional_instance_types: Some(vec!["c6i.large".into(), "m6i.large".into()]),
        }),
    });
    ResolvedCluster {
        workspace: "pay".into(),
        name: "payments".into(),
        stage: "prod".into(),
        plan: PlanRef {
            name: "eks".into(),
            version: "1.0.0".into(),
        },
        provider: "EKS".into(),
        cloud: "aws".into(),
        region: "us-east-1".into(),
        node_pools: vec![pool("base", "m6i.large", 3), big, spot],
        pool_origins: vec![
            PoolOrigin::Template,
            PoolOrigin::Cluster(0),
            PoolOrigin::Cluster(1),
        ],
        labels: BTreeMap::new(),
    }
}

/// An estimate with the given pool costs (cents) and no control plane.
fn est(pool_cents: &[i64]) -> Estimate {
    Estimate {
        provider: "EKS".into(),
        region: "us-east-1".into(),
        currency: "USD".into(),
        catalog_date: "test".into(),
        pools: pool_cents
            .iter()
            .enumerate()
            .map(|(index, c)| PoolEstimate {
                index,
                logical_name: String::new(),
                machine: String::new(),
                nodes: 0,
                spot: false,
                hourly_usd: 0.0,
                disk_gb: 0,
                compute_cents: *c,
                disk_cents: 0,
                monthly_cents: *c,
            })
            .collect(),
        control_plane_tier: "Standard".into(),
        control_plane_cents: 0,
        total_cents: pool_cents.iter().sum(),
    }
}

fn rows(v: &[Violation]) -> Vec<[String; 6]> {
    v.iter()
        .map(|v| {
            [
                format!("{:?}", v.rule),
                v.path.to_string(),
                v.policy.clone(),
                v.scope.clone(),
                v.limit.clone(),
                v.value.clone(),
            ]
        })
        .collect()
}

fn row(r: &str, path: &str, policy: &str, scope: &str, limit: &str, value: &str) -> [String; 6] {
    [r, path, policy, scope, limit, value].map(String::from)
}

#[test]
fn a_cluster_within_every_limit_has_no_violations() {
    let p = pol("ok", "aws", &["pay"], &["prod"], |s| {
        s.allowed_regions = Some(vec!["us-east-1".into()]);
        let l = per_cluster(s);
        // Exactly at every limit: base 3 + spot 2 m6i.large, spot 2 c6i.large, 11 nodes.
        l.allowed_instance_types = types(&[
            ("m6i.large", Some(5)),
            ("m5.4xlarge", Some(6)),
            ("c6i.large", None),
        ]);
        l.total_nodes = Some(11);
        l.cost_per_month = Some(1000);
        let w = per_workspace(s);
        w.total_nodes = Some(11);
        w.cost_per_month = Some(1000);
        w.max_clusters = Some(1);
    });
    let e = effective_policy(&[p], "pay", "prod", "aws");
    let v = check_cluster(
        &e,
        &cluster(),
        &est(&[50_000, 40_000, 10_000]),
        &WorkspaceUsage::default(),
    );
    assert_eq!(v, vec![]);
}

#[test]
fn every_check_reports_its_violation() {
    let p = pol("tight", "aws", &["pay"], &["prod"], |s| {
        s.allowed_regions = Some(vec!["eu-west-2".into(), "eu-west-1".into()]);
        let l = per_cluster(s);
        l.allowed_instance_types = types(&[("m6i.large", Some(4)), ("m5.4xlarge", Some(5))]);
        l.total_nodes = Some(10);
        l.cost_per_month = Some(900);
        let w = per_workspace(s);
        w.allowed_instance_types = types(&[("m6i.large", Some(6)), ("m5.4xlarge", None)]);
        w.total_nodes = Some(20);
        w.cost_per_month = Some(2000);
        w.max_clusters = Some(2);
    });
    let e = effective_policy(&[p], "pay", "prod", "aws");
    let usage = WorkspaceUsage {
        clusters: 2,
        nodes: 10,
        cost_cents: 150_000,
        nodes_by_instance_type: BTreeMap::from([("m6i.large".to_string(), 2)]),
    };
    let v = check_cluster(&e, &cluster(), &est(&[30_000, 60_000, 10_000]), &usage);
    let s = "workspace \"pay\", stage \"prod\"";
    assert_eq!(
        rows(&v),
        vec![
            row(
                "Region",
                "spec.region",
                "tight",
                s,
                "allowedRegions: eu-west-2, eu-west-1",
                "us-east-1"
            ),
            row(
                "InstanceType",
                "spec.nodePools[1].spot.eks.additionalInstanceTypes[0]",
                "tight",
                s,
                "perCluster.allowedInstanceTypes: m5.4xlarge, m6i.large",
                "c6i.large"
            ),
            // base 3 + spot 2 = 5 m6i.large; the spot pool takes it over 4.
            row(
                "InstanceTypeNodes",
                "spec.nodePools[1].size",
                "tight",
                s,
                "perCluster.allowedInstanceTypes[m6i.large].maxNodes: 4",
                "5 nodes"
            ),
            // big at its autoscaling maximum, 6.
            row(
                "InstanceTypeNodes",
                "spec.nodePools[0].autoscaling.maxSize",
                "tight",
                s,
                "perCluster.allowedInstanceTypes[m5.4xlarge].maxNodes: 5",
                "6 nodes"
            ),
            // 3 + 6 + 2 = 11; big takes it to 9, spot to 11.
            row(
                "ClusterNodes",
                "spec.nodePools[1].size",
                "tight",
                s,
                "perCluster.totalNodes: 10",
                "11 nodes"
            ),
            // The dearest pool is big.
            row(
                "ClusterCost",
                "spec.nodePools[0]",
                "tight",
                s,
                "perCluster.costPerMonth: 900 USD",
                "1000.00 USD"
            ),
            row(
                "WorkspaceInstanceType",
                "spec.nodePools[1].spot.eks.additionalInstanceTypes[0]",
                "tight",
                s,
                "perWorkspace.allowedInstanceTypes: m5.4xlarge, m6i.large",
                "c6i.large"
            ),
            // 2 existing + 3 + 2 = 7 > 6; base takes it to 5, spot to 7.
            row(
                "WorkspaceInstanceTypeNodes",
                "spec.nodePools[1].size",
                "tight",
                s,
                "perWorkspace.allowedInstanceTypes[m6i.large].maxNodes: 6",
                "7 nodes"
            ),
            // 10 existing + 11 = 21 > 20: the template's base pool gets to 13, big to 19,
            // spot to 21.
            row(
                "WorkspaceNodes",
                "spec.nodePools[1].size",
                "tight",
                s,
                "perWorkspace.totalNodes: 20",
                "21 nodes"
            ),
            row(
                "WorkspaceCost",
                "spec.nodePools[0]",
                "tight",
                s,
                "perWorkspace.costPerMonth: 2000 USD",
                "2500.00 USD"
            ),
            row(
                "WorkspaceClusters",
                "",
                "tight",
                s,
                "perWorkspace.maxClusters: 2",
                "3 clusters"
            ),
        ]
    );
    assert_eq!(
        v[0].to_string(),
        "spec.region: region \"us-east-1\" is not allowed; allowed: eu-west-2, eu-west-1 (limit set by provisioning policy \"tight\" for workspace \"pay\", stage \"prod\")"
    );
    assert_eq!(
        v[2].message,
        "the cluster can grow to 5 nodes of instance type \"m6i.large\" (every pool at its largest size), more than the 4 allowed per cluster (limit set by provisioning policy \"tight\" for workspace \"pay\", stage \"prod\")"
    );
    assert_eq!(
        v[5].message,
        "the cluster's estimated monthly cost is 1000.00 USD, more than the 900 USD allowed per cluster (limit set by provisioning policy \"tight\" for workspace \"pay\", stage \"prod\")"
    );
    assert!(v[10].message.starts_with(
        "the workspace would have 3 clusters on aws (its other clusters and this one), more than the 2 allowed"
    ));
    assert!(
        v[1].message
            .contains("allowed: m5.4xlarge (at most 5 nodes), m6i.large (at most 4 nodes)"),
        "{}",
        v[1].message
    );
    // Serialisable for a 422 body.
    let json = serde_json::to_value(&v[0]).unwrap();
    assert_eq!(json["path"], "spec.region");
    assert_eq!(json["rule"], "region");
    assert_eq!(json["policy"], "tight");
    let all = serde_json::to_string(&v).unwrap();
    let back: Vec<Violation> = serde_json::from_str(&all).unwrap();
    assert_eq!(back, v);
}

#[test]
fn template_pools_point_at_the_compute_template() {
    let p = pol("t", "aws", &[], &[], |s| {
        let l = per_cluster(s);
        l.allowed_instance_types = types(&[("m5.4xlarge", None), ("c6i.large", None)]);
        l.total_nodes = Some(2);
    });
    let e = effective_policy(&[p], "pay", "prod", "aws");
    let v = check_cluster(&e, &cluster(), &est(&[1, 1, 1]), &WorkspaceUsage::default());
    assert_eq!(
        rows(&v),
        vec![
            row(
                "InstanceType",
                "spec.computeTemplate",
                "t",
                "all workspaces and stages",
                "perCluster.allowedInstanceTypes: c6i.large, m5.4xlarge",
                "m6i.large"
            ),
            row(
                "InstanceType",
                "spec.nodePools[1].machine",
                "t",
                "all workspaces and stages",
                "perCluster.allowedInstanceTypes: c6i.large, m5.4xlarge",
                "m6i.large"
            ),
            row(
                "InstanceType",
                "spec.nodePools[1].spot.eks.additionalInstanceTypes[1]",
                "t",
                "all workspaces and stages",
                "perCluster.allowedInstanceTypes: c6i.large, m5.4xlarge",
                "m6i.large"
            ),
            // The template's 3 nodes alone are over 2.
            row(
                "ClusterNodes",
                "spec.computeTemplate",
                "t",
                "all workspaces and stages",
                "perCluster.totalNodes: 2",
                "11 nodes"
            ),
        ]
    );
}

#[test]
fn merged_limits_name_every_policy() {
    let e = effective_policy(&tie(), "pay", "prod", "aws");
    let mut c = cluster();
    c.node_pools[0].size = Some(4); // 4 + 2 = 6 m6i.large
    let v = check_cluster(&e, &c, &est(&[1, 1, 1]), &WorkspaceUsage::default());
    let region = v.iter().find(|v| v.rule == Rule::Region).unwrap();
    assert_eq!(region.policy, "a, b");
    assert_eq!(region.scope, "workspace \"pay\", all stages");
    assert!(
        region
            .message
            .contains("provisioning policies a, b (merged)")
    );
    let m6i = v
        .iter()
        .find(|v| v.rule == Rule::InstanceTypeNodes)
        .unwrap();
    assert_eq!(m6i.policy, "b");
    assert_eq!(m6i.value, "6 nodes");
    let m5 = v.iter().find(|v| v.rule == Rule::InstanceType).unwrap();
    assert_eq!(
        (m5.policy.as_str(), m5.value.as_str()),
        ("a, b", "m5.4xlarge")
    );
    assert_eq!(
        m6i.limit,
        "perCluster.allowedInstanceTypes[m6i.large].maxNodes: 5"
    );
}

#[test]
fn workspace_totals_count_the_other_clusters() {
    let p = pol("ws", "aws", &["pay"], &[], |s| {
        let w = per_workspace(s);
        w.max_clusters = Some(3);
        w.total_nodes = Some(30);
        w.cost_per_month = Some(3000);
    });
    let e = effective_policy(&[p], "pay", "prod", "aws");
    let me = cluster(); // 11 nodes
    let other = |name: &str, ws: &str, cloud: &str| ResolvedCluster {
        name: name.into(),
        workspace: ws.into(),
        cloud: cloud.into(),
        node_pools: vec![pool("a", "m6i.large", 8)],
        pool_origins: vec![PoolOrigin::Cluster(0)],
        ..cluster()
    };
    let existing = [
        (other("one", "pay", "aws"), est(&[100_000])),
        (other("two", "pay", "aws"), est(&[100_000])),
        // Not counted: the cluster's own previous version, another workspace, another cloud.
        (other("payments", "pay", "aws"), est(&[900_000])),
        (other("x", "ops", "aws"), est(&[900_000])),
        (other("y", "pay", "gcp"), est(&[900_000])),
    ];
    let usage = WorkspaceUsage::excluding(&me, existing.iter().map(|(c, e)| (c, e)));
    assert_eq!(
        usage,
        WorkspaceUsage {
            clusters: 2,
            nodes: 16,
            cost_cents: 200_000,
            nodes_by_instance_type: BTreeMap::from([("m6i.large".to_string(), 16)]),
        }
    );
    // 2 + 1 clusters, 16 + 11 = 27 nodes, 2000 + 1000 USD: all within.
    assert_eq!(check_cluster(&e, &me, &est(&[100_000]), &usage), vec![]);
    // One more existing cluster breaks all three.
    let mut more = usage.clone();
    more.add(&existing[0].0, &existing[0].1);
    let v = check_cluster(&e, &me, &est(&[100_000]), &more);
    let got: Vec<(Rule, &str)> = v.iter().map(|v| (v.rule, v.value.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (Rule::WorkspaceNodes, "35 nodes"),
            (Rule::WorkspaceCost, "4000.00 USD"),
            (Rule::WorkspaceClusters, "4 clusters"),
        ]
    );
    // The same limits per cluster would not count the others.
    let p = pol("pc", "aws", &["pay"], &[], |s| {
        let l = per_cluster(s);
        l.total_nodes = Some(30);
        l.cost_per_month = Some(3000);
    });
    let e = effective_policy(&[p], "pay", "prod", "aws");
    assert_eq!(check_cluster(&e, &me, &est(&[100_000]), &more), vec![]);
}

#[test]
fn an_unlimited_policy_allows_anything() {
    let e = effective_policy(&[], "pay", "prod", "aws");
    let usage = WorkspaceUsage {
        clusters: 1_000,
        nodes: 1_000_000,
        cost_cents: i64::MAX,
        ..Default::default()
    };
    assert_eq!(
        check_cluster(&e, &cluster(), &est(&[i64::MAX / 4]), &usage),
        vec![]
    );
}

#[test]
fn estimate_and_check_together_on_the_builtin_catalog() {
    let c = cluster();
    let e = estimate(Catalog::builtin(), &c.provider, &c.region, &c.node_pools).unwrap();
    // us-east-1: base 3 × m6i.large 0.096 × 720 = 207.36; big 6 × m5.4xlarge 0.768 × 720
    // = 3317.76; spot 2 × max(m6i.large 0.096, c6i.large 0.085) × 0.4 × 720 = 55.296 →
    // 55.30; disks 20 GiB × 0.08 = 1.60 a node → 4.80, 9.60, 3.20; control plane 72.00.
    let monthly: Vec<i64> = e.pools.iter().map(|p| p.monthly_cents).collect();
    assert_eq!(monthly, vec![20_736 + 480, 331_776 + 960, 5_530 + 320]);
    assert_eq!(e.total_cents, 21_216 + 332_736 + 5_850 + 7_200);
    let p = pol("cap", "aws", &[], &[], cost(3000));
    let v = check_cluster(
        &effective_policy(&[p], "pay", "prod", "aws"),
        &c,
        &e,
        &WorkspaceUsage::default(),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].value, "3670.02 USD");
    assert_eq!(v[0].path.to_string(), "spec.nodePools[0]");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn machine() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("m6i.large".to_string()),
            Just("c6i.large".to_string()),
            Just("Standard_D4s_v5".to_string()),
            Just("e2-standard-4".to_string()),
            ".{0,12}",
        ]
    }

    fn any_i64() -> impl Strategy<Value = Option<i64>> {
        prop_oneof![
            Just(None),
            (-5i64..50).prop_map(Some),
            any::<i64>().prop_map(Some)
        ]
    }

    prop_compose! {
        fn node_pool()(
            name in "[a-z]{0,4}",
            machine in machine(),
            size in any_i64(),
            disk in any_i64(),
            auto in proptest::option::of((proptest::option::of(any::<bool>()), any_i64(), any_i64())),
            spot in proptest::option::of((proptest::option::of(any::<bool>()), proptest::option::of(proptest::collection::vec(machine(), 0..3)))),
        ) -> NodePool {
            NodePool {
                logical_name: name,
                machine,
                size,
                disk_size: disk,
                autoscaling: auto.map(|(enabled, min_size, max_size)| Autoscaling { enabled, min_size, max_size }),
                spot: spot.map(|(enabled, extra)| Spot {
                    enabled,
                    eks: Some(SpotEks { additional_instance_types: extra }),
                }),
                ..Default::default()
            }
        }
    }

    fn names(pool: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<String>>> {
        proptest::option::of(proptest::collection::vec(
            proptest::sample::select(pool).prop_map(String::from),
            0..3,
        ))
    }

    prop_compose! {
        fn limits()(
            t in proptest::option::of(proptest::collection::vec((machine(), any_i64()), 0..4)),
            cost in any_i64(),
            nodes in any_i64(),
            clusters in any_i64(),
        ) -> Limits {
            Limits {
                allowed_instance_types: t.map(|v| v.into_iter().map(|(instance_type, max_nodes)| InstanceTypeLimit { instance_type, max_nodes }).collect()),
                cost_per_month: cost,
                total_nodes: nodes,
                max_clusters: clusters,
            }
        }
    }

    prop_compose! {
        fn policy()(
            name in "[a-z]{1,3}",
            cloud in proptest::sample::select(&["aws", "azure", "gcp", "AWS", ""][..]),
            scope in proptest::option::of((proptest::option::of(any::<bool>()), names(&["pay", "ops"]), proptest::option::of(any::<bool>()), names(&["prod", "dev"]))),
            regions in names(&["us-east-1", "eu-west-2", "eastus"]),
            per_cluster in proptest::option::of(limits()),
            per_workspace in proptest::option::of(limits()),
        ) -> ProvisioningPolicy {
            ProvisioningPolicy::new(&name, ProvisioningPolicySpec {
                cloud: cloud.to_string(),
                scope: scope.map(|(all_workspaces, allowed_workspaces, all_stages, allowed_stages)| ScopeSpec { all_workspaces, allowed_workspaces, all_stages, allowed_stages }),
                allowed_regions: regions,
                cluster_limits: Some(ClusterLimits { per_cluster, per_workspace }),
                description: None,
            })
        }
    }

    proptest! {
        #[test]
        fn arbitrary_pools_and_policies_never_panic(
            pools in proptest::collection::vec(node_pool(), 0..5),
            origins in proptest::collection::vec(proptest::option::of(0usize..6), 0..6),
            policies in proptest::collection::vec(policy(), 0..6),
            provider in proptest::sample::select(&["EKS", "AKS", "GKE", "XKE"][..]),
            region in proptest::sample::select(&["us-east-1", "eastus", "us-central1", "nowhere"][..]),
            usage in (any::<i64>(), any::<i64>(), any::<i64>()),
        ) {
            let cloud = crate::common::cloud_for_provider(provider).unwrap_or("aws");
            let e = effective_policy(&policies, "pay", "prod", cloud);
            for p in &e.policies {
                prop_assert!(policies.iter().any(|x| &x.metadata.name == p && x.spec.cloud.eq_ignore_ascii_case(cloud)));
            }
            let body = serde_json::to_string(&e.to_api()).unwrap();
            let _: EffectivePolicyBody = serde_json::from_str(&body).unwrap();
            let cluster = ResolvedCluster {
                provider: provider.to_string(),
                cloud: cloud.to_string(),
                region: region.to_string(),
                pool_origins: origins.iter().map(|o| o.map_or(PoolOrigin::Template, PoolOrigin::Cluster)).collect(),
                node_pools: pools,
                ..cluster()
            };
            let estimate = match estimate(Catalog::builtin(), provider, region, &cluster.node_pools) {
                Ok(est) => {
                    let sum = est.pools.iter().fold(est.control_plane_cents, |a, p| a.saturating_add(p.monthly_cents));
                    prop_assert_eq!(est.total_cents, sum);
                    prop_assert!(est.pools.iter().all(|p| p.monthly_cents >= 0 && p.nodes >= 0));
                    est
                }
                Err(errs) => {
                    prop_assert!(!errs.is_empty());
                    for err in &errs {
                        let _ = err.path_in(&cluster);
                    }
                    est(&[1, 2, 3, 4, 5, 6])
                }
            };
            let usage = WorkspaceUsage { clusters: usage.0, nodes: usage.1, cost_cents: usage.2, ..Default::default() };
            for v in check_cluster(&e, &cluster, &estimate, &usage) {
                prop_assert!(!v.message.is_empty() && !v.policy.is_empty());
                let _ = serde_json::to_string(&v).unwrap();
            }
        }
    }
}

#[test]
fn an_unpriced_cluster_is_refused_only_under_a_cost_limit() {
    let mut c = cluster();
    c.node_pools[1].machine = "x9.huge".into();
    let missing = estimate(Catalog::builtin(), &c.provider, &c.region, &c.node_pools).unwrap_err();
    assert_eq!(missing.len(), 1);
    let usage = WorkspaceUsage::default();

    // No cost limit: no violation, whatever the other limits say.
    let nodes_only = [pol("n", "aws", &[], &[], |s| {
        per_cluster(s).total_nodes = Some(100)
    })];
    let policy = effective_policy(&nodes_only, "pay", "prod", "aws");
    assert!(check_unpriced(&policy, &c, &missing, &usage).is_empty());

    // The other limits are still checked.
    let few = [pol("n", "aws", &[], &[], |s| {
        per_cluster(s).total_nodes = Some(2)
    })];
    let policy = effective_policy(&few, "pay", "prod", "aws");
    let v = check_unpriced(&policy, &c, &missing, &usage);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule, Rule::ClusterNodes);

    // A per-cluster cost limit: the missing price is a violation on the pool's machine.
    let limited = [pol("tight", "aws", &[], &[], cost(900))];
    let policy = effective_policy(&limited, "pay", "prod", "aws");
    let v = check_unpriced(&policy, &c, &missing, &usage);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].rule, Rule::ClusterCost);
    assert_eq!(v[0].path.to_string(), "spec.nodePools[0].machine");
    assert_eq!(v[0].value, "unknown");
    assert_eq!(v[0].limit, "perCluster.costPerMonth: 900 USD");
    assert!(
        v[0].message.starts_with(
            "the cluster's estimated monthly cost cannot be checked against the 900 USD allowed per cluster: node pool \"big\": machine: the price catalog"
        ),
        "{}",
        v[0].message
    );
    assert!(
        v[0].message
            .contains("providers.EKS.regions.us-east-1.x9.huge (USD per hour)")
    );

    // A per-workspace cost limit refuses it too.
    let ws = [pol("ws", "aws", &[], &[], |s| {
        per_workspace(s).cost_per_month = Some(5000)
    })];
    let policy = effective_policy(&ws, "pay", "prod", "aws");
    let v = check_unpriced(&policy, &c, &missing, &usage);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule, Rule::WorkspaceCost);
}
