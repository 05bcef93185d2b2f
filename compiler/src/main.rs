#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use wayfinder_compiler::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = run(
        &cli,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
