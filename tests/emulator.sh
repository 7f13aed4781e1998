#!/usr/bin/env bash
# Installs, starts and stops LocalStack (Step Functions, CloudWatch, STS, SNS, SQS) on loopback for
# sfndeploy's end-to-end tests and demo.
#
#   tests/emulator.sh install          install the pinned LocalStack into the cache folder
#   tests/emulator.sh start [PORT]     start it (free loopback port unless PORT), print "PID PORT STATE_DIR"
#   tests/emulator.sh stop PID         stop what `start` started
#   tests/emulator.sh stop-all         stop every emulator started from this cache folder
#   tests/emulator.sh venv-python      print the emulator venv's Python (it has boto3)
#
# Cache folder: $SFNDEPLOY_EMULATOR_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/sfndeploy-emulator.
# With SFNDEPLOY_EMULATOR_IDLE=SECONDS, `start` also leaves a watchdog that stops the emulator
# once the file "$STATE/last-used" (touched by the tests) is older than that.
set -euo pipefail

LOCALSTACK_VERSION=2026.3.0
# Dependencies resolved as of the release date: newer cbor2 / pyOpenSSL break its imports.
EXCLUDE_NEWER=2026-03-25
CACHE=${SFNDEPLOY_EMULATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sfndeploy-emulator}
VENV=$CACHE/localstack-$LOCALSTACK_VERSION

die() { printf 'emulator: %s\n' "$*" >&2; exit 1; }
log() { printf 'emulator: %s\n' "$*" >&2; }

# Prints the path of a real Python >= 3.13 interpreter (LocalStack imports warnings.deprecated) (pyenv shims resolved), or fails.
find_python() {
  local candidates=() c exe
  [[ -n ${SFNDEPLOY_PYTHON:-} ]] && candidates+=("$SFNDEPLOY_PYTHON")
  for c in python3.15 python3.14 python3.13 python3; do
    command -v "$c" >/dev/null 2>&1 && candidates+=("$(command -v "$c")")
  done
  local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  command -v pyenv >/dev/null 2>&1 && pyenv_root=$(pyenv root)
  for c in "$pyenv_root"/versions/3.1[3-9]*/bin/python3; do
    [[ -x $c ]] && candidates+=("$c")
  done
  for c in /usr/bin/python3.1[3-9] /usr/local/bin/python3.1[3-9]; do
    [[ -x $c ]] && candidates+=("$c")
  done
  for c in "${candidates[@]}"; do
    # A pyenv shim for an unselected version fails here, which rules it out.
    exe=$("$c" -c 'import sys; assert sys.version_info >= (3, 13); print(sys.executable)' 2>/dev/null) || continue
    [[ -x $exe ]] && { printf '%s\n' "$exe"; return 0; }
  done
  return 1
}

install() {
  [[ -f $VENV/.installed ]] && return 0
  local py uv
  py=$(find_python) || die "LocalStack needs Python 3.13 or newer and none was found. Install one (e.g. 'pyenv install 3.13' or 'uv python install 3.13'), or point SFNDEPLOY_PYTHON at it."
  mkdir -p "$CACHE"
  if command -v uv >/dev/null 2>&1; then
    uv=$(command -v uv)
  else
    uv=$CACHE/tools/bin/uv
    if [[ ! -x $uv ]]; then
      log "installing uv into $CACHE/tools"
      "$py" -m venv "$CACHE/tools" >&2 || die "could not create a venv with $py (install its venv module)"
      "$CACHE/tools/bin/python" -m pip install --quiet --disable-pip-version-check uv >&2 \
        || die "could not install uv from PyPI with pip"
    fi
  fi
  log "installing localstack-core $LOCALSTACK_VERSION with $py into $VENV"
  rm -rf "$VENV"
  "$uv" venv --quiet -p "$py" "$VENV" >&2 || die "uv could not create a venv with $py"
  VIRTUAL_ENV=$VENV "$uv" pip install --quiet --exclude-newer "$EXCLUDE_NEWER" \
    "localstack-core[runtime]==$LOCALSTACK_VERSION" >&2 \
    || { rm -rf "$VENV"; die "installing localstack-core $LOCALSTACK_VERSION from PyPI failed (see above)"; }
  touch "$VENV/.installed"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

healthy() {
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_localstack/health", timeout=2) as r:
    services = json.load(r)["services"]
assert all(services.get(s) in ("available", "running") for s in ("stepfunctions", "cloudwatch", "sts", "sns", "sqs"))
PY
}

start() {
  install
  local port=${1:-$(free_port)} state pid i
  state=$CACHE/run-$port
  # Each emulator keeps to its own folders: LocalStack empties $TMPDIR/localstack (where its
  # CloudWatch metrics live) on every start and stop, and plux caches its plugin index under
  # $XDG_CACHE_HOME; a stale index there (from an earlier install) makes start-up fail. Ours
  # are fresh per start, and nothing outside this cache folder is touched.
  rm -rf "$state/tmp" "$state/cache"
  mkdir -p "$state/tmp" "$state/cache"
  (
    cd "$state"
    export TMPDIR=$state/tmp XDG_CACHE_HOME=$state/cache
    # The default (twisted) gateway listens on 0.0.0.0 whatever GATEWAY_LISTEN says; hypercorn
    # listens on the loopback address given.
    export GATEWAY_SERVER=hypercorn
    export SERVICES=stepfunctions,cloudwatch,sts,sns,sqs GATEWAY_LISTEN=127.0.0.1:$port DNS_ADDRESS=0
    export LOCALSTACK_VOLUME_DIR=$state/volume SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1
    exec setsid "$VENV/bin/python" -m localstack.runtime.main >"$state/localstack.log" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$state/pid"
  for ((i = 0; i < 240; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$state/localstack.log" >&2 || true
      die "LocalStack exited during start-up (log: $state/localstack.log)"
    fi
    if healthy "$port"; then
      if [[ -n ${SFNDEPLOY_EMULATOR_IDLE:-} ]]; then
        touch "$state/last-used"
        watchdog "$pid" "$state/last-used" "$SFNDEPLOY_EMULATOR_IDLE" &
        disown
      fi
      printf '%s %s %s\n' "$pid" "$port" "$state"
      return 0
    fi
    sleep 0.25
  done
  kill "$pid" 2>/dev/null || true
  die "LocalStack did not answer on 127.0.0.1:$port within 60 s (log: $state/localstack.log)"
}

# Stops the emulator once nobody has used it for IDLE seconds.
watchdog() {
  local pid=$1 stamp=$2 idle=$3 age
  exec </dev/null >/dev/null 2>&1
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    age=$(($(date +%s) - $(stat -c %Y "$stamp" 2>/dev/null || echo 0)))
    if ((age > idle)); then stop "$pid"; return 0; fi
  done
}

stop() {
  local pid=${1:?usage: emulator.sh stop PID} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_all() {
  local f
  for f in "$CACHE"/run-*/pid; do
    [[ -f $f ]] && stop "$(cat "$f")"
    rm -f "$f"
  done
}

case ${1:-} in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  stop-all) stop_all ;;
  python) find_python ;;
  venv-python) install && printf '%s\n' "$VENV/bin/python" ;;
  *) die "usage: $0 install | start [PORT] | stop PID | stop-all" ;;
esac
