output "compute_template_ids" {
  description = "The ID of each compute template, by name."
  value = {
    "explicit-empties" = wayfinder_compute_template.explicit_empties.id
  }
}
