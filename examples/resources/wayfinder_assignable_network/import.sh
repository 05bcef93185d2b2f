# Import by WORKSPACE/NAME (or NAME alone, for an object in the provider's workspace).
terraform import wayfinder_assignable_network.aws_nonprod admin/aws-nonprod
