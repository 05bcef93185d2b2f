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
use wayfinder_acceptance::support::EPHEMERAL_RESOURCES;
use wayfinder_acceptance::{
    REQUIRED_PROVIDERS, Server, Workdir, assert_no_crash, require_terraform,
    require_terraform_version,
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
ec2, iam, eks, kms = (boto3.client(s, **kw) for s in ("ec2", "iam", "eks", "kms"))
if action == "scale":
    cluster, group, low, high, want = sys.argv[3:8]
    eks.update_nodegroup_config(clusterName=cluster, nodegroupName=group,
        scalingConfig={"minSize": int(low), "maxSize": int(high), "desiredSize": int(want)})
    print("{}")
    sys.exit(0)
if action == "sessions":
    import urllib.request
    data = json.load(urllib.request.urlopen(url + "/moto-api/data.json"))
    print(json.dumps(sorted({r["role_arn"] for r in data.get("sts", {}).get("AssumedRole", [])})))
    sys.exit(0)
if action == "whoami":
    # moto picks the service by the Authorization header's credential scope and does not
    # read a presigned URL's: the URL's own credential, signed headers and signature go in
    # the header form SigV4 also allows (moto does not check signatures either way).
    import urllib.parse, urllib.request
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(sys.argv[3]).query))
    auth = (f"{q['X-Amz-Algorithm']} Credential={q['X-Amz-Credential']}, "
            f"SignedHeaders={q['X-Amz-SignedHeaders']}, Signature={q['X-Amz-Signature']}")
    request = urllib.request.Request(sys.argv[3], headers={"x-k8s-aws-id": sys.argv[4],
                                                           "Authorization": auth})
    with urllib.request.urlopen(request) as answer:
        print(json.dumps({"status": answer.status, "body": answer.read().decode()}))
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
    "roles": {}, "clusters": {}, "kmsKeys": [],
}
for k in kms.list_keys()["Keys"]:
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=k["KeyId"])["Tags"]}
    if tags.get("wayfinder.dev/uid") == uid:
        m = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        if m["KeyState"] != "PendingDeletion":
            out["kmsKeys"].append(m["Arn"])
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
                             "secretsKeys": [e["provider"]["keyArn"] for e in c.get("encryptionConfig", [])
                                             if "secrets" in e.get("resources", [])],
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

/// What [`INSPECT`] answers when nothing of a cluster is left (its KMS key only pending
/// deletion).
fn nothing_left() -> Value {
    serde_json::json!({"vpcs": [], "subnets": [], "internetGateways": 0, "routeTables": [], "natGateways": 0, "elasticIps": 0, "roles": {}, "clusters": {}, "kmsKeys": []})
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

/// The web identity token the server exchanges for the fixture's CloudIdentity role (the
/// cloud access `aws-nonprod` names `cloudidentity-aws`): moto takes any token, and this one
/// must never be seen again either.
const WEB_IDENTITY_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.wf-projected-sa-token-never-logged.c2ln";

/// The file holding [`WEB_IDENTITY_TOKEN`], as a projected service account token would be.
fn web_identity_token_file() -> &'static str {
    static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wf-aws-acceptance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("web-identity-token");
        std::fs::write(&file, WEB_IDENTITY_TOKEN).unwrap();
        file.to_string_lossy().into_owned()
    })
}

/// [`AWS_ENV`] and the web identity token's file.
fn aws_env() -> Vec<(&'static str, &'static str)> {
    let mut env = AWS_ENV.to_vec();
    env.push(("AWS_WEB_IDENTITY_TOKEN_FILE", web_identity_token_file()));
    env
}

fn aws_server(moto: &MotoServer) -> Server {
    let args = aws_args(moto);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with_args_env(&args, &aws_env())
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
    // The server's base credentials came from the cloud access's CloudIdentity (its role,
    // assumed with the web identity token), then it assumed the ClusterManager role.
    assert_eq!(
        boto(&moto, &["sessions"]),
        serde_json::json!([
            format!(
                "arn:aws:iam::{}:role/wayfinder-identity",
                moto::DEFAULT_ACCOUNT
            ),
            format!(
                "arn:aws:iam::{}:role/wf-ClusterManager",
                moto::DEFAULT_ACCOUNT
            ),
        ])
    );
    let eks = &got["clusters"][EKS_NAME];
    assert_eq!(eks["version"], "1.32", "{got}");
    // Kubernetes secrets are encrypted with the cluster's own KMS key.
    assert_eq!(got["kmsKeys"].as_array().map(Vec::len), Some(1), "{got}");
    assert_eq!(eks["secretsKeys"], got["kmsKeys"], "{got}");
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
            WEB_IDENTITY_TOKEN,
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
        nothing_left(),
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
    let nothing = nothing_left();
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
        server.kill_and_restart_with(&args, &aws_env());
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
    server.kill_and_restart_with(&args, &aws_env());
    let api = server.client();
    wait_cluster(&api, "pay", "payments-dev", Duration::from_secs(120), |c| {
        c.is_none()
    });
    assert_eq!(boto(&moto, &["inspect", &uid]), nothing_left());
}

