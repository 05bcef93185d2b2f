//! Inputs for the module's tests: a valid choice, and variations of it that each break
//! some checks.

use std::collections::{BTreeMap, BTreeSet};

use wayfinder_model::compute::{Autoscaling, MAX_POOL_NODES, NodePool};

use super::checks::Check;
use super::{Inputs, Plan, sorted_unique};

impl<'c> Plan<'c> {
    pub(super) fn defaults(&self) -> Inputs {
        Inputs {
            name: "example".into(),
            workspace: String::new(),
            stage: String::new(),
            region: self
                .choices
                .regions
                .as_ref()
                .and_then(|c| c.default.clone()),
            compute_template: self
                .choices
                .compute_templates
                .as_ref()
                .and_then(|c| c.default.clone()),
            node_pools: Vec::new(),
            network_size: self.choices.network.as_ref().and_then(|n| n.default_size),
            network_cidr: None,
            cluster_labels: BTreeMap::new(),
        }
    }

    /// Workspaces worth trying: the plan's, the policies', and one no policy names.
    pub(super) fn workspace_candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.scope_workspaces().unwrap_or_default();
        out.extend(self.policy_workspaces.iter().cloned());
        out.extend(["team1", "wsa", "wsb"].map(String::from));
        let mut seen = BTreeSet::new();
        out.retain(|w| seen.insert(w.clone()));
        out
    }

    pub(super) fn stage_candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.scope_stages().unwrap_or_default();
        out.extend(self.policy_stages.iter().cloned());
        out.extend(["nonprod", "prod", "other-stage"].map(String::from));
        let mut seen = BTreeSet::new();
        out.retain(|w| seen.insert(w.clone()));
        out
    }

    /// A valid input: the defaults, in the first workspace and stage where every check holds;
    /// when the defaults give no node pool (a plan without a default template), with one pool
    /// of the plan's first machine.
    pub(super) fn valid(&self, checks: &[Check]) -> Option<Inputs> {
        let mut starts = vec![self.defaults()];
        if self.pools_choice() {
            let machine = self
                .allowed_machines()
                .and_then(|m| m.first().cloned())
                .or_else(|| {
                    self.templates
                        .iter()
                        .flat_map(|t| t.values().flatten())
                        .map(|p| p.machine.clone())
                        .next()
                });
            if let Some(m) = machine {
                let mut with_pool = self.defaults();
                with_pool.node_pools = vec![self.pool("workers", &m, 1)];
                starts.push(with_pool);
            }
        }
        for start in starts {
            for w in self.workspace_candidates() {
                for s in self.stage_candidates() {
                    let mut i = start.clone();
                    i.workspace = w.clone();
                    i.stage = s.clone();
                    if self.failing(checks, &i).0.is_empty() {
                        return Some(i);
                    }
                }
            }
        }
        None
    }

    pub(super) fn pool(&self, name: &str, machine: &str, size: i64) -> NodePool {
        NodePool {
            logical_name: name.to_string(),
            machine: machine.to_string(),
            size: Some(size),
            ..Default::default()
        }
    }

    /// Inputs that differ from `valid` in one variable, to look for one that breaks a check.
    pub(super) fn variations(&self, valid: &Inputs) -> Vec<Inputs> {
        let mut out = Vec::new();
        let mut with = |f: &dyn Fn(&mut Inputs)| {
            let mut i = valid.clone();
            f(&mut i);
            if i != *valid {
                out.push(i);
            }
        };
        with(&|i| i.name = "Not_A_Name".into());
        for w in self
            .workspace_candidates()
            .into_iter()
            .chain(["Not_A_Key".to_string()])
        {
            with(&|i| i.workspace = w.clone());
        }
        for s in self
            .stage_candidates()
            .into_iter()
            .chain(["Not_A_Stage".to_string()])
        {
            with(&|i| i.stage = s.clone());
        }
        let priced_regions: Vec<String> = self
            .prices
            .providers
            .get(&self.provider)
            .map(|p| p.regions.keys().cloned().collect())
            .unwrap_or_default();
        if self.regions().is_some() {
            let mut regions = self.regions().unwrap_or_default();
            regions.extend(priced_regions.iter().cloned());
            for p in &self.policies {
                regions.extend(p.spec.allowed_regions.iter().flatten().cloned());
            }
            regions.push("xx-nowhere-1".into());
            for r in sorted_unique(regions) {
                with(&|i| i.region = Some(r.clone()));
            }
        }
        if let Some(t) = self.offered_templates() {
            for t in t.into_iter().chain(["no-such-template".to_string()]) {
                with(&|i| i.compute_template = Some(t.clone()));
            }
        }
        if self.pools_choice() {
            let region = valid
                .region
                .clone()
                .or_else(|| priced_regions.first().cloned());
            let priced: Vec<String> = region
                .as_ref()
                .and_then(|r| self.prices.providers.get(&self.provider)?.regions.get(r))
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            let mut machines: Vec<String> = self.allowed_machines().unwrap_or_default();
            for p in &self.policies {
                for l in [p
                    .spec
                    .cluster_limits
                    .as_ref()
                    .and_then(|c| c.per_cluster.as_ref())]
                .into_iter()
                .flatten()
                {
                    machines.extend(
                        l.allowed_instance_types
                            .iter()
                            .flatten()
                            .map(|t| t.instance_type.clone()),
                    );
                }
            }
            for pools in self.templates.iter().flat_map(|t| t.values()) {
                machines.extend(pools.iter().map(|p| p.machine.clone()));
            }
            // One priced machine none of those lists names, and one without a price.
            if let Some(m) = priced.iter().find(|m| !machines.contains(m)) {
                machines.push(m.clone());
            }
            machines.push("x1.unpriced".into());
            let machines = sorted_unique(machines);
            let mut sizes: Vec<i64> = vec![1];
            if let Some(m) = self.max_pool_size() {
                sizes.push(m + 1);
            }
            for c in &self.classes {
                let l = &c.policy.per_cluster;
                if let Some(t) = &l.total_nodes {
                    sizes.push(t.value + 1);
                }
                if let Some(a) = &l.allowed_instance_types {
                    sizes.extend(a.types.values().flatten().map(|m| m.value + 1));
                }
            }
            sizes.push(MAX_POOL_NODES);
            let sizes: Vec<i64> = sizes
                .into_iter()
                .filter(|s| (1..=MAX_POOL_NODES).contains(s))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for m in &machines {
                for s in &sizes {
                    let pool = self.pool("extra", m, *s);
                    with(&|i| i.node_pools = vec![pool.clone()]);
                }
            }
            let base = machines
                .first()
                .cloned()
                .unwrap_or_else(|| "x1.unpriced".into());
            let pool = self.pool(
                "extra",
                self.allowed_machines()
                    .and_then(|m| m.first().cloned())
                    .as_deref()
                    .unwrap_or(&base),
                1,
            );
            with(&|i| i.node_pools = vec![pool.clone(), pool.clone()]);
            // Autoscaling counts its maximum.
            if let Some(m) = self.max_pool_size() {
                let mut p = pool.clone();
                p.autoscaling = Some(Autoscaling {
                    enabled: Some(true),
                    min_size: Some(1),
                    max_size: Some((m + 1).min(MAX_POOL_NODES)),
                });
                with(&|i| i.node_pools = vec![p.clone()]);
            }
        }
        if self.network_sizes().is_some() {
            for s in 16..=24 {
                with(&|i| i.network_size = Some(s));
            }
            if self.allow_cidr() {
                for s in 16..=24 {
                    with(&|i| i.network_cidr = Some(format!("10.16.0.0/{s}")));
                }
            }
        }
        with(&|i| {
            i.cluster_labels
                .insert("appvia.io/stage".into(), "prod".into());
        });
        out
    }
}
