//! Resolving a Cluster's references against a read-only view of the store.
//!
//! [`resolve_cluster`] looks up what a Cluster names — its stage, its cluster plan version,
//! the plan's network plan and packages, the compute template, the cloud access — checks
//! each against the rules of self-service provisioning, and applies the plan's choices
//! (docs/cluster-spec.md). Every problem is reported at once, each at the Cluster field the
//! user controls, with what would be accepted.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cloudaccess::{CLUSTER_PROVISIONING, CloudAccessConfigSpec, CloudIdentitySpec};
use crate::cluster::{CloudAccessRef, Cluster, PlanRef};
use crate::common::cloud_for_provider;
use crate::compute::NodePool;
use crate::error::{FieldError, FieldPath, Reason};
use crate::kinds::{
    CLOUD_ACCESS_CONFIG, CLOUD_IDENTITY, CLUSTER_NETWORK_PLAN, CLUSTER_PLAN, COMPUTE_TEMPLATE,
    KindInfo, Object, PACKAGE, STAGE, Scope,
};
use crate::net::Ipv4Net;
use crate::networking::NetworkRequest;
use crate::org::ADMIN_WORKSPACE;
use crate::plan::{ClusterPlan, PackageRef, PlanChoices};
use crate::resolved::{PoolOrigin, ResolvedCluster};
use crate::validate::Checker;
use crate::versioned::{PublishState, compare_versions, latest_published, publish_state};

pub use crate::cluster::RESERVED_LABELS;

/// A read-only view of stored objects.
pub trait ObjectView {
    /// One object. `workspace` is the workspace of a workspaced kind and ignored for
    /// platform kinds; `version` is the `spec.version` of a versioned kind (`None`: its latest
    /// published version, [`latest_published`] of [`ObjectView::list`]) and ignored for
    /// other kinds.
    fn get(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Option<Arc<Object>> {
        match version {
            None if kind.versioned => {
                let versions = self.list(kind, workspace);
                latest_published(versions.iter().filter(|o| o.metadata().name == name)).cloned()
            }
            _ => self.get_exact(kind, workspace, name, version.filter(|_| kind.versioned)),
        }
    }

    /// One stored object, as [`ObjectView::get`] but `version` is given for a versioned
    /// kind (and `None` for other kinds).
    fn get_exact(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Option<Arc<Object>>;

    /// Every object of a kind (every version of a versioned kind) — for a workspaced kind,
    /// those in `workspace`.
    fn list(&self, kind: &KindInfo, workspace: Option<&str>) -> Vec<Arc<Object>>;
}

/// An [`ObjectView`] over objects held in memory, each tagged with its workspace (`None`
/// for platform kinds). For tests and for checking definitions before they are stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryView {
    objects: Vec<(Option<String>, Arc<Object>)>,
}

impl MemoryView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// A view of `objects`, each with its workspace.
    pub fn from_objects(objects: impl IntoIterator<Item = (Option<String>, Object)>) -> Self {
        let mut view = Self::new();
        for (ws, o) in objects {
            view.insert(ws.as_deref(), o);
        }
        view
    }

    /// A view of `objects`, taking a workspaced object's workspace from its
    /// `metadata.namespace` (`ws-KEY`).
    pub fn from_namespaced(objects: impl IntoIterator<Item = Object>) -> Self {
        Self::from_objects(objects.into_iter().map(|o| {
            let ws = o
                .metadata()
                .namespace
                .as_deref()
                .and_then(|ns| ns.strip_prefix("ws-"))
                .map(str::to_string);
            (ws, o)
        }))
    }

    /// Adds an object, replacing one of the same kind, workspace, name and version. The
    /// workspace of a platform kind is dropped.
    pub fn insert(&mut self, workspace: Option<&str>, object: Object) {
        let info = object.kind_info();
        let ws = match info.scope {
            Scope::Platform => None,
            Scope::Workspace => workspace.map(str::to_string),
        };
        self.objects.retain(|(w, o)| {
            !(o.kind_info() == info
                && *w == ws
                && o.metadata().name == object.metadata().name
                && o.version() == object.version())
        });
        self.objects.push((ws, Arc::new(object)));
    }

    /// This view with an object added.
    pub fn with(mut self, workspace: Option<&str>, object: Object) -> Self {
        self.insert(workspace, object);
        self
    }

    fn of_kind<'a>(
        &'a self,
        kind: &'a KindInfo,
        workspace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Arc<Object>> + 'a {
        self.objects
            .iter()
            .filter(move |(w, o)| {
                *o.kind_info() == *kind
                    && (kind.scope == Scope::Platform || w.as_deref() == workspace)
            })
            .map(|(_, o)| o)
    }
}

impl ObjectView for MemoryView {
    fn get_exact(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Option<Arc<Object>> {
        self.of_kind(kind, workspace)
            .find(|o| o.metadata().name == name && (!kind.versioned || o.version() == version))
            .cloned()
    }

    fn list(&self, kind: &KindInfo, workspace: Option<&str>) -> Vec<Arc<Object>> {
        self.of_kind(kind, workspace).cloned().collect()
    }
}

/// How a cluster is being resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveOptions {
    /// The plan version an existing cluster already runs. A deprecated plan version builds
    /// no new clusters, but a cluster already on it may still be changed while it stays on
    /// it; pass the stored cluster's `spec.plan` on update.
    pub existing_plan: Option<PlanRef>,
}

