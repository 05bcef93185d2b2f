//! Per-client rate limits (`--rate-limit`): `429` with `Retry-After` once a token's bucket is
//! empty, other tokens and health probes unaffected, the bucket refilled after the wait;
//! the flags of the binary.

mod common;
mod fixtures;

use std::time::{Duration, Instant};

use common::{COLLECTION, TestServer, assert_status, read};
use reqwest::{Method, StatusCode};
use wayfinder_controlplane::Config;
use wayfinder_controlplane::ratelimit::RateLimit;

const BIN: &str = env!("CARGO_BIN_EXE_wayfinder-server");

/// Sends `GET path` (with `token`, if any) until the server answers 429, at most `max`
/// times; returns how many were answered 200 first, and the 429.
async fn until_limited(
    s: &TestServer,
    token: Option<&str>,
    path: &str,
    max: usize,
) -> (usize, Option<reqwest::Response>) {
    for ok in 0..max {
        let mut req = s.client.get(s.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => return (ok, Some(resp)),
            other => panic!("GET {path}: {other}: {}", resp.text().await.unwrap()),
        }
    }
    (max, None)
}

#[tokio::test]
async fn each_token_has_its_bucket_and_the_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    // One request a second, bursts of five: a test that takes under a second sees the burst.
    config.rate_limit = Some(RateLimit::new(1.0, Some(5)).unwrap());
    let s = TestServer::start_with(config).await;
    fixtures::create(&s, &fixtures::workspace("pay")).await;
    let member = fixtures::token(&s, "pay", "ci", &["member"]).await;
    // The administrator's bucket: 5, less the two requests above and what refilled since.
    let started = Instant::now();
    let (ok, limited) = until_limited(&s, Some(&s.token), COLLECTION, 20).await;
    let limited = limited.expect("the administrator's token is limited");
    assert!(
        (3..=4).contains(&ok),
        "{ok} requests passed before the 429 (burst 5, 2 used, {:?} elapsed)",
        started.elapsed()
    );
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 1, "one request a second: one second to wait");
    assert!(limited.headers().contains_key("x-request-id"));
    let (status, body) = read(limited).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_status(&body, 429, "TooManyRequests");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("1 requests per second (bursts of 5)")
            && message.contains("retry after 1s"),
        "{message}"
    );
    assert!(body["details"]["requestId"].is_string(), "{body}");

    // Another token has its own bucket; probes are never limited; requests without a
    // token share one bucket of their own.
    let (status, _) = fixtures::as_(&s, &member, Method::GET, fixtures::CLUSTERS_PAY, None).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..20 {
        let resp = s.client.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = s.client.get(s.url("/readyz")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (ok, limited) = until_limited(&s, None, "/apiinfo", 20).await;
    assert!(limited.is_some() && (5..=6).contains(&ok), "{ok}");

    // After Retry-After the token works again: the limit slows a client, never locks it out.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, _) = s.json(Method::GET, COLLECTION, None).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn without_the_flag_nothing_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    let (ok, limited) = until_limited(&s, Some(&s.token), COLLECTION, 300).await;
    assert!(limited.is_none(), "limited after {ok} requests");
    s.stop().await;
}

#[tokio::test]
async fn the_binary_takes_the_flags_and_refuses_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, line) = common::spawn_binary(
        &data,
        &["--rate-limit=0.5".as_ref(), "--rate-limit-burst=2".as_ref()],
    )
    .await;
    let url = line
        .trim_end()
        .strip_prefix("wayfinder-server listening on ")
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                client
                    .get(format!("{url}/apiinfo"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(statuses, [200, 200, 429]);
    let resp = client.get(format!("{url}/apiinfo")).send().await.unwrap();
    assert_eq!(
        resp.headers()["retry-after"],
        "2",
        "half a request a second"
    );
    child.kill().await.unwrap();

    // --help documents the flags; bad values are command-line errors (exit 2).
    let help = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--rate-limit <REQS_PER_SEC>"), "{help}");
    assert!(help.contains("429 Too Many Requests"), "{help}");
    assert!(help.contains("--rate-limit-burst <N>"), "{help}");
    for (args, needle) in [
        (&["--rate-limit=0"][..], "invalid --rate-limit"),
        (&["--rate-limit=fast"][..], "--rate-limit"),
        (
            &["--rate-limit=5", "--rate-limit-burst=0"][..],
            "invalid --rate-limit-burst",
        ),
        (&["--rate-limit-burst=3"][..], "--rate-limit"),
    ] {
        let out = std::process::Command::new(BIN)
            .args(["--listen=127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
