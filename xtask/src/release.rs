//! `cargo xtask release`: release binaries for the host, packaged as the Terraform and
//! OpenTofu registries expect, in `target/release-dist/` (or `--out DIR`):
//!
//! ```text
//! terraform-provider-wayfinder_{V}_{os}_{arch}.zip     the provider, as terraform-provider-wayfinder_v{V}
//! terraform-provider-wayfinder_{V}_manifest.json       {"version":1,"metadata":{"protocol_versions":["6.0"]}}
//! terraform-provider-wayfinder_{V}_SHA256SUMS          the zips and the manifest (what registries read)
//! wayfinder-server_{V}_{os}_{arch}.zip                 the control plane
//! wayfinder-compile_{V}_{os}_{arch}.zip                the compiler
//! SHA256SUMS                                           every file above
//! mirror/registry.terraform.io/wayfinder/wayfinder/terraform-provider-wayfinder_{V}_{os}_{arch}.zip
//! mirror/registry.opentofu.org/wayfinder/wayfinder/terraform-provider-wayfinder_{V}_{os}_{arch}.zip
//! ```
//!
//! `mirror/` is a filesystem mirror in Terraform's "packed" layout, for both registry
//! hostnames, so `terraform init` and `tofu init` install the provider offline. The zips are
//! deterministic (fixed timestamps and modes), so a rebuild of the same binaries gives the
//! same checksums. Signing `SHA256SUMS` (a public registry wants a GPG signature beside it)
//! is left to the release process that holds the key.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::util::{cargo, detail, repo_root, run_command, say, step, target_dir};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the release (emptied first). Default: target/release-dist/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The release's version: the workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The provider's executable as cargo builds it.
pub const PROVIDER: &str = "terraform-provider-wayfinder";
/// The other binaries shipped beside it.
pub const OTHER_BINARIES: &[&str] = &["wayfinder-server", "wayfinder-compile"];
/// The registry hostnames the mirror serves the provider under.
pub const HOSTNAMES: &[&str] = &["registry.terraform.io", "registry.opentofu.org"];
/// The provider's namespace and type.
pub const NAMESPACE_TYPE: &str = "wayfinder/wayfinder";
/// The registry manifest: plugin protocol 6.
pub const MANIFEST: &str = "{\"version\":1,\"metadata\":{\"protocol_versions\":[\"6.0\"]}}\n";

/// The host as Go (and so Terraform) names platforms: `linux_amd64`, `darwin_arm64`.
pub fn host_platform() -> Result<String> {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os @ ("linux" | "windows" | "freebsd" | "openbsd") => os,
        other => bail!("no Terraform platform name for the OS {other}"),
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => bail!("no Terraform platform name for the architecture {other}"),
    };
    Ok(format!("{os}_{arch}"))
}

pub fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| target_dir(&root).join("release-dist"));
    let platform = host_platform()?;
    let build: &[&str] = &[
        "build",
        "--release",
        "-p",
        "wayfinder-controlplane",
        "-p",
        "wayfinder-compiler",
        "--bins",
    ];
    let shown = format!("cargo {}", build.join(" "));
    step(&format!("building release binaries ({shown})"), || {
        run_command(&mut cargo(&root, build), &shown)
    })?;
    let shown = format!("cargo {}", PROVIDER_BUILD.join(" "));
    step(&format!("building the provider ({shown})"), || {
        run_command(&mut cargo(&root, PROVIDER_BUILD), &shown)
    })?;
    let bins = target_dir(&root).join("release");
    let provider = provider_binary(&root);
    let files = step(
        &format!("packaging {VERSION} for {platform} into {}", out.display()),
        || package(&provider, &bins, VERSION, &platform, &out),
    )?;
    for f in &files {
        let size = fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        detail(format_args!(
            "{f}  ({:.1} MiB)",
            size as f64 / (1024.0 * 1024.0)
        ));
    }
    say(
        "install the provider offline from the mirror with this CLI configuration (~/.terraformrc, ~/.tofurc or TF_CLI_CONFIG_FILE):",
    );
    for line in mirror_cli_config(&out.join("mirror")).lines() {
        detail(line);
    }
    Ok(())
}

