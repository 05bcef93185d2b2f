//! The acceptance-test harness: the provider driven by the real Terraform CLI against a real
//! `wayfinder-server`, following the terraform-plugin-testing loop (apply, empty plan without
//! and with refresh, import and verify, destroy, check destroyed).
//!
//! - [`require_terraform!`] skips or fails a test when no Terraform is found
//!   (`WAYFINDER_TERRAFORM`, `PATH`, or one installed by `cargo xtask test`), and
//!   [`require_terraform_version!`] skips one whose feature the CLI in use lacks
//!   ([`support::Feature`]); both print why and report the skip ([`report`]) so that
//!   `cargo xtask test` counts it as skipped, not passed.
//! - `WAYFINDER_TERRAFORM` may name OpenTofu's `tofu`: the harness reads `OpenTofu v…` from
//!   its `version` ([`support::cli_version`]), and the gates and the provider's address
//!   ([`support::provider_source`]) follow.
//! - Tests named `smoke_*` are the smoke subset `cargo xtask test` runs against the other
//!   releases of its matrix, OpenTofu's included (`cargo test -p wayfinder-acceptance smoke_`).
//! - [`Server`] runs `wayfinder-server` on a fresh data dir and stops it on drop.
//! - [`ApiClient`] reads and writes objects out of band.
//! - [`Workdir`] is a Terraform working directory wired to a server through a CLI
//!   configuration whose filesystem mirror holds the built provider.
//! - [`DebugProvider`] runs `terraform-provider-wayfinder --debug` for `TF_REATTACH_PROVIDERS`.
//!
//! The binaries come from the target directory: run `cargo build --workspace --bins` (or
//! `cargo xtask test`, which does it) before `cargo test`. Every test makes its own server and
//! directories, so tests run in parallel.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod config;
pub mod etcd;
pub mod faults;
pub mod launch;
/// moto, the AWS emulator: the AWS driver's own harness (std only), shared.
#[path = "../../../controlplane-aws/src/moto.rs"]
pub mod moto;
pub mod report;
pub mod support;
pub mod terraform;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The `terraform` block every configuration using the provider needs (without it,
/// Terraform looks for `hashicorp/wayfinder`).
pub const REQUIRED_PROVIDERS: &str = r#"terraform {
  required_providers {
    wayfinder = {
      source = "wayfinder/wayfinder"
    }
  }
}
"#;

/// Set to `1` to skip (instead of fail) the Terraform tests when no Terraform is found.
pub const ENV_SKIP_TERRAFORM: &str = "WAYFINDER_SKIP_TERRAFORM";

/// The longest one Terraform command may run before the harness kills it.
pub const TERRAFORM_TIMEOUT: Duration = Duration::from_secs(300);

const BUILD_FIRST: &str = "run `cargo build --workspace --bins` first (or `cargo xtask test`)";

// ---------------------------------------------------------------------------------------------
// Locations

/// The repository root.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// The directory holding the built binaries: derived from this test executable
/// (`target/debug/deps/<test>` → `target/debug`), else `$CARGO_TARGET_DIR/debug`, else
/// `<repo>/target/debug`.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Ok(exe) = std::env::current_exe()
            && let Some(deps) = exe.parent()
            && deps.file_name().is_some_and(|n| n == "deps")
            && let Some(profile_dir) = deps.parent()
        {
            return profile_dir.to_path_buf();
        }
        match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => std::path::absolute(PathBuf::from(dir))
                .unwrap_or_default()
                .join("debug"),
            None => repo_root().join("target").join("debug"),
        }
    })
}

/// The target directory (the parent of [`bin_dir`]).
pub fn target_dir() -> PathBuf {
    bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// A built binary of the workspace. Panics, saying how to build it, when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    if !path.is_file() {
        panic!("{} does not exist: {BUILD_FIRST}", path.display());
    }
    path
}

// ---------------------------------------------------------------------------------------------
// Terraform

fn find_terraform() -> &'static Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(
        || match terraform::find(&terraform::install_root(&target_dir())) {
            Ok(found) => found.map(|t| t.path),
            Err(e) => panic!("{e:#}"),
        },
    )
}

