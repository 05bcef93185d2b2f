//! `wayfinder_cluster` through the real Terraform CLI and a real server whose AWS driver
//! (`--cloud-driver aws=api`) builds the EKS cluster in a real moto (started here; installed
//! by `cargo xtask moto` or `cargo xtask test`). What moto holds is read with boto3 from
//! moto's own venv, independently of the driver.
//!
//! The server must be built with the AWS driver (`cargo build -p wayfinder-controlplane
//! --features aws`, as `cargo xtask test` does); it refuses `--cloud-driver aws=api`
//! otherwise, and this test fails saying so.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use wayfinder_acceptance::catalog::{
    self, cluster_path, cluster_phase, fixture, publish_platform, wait_cluster,
};
use wayfinder_acceptance::moto::{self, MotoServer};
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, require_terraform,
};

const ADDR: &str = "wayfinder_cluster.dev";
const EKS_NAME: &str = "wf-pay-payments-dev";

/// What moto holds for one cluster uid, and a way to change a node group behind the
/// driver's back: boto3, from moto's venv.
const INSPECT: &str = r#"
import boto3, ipaddress, json, sys
url, action = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=url, region_name="eu-west-2",
          aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, iam, eks = (boto3.client(s, **kw) for s in ("ec2", "iam", "eks"))
if action == "scale":
    cluster, group, low, high, want = sys.argv[3:8]
    eks.update_nodegroup_config(clusterName=cluster, nodegroupName=group,
        scalingConfig={"minSize": int(low), "maxSize": int(high), "desiredSize": int(want)})
    print("{}")
    sys.exit(0)
uid = sys.argv[3]
tag = [{"Name": "tag:wayfinder.dev/uid", "Values": [uid]}]
out = {
    "vpcs": sorted(v["CidrBlock"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]),
    "subnets": sorted(([s["CidrBlock"], s["AvailabilityZone"],
                       {t["Key"]: t["Value"] for t in s["Tags"]}.get("wayfinder.dev/tier")]
                      for s in ec2.describe_subnets(Filters=tag)["Subnets"]),
                     key=lambda s: ipaddress.ip_network(s[0])),
    "internetGateways": len(ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]),
    "routeTables": sorted({t["Key"]: t["Value"] for t in r["Tags"]}.get("wayfinder.dev/route-table")
                          for r in ec2.describe_route_tables(Filters=tag)["RouteTables"]),
    "natGateways": len([n for n in ec2.describe_nat_gateways(Filter=tag)["NatGateways"]
                        if n["State"] != "deleted" and {"Key": "wayfinder.dev/uid", "Value": uid} in n.get("Tags", [])]),
    "elasticIps": len(ec2.describe_addresses(Filters=tag)["Addresses"]),
    "roles": {}, "clusters": {},
}
for r in iam.list_roles()["Roles"]:
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=r["RoleName"])["Tags"]}
    if tags.get("wayfinder.dev/uid") == uid:
        out["roles"][r["RoleName"]] = sorted(
            p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=r["RoleName"])["AttachedPolicies"])
for name in eks.list_clusters()["clusters"]:
    c = eks.describe_cluster(name=name)["cluster"]
    if c.get("tags", {}).get("wayfinder.dev/uid") != uid:
        continue
    groups = {}
    for ng in eks.list_nodegroups(clusterName=name)["nodegroups"]:
        g = eks.describe_nodegroup(clusterName=name, nodegroupName=ng)["nodegroup"]
        s = g["scalingConfig"]
        groups[ng] = {"instanceTypes": g["instanceTypes"], "capacityType": g["capacityType"],
                      "diskSize": g.get("diskSize"),
                      "scaling": [s["minSize"], s["maxSize"], s["desiredSize"]],
                      "taints": [[t["key"], t.get("value"), t["effect"]] for t in g.get("taints", [])]}
    out["clusters"][name] = {"version": c["version"], "arn": c["arn"], "nodegroups": groups,
                             "endpoint": c["endpoint"],
                             "ca": c.get("certificateAuthority", {}).get("data")}
print(json.dumps(out))
"#;

