//! The `compile` fuzz target's checks (`fuzz/src/compile.rs`) on stable, so that CI runs
//! them: random bytes and YAML-ish text as definition files, and the committed seeds
//! (`fuzz/corpus/compile/`: the examples, the golden inputs, the model's fixtures) edited
//! byte by byte. Crashes the fuzzer found are kept below as plain tests.

#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[path = "../../fuzz/src/compile.rs"]
mod oracle;
#[path = "../../fuzz/src/seed_props.rs"]
mod seed_props;

use std::sync::LazyLock;

use proptest::prelude::*;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::seeds("compile"));

/// What YAML is made of.
const YAML_TOKENS: &[&[u8]] = &[
    b": ", b"\n", b"\n- ", b"  ", b"---\n", b"{", b"[", b"\"", b"'", b"&a ", b"*a", b"!!str ",
    b"~", b"0x", b"-1", b"1e400", b"#",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_definition_files(body in prop::collection::vec(any::<u8>(), 0..128)) {
        oracle::check(&body);
    }

    #[test]
    fn seeds_edited_byte_by_byte(input in seed_props::edited_seed(&SEEDS, YAML_TOKENS)) {
        oracle::check(&input);
    }
}

#[test]
fn every_seed_holds() {
    for s in SEEDS.iter() {
        oracle::check(s);
    }
}
