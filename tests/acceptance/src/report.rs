//! What the tests could not test, told to whoever runs them: a test that skips itself (no
//! Terraform, or one too old for the feature) or a part of itself prints why, and when
//! `WAYFINDER_SKIP_REPORT` names a file, also appends one JSON line there, so that
//! `cargo xtask test` can count it as skipped rather than passed and list the reasons.
//!
//! Like `terraform.rs`, this file is compiled twice: into the harness (which writes the
//! lines) and into `cargo xtask` with `#[path]` (which reads them). It depends on `std` and
//! `serde_json` only.
//!
//! The smoke subset is every acceptance test whose name starts with [`SMOKE_PREFIX`]:
//! `cargo test -p wayfinder-acceptance --tests smoke_` runs it (libtest's name filter).

use std::io::Write as _;
use std::path::Path;

use serde_json::{Value, json};

/// The environment variable naming the file skips are appended to (JSON lines).
pub const ENV_SKIP_REPORT: &str = "WAYFINDER_SKIP_REPORT";

/// The name prefix of the acceptance tests in the smoke subset.
pub const SMOKE_PREFIX: &str = "smoke_";

/// One skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The test binary, such as `credentials` (the file under `tests/`).
    pub binary: String,
    /// The test's name, such as `smoke_credentials_reach_their_consumer`.
    pub test: String,
    /// Whether the whole test was skipped (`false`: a part of it, the rest ran).
    pub whole: bool,
    /// Why, such as `ephemeral resources need Terraform >= 1.10, this is 1.6.6`.
    pub reason: String,
}

impl Skip {
    /// The skip of the running test: its binary from the executable's name, its name from
    /// the thread libtest runs it on.
    pub fn here(whole: bool, reason: &str) -> Skip {
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .map(|stem| test_binary_name(&stem).to_string())
            .unwrap_or_else(|| "?".to_string());
        let test = std::thread::current()
            .name()
            .filter(|n| *n != "main")
            .unwrap_or("?")
            .to_string();
        Skip {
            binary,
            test,
            whole,
            reason: reason.to_string(),
        }
    }

    /// The line printed on the test's stdout.
    pub fn line(&self) -> String {
        let what = if self.whole {
            "skipped"
        } else {
            "partly skipped"
        };
        format!("{what}: {}", self.reason)
    }

    fn to_json(&self) -> Value {
        json!({
            "binary": self.binary,
            "test": self.test,
            "whole": self.whole,
            "reason": self.reason,
        })
    }

    fn from_json(value: &Value) -> Option<Skip> {
        Some(Skip {
            binary: value["binary"].as_str()?.to_string(),
            test: value["test"].as_str()?.to_string(),
            whole: value["whole"].as_bool()?,
            reason: value["reason"].as_str()?.to_string(),
        })
    }
}

/// `credentials-0123456789abcdef` (cargo's test executable) → `credentials`.
pub fn test_binary_name(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((name, hash)) if !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    }
}

/// Prints the skip and, when [`ENV_SKIP_REPORT`] is set, appends it to that file. A file
/// that cannot be written is said on stderr; the test goes on.
pub fn record(skip: &Skip) {
    println!("{}", skip.line());
    let Some(path) = std::env::var_os(ENV_SKIP_REPORT).filter(|p| !p.is_empty()) else {
        return;
    };
    // One write of one line to a file opened for appending: lines from tests running in
    // parallel (threads and processes) do not interleave.
    let line = format!("{}\n", skip.to_json());
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "could not record the skip in {} ({ENV_SKIP_REPORT}): {e}",
            Path::new(&path).display()
        );
    }
}

/// The skips recorded in `path`; none when the file does not exist. Lines that are not
/// skips are ignored.
pub fn read(path: &Path) -> std::io::Result<Vec<Skip>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Skip::from_json(&v))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_binaries_lose_their_hash() {
        assert_eq!(
            test_binary_name("credentials-68c2983b7aca071f"),
            "credentials"
        );
        assert_eq!(
            test_binary_name("workspaced_versioned-36020275d24e72d5"),
            "workspaced_versioned"
        );
        assert_eq!(test_binary_name("xtask"), "xtask");
        assert_eq!(test_binary_name("a-b-zz"), "a-b-zz");
    }

    #[test]
    fn skips_round_trip_through_the_report_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skips.jsonl");
        assert!(read(&path).unwrap().is_empty());
        let skip = Skip {
            binary: "credentials".into(),
            test: "smoke_x".into(),
            whole: true,
            reason: "ephemeral resources need \"1.10\"".into(),
        };
        let part = Skip {
            whole: false,
            ..skip.clone()
        };
        let mut text = format!("{}\nnot json\n{{}}\n", skip.to_json());
        text.push_str(&format!("{}\n", part.to_json()));
        std::fs::write(&path, text).unwrap();
        assert_eq!(read(&path).unwrap(), vec![skip.clone(), part.clone()]);
        assert_eq!(skip.line(), "skipped: ephemeral resources need \"1.10\"");
        assert!(part.line().starts_with("partly skipped: "));
    }

    #[test]
    fn the_running_test_is_named_after_its_thread() {
        let skip = Skip::here(true, "why");
        assert_eq!(
            skip.test,
            "report::tests::the_running_test_is_named_after_its_thread"
        );
        // The harness's unit tests, or xtask's (which compiles this file too).
        assert!(
            ["wayfinder_acceptance", "xtask"].contains(&skip.binary.as_str()),
            "{skip:?}"
        );
    }
}
