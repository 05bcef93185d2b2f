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
    Platform,
    Workspace,
}

/// Static facts about one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The kind in lower case, pluralised as Kubernetes does; the last path segment of its
    /// collection URL.
    pub plural: &'static str,
    pub scope: Scope,
    /// Whether objects are versioned by `spec.version` (ClusterPlan, Package): stored once per
    /// version and addressed at `…/{name}/versions/{version}`.
    pub versioned: bool,
    /// What the kind is for, in Markdown.
    pub description: &'static str,
    /// The fields of its `spec`.
    pub spec: &'static [Field],
}

impl KindInfo {
    /// `group/version`, the value of `apiVersion`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
}

pub const COMPUTE_TEMPLATE: KindInfo = KindInfo {
    group: "compute.appvia.io",
    version: "v2beta2",
    kind: "ComputeTemplate",
    plural: "computetemplates",
    scope: Scope::Platform,
    versioned: false,
    description: "A compute template: a named set of node-pool presets (general purpose, high-memory, low-cost spot) that cluster plans and workspace clusters start from. Administrators only.",
    spec: crate::compute::SPEC_SHAPE,
};

pub const CLUSTER: KindInfo = KindInfo {
    group: "compute.appvia.io",
    version: "v2beta2",
    kind: "Cluster",
    plural: "clusters",
    scope: Scope::Workspace,
    versioned: false,
    description: "A workspace's Kubernetes cluster, built from a published cluster plan version, within the provisioning policies that apply to its workspace and stage.",
    spec: crate::cluster::SPEC_SHAPE,
};

pub const PROVISIONING_POLICY: KindInfo = KindInfo {
    group: "policy.appvia.io",
    version: "v2beta1",
    kind: "ProvisioningPolicy",
    plural: "provisioningpolicies",
    scope: Scope::Platform,
    versioned: false,
    description: "A provisioning policy: the regions, instance types, node counts and estimated monthly cost that self-service clusters may use, for the workspaces and stages in its scope. Administrators only.",
    spec: crate::policy::SPEC_SHAPE,
};

/// Declares every kind once: the [`Object`] enum, its accessors, the registry [`ALL`] and
/// typed parsing. Adding a kind is one line here plus its `KindInfo` and spec type.
macro_rules! registry {
    ($($variant:ident => $spec:ty),* $(,)?) => {
        /// Any object the model can parse.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Object {
            $($variant(Typed<$spec>),)*
        }

        /// Every kind the model knows, in a stable order.
        pub const ALL: &[&KindInfo] = &[$(<$spec as Spec>::INFO,)*];

        impl Object {
            pub fn kind_info(&self) -> &'static KindInfo {
                match self {
                    $(Object::$variant(_) => <$spec as Spec>::INFO,)*
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$variant(o) => &o.metadata,)*
                }
            }

            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$variant(o) => &mut o.metadata,)*
                }
            }

            pub fn status(&self) -> Option<&Status> {
                match self {
                    $(Object::$variant(o) => o.status.as_ref(),)*
                }
            }

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
