//! `wayfinder_cluster`: the self-service resource. Besides the generic workspaced resource
//! (attributes from the model's Cluster spec shape, `workspace`, `id` = `workspace/name`,
//! `status`), it adds:
//!
//! - **A plan-time preview.** PlanResourceChange runs the server's `?dryRun=All` create or
//!   update — the same admission as the real write: validation, the plan version, network
//!   plan, compute template, cloud access, the effective provisioning policy and the cost.
//!   `estimated_monthly_cost` is then known in the plan; each refused cause becomes an
//!   error on the attribute it is about (so Terraform prints the file and line), and a
//!   network the cluster could not get (`status.plannedNetwork.problem`) is explained
//!   there too. When the configuration holds values known only after apply, the preview is
//!   skipped with a warning that says so, and the cost is unknown until then.
//! - **Waiting.** Apply writes the cluster, then polls (backing off from
//!   [`FIRST_POLL`] to [`MAX_POLL`], ended at once by StopProvider) until
//!   `status.lastReconcile.generation` reaches the written generation with `status.status`
//!   `Success`, within the `timeouts` block's `create`/`update` ([`DEFAULT_CREATE`],
//!   [`DEFAULT_UPDATE`]). `Failure` is an error with the server's reason and message, and
//!   the object's state is returned with it, so Terraform keeps (and, after a create,
//!   taints) it. Destroy waits until the server answers 404, within `delete`
//!   ([`DEFAULT_DELETE`]).
//! - **`endpoint`** (from `status.endpoint`) and **`estimated_monthly_cost`** (from
//!   `status.estimate`: `{ total, currency, node_pools }`, USD per month).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use wayfinder_model::kinds::CLUSTER;

use super::errors::{self, Subject};
use super::{ApplyContext, Behaviour, ID, PlanContext, Planned, ResourceType, STATUS};
use crate::client::{ClientError, StopSignal};
use crate::codec::{Type, Value};
use crate::diag::{self, AttrPath, Diagnostic, Step, attr, error, error_at};
use crate::functions::{cost_type, cost_value};
use crate::schema::{Attribute, Block, NestedBlock, Nesting, Presence};

/// `endpoint`.
pub(crate) const ENDPOINT: &str = "endpoint";
/// `estimated_monthly_cost`.
pub(crate) const COST: &str = "estimated_monthly_cost";
/// `timeouts`.
pub(crate) const TIMEOUTS: &str = "timeouts";

/// The `wayfinder_cluster` resource type.
pub(crate) fn resource() -> ResourceType {
    ResourceType::new(&CLUSTER)
        .with_status(&super::status_fields(&CLUSTER))
        .with_extra(extra_attributes(), vec![timeouts_block()])
        .with_behaviour(Box::new(ClusterBehaviour))
}

/// The cluster's preview, waits and extra attributes; see the module documentation.
#[derive(Debug)]
pub(crate) struct ClusterBehaviour;

