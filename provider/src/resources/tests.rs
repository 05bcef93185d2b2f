//! Tests of the generic resource mechanism.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use wayfinder_model::FieldPath;
use wayfinder_model::kinds::{
    ACCESS_TOKEN, CLOUD_ACCESS_CONFIG, CLUSTER_PLAN, COMPUTE_TEMPLATE, GLOBAL_CLUSTER_POLICY,
};

use super::settle::equivalent;
use super::*;
use crate::client::ObjectAddress;
use crate::diag;
use crate::schema::{Block, NestedBlock, Presence};

fn resource(kind: &KindInfo) -> ResourceType {
    all()
        .into_iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no resource for {}", kind.kind))
}

fn template() -> ResourceType {
    resource(&COMPUTE_TEMPLATE)
}

fn sample_object() -> Json {
    json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "ComputeTemplate",
        "metadata": {"name": "eks-general", "resourceVersion": "4"},
        "spec": {
            "description": "General",
            "provider": "EKS",
            "nodePools": [{
                "logicalName": "compute", "machine": "m6i.large", "diskSize": 100, "size": 2,
                "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 5},
                "spot": {"enabled": true, "eks": {"additionalInstanceTypes": ["m5.large"]}}
            }]
        }
    })
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn with(mut v: Value, name: &str, x: Value) -> Value {
    if let Value::Map(m) = &mut v {
        m.insert(name.into(), x);
    }
    v
}

/// Round-trips a value through the wire form Terraform uses, as a reply would.
fn wire(r: &ResourceType, v: &Value) -> Value {
    let ty = r.value_type();
    Value::from_msgpack_as(&v.to_msgpack_as(&ty), &ty).unwrap()
}

#[test]
fn objects_round_trip_through_resource_values() {
    let r = template();
    let v = r.from_object(&sample_object());
    assert_eq!(v.get(ID).as_str(), Some("eks-general"));
    assert_eq!(v.get("cloud_provider").as_str(), Some("EKS"));
    let pool = v.get("node_pools").as_list().unwrap()[0].clone();
    assert!(pool.get("image").is_null());
    assert_eq!(
        pool.get("taints"),
        &Value::List(vec![]),
        "absent list blocks are empty lists"
    );
    assert!(
        pool.get("provider_details").is_null(),
        "absent single blocks are null"
    );
    let mut back = r.to_object(&v);
    let mut want = sample_object();
    want["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    back["metadata"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k == "name");
    assert_eq!(back, want);
}

#[test]
fn values_always_carry_every_attribute() {
    let v = template().from_object(&json!({"metadata": {"name": "x"}, "spec": {}}));
    let Value::Map(m) = &v else { panic!() };
    let names: Vec<_> = m.keys().cloned().collect();
    assert_eq!(
        names,
        [
            "annotations",
            "cloud_provider",
            "description",
            "id",
            "labels",
            "name",
            "node_pools"
        ]
    );
}

#[test]
fn field_paths_become_attribute_paths() {
    let r = template();
    let render = |p: &str| {
        r.attribute_path(&FieldPath::parse(p).unwrap())
            .map(|p| diag::render_path(&p))
    };
    assert_eq!(
        render("spec.nodePools[1].autoscaling.maxSize").as_deref(),
        Some("node_pools[1].autoscaling.max_size")
    );
    assert_eq!(render("spec.provider").as_deref(), Some("cloud_provider"));
    assert_eq!(render("metadata.name").as_deref(), Some("name"));
    assert_eq!(
        render("spec.nodePools[0].spot.eks.additionalInstanceTypes[2]").as_deref(),
        Some("node_pools[0].spot.eks.additional_instance_types[2]")
    );
    assert_eq!(
        render("spec.nodePools[0].bogus").as_deref(),
        Some("node_pools[0]")
    );
    assert_eq!(render("apiVersion"), None);
    let plan = resource(&CLUSTER_PLAN);
    assert_eq!(
        plan.attribute_path(&FieldPath::parse("metadata.annotations").unwrap())
            .map(|p| diag::render_path(&p))
            .as_deref(),
        Some("publish_state")
    );
}

#[test]
fn every_kind_has_a_resource_named_as_the_design_says() {
    let names: Vec<String> = all().into_iter().map(|r| r.type_name).collect();
    for expected in [
        "wayfinder_cluster_plan",
        "wayfinder_cluster_network_plan",
        "wayfinder_compute_template",
        "wayfinder_cloud_access_config",
        "wayfinder_cloud_identity",
        "wayfinder_package",
        "wayfinder_package_repository",
        "wayfinder_provisioning_policy",
        "wayfinder_workspace",
        "wayfinder_stage",
        "wayfinder_assignable_network",
        "wayfinder_global_cluster_policy",
        "wayfinder_global_access_policy",
        "wayfinder_global_access_role",
        "wayfinder_access_token",
        "wayfinder_cluster",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing: {names:?}"
        );
    }
    assert_eq!(names.len(), 16, "{names:?}");
}

