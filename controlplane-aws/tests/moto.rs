//! The AWS driver against a real moto server (installed by `cargo xtask moto`; these tests
//! fail without it unless `WAYFINDER_SKIP_MOTO=1`). Each test starts its own moto.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use wayfinder_aws::kms::KmsClient;
use wayfinder_aws::moto::{DEFAULT_ACCOUNT, MotoServer};
use wayfinder_aws::query::{QueryClient, QueryService};
use wayfinder_aws::{Access, AwsDriver, EksCluster, Identity, TAG_UID, Target};
use wayfinder_model::compute::{Autoscaling, NodePool, Spot, SpotEks, Taint};
use wayfinder_model::networking::SubnetLayout;

const REGION: &str = "eu-west-2";

fn access() -> Access {
    Access {
        config: "admin/aws-nonprod".into(),
        account: Some(DEFAULT_ACCOUNT.into()),
        cluster_manager_role: Some(format!(
            "arn:aws:iam::{DEFAULT_ACCOUNT}:role/wf-ClusterManager"
        )),
        identity: None,
    }
}

fn pool(name: &str, machine: &str, size: i64) -> NodePool {
    NodePool {
        logical_name: name.into(),
        machine: machine.into(),
        size: Some(size),
        disk_size: Some(50),
        ..NodePool::default()
    }
}

fn cluster(uid: &str) -> EksCluster {
    let mut spot = pool("batch", "m6i.large", 0);
    spot.size = None;
    spot.autoscaling = Some(Autoscaling {
        enabled: Some(true),
        min_size: Some(0),
        max_size: Some(10),
    });
    spot.spot = Some(Spot {
        enabled: Some(true),
        eks: Some(SpotEks {
            additional_instance_types: Some(vec!["m5.large".into()]),
        }),
    });
    spot.taints = Some(vec![Taint {
        key: "dedicated".into(),
        value: Some("batch".into()),
        effect: "NoSchedule".into(),
    }]);
    EksCluster {
        target: Target {
            workspace: "pay".into(),
            name: "dev".into(),
            uid: uid.into(),
            region: REGION.into(),
            access: access(),
        },
        generation: 1,
        kubernetes_version: "1.32".into(),
        network: "10.0.4.0/22".into(),
        subnet_layout: SubnetLayout::default(),
        node_pools: vec![pool("general", "m6i.xlarge", 3), spot],
        authorized_master_networks: vec!["203.0.113.0/24".into()],
        secrets_encryption: true,
        control_plane_logs: vec!["api".into(), "audit".into(), "scheduler".into()],
    }
}

fn driver(moto: &MotoServer) -> AwsDriver {
    AwsDriver::new(Some(moto.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50))
}

/// What the tests look at moto with: the default account's keys.
struct Look {
    eks: aws_sdk_eks::Client,
    ec2: QueryClient,
    iam: QueryClient,
    kms: KmsClient,
}

async fn look(moto: &MotoServer) -> Look {
    let creds = SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
        "testing", "testing", None, None, "test",
    ));
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(creds.clone())
        .load()
        .await;
    let http = reqwest::Client::new();
    let service = |service, version, region: &str| QueryService {
        service,
        version,
        region: region.into(),
        url: format!("{}/", moto.url),
    };
    Look {
        eks: aws_sdk_eks::Client::new(&config),
        ec2: QueryClient::new(
            http.clone(),
            service("ec2", "2016-11-15", REGION),
            creds.clone(),
        ),
        iam: QueryClient::new(
            http.clone(),
            service("iam", "2010-05-08", "us-east-1"),
            creds.clone(),
        ),
        kms: KmsClient::new(http, REGION.into(), format!("{}/", moto.url), creds),
    }
}

impl Look {
    async fn tagged(&self, action: &str, set: &str, uid: &str) -> Vec<wayfinder_aws::xml::Element> {
        let r = self
            .ec2
            .call(
                action,
                &[
                    ("Filter.1.Name".into(), format!("tag:{TAG_UID}")),
                    ("Filter.1.Value.1".into(), uid.into()),
                ],
            )
            .await
            .unwrap();
        r.items(set).into_iter().cloned().collect()
    }

    async fn clusters(&self) -> Vec<String> {
        self.eks
            .list_clusters()
            .send()
            .await
            .unwrap()
            .clusters
            .unwrap_or_default()
    }

    async fn node_groups(&self) -> Vec<aws_sdk_eks::types::Nodegroup> {
        let mut out = Vec::new();
        for ng in self
            .eks
            .list_nodegroups()
            .cluster_name("wf-pay-dev")
            .send()
            .await
            .unwrap()
            .nodegroups
            .unwrap_or_default()
        {
            let d = self
                .eks
                .describe_nodegroup()
                .cluster_name("wf-pay-dev")
                .nodegroup_name(&ng)
                .send()
                .await
                .unwrap();
            out.push(d.nodegroup.unwrap());
        }
        out.sort_by(|a, b| a.nodegroup_name().cmp(&b.nodegroup_name()));
        out
    }

