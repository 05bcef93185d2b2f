//! Serving the provider the way go-plugin expects: the handshake line on stdout, gRPC over
//! TCP on loopback (with Terraform's automatic mTLS), and the host services Terraform calls.

use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::server::{Connected, Router};
use tonic::{Request, Response, Status};

use crate::proto::plugin::{
    self as plugin_pb, grpc_controller_server::GrpcController,
    grpc_controller_server::GrpcControllerServer, grpc_stdio_server::GrpcStdio,
    grpc_stdio_server::GrpcStdioServer,
};
use crate::proto::tfplugin6::provider_server::ProviderServer;
use crate::provider::WayfinderProvider;
use crate::tls;

/// The cookie Terraform and OpenTofu set so that a plugin knows it was launched by them.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The provider's full address, a key of `TF_REATTACH_PROVIDERS`.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/wayfinder/wayfinder";
/// The provider's full address under OpenTofu's registry, where OpenTofu resolves
/// `source = "wayfinder/wayfinder"`: the other key of `TF_REATTACH_PROVIDERS`.
pub const OPENTOFU_PROVIDER_ADDRESS: &str = "registry.opentofu.org/wayfinder/wayfinder";
/// Largest gRPC message either way, as terraform-plugin-go allows.
const MAX_MESSAGE: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "this binary is a Terraform provider plugin: Terraform or OpenTofu start it themselves. \
         To run it for debugging, use --debug and set the TF_REATTACH_PROVIDERS value it prints"
    )]
    NotLaunchedByTerraform,
    #[error(
        "Terraform offered plugin protocol versions {0:?}; this provider speaks version 6 (Terraform 1.0 or newer, OpenTofu 1.6 or newer)"
    )]
    UnsupportedProtocol(String),
    #[error("invalid {name} {value:?}: {reason}")]
    BadEnvironment {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot listen on loopback: {0}")]
    Listen(#[source] std::io::Error),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot write the handshake line to stdout: {0}")]
    Handshake(#[source] std::io::Error),
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// Serves as a plugin launched by Terraform, until Terraform says to shut down.
pub async fn serve_plugin() -> Result<(), ServeError> {
    if std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(ServeError::NotLaunchedByTerraform);
    }
    if let Ok(versions) = std::env::var("PLUGIN_PROTOCOL_VERSIONS")
        && !versions.split(',').any(|v| v.trim() == "6")
    {
        return Err(ServeError::UnsupportedProtocol(versions));
    }
    let listener = bind_loopback().await?;
    let addr = listener.local_addr().map_err(ServeError::Listen)?;
    let client_cert = std::env::var("PLUGIN_CLIENT_CERT")
        .ok()
        .filter(|c| !c.trim().is_empty());
    // go-plugin servers ignore SIGINT: Ctrl-C reaches the whole process group, and
    // Terraform answers it with StopProvider, so in-flight work can finish cleanly.
    tokio::spawn(async {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                break;
            }
            tracing::debug!("ignoring SIGINT; Terraform will call StopProvider");
        }
    });
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let router = router(shutdown_tx);
    let shutdown = async move {
        let mut rx = shutdown_rx;
        let _ = rx.wait_for(|s| *s).await;
    };
    match client_cert {
        Some(pem) => {
            let tls = tls::server_tls(&pem)?;
            let cert = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&tls.cert_der);
            handshake(addr, &cert)?;
            let incoming = tls_incoming(listener, tls.config);
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await?;
        }
        None => {
            handshake(addr, "")?;
            router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
                .await?;
        }
    }
    Ok(())
}

