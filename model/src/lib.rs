//! The Wayfinder resource model: every kind as a typed Rust value, parsing of Wayfinder
//! YAML and JSON, and validation that reports every problem at once with its field path.
//!
//! This crate is the project's one engine: the control plane's admission, the provider's
//! plan-time checks and the compiler's static checks all call it. It does no I/O.
//!
//! # Map
//!
//! **The kinds**, one module per API group, each with its spec structs, field shape and
//! validation: [`compute`] (ComputeTemplate), [`cluster`] (Cluster), [`plan`] (ClusterPlan),
//! [`policy`] (ProvisioningPolicy, with its engine), [`org`] (Workspace, Stage, AccessToken),
//! [`cloudaccess`], [`networking`], [`package`], [`policydelivery`]. [`kinds`] is their
//! registry (group, version, plural and scope of each, and the [`Object`] enum), the one
//! module allowed to name them all; [`object`] is the envelope they share, [`meta`] its
//! metadata, [`common`] the pieces several kinds use and [`versioned`] the publish state of
//! versioned kinds.
//!
//! **Legacy versions**: [`legacy`] reads the `v2beta1` shapes Wayfinder has moved on from
//! (ClusterPlan, Package, CloudAccessConfig, CloudIdentity) and converts them to and from
//! the current ones, carrying what has no counterpart.
//!
//! **The engine**, what admission, the preview and the compiler call: [`resolve`] looks a
//! Cluster's references up into a [`resolved`] cluster; [`policy`] works out the effective
//! provisioning policy and checks a cluster against it; [`cost`] estimates its monthly cost
//! from the price catalog that ships with the model.
//!
//! **Infrastructure** under both: [`parse`] (YAML and JSON in), [`span`] (where each field is
//! in the source), [`error`] (field paths and errors), [`validate`] (the checker every kind's
//! validation reports to), [`shape`] (the field shapes the provider schema, docs and compiler
//! are derived from), [`naming`] (YAML names to Terraform attribute names) and [`net`] (IPv4
//! CIDRs).
//!
//! Modules depend on each other without cycles, apart from [`kinds`] and the kind modules it
//! registers; `xtask/tests/module_cycles.rs` checks it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Parse errors carry the file, object, path and message a person needs; they are the cold
// path, so their size is not worth boxing for.
#![allow(clippy::result_large_err)]

pub mod cloudaccess;
pub mod cluster;
pub mod common;
pub mod compute;
pub mod cost;
pub mod error;
pub mod kinds;
pub mod legacy;
pub mod limits;
pub mod meta;
pub mod naming;
pub mod net;
pub mod networking;
pub mod object;
pub mod org;
pub mod package;
pub mod parse;
pub mod plan;
pub mod policy;
pub mod policydelivery;
pub mod resolve;
pub mod resolved;
pub mod shape;
pub mod span;
pub mod validate;
pub mod versioned;

pub use cluster::Cluster;
pub use compute::{ComputeTemplate, ComputeTemplateSpec, NodePool};
pub use cost::{Catalog, Estimate, estimate, estimate_cluster};
pub use error::{FieldError, FieldPath, ParseError, PathSegment, ValidationErrors};
pub use kinds::{KindInfo, Object, Scope};
pub use legacy::{Migrated, read_yaml_documents_migrating};
pub use meta::ObjectMeta;
pub use object::{Spec, Status, Typed};
pub use parse::{Document, parse_json, parse_yaml_documents, read_yaml_documents};
pub use policy::{
    EffectivePolicy, ProvisioningPolicy, Violation, WorkspaceUsage, check_cluster, check_unpriced,
    effective_policy,
};
pub use resolve::estimate_resolution;
pub use resolve::{MemoryView, ObjectView, Resolution, resolve_cluster, resolve_cluster_with};
pub use resolved::ResolvedCluster;
pub use span::{Location, SpanIndex};
pub use versioned::{PublishState, latest_published, publish_state};
