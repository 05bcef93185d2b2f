//! The Wayfinder REST API client: JSON over HTTP(S) with a bearer token.
//!
//! **Transient failures are retried** ([`RETRY`]): a connection that cannot be made, and the
//! answers `429 Too Many Requests` and `503 Service Unavailable` (the server did not do the
//! work), for every method; `502 Bad Gateway` and `504 Gateway Timeout` (a proxy may have
//! passed the request on) only for `GET` and `DELETE`, which are safe to repeat. The wait
//! doubles from [`RetryPolicy::first_delay`] up to [`RetryPolicy::max_delay`] (or the
//! server's `Retry-After`, capped the same way), at most [`RetryPolicy::attempts`] tries and
//! [`RetryPolicy::budget`] of waiting in all. A [`StopSignal`] (Terraform's StopProvider)
//! ends the waiting at once.
//!
//! **A slow server is bounded**: each request has [`DEFAULT_REQUEST_TIMEOUT`] (or
//! `WAYFINDER_REQUEST_TIMEOUT`, e.g. `30s`, `2m`) from sending it to the end of the answer,
//! and connecting has [`CONNECT_TIMEOUT`]. A request that got no answer in time is not
//! retried — the server may be carrying it out, and a second wait would double the delay —
//! and becomes [`ClientError::TimedOut`]; one that could not connect is retried as above.
//!
//! **Wayfinder's token exchange** ([`Auth`]): when the token is a Wayfinder exchange token —
//! a JWT whose `scopes` claim holds `wayfinder:auth:exchange`, as an AccessToken's token is —
//! the client does what Appvia's Go client (`wfclient`) does: it never sends that token to
//! the API, but `POST`s `{nonResourceAPI}/exchange?ttl=30m0s` with it (`nonResourceAPI` from
//! `GET /apiinfo`, `/api/v2` when the server has none), and sends the short-lived API token
//! it gets back (`{"token", "expires"}`). It exchanges again [`REFRESH_BEFORE`] before that
//! token expires, and once more when the API answers `401`. Any other token (a plain API
//! token, the administrator's) is sent as it is. Neither token is logged.
//!
//! **Errors say what to do**: [`ClientError`] carries what the server answered, and the
//! resource layer (`resources::errors`) turns it into diagnostics: what failed, on which object, and what
//! to do — a `401` points at the token, a `403` names the role the server says is missing,
//! a stale `409` says to run `terraform plan` again, each `422` cause becomes a diagnostic
//! on the attribute it is about (policy violations with the policy, its scope, the limit
//! and the value), a connection failure names the address tried, how often and for how long,
//! and a timeout names the address, the limit and what to check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value as Json;
use tokio::sync::Notify;
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
    auth: Auth,
    workspace: Option<String>,
    stop: StopSignal,
    retry: RetryPolicy,
    timeout: Duration,
}

/// The scope that marks a token to exchange (`wfclient`'s `authtypes.ScopeExchange`).
pub const SCOPE_EXCHANGE: &str = "wayfinder:auth:exchange";

/// The lifetime the client asks for at the exchange, as Wayfinder's clients do (Go's
/// `(30 * time.Minute).String()`).
pub const EXCHANGE_TTL: &str = "30m0s";

/// How long before an exchanged API token expires the client exchanges again.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// Whether `token` is a Wayfinder exchange token: a JWT whose claims (read without
/// verifying them, as `wfclient` reads them) have `scopes` holding [`SCOPE_EXCHANGE`].
pub fn is_exchange_token(token: &str) -> bool {
    use base64::Engine as _;
    let Some(claims) = token.split('.').nth(1) else {
        return false;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims.trim_end_matches('='))
    else {
        return false;
    };
    serde_json::from_slice::<Json>(&bytes)
        .ok()
        .and_then(|c| {
            c.get("scopes")?
                .as_array()
                .map(|a| a.iter().any(|s| s == SCOPE_EXCHANGE))
        })
        .unwrap_or(false)
}

/// How the client authenticates; see the module documentation. `Debug` shows no token.
pub enum Auth {
    /// A token sent to the API as it is.
    Plain(String),
    /// An exchange token, and the API token last exchanged for it.
    Exchange {
        exchange_token: String,
        current: tokio::sync::Mutex<Option<ApiToken>>,
        non_resource_api: tokio::sync::OnceCell<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Plain(_) => "Auth::Plain(..)",
            Auth::Exchange { .. } => "Auth::Exchange(..)",
        })
    }
}

