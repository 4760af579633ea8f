#!/bin/sh
# test.sh - builds ggembed and runs every test: the C tests in a Release
# build and again under AddressSanitizer + UndefinedBehaviorSanitizer, the
# threaded ones (server, engine, thread pool) under ThreadSanitizer, the
# Windows build under wine, a bounded fuzzing run, the differential tests
# against llama.cpp (through node-llama-cpp, test-only), the Node.js
# package's tests, the packed npm packages installed in a clean room, and the
# Node.js package's tests with Windows Node under wine.
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
# Each step's output is kept, so that the end of the run can show again
# what a failed step printed last: a CI log is often read from its tail.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
nsteps=0
run() { # run NAME COMMAND...: runs a step, remembers a failure, goes on
    name=$1; shift
    step "$name"
    t0=$(date +%s)
    nsteps=$((nsteps + 1))
    log="$logs/$nsteps"
    { if "$@"; then rc=0; else rc=1; fi; echo "$rc" >"$log.rc"; } 2>&1 | tee "$log"
    if [ "$(cat "$log.rc")" = 0 ]; then
        result=ok
    else
        result=FAILED
        failed="$failed $name"
        printf '\n=== %s (last lines)\n' "$name" >>"$logs/failures"
        tail -n 60 "$log" >>"$logs/failures"
    fi
    echo "--- $name: $result ($(($(date +%s) - t0)) s)"
}

scripts/install-deps.sh

# The C sources as .clang-format has them (clang-format 14; scripts/format.sh
# rewrites them). Biome checks node/'s formatting in the Node.js step.
run "C formatting (clang-format)" scripts/format.sh --check

step "build (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
run "C tests (Release)" scripts/ctest.sh build -j"$jobs"

if [ -z "${FAST:-}" ]; then
    # clang warns about things gcc does not (and CI's -Werror makes them
    # errors): the whole tree is built with it too, and its fastest tests run.
    run "build with clang (Release)" sh -c "CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build build-clang -j$jobs &&
        scripts/ctest.sh build-clang -j$jobs -R '^(test_kernels_ref|test_proto|test_unicode|test_bpe)\$'"
    step "build (Debug, ASan + UBSan)"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGGEMBED_SANITIZE=ON >/dev/null
    cmake --build build-asan -j"$jobs"
    run "C tests (ASan + UBSan)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        scripts/ctest.sh build-asan -j"$jobs"
    # ThreadSanitizer: the tests with threads (the server as a child
    # process, the engine and its thread pool, the platform's locks); a
    # race or a lock misuse ends the process at once (halt_on_error).
    # Older TSan runtimes cannot map their shadow memory when the kernel
    # randomizes mmap with more than 28 bits ("unexpected memory mapping");
    # there the tests run with address randomization off (setarch -R).
    step "build (Debug, TSan)"
    tsan_tests='test_server_unix test_server_sched test_server_rerank test_server_stress test_engine test_threadpool test_platform'
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DGGEMBED_SANITIZE=thread >/dev/null
    # shellcheck disable=SC2086
    cmake --build build-tsan -j"$jobs" --target ggembed $tsan_tests
    tsan_run=""
    if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ] && setarch "$(uname -m)" -R true 2>/dev/null; then
        tsan_run="setarch $(uname -m) -R"
        echo "TSan: mmap_rnd_bits > 28, running with address randomization off (setarch -R)"
    fi
    # The stress test gets longer here: TSan slows the server several times.
    # shellcheck disable=SC2086
    run "C tests with threads (TSan)" env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        GGEMBED_STRESS_SECONDS="${TSAN_STRESS_SECONDS:-20}" \
        $tsan_run scripts/ctest.sh build-tsan -j"$jobs" \
        -R "^($(echo $tsan_tests | tr ' ' '|'))\$"
    run "Windows build under wine" scripts/test-windows.sh
    if [ -x scripts/fuzz.sh ]; then
        run "fuzzing (bounded)" scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
    fi
    if [ -x scripts/test-diff.sh ]; then
        run "differential tests against llama.cpp" scripts/test-diff.sh
    fi
    if [ -f node/package.json ]; then
        run "Node.js package" scripts/test-node.sh
        # the binaries of the builds above go into the platform packages
        run "npm packages: clean-room install" env LINUX_BUILD_DIR="$root/build" WIN_BUILD_DIR="$root/build-win" \
            scripts/test-pack.sh
        run "Node.js package under Windows Node (wine)" scripts/test-windows-node.sh
    fi
fi

if [ -n "${SLOW:-}" ]; then
    run "7B model: peak RssAnon under 50 MB (slow)" tests/slow/big_model_memory.sh build/ggembed
fi

if [ -n "$failed" ]; then
    cat "$logs/failures"
    printf '\nFAILED:%s\n' "$failed"
    exit 1
fi
printf '\nall test steps passed\n'
