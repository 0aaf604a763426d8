#!/usr/bin/env bash
# The runbook (docs/RUNBOOK.md), step by step, against the local stack (stack-lib.sh), as a new
# operator would follow it: each step's commands, then a check that they did what the runbook
# says. Run by infra/scripts/test.sh after the smoke test (SKIP_SMOKE=1 skips both).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=infra/scripts/stack-lib.sh
source infra/scripts/stack-lib.sh
work=$(mktemp -d)
trap 'stack_stop; rm -rf "$work"' EXIT
stack_start "$work" 30
cli=target/debug/personio-sync
tenant=personio:sandbox-acme
check() { "$py" -c "import json, sys; $1" "${@:2}" || stack_fail "drill: $step: check failed"; }
learnamp_state() { curl -sf "$LEARNAMP_SANDBOX/_sandbox/state"; }
kombo_state() { curl -sf "$KOMBO_SANDBOX/_sandbox/state"; }
status_json() { $cli status --tenant "$tenant" --report json --changes-queue-url "$CHANGES_QUEUE_URL" --changes-dlq-url "$CHANGES_DLQ_URL"; }

step="register a tenant"
LEARNAMP_CLIENT_SECRET=sandbox-client-secret $cli tenants add --integration-id "$tenant" \
  --learnamp-url "$LEARNAMP_SANDBOX" --learnamp-client-id sandbox-client-id \
  --learnamp-client-secret-param /personio-sync/tenants/sandbox-acme/learnamp-client-secret > /dev/null
$cli tenants list | grep -q "$tenant" || stack_fail "drill: $step"
echo "drill: $step: ok"

step="import all from Personio"
invoke sync --data-ascii "{\"tenant\": \"$tenant\", \"mode\": \"full\"}" > "$work/import.json"
pump_changes
learnamp_state > "$work/learnamp.json"
status_json > "$work/status.json"
check 'r, la, st = (json.load(open(p)) for p in sys.argv[1:4]); users = [u for u in la["users"] if u.get("integration_external_id")]; assert r["queued"] > 20 and len(users) == r["queued"], (r["queued"], len(users)); assert st["runs"][0]["trigger"] == "invoke" and st["queues"]["changes"]["visible"] == 0, st' \
  "$work/import.json" "$work/learnamp.json" "$work/status.json"
echo "drill: $step: ok"

step="re-run one employee"
employee=$(kombo_state | "$py" -c 'import json, sys; es = [e for e in json.load(sys.stdin)["employees"] if e["employment_status"] == "ACTIVE" and e.get("work_email")]; print(es[-1]["id"])')
curl -sf -X PATCH "$KOMBO_SANDBOX/_sandbox/employees/$employee" -H 'content-type: application/json' \
  -d '{"job_title": "Runbook Drill Lead"}' > /dev/null
invoke sync --data-ascii "{\"tenant\": \"$tenant\", \"employee_id\": \"$employee\"}" > "$work/one.json"
pump_changes
learnamp_state > "$work/learnamp.json"
check 'r, la = (json.load(open(p)) for p in sys.argv[1:3]); e = sys.argv[3]; assert [a["employee_id"] for a in r["actions"]] == [e], r["actions"]; assert r["queued"] == 1, r; u = [u for u in la["users"] if u.get("integration_external_id") == e][0]; assert u["job_title"] == "Runbook Drill Lead", u' \
  "$work/one.json" "$work/learnamp.json" "$employee"
echo "drill: $step: ok"

step="switch a tenant's invite policy"
$cli tenants set-invite-policy "$tenant" immediately > /dev/null
$cli tenants show "$tenant" > "$work/tenant.json"
check 't = json.load(open(sys.argv[1])); assert t["settings"]["invite_policy"] == "immediately", t["settings"]' "$work/tenant.json"
# A joiner from now on is invited (the import ran under "manual": nobody was).
learnamp_state > "$work/learnamp.json"
joiner=$(kombo_state | "$py" -c 'import json, sys; known = {u.get("integration_external_id") for u in json.load(open(sys.argv[1]))["users"]}; es = [e for e in json.load(sys.stdin)["employees"] if e["id"] not in known and e.get("work_email")]; print(es[0]["id"])' "$work/learnamp.json")
curl -sf -X PATCH "$KOMBO_SANDBOX/_sandbox/employees/$joiner" -H 'content-type: application/json' \
  -d '{"employment_status": "ACTIVE", "termination_date": null, "start_date": "2026-01-05T00:00:00.000Z"}' > /dev/null
invoke sync --data-ascii "{\"tenant\": \"$tenant\", \"employee_id\": \"$joiner\"}" > /dev/null
pump_changes
learnamp_state > "$work/learnamp.json"
check 'la = json.load(open(sys.argv[1])); users = {u.get("integration_external_id"): u for u in la["users"]}; j = users[sys.argv[2]]; assert j["invitations_sent"] == 1, j["status"]; assert all(u["invitations_sent"] == 0 for k, u in users.items() if k != sys.argv[2]), "nobody else invited"' "$work/learnamp.json" "$joiner"
echo "drill: $step: ok"

