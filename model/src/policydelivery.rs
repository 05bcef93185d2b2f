//! `policydelivery.appvia.io/v1alpha1`: GlobalClusterPolicy, GlobalAccessPolicy and
//! GlobalAccessRole (wayfinder-model.md §11–§12), with Wayfinder's field names.
//!
//! **Which clusters a cluster policy goes to.** Wayfinder delivers a GlobalClusterPolicy to
//! the clusters its `spec.target.cluster` label selector matches (an absent or empty selector
//! matches every cluster) and, inside them, to the namespaces `spec.target.namespace` matches.
//! Every cluster carries the labels a platform team selects on:
//!
//! | label | value |
//! |---|---|
//! | `appvia.io/stage` | the cluster's stage (`nonprod`, `prod`) |
//! | `appvia.io/plan` | its cluster plan's name |
//! | `appvia.io/cloud` | `aws`, `azure` or `gcp` |
//! | `appvia.io/provider` | `EKS`, `AKS` or `GKE` |
//! | `appvia.io/workspace` | its workspace key |
//!
//! so "production EKS clusters of workspaces pay and web" is
//!
//! ```yaml
//! target:
//!   cluster:
//!     matchLabels: {appvia.io/stage: prod, appvia.io/provider: EKS}
//!     matchExpressions: [{key: appvia.io/workspace, operator: In, values: [pay, web]}]
//! ```
//!
//! **Kyverno rules** are Kyverno's own: each rule is named (uniquely), has `match`, and does
//! exactly one of `validate`, `mutate`, `generate` or `verifyImages`. The bodies are passed
//! through untouched as JSON; an empty body (`mutate: {}`, as Kubernetes prints unset ones)
//! counts as absent.
//!
//! **GlobalAccessPolicy** has `spec.scope` (ours: Wayfinder scopes access policies to
//! workspaces and stages but does not publish the field) and Wayfinder's
//! `spec.accessPolicyTemplate`; its `constraints.ttl` is a Go duration (`8h0m0s`), exposed
//! parsed by [`GlobalAccessPolicySpec::ttl`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{SCOPE_SHAPE, ScopeSpec, check_duration, is_dns_subdomain};
use crate::error::{FieldPath, Reason};
use crate::kinds::{GLOBAL_ACCESS_POLICY, GLOBAL_ACCESS_ROLE, GLOBAL_CLUSTER_POLICY, KindInfo};
use crate::meta::ObjectMeta;
use crate::object::{Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::Checker;

/// A global cluster policy.
pub type GlobalClusterPolicy = Typed<GlobalClusterPolicySpec>;
/// A global access policy.
pub type GlobalAccessPolicy = Typed<GlobalAccessPolicySpec>;
/// A global access role.
pub type GlobalAccessRole = Typed<GlobalAccessRoleSpec>;

/// Cluster policy engines.
pub const POLICY_TYPES: &[&str] = &["Kyverno"];

/// Kyverno's failure actions (it also reads the older lower-case spellings).
pub const VALIDATION_FAILURE_ACTIONS: &[&str] = &["Audit", "Enforce"];

/// What a Kyverno rule does; a rule does exactly one.
pub const RULE_ACTIONS: &[&str] = &["validate", "mutate", "generate", "verifyImages"];

/// Label selector operators.
pub const SELECTOR_OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// Who an access policy grants access to.
pub const SUBJECT_TYPES: &[&str] = &["User", "AccessToken"];

/// Kubernetes RBAC verbs.
pub const VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "impersonate",
    "bind",
    "escalate",
    "use",
    "approve",
    "sign",
    "*",
];

/// Shortest and longest access an access policy may grant at a time.
pub const ACCESS_TTL_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(720 * 3600));

/// Longest Kyverno rule name.
pub const MAX_RULE_NAME: usize = 63;

/// The spec of a GlobalClusterPolicy: a Kyverno policy Wayfinder delivers to clusters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalClusterPolicySpec {
    /// `spec.description`: what the policy enforces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `spec.policy`: the policy delivered to clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<ClusterPolicyBody>,
    /// Which clusters (and namespaces in them) receive the policy; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PolicyTarget>,
}

