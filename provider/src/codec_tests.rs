//! Tests of the value codec.

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

// ---------------------------------------------------------------------------------------
// `dynamic` values

/// How go-cty writes a value in a `dynamic` position: `[bin(type JSON), value]`.
fn cty_dynamic(type_json: &str, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x92, 0xc4, type_json.len() as u8];
    out.extend_from_slice(type_json.as_bytes());
    out.extend_from_slice(value);
    out
}

#[test]
fn dynamic_values_keep_their_type_both_ways() {
    // "hi" as a string in a dynamic attribute.
    let bytes = cty_dynamic(r#""string""#, &[0xa2, b'h', b'i']);
    let v = Value::from_msgpack_as(&bytes, &Type::Dynamic).unwrap();
    assert_eq!(
        v,
        Value::Typed(Type::String, Box::new(Value::String("hi".into())))
    );
    assert_eq!(
        v.to_msgpack_as(&Type::Dynamic),
        bytes,
        "written back as cty wrote it"
    );
    assert_eq!(v.as_str(), Some("hi"), "accessors see through the type");
}

#[test]
fn a_list_in_a_dynamic_attribute_stays_a_list() {
    // tolist(["a"]) in a dynamic attribute, then an object holding it.
    let list = cty_dynamic(r#"["list","string"]"#, &[0x91, 0xa1, b'a']);
    let ty = Type::Object(vec![("match".into(), Type::Dynamic)]);
    let mut bytes = vec![0x81, 0xa5];
    bytes.extend_from_slice(b"match");
    bytes.extend_from_slice(&list);
    let v = Value::from_msgpack_as(&bytes, &ty).unwrap();
    assert_eq!(Type::of(v.get("match")), Type::List(Box::new(Type::String)));
    assert_eq!(v.to_msgpack_as(&ty), bytes);
    // Without the recorded type the same JSON would be a tuple, as HCL types `["a"]`.
    let plain = Value::from_json(&serde_json::json!(["a"]));
    assert_eq!(Type::of(&plain), Type::Tuple(vec![Type::String]));
}

#[test]
fn values_from_json_are_typed_as_hcl_types_literals() {
    let json = serde_json::json!({"any": [{"resources": {"kinds": ["Pod"]}}], "n": 2, "x": null});
    let v = Value::from_json(&json);
    let bytes = v.to_msgpack_as(&Type::Dynamic);
    let back = Value::from_msgpack_as(&bytes, &Type::Dynamic).unwrap();
    assert_eq!(back.to_json(), json);
    assert_eq!(
        Type::of(&back).to_json(),
        serde_json::json!(["object", {
            "any": ["tuple", [["object", {"resources": ["object", {"kinds": ["tuple", ["string"]]}]}]]],
            "n": "number",
            "x": "dynamic"
        }])
    );
}

#[test]
fn nulls_and_unknowns_in_dynamic_positions() {
    // A null of unknown type is a bare nil; a null string carries its type.
    assert_eq!(
        Value::from_msgpack_as(&[0xc0], &Type::Dynamic).unwrap(),
        Value::Null
    );
    assert_eq!(Value::Null.to_msgpack_as(&Type::Dynamic), [0xc0]);
    let typed_null = cty_dynamic(r#""string""#, &[0xc0]);
    let v = Value::from_msgpack_as(&typed_null, &Type::Dynamic).unwrap();
    assert!(v.is_null());
    assert_eq!(v.to_msgpack_as(&Type::Dynamic), typed_null);
    // Unknown of unknown type: the ext itself; unknown string: wrapped.
    assert_eq!(
        Value::from_msgpack_as(&[0xd4, 0, 0], &Type::Dynamic).unwrap(),
        Value::Unknown
    );
    let typed_unknown = cty_dynamic(r#""string""#, &[0xd4, 0, 0]);
    let v = Value::from_msgpack_as(&typed_unknown, &Type::Dynamic).unwrap();
    assert!(v.is_unknown() && v.has_unknown());
    assert_eq!(v.to_msgpack_as(&Type::Dynamic), typed_unknown);
}

#[test]
fn the_type_may_also_come_as_a_string() {
    let mut bytes = vec![0x92, 0xa8];
    bytes.extend_from_slice(br#""number""#);
    bytes.push(0x07);
    let v = Value::from_msgpack_as(&bytes, &Type::Dynamic).unwrap();
    assert_eq!(
        v,
        Value::Typed(Type::Number, Box::new(Value::Number(Number::Int(7))))
    );
}

#[test]
fn dynamic_values_in_cty_json() {
    let ty = Type::Object(vec![
        ("name".into(), Type::String),
        ("rules".into(), Type::Dynamic),
    ]);
    let json = serde_json::json!({
        "name": "p",
        "rules": {"value": [{"match": {"value": {"k": "v"}, "type": ["map", "string"]}}],
                  "type": ["tuple", [["object", {"match": "dynamic"}]]]}
    });
    let v = Value::from_json_as(&json, &ty).unwrap();
    let rules = v.get("rules");
    assert_eq!(
        Type::of(rules),
        Type::Tuple(vec![Type::Object(vec![("match".into(), Type::Dynamic)])])
    );
    let first_match = rules.as_list().unwrap()[0].get("match");
    assert_eq!(Type::of(first_match), Type::Map(Box::new(Type::String)));
    assert_eq!(v.to_json_as(&ty), json);
    // And through msgpack.
    let back = Value::from_msgpack_as(&v.to_msgpack_as(&ty), &ty).unwrap();
    assert_eq!(back, v);
}

#[test]
fn malformed_dynamic_values_are_errors_not_panics() {
    for bytes in [
        vec![0x91, 0xc0],                          // one element, not two
        vec![0x92, 0x01, 0x02],                    // the type is not bytes
        cty_dynamic("not json", &[0xc0]),          // the type is not JSON
        cty_dynamic(r#"["nonsense"]"#, &[0xc0]),   // the type is not a cty type
        cty_dynamic(r#""string""#, &[0x91, 0x01]), // an array where a string belongs
        vec![0xa1, b'x'],                          // not a pair at all
    ] {
        assert!(
            Value::from_msgpack_as(&bytes, &Type::Dynamic).is_err(),
            "{bytes:x?}"
        );
    }
    assert!(Value::from_json_as(&serde_json::json!({"value": 1}), &Type::Dynamic).is_err());
    assert!(Value::from_json_as(&serde_json::json!([1]), &Type::Object(vec![])).is_err());
}

#[test]
fn typed_objects_carry_every_attribute() {
    let ty = Type::Object(vec![("a".into(), Type::String), ("b".into(), Type::Number)]);
    let v = obj(&[("a", Value::String("x".into()))]);
    let back = Value::from_msgpack_as(&v.to_msgpack_as(&ty), &ty).unwrap();
    assert_eq!(
        back,
        obj(&[("a", Value::String("x".into())), ("b", Value::Null)])
    );
}

// ---------------------------------------------------------------------------------------
// Property tests: every value of every type round-trips through msgpack and cty JSON.

mod props {
    use proptest::prelude::*;

    use super::super::*;

    fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::String),
            Just(Type::Number),
            Just(Type::Bool),
            Just(Type::Dynamic),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Type::List(Box::new(t))),
                inner.clone().prop_map(|t| Type::Set(Box::new(t))),
                inner.clone().prop_map(|t| Type::Map(Box::new(t))),
                prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4)
                    .prop_map(|m| Type::Object(m.into_iter().collect())),
                prop::collection::vec(inner, 0..4).prop_map(Type::Tuple),
            ]
        })
    }

    /// A concrete type for a dynamic position: anything but `dynamic` itself at the top.
    fn arb_concrete_type() -> impl Strategy<Value = Type> {
        arb_type().prop_filter("concrete", |t| *t != Type::Dynamic)
    }

    fn arb_number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<i64>().prop_map(Number::Int),
            // Non-integral floats with a short decimal form (serde_json parses those exactly).
            (
                any::<i32>(),
                prop_oneof![Just(0.5), Just(0.25), Just(0.125)]
            )
                .prop_map(|(i, f)| Number::Float(f64::from(i) + f)),
        ]
    }

    /// A value of type `ty`; `unknowns` allows unknown values (not in JSON).
    fn arb_value(ty: &Type, unknowns: bool) -> BoxedStrategy<Value> {
        let known: BoxedStrategy<Value> = match ty {
            Type::String => any::<String>().prop_map(Value::String).boxed(),
            Type::Number => arb_number().prop_map(Value::Number).boxed(),
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::Dynamic => arb_concrete_type()
                .prop_flat_map(move |t| {
                    arb_value(&t, unknowns).prop_map(move |v| Value::Typed(t.clone(), Box::new(v)))
                })
                .boxed(),
            Type::List(t) | Type::Set(t) => prop::collection::vec(arb_value(t, unknowns), 0..3)
                .prop_map(Value::List)
                .boxed(),
            Type::Map(t) => prop::collection::btree_map(".{0,5}", arb_value(t, unknowns), 0..3)
                .prop_map(Value::Map)
                .boxed(),
            Type::Object(attrs) => {
                let parts: Vec<BoxedStrategy<(String, Value)>> = attrs
                    .iter()
                    .map(|(k, t)| {
                        let k = k.clone();
                        arb_value(t, unknowns)
                            .prop_map(move |v| (k.clone(), v))
                            .boxed()
                    })
                    .collect();
                parts
                    .prop_map(|kvs| Value::Map(kvs.into_iter().collect()))
                    .boxed()
            }
            Type::Tuple(ts) => {
                let parts: Vec<BoxedStrategy<Value>> =
                    ts.iter().map(|t| arb_value(t, unknowns)).collect();
                parts.prop_map(Value::List).boxed()
            }
        };
        if unknowns {
            prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known].boxed()
        } else {
            prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
        }
    }

    proptest! {
        #[test]
        fn types_round_trip_through_their_json(ty in arb_type()) {
            prop_assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
        }

        #[test]
        fn values_round_trip_through_msgpack(
            (ty, v) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(&t, true)))
        ) {
            let bytes = v.to_msgpack_as(&ty);
            let back = Value::from_msgpack_as(&bytes, &ty).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(back.to_msgpack_as(&ty), bytes);
        }

        #[test]
        fn known_values_round_trip_through_cty_json(
            (ty, v) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(&t, false)))
        ) {
            let json = v.to_json_as(&ty);
            let text = serde_json::to_string(&json).unwrap();
            let back = Value::from_json_as(&serde_json::from_str(&text).unwrap(), &ty).unwrap();
            prop_assert_eq!(back, v);
        }

        #[test]
        fn plain_json_in_a_dynamic_position_keeps_its_meaning(
            json in arb_json()
        ) {
            let v = Value::from_json(&json);
            let back = Value::from_msgpack_as(&v.to_msgpack_as(&Type::Dynamic), &Type::Dynamic).unwrap();
            prop_assert_eq!(back.to_json(), v.to_json());
            if !v.is_null() {
                prop_assert_eq!(Type::of(&back), Type::of(&v));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), ty in arb_type()) {
            let _ = Value::from_msgpack_as(&bytes, &ty);
            let _ = Value::from_msgpack(&bytes);
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,5}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
