//! Resolving a Cluster against the store: each rule, and every problem at once.

mod common;

use common::*;
use serde_json::{Value, json};
use wayfinder_model::cluster::{CloudAccessRef, Cluster, PlanRef};
use wayfinder_model::kinds::{CLOUD_ACCESS_CONFIG, CLUSTER_PLAN, COMPUTE_TEMPLATE, Object, STAGE};
use wayfinder_model::net::Ipv4Net;
use wayfinder_model::networking::NetworkRequest;
use wayfinder_model::parse::object_from_value;
use wayfinder_model::plan::PackageRef;
use wayfinder_model::resolve::{Resolution, ResolveOptions};
use wayfinder_model::resolved::PoolOrigin;
use wayfinder_model::{MemoryView, ObjectView, resolve_cluster, resolve_cluster_with};

const EXTRA: &str = r#"
apiVersion: org.appvia.io/v2beta1
kind: Stage
metadata: {name: nonprod}
spec: {displayName: Non-production}
---
apiVersion: org.appvia.io/v2beta1
kind: Stage
metadata: {name: prod}
spec: {displayName: Production}
---
apiVersion: compute.appvia.io/v2beta2
kind: ComputeTemplate
metadata: {name: eks-high-memory}
spec:
  provider: EKS
  nodePools:
    - {logicalName: memory, machine: r6i.large, size: 2}
---
apiVersion: compute.appvia.io/v2beta2
kind: ComputeTemplate
metadata: {name: gke-small}
spec:
  provider: GKE
  nodePools:
    - {logicalName: small, machine: e2-standard-2, size: 1}
"#;

/// The fixtures, two stages, two more compute templates, and more versions of the EKS plan:
/// 1.2.0 (published), 1.4.0 (draft), 1.1.0 (deprecated).
fn world() -> MemoryView {
    let mut view = MemoryView::from_namespaced(all_fixtures());
    for d in wayfinder_model::parse_yaml_documents("extra.yaml", EXTRA).unwrap() {
        view.insert(None, d.object);
    }
    for (version, published, state) in [
        ("1.2.0", "true", "Published"),
        ("1.4.0", "false", "Draft"),
        ("1.1.0", "false", "Deprecated"),
    ] {
        view.insert(
            None,
            plan_edit(|p| {
                p["spec"]["version"] = json!(version);
                p["metadata"]["annotations"] = json!({
                    "appvia.io/published": published,
                    "appvia.io/publishState": state,
                });
            }),
        );
    }
    view
}

fn eks_plan() -> Object {
    fixture(&CLUSTER_PLAN).remove(0)
}

/// The EKS plan (1.3.0), edited.
fn plan_edit(f: impl FnOnce(&mut Value)) -> Object {
    edit(&eks_plan(), f)
}

fn edit(o: &Object, f: impl FnOnce(&mut Value)) -> Object {
    let mut v = o.to_json();
    f(&mut v);
    object_from_value("edited", 0, v).unwrap_or_else(|e| panic!("{e}"))
}

fn cluster(spec_extra: &str) -> Cluster {
    let yaml = format!(
        "apiVersion: compute.appvia.io/v2beta2\nkind: Cluster\nmetadata: {{name: pay-dev, namespace: ws-pay}}\nspec:\n  plan: {{name: eks-general-purpose, version: 1.3.0}}\n  stage: nonprod\n{spec_extra}"
    );
    match parse_one(&yaml) {
        Object::Cluster(c) => {
            c.validate().unwrap_or_else(|e| panic!("{e}"));
            c
        }
        other => panic!("{other:?}"),
    }
}

fn resolved(c: &Cluster, view: &MemoryView) -> Resolution {
    resolve_cluster_with(c, "pay", view, &ResolveOptions::default())
        .unwrap_or_else(|e| panic!("{:#?}", lines(&e)))
}

fn problems_of(c: &Cluster, view: &MemoryView) -> Vec<String> {
    match resolve_cluster(c, "pay", view) {
        Ok(r) => panic!("resolved: {r:#?}"),
        Err(e) => lines(&e),
    }
}

