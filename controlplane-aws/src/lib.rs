//! The control plane's AWS cloud driver: builds, changes and deletes an EKS cluster through
//! the AWS APIs (EKS through `aws-sdk-eks`; EC2 and IAM through hand-signed Query calls,
//! [`query`]; STS through `aws-config`), and the moto harness it is tested with ([`moto`]).
//!
//! **Authentication.** Base credentials come from the environment (the standard `AWS_*`
//! variables, web identity, profiles: `aws-config`'s default chain); the driver then assumes
//! the CloudAccessConfig's `ClusterManager` role and checks with `GetCallerIdentity` that it
//! acts in the CloudAccessConfig's account before it creates anything.
//!
//! **What it builds**, every object tagged with the cluster's uid ([`TAG_UID`]), found by name
//! or tag before it is created, so a run after a crash at any step converges:
//! a VPC with the allocated CIDR, its subnets, gateways and route tables as the network plan
//! lays them out ([`wayfinder_model::networking::SubnetLayout`]), a cluster role with `AmazonEKSClusterPolicy`, a node role with the
//! worker, CNI and registry policies, the EKS cluster (the plan's version, control-plane
//! logging, endpoint access from the plan's `authorizedMasterNetworks`) and one managed node
//! group per node pool. An object of that name carrying another uid is someone else's: it is
//! reported (`NameInUse`), never adopted.
//!
//! **Changes** go in place: a node group's scaling, labels and taints follow the pool (the
//! desired size is left to the autoscaler when the pool autoscales and is within bounds);
//! pools added are created, pools removed are deleted. **Deleting** goes in reverse order,
//! tolerant of what is already gone, retrying `DependencyViolation` and `DeleteConflict`.
//!
//! **Errors** become a `Ready` reason ([`reason_for`]) and a message with the cloud's own code.
#![forbid(unsafe_code)]

pub mod api;
pub mod kms;
pub mod moto;
pub mod query;
pub mod xml;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types as eks;
use wayfinder_model::compute::NodePool;
use wayfinder_model::cost;
use wayfinder_model::net::Ipv4Net;
use wayfinder_model::networking::SubnetLayout;

use crate::api::{Ec2, Ec2Kind, Ec2Object, Filter, Iam, Role, RouteTarget, Tags};
use crate::kms::KmsClient;
use crate::query::{QueryClient, QueryEc2, QueryIam, QueryService};

/// The tag (EC2, IAM, EKS) carrying the uid of the cluster an object was made for.
pub const TAG_UID: &str = "wayfinder.dev/uid";
/// The tag naming the cluster's workspace.
pub const TAG_WORKSPACE: &str = "wayfinder.dev/workspace";
/// The tag naming the cluster.
pub const TAG_CLUSTER: &str = "wayfinder.dev/cluster";
/// The tag saying whether a subnet is `public` or `private`.
pub const TAG_TIER: &str = "wayfinder.dev/tier";
/// The tag naming a route table (`public`, `private-K`).
pub const TAG_ROUTE_TABLE: &str = "wayfinder.dev/route-table";
/// The tag numbering a NAT gateway and its elastic IP (`0`, `1`, …).
pub const TAG_NAT: &str = "wayfinder.dev/nat";
/// The node label naming the pool a node belongs to.
pub const POOL_LABEL: &str = "wayfinder.dev/pool";

/// The managed policies of the cluster role.
pub const CLUSTER_POLICIES: &[&str] = &["AmazonEKSClusterPolicy"];
/// The managed policies of the node role.
pub const NODE_POLICIES: &[&str] = &[
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
];

/// An error answered by an AWS API (or met on the way there): its code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: String,
    pub message: String,
    /// The HTTP status; 0 when no answer came.
    pub status: u16,
}

impl AwsError {
    fn credentials(message: String) -> Self {
        Self {
            code: "CredentialsUnavailable".into(),
            message,
            status: 0,
        }
    }

    fn local(message: String) -> Self {
        Self {
            code: "InternalError".into(),
            message,
            status: 0,
        }
    }

    /// Whether trying again may help: throttling, a 5xx answer, no answer.
    pub fn retryable(&self) -> bool {
        self.status >= 500
            || self.status == 0 && self.code == "RequestFailed"
            || self.code.contains("Throttl")
            || self.code == "RequestLimitExceeded"
    }

    fn is(&self, code: &str) -> bool {
        self.code == code
    }

    fn from_sdk<E, R>(e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let status = match &e {
            SdkError::ServiceError(_) => 400,
            _ => 0,
        };
        match e.code() {
            Some(code) => Self {
                code: code.to_string(),
                message: e.message().unwrap_or_default().to_string(),
                status,
            },
            None => Self {
                code: match &e {
                    SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => "RequestFailed",
                    _ => "UnhandledError",
                }
                .to_string(),
                message: aws_smithy_types_display(&e),
                status,
            },
        }
    }
}

fn aws_smithy_types_display(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The `Ready` condition reason for a cloud error code.
pub fn reason_for(code: &str) -> &'static str {
    let c = code;
    if c.starts_with("AccessDenied")
        || c.starts_with("UnrecognizedClient")
        || c == "InvalidClientTokenId"
        || c == "ExpiredToken"
        || c == "AuthFailure"
        || c == "SignatureDoesNotMatch"
        || c == "CredentialsUnavailable"
        || c == "UnauthorizedOperation"
    {
        "CloudAccessDenied"
    } else if c.contains("LimitExceeded") && c != "RequestLimitExceeded" {
        "QuotaExceeded"
    } else if c.starts_with("InvalidParameter")
        || c.starts_with("InvalidInstanceType")
        || c.starts_with("InvalidVpc")
        || c.starts_with("InvalidSubnet")
        || c == "MalformedPolicyDocument"
        || c == "ValidationError"
    {
        "InvalidParameter"
    } else if c == "DependencyViolation" || c == "DeleteConflict" {
        "DeleteBlocked"
    } else {
        "ProvisioningFailed"
    }
}

/// Why a driver call failed: a `Ready` reason and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Failure {
    pub reason: String,
    pub message: String,
}

impl Failure {
    fn new(reason: &str, message: impl Into<String>) -> Self {
        Self {
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// The cloud access a cluster is built with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `workspace/name` of the CloudAccessConfig, for messages.
    pub config: String,
    /// `spec.aws.account`.
    pub account: Option<String>,
    /// The `ClusterManager` permission's `awsRole`.
    pub cluster_manager_role: Option<String>,
    /// The CloudIdentity the CloudAccessConfig names, when it names one: base credentials
    /// then come from exchanging a web identity token for its role.
    pub identity: Option<Identity>,
}

/// A CloudIdentity, as the driver takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `workspace/name`, for messages.
    pub name: String,
    /// Whether it is stored.
    pub found: bool,
    /// `spec.aws.roleARN`.
    pub role: Option<String>,
}

/// Which cluster, and where: what `delete` and `status` need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub workspace: String,
    pub name: String,
    pub uid: String,
    pub region: String,
    pub access: Access,
}

impl Target {
    /// The EKS cluster's name: `wf-<workspace>-<name>`.
    pub fn cluster_name(&self) -> String {
        format!("wf-{}-{}", self.workspace, self.name)
    }

    /// An IAM role's name, `wf-<workspace>-<name>-<what>`, shortened with a hash to IAM's 64.
    pub fn role_name(&self, what: &str) -> String {
        let full = format!("wf-{}-{}-{what}", self.workspace, self.name);
        if full.len() <= 64 {
            return full;
        }
        let hash = full.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        let keep = 64 - 17 - what.len() - 1;
        format!("{}-{hash:016x}-{what}", &full[..keep])
    }
}

/// Everything the driver needs to build (or change) an EKS cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct EksCluster {
    pub target: Target,
    /// `metadata.generation` being built.
    pub generation: i64,
    pub kubernetes_version: String,
    /// The allocated node network, e.g. `10.0.4.0/22`.
    pub network: String,
    /// How the network plan lays it out: zones, private and public subnets, NAT gateways.
    pub subnet_layout: SubnetLayout,
    pub node_pools: Vec<NodePool>,
    /// The plan's `authorizedMasterNetworks`: CIDRs that may reach the API (empty: anyone).
    pub authorized_master_networks: Vec<String>,
    /// Encrypt Kubernetes secrets with the cluster's own KMS key ([`secrets_key_alias`]).
    pub secrets_encryption: bool,
    /// The control-plane logs sent to CloudWatch, by EKS's log type names (`api`, `audit`,
    /// `authenticator`, `controllerManager`, `scheduler`); the others are turned off.
    pub control_plane_logs: Vec<String>,
}

