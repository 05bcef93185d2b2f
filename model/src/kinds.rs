//! The registry of kinds: API group, version, plural and scope of each, and the
//! [`Object`] sum type that parsing produces.

use serde::Serialize;

use crate::error::{FieldPath, ValidationErrors};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Status, Typed};
use crate::shape::Field;

/// Whether a kind lives at the platform level or inside a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Platform-level: one object per name for the whole platform.
    Platform,
    /// Inside a workspace: names are unique per workspace.
    Workspace,
}

/// Static facts about one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The API group, e.g. `compute.appvia.io`.
    pub group: &'static str,
    /// The API version within the group, e.g. `v2beta2`.
    pub version: &'static str,
    /// The kind's name, e.g. `ComputeTemplate`.
    pub kind: &'static str,
    /// The kind in lower case, pluralised as Kubernetes does; the last path segment of its
    /// collection URL.
    pub plural: &'static str,
    /// Platform-level or in a workspace.
    pub scope: Scope,
    /// Whether objects are versioned by `spec.version` (ClusterPlan, Package): stored once per
    /// version and addressed at `…/{name}/versions/{version}`.
    pub versioned: bool,
    /// What the kind is for, in Markdown.
    pub description: &'static str,
    /// The fields of its `spec`.
    pub spec: &'static [Field],
    /// The fields of its `status` beyond the common `status`, `message` and `conditions`
    /// (empty for kinds that report nothing more).
    pub status: &'static [Field],
}

impl KindInfo {
    /// The `metadata.labels` keys the server owns on objects of this kind: a Cluster's
    /// Wayfinder labels ([`crate::cluster::RESERVED_LABELS`]: stage, plan, provider, cloud,
    /// workspace), which admission sets. Every kind has `metadata.labels`; its other labels
    /// are the client's — the provider's `labels` attribute and the compiler's catalog
    /// module hold exactly those.
    pub fn server_labels(&self) -> &'static [&'static str] {
        if self.kind == CLUSTER.kind {
            crate::cluster::RESERVED_LABELS
        } else {
            &[]
        }
    }

    /// `group/version`, the value of `apiVersion`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// The paths of the `spec` fields that cannot change once the object exists, under
    /// `spec` (`spec.provider`), from the shape's [`Field::immutable`] declarations.
    pub fn immutable_paths(&self) -> Vec<String> {
        crate::shape::immutable_paths(self.spec)
            .into_iter()
            .map(|p| format!("spec.{p}"))
            .collect()
    }
    /// The [`KindInfo::immutable_paths`] whose values differ between two specs (JSON, as the
    /// model serialises them): what an update may not change.
    pub fn changed_immutable_paths(
        &self,
        before: &serde_json::Value,
        after: &serde_json::Value,
    ) -> Vec<String> {
        self.immutable_paths()
            .into_iter()
            .filter(|p| {
                let pointer = p.strip_prefix("spec").unwrap_or(p).replace('.', "/");
                before.pointer(&pointer) != after.pointer(&pointer)
            })
            .collect()
    }
}

/// ComputeTemplate (`compute.appvia.io/v2beta2`, platform): node pools for one cluster provider.
pub const COMPUTE_TEMPLATE: KindInfo = KindInfo {
    group: "compute.appvia.io",
    version: "v2beta2",
    kind: "ComputeTemplate",
    plural: "computetemplates",
    scope: Scope::Platform,
    versioned: false,
    description: "A compute template: a named set of node-pool presets (general purpose, high-memory, low-cost spot) that cluster plans and workspace clusters start from. Administrators only.",
    spec: crate::compute::SPEC_SHAPE,
    status: &[],
};

/// Cluster (`compute.appvia.io/v2beta2`, in a workspace): a cluster built from a plan version.
pub const CLUSTER: KindInfo = KindInfo {
    group: "compute.appvia.io",
    version: "v2beta2",
    kind: "Cluster",
    plural: "clusters",
    scope: Scope::Workspace,
    versioned: false,
    description: "A workspace's Kubernetes cluster, built from a published cluster plan version, within the provisioning policies that apply to its workspace and stage.",
    spec: crate::cluster::SPEC_SHAPE,
    status: crate::cluster::STATUS_SHAPE,
};

