//! The attacks of the hardening issue, replayed on loopback against a real server: each gets
//! a prompt, clear refusal or a closed connection, and a well-behaved client keeps being
//! served. Every loop is bounded in count and time.

mod common;
mod fixtures;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{TestServer, assert_status, read};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wayfinder_controlplane::Config;
use wayfinder_controlplane::conn::ConnectionLimits;
use wayfinder_controlplane::quota::Quotas;
use wayfinder_controlplane::ratelimit::RateLimit;

const TEMPLATES: &str = "/resources/compute.appvia.io/v2beta2/computetemplates";

fn config(dir: &std::path::Path) -> Config {
    Config::new("127.0.0.1:0".parse().unwrap(), dir.join("data"))
}

fn pool(i: usize) -> Value {
    json!({"logicalName": format!("p{i}"), "machine": "m6i.large", "diskSize": 100, "size": 1})
}

fn member_cluster(pools: Vec<Value>) -> Value {
    let mut c = fixtures::cluster();
    c["spec"]["nodePools"] = Value::Array(pools);
    c
}

async fn member_dry_run(s: &TestServer, token: &str, body: &Value) -> (StatusCode, Value) {
    fixtures::as_(
        s,
        token,
        Method::POST,
        &format!("{}?dryRun=All", fixtures::CLUSTERS_PAY),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_member_cannot_make_the_server_validate_an_unbounded_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(config(dir.path())).await;
    fixtures::platform(&s).await;
    let member = fixtures::token(&s, "pay", "ci", &["member"]).await;

    // 40,000 pools (about 3 MiB): over the object size limit, refused before parsing.
    let started = Instant::now();
    let (status, body) = member_dry_run(
        &s,
        &member,
        &member_cluster((0..40_000).map(pool).collect()),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("at most 1048576 bytes (1 MiB)"),
        "{body}"
    );
    let huge = started.elapsed();

    // 101 pools: within the size limit, refused by the model's list limit, by name.
    let (status, body) =
        member_dry_run(&s, &member, &member_cluster((0..101).map(pool).collect())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["field"], "spec.nodePools",
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("101 node pools: at most 100 are allowed"),
        "{body}"
    );
    // Refusing the huge body took no longer than a typical request does on a busy machine.
    assert!(huge < Duration::from_secs(20), "{huge:?}");
    // The well-behaved client is still served.
    let (status, _) = fixtures::as_(&s, &member, Method::GET, fixtures::CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn labels_and_annotations_have_kubernetes_limits() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(config(dir.path())).await;
    let mut t = common::template("big");
    t["metadata"]["annotations"] = json!({"note": "x".repeat(300 * 1024)});
    let (status, body) = s.json(Method::POST, TEMPLATES, Some(&t)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "metadata.annotations"
    );
    assert!(
        body["message"].as_str().unwrap().contains("256 KiB"),
        "{body}"
    );

    let mut t = common::template("nul");
    t["metadata"]["labels"] = json!({"a\u{0}b": "x"});
    let (status, body) = s.json(Method::POST, TEMPLATES, Some(&t)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("is not a label key"),
        "{body}"
    );

    let mut t = common::template("many");
    let labels: serde_json::Map<String, Value> =
        (0..50_000).map(|i| (format!("k{i}"), json!("v"))).collect();
    t["metadata"]["labels"] = Value::Object(labels);
    let (status, body) = s.json(Method::POST, TEMPLATES, Some(&t)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("at most 64 are allowed"),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_refusal_with_very_many_causes_arrives_whole_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(config(dir.path())).await;
    let mut t = common::template("bad");
    // 100 pools, each with several problems: hundreds of causes.
    t["spec"]["nodePools"] = Value::Array(
        (0..100)
            .map(|_| json!({"logicalName": "same", "machine": "", "diskSize": 0, "size": -1}))
            .collect(),
    );
    let resp = s.call(Method::POST, TEMPLATES, Some(&t)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, body) = read(resp).await;
    assert_status(&body, 422, "Invalid");
    let causes = body["details"]["causes"].as_array().unwrap();
    assert_eq!(causes.len(), 101, "{body}");
    assert_eq!(causes[100]["reason"], "TooManyProblems");
    assert!(body["message"].as_str().unwrap().contains("more problems"));
    assert!(body["details"]["requestId"].is_string());
    s.stop().await;
}

/// Opens a TCP connection from `from` (another loopback address) to `to`.
async fn connect_from(from: &str, to: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or other answer before the close: keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn half_open_and_idle_connections_are_closed_while_a_normal_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let mut limits = ConnectionLimits::default();
    limits.header_read_timeout = Duration::from_secs(1);
    limits.idle_timeout = Duration::from_secs(2);
    limits.max_connections_per_ip = 64;
    c.connections = limits;
    let s = TestServer::start_with(c).await;
    let addr: std::net::SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();

    // 100 half-sent requests and 20 silent connections from 127.0.0.2.
    let mut half = Vec::new();
    for _ in 0..100 {
        let mut c = connect_from("127.0.0.2", addr).await;
        let _ = c
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        half.push(c);
    }
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(connect_from("127.0.0.2", addr).await);
    }
    // Meanwhile the normal client (127.0.0.1) is answered, again and again.
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let (status, _) = s.json(Method::GET, TEMPLATES, None).await;
        assert_eq!(status, StatusCode::OK);
        served += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served >= 5, "{served}");
    // Every one of them is closed within the timeouts (plus scheduling slack).
    for c in half.iter_mut().chain(silent.iter_mut()) {
        assert!(closed_within(c, Duration::from_secs(5)).await);
    }
    // A kept-alive connection that sends nothing after its request is closed too.
    let mut kept = connect_from("127.0.0.3", addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    assert!(closed_within(&mut kept, Duration::from_secs(5)).await);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    s.stop().await;
}

#[tokio::test]
async fn every_spelling_of_a_throttled_token_shares_one_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.rate_limit = Some(RateLimit::new(0.5, Some(5)).unwrap());
    let s = TestServer::start_with(c).await;
    let spellings = ["Bearer", "bearer", "BEARER", "  Bearer  "];
    let mut passed = 0;
    for i in 0..60 {
        let header = format!("{} {}", spellings[i % spellings.len()], s.token.trim());
        let resp = s
            .client
            .get(s.url(TEMPLATES))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        match resp.status() {
            StatusCode::OK => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    // The burst of five, and at most one more that refilled during the test.
    assert!(passed <= 6, "{passed} of 60 passed");
    s.stop().await;
}

#[tokio::test]
async fn another_workspaces_cloud_access_gets_the_same_answer_whether_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(config(dir.path())).await;
    fixtures::platform(&s).await;
    let mut secret = fixtures::doc("cloud_access_config.yaml", "gcp-dns");
    secret["metadata"]["namespace"] = json!("ws-web");
    fixtures::create(&s, &secret).await;
    let member = fixtures::token(&s, "pay", "ci", &["member"]).await;
    let answer = |name: &str| {
        let mut c = fixtures::cluster();
        c["spec"]["cloudAccessRef"] = json!({"workspace": "web", "name": name});
        c
    };
    let (status, exists) = member_dry_run(&s, &member, &answer("gcp-dns")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{exists}");
    let (_, other) = member_dry_run(&s, &member, &answer("no-such")).await;
    let scrub = |mut v: Value, name: &str| {
        v["details"].as_object_mut().unwrap().remove("requestId");
        serde_json::from_str::<Value>(&v.to_string().replace(name, "NAME")).unwrap()
    };
    assert_eq!(scrub(exists.clone(), "gcp-dns"), scrub(other, "no-such"));
    let text = exists.to_string();
    assert!(
        !text.contains("DNSZoneManagement") && !text.contains("gcp\""),
        "{text}"
    );
    s.stop().await;
}

async fn create_token(
    s: &TestServer,
    as_token: &str,
    name: &str,
    ttl: Option<&str>,
) -> (StatusCode, Value) {
    let mut spec = json!({"description": "t", "roles": ["owner"]});
    if let Some(ttl) = ttl {
        spec["ttl"] = json!(ttl);
    }
    let body = json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "AccessToken",
        "metadata": {"name": name}, "spec": spec});
    fixtures::as_(
        s,
        as_token,
        Method::POST,
        &format!("{}/pay/accesstokens", fixtures::TOKENS),
        Some(&body),
    )
    .await
}

#[tokio::test]
async fn a_minted_token_is_bounded_by_its_maker_and_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_token_ttl = Some(Duration::from_secs(2 * 3600));
    let s = TestServer::start_with(c).await;
    s.json(
        Method::POST,
        "/resources/org.appvia.io/v2beta1/workspaces",
        Some(&fixtures::workspace("pay")),
    )
    .await;
    // The server-wide maximum binds the administrator too.
    let (status, body) = create_token(&s, &s.token.clone(), "forever", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--max-token-ttl"),
        "{body}"
    );
    let (status, parent) = create_token(&s, &s.token.clone(), "parent", Some("1h")).await;
    assert_eq!(status, StatusCode::CREATED, "{parent}");
    assert_eq!(parent["status"]["createdBy"], "admin");
    let parent_secret = parent["status"]["token"].as_str().unwrap().to_string();
    let parent_token = fixtures::exchange(&s, &parent_secret).await;

    // A child cannot outlive its maker.
    let (status, body) = create_token(&s, &parent_token, "longer", Some("90m")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot outlive the token that mints it"),
        "{body}"
    );
    let (status, child) = create_token(&s, &parent_token, "child", Some("30m")).await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    assert_eq!(child["status"]["createdBy"], "accesstoken/pay/parent");
    let child_secret = child["status"]["token"].as_str().unwrap().to_string();
    let child_token = fixtures::exchange(&s, &child_secret).await;
    let (status, grandchild) = create_token(&s, &child_token, "grandchild", Some("10m")).await;
    assert_eq!(status, StatusCode::CREATED, "{grandchild}");
    let grandchild_secret = grandchild["status"]["token"].as_str().unwrap().to_string();
    let grandchild_token = fixtures::exchange(&s, &grandchild_secret).await;
    let tokens = format!("{}/pay/accesstokens", fixtures::TOKENS);
    for t in [&child_token, &grandchild_token] {
        let (status, _) = fixtures::as_(&s, t, Method::GET, &tokens, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Revoking the parent revokes what it minted, and what that minted.
    let (status, _) = s
        .json(Method::DELETE, &format!("{tokens}/parent"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for t in [&parent_token, &child_token, &grandchild_token] {
        let (status, body) = fixtures::as_(&s, t, Method::GET, &tokens, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // Their exchange tokens cannot be exchanged again either.
    for t in [&parent_secret, &child_secret, &grandchild_secret] {
        let (status, body) =
            fixtures::as_(&s, t, Method::POST, "/api/v2/exchange?ttl=30m0s", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("was revoked"),
            "{body}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn quotas_hold_under_concurrent_creates() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.quotas = Quotas {
        max_objects: Some(5),
        max_bytes: None,
    };
    let s = std::sync::Arc::new(TestServer::start_with(c).await);
    s.json(
        Method::POST,
        "/resources/org.appvia.io/v2beta1/workspaces",
        Some(&fixtures::workspace("pay")),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            create_token(&s, &s.token.clone(), &format!("t{i}"), Some("1h")).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::FORBIDDEN => {
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains("--workspace-max-objects"),
                    "{body}"
                )
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 5);
    let s = std::sync::Arc::into_inner(s).unwrap();
    s.stop().await;
}

#[tokio::test]
async fn the_data_directory_and_store_are_made_private_whatever_existed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = TestServer::start(&data).await;
    s.stop().await;
    std::fs::set_permissions(
        data.join("wayfinder.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let s = TestServer::start(&data).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    // And Allow headers tell the truth.
    let resp = s
        .client
        .get(s.url("/resources/compute.appvia.io/v2beta2/workspaces/pay/clusters/x/credentials"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST");
    s.stop().await;
}

#[tokio::test]
async fn the_binary_takes_the_connection_flags_and_closes_a_silent_client() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<std::ffi::OsString> = [
        "--header-read-timeout=1s",
        "--idle-timeout=2s",
        "--tls-handshake-timeout=1s",
        "--max-connections=64",
        "--max-connections-per-ip=8",
        "--workspace-max-objects=100",
        "--workspace-max-bytes=64MiB",
        "--max-token-ttl=720h",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let (mut child, line) = common::spawn_binary(&dir.path().join("data"), &args).await;
    let addr: std::net::SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut silent = connect_from("127.0.0.1", addr).await;
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    // The ninth connection from one address is closed at once; others still connect.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from("127.0.0.4", addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ninth = connect_from("127.0.0.4", addr).await;
    assert!(closed_within(&mut ninth, Duration::from_millis(900)).await);
    let resp = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn tls_clients_that_stall_in_or_after_the_handshake_are_closed() {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let files = wayfinder_controlplane::tls::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, cert.cert.pem()).unwrap();
    std::fs::write(&files.key, cert.signing_key.serialize_pem()).unwrap();
    let mut c = config(dir.path());
    c.tls = Some(files);
    let mut limits = ConnectionLimits::default();
    limits.tls_handshake_timeout = Duration::from_secs(1);
    limits.header_read_timeout = Duration::from_secs(1);
    c.connections = limits;
    let s = TestServer::start_with(c).await;
    let addr: std::net::SocketAddr = s.url.trim_start_matches("https://").parse().unwrap();

    // Half a ClientHello, then silence: closed by the handshake timeout.
    let mut stalled = connect_from("127.0.0.5", addr).await;
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    assert!(closed_within(&mut stalled, Duration::from_secs(4)).await);

    // A finished handshake and no request: closed by the header-read timeout.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert.cert.pem().as_bytes()).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = connect_from("127.0.0.5", addr).await;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(4), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle TLS connection stayed open");
    s.stop().await;
}
