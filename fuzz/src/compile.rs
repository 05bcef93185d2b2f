//! `wayfinder-compile` on arbitrary input files: parse, validate, resolve, emit.
//!
//! Input: the bytes of one or more definition files, separated by NUL bytes (which YAML
//! cannot hold, so no file loses a character it could have had).
//!
//! What must hold:
//! - never a panic, whatever the bytes (not UTF-8, not YAML, YAML of the wrong shape, valid
//!   definitions that reference each other in odd ways);
//! - a failure is a non-empty list of error diagnostics, each naming its file and saying
//!   something;
//! - the output is deterministic: compiling the same files again gives the same bytes, and
//!   so does compiling them in the opposite order (with the same provenance header);
//! - every `.tf` and `.tftest.hcl` file it writes is HCL that an independent parser
//!   (hcl-rs) reads.
//!
//! Shared by the `compile` fuzz target and `compiler/tests/prop_compile.rs` (stable, in CI).

use wayfinder_compiler::{CompileOptions, Source, compile};

/// The separator between files in one input.
pub const FILE_SEPARATOR: u8 = 0;

/// At most this many files per input (the rest are joined to the last).
const MAX_FILES: usize = 16;

pub fn check(data: &[u8]) {
    let mut sources = Vec::new();
    for (i, bytes) in data.splitn(MAX_FILES, |b| *b == FILE_SEPARATOR).enumerate() {
        let name = format!("input-{i}.yaml");
        match Source::from_bytes(name.clone(), bytes.to_vec()) {
            Ok(s) => sources.push(s),
            Err(d) => {
                // Not UTF-8: reported against the file, with a message and a position.
                assert_eq!(d.file, name);
                assert!(d.is_error() && !d.message.is_empty(), "{d:?}");
                assert!(d.line.is_some() && d.column.is_some(), "{d:?}");
            }
        }
    }
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let options = CompileOptions {
        generated_from: names.clone(),
        ..CompileOptions::default()
    };
    let first = compile(&sources, &options);
    let second = compile(&sources, &options);
    assert!(
        first == second,
        "compiling the same input twice gave different results"
    );
    match first {
        Err(problems) => {
            assert!(
                problems.iter().any(|d| d.is_error()),
                "a failed compilation reports at least one error: {problems:?}"
            );
            for d in &problems {
                // With no readable file at all, the compiler speaks of `<input>`.
                assert!(
                    names.contains(&d.file) || (names.is_empty() && d.file == "<input>"),
                    "diagnostic names an input file: {d:?}"
                );
                assert!(
                    !d.message.trim().is_empty(),
                    "diagnostic says something: {d:?}"
                );
                let _ = d.to_string();
                let _ = d.to_json_line();
            }
        }
        Ok(compiled) => {
            assert!(!compiled.module.is_empty(), "a compilation writes files");
            assert!(compiled.notices.iter().all(|d| !d.is_error()));
            for (path, text) in compiled.module.files() {
                if (path.ends_with(".tf") || path.ends_with(".hcl"))
                    && let Err(e) = hcl::parse(text)
                {
                    panic!("{path} is not HCL: {e}\n{text}");
                }
            }
            let mut reversed = sources.clone();
            reversed.reverse();
            match compile(&reversed, &options) {
                Ok(again) => assert!(
                    again.module == compiled.module,
                    "the output depends on the order of the input files"
                ),
                Err(e) => panic!("the same files in the opposite order fail: {e:?}"),
            }
        }
    }
}
