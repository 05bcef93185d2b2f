//! `wayfinder-server --listen 127.0.0.1:PORT --data-dir DIR`
//!
//! Prints exactly one line to stdout once the port is bound,
//! `wayfinder-server listening on http://ADDR` (`https://` with `--tls-cert` and
//! `--tls-key`), and logs to stderr; each request's log line carries its request id. Stops gracefully on
//! SIGINT or SIGTERM. Errors print their whole chain to stderr and exit with status 1
//! (2 for a bad command line).
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};
use tokio::signal::unix::{SignalKind, signal};
use wayfinder_controlplane::conn::ConnectionLimits;
use wayfinder_controlplane::logging::{self, LogFormat};
use wayfinder_controlplane::quota::Quotas;
use wayfinder_controlplane::ratelimit::{RateLimit, RateLimitError};
use wayfinder_controlplane::tls::TlsFiles;
use wayfinder_controlplane::{Config, serve};

/// The control plane allocates many small, short-lived objects across threads (JSON
/// values, model objects): mimalloc serves that faster than the system allocator. The
/// store benchmark uses the same allocator, so it measures the server as shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Wayfinder-compatible control plane: REST API, tokens and roles, admission, store.
#[derive(Debug, Parser)]
#[command(name = "wayfinder-server", version)]
struct Cli {
    /// Address to listen on, IP:PORT (port 0 lets the OS choose).
    #[arg(long, value_name = "IP:PORT", value_parser = parse_listen)]
    listen: SocketAddr,
    /// Directory for the store (wayfinder.db) and the administrator token (admin-token);
    /// created if missing.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Log line format (logs go to stderr).
    #[arg(long, value_enum, default_value_t = CliLogFormat::Text)]
    log_format: CliLogFormat,
    /// Log filter, e.g. info or debug; the WAYFINDER_LOG environment variable overrides it.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log_level: String,
    /// Revoke the administrator token and write a new one to DIR/admin-token (to recover
    /// a lost token file).
    #[arg(long)]
    reset_admin_token: bool,
    /// How long the simulated cloud takes to provision a cluster, e.g. 2s or 500ms. A
    /// cluster labelled wayfinder.dev/simulate=fail fails instead.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    sim_provision_time: std::time::Duration,
    /// The driver of a cloud's clusters, CLOUD=DRIVER (repeatable): aws=api builds EKS
    /// clusters through the AWS APIs (EKS, EC2, IAM, STS) with the standard AWS_*
    /// credentials; every cloud is `simulated` by default.
    #[arg(long = "cloud-driver", value_name = "CLOUD=DRIVER", value_parser = wayfinder_controlplane::parse_cloud_driver)]
    cloud_driver: Vec<(String, wayfinder_controlplane::DriverKind)>,
    /// The AWS endpoint for a local emulator such as moto, e.g. http://127.0.0.1:5000
    /// (else the standard AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    aws_endpoint_url: Option<String>,
    /// How often a cluster built through a cloud's APIs is checked for drift and put back
    /// to its spec, e.g. 30s or 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    drift_check_interval: std::time::Duration,
    /// Serve HTTPS with this PEM certificate (chain); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Limit each client to this many requests per second, e.g. 50 or 0.5: a token bucket
    /// per bearer token (requests without one share a bucket); over the limit the server
    /// answers 429 Too Many Requests with Retry-After. /healthz and /readyz are never
    /// limited. Off by default.
    #[arg(long, value_name = "REQS_PER_SEC")]
    rate_limit: Option<f64>,
    /// With --rate-limit: how many requests a client may send at once after a quiet spell
    /// (the bucket's size). Default: twice --rate-limit, at least 1.
    #[arg(long, value_name = "N", requires = "rate_limit")]
    rate_limit_burst: Option<u32>,
    /// Close a connection whose request head (request line and headers) has not arrived
    /// this long after the server started waiting for it; this also closes kept-alive
    /// connections that send no next request.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive_duration)]
    header_read_timeout: std::time::Duration,
    /// Close a connection on which no byte moved either way for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_positive_duration)]
    idle_timeout: std::time::Duration,
    /// Close a connection whose TLS handshake has not finished in this time (with
    /// --tls-cert).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive_duration)]
    tls_handshake_timeout: std::time::Duration,
    /// Serve at most this many connections at once; past it the server accepts no more
    /// until one closes.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Close at once a new connection from an address that already holds this many.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,
    /// Most objects one workspace may hold (every workspaced kind together); a create past
    /// it is refused with 403 naming the quota. Off by default.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    workspace_max_objects: Option<u64>,
    /// Most bytes (stored JSON) one workspace's objects may take together, e.g. 64MiB or
    /// 1000000. Off by default.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    workspace_max_bytes: Option<u64>,
    /// Longest lifetime of a workspace access token, e.g. 720h: a token asking for longer,
    /// or for none, is refused. Tokens minted by another token are bounded by their maker
    /// whatever this says. Off by default.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    max_token_ttl: Option<std::time::Duration>,
    /// Estimate costs with this price catalog (JSON, the format of the built-in
    /// model/data/price-catalog.json) instead of the built-in one: e.g. negotiated prices, or
    /// a region or instance type the built-in one lacks.
    #[arg(long, value_name = "FILE")]
    price_catalog: Option<PathBuf>,
    /// Where objects live: `sqlite` (the file wayfinder.db in --data-dir; one server) or
    /// `etcd` (an etcd cluster every replica shares; --etcd-endpoints; needs a server built
    /// with the `etcd` feature). See docs/etcd.md.
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// The etcd cluster's client URLs, comma-separated (`--store etcd`).
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// The CA that signed the etcd members' certificates (client TLS).
    #[arg(long, value_name = "FILE")]
    etcd_ca: Option<PathBuf>,
    /// This server's client certificate for etcd (mutual TLS), with --etcd-key.
    #[arg(long, value_name = "FILE", requires = "etcd_key", requires = "etcd_ca")]
    etcd_cert: Option<PathBuf>,
    /// The key of --etcd-cert.
    #[arg(long, value_name = "FILE", requires = "etcd_cert")]
    etcd_key: Option<PathBuf>,
    /// Every key this control plane writes lives under this prefix.
    #[arg(long, value_name = "PREFIX", default_value = "/wayfinder")]
    etcd_prefix: String,
    /// The reconciler's leadership lease on etcd: when its replica dies, another takes over
    /// within about this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive_duration)]
    etcd_leader_ttl: std::time::Duration,
}

