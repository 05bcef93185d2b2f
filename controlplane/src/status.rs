//! Kubernetes-style `Status` error bodies.
//!
//! Every error the API answers is an [`ApiError`]: an HTTP status code, a reason
//! (`BadRequest`, `Unauthorized`, `Forbidden`, `NotFound`, `MethodNotAllowed`,
//! `AlreadyExists`, `Conflict`, `Invalid`, `RequestEntityTooLarge`, `InternalError`), a
//! message a person can act on, and optional details (the object and one cause per field;
//! at most [`MAX_CAUSES`], then one `TooManyProblems` cause counting the rest).
//! It always renders as JSON with `content-type: application/json`:
//!
//! ```json
//! {"apiVersion":"v1","kind":"Status","status":"Failure","code":422,"reason":"Invalid",
//!  "message":"ComputeTemplate/x is invalid (1 problem): spec.provider: ...",
//!  "details":{"group":"compute.appvia.io","kind":"ComputeTemplate","name":"x",
//!             "causes":[{"field":"spec.provider","reason":"FieldValueNotSupported","message":"..."}]}}
//! ```

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wayfinder_model::{KindInfo, ParseError, ValidationErrors};

/// The response header that marks a `409` as an optimistic-concurrency conflict (a stale
/// `metadata.resourceVersion`), as Wayfinder's API does.
pub const OBJECT_MODIFIED_HEADER: &str = "x-wayfinder-objectmodified";

/// One field-level cause of an error (`details.causes[]`). A provisioning-policy violation
/// (reason `PolicyViolation`) also names the policy, its scope, the limit and the value
/// that broke it:
///
/// ```json
/// {"field":"spec.nodePools[0].autoscaling.maxSize","reason":"PolicyViolation",
///  "message":"...","rule":"clusterCost","policy":"nonprod-aws",
///  "scope":"stage \"nonprod\", all workspaces","limit":"perCluster.costPerMonth: 100 USD",
///  "value":"612.34 USD"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// The field path (`spec.nodePools[1].autoscaling.maxSize`); omitted when the cause is
    /// about the whole document.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
    /// A Kubernetes `CauseType`, e.g. `FieldValueInvalid`.
    pub reason: String,
    pub message: String,
    /// The policy rule broken (`clusterCost`, `region`, …); policy violations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The provisioning policy (or policies of one tier) that set the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The policy's scope as it applies here, e.g. `workspace "pay", all stages`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The limit, e.g. `perCluster.costPerMonth: 500 USD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The value that broke it, e.g. `612.34 USD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Cause {
    /// A cause without policy details.
    pub fn field(
        field: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            message: message.into(),
            ..Self::default()
        }
    }

    /// A cause from a model field error.
    pub fn from_field_error(e: &wayfinder_model::FieldError) -> Self {
        Self::field(e.path.to_string(), e.reason.as_str(), e.message.clone())
    }

    /// A cause from a provisioning-policy violation, with its policy, scope, limit and value.
    pub fn from_violation(v: &wayfinder_model::Violation) -> Self {
        let rule = serde_json::to_value(v.rule)
            .ok()
            .and_then(|r| r.as_str().map(str::to_string));
        Self {
            field: v.path.to_string(),
            reason: "PolicyViolation".to_string(),
            // The model's message already states the limit, the value and the policy.
            message: v.message.clone(),
            rule,
            policy: Some(v.policy.clone()),
            scope: Some(v.scope.clone()),
            limit: Some(v.limit.clone()),
            value: Some(v.value.clone()),
        }
    }
}

/// Most causes an error lists; a refusal with more lists these first ones and says how
/// many more there are, so that its body stays small enough to arrive whole.
pub const MAX_CAUSES: usize = 100;

/// `"; and N more problems"` when `n` is over [`MAX_CAUSES`].
fn more(n: usize) -> String {
    if n > MAX_CAUSES {
        format!("; and {} more problems", n - MAX_CAUSES)
    } else {
        String::new()
    }
}

/// A last cause (reason `TooManyProblems`) saying how many were left out.
fn push_more(causes: &mut Vec<Cause>, n: usize) {
    if n > MAX_CAUSES {
        causes.push(Cause::field(
            "",
            "TooManyProblems",
            format!(
                "{} more problems are not listed (only the first {MAX_CAUSES} are); fix these and try again",
                n - MAX_CAUSES
            ),
        ));
    }
}

/// `details` of a Status: which object, and every field-level cause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Details {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
}

