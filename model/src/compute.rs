//! `compute.appvia.io/v2beta2` ComputeTemplate: node-pool presets that cluster plans and
//! clusters start from (wayfinder-model.md §7).

use serde::{Deserialize, Serialize};

use crate::error::{FieldPath, Reason};
use crate::kinds::{COMPUTE_TEMPLATE, KindInfo};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// The providers a compute template or cluster plan may target.
pub const PROVIDERS: &[&str] = &["EKS", "AKS", "GKE"];

/// Taint effects Kubernetes accepts.
pub const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// AKS node-pool modes, spelled as Wayfinder's own definitions spell them.
pub const AKS_MODES: &[&str] = &["system", "user"];

/// Disk size bounds in GiB, common to the three providers.
pub const DISK_SIZE_RANGE: (i64, i64) = (10, 16384);

/// Pods-per-node bounds, the widest any of the three providers allows.
pub const MAX_PODS_RANGE: (i64, i64) = (8, 737);

/// Largest node count one pool may scale to.
pub const MAX_POOL_NODES: i64 = 1000;

/// A compute template.
pub type ComputeTemplate = Typed<ComputeTemplateSpec>;

/// The spec of a ComputeTemplate: the node pools a cluster gets for one cluster provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComputeTemplateSpec {
    /// `spec.description`: what the template is for, shown to workspace users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `EKS`, `AKS` or `GKE`.
    #[serde(default)]
    pub provider: String,
    /// `spec.nodePools`: the node pools, at least one.
    #[serde(default)]
    pub node_pools: Vec<NodePool>,
}

/// One node pool, in `spec.nodePools` of a ComputeTemplate or of a Cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePool {
    /// `logicalName`: the pool's name within the template; unique, lower-case letters, digits and `-`.
    #[serde(default)]
    pub logical_name: String,
    /// `description`: what the pool is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The instance type (`m6i.large`, `Standard_D4s_v5`, `e2-standard-4`).
    #[serde(default)]
    pub machine: String,
    /// `image`: the node image, e.g. `AL2023_x86_64_STANDARD` (EKS) or `COS_CONTAINERD` (GKE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Root disk size in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size: Option<i64>,
    /// Initial node count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// `autoscaling`: the pool's autoscaling bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// `maxPodsPerNode`: the most pods per node, 8 to 737.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods_per_node: Option<i64>,
    /// `spot`: spot (preemptible) capacity settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<Spot>,
    /// Empty and absent mean the same: no taints.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub taints: Option<Vec<Taint>>,
    /// `providerDetails`: provider-specific node pool settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_details: Option<NodePoolProviderDetails>,
}

/// `autoscaling` of a node pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    /// `enabled`: whether the pool scales between `minSize` and `maxSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `minSize`: the fewest nodes; required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<i64>,
    /// `maxSize`: the most nodes, at least `minSize`; required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<i64>,
}

/// `spot` of a node pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spot {
    /// `enabled`: whether the pool runs on spot capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `eks`: EKS spot settings; only when the provider is `EKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks: Option<SpotEks>,
}

/// `spot.eks` of a node pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpotEks {
    /// `additionalInstanceTypes`: further instance types EKS may use to find spot capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_instance_types: Option<Vec<String>>,
}

/// One Kubernetes taint in a node pool's `taints`, applied to every node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    /// `key`: the taint key.
    #[serde(default)]
    pub key: String,
    /// `value`: the taint value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `effect`: `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default)]
    pub effect: String,
}

/// `providerDetails` of a node pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolProviderDetails {
    /// `aks`: AKS settings; only when the provider is `AKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aks: Option<AksNodePool>,
}

/// `providerDetails.aks` of a node pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AksNodePool {
    /// `system` or `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

pub(crate) fn none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

/// The fields of a ComputeTemplate's spec.
pub const SPEC_SHAPE: &[Field] = &[
    Field::optional(
        "description",
        FieldType::String,
        "What the template is for, shown to workspace users.",
    ),
    // A template's provider cannot change in place: its pools' machines are the provider's.
    Field::required(
        "provider",
        FieldType::String,
        "The cluster provider the template targets: `EKS`, `AKS` or `GKE`.",
    )
    .immutable(),
    Field::required(
        "nodePools",
        FieldType::ObjectList(NODE_POOL_SHAPE),
        "The node pools, at least one.",
    ),
];

