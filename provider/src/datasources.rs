//! Data sources: read what the platform offers without managing it.
//!
//! Most are one object of a kind, with the same attributes as the kind's resource
//! ([`ResourceType`]) but every one computed (nested blocks become nested attributes, since
//! the server decides how many there are) except what names the object: `name`,
//! `workspace` (workspaced kinds; the provider's by default) and `version` (versioned kinds;
//! the latest published version when not set). `wayfinder_provisioning_policy` is the
//! effective provisioning policy for a workspace, stage and cloud, from
//! `GET /api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/cluster`, shaped as the
//! matching fields of a ProvisioningPolicy's spec.

use std::collections::BTreeMap;

use wayfinder_model::kinds::{self, ACCESS_TOKEN, CLUSTER, KindInfo, PROVISIONING_POLICY};
use wayfinder_model::shape::Field;
use wayfinder_model::{Scope, common::CLOUDS};

use crate::client::{Client, ClientError, ObjectAddress, path_segment};
use crate::codec::{Type, Value};
use crate::diag::{self, Diagnostic};
use crate::resources::{
    ID, NAME, ResourceType, StatusField, VERSION, WORKSPACE as WORKSPACE_ATTR, block_from_json,
    status_fields,
};
use crate::schema::{Attribute, Block, Presence, Schema};

/// What a data source reads.
#[derive(Debug)]
enum Source {
    /// One object of a kind, read as the kind's resource reads it.
    Object(Box<ResourceType>),
    /// The effective provisioning policy.
    EffectivePolicy,
}

/// A data source type.
#[derive(Debug)]
pub struct DataSourceType {
    pub type_name: String,
    schema: Schema,
    source: Source,
}

/// The kinds with no data source reading one object: an access token (its secret is shown
/// once, and reading a token's metadata is not what a configuration needs), and the
/// provisioning policy, whose data source is the *effective* policy instead.
pub const NOT_READ: &[&KindInfo] = &[&ACCESS_TOKEN, &PROVISIONING_POLICY];

/// Every data source the provider serves: one per kind of the model's registry (in its
/// order) but [`NOT_READ`], the cluster with its status, then the effective provisioning
/// policy.
pub fn all() -> Vec<DataSourceType> {
    let mut out: Vec<DataSourceType> = kinds::ALL
        .iter()
        .copied()
        .filter(|k| !NOT_READ.contains(k))
        .map(|k| {
            let status = (k.kind == CLUSTER.kind).then(|| status_fields(k));
            DataSourceType::object(k, status)
        })
        .collect();
    out.push(DataSourceType::effective_policy());
    out
}

impl DataSourceType {
    /// One object of `kind`: named by `name` (and `workspace`, `version`), everything else
    /// computed.
    fn object(kind: &'static KindInfo, status: Option<Vec<StatusField>>) -> Self {
        let mut r = ResourceType::new(kind);
        if let Some(extra) = &status {
            r = r.with_status(extra);
        }
        let rs = r.schema().block.clone();
        let mut attributes = Vec::new();
        let own = Block {
            blocks: Vec::new(),
            ..rs.clone()
        };
        for a in own.as_computed_attributes() {
            let presence = match a.name.as_str() {
                NAME => Presence::Required,
                WORKSPACE_ATTR => Presence::OptionalComputed,
                VERSION if kind.versioned => Presence::OptionalComputed,
                _ => Presence::Computed,
            };
            let description = match a.name.as_str() {
                WORKSPACE_ATTR => "The workspace (its key) the object is in; the provider's `workspace` (or `WAYFINDER_WORKSPACE`) when not set.".to_string(),
                VERSION if kind.versioned => format!("The version to read; the latest published version of the {} when not set.", kind.kind),
                NAME => format!("The name of the {} to read.", kind.kind),
                ID => "The object's identifier, as the resource's `id`.".to_string(),
                _ => a.description.clone(),
            };
            attributes.push(Attribute {
                presence,
                description,
                ..a
            });
        }
        attributes.extend(
            Block {
                attributes: Vec::new(),
                ..rs.clone()
            }
            .as_computed_attributes(),
        );
        let description = format!(
            "Reads {} (`{}` {}). {}",
            article(kind.kind),
            kind.api_version(),
            kind.kind,
            kind.description
        );
        Self {
            type_name: r.type_name.clone(),
            schema: Schema {
                version: 0,
                block: Block {
                    description,
                    attributes,
                    blocks: Vec::new(),
                },
            },
            source: Source::Object(Box::new(r)),
        }
    }

