resource "wayfinder_package_repository" "jetstack" {
  name        = "jetstack"
  url         = "https://charts.jetstack.io"
  description = "The official Jetstack repository for cert-manager charts"
}
