//! `cargo xtask cluster`: a replicated control plane on this machine — a 3-member etcd
//! cluster and N `wayfinder-server` replicas on it, all on loopback, left running.
//!
//! Everything lives in `target/cluster/`: a directory per etcd member (`etcd/m0`, ...) and per
//! replica (`replica-0`, ...: its data directory and log), `pids` (every process, one
//! `ROLE PID` line each), `mirror/` and `cli.tfrc` (the provider built here, installed
//! by Terraform from a filesystem mirror) and `env.sh` (what Terraform, the provider and
//! `etcdctl` need). `--stop` stops whatever `pids` names and keeps the data; `--reset` also
//! removes it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::etcd::LocalEtcd;
use crate::launch;
use crate::terraform;
use crate::util::{bin_dir, cargo, detail, repo_root, run_command, say, step, target_dir};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many wayfinder-server replicas to start.
    #[arg(long, default_value_t = 2)]
    pub replicas: usize,
    /// How many etcd members (an odd number: 3 survives the loss of one).
    #[arg(long, default_value_t = 3)]
    pub members: usize,
    /// Stop the processes a previous run left (their data stays).
    #[arg(long)]
    pub stop: bool,
    /// With --stop, or before starting: remove target/cluster/ as well.
    #[arg(long)]
    pub reset: bool,
}

fn root_dir(root: &Path) -> PathBuf {
    target_dir(root).join("cluster")
}

pub fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    let dir = root_dir(&root);
    let pids = dir.join("pids");
    stop_recorded(&pids);
    if args.stop {
        if args.reset && dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            say(format_args!("removed {}", dir.display()));
        }
        return Ok(());
    }
    if args.replicas == 0 || args.members == 0 {
        bail!("--replicas and --members must be at least 1");
    }
    if dir.exists() {
        // A fresh cluster each time: etcd members take new ports, so old data would not
        // find its peers.
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let server_build = [
        "build",
        "-p",
        "wayfinder-controlplane",
        "--features",
        "etcd",
        "--bin",
        "wayfinder-server",
    ];
    // Separately: with several `-p`, `--features wayfinder-controlplane/etcd` left the
    // server built without it.
    let tools_build = [
        "build",
        "-p",
        "terraform-provider-wayfinder",
        "-p",
        "wayfinder-compiler",
        "--bins",
    ];
    step(
        "building wayfinder-server with the etcd backend, the provider and the compiler",
        || {
            run_command(
                &mut cargo(&root, &server_build),
                "cargo build -p wayfinder-controlplane --features etcd",
            )?;
            run_command(
                &mut cargo(&root, &tools_build),
                "cargo build -p terraform-provider-wayfinder -p wayfinder-compiler --bins",
            )
        },
    )?;
    let server = bin_dir(&root).join(launch::SERVER_BINARY);
    let mirror = dir.join("mirror");
    let cli_config = dir.join("cli.tfrc");
    terraform::build_mirror(&mirror, &bin_dir(&root).join(terraform::PROVIDER_BINARY))?;
    fs::write(&cli_config, terraform::cli_config(Some(&mirror)))
        .with_context(|| format!("writing {}", cli_config.display()))?;

    let mut recorded = String::new();
    let etcd = step(
        &format!("starting {} etcd members on loopback", args.members),
        || LocalEtcd::start(&dir.join("etcd"), args.members),
    )?;
    let endpoints = etcd.endpoints();
    for m in etcd.members() {
        detail(format_args!(
            "{} {} (pid {}, data {})",
            m.name,
            m.endpoint(),
            m.pid().unwrap_or_default(),
            m.dir.display()
        ));
        recorded.push_str(&format!(
            "etcd-{} {}\n",
            m.name,
            m.pid().unwrap_or_default()
        ));
    }

    let mut urls = Vec::new();
    let mut children = Vec::new();
    let mut token_file = None;
    for i in 0..args.replicas {
        let data = dir.join(format!("replica-{i}"));
        let log = data.join("server.log");
        fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        let started = step(&format!("starting replica {i}"), || {
            launch::start_replica(
                &server,
                "127.0.0.1:0",
                &data,
                &log,
                &["--store", "etcd", "--etcd-endpoints", &endpoints],
            )
        })?;
        detail(format_args!(
            "{} (pid {}, data {})",
            started.url,
            started.child.id(),
            data.display()
        ));
        if started.token.is_some() && token_file.is_none() {
            token_file = Some(data.join("admin-token"));
        }
        recorded.push_str(&format!("replica-{i} {}\n", started.child.id()));
        urls.push(started.url.clone());
        children.push(started.child);
    }
    // From here on the processes outlive this command.
    let _ = etcd.detach();
    drop(children);
    fs::write(&pids, &recorded).with_context(|| format!("writing {}", pids.display()))?;

    let token_file = token_file.context(
        "no replica wrote an administrator token: the control plane already had one (see the replicas' logs)",
    )?;
    let env = dir.join("env.sh");
    fs::write(
        &env,
        format!(
            "export WAYFINDER_SERVER={}\nexport WAYFINDER_TOKEN=\"$(cat {})\"\nexport TF_CLI_CONFIG_FILE={}\nexport ETCDCTL_API=3\nexport ETCDCTL_ENDPOINTS={}\n",
            urls[0],
            token_file.display(),
            cli_config.display(),
            endpoints
        ),
    )
    .with_context(|| format!("writing {}", env.display()))?;

    say("the control plane is running");
    detail(format_args!("replicas: {}", urls.join(" ")));
    detail(format_args!("etcd endpoints: {endpoints}"));
    detail(format_args!(
        "administrator token: {} (written by the replica that created it; the others say one exists)",
        token_file.display()
    ));
    detail(format_args!(
        "use it: `source {}` (Terraform then installs the provider from {}), then the quickstart from its step 2 (examples/quickstart/README.md)",
        env.display(),
        mirror.display()
    ));
    detail(format_args!(
        "fail something: `kill -9 PID` of a member or a replica ({}); writes keep being served",
        pids.display()
    ));
    detail(format_args!(
        "back up: `etcdctl --endpoints {endpoints} snapshot save backup.db` (see docs/etcd.md)"
    ));
    detail("stop: `cargo xtask cluster --stop` (add --reset to remove target/cluster/)");
    Ok(())
}

/// Stops every process a previous run recorded in `pids`.
fn stop_recorded(pids: &Path) {
    let Ok(text) = fs::read_to_string(pids) else {
        return;
    };
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(role), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if launch::is_running(pid) {
            launch::terminate(pid);
            say(format_args!("stopped {role} (pid {pid})"));
        }
    }
    let _ = fs::remove_file(pids);
}
