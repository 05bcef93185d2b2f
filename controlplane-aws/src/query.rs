//! AWS's Query protocol (EC2, IAM), hand-signed with `aws-sigv4` over the project's HTTP
//! client: a form-encoded `POST` of `Action=…&Version=…&…`, an XML answer. The SDK crate for
//! EC2 is 1.2 million lines (it did not finish building in 12 minutes on this project's 2
//! cores) and the driver needs a handful of calls, so they are written here instead.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use std::collections::BTreeMap;

use crate::AwsError;
use crate::api::{Call, Ec2, Ec2Kind, Ec2Object, Filter, Iam, Role, RouteTarget, Tags};
use crate::xml::Element;

/// One Query-protocol service: where it is and how requests are signed.
#[derive(Debug, Clone)]
pub struct QueryService {
    /// `ec2` or `iam`: the signing name.
    pub service: &'static str,
    /// The API version, e.g. `2016-11-15`.
    pub version: &'static str,
    /// The signing region (IAM signs with `us-east-1`).
    pub region: String,
    /// `https://ec2.eu-west-2.amazonaws.com/`, or the emulator's URL.
    pub url: String,
}

/// A signed Query-protocol client for one service, with the credentials it acts with.
#[derive(Debug, Clone)]
pub struct QueryClient {
    http: reqwest::Client,
    service: QueryService,
    credentials: SharedCredentialsProvider,
}

/// How often a throttled or 5xx answer is tried again, and the first pause.
const ATTEMPTS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(200);

impl QueryClient {
    pub fn new(
        http: reqwest::Client,
        service: QueryService,
        credentials: SharedCredentialsProvider,
    ) -> Self {
        Self {
            http,
            service,
            credentials,
        }
    }

    /// Calls `action` with `params`; the answer's root element, or the service's error
    /// (code and message). Throttling and 5xx answers are tried again with back-off.
    pub async fn call(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Element, AwsError> {
        with_retries(self.service.service, action, || {
            self.call_once(action, params)
        })
        .await
    }

    async fn call_once(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Element, AwsError> {
        let s = &self.service;
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action)
                .append_pair("Version", s.version);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let (status, text) = post_signed(
            &self.http,
            &self.credentials,
            Signing {
                service: s.service,
                region: &s.region,
                url: &s.url,
                what: action,
            },
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body,
        )
        .await?;
        let root = Element::parse(&text);
        if (200..300).contains(&status) {
            return root.ok_or_else(|| AwsError {
                code: "MalformedAnswer".into(),
                message: format!(
                    "{} {action} answered {status} with a body that is not XML",
                    s.service
                ),
                status,
            });
        }
        // EC2: <Response><Errors><Error><Code>; IAM: <ErrorResponse><Error><Code>.
        let error = root.as_ref().and_then(|r| r.find("Error"));
        Err(AwsError {
            code: error
                .and_then(|e| e.text_of("Code"))
                .unwrap_or(if status >= 500 {
                    "ServiceUnavailable"
                } else {
                    "UnknownError"
                })
                .to_string(),
            message: error
                .and_then(|e| e.text_of("Message"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} {action} answered {status}", s.service)),
            status,
        })
    }
}

/// Where a signed request goes and how it is signed.
pub(crate) struct Signing<'a> {
    /// The signing name: `ec2`, `iam`, `kms`.
    pub service: &'a str,
    pub region: &'a str,
    pub url: &'a str,
    /// The action, for messages.
    pub what: &'a str,
}

/// `POST`s `body` to `to.url` with `headers`, signed (SigV4) with `credentials`; the answer's
/// status and text. No answer is a retryable `RequestFailed`.
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    credentials: &SharedCredentialsProvider,
    to: Signing<'_>,
    headers: &[(&str, &str)],
    body: String,
) -> Result<(u16, String), AwsError> {
    let action = to.what;
    let credentials = credentials
        .provide_credentials()
        .await
        .map_err(|e| AwsError::credentials(format!("{e}")))?;
    let identity: Identity = credentials.into();
    let signing = v4::SigningParams::builder()
        .identity(&identity)
        .region(to.region)
        .name(to.service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| AwsError::local(format!("signing {action}: {e}")))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        to.url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| AwsError::local(format!("signing {action}: {e}")))?;
    let (instructions, _) = sign(signable, &signing)
        .map_err(|e| AwsError::local(format!("signing {action}: {e}")))?
        .into_parts();
    let (signed_headers, _) = instructions.into_parts();
    let mut request = http.post(to.url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    for h in &signed_headers {
        request = request.header(h.name(), h.value());
    }
    let answer = request.send().await.map_err(|e| AwsError {
        code: "RequestFailed".into(),
        message: format!("{} {action}: {e}", to.service),
        status: 0,
    })?;
    let status = answer.status().as_u16();
    let text = answer.text().await.map_err(|e| AwsError {
        code: "RequestFailed".into(),
        message: format!("{} {action}: reading the answer: {e}", to.service),
        status,
    })?;
    Ok((status, text))
}

