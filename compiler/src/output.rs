//! Writing the modules to disk atomically, and checking a directory against them.
//!
//! Only the compiler's own files are touched. It lists every file it writes in a manifest
//! ([`MANIFEST`]) in the output directory; a later run removes the files that manifest lists
//! and it no longer writes (a cluster plan that was deleted), and never any other file.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::compile::{MANIFEST, manifest_paths};
use crate::definition::Module;

/// What [`write`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or replaced, relative to the module directory.
    pub written: Vec<String>,
    /// Files that already held exactly the right bytes and were not touched.
    pub unchanged: Vec<String>,
    /// Files an earlier run wrote (its manifest lists them) that are no longer written.
    pub removed: Vec<String>,
}

/// A file of the module whose copy on disk is not what the module holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Missing {
        path: String,
    },
    /// `line` is the first line (one-based) that differs.
    Differs {
        path: String,
        line: usize,
    },
    /// Written by an earlier run (its manifest lists it), and no longer written.
    Stale {
        path: String,
    },
}

impl Mismatch {
    pub fn path(&self) -> &str {
        match self {
            Mismatch::Missing { path }
            | Mismatch::Differs { path, .. }
            | Mismatch::Stale { path } => path,
        }
    }
}

/// The files the manifest in `dir` lists that the module no longer has and that exist: what
/// an earlier run wrote and this one would not. Paths that are not plain relative paths are
/// ignored, so a tampered manifest cannot reach outside `dir`.
fn stale(dir: &Path, module: &Module) -> Vec<String> {
    let Ok(text) = fs::read_to_string(dir.join(MANIFEST)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = manifest_paths(&text)
        .into_iter()
        .filter(|p| {
            let path = Path::new(p);
            path.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
                && module.get(p).is_none()
                && dir.join(path).is_file()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Writes the module into `dir`, creating it if needed. Every changed file is first written
/// in full to a temporary file beside it; only when all of them are written are they renamed
/// over the old ones, so a failure leaves the old files in place. Files that already hold
/// the right bytes are not touched (their modification times stay).
pub fn write(dir: &Path, module: &Module) -> io::Result<WriteReport> {
    if dir.exists() && !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        ));
    }
    let mut report = WriteReport::default();
    let mut staged: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    let result = (|| {
        for (rel, contents) in module.files() {
            let target = dir.join(rel);
            if fs::read(&target).is_ok_and(|old| old == contents.as_bytes()) {
                report.unchanged.push(rel.to_string());
                continue;
            }
            let parent = target.parent().unwrap_or(dir);
            fs::create_dir_all(parent)?;
            let temp = stage(&target, contents.as_bytes())?;
            staged.push((temp, target, rel.to_string()));
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (temp, _, _) in &staged {
            let _ = fs::remove_file(temp);
        }
        return Err(e);
    }
    let stale = stale(dir, module);
    let mut staged = staged.into_iter();
    while let Some((temp, target, rel)) = staged.next() {
        if let Err(e) = fs::rename(&temp, &target) {
            let _ = fs::remove_file(&temp);
            for (temp, _, _) in staged {
                let _ = fs::remove_file(temp);
            }
            return Err(io::Error::new(
                e.kind(),
                format!("cannot replace {}: {e}", target.display()),
            ));
        }
        report.written.push(rel);
    }
    for rel in stale {
        let path = dir.join(&rel);
        fs::remove_file(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot remove {}: {e}", path.display()))
        })?;
        // Directories it leaves empty go too (they were the compiler's), up to `dir`.
        let mut parent = path.parent();
        while let Some(p) = parent {
            if p == dir || fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
        report.removed.push(rel);
    }
    Ok(report)
}

/// Writes `contents` to a new temporary file in the target's directory and returns its
/// path. It keeps the target's permissions when the target exists.
fn stage(target: &Path, contents: &[u8]) -> io::Result<PathBuf> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0u32;
    let (path, mut file) = loop {
        let path = parent.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => break (path, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create a file in {}: {e}", parent.display()),
                ));
            }
        }
    };
    // Not fsynced: a reader never sees a half-written file (it is renamed into place whole),
    // and the files can always be compiled again; syncing each of thousands of files would
    // cost more than compiling them.
    let written = file
        .write_all(contents)
        .and_then(|()| match fs::metadata(target) {
            Ok(meta) => fs::set_permissions(&path, meta.permissions()),
            Err(_) => Ok(()),
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", path.display()),
        ));
    }
    Ok(path)
}

/// Compares `dir` with the module without writing anything; returns the files that are
/// missing or differ, in path order.
pub fn check(dir: &Path, module: &Module) -> io::Result<Vec<Mismatch>> {
    let mut mismatches = Vec::new();
    for (rel, contents) in module.files() {
        match fs::read(dir.join(rel)) {
            Ok(old) if old == contents.as_bytes() => {}
            Ok(old) => mismatches.push(Mismatch::Differs {
                path: rel.to_string(),
                line: first_different_line(&old, contents.as_bytes()),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => mismatches.push(Mismatch::Missing {
                path: rel.to_string(),
            }),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read {}: {e}", dir.join(rel).display()),
                ));
            }
        }
    }
    mismatches.extend(
        stale(dir, module)
            .into_iter()
            .map(|path| Mismatch::Stale { path }),
    );
    Ok(mismatches)
}

fn first_different_line(a: &[u8], b: &[u8]) -> usize {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    a[..common].iter().filter(|c| **c == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module() -> Module {
        let mut m = Module::default();
        m.insert("a.tf", "a = 1\n".into());
        m.insert("sub/b.tf", "b = 2\nc = 3\n".into());
        m
    }

    #[test]
    fn writes_then_reports_unchanged_and_leaves_other_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let m = module();
        let r = write(&out, &m).unwrap();
        assert_eq!(r.written, ["a.tf", "sub/b.tf"]);
        fs::write(out.join("keep.tf"), "x").unwrap();
        let r = write(&out, &m).unwrap();
        assert_eq!(r.unchanged, ["a.tf", "sub/b.tf"]);
        assert!(r.written.is_empty());
        assert_eq!(fs::read_to_string(out.join("keep.tf")).unwrap(), "x");
        let mut names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.tf", "keep.tf", "sub"], "no temporary files left");
        assert!(check(&out, &m).unwrap().is_empty());
    }

    #[test]
    fn check_lists_missing_and_different_files() {
        let dir = tempfile::tempdir().unwrap();
        let m = module();
        write(dir.path(), &m).unwrap();
        fs::write(dir.path().join("sub/b.tf"), "b = 2\nc = 4\n").unwrap();
        fs::remove_file(dir.path().join("a.tf")).unwrap();
        assert_eq!(
            check(dir.path(), &m).unwrap(),
            [
                Mismatch::Missing {
                    path: "a.tf".into()
                },
                Mismatch::Differs {
                    path: "sub/b.tf".into(),
                    line: 2
                }
            ]
        );
    }

    #[test]
    fn refuses_a_file_where_the_directory_should_be() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("out");
        fs::write(&f, "x").unwrap();
        assert!(write(&f, &module()).is_err());
        assert_eq!(fs::read_to_string(&f).unwrap(), "x");
    }
}
