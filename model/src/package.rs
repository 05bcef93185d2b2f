//! `package.appvia.io/v2beta2`: Package (versioned) and Repository (wayfinder-model.md §8),
//! with Wayfinder's field names.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::common::{check_duration, is_dns_subdomain};
use crate::error::{FieldPath, Reason};
use crate::kinds::{KindInfo, PACKAGE, REPOSITORY};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// A package (one version of it).
pub type Package = Typed<PackageSpec>;
/// A package repository.
pub type Repository = Typed<RepositorySpec>;

/// Shortest and longest Helm timeout.
pub const HELM_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(2 * 3600));

/// URL schemes a repository may use.
pub const REPOSITORY_SCHEMES: &[&str] = &["https://", "http://", "oci://"];

/// The spec of a Package version: a Helm chart, manifests or both to install on clusters, and the cloud identity its workloads get.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackageSpec {
    /// `spec.description`: what the package provides, shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `1.15.3-2`; each version is stored separately.
    #[serde(default)]
    pub version: String,
    /// The namespace the package is installed into.
    #[serde(default)]
    pub install_namespace: String,
    /// Names of packages that must be installed too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<String>>,
    /// `spec.helm`: the Helm chart to install; set this, `manifests`, or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    /// `spec.manifests`: Kubernetes manifests to apply after the chart.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub manifests: Option<Vec<Manifest>>,
    /// `spec.workloadIdentity`: a cloud identity for the package's workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentity>,
}

/// `spec.helm` of a Package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Helm {
    /// `releaseName`: the Helm release name, at most 53 characters; the package's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// The Repository holding the chart.
    #[serde(default)]
    pub repository_ref: String,
    /// `chartName`: the chart's name in the repository.
    #[serde(default)]
    pub chart_name: String,
    /// `chartVersion`: the chart version, e.g. `1.15.3`.
    #[serde(default)]
    pub chart_version: String,
    /// Go-style duration (`30s`, `5m0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_timeout: Option<String>,
    /// `skipTests`: whether to skip the chart's Helm tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_tests: Option<bool>,
    /// A Go template producing the chart's values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_template: Option<String>,
}

/// One of a Package's `spec.manifests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// `name`: a name for the manifest, unique in the package, e.g. `issuer.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A Go template producing Kubernetes manifests.
    #[serde(default)]
    pub template: String,
}

/// `spec.workloadIdentity` of a Package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadIdentity {
    /// `serviceAccountName`: the Kubernetes service account the package's workloads run as.
    #[serde(default)]
    pub service_account_name: String,
    /// `role`: the cloud permissions the service account gets, per cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<WorkloadRole>,
}

/// `spec.workloadIdentity.role` of a Package: one template per cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadRole {
    /// `aws`: the AWS IAM policy for the service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsWorkloadRole>,
    /// `azure`: the Azure role assignments for the service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureWorkloadRole>,
    /// `gcp`: the GCP IAM role bindings for the service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpWorkloadRole>,
}

/// `spec.workloadIdentity.role.aws` of a Package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsWorkloadRole {
    /// `customIAMPolicyTemplate`: an IAM policy document (YAML) as a Go template.
    #[serde(rename = "customIAMPolicyTemplate", default)]
    pub custom_iam_policy_template: String,
}

/// `spec.workloadIdentity.role.azure` of a Package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureWorkloadRole {
    /// `roleAssignmentsTemplate`: Azure role assignments (YAML) as a Go template.
    #[serde(default)]
    pub role_assignments_template: String,
}

/// `spec.workloadIdentity.role.gcp` of a Package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpWorkloadRole {
    /// `iamRoleBindingsTemplate`: GCP IAM role bindings (YAML) as a Go template.
    #[serde(default)]
    pub iam_role_bindings_template: String,
}

/// The spec of a Repository: a Helm chart repository packages install from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositorySpec {
    /// `spec.url`: the repository's URL: `https://…`, `http://…` or `oci://…`.
    #[serde(default)]
    pub url: String,
    /// `spec.description`: what the repository holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The fields of a Package's spec.
