//! Workspaced and versioned resources through the real Terraform CLI and a real server:
//! `workspace` defaulting to the provider's, ids `workspace/name` and `name@version`, the
//! publish state, import by those ids, update in place, replacement on a new version, and
//! destroy.

use serde_json::json;
use wayfinder_acceptance::{REQUIRED_PROVIDERS, Server, Workdir, assert_json_eq, strip_nulls};

fn config(description: &str, plan_version: &str, publish: &str) -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "admin"
}}

resource "wayfinder_workspace" "pay" {{
  name        = "pay"
  summary     = "Payments"
  description = "{description}"
}}

# In the provider's workspace (admin).
resource "wayfinder_cloud_access_config" "aws" {{
  name        = "aws-nonprod"
  description = "{description}"
  cloud       = "aws"
  type        = "Kubernetes"

  aws {{
    account        = "123456789012"
    default_region = "eu-west-2"
  }}
}}

# In the workspace created above.
resource "wayfinder_cloud_access_config" "pay" {{
  workspace = wayfinder_workspace.pay.name
  name      = "pay-aws"
  cloud     = "aws"
  type      = "Kubernetes"

  aws {{
    account = "123456789012"
  }}
}}

resource "wayfinder_cluster_network_plan" "eks" {{
  name    = "eks-standard"
  summary = "EKS network"

  template {{
    plan     = "eks-standard"
    provider = "aws"

    ipv4 {{
      cidr_blocks {{
        type = "node"
        size = 22
      }}
    }}
  }}
}}

resource "wayfinder_cluster_plan" "eks" {{
  name           = "eks-general"
  version        = "{plan_version}"
  description    = "{description}"
  cloud_provider = "EKS"
  publish_state  = "{publish}"

  cluster {{
    kubernetes_version = "1.32"
  }}

  network {{
    network_plan = wayfinder_cluster_network_plan.eks.name
  }}
}}
"#
    )
}

const CAC: &str = "/resources/cloudaccess.appvia.io/v2beta2/workspaces";
const PLANS: &str = "/resources/compute.appvia.io/v2beta2/clusterplans";

#[test]
fn workspaced_and_versioned_resources_loop() {
    wayfinder_acceptance::require_terraform!();
    let server = Server::start();
    let api = server.client();
    let wd = Workdir::new(&server);
    wd.write_config(&config("Payments team", "1.0.0", "Published"));
    wd.init();
    wd.apply();

    // The server holds what the configuration says, where it says.
    let aws = api.get(&format!("{CAC}/admin/cloudaccessconfigs/aws-nonprod"));
    assert_eq!(aws.status, 200, "{}", aws.text);
    assert_json_eq(
        &strip_nulls(&aws.body["spec"]),
        &json!({"description": "Payments team", "cloud": "aws", "type": "Kubernetes",
                "aws": {"account": "123456789012", "defaultRegion": "eu-west-2"}}),
        "CloudAccessConfig admin/aws-nonprod",
    );
    assert_eq!(
        api.get(&format!("{CAC}/pay/cloudaccessconfigs/pay-aws"))
            .status,
        200
    );
    let plan = api.get(&format!("{PLANS}/eks-general/versions/1.0.0"));
    assert_eq!(plan.status, 200, "{}", plan.text);
    assert_eq!(
        plan.body["metadata"]["annotations"]["appvia.io/publishState"],
        "Published"
    );

    let state = |addr: &str| wd.resource_values(addr);
    assert_eq!(
        state("wayfinder_cloud_access_config.aws")["id"],
        "admin/aws-nonprod"
    );
    assert_eq!(
        state("wayfinder_cloud_access_config.aws")["workspace"],
        "admin"
    );
    assert_eq!(
        state("wayfinder_cloud_access_config.pay")["id"],
        "pay/pay-aws"
    );
    assert_eq!(
        state("wayfinder_cluster_plan.eks")["id"],
        "eks-general@1.0.0"
    );
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Import every object by its id into a fresh directory: the same state.
    let imported = Workdir::new(&server);
    imported.write_config(&config("Payments team", "1.0.0", "Published"));
    imported.init();
    for (addr, id) in [
        ("wayfinder_workspace.pay", "pay"),
        ("wayfinder_cloud_access_config.aws", "aws-nonprod"),
        ("wayfinder_cloud_access_config.pay", "pay/pay-aws"),
        ("wayfinder_cluster_network_plan.eks", "eks-standard"),
        ("wayfinder_cluster_plan.eks", "eks-general@1.0.0"),
    ] {
        imported.import(addr, id);
        assert_json_eq(
            &imported.resource_values(addr),
            &wd.resource_values(addr),
            &format!("{addr} imported as {id}"),
        );
    }
    imported.plan_is_empty(true);

    // Update in place; deprecate the plan version.
    wd.write_config(&config("Payments team, v2", "1.0.0", "Deprecated"));
    let (changes, text) = wd.plan_changes(true);
    for c in &changes {
        assert!(
            c.actions == ["update"] || c.actions == ["no-op"],
            "{} would {:?}:\n{text}",
            c.address,
            c.actions
        );
    }
    wd.apply();
    let aws = api.get(&format!("{CAC}/admin/cloudaccessconfigs/aws-nonprod"));
    assert_eq!(aws.body["spec"]["description"], "Payments team, v2");
    let plan = api.get(&format!("{PLANS}/eks-general/versions/1.0.0"));
    assert_eq!(
        plan.body["metadata"]["annotations"]["appvia.io/publishState"],
        "Deprecated"
    );
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // A new version replaces the object.
    wd.write_config(&config("Payments team, v2", "1.1.0", "Published"));
    let (changes, text) = wd.plan_changes(true);
    let plan_change = changes
        .iter()
        .find(|c| c.address == "wayfinder_cluster_plan.eks")
        .expect("the plan changes");
    assert_eq!(plan_change.actions, ["delete", "create"], "{text}");
    wd.apply();
    assert_eq!(
        api.get(&format!("{PLANS}/eks-general/versions/1.1.0"))
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("{PLANS}/eks-general/versions/1.0.0"))
            .status,
        404
    );
    wd.plan_is_empty(true);

    wd.destroy();
    for path in [
        format!("{CAC}/admin/cloudaccessconfigs/aws-nonprod"),
        format!("{PLANS}/eks-general/versions/1.1.0"),
        "/resources/org.appvia.io/v2beta1/workspaces/pay".to_string(),
    ] {
        assert_eq!(
            api.get(&path).status,
            404,
            "{path} is still there after destroy"
        );
    }
}
