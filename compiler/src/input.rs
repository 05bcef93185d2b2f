//! Finding and reading the input files.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::definition::Source;
use crate::diagnostic::Diagnostic;

/// Whether a directory entry is a definitions file.
fn is_definitions_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// The files named by `paths`: files as given, directories searched recursively for
/// `*.yaml` and `*.yml`. The result is sorted by path and free of duplicates (the same file
/// reached twice counts once), so it does not depend on argument or directory order.
/// Paths that do not exist or cannot be read are reported.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut visited_dirs = BTreeSet::new();
    for path in paths {
        match fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(Diagnostic::file(display(path), "no such file or directory"))
            }
            Err(e) => problems.push(Diagnostic::file(
                display(path),
                format!("cannot be read: {e}"),
            )),
            Ok(meta) if meta.is_dir() => {
                walk(path, &mut visited_dirs, &mut found, &mut problems);
            }
            Ok(_) => found.push(path.clone()),
        }
    }
    found.sort();
    let mut seen = BTreeSet::new();
    found.retain(|p| seen.insert(fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    (found, problems)
}

fn walk(
    dir: &Path,
    visited: &mut BTreeSet<PathBuf>,
    found: &mut Vec<PathBuf>,
    problems: &mut Vec<Diagnostic>,
) {
    // Symbolic links are followed; a directory seen before (a link loop) is not re-entered.
    if !visited.insert(fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())) {
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Diagnostic::file(
                display(dir),
                format!("directory cannot be read: {e}"),
            ));
            return;
        }
    };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => children.push(entry.path()),
            Err(e) => problems.push(Diagnostic::file(
                display(dir),
                format!("directory cannot be read: {e}"),
            )),
        }
    }
    children.sort();
    for child in children {
        match fs::metadata(&child) {
            Ok(meta) if meta.is_dir() => walk(&child, visited, found, problems),
            Ok(meta) if meta.is_file() && is_definitions_file(&child) => found.push(child),
            Ok(_) => {}
            // A dangling link that looks like a definitions file is worth a word.
            Err(e) if is_definitions_file(&child) => problems.push(Diagnostic::file(
                display(&child),
                format!("cannot be read: {e}"),
            )),
            Err(_) => {}
        }
    }
}

/// Reads each file; a file that cannot be read or is not UTF-8 is reported.
pub fn read_sources(files: &[PathBuf]) -> (Vec<Source>, Vec<Diagnostic>) {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let name = display(file);
        match fs::read(file) {
            Ok(bytes) => match Source::from_bytes(name, bytes) {
                Ok(source) => sources.push(source),
                Err(d) => problems.push(*d),
            },
            Err(e) => problems.push(Diagnostic::file(name, format!("cannot be read: {e}"))),
        }
    }
    (sources, problems)
}

/// A path for messages, with `/` separators on every platform.
pub fn display(path: &Path) -> String {
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        text.into_owned()
    } else {
        text.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

/// `path` relative to directory `base`, worked out lexically from their absolute forms (so
/// it does not matter whether either was given relative or absolute, or whether `base`
/// exists yet), with `/` separators. Falls back to `path` as given when there is no relative
/// form (another drive on Windows).
pub fn relative_to(path: &Path, base: &Path) -> String {
    let (Ok(p), Ok(b)) = (std::path::absolute(path), std::path::absolute(base)) else {
        return display(path);
    };
    let (p, b) = (normalize(&p), normalize(&b));
    let pc: Vec<Component> = p.components().collect();
    let bc: Vec<Component> = b.components().collect();
    if pc.first() != bc.first() {
        return display(path);
    }
    let common = pc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..bc.len() {
        parts.push("..".into());
    }
    for c in &pc[common..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Removes `.` and folds `..` into its parent, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/r/defs/a.yaml"), Path::new("/r/out")),
            "../defs/a.yaml"
        );
        assert_eq!(
            relative_to(Path::new("/r/defs/./x/../a.yaml"), Path::new("/r/out/")),
            "../defs/a.yaml"
        );
        assert_eq!(
            relative_to(Path::new("/r/out/a.yaml"), Path::new("/r/out")),
            "a.yaml"
        );
        assert_eq!(
            relative_to(Path::new("/a.yaml"), Path::new("/r/out/mod")),
            "../../../a.yaml"
        );
    }

    #[test]
    fn discovery_is_sorted_recursive_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/nested")).unwrap();
        for f in [
            "b/nested/z.yml",
            "b/a.yaml",
            "c.yaml",
            "notes.txt",
            "b/x.json",
        ] {
            fs::write(root.join(f), "").unwrap();
        }
        let (files, problems) = discover(&[
            root.join("c.yaml"),
            root.join("b"),
            root.join("b/a.yaml"),
            root.join("missing"),
        ]);
        let rel: Vec<String> = files.iter().map(|f| relative_to(f, root)).collect();
        assert_eq!(rel, ["b/a.yaml", "b/nested/z.yml", "c.yaml"]);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .to_string()
                .ends_with("missing: no such file or directory")
        );
    }
}
