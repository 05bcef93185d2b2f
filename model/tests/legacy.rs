//! Legacy `v2beta1` definitions, data-driven: every file under `tests/data/legacy/plans` and
//! `tests/data/legacy/others` converts, each object it becomes is valid, and the result is
//! the expected one (`tests/data/legacy/expected/NAME.yaml`: the report as comments, then
//! the objects); every file under `tests/data/legacy/invalid` is refused with the errors in
//! `expected/NAME.error`. Served kinds convert back to what they were.
//!
//! Run with `WAYFINDER_UPDATE_GOLDEN=1` to rewrite the expected files after an intended
//! change, and review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wayfinder_model::legacy::{self, CARRIED_ANNOTATION, Handling};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy")
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(data().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// Compares `actual` with the expected file `name`, or rewrites it when asked.
fn golden(name: &str, actual: &str) {
    let path = data().join("expected").join(name);
    if std::env::var_os("WAYFINDER_UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with WAYFINDER_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs; rerun with WAYFINDER_UPDATE_GOLDEN=1 if the change is intended",
        path.display()
    );
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_legacy_plan_migrates_to_a_valid_plan_and_compute_template() {
    let files = yaml_files("plans");
    assert_eq!(
        files.len(),
        10,
        "nine plans, as Wayfinder's example repository has, and one with an AKS spot pool"
    );
    let mut providers = std::collections::BTreeSet::new();
    for f in files {
        let m = legacy::migrate(&read(&f)).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        assert_eq!(
            m.objects[0].kind_info().kind,
            "ClusterPlan",
            "{}",
            f.display()
        );
        assert_eq!(
            m.objects[1].kind_info().kind,
            "ComputeTemplate",
            "{}",
            f.display()
        );
        for o in &m.objects {
            o.validate().unwrap_or_else(|e| {
                panic!("{}: {} is not valid: {e}", f.display(), o.display_name())
            });
        }
        if let Some(p) = m.objects[0].spec_json().get("provider") {
            providers.insert(p.as_str().unwrap_or_default().to_string());
        }
        golden(&format!("{}.yaml", stem(&f)), &m.to_yaml());
    }
    assert_eq!(
        providers.into_iter().collect::<Vec<_>>(),
        ["AKS", "EKS", "GKE"]
    );
}

#[test]
fn legacy_packages_cloud_access_and_identities_convert_to_valid_objects() {
    for f in yaml_files("others") {
        let m = legacy::migrate(&read(&f)).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        for o in &m.objects {
            o.validate().unwrap_or_else(|e| {
                panic!("{}: {} is not valid: {e}", f.display(), o.display_name())
            });
        }
        golden(&format!("{}.yaml", stem(&f)), &m.to_yaml());
    }
}

#[test]
fn what_has_no_counterpart_is_carried_in_an_annotation_and_named() {
    let m = legacy::migrate(&read(&data().join("plans/eks-general.yaml"))).unwrap();
    assert!(
        m.carried.contains(&"spec.template.quotaLimits".to_string()),
        "{:?}",
        m.carried
    );
    let carried = &m.objects[0].metadata().annotations.as_ref().unwrap()[CARRIED_ANNOTATION];
    let carried: Value = serde_json::from_str(carried).unwrap();
    assert_eq!(
        carried["spec.template.quotaLimits"]["default"], "small",
        "carried verbatim: {carried}"
    );
    assert!(
        m.report().contains("spec.template.quotaLimits"),
        "{}",
        m.report()
    );
}

#[test]
fn served_legacy_kinds_convert_back_to_what_they_were() {
    for name in ["cloud-access-dns", "cloud-access-gcp", "repository-charts"] {
        let original = read(&data().join(format!("others/{name}.yaml")));
        let current = legacy::to_current(&original).unwrap();
        let kind = legacy::by_api_version_kind(
            original["apiVersion"].as_str().unwrap(),
            original["kind"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(kind.handling, Handling::Served);
        let back = legacy::to_legacy(kind, &current).unwrap();
        assert_eq!(back["apiVersion"], original["apiVersion"], "{name}");
        assert_eq!(back["spec"], original["spec"], "{name}: {back:#}");
        assert_eq!(back["metadata"]["name"], original["metadata"]["name"]);
        assert!(
            back["metadata"].get("annotations").is_none(),
            "{name}: nothing left to carry: {back:#}"
        );
    }
}

#[test]
fn a_legacy_plan_read_back_from_its_plan_and_template_is_what_it_was() {
    let mut files = yaml_files("plans");
    files.extend(yaml_files(
        "../../../../examples/wayfinder-repo-v2beta1/clusterplans",
    ));
    assert!(files.len() >= 14, "{files:?}");
    for f in files {
        let original = read(&f);
        let m = legacy::migrate(&original).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let kind = m.legacy;
        let (plan, produced) = m.objects.split_first().unwrap();
        // The template is the one the plan names, marked as produced by it.
        let joined = legacy::joined_with(kind, plan);
        assert_eq!(joined.len(), produced.len(), "{}", f.display());
        for o in produced {
            assert!(
                legacy::produced_by(o, kind, &m.name),
                "{}",
                o.display_name()
            );
            assert!(!legacy::produced_by(o, kind, "another"));
        }
        let back = legacy::to_legacy_joined(kind, plan, produced).unwrap();
        assert_eq!(back["apiVersion"], original["apiVersion"]);
        assert_eq!(back["metadata"]["name"], original["metadata"]["name"]);
        let mut expected = original["spec"].clone();
        if expected["template"].get("version").is_none() {
            // The one value the migration chose, said so in its notes.
            expected["template"]["version"] = json!(legacy::DEFAULT_KUBERNETES_VERSION);
        }
        assert_eq!(back["spec"], expected, "{}: {back:#}", f.display());
        // Without its template, the plan reads back without node pools, nothing else lost.
        let alone = legacy::to_legacy_joined(kind, plan, &[]).unwrap();
        assert!(alone["spec"]["template"].get("nodePools").is_none());
        assert_eq!(alone["spec"]["summary"], back["spec"]["summary"]);
    }
}

/// The carried fields of a migration's first object, parsed.
fn carried_of(m: &legacy::Migration) -> Value {
    let text = &m.objects[0].metadata().annotations.as_ref().unwrap()[CARRIED_ANNOTATION];
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_legacy_repository_is_served_as_one_repository_with_its_fetch_settings_carried() {
    let original = read(&data().join("others/repository-charts.yaml"));
    let kind = legacy::by_plural("package.appvia.io", "v2beta1", "repositories").unwrap();
    assert_eq!(kind.handling, Handling::Served);
    let current = legacy::to_current(&original).unwrap();
    assert_eq!(current.display_name(), "Repository/cost-charts");
    let m = legacy::migrate(&original).unwrap();
    assert_eq!(
        m.carried,
        ["spec.interval", "spec.selectors", "spec.timeout"],
        "{}",
        m.report()
    );
    assert_eq!(carried_of(&m)["spec.interval"], "30m");
}

#[test]
fn azure_workload_identity_of_a_legacy_package_is_carried_and_named() {
    let m = legacy::migrate(&read(&data().join("others/package-azure-identity.yaml"))).unwrap();
    for path in [
        "spec.workloadIdentity.providerDetails.azure.helmPodLabelsPaths",
        "spec.workloadIdentity.providerDetails.azure.helmPodSelector",
    ] {
        assert!(
            m.carried.contains(&path.to_string()),
            "{path}: {:?}",
            m.carried
        );
        assert!(m.report().contains(path), "{}", m.report());
    }
    assert_eq!(
        carried_of(&m)["spec.workloadIdentity.providerDetails.azure.helmPodSelector"],
        "tf-executor"
    );
}

#[test]
fn aks_spot_settings_of_a_legacy_node_pool_are_carried_and_the_pool_stays_spot() {
    let m = legacy::migrate(&read(&data().join("plans/aks-spot.yaml"))).unwrap();
    assert!(
        m.carried
            .contains(&"spec.template.nodePools.1.spot.aks".to_string()),
        "{:?}",
        m.carried
    );
    assert_eq!(
        carried_of(&m)["spec.template.nodePools.1.spot.aks"],
        serde_json::json!({})
    );
    let template = m.objects[1].to_json();
    assert_eq!(template["spec"]["nodePools"][1]["spot"]["enabled"], true);
}

#[test]
fn a_current_identity_reads_at_v2beta1_with_what_it_has_no_place_for_carried() {
    let current = wayfinder_model::parse_json(
        "identity.json",
        br#"{"apiVersion": "cloudaccess.appvia.io/v2beta2", "kind": "CloudIdentity",
            "metadata": {"name": "cloudidentity-aws", "namespace": "ws-admin"},
            "spec": {"description": "Wayfinder's role", "cloud": "aws",
                     "type": "AWSIAMRoleForServiceAccount",
                     "aws": {"roleARN": "arn:aws:iam::123456789012:role/wf"}}}"#,
    )
    .unwrap();
    let kind = legacy::by_plural("cloudaccess.appvia.io", "v2beta1", "cloudidentities").unwrap();
    let shown = legacy::to_legacy(kind, &current).unwrap();
    assert_eq!(shown["apiVersion"], "cloudaccess.appvia.io/v2beta1");
    assert_eq!(shown["spec"]["name"], "Wayfinder's role");
    assert_eq!(shown["spec"]["cloud"], "aws");
    let carried: Value = serde_json::from_str(
        shown["metadata"]["annotations"][CARRIED_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        carried["spec.aws"]["roleARN"],
        "arn:aws:iam::123456789012:role/wf"
    );
    assert_eq!(carried["spec.type"], "AWSIAMRoleForServiceAccount");
}

#[test]
fn a_cloud_access_with_several_features_is_not_served_but_migrated() {
    let original = read(&data().join("others/cloud-access-two-features.yaml"));
    let e = legacy::to_current(&original).unwrap_err();
    assert!(
        e[0].message.contains("wayfinder-compile --migrate"),
        "{e:?}"
    );
    let m = legacy::migrate(&original).unwrap();
    let names: Vec<String> = m.objects.iter().map(|o| o.display_name()).collect();
    assert_eq!(
        names,
        [
            "CloudAccessConfig/aws-devtest-dns-zone-management",
            "CloudAccessConfig/aws-devtest-costs-estimates"
        ]
    );
}

#[test]
fn migrated_kinds_are_refused_by_the_server_with_how_to_migrate() {
    let package = legacy::by_api_version_kind("package.appvia.io/v2beta1", "Package").unwrap();
    let refusal = package.refusal().unwrap();
    assert!(refusal.contains("Repository"), "{refusal}");
    assert!(refusal.contains("wayfinder-compile --migrate"), "{refusal}");
    // A plan and its ComputeTemplate are committed together by the server.
    let plan = legacy::by_api_version_kind("compute.appvia.io/v2beta1", "ClusterPlan").unwrap();
    assert_eq!(plan.handling, Handling::Joined);
    assert_eq!(plan.refusal(), None);
    assert!(legacy::by_plural("cloudaccess.appvia.io", "v2beta1", "cloudidentities").is_some());
    assert!(legacy::by_plural("cloudaccess.appvia.io", "v2beta2", "cloudidentities").is_none());
}

#[test]
fn bad_legacy_input_is_refused_with_the_field_path() {
    for f in yaml_files("invalid") {
        let errors = legacy::migrate(&read(&f)).unwrap_err();
        let text: String = errors.iter().map(|e| format!("{e}\n")).collect();
        golden(&format!("{}.error", stem(&f)), &text);
    }
}

#[test]
fn a_region_policy_editable_without_an_enum_becomes_any_public_region() {
    // Wayfinder: an editable region with no enum lets a cluster pick any region. v2beta2
    // says so with `choices.regions.allowed: ["*"]`, the template's region the default.
    let mut doc = read(&data().join("plans/eks-private.yaml"));
    doc["spec"]["policies"][0]
        .as_object_mut()
        .unwrap()
        .remove("enum");
    let m = legacy::migrate(&doc).unwrap_or_else(|e| panic!("{e:?}"));
    let wayfinder_model::Object::ClusterPlan(plan) = &m.objects[0] else {
        panic!("{:?}", m.objects[0]);
    };
    let regions = plan
        .spec
        .choices
        .as_ref()
        .and_then(|c| c.regions.clone())
        .expect("a region choice");
    assert!(regions.is_any(), "{regions:?}");
    assert_eq!(regions.default.as_deref(), Some("us-east-1"));
    plan.validate().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !m.to_yaml().contains("editable without an enum"),
        "mapped, not reported: {}",
        m.to_yaml()
    );
}
