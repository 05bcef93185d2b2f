//! The cluster reconciler: a background task that builds, changes and deletes clusters
//! through a `CloudDriver`, reporting progress the Wayfinder way (wayfinder-model.md §0).
//!
//! It lists the clusters of every workspace once, then follows the store's watch of
//! Cluster changes, starting one task per cluster that needs work (at most one per cluster
//! at a time; a change seen while a cluster's task runs is looked at again when it ends).
//! Every [`RESYNC_INTERVAL`] it lists again, which retries failed deletes whose back-off
//! has passed and catches anything a lagging watch missed (the watch is then re-opened):
//!
//! - no status, `Pending`, or `metadata.generation` ≠ `status.lastReconcile.generation`:
//!   build (`Creating`, or `Updating` when the cluster was built before), then `Success`
//!   or `Failure`;
//! - `Creating`/`Updating` left by a stopped server: the same, again (drivers are
//!   idempotent) — all state is in the store, nothing only in memory;
//! - `Deleting` ([`begin_deletion`], what the API's DELETE does to a cluster): the driver
//!   deletes it, then the row is removed, which frees its network;
//! - `DeleteFailed` once `status.retryAfter` has passed: deleting again, backing off
//!   ([`delete_backoff`]) after each failure (`status.deleteAttempts`);
//! - `Success`, for a cloud whose driver corrects drift (a real cloud, not the simulation),
//!   at most every [`Options::drift_interval`]: provisioned again as it is, so what changed
//!   behind Wayfinder's back (a node group rescaled or deleted in the console) is put back;
//!   when something was, `status.message` and a `DriftCorrected` condition say what.
//!
//! **Status written** (`status` of the Cluster):
//!
//! | field | meaning |
//! |---|---|
//! | `status` | `Pending`, `Creating`, `Updating`, `Success`, `Failure`, `Deleting`, `DeleteFailed` |
//! | `message` | what is happening or what went wrong, for a person |
//! | `conditions[type=Ready]` | `True`/`False`, `reason` (`InProgress`, `Ready`, `ResolutionFailed`, `NetworkUnavailable`, the driver's reason, `Deleting`), `observedGeneration`, `lastTransitionTime`, `message` |
//! | `lastReconcile` | `{time, generation}`: the generation finished (successfully or not) |
//! | `network` | `{cidr, from, exclusive}` ([`NetworkAllocation`]), written as soon as allocated |
//! | `endpoint` | the Kubernetes API endpoint, once built |
//! | `provider`, `cloud`, `region`, `kubernetesVersion` | what was built |
//! | `packages[]` | `{name, version, status: Installed}`, the plan's packages |
//! | `clusterPolicies[]` | names of the GlobalClusterPolicies whose `spec.target.cluster` selects the cluster's labels |
//! | `deletionRequested` | when deletion was asked for |
//!
//! **Concurrency.** Every status write is one [`Store::mutate`]: the current row is read,
//! only `status` (and `metadata.resourceVersion`) is changed, and the row is written back
//! in the same `BEGIN IMMEDIATE` transaction with a new resource version, so a user's
//! concurrent PUT is never lost and never overwritten. A write is dropped when the row is
//! gone or has another uid (deleted, maybe re-created), and build results are dropped once
//! the cluster is `Deleting`. Networks are allocated under one lock, so two clusters never
//! get the same block; with replicas on etcd the allocation is also made inside its status
//! write's decision, guarded by every cluster's network it read (see `prepare`), so a new
//! leader whose cache lags its predecessor's last allocation decides again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{Mutex as AsyncMutex, watch};
use tokio::task::JoinSet;
use wayfinder_model::cloudaccess::CLUSTER_MANAGER;
use wayfinder_model::cluster::{Cluster, ClusterStatus, PackageStatus};
use wayfinder_model::kinds::{CLUSTER, GLOBAL_CLUSTER_POLICY};
use wayfinder_model::object::{Condition, LastReconcile};
use wayfinder_model::resolve::{Resolution, ResolveOptions};
use wayfinder_model::{Object, ObjectView, resolve_cluster_with};

use crate::driver::{
    CloudAccess, CloudDriver, CloudIdentityAccess, ClusterId, ClusterTarget, DriverFailure,
    ProvisionRequest,
};
use crate::network::{self, NetworkAllocation};
use crate::store::{
    Batch, EventType, Fence, ListFilter, Mutation, NewRow, ObjectKey, Reads, Store, StoreError,
    StoredObject, Watch, WatchEvent,
};
use crate::view::StoreView;

/// How often every cluster is looked at, besides the watch.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(5);

/// How long to wait before deleting again after `attempts` failed deletes: 5 s, doubling,
/// at most 5 minutes.
pub fn delete_backoff(attempts: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(6)))
        .min(Duration::from_secs(300))
}

/// Status values the reconciler writes.
pub mod phase {
    pub const PENDING: &str = "Pending";
    pub const CREATING: &str = "Creating";
    pub const UPDATING: &str = "Updating";
    pub const SUCCESS: &str = "Success";
    pub const FAILURE: &str = "Failure";
    pub const DELETING: &str = "Deleting";
    pub const DELETE_FAILED: &str = "DeleteFailed";
}

