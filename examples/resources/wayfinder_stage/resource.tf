resource "wayfinder_stage" "nonprod" {
  name         = "nonprod"
  display_name = "Non-production"
  description  = "Development and test clusters"
}
