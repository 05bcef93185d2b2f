//! Cloud drivers: what the reconciler calls to build, inspect and delete a cluster in a
//! cloud. [`SimulatedDriver`] is the one this server ships: it "provisions" in a configurable
//! time (`wayfinder-server --sim-provision-time`, [`crate::Config::sim_provision_time`]) and
//! can be told to fail.
//!
//! **Telling the simulation to fail.** A cluster whose labels (`metadata.labels` or
//! `spec.clusterLabels`) carry `wayfinder.dev/simulate: fail` fails provisioning with
//! reason `SimulatedFailure`; the message is the cluster's annotation
//! `wayfinder.dev/simulate-message` when set, else a fixed text. Deleting it still works.
//! With `wayfinder.dev/simulate: fail-delete-once` the cluster builds, but the first
//! attempt to delete it fails (reason `SimulatedDeleteFailure`); the next one succeeds.
//!
//! Drivers are called again for work that was interrupted (the reconciler keeps no state
//! in memory), so [`CloudDriver::provision`] and [`CloudDriver::delete`] must be idempotent.
//!
//! **Choosing a driver per cloud.** [`CloudDrivers`] routes each call by the cluster's cloud:
//! `wayfinder-server --cloud-driver aws=api` sends EKS clusters through the AWS APIs
//! (`driver_aws.rs`, built with the `aws` feature); every other cloud, and AWS by default,
//! uses the simulated driver. Azure and GCP have no local emulator to test a real driver
//! against, so they stay simulated; a driver for them implements the same [`CloudDriver`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wayfinder_model::compute::NodePool;
use wayfinder_model::plan::PackageRef;

/// The label that makes the simulated driver fail a cluster.
pub const SIMULATE_LABEL: &str = "wayfinder.dev/simulate";
/// The value of [`SIMULATE_LABEL`] that fails provisioning.
pub const SIMULATE_FAIL: &str = "fail";
/// The value of [`SIMULATE_LABEL`] that fails the first delete of a built cluster.
pub const SIMULATE_FAIL_DELETE_ONCE: &str = "fail-delete-once";
/// The annotation whose value becomes the simulated failure's message.
pub const SIMULATE_MESSAGE_ANNOTATION: &str = "wayfinder.dev/simulate-message";

/// The default simulated provisioning time.
pub const DEFAULT_SIM_PROVISION_TIME: Duration = Duration::from_secs(3);

/// A boxed future, so drivers can be used as `dyn CloudDriver`.
pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which cluster, in any driver call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId {
    pub workspace: String,
    pub name: String,
    /// `metadata.uid`: a cluster deleted and created again under the same name is another.
    pub uid: String,
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.workspace, self.name)
    }
}

/// The cloud access a cluster is built with: its CloudAccessConfig, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudAccess {
    /// `workspace/name` of the CloudAccessConfig, for messages.
    pub config: String,
    /// `spec.aws.account` (AWS).
    pub account: Option<String>,
    /// The `ClusterManager` permission's `awsRole` (AWS): the role a driver assumes.
    pub cluster_manager_role: Option<String>,
    /// The CloudIdentity the access names (`spec.cloudIdentityRef`), when it names one.
    pub identity: Option<CloudIdentityAccess>,
}

/// The CloudIdentity of a cloud access: where a driver's base credentials come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudIdentityAccess {
    /// `workspace/name` of the CloudIdentity, for messages.
    pub name: String,
    /// Whether it is stored (a cloud access may name one that is not, yet).
    pub found: bool,
    /// Its `spec.aws.roleARN` (AWS): the role the driver's web identity token is exchanged
    /// for (`AssumeRoleWithWebIdentity`).
    pub aws_role: Option<String>,
}

/// Which cluster, where, and with what access: what [`CloudDriver::delete`] and
/// [`CloudDriver::status`] need to find it in its cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTarget {
    pub id: ClusterId,
    /// `aws`, `azure` or `gcp`; empty when unknown (a cluster never resolved).
    pub cloud: String,
    pub region: String,
    pub access: CloudAccess,
}

