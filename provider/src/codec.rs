//! Terraform's value wire format (msgpack, with JSON for raw state): a dynamic [`Value`]
//! that can hold unknowns, and the cty [`Type`]s our schemas declare.
//!
//! Decoding needs no schema: msgpack arrays become lists, maps become maps, and any ext
//! value is an unknown (Terraform sends type 0, or type 12 with refinements, which we may
//! ignore). [`Value::conform`] then shapes a value to a type so that every object carries
//! every attribute, as Terraform requires of what we send back.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use rmp::Marker;

/// A Terraform value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    /// A list, set or tuple.
    List(Vec<Value>),
    /// A map or object.
    Map(BTreeMap<String, Value>),
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
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(Vec<(String, Type)>),
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
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True when this value or anything inside it is unknown.
    pub fn has_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(items) => items.iter().any(Value::has_unknown),
            Value::Map(m) => m.values().any(Value::has_unknown),
            _ => false,
        }
    }

    /// An attribute of an object value; `Null` when absent or when this is not an object.
    pub fn get(&self, name: &str) -> &Value {
        match self {
            Value::Map(m) => m.get(name).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Shapes this value to `ty`: objects get exactly the type's attributes (missing ones
    /// null), collections conform element-wise, numbers given as strings become numbers.
    pub fn conform(self, ty: &Type) -> Value {
        match (self, ty) {
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
            (Value::String(s), Type::Number) => match s.parse::<i64>() {
                Ok(i) => Value::Number(Number::Int(i)),
                Err(_) => Value::Number(Number::Big(s)),
            },
            (v, _) => v,
        }
    }

    /// Reads a `DynamicValue`: msgpack when present, else JSON; both empty means null.
    pub fn from_dynamic(msgpack: &[u8], json: &[u8]) -> Result<Value, DecodeError> {
        if !msgpack.is_empty() {
            Self::from_msgpack(msgpack)
        } else if !json.is_empty() {
            Self::from_json_bytes(json)
        } else {
            Ok(Value::Null)
        }
    }

    pub fn from_msgpack(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut cur = Cursor::new(bytes);
        let v = read_value(&mut cur, 0)?;
        if (cur.position() as usize) != bytes.len() {
            return Err(DecodeError::Msgpack("trailing bytes after value".into()));
        }
        Ok(v)
    }

    pub fn from_json_bytes(bytes: &[u8]) -> Result<Value, DecodeError> {
        Ok(Self::from_json(&serde_json::from_slice(bytes)?))
    }

    /// Converts JSON (which cannot hold unknowns) to a value.
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

    /// Converts a known value to JSON; unknowns become null.
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
        }
    }

    /// Encodes as msgpack, the form Terraform expects in every reply.
    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        write_value(&mut out, self);
        out
    }
}

const MAX_DEPTH: usize = 128;