/// `spec.policy` of a GlobalClusterPolicy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterPolicyBody {
    /// `Kyverno`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `kyverno`: the Kyverno policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kyverno: Option<KyvernoPolicy>,
}

/// `spec.policy.kyverno` of a GlobalClusterPolicy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KyvernoPolicy {
    /// `Audit` or `Enforce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_failure_action: Option<String>,
    /// `background`: whether Kyverno also checks existing resources in the background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// `rules`: the Kyverno rules, at least one.
    #[serde(default)]
    pub rules: Vec<KyvernoRule>,
}

/// A Kyverno rule; the bodies are Kyverno's, kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KyvernoRule {
    /// `name`: the rule's name, unique in the policy, at most 63 characters.
    #[serde(default)]
    pub name: String,
    /// `match`: which resources the rule applies to, in Kyverno's form.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<Value>,
    /// `exclude`: which resources the rule skips, in Kyverno's form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Value>,
    /// `context`: Kyverno context entries (variables from ConfigMaps, API calls, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// `preconditions`: Kyverno preconditions that must hold for the rule to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Value>,
    /// `celPreconditions`: Kyverno CEL preconditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel_preconditions: Option<Value>,
    /// `imageExtractors`: Kyverno image extractors for custom resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_extractors: Option<Value>,
    /// `skipBackgroundRequests`: Kyverno's setting to skip background requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_background_requests: Option<bool>,
    /// `validate`: a Kyverno validate rule; a rule does exactly one of `validate`, `mutate`, `generate` and `verifyImages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<Value>,
    /// `mutate`: a Kyverno mutate rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutate: Option<Value>,
    /// `generate`: a Kyverno generate rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Value>,
    /// `verifyImages`: Kyverno image verification rules (a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_images: Option<Value>,
}

/// `spec.target` of a GlobalClusterPolicy: where the policy is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTarget {
    /// Clusters, by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<LabelSelector>,
    /// Namespaces inside them, by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<LabelSelector>,
}

/// A Kubernetes label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// `matchLabels`: labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// `matchExpressions`: expressions that must all hold.
    #[serde(default, skip_serializing_if = "crate::compute::none_or_empty")]
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
}

/// One of a label selector's `matchExpressions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// `key`: the label key, e.g. `appvia.io/stage`.
    #[serde(default)]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[serde(default)]
    pub operator: String,
    /// `values`: the values, for `In` and `NotIn` (required there, refused otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

impl LabelSelector {
    /// Whether `labels` satisfy every label and expression.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().flatten().all(|e| {
                let values = e.values.as_deref().unwrap_or_default();
                match (e.operator.as_str(), labels.get(&e.key)) {
                    ("In", Some(v)) => values.contains(v),
                    ("NotIn", v) => v.is_none_or(|v| !values.contains(v)),
                    ("Exists", v) => v.is_some(),
                    ("DoesNotExist", v) => v.is_none(),
                    _ => false,
                }
            })
    }

    fn check(&self, c: &mut Checker, path: &FieldPath) {
        for (k, v) in self.match_labels.iter().flatten() {
            c.label(&path.field("matchLabels"), k, v);
        }
        for (i, e) in self.match_expressions.iter().flatten().enumerate() {
            let p = path.field("matchExpressions").index(i);
            if e.key.is_empty() {
                c.push(
                    &p.field("key"),
                    Reason::Required,
                    "required: a label key such as appvia.io/stage",
                );
            } else {
                // Checks the key's form (the value is checked below).
                let mut scratch = Checker::new(String::new());
                scratch.label(&p.field("key"), &e.key, "");
                if scratch.finish().is_err() {
                    c.push(
                        &p.field("key"),
                        Reason::Invalid,
                        format!("{:?} is not a label key: an optional DNS prefix and '/', then up to 63 letters, digits, '-', '_' or '.'", e.key),
                    );
                }
            }
            c.one_of(&p.field("operator"), &e.operator, SELECTOR_OPERATORS);
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => c.push(
                    &p.field("values"),
                    Reason::Required,
                    format!("required with {}: at least one value", e.operator),
                ),
                "Exists" | "DoesNotExist" if !values.is_empty() => c.push(
                    &p.field("values"),
                    Reason::Forbidden,
                    format!("must be empty with {}", e.operator),
                ),
                _ => {}
            }
        }
    }
}