/// The provider's archive name for `platform`.
pub fn provider_zip_name(version: &str, platform: &str) -> String {
    format!("{PROVIDER}_{version}_{platform}.zip")
}

/// The command that builds the provider as shipped: the `provider-release` profile (fat LTO,
/// one codegen unit, `panic = "abort"`; see the workspace's Cargo.toml).
pub const PROVIDER_BUILD: &[&str] = &[
    "build",
    "--profile",
    "provider-release",
    "-p",
    "terraform-provider-wayfinder",
    "--bins",
];

/// Where [`PROVIDER_BUILD`] puts the provider.
pub fn provider_binary(root: &Path) -> PathBuf {
    target_dir(root).join("provider-release").join(PROVIDER)
}

/// Packages `provider` and the other binaries in `bins` as release `version` for `platform`
/// into `out` (emptied first). Returns the names of the files written at the top of `out`, in
/// order.
pub fn package(
    provider: &Path,
    bins: &Path,
    version: &str,
    platform: &str,
    out: &Path,
) -> Result<Vec<String>> {
    for path in std::iter::once(provider.to_path_buf())
        .chain(OTHER_BINARIES.iter().map(|name| bins.join(name)))
    {
        if !path.is_file() {
            bail!(
                "{} does not exist; build it first (cargo xtask release builds it)",
                path.display()
            );
        }
    }
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("emptying {}", out.display()))?;
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    let provider_zip = provider_zip_name(version, platform);
    write_zip(
        &out.join(&provider_zip),
        &format!("{PROVIDER}_v{version}"),
        provider,
    )?;
    let manifest = format!("{PROVIDER}_{version}_manifest.json");
    fs::write(out.join(&manifest), MANIFEST).with_context(|| format!("writing {manifest}"))?;
    let provider_sums = format!("{PROVIDER}_{version}_SHA256SUMS");
    write_sums(out, &provider_sums, &[&provider_zip, &manifest])?;

    let mut files = vec![provider_zip.clone(), manifest, provider_sums];
    for name in OTHER_BINARIES {
        let zip = format!("{name}_{version}_{platform}.zip");
        write_zip(&out.join(&zip), name, &bins.join(name))?;
        files.push(zip);
    }
    let listed: Vec<&str> = files.iter().map(String::as_str).collect();
    write_sums(out, "SHA256SUMS", &listed)?;
    files.push("SHA256SUMS".into());

    for host in HOSTNAMES {
        let dir = out.join("mirror").join(host).join(NAMESPACE_TYPE);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::copy(out.join(&provider_zip), dir.join(&provider_zip))
            .with_context(|| format!("copying {provider_zip} into {}", dir.display()))?;
    }
    Ok(files)
}

/// A zip holding one executable, `entry`, with the contents of `source`: deflated, mode
/// 0755, a fixed timestamp (so the same binary always gives the same archive).
fn write_zip(path: &Path, entry: &str, source: &Path) -> Result<()> {
    let data = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    let file = fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default())
        .large_file(data.len() as u64 >= u64::from(u32::MAX));
    zip.start_file(entry, options)
        .with_context(|| format!("writing {entry} into {}", path.display()))?;
    zip.write_all(&data)
        .with_context(|| format!("writing {entry} into {}", path.display()))?;
    zip.finish()
        .with_context(|| format!("finishing {}", path.display()))?;
    Ok(())
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&data)))
}

/// `name`: one `HASH  FILE` line per file (as `sha256sum` writes them), sorted by name.
fn write_sums(dir: &Path, name: &str, files: &[&str]) -> Result<()> {
    let mut sorted = files.to_vec();
    sorted.sort_unstable();
    let mut text = String::new();
    for f in sorted {
        text.push_str(&format!("{}  {f}\n", sha256_file(&dir.join(f))?));
    }
    fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
}

