//! `compute.appvia.io/v2beta2` ClusterPlan: the versioned blueprint workspace clusters are
//! built from (wayfinder-model.md §6), with one extension of ours, `spec.choices`.
//!
//! Wayfinder's v2beta2 plan fields are modelled as Wayfinder spells them: `description`,
//! `version`, `provider`, `scope`, `cluster` (Kubernetes version, pinned packages, provider
//! details, security) and `network` (the network plan, authorised networks).
//!
//! **`spec.choices`** (ours) says what a workspace user may choose when building a Cluster
//! from the plan; see [`PlanChoices`].
//!
//! The whole contract is written up for users in docs/cluster-spec.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::NETWORK_PREFIX_RANGE;
use crate::common::{SCOPE_SHAPE, ScopeSpec, is_region};
use crate::compute::{MAX_POOL_NODES, PROVIDERS};
use crate::error::{FieldPath, Reason};
use crate::kinds::{CLUSTER_PLAN, KindInfo};
use crate::meta::ObjectMeta;
use crate::net::Ipv4Net;
use crate::object::{Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// A cluster plan (one version of it).
pub type ClusterPlan = Typed<ClusterPlanSpec>;

/// Pod Security Standard profiles.
pub const PSS_PROFILES: &[&str] = &["restricted", "baseline", "privileged"];

/// AKS pricing tiers.
pub const AKS_SKU_TIERS: &[&str] = &["Free", "Standard", "Premium"];

/// AKS node OS upgrade channels.
pub const AKS_NODE_OS_UPGRADE_CHANNELS: &[&str] =
    &["None", "Unmanaged", "SecurityPatch", "NodeImage"];

/// The spec of a ClusterPlan version: what every cluster built from it gets, and what workspace users may choose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterPlanSpec {
    /// `spec.description`: what the plan is for, shown to workspace users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `1.3.0`; each version is stored separately.
    #[serde(default)]
    pub version: String,
    /// `EKS`, `AKS` or `GKE`.
    #[serde(default)]
    pub provider: String,
    /// The workspaces and stages that may use the plan; everywhere when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSpec>,
    /// `spec.cluster`: what every cluster built from the plan gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Box<PlanCluster>>,
    /// `spec.network`: the cluster network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<PlanNetwork>,
    /// What workspace users may choose (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Box<PlanChoices>>,
}

/// `spec.cluster` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanCluster {
    /// `1.32`.
    #[serde(default)]
    pub kubernetes_version: String,
    /// Packages installed on every cluster, pinned by version.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub packages: Option<Vec<PackageRef>>,
    /// `providerDetails`: provider-specific cluster settings; only the block of the plan's provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_details: Option<PlanProviderDetails>,
    /// `security`: security settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
}

/// A package pinned by name and exact version.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackageRef {
    /// `name`: the package's name.
    #[serde(default)]
    pub name: String,
    /// `version`: the exact package version, e.g. `1.15.3-2`.
    #[serde(default)]
    pub version: String,
}

/// `spec.cluster.providerDetails` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanProviderDetails {
    /// `eks`: EKS settings; only when the provider is `EKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks: Option<EksDetails>,
    /// `aks`: AKS settings; only when the provider is `AKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aks: Option<AksDetails>,
    /// `gke`: GKE settings; only when the provider is `GKE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gke: Option<GkeDetails>,
}

/// `spec.cluster.providerDetails.eks` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EksDetails {
    /// `cloudWatchLogging`: which control plane logs EKS sends to CloudWatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logging: Option<CloudWatchLogging>,
    /// `encryption`: encryption settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EksEncryption>,
    /// `generateLaunchTemplate`: generate an EC2 launch template for the node groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_launch_template: Option<bool>,
    /// `imdsV2Required`: require IMDSv2 on the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imds_v2_required: Option<bool>,
    /// `imdsTokenResponseHopLimit`: the IMDSv2 token hop limit, 1 to 64 (2 lets pods reach the metadata service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imds_token_response_hop_limit: Option<i64>,
}

/// `cloudWatchLogging` of EKS details: which control plane logs go to CloudWatch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchLogging {
    /// `api`: send API server logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<bool>,
    /// `audit`: send audit logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<bool>,
    /// `authenticator`: send authenticator logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator: Option<bool>,
    /// `controllerManager`: send controller manager logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_manager: Option<bool>,
    /// `scheduler`: send scheduler logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<bool>,
}

/// `encryption` of EKS details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EksEncryption {
    /// `secretsEncryptionEnabled`: encrypt Kubernetes secrets with a KMS key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_encryption_enabled: Option<bool>,
}

/// `spec.cluster.providerDetails.aks` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AksDetails {
    /// `Free`, `Standard` or `Premium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_tier: Option<String>,
    /// `None`, `Unmanaged`, `SecurityPatch` or `NodeImage`.
    #[serde(
        rename = "nodeOSUpgradeChannel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_os_upgrade_channel: Option<String>,
}

