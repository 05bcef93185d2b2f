# The identity Wayfinder itself runs as in AWS, which cloud access configurations assume
# roles from.
resource "wayfinder_cloud_identity" "aws" {
  workspace   = "admin"
  name        = "cloudidentity-aws"
  description = "Wayfinder's IAM role"
  cloud       = "aws"
  type        = "AWSIAMRoleForServiceAccount"

  aws {
    role_arn = "arn:aws:iam::123456789012:role/wayfinder-identity"
  }
}
