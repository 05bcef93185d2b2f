//! Row 3: the provider process, against a Go provider built on HashiCorp's plugin framework.
//!
//! The Go provider is the one PyPI's `workato-terraform-provider` wheel ships (terraform-
//! plugin-framework v1.19); `pip install --target` puts it under `target/bench/`, and
//! Terraform loads it offline from a filesystem mirror, as it loads ours.
//!
//! Two figures, each taken the same way for both providers, interleaved run by run:
//!
//! - **Exec to handshake.** The provider is started directly, with the plugin environment
//!   Terraform gave it (magic cookie, protocol versions, port range and its TLS client
//!   certificate, recorded during the schema runs below, so both sides also do the mTLS
//!   set-up), and timed from just before `exec` to the moment its whole handshake line
//!   (`1|6|...`) is read from its stdout.
//! - **Peak RSS across `terraform providers schema -json`.** Terraform starts the provider
//!   itself; the mirror holds, under the provider's executable name, a small launcher that
//!   forks, execs the real executable in the child, waits for it with `wait4` and records
//!   the child's `ru_maxrss`. On Linux that is the largest resident set the child process
//!   ever had, taken by the kernel when it exits: Terraform's memory and the launcher's are
//!   not in it, and no sampling can miss a short peak. One caveat makes the launcher C, not
//!   a script: at `exec` the kernel folds the high-water mark of the image being replaced
//!   into the process's `maxrss`, and a forked child starts as a copy of its parent, so a
//!   launcher's own size sets a floor under the figure (a Python launcher, at about 14 MiB,
//!   would hide a smaller provider entirely). The C launcher is about 1 MiB; the row's note
//!   shows that floor, measured by launching `/bin/true`. `cc` is needed anyway to build
//!   the workspace (aws-lc-sys, SQLite). Every provider process of the command is
//!   recorded; the figure is the largest.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{Ctx, Group, Row, Sample, Target, fresh_dir, timed};
use crate::terraform;
use crate::util::detail;

/// The Go provider's wheel on PyPI.
const GO_PACKAGE: &str = "workato-terraform-provider";
const GO_VERSION: &str = "0.16.0";
const GO_SOURCE: &str = "registry.terraform.io/local/workato";

/// One provider as Terraform sees it.
struct Provider {
    /// Its local name in `required_providers`.
    local_name: &'static str,
    /// `registry.terraform.io/NAMESPACE/TYPE`.
    source: &'static str,
    version: String,
    /// The real executable.
    executable: PathBuf,
    /// Its working directory (configuration, mirror, records).
    dir: PathBuf,
}

impl Provider {
    fn type_name(&self) -> &str {
        self.source.rsplit('/').next().unwrap_or(self.source)
    }

    fn rss_record(&self) -> PathBuf {
        self.dir.join("peak-rss-kib")
    }

    fn env_record(&self) -> PathBuf {
        self.dir.join("plugin-env")
    }

    fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    fn cli_config(&self) -> PathBuf {
        self.dir.join("cli.tfrc")
    }

    /// Writes the mirror (with the launcher in the executable's place), the CLI
    /// configuration and the Terraform configuration, and runs `terraform init`.
    fn prepare(&self, ctx: &Ctx) -> Result<()> {
        fresh_dir(&self.dir)?;
        let mirror = self.dir.join("mirror");
        let mut exe = mirror.clone();
        exe.extend(self.source.split('/'));
        exe.push(&self.version);
        exe.push(terraform::platform());
        exe.push(format!(
            "terraform-provider-{}_v{}",
            self.type_name(),
            self.version
        ));
        compile_launcher(
            &self.dir.join("launcher.c"),
            &exe,
            &self.executable,
            &self.rss_record(),
            &self.env_record(),
        )?;
        let source = self.source;
        fs::write(
            self.cli_config(),
            format!(
                "# Written by `cargo xtask bench`.\ndisable_checkpoint = true\n\n\
                 provider_installation {{\n  filesystem_mirror {{\n    path    = {}\n    \
                 include = [\"{source}\"]\n  }}\n  direct {{\n    exclude = [\"{source}\"]\n  }}\n}}\n",
                terraform::hcl_string(&mirror.to_string_lossy())
            ),
        )?;
        fs::create_dir_all(self.work())?;
        fs::write(
            self.work().join("main.tf"),
            format!(
                "terraform {{\n  required_providers {{\n    {} = {{\n      source  = \"{source}\"\n      \
                 version = \"{}\"\n    }}\n  }}\n}}\n",
                self.local_name, self.version
            ),
        )?;
        timed(
            &mut self.terraform(ctx, &["init", "-input=false", "-no-color"]),
            "terraform init",
            &self.dir.join("terraform.log"),
        )?;
        Ok(())
    }

    fn terraform(&self, ctx: &Ctx, args: &[&str]) -> Command {
        let mut cmd = terraform::command(&ctx.terraform);
        cmd.args(args)
            .current_dir(self.work())
            .env("TF_CLI_CONFIG_FILE", self.cli_config());
        cmd
    }