/// ProvisioningPolicy (`policy.appvia.io/v2beta1`, platform): regions, compute and limits allowed where it applies.
pub const PROVISIONING_POLICY: KindInfo = KindInfo {
    group: "policy.appvia.io",
    version: "v2beta1",
    kind: "ProvisioningPolicy",
    plural: "provisioningpolicies",
    scope: Scope::Platform,
    versioned: false,
    description: "A provisioning policy: the regions, instance types, node counts and estimated monthly cost that self-service clusters may use, for the workspaces and stages in its scope. Administrators only.",
    spec: crate::policy::SPEC_SHAPE,
    status: &[],
};

/// Workspace (`org.appvia.io/v2beta1`, platform): a team's space for clusters and cloud access.
pub const WORKSPACE: KindInfo = KindInfo {
    group: "org.appvia.io",
    version: "v2beta1",
    kind: "Workspace",
    plural: "workspaces",
    scope: Scope::Platform,
    versioned: false,
    description: concat!(
        "A workspace: a team's home for clusters, cloud access and tokens. Its name is the workspace key (",
        crate::workspace_key_text!(),
        "); its objects live in namespace `ws-KEY`."
    ),
    spec: crate::org::WORKSPACE_SHAPE,
    status: &[],
};

/// Stage (`org.appvia.io/v2beta1`, platform): an environment class such as `nonprod` or `prod`.
pub const STAGE: KindInfo = KindInfo {
    group: "org.appvia.io",
    version: "v2beta1",
    kind: "Stage",
    plural: "stages",
    scope: Scope::Platform,
    versioned: false,
    description: "A stage (`nonprod`, `prod`, …): a step on the way to production. Stages scope cluster plans, cloud access and policies; clusters carry their stage in the label `appvia.io/stage`. Administrators only.",
    spec: crate::org::STAGE_SHAPE,
    status: &[],
};

/// AccessToken (`org.appvia.io/v2beta1`, in a workspace): a token for automation.
pub const ACCESS_TOKEN: KindInfo = KindInfo {
    group: "org.appvia.io",
    version: "v2beta1",
    kind: "AccessToken",
    plural: "accesstokens",
    scope: Scope::Workspace,
    versioned: false,
    description: "An access token for automation such as CI: a workspace token lives in its workspace and carries workspace roles; a platform token lives in the `admin` workspace and may carry `admin`. The secret is shown once when the token is created and stored only as a hash.",
    spec: crate::org::ACCESS_TOKEN_SHAPE,
    status: &[],
};

/// CloudIdentity (`cloudaccess.appvia.io/v2beta2`, in a workspace): how Wayfinder authenticates to a cloud.
pub const CLOUD_IDENTITY: KindInfo = KindInfo {
    group: "cloudaccess.appvia.io",
    version: "v2beta2",
    kind: "CloudIdentity",
    plural: "cloudidentities",
    scope: Scope::Workspace,
    versioned: false,
    description: "A cloud identity: the workload identity (an AWS IAM role, an Azure AD application, a GCP service account) through which Wayfinder reaches a cloud. Platform identities live in the `admin` workspace. Administrators only.",
    spec: crate::cloudaccess::CLOUD_IDENTITY_SHAPE,
    status: &[],
};

/// CloudAccessConfig (`cloudaccess.appvia.io/v2beta2`, in a workspace): a cloud account and what it may be used for.
pub const CLOUD_ACCESS_CONFIG: KindInfo = KindInfo {
    group: "cloudaccess.appvia.io",
    version: "v2beta2",
    kind: "CloudAccessConfig",
    plural: "cloudaccessconfigs",
    scope: Scope::Workspace,
    versioned: false,
    description: "A cloud access: an AWS account, Azure subscription or GCP project Wayfinder may use for one purpose (`Kubernetes` for cluster provisioning), through a cloud identity, for the workspaces and stages in its scope. Platform cloud access lives in the `admin` workspace. Administrators only.",
    spec: crate::cloudaccess::CLOUD_ACCESS_CONFIG_SHAPE,
    status: &[],
};

