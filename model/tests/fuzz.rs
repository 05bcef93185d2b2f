//! Arbitrary input never panics: documents built from each kind's shape (mostly the right
//! types, sometimes not, with values near the edges of what is accepted) and mangled
//! fixtures go through parsing, validation and — for plans and clusters — resolution.

mod common;

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wayfinder_model::kinds::{ALL, KindInfo, Object};
use wayfinder_model::shape::{Field, FieldType};
use wayfinder_model::{MemoryView, parse_json, read_yaml_documents, resolve_cluster};

static WORLD: LazyLock<MemoryView> =
    LazyLock::new(|| MemoryView::from_namespaced(common::all_fixtures()));

const WORDS: &[&str] = &[
    "",
    " ",
    "EKS",
    "AKS",
    "GKE",
    "aws",
    "azure",
    "gcp",
    "Kubernetes",
    "CostEstimates",
    "node",
    "service",
    "pod",
    "auto",
    "all",
    "*",
    "10.0.0.0/16",
    "10.0.0.0/24",
    "10.0.0.1/24",
    "0.0.0.0/0",
    "172.16.0.16/28",
    "1.3.0",
    "v1.15.3-2",
    "1.32",
    "8h0m0s",
    "0",
    "-1s",
    "99999999999999999999h",
    "eu-west-2",
    "m6i.large",
    "In",
    "NotIn",
    "Exists",
    "User",
    "AccessToken",
    "admin",
    "owner",
    "member",
    "get",
    "/healthz",
    "/a*b",
    "Audit",
    "enforce",
    "Published",
    "Draft",
    "Deprecated",
    "true",
    "false",
    "eks-general-purpose",
    "eks-assignable",
    "cert-manager",
    "nonprod",
    "prod",
    "pay",
    "ws-pay",
    "ws-admin",
    "2026-01-31T00:00:00Z",
    "2026-02-30T25:00:00+99:99",
    "123456789012",
    "arn:aws:iam::123456789012:role/x",
    "0b6f2c1e-8d1a-4b2e-9c3f-1a2b3c4d5e6f",
    "x@p.iam.gserviceaccount.com",
    "https://charts.example.com",
    "appvia.io/stage",
    "💥",
    "a\u{0}b",
    "१२३",
];

fn arb_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => ".{0,16}",
    ]
    .boxed()
}

fn arb_number() -> BoxedStrategy<i64> {
    prop_oneof![
        4 => -3i64..70,
        1 => any::<i64>(),
        1 => proptest::sample::select(&[0i64, 1, 8, 16, 24, 28, 32, 64, 737, 1000, 1001, i64::MAX, i64::MIN][..]),
    ]
    .boxed()
}

fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    proptest::sample::select(&["resources", "any", "all", "kinds", "message"][..])
                        .prop_map(str::to_string),
                    arb_string()
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn arb_for(ty: FieldType) -> BoxedStrategy<Value> {
    let right = match ty {
        FieldType::String => arb_string().prop_map(Value::String).boxed(),
        FieldType::Number => arb_number().prop_map(|n| json!(n)).boxed(),
        FieldType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        FieldType::StringList => proptest::collection::vec(arb_string(), 0..4)
            .prop_map(|v| json!(v))
            .boxed(),
        FieldType::NumberList => proptest::collection::vec(arb_number(), 0..4)
            .prop_map(|v| json!(v))
            .boxed(),
        FieldType::StringMap => proptest::collection::btree_map(arb_string(), arb_string(), 0..3)
            .prop_map(|m| json!(m))
            .boxed(),
        FieldType::Json => arb_json(),
        FieldType::Object(inner) => arb_object(inner),
        FieldType::ObjectList(inner) => proptest::collection::vec(arb_object(inner), 0..3)
            .prop_map(Value::Array)
            .boxed(),
    };
    prop_oneof![12 => right, 1 => arb_json()].boxed()
}

