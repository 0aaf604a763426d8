#!/usr/bin/env bash
# The whole deployment on this machine, until Ctrl-C: moto (DynamoDB, SQS, SSM), the Kombo and
# Learn Amp sandboxes, and the three function binaries under `cargo lambda watch`. It registers
# the sandbox's tenant and prints what to source to operate it as docs/RUNBOOK.md does:
#
#   ./infra/scripts/local-stack.sh            # in one shell (run ./infra/scripts/test.sh once first)
#   source .personio-sync/local-stack/env     # in another, then follow the runbook
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=infra/scripts/stack-lib.sh
source infra/scripts/stack-lib.sh
dir=.personio-sync/local-stack
rm -rf "$dir"
trap stack_stop EXIT
stack_start "$dir" "${EMPLOYEES:-40}"
LEARNAMP_CLIENT_SECRET=sandbox-client-secret target/debug/personio-sync tenants add \
  --integration-id personio:sandbox-acme --learnamp-url "$LEARNAMP_SANDBOX" \
  --learnamp-client-id sandbox-client-id \
  --learnamp-client-secret-param /personio-sync/tenants/sandbox-acme/learnamp-client-secret
# What the shell that operates the stack needs: the settings, and the stack's helpers.
cat >> "$dir/env" <<EOF
export STACK_DIR=$PWD/$dir
source $PWD/infra/scripts/stack-lib.sh
alias personio-sync=$PWD/target/debug/personio-sync
EOF
cat <<EOF

The local stack is up (tenant personio:sandbox-acme). In another shell:

  source $dir/env
  invoke sync --data-ascii '{"tenant": "personio:sandbox-acme", "mode": "full"}'   # Import all
  pump_changes                                                                    # what SQS does
  personio-sync status --tenant personio:sandbox-acme --changes-queue-url "\$CHANGES_QUEUE_URL"

Learn Amp users: curl -s $LEARNAMP_SANDBOX/_sandbox/state
Logs:            $dir/*.log
Press Ctrl-C to stop.
EOF
while true; do sleep 3600; done
