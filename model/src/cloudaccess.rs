//! `cloudaccess.appvia.io/v2beta2`: CloudIdentity and CloudAccessConfig
//! (wayfinder-model.md §3–§4).
//!
//! Both are workspaced: Wayfinder keeps the platform's own in the `admin` workspace
//! (`ws-admin`); a workspace may hold its own.
//!
//! Two things Wayfinder does not publish are ours:
//!
//! - **`spec.type: Kubernetes`** is the cloud access type for cluster provisioning (the docs
//!   call it "Kubernetes Cluster Provisioning"). The other types are the ones Wayfinder's own
//!   installers write: `CostEstimates` (also spelled `CostsEstimates`), `DNSZoneManagement`,
//!   `NetworkPrivateLinks`.
//! - **`spec.scope`** (Wayfinder's `scope` struct) limits the workspaces and stages a cloud
//!   access serves; everywhere when absent. A cloud access in a workspace other than `admin`
//!   serves only that workspace, whatever its scope says.

use serde::{Deserialize, Serialize};

use crate::common::{CLOUDS, SCOPE_SHAPE, ScopeSpec, is_region};
use crate::error::{FieldPath, Reason};
use crate::kinds::{CLOUD_ACCESS_CONFIG, CLOUD_IDENTITY, KindInfo};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Typed};
use crate::org::ADMIN_WORKSPACE;
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// A cloud identity.
pub type CloudIdentity = Typed<CloudIdentitySpec>;
/// A cloud access.
pub type CloudAccessConfig = Typed<CloudAccessConfigSpec>;

/// The identity type for each cloud.
pub const IDENTITY_TYPES: &[(&str, &str)] = &[
    ("aws", "AWSIAMRoleForServiceAccount"),
    ("azure", "AzureADWorkloadIdentity"),
    ("gcp", "GCPWorkloadIdentity"),
];

/// The cloud access type that provisions Kubernetes clusters (ours; see the module docs).
pub const CLUSTER_PROVISIONING: &str = "Kubernetes";

/// Cloud access types: cluster provisioning, and those Wayfinder's installers write.
pub const CLOUD_ACCESS_TYPES: &[&str] = &[
    CLUSTER_PROVISIONING,
    "CostEstimates",
    "CostsEstimates",
    "DNSZoneManagement",
    "NetworkPrivateLinks",
];

/// The permission whose role a cloud driver assumes to build clusters.
pub const CLUSTER_MANAGER: &str = "ClusterManager";

/// Permissions a cloud access may grant (Wayfinder's names).
pub const PERMISSIONS: &[&str] = &[
    "ClusterManager",
    "NetworkManager",
    "DNSZoneManager",
    "CloudInfo",
    "PrivateLinkManager",
    "PeeringAcceptor",
];

/// The spec of a CloudIdentity: the cloud identity Wayfinder uses to reach a cloud account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudIdentitySpec {
    /// `spec.description`: what the identity is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `aws`, `azure` or `gcp`.
    #[serde(default)]
    pub cloud: String,
    /// The identity type; the cloud's (see [`IDENTITY_TYPES`]) when absent.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// `spec.aws`: the AWS identity; set when the cloud is `aws`, and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsIdentity>,
    /// `spec.azure`: the Azure identity; set when the cloud is `azure`, and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureIdentity>,
    /// `spec.gcp`: the GCP identity; set when the cloud is `gcp`, and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpIdentity>,
}

/// `spec.aws` of a CloudIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsIdentity {
    /// `roleARN`: the IAM role Wayfinder assumes.
    #[serde(rename = "roleARN", default)]
    pub role_arn: String,
}

/// `spec.azure` of a CloudIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureIdentity {
    /// `clientID`: the application (client) ID, a GUID.
    #[serde(rename = "clientID", default)]
    pub client_id: String,
    /// `tenantID`: the Azure AD tenant ID, a GUID.
    #[serde(rename = "tenantID", default)]
    pub tenant_id: String,
    #[serde(
        rename = "principalID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `principalID`: the service principal's object ID, a GUID.
    pub principal_id: Option<String>,
}

/// `spec.gcp` of a CloudIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpIdentity {
    /// `serviceAccount`: the service account's email.
    #[serde(default)]
    pub service_account: String,
}

