//! `cargo xtask fuzz [TARGET] [--time SECS]`: runs the cargo-fuzz targets of `fuzz/` one
//! after another (nightly and cargo-fuzz needed; docs/fuzzing.md), each from its committed
//! seeds with the dictionary; `--seeds` (stable) writes the seeds made from the repository's
//! fixtures and examples into `fuzz/corpus/` and the dictionary into `fuzz/dict/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use sha2::{Digest, Sha256};
use terraform_provider_wayfinder::codec::{Type, Value};
use terraform_provider_wayfinder::{datasources, resources};
use wayfinder_model::Object;
use wayfinder_model::kinds::ALL;
use wayfinder_model::shape::{Field, FieldType};

use crate::fuzz_codec::{self, Owner};
use crate::util::{detail, repo_root, run_command, say};

/// The targets, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[&str] = &["codec", "compile", "api_body"];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One target (codec, compile, api_body); all of them, one after another, when left out.
    pub target: Option<String>,
    /// How long to run each target, in seconds.
    #[arg(long, default_value_t = 600)]
    pub time: u64,
    /// Write the seeds made from the repository's fixtures and examples into fuzz/corpus/
    /// and the dictionary into fuzz/dict/ (no fuzzing; stable is enough).
    #[arg(long)]
    pub seeds: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    if let Some(t) = &args.target
        && !TARGETS.contains(&t.as_str())
    {
        bail!(
            "no fuzz target {t:?}; the targets are {}",
            TARGETS.join(", ")
        );
    }
    if args.seeds {
        return write_seeds(&root);
    }
    let targets: Vec<&str> = match &args.target {
        Some(t) => vec![t.as_str()],
        None => TARGETS.to_vec(),
    };
    let fuzz = root.join("fuzz");
    for target in targets {
        say(format_args!("fuzzing {target} for {} s", args.time));
        let work = fuzz.join("work").join(target);
        std::fs::create_dir_all(&work).with_context(|| work.display().to_string())?;
        // rustup's proxy picks nightly from `+nightly`; cargo-fuzz adds libFuzzer's flags.
        // No sanitizer: the code is safe Rust, and ASan would only slow it down.
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&fuzz)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["+nightly", "fuzz", "run", "--sanitizer", "none", target])
            .arg(&work)
            .arg(fuzz.join("corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={}", args.time))
            .arg(format!(
                "-dict={}",
                fuzz.join("dict/wayfinder.dict").display()
            ))
            .args(["-timeout=10", "-rss_limit_mb=4096", "-print_final_stats=1"]);
        run_command(&mut cmd, &format!("cargo +nightly fuzz run {target}")).with_context(|| {
            format!(
                "fuzzing {target} failed: a crash is saved under fuzz/artifacts/{target}/ (reproduce with `cargo +nightly fuzz run -s none {target} FILE`); this needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz (`cargo install cargo-fuzz`)"
            )
        })?;
        detail(format_args!(
            "new inputs are in {}; merge the ones worth keeping into fuzz/corpus/{target} with `cargo +nightly fuzz cmin`",
            work.display()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Seeds

/// Every object of the fixtures and examples, with the file it came from.
fn objects(root: &Path) -> Result<Vec<(String, Object)>> {
    let mut out = Vec::new();
    for dir in ["model/tests/data", "examples/definitions"] {
        for file in yaml_files(&root.join(dir))? {
            let text = std::fs::read_to_string(&file)?;
            let name = file.display().to_string();
            let docs = wayfinder_model::parse_yaml_documents(&name, &text)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            out.extend(docs.into_iter().map(|d| (name.clone(), d.object)));
        }
    }
    Ok(out)
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).with_context(|| d.display().to_string())? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Seeds for one target, named by their content's hash as libFuzzer names its own.
#[derive(Default)]
struct Seeds(BTreeSet<Vec<u8>>);

impl Seeds {
    fn add(&mut self, head: &[u8], body: &[u8]) {
        self.0.insert([head, body].concat());
    }

    fn write(&self, dir: &Path) -> Result<usize> {
        std::fs::create_dir_all(dir)?;
        let mut new = 0;
        for s in &self.0 {
            let path = dir.join(hex::encode(&Sha256::digest(s)[..20]));
            if !path.exists() {
                std::fs::write(&path, s).with_context(|| path.display().to_string())?;
                new += 1;
            }
        }
        Ok(new)
    }
}

fn write_seeds(root: &Path) -> Result<()> {
    let objects = objects(root)?;
    let corpus = root.join("fuzz/corpus");
    for (target, seeds) in [
        ("codec", codec_seeds(&objects)),
        ("compile", compile_seeds(root)?),
        ("api_body", api_seeds(&objects)),
    ] {
        let new = seeds.write(&corpus.join(target))?;
        say(format_args!(
            "{target}: {} seeds, {new} new in fuzz/corpus/{target}",
            seeds.0.len()
        ));
    }
    let dict = dictionary();
    let path = root.join("fuzz/dict/wayfinder.dict");
    std::fs::create_dir_all(path.parent().expect("a parent"))?;
    std::fs::write(&path, dict).with_context(|| path.display().to_string())?;
    say(format_args!("dictionary: {}", path.display()));
    Ok(())
}

/// What separates files in a `compile` input (`fuzz/src/compile.rs`).
const FILE_SEPARATOR: u8 = 0;

/// At most this many objects of one kind make seeds (the examples repeat themselves).
const PER_KIND: usize = 3;

fn per_kind(objects: &[(String, Object)]) -> Vec<&Object> {
    let mut out = Vec::new();
    for kind in ALL {
        out.extend(
            objects
                .iter()
                .map(|(_, o)| o)
                .filter(|o| o.kind_info() == *kind)
                .take(PER_KIND),
        );
    }
    out
}

fn codec_seeds(objects: &[(String, Object)]) -> Seeds {
    let mut seeds = Seeds::default();
    let resources = resources::all();
    let data_sources = datasources::all();
    let selectors: Vec<_> = fuzz_codec::selectors().collect();
    let selector = |want: &dyn Fn(&Owner) -> bool| {
        selectors
            .iter()
            .find(|(_, o, _)| want(o))
            .map(|(s, _, t)| (*s, *t))
    };
    let (dynamic, _) = selector(&|o| matches!(o, Owner::Dynamic)).expect("dynamic");
    for o in per_kind(objects) {
        let json = o.to_json();
        // The body of a dynamic attribute, as HCL would type it.
        seeds.add(
            &[dynamic, 0],
            &Value::from_json(&o.spec_json()).to_msgpack_as(&Type::Dynamic),
        );
        let Some(r) = resources.iter().find(|r| r.kind == o.kind_info()) else {
            continue;
        };
        let value = r.from_object(&json);
        if let Some((s, ty)) = selector(&|x| matches!(x, Owner::Resource(n) if *n == r.type_name)) {
            seeds.add(&[s, 0], &value.to_msgpack_as(ty));
            seeds.add(&[s, fuzz_codec::UPDATE], &value.to_msgpack_as(ty));
            let j = serde_json::to_vec(&value.to_json_as(ty)).expect("JSON");
            seeds.add(&[s, fuzz_codec::JSON], &j);
            // The same value with its type read from the input.
            let mut typed = serde_json::to_vec(&ty.to_json()).expect("JSON");
            typed.push(0);
            typed.extend(value.to_msgpack_as(ty));
            seeds.add(&[fuzz_codec::TYPE_FROM_INPUT, 0], &typed);
        }
        if let (Some((s, ty)), Some(at)) = (
            selector(&|x| matches!(x, Owner::Identity(n) if *n == r.type_name)),
            r.address(&value),
        ) {
            seeds.add(&[s, 0], &r.identity(&at).to_msgpack_as(ty));
        }
        for d in data_sources.iter().filter(|d| d.type_name == r.type_name) {
            if let Some((s, ty)) =
                selector(&|x| matches!(x, Owner::DataSource(n) if *n == d.type_name))
            {
                seeds.add(&[s, 0], &value.clone().conform(ty).to_msgpack_as(ty));
            }
        }
    }
    // Every data source and the ephemeral resource, with a name and a workspace.
    let named =
        Value::from_json(&serde_json::json!({"name": "eks-general-purpose", "workspace": "pay"}));
    for (s, o, ty) in &selectors {
        if matches!(o, Owner::DataSource(_) | Owner::Ephemeral(_)) {
            seeds.add(&[*s, 0], &named.clone().conform(ty).to_msgpack_as(ty));
        }
    }
    // The function's arguments: cloud, region, node pools.
    let args = Value::from_json(&serde_json::json!([
        "aws", "eu-west-2",
        [{"name": "a", "machine": "m6i.large", "max_size": 3, "spot": false, "disk_size": 100},
         {"name": "b", "machine": "m6i.xlarge", "max_size": 2, "spot": true, "disk_size": null}]
    ]));
    seeds.add(&[dynamic, 0], &args.to_msgpack());
    // Terraform's unknowns (plain and refined), and a typed dynamic value.
    seeds.add(&[dynamic, 0], &[0xd4, 0, 0]);
    seeds.add(&[dynamic, 0], &[0xc7, 3, 12, 0x81, 0x01, 0xc3]);
    seeds.add(&[dynamic, 0], b"\x92\xc4\x12[\"list\",\"string\"]\x91\xa1a");
    seeds
}

fn compile_seeds(root: &Path) -> Result<Seeds> {
    let mut seeds = Seeds::default();
    let mut examples = Vec::new();
    for dir in [
        "examples/definitions",
        "compiler/tests/golden",
        "model/tests/data",
    ] {
        for file in yaml_files(&root.join(dir))? {
            let bytes = std::fs::read(&file)?;
            if dir == "examples/definitions" {
                examples.push(bytes.clone());
            }
            seeds.add(&[], &bytes);
        }
    }
    // The whole example catalog, file by file (NUL separates files).
    seeds.add(&[], &examples.join(&[FILE_SEPARATOR][..]));
    Ok(seeds)
}

fn api_seeds(objects: &[(String, Object)]) -> Seeds {
    let mut seeds = Seeds::default();
    for o in per_kind(objects) {
        let s = ALL
            .iter()
            .position(|k| *k == o.kind_info())
            .expect("a kind") as u8;
        let body = serde_json::to_vec(&o.to_json()).expect("JSON");
        seeds.add(&[s], &body);
        seeds.add(&[s | 0x80], &body);
    }
    for bad in [&b""[..], b"{}", b"[]", b"null", b"{\"kind\":\"Stage\"}"] {
        seeds.add(&[0], bad);
    }
    seeds
}

/// libFuzzer's dictionary: what the inputs are made of (kinds, API versions, every field
/// name of every shape, YAML and JSON punctuation, words the validators look for).
fn dictionary() -> String {
    fn fields(fs: &'static [Field], out: &mut BTreeSet<String>) {
        for f in fs {
            out.insert(f.name.to_string());
            if let FieldType::Object(inner) | FieldType::ObjectList(inner) = f.ty {
                fields(inner, out);
            }
        }
    }
    let mut words: BTreeSet<String> = [
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "namespace",
        "labels",
        "annotations",
        "spec",
        "status",
        "resourceVersion",
        "---",
        ": ",
        "- ",
        "{}",
        "[]",
        "null",
        "true",
        "false",
        "EKS",
        "AKS",
        "GKE",
        "aws",
        "azure",
        "gcp",
        "eu-west-2",
        "m6i.large",
        "Published",
        "Draft",
        "Deprecated",
        "appvia.io/publishState",
        "10.0.0.0/16",
        "ws-pay",
        "pay",
        "1.3.0",
        "8h",
        "&a",
        "*a",
        "!!str",
        "<<: ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in ALL {
        words.insert(k.kind.to_string());
        words.insert(k.api_version());
        fields(k.spec, &mut words);
    }
    let mut out = String::from(
        "# Written by `cargo xtask fuzz --seeds` from the model's kinds and shapes.\n",
    );
    for w in words {
        out.push_str(&format!("\"{}\"\n", w.escape_default()));
    }
    out
}
