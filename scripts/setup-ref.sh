#!/bin/sh
# setup-ref.sh - installs the llama.cpp reference harness used by the
# differential tests (tests/ref: node-llama-cpp with its prebuilt linux-x64
# binaries, about 85 MB). Test-only: ggembed never depends on it.
#
# Lean: optional dependencies (the CUDA/Vulkan/other-platform prebuilt
# packages) are omitted and install scripts are not run (they would try to
# download or build llama.cpp); the one prebuilt package we need,
# @node-llama-cpp/linux-x64, is a direct dependency in tests/ref/package.json.
# `npm install` from the committed lock file rather than `npm ci`: the
# registry has no 3.22.x builds of some other-platform optional packages
# (win-*, mac-*, linux-riscv64), so the lock cannot list them and `npm ci`
# refuses it as out of sync; with --omit=optional they are never needed.
# Idempotent and fast: does nothing when the installed tree matches
# tests/ref/package-lock.json (a stamp holds the lock file's checksum).
#
# Usage: scripts/setup-ref.sh [--force]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
ref="$root/tests/ref"
stamp="$ref/node_modules/.ggembed-ref-stamp"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "setup-ref.sh: the reference harness supports Linux x86-64 only (found $(uname -s)-$(uname -m))" >&2; exit 1 ;;
esac

command -v node >/dev/null 2>&1 || { echo "setup-ref.sh: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "setup-ref.sh: npm is required" >&2; exit 1; }

want=$(cksum < "$ref/package-lock.json")
if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -f "$ref/node_modules/node-llama-cpp/package.json" ] \
   && [ -f "$ref/node_modules/@node-llama-cpp/linux-x64/package.json" ]; then
  exit 0
fi

cd "$ref"
rm -rf node_modules
npm install --omit=optional --ignore-scripts --no-save --no-audit --no-fund --loglevel=error

# A smoke check that the prebuilt binary loads, without a model.
node "$ref/smoke.mjs" >/dev/null \
  || { echo "setup-ref.sh: node-llama-cpp installed but its prebuilt binary does not load" >&2; exit 1; }
printf '%s\n' "$want" > "$stamp"
echo "setup-ref.sh: reference harness installed in tests/ref ($(du -sh node_modules | cut -f1))"