/// `spec.cluster.providerDetails.gke` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GkeDetails {
    #[serde(
        rename = "enableHTTPLoadBalancer",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `enableHTTPLoadBalancer`: enable the HTTP load balancing add-on.
    pub enable_http_load_balancer: Option<bool>,
    /// `enableHorizontalPodAutoscaler`: enable the horizontal pod autoscaling add-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_horizontal_pod_autoscaler: Option<bool>,
    /// `enableShieldedNodes`: use shielded GKE nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_shielded_nodes: Option<bool>,
    /// `enableStackDriverLogging`: send logs to Cloud Logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_stack_driver_logging: Option<bool>,
    /// `enableStackDriverMetrics`: send metrics to Cloud Monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_stack_driver_metrics: Option<bool>,
    /// The control plane's private range, a /28.
    #[serde(
        rename = "masterIPV4Cidr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub master_ipv4_cidr: Option<String>,
}

/// `spec.cluster.security` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Security {
    /// `podSecurityStandard`: Kubernetes Pod Security Standards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_standard: Option<PodSecurityStandard>,
    /// The access role application deployments get by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_deployment_role_default: Option<String>,
    /// Labels marking the access roles application deployments may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_deployment_role_labels: Option<BTreeMap<String, String>>,
}

/// `spec.cluster.security.podSecurityStandard` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSecurityStandard {
    /// `enabled`: enforce Pod Security Standards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `defaultProfile`: the profile namespaces get by default (`restricted`, `baseline` or `privileged`); one of `allowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// `allowed`: the profiles namespaces may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

/// `spec.network` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanNetwork {
    /// The ClusterNetworkPlan clusters use.
    #[serde(default)]
    pub network_plan: String,
    /// `authorizedMasterNetworks`: ranges that may reach the Kubernetes API.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub authorized_master_networks: Option<Vec<NamedCidr>>,
    /// `authorizedNetworks`: ranges that may reach the cluster's load balancers.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub authorized_networks: Option<Vec<NamedCidr>>,
    /// AKS only: the services range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aks_services_network: Option<String>,
}

/// A named IPv4 range in `authorizedMasterNetworks` or `authorizedNetworks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedCidr {
    /// `name`: a name for the range, unique in the list.
    #[serde(default)]
    pub name: String,
    /// `cidr`: an IPv4 CIDR, e.g. `203.0.113.0/24`; `0.0.0.0/0` allows everyone.
    #[serde(default)]
    pub cidr: String,
}

/// **`spec.choices`** (ours) says what a workspace user may choose when building a Cluster
/// from the plan; anything it does not mention is fixed by the plan:
///
/// ```yaml
/// choices:
///   regions:            # spec.region of a Cluster
///     default: eu-west-2
///     allowed: [eu-west-2, eu-west-1]
///   computeTemplates:   # spec.computeTemplate of a Cluster
///     default: eks-general-purpose
///     allowed: [eks-general-purpose, eks-high-memory]
///   nodePools:          # spec.nodePools of a Cluster
///     allowOverride: true
///     allowedMachines: [m6i.large, m6i.xlarge]
///     maxSize: 10
///   network:            # spec.network of a Cluster
///     defaultSize: 22
///     allowedSizes: [21, 22, 23, 24]
///     allowCidr: false
/// ```
///
/// - `allowed` lists every value a user may pick; when it is set, `default` must be one of
///   them; when it is not, only the default may be used.
/// - A Cluster may set a field only when the plan has the matching choice: `spec.region`
///   needs `choices.regions`, `spec.computeTemplate` needs `choices.computeTemplates`,
///   `spec.nodePools` needs `choices.nodePools.allowOverride: true`, `spec.network` needs
///   `choices.network`.
/// - When the Cluster does not set it: the region is `choices.regions.default`, else the cloud
///   access's default region; the compute template is `choices.computeTemplates.default`; the
///   network is `choices.network.defaultSize`, else the network plan's node range.
/// - Cluster node pools replace the template's pool of the same `logicalName` or are added
///   after them; each must use an allowed machine and stay within `maxSize` nodes.
///
/// Users read this contract in docs/cluster-spec.md; [`crate::resolve`] applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanChoices {
    /// `regions`: the regions clusters may choose (`spec.region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Choice>,
    /// `computeTemplates`: the compute templates clusters may choose (`spec.computeTemplate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_templates: Option<Choice>,
    /// `nodePools`: whether and how clusters may change node pools (`spec.nodePools`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_pools: Option<NodePoolChoice>,
    /// `network`: the network sizes clusters may ask for (`spec.network`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkChoice>,
}

/// A default and the values a user may pick instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Choice {
    /// `default`: what clusters get when they choose nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `allowed`: every value clusters may choose; must include the default. Only the default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

/// `choices.regions.allowed: ["*"]`: any public region of the plan's cloud — the regions
/// the price catalog lists for its provider ([`crate::cost::public_regions`]), as Wayfinder
/// lets a cluster pick when its plan names none. It stands alone in the list.
pub const ANY_REGION: &str = "*";

impl Choice {
    /// Whether this is `allowed: ["*"]`: any public region ([`ANY_REGION`]).
    pub fn is_any(&self) -> bool {
        matches!(self.allowed.as_deref(), Some([a]) if a == ANY_REGION)
    }

