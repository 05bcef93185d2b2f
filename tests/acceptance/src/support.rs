//! More of the harness: objects of any kind through the API, saved plans as JSON, and
//! gating tests on the version of the CLI in use (Terraform's or OpenTofu's).

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

/// The CLI the tests use and its version: Terraform, or OpenTofu when
/// `WAYFINDER_TERRAFORM` names a `tofu` (its `version` says `OpenTofu v…`).
pub fn cli_version() -> terraform::CliVersion {
    static VERSION: OnceLock<terraform::CliVersion> = OnceLock::new();
    *VERSION.get_or_init(|| {
        terraform::cli_version(terraform_path()).unwrap_or_else(|e| panic!("{e:#}"))
    })
}

/// Whether the tests run OpenTofu rather than Terraform.
pub fn is_opentofu() -> bool {
    cli_version().cli == terraform::Cli::OpenTofu
}

/// The full address `source = "wayfinder/wayfinder"` means to the CLI in use:
/// `registry.terraform.io/...` under Terraform, `registry.opentofu.org/...` under OpenTofu.
pub fn provider_source() -> &'static str {
    cli_version().cli.provider_source()
}

/// The version of the CLI the tests use, as `1.6.6` (its own number: OpenTofu's or
/// Terraform's).
pub fn terraform_version_string() -> String {
    cli_version().number()
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

/// A feature of the CLI the tests rely on, and the first Terraform release and the first
/// OpenTofu release that have it. OpenTofu numbers its releases on its own (it forked from
/// Terraform 1.6 and added features in another order), so each gate says both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// What it is, as skip messages name it.
    pub name: &'static str,
    /// The first Terraform release with it, `(major, minor)`.
    pub terraform: (u32, u32),
    /// The first OpenTofu release with it; `None`: no OpenTofu release has it.
    pub opentofu: Option<(u32, u32)>,
}

/// `provider::wayfinder::monthly_cost` (GetFunctions, CallFunction): Terraform 1.8,
/// OpenTofu 1.7.
pub const FUNCTIONS: Feature = Feature {
    name: "provider functions",
    terraform: (1, 8),
    opentofu: Some((1, 7)),
};

/// `wayfinder_cluster_credentials` (OpenEphemeralResource and friends): Terraform 1.10,
/// OpenTofu 1.11.
pub const EPHEMERAL_RESOURCES: Feature = Feature {
    name: "ephemeral resources",
    terraform: (1, 10),
    opentofu: Some((1, 11)),
};

/// `import { identity = {...} }` and identities in the state: Terraform 1.12, OpenTofu 1.12.
pub const RESOURCE_IDENTITY: Feature = Feature {
    name: "resource identity",
    terraform: (1, 12),
    opentofu: Some((1, 12)),
};

/// `plan -generate-config-out` asking the provider (GenerateResourceConfig): Terraform 1.14.
/// Older releases, and OpenTofu (up to 1.12 at least), write the configuration from the
/// schema themselves.
pub const GENERATE_RESOURCE_CONFIG: Feature = Feature {
    name: "GenerateResourceConfig",
    terraform: (1, 14),
    opentofu: None,
};

/// `import` blocks with `plan -generate-config-out`: Terraform 1.5, OpenTofu 1.6 (its first).
pub const IMPORT_BLOCKS: Feature = Feature {
    name: "import blocks with -generate-config-out",
    terraform: (1, 5),
    opentofu: Some((1, 6)),
};

/// `mock_provider` in `terraform test` / `tofu test` files (the catalog module's tests):
/// Terraform 1.7, OpenTofu 1.8.
pub const MOCK_PROVIDERS: Feature = Feature {
    name: "mock_provider in tests",
    terraform: (1, 7),
    opentofu: Some((1, 8)),
};

/// A self-service module compiled by `wayfinder-compile`: it calls the provider function
/// and its variables' validation rules refer to other variables (Terraform 1.9). OpenTofu
/// has both from 1.9 on.
pub const SELF_SERVICE_MODULES: Feature = Feature {
    name: "self-service modules (validation across variables, provider functions)",
    terraform: (1, 9),
    opentofu: Some((1, 9)),
};

// Write-only attributes (Terraform 1.11) are not gated: the provider has none (the one
// secret it handles comes from the server, see `wayfinder_access_token`).

impl Feature {
    /// Whether `version` has the feature.
    pub fn supported_by(&self, version: &terraform::CliVersion) -> bool {
        let first = match version.cli {
            terraform::Cli::Terraform => Some(self.terraform),
            terraform::Cli::OpenTofu => self.opentofu,
        };
        first.is_some_and(|first| (version.major, version.minor) >= first)
    }

    /// Why `what` cannot run on `version`: `{what}: needs Terraform >= 1.10, this is
    /// Terraform 1.6.6`, or `... needs OpenTofu >= 1.11, ...`, or `... no OpenTofu release
    /// has {feature}, this is OpenTofu 1.12.6`.
    pub fn missing(&self, version: &terraform::CliVersion, what: &str) -> String {
        let first = match version.cli {
            terraform::Cli::Terraform => Some(self.terraform),
            terraform::Cli::OpenTofu => self.opentofu,
        };
        match first {
            Some((major, minor)) => format!(
                "{what}: needs {} >= {major}.{minor}, this is {version}",
                version.cli.name()
            ),
            None => format!(
                "{what}: no {} release has {}, this is {version}",
                version.cli.name(),
                self.name
            ),
        }
    }

    /// Whether the CLI in use has the feature (nothing printed).
    pub fn supported(&self) -> bool {
        self.supported_by(&cli_version())
    }

    /// For a part of a test (`what`): whether the CLI in use has the feature; when it has
    /// not, records the part as skipped: `{what} (uses {feature}): needs Terraform >= ...`.
    pub fn available_for(&self, what: &str) -> bool {
        if self.supported() {
            return true;
        }
        skip_part(&self.missing(&cli_version(), &format!("{what} (uses {})", self.name)));
        false
    }

    /// For a **whole** test: whether the CLI in use has the feature; when it has not,
    /// records the test as skipped ([`skip_test`]). Used by
    /// [`require_terraform_version!`](crate::require_terraform_version).
    pub fn needed_by_test(&self) -> bool {
        if self.supported() {
            return true;
        }
        skip_test(&self.missing(&cli_version(), self.name));
        false
    }
}

/// First lines of a test of a version-gated feature ([`Feature`]): when the CLI in use lacks
/// it, prints `skipped: {feature}: needs Terraform >= M.m, this is Terraform X.Y.Z` (or
/// OpenTofu's), reports the test as skipped to `cargo xtask test`, and returns from the test.
#[macro_export]
macro_rules! require_terraform_version {
    ($feature:expr) => {
        $crate::require_terraform!();
        let feature: $crate::support::Feature = $feature;
        if !feature.needed_by_test() {
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
