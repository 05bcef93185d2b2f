# Import one version by NAME@VERSION (or NAME alone, for its latest published version).
terraform import wayfinder_package.cert_manager cert-manager@1.15.3-2
