//! What a resource does beyond the generic lifecycle.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{Planned, ResourceType};
use crate::client::ObjectAddress;
use crate::codec::Value;
use crate::diag::Diagnostic;

/// What a resource does beyond the generic create, read, update and delete — the cluster's
/// plan-time preview and its waits (`cluster`), the access token's secret shown once
/// (`access_token`). Every method defaults to doing nothing more, so the generic paths call
/// them unconditionally.
#[tonic::async_trait]
pub(crate) trait Behaviour: Send + Sync + std::fmt::Debug {
    /// More checks of a configuration (values may be unknown).
    fn validate(&self, _config: &Value) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// Attributes read from the object beyond the spec and `status`.
    fn read_extra(&self, _object: &Json, _value: &mut BTreeMap<String, Value>) {}

    /// What only Terraform holds, carried from `prior` into a state read (and, unless
    /// [`Behaviour::applied`] says otherwise, from the planned state into one applied).
    fn carry_over(&self, _state: &mut Value, _prior: &Value) {}

    /// The state after an apply, from the planned state and the object the server stored.
    fn applied(&self, state: &mut Value, planned: &Value, _stored: &Json) {
        self.carry_over(state, planned);
    }

    /// Fills in what configuration leaves unset, before the generic plan compares values.
    fn plan_defaults(
        &self,
        _planned: &mut BTreeMap<String, Value>,
        _prior: &Value,
        _config: &Value,
    ) {
    }

    /// Whether the generic plan leaves the computed attribute `name` to
    /// [`Behaviour::plan_computed`].
    fn plans_computed(&self, _name: &str) -> bool {
        false
    }

    /// Plans the computed attributes [`Behaviour::plans_computed`] claims.
    fn plan_computed(&self, _planned: &mut BTreeMap<String, Value>, _prior: &Value) {}

    /// Warnings for creating the object planned as `planned`.
    fn create_warnings(&self, _resource: &ResourceType, _planned: &Value) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// Adjusts the configuration generated for an imported object.
    fn generate_config(&self, _config: &mut BTreeMap<String, Value>) {}

    /// Adjusts a planned create or update (after the generic plan).
    async fn plan(&self, _ctx: PlanContext<'_>, _planned: &mut Planned) {}

    /// After the server accepted a create (`create`) or update and answered `stored`: the
    /// object to record, and diagnostics (an error with the object taints a create).
    async fn after_write(
        &self,
        _ctx: ApplyContext<'_>,
        stored: Json,
        _create: bool,
    ) -> (Json, Vec<Diagnostic>) {
        (stored, Vec::new())
    }

    /// After the server accepted a delete.
    async fn after_delete(&self, _ctx: ApplyContext<'_>) -> Vec<Diagnostic> {
        Vec::new()
    }
}

/// What [`Behaviour::plan`] sees.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanContext<'a> {
    pub resource: &'a ResourceType,
    /// `None` while the provider's configuration is not known.
    pub client: Option<&'a crate::client::Client>,
    pub prior: &'a Value,
    pub config: &'a Value,
}

/// What [`Behaviour::after_write`] and [`Behaviour::after_delete`] see.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApplyContext<'a> {
    pub resource: &'a ResourceType,
    pub client: &'a crate::client::Client,
    pub at: &'a ObjectAddress,
    /// The planned state (the prior state for a delete).
    pub value: &'a Value,
}
