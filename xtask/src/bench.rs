//! `cargo xtask bench`: what users feel, as ratios against a baseline measured in the same run.
//!
//! Every row compares one of our figures with a baseline taken by the same command on the
//! same machine, interleaved with it, so the ratio holds on a noisy machine even when the
//! absolute figures do not:
//!
//! 1. Terraform overhead: `terraform plan`, `apply` and a refreshing `plan` of N
//!    `wayfinder_compute_template` resources against a real `wayfinder-server`, against N
//!    `terraform_data` resources (Terraform's built-in, no plugin) with the same CLI
//!    ([`bench_terraform`]).
//! 2. Self-service preview: `terraform plan` of 100 `wayfinder_cluster` resources, each a
//!    server dry run with policy and cost, against 100 `terraform_data`.
//! 3. Provider process: exec to handshake, and peak RSS across `terraform providers schema
//!    -json`, against a Go provider built on HashiCorp's plugin framework
//!    ([`bench_process`]).
//! 4. Compiler: 10,000 definitions through `wayfinder-compile`, against `terraform fmt -check
//!    -recursive` over what it wrote ([`bench_compiler`]).
//! 5. Control plane: admitted cluster creates per second at concurrency 16 against durable
//!    single-row inserts into the same SQLite file, with latency percentiles
//!    ([`bench_store`], which runs the store benchmark of `wayfinder-controlplane`); the
//!    same on etcd: through two replicas on a 3-member cluster against single-key etcd
//!    txns on it; and at scale: resident memory per stored object against its stored size
//!    at 100,000 objects, with list-page latency.
//! 6. Growth: the provider's share of plan time per resource at each N, and whether it
//!    stays linear.
//!
//! Whole-process figures are medians of several runs, shown with their minimum and maximum.
//! The table is printed and written, with the machine and the date, to
//! `target/bench/report.json` (and to the README's Performance section with
//! `--update-readme`).

#[path = "bench_compiler.rs"]
mod bench_compiler;
#[path = "bench_limits.rs"]
mod bench_limits;
#[path = "bench_process.rs"]
mod bench_process;
#[path = "bench_store.rs"]
mod bench_store;
#[path = "bench_terraform.rs"]
mod bench_terraform;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::test::{TerraformArgs, find_terraform};
use crate::util::{cargo, detail, repo_root, run_command, say, step, target_dir};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A shorter run (under 10 minutes on 2 cores once built): fewer repetitions, and no
    /// N = 5,000 growth point.
    #[arg(long)]
    pub quick: bool,
    /// Runs per whole-process figure (default 3 with --quick, else 5).
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Only these groups of rows (repeatable): terraform, preview, process, compiler,
    /// controlplane, growth.
    #[arg(long, value_enum, value_name = "GROUP")]
    pub only: Vec<Group>,
    /// Measure this provider executable instead of the provider-release build (to compare builds,
    /// e.g. one made with other settings).
    #[arg(long, value_name = "PATH")]
    pub provider: Option<PathBuf>,
    /// Write the table, the machine and the date into README.md between
    /// `<!-- bench:begin -->` and `<!-- bench:end -->`.
    #[arg(long)]
    pub update_readme: bool,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

/// A group of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Group {
    Terraform,
    Preview,
    Process,
    Compiler,
    Controlplane,
    Growth,
}

/// Everything a group needs.
pub struct Ctx {
    pub root: PathBuf,
    /// `target/bench`.
    pub dir: PathBuf,
    /// Where the release binaries are.
    pub release: PathBuf,
    pub terraform: PathBuf,
    pub terraform_version: String,
    pub quick: bool,
    pub runs: usize,
    /// The provider executable measured (the `provider-release` build unless `--provider`).
    pub provider: PathBuf,
}

impl Ctx {
    /// A built release binary of the workspace.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.release.join(name)
    }
}

// ---------------------------------------------------------------------------------------------
// Samples and rows

/// Repeated measurements of one figure.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub values: Vec<f64>,
}

impl Sample {
    pub fn push(&mut self, v: f64) {
        self.values.push(v);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median (the mean of the middle two for an even count); NaN when empty.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// The same figures, each mapped by `f` (e.g. seconds into a rate).
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Sample {
        Sample {
            values: self.values.iter().copied().map(f).collect(),
        }
    }
}

/// A target on a row's ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
}

