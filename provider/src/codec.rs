//! Terraform's value wire format (msgpack, with JSON for raw state): a [`Value`] that can
//! hold unknowns, and the cty [`Type`]s our schemas declare.
//!
//! **Decoding with a type.** [`Value::from_dynamic_as`] reads a value as the schema's type
//! says, which is needed wherever the type is cty's `DynamicPseudoType` (`dynamic`): there
//! Terraform writes the value's concrete type next to it — in msgpack a 2-array
//! `[type-JSON bytes, value]`, in JSON an object `{"value": …, "type": …}` — and we keep that
//! type ([`Value::Typed`]) so the value goes back exactly as it came ([`Value::to_msgpack_as`]).
//! A `list(string)` in a `dynamic` attribute stays a list rather than becoming a tuple, so a
//! planned value matches its configuration. A value we build ourselves (from the API's
//! JSON) has no recorded type; its type is inferred ([`Type::of`]) the way HCL types a
//! literal: arrays are tuples, objects are objects, null is a null of unknown type.
//!
//! Decoding needs no schema elsewhere: [`Value::from_msgpack`] reads arrays as lists, maps as
//! maps and any ext value as an unknown (Terraform sends type 0, or type 12 with
//! refinements, which we may ignore). [`Value::conform`] shapes a value to a type so that
//! every object carries every attribute, as Terraform requires of what we send back.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use rmp::Marker;

/// A Terraform value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    /// A list, set or tuple.
    List(Vec<Value>),
    /// A map or object.
    Map(BTreeMap<String, Value>),
    /// A value in a `dynamic` position, with the concrete type Terraform gave it.
    Typed(Type, Box<Value>),
}

/// A Terraform number: Terraform sends integers, floats, or decimal strings for numbers
/// that fit neither.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
    Big(String),
}

impl Number {
    /// The number as an integer, when it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Number::Float(_) => None,
            Number::Big(s) => s.parse().ok(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        if let Some(i) = self.as_i64() {
            return i.into();
        }
        match self {
            Number::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Number::Big(s) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(serde_json::Value::Null, Into::into),
            Number::Int(i) => (*i).into(),
        }
    }
}

/// A cty type, as schemas declare it and as the `type` field of an attribute encodes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    String,
    Number,
    Bool,
    /// cty's `DynamicPseudoType`: any type, decided per value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(Vec<(String, Type)>),
    Tuple(Vec<Type>),
}

impl Type {
    /// The compact JSON encoding Terraform expects in `Schema.Attribute.type`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::Dynamic => json!("dynamic"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(attrs) => {
                let m: serde_json::Map<String, serde_json::Value> = attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                json!(["object", m])
            }
            Type::Tuple(items) => {
                json!(["tuple", items.iter().map(Type::to_json).collect::<Vec<_>>()])
            }
        }
    }

    /// Reads cty's JSON type encoding (`"string"`, `["list","number"]`,
    /// `["object",{…}]` with an optional third element listing optional attributes,
    /// `["tuple",[…]]`).
    pub fn from_json(json: &serde_json::Value) -> Result<Type, DecodeError> {
        use serde_json::Value as J;
        let bad = || DecodeError::Type(json.to_string());
        Ok(match json {
            J::String(s) => match s.as_str() {
                "string" => Type::String,
                "number" => Type::Number,
                "bool" => Type::Bool,
                "dynamic" => Type::Dynamic,
                _ => return Err(bad()),
            },
            J::Array(parts) => match (parts.first().and_then(J::as_str), parts.get(1)) {
                (Some("list"), Some(t)) => Type::List(Box::new(Type::from_json(t)?)),
                (Some("set"), Some(t)) => Type::Set(Box::new(Type::from_json(t)?)),
                (Some("map"), Some(t)) => Type::Map(Box::new(Type::from_json(t)?)),
                (Some("object"), Some(J::Object(attrs))) => Type::Object(
                    attrs
                        .iter()
                        .map(|(k, t)| Ok((k.clone(), Type::from_json(t)?)))
                        .collect::<Result<_, DecodeError>>()?,
                ),
                (Some("tuple"), Some(J::Array(items))) => Type::Tuple(
                    items
                        .iter()
                        .map(Type::from_json)
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        })
    }

    /// The concrete type of a value in a `dynamic` position: its recorded type, or the type
    /// HCL would give the same literal (arrays are tuples, maps are objects, null and
    /// unknown are of unknown type).
    pub fn of(value: &Value) -> Type {
        match value {
            Value::Typed(t, _) => t.clone(),
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(items) => Type::Tuple(items.iter().map(Type::of).collect()),
            Value::Map(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), Type::of(v))).collect())
            }
        }
    }

    /// Whether `dynamic` occurs anywhere in this type.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::String | Type::Number | Type::Bool => false,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.has_dynamic(),
            Type::Object(attrs) => attrs.iter().any(|(_, t)| t.has_dynamic()),
            Type::Tuple(items) => items.iter().any(Type::has_dynamic),
        }
    }
}

