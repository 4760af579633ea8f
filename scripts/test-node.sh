#!/bin/sh
# test-node.sh - installs, builds and tests the Node.js package (node/)
# against the real ggembed binary.
#
#   GGEMBED_BIN       the ggembed binary (default: build/ggembed of this repo)
#   GGEMBED_FIXTURES  directory of the vocab fixtures (default: ../shared/fixtures/vocab
#                     beside the repo; without it mkmodel's built-in vocabulary is used)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/node"

: "${GGEMBED_BIN:=../build/ggembed}"
: "${GGEMBED_FIXTURES:=../../shared/fixtures/vocab}"
export GGEMBED_BIN GGEMBED_FIXTURES

if [ ! -x "$GGEMBED_BIN" ]; then
    echo "test-node.sh: no ggembed binary at $GGEMBED_BIN (build it, or set GGEMBED_BIN)" >&2
    exit 1
fi

# `npm install` from the committed lock rather than `npm ci`: the registry
# reachable here lacks LanceDB's builds for other platforms (darwin, arm64,
# win32), so the lock cannot list them and `npm ci` refuses it; `npm install`
# installs exactly the locked versions and skips optional packages it cannot get.
npm install --no-save --no-audit --no-fund --loglevel=error
# format, lint (Biome) and the noUncheckedIndexedAccess check
npm run --silent lint
npm run --silent build
# one test file at a time: the tests start servers; keep a 2-core machine usable.
# A test that hangs fails after 10 minutes instead of holding the run.
node --test --test-concurrency=1 --test-timeout=600000 dist/test/
