//! `wayfinder_compute_template` through the real Terraform CLI and a real `wayfinder-server`,
//! following the terraform-plugin-testing loop: plan, apply, check the remote object, empty
//! plans without and with refresh, import and verify, update in place, drift, destroy, check
//! destroyed. Also: validation diagnostics, connection errors and debug mode
//! (`TF_REATTACH_PROVIDERS`).
//!
//! All tests are in one file so that cargo runs them in parallel; each has its own server and
//! working directories.

use serde_json::{Value, json};
use wayfinder_acceptance::{
    DebugProvider, PlannedChange, REQUIRED_PROVIDERS, Server, Workdir, assert_json_eq,
    assert_no_crash, require_terraform, strip_nulls, terraform,
};

const ADDR: &str = "wayfinder_compute_template.x";

/// The lifecycle test's configuration, with the parts the test changes as parameters.
/// Node pools, autoscaling, spot and taints are nested blocks, as `wayfinder-compile` writes
/// them.
fn lifecycle_config(description: &str, machine: &str, size: i64) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
resource "wayfinder_compute_template" "x" {{
  name           = "lifecycle-eks"
  description    = "{description}"
  cloud_provider = "EKS"

  node_pools {{
    logical_name      = "compute"
    description       = "General purpose nodes"
    machine           = "{machine}"
    disk_size         = 100
    size              = {size}
    max_pods_per_node = 58

    autoscaling {{
      enabled  = true
      min_size = 1
      max_size = 5
    }}
  }}

  node_pools {{
    logical_name = "gpu"
    machine      = "g5.xlarge"
    image        = "AL2023_x86_64_NVIDIA"
    disk_size    = 200
    size         = 1

    autoscaling {{
      enabled  = true
      min_size = 0
      max_size = 3
    }}

    spot {{
      enabled = true

      eks {{
        additional_instance_types = ["g5.2xlarge", "g6.xlarge"]
      }}
    }}

    taints {{
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NoSchedule"
    }}

    taints {{
      key    = "dedicated"
      value  = "gpu"
      effect = "NoExecute"
    }}
  }}
}}
"#
    )
}

