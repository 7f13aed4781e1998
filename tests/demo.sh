#!/usr/bin/env bash
# Try sfndeploy without an AWS account: starts a local emulator, creates a sample state machine
# `orders` with alias `prod` and live traffic through it, then
#   1. deploys a new revision behind a pre-traffic hook (your integration tests would go there),
#      judged by its own executions: it passes;
#   2. deploys a revision whose executions fail: with no alarm at all, the health gate rolls it
#      back, prints the evidence, and --rerun-failed starts the failed orders again on the good
#      version.
# Each deploy first says what changed in the definition. Run from anywhere: bash tests/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet
sfndeploy=target/debug/sfndeploy
read -r pid port _ < <(bash tests/emulator.sh start)
py=$(bash tests/emulator.sh venv-python)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
traffic_pid=
cleanup() {
  if [[ -n $traffic_pid ]]; then kill "$traffic_pid" 2>/dev/null || true; fi
  bash tests/emulator.sh stop "$pid"
}
trap cleanup EXIT

# aws stepfunctions calls, via the emulator's own boto3.
aws() {
  "$py" - "$@" <<'PY'
import json, sys, time, itertools, boto3
sfn = boto3.client("stepfunctions", region_name="us-east-1")
arn = "arn:aws:states:us-east-1:000000000000:stateMachine:orders"
def definition(charge):
    return json.dumps({"StartAt": "Validate", "States": {
        "Validate": {"Type": "Pass", "Next": "Charge"},
        "Charge": charge}})
good = lambda text: definition({"Type": "Pass", "Result": text, "End": True})
what = sys.argv[1]
if what == "setup":
    sm = sfn.create_state_machine(name="orders", definition=good("charged (v1)"),
                                  roleArn="arn:aws:iam::000000000000:role/demo", publish=True)
    sfn.create_state_machine_alias(name="prod", routingConfiguration=[{"stateMachineVersionArn": sm["stateMachineVersionArn"], "weight": 100}])
elif what == "good":
    sfn.update_state_machine(stateMachineArn=arn, definition=good("charged (v2)"))
elif what == "bad":
    sfn.update_state_machine(stateMachineArn=arn, definition=definition(
        {"Type": "Fail", "Error": "CardDeclined", "Cause": "the new payment call sends the wrong currency"}))
elif what == "traffic":
    # An order through the alias every 100 ms, as callers would.
    for n in itertools.count(1):
        try:
            sfn.start_execution(stateMachineArn=arn + ":prod", input=json.dumps({"order": n}))
        except Exception:
            pass
        time.sleep(0.1)
PY
}

# Bold headings on a terminal; plain text in a file or a pipe.
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

say "Sample state machine 'orders' (v1), alias 'prod' at 100% on v1, an order every 100 ms through it"
aws setup
aws traffic &
traffic_pid=$!
"$sfndeploy" status --state-machine orders --alias prod

say "A new revision (v2): a pre-traffic hook first, then a canary of 25% for 4 s judged by v2's own executions"
aws good
"$sfndeploy" --state-machine orders --alias prod --publish-revision --strategy canary \
  --increment 25 --interval 4s --alarm-polling 1s --max-failure-rate 5 \
  --pre-traffic-hook 'echo "integration tests against $SFNDEPLOY_HOOK_NEW_VERSION"; sleep 1; echo "3 passed"'

say "Another revision (v3) whose Charge step fails; no alarm is watched, the gate judges v3's executions"
aws bad
set +e
"$sfndeploy" --state-machine orders --alias prod --publish-revision --strategy canary \
  --increment 25 --interval 20s --alarm-polling 1s --max-failure-rate 5 --rerun-failed
code=$?
set -e
say "Exit code $code (3 = rolled back): the alias is back on v2, and the failed orders ran again on it"
"$sfndeploy" status --state-machine orders --alias prod