/// The fields of one node pool.
pub const NODE_POOL_SHAPE: &[Field] = &[
    Field::required(
        "logicalName",
        FieldType::String,
        "The pool's name within the template: unique, lower-case letters, digits and `-`.",
    ),
    Field::optional("description", FieldType::String, "What the pool is for."),
    Field::required(
        "machine",
        FieldType::String,
        "The instance type, e.g. `m6i.large`, `Standard_D4s_v5` or `e2-standard-4`.",
    ),
    Field::optional(
        "image",
        FieldType::String,
        "The node image, e.g. `AL2023_x86_64_STANDARD` (EKS) or `COS_CONTAINERD` (GKE).",
    ),
    Field::optional(
        "diskSize",
        FieldType::Number,
        "Root disk size in GiB, 10 to 16384.",
    ),
    Field::optional(
        "size",
        FieldType::Number,
        "The initial node count, 0 to 1000. Required unless autoscaling is enabled; within its bounds when it is.",
    ),
    Field::optional(
        "autoscaling",
        FieldType::Object(&[
            Field::optional(
                "enabled",
                FieldType::Bool,
                "Whether the pool scales between `minSize` and `maxSize`.",
            ),
            Field::optional(
                "minSize",
                FieldType::Number,
                "The fewest nodes; required when enabled.",
            ),
            Field::optional(
                "maxSize",
                FieldType::Number,
                "The most nodes, at least `minSize`; required when enabled.",
            ),
        ]),
        "Autoscaling bounds for the pool.",
    ),
    Field::optional(
        "maxPodsPerNode",
        FieldType::Number,
        "The most pods per node, 8 to 737.",
    ),
    Field::optional(
        "spot",
        FieldType::Object(&[
            Field::optional(
                "enabled",
                FieldType::Bool,
                "Whether the pool runs on spot (preemptible) capacity.",
            ),
            Field::optional(
                "eks",
                FieldType::Object(&[Field::optional(
                    "additionalInstanceTypes",
                    FieldType::StringList,
                    "Further instance types EKS may use to find spot capacity.",
                )]),
                "EKS spot settings; only when the provider is `EKS`.",
            ),
        ]),
        "Spot capacity settings.",
    ),
    Field::optional(
        "taints",
        FieldType::ObjectList(&[
            Field::required("key", FieldType::String, "The taint key."),
            Field::optional("value", FieldType::String, "The taint value."),
            Field::required(
                "effect",
                FieldType::String,
                "`NoSchedule`, `PreferNoSchedule` or `NoExecute`.",
            ),
        ]),
        "Kubernetes taints applied to every node in the pool.",
    ),
    Field::optional(
        "providerDetails",
        FieldType::Object(&[Field::optional(
            "aks",
            FieldType::Object(&[Field::optional(
                "mode",
                FieldType::String,
                "`System` or `User`.",
            )]),
            "AKS settings; only when the provider is `AKS`.",
        )]),
        "Provider-specific node-pool settings.",
    ),
];

impl Spec for ComputeTemplateSpec {
    const INFO: &'static KindInfo = &COMPUTE_TEMPLATE;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        self.check_spec(c, path);
    }
}

impl ComputeTemplateSpec {
    fn check_spec(&self, c: &mut Checker, path: &FieldPath) {
        c.one_of(&path.field("provider"), &self.provider, PROVIDERS);
        let pools = path.field("nodePools");
        if self.node_pools.is_empty() {
            c.push(
                &pools,
                Reason::Required,
                "at least one node pool is required",
            );
        }
        check_pools(c, &pools, &self.node_pools, &self.provider);
    }
}

/// Checks each pool and that logical names are unique; `provider` as for [`NodePool::check`].
pub(crate) fn check_pools(c: &mut Checker, pools: &FieldPath, list: &[NodePool], provider: &str) {
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (i, pool) in list.iter().enumerate() {
        let p = pools.index(i);
        pool.check(c, &p, provider);
        if !pool.logical_name.is_empty() {
            if seen.contains(&pool.logical_name.as_str()) {
                c.push(
                    &p.field("logicalName"),
                    Reason::Duplicate,
                    format!(
                        "{:?} is used by another node pool; logical names must be unique",
                        pool.logical_name
                    ),
                );
            }
            seen.insert(&pool.logical_name);
        }
    }
}

