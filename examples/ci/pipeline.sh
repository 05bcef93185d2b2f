#!/usr/bin/env bash
# A CI job for a workspace's Terraform configuration: plan, show what the clusters will cost
# and whether Wayfinder's admission (plan, provisioning policy, cost) allows them, then apply
# exactly the plan that was shown.
#
#   WAYFINDER_SERVER=https://wayfinder.example.com WAYFINDER_TOKEN=... \
#     examples/ci/pipeline.sh [CONFIG_DIR] [--plan-only]
#
# Exit status: 0 when there was nothing to do or the apply succeeded; 1 when the plan was
# refused (Terraform's diagnostics above say which attribute broke which limit) or the
# apply failed. Set TERRAFORM to use another binary (e.g. `tofu`).
set -euo pipefail

dir="."
plan_only=false
for arg in "$@"; do
  case "$arg" in
    --plan-only) plan_only=true ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) dir="$arg" ;;
  esac
done

: "${WAYFINDER_SERVER:?set WAYFINDER_SERVER to the Wayfinder API URL}"
: "${WAYFINDER_TOKEN:?set WAYFINDER_TOKEN to an access token for this pipeline, kept as a CI secret}"
tf="${TERRAFORM:-terraform}"
export TF_IN_AUTOMATION=1 TF_INPUT=0

run() { "$tf" -chdir="$dir" "$@"; }
section() { printf '\n=== %s\n' "$*"; }

section "terraform init"
run init -input=false -no-color >/dev/null
echo "initialised $dir"

section "terraform plan"
set +e
run plan -detailed-exitcode -input=false -no-color -out=ci.tfplan
plan_status=$?
set -e

case "$plan_status" in
  0)
    section "result"
    echo "No changes: the clusters already match the configuration."
    rm -f "$dir/ci.tfplan"
    exit 0
    ;;
  2) ;;
  *)
    section "result"
    echo "REFUSED: the plan failed. The errors above come from the configuration's checks or"
    echo "from Wayfinder's admission, each pointing at the attribute that breaks a rule."
    exit 1
    ;;
esac

section "cost and policy"
# One line per cluster the plan creates or changes. The provider asked the server's
# admission (a dry run) about each at plan time: a refusal would have failed the plan above,
# and the estimated monthly cost is in the plan.
run show -json ci.tfplan >"$dir/ci.tfplan.json"
summary_jq='
  [.resource_changes[]?
   | select(.type == "wayfinder_cluster")
   | select(.change.actions | index("create") or index("update"))
   | {address, actions: (.change.actions | join("/")),
      cost: .change.after.estimated_monthly_cost}]
  | if length == 0 then "no cluster changes" else
    .[] | "\(.address) (\(.actions)): " +
      (if .cost == null then "not previewed (it uses values known only after apply); Wayfinder checks it at apply"
       else "allowed by Wayfinder'"'"'s admission (plan, provisioning policy, cost); estimated monthly cost \(.cost.total) \(.cost.currency) [" +
         ([.cost.node_pools | to_entries[] | "\(.key) \(.value)"] | join(", ")) + "]" end)
    end'
if command -v jq >/dev/null 2>&1; then
  jq -r "$summary_jq" "$dir/ci.tfplan.json"
else
  python3 - "$dir/ci.tfplan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
changes = [c for c in plan.get("resource_changes", [])
           if c["type"] == "wayfinder_cluster"
           and {"create", "update"} & set(c["change"]["actions"])]
if not changes:
    print("no cluster changes")
for c in changes:
    cost = (c["change"].get("after") or {}).get("estimated_monthly_cost")
    head = f'{c["address"]} ({"/".join(c["change"]["actions"])}): '
    if cost is None:
        print(head + "not previewed (it uses values known only after apply); Wayfinder checks it at apply")
    else:
        pools = ", ".join(f"{k} {v}" for k, v in cost["node_pools"].items())
        print(head + "allowed by Wayfinder's admission (plan, provisioning policy, cost); "
              f'estimated monthly cost {cost["total"]} {cost["currency"]} [{pools}]')
PY
fi
rm -f "$dir/ci.tfplan.json"

if $plan_only; then
  section "result"
  echo "Planned (ci.tfplan); not applied (--plan-only)."
  exit 0
fi

section "terraform apply"
run apply -input=false -no-color ci.tfplan
rm -f "$dir/ci.tfplan"
section "result"
echo "Applied."
