//! Provider functions: `provider::wayfinder::monthly_cost(cloud_provider, region, node_pools)`.
//!
//! Functions are pure and offline: Terraform calls them on a provider that was never
//! configured (OpenTofu on a configured one), so nothing here touches the API. The cost is
//! the model's own engine over its built-in price catalog ([`wayfinder_model::cost`]), the
//! one the server's admission uses, so a module's figure and the server's `status.estimate`
//! agree to the cent.

use std::collections::BTreeMap;

use serde_json::json;
use wayfinder_model::NodePool;
use wayfinder_model::cost::{self, Catalog, CostErrorKind, Estimate};

use crate::codec::{Number, Type, Value};

/// The function's name, as modules call it: `provider::wayfinder::monthly_cost`.
pub(crate) const MONTHLY_COST: &str = "monthly_cost";

/// The value type of a cost: `{ total, currency, node_pools }`, shared by the function's
/// result and `wayfinder_cluster.estimated_monthly_cost`.
pub fn cost_type() -> Type {
    Type::Object(vec![
        ("currency".into(), Type::String),
        ("node_pools".into(), Type::Map(Box::new(Type::Number))),
        ("total".into(), Type::Number),
    ])
}

/// US cents as the dollar number Terraform shows (`61234` → `612.34`); the server's
/// `monthlyUSD` figures are made the same way.
pub(crate) fn usd(cents: i64) -> Value {
    let v = cost::format_usd(cents).parse::<f64>().unwrap_or(0.0);
    Value::Number(if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Number::Int(v as i64)
    } else {
        Number::Float(v)
    })
}

/// A cost value: the total and one figure per pool, all in `currency` per month.
pub(crate) fn cost_value<'a>(
    total_cents: i64,
    currency: &str,
    pools: impl IntoIterator<Item = (&'a str, i64)>,
) -> Value {
    let mut by_pool: BTreeMap<String, Value> = BTreeMap::new();
    for (name, cents) in pools {
        by_pool.insert(name.to_string(), usd(cents));
    }
    Value::Map(
        [
            ("currency".to_string(), Value::String(currency.to_string())),
            ("node_pools".to_string(), Value::Map(by_pool)),
            ("total".to_string(), usd(total_cents)),
        ]
        .into(),
    )
}

/// The cost value of a model estimate.
pub(crate) fn estimate_value(e: &Estimate) -> Value {
    cost_value(
        e.total_cents,
        &e.currency,
        e.pools
            .iter()
            .map(|p| (p.logical_name.as_str(), p.monthly_cents)),
    )
}

fn node_pool_type() -> Type {
    Type::Object(vec![
        ("disk_size".into(), Type::Number),
        ("machine".into(), Type::String),
        ("max_size".into(), Type::Number),
        ("name".into(), Type::String),
        ("spot".into(), Type::Bool),
    ])
}

/// A provider function's signature and documentation (Markdown).
#[derive(Debug, Clone)]
pub struct Function {
    pub parameters: Vec<Parameter>,
    pub return_type: Type,
    pub summary: String,
    pub description: String,
}

/// One parameter of a [`Function`]; none takes null or unknown values.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub ty: Type,
    pub description: String,
}

fn parameter(name: &str, ty: Type, description: &str) -> Parameter {
    Parameter {
        name: name.to_string(),
        ty,
        description: description.to_string(),
    }
}