/// What the Terraform configuration adds to read the EKS cluster's credentials: the
/// ephemeral resource, handed to a provisioner (as a `kubernetes` provider block would take
/// it) that writes what it received where the test reads it.
const CREDENTIALS: &str = r#"
ephemeral "wayfinder_cluster_credentials" "dev" {
  cluster = wayfinder_cluster.dev.id
  ttl     = "2h"
}

resource "terraform_data" "use" {
  provisioner "local-exec" {
    command = "printf '%s' \"$KUBECONFIG_DATA\" > received-kubeconfig.yaml && printf '%s\n%s\n%s\n%s' \"$TOKEN\" \"$ENDPOINT\" \"$CA\" \"$TTL\" > received.txt"
    environment = {
      KUBECONFIG_DATA = ephemeral.wayfinder_cluster_credentials.dev.kubeconfig
      TOKEN           = ephemeral.wayfinder_cluster_credentials.dev.token
      ENDPOINT        = ephemeral.wayfinder_cluster_credentials.dev.endpoint
      CA              = coalesce(ephemeral.wayfinder_cluster_credentials.dev.cluster_ca_certificate, "none")
      TTL             = ephemeral.wayfinder_cluster_credentials.dev.granted_ttl
    }
  }
}
"#;

#[test]
fn eks_credentials_reach_terraform_as_moto_s_endpoint_and_ca_with_a_presigned_token_and_leak_nowhere()
 {
    require_terraform_version!(EPHEMERAL_RESOURCES);
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let server = aws_server(&moto);
    let api = server.client();
    publish_platform(&api);

    // Apply the EKS cluster through the AWS driver, then the credentials (Terraform opens
    // the ephemeral resource once the cluster's id is known), with Terraform's trace log on.
    let mut wd = Workdir::new(&server);
    wd.set_env("TF_LOG", "trace");
    wd.set_env("TF_LOG_PATH", "terraform.log");
    wd.write_config(&config(4, None));
    wd.init();
    assert_no_crash(&wd.apply());
    let object = api.get(&cluster_path("pay", "payments-dev")).body;
    assert_eq!(cluster_phase(Some(&object)), Some("Success"), "{object}");
    let uid = object["metadata"]["uid"].as_str().unwrap().to_string();
    wd.write_config(&format!("{}{CREDENTIALS}", config(4, None)));
    let applied = wd.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert_no_crash(&applied);

    // What the consumer received: moto's endpoint and CA for the cluster, and a token for
    // EKS's authenticator, capped at its 15 minutes.
    let got = boto(&moto, &["inspect", &uid]);
    let eks = &got["clusters"][EKS_NAME];
    let received = wd.read_file("received.txt");
    let lines: Vec<&str> = received.lines().collect();
    let (token, endpoint, ca, ttl) = (lines[0], lines[1], lines[2], lines[3]);
    assert_eq!(endpoint, eks["endpoint"].as_str().unwrap(), "{received}");
    assert_eq!(ttl, "15m0s", "capped at EKS's 15 minutes: {received}");
    assert_ne!(ca, "none", "the CA reaches Terraform: {received}");
    let kubeconfig = wd.read_file("received-kubeconfig.yaml");
    for part in [
        format!("server: \"{endpoint}\""),
        format!("certificate-authority-data: {}", eks["ca"]),
        format!("token: \"{token}\""),
    ] {
        assert!(kubeconfig.contains(&part), "{part} in {kubeconfig}");
    }

    // The token is `k8s-aws-v1.` + a presigned STS GetCallerIdentity whose signature covers
    // the cluster's name header; moto answers it as the ClusterManager role's session (the
    // access key the URL carries).
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
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Expires=900",
        "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        "X-Amz-Security-Token=",
        "X-Amz-Signature=",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    let answer = boto(&moto, &["whoami", &url, EKS_NAME]);
    assert_eq!(answer["status"], 200, "{answer}");
    let body = answer["body"].as_str().unwrap();
    assert!(
        body.contains(&format!(
            "arn:aws:sts::{}:assumed-role/wf-ClusterManager/",
            moto::DEFAULT_ACCOUNT
        )),
        "moto answers the token's request as the ClusterManager role: {body}"
    );

    // Neither the token (nor its signature) nor any AWS secret is in the state, Terraform's
    // output or trace log, or the server's trace log.
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap().to_string();
    let state = wd.read_file("terraform.tfstate");
    let tf_log = wd.read_file("terraform.log");
    assert!(
        tf_log.contains("wayfinder_cluster_credentials"),
        "the trace log is Terraform's"
    );
    let log = server.log();
    for (what, text) in [
        ("the state", &state),
        ("terraform's output", &applied.combined()),
        ("terraform's trace log", &tf_log),
        ("the server's log", &log),
    ] {
        for secret in [
            BASE_SECRET,
            WEB_IDENTITY_TOKEN,
            "SecretAccessKey",
            "FQoGZXIvYXdzE",
            "k8s-aws-v1.",
            token,
            signature.as_str(),
        ] {
            assert!(!text.contains(secret), "{what} holds {secret:?}");
        }
    }
    assert_no_crash(&wd.destroy());
    assert_eq!(boto(&moto, &["inspect", &uid]), nothing_left());
}
