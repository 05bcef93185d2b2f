//! The committed seed corpora and byte-level edits of them, for the property tests that run
//! the fuzz targets' checks on stable (no dependencies, so each crate's tests can include
//! it with `#[path]`).

use std::path::PathBuf;

/// `fuzz/corpus/{target}/`: the committed seeds, sorted by file name so that a proptest
/// case picks the same seed on every machine.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    // Every crate that includes this file sits next to `fuzz/`.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect();
    assert!(!seeds.is_empty(), "{} holds seeds", dir.display());
    seeds
}

/// One edit: `op` chooses what (overwrite, insert, delete, splice in part of another seed,
/// truncate, flip a bit), `at` where (taken modulo the length), `bytes` with what.
pub type Edit = (u8, usize, Vec<u8>);

/// `seed` with `edits` applied in order; `other` is what a splice takes from.
pub fn apply(seed: &[u8], other: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for (op, at, bytes) in edits {
        let i = at % (out.len() + 1);
        match op % 6 {
            0 => {
                for (j, b) in bytes.iter().enumerate() {
                    if let Some(x) = out.get_mut(i + j) {
                        *x = *b;
                    }
                }
            }
            1 => {
                out.splice(i..i, bytes.iter().copied());
            }
            2 => {
                let end = (i + bytes.len().max(1)).min(out.len());
                out.drain(i..end);
            }
            3 => {
                let from = at % (other.len() + 1);
                let end = (from + bytes.len() * 8).min(other.len());
                out.splice(i..i, other[from..end].iter().copied());
            }
            4 => out.truncate(i),
            _ => {
                if let (Some(x), Some(b)) = (out.get_mut(i), bytes.first()) {
                    *x ^= 1 << (b % 8);
                }
            }
        }
    }
    out
}
