//! `wayfinder-server`: a Wayfinder-compatible REST control plane.
//!
//! The binary is a thin wrapper around this library; tests run the same server in-process.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wayfinder_controlplane::ServerError> {
//! use wayfinder_controlplane::{Config, Server};
//! let config = Config::new("127.0.0.1:0".parse().unwrap(), "/tmp/wf-data".into());
//! let server = Server::bind(config).await?; // store opened, admin token ensured, port bound
//! println!("listening on {}", server.url());  // e.g. http://127.0.0.1:41234
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let task = tokio::spawn(server.run(async { let _ = stopped.await; }));
//! // ... talk HTTP to the server ...
//! let _ = stop.send(());
//! task.await.expect("server task")?; // in-flight requests finished, store closed
//! # Ok(()) }
//! ```
//!
//! Startup ([`Server::bind`]): create the data directory if missing and make it and the
//! store's files private (0700, 0600) whatever they were, or refuse to start
//! ([`ServerError::NotPrivate`]); open or create `DATA_DIR/wayfinder.db` ([`store`]); create the administrator token in
//! `DATA_DIR/admin-token` if the store has none ([`auth::ensure_admin_token`]); load or make
//! the key that signs tokens ([`jwt::Signer::load_or_create`]); bind.
//! [`Server::run`] serves until its shutdown future completes, lets in-flight requests
//! finish and closes the store.
//!
//! HTTP API: `GET /apiinfo`, `GET /healthz`, `GET /readyz` (no auth); `/resources/...` ([`resources`]);
//! `/api/v2/...` (`exchange`, `serverinfo`, `whoami`, the effective provisioning policy;
//! `api_v2`). Errors are Kubernetes-style
//! `Status` bodies (`status`). With [`Config::rate_limit`], each client's requests pass a
//! token bucket first ([`ratelimit`]); bodies over [`MAX_BODY_BYTES`] are refused (`413`),
//! and so are objects over [`wayfinder_model::limits::MAX_OBJECT_BYTES`] ([`quota`]).
//! Connections are served with timeouts and limits ([`conn`]).
#![forbid(unsafe_code)]

mod admission;
mod api_v2;
pub mod auth;
pub mod conn;
pub mod credentials;
mod driver;
#[cfg(feature = "aws")]
mod driver_aws;
pub mod jwt;
mod keys;
mod lineage;
pub mod logging;
mod network;
pub mod prices;
pub mod quota;
pub mod ratelimit;
pub mod reconciler;
mod registry;
pub mod resources;
mod status;
pub mod store;
pub mod tls;
mod view;

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;
use wayfinder_model::common::CLOUDS;

use crate::auth::{AdminTokenError, Principal};
use crate::status::ApiError;
use crate::store::{Store, StoreError};

/// Request bodies larger than this are refused with `413`.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The store's file name inside the data directory.
pub const STORE_FILE: &str = "wayfinder.db";

/// How to run the server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on; port 0 lets the OS choose (see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Where the store and the administrator token live; created if missing.
    pub data_dir: PathBuf,
    /// Revoke the administrator token and write a new one (the recovery path when
    /// `admin-token` was lost).
    pub reset_admin_token: bool,
    /// How long the simulated cloud driver takes to provision a cluster
    /// (`--sim-provision-time`; `driver::DEFAULT_SIM_PROVISION_TIME` by default).
    pub sim_provision_time: std::time::Duration,
    /// Serve HTTPS with this certificate and key (`--tls-cert`, `--tls-key`).
    pub tls: Option<tls::TlsFiles>,
    /// Limit each client's requests (`--rate-limit`); none by default ([`ratelimit`]).
    pub rate_limit: Option<ratelimit::RateLimit>,
    /// Connection timeouts and limits ([`conn`]).
    pub connections: conn::ConnectionLimits,
    /// Per-workspace quotas (`--workspace-max-objects`, `--workspace-max-bytes`); off by
    /// default ([`quota`]).
    pub quotas: quota::Quotas,
    /// Longest lifetime of an AccessToken (`--max-token-ttl`); none by default (`lineage`).
    pub max_token_ttl: Option<std::time::Duration>,
    /// The driver of each cloud (`--cloud-driver CLOUD=DRIVER`); a cloud not named here is
    /// simulated.
    pub cloud_drivers: std::collections::BTreeMap<String, DriverKind>,
    /// The AWS endpoint for local emulators such as moto (`--aws-endpoint-url`; else the
    /// standard `AWS_ENDPOINT_URL`).
    pub aws_endpoint_url: Option<String>,
    /// How often a built cluster of a real cloud is checked for drift
    /// (`--drift-check-interval`; `reconciler::DEFAULT_DRIFT_INTERVAL` by default).
    pub drift_interval: std::time::Duration,
    /// Where the objects live (`--store`): the SQLite file in `data_dir` by default.
    pub store: StoreChoice,
}

