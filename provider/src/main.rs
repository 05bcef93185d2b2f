#![forbid(unsafe_code)]

use std::process::ExitCode;

use terraform_provider_wayfinder::{logging, transport};

const USAGE: &str =
    "terraform-provider-wayfinder: the Wayfinder provider for Terraform and OpenTofu.

Terraform starts this program itself; see the provider's docs to install it.

Usage:
  terraform-provider-wayfinder --debug     serve without TLS and print a TF_REATTACH_PROVIDERS value
  terraform-provider-wayfinder --version   print the version";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            logging::init();
            transport::serve_plugin().await
        }
        ["--debug"] => {
            logging::init();
            transport::serve_debug().await
        }
        ["--version" | "-v" | "version"] => {
            println!("terraform-provider-wayfinder {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("terraform-provider-wayfinder: unexpected arguments {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("terraform-provider-wayfinder: {msg}");
            ExitCode::FAILURE
        }
    }
}