/// The network the fixture's `eks-assignable` ClusterNetworkPlan asks for (3 zones, 3 private
/// and 3 public subnets, 3 NAT gateways), in `cidr` (a /22).
fn assert_network(got: &Value, cidr: &str) {
    let base = wayfinder_model::net::Ipv4Net::parse(cidr).unwrap();
    let subnets: Vec<Value> = (0..6u32)
        .map(|i| {
            let net = wayfinder_model::net::Ipv4Net {
                addr: base.addr + 128 * i,
                prefix: 25,
            };
            let zone = ["eu-west-2a", "eu-west-2b", "eu-west-2c"][(i % 3) as usize];
            let tier = if i < 3 { "private" } else { "public" };
            serde_json::json!([net.to_string(), zone, tier])
        })
        .collect();
    assert_eq!(got["subnets"], Value::Array(subnets), "{got}");
    assert_eq!(got["internetGateways"], 1, "{got}");
    assert_eq!(
        got["routeTables"],
        serde_json::json!(["private-0", "private-1", "private-2", "public"]),
        "{got}"
    );
    assert_eq!(got["natGateways"], 3, "one per public subnet: {got}");
    assert_eq!(got["elasticIps"], 3, "{got}");
}

fn python() -> std::path::PathBuf {
    let target = moto::target_dir().expect("the target directory");
    moto::python(&target).expect("moto's venv (with boto3): run `cargo xtask moto`")
}