#[test]
fn a_cluster_that_chooses_nothing_gets_the_plans_defaults() {
    let r = resolved(&cluster(""), &world());
    let template = fixture(&COMPUTE_TEMPLATE).remove(0);
    let Object::ComputeTemplate(template) = template else {
        unreachable!()
    };
    assert_eq!(r.cluster.workspace, "pay");
    assert_eq!(r.cluster.name, "pay-dev");
    assert_eq!(r.cluster.stage, "nonprod");
    assert_eq!(
        r.cluster.plan,
        PlanRef {
            name: "eks-general-purpose".into(),
            version: "1.3.0".into()
        }
    );
    assert_eq!(r.cluster.provider, "EKS");
    assert_eq!(r.cluster.cloud, "aws");
    assert_eq!(r.cluster.region, "eu-west-2");
    assert_eq!(r.cluster.node_pools, template.spec.node_pools);
    assert_eq!(r.cluster.pool_origins, [PoolOrigin::Template]);
    assert_eq!(
        r.cluster.labels.into_iter().collect::<Vec<_>>(),
        [
            ("appvia.io/cloud", "aws"),
            ("appvia.io/plan", "eks-general-purpose"),
            ("appvia.io/provider", "EKS"),
            ("appvia.io/stage", "nonprod"),
            ("appvia.io/workspace", "pay"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(r.kubernetes_version, "1.32");
    assert_eq!(r.compute_template.as_deref(), Some("eks-general-purpose"));
    assert_eq!(r.network_plan, "eks-assignable");
    assert_eq!(r.network, NetworkRequest::Size(22));
    assert_eq!(
        r.cloud_access,
        CloudAccessRef {
            workspace: Some("admin".into()),
            name: "aws-nonprod".into()
        }
    );
    assert_eq!(r.authorized_master_networks, ["0.0.0.0/0"]);
    // The access's spec comes with it: what a cloud driver authenticates with.
    assert_eq!(r.cloud_access_spec.cloud, "aws");
    assert_eq!(
        r.cloud_access_spec
            .aws_role(wayfinder_model::cloudaccess::CLUSTER_MANAGER),
        Some("arn:aws:iam::123456789012:role/wf-ClusterManager")
    );
    assert_eq!(
        r.packages,
        [
            PackageRef {
                name: "cert-manager".into(),
                version: "1.15.3-2".into()
            },
            PackageRef {
                name: "external-dns".into(),
                version: "8.3.9-1".into()
            }
        ]
    );
}

#[test]
fn what_the_plan_lets_users_choose_is_applied() {
    let c = cluster(
        r#"  region: eu-west-1
  computeTemplate: eks-high-memory
  cloudAccessRef: {name: aws-nonprod}
  nodePools:
    - {logicalName: memory, machine: m6i.xlarge, size: 3}
    - {logicalName: batch, machine: m6i.large, autoscaling: {enabled: true, minSize: 0, maxSize: 10}}
  network: {size: 23}
  clusterLabels: {team: payments}
"#,
    );
    let r = resolved(&c, &world());
    assert_eq!(r.cluster.region, "eu-west-1");
    assert_eq!(r.compute_template.as_deref(), Some("eks-high-memory"));
    let machines: Vec<&str> = r
        .cluster
        .node_pools
        .iter()
        .map(|p| p.machine.as_str())
        .collect();
    assert_eq!(machines, ["m6i.xlarge", "m6i.large"]);
    assert_eq!(
        r.cluster.pool_origins,
        [PoolOrigin::Cluster(0), PoolOrigin::Cluster(1)]
    );
    assert_eq!(
        r.cluster.pool_field_path(1, "machine").to_string(),
        "spec.nodePools[1].machine"
    );
    assert_eq!(r.network, NetworkRequest::Size(23));
    assert_eq!(r.cluster.labels["team"], "payments");
    assert_eq!(r.cloud_access.workspace.as_deref(), Some("admin"));

    // Added pools come after the template's, which keep their origin.
    let c = cluster("  nodePools:\n    - {logicalName: extra, machine: m6i.large, size: 1}\n");
    let r = resolved(&c, &world());
    assert_eq!(
        r.cluster.pool_origins,
        [PoolOrigin::Template, PoolOrigin::Cluster(0)]
    );
    assert_eq!(
        r.cluster.pool_field_path(0, "machine").to_string(),
        "spec.computeTemplate"
    );

    // An explicit CIDR of an allowed size, where the plan allows CIDRs.
    let c = cluster("  network: {cidr: 10.20.0.0/22}\n");
    assert_eq!(
        resolved(&c, &world()).network,
        NetworkRequest::Cidr(Ipv4Net::parse("10.20.0.0/22").unwrap())
    );
}

#[test]
fn the_plan_version_must_exist_and_be_published() {
    let view = world();
    let at = |v: &str| cluster("").spec.plan.version.replace("1.3.0", v);
    let with_version = |v: &str| {
        let mut c = cluster("");
        c.spec.plan.version = at(v);
        c
    };
    assert_eq!(
        problems_of(&with_version("9.9.9"), &view),
        [
            "spec.plan.version: cluster plan eks-general-purpose version \"9.9.9\" does not exist; published versions: 1.2.0, 1.3.0"
        ]
    );
    assert_eq!(
        problems_of(&with_version("1.4.0"), &view),
        [
            "spec.plan.version: cluster plan eks-general-purpose version 1.4.0 is a draft, not yet published; published versions: 1.2.0, 1.3.0"
        ]
    );
    assert_eq!(
        problems_of(&with_version("1.1.0"), &view),
        [
            "spec.plan.version: cluster plan eks-general-purpose version 1.1.0 is deprecated: clusters already on it keep it, new clusters may not use it; published versions: 1.2.0, 1.3.0"
        ]
    );
    // A cluster already on the deprecated version may still be changed.
    let c = with_version("1.1.0");
    let options = ResolveOptions {
        existing_plan: Some(c.spec.plan.clone()),
    };
    assert!(resolve_cluster_with(&c, "pay", &view, &options).is_ok());
    // But it may not move to it.
    let options = ResolveOptions {
        existing_plan: Some(with_version("1.2.0").spec.plan),
    };
    assert!(resolve_cluster_with(&c, "pay", &view, &options).is_err());

    let mut c = cluster("");
    c.spec.plan.name = "eks-nonexistent".into();
    assert_eq!(
        problems_of(&c, &view),
        [
            "spec.plan.name: cluster plan \"eks-nonexistent\" does not exist; cluster plans: aks-general-purpose, eks-general-purpose, gke-general-purpose"
        ]
    );

    let view = world().with(
        None,
        plan_edit(|p| p["metadata"]["annotations"] = json!({"appvia.io/publishState": "Draft"})),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.plan.version: cluster plan eks-general-purpose version 1.3.0 has unreadable publish annotations (metadata.annotations.appvia.io/published: missing, which reads as \"true\", disagrees with appvia.io/publishState: Draft: set appvia.io/published: \"false\" for Draft); an administrator must fix them; published versions: 1.2.0"
        ]
    );
}

#[test]
fn the_plan_must_be_in_scope_for_the_workspace_and_stage() {
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["scope"] =
                json!({"allowedWorkspaces": ["web", "ops"], "allowedStages": ["prod"]})
        }),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.plan.name: cluster plan eks-general-purpose is not available to workspace pay; it is available to web, ops",
            "spec.stage: cluster plan eks-general-purpose is not available in stage \"nonprod\"; it is available in prod",
        ]
    );
}