/// Why bytes could not be read as a value.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed msgpack value: {0}")]
    Msgpack(String),
    #[error("malformed JSON value: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a cty type: {0}")]
    Type(String),
    #[error("the value does not have the schema's shape: {0}")]
    Shape(String),
}

impl Value {
    /// True for null, including a null with a recorded type.
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Typed(_, v) => v.is_null(),
            _ => false,
        }
    }

    /// True for an unknown, including one with a recorded type.
    pub fn is_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::Typed(_, v) => v.is_unknown(),
            _ => false,
        }
    }

    /// True when this value or anything inside it is unknown.
    pub fn has_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(items) => items.iter().any(Value::has_unknown),
            Value::Map(m) => m.values().any(Value::has_unknown),
            Value::Typed(_, v) => v.has_unknown(),
            _ => false,
        }
    }

    /// The value without a recorded `dynamic` type.
    pub fn untyped(&self) -> &Value {
        match self {
            Value::Typed(_, v) => v.untyped(),
            v => v,
        }
    }

    /// An attribute of an object value; `Null` when absent or when this is not an object.
    pub fn get(&self, name: &str) -> &Value {
        match self.untyped() {
            Value::Map(m) => m.get(name).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.untyped() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.untyped() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The entries of a map or object.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.untyped() {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items of a list, set or tuple.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self.untyped() {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Shapes this value to `ty`: objects get exactly the type's attributes (missing ones
    /// null), collections conform element-wise, numbers given as strings become numbers.
    /// Values in `dynamic` positions are left as they are.
    pub fn conform(self, ty: &Type) -> Value {
        match (self, ty) {
            (v, Type::Dynamic) => v,
            (Value::Typed(_, v), _) => v.conform(ty),
            (Value::Null, _) => Value::Null,
            (Value::Unknown, _) => Value::Unknown,
            (Value::Map(mut m), Type::Object(attrs)) => Value::Map(
                attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), m.remove(k).unwrap_or(Value::Null).conform(t)))
                    .collect(),
            ),
            (Value::Map(m), Type::Map(t)) => {
                Value::Map(m.into_iter().map(|(k, v)| (k, v.conform(t))).collect())
            }
            (Value::List(items), Type::List(t) | Type::Set(t)) => {
                Value::List(items.into_iter().map(|v| v.conform(t)).collect())
            }
            (Value::List(items), Type::Tuple(ts)) => Value::List(
                items
                    .into_iter()
                    .zip(ts)
                    .map(|(v, t)| v.conform(t))
                    .collect(),
            ),
            (Value::String(s), Type::Number) => match s.parse::<i64>() {
                Ok(i) => Value::Number(Number::Int(i)),
                Err(_) => Value::Number(Number::Big(s)),
            },
            (v, _) => v,
        }
    }

    /// Reads a `DynamicValue` without a schema: msgpack when present, else JSON; both empty
    /// means null. `dynamic` positions are not recognised; use [`Value::from_dynamic_as`].
    pub fn from_dynamic(msgpack: &[u8], json: &[u8]) -> Result<Value, DecodeError> {
        if !msgpack.is_empty() {
            Self::from_msgpack(msgpack)
        } else if !json.is_empty() {
            Self::from_json_bytes(json)
        } else {
            Ok(Value::Null)
        }
    }

    /// Reads a `DynamicValue` of type `ty`: msgpack when present, else JSON (cty's JSON
    /// form); both empty means null.
    pub fn from_dynamic_as(msgpack: &[u8], json: &[u8], ty: &Type) -> Result<Value, DecodeError> {
        if !msgpack.is_empty() {
            Self::from_msgpack_as(msgpack, ty)
        } else if !json.is_empty() {
            Self::from_json_as(&serde_json::from_slice(json)?, ty)
        } else {
            Ok(Value::Null)
        }
    }

    pub fn from_msgpack(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut cur = Cursor::new(bytes);
        let v = read_value(&mut cur, 0)?;
        finish(&cur, bytes)?;
        Ok(v)
    }

    /// Reads msgpack of type `ty`, keeping the types recorded in `dynamic` positions.
    pub fn from_msgpack_as(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
        let mut cur = Cursor::new(bytes);
        let v = read_typed(&mut cur, ty, 0)?;
        finish(&cur, bytes)?;
        Ok(v)
    }

    pub fn from_json_bytes(bytes: &[u8]) -> Result<Value, DecodeError> {
        Ok(Self::from_json(&serde_json::from_slice(bytes)?))
    }

    /// Converts plain JSON (which cannot hold unknowns) to a value.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Number::Int(i),
                (None, Some(f)) => Number::Float(f),
                _ => Number::Big(n.to_string()),
            }),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Reads cty's JSON form of a value of type `ty` (as in raw state): a `dynamic`
    /// position holds `{"value": …, "type": …}`.
    pub fn from_json_as(json: &serde_json::Value, ty: &Type) -> Result<Value, DecodeError> {
        use serde_json::Value as J;
        let shape = |what: &str| DecodeError::Shape(format!("expected {what}, got {json}"));
        if json.is_null() {
            return Ok(Value::Null);
        }
        Ok(match ty {
            Type::Dynamic => {
                let (Some(v), Some(t)) = (json.get("value"), json.get("type")) else {
                    return Err(shape("a dynamic value {\"value\", \"type\"}"));
                };
                let t = Type::from_json(t)?;
                Value::Typed(t.clone(), Box::new(Value::from_json_as(v, &t)?))
            }
            Type::Object(attrs) => {
                let J::Object(o) = json else {
                    return Err(shape("an object"));
                };
                let mut m = BTreeMap::new();
                for (k, v) in o {
                    let v = match attrs.iter().find(|(a, _)| a == k) {
                        Some((_, t)) => Value::from_json_as(v, t)?,
                        None => Value::from_json(v),
                    };
                    m.insert(k.clone(), v);
                }
                Value::Map(m)
            }
            Type::Map(t) => {
                let J::Object(o) = json else {
                    return Err(shape("a map"));
                };
                Value::Map(
                    o.iter()
                        .map(|(k, v)| Ok((k.clone(), Value::from_json_as(v, t)?)))
                        .collect::<Result<_, DecodeError>>()?,
                )
            }
            Type::List(t) | Type::Set(t) => {
                let J::Array(items) = json else {
                    return Err(shape("a list"));
                };
                Value::List(
                    items
                        .iter()
                        .map(|v| Value::from_json_as(v, t))
                        .collect::<Result<_, _>>()?,
                )
            }
            Type::Tuple(ts) => {
                let J::Array(items) = json else {
                    return Err(shape("a tuple"));
                };
                Value::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| match ts.get(i) {
                            Some(t) => Value::from_json_as(v, t),
                            None => Ok(Value::from_json(v)),
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            // As in msgpack: a list or object where a primitive belongs is the wrong shape
            // (kept, it would be written back as msgpack that no one can read as `ty`).
            Type::String | Type::Number | Type::Bool => match json {
                J::Array(_) | J::Object(_) => return Err(shape("a primitive value")),
                _ => Value::from_json(json).conform(ty),
            },
        })
    }

    /// Converts a known value to plain JSON (as the API takes it); unknowns become null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Number(n) => n.to_json(),
            Value::String(s) => s.clone().into(),
            Value::List(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Typed(_, v) => v.to_json(),
        }
    }

    /// cty's JSON form of this value as type `ty`: what [`Value::from_json_as`] reads.
    /// Unknowns become null (JSON cannot hold them).
    pub fn to_json_as(&self, ty: &Type) -> serde_json::Value {
        use serde_json::{Value as J, json};
        match (ty, self) {
            (_, Value::Null | Value::Unknown) => J::Null,
            (Type::Dynamic, v) => {
                let (t, inner) = match v {
                    Value::Typed(t, inner) => (t.clone(), inner.as_ref()),
                    other => (Type::of(other), other),
                };
                if t == Type::Dynamic {
                    return J::Null;
                }
                json!({"value": inner.to_json_as(&t), "type": t.to_json()})
            }
            (_, Value::Typed(_, v)) => v.to_json_as(ty),
            (Type::Object(attrs), Value::Map(m)) => J::Object(
                attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), m.get(k).unwrap_or(&Value::Null).to_json_as(t)))
                    .collect(),
            ),
            (Type::Map(t), Value::Map(m)) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json_as(t)))
                    .collect(),
            ),
            (Type::List(t) | Type::Set(t), Value::List(items)) => {
                J::Array(items.iter().map(|v| v.to_json_as(t)).collect())
            }
            (Type::Tuple(ts), Value::List(items)) => J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match ts.get(i) {
                        Some(t) => v.to_json_as(t),
                        None => v.to_json(),
                    })
                    .collect(),
            ),
            (_, v) => v.to_json(),
        }
    }

    /// Encodes as msgpack without a schema (a value with a recorded type is written as its
    /// bare value). Replies to Terraform use [`Value::to_msgpack_as`].
    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        write_value(&mut out, self);
        out
    }

    /// Encodes as msgpack of type `ty`, the form Terraform expects in every reply: objects
    /// carry every attribute of their type, `dynamic` positions carry their concrete type.
    pub fn to_msgpack_as(&self, ty: &Type) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        write_typed(&mut out, self, ty);
        out
    }
}