#[tonic::async_trait]
impl Behaviour for ClusterBehaviour {
    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        validate_timeouts(config)
    }

    fn read_extra(&self, object: &Json, value: &mut BTreeMap<String, Value>) {
        value.insert(ENDPOINT.into(), endpoint_of(object));
        value.insert(COST.into(), cost_of(object));
    }

    fn carry_over(&self, state: &mut Value, prior: &Value) {
        if let Value::Map(m) = state {
            m.insert(TIMEOUTS.into(), prior.get(TIMEOUTS).clone());
        }
    }

    async fn plan(&self, ctx: PlanContext<'_>, planned: &mut Planned) {
        let has_errors = planned.diagnostics.iter().any(Diagnostic::is_error);
        let prior = ctx.prior;
        let create = prior.is_null() || !planned.requires_replace.is_empty();
        let Value::Map(state) = &mut planned.state else {
            return;
        };
        // Nothing configuration sets has changed: the generic plan kept every prior value.
        let unchanged = !prior.is_null() && !state.get(STATUS).is_some_and(Value::is_unknown);
        if unchanged || has_errors {
            return;
        }
        if create {
            // The ID names a cluster that exists: known once it has been created, so what
            // depends on it (`wayfinder_cluster_credentials`) waits for the cluster.
            state.insert(ID.into(), Value::Unknown);
            state.insert(ENDPOINT.into(), Value::Unknown);
        } else {
            let endpoint = prior.get(ENDPOINT);
            state.insert(
                ENDPOINT.into(),
                if endpoint.is_null() {
                    Value::Unknown
                } else {
                    endpoint.clone()
                },
            );
        }
        let (cost, diagnostics) = preview(&ctx, &Value::Map(state.clone()), create).await;
        state.insert(COST.into(), cost);
        planned.diagnostics.extend(diagnostics);
    }

    async fn after_write(
        &self,
        ctx: ApplyContext<'_>,
        stored: Json,
        create: bool,
    ) -> (Json, Vec<Diagnostic>) {
        let op = if create { Op::Create } else { Op::Update };
        let timeout = match timeout(ctx.value, op) {
            Ok(t) => t,
            Err(d) => return (stored, vec![d]),
        };
        let kind = ctx.resource.kind;
        let waited = wait(
            || ctx.client.read_object(kind, ctx.at),
            Some(generation(&stored)),
            timeout,
            POLLING,
            ctx.client.stop_signal(),
        )
        .await;
        let what = ctx.at.id();
        match waited {
            Ok(Waited::Done(Some(o))) => (o, Vec::new()),
            Ok(w) => {
                let d = wait_diagnostic(&what, op, &w);
                let last = match w {
                    Waited::Failed(o, _) => Some(o),
                    Waited::TimedOut(o, _) | Waited::Stopped(o) | Waited::Done(o) => o,
                    Waited::Vanished => None,
                };
                (last.unwrap_or(stored), d.into_iter().collect())
            }
            Err(e) => (stored, wait_error(ctx, &e, "wait for")),
        }
    }

    async fn after_delete(&self, ctx: ApplyContext<'_>) -> Vec<Diagnostic> {
        let timeout = match timeout(ctx.value, Op::Delete) {
            Ok(t) => t,
            Err(d) => return vec![d],
        };
        let kind = ctx.resource.kind;
        match wait(
            || ctx.client.read_object(kind, ctx.at),
            None,
            timeout,
            POLLING,
            ctx.client.stop_signal(),
        )
        .await
        {
            Ok(w) => wait_diagnostic(&ctx.at.id(), Op::Delete, &w)
                .into_iter()
                .collect(),
            Err(e) => wait_error(ctx, &e, "wait for the deletion of"),
        }
    }
}

fn wait_error(ctx: ApplyContext<'_>, e: &ClientError, action: &str) -> Vec<Diagnostic> {
    let subject = Subject {
        object: format!("Cluster {}", ctx.at.id()),
        type_name: &ctx.resource.type_name,
        import_id: ctx.at.id(),
        action,
    };
    errors::diagnostics(e, &subject, &|p| ctx.resource.attribute_path(p))
}

/// Runs the server's dry run for a planned cluster: its `estimated_monthly_cost` (unknown
/// when the preview cannot run) and the diagnostics it gives.
async fn preview(ctx: &PlanContext<'_>, planned: &Value, create: bool) -> (Value, Vec<Diagnostic>) {
    let r = ctx.resource;
    // What configuration (and the workspace default) sets, without what the server computes.
    let mut settable = planned.clone();
    if let Value::Map(m) = &mut settable {
        for a in r
            .schema()
            .block
            .attributes
            .iter()
            .filter(|a| a.is_computed())
        {
            m.remove(&a.name);
        }
        m.remove(TIMEOUTS);
    }
    let mut unknown = Vec::new();
    unknown_paths(&settable, "", &mut unknown);
    if !unknown.is_empty() {
        return (Value::Unknown, vec![skipped_preview(&unknown)]);
    }
    let Some(client) = ctx.client else {
        return (
            Value::Unknown,
            vec![diag::warning(
                None,
                "Cost and policy preview skipped: the provider is not configured yet",
                "The wayfinder provider's configuration uses values known only after apply, so Terraform cannot ask Wayfinder now whether the cluster is allowed and what it costs; `estimated_monthly_cost` is unknown in this plan.",
            )],
        );
    };
    let Some(at) = r.address(planned) else {
        return (Value::Unknown, Vec::new());
    };
    let object = r.to_object(planned);
    let kind = r.kind;
    let ws = at.workspace.as_deref();
    let mut result = client.preview_object(kind, ws, &at, &object, create).await;
    // Replacing a cluster (tainted, or a new name in its place) while the old one still
    // exists: preview the new spec against the existing object instead.
    if create
        && matches!(&result, Err(ClientError::Api(a)) if a.status == 409 && a.reason == "AlreadyExists")
    {
        result = client.preview_object(kind, ws, &at, &object, false).await;
    }
    let what = format!("Cluster {}", at.id());
    match result {
        Ok((dry, warnings)) => {
            let mut diagnostics: Vec<Diagnostic> = network_problem(&dry, ctx.config, &what)
                .into_iter()
                .collect();
            diagnostics.extend(cost_warnings(&dry, &warnings, &what, &|p| {
                r.attribute_path(p)
            }));
            let cost = cost_of(&dry);
            (
                if cost.is_null() { Value::Unknown } else { cost },
                diagnostics,
            )
        }
        Err(e) => {
            let subject = Subject {
                object: what,
                type_name: &r.type_name,
                import_id: at.id(),
                action: if create { "create" } else { "update" },
            };
            let mut diagnostics = errors::diagnostics(&e, &subject, &|p| r.attribute_path(p));
            let missing = errors::missing_references(&e, &subject);
            for (i, d) in diagnostics.iter_mut().enumerate() {
                if let Some(path) = &mut d.path {
                    point_at_pool_size(path, ctx.config);
                }
                if missing.get(i).copied().unwrap_or(false) {
                    defer_to_apply(d);
                }
            }
            (Value::Unknown, diagnostics)
        }
    }
}

