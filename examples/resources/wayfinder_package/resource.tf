# A package cluster plans install: a Helm chart from a repository, at a pinned version.
# Like cluster plans, packages are versioned: each version is its own object.
resource "wayfinder_package" "cert_manager" {
  name = "cert-manager"
  annotations = {
    "appvia.io/displayName" = "Cert Manager"
  }
  version           = "1.15.3-2"
  publish_state     = "Published"
  description       = "Certificates for the cluster's ingresses"
  install_namespace = "cert-manager"

  helm {
    repository_ref  = "jetstack"
    chart_name      = "cert-manager"
    chart_version   = "1.15.3"
    release_name    = "cert-manager"
    helm_timeout    = "5m"
    values_template = <<-EOT
      installCRDs: true
      serviceAccount:
        name: {{ .Package.WorkloadIdentity.ServiceAccountName }}
    EOT
  }

  workload_identity {
    service_account_name = "cert-manager"

    role {
      aws {
        custom_iam_policy_template = <<-EOT
          Version: "2012-10-17"
          Statement:
          - Effect: Allow
            Action: ["route53:GetChange", "route53:ChangeResourceRecordSets"]
            Resource: ["*"]
        EOT
      }
    }
  }
}
