//! The `codec` fuzz target's checks (`fuzz/src/codec.rs`) on stable, so that CI runs them:
//! random bytes under every schema type the provider declares, and the committed seeds
//! (`fuzz/corpus/codec/`) edited byte by byte. Crashes the fuzzer found are kept below as
//! plain tests.

#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../../fuzz/src/codec.rs"]
mod oracle;
#[path = "../../fuzz/src/seed_props.rs"]
mod seed_props;

use std::sync::LazyLock;

use proptest::prelude::*;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::seeds("codec"));

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_under_every_schema_type(
        selector in any::<u8>(),
        mode in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        oracle::check(&[&[selector, mode][..], &body].concat());
    }

    #[test]
    fn seeds_edited_byte_by_byte(input in seed_props::edited_seed(&SEEDS, &[])) {
        oracle::check(&input);
    }
}

#[test]
fn every_seed_holds() {
    for s in SEEDS.iter() {
        oracle::check(s);
    }
}

// ---------------------------------------------------------------------------------------------
// What the fuzzer found.

/// The `wayfinder_provisioning_policy` value type, as the `codec` target selects it.
fn resource_selector(type_name: &str) -> u8 {
    oracle::selectors()
        .find(|(_, o, _)| matches!(o, oracle::Owner::Resource(n) if n == type_name))
        .map(|(s, _, _)| s)
        .expect("a resource type")
}

/// cty JSON (raw state) with an object where a string belongs was read as it was, then
/// written back as msgpack that no decoder reads as the schema's type. Now it is refused
/// as msgpack is.
#[test]
fn an_object_where_a_primitive_belongs_in_cty_json_is_refused() {
    let body = br#"{"id":"pay-aws","name":"pay-aws","annotations":null,"description":null,"cloud":"aws","allowed_regions":null,"cloud":{"all_workspaces":null,"allowed_workspaces":["pay"],"all_stages":true,"allowed_stages":null},"cluster_limits":{"per_cluster":null,"per_workspace":{"cost_per_month":null,"total_nodes":null,"max_clusters":null,"allowed_instance_types":[{"instance_type":"m6i.large","max_nodes":40}]}}}"#;
    let selector = resource_selector("wayfinder_provisioning_policy");
    oracle::check(&[&[selector, oracle::JSON][..], body].concat());

    use terraform_provider_wayfinder::codec::{DecodeError, Type, Value};
    for ty in [Type::String, Type::Number, Type::Bool] {
        for json in [serde_json::json!({"a": 1}), serde_json::json!([1])] {
            let e = Value::from_json_as(&json, &ty).unwrap_err();
            assert!(
                matches!(&e, DecodeError::Shape(m) if m.contains("a primitive value")),
                "{e}"
            );
        }
    }
}

/// A float read from cty JSON was parsed to a neighbouring f64 (serde_json's fast float
/// parsing is not exact), so raw state upgraded through the provider could come back with a
/// number Terraform never wrote. Found as an unstable JSON round trip of a msgpack float.
#[test]
fn floats_in_cty_json_are_read_exactly() {
    let x = -8.6773110140979e-120_f64;
    let mut input = vec![oracle::TYPE_FROM_INPUT, 0];
    input.extend_from_slice(br#""number""#);
    input.push(0);
    input.push(0xcb);
    input.extend_from_slice(&x.to_be_bytes());
    oracle::check(&input);

    use terraform_provider_wayfinder::codec::{Number, Type, Value};
    for text in [
        "-8.6773110140979e-120",
        "0.1",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
    ] {
        let want: f64 = text.parse().unwrap();
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        match Value::from_json_as(&json, &Type::Number).unwrap() {
            Value::Number(Number::Float(f)) => assert_eq!(f.to_bits(), want.to_bits(), "{text}"),
            v => panic!("{text}: {v:?}"),
        }
    }
}