fn boto(moto: &MotoServer, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(INSPECT)
        .arg(&moto.url)
        .args(args)
        .output()
        .expect("running moto's python");
    assert!(
        out.status.success(),
        "boto3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("boto3's JSON")
}

/// A cluster with the `compute` pool (autoscaling 2..`max`) and, when `fixed` is given, a
/// `fixed` pool of that many nodes with a taint.
fn config(max: i64, fixed: Option<i64>) -> String {
    let fixed = fixed
        .map(|n| {
            format!(
                r#"
  node_pools {{
    logical_name = "fixed"
    machine      = "m6i.large"
    disk_size    = 50
    size         = {n}

    taints {{
      key    = "dedicated"
      value  = "batch"
      effect = "NoSchedule"
    }}
  }}
"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"{REQUIRED_PROVIDERS}
provider "wayfinder" {{
  workspace = "pay"
}}

resource "wayfinder_cluster" "dev" {{
  name        = "payments-dev"
  description = "Payments development"
  stage       = "nonprod"
  region      = "eu-west-2"

  plan {{
    name    = "eks-general-purpose"
    version = "1.3.0"
  }}

  cloud_access_ref {{
    workspace = "admin"
    name      = "aws-nonprod"
  }}

  node_pools {{
    logical_name = "compute"
    machine      = "m6i.large"
    disk_size    = 100
    size         = 2

    autoscaling {{
      enabled  = true
      min_size = 2
      max_size = {max}
    }}
  }}
{fixed}
  network {{
    size = 22
  }}

  timeouts {{
    create = "3m"
    update = "3m"
    delete = "3m"
  }}
}}
"#
    )
}

/// The server's base secret key: moto takes any, and this one must never be seen again.
const BASE_SECRET: &str = "wf-base-secret-never-logged-7Qx2";

/// The server's command line and environment for the AWS driver on `moto`.
fn aws_args(moto: &MotoServer) -> Vec<String> {
    [
        "--log-level=trace",
        "--cloud-driver",
        "aws=api",
        "--aws-endpoint-url",
        &moto.url,
        "--drift-check-interval",
        "1s",
    ]
    .map(str::to_string)
    .to_vec()
}

const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", BASE_SECRET),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

fn aws_server(moto: &MotoServer) -> Server {
    let args = aws_args(moto);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with_args_env(&args, AWS_ENV)
}

#[test]
fn an_eks_cluster_is_built_changed_kept_and_destroyed_through_the_aws_apis() {
    require_terraform!();
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let server = aws_server(&moto);
    let api = server.client();
    publish_platform(&api);

    // Apply: the VPC, subnets, roles, cluster and a node group per pool land in moto.
    let wd = Workdir::new(&server);
    wd.write_config(&config(4, Some(1)));
    wd.init();
    assert_no_crash(&wd.apply());
    let object = api.get(&cluster_path("pay", "payments-dev")).body;
    assert_eq!(cluster_phase(Some(&object)), Some("Success"), "{object}");
    let uid = object["metadata"]["uid"].as_str().unwrap().to_string();
    let cidr = object["status"]["network"]["cidr"]
        .as_str()
        .unwrap()
        .to_string();
    let got = boto(&moto, &["inspect", &uid]);
    assert_eq!(got["vpcs"], serde_json::json!([cidr]), "{got}");
    // The network plan (eks-assignable): 3 zones, 3 private and 3 public subnets, 3 NATs.
    assert_network(&got, &cidr);
    assert_eq!(
        got["roles"],
        serde_json::json!({
            "wf-pay-payments-dev-cluster": ["AmazonEKSClusterPolicy"],
            "wf-pay-payments-dev-node": ["AmazonEC2ContainerRegistryReadOnly", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"],
        })
    );
    let eks = &got["clusters"][EKS_NAME];
    assert_eq!(eks["version"], "1.32", "{got}");
    assert_eq!(
        object["status"]["cloudId"], eks["arn"],
        "status.cloudId is the ARN"
    );
    assert_eq!(
        eks["nodegroups"]["compute"]["scaling"],
        serde_json::json!([2, 4, 2])
    );
    assert_eq!(eks["nodegroups"]["compute"]["diskSize"], 100);
    assert_eq!(
        eks["nodegroups"]["fixed"]["scaling"],
        serde_json::json!([1, 1, 1])
    );
    assert_eq!(
        eks["nodegroups"]["fixed"]["taints"],
        serde_json::json!([["dedicated", "batch", "NO_SCHEDULE"]])
    );
    let state = wd.resource_values(ADDR);
    assert_eq!(state["status"]["status"], "Success");
    assert_eq!(state["endpoint"], object["status"]["endpoint"]);
    wd.plan_is_empty(false);

    // Change the pools in Terraform: compute grows to 6, fixed goes, then comes back at 3.
    wd.write_config(&config(6, None));
    assert_no_crash(&wd.apply());
    let got = boto(&moto, &["inspect", &uid]);
    let groups = &got["clusters"][EKS_NAME]["nodegroups"];
    assert_eq!(
        groups["compute"]["scaling"],
        serde_json::json!([2, 6, 2]),
        "{got}"
    );
    assert!(
        groups.get("fixed").is_none(),
        "the removed pool's node group is gone: {got}"
    );
    wd.write_config(&config(6, Some(3)));
    assert_no_crash(&wd.apply());
    let got = boto(&moto, &["inspect", &uid]);
    assert_eq!(
        got["clusters"][EKS_NAME]["nodegroups"]["fixed"]["scaling"],
        serde_json::json!([3, 3, 3]),
        "{got}"
    );

    // Someone rescales a node group behind the driver's back: the reconciler puts it back
    // and says so in the status.
    boto(&moto, &["scale", EKS_NAME, "fixed", "1", "9", "1"]);
    let fixed = wait_cluster(&api, "pay", "payments-dev", Duration::from_secs(60), |c| {
        c.and_then(|c| c.pointer("/status/message"))
            .and_then(Value::as_str)
            .is_some_and(|m| m.contains("drift corrected"))
    })
    .expect("the drift is corrected");
    let message = fixed["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("node group fixed: scaling 1/9/1 → 3/3/3"),
        "{message}"
    );
    let got = boto(&moto, &["inspect", &uid]);
    assert_eq!(
        got["clusters"][EKS_NAME]["nodegroups"]["fixed"]["scaling"],
        serde_json::json!([3, 3, 3]),
        "{got}"
    );

    // Credentials are what EKS authenticates: moto's endpoint and CA, and a token that is a
    // presigned STS GetCallerIdentity for the cluster, living at most 15 minutes.
    let answer = api.post(
        &format!("{}/credentials", cluster_path("pay", "payments-dev")),
        &serde_json::json!({"ttl": "2h"}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let creds = answer.body;
    let eks = &got["clusters"][EKS_NAME];
    assert_eq!(creds["endpoint"], eks["endpoint"], "{creds}");
    assert_eq!(creds["certificateAuthorityData"], eks["ca"], "{creds}");
    assert_eq!(creds["ttl"], "15m0s", "capped at EKS's 15 minutes");
    let token = creds["token"].as_str().unwrap().to_string();
    let url = {
        use base64::Engine as _;
        let encoded = token.strip_prefix("k8s-aws-v1.").expect("an EKS token");
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded)
                .expect("unpadded base64url"),
        )
        .unwrap()
    };
    assert!(
        url.starts_with(&format!(
            "{}/?Action=GetCallerIdentity&Version=2011-06-15&",
            moto.url
        )),
        "{url}"
    );
    for part in [
        "X-Amz-Expires=900",
        "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        "X-Amz-Security-Token=",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    let kubeconfig = creds["kubeconfig"].as_str().unwrap();
    assert!(
        kubeconfig.contains(&format!("certificate-authority-data: {}", eks["ca"]))
            && kubeconfig.contains(&format!("token: \"{token}\"")),
        "{kubeconfig}"
    );
    let status = api
        .get(&cluster_path("pay", "payments-dev"))
        .body
        .to_string();
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap().to_string();

    // No AWS secret reaches the server's log (at trace level), the cluster's status or
    // Terraform's state: not the base key, not the assumed role's key or session token
    // (moto's start `FQoGZXIvYXdzE`), not the EKS token or its signature.
    let state_file = wd.read_file("terraform.tfstate");
    let log = server.log();
    assert!(
        log.contains("cloud driver: the AWS APIs"),
        "the log is the server's"
    );
    for (what, text) in [
        ("the server's log", &log),
        ("the state", &state_file),
        ("the cluster", &status),
    ] {
        for secret in [
            BASE_SECRET,
            "SecretAccessKey",
            "FQoGZXIvYXdzE",
            "aws_secret",
            "k8s-aws-v1.",
            token.as_str(),
            signature.as_str(),
        ] {
            assert!(!text.contains(secret), "{what} holds {secret:?}");
        }
    }

    // Destroy: nothing tagged with the cluster's uid remains.
    assert_no_crash(&wd.destroy());
    let got = boto(&moto, &["inspect", &uid]);
    assert_eq!(
        got,
        serde_json::json!({"vpcs": [], "subnets": [], "internetGateways": 0, "routeTables": [], "natGateways": 0, "elasticIps": 0, "roles": {}, "clusters": {}}),
        "everything made for the cluster is gone"
    );
}

#[test]
fn a_cloud_access_in_another_account_fails_the_apply_naming_it() {
    require_terraform!();
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let server = aws_server(&moto);
    let api = server.client();
    publish_platform(&api);
    // The cloud access says account 111122223333, but its role is in the default account.
    let path = format!(
        "{}/aws-nonprod",
        wayfinder_acceptance::support::collection_path(
            &wayfinder_model::kinds::CLOUD_ACCESS_CONFIG,
            Some("admin")
        )
    );
    let mut access = api.get(&path).body;
    access["spec"]["aws"]["account"] = "111122223333".into();
    let put = api.put(&path, &access);
    assert_eq!(put.status, 200, "{}", put.text);

    let wd = Workdir::new(&server);
    wd.write_config(&config(4, None));
    wd.init();
    let out = wd.try_apply();
    assert_no_crash(&out);
    let said = out.combined();
    assert_ne!(out.code, 0, "{said}");
    assert!(
        said.contains("CloudAccessDenied") && said.contains("admin/aws-nonprod"),
        "the error names the reason and the cloud access: {said}"
    );
    let object = api.get(&cluster_path("pay", "payments-dev")).body;
    assert_eq!(cluster_phase(Some(&object)), Some("Failure"), "{object}");
    // Nothing was built.
    let uid = object["metadata"]["uid"].as_str().unwrap().to_string();
    let nothing = serde_json::json!({"vpcs": [], "subnets": [], "internetGateways": 0, "routeTables": [], "natGateways": 0, "elasticIps": 0, "roles": {}, "clusters": {}});
    assert_eq!(boto(&moto, &["inspect", &uid]), nothing);
    // Destroying needs the account too (the driver does not act in an account it cannot
    // verify): it fails the same way until the cloud access is fixed, then completes.
    let out = wd.try_run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert_no_crash(&out);
    assert_ne!(out.code, 0, "{}", out.combined());
    assert!(
        out.combined().contains("CloudAccessDenied"),
        "{}",
        out.combined()
    );
    access = api.get(&path).body;
    access["spec"]["aws"]["account"] = moto::DEFAULT_ACCOUNT.into();
    let put = api.put(&path, &access);
    assert_eq!(put.status, 200, "{}", put.text);
    assert_no_crash(&wd.destroy());
    assert_eq!(boto(&moto, &["inspect", &uid]), nothing);
}

#[test]
fn a_server_killed_mid_provision_converges_after_restart_with_no_duplicate_or_orphan() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let mut server = aws_server(&moto);
    publish_platform(&server.client());
    let mut cluster = fixture("cluster.yaml", "payments-dev");
    cluster["spec"]["nodePools"][0]
        .as_object_mut()
        .unwrap()
        .remove("providerDetails");
    catalog::create(&server.client(), &cluster, None);
    let uid = server
        .client()
        .get(&cluster_path("pay", "payments-dev"))
        .body["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    // SIGKILL at several points of the build (the first STS and EC2 calls of a fresh moto
    // take seconds; later steps milliseconds), restarting each time.
    let args = aws_args(&moto);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for pause in [1500, 400, 900, 200] {
        std::thread::sleep(Duration::from_millis(pause));
        server.kill_and_restart_with(&args, AWS_ENV);
    }
    let api = server.client();
    let built = wait_cluster(&api, "pay", "payments-dev", Duration::from_secs(120), |c| {
        cluster_phase(c) == Some("Success")
    })
    .expect("the cluster is built after the restarts");
    // The build really was interrupted: it started over after restarts.
    let log = server.log();
    let starts = log
        .lines()
        .filter(|l| l.contains("reconciling") && l.contains("Creating"))
        .count();
    assert!(
        starts >= 2,
        "the build was started {starts} time(s):\n{log}"
    );
    let cidr = built["status"]["network"]["cidr"]
        .as_str()
        .unwrap()
        .to_string();
    let got = boto(&moto, &["inspect", &uid]);
    assert_eq!(got["vpcs"], serde_json::json!([cidr]), "one VPC: {got}");
    // The network plan (eks-assignable): 3 zones, 3 private and 3 public subnets, 3 NATs.
    assert_network(&got, &cidr);
    assert_eq!(got["roles"].as_object().unwrap().len(), 2, "{got}");
    assert_eq!(got["clusters"].as_object().unwrap().len(), 1, "{got}");
    let pools = built["spec"]["nodePools"].as_array().unwrap().len();
    assert_eq!(
        got["clusters"][EKS_NAME]["nodegroups"]
            .as_object()
            .unwrap()
            .len(),
        pools,
        "a node group per pool: {got}"
    );
    // Deleting, killed midway too, still leaves nothing.
    let resp = api.delete(&cluster_path("pay", "payments-dev"));
    assert!(resp.status < 300, "{}", resp.text);
    std::thread::sleep(Duration::from_millis(300));
    server.kill_and_restart_with(&args, AWS_ENV);
    let api = server.client();
    wait_cluster(&api, "pay", "payments-dev", Duration::from_secs(120), |c| {
        c.is_none()
    });
    assert_eq!(
        boto(&moto, &["inspect", &uid]),
        serde_json::json!({"vpcs": [], "subnets": [], "internetGateways": 0, "routeTables": [], "natGateways": 0, "elasticIps": 0, "roles": {}, "clusters": {}})
    );
}
