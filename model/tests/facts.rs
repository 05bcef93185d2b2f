//! Facts about the kinds that the server, provider and compiler derive from the model:
//! immutable fields, the cluster's status shape, the reference graph and the rule texts.
//! Each is checked against the code it describes.

use serde_json::json;
use wayfinder_model::cluster::{ClusterStatus, NetworkAllocation, PackageStatus, STATUS_SHAPE};
use wayfinder_model::kinds::{self, ALL, CATALOG, REFERENCES};
use wayfinder_model::object::{CONDITION_SHAPE, Condition, LAST_RECONCILE_SHAPE, LastReconcile};
use wayfinder_model::shape::{self, Field, FieldType};
use wayfinder_model::validate::{WORKSPACE_KEY, is_workspace_key};

#[test]
fn immutable_paths_are_declared_fields_of_the_spec() {
    let mut seen = Vec::new();
    for k in ALL {
        let declared = shape::field_paths(k.spec);
        for p in k.immutable_paths() {
            let under_spec = p.strip_prefix("spec.").expect("under spec");
            assert!(
                declared.iter().any(|d| d == under_spec),
                "{}: {p} is not a field",
                k.kind
            );
            seen.push(format!("{}.{p}", k.kind));
        }
    }
    assert_eq!(
        seen,
        [
            "ComputeTemplate.spec.provider",
            "AccessToken.spec.roles",
            "AccessToken.spec.expiresAt",
            "AccessToken.spec.ttl",
            "CloudIdentity.spec.cloud",
            "CloudAccessConfig.spec.cloud",
            "AssignableNetwork.spec.provider",
            "ClusterPlan.spec.provider",
        ]
    );
}

fn filled_status() -> ClusterStatus {
    ClusterStatus {
        endpoint: Some("https://api.example".into()),
        cloud_id: Some("arn:aws:eks:eu-west-2:1:cluster/x".into()),
        provider: Some("EKS".into()),
        cloud: Some("aws".into()),
        region: Some("eu-west-2".into()),
        kubernetes_version: Some("1.30".into()),
        network: Some(NetworkAllocation {
            cidr: "10.0.0.0/22".into(),
            from: "AssignableNetwork/admin/main".into(),
            exclusive: true,
        }),
        packages: Some(vec![PackageStatus {
            name: "ingress".into(),
            version: "1.0.0".into(),
            status: "Installed".into(),
        }]),
        cluster_policies: Some(vec!["baseline".into()]),
        deletion_requested: Some("2026-01-01T00:00:00Z".into()),
        delete_attempts: Some(2),
        retry_after: Some("2026-01-01T00:01:00Z".into()),
    }
}

#[test]
fn every_cluster_status_field_the_server_writes_is_in_the_status_shape() {
    let mut value = serde_json::to_value(filled_status()).unwrap();
    let lr = LastReconcile {
        time: Some("2026-01-01T00:00:00Z".into()),
        generation: Some(1),
    };
    value["lastReconcile"] = serde_json::to_value(lr).unwrap();
    assert_eq!(
        shape::mismatches(STATUS_SHAPE, &value, "status"),
        Vec::<String>::new()
    );
    // And the shape has nothing the server never writes.
    assert_eq!(shape::present_paths(STATUS_SHAPE, &value), {
        let mut all = shape::field_paths(STATUS_SHAPE);
        all.sort();
        all
    });
    assert_eq!(kinds::CLUSTER.status, STATUS_SHAPE);
    for k in ALL.iter().filter(|k| k.kind != "Cluster") {
        assert!(k.status.is_empty(), "{}", k.kind);
    }
}

#[test]
fn cluster_status_merges_only_the_fields_it_sets() {
    let mut st =
        json!({"status": "Success", "estimate": {"totalMonthlyCents": 1}, "endpoint": "old"})
            .as_object()
            .unwrap()
            .clone();
    let mut cs = ClusterStatus::from_status(&st);
    assert_eq!(cs.endpoint.as_deref(), Some("old"));
    cs.region = Some("eu-west-2".into());
    cs.merge_into(&mut st);
    assert_eq!(
        serde_json::Value::Object(st),
        json!({"status": "Success", "estimate": {"totalMonthlyCents": 1}, "endpoint": "old", "region": "eu-west-2"})
    );
}

