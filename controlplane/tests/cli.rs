//! The `wayfinder-server` binary, and what survives a restart.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{COLLECTION, TestServer, item, read, template};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_wayfinder-server");

fn server_command(listen: &str, data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("WAYFINDER_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Starts the binary and parses its one stdout line.
async fn spawn(data_dir: &Path) -> (Child, String, BufReader<tokio::process::ChildStdout>) {
    let mut child = server_command("127.0.0.1:0", data_dir).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
        .await
        .expect("the server announces itself in time")
        .unwrap();
    let url = line
        .strip_prefix("wayfinder-server listening on ")
        .and_then(|l| l.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected stdout line {line:?}"))
        .to_string();
    let addr: std::net::SocketAddr = url
        .strip_prefix("http://")
        .expect("http URL")
        .parse()
        .expect("a socket address");
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    (child, url, stdout)
}

async fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server stops in time")
        .unwrap()
}

#[tokio::test]
async fn the_binary_announces_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url, mut stdout) = spawn(&data).await;
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    assert!(token.starts_with("wfa_") && token.len() == 44, "{token:?}");

    let client = reqwest::Client::new();
    let resp = client.get(format!("{url}/apiinfo")).send().await.unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resourceAPI"], "/resources");
    let resp = client
        .post(format!("{url}{COLLECTION}"))
        .bearer_auth(&token)
        .json(&template("from-binary"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    let status = terminate(&mut child).await;
    assert!(status.success(), "{status:?}");
    // Nothing but the one line went to stdout.
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains(&format!(
            "created administrator token in {}",
            data.join("admin-token").display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(&token), "the token must never be logged");
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    // The object survived; the same token still works after a restart.
    let (mut child, url, _stdout) = spawn(&data).await;
    let resp = client
        .get(format!("{url}{}", item("from-binary")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(terminate(&mut child).await.success());
}

#[tokio::test]
async fn the_binary_logs_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = server_command("127.0.0.1:0", &dir.path().join("d"))
        .args(["--log-format", "json"])
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("wayfinder-server listening on http://127.0.0.1:"));
    assert!(terminate(&mut child).await.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("created administrator token in"))),
        "{stderr}"
    );
}

async fn run_to_exit(mut cmd: Command) -> (std::process::ExitStatus, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("exits in time")
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bad_command_lines_exit_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();

    let (status, stdout, stderr) =
        run_to_exit(server_command("not-an-address", &dir.path().join("a"))).await;
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:8080"), "{stderr}");

    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0"]);
    let (status, _, stderr) = run_to_exit(cmd).await;
    assert!(!status.success());
    assert!(stderr.contains("--data-dir"), "{stderr}");

    // A data directory that cannot be created (its parent is a file).
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (status, stdout, stderr) =
        run_to_exit(server_command("127.0.0.1:0", &file.join("data"))).await;
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("cannot create the data directory"),
        "{stderr}"
    );

    // A port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, stdout, stderr) = run_to_exit(server_command(&addr, &dir.path().join("b"))).await;
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("in use"), "{stderr}");

    // A price catalog that is missing or has a bad entry.
    let mut cmd = server_command("127.0.0.1:0", &dir.path().join("d"));
    cmd.args(["--price-catalog", "/nonexistent/prices.json"]);
    let (status, _, stderr) = run_to_exit(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains("cannot read the price catalog /nonexistent/prices.json"),
        "{stderr}"
    );
    let bad = dir.path().join("prices.json");
    let text = wayfinder_model::cost::BUILTIN_CATALOG_JSON
        .replace("\"us-east-2\": 1.0", "\"us-east-2\": 0");
    std::fs::write(&bad, text).unwrap();
    let mut cmd = server_command("127.0.0.1:0", &dir.path().join("e"));
    cmd.arg("--price-catalog").arg(&bad);
    let (status, stdout, stderr) = run_to_exit(cmd).await;
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("is not valid: price catalog: providers.EKS.regionFactors.us-east-2: must be a positive multiplier (got 0)"),
        "{stderr}"
    );

    // --cloud-driver: a cloud and a driver it has.
    for (arg, said) in [
        ("aws", "expected CLOUD=DRIVER, e.g. aws=api"),
        (
            "mars=api",
            "\"mars\" is not a cloud: expected one of aws, azure, gcp",
        ),
        (
            "azure=api",
            "azure has no API driver: Azure and GCP clusters are simulated",
        ),
        (
            "aws=real",
            "\"real\" is not a driver: expected simulated or api (aws only)",
        ),
    ] {
        let mut cmd = server_command("127.0.0.1:0", &dir.path().join("f"));
        cmd.args(["--cloud-driver", arg]);
        let (status, stdout, stderr) = run_to_exit(cmd).await;
        assert!(!status.success(), "{arg}");
        assert_eq!(stdout, "");
        assert!(stderr.contains(said), "{arg}: {stderr}");
    }
    if !wayfinder_controlplane::HAS_AWS_DRIVER {
        let mut cmd = server_command("127.0.0.1:0", &dir.path().join("g"));
        cmd.args(["--cloud-driver", "aws=api"]);
        let (status, _, stderr) = run_to_exit(cmd).await;
        assert!(!status.success());
        assert!(
            stderr.contains("built without the AWS driver: build it with `cargo build -p wayfinder-controlplane --features aws`"),
            "{stderr}"
        );
    }

    let mut cmd = server_command("127.0.0.1:0", &dir.path().join("c"));
    cmd.args(["--log-level", "no=such=level"]);
    let (status, _, stderr) = run_to_exit(cmd).await;
    assert!(!status.success());
    assert!(stderr.contains("invalid log filter"), "{stderr}");
}

