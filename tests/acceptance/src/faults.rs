//! Fault injection for the acceptance tests: Terraform run in the background in its own
//! process group and interrupted the way Ctrl-C in a terminal does it (SIGINT to the whole
//! group, the provider included), a TCP endpoint that accepts connections and never
//! answers, and a TCP proxy in front of a server that delays every request and records the
//! traffic both ways (to look for secrets in it).
//!
//! Servers with extra flags (`--sim-provision-time`, `--rate-limit`, `--log-level`) start
//! with [`Server::start_with_args`](crate::Server::start_with_args).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{TfOutput, Workdir};

// ---------------------------------------------------------------------------------------------
// Terraform in the background

/// A Terraform command running in the background, leader of its own process group (the
/// provider it starts joins the group). Killed, with its group, on drop.
#[derive(Debug)]
pub struct Background {
    child: Child,
    command: String,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    finished: bool,
}

fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&buf[..n]);
        }
    })
}

impl Workdir {
    /// Starts Terraform with `args` in the background, as [`Workdir::try_run`] would run it,
    /// in a process group of its own.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let mut cmd = self.terraform_command(args);
        cmd.process_group(0);
        let command = format!("terraform {}", args.join(" "));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.terraform.display()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().expect("stdout"), Arc::clone(&stdout)),
            drain(child.stderr.take().expect("stderr"), Arc::clone(&stderr)),
        ];
        Background {
            child,
            command,
            stdout,
            stderr,
            readers,
            finished: false,
        }
    }
}

/// Sends `signal` (`INT`, `KILL`, `0`) to every process of group `pgid`; whether `kill`
/// found one.
pub fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Background {
    /// The process id of Terraform, which is also its process group's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ctrl-C: SIGINT to the whole process group, Terraform and the provider alike.
    pub fn interrupt(&self) {
        assert!(
            signal_group(self.pid(), "INT"),
            "no process left in group {} to interrupt",
            self.pid()
        );
    }

    /// Whether Terraform is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether any process of the group (Terraform, the provider) is still running.
    pub fn group_is_running(&self) -> bool {
        signal_group(self.pid(), "0")
    }

    /// What Terraform printed so far, stdout then stderr.
    pub fn output_so_far(&self) -> String {
        let text = |b: &Arc<Mutex<Vec<u8>>>| {
            String::from_utf8_lossy(&b.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        };
        format!("{}{}", text(&self.stdout), text(&self.stderr))
    }

    /// Waits for Terraform to exit, up to `timeout` (then kills its group and panics), and
    /// returns what it did.
    pub fn wait(mut self, timeout: Duration) -> TfOutput {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    signal_group(self.pid(), "KILL");
                    let _ = self.child.wait();
                    panic!(
                        "`{}` did not exit within {timeout:?}; killed it\n{}",
                        self.command,
                        self.output_so_far()
                    );
                }
                Err(e) => panic!("waiting for `{}`: {e}", self.command),
            }
        };
        self.finished = true;
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let text = |b: &Arc<Mutex<Vec<u8>>>| {
            String::from_utf8_lossy(&b.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        };
        TfOutput {
            command: self.command.clone(),
            code: status.code().unwrap_or(-1),
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if !self.finished || self.group_is_running() {
            signal_group(self.pid(), "KILL");
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A server that never answers

/// Listens on `127.0.0.1`, accepts every connection and holds it open without reading or
/// answering: a server that is up but stuck. Stops on drop.
#[derive(Debug)]
pub struct SilentServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let addr = listener.local_addr().expect("its address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (Arc::clone(&accepted), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    count.fetch_add(1, Ordering::SeqCst);
                    held.push(c);
                }
            }
        });
        SilentServer {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A delaying, recording proxy

/// A TCP proxy on `127.0.0.1` in front of an `http://` server: each chunk a client sends is
/// held for `delay` before it is passed on (so every request is answered at least `delay`
/// late), and the traffic is recorded both ways. Stops on drop.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    to_server: Arc<Mutex<Vec<u8>>>,
    to_client: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Duration,
    record: Arc<Mutex<Vec<u8>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&buf[..n]);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    })
}

impl Proxy {
    /// A proxy to `upstream` (`http://HOST:PORT`) delaying what clients send by `delay`.
    pub fn start(upstream: &str, delay: Duration) -> Proxy {
        let target = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the proxy forwards plain http, not {upstream}"))
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let addr = listener.local_addr().expect("its address");
        let to_server = Arc::new(Mutex::new(Vec::new()));
        let to_client = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (up, down, stopping) = (
            Arc::clone(&to_server),
            Arc::clone(&to_client),
            Arc::clone(&stop),
        );
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue; // the client sees its connection closed
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                pipe(client, server, delay, Arc::clone(&up));
                pipe(s2, c2, Duration::ZERO, Arc::clone(&down));
            }
        });
        Proxy {
            addr,
            to_server,
            to_client,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything clients sent through the proxy so far.
    pub fn to_server(&self) -> String {
        String::from_utf8_lossy(&self.to_server.lock().unwrap_or_else(|e| e.into_inner()))
            .into_owned()
    }

    /// Everything the server answered through the proxy so far.
    pub fn to_client(&self) -> String {
        String::from_utf8_lossy(&self.to_client.lock().unwrap_or_else(|e| e.into_inner()))
            .into_owned()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every distinct match of `prefix` followed by token characters (`A-Z a-z 0-9 - _`) in
/// `text`: the secrets of a kind (`wft_`, `wfc_`) seen in some traffic or file.
pub fn find_tokens(text: &str, prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let tail = &rest[i + prefix.len()..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        let token = &rest[i..i + prefix.len() + len];
        if len > 0 && !found.iter().any(|f| f == token) {
            found.push(token.to_string());
        }
        rest = &rest[i + prefix.len()..];
    }
    found
}

/// Every distinct JSON Web Token in `text` (three base64url parts, the first `eyJ`), in
/// order of first appearance: the control plane's exchange and API tokens on the wire.
pub fn find_jwts(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("eyJ") {
        let tail = &rest[i..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .unwrap_or(tail.len());
        let token = &tail[..len];
        if token.split('.').count() == 3
            && token.split('.').all(|p| !p.is_empty())
            && !found.iter().any(|f| f == token)
        {
            found.push(token.to_string());
        }
        rest = &rest[i + len.max(3)..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_found_whole() {
        let text = r#"{"token":"eyJa.eyJb.c-_d"} Bearer eyJa.eyJb.c-_d, eyJnot.whole x eyJe.f.g"#;
        assert_eq!(find_jwts(text), ["eyJa.eyJb.c-_d", "eyJe.f.g"]);
    }

    #[test]
    fn tokens_are_found_by_prefix() {
        let text = r#"{"token":"wft_abc-DEF_1"} Bearer wft_abc-DEF_1 x wft_ wfc_Z9"#;
        assert_eq!(find_tokens(text, "wft_"), ["wft_abc-DEF_1"]);
        assert_eq!(find_tokens(text, "wfc_"), ["wfc_Z9"]);
        assert!(find_tokens("nothing", "wft_").is_empty());
    }

    #[test]
    fn the_silent_server_accepts_and_never_answers() {
        let s = SilentServer::start();
        let mut c = TcpStream::connect(s.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 16];
        let err = c.read(&mut buf).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        assert_eq!(s.accepted(), 1);
    }
}
