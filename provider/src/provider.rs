//! The `tfplugin6.Provider` service: Terraform's calls mapped onto resources and the API.

use std::sync::Arc;

use serde_json::Value as Json;
use tokio::sync::RwLock;
use tonic::{Request, Response, Status};
use wayfinder_model::{FieldPath, parse::object_from_value};

use crate::client::{self, Client, ClientConfig, ClientError, ObjectAddress, StopSignal};
use crate::codec::{Type, Value};
use crate::datasources::{self, DataSourceType};
use crate::diag::{attr, error, error_at, render_path};
use crate::proto::tfplugin6::{self as pb, provider_server::Provider};
use crate::resources::{self, ResourceType, WorkspaceDefault};
use crate::schema::{Attribute, Block, Presence::Optional, Schema};

type Rpc<T> = Result<Response<T>, Status>;

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

    fn resource(&self, type_name: &str) -> Result<&ResourceType, Status> {
        self.resources
            .iter()
            .find(|r| r.type_name == type_name)
            .ok_or_else(|| Status::invalid_argument(format!("unknown resource type {type_name}")))
    }

    fn data_source(&self, type_name: &str) -> Result<&DataSourceType, Status> {
        self.data_sources
            .iter()
            .find(|d| d.type_name == type_name)
            .ok_or_else(|| {
                Status::invalid_argument(format!("unknown data source type {type_name}"))
            })
    }

    async fn client(&self) -> Result<Arc<Client>, pb::Diagnostic> {
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
    async fn ready_client(&self) -> Option<Arc<Client>> {
        match &*self.client.read().await {
            ClientState::Ready(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// The provider's default workspace, as planning sees it.
    async fn workspace_default(&self) -> WorkspaceDefault {
        match &*self.client.read().await {
            ClientState::Ready(c) => match c.default_workspace() {
                Some(ws) => WorkspaceDefault::Known(ws.to_string()),
                None => WorkspaceDefault::None,
            },
            ClientState::Deferred => WorkspaceDefault::Unknown,
            ClientState::Unconfigured => WorkspaceDefault::None,
        }
    }

    /// Checks a wholly known resource value with the model engine.
    fn validate_locally(&self, r: &ResourceType, config: &Value) -> Vec<pb::Diagnostic> {
        let own = r.check_config(config);
        if !own.is_empty() {
            return own;
        }
        if config.has_unknown() {
            return Vec::new();
        }
        let object = r.to_object(config);
        match object_from_value("configuration", 0, object) {
            Err(e) => vec![error_at(
                r.attribute_path(&e.path),
                format!("Invalid {}", r.type_name),
                e.to_string(),
            )],
            Ok(obj) => match obj.validate() {
                Ok(()) => Vec::new(),
                Err(errs) => errs
                    .errors
                    .iter()
                    .map(|e| field_diagnostic(r, &errs.object, &e.path, &e.message))
                    .collect(),
            },
        }
    }

    fn check_stopping(&self) -> Result<(), pb::Diagnostic> {
        if self.stopping.is_stopped() {
            Err(error(
                "Operation cancelled",
                "Terraform asked the provider to stop (for example after Ctrl-C); nothing further was sent to Wayfinder.",
            ))
        } else {
            Ok(())
        }
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
            Attribute::plain("token", Type::String, Optional, "An access token for the API. Falls back to the `WAYFINDER_TOKEN` environment variable.").sensitive(),
            Attribute::plain("workspace", Type::String, Optional, "The default workspace for workspaced resources. Falls back to the `WAYFINDER_WORKSPACE` environment variable."),
            Attribute::plain("ca_cert_pem", Type::String, Optional, "PEM certificate(s) of the certificate authority that signed the API's TLS certificate, when it is not publicly trusted."),
        ],
        },
    }
}

/// One diagnostic for a problem with a Wayfinder field, pointed at its attribute.
fn field_diagnostic(
    r: &ResourceType,
    object: &str,
    field: &FieldPath,
    message: &str,
) -> pb::Diagnostic {
    let path = r.attribute_path(field);
    let shown = path
        .as_ref()
        .map(render_path)
        .unwrap_or_else(|| field.to_string());
    error_at(
        path,
        format!("Invalid {shown}: {message}"),
        format!("{object} does not pass Wayfinder's validation at {field}: {message}"),
    )
}

/// Diagnostics for a failed API call on behalf of a resource.
fn client_diagnostics(
    r: &ResourceType,
    id: &str,
    action: &str,
    e: &ClientError,
) -> Vec<pb::Diagnostic> {
    let subject = client::Subject {
        object: format!("{} {id}", r.kind.kind),
        type_name: &r.type_name,
        import_id: id.to_string(),
        action,
    };
    client::diagnostics(e, &subject, &|p| r.attribute_path(p))
}

fn decode(v: &Option<pb::DynamicValue>, ty: &Type) -> Result<Value, pb::Diagnostic> {
    match v {
        None => Ok(Value::Null),
        Some(dv) => Value::from_dynamic_as(&dv.msgpack, &dv.json, ty).map_err(|e| {
            error(
                "Terraform sent a value the provider cannot read",
                e.to_string(),
            )
        }),
    }
}

fn encode(v: &Value, ty: &Type) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: v.to_msgpack_as(ty),
        json: Vec::new(),
    })
}

