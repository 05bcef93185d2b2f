//! The `tfplugin6.Provider` gRPC service: for each call, decode Terraform's request, call the
//! provider ([`WayfinderProvider`]) or a resource's lifecycle, and encode the answer. This
//! module and [`to_proto`] are the only provider code that knows the protocol's types.

pub(crate) mod to_proto;

use tonic::{Request, Response, Status};

use crate::codec::{Type, Value};
use crate::datasources::DataSourceType;
use crate::diag::{Diagnostic, error};
use crate::ephemeral;
use crate::functions;
use crate::proto::tfplugin6::{self as pb, provider_server::Provider};
use crate::provider::WayfinderProvider;
use crate::resources::ResourceType;

type Rpc<T> = Result<Response<T>, Status>;

fn decode(v: &Option<pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostic> {
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

fn identity_data(r: &ResourceType, identity: &Value) -> pb::ResourceIdentityData {
    pb::ResourceIdentityData {
        identity_data: encode(identity, &r.identity_type()),
    }
}

/// The answer `Response` of a call that failed with `diagnostics` and nothing else.
macro_rules! try_diag {
    ($e:expr, $resp:ident) => {
        match $e {
            Ok(v) => v,
            Err(d) => {
                let mut response = pb::$resp::Response::default();
                response.diagnostics = Diags::from(d).0;
                return Ok(Response::new(response));
            }
        }
    };
}

/// One diagnostic or several, in the protocol's form.
struct Diags(Vec<pb::Diagnostic>);

impl From<Diagnostic> for Diags {
    fn from(d: Diagnostic) -> Self {
        Diags(vec![to_proto::diagnostic(d)])
    }
}

impl From<Vec<Diagnostic>> for Diags {
    fn from(ds: Vec<Diagnostic>) -> Self {
        Diags(to_proto::diagnostics(ds))
    }
}

impl WayfinderProvider {
    fn resource_type(&self, type_name: &str) -> Result<&ResourceType, Status> {
        self.resource(type_name)
            .ok_or_else(|| Status::invalid_argument(format!("unknown resource type {type_name}")))
    }

    fn data_source_type(&self, type_name: &str) -> Result<&DataSourceType, Status> {
        self.data_source(type_name).ok_or_else(|| {
            Status::invalid_argument(format!("unknown data source type {type_name}"))
        })
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        generate_resource_config: true,
        ..Default::default()
    }
}

fn function_definitions() -> std::collections::HashMap<String, pb::Function> {
    functions::definitions()
        .into_iter()
        .map(|(name, f)| (name, to_proto::function(f)))
        .collect()
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
                .resources()
                .iter()
                .map(|r| pb::get_metadata::ResourceMetadata {
                    type_name: r.type_name.clone(),
                })
                .collect(),
            data_sources: self
                .data_sources()
                .iter()
                .map(|d| pb::get_metadata::DataSourceMetadata {
                    type_name: d.type_name.clone(),
                })
                .collect(),
            functions: functions::definitions()
                .into_keys()
                .map(|name| pb::get_metadata::FunctionMetadata { name })
                .collect(),
            ephemeral_resources: ephemeral::type_names()
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
            provider: Some(to_proto::schema(self.provider_schema())),
            resource_schemas: self
                .resources()
                .iter()
                .map(|r| (r.type_name.clone(), to_proto::schema(r.schema())))
                .collect(),
            data_source_schemas: self
                .data_sources()
                .iter()
                .map(|d| (d.type_name.clone(), to_proto::schema(d.schema())))
                .collect(),
            server_capabilities: Some(capabilities()),
            functions: function_definitions(),
            ephemeral_resource_schemas: ephemeral::type_names()
                .into_iter()
                .map(|t| (t.to_string(), to_proto::schema(&ephemeral::schema())))
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Rpc<pb::get_resource_identity_schemas::Response> {
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .resources()
                .iter()
                .map(|r| {
                    let schema = to_proto::identity_schema(r.identity_schema());
                    (r.type_name.clone(), schema)
                })
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn get_functions(
        &self,
        _: Request<pb::get_functions::Request>,
    ) -> Rpc<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response {
            functions: function_definitions(),
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
        Ok(Response::new(match functions::call(&req.name, &args) {
            Ok(v) => pb::call_function::Response {
                result: encode(&v, &functions::cost_type()),
                error: None,
            },
            Err(e) => pb::call_function::Response {
                result: None,
                error: Some(to_proto::function_error(e)),
            },
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Rpc<pb::validate_ephemeral_resource_config::Response> {
        let req = req.get_ref();
        try_diag!(
            ephemeral::check_type(&req.type_name),
            validate_ephemeral_resource_config
        );
        let config = try_diag!(
            decode(&req.config, &ephemeral::schema().value_type()),
            validate_ephemeral_resource_config
        );
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: to_proto::diagnostics(ephemeral::validate(&config)),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Rpc<pb::open_ephemeral_resource::Response> {
        let req = req.into_inner();
        try_diag!(
            ephemeral::check_type(&req.type_name),
            open_ephemeral_resource
        );
        let ty = ephemeral::schema().value_type();
        let config = try_diag!(decode(&req.config, &ty), open_ephemeral_resource);
        let client = try_diag!(self.client().await, open_ephemeral_resource);
        let result = try_diag!(
            ephemeral::open(&client, &config).await,
            open_ephemeral_resource
        );
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            result: encode(&result, &ty),
            ..Default::default()
        }))
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
        let ty = self.provider_schema().value_type();
        let config = try_diag!(decode(&req.get_ref().config, &ty), validate_provider_config);
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: to_proto::diagnostics(self.validate_config(&config)),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        let req = req.into_inner();
        tracing::info!(terraform_version = %req.terraform_version, "configuring the wayfinder provider");
        let ty = self.provider_schema().value_type();
        let config = try_diag!(decode(&req.config, &ty), configure_provider);
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: to_proto::diagnostics(self.configure(&config).await),
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let req = req.get_ref();
        let r = self.resource_type(&req.type_name)?;
        let config = try_diag!(
            decode(&req.config, &r.value_type()),
            validate_resource_config
        );
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: to_proto::diagnostics(r.validate(&config)),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        let req = req.get_ref();
        let r = self.resource_type(&req.type_name)?;
        let raw = req.raw_state.as_ref().map(|s| s.json.as_slice());
        let value = try_diag!(
            r.upgrade(req.version, raw.unwrap_or_default()),
            upgrade_resource_state
        );
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: encode(&value, &r.value_type()),
            diagnostics: Vec::new(),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Rpc<pb::read_resource::Response> {
        let req = req.into_inner();
        let r = self.resource_type(&req.type_name)?;
        let ty = r.value_type();
        let current = try_diag!(decode(&req.current_state, &ty), read_resource);
        let client = self.client().await;
        let read = try_diag!(
            r.read(client.as_deref().map_err(Clone::clone), &current)
                .await,
            read_resource
        );
        Ok(Response::new(pb::read_resource::Response {
            new_identity: read.identity.map(|i| identity_data(r, &i)),
            new_state: encode(&read.state, &ty),
            private: read.private,
            ..Default::default()
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let req = req.into_inner();
        let r = self.resource_type(&req.type_name)?;
        let ty = r.value_type();
        let prior = try_diag!(decode(&req.prior_state, &ty), plan_resource_change);
        let proposed = try_diag!(decode(&req.proposed_new_state, &ty), plan_resource_change);
        let config = try_diag!(decode(&req.config, &ty), plan_resource_change);
        let client = self.ready_client().await;
        let workspace = self.workspace_default().await;
        let planned = r
            .plan_change(client.as_deref(), &workspace, &prior, proposed, &config)
            .await;
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: encode(&planned.state, &ty),
            requires_replace: planned
                .requires_replace
                .iter()
                .map(to_proto::attribute_path)
                .collect(),
            planned_private: req.prior_private,
            diagnostics: to_proto::diagnostics(planned.diagnostics),
            planned_identity: planned.identity.map(|i| identity_data(r, &i)),
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let req = req.into_inner();
        let r = self.resource_type(&req.type_name)?;
        let ty = r.value_type();
        let prior = try_diag!(decode(&req.prior_state, &ty), apply_resource_change);
        let planned = try_diag!(decode(&req.planned_state, &ty), apply_resource_change);
        try_diag!(self.check_stopping(), apply_resource_change);
        let client = try_diag!(self.client().await, apply_resource_change);
        let applied = try_diag!(
            r.apply(&client, &prior, &planned, &req.planned_private)
                .await,
            apply_resource_change
        );
        Ok(Response::new(pb::apply_resource_change::Response {
            new_identity: applied.identity.map(|i| identity_data(r, &i)),
            new_state: encode(&applied.state, &ty),
            private: applied.private,
            diagnostics: to_proto::diagnostics(applied.diagnostics),
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        let req = req.into_inner();
        let r = self.resource_type(&req.type_name)?;
        let client = try_diag!(self.client().await, import_resource_state);
        let identity = match req
            .identity
            .and_then(|i| i.identity_data)
            .filter(|d| !d.msgpack.is_empty() || !d.json.is_empty())
        {
            Some(data) => Some(try_diag!(
                decode(&Some(data), &r.identity_type()),
                import_resource_state
            )),
            None => None,
        };
        let imported = try_diag!(
            r.import(&client, &req.id, identity.as_ref()).await,
            import_resource_state
        );
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: r.type_name.clone(),
                state: encode(&imported.state, &r.value_type()),
                identity: Some(identity_data(r, &imported.identity)),
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
        let r = self.resource_type(&req.type_name)?;
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
        let d = self.data_source_type(&req.type_name)?;
        let config = try_diag!(
            decode(&req.config, &d.value_type()),
            validate_data_resource_config
        );
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: to_proto::diagnostics(d.validate(&config)),
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        let req = req.into_inner();
        let d = self.data_source_type(&req.type_name)?;
        let ty = d.value_type();
        let config = try_diag!(decode(&req.config, &ty), read_data_source);
        let client = try_diag!(self.client().await, read_data_source);
        let state = try_diag!(d.read(&client, &config).await, read_data_source);
        Ok(Response::new(pb::read_data_source::Response {
            state: encode(&state, &ty),
            ..Default::default()
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> Rpc<pb::stop_provider::Response> {
        self.stop();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}