fn check_described(block: &Block, path: &str) {
    assert!(!block.description.is_empty(), "{path} has no description");
    let mut seen = std::collections::HashSet::new();
    for a in &block.attributes {
        assert!(
            !a.description.is_empty(),
            "{path}.{} has no description",
            a.name
        );
        assert!(seen.insert(a.name.clone()), "{path}.{} twice", a.name);
        assert!(
            a.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{path}.{} is not a Terraform name",
            a.name
        );
    }
    for b in &block.blocks {
        assert!(seen.insert(b.name.clone()), "{path}.{} twice", b.name);
        check_described(&b.block, &format!("{path}.{}", b.name));
    }
}

#[test]
fn every_attribute_and_block_is_described() {
    for r in all() {
        check_described(&r.schema().block, &r.type_name);
    }
}

// ---------------------------------------------------------------------------------------
// Workspaced kinds

fn cloud_access() -> ResourceType {
    resource(&CLOUD_ACCESS_CONFIG)
}

fn cloud_access_config(workspace: Option<&str>) -> Value {
    let mut m = BTreeMap::new();
    m.insert(NAME.to_string(), s("aws-main"));
    m.insert("cloud".to_string(), s("aws"));
    if let Some(ws) = workspace {
        m.insert(WORKSPACE.to_string(), s(ws));
    }
    Value::Map(m).conform(&cloud_access().value_type())
}

#[test]
fn workspaced_kinds_have_a_replacing_workspace_and_a_workspace_id() {
    let r = cloud_access();
    let ws = r
        .schema()
        .block
        .attributes
        .iter()
        .find(|a| a.name == WORKSPACE)
        .expect("a workspace attribute");
    assert_eq!(ws.presence, Presence::OptionalComputed);
    assert!(ws.requires_replace);
    let object = json!({
        "metadata": {"name": "aws-main", "namespace": "ws-admin"},
        "spec": {"cloud": "aws"}
    });
    let v = r.from_object(&object);
    assert_eq!(v.get(ID).as_str(), Some("admin/aws-main"));
    assert_eq!(v.get(WORKSPACE).as_str(), Some("admin"));
    assert_eq!(
        r.to_object(&v)["metadata"]["namespace"],
        "ws-admin",
        "the namespace goes with the object"
    );
}

#[test]
fn the_workspace_defaults_to_the_providers() {
    let r = cloud_access();
    let config = cloud_access_config(None);
    let planned = r.plan(
        &Value::Null,
        config.clone(),
        &config,
        &WorkspaceDefault::Known("team".into()),
    );
    assert!(planned.diagnostics.is_empty(), "{:?}", planned.diagnostics);
    assert_eq!(planned.state.get(WORKSPACE).as_str(), Some("team"));
    assert_eq!(planned.state.get(ID).as_str(), Some("team/aws-main"));

    // Unknown provider configuration: unknown workspace and id, no error.
    let planned = r.plan(
        &Value::Null,
        config.clone(),
        &config,
        &WorkspaceDefault::Unknown,
    );
    assert!(planned.diagnostics.is_empty());
    assert!(planned.state.get(WORKSPACE).is_unknown());
    assert!(planned.state.get(ID).is_unknown());

    // None at all: an error on `workspace`.
    let planned = r.plan(
        &Value::Null,
        config.clone(),
        &config,
        &WorkspaceDefault::None,
    );
    assert_eq!(planned.diagnostics.len(), 1);
    assert_eq!(
        planned.diagnostics[0]
            .path
            .as_ref()
            .map(diag::render_path)
            .as_deref(),
        Some(WORKSPACE)
    );

    // Once created, a changed provider default does not move (or replace) the object.
    let prior = r.plan(
        &Value::Null,
        config.clone(),
        &config,
        &WorkspaceDefault::Known("team".into()),
    );
    let again = r.plan(
        &prior.state,
        config.clone(),
        &config,
        &WorkspaceDefault::Known("other".into()),
    );
    assert_eq!(again.state.get(WORKSPACE).as_str(), Some("team"));
    assert!(again.requires_replace.is_empty());

    // Set explicitly to another workspace: replaced.
    let moved = cloud_access_config(Some("other"));
    let again = r.plan(&prior.state, moved.clone(), &moved, &WorkspaceDefault::None);
    let replaced: Vec<String> = again
        .requires_replace
        .iter()
        .map(diag::render_path)
        .collect();
    assert_eq!(replaced, [WORKSPACE]);
}