impl NodePool {
    /// Checks one pool; provider-specific rules apply when `provider` is known.
    pub(crate) fn check(&self, c: &mut Checker, p: &FieldPath, provider: &str) {
        c.dns_label(&p.field("logicalName"), &self.logical_name);
        c.required(
            &p.field("machine"),
            &self.machine,
            "an instance type such as m6i.large",
        );
        if let Some(image) = &self.image {
            c.required(
                &p.field("image"),
                image,
                "an image name such as AL2023_x86_64_STANDARD",
            );
        }
        if let Some(d) = self.disk_size {
            c.range(&p.field("diskSize"), d, DISK_SIZE_RANGE, "GiB");
        }
        if let Some(m) = self.max_pods_per_node {
            c.range(&p.field("maxPodsPerNode"), m, MAX_PODS_RANGE, "pods");
        }
        let autoscaling_on = self
            .autoscaling
            .as_ref()
            .is_some_and(|a| a.enabled.unwrap_or(false));
        if let Some(size) = self.size {
            c.range(&p.field("size"), size, (0, MAX_POOL_NODES), "nodes");
        } else if !autoscaling_on {
            c.push(
                &p.field("size"),
                Reason::Required,
                "required when autoscaling is not enabled: the number of nodes (0 to 1000)",
            );
        }
        if let Some(a) = &self.autoscaling {
            let ap = p.field("autoscaling");
            if a.enabled.unwrap_or(false) {
                let min = a.min_size;
                let max = a.max_size;
                match min {
                    None => c.push(
                        &ap.field("minSize"),
                        Reason::Required,
                        "required when autoscaling is enabled",
                    ),
                    Some(v) => c.range(&ap.field("minSize"), v, (0, MAX_POOL_NODES), "nodes"),
                }
                match max {
                    None => c.push(
                        &ap.field("maxSize"),
                        Reason::Required,
                        "required when autoscaling is enabled",
                    ),
                    Some(v) => {
                        c.range(&ap.field("maxSize"), v, (1, MAX_POOL_NODES), "nodes");
                        if let Some(min) = min.filter(|m| v < *m) {
                            c.push(
                                &ap.field("maxSize"),
                                Reason::Invalid,
                                format!("must be >= minSize ({min})"),
                            );
                        }
                    }
                }
                if let (Some(size), Some(min), Some(max)) = (self.size, min, max)
                    && min <= max
                    && (size < min || size > max)
                {
                    c.push(
                        &p.field("size"),
                        Reason::Invalid,
                        format!("must be between autoscaling.minSize ({min}) and autoscaling.maxSize ({max})"),
                    );
                }
            }
        }
        if let Some(spot) = &self.spot
            && let Some(eks) = &spot.eks
        {
            if provider != "EKS" && PROVIDERS.contains(&provider) {
                c.push(
                    &p.field("spot").field("eks"),
                    Reason::Forbidden,
                    format!("only allowed when spec.provider is EKS (it is {provider})"),
                );
            }
            for (j, t) in eks.additional_instance_types.iter().flatten().enumerate() {
                c.required(
                    &p.field("spot")
                        .field("eks")
                        .field("additionalInstanceTypes")
                        .index(j),
                    t,
                    "an instance type",
                );
            }
        }
        for (j, t) in self.taints.iter().flatten().enumerate() {
            let tp = p.field("taints").index(j);
            c.required(&tp.field("key"), &t.key, "a label key such as dedicated");
            c.one_of(&tp.field("effect"), &t.effect, TAINT_EFFECTS);
        }
        if let Some(aks) = self.provider_details.as_ref().and_then(|d| d.aks.as_ref()) {
            let ap = p.field("providerDetails").field("aks");
            if provider != "AKS" && PROVIDERS.contains(&provider) {
                c.push(
                    &ap,
                    Reason::Forbidden,
                    format!("only allowed when spec.provider is AKS (it is {provider})"),
                );
            }
            if let Some(mode) = &aks.mode {
                c.one_of(&ap.field("mode"), mode, AKS_MODES);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Object;
    use crate::parse::parse_yaml_documents;

    fn parse_one(yaml: &str) -> ComputeTemplate {
        let docs = parse_yaml_documents("t.yaml", yaml).expect("parses");
        match docs.into_iter().next().unwrap().object {
            Object::ComputeTemplate(t) => t,
            other => panic!("not a compute template: {other:?}"),
        }
    }

    const GOOD: &str = r#"
apiVersion: compute.appvia.io/v2beta2
kind: ComputeTemplate
metadata:
  name: eks-general
spec:
  description: General purpose
  provider: EKS
  nodePools:
    - logicalName: compute
      machine: m6i.large
      diskSize: 100
      size: 2
      autoscaling: {enabled: true, minSize: 1, maxSize: 5}
      taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
"#;

    #[test]
    fn the_shape_describes_every_field_of_the_struct() {
        let full = r#"
apiVersion: compute.appvia.io/v2beta2
kind: ComputeTemplate
metadata: {name: full}
spec:
  description: d
  provider: EKS
  nodePools:
    - logicalName: a
      description: d
      machine: m
      image: i
      diskSize: 20
      size: 1
      autoscaling: {enabled: true, minSize: 1, maxSize: 2}
      maxPodsPerNode: 30
      spot: {enabled: true, eks: {additionalInstanceTypes: [x]}}
      taints: [{key: k, value: v, effect: NoSchedule}]
      providerDetails: {aks: {mode: user}}
"#;
        let t = parse_one(full);
        let json = serde_json::to_value(&t.spec).unwrap();
        assert_eq!(
            crate::shape::mismatches(SPEC_SHAPE, &json, "spec"),
            Vec::<String>::new()
        );
        // Every field of the shape appears in the fully populated example.
        fn count(fields: &[Field]) -> usize {
            fields
                .iter()
                .map(|f| {
                    1 + match f.ty {
                        FieldType::Object(i) | FieldType::ObjectList(i) => count(i),
                        _ => 0,
                    }
                })
                .sum()
        }
        fn count_json(v: &serde_json::Value) -> usize {
            match v {
                serde_json::Value::Object(m) => m.values().map(|x| 1 + count_json(x)).sum(),
                serde_json::Value::Array(a) => a.first().map_or(0, count_json),
                _ => 0,
            }
        }
        assert_eq!(count(SPEC_SHAPE), count_json(&json));
    }

    #[test]
    fn empty_taints_are_the_same_as_none() {
        let t = parse_one(&GOOD.replace(
            "taints: [{key: dedicated, value: gpu, effect: NoSchedule}]",
            "taints: []",
        ));
        let json = serde_json::to_value(&t.spec).unwrap();
        assert!(json["nodePools"][0].get("taints").is_none());
    }

    #[test]
    fn a_good_template_validates() {
        parse_one(GOOD).validate().expect("valid");
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let yaml = r#"
apiVersion: compute.appvia.io/v2beta2
kind: ComputeTemplate
metadata: {name: Bad_Name}
spec:
  provider: EKX
  nodePools:
    - logicalName: a
      machine: m6i.large
      size: 1
    - logicalName: a
      machine: ""
      diskSize: 5
      size: 9
      autoscaling: {enabled: true, minSize: 3, maxSize: 2}
      taints: [{key: x, effect: Sometimes}]
      providerDetails: {aks: {mode: system}}
"#;
        let errs = parse_one(yaml).validate().unwrap_err();
        let lines: Vec<String> = errs.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "metadata.name: \"Bad_Name\" is not a valid name: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
                "spec.provider: \"EKX\" is not supported: must be one of EKS, AKS, GKE",
                "spec.nodePools[1].machine: must not be empty: an instance type such as m6i.large",
                "spec.nodePools[1].diskSize: must be between 10 and 16384 GiB (got 5)",
                "spec.nodePools[1].autoscaling.maxSize: must be >= minSize (3)",
                "spec.nodePools[1].taints[0].effect: \"Sometimes\" is not supported: must be one of NoSchedule, PreferNoSchedule, NoExecute",
                "spec.nodePools[1].logicalName: \"a\" is used by another node pool; logical names must be unique",
            ]
        );
        assert_eq!(errs.object, "ComputeTemplate/Bad_Name");
    }

    #[test]
    fn size_must_sit_inside_the_autoscaling_bounds() {
        let yaml = GOOD.replace("size: 2", "size: 9");
        let errs = parse_one(&yaml).validate().unwrap_err();
        assert_eq!(
            errs.errors[0].to_string(),
            "spec.nodePools[0].size: must be between autoscaling.minSize (1) and autoscaling.maxSize (5)"
        );
    }

    #[test]
    fn provider_specific_fields_are_refused_elsewhere() {
        let yaml = GOOD.replace("provider: EKS", "provider: GKE").replace(
            "      diskSize: 100",
            "      diskSize: 100\n      spot: {enabled: true, eks: {additionalInstanceTypes: [m5.large]}}",
        );
        let errs = parse_one(&yaml).validate().unwrap_err();
        assert_eq!(
            errs.errors[0].to_string(),
            "spec.nodePools[0].spot.eks: only allowed when spec.provider is EKS (it is GKE)"
        );
    }
}
