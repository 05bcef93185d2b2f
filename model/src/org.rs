//! `org.appvia.io/v2beta1`: Workspace and Stage, as Wayfinder defines them
//! (wayfinder-model.md §1–§2), and AccessToken, which is ours.
//!
//! **AccessToken** (ours; Wayfinder's own token kind is not public). A token is a
//! *workspaced* object, whichever kind of token it is:
//!
//! - a **workspace token** (Wayfinder's `wf create workspaceaccesstoken NAME -w WS`) lives in
//!   its workspace (`ws-WS`) and may carry the workspace roles `owner` and `member`;
//! - a **platform token** (`wf create platformaccesstoken NAME`) lives in the `admin`
//!   workspace (`ws-admin`, where Wayfinder keeps platform cloud access too) and may also
//!   carry `admin`.
//!
//! So a token is only ever visible to, and managed by, people of its own workspace, and the
//! platform-level kinds stay readable by every authenticated user without exposing tokens.
//!
//! ```yaml
//! apiVersion: org.appvia.io/v2beta1
//! kind: AccessToken
//! metadata: {name: ci-deployer, namespace: ws-pay}
//! spec:
//!   description: GitHub Actions for the payments repository
//!   roles: [member]
//!   ttl: 720h0m0s          # or expiresAt: "2026-01-31T00:00:00Z"; neither: never expires
//! ```
//!
//! The spec never holds the secret: the server generates it on create, returns it once, and
//! stores only its hash. Like Wayfinder's, a token without roles may authenticate but do
//! nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::common::check_duration;
use crate::error::{FieldError, FieldPath, Reason};
use crate::kinds::{ACCESS_TOKEN, KindInfo, STAGE, WORKSPACE};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::{Checker, is_dns_label, is_workspace_key};

/// A workspace.
pub type Workspace = Typed<WorkspaceSpec>;
/// A stage.
pub type Stage = Typed<StageSpec>;
/// An access token.
pub type AccessToken = Typed<AccessTokenSpec>;

/// Workspace types Wayfinder's definitions use.
pub const WORKSPACE_TYPES: &[&str] = &["standard"];

/// Kinds of workspace owner.
pub const OWNER_KINDS: &[&str] = &["User"];

/// The workspace holding platform-level workspaced objects (platform tokens, platform cloud
/// access and identities).
pub const ADMIN_WORKSPACE: &str = "admin";

/// Roles a workspace token may carry.
pub const WORKSPACE_TOKEN_ROLES: &[&str] = &["owner", "member"];

/// Roles a platform token (one in the `admin` workspace) may carry.
pub const PLATFORM_TOKEN_ROLES: &[&str] = &["admin", "owner", "member"];

/// Shortest and longest lifetime a token's `ttl` may give it.
pub const TOKEN_TTL_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(8760 * 3600));

/// The spec of a Workspace: a team's space for clusters, cloud access and tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// The workspace key; the object's name is the key, so when given it must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A short display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// `spec.description`: what the workspace is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `spec.owners`: the workspace's owners as Wayfinder's user login knows them; they grant nothing on `wayfinder-server`, where an owner is whoever holds an `owner` AccessToken of the workspace.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub owners: Option<Vec<Owner>>,
    /// `ws-KEY`; derived from the key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_namespace: Option<String>,
    /// `standard`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// One of a Workspace's `spec.owners`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Owner {
    /// `User`.
    #[serde(default)]
    pub kind: String,
    /// `name`: the user's name, e.g. `jane@example.com`.
    #[serde(default)]
    pub name: String,
}

/// The spec of a Stage: an environment class such as `nonprod` or `prod`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageSpec {
    /// `spec.displayName`: the name shown to users, e.g. `Production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `spec.description`: what the stage is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The spec of an AccessToken: a bearer token for automation, with its roles and lifetime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenSpec {
    /// What the token is for (the CI job, the tool).
    #[serde(default)]
    pub description: String,
    /// Roles the token carries; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// When the token stops working, RFC 3339 (`2026-01-31T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// How long after creation the token stops working, Go-style (`720h0m0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// The fields of a Workspace's spec.
