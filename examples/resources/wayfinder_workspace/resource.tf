resource "wayfinder_workspace" "pay" {
  name        = "pay"
  key         = "pay"
  summary     = "Payments"
  description = "The payments team's clusters and cloud access"

  owners {
    kind = "User"
    name = "jane@example.com"
  }
}