/// The spec of a CloudAccessConfig: a cloud account, subscription or project Wayfinder may use, and for what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudAccessConfigSpec {
    /// `spec.description`: what the cloud access is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `aws`, `azure` or `gcp`.
    #[serde(default)]
    pub cloud: String,
    /// What the access is for: `Kubernetes` (cluster provisioning), `CostEstimates`, …
    #[serde(rename = "type", default)]
    pub type_: String,
    /// The workspaces and stages it serves; everywhere when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSpec>,
    /// `spec.aws`: the AWS account; set when the cloud is `aws`, and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsAccount>,
    /// `spec.azure`: the Azure subscription; set when the cloud is `azure`, and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSubscription>,
    /// `spec.gcp`: the GCP project; set when the cloud is `gcp`, and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpProject>,
    /// `spec.cloudIdentityRef`: the cloud identity Wayfinder uses to reach the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_identity_ref: Option<CloudIdentityRef>,
    /// `spec.permissions`: what the access may be used for.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub permissions: Option<Vec<Permission>>,
}

/// `spec.aws` of a CloudAccessConfig.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsAccount {
    /// The 12-digit account ID.
    #[serde(default)]
    pub account: String,
    /// `defaultRegion`: the region clusters use when neither they nor their plan choose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
}

/// `spec.azure` of a CloudAccessConfig.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSubscription {
    /// `subscription`: the subscription ID, a GUID.
    #[serde(default)]
    pub subscription: String,
    /// `tenantID`: the Azure AD tenant ID, a GUID.
    #[serde(rename = "tenantID", default)]
    pub tenant_id: String,
}

/// `spec.gcp` of a CloudAccessConfig.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpProject {
    /// `project`: the GCP project ID.
    #[serde(default)]
    pub project: String,
}

/// `spec.cloudIdentityRef`: a CloudIdentity in the same workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudIdentityRef {
    /// `cloud`: the identity's cloud; the same as the access's `spec.cloud`.
    #[serde(default)]
    pub cloud: String,
    /// `name`: the cloud identity's name.
    #[serde(default)]
    pub name: String,
}

/// One of `spec.permissions`: a permission the access grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permission {
    /// `permission`: one of [`PERMISSIONS`].
    #[serde(default)]
    pub permission: String,
    /// AWS: the IAM role to assume for this permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_role: Option<String>,
    /// GCP: the service account to impersonate for this permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_service_account: Option<String>,
}

/// The fields of a CloudIdentity's spec.
pub const CLOUD_IDENTITY_SHAPE: &[Field] = &[
    Field::optional(
        "description",
        FieldType::String,
        "What the identity is for.",
    ),
    // An identity belongs to one cloud (an IAM role is not an Azure application).
    Field::required(
        "cloud",
        FieldType::String,
        "The cloud: `aws`, `azure` or `gcp`.",
    )
    .immutable(),
    Field::optional(
        "type",
        FieldType::String,
        "The identity type, which follows from the cloud: `AWSIAMRoleForServiceAccount` (aws), `AzureADWorkloadIdentity` (azure), `GCPWorkloadIdentity` (gcp). The cloud's when not set.",
    ),
    Field::optional(
        "aws",
        FieldType::Object(&[Field::required(
            "roleARN",
            FieldType::String,
            "The IAM role Wayfinder assumes, e.g. `arn:aws:iam::123456789012:role/wayfinder`.",
        )]),
        "AWS identity; required when the cloud is `aws`, and only then.",
    ),
    Field::optional(
        "azure",
        FieldType::Object(&[
            Field::required(
                "clientID",
                FieldType::String,
                "The application (client) ID, a GUID.",
            ),
            Field::required(
                "tenantID",
                FieldType::String,
                "The Azure AD tenant ID, a GUID.",
            ),
            Field::optional(
                "principalID",
                FieldType::String,
                "The service principal's object ID, a GUID.",
            ),
        ]),
        "Azure identity; required when the cloud is `azure`, and only then.",
    ),
    Field::optional(
        "gcp",
        FieldType::Object(&[Field::required(
            "serviceAccount",
            FieldType::String,
            "The service account's email, e.g. `wayfinder@my-project.iam.gserviceaccount.com`.",
        )]),
        "GCP identity; required when the cloud is `gcp`, and only then.",
    ),
];