/// ClusterNetworkPlan (`networking.appvia.io/v2beta1`, platform): how a cluster's network is laid out.
pub const CLUSTER_NETWORK_PLAN: KindInfo = KindInfo {
    group: "networking.appvia.io",
    version: "v2beta1",
    kind: "ClusterNetworkPlan",
    plural: "clusternetworkplans",
    scope: Scope::Platform,
    versioned: false,
    description: "A cluster network plan: how a cluster's network is laid out — node, service and pod ranges (fixed, or a size allocated from assignable networks), availability zones, NAT gateways and subnets. Each cluster plan names one. Administrators only.",
    spec: crate::networking::CLUSTER_NETWORK_PLAN_SHAPE,
    status: &[],
};

/// AssignableNetwork (`networking.appvia.io/v2beta1`, in a workspace): address ranges clusters' networks are allocated from.
pub const ASSIGNABLE_NETWORK: KindInfo = KindInfo {
    group: "networking.appvia.io",
    version: "v2beta1",
    kind: "AssignableNetwork",
    plural: "assignablenetworks",
    scope: Scope::Workspace,
    versioned: false,
    description: "An assignable network: IPv4 ranges of one cloud and stage from which cluster networks are allocated automatically. Administrators only.",
    spec: crate::networking::ASSIGNABLE_NETWORK_SHAPE,
    status: &[],
};

/// Repository (`package.appvia.io/v2beta2`, platform): a Helm chart repository.
pub const REPOSITORY: KindInfo = KindInfo {
    group: "package.appvia.io",
    version: "v2beta2",
    kind: "Repository",
    plural: "repositories",
    scope: Scope::Platform,
    versioned: false,
    description: "A package repository: a Helm chart repository (HTTP(S) or OCI) that packages install charts from. Administrators only.",
    spec: crate::package::REPOSITORY_SHAPE,
    status: &[],
};

/// Package (`package.appvia.io/v2beta2`, platform, versioned): a Helm chart or manifests to install on clusters.
pub const PACKAGE: KindInfo = KindInfo {
    group: "package.appvia.io",
    version: "v2beta2",
    kind: "Package",
    plural: "packages",
    scope: Scope::Platform,
    versioned: true,
    description: "A package: versioned software (a Helm chart and/or manifests) installed on every cluster whose plan pins it by name and version. Versioned: each `spec.version` is stored separately and published, drafted or deprecated with annotations. Administrators only.",
    spec: crate::package::PACKAGE_SHAPE,
    status: &[],
};

/// ClusterPlan (`compute.appvia.io/v2beta2`, platform, versioned): what clusters built from it are and may choose.
pub const CLUSTER_PLAN: KindInfo = KindInfo {
    group: "compute.appvia.io",
    version: "v2beta2",
    kind: "ClusterPlan",
    plural: "clusterplans",
    scope: Scope::Platform,
    versioned: true,
    description: "A cluster plan: the versioned blueprint workspace clusters are built from — provider, Kubernetes version, packages, security, network plan — and what workspace users may choose (regions, compute templates, node pools, network sizes). Versioned: each `spec.version` is stored separately and moves from Draft to Published to Deprecated. Administrators only.",
    spec: crate::plan::SPEC_SHAPE,
    status: &[],
};

/// GlobalClusterPolicy (`policydelivery.appvia.io/v1alpha1`, platform): a Kyverno policy delivered to clusters.
pub const GLOBAL_CLUSTER_POLICY: KindInfo = KindInfo {
    group: "policydelivery.appvia.io",
    version: "v1alpha1",
    kind: "GlobalClusterPolicy",
    plural: "globalclusterpolicies",
    scope: Scope::Platform,
    versioned: false,
    description: "A cluster policy (Kyverno) delivered to every cluster whose labels match its target — by stage, plan, cloud, provider or workspace. Administrators only.",
    spec: crate::policydelivery::GLOBAL_CLUSTER_POLICY_SHAPE,
    status: &[],
};

