//! Ephemeral resources (Terraform ≥ 1.10, OpenTofu ≥ 1.11): values Terraform never writes
//! to a plan or state file.
//!
//! `wayfinder_cluster_credentials` asks the API for short-lived credentials for a cluster
//! (`POST …/workspaces/{ws}/clusters/{name}/credentials`): a token, a kubeconfig carrying
//! it, the cluster's API endpoint and when they expire. The server caps the lifetime by the
//! GlobalAccessPolicies that apply (an hour when none does) and writes an audit record for
//! every issue. It offers neither renewal nor revocation, so the resource sets no
//! `renew_at` and Close has nothing to do: the token simply expires.

use serde_json::Value as Json;

use crate::client::{self, Client};
use crate::codec::{Type, Value};
use crate::diag::{Diagnostic, attr, error, error_at};
use crate::resources::errors::{self, Subject};
use crate::schema::{Attribute, Block, Presence, Schema};

/// The ephemeral resource's type name.
pub(crate) const CLUSTER_CREDENTIALS: &str = "wayfinder_cluster_credentials";

/// Every ephemeral resource type the provider serves.
pub fn type_names() -> Vec<&'static str> {
    vec![CLUSTER_CREDENTIALS]
}

/// The schema of `wayfinder_cluster_credentials`.
pub fn schema() -> Schema {
    use Presence::{Computed, Optional, Required};
    Schema {
        version: 0,
        block: Block {
            description: "Short-lived credentials for a Wayfinder cluster: a bearer token, a kubeconfig and the API endpoint, for a `kubernetes` or `helm` provider block. An ephemeral resource (Terraform 1.10 or later, OpenTofu 1.11 or later): the values are never written to the plan or the state. The server caps the lifetime by the GlobalAccessPolicies that apply to the caller and the cluster (one hour when none does) and records every issue in its audit log. Reference the cluster's `id` (`cluster = wayfinder_cluster.app.id`) so Terraform opens the credentials only once the cluster exists.".into(),
            blocks: Vec::new(),
            attributes: vec![
                Attribute::plain("cluster", Type::String, Required, "The cluster: its name, or its `workspace/name` ID (`wayfinder_cluster.NAME.id`). The cluster must have been built (`status.status` is `Success`)."),
                Attribute::plain("workspace", Type::String, Optional, "The cluster's workspace, when `cluster` is a bare name; the provider's `workspace` (or WAYFINDER_WORKSPACE) when not set."),
                Attribute::plain("ttl", Type::String, Optional, "The lifetime to ask for, a duration such as `30m` or `2h`; the server grants at most what the access policies allow, and their cap when not set."),
                Attribute::plain("token", Type::String, Computed, "The bearer token for the cluster's Kubernetes API.").sensitive(),
                Attribute::plain("kubeconfig", Type::String, Computed, "A kubeconfig (YAML) for the cluster that carries the token.").sensitive(),
                Attribute::plain("endpoint", Type::String, Computed, "The cluster's Kubernetes API endpoint, `https://…`."),
                Attribute::plain("cluster_ca_certificate", Type::String, Computed, "PEM of the certificate authority of the cluster's API, when the server reports one; null otherwise (the simulated cloud reports none)."),
                Attribute::plain("expires_at", Type::String, Computed, "When the token expires (RFC 3339)."),
                Attribute::plain("granted_ttl", Type::String, Computed, "The lifetime the server granted, e.g. `1h0m0s`."),
            ],
        },
    }
}

/// Checks a configuration without the API (Terraform may call this unconfigured).
pub(crate) fn validate(config: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(c) = config.get("cluster").as_str()
        && let Err(d) = split_cluster(c, config.get("workspace"))
    {
        out.push(d);
    }
    if let Some(ttl) = config.get("ttl").as_str()
        && !wayfinder_model::common::parse_duration(ttl).is_ok_and(|d| !d.is_zero())
    {
        out.push(error_at(
            Some(attr("ttl")),
            "Invalid ttl",
            format!("{ttl:?} is not a positive duration: use e.g. \"30m\", \"1h\" or \"8h0m0s\""),
        ));
    }
    out
}

/// `(workspace, name)` from `cluster` and `workspace`; `Ok(None)` workspace when neither
/// names one (the provider's default applies).
fn split_cluster(cluster: &str, workspace: &Value) -> Result<(Option<String>, String), Diagnostic> {
    let ws = workspace.as_str().map(str::to_string);
    match cluster.split_once('/') {
        None if !cluster.is_empty() => Ok((ws, cluster.to_string())),
        Some((w, n)) if !w.is_empty() && !n.is_empty() && !n.contains('/') => match &ws {
            Some(other) if other != w => Err(error_at(
                Some(attr("workspace")),
                "Conflicting workspaces",
                format!(
                    "cluster {cluster:?} is in workspace {w:?}, but workspace is {other:?}: set one of them"
                ),
            )),
            _ => Ok((Some(w.to_string()), n.to_string())),
        },
        _ => Err(error_at(
            Some(attr("cluster")),
            "Invalid cluster",
            format!(
                "{cluster:?} is neither a cluster name nor a `workspace/name` ID (e.g. \"payments-dev\" or \"pay/payments-dev\")"
            ),
        )),
    }
}