/// Runs `once` until it succeeds, fails for good, or has been tried [`ATTEMPTS`] times:
/// throttling and 5xx answers are tried again after a pause that doubles.
pub(crate) async fn with_retries<T, F, Fut>(
    service: &str,
    action: &str,
    once: F,
) -> Result<T, AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match once().await {
            Err(e) if e.retryable() && attempt < ATTEMPTS => {
                tracing::debug!(service, action, code = %e.code, attempt, "retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// `Prefix.1`, `Prefix.2`, … for a list parameter.
pub fn list(
    prefix: &str,
    values: impl IntoIterator<Item = impl Into<String>>,
) -> Vec<(String, String)> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("{prefix}.{}", i + 1), v.into()))
        .collect()
}

/// EC2 `TagSpecification.1.*` of a new object of `resource_type`.
fn tag_spec(resource_type: &str, tags: &Tags) -> Vec<(String, String)> {
    let mut p = vec![(
        "TagSpecification.1.ResourceType".to_string(),
        resource_type.to_string(),
    )];
    for (i, (k, v)) in tags.iter().enumerate() {
        p.push((format!("TagSpecification.1.Tag.{}.Key", i + 1), k.clone()));
        p.push((format!("TagSpecification.1.Tag.{}.Value", i + 1), v.clone()));
    }
    p
}

