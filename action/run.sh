#!/usr/bin/env bash
# Runs sfndeploy for the GitHub Action: each INPUT_* variable (set by action.yml from its input)
# becomes its flag; the exit code is sfndeploy's. sfndeploy writes the step outputs itself.
set -euo pipefail

args=()
value() { # INPUT_X --flag: --flag=VALUE, so that a value beginning with - stays a value
  if [[ -n ${!1:-} ]]; then args+=("$2=${!1}"); fi
}
lines() { # INPUT_X --flag: --flag=LINE for each non-blank line (a release of several)
  local line
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    if [[ -n $line ]]; then args+=("$2=$line"); fi
  done <<<"${!1:-}"
}
switch() { # INPUT_X --flag: true gives --flag, false gives --no-flag where there is one
  local v=${!1:-}
  case ${v,,} in
    '') ;;
    true | yes | 1) args+=("$2") ;;
    false | no | 0) if [[ -n ${3:-} ]]; then args+=("$3"); fi ;;
    *) echo "::error title=sfndeploy::input ${1#INPUT_} must be true or false, not '$v'" >&2; exit 2 ;;
  esac
}

alarms() { # INPUT_ALARMS: --alarms NAME... (one name per line: each may contain spaces)
  local names=() name
  while IFS= read -r name; do
    name=${name#"${name%%[![:space:]]*}"}
    name=${name%"${name##*[![:space:]]}"}
    if [[ -n $name ]]; then names+=("$name"); fi
  done <<<"${INPUT_ALARMS:-}"
  if ((${#names[@]})); then args+=(--alarms "${names[@]}"); fi
}
extra() { # INPUT_ARGS: any other flags, split on blanks and line breaks (`args: |` may take several lines)
  if [[ -n ${INPUT_ARGS:-} ]]; then
    local words=()
    read -r -d '' -a words <<<"$INPUT_ARGS" || true
    args+=("${words[@]}")
  fi
}

command=${INPUT_COMMAND:-deploy}
case $command in
  promote | rollback)
    # Only the inputs these take; one of the deploy's would be silently ignored: refuse it.
    for input in STRATEGY INCREMENT INTERVAL STEPS BAKE ALARM_POLLING MAX_UNMONITORED MAX_FAILURE_RATE \
      MAX_FAILURE_RATE_INCREASE MAX_DURATION_INCREASE CONFIDENCE MIN_EXECUTIONS MAX_EXTENSION FILE \
      SUBSTITUTION PRE_TRAFFIC_HOOK POST_TRAFFIC_HOOK HOOK_TIMEOUT RERUN_FAILED RERUN_ABORTED RERUN_MAX \
      PUBLISH_REVISION VERSION_DESCRIPTION HISTORY_MAX PAUSE_AT RESUME ON_INCONCLUSIVE GATE_MODE \
      ALLOW_FIRING WINDOW FREEZE WINDOW_WAIT NOTIFY_TOPIC WAVE_BAKE BLOCKER_WAIT ON_WAVE_FAILURE \
      STOP_AFTER_WAVE; do
      var=INPUT_$input
      if [[ -n ${!var:-} ]]; then
        echo "::error title=sfndeploy::input ${input,,} does not apply to command $command" | tr _ - >&2
        exit 2
      fi
    done
    args=("$command")
    value INPUT_CONFIG --config
    lines INPUT_STATE_MACHINE --state-machine
    value INPUT_ALIAS --alias
    lines INPUT_WAVE --wave
    if [[ $command == promote ]]; then
      alarms
      switch INPUT_FORCE --force
    elif [[ -n ${INPUT_ALARMS:-}${INPUT_FORCE:-} ]]; then
      echo "::error title=sfndeploy::inputs alarms and force do not apply to command rollback" >&2
      exit 2
    fi
    switch INPUT_DRY_RUN --dry-run
    value INPUT_OUTPUT --output
    value INPUT_REGION --region
    extra
    exec "${SFNDEPLOY_BIN:-sfndeploy}" "${args[@]}"
    ;;
  deploy) ;;
  *)
    echo "::error title=sfndeploy::input command must be deploy, promote or rollback, not '$command'" >&2
    exit 2
    ;;
esac

value INPUT_CONFIG --config
lines INPUT_STATE_MACHINE --state-machine
value INPUT_ALIAS --alias
value INPUT_STRATEGY --strategy
value INPUT_STEPS --steps
value INPUT_INCREMENT --increment
value INPUT_INTERVAL --interval
value INPUT_BAKE --bake
value INPUT_ALARM_POLLING --alarm-polling
value INPUT_MAX_UNMONITORED --max-unmonitored
value INPUT_MAX_FAILURE_RATE --max-failure-rate
value INPUT_MAX_FAILURE_RATE_INCREASE --max-failure-rate-increase
value INPUT_MAX_DURATION_INCREASE --max-duration-increase
value INPUT_CONFIDENCE --confidence
value INPUT_MIN_EXECUTIONS --min-executions
value INPUT_MAX_EXTENSION --max-extension
lines INPUT_FILE --file
lines INPUT_SUBSTITUTION --substitution
value INPUT_PRE_TRAFFIC_HOOK --pre-traffic-hook
value INPUT_POST_TRAFFIC_HOOK --post-traffic-hook
value INPUT_HOOK_TIMEOUT --hook-timeout
switch INPUT_RERUN_FAILED --rerun-failed
switch INPUT_RERUN_ABORTED --rerun-aborted
value INPUT_RERUN_MAX --rerun-max
switch INPUT_PUBLISH_REVISION --publish-revision --no-publish-revision
value INPUT_VERSION_DESCRIPTION --version-description
value INPUT_HISTORY_MAX --history-max
value INPUT_PAUSE_AT --pause-at
switch INPUT_RESUME --resume
switch INPUT_FORCE --force --no-force
value INPUT_ON_INCONCLUSIVE --on-inconclusive
value INPUT_GATE_MODE --gate-mode
lines INPUT_ALLOW_FIRING --allow-firing
lines INPUT_WINDOW --window
lines INPUT_FREEZE --freeze
switch INPUT_WINDOW_WAIT --window-wait
lines INPUT_NOTIFY_TOPIC --notify-topic
lines INPUT_WAVE --wave
value INPUT_WAVE_BAKE --wave-bake
value INPUT_BLOCKER_WAIT --blocker-wait
value INPUT_ON_WAVE_FAILURE --on-wave-failure
value INPUT_STOP_AFTER_WAVE --stop-after-wave
switch INPUT_DRY_RUN --dry-run
value INPUT_OUTPUT --output
value INPUT_REGION --region
alarms
extra

exec "${SFNDEPLOY_BIN:-sfndeploy}" "${args[@]}"