/// The spec of a GlobalAccessPolicy: who may take access to which clusters, with which roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalAccessPolicySpec {
    /// The workspaces and stages the policy applies in (ours); everywhere when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeSpec>,
    /// `spec.accessPolicyTemplate`: the access policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_policy_template: Option<AccessPolicyTemplate>,
}

/// `spec.accessPolicyTemplate` of a GlobalAccessPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessPolicyTemplate {
    /// `description`: what access the policy grants, shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// GlobalAccessRole names granted.
    #[serde(default)]
    pub access_role_refs: Vec<String>,
    /// Platform groups (`admin`) granted access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wayfinder_groups: Option<Vec<String>>,
    /// Workspace groups (`owner`, `member`) granted access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// `User` or `AccessToken`.
    #[serde(default)]
    pub subject_type: String,
    /// `constraints`: limits on the access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<AccessConstraints>,
}

/// `spec.accessPolicyTemplate.constraints` of a GlobalAccessPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessConstraints {
    /// How long access lasts once taken, Go-style (`8h0m0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// `clusters`: the clusters access may be taken on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<ClusterConstraint>,
}

/// `constraints.clusters` of a GlobalAccessPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConstraint {
    /// The clusters, by their labels; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<LabelSelector>,
}

/// The spec of a GlobalAccessRole: a Kubernetes role delivered to clusters for access policies to grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalAccessRoleSpec {
    /// `spec.accessRoleTemplate`: the access role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_role_template: Option<AccessRoleTemplate>,
}

/// `spec.accessRoleTemplate` of a GlobalAccessRole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessRoleTemplate {
    /// `description`: what the role allows, shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the rules apply cluster-wide (a ClusterRole) or per namespace (a Role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    /// `rules`: Kubernetes RBAC rules, at least one.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

/// A Kubernetes RBAC `PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRule {
    /// `apiGroups`: API groups of the resources; `""` is the core group, `*` every group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_groups: Option<Vec<String>>,
    /// `resources`: resources, e.g. `pods`, `pods/log`, or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// `verbs`: one of [`VERBS`] each.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// `resourceNames`: limits the rule to these objects; only with `resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_names: Option<Vec<String>>,
    #[serde(
        rename = "nonResourceURLs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// `nonResourceURLs`: URL paths such as `/healthz`, instead of resources; only when `clusterScope` is true.
    pub non_resource_urls: Option<Vec<String>>,
}

/// The fields of a label selector.
pub const LABEL_SELECTOR_SHAPE: &[Field] = &[
    Field::optional(
        "matchLabels",
        FieldType::StringMap,
        "Labels that must all be present with these values.",
    ),
    Field::optional(
        "matchExpressions",
        FieldType::ObjectList(&[
            Field::required(
                "key",
                FieldType::String,
                "The label key, e.g. `appvia.io/stage`.",
            ),
            Field::required(
                "operator",
                FieldType::String,
                "`In`, `NotIn`, `Exists` or `DoesNotExist`.",
            ),
            Field::optional(
                "values",
                FieldType::StringList,
                "The values, for `In` and `NotIn` (required there, refused otherwise).",
            ),
        ]),
        "Expressions that must all hold.",
    ),
];

