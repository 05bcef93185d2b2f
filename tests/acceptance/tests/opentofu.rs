//! What OpenTofu does differently from Terraform. These tests run under both CLIs: the real
//! Terraform, and the real OpenTofu `cargo xtask test` builds (see docs/opentofu.md):
//!
//! - OpenTofu resolves `source = "wayfinder/wayfinder"` to `registry.opentofu.org`, so the
//!   provider must be reachable under that address: through `TF_REATTACH_PROVIDERS` (the
//!   provider's `--debug` output names both registries), a filesystem mirror laid out for
//!   `registry.opentofu.org`, and `dev_overrides` keyed by it. The real Terraform CLI takes
//!   the same full address in `required_providers`, so these run through Terraform too.
//!   OpenTofu names a provider of its own registry by the short `wayfinder/wayfinder` in
//!   what it prints ([`shown_address`]).
//! - OpenTofu calls provider functions (GetFunctions, CallFunction) on a **configured**
//!   provider, where Terraform uses an unconfigured one: tested over the plugin protocol with
//!   a real gRPC client, in the order OpenTofu sends the calls, against a real server.

use std::fs;

use serde_json::{Value, json};
use terraform_provider_wayfinder::codec::{Type, Value as TfValue};
use terraform_provider_wayfinder::proto::tfplugin6 as pb;
use terraform_provider_wayfinder::proto::tfplugin6::provider_client::ProviderClient;
use wayfinder_acceptance::catalog::{self, fixture};
use wayfinder_acceptance::support::is_opentofu;
use wayfinder_acceptance::terraform::{OPENTOFU_PROVIDER_SOURCE, PROVIDER_VERSION, platform};
use wayfinder_acceptance::{
    DebugProvider, Server, Workdir, assert_no_crash, binary, provider_mirror, require_terraform,
    terraform,
};

/// A configuration naming the provider by its OpenTofu address, with one compute template.
fn opentofu_config(name: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    wayfinder = {{
      source = "{OPENTOFU_PROVIDER_SOURCE}"
    }}
  }}
}}

resource "wayfinder_compute_template" "x" {{
  name           = "{name}"
  description    = "Created under registry.opentofu.org"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "default"
    machine      = "m6i.large"
    size         = 1
  }}
}}
"#
    )
}

/// How the CLI in use prints the provider at [`OPENTOFU_PROVIDER_SOURCE`]: OpenTofu leaves
/// its own registry's hostname out (`wayfinder/wayfinder`), Terraform prints the full
/// address of a registry not its own. Files (lock file, state) always hold the full address.
fn shown_address() -> &'static str {
    if is_opentofu() {
        "wayfinder/wayfinder"
    } else {
        OPENTOFU_PROVIDER_SOURCE
    }
}

/// Apply, check the server and the state's provider address, plan empty, destroy.
fn apply_and_destroy(wd: &Workdir, server: &Server, name: &str) {
    let out = wd.apply();
    assert_no_crash(&out);
    assert!(
        server.client().compute_template(name).is_some(),
        "{name} is not on the server:\n{out}"
    );
    let state: Value =
        serde_json::from_str(&fs::read_to_string(wd.path().join("terraform.tfstate")).unwrap())
            .unwrap();
    assert_eq!(
        state["resources"][0]["provider"],
        json!(format!("provider[\"{OPENTOFU_PROVIDER_SOURCE}\"]")),
        "{state:#}"
    );
    wd.plan_is_empty(true);
    wd.destroy();
    assert!(server.client().compute_template(name).is_none());
}

