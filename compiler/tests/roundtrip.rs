//! Property: any valid set of definitions compiles to HCL that an independent parser
//! (hcl-rs) reads back to the same values. Every generated file parses; every resource of the
//! catalog module, read back through the kind's shape (nested blocks, free-form values,
//! references to other resources resolved to the value they stand for, scopes from the
//! module's defaults), equals its definition's `spec`.

use std::collections::BTreeMap;

use hcl::eval::{Context, Evaluate};
use hcl::expr::{Expression, TraversalOperator};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wayfinder_compiler::{CompileOptions, Source, compile};
use wayfinder_model::kinds;
use wayfinder_model::naming;
use wayfinder_model::shape::{Field, FieldType};

// ---------------------------------------------------------------------------------------------
// Generators: valid definitions, with the strings that are hard to write.

/// Text with what HCL needs escaped or kept: template introducers, quotes, backslashes,
/// line breaks and tabs, non-ASCII, a heredoc marker, a control character.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 ,.:/-]{0,8}",
            Just("${var.x}".to_string()),
            Just("%{ if true }".to_string()),
            Just("$${".to_string()),
            Just("%%{".to_string()),
            Just("$".to_string()),
            Just("{".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            Just("EOT\n".to_string()),
            Just("café ☕ 😀 ünïcödé".to_string()),
            Just("\u{1}".to_string()),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

/// Multi-line text ending in a line break: written as a heredoc.
fn lines() -> impl Strategy<Value = String> {
    prop::collection::vec(text().prop_map(|t| t.replace(['\n', '\u{1}'], " ")), 1..4)
        .prop_map(|ls| ls.iter().map(|l| format!("{l}\n")).collect())
}

fn dns() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}[a-z0-9]"
}

fn pool(provider: &'static str) -> impl Strategy<Value = Value> {
    (
        prop::option::of(text()),
        "[a-z0-9._-]{1,12}",
        prop::option::of(10i64..=16384),
        prop::option::of((0i64..5, 0i64..10, any::<bool>())),
        prop::option::of(8i64..=737),
        prop::collection::vec((dns(), prop::option::of(text()), 0usize..3), 0..3),
        prop::option::of((
            any::<bool>(),
            prop::collection::vec("[a-z0-9.]{1,10}", 0..3),
        )),
        0i64..=1000,
    )
        .prop_map(
            move |(description, machine, disk, autoscaling, pods, taints, spot, size)| {
                let mut p = json!({"machine": machine});
                let m = p.as_object_mut().unwrap();
                if let Some(d) = description {
                    m.insert("description".into(), json!(d));
                }
                if let Some(d) = disk {
                    m.insert("diskSize".into(), json!(d));
                }
                match autoscaling {
                    Some((min, extra, true)) => {
                        m.insert(
                            "autoscaling".into(),
                            json!({"enabled": true, "minSize": min, "maxSize": min + extra + 1}),
                        );
                        m.insert("size".into(), json!(min));
                    }
                    Some((_, _, false)) => {
                        m.insert("autoscaling".into(), json!({"enabled": false}));
                        m.insert("size".into(), json!(size));
                    }
                    None => {
                        m.insert("size".into(), json!(size));
                    }
                }
                if let Some(n) = pods {
                    m.insert("maxPodsPerNode".into(), json!(n));
                }
                if !taints.is_empty() {
                    let effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
                    m.insert(
                        "taints".into(),
                        taints
                            .into_iter()
                            .map(|(key, value, e)| match value {
                                Some(v) => json!({"key": key, "value": v, "effect": effects[e]}),
                                None => json!({"key": key, "effect": effects[e]}),
                            })
                            .collect(),
                    );
                }
                if let Some((enabled, extra)) = spot {
                    let mut s = json!({"enabled": enabled});
                    if provider == "EKS" {
                        s["eks"] = json!({"additionalInstanceTypes": extra});
                    }
                    m.insert("spot".into(), s);
                }
                if provider == "AKS" {
                    m.insert(
                        "providerDetails".into(),
                        json!({"aks": {"mode": if size % 2 == 0 { "system" } else { "user" }}}),
                    );
                }
                p
            },
        )
}

