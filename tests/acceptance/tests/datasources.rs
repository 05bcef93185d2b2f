//! Every data source through the real Terraform CLI against a server holding the model's
//! test data: each reads what the server holds (compared field by field with the API's
//! answer), a versioned one without a version reads the latest published version, and
//! the effective provisioning policy is the one the server computes. Also: an object that
//! does not exist, and a bad cloud, are clear errors.

use serde_json::{Value, json};
use wayfinder_acceptance::config::model_test_objects;
use wayfinder_acceptance::support::create_all;
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_json_eq, assert_no_crash, require_terraform,
};
use wayfinder_model::shape::{self, Field, FieldType};
use wayfinder_model::{Object, naming};

/// A server holding the model's test data: every object but the access tokens (one has
/// expired) and the clusters other than `payments-dev`, with the provisioning policies added
/// after the cluster (they would refuse its machines).
fn seeded_server() -> Server {
    let server = Server::start();
    let api = server.client();
    let mut objects: Vec<Object> = model_test_objects().into_iter().map(|(_, o)| o).collect();
    // The cluster builds in stage nonprod, which the test data does not define, and its AKS
    // pool settings do not fit its EKS plan.
    objects.push(parse(json!({
        "apiVersion": "org.appvia.io/v2beta1", "kind": "Stage",
        "metadata": {"name": "nonprod"}, "spec": {"displayName": "Non-production"}
    })));
    for o in &mut objects {
        if o.kind_info().kind == "Cluster" {
            let mut j = o.to_json();
            if let Some(pool) = j
                .pointer_mut("/spec/nodePools/0")
                .and_then(Value::as_object_mut)
            {
                pool.remove("providerDetails");
            }
            *o = parse(j);
        }
    }
    let (policies, rest): (Vec<Object>, Vec<Object>) = objects
        .into_iter()
        .filter(|o| o.kind_info().kind != "AccessToken")
        .filter(|o| o.kind_info().kind != "Cluster" || o.metadata().name == "payments-dev")
        .partition(|o| o.kind_info().kind == "ProvisioningPolicy");
    create_all(&api, &rest);
    create_all(&api, &policies);
    server
}

fn parse(json: Value) -> Object {
    wayfinder_model::parse_json("test", json.to_string().as_bytes()).expect("a valid object")
}

/// A spec (API JSON) as the data source shows it: keys in snake case as the shape names
/// them (map keys and free-form values untouched), `[]` for absent lists of objects, and
/// no nulls.
fn as_attributes(fields: &'static [Field], spec: &Value, top: bool) -> Value {
    let Value::Object(map) = spec else {
        return spec.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, v) in map {
        if v.is_null() {
            continue;
        }
        let name = if top {
            naming::top_level_attribute(k)
        } else {
            naming::nested_attribute(k)
        };
        let value = match (shape::find(fields, k).map(|f| f.ty), v) {
            (Some(FieldType::Object(inner)), _) => as_attributes(inner, v, false),
            (Some(FieldType::ObjectList(inner)), Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|i| as_attributes(inner, i, false))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(name, value);
    }
    Value::Object(out)
}

/// `value` without nulls and empty lists, recursively (what "not set" looks like either way).
fn compact(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k.clone(), compact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(compact).collect()),
        other => other.clone(),
    }
}