    /// The regions a cluster of a plan of `provider` (`EKS`, ...) may choose: `["*"]`
    /// expanded to every public region of its cloud, else [`Choice::permitted`].
    pub fn permitted_regions(&self, provider: &str) -> Vec<String> {
        if self.is_any() {
            crate::cost::public_regions(provider)
        } else {
            self.permitted().into_iter().map(str::to_string).collect()
        }
    }

    /// Whether a cluster of a plan of `provider` may choose `region`.
    pub fn permits_region(&self, provider: &str, region: &str) -> bool {
        if self.is_any() {
            crate::cost::public_regions(provider)
                .iter()
                .any(|r| r == region)
        } else {
            self.permits(region)
        }
    }

    /// Whether a user may pick `value`: one of `allowed` when that is set, else the default.
    pub fn permits(&self, value: &str) -> bool {
        match self.allowed.as_deref() {
            Some(list) if !list.is_empty() => list.iter().any(|v| v == value),
            _ => self.default.as_deref() == Some(value),
        }
    }

    /// The values a user may pick, for messages.
    pub fn permitted(&self) -> Vec<&str> {
        match self.allowed.as_deref() {
            Some(list) if !list.is_empty() => list.iter().map(String::as_str).collect(),
            _ => self.default.iter().map(String::as_str).collect(),
        }
    }
}

/// `spec.choices.nodePools` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolChoice {
    /// Whether clusters may define node pools (replacing or adding to the template's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_override: Option<bool>,
    /// Instance types their pools may use; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_machines: Option<Vec<String>>,
    /// The most nodes one of their pools may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<i64>,
}

/// `spec.choices.network` of a ClusterPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkChoice {
    /// The network prefix length clusters get when they ask for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_size: Option<i64>,
    /// The prefix lengths clusters may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_sizes: Option<Vec<i64>>,
    /// Whether clusters may give an explicit CIDR instead of a size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_cidr: Option<bool>,
}

impl NetworkChoice {
    /// Whether a user may ask for a network of prefix length `size`.
    pub fn permits(&self, size: i64) -> bool {
        match self.allowed_sizes.as_deref() {
            Some(list) if !list.is_empty() => list.contains(&size),
            _ => self.default_size == Some(size),
        }
    }

    /// The prefix lengths a user may ask for.
    pub fn permitted(&self) -> Vec<i64> {
        match self.allowed_sizes.as_deref() {
            Some(list) if !list.is_empty() => list.to_vec(),
            _ => self.default_size.into_iter().collect(),
        }
    }
}

const NAMED_CIDR_SHAPE: &[Field] = &[
    Field::required(
        "name",
        FieldType::String,
        "A name for the range, unique in the list.",
    ),
    Field::required(
        "cidr",
        FieldType::String,
        "An IPv4 CIDR, e.g. `203.0.113.0/24`; `0.0.0.0/0` allows everyone.",
    ),
];

const CHOICE_REGIONS_SHAPE: &[Field] = &[
    Field::optional(
        "default",
        FieldType::String,
        "The region clusters get when they choose none, e.g. `eu-west-2`.",
    ),
    Field::optional(
        "allowed",
        FieldType::StringList,
        "Every region clusters may choose; must include the default. `[\"*\"]`: any public region of the plan's cloud (every region the price catalog lists for its provider), the cloud access's default region when the cluster names none. Only the default when not set.",
    ),
];

const CHOICE_TEMPLATES_SHAPE: &[Field] = &[
    Field::optional(
        "default",
        FieldType::String,
        "The compute template clusters get when they choose none; it must be of the plan's provider.",
    ),
    Field::optional(
        "allowed",
        FieldType::StringList,
        "Every compute template clusters may choose; must include the default. Only the default when not set.",
    ),
];

const EKS_SHAPE: &[Field] = &[
    Field::optional(
        "cloudWatchLogging",
        FieldType::Object(&[
            Field::optional(
                "api",
                FieldType::Bool,
                "Send API server logs to CloudWatch.",
            ),
            Field::optional("audit", FieldType::Bool, "Send audit logs to CloudWatch."),
            Field::optional(
                "authenticator",
                FieldType::Bool,
                "Send authenticator logs to CloudWatch.",
            ),
            Field::optional(
                "controllerManager",
                FieldType::Bool,
                "Send controller manager logs to CloudWatch.",
            ),
            Field::optional(
                "scheduler",
                FieldType::Bool,
                "Send scheduler logs to CloudWatch.",
            ),
        ]),
        "Which control plane logs EKS sends to CloudWatch.",
    ),
    Field::optional(
        "encryption",
        FieldType::Object(&[Field::optional(
            "secretsEncryptionEnabled",
            FieldType::Bool,
            "Encrypt Kubernetes secrets with a KMS key.",
        )]),
        "Encryption settings.",
    ),
    Field::optional(
        "generateLaunchTemplate",
        FieldType::Bool,
        "Generate an EC2 launch template for the node groups.",
    ),
    Field::optional(
        "imdsV2Required",
        FieldType::Bool,
        "Require IMDSv2 on the nodes.",
    ),
    Field::optional(
        "imdsTokenResponseHopLimit",
        FieldType::Number,
        "The IMDSv2 token hop limit, 1 to 64 (2 lets pods reach the metadata service).",
    ),
];