/// A built cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub endpoint: String,
    /// The cluster's ARN.
    pub arn: String,
    /// `certificateAuthority.data`.
    pub certificate_authority: Option<String>,
    /// What was changed on this run to bring the cloud to the spec (drift, pools), for a person.
    pub changes: Vec<String>,
}

/// What the cloud says about a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Absent,
    InProgress,
    Ready(Built),
    Failed(Failure),
}

/// The AWS driver. Cheap to clone; one HTTP client for the Query calls.
#[derive(Debug, Clone)]
pub struct AwsDriver {
    endpoint_url: Option<String>,
    http: reqwest::Client,
    /// How often a cluster or node group still being built is looked at again.
    poll: Duration,
    /// How long a cluster or node group may take to become active.
    timeout: Duration,
    /// How often a delete blocked by dependencies is tried again, and the pause.
    delete_retries: u32,
    /// The base identity, when not the environment's (tests: any key works on moto).
    base_credentials: Option<SharedCredentialsProvider>,
    /// The web identity token exchanged for a CloudIdentity's role: the file
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` names, unless set otherwise.
    web_identity_token_file: Option<std::path::PathBuf>,
}

/// What the driver acts with in one account and region.
struct Session {
    eks: aws_sdk_eks::Client,
    ec2: std::sync::Arc<dyn Ec2>,
    iam: std::sync::Arc<dyn Iam>,
    kms: KmsClient,
    account: String,
    /// The ClusterManager role's credentials (assumed, refreshed by `aws-config`).
    credentials: SharedCredentialsProvider,
    /// Where STS answers: the emulator's endpoint, or `https://sts.<region>.amazonaws.com/`.
    sts_url: String,
}

/// Credentials from `AssumeRoleWithWebIdentity`: the token in `token_file` (read at each
/// refresh: a projected token is rotated) exchanged for `role`.
#[derive(Debug)]
struct WebIdentity {
    sts: aws_sdk_sts::Client,
    role: String,
    token_file: std::path::PathBuf,
    session: String,
    /// The CloudIdentity, for messages.
    identity: String,
}

impl WebIdentity {
    async fn load(&self) -> aws_credential_types::provider::Result {
        use aws_credential_types::provider::error::CredentialsError;
        let (identity, role) = (&self.identity, &self.role);
        let token = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|e| {
                CredentialsError::provider_error(format!(
                    "cloud identity {identity}: reading the web identity token {}: {e}",
                    self.token_file.display()
                ))
            })?;
        let answer = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(role)
            .role_session_name(&self.session)
            .web_identity_token(token.trim())
            .send()
            .await
            .map_err(|e| {
                let e = AwsError::from_sdk(e);
                CredentialsError::provider_error(format!(
                    "cloud identity {identity}: AssumeRoleWithWebIdentity into {role}: {e}"
                ))
            })?;
        let c = answer.credentials().ok_or_else(|| {
            CredentialsError::provider_error(format!(
                "cloud identity {identity}: AssumeRoleWithWebIdentity into {role} answered no credentials"
            ))
        })?;
        Ok(aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "WebIdentity",
        ))
    }
}

impl aws_credential_types::provider::ProvideCredentials for WebIdentity {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(self.load())
    }
}

/// The longest an EKS token may be valid: EKS's authenticator refuses a presigned
/// `GetCallerIdentity` older than 15 minutes.
pub const EKS_TOKEN_MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What a person needs to reach a built EKS cluster's API. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct EksCredentials {
    pub endpoint: String,
    /// `certificateAuthority.data`: base64 of the PEM, as DescribeCluster answers it.
    pub certificate_authority: Option<String>,
    /// `k8s-aws-v1.…` ([`eks_token`]), made with the ClusterManager role's credentials.
    pub token: String,
    /// How long the token is valid from now: the TTL asked for, at most
    /// [`EKS_TOKEN_MAX_LIFETIME`].
    pub expires_in: Duration,
}