fn read_value(cur: &mut Cursor<&[u8]>, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Msgpack("value nested too deeply".into()));
    }
    let err = |what: &str| DecodeError::Msgpack(what.to_string());
    let marker = rmp::decode::read_marker(cur).map_err(|_| err("unexpected end of input"))?;
    Ok(match marker {
        Marker::Null => Value::Null,
        Marker::True => Value::Bool(true),
        Marker::False => Value::Bool(false),
        Marker::FixPos(n) => Value::Number(Number::Int(n.into())),
        Marker::FixNeg(n) => Value::Number(Number::Int(n.into())),
        Marker::U8 => Value::Number(Number::Int(read_n::<1>(cur)?[0].into())),
        Marker::U16 => Value::Number(Number::Int(u16::from_be_bytes(read_n(cur)?).into())),
        Marker::U32 => Value::Number(Number::Int(u32::from_be_bytes(read_n(cur)?).into())),
        Marker::U64 => {
            let v = u64::from_be_bytes(read_n(cur)?);
            Value::Number(i64::try_from(v).map_or_else(|_| Number::Big(v.to_string()), Number::Int))
        }
        Marker::I8 => Value::Number(Number::Int(i8::from_be_bytes(read_n(cur)?).into())),
        Marker::I16 => Value::Number(Number::Int(i16::from_be_bytes(read_n(cur)?).into())),
        Marker::I32 => Value::Number(Number::Int(i32::from_be_bytes(read_n(cur)?).into())),
        Marker::I64 => Value::Number(Number::Int(i64::from_be_bytes(read_n(cur)?))),
        Marker::F32 => Value::Number(Number::Float(f32::from_be_bytes(read_n(cur)?).into())),
        Marker::F64 => Value::Number(Number::Float(f64::from_be_bytes(read_n(cur)?))),
        Marker::FixStr(n) => Value::String(read_str(cur, n.into())?),
        Marker::Str8 => {
            let n = read_n::<1>(cur)?[0].into();
            Value::String(read_str(cur, n)?)
        }
        Marker::Str16 => {
            let n = u16::from_be_bytes(read_n(cur)?).into();
            Value::String(read_str(cur, n)?)
        }
        Marker::Str32 => {
            let n = u32::from_be_bytes(read_n(cur)?) as usize;
            Value::String(read_str(cur, n)?)
        }
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
            return Err(err("binary values are not Terraform values"));
        }
        Marker::FixArray(n) => read_array(cur, n.into(), depth)?,
        Marker::Array16 => {
            let n = u16::from_be_bytes(read_n(cur)?).into();
            read_array(cur, n, depth)?
        }
        Marker::Array32 => {
            let n = u32::from_be_bytes(read_n(cur)?) as usize;
            read_array(cur, n, depth)?
        }
        Marker::FixMap(n) => read_map(cur, n.into(), depth)?,
        Marker::Map16 => {
            let n = u16::from_be_bytes(read_n(cur)?).into();
            read_map(cur, n, depth)?
        }
        Marker::Map32 => {
            let n = u32::from_be_bytes(read_n(cur)?) as usize;
            read_map(cur, n, depth)?
        }
        Marker::FixExt1 => skip_ext(cur, 1)?,
        Marker::FixExt2 => skip_ext(cur, 2)?,
        Marker::FixExt4 => skip_ext(cur, 4)?,
        Marker::FixExt8 => skip_ext(cur, 8)?,
        Marker::FixExt16 => skip_ext(cur, 16)?,
        Marker::Ext8 => {
            let n = read_n::<1>(cur)?[0].into();
            skip_ext(cur, n)?
        }
        Marker::Ext16 => {
            let n = u16::from_be_bytes(read_n(cur)?).into();
            skip_ext(cur, n)?
        }
        Marker::Ext32 => {
            let n = u32::from_be_bytes(read_n(cur)?) as usize;
            skip_ext(cur, n)?
        }
        Marker::Reserved => return Err(err("reserved msgpack marker")),
    })
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

fn read_array(cur: &mut Cursor<&[u8]>, n: usize, depth: usize) -> Result<Value, DecodeError> {
    let remaining = cur.get_ref().len() - cur.position() as usize;
    let mut items = Vec::with_capacity(n.min(remaining));
    for _ in 0..n {
        items.push(read_value(cur, depth + 1)?);
    }
    Ok(Value::List(items))
}

fn read_map(cur: &mut Cursor<&[u8]>, n: usize, depth: usize) -> Result<Value, DecodeError> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let Value::String(k) = read_value(cur, depth + 1)? else {
            return Err(DecodeError::Msgpack("map keys must be strings".into()));
        };
        let v = read_value(cur, depth + 1)?;
        m.insert(k, v);
    }
    Ok(Value::Map(m))
}

