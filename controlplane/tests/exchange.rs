//! Wayfinder's token exchange and its non-resource endpoints, driven the way Appvia's Go
//! client (`wfclient`) drives them: `GET /apiinfo`, then `POST {nonResourceAPI}/exchange
//! ?ttl=30m0s` with the AccessToken's token, then the API with the token that answers.

mod common;
mod fixtures;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::TestServer;
use fixtures::{CLUSTERS_PAY, as_, platform};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wayfinder_controlplane::Config;
use wayfinder_controlplane::jwt::unix;

async fn server() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    (dir, s)
}

/// The claims of a JWT, read without verifying it, as `wfclient` reads them.
fn claims(token: &str) -> Value {
    let body = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

/// `POST /api/v2/exchange` as `token`.
async fn exchange(s: &TestServer, token: Option<&str>, query: &str) -> (StatusCode, Value) {
    let mut req = s.client.post(s.url(&format!("/api/v2/exchange{query}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    common::read(req.send().await.unwrap()).await
}

/// A `401` in Wayfinder's error shape whose message contains `needle`.
fn assert_refused(status: StatusCode, body: &Value, needle: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], 401, "{body}");
    assert_eq!(body["verb"], "POST", "{body}");
    assert_eq!(body["uri"], "/api/v2/exchange", "{body}");
    assert!(body["detail"].is_string(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(needle), "{needle:?} not in {message}");
}

#[tokio::test]
async fn a_workspace_token_is_exchanged_as_wfclient_does_and_the_api_token_works() {
    let (_dir, s) = server().await;
    platform(&s).await;
    // The client learns where the non-resource API is, without authenticating.
    let info = s.client.get(s.url("/apiinfo")).send().await.unwrap();
    let (status, info) = common::read(info).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info,
        json!({"nonResourceAPI": "/api/v2", "resourceAPI": "/resources", "kubeProxyAPI": "/kubeproxy"})
    );

    let secret = fixtures::exchange_token(&s, "pay", "ci", &["member"]).await;
    let c = claims(&secret);
    assert_eq!(c["aud"], "wayfinder");
    assert_eq!(c["sub"], "accesstoken/pay/ci");
    assert_eq!(c["preferred_username"], "ci");
    assert_eq!(c["workspace"], "pay");
    assert_eq!(c["workspaceGroups"], json!({"pay": ["member"]}));
    assert_eq!(
        c["scopes"],
        json!(["wayfinder:auth:exchange", "wayfinder:system:accesstoken"])
    );
    assert!(c["iss"].as_str().unwrap().starts_with("wayfinder-server/"));
    assert!(c["jti"].as_str().is_some_and(|j| j.len() == 32));
    let exp = c["exp"].as_u64().unwrap();
    assert!(c["iat"].as_u64().unwrap() <= exp);

    let (status, answer) = exchange(&s, Some(&secret), "?ttl=30m0s").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let token = answer["token"].as_str().unwrap();
    let expires = answer["expires"].as_u64().unwrap();
    let now = unix(SystemTime::now());
    assert!(
        (now + 1795..=now + 1801).contains(&expires),
        "{expires} vs {now}"
    );
    let api = claims(token);
    assert_eq!(api["exp"].as_u64(), Some(expires));
    assert_eq!(api["scopes"], json!(["wayfinder:system:accesstoken"]));
    assert_eq!(api["sub"], "accesstoken/pay/ci");
    assert_ne!(api["jti"], c["jti"]);

    // The API token works with the AccessToken's roles, and only those.
    let (status, _) = as_(&s, token, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = as_(
        &s,
        token,
        Method::GET,
        "/resources/compute.appvia.io/v2beta2/workspaces/web/clusters",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // No ttl: 30 minutes, as Wayfinder's clients ask.
    let (status, answer) = exchange(&s, Some(&secret), "").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let e = answer["expires"].as_u64().unwrap();
    assert!((now + 1795..=now + 1801 + 5).contains(&e), "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn serverinfo_and_whoami_answer_in_wayfinders_shapes() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let member = fixtures::token(&s, "pay", "ci", &["member"]).await;
    let (status, info) = as_(&s, &member, Method::GET, "/api/v2/serverinfo", None).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert!(info["featureFlags"].is_object(), "{info}");
    assert_eq!(info["version"]["release"], env!("CARGO_PKG_VERSION"));
    assert!(info["version"]["sha"].is_string());
    assert!(info["namespace"].is_string());
    let id = info["instanceIdentifier"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "{info}");

    let (status, me) = as_(&s, &member, Method::GET, "/api/v2/whoami", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({"authMethod": "token", "username": "ci", "workspaces": ["pay"],
               "wayfinderGroups": [], "workspaceGroups": {"pay": ["member"]},
               "subjectKind": "AccessToken"})
    );
    let (status, me) = s.json(Method::GET, "/api/v2/whoami", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "admin");
    assert_eq!(me["wayfinderGroups"], json!(["admin"]));
    assert_eq!(me["subjectKind"], "User");

    // Both need a valid token.
    for path in ["/api/v2/serverinfo", "/api/v2/whoami"] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // The instance identifier is the same after a restart.
    let data = s.data_dir.clone();
    s.stop().await;
    let s = TestServer::start(&data).await;
    let (_, again) = s.json(Method::GET, "/api/v2/serverinfo", None).await;
    assert_eq!(again["instanceIdentifier"], id.as_str());
    s.stop().await;
}

#[tokio::test]
async fn bad_tokens_at_exchange_get_401_in_wayfinders_shape_saying_what_to_do() {
    let (_dir, s) = server().await;
    platform(&s).await;
    let (status, body) = exchange(&s, None, "").await;
    assert_refused(status, &body, "Authorization: Bearer <exchange token>");

    let (status, body) = exchange(&s, Some("eyJhbGciOiJSUzI1NiJ9.e30.AAAA"), "").await;
    assert_refused(status, &body, "signature does not verify");
    let (status, body) = exchange(&s, Some("eyJ-not-base64.x.y"), "").await;
    assert_refused(status, &body, "not a well-formed JSON Web Token");

    // A plain token (the administrator's) is used directly, not exchanged.
    let admin = s.token.clone();
    let (status, body) = exchange(&s, Some(&admin), "").await;
    assert_refused(status, &body, "used directly, without exchange");

    // An API token has no exchange scope.
    let secret = fixtures::exchange_token(&s, "pay", "ci", &["member"]).await;
    let api = fixtures::exchange(&s, &secret).await;
    let (status, body) = exchange(&s, Some(&api), "").await;
    assert_refused(status, &body, "lacks the scope wayfinder:auth:exchange");

    // A token signed by another control plane.
    let other_dir = tempfile::tempdir().unwrap();
    let other = TestServer::start(&other_dir.path().join("data")).await;
    platform(&other).await;
    let foreign = fixtures::exchange_token(&other, "pay", "ci", &["member"]).await;
    other.stop().await;
    let (status, body) = exchange(&s, Some(&foreign), "").await;
    assert_refused(status, &body, "not issued by this control plane");

    // A bad ttl is a 400 that shows the form.
    let (status, body) = exchange(&s, Some(&secret), "?ttl=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("30m"), "{body}");

    // Revoked: the AccessToken deleted.
    let (status, _) = s
        .json(
            Method::DELETE,
            &format!("{}/pay/accesstokens/ci", fixtures::TOKENS),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = exchange(&s, Some(&secret), "").await;
    assert_refused(status, &body, "was revoked");
    let (status, body) = as_(&s, &api, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // GET is not the method.
    let resp = s
        .client
        .get(s.url("/api/v2/exchange"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    s.stop().await;
}

#[tokio::test]
async fn an_exchanged_token_lives_no_longer_than_the_servers_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    c.max_token_ttl = Some(Duration::from_secs(3600));
    let s = TestServer::start_with(c).await;
    platform(&s).await;
    let secret = fixtures::exchange_token(&s, "pay", "ci", &["member"]).await;
    let (status, answer) = exchange(&s, Some(&secret), "?ttl=10h0m0s").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let now = unix(SystemTime::now());
    let e = answer["expires"].as_u64().unwrap();
    assert!(e <= now + 3601, "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn a_plain_token_from_an_older_server_still_works_directly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = TestServer::start(&data).await;
    platform(&s).await;
    s.stop().await;
    // What an older server recorded for an AccessToken: a `wft_` token's hash.
    let old = "wft_0123456789abcdefghijklmnopqrstuvwxyzABCD";
    {
        let store =
            wayfinder_controlplane::store::Store::open_sqlite(&data.join("wayfinder.db")).unwrap();
        store
            .put_token(
                &wayfinder_controlplane::auth::hash_token(old),
                wayfinder_controlplane::store::TokenRecord::new(
                    "admin",
                    &["admin"],
                    "2025-01-01T00:00:00Z",
                ),
            )
            .unwrap();
        store.close().unwrap();
    }
    let s = TestServer::start(&data).await;
    let (status, body) = as_(&s, old, Method::GET, CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stop().await;
}