impl Target {
    pub fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtMost(t) => ratio <= t,
            Target::AtLeast(t) => ratio >= t,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::AtMost(t) => write!(f, "<= {t:?}"),
            Target::AtLeast(t) => write!(f, ">= {t:?}"),
        }
    }
}

/// One figure: ours, and (for most rows) the baseline it is compared with.
#[derive(Debug, Clone)]
pub struct Row {
    pub group: Group,
    pub name: String,
    pub unit: &'static str,
    pub value: Sample,
    /// What the value is compared with, and its figures; `None` for a row that only reports.
    pub baseline: Option<(String, Sample)>,
    pub target: Option<Target>,
    /// A note printed under the table (how the figure was taken, what it means).
    pub note: Option<String>,
}

impl Row {
    pub fn new(group: Group, name: impl Into<String>, unit: &'static str, value: Sample) -> Row {
        Row {
            group,
            name: name.into(),
            unit,
            value,
            baseline: None,
            target: None,
            note: None,
        }
    }

    pub fn against(mut self, baseline: impl Into<String>, sample: Sample) -> Row {
        self.baseline = Some((baseline.into(), sample));
        self
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = Some(note.into());
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        let (_, b) = self.baseline.as_ref()?;
        Some(self.value.median() / b.median())
    }

    pub fn met(&self) -> Option<bool> {
        Some(self.target?.met(self.ratio()?))
    }

