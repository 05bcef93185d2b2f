//! Wayfinder's token exchange, through the real Terraform CLI and a real server: the
//! provider given a workspace AccessToken's token (an exchange token) trades it at
//! `POST /api/v2/exchange?ttl=30m0s`, as Wayfinder's own clients do, and drives the API with
//! the short-lived token it gets back; the exchange token itself never reaches the resource
//! API. A revoked one fails the plan with a diagnostic that names the server and says the
//! exchange failed.

use std::time::Duration;

use wayfinder_acceptance::catalog::{self, cluster_blocks, publish_platform};
use wayfinder_acceptance::faults::Proxy;
use wayfinder_acceptance::{
    ApiClient, REQUIRED_PROVIDERS, Server, Workdir, is_exchange_token, require_terraform,
};

fn cluster_config() -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
resource "wayfinder_cluster" "ci" {{
  workspace = "pay"
  name      = "exchanged"
  stage     = "nonprod"
  region    = "eu-west-2"

{}
}}
"#,
        cluster_blocks("m6i.large", 4, 24)
    )
}

/// The request lines (`POST /api/v2/exchange?ttl=30m0s`) of the requests that carried
/// `token`, from a proxy's record of what clients sent.
fn request_lines_carrying(requests: &str, token: &str) -> Vec<String> {
    requests
        .match_indices(token)
        .map(|(i, _)| {
            let head = &requests[..i];
            let end = head.rfind(" HTTP/1.1\r\n").unwrap_or(0);
            let start = head[..end].rfind("\r\n").map_or(0, |s| s + 2);
            head[start..end].to_string()
        })
        .collect()
}

#[test]
fn smoke_a_workspace_exchange_token_drives_terraform_end_to_end() {
    require_terraform!();
    let server = Server::start_with_args(&["--sim-provision-time=1s"]);
    let api = server.client();
    publish_platform(&api);
    let token = catalog::access_token(&api, "pay", "ci", &["member"]);
    assert!(
        is_exchange_token(&token),
        "an AccessToken's token is an exchange token"
    );
    let proxy = Proxy::start(server.url(), Duration::ZERO);

    let mut wd = Workdir::new(&server);
    wd.set_env("WAYFINDER_SERVER", &proxy.url());
    wd.set_env("WAYFINDER_TOKEN", &token);
    wd.write_config(&cluster_config());
    wd.init();
    wd.apply();
    let cluster = api.get(&catalog::cluster_path("pay", "exchanged"));
    assert_eq!(cluster.status, 200, "{}", cluster.text);
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);
    wd.destroy();
    assert_eq!(
        api.get(&catalog::cluster_path("pay", "exchanged")).status,
        404
    );

    let requests = proxy.to_server();
    let carried = request_lines_carrying(&requests, &token);
    assert!(
        !carried.is_empty(),
        "the provider never exchanged its token"
    );
    assert!(
        carried
            .iter()
            .all(|l| l.contains("POST /api/v2/exchange?ttl=30m0s")),
        "the exchange token went to the API itself: {carried:?}"
    );
    assert!(
        requests.contains("/resources/compute.appvia.io/v2beta2/workspaces/pay/clusters"),
        "the provider drove the resource API"
    );
}

#[test]
fn a_revoked_exchange_token_fails_the_plan_naming_the_server_and_the_exchange() {
    require_terraform!();
    let server = Server::start_with_args(&["--sim-provision-time=1s"]);
    let api = server.client();
    publish_platform(&api);
    let token = catalog::access_token(&api, "pay", "gone", &["member"]);
    let deleted = api.delete("/resources/org.appvia.io/v2beta1/workspaces/pay/accesstokens/gone");
    assert_eq!(deleted.status, 200, "{}", deleted.text);

    let mut wd = Workdir::new(&server);
    wd.set_env("WAYFINDER_TOKEN", &token);
    wd.write_config(&cluster_config());
    wd.init();
    let out = wd.plan_expect_error("Wayfinder did not exchange the access token");
    let text = out
        .combined()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        server.url(),
        "refused to exchange the access token",
        "was revoked",
        "/api/v2/exchange",
    ] {
        assert!(text.contains(needle), "{needle:?} is missing:\n{text}");
    }
    assert!(!text.contains(&token), "the token is in the output");
}

#[test]
fn the_tests_api_client_exchanges_as_wayfinders_clients_do() {
    let server = Server::start();
    let admin = server.client();
    publish_platform(&admin);
    let token = catalog::access_token(&admin, "pay", "reader", &["member"]);
    let as_member = ApiClient::new(server.url(), Some(&token));
    let me = as_member.get("/api/v2/whoami");
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["subjectKind"], "AccessToken");
    assert_eq!(me.body["workspaceGroups"]["pay"][0], "member");
    let clusters = as_member.get(&catalog::cluster_path("pay", "none"));
    assert_eq!(clusters.status, 404, "{}", clusters.text);
    let info = as_member.get("/api/v2/serverinfo");
    assert_eq!(info.status, 200, "{}", info.text);
    assert!(info.body["instanceIdentifier"].is_string());
}
