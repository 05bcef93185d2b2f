//! Every resource but `wayfinder_cluster` through the real Terraform CLI and a real server,
//! in one configuration an administrator would write (one object of every kind, from the
//! model's test data), following the terraform-plugin-testing loop: apply → every server
//! object equals its configuration → empty plans without and with refresh → import every
//! object into a fresh directory with `import` blocks (no-op imports) and verify every
//! attribute → update every object in place → destroy → check every object is gone.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wayfinder_acceptance::config::{Entry, catalog, catalog_config, import_blocks};
use wayfinder_acceptance::{Server, Workdir, assert_json_eq, require_terraform, strip_nulls};
use wayfinder_model::Object;

/// Changes one field of an object: its description, summary or display name where it has
/// one.
fn touch(object: &Object, suffix: &str) -> Object {
    let mut json = object.to_json();
    let spec = json["spec"].as_object_mut().expect("a spec");
    let mut done = false;
    for path in [
        &["description"][..],
        &["summary"],
        &["displayName"],
        &["accessPolicyTemplate", "description"],
        &["accessRoleTemplate", "description"],
    ] {
        let mut at = &mut *spec;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                if let Some(Value::String(s)) = at.get_mut(*key) {
                    s.push_str(suffix);
                    done = true;
                }
            } else {
                match at.get_mut(*key).and_then(Value::as_object_mut) {
                    Some(inner) => at = inner,
                    None => break,
                }
            }
        }
        if done {
            break;
        }
    }
    if !done && let Some(Value::Array(networks)) = spec.get_mut("networks") {
        // An assignable network has no description: add a range.
        networks.push(json!({"range": "10.250.0.0/16", "type": "node"}));
        done = true;
    }
    assert!(done, "{} has no field to change", object.display_name());
    wayfinder_model::parse_json("touched", json.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", object.display_name()))
}

fn server_object(server: &Server, e: &Entry) -> Option<Value> {
    server.client().object(
        e.object.kind_info(),
        e.workspace().as_deref(),
        &e.object.metadata().name,
        e.object.version(),
    )
}

/// Every server object holds what its configuration says.
fn check_server_matches(server: &Server, entries: &[Entry], when: &str) {
    for e in entries {
        let got = server_object(server, e)
            .unwrap_or_else(|| panic!("{} ({}) is not on the server {when}", e.id(), e.address()));
        assert_json_eq(
            &strip_nulls(&got["spec"]),
            &strip_nulls(&e.object.spec_json()),
            &format!("{} spec on the server {when}", e.address()),
        );
        let annotations = e.object.metadata().annotations.clone().unwrap_or_default();
        assert_json_eq(
            &got["metadata"]["annotations"].clone(),
            &if annotations.is_empty() {
                Value::Null
            } else {
                json!(annotations)
            },
            &format!("{} annotations on the server {when}", e.address()),
        );
        let labels = e.object.metadata().labels.clone().unwrap_or_default();
        assert_json_eq(
            &got["metadata"]["labels"].clone(),
            &if labels.is_empty() {
                Value::Null
            } else {
                json!(labels)
            },
            &format!("{} labels on the server {when}", e.address()),
        );
    }
}

fn states(wd: &Workdir, entries: &[Entry]) -> BTreeMap<String, Value> {
    let resources = wd.state_resources();
    entries
        .iter()
        .map(|e| {
            let values = resources
                .iter()
                .find(|r| r["address"] == e.address())
                .map(|r| r["values"].clone())
                .unwrap_or_else(|| panic!("{} is not in the state", e.address()));
            (e.address(), values)
        })
        .collect()
}

#[test]
fn every_resource_loop() {
    require_terraform!();
    let server = Server::start();
    let entries = catalog();
    assert_eq!(entries.len(), 15, "one object of every kind but Cluster");

    // Apply.
    let wd = Workdir::new(&server);
    let config = catalog_config(&entries);
    wd.write_config(&config);
    wd.init();
    let (changes, text) = wd.plan_changes(true);
    assert_eq!(changes.len(), entries.len(), "{text}");
    assert!(changes.iter().all(|c| c.actions == ["create"]), "{text}");
    wd.apply();
    check_server_matches(&server, &entries, "after create");
    let applied = states(&wd, &entries);
    for e in &entries {
        assert_eq!(
            applied[&e.address()]["id"],
            json!(e.id()),
            "{}",
            e.address()
        );
    }
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Import every object into a fresh directory: no-op imports, the same state.
    let imported = Workdir::new(&server);
    imported.write_config(&format!("{config}\n{}", import_blocks(&entries)));
    imported.init();
    let plan = imported.plan_json(&[]);
    let changes = plan["resource_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(changes.len(), entries.len(), "{plan:#}");
    for c in &changes {
        assert!(
            c["change"]["importing"].is_object(),
            "{} is not imported: {c:#}",
            c["address"]
        );
        assert_eq!(
            c["change"]["actions"],
            json!(["no-op"]),
            "importing {} plans a change (the import is not a no-op): {:#}",
            c["address"],
            c["change"]
        );
    }
    imported.apply();
    let after_import = states(&imported, &entries);
    for e in &entries {
        assert_json_eq(
            &after_import[&e.address()],
            &applied[&e.address()],
            &format!(
                "{} imported as {:?} (ImportStateVerify)",
                e.address(),
                e.id()
            ),
        );
    }
    imported.plan_is_empty(true);

    // Update every object in place.
    let before: BTreeMap<String, Value> = entries
        .iter()
        .map(|e| {
            (
                e.address(),
                server_object(&server, e).expect("on the server"),
            )
        })
        .collect();
    let updated: Vec<Entry> = entries
        .iter()
        .map(|e| Entry {
            object: touch(&e.object, " (updated)"),
            ..e.clone()
        })
        .collect();
    wd.write_config(&catalog_config(&updated));
    let (changes, text) = wd.plan_changes(true);
    for c in &changes {
        assert_eq!(
            c.actions,
            ["update"],
            "{} should update in place:\n{text}",
            c.address
        );
    }
    assert_eq!(changes.len(), entries.len(), "{text}");
    wd.apply();
    check_server_matches(&server, &updated, "after update");
    for e in &updated {
        let now = server_object(&server, e).expect("on the server");
        let was = &before[&e.address()];
        assert_eq!(
            now["metadata"]["uid"],
            was["metadata"]["uid"],
            "{} was replaced, not updated",
            e.address()
        );
        assert!(
            now["metadata"]["generation"].as_i64() > was["metadata"]["generation"].as_i64(),
            "{}: generation did not move",
            e.address()
        );
    }
    wd.plan_is_empty(false);
    wd.plan_is_empty(true);

    // Destroy, and check every object is gone.
    wd.destroy();
    for e in &updated {
        assert!(
            server_object(&server, e).is_none(),
            "{} ({}) is still on the server after destroy",
            e.id(),
            e.address()
        );
    }
    assert!(wd.state_resources().is_empty());
}
