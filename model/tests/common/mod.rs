//! Helpers shared by the model's integration tests: the fixtures in `tests/data/`, one file
//! per kind, named after the kind in snake_case.

#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;
use wayfinder_model::kinds::{ALL, KindInfo, Object};
use wayfinder_model::{FieldError, naming, parse_yaml_documents};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The fixture file of a kind: `tests/data/cluster_plan.yaml` for ClusterPlan.
pub fn fixture_path(kind: &KindInfo) -> PathBuf {
    data_dir().join(format!("{}.yaml", naming::snake_case(kind.kind)))
}

pub fn fixture_text(kind: &KindInfo) -> String {
    let path = fixture_path(kind);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The objects of a kind's fixture.
pub fn fixture(kind: &KindInfo) -> Vec<Object> {
    let path = fixture_path(kind);
    parse_yaml_documents(&path.to_string_lossy(), &fixture_text(kind))
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
        .into_iter()
        .map(|d| d.object)
        .collect()
}

/// The documents of a kind's fixture as plain JSON, as the YAML says them.
pub fn fixture_json(kind: &KindInfo) -> Vec<serde_json::Value> {
    serde_yaml_ng::Deserializer::from_str(&fixture_text(kind))
        .map(|d| serde_json::Value::deserialize(d).expect("fixture is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Every fixture object of every kind.
pub fn all_fixtures() -> Vec<Object> {
    ALL.iter().flat_map(|k| fixture(k)).collect()
}

/// Parses one YAML document.
pub fn parse_one(yaml: &str) -> Object {
    let mut docs = parse_yaml_documents("test.yaml", yaml).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(docs.len(), 1, "one document expected");
    docs.remove(0).object
}

/// The validation problems of one YAML document, as `path: message` lines.
pub fn problems(yaml: &str) -> Vec<String> {
    match parse_one(yaml).validate() {
        Ok(()) => Vec::new(),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

pub fn lines(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}