/// The running reconciler; [`stop`](ReconcilerHandle::stop) it before closing the store.
#[derive(Debug)]
pub struct ReconcilerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ReconcilerHandle {
    /// Stops scanning and abandons work in progress (it resumes from the store on the next
    /// start), then waits for the task to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// How the reconciler runs, beyond its store and driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How often a built cluster of a drift-correcting driver is provisioned again.
    pub drift_interval: Duration,
}

/// The default [`Options::drift_interval`].
pub const DEFAULT_DRIFT_INTERVAL: Duration = Duration::from_secs(300);

impl Default for Options {
    fn default() -> Self {
        Self {
            drift_interval: DEFAULT_DRIFT_INTERVAL,
        }
    }
}

/// Starts the reconciler on `store`, building clusters with `driver`.
pub fn spawn(store: Arc<Store>, driver: Arc<dyn CloudDriver>) -> ReconcilerHandle {
    spawn_with(store, driver, Options::default())
}

/// [`spawn`] with `options`.
pub fn spawn_with(
    store: Arc<Store>,
    driver: Arc<dyn CloudDriver>,
    options: Options,
) -> ReconcilerHandle {
    let (stop, stopped) = watch::channel(false);
    let reconciler = Arc::new(Reconciler {
        store,
        driver,
        allocation: AsyncMutex::new(network::TakenNetworks::default()),
        options,
        fence: std::sync::Mutex::new(None),
    });
    let task = tokio::spawn(reconciler.run(stopped));
    ReconcilerHandle { stop, task }
}

#[derive(Debug)]
struct Reconciler {
    store: Arc<Store>,
    driver: Arc<dyn CloudDriver>,
    /// Held while a network is chosen and recorded; what is taken, kept current.
    allocation: AsyncMutex<network::TakenNetworks>,
    options: Options,
    /// The fence of this replica's leadership, for every status write (`None` where the
    /// store has one writer anyway).
    fence: std::sync::Mutex<Option<Fence>>,
}