fn compute_template() -> impl Strategy<Value = Value> {
    prop_oneof![Just("EKS"), Just("AKS"), Just("GKE")].prop_flat_map(|provider| {
        (
            dns(),
            prop::option::of(text()),
            prop::collection::vec((dns(), pool(provider)), 1..3),
        )
            .prop_map(move |(name, description, pools)| {
                let mut seen = Vec::new();
                let pools: Vec<Value> = pools
                    .into_iter()
                    .filter(|(n, _)| {
                        let fresh = !seen.contains(n);
                        seen.push(n.clone());
                        fresh
                    })
                    .map(|(n, mut p)| {
                        p["logicalName"] = json!(n);
                        p
                    })
                    .collect();
                let mut spec = json!({"provider": provider, "nodePools": pools});
                if let Some(d) = description {
                    spec["description"] = json!(d);
                }
                json!({
                    "apiVersion": "compute.appvia.io/v2beta2",
                    "kind": "ComputeTemplate",
                    "metadata": {"name": name},
                    "spec": spec,
                })
            })
    })
}

fn policy() -> impl Strategy<Value = Value> {
    (
        dns(),
        prop::option::of(text()),
        prop_oneof![Just("aws"), Just("azure"), Just("gcp")],
        prop::option::of((
            prop::collection::vec("[a-z][a-z0-9]{1,4}", 0..3),
            prop::collection::vec(dns(), 0..3),
        )),
        prop::option::of(prop::collection::vec(dns(), 0..3)),
        prop::option::of(0i64..100_000),
        prop::option::of(1i64..1000),
        prop::collection::vec(("[a-z0-9.]{1,10}", prop::option::of(1i64..100)), 0..3),
    )
        .prop_map(
            |(name, description, cloud, scope, regions, cost, nodes, types)| {
                let mut spec = json!({"cloud": cloud});
                if let Some(d) = description {
                    spec["description"] = json!(d);
                }
                if let Some((ws, stages)) = scope {
                    let mut ws = ws;
                    ws.sort();
                    ws.dedup();
                    spec["scope"] = json!({"allowedWorkspaces": ws, "allowedStages": stages});
                }
                if let Some(r) = regions {
                    spec["allowedRegions"] = json!(r);
                }
                let mut seen = Vec::new();
                let types: Vec<Value> = types
                    .into_iter()
                    .filter(|(t, _)| {
                        let fresh = !seen.contains(t);
                        seen.push(t.clone());
                        fresh
                    })
                    .map(|(t, m)| match m {
                        Some(m) => json!({"instanceType": t, "maxNodes": m}),
                        None => json!({"instanceType": t}),
                    })
                    .collect();
                let mut per = json!({"allowedInstanceTypes": types});
                if let Some(c) = cost {
                    per["costPerMonth"] = json!(c);
                }
                if let Some(n) = nodes {
                    per["totalNodes"] = json!(n);
                }
                spec["clusterLimits"] = json!({"perCluster": per});
                json!({
                    "apiVersion": "policy.appvia.io/v2beta1",
                    "kind": "ProvisioningPolicy",
                    "metadata": {"name": name},
                    "spec": spec,
                })
            },
        )
}

