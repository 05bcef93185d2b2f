//! `networking.appvia.io/v2beta1`: ClusterNetworkPlan and AssignableNetwork
//! (wayfinder-model.md §5), with Wayfinder's field names — including its `NatGateways`.

use serde::{Deserialize, Serialize};

use crate::cluster::NETWORK_PREFIX_RANGE;
use crate::common::CLOUDS;
use crate::error::{FieldPath, Reason};
use crate::kinds::{ASSIGNABLE_NETWORK, CLUSTER_NETWORK_PLAN, KindInfo};
use crate::meta::ObjectMeta;
use crate::net::Ipv4Net;
use crate::object::{Spec, Typed};
use crate::shape::{Field, FieldType};
use crate::validate::{Checker, is_workspace_key};

/// A cluster network plan.
pub type ClusterNetworkPlan = Typed<ClusterNetworkPlanSpec>;
/// An assignable network.
pub type AssignableNetwork = Typed<AssignableNetworkSpec>;

/// Kinds of range in a network plan or assignable network.
pub const RANGE_TYPES: &[&str] = &["node", "service", "pod"];

/// Prefix lengths each range type may have: node ranges are at least /24.
pub fn prefix_range(range_type: &str) -> (i64, i64) {
    match range_type {
        "node" => NETWORK_PREFIX_RANGE,
        "service" => (12, 24),
        _ => (8, 24),
    }
}

/// Prefix lengths of assignable ranges: pools from which cluster ranges are cut, at least
/// /24 (the smallest cluster network).
pub const ASSIGNABLE_PREFIX_RANGE: (i64, i64) = (8, 24);

/// Subnet layout modes.
pub const LAYOUT_MODES: &[&str] = &["auto"];

/// Legacy allocation types.
pub const ALLOCATION_TYPES: &[&str] = &["all", "workspaces", "none"];

/// Availability zones a network may span.
pub const AVAILABILITY_ZONES_RANGE: (i64, i64) = (1, 6);

/// The spec of a ClusterNetworkPlan: the network every cluster using the plan gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterNetworkPlanSpec {
    /// `spec.summary`: what the network plan is for, shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Legacy (v2beta1) allocation, still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<Allocation>,
    /// AssignableNetworks that sized ranges are allocated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignable_networks: Option<Vec<String>>,
    /// `spec.template`: the network every cluster using the plan gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<NetworkTemplate>,
}

/// `spec.allocation`: the legacy allocation to workspaces, kept for compatibility.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allocation {
    /// `all`, `workspaces` or `none`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `workspaces`: workspace keys, or `*` for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
}

/// `spec.template` of a ClusterNetworkPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkTemplate {
    /// The plan's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// `aws`, `azure` or `gcp`.
    #[serde(default)]
    pub provider: String,
    /// `providerDetails`: provider-specific network settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_details: Option<NetworkProviderDetails>,
    /// `ipv4`: the IPv4 ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Config>,
    /// `layout`: how the network is divided into subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
}

/// `spec.template.providerDetails` of a ClusterNetworkPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkProviderDetails {
    /// The provider again (`aws`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// `aws`: AWS settings; only when the provider is `aws`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsNetwork>,
}

/// `spec.template.providerDetails.aws` of a ClusterNetworkPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsNetwork {
    /// `availabilityZones`: how many availability zones the network spans, 1 to 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<i64>,
    /// Spelled `NatGateways`, as Wayfinder does.
    #[serde(
        rename = "NatGateways",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_gateways: Option<i64>,
}

/// `spec.template.ipv4` of a ClusterNetworkPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ipv4Config {
    /// `cidrBlocks`: the ranges; a `node` range is required and no two fixed ranges may overlap.
    #[serde(default)]
    pub cidr_blocks: Vec<CidrBlock>,
}

/// One range: a fixed `cidr`, or a `size` (prefix length) allocated from assignable networks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CidrBlock {
    /// `node`, `service` or `pod`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `cidr`: a fixed IPv4 range, e.g. `10.0.0.0/22`; set this or `size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// `size`: a prefix length to allocate from the assignable networks; set this or `cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// `spec.template.layout` of a ClusterNetworkPlan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Layout {
    /// `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `privateSubnets`: how many private subnets, 0 to 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_subnets: Option<i64>,
    /// `publicSubnets`: how many public subnets, 0 to 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_subnets: Option<i64>,
}

