data "wayfinder_stage" "prod" {
  name = "prod"
}

output "prod_display_name" {
  value = data.wayfinder_stage.prod.display_name
}
