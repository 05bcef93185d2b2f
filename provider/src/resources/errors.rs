//! Failed API calls as diagnostics: what failed, on which object, and what to do.

use wayfinder_model::FieldPath;

use crate::client::{ApiError, Cause, ClientError};
use crate::diag::{AttrPath, Diagnostic, attr, error, error_at, render_path};

/// What a failed call was about, for [`diagnostics`].
#[derive(Debug, Clone)]
pub(crate) struct Subject<'a> {
    /// `Cluster pay/payments-dev`, `ClusterPlan eks-general-purpose version 1.3.0`.
    pub object: String,
    /// The Terraform resource type, for the import hint (`wayfinder_cluster`).
    pub type_name: &'a str,
    /// The import ID of the object (`pay/payments-dev`).
    pub import_id: String,
    /// What was being done: `create`, `update`, `delete`, `read`, `preview`, ...
    pub action: &'a str,
}

/// The attribute a Wayfinder field path (`spec.nodePools[0].machine`) points at.
pub(crate) type PathOf<'a> = &'a dyn Fn(&FieldPath) -> Option<AttrPath>;

/// The diagnostics for a failed API call: precise about what failed, where and what to do.
/// Each `422` cause becomes its own diagnostic on the attribute `path_of` maps its field to.
pub(crate) fn diagnostics(
    e: &ClientError,
    s: &Subject<'_>,
    path_of: PathOf<'_>,
) -> Vec<Diagnostic> {
    let ClientError::Api(api) = e else {
        let summary = match e {
            ClientError::Unreachable { .. } => "Cannot reach the Wayfinder API",
            ClientError::TimedOut { .. } => "The Wayfinder API did not answer in time",
            ClientError::Config(_) => "Invalid provider configuration",
            ClientError::Stopped { .. } => "Operation cancelled",
            ClientError::Exchange { .. } => "Wayfinder did not exchange the access token",
            _ => "Unexpected response from the Wayfinder API",
        };
        return vec![error(
            summary,
            format!("While trying to {} {}: {e}", s.action, s.object),
        )];
    };
    let ApiError {
        status,
        reason,
        message,
        causes,
        object_modified,
        about,
    } = api;
    match (*status, reason.as_str()) {
        (422 | 400, _) if !causes.is_empty() => causes
            .iter()
            .map(|c| cause_diagnostic(c, s, path_of))
            .collect(),
        (401, _) => vec![error_at(
            Some(attr("token")),
            "Wayfinder did not accept the token",
            format!(
                "The server answered 401 to {} {}: {message}\n\nCheck the provider's `token` (or WAYFINDER_TOKEN): it must be a current Wayfinder access token — not expired, not revoked, and for this server.",
                s.action, s.object
            ),
        )],
        (403, _) => {
            let needs = missing_role(message);
            let summary = match &needs {
                Some(n) => format!("Permission denied: to {} {} needs {n}", s.action, s.object),
                None => format!("Permission denied: cannot {} {}", s.action, s.object),
            };
            vec![error(
                summary,
                format!(
                    "The server answered 403: {message}\n\nUse a token that holds that role (the provider's `token` or WAYFINDER_TOKEN), or ask a Wayfinder administrator to grant it."
                ),
            )]
        }
        (404, _) => vec![error(
            match missing_other(about.as_deref(), s) {
                Some(missing) => format!("{missing} does not exist"),
                None => format!("{} does not exist", s.object),
            },
            format!(
                "The server answered 404 to {} {}: {message}",
                s.action, s.object
            ),
        )],
        (409, _) if *object_modified => vec![error(
            format!("{} was changed outside Terraform", s.object),
            format!(
                "{message}\n\nSomeone changed it since Terraform last read it, so this {} was refused rather than overwrite their change. Run `terraform plan` again to see the current differences, then apply.",
                s.action
            ),
        )],
        (409, "AlreadyExists") => vec![error(
            format!("{} already exists", s.object),
            format!(
                "{message}\n\nTo manage the existing object with Terraform, import it: `terraform import {}.<name> {}`, or an `import` block with id = \"{}\".",
                s.type_name, s.import_id, s.import_id
            ),
        )],
        (409, _) => vec![error(
            format!("Cannot {} {} now", s.action, s.object),
            format!("The server answered 409 Conflict: {message}"),
        )],
        (429, _) => vec![error(
            format!(
                "Wayfinder is limiting this token's requests: could not {} {}",
                s.action, s.object
            ),
            format!(
                "The server answered 429 Too Many Requests, also after waiting as it asked (Retry-After) and retrying: {message}\n\nRun Terraform again later or with a lower -parallelism, or ask the operator of the Wayfinder server to raise its --rate-limit."
            ),
        )],
        (s5 @ 500..=599, _) => vec![error(
            format!("The Wayfinder API failed to {} {}", s.action, s.object),
            format!(
                "The server answered {s5} {reason}: {message}\n\nThis is a problem on the server (transient failures were already retried); its log has the details. Try again later."
            ),
        )],
        _ => vec![error(
            format!(
                "Wayfinder refused to {} {} ({status} {reason})",
                s.action, s.object
            ),
            message.clone(),
        )],
    }
}