/// The spec of an AssignableNetwork: address ranges a stage's cluster networks are allocated from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignableNetworkSpec {
    /// `aws`, `azure` or `gcp`.
    #[serde(default)]
    pub provider: String,
    /// The stage whose clusters are allocated from it.
    #[serde(default)]
    pub stage: String,
    /// `spec.networks`: the ranges, at least one; no two may overlap.
    #[serde(default)]
    pub networks: Vec<AssignableRange>,
}

/// One of `spec.networks` of an AssignableNetwork.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignableRange {
    /// An IPv4 CIDR.
    #[serde(default)]
    pub range: String,
    /// `node`, `service` or `pod`.
    #[serde(rename = "type", default)]
    pub type_: String,
}

/// A cluster's network as requested: a prefix length to allocate, or a fixed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkRequest {
    /// Allocate a range of this prefix length from the stage's assignable networks.
    Size(u8),
    /// Use this range.
    Cidr(Ipv4Net),
}

impl crate::cluster::NetworkAllocation {
    /// Whether this allocation satisfies `request` (so an update can keep it).
    pub fn satisfies(&self, request: &NetworkRequest) -> bool {
        match (self.net(), request) {
            (Some(net), NetworkRequest::Size(p)) => net.prefix == *p && self.exclusive,
            (Some(net), NetworkRequest::Cidr(c)) => net == *c,
            (None, _) => false,
        }
    }
}

impl NetworkRequest {
    /// The prefix length either way.
    pub fn prefix(&self) -> u8 {
        match self {
            NetworkRequest::Size(s) => *s,
            NetworkRequest::Cidr(n) => n.prefix,
        }
    }
}

/// The fields of a ClusterNetworkPlan's spec.
pub const CLUSTER_NETWORK_PLAN_SHAPE: &[Field] = &[
    Field::optional(
        "summary",
        FieldType::String,
        "What the network plan is for, shown to users.",
    ),
    Field::optional(
        "allocation",
        FieldType::Object(&[
            Field::required("type", FieldType::String, "`all`, `workspaces` or `none`."),
            Field::optional(
                "workspaces",
                FieldType::StringList,
                "Workspace keys, or `*` for all.",
            ),
        ]),
        "Legacy allocation to workspaces, kept for compatibility; cluster plans decide who may use a network plan.",
    ),
    Field::optional(
        "assignableNetworks",
        FieldType::StringList,
        "Assignable networks that ranges given by `size` are allocated from.",
    ),
    Field::required(
        "template",
        FieldType::Object(&[
            Field::optional(
                "plan",
                FieldType::String,
                "The network plan's own name; when set it must equal it.",
            ),
            Field::required(
                "provider",
                FieldType::String,
                "The cloud: `aws`, `azure` or `gcp`.",
            ),
            Field::optional(
                "providerDetails",
                FieldType::Object(&[
                    Field::optional(
                        "type",
                        FieldType::String,
                        "The cloud again; must equal `provider`.",
                    ),
                    Field::optional(
                        "aws",
                        FieldType::Object(&[
                            Field::optional(
                                "availabilityZones",
                                FieldType::Number,
                                "How many availability zones the network spans, 1 to 6.",
                            ),
                            Field::optional(
                                "NatGateways",
                                FieldType::Number,
                                "How many NAT gateways, 0 to the number of availability zones.",
                            ),
                        ]),
                        "AWS settings; only when the provider is `aws`.",
                    ),
                ]),
                "Provider-specific network settings.",
            ),
            Field::required(
                "ipv4",
                FieldType::Object(&[Field::required(
                    "cidrBlocks",
                    FieldType::ObjectList(&[
                        Field::required(
                            "type",
                            FieldType::String,
                            "`node`, `service` or `pod`; each at most once, and a `node` range is required.",
                        ),
                        Field::optional(
                            "cidr",
                            FieldType::String,
                            "A fixed IPv4 range, e.g. `10.0.0.0/22`; node ranges are /16 to /24. Set this or `size`.",
                        ),
                        Field::optional(
                            "size",
                            FieldType::Number,
                            "A prefix length to allocate from the assignable networks: node 16 to 24, service 12 to 24, pod 8 to 24. Set this or `cidr`.",
                        ),
                    ]),
                    "The ranges; no two fixed ranges may overlap.",
                )]),
                "IPv4 ranges.",
            ),
            Field::optional(
                "layout",
                FieldType::Object(&[
                    Field::optional("mode", FieldType::String, "`auto`."),
                    Field::optional(
                        "privateSubnets",
                        FieldType::Number,
                        "How many private subnets, 0 to 16.",
                    ),
                    Field::optional(
                        "publicSubnets",
                        FieldType::Number,
                        "How many public subnets, 0 to 16.",
                    ),
                ]),
                "How the network is divided into subnets.",
            ),
        ]),
        "The network every cluster using the plan gets.",
    ),
];

