//! Security, through the real Terraform CLI and a real server:
//!
//! - No secret leaks: the provider's token (an exchange token, a platform AccessToken's),
//!   every API token the server exchanged it for, the administrator's token, the secret of
//!   an access token created with the
//!   default `store_token = false`, and the short-lived credentials of the ephemeral
//!   `wayfinder_cluster_credentials` (token and kubeconfig) appear in none of: plan and
//!   apply output, `terraform show -json` of the plan and of the state, the saved plan
//!   file, the state file and its backup, Terraform's and the provider's trace logs, the
//!   server's trace log. The secrets are taken from the traffic itself (a recording proxy
//!   between the provider and the server), so the search looks for what the server
//!   really handed out. The server's files hold token hashes only. A `store_token = true`
//!   secret is the control: the search finds it in the state, where the schema says it is.
//! - The role matrix through the provider: what `terraform apply` of a platform kind, a
//!   workspace kind and a cluster gives the administrator, an owner and a member of the
//!   workspace, and a member of another workspace.
//! - Another workspace's cluster, read through a data source, is a clear error.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use wayfinder_acceptance::catalog::{self, cluster_phase, fixture, publish_platform, wait_cluster};
use wayfinder_acceptance::faults::{Proxy, find_jwts, find_tokens};
use wayfinder_acceptance::support::{EPHEMERAL_RESOURCES, unzip_all};
use wayfinder_acceptance::{
    ApiClient, REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, require_terraform,
};

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sha256_hex(data: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The fixture cluster `pay/payments-dev`, created through the API and built.
fn built_cluster(api: &ApiClient) {
    let mut cluster = fixture("cluster.yaml", "payments-dev");
    cluster["spec"]["nodePools"][0]
        .as_object_mut()
        .unwrap()
        .remove("providerDetails");
    catalog::create(api, &cluster, None);
    wait_cluster(api, "pay", "payments-dev", Duration::from_secs(60), |b| {
        cluster_phase(b) == Some("Success")
    });
}

const SECRETS_CONFIG: &str = r#"
resource "wayfinder_access_token" "discarded" {
  workspace   = "pay"
  name        = "ci-discarded"
  description = "secret kept nowhere (the default)"
  roles       = ["member"]
  ttl         = "2h"
}

resource "wayfinder_access_token" "kept" {
  workspace   = "pay"
  name        = "ci-kept"
  description = "secret kept in the state, on purpose"
  roles       = ["member"]
  ttl         = "2h"
  store_token = true
}

output "kept" {
  value     = wayfinder_access_token.kept.token
  sensitive = true
}
"#;

const CREDENTIALS_CONFIG: &str = r#"
ephemeral "wayfinder_cluster_credentials" "dev" {
  cluster = "pay/payments-dev"
  ttl     = "10m"
}

# Uses the credentials as a kubernetes provider would: they must arrive, and go nowhere.
resource "terraform_data" "use" {
  lifecycle {
    precondition {
      condition     = length(ephemeral.wayfinder_cluster_credentials.dev.token) > 20 && strcontains(ephemeral.wayfinder_cluster_credentials.dev.kubeconfig, "kind: Config")
      error_message = "the credentials did not arrive"
    }
  }
}
"#;

#[test]
fn no_secret_reaches_plans_state_or_logs() {
    require_terraform!();
    let ephemeral = EPHEMERAL_RESOURCES.available_for("ephemeral cluster credentials");
    let mut server = Server::start_with_args(&["--log-level=trace", "--sim-provision-time=1s"]);
    let api = server.client();
    publish_platform(&api);
    if ephemeral {
        built_cluster(&api);
    }
    // The provider runs as Wayfinder's clients do in CI: with an AccessToken's token (an
    // exchange token), which it trades for short-lived API tokens.
    // It mints the configuration's 2h tokens, so it lives longer.
    let provider_token = catalog::access_token_for(&api, "admin", "terraform", &["admin"], "24h");
    let proxy = Proxy::start(server.url(), Duration::ZERO);

    let mut wd = Workdir::new(&server);
    wd.set_env("WAYFINDER_SERVER", &proxy.url());
    wd.set_env("WAYFINDER_TOKEN", &provider_token);
    let tf_log = wd.path().join("..").join("terraform-trace.log");
    wd.set_env("TF_LOG", "trace");
    wd.set_env("TF_LOG_PATH", &tf_log.to_string_lossy());
    let mut config = format!("{REQUIRED_PROVIDERS}{SECRETS_CONFIG}");
    if ephemeral {
        config.push_str(CREDENTIALS_CONFIG);
    }
    wd.write_config(&config);
    wd.init();
    let plan = wd.run(&["plan", "-input=false", "-no-color", "-out=secrets.tfplan"]);
    let plan_json = wd
        .run(&["show", "-json", "-no-color", "secrets.tfplan"])
        .stdout;
    let plan_file = unzip_all(&wd.path().join("secrets.tfplan"));
    let apply = wd.run(&["apply", "-input=false", "-no-color", "secrets.tfplan"]);
    assert_no_crash(&apply);
    // A second run changes a token's description, so it writes the state again (and a
    // backup of the first), and opens the credentials again.
    wd.write_config(&config.replace("(the default)", "(the default, changed)"));
    let replan = wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let state_json = wd.run(&["show", "-json", "-no-color"]).stdout;
    let outputs = wd.run(&["output", "-no-color"]).stdout;
    server.stop(); // its log and store complete

    // What the server handed out, seen on the wire.
    let answers = proxy.to_client();
    let requests = proxy.to_server();
    let (access_secrets, api_tokens): (Vec<String>, Vec<String>) = find_jwts(&answers)
        .into_iter()
        .partition(|t| wayfinder_acceptance::is_exchange_token(t));
    assert!(
        requests.contains("POST /api/v2/exchange?ttl=30m0s"),
        "the provider exchanged its token"
    );
    // The exchange token goes to the exchange only, never to the API itself.
    let request_line_before = |i: usize| {
        let head = &requests[..i];
        let end = head.rfind(" HTTP/1.1\r\n").unwrap_or(0);
        let start = head[..end].rfind("\r\n").map_or(0, |s| s + 2);
        head[start..end].to_string()
    };
    let sent_to: Vec<String> = requests
        .match_indices(provider_token.as_str())
        .map(|(i, _)| request_line_before(i))
        .collect();
    assert!(
        !sent_to.is_empty() && sent_to.iter().all(|l| l.contains("POST /api/v2/exchange")),
        "the exchange token was sent to: {sent_to:?}"
    );
    assert!(!api_tokens.is_empty(), "no API token was exchanged");
    assert_eq!(
        access_secrets.len(),
        2,
        "two access tokens were created: {access_secrets:?}"
    );
    let state_file = wd.read_file("terraform.tfstate");
    let backup = std::fs::read_to_string(wd.path().join("terraform.tfstate.backup"))
        .expect("a second apply leaves a state backup");
    let state: Value = serde_json::from_str(&state_file).unwrap();
    let kept = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "kept")
        .and_then(|r| r["instances"][0]["attributes"]["token"].as_str())
        .expect("store_token = true keeps the secret in the state")
        .to_string();
    assert!(access_secrets.contains(&kept), "{kept} was not on the wire");
    let discarded = access_secrets.iter().find(|s| **s != kept).unwrap().clone();
    let mut secrets = vec![
        ("the provider's exchange token", provider_token.clone()),
        ("the administrator's token", server.token().to_string()),
        ("the discarded access token", discarded.clone()),
    ];
    for t in &api_tokens {
        secrets.push(("an API token exchanged for the provider's", t.clone()));
    }
    let mut credentials = 0;
    if ephemeral {
        for t in find_tokens(&answers, "wfc_") {
            secrets.push(("a cluster credentials token", t));
            credentials += 1;
        }
        // At plan, at apply, at the second apply.
        assert!(credentials >= 2, "credentials issued: {credentials}");
        let kubeconfigs = json_strings(&answers, "kubeconfig");
        assert_eq!(kubeconfigs.len(), credentials, "one kubeconfig per token");
        for k in kubeconfigs {
            assert!(k.contains("kind: Config"), "{k}");
            // The whole document, and its one line unique to it (the token's).
            let line = k
                .lines()
                .find(|l| l.contains("token:"))
                .unwrap()
                .to_string();
            secrets.push(("a kubeconfig", k));
            secrets.push(("a kubeconfig's token line", line));
        }
    }

    let terraform_log = std::fs::read_to_string(&tf_log).expect("Terraform's trace log");
    // The logs searched are the ones that saw the work: the provider's requests, the
    // server's answers, at their most verbose.
    assert!(
        terraform_log.contains("wayfinder API request") && terraform_log.contains("accesstokens"),
        "Terraform's trace log holds the provider's debug lines"
    );
    let server_log = server.log();
    assert!(
        server_log.contains("DEBUG") && server_log.contains("AccessToken pay/ci-discarded"),
        "the server logged its work at the most verbose level"
    );
    let where_: [(&str, &str); 11] = [
        ("plan output", &plan.combined()),
        ("plan, show -json", &plan_json),
        ("the saved plan file", &plan_file),
        ("apply output", &apply.combined()),
        ("second apply output", &replan.combined()),
        ("state, show -json", &state_json),
        ("terraform output", &outputs),
        ("the state file", &state_file),
        ("the state backup", &backup),
        ("Terraform's and the provider's trace log", &terraform_log),
        ("the server's trace log", &server_log),
    ];
    let mut searched = 0;
    for (what, secret) in &secrets {
        for (place, text) in &where_ {
            assert!(
                !text.contains(secret.as_str()),
                "{what} is in {place}: {secret}"
            );
            searched += 1;
        }
    }
    // The control: the secret kept on purpose is in the state (and its JSON view), and
    // in no output or log.
    for (place, text) in &where_ {
        let expected = matches!(
            *place,
            "the state file" | "the state backup" | "state, show -json"
        );
        assert_eq!(
            text.contains(&kept),
            expected,
            "the kept secret {} in {place}",
            if expected { "is missing" } else { "is" }
        );
    }
    // The key that signs the server's tokens is in the store only: in none of the places
    // searched, in any of the encodings a key is written in.
    let key: Vec<u8> = rusqlite::Connection::open(server.data_dir().join("wayfinder.db"))
        .unwrap()
        .query_row(
            "SELECT value FROM server_keys WHERE name = 'signing-key'",
            [],
            |r| r.get(0),
        )
        .expect("the store keeps the signing key");
    assert!(
        key.len() > 1000,
        "an RSA key in PKCS#8: {} bytes",
        key.len()
    );
    {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let std64 = STANDARD.encode(&key);
        let encodings = [
            ("base64", std64.clone()),
            ("a PEM line", std64[..64].to_string()),
            ("base64url", URL_SAFE_NO_PAD.encode(&key)),
            ("hex", key.iter().map(|b| format!("{b:02x}")).collect()),
        ];
        for (encoding, text) in &encodings {
            for (place, haystack) in &where_ {
                assert!(
                    !haystack.contains(text.as_str()),
                    "the signing key ({encoding}) is in {place}"
                );
                searched += 1;
            }
        }
        for (place, haystack) in &where_ {
            assert!(
                !haystack.contains("PRIVATE KEY"),
                "a private key is in {place}"
            );
        }
    }
    // The store and the audit log hold hashes only.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("wayfinder.db")
        {
            stored.extend(std::fs::read(&p).unwrap());
        }
    }
    let audit = std::fs::read_to_string(server.data_dir().join("audit/credentials.jsonl"))
        .unwrap_or_default();
    let stored = String::from_utf8_lossy(&stored).into_owned();
    for (what, secret) in secrets
        .iter()
        .chain([&("the kept access token", kept.clone())])
    {
        assert!(!stored.contains(secret.as_str()), "{what} is in the store");
        assert!(
            !audit.contains(secret.as_str()),
            "{what} is in the audit log"
        );
    }
    for secret in [server.token(), &kept, &discarded, &provider_token] {
        assert!(
            stored.contains(&sha256_hex(secret)),
            "the store keeps the token's hash"
        );
    }
    println!(
        "{} API tokens exchanged; searched {} secrets ({credentials} credentials tokens) and the signing key in {} places: {searched} checks, none found; \
         the store and audit log hold hashes only; the control (store_token = true) found in the state only",
        api_tokens.len(),
        secrets.len(),
        where_.len()
    );
}

