# This resource is platform-wide: import it by name.
terraform import wayfinder_provisioning_policy.aws_nonprod aws-nonprod