/// The fields of an AssignableNetwork's spec.
pub const ASSIGNABLE_NETWORK_SHAPE: &[Field] = &[
    // Clusters hold blocks of these ranges in this cloud; the cloud cannot change under them.
    Field::required(
        "provider",
        FieldType::String,
        "The cloud: `aws`, `azure` or `gcp`.",
    )
    .immutable(),
    Field::required(
        "stage",
        FieldType::String,
        "The stage whose clusters are allocated from these ranges, e.g. `nonprod`.",
    ),
    Field::required(
        "networks",
        FieldType::ObjectList(&[
            Field::required(
                "range",
                FieldType::String,
                "An IPv4 range, e.g. `10.0.0.0/16`, /8 to /24.",
            ),
            Field::required(
                "type",
                FieldType::String,
                "What it is allocated for: `node`, `service` or `pod`.",
            ),
        ]),
        "The ranges, at least one; no two may overlap.",
    ),
];

impl Spec for ClusterNetworkPlanSpec {
    const INFO: &'static KindInfo = &CLUSTER_NETWORK_PLAN;

    fn check(&self, c: &mut Checker, path: &FieldPath, meta: &ObjectMeta) {
        if let Some(a) = &self.allocation {
            let ap = path.field("allocation");
            c.one_of(&ap.field("type"), &a.type_, ALLOCATION_TYPES);
            for (i, w) in a.workspaces.iter().flatten().enumerate() {
                if w != "*" && !is_workspace_key(w) {
                    c.push(
                        &ap.field("workspaces").index(i),
                        Reason::Invalid,
                        format!(
                            "{w:?} is not a workspace key or *: {}",
                            crate::validate::WORKSPACE_KEY.text
                        ),
                    );
                }
            }
        }
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, n) in self.assignable_networks.iter().flatten().enumerate() {
            let p = path.field("assignableNetworks").index(i);
            c.dns_label(&p, n);
            if seen.contains(&n.as_str()) {
                c.push(
                    &p,
                    Reason::Duplicate,
                    format!("{n:?} is listed twice; list each assignable network once"),
                );
            }
            seen.insert(n);
        }
        let tp = path.field("template");
        let Some(t) = &self.template else {
            c.push(
                &tp,
                Reason::Required,
                "required: at least template.provider and template.ipv4.cidrBlocks",
            );
            return;
        };
        if let Some(plan) = &t.plan
            && plan != &meta.name
        {
            c.push(
                &tp.field("plan"),
                Reason::Invalid,
                format!("must equal metadata.name ({:?}), or be left out", meta.name),
            );
        }
        c.one_of(&tp.field("provider"), &t.provider, CLOUDS);
        let cloud = CLOUDS
            .contains(&t.provider.as_str())
            .then_some(t.provider.as_str());
        if let Some(d) = &t.provider_details {
            let dp = tp.field("providerDetails");
            if let Some(ty) = &d.type_ {
                c.one_of(&dp.field("type"), ty, CLOUDS);
                if let Some(cloud) = cloud
                    && CLOUDS.contains(&ty.as_str())
                    && ty != cloud
                {
                    c.push(
                        &dp.field("type"),
                        Reason::Invalid,
                        format!("must equal template.provider ({cloud})"),
                    );
                }
            }
            if let Some(aws) = &d.aws {
                let ap = dp.field("aws");
                if let Some(cloud) = cloud.filter(|c| *c != "aws") {
                    c.push(
                        &ap,
                        Reason::Forbidden,
                        format!("only allowed when template.provider is aws (it is {cloud})"),
                    );
                }
                if let Some(z) = aws.availability_zones {
                    c.range(
                        &ap.field("availabilityZones"),
                        z,
                        AVAILABILITY_ZONES_RANGE,
                        "zones",
                    );
                }
                if let Some(n) = aws.nat_gateways {
                    let max = aws
                        .availability_zones
                        .unwrap_or(AVAILABILITY_ZONES_RANGE.1)
                        .clamp(0, AVAILABILITY_ZONES_RANGE.1);
                    c.range(
                        &ap.field("NatGateways"),
                        n,
                        (0, max),
                        "gateways (one per availability zone at most)",
                    );
                }
            }
        }
        let ip = tp.field("ipv4");
        match &t.ipv4 {
            None => c.push(
                &ip,
                Reason::Required,
                "required: cidrBlocks with at least a node range, e.g. {type: node, size: 22}",
            ),
            Some(ipv4) => check_cidr_blocks(c, &ip.field("cidrBlocks"), &ipv4.cidr_blocks),
        }
        if let Some(l) = &t.layout {
            let lp = tp.field("layout");
            if let Some(m) = &l.mode {
                c.one_of(&lp.field("mode"), m, LAYOUT_MODES);
            }
            for (f, v) in [
                ("privateSubnets", l.private_subnets),
                ("publicSubnets", l.public_subnets),
            ] {
                if let Some(v) = v {
                    c.range(&lp.field(f), v, (0, 16), "subnets");
                }
            }
        }
    }
}

