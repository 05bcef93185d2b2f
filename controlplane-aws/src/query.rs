//! AWS's Query protocol (EC2, IAM), hand-signed with `aws-sigv4` over the project's HTTP
//! client: a form-encoded `POST` of `Action=…&Version=…&…`, an XML answer. The SDK crate for
//! EC2 is 1.2 million lines (it did not finish building in 12 minutes on this project's 2
//! cores) and the driver needs a handful of calls, so they are written here instead.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::AwsError;
use crate::xml::Element;

/// One Query-protocol service: where it is and how requests are signed.
#[derive(Debug, Clone)]
pub struct QueryService {
    /// `ec2` or `iam`: the signing name.
    pub service: &'static str,
    /// The API version, e.g. `2016-11-15`.
    pub version: &'static str,
    /// The signing region (IAM signs with `us-east-1`).
    pub region: String,
    /// `https://ec2.eu-west-2.amazonaws.com/`, or the emulator's URL.
    pub url: String,
}

/// A signed Query-protocol client for one service, with the credentials it acts with.
#[derive(Debug, Clone)]
pub struct QueryClient {
    http: reqwest::Client,
    service: QueryService,
    credentials: SharedCredentialsProvider,
}

/// How often a throttled or 5xx answer is tried again, and the first pause.
const ATTEMPTS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(200);

impl QueryClient {
    pub fn new(
        http: reqwest::Client,
        service: QueryService,
        credentials: SharedCredentialsProvider,
    ) -> Self {
        Self {
            http,
            service,
            credentials,
        }
    }

    /// Calls `action` with `params`; the answer's root element, or the service's error
    /// (code and message). Throttling and 5xx answers are tried again with back-off.
    pub async fn call(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Element, AwsError> {
        with_retries(self.service.service, action, || {
            self.call_once(action, params)
        })
        .await
    }

    async fn call_once(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Element, AwsError> {
        let s = &self.service;
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action)
                .append_pair("Version", s.version);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let (status, text) = post_signed(
            &self.http,
            &self.credentials,
            Signing {
                service: s.service,
                region: &s.region,
                url: &s.url,
                what: action,
            },
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body,
        )
        .await?;
        let root = Element::parse(&text);
        if (200..300).contains(&status) {
            return root.ok_or_else(|| AwsError {
                code: "MalformedAnswer".into(),
                message: format!(
                    "{} {action} answered {status} with a body that is not XML",
                    s.service
                ),
                status,
            });
        }
        // EC2: <Response><Errors><Error><Code>; IAM: <ErrorResponse><Error><Code>.
        let error = root.as_ref().and_then(|r| r.find("Error"));
        Err(AwsError {
            code: error
                .and_then(|e| e.text_of("Code"))
                .unwrap_or(if status >= 500 {
                    "ServiceUnavailable"
                } else {
                    "UnknownError"
                })
                .to_string(),
            message: error
                .and_then(|e| e.text_of("Message"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} {action} answered {status}", s.service)),
            status,
        })
    }
}

/// Where a signed request goes and how it is signed.
pub(crate) struct Signing<'a> {
    /// The signing name: `ec2`, `iam`, `kms`.
    pub service: &'a str,
    pub region: &'a str,
    pub url: &'a str,
    /// The action, for messages.
    pub what: &'a str,
}

/// `POST`s `body` to `to.url` with `headers`, signed (SigV4) with `credentials`; the answer's
/// status and text. No answer is a retryable `RequestFailed`.
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    credentials: &SharedCredentialsProvider,
    to: Signing<'_>,
    headers: &[(&str, &str)],
    body: String,
) -> Result<(u16, String), AwsError> {
    let action = to.what;
    let credentials = credentials
        .provide_credentials()
        .await
        .map_err(|e| AwsError::credentials(format!("{e}")))?;
    let identity: Identity = credentials.into();
    let signing = v4::SigningParams::builder()
        .identity(&identity)
        .region(to.region)
        .name(to.service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| AwsError::local(format!("signing {action}: {e}")))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        to.url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| AwsError::local(format!("signing {action}: {e}")))?;
    let (instructions, _) = sign(signable, &signing)
        .map_err(|e| AwsError::local(format!("signing {action}: {e}")))?
        .into_parts();
    let (signed_headers, _) = instructions.into_parts();
    let mut request = http.post(to.url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    for h in &signed_headers {
        request = request.header(h.name(), h.value());
    }
    let answer = request.send().await.map_err(|e| AwsError {
        code: "RequestFailed".into(),
        message: format!("{} {action}: {e}", to.service),
        status: 0,
    })?;
    let status = answer.status().as_u16();
    let text = answer.text().await.map_err(|e| AwsError {
        code: "RequestFailed".into(),
        message: format!("{} {action}: reading the answer: {e}", to.service),
        status,
    })?;
    Ok((status, text))
}

/// Runs `once` until it succeeds, fails for good, or has been tried [`ATTEMPTS`] times:
/// throttling and 5xx answers are tried again after a pause that doubles.
pub(crate) async fn with_retries<T, F, Fut>(
    service: &str,
    action: &str,
    once: F,
) -> Result<T, AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match once().await {
            Err(e) if e.retryable() && attempt < ATTEMPTS => {
                tracing::debug!(service, action, code = %e.code, attempt, "retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// `Prefix.1`, `Prefix.2`, … for a list parameter.
pub fn list(
    prefix: &str,
    values: impl IntoIterator<Item = impl Into<String>>,
) -> Vec<(String, String)> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("{prefix}.{}", i + 1), v.into()))
        .collect()
}