    /// `wayfinder_provisioning_policy`: the effective policy.
    fn effective_policy() -> Self {
        let fields: Vec<Field> = PROVISIONING_POLICY
            .spec
            .iter()
            .filter(|f| matches!(f.name, "allowedRegions" | "clusterLimits"))
            .copied()
            .collect();
        let shaped = Block::from_fields(&fields, true);
        let mut attributes = vec![
            Attribute::plain(
                ID,
                Type::String,
                Presence::Computed,
                "`WORKSPACE/CLOUD/STAGE`.",
            ),
            Attribute::plain(
                WORKSPACE_ATTR,
                Type::String,
                Presence::OptionalComputed,
                "The workspace (its key); the provider's `workspace` (or `WAYFINDER_WORKSPACE`) when not set.",
            ),
            Attribute::plain(
                "stage",
                Type::String,
                Presence::Required,
                "The stage, e.g. `nonprod`.",
            ),
            Attribute::plain(
                "cloud",
                Type::String,
                Presence::Required,
                "The cloud: `aws`, `azure` or `gcp`.",
            ),
        ];
        let mut computed = shaped.as_computed_attributes();
        for a in &mut computed {
            if a.name == "allowed_regions" {
                a.description =
                    "The regions clusters may use; empty when any region is allowed.".into();
            }
        }
        attributes.extend(computed);
        Self {
            type_name: "wayfinder_provisioning_policy".into(),
            schema: Schema {
                version: 0,
                block: Block {
                    description: "The provisioning policy in force for clusters of a workspace in a stage on a cloud: the most specific policies by Wayfinder's precedence (workspace and stage, then workspace, then stage, then everywhere), as `GET /api/v2/workspaces/{workspace}/provisioningpolicy/{cloud}/{stage}/cluster` answers. Limits not set by any policy are null.".into(),
                    attributes,
                    blocks: Vec::new(),
                },
            },
            source: Source::EffectivePolicy,
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn value_type(&self) -> Type {
        self.schema.value_type()
    }

    /// Problems with a configuration, before anything is read.
    pub(crate) fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let name_attr = match &self.source {
            Source::Object(_) => NAME,
            Source::EffectivePolicy => "stage",
        };
        if config.get(name_attr).as_str() == Some("") {
            out.push(diag::error_at(
                Some(diag::attr(name_attr)),
                format!("Empty {name_attr}"),
                format!("`{name_attr}` of {} must not be empty.", self.type_name),
            ));
        }
        if let Source::EffectivePolicy = self.source
            && let Some(cloud) = config.get("cloud").as_str()
            && !CLOUDS.contains(&cloud)
        {
            out.push(diag::error_at(
                Some(diag::attr("cloud")),
                format!("Unknown cloud {cloud:?}"),
                format!("`cloud` must be one of {}.", CLOUDS.join(", ")),
            ));
        }
        out
    }

    /// Reads the data source.
    pub(crate) async fn read(
        &self,
        client: &Client,
        config: &Value,
    ) -> Result<Value, Vec<Diagnostic>> {
        let workspace = || -> Result<Option<String>, Vec<Diagnostic>> {
            match config.get(WORKSPACE_ATTR).as_str() {
                Some(ws) => Ok(Some(ws.to_string())),
                None => client
                    .default_workspace()
                    .map(|ws| Some(ws.to_string()))
                    .ok_or_else(|| {
                        vec![diag::error_at(
                            Some(diag::attr(WORKSPACE_ATTR)),
                            "No workspace",
                            format!(
                                "Set `workspace` in this {} data source, or a default `workspace` in the wayfinder provider block (or WAYFINDER_WORKSPACE).",
                                self.type_name
                            ),
                        )]
                    }),
            }
        };
        match &self.source {
            Source::Object(r) => {
                let at = ObjectAddress {
                    workspace: if r.kind.scope == Scope::Workspace {
                        workspace()?
                    } else {
                        None
                    },
                    name: config.get(NAME).as_str().unwrap_or_default().to_string(),
                    version: config
                        .get(VERSION)
                        .as_str()
                        .map(str::to_string)
                        .filter(|_| r.kind.versioned),
                };
                match client.read_object(r.kind, &at).await {
                    Ok(Some(object)) => Ok(r.from_object(&object).conform(&self.value_type())),
                    Ok(None) => Err(vec![diag::error(
                        format!("{} {} not found", r.kind.kind, describe(&at, r.kind)),
                        format!(
                            "Wayfinder has no {} {}{}. Check the name{}.",
                            r.kind.kind,
                            describe(&at, r.kind),
                            if r.kind.versioned && at.version.is_none() {
                                " with a published version"
                            } else {
                                ""
                            },
                            match (r.kind.scope, r.kind.versioned) {
                                (Scope::Workspace, _) => " and the workspace",
                                (_, true) => " and the version",
                                _ => "",
                            }
                        ),
                    )]),
                    Err(e) => Err(read_error(&self.type_name, &e)),
                }
            }
            Source::EffectivePolicy => {
                let ws = workspace()?.unwrap_or_default();
                let cloud = config.get("cloud").as_str().unwrap_or_default().to_string();
                let stage = config.get("stage").as_str().unwrap_or_default().to_string();
                let path = format!(
                    "/api/v2/workspaces/{}/provisioningpolicy/{}/{}/cluster",
                    path_segment(&ws),
                    path_segment(&cloud),
                    path_segment(&stage)
                );
                match client.get_path(&path).await {
                    Ok(Some(body)) => {
                        let block = Block {
                            attributes: self.schema.block.attributes.clone(),
                            blocks: Vec::new(),
                            description: String::new(),
                        };
                        let mut m = match block_from_json(&body, &block) {
                            Value::Map(m) => m,
                            _ => BTreeMap::new(),
                        };
                        m.insert(ID.into(), Value::String(format!("{ws}/{cloud}/{stage}")));
                        m.insert(WORKSPACE_ATTR.into(), Value::String(ws));
                        m.insert("cloud".into(), Value::String(cloud));
                        m.insert("stage".into(), Value::String(stage));
                        Ok(Value::Map(m).conform(&self.value_type()))
                    }
                    Ok(None) => Err(vec![diag::error(
                        "No provisioning policy answer",
                        format!("Wayfinder answered 404 for {path}: does workspace {ws} exist?"),
                    )]),
                    Err(e) => Err(read_error(&self.type_name, &e)),
                }
            }
        }
    }
}

fn describe(at: &ObjectAddress, kind: &KindInfo) -> String {
    let mut s = match &at.workspace {
        Some(ws) => format!("{ws}/{}", at.name),
        None => at.name.clone(),
    };
    match &at.version {
        Some(v) => s.push_str(&format!(" version {v}")),
        None if kind.versioned => s.push_str(" (latest published version)"),
        None => {}
    }
    s
}

fn article(kind: &str) -> String {
    let words = wayfinder_model::naming::snake_case(kind).replace('_', " ");
    let an = words.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {words}", if an { "an" } else { "a" })
}

fn read_error(type_name: &str, e: &ClientError) -> Vec<Diagnostic> {
    let summary = match e {
        ClientError::Api(api) if api.status == 401 => "Wayfinder did not accept the token",
        ClientError::Exchange { .. } => "Wayfinder did not exchange the access token",
        ClientError::Api(api) if api.status == 403 => "Not allowed to read this",
        ClientError::Unreachable { .. } => "Cannot reach the Wayfinder API",
        ClientError::TimedOut { .. } => "The Wayfinder API did not answer in time",
        _ => "Wayfinder refused the request",
    };
    vec![diag::error(
        format!("{summary} ({type_name})"),
        e.to_string(),
    )]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::Attribute;

    fn find(name: &str) -> DataSourceType {
        all()
            .into_iter()
            .find(|d| d.type_name == name)
            .unwrap_or_else(|| panic!("no data source {name}"))
    }

    fn check(attrs: &[Attribute], path: &str) {
        for a in attrs {
            assert!(
                !a.description.is_empty(),
                "{path}.{} has no description",
                a.name
            );
            if let Some(n) = &a.nested {
                check(&n.attributes, &format!("{path}.{}", a.name));
                assert!(
                    n.attributes
                        .iter()
                        .all(|i| i.presence == Presence::Computed),
                    "{path}.{}: everything inside a computed attribute is computed",
                    a.name
                );
            }
        }
    }

    #[test]
    fn the_design_lists_these_data_sources_all_described() {
        let names: Vec<String> = all().into_iter().map(|d| d.type_name).collect();
        assert_eq!(
            names,
            [
                "wayfinder_compute_template",
                "wayfinder_cluster",
                "wayfinder_workspace",
                "wayfinder_stage",
                "wayfinder_cloud_identity",
                "wayfinder_cloud_access_config",
                "wayfinder_cluster_network_plan",
                "wayfinder_assignable_network",
                "wayfinder_package_repository",
                "wayfinder_package",
                "wayfinder_cluster_plan",
                "wayfinder_global_cluster_policy",
                "wayfinder_global_access_policy",
                "wayfinder_global_access_role",
                "wayfinder_provisioning_policy"
            ]
        );
        // Every reference the compiler may look up on the server has its data source.
        for r in kinds::REFERENCES.iter().filter(|r| r.lookup) {
            let ty = wayfinder_model::naming::resource_type(r.to.kind);
            assert!(names.contains(&ty), "{} {} → {ty}", r.from.kind, r.path);
        }
        for d in all() {
            assert!(!d.schema().block.description.is_empty());
            assert!(
                d.schema().block.blocks.is_empty(),
                "{}: no blocks",
                d.type_name
            );
            check(&d.schema().block.attributes, &d.type_name);
        }
    }

    #[test]
    fn only_what_names_the_object_is_set_in_configuration() {
        let plan = find("wayfinder_cluster_plan");
        let settable: Vec<(&str, Presence)> = plan
            .schema()
            .block
            .attributes
            .iter()
            .filter(|a| a.presence != Presence::Computed)
            .map(|a| (a.name.as_str(), a.presence))
            .collect();
        assert_eq!(
            settable,
            [
                (NAME, Presence::Required),
                (VERSION, Presence::OptionalComputed)
            ]
        );
        let cluster = find("wayfinder_cluster");
        assert!(
            cluster
                .schema()
                .block
                .attributes
                .iter()
                .any(|a| a.name == WORKSPACE_ATTR && a.presence == Presence::OptionalComputed)
        );
        assert!(
            cluster
                .schema()
                .block
                .attributes
                .iter()
                .any(|a| a.name == "status")
        );
    }

    #[test]
    fn the_effective_policy_keeps_the_shape_of_a_policy_spec() {
        let d = find("wayfinder_provisioning_policy");
        let body = json!({
            "cloud": "aws",
            "allowedRegions": ["eu-west-2"],
            "clusterLimits": {
                "perCluster": {"allowedInstanceTypes": [{"instanceType": "m6i.large", "maxNodes": 3}],
                               "costPerMonth": 500},
                "perWorkspace": {"maxClusters": 2}
            }
        });
        let block = Block {
            attributes: d.schema().block.attributes.clone(),
            ..Block::default()
        };
        let v = block_from_json(&body, &block).conform(&d.value_type());
        assert_eq!(v.get("allowed_regions").to_json(), json!(["eu-west-2"]));
        let per_cluster = v.get("cluster_limits").get("per_cluster");
        assert_eq!(
            per_cluster.get("allowed_instance_types").to_json(),
            json!([{"instance_type": "m6i.large", "max_nodes": 3}])
        );
        assert_eq!(per_cluster.get("cost_per_month").to_json(), json!(500));
        assert!(per_cluster.get("total_nodes").is_null());
        assert_eq!(
            v.get("cluster_limits")
                .get("per_workspace")
                .get("max_clusters")
                .to_json(),
            json!(2)
        );
        let ty = d.value_type();
        assert_eq!(
            Value::from_msgpack_as(&v.to_msgpack_as(&ty), &ty).unwrap(),
            v
        );
    }

    #[test]
    fn bad_configurations_are_refused_before_reading() {
        let d = find("wayfinder_provisioning_policy");
        let config = Value::from_json(&json!({"stage": "nonprod", "cloud": "openstack"}));
        let problems = d.validate(&config);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].detail.contains("aws, azure, gcp"));
        let plan = find("wayfinder_cluster_plan");
        assert_eq!(
            plan.validate(&Value::from_json(&json!({"name": ""}))).len(),
            1
        );
        assert!(
            plan.validate(&Value::from_json(&json!({"name": "eks"})))
                .is_empty()
        );
    }

    #[test]
    fn the_cluster_resource_and_data_source_show_the_same_status_fields_from_the_model() {
        let status_of = |ty: &Type| match ty {
            Type::Object(attrs) => attrs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            other => panic!("status is not an object: {other:?}"),
        };
        let resource = crate::resources::all()
            .into_iter()
            .find(|r| r.kind == &CLUSTER)
            .expect("the cluster resource");
        let status_type = |block: &crate::schema::Block| {
            block
                .attributes
                .iter()
                .find(|a| a.name == crate::resources::STATUS)
                .expect("a status attribute")
                .ty
                .clone()
        };
        let resource_status = status_type(&resource.schema().block);
        let from_resource = status_of(&resource_status);
        let source = find("wayfinder_cluster");
        let attr = source
            .schema()
            .block
            .attributes
            .iter()
            .find(|a| a.name == crate::resources::STATUS)
            .expect("a status attribute");
        assert_eq!(status_of(&attr.ty), from_resource);
        let mut want = vec!["status", "message", "conditions"];
        want.extend(
            wayfinder_model::cluster::STATUS_SHAPE
                .iter()
                .map(|f| match f.name {
                    "lastReconcile" => "last_reconcile",
                    "cloudId" => "cloud_id",
                    "kubernetesVersion" => "kubernetes_version",
                    "clusterPolicies" => "cluster_policies",
                    "deletionRequested" => "deletion_requested",
                    "deleteAttempts" => "delete_attempts",
                    "retryAfter" => "retry_after",
                    n => n,
                }),
        );
        assert_eq!(from_resource, want);
        // The conditions' fields are the model's Condition.
        let Type::Object(attrs) = &resource_status else {
            unreachable!()
        };
        let conditions = &attrs.iter().find(|(n, _)| n == "conditions").unwrap().1;
        assert_eq!(
            format!("{conditions:?}"),
            format!(
                "{:?}",
                Type::List(Box::new(Type::Object(vec![
                    ("type".into(), Type::String),
                    ("status".into(), Type::String),
                    ("reason".into(), Type::String),
                    ("message".into(), Type::String),
                    ("observed_generation".into(), Type::Number),
                    ("last_transition_time".into(), Type::String),
                ])))
            )
        );
    }
}
