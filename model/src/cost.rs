//! Cost estimation: the price catalog and monthly estimates per node pool and cluster.
//!
//! The rules (DESIGN.md, "Self-service provisioning, end to end", step 2):
//!
//! - A month is [`HOURS_PER_MONTH`] (720) hours.
//! - Each pool counts at its largest possible size ([`largest_size`]): `autoscaling.maxSize` when
//!   autoscaling is enabled, else `size`.
//! - Compute: 720 × nodes × the hourly on-demand list price of the pool's instance type in the
//!   cluster's region.
//! - Spot: a spot pool (`spot.enabled`) costs the provider's `spotFactor` × the on-demand price
//!   of its most expensive instance type — the machine and, on EKS, every
//!   `spot.eks.additionalInstanceTypes` entry, since capacity may land on any of them.
//! - Disk: `diskSize` GiB (the provider's `defaultDiskGb` when unset) × `diskPerGbMonth` ×
//!   nodes.
//! - Control plane: the provider's managed control-plane fee per hour × 720, for the plan's
//!   tier; the provider's `defaultTier` (Standard) when the plan names none. For AKS the tier
//!   is the plan's `providerDetails.aks.skuTier` (`Free` $0, `Standard` $0.10/h).
//! - Money is integer US cents. Each component (a pool's compute, a pool's disk, the control
//!   plane) is computed in `f64` from the catalog and rounded to the nearest cent once; pool
//!   and cluster totals are sums of those rounded components, so the figures shown per pool add
//!   up exactly to the total.
//!
//! An instance type or region the catalog does not have is a [`CostError`] that names the pool,
//! lists the nearest types the catalog has and the JSON path to add — never a silent zero.
//! The cost is then unknown: admission refuses it only under a cost limit
//! ([`crate::policy::check_unpriced`]) and otherwise admits it with
//! [`unknown_cost_warning`].
//!
//! The built-in catalog is `data/price-catalog.json`, embedded at build time; its `source`,
//! `method` and `date` fields say where the prices come from and how they were derived. Per
//! provider, `regions.<referenceRegion>` prices every instance type; another region's own
//! entries take precedence, else the reference price × `regionFactors.<region>`
//! ([`ProviderPrices::hourly`]). Operators replace it with [`Catalog::from_json`] (the
//! server's `--price-catalog`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::compute::NodePool;
use crate::error::FieldPath;
use crate::resolved::ResolvedCluster;

/// Hours in a billing month, as Wayfinder counts them.
pub const HOURS_PER_MONTH: f64 = 720.0;

/// The built-in catalog's text.
pub const BUILTIN_CATALOG_JSON: &str = include_str!("../data/price-catalog.json");

/// A price catalog: hourly on-demand list prices per provider, region and instance type, plus
/// each provider's control-plane fee, disk price and spot rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Catalog {
    /// Where the prices come from and how they were taken.
    pub source: String,
    /// How the prices were derived (reference prices, regional factors, overrides).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// When the prices were taken (`YYYY-MM` or `YYYY-MM-DD`).
    pub date: String,
    /// Always `USD`.
    pub currency: String,
    /// The pricing rules in words, for people reading the file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, String>,
    /// Keyed by cluster provider: `EKS`, `AKS`, `GKE`.
    pub providers: BTreeMap<String, ProviderPrices>,
}

/// One provider's prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderPrices {
    /// `aws`, `azure` or `gcp`.
    pub cloud: String,
    /// The managed control-plane fee, per tier.
    pub control_plane: ControlPlanePrices,
    /// USD per GiB-month of node disk.
    pub disk_per_gb_month: f64,
    /// The node disk size, in GiB, used when a pool sets no `diskSize`.
    pub default_disk_gb: i64,
    /// Spot price as a fraction of on-demand, in (0, 1].
    pub spot_factor: f64,
    /// The region whose `regions` entry lists every instance type at its own price; other
    /// regions' prices derive from it with [`ProviderPrices::region_factors`]. `None`: only
    /// the prices listed in `regions` exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_region: Option<String>,
    /// Region → multiplier on the reference region's prices, for a type that region does not
    /// list itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub region_factors: BTreeMap<String, f64>,
    /// Region → instance type → USD per hour, on demand. A region's own entry takes precedence
    /// over the reference price × its factor.
    pub regions: BTreeMap<String, BTreeMap<String, f64>>,
}

impl ProviderPrices {
    /// The reference region's price list, when the catalog has one.
    fn reference(&self) -> Option<&BTreeMap<String, f64>> {
        self.regions.get(self.reference_region.as_deref()?)
    }

    /// The factor on reference prices for `region`: 1 for the reference region itself.
    fn factor(&self, region: &str) -> Option<f64> {
        if self.reference_region.as_deref() == Some(region) {
            return Some(1.0);
        }
        self.region_factors.get(region).copied()
    }

    /// Whether `region` has any price (its own list or a factor).
    pub fn has_region(&self, region: &str) -> bool {
        self.regions.contains_key(region) || self.factor(region).is_some()
    }

    /// Every region with a price, sorted.
    pub fn region_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .regions
            .keys()
            .chain(self.region_factors.keys())
            .cloned()
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The hourly on-demand price of `instance_type` in `region`: the region's own entry, else
    /// the reference price × the region's factor (rounded to a millionth of a dollar).
    pub fn hourly(&self, region: &str, instance_type: &str) -> Option<f64> {
        if let Some(p) = self.regions.get(region).and_then(|t| t.get(instance_type)) {
            return Some(*p);
        }
        let base = self.reference()?.get(instance_type)?;
        let f = self.factor(region)?;
        Some((base * f * 1e6).round() / 1e6)
    }