/// What the server should hold for [`lifecycle_config`].
fn lifecycle_spec(description: &str, machine: &str, size: i64) -> Value {
    json!({
        "description": description,
        "provider": "EKS",
        "nodePools": [
            {
                "logicalName": "compute",
                "description": "General purpose nodes",
                "machine": machine,
                "diskSize": 100,
                "size": size,
                "maxPodsPerNode": 58,
                "autoscaling": {"enabled": true, "minSize": 1, "maxSize": 5}
            },
            {
                "logicalName": "gpu",
                "machine": "g5.xlarge",
                "image": "AL2023_x86_64_NVIDIA",
                "diskSize": 200,
                "size": 1,
                "autoscaling": {"enabled": true, "minSize": 0, "maxSize": 3},
                "spot": {
                    "enabled": true,
                    "eks": {"additionalInstanceTypes": ["g5.2xlarge", "g6.xlarge"]}
                },
                "taints": [
                    {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
                    {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}
                ]
            }
        ]
    })
}

/// A minimal valid template named `name`.
fn small_config(name: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
resource "wayfinder_compute_template" "x" {{
  name           = "{name}"
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

fn actions_of<'a>(changes: &'a [PlannedChange], address: &str) -> Vec<&'a str> {
    changes
        .iter()
        .find(|c| c.address == address)
        .map(|c| c.actions.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn server_spec(server: &Server, name: &str) -> Value {
    let object = server
        .client()
        .compute_template(name)
        .unwrap_or_else(|| panic!("ComputeTemplate/{name} is not on the server"));
    strip_nulls(&object["spec"])
}

/// In the smoke subset: create, read, update, drift, replace, import and destroy of one
/// resource.
#[test]
fn smoke_lifecycle() {
    require_terraform!();
    let server = Server::start();
    let api = server.client();
    let name = "lifecycle-eks";

    // Step 1: create.
    let wd = Workdir::new(&server);
    wd.write_config(&lifecycle_config(
        "General purpose EKS pools",
        "m6i.large",
        2,
    ));
    wd.init();
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(actions_of(&changes, ADDR), ["create"], "{text}");
    wd.apply();

    assert_json_eq(
        &server_spec(&server, name),
        &lifecycle_spec("General purpose EKS pools", "m6i.large", 2),
        "the server's spec after create",
    );
    let applied = wd.resource_values(ADDR);
    assert_eq!(applied["id"], name, "id is the name");
    assert_eq!(applied["name"], name);
    assert_eq!(applied["cloud_provider"], "EKS");
    assert_eq!(
        applied["node_pools"][1]["taints"][0]["key"],
        "nvidia.com/gpu"
    );
    assert_eq!(applied["node_pools"][0]["autoscaling"]["max_size"], 5);
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Import into a fresh working directory and verify every attribute.
    let imported = Workdir::new(&server);
    imported.write_config(&lifecycle_config(
        "General purpose EKS pools",
        "m6i.large",
        2,
    ));
    imported.init();
    imported.import(ADDR, name);
    assert_json_eq(
        &imported.resource_values(ADDR),
        &applied,
        "the imported state (ImportStateVerify)",
    );
    imported.plan_is_empty(true);

    // Step 2: change description and a pool's size: updated in place, not replaced.
    let before = api.compute_template(name).expect("the template exists");
    wd.write_config(&lifecycle_config("Changed description", "m6i.large", 3));
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(actions_of(&changes, ADDR), ["update"], "{text}");
    wd.apply();
    let after = api.compute_template(name).expect("the template exists");
    assert_eq!(
        after["metadata"]["uid"], before["metadata"]["uid"],
        "the object was replaced, not updated"
    );
    let generation = |o: &Value| o["metadata"]["generation"].as_i64().unwrap_or_default();
    assert!(
        generation(&after) > generation(&before),
        "generation did not move: {} -> {}",
        generation(&before),
        generation(&after)
    );
    assert_json_eq(
        &strip_nulls(&after["spec"]),
        &lifecycle_spec("Changed description", "m6i.large", 3),
        "the server's spec after update",
    );
    assert_eq!(wd.resource_values(ADDR)["id"], applied["id"]);
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Drift: someone changes the machine through the API.
    let mut drifted = after.clone();
    drifted["spec"]["nodePools"][0]["machine"] = json!("m6i.xlarge");
    api.put_compute_template(&drifted);
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(
        actions_of(&changes, ADDR),
        ["update"],
        "a refreshing plan after drift should update in place:\n{text}"
    );
    assert!(
        text.contains("m6i.xlarge"),
        "the plan should show the drifted value:\n{text}"
    );
    wd.apply();
    assert_eq!(
        server_spec(&server, name)["nodePools"][0]["machine"],
        "m6i.large",
        "apply did not converge"
    );
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Renaming or changing the provider cannot happen in place: the plan replaces it.
    let current = lifecycle_config("Changed description", "m6i.large", 3);
    for (from, to) in [
        ("\"lifecycle-eks\"", "\"lifecycle-eks-renamed\""),
        ("\"EKS\"", "\"GKE\""),
    ] {
        let changed = current.replace(from, to);
        let changed = if to == "\"GKE\"" {
            // EKS-only spot settings would be refused for GKE.
            let start = changed.find("    spot {").unwrap();
            let end = start + changed[start..].find("\n    }\n").unwrap() + 7;
            format!("{}{}", &changed[..start], &changed[end..])
        } else {
            changed
        };
        wd.write_config(&changed);
        let (changes, text) = wd.plan_changes(true);
        assert_eq!(
            actions_of(&changes, ADDR),
            ["delete", "create"],
            "changing {from} to {to} should replace:\n{text}"
        );
    }
    wd.write_config(&current);

    // Destroy, and check it is gone.
    wd.destroy();
    assert!(
        api.compute_template(name).is_none(),
        "still on the server after destroy"
    );
    assert!(wd.state_resources().is_empty());
}

#[test]
fn validation_errors_point_at_the_attribute() {
    require_terraform!();
    let server = Server::start();
    let wd = Workdir::new(&server);
    let config = format!(
        r#"{REQUIRED_PROVIDERS}
resource "wayfinder_compute_template" "x" {{
  name           = "invalid-autoscaling"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "compute"
    machine      = "m6i.large"
    size         = 2

    autoscaling {{
      enabled  = true
      min_size = 3
      max_size = 2
    }}
  }}
}}
"#
    );
    wd.write_config(&config);
    wd.init();
    let out = wd.plan_expect_error("must be >= minSize");
    println!("{out}");
    assert_no_crash(&out);
    let text = out.combined();
    let line = config
        .lines()
        .position(|l| l.trim_start().starts_with("max_size"))
        .expect("the config has max_size")
        + 1;
    assert!(
        text.contains("node_pools[0].autoscaling.max_size"),
        "the error should name node_pools[0].autoscaling.max_size:\n{out}"
    );
    assert!(
        text.contains(&format!("on main.tf line {line}")),
        "Terraform should point at main.tf line {line}, where max_size is set:\n{out}"
    );
    assert!(
        server.client().compute_templates().is_empty(),
        "an invalid plan created something"
    );
}

#[test]
fn a_wrong_token_is_a_clear_error() {
    require_terraform!();
    let server = Server::start();
    let mut wd = Workdir::new(&server);
    wd.set_env("WAYFINDER_TOKEN", "not-a-valid-token");
    wd.write_config(&small_config("bad-token"));
    wd.init();
    let out = wd.try_apply();
    println!("{out}");
    assert_ne!(out.code, 0, "apply with a wrong token succeeded:\n{out}");
    assert_no_crash(&out);
    let text = out.combined();
    assert!(text.contains("Error:"), "no error diagnostic:\n{out}");
    assert!(
        text.to_lowercase().contains("token"),
        "the error should say to check the token:\n{out}"
    );
    assert!(server.client().compute_templates().is_empty());
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    require_terraform!();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut wd = Workdir::with_provider();
    wd.set_env("WAYFINDER_SERVER", &format!("http://127.0.0.1:{port}"));
    wd.set_env("WAYFINDER_TOKEN", "any-token");
    wd.write_config(&small_config("unreachable"));
    wd.init();
    let out = wd.try_apply();
    println!("{out}");
    assert_ne!(out.code, 0, "apply against no server succeeded:\n{out}");
    assert_no_crash(&out);
    let text = out.combined();
    assert!(text.contains("Error:"), "no error diagnostic:\n{out}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) || text.to_lowercase().contains("server"),
        "the error should name the server it could not reach:\n{out}"
    );
}

// The compiled catalog module (every example definition, not only the compute templates)
// is applied and compared with the definitions in tests/compiler.rs.

#[test]
fn debug_mode_serves_terraform_through_reattach() {
    require_terraform!();
    let server = Server::start();
    let mut provider = DebugProvider::start(&[
        ("WAYFINDER_SERVER", server.url()),
        ("WAYFINDER_TOKEN", server.token()),
    ]);
    let reattach: Value = serde_json::from_str(provider.reattach()).expect("reattach JSON");
    let entry = &reattach[terraform::PROVIDER_SOURCE];
    assert_eq!(entry["ProtocolVersion"], 6, "{reattach}");
    assert_eq!(
        entry["Pid"].as_u64(),
        provider.pid().map(u64::from),
        "{reattach}"
    );

    // No mirror: the provider can only be reached through TF_REATTACH_PROVIDERS.
    let mut wd = Workdir::standalone();
    wd.point_at(&server);
    wd.set_env("TF_REATTACH_PROVIDERS", provider.reattach());
    wd.write_config(&small_config("debug-mode"));
    // A reattached provider needs no installation, so `plan` works without `init`...
    let planned = wd.run_expect(
        &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
        &[2],
    );
    assert!(planned.stdout.contains("1 to add"), "{planned}");
    // ...and `init` succeeds with no way to install it.
    wd.init();
    wd.apply();
    assert!(server.client().compute_template("debug-mode").is_some());
    wd.plan_is_empty(true);
    wd.destroy();
    assert!(server.client().compute_template("debug-mode").is_none());

    assert!(
        provider.is_running(),
        "the debug provider exited during the test"
    );
    provider.stop();
    assert!(!provider.is_running());
}

#[test]
fn a_provider_without_server_or_token_says_what_to_set() {
    require_terraform!();
    let wd = Workdir::with_provider();
    wd.write_config(&small_config("unconfigured"));
    wd.init();
    let out = wd.try_apply();
    assert_ne!(out.code, 0, "apply without configuration succeeded:\n{out}");
    assert_no_crash(&out);
    let text = out.combined();
    for expected in [
        "No Wayfinder API address",
        "WAYFINDER_SERVER",
        "No Wayfinder access token",
        "WAYFINDER_TOKEN",
    ] {
        assert!(
            text.contains(expected),
            "the error should mention {expected}:\n{out}"
        );
    }
}

/// In the smoke subset: Terraform launches the provider as a plugin (go-plugin's handshake,
/// protocol 6 negotiated, automatic mutual TLS with the certificate Terraform makes for the
/// run), plans through it, and reads its logs.
#[test]
fn smoke_handshake_mtls_and_provider_logs() {
    require_terraform!();
    let server = Server::start();
    let mut wd = Workdir::new(&server);
    wd.set_env("TF_LOG_PROVIDER", "DEBUG");
    wd.write_config(&small_config("logged"));
    wd.init();
    let out = wd.run_expect(&["plan", "-input=false", "-no-color"], &[0]);
    assert!(out.stdout.contains("1 to add"), "{out}");
    // go-plugin's client in Terraform: a client certificate made for this run (given to the
    // provider as PLUGIN_CLIENT_CERT, which makes it serve TLS and require that certificate),
    // then protocol 6 from the handshake line. The plan above went over that connection.
    for expected in [
        "provider: configuring client automatic mTLS",
        "provider: using plugin: version=6",
    ] {
        assert!(
            out.stderr.contains(expected),
            "{expected:?} is missing from Terraform's log:\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains("TLS handshake"),
        "the provider refused a TLS handshake:\n{}",
        out.stderr
    );
    // Terraform re-logs each hclog line of ours at that line's level, under the plugin's name.
    assert!(
        out.stderr.lines().any(|l| l.contains("[INFO]")
            && l.contains("provider.terraform-provider-wayfinder")
            && l.contains("configuring the wayfinder provider")),
        "the provider's info log is missing from Terraform's log:\n{}",
        out.stderr
    );
}
