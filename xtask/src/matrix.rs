//! The version matrix of `cargo xtask test`: the acceptance suite run against several
//! Terraform releases and a real OpenTofu, each in full or its smoke subset, with one summary
//! at the end (what passed and failed on each release, which tests skipped themselves and
//! why, which release was left out and why).
//!
//! Tests are run with cargo's own test harness: the smoke subset is libtest's name filter
//! [`report::SMOKE_PREFIX`]; skips come from the file the harness appends to
//! ([`report::ENV_SKIP_REPORT`]), so a skipped test is counted as skipped, not passed. The
//! acceptance executables are built once, with the rest of the workspace, and run directly
//! for each Terraform ([`build_acceptance_tests`]).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::report::{self, Skip};
use crate::terraform;
use crate::util::{cargo, say};

/// How much of the acceptance suite a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every acceptance test.
    Full,
    /// The tests named `smoke_*`.
    Smoke,
}

impl Scope {
    /// `full` or `smoke`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Smoke => "smoke",
        }
    }
}

/// One CLI of the matrix: a Terraform or an OpenTofu release.
#[derive(Debug, Clone)]
pub struct Target {
    /// The matrix's name for it: `1.15.5` for Terraform, `tofu-1.12.6` for OpenTofu.
    pub version: String,
    pub terraform: PathBuf,
    pub scope: Scope,
    /// How long finding or installing it took.
    pub install: Duration,
    /// Run against two server replicas on a 3-member etcd (`WAYFINDER_ACCEPTANCE_STORE=etcd`)
    /// instead of one server on SQLite; its matrix name ends in `+etcd`.
    pub replicated: bool,
}

impl Target {
    /// Whether this is an OpenTofu release.
    pub fn is_opentofu(&self) -> bool {
        self.version.starts_with(terraform::OPENTOFU_LABEL_PREFIX)
    }
}

/// A release of the matrix that was left out, and why (e.g. `WAYFINDER_SKIP_OPENTOFU=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    /// The matrix's name for it, such as `tofu-1.12.6`.
    pub version: String,
    pub scope: Scope,
    pub reason: String,
}

/// A matrix name said in words: `1.6.6` → `Terraform 1.6.6`, `tofu-1.12.6` → `OpenTofu
/// 1.12.6`.
pub fn describe(version: &str) -> String {
    if let Some(cli) = version.strip_suffix(REPLICATED_SUFFIX) {
        return format!("{} on two replicas over etcd", describe(cli));
    }
    match version.strip_prefix(terraform::OPENTOFU_LABEL_PREFIX) {
        Some(tofu) => format!("OpenTofu {tofu}"),
        None => format!("Terraform {version}"),
    }
}

/// The end of a matrix name run against replicas on etcd (`1.15.5+etcd`).
pub const REPLICATED_SUFFIX: &str = "+etcd";

/// Test counts, from libtest's `test result:` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// What one `cargo test` run did.
#[derive(Debug, Clone, Default)]
pub struct TestRun {
    /// Whether cargo exited 0.
    pub success: bool,
    pub counts: Counts,
    /// `test NAME ... FAILED` names.
    pub failed: Vec<String>,
    pub elapsed: Duration,
    /// Skips the tests recorded ([`report::ENV_SKIP_REPORT`]), when the run had a report.
    pub skips: Vec<Skip>,
}

impl TestRun {
    /// Tests that skipped themselves whole (libtest counted them as passed).
    pub fn skipped_tests(&self) -> Vec<&Skip> {
        whole_skips(&self.skips)
    }
}

/// Whole-test skips, each test counted once.
fn whole_skips(skips: &[Skip]) -> Vec<&Skip> {
    let mut seen = std::collections::BTreeSet::new();
    skips
        .iter()
        .filter(|s| s.whole && seen.insert((s.binary.as_str(), s.test.as_str())))
        .collect()
}

/// What one Terraform of the matrix did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: Target,
    pub run: TestRun,
    /// Whole-test and partial skips, as the harness recorded them.
    pub skips: Vec<Skip>,
}

impl Outcome {
    /// Tests that skipped themselves whole (each counted once).
    pub fn skipped_tests(&self) -> Vec<&Skip> {
        whole_skips(&self.skips)
    }

    /// Passed tests, not counting those that skipped themselves (libtest says `ok` to them).
    pub fn passed(&self) -> u64 {
        self.run
            .counts
            .passed
            .saturating_sub(self.skipped_tests().len() as u64)
    }

