//! Planning a create or update, checking a configuration, and generating one.

use serde_json::Value as Json;

use super::convert::is_publish_annotation;
use super::settle::{equivalent, keep_equivalent_config};
use super::{ANNOTATIONS, ID, LABELS, Planned, ResourceType, WORKSPACE, WorkspaceDefault};
use crate::codec::Value;
use crate::diag::{self, Diagnostic, Step};

impl ResourceType {
    /// Problems only the provider can see in a configuration (the model sees the rest).
    pub(crate) fn check_config(&self, config: &Value) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if self.kind.versioned
            && let Some(a) = config.get(ANNOTATIONS).untyped().as_map()
        {
            for key in a.keys().filter(|k| is_publish_annotation(k)) {
                out.push(diag::error_at(
                    Some(diag::attr(ANNOTATIONS).then(Step::Key(key.clone()))),
                    format!("Invalid annotations: {key} is set with publish_state"),
                    format!(
                        "The publish state of a {} version is its `publish_state` attribute (`Draft`, `Published` or `Deprecated`), which writes both publish annotations; remove {key:?} from `annotations`.",
                        self.kind.kind
                    ),
                ));
            }
        }
        let owned = self.kind.server_labels();
        if let Some(l) = config.get(LABELS).untyped().as_map() {
            for key in l.keys().filter(|k| owned.contains(&k.as_str())) {
                out.push(diag::error_at(
                    Some(diag::attr(LABELS).then(Step::Key(key.clone()))),
                    format!("Invalid labels: {key} is set by Wayfinder"),
                    format!(
                        "Wayfinder sets {} on every {} itself; remove {key:?} from `labels`.",
                        owned.join(", "),
                        self.kind.kind
                    ),
                ));
            }
        }
        out
    }

    // -----------------------------------------------------------------------------------
    // Planning

    /// Plans a create or update: fills in what configuration leaves to the provider
    /// (`workspace`, defaults), keeps the prior value wherever configuration means the same,
    /// computes `id`, leaves `status` unknown when anything changes, and says which changes
    /// replace the object.
    pub(crate) fn plan(
        &self,
        prior: &Value,
        proposed: Value,
        config: &Value,
        workspace: &WorkspaceDefault,
    ) -> Planned {
        let mut out = Planned::default();
        let Value::Map(mut planned) = proposed.untyped().clone() else {
            out.state = proposed;
            return out;
        };
        if self.workspaced() && config.get(WORKSPACE).is_null() {
            let v = if !prior.is_null() {
                prior.get(WORKSPACE).clone()
            } else {
                match workspace {
                    WorkspaceDefault::Known(ws) => Value::String(ws.clone()),
                    WorkspaceDefault::Unknown => Value::Unknown,
                    WorkspaceDefault::None => {
                        out.diagnostics.push(diag::error_at(
                            Some(diag::attr(WORKSPACE)),
                            format!("No workspace for this {}", self.type_name),
                            format!(
                                "A {} lives in a workspace. Set `workspace` in this resource, or a default `workspace` in the wayfinder provider block (or WAYFINDER_WORKSPACE).",
                                self.kind.kind
                            ),
                        ));
                        Value::Null
                    }
                }
            };
            planned.insert(WORKSPACE.into(), v);
        }
        if let Some(b) = &self.behaviour {
            b.plan_defaults(&mut planned, prior, config);
        }
        let mut planned = Value::Map(planned);
        if !prior.is_null() {
            planned = keep_equivalent_config(&self.schema.block, planned, prior);
        }
        let changed = prior.is_null() || !self.same_configuration(&planned, prior);
        let Value::Map(mut m) = planned else {
            unreachable!("planned is an object")
        };
        for a in self
            .schema
            .block
            .attributes
            .iter()
            .filter(|a| a.is_computed())
        {
            let v = match a.name.as_str() {
                ID => match self.address(&Value::Map(m.clone())) {
                    Some(at) => Value::String(at.id()),
                    None => Value::Unknown,
                },
                _ if self
                    .behaviour
                    .as_ref()
                    .is_some_and(|b| b.plans_computed(&a.name)) =>
                {
                    continue;
                }
                _ if !changed => prior.get(&a.name).clone(),
                _ => Value::Unknown,
            };
            m.insert(a.name.clone(), v);
        }
        if let Some(b) = &self.behaviour {
            b.plan_computed(&mut m, prior);
        }
        let planned = Value::Map(m);
        if !prior.is_null() {
            out.requires_replace = self
                .schema
                .block
                .attributes
                .iter()
                .filter(|a| a.requires_replace)
                .filter(|a| {
                    let (p, n) = (prior.get(&a.name), planned.get(&a.name));
                    n.has_unknown() || !equivalent(&p.to_json(), &n.to_json())
                })
                .map(|a| diag::attr(&a.name))
                .collect();
        }
        out.state = planned;
        out
    }

    /// The warnings for creating the object planned as `planned`.
    pub(crate) fn create_warnings(&self, planned: &Value) -> Vec<Diagnostic> {
        match &self.behaviour {
            Some(b) => b.create_warnings(self, planned),
            None => Vec::new(),
        }
    }

    /// Whether two values agree on everything configuration can set.
    fn same_configuration(&self, a: &Value, b: &Value) -> bool {
        let settable = |v: &Value| -> Json {
            let mut j = v.to_json();
            if let Json::Object(m) = &mut j {
                for attr in self
                    .schema
                    .block
                    .attributes
                    .iter()
                    .filter(|a| a.is_computed())
                {
                    m.remove(&attr.name);
                }
            }
            j
        };
        !a.has_unknown_outside_computed(&self.schema.block)
            && equivalent(&settable(a), &settable(b))
    }

    /// The configuration `terraform plan -generate-config-out` writes for an imported
    /// object: the state without what only the provider sets, and without settings equal
    /// to their defaults.
    pub(crate) fn generate_config(&self, state: &Value) -> Value {
        let Value::Map(mut m) = state.untyped().clone() else {
            return Value::Null;
        };
        for a in self
            .schema
            .block
            .attributes
            .iter()
            .filter(|a| a.is_computed())
        {
            m.insert(a.name.clone(), Value::Null);
        }
        if let Some(b) = &self.behaviour {
            b.generate_config(&mut m);
        }
        Value::Map(m).conform(&self.value_type())
    }
}
