//! Faults, through the real Terraform CLI and a real server:
//!
//! - Ctrl-C in the middle of `terraform apply`: Terraform and the provider stop promptly
//!   (the provider honours StopProvider), the state matches the server, and a second apply
//!   converges to an empty plan.
//! - A server that accepts connections and never answers, one that answers late, and one
//!   that is not there: bounded waits, then a diagnostic naming the address and what to
//!   check.
//! - A server that limits the rate of requests: the provider waits as `Retry-After` says.

use std::time::{Duration, Instant};

use serde_json::Value;
use wayfinder_acceptance::catalog::{cluster_blocks, cluster_phase, publish_platform};
use wayfinder_acceptance::faults::{Proxy, SilentServer};
use wayfinder_acceptance::support::collection_path;
use wayfinder_acceptance::{
    ApiClient, REQUIRED_PROVIDERS, Server, TfOutput, Workdir, assert_no_crash, list_items,
    require_terraform,
};
use wayfinder_model::kinds::CLUSTER;

/// `count` clusters `NAME-0…` of plan `eks-general-purpose` 1.3.0 in workspace `pay`.
fn clusters_config(name: &str, count: usize) -> String {
    let blocks = cluster_blocks("m6i.large", 4, 24);
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "pay"
}}

resource "wayfinder_cluster" "c" {{
  count  = {count}
  name   = "{name}-${{count.index}}"
  stage  = "nonprod"
  region = "eu-west-2"

{blocks}
}}
"#
    )
}

/// The clusters of workspace `pay` on the server, by name.
fn server_clusters(api: &ApiClient) -> Vec<Value> {
    let path = collection_path(&CLUSTER, Some("pay"));
    let resp = api.get(&path);
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text);
    list_items(resp.body)
}

fn name_of(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn ctrl_c_mid_apply_stops_promptly_keeps_the_state_consistent_and_a_second_apply_converges() {
    require_terraform!();
    // Each cluster takes 6 s to build: the interrupt lands while the first ones are building.
    let server = Server::start_with_args(&["--sim-provision-time=6s"]);
    let api = server.client();
    publish_platform(&api);
    const COUNT: usize = 4;
    let wd = Workdir::new(&server);
    wd.write_config(&clusters_config("ctrlc", COUNT));
    wd.init();

    // Two at a time, so that some clusters are building and others not started when
    // Ctrl-C comes.
    let mut apply = wd.spawn(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-parallelism=2",
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while server_clusters(&api).is_empty() {
        assert!(
            apply.is_running(),
            "terraform exited before creating a cluster:\n{}",
            apply.output_so_far()
        );
        assert!(Instant::now() < deadline, "no cluster was created in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    let interrupted = Instant::now();
    apply.interrupt();
    let pgid = apply.pid();
    let out: TfOutput = apply.wait(Duration::from_secs(60));
    let to_exit = interrupted.elapsed();
    let group_gone = !wayfinder_acceptance::faults::signal_group(pgid, "0");
    println!("{out}");
    println!("SIGINT to exit: {to_exit:?}");
    assert_no_crash(&out);
    assert_ne!(out.code, 0, "an interrupted apply fails");
    assert!(group_gone, "the provider outlived Terraform");
    let text = one_line(&out.combined());
    assert!(text.contains("Interrupt received"), "{out}");
    assert!(
        to_exit < Duration::from_secs(5),
        "Terraform took {to_exit:?} to stop after Ctrl-C; a cluster takes 6 s to build, so it did not wait for one"
    );

    // The state matches the server: every cluster in the state exists there, with the
    // same uid; every cluster on the server is in the state; none half-recorded.
    let on_server = server_clusters(&api);
    let state = wd.state_resources();
    println!(
        "after Ctrl-C: {} clusters on the server, {} in the state ({} tainted)",
        on_server.len(),
        state.len(),
        state.iter().filter(|r| r["tainted"] == true).count()
    );
    assert!(
        on_server.len() < COUNT,
        "the interrupt came before all were created"
    );
    assert_eq!(state.len(), on_server.len(), "state {state:?}");
    // Each was interrupted while it was being built: Terraform keeps it, tainted, and says
    // what the next apply does.
    for r in &state {
        assert_eq!(r["tainted"], true, "{r}");
    }
    assert!(
        text.contains("Operation cancelled")
            && text.contains(
                "records the cluster as tainted, so the next `terraform apply` replaces it"
            ),
        "{out}"
    );
    for r in &state {
        let v = &r["values"];
        let name = v["name"].as_str().unwrap();
        let object = on_server
            .iter()
            .find(|o| name_of(o) == name)
            .unwrap_or_else(|| panic!("{name} is in the state but not on the server"));
        assert_eq!(v["id"], format!("pay/{name}"));
        assert_eq!(v["workspace"], "pay");
        assert!(v["status"]["status"].is_string(), "{r}");
        assert!(object["metadata"]["uid"].is_string());
    }

    // A second apply converges: every cluster built, then nothing to do.
    let started = Instant::now();
    let out = wd.apply();
    println!("second apply: {:?}", started.elapsed());
    assert_no_crash(&out);
    let on_server = server_clusters(&api);
    assert_eq!(on_server.len(), COUNT);
    for o in &on_server {
        assert_eq!(cluster_phase(Some(o)), Some("Success"), "{o}");
    }
    assert_eq!(wd.state_resources().len(), COUNT);
    wd.plan_is_empty(true);
}

/// `count` compute templates `NAME-0…`.
fn templates_config(name: &str, count: usize) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
resource "wayfinder_compute_template" "t" {{
  count          = {count}
  name           = "{name}-${{count.index}}"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "compute"
    machine      = "m6i.large"
    size         = 2
  }}
}}
"#
    )
}

