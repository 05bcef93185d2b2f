//! OpenTofu for the version matrix: a real `tofu`, built from its Go module.
//!
//! No `tofu` binary is on the package registries this project's machines reach, but its
//! source is a Go module on the Go module proxy. [`install`] builds a pinned release with the
//! ordinary Go client into `target/opentofu/<version>/tofu`, with the module cache
//! (`GOPATH`) and build cache (`GOCACHE`) under `target/opentofu/` too, so a fresh machine
//! (CI's) does the same thing and a second run reuses the build.
//!
//! `go install github.com/opentofu/opentofu/cmd/tofu@vX.Y.Z` refuses OpenTofu: its `go.mod`
//! has a `replace` directive (OpenTofu's fork of HCL), which `go install pkg@version` does
//! not allow. So the module is fetched with `go mod download` and built as the main module
//! from the module cache (`go build ./cmd/tofu` in its directory), where the `replace`
//! applies and `go.sum` pins every dependency.
//!
//! `WAYFINDER_SKIP_OPENTOFU=1` leaves OpenTofu out of `cargo xtask test` (reported as a
//! skip); otherwise a failed build fails the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};

use crate::terraform::{self, Cli, OPENTOFU_LABEL_PREFIX};

/// OpenTofu's Go module.
pub const MODULE: &str = "github.com/opentofu/opentofu";

/// The OpenTofu releases `cargo xtask test` can build, oldest first. 1.12.6 needs Go 1.26.6
/// or newer (its `go.mod`).
pub const RELEASES: &[&str] = &["1.12.6"];

/// The release plain `cargo xtask test` runs the smoke subset on.
pub const DEFAULT_RELEASE: &str = "1.12.6";

/// Set to `1` to leave OpenTofu out of `cargo xtask test` (reported as a skip).
pub const ENV_SKIP_OPENTOFU: &str = "WAYFINDER_SKIP_OPENTOFU";

/// The environment variable naming the `go` executable to build with (else `go` on `PATH`,
/// else `/usr/local/go/bin/go`).
pub const ENV_GO: &str = "WAYFINDER_GO";

