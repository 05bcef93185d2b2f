//! `wayfinder_compute_template`: node-pool presets that cluster plans and clusters start from.

use wayfinder_model::kinds::COMPUTE_TEMPLATE;

use super::ResourceType;

pub fn resource() -> ResourceType {
    // A template's provider cannot change in place: its pools' machines are the provider's.
    ResourceType::platform(&COMPUTE_TEMPLATE, &["provider"])
}