    /// Every instance type priced in `region`, sorted.
    pub fn instance_types(&self, region: &str) -> Vec<String> {
        let own = self.regions.get(region).into_iter().flat_map(|t| t.keys());
        let derived = self
            .factor(region)
            .and(self.reference())
            .into_iter()
            .flat_map(|t| t.keys());
        let mut v: Vec<String> = own.chain(derived).cloned().collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A provider's managed control-plane fee, per tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlPlanePrices {
    /// The tier used when the plan names none.
    pub default_tier: String,
    /// Tier → USD per cluster-hour (0 for a free tier).
    pub tiers: BTreeMap<String, f64>,
}

/// A catalog that could not be read: the JSON path of the offending entry and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("price catalog: {path}: {message}")]
pub struct CatalogError {
    /// `providers.EKS.regions.us-east-1.m6i.large`, or empty for the whole file.
    pub path: String,
    /// Why the entry is wrong.
    pub message: String,
}

impl Catalog {
    /// Reads and checks a catalog: every price finite and positive (a control-plane tier may
    /// be 0), every provider with at least one region, a spot factor in (0, 1], a default
    /// control-plane tier that exists.
    pub fn from_json(text: &str) -> Result<Catalog, CatalogError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let catalog: Catalog = serde_path_to_error::deserialize(de).map_err(|e| CatalogError {
            path: e.path().to_string().trim_start_matches('.').to_string(),
            message: e.into_inner().to_string(),
        })?;
        catalog.check()?;
        Ok(catalog)
    }