/// Which store the control plane keeps its objects in (`--store`).
#[derive(Debug, Clone, Default)]
pub enum StoreChoice {
    /// `DATA_DIR/wayfinder.db`: one server.
    #[default]
    Sqlite,
    /// An etcd cluster shared by every replica (`--store etcd`, the `etcd` cargo feature).
    #[cfg(feature = "etcd")]
    Etcd {
        config: store::etcd::EtcdConfig,
        /// The reconciler's leadership lease: a replica that stops answering is replaced
        /// within about this long (`--etcd-leader-ttl`).
        leader_ttl: std::time::Duration,
    },
}

/// Whether this build has the etcd backend (the `etcd` cargo feature).
pub const HAS_ETCD: bool = cfg!(feature = "etcd");

/// What `--store etcd` and its options ask for, checked: endpoints are required, and the
/// build must have the backend.
pub fn etcd_store_choice(
    endpoints: Vec<String>,
    prefix: String,
    tls: Option<(PathBuf, Option<PathBuf>, Option<PathBuf>)>,
    leader_ttl: std::time::Duration,
) -> Result<StoreChoice, String> {
    if endpoints.is_empty() {
        return Err(
            "--store etcd needs --etcd-endpoints URL[,URL...], e.g. http://127.0.0.1:2379"
                .to_string(),
        );
    }
    #[cfg(feature = "etcd")]
    {
        let mut config = store::etcd::EtcdConfig::new(endpoints);
        config.prefix = prefix;
        config.tls = tls.map(|(ca, cert, key)| store::etcd::EtcdTlsFiles { ca, cert, key });
        Ok(StoreChoice::Etcd { config, leader_ttl })
    }
    #[cfg(not(feature = "etcd"))]
    {
        let _ = (prefix, tls, leader_ttl);
        Err(
            "this wayfinder-server was built without the etcd backend: build it with `cargo build -p wayfinder-controlplane --features etcd`"
                .to_string(),
        )
    }
}

/// Which driver a cloud's clusters go through (`--cloud-driver CLOUD=DRIVER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// The simulated cloud (the default for every cloud).
    Simulated,
    /// The cloud's own APIs (AWS only: EKS, EC2, IAM, STS).
    Api,
}

/// Whether this build has the AWS driver (the `aws` cargo feature).
pub const HAS_AWS_DRIVER: bool = cfg!(feature = "aws");

