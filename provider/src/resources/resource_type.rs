//! A resource type's schema, derived from its kind: the generic attributes, the spec's
//! fields, `status`, and where a Wayfinder field path lands in it.

use wayfinder_model::kinds::{self, KindInfo};
use wayfinder_model::{FieldPath, PathSegment, Scope, naming};

use super::{
    ANNOTATIONS, Behaviour, ID, LABELS, NAME, PUBLISH_STATE, ResourceType, STATUS, StatusField,
    WORKSPACE, condition_type,
};
use crate::codec::Type;
use crate::diag::{self, AttrPath, Step};
use crate::schema::{Attribute, Block, NestedBlock, Nesting, Presence, Schema};

/// The `labels` attribute's description: `metadata.labels`, and for a kind whose objects
/// carry labels the server sets (the model's [`KindInfo::server_labels`]), which those are.
fn labels_description(kind: &KindInfo) -> String {
    let mut d = String::from(
        "Labels of the object (`metadata.labels`), e.g. `team = \"platform\"`: what Wayfinder and its users select objects by.",
    );
    let owned = kind.server_labels();
    if !owned.is_empty() {
        d.push_str(&format!(
            " Wayfinder sets {} itself; they are not shown here and may not be given.",
            owned
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    d
}

impl ResourceType {
    /// The resource for `kind`: `id`, `workspace` (workspaced kinds), `name`, the spec's
    /// fields, `publish_state` (versioned kinds). The spec's immutable fields (the model's
    /// [`wayfinder_model::shape::Field::immutable`]) replace the object; so does a versioned
    /// kind's `version`.
    pub fn new(kind: &'static KindInfo) -> Self {
        let mut spec = Block::from_fields(kind.spec, true);
        for a in &mut spec.attributes {
            a.requires_replace = a.json.is_some_and(|j| {
                wayfinder_model::shape::find(kind.spec, j).is_some_and(|f| f.immutable)
                    || (kind.versioned && j == "version")
            });
            if a.requires_replace {
                a.description.push_str(" Changing it replaces the object.");
            }
        }
        let mut attributes = vec![Attribute::plain(
            ID,
            Type::String,
            Presence::Computed,
            &id_description(kind),
        )];
        if kind.scope == Scope::Workspace {
            attributes.push(
                Attribute::plain(
                    WORKSPACE,
                    Type::String,
                    Presence::OptionalComputed,
                    "The workspace (its key) the object lives in. Defaults to the provider's `workspace` (or `WAYFINDER_WORKSPACE`); once created, the object stays in its workspace even if the provider's default changes. Changing it replaces the object.",
                )
                .requires_replace(),
            );
        }
        attributes.push(
            Attribute::plain(
                NAME,
                Type::String,
                Presence::Required,
                &name_description(kind),
            )
            .requires_replace(),
        );
        attributes.push(Attribute::plain(
            ANNOTATIONS,
            Type::Map(Box::new(Type::String)),
            Presence::Optional,
            if kind.versioned {
                "Annotations of the object (`metadata.annotations`), e.g. `appvia.io/displayName`. The publish annotations (`appvia.io/published`, `appvia.io/publishState`) are set with `publish_state`, not here."
            } else {
                "Annotations of the object (`metadata.annotations`), e.g. `appvia.io/displayName`."
            },
        ));
        attributes.push(Attribute::plain(
            LABELS,
            Type::Map(Box::new(Type::String)),
            Presence::Optional,
            &labels_description(kind),
        ));
        attributes.append(&mut spec.attributes);
        if kind.versioned {
            attributes.push(Attribute::plain(
                PUBLISH_STATE,
                Type::String,
                Presence::Optional,
                "Where this version is in its lifecycle: `Draft` (not offered to workspaces), `Published` (new clusters may use it) or `Deprecated` (existing clusters keep it, new ones may not use it). Written as the annotations `appvia.io/published` and `appvia.io/publishState`; when not set, no annotation is written and Wayfinder treats the version as published.",
            ));
        }
        let block = Block {
            description: format!(
                "{} (`{}` {})",
                kind.description,
                kind.api_version(),
                kind.kind
            ),
            attributes,
            blocks: spec.blocks,
        };
        Self {
            type_name: naming::resource_type(kind.kind),
            kind,
            schema: Schema { version: 0, block },
            status: None,
            behaviour: None,
        }
    }

    /// Adds the computed `status` attribute: an object with `status` (`Pending`,
    /// `Creating`, `Success`, `Failure`, …), `message`, `conditions` (`type`, `status`,
    /// `reason`, `message`, `observed_generation`, `last_transition_time`) and `extra`.
    pub fn with_status(mut self, extra: &[StatusField]) -> Self {
        let mut attrs = vec![
            ("status".to_string(), Type::String),
            ("message".to_string(), Type::String),
            (
                "conditions".to_string(),
                Type::List(Box::new(condition_type())),
            ),
        ];
        let mut described = String::from(
            "What Wayfinder reports about the object (read-only): `status` (`Pending`, `Creating`, `Updating`, `Success`, `Failure`, `Deleting`, …), `message` (for a person), `conditions` (each with `type`, `status` `True`/`False`/`Unknown`, `reason`, `message`, `observed_generation`, `last_transition_time`)",
        );
        for f in extra {
            let name = naming::snake_case(f.json);
            // Model descriptions are sentences; here each is a parenthesis in one.
            let d = f.description.trim_end_matches('.');
            let mut chars = d.chars();
            let d: String = chars
                .next()
                .map(|c| c.to_lowercase().chain(chars).collect())
                .unwrap_or_default();
            described.push_str(&format!(", `{name}` ({d})"));
            attrs.push((name, f.ty.clone()));
        }
        described.push('.');
        let ty = Type::Object(attrs);
        self.schema.block.attributes.push(Attribute::plain(
            STATUS,
            ty.clone(),
            Presence::Computed,
            &described,
        ));
        self.status = Some(ty);
        self
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn value_type(&self) -> Type {
        self.schema.value_type()
    }

    pub fn workspaced(&self) -> bool {
        self.kind.scope == Scope::Workspace
    }

    /// The attribute a Wayfinder field path points at, as far as the schema reaches
    /// (`spec.nodePools[0].autoscaling.maxSize` → `node_pools[0].autoscaling.max_size`).
    pub fn attribute_path(&self, field: &FieldPath) -> Option<AttrPath> {
        let segs = field.segments();
        let rest = match segs.first() {
            Some(PathSegment::Field(f)) if f == "spec" => &segs[1..],
            Some(PathSegment::Field(f)) if f == "metadata" => {
                return match segs.get(1) {
                    Some(PathSegment::Field(n)) if n == "name" => Some(diag::attr(NAME)),
                    Some(PathSegment::Field(n)) if n == "annotations" && self.kind.versioned => {
                        Some(diag::attr(PUBLISH_STATE))
                    }
                    Some(PathSegment::Field(n)) if n == "namespace" && self.workspaced() => {
                        Some(diag::attr(WORKSPACE))
                    }
                    Some(PathSegment::Field(n)) if n == "labels" => Some(diag::attr(LABELS)),
                    _ => None,
                };
            }
            _ => return None,
        };
        let mut block = Some(&self.schema.block);
        let mut steps = Vec::new();
        let mut indexable = false;
        for seg in rest {
            match seg {
                PathSegment::Field(f) => {
                    let Some(b) = block else { break };
                    if let Some(a) = b.attributes.iter().find(|a| a.json == Some(f.as_str())) {
                        steps.push(Step::Attr(a.name.clone()));
                        indexable = matches!(a.ty, Type::List(_));
                        block = None;
                    } else if let Some(nb) = b.blocks.iter().find(|nb| nb.json == f.as_str()) {
                        steps.push(Step::Attr(nb.name.clone()));
                        indexable = nb.nesting == Nesting::List;
                        block = Some(&nb.block);
                    } else {
                        break;
                    }
                }
                PathSegment::Index(i) if indexable => {
                    steps.push(Step::Index(*i as i64));
                    indexable = false;
                }
                PathSegment::Index(_) => break,
            }
        }
        (!steps.is_empty()).then_some(AttrPath { steps })
    }

    /// Gives the resource a [`Behaviour`].
    pub(crate) fn with_behaviour(mut self, b: Box<dyn Behaviour>) -> Self {
        self.behaviour = Some(b);
        self
    }

    /// The resource's [`Behaviour`], if any.
    pub(crate) fn behaviour(&self) -> Option<&dyn Behaviour> {
        self.behaviour.as_deref()
    }

    /// Adds attributes and blocks that map to no spec field.
    pub fn with_extra(mut self, attributes: Vec<Attribute>, blocks: Vec<NestedBlock>) -> Self {
        self.schema.block.attributes.extend(attributes);
        self.schema.block.blocks.extend(blocks);
        self
    }
}

fn id_description(kind: &KindInfo) -> String {
    let form = match (kind.scope, kind.versioned) {
        (Scope::Platform, false) => "its name",
        (Scope::Workspace, false) => "`WORKSPACE/NAME`",
        (Scope::Platform, true) => "`NAME@VERSION`",
        (Scope::Workspace, true) => "`WORKSPACE/NAME@VERSION`",
    };
    format!("The object's identifier: {form}. This is also the ID `terraform import` takes.")
}

fn name_description(kind: &KindInfo) -> String {
    let form = if kinds::dotted_names(kind) {
        "lower-case letters, digits, `-` and `.` (a DNS subdomain, e.g. `cluster.admin`), at most 253 characters".to_string()
    } else if kind == &wayfinder_model::kinds::WORKSPACE {
        format!(
            "the workspace key: {}",
            wayfinder_model::validate::WORKSPACE_KEY.text
        )
    } else {
        "lower-case letters, digits and `-`, at most 63 characters".to_string()
    };
    format!("The object's name (`metadata.name`): {form}. Changing it replaces the object.")
}
