//! One scenario end to end, as users work, all with the real Terraform CLI:
//!
//! 1. The administrator (the token in `DATA_DIR/admin-token`) publishes the catalog with
//!    Terraform: a stage, a workspace, cloud access, an assignable network, a network plan,
//!    two compute templates, a published cluster plan, a provisioning policy, and an access
//!    token for a member of the workspace (kept in the administrator's state only because
//!    it asks for `store_token`).
//! 2. The member, with that token, creates a cluster from the plan — the plan shows its
//!    cost — and reads its credentials through `wayfinder_cluster_credentials`, which reach
//!    a consumer and never the plan or state.
//! 3. The member cannot create a cluster plan: a clear 403 naming the role it needs.
//! 4. A cluster over the policy's cost ceiling, and one with a forbidden instance type, fail
//!    at `terraform plan`, each diagnostic on its attribute's line, and nothing is created.
//! 5. The member destroys the cluster; the administrator destroys the catalog.

use serde_json::Value;
use wayfinder_acceptance::catalog::{cluster_path, cluster_phase};
use wayfinder_acceptance::support::EPHEMERAL_RESOURCES;
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, require_terraform,
};

/// The administrator's catalog.
fn admin_config() -> String {
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "admin"
}}

resource "wayfinder_stage" "nonprod" {{
  name         = "nonprod"
  display_name = "Non-production"
}}

resource "wayfinder_workspace" "pay" {{
  name    = "pay"
  summary = "Payments"
}}

resource "wayfinder_cloud_access_config" "aws" {{
  name        = "aws-nonprod"
  description = "Non-production AWS account"
  cloud       = "aws"
  type        = "Kubernetes"

  aws {{
    account        = "123456789012"
    default_region = "eu-west-2"
  }}

  scope {{
    all_workspaces = true
    allowed_stages = [wayfinder_stage.nonprod.name]
  }}
}}

resource "wayfinder_assignable_network" "aws" {{
  name           = "aws-nonprod"
  cloud_provider = "aws"
  stage          = wayfinder_stage.nonprod.name

  networks {{
    range = "10.0.0.0/16"
    type  = "node"
  }}
}}

resource "wayfinder_cluster_network_plan" "eks" {{
  name                = "eks-assignable"
  summary             = "EKS networks from the assignable ranges"
  assignable_networks = [wayfinder_assignable_network.aws.name]

  template {{
    plan     = "eks-assignable"
    provider = "aws"

    ipv4 {{
      cidr_blocks {{
        type = "node"
        size = 22
      }}
    }}
  }}
}}

resource "wayfinder_compute_template" "general" {{
  name           = "eks-general"
  description    = "General purpose nodes"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "compute"
    machine      = "m6i.large"
    disk_size    = 50
    size         = 2

    autoscaling {{
      enabled  = true
      min_size = 1
      max_size = 3
    }}
  }}
}}

resource "wayfinder_compute_template" "memory" {{
  name           = "eks-memory"
  description    = "Memory-heavy nodes"
  cloud_provider = "EKS"

  node_pools {{
    logical_name = "compute"
    machine      = "r6i.large"
    size         = 2
  }}
}}

resource "wayfinder_cluster_plan" "eks" {{
  name           = "eks-general-purpose"
  version        = "1.0.0"
  description    = "General purpose EKS cluster"
  cloud_provider = "EKS"
  publish_state  = "Published"

  scope {{
    all_workspaces = true
    all_stages     = true
  }}

  cluster {{
    kubernetes_version = "1.32"
  }}

  network {{
    network_plan = wayfinder_cluster_network_plan.eks.name
  }}

  choices {{
    regions {{
      default = "eu-west-2"
      allowed = ["eu-west-2", "eu-west-1"]
    }}

    compute_templates {{
      default = wayfinder_compute_template.general.name
      allowed = [wayfinder_compute_template.general.name, wayfinder_compute_template.memory.name]
    }}

    node_pools {{
      allow_override   = true
      allowed_machines = ["m6i.large", "m6i.xlarge", "r6i.large"]
      max_size         = 10
    }}

    network {{
      default_size  = 22
      allowed_sizes = [22, 23, 24]
    }}
  }}
}}

resource "wayfinder_provisioning_policy" "nonprod" {{
  name            = "nonprod-aws"
  description     = "Limits for non-production AWS clusters"
  cloud           = "aws"
  allowed_regions = ["eu-west-2"]

  scope {{
    all_workspaces = true
    allowed_stages = [wayfinder_stage.nonprod.name]
  }}

  cluster_limits {{
    per_cluster {{
      cost_per_month = 500

      allowed_instance_types {{
        instance_type = "m6i.large"
        max_nodes     = 10
      }}

      allowed_instance_types {{
        instance_type = "r6i.large"
      }}
    }}
  }}
}}