fn check_cidr_blocks(c: &mut Checker, path: &FieldPath, blocks: &[CidrBlock]) {
    if !blocks.iter().any(|b| b.type_ == "node") {
        c.push(
            path,
            Reason::Required,
            "a node range is required, e.g. {type: node, size: 22} or {type: node, cidr: 10.0.0.0/22}",
        );
    }
    let mut types: Vec<&str> = Vec::new();
    let mut fixed: Vec<(usize, Ipv4Net)> = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let bp = path.index(i);
        c.one_of(&bp.field("type"), &b.type_, RANGE_TYPES);
        if RANGE_TYPES.contains(&b.type_.as_str()) {
            if types.contains(&b.type_.as_str()) {
                c.push(
                    &bp.field("type"),
                    Reason::Duplicate,
                    format!("a {} range is already given; give each type once", b.type_),
                );
            }
            types.push(&b.type_);
        }
        let (lo, hi) = prefix_range(&b.type_);
        match (&b.cidr, b.size) {
            (Some(_), Some(_)) => c.push(&bp, Reason::Invalid, "set cidr or size, not both"),
            (None, None) => c.push(
                &bp,
                Reason::Required,
                format!("set cidr (a fixed range) or size (a prefix length, {lo} to {hi})"),
            ),
            (None, Some(size)) => c.range(&bp.field("size"), size, (lo, hi), "(prefix length)"),
            (Some(cidr), None) => {
                if let Some(net) = check_range(c, &bp.field("cidr"), cidr, &b.type_, (lo, hi)) {
                    fixed.push((i, net));
                }
            }
        }
    }
    report_overlaps(c, &fixed, |i| path.index(i).field("cidr"));
}

/// Parses a range and checks its prefix length for its type; node ranges at least /24.
fn check_range(
    c: &mut Checker,
    path: &FieldPath,
    cidr: &str,
    range_type: &str,
    (lo, hi): (i64, i64),
) -> Option<Ipv4Net> {
    match Ipv4Net::parse(cidr) {
        Err(e) => {
            c.push(
                path,
                Reason::Invalid,
                format!("{cidr:?} is not an IPv4 CIDR: {e}"),
            );
            None
        }
        Ok(net) if i64::from(net.prefix) > hi => {
            c.push(
                path,
                Reason::Invalid,
                format!("{cidr} is too small: a {range_type} range must be /{hi} or larger"),
            );
            None
        }
        Ok(net) if i64::from(net.prefix) < lo => {
            c.push(
                path,
                Reason::Invalid,
                format!("{cidr} is too large: a {range_type} range must be /{lo} or smaller"),
            );
            None
        }
        Ok(net) => Some(net),
    }
}

fn report_overlaps(c: &mut Checker, nets: &[(usize, Ipv4Net)], path: impl Fn(usize) -> FieldPath) {
    for (k, (i, a)) in nets.iter().enumerate() {
        if let Some((j, b)) = nets[..k].iter().find(|(_, b)| a.overlaps(b)) {
            c.push(
                &path(*i),
                Reason::Invalid,
                format!("{a} overlaps {b} (item {j}); ranges must not overlap"),
            );
        }
    }
}

impl Spec for AssignableNetworkSpec {
    const INFO: &'static KindInfo = &ASSIGNABLE_NETWORK;

