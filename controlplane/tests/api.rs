//! The HTTP API of a real server started in-process on 127.0.0.1:0.

mod common;
mod fixtures;

use common::{COLLECTION, TestServer, assert_status, item, read, template};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn server() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data")).await;
    (dir, server)
}

#[tokio::test]
async fn apiinfo_and_healthz_need_no_token() {
    let (_dir, s) = server().await;
    let resp = s.client.get(s.url("/apiinfo")).send().await.unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"nonResourceAPI":"/api/v2","resourceAPI":"/resources","kubeProxyAPI":"/kubeproxy"})
    );
    let resp = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");
    s.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let (_dir, s) = server().await;
    for path in [COLLECTION, "/api/v2/whoami", "/resources/nope/v1/things"] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(
            resp.headers().get("www-authenticate").unwrap(),
            "Bearer",
            "{path}"
        );
        let (status, body) = read(resp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_status(&body, 401, "Unauthorized");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains("Authorization: Bearer"), "{msg}");
        assert!(msg.contains("admin-token"), "{msg}");
        // The data directory's location is not revealed.
        assert!(!msg.contains(s.data_dir.to_str().unwrap()), "{msg}");
    }
    let resp = s
        .call_as("wfa_not-the-token", Method::GET, COLLECTION, None)
        .await;
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_status(&body, 401, "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("not valid"));
    let resp = s
        .client
        .get(s.url(COLLECTION))
        .header("authorization", format!("Basic {}", s.token))
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not a bearer token")
    );
    // Writes are refused as well, and nothing is created.
    let resp = s
        .client
        .post(s.url(COLLECTION))
        .json(&template("sneaky"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = s.json(Method::GET, &item("sneaky"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn create_get_list_update_delete() {
    let (_dir, s) = server().await;
    let sent = template("eks-general");
    let (status, created) = s.json(Method::POST, COLLECTION, Some(&sent)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let meta = &created["metadata"];
    assert_eq!(meta["name"], "eks-general");
    assert_eq!(meta["generation"], 1);
    let rv1: u64 = meta["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(rv1 >= 1);
    let uid = meta["uid"].as_str().unwrap().to_string();
    assert_eq!(uid.len(), 36, "{uid}");
    let ts = meta["creationTimestamp"].as_str().unwrap().to_string();
    assert!(humantime::parse_rfc3339(&ts).is_ok(), "{ts}");
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    // The spec round-trips exactly.
    assert_eq!(created["spec"], sent["spec"]);
    assert_eq!(created["apiVersion"], sent["apiVersion"]);
    assert_eq!(created["kind"], sent["kind"]);

    let (status, got) = s.json(Method::GET, &item("eks-general"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    let (status, _) = s
        .json(Method::POST, COLLECTION, Some(&template("aks-small")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, list) = s.json(Method::GET, COLLECTION, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["apiVersion"], "compute.appvia.io/v2beta2");
    assert_eq!(list["kind"], "ComputeTemplateList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aks-small", "eks-general"]);
    let list_rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Versions increase; clients may not assume they are contiguous.
    assert!(list_rv > rv1);

    // A spec change bumps generation and resourceVersion, keeps uid and creationTimestamp.
    let mut changed = got.clone();
    changed["spec"]["description"] = json!("Bigger disks");
    changed["spec"]["nodePools"][0]["diskSize"] = json!(200);
    let (status, updated) = s
        .json(Method::PUT, &item("eks-general"), Some(&changed))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(updated["metadata"]["uid"], uid.as_str());
    assert_eq!(updated["metadata"]["creationTimestamp"], ts.as_str());
    let rv3: u64 = updated["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv3 > list_rv);
    assert_eq!(updated["spec"], changed["spec"]);

    // A metadata-only change bumps resourceVersion but not generation.
    let mut labelled = updated.clone();
    labelled["metadata"]["labels"] = json!({"tier": "general"});
    let (status, relabelled) = s
        .json(Method::PUT, &item("eks-general"), Some(&labelled))
        .await;
    assert_eq!(status, StatusCode::OK, "{relabelled}");
    assert_eq!(relabelled["metadata"]["generation"], 2);
    assert_eq!(relabelled["metadata"]["labels"]["tier"], "general");
    let rv4: u64 = relabelled["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv4 > rv3);
    let (_, got) = s.json(Method::GET, &item("eks-general"), None).await;
    assert_eq!(got, relabelled);

    // Label selectors filter lists.
    let (_, list) = s
        .json(
            Method::GET,
            &format!("{COLLECTION}?labelSelector=tier%3Dgeneral"),
            None,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["metadata"]["name"], "eks-general");
    let (_, list) = s
        .json(
            Method::GET,
            &format!("{COLLECTION}?labelSelector=tier=gpu"),
            None,
        )
        .await;
    assert_eq!(list["items"], json!([]));
    let (_, list) = s
        .json(
            Method::GET,
            &format!("{COLLECTION}?labelSelector=!tier"),
            None,
        )
        .await;
    assert_eq!(list["items"][0]["metadata"]["name"], "aks-small");
    let (status, body) = s
        .json(
            Method::GET,
            &format!("{COLLECTION}?labelSelector=tier%20in%20(a)"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_status(&body, 400, "BadRequest");

    // Delete answers with the object as it was, and then it is gone.
    let (status, deleted) = s.json(Method::DELETE, &item("eks-general"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted, relabelled);
    let (status, body) = s.json(Method::GET, &item("eks-general"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_status(&body, 404, "NotFound");
    assert_eq!(body["details"]["name"], "eks-general");
    let (status, body) = s.json(Method::DELETE, &item("eks-general"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_status(&body, 404, "NotFound");
    let (status, body) = s
        .json(Method::PUT, &item("eks-general"), Some(&relabelled))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_status(&body, 404, "NotFound");
    s.stop().await;
}

#[tokio::test]
async fn server_owned_metadata_from_the_client_is_ignored_on_create() {
    let (_dir, s) = server().await;
    let mut body = template("t");
    body["metadata"]["resourceVersion"] = json!("999");
    body["metadata"]["generation"] = json!(42);
    body["metadata"]["uid"] = json!("mine");
    body["metadata"]["creationTimestamp"] = json!("1999-01-01T00:00:00Z");
    let (status, created) = s.json(Method::POST, COLLECTION, Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    assert_ne!(rv, "999", "the version is the commit's");
    assert!(rv.parse::<i64>().unwrap() >= 1, "{rv}");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_ne!(created["metadata"]["uid"], "mine");
    assert_ne!(
        created["metadata"]["creationTimestamp"],
        "1999-01-01T00:00:00Z"
    );
    s.stop().await;
}

#[tokio::test]
async fn objects_are_stored_exactly_as_the_model_serialises_them() {
    let (_dir, s) = server().await;
    let body = json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "ComputeTemplate",
        "metadata": {"name": "eks-spot", "labels": {"a": "b"}, "annotations": {"appvia.io/published": "true"}},
        "spec": {
            "provider": "EKS",
            "nodePools": [{
                "logicalName": "pool",
                "machine": "m6i.large",
                "size": 0,
                "taints": [],
                "spot": {"enabled": true, "eks": {"additionalInstanceTypes": []}}
            }]
        }
    });
    let model = wayfinder_model::parse_json("test", body.to_string().as_bytes()).unwrap();
    let (status, created) = s.json(Method::POST, COLLECTION, Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"], model.spec_json());
    assert!(created["spec"].get("description").is_none());
    assert_eq!(
        created["spec"]["nodePools"][0]["spot"]["eks"]["additionalInstanceTypes"],
        json!([])
    );
    assert_eq!(created["metadata"]["labels"], body["metadata"]["labels"]);
    assert_eq!(
        created["metadata"]["annotations"],
        body["metadata"]["annotations"]
    );
    // Writing back what was read changes nothing but the resourceVersion.
    let (_, got) = s.json(Method::GET, &item("eks-spot"), None).await;
    let (status, again) = s.json(Method::PUT, &item("eks-spot"), Some(&got)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["spec"], got["spec"]);
    assert_eq!(again["metadata"]["generation"], 1);
    s.stop().await;
}

#[tokio::test]
async fn stale_resource_version_conflicts_with_the_objectmodified_header() {
    let (_dir, s) = server().await;
    let (_, created) = s.json(Method::POST, COLLECTION, Some(&template("t"))).await;
    let mut first = created.clone();
    first["spec"]["description"] = json!("first writer");
    let (status, _) = s.json(Method::PUT, &item("t"), Some(&first)).await;
    assert_eq!(status, StatusCode::OK);

    // A second writer still holding the original resourceVersion loses.
    let mut second = created.clone();
    second["spec"]["description"] = json!("second writer");
    let resp = s.call(Method::PUT, &item("t"), Some(&second)).await;
    assert_eq!(
        resp.headers()
            .get("x-wayfinder-objectmodified")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_status(&body, 409, "Conflict");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("modified since it was read"), "{msg}");
    assert!(msg.contains("re-read"), "{msg}");
    let (_, got) = s.json(Method::GET, &item("t"), None).await;
    assert_eq!(got["spec"]["description"], "first writer");

    // Without a resourceVersion the update is unconditional.
    second["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let (status, body) = s.json(Method::PUT, &item("t"), Some(&second)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["description"], "second writer");
    assert_eq!(body["metadata"]["generation"], 3);
    s.stop().await;
}

#[tokio::test]
async fn creating_twice_conflicts_without_the_objectmodified_header() {
    let (_dir, s) = server().await;
    let (status, _) = s.json(Method::POST, COLLECTION, Some(&template("t"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut again = template("t");
    again["spec"]["description"] = json!("other");
    let resp = s.call(Method::POST, COLLECTION, Some(&again)).await;
    assert!(resp.headers().get("x-wayfinder-objectmodified").is_none());
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_status(&body, 409, "AlreadyExists");
    assert_eq!(body["details"]["name"], "t");
    assert_eq!(body["details"]["kind"], "ComputeTemplate");
    let (_, got) = s.json(Method::GET, &item("t"), None).await;
    assert_eq!(got["spec"]["description"], "General purpose");
    s.stop().await;
}

fn rv_of(list: &Value) -> String {
    list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn dry_run_answers_like_the_real_request_and_persists_nothing() {
    let (_dir, s) = server().await;
    let dry = format!("{COLLECTION}?dryRun=All");
    let (status, answer) = s.json(Method::POST, &dry, Some(&template("t"))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["metadata"]["name"], "t");
    assert_eq!(answer["metadata"]["generation"], 1);
    let (status, _) = s.json(Method::GET, &item("t"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = s.json(Method::GET, COLLECTION, None).await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(rv_of(&list), "0");

    // Dry runs report the same errors as real requests.
    let mut bad = template("t");
    bad["spec"]["provider"] = json!("EKX");
    let (status, body) = s.json(Method::POST, &dry, Some(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_status(&body, 422, "Invalid");

    let (_, created) = s.json(Method::POST, COLLECTION, Some(&template("t"))).await;
    let (status, body) = s.json(Method::POST, &dry, Some(&template("t"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_status(&body, 409, "AlreadyExists");
    let (_, list) = s.json(Method::GET, COLLECTION, None).await;
    let rv_before = rv_of(&list);

    let mut changed = created.clone();
    changed["spec"]["description"] = json!("changed");
    let (status, answer) = s
        .json(
            Method::PUT,
            &format!("{}?dryRun=All", item("t")),
            Some(&changed),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["metadata"]["generation"], 2);
    assert_eq!(answer["spec"]["description"], "changed");
    let (_, got) = s.json(Method::GET, &item("t"), None).await;
    assert_eq!(got, created);

    let (status, answer) = s
        .json(Method::DELETE, &format!("{}?dryRun=All", item("t")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, created);
    let (status, _) = s.json(Method::GET, &item("t"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = s.json(Method::GET, COLLECTION, None).await;
    assert_eq!(rv_of(&list), rv_before);

    for bad_value in ["all", "true", ""] {
        let (status, body) = s
            .json(
                Method::POST,
                &format!("{COLLECTION}?dryRun={bad_value}"),
                Some(&template("u")),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "dryRun={bad_value}");
        assert_status(&body, 400, "BadRequest");
    }
    let (status, _) = s.json(Method::GET, &item("u"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn invalid_objects_list_every_problem_with_its_field_path() {
    let (_dir, s) = server().await;
    let bad = json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "ComputeTemplate",
        "metadata": {"name": "x"},
        "spec": {
            "provider": "EKX",
            "nodePools": [
                {"logicalName": "a", "machine": "m6i.large", "size": 1},
                {"logicalName": "b", "machine": "", "diskSize": 5,
                 "autoscaling": {"enabled": true, "minSize": 3, "maxSize": 2},
                 "taints": [{"key": "k", "effect": "Sometimes"}]}
            ]
        }
    });
    let (status, body) = s.json(Method::POST, COLLECTION, Some(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_status(&body, 422, "Invalid");
    assert_eq!(body["details"]["group"], "compute.appvia.io");
    assert_eq!(body["details"]["kind"], "ComputeTemplate");
    assert_eq!(body["details"]["name"], "x");
    let causes: Vec<(String, String)> = body["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["message"].as_str().is_some_and(|m| !m.is_empty()));
            (
                c["field"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("spec.provider", "FieldValueNotSupported"),
        ("spec.nodePools[1].machine", "FieldValueRequired"),
        ("spec.nodePools[1].diskSize", "FieldValueInvalid"),
        ("spec.nodePools[1].autoscaling.maxSize", "FieldValueInvalid"),
        (
            "spec.nodePools[1].taints[0].effect",
            "FieldValueNotSupported",
        ),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(f, r)| (f.to_string(), r.to_string()))
        .collect();
    assert_eq!(causes, expect);
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.starts_with("ComputeTemplate/x is invalid (5 problems): "),
        "{msg}"
    );
    assert!(msg.contains("spec.nodePools[1].autoscaling.maxSize: must be >= minSize (3)"));
    let (status, _) = s.json(Method::GET, &item("x"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Updates are validated too.
    let (_, created) = s.json(Method::POST, COLLECTION, Some(&template("x"))).await;
    let mut broken = created.clone();
    broken["spec"]["nodePools"] = json!([]);
    let (status, body) = s.json(Method::PUT, &item("x"), Some(&broken)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"]["causes"][0]["field"], "spec.nodePools");
    s.stop().await;
}

#[tokio::test]
async fn unreadable_bodies_are_bad_requests_naming_the_field() {
    let (_dir, s) = server().await;
    let mut unknown = template("x");
    unknown["spec"]["nodePools"][0]["machineType"] = json!("m6i.large");
    let (status, body) = s.json(Method::POST, COLLECTION, Some(&unknown)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_status(&body, 400, "BadRequest");
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "spec.nodePools[0].machineType"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `machineType`"),
        "{body}"
    );

    let mut wrong_type = template("x");
    wrong_type["spec"]["nodePools"][0]["size"] = json!("two");
    let (status, body) = s.json(Method::POST, COLLECTION, Some(&wrong_type)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "spec.nodePools[0].size"
    );
    assert_eq!(
        body["details"]["causes"][0]["reason"],
        "FieldValueTypeInvalid"
    );

    for raw in ["{", "", "[1,2]", "null", "\u{0}\u{1}"] {
        let resp = s
            .client
            .post(s.url(COLLECTION))
            .bearer_auth(&s.token)
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, body) = read(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw:?}: {body}");
        assert_status(&body, 400, "BadRequest");
    }

    let mut other_kind = template("x");
    other_kind["kind"] = json!("ClusterPlan");
    let (status, body) = s.json(Method::POST, COLLECTION, Some(&other_kind)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_status(&body, 400, "BadRequest");

    // PUT must not rename.
    s.json(Method::POST, COLLECTION, Some(&template("x"))).await;
    let (status, body) = s.json(Method::PUT, &item("x"), Some(&template("y"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_status(&body, 400, "BadRequest");
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");
    let (status, _) = s.json(Method::GET, &item("y"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let (_dir, s) = server().await;
    let mut big = template("big");
    big["spec"]["description"] = json!("x".repeat(5 * 1024 * 1024));
    let (status, body) = s.json(Method::POST, COLLECTION, Some(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_status(&body, 413, "RequestEntityTooLarge");
    s.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_with_a_status() {
    let (_dir, s) = server().await;
    for (path, needle) in [
        (
            "/resources/compute.appvia.io/v2beta2/widgets",
            "served: /resources/compute.appvia.io/v2beta2/computetemplates",
        ),
        (
            "/resources/compute.appvia.io/v1/computetemplates",
            "computetemplates",
        ),
        (
            "/resources/compute.appvia.io/v2beta2/workspaces/dev/clusters",
            "workspace dev does not exist",
        ),
        (
            "/resources/compute.appvia.io/v2beta2/workspaces/dev/clusters/c1",
            "workspace dev does not exist",
        ),
        (
            "/resources/compute.appvia.io/v2beta2/clusters",
            "workspaced kind",
        ),
        (
            "/resources/compute.appvia.io/v2beta2/workspaces/dev/computetemplates",
            "platform-level",
        ),
        (
            "/resources/compute.appvia.io/v2beta2/computetemplates/x/versions/1.0.0",
            "not a versioned kind",
        ),
        ("/resources/compute.appvia.io", "not a resource path"),
        ("/resources", "served"),
        ("/api/v2/workspaces", "is not served"),
    ] {
        let (status, body) = s.json(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_status(&body, 404, "NotFound");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    let resp = s.client.get(s.url("/nowhere")).send().await.unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_status(&body, 404, "NotFound");

    let resp = s.call(Method::PATCH, &item("x"), None).await;
    assert_eq!(resp.headers().get("allow").unwrap(), "GET, PUT, DELETE");
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_status(&body, 405, "MethodNotAllowed");
    let (status, body) = s.json(Method::PUT, COLLECTION, Some(&template("x"))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_status(&body, 405, "MethodNotAllowed");
    let resp = s.client.post(s.url("/apiinfo")).send().await.unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_status(&body, 405, "MethodNotAllowed");
    s.stop().await;
}

#[tokio::test]
async fn resource_paths_are_routed_by_their_shape_and_decoded() {
    let (_dir, s) = server().await;
    let (status, _) = s
        .json(Method::POST, COLLECTION, Some(&template("x-1")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let workspaces = wayfinder_controlplane::resources::collection_path_in(
        &wayfinder_model::kinds::WORKSPACE,
        None,
    );
    let ok = StatusCode::OK;
    let missing = StatusCode::NOT_FOUND;
    for (path, want, needle) in [
        // A trailing slash names what the path without it names.
        (format!("{COLLECTION}/"), ok, "ComputeTemplateList"),
        (format!("{}/", item("x-1")), ok, "x-1"),
        // Segments are percent-decoded.
        (item("x%2D1"), ok, "x-1"),
        (
            item("%ff"),
            StatusCode::BAD_REQUEST,
            "not valid percent-encoded UTF-8",
        ),
        // A malformed escape is taken as it is, and names nothing.
        (item("%zz"), missing, "ComputeTemplate/%zz not found"),
        // Workspaces are the plural of a path of three or four segments.
        (workspaces.clone(), ok, "WorkspaceList"),
        (
            format!("{workspaces}/admin"),
            missing,
            "Workspace/admin not found",
        ),
        // What no shape matches, or matches with an empty segment.
        (format!("{COLLECTION}//x-1"), missing, "not a resource path"),
        (format!("{}//", item("x-1")), missing, "not a resource path"),
        (
            format!("{}/versions/1/more", item("x-1")),
            missing,
            "not a resource path",
        ),
        (
            format!("{}/status", item("x-1")),
            missing,
            "has no subresource",
        ),
        (
            format!("{}/status/x", item("x-1")),
            missing,
            "has no subresource",
        ),
    ] {
        let resp = s.call(Method::GET, &path, None).await;
        let (status, body) = read(resp).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body.to_string().contains(needle), "{path}: {body}");
    }
    // The methods each shape takes.
    let plans = "/resources/compute.appvia.io/v2beta2/clusterplans";
    let legacy_plans = "/resources/compute.appvia.io/v2beta1/clusterplans";
    for (method, path, allow) in [
        (Method::PUT, COLLECTION.to_string(), "GET, POST"),
        (Method::POST, item("x-1"), "GET, PUT, DELETE"),
        (Method::PUT, format!("{plans}/p/versions"), "GET, DELETE"),
        (
            Method::PATCH,
            format!("{plans}/p/versions/1.0.0"),
            "GET, PUT, DELETE",
        ),
        (Method::PUT, format!("{legacy_plans}/p/versions"), "GET"),
        (Method::PUT, legacy_plans.to_string(), "GET, POST"),
    ] {
        let resp = s.call(method.clone(), &path, None).await;
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            resp.headers().get("allow").unwrap(),
            allow,
            "{method} {path}"
        );
    }
    // A path no shape matches is still authenticated first.
    for path in [
        "/resources/x",
        "/resources/x/",
        "/resources/a/b/c/d/e/f/g/h/i",
    ] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn tokens_without_the_admin_role_may_read_but_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Run once so the store exists, then add a token without roles.
    TestServer::start(&data).await.stop().await;
    {
        let store =
            wayfinder_controlplane::store::Store::open_sqlite(&data.join("wayfinder.db")).unwrap();
        store
            .put_token(
                &wayfinder_controlplane::auth::hash_token("viewer-token"),
                wayfinder_controlplane::store::TokenRecord::new(
                    "viewer",
                    &[],
                    "2025-01-01T00:00:00Z",
                ),
            )
            .unwrap();
        store.close().unwrap();
    }
    let s = TestServer::start(&data).await;
    s.json(Method::POST, COLLECTION, Some(&template("t"))).await;
    let resp = s
        .call_as("viewer-token", Method::GET, &item("t"), None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = s
        .call_as("viewer-token", Method::GET, COLLECTION, None)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    for (method, path, body) in [
        (Method::POST, COLLECTION.to_string(), Some(template("v"))),
        (Method::PUT, item("t"), Some(template("t"))),
        (Method::DELETE, item("t"), None),
        (Method::DELETE, format!("{}?dryRun=All", item("t")), None),
    ] {
        let resp = s
            .call_as("viewer-token", method.clone(), &path, body.as_ref())
            .await;
        let (status, body) = read(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_status(&body, 403, "Forbidden");
        assert!(body["message"].as_str().unwrap().contains("\"admin\""));
    }
    let (status, _) = s.json(Method::GET, &item("t"), None).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn concurrent_creates_of_one_name_yield_exactly_one_object() {
    let (_dir, s) = server().await;
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.call(Method::POST, COLLECTION, Some(&template("race")))
                .await
                .status()
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
    let s = std::sync::Arc::try_unwrap(s).ok().unwrap();
    let (_, list) = s.json(Method::GET, COLLECTION, None).await;
    assert_eq!(rv_of(&list), "1");
    s.stop().await;
}

/// Every fixture of every kind (but Cluster, which needs a platform: tests/admission.rs)
/// is created, read, listed, updated and deleted at its path.
#[tokio::test]
async fn every_kind_is_served_at_its_path() {
    let (_dir, s) = server().await;
    s.json(
        Method::POST,
        "/resources/org.appvia.io/v2beta1/workspaces",
        Some(&fixtures::workspace("pay")),
    )
    .await;
    let files = [
        "access_token.yaml",
        "assignable_network.yaml",
        "cloud_access_config.yaml",
        "cloud_identity.yaml",
        "cluster_network_plan.yaml",
        "cluster_plan.yaml",
        "compute_template.yaml",
        "global_access_policy.yaml",
        "global_access_role.yaml",
        "global_cluster_policy.yaml",
        "package.yaml",
        "provisioning_policy.yaml",
        "repository.yaml",
        "stage.yaml",
        "workspace.yaml",
    ];
    let mut kinds_seen = std::collections::BTreeSet::new();
    for file in files {
        for mut doc in fixtures::docs(file) {
            if doc["kind"] == "Workspace" {
                doc["metadata"]["name"] = json!("wsx");
                doc["spec"]["key"] = json!("wsx");
                doc["spec"]["resourceNamespace"] = json!("ws-wsx");
            }
            if doc["spec"].get("expiresAt").is_some() {
                doc["spec"]["expiresAt"] = json!("2099-01-31T00:00:00Z");
            }
            let name = doc["metadata"]["name"].as_str().unwrap().to_string();
            let coll = fixtures::collection(&doc, None);
            let item = fixtures::item_path(&doc, None);
            let what = format!("{file} {name}");
            let (status, created) = s.json(Method::POST, &coll, Some(&doc)).await;
            assert_eq!(status, StatusCode::CREATED, "{what}: {created}");
            if let Some(ws) = fixtures::workspace_of(&doc) {
                assert_eq!(
                    created["metadata"]["namespace"],
                    format!("ws-{ws}"),
                    "{what}"
                );
            }
            if let Some(status) = created.get("status").and_then(|s| s.as_object()) {
                assert!(status.contains_key("token") || doc["kind"] != "AccessToken");
            }
            let (status, got) = s.json(Method::GET, &item, None).await;
            assert_eq!(status, StatusCode::OK, "{what}: {got}");
            assert_eq!(got["spec"], created["spec"], "{what}");
            let (status, list) = s.json(Method::GET, &coll, None).await;
            assert_eq!(status, StatusCode::OK, "{what}");
            assert!(
                list["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["metadata"]["name"] == name.as_str()),
                "{what}: {list}"
            );
            let mut labelled = got.clone();
            labelled["metadata"]["labels"] = json!({"checked": "yes"});
            let (status, updated) = s.json(Method::PUT, &item, Some(&labelled)).await;
            assert_eq!(status, StatusCode::OK, "{what}: {updated}");
            assert_eq!(updated["metadata"]["labels"]["checked"], "yes", "{what}");
            assert_eq!(
                updated["status"], got["status"],
                "{what}: status is server-owned"
            );
            let (status, body) = s.json(Method::DELETE, &item, None).await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            let (status, _) = s.json(Method::GET, &item, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
            kinds_seen.insert(doc["kind"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(kinds_seen.len(), 15, "{kinds_seen:?}");
    s.stop().await;
}

#[tokio::test]
async fn versions_are_stored_separately_and_latest_published_wins() {
    let (_dir, s) = server().await;
    let coll = "/resources/compute.appvia.io/v2beta2/clusterplans";
    let plan = fixtures::doc("cluster_plan.yaml", "eks-general-purpose");
    let mut v2 = plan.clone();
    v2["spec"]["version"] = json!("1.10.0");
    v2["spec"]["description"] = json!("second");
    let mut draft = plan.clone();
    draft["spec"]["version"] = json!("2.0.0");
    draft["metadata"]["annotations"] =
        json!({"appvia.io/published": "false", "appvia.io/publishState": "Draft"});
    for p in [&plan, &v2, &draft] {
        let (status, body) = s.json(Method::POST, coll, Some(p)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["metadata"]["name"], "eks-general-purpose");
    }
    // The same version again conflicts.
    let (status, body) = s.json(Method::POST, coll, Some(&v2)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_status(&body, 409, "AlreadyExists");
    // Latest published: 1.10.0 (semver order, the draft skipped).
    let (status, latest) = s
        .json(Method::GET, &format!("{coll}/eks-general-purpose"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["spec"]["version"], "1.10.0");
    let (_, list) = s.json(Method::GET, coll, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let (_, versions) = s
        .json(
            Method::GET,
            &format!("{coll}/eks-general-purpose/versions"),
            None,
        )
        .await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 3);
    let one = format!("{coll}/eks-general-purpose/versions/1.3.0");
    let (status, got) = s.json(Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["spec"]["version"], "1.3.0");
    // PUT to a version must carry that version.
    let (status, body) = s.json(Method::PUT, &one, Some(&v2)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // DELETE without a version is refused; one version, then all.
    let (status, _) = s
        .json(Method::DELETE, &format!("{coll}/eks-general-purpose"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .json(
            Method::DELETE,
            &format!("{coll}/eks-general-purpose/versions/1.10.0"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, latest) = s
        .json(Method::GET, &format!("{coll}/eks-general-purpose"), None)
        .await;
    assert_eq!(latest["spec"]["version"], "1.3.0");
    let (status, deleted) = s
        .json(
            Method::DELETE,
            &format!("{coll}/eks-general-purpose/versions"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["items"].as_array().unwrap().len(), 2);
    let (status, body) = s
        .json(Method::GET, &format!("{coll}/eks-general-purpose"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, list) = s.json(Method::GET, coll, None).await;
    assert_eq!(list["items"], json!([]));
    s.stop().await;
}

/// Lists page the Kubernetes way: `limit` and `continue`, every page at the first page's
/// resource version whatever is written between pages; a malformed token is a 400 naming
/// `continue`, an expired one a 410 `Expired` saying to list again from the start.
#[tokio::test]
async fn lists_page_consistently_while_writes_happen_between_pages() {
    let (_dir, s) = server().await;
    for i in 0..250 {
        let (status, body) = s
            .json(
                Method::POST,
                COLLECTION,
                Some(&template(&format!("t{i:03}"))),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, first) = s
        .json(Method::GET, &format!("{COLLECTION}?limit=100"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(names(&first).len(), 100);
    assert_eq!(first["metadata"]["remainingItemCount"], 150);
    let at = first["metadata"]["resourceVersion"].clone();
    let mut seen = names(&first);
    let mut token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let first_token = token.clone();
    let mut writes = 0;
    loop {
        // Writes between pages: a create that sorts into a later page, a delete of an
        // object not yet listed, a change to one not yet listed.
        writes += 1;
        let (status, _) = s
            .json(
                Method::POST,
                COLLECTION,
                Some(&template(&format!("t2{writes}x"))),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let victim = format!("t{:03}", 150 + writes);
        let (status, _) = s.json(Method::DELETE, &item(&victim), None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, page) = s
            .json(
                Method::GET,
                &format!("{COLLECTION}?limit=100&continue={token}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            page["metadata"]["resourceVersion"], at,
            "the first page's version"
        );
        seen.extend(names(&page));
        match page["metadata"]["continue"].as_str() {
            Some(t) => token = t.to_string(),
            None => {
                assert!(page["metadata"].get("remainingItemCount").is_none());
                break;
            }
        }
    }
    assert_eq!(writes, 2, "three pages");
    let expected: Vec<String> = (0..250).map(|i| format!("t{i:03}")).collect();
    assert_eq!(seen, expected, "the pages show the first page's state");
    // A new list from the start sees the writes.
    let (_, now) = s.json(Method::GET, COLLECTION, None).await;
    assert_eq!(names(&now).len(), 250);
    assert!(now["metadata"].get("continue").is_none());

    let (status, body) = s
        .json(
            Method::GET,
            &format!("{COLLECTION}?limit=10&continue=bm90IGpzb24"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("continue"),
        "{body}"
    );
    let (status, body) = s
        .json(Method::GET, &format!("{COLLECTION}?limit=ten"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    // Once the store no longer keeps the first page's version, its token has expired.
    let now = s.store.resource_version().unwrap();
    s.store.forget_changes_before(now + 1).unwrap();
    let (status, body) = s
        .json(
            Method::GET,
            &format!("{COLLECTION}?limit=100&continue={first_token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_status(&body, 410, "Expired");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("list again from the start"),
        "{body}"
    );
    s.stop().await;
}
