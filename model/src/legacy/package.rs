//! `package.appvia.io/v2beta1` Package (wayfinder-model.md §8, "Legacy v2beta1 Package"),
//! migrated: it becomes a v2beta2 Package and the Repository its chart comes from.
//!
//! | v2beta1 | v2beta2 |
//! |---|---|
//! | `name` (a display name) | annotation `appvia.io/displayName` |
//! | `summary` | `description` |
//! | `version`, `installNamespace` | the same |
//! | `releaseName` | `helm.releaseName` |
//! | `source.helm {name, url, version}` | `helm.chartName`, `helm.chartVersion`, and `helm.repositoryRef` naming a Repository for `url` (named after its host: `charts-example-io`) |
//! | `values` (not empty) | `helm.valuesTemplate` (the values as JSON, which is YAML) |
//! | `workloadIdentity.clusterServiceAccount.name` | `workloadIdentity.serviceAccountName` |
//! | `workloadIdentity.providerDetails.aws.customIAMPolicy` | `workloadIdentity.role.aws.customIAMPolicyTemplate` (as JSON) |
//!
//! Carried: `selectors` (v2beta2 plans pin packages instead), `valuesFrom`, and the rest of
//! `workloadIdentity` (`role`, AWS's `helmServiceAccountAnnotationsPaths`, Azure's
//! `helmPodLabelsPaths` and `helmPodSelector`, the service account's namespace).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{Carried, Converted, LegacyError, definition_meta, err, typed};
use crate::error::FieldPath;
use crate::kinds::Object;
use crate::meta::ObjectMeta;
use crate::object::Typed;
use crate::package::{
    AwsWorkloadRole, Helm, PackageSpec, RepositorySpec, WorkloadIdentity, WorkloadRole,
};

/// The annotation a package's display name goes to.
pub const DISPLAY_NAME_ANNOTATION: &str = "appvia.io/displayName";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacyPackage {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    version: String,
    #[serde(default)]
    install_namespace: String,
    #[serde(default)]
    release_name: Option<String>,
    #[serde(default)]
    selectors: Option<Value>,
    source: Source,
    #[serde(default)]
    values: Option<Value>,
    #[serde(default)]
    values_from: Option<Value>,
    #[serde(default)]
    workload_identity: Option<LegacyWorkloadIdentity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    helm: HelmSource,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HelmSource {
    name: String,
    url: String,
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacyWorkloadIdentity {
    #[serde(default)]
    cluster_service_account: Option<ServiceAccount>,
    #[serde(default)]
    provider_details: Option<WorkloadProviderDetails>,
    #[serde(default)]
    role: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceAccount {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadProviderDetails {
    #[serde(default)]
    aws: Option<AwsDetails>,
    #[serde(default)]
    azure: Option<AzureDetails>,
}

/// `workloadIdentity.providerDetails.azure`: where the chart takes the pod label Azure
/// workload identity needs, and which pods get it. v2beta2 has no place for either (the
/// server labels the service account's pods itself): carried.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AzureDetails {
    #[serde(default)]
    helm_pod_labels_paths: Option<Value>,
    #[serde(default)]
    helm_pod_selector: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AwsDetails {
    #[serde(default, rename = "customIAMPolicy")]
    custom_iam_policy: Option<Value>,
    #[serde(default)]
    helm_service_account_annotations_paths: Option<Value>,
}

/// The Repository name for a chart URL: its host, dots as dashes (`charts-example-io`).
fn repository_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':', '?']).next().unwrap_or(rest);
    let mut name: String = host
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(63);
    name.trim_matches('-').to_string()
}

/// A v2beta1 Package's `spec` as the v2beta2 Package and Repository it becomes.
pub(super) fn migrate(meta: &ObjectMeta, spec: Value) -> Result<Converted, Vec<LegacyError>> {
    let at = FieldPath::root().field("spec");
    let s: LegacyPackage = typed(spec, &at).map_err(|e| vec![e])?;
    let mut carried = Carried::default();
    let mut notes = Vec::new();
    carried.carry("spec.selectors", s.selectors.clone());
    carried.carry("spec.valuesFrom", s.values_from.clone());
    let repo = repository_name(&s.source.helm.url);
    if repo.is_empty() {
        return Err(vec![err(
            at.field("source").field("helm").field("url"),
            format!(
                "{:?} names no host; a chart repository URL such as https://charts.example.io",
                s.source.helm.url
            ),
        )]);
    }
    let values_template = s
        .values
        .as_ref()
        .filter(|v| !(v.is_null() || v.as_object().is_some_and(|m| m.is_empty())))
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default());
    let mut workload_identity = None;
    if let Some(w) = &s.workload_identity {
        let wp = "spec.workloadIdentity";
        carried.carry(&format!("{wp}.role"), w.role.clone());
        let sa = w.cluster_service_account.as_ref();
        if let Some(ns) = sa.and_then(|a| a.namespace.clone())
            && ns != s.install_namespace
        {
            carried.carry(
                &format!("{wp}.clusterServiceAccount.namespace"),
                Some(Value::String(ns)),
            );
        }
        let aws = w.provider_details.as_ref().and_then(|p| p.aws.as_ref());
        carried.carry(
            &format!("{wp}.providerDetails.aws.helmServiceAccountAnnotationsPaths"),
            aws.and_then(|a| a.helm_service_account_annotations_paths.clone()),
        );
        let azure = w.provider_details.as_ref().and_then(|p| p.azure.as_ref());
        carried.carry(
            &format!("{wp}.providerDetails.azure.helmPodLabelsPaths"),
            azure.and_then(|a| a.helm_pod_labels_paths.clone()),
        );
        carried.carry(
            &format!("{wp}.providerDetails.azure.helmPodSelector"),
            azure.and_then(|a| a.helm_pod_selector.clone()),
        );
        let policy = aws.and_then(|a| a.custom_iam_policy.as_ref());
        workload_identity = Some(WorkloadIdentity {
            service_account_name: sa.map(|a| a.name.clone()).unwrap_or_default(),
            role: policy.map(|p| WorkloadRole {
                aws: Some(AwsWorkloadRole {
                    custom_iam_policy_template: serde_json::to_string_pretty(p).unwrap_or_default(),
                }),
                ..WorkloadRole::default()
            }),
        });
    }
    let mut package = Typed::new(
        &meta.name,
        PackageSpec {
            description: s.summary.clone(),
            version: s.version.clone(),
            install_namespace: s.install_namespace.clone(),
            dependencies: None,
            helm: Some(Helm {
                release_name: s.release_name.clone(),
                repository_ref: repo.clone(),
                chart_name: s.source.helm.name.clone(),
                chart_version: s.source.helm.version.clone(),
                values_template,
                ..Helm::default()
            }),
            manifests: None,
            workload_identity,
        },
    );
    let mut m = definition_meta(meta);
    if let Some(display) = &s.name {
        m.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(DISPLAY_NAME_ANNOTATION.into(), display.clone());
    }
    package.metadata = carried.annotate(m);
    notes.push(format!(
        "spec.source.helm.url became Repository {repo}, which helm.repositoryRef names"
    ));
    if s.selectors.is_some() {
        notes.push("spec.selectors chose clusters by label; in v2beta2 cluster plans pin packages (spec.cluster.packages), so add it to the plans that should install it".into());
    }
    let repository = Typed::new(
        &repo,
        RepositorySpec {
            url: s.source.helm.url.clone(),
            description: None,
        },
    );
    Ok(Converted {
        objects: vec![Object::Package(package), Object::Repository(repository)],
        carried: carried.paths(),
        notes,
    })
}
