//! How big an object may be: the limits every layer reads (one engine).
//!
//! The server refuses an object over a limit at admission, the compiler reports it as a
//! validation error, and the provider's plan-time preview gets the same answer through the
//! server's dry run. Where Kubernetes has a number we use it, so that an object that fits
//! here also fits an API server and etcd:
//!
//! | limit | value | from |
//! |---|---|---|
//! | object name ([`MAX_NAME`]) | 253 characters (a DNS label: 63) | Kubernetes (DNS-1123 subdomain / label) |
//! | label or annotation key prefix ([`MAX_LABEL_PREFIX`]) | 253 | Kubernetes |
//! | label or annotation key name ([`MAX_LABEL_NAME`]) | 63 | Kubernetes |
//! | label value ([`MAX_LABEL_VALUE`]) | 63 | Kubernetes |
//! | all annotations of an object ([`MAX_ANNOTATIONS_BYTES`]) | 256 KiB (keys and values) | Kubernetes (`TotalAnnotationSizeLimitB`) |
//! | labels per object ([`MAX_LABELS`]) | 64 | ours (Kubernetes bounds only the object's size) |
//! | annotations per object ([`MAX_ANNOTATIONS`]) | 64 | ours |
//! | node pools per template or cluster ([`MAX_NODE_POOLS`]) | 100 | ours (AKS's node-pool maximum; EKS and GKE quotas are lower by default) |
//! | roles per access token ([`MAX_TOKEN_ROLES`]) | 8 | ours |
//! | rules per policy or role ([`MAX_POLICY_RULES`]) | 256 | ours |
//! | any other list, and entries of any map in a spec ([`MAX_LIST_ITEMS`]) | 1000 | ours |
//! | an object as stored ([`MAX_OBJECT_BYTES`]) | 1 MiB of JSON | ours: under etcd's 1.5 MiB request limit, with room for status |
//!
//! Every check here is one pass over the object: the cost of refusing a huge object is
//! linear in its size, and the rest of validation only runs on objects within the limits.

use std::collections::BTreeMap;

use crate::error::{FieldPath, Reason};
use crate::validate::Checker;

/// Longest object name (a DNS-1123 subdomain); names that must be one DNS label: 63.
pub const MAX_NAME: usize = crate::validate::MAX_DNS_SUBDOMAIN;
/// Longest DNS prefix of a label or annotation key (`example.com/`).
pub const MAX_LABEL_PREFIX: usize = crate::validate::MAX_DNS_SUBDOMAIN;
/// Longest name part of a label or annotation key.
pub const MAX_LABEL_NAME: usize = crate::validate::MAX_DNS_LABEL;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = crate::validate::MAX_DNS_LABEL;
/// Most bytes all of an object's annotations may hold, keys and values together.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;
/// Most labels on one object.
pub const MAX_LABELS: usize = 64;
/// Most annotations on one object.
pub const MAX_ANNOTATIONS: usize = 64;
/// Most node pools in a compute template, plan or cluster.
pub const MAX_NODE_POOLS: usize = 100;
/// Most roles on one access token.
pub const MAX_TOKEN_ROLES: usize = 8;
/// Most rules in one policy or role.
pub const MAX_POLICY_RULES: usize = 256;
/// Most items of any other list, or entries of any map, in a spec.
pub const MAX_LIST_ITEMS: usize = 1000;
/// Most bytes an object may take as stored (compact JSON, status included).
pub const MAX_OBJECT_BYTES: usize = 1024 * 1024;

/// The limit on a list or map named `field` in a spec, and what it is called in messages.
pub fn list_limit(field: &str) -> (usize, &'static str) {
    match field {
        "nodePools" => (MAX_NODE_POOLS, "node pools"),
        "roles" => (MAX_TOKEN_ROLES, "roles"),
        "rules" => (MAX_POLICY_RULES, "rules"),
        _ => (MAX_LIST_ITEMS, "items"),
    }
}

