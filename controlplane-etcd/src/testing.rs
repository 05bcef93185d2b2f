//! A real etcd cluster on loopback for tests (feature `testing`): n members on free ports in
//! a temporary directory, killed and restarted at will, all stopped on drop.
//!
//! The `etcd` binary comes from `PATH` (or `WAYFINDER_ETCD`). Without it a test fails,
//! saying how to install it, unless `WAYFINDER_SKIP_ETCD=1`: then [`EtcdCluster::start`]
//! answers `None`, prints that the test was skipped and records the skip in
//! `WAYFINDER_SKIP_REPORT` when set, so that `cargo xtask test` counts it as skipped, not
//! passed.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Config, Etcd, Timeouts, TlsFiles};

/// Names the etcd binary to use instead of `etcd` on `PATH`.
pub const ENV_ETCD: &str = "WAYFINDER_ETCD";
/// `1`: a test needing etcd is skipped (and reported so) when etcd is not installed.
pub const ENV_SKIP_ETCD: &str = "WAYFINDER_SKIP_ETCD";
/// The file skips are appended to as JSON lines (read by `cargo xtask test`).
const ENV_SKIP_REPORT: &str = "WAYFINDER_SKIP_REPORT";

/// How to install etcd on Debian and Ubuntu.
pub const INSTALL_HINT: &str = "apt-get install etcd-server etcd-client";

struct MemberProc {
    name: String,
    client_url: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

/// A running etcd cluster; every member is killed when it is dropped.
pub struct EtcdCluster {
    binary: PathBuf,
    members: Vec<MemberProc>,
    tls: Option<TlsFiles>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for EtcdCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdCluster")
            .field("endpoints", &self.endpoints())
            .finish()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn find_etcd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_ETCD).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{ENV_ETCD}={} is not a file", p.display());
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("etcd"))
            .find(|p| p.is_file())
    })
}

/// Records a skipped test: printed, and appended to `WAYFINDER_SKIP_REPORT` when set
/// (`{"binary","test","whole","reason"}`, the acceptance harness's format).
fn record_skip(reason: &str) {
    println!("skipped: {reason}");
    // Straight to the process's stderr, past libtest's capture: a skip is seen even when
    // the test "passes".
    let _ = std::io::stderr().write_all(format!("SKIPPED: {reason}\n").as_bytes());
    let Some(path) = std::env::var_os(ENV_SKIP_REPORT).filter(|p| !p.is_empty()) else {
        return;
    };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => stem,
        })
        .unwrap_or_else(|| "?".into());
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let line = serde_json::json!({"binary": binary, "test": test, "whole": true, "reason": reason});
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "could not record the skip in {}: {e}",
            Path::new(&path).display()
        );
    }
}

impl EtcdCluster {
    /// Starts `n` members and waits until every one answers and a leader is elected. `None`
    /// only when etcd is not installed and `WAYFINDER_SKIP_ETCD=1` (the skip is reported);
    /// without etcd otherwise, it panics saying how to install it.
    pub async fn start(n: usize) -> Option<EtcdCluster> {
        EtcdCluster::start_with(n, false).await
    }

    /// [`EtcdCluster::start`] with client TLS: the members serve `https://` with
    /// certificates of a CA made for the test and require a client certificate of it
    /// (`--client-cert-auth`); [`EtcdCluster::tls_files`] are the client's files.
    pub async fn start_tls(n: usize) -> Option<EtcdCluster> {
        EtcdCluster::start_with(n, true).await
    }

