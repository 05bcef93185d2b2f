# A token for the payments team's CI pipeline: a member of workspace `pay`, so it may
# create, change and delete clusters there and nothing else.
resource "wayfinder_access_token" "ci" {
  workspace   = "pay"
  name        = "ci-deployer"
  description = "GitHub Actions for the payments repository"
  roles       = ["member"]
  ttl         = "720h"

  # Keep the secret (shown once, at creation) in the state so it can be handed on below.
  # Use an encrypted, access-controlled state backend when you do.
  store_token = true
}

output "ci_token" {
  value     = wayfinder_access_token.ci.token
  sensitive = true
}