    /// One `terraform providers schema -json`: the provider's peak RSS in MiB.
    fn schema_peak_rss(&self, ctx: &Ctx) -> Result<f64> {
        let _ = fs::remove_file(self.rss_record());
        let out = self
            .terraform(ctx, &["providers", "schema", "-json"])
            .stderr(Stdio::piped())
            .output()
            .context("running terraform providers schema -json")?;
        if !out.status.success() {
            bail!(
                "`terraform providers schema -json` for {} failed ({}): {}",
                self.source,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let schema: Value = serde_json::from_slice(&out.stdout)
            .context("terraform providers schema -json printed no JSON")?;
        if schema["provider_schemas"][self.source].is_null() {
            bail!("the schema output has no {}", self.source);
        }
        let text = fs::read_to_string(self.rss_record()).with_context(|| {
            format!(
                "the launcher of {} recorded no peak RSS (Terraform killed it before the \
                 provider exited?)",
                self.source
            )
        })?;
        let peak_kib = text
            .lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .fold(f64::NAN, f64::max);
        if !peak_kib.is_finite() {
            bail!("{} holds no figure", self.rss_record().display());
        }
        Ok(peak_kib / 1024.0)
    }

    /// One start of the real executable with Terraform's plugin environment: seconds from
    /// just before exec to its whole handshake line.
    fn handshake(&self, tmp: &Path) -> Result<f64> {
        let text = fs::read_to_string(self.env_record()).with_context(|| {
            format!(
                "reading {} (written when Terraform starts the provider)",
                self.env_record().display()
            )
        })?;
        let env: Vec<(&str, &str)> = text
            .split('\0')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        if !env.iter().any(|(k, _)| *k == "PLUGIN_CLIENT_CERT") {
            bail!("Terraform gave {} no PLUGIN_CLIENT_CERT", self.source);
        }
        let mut cmd = Command::new(&self.executable);
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("TF_") || k.starts_with("PLUGIN_"))
            {
                cmd.env_remove(key);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.executable.display()))?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| BufReader::new(out).read_line(&mut line));
        let took = start.elapsed().as_secs_f64();
        let _ = child.kill();
        let _ = child.wait();
        read.transpose()
            .with_context(|| format!("reading the handshake of {}", self.source))?;
        if !line.starts_with("1|6|") || !line.ends_with('\n') {
            bail!(
                "{} printed {line:?}, not a protocol 6 handshake line",
                self.source
            );
        }
        Ok(took)
    }
}

/// The launcher, in C (see the module comment): records the plugin environment Terraform
/// gave it (`KEY=VALUE` entries, NUL-separated), forks, execs `EXECUTABLE` with the same
/// arguments in the child, waits for it and appends its `ru_maxrss` (KiB) to the record.
const LAUNCHER_C: &str = r#"#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    (void)argc;
    FILE *env = fopen(ENV_RECORD, "w");
    if (env) {
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "PLUGIN_", 7) == 0 || strncmp(*e, "TF_PLUGIN_MAGIC_COOKIE=", 23) == 0) {
                fputs(*e, env);
                fputc(0, env);
            }
        }
        fclose(env);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 127;
    }
    if (pid == 0) {
        argv[0] = EXECUTABLE;
        execv(EXECUTABLE, argv);
        perror("execv");
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) {
        perror("wait4");
        return 127;
    }
    FILE *record = fopen(RSS_RECORD, "a");
    if (record) {
        fprintf(record, "%ld\n", usage.ru_maxrss);
        fclose(record);
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return 128 + WTERMSIG(status);
}
"#;

