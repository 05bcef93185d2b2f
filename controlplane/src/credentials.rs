//! Short-lived cluster credentials (DESIGN.md, "Self-service provisioning", item 4).
//!
//! `POST /resources/compute.appvia.io/v2beta2/workspaces/{ws}/clusters/{name}/credentials`
//! with an optional body `{"ttl": "30m"}` (a Go-style duration) answers `200` with
//! `{token, expiresAt, ttl, endpoint, kubeconfig}`: a new random token and a kubeconfig
//! (YAML) for the cluster's `status.endpoint` that carries it.
//!
//! - **Who**: an administrator, or an owner or member of the workspace (the token's
//!   `owner:KEY` / `member:KEY` roles, [`Principal::workspace_role`]); anyone else gets
//!   `403`, before the cluster is even looked up.
//! - **Which clusters**: only a cluster whose `status.status` is `Success` (`409` otherwise).
//! - **How long**: the requested TTL (default: the cap), capped by the longest
//!   `constraints.ttl` of the GlobalAccessPolicies that apply — scope covering the
//!   workspace and the cluster's stage, granting the caller (`wayfinderGroups: [admin]` for
//!   administrators, `groups: [owner]` / `groups: [member]` for owners / members), and `constraints.clusters.allowed`
//!   selecting the cluster's labels. With no such policy (or none with a TTL) the cap is
//!   [`DEFAULT_TTL_CAP`], one hour. `subjectType` is not distinguished.
//! - **Audit**: every issue appends one JSON line to `DATA_DIR/audit/credentials.jsonl`
//!   (directory 0700, file 0600) *before* the token is returned — when it cannot be
//!   written, no token is issued. The line holds `time`, `subject`, `workspace`, `cluster`,
//!   `uid`, `ttl`, `ttlSeconds`, `requestedTtl`, `cap`, `capFrom`, `expiresAt` and
//!   `tokenSha256`; the token itself is never stored or logged.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use wayfinder_model::common::{format_duration, parse_duration};
use wayfinder_model::kinds::GLOBAL_ACCESS_POLICY;
use wayfinder_model::policydelivery::GlobalAccessPolicy;

use crate::AppState;
use crate::auth::{ADMIN_ROLE, Principal, WorkspaceRole, generate_token, hash_token};
use crate::status::ApiError;
use crate::store::Reads;

/// The route, in axum's syntax.
pub const ROUTE: &str =
    "/resources/compute.appvia.io/v2beta2/workspaces/{ws}/clusters/{name}/credentials";

/// The TTL cap when no access policy sets one.
pub const DEFAULT_TTL_CAP: Duration = Duration::from_secs(3600);

/// The audit log, relative to the data directory.
pub const AUDIT_FILE: &str = "audit/credentials.jsonl";

/// Prefix of issued cluster tokens.
const TOKEN_PREFIX: &str = "wfc_";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueRequest {
    #[serde(default)]
    ttl: Option<String>,
}

/// How the caller relates to the cluster's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Workspace(WorkspaceRole),
}

/// The caller's standing in `workspace`, if any.
pub fn caller(principal: &Principal, workspace: &str) -> Option<Caller> {
    if principal.is_admin() {
        return Some(Caller::Admin);
    }
    principal.workspace_role(workspace).map(Caller::Workspace)
}