/// Everything the driver needs to build (or change) a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionRequest {
    pub id: ClusterId,
    /// The cloud access to build with.
    pub access: CloudAccess,
    /// The plan's `authorizedMasterNetworks` CIDRs (empty: not restricted).
    pub authorized_master_networks: Vec<String>,
    /// Whether Kubernetes secrets are encrypted with a key of the cloud's KMS (EKS plans,
    /// unless they turn it off).
    pub secrets_encryption: bool,
    /// The control-plane logs sent to the cloud's log service (EKS: `api`, `audit`, …).
    pub control_plane_logs: Vec<String>,
    /// `metadata.generation` being built.
    pub generation: i64,
    /// `EKS`, `AKS` or `GKE`.
    pub provider: String,
    /// `aws`, `azure` or `gcp`.
    pub cloud: String,
    pub region: String,
    pub kubernetes_version: String,
    /// The node network, e.g. `10.0.4.0/22`.
    pub network: String,
    /// How the network plan lays the node network out (zones, public/private, NAT).
    pub subnet_layout: wayfinder_model::networking::SubnetLayout,
    pub node_pools: Vec<NodePool>,
    /// Packages to install, in order.
    pub packages: Vec<PackageRef>,
    /// Names of the GlobalClusterPolicies to deliver.
    pub cluster_policies: Vec<String>,
    /// The cluster's labels (what policies select on, plus its own).
    pub labels: BTreeMap<String, String>,
    /// `metadata.labels` and `metadata.annotations` of the Cluster object.
    pub object_labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl ProvisionRequest {
    /// Where the cluster is, for [`CloudDriver::delete`] and [`CloudDriver::status`].
    pub fn target(&self) -> ClusterTarget {
        ClusterTarget {
            id: self.id.clone(),
            cloud: self.cloud.clone(),
            region: self.region.clone(),
            access: self.access.clone(),
        }
    }
}

/// A built cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The Kubernetes API endpoint, `https://…`.
    pub endpoint: String,
    /// The cloud's identifier for the cluster.
    pub cloud_id: String,
    /// The packages installed, with their versions.
    pub packages: Vec<PackageRef>,
    /// The cluster policies delivered.
    pub cluster_policies: Vec<String>,
    /// What this run changed in the cloud to match the spec (pools added, removed or
    /// rescaled, drift put back), for a person; empty when nothing.
    pub changes: Vec<String>,
}

/// What the cloud says about a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudStatus {
    /// The cloud has no such cluster.
    Absent,
    /// Being built or deleted.
    InProgress,
    Ready(Provisioned),
    Failed(DriverFailure),
}

/// Why a driver call failed: a CamelCase `reason` for the Ready condition and a message a
/// person reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DriverFailure {
    pub reason: String,
    pub message: String,
}

/// Credentials the cloud itself authenticates, for a person to reach a built cluster's API
/// (EKS: a `k8s-aws-v1.` token). `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct CloudCredentials {
    pub endpoint: String,
    /// The cluster CA, base64 of the PEM (EKS's `certificateAuthority.data`).
    pub certificate_authority: Option<String>,
    pub token: String,
    /// How long the token is valid from now (at most the TTL asked for).
    pub expires_in: Duration,
}

impl std::fmt::Debug for CloudCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudCredentials")
            .field("endpoint", &self.endpoint)
            .field("certificate_authority", &self.certificate_authority)
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A cloud the reconciler builds clusters in.
pub trait CloudDriver: Send + Sync + std::fmt::Debug {
    /// Builds the cluster, or brings an existing one to `request`; resolves when it is
    /// ready. Idempotent.
    fn provision<'a>(
        &'a self,
        request: &'a ProvisionRequest,
    ) -> DriverFuture<'a, Result<Provisioned, DriverFailure>>;

    /// Deletes the cluster; resolves when it is gone. Deleting a cluster the cloud does not
    /// have succeeds.
    fn delete<'a>(
        &'a self,
        target: &'a ClusterTarget,
    ) -> DriverFuture<'a, Result<(), DriverFailure>>;

    /// What the cloud says about the cluster now.
    fn status<'a>(&'a self, target: &'a ClusterTarget) -> DriverFuture<'a, CloudStatus>;

    /// Whether built clusters of `cloud` should be provisioned again on every resync, so
    /// that what changed in the cloud behind Wayfinder's back is put back (a real cloud:
    /// yes; the simulation: nothing can drift).
    fn corrects_drift(&self, cloud: &str) -> bool {
        let _ = cloud;
        false
    }

    /// Credentials the cloud authenticates for the built cluster, valid for at most `ttl`;
    /// `None` when the cloud has none of its own and the control plane issues its own token
    /// (the simulation).
    fn credentials<'a>(
        &'a self,
        target: &'a ClusterTarget,
        ttl: Duration,
    ) -> DriverFuture<'a, Result<Option<CloudCredentials>, DriverFailure>> {
        let _ = (target, ttl);
        Box::pin(async { Ok(None) })
    }
}

/// The driver of each cloud: a cloud named in `by_cloud` uses its driver, every other one
/// `default` (the simulated driver).
#[derive(Debug)]
pub struct CloudDrivers {
    pub default: Arc<dyn CloudDriver>,
    pub by_cloud: BTreeMap<String, Arc<dyn CloudDriver>>,
}