/// The Terraform executable the tests use. Panics when there is none; tests call
/// [`require_terraform!`] first.
pub fn terraform_path() -> &'static Path {
    find_terraform().as_deref().unwrap_or_else(|| {
        panic!("{}", no_terraform_message());
    })
}

fn no_terraform_message() -> String {
    format!(
        "no Terraform found: set {}=/path/to/terraform, put terraform on PATH, or run \
         `cargo xtask test` (which installs one under target/terraform/). Set {ENV_SKIP_TERRAFORM}=1 \
         to skip the Terraform tests instead",
        terraform::ENV_TERRAFORM
    )
}

/// Whether Terraform is available. Without it: records the test as skipped (`skipped: no
/// terraform`) and returns false when `WAYFINDER_SKIP_TERRAFORM=1`, and panics otherwise. See [`require_terraform!`].
pub fn terraform_available() -> bool {
    if find_terraform().is_some() {
        return true;
    }
    if std::env::var(ENV_SKIP_TERRAFORM).is_ok_and(|v| v == "1") {
        support::skip_test(&format!("no terraform ({ENV_SKIP_TERRAFORM}=1)"));
        return false;
    }
    panic!("{}", no_terraform_message());
}

/// First line of a Terraform test: returns from the test (recording `skipped: no terraform`)
/// when there is no Terraform and `WAYFINDER_SKIP_TERRAFORM=1`; panics when there is none
/// otherwise.
#[macro_export]
macro_rules! require_terraform {
    () => {
        if !$crate::terraform_available() {
            return;
        }
    };
}

/// The filesystem mirror holding a copy of the built provider, made once per test process
/// (and reused across processes while the provider binary is unchanged) under
/// `target/acceptance/mirror/`.
pub fn provider_mirror() -> &'static Path {
    static MIRROR: OnceLock<PathBuf> = OnceLock::new();
    MIRROR.get_or_init(|| {
        let provider = binary(terraform::PROVIDER_BINARY);
        let meta = fs::metadata(&provider)
            .unwrap_or_else(|e| panic!("reading {}: {e}", provider.display()));
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let root = target_dir().join("acceptance").join("mirror");
        let key = format!("{}-{mtime}", meta.len());
        let mirror = root.join(&key);
        let fresh = terraform::PROVIDER_SOURCES.iter().all(|source| {
            fs::metadata(terraform::mirror_executable_for(&mirror, source))
                .is_ok_and(|m| m.len() == meta.len())
        });
        if !fresh {
            // Older copies are of older builds; keep only this one.
            if let Ok(entries) = fs::read_dir(&root) {
                for entry in entries.flatten() {
                    if entry.file_name() != key.as_str() {
                        let _ = fs::remove_dir_all(entry.path());
                    }
                }
            }
            terraform::build_mirror(&mirror, &provider).unwrap_or_else(|e| panic!("{e:#}"));
        }
        mirror
    })
}

// ---------------------------------------------------------------------------------------------
// Server

/// A `wayfinder-server` on `127.0.0.1` with its own data dir, stopped on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    url: String,
    port: u16,
    token: String,
    data_dir: PathBuf,
    log: PathBuf,
    /// With [`ENV_STORE`]` = etcd`: the etcd cluster, the second replica (what
    /// [`Server::client`] reads through) and the store arguments every start passes.
    replicated: Option<Replicated>,
    _dir: TempDir,
}

/// The acceptance suite's store: unset for the SQLite default; `etcd` starts every
/// [`Server`] as two replicas on a fresh 3-member etcd cluster: Terraform's provider talks
/// to the first, the harness's own API checks read through the second.
pub const ENV_STORE: &str = "WAYFINDER_ACCEPTANCE_STORE";

#[derive(Debug)]
struct Replicated {
    args: Vec<String>,
    second: Option<Child>,
    second_url: String,
    // Dropped last: the replicas stop before their store does.
    _etcd: etcd::LocalEtcd,
}

/// Whether [`ENV_STORE`] asks for replicas on etcd.
pub fn replicated() -> bool {
    std::env::var(ENV_STORE).is_ok_and(|v| v == "etcd")
}