/// The EC2 `tagSet` of an answer's item.
fn ec2_tags(item: &Element) -> BTreeMap<String, String> {
    item.child("tagSet")
        .map(|set| {
            set.children
                .iter()
                .filter_map(|t| {
                    Some((
                        t.text_of("key")?.to_string(),
                        t.text_of("value")?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn text(item: &Element, name: &str) -> Option<String> {
    item.text_of(name).map(str::to_string)
}

/// The `(action, answer set, id field, id parameter)` of describing `kind`.
fn described(kind: Ec2Kind) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        Ec2Kind::Vpc => ("DescribeVpcs", "vpcSet", "vpcId", "VpcId"),
        Ec2Kind::Subnet => ("DescribeSubnets", "subnetSet", "subnetId", "SubnetId"),
        Ec2Kind::InternetGateway => (
            "DescribeInternetGateways",
            "internetGatewaySet",
            "internetGatewayId",
            "InternetGatewayId",
        ),
        Ec2Kind::RouteTable => (
            "DescribeRouteTables",
            "routeTableSet",
            "routeTableId",
            "RouteTableId",
        ),
        Ec2Kind::NatGateway => (
            "DescribeNatGateways",
            "natGatewaySet",
            "natGatewayId",
            "NatGatewayId",
        ),
        Ec2Kind::ElasticIp => (
            "DescribeAddresses",
            "addressesSet",
            "allocationId",
            "AllocationId",
        ),
    }
}

/// [`Ec2`] through hand-signed Query calls.
#[derive(Debug, Clone)]
pub struct QueryEc2(pub QueryClient);

impl QueryEc2 {
    async fn created(
        &self,
        action: &str,
        params: &[(String, String)],
        id: &str,
    ) -> Result<String, AwsError> {
        let r = self.0.call(action, params).await?;
        r.find_text(id).map(str::to_string).ok_or_else(|| AwsError {
            code: "MalformedAnswer".into(),
            message: format!("ec2 {action} answered no {id}"),
            status: 200,
        })
    }

    async fn done(&self, action: &str, params: &[(String, String)]) -> Result<(), AwsError> {
        self.0.call(action, params).await.map(|_| ())
    }
}

fn p(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

impl Ec2 for QueryEc2 {
    fn describe_instance_types<'a>(&'a self, types: &'a [String]) -> Call<'a, ()> {
        Box::pin(async move {
            self.done(
                "DescribeInstanceTypes",
                &list("InstanceType", types.iter().cloned()),
            )
            .await
        })
    }

    fn describe_availability_zones(&self) -> Call<'_, Vec<String>> {
        Box::pin(async move {
            let r = self
                .0
                .call(
                    "DescribeAvailabilityZones",
                    &[
                        p("Filter.1.Name", "state"),
                        p("Filter.1.Value.1", "available"),
                    ],
                )
                .await?;
            Ok(r.items("availabilityZoneInfo")
                .iter()
                .filter_map(|z| text(z, "zoneName"))
                .collect())
        })
    }

    fn describe<'a>(
        &'a self,
        kind: Ec2Kind,
        filters: &'a [Filter],
        ids: &'a [String],
    ) -> Call<'a, Vec<Ec2Object>> {
        Box::pin(async move {
            let (action, set, id_field, id_param) = described(kind);
            let mut params = list(id_param, ids.iter().cloned());
            for (i, f) in filters.iter().enumerate() {
                params.push((format!("Filter.{}.Name", i + 1), f.name.clone()));
                for (j, v) in f.values.iter().enumerate() {
                    params.push((format!("Filter.{}.Value.{}", i + 1, j + 1), v.clone()));
                }
            }
            let r = self.0.call(action, &params).await?;
            Ok(r.items(set)
                .iter()
                .map(|item| Ec2Object {
                    id: text(item, id_field).unwrap_or_default(),
                    tags: ec2_tags(item),
                    cidr: text(item, "cidrBlock"),
                    zone: text(item, "availabilityZone"),
                    state: text(item, "state"),
                    attached_vpcs: item
                        .child("attachmentSet")
                        .map(|a| a.children.iter().filter_map(|a| text(a, "vpcId")).collect())
                        .unwrap_or_default(),
                    associations: item
                        .child("associationSet")
                        .map(|a| {
                            a.children
                                .iter()
                                .filter_map(|a| {
                                    Some((text(a, "routeTableAssociationId")?, text(a, "subnetId")))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    default_route: item.child("routeSet").is_some_and(|routes| {
                        routes
                            .children
                            .iter()
                            .any(|r| r.text_of("destinationCidrBlock") == Some("0.0.0.0/0"))
                    }),
                })
                .collect())
        })
    }

    fn create_vpc<'a>(&'a self, cidr: &'a str, tags: &'a Tags) -> Call<'a, String> {
        Box::pin(async move {
            let mut params = vec![p("CidrBlock", cidr)];
            params.extend(tag_spec("vpc", tags));
            self.created("CreateVpc", &params, "vpcId").await
        })
    }

    fn create_subnet<'a>(
        &'a self,
        vpc: &'a str,
        cidr: &'a str,
        zone: &'a str,
        tags: &'a Tags,
    ) -> Call<'a, String> {
        Box::pin(async move {
            let mut params = vec![
                p("VpcId", vpc),
                p("CidrBlock", cidr),
                p("AvailabilityZone", zone),
            ];
            params.extend(tag_spec("subnet", tags));
            self.created("CreateSubnet", &params, "subnetId").await
        })
    }

    fn create_internet_gateway<'a>(&'a self, tags: &'a Tags) -> Call<'a, String> {
        Box::pin(async move {
            self.created(
                "CreateInternetGateway",
                &tag_spec("internet-gateway", tags),
                "internetGatewayId",
            )
            .await
        })
    }

    fn attach_internet_gateway<'a>(&'a self, gateway: &'a str, vpc: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.done(
                "AttachInternetGateway",
                &[p("InternetGatewayId", gateway), p("VpcId", vpc)],
            )
            .await
        })
    }

    fn detach_internet_gateway<'a>(&'a self, gateway: &'a str, vpc: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.done(
                "DetachInternetGateway",
                &[p("InternetGatewayId", gateway), p("VpcId", vpc)],
            )
            .await
        })
    }

    fn create_route_table<'a>(
        &'a self,
        vpc: &'a str,
        client_token: &'a str,
        tags: &'a Tags,
    ) -> Call<'a, String> {
        Box::pin(async move {
            let mut params = vec![p("VpcId", vpc), p("ClientToken", client_token)];
            params.extend(tag_spec("route-table", tags));
            self.created("CreateRouteTable", &params, "routeTableId")
                .await
        })
    }

    fn create_default_route<'a>(&'a self, table: &'a str, target: &'a RouteTarget) -> Call<'a, ()> {
        Box::pin(async move {
            let to = match target {
                RouteTarget::InternetGateway(id) => p("GatewayId", id),
                RouteTarget::NatGateway(id) => p("NatGatewayId", id),
            };
            self.done(
                "CreateRoute",
                &[
                    p("RouteTableId", table),
                    p("DestinationCidrBlock", "0.0.0.0/0"),
                    to,
                ],
            )
            .await
        })
    }

    fn associate_route_table<'a>(&'a self, table: &'a str, subnet: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.done(
                "AssociateRouteTable",
                &[p("RouteTableId", table), p("SubnetId", subnet)],
            )
            .await
        })
    }

    fn disassociate_route_table<'a>(&'a self, association: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.done("DisassociateRouteTable", &[p("AssociationId", association)])
                .await
        })
    }

    fn allocate_address<'a>(&'a self, tags: &'a Tags) -> Call<'a, String> {
        Box::pin(async move {
            let mut params = vec![p("Domain", "vpc")];
            params.extend(tag_spec("elastic-ip", tags));
            self.created("AllocateAddress", &params, "allocationId")
                .await
        })
    }

    fn create_nat_gateway<'a>(
        &'a self,
        subnet: &'a str,
        allocation: &'a str,
        client_token: &'a str,
        tags: &'a Tags,
    ) -> Call<'a, String> {
        Box::pin(async move {
            let mut params = vec![
                p("SubnetId", subnet),
                p("AllocationId", allocation),
                p("ClientToken", client_token),
            ];
            params.extend(tag_spec("natgateway", tags));
            self.created("CreateNatGateway", &params, "natGatewayId")
                .await
        })
    }

    fn delete<'a>(&'a self, kind: Ec2Kind, id: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            let (action, param) = match kind {
                Ec2Kind::Vpc => ("DeleteVpc", "VpcId"),
                Ec2Kind::Subnet => ("DeleteSubnet", "SubnetId"),
                Ec2Kind::InternetGateway => ("DeleteInternetGateway", "InternetGatewayId"),
                Ec2Kind::RouteTable => ("DeleteRouteTable", "RouteTableId"),
                Ec2Kind::NatGateway => ("DeleteNatGateway", "NatGatewayId"),
                Ec2Kind::ElasticIp => ("ReleaseAddress", "AllocationId"),
            };
            self.done(action, &[p(param, id)]).await
        })
    }
}