/// Parses `--cloud-driver`'s `CLOUD=DRIVER`, e.g. `aws=api`.
pub fn parse_cloud_driver(s: &str) -> Result<(String, DriverKind), String> {
    let (cloud, driver) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected CLOUD=DRIVER, e.g. aws=api"))?;
    let cloud = cloud.trim().to_ascii_lowercase();
    if !CLOUDS.contains(&cloud.as_str()) {
        return Err(format!(
            "{cloud:?} is not a cloud: expected one of {}",
            CLOUDS.join(", ")
        ));
    }
    let kind = match driver.trim() {
        "simulated" => DriverKind::Simulated,
        "api" if cloud == "aws" => DriverKind::Api,
        "api" => {
            return Err(format!(
                "{cloud} has no API driver: Azure and GCP clusters are simulated (no local emulator of AKS or GKE exists to test one against); use {cloud}=simulated"
            ));
        }
        other => {
            return Err(format!(
                "{other:?} is not a driver: expected simulated or api (aws only)"
            ));
        }
    };
    if kind == DriverKind::Api && !HAS_AWS_DRIVER {
        return Err(
            "this wayfinder-server was built without the AWS driver: build it with `cargo build -p wayfinder-controlplane --features aws`"
                .to_string(),
        );
    }
    Ok((cloud, kind))
}

impl Config {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            reset_admin_token: false,
            sim_provision_time: driver::DEFAULT_SIM_PROVISION_TIME,
            tls: None,
            rate_limit: None,
            connections: conn::ConnectionLimits::default(),
            quotas: quota::Quotas::default(),
            max_token_ttl: None,
            cloud_drivers: std::collections::BTreeMap::new(),
            aws_endpoint_url: None,
            drift_interval: reconciler::DEFAULT_DRIFT_INTERVAL,
            store: StoreChoice::Sqlite,
        }
    }
}

/// The drivers of the clouds configured `api` (`--cloud-driver aws=api`).
#[cfg(feature = "aws")]
fn api_drivers(
    choices: &std::collections::BTreeMap<String, DriverKind>,
    aws_endpoint_url: Option<&str>,
) -> std::collections::BTreeMap<String, Arc<dyn driver::CloudDriver>> {
    let mut by_cloud: std::collections::BTreeMap<String, Arc<dyn driver::CloudDriver>> =
        std::collections::BTreeMap::new();
    for (cloud, kind) in choices {
        if *kind == DriverKind::Api && cloud == "aws" {
            let aws = driver_aws::AwsCloudDriver::new(aws_endpoint_url.map(str::to_string));
            tracing::info!(
                cloud = %cloud,
                endpoint = aws.endpoint_url().unwrap_or("AWS"),
                "cloud driver: the AWS APIs"
            );
            by_cloud.insert(cloud.clone(), Arc::new(aws));
        }
    }
    by_cloud
}

/// Without the `aws` feature there is no API driver: every cloud is simulated.
#[cfg(not(feature = "aws"))]
fn api_drivers(
    choices: &std::collections::BTreeMap<String, DriverKind>,
    _aws_endpoint_url: Option<&str>,
) -> std::collections::BTreeMap<String, Arc<dyn driver::CloudDriver>> {
    for (cloud, kind) in choices {
        if *kind == DriverKind::Api {
            tracing::warn!(cloud = %cloud, "this build has no API driver for {cloud}; simulated");
        }
    }
    std::collections::BTreeMap::new()
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot make {} private (mode {mode:o}): the store and the administrator token must not be readable by other users; fix its owner or permissions, or choose another --data-dir",
        path.display()
    )]
    NotPrivate {
        path: PathBuf,
        mode: u32,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    AdminToken(#[from] AdminTokenError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Signer(#[from] jwt::SignerError),
}

/// Shared state of the request handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    /// The data directory: the administrator token file and the credentials audit log.
    pub data_dir: PathBuf,
    /// Per-client rate limits, when on ([`ratelimit`]).
    pub rate_limit: Option<Arc<ratelimit::Limiter>>,
    /// Per-workspace quotas ([`quota`]).
    pub quotas: quota::Quotas,
    /// Longest lifetime of an AccessToken (`lineage`), and of an exchanged API token.
    pub max_token_ttl: Option<std::time::Duration>,
    /// The key that signs and verifies this control plane's tokens ([`jwt`]).
    pub signer: Arc<jwt::Signer>,
    /// The cloud drivers, asked for credentials their cloud issues itself
    /// ([`credentials`]); `None`: every cluster gets the control plane's own token.
    pub(crate) drivers: Option<Arc<dyn driver::CloudDriver>>,
}