const MAX_DEPTH: usize = 128;

fn finish(cur: &Cursor<&[u8]>, bytes: &[u8]) -> Result<(), DecodeError> {
    if (cur.position() as usize) != bytes.len() {
        return Err(DecodeError::Msgpack("trailing bytes after value".into()));
    }
    Ok(())
}

/// The start of one msgpack value: its kind and, for variable-length kinds, its length.
enum Head {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An unsigned integer too large for `i64`.
    BigUint(u64),
    Str(usize),
    Bin(usize),
    Array(usize),
    Map(usize),
    /// An ext value with this many payload bytes (its type byte not yet read).
    Ext(usize),
}

fn read_head(cur: &mut Cursor<&[u8]>) -> Result<Head, DecodeError> {
    let err = |what: &str| DecodeError::Msgpack(what.to_string());
    let marker = rmp::decode::read_marker(cur).map_err(|_| err("unexpected end of input"))?;
    let u8_len =
        |cur: &mut Cursor<&[u8]>| -> Result<usize, DecodeError> { Ok(read_n::<1>(cur)?[0].into()) };
    let u16_len = |cur: &mut Cursor<&[u8]>| -> Result<usize, DecodeError> {
        Ok(u16::from_be_bytes(read_n(cur)?).into())
    };
    let u32_len = |cur: &mut Cursor<&[u8]>| -> Result<usize, DecodeError> {
        Ok(u32::from_be_bytes(read_n(cur)?) as usize)
    };
    Ok(match marker {
        Marker::Null => Head::Nil,
        Marker::True => Head::Bool(true),
        Marker::False => Head::Bool(false),
        Marker::FixPos(n) => Head::Int(n.into()),
        Marker::FixNeg(n) => Head::Int(n.into()),
        Marker::U8 => Head::Int(read_n::<1>(cur)?[0].into()),
        Marker::U16 => Head::Int(u16::from_be_bytes(read_n(cur)?).into()),
        Marker::U32 => Head::Int(u32::from_be_bytes(read_n(cur)?).into()),
        Marker::U64 => {
            let v = u64::from_be_bytes(read_n(cur)?);
            i64::try_from(v).map_or(Head::BigUint(v), Head::Int)
        }
        Marker::I8 => Head::Int(i8::from_be_bytes(read_n(cur)?).into()),
        Marker::I16 => Head::Int(i16::from_be_bytes(read_n(cur)?).into()),
        Marker::I32 => Head::Int(i32::from_be_bytes(read_n(cur)?).into()),
        Marker::I64 => Head::Int(i64::from_be_bytes(read_n(cur)?)),
        Marker::F32 => Head::Float(f32::from_be_bytes(read_n(cur)?).into()),
        Marker::F64 => Head::Float(f64::from_be_bytes(read_n(cur)?)),
        Marker::FixStr(n) => Head::Str(n.into()),
        Marker::Str8 => Head::Str(u8_len(cur)?),
        Marker::Str16 => Head::Str(u16_len(cur)?),
        Marker::Str32 => Head::Str(u32_len(cur)?),
        Marker::Bin8 => Head::Bin(u8_len(cur)?),
        Marker::Bin16 => Head::Bin(u16_len(cur)?),
        Marker::Bin32 => Head::Bin(u32_len(cur)?),
        Marker::FixArray(n) => Head::Array(n.into()),
        Marker::Array16 => Head::Array(u16_len(cur)?),
        Marker::Array32 => Head::Array(u32_len(cur)?),
        Marker::FixMap(n) => Head::Map(n.into()),
        Marker::Map16 => Head::Map(u16_len(cur)?),
        Marker::Map32 => Head::Map(u32_len(cur)?),
        Marker::FixExt1 => Head::Ext(1),
        Marker::FixExt2 => Head::Ext(2),
        Marker::FixExt4 => Head::Ext(4),
        Marker::FixExt8 => Head::Ext(8),
        Marker::FixExt16 => Head::Ext(16),
        Marker::Ext8 => Head::Ext(u8_len(cur)?),
        Marker::Ext16 => Head::Ext(u16_len(cur)?),
        Marker::Ext32 => Head::Ext(u32_len(cur)?),
        Marker::Reserved => return Err(err("reserved msgpack marker")),
    })
}

