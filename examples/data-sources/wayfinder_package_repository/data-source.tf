data "wayfinder_package_repository" "jetstack" {
  name = "jetstack"
}

output "url" {
  value = data.wayfinder_package_repository.jetstack.url
}