/// Every string value of a `"key":` member in `text` (JSON bodies within HTTP traffic).
fn json_strings(text: &str, key: &str) -> Vec<String> {
    let needle = format!("\"{key}\":");
    text.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = text[i + needle.len()..].trim_start();
            serde_json::Deserializer::from_str(rest)
                .into_iter::<String>()
                .next()?
                .ok()
        })
        .collect()
}

/// What one role's apply of one kind should give.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Created,
    /// Refused at apply, the diagnostic naming the roles that would do.
    Denied(&'static str),
    /// Refused at plan (the cluster's preview), the diagnostic naming the roles.
    DeniedAtPlan(&'static str),
}

use Outcome::*;

const ADMIN: &str = "the role \"admin\"";
const OWNER_PAY: &str = "the role \"admin\", or \"owner\" of workspace pay";
const MEMBER_PAY: &str = "the role \"admin\", or \"owner\" or \"member\" of workspace pay";

/// A platform kind, a workspace kind (in `pay`) and a cluster (in `pay`), named after
/// `role`; each resource block is included when `with(address)` says so.
fn role_config(role: &str, with: impl Fn(&str) -> bool) -> String {
    let blocks = [
        (
            "wayfinder_compute_template.platform",
            format!(
                r#"
resource "wayfinder_compute_template" "platform" {{
  name           = "rm-{role}"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "compute"
    machine      = "m6i.large"
    size         = 2
  }}
}}
"#
            ),
        ),
        (
            "wayfinder_access_token.workspace",
            format!(
                r#"
resource "wayfinder_access_token" "workspace" {{
  workspace   = "pay"
  name        = "rm-{role}"
  description = "role matrix"
  roles       = ["member"]
  ttl         = "1h"
}}
"#
            ),
        ),
        (
            "wayfinder_cluster.cluster",
            format!(
                r#"
resource "wayfinder_cluster" "cluster" {{
  workspace = "pay"
  name      = "rm-{role}"
  stage     = "nonprod"
  region    = "eu-west-2"

{blocks}
}}
"#,
                blocks = catalog::cluster_blocks("m6i.large", 4, 24)
            ),
        ),
    ];
    let mut config = REQUIRED_PROVIDERS.to_string();
    for (address, block) in blocks {
        if with(address) {
            config.push_str(&block);
        }
    }
    config
}

