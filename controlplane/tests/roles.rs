//! Roles and tokens against a real server: the role × kind × verb matrix, and access
//! tokens (secret shown once, only its hash stored, revocation, expiry).

mod common;
mod fixtures;

use common::{TestServer, assert_status};
use fixtures::{CLUSTERS_PAY, TOKENS, as_, cluster, create, doc, platform, token, workspace};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn server() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data")).await;
    (dir, server)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Admin,
    OwnerPay,
    MemberPay,
    MemberWeb,
    NoRoles,
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    List,
    Get,
    Create,
    Update,
    Delete,
}

/// One kind in the matrix: its collection, an existing object without dependants, and a
/// body for a new one.
struct Subject {
    name: &'static str,
    collection: String,
    existing: String,
    new: Value,
}

fn renamed(mut v: Value, name: &str) -> Value {
    v["metadata"]["name"] = json!(name);
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    v
}

#[tokio::test]
async fn role_matrix() {
    let (_dir, s) = server().await;
    platform(&s).await;
    create(&s, &workspace("tmp")).await;
    create(&s, &doc("compute_template.yaml", "aks-general-purpose")).await;
    create(&s, &doc("cluster_plan.yaml", "aks-general-purpose")).await;
    let mut cac = doc("cloud_access_config.yaml", "aws-nonprod");
    cac["metadata"]["namespace"] = json!("ws-pay");
    create(&s, &cac).await;
    create(&s, &cluster()).await;
    let owner_pay = token(&s, "pay", "owner", &["owner"]).await;
    let member_pay = token(&s, "pay", "member", &["member"]).await;
    let member_web = token(&s, "web", "member", &["member"]).await;
    let no_roles = token(&s, "admin", "viewer", &[]).await;
    let admin = s.token.clone();
    let tok = |w: Who| match w {
        Who::Admin => admin.clone(),
        Who::OwnerPay => owner_pay.clone(),
        Who::MemberPay => member_pay.clone(),
        Who::MemberWeb => member_web.clone(),
        Who::NoRoles => no_roles.clone(),
    };

    let ct = "/resources/compute.appvia.io/v2beta2/computetemplates";
    let cp = "/resources/compute.appvia.io/v2beta2/clusterplans";
    let ws = "/resources/org.appvia.io/v2beta1/workspaces";
    let cacs = "/resources/cloudaccess.appvia.io/v2beta2/workspaces/pay/cloudaccessconfigs";
    let toks = format!("{TOKENS}/pay/accesstokens");
    let mut new_plan = doc("cluster_plan.yaml", "aks-general-purpose");
    new_plan["spec"]["version"] = json!("2.0.0");
    let subjects = [
        Subject {
            name: "ComputeTemplate",
            collection: ct.into(),
            existing: format!("{ct}/aks-general-purpose"),
            new: renamed(
                doc("compute_template.yaml", "aks-general-purpose"),
                "new-ct",
            ),
        },
        Subject {
            name: "ClusterPlan",
            collection: cp.into(),
            existing: format!("{cp}/aks-general-purpose/versions/1.0.2"),
            new: new_plan,
        },
        Subject {
            name: "Workspace",
            collection: ws.into(),
            existing: format!("{ws}/tmp"),
            new: workspace("new"),
        },
        Subject {
            name: "CloudAccessConfig",
            collection: cacs.into(),
            existing: format!("{cacs}/aws-nonprod"),
            new: renamed(doc("cloud_access_config.yaml", "aws-nonprod"), "new-cac"),
        },
        Subject {
            name: "Cluster",
            collection: CLUSTERS_PAY.into(),
            existing: format!("{CLUSTERS_PAY}/payments-dev"),
            new: renamed(cluster(), "new-cluster"),
        },
        Subject {
            name: "AccessToken",
            collection: toks.clone(),
            existing: format!("{toks}/member"),
            new: json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "AccessToken",
                "metadata": {"name": "new-token"},
                "spec": {"description": "ci", "roles": ["member"], "ttl": "1h"}}),
        },
    ];
    use Who::*;
    let everyone = [Admin, OwnerPay, MemberPay, MemberWeb, NoRoles];
    // Who may do what: (kind, verb) → allowed principals.
    let allowed = |kind: &str, verb: Verb| -> Vec<Who> {
        let read = matches!(verb, Verb::List | Verb::Get);
        match kind {
            "ComputeTemplate" | "ClusterPlan" | "Workspace" if read => everyone.to_vec(),
            "ComputeTemplate" | "ClusterPlan" | "Workspace" => vec![Admin],
            "CloudAccessConfig" if read => vec![Admin, OwnerPay, MemberPay],
            "CloudAccessConfig" => vec![Admin],
            "Cluster" => vec![Admin, OwnerPay, MemberPay],
            "AccessToken" => vec![Admin, OwnerPay],
            other => panic!("{other}"),
        }
    };
    let mut rows = 0;
    for subj in &subjects {
        let (_, current) = s.json(Method::GET, &subj.existing, None).await;
        for verb in [
            Verb::List,
            Verb::Get,
            Verb::Create,
            Verb::Update,
            Verb::Delete,
        ] {
            let ok = allowed(subj.name, verb);
            for who in everyone {
                let (method, path, body) = match verb {
                    Verb::List => (Method::GET, subj.collection.clone(), None),
                    Verb::Get => (Method::GET, subj.existing.clone(), None),
                    Verb::Create => (
                        Method::POST,
                        format!("{}?dryRun=All", subj.collection),
                        Some(subj.new.clone()),
                    ),
                    Verb::Update => (
                        Method::PUT,
                        format!("{}?dryRun=All", subj.existing),
                        Some(current.clone()),
                    ),
                    Verb::Delete => (
                        Method::DELETE,
                        format!("{}?dryRun=All", subj.existing),
                        None,
                    ),
                };
                let (status, resp) = as_(&s, &tok(who), method.clone(), &path, body.as_ref()).await;
                let row = format!("{who:?} {verb:?} {}: {status} {resp}", subj.name);
                if ok.contains(&who) {
                    assert!(status.is_success(), "{row}");
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{row}");
                    assert_status(&resp, 403, "Forbidden");
                    let msg = resp["message"].as_str().unwrap();
                    assert!(msg.contains("needs"), "{row}");
                    assert!(msg.contains("\"admin\""), "{row}");
                }
                rows += 1;
            }
        }
    }
    assert_eq!(rows, 6 * 5 * 5);
    // Nothing changed: every write above was a dry run.
    let (_, list) = s.json(Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn workspace_isolation_and_effective_policy_access() {
    let (_dir, s) = server().await;
    platform(&s).await;
    create(&s, &cluster()).await;
    let member_web = token(&s, "web", "ci", &["member"]).await;
    let member_pay = token(&s, "pay", "ci", &["member"]).await;
    for (method, path, body) in [
        (Method::GET, CLUSTERS_PAY.to_string(), None),
        (Method::GET, format!("{CLUSTERS_PAY}/payments-dev"), None),
        (
            Method::POST,
            format!("{CLUSTERS_PAY}?dryRun=All"),
            Some(cluster()),
        ),
        (
            Method::GET,
            "/api/v2/workspaces/pay/provisioningpolicy/aws/nonprod/cluster".to_string(),
            None,
        ),
    ] {
        let (status, body) = as_(&s, &member_web, method, &path, body.as_ref()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("of workspace pay"),
            "{body}"
        );
    }
    // Its own workspace lists empty; pay's member sees pay's cluster.
    let (status, list) = as_(
        &s,
        &member_web,
        Method::GET,
        "/resources/compute.appvia.io/v2beta2/workspaces/web/clusters",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]));
    let (status, list) = as_(&s, &member_pay, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["metadata"]["name"], "payments-dev");
    let (status, eff) = as_(
        &s,
        &member_pay,
        Method::GET,
        "/api/v2/workspaces/pay/provisioningpolicy/aws/nonprod/cluster",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{eff}");
    assert_eq!(eff["cloud"], "aws");
    // Members do not mint tokens; owners mint only workspace roles.
    let body = json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "AccessToken",
        "metadata": {"name": "x"}, "spec": {"description": "x", "roles": ["owner"]}});
    let (status, _) = as_(
        &s,
        &member_pay,
        Method::POST,
        &format!("{TOKENS}/pay/accesstokens"),
        Some(&body),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let owner_admin = token(&s, "admin", "owner", &["owner"]).await;
    let mut escalate = body.clone();
    escalate["spec"]["roles"] = json!(["admin"]);
    let (status, resp) = as_(
        &s,
        &owner_admin,
        Method::POST,
        &format!("{TOKENS}/admin/accesstokens"),
        Some(&escalate),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{resp}");
    // `admin` is refused for a workspace token, whoever asks.
    let (status, resp) = s
        .json(
            Method::POST,
            &format!("{TOKENS}/pay/accesstokens"),
            Some(&escalate),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert_eq!(resp["details"]["causes"][0]["field"], "spec.roles[0]");
    s.stop().await;
}

#[tokio::test]
async fn tokens_show_their_secret_once_store_only_a_hash_and_can_be_revoked() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let path = format!("{TOKENS}/pay/accesstokens");
    let body = doc("access_token.yaml", "ci-deployer");
    let (status, created) = s.json(Method::POST, &path, Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["status"]["token"].as_str().unwrap().to_string();
    // A Wayfinder-shaped exchange token (an RS256 JWT).
    assert!(
        secret.starts_with("eyJ") && secret.split('.').count() == 3,
        "{secret}"
    );
    // It is not sent to the API itself: exchanged first, as Wayfinder's clients do.
    let (status, refused) = as_(&s, &secret, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("POST /api/v2/exchange"),
        "{refused}"
    );
    let api_token = fixtures::exchange(&s, &secret).await;
    assert_eq!(created["status"]["subject"], "accesstoken/pay/ci-deployer");
    assert!(created["status"]["expiresAt"].as_str().is_some());
    // Shown once: neither GET nor list has it.
    let (_, got) = s
        .json(Method::GET, &format!("{path}/ci-deployer"), None)
        .await;
    assert!(got["status"].get("token").is_none(), "{got}");
    let (_, list) = s.json(Method::GET, &path, None).await;
    assert!(!list.to_string().contains(&secret));
    // It works, with its roles.
    let (status, _) = as_(&s, &api_token, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = as_(
        &s,
        &api_token,
        Method::GET,
        "/resources/compute.appvia.io/v2beta2/workspaces/web/clusters",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Roles and lifetime cannot change.
    let mut changed = got.clone();
    changed["spec"]["roles"] = json!(["owner"]);
    let (status, _) = s
        .json(Method::PUT, &format!("{path}/ci-deployer"), Some(&changed))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A dry run mints nothing.
    let mut dry = body.clone();
    dry["metadata"]["name"] = json!("dry");
    let (status, answer) = s
        .json(Method::POST, &format!("{path}?dryRun=All"), Some(&dry))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(answer["status"].get("token").is_none());
    // Only the hash is in the store file (WAL included).
    s.stop().await;
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(s_data(&_dir)).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("wayfinder.db")
        {
            bytes.extend(std::fs::read(&p).unwrap());
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&secret), "the secret is in the store");
    assert!(text.contains(&wayfinder_controlplane::auth::hash_token(&secret)));
    // Revocation: DELETE removes the object and the hash.
    let s = TestServer::start(&s_data(&_dir)).await;
    let (status, _) = s
        .json(Method::DELETE, &format!("{path}/ci-deployer"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = as_(&s, &api_token, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = as_(&s, &secret, Method::POST, "/api/v2/exchange", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    s.stop().await;
    let store =
        wayfinder_controlplane::store::Store::open_sqlite(&s_data(&_dir).join("wayfinder.db"))
            .unwrap();
    assert!(
        store
            .token(&wayfinder_controlplane::auth::hash_token(&secret))
            .unwrap()
            .is_none()
    );
    store.close().unwrap();
}

fn s_data(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("data")
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let path = format!("{TOKENS}/pay/accesstokens");
    // expiresAt in the past is refused at creation.
    let mut past = doc("access_token.yaml", "ci-deployer");
    past["spec"] =
        json!({"description": "x", "roles": ["member"], "expiresAt": "2001-01-01T00:00:00Z"});
    let (status, body) = s.json(Method::POST, &path, Some(&past)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["causes"][0]["field"], "spec.expiresAt");
    // A token that expires in two seconds works, then stops working.
    let soon = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(2),
    )
    .to_string();
    let mut t = past.clone();
    t["spec"]["expiresAt"] = json!(soon);
    let (status, created) = s.json(Method::POST, &path, Some(&t)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["status"]["token"].as_str().unwrap().to_string();
    // Asked for 30 minutes, the API token lives no longer than its exchange token.
    let (status, exchanged) = as_(
        &s,
        &secret,
        Method::POST,
        "/api/v2/exchange?ttl=30m0s",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let expires = exchanged["expires"].as_u64().unwrap();
    let now = wayfinder_controlplane::jwt::unix(std::time::SystemTime::now());
    assert!(expires <= now + 3, "{exchanged}");
    let api_token = exchanged["token"].as_str().unwrap().to_string();
    let (status, _) = as_(&s, &api_token, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (status, body) = as_(&s, &api_token, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let (status, body) = as_(&s, &secret, Method::POST, "/api/v2/exchange", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("expired")
            && body["message"]
                .as_str()
                .unwrap()
                .contains("create a new AccessToken"),
        "{body}"
    );
    s.stop().await;
}
