//! The provider's own types in the protocol's form: diagnostics, schemas, identity schemas,
//! functions.

use crate::diag::{AttrPath, Diagnostic, Severity, Step};
use crate::functions::{Function, FunctionError, Parameter};
use crate::proto::tfplugin6 as pb;
use crate::resources::IdentityAttribute;
use crate::schema::{Attribute, Block, NestedBlock, Nesting, Presence, Schema};

pub fn diagnostics(ds: Vec<Diagnostic>) -> Vec<pb::Diagnostic> {
    ds.into_iter().map(diagnostic).collect()
}

pub fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary,
        detail: d.detail,
        attribute: d.path.map(|p| attribute_path(&p)),
    }
}

pub fn attribute_path(path: &AttrPath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: path
            .steps
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    Step::Attr(n) => Selector::AttributeName(n.clone()),
                    Step::Index(i) => Selector::ElementKeyInt(*i),
                    Step::Key(k) => Selector::ElementKeyString(k.clone()),
                }),
            })
            .collect(),
    }
}

pub fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block, s.version)),
    }
}

fn block(b: &Block, version: i64) -> pb::schema::Block {
    pb::schema::Block {
        version,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b.blocks.iter().map(nested_block).collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        ..Default::default()
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    use pb::schema::object::NestingMode;
    let nested_type = a.nested.as_ref().map(|n| pb::schema::Object {
        attributes: n.attributes.iter().map(attribute).collect(),
        nesting: match n.nesting {
            Nesting::Single => NestingMode::Single,
            Nesting::List => NestingMode::List,
        } as i32,
    });
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: if nested_type.is_some() {
            Vec::new()
        } else {
            a.ty.to_json().to_string().into_bytes()
        },
        nested_type,
        description: a.description.clone(),
        required: a.presence == Presence::Required,
        optional: matches!(a.presence, Presence::Optional | Presence::OptionalComputed),
        computed: a.provider_may_set(),
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        ..Default::default()
    }
}

fn nested_block(nb: &NestedBlock) -> pb::schema::NestedBlock {
    use pb::schema::nested_block::NestingMode;
    pb::schema::NestedBlock {
        type_name: nb.name.clone(),
        block: Some(block(&nb.block, 0)),
        nesting: match nb.nesting {
            Nesting::Single => NestingMode::Single,
            Nesting::List => NestingMode::List,
        } as i32,
        min_items: i64::from(nb.required),
        // Terraform wants a single block's bounds equal: 0..0 optional, 1..1 required.
        max_items: if nb.nesting == Nesting::Single {
            i64::from(nb.required)
        } else {
            0
        },
    }
}

pub fn identity_schema(attributes: Vec<IdentityAttribute>) -> pb::ResourceIdentitySchema {
    use pb::resource_identity_schema::IdentityAttribute as Attr;
    let string = crate::codec::Type::String
        .to_json()
        .to_string()
        .into_bytes();
    pb::ResourceIdentitySchema {
        version: 0,
        identity_attributes: attributes
            .into_iter()
            .map(|a| Attr {
                name: a.name.into(),
                r#type: string.clone(),
                required_for_import: a.required_for_import,
                optional_for_import: !a.required_for_import,
                description: a.description,
            })
            .collect(),
    }
}

pub fn function(f: Function) -> pb::Function {
    pb::Function {
        parameters: f.parameters.into_iter().map(parameter).collect(),
        variadic_parameter: None,
        r#return: Some(pb::function::Return {
            r#type: f.return_type.to_json().to_string().into_bytes(),
        }),
        summary: f.summary,
        description: f.description,
        description_kind: pb::StringKind::Markdown as i32,
        deprecation_message: String::new(),
    }
}

fn parameter(p: Parameter) -> pb::function::Parameter {
    pb::function::Parameter {
        name: p.name,
        r#type: p.ty.to_json().to_string().into_bytes(),
        allow_null_value: false,
        allow_unknown_values: false,
        description: p.description,
        description_kind: pb::StringKind::Markdown as i32,
    }
}

pub fn function_error(e: FunctionError) -> pb::FunctionError {
    pb::FunctionError {
        text: e.text,
        function_argument: e.argument,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{attr, warning};

    #[test]
    fn a_diagnostic_keeps_its_severity_texts_and_every_step_of_its_path() {
        let path = attr("node_pools")
            .then(Step::Index(1))
            .then(Step::Attr("labels".into()))
            .then(Step::Key("team".into()));
        let d = diagnostic(warning(Some(path), "summary", "detail"));
        assert_eq!(d.severity, pb::diagnostic::Severity::Warning as i32);
        assert_eq!(
            (d.summary.as_str(), d.detail.as_str()),
            ("summary", "detail")
        );
        use pb::attribute_path::step::Selector;
        let steps: Vec<_> = d
            .attribute
            .expect("a path")
            .steps
            .into_iter()
            .map(|s| s.selector.expect("a selector"))
            .collect();
        assert_eq!(
            steps,
            [
                Selector::AttributeName("node_pools".into()),
                Selector::ElementKeyInt(1),
                Selector::AttributeName("labels".into()),
                Selector::ElementKeyString("team".into()),
            ]
        );
        let e = diagnostic(crate::diag::error("s", "d"));
        assert_eq!(e.severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(e.attribute, None);
    }
}
