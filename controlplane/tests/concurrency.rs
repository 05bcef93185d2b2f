//! Optimistic concurrency under real contention.

mod common;

use common::{COLLECTION, TestServer, item, read, template};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_writer_wins_a_race_on_the_same_resource_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, created) = server
        .json(Method::POST, COLLECTION, Some(&template("raced")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let rv = created["metadata"]["resourceVersion"].clone();

    const WRITERS: usize = 24;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let mut body = created.clone();
        body["spec"]["description"] = Value::from(format!("writer {i}"));
        body["metadata"]["resourceVersion"] = rv.clone();
        let (client, url, token) = (
            server.client.clone(),
            server.url(&item("raced")),
            server.token.clone(),
        );
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let resp = client
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let modified = resp
                .headers()
                .get("x-wayfinder-objectmodified")
                .map(|v| v.to_str().unwrap().to_string());
            let (status, body) = read(resp).await;
            (i, status, modified, body)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, status, modified, body) = t.await.unwrap();
        match status {
            StatusCode::OK => winners.push((i, body)),
            StatusCode::CONFLICT => {
                assert_eq!(modified.as_deref(), Some("true"), "{body}");
                assert_eq!(body["reason"], "Conflict", "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let (winner, won) = &winners[0];
    let (_, now) = server.json(Method::GET, &item("raced"), None).await;
    assert_eq!(now["spec"]["description"], format!("writer {winner}"));
    assert_eq!(
        now["metadata"]["resourceVersion"],
        won["metadata"]["resourceVersion"]
    );
    assert_eq!(now["metadata"]["generation"], 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_name_admit_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, token) = (
            server.client.clone(),
            server.url(COLLECTION),
            server.token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&template("once"))
                .send()
                .await
                .unwrap()
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
    server.stop().await;
}
