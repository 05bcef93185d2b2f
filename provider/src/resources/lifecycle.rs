//! A resource's lifecycle: validate, upgrade, read, plan, create, update, delete, import —
//! on the provider's own values and diagnostics. The protocol server decodes Terraform's call,
//! calls one of these and encodes the answer; everything it decides lives here.

use serde_json::Value as Json;
use wayfinder_model::FieldPath;
use wayfinder_model::parse::object_from_value;

use super::errors::{self, Subject};
use super::{ApplyContext, PlanContext, Planned, ResourceType, WorkspaceDefault, object_address};
use crate::client::{Client, ClientError, ObjectAddress};
use crate::codec::Value;
use crate::diag::{self, Diagnostic, render_path};

/// What a read found.
#[derive(Debug)]
pub(crate) struct Read {
    /// The object's state; null when it is gone.
    pub state: Value,
    /// Its identity, when it exists.
    pub identity: Option<Value>,
    /// The private state to keep with it (the `resourceVersion` read).
    pub private: Vec<u8>,
}

/// What an apply (create, update or delete) left.
#[derive(Debug)]
pub(crate) struct Applied {
    /// The new state: null once deleted; the prior state when a delete did not finish.
    pub state: Value,
    pub identity: Option<Value>,
    pub private: Vec<u8>,
    /// Warnings, or errors that leave the object in the state (a create that did not become
    /// ready taints it).
    pub diagnostics: Vec<Diagnostic>,
}

/// What an import starts from.
#[derive(Debug)]
pub(crate) struct Imported {
    /// The address only; a read fills in the rest.
    pub state: Value,
    pub identity: Value,
}

/// What the provider keeps in a resource's private state.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Private {
    #[serde(
        rename = "resourceVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    resource_version: Option<String>,
}

/// The private state for an object read or written: its `resourceVersion`, so an update is
/// refused if someone changed the object since.
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