/// A resolved cluster with everything else resolution found: what the reconciler needs to
/// build it, beyond what policy and cost work on.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// What admission, policy and cost work on.
    pub cluster: ResolvedCluster,
    /// The plan's Kubernetes version, e.g. `1.32`.
    pub kubernetes_version: String,
    /// The compute template the pools start from: the cluster's choice or the plan's
    /// default; `None` when the cluster defines every pool itself.
    pub compute_template: Option<String>,
    /// The plan's ClusterNetworkPlan.
    pub network_plan: String,
    /// How that network plan lays the node network out in the cloud.
    pub subnet_layout: crate::networking::SubnetLayout,
    /// The network to allocate or use: the cluster's, else the plan's default size, else the
    /// network plan's node range.
    pub network: NetworkRequest,
    /// The cloud access to provision with, with its workspace (`admin` for the platform's).
    pub cloud_access: CloudAccessRef,
    /// That cloud access's spec: the account, the roles a cloud driver assumes.
    pub cloud_access_spec: CloudAccessConfigSpec,
    /// The CloudIdentity that cloud access names (`spec.cloudIdentityRef`), if any.
    pub cloud_identity: Option<IdentityResolution>,
    /// The plan's `network.authorizedMasterNetworks` CIDRs (empty: not restricted).
    pub authorized_master_networks: Vec<String>,
    /// Whether the cluster's Kubernetes secrets are encrypted with a KMS key (EKS plans,
    /// unless they turn it off).
    pub secrets_encryption: bool,
    /// The control-plane logs an EKS cluster sends to CloudWatch, by EKS's log type names.
    pub control_plane_logs: Vec<String>,
    /// The packages the plan pins, in the plan's order.
    pub packages: Vec<PackageRef>,
    /// The managed control plane's pricing tier the plan asks for (AKS `skuTier`); the
    /// provider's default when `None`.
    pub control_plane_tier: Option<String>,
}

/// The CloudIdentity a cloud access names: where it is looked for, and its spec when it
/// exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityResolution {
    /// The cloud access's workspace (an identity is in the same workspace as its access).
    pub workspace: String,
    /// The CloudIdentity's name.
    pub name: String,
    /// `None` when no CloudIdentity of that name is stored.
    pub spec: Option<CloudIdentitySpec>,
}

/// Resolves a new Cluster in `workspace`; see [`resolve_cluster_with`].
pub fn resolve_cluster(
    cluster: &Cluster,
    workspace: &str,
    view: &dyn ObjectView,
) -> Result<ResolvedCluster, Vec<FieldError>> {
    resolve_cluster_with(cluster, workspace, view, &ResolveOptions::default()).map(|r| r.cluster)
}