const AKS_SHAPE: &[Field] = &[
    Field::optional(
        "skuTier",
        FieldType::String,
        "The AKS pricing tier: `Free`, `Standard` or `Premium`.",
    ),
    Field::optional(
        "nodeOSUpgradeChannel",
        FieldType::String,
        "How node OS images are upgraded: `None`, `Unmanaged`, `SecurityPatch` or `NodeImage`.",
    ),
];

const GKE_SHAPE: &[Field] = &[
    Field::optional(
        "enableHTTPLoadBalancer",
        FieldType::Bool,
        "Enable the HTTP load balancing add-on.",
    ),
    Field::optional(
        "enableHorizontalPodAutoscaler",
        FieldType::Bool,
        "Enable the horizontal pod autoscaling add-on.",
    ),
    Field::optional(
        "enableShieldedNodes",
        FieldType::Bool,
        "Use shielded GKE nodes.",
    ),
    Field::optional(
        "enableStackDriverLogging",
        FieldType::Bool,
        "Send logs to Cloud Logging.",
    ),
    Field::optional(
        "enableStackDriverMetrics",
        FieldType::Bool,
        "Send metrics to Cloud Monitoring.",
    ),
    Field::optional(
        "masterIPV4Cidr",
        FieldType::String,
        "The control plane's private range, a /28 such as `172.16.0.16/28`.",
    ),
];

const SECURITY_SHAPE: &[Field] = &[
    Field::optional(
        "podSecurityStandard",
        FieldType::Object(&[
            Field::optional(
                "enabled",
                FieldType::Bool,
                "Enforce Pod Security Standards.",
            ),
            Field::optional(
                "defaultProfile",
                FieldType::String,
                "The profile namespaces get by default: `restricted`, `baseline` or `privileged`; one of `allowed`.",
            ),
            Field::optional(
                "allowed",
                FieldType::StringList,
                "The profiles namespaces may use: `restricted`, `baseline`, `privileged`.",
            ),
        ]),
        "Kubernetes Pod Security Standards.",
    ),
    Field::optional(
        "appDeploymentRoleDefault",
        FieldType::String,
        "The access role application deployments get by default, e.g. `wf.deployment.default`.",
    ),
    Field::optional(
        "appDeploymentRoleLabels",
        FieldType::StringMap,
        "Labels marking the access roles application deployments may use.",
    ),
];

const PLAN_CLUSTER_SHAPE: &[Field] = &[
    Field::required(
        "kubernetesVersion",
        FieldType::String,
        "The Kubernetes minor version, e.g. `1.32`.",
    ),
    Field::optional(
        "packages",
        FieldType::ObjectList(&[
            Field::required("name", FieldType::String, "The package's name."),
            Field::required(
                "version",
                FieldType::String,
                "The exact package version, e.g. `1.15.3-2`.",
            ),
        ]),
        "Packages installed on every cluster, each pinned to a version; a package's dependencies must be pinned too.",
    ),
    Field::optional(
        "providerDetails",
        FieldType::Object(&[
            Field::optional(
                "eks",
                FieldType::Object(EKS_SHAPE),
                "EKS settings; only when the provider is `EKS`.",
            ),
            Field::optional(
                "aks",
                FieldType::Object(AKS_SHAPE),
                "AKS settings; only when the provider is `AKS`.",
            ),
            Field::optional(
                "gke",
                FieldType::Object(GKE_SHAPE),
                "GKE settings; only when the provider is `GKE`.",
            ),
        ]),
        "Provider-specific cluster settings; only the block of the plan's provider.",
    ),
    Field::optional(
        "security",
        FieldType::Object(SECURITY_SHAPE),
        "Security settings.",
    ),
];

const PLAN_NETWORK_SHAPE: &[Field] = &[
    Field::required(
        "networkPlan",
        FieldType::String,
        "The cluster network plan clusters use, of the plan's cloud.",
    ),
    Field::optional(
        "authorizedMasterNetworks",
        FieldType::ObjectList(NAMED_CIDR_SHAPE),
        "Ranges that may reach the Kubernetes API.",
    ),
    Field::optional(
        "authorizedNetworks",
        FieldType::ObjectList(NAMED_CIDR_SHAPE),
        "Ranges that may reach the cluster's load balancers.",
    ),
    Field::optional(
        "aksServicesNetwork",
        FieldType::String,
        "AKS only: the Kubernetes services range, e.g. `172.16.0.0/16`.",
    ),
];