#[test]
fn the_stage_must_exist() {
    let mut c = cluster("");
    c.spec.stage = "qa".into();
    let got = problems_of(&c, &world());
    assert_eq!(
        got[0],
        "spec.stage: stage \"qa\" does not exist; stages: nonprod, platdev, prod"
    );
    // The cloud access serves nonprod only, so none fits qa either.
    assert_eq!(got.len(), 2, "{got:#?}");
}

#[test]
fn the_plans_network_plan_must_exist_and_be_of_its_cloud() {
    let view = world().with(
        None,
        plan_edit(|p| p["spec"]["network"]["networkPlan"] = json!("eks-gone")),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.plan: network plan \"eks-gone\" does not exist (cluster plan eks-general-purpose names it); an administrator must create it or fix the plan"
        ]
    );
    let view = world().with(
        None,
        plan_edit(|p| p["spec"]["network"]["networkPlan"] = json!("gke-standard")),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.plan: cluster plan eks-general-purpose names network plan gke-standard, which is for gcp; the plan's provider EKS needs one for aws"
        ]
    );
}

#[test]
fn the_compute_template_must_exist_and_be_of_the_plans_provider() {
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["choices"]["computeTemplates"] =
                json!({"default": "eks-gone", "allowed": ["eks-gone", "gke-small"]})
        }),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.plan: compute template \"eks-gone\" does not exist (the default of cluster plan eks-general-purpose); EKS compute templates: eks-general-purpose, eks-high-memory"
        ]
    );
    assert_eq!(
        problems_of(&cluster("  computeTemplate: eks-gone\n"), &view),
        [
            "spec.computeTemplate: compute template \"eks-gone\" does not exist; EKS compute templates: eks-general-purpose, eks-high-memory"
        ]
    );
    assert_eq!(
        problems_of(&cluster("  computeTemplate: gke-small\n"), &view),
        [
            "spec.computeTemplate: compute template gke-small is for GKE; cluster plan eks-general-purpose needs one for EKS"
        ]
    );
}

#[test]
fn node_pools_are_checked_against_the_plans_provider_and_limits() {
    let c = cluster(
        r#"  nodePools:
    - logicalName: compute
      machine: c6i.large
      size: 2
      providerDetails: {aks: {mode: user}}
    - logicalName: big
      machine: m6i.large
      size: 2
      autoscaling: {enabled: true, minSize: 1, maxSize: 40}
    - {logicalName: fixed, machine: m6i.xlarge, size: 11}
"#,
    );
    assert_eq!(
        problems_of(&c, &world()),
        [
            "spec.nodePools[0].providerDetails.aks: only allowed when spec.provider is AKS (it is EKS)",
            "spec.nodePools[0].machine: \"c6i.large\" is not allowed by cluster plan eks-general-purpose: choose one of m6i.large, m6i.xlarge",
            "spec.nodePools[1].autoscaling.maxSize: must be at most 10 nodes, the most cluster plan eks-general-purpose allows per pool (got 40)",
            "spec.nodePools[2].size: must be at most 10 nodes, the most cluster plan eks-general-purpose allows per pool (got 11)",
        ]
    );
    let view = world().with(
        None,
        plan_edit(|p| p["spec"]["choices"]["nodePools"] = json!({"allowOverride": false})),
    );
    let c = cluster("  nodePools:\n    - {logicalName: extra, machine: m6i.large, size: 1}\n");
    assert_eq!(
        problems_of(&c, &view),
        [
            "spec.nodePools: cluster plan eks-general-purpose does not let clusters define node pools; remove them (the compute template's pools are used)"
        ]
    );
    // With no template to start from, a cluster must bring its pools.
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["choices"]
                .as_object_mut()
                .unwrap()
                .remove("computeTemplates");
        }),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.nodePools: at least one node pool is required: cluster plan eks-general-purpose names no default compute template; define node pools here"
        ]
    );
    assert!(resolve_cluster(&c, "pay", &view).is_ok());
}

