//! The `wayfinder-compile` command line.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::compile::{self, CompileOptions, DEFAULT_PROVIDER_VERSION};
use crate::diagnostic::{Diagnostic, MessageFormat};
use crate::input;
use crate::output::{self, Mismatch};

/// Compiles Wayfinder definitions (YAML) into Terraform modules: a catalog module that
/// publishes them, and a self-service module per cluster plan.
///
/// Every problem in every input is reported at once; when there is any, nothing is written
/// and the exit status is 1.
#[derive(Debug, Clone, Parser)]
#[command(name = "wayfinder-compile", version)]
pub struct Cli {
    /// Definition files, or directories searched recursively for *.yaml and *.yml.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The directory to write: catalog/ (the catalog module) and clusters/PLAN/ (a
    /// self-service module per cluster plan).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Write nothing; exit 1 if DIR does not already hold exactly what would be written.
    #[arg(long)]
    pub check: bool,
    /// Migrate legacy v2beta1 definitions (ClusterPlan, Package, CloudAccessConfig,
    /// CloudIdentity) instead of compiling: write the v2beta2 definitions each becomes to
    /// DIR, one KIND-NAME.yaml per legacy definition headed by what it became and what was
    /// carried, ready to apply to the server.
    #[arg(long)]
    pub migrate: bool,

    /// How problems are printed: `human` lines on stderr, or `json`, one object per line on
    /// stdout.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// The version constraint for the wayfinder provider in versions.tf.
    #[arg(long, value_name = "CONSTRAINT", default_value = DEFAULT_PROVIDER_VERSION, value_parser = parse_constraint)]
    pub provider_version: String,
}

/// Checks a Terraform version constraint: comma-separated `[op] version`, op one of `=`,
/// `!=`, `>`, `>=`, `<`, `<=`, `~>`.
pub fn parse_constraint(text: &str) -> Result<String, String> {
    let err = || {
        format!(
            "{text:?} is not a version constraint; expected e.g. \">= 0.1.0\" or \"~> 1.2, != 1.2.3\""
        )
    };
    for part in text.split(',') {
        let part = part.trim();
        let version = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| part.strip_prefix(op))
            .unwrap_or(part)
            .trim_start()
            .trim_start_matches('v');
        let (core, _) = version.split_once(['-', '+']).unwrap_or((version, ""));
        let nums: Vec<&str> = core.split('.').collect();
        let ok = (1..=3).contains(&nums.len())
            && nums
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b));
        if !ok {
            return Err(err());
        }
    }
    Ok(text.trim().to_string())
}

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: problems in the input, `--check` found differences, or writing failed.
pub const EXIT_FAILED: u8 = 1;

