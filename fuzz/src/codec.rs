//! The provider's value codec, and the provider's offline RPCs that decode what Terraform
//! sends, on arbitrary bytes.
//!
//! Input: `[selector, mode, body…]`. The selector picks a schema type — `dynamic`, each
//! resource's value and identity type, each data source's, the ephemeral resource's, the
//! function's result — or, for `0xff`, a type read from the body (`type JSON`, a 0 byte, the
//! value). Mode bit 0 says whether the body is msgpack (as in `DynamicValue.msgpack`) or JSON
//! (as in `DynamicValue.json` and raw state); bit 1 plans an update rather than a create.
//!
//! What must hold:
//! - decoding never panics, with or without a schema;
//! - what decodes re-encodes to bytes that decode again, and encoding that is a fixed point
//!   (decode → encode → decode → encode gives the same bytes), in msgpack and in cty's JSON;
//! - the provider's RPCs that take a value before any API call (validate, plan, generate
//!   config, upgrade state, validate data source / ephemeral / provider config, call
//!   function) answer — a diagnostic, never a panic or a gRPC error — and every value they
//!   send back decodes with the type the provider declared for it.
//!
//! Shared by the `codec` fuzz target and `provider/tests/prop_codec.rs` (stable, in CI).

use std::sync::LazyLock;

use terraform_provider_wayfinder::codec::{Type, Value};
use terraform_provider_wayfinder::proto::tfplugin6::{self as pb, provider_server::Provider};
use terraform_provider_wayfinder::provider::WayfinderProvider;
use terraform_provider_wayfinder::{datasources, ephemeral, functions, resources};
use tonic::Request;

/// What a schema type belongs to, and so which RPCs take a value of it.
#[derive(Debug)]
pub enum Owner {
    /// `dynamic`: the provider's configuration and, when the body is a msgpack array, the
    /// function's arguments.
    Dynamic,
    Resource(String),
    /// A resource's identity (no RPC of its own).
    Identity(String),
    DataSource(String),
    Ephemeral(String),
    /// The function's result (no RPC of its own).
    FunctionResult,
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    provider: WayfinderProvider,
    types: Vec<(Owner, Type)>,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let mut types = vec![(Owner::Dynamic, Type::Dynamic)];
    for r in resources::all() {
        types.push((Owner::Identity(r.type_name.clone()), r.identity_type()));
        types.push((Owner::Resource(r.type_name.clone()), r.value_type()));
    }
    for d in datasources::all() {
        types.push((Owner::DataSource(d.type_name.clone()), d.value_type()));
    }
    for name in ephemeral::type_names() {
        types.push((
            Owner::Ephemeral(name.to_string()),
            ephemeral::schema().value_type(),
        ));
    }
    types.push((Owner::FunctionResult, functions::cost_type()));
    Harness {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime"),
        provider: WayfinderProvider::new(),
        types,
    }
});

fn type_count() -> usize {
    HARNESS.types.len()
}

/// Every selector with the schema type it picks and what the type belongs to (the seed
/// writer, `cargo xtask fuzz --seeds`, uses this).
pub fn selectors() -> impl Iterator<Item = (u8, &'static Owner, &'static Type)> {
    HARNESS
        .types
        .iter()
        .enumerate()
        .map(|(i, (o, t))| (u8::try_from(i).expect("fewer than 255 types"), o, t))
}

/// The selector that reads the type from the body.
pub const TYPE_FROM_INPUT: u8 = 0xff;

/// Mode bit 0: the body is JSON rather than msgpack.
pub const JSON: u8 = 1;
/// Mode bit 1: plan an update (prior state = the body) rather than a create.
pub const UPDATE: u8 = 2;

pub fn check(data: &[u8]) {
    let [selector, mode, body @ ..] = data else {
        return;
    };
    let json = mode & JSON != 0;
    schemaless_round_trip(body);
    if *selector == TYPE_FROM_INPUT {
        let Some(split) = body.iter().position(|b| *b == 0) else {
            return;
        };
        let Ok(type_json) = serde_json::from_slice(&body[..split]) else {
            return;
        };
        let Ok(ty) = Type::from_json(&type_json) else {
            return;
        };
        // The type's own encoding is stable.
        assert_eq!(Type::from_json(&ty.to_json()).ok().as_ref(), Some(&ty));
        typed_round_trip(&body[split + 1..], &ty, json);
        return;
    }
    let (owner, ty) = &HARNESS.types[*selector as usize % type_count()];
    typed_round_trip(body, ty, json);
    HARNESS
        .runtime
        .block_on(rpcs(owner, ty, body, json, mode & UPDATE != 0));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Without a schema (function arguments): msgpack in, msgpack out, a fixed point.
fn schemaless_round_trip(body: &[u8]) {
    if let Ok(v) = Value::from_msgpack(body) {
        let bytes = v.to_msgpack();
        let again = Value::from_msgpack(&bytes).unwrap_or_else(|e| {
            panic!(
                "{} decoded, was re-encoded as {} and that does not decode: {e}",
                hex(body),
                hex(&bytes)
            )
        });
        assert_eq!(
            again.to_msgpack(),
            bytes,
            "schemaless re-encoding is stable"
        );
    }
}

/// With a schema type: decode; re-encode as msgpack and as cty JSON; both decode again and
/// re-encode to the same bytes.
fn typed_round_trip(body: &[u8], ty: &Type, json: bool) {
    let decoded = if json {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|j| Value::from_json_as(&j, ty).ok())
    } else {
        Value::from_msgpack_as(body, ty).ok()
    };
    let Some(v) = decoded else {
        return;
    };
    let what = || format!("type {} input {}", ty.to_json(), hex(body));

    let bytes = v.to_msgpack_as(ty);
    let again = Value::from_msgpack_as(&bytes, ty).unwrap_or_else(|e| {
        panic!(
            "{}: decoded to {v:?}, re-encoded as {}, which does not decode: {e}",
            what(),
            hex(&bytes)
        )
    });
    assert_eq!(
        hex(&again.to_msgpack_as(ty)),
        hex(&bytes),
        "{}: msgpack re-encoding is not stable ({v:?} then {again:?})",
        what()
    );

    let text = serde_json::to_vec(&v.to_json_as(ty)).expect("JSON serializes");
    let parsed = serde_json::from_slice(&text).expect("our JSON parses");
    let again = Value::from_json_as(&parsed, ty).unwrap_or_else(|e| {
        panic!(
            "{}: decoded to {v:?}, written as cty JSON {}, which does not decode: {e}",
            what(),
            String::from_utf8_lossy(&text)
        )
    });
    let text2 = serde_json::to_vec(&again.to_json_as(ty)).expect("JSON serializes");
    assert_eq!(
        String::from_utf8_lossy(&text2),
        String::from_utf8_lossy(&text),
        "{}: cty JSON re-encoding is not stable",
        what()
    );
}