#[test]
fn only_what_the_plan_allows_may_be_chosen() {
    let c = cluster(
        "  region: us-east-1\n  computeTemplate: aks-general-purpose\n  network: {size: 20}\n",
    );
    assert_eq!(
        problems_of(&c, &world()),
        [
            "spec.computeTemplate: \"aks-general-purpose\" is not allowed by cluster plan eks-general-purpose: choose one of eks-general-purpose, eks-high-memory",
            "spec.network.size: 20 is not allowed by cluster plan eks-general-purpose: choose one of 21, 22, 23, 24",
            "spec.region: \"us-east-1\" is not allowed by cluster plan eks-general-purpose: choose one of eu-west-2, eu-west-1",
        ]
    );
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["choices"]["network"] = json!({"allowedSizes": [22, 24]});
        }),
    );
    assert_eq!(
        problems_of(&cluster("  network: {cidr: 10.20.0.0/22}\n"), &view),
        [
            "spec.network.cidr: cluster plan eks-general-purpose does not let clusters give a CIDR; ask for a size instead (22, 24)"
        ]
    );
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["choices"]["network"] = json!({"allowedSizes": [22, 24], "allowCidr": true});
        }),
    );
    assert_eq!(
        problems_of(&cluster("  network: {cidr: 10.20.0.0/23}\n"), &view),
        [
            "spec.network.cidr: a /23 network is not allowed by cluster plan eks-general-purpose: use one of the sizes 22, 24"
        ]
    );
    // Without a default size, the network plan's node range is used.
    assert_eq!(
        resolved(&cluster(""), &view).network,
        NetworkRequest::Size(22)
    );

    // A plan without choices fixes everything.
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["choices"] = json!({"computeTemplates": {"default": "eks-general-purpose"}})
        }),
    );
    let c = cluster(
        "  region: eu-west-2\n  computeTemplate: eks-high-memory\n  network: {size: 22}\n  nodePools:\n    - {logicalName: x, machine: m6i.large, size: 1}\n",
    );
    assert_eq!(
        problems_of(&c, &view),
        [
            "spec.computeTemplate: \"eks-high-memory\" is not allowed by cluster plan eks-general-purpose: choose one of eks-general-purpose",
            "spec.nodePools: cluster plan eks-general-purpose does not let clusters define node pools; remove them (the compute template's pools are used)",
            "spec.network: cluster plan eks-general-purpose does not let clusters choose their network; remove it",
            "spec.region: cluster plan eks-general-purpose does not let clusters choose a region; remove it (eu-west-2, the cloud access's default, is used)",
        ]
    );
    // And takes the region from the cloud access.
    let r = resolved(&cluster(""), &view);
    assert_eq!(r.cluster.region, "eu-west-2");
    assert_eq!(r.network, NetworkRequest::Size(22));
}

#[test]
fn the_plans_packages_must_exist_at_their_versions_with_their_dependencies() {
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["cluster"]["packages"] = json!([
                {"name": "cert-manager", "version": "1.15.3-2"},
                {"name": "ingress-nginx", "version": "4.11.3-1"},
            ])
        }),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.plan: cluster plan eks-general-purpose pins package cert-manager 1.15.3-2, which depends on external-dns, which the plan does not pin; an administrator must fix the plan",
            "spec.plan: package ingress-nginx 4.11.3-1 does not exist (cluster plan eks-general-purpose pins it; there is no such package); an administrator must fix the plan",
        ]
    );
    let view = world().with(
        None,
        plan_edit(|p| p["spec"]["cluster"]["packages"][1]["version"] = json!("8.3.9-2")),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.plan: package external-dns 8.3.9-2 does not exist (cluster plan eks-general-purpose pins it; its versions: 8.3.9-1); an administrator must fix the plan"
        ]
    );
}

const MORE_ACCESS: &str = r#"
apiVersion: cloudaccess.appvia.io/v2beta2
kind: CloudAccessConfig
metadata: {name: aws-prod, namespace: ws-admin}
spec:
  cloud: aws
  type: Kubernetes
  scope: {allowedStages: [prod]}
  aws: {account: "210987654321", defaultRegion: eu-west-1}
---
apiVersion: cloudaccess.appvia.io/v2beta2
kind: CloudAccessConfig
metadata: {name: aws-dns, namespace: ws-admin}
spec:
  cloud: aws
  type: DNSZoneManagement
  aws: {account: "123456789012"}