#[test]
fn import_ids_take_the_documented_forms() {
    let ws = cloud_access();
    let at = ws.parse_import_id("team/aws-main", None).unwrap();
    assert_eq!(
        (at.workspace.as_deref(), at.name.as_str()),
        (Some("team"), "aws-main")
    );
    let at = ws.parse_import_id("aws-main", Some("dflt")).unwrap();
    assert_eq!(at.workspace.as_deref(), Some("dflt"));
    let e = ws.parse_import_id("aws-main", None).unwrap_err();
    assert!(e.detail.contains("WORKSPACE/NAME"), "{}", e.detail);
    assert!(e.detail.contains("no default `workspace`"), "{}", e.detail);
    for bad in ["a/b/c", "/x", "team/", "x@1.0.0"] {
        let e = ws.parse_import_id(bad, Some("d")).unwrap_err();
        assert_eq!(e.summary, "Invalid import ID");
        assert!(
            e.detail.contains("Expected `WORKSPACE/NAME`"),
            "{bad}: {}",
            e.detail
        );
    }

    let plan = resource(&CLUSTER_PLAN);
    let at = plan.parse_import_id("eks-standard@1.2.0", None).unwrap();
    assert_eq!(at.version.as_deref(), Some("1.2.0"));
    assert_eq!(at.id(), "eks-standard@1.2.0");
    let latest = plan.parse_import_id("eks-standard", None).unwrap();
    assert_eq!(
        latest.version, None,
        "to be resolved to the latest published"
    );
    for bad in ["team/eks@1.0.0", "eks@", "@1.0.0"] {
        let e = plan.parse_import_id(bad, None).unwrap_err();
        assert!(e.detail.contains("`NAME@VERSION`"), "{bad}: {}", e.detail);
    }

    let platform = template();
    assert_eq!(
        platform.parse_import_id(" general ", None).unwrap().id(),
        "general"
    );
    let e = platform
        .parse_import_id("team/general", Some("team"))
        .unwrap_err();
    assert!(e.detail.contains("platform-wide"), "{}", e.detail);
}

#[test]
fn identities_name_the_same_objects_as_ids() {
    let r = cloud_access();
    let at = r.parse_import_id("team/aws-main", None).unwrap();
    let identity = r.identity(&at);
    let back = r.address_from_identity(&identity, None).unwrap();
    assert_eq!(back, at);
    // Workspace left out: the provider's.
    let partial = Value::Map([(NAME.to_string(), s("aws-main"))].into());
    assert_eq!(r.address_from_identity(&partial, Some("team")).unwrap(), at);
    let e = r.address_from_identity(&partial, None).unwrap_err();
    assert!(e.detail.contains("workspace"), "{}", e.detail);
    let schema = r.identity_schema();
    let names: Vec<_> = schema
        .iter()
        .map(|a| (a.name, a.required_for_import))
        .collect();
    assert_eq!(names, [(WORKSPACE, false), (NAME, true)]);
    let plan = resource(&CLUSTER_PLAN);
    let names: Vec<_> = plan.identity_schema().into_iter().map(|a| a.name).collect();
    assert_eq!(names, [NAME, VERSION]);
}

// ---------------------------------------------------------------------------------------
// Versioned kinds

