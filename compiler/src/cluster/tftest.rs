//! The module's `terraform test` file: a run on the defaults, and for each check a run whose
//! inputs break it, expecting exactly the variables the model says fail.

use std::collections::BTreeSet;

use serde_json::Value;
use wayfinder_model::FieldPath;
use wayfinder_model::compute::NODE_POOL_SHAPE;

use crate::diagnostic::Diagnostic;
use crate::hcl::{Block, Body, Expr, File, ObjectKey, quote};
use crate::shapes;

use super::checks::{Check, Rule};
use super::{Inputs, Plan};

impl<'c> Plan<'c> {
    /// The variables of `inputs` that differ from the module's defaults, as HCL values.
    pub(super) fn input_values(
        &self,
        inputs: &Inputs,
        base: &Inputs,
        all: bool,
    ) -> Vec<(&'static str, Expr)> {
        let mut out = Vec::new();
        let opt = |v: &Option<String>| v.as_deref().map_or(Expr::Null, Expr::string);
        if all || inputs.name != base.name {
            out.push(("name", Expr::string(&inputs.name)));
        }
        if all || inputs.workspace != base.workspace {
            out.push(("workspace", Expr::string(&inputs.workspace)));
        }
        if all || inputs.stage != base.stage {
            out.push(("stage", Expr::string(&inputs.stage)));
        }
        if inputs.region != base.region {
            out.push(("region", opt(&inputs.region)));
        }
        if inputs.compute_template != base.compute_template {
            out.push(("compute_template", opt(&inputs.compute_template)));
        }
        if inputs.node_pools != base.node_pools {
            out.push((
                "node_pools",
                Expr::Tuple(
                    inputs
                        .node_pools
                        .iter()
                        .map(|p| match serde_json::to_value(p) {
                            Ok(Value::Object(m)) => shapes::object_value(NODE_POOL_SHAPE, &m),
                            _ => Expr::Null,
                        })
                        .collect(),
                ),
            ));
        }
        if inputs.network_size != base.network_size {
            out.push((
                "network_size",
                inputs.network_size.map_or(Expr::Null, Expr::int),
            ));
        }
        if inputs.network_cidr != base.network_cidr {
            out.push(("network_cidr", opt(&inputs.network_cidr)));
        }
        if inputs.cluster_labels != base.cluster_labels {
            out.push((
                "cluster_labels",
                Expr::Object(
                    inputs
                        .cluster_labels
                        .iter()
                        .map(|(k, v)| (ObjectKey::Map(k.clone()), Expr::string(v)))
                        .collect(),
                ),
            ));
        }
        out
    }

    pub(super) fn tests(
        &self,
        header: &str,
        checks: &[Check],
        diagnostics: &mut Vec<Diagnostic>,
    ) -> String {
        let mut body = Body::new();
        body.comment("Plans only, against a mock of the provider: no server is needed. The provider itself still evaluates provider::wayfinder::monthly_cost.");
        body.block(Block::new("mock_provider", &["wayfinder"], Body::new()));
        let Some(valid) = self.valid(checks) else {
            diagnostics.push(
                self.catalog
                    .at(
                        self.index,
                        &FieldPath::root().field("spec").field("choices"),
                        format!(
                            "with its defaults, cluster plan {} breaks a check in every workspace and stage tried ({}; {}), so its module's tests plan no valid cluster",
                            self.name,
                            self.workspace_candidates().join(", "),
                            self.stage_candidates().join(", ")
                        ),
                    )
                    .notice(),
            );
            return File::new(body).with_header(header).render();
        };
        let mut vars = Body::new();
        for (k, v) in self.input_values(&valid, &self.defaults(), true) {
            vars.attribute(k, v);
        }
        body.block(Block::new("variables", &[], vars));

        let mut run = Body::new();
        run.attribute("command", Expr::raw("plan"));
        let mut assert = |cond: String, msg: String| {
            let mut a = Body::new();
            a.attribute("condition", Expr::raw(cond))
                .attribute("error_message", Expr::string(msg));
            run.block(Block::new("assert", &[], a));
        };
        assert(
            format!("wayfinder_cluster.this.plan.name == {}", quote(&self.name)),
            "The cluster is not built from the plan.".into(),
        );
        assert(
            format!(
                "wayfinder_cluster.this.plan.version == {}",
                quote(&self.version)
            ),
            format!("The cluster is not built from version {}.", self.version),
        );
        if let Some(r) = &valid.region {
            assert(
                format!("wayfinder_cluster.this.region == {}", quote(r)),
                "The cluster does not get the plan's default region.".into(),
            );
        }
        if let Some(t) = &valid.compute_template {
            assert(
                format!("wayfinder_cluster.this.compute_template == {}", quote(t)),
                "The cluster does not get the plan's default compute template.".into(),
            );
        }
        body.block(Block::new("run", &["plan_defaults"], run));

        let variations = self.variations(&valid);
        // What fails for each variation, asked of the model once.
        let verdicts: Vec<(Vec<Rule>, Vec<&'static str>)> =
            variations.iter().map(|v| self.failing(checks, v)).collect();
        let mut done: BTreeSet<Rule> = BTreeSet::new();
        for c in checks {
            if !done.insert(c.rule) {
                continue;
            }
            // The variation breaking this check with the fewest other failures.
            let best = variations
                .iter()
                .zip(&verdicts)
                .filter_map(|(v, (rules, vars))| {
                    rules
                        .contains(&c.rule)
                        .then_some((rules.len(), v, rules, vars))
                })
                .min_by_key(|(n, ..)| *n);
            let Some((_, inputs, rules, failing_vars)) = best else {
                body.comment(format!(
                    "No single choice breaks the check of {} \"{}\" without breaking the input's type, so it has no run.",
                    c.variable,
                    c.rule.run_name()
                ));
                continue;
            };
            let mut run = Body::new();
            run.attribute("command", Expr::raw("plan"));
            let mut vars = Body::new();
            for (k, v) in self.input_values(inputs, &valid, false) {
                vars.attribute(k, v);
            }
            run.block(Block::new("variables", &[], vars));
            run.attribute(
                "expect_failures",
                Expr::Tuple(
                    failing_vars
                        .iter()
                        .map(|v| Expr::raw(format!("var.{v}")))
                        .collect(),
                ),
            );
            if rules.len() > 1 {
                body.comment(format!(
                    "Also breaks: {}.",
                    rules
                        .iter()
                        .filter(|r| **r != c.rule)
                        .map(|r| r.run_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            body.block(Block::new("run", &[c.rule.run_name()], run));
        }
        File::new(body).with_header(header).render()
    }
}