fn dynamic_value(body: &[u8], json: bool) -> Option<pb::DynamicValue> {
    Some(if json {
        pb::DynamicValue {
            msgpack: Vec::new(),
            json: body.to_vec(),
        }
    } else {
        pb::DynamicValue {
            msgpack: body.to_vec(),
            json: Vec::new(),
        }
    })
}

/// A value the provider sent back must decode with the type it declared for it.
fn assert_decodes(rpc: &str, value: &Option<pb::DynamicValue>, ty: &Type, body: &[u8]) {
    if let Some(dv) = value
        && let Err(e) = Value::from_dynamic_as(&dv.msgpack, &dv.json, ty)
    {
        panic!(
            "{rpc} on input {} answered {} which does not decode as {}: {e}",
            hex(body),
            hex(&dv.msgpack),
            ty.to_json()
        );
    }
}

async fn rpcs(owner: &Owner, ty: &Type, body: &[u8], json: bool, update: bool) {
    let p = &HARNESS.provider;
    let dv = dynamic_value(body, json);
    let ok = |rpc: &str, status: Option<tonic::Status>| {
        if let Some(s) = status {
            panic!("{rpc} on input {} failed with {s:?}", hex(body));
        }
    };
    match owner {
        Owner::Resource(type_name) => {
            let r = p
                .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                    type_name: type_name.clone(),
                    config: dv.clone(),
                    ..Default::default()
                }))
                .await;
            ok("ValidateResourceConfig", r.err());

            let prior = if update { dv.clone() } else { None };
            match p
                .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                    type_name: type_name.clone(),
                    prior_state: prior,
                    proposed_new_state: dv.clone(),
                    config: dv.clone(),
                    ..Default::default()
                }))
                .await
            {
                Ok(r) => assert_decodes("PlanResourceChange", &r.get_ref().planned_state, ty, body),
                Err(s) => ok("PlanResourceChange", Some(s)),
            }

            match p
                .generate_resource_config(Request::new(pb::generate_resource_config::Request {
                    type_name: type_name.clone(),
                    state: dv.clone(),
                }))
                .await
            {
                Ok(r) => assert_decodes("GenerateResourceConfig", &r.get_ref().config, ty, body),
                Err(s) => ok("GenerateResourceConfig", Some(s)),
            }

            if json {
                match p
                    .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
                        type_name: type_name.clone(),
                        version: 0,
                        raw_state: Some(pb::RawState {
                            json: body.to_vec(),
                            ..Default::default()
                        }),
                    }))
                    .await
                {
                    Ok(r) => assert_decodes(
                        "UpgradeResourceState",
                        &r.get_ref().upgraded_state,
                        ty,
                        body,
                    ),
                    Err(s) => ok("UpgradeResourceState", Some(s)),
                }
            }
        }
        Owner::DataSource(type_name) => {
            let r = p
                .validate_data_resource_config(Request::new(
                    pb::validate_data_resource_config::Request {
                        type_name: type_name.clone(),
                        config: dv,
                    },
                ))
                .await;
            ok("ValidateDataResourceConfig", r.err());
        }
        Owner::Ephemeral(type_name) => {
            let r = p
                .validate_ephemeral_resource_config(Request::new(
                    pb::validate_ephemeral_resource_config::Request {
                        type_name: type_name.clone(),
                        config: dv,
                    },
                ))
                .await;
            ok("ValidateEphemeralResourceConfig", r.err());
        }
        Owner::Identity(_) | Owner::FunctionResult => {}
        Owner::Dynamic => {
            let r = p
                .validate_provider_config(Request::new(pb::validate_provider_config::Request {
                    config: dv,
                }))
                .await;
            ok("ValidateProviderConfig", r.err());
            // A function call with the body's items as its arguments.
            if let Ok(Value::List(items)) = Value::from_msgpack(body) {
                for name in functions::definitions().into_keys() {
                    let arguments = items
                        .iter()
                        .map(|v| pb::DynamicValue {
                            msgpack: v.to_msgpack(),
                            json: Vec::new(),
                        })
                        .collect();
                    match p
                        .call_function(Request::new(pb::call_function::Request { name, arguments }))
                        .await
                    {
                        Ok(r) => {
                            let r = r.get_ref();
                            assert!(
                                r.result.is_some() != r.error.is_some(),
                                "CallFunction answers a result or an error: {r:?}"
                            );
                            assert_decodes(
                                "CallFunction",
                                &r.result,
                                &functions::cost_type(),
                                body,
                            );
                        }
                        Err(s) => ok("CallFunction", Some(s)),
                    }
                }
            }
        }
    }
}