/// GlobalAccessPolicy (`policydelivery.appvia.io/v1alpha1`, platform): who may access which clusters.
pub const GLOBAL_ACCESS_POLICY: KindInfo = KindInfo {
    group: "policydelivery.appvia.io",
    version: "v1alpha1",
    kind: "GlobalAccessPolicy",
    plural: "globalaccesspolicies",
    scope: Scope::Platform,
    versioned: false,
    description: "A cluster access policy: which groups (or access tokens) may take which access roles on which clusters, for how long at a time. Administrators only.",
    spec: crate::policydelivery::GLOBAL_ACCESS_POLICY_SHAPE,
    status: &[],
};

/// GlobalAccessRole (`policydelivery.appvia.io/v1alpha1`, platform): a Kubernetes role delivered to clusters.
pub const GLOBAL_ACCESS_ROLE: KindInfo = KindInfo {
    group: "policydelivery.appvia.io",
    version: "v1alpha1",
    kind: "GlobalAccessRole",
    plural: "globalaccessroles",
    scope: Scope::Platform,
    versioned: false,
    description: "A cluster access role: Kubernetes RBAC rules, cluster-wide or per namespace, that access policies grant for a limited time. Administrators only.",
    spec: crate::policydelivery::GLOBAL_ACCESS_ROLE_SHAPE,
    status: &[],
};

/// Declares every kind once: the [`Object`] enum, its accessors, the registry [`ALL`] and
/// typed parsing. Adding a kind is one line here plus its `KindInfo` and spec type.
macro_rules! registry {
    ($($variant:ident => $spec:ty),* $(,)?) => {
        /// Any object the model can parse.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Object {
            $(
                #[doc = concat!("A ", stringify!($variant), ".")]
                $variant(Typed<$spec>),
            )*
        }

        /// Every kind the model knows, in a stable order.
        pub const ALL: &[&KindInfo] = &[$(<$spec as Spec>::INFO,)*];

        impl Object {
            /// The registry entry of the object's kind.
            pub fn kind_info(&self) -> &'static KindInfo {
                match self {
                    $(Object::$variant(_) => <$spec as Spec>::INFO,)*
                }
            }

            /// The object's `metadata`.
            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$variant(o) => &o.metadata,)*
                }
            }

            /// The object's `metadata`, to change.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$variant(o) => &mut o.metadata,)*
                }
            }

            /// The object's `status`, when it has one.
            pub fn status(&self) -> Option<&Status> {
                match self {
                    $(Object::$variant(o) => o.status.as_ref(),)*
                }
            }

            /// The object's `status`, to set or clear.
            pub fn status_mut(&mut self) -> &mut Option<Status> {
                match self {
                    $(Object::$variant(o) => &mut o.status,)*
                }
            }

            /// `spec.version` of a versioned kind.
            pub fn version(&self) -> Option<&str> {
                match self {
                    $(Object::$variant(o) => o.spec.version(),)*
                }
            }

            /// Checks every field and returns every problem at once.
            pub fn validate(&self) -> Result<(), ValidationErrors> {
                match self {
                    $(Object::$variant(o) => o.validate(),)*
                }
            }

            /// The `spec` as JSON, for comparing whether a change bumps `metadata.generation`.
            pub fn spec_json(&self) -> serde_json::Value {
                match self {
                    $(Object::$variant(o) => serde_json::to_value(&o.spec).unwrap_or_default(),)*
                }
            }
        }

        /// Whether names of kind `info` may contain dots ([`Spec::DOTTED_NAMES`]): a DNS
        /// subdomain such as `cluster.admin` rather than a single DNS label.
        pub fn dotted_names(info: &KindInfo) -> bool {
            $(
                if info.kind == <$spec as Spec>::INFO.kind {
                    return <$spec as Spec>::DOTTED_NAMES;
                }
            )*
            false
        }

        /// Reads `value` as an object of kind `info`; the error names the failing path.
        pub(crate) fn typed_from_value(
            info: &KindInfo,
            value: serde_json::Value,
        ) -> Result<Object, (FieldPath, String)> {
            $(
                if info.kind == <$spec as Spec>::INFO.kind {
                    return crate::parse::typed_from::<Typed<$spec>>(value).map(Object::$variant);
                }
            )*
            Err((FieldPath::root().field("kind"), format!("{} is registered but has no parser", info.kind)))
        }
    };
}