    /// Skipped: skipped themselves, or `#[ignore]`d.
    pub fn skipped(&self) -> u64 {
        self.skipped_tests().len() as u64 + self.run.counts.ignored
    }

    pub fn ok(&self) -> bool {
        self.run.success && self.run.counts.failed == 0
    }
}

/// Reads one line of libtest's output into `counts` and `failed`.
pub fn read_libtest_line(line: &str, counts: &mut Counts, failed: &mut Vec<String>) {
    if let Some(rest) = line.strip_prefix("test result: ") {
        let number = |what: &str| -> u64 {
            rest.split(';')
                .map(str::trim)
                .find_map(|part| {
                    // "ok. 8 passed" / "FAILED. 3 passed" / "0 failed" / "1 ignored"
                    let part = part.rsplit(". ").next().unwrap_or(part);
                    let (n, word) = part.split_once(' ')?;
                    (word == what).then(|| n.parse().ok()).flatten()
                })
                .unwrap_or(0)
        };
        counts.passed += number("passed");
        counts.failed += number("failed");
        counts.ignored += number("ignored");
    } else if let Some(name) = line
        .strip_prefix("test ")
        .and_then(|l| l.strip_suffix(" ... FAILED"))
    {
        failed.push(name.to_string());
    }
}

/// Runs `cmd` (`cargo test`, or a test executable), passing its stdout through line by line
/// while counting libtest's results. Its stderr goes straight through.
pub fn run_cargo_test(cmd: &mut Command, what: &str) -> Result<TestRun> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{what}`"))?;
    let mut run = TestRun::default();
    let stdout = child.stdout.take().context("the child's stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.with_context(|| format!("reading the output of `{what}`"))?;
        println!("{line}");
        read_libtest_line(&line, &mut run.counts, &mut run.failed);
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{what}`"))?;
    run.success = status.success();
    run.elapsed = started.elapsed();
    Ok(run)
}

/// Removes a skip report left by an earlier run.
pub fn clear_skip_report(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The skip report file of one matrix entry's run (`1.6.6`, `tofu-1.12.6`), or of the
/// workspace's tests (`workspace`).
pub fn skip_report_path(target_dir: &Path, version: &str) -> PathBuf {
    target_dir
        .join("acceptance")
        .join(format!("skips-{version}.jsonl"))
}

/// An acceptance test executable (`tests/acceptance/tests/NAME.rs`, or the harness's own
/// unit tests), as cargo built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    /// The target's name: the file name under `tests/`, or `wayfinder_acceptance`.
    pub name: String,
    /// Its source, relative to the package, for the `Running` line.
    pub source: String,
    pub path: PathBuf,
}

