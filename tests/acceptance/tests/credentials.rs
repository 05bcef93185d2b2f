//! The ephemeral resource `wayfinder_cluster_credentials` through the real Terraform CLI
//! (≥ 1.10) against a real server with a built cluster: the token and kubeconfig reach a
//! consumer (a provisioner's environment, as a `kubernetes` provider block would take them,
//! and an ephemeral module output), are the ones the server issued (its audit log holds
//! their hash), and are in neither the plan nor the state.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use wayfinder_acceptance::catalog::{self, cluster_phase, fixture, publish_platform, wait_cluster};
use wayfinder_acceptance::support::{EPHEMERAL_RESOURCES, unzip_all};
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, require_terraform_version,
};

/// A server with the fixture platform and the built cluster `pay/payments-dev`.
fn server_with_cluster() -> Server {
    let server = Server::start();
    let api = server.client();
    publish_platform(&api);
    let mut cluster = fixture("cluster.yaml", "payments-dev");
    cluster["spec"]["nodePools"][0]
        .as_object_mut()
        .unwrap()
        .remove("providerDetails");
    catalog::create(&api, &cluster, None);
    wait_cluster(&api, "pay", "payments-dev", Duration::from_secs(60), |b| {
        cluster_phase(b) == Some("Success")
    });
    server
}

fn sha256_hex(data: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    std::fs::write(&f, data).unwrap();
    let out = Command::new("sha256sum").arg(&f).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

const MODULE: &str = r#"
variable "kubeconfig" {
  type      = string
  ephemeral = true
}

variable "endpoint" {
  type      = string
  ephemeral = true
}

output "endpoint" {
  value     = var.endpoint
  ephemeral = true
}

output "kubeconfig_lines" {
  value     = length(split("\n", var.kubeconfig))
  ephemeral = true
}
"#;

fn config(cluster: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
ephemeral "wayfinder_cluster_credentials" "dev" {{
  cluster = "{cluster}"
  ttl     = "20m"
}}

# Ephemeral values pass through a module's ephemeral variables and outputs.
module "consumer" {{
  source     = "./consumer"
  kubeconfig = ephemeral.wayfinder_cluster_credentials.dev.kubeconfig
  endpoint   = ephemeral.wayfinder_cluster_credentials.dev.endpoint
}}

# A provisioner takes ephemeral values, as a kubernetes/helm provider block does: it writes
# what it received where the test can read it. Nothing of it reaches the state.
resource "terraform_data" "use" {{
  lifecycle {{
    precondition {{
      condition     = length(ephemeral.wayfinder_cluster_credentials.dev.token) > 20
      error_message = "the token did not arrive"
    }}
    precondition {{
      condition     = module.consumer.kubeconfig_lines > 5
      error_message = "the kubeconfig did not reach the module"
    }}
  }}

  provisioner "local-exec" {{
    command = "printf '%s' \"$KUBECONFIG_DATA\" > received-kubeconfig.yaml && printf '%s\n%s\n%s\n%s' \"$TOKEN\" \"$ENDPOINT\" \"$EXPIRES\" \"$TTL\" > received.txt"
    environment = {{
      KUBECONFIG_DATA = ephemeral.wayfinder_cluster_credentials.dev.kubeconfig
      TOKEN           = ephemeral.wayfinder_cluster_credentials.dev.token
      ENDPOINT        = module.consumer.endpoint
      EXPIRES         = ephemeral.wayfinder_cluster_credentials.dev.expires_at
      TTL             = ephemeral.wayfinder_cluster_credentials.dev.granted_ttl
    }}
  }}
}}
"#
    )
}

