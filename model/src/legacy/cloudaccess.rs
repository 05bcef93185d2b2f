//! `cloudaccess.appvia.io/v2beta1` CloudAccessConfig and CloudIdentity (wayfinder-model.md
//! §3, §4), served: each is one v2beta2 object, converted both ways.
//!
//! CloudAccessConfig:
//!
//! | v2beta1 | v2beta2 |
//! |---|---|
//! | `name` (a display name) | `description` |
//! | `cloud` | `cloud` |
//! | `identifier` | `aws.account` / `azure.subscription` / `gcp.project` |
//! | `defaultRegion` | `aws.defaultRegion` (carried for other clouds) |
//! | `features[]` (one) | `type` — several features are several v2beta2 cloud accesses, one per feature, named `NAME-FEATURE` (migrated, not served) |
//! | `identityCred {name, namespace}` | `cloudIdentityRef {cloud, name}` (another namespace is carried) |
//! | `roles[] {role, assumeProviderRole}` | `permissions[] {permission, awsRole \| gcpServiceAccount}` |
//!
//! An Azure v2beta1 cloud access has no tenant, which v2beta2 requires: it is refused,
//! naming `spec.identifier`. Back to v2beta1, `scope` and Azure's `tenantID` are carried.
//!
//! CloudIdentity: served for reads — a v2beta2 identity at v2beta1 shows `description` as
//! `name` and carries `type` and the per-cloud identity. A v2beta1 identity is refused:
//! v2beta2 stores no credentials — its identities are workload identities whose per-cloud
//! block is required — so a `secretRef` (the Secret holding keys) or an implicit identity
//! cannot be held. The refusal names the v2beta2 fields to set instead
//! ([`define_at_v2beta2`]), for the server and the compiler alike.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Carried, Converted, LegacyError, err, typed};
use crate::cloudaccess::{
    AwsAccount, AzureSubscription, CloudAccessConfigSpec, CloudIdentityRef, GcpProject, Permission,
};
use crate::error::FieldPath;
use crate::kinds::Object;
use crate::meta::ObjectMeta;
use crate::object::Typed;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacyAccess {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    cloud: String,
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    default_region: Option<String>,
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    identity_cred: Option<IdentityCred>,
    #[serde(default)]
    roles: Option<Vec<Role>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityCred {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Role {
    role: String,
    #[serde(default)]
    assume_provider_role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LegacyIdentity {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    cloud: String,
    #[serde(default)]
    secret_ref: Option<Value>,
    #[serde(default)]
    implicit_identity: Option<Value>,
    #[serde(default, rename = "implicitIdentityID")]
    implicit_identity_id: Option<Value>,
    #[serde(default)]
    credentials_updated: Option<Value>,
}

/// A v2beta1 CloudAccessConfig's `spec` as the v2beta2 cloud access (one per feature).
pub(super) fn access_to_current(
    meta: &ObjectMeta,
    spec: Value,
) -> Result<Converted, Vec<LegacyError>> {
    let at = FieldPath::root().field("spec");
    let raw = spec.clone();
    let s: LegacyAccess = typed(spec, &at).map_err(|e| vec![e])?;
    let mut problems = Vec::new();
    let mut carried = Carried::default();
    let mut notes = Vec::new();
    let identifier = s.identifier.clone().unwrap_or_default();
    let (mut aws, mut azure, mut gcp) = (None, None, None);
    match s.cloud.as_str() {
        "aws" => {
            aws = Some(AwsAccount {
                account: identifier,
                default_region: s.default_region.clone(),
            });
        }
        "azure" => {
            problems.push(err(
                at.field("identifier"),
                "an Azure cloud access needs its tenant in v2beta2 (spec.azure.tenantID), which v2beta1 does not have: define it at cloudaccess.appvia.io/v2beta2 with spec.azure {subscription, tenantID}",
            ));
            azure = Some(AzureSubscription {
                subscription: identifier,
                tenant_id: String::new(),
            });
        }
        "gcp" => {
            gcp = Some(GcpProject {
                project: identifier,
            })
        }
        other => problems.push(err(
            at.field("cloud"),
            format!("{other:?} is not a cloud; accepted: aws, azure, gcp"),
        )),
    }
    if s.cloud != "aws" {
        carried.carry(
            "spec.defaultRegion",
            s.default_region.clone().map(Value::String),
        );
    }
    let cloud_identity_ref = s.identity_cred.as_ref().map(|c| {
        if c.namespace.is_some() && c.namespace != meta.namespace {
            carried.carry(
                "spec.identityCred.namespace",
                c.namespace.clone().map(Value::String),
            );
        }
        CloudIdentityRef {
            cloud: s.cloud.clone(),
            name: c.name.clone(),
        }
    });
    let permissions = s.roles.as_ref().map(|roles| {
        roles
            .iter()
            .map(|r| Permission {
                permission: r.role.clone(),
                aws_role: (s.cloud == "aws")
                    .then(|| r.assume_provider_role.clone())
                    .flatten(),
                gcp_service_account: (s.cloud == "gcp")
                    .then(|| r.assume_provider_role.clone())
                    .flatten(),
            })
            .collect::<Vec<_>>()
    });
    if s.cloud == "azure"
        && s.roles
            .iter()
            .flatten()
            .any(|r| r.assume_provider_role.is_some())
    {
        // Azure permissions have no role to assume in v2beta2.
        carried.carry("spec.roles", raw.get("roles").cloned());
    }
    let features = s.features.clone().unwrap_or_default();
    if features.is_empty() {
        problems.push(err(
            at.field("features"),
            "required: what the cloud access is for (one feature becomes spec.type in v2beta2; `Kubernetes` provisions clusters)",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let several = features.len() > 1;
    if several {
        notes.push(format!(
            "spec.features has {} features; v2beta2 gives each cloud access one type, so it became one cloud access per feature",
            features.len()
        ));
    }
    let objects = features
        .iter()
        .map(|f| {
            let name = if several {
                format!("{}-{}", meta.name, kebab(f))
            } else {
                meta.name.clone()
            };
            let mut o = Typed::new(
                &name,
                CloudAccessConfigSpec {
                    description: s.name.clone(),
                    cloud: s.cloud.clone(),
                    type_: f.clone(),
                    scope: None,
                    aws: aws.clone(),
                    azure: azure.clone(),
                    gcp: gcp.clone(),
                    cloud_identity_ref: cloud_identity_ref.clone(),
                    permissions: permissions.clone(),
                },
            );
            // All of it, resourceVersion included: the server converts updates too.
            let mut m = meta.clone();
            m.name = name;
            o.metadata = carried.annotate(m);
            Object::CloudAccessConfig(o)
        })
        .collect();
    Ok(Converted {
        objects,
        carried: carried.paths(),
        notes,
    })
}

/// `DNSZoneManagement` → `dns-zone-management`: [`crate::naming::snake_case`], with every
/// other character `-`.
fn kebab(s: &str) -> String {
    crate::naming::snake_case(s).replace(|c: char| !c.is_ascii_alphanumeric(), "-")
}

/// A v2beta2 cloud access's `spec` as v2beta1 shows it, and the current fields it has no
/// place for (to carry).
pub(super) fn access_to_legacy(
    spec: Value,
    namespace: Option<&str>,
) -> (Value, Map<String, Value>) {
    let s: CloudAccessConfigSpec = serde_json::from_value(spec).unwrap_or_default();
    let mut out = Map::new();
    let mut extra = Map::new();
    if let Some(d) = &s.description {
        out.insert("name".into(), json!(d));
    }
    out.insert("cloud".into(), json!(s.cloud));
    if let Some(a) = &s.aws {
        out.insert("identifier".into(), json!(a.account));
        if let Some(r) = &a.default_region {
            out.insert("defaultRegion".into(), json!(r));
        }
    }
    if let Some(a) = &s.azure {
        out.insert("identifier".into(), json!(a.subscription));
        extra.insert("spec.azure.tenantID".into(), json!(a.tenant_id));
    }
    if let Some(g) = &s.gcp {
        out.insert("identifier".into(), json!(g.project));
    }
    out.insert("features".into(), json!([s.type_]));
    if let Some(r) = &s.cloud_identity_ref {
        let mut cred = Map::new();
        cred.insert("name".into(), json!(r.name));
        if let Some(ns) = namespace {
            cred.insert("namespace".into(), json!(ns));
        }
        out.insert("identityCred".into(), Value::Object(cred));
    }
    if let Some(ps) = &s.permissions {
        let roles: Vec<Value> = ps
            .iter()
            .map(|p| {
                let mut r = Map::new();
                r.insert("role".into(), json!(p.permission));
                if let Some(v) = p.aws_role.as_ref().or(p.gcp_service_account.as_ref()) {
                    r.insert("assumeProviderRole".into(), json!(v));
                }
                Value::Object(r)
            })
            .collect();
        out.insert("roles".into(), Value::Array(roles));
    }
    if let Some(scope) = &s.scope {
        extra.insert(
            "spec.scope".into(),
            serde_json::to_value(scope).unwrap_or_default(),
        );
    }
    (Value::Object(out), extra)
}

/// A v2beta1 CloudIdentity's `spec` as the v2beta2 one — which it never is: v2beta2
/// identities are workload identities whose per-cloud block (`spec.aws.roleARN`,
/// `spec.azure {clientID, tenantID}`, `spec.gcp.serviceAccount`) is required, and a v2beta1
/// identity has stored credentials (`spec.secretRef`) or Wayfinder's own identity
/// (`spec.implicitIdentity`) instead. Refused, naming the field with no counterpart; reads
/// at v2beta1 of a v2beta2 identity still work ([`identity_to_legacy`]).
pub(super) fn identity_to_current(
    meta: &ObjectMeta,
    spec: Value,
) -> Result<Converted, Vec<LegacyError>> {
    let at = FieldPath::root().field("spec");
    let s: LegacyIdentity = typed(spec, &at).map_err(|e| vec![e])?;
    let _ = (&s.name, &s.implicit_identity_id, &s.credentials_updated);
    let Some(define) = define_at_v2beta2(&meta.name, &s.cloud) else {
        return Err(vec![err(
            at.field("cloud"),
            format!("{:?} is not a cloud; accepted: aws, azure, gcp", s.cloud),
        )]);
    };
    let (path, what) = if let Some(secret) = &s.secret_ref {
        let named = [secret.get("namespace"), secret.get("name")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("/");
        (
            at.field("secretRef"),
            if named.is_empty() {
                "stored credentials (a Secret) cannot be kept: v2beta2 stores no credentials"
                    .to_string()
            } else {
                format!(
                    "stored credentials (the Secret {named}) cannot be kept: v2beta2 stores no credentials, and the Secret is not read"
                )
            },
        )
    } else if s
        .implicit_identity
        .as_ref()
        .is_some_and(|v| v == &Value::Bool(true))
    {
        (
            at.field("implicitIdentity"),
            "Wayfinder's own identity has no counterpart in v2beta2".to_string(),
        )
    } else {
        (at.clone(), "no workload identity is given".to_string())
    };
    Err(vec![err(path, format!("{what}. {define}"))])
}

/// What to write instead of a v2beta1 identity of `cloud`: the v2beta2 fields to set,
/// read from the v2beta2 shape ([`crate::cloudaccess::CLOUD_IDENTITY_SHAPE`]) and the
/// cloud's identity type; `None` for a cloud that is not one.
pub(super) fn define_at_v2beta2(name: &str, cloud: &str) -> Option<String> {
    use crate::cloudaccess::{CLOUD_IDENTITY_SHAPE, IDENTITY_TYPES};
    use crate::shape::{FieldType, find};
    let (_, type_) = IDENTITY_TYPES.iter().find(|(c, _)| *c == cloud)?;
    let FieldType::Object(block) = find(CLOUD_IDENTITY_SHAPE, cloud)?.ty else {
        return None;
    };
    let describe = |f: &crate::shape::Field| {
        let d = f.description.trim_end_matches('.');
        let mut chars = d.chars();
        let d = chars
            .next()
            .map(|c| c.to_lowercase().chain(chars).collect::<String>())
            .unwrap_or_default();
        format!("spec.{cloud}.{} ({d})", f.name)
    };
    let required: Vec<String> = block.iter().filter(|f| f.required).map(describe).collect();
    let optional: Vec<String> = block
        .iter()
        .filter(|f| !f.required)
        .map(|f| format!("spec.{cloud}.{}", f.name))
        .collect();
    Some(format!(
        "Define CloudIdentity/{name} at cloudaccess.appvia.io/v2beta2, a workload identity, with spec.cloud: {cloud}, spec.type: {type_}, {}{}; cloud accesses name it by name, as before",
        required.join(", "),
        if optional.is_empty() {
            String::new()
        } else {
            format!(" ({} optional)", optional.join(", "))
        }
    ))
}

/// A v2beta2 cloud identity's `spec` as v2beta1 shows it, and what it has no place for.
pub(super) fn identity_to_legacy(spec: Value) -> (Value, Map<String, Value>) {
    let mut s = match spec {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut out = Map::new();
    let mut extra = Map::new();
    if let Some(d) = s.remove("description") {
        out.insert("name".into(), d);
    }
    if let Some(c) = s.remove("cloud") {
        out.insert("cloud".into(), c);
    }
    for (k, v) in s {
        extra.insert(format!("spec.{k}"), v);
    }
    (Value::Object(out), extra)
}
