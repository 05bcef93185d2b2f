//! Row 5b: bounded work per request. Parsing and validating (the model's admission steps
//! that grow with the object) the largest admissible compute template — the node-pool
//! limit, every pool distinct — against a typical one-pool template, and refusing a
//! 150,000-pool one. Linear work makes the first ratio about the pool count
//! ([`MAX_NODE_POOLS`]); the target allows twice that.

use std::time::Instant;

use anyhow::Result;
use serde_json::{Value, json};
use wayfinder_model::limits::MAX_NODE_POOLS;

use crate::bench::{Ctx, Group, Row, Sample, Target};

fn template(pools: usize) -> Vec<u8> {
    let pools: Vec<Value> = (0..pools)
        .map(|i| json!({"logicalName": format!("p{i}"), "machine": "m6i.large", "diskSize": 100, "size": 1}))
        .collect();
    serde_json::to_vec(&json!({
        "apiVersion": "compute.appvia.io/v2beta2", "kind": "ComputeTemplate",
        "metadata": {"name": "t"},
        "spec": {"description": "d", "provider": "EKS", "nodePools": pools},
    }))
    .unwrap_or_default()
}

/// Milliseconds to parse and validate `body`, `reps` times, one sample per run.
fn time(ctx: &Ctx, body: &[u8], reps: usize) -> Sample {
    let mut s = Sample::default();
    for _ in 0..ctx.runs.max(3) {
        let t = Instant::now();
        for _ in 0..reps {
            if let Ok(o) = wayfinder_model::parse_json("bench", body) {
                let _ = std::hint::black_box(o.validate());
            }
        }
        s.push(t.elapsed().as_secs_f64() * 1000.0 / reps as f64);
    }
    s
}

pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let typical = time(ctx, &template(1), 2000);
    let largest = time(ctx, &template(MAX_NODE_POOLS), 50);
    let huge = time(ctx, &template(150_000), 1);
    Ok(vec![
        Row::new(
            Group::Controlplane,
            format!("validation of the largest admissible template ({MAX_NODE_POOLS} pools)"),
            "ms",
            largest,
        )
        .against("a typical one-pool template", typical)
        .target(Target::AtMost(2.0 * MAX_NODE_POOLS as f64))
        .note("parse and validate in-process (in the xtask binary's build profile); linear work puts the ratio near the pool count"),
        Row::new(
            Group::Controlplane,
            "refusal of a 150,000-pool template (over the limit)",
            "ms",
            huge,
        )
        .note("before the limits the duplicate check alone was quadratic: ~27 s of CPU per request in a release build"),
    ])
}