/// The reason of a `422` cause whose field names an object that does not exist (yet).
pub(crate) const NOT_FOUND_CAUSE: &str = "FieldValueNotFound";

/// `Kind name` of the object a `404` says does not exist, when that is not the subject
/// itself (the workspace of a workspaced path): the summary names what is missing.
fn missing_other(about: Option<&(String, String)>, s: &Subject<'_>) -> Option<String> {
    let (kind, name) = about?;
    let subject_kind = s.object.split(' ').next().unwrap_or_default();
    (kind != subject_kind).then(|| format!("{kind} {name}"))
}

/// Whether a failed call failed only because something the object refers to does not
/// exist (yet), per diagnostic of [`diagnostics`] (in the same order): a `404` about
/// another object (the workspace), or a `422` cause [`NOT_FOUND_CAUSE`]. A preview turns
/// those into warnings, as the same apply may create what is missing.
pub(crate) fn missing_references(e: &ClientError, s: &Subject<'_>) -> Vec<bool> {
    let ClientError::Api(api) = e else {
        return vec![false];
    };
    match api.status {
        422 | 400 if !api.causes.is_empty() => api
            .causes
            .iter()
            .map(|c| c.reason == NOT_FOUND_CAUSE)
            .collect(),
        404 => vec![missing_other(api.about.as_deref(), s).is_some()],
        _ => vec![false],
    }
}