#[test]
fn versioned_kinds_are_addressed_by_version_and_carry_their_publish_state() {
    let r = resource(&CLUSTER_PLAN);
    let version = r
        .schema()
        .block
        .attributes
        .iter()
        .find(|a| a.name == VERSION)
        .expect("version");
    assert!(version.requires_replace);
    let object = json!({
        "metadata": {"name": "eks", "annotations": {"appvia.io/published": "false", "appvia.io/publishState": "Draft"}},
        "spec": {"version": "1.0.0", "provider": "EKS"}
    });
    let v = r.from_object(&object);
    assert_eq!(v.get(ID).as_str(), Some("eks@1.0.0"));
    assert_eq!(v.get(PUBLISH_STATE).as_str(), Some("Draft"));
    let back = r.to_object(&v);
    assert_eq!(
        back["metadata"]["annotations"],
        object["metadata"]["annotations"]
    );
    let published = with(v.clone(), PUBLISH_STATE, s("Published"));
    assert_eq!(
        r.to_object(&published)["metadata"]["annotations"],
        json!({"appvia.io/published": "true", "appvia.io/publishState": "Published"})
    );
    let unset = with(v.clone(), PUBLISH_STATE, Value::Null);
    assert!(r.to_object(&unset)["metadata"].get("annotations").is_none());
    let no_annotations = json!({"metadata": {"name": "eks"}, "spec": {"version": "1.0.0"}});
    assert!(r.from_object(&no_annotations).get(PUBLISH_STATE).is_null());

    // Other annotations are the user's; the publish ones stay with publish_state.
    let mut annotated = object.clone();
    annotated["metadata"]["annotations"]["appvia.io/displayName"] = json!("EKS");
    let v2 = r.from_object(&annotated);
    assert_eq!(
        v2.get(ANNOTATIONS).to_json(),
        json!({"appvia.io/displayName": "EKS"})
    );
    assert_eq!(
        r.to_object(&v2)["metadata"]["annotations"],
        annotated["metadata"]["annotations"]
    );
    let clash = with(
        v2.clone(),
        ANNOTATIONS,
        Value::from_json(&json!({"appvia.io/publishState": "Draft"})),
    );
    let problems = r.check_config(&clash);
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].path.as_ref().map(diag::render_path).as_deref(),
        Some("annotations[\"appvia.io/publishState\"]")
    );
    assert!(r.check_config(&v2).is_empty());

    // A new version replaces.
    let next = with(v.clone(), VERSION, s("1.1.0"));
    let planned = r.plan(&v, next.clone(), &next, &WorkspaceDefault::None);
    let replaced: Vec<String> = planned
        .requires_replace
        .iter()
        .map(diag::render_path)
        .collect();
    assert_eq!(replaced, [VERSION]);
    assert_eq!(planned.state.get(ID).as_str(), Some("eks@1.1.0"));
}

// ---------------------------------------------------------------------------------------
// Status