pub const WORKSPACE_SHAPE: &[Field] = &[
    Field::optional(
        "key",
        FieldType::String,
        "The workspace key. The object's name is the key, so this may be left out; when set it must equal the name.",
    ),
    Field::optional(
        "summary",
        FieldType::String,
        "A short display name, e.g. `Payments`.",
    ),
    Field::optional(
        "description",
        FieldType::String,
        "What the workspace is for.",
    ),
    Field::optional(
        "owners",
        FieldType::ObjectList(&[
            Field::required("kind", FieldType::String, "`User`."),
            Field::required(
                "name",
                FieldType::String,
                "The user's name, e.g. `jane@example.com`.",
            ),
        ]),
        "The workspace's owners, as Wayfinder's user login knows them. `wayfinder-server` authenticates bearer tokens only, so this list grants nothing there: a workspace owner is whoever holds an AccessToken of the workspace with role `owner`.",
    ),
    Field::optional(
        "resourceNamespace",
        FieldType::String,
        "The namespace holding the workspace's objects: `ws-` followed by the key. Derived when not set.",
    ),
    Field::optional("type", FieldType::String, "The workspace type: `standard`."),
];

/// The fields of a Stage's spec.
pub const STAGE_SHAPE: &[Field] = &[
    Field::optional(
        "displayName",
        FieldType::String,
        "The name shown to users, e.g. `Production`.",
    ),
    Field::optional("description", FieldType::String, "What the stage is for."),
];

/// The fields of an AccessToken's spec.
pub const ACCESS_TOKEN_SHAPE: &[Field] = &[
    Field::required(
        "description",
        FieldType::String,
        "What the token is for, e.g. the CI pipeline that uses it.",
    ),
    // A token's roles and lifetime are fixed when it is issued: a new token is needed.
    Field::optional(
        "roles",
        FieldType::StringList,
        "Roles the token carries: `owner` or `member` of its workspace; a platform token (in the `admin` workspace) may also carry `admin`. None when not set: the token authenticates but may do nothing.",
    )
    .immutable(),
    Field::optional(
        "expiresAt",
        FieldType::String,
        "When the token stops working, as an RFC 3339 time, e.g. `2026-01-31T00:00:00Z`. Set this or `ttl`, not both; the token never expires when neither is set.",
    )
    .immutable(),
    Field::optional(
        "ttl",
        FieldType::String,
        "How long after creation the token stops working, e.g. `720h0m0s`: from 1 minute to 8760 hours.",
    )
    .immutable(),
];

impl Spec for WorkspaceSpec {
    const INFO: &'static KindInfo = &WORKSPACE;

    fn check(&self, c: &mut Checker, path: &FieldPath, meta: &ObjectMeta) {
        let name_path = FieldPath::root().field("metadata").field("name");
        // The generic metadata check already refused names that are not names at all.
        if is_dns_label(&meta.name) {
            c.workspace_key(&name_path, &meta.name);
        }
        if let Some(key) = &self.key
            && key != &meta.name
        {
            c.push(
                &path.field("key"),
                Reason::Invalid,
                format!(
                    "must equal metadata.name ({:?}): the name is the workspace key",
                    meta.name
                ),
            );
        }
        if let Some(summary) = &self.summary {
            c.required(&path.field("summary"), summary, "a short display name");
        }
        if let Some(ns) = &self.resource_namespace {
            let want = format!("ws-{}", meta.name);
            if ns != &want {
                c.push(
                    &path.field("resourceNamespace"),
                    Reason::Invalid,
                    format!("must be {want:?} (ws- followed by the workspace key), or left out"),
                );
            }
        }
        if let Some(t) = &self.type_ {
            c.one_of(&path.field("type"), t, WORKSPACE_TYPES);
        }
        let owners = path.field("owners");
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, o) in self.owners.iter().flatten().enumerate() {
            let p = owners.index(i);
            c.one_of(&p.field("kind"), &o.kind, OWNER_KINDS);
            c.required(
                &p.field("name"),
                &o.name,
                "a user name such as jane@example.com",
            );
            if !o.name.is_empty() {
                if seen.contains(&o.name.as_str()) {
                    c.push(
                        &p.field("name"),
                        Reason::Duplicate,
                        format!("{:?} is listed twice; list each owner once", o.name),
                    );
                }
                seen.insert(&o.name);
            }
        }
    }
}

impl Spec for StageSpec {
    const INFO: &'static KindInfo = &STAGE;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        if let Some(d) = &self.display_name {
            c.required(
                &path.field("displayName"),
                d,
                "the name shown to users, e.g. Production",
            );
        }
    }
}

impl Spec for AccessTokenSpec {
    const INFO: &'static KindInfo = &ACCESS_TOKEN;