impl AppState {
    pub fn new(store: Arc<Store>, signer: Arc<jwt::Signer>, data_dir: PathBuf) -> Self {
        Self {
            store,
            data_dir,
            rate_limit: None,
            quotas: quota::Quotas::default(),
            max_token_ttl: None,
            signer,
            drivers: None,
        }
    }

    /// The same state, limiting each client's requests to `limit`.
    pub fn with_rate_limit(mut self, limit: Option<ratelimit::RateLimit>) -> Self {
        self.rate_limit = limit.map(|l| Arc::new(ratelimit::Limiter::new(l)));
        self
    }
}

/// A server that has opened its store and bound its port, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    data_dir: PathBuf,
    store: Arc<Store>,
    sim_provision_time: std::time::Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    rate_limit: Option<ratelimit::RateLimit>,
    connections: conn::ConnectionLimits,
    quotas: quota::Quotas,
    max_token_ttl: Option<std::time::Duration>,
    signer: Arc<jwt::Signer>,
    cloud_drivers: std::collections::BTreeMap<String, DriverKind>,
    aws_endpoint_url: Option<String>,
    drift_interval: std::time::Duration,
}

impl Server {
    /// Prepares the data directory, the store and the administrator token, then binds.
    pub async fn bind(config: Config) -> Result<Self, ServerError> {
        let Config {
            listen,
            data_dir,
            reset_admin_token,
            sim_provision_time,
            tls,
            rate_limit,
            connections,
            quotas,
            max_token_ttl,
            cloud_drivers,
            aws_endpoint_url,
            drift_interval,
            store: store_choice,
        } = config;
        let tls = tls.as_ref().map(tls::load).transpose()?;
        let dir = data_dir.clone();
        // A shared store is connected here, in the runtime its backend's tasks live in.
        let shared: Option<Store> = match &store_choice {
            StoreChoice::Sqlite => None,
            #[cfg(feature = "etcd")]
            StoreChoice::Etcd { config, leader_ttl } => {
                Some(Store::connect_etcd(config, *leader_ttl).await?)
            }
        };
        let (store, signer) =
            tokio::task::spawn_blocking(move || -> Result<(Store, jwt::Signer), ServerError> {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|source| ServerError::DataDir {
                        path: dir.clone(),
                        source,
                    })?;
                make_private(&dir, 0o700)?;
                let store = match shared {
                    Some(store) => store,
                    None => {
                        let db = dir.join(STORE_FILE);
                        if db.exists() {
                            make_private(&db, 0o600)?;
                        }
                        let store = Store::open_sqlite(&db)?;
                        // SQLite creates its files with the umask's mode: make them
                        // private too.
                        for suffix in ["", "-wal", "-shm", ".lock"] {
                            let file = dir.join(format!("{STORE_FILE}{suffix}"));
                            if file.exists() {
                                make_private(&file, 0o600)?;
                            }
                        }
                        store
                    }
                };
                auth::ensure_admin_token(&store, &dir, reset_admin_token)?;
                let signer = jwt::Signer::load_or_create(&store)?;
                Ok((store, signer))
            })
            .await
            .map_err(|e| ServerError::Store(StoreError::Task(e)))??;
        let store = Arc::new(store);
        let signer = Arc::new(signer);
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(source) => {
                let _ = store.close();
                return Err(ServerError::Bind {
                    addr: listen,
                    source,
                });
            }
        };
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
        Ok(Self {
            listener,
            local_addr,
            data_dir,
            store,
            sim_provision_time,
            tls,
            rate_limit,
            connections,
            quotas,
            max_token_ttl,
            signer,
            cloud_drivers,
            aws_endpoint_url,
            drift_interval,
        })
    }

    /// The address actually bound (the OS-chosen port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://` (`https://` with TLS) + [`local_addr`](Server::local_addr), e.g.
    /// `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.local_addr)
    }

    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The file that holds the administrator token.
    /// The server's store: writes through it are seen by the reconciler's watch at once.
    /// (No other store may open the same file while the server runs: it is locked.)
    pub fn store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    pub fn admin_token_file(&self) -> PathBuf {
        self.data_dir.join(auth::ADMIN_TOKEN_FILE)
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests
    /// finish and closes the store.
    pub async fn run<F>(self, shutdown: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut state = AppState::new(
            Arc::clone(&self.store),
            Arc::clone(&self.signer),
            self.data_dir.clone(),
        )
        .with_rate_limit(self.rate_limit);
        state.quotas = self.quotas;
        state.max_token_ttl = self.max_token_ttl;
        let drivers: Arc<dyn driver::CloudDriver> = Arc::new(driver::CloudDrivers {
            default: Arc::new(driver::SimulatedDriver::new(self.sim_provision_time)),
            by_cloud: api_drivers(&self.cloud_drivers, self.aws_endpoint_url.as_deref()),
        });
        state.drivers = Some(Arc::clone(&drivers));
        let app = router(state);
        tracing::info!(
            address = %self.local_addr,
            data_dir = %self.data_dir.display(),
            "serving"
        );
        let reconciler = reconciler::spawn_with(
            Arc::clone(&self.store),
            drivers,
            reconciler::Options {
                drift_interval: self.drift_interval,
            },
        );
        let served = conn::serve(self.listener, self.tls, app, self.connections, shutdown)
            .await
            .map_err(ServerError::Serve);
        reconciler.stop().await;
        let store = self.store;
        let closed = tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(StoreError::Task)
            .and_then(|r| r);
        served?;
        closed?;
        tracing::info!("stopped; store closed");
        Ok(())
    }
}

