#!/usr/bin/env bash
# Runs the benchmark (tests/bench.rs) against the LocalStack emulator with a release build:
#   bash tests/bench.sh [--json PATH] [--quick] [--only gates|release|memory]
# Prints one table and writes the same figures, with the machine, commit and date, as JSON
# (default: target/bench.json). --quick prunes at 10/s instead of the default 1/s.
# --only gates runs just the health-gate reaction, --only release a release of 10 state
# machines against one deploy (printed, no JSON), --only memory a gate's memory at 500
# executions a second for an hour (no emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
json=target/bench.json
test=benchmark
while (($#)); do
  case $1 in
    --json) json=$2; shift 2 ;;
    --quick) export SFNDEPLOY_BENCH_QUICK=1; shift ;;
    --only)
      case ${2:-} in
        gates) test=gate_benchmark ;;
        release) test=release_benchmark ;;
        memory) test=memory_benchmark ;;
        *) echo "$0: --only takes: gates, release, memory" >&2; exit 2 ;;
      esac
      shift 2 ;;
    *) echo "usage: $0 [--json PATH] [--quick] [--only gates|release|memory]" >&2; exit 2 ;;
  esac
done
mkdir -p "$(dirname "$json")"
SFNDEPLOY_BENCH_JSON=$(realpath -m "$json") \
  cargo test --release --test bench -- --ignored --nocapture --test-threads 1 --exact "$test"
