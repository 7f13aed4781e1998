#!/usr/bin/env bash
# Try sfndeploy without an AWS account: starts a local emulator, creates a sample state
# machine `orders` with alias `prod` and alarm `orders-errors`, runs a canary deploy that
# succeeds, then one that the alarm rolls back. Run from anywhere: bash tests/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet
sfndeploy=target/debug/sfndeploy
read -r pid port _ < <(bash tests/emulator.sh start)
trap 'bash tests/emulator.sh stop "$pid"' EXIT
py=$(bash tests/emulator.sh venv-python)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo

# aws stepfunctions / cloudwatch calls, via the emulator's own boto3.
aws() {
  "$py" - "$@" <<'PY'
import json, sys, boto3
sfn, cw = (boto3.client(s, region_name="us-east-1") for s in ("stepfunctions", "cloudwatch"))
arn = "arn:aws:states:us-east-1:000000000000:stateMachine:orders"
definition = lambda text: json.dumps({"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": text, "End": True}}})
what = sys.argv[1]
if what == "setup":
    sm = sfn.create_state_machine(name="orders", definition=definition("v1"), roleArn="arn:aws:iam::000000000000:role/demo", publish=True)
    sfn.create_state_machine_alias(name="prod", routingConfiguration=[{"stateMachineVersionArn": sm["stateMachineVersionArn"], "weight": 100}])
    cw.put_metric_alarm(AlarmName="orders-errors", Namespace="AWS/States", MetricName="ExecutionsFailed", Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.set_alarm_state(AlarmName="orders-errors", StateValue="OK", StateReason="demo")
elif what == "revision":
    sfn.update_state_machine(stateMachineArn=arn, definition=definition(sys.argv[2]))
elif what == "alarm":
    cw.set_alarm_state(AlarmName="orders-errors", StateValue=sys.argv[2], StateReason="demo")
PY
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Sample state machine 'orders' (v1), alias 'prod' at 100% on v1, alarm 'orders-errors' OK"
aws setup
"$sfndeploy" status --state-machine orders --alias prod --alarms orders-errors

say "Canary deploy of a new revision: 20% for 4 s, then 100% for 4 s, watching the alarm"
aws revision "hello from v2"
"$sfndeploy" --state-machine orders --alias prod --publish-revision --strategy canary \
  --increment 20 --interval 4s --alarm-polling 1s --alarms orders-errors

say "Another revision; this time the alarm goes off 3 s into the canary"
aws revision "hello from v3"
(sleep 3 && aws alarm ALARM) &
set +e
"$sfndeploy" --state-machine orders --alias prod --publish-revision --strategy canary \
  --increment 20 --interval 10s --alarm-polling 1s --alarms orders-errors
code=$?
set -e
wait
say "Exit code $code (3 = rolled back); the alias is back on v2:"
"$sfndeploy" status --state-machine orders --alias prod --alarms orders-errors
