//! `wayfinder-compile`: Wayfinder definitions (YAML) in, a Terraform module out.
//!
//! The output is deterministic (the same definitions give the same bytes, whatever the file
//! system or argument order) and byte-identical to what `terraform fmt` would make of it.
//! Parsing and validation are the model's ([`wayfinder_model`]); this crate finds and reads
//! the inputs ([`input`]), maps each object onto a resource ([`compile`]) following the
//! kind's field shape in the model (the one the provider's schema is built from: nested
//! objects are nested blocks), renders HCL ([`hcl`]) and writes or checks the module
//! directory ([`output`]).
//!
//! ```text
//! wayfinder-compile PATH... --out DIR [--check] [--message-format human|json]
//!                   [--provider-version CONSTRAINT]
//! wayfinder-compile --migrate PATH... --out DIR [--check]
//! ```
//!
//! Legacy `v2beta1` definitions (ClusterPlan, Package, CloudAccessConfig, CloudIdentity)
//! are migrated on the way in ([`migrate`]), each migration said in a notice; `--migrate`
//! writes the `v2beta2` definitions they become instead of compiling.
//!
//! Exit status: 0 on success; 1 when any input has a problem (all are reported, nothing is
//! written), when `--check` finds DIR out of date, or when writing fails; 2 for usage
//! errors.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod compile;
pub mod definition;
pub mod diagnostic;
pub mod hcl;
pub mod input;
pub mod migrate;
pub mod module;
pub mod output;
pub mod shapes;

pub use compile::{CompileOptions, Compiled, compile};
pub use definition::{Definition, Module, Source};
pub use diagnostic::{Diagnostic, MessageFormat, Severity};