    /// The catalog shipped with the model (`data/price-catalog.json`), read once.
    pub fn builtin() -> &'static Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Catalog::from_json(BUILTIN_CATALOG_JSON)
                .expect("the built-in price catalog is checked by the crate's tests")
        })
    }

    /// Reports the first problem found: a catalog is fixed and reloaded as a whole.
    fn check(&self) -> Result<(), CatalogError> {
        let err = |path: String, message: String| Err(CatalogError { path, message });
        if self.currency != "USD" {
            return err(
                "currency".into(),
                format!("{:?} is not supported: must be USD", self.currency),
            );
        }
        if self.providers.is_empty() {
            return err(
                "providers".into(),
                "no providers: list EKS, AKS or GKE".into(),
            );
        }
        for (name, p) in &self.providers {
            let at = format!("providers.{name}");
            if !crate::compute::PROVIDERS.contains(&name.as_str()) {
                return err(
                    at,
                    format!("{name:?} is not a provider: use EKS, AKS or GKE"),
                );
            }
            if !positive(p.disk_per_gb_month) {
                return err(
                    format!("{at}.diskPerGbMonth"),
                    format!("must be a positive price (got {})", p.disk_per_gb_month),
                );
            }
            if p.default_disk_gb <= 0 {
                return err(
                    format!("{at}.defaultDiskGb"),
                    format!("must be a positive size (got {})", p.default_disk_gb),
                );
            }
            if !(positive(p.spot_factor) && p.spot_factor <= 1.0) {
                return err(
                    format!("{at}.spotFactor"),
                    format!(
                        "must be a fraction of on-demand above 0 and at most 1 (got {})",
                        p.spot_factor
                    ),
                );
            }
            for (tier, price) in &p.control_plane.tiers {
                if !(price.is_finite() && *price >= 0.0) {
                    return err(
                        format!("{at}.controlPlane.tiers.{tier}"),
                        format!("must be a price of 0 or more (got {price})"),
                    );
                }
            }
            if !p
                .control_plane
                .tiers
                .contains_key(&p.control_plane.default_tier)
            {
                return err(
                    format!("{at}.controlPlane.defaultTier"),
                    format!(
                        "{:?} is not one of the tiers listed: {}",
                        p.control_plane.default_tier,
                        join_keys(&p.control_plane.tiers)
                    ),
                );
            }
            if p.regions.is_empty() {
                return err(format!("{at}.regions"), "no regions listed".into());
            }
            if let Some(reference) = &p.reference_region
                && !p.regions.contains_key(reference)
            {
                return err(
                    format!("{at}.referenceRegion"),
                    format!("{reference:?} has no entry in regions: list its prices there"),
                );
            }
            if p.reference_region.is_none() && !p.region_factors.is_empty() {
                return err(
                    format!("{at}.regionFactors"),
                    "region factors need a referenceRegion whose prices they multiply".into(),
                );
            }
            for (region, f) in &p.region_factors {
                if !positive(*f) {
                    return err(
                        format!("{at}.regionFactors.{region}"),
                        format!("must be a positive multiplier (got {f})"),
                    );
                }
            }
            for (region, types) in &p.regions {
                if types.is_empty() {
                    return err(
                        format!("{at}.regions.{region}"),
                        "no instance types listed".into(),
                    );
                }
                for (t, price) in types {
                    if !positive(*price) {
                        return err(
                            format!("{at}.regions.{region}.{t}"),
                            format!("must be a positive hourly price (got {price})"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The hourly on-demand price of `instance_type` in `region`, if listed.
    pub fn hourly(&self, provider: &str, region: &str, instance_type: &str) -> Option<f64> {
        self.providers.get(provider)?.hourly(region, instance_type)
    }
}

/// The public regions of `provider`'s cloud (`EKS` → AWS, ...): every region the built-in
/// price catalog lists for it, sorted; empty for a provider it does not know. What a plan
/// offers with `choices.regions.allowed: ["*"]` ([`crate::plan::ANY_REGION`]) and what a
/// plan without choices lets clusters pick.
pub fn public_regions(provider: &str) -> Vec<String> {
    Catalog::builtin()
        .providers
        .get(provider)
        .map(ProviderPrices::region_names)
        .unwrap_or_default()
}

/// How an operator adds a missing price, before the JSON path to add.
pub const HOW_TO_ADD: &str = "To price it, add to the server's price catalog (a copy of the built-in one passed with --price-catalog):";

/// Lists `types` for a message: all of them when few, else those sharing the longest prefix
/// with `wanted` (its family) and how many more there are.
pub fn nearest(types: &[String], wanted: &str) -> String {
    const SHOWN: usize = 8;
    if types.len() <= SHOWN + 4 {
        return types.join(", ");
    }
    let common = |t: &str| {
        t.chars()
            .zip(wanted.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let mut ranked: Vec<&String> = types.iter().collect();
    ranked.sort_by_key(|t| std::cmp::Reverse(common(t)));
    let mut shown: Vec<&str> = ranked.iter().take(SHOWN).map(|t| t.as_str()).collect();
    shown.sort_unstable();
    format!(
        "{} and {} more",
        shown.join(", "),
        types.len() - shown.len()
    )
}

/// The warning given when a cluster is admitted although its cost is unknown (no cost limit
/// applies): every missing price, and that the estimate is unknown rather than zero.
pub fn unknown_cost_warning(errors: &[CostError]) -> String {
    let what: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    format!(
        "the estimated monthly cost is unknown (not zero): {}",
        what.join(" ")
    )
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

fn join_keys<V>(m: &BTreeMap<String, V>) -> String {
    m.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// The most nodes a pool can have: `autoscaling.maxSize` when autoscaling is enabled (its
/// `size` if no maximum is given), else `size`; never negative.
pub fn largest_size(pool: &NodePool) -> i64 {
    let autoscaling = pool
        .autoscaling
        .as_ref()
        .filter(|a| a.enabled.unwrap_or(false));
    let n = match autoscaling {
        Some(a) => a.max_size.or(pool.size),
        None => pool.size,
    };
    n.unwrap_or(0).max(0)
}

/// Whether the pool runs on spot capacity.
pub fn is_spot(pool: &NodePool) -> bool {
    pool.spot
        .as_ref()
        .is_some_and(|s| s.enabled.unwrap_or(false))
}

/// The instance types a pool may run on: its machine, then (spot pools only) the EKS
/// additional spot instance types, each with its field path relative to the pool.
pub fn pool_instance_types(pool: &NodePool) -> impl Iterator<Item = (FieldPath, &str)> {
    let additional = pool
        .spot
        .as_ref()
        .filter(|_| is_spot(pool))
        .and_then(|s| s.eks.as_ref())
        .and_then(|e| e.additional_instance_types.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(j, t)| {
            (
                FieldPath::root()
                    .field("spot")
                    .field("eks")
                    .field("additionalInstanceTypes")
                    .index(j),
                t.as_str(),
            )
        });
    std::iter::once((FieldPath::root().field("machine"), pool.machine.as_str())).chain(additional)
}

/// Formats cents as dollars: `123456` → `1234.56`.
pub fn format_usd(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

fn to_cents(usd: f64) -> i64 {
    // `as` saturates on overflow and maps NaN to 0; inputs are finite and non-negative here.
    (usd * 100.0).round() as i64
}

/// A cluster's estimated monthly cost, per pool and in total, in US cents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// The cluster provider priced: `EKS`, `AKS` or `GKE`.
    pub provider: String,
    /// The region priced.
    pub region: String,
    /// Always `USD`.
    pub currency: String,
    /// The catalog's date, so a preview can say how old its prices are.
    pub catalog_date: String,
    /// One estimate per node pool, in the cluster's pool order.
    pub pools: Vec<PoolEstimate>,
    /// The control-plane tier priced.
    pub control_plane_tier: String,
    /// The control-plane fee per month, US cents.
    pub control_plane_cents: i64,
    /// Every pool's `monthly_cents` plus `control_plane_cents`.
    pub total_cents: i64,
}

/// One pool's estimated monthly cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolEstimate {
    /// Index in the pools estimated.
    pub index: usize,
    /// The pool's `logicalName`.
    pub logical_name: String,
    /// The pool's instance type.
    pub machine: String,
    /// The pool at its largest possible size.
    pub nodes: i64,
    /// Whether the pool runs on spot capacity (priced by the catalog's spot factor).
    pub spot: bool,
    /// The hourly price per node used: on-demand, or the spot price by the catalog's rule.
    pub hourly_usd: f64,
    /// Disk per node in GiB (the provider default when the pool sets none).
    pub disk_gb: i64,
    /// The nodes' compute per month, US cents.
    pub compute_cents: i64,
    /// The nodes' disks per month, US cents.
    pub disk_cents: i64,
    /// `compute_cents + disk_cents`.
    pub monthly_cents: i64,
}

impl Estimate {
    /// What a cluster the catalog cannot price counts for in another cluster's workspace
    /// totals: its nodes and itself count, its cost as zero (it was admitted with its cost
    /// unknown, which happens only where no cost limit applied).
    pub fn uncosted(cluster: &ResolvedCluster) -> Estimate {
        Estimate {
            provider: cluster.provider.clone(),
            region: cluster.region.clone(),
            currency: "USD".into(),
            catalog_date: String::new(),
            pools: Vec::new(),
            control_plane_tier: String::new(),
            control_plane_cents: 0,
            total_cents: 0,
        }
    }

    /// The total as dollars, e.g. `1234.56`.
    pub fn total_usd(&self) -> String {
        format_usd(self.total_cents)
    }
}

/// What kind of entry the catalog lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CostErrorKind {
    /// The cluster provider is not in the catalog.
    UnknownProvider,
    /// The region is not in the catalog for the provider.
    UnknownRegion,
    /// The instance type is not priced in the region.
    UnknownInstanceType,
    /// The control-plane tier is not in the provider's tiers.
    UnknownControlPlaneTier,
}

/// Something the catalog cannot price. The message names the pool, machine and region and
/// lists what the catalog has instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct CostError {
    /// What the catalog lacks.
    pub kind: CostErrorKind,
    /// Index of the pool (for instance types).
    pub pool: Option<usize>,
    /// The field inside the pool (`machine`, `spot.eks.additionalInstanceTypes[0]`).
    #[serde(
        serialize_with = "crate::error::serialize_path",
        deserialize_with = "crate::error::deserialize_path"
    )]
    pub field: FieldPath,
    /// The value the catalog lacks.
    pub value: String,
    /// What the catalog has in its place (instance types of the region, regions of the
    /// provider, providers, tiers).
    pub available: Vec<String>,
    /// The whole message: the pool, machine and region, and what the catalog has instead.
    pub message: String,
}

impl CostError {
    /// Where the error belongs in the Cluster object: the pool's field via
    /// [`ResolvedCluster::pool_field_path`], `spec.region` for a region, `spec.plan` for the
    /// provider or tier, which come from the plan.
    pub fn path_in(&self, cluster: &ResolvedCluster) -> FieldPath {
        let spec = FieldPath::root().field("spec");
        match (self.kind, self.pool) {
            (CostErrorKind::UnknownRegion, _) => spec.field("region"),
            (CostErrorKind::UnknownInstanceType, Some(i)) => cluster.pool_path(i, &self.field),
            _ => spec.field("plan"),
        }
    }
}

/// Estimates the monthly cost of `pools` on `provider` in `region`, with the provider's default
/// control-plane tier. See the module docs for the rules.
pub fn estimate(
    catalog: &Catalog,
    provider: &str,
    region: &str,
    pools: &[NodePool],
) -> Result<Estimate, Vec<CostError>> {
    estimate_with_tier(catalog, provider, region, pools, None)
}

/// Estimates a resolved cluster, with the provider's default control-plane tier.
pub fn estimate_cluster(
    catalog: &Catalog,
    cluster: &ResolvedCluster,
) -> Result<Estimate, Vec<CostError>> {
    estimate(
        catalog,
        &cluster.provider,
        &cluster.region,
        &cluster.node_pools,
    )
}

/// As [`estimate`], pricing the control plane at `tier` (e.g. the AKS plan's `skuTier`:
/// `Free` or `Standard`); the provider's default tier when `None`.
pub fn estimate_with_tier(
    catalog: &Catalog,
    provider: &str,
    region: &str,
    pools: &[NodePool],
    tier: Option<&str>,
) -> Result<Estimate, Vec<CostError>> {
    let Some(prices) = catalog.providers.get(provider) else {
        return Err(vec![CostError {
            kind: CostErrorKind::UnknownProvider,
            pool: None,
            field: FieldPath::root(),
            value: provider.to_string(),
            available: catalog.providers.keys().cloned().collect(),
            message: format!(
                "the price catalog ({}) has no prices for provider {provider:?}; it has {}",
                catalog.date,
                join_keys(&catalog.providers)
            ),
        }]);
    };
    let mut errors = Vec::new();
    let tier = tier.unwrap_or(&prices.control_plane.default_tier);
    let control_plane_hourly = match prices.control_plane.tiers.get(tier) {
        Some(p) => *p,
        None => {
            errors.push(CostError {
                kind: CostErrorKind::UnknownControlPlaneTier,
                pool: None,
                field: FieldPath::root(),
                value: tier.to_string(),
                available: prices.control_plane.tiers.keys().cloned().collect(),
                message: format!(
                    "the price catalog has no {provider} control-plane tier {tier:?}; it has {}",
                    join_keys(&prices.control_plane.tiers)
                ),
            });
            0.0
        }
    };
    if !prices.has_region(region) {
        let regions = prices.region_names();
        let how = match &prices.reference_region {
            Some(reference) => format!(
                "providers.{provider}.regionFactors.{region} (a multiplier on {reference} prices) or providers.{provider}.regions.{region}.<instance type> (USD per hour)"
            ),
            None => format!("providers.{provider}.regions.{region}.<instance type> (USD per hour)"),
        };
        errors.push(CostError {
            kind: CostErrorKind::UnknownRegion,
            pool: None,
            field: FieldPath::root(),
            value: region.to_string(),
            message: format!(
                "the price catalog ({}) has no {provider} prices for region {region:?}; it has {}. {HOW_TO_ADD} {how}",
                catalog.date,
                regions.join(", "),
            ),
            available: regions,
        });
        return Err(errors);
    }
    let types = prices.instance_types(region);
    let mut out = Vec::with_capacity(pools.len());
    for (i, pool) in pools.iter().enumerate() {
        let mut hourly: Option<f64> = Some(0.0);
        for (field, t) in pool_instance_types(pool) {
            match prices.hourly(region, t) {
                Some(p) => hourly = hourly.map(|h| h.max(p)),
                None => {
                    hourly = None;
                    let name = if pool.logical_name.is_empty() {
                        format!("node pool {i}")
                    } else {
                        format!("node pool {:?}", pool.logical_name)
                    };
                    errors.push(CostError {
                        kind: CostErrorKind::UnknownInstanceType,
                        pool: Some(i),
                        field: field.clone(),
                        value: t.to_string(),
                        available: types.clone(),
                        message: format!(
                            "{name}: {field}: the price catalog ({}) has no {provider} price for instance type {t:?} in {region}; it has {}. {HOW_TO_ADD} providers.{provider}.regions.{}.{t} (USD per hour)",
                            catalog.date,
                            nearest(&types, t),
                            prices.reference_region.as_deref().unwrap_or(region),
                        ),
                    });
                }
            }
        }
        let Some(on_demand) = hourly else { continue };
        let spot = is_spot(pool);
        let hourly_usd = if spot {
            on_demand * prices.spot_factor
        } else {
            on_demand
        };
        let nodes = largest_size(pool);
        let disk_gb = pool.disk_size.unwrap_or(prices.default_disk_gb).max(0);
        let n = nodes as f64;
        let compute_cents = to_cents(HOURS_PER_MONTH * n * hourly_usd);
        let disk_cents = to_cents(disk_gb as f64 * prices.disk_per_gb_month * n);
        out.push(PoolEstimate {
            index: i,
            logical_name: pool.logical_name.clone(),
            machine: pool.machine.clone(),
            nodes,
            spot,
            hourly_usd,
            disk_gb,
            compute_cents,
            disk_cents,
            monthly_cents: compute_cents.saturating_add(disk_cents),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let control_plane_cents = to_cents(HOURS_PER_MONTH * control_plane_hourly);
    let total_cents = out.iter().fold(control_plane_cents, |t, p| {
        t.saturating_add(p.monthly_cents)
    });
    Ok(Estimate {
        provider: provider.to_string(),
        region: region.to_string(),
        currency: catalog.currency.clone(),
        catalog_date: catalog.date.clone(),
        pools: out,
        control_plane_tier: tier.to_string(),
        control_plane_cents,
        total_cents,
    })
}

impl fmt::Display for Estimate {
    /// A short table: one line per pool, then the control plane and the total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.pools {
            writeln!(
                f,
                "{}: {} x {}{} = {} USD/month",
                p.logical_name,
                p.nodes,
                p.machine,
                if p.spot { " (spot)" } else { "" },
                format_usd(p.monthly_cents)
            )?;
        }
        writeln!(
            f,
            "control plane ({}): {} USD/month",
            self.control_plane_tier,
            format_usd(self.control_plane_cents)
        )?;
        write!(
            f,
            "total: {} USD/month ({} {}, prices of {})",
            format_usd(self.total_cents),
            self.provider,
            self.region,
            self.catalog_date
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::{Autoscaling, Spot, SpotEks};

    fn pool(name: &str, machine: &str, size: i64) -> NodePool {
        NodePool {
            logical_name: name.into(),
            machine: machine.into(),
            size: Some(size),
            ..Default::default()
        }
    }

    /// A small catalog with round numbers, so the arithmetic can be checked by hand.
    const TEST_CATALOG: &str = r#"{
      "source": "test", "date": "2025-01-01", "currency": "USD",
      "providers": {
        "EKS": {"cloud": "aws", "controlPlane": {"defaultTier": "Standard", "tiers": {"Standard": 0.10}},
                "diskPerGbMonth": 0.08, "defaultDiskGb": 20, "spotFactor": 0.4,
                "regions": {"eu-west-2": {"m6i.large": 0.10, "m6i.xlarge": 0.20, "m5.xlarge": 0.25}}},
        "AKS": {"cloud": "azure", "controlPlane": {"defaultTier": "Standard", "tiers": {"Free": 0, "Standard": 0.10}},
                "diskPerGbMonth": 0.05, "defaultDiskGb": 128, "spotFactor": 0.5,
                "regions": {"uksouth": {"Standard_D4s_v5": 0.20}}}
      }
    }"#;

    fn test_catalog() -> Catalog {
        Catalog::from_json(TEST_CATALOG).unwrap()
    }

    #[test]
    fn on_demand_pool_plus_disk_plus_control_plane() {
        let mut p = pool("a", "m6i.large", 3);
        p.disk_size = Some(50);
        let e = estimate(&test_catalog(), "EKS", "eu-west-2", &[p]).unwrap();
        // 720 h × 3 × $0.10 = $216.00; disk 50 GiB × $0.08 × 3 = $12.00; control plane
        // 720 × $0.10 = $72.00.
        assert_eq!(e.pools[0].compute_cents, 21_600);
        assert_eq!(e.pools[0].disk_cents, 1_200);
        assert_eq!(e.pools[0].monthly_cents, 22_800);
        assert_eq!(e.control_plane_cents, 7_200);
        assert_eq!(e.total_cents, 30_000);
        assert_eq!(e.total_usd(), "300.00");
        assert_eq!(e.control_plane_tier, "Standard");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["totalCents"], 30_000);
        assert_eq!(json["pools"][0]["monthlyCents"], 22_800);
        assert_eq!(serde_json::from_value::<Estimate>(json).unwrap(), e);
        assert_eq!(
            e.to_string(),
            "a: 3 x m6i.large = 228.00 USD/month\ncontrol plane (Standard): 72.00 USD/month\ntotal: 300.00 USD/month (EKS eu-west-2, prices of 2025-01-01)"
        );
    }

    #[test]
    fn default_disk_is_used_when_the_pool_sets_none() {
        let e = estimate(
            &test_catalog(),
            "EKS",
            "eu-west-2",
            &[pool("a", "m6i.large", 1)],
        )
        .unwrap();
        // 20 GiB × $0.08 = $1.60.
        assert_eq!(e.pools[0].disk_gb, 20);
        assert_eq!(e.pools[0].disk_cents, 160);
        let e = estimate(
            &test_catalog(),
            "AKS",
            "uksouth",
            &[pool("a", "Standard_D4s_v5", 2)],
        )
        .unwrap();
        // 128 GiB × $0.05 × 2 = $12.80.
        assert_eq!(e.pools[0].disk_cents, 1_280);
    }

    #[test]
    fn autoscaling_pools_count_at_their_maximum() {
        let mut p = pool("a", "m6i.xlarge", 2);
        p.disk_size = Some(10);
        p.autoscaling = Some(Autoscaling {
            enabled: Some(true),
            min_size: Some(1),
            max_size: Some(5),
        });
        let e = estimate(&test_catalog(), "EKS", "eu-west-2", &[p.clone()]).unwrap();
        // 720 × 5 × $0.20 = $720.00; disk 10 × 0.08 × 5 = $4.00.
        assert_eq!(e.pools[0].nodes, 5);
        assert_eq!(e.pools[0].compute_cents, 72_000);
        assert_eq!(e.pools[0].disk_cents, 400);
        // Disabled autoscaling counts `size`.
        p.autoscaling.as_mut().unwrap().enabled = Some(false);
        let e = estimate(&test_catalog(), "EKS", "eu-west-2", &[p]).unwrap();
        assert_eq!(e.pools[0].nodes, 2);
        assert_eq!(e.pools[0].compute_cents, 28_800);
    }

    #[test]
    fn spot_pools_cost_the_factor_of_their_dearest_type() {
        let mut p = pool("s", "m6i.xlarge", 4);
        p.disk_size = Some(10);
        p.spot = Some(Spot {
            enabled: Some(true),
            eks: Some(SpotEks {
                additional_instance_types: Some(vec!["m5.xlarge".into()]),
            }),
        });
        let e = estimate(&test_catalog(), "EKS", "eu-west-2", &[p.clone()]).unwrap();
        // Dearest type m5.xlarge $0.25 × 0.4 = $0.10/h; 720 × 4 × 0.10 = $288.00. Disk is not
        // discounted: 10 × 0.08 × 4 = $3.20.
        assert!(e.pools[0].spot);
        assert!((e.pools[0].hourly_usd - 0.10).abs() < 1e-12);
        assert_eq!(e.pools[0].compute_cents, 28_800);
        assert_eq!(e.pools[0].disk_cents, 320);
        // Additional types only count when spot is enabled.
        p.spot.as_mut().unwrap().enabled = Some(false);
        let e = estimate(&test_catalog(), "EKS", "eu-west-2", &[p]).unwrap();
        assert_eq!(e.pools[0].compute_cents, 720 * 4 * 20);
    }

    #[test]
    fn control_plane_tiers() {
        let pools = [pool("a", "Standard_D4s_v5", 1)];
        let c = test_catalog();
        let std = estimate(&c, "AKS", "uksouth", &pools).unwrap();
        assert_eq!(std.control_plane_cents, 7_200);
        let free = estimate_with_tier(&c, "AKS", "uksouth", &pools, Some("Free")).unwrap();
        assert_eq!(free.control_plane_cents, 0);
        assert_eq!(std.total_cents - free.total_cents, 7_200);
        let bad = estimate_with_tier(&c, "AKS", "uksouth", &pools, Some("Gold")).unwrap_err();
        assert_eq!(bad[0].kind, CostErrorKind::UnknownControlPlaneTier);
        assert_eq!(bad[0].available, vec!["Free", "Standard"]);
    }

    #[test]
    fn totals_are_the_sum_of_rounded_components() {
        // $0.10 × 720 × 1 = $72.00 and a disk of 7 GiB × $0.08 = $0.56: several pools sum.
        let mut a = pool("a", "m6i.large", 1);
        a.disk_size = Some(7);
        let b = pool("b", "m6i.xlarge", 3);
        let e = estimate(&test_catalog(), "EKS", "eu-west-2", &[a, b]).unwrap();
        let sum: i64 = e.pools.iter().map(|p| p.monthly_cents).sum();
        assert_eq!(e.total_cents, sum + e.control_plane_cents);
        assert_eq!(e.pools[0].monthly_cents, 7_256);
        assert_eq!(e.pools[1].monthly_cents, 43_200 + 480);
    }

    #[test]
    fn unknown_instance_types_and_regions_are_errors_not_zero() {
        let c = test_catalog();
        let mut s = pool("s", "m6i.large", 1);
        s.spot = Some(Spot {
            enabled: Some(true),
            eks: Some(SpotEks {
                additional_instance_types: Some(vec!["x9.huge".into()]),
            }),
        });
        let errs = estimate(
            &c,
            "EKS",
            "eu-west-2",
            &[pool("ok", "m6i.large", 1), pool("gpu", "p5.48xlarge", 1), s],
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].kind, CostErrorKind::UnknownInstanceType);
        assert_eq!(errs[0].pool, Some(1));
        assert_eq!(errs[0].field.to_string(), "machine");
        assert_eq!(
            errs[0].available,
            vec!["m5.xlarge", "m6i.large", "m6i.xlarge"]
        );
        assert_eq!(
            errs[0].message,
            "node pool \"gpu\": machine: the price catalog (2025-01-01) has no EKS price for instance type \"p5.48xlarge\" in eu-west-2; it has m5.xlarge, m6i.large, m6i.xlarge. To price it, add to the server's price catalog (a copy of the built-in one passed with --price-catalog): providers.EKS.regions.eu-west-2.p5.48xlarge (USD per hour)"
        );
        assert_eq!(errs[1].pool, Some(2));
        let json = serde_json::to_string(&errs).unwrap();
        assert_eq!(serde_json::from_str::<Vec<CostError>>(&json).unwrap(), errs);
        assert_eq!(
            errs[1].field.to_string(),
            "spot.eks.additionalInstanceTypes[0]"
        );

        let errs = estimate(&c, "EKS", "mars-north-1", &[pool("a", "m6i.large", 1)]).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].kind, CostErrorKind::UnknownRegion);
        assert_eq!(errs[0].value, "mars-north-1");
        assert_eq!(errs[0].available, vec!["eu-west-2"]);
        assert!(
            errs[0]
                .message
                .contains("has no EKS prices for region \"mars-north-1\"; it has eu-west-2")
        );

        let errs = estimate(&c, "OKE", "x", &[]).unwrap_err();
        assert_eq!(errs[0].kind, CostErrorKind::UnknownProvider);
        assert_eq!(errs[0].available, vec!["AKS", "EKS"]);
    }

    #[test]
    fn cost_errors_point_into_the_cluster() {
        use crate::cluster::PlanRef;
        use crate::resolved::PoolOrigin;
        let cluster = ResolvedCluster {
            workspace: "pay".into(),
            name: "c".into(),
            stage: "prod".into(),
            plan: PlanRef::default(),
            provider: "EKS".into(),
            cloud: "aws".into(),
            region: "eu-west-2".into(),
            node_pools: vec![pool("t", "zz.large", 1), pool("own", "yy.large", 1)],
            pool_origins: vec![PoolOrigin::Template, PoolOrigin::Cluster(0)],
            labels: Default::default(),
        };
        let errs = estimate_cluster(&test_catalog(), &cluster).unwrap_err();
        let paths: Vec<String> = errs
            .iter()
            .map(|e| e.path_in(&cluster).to_string())
            .collect();
        assert_eq!(
            paths,
            vec!["spec.computeTemplate", "spec.nodePools[0].machine"]
        );
        let mut c2 = cluster.clone();
        c2.region = "nowhere".into();
        let errs = estimate_cluster(&test_catalog(), &c2).unwrap_err();
        assert_eq!(errs[0].path_in(&c2).to_string(), "spec.region");
    }

    #[test]
    fn the_builtin_catalog_parses_and_every_price_is_positive() {
        let c = Catalog::from_json(BUILTIN_CATALOG_JSON).expect("built-in catalog");
        assert_eq!(c.currency, "USD");
        assert!(c.source.contains("list prices") && c.source.contains("refresh"));
        assert!(!c.date.is_empty());
        let want: &[(&str, &[&str], &[&str])] = &[
            (
                "EKS",
                &[
                    "us-east-1",
                    "us-west-2",
                    "eu-west-1",
                    "eu-west-2",
                    "eu-central-1",
                ],
                &[
                    "t3.medium",
                    "m5.large",
                    "m6i.large",
                    "m7i.large",
                    "c6i.large",
                    "r6i.large",
                    "g5.xlarge",
                ],
            ),
            (
                "AKS",
                &["eastus", "westeurope", "uksouth", "northeurope"],
                &[
                    "Standard_D4s_v5",
                    "Standard_E4s_v5",
                    "Standard_F4s_v2",
                    "Standard_B2s",
                ],
            ),
            (
                "GKE",
                &[
                    "us-central1",
                    "europe-west1",
                    "europe-west2",
                    "europe-west4",
                ],
                &[
                    "e2-standard-4",
                    "n2-standard-4",
                    "n2d-standard-4",
                    "c2-standard-4",
                ],
            ),
        ];
        let mut count = 0;
        for (provider, regions, types) in want {
            let p = &c.providers[*provider];
            for r in *regions {
                for t in *types {
                    assert!(c.hourly(provider, r, t).is_some(), "{provider} {r} {t}");
                }
            }
            assert!(p.disk_per_gb_month > 0.0 && p.default_disk_gb > 0);
            assert!(p.spot_factor > 0.0 && p.spot_factor <= 1.0);
            assert!((p.control_plane.tiers["Standard"] - 0.10).abs() < 1e-12);
            assert_eq!(p.control_plane.default_tier, "Standard");
            for types in p.regions.values() {
                for (t, price) in types {
                    assert!(price.is_finite() && *price > 0.0, "{provider} {t}");
                    // Plausibility: between a tenth of a cent and $100 an hour (8-GPU machines).
                    assert!(*price > 0.001 && *price < 100.0, "{provider} {t} {price}");
                    count += 1;
                }
            }
        }
        assert_eq!(c.providers["AKS"].control_plane.tiers["Free"], 0.0);
        assert!(count > 600, "{count} prices");
        assert_eq!(Catalog::builtin(), &c);
        // Plausibility of a few well-known list prices.
        assert_eq!(c.hourly("EKS", "us-east-1", "m6i.large"), Some(0.096));
        assert_eq!(c.hourly("AKS", "eastus", "Standard_D2s_v5"), Some(0.096));
        assert_eq!(
            c.hourly("GKE", "us-central1", "e2-standard-2"),
            Some(0.067006)
        );
    }

    #[test]
    fn bad_catalogs_are_refused_with_the_entry_named() {
        let bad_price = TEST_CATALOG.replace("\"m6i.large\": 0.10", "\"m6i.large\": 0");
        let e = Catalog::from_json(&bad_price).unwrap_err();
        assert_eq!(e.path, "providers.EKS.regions.eu-west-2.m6i.large");
        let bad_spot = TEST_CATALOG.replace("\"spotFactor\": 0.4", "\"spotFactor\": 1.5");
        assert_eq!(
            Catalog::from_json(&bad_spot).unwrap_err().path,
            "providers.EKS.spotFactor"
        );
        let bad_tier = TEST_CATALOG.replace(
            "\"defaultTier\": \"Standard\", \"tiers\": {\"Standard\"",
            "\"defaultTier\": \"Gold\", \"tiers\": {\"Standard\"",
        );
        assert_eq!(
            Catalog::from_json(&bad_tier).unwrap_err().path,
            "providers.EKS.controlPlane.defaultTier"
        );
        let typo = TEST_CATALOG.replace("\"diskPerGbMonth\": 0.08", "\"diskPerGBMonth\": 0.08");
        let e = Catalog::from_json(&typo).unwrap_err();
        assert!(e.message.contains("diskPerGBMonth"), "{e}");
        assert!(Catalog::from_json("not json").is_err());
    }

    #[test]
    fn usd_formatting() {
        assert_eq!(format_usd(0), "0.00");
        assert_eq!(format_usd(5), "0.05");
        assert_eq!(format_usd(123_456), "1234.56");
        assert_eq!(format_usd(-150), "-1.50");
    }
}

/// The built-in catalog's coverage: every public region of each cloud and the instance
/// families teams use, each (region, type) priced.
#[cfg(test)]
mod coverage {
    use super::*;

    /// Every public commercial region, per provider (2024–2025).
    const REGIONS: &[(&str, &[&str])] = &[
        (
            "EKS",
            &[
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "ca-central-1",
                "ca-west-1",
                "sa-east-1",
                "mx-central-1",
                "eu-west-1",
                "eu-west-2",
                "eu-west-3",
                "eu-central-1",
                "eu-central-2",
                "eu-north-1",
                "eu-south-1",
                "eu-south-2",
                "il-central-1",
                "me-south-1",
                "me-central-1",
                "af-south-1",
                "ap-east-1",
                "ap-south-1",
                "ap-south-2",
                "ap-northeast-1",
                "ap-northeast-2",
                "ap-northeast-3",
                "ap-southeast-1",
                "ap-southeast-2",
                "ap-southeast-3",
                "ap-southeast-4",
                "ap-southeast-5",
                "ap-southeast-7",
            ],
        ),
        (
            "AKS",
            &[
                "eastus",
                "eastus2",
                "centralus",
                "northcentralus",
                "southcentralus",
                "westcentralus",
                "westus",
                "westus2",
                "westus3",
                "canadacentral",
                "canadaeast",
                "brazilsouth",
                "brazilsoutheast",
                "mexicocentral",
                "chilecentral",
                "northeurope",
                "westeurope",
                "uksouth",
                "ukwest",
                "francecentral",
                "francesouth",
                "germanywestcentral",
                "germanynorth",
                "switzerlandnorth",
                "switzerlandwest",
                "norwayeast",
                "norwaywest",
                "swedencentral",
                "swedensouth",
                "polandcentral",
                "italynorth",
                "spaincentral",
                "austriaeast",
                "belgiumcentral",
                "israelcentral",
                "qatarcentral",
                "uaenorth",
                "uaecentral",
                "southafricanorth",
                "southafricawest",
                "centralindia",
                "southindia",
                "westindia",
                "jioindiawest",
                "jioindiacentral",
                "japaneast",
                "japanwest",
                "koreacentral",
                "koreasouth",
                "eastasia",
                "southeastasia",
                "australiaeast",
                "australiasoutheast",
                "australiacentral",
                "australiacentral2",
                "newzealandnorth",
                "indonesiacentral",
                "malaysiawest",
            ],
        ),
        (
            "GKE",
            &[
                "us-central1",
                "us-east1",
                "us-east4",
                "us-east5",
                "us-south1",
                "us-west1",
                "us-west2",
                "us-west3",
                "us-west4",
                "northamerica-northeast1",
                "northamerica-northeast2",
                "northamerica-south1",
                "southamerica-east1",
                "southamerica-west1",
                "europe-west1",
                "europe-west2",
                "europe-west3",
                "europe-west4",
                "europe-west6",
                "europe-west8",
                "europe-west9",
                "europe-west10",
                "europe-west12",
                "europe-north1",
                "europe-north2",
                "europe-central2",
                "europe-southwest1",
                "me-west1",
                "me-central1",
                "me-central2",
                "africa-south1",
                "asia-east1",
                "asia-east2",
                "asia-northeast1",
                "asia-northeast2",
                "asia-northeast3",
                "asia-south1",
                "asia-south2",
                "asia-southeast1",
                "asia-southeast2",
                "australia-southeast1",
                "australia-southeast2",
            ],
        ),
    ];

    /// One size of every family in common use (current and previous generations of
    /// general-purpose, compute- and memory-optimised, burstable and GPU families).
    const TYPES: &[(&str, &[&str])] = &[
        (
            "EKS",
            &[
                "t3.medium",
                "t3a.large",
                "t4g.large",
                "m5.xlarge",
                "m5a.xlarge",
                "m6i.xlarge",
                "m6a.xlarge",
                "m6g.xlarge",
                "m7i.xlarge",
                "m7g.xlarge",
                "c5.xlarge",
                "c5a.xlarge",
                "c6i.xlarge",
                "c6a.xlarge",
                "c6g.xlarge",
                "c7i.xlarge",
                "c7g.xlarge",
                "r5.xlarge",
                "r5a.xlarge",
                "r6i.xlarge",
                "r6a.xlarge",
                "r6g.xlarge",
                "r7i.xlarge",
                "r7g.xlarge",
                "g4dn.xlarge",
                "g5.xlarge",
                "g6.xlarge",
                "p3.2xlarge",
                "p4d.24xlarge",
            ],
        ),
        (
            "AKS",
            &[
                "Standard_D4s_v3",
                "Standard_D4_v3",
                "Standard_D4s_v4",
                "Standard_D4as_v4",
                "Standard_D4s_v5",
                "Standard_D4ds_v5",
                "Standard_D4as_v5",
                "Standard_D4ps_v5",
                "Standard_E4s_v3",
                "Standard_E4s_v4",
                "Standard_E4as_v4",
                "Standard_E4s_v5",
                "Standard_E4as_v5",
                "Standard_F4s_v2",
                "Standard_B2s",
                "Standard_B4ms",
                "Standard_B4s_v2",
                "Standard_NC4as_T4_v3",
                "Standard_NC6s_v3",
                "Standard_NC24ads_A100_v4",
                "Standard_ND96asr_v4",
            ],
        ),
        (
            "GKE",
            &[
                "e2-standard-4",
                "e2-highmem-4",
                "e2-highcpu-4",
                "n1-standard-4",
                "n2-standard-4",
                "n2-highmem-4",
                "n2-highcpu-4",
                "n2d-standard-4",
                "n4-standard-4",
                "c2-standard-4",
                "c2d-standard-4",
                "c3-standard-4",
                "c3d-standard-4",
                "m1-ultramem-40",
                "m3-ultramem-32",
                "t2d-standard-4",
                "a2-highgpu-1g",
                "g2-standard-4",
            ],
        ),
    ];

    #[test]
    fn every_public_region_prices_every_common_family() {
        let c = Catalog::builtin();
        let mut priced = 0;
        for ((provider, regions), (p2, types)) in REGIONS.iter().zip(TYPES) {
            assert_eq!(provider, p2);
            let p = &c.providers[*provider];
            let listed = p.region_names();
            for r in *regions {
                assert!(listed.iter().any(|l| l == r), "{provider} lacks region {r}");
                for t in *types {
                    assert!(c.hourly(provider, r, t).is_some(), "{provider} {r} {t}");
                }
                // And every type the catalog lists prices in every region it lists.
                for t in p.instance_types(r) {
                    let h = p.hourly(r, &t).expect("listed types price");
                    assert!(h > 0.001 && h < 200.0, "{provider} {r} {t} {h}");
                    priced += 1;
                }
            }
            assert_eq!(listed.len(), regions.len(), "{provider}: {listed:?}");
        }
        assert!(priced > 25_000, "{priced} region/type prices");
        println!("built-in catalog: {priced} region/type prices");
    }

    #[test]
    fn the_issue_examples_price() {
        let c = Catalog::builtin();
        // us-east-2 is priced as us-east-1; c5.xlarge in us-west-2 by factor.
        assert_eq!(c.hourly("EKS", "us-east-2", "m6i.large"), Some(0.096));
        assert_eq!(c.hourly("EKS", "us-west-2", "c5.xlarge"), Some(0.17));
        // A region's own entries win over the factor.
        assert_eq!(c.hourly("EKS", "eu-west-1", "m6i.large"), Some(0.107));
        let pools = [NodePool {
            logical_name: "a".into(),
            machine: "c5.xlarge".into(),
            size: Some(2),
            ..Default::default()
        }];
        let e = estimate(c, "EKS", "us-east-2", &pools).unwrap();
        // 720 × 2 × $0.17 = $244.80; disk 20 × $0.08 × 2 = $3.20; control plane $72.
        assert_eq!(e.total_cents, 24_480 + 320 + 7_200);
    }

    #[test]
    fn missing_prices_say_how_to_add_them() {
        let c = Catalog::builtin();
        let pools = [NodePool {
            logical_name: "big".into(),
            machine: "c5.metal".into(),
            size: Some(1),
            ..Default::default()
        }];
        let errs = estimate(c, "EKS", "us-east-2", &pools).unwrap_err();
        let m = &errs[0].message;
        assert!(m.contains("c5.2xlarge"), "{m}");
        assert!(m.contains("more"), "{m}");
        assert!(
            m.ends_with(
                "--price-catalog): providers.EKS.regions.us-east-1.c5.metal (USD per hour)"
            ),
            "{m}"
        );
        let errs = estimate(c, "EKS", "us-gov-west-1", &pools).unwrap_err();
        assert!(
            errs[0].message.contains(
                "providers.EKS.regionFactors.us-gov-west-1 (a multiplier on us-east-1 prices)"
            ),
            "{}",
            errs[0].message
        );
        let w = unknown_cost_warning(&errs);
        assert!(
            w.starts_with("the estimated monthly cost is unknown (not zero): the price catalog")
        );
    }

    #[test]
    fn reading_the_built_in_catalog_is_cheap() {
        // Not a timed assertion: prints the parse time, read once per process.
        let start = std::time::Instant::now();
        let runs = 20;
        for _ in 0..runs {
            Catalog::from_json(BUILTIN_CATALOG_JSON).unwrap();
        }
        println!(
            "built-in catalog: {} bytes, parsed and checked in {:?} each",
            BUILTIN_CATALOG_JSON.len(),
            start.elapsed() / runs
        );
    }

    #[test]
    fn bad_factors_are_refused() {
        let text = BUILTIN_CATALOG_JSON.replace("\"us-east-2\": 1.0", "\"us-east-2\": -1.0");
        let e = Catalog::from_json(&text).unwrap_err();
        assert_eq!(e.path, "providers.EKS.regionFactors.us-east-2");
        let text = BUILTIN_CATALOG_JSON.replace(
            "\"referenceRegion\": \"us-east-1\"",
            "\"referenceRegion\": \"us-east-9\"",
        );
        let e = Catalog::from_json(&text).unwrap_err();
        assert_eq!(e.path, "providers.EKS.referenceRegion");
    }
}