/// Whether the object a role's resource would create exists on the server.
fn exists(api: &ApiClient, address: &str, role: &str) -> bool {
    let name = format!("rm-{role}");
    match address {
        "wayfinder_compute_template.platform" => api.compute_template(&name).is_some(),
        "wayfinder_access_token.workspace" => api
            .object(
                &wayfinder_model::kinds::ACCESS_TOKEN,
                Some("pay"),
                &name,
                None,
            )
            .is_some(),
        "wayfinder_cluster.cluster" => api
            .object(&wayfinder_model::kinds::CLUSTER, Some("pay"), &name, None)
            .is_some(),
        other => panic!("{other}"),
    }
}

#[test]
fn the_role_matrix_through_the_provider() {
    require_terraform!();
    let server = Server::start_with_args(&["--sim-provision-time=1s"]);
    let api = server.client();
    publish_platform(&api);
    catalog::create(
        &api,
        &serde_json::json!({"apiVersion": "org.appvia.io/v2beta1", "kind": "Workspace",
            "metadata": {"name": "web"}, "spec": {"key": "web", "summary": "web"}}),
        None,
    );
    let kinds = [
        "wayfinder_compute_template.platform",
        "wayfinder_access_token.workspace",
        "wayfinder_cluster.cluster",
    ];
    // role → (token, outcome per kind, in the order of `kinds`)
    let table: [(&str, String, [Outcome; 3]); 4] = [
        (
            "admin",
            server.token().to_string(),
            [Created, Created, Created],
        ),
        (
            "owner-pay",
            catalog::access_token(&api, "pay", "owner", &["owner"]),
            [Denied(ADMIN), Created, Created],
        ),
        (
            "member-pay",
            catalog::access_token(&api, "pay", "member", &["member"]),
            [Denied(ADMIN), Denied(OWNER_PAY), Created],
        ),
        (
            "member-web",
            catalog::access_token(&api, "web", "member", &["member"]),
            [Denied(ADMIN), Denied(OWNER_PAY), DeniedAtPlan(MEMBER_PAY)],
        ),
    ];
    let mut runs = 0;
    let mut rows = Vec::new();
    for (role, token, outcomes) in &table {
        let mut wd = Workdir::new(&server);
        wd.set_env("WAYFINDER_TOKEN", token);
        wd.write_config(&role_config(role, |_| true));
        wd.init();
        // Terraform reports every error of a stage: what fails at plan is tried first, then
        // the rest is applied without it.
        let at_plan: Vec<(&str, &str)> = kinds
            .iter()
            .zip(outcomes)
            .filter_map(|(k, o)| match o {
                DeniedAtPlan(n) => Some((*k, *n)),
                _ => None,
            })
            .collect();
        if !at_plan.is_empty() {
            let out = wd.try_apply();
            runs += 1;
            println!("{out}");
            assert_ne!(out.code, 0, "{role}: {out}");
            assert!(
                !out.stdout.contains("Creating..."),
                "{role}: nothing is applied: {out}"
            );
            let text = one_line(&out.combined());
            for (address, needs) in &at_plan {
                assert!(
                    text.contains("Permission denied: to create")
                        && text.contains(&format!("needs {needs}")),
                    "{role} {address}: {needs:?} is not in:\n{out}"
                );
            }
        }
        let applied = |a: &str| !at_plan.iter().any(|(k, _)| *k == a);
        wd.write_config(&role_config(role, applied));
        let out = wd.try_apply();
        runs += 1;
        assert_no_crash(&out);
        let text = one_line(&out.combined());
        let state: Vec<String> = wd
            .state_resources()
            .iter()
            .filter_map(|r| r["address"].as_str().map(str::to_string))
            .collect();
        for (address, outcome) in kinds.iter().zip(outcomes) {
            let on_server = exists(&api, address, role);
            let in_state = state.iter().any(|s| s == address);
            match outcome {
                Created => {
                    assert!(
                        on_server && in_state,
                        "{role} {address}: not created:\n{out}"
                    );
                }
                Denied(needs) | DeniedAtPlan(needs) => {
                    assert!(!on_server && !in_state, "{role} {address}: created anyway");
                    assert!(
                        text.contains(&format!("needs {needs}"))
                            || matches!(outcome, DeniedAtPlan(_)),
                        "{role} {address}: the diagnostic does not name {needs:?}:\n{out}"
                    );
                }
            }
            rows.push(format!("{role:>10} {address:<38} {outcome:?}"));
        }
        let denied = outcomes.iter().any(|o| matches!(o, Denied(_)));
        assert_eq!(out.code != 0, denied, "{role}: {out}");
        if denied {
            assert!(text.contains("Permission denied: to create"), "{out}");
        }
    }
    println!(
        "role matrix through the provider ({runs} applies):\n{}",
        rows.join("\n")
    );

    // Another workspace's cluster, read through a data source: a clear error.
    let member_web = &table[3].1;
    let mut wd = Workdir::new(&server);
    wd.set_env("WAYFINDER_TOKEN", member_web);
    wd.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
data "wayfinder_cluster" "other" {{
  workspace = "pay"
  name      = "rm-admin"
}}
"#
    ));
    wd.init();
    let out = wd.plan_expect_error("Not allowed to read this (wayfinder_cluster)");
    println!("{out}");
    let text = one_line(&out.combined());
    assert!(text.contains(MEMBER_PAY), "{out}");
    assert!(
        text.contains("accesstoken/web/member"),
        "names who asked: {out}"
    );
    assert!(
        !text.contains("https://"),
        "nothing of the cluster is shown: {out}"
    );
}