/// Resolves a Cluster in `workspace`: looks up its stage, plan version, the plan's network
/// plan and packages, its compute template and cloud access, applies the plan's choices,
/// and returns the cluster to provision — or every problem found, each at the Cluster
/// field the user controls. The cluster should already have passed validation.
pub fn resolve_cluster_with(
    cluster: &Cluster,
    workspace: &str,
    view: &dyn ObjectView,
    options: &ResolveOptions,
) -> Result<Resolution, Vec<FieldError>> {
    let mut r = Resolver {
        c: Checker::new(format!("Cluster/{}", cluster.metadata.name)),
        spec: FieldPath::root().field("spec"),
        cluster,
        workspace,
        view,
    };
    r.stage();
    let plan = r.plan(options);
    let plan_spec = plan.as_ref().map(|p| &p.spec);
    let plan_name = &cluster.spec.plan.name;
    let provider = plan_spec.map(|p| p.provider.as_str());
    let cloud = provider.and_then(cloud_for_provider);
    if let (Some(p), None) = (provider, cloud) {
        r.push_plan(format!(
            "cluster plan {plan_name} has provider {p:?}, which is not supported (EKS, AKS or GKE)"
        ));
    }
    // The plan's choices, or Wayfinder's behaviour over the stored compute templates.
    let effective = plan_spec.map(|p| {
        p.effective_choices(|| {
            r.view
                .list(&COMPUTE_TEMPLATE, None)
                .iter()
                .filter_map(|o| match o.as_ref() {
                    Object::ComputeTemplate(t) => {
                        Some((t.metadata.name.clone(), t.spec.provider.clone()))
                    }
                    _ => None,
                })
                .collect()
        })
    });
    let choices = effective.as_deref();
    let network_plan = plan_spec.and_then(|p| r.network_plan(p, cloud));
    let (template, pools, origins) = match provider {
        Some(provider) => r.node_pools(provider, choices),
        None => (None, Vec::new(), Vec::new()),
    };
    let network = plan
        .as_ref()
        .and_then(|_| r.network(choices, network_plan.as_ref()));
    if let Some(p) = plan_spec {
        r.packages(p);
    }
    let cloud_access = cloud.and_then(|cloud| r.cloud_access(cloud));
    let region = plan
        .as_ref()
        .and_then(|_| r.region(provider, choices, cloud_access.as_ref().map(|(_, s)| s)));
    let labels = r.labels(provider, cloud);
    if let Err(e) = r.c.finish() {
        return Err(e.errors);
    }
    let (
        Some(plan),
        Some(provider),
        Some(cloud),
        Some(region),
        Some(network),
        Some((access, access_spec)),
        Some((network_plan, network_plan_spec)),
    ) = (
        plan.as_ref(),
        provider,
        cloud,
        region,
        network,
        cloud_access,
        network_plan,
    )
    else {
        // Every missing piece is reported above; this is a guard, not a path users reach.
        return Err(vec![FieldError {
            path: FieldPath::root().field("spec"),
            reason: Reason::Invalid,
            message: "the cluster could not be resolved".to_string(),
        }]);
    };
    let cloud_identity = access_spec.cloud_identity_ref.as_ref().map(|i| {
        let holder = access.workspace.as_deref().unwrap_or(workspace);
        let spec = r
            .view
            .get(&CLOUD_IDENTITY, Some(holder), &i.name, None)
            .and_then(|o| match o.as_ref() {
                Object::CloudIdentity(c) => Some(c.spec.clone()),
                _ => None,
            });
        IdentityResolution {
            workspace: holder.to_string(),
            name: i.name.clone(),
            spec,
        }
    });
    Ok(Resolution {
        cluster: ResolvedCluster {
            workspace: workspace.to_string(),
            name: cluster.metadata.name.clone(),
            stage: cluster.spec.stage.clone(),
            plan: cluster.spec.plan.clone(),
            provider: provider.to_string(),
            cloud: cloud.to_string(),
            region,
            node_pools: pools,
            pool_origins: origins,
            labels,
        },
        kubernetes_version: plan
            .spec
            .cluster
            .as_ref()
            .map(|c| c.kubernetes_version.clone())
            .unwrap_or_default(),
        compute_template: template,
        subnet_layout: network_plan_spec.subnet_layout(),
        network_plan,
        network,
        cloud_access: access,
        cloud_access_spec: access_spec,
        cloud_identity,
        authorized_master_networks: plan.spec.authorized_master_cidrs(),
        secrets_encryption: plan.spec.secrets_encryption(),
        control_plane_logs: plan
            .spec
            .eks_control_plane_logs()
            .into_iter()
            .map(str::to_string)
            .collect(),
        packages: plan.spec.packages().to_vec(),
        control_plane_tier: plan.spec.control_plane_tier().map(str::to_string),
    })
}

struct Resolver<'a> {
    c: Checker,
    spec: FieldPath,
    cluster: &'a Cluster,
    workspace: &'a str,
    view: &'a dyn ObjectView,
}

/// `kind: a, b` or `no kinds exist`, for messages.
fn listing(what: &str, mut names: Vec<String>) -> String {
    names.sort();
    names.dedup();
    if names.is_empty() {
        format!("there are no {what}")
    } else {
        format!("{what}: {}", names.join(", "))
    }
}

fn names(objects: &[Arc<Object>]) -> Vec<String> {
    objects.iter().map(|o| o.metadata().name.clone()).collect()
}