pub const PACKAGE_SHAPE: &[Field] = &[
    Field::optional(
        "description",
        FieldType::String,
        "What the package provides, shown to users.",
    ),
    Field::required(
        "version",
        FieldType::String,
        "The package version, e.g. `1.15.3-2` (MAJOR.MINOR.PATCH, optional `v` prefix and `-suffix`). Each version is a separate object; cluster plans pin one.",
    ),
    Field::required(
        "installNamespace",
        FieldType::String,
        "The namespace the package is installed into, e.g. `cert-manager`.",
    ),
    Field::optional(
        "dependencies",
        FieldType::StringList,
        "Names of packages that must be installed with this one; a cluster plan pinning this package must pin them too.",
    ),
    Field::optional(
        "helm",
        FieldType::Object(&[
            Field::optional(
                "releaseName",
                FieldType::String,
                "The Helm release name, at most 53 characters; the package's name when not set.",
            ),
            Field::required(
                "repositoryRef",
                FieldType::String,
                "The package repository holding the chart.",
            ),
            Field::required(
                "chartName",
                FieldType::String,
                "The chart's name in the repository.",
            ),
            Field::required(
                "chartVersion",
                FieldType::String,
                "The chart version, e.g. `1.15.3`.",
            ),
            Field::optional(
                "helmTimeout",
                FieldType::String,
                "How long an install or upgrade may take, e.g. `5m0s`: 1 second to 2 hours.",
            ),
            Field::optional("skipTests", FieldType::Bool, "Skip the chart's Helm tests."),
            Field::optional(
                "valuesTemplate",
                FieldType::String,
                "The chart's values as a Go template over `.Cluster`, `.Package`, `.CloudAccessConfig` and `.Workspace`.",
            ),
        ]),
        "The Helm chart to install. Set this, `manifests`, or both.",
    ),
    Field::optional(
        "manifests",
        FieldType::ObjectList(&[
            Field::optional(
                "name",
                FieldType::String,
                "A name for the manifest, unique in the package, e.g. `issuer.yaml`.",
            ),
            Field::required(
                "template",
                FieldType::String,
                "Kubernetes manifests as a Go template over the same values as `valuesTemplate`.",
            ),
        ]),
        "Kubernetes manifests to apply after the chart.",
    ),
    Field::optional(
        "workloadIdentity",
        FieldType::Object(&[
            Field::required(
                "serviceAccountName",
                FieldType::String,
                "The Kubernetes service account the package's workloads run as.",
            ),
            Field::optional(
                "role",
                FieldType::Object(&[
                    Field::optional(
                        "aws",
                        FieldType::Object(&[Field::required(
                            "customIAMPolicyTemplate",
                            FieldType::String,
                            "An IAM policy document (YAML) as a Go template.",
                        )]),
                        "The AWS IAM policy for the service account.",
                    ),
                    Field::optional(
                        "azure",
                        FieldType::Object(&[Field::required(
                            "roleAssignmentsTemplate",
                            FieldType::String,
                            "Azure role assignments (YAML) as a Go template.",
                        )]),
                        "The Azure role assignments for the service account.",
                    ),
                    Field::optional(
                        "gcp",
                        FieldType::Object(&[Field::required(
                            "iamRoleBindingsTemplate",
                            FieldType::String,
                            "GCP IAM role bindings (YAML) as a Go template.",
                        )]),
                        "The GCP IAM role bindings for the service account.",
                    ),
                ]),
                "The cloud permissions the service account gets, per cloud.",
            ),
        ]),
        "A cloud identity for the package's workloads.",
    ),
];

/// The fields of a Repository's spec.
pub const REPOSITORY_SHAPE: &[Field] = &[
    Field::required(
        "url",
        FieldType::String,
        "The chart repository's URL: `https://…`, `http://…` or `oci://…`.",
    ),
    Field::optional(
        "description",
        FieldType::String,
        "What the repository holds.",
    ),
];

impl Spec for PackageSpec {
    const INFO: &'static KindInfo = &PACKAGE;