const CHOICES_SHAPE: &[Field] = &[
    Field::optional(
        "regions",
        FieldType::Object(CHOICE_REGIONS_SHAPE),
        "The regions clusters may choose (`spec.region`). Without this, clusters may not choose and use the cloud access's default region. A plan without `choices` at all lets clusters choose any public region of its cloud, as `allowed: [\"*\"]` does.",
    ),
    Field::optional(
        "computeTemplates",
        FieldType::Object(CHOICE_TEMPLATES_SHAPE),
        "The compute templates clusters may choose (`spec.computeTemplate`). Without this, clusters may not choose one.",
    ),
    Field::optional(
        "nodePools",
        FieldType::Object(&[
            Field::optional(
                "allowOverride",
                FieldType::Bool,
                "Whether clusters may define node pools (`spec.nodePools`), replacing the template's pool of the same logical name or adding to them. `false` when not set.",
            ),
            Field::optional(
                "allowedMachines",
                FieldType::StringList,
                "The instance types those pools may use; any when not set.",
            ),
            Field::optional(
                "maxSize",
                FieldType::Number,
                "The most nodes one of those pools may reach (its `size`, or `autoscaling.maxSize`), 1 to 1000.",
            ),
        ]),
        "Whether and how clusters may change node pools.",
    ),
    Field::optional(
        "network",
        FieldType::Object(&[
            Field::optional(
                "defaultSize",
                FieldType::Number,
                "The network prefix length clusters get when they ask for none, 16 to 24; the network plan's node range when not set.",
            ),
            Field::optional(
                "allowedSizes",
                FieldType::NumberList,
                "Every prefix length clusters may ask for (`spec.network.size`), 16 to 24; must include the default. Only the default when not set.",
            ),
            Field::optional(
                "allowCidr",
                FieldType::Bool,
                "Whether clusters may give an explicit CIDR (`spec.network.cidr`) of an allowed size. `false` when not set.",
            ),
        ]),
        "The network sizes clusters may ask for (`spec.network`). Without this, clusters may not ask.",
    ),
];

/// The fields of a ClusterPlan's spec.
pub const SPEC_SHAPE: &[Field] = &[
    Field::optional(
        "description",
        FieldType::String,
        "What the plan is for, shown to workspace users.",
    ),
    Field::required(
        "version",
        FieldType::String,
        "The plan version, e.g. `1.3.0` (MAJOR.MINOR.PATCH, optional `v` prefix and `-suffix`). Each version is a separate object; change the version to change the plan.",
    ),
    // A plan version's provider cannot change in place: the network plan, compute templates
    // and clusters built from it are that provider's.
    Field::required(
        "provider",
        FieldType::String,
        "The cluster provider: `EKS`, `AKS` or `GKE`.",
    )
    .immutable(),
    Field::optional(
        "scope",
        FieldType::Object(SCOPE_SHAPE),
        "The workspaces and stages that may build clusters from the plan; everywhere when not set.",
    ),
    Field::required(
        "cluster",
        FieldType::Object(PLAN_CLUSTER_SHAPE),
        "What every cluster built from the plan gets.",
    ),
    Field::required(
        "network",
        FieldType::Object(PLAN_NETWORK_SHAPE),
        "The cluster network.",
    ),
    Field::optional(
        "choices",
        FieldType::Object(CHOICES_SHAPE),
        "What workspace users may choose when they build a cluster from the plan; everything else is fixed by the plan.",
    ),
];

impl ClusterPlanSpec {
    /// What clusters built from this plan may choose: `spec.choices` when the plan has them;
    /// without them, Wayfinder's behaviour ([`wayfinder_choices`]) over `templates`, the
    /// names of the compute templates there are (the server's stored ones, the compiler's
    /// definitions), of any provider: those of the plan's provider are kept. The server's
    /// resolver and the compiler's self-service modules both ask this, so they cannot differ
    /// on what a plan allows.
    pub fn effective_choices<'a>(
        &'a self,
        templates: impl FnOnce() -> Vec<(String, String)>,
    ) -> std::borrow::Cow<'a, PlanChoices> {
        match &self.choices {
            Some(c) => std::borrow::Cow::Borrowed(c),
            None => std::borrow::Cow::Owned(wayfinder_choices(
                templates()
                    .into_iter()
                    .filter(|(_, provider)| *provider == self.provider)
                    .map(|(name, _)| name)
                    .collect(),
            )),
        }
    }
}

/// Wayfinder's behaviour for a plan without `spec.choices`: a cluster may choose any public
/// region of the plan's cloud (`regions.allowed: ["*"]`, [`ANY_REGION`]; the cloud access's
/// default region when it names none) and any of `templates` (the compute templates of the
/// plan's provider; none is chosen unless the cluster names one), and may define node
/// pools, replacing or adding to the template's — all limited only by the provisioning
/// policies (their `allowedRegions` included). The network is the network plan's, as with a
/// plan whose choices leave it out.
pub fn wayfinder_choices(mut templates: Vec<String>) -> PlanChoices {
    templates.sort();
    templates.dedup();
    PlanChoices {
        regions: Some(Choice {
            default: None,
            allowed: Some(vec![ANY_REGION.to_string()]),
        }),
        compute_templates: (!templates.is_empty()).then_some(Choice {
            default: None,
            allowed: Some(templates),
        }),
        node_pools: Some(NodePoolChoice {
            allow_override: Some(true),
            allowed_machines: None,
            max_size: None,
        }),
        network: None,
    }
}

impl Spec for ClusterPlanSpec {
    const INFO: &'static KindInfo = &CLUSTER_PLAN;

