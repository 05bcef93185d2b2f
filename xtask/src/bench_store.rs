//! Row 5: the control plane's admitted cluster creates, against durable single-row inserts.
//!
//! The measuring code is the store benchmark of `wayfinder-controlplane`
//! (`controlplane/benches/store.rs`), run here with `--json`: each round starts a server
//! on a fresh data dir, publishes a platform, creates clusters through the HTTP API with 16
//! clients at once (every create admitted: validation, references, provisioning policy,
//! cost, with the reconciler running), stops it, and then times one-transaction-per-row
//! inserts (WAL, `synchronous=FULL`) into the same SQLite file. The raw baseline is bound
//! by fsync latency and swings when the machine is loaded, so rounds alternate the two and
//! the figures are medians over rounds.

use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{Ctx, Group, Row, Sample, Target};
use crate::util::{cargo, detail};

const CLUSTER_CREATES: usize = 400;
const RAW_INSERTS: usize = 400;

pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let rounds = ctx.runs.max(5);
    let rounds_arg = format!("--rounds={rounds}");
    let (clusters_arg, raw_arg) = (CLUSTER_CREATES.to_string(), RAW_INSERTS.to_string());
    let args = [
        "bench",
        "-p",
        "wayfinder-controlplane",
        "--bench",
        "store",
        "--",
        "--json",
        rounds_arg.as_str(),
        "0",
        raw_arg.as_str(),
        clusters_arg.as_str(),
    ];
    detail(format_args!("cargo {}", args.join(" ")));
    let out = cargo(&ctx.root, &args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo bench")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`cargo {}` failed ({}): {stdout}",
            args.join(" "),
            out.status
        );
    }
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("the store benchmark printed no JSON line: {stdout}"))?;
    let Some(rounds) = report["rounds"].as_array().filter(|r| !r.is_empty()) else {
        bail!("the store benchmark reported no rounds: {report}");
    };
    let column = |key: &str| -> Result<Sample> {
        let values = rounds
            .iter()
            .map(|r| {
                r[key]
                    .as_f64()
                    .with_context(|| format!("no {key} in the store benchmark's round {r}"))
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(Sample { values })
    };
    let concurrency = report["concurrency"].as_u64().unwrap_or(0);
    let creates = column("cluster_creates_per_s")?;
    let raw = column("raw_inserts_per_s")?;
    detail(format_args!(
        "admitted cluster creates {:.0}/s vs raw inserts {:.0}/s over {} rounds",
        creates.median(),
        raw.median(),
        rounds.len()
    ));
    let mut rows = vec![
        Row::new(
            Group::Controlplane,
            format!("admitted cluster creates, concurrency {concurrency}"),
            "/s",
            creates,
        )
        .against("durable single-row inserts, same SQLite file", raw)
        .target(Target::AtLeast(1.0))
        .note(format!(
            "{CLUSTER_CREATES} creates and {RAW_INSERTS} inserts per round, alternating, \
             medians over rounds; below 0.5 would be a defect"
        )),
    ];
    for p in ["p50", "p99"] {
        rows.push(
            Row::new(
                Group::Controlplane,
                format!("admitted cluster create latency {p}, concurrency {concurrency}"),
                "ms",
                column(&format!("cluster_{p}_ms"))?,
            )
            .against(
                format!("durable single-row insert latency {p}"),
                column(&format!("raw_{p}_ms"))?,
            ),
        );
    }
    Ok(rows)
}
