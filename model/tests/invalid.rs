//! An invalid example per kind: every problem is reported at once, each with its field path
//! and what would be accepted.

mod common;

use common::problems;

fn check(yaml: &str, want: &[&str]) {
    let got = problems(yaml);
    if got != want {
        panic!(
            "problems differ.\n--- got:\n{}\n--- want:\n{}",
            got.iter()
                .map(|l| format!("    {l:?},"))
                .collect::<Vec<_>>()
                .join("\n"),
            want.iter()
                .map(|l| format!("    {l:?},"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn workspace() {
    check(
        r#"
apiVersion: org.appvia.io/v2beta1
kind: Workspace
metadata: {name: payments}
spec:
  key: pay
  summary: ""
  resourceNamespace: ws-pay
  type: premium
  owners:
    - {kind: Group, name: jane@example.com}
    - {kind: User, name: jane@example.com}
    - {kind: User, name: ""}
"#,
        &[
            "metadata.name: \"payments\" is not a workspace key: 2 to 5 lower-case letters or digits, starting with a letter",
            "spec.key: must equal metadata.name (\"payments\"): the name is the workspace key",
            "spec.summary: must not be empty: a short display name",
            "spec.resourceNamespace: must be \"ws-payments\" (ws- followed by the workspace key), or left out",
            "spec.type: \"premium\" is not supported: must be one of standard",
            "spec.owners[0].kind: \"Group\" is not supported: must be one of User",
            "spec.owners[1].name: \"jane@example.com\" is listed twice; list each owner once",
            "spec.owners[2].name: must not be empty: a user name such as jane@example.com",
        ],
    );
}

#[test]
fn stage() {
    check(
        r#"
apiVersion: org.appvia.io/v2beta1
kind: Stage
metadata: {name: Prod, namespace: ws-admin}
spec:
  displayName: " "
"#,
        &[
            "metadata.name: \"Prod\" is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
            "metadata.namespace: \"ws-admin\" given, but this kind is platform-level and has no namespace; remove it",
            "spec.displayName: must not be empty: the name shown to users, e.g. Production",
        ],
    );
}

#[test]
fn access_token() {
    check(
        r#"
apiVersion: org.appvia.io/v2beta1
kind: AccessToken
metadata: {name: ci, namespace: ws-pay}
spec:
  description: ""
  roles: [admin, member, member, root]
  expiresAt: "2026-02-30T00:00:00Z"
"#,
        &[
            "spec.description: must not be empty: what the token is for, e.g. the CI pipeline that uses it",
            "spec.roles[0]: \"admin\" may only be given to platform tokens (in the admin workspace); a workspace token may carry owner, member",
            "spec.roles[2]: \"member\" is listed twice; list each role once",
            "spec.roles[3]: \"root\" is not supported: must be one of owner, member",
            "spec.expiresAt: \"2026-02-30T00:00:00Z\" is not an RFC 3339 time: use e.g. 2026-01-31T00:00:00Z",
        ],
    );
    check(
        r#"
apiVersion: org.appvia.io/v2beta1
kind: AccessToken
metadata: {name: ci, namespace: ws-pay}
spec:
  description: CI
  ttl: 10y
"#,
        &[
            "spec.ttl: \"10y\" is not a duration: unknown unit \"y\": use h, m, s, ms, us or ns; use e.g. 8h0m0s, between 1m0s and 8760h0m0s",
        ],
    );
    check(
        r#"
apiVersion: org.appvia.io/v2beta1
kind: AccessToken
metadata: {name: ci, namespace: ws-pay}
spec:
  description: CI
  ttl: 9000h
  expiresAt: "2026-01-01T00:00:00Z"
"#,
        &["spec.ttl: set expiresAt or ttl, not both"],
    );
}

#[test]
fn cloud_identity() {
    check(
        r#"
apiVersion: cloudaccess.appvia.io/v2beta2
kind: CloudIdentity
metadata: {name: id, namespace: admin}
spec:
  cloud: aws
  type: GCPWorkloadIdentity
  aws: {roleARN: "arn:aws:iam::1234:role/x"}
  gcp: {serviceAccount: someone@example.com}
"#,
        &[
            "metadata.namespace: \"admin\" is not a workspace namespace: use ws-KEY for workspace KEY (e.g. ws-team1), or leave it out and name the workspace in the request",
            "spec.type: \"GCPWorkloadIdentity\" is not supported for cloud aws: must be AWSIAMRoleForServiceAccount",
            "spec.gcp: only allowed when cloud is gcp (it is aws); remove it",
            "spec.aws.roleARN: \"arn:aws:iam::1234:role/x\" is not an IAM role ARN: use arn:aws:iam::ACCOUNT:role/NAME, e.g. arn:aws:iam::123456789012:role/wayfinder",
            "spec.gcp.serviceAccount: \"someone@example.com\" is not a service account email: use NAME@PROJECT.iam.gserviceaccount.com",
        ],
    );
    check(
        r#"
apiVersion: cloudaccess.appvia.io/v2beta2
kind: CloudIdentity
metadata: {name: id, namespace: ws-admin}
spec:
  cloud: azure
  azure: {clientID: not-a-guid, tenantID: ""}
"#,
        &[
            "spec.azure.clientID: \"not-a-guid\" is not a GUID: use the form 00000000-0000-0000-0000-000000000000",
            "spec.azure.tenantID: required: a GUID such as 00000000-0000-0000-0000-000000000000",
        ],
    );
}

#[test]
fn cloud_access_config() {
    check(
        r#"
apiVersion: cloudaccess.appvia.io/v2beta2
kind: CloudAccessConfig
metadata: {name: aws-x, namespace: ws-admin}
spec:
  cloud: aws
  type: KubernetesClusters
  scope: {allWorkspaces: true, allowedWorkspaces: [pay], allowedStages: [Prod]}
  aws: {account: "1234", defaultRegion: EU-WEST-2}
  azure: {subscription: 2f1e0d9c-8b7a-4695-8473-625140392817, tenantID: 7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928}
  cloudIdentityRef: {cloud: gcp, name: id}
  permissions:
    - {permission: ClusterManager, awsRole: "arn:aws:iam::123456789012:role/ok"}
    - {permission: ClusterManager, gcpServiceAccount: x@p.iam.gserviceaccount.com}
    - {permission: Everything}
"#,
        &[
            "spec.type: \"KubernetesClusters\" is not supported: must be one of Kubernetes, CostEstimates, CostsEstimates, DNSZoneManagement, NetworkPrivateLinks",
            "spec.scope.allowedWorkspaces: must be empty when allWorkspaces is true; set one or the other",
            "spec.scope.allowedStages[0]: \"Prod\" is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
            "spec.azure: only allowed when cloud is azure (it is aws); remove it",
            "spec.aws.account: \"1234\" is not an AWS account ID: 12 digits, quoted, e.g. \"123456789012\"",
            "spec.aws.defaultRegion: \"EU-WEST-2\" is not a region name: lower-case letters, digits and '-', e.g. eu-west-2",
            "spec.cloudIdentityRef.cloud: must be the cloud access's cloud, aws",
            "spec.permissions[1].permission: \"ClusterManager\" is listed twice; grant each permission once",
            "spec.permissions[1].gcpServiceAccount: only allowed when cloud is gcp (it is aws)",
            "spec.permissions[2].permission: \"Everything\" is not supported: must be one of ClusterManager, NetworkManager, DNSZoneManager, CloudInfo, PrivateLinkManager, PeeringAcceptor",
        ],
    );
    check(
        r#"
apiVersion: cloudaccess.appvia.io/v2beta2
kind: CloudAccessConfig
metadata: {name: gcp-x, namespace: ws-admin}
spec:
  cloud: gcp
  type: Kubernetes
  gcp: {project: My_Project}
"#,
        &[
            "spec.gcp.project: \"My_Project\" is not a GCP project ID: 6 to 30 lower-case letters, digits and '-', starting with a letter, e.g. my-project-123",
        ],
    );
}

#[test]
fn cluster_network_plan() {
    check(
        r#"
apiVersion: networking.appvia.io/v2beta1
kind: ClusterNetworkPlan
metadata: {name: eks-net}
spec:
  allocation: {type: some, workspaces: ["*", Pay]}
  assignableNetworks: [aws-nonprod, aws-nonprod]
  template:
    plan: eks-other
    provider: aws
    providerDetails:
      type: gcp
      aws: {availabilityZones: 3, NatGateways: 4}
    ipv4:
      cidrBlocks:
        - {type: node, cidr: 10.0.0.0/26}
        - {type: service, cidr: 10.0.0.1/16}
        - {type: pod, cidr: 10.0.0.0/16, size: 20}
        - {type: pod, cidr: 10.0.0.0/18}
        - {type: egress, size: 40}
    layout: {mode: manual, privateSubnets: 20}
"#,
        &[
            "spec.allocation.type: \"some\" is not supported: must be one of all, workspaces, none",
            "spec.allocation.workspaces[1]: \"Pay\" is not a workspace key or *: 2 to 5 lower-case letters or digits, starting with a letter",
            "spec.assignableNetworks[1]: \"aws-nonprod\" is listed twice; list each assignable network once",
            "spec.template.plan: must equal metadata.name (\"eks-net\"), or be left out",
            "spec.template.providerDetails.type: must equal template.provider (aws)",
            "spec.template.providerDetails.aws.NatGateways: must be between 0 and 3 gateways (one per availability zone at most) (got 4)",
            "spec.template.ipv4.cidrBlocks[0].cidr: 10.0.0.0/26 is too small: a node range must be /24 or larger",
            "spec.template.ipv4.cidrBlocks[1].cidr: \"10.0.0.1/16\" is not an IPv4 CIDR: host bits are set; the network is 10.0.0.0/16",
            "spec.template.ipv4.cidrBlocks[2]: set cidr or size, not both",
            "spec.template.ipv4.cidrBlocks[3].type: a pod range is already given; give each type once",
            "spec.template.ipv4.cidrBlocks[4].type: \"egress\" is not supported: must be one of node, service, pod",
            "spec.template.ipv4.cidrBlocks[4].size: must be between 8 and 24 (prefix length) (got 40)",
            "spec.template.layout.mode: \"manual\" is not supported: must be one of auto",
            "spec.template.layout.privateSubnets: must be between 0 and 16 subnets (got 20)",
        ],
    );
    check(
        r#"
apiVersion: networking.appvia.io/v2beta1
kind: ClusterNetworkPlan
metadata: {name: gke-net}
spec:
  template:
    provider: gcp
    providerDetails:
      aws: {availabilityZones: 9}
    ipv4:
      cidrBlocks:
        - {type: service}
        - {type: node, size: 25}
        - {type: pod, cidr: 10.16.0.0/18}
        - {type: service, cidr: 10.16.0.0/20}
"#,
        &[
            "spec.template.providerDetails.aws: only allowed when template.provider is aws (it is gcp)",
            "spec.template.providerDetails.aws.availabilityZones: must be between 1 and 6 zones (got 9)",
            "spec.template.ipv4.cidrBlocks[0]: set cidr (a fixed range) or size (a prefix length, 12 to 24)",
            "spec.template.ipv4.cidrBlocks[1].size: must be between 16 and 24 (prefix length) (got 25)",
            "spec.template.ipv4.cidrBlocks[3].type: a service range is already given; give each type once",
            "spec.template.ipv4.cidrBlocks[3].cidr: 10.16.0.0/20 overlaps 10.16.0.0/18 (item 2); ranges must not overlap",
        ],
    );
}

#[test]
fn assignable_network() {
    check(
        r#"
apiVersion: networking.appvia.io/v2beta1
kind: AssignableNetwork
metadata: {name: aws-nonprod, namespace: ws-admin}
spec:
  provider: EKS
  stage: ""
  networks:
    - {range: 10.0.0.0/16, type: node}
    - {range: 10.0.128.0/17, type: node}
    - {range: 10.2.0.0/25, type: node}
    - {range: 10.3.0.0/16, type: nodes}
    - {range: 300.0.0.0/8, type: node}
    - {range: "", type: node}
"#,
        &[
            "spec.provider: \"EKS\" is not supported: must be one of aws, azure, gcp",
            "spec.stage: required: a name of lower-case letters, digits and '-'",
            "spec.networks[2].range: 10.2.0.0/25 is too small: a node range must be /24 or larger",
            "spec.networks[3].type: \"nodes\" is not supported: must be one of node, service, pod",
            "spec.networks[4].range: \"300.0.0.0/8\" is not an IPv4 CIDR: \"300.0.0.0\" is not an IPv4 address",
            "spec.networks[5].range: required: an IPv4 range such as 10.0.0.0/16",
            "spec.networks[1].range: 10.0.128.0/17 overlaps 10.0.0.0/16 (item 0); ranges must not overlap",
        ],
    );
}

#[test]
fn repository() {
    check(
        r#"
apiVersion: package.appvia.io/v2beta2
kind: Repository
metadata: {name: charts}
spec:
  url: ftp://charts.example.com
"#,
        &[
            "spec.url: \"ftp://charts.example.com\" is not a repository URL: use https://HOST[/PATH], http://HOST[/PATH] or oci://HOST[/PATH]",
        ],
    );
}

#[test]
fn package() {
    check(
        r#"
apiVersion: package.appvia.io/v2beta2
kind: Package
metadata:
  name: cert-manager
  annotations: {appvia.io/published: "true", appvia.io/publishState: Draft}
spec:
  version: "1.15"
  installNamespace: Cert_Manager
  dependencies: [cert-manager, dns, dns]
  helm:
    releaseName: this-release-name-is-far-too-long-for-helm-to-accept-it
    repositoryRef: ""
    chartName: cert-manager
    chartVersion: ""
    helmTimeout: 3h
  manifests:
    - {name: a.yaml, template: ""}
    - {name: a.yaml, template: "kind: Namespace"}
  workloadIdentity:
    serviceAccountName: Cert_Manager
    role:
      aws: {customIAMPolicyTemplate: ""}
"#,
        &[
            "metadata.annotations.appvia.io/published: \"true\" disagrees with appvia.io/publishState: Draft: set appvia.io/published: \"false\" for Draft",
            "spec.version: \"1.15\" is not a version: use MAJOR.MINOR.PATCH with an optional v prefix and -suffix, e.g. 1.3.0 or v1.15.3-2",
            "spec.installNamespace: \"Cert_Manager\" is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
            "spec.dependencies[0]: a package cannot depend on itself",
            "spec.dependencies[2]: \"dns\" is listed twice; list each dependency once",
            "spec.helm.releaseName: \"this-release-name-is-far-too-long-for-helm-to-accept-it\" is not a Helm release name: lower-case letters, digits and '-', at most 53 characters",
            "spec.helm.repositoryRef: required: a name of lower-case letters, digits and '-'",
            "spec.helm.chartVersion: must not be empty: the chart version, e.g. 1.15.3",
            "spec.helm.helmTimeout: must be between 1s and 2h0m0s (got 3h)",
            "spec.manifests[0].template: must not be empty: Kubernetes manifests (YAML), optionally templated",
            "spec.manifests[1].name: \"a.yaml\" is used by another manifest; names must be unique",
            "spec.workloadIdentity.serviceAccountName: \"Cert_Manager\" is not a service account name: lower-case letters, digits, '-' and '.', e.g. cert-manager",
            "spec.workloadIdentity.role.aws.customIAMPolicyTemplate: must not be empty: an IAM policy document",
        ],
    );
    check(
        r#"
apiVersion: package.appvia.io/v2beta2
kind: Package
metadata: {name: empty}
spec:
  version: 1.0.0
  installNamespace: empty
"#,
        &["spec: set helm, manifests, or both: a package must install something"],
    );
}

#[test]
fn cluster_plan() {
    check(
        r#"
apiVersion: compute.appvia.io/v2beta2
kind: ClusterPlan
metadata:
  name: eks-general-purpose
  annotations: {appvia.io/published: "yes"}
spec:
  version: "1.3"
  provider: EKS
  scope: {allStages: true, allowedStages: [prod]}
  cluster:
    kubernetesVersion: latest
    packages:
      - {name: cert-manager, version: 1.15.3-2}
      - {name: cert-manager, version: 1.15.4}
    providerDetails:
      eks: {imdsTokenResponseHopLimit: 0}
      gke: {masterIPV4Cidr: 172.16.0.0/24}
    security:
      podSecurityStandard: {defaultProfile: privileged, allowed: [restricted, baseline, open]}
  network:
    networkPlan: eks-standard
    authorizedNetworks:
      - {name: office, cidr: 10.0.0.1/24}
      - {name: office, cidr: ""}
    aksServicesNetwork: 172.16.0.0/16
  choices:
    regions: {default: eu-west-3, allowed: [eu-west-2, eu-west-2, EU]}
    computeTemplates: {}
    nodePools: {allowOverride: true, allowedMachines: [m6i.large, ""], maxSize: 5000}
    network: {defaultSize: 20, allowedSizes: [22, 23, 30]}
"#,
        &[
            "metadata.annotations.appvia.io/published: \"yes\" is not supported: must be \"true\" or \"false\"",
            "spec.version: \"1.3\" is not a version: use MAJOR.MINOR.PATCH with an optional v prefix and -suffix, e.g. 1.3.0 or v1.15.3-2",
            "spec.scope.allowedStages: must be empty when allStages is true; set one or the other",
            "spec.cluster.kubernetesVersion: \"latest\" is not a Kubernetes version: use MAJOR.MINOR such as 1.32",
            "spec.cluster.packages[1].name: \"cert-manager\" is pinned twice; pin each package once, at one version",
            "spec.cluster.providerDetails.eks.imdsTokenResponseHopLimit: must be between 1 and 64 hops (got 0)",
            "spec.cluster.providerDetails.gke: only allowed when spec.provider is GKE (it is EKS)",
            "spec.cluster.providerDetails.gke.masterIPV4Cidr: must be a /28, e.g. 172.16.0.16/28 (got /24)",
            "spec.cluster.security.podSecurityStandard.allowed[2]: \"open\" is not supported: must be one of restricted, baseline, privileged",
            "spec.cluster.security.podSecurityStandard.defaultProfile: \"privileged\" is not among the allowed profiles (restricted, baseline, open); add it there or choose one of them",
            "spec.network.authorizedNetworks[0].cidr: \"10.0.0.1/24\" is not an IPv4 CIDR: host bits are set; the network is 10.0.0.0/24",
            "spec.network.authorizedNetworks[1].name: \"office\" is used by another range; names must be unique",
            "spec.network.authorizedNetworks[1].cidr: required: an IPv4 CIDR such as 10.0.0.0/16",
            "spec.network.aksServicesNetwork: only allowed when spec.provider is AKS (it is EKS)",
            "spec.choices.regions.allowed[1]: \"eu-west-2\" is listed twice; list each region once",
            "spec.choices.regions.allowed[2]: \"EU\" is not a region name: lower-case letters, digits and '-', e.g. eu-west-2, westeurope, europe-west2",
            "spec.choices.regions.default: \"eu-west-3\" is not among the allowed values (eu-west-2, eu-west-2, EU); add it there or choose one of them",
            "spec.choices.computeTemplates: set a default compute template, the allowed ones, or both",
            "spec.choices.nodePools.allowedMachines[1]: must not be empty: an instance type such as m6i.large",
            "spec.choices.nodePools.maxSize: must be between 1 and 1000 nodes (got 5000)",
            "spec.choices.network.allowedSizes[2]: must be between 16 and 24 (prefix length) (got 30)",
            "spec.choices.network.defaultSize: 20 is not among allowedSizes (22, 23, 30); add it there or choose one of them",
        ],
    );
    check(
        r#"
apiVersion: compute.appvia.io/v2beta2
kind: ClusterPlan
metadata: {name: bare}
spec:
  version: ""
  provider: ""
"#,
        &[
            "spec.version: required: a version such as 1.3.0",
            "spec.provider: required: one of EKS, AKS, GKE",
            "spec.cluster: required: at least cluster.kubernetesVersion, e.g. 1.32",
            "spec.network: required: at least network.networkPlan, the cluster network plan to use",
        ],
    );
}

#[test]
fn global_cluster_policy() {
    check(
        r#"
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalClusterPolicy
metadata: {name: bad-policy}
spec:
  policy:
    type: Gatekeeper
    kyverno:
      validationFailureAction: Block
      rules:
        - name: a
          match: {resources: {kinds: [Pod]}}
          validate: {message: x, pattern: {}}
          mutate: {patchStrategicMerge: {metadata: {labels: {a: b}}}}
        - name: a
          validate: {message: y}
        - name: ""
          match: {}
          mutate: {}
        - name: b
          match: {any: [{resources: {kinds: [Pod]}}]}
          validate: "deny"
          verifyImages: {imageReferences: ["*"]}
        - name: this-rule-name-is-much-longer-than-the-sixty-three-characters-kyverno-accepts
          match: {all: [{resources: {kinds: [Pod]}}]}
          generate: {kind: ConfigMap, name: x}
  target:
    cluster:
      matchLabels: {"appvia.io/stage": "not ok!"}
      matchExpressions:
        - {key: appvia.io/stage, operator: In}
        - {key: "", operator: Exists, values: [x]}
        - {key: a, operator: Near, values: [x]}
"#,
        &[
            "spec.policy.type: \"Gatekeeper\" is not supported: must be one of Kyverno",
            "spec.policy.kyverno.validationFailureAction: \"Block\" is not supported: must be one of Audit, Enforce",
            "spec.policy.kyverno.rules[0].mutate: a rule does exactly one of validate, mutate, generate or verifyImages, and this one already does validate; move it to a rule of its own",
            "spec.policy.kyverno.rules[1].name: \"a\" is used by another rule; rule names must be unique",
            "spec.policy.kyverno.rules[1].match: required: which resources the rule applies to, e.g. {resources: {kinds: [Pod]}} or {any: [...]}",
            "spec.policy.kyverno.rules[2].name: required: a rule name, unique in the policy",
            "spec.policy.kyverno.rules[2].match: required: which resources the rule applies to, e.g. {resources: {kinds: [Pod]}} or {any: [...]}",
            "spec.policy.kyverno.rules[2]: a rule must do one of validate, mutate, generate or verifyImages",
            "spec.policy.kyverno.rules[3].verifyImages: a rule does exactly one of validate, mutate, generate or verifyImages, and this one already does validate; move it to a rule of its own",
            "spec.policy.kyverno.rules[3].validate: must be an object, as Kyverno writes it",
            "spec.policy.kyverno.rules[3].verifyImages: must be a list of image verification rules",
            "spec.policy.kyverno.rules[4].name: must be at most 63 characters",
            "spec.target.cluster.matchLabels.appvia.io/stage: \"not ok!\" is not a label value: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            "spec.target.cluster.matchExpressions[0].values: required with In: at least one value",
            "spec.target.cluster.matchExpressions[1].key: required: a label key such as appvia.io/stage",
            "spec.target.cluster.matchExpressions[1].values: must be empty with Exists",
            "spec.target.cluster.matchExpressions[2].operator: \"Near\" is not supported: must be one of In, NotIn, Exists, DoesNotExist",
        ],
    );
    check(
        r#"
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalClusterPolicy
metadata: {name: empty}
spec:
  policy: {type: Kyverno, kyverno: {rules: []}}
"#,
        &["spec.policy.kyverno.rules: at least one rule is required"],
    );
}

#[test]
fn global_access_policy() {
    check(
        r#"
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalAccessPolicy
metadata: {name: owner-prod}
spec:
  scope: {allowedWorkspaces: [Payments]}
  accessPolicyTemplate:
    accessRoleRefs: [cluster.admin, Cluster.Admin, cluster.admin]
    wayfinderGroups: [admins!]
    groups: [owner, owner]
    subjectType: Robot
    constraints:
      ttl: 8 hours
      clusters:
        allowed:
          matchExpressions: [{key: appvia.io/stage, operator: NotIn}]
"#,
        &[
            "spec.scope.allowedWorkspaces[0]: \"Payments\" is not a workspace key: 2 to 5 lower-case letters or digits, starting with a letter",
            "spec.accessPolicyTemplate.accessRoleRefs[1]: \"Cluster.Admin\" is not a valid access role name: lower-case letters, digits, '-' and '.'",
            "spec.accessPolicyTemplate.accessRoleRefs[2]: \"cluster.admin\" is listed twice; list each access role once",
            "spec.accessPolicyTemplate.wayfinderGroups[0]: \"admins!\" is not a valid group name: lower-case letters, digits, '-' and '.'",
            "spec.accessPolicyTemplate.groups[1]: \"owner\" is listed twice; list each group once",
            "spec.accessPolicyTemplate.subjectType: \"Robot\" is not supported: must be one of User, AccessToken",
            "spec.accessPolicyTemplate.constraints.ttl: \"8 hours\" is not a duration: unknown unit \" hours\": use h, m, s, ms, us or ns; use e.g. 8h0m0s, between 1m0s and 720h0m0s",
            "spec.accessPolicyTemplate.constraints.clusters.allowed.matchExpressions[0].values: required with NotIn: at least one value",
        ],
    );
    check(
        r#"
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalAccessPolicy
metadata: {name: long}
spec:
  accessPolicyTemplate:
    accessRoleRefs: []
    subjectType: User
    constraints: {ttl: 721h}
"#,
        &[
            "spec.accessPolicyTemplate.accessRoleRefs: at least one access role is required, e.g. cluster.view",
            "spec.accessPolicyTemplate.constraints.ttl: must be between 1m0s and 720h0m0s (got 721h)",
        ],
    );
}

#[test]
fn global_access_role() {
    check(
        r#"
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalAccessRole
metadata: {name: bad-role}
spec:
  accessRoleTemplate:
    clusterScope: false
    rules:
      - verbs: [get, read]
        apiGroups: [""]
        resources: [pods, ""]
      - verbs: []
        resourceNames: [web]
      - verbs: [get]
        apiGroups: [""]
        resources: [pods]
        nonResourceURLs: [healthz, /metrics*, /a*b]
"#,
        &[
            "spec.accessRoleTemplate.rules[0].verbs[1]: \"read\" is not supported: must be one of get, list, watch, create, update, patch, delete, deletecollection, impersonate, bind, escalate, use, approve, sign, *",
            "spec.accessRoleTemplate.rules[0].resources[1]: must not be empty: a resource such as pods",
            "spec.accessRoleTemplate.rules[1].verbs: at least one verb is required: get, list, watch, create, update, patch, delete, deletecollection, impersonate, bind, escalate, use, approve, sign, *",
            "spec.accessRoleTemplate.rules[1].apiGroups: required with resources: the API groups, e.g. [\"\"] for the core group, [apps], or [\"*\"]",
            "spec.accessRoleTemplate.rules[1].resources: required: the resources, e.g. [pods], or nonResourceURLs instead",
            "spec.accessRoleTemplate.rules[1].resourceNames: only allowed with resources",
            "spec.accessRoleTemplate.rules[2].nonResourceURLs: a rule covers resources (apiGroups, resources) or non-resource URLs, not both; split it into two rules",
            "spec.accessRoleTemplate.rules[2].nonResourceURLs: non-resource URLs need clusterScope: true",
            "spec.accessRoleTemplate.rules[2].nonResourceURLs[0]: \"healthz\" is not a URL path: start with '/', with '*' only at the end, e.g. /healthz or /metrics*",
            "spec.accessRoleTemplate.rules[2].nonResourceURLs[2]: \"/a*b\" is not a URL path: start with '/', with '*' only at the end, e.g. /healthz or /metrics*",
        ],
    );
    check(
        r#"
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalAccessRole
metadata: {name: empty}
spec:
  accessRoleTemplate: {rules: []}
"#,
        &["spec.accessRoleTemplate.rules: at least one rule is required"],
    );
}