    fn check(&self, c: &mut Checker, path: &FieldPath, _meta: &ObjectMeta) {
        c.one_of(&path.field("provider"), &self.provider, CLOUDS);
        c.dns_label(&path.field("stage"), &self.stage);
        let np = path.field("networks");
        if self.networks.is_empty() {
            c.push(
                &np,
                Reason::Required,
                "at least one range is required, e.g. {range: 10.0.0.0/16, type: node}",
            );
        }
        let mut nets: Vec<(usize, Ipv4Net)> = Vec::new();
        for (i, n) in self.networks.iter().enumerate() {
            let p = np.index(i);
            c.one_of(&p.field("type"), &n.type_, RANGE_TYPES);
            if n.range.is_empty() {
                c.push(
                    &p.field("range"),
                    Reason::Required,
                    "required: an IPv4 range such as 10.0.0.0/16",
                );
            } else if let Some(net) = check_range(
                c,
                &p.field("range"),
                &n.range,
                &n.type_,
                ASSIGNABLE_PREFIX_RANGE,
            ) {
                nets.push((i, net));
            }
        }
        report_overlaps(c, &nets, |i| np.index(i).field("range"));
    }
}

impl ClusterNetworkPlanSpec {
    /// The node range: the network a cluster gets when neither it nor its plan asks for
    /// one.
    pub fn node_request(&self) -> Option<NetworkRequest> {
        let block = self
            .template
            .as_ref()?
            .ipv4
            .as_ref()?
            .cidr_blocks
            .iter()
            .find(|b| b.type_ == "node")?;
        match (&block.cidr, block.size) {
            (Some(cidr), None) => Ipv4Net::parse(cidr).ok().map(NetworkRequest::Cidr),
            (None, Some(size)) => u8::try_from(size).ok().map(NetworkRequest::Size),
            _ => None,
        }
    }
}

/// How a cluster's node network is laid out in its cloud: subnets across availability
/// zones, public and private, and NAT gateways for the private ones' egress. Read from a
/// ClusterNetworkPlan's `spec.template` ([`ClusterNetworkPlanSpec::subnet_layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetLayout {
    /// Availability zones the subnets are spread over (`providerDetails.aws.availabilityZones`).
    pub zones: u8,
    /// `layout.privateSubnets`.
    pub private: u8,
    /// `layout.publicSubnets`: they route to an internet gateway.
    pub public: u8,
    /// NAT gateways, each in a public subnet; private subnets route through them.
    pub nat_gateways: u8,
}

impl Default for SubnetLayout {
    /// A plan that says nothing: two private subnets in two zones, no internet access.
    fn default() -> Self {
        Self {
            zones: 2,
            private: 2,
            public: 0,
            nat_gateways: 0,
        }
    }
}

/// One subnet of a [`SubnetLayout`] carved from the node network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedSubnet {
    /// Its range within the node network.
    pub cidr: Ipv4Net,
    /// Index of its zone among the region's zones (sorted by name), `0..zones`.
    pub zone: u8,
    /// Whether it routes to the internet gateway (else: private).
    pub public: bool,
}

/// The smallest subnet carved (AWS refuses anything smaller than a /28).
pub const SMALLEST_SUBNET_PREFIX: u8 = 28;

impl ClusterNetworkPlanSpec {
    /// The layout the plan asks for; what it leaves out takes [`SubnetLayout::default`]'s
    /// value, and NAT gateways default to one when there are both private and public
    /// subnets. NAT gateways never outnumber the public subnets they sit in, and private
    /// subnets with no public one have none.
    pub fn subnet_layout(&self) -> SubnetLayout {
        let d = SubnetLayout::default();
        let t = self.template.as_ref();
        let layout = t.and_then(|t| t.layout.as_ref());
        let aws = t
            .and_then(|t| t.provider_details.as_ref())
            .and_then(|p| p.aws.as_ref());
        let clamp = |v: Option<i64>, default: u8, max: i64| {
            v.map_or(default, |v| {
                u8::try_from(v.clamp(0, max)).unwrap_or(default)
            })
        };
        let (private, public) = match layout {
            Some(l) if l.private_subnets.is_some() || l.public_subnets.is_some() => (
                clamp(l.private_subnets, 0, 16),
                clamp(l.public_subnets, 0, 16),
            ),
            _ => (d.private, d.public),
        };
        let zones = clamp(aws.and_then(|a| a.availability_zones), d.zones, 6).max(1);
        let wanted_nat = clamp(
            aws.and_then(|a| a.nat_gateways),
            u8::from(private > 0 && public > 0),
            16,
        );
        let nat_gateways = if private == 0 {
            0
        } else {
            wanted_nat.min(public)
        };
        SubnetLayout {
            zones,
            private,
            public,
            nat_gateways,
        }
    }
}

