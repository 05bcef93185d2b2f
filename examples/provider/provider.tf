terraform {
  required_providers {
    wayfinder = {
      source  = "wayfinder/wayfinder"
      version = ">= 0.1.0"
    }
  }
}

# Every argument may come from the environment instead: WAYFINDER_SERVER, WAYFINDER_TOKEN
# and WAYFINDER_WORKSPACE, the names Wayfinder's own CLI reads in CI.
provider "wayfinder" {
  server    = "https://wayfinder.example.com"
  workspace = "pay"

  # Only when the API's certificate is signed by a private certificate authority.
  # ca_cert_pem = file("${path.module}/wayfinder-ca.pem")
}