/// Opens the credentials: the result value, or the diagnostics that explain why not.
pub(crate) async fn open(client: &Client, config: &Value) -> Result<Value, Vec<Diagnostic>> {
    let mut diags = validate(config);
    if !diags.is_empty() {
        return Err(diags);
    }
    let cluster = config.get("cluster").as_str().unwrap_or_default();
    let (ws, name) = split_cluster(cluster, config.get("workspace")).map_err(|d| vec![d])?;
    let Some(ws) = ws.or_else(|| client.default_workspace().map(str::to_string)) else {
        return Err(vec![error_at(
            Some(attr("workspace")),
            "No workspace for the cluster",
            format!(
                "Cluster {name:?} is given by name, and neither `workspace` nor the provider's `workspace` (or WAYFINDER_WORKSPACE) says which workspace it is in. Set one, or use the cluster's ID (`wayfinder_cluster.NAME.id`)."
            ),
        )]);
    };
    let ttl = config.get("ttl").as_str();
    let answer = client
        .cluster_credentials(&ws, &name, ttl)
        .await
        .map_err(|e| {
            let subject = Subject {
                object: format!("Cluster {ws}/{name}"),
                type_name: CLUSTER_CREDENTIALS,
                import_id: format!("{ws}/{name}"),
                action: "take credentials for",
            };
            diags = errors::diagnostics(&e, &subject, &|_| None);
            if let client::ClientError::Api(a) = &e {
                let hint = match a.status {
                    404 => Some(
                        "If the cluster is created in this configuration, set `cluster = wayfinder_cluster.NAME.id`: the ID is known only once the cluster exists, so Terraform then opens the credentials after creating it.",
                    ),
                    409 => Some(
                        "Credentials are issued only for a cluster that has been built (status Success). Wait for it, or fix and re-apply the cluster if it failed.",
                    ),
                    _ => None,
                };
                if let (Some(h), Some(d)) = (hint, diags.first_mut()) {
                    d.detail.push_str("\n\n");
                    d.detail.push_str(h);
                }
            }
            diags.clone()
        })?;
    Ok(result_value(config, &answer))
}

/// The resource's value: the configuration, plus what the server answered.
fn result_value(config: &Value, answer: &Json) -> Value {
    let text = |k: &str| match answer.get(k).and_then(Json::as_str) {
        Some(s) => Value::String(s.to_string()),
        None => Value::Null,
    };
    let ca = ["caCertificate", "certificateAuthorityData"]
        .iter()
        .find_map(|k| answer.get(*k).and_then(Json::as_str))
        .map_or(Value::Null, |s| Value::String(s.to_string()));
    let mut map = match config.clone() {
        Value::Map(m) => m,
        _ => Default::default(),
    };
    map.insert("token".into(), text("token"));
    map.insert("kubeconfig".into(), text("kubeconfig"));
    map.insert("endpoint".into(), text("endpoint"));
    map.insert("cluster_ca_certificate".into(), ca);
    map.insert("expires_at".into(), text("expiresAt"));
    map.insert("granted_ttl".into(), text("ttl"));
    Value::Map(map).conform(&schema().value_type())
}

/// Whether this provider serves the ephemeral type `type_name`.
pub(crate) fn check_type(type_name: &str) -> Result<(), Diagnostic> {
    if type_names().contains(&type_name) {
        Ok(())
    } else {
        Err(unknown_type(type_name))
    }
}

/// The diagnostic for an ephemeral type this provider does not serve.
fn unknown_type(type_name: &str) -> Diagnostic {
    error(
        "Unknown ephemeral resource type",
        format!(
            "The wayfinder provider has no ephemeral resource {type_name:?}; it has {}.",
            type_names().join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(cluster: &str, ws: Option<&str>) -> Value {
        Value::from_json(&json!({"cluster": cluster, "workspace": ws, "ttl": null}))
            .conform(&schema().value_type())
    }

    #[test]
    fn cluster_ids_and_names_are_both_accepted() {
        assert_eq!(
            split_cluster("pay/dev", &Value::Null).unwrap(),
            (Some("pay".into()), "dev".into())
        );
        assert_eq!(
            split_cluster("dev", &Value::String("pay".into())).unwrap(),
            (Some("pay".into()), "dev".into())
        );
        assert_eq!(
            split_cluster("dev", &Value::Null).unwrap(),
            (None, "dev".into())
        );
        assert!(split_cluster("pay/dev", &Value::String("web".into())).is_err());
        for bad in ["", "/dev", "pay/", "a/b/c"] {
            assert!(split_cluster(bad, &Value::Null).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_points_at_the_attribute() {
        let mut c = config("pay/dev", None);
        if let Value::Map(m) = &mut c {
            m.insert("ttl".into(), Value::String("soon".into()));
        }
        let d = validate(&c);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, Some(attr("ttl")));
        assert!(validate(&config("pay/dev", None)).is_empty());
    }

    #[test]
    fn the_result_carries_config_and_answer() {
        let v = result_value(
            &config("pay/dev", None),
            &json!({"token": "wfc_x", "kubeconfig": "apiVersion: v1", "endpoint": "https://e",
                    "expiresAt": "2030-01-01T00:00:00Z", "ttl": "1h0m0s"}),
        );
        assert_eq!(v.get("cluster").as_str(), Some("pay/dev"));
        assert_eq!(v.get("token").as_str(), Some("wfc_x"));
        assert_eq!(v.get("granted_ttl").as_str(), Some("1h0m0s"));
        assert!(v.get("cluster_ca_certificate").is_null());
        let Value::Map(m) = &v else { panic!() };
        assert_eq!(m.len(), schema().block.attributes.len());
    }
}
