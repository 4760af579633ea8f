#!/bin/sh
# fuzz.sh [SECONDS] - builds every libFuzzer target (tests/fuzz/fuzz_*.c)
# with clang, seeds each corpus (with tests/fuzz/seeds_NAME.c when there
# is one, fed the vocabulary fixtures), and runs each target for SECONDS
# (default 60). Exits non-zero when any target finds a crash; the inputs
# that crashed are left as BUILD/crash-TARGET-*.
#
# Environment: GGEMBED_FUZZ_BUILD (default build-fuzz in the repository).
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GGEMBED_FUZZ_BUILD:-$root/build-fuzz}
fixtures="$root/../shared/fixtures/vocab"

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGGEMBED_FUZZ=ON -DGGEMBED_TESTS=OFF >/dev/null
cmake --build "$build" -j2

status=0
for src in "$root"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    short=${name#fuzz_}
    corpus="$build/corpus/$name"
    mkdir -p "$corpus"
    seeder="$build/tests/fuzz/seeds_$short"
    if [ -x "$seeder" ]; then
        set --
        for f in "$fixtures"/*.gguf; do [ -f "$f" ] && set -- "$@" "$f"; done
        "$seeder" "$corpus" "$@"
    fi
    echo "fuzz.sh: running $name for $secs s"
    if ! "$build/tests/fuzz/$name" -max_total_time="$secs" -print_final_stats=1 \
            -artifact_prefix="$build/crash-$name-" "$corpus"; then
        echo "fuzz.sh: $name FAILED (see $build/crash-$name-*)" >&2
        # the input itself, so a CI log alone is enough to reproduce it
        for f in "$build/crash-$name-"*; do
            [ -f "$f" ] || continue
            echo "fuzz.sh: $(basename "$f"), $(wc -c <"$f") bytes:" >&2
            od -A x -t x1 -v "$f" | head -n 256 >&2
        done
        status=1
    fi
done
exit $status