#[test]
fn the_condition_and_last_reconcile_shapes_match_their_structs() {
    let c = Condition {
        type_: "Ready".into(),
        status: "True".into(),
        observed_generation: Some(1),
        last_transition_time: Some("t".into()),
        reason: Some("Ready".into()),
        message: Some("ok".into()),
    };
    let v = serde_json::to_value(c).unwrap();
    assert!(shape::mismatches(CONDITION_SHAPE, &v, "c").is_empty());
    assert_eq!(
        shape::present_paths(CONDITION_SHAPE, &v).len(),
        CONDITION_SHAPE.len()
    );
    let lr = serde_json::to_value(LastReconcile {
        time: Some("t".into()),
        generation: Some(1),
    })
    .unwrap();
    assert!(shape::mismatches(LAST_RECONCILE_SHAPE, &lr, "l").is_empty());
    assert_eq!(shape::present_paths(LAST_RECONCILE_SHAPE, &lr).len(), 2);
}

#[test]
fn every_reference_names_a_declared_field_and_registered_kinds() {
    for r in REFERENCES {
        assert!(ALL.contains(&r.from) && ALL.contains(&r.to), "{r:?}");
        let declared = shape::field_paths(r.from.spec);
        let path = r.path.strip_suffix("[]").unwrap_or(r.path);
        assert!(
            declared.iter().any(|d| d == path),
            "{} has no field {path}",
            r.from.kind
        );
        if let Some(v) = r.version {
            assert!(r.to.versioned, "{r:?}");
            let sibling = match path.rsplit_once('.') {
                Some((parent, _)) => format!("{parent}.{v}"),
                None => v.to_string(),
            };
            assert!(
                declared.contains(&sibling),
                "{} has no {sibling}",
                r.from.kind
            );
        }
    }
    for k in CATALOG {
        assert!(ALL.contains(k));
    }
    // Every kind is either in the catalog or outside it with a reason, never both.
    for k in ALL {
        let outside = kinds::NOT_IN_CATALOG.iter().filter(|(o, _)| o == k).count();
        let inside = CATALOG.iter().filter(|c| *c == k).count();
        assert_eq!(inside + outside, 1, "{}", k.kind);
    }
}

#[test]
fn a_reference_finds_every_occurrence_with_its_version() {
    let r = REFERENCES
        .iter()
        .find(|r| r.path == "cluster.packages[].name")
        .unwrap();
    let spec = json!({"cluster": {"packages": [{"name": "a", "version": "1.0.0"}, {"name": "b"}]}});
    let got: Vec<(String, String, Option<String>)> = r
        .occurrences(&spec)
        .into_iter()
        .map(|o| (o.path.to_string(), o.name, o.version))
        .collect();
    assert_eq!(
        got,
        [
            (
                "cluster.packages[0].name".to_string(),
                "a".to_string(),
                Some("1.0.0".to_string())
            ),
            (
                "cluster.packages[1].name".to_string(),
                "b".to_string(),
                None
            ),
        ]
    );
}

#[test]
fn the_workspace_key_rule_is_stated_once_and_used_in_the_descriptions() {
    assert!(kinds::WORKSPACE.description.contains(WORKSPACE_KEY.text));
    assert_eq!(WORKSPACE_KEY.hcl_regex, "^[a-z][a-z0-9]{1,4}$");
    for (key, ok) in [
        ("ab", true),
        ("a1234", true),
        ("a", false),
        ("abcdef", false),
        ("1a", false),
        ("aB", false),
    ] {
        assert_eq!(is_workspace_key(key), ok, "{key}");
    }
}

fn described(fields: &'static [Field], path: &str) -> &'static str {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let f = shape::find(fields, head).unwrap_or_else(|| panic!("no field {head}"));
    match (rest, f.ty) {
        ("", _) => f.description,
        (_, FieldType::Object(inner) | FieldType::ObjectList(inner)) => described(inner, rest),
        _ => panic!("{path}: not nested"),
    }
}

#[test]
fn shape_descriptions_that_state_a_range_match_the_constant() {
    use wayfinder_model::{cluster, compute, networking};
    let cases: &[(&'static [Field], &str, (i64, i64))] = &[
        (
            compute::SPEC_SHAPE,
            "nodePools.diskSize",
            compute::DISK_SIZE_RANGE,
        ),
        (
            compute::SPEC_SHAPE,
            "nodePools.maxPodsPerNode",
            compute::MAX_PODS_RANGE,
        ),
        (
            cluster::SPEC_SHAPE,
            "network.size",
            cluster::NETWORK_PREFIX_RANGE,
        ),
        (
            networking::CLUSTER_NETWORK_PLAN_SHAPE,
            "template.providerDetails.aws.availabilityZones",
            networking::AVAILABILITY_ZONES_RANGE,
        ),
    ];
    for (fields, path, (lo, hi)) in cases {
        let d = described(fields, path);
        assert!(
            d.contains(&format!("{lo} to {hi}")),
            "{path}: {d:?} does not say {lo} to {hi}"
        );
    }
}
