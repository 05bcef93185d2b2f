# Import by WORKSPACE/NAME (or NAME alone, for an object in the provider's workspace).
terraform import wayfinder_cluster.payments_dev pay/payments-dev