const KYVERNO_RULE_SHAPE: &[Field] = &[
    Field::required(
        "name",
        FieldType::String,
        "The rule's name, unique in the policy, at most 63 characters.",
    ),
    Field::required(
        "match",
        FieldType::Json,
        "Which resources the rule applies to, in Kyverno's form: `resources`, `any` or `all`.",
    ),
    Field::optional(
        "exclude",
        FieldType::Json,
        "Which resources the rule skips, in Kyverno's form.",
    ),
    Field::optional(
        "context",
        FieldType::Json,
        "Kyverno context entries (variables from ConfigMaps, API calls, …).",
    ),
    Field::optional(
        "preconditions",
        FieldType::Json,
        "Kyverno preconditions that must hold for the rule to apply.",
    ),
    Field::optional(
        "celPreconditions",
        FieldType::Json,
        "Kyverno CEL preconditions.",
    ),
    Field::optional(
        "imageExtractors",
        FieldType::Json,
        "Kyverno image extractors for custom resources.",
    ),
    Field::optional(
        "skipBackgroundRequests",
        FieldType::Bool,
        "Skip background requests (Kyverno's setting).",
    ),
    Field::optional(
        "validate",
        FieldType::Json,
        "A Kyverno validate rule. A rule does exactly one of `validate`, `mutate`, `generate` and `verifyImages`.",
    ),
    Field::optional("mutate", FieldType::Json, "A Kyverno mutate rule."),
    Field::optional("generate", FieldType::Json, "A Kyverno generate rule."),
    Field::optional(
        "verifyImages",
        FieldType::Json,
        "Kyverno image verification rules (a list).",
    ),
];

/// The fields of a GlobalClusterPolicy's spec.
pub const GLOBAL_CLUSTER_POLICY_SHAPE: &[Field] = &[
    Field::optional(
        "description",
        FieldType::String,
        "What the policy enforces.",
    ),
    Field::required(
        "policy",
        FieldType::Object(&[
            Field::required("type", FieldType::String, "The policy engine: `Kyverno`."),
            Field::required(
                "kyverno",
                FieldType::Object(&[
                    Field::optional(
                        "validationFailureAction",
                        FieldType::String,
                        "`Enforce` to block resources that fail validation, `Audit` to report them; Kyverno's default (`Audit`) when not set.",
                    ),
                    Field::optional(
                        "background",
                        FieldType::Bool,
                        "Whether Kyverno also checks existing resources in the background.",
                    ),
                    Field::required(
                        "rules",
                        FieldType::ObjectList(KYVERNO_RULE_SHAPE),
                        "The Kyverno rules, at least one.",
                    ),
                ]),
                "The Kyverno policy.",
            ),
        ]),
        "The policy delivered to clusters.",
    ),
    Field::optional(
        "target",
        FieldType::Object(&[
            Field::optional(
                "cluster",
                FieldType::Object(LABEL_SELECTOR_SHAPE),
                "The clusters that receive the policy, by their labels: `appvia.io/stage`, `appvia.io/plan`, `appvia.io/cloud`, `appvia.io/provider`, `appvia.io/workspace` and their own. Every cluster when not set.",
            ),
            Field::optional(
                "namespace",
                FieldType::Object(LABEL_SELECTOR_SHAPE),
                "The namespaces inside them the policy applies to, by their labels. Every namespace when not set.",
            ),
        ]),
        "Where the policy is delivered; every cluster when not set.",
    ),
];

/// The fields of a GlobalAccessPolicy's spec.
pub const GLOBAL_ACCESS_POLICY_SHAPE: &[Field] = &[
    Field::optional(
        "scope",
        FieldType::Object(SCOPE_SHAPE),
        "The workspaces and stages the policy applies in; everywhere when not set.",
    ),
    Field::required(
        "accessPolicyTemplate",
        FieldType::Object(&[
            Field::optional(
                "description",
                FieldType::String,
                "What access the policy grants, shown to users.",
            ),
            Field::required(
                "accessRoleRefs",
                FieldType::StringList,
                "The access roles granted, by name, at least one.",
            ),
            Field::optional(
                "wayfinderGroups",
                FieldType::StringList,
                "Platform groups granted access, e.g. `admin`.",
            ),
            Field::optional(
                "groups",
                FieldType::StringList,
                "Workspace groups granted access, e.g. `owner` or `member`.",
            ),
            Field::required(
                "subjectType",
                FieldType::String,
                "Who takes the access: `User` or `AccessToken`.",
            ),
            Field::optional(
                "constraints",
                FieldType::Object(&[
                    Field::optional(
                        "ttl",
                        FieldType::String,
                        "How long access lasts once taken, e.g. `8h0m0s`: 1 minute to 720 hours.",
                    ),
                    Field::optional(
                        "clusters",
                        FieldType::Object(&[Field::optional(
                            "allowed",
                            FieldType::Object(LABEL_SELECTOR_SHAPE),
                            "The clusters, by their labels (e.g. `appvia.io/stage: prod`); every cluster when not set.",
                        )]),
                        "The clusters access may be taken on.",
                    ),
                ]),
                "Limits on the access.",
            ),
        ]),
        "The access policy.",
    ),
];