/// Every function the provider offers, for GetFunctions and GetProviderSchema.
pub fn definitions() -> BTreeMap<String, Function> {
    let catalog = Catalog::builtin();
    let clouds: Vec<String> = catalog
        .providers
        .iter()
        .map(|(p, prices)| format!("`{}` ({p})", prices.cloud))
        .collect();
    let monthly_cost = Function {
        parameters: vec![
            parameter(
                "cloud_provider",
                Type::String,
                &format!(
                    "The cloud: {}. The cluster provider's name (`EKS`, `AKS`, `GKE`) is accepted too.",
                    clouds.join(", ")
                ),
            ),
            parameter(
                "region",
                Type::String,
                "The cloud region, e.g. `eu-west-2`, `westeurope`, `europe-west2`.",
            ),
            parameter(
                "node_pools",
                Type::List(Box::new(node_pool_type())),
                "The node pools: `name` (unique; the key of the result's `node_pools`), `machine` (the instance type), `max_size` (the most nodes the pool can have: the estimate counts every pool at its largest size), `spot` (priced at the catalog's spot discount; `null` means false) and `disk_size` (GiB per node; `null` means the provider's default disk).",
            ),
        ],
        return_type: cost_type(),
        summary: "Estimated monthly cost of a cluster's node pools".to_string(),
        description: format!(
            "Estimates what a cluster with these node pools costs per month, offline, with the same engine and price catalog as the Wayfinder server's admission (catalog dated {date}): each pool at `max_size` nodes for 720 hours at the region's on-demand list price (spot pools at the spot discount), plus its disks, plus the provider's managed control-plane fee at its default tier. Returns `{{ total = number, currency = string, node_pools = map(number) }}` in {currency} per month; `node_pools` is keyed by pool name and `total` includes the control plane. An unknown cloud, region or instance type is an error naming what the catalog has.",
            date = catalog.date,
            currency = catalog.currency,
        ),
    };
    [(MONTHLY_COST.to_string(), monthly_cost)].into()
}

/// An error from a function call: the text Terraform prints, and which argument (0-based)
/// it is about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionError {
    pub text: String,
    pub argument: Option<i64>,
}

impl FunctionError {
    fn at(argument: i64, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            argument: Some(argument),
        }
    }
}

