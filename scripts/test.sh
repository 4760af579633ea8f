#!/bin/sh
# test.sh - builds ggembed and runs every test: the C tests in a Release
# build and again under AddressSanitizer + UndefinedBehaviorSanitizer, the
# Windows build under wine, a bounded fuzzing run, the differential tests
# against llama.cpp (through node-llama-cpp, test-only) and the Node.js
# package's tests.
#
#   scripts/test.sh            everything (installs missing packages first)
#   FAST=1 scripts/test.sh     the Release C tests only
#   SLOW=1 scripts/test.sh     also the long checks (7B memory bound, long fuzzing)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-2}
failed=""

step() { printf '\n=== %s\n' "$*"; }
run() { # run NAME COMMAND...: runs a step, remembers a failure, goes on
    name=$1; shift
    step "$name"
    if "$@"; then echo "--- $name: ok"; else echo "--- $name: FAILED"; failed="$failed $name"; fi
}

scripts/install-deps.sh

step "build (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
run "C tests (Release)" ctest --test-dir build --output-on-failure -j"$jobs"

if [ -z "${FAST:-}" ]; then
    step "build (Debug, ASan + UBSan)"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGGEMBED_SANITIZE=ON >/dev/null
    cmake --build build-asan -j"$jobs"
    run "C tests (ASan + UBSan)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure -j"$jobs"
    run "Windows build under wine" scripts/test-windows.sh
    if [ -x scripts/fuzz.sh ]; then
        run "fuzzing (bounded)" scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
    fi
    if [ -x scripts/test-diff.sh ]; then
        run "differential tests against llama.cpp" scripts/test-diff.sh
    fi
    if [ -f node/package.json ]; then
        run "Node.js package" scripts/test-node.sh
    fi
fi

if [ -n "${SLOW:-}" ]; then
    run "7B model: peak RssAnon under 50 MB (slow)" tests/slow/big_model_memory.sh build/ggembed
fi

if [ -n "$failed" ]; then
    printf '\nFAILED:%s\n' "$failed"
    exit 1
fi
printf '\nall test steps passed\n'
