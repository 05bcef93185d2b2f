//! The `compile` fuzz target's checks (`fuzz/src/compile.rs`) on stable, so that CI runs
//! them: random bytes and YAML-ish text as definition files, and the committed seeds
//! (`fuzz/corpus/compile/`: the examples, the golden inputs, the model's fixtures) edited
//! byte by byte. Crashes the fuzzer found are kept below as plain tests.

#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[path = "../../fuzz/src/compile.rs"]
mod oracle;

use std::sync::LazyLock;

use proptest::prelude::*;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::seeds("compile"));

/// What YAML is made of.
const YAML_TOKENS: &[&[u8]] = &[
    b": ", b"\n", b"\n- ", b"  ", b"---\n", b"{", b"[", b"\"", b"'", b"&a ", b"*a", b"!!str ",
    b"~", b"0x", b"-1", b"1e400", b"#",
];

fn edits() -> impl Strategy<Value = Vec<mutate::Edit>> {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8),
        prop::sample::select(YAML_TOKENS).prop_map(<[u8]>::to_vec),
    ];
    prop::collection::vec((any::<u8>(), any::<usize>(), bytes), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_definition_files(body in prop::collection::vec(any::<u8>(), 0..128)) {
        oracle::check(&body);
    }

    #[test]
    fn seeds_edited_byte_by_byte(
        seed in any::<prop::sample::Index>(),
        other in any::<prop::sample::Index>(),
        edits in edits(),
    ) {
        let s = &SEEDS[seed.index(SEEDS.len())];
        let o = &SEEDS[other.index(SEEDS.len())];
        oracle::check(&mutate::apply(s, o, &edits));
    }
}

#[test]
fn every_seed_holds() {
    for s in SEEDS.iter() {
        oracle::check(s);
    }
}