/// The first clause of a cause's message, as a summary: `cluster plan "eks" does not
/// exist; cluster plans: …` → `Cluster plan "eks" does not exist`.
fn first_clause(message: &str) -> String {
    let first = message.split(';').next().unwrap_or(message).trim();
    let mut chars = first.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One `422` cause as a diagnostic on its attribute.
fn cause_diagnostic(c: &Cause, s: &Subject<'_>, path_of: PathOf<'_>) -> Diagnostic {
    let field = FieldPath::parse(&c.field);
    let path = field.as_ref().and_then(path_of);
    let shown = path
        .as_ref()
        .map(render_path)
        .unwrap_or_else(|| c.field.clone());
    let at = if shown.is_empty() {
        String::new()
    } else {
        format!(" {shown}")
    };
    if c.reason == "PolicyViolation" {
        let mut detail = format!(
            "{} is refused by Wayfinder's provisioning policy at {}: {}",
            s.object, c.field, c.message
        );
        if let Some(p) = &c.policy {
            detail.push_str(&format!("\n\nPolicy: {p}"));
            if let Some(scope) = &c.scope {
                detail.push_str(&format!(" ({scope})"));
            }
        }
        if let Some(l) = &c.limit {
            detail.push_str(&format!("\nLimit: {l}"));
        }
        if let Some(v) = &c.value {
            detail.push_str(&format!("\nThis configuration: {v}"));
        }
        detail.push_str(
            "\n\nChange the configuration to fit the limit, or ask a Wayfinder administrator to change the policy.",
        );
        return error_at(
            path,
            format!("Policy violation at{at}: {}", c.message),
            detail,
        );
    }
    if c.reason == NOT_FOUND_CAUSE {
        // The summary names what is missing, not the object being written.
        return error_at(
            path,
            first_clause(&c.message),
            format!(
                "{} refers to it at {}: {}",
                s.object,
                if c.field.is_empty() {
                    "the object"
                } else {
                    &c.field
                },
                c.message
            ),
        );
    }
    let summary = if at.is_empty() {
        format!("{} is refused: {}", s.object, c.message)
    } else {
        format!("Invalid{at}: {}", c.message)
    };
    error_at(
        path,
        summary,
        format!(
            "Wayfinder refused {} at {}: {} ({})",
            s.object,
            if c.field.is_empty() {
                "the object"
            } else {
                &c.field
            },
            c.message,
            c.reason
        ),
    )
}

/// The role a `403` message says is needed: the server writes `…: that needs ROLES, and this
/// token has …` (or `…: that needs ROLES` at the end).
fn missing_role(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("that needs ")?;
    let needs = rest.split(", and this token has").next()?.trim();
    (!needs.is_empty()).then(|| needs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject<'static> {
        Subject {
            object: "ClusterPlan eks".into(),
            type_name: "wayfinder_cluster_plan",
            import_id: "eks@1.0.0".into(),
            action: "create",
        }
    }

    fn api(status: u16, reason: &str, message: &str) -> ClientError {
        ClientError::Api(ApiError {
            status,
            reason: reason.into(),
            message: message.into(),
            causes: vec![],
            object_modified: false,
            about: None,
        })
    }

    #[test]
    fn a_403_names_the_missing_role() {
        let e = api(
            403,
            "Forbidden",
            "accesstoken:pay/member may not create ClusterPlan objects: that needs the role \"admin\", and this token has roles \"member\" of workspace pay",
        );
        let d = diagnostics(&e, &subject(), &|_| None);
        assert_eq!(
            d[0].summary,
            "Permission denied: to create ClusterPlan eks needs the role \"admin\""
        );
        assert!(
            d[0].detail.contains("this token has roles \"member\""),
            "{}",
            d[0].detail
        );
    }

    #[test]
    fn a_429_after_the_retries_says_what_to_do() {
        let e = api(429, "TooManyRequests", "too many requests with this token");
        let d = diagnostics(&e, &subject(), &|_| None);
        assert!(d[0].summary.contains("limiting this token's requests"));
        assert!(d[0].detail.contains("-parallelism") && d[0].detail.contains("--rate-limit"));
    }

    #[test]
    fn a_stale_409_says_to_plan_again() {
        let mut e = api(409, "Conflict", "the object has been modified");
        if let ClientError::Api(a) = &mut e {
            a.object_modified = true;
        }
        let d = diagnostics(&e, &subject(), &|_| None);
        assert!(d[0].summary.contains("changed outside Terraform"));
        assert!(d[0].detail.contains("Run `terraform plan` again"));
    }

    #[test]
    fn policy_causes_carry_policy_limit_and_value_on_their_attribute() {
        let e = ClientError::Api(ApiError {
            status: 422,
            reason: "Invalid".into(),
            message: "refused".into(),
            causes: vec![Cause {
                field: "spec.nodePools[0].machine".into(),
                reason: "PolicyViolation".into(),
                message: "m6i.4xlarge is not an allowed instance type".into(),
                policy: Some("nonprod-aws".into()),
                scope: Some("stage \"nonprod\"".into()),
                limit: Some("allowedInstanceTypes: m6i.large".into()),
                value: Some("m6i.4xlarge".into()),
                ..Cause::default()
            }],
            object_modified: false,
            about: None,
        });
        let d = diagnostics(&e, &subject(), &|_| Some(attr("node_pools")));
        assert_eq!(d.len(), 1);
        assert!(d[0].path.is_some());
        assert!(
            d[0].summary.starts_with("Policy violation at node_pools:"),
            "{}",
            d[0].summary
        );
        for needle in [
            "Policy: nonprod-aws (stage \"nonprod\")",
            "Limit: allowedInstanceTypes",
            "This configuration: m6i.4xlarge",
        ] {
            assert!(d[0].detail.contains(needle), "{needle}: {}", d[0].detail);
        }
    }

    #[test]
    fn a_404_about_another_object_names_that_object_not_the_subject() {
        let mut e = api(
            404,
            "NotFound",
            "workspace dat does not exist; workspaces: admin",
        );
        if let ClientError::Api(a) = &mut e {
            a.about = Some(Box::new(("Workspace".into(), "dat".into())));
        }
        let s = Subject {
            object: "Cluster dat/etl-qa".into(),
            ..subject()
        };
        let d = diagnostics(&e, &s, &|_| None);
        assert_eq!(d[0].summary, "Workspace dat does not exist");
        assert_eq!(missing_references(&e, &s), [true]);
        // About the subject itself: not a missing reference.
        if let ClientError::Api(a) = &mut e {
            a.about = Some(Box::new(("Cluster".into(), "etl-qa".into())));
        }
        assert_eq!(
            diagnostics(&e, &s, &|_| None)[0].summary,
            "Cluster dat/etl-qa does not exist"
        );
        assert_eq!(missing_references(&e, &s), [false]);
    }

    #[test]
    fn a_missing_reference_cause_is_summarised_by_what_is_missing() {
        let e = ClientError::Api(ApiError {
            status: 422,
            reason: "Invalid".into(),
            message: "refused".into(),
            causes: vec![
                Cause {
                    field: "spec.plan.name".into(),
                    reason: NOT_FOUND_CAUSE.into(),
                    message: "cluster plan \"eks\" does not exist; cluster plans: none".into(),
                    ..Cause::default()
                },
                Cause {
                    field: "spec.region".into(),
                    reason: "FieldValueInvalid".into(),
                    message: "not a region".into(),
                    ..Cause::default()
                },
            ],
            object_modified: false,
            about: None,
        });
        let s = Subject {
            object: "Cluster dat/etl-qa".into(),
            ..subject()
        };
        let d = diagnostics(&e, &s, &|_| Some(attr("plan")));
        assert_eq!(d[0].summary, "Cluster plan \"eks\" does not exist");
        assert!(
            d[0].detail
                .starts_with("Cluster dat/etl-qa refers to it at spec.plan.name")
        );
        assert_eq!(missing_references(&e, &s), [true, false]);
    }

    #[test]
    fn a_timeout_says_the_api_did_not_answer_in_time() {
        let e = ClientError::TimedOut {
            url: "http://127.0.0.1:1/x".into(),
            method: "GET".into(),
            after: std::time::Duration::from_millis(400),
        };
        let d = diagnostics(&e, &subject(), &|_| None);
        assert_eq!(d[0].summary, "The Wayfinder API did not answer in time");
    }
}