impl CloudDrivers {
    fn of(&self, cloud: &str) -> &Arc<dyn CloudDriver> {
        self.by_cloud.get(cloud).unwrap_or(&self.default)
    }
}

impl CloudDriver for CloudDrivers {
    fn provision<'a>(
        &'a self,
        request: &'a ProvisionRequest,
    ) -> DriverFuture<'a, Result<Provisioned, DriverFailure>> {
        self.of(&request.cloud).provision(request)
    }

    fn delete<'a>(
        &'a self,
        target: &'a ClusterTarget,
    ) -> DriverFuture<'a, Result<(), DriverFailure>> {
        self.of(&target.cloud).delete(target)
    }

    fn status<'a>(&'a self, target: &'a ClusterTarget) -> DriverFuture<'a, CloudStatus> {
        self.of(&target.cloud).status(target)
    }

    fn corrects_drift(&self, cloud: &str) -> bool {
        self.of(cloud).corrects_drift(cloud)
    }

    fn credentials<'a>(
        &'a self,
        target: &'a ClusterTarget,
        ttl: Duration,
    ) -> DriverFuture<'a, Result<Option<CloudCredentials>, DriverFailure>> {
        self.of(&target.cloud).credentials(target, ttl)
    }
}

/// A driver that builds nothing: provisioning takes `provision_time`, deleting half of it,
/// endpoints are `https://{name}.{workspace}.sim.wayfinder.local:6443`. It remembers what it
/// built only in memory; the reconciler calls it again after a restart.
#[derive(Debug)]
pub struct SimulatedDriver {
    provision_time: Duration,
    clusters: Mutex<HashMap<ClusterId, CloudStatus>>,
    /// Built clusters whose next delete fails ([`SIMULATE_FAIL_DELETE_ONCE`]).
    fail_next_delete: Mutex<std::collections::HashSet<ClusterId>>,
}

impl SimulatedDriver {
    pub fn new(provision_time: Duration) -> Self {
        Self {
            provision_time,
            clusters: Mutex::new(HashMap::new()),
            fail_next_delete: Mutex::new(Default::default()),
        }
    }

    fn set(&self, id: &ClusterId, status: Option<CloudStatus>) {
        let mut map = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        match status {
            Some(s) => {
                map.insert(id.clone(), s);
            }
            None => {
                map.remove(id);
            }
        }
    }

    /// The endpoint a simulated cluster gets.
    pub fn endpoint(id: &ClusterId) -> String {
        format!(
            "https://{}.{}.sim.wayfinder.local:6443",
            id.name, id.workspace
        )
    }
}

impl Default for SimulatedDriver {
    fn default() -> Self {
        Self::new(DEFAULT_SIM_PROVISION_TIME)
    }
}

/// The value of [`SIMULATE_LABEL`] on the cluster, from its labels or its object's.
fn label_value(request: &ProvisionRequest) -> Option<&str> {
    request
        .labels
        .get(SIMULATE_LABEL)
        .or_else(|| request.object_labels.get(SIMULATE_LABEL))
        .map(String::as_str)
}

/// Whether `request` asks the simulation to fail, and with which message.
fn simulated_failure(request: &ProvisionRequest) -> Option<DriverFailure> {
    let asked = label_value(request) == Some(SIMULATE_FAIL);
    asked.then(|| DriverFailure {
        reason: "SimulatedFailure".to_string(),
        message: request
            .annotations
            .get(SIMULATE_MESSAGE_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| {
                format!(
                    "the simulated cloud was told to fail this cluster (label {SIMULATE_LABEL}: {SIMULATE_FAIL})"
                )
            }),
    })
}