fn read_value(cur: &mut Cursor<&[u8]>, depth: usize) -> Result<Value, DecodeError> {
    let head = read_head(cur)?;
    read_from_head(cur, head, depth)
}

fn read_from_head(cur: &mut Cursor<&[u8]>, head: Head, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Msgpack("value nested too deeply".into()));
    }
    Ok(match head {
        Head::Nil => Value::Null,
        Head::Bool(b) => Value::Bool(b),
        Head::Int(i) => Value::Number(Number::Int(i)),
        Head::BigUint(u) => Value::Number(Number::Big(u.to_string())),
        Head::Float(f) => Value::Number(Number::Float(f)),
        Head::Str(n) => Value::String(read_str(cur, n)?),
        Head::Bin(_) => {
            return Err(DecodeError::Msgpack(
                "binary values are not Terraform values".into(),
            ));
        }
        Head::Array(n) => {
            let mut items = Vec::with_capacity(n.min(remaining(cur)));
            for _ in 0..n {
                items.push(read_value(cur, depth + 1)?);
            }
            Value::List(items)
        }
        Head::Map(n) => {
            let mut m = BTreeMap::new();
            for _ in 0..n {
                let k = read_key(cur)?;
                let v = read_value(cur, depth + 1)?;
                m.insert(k, v);
            }
            Value::Map(m)
        }
        Head::Ext(n) => skip_ext(cur, n)?,
    })
}