impl std::fmt::Debug for EksCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksCredentials")
            .field("endpoint", &self.endpoint)
            .field("certificate_authority", &self.certificate_authority)
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl AwsDriver {
    /// A driver talking to `endpoint_url` (an emulator such as moto) when given, else to
    /// `AWS_ENDPOINT_URL` when set, else to AWS.
    pub fn new(endpoint_url: Option<String>) -> Self {
        let endpoint_url = endpoint_url
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_string());
        Self {
            endpoint_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            poll: Duration::from_secs(30),
            timeout: Duration::from_secs(40 * 60),
            delete_retries: 10,
            base_credentials: None,
            web_identity_token_file: std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE")
                .filter(|f| !f.is_empty())
                .map(std::path::PathBuf::from),
        }
    }

    /// Exchanges the token in `file` for a CloudIdentity's role (instead of the file
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` names).
    pub fn with_web_identity_token_file(mut self, file: impl Into<std::path::PathBuf>) -> Self {
        self.web_identity_token_file = Some(file.into());
        self
    }

    /// Acts with these base credentials instead of the environment's.
    pub fn with_base_credentials(mut self, access_key: &str, secret_key: &str) -> Self {
        self.base_credentials = Some(SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(access_key, secret_key, None, None, "wayfinder"),
        ));
        self
    }

    /// Polls every `poll` (tests against an emulator use a short one).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The endpoint in use, when not AWS's own.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    async fn session(&self, target: &Target) -> Result<Session, Failure> {
        let access = &target.access;
        let Some(role) = access.cluster_manager_role.clone() else {
            return Err(Failure::new(
                "CloudAccessDenied",
                format!(
                    "cloud access {} grants no ClusterManager role: add spec.permissions[] {{permission: ClusterManager, awsRole: arn:aws:iam::ACCOUNT:role/NAME}}",
                    access.config
                ),
            ));
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(target.region.clone()));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(identity) = &access.identity {
            loader = loader.credentials_provider(self.web_identity(target, identity).await?);
        } else if let Some(base) = &self.base_credentials {
            loader = loader.credentials_provider(base.clone());
        }
        let base = loader.load().await;
        let session_name = format!("wayfinder-{}", short(&target.uid));
        let assumed = AssumeRoleProvider::builder(role.clone())
            .session_name(session_name)
            .configure(&base)
            .build()
            .await;
        let credentials = SharedCredentialsProvider::new(assumed);
        let config = base
            .to_builder()
            .credentials_provider(credentials.clone())
            .build();
        let denied = |e: AwsError| {
            Failure::new(
                "CloudAccessDenied",
                format!(
                    "cloud access {}: cannot act as role {role}: {e}",
                    access.config
                ),
            )
        };
        let who = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| denied(AwsError::from_sdk(e)))?;
        let account = who.account().unwrap_or_default().to_string();
        if let Some(wanted) = access.account.as_deref().filter(|a| *a != account) {
            return Err(Failure::new(
                "CloudAccessDenied",
                format!(
                    "cloud access {} is for AWS account {wanted}, but its ClusterManager role {role} acts in account {account}: fix spec.aws.account or the role",
                    access.config
                ),
            ));
        }
        let region = target.region.clone();
        let (ec2_url, iam_url, sts_url, kms_url) = match &self.endpoint_url {
            Some(u) => (
                format!("{u}/"),
                format!("{u}/"),
                format!("{u}/"),
                format!("{u}/"),
            ),
            None => (
                format!("https://ec2.{region}.amazonaws.com/"),
                "https://iam.amazonaws.com/".to_string(),
                format!("https://sts.{region}.amazonaws.com/"),
                format!("https://kms.{region}.amazonaws.com/"),
            ),
        };
        Ok(Session {
            eks: aws_sdk_eks::Client::new(&config),
            ec2: std::sync::Arc::new(QueryEc2(QueryClient::new(
                self.http.clone(),
                QueryService {
                    service: "ec2",
                    version: "2016-11-15",
                    region: region.clone(),
                    url: ec2_url,
                },
                credentials.clone(),
            ))),
            iam: std::sync::Arc::new(QueryIam(QueryClient::new(
                self.http.clone(),
                QueryService {
                    service: "iam",
                    version: "2010-05-08",
                    region: "us-east-1".into(),
                    url: iam_url,
                },
                credentials.clone(),
            ))),
            kms: KmsClient::new(
                self.http.clone(),
                region.clone(),
                kms_url,
                credentials.clone(),
            ),
            account,
            credentials,
            sts_url,
        })
    }

    /// Base credentials from a CloudIdentity: its role, assumed with the web identity token
    /// (`AssumeRoleWithWebIdentity`, an unsigned STS call).
    async fn web_identity(
        &self,
        target: &Target,
        identity: &Identity,
    ) -> Result<SharedCredentialsProvider, Failure> {
        let config = &target.access.config;
        let name = &identity.name;
        if !identity.found {
            return Err(Failure::new(
                "CloudAccessDenied",
                format!(
                    "cloud access {config} names cloud identity {name}, which does not exist: create it or fix spec.cloudIdentityRef"
                ),
            ));
        }
        let Some(role) = identity.role.clone() else {
            return Err(Failure::new(
                "CloudAccessDenied",
                format!(
                    "cloud identity {name} (of cloud access {config}) has no spec.aws.roleARN: set the IAM role the server's web identity assumes"
                ),
            ));
        };
        let Some(token_file) = self.web_identity_token_file.clone() else {
            return Err(Failure::new(
                "CloudAccessDenied",
                format!(
                    "cloud identity {name} (of cloud access {config}) is role {role}, assumed with a web identity token: run the server with AWS_WEB_IDENTITY_TOKEN_FILE naming the token's file"
                ),
            ));
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(target.region.clone()))
            .no_credentials();
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sts = aws_sdk_sts::Client::new(&loader.load().await);
        Ok(SharedCredentialsProvider::new(WebIdentity {
            sts,
            role,
            token_file,
            session: format!("wayfinder-{}", short(&target.uid)),
            identity: name.clone(),
        }))
    }

    /// Builds the cluster or brings it to `cluster`; resolves when it is active. Idempotent.
    pub async fn provision(&self, cluster: &EksCluster) -> Result<Built, Failure> {
        let t = &cluster.target;
        let s = self.session(t).await?;
        let fail = |what: &str, e: AwsError| cloud_failure(t, what, e);

        // Refuse what EC2 does not know before building anything.
        let types: Vec<String> = cluster
            .node_pools
            .iter()
            .flat_map(instance_types)
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        if !types.is_empty() {
            s.ec2
                .describe_instance_types(&types)
                .await
                .map_err(|e| fail("checking the node pools' instance types", e))?;
        }

        let subnets = self
            .network(&s, cluster)
            .await
            .map_err(|e| fail("building the network", e))?;
        let cluster_role = ensure_role(&s, t, "cluster", "eks.amazonaws.com", CLUSTER_POLICIES)
            .await
            .map_err(|e| e.into_failure(t, "the cluster role"))?;
        let node_role = ensure_role(&s, t, "node", "ec2.amazonaws.com", NODE_POLICIES)
            .await
            .map_err(|e| e.into_failure(t, "the node role"))?;

        let name = t.cluster_name();
        let found = describe_cluster(&s, &name)
            .await
            .map_err(|e| fail("looking up the EKS cluster", e))?;
        // The key is made before the cluster (EKS takes it at creation) and only when the
        // cluster is still to be made.
        let secrets_key = match (&found, cluster.secrets_encryption) {
            (None, true) => Some(
                ensure_secrets_key(&s, t)
                    .await
                    .map_err(|e| fail("making the KMS key for Kubernetes secrets", e))?,
            ),
            _ => None,
        };
        match found {
            Some(c) => owned(t, &format!("EKS cluster {name}"), c.tags())?,
            None => {
                let logging = logging(&cluster.control_plane_logs);
                let mut vpc = eks::VpcConfigRequest::builder()
                    .set_subnet_ids(Some(subnets.clone()))
                    .endpoint_public_access(true)
                    .endpoint_private_access(true);
                if !cluster.authorized_master_networks.is_empty() {
                    vpc = vpc
                        .set_public_access_cidrs(Some(cluster.authorized_master_networks.clone()));
                }
                // `resources` is deprecated in the newest EKS API (all API data is encrypted
                // once a key is given) but still accepted, and what older API versions and
                // emulators require.
                #[allow(deprecated)]
                let encryption = secrets_key.map(|arn| {
                    vec![
                        eks::EncryptionConfig::builder()
                            .resources("secrets")
                            .provider(eks::Provider::builder().key_arn(arn).build())
                            .build(),
                    ]
                });
                let created = s
                    .eks
                    .create_cluster()
                    .name(&name)
                    .version(&cluster.kubernetes_version)
                    .role_arn(&cluster_role)
                    .resources_vpc_config(vpc.build())
                    .logging(logging)
                    .set_encryption_config(encryption)
                    .set_tags(Some(tags(t)))
                    .client_request_token(token(t, cluster.generation, "cluster"))
                    .send()
                    .await
                    .map_err(AwsError::from_sdk);
                match created {
                    Ok(_) => tracing::info!(cluster = %name, "EKS cluster created"),
                    // Created by an earlier run (or by someone else: checked below).
                    Err(e) if e.is("ResourceInUseException") => {
                        let again = describe_cluster(&s, &name)
                            .await
                            .map_err(|e| fail("looking up the EKS cluster", e))?;
                        owned(
                            t,
                            &format!("EKS cluster {name}"),
                            again.as_ref().and_then(|c| c.tags()),
                        )?;
                    }
                    Err(e) => return Err(fail("creating the EKS cluster", e)),
                }
            }
        }
        let active = self.wait_cluster_active(&s, t).await?;
        let changes = self.node_groups(&s, cluster, &subnets, &node_role).await?;
        Ok(Built { changes, ..active })
    }

    async fn wait_cluster_active(&self, s: &Session, t: &Target) -> Result<Built, Failure> {
        let name = t.cluster_name();
        let started = tokio::time::Instant::now();
        loop {
            let c = describe_cluster(s, &name)
                .await
                .map_err(|e| cloud_failure(t, "looking up the EKS cluster", e))?
                .ok_or_else(|| {
                    Failure::new(
                        "ProvisioningFailed",
                        format!("EKS cluster {name} disappeared while being built"),
                    )
                })?;
            match c.status() {
                Some(eks::ClusterStatus::Active) | Some(eks::ClusterStatus::Updating) => {
                    return Ok(built(&c));
                }
                Some(eks::ClusterStatus::Failed) => {
                    return Err(Failure::new(
                        "ProvisioningFailed",
                        format!("EKS cluster {name} is FAILED in account {}", s.account),
                    ));
                }
                other => {
                    if started.elapsed() > self.timeout {
                        return Err(Failure::new(
                            "ProvisioningTimeout",
                            format!(
                                "EKS cluster {name} is still {other:?} after {:?}",
                                self.timeout
                            ),
                        ));
                    }
                    tokio::time::sleep(self.poll).await;
                }
            }
        }
    }

    /// The VPC with the allocated CIDR and its subnets; returns the subnet ids.
    async fn network(&self, s: &Session, c: &EksCluster) -> Result<Vec<String>, AwsError> {
        let t = &c.target;
        let cidr = Ipv4Net::parse(&c.network).map_err(|e| AwsError {
            code: "InvalidParameterValue".into(),
            message: format!("the allocated network {:?} is not a CIDR: {e}", c.network),
            status: 0,
        })?;
        let vpc = match find_by_uid(s, Ec2Kind::Vpc, t, &[]).await?.first() {
            Some(v) => v.id.clone(),
            None => {
                let id = s
                    .ec2
                    .create_vpc(&cidr.to_string(), &ec2_tags(t, &[]))
                    .await?;
                tracing::info!(vpc = %id, %cidr, "VPC created");
                id
            }
        };
        let layout = c.subnet_layout;
        let planned = layout.subnets(cidr).map_err(|message| AwsError {
            code: "InvalidParameterValue".into(),
            message,
            status: 0,
        })?;
        let mut zones = s.ec2.describe_availability_zones().await?;
        zones.sort();
        zones.truncate(usize::from(layout.zones));
        if zones.is_empty() {
            return Err(AwsError {
                code: "InvalidParameterValue".into(),
                message: format!("region {} has no available zone", t.region),
                status: 0,
            });
        }
        let existing: BTreeMap<String, String> = s
            .ec2
            .describe(Ec2Kind::Subnet, &[Filter::new("vpc-id", &[&vpc])], &[])
            .await?
            .into_iter()
            .filter_map(|sn| Some((sn.cidr?, sn.id)))
            .collect();
        let (mut private, mut public) = (Vec::new(), Vec::new());
        for sn in &planned {
            let range = sn.cidr.to_string();
            let id = match existing.get(&range) {
                Some(id) => id.clone(),
                None => {
                    let zone = &zones[usize::from(sn.zone) % zones.len()];
                    let tags = ec2_tags(t, &[(TAG_TIER, tier(sn.public).to_string())]);
                    s.ec2.create_subnet(&vpc, &range, zone, &tags).await?
                }
            };
            if sn.public {
                public.push(id);
            } else {
                private.push(id);
            }
        }
        if !public.is_empty() {
            let igw = self.internet_gateway(s, t, &vpc).await?;
            let table = self
                .route_table(s, c, &vpc, "public", RouteTarget::InternetGateway(igw))
                .await?;
            associate(s, &table, &public).await?;
        }
        let nats = usize::from(layout.nat_gateways).min(public.len());
        for (k, subnet) in public.iter().take(nats).enumerate() {
            let nat = self.nat_gateway(s, c, k, subnet).await?;
            let table = self
                .route_table(
                    s,
                    c,
                    &vpc,
                    &format!("private-{k}"),
                    RouteTarget::NatGateway(nat),
                )
                .await?;
            let served: Vec<String> = private
                .iter()
                .enumerate()
                .filter(|(i, _)| i % nats == k)
                .map(|(_, id)| id.clone())
                .collect();
            associate(s, &table, &served).await?;
        }
        let mut ids = private;
        ids.extend(public);
        Ok(ids)
    }

    /// The cluster's internet gateway, made and attached to `vpc` unless already.
    async fn internet_gateway(
        &self,
        s: &Session,
        t: &Target,
        vpc: &str,
    ) -> Result<String, AwsError> {
        let found = find_by_uid(s, Ec2Kind::InternetGateway, t, &[]).await?;
        let (id, attached) = match found.first() {
            Some(g) => (g.id.clone(), g.attached_vpcs.iter().any(|v| v == vpc)),
            None => {
                let id = s.ec2.create_internet_gateway(&ec2_tags(t, &[])).await?;
                tracing::info!(internet_gateway = %id, "internet gateway created");
                (id, false)
            }
        };
        if !attached {
            s.ec2.attach_internet_gateway(&id, vpc).await?;
        }
        Ok(id)
    }

    /// The route table `name` (`public`, `private-K`) of the cluster's VPC, with its default
    /// route to `target`.
    async fn route_table(
        &self,
        s: &Session,
        c: &EksCluster,
        vpc: &str,
        name: &str,
        target: RouteTarget,
    ) -> Result<String, AwsError> {
        let t = &c.target;
        let found = find_by_uid(
            s,
            Ec2Kind::RouteTable,
            t,
            &[Filter::new(format!("tag:{TAG_ROUTE_TABLE}"), &[name])],
        )
        .await?;
        let (id, routed) = match found.first() {
            Some(rt) => (rt.id.clone(), rt.default_route),
            None => {
                let tags = ec2_tags(t, &[(TAG_ROUTE_TABLE, name.to_string())]);
                let client_token = token(t, c.generation, &format!("rt-{name}"));
                let id = s.ec2.create_route_table(vpc, &client_token, &tags).await?;
                (id, false)
            }
        };
        if !routed {
            match s.ec2.create_default_route(&id, &target).await {
                Ok(()) => {}
                Err(e) if e.is("RouteAlreadyExists") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(id)
    }

    /// NAT gateway `k` (with its elastic IP) in public subnet `subnet`.
    async fn nat_gateway(
        &self,
        s: &Session,
        c: &EksCluster,
        k: usize,
        subnet: &str,
    ) -> Result<String, AwsError> {
        let t = &c.target;
        let k_text = k.to_string();
        let which = Filter::new(format!("tag:{TAG_NAT}"), &[&k_text]);
        let live = [
            which.clone(),
            Filter::new("state", &["pending", "available"]),
        ];
        // moto 5.2.6 ignores tag filters on DescribeNatGateways: check the tags here too.
        if let Some(n) = find_by_uid(s, Ec2Kind::NatGateway, t, &live)
            .await?
            .iter()
            .find(|n| {
                n.tag(TAG_UID) == Some(t.uid.as_str())
                    && n.tag(TAG_NAT) == Some(k_text.as_str())
                    && matches!(n.state.as_deref(), Some("pending" | "available"))
            })
        {
            return Ok(n.id.clone());
        }
        let tags = ec2_tags(t, &[(TAG_NAT, k_text.clone())]);
        let allocation = match find_by_uid(s, Ec2Kind::ElasticIp, t, &[which])
            .await?
            .first()
        {
            Some(a) => a.id.clone(),
            None => s.ec2.allocate_address(&tags).await?,
        };
        let client_token = token(t, c.generation, &format!("nat-{k}"));
        let id = s
            .ec2
            .create_nat_gateway(subnet, &allocation, &client_token, &tags)
            .await?;
        tracing::info!(nat_gateway = %id, "NAT gateway created");
        Ok(id)
    }

    /// One managed node group per pool, each brought to its pool; groups of removed pools
    /// deleted. Returns what it changed.
    async fn node_groups(
        &self,
        s: &Session,
        c: &EksCluster,
        subnets: &[String],
        node_role: &str,
    ) -> Result<Vec<String>, Failure> {
        let t = &c.target;
        let name = t.cluster_name();
        let fail = |what: String, e: AwsError| cloud_failure(t, &what, e);
        let mut changes = Vec::new();
        let existing = list_node_groups(s, &name)
            .await
            .map_err(|e| fail("listing node groups".into(), e))?;
        for pool in &c.node_pools {
            let ng = &pool.logical_name;
            let want = Wanted::of(pool);
            let found = describe_node_group(s, &name, ng)
                .await
                .map_err(|e| fail(format!("looking up node group {ng}"), e))?;
            match found {
                None => {
                    let mut create = s
                        .eks
                        .create_nodegroup()
                        .cluster_name(&name)
                        .nodegroup_name(ng)
                        .node_role(node_role)
                        .set_subnets(Some(subnets.to_vec()))
                        .set_instance_types(Some(instance_types(pool)))
                        .scaling_config(want.scaling(None))
                        .set_labels(Some(want.labels.clone()))
                        .set_taints(Some(want.taints.iter().map(Taint::to_eks).collect()))
                        .set_tags(Some(tags(t)))
                        .capacity_type(if want.spot {
                            eks::CapacityTypes::Spot
                        } else {
                            eks::CapacityTypes::OnDemand
                        })
                        .client_request_token(token(t, c.generation, ng));
                    if let Some(d) = pool.disk_size {
                        create = create.disk_size(clamp(d));
                    }
                    match create.send().await.map_err(AwsError::from_sdk) {
                        Ok(_) => changes.push(format!("node group {ng} created")),
                        Err(e) if e.is("ResourceInUseException") => {}
                        Err(e) => {
                            return Err(fail(
                                format!("creating node group {ng} (node pool {ng})"),
                                e,
                            ));
                        }
                    }
                }
                Some(have) => {
                    owned(t, &format!("node group {ng}"), have.tags())?;
                    if let Some(update) = want.update_for(&have) {
                        let what = update.describe(ng);
                        let mut call = s
                            .eks
                            .update_nodegroup_config()
                            .cluster_name(&name)
                            .nodegroup_name(ng)
                            .client_request_token(format!(
                                "{}-{}",
                                token(t, c.generation, ng),
                                short_hash(&what)
                            ));
                        if let Some(sc) = update.scaling {
                            call = call.scaling_config(sc);
                        }
                        if let Some(l) = update.labels {
                            call = call.labels(l);
                        }
                        if let Some(tt) = update.taints {
                            call = call.taints(tt);
                        }
                        call.send().await.map_err(|e| {
                            fail(format!("updating node group {ng}"), AwsError::from_sdk(e))
                        })?;
                        tracing::info!(cluster = %name, "{what}");
                        changes.push(what);
                    }
                }
            }
        }
        let wanted: BTreeSet<&str> = c
            .node_pools
            .iter()
            .map(|p| p.logical_name.as_str())
            .collect();
        for ng in existing.iter().filter(|n| !wanted.contains(n.as_str())) {
            let Some(have) = describe_node_group(s, &name, ng)
                .await
                .map_err(|e| fail(format!("looking up node group {ng}"), e))?
            else {
                continue;
            };
            if have.tags().and_then(|t| t.get(TAG_UID)).map(String::as_str) != Some(t.uid.as_str())
            {
                continue;
            }
            delete_node_group(s, &name, ng)
                .await
                .map_err(|e| fail(format!("deleting node group {ng}"), e))?;
            changes.push(format!("node group {ng} deleted (its pool was removed)"));
        }
        self.wait_node_groups(s, t, c).await?;
        Ok(changes)
    }

    async fn wait_node_groups(
        &self,
        s: &Session,
        t: &Target,
        c: &EksCluster,
    ) -> Result<(), Failure> {
        let name = t.cluster_name();
        let started = tokio::time::Instant::now();
        for pool in &c.node_pools {
            let ng = &pool.logical_name;
            loop {
                let have = describe_node_group(s, &name, ng)
                    .await
                    .map_err(|e| cloud_failure(t, &format!("looking up node group {ng}"), e))?;
                match have.as_ref().and_then(|h| h.status()) {
                    Some(eks::NodegroupStatus::Active) | Some(eks::NodegroupStatus::Updating) => {
                        break;
                    }
                    Some(eks::NodegroupStatus::CreateFailed)
                    | Some(eks::NodegroupStatus::Degraded) => {
                        let issue = have
                            .as_ref()
                            .and_then(|h| h.health())
                            .and_then(|h| h.issues().first())
                            .map(|i| {
                                format!(
                                    "{}: {}",
                                    i.code().map(|c| c.as_str()).unwrap_or("Unknown"),
                                    i.message().unwrap_or_default()
                                )
                            })
                            .unwrap_or_else(|| "no health issue reported".into());
                        return Err(Failure::new(
                            "ProvisioningFailed",
                            format!("node group {ng} (node pool {ng}) failed: {issue}"),
                        ));
                    }
                    _ if started.elapsed() > self.timeout => {
                        return Err(Failure::new(
                            "ProvisioningTimeout",
                            format!("node group {ng} is not active after {:?}", self.timeout),
                        ));
                    }
                    _ => tokio::time::sleep(self.poll).await,
                }
            }
        }
        Ok(())
    }

    /// Deletes everything made for the cluster, in reverse order; succeeds when nothing is
    /// left. Objects carrying another uid are left alone.
    pub async fn delete(&self, t: &Target) -> Result<(), Failure> {
        let s = self.session(t).await?;
        let fail = |what: &str, e: AwsError| cloud_failure(t, what, e);
        let name = t.cluster_name();
        let found = describe_cluster(&s, &name)
            .await
            .map_err(|e| fail("looking up the EKS cluster", e))?;
        let ours = |c: &eks::Cluster| {
            c.tags().and_then(|m| m.get(TAG_UID)).map(String::as_str) == Some(t.uid.as_str())
        };
        if found.as_ref().is_some_and(ours) {
            let groups = list_node_groups(&s, &name)
                .await
                .map_err(|e| fail("listing node groups", e))?;
            for ng in &groups {
                delete_node_group(&s, &name, ng)
                    .await
                    .map_err(|e| fail(&format!("deleting node group {ng}"), e))?;
            }
            for ng in &groups {
                self.wait_gone(|| async {
                    describe_node_group(&s, &name, ng)
                        .await
                        .map(|o| o.is_some())
                })
                .await
                .map_err(|e| fail(&format!("waiting for node group {ng} to go"), e))?;
            }
            match s
                .eks
                .delete_cluster()
                .name(&name)
                .send()
                .await
                .map_err(AwsError::from_sdk)
            {
                Ok(_) => {}
                Err(e) if e.is("ResourceNotFoundException") => {}
                Err(e) => return Err(fail("deleting the EKS cluster", e)),
            }
            self.wait_gone(|| async { describe_cluster(&s, &name).await.map(|o| o.is_some()) })
                .await
                .map_err(|e| fail("waiting for the EKS cluster to go", e))?;
        }
        // The network, in reverse: NAT gateways, their elastic IPs, the internet gateway,
        // the route tables, then subnets and the VPC.
        let nats = find_by_uid(&s, Ec2Kind::NatGateway, t, &[])
            .await
            .map_err(|e| fail("finding the NAT gateways", e))?;
        // moto 5.2.6 ignores tag filters on DescribeNatGateways: check the uid here too.
        for n in nats.iter().filter(|n| {
            n.tag(TAG_UID) == Some(t.uid.as_str()) && n.state.as_deref() != Some("deleted")
        }) {
            let id = n.id.clone();
            self.retrying_delete(Ec2Kind::NatGateway.not_found(), || {
                s.ec2.delete(Ec2Kind::NatGateway, &id)
            })
            .await
            .map_err(|e| fail(&format!("deleting NAT gateway {id}"), e))?;
            self.wait_gone(|| async {
                let ids = [id.clone()];
                let left = s.ec2.describe(Ec2Kind::NatGateway, &[], &ids).await?;
                Ok(left.iter().any(|n| n.state.as_deref() != Some("deleted")))
            })
            .await
            .map_err(|e| fail(&format!("waiting for NAT gateway {id} to go"), e))?;
        }
        for a in find_by_uid(&s, Ec2Kind::ElasticIp, t, &[])
            .await
            .map_err(|e| fail("finding the elastic IPs", e))?
        {
            self.retrying_delete(Ec2Kind::ElasticIp.not_found(), || {
                s.ec2.delete(Ec2Kind::ElasticIp, &a.id)
            })
            .await
            .map_err(|e| fail(&format!("releasing elastic IP {}", a.id), e))?;
        }
        for g in find_by_uid(&s, Ec2Kind::InternetGateway, t, &[])
            .await
            .map_err(|e| fail("finding the internet gateway", e))?
        {
            let id = &g.id;
            for vpc in &g.attached_vpcs {
                self.retrying_delete("Gateway.NotAttached", || {
                    s.ec2.detach_internet_gateway(id, vpc)
                })
                .await
                .map_err(|e| fail(&format!("detaching internet gateway {id}"), e))?;
            }
            self.retrying_delete(Ec2Kind::InternetGateway.not_found(), || {
                s.ec2.delete(Ec2Kind::InternetGateway, id)
            })
            .await
            .map_err(|e| fail(&format!("deleting internet gateway {id}"), e))?;
        }
        for rt in find_by_uid(&s, Ec2Kind::RouteTable, t, &[])
            .await
            .map_err(|e| fail("finding the route tables", e))?
        {
            let id = &rt.id;
            for (association, _) in &rt.associations {
                self.retrying_delete("InvalidAssociationID.NotFound", || {
                    s.ec2.disassociate_route_table(association)
                })
                .await
                .map_err(|e| fail(&format!("detaching route table {id}"), e))?;
            }
            self.retrying_delete(Ec2Kind::RouteTable.not_found(), || {
                s.ec2.delete(Ec2Kind::RouteTable, id)
            })
            .await
            .map_err(|e| fail(&format!("deleting route table {id}"), e))?;
        }
        for vpc in find_by_uid(&s, Ec2Kind::Vpc, t, &[])
            .await
            .map_err(|e| fail("finding the VPC", e))?
        {
            let vpc = &vpc.id;
            let subnets = s
                .ec2
                .describe(Ec2Kind::Subnet, &[Filter::new("vpc-id", &[vpc])], &[])
                .await
                .map_err(|e| fail("listing the VPC's subnets", e))?;
            for sn in &subnets {
                self.retrying_delete(Ec2Kind::Subnet.not_found(), || {
                    s.ec2.delete(Ec2Kind::Subnet, &sn.id)
                })
                .await
                .map_err(|e| fail(&format!("deleting subnet {}", sn.id), e))?;
            }
            self.retrying_delete(Ec2Kind::Vpc.not_found(), || s.ec2.delete(Ec2Kind::Vpc, vpc))
                .await
                .map_err(|e| fail(&format!("deleting VPC {vpc}"), e))?;
        }
        for what in ["node", "cluster"] {
            let role = t.role_name(what);
            match s.iam.get_role(&role).await {
                Ok(Some(r)) if r.tags.get(TAG_UID) == Some(&t.uid) => {}
                Ok(_) => continue,
                Err(e) => return Err(fail(&format!("looking up role {role}"), e)),
            }
            let attached = s
                .iam
                .list_attached_role_policies(&role)
                .await
                .map_err(|e| fail(&format!("listing role {role}'s policies"), e))?;
            for arn in &attached {
                self.retrying_delete("NoSuchEntity", || s.iam.detach_role_policy(&role, arn))
                    .await
                    .map_err(|e| fail(&format!("detaching role {role}'s policies"), e))?;
            }
            self.retrying_delete("NoSuchEntity", || s.iam.delete_role(&role))
                .await
                .map_err(|e| fail(&format!("deleting role {role}"), e))?;
        }
        delete_secrets_keys(&s, t)
            .await
            .map_err(|e| fail("scheduling the deletion of the secrets' KMS key", e))?;
        Ok(())
    }

    /// A delete call: `not_found` counts as done; `DependencyViolation`/`DeleteConflict` are
    /// tried again after a pause.
    async fn retrying_delete<F, Fut>(&self, not_found: &str, call: F) -> Result<(), AwsError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), AwsError>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is(not_found) => return Ok(()),
                Err(e)
                    if (e.is("DependencyViolation") || e.is("DeleteConflict"))
                        && attempt < self.delete_retries =>
                {
                    attempt += 1;
                    tokio::time::sleep(self.poll.min(Duration::from_secs(5))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn wait_gone<F, Fut>(&self, still_there: F) -> Result<(), AwsError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool, AwsError>>,
    {
        let started = tokio::time::Instant::now();
        while still_there().await? {
            if started.elapsed() > self.timeout {
                return Err(AwsError {
                    code: "DeleteTimeout".into(),
                    message: format!("still there after {:?}", self.timeout),
                    status: 0,
                });
            }
            tokio::time::sleep(self.poll).await;
        }
        Ok(())
    }

    /// What the cloud says about the cluster now.
    pub async fn status(&self, t: &Target) -> Observed {
        let s = match self.session(t).await {
            Ok(s) => s,
            Err(f) => return Observed::Failed(f),
        };
        match describe_cluster(&s, &t.cluster_name()).await {
            Ok(None) => Observed::Absent,
            Ok(Some(c)) => match c.status() {
                Some(eks::ClusterStatus::Active) => Observed::Ready(built(&c)),
                Some(eks::ClusterStatus::Failed) => Observed::Failed(Failure::new(
                    "ProvisioningFailed",
                    format!("EKS cluster {} is FAILED", t.cluster_name()),
                )),
                _ => Observed::InProgress,
            },
            Err(e) => Observed::Failed(cloud_failure(t, "looking up the EKS cluster", e)),
        }
    }
}

impl AwsDriver {
    /// Credentials for the built cluster `t`, valid for `ttl` (at most
    /// [`EKS_TOKEN_MAX_LIFETIME`]): its endpoint and CA from DescribeCluster and an
    /// [`eks_token`] signed with the ClusterManager role's credentials. A cluster that is not
    /// (yet) `ACTIVE` is a `Failure` (`NotReady`).
    pub async fn credentials(&self, t: &Target, ttl: Duration) -> Result<EksCredentials, Failure> {
        use aws_credential_types::provider::ProvideCredentials as _;
        let s = self.session(t).await?;
        let name = t.cluster_name();
        let cluster = describe_cluster(&s, &name)
            .await
            .map_err(|e| cloud_failure(t, "looking up the EKS cluster", e))?;
        let Some(cluster) = cluster.filter(|c| c.status() == Some(&eks::ClusterStatus::Active))
        else {
            return Err(Failure::new(
                "NotReady",
                format!("EKS cluster {name} is not ACTIVE: no credentials for it yet"),
            ));
        };
        let built = built(&cluster);
        let credentials = s.credentials.provide_credentials().await.map_err(|e| {
            Failure::new(
                "CloudAccessDenied",
                format!(
                    "cloud access {}: cannot act as its ClusterManager role: {}",
                    t.access.config,
                    aws_smithy_types_display(&e)
                ),
            )
        })?;
        let expires_in = ttl.min(EKS_TOKEN_MAX_LIFETIME);
        let token = eks_token(
            &name,
            &t.region,
            &s.sts_url,
            credentials,
            expires_in,
            std::time::SystemTime::now(),
        )
        .map_err(|e| Failure::new("ProvisioningFailed", e.to_string()))?;
        Ok(EksCredentials {
            endpoint: built.endpoint,
            certificate_authority: built.certificate_authority,
            token,
            expires_in,
        })
    }
}

/// The prefix of an EKS bearer token.
pub const EKS_TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// The header naming the cluster inside an EKS token's signed request.
pub const EKS_CLUSTER_HEADER: &str = "x-k8s-aws-id";

/// An EKS bearer token, as `aws eks get-token` makes it: `k8s-aws-v1.` and the base64url
/// (unpadded) of a presigned STS `GetCallerIdentity` URL whose signature covers the
/// `x-k8s-aws-id: <cluster>` header; EKS's authenticator replays it to learn who is asking.
/// `sts_url` is `https://sts.<region>.amazonaws.com/` or an emulator's URL; the URL is valid
/// for `expires` (EKS accepts at most 15 minutes).
pub fn eks_token(
    cluster: &str,
    region: &str,
    sts_url: &str,
    credentials: aws_credential_types::Credentials,
    expires: Duration,
    now: std::time::SystemTime,
) -> Result<String, AwsError> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    use base64::Engine as _;
    let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| AwsError::local(format!("signing the EKS token: {e}")))?
        .into();
    let base = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        sts_url.trim_end_matches('/')
    );
    let headers = [(EKS_CLUSTER_HEADER, cluster)];
    let signable = SignableRequest::new(
        "GET",
        base.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| AwsError::local(format!("signing the EKS token: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| AwsError::local(format!("signing the EKS token: {e}")))?
        .into_parts();
    let mut request = http::Request::builder()
        .method("GET")
        .uri(&base)
        .header(EKS_CLUSTER_HEADER, cluster)
        .body(())
        .map_err(|e| AwsError::local(format!("the EKS token's URL: {e}")))?;
    instructions.apply_to_request_http1x(&mut request);
    let url = request.uri().to_string();
    Ok(format!(
        "{EKS_TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    ))
}

fn built(c: &eks::Cluster) -> Built {
    Built {
        endpoint: c.endpoint().unwrap_or_default().to_string(),
        arn: c.arn().unwrap_or_default().to_string(),
        certificate_authority: c
            .certificate_authority()
            .and_then(|a| a.data())
            .map(str::to_string),
        changes: Vec::new(),
    }
}

/// A failure from a cloud error met while doing `what`.
fn cloud_failure(t: &Target, what: &str, e: AwsError) -> Failure {
    let reason = reason_for(&e.code);
    let mut message = format!("{what}: {e}");
    if reason == "CloudAccessDenied" {
        message.push_str(&format!(
            " (cloud access {}, role {})",
            t.access.config,
            t.access.cluster_manager_role.as_deref().unwrap_or("none")
        ));
    }
    Failure::new(reason, message)
}

/// Fails with `NameInUse` unless `tags` carry the cluster's uid.
fn owned(
    t: &Target,
    what: &str,
    tags: Option<&std::collections::HashMap<String, String>>,
) -> Result<(), Failure> {
    match tags.and_then(|m| m.get(TAG_UID)) {
        Some(uid) if *uid == t.uid => Ok(()),
        other => Err(Failure::new(
            "NameInUse",
            format!(
                "{what} already exists and is not this cluster's ({}); rename the cluster or remove the other one",
                match other {
                    Some(_) => "it belongs to another cluster of that name",
                    None => "it has no Wayfinder tag",
                }
            ),
        )),
    }
}

fn tags(t: &Target) -> std::collections::HashMap<String, String> {
    [
        (TAG_UID, t.uid.clone()),
        (TAG_WORKSPACE, t.workspace.clone()),
        (TAG_CLUSTER, t.name.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The tags of a new EC2 object: the cluster's, `extra`, and `Name`, sorted.
fn ec2_tags(t: &Target, extra: &[(&str, String)]) -> Tags {
    let mut all: Tags = tags(t).into_iter().collect();
    all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    all.push(("Name".into(), t.cluster_name()));
    all.sort();
    all
}

fn tier(public: bool) -> &'static str {
    if public { "public" } else { "private" }
}

/// Associates `subnets` with route table `table`, unless already.
async fn associate(s: &Session, table: &str, subnets: &[String]) -> Result<(), AwsError> {
    let ids = [table.to_string()];
    let have: BTreeSet<String> = s
        .ec2
        .describe(Ec2Kind::RouteTable, &[], &ids)
        .await?
        .iter()
        .flat_map(|rt| rt.associations.iter().filter_map(|(_, sn)| sn.clone()))
        .collect();
    for sn in subnets.iter().filter(|sn| !have.contains(*sn)) {
        s.ec2.associate_route_table(table, sn).await?;
    }
    Ok(())
}

/// The EC2 objects of `kind` tagged with the cluster's uid and matching `extra`.
async fn find_by_uid(
    s: &Session,
    kind: Ec2Kind,
    t: &Target,
    extra: &[Filter],
) -> Result<Vec<Ec2Object>, AwsError> {
    let mut filters = vec![Filter::new(format!("tag:{TAG_UID}"), &[&t.uid])];
    filters.extend_from_slice(extra);
    s.ec2.describe(kind, &filters, &[]).await
}

/// Why making a role failed: a cloud error, or a role of that name that is not ours.
enum RoleError {
    Cloud(AwsError),
    NotOurs(String),
}

impl RoleError {
    fn into_failure(self, t: &Target, what: &str) -> Failure {
        match self {
            RoleError::Cloud(e) => cloud_failure(t, &format!("making {what}"), e),
            RoleError::NotOurs(name) => Failure::new(
                "NameInUse",
                format!(
                    "IAM role {name} already exists and is not this cluster's; remove it or rename the cluster"
                ),
            ),
        }
    }
}

/// The role `wf-<ws>-<name>-<what>` trusted by `principal`, with `policies` attached; its ARN.
async fn ensure_role(
    s: &Session,
    t: &Target,
    what: &str,
    principal: &str,
    policies: &[&str],
) -> Result<String, RoleError> {
    let name = t.role_name(what);
    let ours = |r: &Role| r.tags.get(TAG_UID) == Some(&t.uid);
    let arn = match s.iam.get_role(&name).await.map_err(RoleError::Cloud)? {
        Some(r) if ours(&r) => r.arn,
        Some(_) => return Err(RoleError::NotOurs(name)),
        None => {
            let trust = serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": principal},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }],
            });
            let mut all: Tags = tags(t).into_iter().collect();
            all.sort();
            match s.iam.create_role(&name, &trust.to_string(), &all).await {
                Ok(arn) => arn,
                // Made a moment ago by another run: look again.
                Err(e) if e.is("EntityAlreadyExists") => {
                    match s.iam.get_role(&name).await.map_err(RoleError::Cloud)? {
                        Some(r) if ours(&r) => r.arn,
                        _ => return Err(RoleError::NotOurs(name)),
                    }
                }
                Err(e) => return Err(RoleError::Cloud(e)),
            }
        }
    };
    for policy in policies {
        s.iam
            .attach_role_policy(&name, &format!("arn:aws:iam::aws:policy/{policy}"))
            .await
            .map_err(RoleError::Cloud)?;
    }
    Ok(arn)
}

/// EKS's `logging`: the `enabled` log types on, the others off.
fn logging(enabled: &[String]) -> eks::Logging {
    let all = [
        eks::LogType::Api,
        eks::LogType::Audit,
        eks::LogType::Authenticator,
        eks::LogType::ControllerManager,
        eks::LogType::Scheduler,
    ];
    let (on, off): (Vec<eks::LogType>, Vec<eks::LogType>) = all
        .into_iter()
        .partition(|t| enabled.iter().any(|e| e == t.as_str()));
    let mut logging = eks::Logging::builder();
    for (types, enabled) in [(on, true), (off, false)] {
        if !types.is_empty() {
            logging = logging.cluster_logging(
                eks::LogSetup::builder()
                    .set_types(Some(types))
                    .enabled(enabled)
                    .build(),
            );
        }
    }
    logging.build()
}

/// The alias of the KMS key that encrypts a cluster's Kubernetes secrets:
/// `alias/wayfinder/<uid>` (one per cluster; the uid never names another).
pub fn secrets_key_alias(t: &Target) -> String {
    let uid: String = t
        .uid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("alias/wayfinder/{uid}")
}

/// How long a deleted cluster's key waits before KMS deletes it (KMS's shortest: 7 days).
pub const SECRETS_KEY_PENDING_DAYS: u32 = 7;

/// The key a KMS answer's `KeyMetadata` describes: (id, ARN, state).
fn key_metadata(answer: &serde_json::Value) -> (String, String, String) {
    let m = &answer["KeyMetadata"];
    let text = |f: &str| m[f].as_str().unwrap_or_default().to_string();
    (text("KeyId"), text("Arn"), text("KeyState"))
}

/// The keys of the account and region tagged with the cluster's uid: (id, ARN, state).
/// KMS cannot filter by tag, so every key's tags are read; a key whose tags cannot be read
/// (an AWS-managed key, another account's policy) is not ours.
async fn tagged_keys(s: &Session, t: &Target) -> Result<Vec<(String, String, String)>, AwsError> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut input = serde_json::json!({"Limit": 1000});
        if let Some(m) = &marker {
            input["Marker"] = m.clone().into();
        }
        let page = s.kms.call("ListKeys", &input).await?;
        for key in page["Keys"].as_array().into_iter().flatten() {
            let Some(id) = key["KeyId"].as_str() else {
                continue;
            };
            let tags = match s
                .kms
                .call("ListResourceTags", &serde_json::json!({"KeyId": id}))
                .await
            {
                Ok(tags) => tags,
                Err(e) if e.retryable() => return Err(e),
                Err(_) => continue,
            };
            let ours = tags["Tags"].as_array().into_iter().flatten().any(|tag| {
                tag["TagKey"] == TAG_UID && tag["TagValue"].as_str() == Some(t.uid.as_str())
            });
            if ours {
                let described = s
                    .kms
                    .call("DescribeKey", &serde_json::json!({"KeyId": id}))
                    .await?;
                found.push(key_metadata(&described));
            }
        }
        marker = page["NextMarker"]
            .as_str()
            .map(str::to_string)
            .filter(|_| page["Truncated"] == true);
        if marker.is_none() {
            return Ok(found);
        }
    }
}

/// The cluster's KMS key for Kubernetes secrets, made unless it exists; its ARN. Found by
/// its alias, else (a crash between making the key and naming it) by its uid tag.
async fn ensure_secrets_key(s: &Session, t: &Target) -> Result<String, AwsError> {
    let alias = secrets_key_alias(t);
    let (id, arn, state) = match s
        .kms
        .call("DescribeKey", &serde_json::json!({"KeyId": alias}))
        .await
    {
        Ok(answer) => key_metadata(&answer),
        Err(e) if e.is("NotFoundException") => {
            let adopted = tagged_keys(s, t)
                .await?
                .into_iter()
                .find(|(_, _, state)| state != "PendingDeletion");
            let (id, arn, state) = match adopted {
                Some(key) => key,
                None => {
                    let mut tags: Vec<(String, String)> = tags(t).into_iter().collect();
                    tags.sort();
                    let tags: Vec<serde_json::Value> = tags
                        .into_iter()
                        .map(|(k, v)| serde_json::json!({"TagKey": k, "TagValue": v}))
                        .collect();
                    let made = s
                        .kms
                        .call(
                            "CreateKey",
                            &serde_json::json!({
                                "Description": format!("Wayfinder: Kubernetes secrets of EKS cluster {}", t.cluster_name()),
                                "KeyUsage": "ENCRYPT_DECRYPT",
                                "KeySpec": "SYMMETRIC_DEFAULT",
                                "Tags": tags,
                            }),
                        )
                        .await?;
                    let key = key_metadata(&made);
                    tracing::info!(key = %key.1, "KMS key created");
                    key
                }
            };
            match s
                .kms
                .call(
                    "CreateAlias",
                    &serde_json::json!({"AliasName": alias, "TargetKeyId": id}),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is("AlreadyExistsException") => {}
                Err(e) => return Err(e),
            }
            (id, arn, state)
        }
        Err(e) => return Err(e),
    };
    // A delete interrupted after scheduling the key's deletion, then the cluster built
    // again: take the key back.
    if state == "PendingDeletion" {
        s.kms
            .call("CancelKeyDeletion", &serde_json::json!({"KeyId": id}))
            .await?;
        s.kms
            .call("EnableKey", &serde_json::json!({"KeyId": id}))
            .await?;
    }
    Ok(arn)
}

/// Schedules every key of the cluster for deletion ([`SECRETS_KEY_PENDING_DAYS`]) and
/// removes its alias; keys already pending deletion are left as they are.
async fn delete_secrets_keys(s: &Session, t: &Target) -> Result<(), AwsError> {
    for (id, arn, state) in tagged_keys(s, t).await? {
        if state == "PendingDeletion" {
            continue;
        }
        match s
            .kms
            .call(
                "ScheduleKeyDeletion",
                &serde_json::json!({"KeyId": id, "PendingWindowInDays": SECRETS_KEY_PENDING_DAYS}),
            )
            .await
        {
            Ok(_) => tracing::info!(key = %arn, "KMS key scheduled for deletion"),
            Err(e) if e.is("NotFoundException") || e.is("KMSInvalidStateException") => {}
            Err(e) => return Err(e),
        }
    }
    match s
        .kms
        .call(
            "DeleteAlias",
            &serde_json::json!({"AliasName": secrets_key_alias(t)}),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is("NotFoundException") => Ok(()),
        Err(e) => Err(e),
    }
}

async fn describe_cluster(s: &Session, name: &str) -> Result<Option<eks::Cluster>, AwsError> {
    match s
        .eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(AwsError::from_sdk)
    {
        Ok(o) => Ok(o.cluster),
        Err(e) if e.is("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(e),
    }
}

async fn list_node_groups(s: &Session, cluster: &str) -> Result<Vec<String>, AwsError> {
    match s
        .eks
        .list_nodegroups()
        .cluster_name(cluster)
        .send()
        .await
        .map_err(AwsError::from_sdk)
    {
        Ok(o) => Ok(o.nodegroups.unwrap_or_default()),
        Err(e) if e.is("ResourceNotFoundException") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

async fn describe_node_group(
    s: &Session,
    cluster: &str,
    ng: &str,
) -> Result<Option<eks::Nodegroup>, AwsError> {
    match s
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(ng)
        .send()
        .await
        .map_err(AwsError::from_sdk)
    {
        Ok(o) => Ok(o.nodegroup),
        Err(e) if e.is("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(e),
    }
}

async fn delete_node_group(s: &Session, cluster: &str, ng: &str) -> Result<(), AwsError> {
    match s
        .eks
        .delete_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(ng)
        .send()
        .await
        .map_err(AwsError::from_sdk)
    {
        Ok(_) => Ok(()),
        Err(e) if e.is("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(e),
    }
}

/// The pool's instance types without repeats: its machine, then (spot pools) the EKS
/// additional spot types, as the model lists them ([`cost::pool_instance_types`]).
fn instance_types(p: &NodePool) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for (_, t) in cost::pool_instance_types(p) {
        if !types.iter().any(|have| have == t) {
            types.push(t.to_string());
        }
    }
    types
}

/// A taint as EKS keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Taint {
    key: String,
    value: Option<String>,
    /// `NO_SCHEDULE`, `NO_EXECUTE`, `PREFER_NO_SCHEDULE`.
    effect: String,
}

impl Taint {
    fn to_eks(&self) -> eks::Taint {
        eks::Taint::builder()
            .key(&self.key)
            .set_value(self.value.clone())
            .effect(eks::TaintEffect::from(self.effect.as_str()))
            .build()
    }

    fn from_eks(t: &eks::Taint) -> Self {
        Self {
            key: t.key().unwrap_or_default().to_string(),
            value: t.value().map(str::to_string).filter(|v| !v.is_empty()),
            effect: t
                .effect()
                .map(|e| e.as_str().to_string())
                .unwrap_or_default(),
        }
    }
}

/// Kubernetes' taint effect → EKS's.
pub fn eks_effect(effect: &str) -> &'static str {
    match effect {
        "NoExecute" => "NO_EXECUTE",
        "PreferNoSchedule" => "PREFER_NO_SCHEDULE",
        _ => "NO_SCHEDULE",
    }
}

/// What a pool asks of its node group.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    min: i32,
    max: i32,
    /// The fixed size, when the pool does not autoscale.
    size: Option<i32>,
    labels: std::collections::HashMap<String, String>,
    taints: BTreeSet<Taint>,
    spot: bool,
}

/// One UpdateNodegroupConfig's worth of changes.
struct Update {
    scaling: Option<eks::NodegroupScalingConfig>,
    labels: Option<eks::UpdateLabelsPayload>,
    taints: Option<eks::UpdateTaintsPayload>,
    said: Vec<String>,
}

impl Update {
    fn describe(&self, ng: &str) -> String {
        format!("node group {ng}: {}", self.said.join("; "))
    }
}

fn clamp(v: i64) -> i32 {
    i32::try_from(v.max(0)).unwrap_or(i32::MAX)
}

impl Wanted {
    fn of(p: &NodePool) -> Self {
        let auto = p.autoscaling.as_ref().filter(|a| a.enabled == Some(true));
        let (min, max, size) = match auto {
            Some(a) => (
                clamp(a.min_size.unwrap_or(0)),
                clamp(a.max_size.unwrap_or(1)).max(1),
                None,
            ),
            None => {
                let n = clamp(p.size.unwrap_or(1));
                (n, n.max(1), Some(n))
            }
        };
        Self {
            min,
            max,
            size,
            labels: [(POOL_LABEL.to_string(), p.logical_name.clone())]
                .into_iter()
                .collect(),
            taints: p
                .taints
                .iter()
                .flatten()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone().filter(|v| !v.is_empty()),
                    effect: eks_effect(&t.effect).to_string(),
                })
                .collect(),
            spot: cost::is_spot(p),
        }
    }

    /// The scaling config to write: under autoscaling the current desired size stays when it
    /// is within the bounds (the autoscaler owns it).
    fn scaling(&self, current_desired: Option<i32>) -> eks::NodegroupScalingConfig {
        let desired = match self.size {
            Some(n) => n,
            None => current_desired
                .unwrap_or(self.min)
                .clamp(self.min, self.max),
        };
        eks::NodegroupScalingConfig::builder()
            .min_size(self.min)
            .max_size(self.max)
            .desired_size(desired)
            .build()
    }

    fn update_for(&self, have: &eks::Nodegroup) -> Option<Update> {
        let mut u = Update {
            scaling: None,
            labels: None,
            taints: None,
            said: Vec::new(),
        };
        let sc = have.scaling_config();
        let (min, max, desired) = (
            sc.and_then(|s| s.min_size()),
            sc.and_then(|s| s.max_size()),
            sc.and_then(|s| s.desired_size()),
        );
        let want = self.scaling(desired);
        if min != want.min_size() || max != want.max_size() || desired != want.desired_size() {
            u.said.push(format!(
                "scaling {}/{}/{} → {}/{}/{} (min/max/desired)",
                opt(min),
                opt(max),
                opt(desired),
                opt(want.min_size()),
                opt(want.max_size()),
                opt(want.desired_size())
            ));
            u.scaling = Some(want);
        }
        let have_labels = have.labels().cloned().unwrap_or_default();
        let add: std::collections::HashMap<String, String> = self
            .labels
            .iter()
            .filter(|(k, v)| have_labels.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let remove: Vec<String> = have_labels
            .keys()
            .filter(|k| !self.labels.contains_key(*k))
            .cloned()
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            u.said
                .push(format!("labels set {add:?}, removed {remove:?}"));
            u.labels = Some(
                eks::UpdateLabelsPayload::builder()
                    .set_add_or_update_labels((!add.is_empty()).then_some(add))
                    .set_remove_labels((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        let have_taints: BTreeSet<Taint> = have.taints().iter().map(Taint::from_eks).collect();
        if have_taints != self.taints {
            let add: Vec<eks::Taint> = self
                .taints
                .difference(&have_taints)
                .map(Taint::to_eks)
                .collect();
            let remove: Vec<eks::Taint> = have_taints
                .difference(&self.taints)
                .map(Taint::to_eks)
                .collect();
            u.said.push(format!(
                "taints: {} added, {} removed",
                add.len(),
                remove.len()
            ));
            u.taints = Some(
                eks::UpdateTaintsPayload::builder()
                    .set_add_or_update_taints((!add.is_empty()).then_some(add))
                    .set_remove_taints((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        (!u.said.is_empty()).then_some(u)
    }
}

fn opt(v: Option<i32>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// An idempotency token for one step of one generation (at most 64 characters).
fn token(t: &Target, generation: i64, step: &str) -> String {
    let mut s = format!("{}-g{generation}-{step}", t.uid);
    s.truncate(64);
    s
}

fn short(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect()
}

fn short_hash(s: &str) -> String {
    let h = s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{:08x}", h as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ws: &str, name: &str) -> Target {
        Target {
            workspace: ws.into(),
            name: name.into(),
            uid: "u1".into(),
            region: "eu-west-2".into(),
            access: Access::default(),
        }
    }

    #[test]
    fn role_names_fit_iams_64_characters_and_stay_distinct() {
        assert_eq!(target("pay", "dev").role_name("node"), "wf-pay-dev-node");
        let long = target(&"w".repeat(40), &"n".repeat(40));
        let (a, b) = (long.role_name("node"), long.role_name("cluster"));
        assert!(a.len() <= 64 && b.len() <= 64, "{a} {b}");
        assert!(a.ends_with("-node") && b.ends_with("-cluster"));
        assert_ne!(a, b);
    }

    #[test]
    fn cloud_codes_map_to_ready_reasons() {
        for (code, reason) in [
            ("AccessDenied", "CloudAccessDenied"),
            ("AccessDeniedException", "CloudAccessDenied"),
            ("ExpiredToken", "CloudAccessDenied"),
            ("ResourceLimitExceededException", "QuotaExceeded"),
            ("VpcLimitExceeded", "QuotaExceeded"),
            ("InvalidParameterException", "InvalidParameter"),
            ("InvalidInstanceType", "InvalidParameter"),
            ("InvalidVpc.Range", "InvalidParameter"),
            ("DependencyViolation", "DeleteBlocked"),
            ("DeleteConflict", "DeleteBlocked"),
            ("RequestLimitExceeded", "ProvisioningFailed"),
            ("ServerException", "ProvisioningFailed"),
        ] {
            assert_eq!(reason_for(code), reason, "{code}");
        }
    }

    #[test]
    fn taint_effects_are_spelled_as_eks_spells_them() {
        assert_eq!(eks_effect("NoSchedule"), "NO_SCHEDULE");
        assert_eq!(eks_effect("NoExecute"), "NO_EXECUTE");
        assert_eq!(eks_effect("PreferNoSchedule"), "PREFER_NO_SCHEDULE");
    }
}