fn identity_data(r: &ResourceType, at: &ObjectAddress) -> Option<pb::ResourceIdentityData> {
    Some(pb::ResourceIdentityData {
        identity_data: encode(&r.identity(at), &r.identity_type()),
    })
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Private {
    #[serde(
        rename = "resourceVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    resource_version: Option<String>,
}

fn private_for(object: &Json) -> Vec<u8> {
    let rv = object
        .pointer("/metadata/resourceVersion")
        .and_then(Json::as_str)
        .map(str::to_string);
    serde_json::to_vec(&Private {
        resource_version: rv,
    })
    .unwrap_or_default()
}

fn read_private(bytes: &[u8]) -> Private {
    serde_json::from_slice(bytes).unwrap_or_default()
}

macro_rules! try_diag {
    ($e:expr, $resp:ident) => {
        match $e {
            Ok(v) => v,
            Err(d) => {
                let mut response = pb::$resp::Response::default();
                response.diagnostics = vec![d];
                return Ok(Response::new(response));
            }
        }
    };
}

#[tonic::async_trait]
impl Provider for WayfinderProvider {
    async fn get_metadata(
        &self,
        _: Request<pb::get_metadata::Request>,
    ) -> Rpc<pb::get_metadata::Response> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: self
                .resources
                .iter()
                .map(|r| pb::get_metadata::ResourceMetadata {
                    type_name: r.type_name.clone(),
                })
                .collect(),
            data_sources: self
                .data_sources
                .iter()
                .map(|d| pb::get_metadata::DataSourceMetadata {
                    type_name: d.type_name.clone(),
                })
                .collect(),
            functions: crate::functions::definitions()
                .into_keys()
                .map(|name| pb::get_metadata::FunctionMetadata { name })
                .collect(),
            ephemeral_resources: crate::ephemeral::type_names()
                .into_iter()
                .map(|t| pb::get_metadata::EphemeralMetadata {
                    type_name: t.to_string(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Rpc<pb::get_provider_schema::Response> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(self.provider_schema.to_proto()),
            resource_schemas: self
                .resources
                .iter()
                .map(|r| (r.type_name.clone(), r.schema().to_proto()))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|d| (d.type_name.clone(), d.schema().to_proto()))
                .collect(),
            server_capabilities: Some(capabilities()),
            functions: crate::functions::definitions().into_iter().collect(),
            ephemeral_resource_schemas: ephemeral_schemas(),
            ..Default::default()
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Rpc<pb::get_resource_identity_schemas::Response> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .resources
                .iter()
                .map(|r| (r.type_name.clone(), r.identity_schema()))
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn get_functions(
        &self,
        _: Request<pb::get_functions::Request>,
    ) -> Rpc<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response {
            functions: crate::functions::definitions().into_iter().collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> Rpc<pb::call_function::Response> {
        let req = req.into_inner();
        let mut args = Vec::with_capacity(req.arguments.len());
        for (i, a) in req.arguments.iter().enumerate() {
            match Value::from_dynamic(&a.msgpack, &a.json) {
                Ok(v) => args.push(v),
                Err(e) => {
                    return Ok(Response::new(pb::call_function::Response {
                        result: None,
                        error: Some(pb::FunctionError {
                            text: format!("cannot read argument {i}: {e}"),
                            function_argument: Some(i as i64),
                        }),
                    }));
                }
            }
        }
        Ok(Response::new(
            match crate::functions::call(&req.name, &args) {
                Ok(v) => pb::call_function::Response {
                    result: encode(&v, &crate::functions::cost_type()),
                    error: None,
                },
                Err(e) => pb::call_function::Response {
                    result: None,
                    error: Some(e.to_proto()),
                },
            },
        ))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Rpc<pb::validate_ephemeral_resource_config::Response> {
        let req = req.get_ref();
        if !crate::ephemeral::type_names().contains(&req.type_name.as_str()) {
            return Ok(Response::new(
                pb::validate_ephemeral_resource_config::Response {
                    diagnostics: vec![crate::ephemeral::unknown_type(&req.type_name)],
                },
            ));
        }
        let config = try_diag!(
            decode(&req.config, &crate::ephemeral::schema().value_type()),
            validate_ephemeral_resource_config
        );
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: crate::ephemeral::validate(&config),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Rpc<pb::open_ephemeral_resource::Response> {
        let req = req.into_inner();
        if !crate::ephemeral::type_names().contains(&req.type_name.as_str()) {
            return Ok(Response::new(pb::open_ephemeral_resource::Response {
                diagnostics: vec![crate::ephemeral::unknown_type(&req.type_name)],
                ..Default::default()
            }));
        }
        let config = try_diag!(
            decode(&req.config, &crate::ephemeral::schema().value_type()),
            open_ephemeral_resource
        );
        let client = try_diag!(self.client().await, open_ephemeral_resource);
        Ok(Response::new(
            match crate::ephemeral::open(&client, &config).await {
                Ok(result) => pb::open_ephemeral_resource::Response {
                    result: encode(&result, &crate::ephemeral::schema().value_type()),
                    ..Default::default()
                },
                Err(diagnostics) => pb::open_ephemeral_resource::Response {
                    diagnostics,
                    ..Default::default()
                },
            },
        ))
    }

    async fn renew_ephemeral_resource(
        &self,
        _: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Rpc<pb::renew_ephemeral_resource::Response> {
        // Open sets no renew_at: the server cannot extend a token, it expires.
        Ok(Response::new(Default::default()))
    }

    async fn close_ephemeral_resource(
        &self,
        _: Request<pb::close_ephemeral_resource::Request>,
    ) -> Rpc<pb::close_ephemeral_resource::Response> {
        // The server has no revocation for cluster tokens; they expire on their own.
        Ok(Response::new(Default::default()))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Rpc<pb::validate_provider_config::Response> {
        let config = try_diag!(
            decode(&req.get_ref().config, &self.provider_schema.value_type()),
            validate_provider_config
        );
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
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics,
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        let req = req.into_inner();
        tracing::info!(terraform_version = %req.terraform_version, "configuring the wayfinder provider");
        let config = try_diag!(
            decode(&req.config, &self.provider_schema.value_type()),
            configure_provider
        );
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
            return Ok(Response::new(Default::default()));
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
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics,
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let req = req.get_ref();
        let r = self.resource(&req.type_name)?;
        let config = try_diag!(
            decode(&req.config, &r.value_type()),
            validate_resource_config
        );
        let mut diagnostics = self.validate_locally(r, &config);
        if let Some(b) = r.behaviour() {
            diagnostics.extend(b.validate(&config));
        }
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics,
        }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        let req = req.get_ref();
        let r = self.resource(&req.type_name)?;
        if req.version > r.schema().version {
            return Ok(Response::new(pb::upgrade_resource_state::Response {
                diagnostics: vec![error(
                    "State written by a newer provider",
                    format!(
                        "{} state is at schema version {}, but this provider knows versions up to {}. Use a newer terraform-provider-wayfinder.",
                        r.type_name,
                        req.version,
                        r.schema().version
                    ),
                )],
                ..Default::default()
            }));
        }
        let raw = req
            .raw_state
            .as_ref()
            .map(|s| s.json.as_slice())
            .unwrap_or_default();
        let ty = r.value_type();
        let value = try_diag!(
            serde_json::from_slice::<Json>(raw)
                .map_err(crate::codec::DecodeError::from)
                .and_then(|j| Value::from_json_as(&j, &ty))
                .map_err(|e| error("Cannot read the stored state", e.to_string())),
            upgrade_resource_state
        );
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: encode(&value.conform(&ty), &ty),
            diagnostics: Vec::new(),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Rpc<pb::read_resource::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let ty = r.value_type();
        let current = try_diag!(decode(&req.current_state, &ty), read_resource);
        let gone = || {
            Ok(Response::new(pb::read_resource::Response {
                new_state: encode(&Value::Null, &ty),
                ..Default::default()
            }))
        };
        let Some(at) = r.address(&current) else {
            return gone();
        };
        let client = try_diag!(self.client().await, read_resource);
        match client.read_object(r.kind, &at).await {
            Ok(None) => {
                tracing::info!(
                    kind = r.kind.kind,
                    id = at.id(),
                    "object is gone; removing it from state"
                );
                gone()
            }
            Ok(Some(object)) => {
                let state = r.read_state(&object, &current);
                Ok(Response::new(pb::read_resource::Response {
                    new_identity: r.address(&state).and_then(|a| identity_data(r, &a)),
                    new_state: encode(&state, &ty),
                    private: private_for(&object),
                    ..Default::default()
                }))
            }
            Err(e) => Ok(Response::new(pb::read_resource::Response {
                diagnostics: client_diagnostics(r, &at.id(), "read", &e),
                ..Default::default()
            })),
        }
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let ty = r.value_type();
        let prior = try_diag!(decode(&req.prior_state, &ty), plan_resource_change);
        let proposed = try_diag!(decode(&req.proposed_new_state, &ty), plan_resource_change);
        let config = try_diag!(decode(&req.config, &ty), plan_resource_change);
        if proposed.is_null() {
            return Ok(Response::new(pb::plan_resource_change::Response {
                planned_state: encode(&Value::Null, &ty),
                planned_private: req.prior_private,
                ..Default::default()
            }));
        }
        let workspace = self.workspace_default().await;
        let mut planned = r.plan(&prior, proposed, &config, &workspace);
        if prior.is_null() {
            planned
                .diagnostics
                .extend(r.create_warnings(&planned.state));
        }
        if let Some(b) = r.behaviour() {
            let client = self.ready_client().await;
            let ctx = resources::PlanContext {
                resource: r,
                client: client.as_deref(),
                prior: &prior,
                config: &config,
            };
            b.plan(ctx, &mut planned).await;
        }
        let planned_identity = r.address(&planned.state).and_then(|a| identity_data(r, &a));
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: encode(&planned.state, &ty),
            requires_replace: planned.requires_replace,
            planned_private: req.prior_private,
            diagnostics: planned.diagnostics,
            planned_identity,
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let ty = r.value_type();
        let prior = try_diag!(decode(&req.prior_state, &ty), apply_resource_change);
        let planned = try_diag!(decode(&req.planned_state, &ty), apply_resource_change);
        try_diag!(self.check_stopping(), apply_resource_change);
        let client = try_diag!(self.client().await, apply_resource_change);
        let Some(at) = r.address(if planned.is_null() { &prior } else { &planned }) else {
            return Ok(Response::new(pb::apply_resource_change::Response {
                diagnostics: vec![error(
                    format!("Cannot tell which {} this is", r.kind.kind),
                    "The name, workspace or version is unknown at apply time; this is a bug in the provider.",
                )],
                ..Default::default()
            }));
        };
        let action = if planned.is_null() {
            "delete"
        } else if prior.is_null() {
            "create"
        } else {
            "update"
        };
        let fail = |e: ClientError| {
            Ok(Response::new(pb::apply_resource_change::Response {
                diagnostics: client_diagnostics(r, &at.id(), action, &e),
                ..Default::default()
            }))
        };
        if planned.is_null() {
            return match client.delete_object(r.kind, &at).await {
                Ok(_) => {
                    let diagnostics = match r.behaviour() {
                        Some(b) => {
                            b.after_delete(resources::ApplyContext {
                                resource: r,
                                client: &client,
                                at: &at,
                                value: &prior,
                            })
                            .await
                        }
                        None => Vec::new(),
                    };
                    // Not gone (a failure or a timeout): the object stays in the state.
                    let left = if diagnostics.is_empty() {
                        &Value::Null
                    } else {
                        &prior
                    };
                    Ok(Response::new(pb::apply_resource_change::Response {
                        new_state: encode(left, &ty),
                        diagnostics,
                        ..Default::default()
                    }))
                }
                Err(e) => fail(e),
            };
        }
        let mut object = r.to_object(&planned);
        let result = if prior.is_null() {
            client
                .create_object(r.kind, at.workspace.as_deref(), &object, false)
                .await
        } else {
            if let Some(rv) = read_private(&req.planned_private).resource_version {
                object["metadata"]["resourceVersion"] = Json::String(rv);
            }
            client.update_object(r.kind, &at, &object, false).await
        };
        match result {
            Ok(stored) => {
                let (stored, diagnostics) = match r.behaviour() {
                    Some(b) => {
                        let ctx = resources::ApplyContext {
                            resource: r,
                            client: &client,
                            at: &at,
                            value: &planned,
                        };
                        b.after_write(ctx, stored, prior.is_null()).await
                    }
                    None => (stored, Vec::new()),
                };
                let state = r.applied_state(&stored, &planned);
                Ok(Response::new(pb::apply_resource_change::Response {
                    new_identity: r.address(&state).and_then(|a| identity_data(r, &a)),
                    new_state: encode(&state, &ty),
                    private: private_for(&stored),
                    diagnostics,
                }))
            }
            Err(e) => fail(e),
        }
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let client = try_diag!(self.client().await, import_resource_state);
        let default_ws = client.default_workspace();
        let identity = req
            .identity
            .as_ref()
            .and_then(|i| i.identity_data.as_ref())
            .filter(|d| !d.msgpack.is_empty() || !d.json.is_empty());
        let at = match identity {
            Some(data) => {
                let id = try_diag!(
                    decode(&Some(data.clone()), &r.identity_type()),
                    import_resource_state
                );
                try_diag!(
                    r.address_from_identity(&id, default_ws),
                    import_resource_state
                )
            }
            None => try_diag!(
                r.parse_import_id(&req.id, default_ws),
                import_resource_state
            ),
        };
        let at = if r.kind.versioned && at.version.is_none() {
            // `NAME` of a versioned kind: its latest published version.
            match client.read_object(r.kind, &at).await {
                Ok(Some(object)) => resources::object_address(r.kind, &object),
                Ok(None) => {
                    return Ok(Response::new(pb::import_resource_state::Response {
                        diagnostics: vec![error(
                            format!("Cannot import {} {}", r.kind.kind, at.name),
                            format!(
                                "{} {:?} has no published version. Import a given version with `{}@VERSION`.",
                                r.kind.kind, at.name, at.name
                            ),
                        )],
                        ..Default::default()
                    }));
                }
                Err(e) => {
                    return Ok(Response::new(pb::import_resource_state::Response {
                        diagnostics: client_diagnostics(r, &at.id(), "import", &e),
                        ..Default::default()
                    }));
                }
            }
        } else {
            at
        };
        let state = r.import_stub(&at);
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: r.type_name.clone(),
                state: encode(&state, &r.value_type()),
                identity: identity_data(r, &at),
                ..Default::default()
            }],
            ..Default::default()
        }))
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Rpc<pb::generate_resource_config::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let ty = r.value_type();
        let state = try_diag!(decode(&req.state, &ty), generate_resource_config);
        Ok(Response::new(pb::generate_resource_config::Response {
            config: encode(&r.generate_config(&state), &ty),
            diagnostics: Vec::new(),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Rpc<pb::validate_data_resource_config::Response> {
        let req = req.get_ref();
        let d = self.data_source(&req.type_name)?;
        let config = try_diag!(
            decode(&req.config, &d.value_type()),
            validate_data_resource_config
        );
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: d.validate(&config),
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        let req = req.into_inner();
        let d = self.data_source(&req.type_name)?;
        let ty = d.value_type();
        let config = try_diag!(decode(&req.config, &ty), read_data_source);
        let client = try_diag!(self.client().await, read_data_source);
        Ok(Response::new(match d.read(&client, &config).await {
            Ok(state) => pb::read_data_source::Response {
                state: encode(&state, &ty),
                ..Default::default()
            },
            Err(diagnostics) => pb::read_data_source::Response {
                diagnostics,
                ..Default::default()
            },
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> Rpc<pb::stop_provider::Response> {
        tracing::info!("Terraform asked the provider to stop");
        self.stopping.stop();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn ephemeral_schemas() -> std::collections::HashMap<String, pb::Schema> {
    crate::ephemeral::type_names()
        .into_iter()
        .map(|t| (t.to_string(), crate::ephemeral::schema().to_proto()))
        .collect()
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        generate_resource_config: true,
        ..Default::default()
    }
}
