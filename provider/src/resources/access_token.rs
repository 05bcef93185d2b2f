//! `wayfinder_access_token`: a token for automation, whose secret Wayfinder shows once.
//!
//! **Where the secret goes.** The server returns the secret once, in the create response
//! (`status.token`), and keeps only its hash; nothing can read it again. Terraform can only
//! hand a value produced by a resource to other resources through its state, so the choice
//! is the user's, made explicit:
//!
//! - `store_token = true`: the secret is kept in the state as `token` (sensitive: redacted in
//!   plans and output, but in clear text in the state file), so that it can be passed on —
//!   to a CI secret, a secrets manager — in the same configuration. Use it with an encrypted,
//!   access-controlled state backend.
//! - `store_token = false` (the default): the secret is kept nowhere; `token` stays null and
//!   creating the token warns that its secret is discarded. For tokens handed over some
//!   other way, or created only to be revoked by `terraform destroy`.
//!
//! Write-only attributes (Terraform ≥ 1.11) do not fit here: they carry values *from*
//! configuration into the provider without storing them, whereas this secret comes *from*
//! the server. Turning `store_token` on later cannot recover the secret (replace the
//! resource, e.g. `terraform apply -replace=…`, to issue a new one); turning it off removes
//! the secret from the state.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use wayfinder_model::kinds::ACCESS_TOKEN;

use super::{Behaviour, ResourceType, StatusField};
use crate::codec::{Type, Value};
use crate::diag::{self, Diagnostic};
use crate::schema::{Attribute, Presence};

/// `store_token`: whether the secret is kept in the state.
pub const STORE_TOKEN: &str = "store_token";
/// `token`: the secret, when kept.
pub const TOKEN: &str = "token";

/// The secret the server returns once, in `status.token` of the create response.
#[derive(Debug, Clone)]
struct OnceSecret;

pub(super) fn resource() -> ResourceType {
    // Roles and lifetime are immutable in the model: changing them replaces the token.
    let mut r = ResourceType::new(&ACCESS_TOKEN).with_status(&[
        StatusField {
            json: "subject",
            ty: Type::String,
            description: "the subject the token authenticates as, e.g. `accesstoken:team/ci`",
        },
        StatusField {
            json: "expiresAt",
            ty: Type::String,
            description: "when the token stops working (RFC 3339); null when it never expires",
        },
    ]);
    r.schema.block.attributes.push(Attribute::plain(
        STORE_TOKEN,
        Type::Bool,
        Presence::OptionalComputed,
        "Whether to keep the token's secret in the Terraform state, as `token`. Wayfinder returns the secret only once, when the token is created, and stores only its hash. `true`: the state holds it (in clear text in the state file — use an encrypted, access-controlled backend) so other resources can use it. `false` (the default): the secret is discarded and kept nowhere. Turning it on later cannot recover a discarded secret: replace the resource to issue a new one. Turning it off removes the secret from the state.",
    ));
    r.schema.block.attributes.push(
        Attribute::plain(
            TOKEN,
            Type::String,
            Presence::Computed,
            "The token's secret, for `Authorization: Bearer` (or `WAYFINDER_TOKEN`). Sensitive. Set only when `store_token` is `true` and the token was created by this resource; null otherwise (an imported token's secret cannot be read back).",
        )
        .sensitive(),
    );
    r.with_behaviour(Box::new(OnceSecret))
}

#[tonic::async_trait]
impl Behaviour for OnceSecret {
    /// The generic planning leaves `token` to [`Behaviour::plan_computed`].
    fn plans_computed(&self, name: &str) -> bool {
        name == TOKEN
    }

    /// `store_token` defaults to the prior value, else `false`.
    fn plan_defaults(&self, planned: &mut BTreeMap<String, Value>, prior: &Value, config: &Value) {
        if config.get(STORE_TOKEN).is_null() {
            let v = match prior.get(STORE_TOKEN) {
                Value::Null => Value::Bool(false),
                v => v.clone(),
            };
            planned.insert(STORE_TOKEN.into(), v);
        }
    }

    /// `token`: unknown on create when it will be kept; the prior secret while kept; null
    /// otherwise.
    fn plan_computed(&self, planned: &mut BTreeMap<String, Value>, prior: &Value) {
        let store = planned.get(STORE_TOKEN).cloned().unwrap_or(Value::Null);
        let v = match (prior.is_null(), store.as_bool()) {
            (_, Some(false)) => Value::Null,
            (false, Some(true)) => prior.get(TOKEN).clone(),
            _ => Value::Unknown,
        };
        planned.insert(TOKEN.into(), v);
    }

    /// After a read: the secret only Terraform holds stays.
    fn carry_over(&self, state: &mut Value, prior: &Value) {
        let store = prior.get(STORE_TOKEN).as_bool().unwrap_or(false);
        set(state, STORE_TOKEN, Value::Bool(store));
        let token = if store {
            prior.get(TOKEN).clone()
        } else {
            Value::Null
        };
        set(state, TOKEN, token);
    }

    /// After an apply: the secret from the create response, when it is to be kept.
    fn applied(&self, state: &mut Value, planned: &Value, stored: &Json) {
        let store = planned.get(STORE_TOKEN).as_bool().unwrap_or(false);
        set(state, STORE_TOKEN, Value::Bool(store));
        let token = match (
            store,
            stored.pointer("/status/token").and_then(Json::as_str),
        ) {
            (false, _) => Value::Null,
            (true, Some(secret)) => Value::String(secret.to_string()),
            (true, None) => match planned.get(TOKEN) {
                Value::Unknown => Value::Null,
                v => v.clone(),
            },
        };
        set(state, TOKEN, token);
    }

    /// Generated configuration leaves `store_token` out when it is the default.
    fn generate_config(&self, config: &mut BTreeMap<String, Value>) {
        if config.get(STORE_TOKEN).and_then(Value::as_bool) != Some(true) {
            config.insert(STORE_TOKEN.into(), Value::Null);
        }
    }

    /// Creating a token whose secret will be discarded warns.
    fn create_warnings(&self, resource: &ResourceType, planned: &Value) -> Vec<Diagnostic> {
        if planned.get(STORE_TOKEN).as_bool() != Some(false) {
            return Vec::new();
        }
        vec![diag::warning(
            Some(diag::attr(STORE_TOKEN)),
            "The access token's secret will not be kept",
            format!(
                "Wayfinder shows an access token's secret only once, when it is created. With `store_token = false` (the default) this {} discards it: nothing, not even the Terraform state, will hold it. Set `store_token = true` to keep it in the state (as the sensitive attribute `token`).",
                resource.type_name
            ),
        )]
    }
}

fn set(state: &mut Value, name: &str, v: Value) {
    if let Value::Map(m) = state {
        m.insert(name.to_string(), v);
    }
}