/// The fields of a GlobalAccessRole's spec.
pub const GLOBAL_ACCESS_ROLE_SHAPE: &[Field] = &[Field::required(
    "accessRoleTemplate",
    FieldType::Object(&[
        Field::optional(
            "description",
            FieldType::String,
            "What the role allows, shown to users.",
        ),
        Field::optional(
            "clusterScope",
            FieldType::Bool,
            "Whether the rules apply cluster-wide (`true`) or within a namespace (`false`, the default).",
        ),
        Field::required(
            "rules",
            FieldType::ObjectList(&[
                Field::optional(
                    "apiGroups",
                    FieldType::StringList,
                    "API groups of the resources; `\"\"` is the core group, `*` every group. Required with `resources`.",
                ),
                Field::optional(
                    "resources",
                    FieldType::StringList,
                    "Resources, e.g. `pods`, `pods/log`, or `*`.",
                ),
                Field::required(
                    "verbs",
                    FieldType::StringList,
                    "Verbs: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, `impersonate`, `bind`, `escalate`, `use`, `approve`, `sign`, or `*`.",
                ),
                Field::optional(
                    "resourceNames",
                    FieldType::StringList,
                    "Limits the rule to these objects; only with `resources`.",
                ),
                Field::optional(
                    "nonResourceURLs",
                    FieldType::StringList,
                    "URL paths such as `/healthz` or `/metrics*`, instead of resources; only when `clusterScope` is true.",
                ),
            ]),
            "Kubernetes RBAC rules, at least one.",
        ),
    ]),
    "The access role.",
)];

/// Whether a JSON body is unset: null, or an object or list with nothing set in it.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_blank),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

impl Spec for GlobalClusterPolicySpec {
    const INFO: &'static KindInfo = &GLOBAL_CLUSTER_POLICY;
    const DOTTED_NAMES: bool = true;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        let pp = path.field("policy");
        match &self.policy {
            None => c.push(
                &pp,
                Reason::Required,
                "required: {type: Kyverno, kyverno: {rules: [...]}}",
            ),
            Some(policy) => {
                c.one_of(&pp.field("type"), &policy.type_, POLICY_TYPES);
                match &policy.kyverno {
                    None => c.push(
                        &pp.field("kyverno"),
                        Reason::Required,
                        "required: the Kyverno policy, with at least one rule",
                    ),
                    Some(k) => k.check(c, &pp.field("kyverno")),
                }
            }
        }
        if let Some(t) = &self.target {
            let tp = path.field("target");
            if let Some(s) = &t.cluster {
                s.check(c, &tp.field("cluster"));
            }
            if let Some(s) = &t.namespace {
                s.check(c, &tp.field("namespace"));
            }
        }
    }
}

impl GlobalClusterPolicySpec {
    /// Whether the policy goes to a cluster with these labels.
    pub fn targets(&self, cluster_labels: &BTreeMap<String, String>) -> bool {
        self.target
            .as_ref()
            .and_then(|t| t.cluster.as_ref())
            .is_none_or(|s| s.matches(cluster_labels))
    }
}