/// A preview refused because something the cluster refers to does not exist yet (its
/// workspace, stage, plan version, compute template, network plan, package or cloud access)
/// becomes a warning: the same apply may create it. The summary still names what is
/// missing; the real create is admitted in full at apply, and refused there with the same
/// diagnostic (as an error) if it still does not exist or the cluster does not fit.
fn defer_to_apply(d: &mut Diagnostic) {
    d.severity = diag::Severity::Warning;
    d.summary = format!(
        "{} yet: cost and policy preview deferred to apply",
        d.summary
    );
    d.detail.push_str(
        "\n\nIf this configuration creates it, Wayfinder checks the cluster in full when it is applied (the same admission the preview runs) and refuses it then if it does not fit; if nothing creates it, the apply fails with this error. `estimated_monthly_cost` is unknown in this plan.",
    );
}

/// A diagnostic about a whole node pool (`node_pools[1]`, e.g. the dearest pool over a cost
/// ceiling) goes to the attribute that sets how big the pool can grow — `autoscaling.max_size`,
/// else `size` — so Terraform shows a line inside the block rather than the resource's.
fn point_at_pool_size(path: &mut AttrPath, config: &Value) {
    let [Step::Attr(n), Step::Index(i)] = path.steps.as_slice() else {
        return;
    };
    if n != "node_pools" {
        return;
    }
    let pool = config
        .get("node_pools")
        .as_list()
        .and_then(|l| l.get(usize::try_from(*i).ok()?));
    let Some(pool) = pool else { return };
    let tail: &[&str] = if !pool.get("autoscaling").get("max_size").is_null() {
        &["autoscaling", "max_size"]
    } else if !pool.get("size").is_null() {
        &["size"]
    } else {
        &["machine"]
    };
    for name in tail {
        path.steps.extend(attr(name).steps);
    }
}

/// Default `timeouts.create`.
pub(crate) const DEFAULT_CREATE: Duration = Duration::from_secs(30 * 60);
/// Default `timeouts.update`.
pub(crate) const DEFAULT_UPDATE: Duration = Duration::from_secs(30 * 60);
/// Default `timeouts.delete`.
pub(crate) const DEFAULT_DELETE: Duration = Duration::from_secs(20 * 60);
/// The first wait between status polls; it grows by half each poll up to [`MAX_POLL`].
pub(crate) const FIRST_POLL: Duration = Duration::from_millis(500);
/// The longest wait between status polls.
pub(crate) const MAX_POLL: Duration = Duration::from_secs(5);

