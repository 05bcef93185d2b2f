//! The control plane's JSON request bodies, through the real router, store and admission.
//!
//! A server's router over a real SQLite store, holding the platform the model's fixtures
//! describe (workspace `pay`, stage, cloud access, networks, compute template, packages,
//! the published plan, policies, a cluster), takes each input as the body of a `POST` to a
//! kind's collection or a `PUT` to the object the body names, as the administrator, with
//! `?dryRun=All` so that every input meets the same store.
//!
//! Input: `[selector, body…]`: the selector's low bits pick the kind (an index into the
//! model's `kinds::ALL`, modulo its length), bit 7 makes it a `PUT`.
//!
//! What must hold:
//! - never a panic and never a `5xx`;
//! - every error is a Kubernetes `Status` body (`kind: Status`, `status: Failure`, `code`
//!   equal to the HTTP status, a reason and a message); a body the model cannot parse is a
//!   `400` whose `details.causes` carry the model's message; a `422` lists its causes;
//! - a success returns the object, of the kind the URL serves, under the name it was sent.
//!
//! Shared by the `api_body` fuzz target and `controlplane/tests/prop_api_body.rs` (stable,
//! in CI).

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;
use wayfinder_controlplane::resources::collection_path_in;
use wayfinder_controlplane::store::Store;
use wayfinder_controlplane::{AppState, auth, router};
use wayfinder_model::{KindInfo, Scope};

/// The model's fixtures, created in this order (what each needs exists before it).
const FIXTURES: &[(&str, &str)] = &[
    (
        "workspace",
        include_str!("../../model/tests/data/workspace.yaml"),
    ),
    ("stage", include_str!("../../model/tests/data/stage.yaml")),
    // The stage the fixture clusters are in.
    (
        "stage nonprod",
        "apiVersion: org.appvia.io/v2beta1\nkind: Stage\nmetadata:\n  name: nonprod\nspec:\n  displayName: Non-production\n",
    ),
    (
        "cloud_identity",
        include_str!("../../model/tests/data/cloud_identity.yaml"),
    ),
    (
        "cloud_access_config",
        include_str!("../../model/tests/data/cloud_access_config.yaml"),
    ),
    (
        "assignable_network",
        include_str!("../../model/tests/data/assignable_network.yaml"),
    ),
    (
        "cluster_network_plan",
        include_str!("../../model/tests/data/cluster_network_plan.yaml"),
    ),
    (
        "compute_template",
        include_str!("../../model/tests/data/compute_template.yaml"),
    ),
    (
        "repository",
        include_str!("../../model/tests/data/repository.yaml"),
    ),
    (
        "package",
        include_str!("../../model/tests/data/package.yaml"),
    ),
    (
        "cluster_plan",
        include_str!("../../model/tests/data/cluster_plan.yaml"),
    ),
    // Before the policies, which would limit it.
    (
        "cluster",
        include_str!("../../model/tests/data/cluster.yaml"),
    ),
    (
        "provisioning_policy",
        include_str!("../../model/tests/data/provisioning_policy.yaml"),
    ),
    (
        "global_cluster_policy",
        include_str!("../../model/tests/data/global_cluster_policy.yaml"),
    ),
    (
        "global_access_role",
        include_str!("../../model/tests/data/global_access_role.yaml"),
    ),
    (
        "global_access_policy",
        include_str!("../../model/tests/data/global_access_policy.yaml"),
    ),
    (
        "access_token",
        include_str!("../../model/tests/data/access_token.yaml"),
    ),
];

/// The workspace every workspaced request goes to.
pub const WORKSPACE: &str = "pay";

/// Bit 7 of the selector: `PUT` instead of `POST`.
pub const PUT: u8 = 0x80;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    token: String,
    kinds: Vec<&'static KindInfo>,
    /// Keeps the store's directory for the life of the process.
    _dir: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open_sqlite(&dir.path().join("wayfinder.db")).expect("the store opens");
    auth::ensure_admin_token(&store, dir.path(), false).expect("an administrator token");
    let token = std::fs::read_to_string(dir.path().join(auth::ADMIN_TOKEN_FILE))
        .expect("the administrator token file")
        .trim()
        .to_string();
    let store = Arc::new(store);
    let signer =
        Arc::new(wayfinder_controlplane::jwt::Signer::load_or_create(&store).expect("signing key"));
    let router = router(AppState::new(store, signer, dir.path().to_path_buf()));
    let h = Harness {
        runtime,
        router,
        token,
        kinds: wayfinder_model::kinds::ALL.to_vec(),
        _dir: dir,
    };
    h.runtime.block_on(h.platform());
    h
});

/// The selector byte for a `POST` (with [`PUT`] added, a `PUT`) of `kind`: its index in
/// the model's list of kinds (every kind is served).
pub fn selector(kind: &KindInfo) -> u8 {
    wayfinder_model::kinds::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("a kind of the model") as u8
}