impl SubnetLayout {
    /// The subnets carved from `net`: equal ranges, the private ones first, each kind
    /// spread over the zones in turn. An error when `net` is too small for them.
    pub fn subnets(&self, net: Ipv4Net) -> Result<Vec<PlannedSubnet>, String> {
        let count = u32::from(self.private) + u32::from(self.public);
        if count == 0 {
            return Err("the network plan's layout has no subnets".into());
        }
        let bits = u8::try_from(count.next_power_of_two().trailing_zeros()).unwrap_or(8);
        let prefix = net.prefix.saturating_add(bits);
        if prefix > SMALLEST_SUBNET_PREFIX {
            return Err(format!(
                "network {net} is too small for {count} subnets (each would be a /{prefix}; the smallest is a /{SMALLEST_SUBNET_PREFIX}): allocate a larger network or ask for fewer subnets"
            ));
        }
        let step = 1u32 << (32 - u32::from(prefix));
        let zones = self.zones.max(1);
        let kinds = (0..self.private)
            .map(|i| (i, false))
            .chain((0..self.public).map(|i| (i, true)));
        Ok(kinds
            .enumerate()
            .map(|(n, (i, public))| PlannedSubnet {
                cidr: Ipv4Net {
                    addr: net.addr + step * n as u32,
                    prefix,
                },
                zone: i % zones,
                public,
            })
            .collect())
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    fn plan(
        zones: Option<i64>,
        nat: Option<i64>,
        private: i64,
        public: i64,
    ) -> ClusterNetworkPlanSpec {
        ClusterNetworkPlanSpec {
            template: Some(NetworkTemplate {
                provider_details: Some(NetworkProviderDetails {
                    type_: Some("aws".into()),
                    aws: Some(AwsNetwork {
                        availability_zones: zones,
                        nat_gateways: nat,
                    }),
                }),
                layout: Some(Layout {
                    mode: Some("auto".into()),
                    private_subnets: Some(private),
                    public_subnets: Some(public),
                }),
                ..NetworkTemplate::default()
            }),
            ..ClusterNetworkPlanSpec::default()
        }
    }

    #[test]
    fn a_plan_s_layout_is_read_with_defaults_for_what_it_leaves_out() {
        let cases = [
            (ClusterNetworkPlanSpec::default(), (2, 2, 0, 0)),
            (plan(Some(3), Some(1), 3, 3), (3, 3, 3, 1)),
            (plan(Some(3), None, 3, 3), (3, 3, 3, 1)),
            (plan(None, Some(4), 2, 1), (2, 2, 1, 1)),
            (plan(Some(2), Some(2), 0, 2), (2, 0, 2, 0)),
            (plan(Some(9), None, 2, 0), (6, 2, 0, 0)),
        ];
        for (spec, (zones, private, public, nat)) in cases {
            let l = spec.subnet_layout();
            assert_eq!(
                (l.zones, l.private, l.public, l.nat_gateways),
                (zones, private, public, nat),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn subnets_are_equal_ranges_private_first_spread_over_the_zones() {
        let net = Ipv4Net::parse("10.0.4.0/22").unwrap();
        let got: Vec<(String, u8, bool)> = plan(Some(3), Some(1), 3, 3)
            .subnet_layout()
            .subnets(net)
            .unwrap()
            .iter()
            .map(|s| (s.cidr.to_string(), s.zone, s.public))
            .collect();
        let want = [
            ("10.0.4.0/25", 0, false),
            ("10.0.4.128/25", 1, false),
            ("10.0.5.0/25", 2, false),
            ("10.0.5.128/25", 0, true),
            ("10.0.6.0/25", 1, true),
            ("10.0.6.128/25", 2, true),
        ]
        .map(|(c, z, p)| (c.to_string(), z, p));
        assert_eq!(got, want);
        let halves = SubnetLayout::default().subnets(net).unwrap();
        assert_eq!(halves[1].cidr.to_string(), "10.0.6.0/23");
        let e = plan(None, None, 16, 16)
            .subnet_layout()
            .subnets(Ipv4Net::parse("10.0.0.0/24").unwrap())
            .unwrap_err();
        assert!(e.contains("10.0.0.0/24 is too small for 32 subnets"), "{e}");
    }
}