/// The computed attributes the cluster adds to the generic ones.
pub(crate) fn extra_attributes() -> Vec<Attribute> {
    vec![
        Attribute::plain(
            "endpoint",
            Type::String,
            Presence::Computed,
            "The cluster's Kubernetes API endpoint (`status.endpoint`), once it has been built.",
        ),
        Attribute::plain(
            "estimated_monthly_cost",
            cost_type(),
            Presence::Computed,
            "The estimated monthly cost in US dollars, known at plan time from the server's dry run: `total` (every node pool at its largest size plus the control plane), `currency` (`USD`) and `node_pools` (per pool, keyed by the pool's logical name). The same figures as `provider::wayfinder::monthly_cost` and the server's admission. Unknown, with a warning on the attribute whose price is missing, when the server's price catalog lacks the region or an instance type and no cost limit applies.",
        ),
    ]
}

/// The `timeouts` block.
pub(crate) fn timeouts_block() -> NestedBlock {
    let d = |name: &str, default: Duration, what: &str| {
        Attribute::plain(
            name,
            Type::String,
            Presence::Optional,
            &format!(
                "How long to wait for {what}, as a duration such as `45m` or `1h30m`. Default `{}`.",
                humantime::format_duration(default)
            ),
        )
    };
    NestedBlock {
        name: "timeouts".into(),
        json: "",
        nesting: Nesting::Single,
        required: false,
        block: Block {
            description: "How long apply and destroy wait for the cluster.".into(),
            attributes: vec![
                d(
                    "create",
                    DEFAULT_CREATE,
                    "a new cluster to be built (`status.status` `Success`)",
                ),
                d(
                    "update",
                    DEFAULT_UPDATE,
                    "a change to be applied to the cluster",
                ),
                d("delete", DEFAULT_DELETE, "the cluster to be deleted"),
            ],
            blocks: Vec::new(),
        },
    }
}

/// Which wait a timeout is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    fn key(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    fn default(self) -> Duration {
        match self {
            Op::Create => DEFAULT_CREATE,
            Op::Update => DEFAULT_UPDATE,
            Op::Delete => DEFAULT_DELETE,
        }
    }
}

/// The timeout for `op` from a resource value's `timeouts` block.
pub(crate) fn timeout(value: &Value, op: Op) -> Result<Duration, Diagnostic> {
    match value.get("timeouts").get(op.key()) {
        Value::String(s) => wayfinder_model::common::parse_duration(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                error_at(
                    Some(timeouts_path(op.key())),
                    format!("Invalid timeouts.{}", op.key()),
                    format!(
                        "{s:?} is not a positive duration: use e.g. \"30m\", \"1h30m\" or \"90s\""
                    ),
                )
            }),
        _ => Ok(op.default()),
    }
}

fn timeouts_path(key: &str) -> AttrPath {
    let mut p = attr("timeouts");
    p.steps.extend(attr(key).steps);
    p
}

/// Checks the `timeouts` block of a (possibly partly unknown) configuration.
pub(crate) fn validate_timeouts(config: &Value) -> Vec<Diagnostic> {
    [Op::Create, Op::Update, Op::Delete]
        .into_iter()
        .filter_map(|op| timeout(config, op).err())
        .collect()
}

/// `endpoint` from a stored cluster.
pub(crate) fn endpoint_of(object: &Json) -> Value {
    match object.pointer("/status/endpoint").and_then(Json::as_str) {
        Some(e) if !e.is_empty() => Value::String(e.to_string()),
        _ => Value::Null,
    }
}

/// The server's warnings on a preview (e.g. a price the catalog lacks, so the cost is
/// unknown) as Terraform warnings, on the attribute the first missing price belongs to
/// (`status.estimate.missing[0].field`).
fn cost_warnings(
    dry: &Json,
    warnings: &[String],
    what: &str,
    attribute: &dyn Fn(&wayfinder_model::error::FieldPath) -> Option<AttrPath>,
) -> Vec<Diagnostic> {
    let path = dry
        .pointer("/status/estimate/missing/0/field")
        .and_then(Json::as_str)
        .and_then(wayfinder_model::error::FieldPath::parse)
        .and_then(|p| attribute(&p));
    warnings
        .iter()
        .map(|w| {
            diag::warning(
                path.clone(),
                format!("{what}: estimated monthly cost unknown"),
                format!(
                    "Wayfinder admits the cluster, but {w}. `estimated_monthly_cost` is unknown in this plan."
                ),
            )
        })
        .collect()
}

