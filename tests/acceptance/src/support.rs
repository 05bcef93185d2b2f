//! More of the harness: objects of any kind through the API, saved plans as JSON, and
//! gating tests on the Terraform version.

use std::sync::OnceLock;

use serde_json::Value;
use wayfinder_model::{KindInfo, Scope};

use crate::{ApiClient, Workdir, terraform, terraform_path};

/// The API path of an object of any kind: `/resources/{group}/{version}[/workspaces/{ws}]/
/// {plural}/{name}[/versions/{v}]`.
pub fn object_path(
    kind: &KindInfo,
    workspace: Option<&str>,
    name: &str,
    version: Option<&str>,
) -> String {
    let mut path = format!("/resources/{}/{}", kind.group, kind.version);
    if kind.scope == Scope::Workspace {
        path.push_str(&format!("/workspaces/{}", workspace.unwrap_or("admin")));
    }
    path.push_str(&format!("/{}/{name}", kind.plural));
    if let Some(v) = version.filter(|_| kind.versioned) {
        path.push_str(&format!("/versions/{v}"));
    }
    path
}

impl ApiClient {
    /// The object at [`object_path`]: `Some` on 200, `None` on 404; panics otherwise.
    pub fn object(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Option<Value> {
        let path = object_path(kind, workspace, name, version);
        let resp = self.get(&path);
        match resp.status {
            200 => Some(resp.body),
            404 => None,
            other => panic!("GET {path}: unexpected status {other}: {}", resp.text),
        }
    }
}

impl Workdir {
    /// `terraform plan` (with `extra` arguments) saved and shown as JSON: the whole plan,
    /// with `resource_changes[].change.importing` and friends.
    pub fn plan_json(&self, extra: &[&str]) -> Value {
        let plan_file = "acceptance-json.tfplan";
        let out_arg = format!("-out={plan_file}");
        let mut args = vec!["plan", "-input=false", "-no-color", out_arg.as_str()];
        args.extend_from_slice(extra);
        self.run(&args);
        let shown = self.run(&["show", "-json", "-no-color", plan_file]);
        let _ = std::fs::remove_file(self.path().join(plan_file));
        serde_json::from_str(&shown.stdout).unwrap_or_else(|e| {
            panic!("`terraform show -json {plan_file}` is not JSON: {e}\n{shown}")
        })
    }

    /// Reads a file of the configuration directory.
    pub fn read_file(&self, relative: &str) -> String {
        let path = self.path().join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// Removes a file of the configuration directory, if it is there.
    pub fn remove_file(&self, relative: &str) {
        let _ = std::fs::remove_file(self.path().join(relative));
    }
}

/// The version of the Terraform the tests use, as `(major, minor, patch)`.
pub fn terraform_version() -> (u32, u32, u32) {
    static VERSION: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let line = terraform::version(terraform_path()).unwrap_or_else(|e| panic!("{e:#}"));
        let numbers: Vec<u32> = line
            .trim_start_matches("Terraform v")
            .split(['.', '-'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        (
            numbers.first().copied().unwrap_or(0),
            numbers.get(1).copied().unwrap_or(0),
            numbers.get(2).copied().unwrap_or(0),
        )
    })
}

/// Whether the Terraform in use is at least `major.minor`; prints `skipped: ...` with the
/// reason when it is not. See [`require_terraform_version!`](crate::require_terraform_version).
pub fn terraform_at_least(major: u32, minor: u32, feature: &str) -> bool {
    let (ma, mi, pa) = terraform_version();
    if (ma, mi) >= (major, minor) {
        return true;
    }
    println!(
        "skipped: {feature} needs Terraform >= {major}.{minor}, and the tests use {ma}.{mi}.{pa} \
         (set WAYFINDER_TERRAFORM to a newer terraform to run it)"
    );
    false
}

/// First lines of a test of a version-gated Terraform feature: returns from the test,
/// printing why, when Terraform is older than `major.minor`.
#[macro_export]
macro_rules! require_terraform_version {
    ($major:expr, $minor:expr, $feature:expr) => {
        $crate::require_terraform!();
        if !$crate::support::terraform_at_least($major, $minor, $feature) {
            return;
        }
    };
}

/// The collection path of a kind, in `workspace` for workspaced kinds.
pub fn collection_path(kind: &KindInfo, workspace: Option<&str>) -> String {
    let mut path = format!("/resources/{}/{}", kind.group, kind.version);
    if kind.scope == Scope::Workspace {
        path.push_str(&format!("/workspaces/{}", workspace.unwrap_or("admin")));
    }
    path.push_str(&format!("/{}", kind.plural));
    path
}

impl ApiClient {
    /// Creates an object of any kind; panics unless the server answers 201.
    pub fn create(&self, kind: &KindInfo, workspace: Option<&str>, body: &Value) -> Value {
        let path = collection_path(kind, workspace);
        let resp = self.post(&path, body);
        assert_eq!(resp.status, 201, "POST {path}: {}", resp.text);
        resp.body
    }
}

/// The order objects must be created in so that what they refer to exists first.
pub const CREATION_ORDER: &[&str] = &[
    "Workspace",
    "Stage",
    "CloudIdentity",
    "CloudAccessConfig",
    "AssignableNetwork",
    "ClusterNetworkPlan",
    "ComputeTemplate",
    "Repository",
    "Package",
    "ClusterPlan",
    "GlobalAccessRole",
    "GlobalAccessPolicy",
    "GlobalClusterPolicy",
    "AccessToken",
    "ProvisioningPolicy",
    "Cluster",
];

/// Creates `objects` through the API in [`CREATION_ORDER`]; panics naming the object the
/// server refuses.
pub fn create_all(api: &ApiClient, objects: &[wayfinder_model::Object]) {
    for kind in CREATION_ORDER {
        for o in objects.iter().filter(|o| o.kind_info().kind == *kind) {
            let ws = o
                .metadata()
                .namespace
                .as_deref()
                .and_then(|ns| ns.strip_prefix("ws-"));
            api.create(o.kind_info(), ws, &crate::config::api_body(o));
        }
    }
}