/// Reads a value of type `ty`, recording the concrete type of every `dynamic` position.
fn read_typed(cur: &mut Cursor<&[u8]>, ty: &Type, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Msgpack("value nested too deeply".into()));
    }
    let head = read_head(cur)?;
    let shape =
        |what: &str| DecodeError::Shape(format!("expected {what} for type {}", ty.to_json()));
    match (ty, head) {
        (_, Head::Nil) => Ok(Value::Null),
        (_, Head::Ext(n)) => skip_ext(cur, n),
        (Type::Dynamic, Head::Array(2)) => {
            let type_bytes = match read_head(cur)? {
                Head::Bin(n) | Head::Str(n) => take(cur, n)?,
                _ => return Err(shape("the type of a dynamic value as bytes")),
            };
            let t = Type::from_json(&serde_json::from_slice(type_bytes)?)?;
            let v = read_typed(cur, &t, depth + 1)?;
            Ok(Value::Typed(t, Box::new(v)))
        }
        (Type::Dynamic, _) => Err(shape("a [type, value] pair")),
        (Type::Object(attrs), Head::Map(n)) => {
            let mut m = BTreeMap::new();
            for _ in 0..n {
                let k = read_key(cur)?;
                let v = match attrs.iter().find(|(a, _)| *a == k) {
                    Some((_, t)) => read_typed(cur, t, depth + 1)?,
                    None => read_value(cur, depth + 1)?,
                };
                m.insert(k, v);
            }
            Ok(Value::Map(m))
        }
        (Type::Map(t), Head::Map(n)) => {
            let mut m = BTreeMap::new();
            for _ in 0..n {
                let k = read_key(cur)?;
                m.insert(k, read_typed(cur, t, depth + 1)?);
            }
            Ok(Value::Map(m))
        }
        (Type::List(t) | Type::Set(t), Head::Array(n)) => {
            let mut items = Vec::with_capacity(n.min(remaining(cur)));
            for _ in 0..n {
                items.push(read_typed(cur, t, depth + 1)?);
            }
            Ok(Value::List(items))
        }
        (Type::Tuple(ts), Head::Array(n)) => {
            let mut items = Vec::with_capacity(n.min(remaining(cur)));
            for i in 0..n {
                items.push(match ts.get(i) {
                    Some(t) => read_typed(cur, t, depth + 1)?,
                    None => read_value(cur, depth + 1)?,
                });
            }
            Ok(Value::List(items))
        }
        (Type::Object(_) | Type::Map(_), _) => Err(shape("a map")),
        (Type::List(_) | Type::Set(_) | Type::Tuple(_), _) => Err(shape("an array")),
        (Type::String | Type::Number | Type::Bool, head @ (Head::Array(_) | Head::Map(_))) => {
            // Read it anyway so the error is about the shape, not the bytes.
            read_from_head(cur, head, depth)?;
            Err(shape("a primitive value"))
        }
        (Type::String | Type::Number | Type::Bool, head) => {
            Ok(read_from_head(cur, head, depth)?.conform(ty))
        }
    }
}