/// `estimated_monthly_cost` from a cluster's `status.estimate` (stored or dry-run).
pub(crate) fn cost_of(object: &Json) -> Value {
    let Some(e) = object.pointer("/status/estimate") else {
        return Value::Null;
    };
    let (Some(total), Some(currency)) = (
        e.get("totalMonthlyCents").and_then(Json::as_i64),
        e.get("currency").and_then(Json::as_str),
    ) else {
        return Value::Null;
    };
    let pools: Vec<(&str, i64)> = e
        .get("pools")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("logicalName")?.as_str()?,
                p.get("monthlyCents")?.as_i64()?,
            ))
        })
        .collect();
    cost_value(total, currency, pools)
}

/// The value of `status.status`, if any.
pub(crate) fn phase(object: &Json) -> Option<&str> {
    object.pointer("/status/status").and_then(Json::as_str)
}

/// `metadata.generation` of a stored object.
pub(crate) fn generation(object: &Json) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Json::as_i64)
        .unwrap_or(0)
}

fn reconciled_generation(object: &Json) -> i64 {
    object
        .pointer("/status/lastReconcile/generation")
        .and_then(Json::as_i64)
        .unwrap_or(0)
}

/// The reason and message of the cluster's `Ready` condition, else `status.message`.
pub(crate) fn failure_reason(object: &Json) -> String {
    let ready = object
        .pointer("/status/conditions")
        .and_then(Json::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let message = ready
        .and_then(|c| c["message"].as_str())
        .or_else(|| object.pointer("/status/message").and_then(Json::as_str))
        .unwrap_or("no message");
    match ready.and_then(|c| c["reason"].as_str()) {
        Some(r) => format!("{r}: {message}"),
        None => message.to_string(),
    }
}

/// How a wait for the cluster ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Waited {
    /// Built (`Success` for the generation), or gone (when waiting for deletion).
    Done(Option<Json>),
    /// `Failure` (or `DeleteFailed`) for the generation: the object and why.
    Failed(Json, String),
    /// Still not done when the timeout ran out: the last object seen.
    TimedOut(Option<Json>, Duration),
    /// Terraform asked the provider to stop: the last object seen.
    Stopped(Option<Json>),
    /// The object disappeared while we waited for it to be built.
    Vanished,
}

/// How often to poll: from `first`, growing by half each time, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Polling {
    pub first: Duration,
    pub max: Duration,
}

/// The polling apply and destroy use: [`FIRST_POLL`] up to [`MAX_POLL`].
pub(crate) const POLLING: Polling = Polling {
    first: FIRST_POLL,
    max: MAX_POLL,
};

/// Polls `fetch` (the cluster, `None` once the server answers 404) until it is built for
/// `generation` — or, with `generation` `None`, until it is gone — within `timeout`.
pub(crate) async fn wait<F, Fut>(
    mut fetch: F,
    generation: Option<i64>,
    timeout: Duration,
    polling: Polling,
    stop: &StopSignal,
) -> Result<Waited, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Json>, ClientError>>,
{
    let started = Instant::now();
    let mut delay = polling.first;
    loop {
        let current = fetch().await?;
        match (generation, &current) {
            (None, None) => return Ok(Waited::Done(None)),
            (Some(_), None) => return Ok(Waited::Vanished),
            (None, Some(o)) if phase(o) == Some("DeleteFailed") => {
                return Ok(Waited::Failed(o.clone(), failure_reason(o)));
            }
            (Some(g), Some(o)) if reconciled_generation(o) >= g => match phase(o) {
                Some("Success") => return Ok(Waited::Done(Some(o.clone()))),
                Some("Failure") => return Ok(Waited::Failed(o.clone(), failure_reason(o))),
                _ => {}
            },
            _ => {}
        }
        if let Some(o) = &current {
            tracing::debug!(
                status = phase(o).unwrap_or("(none)"),
                generation = self::generation(o),
                reconciled = reconciled_generation(o),
                "waiting for the cluster"
            );
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Ok(Waited::TimedOut(current, timeout));
        }
        if !stop.sleep(delay.min(timeout - elapsed)).await {
            return Ok(Waited::Stopped(current));
        }
        delay = (delay + delay / 2).min(polling.max);
    }
}