    fn check(&self, c: &mut Checker, path: &FieldPath, meta: &ObjectMeta) {
        crate::versioned::check_annotations(c, meta);
        c.version(&path.field("version"), &self.version);
        c.dns_label(&path.field("installNamespace"), &self.install_namespace);
        let deps = path.field("dependencies");
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, d) in self.dependencies.iter().flatten().enumerate() {
            let p = deps.index(i);
            c.dns_label(&p, d);
            if d == &meta.name {
                c.push(&p, Reason::Invalid, "a package cannot depend on itself");
            }
            if seen.contains(&d.as_str()) {
                c.push(
                    &p,
                    Reason::Duplicate,
                    format!("{d:?} is listed twice; list each dependency once"),
                );
            }
            seen.insert(d);
        }
        let has_manifests = self.manifests.as_ref().is_some_and(|m| !m.is_empty());
        if self.helm.is_none() && !has_manifests {
            c.push(
                path,
                Reason::Required,
                "set helm, manifests, or both: a package must install something",
            );
        }
        if let Some(h) = &self.helm {
            let hp = path.field("helm");
            if let Some(r) = &h.release_name
                && (!crate::validate::is_dns_label(r) || r.len() > 53)
            {
                c.push(
                    &hp.field("releaseName"),
                    Reason::Invalid,
                    format!("{r:?} is not a Helm release name: lower-case letters, digits and '-', at most 53 characters"),
                );
            }
            c.dns_label(&hp.field("repositoryRef"), &h.repository_ref);
            c.required(
                &hp.field("chartName"),
                &h.chart_name,
                "the chart's name in the repository, e.g. cert-manager",
            );
            c.required(
                &hp.field("chartVersion"),
                &h.chart_version,
                "the chart version, e.g. 1.15.3",
            );
            if let Some(t) = &h.helm_timeout {
                check_duration(c, &hp.field("helmTimeout"), t, HELM_TIMEOUT_RANGE);
            }
        }
        let mp = path.field("manifests");
        let mut names: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, m) in self.manifests.iter().flatten().enumerate() {
            let p = mp.index(i);
            c.required(
                &p.field("template"),
                &m.template,
                "Kubernetes manifests (YAML), optionally templated",
            );
            if let Some(n) = &m.name {
                c.required(&p.field("name"), n, "a name such as issuer.yaml");
                if names.contains(&n.as_str()) {
                    c.push(
                        &p.field("name"),
                        Reason::Duplicate,
                        format!("{n:?} is used by another manifest; names must be unique"),
                    );
                }
                names.insert(n);
            }
        }
        if let Some(w) = &self.workload_identity {
            let wp = path.field("workloadIdentity");
            if !is_dns_subdomain(&w.service_account_name) {
                c.push(
                    &wp.field("serviceAccountName"),
                    Reason::Invalid,
                    format!(
                        "{:?} is not a service account name: lower-case letters, digits, '-' and '.', e.g. cert-manager",
                        w.service_account_name
                    ),
                );
            }
            if let Some(r) = &w.role {
                let rp = wp.field("role");
                if let Some(a) = &r.aws {
                    c.required(
                        &rp.field("aws").field("customIAMPolicyTemplate"),
                        &a.custom_iam_policy_template,
                        "an IAM policy document",
                    );
                }
                if let Some(a) = &r.azure {
                    c.required(
                        &rp.field("azure").field("roleAssignmentsTemplate"),
                        &a.role_assignments_template,
                        "a list of role assignments",
                    );
                }
                if let Some(g) = &r.gcp {
                    c.required(
                        &rp.field("gcp").field("iamRoleBindingsTemplate"),
                        &g.iam_role_bindings_template,
                        "a list of role bindings",
                    );
                }
            }
        }
    }

    fn version(&self) -> Option<&str> {
        Some(&self.version)
    }
}

impl Spec for RepositorySpec {
    const INFO: &'static KindInfo = &REPOSITORY;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        let p = path.field("url");
        if self.url.is_empty() {
            c.push(
                &p,
                Reason::Required,
                "required: the repository URL, e.g. https://charts.jetstack.io",
            );
        } else if !is_repository_url(&self.url) {
            c.push(
                &p,
                Reason::Invalid,
                format!(
                    "{:?} is not a repository URL: use https://HOST[/PATH], http://HOST[/PATH] or oci://HOST[/PATH]",
                    self.url
                ),
            );
        }
    }
}

/// `https://`, `http://` or `oci://`, a host, and an optional path; no spaces.
pub fn is_repository_url(url: &str) -> bool {
    let Some(rest) = REPOSITORY_SCHEMES.iter().find_map(|s| url.strip_prefix(s)) else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host_name = match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    !host_name.is_empty()
        && host_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !url.chars().any(char::is_whitespace)
}