#[tokio::test]
async fn objects_and_the_token_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = TestServer::start(&data).await;
    let (status, created) = s
        .json(Method::POST, COLLECTION, Some(&template("kept")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = s.token.clone();
    s.stop().await;

    let token_file = data.join("admin-token");
    let meta = std::fs::metadata(&token_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let modified = meta.modified().unwrap();

    let s = TestServer::start(&data).await;
    assert_eq!(s.token, token, "the token file is not rewritten");
    let meta = std::fs::metadata(&token_file).unwrap();
    assert_eq!(meta.modified().unwrap(), modified);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (status, got) = s.json(Method::GET, &item("kept"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);
    // The resource-version counter carries on from where it was.
    let (_, next) = s
        .json(Method::POST, COLLECTION, Some(&template("next")))
        .await;
    let rv = |v: &serde_json::Value| -> u64 {
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(rv(&next) > rv(&created));
    s.stop().await;
}

#[tokio::test]
async fn a_lost_token_file_is_not_silently_replaced_and_can_be_reset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = TestServer::start(&data).await;
    let old = s.token.clone();
    s.stop().await;
    std::fs::remove_file(data.join("admin-token")).unwrap();

    let (mut child, _url, _stdout) = spawn(&data).await;
    assert!(!data.join("admin-token").exists());
    assert!(terminate(&mut child).await.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("--reset-admin-token"), "{stderr}");

    let mut cmd = server_command("127.0.0.1:0", &data);
    cmd.arg("--reset-admin-token");
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    let url = line
        .trim_end()
        .strip_prefix("wayfinder-server listening on ")
        .unwrap()
        .to_string();
    let new = std::fs::read_to_string(data.join("admin-token")).unwrap();
    assert_ne!(new, old);
    let client = reqwest::Client::new();
    let get = |token: String| {
        let client = client.clone();
        let url = format!("{url}{COLLECTION}");
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(new).await, StatusCode::OK);
    assert_eq!(get(old).await, StatusCode::UNAUTHORIZED);
    assert!(terminate(&mut child).await.success());
}
