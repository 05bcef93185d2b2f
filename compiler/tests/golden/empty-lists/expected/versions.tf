terraform {
  required_version = ">= 1.6.0"

  required_providers {
    wayfinder = {
      source  = "wayfinder/wayfinder"
      version = ">= 0.1.0"
    }
  }
}
