//! Rows 1, 2 and 6: what the provider adds to `terraform plan` and `apply`.
//!
//! Ours: N `wayfinder_compute_template` resources (or 100 `wayfinder_cluster` resources)
//! through the release provider, installed from a filesystem mirror, against a release
//! `wayfinder-server` on a fresh data dir. Baseline: N `terraform_data` resources holding the
//! same values, which Terraform plans and applies itself with no plugin, run by the same CLI
//! with the same CLI configuration. Each run of ours is followed by the same run of the
//! baseline, so both see the same load.
//!
//! Every configuration is written out as N resource blocks (as `wayfinder-compile` writes a
//! catalog), not with `count`. `-detailed-exitcode` checks what each command did: a plan
//! from empty state must propose changes (2), a refreshing plan after apply must propose
//! none (0).

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};

use anyhow::{Context as _, Result, bail};

use super::{Ctx, Group, Row, Sample, Target, fresh_dir};
use crate::launch;
use crate::terraform;
use crate::util::{detail, step};

/// The N of the overhead rows; the targets apply at the largest.
const OVERHEAD_N: &[usize] = &[100, 1_000];
/// The extra growth point of a full run.
const GROWTH_LARGE_N: usize = 5_000;
/// Clusters in the self-service preview row.
const CLUSTERS: usize = 100;

// ---------------------------------------------------------------------------------------------
// A server

/// A release `wayfinder-server` on a fresh data dir, stopped on drop.
struct BenchServer {
    child: Option<Child>,
    url: String,
    token: String,
}

