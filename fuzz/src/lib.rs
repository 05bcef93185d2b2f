//! What each fuzz target checks. Each module's `check` takes one input and panics when a
//! property fails; the fuzz targets (`fuzz_targets/`, nightly, libFuzzer) and the property
//! tests of the crates (stable, in CI) call the same functions on the same kinds of input.
#![forbid(unsafe_code)]

pub mod api;
pub mod codec;
pub mod compile;
pub mod mutate;