#[test]
fn status_is_computed_unknown_on_change_and_kept_otherwise() {
    let r = resource(&ACCESS_TOKEN);
    let status = r
        .schema()
        .block
        .attributes
        .iter()
        .find(|a| a.name == STATUS)
        .expect("status");
    assert!(status.is_computed());
    let object = json!({
        "metadata": {"name": "ci", "namespace": "ws-team"},
        "spec": {"description": "CI", "roles": ["member"]},
        "status": {"subject": "accesstoken:team/ci", "expiresAt": "2030-01-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]}
    });
    let prior = r.read_state(&object, &Value::Null);
    let st = prior.get(STATUS);
    assert_eq!(st.get("subject").as_str(), Some("accesstoken:team/ci"));
    assert_eq!(st.get("expires_at").as_str(), Some("2030-01-01T00:00:00Z"));
    assert_eq!(
        st.get("conditions").as_list().unwrap()[0].get("observed_generation"),
        &Value::Number(crate::codec::Number::Int(1))
    );
    // The config: what the user wrote (computed attributes null).
    let config = {
        let mut c = prior.clone();
        for a in ["id", "status", "token", "store_token"] {
            c = with(c, a, Value::Null);
        }
        c
    };
    let same = r.plan(&prior, prior.clone(), &config, &WorkspaceDefault::None);
    assert_eq!(
        same.state, prior,
        "nothing changed: the prior state is the plan"
    );
    let changed_config = with(config.clone(), "description", s("CI v2"));
    let proposed = with(prior.clone(), "description", s("CI v2"));
    let changed = r.plan(&prior, proposed, &changed_config, &WorkspaceDefault::None);
    assert!(changed.state.get(STATUS).is_unknown());
    assert!(
        changed.requires_replace.is_empty(),
        "a description changes in place"
    );
    let roles = with(prior.clone(), "roles", Value::List(vec![s("owner")]));
    let replaced = r.plan(&prior, roles.clone(), &roles, &WorkspaceDefault::None);
    let paths: Vec<String> = replaced
        .requires_replace
        .iter()
        .map(diag::render_path)
        .collect();
    assert_eq!(paths, ["roles"], "Wayfinder cannot change a token's roles");
}

#[test]
fn the_access_token_secret_is_kept_only_when_asked() {
    let r = resource(&ACCESS_TOKEN);
    let base = Value::Map(
        [
            (NAME.to_string(), s("ci")),
            (WORKSPACE.to_string(), s("team")),
            ("description".to_string(), s("CI")),
        ]
        .into(),
    )
    .conform(&r.value_type());
    let created = json!({
        "metadata": {"name": "ci", "namespace": "ws-team"},
        "spec": {"description": "CI"},
        "status": {"subject": "accesstoken:team/ci", "token": "wf_secret"}
    });
    let read_back = json!({
        "metadata": {"name": "ci", "namespace": "ws-team"},
        "spec": {"description": "CI"},
        "status": {"subject": "accesstoken:team/ci"}
    });

    // Default: not stored; the plan warns.
    let plan = r.plan(&Value::Null, base.clone(), &base, &WorkspaceDefault::None);
    assert_eq!(plan.state.get(STORE_TOKEN), &Value::Bool(false));
    assert!(plan.state.get(access_token::TOKEN).is_null());
    assert_eq!(r.create_warnings(&plan.state).len(), 1);
    let applied = r.applied_state(&created, &wire(&r, &plan.state));
    assert!(
        applied.get(access_token::TOKEN).is_null(),
        "the secret was kept"
    );
    assert!(!format!("{applied:?}").contains("wf_secret"));

    // Asked for: stored, kept across reads, planned as known afterwards.
    let asked = with(base.clone(), STORE_TOKEN, Value::Bool(true));
    let plan = r.plan(&Value::Null, asked.clone(), &asked, &WorkspaceDefault::None);
    assert!(plan.state.get(access_token::TOKEN).is_unknown());
    assert!(r.create_warnings(&plan.state).is_empty());
    let applied = r.applied_state(&created, &wire(&r, &plan.state));
    assert_eq!(applied.get(access_token::TOKEN).as_str(), Some("wf_secret"));
    let read = r.read_state(&read_back, &applied);
    assert_eq!(read.get(access_token::TOKEN).as_str(), Some("wf_secret"));
    let replan = r.plan(&read, read.clone(), &asked, &WorkspaceDefault::None);
    assert_eq!(replan.state, read);

    // Turned off: removed from the state, in place.
    let off = with(base.clone(), STORE_TOKEN, Value::Bool(false));
    let proposed = with(read.clone(), STORE_TOKEN, Value::Bool(false));
    let plan = r.plan(&read, proposed, &off, &WorkspaceDefault::None);
    assert!(plan.state.get(access_token::TOKEN).is_null());
    assert!(plan.requires_replace.is_empty());

    // Imported: nothing to carry over.
    let imported = r.read_state(&read_back, &r.import_stub(&r.address(&read).unwrap()));
    assert_eq!(imported.get(STORE_TOKEN), &Value::Bool(false));
    assert!(imported.get(access_token::TOKEN).is_null());
    let sensitive = r
        .schema()
        .block
        .attributes
        .iter()
        .find(|a| a.name == access_token::TOKEN)
        .unwrap();
    assert!(sensitive.sensitive);
}

// ---------------------------------------------------------------------------------------
// Settling and free-form (dynamic) fields

#[test]
fn what_wayfinder_treats_as_unset_is_equivalent() {
    for (a, b) in [
        (json!(null), json!("")),
        (json!(null), json!([])),
        (json!({"a": null}), json!({})),
        (json!({"a": []}), json!(null)),
        (json!(1), json!(1.0)),
        (json!({"x": 1, "y": 2}), json!({"y": 2, "x": 1})),
    ] {
        assert!(equivalent(&a, &b), "{a} ~ {b}");
    }
    for (a, b) in [
        (json!(null), json!(false)),
        (json!(null), json!(0)),
        (json!("a"), json!("A")),
        (json!([1, 2]), json!([2, 1])),
        (json!({"a": 1}), json!({})),
    ] {
        assert!(!equivalent(&a, &b), "{a} !~ {b}");
    }
}

#[test]
fn reads_keep_the_prior_form_where_the_server_means_the_same() {
    let r = template();
    let object = sample_object();
    let mut prior = r.from_object(&object);
    // The user wrote `taints = []`-like emptiness as null elsewhere: keep their form.
    prior = with(prior, "description", s("General"));
    let read = r.read_state(&object, &prior);
    assert_eq!(read, prior);
    // Drift shows.
    let mut drifted = object.clone();
    drifted["spec"]["nodePools"][0]["machine"] = json!("m6i.xlarge");
    let read = r.read_state(&drifted, &prior);
    assert_eq!(
        read.get("node_pools").as_list().unwrap()[0]
            .get("machine")
            .as_str(),
        Some("m6i.xlarge")
    );
}

fn policy_object() -> Json {
    json!({
        "apiVersion": "policydelivery.appvia.io/v1alpha1",
        "kind": "GlobalClusterPolicy",
        "metadata": {"name": "require-labels"},
        "spec": {
            "description": "Pods need a team label",
            "policy": {
                "type": "Kyverno",
                "kyverno": {
                    "validationFailureAction": "Enforce",
                    "rules": [{
                        "name": "check-team",
                        "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                        "validate": {"message": "label team required",
                                     "pattern": {"metadata": {"labels": {"team": "?*"}}}}
                    }]
                }
            }
        }
    })
}

