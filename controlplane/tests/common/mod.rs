//! Starting a real server in-process on 127.0.0.1:0 and talking HTTP to it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wayfinder_controlplane::{Config, Server, ServerError};

pub const COLLECTION: &str = "/resources/compute.appvia.io/v2beta2/computetemplates";

pub struct TestServer {
    pub url: String,
    pub token: String,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    /// The server's store (reads and test hooks; writes go through the API).
    pub store: std::sync::Arc<wayfinder_controlplane::store::Store>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Starts a server on `data_dir` and reads the administrator token it wrote there.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(Config::new(
            "127.0.0.1:0".parse().unwrap(),
            data_dir.to_path_buf(),
        ))
        .await
    }

    /// Starts a server with `config` (its data dir and listen address included).
    pub async fn start_with(config: Config) -> Self {
        let data_dir = config.data_dir.clone();
        let server = Server::bind(config).await.expect("server binds");
        let url = server.url();
        let store = server.store();
        let token = std::fs::read_to_string(server.admin_token_file()).expect("admin token");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            url,
            token,
            data_dir,
            client: reqwest::Client::new(),
            store,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits for it to close its store.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// An authenticated request as the administrator.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        self.call_as(&self.token.clone(), method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request is answered")
    }

    /// Calls and returns the status and JSON body.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let resp = self.call(method, path, body).await;
        read(resp).await
    }
}

pub async fn read(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert!(
        ct.starts_with("application/json"),
        "{status}: content-type {ct:?}, body {text}"
    );
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, value)
}

/// Asserts a Kubernetes-style Status body.
pub fn assert_status(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["apiVersion"], "v1", "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// A valid ComputeTemplate.
pub fn template(name: &str) -> Value {
    json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "ComputeTemplate",
        "metadata": {"name": name},
        "spec": {
            "description": "General purpose",
            "provider": "EKS",
            "nodePools": [{
                "logicalName": "compute",
                "machine": "m6i.large",
                "diskSize": 100,
                "size": 2,
                "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 5}
            }]
        }
    })
}

pub fn item(name: &str) -> String {
    format!("{COLLECTION}/{name}")
}

/// Starts the `wayfinder-server` binary on `127.0.0.1:0` with `--data-dir data_dir` and
/// `args` (stderr discarded, killed when dropped) and returns it with the one line it
/// prints to stdout once it listens.
pub async fn spawn_binary(
    data_dir: &Path,
    args: &[&std::ffi::OsStr],
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wayfinder-server"))
        .arg("--listen=127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("WAYFINDER_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), out.read_line(&mut line))
        .await
        .expect("the server announces itself in time")
        .unwrap();
    (child, line)
}
