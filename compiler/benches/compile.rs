//! Benchmark: compile 10,000 definitions, and compare with `terraform fmt -check -recursive`
//! over what was produced, in the same run.
//!
//! ```sh
//! cargo bench -p wayfinder-compiler --bench compile            # 10,000 definitions
//! WAYFINDER_BENCH_DEFINITIONS=2000 cargo bench -p wayfinder-compiler --bench compile
//! ```
//!
//! It writes a realistic catalog (compute templates, provisioning policies, network plans,
//! assignable networks, repositories, packages and cluster plans, every reference resolved)
//! as YAML files, runs the release `wayfinder-compile` binary on them (reading, validating,
//! resolving, emitting the catalog module and a self-service module per cluster plan with its
//! tests, writing), then `terraform fmt -check -recursive` on the output. Each is timed three
//! times; the medians are reported with definitions per second and the ratio of the two
//! (the target: at most 0.25, the compiler four times faster than the formatter checking
//! its output). Terraform comes from `WAYFINDER_TERRAFORM` or `PATH`; without it only the
//! compiler is timed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A small deterministic generator, so every run compiles the same catalog.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
}

const PROVIDERS: [(&str, &str, &[&str], &[&str]); 3] = [
    (
        "EKS",
        "aws",
        &[
            "m6i.large",
            "m6i.xlarge",
            "r6i.2xlarge",
            "t3.large",
            "c6i.xlarge",
        ],
        &["eu-west-1", "eu-west-2", "us-east-1"],
    ),
    (
        "AKS",
        "azure",
        &["Standard_D2s_v5", "Standard_D4s_v5", "Standard_E8s_v5"],
        &["westeurope", "northeurope", "uksouth"],
    ),
    (
        "GKE",
        "gcp",
        &["e2-standard-2", "e2-standard-4", "n2-highmem-4"],
        &["europe-west1", "europe-west2", "us-central1"],
    ),
];

/// The catalog: `total` definitions as YAML documents, in files of 100.
fn catalog(total: usize) -> Vec<String> {
    let mut rng = Rng(42);
    let mut docs: Vec<String> = Vec::with_capacity(total);
    // Shares of the total: templates 40%, policies 5%, network plans 10%, assignable networks
    // 5%, repositories 2%, packages 18%, cluster plans 20%.
    let n = |share: usize| (total * share / 100).max(1);
    let (templates, policies, networks, assignable, repos, packages) =
        (n(40), n(5), n(10), n(5), n(2), n(18));
    let plans = total - templates - policies - networks - assignable - repos - packages;
    for i in 0..assignable {
        let (_, cloud, _, _) = PROVIDERS[i % 3];
        docs.push(format!(
            "apiVersion: networking.appvia.io/v2beta1\nkind: AssignableNetwork\nmetadata: {{name: an-{i:05}, namespace: ws-admin}}\nspec:\n  provider: {cloud}\n  stage: nonprod\n  networks:\n    - {{range: 10.{}.0.0/16, type: node}}\n",
            i % 250
        ));
    }
    // References stay within a provider: object `j * 3 + k` is of provider `k`.
    let same = |count: usize, i: usize, k: usize| (i % (count / 3).max(1)) * 3 + k;
    for i in 0..networks {
        let (_, cloud, _, _) = PROVIDERS[i % 3];
        let an = same(assignable, i / 3, i % 3);
        docs.push(format!(
            "apiVersion: networking.appvia.io/v2beta1\nkind: ClusterNetworkPlan\nmetadata: {{name: net-{i:05}}}\nspec:\n  summary: Network plan {i}\n  assignableNetworks: [an-{an:05}]\n  template:\n    provider: {cloud}\n    ipv4:\n      cidrBlocks:\n        - {{type: node, size: 22}}\n        - {{type: service, cidr: 172.20.0.0/16}}\n"
        ));
    }
    for i in 0..templates {
        let (provider, _, machines, _) = PROVIDERS[i % 3];
        let mut t = format!(
            "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata: {{name: ct-{i:05}}}\nspec:\n  description: \"Template {i}: ${{not.interpolated}} ünïcödé\"\n  provider: {provider}\n  nodePools:\n"
        );
        for p in 0..1 + (rng.next() % 3) {
            let _ = write!(
                t,
                "    - logicalName: pool-{p}\n      machine: {}\n      diskSize: {}\n      size: 2\n      autoscaling: {{enabled: true, minSize: 1, maxSize: {}}}\n      taints:\n        - {{key: dedicated, value: pool-{p}, effect: NoSchedule}}\n",
                rng.pick(machines),
                50 + 10 * (rng.next() % 10),
                3 + rng.next() % 8
            );
        }
        docs.push(t);
    }
    for i in 0..policies {
        let (_, cloud, machines, regions) = PROVIDERS[i % 3];
        let scope = match i % 4 {
            0 => String::new(),
            1 => "  scope: {allWorkspaces: true, allowedStages: [prod]}\n".to_string(),
            2 => format!(
                "  scope: {{allowedWorkspaces: [ws{}], allStages: true}}\n",
                i % 4
            ),
            _ => format!(
                "  scope: {{allowedWorkspaces: [ws{}], allowedStages: [prod]}}\n",
                i % 3
            ),
        };
        let types: Vec<String> = machines
            .iter()
            .map(|m| format!("{{instanceType: {m}, maxNodes: {}}}", 20 + rng.next() % 20))
            .collect();
        docs.push(format!(
            "apiVersion: policy.appvia.io/v2beta1\nkind: ProvisioningPolicy\nmetadata: {{name: pp-{i:05}}}\nspec:\n{scope}  cloud: {cloud}\n  allowedRegions: [{}]\n  clusterLimits:\n    perCluster:\n      allowedInstanceTypes: [{}]\n      costPerMonth: {}\n      totalNodes: {}\n",
            regions[..2].join(", "),
            types.join(", "),
            5000 + 1000 * (rng.next() % 20),
            60 + rng.next() % 60
        ));
    }
    for i in 0..repos {
        docs.push(format!(
            "apiVersion: package.appvia.io/v2beta2\nkind: Repository\nmetadata: {{name: repo-{i:05}}}\nspec:\n  url: https://charts-{i}.example.com\n"
        ));
    }
    for i in 0..packages {
        docs.push(format!(
            "apiVersion: package.appvia.io/v2beta2\nkind: Package\nmetadata:\n  name: pkg-{:05}\n  annotations: {{appvia.io/published: \"true\", appvia.io/publishState: Published}}\nspec:\n  version: 1.0.{}\n  installNamespace: pkg-{:05}\n  helm:\n    repositoryRef: repo-{:05}\n    chartName: chart\n    chartVersion: 1.0.0\n    valuesTemplate: |\n      replicas: 2\n      cluster: {{{{ .Cluster.Name }}}}\n",
            i / 2,
            i % 2,
            i / 2,
            i % repos
        ));
    }
    for i in 0..plans {
        let k = i % 3;
        let (provider, _, machines, regions) = PROVIDERS[k];
        let t1 = same(templates, i / 3, k);
        let t2 = same(templates, i / 3 + 1, k);
        let net = same(networks, i / 3, k);
        docs.push(format!(
            "apiVersion: compute.appvia.io/v2beta2\nkind: ClusterPlan\nmetadata:\n  name: plan-{i:05}\n  annotations: {{appvia.io/published: \"true\", appvia.io/publishState: Published}}\nspec:\n  description: Plan {i}\n  version: 1.{}.0\n  provider: {provider}\n  scope: {{allWorkspaces: true, allowedStages: [nonprod, prod]}}\n  cluster:\n    kubernetesVersion: \"1.31\"\n    packages:\n      - {{name: pkg-{:05}, version: 1.0.0}}\n  network:\n    networkPlan: net-{net:05}\n  choices:\n    regions:\n      default: {}\n      allowed: [{}]\n    computeTemplates:\n      default: ct-{t1:05}\n      allowed: [ct-{t1:05}, ct-{t2:05}]\n    nodePools:\n      allowOverride: true\n      allowedMachines: [{}]\n      maxSize: 20\n",
            i % 5,
            i % (packages / 2).max(1),
            regions[0],
            regions.join(", "),
            machines.join(", ")
        ));
    }
    // Only the requested number, whatever rounding did.
    docs.truncate(total);
    docs.chunks(100).map(|c| c.join("---\n")).collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn terraform() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WAYFINDER_TERRAFORM").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("terraform"))
        .find(|p| p.is_file())
}