/// Any ext value is an unknown; its type byte and payload (refinements) are skipped.
fn skip_ext(cur: &mut Cursor<&[u8]>, n: usize) -> Result<Value, DecodeError> {
    read_n::<1>(cur)?;
    take(cur, n)?;
    Ok(Value::Unknown)
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    // Writing to a Vec cannot fail, so the results below are infallible.
    match v {
        Value::Null => {
            rmp::encode::write_nil(out).ok();
        }
        Value::Unknown => out.extend_from_slice(&[0xd4, 0x00, 0x00]),
        Value::Bool(b) => {
            rmp::encode::write_bool(out, *b).ok();
        }
        Value::Number(Number::Int(i)) => {
            rmp::encode::write_sint(out, *i).ok();
        }
        Value::Number(Number::Float(f)) => {
            rmp::encode::write_f64(out, *f).ok();
        }
        Value::Number(Number::Big(s)) | Value::String(s) => {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn round_trips_every_kind_of_value() {
        let v = obj(&[
            ("s", Value::String("héllo".into())),
            ("n", Value::Number(Number::Int(-70000))),
            ("big", Value::Number(Number::Int(i64::MAX))),
            ("f", Value::Number(Number::Float(1.5))),
            ("b", Value::Bool(true)),
            ("null", Value::Null),
            ("unknown", Value::Unknown),
            (
                "list",
                Value::List(vec![Value::Number(Number::Int(1)), Value::Unknown]),
            ),
            ("long", Value::String("x".repeat(70_000))),
        ]);
        assert_eq!(Value::from_msgpack(&v.to_msgpack()).unwrap(), v);
    }

    #[test]
    fn unknowns_are_written_as_terraform_does() {
        assert_eq!(Value::Unknown.to_msgpack(), vec![0xd4, 0, 0]);
    }

    #[test]
    fn refined_unknowns_are_read_as_unknown() {
        // ext type 12 with a refinement map {1: true} (not null).
        let bytes = [0xd5, 12, 0x81, 0x01];
        let bytes = [&bytes[..], &[0xc3]].concat();
        // fixext2 holds exactly two payload bytes: 0x81 0x01; 0xc3 would be trailing.
        assert!(Value::from_msgpack(&bytes).is_err());
        assert_eq!(
            Value::from_msgpack(&[0xd5, 12, 0x80, 0xc0]).unwrap(),
            Value::Unknown
        );
        assert_eq!(
            Value::from_msgpack(&[0xc7, 3, 12, 0x81, 0x01, 0xc3]).unwrap(),
            Value::Unknown
        );
    }

    #[test]
    fn numbers_may_arrive_as_strings() {
        let v = Value::String("12".into()).conform(&Type::Number);
        assert_eq!(v, Value::Number(Number::Int(12)));
        let v = Value::String("1e400".into()).conform(&Type::Number);
        assert_eq!(v, Value::Number(Number::Big("1e400".into())));
    }

    #[test]
    fn conform_fills_and_drops_object_attributes() {
        let ty = Type::Object(vec![
            ("a".into(), Type::String),
            ("b".into(), Type::List(Box::new(Type::Number))),
        ]);
        let v = obj(&[("a", Value::String("x".into())), ("zzz", Value::Bool(true))]).conform(&ty);
        assert_eq!(
            v,
            obj(&[("a", Value::String("x".into())), ("b", Value::Null)])
        );
    }

    #[test]
    fn truncated_and_hostile_input_is_an_error_not_a_panic() {
        for bytes in [
            &[0x92, 0x01][..],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0xdb, 0, 0, 0, 9, b'a'],
            &[0xc1],
            &[0x81, 0x01, 0x01],
        ] {
            assert!(Value::from_msgpack(bytes).is_err(), "{bytes:?}");
        }
        let deep = vec![0x91u8; 10_000];
        assert!(Value::from_msgpack(&deep).is_err());
    }

    #[test]
    fn json_numbers_and_nesting() {
        let j = serde_json::json!({"a": [1, 2.5, "x"], "b": null});
        let v = Value::from_json(&j);
        assert_eq!(v.to_json(), j);
    }

    #[test]
    fn type_json_is_compact_cty() {
        let ty = Type::List(Box::new(Type::Object(vec![("n".into(), Type::Number)])));
        assert_eq!(
            ty.to_json().to_string(),
            r#"["list",["object",{"n":"number"}]]"#
        );
    }
}