    fn check(&self, c: &mut Checker, path: &FieldPath, meta: &ObjectMeta) {
        crate::versioned::check_annotations(c, meta);
        c.version(&path.field("version"), &self.version);
        c.one_of(&path.field("provider"), &self.provider, PROVIDERS);
        let provider = PROVIDERS
            .contains(&self.provider.as_str())
            .then_some(self.provider.as_str());
        if let Some(scope) = &self.scope {
            scope.check(c, &path.field("scope"));
        }
        match &self.cluster {
            None => c.push(
                &path.field("cluster"),
                Reason::Required,
                "required: at least cluster.kubernetesVersion, e.g. 1.32",
            ),
            Some(cluster) => cluster.check(c, &path.field("cluster"), provider),
        }
        match &self.network {
            None => c.push(
                &path.field("network"),
                Reason::Required,
                "required: at least network.networkPlan, the cluster network plan to use",
            ),
            Some(network) => network.check(c, &path.field("network"), provider),
        }
        if let Some(choices) = &self.choices {
            choices.check(c, &path.field("choices"), provider);
        }
    }

    fn version(&self) -> Option<&str> {
        Some(&self.version)
    }
}

impl ClusterPlanSpec {
    /// The managed control plane's pricing tier the plan asks for: the AKS `skuTier`.
    pub fn control_plane_tier(&self) -> Option<&str> {
        if self.provider != "AKS" {
            return None;
        }
        self.cluster
            .as_ref()?
            .provider_details
            .as_ref()?
            .aks
            .as_ref()?
            .sku_tier
            .as_deref()
    }

    /// The control-plane logs an EKS cluster sends to CloudWatch
    /// (`providerDetails.eks.cloudWatchLogging`), by EKS's log type names (`api`, `audit`,
    /// `authenticator`, `controllerManager`, `scheduler`): those set true; `api`, `audit` and
    /// `authenticator` when the plan says nothing; none for AKS or GKE plans.
    pub fn eks_control_plane_logs(&self) -> Vec<&'static str> {
        if self.provider != "EKS" {
            return Vec::new();
        }
        let logging = self
            .cluster
            .as_ref()
            .and_then(|c| c.provider_details.as_ref())
            .and_then(|d| d.eks.as_ref())
            .and_then(|e| e.cloud_watch_logging.as_ref());
        let Some(l) = logging else {
            return vec!["api", "audit", "authenticator"];
        };
        [
            ("api", l.api),
            ("audit", l.audit),
            ("authenticator", l.authenticator),
            ("controllerManager", l.controller_manager),
            ("scheduler", l.scheduler),
        ]
        .into_iter()
        .filter(|(_, on)| *on == Some(true))
        .map(|(name, _)| name)
        .collect()
    }

    /// Whether an EKS cluster's Kubernetes secrets are encrypted with a KMS key
    /// (`providerDetails.eks.encryption.secretsEncryptionEnabled`): on unless the plan turns
    /// it off; never for AKS or GKE plans.
    pub fn secrets_encryption(&self) -> bool {
        self.provider == "EKS"
            && self
                .cluster
                .as_ref()
                .and_then(|c| c.provider_details.as_ref())
                .and_then(|d| d.eks.as_ref())
                .and_then(|e| e.encryption.as_ref())
                .and_then(|e| e.secrets_encryption_enabled)
                != Some(false)
    }

    /// The CIDRs that may reach the Kubernetes API (`network.authorizedMasterNetworks`);
    /// empty when the plan does not restrict it.
    pub fn authorized_master_cidrs(&self) -> Vec<String> {
        self.network
            .as_ref()
            .and_then(|n| n.authorized_master_networks.as_ref())
            .into_iter()
            .flatten()
            .map(|n| n.cidr.clone())
            .collect()
    }

    /// The packages the plan pins.
    pub fn packages(&self) -> &[PackageRef] {
        self.cluster
            .as_ref()
            .and_then(|c| c.packages.as_deref())
            .unwrap_or_default()
    }
}

/// Whether `v` is a Kubernetes minor version such as `1.32` (or a patch version `1.32.1`).
fn is_kubernetes_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Refuses a provider-specific block when the plan's provider is another (known) one.
fn only_for(c: &mut Checker, path: &FieldPath, wanted: &str, provider: Option<&str>) {
    if let Some(p) = provider.filter(|p| *p != wanted) {
        c.push(
            path,
            Reason::Forbidden,
            format!("only allowed when spec.provider is {wanted} (it is {p})"),
        );
    }
}