fn run(cmd: &mut Command, what: &str) -> Duration {
    let start = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets a quick run.
    let bench = std::env::args().any(|a| a == "--bench");
    let total: usize = std::env::var("WAYFINDER_BENCH_DEFINITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 10_000 } else { 300 });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let defs = dir.path().join("definitions");
    std::fs::create_dir_all(&defs).expect("creating the definitions directory");
    for (i, text) in catalog(total).iter().enumerate() {
        std::fs::write(defs.join(format!("defs-{i:04}.yaml")), text).expect("writing definitions");
    }
    let compiler = env!("CARGO_BIN_EXE_wayfinder-compile");
    let rounds = if bench { 3 } else { 1 };
    let mut compile_times = Vec::new();
    let mut out = PathBuf::new();
    for round in 0..rounds {
        out = dir.path().join(format!("out-{round}"));
        compile_times.push(run(
            Command::new(compiler).arg(&defs).arg("--out").arg(&out),
            "wayfinder-compile",
        ));
    }
    let compile = median(compile_times);
    let files = count_files(&out);
    let per_second = total as f64 / compile.as_secs_f64();
    println!(
        "wayfinder-compile: {total} definitions -> {files} files in {:.3} s (median of {rounds}): {per_second:.0} definitions/s",
        compile.as_secs_f64()
    );
    match terraform() {
        Some(tf) => {
            let config = dir.path().join("terraformrc");
            std::fs::write(&config, "").expect("an empty CLI configuration");
            let mut fmt_times = Vec::new();
            for _ in 0..rounds {
                fmt_times.push(run(
                    Command::new(&tf)
                        .args(["fmt", "-check", "-recursive"])
                        .arg(&out)
                        .env("TF_CLI_CONFIG_FILE", &config)
                        .env("CHECKPOINT_DISABLE", "1"),
                    "terraform fmt -check -recursive",
                ));
            }
            let fmt = median(fmt_times);
            println!(
                "terraform fmt -check -recursive ({}): {:.3} s (median of {rounds}); the output is formatted",
                tf.display(),
                fmt.as_secs_f64()
            );
            println!(
                "ratio compile / fmt -check: {:.3} (target <= 0.25)",
                compile.as_secs_f64() / fmt.as_secs_f64()
            );
        }
        None => println!(
            "no terraform (WAYFINDER_TERRAFORM or PATH): the ratio to terraform fmt -check was not measured"
        ),
    }
}