impl Harness {
    /// Creates every fixture (for real, not a dry run); panics unless the ones every
    /// cluster needs are there.
    async fn platform(&self) {
        let mut created = Vec::new();
        for (file, text) in FIXTURES {
            let docs = wayfinder_model::parse_yaml_documents(file, text).expect("fixture parses");
            for d in docs {
                let mut body = d.object.to_json();
                let kind = d.object.kind_info();
                // The cluster fixtures show every field, AKS pool details too; the plan is EKS.
                if let Some(pools) = body
                    .pointer_mut("/spec/nodePools")
                    .and_then(Value::as_array_mut)
                {
                    for p in pools.iter_mut().filter_map(Value::as_object_mut) {
                        p.remove("providerDetails");
                    }
                }
                let ws = d
                    .object
                    .metadata()
                    .namespace
                    .as_deref()
                    .and_then(|ns| ns.strip_prefix("ws-"))
                    .unwrap_or(WORKSPACE)
                    .to_string();
                let path = collection_path_in(kind, workspace_for(kind, &ws));
                let (status, answer) = self
                    .call(Method::POST, &path, serde_json::to_vec(&body).unwrap())
                    .await;
                if status == StatusCode::CREATED {
                    created.push(format!("{}/{}", kind.kind, d.object.metadata().name));
                } else {
                    eprintln!(
                        "fixture {file} {} not created: {status} {answer}",
                        d.object.display_name()
                    );
                }
            }
        }
        for needed in [
            "Workspace/pay",
            "ComputeTemplate/eks-general-purpose",
            "ClusterPlan/eks-general-purpose",
            "Stage/nonprod",
            "Cluster/payments-dev",
        ] {
            assert!(
                created.iter().any(|c| c == needed),
                "the platform has {needed}; created: {created:?}"
            );
        }
    }

    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body is read");
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status} answered a body that is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, json)
    }
}

fn workspace_for<'a>(kind: &KindInfo, ws: &'a str) -> Option<&'a str> {
    (kind.scope == Scope::Workspace).then_some(ws)
}

/// A path segment with everything but unreserved characters percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn check(data: &[u8]) {
    let [selector, body @ ..] = data else {
        return;
    };
    let h = &*HARNESS;
    let kind = h.kinds[(selector & !PUT) as usize % h.kinds.len()];
    let put = selector & PUT != 0;
    let collection = collection_path_in(kind, workspace_for(kind, WORKSPACE));
    let sent: Option<Value> = serde_json::from_slice(body).ok();
    let path = if put {
        let name = sent
            .as_ref()
            .and_then(|v| v.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("x");
        let mut p = format!("{collection}/{}", segment(name));
        if let Some(v) = sent
            .as_ref()
            .and_then(|v| v.pointer("/spec/version"))
            .and_then(Value::as_str)
            .filter(|v| kind.versioned && !v.is_empty())
        {
            p.push_str(&format!("/versions/{}", segment(v)));
        }
        p
    } else {
        collection
    };
    let method = if put { Method::PUT } else { Method::POST };
    let (status, answer) =
        h.runtime
            .block_on(h.call(method.clone(), &format!("{path}?dryRun=All"), body.to_vec()));
    let what = || {
        format!(
            "{method} {path} with {} answered {status}: {answer}",
            String::from_utf8_lossy(body)
        )
    };
    assert!(!status.is_server_error(), "{}", what());
    if status.is_success() {
        assert_eq!(answer["kind"], kind.kind, "{}", what());
        let parsed = wayfinder_model::parse_json("body", body)
            .unwrap_or_else(|e| panic!("{}: accepted a body the model rejects: {e}", what()));
        assert_eq!(
            answer["metadata"]["name"].as_str(),
            Some(parsed.metadata().name.as_str()),
            "{}",
            what()
        );
        return;
    }
    assert!(status.is_client_error(), "{}", what());
    assert_eq!(answer["kind"], "Status", "{}", what());
    assert_eq!(answer["status"], "Failure", "{}", what());
    assert_eq!(answer["code"], status.as_u16(), "{}", what());
    assert!(
        answer["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{}",
        what()
    );
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| !m.trim().is_empty()),
        "{}",
        what()
    );
    let causes = answer["details"]["causes"].as_array();
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        assert!(causes.is_some_and(|c| !c.is_empty()), "{}", what());
    }
    if let Err(e) = wayfinder_model::parse_json("request body", body) {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", what());
        let causes = causes.unwrap_or_else(|| panic!("{}: no causes", what()));
        assert!(
            causes.iter().any(|c| c["message"] == e.message.as_str()),
            "{}: the model's message {:?} is a cause",
            what(),
            e.message
        );
    }
    for c in causes.into_iter().flatten() {
        assert!(
            c["message"].as_str().is_some_and(|m| !m.trim().is_empty()),
            "{}",
            what()
        );
    }
}