/// [`Iam`] through hand-signed Query calls.
#[derive(Debug, Clone)]
pub struct QueryIam(pub QueryClient);

impl Iam for QueryIam {
    fn get_role<'a>(&'a self, name: &'a str) -> Call<'a, Option<Role>> {
        Box::pin(async move {
            match self.0.call("GetRole", &[p("RoleName", name)]).await {
                Ok(r) => Ok(r.find("Role").map(|role| Role {
                    arn: text(role, "Arn").unwrap_or_default(),
                    tags: role
                        .child("Tags")
                        .map(|t| {
                            t.children
                                .iter()
                                .filter_map(|t| Some((text(t, "Key")?, text(t, "Value")?)))
                                .collect()
                        })
                        .unwrap_or_default(),
                })),
                Err(e) if e.code == "NoSuchEntity" => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn create_role<'a>(
        &'a self,
        name: &'a str,
        trust: &'a str,
        tags: &'a Tags,
    ) -> Call<'a, String> {
        Box::pin(async move {
            let mut params = vec![p("RoleName", name), p("AssumeRolePolicyDocument", trust)];
            for (i, (k, v)) in tags.iter().enumerate() {
                params.push((format!("Tags.member.{}.Key", i + 1), k.clone()));
                params.push((format!("Tags.member.{}.Value", i + 1), v.clone()));
            }
            let r = self.0.call("CreateRole", &params).await?;
            Ok(r.find_text("Arn").unwrap_or_default().to_string())
        })
    }

    fn attach_role_policy<'a>(&'a self, role: &'a str, policy_arn: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.0
                .call(
                    "AttachRolePolicy",
                    &[p("RoleName", role), p("PolicyArn", policy_arn)],
                )
                .await
                .map(|_| ())
        })
    }

    fn list_attached_role_policies<'a>(&'a self, role: &'a str) -> Call<'a, Vec<String>> {
        Box::pin(async move {
            let r = self
                .0
                .call("ListAttachedRolePolicies", &[p("RoleName", role)])
                .await?;
            Ok(r.items("AttachedPolicies")
                .iter()
                .filter_map(|p| text(p, "PolicyArn"))
                .collect())
        })
    }

    fn detach_role_policy<'a>(&'a self, role: &'a str, policy_arn: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.0
                .call(
                    "DetachRolePolicy",
                    &[p("RoleName", role), p("PolicyArn", policy_arn)],
                )
                .await
                .map(|_| ())
        })
    }

    fn delete_role<'a>(&'a self, name: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.0
                .call("DeleteRole", &[p("RoleName", name)])
                .await
                .map(|_| ())
        })
    }
}
