//! Architecture invariant: only the server knows the protocol. The plugin protocol's types
//! (`pb::…`, `crate::proto::…`) appear in the protocol server, its conversions, the transport
//! that serves it and the module that includes the generated code — nowhere else in the
//! provider's source. Resources, data sources, ephemeral resources, functions and the HTTP
//! client work on the provider's own values and diagnostics.

use std::path::{Path, PathBuf};

/// The files that may name protocol types, relative to `src/`, and why.
const PROTOCOL_FILES: &[(&str, &str)] = &[
    ("lib.rs", "includes the generated code"),
    ("server.rs", "the protocol server: decode, call, encode"),
    (
        "server/to_proto.rs",
        "the provider's own types in the protocol's form",
    ),
    ("transport.rs", "go-plugin's handshake and the gRPC server"),
];

/// What names a protocol type.
const PROTOCOL_MARKERS: &[&str] = &["pb::", "crate::proto", "tfplugin6", "proto::plugin"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("provider/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(line number, line)` for each line of `text` that names a protocol type.
fn protocol_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| PROTOCOL_MARKERS.iter().any(|m| line.contains(m)))
        .map(|(i, line)| (i + 1, line.trim()))
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn relative(path: &Path) -> String {
    path.strip_prefix(src())
        .expect("under src/")
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn only_the_server_and_its_conversions_name_protocol_types() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    assert!(files.len() > 10, "found only {files:?}");
    let mut offences = Vec::new();
    for path in &files {
        let name = relative(path);
        if PROTOCOL_FILES.iter().any(|(f, _)| *f == name) {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("a readable source file");
        for (line, content) in protocol_lines(&text) {
            offences.push(format!("src/{name}:{line}: {content}"));
        }
    }
    assert!(
        offences.is_empty(),
        "protocol types outside the server (only {:?} may name them; return crate::diag::Diagnostic and the provider's own values instead):\n{}",
        PROTOCOL_FILES.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        offences.join("\n")
    );
}

#[test]
fn the_files_allowed_protocol_types_exist_and_the_server_uses_them() {
    for (file, why) in PROTOCOL_FILES {
        assert!(src().join(file).is_file(), "src/{file} ({why}) is missing");
    }
    let server = std::fs::read_to_string(src().join("server.rs")).expect("server.rs");
    assert!(
        !protocol_lines(&server).is_empty(),
        "the check finds nothing even in the protocol server: its markers are stale"
    );
}

#[test]
fn a_protocol_type_in_a_resource_would_be_found() {
    let sample = "use crate::diag::Diagnostic;\nfn f() -> Vec<pb::Diagnostic> { todo!() }\nuse crate::proto::tfplugin6 as pb;\n";
    let found: Vec<usize> = protocol_lines(sample).into_iter().map(|(l, _)| l).collect();
    assert_eq!(found, [2, 3]);
}
