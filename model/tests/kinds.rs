//! Every kind: registry facts, a fixture per kind that validates, round-trips through YAML
//! without loss and uses every field of its shape, and an invalid example per kind whose
//! problems are reported at once, each with its path.

mod common;

use std::collections::BTreeSet;

use common::*;
use wayfinder_model::kinds::{self, ALL, Scope};
use wayfinder_model::shape::{self, FieldType};
use wayfinder_model::{naming, parse_yaml_documents};

#[test]
fn the_registry_lists_every_kind_with_wayfinders_group_version_plural_and_scope() {
    let got: Vec<(String, &str, &str, Scope, bool)> = ALL
        .iter()
        .map(|k| (k.api_version(), k.kind, k.plural, k.scope, k.versioned))
        .collect();
    use Scope::*;
    let want: Vec<(String, &str, &str, Scope, bool)> = [
        (
            "compute.appvia.io/v2beta2",
            "ComputeTemplate",
            "computetemplates",
            Platform,
            false,
        ),
        (
            "policy.appvia.io/v2beta1",
            "ProvisioningPolicy",
            "provisioningpolicies",
            Platform,
            false,
        ),
        (
            "compute.appvia.io/v2beta2",
            "Cluster",
            "clusters",
            Workspace,
            false,
        ),
        (
            "org.appvia.io/v2beta1",
            "Workspace",
            "workspaces",
            Platform,
            false,
        ),
        ("org.appvia.io/v2beta1", "Stage", "stages", Platform, false),
        (
            "org.appvia.io/v2beta1",
            "AccessToken",
            "accesstokens",
            Workspace,
            false,
        ),
        (
            "cloudaccess.appvia.io/v2beta2",
            "CloudIdentity",
            "cloudidentities",
            Workspace,
            false,
        ),
        (
            "cloudaccess.appvia.io/v2beta2",
            "CloudAccessConfig",
            "cloudaccessconfigs",
            Workspace,
            false,
        ),
        (
            "networking.appvia.io/v2beta1",
            "ClusterNetworkPlan",
            "clusternetworkplans",
            Platform,
            false,
        ),
        (
            "networking.appvia.io/v2beta1",
            "AssignableNetwork",
            "assignablenetworks",
            Workspace,
            false,
        ),
        (
            "package.appvia.io/v2beta2",
            "Repository",
            "repositories",
            Platform,
            false,
        ),
        (
            "package.appvia.io/v2beta2",
            "Package",
            "packages",
            Platform,
            true,
        ),
        (
            "compute.appvia.io/v2beta2",
            "ClusterPlan",
            "clusterplans",
            Platform,
            true,
        ),
        (
            "policydelivery.appvia.io/v1alpha1",
            "GlobalClusterPolicy",
            "globalclusterpolicies",
            Platform,
            false,
        ),
        (
            "policydelivery.appvia.io/v1alpha1",
            "GlobalAccessPolicy",
            "globalaccesspolicies",
            Platform,
            false,
        ),
        (
            "policydelivery.appvia.io/v1alpha1",
            "GlobalAccessRole",
            "globalaccessroles",
            Platform,
            false,
        ),
    ]
    .into_iter()
    .map(|(a, k, p, s, v)| (a.to_string(), k, p, s, v))
    .collect();
    assert_eq!(got, want);
    for k in ALL {
        assert_eq!(kinds::by_plural(k.group, k.version, k.plural), Some(*k));
        assert_eq!(
            kinds::by_api_version_kind(&k.api_version(), k.kind),
            Some(*k)
        );
        assert!(!k.description.is_empty(), "{}", k.kind);
    }
}

#[test]
fn every_fixture_is_valid_and_of_its_kind() {
    for kind in ALL {
        let objects = fixture(kind);
        assert!(!objects.is_empty(), "{}: empty fixture", kind.kind);
        for o in &objects {
            assert_eq!(o.kind_info(), *kind);
            if let Err(e) = o.validate() {
                panic!("{}: {e}", fixture_path(kind).display());
            }
            assert_eq!(
                o.version().is_some(),
                kind.versioned,
                "{}",
                o.display_name()
            );
        }
    }
}

