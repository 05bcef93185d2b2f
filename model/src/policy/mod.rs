//! `policy.appvia.io/v2beta1` ProvisioningPolicy: limits on self-service clusters — allowed
//! regions, instance types with per-type node maxima, nodes and estimated monthly cost per
//! cluster, and totals per workspace — scoped by workspace and stage (wayfinder-model.md §9;
//! Wayfinder does not publish the kind's own name, so it is ours).
//!
//! Besides the kind, this module is the policy engine that admission, the plan-time preview
//! and the compiler share:
//!
//! - [`effective_policy`] combines the policies that apply to a workspace, stage and cloud by
//!   Wayfinder's precedence — the most specific scope tier wins, ties are merged to the least
//!   restrictive value — and records which policy and tier set each limit.
//! - [`EffectivePolicy::to_api`] is the body of Wayfinder's
//!   `GET /api/v2/workspaces/{ws}/provisioningpolicy/{cloud}/{stage}/cluster`.
//! - [`check_cluster`] checks a resolved cluster, its cost [`Estimate`](crate::cost::Estimate) and the workspace's
//!   other clusters ([`WorkspaceUsage`]) against it and reports every [`Violation`], each with
//!   the field path into the Cluster object, the policy and scope that set the limit, the
//!   limit and the value.
//!
//! Split by concern: `kind` (the spec, its shape and validation), `effective` (combining the
//! policies in scope) and `check` (a cluster against the effective policy). Everything public
//! is re-exported here, so `wayfinder_model::policy::…` is the one path callers use.

mod check;
mod effective;
mod kind;

pub use check::{Rule, Violation, WorkspaceUsage, check_cluster, check_unpriced};
pub use effective::{
    AllowedInstanceTypes, EffectiveLimits, EffectivePolicy, EffectivePolicyBody, ScopeTier, Source,
    Sourced, effective_policy,
};
pub use kind::{
    ClusterLimits, InstanceTypeLimit, Limits, ProvisioningPolicy, ProvisioningPolicySpec,
    SPEC_SHAPE,
};

#[cfg(test)]
mod tests;
