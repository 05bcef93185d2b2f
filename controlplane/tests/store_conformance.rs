//! The store's conformance suite (`wayfinder_controlplane::store::conformance`) on the
//! SQLite backend: one test per function, each on a fresh store file.

use std::sync::atomic::{AtomicUsize, Ordering};

use wayfinder_controlplane::store::{Store, conformance};

/// Runs `test` with fresh SQLite stores in a temporary directory, removed after.
fn on_sqlite(test: fn(conformance::Open<'_>)) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let n = AtomicUsize::new(0);
    let open = || {
        let file = format!("wayfinder-{}.db", n.fetch_add(1, Ordering::SeqCst));
        Store::open_sqlite(&dir.path().join(file)).expect("the store opens")
    };
    test(&open);
}

#[test]
fn the_suite_names_every_function_once() {
    let mut names: Vec<&str> = conformance::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), 18, "a function was added: give it a test here");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 18);
}

#[test]
fn a_create_if_absent_is_refused_when_the_object_exists() {
    on_sqlite(conformance::create_if_absent);
}

#[test]
fn an_update_commits_at_the_current_version_and_conflicts_at_a_stale_one() {
    on_sqlite(conformance::update_at_a_version);
}

#[test]
fn a_delete_at_the_current_version_removes_the_object() {
    on_sqlite(conformance::delete);
}

#[test]
fn a_refused_decision_writes_nothing() {
    on_sqlite(conformance::a_refused_decision_writes_nothing);
}

#[test]
fn a_dry_run_answers_versions_and_writes_nothing() {
    on_sqlite(conformance::a_dry_run_writes_nothing);
}

#[test]
fn objects_and_token_rows_commit_together_or_not_at_all() {
    on_sqlite(conformance::objects_and_tokens_commit_together);
}

#[test]
fn a_batch_of_two_objects_commits_both_or_neither() {
    on_sqlite(conformance::a_batch_commits_both_or_neither);
}

#[test]
fn lists_are_in_key_order_and_filter_by_labels_and_name_prefix() {
    on_sqlite(conformance::lists_in_key_order_with_labels_and_prefix);
}

#[test]
fn projections_answer_what_reading_the_bodies_would() {
    on_sqlite(conformance::projections_match_the_bodies);
}

#[test]
fn a_watch_from_a_version_delivers_every_later_event_of_every_commit() {
    on_sqlite(conformance::watch_from_a_version);
}

#[test]
fn a_watch_from_a_compacted_version_is_refused() {
    on_sqlite(conformance::watch_from_a_compacted_version);
}

#[test]
fn resource_versions_strictly_increase() {
    on_sqlite(conformance::versions_strictly_increase);
}

#[test]
fn concurrent_decisions_over_a_shared_limit_admit_exactly_the_limit() {
    on_sqlite(conformance::a_shared_limit_admits_exactly_the_limit);
}

#[test]
fn pages_answer_the_first_pages_state_and_expired_tokens_are_refused() {
    on_sqlite(conformance::pages);
}

#[test]
fn a_server_key_is_created_once() {
    on_sqlite(conformance::server_key_is_created_once);
}

#[test]
fn tokens_are_found_by_subject_and_by_maker() {
    on_sqlite(conformance::token_lineage);
}

#[test]
fn the_read_barrier_returns() {
    on_sqlite(conformance::the_read_barrier_returns);
}

#[test]
fn the_leader_s_fenced_writes_commit() {
    on_sqlite(conformance::leadership_and_fenced_writes);
}