/// Repositories and the packages that use them, each package depending on earlier ones.
fn packages() -> impl Strategy<Value = Vec<Value>> {
    (
        prop::collection::vec((dns(), prop::option::of(text())), 1..3),
        prop::collection::vec(
            (
                dns(),
                0u32..5,
                prop::option::of(text()),
                prop::option::of(lines()),
                prop::collection::vec((prop::option::of(dns()), lines()), 0..2),
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                0usize..3,
            ),
            0..4,
        ),
    )
        .prop_map(|(repos, pkgs)| {
            let mut out = Vec::new();
            let mut repo_names: Vec<String> = Vec::new();
            for (name, description) in repos {
                if repo_names.contains(&name) {
                    continue;
                }
                let mut spec = json!({"url": format!("https://{name}.example.com/charts")});
                if let Some(d) = description {
                    spec["description"] = json!(d);
                }
                out.push(json!({
                    "apiVersion": "package.appvia.io/v2beta2",
                    "kind": "Repository",
                    "metadata": {"name": name},
                    "spec": spec,
                }));
                repo_names.push(name);
            }
            let mut names: Vec<String> = Vec::new();
            let states = [("true", "Published"), ("false", "Draft"), ("false", "Deprecated")];
            for (name, patch, description, values, manifests, repo, dep, state) in pkgs {
                if names.contains(&name) {
                    continue;
                }
                let mut spec = json!({
                    "version": format!("1.0.{patch}"),
                    "installNamespace": name,
                    "helm": {
                        "repositoryRef": repo_names[repo.index(repo_names.len())],
                        "chartName": name,
                        "chartVersion": "1.2.3",
                    },
                });
                if let Some(d) = description {
                    spec["description"] = json!(d);
                }
                if let Some(v) = values {
                    spec["helm"]["valuesTemplate"] = json!(v);
                }
                let mut seen = Vec::new();
                let manifests: Vec<Value> = manifests
                    .into_iter()
                    .filter(|(n, _)| n.is_none() || {
                        let fresh = !seen.contains(n);
                        seen.push(n.clone());
                        fresh
                    })
                    .map(|(n, t)| match n {
                        Some(n) => json!({"name": n, "template": t}),
                        None => json!({"template": t}),
                    })
                    .collect();
                if !manifests.is_empty() {
                    spec["manifests"] = json!(manifests);
                }
                if !names.is_empty() {
                    spec["dependencies"] = json!([names[dep.index(names.len())]]);
                }
                let (published, state) = states[state];
                out.push(json!({
                    "apiVersion": "package.appvia.io/v2beta2",
                    "kind": "Package",
                    "metadata": {
                        "name": name,
                        "annotations": {"appvia.io/published": published, "appvia.io/publishState": state},
                    },
                    "spec": spec,
                }));
                names.push(name);
            }
            out
        })
}

fn definitions() -> impl Strategy<Value = Vec<Value>> {
    (
        prop::collection::vec(compute_template(), 0..3),
        prop::collection::vec(policy(), 0..3),
        packages(),
    )
        .prop_map(|(templates, policies, packages)| {
            let mut out = Vec::new();
            let mut seen: Vec<(String, String)> = Vec::new();
            for d in templates.into_iter().chain(policies).chain(packages) {
                let key = (
                    d["kind"].as_str().unwrap_or_default().to_string(),
                    d["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                if !seen.contains(&key) {
                    seen.push(key);
                    out.push(d);
                }
            }
            out
        })
}

// ---------------------------------------------------------------------------------------------
// Reading the HCL back.

/// A resource as parsed: its labels and body.
struct Resource {
    rtype: String,
    label: String,
    body: hcl::Body,
}

fn label(l: &hcl::structure::BlockLabel) -> String {
    match l {
        hcl::structure::BlockLabel::Identifier(i) => i.as_str().to_string(),
        hcl::structure::BlockLabel::String(s) => s.clone(),
    }
}

struct Reader<'a> {
    resources: &'a [Resource],
    /// `local.NAME` defaults: the first argument of each `merge(…)` in `locals`.
    locals: BTreeMap<String, Value>,
}

