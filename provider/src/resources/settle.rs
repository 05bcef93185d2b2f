//! Settling remote values against Terraform's.
//!
//! What the server sends back is *settled* against what Terraform holds ([`settle_block`]):
//! where the two mean the same to Wayfinder — a Go API with `omitempty`, so an absent field,
//! `null`, `""`, `[]` and `{}` are all "not set", and `1` equals `1.0` — Terraform's own
//! value is kept, with its exact form and types. Drift (a real difference) shows as drift.

use serde_json::Value as Json;

use super::ResourceType;
use super::convert::typed_list_like;
use crate::codec::{Type, Value};
use crate::schema::{Block, Nesting};

impl ResourceType {
    /// The state after a read: the object settled against the prior state, and what only
    /// Terraform holds (the access token's secret) carried over.
    pub(crate) fn read_state(&self, object: &Json, prior: &Value) -> Value {
        let remote = self.from_object(object);
        let mut state = settle_block(&self.schema.block, remote, prior);
        if let Some(b) = &self.behaviour {
            b.carry_over(&mut state, prior);
        }
        state.conform(&self.value_type())
    }

    /// The state after an apply: the stored object settled against the planned state.
    pub(crate) fn applied_state(&self, stored: &Json, planned: &Value) -> Value {
        let remote = self.from_object(stored);
        let mut state = settle_block(&self.schema.block, remote, planned);
        if let Some(b) = &self.behaviour {
            b.applied(&mut state, planned, stored);
        }
        state.conform(&self.value_type())
    }
}

/// Whether two API JSON values mean the same to Wayfinder: absent, `null`, `""`, `[]` and
/// `{}` (and objects of nothing but those) are all "not set"; numbers compare by value;
/// object member order does not matter.
pub(crate) fn equivalent(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, x) | (x, Json::Null) => is_unset(x),
        (Json::Number(x), Json::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equivalent(a, b))
        }
        (Json::Object(x), Json::Object(y)) => x.keys().chain(y.keys()).all(|k| {
            equivalent(
                x.get(k).unwrap_or(&Json::Null),
                y.get(k).unwrap_or(&Json::Null),
            )
        }),
        (Json::Object(_) | Json::Array(_) | Json::String(_), _)
        | (_, Json::Object(_) | Json::Array(_) | Json::String(_)) => {
            is_unset(a) && is_unset(b) || a == b
        }
        _ => a == b,
    }
}

pub(super) fn is_unset(j: &Json) -> bool {
    match j {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.values().all(is_unset),
        _ => false,
    }
}

/// The value to hold for a block after reading `remote`: wherever `remote` means the same
/// as `prior` ([`equivalent`]), `prior` — its exact form and `dynamic` types; elsewhere
/// `remote`. Nested blocks settle element by element when their counts agree.
pub(crate) fn settle_block(block: &Block, remote: Value, prior: &Value) -> Value {
    if prior.is_null() || prior.is_unknown() {
        return remote;
    }
    if !prior.has_unknown() && equivalent(&remote.to_json(), &prior.to_json()) {
        return prior.clone();
    }
    let Value::Map(mut rm) = remote.untyped().clone() else {
        return remote;
    };
    for a in &block.attributes {
        let r = rm.remove(&a.name).unwrap_or(Value::Null);
        let p = prior.get(&a.name);
        let v = if !p.has_unknown() && equivalent(&r.to_json(), &p.to_json()) {
            p.clone()
        } else {
            r
        };
        rm.insert(a.name.clone(), v);
    }
    for nb in &block.blocks {
        let r = rm.remove(&nb.name).unwrap_or(Value::Null);
        let p = prior.get(&nb.name);
        let v = match nb.nesting {
            Nesting::Single => settle_block(&nb.block, r, p),
            Nesting::List => match (r.as_list(), p.as_list()) {
                (Some(ri), Some(pi)) if ri.len() == pi.len() => typed_list_like(
                    nb,
                    ri.iter()
                        .zip(pi)
                        .map(|(r, p)| settle_block(&nb.block, r.clone(), p))
                        .collect(),
                    &[p, &r],
                ),
                _ => r,
            },
        };
        rm.insert(nb.name.clone(), v);
    }
    Value::Map(rm)
}

/// Planning: wherever configuration sets a value (not null) that means the same as the
/// prior one, plan the prior value, as Terraform allows; nothing else changes.
pub(super) fn keep_equivalent_config(block: &Block, planned: Value, prior: &Value) -> Value {
    let Value::Map(mut m) = planned.untyped().clone() else {
        return planned;
    };
    for a in block.attributes.iter().filter(|a| !a.is_computed()) {
        let (Some(n), p) = (m.get(&a.name), prior.get(&a.name)) else {
            continue;
        };
        if !n.is_null()
            && !p.is_null()
            && !n.has_unknown()
            && !p.has_unknown()
            && equivalent(&n.to_json(), &p.to_json())
        {
            m.insert(a.name.clone(), p.clone());
        }
    }
    for nb in &block.blocks {
        let Some(n) = m.get(&nb.name).cloned() else {
            continue;
        };
        let p = prior.get(&nb.name);
        let v = match nb.nesting {
            Nesting::Single if !n.is_null() && !p.is_null() => {
                keep_equivalent_config(&nb.block, n, p)
            }
            // A tuple of blocks holding free-form values is kept whole or not at all: mixing
            // items would lose the types configuration gave them.
            Nesting::List if nb.value_type() == Type::Dynamic => {
                if !n.has_unknown() && !p.is_null() && equivalent(&n.to_json(), &p.to_json()) {
                    p.clone()
                } else {
                    n
                }
            }
            Nesting::List => match (n.as_list(), p.as_list()) {
                (Some(ni), Some(pi)) if ni.len() == pi.len() && !n.has_unknown() => {
                    typed_list_like(
                        nb,
                        ni.iter()
                            .zip(pi)
                            .map(|(n, p)| keep_equivalent_config(&nb.block, n.clone(), p))
                            .collect(),
                        &[p, &n],
                    )
                }
                _ => n,
            },
            Nesting::Single => n,
        };
        m.insert(nb.name.clone(), v);
    }
    Value::Map(m)
}
