# Import by WORKSPACE/NAME (or NAME alone, for an object in the provider's workspace).
terraform import wayfinder_access_token.ci pay/ci-deployer
# An imported token's secret cannot be read back: `token` stays null.
