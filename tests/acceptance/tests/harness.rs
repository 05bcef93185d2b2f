//! Self-tests of the harness: the server starts, answers, restarts and stops; the API client
//! reads and writes; the Terraform working directory drives the real CLI (with Terraform's
//! built-in `terraform_data`, so they do not depend on the provider).

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::json;
use wayfinder_acceptance::{
    ApiClient, Server, Workdir, compute_template_path, provider_mirror, require_terraform,
    terraform,
};

#[test]
fn server_starts_answers_restarts_and_stops() {
    let mut server = Server::start();
    assert!(
        server.url().starts_with("http://127.0.0.1:"),
        "{}",
        server.url()
    );
    assert!(!server.token().is_empty());

    let info = ApiClient::new(server.url(), None).get("/apiinfo");
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.body["resourceAPI"], "/resources", "{}", info.text);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(server.data_dir().join("admin-token"))
            .expect("admin-token exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin-token mode {mode:o}");
    }

    let token = server.token().to_string();
    let url = server.url().to_string();
    server.restart();
    assert!(server.is_running());
    assert_eq!(server.token(), token, "the admin token survives a restart");
    assert_eq!(
        server.url(),
        url,
        "a restart keeps the port when it is free"
    );
    assert_eq!(
        ApiClient::new(server.url(), None).get("/apiinfo").status,
        200
    );

    server.stop();
    assert!(!server.is_running());
    let refused = reqwest::blocking::Client::new()
        .get(format!("{url}/apiinfo"))
        .timeout(std::time::Duration::from_secs(5))
        .send();
    assert!(refused.is_err(), "the server still answers after stop()");
}

#[test]
fn api_client_reads_and_writes_compute_templates() {
    let server = Server::start();
    let api = server.client();
    let object = json!({
        "apiVersion": "compute.appvia.io/v2beta2",
        "kind": "ComputeTemplate",
        "metadata": {"name": "harness-client"},
        "spec": {
            "description": "made by the harness self-test",
            "provider": "EKS",
            "nodePools": [{
                "logicalName": "compute",
                "machine": "m6i.large",
                "diskSize": 100,
                "size": 2,
                "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 5}
            }]
        }
    });
    let created = api.post(&compute_template_path(None), &object);
    assert!(
        created.status == 200 || created.status == 201,
        "POST: {} {}",
        created.status,
        created.text
    );
    let got = api.compute_template("harness-client").expect("created");
    assert_eq!(got["spec"]["nodePools"][0]["machine"], "m6i.large");
    assert_eq!(api.compute_templates().len(), 1);

    let mut changed = got.clone();
    changed["spec"]["nodePools"][0]["machine"] = json!("m6i.xlarge");
    let updated = api.put_compute_template(&changed);
    assert_eq!(updated["spec"]["nodePools"][0]["machine"], "m6i.xlarge");

    // The first read's resourceVersion is stale now.
    let stale = api.put(&compute_template_path(Some("harness-client")), &changed);
    assert_eq!(stale.status, 409, "{}", stale.text);

    let no_token = ApiClient::new(server.url(), Some("wrong")).get(&compute_template_path(None));
    assert!(
        no_token.status == 401 || no_token.status == 403,
        "a wrong token: {} {}",
        no_token.status,
        no_token.text
    );

    let deleted = api.delete(&compute_template_path(Some("harness-client")));
    assert!(
        deleted.status < 300,
        "DELETE: {} {}",
        deleted.status,
        deleted.text
    );
    assert!(api.compute_template("harness-client").is_none());
}

#[test]
fn terraform_loop_with_a_builtin_resource() {
    require_terraform!();
    let version = terraform::version(wayfinder_acceptance::terraform_path()).expect("version");
    println!("using {version}");

    let wd = Workdir::standalone();
    let config = |input: &str| {
        format!(
            r#"
resource "terraform_data" "x" {{
  input = "{input}"
}}

output "echo" {{
  value = terraform_data.x.output
}}
"#
        )
    };
    wd.write_config(&config("hello"));
    wd.init();
    let (changes, _) = wd.plan_changes(true);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].address, "terraform_data.x");
    assert_eq!(changes[0].actions, ["create"]);

    wd.apply();
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);
    let values = wd.resource_values("terraform_data.x");
    assert_eq!(values["input"], "hello");
    assert!(values["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(wd.outputs()["echo"]["value"], "hello");

    wd.write_config(&config("again"));
    let (changes, text) = wd.plan_changes(false);
    assert_eq!(changes[0].actions, ["update"], "{text}");
    let empty = catch_unwind(AssertUnwindSafe(|| wd.plan_is_empty(false)));
    let message = panic_message(empty.expect_err("a plan with changes is not empty"));
    assert!(
        message.contains("non-refresh plan was not empty"),
        "{message}"
    );
    assert!(message.contains("terraform_data.x"), "{message}");

    wd.apply();
    assert_eq!(wd.resource_values("terraform_data.x")["input"], "again");
    wd.destroy();
    assert!(wd.state_resources().is_empty());
}

#[test]
fn terraform_errors_are_reported_with_the_whole_output() {
    require_terraform!();
    let wd = Workdir::standalone();
    wd.write_config("resource \"terraform_data\" \"x\" {\n  bogus = 1\n}\n");
    wd.init();
    let out = wd.plan_expect_error("Unsupported argument");
    assert!(out.combined().contains("main.tf line 2"), "{out}");

    let failed = catch_unwind(AssertUnwindSafe(|| wd.run(&["plan", "-no-color"])));
    let message = panic_message(failed.expect_err("run() panics on a failure"));
    assert!(message.contains("terraform plan -no-color"), "{message}");
    assert!(message.contains("exited 1"), "{message}");
    assert!(message.contains("Unsupported argument"), "{message}");
}

#[test]
fn the_provider_mirror_has_the_unpacked_layout() {
    let mirror = provider_mirror();
    let copy = terraform::mirror_executable(mirror);
    assert!(copy.is_file(), "{} is missing", copy.display());
    let built = wayfinder_acceptance::binary(terraform::PROVIDER_BINARY);
    assert_eq!(
        std::fs::metadata(&copy).unwrap().len(),
        std::fs::metadata(&built).unwrap().len()
    );
    let text = terraform::cli_config(Some(mirror));
    assert!(text.contains(&*mirror.to_string_lossy()), "{text}");
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