#[test]
fn kyverno_rules_are_dynamic_values_that_round_trip() {
    let r = resource(&GLOBAL_CLUSTER_POLICY);
    let rules_block: &NestedBlock = &r.schema().block.blocks[0].block.blocks[0].block.blocks[0];
    assert_eq!(rules_block.name, "rules");
    assert_eq!(
        rules_block.value_type(),
        Type::Dynamic,
        "a list of blocks with dynamic attributes is a tuple, as Terraform types it"
    );
    let v = r.from_object(&policy_object());
    let over_the_wire = wire(&r, &v);
    assert_eq!(over_the_wire.to_json(), v.to_json());
    assert_eq!(
        r.to_object(&over_the_wire)["spec"],
        policy_object()["spec"],
        "the rules reach the server as they were read"
    );
    let rules = over_the_wire.get("policy").get("kyverno").get("rules");
    let Type::Tuple(items) = Type::of(rules) else {
        panic!("rules are a tuple: {:?}", Type::of(rules))
    };
    let Type::Object(attrs) = &items[0] else {
        panic!()
    };
    let ty = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone());
    assert_eq!(
        ty("name"),
        Some(Type::String),
        "declared attributes keep their type"
    );
    assert_eq!(
        ty("skip_background_requests"),
        Some(Type::Bool),
        "a null declared attribute keeps its type, as HCL gives it"
    );
    assert!(
        matches!(ty("match"), Some(Type::Object(_))),
        "{:?}",
        ty("match")
    );
    assert_eq!(ty("exclude"), Some(Type::Dynamic), "null free-form field");
}