---
apiVersion: cloudaccess.appvia.io/v2beta2
kind: CloudAccessConfig
metadata: {name: aws-web, namespace: ws-web}
spec:
  cloud: aws
  type: Kubernetes
  aws: {account: "333333333333", defaultRegion: us-east-1}
"#;

fn world_with_more_access() -> MemoryView {
    let mut view = world();
    for d in wayfinder_model::parse_yaml_documents("more.yaml", MORE_ACCESS).unwrap() {
        view.insert(
            Some(&d.object.metadata().namespace.clone().unwrap()[3..]),
            d.object,
        );
    }
    view
}

#[test]
fn a_named_cloud_access_must_fit_the_cluster() {
    let view = world_with_more_access();
    let named = |r: &str| cluster(&format!("  cloudAccessRef: {r}\n"));
    assert_eq!(
        problems_of(&named("{name: aws-gone}"), &view),
        [
            "spec.cloudAccessRef.name: cloud access \"aws-gone\" does not exist in workspace pay or admin; these fit: admin/aws-nonprod"
        ]
    );
    assert_eq!(
        problems_of(&named("{name: gcp-dns}"), &view),
        [
            "spec.cloudAccessRef.name: cloud access gcp-dns is for gcp; cluster plan eks-general-purpose builds clusters on aws",
            "spec.cloudAccessRef.name: cloud access gcp-dns is for DNSZoneManagement, not cluster provisioning (type Kubernetes)",
        ]
    );
    assert_eq!(
        problems_of(&named("{name: aws-prod}"), &view),
        [
            "spec.cloudAccessRef.name: cloud access admin/aws-prod does not serve workspace pay in stage nonprod: its scope leaves them out"
        ]
    );
    assert_eq!(
        problems_of(&named("{workspace: web, name: aws-web}"), &view),
        [
            // Another workspace's access: the same answer whether it exists or not.
            "spec.cloudAccessRef.workspace: cloud access web/aws-web cannot be used: a cluster in workspace pay uses cloud access of workspace pay or admin only; these fit: admin/aws-nonprod"
        ]
    );
    assert_eq!(
        problems_of(&named("{workspace: web, name: aws-gone}"), &view),
        [
            "spec.cloudAccessRef.workspace: cloud access web/aws-gone cannot be used: a cluster in workspace pay uses cloud access of workspace pay or admin only; these fit: admin/aws-nonprod"
        ]
    );
    let r = resolved(&named("{workspace: admin, name: aws-nonprod}"), &view);
    assert_eq!(r.cloud_access.name, "aws-nonprod");
}

#[test]
fn without_a_name_the_one_cloud_access_that_fits_is_chosen() {
    // None fits prod but aws-prod; none at all fits a stage without access.
    let view = world_with_more_access();
    let mut c = cluster("");
    c.spec.stage = "prod".into();
    let r = resolved(&c, &view);
    assert_eq!(r.cloud_access.name, "aws-prod");
    assert_eq!(
        r.cluster.region, "eu-west-2",
        "the plan's default region wins"
    );

    let mut c = cluster("");
    c.spec.stage = "platdev".into();
    assert_eq!(
        problems_of(&c, &view),
        [
            "spec.cloudAccessRef: required: no cloud access fits; the cluster needs a cloud access of cloud aws with type Kubernetes (cluster provisioning) serving workspace pay in stage platdev, and an administrator must create one or widen a scope"
        ]
    );

    // Two platform ones fit: the user must choose.
    let second = edit(
        &world()
            .get(
                &wayfinder_model::kinds::CLOUD_ACCESS_CONFIG,
                Some("admin"),
                "aws-nonprod",
                None,
            )
            .unwrap(),
        |a| {
            a["metadata"]["name"] = json!("aws-nonprod-2");
        },
    );
    let view = world_with_more_access().with(Some("admin"), second);
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.cloudAccessRef: required: several cloud accesses fit (admin/aws-nonprod, admin/aws-nonprod-2); name one"
        ]
    );

    // The workspace's own comes before the platform's.
    let own = edit(
        &view
            .get(
                &wayfinder_model::kinds::CLOUD_ACCESS_CONFIG,
                Some("admin"),
                "aws-nonprod",
                None,
            )
            .unwrap(),
        |a| {
            a["metadata"]["name"] = json!("pay-aws");
            a["metadata"]["namespace"] = json!("ws-pay");
        },
    );
    let view = view.with(Some("pay"), own);
    let r = resolved(&cluster(""), &view);
    assert_eq!(
        r.cloud_access,
        CloudAccessRef {
            workspace: Some("pay".into()),
            name: "pay-aws".into()
        }
    );
}

