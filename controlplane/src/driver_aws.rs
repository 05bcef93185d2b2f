//! The AWS driver behind the reconciler's [`CloudDriver`]: the `wayfinder-aws` crate's
//! [`AwsDriver`] (EKS, EC2, IAM, STS), chosen by `--cloud-driver aws=api`. Built with the
//! `aws` feature only.
//!
//! It builds the cluster and its node groups, nothing inside it: the plan's packages and
//! the cluster policies need the cluster's Kubernetes API, which an emulator does not
//! serve, so `status.packages` and `status.clusterPolicies` stay empty on this driver.
//!
//! Credentials of its clusters ([`CloudDriver::credentials`]) are what EKS authenticates:
//! the endpoint and CA from DescribeCluster and a `k8s-aws-v1.` token presigned with the
//! ClusterManager role's credentials, valid for the TTL granted, at most 15 minutes.

use wayfinder_aws::{Access, AwsDriver, EksCluster, Identity, Observed, Target};

use crate::driver::{
    CloudAccess, CloudCredentials, CloudDriver, CloudStatus, ClusterTarget, DriverFailure,
    DriverFuture, ProvisionRequest, Provisioned,
};

/// [`AwsDriver`] as a [`CloudDriver`].
#[derive(Debug)]
pub struct AwsCloudDriver {
    inner: AwsDriver,
}

impl AwsCloudDriver {
    /// Talks to `endpoint_url` when given, else `AWS_ENDPOINT_URL`, else AWS.
    pub fn new(endpoint_url: Option<String>) -> Self {
        let mut inner = AwsDriver::new(endpoint_url);
        if inner.endpoint_url().is_some() {
            // An emulator answers at once: look again often.
            inner = inner.with_poll(std::time::Duration::from_millis(200));
        }
        Self { inner }
    }

    /// The endpoint in use, when not AWS's own.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.inner.endpoint_url()
    }
}

fn access(a: &CloudAccess) -> Access {
    Access {
        config: a.config.clone(),
        account: a.account.clone(),
        cluster_manager_role: a.cluster_manager_role.clone(),
        identity: a.identity.as_ref().map(|i| Identity {
            name: i.name.clone(),
            found: i.found,
            role: i.aws_role.clone(),
        }),
    }
}

fn target(t: &ClusterTarget) -> Target {
    Target {
        workspace: t.id.workspace.clone(),
        name: t.id.name.clone(),
        uid: t.id.uid.clone(),
        region: t.region.clone(),
        access: access(&t.access),
    }
}

fn failure(f: wayfinder_aws::Failure) -> DriverFailure {
    DriverFailure {
        reason: f.reason,
        message: f.message,
    }
}

impl CloudDriver for AwsCloudDriver {
    fn provision<'a>(
        &'a self,
        request: &'a ProvisionRequest,
    ) -> DriverFuture<'a, Result<Provisioned, DriverFailure>> {
        Box::pin(async move {
            if request.provider != "EKS" {
                return Err(DriverFailure {
                    reason: "UnsupportedProvider".into(),
                    message: format!(
                        "the AWS driver builds EKS clusters, not {}",
                        request.provider
                    ),
                });
            }
            let cluster = EksCluster {
                target: target(&request.target()),
                generation: request.generation,
                kubernetes_version: request.kubernetes_version.clone(),
                network: request.network.clone(),
                subnet_layout: request.subnet_layout,
                node_pools: request.node_pools.clone(),
                authorized_master_networks: request.authorized_master_networks.clone(),
                secrets_encryption: request.secrets_encryption,
                control_plane_logs: request.control_plane_logs.clone(),
            };
            let built = self.inner.provision(&cluster).await.map_err(failure)?;
            Ok(Provisioned {
                endpoint: built.endpoint,
                cloud_id: built.arn,
                packages: Vec::new(),
                cluster_policies: Vec::new(),
                changes: built.changes,
            })
        })
    }

    fn delete<'a>(
        &'a self,
        target_: &'a ClusterTarget,
    ) -> DriverFuture<'a, Result<(), DriverFailure>> {
        Box::pin(async move { self.inner.delete(&target(target_)).await.map_err(failure) })
    }

    fn status<'a>(&'a self, target_: &'a ClusterTarget) -> DriverFuture<'a, CloudStatus> {
        Box::pin(async move {
            match self.inner.status(&target(target_)).await {
                Observed::Absent => CloudStatus::Absent,
                Observed::InProgress => CloudStatus::InProgress,
                Observed::Ready(b) => CloudStatus::Ready(Provisioned {
                    endpoint: b.endpoint,
                    cloud_id: b.arn,
                    packages: Vec::new(),
                    cluster_policies: Vec::new(),
                    changes: b.changes,
                }),
                Observed::Failed(f) => CloudStatus::Failed(failure(f)),
            }
        })
    }

    fn corrects_drift(&self, cloud: &str) -> bool {
        cloud == "aws"
    }

    fn credentials<'a>(
        &'a self,
        target_: &'a ClusterTarget,
        ttl: std::time::Duration,
    ) -> DriverFuture<'a, Result<Option<CloudCredentials>, DriverFailure>> {
        Box::pin(async move {
            let c = self
                .inner
                .credentials(&target(target_), ttl)
                .await
                .map_err(failure)?;
            Ok(Some(CloudCredentials {
                endpoint: c.endpoint,
                certificate_authority: c.certificate_authority,
                token: c.token,
                expires_in: c.expires_in,
            }))
        })
    }
}
