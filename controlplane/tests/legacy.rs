//! Legacy `v2beta1` versions against a real server: a served version (CloudAccessConfig,
//! Repository)
//! is converted to the storage version on the way in and back on the way out — created at
//! v2beta1, read at v2beta2 and v2beta1, listed, updated; a v2beta1 ClusterPlan is committed
//! as a plan and its ComputeTemplate together (every document of our copy of Wayfinder's
//! example repository posted at its own version, read back, updated and deleted at v2beta1;
//! a template of the plan's name that is not its own; a plan that fails admission); a
//! migrated version (Package) is refused, saying how to migrate; and what `wayfinder-compile --migrate`
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

/// The model's refusal of a legacy fixture, as its golden file holds it.
fn expected_refusal(stem: &str) -> String {
    let path = format!(
        "{}/../model/tests/data/legacy/expected/{stem}.error",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn a_v2beta1_identity_with_a_secret_is_refused_saying_which_v2beta2_fields_to_set() {
    let (_dir, s) = server().await;
    let at = "/resources/cloudaccess.appvia.io/v2beta1/workspaces/admin/cloudidentities";
    for (stem, fields) in [
        (
            "cloud-identity-secret",
            &[
                "spec.type: AzureADWorkloadIdentity",
                "spec.azure.clientID",
                "spec.azure.tenantID",
            ][..],
        ),
        (
            "cloud-identity-secret-aws",
            &["spec.type: AWSIAMRoleForServiceAccount", "spec.aws.roleARN"][..],
        ),
    ] {
        let doc = legacy_doc("invalid", &format!("{stem}.yaml"));
        let (status, body) = s.json(Method::POST, at, Some(&doc)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let cause = &body["details"]["causes"][0];
        assert_eq!(cause["field"], "spec.secretRef", "{body}");
        // Word for word what the model (and so the compiler) says.
        let expected = expected_refusal(stem);
        let message = cause["message"].as_str().unwrap();
        assert_eq!(format!("spec.secretRef: {message}\n"), expected, "{body}");
        for f in fields {
            assert!(message.contains(f), "{f}: {message}");
        }
        // Nothing was stored, at either version.
        let name = doc["metadata"]["name"].as_str().unwrap();
        let (status, _) = s.json(Method::GET, &format!("{at}/{name}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    s.stop().await;
}

#[tokio::test]
async fn a_v2beta1_package_is_refused_saying_how_to_migrate_it() {
    let (_dir, s) = server().await;
    let old = legacy_doc("others", "package-external-secrets.yaml");
    let (status, body) = s
        .json(
            Method::POST,
            "/resources/package.appvia.io/v2beta1/packages",
            Some(&old),
        )
        .await;
    assert_status(&body, 422, "Invalid");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Repository"), "{message}");
    assert!(message.contains("wayfinder-compile --migrate"), "{message}");
    // At the v2beta2 path, the body's apiVersion is the problem, and the message says so.
    let (status, body) = s
        .json(
            Method::POST,
            "/resources/package.appvia.io/v2beta2/packages",
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
    // A v2beta1 plan at the v2beta2 path is told where it is served.
    let plan = legacy_doc("plans", "eks-general.yaml");
    let (status, body) = s.json(Method::POST, PLANS_V2, Some(&plan)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/resources/compute.appvia.io/v2beta1/"),
        "{body}"
    );
    s.stop().await;
}

const PLANS_V1: &str = "/resources/compute.appvia.io/v2beta1/clusterplans";
const PLANS_V2: &str = "/resources/compute.appvia.io/v2beta2/clusterplans";
const TEMPLATES: &str = "/resources/compute.appvia.io/v2beta2/computetemplates";

/// Every document under `examples/{dir}`, in file order, as JSON.
fn example_docs(dir: &str) -> Vec<(String, Value)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "yaml") {
                out.push(p);
            }
        }
    }
    let root = format!("{}/../examples/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(std::path::Path::new(&root), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for d in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(d).unwrap();
            let name = f.strip_prefix(&root).unwrap().display().to_string();
            out.push((name, serde_json::to_value(v).unwrap()));
        }
    }
    out
}

/// The collection path a document is sent to: its own apiVersion's, legacy ones included.
fn own_collection(v: &Value) -> String {
    let (api, kind) = (
        v["apiVersion"].as_str().unwrap(),
        v["kind"].as_str().unwrap(),
    );
    // A workspaced kind without a namespace is the administrators' (workspace `admin`).
    let ws = fixtures::workspace_of(v).or(Some("admin".to_string()));
    if let Some(k) = wayfinder_model::kinds::by_api_version_kind(api, kind) {
        return wayfinder_controlplane::resources::collection_path_in(k, ws.as_deref());
    }
    let old = legacy::by_api_version_kind(api, kind).unwrap_or_else(|| panic!("{api} {kind}"));
    match (old.current.scope, ws) {
        (wayfinder_model::Scope::Workspace, Some(ws)) => {
            format!("/resources/{api}/workspaces/{ws}/{}", old.current.plural)
        }
        _ => format!("/resources/{api}/{}", old.current.plural),
    }
}

/// The `Warning` headers of an answer.
fn warnings(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// What a v2beta1 plan reads back as: the document, with the Kubernetes version the
/// migration pins when it names none.
fn reads_back_as(doc: &Value) -> Value {
    let mut spec = doc["spec"].clone();
    if spec["template"].get("version").is_none() {
        spec["template"]["version"] = json!(legacy::DEFAULT_KUBERNETES_VERSION);
    }
    spec
}

#[tokio::test]
async fn every_document_of_wayfinders_example_repository_is_admitted_at_its_own_version() {
    let (_dir, s) = server().await;
    // Our copy of Wayfinder's example repository as it is published: its plans at v2beta1
    // (`wayfinder-repo-v2beta1/`) and every other document (`wayfinder-repo/`, whose
    // `clusterplans/` are the same four plans rewritten at v2beta2: posted at the end).
    let (rewritten, mut docs): (Vec<_>, Vec<_>) = example_docs("wayfinder-repo")
        .into_iter()
        .partition(|(file, _)| file.starts_with("clusterplans/"));
    assert_eq!(rewritten.len(), 4);
    docs.extend(example_docs("wayfinder-repo-v2beta1"));
    let order = [
        "Workspace",
        "Stage",
        "CloudIdentity",
        "CloudAccessConfig",
        "AssignableNetwork",
        "ClusterNetworkPlan",
        "ComputeTemplate",
        "Repository",
        "Package",
        "ClusterPlan",
        "GlobalAccessRole",
        "GlobalAccessPolicy",
        "GlobalClusterPolicy",
        "AccessToken",
        "ProvisioningPolicy",
    ];
    let rank = |v: &Value| {
        order
            .iter()
            .position(|k| v["kind"] == *k)
            .unwrap_or(order.len())
    };
    docs.sort_by_key(|(_, v)| rank(v));
    assert!(
        docs.iter().all(|(_, v)| rank(v) < order.len()),
        "a kind out of the order"
    );
    let mut legacy_plans = Vec::new();
    for (file, v) in &docs {
        let resp = s.call(Method::POST, &own_collection(v), Some(v)).await;
        let produced = warnings(&resp);
        let (status, body) = common::read(resp).await;
        assert_eq!(status, StatusCode::CREATED, "{file}: {body}");
        if v["apiVersion"] == "compute.appvia.io/v2beta1" {
            // The answer is the plan as it was written, and says what was made of it.
            let name = v["metadata"]["name"].as_str().unwrap();
            assert_eq!(body["apiVersion"], "compute.appvia.io/v2beta1");
            assert_eq!(body["spec"], reads_back_as(v), "{file}: {body:#}");
            assert_eq!(produced.len(), 2, "{file}: {produced:?}");
            assert!(
                produced[0].starts_with("299 - \"ClusterPlan/")
                    && produced[0].contains(&format!(
                        "{name} version 1.0.0 (compute.appvia.io/v2beta2) created"
                    )),
                "{produced:?}"
            );
            assert!(
                produced[1].contains(&format!(
                    "ComputeTemplate/{name} (compute.appvia.io/v2beta2) created"
                )),
                "{produced:?}"
            );
            legacy_plans.push((file.clone(), v.clone()));
        }
    }
    assert_eq!(
        legacy_plans.len(),
        4,
        "Wayfinder's example repository has four v2beta1 plans"
    );
    assert!(docs.len() >= 40, "{} documents", docs.len());

    for (file, v) in &legacy_plans {
        let name = v["metadata"]["name"].as_str().unwrap();
        // Read back at v2beta1: the document's fields, carried ones included.
        let (status, back) = s
            .json(Method::GET, &format!("{PLANS_V1}/{name}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{file}: {back}");
        assert_eq!(back["spec"], reads_back_as(v), "{file}: {back:#}");
        // At v2beta2: the plan version and its template, marked as produced by it.
        let (status, plan) = s
            .json(
                Method::GET,
                &format!("{PLANS_V2}/{name}/versions/1.0.0"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{file}: {plan}");
        assert_eq!(plan["spec"]["choices"]["computeTemplates"]["default"], name);
        let (status, template) = s
            .json(Method::GET, &format!("{TEMPLATES}/{name}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{file}: {template}");
        assert_eq!(
            template["metadata"]["annotations"][legacy::PRODUCED_BY_ANNOTATION],
            format!("ClusterPlan/{name}")
        );
    }
    // The list at v2beta1 shows every version of every plan, each joined with its template.
    let (status, list) = s.json(Method::GET, PLANS_V1, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["apiVersion"], "compute.appvia.io/v2beta1");
    let standard = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["metadata"]["name"] == "eks-standard" && i["spec"]["template"]["nodePools"].is_array()
        })
        .expect("eks-standard joined with its node pools");
    assert_eq!(
        standard["spec"]["template"]["nodePools"][0]["machine"],
        "t3.large"
    );

    // Updated at v2beta1: the plan and its template change in one write.
    let (_, mut changed) = s
        .json(Method::GET, &format!("{PLANS_V1}/eks-standard"), None)
        .await;
    changed["spec"]["summary"] = json!("General purpose EKS cluster, bigger pool.");
    changed["spec"]["template"]["nodePools"][0]["autoscaling"]["maxSize"] = json!(12);
    let (status, updated) = s
        .json(
            Method::PUT,
            &format!("{PLANS_V1}/eks-standard"),
            Some(&changed),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["spec"], changed["spec"], "{updated:#}");
    let (_, template) = s
        .json(Method::GET, &format!("{TEMPLATES}/eks-standard"), None)
        .await;
    assert_eq!(
        template["spec"]["nodePools"][0]["autoscaling"]["maxSize"],
        12
    );
    assert_eq!(template["metadata"]["generation"], 2);
    // The resourceVersion it read is now stale: a second write with it is refused.
    let (status, body) = s
        .json(
            Method::PUT,
            &format!("{PLANS_V1}/eks-standard"),
            Some(&changed),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Deleted at v2beta1: the plan version and its template, nothing else.
    for (file, v) in &legacy_plans {
        let name = v["metadata"]["name"].as_str().unwrap();
        let (status, body) = s
            .json(Method::DELETE, &format!("{PLANS_V1}/{name}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{file}: {body}");
        let (status, _) = s
            .json(
                Method::GET,
                &format!("{PLANS_V2}/{name}/versions/1.0.0"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{file}");
        let (status, _) = s
            .json(Method::GET, &format!("{TEMPLATES}/{name}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{file}");
    }
    // The same plans rewritten at v2beta2 are admitted beside what is left (one of them is
    // version 1.0.0 too, which the delete freed).
    for (file, v) in &rewritten {
        let (status, body) = s.json(Method::POST, &own_collection(v), Some(v)).await;
        assert_eq!(status, StatusCode::CREATED, "{file}: {body}");
    }
    s.stop().await;
}

/// The v2beta1 example plan `name`, with the network plan it names created on `s`.
async fn example_plan(s: &TestServer, name: &str) -> Value {
    let docs = example_docs("wayfinder-repo-v2beta1");
    let plan = docs
        .iter()
        .find(|(_, v)| v["metadata"]["name"] == name)
        .map(|(_, v)| v.clone())
        .unwrap();
    let network = plan["spec"]["template"]["networking"]["networkPlan"]
        .as_str()
        .unwrap();
    if s.json(
        Method::GET,
        &format!("/resources/networking.appvia.io/v2beta1/clusternetworkplans/{network}"),
        None,
    )
    .await
    .0 == StatusCode::NOT_FOUND
    {
        let provider = match plan["spec"]["template"]["provider"].as_str().unwrap() {
            "EKS" => "aws",
            "AKS" => "azure",
            _ => "gcp",
        };
        create(s, &network_plan(network, provider)).await;
    }
    plan
}

#[tokio::test]
async fn a_template_of_the_plans_name_not_produced_from_it_is_never_overwritten() {
    let (_dir, s) = server().await;
    let plan = example_plan(&s, "eks-standard").await;
    let mut theirs = common::template("eks-standard");
    theirs["spec"]["description"] = json!("someone else's template");
    let theirs = create(&s, &theirs).await;
    let (status, body) = s.json(Method::POST, PLANS_V1, Some(&plan)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_status(&body, 409, "AlreadyExists");
    assert_eq!(body["details"]["kind"], "ComputeTemplate", "{body}");
    assert_eq!(body["details"]["name"], "eks-standard", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("ComputeTemplate/eks-standard already exists and was not produced from ClusterPlan/eks-standard"), "{message}");
    // Neither object was written: no plan version, their template as it was.
    let (status, _) = s
        .json(
            Method::GET,
            &format!("{PLANS_V2}/eks-standard/versions/1.0.0"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, now) = s
        .json(Method::GET, &format!("{TEMPLATES}/eks-standard"), None)
        .await;
    assert_eq!(now, theirs);
    s.stop().await;
}

#[tokio::test]
async fn a_plan_left_behind_template_is_taken_back_and_a_second_create_is_refused() {
    let (_dir, s) = server().await;
    let plan = example_plan(&s, "gke-playground").await;
    let (status, body) = s.json(Method::POST, PLANS_V1, Some(&plan)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The same plan again: the plan version exists.
    let (status, body) = s.json(Method::POST, PLANS_V1, Some(&plan)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["details"]["kind"], "ClusterPlan", "{body}");
    // Deleted at v2beta2, the plan leaves its template behind; created again at v2beta1, the
    // template it produced is written over.
    let (status, body) = s
        .json(
            Method::DELETE,
            &format!("{PLANS_V2}/gke-playground/versions/1.0.0"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut again = plan.clone();
    again["spec"]["template"]["nodePools"][0]["machine"] = json!("n2-standard-4");
    let (status, body) = s.json(Method::POST, PLANS_V1, Some(&again)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, template) = s
        .json(Method::GET, &format!("{TEMPLATES}/gke-playground"), None)
        .await;
    assert_eq!(template["spec"]["nodePools"][0]["machine"], "n2-standard-4");
    s.stop().await;
}

#[tokio::test]
async fn a_v2beta1_plan_that_fails_admission_writes_neither_object() {
    let (_dir, s) = server().await;
    let mut plan = example_plan(&s, "aks-hardened").await;
    // The plan is valid; its template is not (a pool's maxSize below its minSize).
    plan["spec"]["template"]["nodePools"][1]["autoscaling"]["maxSize"] = json!(0);
    let (status, body) = s.json(Method::POST, PLANS_V1, Some(&plan)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["kind"], "ComputeTemplate", "{body}");
    let causes = body["details"]["causes"].to_string();
    assert!(
        causes.contains("spec.nodePools[1].autoscaling.maxSize"),
        "{causes}"
    );
    for path in [
        format!("{PLANS_V2}/aks-hardened/versions/1.0.0"),
        format!("{TEMPLATES}/aks-hardened"),
    ] {
        let (status, _) = s.json(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // The plan itself invalid (a Kubernetes version that is not one): refused, nothing written.
    let mut plan = example_plan(&s, "aks-hardened").await;
    plan["spec"]["template"]["version"] = json!("latest");
    let (status, body) = s.json(Method::POST, PLANS_V1, Some(&plan)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["kind"], "ClusterPlan", "{body}");
    let (status, _) = s
        .json(Method::GET, &format!("{TEMPLATES}/aks-hardened"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A dry run admits both and writes nothing.
    let plan = example_plan(&s, "aks-hardened").await;
    let resp = s
        .call(Method::POST, &format!("{PLANS_V1}?dryRun=All"), Some(&plan))
        .await;
    assert_eq!(warnings(&resp).len(), 2);
    let (status, body) = common::read(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["spec"]["template"]["nodePools"][0]["logicalName"],
        "system"
    );
    for path in [
        format!("{PLANS_V2}/aks-hardened/versions/1.0.0"),
        format!("{TEMPLATES}/aks-hardened"),
    ] {
        let (status, _) = s.json(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
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