impl ResourceType {
    /// Checks a configuration: the provider's own checks, then — for a wholly known value —
    /// the model's validation, then the resource's [`super::Behaviour::validate`].
    pub(crate) fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        let mut diagnostics = self.validate_locally(config);
        if let Some(b) = self.behaviour() {
            diagnostics.extend(b.validate(config));
        }
        diagnostics
    }

    /// Checks a wholly known resource value with the model engine.
    fn validate_locally(&self, config: &Value) -> Vec<Diagnostic> {
        let own = self.check_config(config);
        if !own.is_empty() {
            return own;
        }
        if config.has_unknown() {
            return Vec::new();
        }
        let object = self.to_object(config);
        match object_from_value("configuration", 0, object) {
            Err(e) => vec![diag::error_at(
                self.attribute_path(&e.path),
                format!("Invalid {}", self.type_name),
                e.to_string(),
            )],
            Ok(obj) => match obj.validate() {
                Ok(()) => Vec::new(),
                Err(errs) => errs
                    .errors
                    .iter()
                    .map(|e| self.field_diagnostic(&errs.object, &e.path, &e.message))
                    .collect(),
            },
        }
    }

    /// One diagnostic for a problem with a Wayfinder field, pointed at its attribute.
    fn field_diagnostic(&self, object: &str, field: &FieldPath, message: &str) -> Diagnostic {
        let path = self.attribute_path(field);
        let shown = path
            .as_ref()
            .map(render_path)
            .unwrap_or_else(|| field.to_string());
        diag::error_at(
            path,
            format!("Invalid {shown}: {message}"),
            format!("{object} does not pass Wayfinder's validation at {field}: {message}"),
        )
    }

    /// Diagnostics for a failed API call on behalf of this resource.
    fn client_diagnostics(&self, id: &str, action: &str, e: &ClientError) -> Vec<Diagnostic> {
        let subject = Subject {
            object: format!("{} {id}", self.kind.kind),
            type_name: &self.type_name,
            import_id: id.to_string(),
            action,
        };
        errors::diagnostics(e, &subject, &|p| self.attribute_path(p))
    }

    /// The identity of the object a value describes, when its address is known.
    fn identity_of(&self, value: &Value) -> Option<Value> {
        self.address(value).map(|at| self.identity(&at))
    }

    /// State stored by an older provider (schema `version`, Terraform's JSON), as this one
    /// holds it.
    pub(crate) fn upgrade(&self, version: i64, raw: &[u8]) -> Result<Value, Vec<Diagnostic>> {
        let current = self.schema().version;
        if version > current {
            return Err(vec![diag::error(
                "State written by a newer provider",
                format!(
                    "{} state is at schema version {version}, but this provider knows versions up to {current}. Use a newer terraform-provider-wayfinder.",
                    self.type_name,
                ),
            )]);
        }
        let ty = self.value_type();
        let value = serde_json::from_slice::<Json>(raw)
            .map_err(crate::codec::DecodeError::from)
            .and_then(|j| Value::from_json_as(&j, &ty))
            .map_err(|e| vec![diag::error("Cannot read the stored state", e.to_string())])?;
        Ok(value.conform(&ty))
    }

    /// Reads the object `current` describes. `client` is asked for only when there is an
    /// object to read.
    pub(crate) async fn read(
        &self,
        client: Result<&Client, Diagnostic>,
        current: &Value,
    ) -> Result<Read, Vec<Diagnostic>> {
        let gone = Read {
            state: Value::Null,
            identity: None,
            private: Vec::new(),
        };
        let Some(at) = self.address(current) else {
            return Ok(gone);
        };
        let client = client.map_err(|d| vec![d])?;
        match client.read_object(self.kind, &at).await {
            Ok(None) => {
                tracing::info!(
                    kind = self.kind.kind,
                    id = at.id(),
                    "object is gone; removing it from state"
                );
                Ok(gone)
            }
            Ok(Some(object)) => {
                let state = self.read_state(&object, current);
                Ok(Read {
                    identity: self.identity_of(&state),
                    state,
                    private: private_for(&object),
                })
            }
            Err(e) => Err(self.client_diagnostics(&at.id(), "read", &e)),
        }
    }

    /// Plans a change: the generic plan ([`ResourceType::plan`]), the warnings for a create,
    /// then the resource's own [`super::Behaviour::plan`] (the cluster's preview). `client` is
    /// `None` while the provider's configuration is not known.
    pub(crate) async fn plan_change(
        &self,
        client: Option<&Client>,
        workspace: &WorkspaceDefault,
        prior: &Value,
        proposed: Value,
        config: &Value,
    ) -> Planned {
        if proposed.is_null() {
            return Planned {
                state: Value::Null,
                ..Planned::default()
            };
        }
        let mut planned = self.plan(prior, proposed, config, workspace);
        if prior.is_null() {
            planned
                .diagnostics
                .extend(self.create_warnings(&planned.state));
        }
        if let Some(b) = self.behaviour() {
            let ctx = PlanContext {
                resource: self,
                client,
                prior,
                config,
            };
            b.plan(ctx, &mut planned).await;
        }
        planned.identity = self.identity_of(&planned.state);
        planned
    }

    /// Applies a planned change: a create (no prior state), an update, or a delete (a null
    /// planned state). `planned_private` is the private state the plan carried.
    pub(crate) async fn apply(
        &self,
        client: &Client,
        prior: &Value,
        planned: &Value,
        planned_private: &[u8],
    ) -> Result<Applied, Vec<Diagnostic>> {
        let Some(at) = self.address(if planned.is_null() { prior } else { planned }) else {
            return Err(vec![diag::error(
                format!("Cannot tell which {} this is", self.kind.kind),
                "The name, workspace or version is unknown at apply time; this is a bug in the provider.",
            )]);
        };
        if planned.is_null() {
            self.delete(client, &at, prior).await
        } else if prior.is_null() {
            self.create(client, &at, planned).await
        } else {
            let rv = read_private(planned_private).resource_version;
            self.update(client, &at, planned, rv).await
        }
    }

    /// Creates the object `planned` describes, at `at`.
    pub(crate) async fn create(
        &self,
        client: &Client,
        at: &ObjectAddress,
        planned: &Value,
    ) -> Result<Applied, Vec<Diagnostic>> {
        let object = self.to_object(planned);
        let stored = client
            .create_object(self.kind, at.workspace.as_deref(), &object, false)
            .await
            .map_err(|e| self.client_diagnostics(&at.id(), "create", &e))?;
        Ok(self.written(client, at, planned, stored, true).await)
    }

    /// Updates the object at `at` to what `planned` describes; with `resource_version`, only
    /// if nobody changed it since it was read.
    pub(crate) async fn update(
        &self,
        client: &Client,
        at: &ObjectAddress,
        planned: &Value,
        resource_version: Option<String>,
    ) -> Result<Applied, Vec<Diagnostic>> {
        let mut object = self.to_object(planned);
        if let Some(rv) = resource_version {
            object["metadata"]["resourceVersion"] = Json::String(rv);
        }
        let stored = client
            .update_object(self.kind, at, &object, false)
            .await
            .map_err(|e| self.client_diagnostics(&at.id(), "update", &e))?;
        Ok(self.written(client, at, planned, stored, false).await)
    }

    /// The state after the server accepted a create or update and answered `stored`.
    async fn written(
        &self,
        client: &Client,
        at: &ObjectAddress,
        planned: &Value,
        stored: Json,
        create: bool,
    ) -> Applied {
        let (stored, diagnostics) = match self.behaviour() {
            Some(b) => {
                let ctx = ApplyContext {
                    resource: self,
                    client,
                    at,
                    value: planned,
                };
                b.after_write(ctx, stored, create).await
            }
            None => (stored, Vec::new()),
        };
        let state = self.applied_state(&stored, planned);
        Applied {
            identity: self.identity_of(&state),
            state,
            private: private_for(&stored),
            diagnostics,
        }
    }

    /// Deletes the object at `at`. When it is not gone in the end (a failure or a timeout
    /// of the resource's wait), the object stays in the state: `prior`.
    pub(crate) async fn delete(
        &self,
        client: &Client,
        at: &ObjectAddress,
        prior: &Value,
    ) -> Result<Applied, Vec<Diagnostic>> {
        client
            .delete_object(self.kind, at)
            .await
            .map_err(|e| self.client_diagnostics(&at.id(), "delete", &e))?;
        let diagnostics = match self.behaviour() {
            Some(b) => {
                b.after_delete(ApplyContext {
                    resource: self,
                    client,
                    at,
                    value: prior,
                })
                .await
            }
            None => Vec::new(),
        };
        let state = if diagnostics.is_empty() {
            Value::Null
        } else {
            prior.clone()
        };
        Ok(Applied {
            state,
            identity: None,
            private: Vec::new(),
            diagnostics,
        })
    }

    /// Starts an import from an identity (when given) or an import ID. A versioned object
    /// named without a version is its latest published one.
    pub(crate) async fn import(
        &self,
        client: &Client,
        id: &str,
        identity: Option<&Value>,
    ) -> Result<Imported, Vec<Diagnostic>> {
        let default_ws = client.default_workspace();
        let at = match identity {
            Some(identity) => self.address_from_identity(identity, default_ws),
            None => self.parse_import_id(id, default_ws),
        }
        .map_err(|d| vec![d])?;
        let at = if self.kind.versioned && at.version.is_none() {
            match client.read_object(self.kind, &at).await {
                Ok(Some(object)) => object_address(self.kind, &object),
                Ok(None) => {
                    return Err(vec![diag::error(
                        format!("Cannot import {} {}", self.kind.kind, at.name),
                        format!(
                            "{} {:?} has no published version. Import a given version with `{}@VERSION`.",
                            self.kind.kind, at.name, at.name
                        ),
                    )]);
                }
                Err(e) => return Err(self.client_diagnostics(&at.id(), "import", &e)),
            }
        } else {
            at
        };
        Ok(Imported {
            state: self.import_stub(&at),
            identity: self.identity(&at),
        })
    }
}
