use super::*;

#[test]
fn each_tier_beats_the_next() {
    let mut policies = vec![
        pol("all", "aws", &[], &[], |s| {
            cost(100)(s);
            s.allowed_regions = Some(vec!["eu-west-1".into()]);
        }),
        pol("stage", "aws", &[], &["prod"], cost(200)),
        pol("ws", "aws", &["pay"], &[], cost(300)),
        pol("ws-stage", "aws", &["pay"], &["prod"], cost(400)),
    ];
    let want = [
        (400, "ws-stage", ScopeTier::WorkspaceAndStage),
        (300, "ws", ScopeTier::Workspace),
        (200, "stage", ScopeTier::Stage),
        (100, "all", ScopeTier::Everywhere),
    ];
    for (value, name, tier) in want {
        // Order of the input must not matter.
        policies.reverse();
        let e = effective_policy(&policies, "pay", "prod", "aws");
        assert_eq!(e.tier, Some(tier));
        assert_eq!(e.policies, vec![name]);
        assert_eq!(
            e.per_cluster.cost_per_month,
            Some(Sourced {
                value,
                source: src(&[name], tier)
            }),
            "{name}"
        );
        // The winning tier replaces the less specific ones as a whole: the all/all
        // policy's regions only apply when it wins.
        assert_eq!(e.allowed_regions.is_some(), name == "all", "{name}");
        policies.retain(|p| p.metadata.name != name);
    }
    let e = effective_policy(&policies, "pay", "prod", "aws");
    assert!(e.is_unlimited() && e.tier.is_none() && e.policies.is_empty());
}

#[test]
fn other_clouds_workspaces_and_stages_are_ignored() {
    let policies = vec![
        pol("gcp-pay", "gcp", &["pay"], &["prod"], cost(1)),
        pol("other-ws", "aws", &["ops"], &["prod"], cost(2)),
        pol("other-stage", "aws", &["pay"], &["dev"], cost(3)),
        pol("dev-everyone", "aws", &[], &["dev"], cost(4)),
        pol("several", "aws", &["ops", "pay"], &[], cost(5)),
        pol("unscoped", "aws", &[], &[], cost(6)),
    ];
    let e = effective_policy(&policies, "pay", "prod", "aws");
    assert_eq!(e.policies, vec!["several"]);
    assert_eq!(e.per_cluster.cost_per_month.unwrap().value, 5);
    let e = effective_policy(&policies, "web", "prod", "aws");
    assert_eq!(e.policies, vec!["unscoped"]);
    let e = effective_policy(&policies, "web", "prod", "azure");
    assert!(e.is_unlimited());
    // A policy with no scope at all applies everywhere.
    let mut p = pol("none", "aws", &[], &[], cost(7));
    p.spec.scope = None;
    let e = effective_policy(&[p], "web", "prod", "aws");
    assert_eq!(e.tier, Some(ScopeTier::Everywhere));
}

#[test]
fn ties_merge_to_the_least_restrictive_value() {
    let e = effective_policy(&tie(), "pay", "prod", "aws");
    let w = ScopeTier::Workspace;
    assert_eq!(e.policies, vec!["a", "b"]);
    assert_eq!(
        e.allowed_regions,
        Some(Sourced {
            value: vec!["eu-west-1".to_string(), "eu-west-2".to_string()],
            source: src(&["a", "b"], w)
        })
    );
    let t = e.per_cluster.allowed_instance_types.as_ref().unwrap();
    assert_eq!(t.source, src(&["a", "b"], w));
    assert_eq!(
        t.types,
        BTreeMap::from([
            (
                "c6i.large".to_string(),
                Some(Sourced {
                    value: 2,
                    source: src(&["a"], w)
                })
            ),
            (
                "m6i.large".to_string(),
                Some(Sourced {
                    value: 5,
                    source: src(&["b"], w)
                })
            ),
            // Listed without a maximum by b: no maximum.
            ("r6i.large".to_string(), None),
        ])
    );
    assert_eq!(e.per_cluster.cost_per_month.as_ref().unwrap().value, 800);
    assert_eq!(
        e.per_cluster.cost_per_month.as_ref().unwrap().source,
        src(&["b"], w)
    );
    // b sets no totalNodes: unlimited.
    assert_eq!(e.per_cluster.total_nodes, None);
    // Equal values are credited to both.
    assert_eq!(
        e.per_workspace.max_clusters,
        Some(Sourced {
            value: 4,
            source: src(&["a", "b"], w)
        })
    );
    assert_eq!(e.per_workspace.total_nodes.as_ref().unwrap().value, 50);
}

#[test]
fn a_missing_list_in_a_tie_means_any() {
    let mut policies = tie();
    policies[0].spec.allowed_regions = None;
    per_cluster(&mut policies[0].spec).allowed_instance_types = Some(vec![]);
    let e = effective_policy(&policies, "pay", "prod", "aws");
    assert_eq!(e.allowed_regions, None);
    assert_eq!(e.per_cluster.allowed_instance_types, None);
    // A policy with no clusterLimits at all makes every limit unlimited.
    policies[0].spec.cluster_limits = None;
    let e = effective_policy(&policies, "pay", "prod", "aws");
    assert_eq!(e.per_cluster, EffectiveLimits::default());
    assert_eq!(e.per_workspace, EffectiveLimits::default());
}

#[test]
fn the_api_body_is_wayfinders() {
    let e = effective_policy(&tie(), "pay", "prod", "aws");
    let body = serde_json::to_value(e.to_api()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "cloud": "aws",
            "allowedRegions": ["eu-west-1", "eu-west-2"],
            "clusterLimits": {
                "perCluster": {
                    "allowedInstanceTypes": [
                        {"instanceType": "c6i.large", "maxNodes": 2},
                        {"instanceType": "m6i.large", "maxNodes": 5},
                        {"instanceType": "r6i.large"}
                    ],
                    "costPerMonth": 800
                },
                "perWorkspace": {"totalNodes": 50, "maxClusters": 4}
            }
        })
    );
    let back: EffectivePolicyBody = serde_json::from_value(body).unwrap();
    assert_eq!(back, e.to_api());
    let none = effective_policy(&[], "pay", "prod", "aws");
    assert_eq!(
        serde_json::to_value(none.to_api()).unwrap(),
        serde_json::json!({"cloud": "aws", "allowedRegions": [],
            "clusterLimits": {"perCluster": {}, "perWorkspace": {}}})
    );
}
