#!/usr/bin/env bash
# What `npm start` and `npm test` run first: on a fresh Debian machine with Node.js 20,
# install what is missing (system packages through apt when root, the pinned pnpm, the
# dependencies), then build. Quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'slipway setup: %s\n' "$*" >&2; }

# System packages: command → Debian package. The tests also drive a real browser, and fail a
# Redis over under Debian's redis-sentinel.
declare -A package_for=([git]=git [redis-server]=redis-server [packer]=packer)
if [ "${1:-}" = --tests ]; then package_for[chromium]=chromium; package_for[redis-sentinel]=redis-sentinel; fi
missing=()
for command in "${!package_for[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_for[$command]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Slipway needs the Debian package(s) ${missing[*]}: install them (sudo apt-get install ${missing[*]}) and run again." >&2
    exit 1
  fi
fi

# The tests emulate AWS with moto's server (a third-party AWS emulator, a Python package).
if [ "${1:-}" = --tests ] && ! python3 -c 'import moto.server' >/dev/null 2>&1; then
  if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    say "installing moto's server with pip (pip install 'moto[server]')"
    python3 -m pip install --quiet --timeout 20 --retries 1 'moto[server]' >/dev/null 2>&1 || true
  fi
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    echo "Slipway's tests need moto's server (an AWS emulator): install it with pip install 'moto[server]' (Python 3) and run again." >&2
    exit 1
  fi
fi

# pnpm, the version package.json pins.
pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  say "installing pnpm $pnpm_version"
  if ! npm install --global --silent "pnpm@$pnpm_version" >/dev/null 2>&1; then
    npm install --global --silent --prefix "$HOME/.local" "pnpm@$pnpm_version" >/dev/null
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi

# Dependencies, exactly as locked; then the build (incremental: fast when nothing changed).
if [ -n "${CI:-}" ]; then frozen=--frozen-lockfile; else frozen=--prefer-frozen-lockfile; fi
pnpm install "$frozen" --reporter=silent
pnpm exec tsc -b
node packages/cli/build.mjs