/// `tofu-1.12.6` (also `tofu-v1.12.6`, `opentofu-1.12.6`) → `Some("1.12.6")` when that
/// release is known; `Ok(None)` when `label` names no OpenTofu release at all (a Terraform
/// version).
pub fn release(label: &str) -> Result<Option<&'static str>> {
    let label = label.trim();
    let Some(wanted) = label
        .strip_prefix(OPENTOFU_LABEL_PREFIX)
        .or_else(|| label.strip_prefix("opentofu-"))
    else {
        return Ok(None);
    };
    let wanted = wanted.trim_start_matches('v');
    RELEASES
        .iter()
        .copied()
        .find(|r| *r == wanted)
        .map(Some)
        .ok_or_else(|| {
            anyhow!(
                "no buildable OpenTofu {wanted}: the releases `cargo xtask test` builds are {}",
                RELEASES
                    .iter()
                    .map(|r| format!("{OPENTOFU_LABEL_PREFIX}{r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// Whether `WAYFINDER_SKIP_OPENTOFU=1`.
pub fn skipped_by_env() -> bool {
    std::env::var(ENV_SKIP_OPENTOFU).is_ok_and(|v| v == "1")
}

/// Where OpenTofu builds live: `<target dir>/opentofu`.
pub fn install_root(target_dir: &Path) -> PathBuf {
    target_dir.join("opentofu")
}

/// The `tofu` executable of `version` under `install_root`.
pub fn binary_path(install_root: &Path, version: &str) -> PathBuf {
    install_root.join(version).join("tofu")
}

/// The `tofu` of `version` if it was built earlier and says it is that release.
pub fn installed(install_root: &Path, version: &str) -> Option<PathBuf> {
    let path = binary_path(install_root, version);
    if !path.is_file() {
        return None;
    }
    check(&path, version).ok().map(|()| absolute(&path))
}

/// Checks that `tofu version` names OpenTofu `version`, a release build (not `-dev`).
fn check(tofu: &Path, version: &str) -> Result<()> {
    let line = terraform::version(tofu)?;
    let found = terraform::CliVersion::parse(&line);
    if line != format!("OpenTofu v{version}") || found.map(|v| v.cli) != Some(Cli::OpenTofu) {
        bail!(
            "{} says {line:?}, expected \"OpenTofu v{version}\"",
            tofu.display()
        );
    }
    Ok(())
}

/// The `go` to build with: `WAYFINDER_GO`, `go` on `PATH`, or `/usr/local/go/bin/go`.
fn find_go() -> Result<PathBuf> {
    if let Some(go) = std::env::var_os(ENV_GO).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(go));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("go"))
            .find(|candidate| candidate.is_file())
    });
    if let Some(go) = on_path {
        return Ok(go);
    }
    let usual = PathBuf::from("/usr/local/go/bin/go");
    if usual.is_file() {
        return Ok(usual);
    }
    bail!(
        "Go is needed to build OpenTofu (from the Go module {MODULE}), and there is no `go` \
         on PATH, in {ENV_GO} or at /usr/local/go/bin/go. Install Go 1.26.6 or newer, or set \
         {ENV_SKIP_OPENTOFU}=1 to leave OpenTofu out (reported as a skip)"
    )
}

/// `go` with the environment of the build: module and build caches under `install_root`,
/// the local toolchain only (no toolchain download), no workspace, no cgo (as OpenTofu's
/// own release builds), module cache files writable (so `cargo clean` can remove them).
fn go_command(go: &Path, install_root: &Path) -> Command {
    let mut cmd = Command::new(go);
    cmd.env("GOPATH", install_root.join("gopath"))
        .env(
            "GOMODCACHE",
            install_root.join("gopath").join("pkg").join("mod"),
        )
        .env("GOCACHE", install_root.join("gocache"))
        .env("GOFLAGS", "-modcacherw -mod=readonly -buildvcs=false")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("CGO_ENABLED", "0")
        .env_remove("GOBIN")
        .stdin(Stdio::null());
    cmd
}

/// Builds OpenTofu `version` into `install_root/<version>/tofu` (unless it is there) and
/// returns its path. Safe to run again: the caches make a rebuild quick, and the binary is
/// moved into place only once built and checked.
pub fn install(install_root: &Path, version: &str, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    if let Some(path) = installed(install_root, version) {
        return Ok(path);
    }
    let go = find_go()?;
    std::fs::create_dir_all(install_root)
        .with_context(|| format!("creating {}", install_root.display()))?;
    let install_root = absolute(install_root);
    let module = format!("{MODULE}@v{version}");

    log(&format!(
        "{} mod download {module} (OpenTofu {version}'s source, from the Go module proxy)",
        go.display()
    ));
    let out = go_command(&go, &install_root)
        .args(["mod", "download", "-json", &module])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {} mod download", go.display()))?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if !out.status.success() {
        bail!(
            "`go mod download {module}` failed ({}): {}; the Go module proxy must be \
             reachable, or set {ENV_SKIP_OPENTOFU}=1 to leave OpenTofu out",
            out.status,
            info["Error"].as_str().unwrap_or("see above")
        );
    }
    let source = info["Dir"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("`go mod download -json {module}` named no directory"))?;

    let binary = binary_path(&install_root, version);
    let dir = binary.parent().unwrap_or(&install_root).to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = dir.join(format!(".tofu.partial-{}", std::process::id()));
    log(&format!(
        "go build -trimpath -o {} ./cmd/tofu (in {}; the first build takes minutes)",
        binary.display(),
        source.display()
    ));
    let status = go_command(&go, &install_root)
        // `version.dev=no`: a release build, as OpenTofu's own (`tofu version` says
        // `v1.12.6`, not `v1.12.6-dev`).
        .args([
            "build",
            "-trimpath",
            "-ldflags=-s -w -X github.com/opentofu/opentofu/version.dev=no",
            "-o",
        ])
        .arg(&partial)
        .arg("./cmd/tofu")
        .current_dir(&source)
        // go's progress is not the caller's output.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .with_context(|| format!("running {} build", go.display()))?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "`go build ./cmd/tofu` of {module} failed ({status}, see above); OpenTofu \
             {version} needs Go 1.26.6 or newer ({} is used; set {ENV_GO} to another), or set \
             {ENV_SKIP_OPENTOFU}=1 to leave OpenTofu out",
            go.display()
        );
    }
    check(&partial, version).with_context(|| format!("checking the {module} build"))?;
    std::fs::rename(&partial, &binary)
        .with_context(|| format!("moving {} into place", binary.display()))?;
    Ok(binary)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opentofu_releases_are_named_with_a_prefix() {
        assert_eq!(release("tofu-1.12.6").unwrap(), Some("1.12.6"));
        assert_eq!(release("tofu-v1.12.6").unwrap(), Some("1.12.6"));
        assert_eq!(release("opentofu-1.12.6").unwrap(), Some("1.12.6"));
        assert_eq!(release("1.12.2").unwrap(), None);
        let err = release("tofu-1.6.0").unwrap_err().to_string();
        assert!(err.contains("tofu-1.12.6"), "{err}");
        assert!(RELEASES.contains(&DEFAULT_RELEASE));
    }

    #[test]
    fn builds_live_under_the_target_directory() {
        let root = install_root(Path::new("/t"));
        assert_eq!(root, PathBuf::from("/t/opentofu"));
        assert_eq!(
            binary_path(&root, "1.12.6"),
            PathBuf::from("/t/opentofu/1.12.6/tofu")
        );
        assert_eq!(installed(&root, "1.12.6"), None);
    }
}