impl CloudDriver for SimulatedDriver {
    fn provision<'a>(
        &'a self,
        request: &'a ProvisionRequest,
    ) -> DriverFuture<'a, Result<Provisioned, DriverFailure>> {
        Box::pin(async move {
            self.set(&request.id, Some(CloudStatus::InProgress));
            tokio::time::sleep(self.provision_time).await;
            if let Some(failure) = simulated_failure(request) {
                self.set(&request.id, Some(CloudStatus::Failed(failure.clone())));
                return Err(failure);
            }
            let built = Provisioned {
                endpoint: Self::endpoint(&request.id),
                cloud_id: format!("sim-{}-{}", request.cloud, request.id.uid),
                packages: request.packages.clone(),
                cluster_policies: request.cluster_policies.clone(),
                changes: Vec::new(),
            };
            self.set(&request.id, Some(CloudStatus::Ready(built.clone())));
            if label_value(request) == Some(SIMULATE_FAIL_DELETE_ONCE) {
                self.fail_next_delete
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(request.id.clone());
            }
            Ok(built)
        })
    }

    fn delete<'a>(
        &'a self,
        target: &'a ClusterTarget,
    ) -> DriverFuture<'a, Result<(), DriverFailure>> {
        let id = &target.id;
        Box::pin(async move {
            self.set(id, Some(CloudStatus::InProgress));
            tokio::time::sleep(self.provision_time / 2).await;
            let fail = self
                .fail_next_delete
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            if fail {
                return Err(DriverFailure {
                    reason: "SimulatedDeleteFailure".to_string(),
                    message: format!(
                        "the simulated cloud was told to fail this cluster's first delete (label {SIMULATE_LABEL}: {SIMULATE_FAIL_DELETE_ONCE})"
                    ),
                });
            }
            self.set(id, None);
            Ok(())
        })
    }

    fn status<'a>(&'a self, target: &'a ClusterTarget) -> DriverFuture<'a, CloudStatus> {
        let id = &target.id;
        Box::pin(async move {
            let map = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
            map.get(id).cloned().unwrap_or(CloudStatus::Absent)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(labels: &[(&str, &str)]) -> ProvisionRequest {
        ProvisionRequest {
            id: ClusterId {
                workspace: "pay".into(),
                name: "dev".into(),
                uid: "u1".into(),
            },
            access: CloudAccess::default(),
            authorized_master_networks: vec![],
            secrets_encryption: false,
            control_plane_logs: vec![],
            generation: 1,
            provider: "EKS".into(),
            cloud: "aws".into(),
            region: "eu-west-2".into(),
            kubernetes_version: "1.32".into(),
            network: "10.0.0.0/22".into(),
            subnet_layout: Default::default(),
            node_pools: vec![],
            packages: vec![PackageRef {
                name: "cert-manager".into(),
                version: "1.0.0".into(),
            }],
            cluster_policies: vec!["p".into()],
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            object_labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn provisions_after_the_configured_time_and_deletes() {
        let d = SimulatedDriver::new(Duration::from_millis(20));
        let r = request(&[]);
        let t = r.target();
        assert_eq!(d.status(&t).await, CloudStatus::Absent);
        let start = std::time::Instant::now();
        let built = d.provision(&r).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(built.endpoint, "https://dev.pay.sim.wayfinder.local:6443");
        assert_eq!(built.packages, r.packages);
        assert!(matches!(d.status(&t).await, CloudStatus::Ready(_)));
        d.delete(&t).await.unwrap();
        assert_eq!(d.status(&t).await, CloudStatus::Absent);
        // Deleting again is fine.
        d.delete(&t).await.unwrap();
    }

    #[tokio::test]
    async fn fails_when_told_to() {
        let d = SimulatedDriver::new(Duration::from_millis(1));
        let mut r = request(&[(SIMULATE_LABEL, SIMULATE_FAIL)]);
        let e = d.provision(&r).await.unwrap_err();
        assert_eq!(e.reason, "SimulatedFailure");
        assert!(e.message.contains("told to fail"), "{e}");
        r.annotations
            .insert(SIMULATE_MESSAGE_ANNOTATION.into(), "quota exceeded".into());
        assert_eq!(d.provision(&r).await.unwrap_err().message, "quota exceeded");
        assert!(matches!(
            d.status(&r.target()).await,
            CloudStatus::Failed(_)
        ));
    }

    #[tokio::test]
    async fn each_cloud_goes_to_its_own_driver_and_the_rest_to_the_default() {
        let aws = Arc::new(SimulatedDriver::new(Duration::from_millis(1)));
        let other = Arc::new(SimulatedDriver::new(Duration::from_millis(1)));
        let drivers = CloudDrivers {
            default: other.clone(),
            by_cloud: [("aws".to_string(), aws.clone() as Arc<dyn CloudDriver>)]
                .into_iter()
                .collect(),
        };
        let r = request(&[]);
        drivers.provision(&r).await.unwrap();
        assert!(matches!(
            aws.status(&r.target()).await,
            CloudStatus::Ready(_)
        ));
        assert_eq!(other.status(&r.target()).await, CloudStatus::Absent);
        let mut g = request(&[]);
        g.cloud = "gcp".into();
        drivers.provision(&g).await.unwrap();
        assert!(matches!(
            other.status(&g.target()).await,
            CloudStatus::Ready(_)
        ));
        assert!(!drivers.corrects_drift("aws"));
    }
}