resource "wayfinder_access_token" "member" {{
  workspace   = wayfinder_workspace.pay.name
  name        = "payments-ci"
  description = "CI for the payments team"
  roles       = ["member"]
  ttl         = "2h"
  store_token = true
}}

output "member_token" {{
  value     = wayfinder_access_token.member.token
  sensitive = true
}}
"#
    )
}

/// The member's cluster, with the part of its `node_pools` block the steps change, and
/// (Terraform ≥ 1.10) its credentials handed to a consumer.
fn member_config(node_pool: &str, with_credentials: bool) -> String {
    let credentials = if with_credentials {
        r#"
# The credentials open only once the cluster exists: its ID is known after apply.
ephemeral "wayfinder_cluster_credentials" "app" {
  cluster = wayfinder_cluster.app.id
  ttl     = "15m"
}

# What a kubernetes/helm provider block would receive, written where the test can read it.
resource "terraform_data" "deploy" {
  triggers_replace = [wayfinder_cluster.app.id]

  provisioner "local-exec" {
    command = "printf '%s' \"$KUBECONFIG_DATA\" > kubeconfig.yaml"
    environment = {
      KUBECONFIG_DATA = ephemeral.wayfinder_cluster_credentials.app.kubeconfig
    }
  }
}
"#
    } else {
        ""
    };
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "pay"
}}

resource "wayfinder_cluster" "app" {{
  name        = "payments-dev"
  description = "Payments development"
  stage       = "nonprod"

  plan {{
    name    = "eks-general-purpose"
    version = "1.0.0"
  }}
{node_pool}
  timeouts {{
    create = "3m"
  }}
}}

output "monthly_cost" {{
  value = wayfinder_cluster.app.estimated_monthly_cost
}}
{credentials}"#
    )
}

const NO_POOLS: &str = "";

fn pool(machine: &str, max_size: i64) -> String {
    format!(
        r#"
  node_pools {{
    logical_name = "compute"
    machine      = "{machine}"
    size         = 2

    autoscaling {{
      enabled  = true
      min_size = 2
      max_size = {max_size}
    }}
  }}
"#
    )
}