registry! {
    ComputeTemplate => crate::compute::ComputeTemplateSpec,
    ProvisioningPolicy => crate::policy::ProvisioningPolicySpec,
    Cluster => crate::cluster::ClusterSpec,
    Workspace => crate::org::WorkspaceSpec,
    Stage => crate::org::StageSpec,
    AccessToken => crate::org::AccessTokenSpec,
    CloudIdentity => crate::cloudaccess::CloudIdentitySpec,
    CloudAccessConfig => crate::cloudaccess::CloudAccessConfigSpec,
    ClusterNetworkPlan => crate::networking::ClusterNetworkPlanSpec,
    AssignableNetwork => crate::networking::AssignableNetworkSpec,
    Repository => crate::package::RepositorySpec,
    Package => crate::package::PackageSpec,
    ClusterPlan => crate::plan::ClusterPlanSpec,
    GlobalClusterPolicy => crate::policydelivery::GlobalClusterPolicySpec,
    GlobalAccessPolicy => crate::policydelivery::GlobalAccessPolicySpec,
    GlobalAccessRole => crate::policydelivery::GlobalAccessRoleSpec,
}

/// Looks a kind up by its `apiVersion` and `kind`.
pub fn by_api_version_kind(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    ALL.iter()
        .copied()
        .find(|k| k.kind == kind && api_version == k.api_version())
}

/// Looks a kind up by the group, version and plural of its URL.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static KindInfo> {
    ALL.iter()
        .copied()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
}

impl Object {
    /// `Kind/name`, for messages.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind_info().kind, self.metadata().name)
    }

    /// The whole object as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The kinds an administrator publishes as a catalog (what the compiler takes), in the
/// model's order: every kind but the two that cannot be kept as code ([`NOT_IN_CATALOG`]).
pub const CATALOG: &[&KindInfo] = &[
    &COMPUTE_TEMPLATE,
    &PROVISIONING_POLICY,
    &WORKSPACE,
    &STAGE,
    &CLOUD_IDENTITY,
    &CLOUD_ACCESS_CONFIG,
    &CLUSTER_NETWORK_PLAN,
    &ASSIGNABLE_NETWORK,
    &REPOSITORY,
    &PACKAGE,
    &CLUSTER_PLAN,
    &GLOBAL_CLUSTER_POLICY,
    &GLOBAL_ACCESS_POLICY,
    &GLOBAL_ACCESS_ROLE,
];

/// The kinds outside the [`CATALOG`], each with why a catalog cannot hold it.
pub const NOT_IN_CATALOG: &[(&KindInfo, &str)] = &[
    (
        &CLUSTER,
        "a cluster is built by its workspace from a published plan (the plan's self-service module creates it), not published by an administrator",
    ),
    (
        &ACCESS_TOKEN,
        "an access token's secret is made by the server when the token is created and must not live in code; create tokens with the wayfinder_access_token resource or the API",
    ),
];

/// A reference from one kind's `spec` field to another kind's object, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    /// The referring kind.
    pub from: &'static KindInfo,
    /// The field holding the name, under `spec`; `[]` stands for every item of a list.
    pub path: &'static str,
    /// The kind referred to.
    pub to: &'static KindInfo,
    /// For a versioned target: the sibling field holding the version. Without it, any
    /// version (the latest) is meant.
    pub version: Option<&'static str>,
    /// Whether the provider has a data source to look the target up by name (and version),
    /// so that a target missing from a catalog's definitions can be found on the server
    /// instead; a workspaced target is looked up in the `admin` workspace, where the
    /// platform's objects live.
    pub lookup: bool,
    /// Whether the target cannot be deleted while an object refers to it: the server
    /// refuses the delete (`409`) and names the objects that refer to it.
    pub blocks_delete: bool,
    /// What the reference is, for messages: `network plan`.
    pub what: &'static str,
}

