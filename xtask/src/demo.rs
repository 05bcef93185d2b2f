//! `cargo xtask demo`: the whole system on the embedded defaults, as the two teams of
//! `examples/quickstart` use it. In `target/demo/`:
//!
//! 1. builds the binaries and finds (or installs) Terraform;
//! 2. starts `wayfinder-server` (SQLite store, simulated cloud);
//! 3. compiles `examples/definitions` with `wayfinder-compile` into a catalog module and a
//!    self-service module per cluster plan;
//! 4. as the administrator, applies `examples/quickstart/admin`: the catalog, a workspace and
//!    a member token;
//! 5. as that member, plans `examples/quickstart/workspace` (showing the cost), applies it
//!    and waits for the cluster;
//! 6. plans a cluster over the cost ceiling and shows Terraform's diagnostic;
//! 7. prints what was created, the cost and the next commands to try;
//! 8. destroys both configurations and stops the server, unless `--keep-running`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value as Json;

use crate::launch;
use crate::terraform;
use crate::test::{TerraformArgs, find_terraform};
use crate::util::{bin_dir, cargo, detail, repo_root, run_command, say, step, target_dir};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the server and what the demo created running afterwards, and print how to use
    /// them (`source target/demo/env.sh`) and how to stop the server.
    #[arg(long)]
    pub keep_running: bool,
    /// Build the workspace's EKS cluster through the AWS driver on a local moto (the AWS
    /// emulator, installed under target/moto/ when absent) instead of the simulated cloud,
    /// and show what landed there.
    #[arg(long)]
    pub aws_emulator: bool,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

/// Node pools over the catalog's cost ceiling for `pay` in `nonprod` (aws-baseline: 4000 USD
/// a month), within every other limit: the plan that the cost policy refuses.
pub const OVER_BUDGET_POOLS: &str = r#"[{logical_name="compute", machine="m6i.xlarge", size=3, autoscaling={enabled=true, min_size=3, max_size=20}}, {logical_name="batch", machine="m6i.xlarge", size=4}]"#;

/// The demo server; stopped on drop unless kept.
struct ServerGuard {
    child: Option<Child>,
    pid_file: PathBuf,
}

impl ServerGuard {
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            launch::stop(&mut child);
            let _ = fs::remove_file(&self.pid_file);
        }
    }

    /// Leaves the server running after xtask exits.
    fn keep(&mut self) -> Option<u32> {
        self.child.take().map(|c| c.id())
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if self.child.is_some() {
            say("stopping wayfinder-server");
        }
        self.stop();
    }
}

/// Where everything lives.
struct Layout {
    root: PathBuf,
    demo: PathBuf,
    data_dir: PathBuf,
    modules: PathBuf,
    admin: PathBuf,
    workspace: PathBuf,
    mirror: PathBuf,
    cli_config: PathBuf,
    pid_file: PathBuf,
    log: PathBuf,
    env_script: PathBuf,
}

impl Layout {
    fn new(root: PathBuf) -> Self {
        let demo = target_dir(&root).join("demo");
        Self {
            data_dir: demo.join("data"),
            modules: demo.join("modules"),
            admin: demo.join("admin"),
            workspace: demo.join("workspace"),
            mirror: demo.join("mirror"),
            cli_config: demo.join("cli.tfrc"),
            pid_file: demo.join("server.pid"),
            log: demo.join("server.log"),
            env_script: demo.join("env.sh"),
            demo,
            root,
        }
    }

    /// A path relative to the repository root when it is inside it.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }
}

/// Runs Terraform in the demo's directories with the demo's CLI configuration.
struct Tf<'a> {
    terraform: &'a Path,
    layout: &'a Layout,
    server: &'a str,
}