/// In the smoke subset: the `--debug` provider's reattach value names
/// `registry.opentofu.org/wayfinder/wayfinder` too, and a CLI that resolves the provider
/// there (as OpenTofu does) attaches to it.
#[test]
fn smoke_reattach_under_the_opentofu_address() {
    require_terraform!();
    let server = Server::start();
    let provider = DebugProvider::start(&[
        ("WAYFINDER_SERVER", server.url()),
        ("WAYFINDER_TOKEN", server.token()),
    ]);
    let reattach: Value = serde_json::from_str(provider.reattach()).expect("reattach JSON");
    let entry = &reattach[OPENTOFU_PROVIDER_SOURCE];
    assert_eq!(entry["ProtocolVersion"], 6, "{reattach}");
    assert_eq!(
        entry,
        &reattach[terraform::PROVIDER_SOURCE],
        "both addresses name the same server: {reattach}"
    );

    // No mirror: only TF_REATTACH_PROVIDERS can reach the provider.
    let mut wd = Workdir::standalone();
    wd.point_at(&server);
    wd.set_env("TF_REATTACH_PROVIDERS", provider.reattach());
    wd.write_config(&opentofu_config("reattached-tofu"));
    wd.init();
    assert!(
        !wd.path().join(".terraform/providers").exists(),
        "init installed a provider instead of attaching"
    );
    apply_and_destroy(&wd, &server, "reattached-tofu");
}

/// The harness's filesystem mirror holds the provider under `registry.opentofu.org` in the
/// unpacked layout; `init` installs it from there (lock file included) and it runs.
#[test]
fn the_opentofu_address_installs_from_a_filesystem_mirror() {
    require_terraform!();
    let copy = terraform::mirror_executable_for(provider_mirror(), OPENTOFU_PROVIDER_SOURCE);
    assert!(copy.is_file(), "{} is missing", copy.display());
    let server = Server::start();
    let wd = Workdir::new(&server);
    wd.write_config(&opentofu_config("mirrored-tofu"));
    let init = wd.init();
    assert!(
        init.stdout.contains(&format!(
            "Installing {} v{PROVIDER_VERSION}",
            shown_address()
        )),
        "{init}"
    );
    let installed = wd
        .path()
        .join(".terraform/providers")
        .join(OPENTOFU_PROVIDER_SOURCE)
        .join(PROVIDER_VERSION)
        .join(platform());
    assert!(installed.is_dir(), "{} is missing", installed.display());
    let lock = wd.read_file(".terraform.lock.hcl");
    assert!(
        lock.contains(&format!("provider \"{OPENTOFU_PROVIDER_SOURCE}\"")) && lock.contains("h1:"),
        "{lock}"
    );
    apply_and_destroy(&wd, &server, "mirrored-tofu");
}