/// The spec attributes of a data source's values (those its kind's spec declares).
fn spec_part(values: &Value, fields: &'static [Field]) -> Value {
    let Value::Object(m) = values else {
        return Value::Null;
    };
    Value::Object(
        m.iter()
            .filter(|(k, _)| {
                fields
                    .iter()
                    .any(|f| naming::top_level_attribute(f.name) == **k)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

const CONFIG: &str = r#"
provider "wayfinder" {
  workspace = "pay"
}

data "wayfinder_cluster_plan" "latest" {
  name = "eks-general-purpose"
}

data "wayfinder_cluster_plan" "given" {
  name    = "aks-general-purpose"
  version = "1.0.2"
}

data "wayfinder_compute_template" "general" {
  name = "eks-general-purpose"
}

data "wayfinder_cluster_network_plan" "eks" {
  name = "eks-assignable"
}

# In the provider's workspace (pay).
data "wayfinder_cluster" "dev" {
  name = "payments-dev"
}

data "wayfinder_workspace" "pay" {
  name = "pay"
}

data "wayfinder_provisioning_policy" "pay" {
  stage = "nonprod"
  cloud = "aws"
}

output "kubernetes_version" {
  value = data.wayfinder_cluster_plan.latest.cluster.kubernetes_version
}

output "network_plan" {
  value = data.wayfinder_cluster_plan.latest.network.network_plan
}

output "first_pool_machine" {
  value = data.wayfinder_compute_template.general.node_pools[0].machine
}

output "allowed_instance_types" {
  value = [for t in data.wayfinder_provisioning_policy.pay.cluster_limits.per_workspace.allowed_instance_types : t.instance_type]
}
"#;

fn data_values(wd: &Workdir, address: &str) -> Value {
    let state = wd.state_json();
    let resources = state["values"]["root_module"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    resources
        .into_iter()
        .find(|r| r["address"] == address)
        .map(|r| r["values"].clone())
        .unwrap_or_else(|| panic!("{address} is not in the state"))
}

#[test]
fn every_data_source_reads_what_the_server_holds() {
    require_terraform!();
    let server = seeded_server();
    let api = server.client();
    let wd = Workdir::new(&server);
    wd.write_config(&format!("{REQUIRED_PROVIDERS}{CONFIG}"));
    wd.init();
    let out = wd.apply();
    assert_no_crash(&out);
    wd.plan_is_empty(true);

    let object = |path: &str| {
        let r = api.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        r.body
    };
    let kinds = wayfinder_model::kinds::ALL;
    let kind = |k: &str| *kinds.iter().find(|i| i.kind == k).expect("a kind");
    for (address, path, k, id) in [
        (
            "data.wayfinder_cluster_plan.latest",
            // The latest published version of the plan.
            "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose",
            "ClusterPlan",
            "eks-general-purpose@1.3.0",
        ),
        (
            "data.wayfinder_cluster_plan.given",
            "/resources/compute.appvia.io/v2beta2/clusterplans/aks-general-purpose/versions/1.0.2",
            "ClusterPlan",
            "aks-general-purpose@1.0.2",
        ),
        (
            "data.wayfinder_compute_template.general",
            "/resources/compute.appvia.io/v2beta2/computetemplates/eks-general-purpose",
            "ComputeTemplate",
            "eks-general-purpose",
        ),
        (
            "data.wayfinder_cluster_network_plan.eks",
            "/resources/networking.appvia.io/v2beta1/clusternetworkplans/eks-assignable",
            "ClusterNetworkPlan",
            "eks-assignable",
        ),
        (
            "data.wayfinder_cluster.dev",
            "/resources/compute.appvia.io/v2beta2/workspaces/pay/clusters/payments-dev",
            "Cluster",
            "pay/payments-dev",
        ),
        (
            "data.wayfinder_workspace.pay",
            "/resources/org.appvia.io/v2beta1/workspaces/pay",
            "Workspace",
            "pay",
        ),
    ] {
        let info = kind(k);
        let server_object = object(path);
        let values = data_values(&wd, address);
        assert_eq!(values["id"], json!(id), "{address}");
        assert_json_eq(
            &compact(&spec_part(&values, info.spec)),
            &compact(&as_attributes(info.spec, &server_object["spec"], true)),
            &format!("{address} against GET {path}"),
        );
    }
    // The latest published version, not the newest draft.
    assert_eq!(
        data_values(&wd, "data.wayfinder_cluster_plan.latest")["publish_state"],
        "Published"
    );
    // The cluster's status is there, as the reconciler reports it.
    let cluster = data_values(&wd, "data.wayfinder_cluster.dev");
    assert!(
        cluster["status"]["status"].is_string(),
        "no status: {cluster:#}"
    );
    assert_eq!(cluster["workspace"], "pay");

    // The effective policy is the server's.
    let effective = object("/api/v2/workspaces/pay/provisioningpolicy/aws/nonprod/cluster");
    let policy = data_values(&wd, "data.wayfinder_provisioning_policy.pay");
    let pp = kind("ProvisioningPolicy");
    let mut expected = as_attributes(pp.spec, &effective, true);
    expected.as_object_mut().unwrap().remove("cloud");
    let mut got = spec_part(&policy, pp.spec);
    got.as_object_mut().unwrap().remove("cloud");
    assert_json_eq(&compact(&got), &compact(&expected), "the effective policy");
    assert_eq!(policy["id"], "pay/aws/nonprod");
    assert!(
        !compact(&policy["cluster_limits"])
            .as_object()
            .unwrap()
            .is_empty(),
        "the seeded policies set limits: {policy:#}"
    );

    // Values are usable in expressions.
    let outputs = wd.outputs();
    let plan_object =
        object("/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose");
    assert_eq!(
        outputs["kubernetes_version"]["value"],
        plan_object["spec"]["cluster"]["kubernetesVersion"]
    );
    assert_eq!(
        outputs["network_plan"]["value"],
        plan_object["spec"]["network"]["networkPlan"]
    );
    // Workspace pay's own policy is the most specific: it limits the workspace's types.
    let types: Vec<Value> = effective["clusterLimits"]["perWorkspace"]["allowedInstanceTypes"]
        .as_array()
        .map(|a| a.iter().map(|t| t["instanceType"].clone()).collect())
        .unwrap_or_default();
    assert!(!types.is_empty(), "{effective:#}");
    assert_eq!(outputs["allowed_instance_types"]["value"], json!(types));
}

#[test]
fn data_source_errors_say_what_is_wrong() {
    require_terraform!();
    let server = seeded_server();
    let wd = Workdir::new(&server);
    wd.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
data "wayfinder_cluster_plan" "missing" {{
  name    = "no-such-plan"
  version = "9.9.9"
}}
"#
    ));
    wd.init();
    let out = wd.plan_expect_error("ClusterPlan no-such-plan version 9.9.9 not found");
    assert_no_crash(&out);

    // A workspaced kind with no workspace anywhere.
    wd.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
data "wayfinder_cluster" "nowhere" {{
  name = "payments-dev"
}}
"#
    ));
    let out = wd.plan_expect_error("No workspace");
    assert!(out.combined().contains("WAYFINDER_WORKSPACE"), "{out}");

    // A cloud Wayfinder does not know, refused before anything is read.
    wd.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
data "wayfinder_provisioning_policy" "bad" {{
  workspace = "pay"
  stage     = "nonprod"
  cloud     = "openstack"
}}
"#
    ));
    let out = wd.plan_expect_error("Unknown cloud \"openstack\"");
    assert!(out.combined().contains("aws, azure, gcp"), "{out}");
    assert!(out.combined().contains("on main.tf line"), "{out}");
}
