//! Row 4: `wayfinder-compile` over 10,000 definitions, against `terraform fmt -check
//! -recursive` over what it wrote.
//!
//! The definitions are copies of `examples/definitions` (compute templates, network plans,
//! assignable networks, packages, cluster plans, provisioning policies), each copy's names
//! suffixed so that its references still resolve within the copy, topped up with compute
//! templates to exactly 10,000. Each run compiles into an empty directory (so every file is
//! written), then formats-checks the result, which must already be formatted.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{Ctx, Group, Row, Sample, Target, fresh_dir, timed};
use crate::terraform;
use crate::util::detail;

const DEFINITIONS: usize = 10_000;

/// One example file.
struct Example {
    name: String,
    text: String,
    /// How many documents (definitions) it holds.
    documents: usize,
    /// Whether it refers to nothing (a compute template), so it can be copied alone.
    standalone: bool,
}

fn read_examples(dir: &Path) -> Result<Vec<Example>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let kinds: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("kind:"))
                .map(str::trim)
                .collect();
            Ok(Example {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                documents: kinds.len(),
                standalone: !kinds.is_empty() && kinds.iter().all(|k| *k == "ComputeTemplate"),
                text,
            })
        })
        .collect()
}

/// Every `metadata.name` of the examples.
fn names(examples: &[Example]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for e in examples {
        let mut in_metadata = false;
        for line in e.text.lines() {
            if line == "metadata:" {
                in_metadata = true;
            } else if in_metadata && let Some(name) = line.strip_prefix("  name:") {
                names.insert(name.trim().trim_matches('"').to_string());
                in_metadata = false;
            } else if !line.starts_with(' ') {
                in_metadata = false;
            }
        }
    }
    names
}

/// `text` with every whole word (a run of letters, digits, `.`, `_` and `-`) that is one of
/// `names` suffixed with `suffix`: the object's own names and the references to them.
fn rename(text: &str, names: &BTreeSet<String>, suffix: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut out = String::with_capacity(text.len() + 256);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(word);
        if names.contains(word.as_str()) {
            out.push_str(suffix);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_word(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Writes exactly `count` definitions under `out`; returns the number of files.
fn generate(examples: &[Example], out: &Path, count: usize) -> Result<usize> {
    let names = names(examples);
    let per_copy: usize = examples.iter().map(|e| e.documents).sum();
    let standalone: Vec<&Example> = examples.iter().filter(|e| e.standalone).collect();
    if per_copy == 0 || standalone.is_empty() {
        bail!("the examples hold no definitions, or no compute template to top up with");
    }
    let mut written = 0;
    let mut files = 0;
    let mut copy = 0;
    while written + per_copy <= count {
        let dir = out.join(format!("copy-{copy:04}"));
        fs::create_dir_all(&dir)?;
        for e in examples {
            fs::write(
                dir.join(&e.name),
                rename(&e.text, &names, &format!("-c{copy:04}")),
            )?;
            files += 1;
        }
        written += per_copy;
        copy += 1;
    }
    let dir = out.join("top-up");
    fs::create_dir_all(&dir)?;
    let mut i = 0;
    while written < count {
        let e = standalone[i % standalone.len()];
        let suffix = format!("-c{:04}", copy + i / standalone.len());
        let stem = e.name.trim_end_matches(".yaml");
        fs::write(
            dir.join(format!("{stem}{suffix}.yaml")),
            rename(&e.text, &names, &suffix),
        )?;
        written += e.documents;
        files += 1;
        i += 1;
    }
    if written != count {
        bail!("generated {written} definitions, not {count}");
    }
    Ok(files)
}

/// The number and total size of the files under `dir`.
fn tree_size(dir: &Path) -> (usize, u64) {
    let mut stack = vec![dir.to_path_buf()];
    let (mut files, mut bytes) = (0, 0);
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

pub fn run(ctx: &Ctx) -> Result<Vec<Row>> {
    let root = fresh_dir(&ctx.dir.join("compiler"))?;
    let defs = root.join("definitions");
    let out = root.join("out");
    let log = root.join("compiler.log");
    let examples = read_examples(&ctx.root.join("examples").join("definitions"))?;
    let input_files = generate(&examples, &defs, DEFINITIONS)?;
    detail(format_args!(
        "{DEFINITIONS} definitions in {input_files} files under {}",
        defs.display()
    ));

    let compiler = ctx.binary("wayfinder-compile");
    let (mut compile, mut fmt) = (Sample::default(), Sample::default());
    for _ in 0..ctx.runs {
        if out.exists() {
            fs::remove_dir_all(&out)?;
        }
        let mut cmd = std::process::Command::new(&compiler);
        cmd.arg(&defs).arg("--out").arg(&out);
        compile.push(timed(&mut cmd, "wayfinder-compile", &log)?.as_secs_f64());
        let mut cmd = terraform::command(&ctx.terraform);
        cmd.args(["fmt", "-check", "-recursive"])
            .arg(&out)
            .env("TF_CLI_CONFIG_FILE", "/dev/null");
        fmt.push(
            timed(
                &mut cmd,
                "terraform fmt -check -recursive (of the compiler's output)",
                &log,
            )?
            .as_secs_f64(),
        );
    }
    let (files, bytes) = tree_size(&out);
    detail(format_args!(
        "compile {:.2} s, terraform fmt -check {:.2} s; output {files} files, {:.1} MB",
        compile.median(),
        fmt.median(),
        bytes as f64 / 1e6
    ));
    let rate = compile.map(|s| DEFINITIONS as f64 / s);
    let fmt_rate = fmt.map(|s| DEFINITIONS as f64 / s);
    let _ = fs::remove_dir_all(&root);
    Ok(vec![
        Row::new(
            Group::Compiler,
            format!("wayfinder-compile, {DEFINITIONS} definitions"),
            "s",
            compile,
        )
        .against("terraform fmt -check -recursive of its output", fmt)
        .target(Target::AtMost(0.25))
        .note(format!(
            "{input_files} input files; output {files} files, {:.1} MB, already formatted",
            bytes as f64 / 1e6
        )),
        Row::new(
            Group::Compiler,
            format!("wayfinder-compile throughput, {DEFINITIONS} definitions"),
            "definitions/s",
            rate,
        )
        .against(
            "terraform fmt -check over the same output, per definition",
            fmt_rate,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_only_are_renamed() {
        let names: BTreeSet<String> = ["eks-standard", "jetstack"].map(String::from).into();
        assert_eq!(
            rename(
                "name: eks-standard\nnetworkPlan: eks-standard\nurl: https://charts.jetstack.io\nref: [jetstack, eks-standard-x]\n",
                &names,
                "-c7"
            ),
            "name: eks-standard-c7\nnetworkPlan: eks-standard-c7\nurl: https://charts.jetstack.io\nref: [jetstack-c7, eks-standard-x]\n"
        );
    }

    #[test]
    fn the_examples_make_exactly_the_count() {
        let root = crate::util::repo_root();
        let examples = read_examples(&root.join("examples").join("definitions")).unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-bench-defs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        generate(&examples, &dir, 100).unwrap();
        let count: usize = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten())
            .map(|f| {
                fs::read_to_string(f.path())
                    .unwrap()
                    .lines()
                    .filter(|l| l.starts_with("kind:"))
                    .count()
            })
            .sum();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(count, 100);
    }
}