impl KyvernoPolicy {
    fn check(&self, c: &mut Checker, path: &FieldPath) {
        if let Some(a) = &self.validation_failure_action
            && !matches!(a.as_str(), "audit" | "enforce")
        {
            c.one_of(
                &path.field("validationFailureAction"),
                a,
                VALIDATION_FAILURE_ACTIONS,
            );
        }
        let rp = path.field("rules");
        if self.rules.is_empty() {
            c.push(&rp, Reason::Required, "at least one rule is required");
        }
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let p = rp.index(i);
            if r.name.is_empty() {
                c.push(
                    &p.field("name"),
                    Reason::Required,
                    "required: a rule name, unique in the policy",
                );
            } else {
                if r.name.chars().count() > MAX_RULE_NAME {
                    c.push(
                        &p.field("name"),
                        Reason::Invalid,
                        format!("must be at most {MAX_RULE_NAME} characters"),
                    );
                }
                if seen.contains(&r.name.as_str()) {
                    c.push(
                        &p.field("name"),
                        Reason::Duplicate,
                        format!(
                            "{:?} is used by another rule; rule names must be unique",
                            r.name
                        ),
                    );
                }
                seen.insert(&r.name);
            }
            match &r.match_ {
                Some(Value::Object(m))
                    if ["resources", "any", "all"]
                        .iter()
                        .any(|k| m.get(*k).is_some_and(|v| !is_blank(v))) => {}
                _ => c.push(
                    &p.field("match"),
                    Reason::Required,
                    "required: which resources the rule applies to, e.g. {resources: {kinds: [Pod]}} or {any: [...]}",
                ),
            }
            let bodies = [&r.validate, &r.mutate, &r.generate, &r.verify_images];
            let set: Vec<&str> = RULE_ACTIONS
                .iter()
                .zip(bodies)
                .filter(|(_, b)| b.as_ref().is_some_and(|v| !is_blank(v)))
                .map(|(name, _)| *name)
                .collect();
            match set.as_slice() {
                [] => c.push(
                    &p,
                    Reason::Required,
                    "a rule must do one of validate, mutate, generate or verifyImages",
                ),
                [_] => {}
                [_, rest @ ..] => {
                    for extra in rest {
                        c.push(
                            &p.field(extra),
                            Reason::Forbidden,
                            format!(
                                "a rule does exactly one of validate, mutate, generate or verifyImages, and this one already does {}; move it to a rule of its own",
                                set[0]
                            ),
                        );
                    }
                }
            }
            for (name, body, want_list) in [
                ("validate", &r.validate, false),
                ("mutate", &r.mutate, false),
                ("generate", &r.generate, false),
                ("verifyImages", &r.verify_images, true),
            ] {
                match (body, want_list) {
                    (None | Some(Value::Null), _)
                    | (Some(Value::Object(_)), false)
                    | (Some(Value::Array(_)), true) => {}
                    (Some(_), false) => c.push(
                        &p.field(name),
                        Reason::Invalid,
                        "must be an object, as Kyverno writes it",
                    ),
                    (Some(_), true) => c.push(
                        &p.field(name),
                        Reason::Invalid,
                        "must be a list of image verification rules",
                    ),
                }
            }
        }
    }
}

impl Spec for GlobalAccessPolicySpec {
    const INFO: &'static KindInfo = &GLOBAL_ACCESS_POLICY;
    const DOTTED_NAMES: bool = true;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        if let Some(s) = &self.scope {
            s.check(c, &path.field("scope"));
        }
        let tp = path.field("accessPolicyTemplate");
        let Some(t) = &self.access_policy_template else {
            c.push(
                &tp,
                Reason::Required,
                "required: at least accessRoleRefs and subjectType",
            );
            return;
        };
        let rp = tp.field("accessRoleRefs");
        if t.access_role_refs.is_empty() {
            c.push(
                &rp,
                Reason::Required,
                "at least one access role is required, e.g. cluster.view",
            );
        }
        check_names(c, &rp, &t.access_role_refs, "access role", is_dns_subdomain);
        let is_group = |g: &str| crate::validate::is_dns_label(g);
        if let Some(g) = &t.wayfinder_groups {
            check_names(c, &tp.field("wayfinderGroups"), g, "group", is_group);
        }
        if let Some(g) = &t.groups {
            check_names(c, &tp.field("groups"), g, "group", is_group);
        }
        c.one_of(&tp.field("subjectType"), &t.subject_type, SUBJECT_TYPES);
        if let Some(k) = &t.constraints {
            let kp = tp.field("constraints");
            if let Some(ttl) = &k.ttl {
                check_duration(c, &kp.field("ttl"), ttl, ACCESS_TTL_RANGE);
            }
            if let Some(s) = k.clusters.as_ref().and_then(|c| c.allowed.as_ref()) {
                s.check(c, &kp.field("clusters").field("allowed"));
            }
        }
    }
}