/// The fields of a CloudAccessConfig's spec.
pub const CLOUD_ACCESS_CONFIG_SHAPE: &[Field] = &[
    Field::optional(
        "description",
        FieldType::String,
        "What the cloud access is for.",
    ),
    // An account, subscription or project belongs to one cloud.
    Field::required(
        "cloud",
        FieldType::String,
        "The cloud: `aws`, `azure` or `gcp`.",
    )
    .immutable(),
    Field::required(
        "type",
        FieldType::String,
        "What the access is for: `Kubernetes` (cluster provisioning), `CostEstimates`, `DNSZoneManagement` or `NetworkPrivateLinks`.",
    ),
    Field::optional(
        "scope",
        FieldType::Object(SCOPE_SHAPE),
        "The workspaces and stages it serves; everywhere when not set. A cloud access held by a workspace other than `admin` serves only that workspace.",
    ),
    Field::optional(
        "aws",
        FieldType::Object(&[
            Field::required(
                "account",
                FieldType::String,
                "The 12-digit AWS account ID, e.g. `\"123456789012\"`.",
            ),
            Field::optional(
                "defaultRegion",
                FieldType::String,
                "The region clusters use when neither they nor their plan choose one, e.g. `eu-west-2`.",
            ),
        ]),
        "The AWS account; required when the cloud is `aws`, and only then.",
    ),
    Field::optional(
        "azure",
        FieldType::Object(&[
            Field::required(
                "subscription",
                FieldType::String,
                "The subscription ID, a GUID.",
            ),
            Field::required(
                "tenantID",
                FieldType::String,
                "The Azure AD tenant ID, a GUID.",
            ),
        ]),
        "The Azure subscription; required when the cloud is `azure`, and only then.",
    ),
    Field::optional(
        "gcp",
        FieldType::Object(&[Field::required(
            "project",
            FieldType::String,
            "The GCP project ID, e.g. `my-project-123`.",
        )]),
        "The GCP project; required when the cloud is `gcp`, and only then.",
    ),
    Field::optional(
        "cloudIdentityRef",
        FieldType::Object(&[
            Field::required(
                "cloud",
                FieldType::String,
                "The identity's cloud; the same as `cloud`.",
            ),
            Field::required(
                "name",
                FieldType::String,
                "The cloud identity's name, in the same workspace.",
            ),
        ]),
        "The cloud identity Wayfinder uses to reach the account.",
    ),
    Field::optional(
        "permissions",
        FieldType::ObjectList(&[
            Field::required(
                "permission",
                FieldType::String,
                "The permission: `ClusterManager`, `NetworkManager`, `DNSZoneManager`, `CloudInfo`, `PrivateLinkManager` or `PeeringAcceptor`.",
            ),
            Field::optional(
                "awsRole",
                FieldType::String,
                "AWS only: the IAM role ARN that grants it.",
            ),
            Field::optional(
                "gcpServiceAccount",
                FieldType::String,
                "GCP only: the service account email that grants it.",
            ),
        ]),
        "The permissions granted in the account, each at most once.",
    ),
];

impl Spec for CloudIdentitySpec {
    const INFO: &'static KindInfo = &CLOUD_IDENTITY;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        c.one_of(&path.field("cloud"), &self.cloud, CLOUDS);
        let cloud = CLOUDS
            .contains(&self.cloud.as_str())
            .then_some(self.cloud.as_str());
        if let Some(t) = &self.type_ {
            let p = path.field("type");
            match cloud.and_then(identity_type) {
                Some(want) if t != want => c.push(
                    &p,
                    Reason::NotSupported,
                    format!(
                        "{t:?} is not supported for cloud {}: must be {want}",
                        self.cloud
                    ),
                ),
                Some(_) => {}
                None => {
                    let all: Vec<&str> = IDENTITY_TYPES.iter().map(|(_, t)| *t).collect();
                    c.one_of(&p, t, &all);
                }
            }
        }
        cloud_blocks(
            c,
            path,
            cloud,
            [self.aws.is_some(), self.azure.is_some(), self.gcp.is_some()],
            [
                "the IAM role Wayfinder assumes (aws.roleARN)",
                "the application's clientID and tenantID",
                "the service account email (gcp.serviceAccount)",
            ],
        );
        if let Some(aws) = &self.aws {
            check_role_arn(c, &path.field("aws").field("roleARN"), &aws.role_arn);
        }
        if let Some(azure) = &self.azure {
            let ap = path.field("azure");
            check_guid(c, &ap.field("clientID"), &azure.client_id);
            check_guid(c, &ap.field("tenantID"), &azure.tenant_id);
            if let Some(p) = &azure.principal_id {
                check_guid(c, &ap.field("principalID"), p);
            }
        }
        if let Some(gcp) = &self.gcp {
            check_service_account(
                c,
                &path.field("gcp").field("serviceAccount"),
                &gcp.service_account,
            );
        }
    }
}

