//! Pieces several kinds share: Wayfinder's `scope` struct, clouds and providers, versions.

use serde::{Deserialize, Serialize};

use crate::error::{FieldPath, Reason};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

// The name and version predicates live with the checker that uses them (so `validate` does not
// depend on this module); they are re-exported here beside the model's other value rules.
pub use crate::validate::{is_dns_subdomain, is_version};

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
    /// `allWorkspaces`: applies to every workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_workspaces: Option<bool>,
    /// `allowedWorkspaces`: the workspaces it applies to, when not all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_workspaces: Option<Vec<String>>,
    /// `allStages`: applies to every stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_stages: Option<bool>,
    /// `allowedStages`: the stages it applies to, when not all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_stages: Option<Vec<String>>,
}

/// The fields of a `scope`.
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

    /// Whether the scope includes the workspace (named without the `ws-` prefix).
    pub fn includes_workspace(&self, workspace: &str) -> bool {
        self.covers_all_workspaces()
            || self
                .allowed_workspaces
                .iter()
                .flatten()
                .any(|w| w == workspace)
    }

    /// Whether the scope includes the stage.
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

/// Parses a duration as Go's `time.ParseDuration` writes and reads it, the form Wayfinder
/// uses for TTLs and timeouts: a sequence of decimal numbers, each with an optional fraction
/// and a unit — `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h` — e.g. `8h0m0s`, `8h00m0s`, `90s`,
/// `1.5h`. `0` alone is zero. Negative durations are refused.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err("it must not be negative".to_string());
    }
    if rest == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("it is empty".to_string());
    }
    let too_long = || "it is too long".to_string();
    let mut total: u128 = 0;
    let mut chars = rest.char_indices().peekable();
    while let Some(&(start, _)) = chars.peek() {
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !(c.is_ascii_digit() || c == '.') {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let number = &rest[start..end];
        let mut unit_end = end;
        while let Some(&(i, c)) = chars.peek() {
            if c.is_ascii_digit() || c == '.' {
                break;
            }
            unit_end = i + c.len_utf8();
            chars.next();
        }
        let unit = &rest[end..unit_end];
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(if number.is_empty() {
                format!("{unit:?} has no number before it")
            } else {
                format!("{number:?} is not a number")
            });
        }
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("{number:?} has no unit (h, m, s, ms, us or ns)")),
            other => return Err(format!("unknown unit {other:?}: use h, m, s, ms, us or ns")),
        };
        let int_value: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_long())?
        };
        let mut value = int_value.checked_mul(nanos_per_unit).ok_or_else(too_long)?;
        // The fraction, to nanosecond precision.
        let mut scale = nanos_per_unit;
        for d in frac.bytes() {
            scale /= 10;
            value += u128::from(d - b'0') * scale;
        }
        total = total
            .checked_add(value)
            .filter(|t| *t <= u128::from(u64::MAX))
            .ok_or_else(too_long)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_long())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| too_long())?;
    Ok(std::time::Duration::new(secs, nanos))
}

/// Formats a duration as Go prints it: `8h0m0s`, `1m30s`, `45s`, `0s`, `1.5s`.
pub fn format_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    if h > 0 {
        format!("{h}h{m}m{s}{frac}s")
    } else if m > 0 {
        format!("{m}m{s}{frac}s")
    } else {
        format!("{s}{frac}s")
    }
}

/// A cloud region name: lower-case letters, digits and `-` (`eu-west-2`, `westeurope`,
/// `europe-west2`), starting with a letter, at most 63 characters.
pub fn is_region(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks a Go-style duration within `[min, max]`, pushing a problem when it is not one;
/// returns the parsed duration when it is acceptable.
pub(crate) fn check_duration(
    c: &mut Checker,
    path: &FieldPath,
    value: &str,
    (min, max): (std::time::Duration, std::time::Duration),
) -> Option<std::time::Duration> {
    let range = format!(
        "between {} and {}",
        format_duration(min),
        format_duration(max)
    );
    match parse_duration(value) {
        Err(e) => {
            c.push(
                path,
                Reason::Invalid,
                format!("{value:?} is not a duration: {e}; use e.g. 8h0m0s, {range}"),
            );
            None
        }
        Ok(d) if d < min || d > max => {
            c.push(
                path,
                Reason::Invalid,
                format!("must be {range} (got {value})"),
            );
            None
        }
        Ok(d) => Some(d),
    }
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
