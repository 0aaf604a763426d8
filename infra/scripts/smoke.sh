#!/usr/bin/env bash
# Smoke test of the built function binaries under `cargo lambda watch` (the Lambda runtime API
# emulator, `--only-lambda-apis`: the binary is the one the tests built, started by this script
# as Lambda starts a bootstrap): the webhook function takes the signed sample Kombo webhook
# (events/webhook-kombo-data-changed.json) and queues one sync request; the sync function,
# invoked directly, runs a dry run of a sandbox tenant and returns its report. moto plays
# DynamoDB, SQS and SSM; `personio-sync sandbox` plays Kombo and Learn Amp. Everything binds
# 127.0.0.1 on free ports and is stopped on exit. Run by infra/scripts/test.sh (SKIP_SMOKE=1
# skips it), or on its own after the test command has installed .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
py=.venv/bin/python

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 600); do
    if (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "smoke: nothing listens on port $1 after 120 s" >&2
  return 1
}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "smoke: $1" >&2
  for log in "$work"/*.log; do echo "--- $log" >&2; tail -n 30 "$log" >&2; done
  exit 1
}

moto_port=$(free_port); kombo_port=$(free_port); learnamp_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" > "$work/moto.log" 2>&1 & pids+=($!)
# The same build as the tests' (a narrower one would resolve other features and rebuild).
cargo build --quiet --workspace --all-targets --locked
target/debug/personio-sync sandbox --employees 20 --kombo-port "$kombo_port" \
  --learnamp-port "$learnamp_port" > "$work/sandbox.log" 2>&1 & pids+=($!)
wait_port "$moto_port"; wait_port "$kombo_port"; wait_port "$learnamp_port"

export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_REGION=eu-central-1 AWS_DEFAULT_REGION=eu-central-1

# The stack as the template makes it: tables, queues, and the SecureString secrets the operator
# puts in SSM before deploying.
"$py" - > "$work/queues.env" <<'PY'
import os, boto3
endpoint = os.environ["AWS_ENDPOINT_URL"]
dynamo = boto3.client("dynamodb", endpoint_url=endpoint)
dynamo.create_table(TableName="state", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
dynamo.create_table(TableName="idempotency", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
sqs = boto3.client("sqs", endpoint_url=endpoint)
for name, var in [("sync-requests", "SYNC_REQUESTS_QUEUE_URL"), ("changes", "CHANGES_QUEUE_URL")]:
    print(f"export {var}={sqs.create_queue(QueueName=name)['QueueUrl']}")
ssm = boto3.client("ssm", endpoint_url=endpoint)
for name, value in [("/personio-sync/kombo-api-key", "sandbox-kombo-api-key"),
                    ("/personio-sync/kombo-webhook-secret", "local-kombo-webhook-secret")]:
    ssm.put_parameter(Name=name, Value=value, Type="SecureString")
PY
# shellcheck disable=SC1091
source "$work/queues.env"

# Two tenants on the sandbox's Learn Amp: the sandbox's own integration, and the one the sample
# events name.
for tenant in personio:sandbox-acme personio:CBNMt7dSNCzBdnRTx87dev4E; do
  LEARNAMP_CLIENT_SECRET=sandbox-client-secret target/debug/personio-sync tenants --table state \
    add --integration-id "$tenant" --learnamp-url "http://127.0.0.1:$learnamp_port" \
    --learnamp-client-id sandbox-client-id \
    --learnamp-client-secret-param "/personio-sync/tenants/${tenant#personio:}/learnamp-client-secret" \
    > /dev/null || fail "tenants add $tenant"
done

# One runtime API emulator per function, and the function's binary polling it.
serve() {
  local name=$1 port
  port=$(free_port)
  cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$port" \
    > "$work/watch-$name.log" 2>&1 & pids+=($!)
  wait_port "$port"
  env STATE_TABLE=state IDEMPOTENCY_TABLE=idempotency \
    SYNC_REQUESTS_QUEUE_URL="$SYNC_REQUESTS_QUEUE_URL" CHANGES_QUEUE_URL="$CHANGES_QUEUE_URL" \
    KOMBO_BASE_URL="http://127.0.0.1:$kombo_port/v1" \
    KOMBO_API_KEY_PARAM=/personio-sync/kombo-api-key \
    KOMBO_WEBHOOK_SECRET_PARAM=/personio-sync/kombo-webhook-secret \
    AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" \
    "target/debug/$name" > "$work/function-$name.log" 2>&1 & pids+=($!)
  eval "${name}_port=$port"
}
serve webhook
serve sync
invoke() { cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$1" "${@:2}"; }

started=$(date +%s)
invoke "$webhook_port" --data-file events/webhook-kombo-data-changed.json > "$work/webhook.out" \
  || fail "the webhook function did not answer"
"$py" - "$work/webhook.out" <<'PY' || fail "unexpected webhook response"
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

invoke "$sync_port" --data-ascii '{"tenant": "personio:sandbox-acme", "mode": "full", "dry_run": true}' \
  > "$work/sync.out" || fail "the sync function did not answer"
"$py" - "$work/sync.out" <<'PY' || fail "unexpected sync report"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["dry_run"] is True, report
assert report["counts"]["created"] > 0, report["counts"]
assert report["queued"] == 0, "a dry run queues nothing"
print(f"smoke: sync dry run -> {report['counts']['created']} would be created, nothing queued")
PY
echo "smoke: both function binaries answered under cargo lambda watch in $(( $(date +%s) - started )) s"
