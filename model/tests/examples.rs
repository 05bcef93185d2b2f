//! Golden check over the project's example definitions: every document in
//! `examples/definitions/` parses, validates, and round-trips through YAML unchanged.

use std::path::PathBuf;

#[test]
fn every_example_definition_is_valid_and_round_trips() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/definitions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/definitions exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no example definitions in {}",
        dir.display()
    );
    let mut count = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.display().to_string();
        let docs = wayfinder_model::parse_yaml_documents(&name, &text)
            .unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        for doc in docs {
            if let Err(e) = doc.object.validate() {
                panic!("{name}: {e}");
            }
            let yaml = serde_yaml_ng::to_string(&doc.object).unwrap();
            let again = wayfinder_model::parse_yaml_documents(&name, &yaml).unwrap();
            assert_eq!(
                again[0].object,
                doc.object,
                "{name}: {} changed in a YAML round trip",
                doc.object.display_name()
            );
            count += 1;
        }
    }
    assert!(
        count >= 3,
        "expected the EKS, AKS and GKE examples, found {count} definitions"
    );
}