/// [`Server::bind`] then [`Server::run`], calling `on_bound` with the bound address in
/// between (the binary prints its "listening on" line there, `https://` when
/// [`Config::tls`] is set).
pub async fn serve<F>(
    config: Config,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let server = Server::bind(config).await?;
    on_bound(server.local_addr());
    server.run(shutdown).await
}

/// The router, for embedding or for tests that drive it without a socket.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/apiinfo", get(apiinfo))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/resources", any(resources_root))
        .merge(resources::routes())
        .route(credentials::ROUTE, axum::routing::post(credentials::issue))
        .route(
            "/api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/{resource}",
            get(api_v2::effective_policy),
        )
        .route("/api/v2/exchange", axum::routing::post(api_v2::exchange))
        .route("/api/v2/serverinfo", get(api_v2::serverinfo))
        .route("/api/v2/whoami", get(api_v2::whoami))
        .route("/api/v2", any(api_v2))
        .route("/api/v2/{*rest}", any(api_v2))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

async fn apiinfo() -> Response {
    axum::Json(json!({
        "nonResourceAPI": "/api/v2",
        "resourceAPI": "/resources",
        "kubeProxyAPI": "/kubeproxy",
    }))
    .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `200 ok` when the store answers a trivial query in time, else `503`.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let ping = tokio::time::timeout(READY_TIMEOUT, state.store.run(|s| s.ping())).await;
    let why = match ping {
        Ok(Ok(Ok(()))) => return "ok".into_response(),
        Ok(Ok(Err(e)) | Err(e)) => format!("the store does not answer: {}", ErrorChain(&e)),
        Err(_) => format!(
            "the store did not answer within {}",
            humantime::format_duration(READY_TIMEOUT)
        ),
    };
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        why,
    )
    .into_response()
}

async fn resources_root(_: Principal) -> ApiError {
    let served: Vec<String> = resources::served_kinds()
        .map(|k| format!("{} ({})", resources::collection_path(k), k.kind))
        .collect();
    ApiError::not_found(format!(
        "use /resources/{{group}}/{{version}}/{{plural}}[/{{name}}]; served: {}",
        served.join(", ")
    ))
}

