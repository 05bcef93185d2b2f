//! Short-lived cluster credentials: TTL caps, who may take them, the audit log, and that the
//! token is never logged.

mod world;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wayfinder_controlplane::auth::hash_token;
use wayfinder_controlplane::credentials::AUDIT_FILE;
use world::*;

/// Everything the server logs in this test binary, at every level.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PATH: &str = "/resources/compute.appvia.io/v2beta2/workspaces";

async fn issue(
    server: &Running,
    token: &str,
    ws: &str,
    name: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(format!(
            "{}{PATH}/{ws}/clusters/{name}/credentials",
            server.url
        ))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn expires_in(v: &Value) -> Duration {
    let at = humantime::parse_rfc3339(v["expiresAt"].as_str().unwrap()).unwrap();
    at.duration_since(SystemTime::now()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_capped_scoped_audited_and_never_logged() {
    let logs = captured_logs();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    populate(&store);
    set_pool(&store, "10.0.0.0/20");
    put(&store, Some("pay"), cluster("dev", "pay", &[]));
    put(
        &store,
        Some("pay"),
        cluster("slow", "pay", &[("wayfinder.dev/simulate", "fail")]),
    );
    put(&store, Some("web"), cluster("site", "web", &[]));
    let now = "2025-01-01T00:00:00Z";
    store
        .put_token(
            &hash_token("jane-token"),
            wayfinder_controlplane::store::TokenRecord::new(
                "jane@example.com",
                &["owner:pay"],
                now,
            ),
        )
        .unwrap();
    store
        .put_token(
            &hash_token("mia-token"),
            wayfinder_controlplane::store::TokenRecord::new(
                "mia@example.com",
                &["member:pay"],
                now,
            ),
        )
        .unwrap();
    store
        .put_token(
            &hash_token("eve-token"),
            wayfinder_controlplane::store::TokenRecord::new("eve@example.com", &[], now),
        )
        .unwrap();
    // The server owns the store file: hand it over, then read through its store.
    store.close().unwrap();
    let server = Running::start(dir.path(), Duration::from_millis(50)).await;
    let store = server.store.clone();
    wait_phase(&store, "pay", "dev", "Success").await;
    wait_phase(&store, "pay", "slow", "Failure").await;
    let admin = server.token.clone();

    // An administrator asks for 100h: capped by owner-nonprod's 8h.
    let (code, v) = issue(&server, &admin, "pay", "dev", Some(json!({"ttl": "100h"}))).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["ttl"], "8h0m0s");
    let left = expires_in(&v);
    assert!(
        left > Duration::from_secs(8 * 3600 - 60) && left <= Duration::from_secs(8 * 3600),
        "{left:?}"
    );
    let admin_token = v["token"].as_str().unwrap().to_string();
    assert!(admin_token.starts_with("wfc_"));
    let kubeconfig = v["kubeconfig"].as_str().unwrap();
    assert!(
        kubeconfig.contains("server: \"https://dev.pay.sim.wayfinder.local:6443\""),
        "{kubeconfig}"
    );
    assert!(
        kubeconfig.contains(&format!("token: \"{admin_token}\"")),
        "{kubeconfig}"
    );

    // No body: the cap.
    let (code, v) = issue(&server, &admin, "pay", "dev", None).await;
    assert_eq!((code, v["ttl"].as_str()), (StatusCode::OK, Some("8h0m0s")));
    let second = v["token"].as_str().unwrap().to_string();
    assert_ne!(second, admin_token);

    // The workspace owner asks for 30m and gets it.
    let (code, v) = issue(
        &server,
        "jane-token",
        "pay",
        "dev",
        Some(json!({"ttl": "30m"})),
    )
    .await;
    assert_eq!(
        (code, v["ttl"].as_str()),
        (StatusCode::OK, Some("30m0s")),
        "{v}"
    );
    let jane = v["token"].as_str().unwrap().to_string();

    // A member: owner-nonprod grants owners only, so the default cap of 1h applies.
    let (code, v) = issue(
        &server,
        "mia-token",
        "pay",
        "dev",
        Some(json!({"ttl": "2h"})),
    )
    .await;
    assert_eq!(
        (code, v["ttl"].as_str()),
        (StatusCode::OK, Some("1h0m0s")),
        "{v}"
    );
    let mia = v["token"].as_str().unwrap().to_string();

    // Not theirs: 403, for a stranger and for the owner of another workspace.
    let (code, v) = issue(&server, "eve-token", "pay", "dev", None).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("eve@example.com"),
        "{v}"
    );
    let (code, _) = issue(&server, "jane-token", "web", "site", None).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // Even a cluster that does not exist answers 403 to someone outside the workspace.
    let (code, _) = issue(&server, "jane-token", "web", "nope", None).await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    // Only clusters in Success; bad TTLs are refused.
    let (code, v) = issue(&server, &admin, "pay", "slow", None).await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().contains("is Failure"), "{v}");
    let (code, _) = issue(&server, &admin, "pay", "nope", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, v) = issue(&server, &admin, "pay", "dev", Some(json!({"ttl": "soon"}))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    let (code, _) = issue(
        &server,
        &admin,
        "pay",
        "dev",
        Some(json!({"ttl": "1h", "x": 1})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = issue(&server, "wrong", "pay", "dev", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    server.stop().await;

    // One audit line per token issued, with who, which cluster, ttl and when; hashes only.
    let audit = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{audit}");
    assert_eq!(lines[0]["subject"], "admin");
    assert_eq!(lines[0]["workspace"], "pay");
    assert_eq!(lines[0]["cluster"], "dev");
    assert_eq!(lines[0]["ttl"], "8h0m0s");
    assert_eq!(lines[0]["requestedTtl"], "100h0m0s");
    assert_eq!(lines[0]["capFrom"], "GlobalAccessPolicy/owner-nonprod");
    assert_eq!(lines[0]["tokenSha256"], hash_token(&admin_token));
    assert!(lines[0]["time"].is_string() && lines[0]["expiresAt"].is_string());
    assert_eq!(lines[2]["subject"], "jane@example.com");
    assert_eq!(lines[2]["ttlSeconds"], 1800);
    assert_eq!(lines[3]["capFrom"], "default");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(AUDIT_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("issued cluster credentials"),
        "the issue is logged"
    );
    for token in [&admin_token, &second, &jane, &mia] {
        assert!(!audit.contains(token.as_str()), "token in the audit log");
        assert!(!logs.contains(token.as_str()), "token in the logs");
        // Not even part of it.
        assert!(!logs.contains(&token[4..20]), "token in the logs");
    }
}