#[test]
fn smoke_credentials_reach_their_consumer_and_never_the_plan_or_state() {
    require_terraform_version!(EPHEMERAL_RESOURCES);
    let server = server_with_cluster();
    let api = server.client();
    let endpoint =
        api.get(&catalog::cluster_path("pay", "payments-dev")).body["status"]["endpoint"]
            .as_str()
            .expect("a built cluster has status.endpoint")
            .to_string();

    let wd = Workdir::new(&server);
    wd.write_file("consumer/main.tf", MODULE);
    wd.write_config(&config("pay/payments-dev"));
    wd.init();
    let plan = wd.run(&["plan", "-input=false", "-no-color", "-out=creds.tfplan"]);
    assert_no_crash(&plan);
    let applied = wd.run(&["apply", "-input=false", "-no-color", "creds.tfplan"]);
    assert_no_crash(&applied);

    // What the provisioner received: the server's token, endpoint and kubeconfig.
    let received = std::fs::read_to_string(wd.path().join("received.txt")).unwrap();
    let lines: Vec<&str> = received.lines().collect();
    let (token, got_endpoint, expires, ttl) = (lines[0], lines[1], lines[2], lines[3]);
    assert!(token.starts_with("wfc_"), "{received}");
    assert_eq!(got_endpoint, endpoint);
    assert!(expires.ends_with('Z'), "expires_at is RFC 3339: {expires}");
    assert_eq!(ttl, "20m0s", "the 20m asked for is under the one-hour cap");
    let kubeconfig = std::fs::read_to_string(wd.path().join("received-kubeconfig.yaml")).unwrap();
    assert!(
        kubeconfig.contains(&format!("server: \"{endpoint}\"")),
        "{kubeconfig}"
    );
    assert!(
        kubeconfig.contains(&format!("token: \"{token}\"")),
        "{kubeconfig}"
    );

    // The server issued exactly this token: its audit log holds its hash.
    let audit = std::fs::read_to_string(server.data_dir().join("audit/credentials.jsonl")).unwrap();
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hash = sha256_hex(token);
    assert!(
        records.iter().any(|r| r["tokenSha256"] == hash.as_str()
            && r["cluster"] == "payments-dev"
            && r["requestedTtl"] == "20m0s"),
        "no audit record for the token the provisioner received: {audit}"
    );

    // Neither the plan nor the state holds the token or the kubeconfig.
    let state = std::fs::read_to_string(wd.path().join("terraform.tfstate")).unwrap();
    let shown_plan = wd
        .run(&["show", "-json", "-no-color", "creds.tfplan"])
        .stdout;
    let plan_zip = unzip_all(&wd.path().join("creds.tfplan"));
    for (what, text) in [
        ("state", state.as_str()),
        ("plan (shown)", shown_plan.as_str()),
        ("plan file", plan_zip.as_str()),
        ("apply output", &applied.combined()),
    ] {
        for r in &records {
            let secret_hash = r["tokenSha256"].as_str().unwrap();
            assert!(!text.contains(secret_hash), "{what} holds a token hash");
        }
        assert!(!text.contains(token), "{what} holds the token");
        assert!(!text.contains("wfc_"), "{what} holds a cluster token");
        assert!(!text.contains("kind: Config"), "{what} holds a kubeconfig");
    }
    // Every open (at plan and at apply) issued a token; each was audited.
    assert!(records.len() >= 2, "{audit}");
}

#[test]
fn credentials_errors_explain_what_to_do() {
    require_terraform_version!(EPHEMERAL_RESOURCES);
    let server = server_with_cluster();
    let api = server.client();

    // A cluster that does not exist: a 404, with the hint to reference the cluster's id.
    let wd = Workdir::new(&server);
    wd.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
ephemeral "wayfinder_cluster_credentials" "x" {{
  cluster = "pay/nope"
}}
"#
    ));
    wd.init();
    let out = wd.plan_expect_error("Cluster pay/nope does not exist");
    assert!(
        out.combined().contains("wayfinder_cluster.NAME.id"),
        "{out}"
    );

    // A member of another workspace may not take credentials here: 403 naming the roles.
    catalog::create(&api, &catalog_workspace("web"), None);
    let web_member = catalog::access_token(&api, "web", "dev", &["member"]);
    let mut wd = Workdir::new(&server);
    wd.set_env("WAYFINDER_TOKEN", &web_member);
    wd.set_env("WAYFINDER_WORKSPACE", "pay");
    wd.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
ephemeral "wayfinder_cluster_credentials" "x" {{
  cluster = "payments-dev"
}}
"#
    ));
    wd.init();
    let out = wd.plan_expect_error("Permission denied");
    let text = out
        .combined()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("\"owner\" or \"member\" of workspace pay"),
        "the 403 names the roles that would do: {out}"
    );

    // A bad ttl is refused before anything is asked of the server.
    wd.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
ephemeral "wayfinder_cluster_credentials" "x" {{
  cluster = "pay/payments-dev"
  ttl     = "soon"
}}
"#
    ));
    let out = wd.plan_expect_error("Invalid ttl");
    assert!(
        out.combined().contains("main.tf line 11"),
        "on the ttl line: {out}"
    );
}

fn catalog_workspace(key: &str) -> Value {
    serde_json::json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "Workspace",
        "metadata": {"name": key}, "spec": {"key": key, "summary": key}})
}
