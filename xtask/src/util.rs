//! Paths, progress lines and running commands.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};

/// The repository root (xtask lives in `<root>/xtask`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo target directory: `$CARGO_TARGET_DIR`, else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => {
            std::path::absolute(PathBuf::from(dir)).unwrap_or_else(|_| root.join("target"))
        }
        None => root.join("target"),
    }
}

/// Where `cargo build` puts the workspace's binaries.
pub fn bin_dir(root: &Path) -> PathBuf {
    target_dir(root).join("debug")
}

static PROGRESS_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Sends progress lines to stderr, for a command whose stdout is its answer.
pub fn set_progress_to_stderr() {
    PROGRESS_TO_STDERR.store(true, Ordering::Relaxed);
}

fn progress(line: std::fmt::Arguments<'_>) {
    if PROGRESS_TO_STDERR.load(Ordering::Relaxed) {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// Prints a progress line.
pub fn say(message: impl std::fmt::Display) {
    progress(format_args!("==> {message}"));
}

/// Prints a detail line under a progress line.
pub fn detail(message: impl std::fmt::Display) {
    progress(format_args!("    {message}"));
}

/// `cargo` with the given arguments, run in the repository root.
pub fn cargo(root: &Path, args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(root);
    cmd
}

/// Runs a command with inherited stdio; an error naming `what` unless it exits 0.
pub fn run_command(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{what}`"))?;
    if !status.success() {
        bail!("`{what}` failed ({status})");
    }
    Ok(())
}

/// Prints the step, runs it, and names the step in its error.
pub fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    say(name);
    f().with_context(|| format!("step \"{name}\" failed"))
}