impl Server {
    /// Starts a server on a fresh data dir and a free port. Panics (with the server's log)
    /// when it does not come up.
    pub fn start() -> Server {
        Server::start_with_args(&[])
    }

    /// [`Server::start`] with `args` added to the server's command line
    /// (`--sim-provision-time=5s`, `--rate-limit=20`, `--log-level=trace`).
    /// [`Server::restart`] starts it without them.
    pub fn start_with_args(args: &[&str]) -> Server {
        Server::start_with_args_env(args, &[])
    }

    /// [`Server::start_with_args`] with `env` in the server's environment.
    pub fn start_with_args_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("wayfinder-server-")
            .tempdir()
            .expect("creating a temporary directory");
        let data_dir = dir.path().join("data");
        let log = dir.path().join("server.log");
        let etcd = replicated().then(|| {
            etcd::LocalEtcd::start(&dir.path().join("etcd"), 3)
                .unwrap_or_else(|e| panic!("starting etcd for {ENV_STORE}=etcd: {e:#}"))
        });
        let store_args: Vec<String> = match &etcd {
            Some(e) => vec![
                "--store".into(),
                "etcd".into(),
                "--etcd-endpoints".into(),
                e.endpoints(),
            ],
            None => Vec::new(),
        };
        let mut all: Vec<&str> = args.to_vec();
        all.extend(store_args.iter().map(String::as_str));
        let started = launch::start_with_env(
            &binary(launch::SERVER_BINARY),
            "127.0.0.1:0",
            &data_dir,
            &log,
            &all,
            env,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let replicated = etcd.map(|etcd| {
            let data = dir.path().join("data-2");
            let second = launch::start_replica(
                &binary(launch::SERVER_BINARY),
                "127.0.0.1:0",
                &data,
                &dir.path().join("server-2.log"),
                &all,
            )
            .unwrap_or_else(|e| panic!("starting the second replica: {e:#}"));
            Replicated {
                args: store_args.clone(),
                second: Some(second.child),
                second_url: second.url,
                _etcd: etcd,
            }
        });
        Server {
            child: Some(started.child),
            url: started.url,
            port: started.port,
            token: started.token,
            data_dir,
            log,
            replicated,
            _dir: dir,
        }
    }

    /// The store arguments every start of this server passes (`--store etcd ...`).
    fn store_args(&self) -> Vec<&str> {
        self.replicated
            .as_ref()
            .map(|r| r.args.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The administrator token.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An API client with the administrator token (through the second replica when the
    /// server is replicated: what Terraform wrote through the first is read there).
    pub fn client(&self) -> ApiClient {
        match &self.replicated {
            Some(r) => ApiClient::new(&r.second_url, Some(&self.token)),
            None => ApiClient::new(&self.url, Some(&self.token)),
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s); a second replica too.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            launch::stop(&mut child);
        }
        if let Some(mut second) = self.replicated.as_mut().and_then(|r| r.second.take()) {
            launch::stop(&mut second);
        }
    }

    /// Kills the server with SIGKILL (no shutdown at all, as a crash would) and starts it
    /// again on the same data dir with `args` and `env`.
    pub fn kill_and_restart_with(&mut self, args: &[&str], env: &[(&str, &str)]) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.store_args());
        let started = launch::start_with_env(
            &binary(launch::SERVER_BINARY),
            "127.0.0.1:0",
            &self.data_dir,
            &self.log,
            &all,
            env,
        )
        .unwrap_or_else(|e| panic!("restarting the server failed: {e:#}"));
        self.child = Some(started.child);
        self.url = started.url;
        self.port = started.port;
        self.token = started.token;
    }

