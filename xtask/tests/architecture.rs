//! The architecture invariants that can be checked mechanically, and the code map
//! (`ARCHITECTURE.md`) kept true: every module of the main crates is on the map, and every
//! file the map names exists.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository root")
        .to_path_buf()
}

fn architecture_md() -> String {
    fs::read_to_string(repo_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists")
}

/// Every `.rs` file under `dir`, as paths relative to it, sorted.
fn rust_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(base).expect("under base");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// The part of ARCHITECTURE.md about one crate: from its `### \`DIR/\`` heading to the next
/// heading of the same level.
fn section<'a>(md: &'a str, dir: &str) -> &'a str {
    let heading = format!("### `{dir}/`");
    let start = md
        .find(&heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no section {heading}"));
    let rest = &md[start + heading.len()..];
    let end = rest.find("\n### ").unwrap_or(rest.len());
    &rest[..end]
}

/// Test sidecars and declarations-only files need no place on the map.
fn needs_a_place(rel: &str) -> bool {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    !(rel.contains("tests/") || file == "tests.rs" || file.ends_with("_tests.rs"))
}

#[test]
fn every_module_of_the_main_crates_is_on_the_code_map() {
    let md = architecture_md();
    let mut missing = Vec::new();
    for dir in [
        "model",
        "controlplane",
        "controlplane-aws",
        "controlplane-etcd",
        "provider",
        "compiler",
    ] {
        let text = section(&md, dir);
        for rel in rust_files(&repo_root().join(dir).join("src")) {
            if !needs_a_place(&rel) {
                continue;
            }
            // A file is on the map when its name appears in its crate's section; a directory
            // module's `mod.rs` when its directory does (`policy/`).
            let file = rel.rsplit('/').next().unwrap_or(&rel);
            let named = if file == "mod.rs" {
                let dir_name = rel.trim_end_matches("/mod.rs");
                text.contains(&format!("{dir_name}/")) || text.contains(&rel)
            } else {
                text.contains(file)
            };
            if !named {
                missing.push(format!("{dir}/src/{rel}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not place these files (name each in its crate's section):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn every_file_the_code_map_names_exists() {
    let md = architecture_md();
    let root = repo_root();
    let all: BTreeSet<String> = [
        "model",
        "controlplane",
        "controlplane-aws",
        "controlplane-etcd",
        "provider",
        "compiler",
        "xtask",
    ]
    .iter()
    .flat_map(|dir| {
        rust_files(&root.join(dir))
            .into_iter()
            .map(move |rel| format!("{dir}/{rel}"))
    })
    .chain(
        rust_files(&root.join("tests/acceptance"))
            .into_iter()
            .map(|rel| format!("tests/acceptance/{rel}")),
    )
    .collect();
    let mut unknown = Vec::new();
    for quoted in md.split('`').skip(1).step_by(2) {
        // File names in backquotes, e.g. `lifecycle.rs` or `provider/tests/layering.rs`; a
        // quoted item may also carry words after the name (`server/to_proto.rs`).
        let Some(token) = quoted.split_whitespace().next() else {
            continue;
        };
        let token = token.trim_end_matches([',', '.', ':', ';', ')']);
        if !token.ends_with(".rs") || token.contains('*') {
            continue;
        }
        let exists =
            root.join(token).is_file() || all.iter().any(|p| p.ends_with(&format!("/{token}")));
        if !exists {
            unknown.push(token.to_string());
        }
    }
    assert!(
        unknown.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {unknown:?}"
    );
}

/// The model is the one engine everything else calls; it stays free of I/O, async runtimes
/// and network clients, so it can run anywhere (the provider's functions, the compiler, fuzz
/// targets) and its answers depend on its input alone.
#[test]
fn the_model_depends_only_on_parsing_crates() {
    const ALLOWED: &[&str] = &[
        "serde",
        "serde_json",
        "serde_yaml_ng",
        "serde_path_to_error",
        "saphyr-parser",
        "thiserror",
    ];
    let manifest =
        fs::read_to_string(repo_root().join("model/Cargo.toml")).expect("model manifest");
    let mut section = "";
    let mut extra = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section != "[dependencies]" || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['=', '.'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if !ALLOWED.contains(&name.as_str()) {
            extra.push(name);
        }
    }
    assert!(
        extra.is_empty(),
        "wayfinder-model must stay free of I/O; these dependencies are not on its list: {extra:?} \
         (ARCHITECTURE.md, model invariants)"
    );
}

#[test]
fn the_model_does_no_io() {
    // Outside comments and tests: no file, process, environment, socket or clock access.
    const FORBIDDEN: &[&str] = &[
        "std::fs",
        "std::process",
        "std::env",
        "std::net::TcpStream",
        "std::net::UdpSocket",
        "std::net::TcpListener",
        "SystemTime::now",
        "Instant::now",
        "tokio",
        "File::open",
        "File::create",
    ];
    let src = repo_root().join("model/src");
    let mut found = Vec::new();
    for rel in rust_files(&src) {
        if rel.contains("tests/") || rel.ends_with("tests.rs") {
            continue;
        }
        let text = fs::read_to_string(src.join(&rel)).expect("model source");
        // Unit tests at the end of a file may touch the disk (fixtures); the rule is for the
        // engine itself.
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for (i, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            for f in FORBIDDEN {
                if line.contains(f) {
                    found.push(format!("model/src/{rel}:{}: {f}", i + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the model does no I/O (ARCHITECTURE.md):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_readme_has_one_layout_table_and_points_to_the_code_map() {
    let readme = fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let tables = readme.matches("| directory | what |").count();
    assert_eq!(
        tables, 1,
        "README.md should have one layout table (it has {tables}); the code map is ARCHITECTURE.md"
    );
    assert!(
        readme.contains("ARCHITECTURE.md"),
        "README.md should point to ARCHITECTURE.md"
    );
}
