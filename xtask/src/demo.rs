//! `cargo xtask demo`: the whole system on the embedded defaults. Starts `wayfinder-server`,
//! compiles `examples/definitions` into a Terraform module, and applies it with the provider
//! installed from a local filesystem mirror. Everything lives in `target/demo/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::launch;
use crate::terraform;
use crate::test::{TerraformArgs, find_terraform};
use crate::util::{bin_dir, cargo, detail, repo_root, run_command, say, step, target_dir};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the server running afterwards (prints how to use and stop it).
    #[arg(long)]
    pub keep_running: bool,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

/// The demo server; stopped on drop unless kept.
struct ServerGuard {
    child: Option<Child>,
    pid_file: PathBuf,
}

impl ServerGuard {
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            say("stopping wayfinder-server");
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
        self.stop();
    }
}

pub fn run(args: &Args) -> Result<()> {
    let root = repo_root();
    args.terraform.check()?;
    let demo = target_dir(&root).join("demo");
    let data_dir = demo.join("data");
    let module_dir = demo.join("module");
    let mirror = demo.join("mirror");
    let cli_config = demo.join("cli.tfrc");
    let pid_file = demo.join("server.pid");
    let log = demo.join("server.log");
    let definitions = root.join("examples").join("definitions");

    step("building binaries (cargo build --workspace --bins)", || {
        run_command(
            &mut cargo(&root, &["build", "--workspace", "--bins"]),
            "cargo build --workspace --bins",
        )
    })?;
    let bins = bin_dir(&root);

    let (tf, _) = step("finding terraform", || find_terraform(&args.terraform))?;

    step(&format!("preparing {}", shown(&root, &demo)), || {
        stop_earlier_server(&pid_file);
        if demo.exists() {
            fs::remove_dir_all(&demo)
                .with_context(|| format!("removing the previous {}", demo.display()))?;
        }
        fs::create_dir_all(&demo).with_context(|| format!("creating {}", demo.display()))
    })?;

    let mut server = ServerGuard {
        child: None,
        pid_file: pid_file.clone(),
    };
    let (url, token) = step(
        &format!(
            "starting wayfinder-server (data dir {})",
            shown(&root, &data_dir)
        ),
        || {
            let started = launch::start(
                &bins.join(launch::SERVER_BINARY),
                "127.0.0.1:0",
                &data_dir,
                &log,
            )?;
            fs::write(&pid_file, format!("{}\n", started.child.id()))
                .with_context(|| format!("writing {}", pid_file.display()))?;
            server.child = Some(started.child);
            Ok((started.url, started.token))
        },
    )?;
    detail(format_args!("listening on {url}"));
    detail(format_args!(
        "admin token in {}, log in {}",
        shown(&root, &data_dir.join("admin-token")),
        shown(&root, &log)
    ));

    step(
        &format!(
            "compiling {} into {}",
            shown(&root, &definitions),
            shown(&root, &module_dir)
        ),
        || {
            run_command(
                Command::new(bins.join("wayfinder-compile"))
                    .arg(&definitions)
                    .arg("--out")
                    .arg(&module_dir),
                "wayfinder-compile",
            )
        },
    )?;

    step(
        &format!(
            "writing {} and a Terraform CLI configuration that installs the provider from {}",
            shown(&root, &demo.join("main.tf")),
            shown(&root, &mirror)
        ),
        || {
            fs::write(demo.join("main.tf"), ROOT_CONFIG)
                .with_context(|| format!("writing {}", demo.join("main.tf").display()))?;
            terraform::build_mirror(&mirror, &bins.join(terraform::PROVIDER_BINARY))?;
            fs::write(&cli_config, terraform::cli_config(Some(&mirror)))
                .with_context(|| format!("writing {}", cli_config.display()))?;
            fs::write(
                demo.join("env.sh"),
                env_script(&url, &data_dir, &cli_config, &tf),
            )
            .with_context(|| format!("writing {}", demo.join("env.sh").display()))
        },
    )?;

    let terraform_in_demo = |args: &[&str]| {
        let mut cmd = terraform::command(&tf);
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("WAYFINDER_")) {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .current_dir(&demo)
            .env("TF_CLI_CONFIG_FILE", &cli_config)
            .env("WAYFINDER_SERVER", &url)
            .env("WAYFINDER_TOKEN", &token);
        run_command(&mut cmd, &format!("terraform {}", args.join(" ")))
    };

    step("terraform init", || {
        terraform_in_demo(&["init", "-input=false"])
    })?;
    step("terraform apply -auto-approve", || {
        terraform_in_demo(&["apply", "-auto-approve", "-input=false"])
    })?;
    step("created (terraform state list, terraform output)", || {
        terraform_in_demo(&["state", "list"])?;
        terraform_in_demo(&["output"])
    })?;

    let token_path = data_dir.join("admin-token");
    let curl = format!(
        "curl -s -H \"Authorization: Bearer $(cat {})\" {url}/resources/compute.appvia.io/v2beta2/computetemplates",
        token_path.display()
    );
    if args.keep_running {
        let pid = server.keep();
        say("the server keeps running");
        detail(format_args!("look at what was created:  {curl}"));
        detail(format_args!(
            "use Terraform against it:  source {} && terraform -chdir={} plan",
            demo.join("env.sh").display(),
            demo.display()
        ));
        if let Some(pid) = pid {
            detail(format_args!("stop it:  kill {pid}"));
        }
        detail(format_args!("its data dir:  {}", data_dir.display()));
        detail(format_args!("its log:  {}", log.display()));
    } else {
        detail(format_args!(
            "to look through the API, run `cargo xtask demo --keep-running`, then:  {curl}"
        ));
        server.stop();
        say("demo finished");
    }
    Ok(())
}

const ROOT_CONFIG: &str = r#"# Written by `cargo xtask demo`. The provider reads WAYFINDER_SERVER and WAYFINDER_TOKEN
# from the environment; source env.sh beside this file to set them.

module "catalog" {
  source = "./module/catalog"
}

output "compute_template_ids" {
  description = "The compute templates created on the server, name => id."
  value       = module.catalog.compute_template_ids
}

output "cluster_plan_ids" {
  description = "The cluster plan versions created on the server, name@version => id."
  value       = module.catalog.cluster_plan_ids
}
"#;

fn env_script(url: &str, data_dir: &Path, cli_config: &Path, terraform: &Path) -> String {
    let tf_dir = terraform.parent().unwrap_or(Path::new("."));
    format!(
        "# Written by `cargo xtask demo`: the environment to run Terraform against the demo server.\n\
         export WAYFINDER_SERVER={url}\n\
         export WAYFINDER_TOKEN=\"$(cat '{}')\"\n\
         export TF_CLI_CONFIG_FILE='{}'\n\
         export CHECKPOINT_DISABLE=1\n\
         export PATH='{}':\"$PATH\"\n",
        data_dir.join("admin-token").display(),
        cli_config.display(),
        tf_dir.display()
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

/// A path relative to the repository root when it is inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}
