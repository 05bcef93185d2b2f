data "wayfinder_workspace" "pay" {
  name = "pay"
}

output "pay_owners" {
  value = [for o in data.wayfinder_workspace.pay.owners : o.name]
}