#[test]
fn a_region_is_required_from_somewhere() {
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["choices"]["regions"] = json!({"allowed": ["eu-west-1", "eu-west-2"]});
        }),
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.region: required: cluster plan eks-general-purpose has no default region; choose one of eu-west-1, eu-west-2"
        ]
    );
    let access = view
        .get(
            &wayfinder_model::kinds::CLOUD_ACCESS_CONFIG,
            Some("admin"),
            "aws-nonprod",
            None,
        )
        .unwrap();
    let view = world()
        .with(
            None,
            plan_edit(|p| {
                p["spec"]["choices"]
                    .as_object_mut()
                    .unwrap()
                    .remove("regions");
            }),
        )
        .with(
            Some("admin"),
            edit(&access, |a| {
                a["spec"]["aws"]
                    .as_object_mut()
                    .unwrap()
                    .remove("defaultRegion");
            }),
        );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.region: no region: cluster plan eks-general-purpose sets no default region (choices.regions) and the cloud access none (aws.defaultRegion); an administrator must set one"
        ]
    );
}

#[test]
fn wayfinders_own_labels_are_not_the_users_to_set() {
    let c = cluster("  clusterLabels: {appvia.io/stage: prod, team: pay}\n");
    assert_eq!(
        problems_of(&c, &world()),
        [
            "spec.clusterLabels.appvia.io/stage: appvia.io/stage is set by Wayfinder (as are appvia.io/stage, appvia.io/plan, appvia.io/provider, appvia.io/cloud, appvia.io/workspace); remove it"
        ]
    );
    // Other labels under appvia.io/ are the cluster's own.
    let c = cluster("  clusterLabels: {appvia.io/cost-centre: cc-42}\n");
    assert_eq!(
        resolved(&c, &world()).cluster.labels["appvia.io/cost-centre"],
        "cc-42"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["network"]["networkPlan"] = json!("eks-gone");
            p["spec"]["scope"] = json!({"allowedWorkspaces": ["web"]});
            p["spec"]["cluster"]["packages"] = json!([{"name": "nope", "version": "1.0.0"}]);
        }),
    );
    let mut c = cluster(
        r#"  region: mars-north-1
  computeTemplate: eks-gone
  cloudAccessRef: {name: azure-cloudinfo}
  nodePools:
    - {logicalName: a, machine: t3.nano, size: 1}
  network: {size: 17}
  clusterLabels: {appvia.io/plan: other}
"#,
    );
    c.spec.stage = "qa".into();
    assert_eq!(
        problems_of(&c, &view),
        [
            "spec.stage: stage \"qa\" does not exist; stages: nonprod, platdev, prod",
            "spec.plan.name: cluster plan eks-general-purpose is not available to workspace pay; it is available to web",
            "spec.plan: network plan \"eks-gone\" does not exist (cluster plan eks-general-purpose names it); an administrator must create it or fix the plan",
            "spec.computeTemplate: \"eks-gone\" is not allowed by cluster plan eks-general-purpose: choose one of eks-general-purpose, eks-high-memory",
            "spec.nodePools[0].machine: \"t3.nano\" is not allowed by cluster plan eks-general-purpose: choose one of m6i.large, m6i.xlarge",
            "spec.network.size: 17 is not allowed by cluster plan eks-general-purpose: choose one of 21, 22, 23, 24",
            "spec.plan: package nope 1.0.0 does not exist (cluster plan eks-general-purpose pins it; there is no such package); an administrator must fix the plan",
            "spec.cloudAccessRef.name: cloud access azure-cloudinfo is for azure; cluster plan eks-general-purpose builds clusters on aws",
            "spec.cloudAccessRef.name: cloud access azure-cloudinfo is for CostEstimates, not cluster provisioning (type Kubernetes)",
            "spec.region: \"mars-north-1\" is not allowed by cluster plan eks-general-purpose: choose one of eu-west-2, eu-west-1",
            "spec.clusterLabels.appvia.io/plan: appvia.io/plan is set by Wayfinder (as are appvia.io/stage, appvia.io/plan, appvia.io/provider, appvia.io/cloud, appvia.io/workspace); remove it",
        ]
    );
}

#[test]
fn the_memory_view_finds_versions_and_workspaces() {
    let view = world();
    let latest = view
        .get(&CLUSTER_PLAN, None, "eks-general-purpose", None)
        .unwrap();
    assert_eq!(
        latest.version(),
        Some("1.3.0"),
        "latest published, not the 1.4.0 draft"
    );
    assert_eq!(
        view.list(&CLUSTER_PLAN, None)
            .iter()
            .filter(|o| o.metadata().name == "eks-general-purpose")
            .count(),
        4
    );
    assert!(view.get(&STAGE, Some("ignored"), "prod", None).is_some());
    let access = &wayfinder_model::kinds::CLOUD_ACCESS_CONFIG;
    assert!(
        view.get(access, Some("admin"), "aws-nonprod", None)
            .is_some()
    );
    assert!(view.get(access, Some("pay"), "aws-nonprod", None).is_none());
    assert!(view.get(access, None, "aws-nonprod", None).is_none());
    // Inserting the same kind, workspace, name and version replaces.
    let n = view.list(&CLUSTER_PLAN, None).len();
    let view = view.with(None, eks_plan());
    assert_eq!(view.list(&CLUSTER_PLAN, None).len(), n);
}

