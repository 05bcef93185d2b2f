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
    workspace: Option<String>,
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
            workspace: config.workspace.clone().filter(|w| !w.is_empty()),
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

/// Where one object lives: its workspace (workspaced kinds), name, and version (versioned
/// kinds).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectAddress {
    pub workspace: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

impl ObjectAddress {
    /// The Terraform `id`: `name`, `workspace/name`, `name@version`.
    pub fn id(&self) -> String {
        let mut id = match &self.workspace {
            Some(ws) => format!("{ws}/{}", self.name),
            None => self.name.clone(),
        };
        if let Some(v) = &self.version {
            id.push('@');
            id.push_str(v);
        }
        id
    }
}

/// Requests addressed by workspace, name and version, for every kind.
impl Client {
    /// The provider's default workspace (`workspace`, or `WAYFINDER_WORKSPACE`).
    pub fn default_workspace(&self) -> Option<&str> {
        self.workspace.as_deref()
    }

    /// The collection URL of `kind`, in `workspace` for workspaced kinds.
    pub fn collection_url_in(&self, kind: &KindInfo, workspace: Option<&str>) -> String {
        match (kind.scope, workspace) {
            (wayfinder_model::Scope::Workspace, Some(ws)) => format!(
                "{}/resources/{}/{}/workspaces/{}/{}",
                self.base,
                kind.group,
                kind.version,
                path_segment(ws),
                kind.plural
            ),
            _ => self.collection_url(kind),
        }
    }

    /// The URL of one object: `…/{name}`, or `…/{name}/versions/{version}`.
    pub fn object_url(&self, kind: &KindInfo, at: &ObjectAddress) -> String {
        let mut url = format!(
            "{}/{}",
            self.collection_url_in(kind, at.workspace.as_deref()),
            path_segment(&at.name)
        );
        if let Some(v) = at.version.as_deref().filter(|_| kind.versioned) {
            url.push_str("/versions/");
            url.push_str(&path_segment(v));
        }
        url
    }

    /// The object at `at` (for a versioned kind without a version: its latest published
    /// version), or `None` when it does not exist.
    pub async fn read_object(
        &self,
        kind: &KindInfo,
        at: &ObjectAddress,
    ) -> Result<Option<Json>, ClientError> {
        self.get_url(&self.object_url(kind, at)).await
    }

    /// Creates an object in `workspace` (ignored for platform kinds).
    pub async fn create_object(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        object: &Json,
        dry_run: bool,
    ) -> Result<Json, ClientError> {
        let url = with_dry_run(self.collection_url_in(kind, workspace), dry_run);
        self.send(Method::POST, &url, Some(object)).await
    }

    /// Replaces the object at `at`.
    pub async fn update_object(
        &self,
        kind: &KindInfo,
        at: &ObjectAddress,
        object: &Json,
        dry_run: bool,
    ) -> Result<Json, ClientError> {
        let url = with_dry_run(self.object_url(kind, at), dry_run);
        self.send(Method::PUT, &url, Some(object)).await
    }

    /// Deletes the object at `at`; `false` when it was already gone.
    pub async fn delete_object(
        &self,
        kind: &KindInfo,
        at: &ObjectAddress,
    ) -> Result<bool, ClientError> {
        match self
            .send(Method::DELETE, &self.object_url(kind, at), None)
            .await
        {
            Ok(_) => Ok(true),
            Err(ClientError::Api(e)) if e.status == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET {server}{path}` (a path such as `/api/v2/...`, segments already encoded), or
    /// `None` on 404.
    pub async fn get_path(&self, path: &str) -> Result<Option<Json>, ClientError> {
        self.get_url(&format!("{}{path}", self.base)).await
    }

    async fn get_url(&self, url: &str) -> Result<Option<Json>, ClientError> {
        match self.send(Method::GET, url, None).await {
            Ok(j) => Ok(Some(j)),
            Err(ClientError::Api(e)) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Percent-encodes one URL path segment (names, workspaces and versions are plain, but a
/// `/` or `?` in user input must not change the path).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