fn line_of(config: &str, needle: &str) -> usize {
    config
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the configuration"))
        + 1
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn administrators_publish_members_provision_and_policy_stops_what_it_must() {
    require_terraform!();
    let server = Server::start();
    let admin_token = std::fs::read_to_string(server.data_dir().join("admin-token"))
        .expect("the server wrote its administrator token")
        .trim()
        .to_string();
    let api = server.client();

    // 1. The administrator publishes the catalog.
    let mut admin = Workdir::with_provider();
    admin
        .set_env("WAYFINDER_SERVER", server.url())
        .set_env("WAYFINDER_TOKEN", &admin_token);
    admin.write_config(&admin_config());
    admin.init();
    let out = admin.apply();
    assert_no_crash(&out);
    admin.plan_is_empty(true);
    let plan = api.get(
        "/resources/compute.appvia.io/v2beta2/clusterplans/eks-general-purpose/versions/1.0.0",
    );
    assert_eq!(plan.status, 200, "{}", plan.text);
    let member_token = admin.outputs()["member_token"]["value"]
        .as_str()
        .expect("the member's token, kept because store_token = true")
        .to_string();
    assert!(!member_token.is_empty());

    // 2. The member creates a cluster from the published plan.
    let credentials = EPHEMERAL_RESOURCES.available_for("the credentials step");
    let mut member = Workdir::with_provider();
    member
        .set_env("WAYFINDER_SERVER", server.url())
        .set_env("WAYFINDER_TOKEN", &member_token);
    member.write_config(&member_config(NO_POOLS, credentials));
    member.init();
    let (_, text) = member.plan_changes(true);
    let flat = one_line(&text);
    assert!(
        flat.contains("+ estimated_monthly_cost = { + currency = \"USD\""),
        "the member sees the cost before apply: {text}"
    );
    let out = member.apply();
    assert_no_crash(&out);
    let cluster = api.get(&cluster_path("pay", "payments-dev"));
    assert_eq!(cluster.status, 200, "{}", cluster.text);
    assert_eq!(cluster_phase(Some(&cluster.body)), Some("Success"));
    assert_eq!(
        cluster.body["spec"]["plan"]["version"], "1.0.0",
        "built from the published plan"
    );
    let state = member.resource_values("wayfinder_cluster.app");
    assert_eq!(state["endpoint"], cluster.body["status"]["endpoint"]);
    assert_eq!(
        state["estimated_monthly_cost"]["total"].as_f64(),
        cluster.body["status"]["estimate"]["totalMonthlyUSD"].as_f64()
    );
    if credentials {
        let kubeconfig = std::fs::read_to_string(member.path().join("kubeconfig.yaml"))
            .expect("the consumer received the kubeconfig");
        let endpoint = cluster.body["status"]["endpoint"].as_str().unwrap();
        assert!(
            kubeconfig.contains(&format!("server: \"{endpoint}\"")),
            "{kubeconfig}"
        );
        let token_line = kubeconfig
            .lines()
            .find(|l| l.trim_start().starts_with("token:"))
            .expect("a token in the kubeconfig");
        let token = token_line.split('"').nth(1).unwrap();
        assert!(token.starts_with("wfc_"), "{token_line}");
        let audit =
            std::fs::read_to_string(server.data_dir().join("audit/credentials.jsonl")).unwrap();
        assert!(
            audit.contains("accesstoken:pay/payments-ci") || audit.contains("payments-ci"),
            "the member took the credentials: {audit}"
        );
        let state_file = std::fs::read_to_string(member.path().join("terraform.tfstate")).unwrap();
        assert!(!state_file.contains(token), "the token is not in the state");
        assert!(
            !state_file.contains("kind: Config"),
            "the kubeconfig is not in the state"
        );
    }
    member.plan_is_empty(true);

    // 3. The member may not publish a cluster plan: a 403 naming the role it needs.
    let rogue = Workdir::with_provider();
    let mut rogue = rogue;
    rogue
        .set_env("WAYFINDER_SERVER", server.url())
        .set_env("WAYFINDER_TOKEN", &member_token);
    rogue.write_config(&format!(
        r#"{REQUIRED_PROVIDERS}
resource "wayfinder_cluster_plan" "mine" {{
  name           = "my-own-plan"
  version        = "1.0.0"
  cloud_provider = "EKS"

  cluster {{
    kubernetes_version = "1.32"
  }}

  network {{
    network_plan = "eks-assignable"
  }}
}}
"#
    ));
    rogue.init();
    let out = rogue.try_apply();
    assert_ne!(out.code, 0, "{out}");
    assert_no_crash(&out);
    let flat = one_line(&out.combined());
    assert!(
        flat.contains(
            "Permission denied: to create ClusterPlan my-own-plan@1.0.0 needs the role \"admin\""
        ),
        "a clear 403: {out}"
    );
    assert_eq!(
        api.get("/resources/compute.appvia.io/v2beta2/clusterplans/my-own-plan/versions/1.0.0")
            .status,
        404
    );

    // 4. Over the cost ceiling, and a forbidden instance type: refused at plan, on the line.
    let other =
        |pools: &str| member_config(pools, false).replace("\"payments-dev\"", "\"payments-big\"");
    let big = other(&pool("m6i.large", 8));
    let probe = Workdir::with_provider();
    let mut probe = probe;
    probe
        .set_env("WAYFINDER_SERVER", server.url())
        .set_env("WAYFINDER_TOKEN", &member_token);
    probe.write_config(&big);
    probe.init();
    let out = probe.plan_expect_error("Policy violation at node_pools[0]");
    let flat = one_line(&out.combined());
    assert!(
        flat.contains("costPerMonth: 500 USD"),
        "the cost ceiling: {out}"
    );
    assert!(
        out.combined().contains(&format!(
            "on main.tf line {}",
            line_of(&big, "max_size = 8")
        )),
        "on the dearest pool's size: {out}"
    );
    let forbidden = other(&pool("m6i.xlarge", 3));
    probe.write_config(&forbidden);
    let out = probe.plan_expect_error("Policy violation at node_pools[0].machine");
    assert!(
        out.combined().contains(&format!(
            "on main.tf line {}",
            line_of(&forbidden, "m6i.xlarge")
        )),
        "on the machine's line: {out}"
    );
    assert!(
        one_line(&out.combined()).contains("Policy: nonprod-aws"),
        "{out}"
    );
    assert_eq!(
        api.get(&cluster_path("pay", "payments-big")).status,
        404,
        "nothing was created"
    );

    // 5. Tear down: the member's cluster (destroy waits until it is gone), then the catalog.
    member.destroy();
    assert_eq!(api.get(&cluster_path("pay", "payments-dev")).status, 404);
    let out = admin.destroy();
    assert_no_crash(&out);
    let left: Vec<Value> = wayfinder_acceptance::list_items(
        api.get("/resources/compute.appvia.io/v2beta2/clusterplans")
            .body,
    );
    assert!(left.is_empty(), "the catalog is gone: {left:?}");
}