impl Auth {
    fn new(token: &str) -> Self {
        if is_exchange_token(token) {
            Auth::Exchange {
                exchange_token: token.to_string(),
                current: tokio::sync::Mutex::new(None),
                non_resource_api: tokio::sync::OnceCell::new(),
            }
        } else {
            Auth::Plain(token.to_string())
        }
    }
}

/// An API token from the exchange and when it expires.
#[derive(Clone)]
pub struct ApiToken {
    token: String,
    expires: std::time::SystemTime,
}

/// How long a request may take, from sending it to the end of the answer, unless
/// `WAYFINDER_REQUEST_TIMEOUT` says otherwise. Every Wayfinder call is quick (admission is
/// synchronous and cheap; clusters are built in the background and polled), so a minute
/// without an answer means something is wrong.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable that sets the request timeout (`30s`, `2m`).
pub const REQUEST_TIMEOUT_ENV: &str = "WAYFINDER_REQUEST_TIMEOUT";

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle connection is kept for reuse: under `wayfinder-server`'s default
/// `--header-read-timeout` (10s), which closes a kept-alive connection that sends nothing, so
/// the client drops it first rather than racing the server's close with a new request.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The request timeout from `WAYFINDER_REQUEST_TIMEOUT`, else [`DEFAULT_REQUEST_TIMEOUT`].
pub fn request_timeout(env: Option<&str>) -> Result<Duration, ClientError> {
    match env.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_REQUEST_TIMEOUT),
        Some(v) => humantime::parse_duration(v)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ClientError::Config(format!(
                    "{REQUEST_TIMEOUT_ENV}={v:?} is not a duration above zero; use e.g. 30s or 2m"
                ))
            }),
    }
}

/// One `details.causes[]` entry of an API error: the field and what is wrong with it; a
/// provisioning-policy violation (reason `PolicyViolation`) also names the policy, its
/// scope, the limit and the value that broke it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cause {
    pub field: String,
    pub reason: String,
    pub message: String,
    pub rule: Option<String>,
    pub policy: Option<String>,
    pub scope: Option<String>,
    pub limit: Option<String>,
    pub value: Option<String>,
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
    /// `details.kind` and `details.name`: the object the answer is about (for a `404`, the
    /// one that does not exist — e.g. the workspace of a workspaced path).
    pub about: Option<Box<(String, String)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the Wayfinder API at {url} ({tries} tries over {}): {detail}. Check `server` (or WAYFINDER_SERVER): the address and port, that the server is running, and that nothing (firewall, proxy) blocks it from here",
        humantime::format_duration(*.elapsed)
    )]
    Unreachable {
        url: String,
        detail: String,
        /// Tries made, the first included.
        tries: u32,
        /// From the first try to giving up (milliseconds precision).
        elapsed: Duration,
    },
    #[error(
        "the Wayfinder API at {url} took the {method} request but sent no answer within {}: the server is up but stuck or overloaded, or something in between (proxy, load balancer) holds the request. Check its health (GET /readyz) and its log. The request was not repeated, as the server may still carry it out. WAYFINDER_REQUEST_TIMEOUT sets the limit (now {})",
        humantime::format_duration(*.after),
        humantime::format_duration(*.after)
    )]
    TimedOut {
        url: String,
        method: String,
        after: Duration,
    },
    #[error("{}", .0.message)]
    Api(ApiError),
    #[error(
        "the Wayfinder API at {server} refused to exchange the access token ({url} answered {status}): {message}. The provider's `token` (or WAYFINDER_TOKEN) is a Wayfinder exchange token, which the provider trades for short-lived API tokens as Wayfinder's clients do: check that it is current (not expired, its AccessToken not deleted) and was issued by this server"
    )]
    Exchange {
        server: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("unexpected response from the Wayfinder API at {url}: {detail}")]
    Protocol { url: String, detail: String },
    #[error("invalid provider configuration: {0}")]
    Config(String),
    #[error(
        "Terraform asked the provider to stop (for example after Ctrl-C) while it was {doing}; nothing further was sent to Wayfinder"
    )]
    Stopped { doing: String },
}

/// Terraform's StopProvider, shared by everything that waits: once raised, retries and
/// waits end at once.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the signal; every current and future wait ends.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Returns once the signal is raised (at once if it was).
    pub async fn stopped(&self) {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_stopped() {
            return;
        }
        notified.await;
    }

    /// Sleeps for `d`; `false` when the signal was raised first (or already).
    pub async fn sleep(&self, d: Duration) -> bool {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        // Register before checking, so a stop between the check and the wait is not missed.
        notified.as_mut().enable();
        if self.is_stopped() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.is_stopped(),
            _ = notified => false,
        }
    }
}