impl PlanCluster {
    fn check(&self, c: &mut Checker, path: &FieldPath, provider: Option<&str>) {
        let kv = path.field("kubernetesVersion");
        if self.kubernetes_version.is_empty() {
            c.push(
                &kv,
                Reason::Required,
                "required: a Kubernetes minor version such as 1.32",
            );
        } else if !is_kubernetes_version(&self.kubernetes_version) {
            c.push(
                &kv,
                Reason::Invalid,
                format!(
                    "{:?} is not a Kubernetes version: use MAJOR.MINOR such as 1.32",
                    self.kubernetes_version
                ),
            );
        }
        let packages = path.field("packages");
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, p) in self.packages.iter().flatten().enumerate() {
            let pp = packages.index(i);
            c.dns_label(&pp.field("name"), &p.name);
            c.version(&pp.field("version"), &p.version);
            if !p.name.is_empty() {
                if seen.contains(&p.name.as_str()) {
                    c.push(
                        &pp.field("name"),
                        Reason::Duplicate,
                        format!(
                            "{:?} is pinned twice; pin each package once, at one version",
                            p.name
                        ),
                    );
                }
                seen.insert(&p.name);
            }
        }
        if let Some(d) = &self.provider_details {
            let dp = path.field("providerDetails");
            if let Some(eks) = &d.eks {
                only_for(c, &dp.field("eks"), "EKS", provider);
                if let Some(h) = eks.imds_token_response_hop_limit {
                    c.range(
                        &dp.field("eks").field("imdsTokenResponseHopLimit"),
                        h,
                        (1, 64),
                        "hops",
                    );
                }
            }
            if let Some(aks) = &d.aks {
                let ap = dp.field("aks");
                only_for(c, &ap, "AKS", provider);
                if let Some(t) = &aks.sku_tier {
                    c.one_of(&ap.field("skuTier"), t, AKS_SKU_TIERS);
                }
                if let Some(ch) = &aks.node_os_upgrade_channel {
                    c.one_of(
                        &ap.field("nodeOSUpgradeChannel"),
                        ch,
                        AKS_NODE_OS_UPGRADE_CHANNELS,
                    );
                }
            }
            if let Some(gke) = &d.gke {
                let gp = dp.field("gke");
                only_for(c, &gp, "GKE", provider);
                if let Some(cidr) = &gke.master_ipv4_cidr {
                    let p = gp.field("masterIPV4Cidr");
                    match Ipv4Net::parse(cidr) {
                        Err(e) => c.push(
                            &p,
                            Reason::Invalid,
                            format!("{cidr:?} is not an IPv4 CIDR: {e}"),
                        ),
                        Ok(net) if net.prefix != 28 => c.push(
                            &p,
                            Reason::Invalid,
                            format!("must be a /28, e.g. 172.16.0.16/28 (got /{})", net.prefix),
                        ),
                        Ok(_) => {}
                    }
                }
            }
        }
        if let Some(s) = &self.security {
            let sp = path.field("security");
            if let Some(pss) = &s.pod_security_standard {
                let pp = sp.field("podSecurityStandard");
                for (i, a) in pss.allowed.iter().flatten().enumerate() {
                    c.one_of(&pp.field("allowed").index(i), a, PSS_PROFILES);
                }
                if let Some(d) = &pss.default_profile {
                    c.one_of(&pp.field("defaultProfile"), d, PSS_PROFILES);
                    if let Some(allowed) = pss.allowed.as_ref().filter(|a| !a.is_empty())
                        && PSS_PROFILES.contains(&d.as_str())
                        && !allowed.contains(d)
                    {
                        c.push(
                            &pp.field("defaultProfile"),
                            Reason::Invalid,
                            format!(
                                "{d:?} is not among the allowed profiles ({}); add it there or choose one of them",
                                allowed.join(", ")
                            ),
                        );
                    }
                }
            }
            if let Some(r) = &s.app_deployment_role_default {
                c.required(
                    &sp.field("appDeploymentRoleDefault"),
                    r,
                    "an access role name such as wf.deployment.default",
                );
            }
            for (k, v) in s.app_deployment_role_labels.iter().flatten() {
                c.label(&sp.field("appDeploymentRoleLabels"), k, v);
            }
        }
    }
}

impl PlanNetwork {
    fn check(&self, c: &mut Checker, path: &FieldPath, provider: Option<&str>) {
        c.dns_label(&path.field("networkPlan"), &self.network_plan);
        for (field, list) in [
            ("authorizedMasterNetworks", &self.authorized_master_networks),
            ("authorizedNetworks", &self.authorized_networks),
        ] {
            let lp = path.field(field);
            let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
            for (i, n) in list.iter().flatten().enumerate() {
                let np = lp.index(i);
                c.required(&np.field("name"), &n.name, "a name for the range");
                if !n.name.is_empty() {
                    if seen.contains(&n.name.as_str()) {
                        c.push(
                            &np.field("name"),
                            Reason::Duplicate,
                            format!(
                                "{:?} is used by another range; names must be unique",
                                n.name
                            ),
                        );
                    }
                    seen.insert(&n.name);
                }
                check_cidr(c, &np.field("cidr"), &n.cidr);
            }
        }
        if let Some(cidr) = &self.aks_services_network {
            let p = path.field("aksServicesNetwork");
            only_for(c, &p, "AKS", provider);
            check_cidr(c, &p, cidr);
        }
    }
}

fn check_cidr(c: &mut Checker, path: &FieldPath, cidr: &str) {
    if cidr.is_empty() {
        c.push(
            path,
            Reason::Required,
            "required: an IPv4 CIDR such as 10.0.0.0/16",
        );
    } else if let Err(e) = Ipv4Net::parse(cidr) {
        c.push(
            path,
            Reason::Invalid,
            format!("{cidr:?} is not an IPv4 CIDR: {e}"),
        );
    }
}

