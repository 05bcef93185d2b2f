//! Value helpers the kinds share: Go durations, names, label selectors, publish states and
//! the derived values other layers read (TTLs, network requests, policy targets).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use wayfinder_model::common::{format_duration, is_dns_subdomain, is_region, parse_duration};
use wayfinder_model::kinds::{
    CLUSTER_NETWORK_PLAN, CLUSTER_PLAN, GLOBAL_ACCESS_POLICY, GLOBAL_CLUSTER_POLICY, Object,
};
use wayfinder_model::net::Ipv4Net;
use wayfinder_model::networking::NetworkRequest;
use wayfinder_model::policydelivery::LabelSelector;
use wayfinder_model::versioned::{PublishState, latest_published};
use wayfinder_model::{ObjectMeta, publish_state};

#[test]
fn go_durations_parse_as_go_parses_them() {
    let h = |n: u64| Duration::from_secs(n * 3600);
    for (text, want) in [
        ("8h0m0s", h(8)),
        ("8h00m0s", h(8)),
        ("90s", Duration::from_secs(90)),
        ("1.5h", Duration::from_secs(5400)),
        ("1h30m", Duration::from_secs(5400)),
        ("+5m", Duration::from_secs(300)),
        ("0", Duration::ZERO),
        ("0s", Duration::ZERO),
        ("250ms", Duration::from_millis(250)),
        ("3us", Duration::from_micros(3)),
        ("3µs", Duration::from_micros(3)),
        ("7ns", Duration::from_nanos(7)),
        (".5s", Duration::from_millis(500)),
        ("720h0m0s", h(720)),
    ] {
        assert_eq!(parse_duration(text), Ok(want), "{text}");
    }
    for (text, why) in [
        ("", "it is empty"),
        ("-1s", "it must not be negative"),
        ("8", "\"8\" has no unit (h, m, s, ms, us or ns)"),
        (
            "8 hours",
            "unknown unit \" hours\": use h, m, s, ms, us or ns",
        ),
        ("1d", "unknown unit \"d\": use h, m, s, ms, us or ns"),
        ("1..5s", "\"1..5\" is not a number"),
        ("h", "\"h\" has no number before it"),
        (
            "99999999999999999999999999999999999999999h",
            "it is too long",
        ),
        ("5124095576030432h", "it is too long"),
    ] {
        assert_eq!(parse_duration(text), Err(why.to_string()), "{text}");
    }
    for (d, text) in [
        (h(8), "8h0m0s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_secs(45), "45s"),
        (Duration::ZERO, "0s"),
        (Duration::from_millis(1500), "1.5s"),
    ] {
        assert_eq!(format_duration(d), text);
        assert_eq!(parse_duration(text), Ok(d));
    }
}

#[test]
fn names_and_regions() {
    assert!(is_dns_subdomain("cluster.admin"));
    assert!(is_dns_subdomain("wf.deployment.default"));
    assert!(!is_dns_subdomain("Cluster.Admin"));
    assert!(!is_dns_subdomain("a..b"));
    assert!(!is_dns_subdomain(""));
    for ok in ["eu-west-2", "westeurope", "europe-west2", "us-gov-west-1"] {
        assert!(is_region(ok), "{ok}");
    }
    for bad in ["", "EU", "eu_west", "-eu", "eu-", "2eu"] {
        assert!(!is_region(bad), "{bad}");
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn label_selectors_match_as_kubernetes_does() {
    let s: LabelSelector = serde_yaml_ng::from_str(
        "matchLabels: {appvia.io/stage: prod}\nmatchExpressions:\n- {key: appvia.io/workspace, operator: In, values: [pay, web]}\n- {key: appvia.io/provider, operator: NotIn, values: [GKE]}\n- {key: appvia.io/cloud, operator: Exists}\n- {key: legacy, operator: DoesNotExist}\n",
    )
    .unwrap();
    let base = [
        ("appvia.io/stage", "prod"),
        ("appvia.io/workspace", "pay"),
        ("appvia.io/provider", "EKS"),
        ("appvia.io/cloud", "aws"),
    ];
    assert!(s.matches(&labels(&base)));
    let with = |k: &str, v: &str| {
        let mut l = labels(&base);
        l.insert(k.into(), v.into());
        l
    };
    assert!(!s.matches(&with("appvia.io/stage", "nonprod")));
    assert!(!s.matches(&with("appvia.io/workspace", "ops")));
    assert!(!s.matches(&with("appvia.io/provider", "GKE")));
    assert!(!s.matches(&with("legacy", "yes")));
    let mut no_cloud = labels(&base);
    no_cloud.remove("appvia.io/cloud");
    assert!(!s.matches(&no_cloud));
    assert!(LabelSelector::default().matches(&BTreeMap::new()));
}

#[test]
fn cluster_policies_go_to_the_clusters_their_target_selects() {
    let policies = fixture(&GLOBAL_CLUSTER_POLICY);
    let Object::GlobalClusterPolicy(targeted) = &policies[0] else {
        unreachable!()
    };
    let Object::GlobalClusterPolicy(everywhere) = &policies[1] else {
        unreachable!()
    };
    let prod_pay = labels(&[
        ("appvia.io/stage", "prod"),
        ("appvia.io/workspace", "pay"),
        ("appvia.io/cloud", "aws"),
    ]);
    let dev_pay = labels(&[
        ("appvia.io/stage", "nonprod"),
        ("appvia.io/workspace", "pay"),
        ("appvia.io/cloud", "aws"),
    ]);
    assert!(targeted.spec.targets(&prod_pay));
    assert!(!targeted.spec.targets(&dev_pay));
    assert!(everywhere.spec.targets(&dev_pay));
}

#[test]
fn access_policies_expose_their_ttl() {
    let Object::GlobalAccessPolicy(p) = fixture(&GLOBAL_ACCESS_POLICY).remove(0) else {
        unreachable!()
    };
    assert_eq!(p.spec.ttl(), Some(Duration::from_secs(8 * 3600)));
    let Object::GlobalAccessPolicy(p) = fixture(&GLOBAL_ACCESS_POLICY).remove(1) else {
        unreachable!()
    };
    assert_eq!(p.spec.ttl(), None);
}

#[test]
fn network_plans_give_their_node_range() {
    let plans = fixture(&CLUSTER_NETWORK_PLAN);
    let node = |o: &Object| match o {
        Object::ClusterNetworkPlan(n) => n.spec.node_request(),
        _ => unreachable!(),
    };
    assert_eq!(node(&plans[0]), Some(NetworkRequest::Size(22)));
    assert_eq!(
        node(&plans[1]),
        Some(NetworkRequest::Cidr(Ipv4Net::parse("10.0.0.0/20").unwrap()))
    );
    assert_eq!(NetworkRequest::Size(22).prefix(), 22);
}

#[test]
fn fixture_plans_are_in_each_publish_state_and_the_latest_published_wins() {
    let plans = fixture(&CLUSTER_PLAN);
    let states: Vec<PublishState> = plans
        .iter()
        .map(|p| publish_state(p.metadata()).unwrap())
        .collect();
    assert_eq!(
        states,
        [
            PublishState::Published,
            PublishState::Draft,
            PublishState::Deprecated
        ]
    );
    assert_eq!(
        publish_state(&ObjectMeta::default()),
        Ok(PublishState::Published)
    );

    // Versions of one plan: the highest published one, by semver, not by text.
    let eks = plans[0].clone();
    let version = |v: &str, state: PublishState| {
        let mut o = eks.clone();
        if let Object::ClusterPlan(p) = &mut o {
            p.spec.version = v.to_string();
            wayfinder_model::versioned::set_publish_state(&mut p.metadata, state);
        }
        o
    };
    let versions = [
        version("1.9.0", PublishState::Published),
        version("1.10.0", PublishState::Published),
        version("1.11.0", PublishState::Draft),
        version("1.12.0", PublishState::Deprecated),
        version("1.10.0-rc.1", PublishState::Published),
    ];
    assert_eq!(
        latest_published(versions.iter()).and_then(Object::version),
        Some("1.10.0")
    );
    assert_eq!(latest_published(versions[2..4].iter()), None);
}