#[test]
fn every_reference_a_cluster_makes_in_the_models_graph_is_resolved() {
    // The reference graph (kinds::REFERENCES) and the resolver must agree: for each edge from
    // Cluster, a cluster naming a target that does not exist is refused at that field.
    use wayfinder_model::kinds::{CLUSTER, REFERENCES};
    let edges: Vec<_> = REFERENCES.iter().filter(|r| r.from == &CLUSTER).collect();
    assert!(
        !edges.is_empty(),
        "the graph names no reference from Cluster"
    );
    for r in edges {
        let base = Object::Cluster(cluster(""));
        let edited = edit(&base, |v| {
            let mut at = &mut v["spec"];
            for part in r.path.split('.') {
                at = &mut at[part];
            }
            *at = json!("nope");
        });
        let Object::Cluster(c) = edited else {
            unreachable!()
        };
        let field = format!("spec.{}", r.path);
        let got = problems_of(&c, &world());
        assert!(
            got.iter()
                .any(|p| p.starts_with(&format!("{field}:")) && p.contains("nope")),
            "a cluster naming a missing {} at {field} should be refused there; got {got:#?}",
            r.what
        );
    }
}

#[test]
fn a_plan_without_choices_behaves_as_wayfinder_does() {
    // No spec.choices: a cluster chooses among the plan's provider's compute templates (none
    // unless it names one) and may define node pools; the provisioning policies limit them.
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"].as_object_mut().unwrap().remove("choices");
        }),
    );
    let r = resolved(&cluster("  computeTemplate: eks-high-memory\n"), &view);
    assert_eq!(r.compute_template.as_deref(), Some("eks-high-memory"));
    assert!(!r.cluster.node_pools.is_empty());
    let r = resolved(
        &cluster(
            "  computeTemplate: eks-general-purpose\n  nodePools:\n    - {logicalName: extra, machine: c6i.large, size: 2}\n",
        ),
        &view,
    );
    assert_eq!(
        r.cluster.node_pools.last().map(|p| p.machine.as_str()),
        Some("c6i.large")
    );
    // Only its own pools, without a template.
    let r = resolved(
        &cluster("  nodePools:\n    - {logicalName: own, machine: m6i.large, size: 1}\n"),
        &view,
    );
    assert_eq!(r.compute_template, None);
    assert_eq!(r.cluster.node_pools.len(), 1);
    assert_eq!(
        problems_of(&cluster("  computeTemplate: gke-small\n"), &view),
        [
            "spec.computeTemplate: \"gke-small\" is not allowed by cluster plan eks-general-purpose: choose one of eks-general-purpose, eks-high-memory"
        ]
    );
    assert_eq!(
        problems_of(&cluster(""), &view),
        [
            "spec.nodePools: at least one node pool is required: cluster plan eks-general-purpose names no default compute template; define node pools here"
        ]
    );
}

#[test]
fn a_plan_whose_choices_leave_clusters_no_node_pools_is_refused() {
    let plan = plan_edit(|p| {
        p["spec"]["choices"] = json!({"regions": {"default": "eu-west-2"}});
    });
    let e = plan.validate().unwrap_err();
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(e.errors[0].path.to_string(), "spec.choices");
    assert!(
        e.errors[0]
            .message
            .contains("leave out spec.choices for Wayfinder's behaviour"),
        "{e}"
    );
    // Offering templates without a default is enough: a cluster names one.
    let plan = plan_edit(|p| {
        p["spec"]["choices"] = json!({"computeTemplates": {"allowed": ["eks-general-purpose"]}});
    });
    assert!(plan.validate().is_ok());
}

#[test]
fn an_eks_plan_s_secrets_encryption_and_logs_and_the_access_s_cloud_identity_are_resolved() {
    let r = resolved(&cluster(""), &world());
    // The fixture plan: secrets encrypted, only the audit log on.
    assert!(r.secrets_encryption);
    assert_eq!(r.control_plane_logs, ["audit"]);
    // The fixture's cloud access names cloudidentity-aws, in its own workspace (admin).
    let identity = r.cloud_identity.expect("the access names an identity");
    assert_eq!(
        (identity.workspace.as_str(), identity.name.as_str()),
        ("admin", "cloudidentity-aws")
    );
    assert_eq!(
        identity.spec.and_then(|s| s.aws).map(|a| a.role_arn),
        Some("arn:aws:iam::123456789012:role/wayfinder-identity".to_string())
    );

    // A plan that turns encryption off and says nothing of logs: no encryption, EKS's usual
    // three logs; an identity the access names but which is not stored is resolved as such.
    let mut view = world();
    view.insert(
        None,
        plan_edit(|p| {
            p["spec"]["cluster"]["providerDetails"]["eks"] =
                json!({"encryption": {"secretsEncryptionEnabled": false}});
        }),
    );
    let access = fixture(&CLOUD_ACCESS_CONFIG)
        .into_iter()
        .find(|o| o.metadata().name == "aws-nonprod")
        .unwrap();
    view.insert(
        Some("admin"),
        edit(&access, |a| {
            a["spec"]["cloudIdentityRef"]["name"] = json!("cloudidentity-gone");
        }),
    );
    let r = resolved(&cluster(""), &view);
    assert!(!r.secrets_encryption);
    assert_eq!(r.control_plane_logs, ["api", "audit", "authenticator"]);
    let identity = r.cloud_identity.expect("the access still names one");
    assert_eq!(identity.name, "cloudidentity-gone");
    assert!(identity.spec.is_none());
}

