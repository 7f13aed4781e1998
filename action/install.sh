#!/usr/bin/env bash
# Installs sfndeploy for the GitHub Action.
#   install.sh         the release binary for this runner when SFNDEPLOY_REF is a release tag
#                      of SFNDEPLOY_REPOSITORY that has one (its SHA-256 checked); otherwise says
#                      build=true, with the folder and cache key for a build from source
#   install.sh build   cargo install --locked from the action's own checkout into SFNDEPLOY_ROOT
#                      (restored from the cache when it was built before)
# Step outputs: bin (the binary), build, root, cache-key.
set -euo pipefail

out() { echo "$1=$2" >>"${GITHUB_OUTPUT:-/dev/null}"; }

if [[ ${1:-} == build ]]; then
  if [[ ! -x $SFNDEPLOY_ROOT/bin/sfndeploy && ! -x $SFNDEPLOY_ROOT/bin/sfndeploy.exe ]]; then
    cargo install --locked --path "$GITHUB_ACTION_PATH" --root "$SFNDEPLOY_ROOT"
  fi
  exit 0
fi

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) target= ;;
esac
ext=
if [[ ${RUNNER_OS:-} == Windows ]]; then ext=.exe; fi
ref=${SFNDEPLOY_REF:-}
dir=${RUNNER_TEMP:-/tmp}/sfndeploy

if [[ -n $target && $ref == v[0-9]* ]]; then
  name=sfndeploy-$ref-$target.tar.gz
  url=https://github.com/$SFNDEPLOY_REPOSITORY/releases/download/$ref/$name
  mkdir -p "$dir/bin"
  if curl -fsSL --retry 3 -o "$dir/$name" "$url" && curl -fsSL --retry 3 -o "$dir/$name.sha256" "$url.sha256"; then
    expected=$(cut -d' ' -f1 <"$dir/$name.sha256")
    if command -v sha256sum >/dev/null; then
      actual=$(sha256sum "$dir/$name" | cut -d' ' -f1)
    else
      actual=$(shasum -a 256 "$dir/$name" | cut -d' ' -f1)
    fi
    if [[ $expected != "$actual" ]]; then
      echo "::error title=sfndeploy::$name does not match its SHA-256 file" >&2
      exit 1
    fi
    tar -xzf "$dir/$name" -C "$dir/bin"
    out bin "$dir/bin/sfndeploy$ext"
    out build false
    exit 0
  fi
  echo "sfndeploy $ref has no release binary for $target: building it from source" >&2
fi

root=${HOME}/.cache/sfndeploy-action/${ref:-source}
# The key changes with any source, so a branch ref never gets a stale build.
sum=$(find "$GITHUB_ACTION_PATH/src" "$GITHUB_ACTION_PATH/Cargo.lock" "$GITHUB_ACTION_PATH/Cargo.toml" -type f |
  LC_ALL=C sort | xargs cat | cksum | cut -d' ' -f1)
key=sfndeploy-${RUNNER_OS:-os}-${RUNNER_ARCH:-arch}-${ref:-source}-$sum
out build true
out root "$root"
out cache-key "$key"
out bin "$root/bin/sfndeploy$ext"