impl Reader<'_> {
    /// The value of an expression: literals and templates evaluated, references to
    /// resources and data sources resolved to the attribute they stand for.
    fn value(&self, e: &Expression) -> Value {
        match e {
            Expression::Traversal(t) => {
                let mut parts: Vec<String> = Vec::new();
                if let Expression::Variable(v) = &t.expr {
                    parts.push(v.as_str().to_string());
                }
                for op in &t.operators {
                    if let TraversalOperator::GetAttr(a) = op {
                        parts.push(a.as_str().to_string());
                    }
                }
                let (rtype, label, attr) = match parts.as_slice() {
                    [d, t, l, a] if d == "data" => (t.clone(), l.clone(), a.clone()),
                    [t, l, a] => (t.clone(), l.clone(), a.clone()),
                    _ => panic!("unexpected reference {parts:?}"),
                };
                let r = self
                    .resources
                    .iter()
                    .find(|r| r.rtype == rtype && r.label == label)
                    .unwrap_or_else(|| panic!("{rtype}.{label} is referred to but not defined"));
                let a = r
                    .body
                    .attributes()
                    .find(|x| x.key.as_str() == attr)
                    .unwrap_or_else(|| panic!("{rtype}.{label} has no {attr}"));
                self.value(&a.expr)
            }
            Expression::Array(items) => items.iter().map(|i| self.value(i)).collect(),
            other => {
                let v = other
                    .evaluate(&Context::new())
                    .unwrap_or_else(|err| panic!("cannot evaluate {other:?}: {err}"));
                serde_json::to_value(v).expect("JSON")
            }
        }
    }

    /// A body read through a shape, as Wayfinder JSON.
    fn spec(&self, body: &hcl::Body, fields: &'static [Field], top: bool) -> Map<String, Value> {
        let mut out = Map::new();
        for f in fields {
            let name = if top {
                naming::top_level_attribute(f.name)
            } else {
                naming::nested_attribute(f.name)
            };
            match f.ty {
                FieldType::Object(inner) => {
                    let blocks: Vec<&hcl::Block> = body
                        .blocks()
                        .filter(|b| b.identifier.as_str() == name)
                        .collect();
                    let dynamic = body.blocks().find(|b| {
                        b.identifier.as_str() == "dynamic"
                            && b.labels.first().map(label).as_deref() == Some(name.as_str())
                    });
                    if let Some(d) = dynamic {
                        if let Some(v) = self.dynamic_value(d) {
                            out.insert(f.name.to_string(), v);
                        }
                    } else if let [b] = blocks.as_slice() {
                        out.insert(
                            f.name.to_string(),
                            Value::Object(self.spec(&b.body, inner, false)),
                        );
                    } else {
                        assert!(blocks.is_empty(), "{name}: more than one block");
                    }
                }
                FieldType::ObjectList(inner) => {
                    let items: Vec<Value> = body
                        .blocks()
                        .filter(|b| b.identifier.as_str() == name)
                        .map(|b| Value::Object(self.spec(&b.body, inner, false)))
                        .collect();
                    if !items.is_empty() {
                        out.insert(f.name.to_string(), Value::Array(items));
                    }
                }
                _ => {
                    if let Some(a) = body.attributes().find(|a| a.key.as_str() == name) {
                        let v = self.value(&a.expr);
                        if !v.is_null() {
                            out.insert(f.name.to_string(), v);
                        }
                    }
                }
            }
        }
        out
    }

    /// A `dynamic` block fed from `local.X["name"]`: the module's default for it, with its
    /// attribute names turned back into field names.
    fn dynamic_value(&self, block: &hcl::Block) -> Option<Value> {
        let for_each = block
            .body
            .attributes()
            .find(|a| a.key.as_str() == "for_each")
            .expect("for_each");
        let (local, key) = local_index(&for_each.expr).expect("a local the dynamic block reads");
        let value = self
            .locals
            .get(&local)
            .unwrap_or_else(|| panic!("no local.{local}"));
        let key = key.as_str();
        let v = value
            .get(key)
            .unwrap_or_else(|| panic!("local.{local} has no {key}"));
        match v {
            Value::Null => None,
            Value::Object(m) => Some(Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (camel(k), v.clone()))
                    .collect(),
            )),
            other => panic!("unexpected {other}"),
        }
    }
}

