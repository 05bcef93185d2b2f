//! How Wayfinder's YAML field names become Terraform attribute names (DESIGN.md, "Fixed
//! interfaces"): snake_case, `metadata.name` → `name`, and names Terraform reserves in a
//! resource block renamed (`spec.provider` → `cloud_provider`).

/// Top-level names Terraform reserves in resource blocks, and what we call them instead.
const RESERVED: &[(&str, &str)] = &[
    ("provider", "cloud_provider"),
    ("count", "item_count"),
    ("lifecycle", "lifecycle_policy"),
    ("connection", "connection_details"),
    ("provisioner", "provisioner_name"),
    ("depends_on", "depends_on_objects"),
    ("for_each", "for_each_items"),
];

/// `nodePools` → `node_pools`, `maxPodsPerNode` → `max_pods_per_node`,
/// `roleARN` → `role_arn`.
pub fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The Terraform attribute for a field of `spec` at the top level of a resource.
pub fn top_level_attribute(json_field: &str) -> String {
    RESERVED
        .iter()
        .find(|(r, _)| *r == json_field)
        .map(|(_, renamed)| renamed.to_string())
        .unwrap_or_else(|| snake_case(json_field))
}

/// The Terraform attribute for a field nested inside `spec` (no reserved names there).
pub fn nested_attribute(json_field: &str) -> String {
    snake_case(json_field)
}

/// The resource type for a kind: `ComputeTemplate` → `wayfinder_compute_template`.
/// `Repository` is a package repository and is named so (`wayfinder_package_repository`),
/// as the design lists it: a bare `wayfinder_repository` would say nothing of what it holds.
pub fn resource_type(kind: &str) -> String {
    match kind {
        "Repository" => "wayfinder_package_repository".to_string(),
        _ => format!("wayfinder_{}", snake_case(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_like_the_design_says() {
        assert_eq!(snake_case("nodePools"), "node_pools");
        assert_eq!(snake_case("diskSize"), "disk_size");
        assert_eq!(snake_case("maxPodsPerNode"), "max_pods_per_node");
        assert_eq!(snake_case("roleARN"), "role_arn");
        assert_eq!(snake_case("clientID"), "client_id");
        assert_eq!(snake_case("ipv4"), "ipv4");
        assert_eq!(snake_case("masterIPV4Cidr"), "master_ipv4_cidr");
        assert_eq!(top_level_attribute("provider"), "cloud_provider");
        assert_eq!(
            resource_type("ClusterNetworkPlan"),
            "wayfinder_cluster_network_plan"
        );
        assert_eq!(resource_type("Repository"), "wayfinder_package_repository");
        assert_eq!(nested_attribute("provider"), "provider");
        assert_eq!(
            resource_type("ComputeTemplate"),
            "wayfinder_compute_template"
        );
        assert_eq!(
            resource_type("ClusterNetworkPlan"),
            "wayfinder_cluster_network_plan"
        );
    }
}