/// How transient failures are retried; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// The most time spent waiting between tries, in all.
    pub budget: Duration,
}

/// The client's retry policy: 4 tries, waiting 0.25 s, 0.5 s, 1 s (or `Retry-After`, up to
/// 4 s), at most 8 s of waiting in all.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 4,
    first_delay: Duration::from_millis(250),
    max_delay: Duration::from_secs(4),
    budget: Duration::from_secs(8),
};

impl RetryPolicy {
    /// The wait before try `next` (2 for the first retry), given the server's `Retry-After`.
    pub fn delay(&self, next: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .first_delay
            .saturating_mul(1u32 << next.saturating_sub(2).min(16));
        retry_after.unwrap_or(exp).min(self.max_delay)
    }
}

/// Whether an answer with `status` to `method` is worth another try.
fn transient(method: &Method, status: StatusCode) -> bool {
    match status.as_u16() {
        429 | 503 => true,
        502 | 504 => matches!(*method, Method::GET | Method::DELETE),
        _ => false,
    }
}

impl Client {
    pub fn new(config: &ClientConfig) -> Result<Self, ClientError> {
        let base = config.server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "server {:?} must be an http:// or https:// URL",
                config.server
            )));
        }
        let timeout = request_timeout(std::env::var(REQUEST_TIMEOUT_ENV).ok().as_deref())?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .timeout(timeout)
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
            auth: Auth::new(&config.token),
            workspace: config.workspace.clone().filter(|w| !w.is_empty()),
            stop: StopSignal::new(),
            retry: RETRY,
            timeout,
        })
    }

    /// The same client, its retries and waits ended by `stop`.
    pub fn with_stop(mut self, stop: StopSignal) -> Self {
        self.stop = stop;
        self
    }

    /// The same client with another retry policy (tests).
    #[cfg(test)]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The signal that ends this client's waits.
    pub fn stop_signal(&self) -> &StopSignal {
        &self.stop
    }

    /// Short-lived credentials for cluster `workspace/name`: `POST
    /// …/workspaces/{ws}/clusters/{name}/credentials` with an optional TTL (e.g. `30m`).
    /// The answer holds `token`, `expiresAt`, `ttl`, `endpoint` and `kubeconfig`.
    pub async fn cluster_credentials(
        &self,
        workspace: &str,
        name: &str,
        ttl: Option<&str>,
    ) -> Result<Json, ClientError> {
        let kind = &wayfinder_model::kinds::CLUSTER;
        let url = format!(
            "{}/resources/{}/{}/workspaces/{workspace}/{}/{name}/credentials",
            self.base, kind.group, kind.version, kind.plural
        );
        let body = match ttl {
            Some(t) => serde_json::json!({ "ttl": t }),
            None => serde_json::json!({}),
        };
        self.send(Method::POST, &url, Some(&body)).await
    }

    fn collection_url(&self, kind: &KindInfo) -> String {
        format!(
            "{}/resources/{}/{}/{}",
            self.base, kind.group, kind.version, kind.plural
        )
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Json>,
    ) -> Result<Json, ClientError> {
        self.send_warned(method, url, body).await.map(|(j, _)| j)
    }

    /// As [`Client::send`], with the texts of the answer's `Warning: 299` headers.
    async fn send_warned(
        &self,
        method: Method,
        url: &str,
        body: Option<&Json>,
    ) -> Result<(Json, Vec<String>), ClientError> {
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        let started = std::time::Instant::now();
        let mut refreshed = false;
        loop {
            attempt += 1;
            let bearer = self.bearer(false).await?;
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&bearer)
                .header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            tracing::debug!(%method, url, attempt, "wayfinder API request");
            // A read (or a dry run) in flight is abandoned when Terraform asks to stop; a
            // write is let finish (within the timeout), so that what the server did is known.
            let abandonable = method == Method::GET || url.ends_with("?dryRun=All");
            let sent = tokio::select! {
                r = req.send() => r,
                _ = self.stop.stopped(), if abandonable => {
                    return Err(ClientError::Stopped {
                        doing: format!("waiting for the answer to {method} {url}"),
                    });
                }
            };
            let (result, retry_after) = match sent {
                Ok(r) => {
                    let retry_after = retry_after(&r);
                    (self.read(&method, url, r).await, retry_after)
                }
                Err(e) if e.is_connect() => (
                    Err(ClientError::Unreachable {
                        url: url.to_string(),
                        detail: error_chain(&e),
                        tries: attempt,
                        elapsed: Duration::from_millis(started.elapsed().as_millis() as u64),
                    }),
                    None,
                ),
                Err(e) if e.is_timeout() => {
                    tracing::warn!(%method, url, timeout_ms = self.timeout.as_millis() as u64, "no answer from the Wayfinder API in time");
                    return Err(ClientError::TimedOut {
                        url: url.to_string(),
                        method: method.to_string(),
                        after: self.timeout,
                    });
                }
                Err(e) => {
                    return Err(ClientError::Unreachable {
                        url: url.to_string(),
                        detail: error_chain(&e),
                        tries: attempt,
                        elapsed: Duration::from_millis(started.elapsed().as_millis() as u64),
                    });
                }
            };
            if let (Err(ClientError::Api(a)), Auth::Exchange { .. }) = (&result, &self.auth)
                && a.status == 401
            {
                if !refreshed {
                    // Refused: the API token may have been cut short; exchange again, once.
                    refreshed = true;
                    attempt -= 1;
                    self.bearer(true).await?;
                    continue;
                }
                let mut a = a.clone();
                a.message = format!(
                    "the Wayfinder API at {} refused the API call with the API token just exchanged for the provider's access token: {}",
                    self.base, a.message
                );
                return Err(ClientError::Api(a));
            }
            let retryable = match &result {
                Err(ClientError::Unreachable { .. }) => true,
                Err(ClientError::Api(a)) => {
                    StatusCode::from_u16(a.status).is_ok_and(|s| transient(&method, s))
                }
                _ => false,
            };
            let delay = self.retry.delay(attempt + 1, retry_after);
            if !retryable || attempt >= self.retry.attempts || waited + delay > self.retry.budget {
                return result;
            }
            tracing::info!(
                %method,
                url,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                "transient failure from the Wayfinder API; retrying"
            );
            if !self.stop.sleep(delay).await {
                return Err(ClientError::Stopped {
                    doing: format!("retrying {method} {url}"),
                });
            }
            waited += delay;
        }
    }

    /// The token to send: the plain token, or a current API token exchanged for the
    /// exchange token (exchanged anew when `force`, or when the last one is near expiry).
    async fn bearer(&self, force: bool) -> Result<String, ClientError> {
        let (exchange_token, current, non_resource_api) = match &self.auth {
            Auth::Plain(t) => return Ok(t.clone()),
            Auth::Exchange {
                exchange_token,
                current,
                non_resource_api,
            } => (exchange_token, current, non_resource_api),
        };
        let mut current = current.lock().await;
        if !force
            && let Some(t) = current.as_ref()
            && t.expires > std::time::SystemTime::now() + REFRESH_BEFORE
        {
            return Ok(t.token.clone());
        }
        let api = non_resource_api
            .get_or_init(|| self.non_resource_api())
            .await;
        let fresh = self.exchange(api, exchange_token).await?;
        let token = fresh.token.clone();
        *current = Some(fresh);
        Ok(token)
    }

    /// `nonResourceAPI` from `GET /apiinfo` (unauthenticated), `/api/v2` when it has none.
    async fn non_resource_api(&self) -> String {
        let url = format!("{}/apiinfo", self.base);
        let found = async {
            let r = self.http.get(&url).send().await.ok()?;
            let j: Json = r.error_for_status().ok()?.json().await.ok()?;
            j.get("nonResourceAPI")?.as_str().map(str::to_string)
        }
        .await;
        found
            .filter(|p| p.starts_with('/'))
            .unwrap_or_else(|| "/api/v2".to_string())
    }

    /// `POST {api}/exchange?ttl=30m0s` with the exchange token: a new API token.
    async fn exchange(&self, api: &str, exchange_token: &str) -> Result<ApiToken, ClientError> {
        let url = format!(
            "{}{}/exchange?ttl={EXCHANGE_TTL}",
            self.base,
            api.trim_end_matches('/')
        );
        tracing::debug!(url, "exchanging the access token for an API token");
        let sent = self
            .http
            .post(&url)
            .bearer_auth(exchange_token)
            .header("accept", "application/json")
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(ClientError::TimedOut {
                    url,
                    method: "POST".into(),
                    after: self.timeout,
                });
            }
            Err(e) => {
                return Err(ClientError::Unreachable {
                    url,
                    detail: error_chain(&e),
                    tries: 1,
                    elapsed: Duration::ZERO,
                });
            }
        };
        let status = response.status();
        let body: Option<Json> = response.json().await.ok();
        let refused = |message: String| ClientError::Exchange {
            server: self.base.clone(),
            url: url.clone(),
            status: status.as_u16(),
            message,
        };
        if !status.is_success() {
            let message = body
                .as_ref()
                .and_then(|b| b.get("message"))
                .and_then(Json::as_str)
                .unwrap_or("no message")
                .to_string();
            return Err(refused(message));
        }
        let token = body
            .as_ref()
            .and_then(|b| b.get("token"))
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty());
        let expires = body
            .as_ref()
            .and_then(|b| b.get("expires"))
            .and_then(Json::as_u64);
        match (token, expires) {
            (Some(t), Some(e)) => Ok(ApiToken {
                token: t.to_string(),
                expires: std::time::UNIX_EPOCH + Duration::from_secs(e),
            }),
            _ => Err(refused(
                "the answer has no `token` and `expires` (a Wayfinder IssuedToken)".into(),
            )),
        }
    }

    async fn read(
        &self,
        method: &Method,
        url: &str,
        response: reqwest::Response,
    ) -> Result<(Json, Vec<String>), ClientError> {
        let status = response.status();
        let warnings: Vec<String> = response
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| warning_text(v.to_str().ok()?))
            .collect();
        let object_modified = response
            .headers()
            .get("x-wayfinder-objectmodified")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                ClientError::TimedOut {
                    url: url.to_string(),
                    method: method.to_string(),
                    after: self.timeout,
                }
            } else {
                ClientError::Protocol {
                    url: url.to_string(),
                    detail: error_chain(&e),
                }
            }
        })?;
        let json: Option<Json> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return json
                .map(|j| (j, warnings))
                .ok_or_else(|| ClientError::Protocol {
                    url: url.to_string(),
                    detail: format!("{method} answered {status} with a body that is not JSON"),
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

/// The text of a `Warning` header as Kubernetes sends them, `299 - "text"` (quotes and
/// backslashes escaped); `None` for another form.
pub(crate) fn warning_text(header: &str) -> Option<String> {
    let quoted = header.strip_prefix("299 - \"")?.strip_suffix('"')?;
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    Some(out)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Wayfinder).
fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    r.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
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
                .map(|c| {
                    let opt = |k: &str| Some(text(Some(c), k)).filter(|t| !t.is_empty());
                    Cause {
                        field: text(Some(c), "field"),
                        reason: text(Some(c), "reason"),
                        message: text(Some(c), "message"),
                        rule: opt("rule"),
                        policy: opt("policy"),
                        scope: opt("scope"),
                        limit: opt("limit"),
                        value: opt("value"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let details = json.and_then(|j| j.get("details"));
    let about = Some((text(details, "kind"), text(details, "name")))
        .filter(|(k, n)| !k.is_empty() && !n.is_empty())
        .map(Box::new);
    ApiError {
        status: status.as_u16(),
        reason: text(json, "reason"),
        message,
        causes,
        object_modified,
        about,
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

    /// A dry-run create (`create`) or replace of `object`, with the server's warnings (e.g. a
    /// cost the price catalog cannot estimate).
    pub async fn preview_object(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        at: &ObjectAddress,
        object: &Json,
        create: bool,
    ) -> Result<(Json, Vec<String>), ClientError> {
        if create {
            let url = with_dry_run(self.collection_url_in(kind, workspace), true);
            self.send_warned(Method::POST, &url, Some(object)).await
        } else {
            let url = with_dry_run(self.object_url(kind, at), true);
            self.send_warned(Method::PUT, &url, Some(object)).await
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_headers_are_read_as_kubernetes_sends_them() {
        assert_eq!(
            warning_text(r#"299 - "a \"quoted\" name, a \\ backslash""#).as_deref(),
            Some(r#"a "quoted" name, a \ backslash"#)
        );
        assert_eq!(warning_text("199 - \"other\""), None);
        assert_eq!(warning_text("299 - unquoted"), None);
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers the given statuses in turn (the last repeated), counting requests.
    async fn scripted(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (status, extra) = answers[n.min(answers.len() - 1)];
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                let body = format!(
                    r#"{{"kind":"Status","code":{status},"reason":"R","message":"answer {n}"}}"#
                );
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (format!("http://{addr}"), count)
    }

    /// A port nothing listens on (bound, then freed).
    async fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A server that accepts connections and holds them, never answering; its URL and how
    /// many connections it accepted.
    async fn silent_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                held.push(sock);
            }
        });
        (format!("http://{addr}"), accepted)
    }

    /// [`client`] with a request timeout of `timeout`.
    fn client_timing_out(url: &str, timeout: Duration) -> Client {
        let mut c = client(url);
        c.timeout = timeout;
        c.http = reqwest::Client::builder().timeout(timeout).build().unwrap();
        c
    }

    fn client(url: &str) -> Client {
        Client::new(&ClientConfig {
            server: url.into(),
            token: "t".into(),
            workspace: None,
            ca_cert_pem: None,
        })
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            budget: Duration::from_secs(1),
        })
    }

    #[tokio::test]
    async fn transient_answers_are_retried_then_succeed() {
        let (url, count) = scripted(vec![(503, ""), (429, "retry-after: 0\r\n"), (200, "")]).await;
        let c = client(&url);
        let got = c
            .send(
                Method::POST,
                &format!("{url}/x"),
                Some(&serde_json::json!({})),
            )
            .await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    type Seen = Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

    /// A server that answers each request from `answer(method, path, authorization)`,
    /// recording every request's method, path (with query) and `Authorization` header.
    async fn routed(
        answer: impl Fn(&str, &str, &str) -> (u16, String) + Send + Sync + 'static,
    ) -> (String, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (log, answer) = (log.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let mut first = head.lines().next().unwrap_or("").split(' ');
                    let method = first.next().unwrap_or("").to_string();
                    let path = first.next().unwrap_or("").to_string();
                    let auth = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .starts_with("authorization:")
                                .then(|| l[14..].trim().to_string())
                        })
                        .unwrap_or_default();
                    let (status, body) = answer(&method, &path, &auth);
                    log.lock().unwrap().push((method, path, auth));
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        (format!("http://{addr}"), seen)
    }

    /// A token shaped as a Wayfinder exchange token (its signature is not checked here).
    fn exchange_jwt() -> String {
        use base64::Engine as _;
        let claims = serde_json::json!({"aud": "wayfinder", "sub": "accesstoken/pay/ci",
            "scopes": [SCOPE_EXCHANGE, "wayfinder:system:accesstoken"]});
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn client_with(url: &str, token: &str) -> Client {
        Client::new(&ClientConfig {
            server: url.into(),
            token: token.into(),
            workspace: None,
            ca_cert_pem: None,
        })
        .unwrap()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// Answers `/apiinfo` and `/api/v2/exchange` (the n-th exchange gives `api-n`, living
    /// `life` seconds); API calls get 200 when `ok(authorization)`, else 401.
    fn wayfinder(
        life: u64,
        ok: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> impl Fn(&str, &str, &str) -> (u16, String) + Send + Sync + 'static {
        let exchanges = std::sync::atomic::AtomicUsize::new(0);
        move |method, path, auth| match (method, path) {
            ("GET", "/apiinfo") => (
                200,
                r#"{"nonResourceAPI":"/api/v2","resourceAPI":"/resources"}"#.into(),
            ),
            ("POST", p) if p.starts_with("/api/v2/exchange") => {
                let n = exchanges.fetch_add(1, Ordering::SeqCst) + 1;
                (
                    200,
                    format!(r#"{{"token":"api-{n}","expires":{}}}"#, now() + life),
                )
            }
            _ if ok(auth) => (200, "{}".into()),
            _ => (401, r#"{"code":401,"message":"refused"}"#.into()),
        }
    }

    #[test]
    fn exchange_tokens_are_told_from_plain_ones_by_their_scopes() {
        assert!(is_exchange_token(&exchange_jwt()));
        assert!(!is_exchange_token("wfa_0123456789"));
        assert!(!is_exchange_token("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
        assert!(!is_exchange_token("a.b.c"));
        assert_eq!(
            format!("{:?}", Auth::new(&exchange_jwt())),
            "Auth::Exchange(..)"
        );
    }

    #[tokio::test]
    async fn an_exchange_token_is_traded_as_wfclient_does_and_never_sent_to_the_api() {
        let (url, seen) = routed(wayfinder(1800, |a| a == "Bearer api-1")).await;
        let secret = exchange_jwt();
        let c = client_with(&url, &secret);
        for _ in 0..2 {
            let got = c
                .send(Method::GET, &format!("{url}/resources/x"), None)
                .await;
            assert!(got.is_ok(), "{got:?}");
        }
        let seen = seen.lock().unwrap().clone();
        let bearer = format!("Bearer {secret}");
        assert_eq!(
            seen,
            vec![
                ("GET".into(), "/apiinfo".into(), String::new()),
                (
                    "POST".into(),
                    "/api/v2/exchange?ttl=30m0s".into(),
                    bearer.clone()
                ),
                ("GET".into(), "/resources/x".into(), "Bearer api-1".into()),
                ("GET".into(), "/resources/x".into(), "Bearer api-1".into()),
            ]
        );
    }

    #[tokio::test]
    async fn an_api_token_near_its_expiry_is_exchanged_again() {
        // Each API token lives 30s: under REFRESH_BEFORE, so every call exchanges anew.
        let (url, seen) = routed(wayfinder(30, |a| a.starts_with("Bearer api-"))).await;
        let c = client_with(&url, &exchange_jwt());
        for _ in 0..2 {
            let got = c
                .send(Method::GET, &format!("{url}/resources/x"), None)
                .await;
            assert!(got.is_ok(), "{got:?}");
        }
        let seen = seen.lock().unwrap().clone();
        let api: Vec<&str> = seen
            .iter()
            .filter(|(_, p, _)| p == "/resources/x")
            .map(|(_, _, a)| a.as_str())
            .collect();
        assert_eq!(api, ["Bearer api-1", "Bearer api-2"]);
    }

    #[tokio::test]
    async fn a_refused_api_token_is_exchanged_again_once() {
        let (url, seen) = routed(wayfinder(1800, |a| a == "Bearer api-2")).await;
        let c = client_with(&url, &exchange_jwt());
        let got = c
            .send(Method::GET, &format!("{url}/resources/x"), None)
            .await;
        assert!(got.is_ok(), "{got:?}");
        let exchanges = |seen: &Seen| {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|(_, p, _)| p.starts_with("/api/v2/exchange"))
                .count()
        };
        assert_eq!(exchanges(&seen), 2);
        // Refused again after a fresh exchange: the error says the API call failed, where.
        let (url, seen) = routed(wayfinder(1800, |_| false)).await;
        let c = client_with(&url, &exchange_jwt());
        let got = c
            .send(Method::GET, &format!("{url}/resources/x"), None)
            .await;
        match got {
            Err(ClientError::Api(a)) => {
                assert_eq!(a.status, 401);
                assert!(a.message.contains(&url), "{}", a.message);
                assert!(a.message.contains("refused the API call"), "{}", a.message);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(exchanges(&seen), 2, "one more exchange, not a loop");
    }

    #[tokio::test]
    async fn a_refused_exchange_names_the_server_and_the_exchange() {
        let (url, _) = routed(|_, path, _| {
            if path.starts_with("/api/v2/exchange") {
                (
                    401,
                    r#"{"code":401,"message":"the exchange token of accesstoken/pay/ci was revoked","detail":"Unauthorized","uri":"/api/v2/exchange","verb":"POST"}"#.into(),
                )
            } else {
                (404, "{}".into())
            }
        })
        .await;
        let got = client_with(&url, &exchange_jwt())
            .send(Method::GET, &format!("{url}/resources/x"), None)
            .await;
        let e = got.unwrap_err();
        assert!(
            matches!(e, ClientError::Exchange { status: 401, .. }),
            "{e:?}"
        );
        let text = e.to_string();
        for needle in [
            url.as_str(),
            "refused to exchange",
            "was revoked",
            "/api/v2/exchange",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
    }

    #[tokio::test]
    async fn a_plain_token_is_sent_as_it_is() {
        let (url, seen) = routed(|_, _, a| {
            if a == "Bearer wfa_plain" {
                (200, "{}".into())
            } else {
                (401, "{}".into())
            }
        })
        .await;
        let got = client_with(&url, "wfa_plain")
            .send(Method::GET, &format!("{url}/resources/x"), None)
            .await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let (url, count) = scripted(vec![(503, "")]).await;
        let c = client(&url);
        let got = c.send(Method::GET, &format!("{url}/x"), None).await;
        match got {
            Err(ClientError::Api(a)) => assert_eq!(a.status, 503),
            other => panic!("{other:?}"),
        }
        assert_eq!(count.load(Ordering::SeqCst), 4, "exactly `attempts` tries");
    }

    #[tokio::test]
    async fn a_gateway_error_is_not_retried_for_a_create() {
        let (url, count) = scripted(vec![(502, ""), (200, "")]).await;
        let c = client(&url);
        let got = c
            .send(
                Method::POST,
                &format!("{url}/x"),
                Some(&serde_json::json!({})),
            )
            .await;
        assert!(
            matches!(got, Err(ClientError::Api(ref a)) if a.status == 502),
            "{got:?}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let got = c.send(Method::GET, &format!("{url}/x"), None).await;
        assert!(got.is_ok(), "a GET is retried: {got:?}");
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (url, count) = scripted(vec![(422, "")]).await;
        let got = client(&url)
            .send(Method::GET, &format!("{url}/x"), None)
            .await;
        assert!(matches!(got, Err(ClientError::Api(ref a)) if a.status == 422));
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn connection_failures_are_retried_until_the_server_comes_up() {
        // Reserve a port, free it, and start listening there only after the first tries.
        let port = free_port().await;
        let url = format!("http://127.0.0.1:{port}");
        let c = client(&url).with_retry(RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            budget: Duration::from_secs(3),
        });
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(120)).await;
            let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            let (mut sock, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let _ = sock.read(&mut buf).await;
            let body = "{}";
            let _ = sock
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        });
        let got = c.send(Method::GET, &format!("{url}/x"), None).await;
        assert!(got.is_ok(), "{got:?}");
        late.await.unwrap();
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let (url, count) = scripted(vec![(429, "retry-after: 1\r\n"), (200, "")]).await;
        let started = std::time::Instant::now();
        let got = client(&url)
            .with_retry(RetryPolicy {
                max_delay: Duration::from_secs(4),
                ..client(&url).retry
            })
            .send(Method::GET, &format!("{url}/x"), None)
            .await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited {:?}, not the second Retry-After asked for",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_once_with_what_to_check() {
        // Accepts connections and reads requests, but never answers.
        let (url, accepted) = silent_server().await;
        let addr = url.trim_start_matches("http://").to_string();
        let c = client_timing_out(&url, Duration::from_millis(400));
        let started = std::time::Instant::now();
        let got = c.send(Method::GET, &format!("{url}/x"), None).await;
        let took = started.elapsed();
        let Err(e @ ClientError::TimedOut { .. }) = got else {
            panic!("{got:?}")
        };
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "not retried");
        let text = e.to_string();
        for needle in [
            addr.to_string().as_str(),
            "400ms",
            "GET /readyz",
            REQUEST_TIMEOUT_ENV,
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }

    #[tokio::test]
    async fn unreachable_says_how_often_it_tried() {
        let port = free_port().await;
        let url = format!("http://127.0.0.1:{port}");
        let got = client(&url)
            .send(Method::GET, &format!("{url}/x"), None)
            .await;
        let Err(e @ ClientError::Unreachable { tries: 4, .. }) = got else {
            panic!("{got:?}")
        };
        let text = e.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{port}/x (4 tries over ")),
            "{text}"
        );
        assert!(text.contains("that the server is running"), "{text}");
    }

    #[tokio::test]
    async fn stop_abandons_a_read_in_flight_but_not_a_write() {
        let (url, _) = silent_server().await;
        let c = client_timing_out(&url, Duration::from_millis(1500));
        let stop = c.stop_signal().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            stop.stop();
        });
        let started = std::time::Instant::now();
        let got = c.send(Method::GET, &format!("{url}/x"), None).await;
        assert!(matches!(got, Err(ClientError::Stopped { .. })), "{got:?}");
        assert!(started.elapsed() < Duration::from_millis(1000));
        // A create is let run to its end (here, the timeout).
        let got = c
            .send(
                Method::POST,
                &format!("{url}/x"),
                Some(&serde_json::json!({})),
            )
            .await;
        assert!(matches!(got, Err(ClientError::TimedOut { .. })), "{got:?}");
    }

    #[test]
    fn the_request_timeout_comes_from_the_environment() {
        assert_eq!(request_timeout(None).unwrap(), DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(request_timeout(Some("")).unwrap(), DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(
            request_timeout(Some("90s")).unwrap(),
            Duration::from_secs(90)
        );
        for bad in ["0s", "soon"] {
            let e = request_timeout(Some(bad)).unwrap_err().to_string();
            assert!(e.contains(REQUEST_TIMEOUT_ENV) && e.contains("30s"), "{e}");
        }
    }

    #[tokio::test]
    async fn stop_ends_the_retries_at_once() {
        let (url, _) = scripted(vec![(503, "")]).await;
        let c = client(&url).with_retry(RetryPolicy {
            attempts: 10,
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(5),
            budget: Duration::from_secs(60),
        });
        let stop = c.stop_signal().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            stop.stop();
        });
        let started = std::time::Instant::now();
        let got = c.send(Method::GET, &format!("{url}/x"), None).await;
        assert!(matches!(got, Err(ClientError::Stopped { .. })), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn delays_double_and_are_capped() {
        let d: Vec<_> = (2..=6).map(|n| RETRY.delay(n, None)).collect();
        assert_eq!(
            d,
            [250, 500, 1000, 2000, 4000]
                .map(Duration::from_millis)
                .to_vec()
        );
        assert_eq!(RETRY.delay(9, None), Duration::from_secs(4));
        assert_eq!(
            RETRY.delay(2, Some(Duration::from_secs(60))),
            Duration::from_secs(4),
            "Retry-After is capped"
        );
    }
}