/// The TTL cap for `role` on a cluster with `labels` in `workspace`/`stage`, and where it
/// came from (`GlobalAccessPolicy/NAME` or `default`).
pub fn ttl_cap(
    policies: &[GlobalAccessPolicy],
    role: Caller,
    workspace: &str,
    stage: &str,
    labels: &BTreeMap<String, String>,
) -> (Duration, String) {
    let mut best: Option<(Duration, String)> = None;
    for p in policies {
        let scope_ok = p
            .spec
            .scope
            .as_ref()
            .is_none_or(|s| s.includes_workspace(workspace) && s.includes_stage(stage));
        let Some(t) = &p.spec.access_policy_template else {
            continue;
        };
        let has = |list: &Option<Vec<String>>, g: &str| list.iter().flatten().any(|x| x == g);
        let grants = match role {
            Caller::Admin => has(&t.wayfinder_groups, ADMIN_ROLE),
            Caller::Workspace(r) => has(&t.groups, r.as_str()),
        };
        let cluster_ok = t
            .constraints
            .as_ref()
            .and_then(|c| c.clusters.as_ref())
            .and_then(|c| c.allowed.as_ref())
            .is_none_or(|sel| sel.matches(labels));
        if !(scope_ok && grants && cluster_ok) {
            continue;
        }
        if let Some(ttl) = p.spec.ttl()
            && best.as_ref().is_none_or(|(b, _)| ttl > *b)
        {
            best = Some((ttl, format!("GlobalAccessPolicy/{}", p.metadata.name)));
        }
    }
    best.unwrap_or((DEFAULT_TTL_CAP, "default".to_string()))
}

/// The labels access policies select clusters on, rebuilt from the stored cluster.
fn cluster_labels(body: &Value, workspace: &str) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = body["spec"]["clusterLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let mut set = |k: &str, v: &Value| {
        if let Some(v) = v.as_str() {
            labels.insert(k.to_string(), v.to_string());
        }
    };
    set("appvia.io/stage", &body["spec"]["stage"]);
    set("appvia.io/plan", &body["spec"]["plan"]["name"]);
    set("appvia.io/provider", &body["status"]["provider"]);
    set("appvia.io/cloud", &body["status"]["cloud"]);
    labels.insert("appvia.io/workspace".to_string(), workspace.to_string());
    labels
}

/// A kubeconfig for `endpoint` with `token`; every scalar is JSON-quoted, which YAML reads.
pub fn kubeconfig(context: &str, user: &str, endpoint: &str, token: &str) -> String {
    kubeconfig_with_ca(context, user, endpoint, None, token)
}

/// [`kubeconfig`], trusting `ca` (base64 of the PEM: `certificate-authority-data`) when given.
pub fn kubeconfig_with_ca(
    context: &str,
    user: &str,
    endpoint: &str,
    ca: Option<&str>,
    token: &str,
) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let ca = ca
        .map(|ca| format!("\n      certificate-authority-data: {}", q(ca.trim())))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n  - name: {c}\n    cluster:\n      server: {e}{ca}\ncontexts:\n  - name: {c}\n    context:\n      cluster: {c}\n      user: {u}\ncurrent-context: {c}\nusers:\n  - name: {u}\n    user:\n      token: {t}\n",
        c = q(context),
        e = q(endpoint),
        u = q(user),
        t = q(token),
    )
}