impl BenchServer {
    fn start(ctx: &Ctx, name: &str) -> Result<BenchServer> {
        let dir = fresh_dir(&ctx.dir.join("servers").join(name))?;
        let started = launch::start(
            &ctx.binary(launch::SERVER_BINARY),
            "127.0.0.1:0",
            &dir.join("data"),
            &dir.join("server.log"),
        )?;
        Ok(BenchServer {
            child: Some(started.child),
            url: started.url,
            token: started.token,
        })
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            launch::stop(&mut child);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A Terraform working directory

struct Workdir<'a> {
    ctx: &'a Ctx,
    dir: PathBuf,
    log: PathBuf,
    cli_config: PathBuf,
    server: Option<(String, String)>,
}

impl<'a> Workdir<'a> {
    fn new(ctx: &'a Ctx, name: &str, config: &str) -> Result<Workdir<'a>> {
        let dir = fresh_dir(&ctx.dir.join("tf").join(name))?;
        fs::write(dir.join("main.tf"), config)
            .with_context(|| format!("writing {}", dir.join("main.tf").display()))?;
        Ok(Workdir {
            ctx,
            log: ctx.dir.join("tf").join(format!("{name}.log")),
            cli_config: ctx.dir.join("cli.tfrc"),
            dir,
            server: None,
        })
    }

    fn point_at(&mut self, server: &BenchServer) {
        self.server = Some((server.url.clone(), server.token.clone()));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = terraform::command(&self.ctx.terraform);
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("WAYFINDER_")) {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .current_dir(&self.dir)
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1");
        if let Some((url, token)) = &self.server {
            cmd.env("WAYFINDER_SERVER", url)
                .env("WAYFINDER_TOKEN", token);
        }
        cmd
    }

    /// Runs `terraform ARGS`; an error unless it exits with `expected`. Returns the time.
    fn time(&self, args: &[&str], expected: i32) -> Result<f64> {
        let what = format!("terraform {} (in {})", args.join(" "), self.dir.display());
        let mut cmd = self.command(args);
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let header = format!("\n$ terraform {}\n", args.join(" "));
        let _ = std::io::Write::write_all(&mut &file, header.as_bytes());
        cmd.stdout(file.try_clone()?).stderr(file);
        let start = std::time::Instant::now();
        let status = cmd
            .status()
            .with_context(|| format!("could not start `{what}`"))?;
        let took = start.elapsed().as_secs_f64();
        if status.code() != Some(expected) {
            bail!(
                "`{what}` exited {status}, expected {expected}; the end of {}:\n{}",
                self.log.display(),
                launch::log_tail(&self.log, 40)
            );
        }
        Ok(took)
    }

    fn init(&self) -> Result<()> {
        self.time(&["init", "-input=false", "-no-color"], 0)
            .map(|_| ())
    }

    /// A plan that must propose changes.
    fn plan_changes(&self) -> Result<f64> {
        self.time(
            &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
            2,
        )
    }

    /// A refreshing plan that must propose nothing.
    fn plan_empty(&self) -> Result<f64> {
        self.time(
            &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
            0,
        )
    }

    fn apply(&self) -> Result<f64> {
        self.time(&["apply", "-auto-approve", "-input=false", "-no-color"], 0)
    }

    /// Forgets the state, so the next apply creates everything again.
    fn forget_state(&self) -> Result<()> {
        for f in ["terraform.tfstate", "terraform.tfstate.backup"] {
            let p = self.dir.join(f);
            if p.exists() {
                fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        Ok(())
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Configurations

const REQUIRED_PROVIDERS: &str = r#"terraform {
  required_providers {
    wayfinder = {
      source = "wayfinder/wayfinder"
    }
  }
}
"#;

/// N compute templates, as an administrator's catalog holds them.
fn compute_templates(n: usize) -> String {
    let mut out = String::from(REQUIRED_PROVIDERS);
    for i in 0..n {
        let _ = write!(
            out,
            r#"
resource "wayfinder_compute_template" "t{i:05}" {{
  name           = "bench-{i:05}"
  description    = "General purpose nodes {i}"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "compute"
    machine      = "m6i.large"
    disk_size    = 100
    size         = 2

    autoscaling {{
      enabled  = true
      min_size = 1
      max_size = 5
    }}
  }}
}}
"#
        );
    }
    out
}

/// N `terraform_data` resources holding the same values as [`compute_templates`].
fn data_templates(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let _ = write!(
            out,
            r#"
resource "terraform_data" "t{i:05}" {{
  input = {{
    name           = "bench-{i:05}"
    description    = "General purpose nodes {i}"
    cloud_provider = "EKS"
    node_pools = [{{
      logical_name = "compute"
      machine      = "m6i.large"
      disk_size    = 100
      size         = 2
      autoscaling  = {{ enabled = true, min_size = 1, max_size = 5 }}
    }}]
  }}
}}
"#
        );
    }
    out
}

/// N clusters of the published plan `eks-general-purpose` 1.3.0 in workspace `pay`, each
/// with its own node pool; planning each is a server dry run (admission with the
/// provisioning policy, and the cost estimate).
fn clusters(n: usize) -> String {
    let mut out =
        format!("{REQUIRED_PROVIDERS}\nprovider \"wayfinder\" {{\n  workspace = \"pay\"\n}}\n");
    let blocks = wayfinder_acceptance::catalog::cluster_blocks("m6i.large", 4, 22);
    for i in 0..n {
        let _ = write!(
            out,
            r#"
resource "wayfinder_cluster" "c{i:04}" {{
  name        = "bench-{i:04}"
  description = "Benchmark cluster {i}"
  stage       = "nonprod"
  region      = "eu-west-2"

{blocks}
}}
"#
        );
    }
    out
}

/// N `terraform_data` resources holding the same values as [`clusters`].
fn data_clusters(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let _ = write!(
            out,
            r#"
resource "terraform_data" "c{i:04}" {{
  input = {{
    name             = "bench-{i:04}"
    description      = "Benchmark cluster {i}"
    stage            = "nonprod"
    region           = "eu-west-2"
    plan             = {{ name = "eks-general-purpose", version = "1.3.0" }}
    cloud_access_ref = {{ workspace = "admin", name = "aws-nonprod" }}
    node_pools = [{{
      logical_name = "compute"
      machine      = "m6i.large"
      disk_size    = 100
      size         = 2
      autoscaling  = {{ enabled = true, min_size = 2, max_size = 4 }}
    }}]
    network = {{ size = 22 }}
  }}
}}
"#
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Rows

/// Plan samples of one N, paired run by run.
struct PlanPair {
    n: usize,
    ours: Sample,
    base: Sample,
}

pub fn run(ctx: &Ctx, overhead: bool, preview: bool, growth: bool) -> Result<Vec<Row>> {
    let mirror = ctx.dir.join("mirror");
    if mirror.exists() {
        fs::remove_dir_all(&mirror).with_context(|| format!("removing {}", mirror.display()))?;
    }
    terraform::build_mirror(&mirror, &ctx.provider)?;
    fs::write(
        ctx.dir.join("cli.tfrc"),
        terraform::cli_config(Some(&mirror)),
    )
    .context("writing the CLI configuration")?;
    let servers = ctx.dir.join("servers");
    let result = rows(ctx, overhead, preview, growth);
    // The servers' data (thousands of objects) is not worth keeping.
    let _ = fs::remove_dir_all(&servers);
    result
}

fn rows(ctx: &Ctx, overhead: bool, preview: bool, growth: bool) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut plans: Vec<PlanPair> = Vec::new();
    if overhead || growth {
        for &n in OVERHEAD_N {
            let (pair, more) = step(
                &format!("terraform overhead: {n} compute templates vs {n} terraform_data"),
                || overhead_rows(ctx, n, overhead),
            )?;
            plans.push(pair);
            rows.extend(more);
        }
    }
    if growth && !ctx.quick {
        let n = GROWTH_LARGE_N;
        let (pair, _) = step(
            &format!("growth: plan of {n} compute templates vs {n} terraform_data"),
            || overhead_rows(ctx, n, false),
        )?;
        plans.push(pair);
    }
    if preview {
        rows.push(step(
            &format!(
                "self-service preview: plan of {CLUSTERS} clusters vs {CLUSTERS} terraform_data"
            ),
            || preview_row(ctx),
        )?);
    }
    if growth {
        rows.extend(growth_rows(&plans));
    }
    Ok(rows)
}

/// Plans (and with `full`, applies and refreshing plans) of N templates against N
/// `terraform_data`.
fn overhead_rows(ctx: &Ctx, n: usize, full: bool) -> Result<(PlanPair, Vec<Row>)> {
    let mut ours = Workdir::new(ctx, &format!("templates-{n}"), &compute_templates(n))?;
    let base = Workdir::new(ctx, &format!("data-{n}"), &data_templates(n))?;
    let mut server = BenchServer::start(ctx, &format!("templates-{n}"))?;
    ours.point_at(&server);
    ours.init()?;
    base.init()?;

    let mut pair = PlanPair {
        n,
        ours: Sample::default(),
        base: Sample::default(),
    };
    for _ in 0..ctx.runs {
        pair.ours.push(ours.plan_changes()?);
        pair.base.push(base.plan_changes()?);
    }
    detail(format_args!(
        "plan: {:.2} s vs {:.2} s",
        pair.ours.median(),
        pair.base.median()
    ));
    let mut rows = Vec::new();
    let target_at = |t: Target| (n == *OVERHEAD_N.last().unwrap_or(&0)).then_some(t);
    let with_target = |row: Row, t: Option<Target>| match t {
        Some(t) => row.target(t),
        None => row,
    };
    if !full {
        return Ok((pair, rows));
    }
    rows.push(with_target(
        Row::new(
            Group::Terraform,
            format!("terraform plan, {n} wayfinder_compute_template"),
            "s",
            pair.ours.clone(),
        )
        .against(
            format!("terraform plan, {n} terraform_data"),
            pair.base.clone(),
        ),
        target_at(Target::AtMost(1.5)),
    ));

    // Apply from empty state, each run against a fresh server.
    let (mut apply_ours, mut apply_base) = (Sample::default(), Sample::default());
    for run in 0..ctx.runs {
        if run > 0 {
            drop(server);
            server = BenchServer::start(ctx, &format!("templates-{n}"))?;
            ours.point_at(&server);
            ours.forget_state()?;
            base.forget_state()?;
        }
        apply_ours.push(ours.apply()?);
        apply_base.push(base.apply()?);
    }
    detail(format_args!(
        "apply: {:.2} s vs {:.2} s",
        apply_ours.median(),
        apply_base.median()
    ));
    rows.push(with_target(
        Row::new(
            Group::Terraform,
            format!("terraform apply, {n} wayfinder_compute_template"),
            "s",
            apply_ours,
        )
        .against(format!("terraform apply, {n} terraform_data"), apply_base),
        target_at(Target::AtMost(1.3)),
    ));

    // Refreshing plans of what the last apply made: must be empty.
    let (mut refresh_ours, mut refresh_base) = (Sample::default(), Sample::default());
    for _ in 0..ctx.runs {
        refresh_ours.push(ours.plan_empty()?);
        refresh_base.push(base.plan_empty()?);
    }
    detail(format_args!(
        "refreshing plan: {:.2} s vs {:.2} s",
        refresh_ours.median(),
        refresh_base.median()
    ));
    rows.push(with_target(
        Row::new(
            Group::Terraform,
            format!("terraform plan (refresh), {n} applied wayfinder_compute_template"),
            "s",
            refresh_ours,
        )
        .against(
            format!("terraform plan (refresh), {n} applied terraform_data"),
            refresh_base,
        ),
        target_at(Target::AtMost(2.0)),
    ));
    Ok((pair, rows))
}

/// The platform a cluster needs (as the acceptance tests publish it) and a provisioning
/// policy that applies to the clusters, so each dry run evaluates one.
fn publish_platform(server: &BenchServer) -> Result<()> {
    let api = wayfinder_acceptance::ApiClient::new(&server.url, Some(&server.token));
    // The harness's helpers panic on an unexpected answer (they are test helpers); turn that
    // into an error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wayfinder_acceptance::catalog::publish_platform(&api);
        let policy =
            wayfinder_acceptance::catalog::fixture("provisioning_policy.yaml", "nonprod-aws");
        wayfinder_acceptance::catalog::create(&api, &policy, None);
    }))
    .map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        anyhow::anyhow!("publishing the platform through the API failed: {message}")
    })
}