    fn to_json(&self) -> Value {
        let num = |v: f64| {
            if v.is_finite() {
                json!(round(v, 6))
            } else {
                Value::Null
            }
        };
        let (baseline, baseline_value, baseline_min, baseline_max) = match &self.baseline {
            Some((name, s)) => (json!(name), num(s.median()), num(s.min()), num(s.max())),
            None => (Value::Null, Value::Null, Value::Null, Value::Null),
        };
        json!({
            "name": self.name,
            "value": num(self.value.median()),
            "unit": self.unit,
            "baseline": baseline,
            "baseline_value": baseline_value,
            "ratio": self.ratio().map(num).unwrap_or(Value::Null),
            "target": self.target.map(|t| t.to_string()),
            "met": self.met(),
            "group": format!("{:?}", self.group).to_lowercase(),
            "runs": self.value.values.len(),
            "value_min": num(self.value.min()),
            "value_max": num(self.value.max()),
            "baseline_min": baseline_min,
            "baseline_max": baseline_max,
            "note": self.note,
        })
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// A figure with 3 significant digits (more before the decimal point when it is large).
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_string();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_sample(s: &Sample, unit: &str) -> String {
    if s.values.len() > 1 {
        format!(
            "{} {unit} ({}–{})",
            fmt_num(s.median()),
            fmt_num(s.min()),
            fmt_num(s.max())
        )
    } else {
        format!("{} {unit}", fmt_num(s.median()))
    }
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Figure | Ours (median, min–max) | Baseline | Baseline (median, min–max) | Ratio | Target | Met |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (bname, bval) = match &r.baseline {
            Some((n, s)) => (n.as_str(), fmt_sample(s, r.unit)),
            None => ("—", "—".to_string()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            fmt_sample(&r.value, r.unit),
            bname,
            bval,
            r.ratio().map(|x| format!("{x:.2}")).unwrap_or("—".into()),
            r.target.map(|t| t.to_string()).unwrap_or("—".into()),
            match r.met() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            }
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Running things

/// Runs a command to completion with its output in `log` (appended), and returns how long it
/// took. An error, with the end of the log, unless it exits 0.
pub fn timed(cmd: &mut Command, what: &str, log: &Path) -> Result<Duration> {
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = file.try_clone()?;
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{what}`"))?;
    let took = start.elapsed();
    if !status.success() {
        bail!(
            "`{what}` failed ({status}); the end of {}:\n{}",
            log.display(),
            crate::launch::log_tail(log, 40)
        );
    }
    Ok(took)
}

/// A fresh (emptied) directory.
pub fn fresh_dir(path: &Path) -> Result<PathBuf> {
    if path.exists() {
        fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    }
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(path.to_path_buf())
}

// ---------------------------------------------------------------------------------------------
// The machine

/// Cores, CPU model and memory, as one line.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0);
    let mut line = format!("{cores} cores, {model}");
    if let Some(gib) = mem_gib {
        let _ = write!(line, ", {gib:.1} GiB memory");
    }
    line
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------------
// The command

/// `cargo xtask bench`.
pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let root = repo_root();
    args.terraform.check()?;
    let wanted = |g: Group| args.only.is_empty() || args.only.contains(&g);
    let runs = args.runs.unwrap_or(if args.quick { 3 } else { 5 }).max(1);

    let (terraform, terraform_version) =
        step("finding terraform", || find_terraform(&args.terraform))?;

    // Release binaries: what users run. CARGO_PROFILE_RELEASE_DEBUG=line-tables-only keeps
    // line tables for `perf record --call-graph dwarf`.
    step(
        "building release binaries (cargo build --release --bins -p wayfinder-controlplane -p wayfinder-compiler)",
        || {
            run_command(
                &mut cargo(
                    &root,
                    &[
                        "build",
                        "--release",
                        "--bins",
                        "-p",
                        "wayfinder-controlplane",
                        "-p",
                        "wayfinder-compiler",
                    ],
                ),
                "cargo build --release",
            )
        },
    )?;
    step(
        "building the provider as shipped (cargo build --profile provider-release -p terraform-provider-wayfinder)",
        || {
            run_command(
                &mut cargo(&root, crate::release::PROVIDER_BUILD),
                "cargo build --profile provider-release",
            )
        },
    )?;

    let release = target_dir(&root).join("release");
    let provider = match &args.provider {
        Some(p) if p.is_file() => std::path::absolute(p)?,
        Some(p) => bail!("--provider {}: no such file", p.display()),
        None => crate::release::provider_binary(&root),
    };
    let ctx = Ctx {
        dir: target_dir(&root).join("bench"),
        release,
        provider,
        root: root.clone(),
        terraform,
        terraform_version,
        quick: args.quick,
        runs,
    };
    fs::create_dir_all(&ctx.dir).with_context(|| format!("creating {}", ctx.dir.display()))?;
    say(format_args!(
        "{} run(s) per figure; provider {}; working in {}",
        ctx.runs,
        ctx.provider.display(),
        ctx.dir.display()
    ));

    let mut rows: Vec<Row> = Vec::new();
    if wanted(Group::Terraform) || wanted(Group::Growth) || wanted(Group::Preview) {
        rows.extend(bench_terraform::run(
            &ctx,
            wanted(Group::Terraform),
            wanted(Group::Preview),
            wanted(Group::Growth),
        )?);
    }
    if wanted(Group::Process) {
        rows.extend(step("provider process (handshake, peak RSS)", || {
            bench_process::run(&ctx)
        })?);
    }
    if wanted(Group::Compiler) {
        rows.extend(step("compiler (10,000 definitions)", || {
            bench_compiler::run(&ctx)
        })?);
    }
    if wanted(Group::Controlplane) {
        rows.extend(step("control plane (admitted cluster creates)", || {
            bench_store::run(&ctx)
        })?);
        rows.extend(step(
            "control plane on etcd (admitted cluster creates, 2 replicas)",
            || bench_store::run_etcd(&ctx),
        )?);
        rows.extend(step("control plane at scale (memory, list page)", || {
            bench_store::run_memory(&ctx)
        })?);
        rows.extend(step("control plane (bounded validation)", || {
            bench_limits::run(&ctx)
        })?);
    }
    let order = [
        Group::Terraform,
        Group::Preview,
        Group::Process,
        Group::Compiler,
        Group::Controlplane,
        Group::Growth,
    ];
    rows.sort_by_key(|r| order.iter().position(|g| *g == r.group));

    let machine = machine();
    let date = today();
    let elapsed = started.elapsed();
    let report = json!(rows.iter().map(Row::to_json).collect::<Vec<_>>());
    let report_path = ctx.dir.join("report.json");
    fs::write(&report_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", report_path.display()))?;
    let meta_path = ctx.dir.join("machine.json");
    fs::write(
        &meta_path,
        serde_json::to_string_pretty(&json!({
            "machine": machine,
            "date": date,
            "terraform": ctx.terraform_version,
            "provider": ctx.provider,
            "quick": ctx.quick,
            "runs": ctx.runs,
            "seconds": elapsed.as_secs_f64(),
        }))? + "\n",
    )
    .with_context(|| format!("writing {}", meta_path.display()))?;

    let table = table(&rows);
    let notes = notes(&rows);
    println!();
    println!("{table}");
    if !notes.is_empty() {
        println!("{notes}");
    }
    let with_target: Vec<&Row> = rows.iter().filter(|r| r.met().is_some()).collect();
    let missed: Vec<&Row> = with_target
        .iter()
        .copied()
        .filter(|r| r.met() == Some(false))
        .collect();
    say(format_args!(
        "{} of {} targets met; {machine}; {}; {date}; took {:.0} s",
        with_target.len() - missed.len(),
        with_target.len(),
        ctx.terraform_version,
        elapsed.as_secs_f64()
    ));
    for r in &missed {
        detail(format_args!(
            "missed: {} (ratio {:.2}, target {})",
            r.name,
            r.ratio().unwrap_or(f64::NAN),
            r.target.map(|t| t.to_string()).unwrap_or_default()
        ));
    }
    detail(format_args!("report: {}", report_path.display()));

    if args.update_readme {
        let section = readme_section(&ctx, &table, &notes, &machine, &date, elapsed);
        update_readme(&root.join("README.md"), &section)?;
        detail("README.md's Performance section updated");
    }
    Ok(())
}

fn notes(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows.iter().filter(|r| r.note.is_some()) {
        let _ = writeln!(
            out,
            "- {}: {}",
            r.name,
            r.note.as_deref().unwrap_or_default()
        );
    }
    out
}

pub const README_BEGIN: &str = "<!-- bench:begin -->";
pub const README_END: &str = "<!-- bench:end -->";

fn readme_section(
    ctx: &Ctx,
    table: &str,
    notes: &str,
    machine: &str,
    date: &str,
    elapsed: Duration,
) -> String {
    let command = if ctx.quick {
        "cargo xtask bench --quick --update-readme"
    } else {
        "cargo xtask bench --update-readme"
    };
    let mut out = format!(
        "{README_BEGIN}\n<!-- Written by `{command}`; edit the command, not this text. -->\n\n\
         Measured {date} on {machine}, with {}, {} run(s) per figure (median, with min–max), in \
         {:.0} s. Every ratio is ours over a baseline measured in the same run.\n\n{table}",
        ctx.terraform_version,
        ctx.runs,
        elapsed.as_secs_f64()
    );
    if !notes.is_empty() {
        let _ = write!(out, "\n{notes}");
    }
    out.push_str(README_END);
    out
}

/// Replaces the text between the markers (markers included) with `section`.
fn update_readme(readme: &Path, section: &str) -> Result<()> {
    let text =
        fs::read_to_string(readme).with_context(|| format!("reading {}", readme.display()))?;
    let (Some(begin), Some(end)) = (text.find(README_BEGIN), text.find(README_END)) else {
        bail!(
            "{} has no `{README_BEGIN}` ... `{README_END}` markers; add them where the \
             Performance table should go",
            readme.display()
        );
    };
    if end < begin {
        bail!(
            "{}: `{README_END}` comes before `{README_BEGIN}`",
            readme.display()
        );
    }
    let updated = format!(
        "{}{section}{}",
        &text[..begin],
        &text[end + README_END.len()..]
    );
    let partial = readme.with_extension("md.partial");
    fs::write(&partial, updated).with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, readme).with_context(|| format!("replacing {}", readme.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        let s = Sample {
            values: vec![3.0, 1.0, 2.0],
        };
        assert_eq!((s.median(), s.min(), s.max()), (2.0, 1.0, 3.0));
        let even = Sample {
            values: vec![4.0, 1.0, 2.0, 3.0],
        };
        assert_eq!(even.median(), 2.5);
        assert!(Sample::default().median().is_nan());
    }

    #[test]
    fn targets_on_the_ratio() {
        let row = Row::new(Group::Terraform, "x", "s", Sample { values: vec![3.0] })
            .against("y", Sample { values: vec![2.0] })
            .target(Target::AtMost(1.5));
        assert_eq!(row.ratio(), Some(1.5));
        assert_eq!(row.met(), Some(true));
        let j = row.to_json();
        assert_eq!(j["target"], "<= 1.5");
        assert_eq!(j["met"], true);
        assert_eq!(j["baseline_value"], 2.0);
        assert!(!Target::AtLeast(1.0).met(0.99));
        assert_eq!(Target::AtLeast(1.0).to_string(), ">= 1.0");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn readme_markers() {
        let dir = tempfile_dir();
        let path = dir.join("README.md");
        fs::write(&path, format!("a\n{README_BEGIN}\nold\n{README_END}\nb\n")).unwrap();
        update_readme(&path, &format!("{README_BEGIN}\nnew\n{README_END}")).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("a\n{README_BEGIN}\nnew\n{README_END}\nb\n")
        );
        fs::write(&path, "no markers").unwrap();
        assert!(update_readme(&path, "x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
