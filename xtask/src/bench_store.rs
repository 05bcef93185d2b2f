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
//!
//! Row 5 on etcd ([`run_etcd`]): the same benchmark with `--etcd` starts a 3-member etcd
//! cluster on loopback and, per round, two in-process replicas on a fresh key prefix;
//! admitted cluster creates from 16 clients alternating between the replicas, then
//! single-key create-if-absent txns from 16 tasks on the same etcd cluster.
//!
//! The scale row ([`run_memory`]): the `store_memory` example of `wayfinder-controlplane`
//! at 100,000 compute templates — resident memory per stored object against the object's
//! stored size, and the latency of a page of 100 (`Store::list_page`) at that size.

use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{Ctx, Group, Row, Sample, Target};
use crate::util::{cargo, detail};

const CLUSTER_CREATES: usize = 400;
const RAW_INSERTS: usize = 400;
/// Per round on etcd (`--quick`: half as many, in 3 rounds).
const ETCD_CLUSTER_CREATES: usize = 400;
const ETCD_RAW_TXNS: usize = 400;
/// Objects in the store for the scale row.
const SCALE_OBJECTS: usize = 100_000;

/// Runs `cargo ARGS`, and the last line of its standard output that is JSON.
fn cargo_json(ctx: &Ctx, args: &[&str]) -> Result<Value> {
    detail(format_args!("cargo {}", args.join(" ")));
    let out = cargo(&ctx.root, args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`cargo {}` failed ({}): {stdout}",
            args.join(" "),
            out.status
        );
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("`cargo {}` printed no JSON line: {stdout}", args.join(" ")))
}

/// The rounds of a store benchmark report, and a column of them as a sample.
fn rounds_of(report: &Value) -> Result<&Vec<Value>> {
    report["rounds"]
        .as_array()
        .filter(|r| !r.is_empty())
        .with_context(|| format!("the store benchmark reported no rounds: {report}"))
}

fn column(rounds: &[Value], key: &str) -> Result<Sample> {
    let values = rounds
        .iter()
        .map(|r| {
            r[key]
                .as_f64()
                .with_context(|| format!("no {key} in the store benchmark's round {r}"))
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(Sample { values })
}

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
        // The build the etcd row uses too (one build for both); the SQLite path is the same.
        "--features",
        "etcd",
        "--",
        "--json",
        rounds_arg.as_str(),
        "0",
        raw_arg.as_str(),
        clusters_arg.as_str(),
    ];
    let report = cargo_json(ctx, &args)?;
    let rounds = rounds_of(&report)?;
    let column = |key: &str| column(rounds, key);
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

/// Row 5 on etcd: admitted cluster creates through two replicas on a 3-member etcd cluster,
/// against single-key create-if-absent txns on the same cluster in the same run.
pub fn run_etcd(ctx: &Ctx) -> Result<Vec<Row>> {
    let (rounds, creates, txns) = if ctx.quick {
        (3, ETCD_CLUSTER_CREATES / 2, ETCD_RAW_TXNS / 2)
    } else {
        (ctx.runs.max(5), ETCD_CLUSTER_CREATES, ETCD_RAW_TXNS)
    };
    let rounds_arg = format!("--rounds={rounds}");
    let (creates_arg, txns_arg) = (creates.to_string(), txns.to_string());
    let args = [
        "bench",
        "-p",
        "wayfinder-controlplane",
        "--bench",
        "store",
        "--features",
        "etcd",
        "--",
        "--json",
        "--etcd",
        rounds_arg.as_str(),
        creates_arg.as_str(),
        txns_arg.as_str(),
    ];
    let report = cargo_json(ctx, &args)?;
    let rounds = rounds_of(&report)?;
    let concurrency = report["concurrency"].as_u64().unwrap_or(0);
    let replicas = report["replicas"].as_u64().unwrap_or(0);
    let members = report["members"].as_u64().unwrap_or(0);
    let clusters = column(rounds, "cluster_creates_per_s")?;
    let raw = column(rounds, "raw_txns_per_s")?;
    detail(format_args!(
        "on etcd: admitted cluster creates {:.0}/s vs raw txns {:.0}/s over {} rounds",
        clusters.median(),
        raw.median(),
        rounds.len()
    ));
    let mut rows = vec![
        Row::new(
            Group::Controlplane,
            format!(
                "admitted cluster creates on etcd, {replicas} replicas, concurrency {concurrency}"
            ),
            "/s",
            clusters,
        )
        .against(
            format!("single-key create-if-absent txns, same {members}-member etcd"),
            raw,
        )
        .target(Target::AtLeast(0.5))
        .note(format!(
            "{creates} creates (clients alternating between the replicas) and {txns} txns \
             per round, alternating, medians over rounds"
        )),
    ];
    for p in ["p50", "p99"] {
        rows.push(
            Row::new(
                Group::Controlplane,
                format!("admitted cluster create latency {p} on etcd, concurrency {concurrency}"),
                "ms",
                column(rounds, &format!("cluster_{p}_ms"))?,
            )
            .against(
                format!("single-key etcd txn latency {p}"),
                column(rounds, &format!("raw_{p}_ms"))?,
            ),
        );
    }
    Ok(rows)
}

/// The scale row: resident memory per stored object against its stored size at 100,000
/// objects, and the latency of a page of 100 at that size.
pub fn run_memory(ctx: &Ctx) -> Result<Vec<Row>> {
    let objects = SCALE_OBJECTS.to_string();
    let args = [
        "run",
        "--release",
        "-p",
        "wayfinder-controlplane",
        "--example",
        "store_memory",
        // The store benchmark's build (the SQLite store is the same with or without it).
        "--features",
        "etcd",
        "--",
        objects.as_str(),
        "--json",
    ];
    let report = cargo_json(ctx, &args)?;
    let figure = |key: &str| -> Result<Sample> {
        let v = report[key]
            .as_f64()
            .with_context(|| format!("no {key} in the store_memory report {report}"))?;
        Ok(Sample { values: vec![v] })
    };
    let n = report["objects"].as_u64().unwrap_or(0);
    let limit = report["page_limit"].as_u64().unwrap_or(0);
    Ok(vec![
        Row::new(
            Group::Controlplane,
            format!("resident memory per stored object at {n} objects"),
            "B",
            figure("resident_per_object_bytes")?,
        )
        .against(
            "the object's stored size",
            figure("stored_per_object_bytes")?,
        )
        .target(Target::AtMost(2.0))
        .note(
            "compute templates; the growth of a fresh process's resident set on opening the store",
        ),
        Row::new(
            Group::Controlplane,
            format!("list page of {limit} at {n} objects, first page"),
            "ms",
            figure("first_page_ms")?,
        ),
        Row::new(
            Group::Controlplane,
            format!("list page of {limit} at {n} objects, mid-collection"),
            "ms",
            figure("middle_page_ms")?,
        ),
    ])
}
