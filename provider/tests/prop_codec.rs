//! The `codec` fuzz target's checks (`fuzz/src/codec.rs`) on stable, so that CI runs them:
//! random bytes under every schema type the provider declares, and the committed seeds
//! (`fuzz/corpus/codec/`) edited byte by byte. Crashes the fuzzer found are kept below as
//! plain tests.

#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../../fuzz/src/codec.rs"]
mod oracle;

use std::sync::LazyLock;

use proptest::prelude::*;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::seeds("codec"));

fn edits() -> impl Strategy<Value = Vec<mutate::Edit>> {
    prop::collection::vec(
        (
            any::<u8>(),
            any::<usize>(),
            prop::collection::vec(any::<u8>(), 0..8),
        ),
        1..6,
    )
}

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