async fn api_v2(_: Principal, req: Request) -> ApiError {
    ApiError::not_found(format!(
        "{} is not served: the non-resource API (/api/v2) serves exchange, serverinfo, whoami and workspaces/KEY/provisioningpolicy/CLOUD/STAGE/cluster",
        req.uri().path()
    ))
}

/// What no route matches: a `/resources/...` path is the resource API's to answer
/// ([`resources::unmatched`]); anything else is not an API path.
async fn fallback(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
) -> Response {
    if req.uri().path().starts_with("/resources/") {
        return resources::unmatched(state, req).await;
    }
    not_found(req).await.into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "{} is not an API path; see GET /apiinfo (resources live under /resources)",
        req.uri().path()
    ))
}

async fn method_not_allowed(method: Method, req: Request) -> ApiError {
    let allow = allowed_methods(req.uri().path());
    ApiError::method_not_allowed(method.as_str(), req.uri().path(), allow)
}

/// The methods the routes with one method accept, for the `Allow` header of a `405`
/// (`/resources/...` answers its own `405`s, per collection or object).
fn allowed_methods(path: &str) -> &'static str {
    if path.ends_with("/credentials") || path == "/api/v2/exchange" {
        return "POST";
    }
    "GET"
}

/// The request-id header: taken from the request when it is sane, generated otherwise,
/// and always echoed in the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A request's id, in the request's extensions for handlers that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// A client-sent request id is used when it is 1 to 128 visible ASCII characters.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| {
            use rand::Rng;
            hex::encode(rand::rng().random::<[u8; 16]>())
        })
}

/// Error bodies larger than this are passed through without a request id.
const MAX_ERROR_BODY: usize = 1024 * 1024;

async fn access_log(mut req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let start = Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(req).instrument(span).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        response = add_request_id_to_status(response, &id).await;
    }
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    tracing::info!(
        target: "wayfinder_controlplane::access",
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
        request_id = %id,
        "request"
    );
    response
}

/// Adds `details.requestId` to a `Status` error body; anything else passes unchanged.
async fn add_request_id_to_status(response: Response, id: &str) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return response;
    }
    // A body over the limit passes as it is: never read halfway and lost.
    let too_big = axum::body::HttpBody::size_hint(response.body())
        .upper()
        .is_none_or(|n| n > MAX_ERROR_BODY as u64);
    if too_big {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read an error body to add the request id");
            return (parts, axum::body::Body::empty()).into_response();
        }
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) if v.get("kind").and_then(|k| k.as_str()) == Some("Status") => {
            let details = v
                .as_object_mut()
                .map(|o| o.entry("details").or_insert_with(|| json!({})));
            if let Some(d) = details.and_then(|d| d.as_object_mut()) {
                d.insert("requestId".into(), id.into());
            }
            serde_json::to_vec(&v)
                .map(axum::body::Bytes::from)
                .unwrap_or(bytes)
        }
        _ => bytes,
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    (parts, axum::body::Body::from(body)).into_response()
}

/// Sets `path`'s mode to `mode` (0700 for the data directory, 0600 for the store's
/// files), whatever it was; an error if that cannot be done, so that the server never runs
/// on a store others can read.
fn make_private(path: &Path, mode: u32) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let set = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    let check = set.and_then(|()| std::fs::metadata(path)).and_then(|m| {
        if m.permissions().mode() & 0o777 == mode {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "its mode is {:o} after setting {mode:o}",
                m.permissions().mode() & 0o777
            )))
        }
    });
    check.map_err(|source| ServerError::NotPrivate {
        path: path.to_path_buf(),
        mode,
        source,
    })
}

/// Now, as RFC 3339 UTC with seconds precision (`2025-01-31T12:00:00Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Displays an error with its whole `source()` chain: `outer: inner: innermost`.
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// The data directory's administrator token file, for callers that only have a path.
pub fn admin_token_file(data_dir: &Path) -> PathBuf {
    data_dir.join(auth::ADMIN_TOKEN_FILE)
}