#[test]
fn a_plan_without_choices_lets_the_cluster_choose_any_public_region_of_its_cloud() {
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"].as_object_mut().unwrap().remove("choices");
        }),
    );
    let pools = "  nodePools:\n    - {logicalName: own, machine: m6i.large, size: 1}\n";
    // Any region the price catalog lists for AWS, not only the cloud access's default.
    let public = wayfinder_model::cost::public_regions("EKS");
    assert!(public.len() >= 30, "{public:?}");
    for region in ["us-east-2", "ap-southeast-4", "eu-west-2"] {
        assert!(public.iter().any(|r| r == region), "{region}");
        let r = resolved(&cluster(&format!("  region: {region}\n{pools}")), &view);
        assert_eq!(r.cluster.region, region);
    }
    // None named: the cloud access's default region, as before.
    let r = resolved(&cluster(pools), &view);
    assert_eq!(r.cluster.region, "eu-west-2");
    // Not a public region of AWS (an Azure one, a made-up one): refused, listing them.
    for region in ["westeurope", "xx-nowhere-1"] {
        let problems = problems_of(&cluster(&format!("  region: {region}\n{pools}")), &view);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(&format!(
                "spec.region: \"{region}\" is not a public region of aws (the price catalog's list), which cluster plan eks-general-purpose lets clusters choose from: choose one of af-south-1, "
            )),
            "{problems:?}"
        );
        assert!(problems[0].contains("us-east-2"), "{problems:?}");
    }
}

#[test]
fn any_public_region_is_written_as_a_star_that_stands_alone() {
    use wayfinder_model::plan::{ANY_REGION, Choice};
    let star = Choice {
        default: None,
        allowed: Some(vec![ANY_REGION.to_string()]),
    };
    assert!(star.is_any());
    assert!(star.permits_region("AKS", "westeurope"));
    assert!(!star.permits_region("AKS", "eu-west-2"));
    assert_eq!(
        star.permitted_regions("GKE"),
        wayfinder_model::cost::public_regions("GKE")
    );
    // A plan may say it itself, with a default among the public regions; the cluster then
    // gets the default when it names none.
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"]["choices"]["regions"] = json!({"default": "us-east-2", "allowed": ["*"]});
        }),
    );
    let r = resolved(&cluster(""), &view);
    assert_eq!(r.cluster.region, "us-east-2");
    let r = resolved(&cluster("  region: sa-east-1\n"), &view);
    assert_eq!(r.cluster.region, "sa-east-1");
    // "*" beside regions, and a default that is no public region of the cloud: refused.
    for (regions, path, needle) in [
        (
            json!({"allowed": ["eu-west-2", "*"]}),
            "spec.choices.regions.allowed[1]",
            "stands alone",
        ),
        (
            json!({"default": "westeurope", "allowed": ["*"]}),
            "spec.choices.regions.default",
            "\"westeurope\" is not a public region of aws (the price catalog's list): choose one of af-south-1",
        ),
    ] {
        let mut v = eks_plan().to_json();
        v["spec"]["choices"]["regions"] = regions;
        let e = object_from_value("edited", 0, v)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.errors.len(), 1, "{e}");
        assert_eq!(e.errors[0].path.to_string(), path, "{e}");
        assert!(e.errors[0].message.contains(needle), "{e}");
    }
}

#[test]
fn a_public_region_the_plan_offers_is_still_subject_to_the_provisioning_policies() {
    use wayfinder_model::policy::{Rule, check_cluster};
    use wayfinder_model::{ProvisioningPolicy, WorkspaceUsage, effective_policy};
    let view = world().with(
        None,
        plan_edit(|p| {
            p["spec"].as_object_mut().unwrap().remove("choices");
        }),
    );
    let r = resolved(
        &cluster(
            "  region: us-east-2\n  nodePools:\n    - {logicalName: own, machine: m6i.large, size: 1}\n",
        ),
        &view,
    );
    let policy: ProvisioningPolicy = match parse_one(
        "apiVersion: policy.appvia.io/v2beta1\nkind: ProvisioningPolicy\nmetadata: {name: eu-only}\nspec:\n  cloud: aws\n  allowedRegions: [eu-west-2, eu-west-1]\n",
    ) {
        Object::ProvisioningPolicy(p) => p,
        other => panic!("{other:?}"),
    };
    let effective = effective_policy(&[policy], "pay", "nonprod", "aws");
    let estimate = wayfinder_model::cost::Estimate::uncosted(&r.cluster);
    let violations = check_cluster(
        &effective,
        &r.cluster,
        &estimate,
        &WorkspaceUsage::default(),
    );
    assert!(
        violations.iter().any(|v| v.rule == Rule::Region),
        "{violations:?}"
    );
}