impl Details {
    /// Details naming one object of a kind.
    pub fn object(kind: &KindInfo, name: &str) -> Self {
        Self {
            group: kind.group.to_string(),
            kind: kind.kind.to_string(),
            name: name.to_string(),
            causes: Vec::new(),
        }
    }
}

/// The JSON body of an error response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    api_version: &'static str,
    kind: &'static str,
    status: &'static str,
    code: u16,
    reason: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
}

/// An error answer of the API; see the module documentation.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Box<Details>>,
    /// Extra response headers (`x-wayfinder-objectmodified`, `www-authenticate`, `allow`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Details) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
            .with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// `405`, with the `Allow` header listing the methods the path accepts.
    pub fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} is not allowed on {path}; allowed: {allow}"),
        )
        .with_header(header::ALLOW, allow)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!(
                "the request body is larger than the limit of {} MiB",
                limit / (1024 * 1024)
            ),
        )
    }

    /// `500`: `detail` goes to the server log only; the client gets a short message.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error while serving a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "internal error; the server log has the details",
        )
    }

    /// `400` for a body the model could not read: malformed JSON, an unknown field, a wrong
    /// type or an unsupported kind. The cause carries the field path.
    pub fn from_parse(kind: &KindInfo, e: &ParseError) -> Self {
        let reason = if e.message.starts_with("unknown field") {
            // The model documents `Forbidden` as "the field is not allowed here".
            "FieldValueForbidden"
        } else if e.message.starts_with("invalid type") || e.message.starts_with("invalid value") {
            "FieldValueTypeInvalid"
        } else if e.message.starts_with("missing field") {
            "FieldValueRequired"
        } else if e.message.contains("is not a supported kind") {
            "FieldValueNotSupported"
        } else {
            "FieldValueInvalid"
        };
        let name = e
            .object
            .as_deref()
            .and_then(|o| o.split_once('/'))
            .map(|(_, n)| n)
            .unwrap_or_default();
        let mut details = Details::object(kind, name);
        details
            .causes
            .push(Cause::field(e.path.to_string(), reason, e.message.clone()));
        Self::bad_request(e.to_string()).with_details(details)
    }

    /// `422` listing every validation problem, each with its field path (the first
    /// [`MAX_CAUSES`] of them, and how many more there are).
    pub fn from_validation(kind: &KindInfo, name: &str, errors: &ValidationErrors) -> Self {
        let n = errors.errors.len();
        let summary = errors
            .errors
            .iter()
            .take(MAX_CAUSES)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let message = format!(
            "{} is invalid ({n} problem{}): {summary}{}",
            errors.object,
            if n == 1 { "" } else { "s" },
            more(n)
        );
        let mut details = Details::object(kind, name);
        details.causes = errors
            .errors
            .iter()
            .take(MAX_CAUSES)
            .map(Cause::from_field_error)
            .collect();
        push_more(&mut details.causes, n);
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message).with_details(details)
    }

    /// `422` refusing `Kind/name` for every cause (validation, references, cost, policy);
    /// the message lists each as `field: message`, so it stands on its own.
    pub fn refused(kind: &KindInfo, name: &str, mut causes: Vec<Cause>) -> Self {
        let n = causes.len();
        causes.truncate(MAX_CAUSES);
        let summary = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let message = format!(
            "{}/{name} is refused ({n} problem{}): {summary}{}",
            kind.kind,
            if n == 1 { "" } else { "s" },
            more(n)
        );
        let mut details = Details::object(kind, name);
        details.causes = causes;
        push_more(&mut details.causes, n);
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message).with_details(details)
    }

    /// `409` for a delete or change that other objects block (no
    /// `x-wayfinder-objectmodified` header: retrying will not help).
    pub fn blocked(kind: &KindInfo, name: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", message)
            .with_details(Details::object(kind, name))
    }

    /// The JSON body this error renders as.
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(self.status_body()).unwrap_or_default()
    }

    fn status_body(&self) -> StatusBody<'_> {
        StatusBody {
            api_version: "v1",
            kind: "Status",
            status: "Failure",
            code: self.code.as_u16(),
            reason: self.reason,
            message: &self.message,
            details: self.details.as_deref(),
        }
    }
}

