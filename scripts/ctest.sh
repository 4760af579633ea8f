#!/bin/sh
# ctest.sh - runs a build directory's tests with ctest and, when some fail,
# prints again at the end the last lines each failed test printed.
#
#   scripts/ctest.sh BUILD_DIR [ctest arguments...]      e.g. -j2 -R '^test_engine$'
#   scripts/ctest.sh --show-failed BUILD_DIR              only the reprint, of the last run
#   CTEST_FAILED_LINES=N    lines per failed test (40)
#
# Why: ctest prints a failed test's output where that test ended, far above
# its summary, and a CI log is read from its tail, which then shows only
# "N - test_x (Failed)", not the check that failed. The exit status is
# ctest's.
set -eu
usage="usage: ctest.sh [--show-failed] BUILD_DIR [ctest arguments...]"
show_only=""
if [ "${1:-}" = --show-failed ]; then show_only=1; shift; fi
dir=${1:?$usage}
shift
lines=${CTEST_FAILED_LINES:-40}
status=0
if [ -z "$show_only" ]; then
    ctest --test-dir "$dir" --output-on-failure "$@" || status=$?
    [ "$status" -ne 0 ] || exit 0
fi
log="$dir/Testing/Temporary/LastTest.log"
[ -f "$log" ] || { echo "ctest.sh: no $log to show the failed tests' output from" >&2; exit "$status"; }
echo
echo "=== what the failed tests of $dir printed last"
# LastTest.log holds, per test: "N/M Testing: NAME", "Output:", the output
# between two rules, "<end of output>", then "Test Passed." or "Test Failed."
# (a timeout or a crash also ends in something other than "Test Passed.").
awk -v keep="$lines" '
    /^[0-9]+\/[0-9]+ Testing: / { name = $3; n = 0; inside = 0; next }
    /^Output:$/ { inside = 1; n = 0; getline; next }
    /^<end of output>$/ { inside = 0; next }
    inside { buf[n++] = $0; next }
    /^Test Failed/ && name != "" {
        printf "--- %s failed; the last %d of its %d lines of output:\n", name, (n < keep ? n : keep), n
        for (i = (n > keep ? n - keep : 0); i < n; i++) print buf[i]
        name = ""
    }
' "$log"
exit "$status"