    fn check(&self, c: &mut Checker, path: &FieldPath, meta: &ObjectMeta) {
        c.required(
            &path.field("description"),
            &self.description,
            "what the token is for, e.g. the CI pipeline that uses it",
        );
        // The workspace, when the object names it; the server checks the request's
        // workspace with `check_roles_in_workspace` as well.
        let workspace = meta
            .namespace
            .as_deref()
            .and_then(|ns| ns.strip_prefix("ws-"))
            .filter(|w| is_workspace_key(w));
        let allowed = workspace.map_or(PLATFORM_TOKEN_ROLES, token_roles_in);
        let roles = path.field("roles");
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, r) in self.roles.iter().flatten().enumerate() {
            let p = roles.index(i);
            if PLATFORM_TOKEN_ROLES.contains(&r.as_str()) && !allowed.contains(&r.as_str()) {
                c.push(
                    &p,
                    Reason::Forbidden,
                    format!(
                        "{r:?} may only be given to platform tokens (in the {ADMIN_WORKSPACE} workspace); a workspace token may carry {}",
                        WORKSPACE_TOKEN_ROLES.join(", ")
                    ),
                );
            } else {
                c.one_of(&p, r, allowed);
            }
            if seen.contains(&r.as_str()) {
                c.push(
                    &p,
                    Reason::Duplicate,
                    format!("{r:?} is listed twice; list each role once"),
                );
            }
            seen.insert(r);
        }
        match (&self.expires_at, &self.ttl) {
            (Some(_), Some(_)) => c.push(
                &path.field("ttl"),
                Reason::Forbidden,
                "set expiresAt or ttl, not both",
            ),
            (Some(at), None) => {
                if !is_rfc3339(at) {
                    c.push(
                        &path.field("expiresAt"),
                        Reason::Invalid,
                        format!("{at:?} is not an RFC 3339 time: use e.g. 2026-01-31T00:00:00Z"),
                    );
                }
            }
            (None, Some(ttl)) => {
                check_duration(c, &path.field("ttl"), ttl, TOKEN_TTL_RANGE);
            }
            (None, None) => {}
        }
    }
}

/// The roles a token in `workspace` may carry.
pub fn token_roles_in(workspace: &str) -> &'static [&'static str] {
    if workspace == ADMIN_WORKSPACE {
        PLATFORM_TOKEN_ROLES
    } else {
        WORKSPACE_TOKEN_ROLES
    }
}

impl AccessTokenSpec {
    /// The token's lifetime from `ttl`, when that is set and valid.
    pub fn ttl_duration(&self) -> Option<Duration> {
        self.ttl
            .as_deref()
            .and_then(|t| crate::common::parse_duration(t).ok())
    }

    /// Problems with the token's roles for a token in `workspace` (the workspace the request
    /// names, which the object's namespace may not): `admin` only in the `admin` workspace.
    pub fn check_roles_in_workspace(&self, workspace: &str) -> Vec<FieldError> {
        let allowed = token_roles_in(workspace);
        let roles = FieldPath::root().field("spec").field("roles");
        self.roles
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, r)| !allowed.contains(&r.as_str()))
            .map(|(i, r)| FieldError {
                path: roles.index(i),
                reason: Reason::Forbidden,
                message: format!(
                    "{r:?} may not be given to a token in workspace {workspace}: it may carry {}",
                    allowed.join(", ")
                ),
            })
            .collect()
    }
}

/// Whether `s` is an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days_in_month || hour > 23 || min > 59 || sec > 60 {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        for ok in [
            "2026-01-31T00:00:00Z",
            "2024-02-29T23:59:60.123+01:00",
            "2026-12-01t10:00:00-05:30",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-01-31",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T00:00:00",
            "2026-01-31T00:00:00.Z",
            "2026-01-31T00:00:00+1:00",
            "2026-01-31T00:00:00+24:00",
            "२०२६-01-31T00:00:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn token_roles_depend_on_the_workspace() {
        let spec = AccessTokenSpec {
            description: "ci".into(),
            roles: Some(vec!["admin".into(), "member".into()]),
            ..Default::default()
        };
        assert!(spec.check_roles_in_workspace("admin").is_empty());
        let errs = spec.check_roles_in_workspace("pay");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "spec.roles[0]: \"admin\" may not be given to a token in workspace pay: it may carry owner, member"
        );
    }
}