/// Calls function `name` with `arguments`.
pub(crate) fn call(name: &str, arguments: &[Value]) -> Result<Value, FunctionError> {
    match name {
        MONTHLY_COST => monthly_cost(arguments),
        other => Err(FunctionError {
            text: format!(
                "the wayfinder provider has no function {other:?}; it has: {}",
                definitions().keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            argument: None,
        }),
    }
}

/// The catalog's provider (`EKS`, …) for a cloud (`aws`) or provider name, any case.
fn catalog_provider(catalog: &Catalog, given: &str) -> Option<String> {
    catalog
        .providers
        .iter()
        .find(|(p, prices)| {
            prices.cloud.eq_ignore_ascii_case(given) || p.eq_ignore_ascii_case(given)
        })
        .map(|(p, _)| p.clone())
}

fn monthly_cost(arguments: &[Value]) -> Result<Value, FunctionError> {
    let [cloud, region, pools] = arguments else {
        return Err(FunctionError {
            text: format!(
                "monthly_cost takes 3 arguments (cloud_provider, region, node_pools), got {}",
                arguments.len()
            ),
            argument: None,
        });
    };
    let catalog = Catalog::builtin();
    let cloud = cloud
        .as_str()
        .ok_or_else(|| FunctionError::at(0, "cloud_provider must be a string such as \"aws\""))?;
    let provider = catalog_provider(catalog, cloud).ok_or_else(|| {
        let known: Vec<String> = catalog
            .providers
            .iter()
            .map(|(p, prices)| format!("{:?} ({p})", prices.cloud))
            .collect();
        FunctionError::at(
            0,
            format!(
                "cloud_provider {cloud:?} is not a cloud the price catalog knows: use {}",
                known.join(", ")
            ),
        )
    })?;
    let region = region
        .as_str()
        .ok_or_else(|| FunctionError::at(1, "region must be a string such as \"eu-west-2\""))?;
    let Value::List(items) = pools else {
        return Err(FunctionError::at(2, "node_pools must be a list of objects"));
    };
    let mut node_pools = Vec::with_capacity(items.len());
    let mut seen = std::collections::BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        node_pools.push(node_pool(i, item, &mut seen)?);
    }
    match cost::estimate(catalog, &provider, region, &node_pools) {
        Ok(e) => Ok(estimate_value(&e)),
        Err(errors) => {
            let argument = if errors
                .iter()
                .any(|e| e.kind == CostErrorKind::UnknownRegion)
            {
                1
            } else if errors
                .iter()
                .any(|e| e.kind == CostErrorKind::UnknownProvider)
            {
                0
            } else {
                2
            };
            let text = errors
                .iter()
                .map(|e| match (e.kind, e.pool) {
                    (CostErrorKind::UnknownInstanceType, Some(i)) => format!(
                        "node_pools[{i}].machine: {:?} has no {provider} price in {region}; the catalog ({}) has {}. A function cannot warn, so an unknown price is an error here; the server admits such a cluster with its cost unknown and a warning unless a cost limit applies",
                        e.value,
                        catalog.date,
                        cost::nearest(&e.available, &e.value)
                    ),
                    _ => e.message.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            Err(FunctionError::at(argument, text))
        }
    }
}

/// One `node_pools` element as the model's node pool (at `max_size` nodes).
fn node_pool(
    i: usize,
    item: &Value,
    seen: &mut std::collections::BTreeSet<String>,
) -> Result<NodePool, FunctionError> {
    let bad = |what: &str| FunctionError::at(2, format!("node_pools[{i}].{what}"));
    let name = item
        .get("name")
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("name must be a non-empty string"))?;
    if !seen.insert(name.to_string()) {
        return Err(bad(&format!(
            "name {name:?} is used by an earlier pool: pool names must be unique, they key the result's node_pools"
        )));
    }
    let machine = item
        .get("machine")
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("machine must be an instance type, e.g. \"m6i.large\""))?;
    let whole = |v: &Value, field: &str, min: i64| -> Result<Option<i64>, FunctionError> {
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => match n.as_i64() {
                Some(x) if x >= min => Ok(Some(x)),
                _ => Err(bad(&format!(
                    "{field} must be a whole number of at least {min}, got {}",
                    v.to_json()
                ))),
            },
            other => Err(bad(&format!(
                "{field} must be a number, got {}",
                other.to_json()
            ))),
        }
    };
    let max_size = whole(item.get("max_size"), "max_size", 0)?
        .ok_or_else(|| bad("max_size must be set: the most nodes the pool can have"))?;
    let disk_size = whole(item.get("disk_size"), "disk_size", 1)?;
    let spot = match item.get("spot") {
        Value::Null => false,
        Value::Bool(b) => *b,
        other => {
            return Err(bad(&format!(
                "spot must be a bool, got {}",
                other.to_json()
            )));
        }
    };
    let pool = json!({
        "logicalName": name,
        "machine": machine,
        "size": max_size,
        "diskSize": disk_size,
        "spot": {"enabled": spot},
    });
    serde_json::from_value(pool).map_err(|e| bad(&format!("cannot be read as a node pool: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str, machine: &str, max: i64, spot: bool, disk: Option<i64>) -> Value {
        Value::from_json(&json!({
            "name": name, "machine": machine, "max_size": max, "spot": spot, "disk_size": disk
        }))
    }

    fn args(cloud: &str, region: &str, pools: Vec<Value>) -> Vec<Value> {
        vec![
            Value::String(cloud.into()),
            Value::String(region.into()),
            Value::List(pools),
        ]
    }

    #[test]
    fn matches_the_model_engine_to_the_cent() {
        let got = call(
            MONTHLY_COST,
            &args(
                "aws",
                "eu-west-2",
                vec![
                    pool("compute", "m6i.xlarge", 6, false, Some(200)),
                    pool("batch", "m6i.large", 3, true, None),
                ],
            ),
        )
        .unwrap();
        let pools: Vec<NodePool> = serde_json::from_value(json!([
            {"logicalName": "compute", "machine": "m6i.xlarge", "size": 6, "diskSize": 200},
            {"logicalName": "batch", "machine": "m6i.large", "size": 3, "spot": {"enabled": true}},
        ]))
        .unwrap();
        let want = cost::estimate(Catalog::builtin(), "EKS", "eu-west-2", &pools).unwrap();
        assert_eq!(got, estimate_value(&want));
        assert_eq!(got.get("currency").as_str(), Some("USD"));
        assert_eq!(got.get("total"), &usd(want.total_cents));
        assert_eq!(
            got.get("node_pools").get("batch"),
            &usd(want.pools[1].monthly_cents)
        );
        assert!(want.pools[1].spot);
        // The total includes the control plane, so it exceeds the pools' sum.
        assert!(want.total_cents > want.pools.iter().map(|p| p.monthly_cents).sum::<i64>());
    }

    #[test]
    fn provider_names_and_clouds_are_both_accepted() {
        let a = call(
            MONTHLY_COST,
            &args(
                "azure",
                "westeurope",
                vec![pool("p", "Standard_D4s_v5", 2, false, None)],
            ),
        )
        .unwrap();
        let b = call(
            MONTHLY_COST,
            &args(
                "AKS",
                "westeurope",
                vec![pool("p", "Standard_D4s_v5", 2, false, None)],
            ),
        )
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn errors_name_the_argument_and_what_is_accepted() {
        let e = call(MONTHLY_COST, &args("oracle", "x", vec![])).unwrap_err();
        assert_eq!(e.argument, Some(0));
        assert!(e.text.contains("\"aws\""), "{}", e.text);

        let e = call(MONTHLY_COST, &args("aws", "mars-1", vec![])).unwrap_err();
        assert_eq!(e.argument, Some(1));
        assert!(e.text.contains("eu-west-2"), "{}", e.text);

        let e = call(
            MONTHLY_COST,
            &args(
                "aws",
                "eu-west-2",
                vec![
                    pool("a", "m6i.large", 1, false, None),
                    pool("b", "x9.huge", 1, false, None),
                ],
            ),
        )
        .unwrap_err();
        assert_eq!(e.argument, Some(2));
        assert!(
            e.text.starts_with("node_pools[1].machine: \"x9.huge\""),
            "{}",
            e.text
        );
        assert!(
            e.text.contains(" more. A function cannot warn"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("the server admits such a cluster"),
            "{}",
            e.text
        );

        let e = call(
            MONTHLY_COST,
            &args(
                "aws",
                "eu-west-2",
                vec![
                    pool("a", "m6i.large", 1, false, None),
                    pool("a", "m6i.large", 1, false, None),
                ],
            ),
        )
        .unwrap_err();
        assert!(e.text.contains("node_pools[1].name \"a\""), "{}", e.text);

        let e = call(
            MONTHLY_COST,
            &args(
                "aws",
                "eu-west-2",
                vec![pool("a", "m6i.large", -1, false, None)],
            ),
        )
        .unwrap_err();
        assert!(
            e.text
                .contains("max_size must be a whole number of at least 0"),
            "{}",
            e.text
        );

        let e = call("nope", &[]).unwrap_err();
        assert_eq!(e.argument, None);
        assert!(e.text.contains("monthly_cost"));
    }

    #[test]
    fn the_definition_has_the_fixed_signature() {
        let defs = definitions();
        let f = &defs[MONTHLY_COST];
        let names: Vec<_> = f.parameters.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["cloud_provider", "region", "node_pools"]);
        assert_eq!(
            f.parameters[2].ty.to_json().to_string(),
            r#"["list",["object",{"disk_size":"number","machine":"string","max_size":"number","name":"string","spot":"bool"}]]"#
        );
        assert_eq!(
            f.return_type.to_json().to_string(),
            r#"["object",{"currency":"string","node_pools":["map","number"],"total":"number"}]"#
        );
    }
}
