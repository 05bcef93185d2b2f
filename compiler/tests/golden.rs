//! Golden tests: each directory under `tests/golden/` holds `input/` (definitions; the
//! `examples` case links to the repository's `examples/definitions/`) and `expected/` (every
//! file `wayfinder-compile input --out expected` must produce, byte for byte, and no other).
//! Run with `WAYFINDER_UPDATE_GOLDEN=1` to rewrite the expected files after an intended
//! change, then review the diff. `tests/terraform.rs` runs `terraform fmt -check` over them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use wayfinder_compiler::{CompileOptions, compile, input};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/golden exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "expected golden cases in {}",
        root.display()
    );
    cases
}

/// Every file under `dir`, relative, with `/` separators, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(input::relative_to(&p, base));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn the_library_produces_the_expected_files() {
    if std::env::var_os("WAYFINDER_UPDATE_GOLDEN").is_some() {
        return;
    }
    for case in cases() {
        let (files, problems) = input::discover(&[case.join("input")]);
        assert!(problems.is_empty(), "{problems:?}");
        let (sources, problems) = input::read_sources(&files);
        assert!(problems.is_empty(), "{problems:?}");
        let options = CompileOptions {
            generated_from: vec!["../input/".into()],
            ..CompileOptions::default()
        };
        let compiled =
            compile(&sources, &options).unwrap_or_else(|e| panic!("{}: {e:#?}", case.display()));
        let names: Vec<String> = compiled
            .module
            .files()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(
            names,
            tree(&case.join("expected")),
            "{}: the files differ from the expected ones; rerun with WAYFINDER_UPDATE_GOLDEN=1 if the change is intended",
            case.display()
        );
        for (path, contents) in compiled.module.files() {
            let expected_path = case.join("expected").join(path);
            let expected = fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            assert_eq!(
                contents,
                expected,
                "{} differs; rerun with WAYFINDER_UPDATE_GOLDEN=1 if the change is intended",
                expected_path.display()
            );
        }
    }
}

#[test]
fn the_command_line_agrees_with_the_expected_files() {
    let update = std::env::var_os("WAYFINDER_UPDATE_GOLDEN").is_some();
    for case in cases() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wayfinder-compile"));
        cmd.current_dir(&case).args(["input", "--out", "expected"]);
        if !update {
            cmd.arg("--check");
        }
        let out = cmd.output().expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            case.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}