/// What a Terraform command printed.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Tf<'_> {
    fn run(&self, dir: &Path, token: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Ran> {
        let mut cmd = terraform::command(self.terraform);
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("WAYFINDER_")) {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .current_dir(dir)
            .env("TF_CLI_CONFIG_FILE", &self.layout.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("WAYFINDER_SERVER", self.server)
            .env("WAYFINDER_TOKEN", token)
            .envs(env.iter().copied());
        let Output {
            status,
            stdout,
            stderr,
        } = cmd
            .output()
            .with_context(|| format!("running {}", self.terraform.display()))?;
        Ok(Ran {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Runs Terraform; an error with everything it printed unless it exits 0.
    fn ok(&self, dir: &Path, token: &str, args: &[&str]) -> Result<Ran> {
        let ran = self.run(dir, token, args, &[])?;
        if ran.code != 0 {
            bail!(
                "`terraform {}` in {} exited {}:\n{}",
                args.join(" "),
                self.layout.shown(dir),
                ran.code,
                ran.all()
            );
        }
        Ok(ran)
    }
}

/// Runs `f` as a step, printing how long it took.
fn timed<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let value = step(name, f)?;
    detail(format_args!(
        "done in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(value)
}

pub fn run(args: &Args) -> Result<()> {
    let layout = Layout::new(repo_root());
    let root = layout.root.clone();
    args.terraform.check()?;
    let definitions = root.join("examples").join("definitions");
    let quickstart = root.join("examples").join("quickstart");

    say(
        "Wayfinder as code: a platform team publishes a catalog; a workspace builds a cluster from it",
    );
    let mut build = vec!["build", "--workspace", "--bins"];
    if args.aws_emulator {
        build.extend(["--features", "wayfinder-controlplane/aws"]);
    }
    let build_line = format!("cargo {}", build.join(" "));
    timed(&format!("building the binaries ({build_line})"), || {
        run_command(&mut cargo(&root, &build), &build_line)
    })?;
    // moto, when asked: installed when absent, started on a free loopback port.
    let moto = if args.aws_emulator {
        Some(step("starting moto, the AWS emulator", || {
            let target = target_dir(&root);
            crate::moto::install(&target, &mut |m| detail(m))
                .map_err(|e| anyhow::anyhow!("installing moto: {e}"))?;
            let moto = crate::moto::MotoServer::start()
                .ok_or_else(|| anyhow::anyhow!("moto is not installed"))?;
            detail(format_args!(
                "moto {} on {} (pid {})",
                crate::moto::VERSION,
                moto.url,
                moto.pid()
            ));
            Ok(moto)
        })?)
    } else {
        None
    };
    let bins = bin_dir(&root);
    let (tf_path, tf_version) = step("finding terraform", || find_terraform(&args.terraform))?;

    step(&format!("preparing {}", layout.shown(&layout.demo)), || {
        stop_earlier_server(&layout.pid_file);
        if layout.demo.exists() {
            fs::remove_dir_all(&layout.demo)
                .with_context(|| format!("removing the previous {}", layout.demo.display()))?;
        }
        fs::create_dir_all(&layout.demo)
            .with_context(|| format!("creating {}", layout.demo.display()))?;
        terraform::build_mirror(&layout.mirror, &bins.join(terraform::PROVIDER_BINARY))?;
        fs::write(
            &layout.cli_config,
            terraform::cli_config(Some(&layout.mirror)),
        )
        .with_context(|| format!("writing {}", layout.cli_config.display()))?;
        copy_tf_files(&quickstart.join("admin"), &layout.admin)?;
        copy_tf_files(&quickstart.join("workspace"), &layout.workspace)?;
        detail(format_args!(
            "the provider is installed from a filesystem mirror ({}), as a release's mirror/ would be",
            layout.shown(&layout.mirror)
        ));
        Ok(())
    })?;

    let mut server = ServerGuard {
        child: None,
        pid_file: layout.pid_file.clone(),
    };
    let (url, admin_token) = step(
        &format!(
            "starting wayfinder-server --data-dir {}",
            layout.shown(&layout.data_dir)
        ),
        || {
            // The quickstart's cloud access names a CloudIdentity (an IAM role for a service
            // account): the server exchanges a web identity token for its role, as it would
            // in a pod. moto takes any token; this file stands in for the projected one.
            let token_file = layout.demo.join("web-identity-token");
            if moto.is_some() {
                fs::write(&token_file, "demo-web-identity-token")
                    .with_context(|| format!("writing {}", token_file.display()))?;
            }
            let token_file = token_file.to_string_lossy().into_owned();
            let (extra, env): (Vec<&str>, Vec<(&str, &str)>) = match &moto {
                Some(m) => (
                    vec!["--cloud-driver", "aws=api", "--aws-endpoint-url", &m.url],
                    vec![
                        ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_EC2_METADATA_DISABLED", "true"),
                        ("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file),
                    ],
                ),
                None => (vec![], vec![]),
            };
            let started = launch::start_with_env(
                &bins.join(launch::SERVER_BINARY),
                "127.0.0.1:0",
                &layout.data_dir,
                &layout.log,
                &extra,
                &env,
            )?;
            fs::write(&layout.pid_file, format!("{}\n", started.child.id()))
                .with_context(|| format!("writing {}", layout.pid_file.display()))?;
            server.child = Some(started.child);
            Ok((started.url, started.token))
        },
    )?;
    detail(format_args!(
        "listening on {url} (embedded SQLite store, {})",
        if moto.is_some() {
            "EKS clusters through the AWS APIs on moto: --cloud-driver aws=api"
        } else {
            "simulated cloud"
        }
    ));
    detail(format_args!(
        "administrator token in {}; log in {}",
        layout.shown(&layout.data_dir.join("admin-token")),
        layout.shown(&layout.log)
    ));

    timed(
        &format!(
            "compiling {} with wayfinder-compile into {}",
            layout.shown(&definitions),
            layout.shown(&layout.modules)
        ),
        || {
            let out = std::process::Command::new(bins.join("wayfinder-compile"))
                .arg(&definitions)
                .arg("--out")
                .arg(&layout.modules)
                .output()
                .context("running wayfinder-compile")?;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if !out.status.success() {
                bail!("wayfinder-compile failed ({}):\n{text}", out.status);
            }
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                detail(line);
            }
            let mut modules = vec!["catalog".to_string()];
            if let Ok(entries) = fs::read_dir(layout.modules.join("clusters")) {
                let mut plans: Vec<String> = entries
                    .flatten()
                    .map(|e| format!("clusters/{}", e.file_name().to_string_lossy()))
                    .collect();
                plans.sort();
                modules.extend(plans);
            }
            detail(format_args!("modules: {}", modules.join(", ")));
            Ok(())
        },
    )?;

    let tf = Tf {
        terraform: &tf_path,
        layout: &layout,
        server: &url,
    };

    // The platform team.
    timed(
        "administrator: terraform apply of examples/quickstart/admin (stages, workspace pay, cloud access, the catalog, a member token)",
        || {
            tf.ok(
                &layout.admin,
                &admin_token,
                &["init", "-input=false", "-no-color"],
            )?;
            let applied = tf.ok(
                &layout.admin,
                &admin_token,
                &["apply", "-auto-approve", "-input=false", "-no-color"],
            )?;
            detail(summary_line(&applied.stdout, "Apply complete!"));
            Ok(())
        },
    )?;
    let published = tf.ok(
        &layout.admin,
        &admin_token,
        &["output", "-json", "-no-color", "cluster_plans"],
    )?;
    let plans: Json = serde_json::from_str(&published.stdout).unwrap_or(Json::Null);
    if let Some(map) = plans.as_object() {
        let names: Vec<&String> = map.keys().collect();
        detail(format_args!(
            "cluster plan versions on the server: {}",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let member_token = tf
        .ok(
            &layout.admin,
            &admin_token,
            &["output", "-raw", "-no-color", "member_token"],
        )?
        .stdout
        .trim()
        .to_string();
    if member_token.is_empty() {
        bail!("the admin configuration gave no member_token");
    }
    let member_token_file = layout.demo.join("member-token");
    write_secret(&member_token_file, &member_token)?;
    detail(format_args!(
        "member token of workspace pay (role member) in {}",
        layout.shown(&member_token_file)
    ));

    // The payments team, as a member.
    let cost = timed(
        "member of pay: terraform plan of examples/quickstart/workspace (the server's admission previews the cluster)",
        || {
            tf.ok(
                &layout.workspace,
                &member_token,
                &["init", "-input=false", "-no-color"],
            )?;
            let planned = tf.ok(
                &layout.workspace,
                &member_token,
                &["plan", "-input=false", "-no-color", "-out=demo.tfplan"],
            )?;
            detail(summary_line(&planned.stdout, "Plan:"));
            let shown = tf.ok(
                &layout.workspace,
                &member_token,
                &["show", "-json", "-no-color", "demo.tfplan"],
            )?;
            Ok(planned_cost(&shown.stdout))
        },
    )?;
    match &cost {
        Some(c) => detail(format_args!(
            "allowed by Wayfinder's admission; estimated monthly cost {}",
            describe_cost(c)
        )),
        None => detail("the plan holds no cost (the preview was skipped)"),
    }
    timed(
        "member of pay: terraform apply (waits until the simulated cloud has built the cluster)",
        || {
            let applied = tf.ok(
                &layout.workspace,
                &member_token,
                &["apply", "-input=false", "-no-color", "demo.tfplan"],
            )?;
            detail(summary_line(&applied.stdout, "Apply complete!"));
            Ok(())
        },
    )?;
    let outputs: Json = serde_json::from_str(
        &tf.ok(
            &layout.workspace,
            &member_token,
            &["output", "-json", "-no-color"],
        )?
        .stdout,
    )
    .unwrap_or(Json::Null);

    // A plan the cost policy refuses.
    let refused = step(
        "member of pay: terraform plan with bigger node pools (over the 4000 USD a month the provisioning policy allows)",
        || {
            tf.run(
                &layout.workspace,
                &member_token,
                &["plan", "-input=false", "-no-color"],
                &[("TF_VAR_node_pools", OVER_BUDGET_POOLS)],
            )
        },
    )?;
    if refused.code == 0 {
        bail!("the over-budget plan was not refused:\n{}", refused.all());
    }
    detail(format_args!(
        "refused (terraform exited {}); Terraform's diagnostic:",
        refused.code
    ));
    println!();
    for line in diagnostic(&refused.stderr).lines() {
        println!("      {line}");
    }
    println!();
    detail("the self-service module checks the provisioning policy before anything is planned;");
    detail(
        "without it, the server's admission refuses the same cluster at plan (docs/resources/cluster.md)",
    );

    // What there is now.
    say("what was created");
    for (who, dir, token) in [
        ("administrator", &layout.admin, admin_token.as_str()),
        ("member of pay", &layout.workspace, member_token.as_str()),
    ] {
        let listed = tf.ok(dir, token, &["state", "list", "-no-color"])?;
        detail(format_args!("{who} ({}):", layout.shown(dir)));
        for (ty, n) in count_types(&listed.stdout) {
            detail(format_args!("  {n:>3} {ty}"));
        }
    }
    let out = |key: &str| outputs[key]["value"].clone();
    detail(format_args!(
        "cluster {} at {}",
        out("cluster_id").as_str().unwrap_or("?"),
        out("endpoint").as_str().unwrap_or("?")
    ));
    detail(format_args!(
        "estimated monthly cost {}; the provisioning policy allows {} USD per cluster",
        describe_cost(&out("estimated_monthly_cost")),
        out("monthly_cost_ceiling")
    ));

    if let Some(m) = &moto {
        say("what landed in moto (read with boto3)");
        for line in moto_inventory(&root, &m.url)?.lines() {
            detail(line);
        }
    }

    fs::write(
        &layout.env_script,
        env_script(&url, &layout, &member_token_file, &tf_path),
    )
    .with_context(|| format!("writing {}", layout.env_script.display()))?;

    if args.keep_running {
        if let Some(m) = moto {
            detail(format_args!(
                "moto keeps running on {} too: stop it with  kill {}",
                m.url,
                m.pid()
            ));
            // Left running on purpose, as the server is.
            std::mem::forget(m);
        }
        let pid = server.keep();
        say("the server keeps running; try next:");
        next_commands(&layout, &url);
        if let Some(pid) = pid {
            detail(format_args!(
                "stop the server:  kill {pid}   (or run the demo again)"
            ));
        }
    } else {
        timed(
            "cleaning up: terraform destroy of the workspace (member), then of the catalog (administrator)",
            || {
                tf.ok(
                    &layout.workspace,
                    &member_token,
                    &["destroy", "-auto-approve", "-input=false", "-no-color"],
                )?;
                let destroyed = tf.ok(
                    &layout.admin,
                    &admin_token,
                    &["destroy", "-auto-approve", "-input=false", "-no-color"],
                )?;
                detail(summary_line(&destroyed.stdout, "Destroy complete!"));
                Ok(())
            },
        )?;
        server.stop();
        say("demo finished; the server is stopped. Next:");
        detail(
            "cargo xtask demo --keep-running   # the same, but leaves the server and the cluster up to explore",
        );
        detail("cargo xtask test                  # everything, with the real Terraform CLI");
        detail(
            "examples/quickstart/README.md     # the same steps by hand; docs/index.md for the provider",
        );
    }
    detail(format_args!("(used {tf_version})"));
    Ok(())
}

/// What moto holds, one line per object: VPCs, subnets, IAM roles with their policies, EKS
/// clusters with their node groups (boto3 from moto's venv).
fn moto_inventory(root: &Path, url: &str) -> Result<String> {
    const SCRIPT: &str = r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="eu-west-2",
          aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, iam, eks = (boto3.client(s, **kw) for s in ("ec2", "iam", "eks"))
for v in ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": ["wayfinder.dev/uid"]}])["Vpcs"]:
    print(f"VPC {v['VpcId']} {v['CidrBlock']}")
for s in ec2.describe_subnets(Filters=[{"Name": "tag-key", "Values": ["wayfinder.dev/uid"]}])["Subnets"]:
    print(f"  subnet {s['SubnetId']} {s['CidrBlock']} in {s['AvailabilityZone']}")
for r in iam.list_roles()["Roles"]:
    if r["RoleName"].startswith("wf-"):
        ps = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=r["RoleName"])["AttachedPolicies"]]
        print(f"IAM role {r['RoleName']}: {', '.join(sorted(ps))}")
for name in eks.list_clusters()["clusters"]:
    c = eks.describe_cluster(name=name)["cluster"]
    print(f"EKS cluster {name} {c['version']} {c['status']} {c['arn']}")
    for e in c.get("encryptionConfig", []):
        print(f"  {', '.join(e.get('resources', []))} encrypted with KMS key {e['provider']['keyArn']}")
    for ng in eks.list_nodegroups(clusterName=name)["nodegroups"]:
        g = eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
        s = g["scalingConfig"]
        print(f"  node group {ng}: {', '.join(g['instanceTypes'])} {g['capacityType']} "
              f"min {s['minSize']} max {s['maxSize']} desired {s['desiredSize']}")
"#;
    let python = crate::moto::python(&target_dir(root))
        .ok_or_else(|| anyhow::anyhow!("moto's venv has no python"))?;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(url)
        .output()
        .context("running boto3")?;
    if !out.status.success() {
        bail!(
            "listing moto with boto3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn next_commands(layout: &Layout, url: &str) {
    let shown = |p: &Path| layout.shown(p);
    detail(format_args!(
        "source {}   # WAYFINDER_SERVER={url}, the member's WAYFINDER_TOKEN, the CLI config, terraform on PATH",
        shown(&layout.env_script)
    ));
    detail(format_args!(
        "terraform -chdir={} plan          # no changes: the cluster is as configured",
        shown(&layout.workspace)
    ));
    detail(format_args!(
        "examples/ci/pipeline.sh {}       # the CI job: plan, cost and policy, apply",
        shown(&layout.workspace)
    ));
    // The member's token is an exchange token: traded for an API token first, as
    // Wayfinder's clients (and the provider) do.
    detail(format_args!(
        "API_TOKEN=$(curl -s -X POST -H \"Authorization: Bearer $WAYFINDER_TOKEN\" '{url}/api/v2/exchange?ttl=30m' | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')   # exchange the member's token"
    ));
    detail(format_args!(
        "curl -s -H \"Authorization: Bearer $API_TOKEN\" {url}/resources/compute.appvia.io/v2beta2/workspaces/pay/clusters/payments-dev"
    ));
    detail(format_args!(
        "WAYFINDER_TOKEN=$(cat {}) terraform -chdir={} plan   # the administrator's side",
        shown(&layout.data_dir.join("admin-token")),
        shown(&layout.admin)
    ));
}

/// The first line of `text` starting with `prefix`, or `prefix` itself.
fn summary_line(text: &str, prefix: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| prefix.to_string())
}

/// The `estimated_monthly_cost` of the cluster a saved plan (`terraform show -json`) creates.
fn planned_cost(plan_json: &str) -> Option<Json> {
    let plan: Json = serde_json::from_str(plan_json).ok()?;
    plan["resource_changes"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "wayfinder_cluster")
        .map(|c| c["change"]["after"]["estimated_monthly_cost"].clone())
        .filter(|c| !c.is_null())
}

/// `1918.24 USD: compute 1678.4, system 167.84, plus the control plane`.
fn describe_cost(cost: &Json) -> String {
    let pools: Vec<String> = cost["node_pools"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    format!(
        "{} {}: {}, plus the control plane",
        cost["total"],
        cost["currency"].as_str().unwrap_or("USD"),
        pools.join(", ")
    )
}

/// Terraform's error diagnostics from its stderr, without the CLI-configuration warnings.
fn diagnostic(stderr: &str) -> String {
    match stderr.find("Error: ") {
        Some(i) => stderr[i..].trim_end().to_string(),
        None => stderr.trim().to_string(),
    }
}

/// The resource types in `terraform state list` output, with how many of each (data
/// sources left out).
fn count_types(state_list: &str) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for address in state_list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = address.split('.').collect();
        // module.NAME.TYPE.LABEL, or TYPE.LABEL; skip data.TYPE.LABEL.
        let ty = parts
            .windows(2)
            .find(|w| w[0].starts_with("wayfinder_"))
            .map(|w| w[0]);
        let is_data = parts.iter().position(|p| *p == "data").is_some_and(|i| {
            parts
                .get(i + 1)
                .is_some_and(|t| t.starts_with("wayfinder_"))
        });
        if let (Some(ty), false) = (ty, is_data) {
            *counts.entry(ty.to_string()).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

/// Copies the `.tf` files of `from` into `to` (not `.terraform/` or state a user may have
/// left in the example).
fn copy_tf_files(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tf")
            && let Some(name) = path.file_name()
        {
            fs::copy(&path, to.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> Result<()> {
    fs::write(path, format!("{secret}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

fn env_script(url: &str, layout: &Layout, member_token: &Path, terraform: &Path) -> String {
    let tf_dir = terraform.parent().unwrap_or(Path::new("."));
    format!(
        "# Written by `cargo xtask demo`: the environment to run Terraform against the demo server\n\
         # as the member of workspace pay. The administrator's token: {admin}\n\
         export WAYFINDER_SERVER={url}\n\
         export WAYFINDER_TOKEN=\"$(cat '{member}')\"\n\
         export TF_CLI_CONFIG_FILE='{cli}'\n\
         export CHECKPOINT_DISABLE=1\n\
         export PATH='{tf}':\"$PATH\"\n",
        admin = layout.data_dir.join("admin-token").display(),
        member = member_token.display(),
        cli = layout.cli_config.display(),
        tf = tf_dir.display()
    )
}

/// Stops a server an earlier `--keep-running` demo left behind, if it is still running.
fn stop_earlier_server(pid_file: &Path) {
    let Some(pid) = fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return;
    };
    let is_ours = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(launch::SERVER_BINARY))
        .unwrap_or(false);
    if !is_ours || !launch::is_running(pid) {
        return;
    }
    detail(format_args!(
        "stopping the server an earlier demo left running (pid {pid})"
    ));
    launch::terminate(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    while launch::is_running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_planned_cost_is_read_from_the_plan() {
        let plan = r#"{"resource_changes":[{"type":"wayfinder_stage","change":{"after":{}}},
            {"type":"wayfinder_cluster","change":{"after":{"estimated_monthly_cost":
            {"total":10.5,"currency":"USD","node_pools":{"a":3.5}}}}}]}"#;
        let cost = planned_cost(plan).unwrap();
        assert_eq!(
            describe_cost(&cost),
            "10.5 USD: a 3.5, plus the control plane"
        );
        assert_eq!(planned_cost(r#"{"resource_changes":[]}"#), None);
    }

    #[test]
    fn state_lists_are_counted_by_type() {
        let listed = "data.wayfinder_provisioning_policy.this\nwayfinder_stage.nonprod\nwayfinder_stage.prod\nmodule.catalog.wayfinder_cluster_plan.eks_1_3_0\n";
        assert_eq!(
            count_types(listed),
            vec![
                ("wayfinder_cluster_plan".to_string(), 1),
                ("wayfinder_stage".to_string(), 2)
            ]
        );
    }

    #[test]
    fn the_diagnostic_starts_at_the_error() {
        assert_eq!(
            diagnostic("Warning: x\n\nError: Invalid value\n  on main.tf\n"),
            "Error: Invalid value\n  on main.tf"
        );
    }
}