/// `dev_overrides` keyed by the OpenTofu address (what a `~/.tofurc` holds) point the CLI
/// at the build directory: no `init`, a warning, and the provider works.
#[test]
fn dev_overrides_under_the_opentofu_address() {
    require_terraform!();
    let server = Server::start();
    let wd = Workdir::new(&server);
    let bin_dir = binary(terraform::PROVIDER_BINARY)
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let cli_config = wd.path().parent().unwrap().join("cli.tfrc");
    fs::write(
        &cli_config,
        format!(
            "provider_installation {{\n  dev_overrides {{\n    {} = {}\n  }}\n  direct {{}}\n}}\n",
            terraform::hcl_string(OPENTOFU_PROVIDER_SOURCE),
            terraform::hcl_string(&bin_dir.to_string_lossy())
        ),
    )
    .unwrap();
    wd.write_config(&opentofu_config("overridden-tofu"));
    let out = wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let text = out
        .combined()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("Provider development overrides are in effect")
            && text.contains(&format!("{} in ", shown_address())),
        "{out}"
    );
    assert!(
        server
            .client()
            .compute_template("overridden-tofu")
            .is_some()
    );
    wd.destroy();
    assert!(
        server
            .client()
            .compute_template("overridden-tofu")
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Functions on a configured provider, over gRPC

/// The `Type` of a schema block made of plain attributes (the provider block).
fn attributes_type(block: &pb::schema::Block) -> Type {
    let mut attributes: Vec<(String, Type)> = block
        .attributes
        .iter()
        .map(|a| {
            let json: Value = serde_json::from_slice(&a.r#type)
                .unwrap_or_else(|e| panic!("the type of {} is not JSON: {e}", a.name));
            let ty = Type::from_json(&json).unwrap_or_else(|e| panic!("{}: {e}", a.name));
            (a.name.clone(), ty)
        })
        .collect();
    assert!(
        block.block_types.is_empty(),
        "nested blocks are not expected here"
    );
    attributes.sort_by(|a, b| a.0.cmp(&b.0));
    Type::Object(attributes)
}

/// `value` (JSON) as a `DynamicValue` of type `ty`, as Terraform and OpenTofu send them.
fn dynamic(value: &Value, ty: &Type) -> pb::DynamicValue {
    let v = TfValue::from_json_as(value, ty).unwrap_or_else(|e| panic!("{value}: {e}"));
    pb::DynamicValue {
        msgpack: v.to_msgpack_as(ty),
        json: Vec::new(),
    }
}

/// The JSON of a `DynamicValue` of type `ty`.
fn undynamic(value: Option<&pb::DynamicValue>, ty: &Type) -> Value {
    let value = value.expect("a value");
    TfValue::from_dynamic_as(&value.msgpack, &value.json, ty)
        .unwrap_or_else(|e| panic!("decoding: {e}"))
        .to_json_as(ty)
}

fn function_type(bytes: &[u8]) -> Type {
    Type::from_json(&serde_json::from_slice(bytes).expect("a JSON type")).expect("a type")
}

/// Calls `name` with `arguments` (JSON, typed by the function's parameters).
async fn call(
    client: &mut ProviderClient<tonic::transport::Channel>,
    function: &pb::Function,
    name: &str,
    arguments: &[Value],
) -> pb::call_function::Response {
    let arguments = function
        .parameters
        .iter()
        .zip(arguments)
        .map(|(p, a)| dynamic(a, &function_type(&p.r#type)))
        .collect();
    client
        .call_function(pb::call_function::Request {
            name: name.to_string(),
            arguments,
        })
        .await
        .expect("CallFunction")
        .into_inner()
}

fn errors(diagnostics: &[pb::Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .map(|d| format!("{}: {}", d.summary, d.detail))
        .collect()
}

/// OpenTofu's order of calls: the schema, ConfigureProvider (with OpenTofu's version and the
/// client capabilities OpenTofu 1.11 sends), then GetFunctions and CallFunction on that
/// configured instance. The function answers as it does unconfigured (Terraform's way),
/// bad arguments are still pinned to their position, and the instance really is
/// configured: it reads from the server with the configured token.
#[test]
fn functions_work_on_a_configured_provider_as_opentofu_calls_them() {
    let server = Server::start();
    let api = server.client();
    catalog::create(&api, &fixture("workspace.yaml", "pay"), None);
    let provider = DebugProvider::start(&[]);
    let reattach: Value = serde_json::from_str(provider.reattach()).expect("reattach JSON");
    let addr = reattach[OPENTOFU_PROVIDER_SOURCE]["Addr"]["String"]
        .as_str()
        .expect("an address")
        .to_string();
    let workspace_type = terraform_provider_wayfinder::datasources::all()
        .into_iter()
        .find(|d| d.type_name == "wayfinder_workspace")
        .expect("the wayfinder_workspace data source")
        .value_type();

    let pools = json!([
        {"name": "compute", "machine": "m6i.xlarge", "max_size": 6, "spot": false, "disk_size": 200},
        {"name": "batch", "machine": "m6i.large", "max_size": 3, "spot": true, "disk_size": null},
    ]);
    let good = [json!("aws"), json!("eu-west-2"), pools.clone()];
    let bad = [json!("aws"), json!("mars-north-1"), pools];

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("an endpoint")
            .connect()
            .await
            .expect("connecting to the debug provider");
        let mut client = ProviderClient::new(channel);

        let schema = client
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .expect("GetProviderSchema")
            .into_inner();
        assert!(errors(&schema.diagnostics).is_empty(), "{:?}", schema.diagnostics);
        let monthly_cost = schema.functions.get("monthly_cost").expect("monthly_cost").clone();
        let return_type = function_type(&monthly_cost.r#return.as_ref().expect("a return").r#type);

        // Terraform's way first: unconfigured.
        let unconfigured = call(&mut client, &monthly_cost, "monthly_cost", &good).await;
        assert!(unconfigured.error.is_none(), "{:?}", unconfigured.error);
        let unconfigured = undynamic(unconfigured.result.as_ref(), &return_type);

        // OpenTofu configures the provider before it asks for functions.
        let provider_block = schema
            .provider
            .as_ref()
            .and_then(|s| s.block.as_ref())
            .expect("the provider schema");
        let config_type = attributes_type(provider_block);
        let configured = client
            .configure_provider(pb::configure_provider::Request {
                terraform_version: "1.11.0".to_string(),
                config: Some(dynamic(
                    &json!({"server": server.url(), "token": server.token(), "workspace": "pay", "ca_cert_pem": null}),
                    &config_type,
                )),
                client_capabilities: Some(pb::ClientCapabilities {
                    deferral_allowed: false,
                    write_only_attributes_allowed: true,
                }),
            })
            .await
            .expect("ConfigureProvider")
            .into_inner();
        assert!(
            errors(&configured.diagnostics).is_empty(),
            "{:?}",
            configured.diagnostics
        );

        // GetFunctions on the configured instance: the same function, same signature.
        let functions = client
            .get_functions(pb::get_functions::Request {})
            .await
            .expect("GetFunctions")
            .into_inner();
        assert!(errors(&functions.diagnostics).is_empty());
        assert_eq!(
            functions.functions.keys().collect::<Vec<_>>(),
            schema.functions.keys().collect::<Vec<_>>()
        );
        assert_eq!(functions.functions["monthly_cost"], monthly_cost);

        // CallFunction on the configured instance: the same answer.
        let answer = call(&mut client, &monthly_cost, "monthly_cost", &good).await;
        assert!(answer.error.is_none(), "{:?}", answer.error);
        let configured_cost = undynamic(answer.result.as_ref(), &return_type);
        assert_eq!(configured_cost, unconfigured);
        assert_eq!(configured_cost["currency"], "USD");
        assert!(
            configured_cost["total"].as_f64().unwrap_or_default()
                > configured_cost["node_pools"]["compute"].as_f64().unwrap_or(f64::MAX),
            "{configured_cost}"
        );

        // An argument the function refuses is pinned to its position, configured or not.
        let refused = call(&mut client, &monthly_cost, "monthly_cost", &bad).await;
        let error = refused.error.expect("an unknown region is refused");
        assert_eq!(error.function_argument, Some(1), "{error:?}");
        assert!(error.text.contains("mars-north-1"), "{error:?}");

        // The instance is configured for real: it reads from the server.
        let read = client
            .read_data_source(pb::read_data_source::Request {
                type_name: "wayfinder_workspace".to_string(),
                config: Some(dynamic(&json!({"name": "pay"}), &workspace_type)),
                provider_meta: None,
                client_capabilities: Some(pb::ClientCapabilities {
                    deferral_allowed: false,
                    write_only_attributes_allowed: true,
                }),
            })
            .await
            .expect("ReadDataSource")
            .into_inner();
        assert!(errors(&read.diagnostics).is_empty(), "{:?}", read.diagnostics);
        let state = undynamic(read.state.as_ref(), &workspace_type);
        assert_eq!(state["name"], "pay", "{state}");
        assert_eq!(state["resource_namespace"], "ws-pay", "{state}");
    });
}