/// The handler of [`ROUTE`].
pub async fn issue(
    State(state): State<AppState>,
    UrlPath((ws, name)): UrlPath<(String, String)>,
    principal: Principal,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: IssueRequest = if body.iter().all(u8::is_ascii_whitespace) {
        IssueRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body must be empty or {{\"ttl\": \"DURATION\"}} (e.g. \"30m\"): {e}"
            ))
        })?
    };
    let requested = request
        .ttl
        .as_deref()
        .map(|t| {
            parse_duration(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "ttl {t:?} is not a positive duration: use e.g. 30m, 1h or 8h0m0s"
                    ))
                })
        })
        .transpose()?;

    let Some(role) = caller(&principal, &ws) else {
        return Err(ApiError::forbidden(format!(
            "{} may not take credentials for clusters in workspace {ws}: that needs the role {ADMIN_ROLE:?}, or \"owner\" or \"member\" of workspace {ws}",
            principal.subject
        )));
    };
    // From memory: no blocking.
    state.store.fresh().await?;
    let snapshot = state.store.snapshot()?;
    let cluster = snapshot.get(&crate::keys::cluster_key(&ws, &name))?;
    let (_, policies) = snapshot.list(GLOBAL_ACCESS_POLICY.group, GLOBAL_ACCESS_POLICY.kind, "")?;
    let Some(cluster) = cluster else {
        return Err(ApiError::not_found(format!(
            "Cluster {ws}/{name} not found"
        )));
    };
    let phase = crate::reconciler::status_of(&cluster.body).unwrap_or("Pending");
    if phase != crate::reconciler::phase::SUCCESS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Cluster {ws}/{name} is {phase}; credentials are issued only for clusters whose status is Success"
            ),
        ));
    }
    let Some(endpoint) = cluster.body["status"]["endpoint"]
        .as_str()
        .map(str::to_string)
    else {
        return Err(ApiError::internal(&format_args!(
            "Cluster {ws}/{name} is Success but has no status.endpoint"
        )));
    };
    let policies: Vec<GlobalAccessPolicy> = policies
        .into_iter()
        .filter_map(|p| serde_json::from_value(p.body).ok())
        .collect();
    let stage = cluster.body["spec"]["stage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let labels = cluster_labels(&cluster.body, &ws);
    let (cap, cap_from) = ttl_cap(&policies, role, &ws, &stage, &labels);
    let ttl = requested.map_or(cap, |r| r.min(cap));

    // A cloud that authenticates its own clusters (EKS) issues the token; else this control
    // plane does.
    let from_cloud = match &state.drivers {
        Some(drivers) => {
            let id = crate::driver::ClusterId {
                workspace: ws.clone(),
                name: name.clone(),
                uid: cluster.uid.clone(),
            };
            let target = crate::reconciler::target_of(&state.store, &cluster, id);
            drivers.credentials(&target, ttl).await.map_err(|f| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "CloudError",
                    format!(
                        "Cluster {ws}/{name}: its cloud would not issue credentials ({}): {}",
                        f.reason, f.message
                    ),
                )
            })?
        }
        None => None,
    };
    let (token, ttl, endpoint, ca, issuer) = match from_cloud {
        Some(c) => (
            c.token,
            c.expires_in.min(ttl),
            c.endpoint,
            c.certificate_authority,
            "cloud",
        ),
        None => (
            generate_token(TOKEN_PREFIX),
            ttl,
            endpoint,
            None,
            "wayfinder",
        ),
    };
    let now = SystemTime::now();
    let expires_at = humantime::format_rfc3339_seconds(now + ttl).to_string();
    let record = json!({
        "time": humantime::format_rfc3339_seconds(now).to_string(),
        "subject": principal.subject,
        "workspace": ws,
        "cluster": name,
        "uid": cluster.uid,
        "ttl": format_duration(ttl),
        "ttlSeconds": ttl.as_secs(),
        "requestedTtl": requested.map(format_duration),
        "cap": format_duration(cap),
        "capFrom": cap_from,
        "expiresAt": expires_at,
        "issuer": issuer,
        "tokenSha256": hash_token(&token),
    });
    let audit = audit_path(&state.data_dir);
    tokio::task::spawn_blocking(move || append_audit(&audit, &record))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| {
            ApiError::internal(&format_args!("cannot write the credentials audit log: {e}"))
        })?;
    tracing::info!(
        subject = %principal.subject,
        cluster = %format_args!("{ws}/{name}"),
        ttl = %format_duration(ttl),
        cap_from = %cap_from,
        issuer = %issuer,
        "issued cluster credentials"
    );
    let context = format!("{ws}-{name}");
    let user = format!("{}@{context}", principal.subject);
    let config = kubeconfig_with_ca(&context, &user, &endpoint, ca.as_deref(), &token);
    let mut answer = json!({
        "token": token,
        "expiresAt": expires_at,
        "ttl": format_duration(ttl),
        "endpoint": endpoint,
        "kubeconfig": config,
    });
    if let Some(ca) = ca {
        if let Some(pem) = base64::engine::general_purpose::STANDARD
            .decode(ca.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            answer["caCertificate"] = pem.into();
        }
        answer["certificateAuthorityData"] = ca.into();
    }
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// `DATA_DIR/audit/credentials.jsonl`: local to the replica, whatever the store.
pub fn audit_path(data_dir: &Path) -> PathBuf {
    data_dir.join(AUDIT_FILE)
}

static AUDIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Appends one line, synced, to the audit log.
fn append_audit(path: &Path, record: &Value) -> std::io::Result<()> {
    let _guard = AUDIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mut line = record.to_string();
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> GlobalAccessPolicy {
        let o = wayfinder_model::parse_yaml_documents("t", yaml).unwrap()[0]
            .object
            .to_json();
        serde_json::from_value(o).unwrap()
    }

    const OWNER_NONPROD: &str = r#"
apiVersion: policydelivery.appvia.io/v1alpha1
kind: GlobalAccessPolicy
metadata: {name: owner-nonprod}
spec:
  scope: {allWorkspaces: true, allowedStages: [nonprod]}
  accessPolicyTemplate:
    accessRoleRefs: [cluster.admin]
    wayfinderGroups: [admin]
    groups: [owner]
    subjectType: User
    constraints:
      ttl: 8h00m0s
      clusters:
        allowed:
          matchLabels: {appvia.io/stage: nonprod}
"#;

    #[test]
    fn the_cap_is_the_longest_applicable_policy_ttl_or_an_hour() {
        let p = vec![
            policy(OWNER_NONPROD),
            policy(
                &OWNER_NONPROD
                    .replace("owner-nonprod", "short")
                    .replace("8h00m0s", "15m"),
            ),
        ];
        let labels: BTreeMap<String, String> =
            [("appvia.io/stage".to_string(), "nonprod".to_string())].into();
        assert_eq!(
            ttl_cap(
                &p,
                Caller::Workspace(WorkspaceRole::Owner),
                "pay",
                "nonprod",
                &labels
            ),
            (
                Duration::from_secs(8 * 3600),
                "GlobalAccessPolicy/owner-nonprod".into()
            )
        );
        // Another stage: no policy applies.
        assert_eq!(
            ttl_cap(
                &p,
                Caller::Workspace(WorkspaceRole::Owner),
                "pay",
                "prod",
                &labels
            ),
            (DEFAULT_TTL_CAP, "default".into())
        );
        // A cluster the policy's selector does not allow.
        assert_eq!(
            ttl_cap(&p, Caller::Admin, "pay", "nonprod", &BTreeMap::new()).1,
            "default"
        );
        let only_short = vec![policy(
            &OWNER_NONPROD
                .replace("8h00m0s", "15m")
                .replace("groups: [owner]", "groups: [member]"),
        )];
        assert_eq!(
            ttl_cap(&only_short, Caller::Admin, "pay", "nonprod", &labels).0,
            Duration::from_secs(900)
        );
        assert_eq!(
            ttl_cap(
                &only_short,
                Caller::Workspace(WorkspaceRole::Owner),
                "pay",
                "nonprod",
                &labels
            )
            .1,
            "default"
        );
    }

    #[test]
    fn kubeconfig_quotes_everything() {
        let k = kubeconfig("pay-dev", "jane@pay-dev", "https://x:6443", "wfc_abc");
        assert!(k.contains("server: \"https://x:6443\""), "{k}");
        assert!(k.contains("token: \"wfc_abc\""), "{k}");
        assert!(k.contains("current-context: \"pay-dev\""), "{k}");
        assert!(!k.contains("certificate-authority"), "{k}");
        let k = kubeconfig_with_ca("pay-dev", "jane", "https://x", Some("TFMwdA==\n"), "t");
        assert!(
            k.contains(
                "      server: \"https://x\"\n      certificate-authority-data: \"TFMwdA==\"\n"
            ),
            "{k}"
        );
    }
}
