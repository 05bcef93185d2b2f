//! moto, the AWS emulator the AWS driver is tested against: installed by the project, started
//! by the tests.
//!
//! [`install`] makes a Python venv under `target/moto/venv` and installs
//! `moto[server]==`[`VERSION`] and boto3 [`BOTO3_VERSION`] into it with the ordinary `pip`, once (a marker file
//! names the version installed); `cargo xtask test` and `cargo xtask moto` call it. Tests call
//! [`MotoServer::start`]: it runs `moto_server -H 127.0.0.1 -p <free port>` with
//! `MOTO_IAM_LOAD_MANAGED_POLICIES=true` (else AWS's managed policies, which the driver
//! attaches, do not exist) and `MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true`, waits until
//! it answers, and kills it when dropped.
//!
//! A test that needs moto fails loudly when it is not installed, unless
//! `WAYFINDER_SKIP_MOTO=1` (then it is reported as skipped). `WAYFINDER_MOTO_SERVER` names a
//! `moto_server` executable to use instead of the venv's.
//!
//! This file only uses the standard library: xtask includes it too.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The moto release the project pins.
pub const VERSION: &str = "5.2.6";

/// The boto3 release installed beside it (the tests look in moto through it), pinned too so
/// that a new boto3 cannot change a run.
pub const BOTO3_VERSION: &str = "1.44.18";

/// Set to `1` to report the tests needing moto as skipped when it is not installed.
pub const ENV_SKIP_MOTO: &str = "WAYFINDER_SKIP_MOTO";

/// A `moto_server` executable to use instead of `target/moto/venv/bin/moto_server`.
pub const ENV_MOTO_SERVER: &str = "WAYFINDER_MOTO_SERVER";

/// The account moto's default credentials act in.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// `<target>/moto`.
pub fn install_root(target_dir: &Path) -> PathBuf {
    target_dir.join("moto")
}

fn venv(target_dir: &Path) -> PathBuf {
    install_root(target_dir).join("venv")
}

fn marker(target_dir: &Path) -> PathBuf {
    venv(target_dir).join(format!(".wayfinder-moto-{VERSION}"))
}

/// The venv's `moto_server`, when [`install`] has installed [`VERSION`] there.
pub fn installed(target_dir: &Path) -> Option<PathBuf> {
    let server = venv(target_dir).join("bin").join("moto_server");
    (server.is_file() && marker(target_dir).is_file()).then_some(server)
}

/// The venv's Python (with boto3), when installed.
pub fn python(target_dir: &Path) -> Option<PathBuf> {
    installed(target_dir).map(|_| venv(target_dir).join("bin").join("python"))
}

/// Installs moto [`VERSION`] and boto3 into `target/moto/venv` unless already there; returns
/// the `moto_server` path and whether it was installed now.
pub fn install(target_dir: &Path, say: &mut dyn FnMut(&str)) -> Result<(PathBuf, bool), String> {
    if let Some(found) = installed(target_dir) {
        return Ok((found, false));
    }
    let venv = venv(target_dir);
    say(&format!("python3 -m venv {}", venv.display()));
    run(Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg("--clear")
        .arg(&venv))?;
    let pip = venv.join("bin").join("pip");
    let spec = format!("moto[server]=={VERSION}");
    let boto3 = format!("boto3=={BOTO3_VERSION}");
    say(&format!("pip install '{spec}' {boto3} (about a minute)"));
    run(Command::new(&pip).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &spec,
        &boto3,
    ]))?;
    std::fs::write(marker(target_dir), VERSION)
        .map_err(|e| format!("writing {}: {e}", marker(target_dir).display()))?;
    installed(target_dir).map(|p| (p, true)).ok_or_else(|| {
        format!(
            "pip installed moto but {} has no bin/moto_server",
            venv.display()
        )
    })
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {shown}: {e} (is python3 with its venv module installed? Debian: apt-get install -y python3-venv)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The target directory of a test or tool binary: `$CARGO_TARGET_DIR`, else the ancestor of
/// the running executable named `target`.
pub fn target_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        return std::path::absolute(PathBuf::from(dir)).ok();
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
}

/// A running `moto_server` on a free loopback port, killed when dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    addr: SocketAddr,
}

impl MotoServer {
    /// Starts moto, or `None` when it is not installed and `WAYFINDER_SKIP_MOTO=1` (the caller
    /// reports the skip). Panics, saying how to install it, when it is not installed
    /// otherwise: a test needing moto never passes without it.
    pub fn start() -> Option<MotoServer> {
        let exe = std::env::var_os(ENV_MOTO_SERVER)
            .map(PathBuf::from)
            .or_else(|| target_dir().and_then(|t| installed(&t)));
        let Some(exe) = exe else {
            if std::env::var(ENV_SKIP_MOTO).is_ok_and(|v| v == "1") {
                eprintln!("SKIPPED: moto is not installed and {ENV_SKIP_MOTO}=1");
                return None;
            }
            panic!(
                "moto {VERSION} is not installed: run `cargo xtask moto` (a venv under target/moto/), \
                 or set {ENV_MOTO_SERVER}=/path/to/moto_server, or {ENV_SKIP_MOTO}=1 to skip the tests needing it"
            );
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        // moto logs every request on stderr; drain it so it never blocks.
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if std::env::var_os("WAYFINDER_MOTO_LOG").is_some() {
                        eprintln!("moto: {line}");
                    }
                }
            });
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = MotoServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if server.get("/moto-api/").is_ok_and(|(code, _)| code == 200) {
                return Some(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {} within 30 s",
                server.url
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `moto_server` process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wipes moto's state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let (code, body) = self
            .request("POST", "/moto-api/reset")
            .expect("POST /moto-api/reset");
        assert_eq!(code, 200, "moto reset: {body}");
    }

    fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        self.request("GET", path)
    }

    /// One plain HTTP/1.0 request to moto's own API (not an AWS service).
    fn request(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            self.addr
        )?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