impl Reconciler {
    /// The fence for status writes.
    fn fence(&self) -> Option<Fence> {
        self.fence.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until this replica leads the reconciler (at once on SQLite); the receiver that
    /// turns `true` when it no longer does. `None` when stopped meanwhile.
    async fn lead(&self, stopped: &mut watch::Receiver<bool>) -> Option<watch::Receiver<bool>> {
        loop {
            let campaign = self.store.run(|s| s.campaign("reconciler"));
            let result = tokio::select! {
                _ = stopped.changed() => return None,
                r = campaign => r.and_then(|r| r),
            };
            match result {
                Ok(leadership) => {
                    *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = leadership.fence;
                    return Some(leadership.lost);
                }
                Err(StoreError::Closed) => return None,
                Err(e) => {
                    tracing::warn!(error = %crate::ErrorChain(&e), "reconciler cannot campaign for leadership; retrying");
                    tokio::select! {
                        _ = stopped.changed() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let Some(mut lost) = self.lead(&mut stopped).await else {
            tracing::info!("reconciler stopped");
            return;
        };
        tracing::info!(
            resync_secs = RESYNC_INTERVAL.as_secs(),
            "reconciler started"
        );
        let mut work = Work::default();
        let mut changes: Option<Watch> = None;
        let mut relead: Option<bool> = None;
        let mut resync = tokio::time::interval(RESYNC_INTERVAL);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Some(closed) = relead.take() {
                // Another replica leads now: stop, and campaign again.
                work.tasks.shutdown().await;
                work = Work::default();
                changes = None;
                if closed {
                    break;
                }
                tracing::warn!("reconciler lost its leadership; campaigning again");
                match self.lead(&mut stopped).await {
                    Some(l) => lost = l,
                    None => break,
                }
            }
            if changes.is_none() {
                // List, then watch from the list's resource version: nothing is missed.
                let opened = self
                    .store
                    .run(|s| -> Result<_, StoreError> {
                        let rv = s.resource_version()?;
                        let keys = scan(s)?;
                        let filter = ListFilter::every(&CLUSTER);
                        Ok((keys, s.watch_changes(rv, filter)?))
                    })
                    .await
                    .and_then(|r| r);
                match opened {
                    Ok((keys, w)) => {
                        changes = Some(w);
                        for key in keys {
                            work.start(&self, key);
                        }
                    }
                    Err(StoreError::Closed) => break,
                    Err(e) => {
                        tracing::warn!(error = %crate::ErrorChain(&e), "reconciler cannot list clusters; retrying");
                    }
                }
            }
            tokio::select! {
                _ = stopped.changed() => break,
                gone = lost.wait_for(|l| *l) => relead = Some(gone.is_err()),
                event = next_change(&mut changes) => match event {
                    Some(Ok(e)) if e.event_type != EventType::Deleted => work.start(&self, e.key),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %crate::ErrorChain(&e), "cluster watch ended; listing again");
                        changes = None;
                    }
                    None => break,
                },
                Some(done) = work.tasks.join_next_with_id() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            if e.is_panic() {
                                tracing::error!(cluster = ?work.running.get(&e.id()), "a reconcile task panicked");
                            }
                            e.id()
                        }
                    };
                    work.finished(&self, id);
                }
                _ = resync.tick() => {
                    match scan(&self.store) {
                        Ok(keys) => {
                            for key in keys {
                                work.start(&self, key);
                            }
                            match drift_candidates(&self.store, self.driver.as_ref()) {
                                Ok(keys) => {
                                    for key in keys {
                                        work.start_drift(&self, key, self.options.drift_interval);
                                    }
                                }
                                Err(e) => tracing::warn!(error = %crate::ErrorChain(&e), "reconciler drift scan failed"),
                            }
                        }
                        Err(StoreError::Closed) => break,
                        Err(e) => tracing::warn!(error = %crate::ErrorChain(&e), "reconciler scan failed"),
                    }
                }
            }
            if *stopped.borrow() {
                break;
            }
        }
        work.tasks.shutdown().await;
        tracing::info!("reconciler stopped");
    }

    async fn reconcile(&self, key: ObjectKey) {
        let current = match self
            .store
            .snapshot()
            .map(|s| s.object(&key).filter(|c| needs_work(&c.body, c.generation)))
        {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(cluster = %key, error = %crate::ErrorChain(&e), "cannot read cluster");
                return;
            }
        };
        let result = if matches!(
            status_of(&current.body),
            Some(phase::DELETING | phase::DELETE_FAILED)
        ) {
            self.delete(key.clone(), current).await
        } else {
            self.build(key.clone(), current).await
        };
        match result {
            Ok(()) | Err(WriteError::Gone | WriteError::Deleting) => {}
            Err(WriteError::Store(e)) => {
                tracing::warn!(cluster = %key, error = %crate::ErrorChain(&e), "reconcile interrupted; will retry")
            }
        }
    }

    async fn build(&self, key: ObjectKey, current: StoredObject) -> Result<(), WriteError> {
        let generation = current.generation;
        let uid = current.uid.clone();
        let id = ClusterId {
            workspace: key.namespace.clone(),
            name: key.name.clone(),
            uid: uid.clone(),
        };
        let was_built = current
            .body
            .get("status")
            .and_then(|s| s.get("endpoint"))
            .is_some();
        let working = if was_built {
            phase::UPDATING
        } else {
            phase::CREATING
        };
        tracing::info!(cluster = %id, generation, phase = working, "reconciling");

        // Resolve and allocate the network, under the allocation lock; the network is
        // recorded with the phase, in one write.
        let prepared = {
            let mut held = self.allocation.lock().await;
            let mut taken = std::mem::take(&mut *held);
            let (k, u) = (key.clone(), uid.clone());
            let fence = self.fence();
            let (taken, prepared) = self
                .store
                .run(move |s| {
                    let prepared = prepare(s, fence.as_ref(), &k, &u, working, &mut taken);
                    (taken, prepared)
                })
                .await
                .map_err(WriteError::Store)?;
            *held = taken;
            prepared?
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err((reason, message)) => {
                tracing::info!(cluster = %id, %reason, %message, "cluster failed");
                return self.fail(&key, &uid, generation, &reason, &message).await;
            }
        };

        let built = self.driver.provision(&prepared.request).await;
        match built {
            Err(DriverFailure { reason, message }) => {
                tracing::info!(cluster = %id, %reason, %message, "provisioning failed");
                self.fail(&key, &uid, generation, &reason, &message).await
            }
            Ok(p) => {
                let r = prepared.request;
                self.write(&key, &uid, true, move |st| {
                    let message = if p.changes.is_empty() {
                        format!("the cluster is ready at {}", p.endpoint)
                    } else {
                        format!(
                            "the cluster is ready at {} ({})",
                            p.endpoint,
                            p.changes.join("; ")
                        )
                    };
                    set_phase(st, phase::SUCCESS, &message);
                    ClusterStatus {
                        endpoint: Some(p.endpoint.clone()),
                        cloud_id: Some(p.cloud_id.clone()),
                        provider: Some(r.provider.clone()),
                        cloud: Some(r.cloud.clone()),
                        region: Some(r.region.clone()),
                        kubernetes_version: Some(r.kubernetes_version.clone()),
                        packages: Some(
                            p.packages
                                .iter()
                                .map(|pk| PackageStatus {
                                    name: pk.name.clone(),
                                    version: pk.version.clone(),
                                    status: "Installed".into(),
                                })
                                .collect(),
                        ),
                        cluster_policies: Some(p.cluster_policies.clone()),
                        ..ClusterStatus::default()
                    }
                    .merge_into(st);
                    set_ready(st, "True", "Ready", &message, generation);
                    set_last_reconcile(st, generation);
                })
                .await?;
                tracing::info!(cluster = %id, generation, "cluster ready");
                Ok(())
            }
        }
    }

    async fn fail(
        &self,
        key: &ObjectKey,
        uid: &str,
        generation: i64,
        reason: &str,
        message: &str,
    ) -> Result<(), WriteError> {
        let (reason, message) = (reason.to_string(), message.to_string());
        self.write(key, uid, true, move |st| {
            set_phase(st, phase::FAILURE, &message);
            set_ready(st, "False", &reason, &message, generation);
            set_last_reconcile(st, generation);
        })
        .await
    }

    async fn delete(&self, key: ObjectKey, current: StoredObject) -> Result<(), WriteError> {
        let uid = current.uid.clone();
        let id = ClusterId {
            workspace: key.namespace.clone(),
            name: key.name.clone(),
            uid: uid.clone(),
        };
        tracing::info!(cluster = %id, "deleting");
        let target = target_of(&self.store, &current, id.clone());
        if let Err(DriverFailure { reason, message }) = self.driver.delete(&target).await {
            tracing::warn!(cluster = %id, %reason, %message, "deleting failed");
            let generation = current.generation;
            let attempts = current
                .body
                .pointer("/status/deleteAttempts")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .saturating_add(1);
            let wait = delete_backoff(u32::try_from(attempts).unwrap_or(u32::MAX));
            let retry_after =
                humantime::format_rfc3339_seconds(std::time::SystemTime::now() + wait).to_string();
            return self
                .write(&key, &uid, false, move |st| {
                    let message = format!(
                        "{message} (attempt {attempts}; deleting again after {retry_after})"
                    );
                    set_phase(st, phase::DELETE_FAILED, &message);
                    set_ready(st, "False", &reason, &message, generation);
                    ClusterStatus {
                        delete_attempts: Some(attempts),
                        retry_after: Some(retry_after.clone()),
                        ..ClusterStatus::default()
                    }
                    .merge_into(st);
                })
                .await;
        }
        let k = key.clone();
        let fence = self.fence();
        self.store
            .run(move |s| {
                s.mutate_fenced(&k, false, fence.as_ref(), |cur| match cur {
                    Some(c)
                        if c.uid == uid
                            && matches!(
                                status_of(&c.body),
                                Some(phase::DELETING | phase::DELETE_FAILED)
                            ) =>
                    {
                        Ok((Mutation::Delete, ()))
                    }
                    _ => Err(WriteError::Gone),
                })
            })
            .await
            .map_err(WriteError::Store)??;
        tracing::info!(cluster = %id, "deleted");
        Ok(())
    }

    /// Provisions a built cluster again as it is, putting back what drifted; writes only
    /// when something was changed.
    async fn correct_drift(&self, key: ObjectKey) {
        let Ok(snapshot) = self.store.snapshot() else {
            return;
        };
        let Some(current) = snapshot.object(&key) else {
            return;
        };
        if !is_settled(&current.body, current.generation) {
            return;
        }
        let Some(cidr) = NetworkAllocation::from_status(&current.body).map(|a| a.cidr) else {
            return;
        };
        let uid = current.uid.clone();
        let request = match request_for(&snapshot, &key, &current, cidr) {
            Ok(r) => r,
            Err((reason, message)) => {
                tracing::debug!(cluster = %key, %reason, %message, "drift check skipped");
                return;
            }
        };
        if !self.driver.corrects_drift(&request.cloud) {
            return;
        }
        match self.driver.provision(&request).await {
            Ok(p) if !p.changes.is_empty() => {
                let generation = current.generation;
                let said = format!("drift corrected: {}", p.changes.join("; "));
                tracing::info!(cluster = %key, %said, "drift corrected");
                let result = self
                    .write(&key, &uid, true, move |st| {
                        let message = format!("the cluster is ready at {} ({said})", p.endpoint);
                        st.insert("message".into(), json!(message));
                        set_condition(
                            st,
                            "DriftCorrected",
                            "True",
                            "DriftCorrected",
                            &said,
                            generation,
                        );
                    })
                    .await;
                if let Err(e) = result {
                    tracing::debug!(cluster = %key, error = %e, "drift note not written");
                }
            }
            Ok(_) => {}
            Err(DriverFailure { reason, message }) => {
                tracing::warn!(cluster = %key, %reason, %message, "drift check failed");
            }
        }
    }

    /// Changes the status of `key` in one transaction; see the module documentation.
    async fn write(
        &self,
        key: &ObjectKey,
        uid: &str,
        unless_deleting: bool,
        change: impl FnMut(&mut Map<String, Value>) + Send + 'static,
    ) -> Result<(), WriteError> {
        let (key, uid) = (key.clone(), uid.to_string());
        let fence = self.fence();
        self.store
            .run(move |s| write_status(s, fence.as_ref(), &key, &uid, unless_deleting, change))
            .await
            .map_err(WriteError::Store)?
    }
}