#[test]
fn every_fixture_round_trips_through_yaml_without_loss() {
    for kind in ALL {
        let objects = fixture(kind);
        let raw = fixture_json(kind);
        assert_eq!(objects.len(), raw.len(), "{}", kind.kind);
        for (o, raw) in objects.iter().zip(&raw) {
            // Nothing the fixture says was dropped or changed on the way in.
            assert_eq!(&o.to_json(), raw, "{}", o.display_name());
            // Out to YAML and back in: the same object.
            let yaml = serde_yaml_ng::to_string(o).unwrap();
            let back = parse_yaml_documents("round-trip.yaml", &yaml)
                .unwrap_or_else(|e| panic!("{}: {e:?}\n{yaml}", o.display_name()));
            assert_eq!(back.len(), 1);
            assert_eq!(&back[0].object, o, "{}", o.display_name());
            // And through JSON, as the API carries it.
            let json = serde_json::to_vec(o).unwrap();
            assert_eq!(&wayfinder_model::parse_json("body", &json).unwrap(), o);
        }
    }
}

/// Shape fields no valid object can set: the per-cluster limits share the per-workspace
/// shape, but a cluster count only makes sense per workspace.
const CANNOT_BE_VALID: &[(&str, &str)] =
    &[("ProvisioningPolicy", "clusterLimits.perCluster.maxClusters")];

#[test]
fn every_shape_matches_its_struct_and_every_shape_field_is_exercised() {
    for kind in ALL {
        let mut present = BTreeSet::new();
        for o in fixture(kind) {
            let spec = o.spec_json();
            assert_eq!(
                shape::mismatches(kind.spec, &spec, "spec"),
                Vec::<String>::new(),
                "{}",
                o.display_name()
            );
            present.extend(shape::present_paths(kind.spec, &spec));
        }
        let declared: BTreeSet<String> = shape::field_paths(kind.spec)
            .into_iter()
            .filter(|p| !CANNOT_BE_VALID.contains(&(kind.kind, p.as_str())))
            .collect();
        let missing: Vec<&String> = declared.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "{}: shape fields not exercised by {}: {missing:?}",
            kind.kind,
            fixture_path(kind).display()
        );
    }
}

#[test]
fn every_shape_field_is_described_for_users() {
    fn walk(kind: &str, fields: &[shape::Field], prefix: &str) {
        let mut names = BTreeSet::new();
        for f in fields {
            let p = format!("{prefix}{}", f.name);
            assert!(names.insert(f.name), "{kind}: {p} declared twice");
            assert!(
                f.description.len() > 4 && f.description.ends_with('.'),
                "{kind}: {p}: {:?}",
                f.description
            );
            assert!(!naming::snake_case(f.name).is_empty());
            if let FieldType::Object(inner) | FieldType::ObjectList(inner) = f.ty {
                walk(kind, inner, &format!("{p}."));
            }
        }
    }
    for kind in ALL {
        walk(kind.kind, kind.spec, "");
    }
}

#[test]
fn required_shape_fields_are_required_by_validation() {
    // Emptying the spec must report every required top-level field.
    for kind in ALL {
        let yaml = format!(
            "apiVersion: {}\nkind: {}\nmetadata: {{name: x{}}}\nspec: {{}}\n",
            kind.api_version(),
            kind.kind,
            if kind.scope == Scope::Workspace {
                ", namespace: ws-pay"
            } else {
                ""
            }
        );
        let got = problems(&yaml);
        for f in kind.spec.iter().filter(|f| f.required) {
            let path = format!("spec.{}", f.name);
            assert!(
                got.iter().any(|l| l.starts_with(&format!("{path}:"))
                    || l.starts_with(&format!("{path}."))
                    || l.starts_with(&format!("{path}["))),
                "{}: no problem reported for required {path}: {got:#?}",
                kind.kind
            );
        }
    }
}

/// Definitions written the way Wayfinder's own defaults are (wayfinder-model.md, S2): they
/// parse, and validate — except that Wayfinder names access policies, access roles and
/// cluster policies with dots (`owner.nonprod`), which the shared metadata check does not
/// accept yet.
const WAYFINDER_STYLE: &str = r#"
apiVersion: networking.appvia.io/v2beta1
kind: ClusterNetworkPlan
metadata: {name: eks-standard}
spec:
  summary: General purpose EKS cluster network.
  template:
    plan: eks-standard
    provider: aws
    providerDetails: {type: aws, aws: {availabilityZones: 3, NatGateways: 3}}
    ipv4: {cidrBlocks: [{type: node, cidr: 10.0.0.0/24}]}
    layout: {mode: auto, privateSubnets: 3, publicSubnets: 3}
