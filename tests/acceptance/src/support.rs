//! More of the harness: objects of any kind through the API, saved plans as JSON, and
//! gating tests on the Terraform version.

use std::sync::OnceLock;

use serde_json::Value;
use wayfinder_model::{KindInfo, Scope};

use crate::{ApiClient, Workdir, report, terraform, terraform_path};

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

/// The version of the Terraform the tests use, as `1.6.6`.
pub fn terraform_version_string() -> String {
    let (major, minor, patch) = terraform_version();
    format!("{major}.{minor}.{patch}")
}

/// Whether the Terraform in use is at least `major.minor` (nothing printed).
pub fn terraform_supports(major: u32, minor: u32) -> bool {
    let (ma, mi, _) = terraform_version();
    (ma, mi) >= (major, minor)
}

/// Why something needing Terraform `major.minor` cannot run here: `{what}: needs Terraform
/// >= 1.10, this is 1.6.6`.
pub fn too_old(major: u32, minor: u32, what: &str) -> String {
    format!(
        "{what}: needs Terraform >= {major}.{minor}, this is {}",
        terraform_version_string()
    )
}

/// Records that the running test skipped **itself**, whole: prints `skipped: {reason}` and
/// reports it to `cargo xtask test` (see [`crate::report`]), which counts the test
/// as skipped, not passed. The test then returns.
pub fn skip_test(reason: &str) {
    report::record(&report::Skip::here(true, reason));
}

/// Records that the running test left **a part** out (the rest runs): prints `partly
/// skipped: {reason}` and reports it to `cargo xtask test`, which lists it.
pub fn skip_part(reason: &str) {
    report::record(&report::Skip::here(false, reason));
}

/// For a **part** of a test: whether the Terraform in use is at least `major.minor`; when
/// it is not, records the part as skipped ([`skip_part`]) with `what` and the versions. A
/// test that needs the version as a whole starts with
/// [`require_terraform_version!`](crate::require_terraform_version) instead.
pub fn terraform_at_least(major: u32, minor: u32, what: &str) -> bool {
    if terraform_supports(major, minor) {
        return true;
    }
    skip_part(&too_old(major, minor, what));
    false
}

/// For a **whole** test: whether the Terraform in use is at least `major.minor`; when it is
/// not, records the test as skipped ([`skip_test`]). Used by
/// [`require_terraform_version!`](crate::require_terraform_version).
pub fn test_needs_terraform(major: u32, minor: u32, what: &str) -> bool {
    if terraform_supports(major, minor) {
        return true;
    }
    skip_test(&too_old(major, minor, what));
    false
}

/// A Terraform feature the provider serves, and the first Terraform release that uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// What it is, as skip messages name it.
    pub name: &'static str,
    pub major: u32,
    pub minor: u32,
}

/// `provider::wayfinder::monthly_cost` (GetFunctions, CallFunction): Terraform 1.8.
pub const FUNCTIONS: Feature = Feature {
    name: "provider functions",
    major: 1,
    minor: 8,
};

/// `wayfinder_cluster_credentials` (OpenEphemeralResource and friends): Terraform 1.10.
pub const EPHEMERAL_RESOURCES: Feature = Feature {
    name: "ephemeral resources",
    major: 1,
    minor: 10,
};

/// `import { identity = {...} }` and identities in the state: Terraform 1.12.
pub const RESOURCE_IDENTITY: Feature = Feature {
    name: "resource identity",
    major: 1,
    minor: 12,
};

/// `plan -generate-config-out` asking the provider (GenerateResourceConfig): Terraform 1.14.
/// Older releases (and OpenTofu) write the configuration from the schema themselves.
pub const GENERATE_RESOURCE_CONFIG: Feature = Feature {
    name: "GenerateResourceConfig",
    major: 1,
    minor: 14,
};

// Write-only attributes (Terraform 1.11) are not gated: the provider has none (the one
// secret it handles comes from the server, see `wayfinder_access_token`).

impl Feature {
    /// Whether the Terraform in use has the feature (nothing printed).
    pub fn supported(&self) -> bool {
        terraform_supports(self.major, self.minor)
    }

    /// For a part of a test (`what`): whether the Terraform in use has the feature; when it
    /// has not, records the part as skipped: `{what} (uses {feature}): needs Terraform >= ...`.
    pub fn available_for(&self, what: &str) -> bool {
        terraform_at_least(
            self.major,
            self.minor,
            &format!("{what} (uses {})", self.name),
        )
    }
}

/// First lines of a test of a version-gated Terraform feature, given as a [`Feature`] or as
/// `major, minor, "what"`: when Terraform is older, prints `skipped: {what}: needs
/// Terraform >= M.m, this is X.Y.Z`, reports the test as skipped to `cargo xtask test`, and
/// returns from the test.
#[macro_export]
macro_rules! require_terraform_version {
    ($feature:expr) => {
        let feature: $crate::support::Feature = $feature;
        $crate::require_terraform_version!(feature.major, feature.minor, feature.name);
    };
    ($major:expr, $minor:expr, $what:expr) => {
        $crate::require_terraform!();
        if !$crate::support::test_needs_terraform($major, $minor, $what) {
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

/// The entries of a zip file (a saved plan), decompressed and concatenated, via python3.
pub fn unzip_all(path: &std::path::Path) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist(): sys.stdout.buffer.write(z.read(n))",
        ])
        .arg(path)
        .output()
        .expect("python3 reads the plan file");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
