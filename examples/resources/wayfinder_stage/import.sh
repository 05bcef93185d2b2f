# This resource is platform-wide: import it by name.
terraform import wayfinder_stage.nonprod nonprod
