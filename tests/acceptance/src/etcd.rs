//! A local etcd cluster on loopback: members started as child processes, each with its own
//! data directory and free ports, killed and restarted one at a time.
//!
//! Shared, like [`crate::launch`], by the acceptance harness, the control plane's replica
//! tests and `cargo xtask cluster` (compiled in with `#[path]`), so it depends on `std` and
//! `anyhow` only. The etcd binary is `$WAYFINDER_ETCD`, else `etcd` on `PATH`; Debian's
//! `etcd-server` package installs it (`.ci/run` does on a fresh machine).

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// How long a cluster may take to become healthy (measured here: 1–2.5 s from cold).
pub const HEALTHY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times [`LocalEtcd::start`] starts a cluster whose member exits at start.
const START_ATTEMPTS: usize = 3;

/// The etcd binary: `$WAYFINDER_ETCD`, else `etcd` found on `PATH`.
pub fn etcd_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("WAYFINDER_ETCD").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("WAYFINDER_ETCD={} is not a file", path.display());
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("etcd"))
            .find(|p| p.is_file())
    });
    found.context(
        "etcd is not installed: install Debian's etcd-server and etcd-client packages \
         (`apt-get install etcd-server etcd-client`; .ci/run does on a fresh machine), or set \
         WAYFINDER_ETCD to an etcd binary",
    )
}

/// A port the operating system had free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// One member: its name, directory, ports and (while it runs) its process.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub dir: PathBuf,
    pub client_port: u16,
    pub peer_port: u16,
    child: Option<Child>,
}

impl Member {
    /// `http://127.0.0.1:CLIENT_PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its log file.
    pub fn log(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }
}

/// A local etcd cluster; every member it started is stopped on drop unless
/// [`detach`](LocalEtcd::detach)ed.
#[derive(Debug)]
pub struct LocalEtcd {
    binary: PathBuf,
    members: Vec<Member>,
    initial_cluster: String,
}

impl LocalEtcd {
    /// Starts `n` members under `root` (one directory each, `root/m0`, ...) on free loopback
    /// ports and waits until every one reports healthy.
    pub fn start(root: &Path, n: usize) -> Result<Self> {
        // A port found free can be taken by another process (a test running beside this
        // one) before etcd binds it: a member that exits at start is tried again, on new
        // ports, in a fresh directory.
        let mut last = None;
        for attempt in 0..START_ATTEMPTS {
            let dir = root.join(format!("try-{attempt}"));
            match Self::start_once(&dir, n) {
                Ok(cluster) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_once(root: &Path, n: usize) -> Result<Self> {
        let binary = etcd_binary()?;
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let mut members = Vec::with_capacity(n);
        for i in 0..n {
            members.push(Member {
                name: format!("m{i}"),
                dir: root.join(format!("m{i}")),
                client_port: free_port()?,
                peer_port: free_port()?,
                child: None,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            binary,
            members,
            initial_cluster,
        };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        cluster.wait_healthy(HEALTHY_TIMEOUT)?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let initial_cluster = self.initial_cluster.clone();
        let binary = self.binary.clone();
        let m = &mut self.members[i];
        fs::create_dir_all(&m.dir).with_context(|| format!("creating {}", m.dir.display()))?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log())
            .with_context(|| format!("opening {}", m.log().display()))?;
        let child = Command::new(&binary)
            .arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(m.dir.join("data"))
            .arg("--listen-client-urls")
            .arg(m.endpoint())
            .arg("--advertise-client-urls")
            .arg(m.endpoint())
            .arg("--listen-peer-urls")
            .arg(m.peer_url())
            .arg("--initial-advertise-peer-urls")
            .arg(m.peer_url())
            .arg("--initial-cluster")
            .arg(&initial_cluster)
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg("wayfinder-local")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        m.child = Some(child);
        Ok(())
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Every member's client URL, comma-separated (`--etcd-endpoints`).
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(Member::endpoint)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills member `i` with SIGKILL, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory and ports.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.kill(i);
        self.spawn(i)
    }

    /// Waits until every running member answers `/health` with `true`.
    pub fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                continue;
            }
            loop {
                if let Some(child) = self.members[i].child.as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    let log = fs::read_to_string(self.members[i].log()).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    bail!(
                        "etcd member {} exited ({status}); the end of {}:\n{}",
                        self.members[i].name,
                        self.members[i].log().display(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                if healthy(self.members[i].client_port) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "etcd member {} was not healthy within {timeout:?}; see {}",
                        self.members[i].name,
                        self.members[i].log().display()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Leaves the members running after this value is gone; their process ids.
    pub fn detach(mut self) -> Vec<u32> {
        self.members
            .iter_mut()
            .filter_map(|m| m.child.take().map(|c| c.id()))
            .collect()
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// Whether the member on `port` answers `GET /health` with `"health":"true"`.
pub fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.replace(' ', "").contains("\"health\":\"true\"")
}
