//! The provider itself, apart from the protocol: its resource and data source types, its
//! configuration (the API client) and Terraform's stop signal. The protocol server
//! (`crate::server`) decodes each call and hands it here or to a resource's lifecycle.

use std::sync::Arc;

use tokio::sync::RwLock;

use crate::client::{Client, ClientConfig, StopSignal};
use crate::codec::{Type, Value};
use crate::datasources::{self, DataSourceType};
use crate::diag::{Diagnostic, attr, error, error_at};
use crate::resources::{self, ResourceType, WorkspaceDefault};
use crate::schema::{Attribute, Block, Presence::Optional, Schema};

/// The provider's state for one Terraform-started process.
pub struct WayfinderProvider {
    resources: Vec<ResourceType>,
    data_sources: Vec<DataSourceType>,
    provider_schema: Schema,
    client: RwLock<ClientState>,
    stopping: StopSignal,
}

enum ClientState {
    Unconfigured,
    /// Configuration depends on values Terraform will know only after apply.
    Deferred,
    Ready(Arc<Client>),
}

impl Default for WayfinderProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl WayfinderProvider {
    pub fn new() -> Self {
        Self {
            resources: resources::all(),
            data_sources: datasources::all(),
            provider_schema: provider_schema(),
            client: RwLock::new(ClientState::Unconfigured),
            stopping: StopSignal::new(),
        }
    }

    pub(crate) fn resources(&self) -> &[ResourceType] {
        &self.resources
    }

    pub(crate) fn data_sources(&self) -> &[DataSourceType] {
        &self.data_sources
    }

    pub(crate) fn provider_schema(&self) -> &Schema {
        &self.provider_schema
    }

    pub(crate) fn resource(&self, type_name: &str) -> Option<&ResourceType> {
        self.resources.iter().find(|r| r.type_name == type_name)
    }

    pub(crate) fn data_source(&self, type_name: &str) -> Option<&DataSourceType> {
        self.data_sources.iter().find(|d| d.type_name == type_name)
    }

    /// The API client, or why there is none.
    pub(crate) async fn client(&self) -> Result<Arc<Client>, Diagnostic> {
        match &*self.client.read().await {
            ClientState::Ready(c) => Ok(c.clone()),
            ClientState::Deferred => Err(error(
                "Provider configuration is not known yet",
                "The wayfinder provider block uses values that are known only after apply, so the provider cannot reach the API yet. Apply the resources it depends on first (terraform apply -target=...), or configure the provider from values known at plan time.",
            )),
            ClientState::Unconfigured => Err(error(
                "Provider is not configured",
                "Terraform did not configure the wayfinder provider before using it; this is a bug in the provider or Terraform.",
            )),
        }
    }

    /// The client, when the provider is configured with known values.
    pub(crate) async fn ready_client(&self) -> Option<Arc<Client>> {
        match &*self.client.read().await {
            ClientState::Ready(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// The provider's default workspace, as planning sees it.
    pub(crate) async fn workspace_default(&self) -> WorkspaceDefault {
        match &*self.client.read().await {
            ClientState::Ready(c) => match c.default_workspace() {
                Some(ws) => WorkspaceDefault::Known(ws.to_string()),
                None => WorkspaceDefault::None,
            },
            ClientState::Deferred => WorkspaceDefault::Unknown,
            ClientState::Unconfigured => WorkspaceDefault::None,
        }
    }

    /// An error once Terraform asked the provider to stop.
    pub(crate) fn check_stopping(&self) -> Result<(), Diagnostic> {
        if self.stopping.is_stopped() {
            Err(error(
                "Operation cancelled",
                "Terraform asked the provider to stop (for example after Ctrl-C); nothing further was sent to Wayfinder.",
            ))
        } else {
            Ok(())
        }
    }

    /// Terraform's StopProvider: what waits or retries ends at once.
    pub(crate) fn stop(&self) {
        tracing::info!("Terraform asked the provider to stop");
        self.stopping.stop();
    }

    /// Checks the provider block.
    pub(crate) fn validate_config(&self, config: &Value) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        if let Some(server) = config.get("server").as_str()
            && !(server.starts_with("http://") || server.starts_with("https://"))
        {
            diagnostics.push(error_at(
                Some(attr("server")),
                "Invalid server URL",
                format!("{server:?} must start with https:// (or http:// for a local server), e.g. https://wayfinder.example.com"),
            ));
        }
        diagnostics
    }

    /// Configures the API client from the provider block and the environment; waits
    /// (deferred) while the block holds values known only after apply.
    pub(crate) async fn configure(&self, config: &Value) -> Vec<Diagnostic> {
        let mut unknown = false;
        let mut setting = |name: &str, env: &str| -> Option<String> {
            match config.get(name) {
                Value::Unknown => {
                    unknown = true;
                    None
                }
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                _ => std::env::var(env).ok().filter(|v| !v.is_empty()),
            }
        };
        let server = setting("server", "WAYFINDER_SERVER");
        let token = setting("token", "WAYFINDER_TOKEN");
        let workspace = setting("workspace", "WAYFINDER_WORKSPACE");
        let ca_cert_pem = setting("ca_cert_pem", "WAYFINDER_CA_CERT_PEM");
        if unknown {
            *self.client.write().await = ClientState::Deferred;
            return Vec::new();
        }
        let mut diagnostics = Vec::new();
        if server.is_none() {
            diagnostics.push(error_at(
                Some(attr("server")),
                "No Wayfinder API address",
                "Set `server` in the wayfinder provider block or the WAYFINDER_SERVER environment variable, e.g. https://wayfinder.example.com.",
            ));
        }
        if token.is_none() {
            diagnostics.push(error_at(
                Some(attr("token")),
                "No Wayfinder access token",
                "Set `token` in the wayfinder provider block or the WAYFINDER_TOKEN environment variable (in CI, from a secret).",
            ));
        }
        if let Some(w) = server
            .as_deref()
            .and_then(crate::plaintext::plain_http_warning)
        {
            diagnostics.push(w);
        }
        if let (Some(server), Some(token)) = (server, token) {
            match Client::new(&ClientConfig {
                server,
                token,
                workspace,
                ca_cert_pem,
            }) {
                Ok(c) => {
                    *self.client.write().await =
                        ClientState::Ready(Arc::new(c.with_stop(self.stopping.clone())))
                }
                Err(e) => diagnostics.push(error("Invalid provider configuration", e.to_string())),
            }
        }
        diagnostics
    }
}

fn provider_schema() -> Schema {
    Schema {
        version: 0,
        block: Block {
        description: "The Wayfinder provider manages a Wayfinder platform — cloud access, plans, policies — and provisions self-service clusters from it.".into(),
        blocks: Vec::new(),
        attributes: vec![
            Attribute::plain("server", Type::String, Optional, "URL of the Wayfinder API, e.g. `https://wayfinder.example.com`. Falls back to the `WAYFINDER_SERVER` environment variable."),
            Attribute::plain("token", Type::String, Optional, "A Wayfinder access token: an AccessToken's token (an exchange token, traded for short-lived API tokens at the server's `/exchange` as Wayfinder's own clients do) or a plain API token. Falls back to the `WAYFINDER_TOKEN` environment variable.").sensitive(),
            Attribute::plain("workspace", Type::String, Optional, "The default workspace for workspaced resources. Falls back to the `WAYFINDER_WORKSPACE` environment variable."),
            Attribute::plain("ca_cert_pem", Type::String, Optional, "PEM certificate(s) of the certificate authority that signed the API's TLS certificate, when it is not publicly trusted."),
        ],
        },
    }
}
