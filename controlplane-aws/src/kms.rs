//! AWS KMS, a JSON-protocol service (`POST /` with `X-Amz-Target: TrentService.<Operation>`
//! and a JSON body), signed with `aws-sigv4` like the Query calls ([`crate::query`]): the
//! handful of calls the driver makes for the key that encrypts a cluster's Kubernetes
//! secrets. (`aws-sdk-kms` would be one more SDK crate to build for five calls.)

use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value;

use crate::AwsError;
use crate::query::{Signing, post_signed, with_retries};

/// A signed KMS client for one region, with the credentials it acts with.
#[derive(Debug, Clone)]
pub struct KmsClient {
    http: reqwest::Client,
    region: String,
    /// `https://kms.<region>.amazonaws.com/`, or an emulator's URL.
    url: String,
    credentials: SharedCredentialsProvider,
}

impl KmsClient {
    pub fn new(
        http: reqwest::Client,
        region: String,
        url: String,
        credentials: SharedCredentialsProvider,
    ) -> Self {
        Self {
            http,
            region,
            url,
            credentials,
        }
    }

    /// Calls `operation` (e.g. `CreateKey`) with `input`; the answer's JSON, or the service's
    /// error (its `__type` without the namespace, and its message). Throttling and 5xx
    /// answers are tried again with back-off.
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, AwsError> {
        with_retries("kms", operation, || self.call_once(operation, input)).await
    }

    async fn call_once(&self, operation: &str, input: &Value) -> Result<Value, AwsError> {
        let target = format!("TrentService.{operation}");
        let (status, text) = post_signed(
            &self.http,
            &self.credentials,
            Signing {
                service: "kms",
                region: &self.region,
                url: &self.url,
                what: operation,
            },
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &target),
            ],
            input.to_string(),
        )
        .await?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return body.ok_or_else(|| AwsError {
                code: "MalformedAnswer".into(),
                message: format!("kms {operation} answered {status} with a body that is not JSON"),
                status,
            });
        }
        let field = |name: &str| {
            body.as_ref()
                .and_then(|b| b.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let code = field("__type")
            .map(|t| t.rsplit('#').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| {
                if status >= 500 {
                    "ServiceUnavailable".into()
                } else {
                    "UnknownError".into()
                }
            });
        let message = field("message")
            .or_else(|| field("Message"))
            .unwrap_or_else(|| format!("kms {operation} answered {status}"));
        Err(AwsError {
            code,
            message,
            status,
        })
    }
}
