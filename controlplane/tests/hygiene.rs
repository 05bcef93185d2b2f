//! Server hygiene: request ids, readiness, TLS.

mod common;

use common::{TestServer, read};
use reqwest::StatusCode;
use tokio::sync::oneshot;
use wayfinder_controlplane::tls::TlsFiles;
use wayfinder_controlplane::{Config, Server};

#[tokio::test]
async fn request_ids_are_echoed_or_generated_and_reach_error_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let resp = server
        .client
        .get(server.url("/apiinfo"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-request-id"], "trace-123");

    let resp = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));

    // An unusable id (too long) is replaced.
    let resp = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "x".repeat(200))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"].len(), 32);

    // Error Status bodies carry it in details.
    let resp = server
        .client
        .get(server.url("/nowhere"))
        .header("x-request-id", "err-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "err-1");
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["details"]["requestId"], "err-1", "{body}");

    // ... keeping the details that were there.
    let resp = server
        .client
        .post(server.url(common::COLLECTION))
        .bearer_auth(&server.token)
        .header("x-request-id", "err-2")
        .json(&serde_json::json!({"apiVersion": "compute.appvia.io/v2beta2", "kind": "ComputeTemplate", "metadata": {"name": "x"}, "spec": {"provider": "EKX", "nodePools": []}}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["requestId"], "err-2", "{body}");
    assert_eq!(body["details"]["name"], "x", "{body}");
    assert!(
        body["details"]["causes"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    server.stop().await;
}

#[tokio::test]
async fn readyz_answers_when_the_store_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let resp = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");
    let resp = server
        .client
        .post(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
fn self_signed(dir: &std::path::Path) -> (TlsFiles, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let pem = cert.cert.pem();
    std::fs::write(&files.cert, &pem).unwrap();
    std::fs::write(&files.key, cert.signing_key.serialize_pem()).unwrap();
    (files, pem)
}

#[tokio::test]
async fn tls_serves_https_to_a_client_that_trusts_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (files, pem) = self_signed(dir.path());
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    config.tls = Some(files);
    let server = Server::bind(config).await.unwrap();
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let resp = trusting.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("x-request-id"));

    // Plain HTTP on the TLS port gets no answer, and a client that does not trust the
    // certificate refuses it; neither disturbs the server.
    let plain = format!("http://{}", url.strip_prefix("https://").unwrap());
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());
    assert!(reqwest::get(format!("{url}/healthz")).await.is_err());
    let resp = trusting.get(format!("{url}/apiinfo")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_tls_files_are_refused_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    let missing = dir.path().join("missing.pem");
    config.tls = Some(TlsFiles {
        cert: missing.clone(),
        key: missing.clone(),
    });
    let err = Server::bind(config).await.unwrap_err();
    let text = wayfinder_controlplane::ErrorChain(&err).to_string();
    assert!(text.contains("missing.pem"), "{text}");
}

#[tokio::test]
async fn the_binary_announces_https_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = self_signed(dir.path());
    let (mut child, line) = common::spawn_binary(
        &dir.path().join("data"),
        &[
            "--tls-cert".as_ref(),
            files.cert.as_os_str(),
            "--tls-key".as_ref(),
            files.key.as_os_str(),
        ],
    )
    .await;
    assert!(
        line.starts_with("wayfinder-server listening on https://127.0.0.1:"),
        "{line:?}"
    );
    child.kill().await.unwrap();

    // --tls-cert without --tls-key is a command-line error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wayfinder-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&files.cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
