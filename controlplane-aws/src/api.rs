//! The EC2 and IAM calls the driver makes, as two small traits ([`Ec2`], [`Iam`]) with typed
//! inputs and answers, one method per API operation. The driver only sees these traits: the
//! implementation in use signs Query-protocol calls by hand ([`crate::query::QueryEc2`],
//! [`crate::query::QueryIam`]), because `aws-sdk-ec2` is 1.2 million lines and did not
//! finish building in 12 minutes on this project's 2 cores; an implementation over
//! `aws-sdk-ec2`/`aws-sdk-iam` can replace it without touching the driver.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use crate::AwsError;

/// What a trait method returns: a boxed future of a result.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, AwsError>> + Send + 'a>>;

/// Tags as (key, value) pairs, in the order they are sent.
pub type Tags = Vec<(String, String)>;

/// The EC2 objects the driver makes and finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec2Kind {
    Vpc,
    Subnet,
    InternetGateway,
    RouteTable,
    NatGateway,
    ElasticIp,
}

impl Ec2Kind {
    /// The error code EC2 answers when an object of this kind is not there (a delete of it
    /// is then done).
    pub fn not_found(self) -> &'static str {
        match self {
            Ec2Kind::Vpc => "InvalidVpcID.NotFound",
            Ec2Kind::Subnet => "InvalidSubnetID.NotFound",
            Ec2Kind::InternetGateway => "InvalidInternetGatewayID.NotFound",
            Ec2Kind::RouteTable => "InvalidRouteTableID.NotFound",
            Ec2Kind::NatGateway => "NatGatewayNotFound",
            Ec2Kind::ElasticIp => "InvalidAllocationID.NotFound",
        }
    }
}

/// A describe filter: `name` (`tag:KEY`, `vpc-id`, `state`, …) is any of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    pub fn new(name: impl Into<String>, values: &[&str]) -> Self {
        Self {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }
}

/// An EC2 object as the driver reads it; the fields its kind does not have are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ec2Object {
    /// `vpc-…`, `subnet-…`, `igw-…`, `rtb-…`, `nat-…`, or an elastic IP's allocation id.
    pub id: String,
    pub tags: BTreeMap<String, String>,
    /// VPC, subnet: the CIDR block.
    pub cidr: Option<String>,
    /// Subnet: the availability zone.
    pub zone: Option<String>,
    /// NAT gateway: `pending`, `available`, `deleting`, `deleted`, `failed`.
    pub state: Option<String>,
    /// Internet gateway: the VPCs it is attached to.
    pub attached_vpcs: Vec<String>,
    /// Route table: its associations, (association id, subnet id when a subnet's).
    pub associations: Vec<(String, Option<String>)>,
    /// Route table: whether it has a `0.0.0.0/0` route.
    pub default_route: bool,
}

impl Ec2Object {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// Where a route table's default route goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    InternetGateway(String),
    NatGateway(String),
}

/// The EC2 operations the driver uses.
pub trait Ec2: std::fmt::Debug + Send + Sync {
    /// `DescribeInstanceTypes`: fails (`InvalidInstanceType`) unless EC2 knows every type.
    fn describe_instance_types<'a>(&'a self, types: &'a [String]) -> Call<'a, ()>;
    /// `DescribeAvailabilityZones`: the names of the region's available zones.
    fn describe_availability_zones(&self) -> Call<'_, Vec<String>>;
    /// `Describe<Kind>s`: the objects matching every filter and, when `ids` is not empty,
    /// having one of those ids.
    fn describe<'a>(
        &'a self,
        kind: Ec2Kind,
        filters: &'a [Filter],
        ids: &'a [String],
    ) -> Call<'a, Vec<Ec2Object>>;
    /// `CreateVpc`: its id.
    fn create_vpc<'a>(&'a self, cidr: &'a str, tags: &'a Tags) -> Call<'a, String>;
    /// `CreateSubnet`: its id.
    fn create_subnet<'a>(
        &'a self,
        vpc: &'a str,
        cidr: &'a str,
        zone: &'a str,
        tags: &'a Tags,
    ) -> Call<'a, String>;
    /// `CreateInternetGateway`: its id.
    fn create_internet_gateway<'a>(&'a self, tags: &'a Tags) -> Call<'a, String>;
    /// `AttachInternetGateway`.
    fn attach_internet_gateway<'a>(&'a self, gateway: &'a str, vpc: &'a str) -> Call<'a, ()>;
    /// `DetachInternetGateway`.
    fn detach_internet_gateway<'a>(&'a self, gateway: &'a str, vpc: &'a str) -> Call<'a, ()>;
    /// `CreateRouteTable` with an idempotency token: its id.
    fn create_route_table<'a>(
        &'a self,
        vpc: &'a str,
        client_token: &'a str,
        tags: &'a Tags,
    ) -> Call<'a, String>;
    /// `CreateRoute`: `0.0.0.0/0` to `target`.
    fn create_default_route<'a>(&'a self, table: &'a str, target: &'a RouteTarget) -> Call<'a, ()>;
    /// `AssociateRouteTable`.
    fn associate_route_table<'a>(&'a self, table: &'a str, subnet: &'a str) -> Call<'a, ()>;
    /// `DisassociateRouteTable`.
    fn disassociate_route_table<'a>(&'a self, association: &'a str) -> Call<'a, ()>;
    /// `AllocateAddress` in the VPC domain: the allocation id.
    fn allocate_address<'a>(&'a self, tags: &'a Tags) -> Call<'a, String>;
    /// `CreateNatGateway` with an idempotency token: its id.
    fn create_nat_gateway<'a>(
        &'a self,
        subnet: &'a str,
        allocation: &'a str,
        client_token: &'a str,
        tags: &'a Tags,
    ) -> Call<'a, String>;
    /// `Delete<Kind>` (`ReleaseAddress` for an elastic IP).
    fn delete<'a>(&'a self, kind: Ec2Kind, id: &'a str) -> Call<'a, ()>;
}

/// An IAM role as the driver reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// The IAM operations the driver uses.
pub trait Iam: std::fmt::Debug + Send + Sync {
    /// `GetRole`; `None` when there is none of that name.
    fn get_role<'a>(&'a self, name: &'a str) -> Call<'a, Option<Role>>;
    /// `CreateRole` with a trust policy (JSON): its ARN.
    fn create_role<'a>(&'a self, name: &'a str, trust: &'a str, tags: &'a Tags)
    -> Call<'a, String>;
    /// `AttachRolePolicy`.
    fn attach_role_policy<'a>(&'a self, role: &'a str, policy_arn: &'a str) -> Call<'a, ()>;
    /// `ListAttachedRolePolicies`: the policies' ARNs.
    fn list_attached_role_policies<'a>(&'a self, role: &'a str) -> Call<'a, Vec<String>>;
    /// `DetachRolePolicy`.
    fn detach_role_policy<'a>(&'a self, role: &'a str, policy_arn: &'a str) -> Call<'a, ()>;
    /// `DeleteRole`.
    fn delete_role<'a>(&'a self, name: &'a str) -> Call<'a, ()>;
}