---
apiVersion: compute.appvia.io/v2beta2
kind: ClusterPlan
metadata: {name: aks-general-purpose}
spec:
  description: General purpose AKS cluster
  version: "1.0.2"
  provider: AKS
  scope: {allWorkspaces: true, allStages: true}
  cluster:
    kubernetesVersion: "1.29"
    packages: [{name: ingress-nginx, version: "4.10.1-2"}]
    providerDetails: {aks: {skuTier: Standard, nodeOSUpgradeChannel: NodeImage}}
    security:
      appDeploymentRoleDefault: wf.deployment.default
      appDeploymentRoleLabels: {appvia.io/appDeployment: "true"}
      podSecurityStandard: {enabled: true, defaultProfile: baseline, allowed: ["restricted", "baseline", "privileged"]}
  network:
    networkPlan: aks-standard
    authorizedMasterNetworks: [{cidr: 0.0.0.0/0, name: default}]
    authorizedNetworks: [{cidr: 0.0.0.0/0, name: default}]
    aksServicesNetwork: 172.16.0.0/16
---
apiVersion: package.appvia.io/v2beta2
kind: Package
metadata:
  name: cert-manager
  annotations: {appvia.io/displayName: "Cert Manager"}
spec:
  description: Provides the capability to self-serve certificates
  version: "1.14.5-1"
  installNamespace: cert-manager
  helm: {helmTimeout: 30s, releaseName: cert-manager, repositoryRef: wayfinder-builtin, chartName: cert-manager, chartVersion: "1.14.5"}
  workloadIdentity: {serviceAccountName: cert-manager}
---
apiVersion: package.appvia.io/v2beta2
kind: Repository
metadata: {name: jetstack}
spec:
  url: https://charts.jetstack.io
  description: |
    The official Jetstack repository for Cert Manager charts
---
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalClusterPolicy
metadata: {name: limitranges.default.global}
spec:
  policy:
    kyverno:
      validationFailureAction: enforce
      background: false
      rules:
      - name: block-limitranges-changes
        match: {resources: {kinds: [LimitRange, ResourceQuota]}}
        validate: {message: "managed by cluster admins", deny: {}}
    type: Kyverno
---
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalAccessPolicy
metadata: {name: owner.nonprod}
spec:
  accessPolicyTemplate:
    accessRoleRefs: [cluster.admin, namespace.admin]
    wayfinderGroups: [admin]
    groups: [owner]
    subjectType: User
    constraints: {ttl: 8h00m0s, clusters: {allowed: {matchLabels: {"appvia.io/stage": "nonprod"}}}}
---
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalAccessRole
metadata: {name: namespace.view}
spec:
  accessRoleTemplate:
    description: Read-only access to standard resources, excluding secrets
    clusterScope: false
    rules:
    - verbs: ['get', 'list', 'watch']
      apiGroups: ['']
      resources: ['configmaps', 'pods', 'pods/log']
"#;

#[test]
fn definitions_written_like_wayfinders_defaults_are_accepted() {
    let docs = parse_yaml_documents("wayfinder-style.yaml", WAYFINDER_STYLE)
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(docs.len(), 7);
    let mut complaints = Vec::new();
    for d in &docs {
        if let Err(e) = d.object.validate() {
            complaints.extend(e.errors.iter().map(ToString::to_string));
        }
    }
    // Wayfinder names access policies, access roles and cluster policies with dots.
    assert_eq!(complaints, Vec::<String>::new());
}

#[test]
fn dots_are_allowed_only_where_wayfinder_uses_them() {
    let role = "apiVersion: policydelivery.appvia.io/v1alpha1\nkind: GlobalAccessRole\nmetadata: {name: NAME}\nspec:\n  accessRoleTemplate:\n    clusterScope: false\n    rules: [{verbs: [get], apiGroups: [''], resources: [pods]}]\n";
    let template = "apiVersion: compute.appvia.io/v2beta2\nkind: ComputeTemplate\nmetadata: {name: NAME}\nspec:\n  provider: EKS\n  nodePools: [{logicalName: a, machine: m6i.large, size: 1}]\n";
    let errors = |text: &str, name: &str| -> Vec<String> {
        let docs = parse_yaml_documents("n.yaml", &text.replace("NAME", name)).unwrap();
        docs[0]
            .object
            .validate()
            .err()
            .map(|e| e.errors.iter().map(|e| e.path.to_string()).collect())
            .unwrap_or_default()
    };
    assert!(errors(role, "cluster.admin").is_empty());
    assert_eq!(errors(role, "cluster..admin"), ["metadata.name"]);
    assert_eq!(errors(role, "Cluster.admin"), ["metadata.name"]);
    assert_eq!(errors(template, "eks.general"), ["metadata.name"]);
}