/// The first `local.NAME["key"]` in an expression.
fn local_index(e: &Expression) -> Option<(String, String)> {
    match e {
        Expression::Traversal(t) => {
            if let Expression::Variable(v) = &t.expr
                && v.as_str() == "local"
                && let [
                    TraversalOperator::GetAttr(name),
                    TraversalOperator::Index(key),
                ] = t.operators.as_slice()
            {
                let key = key.evaluate(&Context::new()).ok()?;
                return Some((name.as_str().to_string(), key.as_str()?.to_string()));
            }
            None
        }
        Expression::Conditional(c) => local_index(&c.cond_expr)
            .or_else(|| local_index(&c.true_expr))
            .or_else(|| local_index(&c.false_expr)),
        Expression::Operation(o) => match o.as_ref() {
            hcl::expr::Operation::Binary(b) => {
                local_index(&b.lhs_expr).or_else(|| local_index(&b.rhs_expr))
            }
            hcl::expr::Operation::Unary(u) => local_index(&u.expr),
        },
        Expression::Array(items) => items.iter().find_map(local_index),
        Expression::Parenthesis(p) => local_index(p),
        _ => None,
    }
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A spec as compared: no nulls, no empty lists of objects (absent and empty are the same
/// to the provider's blocks).
fn normal(v: &Value, fields: &'static [Field]) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let f = fields.iter().find(|f| f.name == k);
        let v = match (f.map(|f| f.ty), v) {
            (_, Value::Null) => continue,
            (Some(FieldType::ObjectList(_)), Value::Array(a)) if a.is_empty() => continue,
            (Some(FieldType::ObjectList(inner)), Value::Array(a)) => {
                Value::Array(a.iter().map(|i| normal(i, inner)).collect())
            }
            (Some(FieldType::Object(inner)), v) => normal(v, inner),
            (_, v) => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn check(defs: &[Value]) -> Result<(), TestCaseError> {
    let text: String = defs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    // Only valid definition sets: the generators aim for them; the model has the last word.
    let (docs, errors) = wayfinder_model::read_yaml_documents("defs.yaml", &text);
    prop_assume!(errors.is_empty());
    prop_assume!(docs.iter().all(|d| d.object.validate().is_ok()));
    let compiled = compile(
        &[Source::new("defs.yaml", text)],
        &CompileOptions::default(),
    )
    .map_err(|e| TestCaseError::fail(format!("does not compile: {e:#?}")))?;
    let mut resources = Vec::new();
    let mut locals = BTreeMap::new();
    for (path, contents) in compiled.module.files() {
        if !(path.ends_with(".tf") || path.ends_with(".hcl")) {
            continue;
        }
        let body = hcl::parse(contents)
            .map_err(|e| TestCaseError::fail(format!("{path} does not parse: {e}\n{contents}")))?;
        if path != "catalog/main.tf" {
            continue;
        }
        for b in body.blocks() {
            match b.identifier.as_str() {
                "resource" | "data" => resources.push(Resource {
                    rtype: label(&b.labels[0]),
                    label: label(&b.labels[1]),
                    body: b.body.clone(),
                }),
                "locals" => {
                    for a in b.body.attributes() {
                        if let Expression::FuncCall(call) = &a.expr {
                            let v = call.args[0].evaluate(&Context::new()).expect("defaults");
                            locals.insert(
                                a.key.as_str().to_string(),
                                serde_json::to_value(v).unwrap(),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let reader = Reader {
        resources: &resources,
        locals,
    };
    for doc in &docs {
        let o = &doc.object;
        let info = o.kind_info();
        let rtype = naming::resource_type(info.kind);
        let name = &o.metadata().name;
        let r = resources
            .iter()
            .filter(|r| r.rtype == rtype)
            .find(|r| {
                let attr = |k: &str| {
                    r.body
                        .attributes()
                        .find(|a| a.key.as_str() == k)
                        .map(|a| reader.value(&a.expr))
                };
                attr("name") == Some(json!(name))
                    && (!info.versioned || attr("version") == o.version().map(|v| json!(v)))
            })
            .ok_or_else(|| TestCaseError::fail(format!("no resource for {}", o.display_name())))?;
        let back = Value::Object(reader.spec(&r.body, info.spec, true));
        let want = normal(&o.spec_json(), info.spec);
        prop_assert_eq!(normal(&back, info.spec), want, "{}", o.display_name());
    }
    prop_assert!(kinds::ALL.len() > 1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn valid_definitions_compile_to_hcl_that_reads_back_the_same(defs in definitions()) {
        prop_assume!(!defs.is_empty());
        check(&defs)?;
    }
}
