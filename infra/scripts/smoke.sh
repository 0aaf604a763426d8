#!/usr/bin/env bash
# Smoke test of the three built function binaries under `cargo lambda watch` (see
# stack-lib.sh): the webhook function takes the signed sample Kombo webhook
# (events/webhook-kombo-data-changed.json) and queues one sync request; the sync function,
# invoked directly, runs a dry run and then "Import all" of a sandbox tenant; the apply function
# drains the changes into the Learn Amp sandbox. Run by infra/scripts/test.sh (SKIP_SMOKE=1
# skips it), or on its own after the test command has installed .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=infra/scripts/stack-lib.sh
source infra/scripts/stack-lib.sh
work=$(mktemp -d)
trap 'stack_stop; rm -rf "$work"' EXIT
stack_start "$work" 20

# Two tenants on the sandbox's Learn Amp: the sandbox's own integration, and the one the sample
# events name.
for tenant in personio:sandbox-acme personio:CBNMt7dSNCzBdnRTx87dev4E; do
  LEARNAMP_CLIENT_SECRET=sandbox-client-secret target/debug/personio-sync tenants add \
    --integration-id "$tenant" --learnamp-url "$LEARNAMP_SANDBOX" --learnamp-client-id sandbox-client-id \
    --learnamp-client-secret-param "/personio-sync/tenants/${tenant#personio:}/learnamp-client-secret" \
    > /dev/null || stack_fail "tenants add $tenant"
done

started=$(date +%s)
invoke webhook --data-file events/webhook-kombo-data-changed.json > "$work/webhook.out" \
  || stack_fail "the webhook function did not answer"
"$py" - "$work/webhook.out" <<'PY' || stack_fail "unexpected webhook response"
import json, os, sys, boto3
response = json.load(open(sys.argv[1]))
assert response["statusCode"] == 200, response
assert json.loads(response["body"])["status"] == "queued", response
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
messages = sqs.receive_message(QueueUrl=os.environ["SYNC_REQUESTS_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", [])
assert len(messages) == 1, messages
assert json.loads(messages[0]["Body"])["tenant"] == "personio:CBNMt7dSNCzBdnRTx87dev4E", messages
print("smoke: webhook -> 200 queued, one sync request in the queue")
PY

invoke sync --data-ascii '{"tenant": "personio:sandbox-acme", "mode": "full", "dry_run": true}' \
  > "$work/dry-run.out" || stack_fail "the sync function did not answer"
invoke sync --data-file events/invoke-import-all.json > /dev/null 2>&1 || true # another tenant's id: a clear error, no crash
invoke sync --data-ascii '{"tenant": "personio:sandbox-acme", "mode": "full"}' \
  > "$work/import.out" || stack_fail "the import did not answer"
pump_changes || stack_fail "the changes queue did not drain"
curl -sf "$LEARNAMP_SANDBOX/_sandbox/state" > "$work/learnamp.json" || stack_fail "no Learn Amp state"
"$py" - "$work/dry-run.out" "$work/import.out" "$work/learnamp.json" <<'PY' || stack_fail "unexpected sync or apply result"
import json, sys
dry, imported, learnamp = (json.load(open(p)) for p in sys.argv[1:4])
assert dry["dry_run"] is True and dry["counts"]["created"] > 0 and dry["queued"] == 0, dry
assert imported["queued"] == dry["counts"]["created"], (imported["queued"], dry["counts"])
linked = [u for u in learnamp["users"] if u.get("integration_external_id")]
assert len(linked) == imported["queued"], (len(linked), imported["queued"])
print(f"smoke: sync dry run -> {dry['counts']['created']} would be created, nothing queued")
print(f"smoke: import -> {imported['queued']} changes queued, applied by the apply function: {len(linked)} Learn Amp users")
PY
echo "smoke: the three function binaries answered under cargo lambda watch in $(( $(date +%s) - started )) s"