fn remaining(cur: &Cursor<&[u8]>) -> usize {
    cur.get_ref().len().saturating_sub(cur.position() as usize)
}

fn read_key(cur: &mut Cursor<&[u8]>) -> Result<String, DecodeError> {
    match read_head(cur)? {
        Head::Str(n) => read_str(cur, n),
        _ => Err(DecodeError::Msgpack("map keys must be strings".into())),
    }
}

fn read_n<const N: usize>(cur: &mut Cursor<&[u8]>) -> Result<[u8; N], DecodeError> {
    let mut buf = [0u8; N];
    cur.read_exact(&mut buf)
        .map_err(|_| DecodeError::Msgpack("unexpected end of input".into()))?;
    Ok(buf)
}

fn take<'a>(cur: &mut Cursor<&'a [u8]>, n: usize) -> Result<&'a [u8], DecodeError> {
    let start = cur.position() as usize;
    let data: &'a [u8] = cur.get_ref();
    let end = start
        .checked_add(n)
        .filter(|e| *e <= data.len())
        .ok_or_else(|| DecodeError::Msgpack("length runs past the end of input".into()))?;
    cur.set_position(end as u64);
    Ok(&data[start..end])
}

fn read_str(cur: &mut Cursor<&[u8]>, n: usize) -> Result<String, DecodeError> {
    let bytes = take(cur, n)?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| DecodeError::Msgpack("string is not UTF-8".into()))
}

