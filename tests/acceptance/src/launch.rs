//! Starting and stopping `wayfinder-server` as a child process.
//!
//! Shared, like [`crate::terraform`], by the acceptance harness and `cargo xtask demo`
//! (compiled into xtask with `#[path]`), so it depends on `std` and `anyhow` only.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// What the server prints, once, on stdout when it is ready.
pub const LISTENING_PREFIX: &str = "wayfinder-server listening on ";

/// The server's executable, as cargo builds it.
pub const SERVER_BINARY: &str = "wayfinder-server";

/// How long a server may take to say it is listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A started server.
#[derive(Debug)]
pub struct Started {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// The administrator token from `DATA_DIR/admin-token`.
    pub token: String,
}

/// Starts `binary --listen LISTEN --data-dir DATA_DIR`, with stderr appended to `log`, and
/// waits for its "listening" line and its admin token. On failure the child is stopped and
/// the error carries the end of the log.
pub fn start(binary: &Path, listen: &str, data_dir: &Path, log: &Path) -> Result<Started> {
    start_with(binary, listen, data_dir, log, &[])
}

/// [`start`] with `extra` arguments after `--listen` and `--data-dir` (such as
/// `--sim-provision-time=5s` or `--rate-limit=10`).
pub fn start_with(
    binary: &Path,
    listen: &str,
    data_dir: &Path,
    log: &Path,
    extra: &[&str],
) -> Result<Started> {
    start_with_env(binary, listen, data_dir, log, extra, &[])
}

/// [`start_with`] with `env` set in the server's environment (e.g. the `AWS_*` variables
/// of its base identity).
pub fn start_with_env(
    binary: &Path,
    listen: &str,
    data_dir: &Path,
    log: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<Started> {
    let (child, url, port, token) = spawn(binary, listen, data_dir, log, extra, env, true)?;
    Ok(Started {
        child,
        url,
        port,
        token: token.unwrap_or_default(),
    })
}

/// A started replica of a control plane shared with others (`--store etcd`).
#[derive(Debug)]
pub struct Replica {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub url: String,
    pub port: u16,
    /// The administrator token, when this replica is the one that created it (the others
    /// say that one exists and write none).
    pub token: Option<String>,
}

/// [`start_with`] for a replica: the administrator token is read only if this replica wrote
/// one (it is written before the server says it is listening).
pub fn start_replica(
    binary: &Path,
    listen: &str,
    data_dir: &Path,
    log: &Path,
    extra: &[&str],
) -> Result<Replica> {
    let (child, url, port, token) = spawn(binary, listen, data_dir, log, extra, &[], false)?;
    Ok(Replica {
        child,
        url,
        port,
        token,
    })
}

/// Starts the server and waits for its "listening" line; reads the administrator token
/// (waiting for it when `need_token`, else only if the file is there).
fn spawn(
    binary: &Path,
    listen: &str,
    data_dir: &Path,
    log: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    need_token: bool,
) -> Result<(Child, String, u16, Option<String>)> {
    if !binary.is_file() {
        bail!(
            "{} does not exist; run `cargo build --workspace --bins` first (or `cargo xtask test`)",
            binary.display()
        );
    }
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut child = Command::new(binary)
        .arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;

    let stdout = child.stdout.take().context("the server's stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    // Reads the first line, then keeps draining stdout so the server never blocks on it.
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut sent = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if !sent {
                let _ = tx.send(line);
                sent = true;
            }
        }
    });

    let wait = |child: &mut Child| -> Result<(String, u16, Option<String>)> {
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("it printed nothing within {START_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                bail!("it exited ({status}) without printing its address")
            }
        };
        let url = line
            .strip_prefix(LISTENING_PREFIX)
            .map(str::trim)
            .with_context(|| {
                format!("its first stdout line is {line:?}, expected {LISTENING_PREFIX:?}URL")
            })?
            .trim_end_matches('/')
            .to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .with_context(|| format!("no port in {url:?}"))?;
        let token = if need_token {
            Some(read_token(data_dir)?)
        } else {
            fs::read_to_string(data_dir.join("admin-token"))
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        Ok((url, port, token))
    };

    match wait(&mut child) {
        Ok((url, port, token)) => Ok((child, url, port, token)),
        Err(e) => {
            stop(&mut child);
            bail!(
                "{} did not start: {e:#}\n--- end of its log {} ---\n{}",
                binary.display(),
                log.display(),
                log_tail(log, 40)
            )
        }
    }
}

/// Reads `DATA_DIR/admin-token`, waiting briefly for it to appear.
pub fn read_token(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("admin-token");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(_) => bail!("{} is empty", path.display()),
            Err(e) => bail!("reading {}: {e}", path.display()),
        }
    }
}

/// Stops a child: SIGTERM, up to 10 s to exit, then SIGKILL. Reaps it.
pub fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    terminate(child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends SIGTERM to `pid` (through `kill`, as std has no signal API and unsafe code is off).
pub fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether a process with this id exists.
pub fn is_running(pid: u32) -> bool {
    Command::new("kill")
        .arg("-0")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
