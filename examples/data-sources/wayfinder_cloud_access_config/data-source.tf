# Platform cloud access lives in the admin workspace.
data "wayfinder_cloud_access_config" "aws" {
  workspace = "admin"
  name      = "aws-nonprod"
}

output "account" {
  value = data.wayfinder_cloud_access_config.aws.aws.account
}
