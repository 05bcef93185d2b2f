//! The seed-editing half of the stable property tests (`prop_codec`, `prop_compile`,
//! `prop_api_body`): a committed seed edited byte by byte, as the fuzzer does. Included
//! with `#[path]` next to [`mutate`](crate::mutate) by those tests only, since it needs
//! proptest (the fuzz crate itself does not compile it).

use proptest::prelude::*;

use crate::mutate;

/// Up to five edits, each inserting random bytes or, when `tokens` is not empty, one of
/// them (what the input format is made of).
pub fn edits(tokens: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<mutate::Edit>> {
    let random = prop::collection::vec(any::<u8>(), 0..8);
    let bytes = if tokens.is_empty() {
        random.boxed()
    } else {
        prop_oneof![
            random,
            prop::sample::select(tokens).prop_map(<[u8]>::to_vec)
        ]
        .boxed()
    };
    prop::collection::vec((any::<u8>(), any::<usize>(), bytes), 1..6)
}

/// One of `seeds`, edited by [`edits`] (splicing in parts of another seed).
pub fn edited_seed(
    seeds: &'static [Vec<u8>],
    tokens: &'static [&'static [u8]],
) -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        edits(tokens),
    )
        .prop_map(move |(seed, other, edits)| {
            let s = &seeds[seed.index(seeds.len())];
            let o = &seeds[other.index(seeds.len())];
            mutate::apply(s, o, &edits)
        })
}