/// Checks labels and annotations of `metadata` (at `path`); `false` when a limit was broken.
pub fn check_metadata(
    c: &mut Checker,
    path: &FieldPath,
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> bool {
    let before = c.len();
    if let Some(labels) = labels {
        let lp = path.field("labels");
        if labels.len() > MAX_LABELS {
            c.push(
                &lp,
                Reason::Invalid,
                format!("{} labels: at most {MAX_LABELS} are allowed", labels.len()),
            );
        } else {
            for (k, v) in labels {
                c.label(&lp, k, v);
            }
        }
    }
    if let Some(annotations) = annotations {
        let ap = path.field("annotations");
        let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
        if annotations.len() > MAX_ANNOTATIONS {
            c.push(
                &ap,
                Reason::Invalid,
                format!(
                    "{} annotations: at most {MAX_ANNOTATIONS} are allowed",
                    annotations.len()
                ),
            );
        } else if total > MAX_ANNOTATIONS_BYTES {
            c.push(
                &ap,
                Reason::Invalid,
                format!(
                    "the annotations take {total} bytes: at most {MAX_ANNOTATIONS_BYTES} (256 KiB) are allowed, keys and values together, as in Kubernetes"
                ),
            );
        } else {
            for k in annotations.keys() {
                c.label_key(&ap, k);
            }
        }
    }
    c.len() == before
}

/// Checks every list and map in `spec` (a kind's spec as JSON, at `path`) against
/// [`list_limit`]; `false` when a limit was broken. One pass, whatever the nesting.
pub fn check_lists(c: &mut Checker, path: &FieldPath, spec: &serde_json::Value) -> bool {
    let before = c.len();
    walk(c, path, None, spec);
    c.len() == before
}

fn walk(c: &mut Checker, path: &FieldPath, field: Option<&str>, value: &serde_json::Value) {
    match value {
        serde_json::Value::Array(items) => {
            let (max, what) = list_limit(field.unwrap_or_default());
            if items.len() > max {
                c.push(
                    path,
                    Reason::Invalid,
                    format!("{} {what}: at most {max} are allowed", items.len()),
                );
                return;
            }
            for (i, item) in items.iter().enumerate() {
                walk(c, &path.index(i), None, item);
            }
        }
        serde_json::Value::Object(map) => {
            if map.len() > MAX_LIST_ITEMS {
                c.push(
                    path,
                    Reason::Invalid,
                    format!(
                        "{} entries: at most {MAX_LIST_ITEMS} are allowed",
                        map.len()
                    ),
                );
                return;
            }
            for (k, v) in map {
                walk(c, &path.field(k), Some(k), v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(labels: &[(&str, &str)], annotations: &[(String, String)]) -> Vec<String> {
        let mut c = Checker::new("Cluster/x".into());
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let annotations: BTreeMap<String, String> = annotations.iter().cloned().collect();
        check_metadata(
            &mut c,
            &FieldPath::root().field("metadata"),
            Some(&labels),
            Some(&annotations),
        );
        match c.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn kubernetes_label_rules_apply_to_metadata_labels() {
        assert!(check(&[("appvia.io/stage", "dev"), ("team", "")], &[]).is_empty());
        let errs = check(&[("a\0b", "x"), ("ok", &"v".repeat(64))], &[]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("metadata.labels.a\0b:"), "{errs:?}");
        assert!(errs[1].contains("not a label value"), "{errs:?}");
    }

    #[test]
    fn annotations_are_bounded_in_total_size_and_count() {
        let big = vec![("note".to_string(), "x".repeat(MAX_ANNOTATIONS_BYTES))];
        let errs = check(&[], &big);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("at most 262144 (256 KiB)"), "{errs:?}");
        let fits = vec![("note".to_string(), "x".repeat(MAX_ANNOTATIONS_BYTES - 4))];
        assert!(check(&[], &fits).is_empty());
        let many: Vec<(String, String)> = (0..=MAX_ANNOTATIONS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert!(check(&[], &many)[0].contains("at most 64 are allowed"));
        assert!(check(&[], &[("bad key".into(), "v".into())])[0].contains("not a"));
    }

    #[test]
    fn lists_over_their_limit_are_named_with_the_limit() {
        let spec = serde_json::json!({
            "nodePools": vec![serde_json::json!({}); MAX_NODE_POOLS + 1],
            "allowedRegions": vec!["eu"; MAX_LIST_ITEMS],
            "nested": {"roles": vec!["owner"; MAX_TOKEN_ROLES + 1]},
        });
        let mut c = Checker::new("X/x".into());
        assert!(!check_lists(
            &mut c,
            &FieldPath::root().field("spec"),
            &spec
        ));
        let errs: Vec<String> = c
            .finish()
            .unwrap_err()
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            [
                "spec.nodePools: 101 node pools: at most 100 are allowed",
                "spec.nested.roles: 9 roles: at most 8 are allowed",
            ]
        );
    }

    fn template(pools: usize) -> crate::Object {
        let pool = serde_json::json!({"logicalName": "same", "machine": "m6i.large",
            "diskSize": 100, "size": 1});
        let body = serde_json::json!({
            "apiVersion": "compute.appvia.io/v2beta2", "kind": "ComputeTemplate",
            "metadata": {"name": "big"},
            "spec": {"description": "d", "provider": "EKS", "nodePools": vec![pool; pools]},
        });
        crate::parse_json("t.json", &serde_json::to_vec(&body).unwrap()).unwrap()
    }

    #[test]
    fn an_object_over_a_list_limit_gets_one_error_and_no_other_checks() {
        // 150,000 pools with one repeated logical name: before the limits this reported
        // 149,999 duplicates after a quadratic scan; now one error names the limit.
        let errs = template(150_000).validate().unwrap_err();
        assert_eq!(errs.errors.len(), 1, "{}", errs.errors[0]);
        assert_eq!(
            errs.errors[0].to_string(),
            "spec.nodePools: 150000 node pools: at most 100 are allowed"
        );
        // At the limit every pool is checked, and each duplicate is found once.
        let errs = template(MAX_NODE_POOLS).validate().unwrap_err();
        assert_eq!(errs.errors.len(), MAX_NODE_POOLS - 1);
    }

    #[test]
    fn the_largest_admissible_template_validates() {
        let pools: Vec<serde_json::Value> = (0..MAX_NODE_POOLS)
            .map(|i| serde_json::json!({"logicalName": format!("p{i}"), "machine": "m6i.large", "diskSize": 100, "size": 1}))
            .collect();
        let body = serde_json::json!({
            "apiVersion": "compute.appvia.io/v2beta2", "kind": "ComputeTemplate",
            "metadata": {"name": "big", "labels": {"team": "a"}, "annotations": {"note": "x".repeat(MAX_ANNOTATIONS_BYTES - 4)}},
            "spec": {"description": "d", "provider": "EKS", "nodePools": pools},
        });
        let o = crate::parse_json("t.json", &serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(o.validate(), Ok(()));
    }
}