    /// Stops the server and starts it again on the same data dir and, if it is free, the
    /// same port (so [`Server::url`] and any [`Workdir`] pointed at it stay valid).
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            launch::stop(&mut child);
        }
        let bin = binary(launch::SERVER_BINARY);
        let store_args: Vec<String> = self.store_args().iter().map(|s| s.to_string()).collect();
        let store_args: Vec<&str> = store_args.iter().map(String::as_str).collect();
        let mut last_error = None;
        for listen in [
            format!("127.0.0.1:{}", self.port),
            format!("127.0.0.1:{}", self.port),
            "127.0.0.1:0".to_string(),
        ] {
            match launch::start_with(&bin, &listen, &self.data_dir, &self.log, &store_args) {
                Ok(started) => {
                    self.child = Some(started.child);
                    self.url = started.url;
                    self.port = started.port;
                    self.token = started.token;
                    return;
                }
                Err(e) => {
                    last_error = Some(e);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        panic!(
            "restarting the server failed: {:#}",
            last_error.expect("at least one attempt")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- wayfinder-server log ({}), last lines ---\n{}",
                self.url,
                launch::log_tail(&self.log, 60)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// API client

/// The API path of compute templates, or of one.
pub fn compute_template_path(name: Option<&str>) -> String {
    let base = "/resources/compute.appvia.io/v2beta2/computetemplates";
    match name {
        Some(name) => format!("{base}/{name}"),
        None => base.to_string(),
    }
}

/// A small blocking client for out-of-band reads and writes. Given a Wayfinder exchange
/// token (an AccessToken's token: a JWT whose `scopes` hold `wayfinder:auth:exchange`), it
/// does what Wayfinder's clients do: trades it at `POST /api/v2/exchange?ttl=30m0s` for an
/// API token, sends that, and exchanges again before it expires or when the API answers
/// `401`. Any other token is sent as it is.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    /// The API token last exchanged for `token` and its expiry (Unix seconds), when
    /// `token` is an exchange token.
    exchanged: Option<ExchangedSlot>,
    http: reqwest::blocking::Client,
}

/// The last API token exchanged and its expiry (Unix seconds), shared by clones.
type ExchangedSlot = std::sync::Arc<std::sync::Mutex<Option<(String, u64)>>>;

/// Whether `token` is a Wayfinder exchange token, read as Wayfinder's Go client reads it
/// (the JWT's claims, unverified).
pub fn is_exchange_token(token: &str) -> bool {
    use base64::Engine as _;
    token
        .split('.')
        .nth(1)
        .and_then(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| {
            c["scopes"]
                .as_array()
                .map(|a| a.iter().any(|s| s == "wayfinder:auth:exchange"))
        })
        .unwrap_or(false)
}

/// An API answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    pub text: String,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<&str>) -> ApiClient {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("building an HTTP client");
        let exchanged = token
            .filter(|t| is_exchange_token(t))
            .map(|_| std::sync::Arc::new(std::sync::Mutex::new(None)));
        ApiClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
            exchanged,
            http,
        }
    }

    /// The token to send: the API token exchanged for an exchange token (anew when
    /// `force`, or within a minute of its expiry), else the token as given.
    fn bearer(&self, force: bool) -> Option<String> {
        let token = self.token.as_ref()?;
        let Some(slot) = &self.exchanged else {
            return Some(token.clone());
        };
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if !force
            && let Some((t, exp)) = slot.as_ref()
            && *exp > now + 60
        {
            return Some(t.clone());
        }
        let url = format!("{}/api/v2/exchange?ttl=30m0s", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token)
            .send()
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status().as_u16();
        let answer: Value = resp.json().unwrap_or(Value::Null);
        assert_eq!(
            status, 200,
            "exchanging the access token at {url}: {answer}"
        );
        let api = answer["token"]
            .as_str()
            .expect("an exchanged token")
            .to_string();
        let exp = answer["expires"].as_u64().expect("its expiry");
        *slot = Some((api.clone(), exp));
        Some(api)
    }

    /// Sends a request; `path` starts with `/`. Panics only when the server cannot be
    /// reached (or refuses to exchange an exchange token).
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> ApiResponse {
        let mut answer = self.request_once(&method, path, body, false);
        if answer.status == 401 && self.exchanged.is_some() {
            answer = self.request_once(&method, path, body, true);
        }
        answer
    }

    fn request_once(
        &self,
        method: &reqwest::Method,
        path: &str,
        body: Option<&Value>,
        refresh: bool,
    ) -> ApiResponse {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(token) = self.bearer(refresh) {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        ApiResponse { status, body, text }
    }

    pub fn get(&self, path: &str) -> ApiResponse {
        self.request(reqwest::Method::GET, path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> ApiResponse {
        self.request(reqwest::Method::POST, path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> ApiResponse {
        self.request(reqwest::Method::PUT, path, Some(body))
    }

    pub fn delete(&self, path: &str) -> ApiResponse {
        self.request(reqwest::Method::DELETE, path, None)
    }

    /// The compute template `name`: `Some` on 200, `None` on 404; panics otherwise.
    pub fn compute_template(&self, name: &str) -> Option<Value> {
        let resp = self.get(&compute_template_path(Some(name)));
        match resp.status {
            200 => Some(resp.body),
            404 => None,
            other => panic!(
                "GET {}: unexpected status {other}: {}",
                compute_template_path(Some(name)),
                resp.text
            ),
        }
    }

    /// Every compute template on the server.
    pub fn compute_templates(&self) -> Vec<Value> {
        let resp = self.get(&compute_template_path(None));
        assert_eq!(
            resp.status,
            200,
            "GET {}: {}",
            compute_template_path(None),
            resp.text
        );
        list_items(resp.body)
    }

    /// Replaces a compute template (its `metadata.resourceVersion` must be current).
    /// Panics unless the server answers 200.
    pub fn put_compute_template(&self, object: &Value) -> Value {
        let name = object["metadata"]["name"]
            .as_str()
            .expect("the object has metadata.name");
        let resp = self.put(&compute_template_path(Some(name)), object);
        assert_eq!(
            resp.status,
            200,
            "PUT {}: {}",
            compute_template_path(Some(name)),
            resp.text
        );
        resp.body
    }
}

/// The objects of a list answer: `{"items": [...]}` or a bare array.
pub fn list_items(body: Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(other) => panic!("`items` is not a list: {other}"),
        },
        Value::Null => Vec::new(),
        other => panic!("not a list answer: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Terraform working directory

/// What one Terraform command did.
#[derive(Debug, Clone)]
pub struct TfOutput {
    /// The command line, for messages.
    pub command: String,
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl TfOutput {
    /// stdout then stderr.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for TfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\n(exit code {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// One resource change in a saved plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    pub address: String,
    /// `["no-op"]`, `["create"]`, `["update"]`, `["delete", "create"]`, ...
    pub actions: Vec<String>,
}

/// A Terraform working directory in a temporary directory: `work/` holds the configuration,
/// `cli.tfrc` the CLI configuration. Kept (and its path printed) when a test panics.
#[derive(Debug)]
pub struct Workdir {
    dir: Option<TempDir>,
    work: PathBuf,
    terraform: PathBuf,
    env: BTreeMap<String, String>,
}

impl Workdir {
    /// A working directory for `server`: the provider is installed from the mirror of the
    /// built provider, and `WAYFINDER_SERVER`/`WAYFINDER_TOKEN` point at the server.
    pub fn new(server: &Server) -> Workdir {
        let mut wd = Workdir::with_mirror(Some(provider_mirror()));
        wd.point_at(server);
        wd
    }

    /// A working directory that installs the built provider but points it at no server:
    /// set `WAYFINDER_SERVER` and `WAYFINDER_TOKEN` with [`Workdir::set_env`].
    pub fn with_provider() -> Workdir {
        Workdir::with_mirror(Some(provider_mirror()))
    }

    /// A working directory with no server and no way to install the wayfinder provider: for
    /// Terraform's built-in resources, and for `TF_REATTACH_PROVIDERS`.
    pub fn standalone() -> Workdir {
        Workdir::with_mirror(None)
    }

    fn with_mirror(mirror: Option<&Path>) -> Workdir {
        let terraform = terraform_path().to_path_buf();
        let dir = tempfile::Builder::new()
            .prefix("wayfinder-tf-")
            .tempdir()
            .expect("creating a temporary directory");
        let work = dir.path().join("work");
        fs::create_dir_all(&work).expect("creating the working directory");
        let cli_config = dir.path().join("cli.tfrc");
        fs::write(&cli_config, terraform::cli_config(mirror)).expect("writing cli.tfrc");
        let mut env = BTreeMap::new();
        env.insert(
            "TF_CLI_CONFIG_FILE".to_string(),
            cli_config.to_string_lossy().into_owned(),
        );
        env.insert("CHECKPOINT_DISABLE".to_string(), "1".to_string());
        env.insert("TF_IN_AUTOMATION".to_string(), "1".to_string());
        Workdir {
            dir: Some(dir),
            work,
            terraform,
            env,
        }
    }

    /// Points the provider at `server` (`WAYFINDER_SERVER`, `WAYFINDER_TOKEN`).
    pub fn point_at(&mut self, server: &Server) -> &mut Self {
        self.set_env("WAYFINDER_SERVER", server.url());
        self.set_env("WAYFINDER_TOKEN", server.token());
        self
    }

    /// Sets an environment variable for every Terraform command run here.
    pub fn set_env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    pub fn remove_env(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// The configuration directory.
    pub fn path(&self) -> &Path {
        &self.work
    }

    /// Writes `main.tf`.
    pub fn write_config(&self, hcl: &str) {
        self.write_file("main.tf", hcl);
    }

    /// Writes a file relative to the configuration directory.
    pub fn write_file(&self, relative: &str, contents: &str) {
        let path = self.work.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("creating a directory");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Terraform with `args` in this directory with its environment (the caller's
    /// `WAYFINDER_*` variables removed), stdout and stderr piped.
    pub(crate) fn terraform_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = terraform::command(&self.terraform);
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("WAYFINDER_")) {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .current_dir(&self.work)
            .envs(&self.env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs Terraform and returns what it did, whatever its exit code.
    pub fn try_run(&self, args: &[&str]) -> TfOutput {
        let mut cmd = self.terraform_command(args);
        let command = format!("terraform {}", args.join(" "));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.terraform.display()));
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = match rx.recv_timeout(TERRAFORM_TIMEOUT) {
            Ok(result) => result.unwrap_or_else(|e| panic!("running `{command}`: {e}")),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!(
                    "`{command}` in {} did not finish within {TERRAFORM_TIMEOUT:?}; killed it",
                    self.work.display()
                );
            }
        };
        TfOutput {
            command,
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs Terraform; panics with the whole output unless it exits 0.
    pub fn run(&self, args: &[&str]) -> TfOutput {
        self.run_expect(args, &[0])
    }

    /// Runs Terraform; panics with the whole output unless its exit code is one of `codes`.
    pub fn run_expect(&self, args: &[&str], codes: &[i32]) -> TfOutput {
        let out = self.try_run(args);
        if !codes.contains(&out.code) {
            panic!(
                "`{}` exited {}, expected {codes:?}, in {}\n{out}",
                out.command,
                out.code,
                self.work.display()
            );
        }
        out
    }

    /// `terraform init`.
    pub fn init(&self) -> TfOutput {
        self.run(&["init", "-input=false", "-no-color"])
    }

    /// `terraform apply -auto-approve`.
    pub fn apply(&self) -> TfOutput {
        self.run(&["apply", "-auto-approve", "-input=false", "-no-color"])
    }

    /// `terraform apply -auto-approve`, whatever its exit code.
    pub fn try_apply(&self) -> TfOutput {
        self.try_run(&["apply", "-auto-approve", "-input=false", "-no-color"])
    }

    /// Asserts that a plan (with or without refresh) has no changes; on changes, panics with
    /// the plan text, as terraform-plugin-testing does.
    pub fn plan_is_empty(&self, refresh: bool) {
        let mut args = vec!["plan", "-detailed-exitcode", "-input=false", "-no-color"];
        if !refresh {
            args.push("-refresh=false");
        }
        let out = self.run_expect(&args, &[0, 2]);
        if out.code == 2 {
            let which = if refresh { "refreshing" } else { "non-refresh" };
            panic!(
                "the {which} plan was not empty in {}:\n{}{}",
                self.work.display(),
                out.stdout,
                out.stderr
            );
        }
    }

    /// Plans into a file and returns every resource change in it (no-ops included) and the
    /// plan's text.
    pub fn plan_changes(&self, refresh: bool) -> (Vec<PlannedChange>, String) {
        let plan_file = "acceptance.tfplan";
        let out_arg = format!("-out={plan_file}");
        let mut args = vec!["plan", "-input=false", "-no-color", out_arg.as_str()];
        if !refresh {
            args.push("-refresh=false");
        }
        let text = self.run(&args).stdout;
        let shown = self.run(&["show", "-json", "-no-color", plan_file]);
        let plan: Value = serde_json::from_str(&shown.stdout).unwrap_or_else(|e| {
            panic!("`terraform show -json {plan_file}` is not JSON: {e}\n{shown}")
        });
        let _ = fs::remove_file(self.work.join(plan_file));
        let changes = plan["resource_changes"]
            .as_array()
            .map(|changes| {
                changes
                    .iter()
                    .map(|c| PlannedChange {
                        address: c["address"].as_str().unwrap_or_default().to_string(),
                        actions: c["change"]["actions"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        (changes, text)
    }

    /// Asserts that `terraform plan` fails and that its output contains `needle`; returns
    /// the output.
    pub fn plan_expect_error(&self, needle: &str) -> TfOutput {
        let out = self.try_run(&["plan", "-input=false", "-no-color"]);
        if out.code == 0 || !out.combined().contains(needle) {
            panic!(
                "expected `terraform plan` to fail with {needle:?} in {}\n{out}",
                self.work.display()
            );
        }
        out
    }

    /// `terraform import ADDR ID`.
    pub fn import(&self, address: &str, id: &str) -> TfOutput {
        self.run(&["import", "-input=false", "-no-color", address, id])
    }

    /// `terraform show -json` of the state.
    pub fn state_json(&self) -> Value {
        let out = self.run(&["show", "-json", "-no-color"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("`terraform show -json` is not JSON: {e}\n{out}"))
    }

    /// Every resource in the state, from the root module and all child modules.
    pub fn state_resources(&self) -> Vec<Value> {
        let state = self.state_json();
        let mut found = Vec::new();
        collect_resources(&state["values"]["root_module"], &mut found);
        found
    }

    /// The `values` of the resource at `address` in the state. Panics when it is absent.
    pub fn resource_values(&self, address: &str) -> Value {
        let resources = self.state_resources();
        resources
            .iter()
            .find(|r| r["address"] == address)
            .map(|r| r["values"].clone())
            .unwrap_or_else(|| {
                let addresses: Vec<&str> = resources
                    .iter()
                    .filter_map(|r| r["address"].as_str())
                    .collect();
                panic!("{address} is not in the state; it holds {addresses:?}")
            })
    }

    /// `terraform output -json`.
    pub fn outputs(&self) -> Value {
        let out = self.run(&["output", "-json", "-no-color"]);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("`terraform output -json` is not JSON: {e}\n{out}"))
    }

    /// `terraform destroy -auto-approve`.
    pub fn destroy(&self) -> TfOutput {
        self.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])
    }
}

fn collect_resources(module: &Value, found: &mut Vec<Value>) {
    if let Some(resources) = module["resources"].as_array() {
        found.extend(resources.iter().cloned());
    }
    if let Some(children) = module["child_modules"].as_array() {
        for child in children {
            collect_resources(child, found);
        }
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("kept the Terraform working directory {}", kept.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

/// `value` with every `null` object member removed, recursively: the API and Terraform's
/// state may spell an absent optional field either way.
pub fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Asserts two JSON values are equal, printing both in full when they are not.
#[track_caller]
pub fn assert_json_eq(actual: &Value, expected: &Value, what: &str) {
    if actual != expected {
        panic!(
            "{what} differs\n--- actual ---\n{}\n--- expected ---\n{}",
            serde_json::to_string_pretty(actual).unwrap_or_default(),
            serde_json::to_string_pretty(expected).unwrap_or_default()
        );
    }
}

/// Asserts Terraform's output shows no crash of the provider.
#[track_caller]
pub fn assert_no_crash(out: &TfOutput) {
    let text = out.combined();
    let lower = text.to_lowercase();
    for marker in [
        "panic",
        "rust_backtrace",
        "plugin did not respond",
        "the plugin encountered an error",
        "plugin exited",
    ] {
        assert!(
            !lower.contains(marker),
            "the output shows a provider crash ({marker:?}):\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Debug mode

/// `terraform-provider-wayfinder --debug`, killed on drop.
#[derive(Debug)]
pub struct DebugProvider {
    child: Option<Child>,
    reattach: String,
    log: PathBuf,
    _dir: TempDir,
}

impl DebugProvider {
    /// Starts the provider in debug mode with `env` added to its environment, and reads the
    /// `TF_REATTACH_PROVIDERS` value it prints.
    pub fn start(env: &[(&str, &str)]) -> DebugProvider {
        let dir = tempfile::Builder::new()
            .prefix("wayfinder-debug-provider-")
            .tempdir()
            .expect("creating a temporary directory");
        let log = dir.path().join("provider.log");
        let log_file = fs::File::create(&log).expect("creating the provider log");
        let bin = binary(terraform::PROVIDER_BINARY);
        let mut cmd = Command::new(&bin);
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("WAYFINDER_") || k.starts_with("TF_"))
            {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .arg("--debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} --debug: {e}", bin.display()));
        let stdout = child.stdout.take().expect("the provider's stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    seen.push_str(&line);
                    seen.push('\n');
                    if let Some(json) = reattach_value(&line) {
                        let _ = tx.send(json);
                        sent = true;
                    }
                }
            }
            if !sent {
                let _ = tx.send(format!("\u{0}{seen}"));
            }
        });
        let reattach = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(value) if !value.starts_with('\u{0}') => value,
            other => {
                launch::stop(&mut child);
                let printed = match other {
                    Ok(v) => v.trim_start_matches('\u{0}').to_string(),
                    Err(_) => "(nothing within 60 s)".to_string(),
                };
                panic!(
                    "{} --debug printed no TF_REATTACH_PROVIDERS value.\n--- stdout ---\n{printed}\n--- stderr ---\n{}",
                    bin.display(),
                    launch::log_tail(&log, 40)
                );
            }
        };
        DebugProvider {
            child: Some(child),
            reattach,
            log,
            _dir: dir,
        }
    }

    /// The `TF_REATTACH_PROVIDERS` JSON.
    pub fn reattach(&self) -> &str {
        &self.reattach
    }

    /// The provider's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the provider process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The provider's stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the provider.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            launch::stop(&mut child);
        }
    }
}

impl Drop for DebugProvider {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- provider log, last lines ---\n{}",
                launch::log_tail(&self.log, 60)
            );
        }
    }
}

/// The JSON object on a line such as `TF_REATTACH_PROVIDERS='{...}'` or `{...}`.
pub fn reattach_value(line: &str) -> Option<String> {
    let start = line.find('{')?;
    let end = line.rfind('}')?;
    let candidate = line.get(start..=end)?;
    let value: Value = serde_json::from_str(candidate).ok()?;
    value
        .as_object()
        .is_some_and(|o| !o.is_empty())
        .then(|| candidate.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reattach_lines_are_recognised() {
        let json = r#"{"registry.terraform.io/wayfinder/wayfinder":{"Protocol":"grpc","ProtocolVersion":6,"Pid":7,"Test":true,"Addr":{"Network":"tcp","String":"127.0.0.1:1234"}}}"#;
        assert_eq!(
            reattach_value(&format!("\tTF_REATTACH_PROVIDERS='{json}'")).as_deref(),
            Some(json)
        );
        assert_eq!(reattach_value(json).as_deref(), Some(json));
        assert_eq!(reattach_value("Provider started. To attach..."), None);
        assert_eq!(reattach_value("{}"), None);
    }

    #[test]
    fn list_answers_are_read_in_both_shapes() {
        let item = serde_json::json!({"metadata": {"name": "a"}});
        assert_eq!(
            list_items(serde_json::json!({"items": [item.clone()]})),
            vec![item.clone()]
        );
        assert_eq!(list_items(serde_json::json!([item.clone()])), vec![item]);
        assert!(list_items(serde_json::json!({"items": null})).is_empty());
    }

    #[test]
    fn the_bin_dir_is_the_profile_dir() {
        assert!(bin_dir().is_dir(), "{}", bin_dir().display());
    }
}