/// The diagnostic for a wait that did not end well; `None` when it did.
pub(crate) fn wait_diagnostic(what: &str, op: Op, w: &Waited) -> Option<Diagnostic> {
    let key = op.key();
    match w {
        Waited::Done(_) => None,
        Waited::Failed(_, reason) => Some(error(
            format!("Cluster {what} failed"),
            match op {
                Op::Delete => format!(
                    "Wayfinder could not delete cluster {what}: {reason}\n\nFix the cause and run `terraform destroy` (or apply) again."
                ),
                _ => format!(
                    "Wayfinder reported Failure for cluster {what}: {reason}\n\nThe cluster object exists on the server and is recorded in the state{}. Fix the cause (see the reason above), then apply again: Terraform replaces the failed cluster.",
                    if op == Op::Create { " as tainted" } else { "" }
                ),
            },
        )),
        Waited::TimedOut(last, t) => Some(error(
            format!("Timed out waiting for cluster {what}"),
            format!(
                "The cluster was not {} within {} (timeouts.{key}); its status is {}. It may still finish: run `terraform apply` again later, or raise timeouts.{key}.",
                if op == Op::Delete { "gone" } else { "built" },
                humantime::format_duration(*t),
                last.as_ref()
                    .and_then(|o| phase(o))
                    .map(|p| format!("{p:?}"))
                    .unwrap_or_else(|| "not reported yet".into())
            ),
        )),
        Waited::Stopped(last) => Some(error(
            "Operation cancelled",
            format!(
                "Terraform asked the provider to stop while it waited for cluster {what} ({}); Wayfinder goes on with the work. {}",
                last.as_ref()
                    .and_then(|o| phase(o))
                    .unwrap_or("no status yet"),
                match op {
                    Op::Create =>
                        "Terraform records the cluster as tainted, so the next `terraform apply` replaces it; to keep it instead, run `terraform untaint` on its address first.",
                    Op::Update =>
                        "The next `terraform plan` shows the cluster as the server has it.",
                    Op::Delete =>
                        "Run `terraform destroy` (or apply) again to finish the deletion.",
                }
            ),
        )),
        Waited::Vanished => Some(error(
            format!("Cluster {what} disappeared"),
            "The cluster was deleted on the server while Terraform waited for it to be built. Apply again to create it.",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The plan-time preview

/// Paths of the first attributes holding unknown values (`plan.name`), for the warning.
pub(crate) fn unknown_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Unknown => out.push(prefix.to_string()),
        Value::Map(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                unknown_paths(v, &p, out);
            }
        }
        Value::List(items) => {
            for (i, v) in items.iter().enumerate() {
                unknown_paths(v, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The warning when the preview cannot run because `unknown` values are known only after
/// apply.
pub(crate) fn skipped_preview(unknown: &[String]) -> Diagnostic {
    let first = unknown
        .first()
        .map(String::as_str)
        .unwrap_or("configuration");
    let mut path = AttrPath::default();
    for part in first.split('.') {
        let name = part.split('[').next().unwrap_or(part);
        path.steps.extend(attr(name).steps);
        if let Some(i) = part
            .split_once('[')
            .and_then(|(_, r)| r.trim_end_matches(']').parse::<i64>().ok())
        {
            path.steps.push(Step::Index(i));
        }
    }
    diag::warning(
        Some(path),
        "Cost and policy preview skipped: values known only after apply",
        format!(
            "{} {} known only after apply, so Terraform cannot ask Wayfinder now whether the cluster is allowed and what it costs; `estimated_monthly_cost` is unknown in this plan. Wayfinder checks the cluster when it is applied (admission refuses anything the preview would have); plan again once those values are known to see the estimate.",
            unknown.join(", "),
            if unknown.len() == 1 { "is" } else { "are" }
        ),
    )
}

/// A network the dry run says the cluster could not get: an error on `network` (or on the
/// plan, whose default network it would use).
pub(crate) fn network_problem(dry_run: &Json, config: &Value, object: &str) -> Option<Diagnostic> {
    let planned = dry_run.pointer("/status/plannedNetwork")?;
    let problem = planned.get("problem")?.as_str()?;
    let request = match (
        planned.pointer("/request/size"),
        planned.pointer("/request/cidr"),
    ) {
        (Some(s), _) => format!("a /{s} network"),
        (_, Some(c)) => format!("network {}", c.as_str().unwrap_or_default()),
        _ => "a network".to_string(),
    };
    let network_plan = planned
        .get("networkPlan")
        .and_then(Json::as_str)
        .unwrap_or("(unknown)");
    let network = config.get("network");
    let path = if network.is_null() {
        let mut p = attr("plan");
        p.steps.extend(attr("name").steps);
        p
    } else if !network.get("cidr").is_null() {
        let mut p = attr("network");
        p.steps.extend(attr("cidr").steps);
        p
    } else if !network.get("size").is_null() {
        let mut p = attr("network");
        p.steps.extend(attr("size").steps);
        p
    } else {
        attr("network")
    };
    Some(error_at(
        Some(path),
        format!("Cluster network unavailable: {problem}"),
        format!(
            "{object} asks for {request} (network plan {network_plan}), and Wayfinder could not give it one now: {problem}.\n\nThe server would accept the cluster but fail to build it, so Terraform stops here. Choose another network (a different `network` size, or a free `cidr` inside the assignable ranges), or ask an administrator for more assignable ranges."
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn obj(status: &str, generation: i64, reconciled: i64) -> Json {
        json!({
            "metadata": {"name": "dev", "generation": generation},
            "status": {
                "status": status,
                "message": "m",
                "lastReconcile": {"generation": reconciled},
                "conditions": [{"type": "Ready", "status": "False", "reason": "SimulatedFailure", "message": "quota exceeded"}],
            }
        })
    }

    const FAST: Polling = Polling {
        first: Duration::from_millis(5),
        max: Duration::from_millis(20),
    };

    type Answer = std::future::Ready<Result<Option<Json>, ClientError>>;

    /// A fetch that answers the given objects in turn (the last repeated).
    fn script(answers: Vec<Option<Json>>) -> (impl FnMut() -> Answer, Arc<Mutex<usize>>) {
        let calls = Arc::new(Mutex::new(0usize));
        let seen = calls.clone();
        let f = move || {
            let mut n = seen.lock().unwrap();
            let a = answers[(*n).min(answers.len() - 1)].clone();
            *n += 1;
            std::future::ready(Ok(a))
        };
        (f, calls)
    }

    #[tokio::test]
    async fn waits_for_success_of_the_new_generation() {
        let (f, calls) = script(vec![
            Some(obj("Success", 2, 1)), // the previous generation's success does not count
            Some(obj("Updating", 2, 1)),
            Some(obj("Success", 2, 2)),
        ]);
        let w = wait(
            f,
            Some(2),
            Duration::from_secs(60),
            FAST,
            &StopSignal::new(),
        )
        .await
        .unwrap();
        assert!(matches!(w, Waited::Done(Some(_))), "{w:?}");
        assert_eq!(*calls.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn failure_carries_the_servers_reason() {
        let (f, _) = script(vec![
            Some(obj("Creating", 1, 0)),
            Some(obj("Failure", 1, 1)),
        ]);
        let w = wait(
            f,
            Some(1),
            Duration::from_secs(60),
            FAST,
            &StopSignal::new(),
        )
        .await
        .unwrap();
        let Waited::Failed(_, reason) = &w else {
            panic!("{w:?}")
        };
        assert_eq!(reason, "SimulatedFailure: quota exceeded");
        let d = wait_diagnostic("pay/dev", Op::Create, &w).unwrap();
        assert!(d.detail.contains("as tainted"), "{}", d.detail);
    }

    #[tokio::test]
    async fn times_out_with_the_last_status() {
        let (f, _) = script(vec![Some(obj("Creating", 1, 0))]);
        let w = wait(
            f,
            Some(1),
            Duration::from_millis(200),
            FAST,
            &StopSignal::new(),
        )
        .await
        .unwrap();
        assert!(matches!(w, Waited::TimedOut(Some(_), _)), "{w:?}");
        let d = wait_diagnostic("pay/dev", Op::Create, &w).unwrap();
        assert!(d.detail.contains("\"Creating\""), "{}", d.detail);
        assert!(d.detail.contains("timeouts.create"), "{}", d.detail);
    }

    #[tokio::test]
    async fn deletion_waits_until_gone() {
        let (f, calls) = script(vec![
            Some(obj("Deleting", 1, 1)),
            Some(obj("Deleting", 1, 1)),
            None,
        ]);
        let w = wait(f, None, Duration::from_secs(60), FAST, &StopSignal::new())
            .await
            .unwrap();
        assert_eq!(w, Waited::Done(None));
        assert_eq!(*calls.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn stop_ends_the_wait() {
        let (f, _) = script(vec![Some(obj("Creating", 1, 0))]);
        let stop = StopSignal::new();
        let s = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.stop();
        });
        let started = Instant::now();
        let w = wait(f, Some(1), Duration::from_secs(600), POLLING, &stop)
            .await
            .unwrap();
        assert!(matches!(w, Waited::Stopped(Some(_))), "{w:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn timeouts_default_and_parse() {
        let v = Value::from_json(
            &json!({"timeouts": {"create": "90s", "update": null, "delete": "1h"}}),
        );
        assert_eq!(timeout(&v, Op::Create).unwrap(), Duration::from_secs(90));
        assert_eq!(timeout(&v, Op::Update).unwrap(), DEFAULT_UPDATE);
        assert_eq!(timeout(&v, Op::Delete).unwrap(), Duration::from_secs(3600));
        assert_eq!(timeout(&Value::Null, Op::Delete).unwrap(), DEFAULT_DELETE);
        let bad = Value::from_json(&json!({"timeouts": {"create": "soon"}}));
        let d = validate_timeouts(&bad);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, Some(timeouts_path("create")));
    }

    #[test]
    fn cost_comes_from_the_estimate_in_cents() {
        let o = json!({"status": {"estimate": {
            "currency": "USD", "totalMonthlyCents": 61234, "totalMonthlyUSD": 612.34,
            "pools": [{"logicalName": "compute", "monthlyCents": 54000}]
        }}});
        let v = cost_of(&o);
        assert_eq!(v, cost_value(61234, "USD", [("compute", 54000)]));
        assert!(cost_of(&json!({"status": {}})).is_null());
    }

    #[test]
    fn unknown_paths_are_listed_for_the_warning() {
        let v = Value::Map(
            [
                ("name".to_string(), Value::String("x".into())),
                (
                    "plan".to_string(),
                    Value::Map([("name".to_string(), Value::Unknown)].into()),
                ),
            ]
            .into(),
        );
        let mut out = Vec::new();
        unknown_paths(&v, "", &mut out);
        assert_eq!(out, ["plan.name"]);
        let d = skipped_preview(&out);
        assert_eq!(d.severity, crate::diag::Severity::Warning);
        assert_eq!(d.path.unwrap().steps.len(), 2);
    }

    #[test]
    fn a_diagnostic_on_a_whole_pool_points_at_its_size() {
        let config = Value::from_json(&json!({"node_pools": [
            {"machine": "m6i.large", "size": 2, "autoscaling": null},
            {"machine": "m6i.large", "size": 2, "autoscaling": {"max_size": 8}},
        ]}));
        let pool = |i: i64| {
            let mut p = attr("node_pools");
            p.steps.push(Step::Index(i));
            p
        };
        let mut p = pool(0);
        point_at_pool_size(&mut p, &config);
        assert_eq!(crate::diag::render_path(&p), "node_pools[0].size");
        let mut p = pool(1);
        point_at_pool_size(&mut p, &config);
        assert_eq!(
            crate::diag::render_path(&p),
            "node_pools[1].autoscaling.max_size"
        );
        let mut p = pool(1);
        p.steps.extend(attr("machine").steps);
        point_at_pool_size(&mut p, &config);
        assert_eq!(
            crate::diag::render_path(&p),
            "node_pools[1].machine",
            "already precise"
        );
    }

    #[test]
    fn a_network_problem_is_explained_on_the_network() {
        let dry = json!({"status": {"plannedNetwork": {
            "request": {"size": 22}, "networkPlan": "eks-assignable",
            "problem": "no free /22 network is left in admin/aws-nonprod (10.0.0.0/16); delete a cluster, ask for a smaller network"
        }}});
        let config = Value::from_json(&json!({"network": {"size": 22, "cidr": null}}));
        let d = network_problem(&dry, &config, "Cluster pay/dev").unwrap();
        assert_eq!(d.path.as_ref().unwrap().steps.len(), 2);
        assert!(d.summary.contains("no free /22 network"), "{}", d.summary);
        assert!(
            d.detail
                .contains("asks for a /22 network (network plan eks-assignable)"),
            "{}",
            d.detail
        );
        assert!(
            network_problem(
                &json!({"status": {"plannedNetwork": {"cidr": "10.0.0.0/22"}}}),
                &config,
                "x"
            )
            .is_none()
        );
    }
}
