//! Checks against the real Terraform CLI: everything we generate is left unchanged by
//! `terraform fmt`, and our string escaping means what we think it means. (`validate` and
//! `test` need the provider: they are in the acceptance suite, tests/compiler.rs.)
//!
//! Terraform is found through `WAYFINDER_TERRAFORM` (a path) or `terraform` on `PATH`. When
//! there is none these tests fail, unless `WAYFINDER_SKIP_TERRAFORM=1` says to skip them.

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use wayfinder_compiler::hcl::{Block, Body, Expr, File, ObjectKey};

/// Terraform, configured to read no user configuration and to call no one.
struct Terraform {
    binary: PathBuf,
    _config_dir: tempfile::TempDir,
    config_file: PathBuf,
}

impl Terraform {
    /// `None` (after saying so) when skipping is allowed; panics when Terraform is required
    /// but absent.
    fn find() -> Option<Self> {
        let binary = match std::env::var_os("WAYFINDER_TERRAFORM").filter(|v| !v.is_empty()) {
            Some(path) => {
                let path = PathBuf::from(path);
                assert!(
                    path.is_file(),
                    "WAYFINDER_TERRAFORM={} is not a file",
                    path.display()
                );
                Some(path)
            }
            None => on_path("terraform"),
        };
        let Some(binary) = binary else {
            if std::env::var_os("WAYFINDER_SKIP_TERRAFORM").is_some_and(|v| v == "1") {
                eprintln!("skipped: no terraform binary and WAYFINDER_SKIP_TERRAFORM=1");
                return None;
            }
            panic!(
                "these tests need Terraform: put `terraform` on PATH or set WAYFINDER_TERRAFORM \
                 to its path (or set WAYFINDER_SKIP_TERRAFORM=1 to skip them)"
            );
        };
        let config_dir = tempfile::tempdir().expect("temp dir");
        let config_file = config_dir.path().join("terraformrc");
        fs::write(&config_file, "").expect("empty CLI configuration");
        Some(Self {
            binary,
            _config_dir: config_dir,
            config_file,
        })
    }

    fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.current_dir(dir)
            .env("TF_CLI_CONFIG_FILE", &self.config_file)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_CLI_ARGS")
            .env_remove("TF_CLI_ARGS_fmt");
        cmd
    }

    /// `(major, minor)` of this Terraform.
    fn version(&self) -> (u32, u32) {
        let out = self
            .command(Path::new("."))
            .arg("version")
            .output()
            .expect("terraform runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let v = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("Terraform v"))
            .unwrap_or_else(|| panic!("unexpected `terraform version`: {text}"));
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// Asserts that every generated module under `root` (`…/catalog`, `…/clusters/*`) is
    /// formatted. A self-service module calls a provider function, syntax that `fmt` reads
    /// from Terraform 1.8 on; older versions skip those modules, and say so.
    fn assert_modules_formatted(&self, root: &Path) {
        let modern = self.version() >= (1, 8);
        let mut checked = 0;
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).expect("readable").flatten() {
                let p = e.path();
                if !p.is_dir() {
                    continue;
                }
                let in_clusters = p
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "clusters");
                if p.file_name().is_some_and(|n| n == "catalog") || in_clusters {
                    if in_clusters && !modern {
                        println!(
                            "skipped: {}: a self-service module may call a provider function, which terraform fmt reads from Terraform 1.8 on (this is {:?})",
                            p.display(),
                            self.version()
                        );
                    } else {
                        self.assert_formatted(&p);
                        checked += 1;
                    }
                } else {
                    stack.push(p);
                }
            }
        }
        assert!(checked > 0, "no module under {}", root.display());
    }

    /// Asserts that `terraform fmt -check -diff -recursive` finds nothing to change in `dir`.
    fn assert_formatted(&self, dir: &Path) {
        let out = self
            .command(dir)
            .args(["fmt", "-check", "-diff", "-recursive", "-no-color"])
            .output()
            .expect("terraform runs");
        assert!(
            out.status.success(),
            "terraform fmt would change files in {}:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Evaluates `expression` with `terraform console` in `dir`.
    fn console(&self, dir: &Path, expression: &str) -> Output {
        let mut child = self
            .command(dir)
            .arg("console")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("terraform runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{expression}\n").as_bytes())
            .expect("write");
        child.wait_with_output().expect("terraform finishes")
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path: OsString = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn golden_files_are_formatted() {
    let Some(tf) = Terraform::find() else { return };
    tf.assert_modules_formatted(&manifest_dir().join("tests/golden"));
}

#[test]
fn compiled_examples_are_formatted() {
    let Some(tf) = Terraform::find() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wayfinder-compile"))
        .arg(manifest_dir().join("../examples/definitions"))
        .arg("--out")
        .arg(dir.path().join("module"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tf.assert_modules_formatted(dir.path());
}

/// Strings that stress the escaping: every escape, template introducers next to each
/// other, control characters, non-ASCII.
const STRINGS: &[&str] = &[
    "",
    "plain",
    "back\\slash and \"quotes\"",
    "line\nbreak\r\ttab",
    "${var.x}",
    "%{ if true }x%{ endif }",
    "$${already}",
    "%%{already}",
    "$$${x}",
    "$",
    "%",
    "trailing $",
    "trailing %",
    "${",
    "{$}",
    "ctl \u{1}\u{1f}\u{7f}\u{85}",
    "café ☕ 😀 e\u{301}",
    "\u{2028}sep",
];

fn keyed_objects() -> Expr {
    Expr::Object(
        STRINGS
            .iter()
            .enumerate()
            .map(|(i, s)| (ObjectKey::Map(format!("{s}{i}")), Expr::string(*s)))
            .collect(),
    )
}

/// A file exercising every shape the writer produces.
fn torture() -> File {
    let pool = |name: &str| {
        Expr::Object(vec![
            (
                ObjectKey::Attribute("logical_name".into()),
                Expr::string(name),
            ),
            (
                ObjectKey::Attribute("x".into()),
                Expr::Number("-1.5e-7".into()),
            ),
            (
                ObjectKey::Attribute("empty_list".into()),
                Expr::Tuple(vec![]),
            ),
            (
                ObjectKey::Attribute("empty_object".into()),
                Expr::Object(vec![]),
            ),
            (
                ObjectKey::Attribute("nested".into()),
                Expr::Tuple(vec![
                    Expr::Tuple(vec![Expr::int(1), Expr::Null, Expr::Bool(false)]),
                    Expr::Object(vec![(
                        ObjectKey::Attribute("deep".into()),
                        Expr::Tuple(vec![Expr::Object(vec![])]),
                    )]),
                ]),
            ),
            (
                ObjectKey::Attribute("after_multi_line".into()),
                Expr::int(1),
            ),
            (ObjectKey::Attribute("y".into()), Expr::Bool(true)),
        ])
    };
    let mut resource = Body::new();
    resource
        .attribute("name", Expr::string("a"))
        .attribute("a_much_longer_name", Expr::string("b"))
        .attribute("pools", Expr::Tuple(vec![pool("one"), pool("two")]))
        .attribute("short", Expr::int(0))
        .attribute(
            "strings",
            Expr::Tuple(STRINGS.iter().map(|s| Expr::string(*s)).collect()),
        )
        .attribute("keyed", keyed_objects())
        .attribute("ref", Expr::traversal(&["wayfinder_x", "a", "id"]))
        .block(Block::new("lifecycle", &[], {
            let mut b = Body::new();
            b.attribute("prevent_destroy", Expr::Bool(true));
            b
        }))
        .attribute("after_block", Expr::int(2))
        .block(Block::new("empty", &[], Body::new()))
        .block(Block::new("nested", &[], {
            let mut b = Body::new();
            b.attribute("a", Expr::int(1))
                .attribute("bbb", Expr::Tuple(vec![]))
                .block(Block::new("inner", &[], {
                    let mut i = Body::new();
                    i.attribute("x", Expr::string("y"));
                    i
                }))
                .block(Block::new("inner", &[], Body::new()));
            b
        }));
    let mut locals = Body::new();
    locals
        .attribute(
            "strings",
            Expr::Tuple(STRINGS.iter().map(|s| Expr::string(*s)).collect()),
        )
        .attribute("keyed", keyed_objects());
    let mut body = Body::new();
    body.block(Block::new("locals", &[], locals))
        .block(Block::new(
            "resource",
            &["wayfinder_x", "label \"with\" quotes\n"],
            resource,
        ));
    File::new(body).with_header("Torture test.\nSecond line; trailing space   ")
}

#[test]
fn the_writer_output_is_formatted_and_strings_mean_what_they_say() {
    let Some(tf) = Terraform::find() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = torture().render();
    fs::write(dir.path().join("main.tf"), &text).unwrap();
    tf.assert_formatted(dir.path());

    // The strings and map keys read back as the values we wrote. The resource block needs
    // a provider, so evaluate a configuration holding only the locals.
    let locals_only = tempfile::tempdir().unwrap();
    let end = text.find("\nresource ").expect("resource block");
    fs::write(locals_only.path().join("main.tf"), &text[..end]).unwrap();
    let out = tf.console(
        locals_only.path(),
        "base64encode(jsonencode({strings = local.strings, keyed = local.keyed}))",
    );
    assert!(
        out.status.success(),
        "terraform console: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let b64 = printed.trim().trim_matches('"');
    let json = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|e| panic!("{printed}: {e}"));
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let strings: Vec<&str> = value["strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Terraform normalises every string to NFC (cty does), whatever the escaping; that is
    // the one change it makes.
    let nfc = |s: &str| s.replace("e\u{301}", "\u{e9}");
    let expected: Vec<String> = STRINGS.iter().map(|s| nfc(s)).collect();
    assert_eq!(strings, expected);
    for (i, s) in STRINGS.iter().enumerate() {
        assert_eq!(value["keyed"][nfc(&format!("{s}{i}"))], nfc(s), "key {i}");
    }
}