impl Resolver<'_> {
    fn push(&mut self, path: &FieldPath, reason: Reason, message: impl Into<String>) {
        self.c.push(path, reason, message);
    }

    /// A problem with the plan itself (its network plan, packages): reported at
    /// `spec.plan`, the user's lever.
    fn push_plan(&mut self, message: String) {
        let p = self.spec.field("plan");
        self.push(&p, Reason::Invalid, message);
    }

    /// Something the plan names does not exist (yet): reported at `spec.plan`, the message
    /// naming the missing object first.
    fn push_plan_missing(&mut self, message: String) {
        let p = self.spec.field("plan");
        self.push(&p, Reason::NotFound, message);
    }

    fn stage(&mut self) {
        let stage = &self.cluster.spec.stage;
        if self.view.get(&STAGE, None, stage, None).is_none() {
            let stages = names(&self.view.list(&STAGE, None));
            let p = self.spec.field("stage");
            self.push(
                &p,
                Reason::NotFound,
                format!(
                    "stage {stage:?} does not exist; {}",
                    listing("stages", stages)
                ),
            );
        }
    }

    fn plan(&mut self, options: &ResolveOptions) -> Option<ClusterPlan> {
        let plan_ref = &self.cluster.spec.plan;
        let (name, version) = (&plan_ref.name, &plan_ref.version);
        let name_path = self.spec.field("plan").field("name");
        let version_path = self.spec.field("plan").field("version");
        let versions: Vec<Arc<Object>> = self
            .view
            .list(&CLUSTER_PLAN, None)
            .into_iter()
            .filter(|o| &o.metadata().name == name)
            .collect();
        let published = {
            let mut v: Vec<&str> = versions
                .iter()
                .filter(|o| publish_state(o.metadata()) == Ok(PublishState::Published))
                .filter_map(|o| o.version())
                .collect();
            v.sort_by(|a, b| compare_versions(a, b));
            v.into_iter().map(str::to_string).collect::<Vec<_>>()
        };
        let use_instead = if published.is_empty() {
            format!("cluster plan {name} has no published version")
        } else {
            format!("published versions: {}", published.join(", "))
        };
        let found = self.view.get(&CLUSTER_PLAN, None, name, Some(version));
        let plan = match found.as_deref() {
            Some(Object::ClusterPlan(p)) => p.clone(),
            _ if versions.is_empty() => {
                let plans = names(&self.view.list(&CLUSTER_PLAN, None));
                self.push(
                    &name_path,
                    Reason::NotFound,
                    format!(
                        "cluster plan {name:?} does not exist; {}",
                        listing("cluster plans", plans)
                    ),
                );
                return None;
            }
            _ => {
                self.push(
                    &version_path,
                    Reason::NotFound,
                    format!(
                        "cluster plan {name} version {version:?} does not exist; {use_instead}"
                    ),
                );
                return None;
            }
        };
        match publish_state(&plan.metadata) {
            Ok(PublishState::Published) => {}
            Ok(PublishState::Draft) => self.push(
                &version_path,
                Reason::Invalid,
                format!(
                    "cluster plan {name} version {version} is a draft, not yet published; {use_instead}"
                ),
            ),
            Ok(PublishState::Deprecated) if options.existing_plan.as_ref() == Some(plan_ref) => {}
            Ok(PublishState::Deprecated) => self.push(
                &version_path,
                Reason::Invalid,
                format!(
                    "cluster plan {name} version {version} is deprecated: clusters already on it keep it, new clusters may not use it; {use_instead}"
                ),
            ),
            Err(errors) => self.push(
                &version_path,
                Reason::Invalid,
                format!(
                    "cluster plan {name} version {version} has unreadable publish annotations ({}); an administrator must fix them; {use_instead}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
        }
        if let Some(scope) = &plan.spec.scope {
            let ws = self.workspace;
            if !scope.includes_workspace(ws) {
                self.push(
                    &name_path,
                    Reason::Forbidden,
                    format!(
                        "cluster plan {name} is not available to workspace {ws}; it is available to {}",
                        scope.allowed_workspaces.iter().flatten().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            let stage = &self.cluster.spec.stage;
            if !scope.includes_stage(stage) {
                let p = self.spec.field("stage");
                self.push(
                    &p,
                    Reason::Forbidden,
                    format!(
                        "cluster plan {name} is not available in stage {stage:?}; it is available in {}",
                        scope.allowed_stages.iter().flatten().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        Some(plan)
    }

    /// The plan's network plan, which must exist and be of the plan's cloud.
    fn network_plan(
        &mut self,
        plan: &crate::plan::ClusterPlanSpec,
        cloud: Option<&str>,
    ) -> Option<(String, crate::networking::ClusterNetworkPlanSpec)> {
        let plan_name = &self.cluster.spec.plan.name;
        let Some(network) = &plan.network else {
            self.push_plan(format!(
                "cluster plan {plan_name} names no network plan (network.networkPlan); an administrator must fix the plan"
            ));
            return None;
        };
        let name = &network.network_plan;
        match self
            .view
            .get(&CLUSTER_NETWORK_PLAN, None, name, None)
            .as_deref()
        {
            Some(Object::ClusterNetworkPlan(n)) => {
                let np_cloud = n.spec.template.as_ref().map(|t| t.provider.as_str());
                if let (Some(want), Some(got)) = (cloud, np_cloud)
                    && want != got
                {
                    self.push_plan(format!(
                        "cluster plan {plan_name} names network plan {name}, which is for {got}; the plan's provider {} needs one for {want}",
                        plan.provider
                    ));
                }
                Some((name.clone(), n.spec.clone()))
            }
            _ => {
                self.push_plan_missing(format!(
                    "network plan {name:?} does not exist (cluster plan {plan_name} names it); an administrator must create it or fix the plan"
                ));
                None
            }
        }
    }

    /// The effective node pools: the compute template's, with the cluster's replacing those
    /// of the same logical name and added after them, as far as the plan allows.
    fn node_pools(
        &mut self,
        provider: &str,
        choices: Option<&PlanChoices>,
    ) -> (Option<String>, Vec<NodePool>, Vec<PoolOrigin>) {
        let plan_name = &self.cluster.spec.plan.name;
        let spec = &self.cluster.spec;
        let template_path = self.spec.field("computeTemplate");
        let templates = choices.and_then(|c| c.compute_templates.as_ref());
        let mut template_problem = false;
        let chosen: Option<(String, bool)> = match (&spec.compute_template, templates) {
            (Some(_), None) => {
                self.push(
                    &template_path,
                    Reason::Forbidden,
                    format!("cluster plan {plan_name} does not let clusters choose a compute template; remove it"),
                );
                template_problem = true;
                None
            }
            (Some(t), Some(choice)) if !choice.permits(t) => {
                self.push(
                    &template_path,
                    Reason::NotSupported,
                    format!(
                        "{t:?} is not allowed by cluster plan {plan_name}: choose one of {}",
                        choice.permitted().join(", ")
                    ),
                );
                template_problem = true;
                None
            }
            (Some(t), Some(_)) => Some((t.clone(), true)),
            (None, Some(choice)) => choice.default.clone().map(|d| (d, false)),
            (None, None) => None,
        };
        let mut pools: Vec<NodePool> = Vec::new();
        let mut origins: Vec<PoolOrigin> = Vec::new();
        let mut template = None;
        if let Some((name, from_cluster)) = chosen {
            let problem = |r: &mut Self, msg: String, reason: Reason| {
                if from_cluster {
                    r.push(&template_path, reason, msg);
                } else {
                    let (first, rest) = msg.split_once(';').unwrap_or((&msg, ""));
                    r.push(
                        &r.spec.field("plan"),
                        reason,
                        format!("{first} (the default of cluster plan {plan_name});{rest}"),
                    );
                }
            };
            match self
                .view
                .get(&COMPUTE_TEMPLATE, None, &name, None)
                .as_deref()
            {
                Some(Object::ComputeTemplate(t)) if t.spec.provider == provider => {
                    pools = t.spec.node_pools.clone();
                    origins = vec![PoolOrigin::Template; pools.len()];
                    template = Some(name);
                }
                Some(Object::ComputeTemplate(t)) => {
                    problem(
                        self,
                        format!(
                            "compute template {name} is for {}; cluster plan {plan_name} needs one for {provider}",
                            t.spec.provider
                        ),
                        Reason::Invalid,
                    );
                    template_problem = true;
                }
                _ => {
                    let same_provider: Vec<String> = self
                        .view
                        .list(&COMPUTE_TEMPLATE, None)
                        .iter()
                        .filter(|o| matches!(o.as_ref(), Object::ComputeTemplate(t) if t.spec.provider == provider))
                        .map(|o| o.metadata().name.clone())
                        .collect();
                    problem(
                        self,
                        format!(
                            "compute template {name:?} does not exist; {}",
                            listing(&format!("{provider} compute templates"), same_provider)
                        ),
                        Reason::NotFound,
                    );
                    template_problem = true;
                }
            }
        }

        let own = spec.node_pools.as_deref().unwrap_or_default();
        let pools_path = self.spec.field("nodePools");
        let pool_choice = choices.and_then(|c| c.node_pools.as_ref());
        if !own.is_empty() && pool_choice.is_none_or(|n| n.allow_override != Some(true)) {
            self.push(
                &pools_path,
                Reason::Forbidden,
                format!("cluster plan {plan_name} does not let clusters define node pools; remove them (the compute template's pools are used)"),
            );
            return (template, pools, origins);
        }
        for (j, pool) in own.iter().enumerate() {
            let p = pools_path.index(j);
            // Provider-specific rules: what the check adds once the provider is known.
            let generic = pool_problems(pool, &p, "");
            for e in pool_problems(pool, &p, provider) {
                if !generic.contains(&e) {
                    self.push(&e.path, e.reason, e.message);
                }
            }
            if let Some(choice) = pool_choice {
                if let Some(allowed) = choice.allowed_machines.as_ref().filter(|a| !a.is_empty())
                    && !pool.machine.is_empty()
                    && !allowed.contains(&pool.machine)
                {
                    self.push(
                        &p.field("machine"),
                        Reason::NotSupported,
                        format!(
                            "{:?} is not allowed by cluster plan {plan_name}: choose one of {}",
                            pool.machine,
                            allowed.join(", ")
                        ),
                    );
                }
                if let Some(max) = choice.max_size {
                    let autoscaling_max = pool
                        .autoscaling
                        .as_ref()
                        .filter(|a| a.enabled == Some(true))
                        .and_then(|a| a.max_size);
                    let (field, largest) = match (autoscaling_max, pool.size) {
                        (Some(a), s) if a >= s.unwrap_or(0) => {
                            (p.field("autoscaling").field("maxSize"), a)
                        }
                        (_, Some(s)) => (p.field("size"), s),
                        (Some(a), None) => (p.field("autoscaling").field("maxSize"), a),
                        (None, None) => (p.field("size"), 0),
                    };
                    if largest > max {
                        self.push(
                            &field,
                            Reason::Invalid,
                            format!("must be at most {max} nodes, the most cluster plan {plan_name} allows per pool (got {largest})"),
                        );
                    }
                }
            }
            match pools
                .iter()
                .position(|t| t.logical_name == pool.logical_name)
            {
                Some(i) if origins[i] == PoolOrigin::Template => {
                    pools[i] = pool.clone();
                    origins[i] = PoolOrigin::Cluster(j);
                }
                _ => {
                    pools.push(pool.clone());
                    origins.push(PoolOrigin::Cluster(j));
                }
            }
        }
        if pools.is_empty() && !template_problem {
            self.push(
                &pools_path,
                Reason::Required,
                format!(
                    "at least one node pool is required: cluster plan {plan_name} names no default compute template{}",
                    if pool_choice.is_some_and(|n| n.allow_override == Some(true)) {
                        "; define node pools here"
                    } else {
                        ", and does not let clusters define node pools; an administrator must fix the plan"
                    }
                ),
            );
        }
        (template, pools, origins)
    }

    fn network(
        &mut self,
        choices: Option<&PlanChoices>,
        network_plan: Option<&(String, crate::networking::ClusterNetworkPlanSpec)>,
    ) -> Option<NetworkRequest> {
        let plan_name = &self.cluster.spec.plan.name;
        let net_path = self.spec.field("network");
        let choice = choices.and_then(|c| c.network.as_ref());
        let requested = match (&self.cluster.spec.network, choice) {
            (Some(_), None) => {
                self.push(
                    &net_path,
                    Reason::Forbidden,
                    format!("cluster plan {plan_name} does not let clusters choose their network; remove it"),
                );
                return None;
            }
            (Some(n), Some(choice)) => {
                let permitted = choice
                    .permitted()
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                match (n.size, &n.cidr) {
                    (Some(size), _) if !choice.permits(size) => {
                        self.push(
                            &net_path.field("size"),
                            Reason::NotSupported,
                            format!("{size} is not allowed by cluster plan {plan_name}: choose one of {permitted}"),
                        );
                        return None;
                    }
                    (Some(size), _) => u8::try_from(size).ok().map(NetworkRequest::Size),
                    (None, Some(cidr)) => {
                        let cp = net_path.field("cidr");
                        if choice.allow_cidr != Some(true) {
                            self.push(
                                &cp,
                                Reason::Forbidden,
                                format!("cluster plan {plan_name} does not let clusters give a CIDR; ask for a size instead ({permitted})"),
                            );
                            return None;
                        }
                        let net = Ipv4Net::parse(cidr).ok()?;
                        if !choice.permits(i64::from(net.prefix)) {
                            self.push(
                                &cp,
                                Reason::NotSupported,
                                format!("a /{} network is not allowed by cluster plan {plan_name}: use one of the sizes {permitted}", net.prefix),
                            );
                            return None;
                        }
                        Some(NetworkRequest::Cidr(net))
                    }
                    (None, None) => None,
                }
            }
            (None, Some(choice)) => choice
                .default_size
                .and_then(|s| u8::try_from(s).ok())
                .map(NetworkRequest::Size),
            (None, None) => None,
        };
        let request = requested.or_else(|| network_plan.and_then(|(_, n)| n.node_request()));
        if request.is_none()
            && let Some((name, _)) = network_plan
        {
            self.push_plan(format!(
                "network plan {name} (of cluster plan {plan_name}) has no usable node range and the plan no default network size; an administrator must fix one of them"
            ));
        }
        request
    }

    fn packages(&mut self, plan: &crate::plan::ClusterPlanSpec) {
        let plan_name = &self.cluster.spec.plan.name;
        let pinned: Vec<&str> = plan.packages().iter().map(|p| p.name.as_str()).collect();
        for p in plan.packages() {
            match self
                .view
                .get(&PACKAGE, None, &p.name, Some(&p.version))
                .as_deref()
            {
                Some(Object::Package(pkg)) => {
                    for d in pkg.spec.dependencies.iter().flatten() {
                        if !pinned.contains(&d.as_str()) {
                            self.push_plan(format!(
                                "cluster plan {plan_name} pins package {} {}, which depends on {d}, which the plan does not pin; an administrator must fix the plan",
                                p.name, p.version
                            ));
                        }
                    }
                }
                _ => {
                    let mut versions: Vec<String> = self
                        .view
                        .list(&PACKAGE, None)
                        .iter()
                        .filter(|o| o.metadata().name == p.name)
                        .filter_map(|o| o.version().map(str::to_string))
                        .collect();
                    versions.sort_by(|a, b| compare_versions(a, b));
                    self.push_plan_missing(format!(
                        "package {} {} does not exist (cluster plan {plan_name} pins it; {}); an administrator must fix the plan",
                        p.name,
                        p.version,
                        if versions.is_empty() {
                            "there is no such package".to_string()
                        } else {
                            format!("its versions: {}", versions.join(", "))
                        }
                    ));
                }
            }
        }
    }

    /// The cloud access to provision with: the named one, which must fit, or the one that
    /// fits (the cluster's own workspace's before the platform's).
    fn cloud_access(&mut self, cloud: &str) -> Option<(CloudAccessRef, CloudAccessConfigSpec)> {
        let plan_name = &self.cluster.spec.plan.name;
        let (ws, stage) = (self.workspace, self.cluster.spec.stage.as_str());
        let holders: Vec<&str> = if ws == ADMIN_WORKSPACE {
            vec![ws]
        } else {
            vec![ws, ADMIN_WORKSPACE]
        };
        let fits = |holder: &str, s: &CloudAccessConfigSpec| {
            s.cloud == cloud && s.type_ == CLUSTER_PROVISIONING && s.serves(holder, ws, stage)
        };
        let candidates: Vec<(String, String, CloudAccessConfigSpec)> = holders
            .iter()
            .flat_map(|h| {
                self.view
                    .list(&CLOUD_ACCESS_CONFIG, Some(h))
                    .into_iter()
                    .filter_map(move |o| match o.as_ref() {
                        Object::CloudAccessConfig(a) => {
                            Some((h.to_string(), a.metadata.name.clone(), a.spec.clone()))
                        }
                        _ => None,
                    })
            })
            .collect();
        let mut fitting: Vec<&(String, String, CloudAccessConfigSpec)> =
            candidates.iter().filter(|(h, _, s)| fits(h, s)).collect();
        fitting.sort_by(|a, b| (a.0 != ws, &a.1).cmp(&(b.0 != ws, &b.1)));
        let described = |list: &[&(String, String, CloudAccessConfigSpec)]| -> String {
            list.iter()
                .map(|(h, n, _)| format!("{h}/{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let needed = format!(
            "a cloud access of cloud {cloud} with type {CLUSTER_PROVISIONING} (cluster provisioning) serving workspace {ws} in stage {stage}"
        );

        if let Some(r) = &self.cluster.spec.cloud_access_ref {
            let name_path = self.spec.field("cloudAccessRef").field("name");
            // Another workspace's cloud access can never serve this cluster, and its
            // existence is not the caller's to learn: the same answer whether it exists.
            if let Some(other) = r
                .workspace
                .as_deref()
                .filter(|w| *w != ws && *w != ADMIN_WORKSPACE)
            {
                let ws_path = self.spec.field("cloudAccessRef").field("workspace");
                self.push(
                    &ws_path,
                    Reason::Forbidden,
                    format!(
                        "cloud access {other}/{} cannot be used: a cluster in workspace {ws} uses cloud access of workspace {ws} or {ADMIN_WORKSPACE} only; {}",
                        r.name,
                        if fitting.is_empty() {
                            format!("none fits: the cluster needs {needed}")
                        } else {
                            format!("these fit: {}", described(&fitting))
                        }
                    ),
                );
                return None;
            }
            let search: Vec<&str> = match &r.workspace {
                Some(w) => vec![w.as_str()],
                None => holders.clone(),
            };
            let found = search.iter().find_map(|h| {
                match self
                    .view
                    .get(&CLOUD_ACCESS_CONFIG, Some(h), &r.name, None)
                    .as_deref()
                {
                    Some(Object::CloudAccessConfig(a)) => Some((h.to_string(), a.spec.clone())),
                    _ => None,
                }
            });
            let Some((holder, access)) = found else {
                self.push(
                    &name_path,
                    Reason::NotFound,
                    format!(
                        "cloud access {:?} does not exist in workspace {}; {}",
                        r.name,
                        search.join(" or "),
                        if fitting.is_empty() {
                            format!("none fits: the cluster needs {needed}")
                        } else {
                            format!("these fit: {}", described(&fitting))
                        }
                    ),
                );
                return None;
            };
            let mut ok = true;
            if access.cloud != cloud {
                ok = false;
                self.push(
                    &name_path,
                    Reason::Invalid,
                    format!(
                        "cloud access {} is for {}; cluster plan {plan_name} builds clusters on {cloud}",
                        r.name, access.cloud
                    ),
                );
            }
            if access.type_ != CLUSTER_PROVISIONING {
                ok = false;
                self.push(
                    &name_path,
                    Reason::Invalid,
                    format!(
                        "cloud access {} is for {}, not cluster provisioning (type {CLUSTER_PROVISIONING})",
                        r.name, access.type_
                    ),
                );
            }
            if !access.serves(&holder, ws, stage) {
                ok = false;
                self.push(
                    &name_path,
                    Reason::Forbidden,
                    format!(
                        "cloud access {holder}/{} does not serve workspace {ws} in stage {stage}: {}",
                        r.name,
                        if holder != ADMIN_WORKSPACE && holder != ws {
                            format!("it belongs to workspace {holder}")
                        } else {
                            "its scope leaves them out".to_string()
                        }
                    ),
                );
            }
            return ok.then(|| {
                (
                    CloudAccessRef {
                        workspace: Some(holder),
                        name: r.name.clone(),
                    },
                    access,
                )
            });
        }

        let ref_path = self.spec.field("cloudAccessRef");
        let own: Vec<_> = fitting
            .iter()
            .copied()
            .filter(|(h, _, _)| h == ws)
            .collect();
        let tier = if own.is_empty() { fitting.clone() } else { own };
        match tier.as_slice() {
            [] => {
                self.push(
                    &ref_path,
                    Reason::Required,
                    format!("required: no cloud access fits; the cluster needs {needed}, and an administrator must create one or widen a scope"),
                );
                None
            }
            [(h, n, s)] => Some((
                CloudAccessRef {
                    workspace: Some(h.clone()),
                    name: n.clone(),
                },
                s.clone(),
            )),
            several => {
                self.push(
                    &ref_path,
                    Reason::Required,
                    format!(
                        "required: several cloud accesses fit ({}); name one",
                        described(several)
                    ),
                );
                None
            }
        }
    }

    fn region(
        &mut self,
        provider: Option<&str>,
        choices: Option<&PlanChoices>,
        access: Option<&CloudAccessConfigSpec>,
    ) -> Option<String> {
        let provider = provider.unwrap_or_default();
        let plan_name = &self.cluster.spec.plan.name;
        let region_path = self.spec.field("region");
        let choice = choices.and_then(|c| c.regions.as_ref());
        match (&self.cluster.spec.region, choice) {
            (Some(_), None) => {
                self.push(
                    &region_path,
                    Reason::Forbidden,
                    format!(
                        "cluster plan {plan_name} does not let clusters choose a region; remove it{}",
                        access
                            .and_then(CloudAccessConfigSpec::default_region)
                            .map(|r| format!(" ({r}, the cloud access's default, is used)"))
                            .unwrap_or_default()
                    ),
                );
                None
            }
            (Some(r), Some(choice)) if !choice.permits_region(provider, r) => {
                let message = if choice.is_any() {
                    format!(
                        "{r:?} is not a public region of {} (the price catalog's list), which cluster plan {plan_name} lets clusters choose from: choose one of {}",
                        cloud_for_provider(provider).unwrap_or(provider),
                        choice.permitted_regions(provider).join(", ")
                    )
                } else {
                    format!(
                        "{r:?} is not allowed by cluster plan {plan_name}: choose one of {}",
                        choice.permitted().join(", ")
                    )
                };
                self.push(&region_path, Reason::NotSupported, message);
                None
            }
            (Some(r), Some(_)) => Some(r.clone()),
            (None, Some(choice)) if choice.default.is_some() => choice.default.clone(),
            // Any public region and no default: the cloud access's, as without a choice.
            (None, Some(choice)) if choice.is_any() => self.access_region(access, true),
            (None, Some(choice)) => {
                self.push(
                    &region_path,
                    Reason::Required,
                    format!(
                        "required: cluster plan {plan_name} has no default region; choose one of {}",
                        choice.permitted().join(", ")
                    ),
                );
                None
            }
            (None, None) => self.access_region(access, false),
        }
    }

    /// The cloud access's default region, for a cluster that names none on a plan with no
    /// default region.
    fn access_region(
        &mut self,
        access: Option<&CloudAccessConfigSpec>,
        may_choose: bool,
    ) -> Option<String> {
        let plan_name = &self.cluster.spec.plan.name;
        let region_path = self.spec.field("region");
        match access {
            // The cloud access's problems are reported already.
            None => None,
            Some(a) => match a.default_region() {
                Some(r) => Some(r.to_string()),
                None => {
                    self.push(
                        &region_path,
                        Reason::Required,
                        if may_choose {
                            format!("required: cluster plan {plan_name} lets clusters choose any public region and the cloud access has no default region (aws.defaultRegion): choose one (spec.region)")
                        } else {
                            format!("no region: cluster plan {plan_name} sets no default region (choices.regions) and the cloud access none (aws.defaultRegion); an administrator must set one")
                        },
                    );
                    None
                }
            },
        }
    }

    fn labels(&mut self, provider: Option<&str>, cloud: Option<&str>) -> BTreeMap<String, String> {
        let spec = &self.cluster.spec;
        let mut labels = BTreeMap::new();
        let labels_path = self.spec.field("clusterLabels");
        for (k, v) in spec.cluster_labels.iter().flatten() {
            if RESERVED_LABELS.contains(&k.as_str()) {
                self.push(
                    &labels_path.field(k),
                    Reason::Forbidden,
                    format!(
                        "{k} is set by Wayfinder (as are {}); remove it",
                        RESERVED_LABELS.join(", ")
                    ),
                );
            } else {
                labels.insert(k.clone(), v.clone());
            }
        }
        labels.insert("appvia.io/stage".into(), spec.stage.clone());
        labels.insert("appvia.io/plan".into(), spec.plan.name.clone());
        labels.insert("appvia.io/workspace".into(), self.workspace.to_string());
        if let Some(provider) = provider {
            labels.insert("appvia.io/provider".into(), provider.to_string());
        }
        if let Some(cloud) = cloud {
            labels.insert("appvia.io/cloud".into(), cloud.to_string());
        }
        labels
    }
}

/// The problems `NodePool::check` finds in one pool with `provider`.
fn pool_problems(pool: &NodePool, path: &FieldPath, provider: &str) -> Vec<FieldError> {
    let mut c = Checker::new(String::new());
    pool.check(&mut c, path, provider);
    c.finish().err().map(|e| e.errors).unwrap_or_default()
}

/// The estimate for a resolved cluster, its control plane at the tier its plan asks for
/// (here rather than in `cost`, which knows prices, not resolutions).
pub fn estimate_resolution(
    catalog: &crate::cost::Catalog,
    resolution: &Resolution,
) -> Result<crate::cost::Estimate, Vec<crate::cost::CostError>> {
    let c = &resolution.cluster;
    crate::cost::estimate_with_tier(
        catalog,
        &c.provider,
        &c.region,
        &c.node_pools,
        resolution.control_plane_tier.as_deref(),
    )
}