fn preview_row(ctx: &Ctx) -> Result<Row> {
    let server = BenchServer::start(ctx, "clusters")?;
    publish_platform(&server)?;
    let mut ours = Workdir::new(ctx, &format!("clusters-{CLUSTERS}"), &clusters(CLUSTERS))?;
    ours.point_at(&server);
    let base = Workdir::new(
        ctx,
        &format!("data-clusters-{CLUSTERS}"),
        &data_clusters(CLUSTERS),
    )?;
    ours.init()?;
    base.init()?;
    let (mut o, mut b) = (Sample::default(), Sample::default());
    for run in 0..ctx.runs {
        o.push(ours.plan_changes()?);
        b.push(base.plan_changes()?);
        if run == 0 {
            // The preview must really be there: every cluster's plan shows its cost.
            let shown = ours.log_text().matches("currency").count();
            if shown < CLUSTERS {
                bail!(
                    "the plan of {CLUSTERS} clusters shows {shown} cost estimates; expected one \
                     per cluster (see {})",
                    ours.log.display()
                );
            }
        }
    }
    detail(format_args!(
        "plan: {:.2} s vs {:.2} s",
        o.median(),
        b.median()
    ));
    Ok(Row::new(
        Group::Preview,
        format!("terraform plan, {CLUSTERS} wayfinder_cluster (dry run, policy, cost)"),
        "s",
        o,
    )
    .against(format!("terraform plan, {CLUSTERS} terraform_data"), b)
    .target(Target::AtMost(2.0)))
}