    async fn role_policies(&self, role: &str) -> Vec<String> {
        let r = self
            .iam
            .call(
                "ListAttachedRolePolicies",
                &[("RoleName".into(), role.into())],
            )
            .await
            .unwrap();
        let mut names: Vec<String> = r
            .items("AttachedPolicies")
            .iter()
            .filter_map(|p| p.text_of("PolicyName").map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// The KMS keys tagged with `uid`: (ARN, state).
    async fn keys(&self, uid: &str) -> Vec<(String, String)> {
        let listed = self
            .kms
            .call("ListKeys", &serde_json::json!({}))
            .await
            .unwrap();
        let mut out = Vec::new();
        for k in listed["Keys"].as_array().unwrap() {
            let id = k["KeyId"].as_str().unwrap();
            let tags = self
                .kms
                .call("ListResourceTags", &serde_json::json!({"KeyId": id}))
                .await
                .unwrap();
            if tags["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["TagKey"] == TAG_UID && t["TagValue"] == uid)
            {
                let m = self
                    .kms
                    .call("DescribeKey", &serde_json::json!({"KeyId": id}))
                    .await
                    .unwrap();
                let m = &m["KeyMetadata"];
                out.push((
                    m["Arn"].as_str().unwrap().to_string(),
                    m["KeyState"].as_str().unwrap().to_string(),
                ));
            }
        }
        out
    }

    async fn role_exists(&self, role: &str) -> bool {
        self.iam
            .call("GetRole", &[("RoleName".into(), role.into())])
            .await
            .is_ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_is_built_exactly_as_asked_then_deleted_leaving_nothing_tagged() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let c = cluster("uid-happy");
    let built = d.provision(&c).await.unwrap();
    assert!(
        built.arn.starts_with(&format!(
            "arn:aws:eks:{REGION}:{DEFAULT_ACCOUNT}:cluster/wf-pay-dev"
        )),
        "{built:?}"
    );
    assert!(built.endpoint.starts_with("https://"), "{built:?}");
    assert_eq!(
        built.changes,
        ["node group general created", "node group batch created"]
    );

    let l = look(&moto).await;
    let vpcs = l.tagged("DescribeVpcs", "vpcSet", "uid-happy").await;
    assert_eq!(vpcs.len(), 1);
    assert_eq!(vpcs[0].text_of("cidrBlock"), Some("10.0.4.0/22"));
    let mut subnets: Vec<(String, String)> = l
        .tagged("DescribeSubnets", "subnetSet", "uid-happy")
        .await
        .iter()
        .map(|s| {
            (
                s.text_of("cidrBlock").unwrap().to_string(),
                s.text_of("availabilityZone").unwrap().to_string(),
            )
        })
        .collect();
    subnets.sort();
    assert_eq!(
        subnets,
        [
            ("10.0.4.0/23".to_string(), "eu-west-2a".to_string()),
            ("10.0.6.0/23".to_string(), "eu-west-2b".to_string())
        ]
    );
    assert_eq!(
        l.role_policies("wf-pay-dev-cluster").await,
        ["AmazonEKSClusterPolicy"]
    );
    assert_eq!(
        l.role_policies("wf-pay-dev-node").await,
        [
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy"
        ]
    );
    assert_eq!(l.clusters().await, ["wf-pay-dev"]);
    let eks = l
        .eks
        .describe_cluster()
        .name("wf-pay-dev")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(eks.version(), Some("1.32"));
    assert_eq!(
        eks.tags().unwrap().get(TAG_UID).map(String::as_str),
        Some("uid-happy")
    );
    assert!(
        eks.role_arn()
            .unwrap()
            .ends_with(":role/wf-pay-dev-cluster")
    );
    // Control-plane logging as the plan asks: these on, the rest off.
    let setups: Vec<(bool, Vec<&str>)> = eks
        .logging()
        .unwrap()
        .cluster_logging()
        .iter()
        .map(|l| {
            (
                l.enabled().unwrap(),
                l.types().iter().map(|t| t.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        setups,
        [
            (true, vec!["api", "audit", "scheduler"]),
            (false, vec!["authenticator", "controllerManager"])
        ]
    );
    assert_eq!(eks.resources_vpc_config().unwrap().subnet_ids().len(), 2);
    assert_eq!(
        eks.resources_vpc_config().unwrap().public_access_cidrs(),
        ["203.0.113.0/24"]
    );

    let groups = l.node_groups().await;
    assert_eq!(groups.len(), 2);
    let (batch, general) = (&groups[0], &groups[1]);
    assert_eq!(general.instance_types(), ["m6i.xlarge"]);
    assert_eq!(
        general.capacity_type().map(|c| c.as_str()),
        Some("ON_DEMAND")
    );
    let sc = general.scaling_config().unwrap();
    assert_eq!(
        (sc.min_size(), sc.max_size(), sc.desired_size()),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(general.disk_size(), Some(50));
    assert_eq!(batch.instance_types(), ["m6i.large", "m5.large"]);
    assert_eq!(batch.capacity_type().map(|c| c.as_str()), Some("SPOT"));
    let sc = batch.scaling_config().unwrap();
    assert_eq!(
        (sc.min_size(), sc.max_size(), sc.desired_size()),
        (Some(0), Some(10), Some(0))
    );
    assert_eq!(batch.taints().len(), 1);
    assert_eq!(
        batch.taints()[0].effect().map(|e| e.as_str()),
        Some("NO_SCHEDULE")
    );
    assert_eq!(
        batch
            .labels()
            .unwrap()
            .get("wayfinder.dev/pool")
            .map(String::as_str),
        Some("batch")
    );

    // Provisioning again changes nothing and makes no duplicate.
    let again = d.provision(&c).await.unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(
        l.tagged("DescribeVpcs", "vpcSet", "uid-happy").await.len(),
        1
    );
    assert_eq!(
        l.tagged("DescribeSubnets", "subnetSet", "uid-happy")
            .await
            .len(),
        2
    );
    assert_eq!(l.clusters().await.len(), 1);
    assert_eq!(l.node_groups().await.len(), 2);

    // Delete, twice: nothing tagged remains.
    d.delete(&c.target).await.unwrap();
    d.delete(&c.target).await.unwrap();
    assert!(l.clusters().await.is_empty());
    assert!(
        l.tagged("DescribeVpcs", "vpcSet", "uid-happy")
            .await
            .is_empty()
    );
    assert!(
        l.tagged("DescribeSubnets", "subnetSet", "uid-happy")
            .await
            .is_empty()
    );
    assert!(!l.role_exists("wf-pay-dev-cluster").await);
    assert!(!l.role_exists("wf-pay-dev-node").await);
    assert_eq!(d.status(&c.target).await, wayfinder_aws::Observed::Absent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_scale_in_place_are_added_and_removed_and_drift_is_put_back() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let mut c = cluster("uid-scale");
    d.provision(&c).await.unwrap();
    let l = look(&moto).await;

    // Scale the general pool; remove batch, add gpu.
    c.generation = 2;
    c.node_pools[0].size = Some(5);
    c.node_pools.truncate(1);
    c.node_pools.push(pool("gpu", "g5.xlarge", 1));
    let built = d.provision(&c).await.unwrap();
    assert_eq!(
        built.changes,
        [
            "node group general: scaling 3/3/3 → 5/5/5 (min/max/desired)",
            "node group gpu created",
            "node group batch deleted (its pool was removed)"
        ]
    );
    let names: Vec<String> = l
        .node_groups()
        .await
        .iter()
        .map(|g| g.nodegroup_name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["general", "gpu"]);

    // Someone scales a node group behind the driver's back: the next run puts it back.
    l.eks
        .update_nodegroup_config()
        .cluster_name("wf-pay-dev")
        .nodegroup_name("general")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(9)
                .desired_size(1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let fixed = d.provision(&c).await.unwrap();
    assert_eq!(
        fixed.changes,
        ["node group general: scaling 1/9/1 → 5/5/5 (min/max/desired)"]
    );
    let sc = l.node_groups().await[0].scaling_config().cloned().unwrap();
    assert_eq!(
        (sc.min_size(), sc.max_size(), sc.desired_size()),
        (Some(5), Some(5), Some(5))
    );
    d.delete(&c.target).await.unwrap();
    assert!(l.clusters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autoscaled_pool_keeps_the_desired_size_the_autoscaler_chose() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let c = cluster("uid-auto");
    d.provision(&c).await.unwrap();
    let l = look(&moto).await;
    // The autoscaler grows the batch pool to 4 (within 0..10).
    l.eks
        .update_nodegroup_config()
        .cluster_name("wf-pay-dev")
        .nodegroup_name("batch")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(0)
                .max_size(10)
                .desired_size(4)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let again = d.provision(&c).await.unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    let batch = &l.node_groups().await[0];
    assert_eq!(batch.scaling_config().unwrap().desired_size(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_network_converges_with_no_duplicate() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let c = cluster("uid-crash");
    let l = look(&moto).await;
    // Stop the first run at each step in turn (dropping its future, as a killed server
    // would), then run to the end: one of everything.
    for step in 1..=6 {
        let run = d.provision(&c);
        let _ = tokio::time::timeout(Duration::from_millis(150 * step), run).await;
    }
    d.provision(&c).await.unwrap();
    assert_eq!(
        l.tagged("DescribeVpcs", "vpcSet", "uid-crash").await.len(),
        1
    );
    assert_eq!(
        l.tagged("DescribeSubnets", "subnetSet", "uid-crash")
            .await
            .len(),
        2
    );
    assert_eq!(l.clusters().await.len(), 1);
    assert_eq!(l.node_groups().await.len(), 2);
    assert_eq!(l.keys("uid-crash").await.len(), 1, "one KMS key");
    d.delete(&c.target).await.unwrap();
    assert!(
        l.tagged("DescribeVpcs", "vpcSet", "uid-crash")
            .await
            .is_empty()
    );
}

/// The network of a plan with 3 zones, 3 private and 3 public subnets and one NAT gateway,
/// as moto holds it: (subnets as (cidr, zone, tier)), internet gateways as their VPCs,
/// route tables as (name, default route's target kind, subnets associated), NAT gateways as
/// (subnet, has an elastic IP), elastic IPs.
async fn network_of(l: &Look, uid: &str) -> serde_json::Value {
    let subnets: Vec<(String, String, String)> = l
        .tagged("DescribeSubnets", "subnetSet", uid)
        .await
        .iter()
        .map(|s| {
            (
                s.text_of("cidrBlock").unwrap().to_string(),
                s.text_of("availabilityZone").unwrap().to_string(),
                s.tag("wayfinder.dev/tier").unwrap_or("-").to_string(),
            )
        })
        .collect();
    let id_to_cidr: std::collections::BTreeMap<String, String> = l
        .tagged("DescribeSubnets", "subnetSet", uid)
        .await
        .iter()
        .map(|s| {
            (
                s.text_of("subnetId").unwrap().to_string(),
                s.text_of("cidrBlock").unwrap().to_string(),
            )
        })
        .collect();
    let igws: Vec<usize> = l
        .tagged("DescribeInternetGateways", "internetGatewaySet", uid)
        .await
        .iter()
        .map(|g| g.items("attachmentSet").len())
        .collect();
    let mut tables: Vec<(String, String, Vec<String>)> = l
        .tagged("DescribeRouteTables", "routeTableSet", uid)
        .await
        .iter()
        .map(|rt| {
            let default = rt
                .items("routeSet")
                .iter()
                .find(|r| r.text_of("destinationCidrBlock") == Some("0.0.0.0/0"))
                .map(|r| {
                    if r.text_of("natGatewayId").is_some() {
                        "nat"
                    } else if r
                        .text_of("gatewayId")
                        .is_some_and(|g| g.starts_with("igw-"))
                    {
                        "igw"
                    } else {
                        "?"
                    }
                })
                .unwrap_or("none")
                .to_string();
            let mut assoc: Vec<String> = rt
                .items("associationSet")
                .iter()
                .filter_map(|a| a.text_of("subnetId"))
                .map(|s| id_to_cidr.get(s).cloned().unwrap_or_default())
                .collect();
            assoc.sort();
            (
                rt.tag("wayfinder.dev/route-table").unwrap().to_string(),
                default,
                assoc,
            )
        })
        .collect();
    tables.sort();
    let nats: Vec<(String, bool)> = l
        .tagged("DescribeNatGateways", "natGatewaySet", uid)
        .await
        .iter()
        .filter(|n| n.tag(TAG_UID) == Some(uid) && n.text_of("state") != Some("deleted"))
        .map(|n| {
            (
                id_to_cidr
                    .get(n.text_of("subnetId").unwrap())
                    .cloned()
                    .unwrap_or_default(),
                n.find("allocationId").is_some(),
            )
        })
        .collect();
    let eips = l
        .tagged("DescribeAddresses", "addressesSet", uid)
        .await
        .len();
    serde_json::json!({"subnets": subnets, "igws": igws, "tables": tables, "nats": nats, "eips": eips})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_follows_the_plan_s_zones_layout_and_nat_then_goes_in_reverse() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let mut c = cluster("uid-net");
    c.subnet_layout = SubnetLayout {
        zones: 3,
        private: 3,
        public: 3,
        nat_gateways: 1,
    };
    let l = look(&moto).await;
    d.provision(&c).await.unwrap();
    // Again: found, not made twice.
    d.provision(&c).await.unwrap();
    let want = serde_json::json!({
        "subnets": [
            ["10.0.4.0/25", "eu-west-2a", "private"],
            ["10.0.4.128/25", "eu-west-2b", "private"],
            ["10.0.5.0/25", "eu-west-2c", "private"],
            ["10.0.5.128/25", "eu-west-2a", "public"],
            ["10.0.6.0/25", "eu-west-2b", "public"],
            ["10.0.6.128/25", "eu-west-2c", "public"],
        ],
        "igws": [1],
        "tables": [
            ["private-0", "nat", ["10.0.4.0/25", "10.0.4.128/25", "10.0.5.0/25"]],
            ["public", "igw", ["10.0.5.128/25", "10.0.6.0/25", "10.0.6.128/25"]],
        ],
        "nats": [["10.0.5.128/25", true]],
        "eips": 1,
    });
    let mut got = network_of(&l, "uid-net").await;
    got["subnets"]
        .as_array_mut()
        .unwrap()
        .sort_by_key(|s| s[0].as_str().unwrap().to_string());
    assert_eq!(got, want, "{got:#}");

    d.delete(&c.target).await.unwrap();
    assert_eq!(
        network_of(&l, "uid-net").await,
        serde_json::json!({"subnets": [], "igws": [], "tables": [], "nats": [], "eips": 0}),
        "nothing tagged is left"
    );
    assert!(
        l.tagged("DescribeVpcs", "vpcSet", "uid-net")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_the_same_name_with_another_uid_is_reported_not_adopted() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    d.provision(&cluster("uid-first")).await.unwrap();
    let e = d.provision(&cluster("uid-second")).await.unwrap_err();
    assert_eq!(e.reason, "NameInUse", "{e}");
    assert!(e.message.contains("wf-pay-dev"), "{e}");
    // Deleting the second leaves the first's cluster alone.
    d.delete(&cluster("uid-second").target).await.unwrap();
    assert_eq!(look(&moto).await.clusters().await, ["wf-pay-dev"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_account_or_a_missing_role_is_cloud_access_denied_naming_the_cloud_access() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let mut c = cluster("uid-denied");
    c.target.access.account = Some("111122223333".into());
    let e = d.provision(&c).await.unwrap_err();
    assert_eq!(e.reason, "CloudAccessDenied", "{e}");
    assert!(
        e.message
            .contains("cloud access admin/aws-nonprod is for AWS account 111122223333")
            && e.message
                .contains(&format!("acts in account {DEFAULT_ACCOUNT}")),
        "{e}"
    );
    c.target.access.cluster_manager_role = None;
    let e = d.provision(&c).await.unwrap_err();
    assert_eq!(e.reason, "CloudAccessDenied", "{e}");
    assert!(
        e.message
            .contains("cloud access admin/aws-nonprod grants no ClusterManager role"),
        "{e}"
    );
    // Nothing was built.
    assert!(
        look(&moto)
            .await
            .tagged("DescribeVpcs", "vpcSet", "uid-denied")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_in_another_account_builds_there() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let mut c = cluster("uid-other");
    c.target.access.account = Some("111122223333".into());
    c.target.access.cluster_manager_role =
        Some("arn:aws:iam::111122223333:role/wf-ClusterManager".into());
    let built = d.provision(&c).await.unwrap();
    assert!(
        built.arn.contains(":111122223333:cluster/wf-pay-dev"),
        "{built:?}"
    );
    // The default account sees nothing.
    assert!(look(&moto).await.clusters().await.is_empty());
    d.delete(&c.target).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_instance_type_is_refused_with_the_clouds_code_before_anything_is_built() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let mut c = cluster("uid-bogus");
    c.node_pools[0].machine = "m6i.bogus".into();
    let e = d.provision(&c).await.unwrap_err();
    assert_eq!(e.reason, "InvalidParameter", "{e}");
    assert!(
        e.message.contains("InvalidInstanceType") && e.message.contains("m6i.bogus"),
        "{e}"
    );
    assert!(
        look(&moto)
            .await
            .tagged("DescribeVpcs", "vpcSet", "uid-bogus")
            .await
            .is_empty()
    );
}

#[test]
fn an_eks_token_is_a_presigned_get_caller_identity_with_the_cluster_header_signed() {
    use base64::Engine as _;
    let sts = "https://sts.eu-west-2.amazonaws.com/";
    let token = wayfinder_aws::eks_token(
        "wf-pay-dev",
        REGION,
        sts,
        aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
        Duration::from_secs(60),
        std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    )
    .unwrap();
    let encoded = token
        .strip_prefix("k8s-aws-v1.")
        .expect("the EKS token prefix");
    assert!(!encoded.contains('='), "unpadded base64url: {token}");
    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    assert!(
        url.starts_with(
            "https://sts.eu-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ),
        "{url}"
    );
    for part in [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=AKIDEXAMPLE%2F20270115%2Feu-west-2%2Fsts%2Faws4_request",
        "X-Amz-Date=20270115T080000Z",
        "X-Amz-Expires=60",
        "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        "X-Amz-Signature=",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    // The secret never appears; the token is deterministic for the same inputs.
    assert!(!url.contains("secret"), "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_of_a_built_cluster_carry_its_endpoint_ca_and_a_presigned_caller_identity_token()
 {
    use base64::Engine as _;
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let c = cluster("uid-creds");
    d.provision(&c).await.unwrap();
    let creds = d
        .credentials(&c.target, Duration::from_secs(3600))
        .await
        .unwrap();
    // The token lives at most 15 minutes, whatever the TTL asked for.
    assert_eq!(creds.expires_in, Duration::from_secs(900));
    assert!(
        !format!("{creds:?}").contains(&creds.token),
        "Debug hides the token"
    );
    let described = look(&moto)
        .await
        .eks
        .describe_cluster()
        .name("wf-pay-dev")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(Some(creds.endpoint.as_str()), described.endpoint());
    assert_eq!(
        creds.certificate_authority.as_deref(),
        described.certificate_authority().and_then(|a| a.data())
    );
    assert!(creds.certificate_authority.is_some());

    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(creds.token.strip_prefix("k8s-aws-v1.").unwrap())
            .unwrap(),
    )
    .unwrap();
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
        "%2Feu-west-2%2Fsts%2Faws4_request",
        "X-Amz-Security-Token=",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    // Signed with the ClusterManager role's session, not the base key.
    assert!(!url.contains("X-Amz-Credential=testing"), "{url}");

    // What EKS's authenticator does with it: GET the URL with the cluster header.
    let answer = reqwest::Client::new()
        .get(&url)
        .header("x-k8s-aws-id", "wf-pay-dev")
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body = answer.text().await.unwrap();
    // moto 5.2.6 routes a request by the credential scope of its `Authorization` header; a
    // presigned one has none, so moto takes it for S3 and answers ListBuckets. It cannot
    // verify the token as EKS would; should a later moto answer as STS, the caller must be
    // the ClusterManager role's session.
    assert_eq!(status, 200, "{body}");
    if body.contains("GetCallerIdentityResult") {
        assert!(body.contains("assumed-role/wf-ClusterManager/"), "{body}");
    } else {
        assert!(
            body.contains("<ListAllMyBucketsResult"),
            "moto answered the presigned GetCallerIdentity neither as STS nor as S3: {body}"
        );
    }
}

/// A small HTTP proxy in front of moto that shows what moto cannot: a cluster `CREATING` for
/// its first `creating` DescribeCluster answers, or `FAILED` for all of them, throttled EC2
/// answers, a slow delete (a cluster `DELETING` after DeleteCluster, a VPC refused with
/// `DependencyViolation` while EKS's network interfaces would linger), or a role that cannot
/// be assumed (moto lets anyone assume any role).
mod faults {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    pub struct Proxy {
        pub url: String,
        /// DescribeCluster answers seen (under `Throttled`: EC2 calls seen; under
        /// `AccessDenied`: AssumeRole calls refused).
        pub describes: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// What the proxy says a cluster's status is.
    #[derive(Clone, Copy)]
    pub enum Fault {
        /// `CREATING` for the first N DescribeCluster answers.
        Creating(usize),
        /// `FAILED` always.
        Failed,
        /// EC2 answers its first N calls with 503 `RequestLimitExceeded` (throttled).
        Throttled(usize),
        /// After DeleteCluster, the next N DescribeCluster answers are the cluster
        /// `DELETING` (moto deletes at once); the first N DeleteVpc are refused with
        /// `DependencyViolation`.
        SlowDelete(usize),
        /// STS refuses every `AssumeRole` as AWS does when the role's trust policy does not
        /// name the caller: 403 `AccessDenied` (`AssumeRoleWithWebIdentity` passes).
        AccessDenied,
    }

    /// What a slow delete remembers: the deleted cluster (DeleteCluster's answer), and how
    /// many `DELETING` answers and VPC refusals were given.
    #[derive(Default)]
    struct Deleting {
        cluster: Mutex<Option<String>>,
        deleting: AtomicUsize,
        refused: AtomicUsize,
    }

    pub async fn start(upstream: String, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let describes = Arc::new(AtomicUsize::new(0));
        let seen = describes.clone();
        let deleting = Arc::new(Deleting::default());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let (http, upstream, seen, deleting) = (
                    http.clone(),
                    upstream.clone(),
                    seen.clone(),
                    deleting.clone(),
                );
                tokio::spawn(async move {
                    let _ = serve(conn, &http, &upstream, &seen, &deleting, fault).await;
                });
            }
        });
        Proxy {
            url,
            describes,
            task,
        }
    }

    async fn serve(
        mut conn: TcpStream,
        http: &reqwest::Client,
        upstream: &str,
        seen: &AtomicUsize,
        deleting: &Deleting,
        fault: Fault,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split_whitespace();
        let (method, path) = (
            first.next().unwrap_or("GET").to_string(),
            first.next().unwrap_or("/").to_string(),
        );
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..].to_vec();
        if let Fault::AccessDenied = fault {
            let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
            let field = |name: &str| {
                form.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            if field("Action") == "AssumeRole" {
                seen.fetch_add(1, Ordering::SeqCst);
                // STS's own error shape (Query protocol).
                let text = format!(
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::{}:user/wayfinder-server is not authorized to perform: sts:AssumeRole on resource: {}</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>",
                    super::DEFAULT_ACCOUNT,
                    field("RoleArn")
                );
                let reply = format!(
                    "HTTP/1.1 403 Forbidden\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                conn.write_all(reply.as_bytes()).await?;
                return conn.shutdown().await;
            }
        }
        if let Fault::Throttled(first) = fault {
            let ec2 = String::from_utf8_lossy(&body).contains("Version=2016-11-15");
            if ec2 && seen.fetch_add(1, Ordering::SeqCst) < first {
                let text = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>";
                let reply = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                conn.write_all(reply.as_bytes()).await?;
                return conn.shutdown().await;
            }
        }
        // DescribeCluster: GET /clusters/NAME.
        let describe =
            method == "GET" && path.starts_with("/clusters/") && !path.contains("/node-groups");
        if let Fault::SlowDelete(first) = fault {
            let text = String::from_utf8_lossy(&body);
            if text.contains("Action=DeleteVpc")
                && deleting.refused.fetch_add(1, Ordering::SeqCst) < first
            {
                let text = "<Response><Errors><Error><Code>DependencyViolation</Code><Message>The vpc has dependencies and cannot be deleted.</Message></Error></Errors></Response>";
                let reply = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                conn.write_all(reply.as_bytes()).await?;
                return conn.shutdown().await;
            }
            let gone = deleting.cluster.lock().unwrap().clone();
            if let Some(gone) = gone.filter(|_| describe)
                && deleting.deleting.fetch_add(1, Ordering::SeqCst) < first
            {
                seen.fetch_add(1, Ordering::SeqCst);
                let text = gone.replace("\"status\": \"ACTIVE\"", "\"status\": \"DELETING\"");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                conn.write_all(reply.as_bytes()).await?;
                return conn.shutdown().await;
            }
        }
        let mut request = http.request(method.parse().unwrap(), format!("{upstream}{path}"));
        for (k, v) in &headers {
            if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                request = request.header(k, v);
            }
        }
        let answer = request
            .body(body)
            .send()
            .await
            .map_err(std::io::Error::other)?;
        let status = answer.status();
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        let mut text = answer.text().await.map_err(std::io::Error::other)?;
        let delete_cluster =
            method == "DELETE" && path.starts_with("/clusters/") && !path.contains("/node-groups");
        if matches!(fault, Fault::SlowDelete(_)) && delete_cluster && status.is_success() {
            *deleting.cluster.lock().unwrap() = Some(text.clone());
        }
        if describe && status.is_success() {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let replaced = match fault {
                Fault::Creating(first) if n < first => Some("CREATING"),
                Fault::Failed => Some("FAILED"),
                Fault::Creating(_)
                | Fault::Throttled(_)
                | Fault::SlowDelete(_)
                | Fault::AccessDenied => None,
            };
            if let Some(to) = replaced {
                text = text.replace("\"status\": \"ACTIVE\"", &format!("\"status\": \"{to}\""));
            }
        }
        let reply = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            text.len()
        );
        conn.write_all(reply.as_bytes()).await?;
        conn.shutdown().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_still_creating_is_waited_for_and_a_failed_one_is_reported() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = faults::start(moto.url.clone(), faults::Fault::Creating(3)).await;
    let d = AwsDriver::new(Some(proxy.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50));
    let c = cluster("uid-creating");
    d.provision(&c).await.unwrap();
    // Looked up before creating, then polled through three CREATING answers to ACTIVE.
    assert!(
        proxy.describes.load(std::sync::atomic::Ordering::SeqCst) >= 4,
        "describes: {:?}",
        proxy.describes
    );
    d.delete(&c.target).await.unwrap();

    let failing = faults::start(moto.url.clone(), faults::Fault::Failed).await;
    let d = AwsDriver::new(Some(failing.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50));
    let c = cluster("uid-failed");
    let e = d.provision(&c).await.unwrap_err();
    assert_eq!(e.reason, "ProvisioningFailed", "{e}");
    assert!(
        e.message.contains("EKS cluster wf-pay-dev is FAILED"),
        "{e}"
    );
    assert_eq!(
        d.status(&c.target).await,
        wayfinder_aws::Observed::Failed(wayfinder_aws::Failure {
            reason: "ProvisioningFailed".into(),
            message: "EKS cluster wf-pay-dev is FAILED".into()
        })
    );
    d.delete(&c.target).await.unwrap();
    assert!(look(&moto).await.clusters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_ec2_answers_are_retried_with_back_off() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    // Three throttled answers in a row: the first call is tried a fourth time and succeeds.
    let proxy = faults::start(moto.url.clone(), faults::Fault::Throttled(3)).await;
    let d = AwsDriver::new(Some(proxy.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50));
    let c = cluster("uid-throttled");
    d.provision(&c).await.unwrap();
    assert!(proxy.describes.load(std::sync::atomic::Ordering::SeqCst) > 3);
    d.delete(&c.target).await.unwrap();

    // Throttled past the retries: the cloud's code reaches the reason's message.
    let proxy = faults::start(moto.url.clone(), faults::Fault::Throttled(100)).await;
    let d = AwsDriver::new(Some(proxy.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50));
    let e = d.provision(&cluster("uid-throttled-2")).await.unwrap_err();
    assert_eq!(e.reason, "ProvisioningFailed", "{e}");
    assert!(
        e.message
            .contains("RequestLimitExceeded: Request limit exceeded."),
        "{e}"
    );
    assert_eq!(
        proxy.describes.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "four attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_encrypted_with_the_cluster_s_own_kms_key_which_destroy_schedules_for_deletion()
{
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let d = driver(&moto);
    let l = look(&moto).await;
    let c = cluster("uid-kms");
    // A run stopped after it made the key but before it named it (its alias): the next run
    // finds the key by its tag and makes no second one.
    let orphan = l
        .kms
        .call(
            "CreateKey",
            &serde_json::json!({"Tags": [{"TagKey": TAG_UID, "TagValue": "uid-kms"}]}),
        )
        .await
        .unwrap();
    let orphan = orphan["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    d.provision(&c).await.unwrap();
    d.provision(&c).await.unwrap();
    assert_eq!(
        l.keys("uid-kms").await,
        [(orphan.clone(), "Enabled".to_string())],
        "the one key, adopted"
    );
    let alias = l
        .kms
        .call(
            "DescribeKey",
            &serde_json::json!({"KeyId": wayfinder_aws::secrets_key_alias(&c.target)}),
        )
        .await
        .unwrap();
    assert_eq!(alias["KeyMetadata"]["Arn"], orphan.as_str());

    // EKS has the encryption config: the cluster's secrets under that key.
    let eks = l
        .eks
        .describe_cluster()
        .name("wf-pay-dev")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    let config = eks.encryption_config();
    assert_eq!(config.len(), 1, "{config:?}");
    #[allow(deprecated)]
    let resources = config[0].resources();
    assert_eq!(resources, ["secrets"]);
    assert_eq!(
        config[0].provider().and_then(|p| p.key_arn()),
        Some(orphan.as_str())
    );

    // Destroy schedules the key's deletion (KMS's 7 days) and removes its alias; again is
    // a no-op.
    d.delete(&c.target).await.unwrap();
    d.delete(&c.target).await.unwrap();
    assert_eq!(
        l.keys("uid-kms").await,
        [(orphan, "PendingDeletion".to_string())]
    );
    let gone = l
        .kms
        .call(
            "DescribeKey",
            &serde_json::json!({"KeyId": wayfinder_aws::secrets_key_alias(&c.target)}),
        )
        .await
        .unwrap_err();
    assert_eq!(gone.code, "NotFoundException", "{gone}");

    // A plan that turns secrets encryption off: no key, no encryption config.
    let mut plain = cluster("uid-plain");
    plain.secrets_encryption = false;
    d.provision(&plain).await.unwrap();
    assert!(l.keys("uid-plain").await.is_empty());
    let eks = l
        .eks
        .describe_cluster()
        .name("wf-pay-dev")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert!(eks.encryption_config().is_empty());
    d.delete(&plain.target).await.unwrap();
}

/// The STS sessions moto has handed out, as (role ARN, session name), from its own records.
async fn assumed_roles(moto: &MotoServer) -> Vec<(String, String)> {
    let data: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", moto.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out: Vec<(String, String)> = data["sts"]["AssumedRole"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["role_arn"].as_str().unwrap_or_default().to_string(),
                r["session_name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_identity_s_role_is_assumed_with_the_web_identity_token_before_the_cluster_manager()
{
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("wf-web-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(
        &token_file,
        "eyJhbGciOiJSUzI1NiJ9.projected-service-account-token.sig\n",
    )
    .unwrap();
    let identity_role = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/wayfinder-identity");
    let mut c = cluster("uid-web");
    c.target.access.identity = Some(Identity {
        name: "admin/wayfinder".into(),
        found: true,
        role: Some(identity_role.clone()),
    });

    // Without a token file the driver does not fall back to other credentials: it says
    // what is missing, naming the identity and the cloud access.
    let none = AwsDriver::new(Some(moto.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50));
    if std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_none() {
        let e = none.provision(&c).await.unwrap_err();
        assert_eq!(e.reason, "CloudAccessDenied", "{e}");
        assert!(
            e.message.contains("cloud identity admin/wayfinder")
                && e.message.contains("admin/aws-nonprod")
                && e.message.contains("AWS_WEB_IDENTITY_TOKEN_FILE"),
            "{e}"
        );
    }
    // A token file that cannot be read: the same reason, naming the file.
    let missing = driver(&moto).with_web_identity_token_file(dir.join("absent"));
    let e = missing.provision(&c).await.unwrap_err();
    assert_eq!(e.reason, "CloudAccessDenied", "{e}");
    assert!(
        e.message.contains("cloud identity admin/wayfinder") && e.message.contains("absent"),
        "{e}"
    );
    // An identity the cloud access names but which is not stored.
    let mut unknown = c.clone();
    unknown.target.access.identity.as_mut().unwrap().found = false;
    let e = driver(&moto).provision(&unknown).await.unwrap_err();
    assert_eq!(e.reason, "CloudAccessDenied", "{e}");
    assert!(e.message.contains("which does not exist"), "{e}");
    assert!(
        look(&moto)
            .await
            .tagged("DescribeVpcs", "vpcSet", "uid-web")
            .await
            .is_empty(),
        "nothing built on any failure"
    );

    // With the token: the identity's role, then the ClusterManager role, then the build.
    let d = driver(&moto).with_web_identity_token_file(&token_file);
    let built = d.provision(&c).await.unwrap();
    assert!(
        built
            .arn
            .contains(&format!(":{DEFAULT_ACCOUNT}:cluster/wf-pay-dev"))
    );
    let sessions = assumed_roles(&moto).await;
    let roles: Vec<&str> = sessions.iter().map(|(r, _)| r.as_str()).collect();
    assert!(
        roles.contains(&identity_role.as_str())
            && roles.contains(&c.target.access.cluster_manager_role.as_deref().unwrap()),
        "both roles assumed: {sessions:?}"
    );
    d.delete(&c.target).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_delete_is_waited_for_and_a_vpc_still_in_use_is_tried_again() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = faults::start(moto.url.clone(), faults::Fault::SlowDelete(3)).await;
    let d = AwsDriver::new(Some(proxy.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50));
    let c = cluster("uid-slow");
    d.provision(&c).await.unwrap();
    let before = proxy.describes.load(std::sync::atomic::Ordering::SeqCst);
    // The cluster answers DELETING three times after DeleteCluster, and the VPC is refused
    // three times: the driver waits and tries again, then everything is gone.
    d.delete(&c.target).await.unwrap();
    let deleting = proxy.describes.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(
        deleting >= 3,
        "DescribeCluster answered DELETING {deleting} times"
    );
    let l = look(&moto).await;
    assert!(l.clusters().await.is_empty());
    assert!(
        l.tagged("DescribeVpcs", "vpcSet", "uid-slow")
            .await
            .is_empty(),
        "the VPC went once it was no longer in use"
    );
    assert!(!l.role_exists("wf-pay-dev-cluster").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_cannot_be_assumed_fails_naming_the_cloud_access_and_the_role() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = faults::start(moto.url.clone(), faults::Fault::AccessDenied).await;
    let d = AwsDriver::new(Some(proxy.url.clone()))
        .with_base_credentials("testing", "testing")
        .with_poll(Duration::from_millis(50));
    let c = cluster("uid-unassumable");
    let role = c.target.access.cluster_manager_role.clone().unwrap();
    let e = d.provision(&c).await.unwrap_err();
    assert_eq!(e.reason, "CloudAccessDenied", "{e}");
    assert!(
        e.message.contains(&format!(
            "cloud access admin/aws-nonprod: cannot act as role {role}"
        )),
        "{e}"
    );
    // STS's own words reach the message: its code and why.
    assert!(
        e.message.contains("AccessDenied")
            && e.message.contains(&format!(
                "not authorized to perform: sts:AssumeRole on resource: {role}"
            )),
        "{e}"
    );
    assert!(
        proxy.describes.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "AssumeRole was asked"
    );
    // Nothing was built: no VPC, role, key or cluster.
    let l = look(&moto).await;
    assert!(
        l.tagged("DescribeVpcs", "vpcSet", "uid-unassumable")
            .await
            .is_empty()
    );
    assert!(!l.role_exists("wf-pay-dev-cluster").await);
    assert!(!l.role_exists("wf-pay-dev-node").await);
    assert!(l.keys("uid-unassumable").await.is_empty());
    assert!(l.clusters().await.is_empty());
}
