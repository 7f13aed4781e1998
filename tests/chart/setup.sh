#!/usr/bin/env bash
# Installs what tests/chart.rs renders the summary's chart with: Debian's Chromium (headless)
# and the pinned Mermaid from the npm registry (package-lock.json), into tests/chart/node_modules.
# Prints the Chromium to use. Idempotent: quick once installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() { printf 'chart setup: %s\n' "$*" >&2; exit 1; }

chromium=${SFNDEPLOY_CHROMIUM:-}
# Debian's chromium; on a GitHub-hosted Ubuntu runner, the Google Chrome it has.
if [[ -z $chromium ]]; then
  chromium=$(command -v chromium || command -v google-chrome || command -v google-chrome-stable || true)
fi
if [[ -z $chromium ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
  printf 'chart setup: installing Debian chromium\n' >&2
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2; then
    "${sudo[@]}" apt-get update -qq >&2 || true
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 \
      || die "could not install Debian's chromium (apt-get install chromium); or point SFNDEPLOY_CHROMIUM at a Chromium"
  fi
  chromium=$(command -v chromium) || die "chromium is not on PATH after installing it"
fi

if [[ ! -f $here/node_modules/.installed ]] || [[ $here/package-lock.json -nt $here/node_modules/.installed ]]; then
  command -v npm >/dev/null || die "npm is needed to install mermaid (Node.js 18 or newer)"
  printf 'chart setup: installing mermaid from the npm registry\n' >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $here"
  touch "$here/node_modules/.installed"
fi
printf '%s\n' "$chromium"
