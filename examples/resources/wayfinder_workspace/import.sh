# This resource is platform-wide: import it by name.
terraform import wayfinder_workspace.pay pay
