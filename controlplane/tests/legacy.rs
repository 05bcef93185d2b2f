//! Legacy `v2beta1` versions against a real server: a served version (CloudAccessConfig,
//! Repository)
//! is converted to the storage version on the way in and back on the way out — created at
//! v2beta1, read at v2beta2 and v2beta1, listed, updated; a migrated version (ClusterPlan,
//! Package) is refused, saying how to migrate; and what `wayfinder-compile --migrate`
//! makes of our legacy plan fixtures (nine shaped like Wayfinder's example repository, across
//! EKS, AKS and GKE, and one with an AKS spot pool), their packages, repository and cloud
//! access, is admitted in full.

mod common;
mod fixtures;

use common::{TestServer, assert_status};
use fixtures::{collection, create, doc, item_path, stage, workspace};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wayfinder_model::legacy;

const V1: &str = "/resources/cloudaccess.appvia.io/v2beta1/workspaces/admin/cloudaccessconfigs";
const V2: &str = "/resources/cloudaccess.appvia.io/v2beta2/workspaces/admin/cloudaccessconfigs";

async fn server() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data")).await;
    (dir, server)
}

fn legacy_doc(dir: &str, file: &str) -> Value {
    let path = format!(
        "{}/../model/tests/data/legacy/{dir}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    serde_json::to_value(v).unwrap()
}

#[tokio::test]
async fn a_v2beta1_cloud_access_is_stored_at_v2beta2_and_read_at_either() {
    let (_dir, s) = server().await;
    create(&s, &doc("cloud_identity.yaml", "cloudidentity-aws")).await;
    let old = legacy_doc("others", "cloud-access-dns.yaml");
    let (status, created) = s.json(Method::POST, V1, Some(&old)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["apiVersion"], "cloudaccess.appvia.io/v2beta1");
    assert_eq!(created["spec"], old["spec"], "{created:#}");

    let (status, current) = s.json(Method::GET, &format!("{V2}/aws-dns"), None).await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["apiVersion"], "cloudaccess.appvia.io/v2beta2");
    assert_eq!(current["spec"]["aws"]["account"], "210987654321");
    assert_eq!(current["spec"]["type"], "DNSZoneManagement");
    assert_eq!(
        current["spec"]["cloudIdentityRef"]["name"],
        "cloudidentity-aws"
    );
    assert_eq!(
        current["spec"]["permissions"][0]["awsRole"],
        "arn:aws:iam::210987654321:role/wf-dns"
    );

    let (_, again) = s.json(Method::GET, &format!("{V1}/aws-dns"), None).await;
    assert_eq!(again["spec"], old["spec"], "{again:#}");
    assert_eq!(again["metadata"]["uid"], current["metadata"]["uid"]);

    let (status, list) = s.json(Method::GET, V1, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list["items"][0]["spec"]["identifier"], "210987654321",
        "{list:#}"
    );

    // Updated at v2beta1, with the resourceVersion it read.
    let mut changed = again.clone();
    changed["spec"]["defaultRegion"] = json!("eu-west-1");
    let (status, updated) = s
        .json(Method::PUT, &format!("{V1}/aws-dns"), Some(&changed))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (_, current) = s.json(Method::GET, &format!("{V2}/aws-dns"), None).await;
    assert_eq!(current["spec"]["aws"]["defaultRegion"], "eu-west-1");

    let (status, _) = s.json(Method::DELETE, &format!("{V1}/aws-dns"), None).await;
    assert!(status.is_success(), "{status}");
    let (status, _) = s.json(Method::GET, &format!("{V2}/aws-dns"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn a_v2beta1_repository_is_stored_at_v2beta2_and_reads_back_as_it_was() {
    let (_dir, s) = server().await;
    let v1 = "/resources/package.appvia.io/v2beta1/repositories";
    let v2 = "/resources/package.appvia.io/v2beta2/repositories";
    let old = legacy_doc("others", "repository-charts.yaml");
    let (status, created) = s.json(Method::POST, v1, Some(&old)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["apiVersion"], "package.appvia.io/v2beta1");
    assert_eq!(created["spec"], old["spec"], "{created:#}");
    let (status, current) = s
        .json(Method::GET, &format!("{v2}/cost-charts"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(
        current["spec"],
        json!({"url": "https://charts.example.net/cost"})
    );
    let carried = current["metadata"]["annotations"][legacy::CARRIED_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(carried.contains("\"spec.interval\":\"30m\""), "{carried}");
    let (_, again) = s
        .json(Method::GET, &format!("{v1}/cost-charts"), None)
        .await;
    assert_eq!(again["spec"], old["spec"], "{again:#}");
    s.stop().await;
}

#[tokio::test]
async fn a_v2beta1_object_the_conversion_cannot_place_is_refused_with_its_field() {
    let (_dir, s) = server().await;
    let mut old = legacy_doc("others", "cloud-access-dns.yaml");
    old["spec"]["accountAlias"] = json!("dns");
    let (status, body) = s.json(Method::POST, V1, Some(&old)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["field"], "spec.accountAlias",
        "{body}"
    );
    // Several features are several v2beta2 objects: migrated, not served.
    let two = legacy_doc("others", "cloud-access-two-features.yaml");
    let (status, body) = s.json(Method::POST, V1, Some(&two)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("wayfinder-compile --migrate"),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_v2beta1_plan_is_refused_saying_how_to_migrate_it() {
    let (_dir, s) = server().await;
    let old = legacy_doc("plans", "eks-general.yaml");
    let (status, body) = s
        .json(
            Method::POST,
            "/resources/compute.appvia.io/v2beta1/clusterplans",
            Some(&old),
        )
        .await;
    assert_status(&body, 422, "Invalid");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("ComputeTemplate"), "{message}");
    assert!(message.contains("wayfinder-compile --migrate"), "{message}");
    // At the v2beta2 path, the body's apiVersion is the problem, and the message says so.
    let (status, body) = s
        .json(
            Method::POST,
            "/resources/compute.appvia.io/v2beta2/clusterplans",
            Some(&old),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("wayfinder-compile --migrate"),
        "{body}"
    );
    s.stop().await;
}

/// A fixed network plan for `provider` named `name`.
fn network_plan(name: &str, provider: &str) -> Value {
    json!({"apiVersion": "networking.appvia.io/v2beta1", "kind": "ClusterNetworkPlan",
           "metadata": {"name": name},
           "spec": {"summary": name, "template": {"plan": name, "provider": provider,
                    "ipv4": {"cidrBlocks": [{"type": "node", "cidr": "10.0.0.0/16"}]}}}})
}

#[tokio::test]
async fn every_migrated_legacy_fixture_is_admitted_by_the_server() {
    let (_dir, s) = server().await;
    for ws in ["dat", "pay"] {
        create(&s, &workspace(ws)).await;
    }
    create(&s, &stage("nonprod")).await;
    create(&s, &doc("cloud_identity.yaml", "cloudidentity-aws")).await;
    for (name, provider) in [
        ("eks-fixed", "aws"),
        ("eks-fixed-zones", "aws"),
        ("aks-fixed", "azure"),
        ("gke-fixed", "gcp"),
    ] {
        create(&s, &network_plan(name, provider)).await;
    }
    let dir = format!("{}/../model/tests/data/legacy", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, String)> = Vec::new();
    for sub in ["others", "plans"] {
        let mut names: Vec<String> = std::fs::read_dir(format!("{dir}/{sub}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        files.extend(names.into_iter().map(|n| (sub.to_string(), n)));
    }
    let mut admitted = 0;
    let mut created = std::collections::BTreeSet::new();
    for (sub, file) in &files {
        let m = legacy::migrate(&legacy_doc(sub, file)).unwrap();
        // Repositories before the packages that name them, templates before plans.
        let mut objects = m.objects.clone();
        let derived: Vec<String> = objects.iter().skip(1).map(|o| o.display_name()).collect();
        objects.reverse();
        for o in objects {
            // Two packages from one chart repository give one Repository (as the compiler
            // writes it once).
            if derived.contains(&o.display_name()) && !created.insert(o.display_name()) {
                continue;
            }
            let v = serde_json::to_value(&o).unwrap();
            let (status, body) = s.json(Method::POST, &collection(&v, None), Some(&v)).await;
            assert_eq!(
                status,
                StatusCode::CREATED,
                "{file}: {}: {body}",
                o.display_name()
            );
            let (status, _) = s.json(Method::GET, &item_path(&v, None), None).await;
            assert_eq!(status, StatusCode::OK, "{file}: {}", o.display_name());
            admitted += 1;
        }
    }
    // Ten plans and their templates, two packages and the repository both come from, a
    // repository, four cloud accesses.
    assert_eq!(admitted, 10 * 2 + 3 + 1 + 4);
    s.stop().await;
}