    async fn start_with(n: usize, with_tls: bool) -> Option<EtcdCluster> {
        let Some(binary) = find_etcd() else {
            if std::env::var(ENV_SKIP_ETCD).is_ok_and(|v| v == "1") {
                record_skip(&format!(
                    "etcd is not installed and {ENV_SKIP_ETCD}=1 (install: {INSTALL_HINT})"
                ));
                return None;
            }
            panic!(
                "etcd is not installed: `{INSTALL_HINT}` (Debian/Ubuntu), or set {ENV_ETCD}=/path/to/etcd; \
                 {ENV_SKIP_ETCD}=1 skips the tests needing it (reported as skipped)"
            );
        };
        let dir = tempfile::Builder::new()
            .prefix("wayfinder-etcd-")
            .tempdir()
            .expect("a temporary directory for etcd");
        let tls = with_tls.then(|| make_certificates(dir.path()));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (peer, _))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!(
            "wf-{}-{}",
            std::process::id(),
            dir.path().file_name().unwrap_or_default().to_string_lossy()
        );
        let members = ports
            .iter()
            .enumerate()
            .map(|(i, (peer, client))| {
                let name = format!("m{i}");
                let client_url = format!("{scheme}://127.0.0.1:{client}");
                let peer_url = format!("http://127.0.0.1:{peer}");
                let mut args: Vec<String> = vec![
                    "--name".into(),
                    name.clone(),
                    "--data-dir".into(),
                    dir.path().join(&name).display().to_string(),
                    "--listen-peer-urls".into(),
                    peer_url.clone(),
                    "--initial-advertise-peer-urls".into(),
                    peer_url,
                    "--listen-client-urls".into(),
                    client_url.clone(),
                    "--advertise-client-urls".into(),
                    client_url.clone(),
                    "--initial-cluster".into(),
                    initial.clone(),
                    "--initial-cluster-state".into(),
                    "new".into(),
                    "--initial-cluster-token".into(),
                    token.clone(),
                    "--logger".into(),
                    "zap".into(),
                ];
                if let Some(files) = &tls {
                    let dir = files.ca.parent().expect("the certificates' directory");
                    for (flag, file) in [
                        ("--cert-file", "server.pem"),
                        ("--key-file", "server-key.pem"),
                        ("--trusted-ca-file", "ca.pem"),
                    ] {
                        args.push(flag.into());
                        args.push(dir.join(file).display().to_string());
                    }
                    args.push("--client-cert-auth".into());
                }
                MemberProc {
                    log: dir.path().join(format!("{name}.log")),
                    name,
                    client_url,
                    args,
                    child: None,
                }
            })
            .collect();
        let mut cluster = EtcdCluster {
            binary,
            members,
            tls,
            _dir: dir,
        };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster.wait_healthy(Duration::from_secs(30)).await;
        Some(cluster)
    }

    fn spawn(&mut self, i: usize) {
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("etcd's log file");
        let child = Command::new(&self.binary)
            .args(&m.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd's log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        m.child = Some(child);
    }

    /// The client's TLS files of a cluster started with [`EtcdCluster::start_tls`].
    pub fn tls_files(&self) -> Option<TlsFiles> {
        self.tls.clone()
    }

    /// The members' client URLs.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// A client configuration for every member, under `prefix`, with short timeouts.
    pub fn config(&self, prefix: &str) -> Config {
        Config {
            endpoints: self.endpoints(),
            prefix: prefix.to_string(),
            tls: self.tls.clone(),
            timeouts: Timeouts {
                connect: Duration::from_millis(500),
                request: Duration::from_secs(3),
                total: Duration::from_secs(15),
                keep_alive: Duration::from_secs(2),
            },
        }
    }

    /// A client of every member under `prefix`.
    pub async fn connect(&self, prefix: &str) -> Etcd {
        Etcd::connect(&self.config(prefix))
            .await
            .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}"))
    }

    /// Kills member `i` with SIGKILL and waits for it to exit.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory and waits until it answers.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_member(i, Duration::from_secs(30)).await;
    }

    /// Stops member `i` with SIGSTOP (it keeps its connections but answers nothing).
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Continues member `i` after [`EtcdCluster::pause`].
    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        if let Some(child) = &self.members[i].child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("running kill");
            assert!(status.success(), "kill {signal} of etcd member {i}");
        }
    }

    /// Starts every member that is not running (after [`EtcdCluster::kill`]) and waits
    /// until all answer with a leader.
    pub async fn start_stopped(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                self.spawn(i);
            }
        }
        self.wait_healthy(Duration::from_secs(30)).await;
    }

    /// Whether member `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }

    /// The index of the member that leads the raft group now, asked of the live members.
    pub async fn leader_index(&self) -> Option<usize> {
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let Ok(st) = status(&m.client_url, self.tls.as_ref()).await else {
                continue;
            };
            if st.leader() == 0 {
                continue;
            }
            for (j, other) in self.members.iter().enumerate() {
                if other.child.is_none() {
                    continue;
                }
                if let Ok(s) = status(&other.client_url, self.tls.as_ref()).await
                    && s.header().map(|h| h.member_id()) == Some(st.leader())
                {
                    return Some(j);
                }
            }
        }
        None
    }

    /// The log of member `i` (for a failing test's message).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }

    async fn wait_member(&self, i: usize, limit: Duration) {
        let started = Instant::now();
        let m = &self.members[i];
        loop {
            if let Ok(s) = status(&m.client_url, self.tls.as_ref()).await
                && s.leader() != 0
            {
                return;
            }
            if started.elapsed() > limit {
                panic!(
                    "etcd member {} ({}) not healthy after {limit:?}; its log:\n{}",
                    m.name,
                    m.client_url,
                    self.log(i)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_healthy(&self, limit: Duration) {
        for i in 0..self.members.len() {
            self.wait_member(i, limit).await;
        }
    }
}

async fn status(url: &str, tls: Option<&TlsFiles>) -> Result<etcd_client::StatusResponse, String> {
    let mut options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_millis(300))
        .with_timeout(Duration::from_secs(1));
    if let Some(files) = tls {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let (Some(cert), Some(key)) = (&files.cert, &files.key) else {
            return Err("a client certificate is needed".into());
        };
        options = options.with_tls(
            etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(read(&files.ca)?))
                .identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?)),
        );
    }
    let mut client = etcd_client::Client::connect([url], Some(options))
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(2), client.status())
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in
/// `dir`; the client's files.
fn make_certificates(dir: &Path) -> TlsFiles {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("writing a test certificate");
        path
    };
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.distinguished_name
        .push(DnType::CommonName, "wayfinder-etcd test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
    let ca_path = write("ca.pem", ca_cert.pem());
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, common: &str, usages: Vec<ExtendedKeyUsagePurpose>| {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(names).expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, common);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usages;
        let cert = params.signed_by(&key, &issuer).expect("a certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        "etcd",
        // etcd's own gateway connects to the member with the server's certificate.
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    );
    write("server.pem", server);
    write("server-key.pem", server_key);
    let (client, client_key) = leaf(
        vec!["wayfinder".into()],
        "wayfinder",
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    );
    TlsFiles {
        ca: ca_path,
        cert: Some(write("client.pem", client)),
        key: Some(write("client-key.pem", client_key)),
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