#[test]
fn a_rule_written_as_a_list_keeps_its_type_across_reads() {
    // The user wrote `kinds = tolist(["Pod"])`: Terraform sends a list, the server answers
    // an array; the read keeps the list so the plan stays empty.
    let r = resource(&GLOBAL_CLUSTER_POLICY);
    let v = wire(&r, &r.from_object(&policy_object()));
    let Value::Map(mut root) = v.clone() else {
        panic!()
    };
    let list_match = Value::Typed(
        Type::Object(vec![(
            "any".into(),
            Type::List(Box::new(Type::Object(vec![(
                "resources".into(),
                Type::Object(vec![("kinds".into(), Type::List(Box::new(Type::String)))]),
            )]))),
        )]),
        Box::new(Value::from_json(
            &json!({"any": [{"resources": {"kinds": ["Pod"]}}]}),
        )),
    );
    // Put it in place of the inferred `match`.
    let policy = root.get_mut("policy").unwrap();
    let Value::Map(p) = policy else { panic!() };
    let Value::Map(k) = p.get_mut("kyverno").unwrap() else {
        panic!()
    };
    let rules = k.get_mut("rules").unwrap();
    let Value::Typed(_, inner) = rules else {
        panic!("{rules:?}")
    };
    let Value::List(items) = inner.as_mut() else {
        panic!()
    };
    let Value::Map(rule) = &mut items[0] else {
        panic!()
    };
    rule.insert("match".into(), list_match.clone());
    let rules_block = &r.schema().block.blocks[0].block.blocks[0].block.blocks[0];
    *rules = Value::Typed(
        rules_block.concrete_type(&Value::List(items.clone())),
        Box::new(Value::List(items.clone())),
    );
    let prior = wire(&r, &Value::Map(root));
    let read = wire(&r, &r.read_state(&policy_object(), &prior));
    assert_eq!(read, prior, "the read keeps the list typing");
    // Inside the rules' recorded tuple type, `match` is the list-typed object.
    let Type::Tuple(items) = Type::of(read.get("policy").get("kyverno").get("rules")) else {
        panic!()
    };
    let Type::Object(attrs) = &items[0] else {
        panic!()
    };
    let recorded = attrs.iter().find(|(k, _)| k == "match").map(|(_, t)| t);
    assert_eq!(recorded, Some(&Type::of(&list_match)));

    // A rule that drifted elsewhere still keeps the typing of its unchanged siblings.
    let mut two = policy_object();
    let second = two["spec"]["policy"]["kyverno"]["rules"][0].clone();
    two["spec"]["policy"]["kyverno"]["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "other", "match": second["match"].clone(), "validate": {"message": "x"}}));
    let prior_two = wire(&r, &r.from_object(&two));
    let mut drifted = two.clone();
    drifted["spec"]["policy"]["kyverno"]["rules"][1]["validate"]["message"] = json!("changed");
    let read = r.read_state(&drifted, &prior_two);
    let (Type::Tuple(before), Type::Tuple(after)) = (
        Type::of(prior_two.get("policy").get("kyverno").get("rules")),
        Type::of(read.get("policy").get("kyverno").get("rules")),
    ) else {
        panic!()
    };
    assert_eq!(
        after[0], before[0],
        "the unchanged rule keeps its recorded type"
    );
}

#[test]
fn generated_configuration_leaves_out_what_only_the_provider_sets() {
    let r = resource(&ACCESS_TOKEN);
    let object = json!({
        "metadata": {"name": "ci", "namespace": "ws-team"},
        "spec": {"description": "CI"},
        "status": {"subject": "accesstoken:team/ci"}
    });
    let state = r.read_state(&object, &Value::Null);
    let config = r.generate_config(&state);
    for computed in [ID, STATUS, access_token::TOKEN, STORE_TOKEN] {
        assert!(
            config.get(computed).is_null(),
            "{computed} in generated config"
        );
    }
    assert_eq!(config.get(WORKSPACE).as_str(), Some("team"));
    assert_eq!(config.get("description").as_str(), Some("CI"));
}

// ---------------------------------------------------------------------------------------
// One set of rules for import IDs and identities

/// A versioned kind in a workspace: none exists yet, but the rules cover it.
static WORKSPACED_PLAN: KindInfo = KindInfo {
    scope: wayfinder_model::Scope::Workspace,
    ..wayfinder_model::kinds::CLUSTER_PLAN
};

#[test]
fn an_import_id_and_an_identity_naming_the_same_parts_name_the_same_object() {
    use wayfinder_model::kinds::PACKAGE;
    // (kind, workspace, name, version, provider's workspace) → the address, or the word the
    // refusal names.
    type Want = Result<(Option<&'static str>, &'static str, Option<&'static str>), &'static str>;
    type Row = (
        &'static KindInfo,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Want,
    );
    #[rustfmt::skip]
    let rows: &[Row] = &[
        (&PACKAGE, None, "cilium", None, None, Ok((None, "cilium", None))),
        (&PACKAGE, None, "cilium", Some("1.2.0"), None, Ok((None, "cilium", Some("1.2.0")))),
        (&CLUSTER_PLAN, None, "eks", None, Some("pay"), Ok((None, "eks", None))),
        (&GLOBAL_CLUSTER_POLICY, None, "base", None, None, Ok((None, "base", None))),
        (&CLOUD_ACCESS_CONFIG, Some("team"), "aws", None, None, Ok((Some("team"), "aws", None))),
        (&CLOUD_ACCESS_CONFIG, None, "aws", None, Some("pay"), Ok((Some("pay"), "aws", None))),
        (&CLOUD_ACCESS_CONFIG, None, "aws", None, None, Err("workspace")),
        (&WORKSPACED_PLAN, Some("team"), "eks", Some("1.0.0"), None, Ok((Some("team"), "eks", Some("1.0.0")))),
        (&WORKSPACED_PLAN, None, "eks", Some("1.0.0"), Some("pay"), Ok((Some("pay"), "eks", Some("1.0.0")))),
        (&WORKSPACED_PLAN, Some("team"), "eks", None, None, Err("version")),
        (&WORKSPACED_PLAN, None, "eks", Some("1.0.0"), None, Err("workspace")),
    ];
    for (kind, ws, name, version, default_ws, want) in rows {
        let r = ResourceType::new(kind);
        let mut id = String::new();
        let mut identity = BTreeMap::new();
        if let Some(ws) = ws {
            id.push_str(&format!("{ws}/"));
            identity.insert(WORKSPACE.to_string(), s(ws));
        }
        id.push_str(name);
        identity.insert(NAME.to_string(), s(name));
        if let Some(v) = version {
            id.push_str(&format!("@{v}"));
            identity.insert(VERSION.to_string(), s(v));
        }
        let identity = Value::Map(identity).conform(&r.identity_type());
        let by_id = r.parse_import_id(&id, *default_ws);
        let by_identity = r.address_from_identity(&identity, *default_ws);
        let row = format!("{} {id:?} (default workspace {default_ws:?})", kind.kind);
        match want {
            Ok((ws, name, version)) => {
                let at = ObjectAddress {
                    workspace: ws.map(str::to_string),
                    name: name.to_string(),
                    version: version.map(str::to_string),
                };
                assert_eq!(by_id.as_ref(), Ok(&at), "{row}: by ID");
                assert_eq!(by_identity.as_ref(), Ok(&at), "{row}: by identity");
            }
            Err(word) => {
                for (form, got) in [("ID", by_id), ("identity", by_identity)] {
                    let d = got.expect_err(&format!("{row}: by {form}"));
                    assert!(d.detail.contains(word), "{row}: by {form}: {}", d.detail);
                }
            }
        }
    }
}

#[test]
fn the_attributes_that_replace_an_object_are_the_models_immutable_fields() {
    for r in all() {
        let kind = r.kind;
        let mut replacing: Vec<String> = r
            .schema()
            .block
            .attributes
            .iter()
            .filter(|a| a.requires_replace && a.json.is_some())
            .filter(|a| !(kind.versioned && a.json == Some("version")))
            .map(|a| a.name.clone())
            .collect();
        let mut immutable: Vec<String> = kind
            .immutable_paths()
            .iter()
            .map(|p| naming::top_level_attribute(p.strip_prefix("spec.").unwrap_or(p)))
            .collect();
        replacing.sort();
        immutable.sort();
        assert_eq!(replacing, immutable, "{}", kind.kind);
    }
}

#[test]
fn every_resource_has_labels_sent_and_read_back_but_those_the_server_owns() {
    for kind in wayfinder_model::kinds::ALL {
        let r = resource(kind);
        let attr = r
            .schema()
            .block
            .attributes
            .iter()
            .find(|a| a.name == LABELS)
            .unwrap_or_else(|| panic!("{} has no labels", kind.kind));
        assert_eq!(attr.ty, Type::Map(Box::new(Type::String)), "{}", kind.kind);
        assert_eq!(attr.presence, Presence::Optional, "{}", kind.kind);
        assert_eq!(
            r.attribute_path(&FieldPath::parse("metadata.labels.team").unwrap())
                .map(|p| diag::render_path(&p)),
            Some(LABELS.to_string()),
            "{}",
            kind.kind
        );
    }
    // Sent as metadata.labels and read back as they are.
    let r = template();
    let mut object = sample_object();
    object["metadata"]["labels"] = json!({"team": "platform", "tier": "gold"});
    let v = r.from_object(&object);
    assert_eq!(
        v.get(LABELS).to_json(),
        json!({"team": "platform", "tier": "gold"})
    );
    assert_eq!(
        r.to_object(&v)["metadata"]["labels"],
        object["metadata"]["labels"]
    );
    // None: no labels sent, null read back.
    let bare = r.from_object(&sample_object());
    assert!(bare.get(LABELS).is_null());
    assert!(r.to_object(&bare)["metadata"].get("labels").is_none());
    // A cluster's Wayfinder labels are the server's: not read into `labels`, and refused
    // when given.
    let c = resource(&wayfinder_model::kinds::CLUSTER);
    let cluster = json!({
        "metadata": {"name": "etl", "namespace": "ws-dat", "labels": {
            "appvia.io/stage": "nonprod", "appvia.io/workspace": "dat", "team": "data"
        }},
        "spec": {"plan": {"name": "eks", "version": "1.0.0"}, "stage": "nonprod"}
    });
    let v = c.from_object(&cluster);
    assert_eq!(v.get(LABELS).to_json(), json!({"team": "data"}));
    let clash = with(
        v.clone(),
        LABELS,
        Value::from_json(&json!({"appvia.io/stage": "prod"})),
    );
    let problems = c.check_config(&clash);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].path.as_ref().map(diag::render_path).as_deref(),
        Some("labels[\"appvia.io/stage\"]")
    );
    assert!(c.check_config(&v).is_empty());
}