impl GlobalAccessPolicySpec {
    /// How long access lasts once taken, when the policy sets a valid TTL.
    pub fn ttl(&self) -> Option<Duration> {
        self.access_policy_template
            .as_ref()?
            .constraints
            .as_ref()?
            .ttl
            .as_deref()
            .and_then(|t| crate::common::parse_duration(t).ok())
    }
}

fn check_names(
    c: &mut Checker,
    path: &FieldPath,
    names: &[String],
    what: &str,
    valid: impl Fn(&str) -> bool,
) {
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (i, n) in names.iter().enumerate() {
        let p = path.index(i);
        if !valid(n) {
            c.push(
                &p,
                Reason::Invalid,
                format!(
                    "{n:?} is not a valid {what} name: lower-case letters, digits, '-' and '.'"
                ),
            );
        }
        if seen.contains(&n.as_str()) {
            c.push(
                &p,
                Reason::Duplicate,
                format!("{n:?} is listed twice; list each {what} once"),
            );
        }
        seen.insert(n);
    }
}

impl Spec for GlobalAccessRoleSpec {
    const INFO: &'static KindInfo = &GLOBAL_ACCESS_ROLE;
    const DOTTED_NAMES: bool = true;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        let tp = path.field("accessRoleTemplate");
        let Some(t) = &self.access_role_template else {
            c.push(&tp, Reason::Required, "required: at least rules");
            return;
        };
        let cluster_scope = t.cluster_scope.unwrap_or(false);
        let rp = tp.field("rules");
        if t.rules.is_empty() {
            c.push(&rp, Reason::Required, "at least one rule is required");
        }
        for (i, r) in t.rules.iter().enumerate() {
            r.check(c, &rp.index(i), cluster_scope);
        }
    }
}

impl PolicyRule {
    fn check(&self, c: &mut Checker, p: &FieldPath, cluster_scope: bool) {
        let vp = p.field("verbs");
        if self.verbs.is_empty() {
            c.push(
                &vp,
                Reason::Required,
                format!("at least one verb is required: {}", VERBS.join(", ")),
            );
        }
        for (i, v) in self.verbs.iter().enumerate() {
            c.one_of(&vp.index(i), v, VERBS);
        }
        let non_empty = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| !l.is_empty());
        let urls = non_empty(&self.non_resource_urls);
        let groups = non_empty(&self.api_groups);
        let resources = non_empty(&self.resources);
        if urls {
            if groups || resources {
                c.push(
                    &p.field("nonResourceURLs"),
                    Reason::Forbidden,
                    "a rule covers resources (apiGroups, resources) or non-resource URLs, not both; split it into two rules",
                );
            }
            if !cluster_scope {
                c.push(
                    &p.field("nonResourceURLs"),
                    Reason::Forbidden,
                    "non-resource URLs need clusterScope: true",
                );
            }
            for (i, u) in self.non_resource_urls.iter().flatten().enumerate() {
                let star = u.find('*');
                if !u.starts_with('/') || star.is_some_and(|s| s != u.len() - 1) {
                    c.push(
                        &p.field("nonResourceURLs").index(i),
                        Reason::Invalid,
                        format!("{u:?} is not a URL path: start with '/', with '*' only at the end, e.g. /healthz or /metrics*"),
                    );
                }
            }
        } else {
            if !groups {
                c.push(
                    &p.field("apiGroups"),
                    Reason::Required,
                    "required with resources: the API groups, e.g. [\"\"] for the core group, [apps], or [\"*\"]",
                );
            }
            if !resources {
                c.push(
                    &p.field("resources"),
                    Reason::Required,
                    "required: the resources, e.g. [pods], or nonResourceURLs instead",
                );
            }
        }
        for (i, r) in self.resources.iter().flatten().enumerate() {
            c.required(&p.field("resources").index(i), r, "a resource such as pods");
        }
        if non_empty(&self.resource_names) && !resources {
            c.push(
                &p.field("resourceNames"),
                Reason::Forbidden,
                "only allowed with resources",
            );
        }
        for (i, n) in self.resource_names.iter().flatten().enumerate() {
            c.required(&p.field("resourceNames").index(i), n, "an object name");
        }
    }
}