/// Any ext value is an unknown; its type byte and payload (refinements) are skipped.
fn skip_ext(cur: &mut Cursor<&[u8]>, n: usize) -> Result<Value, DecodeError> {
    read_n::<1>(cur)?;
    take(cur, n)?;
    Ok(Value::Unknown)
}

// Writing to a Vec cannot fail, so the `rmp` results below are infallible.

fn write_unknown(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xd4, 0x00, 0x00]);
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => {
            rmp::encode::write_nil(out).ok();
        }
        Value::Unknown => write_unknown(out),
        Value::Bool(b) => {
            rmp::encode::write_bool(out, *b).ok();
        }
        Value::Number(n) => write_number(out, n),
        Value::String(s) => {
            rmp::encode::write_str(out, s).ok();
        }
        Value::List(items) => {
            rmp::encode::write_array_len(out, items.len() as u32).ok();
            for i in items {
                write_value(out, i);
            }
        }
        Value::Map(m) => {
            rmp::encode::write_map_len(out, m.len() as u32).ok();
            for (k, v) in m {
                rmp::encode::write_str(out, k).ok();
                write_value(out, v);
            }
        }
        Value::Typed(_, v) => write_value(out, v),
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    match n {
        Number::Int(i) => {
            rmp::encode::write_sint(out, *i).ok();
        }
        Number::Float(f) => {
            rmp::encode::write_f64(out, *f).ok();
        }
        Number::Big(s) => {
            rmp::encode::write_str(out, s).ok();
        }
    }
}

fn write_typed(out: &mut Vec<u8>, v: &Value, ty: &Type) {
    match (ty, v) {
        (Type::Dynamic, Value::Null | Value::Unknown) => write_value(out, v),
        (Type::Dynamic, v) => {
            let (t, inner) = match v {
                Value::Typed(t, inner) => (t.clone(), inner.as_ref()),
                other => (Type::of(other), other),
            };
            if t == Type::Dynamic {
                // A null or unknown of unknown type is written bare.
                write_value(out, inner.untyped());
                return;
            }
            rmp::encode::write_array_len(out, 2).ok();
            rmp::encode::write_bin(out, t.to_json().to_string().as_bytes()).ok();
            write_typed(out, inner, &t);
        }
        (_, Value::Typed(_, inner)) => write_typed(out, inner, ty),
        (_, Value::Null | Value::Unknown) => write_value(out, v),
        (Type::Object(attrs), Value::Map(m)) => {
            rmp::encode::write_map_len(out, attrs.len() as u32).ok();
            for (k, t) in attrs {
                rmp::encode::write_str(out, k).ok();
                write_typed(out, m.get(k).unwrap_or(&Value::Null), t);
            }
        }
        (Type::Map(t), Value::Map(m)) => {
            rmp::encode::write_map_len(out, m.len() as u32).ok();
            for (k, v) in m {
                rmp::encode::write_str(out, k).ok();
                write_typed(out, v, t);
            }
        }
        (Type::List(t) | Type::Set(t), Value::List(items)) => {
            rmp::encode::write_array_len(out, items.len() as u32).ok();
            for i in items {
                write_typed(out, i, t);
            }
        }
        (Type::Tuple(ts), Value::List(items)) => {
            rmp::encode::write_array_len(out, items.len() as u32).ok();
            for (i, item) in items.iter().enumerate() {
                match ts.get(i) {
                    Some(t) => write_typed(out, item, t),
                    None => write_value(out, item),
                }
            }
        }
        // A value that does not fit its type is written as it is; Terraform reports it.
        (_, v) => write_value(out, v),
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