/// A C string literal.
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// Compiles the launcher for `executable` into `output` with `$CC` (default `cc`).
fn compile_launcher(
    source: &Path,
    output: &Path,
    executable: &Path,
    rss_record: &Path,
    env_record: &Path,
) -> Result<()> {
    let define =
        |name: &str, path: &Path| format!("#define {name} {}\n", c_string(&path.to_string_lossy()));
    let text = format!(
        "/* Written by `cargo xtask bench`. */\n{}{}{}{LAUNCHER_C}",
        define("EXECUTABLE", executable),
        define("RSS_RECORD", rss_record),
        define("ENV_RECORD", env_record),
    );
    fs::write(source, text).with_context(|| format!("writing {}", source.display()))?;
    if let Some(dir) = output.parent() {
        fs::create_dir_all(dir)?;
    }
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = Command::new(&cc)
        .args(["-O2", "-o"])
        .arg(output)
        .arg(source)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "running {} (a C compiler is needed for the RSS launcher, as for building the workspace)",
                cc.to_string_lossy()
            )
        })?;
    if !out.status.success() {
        bail!(
            "compiling {} failed: {}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The floor the launcher itself puts under the RSS figure: what it records for `/bin/true`.
fn launcher_floor(dir: &Path) -> Result<f64> {
    let launcher = dir.join("true-launcher");
    let record = dir.join("true-peak-rss-kib");
    let _ = fs::remove_file(&record);
    compile_launcher(
        &dir.join("true-launcher.c"),
        &launcher,
        Path::new("/bin/true"),
        &record,
        &dir.join("true-env"),
    )?;
    let status = Command::new(&launcher)
        .stdin(Stdio::null())
        .status()
        .context("running the launcher with /bin/true")?;
    if !status.success() {
        bail!("the launcher with /bin/true failed ({status})");
    }
    let kib: f64 = fs::read_to_string(&record)?
        .trim()
        .parse()
        .context("the launcher's record of /bin/true")?;
    Ok(kib / 1024.0)
}

/// Installs the Go provider's wheel under `target/bench/` (once) and returns its executable
/// for this platform.
fn install_go_provider(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.dir.join(format!("{GO_PACKAGE}-{GO_VERSION}"));
    let exe_in = |root: &Path| {
        let mut p = root.join("workato_terraform_provider").join("payload");
        p.extend(GO_SOURCE.split('/'));
        p.push(GO_VERSION);
        p.push(terraform::platform());
        p.push(format!("terraform-provider-workato_v{GO_VERSION}"));
        p
    };
    let exe = exe_in(&dir);
    if exe.is_file() {
        return Ok(exe);
    }
    let partial = ctx.dir.join(format!("{GO_PACKAGE}-{GO_VERSION}.partial"));
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    detail(format_args!(
        "python3 -m pip install --target {} {GO_PACKAGE}=={GO_VERSION}",
        dir.display()
    ));
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
        ])
        .arg(&partial)
        .arg(format!("{GO_PACKAGE}=={GO_VERSION}"))
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("running python3 -m pip (python3 and pip are needed for the Go baseline)")?;
    if !status.success() {
        bail!(
            "`python3 -m pip install {GO_PACKAGE}=={GO_VERSION}` failed ({status}); PyPI must be \
             reachable for the provider-process baseline"
        );
    }
    let exe_partial = exe_in(&partial);
    if !exe_partial.is_file() {
        bail!(
            "{GO_PACKAGE}=={GO_VERSION} installed, but it has no {} (no build for this platform?)",
            exe_partial.display()
        );
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&partial, &dir).with_context(|| format!("moving {} into place", dir.display()))?;
    set_executable(&exe)?;
    Ok(exe)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let go_exe = install_go_provider(ctx)?;
    let root = ctx.dir.join("process");
    let ours = Provider {
        local_name: "wayfinder",
        source: terraform::PROVIDER_SOURCE,
        version: terraform::PROVIDER_VERSION.to_string(),
        executable: ctx.provider.clone(),
        dir: root.join("wayfinder"),
    };
    let go = Provider {
        local_name: "workato",
        source: GO_SOURCE,
        version: GO_VERSION.to_string(),
        executable: go_exe,
        dir: root.join("workato"),
    };
    ours.prepare(ctx)?;
    go.prepare(ctx)?;
    let floor = launcher_floor(&root)?;

    let (mut rss_ours, mut rss_go) = (Sample::default(), Sample::default());
    for _ in 0..ctx.runs {
        rss_ours.push(ours.schema_peak_rss(ctx)?);
        rss_go.push(go.schema_peak_rss(ctx)?);
    }
    detail(format_args!(
        "peak RSS: {:.1} MiB vs {:.1} MiB",
        rss_ours.median(),
        rss_go.median()
    ));

    // Starting a process is quick and noisy: more runs.
    let tmp = fresh_dir(&root.join("tmp"))?;
    let (mut hs_ours, mut hs_go) = (Sample::default(), Sample::default());
    for _ in 0..(ctx.runs * 4).max(10) {
        hs_ours.push(ours.handshake(&tmp)? * 1000.0);
        hs_go.push(go.handshake(&tmp)? * 1000.0);
    }
    let _ = fs::remove_dir_all(&tmp);
    detail(format_args!(
        "exec to handshake: {:.1} ms vs {:.1} ms",
        hs_ours.median(),
        hs_go.median()
    ));

    let baseline = format!("Go plugin-framework provider (workato {GO_VERSION})");
    Ok(vec![
        Row::new(
            Group::Process,
            "provider: exec to handshake line",
            "ms",
            hs_ours,
        )
        .against(baseline.clone(), hs_go)
        .target(Target::AtMost(0.5))
        .note("the provider started with Terraform's plugin environment (mTLS included)"),
        Row::new(
            Group::Process,
            "provider: peak RSS across terraform providers schema -json",
            "MiB",
            rss_ours,
        )
        .against(baseline, rss_go)
        .target(Target::AtMost(0.25))
        .note(format!(
            "the provider process's own high-water mark, from wait4 in a C launcher (whose \
             own floor, launching /bin/true, is {floor:.1} MiB)"
        )),
    ])
}