/// A CLI configuration that installs the provider from `mirror` for both hostnames, and
/// every other provider as usual.
pub fn mirror_cli_config(mirror: &Path) -> String {
    let sources: Vec<String> = HOSTNAMES
        .iter()
        .map(|h| format!("\"{h}/{NAMESPACE_TYPE}\""))
        .collect();
    format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [{}]\n  }}\n  direct {{\n    exclude = [{}]\n  }}\n}}\n",
        mirror.display(),
        sources.join(", "),
        sources.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::process::Command;

    use super::*;
    use crate::terraform;
    use crate::util::bin_dir;

    /// The built binaries (debug: `cargo xtask test` builds them before testing).
    fn built_bins() -> PathBuf {
        let bins = bin_dir(&repo_root());
        assert!(
            bins.join(PROVIDER).is_file(),
            "{} is missing: run `cargo build --workspace --bins` first (or `cargo xtask test`)",
            bins.join(PROVIDER).display()
        );
        bins
    }

    #[test]
    fn the_platform_has_go_names() {
        let p = host_platform().unwrap();
        assert!(
            ["linux_amd64", "linux_arm64", "darwin_arm64", "darwin_amd64"].contains(&p.as_str()),
            "{p}"
        );
    }

    #[test]
    fn archives_checksums_and_manifest_are_as_registries_expect() {
        let bins = built_bins();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dist");
        let files = package(&bins.join(PROVIDER), &bins, "1.2.3", "linux_amd64", &out).unwrap();
        assert_eq!(
            files,
            [
                "terraform-provider-wayfinder_1.2.3_linux_amd64.zip",
                "terraform-provider-wayfinder_1.2.3_manifest.json",
                "terraform-provider-wayfinder_1.2.3_SHA256SUMS",
                "wayfinder-server_1.2.3_linux_amd64.zip",
                "wayfinder-compile_1.2.3_linux_amd64.zip",
                "SHA256SUMS",
            ]
        );
        let manifest: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(out.join("terraform-provider-wayfinder_1.2.3_manifest.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            manifest,
            serde_json::json!({"version": 1, "metadata": {"protocol_versions": ["6.0"]}})
        );

        // The archive holds the binary under the name Terraform runs, executable, intact.
        let zip_path = out.join("terraform-provider-wayfinder_1.2.3_linux_amd64.zip");
        let mut archive = zip::ZipArchive::new(fs::File::open(&zip_path).unwrap()).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "terraform-provider-wayfinder_v1.2.3");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
        let mut unpacked = Vec::new();
        entry.read_to_end(&mut unpacked).unwrap();
        assert!(unpacked == fs::read(bins.join(PROVIDER)).unwrap());
        drop(entry);

        // The checksums are sha256sum's, of the files as written.
        let sums =
            fs::read_to_string(out.join("terraform-provider-wayfinder_1.2.3_SHA256SUMS")).unwrap();
        let lines: Vec<&str> = sums.lines().collect();
        assert_eq!(lines.len(), 2, "{sums}");
        let checked = Command::new("sha256sum")
            .arg("--check")
            .arg("--strict")
            .arg("SHA256SUMS")
            .current_dir(&out)
            .output()
            .expect("running sha256sum");
        assert!(
            checked.status.success(),
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(lines[0].ends_with("  terraform-provider-wayfinder_1.2.3_linux_amd64.zip"));

        // Deterministic: packaging again gives the same bytes.
        let before = fs::read(&zip_path).unwrap();
        package(&bins.join(PROVIDER), &bins, "1.2.3", "linux_amd64", &out).unwrap();
        assert!(
            before == fs::read(&zip_path).unwrap(),
            "the zip is not reproducible"
        );

        for host in HOSTNAMES {
            let mirrored = out
                .join("mirror")
                .join(host)
                .join(NAMESPACE_TYPE)
                .join("terraform-provider-wayfinder_1.2.3_linux_amd64.zip");
            assert!(mirrored.is_file(), "{}", mirrored.display());
        }
    }

    /// `terraform init` installs the packaged provider from the release's mirror, offline,
    /// under both registry hostnames, and Terraform runs it: a provider function call where
    /// the CLI has provider functions (Terraform 1.8, OpenTofu 1.7), else an empty apply
    /// (the function part is then reported as skipped).
    #[test]
    fn terraform_init_installs_from_the_release_mirror() {
        use wayfinder_acceptance::support::{FUNCTIONS, skip_part, skip_test};
        let install_root = terraform::install_root(&target_dir(&repo_root()));
        let Some(tf) = terraform::find(&install_root).unwrap() else {
            if std::env::var("WAYFINDER_SKIP_TERRAFORM").is_ok_and(|v| v == "1") {
                skip_test("no terraform (WAYFINDER_SKIP_TERRAFORM=1)");
                return;
            }
            panic!(
                "no Terraform found: set WAYFINDER_TERRAFORM, put terraform on PATH or run `cargo xtask test`"
            );
        };
        let bins = built_bins();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dist");
        let platform = host_platform().unwrap();
        package(&bins.join(PROVIDER), &bins, VERSION, &platform, &out).unwrap();
        let cli_config = dir.path().join("cli.tfrc");
        fs::write(&cli_config, mirror_cli_config(&out.join("mirror"))).unwrap();
        let version = wayfinder_acceptance::terraform::cli_version(&tf.path).unwrap();
        let functions = FUNCTIONS.supported_by(&version);
        if !functions {
            skip_part(&FUNCTIONS.missing(
                &version,
                "calling monthly_cost through the provider installed from the mirror",
            ));
        }
        // Without provider functions (Terraform < 1.8), `provider::` does not even parse.
        let output = if functions {
            r#"
output "cost" {
  value = provider::wayfinder::monthly_cost("aws", "eu-west-2", [
    { name = "a", machine = "m6i.large", max_size = 2, spot = false, disk_size = null },
  ]).total
}
"#
        } else {
            ""
        };

        for host in HOSTNAMES {
            let work = dir.path().join(host);
            fs::create_dir_all(&work).unwrap();
            fs::write(
                work.join("main.tf"),
                format!(
                    r#"terraform {{
  required_providers {{
    wayfinder = {{
      source  = "{host}/{NAMESPACE_TYPE}"
      version = "= {VERSION}"
    }}
  }}
}}
{output}"#
                ),
            )
            .unwrap();
            let run = |args: &[&str]| {
                let out = terraform::command(&tf.path)
                    .args(args)
                    .current_dir(&work)
                    .env("TF_CLI_CONFIG_FILE", &cli_config)
                    .env_remove("WAYFINDER_SERVER")
                    .env_remove("WAYFINDER_TOKEN")
                    .output()
                    .unwrap();
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    out.status.success(),
                    "terraform {args:?} for {host} failed:\n{text}"
                );
                text
            };
            let init = run(&["init", "-input=false", "-no-color"]);
            assert!(
                init.contains(&format!("Installing {host}/{NAMESPACE_TYPE} v{VERSION}"))
                    || init.contains(&format!("Installing {NAMESPACE_TYPE} v{VERSION}")),
                "{init}"
            );
            let lock = fs::read_to_string(work.join(".terraform.lock.hcl")).unwrap();
            assert!(
                lock.contains(&format!("provider \"{host}/{NAMESPACE_TYPE}\""))
                    && lock.contains("\"h1:"),
                "{lock}"
            );
            // What Terraform unpacked is the binary that was packaged.
            let installed = work
                .join(".terraform/providers")
                .join(host)
                .join(NAMESPACE_TYPE)
                .join(VERSION)
                .join(&platform)
                .join(format!("{PROVIDER}_v{VERSION}"));
            assert!(
                fs::read(&installed).unwrap_or_default() == fs::read(bins.join(PROVIDER)).unwrap(),
                "{} is not the packaged provider",
                installed.display()
            );
            // The CLI starts the installed provider and reads its schema (any release).
            let schema = run(&["providers", "schema", "-json"]);
            assert!(
                schema.contains(&format!("\"{host}/{NAMESPACE_TYPE}\""))
                    && schema.contains("\"wayfinder_cluster\""),
                "{schema}"
            );
            run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
            if functions {
                let cost = run(&["output", "-raw", "-no-color", "cost"]);
                let cost: f64 = cost.trim().parse().unwrap_or_else(|_| panic!("{cost}"));
                assert!(cost > 100.0, "{cost}");
            }
        }
    }
}