/// Applies `config` with the provider pointed at `url` and `env` set; the output and how
/// long the apply took.
fn apply_against(url: &str, env: &[(&str, &str)], config: &str) -> (TfOutput, Duration) {
    let mut wd = Workdir::with_provider();
    wd.set_env("WAYFINDER_SERVER", url);
    wd.set_env("WAYFINDER_TOKEN", "wft_not-a-real-token");
    for (k, v) in env {
        wd.set_env(k, v);
    }
    wd.write_config(config);
    wd.init();
    let started = Instant::now();
    let out = wd.try_apply();
    (out, started.elapsed())
}

#[test]
fn a_server_that_never_answers_ends_in_a_bounded_time_with_what_to_check() {
    require_terraform!();
    let silent = SilentServer::start();
    const TIMEOUT: Duration = Duration::from_secs(3);
    let (out, took) = apply_against(
        &silent.url(),
        &[("WAYFINDER_REQUEST_TIMEOUT", "3s")],
        &templates_config("silent", 1),
    );
    println!("{out}");
    println!(
        "a silent server: {} connection(s), apply ended after {took:?} (request timeout {TIMEOUT:?})",
        silent.accepted()
    );
    assert_ne!(out.code, 0);
    assert_no_crash(&out);
    let text = one_line(&out.combined());
    for needle in [
        "The Wayfinder API did not answer in time",
        &silent.addr().to_string(),
        "no answer within 3s",
        "Check its health (GET /readyz) and its log",
        "WAYFINDER_REQUEST_TIMEOUT",
    ] {
        assert!(text.contains(needle), "{needle:?} is not in:\n{out}");
    }
    // One request, not repeated; the wait was the timeout, plus Terraform's own time.
    assert_eq!(
        silent.accepted(),
        1,
        "the timed-out request was not retried"
    );
    assert!(took >= TIMEOUT, "{took:?}");
    assert!(took < TIMEOUT + Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_slow_server_is_waited_for_within_the_timeout_and_not_beyond() {
    require_terraform!();
    let server = Server::start();
    // Every request reaches the server 1.5 s late.
    let proxy = Proxy::start(server.url(), Duration::from_millis(1500));
    let mut wd = Workdir::new(&server);
    wd.set_env("WAYFINDER_SERVER", &proxy.url());
    wd.set_env("WAYFINDER_REQUEST_TIMEOUT", "10s");
    wd.write_config(&templates_config("slow", 1));
    wd.init();
    let started = Instant::now();
    let out = wd.apply();
    let took = started.elapsed();
    assert_no_crash(&out);
    assert!(server.client().compute_template("slow-0").is_some());
    println!("apply through a server 1.5 s slow per request: {took:?}");
    assert!(took >= Duration::from_millis(1500), "{took:?}");

    // A limit below the delay: the read of the refresh times out, with what to check.
    wd.set_env("WAYFINDER_REQUEST_TIMEOUT", "1s");
    let started = Instant::now();
    let out = wd.try_run(&["plan", "-input=false", "-no-color"]);
    let took = started.elapsed();
    println!("{out}\nplan with a 1 s limit: {took:?}");
    assert_ne!(out.code, 0);
    let text = one_line(&out.combined());
    assert!(
        text.contains("The Wayfinder API did not answer in time") && text.contains("within 1s"),
        "{out}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn no_server_at_the_address_is_retried_a_bounded_number_of_times() {
    require_terraform!();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (out, took) = apply_against(
        &format!("http://127.0.0.1:{port}"),
        &[],
        &templates_config("nowhere", 1),
    );
    println!("{out}\nno server: apply ended after {took:?}");
    assert_ne!(out.code, 0);
    assert_no_crash(&out);
    let text = one_line(&out.combined());
    for needle in [
        "Cannot reach the Wayfinder API".to_string(),
        format!("http://127.0.0.1:{port}/"),
        "(4 tries over ".to_string(),
        "Check `server` (or WAYFINDER_SERVER): the address and port, that the server is running"
            .to_string(),
    ] {
        assert!(text.contains(&needle), "{needle:?} is not in:\n{out}");
    }
    // Four tries, 1.75 s of waiting between them, plus Terraform's own time.
    assert!(took >= Duration::from_millis(1750), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_rate_limited_server_is_waited_for_as_retry_after_says() {
    require_terraform!();
    // Five requests a second per token, bursts of five; twelve objects at Terraform's
    // default parallelism of ten.
    let server = Server::start_with_args(&["--rate-limit=5", "--rate-limit-burst=5"]);
    let wd = Workdir::new(&server);
    wd.write_config(&templates_config("limited", 12));
    wd.init();
    let started = Instant::now();
    let out = wd.apply();
    let took = started.elapsed();
    assert_no_crash(&out);
    let log = server.log();
    let limited = log.matches("status=429").count();
    let served = log.matches("status=20").count();
    println!(
        "rate limit 5/s, burst 5: apply of 12 objects in {took:?}; {served} requests served, {limited} answered 429 and retried"
    );
    assert!(
        limited > 0,
        "the limit never bound; the test proves nothing"
    );
    assert_eq!(server.client().compute_templates().len(), 12);
    wd.plan_is_empty(true);
}