/// `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StoreKind {
    Sqlite,
    Etcd,
}

fn parse_positive_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("expected a duration above zero, got {s:?}"));
    }
    Ok(d)
}

/// `1000000`, `64KiB`, `64MiB`, `1GiB`.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("expected a size such as 1000000 or 64MiB, got {s:?}"))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "expected a size such as 1000000 or 64MiB (units B, KiB, MiB, GiB), got {s:?}"
            ));
        }
    };
    match n.checked_mul(mult) {
        Some(b) if b > 0 => Ok(b),
        _ => Err(format!(
            "expected a size above zero and below 16 EiB, got {s:?}"
        )),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration such as 2s or 500ms, got {s:?}: {e}"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CliLogFormat {
    Text,
    Json,
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("expected an IP address and port such as 127.0.0.1:8080 or [::1]:0, got {s:?}")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rate_limit = match cli
        .rate_limit
        .map(|r| RateLimit::new(r, cli.rate_limit_burst))
    {
        Some(Err(e)) => {
            let flag = match e {
                RateLimitError::Rate(_) => "--rate-limit",
                RateLimitError::Burst => "--rate-limit-burst",
            };
            Cli::command()
                .error(ErrorKind::ValueValidation, format!("invalid {flag}: {e}"))
                .exit()
        }
        Some(Ok(limit)) => Some(limit),
        None => None,
    };
    let format = match cli.log_format {
        CliLogFormat::Text => LogFormat::Text,
        CliLogFormat::Json => LogFormat::Json,
    };
    if let Err(e) = logging::init(format, &cli.log_level) {
        eprintln!("wayfinder-server: error: {:#}", anyhow::Error::new(e));
        return ExitCode::from(2);
    }
    match run(cli, rate_limit) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("wayfinder-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, rate_limit: Option<RateLimit>) -> anyhow::Result<()> {
    if let Some(path) = &cli.price_catalog {
        let c = wayfinder_controlplane::prices::use_file(path)?;
        tracing::info!(catalog = %path.display(), date = %c.date, "price catalog");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Install the handlers before anything else, so an early signal stops us cleanly.
        let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let shutdown = async move {
            let name = tokio::select! {
                _ = sigterm.recv() => "SIGTERM",
                _ = sigint.recv() => "SIGINT",
            };
            tracing::info!("received {name}; shutting down after in-flight requests");
        };
        let mut config = Config::new(cli.listen, cli.data_dir);
        config.reset_admin_token = cli.reset_admin_token;
        config.sim_provision_time = cli.sim_provision_time;
        config.cloud_drivers = cli.cloud_driver.into_iter().collect();
        config.aws_endpoint_url = cli.aws_endpoint_url;
        config.drift_interval = cli.drift_check_interval;
        config.rate_limit = rate_limit;
        let mut limits = ConnectionLimits::default();
        limits.header_read_timeout = cli.header_read_timeout;
        limits.idle_timeout = cli.idle_timeout;
        limits.tls_handshake_timeout = cli.tls_handshake_timeout;
        limits.max_connections = cli.max_connections as usize;
        limits.max_connections_per_ip = cli.max_connections_per_ip as usize;
        config.connections = limits;
        config.quotas = Quotas {
            max_objects: cli.workspace_max_objects,
            max_bytes: cli.workspace_max_bytes,
        };
        config.max_token_ttl = cli.max_token_ttl;
        if cli.store == StoreKind::Etcd {
            let tls = cli.etcd_ca.map(|ca| (ca, cli.etcd_cert, cli.etcd_key));
            config.store = wayfinder_controlplane::etcd_store_choice(
                cli.etcd_endpoints,
                cli.etcd_prefix,
                tls,
                cli.etcd_leader_ttl,
            )
            .map_err(anyhow::Error::msg)?;
        }
        if let Some(limit) = rate_limit {
            tracing::info!("rate limit: {limit} per client");
        }
        if let (Some(cert), Some(key)) = (cli.tls_cert, cli.tls_key) {
            config.tls = Some(TlsFiles { cert, key });
        }
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        serve(config, |addr| announce(scheme, addr), shutdown).await?;
        Ok(())
    })
}

/// The one line on stdout that harnesses wait for.
fn announce(scheme: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    if let Err(e) =
        writeln!(out, "wayfinder-server listening on {scheme}://{addr}").and_then(|()| out.flush())
    {
        tracing::warn!("cannot write the listening line to stdout: {e}");
    }
}