step="release a halted run"
# A third of the company vanishes from Personio at once: the guard holds the deactivations.
kombo_state | "$py" -c 'import json, sys; es = [e["id"] for e in json.load(sys.stdin)["employees"] if e["employment_status"] == "ACTIVE"]; print("\n".join(es[: len(es) // 3]))' > "$work/gone.txt"
while read -r id; do curl -sf -X DELETE "$KOMBO_SANDBOX/_sandbox/employees/$id" > /dev/null; done < "$work/gone.txt"
invoke sync --data-ascii "{\"tenant\": \"$tenant\"}" > "$work/halted.json"
status_json > "$work/status.json"
invoke sync --data-ascii "{\"tenant\": \"$tenant\", \"dry_run\": true, \"allow_mass_deactivation\": true}" > "$work/preview.json"
check 'h, st, p = (json.load(open(x)) for x in sys.argv[1:4]); gone = len(open(sys.argv[4]).read().split()); assert h["halted"] and h["counts"]["deactivated"] == 0, h; assert st["runs"][0]["halted"] == h["halted"], st["runs"][0]; assert p["counts"]["deactivated"] == gone and not p["halted"], p["counts"]' \
  "$work/halted.json" "$work/status.json" "$work/preview.json" "$work/gone.txt"
invoke sync --data-ascii "{\"tenant\": \"$tenant\", \"allow_mass_deactivation\": true}" > "$work/released.json"
pump_changes
learnamp_state > "$work/learnamp.json"
check 'r, la = (json.load(open(x)) for x in sys.argv[1:3]); gone = set(open(sys.argv[3]).read().split()); assert not r["halted"] and r["counts"]["deactivated"] == len(gone), r["counts"]; off = {u["integration_external_id"] for u in la["users"] if u.get("integration_external_id") in gone and u["status"] == "deactivated"}; assert off == gone, (len(off), len(gone))' \
  "$work/released.json" "$work/learnamp.json" "$work/gone.txt"
echo "drill: $step: ok"

step="replay the dead-letter queue"
other=$(kombo_state | "$py" -c 'import json, sys; es = [e for e in json.load(sys.stdin)["employees"] if e["employment_status"] == "ACTIVE" and e.get("work_email")]; print(es[0]["id"])')
curl -sf -X PATCH "$KOMBO_SANDBOX/_sandbox/employees/$other" -H 'content-type: application/json' \
  -d '{"job_title": "Dead Letter Survivor"}' > /dev/null
invoke sync --data-ascii "{\"tenant\": \"$tenant\", \"employee_id\": \"$other\"}" > /dev/null
# What SQS does after the last failed delivery: the change moves to the dead-letter queue.
"$py" - <<'PY'
import os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for m in sqs.receive_message(QueueUrl=os.environ["CHANGES_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", []):
    sqs.send_message(QueueUrl=os.environ["CHANGES_DLQ_URL"], MessageBody=m["Body"])
    sqs.delete_message(QueueUrl=os.environ["CHANGES_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"])
PY
status_json > "$work/before.json"
$cli dlq replay --from "$CHANGES_DLQ_URL" --to "$CHANGES_QUEUE_URL" > /dev/null
pump_changes
status_json > "$work/after.json"
learnamp_state > "$work/learnamp.json"
check 'b, a, la = (json.load(open(x)) for x in sys.argv[1:4]); e = sys.argv[4]; assert b["queues"]["changes_dead_letter"]["visible"] == 1, b["queues"]; assert a["queues"]["changes_dead_letter"]["visible"] == 0, a["queues"]; u = [u for u in la["users"] if u.get("integration_external_id") == e][0]; assert u["job_title"] == "Dead Letter Survivor", u' \
  "$work/before.json" "$work/after.json" "$work/learnamp.json" "$other"
echo "drill: $step: ok"

step="rotate the Kombo webhook secret"
webhook_status() { # event id, secret -> the HTTP status the webhook function answers
  kombo_webhook_event "$1" "$tenant" "$2" > "$work/request.json"
  invoke webhook --data-file "$work/request.json" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["statusCode"])'
}
put_secret() {
  "$py" -c 'import os, sys, boto3; boto3.client("ssm", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).put_parameter(Name=os.environ["KOMBO_WEBHOOK_SECRET_PARAM"], Value=sys.argv[1], Type="SecureString", Overwrite=True)' "$1"
}
put_secret $'new-kombo-webhook-secret\nlocal-kombo-webhook-secret'   # 1. both, new first
restart_function webhook                                            # 2. new instances read both
during=$(webhook_status rot-1 local-kombo-webhook-secret)/$(webhook_status rot-2 new-kombo-webhook-secret)
put_secret new-kombo-webhook-secret                                 # 4. (after Kombo sends with the new) only the new
restart_function webhook
after=$(webhook_status rot-3 local-kombo-webhook-secret)/$(webhook_status rot-4 new-kombo-webhook-secret)
[ "$during" = "200/200" ] && [ "$after" = "401/200" ] || stack_fail "drill: $step: during $during, after $after"
echo "drill: $step: ok (during the rotation old/new answered $during, after it $after)"