/// The identity type of `cloud`.
pub fn identity_type(cloud: &str) -> Option<&'static str> {
    IDENTITY_TYPES
        .iter()
        .find(|(c, _)| *c == cloud)
        .map(|(_, t)| *t)
}

/// The cloud's own block (`aws`, `azure`, `gcp`) is required and the others are refused.
fn cloud_blocks(
    c: &mut Checker,
    path: &FieldPath,
    cloud: Option<&str>,
    present: [bool; 3],
    what: [&str; 3],
) {
    let Some(cloud) = cloud else {
        return;
    };
    for ((name, present), what) in CLOUDS.iter().zip(present).zip(what) {
        if *name == cloud && !present {
            c.push(
                &path.field(name),
                Reason::Required,
                format!("required when cloud is {cloud}: {what}"),
            );
        } else if *name != cloud && present {
            c.push(
                &path.field(name),
                Reason::Forbidden,
                format!("only allowed when cloud is {name} (it is {cloud}); remove it"),
            );
        }
    }
}

impl Spec for CloudAccessConfigSpec {
    const INFO: &'static KindInfo = &CLOUD_ACCESS_CONFIG;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        c.one_of(&path.field("cloud"), &self.cloud, CLOUDS);
        let cloud = CLOUDS
            .contains(&self.cloud.as_str())
            .then_some(self.cloud.as_str());
        c.one_of(&path.field("type"), &self.type_, CLOUD_ACCESS_TYPES);
        if let Some(scope) = &self.scope {
            scope.check(c, &path.field("scope"));
        }
        cloud_blocks(
            c,
            path,
            cloud,
            [self.aws.is_some(), self.azure.is_some(), self.gcp.is_some()],
            [
                "the account (aws.account)",
                "the subscription and tenantID",
                "the project (gcp.project)",
            ],
        );
        if let Some(aws) = &self.aws {
            let ap = path.field("aws");
            if !(aws.account.len() == 12 && aws.account.bytes().all(|b| b.is_ascii_digit())) {
                c.push(
                    &ap.field("account"),
                    Reason::Invalid,
                    format!(
                        "{:?} is not an AWS account ID: 12 digits, quoted, e.g. \"123456789012\"",
                        aws.account
                    ),
                );
            }
            if let Some(r) = aws.default_region.as_ref().filter(|r| !is_region(r)) {
                c.push(
                    &ap.field("defaultRegion"),
                    Reason::Invalid,
                    format!("{r:?} is not a region name: lower-case letters, digits and '-', e.g. eu-west-2"),
                );
            }
        }
        if let Some(azure) = &self.azure {
            let ap = path.field("azure");
            check_guid(c, &ap.field("subscription"), &azure.subscription);
            check_guid(c, &ap.field("tenantID"), &azure.tenant_id);
        }
        if let Some(gcp) = &self.gcp
            && !is_gcp_project(&gcp.project)
        {
            c.push(
                &path.field("gcp").field("project"),
                Reason::Invalid,
                format!(
                    "{:?} is not a GCP project ID: 6 to 30 lower-case letters, digits and '-', starting with a letter, e.g. my-project-123",
                    gcp.project
                ),
            );
        }
        if let Some(r) = &self.cloud_identity_ref {
            let rp = path.field("cloudIdentityRef");
            c.one_of(&rp.field("cloud"), &r.cloud, CLOUDS);
            if let Some(cloud) = cloud
                && CLOUDS.contains(&r.cloud.as_str())
                && r.cloud != cloud
            {
                c.push(
                    &rp.field("cloud"),
                    Reason::Invalid,
                    format!("must be the cloud access's cloud, {cloud}"),
                );
            }
            c.dns_label(&rp.field("name"), &r.name);
        }
        let perms = path.field("permissions");
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, p) in self.permissions.iter().flatten().enumerate() {
            let pp = perms.index(i);
            c.one_of(&pp.field("permission"), &p.permission, PERMISSIONS);
            if !p.permission.is_empty() {
                if seen.contains(&p.permission.as_str()) {
                    c.push(
                        &pp.field("permission"),
                        Reason::Duplicate,
                        format!(
                            "{:?} is listed twice; grant each permission once",
                            p.permission
                        ),
                    );
                }
                seen.insert(&p.permission);
            }
            if let Some(role) = &p.aws_role {
                let rp = pp.field("awsRole");
                if cloud.is_some_and(|c| c != "aws") {
                    c.push(
                        &rp,
                        Reason::Forbidden,
                        format!("only allowed when cloud is aws (it is {})", self.cloud),
                    );
                } else {
                    check_role_arn(c, &rp, role);
                }
            }
            if let Some(sa) = &p.gcp_service_account {
                let sp = pp.field("gcpServiceAccount");
                if cloud.is_some_and(|c| c != "gcp") {
                    c.push(
                        &sp,
                        Reason::Forbidden,
                        format!("only allowed when cloud is gcp (it is {})", self.cloud),
                    );
                } else {
                    check_service_account(c, &sp, sa);
                }
            }
        }
    }
}