/// Every reference by name between kinds. Cluster references are resolved by the model's
/// resolver ([`crate::resolve`]) in the cluster's workspace; the catalog's are wired by
/// the compiler.
pub const REFERENCES: &[Reference] = &[
    Reference {
        from: &CLUSTER_PLAN,
        path: "network.networkPlan",
        to: &CLUSTER_NETWORK_PLAN,
        version: None,
        lookup: true,
        blocks_delete: true,
        what: "network plan",
    },
    Reference {
        from: &CLUSTER_PLAN,
        path: "cluster.packages[].name",
        to: &PACKAGE,
        version: Some("version"),
        lookup: true,
        blocks_delete: true,
        what: "package",
    },
    Reference {
        from: &CLUSTER_PLAN,
        path: "choices.computeTemplates.default",
        to: &COMPUTE_TEMPLATE,
        version: None,
        lookup: true,
        blocks_delete: true,
        what: "compute template",
    },
    Reference {
        from: &CLUSTER_PLAN,
        path: "choices.computeTemplates.allowed[]",
        to: &COMPUTE_TEMPLATE,
        version: None,
        lookup: true,
        blocks_delete: true,
        what: "compute template",
    },
    // Assignable networks are named, not pinned: a cluster keeps the block it was given,
    // and a plan naming a network that is gone allocates from the others.
    Reference {
        from: &CLUSTER_NETWORK_PLAN,
        path: "assignableNetworks[]",
        to: &ASSIGNABLE_NETWORK,
        version: None,
        lookup: true,
        blocks_delete: false,
        what: "assignable network",
    },
    // A dependency names no version; installing resolves it then.
    Reference {
        from: &PACKAGE,
        path: "dependencies[]",
        to: &PACKAGE,
        version: None,
        lookup: true,
        blocks_delete: false,
        what: "package",
    },
    // Not (yet) enforced on delete: the server has never refused deleting a repository.
    Reference {
        from: &PACKAGE,
        path: "helm.repositoryRef",
        to: &REPOSITORY,
        version: None,
        lookup: true,
        blocks_delete: false,
        what: "package repository",
    },
    Reference {
        from: &CLUSTER,
        path: "plan.name",
        to: &CLUSTER_PLAN,
        version: Some("version"),
        lookup: true,
        blocks_delete: true,
        what: "cluster plan",
    },
    Reference {
        from: &CLUSTER,
        path: "computeTemplate",
        to: &COMPUTE_TEMPLATE,
        version: None,
        lookup: true,
        blocks_delete: true,
        what: "compute template",
    },
    Reference {
        from: &CLUSTER,
        path: "stage",
        to: &STAGE,
        version: None,
        lookup: false,
        blocks_delete: true,
        what: "stage",
    },
];

/// One place a [`Reference`] occurs in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The field path under `spec`.
    pub path: FieldPath,
    /// The name referred to.
    pub name: String,
    /// The version from the sibling field, when the reference has one.
    pub version: Option<String>,
}

impl Reference {
    /// Where this reference occurs in `spec` (a JSON `spec` of [`Reference::from`]).
    pub fn occurrences(&self, spec: &serde_json::Value) -> Vec<Occurrence> {
        fn walk(
            r: &Reference,
            value: &serde_json::Value,
            parts: &[&str],
            path: FieldPath,
            parent: Option<&serde_json::Value>,
            out: &mut Vec<Occurrence>,
        ) {
            let Some((first, rest)) = parts.split_first() else {
                if let serde_json::Value::String(name) = value {
                    let version = r.version.and_then(|vf| {
                        parent
                            .and_then(|p| p.get(vf))
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_string)
                    });
                    out.push(Occurrence {
                        path,
                        name: name.clone(),
                        version,
                    });
                }
                return;
            };
            let (field, each) = match first.strip_suffix("[]") {
                Some(f) => (f, true),
                None => (*first, false),
            };
            let Some(v) = value.get(field) else { return };
            let p = path.field(field);
            if each {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    walk(r, item, rest, p.index(i), Some(value), out);
                }
            } else {
                walk(r, v, rest, p, Some(value), out);
            }
        }
        let mut out = Vec::new();
        let parts: Vec<&str> = self.path.split('.').collect();
        walk(self, spec, &parts, FieldPath::root(), None, &mut out);
        out
    }
}
