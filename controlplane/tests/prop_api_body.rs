//! The `api_body` fuzz target's checks (`fuzz/src/api.rs`) on stable, so that CI runs them:
//! random bytes and the committed seeds (`fuzz/corpus/api_body/`: every kind's fixtures as
//! JSON) edited byte by byte, as `POST` and `PUT` bodies through the real router, store and
//! admission. Crashes the fuzzer found are kept below as plain tests.

#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../../fuzz/src/api.rs"]
mod oracle;
#[path = "../../fuzz/src/seed_props.rs"]
mod seed_props;

use std::sync::LazyLock;

use proptest::prelude::*;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::seeds("api_body"));

/// What JSON is made of.
const JSON_TOKENS: &[&[u8]] = &[
    b"\"", b":", b",", b"{", b"}", b"[", b"]", b"null", b"-1", b"1e400", b"0.5", b"\\u0000",
    b"\"\"", b"true",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_bodies(
        selector in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        oracle::check(&[&[selector][..], &body].concat());
    }

    #[test]
    fn seeds_edited_byte_by_byte(input in seed_props::edited_seed(&SEEDS, JSON_TOKENS)) {
        oracle::check(&input);
    }
}

#[test]
fn every_seed_holds() {
    for s in SEEDS.iter() {
        oracle::check(s);
    }
}
