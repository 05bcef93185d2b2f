variable "workspace_owner" {
  description = "The user who owns the payments workspace."
  type        = string
  default     = "jane@example.com"
}

variable "member_token_ttl" {
  description = "How long the member token works, e.g. `168h`."
  type        = string
  default     = "168h"
}