fn arb_object(fields: &'static [Field]) -> BoxedStrategy<Value> {
    let entries: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .map(|f| {
            let name = f.name.to_string();
            let weight = if f.required { 0.9 } else { 0.6 };
            proptest::option::weighted(weight, arb_for(f.ty))
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    entries
        .prop_map(|e| Value::Object(e.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

fn arb_document(kind: &'static KindInfo) -> BoxedStrategy<Value> {
    let annotations = proptest::option::of(proptest::collection::btree_map(
        proptest::sample::select(&["appvia.io/published", "appvia.io/publishState", "other"][..])
            .prop_map(str::to_string),
        arb_string(),
        0..3,
    ));
    (
        arb_string(),
        proptest::option::of(arb_string()),
        annotations,
        arb_object(kind.spec),
    )
        .prop_map(move |(name, namespace, annotations, spec)| {
            let mut metadata = json!({"name": name});
            if let Some(ns) = namespace {
                metadata["namespace"] = json!(ns);
            }
            if let Some(a) = annotations {
                metadata["annotations"] = json!(a);
            }
            json!({
                "apiVersion": kind.api_version(),
                "kind": kind.kind,
                "metadata": metadata,
                "spec": spec,
            })
        })
        .boxed()
}

fn any_kind_document() -> impl Strategy<Value = Value> {
    (0..ALL.len()).prop_flat_map(|i| arb_document(ALL[i]))
}

/// Parses, validates and, for plans and clusters, resolves.
fn exercise(text: &str) {
    let (docs, _errors) = read_yaml_documents("fuzz.yaml", text);
    for d in docs {
        let _ = d.object.validate();
        let _ = d.object.to_json();
        match &d.object {
            Object::Cluster(c) => {
                let _ = resolve_cluster(c, "pay", &*WORLD);
            }
            Object::ClusterPlan(_) | Object::ComputeTemplate(_) | Object::Package(_) => {
                let view = WORLD.clone().with(None, d.object.clone());
                for o in common::fixture(&wayfinder_model::kinds::CLUSTER) {
                    if let Object::Cluster(c) = o {
                        let _ = resolve_cluster(&c, "pay", &view);
                    }
                }
            }
            Object::ClusterNetworkPlan(n) => {
                let _ = n.spec.node_request();
            }
            Object::GlobalAccessPolicy(p) => {
                let _ = p.spec.ttl();
            }
            Object::GlobalClusterPolicy(p) => {
                let _ = p.spec.targets(&Default::default());
            }
            _ => {}
        }
        let _ = wayfinder_model::publish_state(d.object.metadata());
    }
}

/// JSON pointers of every value in `v`, containers included.
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn documents_shaped_like_each_kind_never_panic(doc in any_kind_document()) {
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        exercise(&yaml);
        let _ = parse_json("fuzz.json", doc.to_string().as_bytes());
    }

    #[test]
    fn fixtures_with_one_value_changed_never_panic(
        kind in 0..ALL.len(),
        doc in any::<proptest::sample::Index>(),
        at in any::<proptest::sample::Index>(),
        value in prop_oneof![
            arb_string().prop_map(Value::String),
            arb_number().prop_map(|n| json!(n)),
            arb_json(),
        ],
    ) {
        let docs = common::fixture_json(ALL[kind]);
        let mut doc = docs[doc.index(docs.len())].clone();
        let mut pointers = Vec::new();
        leaves(&doc, String::new(), &mut pointers);
        let p = &pointers[at.index(pointers.len())];
        *doc.pointer_mut(p).unwrap() = value;
        exercise(&serde_yaml_ng::to_string(&doc).unwrap());
    }

    #[test]
    fn mangled_fixtures_never_panic(
        kind in 0..ALL.len(),
        at in any::<proptest::sample::Index>(),
        cut in 0usize..40,
        insert in prop_oneof![".{0,6}", Just(": [".to_string()), Just("\n  - ".to_string()), Just("{".to_string())],
    ) {
        exercise(&mangle(&common::fixture_text(ALL[kind]), at, cut, &insert));
    }

    /// A request body as the control plane reads it: a fixture as JSON, cut and spliced.
    #[test]
    fn mangled_json_bodies_never_panic(
        kind in 0..ALL.len(),
        doc in any::<proptest::sample::Index>(),
        at in any::<proptest::sample::Index>(),
        cut in 0usize..12,
        insert in prop_oneof![
            ".{0,6}",
            proptest::sample::select(&["\"", ":", ",", "{", "}", "[", "]", "null", "-1", "1e400", "\\u0000", "{\"\":"][..]).prop_map(str::to_string),
        ],
    ) {
        let docs = common::fixture_json(ALL[kind]);
        let text = docs[doc.index(docs.len())].to_string();
        let mangled = mangle(&text, at, cut, &insert);
        if let Ok(o) = parse_json("fuzz.json", mangled.as_bytes()) {
            let _ = o.validate();
            let json = o.to_json();
            prop_assert_eq!(json["kind"].as_str(), Some(o.kind_info().kind));
        }
    }
}

/// `text` with `cut` characters at `at` replaced by `insert`.
fn mangle(text: &str, at: proptest::sample::Index, cut: usize, insert: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let i = at.index(chars.len() + 1);
    let end = (i + cut).min(chars.len());
    chars[..i]
        .iter()
        .copied()
        .chain(insert.chars())
        .chain(chars[end..].iter().copied())
        .collect()
}