/// A store failure: what the client can act on is answered as such (a conflict to retry,
/// an expired version to list again from, a bad continue token, a store out of reach, a
/// write too large); anything else is an internal error, logged in full and answered with
/// a short message.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        match &e {
            E::Conflict { .. } => Self::new(StatusCode::CONFLICT, "Conflict", e.to_string())
                .with_header(HeaderName::from_static(OBJECT_MODIFIED_HEADER), "true"),
            E::Compacted { .. } => Self::new(StatusCode::GONE, "Expired", e.to_string()),
            E::InvalidContinue { .. } => Self::bad_request(format!("continue: {e}")),
            E::Unavailable { .. } => {
                tracing::warn!(error = %crate::ErrorChain(&e), "the store is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    e.to_string(),
                )
            }
            E::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                e.to_string(),
            ),
            _ => Self::internal(&crate::ErrorChain(&e)),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.code.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.status_body()).unwrap_or_else(|_| {
            br#"{"apiVersion":"v1","kind":"Status","status":"Failure","code":500,"reason":"InternalError","message":"internal error"}"#.to_vec()
        });
        let mut response = (self.code, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayfinder_model::kinds::COMPUTE_TEMPLATE;

    #[test]
    fn a_write_over_the_stores_limits_is_a_413_naming_the_limit_never_a_500() {
        let e = ApiError::from(crate::store::StoreError::TooLarge {
            what: "a txn of about 1843400 bytes".into(),
            limit: "1568768 bytes in one request, etcd's --max-request-bytes".into(),
        });
        let v = e.body();
        assert_eq!(v["code"], 413);
        assert_eq!(v["reason"], "RequestEntityTooLarge");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains("1843400 bytes") && message.contains("--max-request-bytes"),
            "{message}"
        );
    }

    #[test]
    fn validation_errors_become_causes_with_paths() {
        let body = br#"{"apiVersion":"compute.appvia.io/v2beta2","kind":"ComputeTemplate","metadata":{"name":"x"},"spec":{"provider":"EKX","nodePools":[]}}"#;
        let obj = wayfinder_model::parse_json("request body", body).unwrap();
        let errs = obj.validate().unwrap_err();
        let e = ApiError::from_validation(&COMPUTE_TEMPLATE, "x", &errs);
        let v = e.body();
        assert_eq!(v["code"], 422);
        assert_eq!(v["reason"], "Invalid");
        assert_eq!(v["details"]["kind"], "ComputeTemplate");
        assert_eq!(v["details"]["causes"][0]["field"], "spec.provider");
        assert_eq!(
            v["details"]["causes"][0]["reason"],
            "FieldValueNotSupported"
        );
        assert_eq!(v["details"]["causes"][1]["field"], "spec.nodePools");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("ComputeTemplate/x is invalid (2 problems): spec.provider:"),
            "{v}"
        );
    }

    #[test]
    fn parse_errors_name_the_field() {
        let body = br#"{"apiVersion":"compute.appvia.io/v2beta2","kind":"ComputeTemplate","metadata":{"name":"x"},"spec":{"provider":"EKS","nodePool":[]}}"#;
        let err = wayfinder_model::parse_json("request body", body).unwrap_err();
        let v = ApiError::from_parse(&COMPUTE_TEMPLATE, &err).body();
        assert_eq!(v["code"], 400);
        assert_eq!(v["reason"], "BadRequest");
        assert_eq!(v["details"]["name"], "x");
        assert_eq!(v["details"]["causes"][0]["field"], "spec.nodePool");
        assert_eq!(v["details"]["causes"][0]["reason"], "FieldValueForbidden");
    }

    #[test]
    fn syntax_errors_have_no_field() {
        let err = wayfinder_model::parse_json("request body", b"{").unwrap_err();
        let v = ApiError::from_parse(&COMPUTE_TEMPLATE, &err).body();
        assert!(v["details"]["causes"][0].get("field").is_none(), "{v}");
        assert_eq!(v["details"]["causes"][0]["reason"], "FieldValueInvalid");
    }

    #[test]
    fn a_refusal_with_very_many_causes_lists_the_first_and_counts_the_rest() {
        let causes: Vec<Cause> = (0..10_000)
            .map(|i| {
                Cause::field(
                    format!("spec.nodePools[{i}].machine"),
                    "FieldValueInvalid",
                    "x".repeat(200),
                )
            })
            .collect();
        let response = ApiError::refused(&COMPUTE_TEMPLATE, "x", causes).body();
        let causes = response["details"]["causes"].as_array().unwrap();
        assert_eq!(causes.len(), MAX_CAUSES + 1);
        assert_eq!(causes[MAX_CAUSES]["reason"], "TooManyProblems");
        let message = response["message"].as_str().unwrap();
        assert!(message.starts_with("ComputeTemplate/x is refused (10000 problems)"));
        assert!(message.ends_with("; and 9900 more problems"), "{message}");
        assert!(serde_json::to_vec(&response).unwrap().len() < 64 * 1024);
    }
}