/// Serves without TLS for a debugger, printing the `TF_REATTACH_PROVIDERS` value (the same
/// server under both registry addresses, so it works unchanged for Terraform and OpenTofu);
/// runs until interrupted.
pub async fn serve_debug() -> Result<(), ServeError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(ServeError::Listen)?;
    let addr = listener.local_addr().map_err(ServeError::Listen)?;
    let entry = serde_json::json!({
        "Protocol": "grpc",
        "ProtocolVersion": 6,
        "Pid": std::process::id(),
        "Test": true,
        "Addr": { "Network": "tcp", "String": addr.to_string() }
    });
    let reattach = serde_json::json!({
        PROVIDER_ADDRESS: entry.clone(),
        OPENTOFU_PROVIDER_ADDRESS: entry,
    });
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Provider started. To attach Terraform CLI or OpenTofu, set the TF_REATTACH_PROVIDERS environment variable with the following:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n"
    )
    .and_then(|_| out.flush())
    .map_err(ServeError::Handshake)?;
    drop(out);
    let (shutdown_tx, mut shutdown_rx) = tokio::sync::watch::channel(false);
    let router = router(shutdown_tx);
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = shutdown_rx.wait_for(|s| *s) => {}
        }
    };
    router
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

fn router(shutdown: tokio::sync::watch::Sender<bool>) -> Router {
    let provider = ProviderServer::new(WayfinderProvider::new())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        health_reporter
            .set_service_status("plugin", tonic_health::ServingStatus::Serving)
            .await;
    });
    tonic::transport::Server::builder()
        .add_service(provider)
        .add_service(GrpcControllerServer::new(Controller { shutdown }))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_service(health)
}

/// Binds 127.0.0.1 within `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT` (0..0: any port).
async fn bind_loopback() -> Result<TcpListener, ServeError> {
    let port = |name: &'static str| -> Result<u16, ServeError> {
        match std::env::var(name) {
            Err(_) => Ok(0),
            Ok(v) if v.is_empty() => Ok(0),
            Ok(v) => v
                .parse()
                .map_err(|e: std::num::ParseIntError| ServeError::BadEnvironment {
                    name,
                    value: v,
                    reason: e.to_string(),
                }),
        }
    };
    let (min, max) = (port("PLUGIN_MIN_PORT")?, port("PLUGIN_MAX_PORT")?);
    if min == 0 && max == 0 {
        return TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ServeError::Listen);
    }
    let mut last = None;
    for p in min..=max.max(min) {
        match TcpListener::bind(("127.0.0.1", p)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(ServeError::Listen(last.unwrap_or_else(|| {
        std::io::Error::other("empty port range")
    })))
}

/// The go-plugin handshake: `CORE|APP|NET|ADDR|PROTO|CERT`, the first and only line we
/// print on stdout; the certificate is unpadded base64 DER, empty without TLS.
fn handshake(addr: SocketAddr, cert: &str) -> Result<(), ServeError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "1|6|tcp|{addr}|grpc|{cert}")
        .and_then(|_| out.flush())
        .map_err(ServeError::Handshake)
}

/// Accepted connections after their TLS handshake; a failed handshake is logged and
/// dropped without disturbing the others.
fn tls_incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> ReceiverStream<Result<TlsConn, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Small gRPC answers must not wait for Terraform's ACK of the previous segment
            // (Nagle): with it, a plan of 1,000 resources took nearly twice as long.
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// A TLS connection that tonic can serve.
pub struct TlsConn(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for TlsConn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// `plugin.GRPCController`: Terraform's request to exit.
struct Controller {
    shutdown: tokio::sync::watch::Sender<bool>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(
        &self,
        _: Request<plugin_pb::Empty>,
    ) -> Result<Response<plugin_pb::Empty>, Status> {
        tracing::debug!("Terraform asked the provider to shut down");
        let _ = self.shutdown.send(true);
        // Terraform waits two seconds for us to exit before killing us; graceful shutdown
        // would wait for Terraform to hang up first, so leave promptly instead.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::process::exit(0);
        });
        Ok(Response::new(plugin_pb::Empty {}))
    }
}

type StdioStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<plugin_pb::StdioData, Status>> + Send>>;

/// `plugin.GRPCStdio`: we log to our real stderr, which Terraform already reads, so the
/// stream stays open and carries nothing.
struct Stdio;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<StdioStream>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}
