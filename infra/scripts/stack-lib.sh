# The local stack, for the smoke test, the runbook drill and operators trying things by hand:
# moto plays DynamoDB, SQS and SSM; `personio-sync sandbox` plays Kombo and Learn Amp; each
# function's binary (the one the tests built) runs under `cargo lambda watch --only-lambda-apis`,
# the Lambda runtime API emulator, as Lambda runs a bootstrap. Everything binds 127.0.0.1 on
# free ports. Source this file, then call stack_start; stack_stop (or the EXIT trap) ends it.
#
# What SQS does on AWS is done by hand here: `pump_changes` plays the changes queue's event
# source mapping (receive, invoke apply, delete what succeeded) and `pump_sync_requests` the
# sync-request queue's.

stack_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py=$stack_root/.venv/bin/python
export PATH="$stack_root/.venv/bin:$PATH"
stack_pids=()

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() {
  for _ in $(seq 1 600); do
    if (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "stack: nothing listens on port $1 after 120 s" >&2
  return 1
}

stack_stop() {
  # Function binaries restarted from another shell are known by their pid files only.
  for file in "$STACK_DIR"/function-*.pid; do
    [ -f "$file" ] && kill "$(cat "$file")" 2>/dev/null || true
  done
  for pid in "${stack_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

stack_fail() {
  echo "stack: $1" >&2
  for log in "$STACK_DIR"/*.log; do echo "--- $log" >&2; tail -n 30 "$log" >&2; done
  exit 1
}

# stack_start DIR [EMPLOYEES]: everything up, its settings exported and written to DIR/env.
stack_start() {
  STACK_DIR=$1
  local employees=${2:-20}
  mkdir -p "$STACK_DIR"
  local moto_port kombo_port learnamp_port
  moto_port=$(free_port); kombo_port=$(free_port); learnamp_port=$(free_port)
  moto_server -H 127.0.0.1 -p "$moto_port" > "$STACK_DIR/moto.log" 2>&1 & stack_pids+=($!)
  # The same build as the tests' (a narrower one would resolve other features and rebuild).
  (cd "$stack_root" && cargo build --quiet --workspace --all-targets --locked)
  "$stack_root/target/debug/personio-sync" sandbox --employees "$employees" --kombo-port "$kombo_port" \
    --learnamp-port "$learnamp_port" > "$STACK_DIR/sandbox.log" 2>&1 & stack_pids+=($!)
  wait_port "$moto_port"; wait_port "$kombo_port"; wait_port "$learnamp_port"

  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test AWS_REGION=eu-central-1 AWS_DEFAULT_REGION=eu-central-1
  export KOMBO_SANDBOX="http://127.0.0.1:$kombo_port" LEARNAMP_SANDBOX="http://127.0.0.1:$learnamp_port"
  export STATE_TABLE=state IDEMPOTENCY_TABLE=idempotency
  export KOMBO_WEBHOOK_SECRET_PARAM=/personio-sync/kombo-webhook-secret
  # The stack's resources: the tables, the queues and their dead-letter queues (without the
  # redrive: nothing here redelivers, `pump` plays that part), and the SecureString secrets an
  # operator puts in SSM before deploying.
  "$py" - > "$STACK_DIR/queues.env" <<'PY'
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
for name, var in [("sync-requests", "SYNC_REQUESTS_QUEUE_URL"), ("sync-requests-dlq", "SYNC_REQUESTS_DLQ_URL"),
                  ("changes", "CHANGES_QUEUE_URL"), ("changes-dlq", "CHANGES_DLQ_URL")]:
    print(f"export {var}={sqs.create_queue(QueueName=name)['QueueUrl']}")
ssm = boto3.client("ssm", endpoint_url=endpoint)
for name, value in [("/personio-sync/kombo-api-key", "sandbox-kombo-api-key"),
                    ("/personio-sync/kombo-webhook-secret", "local-kombo-webhook-secret")]:
    ssm.put_parameter(Name=name, Value=value, Type="SecureString")
PY
  # shellcheck disable=SC1091
  source "$STACK_DIR/queues.env"
  serve_function webhook
  serve_function sync
  serve_function apply
  env | grep -E '^(AWS_ENDPOINT_URL|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_REGION|AWS_DEFAULT_REGION|KOMBO_SANDBOX|LEARNAMP_SANDBOX|STATE_TABLE|IDEMPOTENCY_TABLE|SYNC_REQUESTS_QUEUE_URL|SYNC_REQUESTS_DLQ_URL|CHANGES_QUEUE_URL|CHANGES_DLQ_URL|FUNCTION_PORT_[A-Z]+)=' \
    | sed 's/^/export /' > "$STACK_DIR/env"
}

# serve_function NAME: the runtime API emulator on a port of its own, and the binary polling it.
serve_function() {
  local name=$1 port var
  var="FUNCTION_PORT_$(echo "$name" | tr '[:lower:]' '[:upper:]')"
  port=${!var:-}
  if [ -z "$port" ]; then
    port=$(free_port)
    cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$port" \
      > "$STACK_DIR/watch-$name.log" 2>&1 & stack_pids+=($!)
    wait_port "$port"
    export "$var=$port"
  fi
  env STATE_TABLE="$STATE_TABLE" IDEMPOTENCY_TABLE="$IDEMPOTENCY_TABLE" \
    SYNC_REQUESTS_QUEUE_URL="$SYNC_REQUESTS_QUEUE_URL" CHANGES_QUEUE_URL="$CHANGES_QUEUE_URL" \
    KOMBO_BASE_URL="$KOMBO_SANDBOX/v1" KOMBO_API_KEY_PARAM=/personio-sync/kombo-api-key \
    KOMBO_WEBHOOK_SECRET_PARAM="$KOMBO_WEBHOOK_SECRET_PARAM" CHANGES_MAX_DELAY_SECONDS=0 \
    AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" \
    "$stack_root/target/debug/$name" >> "$STACK_DIR/function-$name.log" 2>&1 & stack_pids+=($!)
  # In a file, so that a restart from another shell (sourcing the env file) finds it.
  echo $! > "$STACK_DIR/function-$name.pid"
}

# restart_function NAME: a cold start, as Lambda makes after a configuration change.
restart_function() {
  local pid
  pid=$(cat "$STACK_DIR/function-$1.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fi
  serve_function "$1"
}

# invoke NAME cargo-lambda-invoke-args...: the function's answer on stdout.
invoke() {
  local var
  var="FUNCTION_PORT_$(echo "$1" | tr '[:lower:]' '[:upper:]')"
  cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "${!var}" "${@:2}"
}

# pump QUEUE_URL FUNCTION: what the event source mapping does, until the queue is empty.
pump() {
  local batch="$STACK_DIR/batch.json" answer="$STACK_DIR/answer.json" handed_back=0
  local received
  for _ in $(seq 1 50); do
    received=0
    "$py" - "$1" "$batch" <<'PY' || received=$?
import json, os, sys, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
out = sqs.receive_message(QueueUrl=sys.argv[1], MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0)
messages = out.get("Messages", [])
if not messages:
    sys.exit(3)
records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-central-1:000000000000:local",
            "awsRegion": "eu-central-1"} for m in messages]
json.dump({"Records": records}, open(sys.argv[2], "w"))
PY
    [ "$received" = 3 ] && return 0 # the queue is empty
    [ "$received" = 0 ] || stack_fail "cannot receive from $1"
    invoke "$2" --data-file "$batch" > "$answer" || stack_fail "$2 did not answer"
    handed_back=$("$py" - "$1" "$batch" "$answer" <<'PY'
import json, os, sys, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
batch, answer = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
for r in batch["Records"]:
    if r["messageId"] in failed:
        sqs.change_message_visibility(QueueUrl=sys.argv[1], ReceiptHandle=r["receiptHandle"], VisibilityTimeout=0)
    else:
        sqs.delete_message(QueueUrl=sys.argv[1], ReceiptHandle=r["receiptHandle"])
print(len(failed))
PY
)
  done
  echo "stack: $1 still not empty after 50 batches ($handed_back handed back)" >&2
  return 1
}
pump_changes() { pump "$CHANGES_QUEUE_URL" apply; }
pump_sync_requests() { pump "$SYNC_REQUESTS_QUEUE_URL" sync; }

# sign BODY [SECRET]: Kombo's X-Kombo-Signature of BODY.
sign() {
  "$py" -c 'import base64, hashlib, hmac, sys; print(base64.urlsafe_b64encode(hmac.new(sys.argv[2].encode(), sys.argv[1].encode(), hashlib.sha256).digest()).rstrip(b"=").decode())' "$1" "${2:-local-kombo-webhook-secret}"
}

# kombo_webhook EVENT_ID TENANT SECRET: a Function URL request of a signed data-changed event.
kombo_webhook_event() {
  local body
  body=$(printf '{"id":"%s","type":"data-changed","data":{"integration_id":"%s","integration_tool":"personio","integration_category":"HRIS","changed_models":[{"name":"hris_employees"}]}}' "$1" "$2")
  "$py" -c 'import json, sys; print(json.dumps({"version": "2.0", "rawPath": "/webhooks/kombo", "rawQueryString": "", "headers": {"content-type": "application/json", "x-kombo-signature": sys.argv[2]}, "requestContext": {"http": {"method": "POST", "path": "/webhooks/kombo", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"}, "timeEpoch": 0}, "body": sys.argv[1], "isBase64Encoded": False}))' "$body" "$(sign "$body" "$3")"
}