impl CloudAccessConfigSpec {
    /// Whether this cloud access, held by `holder` (its workspace), serves clusters of
    /// `workspace` in `stage`: it must be the platform's (held by `admin`) or the workspace's
    /// own, and its scope must include both.
    pub fn serves(&self, holder: &str, workspace: &str, stage: &str) -> bool {
        (holder == ADMIN_WORKSPACE || holder == workspace)
            && self
                .scope
                .as_ref()
                .is_none_or(|s| s.includes_workspace(workspace) && s.includes_stage(stage))
    }

    /// The default region, when the cloud block names one (AWS only).
    pub fn default_region(&self) -> Option<&str> {
        self.aws.as_ref().and_then(|a| a.default_region.as_deref())
    }

    /// The AWS IAM role granted for `permission` (e.g. [`CLUSTER_MANAGER`]), when
    /// `spec.permissions` names one.
    pub fn aws_role(&self, permission: &str) -> Option<&str> {
        self.permissions
            .iter()
            .flatten()
            .find(|p| p.permission == permission)
            .and_then(|p| p.aws_role.as_deref())
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`.
pub fn is_role_arn(s: &str) -> bool {
    let Some(rest) = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
    else {
        return false;
    };
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && role.len() <= 512
        && !role.ends_with('/')
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

fn check_role_arn(c: &mut Checker, path: &FieldPath, arn: &str) {
    if !is_role_arn(arn) {
        c.push(
            path,
            Reason::Invalid,
            format!("{arn:?} is not an IAM role ARN: use arn:aws:iam::ACCOUNT:role/NAME, e.g. arn:aws:iam::123456789012:role/wayfinder"),
        );
    }
}

/// A GUID: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hexadecimal.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_guid(c: &mut Checker, path: &FieldPath, value: &str) {
    if value.is_empty() {
        c.push(
            path,
            Reason::Required,
            "required: a GUID such as 00000000-0000-0000-0000-000000000000",
        );
    } else if !is_guid(value) {
        c.push(
            path,
            Reason::Invalid,
            format!("{value:?} is not a GUID: use the form 00000000-0000-0000-0000-000000000000"),
        );
    }
}

/// A GCP service account email: `NAME@DOMAIN.gserviceaccount.com`.
pub fn is_service_account(s: &str) -> bool {
    let Some((name, domain)) = s.split_once('@') else {
        return false;
    };
    crate::validate::is_dns_label(name)
        && domain.ends_with("gserviceaccount.com")
        && crate::common::is_dns_subdomain(domain)
}

fn check_service_account(c: &mut Checker, path: &FieldPath, value: &str) {
    if !is_service_account(value) {
        c.push(
            path,
            Reason::Invalid,
            format!(
                "{value:?} is not a service account email: use NAME@PROJECT.iam.gserviceaccount.com"
            ),
        );
    }
}

/// A GCP project ID: 6 to 30 lower-case letters, digits and `-`, starting with a letter and
/// not ending with `-`.
pub fn is_gcp_project(s: &str) -> bool {
    (6..=30).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
