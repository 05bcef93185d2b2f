//! The Wayfinder REST API client: JSON over HTTP(S) with a bearer token.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value as Json;
use wayfinder_model::KindInfo;

/// How the provider reaches the API, after configuration and environment are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub server: String,
    pub token: String,
    pub workspace: Option<String>,
    pub ca_cert_pem: Option<String>,
}

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// One `details.causes[]` entry of an API error: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub field: String,
    pub reason: String,
    pub message: String,
}

/// An error response from the API (a Kubernetes-style Status).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub reason: String,
    pub message: String,
    pub causes: Vec<Cause>,
    /// 409 with `x-wayfinder-objectmodified: true`: our copy of the object is stale.
    pub object_modified: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the Wayfinder API at {url}: {detail}. Check `server` (or WAYFINDER_SERVER) and that the server is running and reachable from here"
    )]
    Unreachable { url: String, detail: String },
    #[error("{}", .0.message)]
    Api(ApiError),
    #[error("unexpected response from the Wayfinder API at {url}: {detail}")]
    Protocol { url: String, detail: String },
    #[error("invalid provider configuration: {0}")]
    Config(String),
}

/// Attempts for a request that failed to connect; the server may be starting.
const CONNECT_ATTEMPTS: u32 = 3;

impl Client {
    pub fn new(config: &ClientConfig) -> Result<Self, ClientError> {
        let base = config.server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "server {:?} must be an http:// or https:// URL",
                config.server
            )));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!(
                "terraform-provider-wayfinder/",
                env!("CARGO_PKG_VERSION")
            ));
        if let Some(pem) = &config.ca_cert_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                ClientError::Config(format!("ca_cert_pem is not a PEM certificate: {e}"))
            })?;
            if certs.is_empty() {
                return Err(ClientError::Config(
                    "ca_cert_pem holds no PEM certificate".into(),
                ));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            token: config.token.clone(),
        })
    }

    fn collection_url(&self, kind: &KindInfo) -> String {
        format!(
            "{}/resources/{}/{}/{}",
            self.base, kind.group, kind.version, kind.plural
        )
    }

    fn item_url(&self, kind: &KindInfo, name: &str) -> String {
        format!("{}/{name}", self.collection_url(kind))
    }

    /// The object, or `None` when it does not exist.
    pub async fn get(&self, kind: &KindInfo, name: &str) -> Result<Option<Json>, ClientError> {
        match self
            .send(Method::GET, &self.item_url(kind, name), None)
            .await
        {
            Ok(j) => Ok(Some(j)),
            Err(ClientError::Api(e)) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create(
        &self,
        kind: &KindInfo,
        object: &Json,
        dry_run: bool,
    ) -> Result<Json, ClientError> {
        let url = with_dry_run(self.collection_url(kind), dry_run);
        self.send(Method::POST, &url, Some(object)).await
    }

    pub async fn update(
        &self,
        kind: &KindInfo,
        name: &str,
        object: &Json,
        dry_run: bool,
    ) -> Result<Json, ClientError> {
        let url = with_dry_run(self.item_url(kind, name), dry_run);
        self.send(Method::PUT, &url, Some(object)).await
    }

    /// Deletes the object; `false` when it was already gone.
    pub async fn delete(&self, kind: &KindInfo, name: &str) -> Result<bool, ClientError> {
        match self
            .send(Method::DELETE, &self.item_url(kind, name), None)
            .await
        {
            Ok(_) => Ok(true),
            Err(ClientError::Api(e)) if e.status == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Json>,
    ) -> Result<Json, ClientError> {
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&self.token)
                .header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            tracing::debug!(%method, url, attempt, "wayfinder API request");
            match req.send().await {
                Ok(r) => break r,
                Err(e) if e.is_connect() && attempt < CONNECT_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt * attempt)))
                        .await;
                }
                Err(e) => {
                    return Err(ClientError::Unreachable {
                        url: url.to_string(),
                        detail: error_chain(&e),
                    });
                }
            }
        };
        let status = response.status();
        let object_modified = response
            .headers()
            .get("x-wayfinder-objectmodified")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let bytes = response.bytes().await.map_err(|e| ClientError::Protocol {
            url: url.to_string(),
            detail: error_chain(&e),
        })?;
        let json: Option<Json> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return json.ok_or_else(|| ClientError::Protocol {
                url: url.to_string(),
                detail: format!("{status} with a body that is not JSON"),
            });
        }
        Err(ClientError::Api(api_error(
            status,
            json.as_ref(),
            &bytes,
            object_modified,
        )))
    }
}

fn with_dry_run(url: String, dry_run: bool) -> String {
    if dry_run { url + "?dryRun=All" } else { url }
}

fn api_error(
    status: StatusCode,
    json: Option<&Json>,
    raw: &[u8],
    object_modified: bool,
) -> ApiError {
    let text = |j: Option<&Json>, k: &str| {
        j.and_then(|j| j.get(k))
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut message = text(json, "message");
    if message.is_empty() {
        message = String::from_utf8_lossy(&raw[..raw.len().min(512)])
            .trim()
            .to_string();
    }
    if message.is_empty() {
        message = status.to_string();
    }
    let causes = json
        .and_then(|j| j.pointer("/details/causes"))
        .and_then(Json::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| Cause {
                    field: text(Some(c), "field"),
                    reason: text(Some(c), "reason"),
                    message: text(Some(c), "message"),
                })
                .collect()
        })
        .unwrap_or_default();
    ApiError {
        status: status.as_u16(),
        reason: text(json, "reason"),
        message,
        causes,
        object_modified,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}
