//! `cargo xtask`: the project's tasks.
//!
//! - `cargo xtask test [--terraform VERSION,...]`: formatting, lints, the binaries, every
//!   test, and the acceptance tests against a matrix of Terraform releases (found or
//!   installed): in full against one and the smoke subset against the others, or in full
//!   against each release listed.
//! - `cargo xtask demo [--keep-running]`: a control plane, the example definitions compiled
//!   into a module, and `terraform apply` of it through the provider.
//! - `cargo xtask cluster [--replicas N] [--stop] [--reset]`: a local 3-member etcd and N
//!   server replicas on it (`--store etcd`), left running; `target/cluster/`.
//! - `cargo xtask docs [--check]`: the registry-layout docs generated from the schemas.
//! - `cargo xtask release`: release archives, checksums, manifest and a filesystem mirror.
//! - `cargo xtask bench [--quick] [--update-readme]`: figures against baselines measured in
//!   the same run, with targets; `target/bench/report.json`.
//! - `cargo xtask moto`: install moto (the AWS emulator) under target/moto/ and print the
//!   path of its `moto_server`.
//! - `cargo xtask fuzz [TARGET] [--time SECS] [--seeds]`: the cargo-fuzz targets of `fuzz/`
//!   (nightly), one after another; `--seeds` writes their seed corpora.
#![forbid(unsafe_code)]

mod bench;
mod cluster;
mod demo;
mod docs;
mod docs_render;
mod fuzz;
mod matrix;
mod opentofu;
mod release;
mod test;
mod util;

// Shared with the acceptance harness, which exposes them as `wayfinder_acceptance::{launch,
// report, terraform}`: one copy of the Terraform, server-process and skip-report logic. Not
// every item is used on both sides.
#[allow(dead_code)]
#[path = "../../tests/acceptance/src/etcd.rs"]
mod etcd;
#[allow(dead_code)]
#[path = "../../tests/acceptance/src/launch.rs"]
mod launch;
#[allow(dead_code)]
#[path = "../../tests/acceptance/src/report.rs"]
mod report;
#[allow(dead_code)]
#[path = "../../tests/acceptance/src/terraform.rs"]
mod terraform;
// The AWS driver's moto installer (std only): one copy of the pinned version and the venv.
#[allow(dead_code)]
#[path = "../../controlplane-aws/src/moto.rs"]
mod moto;
// The codec fuzz target's schema types, so that the seeds select them as the target does.
#[allow(dead_code)]
#[path = "../../fuzz/src/codec.rs"]
mod fuzz_codec;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Project tasks",
    version
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Check formatting and lints, build, run every test, and run the acceptance tests (the
    /// real Terraform CLI) against a matrix of Terraform releases, installed when absent.
    Test(test::Args),
    /// Start a control plane, compile examples/definitions into a Terraform module and
    /// apply it through the provider.
    Demo(demo::Args),
    /// Find Terraform as `test` does (installing it under target/terraform/ when needed) and
    /// print its path, e.g. for `WAYFINDER_TERRAFORM=$(cargo xtask terraform) cargo test`.
    Terraform(test::TerraformArgs),
    /// Start a replicated control plane on this machine and leave it running: a local
    /// etcd cluster (3 members) and N wayfinder-server replicas on it (`--stop` stops it).
    Cluster(cluster::Args),
    /// Generate docs/ (Terraform Registry layout) from the provider's schemas and
    /// examples/; with --check, fail when the committed docs differ.
    Docs(docs::Args),
    /// Build release binaries for this host and package them as the registries expect:
    /// provider zip, SHA256SUMS, manifest, a filesystem mirror, and the server and compiler.
    Release(release::Args),
    /// Measure the provider, compiler and control plane against baselines taken in the same
    /// run (Terraform's built-in terraform_data, a Go plugin-framework provider, terraform
    /// fmt, raw SQLite inserts); print the table and write target/bench/report.json.
    Bench(bench::Args),
    /// Run the cargo-fuzz targets (codec, compile, api_body) from their committed seeds,
    /// one after another (needs nightly and cargo-fuzz); --seeds writes the seeds instead.
    Fuzz(fuzz::Args),
    /// Install moto (the AWS emulator the AWS driver is tested against) in a venv under
    /// target/moto/ when absent, and print the path of its moto_server.
    Moto,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test(args) => test::run(&args),
        Task::Demo(args) => demo::run(&args),
        Task::Cluster(args) => cluster::run(&args),
        Task::Terraform(args) => test::print_terraform(&args),
        Task::Docs(args) => docs::run(&args),
        Task::Release(args) => release::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::Moto => test::print_moto(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