/// The acceptance test executables among the artifacts `cargo test --no-run
/// --message-format=json` reports (one JSON object a line): test targets of the package
/// whose manifest is `acceptance_manifest`.
pub fn acceptance_binaries(cargo_json: &str, acceptance_manifest: &Path) -> Vec<TestBinary> {
    let mut found: Vec<TestBinary> = cargo_json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"] == serde_json::json!(["test"])
                || (m["target"]["kind"] == serde_json::json!(["lib"])
                    && m["profile"]["test"] == true)
        })
        .filter(|m| {
            m["manifest_path"]
                .as_str()
                .is_some_and(|p| Path::new(p) == acceptance_manifest)
        })
        .filter_map(|m| {
            let source = m["target"]["src_path"].as_str().unwrap_or_default();
            let source = Path::new(source)
                .strip_prefix(acceptance_manifest.parent()?)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| source.to_string());
            Some(TestBinary {
                name: m["target"]["name"].as_str()?.to_string(),
                source,
                path: PathBuf::from(m["executable"].as_str()?),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.dedup();
    found
}

/// Builds every test of the workspace (`cargo test --workspace --no-run`, the same package
/// selection, and so the same dependency features and artifacts, as the workspace's test
/// run) and returns the acceptance suite's executables. Running those directly, rather than
/// `cargo test -p wayfinder-acceptance`, spares a second build of the dependencies with the
/// features that package alone selects.
pub fn build_acceptance_tests(root: &Path) -> Result<Vec<TestBinary>> {
    let what = format!(
        "cargo test --workspace --no-run --features {} --message-format=json-render-diagnostics",
        crate::test::FEATURES
    );
    let out = cargo(
        root,
        &[
            "test",
            "--workspace",
            "--no-run",
            "--features",
            crate::test::FEATURES,
            "--message-format=json-render-diagnostics",
        ],
    )
    .stderr(Stdio::inherit())
    .output()
    .with_context(|| format!("could not start `{what}`"))?;
    if !out.status.success() {
        anyhow::bail!("`{what}` failed ({})", out.status);
    }
    let manifest = root.join("tests").join("acceptance").join("Cargo.toml");
    let found = acceptance_binaries(&String::from_utf8_lossy(&out.stdout), &manifest);
    if found.is_empty() {
        anyhow::bail!(
            "`{what}` built no test of {}: is the acceptance suite still a workspace member?",
            manifest.display()
        );
    }
    Ok(found)
}

/// Runs the acceptance suite (`target.scope` of it) against `target.terraform`: each test
/// executable in turn, from the package's directory as cargo would, going on after a
/// failure.
pub fn run_acceptance(
    root: &Path,
    target_dir: &Path,
    binaries: &[TestBinary],
    target: &Target,
) -> Result<Outcome> {
    let skips = skip_report_path(target_dir, &target.version);
    clear_skip_report(&skips)?;
    let package_dir = root.join("tests").join("acceptance");
    let mut run = TestRun {
        success: true,
        ..TestRun::default()
    };
    let started = Instant::now();
    for binary in binaries {
        println!("     Running {} ({})", binary.source, binary.path.display());
        let mut cmd = Command::new(&binary.path);
        if target.scope == Scope::Smoke {
            cmd.arg(report::SMOKE_PREFIX);
        }
        if target.replicated {
            cmd.env("WAYFINDER_ACCEPTANCE_STORE", "etcd");
        } else {
            cmd.env_remove("WAYFINDER_ACCEPTANCE_STORE");
        }
        cmd.current_dir(&package_dir)
            .env(terraform::ENV_TERRAFORM, &target.terraform)
            .env(report::ENV_SKIP_REPORT, &skips)
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("WAYFINDER_SKIP_TERRAFORM");
        let one = run_cargo_test(&mut cmd, &binary.source)?;
        run.success &= one.success;
        run.counts += one.counts;
        run.failed.extend(
            one.failed
                .into_iter()
                .map(|name| format!("{}::{name}", binary.name)),
        );
    }
    run.elapsed = started.elapsed();
    let skips = report::read(&skips).with_context(|| format!("reading {}", skips.display()))?;
    Ok(Outcome {
        target: target.clone(),
        run,
        skips,
    })
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}

/// Lists `skips` under a heading: whole tests skipped, then parts of tests.
fn list_skips(out: &mut String, whose: &str, skips: &[Skip]) {
    let whole = whole_skips(skips);
    if !whole.is_empty() {
        out.push_str(&format!("skipped {whose}:\n"));
        for s in whole {
            out.push_str(&format!("  {}::{}: {}\n", s.binary, s.test, s.reason));
        }
    }
    let parts: Vec<&Skip> = skips.iter().filter(|s| !s.whole).collect();
    if !parts.is_empty() {
        out.push_str(&format!(
            "partly skipped {whose} (the rest of each test ran):\n"
        ));
        for s in parts {
            out.push_str(&format!("  {}::{}: {}\n", s.binary, s.test, s.reason));
        }
    }
}

/// The summary printed at the end of `cargo xtask test`; the last line is the plain
/// `total: N passed, N failed, N skipped`. `workspace` is the Terraform the workspace's own
/// tests used and their run; `not_run` the releases left out.
pub fn summary(
    workspace: Option<(&str, &TestRun)>,
    outcomes: &[Outcome],
    not_run: &[NotRun],
) -> String {
    let mut out = String::new();
    let mut total = Counts::default();
    let mut skipped = 0;
    if let Some((version, run)) = workspace {
        let whole = run.skipped_tests().len() as u64;
        let passed = run.counts.passed.saturating_sub(whole);
        out.push_str(&format!(
            "workspace tests (every crate but the acceptance suite; the etcd ones on real 3-member etcd clusters; {}): {passed} passed, {} failed, {} skipped in {}\n",
            describe(version),
            run.counts.failed,
            run.counts.ignored + whole,
            minutes(run.elapsed)
        ));
        total.passed += passed;
        total.failed += run.counts.failed;
        skipped += run.counts.ignored + whole;
    }
    out.push_str("acceptance suite by Terraform / OpenTofu release:\n");
    out.push_str(&format!(
        "  {:<11} {:<6} {:>6} {:>6} {:>7} {:>8} {:>8}  result\n",
        "release", "tests", "passed", "failed", "skipped", "install", "tests"
    ));
    for o in outcomes {
        out.push_str(&format!(
            "  {:<11} {:<6} {:>6} {:>6} {:>7} {:>8} {:>8}  {}\n",
            o.target.version,
            o.target.scope.name(),
            o.passed(),
            o.run.counts.failed,
            o.skipped(),
            minutes(o.target.install),
            minutes(o.run.elapsed),
            if o.ok() { "ok" } else { "FAILED" }
        ));
        total.passed += o.passed();
        total.failed += o.run.counts.failed;
        skipped += o.skipped();
    }
    for n in not_run {
        out.push_str(&format!(
            "  {:<11} {:<6} {:>6} {:>6} {:>7} {:>8} {:>8}  not run: {}\n",
            n.version,
            n.scope.name(),
            "-",
            "-",
            "-",
            "-",
            "-",
            n.reason
        ));
    }
    if let Some((_, run)) = workspace {
        list_skips(&mut out, "in the workspace tests", &run.skips);
    }
    for o in outcomes {
        let on = format!("on {}", describe(&o.target.version));
        if !o.run.failed.is_empty() || !o.ok() {
            out.push_str(&format!("failed {on}:\n"));
            for name in &o.run.failed {
                out.push_str(&format!("  {name}\n"));
            }
            if o.run.failed.is_empty() {
                out.push_str("  (cargo test failed before or outside any test: see above)\n");
            }
        }
        list_skips(&mut out, &on, &o.skips);
    }
    for n in not_run {
        out.push_str(&format!(
            "not run: the {} acceptance suite on {}: {}\n",
            match n.scope {
                Scope::Full => "whole",
                Scope::Smoke => "smoke subset of the",
            },
            describe(&n.version),
            n.reason
        ));
    }
    out.push_str(&format!(
        "total: {} passed, {} failed, {skipped} skipped\n",
        total.passed, total.failed
    ));
    out
}

/// Prints [`summary`].
pub fn print_summary(
    workspace: Option<(&str, &TestRun)>,
    outcomes: &[Outcome],
    not_run: &[NotRun],
) {
    say("summary");
    print!("{}", summary(workspace, outcomes, not_run));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_names_are_said_in_words() {
        assert_eq!(describe("1.6.6"), "Terraform 1.6.6");
        assert_eq!(describe("tofu-1.12.6"), "OpenTofu 1.12.6");
        let target = |version: &str| Target {
            version: version.into(),
            terraform: PathBuf::from("/x"),
            scope: Scope::Full,
            install: Duration::ZERO,
            replicated: false,
        };
        assert!(target("tofu-1.12.6").is_opentofu());
        assert!(!target("1.12.2").is_opentofu());
    }

    #[test]
    fn libtest_results_are_counted() {
        let mut counts = Counts::default();
        let mut failed = Vec::new();
        for line in [
            "running 3 tests",
            "test smoke_lifecycle ... ok",
            "test examples_are_formatted ... FAILED",
            "test result: ok. 8 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
            "test result: FAILED. 3 passed; 4 failed; 1 ignored; 0 measured; 2 filtered out; finished in 2.09s",
        ] {
            read_libtest_line(line, &mut counts, &mut failed);
        }
        assert_eq!(
            counts,
            Counts {
                passed: 11,
                failed: 4,
                ignored: 1
            }
        );
        assert_eq!(failed, ["examples_are_formatted"]);
    }

    #[test]
    fn acceptance_binaries_are_picked_from_cargos_messages() {
        let acceptance = "/r/tests/acceptance/Cargo.toml";
        let artifact = |manifest: &str, kind: &str, test: bool, name: &str, exe: &str| {
            let dir = manifest.trim_end_matches("Cargo.toml");
            let src = if kind == "lib" {
                format!("{dir}src/lib.rs")
            } else {
                format!("{dir}tests/{name}.rs")
            };
            serde_json::json!({
                "reason": "compiler-artifact",
                "manifest_path": manifest,
                "target": {"kind": [kind], "name": name, "src_path": src},
                "profile": {"test": test},
                "executable": exe,
            })
            .to_string()
        };
        let messages = [
            artifact(
                "/r/controlplane/Cargo.toml",
                "test",
                true,
                "credentials",
                "/t/c-1",
            ),
            artifact(acceptance, "test", true, "opentofu", "/t/opentofu-2"),
            artifact(acceptance, "lib", false, "wayfinder_acceptance", "/t/w-3"),
            artifact(acceptance, "lib", true, "wayfinder_acceptance", "/t/w-5"),
            artifact(acceptance, "test", true, "credentials", "/t/credentials-4"),
            "{\"reason\":\"build-finished\",\"success\":true}".to_string(),
            "not json".to_string(),
        ]
        .join("\n");
        let binary = |name: &str, source: &str, path: &str| TestBinary {
            name: name.into(),
            source: source.into(),
            path: path.into(),
        };
        assert_eq!(
            acceptance_binaries(&messages, Path::new(acceptance)),
            [
                binary("credentials", "tests/credentials.rs", "/t/credentials-4"),
                binary("opentofu", "tests/opentofu.rs", "/t/opentofu-2"),
                binary("wayfinder_acceptance", "src/lib.rs", "/t/w-5"),
            ]
        );
    }

    fn skip(test: &str, whole: bool) -> Skip {
        Skip {
            binary: "credentials".into(),
            test: test.into(),
            whole,
            reason: format!("ephemeral resources: needs Terraform >= 1.10, this is 1.6.6 ({test})"),
        }
    }

    #[test]
    fn skipped_tests_are_not_counted_as_passed() {
        let outcome = Outcome {
            target: Target {
                version: "1.6.6".into(),
                terraform: PathBuf::from("/tf"),
                scope: Scope::Smoke,
                install: Duration::from_secs(12),
                replicated: false,
            },
            run: TestRun {
                success: true,
                counts: Counts {
                    passed: 9,
                    failed: 0,
                    ignored: 0,
                },
                failed: Vec::new(),
                elapsed: Duration::from_secs(75),
                skips: Vec::new(),
            },
            // The same test recorded twice counts once.
            skips: vec![
                skip("a", true),
                skip("a", true),
                skip("b", true),
                skip("c", false),
            ],
        };
        assert_eq!(outcome.passed(), 7);
        assert_eq!(outcome.skipped(), 2);
        let run = TestRun {
            success: true,
            counts: Counts {
                passed: 100,
                failed: 0,
                ignored: 1,
            },
            failed: Vec::new(),
            elapsed: Duration::from_secs(30),
            skips: vec![Skip {
                binary: "xtask".into(),
                test: "release::tests::x".into(),
                whole: false,
                reason: "the function: needs Terraform >= 1.8".into(),
            }],
        };
        let left_out = NotRun {
            version: "tofu-1.12.6".into(),
            scope: Scope::Smoke,
            reason: "WAYFINDER_SKIP_OPENTOFU=1".into(),
        };
        let text = summary(Some(("1.15.5", &run)), &[outcome], &[left_out]);
        assert!(
            text.contains("  1.6.6       smoke       7      0       2    0m12s    1m15s  ok\n"),
            "{text}"
        );
        assert!(
            text.contains("  tofu-1.12.6 smoke       -      -       -        -        -  not run: WAYFINDER_SKIP_OPENTOFU=1\n"),
            "{text}"
        );
        assert!(
            text.contains("workspace tests (every crate but the acceptance suite; the etcd ones on real 3-member etcd clusters; Terraform 1.15.5): 100 passed, 0 failed, 1 skipped in 0m30s\n"),
            "{text}"
        );
        assert!(
            text.contains("partly skipped in the workspace tests (the rest of each test ran):\n  xtask::release::tests::x: the function: needs Terraform >= 1.8\n"),
            "{text}"
        );
        assert!(
            text.contains("not run: the smoke subset of the acceptance suite on OpenTofu 1.12.6: WAYFINDER_SKIP_OPENTOFU=1\n"),
            "{text}"
        );
        assert!(text.contains("skipped on Terraform 1.6.6:\n  credentials::a: ephemeral resources: needs Terraform >= 1.10, this is 1.6.6 (a)\n  credentials::b:"), "{text}");
        assert!(
            text.contains(
                "partly skipped on Terraform 1.6.6 (the rest of each test ran):\n  credentials::c:"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("\ntotal: 107 passed, 0 failed, 3 skipped\n"),
            "{text}"
        );
    }
}
