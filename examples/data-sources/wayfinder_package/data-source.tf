# The latest published version; set version to read another one.
data "wayfinder_package" "cert_manager" {
  name = "cert-manager"
}

output "cert_manager_version" {
  value = data.wayfinder_package.cert_manager.version
}