/// The reconcile tasks in flight, at most one per cluster.
#[derive(Default)]
struct Work {
    tasks: JoinSet<()>,
    running: HashMap<tokio::task::Id, ObjectKey>,
    busy: HashSet<ObjectKey>,
    /// Clusters that changed while their task ran: looked at again when it ends.
    again: HashSet<ObjectKey>,
    /// When each cluster's drift was last checked.
    drift_checked: HashMap<ObjectKey, tokio::time::Instant>,
}

impl Work {
    fn start(&mut self, reconciler: &Arc<Reconciler>, key: ObjectKey) {
        if self.busy.contains(&key) {
            self.again.insert(key);
            return;
        }
        let me = Arc::clone(reconciler);
        let k = key.clone();
        let handle = self.tasks.spawn(async move { me.reconcile(k).await });
        self.running.insert(handle.id(), key.clone());
        self.busy.insert(key);
    }

    /// Starts a drift check of `key` unless it is busy or was checked within `interval`.
    fn start_drift(&mut self, reconciler: &Arc<Reconciler>, key: ObjectKey, interval: Duration) {
        let now = tokio::time::Instant::now();
        if self.busy.contains(&key)
            || self
                .drift_checked
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < interval)
        {
            return;
        }
        self.drift_checked.insert(key.clone(), now);
        let me = Arc::clone(reconciler);
        let k = key.clone();
        let handle = self.tasks.spawn(async move { me.correct_drift(k).await });
        self.running.insert(handle.id(), key.clone());
        self.busy.insert(key);
    }

    fn finished(&mut self, reconciler: &Arc<Reconciler>, id: tokio::task::Id) {
        if let Some(key) = self.running.remove(&id) {
            self.busy.remove(&key);
            if self.again.remove(&key) {
                self.start(reconciler, key);
            }
        }
    }
}

