#!/bin/sh
# bench_table.sh - issue 12's performance table in one command: builds what
# it needs (ggembed now in build/, ggembed before the issue-12 work and
# llama.cpp's llama-embedding/llama-server in the bench cache, each only when
# missing), then runs bench/bench_table.mjs with the arguments given.
#
#   bench/bench_table.sh            # the whole table: ~15-20 min on a quiet 2-core machine
#   bench/bench_table.sh --quick    # a few minutes: checks the script, numbers indicative
#   bench/bench_table.sh --contention [--quick]   # item 4: quiet vs one busy loop, 5 rounds a side (~10 min)
#   bench/bench_table.sh --with-contention        # both, one after the other
#
# Needs scripts/setup-ref.sh (for llama.cpp's source bundle), cmake, a C and a
# C++ compiler, node >= 20, and the vocabulary fixtures (../shared/fixtures/vocab
# or GGEMBED_FIXTURES). See bench_table.mjs for the options.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/build/ggembed" ] || [ -n "$(find "$root/src" "$root/include" -newer "$root/build/ggembed" -name '*.[ch]' 2>/dev/null | head -1)" ]; then
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j "${JOBS:-2}" --target ggembed >/dev/null
fi
case " $* " in
  *" --no-llama "*|*" --llama "*) need_llama=no ;;
  *) need_llama=yes ;;
esac
[ "$need_llama" = no ] || "$root/bench/build-llama.sh" --print-dir >/dev/null 2>&1 || {
  "$root/scripts/setup-ref.sh"
  echo "bench_table.sh: building llama.cpp once (bench/build-llama.sh; about 10-15 min on a quiet 2-core machine)" >&2
  "$root/bench/build-llama.sh" >&2
}
exec node "$root/bench/bench_table.mjs" "$@"