/// Per-resource provider share of plan time at each N (run by run: ours minus the baseline's
/// run beside it, over N), and whether it stays flat from one N to the next.
fn growth_rows(plans: &[PlanPair]) -> Vec<Row> {
    let share = |p: &PlanPair| Sample {
        values: p
            .ours
            .values
            .iter()
            .zip(&p.base.values)
            .map(|(o, b)| (o - b) / p.n as f64 * 1000.0)
            .collect(),
    };
    let mut rows = Vec::new();
    for p in plans {
        rows.push(
            Row::new(
                Group::Growth,
                format!("provider share of plan per resource, N = {}", p.n),
                "ms",
                share(p),
            )
            .against(
                format!("terraform_data plan per resource, N = {}", p.n),
                p.base.map(|s| s / p.n as f64 * 1000.0),
            )
            .note(format!(
                "(our plan − terraform_data's plan) / N, run by run; plan {} s vs {} s",
                super::fmt_num(p.ours.median()),
                super::fmt_num(p.base.median())
            )),
        );
    }
    if let [.., smaller, larger] = plans {
        rows.push(
            Row::new(
                Group::Growth,
                format!(
                    "growth: provider share per resource, N = {} over N = {}",
                    larger.n, smaller.n
                ),
                "ms",
                share(larger),
            )
            .against(
                format!("provider share per resource, N = {}", smaller.n),
                share(smaller),
            )
            .target(Target::AtMost(1.5))
            .note(
                "linear growth keeps the per-resource share flat (ratio about 1; fixed costs \
                 such as starting the provider make it fall); above 1.5 means it grows faster \
                 than linearly",
            ),
        );
    }
    rows
}