/// The next change from the watch; never, while there is none.
async fn next_change(changes: &mut Option<Watch>) -> Option<Result<WatchEvent, StoreError>> {
    match changes {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

/// Why a status write did not happen.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cluster was deleted (or replaced by another of the same name).
    #[error("the cluster is gone")]
    Gone,
    /// The cluster is being deleted; build results no longer matter.
    #[error("the cluster is being deleted")]
    Deleting,
}

/// Applies `change` to `status` of the current row of `key`, in one commit fenced by the
/// reconciler's leadership.
fn write_status(
    store: &Store,
    fence: Option<&Fence>,
    key: &ObjectKey,
    uid: &str,
    unless_deleting: bool,
    mut change: impl FnMut(&mut Map<String, Value>),
) -> Result<(), WriteError> {
    write_status_reading(store, fence, key, uid, unless_deleting, |_, st| {
        change(st);
        Ok(())
    })
}

/// [`write_status`] whose `change` may read the store too: what it reads is part of the
/// commit's decision (guarded with it, and read again when it changed before the commit).
fn write_status_reading(
    store: &Store,
    fence: Option<&Fence>,
    key: &ObjectKey,
    uid: &str,
    unless_deleting: bool,
    mut change: impl FnMut(&dyn Reads, &mut Map<String, Value>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    store
        .commit(false, fence, |reads| {
            let current = reads.get(key)?;
            let Some(current) = current.filter(|c| c.uid == uid) else {
                return Err(WriteError::Gone);
            };
            if unless_deleting && status_of(&current.body) == Some(phase::DELETING) {
                return Err(WriteError::Deleting);
            }
            let mut body = current.body;
            let Some(obj) = body.as_object_mut() else {
                return Err(WriteError::Gone);
            };
            let status = obj
                .entry("status")
                .or_insert_with(|| Value::Object(Map::new()));
            if !status.is_object() {
                *status = Value::Object(Map::new());
            }
            if let Some(st) = status.as_object_mut() {
                change(reads, st)?;
            }
            Ok((
                Batch::object(
                    key.clone(),
                    Mutation::Put(NewRow {
                        body,
                        generation: current.generation,
                        uid: current.uid,
                        created: current.created,
                    }),
                ),
                (),
            ))
        })
        .map(|((), _)| ())
}

/// `status.status` of an object body.
pub fn status_of(body: &Value) -> Option<&str> {
    body.get("status")?.get("status")?.as_str()
}

/// Whether a cluster body needs the reconciler.
pub fn needs_work(body: &Value, generation: i64) -> bool {
    let reconciled = body
        .get("status")
        .and_then(|s| s.get("lastReconcile"))
        .and_then(|l| l.get("generation"))
        .and_then(Value::as_i64);
    match status_of(body) {
        Some(phase::DELETING) => true,
        Some(phase::DELETE_FAILED) => body
            .pointer("/status/retryAfter")
            .and_then(Value::as_str)
            .and_then(crate::auth::parse_time)
            .is_none_or(|t| t <= std::time::SystemTime::now()),
        Some(phase::PENDING | phase::CREATING | phase::UPDATING) | None => true,
        Some(_) => reconciled != Some(generation),
    }
}

/// Whether a cluster is built and up to date (`Success` at its generation).
fn is_settled(body: &Value, generation: i64) -> bool {
    status_of(body) == Some(phase::SUCCESS)
        && body
            .pointer("/status/lastReconcile/generation")
            .and_then(Value::as_i64)
            == Some(generation)
}

/// The status a new cluster starts with (the API may stamp it on create; a cluster with no
/// status is treated the same).
pub fn pending_status(generation: i64) -> Value {
    let mut st = Map::new();
    set_phase(
        &mut st,
        phase::PENDING,
        "waiting for the reconciler to build the cluster",
    );
    set_ready(
        &mut st,
        "False",
        "WaitingForProvision",
        "the cluster has not been built yet",
        generation,
    );
    Value::Object(st)
}

/// What the API's DELETE does to a Cluster: marks it `Deleting` (keeping everything else)
/// and leaves the row; the reconciler deletes the cloud cluster, then the row. Deleting a
/// cluster that is already `Deleting` changes nothing.
pub fn begin_deletion(body: &mut Value, now: &str) {
    if status_of(body) == Some(phase::DELETING) {
        return;
    }
    let generation = body
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let status = obj
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    if let Some(st) = status.as_object_mut() {
        set_phase(st, phase::DELETING, "the cluster is being deleted");
        set_ready(
            st,
            "False",
            "Deleting",
            "the cluster is being deleted",
            generation,
        );
        ClusterStatus {
            deletion_requested: Some(now.to_string()),
            ..ClusterStatus::default()
        }
        .merge_into(st);
    }
}

/// The write the API's DELETE makes for a Cluster, given its current row and the next
/// resource version: [`begin_deletion`] on the body, kept in the store. Returns the
/// mutation and the new body (the response).
pub fn deletion_mutation(current: StoredObject) -> (Mutation, Value) {
    let mut body = current.body;
    begin_deletion(&mut body, &crate::now_rfc3339());
    (
        Mutation::Put(NewRow {
            body: body.clone(),
            generation: current.generation,
            uid: current.uid,
            created: current.created,
        }),
        body,
    )
}

fn set_phase(st: &mut Map<String, Value>, phase: &str, message: &str) {
    st.insert("status".into(), json!(phase));
    st.insert("message".into(), json!(message));
}

fn set_last_reconcile(st: &mut Map<String, Value>, generation: i64) {
    let lr = LastReconcile {
        time: Some(crate::now_rfc3339()),
        generation: Some(generation),
    };
    st.insert(
        "lastReconcile".into(),
        serde_json::to_value(lr).unwrap_or_default(),
    );
}

/// Sets the `Ready` condition, keeping `lastTransitionTime` unless its status changes.
fn set_ready(
    st: &mut Map<String, Value>,
    status: &str,
    reason: &str,
    message: &str,
    generation: i64,
) {
    set_condition(st, "Ready", status, reason, message, generation);
}

/// Sets the condition of type `type_`, keeping `lastTransitionTime` unless its status
/// changes.
fn set_condition(
    st: &mut Map<String, Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: i64,
) {
    let mut conditions: Vec<Condition> = st
        .get("conditions")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let previous = conditions.iter().position(|c| c.type_ == type_);
    let transition = match previous.map(|i| &conditions[i]) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(crate::now_rfc3339()),
    };
    let condition = Condition {
        type_: type_.into(),
        status: status.into(),
        observed_generation: Some(generation),
        last_transition_time: transition,
        reason: Some(reason.into()),
        message: Some(message.into()),
    };
    match previous {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
    st.insert(
        "conditions".into(),
        serde_json::to_value(conditions).unwrap_or_default(),
    );
}

/// The keys of every stored cluster that needs work.
fn scan(store: &Store) -> Result<Vec<ObjectKey>, StoreError> {
    let snapshot = store.snapshot()?;
    let clusters = ListFilter::every(&CLUSTER);
    Ok(snapshot
        .objects(&clusters)
        .filter(|(_, c)| needs_work(&c.body, c.generation))
        .map(|(key, _)| key.clone())
        .collect())
}

/// The built clusters whose cloud's driver corrects drift.
fn drift_candidates(store: &Store, driver: &dyn CloudDriver) -> Result<Vec<ObjectKey>, StoreError> {
    let snapshot = store.snapshot()?;
    let clusters = ListFilter::every(&CLUSTER);
    Ok(snapshot
        .objects(&clusters)
        .filter(|(_, c)| is_settled(&c.body, c.generation))
        .filter(|(_, c)| {
            c.body
                .pointer("/status/cloud")
                .and_then(Value::as_str)
                .is_some_and(|cloud| driver.corrects_drift(cloud))
        })
        .map(|(key, _)| key.clone())
        .collect())
}

/// The cloud access of a resolved cluster, as drivers take it.
fn access_of(resolution: &Resolution, workspace: &str) -> CloudAccess {
    let r = &resolution.cloud_access;
    let spec = &resolution.cloud_access_spec;
    CloudAccess {
        config: format!("{}/{}", r.workspace.as_deref().unwrap_or(workspace), r.name),
        account: spec.aws.as_ref().map(|a| a.account.clone()),
        cluster_manager_role: spec.aws_role(CLUSTER_MANAGER).map(str::to_string),
        identity: resolution
            .cloud_identity
            .as_ref()
            .map(|i| CloudIdentityAccess {
                name: format!("{}/{}", i.workspace, i.name),
                found: i.spec.is_some(),
                aws_role: i
                    .spec
                    .as_ref()
                    .and_then(|s| s.aws.as_ref())
                    .map(|a| a.role_arn.clone())
                    .filter(|r| !r.is_empty()),
            }),
    }
}

/// Resolves a stored cluster against what `view` reads.
fn resolve_stored(
    view: &StoreView<'_>,
    workspace: &str,
    body: &Value,
) -> Result<(Cluster, Resolution), Failed> {
    let cluster: Cluster = serde::Deserialize::deserialize(body).map_err(|e| {
        (
            "InvalidSpec".to_string(),
            format!("the stored cluster cannot be read: {e}"),
        )
    })?;
    let options = ResolveOptions {
        existing_plan: Some(cluster.spec.plan.clone()),
    };
    let resolution =
        resolve_cluster_with(&cluster, workspace, view, &options).map_err(|errors| {
            let msg = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            (
                "ResolutionFailed".to_string(),
                format!("the cluster's references cannot be resolved: {msg}"),
            )
        })?;
    Ok((cluster, resolution))
}

/// Where a cluster being deleted is: resolved again (the current cloud access), else what
/// its status recorded when it was built.
pub(crate) fn target_of(store: &Store, current: &StoredObject, id: ClusterId) -> ClusterTarget {
    let resolved = store
        .snapshot()
        .ok()
        .and_then(|s| resolve_stored(&StoreView::new(&s), &id.workspace, &current.body).ok());
    match resolved {
        Some((_, r)) => ClusterTarget {
            access: access_of(&r, &id.workspace),
            cloud: r.cluster.cloud,
            region: r.cluster.region,
            id,
        },
        None => {
            let recorded = |field: &str| {
                current
                    .body
                    .pointer(&format!("/status/{field}"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            ClusterTarget {
                cloud: recorded("cloud"),
                region: recorded("region"),
                access: CloudAccess::default(),
                id,
            }
        }
    }
}

/// The request that builds a stored cluster on network `cidr`: resolved, with the cluster
/// policies that select it.
fn request_for(
    snapshot: &crate::store::Snapshot,
    key: &ObjectKey,
    current: &StoredObject,
    cidr: String,
) -> Result<ProvisionRequest, Failed> {
    let workspace = key.namespace.as_str();
    let view = StoreView::new(snapshot);
    let (cluster, resolution) = resolve_stored(&view, workspace, &current.body)?;
    let policies = delivered_policies(&view, &resolution.cluster.labels);
    Ok(provision_request(
        key,
        &current.uid,
        current.generation,
        &cluster,
        &resolution,
        cidr,
        policies,
    ))
}

/// The driver's request for `cluster` as resolved, on network `cidr`, delivering `policies`.
fn provision_request(
    key: &ObjectKey,
    uid: &str,
    generation: i64,
    cluster: &Cluster,
    resolution: &Resolution,
    cidr: String,
    policies: Vec<String>,
) -> ProvisionRequest {
    let workspace = key.namespace.as_str();
    let meta = &cluster.metadata;
    ProvisionRequest {
        id: ClusterId {
            workspace: workspace.to_string(),
            name: key.name.clone(),
            uid: uid.to_string(),
        },
        access: access_of(resolution, workspace),
        authorized_master_networks: resolution.authorized_master_networks.clone(),
        secrets_encryption: resolution.secrets_encryption,
        control_plane_logs: resolution.control_plane_logs.clone(),
        generation,
        provider: resolution.cluster.provider.clone(),
        cloud: resolution.cluster.cloud.clone(),
        region: resolution.cluster.region.clone(),
        kubernetes_version: resolution.kubernetes_version.clone(),
        subnet_layout: resolution.subnet_layout,
        network: cidr,
        node_pools: resolution.cluster.node_pools.clone(),
        packages: resolution.packages.clone(),
        cluster_policies: policies,
        labels: resolution.cluster.labels.clone(),
        object_labels: meta.labels.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
    }
}

/// What building a cluster needs, once resolved and given a network.
struct Prepared {
    request: ProvisionRequest,
}

type Failed = (String, String);

/// Resolves the cluster, picks the cluster policies, allocates its network and records it in
/// `status.network`, with the phase `working` (Creating or Updating). Runs under the
/// allocation lock.
fn prepare(
    store: &Store,
    fence: Option<&Fence>,
    key: &ObjectKey,
    uid: &str,
    working: &'static str,
    taken: &mut network::TakenNetworks,
) -> Result<Result<Prepared, Failed>, WriteError> {
    let snapshot = store.snapshot()?;
    let Some(current) = snapshot.get(key)?.filter(|c| c.uid == uid) else {
        return Err(WriteError::Gone);
    };
    let view = StoreView::new(&snapshot);
    let (cluster, resolution) = match resolve_stored(&view, key.namespace.as_str(), &current.body) {
        Ok(resolved) => resolved,
        Err(failed) => return Ok(Err(failed)),
    };
    let policies = delivered_policies(&view, &resolution.cluster.labels);
    if let Some(e) = view.take_error() {
        return Err(e.into());
    }

    // The network: keep what is recorded when it still fits, else allocate. One server
    // owns a SQLite store, so the kept map of taken networks, under the allocation lock,
    // is all there is. Replicas share an etcd store: there the allocation is made inside
    // the status write's decision, which reads every cluster's network and the pools
    // through the commit, so its guard covers them: a write this replica's cache had not
    // seen yet (a previous leader's last allocation) makes it decide again.
    let recorded =
        NetworkAllocation::from_status(&current.body).filter(|a| a.satisfies(&resolution.network));
    let kept = match recorded {
        Some(a) => Some(a),
        None if store.is_shared() => None,
        None => match allocate(store, taken, &view, &cluster, &resolution, key)? {
            Ok(a) => Some(a),
            Err(e) => return Ok(Err(("NetworkUnavailable".into(), e.to_string()))),
        },
    };
    let mut chosen: Option<Result<NetworkAllocation, network::NetworkError>> = None;
    let generation = current.generation;
    let written = write_status_reading(store, fence, key, uid, true, |reads, st| {
        chosen = None;
        let a = match &kept {
            Some(a) => a.clone(),
            None => {
                let workspace = key.namespace.as_str();
                let taken = network::taken(reads, (workspace, &key.name))?;
                let view = StoreView::new(reads);
                let decided =
                    network::allocation_for(&view, workspace, &cluster, &resolution, &taken);
                if let Some(e) = view.take_error() {
                    return Err(e.into());
                }
                match decided {
                    Ok(a) => a,
                    Err(e) => {
                        chosen = Some(Err(e));
                        // Refused: nothing is written; the cluster fails below.
                        return Err(WriteError::Gone);
                    }
                }
            }
        };
        chosen = Some(Ok(a.clone()));
        ClusterStatus {
            network: Some(a),
            ..ClusterStatus::default()
        }
        .merge_into(st);
        set_phase(
            st,
            working,
            &format!("{working} the cluster (generation {generation})"),
        );
        set_ready(
            st,
            "False",
            "InProgress",
            "the cluster is being built",
            generation,
        );
        Ok(())
    });
    let allocation = match (written, chosen) {
        (Ok(()), Some(Ok(a))) => a,
        (_, Some(Err(e))) => return Ok(Err(("NetworkUnavailable".into(), e.to_string()))),
        (Err(e), _) => return Err(e),
        (Ok(()), None) => return Err(WriteError::Gone),
    };

    let request = provision_request(
        key,
        uid,
        current.generation,
        &cluster,
        &resolution,
        allocation.cidr,
        policies,
    );
    Ok(Ok(Prepared { request }))
}

/// Allocates the cluster's network ([`network::allocation_for`]) against what every other
/// cluster holds now.
fn allocate(
    store: &Store,
    held: &mut network::TakenNetworks,
    view: &StoreView<'_>,
    cluster: &Cluster,
    resolution: &Resolution,
    key: &ObjectKey,
) -> Result<Result<NetworkAllocation, network::NetworkError>, StoreError> {
    let workspace = key.namespace.as_str();
    held.refresh(store)?;
    let taken = held.taken((workspace, &key.name));
    let decided = network::allocation_for(view, workspace, cluster, resolution, &taken);
    match view.take_error() {
        Some(e) => Err(e),
        None => Ok(decided),
    }
}

/// The `Ready` condition of a body, for tests and callers.
pub fn ready_condition(body: &Value) -> Option<Condition> {
    let conditions: Vec<Condition> =
        serde_json::from_value(body.get("status")?.get("conditions")?.clone()).ok()?;
    conditions.into_iter().find(|c| c.type_ == "Ready")
}

/// Labels of a body's `metadata.labels`.
pub fn object_labels(body: &Value) -> BTreeMap<String, String> {
    body.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

/// The names, sorted, of the global cluster policies that target a cluster with `labels`.
fn delivered_policies(
    view: &StoreView<'_>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut policies: Vec<String> = view
        .list(&GLOBAL_CLUSTER_POLICY, None)
        .iter()
        .filter_map(|o| match o.as_ref() {
            Object::GlobalClusterPolicy(p) if p.spec.targets(labels) => {
                Some(p.metadata.name.clone())
            }
            _ => None,
        })
        .collect();
    policies.sort();
    policies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_needs_work() {
        assert!(needs_work(&json!({"metadata": {"generation": 1}}), 1));
        assert!(needs_work(&json!({"status": pending_status(1)}), 1));
        let done = json!({"status": {"status": "Success", "lastReconcile": {"generation": 1}}});
        assert!(!needs_work(&done, 1));
        assert!(needs_work(&done, 2));
        let failed = json!({"status": {"status": "Failure", "lastReconcile": {"generation": 2}}});
        assert!(!needs_work(&failed, 2));
        assert!(needs_work(
            &json!({"status": {"status": "Creating", "lastReconcile": {"generation": 1}}}),
            1
        ));
        assert!(needs_work(&json!({"status": {"status": "Deleting"}}), 1));
    }

    #[test]
    fn deletion_marks_the_body_once() {
        let mut body = json!({"metadata": {"name": "c", "generation": 3}, "spec": {}});
        begin_deletion(&mut body, "2025-01-01T00:00:00Z");
        assert_eq!(status_of(&body), Some("Deleting"));
        let ready = ready_condition(&body).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("False", Some("Deleting"))
        );
        assert_eq!(ready.observed_generation, Some(3));
        begin_deletion(&mut body, "2030-01-01T00:00:00Z");
        assert_eq!(body["status"]["deletionRequested"], "2025-01-01T00:00:00Z");
    }

    #[test]
    fn ready_keeps_its_transition_time_while_unchanged() {
        let mut st = Map::new();
        set_ready(&mut st, "False", "InProgress", "m", 1);
        let mut conds: Vec<Condition> = serde_json::from_value(st["conditions"].clone()).unwrap();
        conds[0].last_transition_time = Some("then".into());
        st.insert("conditions".into(), serde_json::to_value(&conds).unwrap());
        set_ready(&mut st, "False", "InProgress", "m2", 2);
        let c: Vec<Condition> = serde_json::from_value(st["conditions"].clone()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time.as_deref(), Some("then"));
        set_ready(&mut st, "True", "Ready", "ok", 2);
        let c: Vec<Condition> = serde_json::from_value(st["conditions"].clone()).unwrap();
        assert_ne!(c[0].last_transition_time.as_deref(), Some("then"));
    }
}