/// Runs the command; returns the exit status. Messages go to `stderr`, and in JSON mode
/// problems go to `stdout`, one object per line.
pub fn run(cli: &Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8 {
    let format = cli.message_format;
    let report = |problems: &[Diagnostic], stdout: &mut dyn Write, stderr: &mut dyn Write| {
        report(format, problems, stdout, stderr);
    };
    let out_display = dir_display(&cli.out);

    let (files, mut problems) = input::discover(&cli.paths);
    if files.is_empty() && problems.is_empty() {
        let looked: Vec<String> = cli.paths.iter().map(|p| input::display(p)).collect();
        problems.push(Diagnostic::file(
            looked.join(", "),
            "no input files found: directories are searched for *.yaml and *.yml",
        ));
    }
    let (sources, mut read_problems) = input::read_sources(&files);
    if cli.migrate {
        problems.append(&mut read_problems);
        return migrate(cli, &files, &sources, problems, stdout, stderr);
    }
    let options = CompileOptions {
        provider_version: cli.provider_version.clone(),
        generated_from: generated_from(&cli.paths, &cli.out),
    };
    let compiled = compile::compile(&sources, &options);
    // With unreadable files, "no definitions found" is a consequence, not news.
    let unreadable = !problems.is_empty() || !read_problems.is_empty();
    problems.append(&mut read_problems);
    let compiled = match compiled {
        Ok(c) if problems.is_empty() => c,
        Ok(_) => return fail(format, &files, problems, cli.check, stdout, stderr),
        Err(more) => {
            if !(unreadable && sources.is_empty()) {
                problems.extend(more);
            }
            return fail(format, &files, problems, cli.check, stdout, stderr);
        }
    };
    let definitions = plural(compiled.definitions, "definition");
    let inputs = plural(files.len(), "file");
    report(&compiled.notices, stdout, stderr);

    if cli.check {
        return match output::check(&cli.out, &compiled.module) {
            Ok(mismatches) if mismatches.is_empty() => {
                let _ = writeln!(
                    stderr,
                    "{out_display} is up to date ({} checked; {definitions} from {inputs})",
                    plural(compiled.module.len(), "file"),
                );
                EXIT_OK
            }
            Ok(mismatches) => {
                let problems: Vec<Diagnostic> = mismatches
                    .iter()
                    .map(|m| {
                        let file = input::display(&cli.out.join(m.path()));
                        match m {
                            Mismatch::Missing { .. } => Diagnostic::file(
                                file,
                                "missing; run wayfinder-compile without --check to write it",
                            ),
                            Mismatch::Differs { line, .. } => Diagnostic::file(
                                file,
                                "differs from the compiled definitions; run wayfinder-compile without --check to update it",
                            )
                            .at(*line, 1),
                            Mismatch::Stale { .. } => Diagnostic::file(
                                file,
                                "written by an earlier run and no longer compiled from the definitions; run wayfinder-compile without --check to remove it",
                            ),
                        }
                    })
                    .collect();
                report(&problems, stdout, stderr);
                let _ = writeln!(
                    stderr,
                    "{out_display} is out of date: {} of {} differ from the compiled definitions",
                    mismatches.len(),
                    plural(compiled.module.len(), "file"),
                );
                EXIT_FAILED
            }
            Err(e) => {
                report(
                    &[Diagnostic::file(input::display(&cli.out), e.to_string())],
                    stdout,
                    stderr,
                );
                EXIT_FAILED
            }
        };
    }

    match output::write(&cli.out, &compiled.module) {
        Ok(r) => {
            let _ = writeln!(
                stderr,
                "compiled {definitions} from {inputs} into {out_display} ({} written, {} unchanged{})",
                plural(r.written.len(), "file"),
                r.unchanged.len(),
                if r.removed.is_empty() {
                    String::new()
                } else {
                    format!(", {} removed: {}", r.removed.len(), r.removed.join(", "))
                }
            );
            EXIT_OK
        }
        Err(e) => {
            report(
                &[Diagnostic::file(
                    input::display(&cli.out),
                    format!("cannot write the module: {e}"),
                )],
                stdout,
                stderr,
            );
            EXIT_FAILED
        }
    }
}

/// `--migrate`: writes (or checks) the v2beta2 definitions the legacy ones become.
fn migrate(
    cli: &Cli,
    files: &[PathBuf],
    sources: &[crate::definition::Source],
    mut problems: Vec<Diagnostic>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let format = cli.message_format;
    let out_display = dir_display(&cli.out);
    let (module, notices) = match crate::migrate::migrated_module(sources, compile::MANIFEST) {
        Ok(m) if problems.is_empty() => m,
        Ok(_) => return fail(format, files, problems, cli.check, stdout, stderr),
        Err(more) => {
            problems.extend(more);
            return fail(format, files, problems, cli.check, stdout, stderr);
        }
    };
    report(format, &notices, stdout, stderr);
    let migrated = plural(notices.len(), "legacy definition");
    if cli.check {
        return match output::check(&cli.out, &module) {
            Ok(m) if m.is_empty() => {
                let _ = writeln!(stderr, "{out_display} is up to date ({migrated} migrated)");
                EXIT_OK
            }
            Ok(m) => {
                let paths: Vec<&str> = m.iter().map(Mismatch::path).collect();
                let _ = writeln!(
                    stderr,
                    "{out_display} is out of date: {} differ from the migrated definitions; run wayfinder-compile --migrate without --check to update it",
                    paths.join(", ")
                );
                EXIT_FAILED
            }
            Err(e) => {
                report(
                    format,
                    &[Diagnostic::file(input::display(&cli.out), e.to_string())],
                    stdout,
                    stderr,
                );
                EXIT_FAILED
            }
        };
    }
    match output::write(&cli.out, &module) {
        Ok(r) => {
            let _ = writeln!(
                stderr,
                "migrated {migrated} into {out_display} ({} written, {} unchanged)",
                plural(r.written.len(), "file"),
                r.unchanged.len()
            );
            EXIT_OK
        }
        Err(e) => {
            report(
                format,
                &[Diagnostic::file(
                    input::display(&cli.out),
                    format!("cannot write the migrated definitions: {e}"),
                )],
                stdout,
                stderr,
            );
            EXIT_FAILED
        }
    }
}

/// Prints each problem: a line on stderr, or a JSON object per line on stdout.
fn report(
    format: MessageFormat,
    problems: &[Diagnostic],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) {
    for d in problems {
        // A closed pipe is not worth a panic; there is nobody left to tell.
        let _ = match format {
            MessageFormat::Human => writeln!(stderr, "{d}"),
            MessageFormat::Json => writeln!(stdout, "{}", d.to_json_line()),
        };
    }
}

/// Reports the problems in input order (paths that could not be searched first, then file
/// by file) and returns the failure status.
fn fail(
    format: MessageFormat,
    files: &[PathBuf],
    mut problems: Vec<Diagnostic>,
    check: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let names: Vec<String> = files.iter().map(|f| input::display(f)).collect();
    problems.sort_by_key(|d| {
        (
            names.iter().position(|n| *n == d.file).map_or(0, |i| i + 1),
            d.document.unwrap_or(0),
            d.line,
            d.column,
        )
    });
    report(format, &problems, stdout, stderr);
    let errors: Vec<&Diagnostic> = problems.iter().filter(|d| d.is_error()).collect();
    let mut files: Vec<&str> = errors.iter().map(|d| d.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let _ = writeln!(
        stderr,
        "{} in {}{}",
        plural(errors.len(), "problem"),
        plural(files.len(), "file"),
        if check { "" } else { "; nothing was written" }
    );
    EXIT_FAILED
}

/// The input paths as `main.tf`'s header names them: relative to the output directory (so
/// the text is the same wherever the command runs from), directories with a trailing `/`,
/// sorted and without repeats (so argument order does not matter).
fn generated_from(paths: &[PathBuf], out: &Path) -> Vec<String> {
    let mut names: Vec<String> = paths
        .iter()
        .map(|p| {
            let rel = input::relative_to(p, out);
            if p.is_dir() && !rel.ends_with('/') {
                format!("{rel}/")
            } else {
                rel
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `out` → `out/`, for messages.
fn dir_display(dir: &Path) -> String {
    let d = input::display(dir);
    if d.ends_with('/') { d } else { format!("{d}/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints() {
        for ok in [
            ">= 0.1.0",
            "~> 1.2",
            "= 1.0.0-beta.1",
            "1.2.3",
            ">= 1.0, < 2.0",
            "!=0.3",
        ] {
            assert!(parse_constraint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "latest", ">= ", "1.x", ">= 1.0,", "=> 1.0", "1.2.3.4", "\"1\"",
        ] {
            assert!(parse_constraint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