impl PlanChoices {
    fn check(&self, c: &mut Checker, path: &FieldPath, provider: Option<&str>) {
        if self.compute_templates.is_none()
            && self.node_pools.as_ref().and_then(|n| n.allow_override) != Some(true)
        {
            c.push(
                path,
                Reason::Invalid,
                "clusters built from this plan could have no node pools: offer compute templates (choices.computeTemplates), allow node-pool overrides (choices.nodePools.allowOverride: true), or leave out spec.choices for Wayfinder's behaviour (any public region of the plan's cloud, any compute template of its provider, node pools within the provisioning policies)",
            );
        }
        if let Some(r) = &self.regions {
            let rp = path.field("regions");
            let any = r.allowed.iter().flatten().position(|v| v == ANY_REGION);
            if let Some(i) = any {
                check_any_region(c, &rp, r, i, provider);
            } else {
                r.check(c, &rp, "region", region_name);
            }
        }
        if let Some(t) = &self.compute_templates {
            t.check(
                c,
                &path.field("computeTemplates"),
                "compute template",
                |c, p, v| c.dns_label(p, v),
            );
        }
        if let Some(n) = &self.node_pools {
            let np = path.field("nodePools");
            let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
            for (i, m) in n.allowed_machines.iter().flatten().enumerate() {
                let mp = np.field("allowedMachines").index(i);
                c.required(&mp, m, "an instance type such as m6i.large");
                if seen.contains(&m.as_str()) {
                    c.push(
                        &mp,
                        Reason::Duplicate,
                        format!("{m:?} is listed twice; list each instance type once"),
                    );
                }
                seen.insert(m);
            }
            if let Some(max) = n.max_size {
                c.range(&np.field("maxSize"), max, (1, MAX_POOL_NODES), "nodes");
            }
        }
        if let Some(n) = &self.network {
            let np = path.field("network");
            if let Some(d) = n.default_size {
                c.range(
                    &np.field("defaultSize"),
                    d,
                    NETWORK_PREFIX_RANGE,
                    "(prefix length)",
                );
            }
            let mut seen: std::collections::HashSet<i64> = std::collections::HashSet::new();
            for (i, s) in n.allowed_sizes.iter().flatten().enumerate() {
                let sp = np.field("allowedSizes").index(i);
                c.range(&sp, *s, NETWORK_PREFIX_RANGE, "(prefix length)");
                if seen.contains(s) {
                    c.push(
                        &sp,
                        Reason::Duplicate,
                        format!("{s} is listed twice; list each size once"),
                    );
                }
                seen.insert(*s);
            }
            match (
                n.default_size,
                n.allowed_sizes.as_ref().filter(|l| !l.is_empty()),
            ) {
                (Some(d), Some(list)) if !list.contains(&d) => c.push(
                    &np.field("defaultSize"),
                    Reason::Invalid,
                    format!(
                        "{d} is not among allowedSizes ({}); add it there or choose one of them",
                        list.iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                (None, None) => c.push(
                    &np,
                    Reason::Required,
                    "set defaultSize, allowedSizes, or both",
                ),
                _ => {}
            }
        }
    }
}

/// Refuses `v` when it is not a region name.
fn region_name(c: &mut Checker, p: &FieldPath, v: &str) {
    if !is_region(v) {
        c.push(
            p,
            Reason::Invalid,
            format!("{v:?} is not a region name: lower-case letters, digits and '-', e.g. eu-west-2, westeurope, europe-west2"),
        );
    }
}

/// `choices.regions` whose `allowed` has `"*"` (at index `i`): it stands alone, and a
/// default must be a public region of the plan's cloud.
fn check_any_region(
    c: &mut Checker,
    path: &FieldPath,
    choice: &Choice,
    i: usize,
    provider: Option<&str>,
) {
    let allowed = choice.allowed.as_deref().unwrap_or_default();
    if allowed.len() > 1 {
        c.push(
            &path.field("allowed").index(i),
            Reason::Invalid,
            "\"*\" (any public region of the plan's cloud) stands alone: remove the other regions, or list the regions without \"*\"",
        );
        return;
    }
    let Some(d) = &choice.default else { return };
    let dp = path.field("default");
    region_name(c, &dp, d);
    if let Some(provider) = provider
        && is_region(d)
    {
        let public = crate::cost::public_regions(provider);
        if !public.iter().any(|r| r == d) {
            c.push(
                &dp,
                Reason::NotSupported,
                format!(
                    "{d:?} is not a public region of {} (the price catalog's list): choose one of {}",
                    crate::common::cloud_for_provider(provider).unwrap_or(provider),
                    public.join(", ")
                ),
            );
        }
    }
}

impl Choice {
    fn check(
        &self,
        c: &mut Checker,
        path: &FieldPath,
        what: &str,
        each: impl Fn(&mut Checker, &FieldPath, &str),
    ) {
        if let Some(d) = &self.default {
            each(c, &path.field("default"), d);
        }
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, v) in self.allowed.iter().flatten().enumerate() {
            let p = path.field("allowed").index(i);
            each(c, &p, v);
            if seen.contains(&v.as_str()) {
                c.push(
                    &p,
                    Reason::Duplicate,
                    format!("{v:?} is listed twice; list each {what} once"),
                );
            }
            seen.insert(v);
        }
        match (
            &self.default,
            self.allowed.as_ref().filter(|a| !a.is_empty()),
        ) {
            (Some(d), Some(list)) if !list.contains(d) => c.push(
                &path.field("default"),
                Reason::Invalid,
                format!(
                    "{d:?} is not among the allowed values ({}); add it there or choose one of them",
                    list.join(", ")
                ),
            ),
            (None, None) => c.push(
                path,
                Reason::Required,
                format!("set a default {what}, the allowed ones, or both"),
            ),
            _ => {}
        }
    }
}
