//! Pieces several kinds share: Wayfinder's `scope` struct, clouds and providers, versions.

use serde::{Deserialize, Serialize};

use crate::error::{FieldPath, Reason};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// The clouds a cloud access, network plan or provisioning policy targets.
pub const CLOUDS: &[&str] = &["aws", "azure", "gcp"];

/// The cloud a cluster provider runs on: `EKS` → `aws`, `AKS` → `azure`, `GKE` → `gcp`.
pub fn cloud_for_provider(provider: &str) -> Option<&'static str> {
    match provider {
        "EKS" => Some("aws"),
        "AKS" => Some("azure"),
        "GKE" => Some("gcp"),
        _ => None,
    }
}

/// Which workspaces and stages an object applies to (Wayfinder's `scope`). Absent means
/// everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_workspaces: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_workspaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_stages: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_stages: Option<Vec<String>>,
}

pub const SCOPE_SHAPE: &[Field] = &[
    Field::optional(
        "allWorkspaces",
        FieldType::Bool,
        "Applies to every workspace.",
    ),
    Field::optional(
        "allowedWorkspaces",
        FieldType::StringList,
        "The workspaces it applies to, when not all.",
    ),
    Field::optional("allStages", FieldType::Bool, "Applies to every stage."),
    Field::optional(
        "allowedStages",
        FieldType::StringList,
        "The stages it applies to, when not all.",
    ),
];

impl ScopeSpec {
    /// Whether this scope covers every workspace (no list, or `allWorkspaces`).
    pub fn covers_all_workspaces(&self) -> bool {
        self.all_workspaces.unwrap_or(false)
            || self.allowed_workspaces.as_ref().is_none_or(Vec::is_empty)
    }

    /// Whether this scope covers every stage (no list, or `allStages`).
    pub fn covers_all_stages(&self) -> bool {
        self.all_stages.unwrap_or(false) || self.allowed_stages.as_ref().is_none_or(Vec::is_empty)
    }

    pub fn includes_workspace(&self, workspace: &str) -> bool {
        self.covers_all_workspaces()
            || self
                .allowed_workspaces
                .iter()
                .flatten()
                .any(|w| w == workspace)
    }

    pub fn includes_stage(&self, stage: &str) -> bool {
        self.covers_all_stages() || self.allowed_stages.iter().flatten().any(|s| s == stage)
    }

    pub(crate) fn check(&self, c: &mut Checker, path: &FieldPath) {
        if self.all_workspaces == Some(true)
            && self
                .allowed_workspaces
                .as_ref()
                .is_some_and(|w| !w.is_empty())
        {
            c.push(
                &path.field("allowedWorkspaces"),
                Reason::Forbidden,
                "must be empty when allWorkspaces is true; set one or the other",
            );
        }
        if self.all_stages == Some(true)
            && self.allowed_stages.as_ref().is_some_and(|s| !s.is_empty())
        {
            c.push(
                &path.field("allowedStages"),
                Reason::Forbidden,
                "must be empty when allStages is true; set one or the other",
            );
        }
        for (i, w) in self.allowed_workspaces.iter().flatten().enumerate() {
            c.workspace_key(&path.field("allowedWorkspaces").index(i), w);
        }
        for (i, s) in self.allowed_stages.iter().flatten().enumerate() {
            c.dns_label(&path.field("allowedStages").index(i), s);
        }
    }
}

/// Whether `v` is a version as Wayfinder's pattern allows:
/// `^(v|)([0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9-.]+|)|)$`, non-empty (`1.3.0`, `v1.15.3-2`).
pub fn is_version(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (core, suffix) = match v.split_once('-') {
        Some((core, suffix)) => (core, Some(suffix)),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && suffix.is_none_or(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_wayfinders_pattern() {
        for ok in ["1.3.0", "v1.3.0", "1.15.3-2", "0.0.1-rc.1", "10.20.30"] {
            assert!(is_version(ok), "{ok}");
        }
        for bad in [
            "",
            "1.3",
            "1.3.0.1",
            "1.3.x",
            "1.3.0-",
            "1.3.0-RC1",
            "v",
            "1..0",
        ] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        let s = ScopeSpec {
            allowed_workspaces: Some(vec!["team1".into()]),
            ..Default::default()
        };
        assert!(s.includes_workspace("team1") && !s.includes_workspace("team2"));
        assert!(s.includes_stage("prod"), "no stage list means all stages");
    }
}
