#!/bin/sh
# test-windows.sh - cross-builds ggembed for 64-bit Windows with mingw-w64
# and runs the test suite under wine.
#
#   scripts/test-windows.sh [ctest arguments...]     e.g. -R platform
#
# The build goes to build-win/ (BUILD_DIR overrides it). Wine gets a private
# prefix inside the build directory, so the script works on a fresh machine,
# as root, without a display, and never touches ~/.wine.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build-win"}
jobs=${JOBS:-2}

export WINEPREFIX="$build/wineprefix"
export WINEDEBUG=-all
# No display: keep wine from trying to open X windows or dialogs, and skip
# installing Mono and Gecko, which a console test program never needs.
unset DISPLAY WAYLAND_DISPLAY
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"

wine_loader=$(command -v wine64 || true)
[ -n "$wine_loader" ] || [ ! -x /usr/lib/wine/wine64 ] || wine_loader=/usr/lib/wine/wine64
[ -n "$wine_loader" ] || wine_loader=$(command -v wine || true)
if [ -z "$wine_loader" ]; then
    echo "test-windows.sh: wine is not installed" >&2
    exit 1
fi
wineserver=$(command -v wineserver || true)
[ -n "$wineserver" ] || [ ! -x /usr/lib/wine/wineserver ] || wineserver=/usr/lib/wine/wineserver

cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-x86_64.cmake" \
    -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}"
cmake --build "$build" -j"$jobs"

# Creating the prefix takes a while the first time; do it once, quietly,
# before the tests run so no test pays for it (or times out on it).
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    mkdir -p "$WINEPREFIX"
    echo "test-windows.sh: creating the wine prefix in $WINEPREFIX"
    "$wine_loader" wineboot --init >/dev/null 2>&1 || true
    [ -z "$wineserver" ] || "$wineserver" -w
fi

status=0
ctest_status=0
# Its summary of failed tests is repeated after the pipe tests below.
ctest --test-dir "$build" --output-on-failure "$@" || ctest_status=$?
status=$ctest_status

# ---- named pipe, end to end: the Windows server and client (under wine)
# give the same embeddings as the Linux `ggembed embed` for the same model
# and texts. The Linux binary is built in build/ (LINUX_BUILD_DIR) if needed.
linux_build=${LINUX_BUILD_DIR:-"$root/build"}
if [ ! -f "$linux_build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$linux_build" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$linux_build" -j"$jobs" --target ggembed
lin="$linux_build/ggembed"
win="$build/ggembed.exe"
work="$build/pipe-e2e"
rm -rf "$work"
mkdir -p "$work"
# Wine maps the Unix root to drive Z:.
winpath() { case "$1" in /*) printf 'Z:%s' "$1" ;; *) printf '%s' "$1" ;; esac; }
run_limited() { # seconds, command...
    if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi
}

pipe_e2e() {
    vocab="$root/../shared/fixtures/vocab/ggml-vocab-bert-bge.gguf"
    if [ -f "$vocab" ]; then
        "$lin" mkmodel --preset bert-tiny --vocab "$vocab" -o "$work/tiny.gguf" >/dev/null || return 1
    else
        "$lin" mkmodel --preset bert-tiny -o "$work/tiny.gguf" >/dev/null || return 1
    fi
    # Short, unicode, empty, control characters, and one over the context.
    {
        printf '%s\n' '"hello world"' '"The quick brown fox jumps over the lazy dog."' \
            '"na\u00efve caf\u00e9 \u2014 \u00fcn\u00efc\u00f6d\u00e9"' '""' '"tab\there\nnew line\r\n"' \
            '"\u4e2d\u6587 \ud83d\ude00 emoji"'
        long='"'; i=0
        while [ $i -lt 200 ]; do long="$long word$i"; i=$((i + 1)); done
        printf '%s"\n' "$long"
        i=0
        while [ $i -lt 40 ]; do printf '"sentence number %d about topic %d"\n' $i $((i % 7)); i=$((i + 1)); done
    } >"$work/texts.jsonl"
    "$lin" embed -m "$work/tiny.gguf" --jsonl <"$work/texts.jsonl" >"$work/linux.jsonl" || return 1

    name="ggembed-e2e-$$"
    run_limited 300 "$wine_loader" "$win" serve -m "$(winpath "$work/tiny.gguf")" --pipe "$name" \
        2>"$work/serve.log" &
    server=$!
    i=0
    until grep -q '^ggembed: ready ' "$work/serve.log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 $server 2>/dev/null; then
            echo "test-windows.sh: the pipe server did not start:" >&2
            cat "$work/serve.log" >&2
            return 1
        fi
        sleep 0.1
    done
    ok=0
    run_limited 120 "$wine_loader" "$win" client --pipe "$name" embed --jsonl \
        <"$work/texts.jsonl" >"$work/pipe.jsonl" || ok=1
    run_limited 60 "$wine_loader" "$win" client --pipe "$name" shutdown || ok=1
    wait $server || { echo "test-windows.sh: the pipe server exited with $?" >&2; ok=1; }
    [ $ok -eq 0 ] || return 1

    # Same texts, same order; tokens equal; every number within 1e-6.
    tr -d '\r' <"$work/pipe.jsonl" >"$work/pipe.unix.jsonl"
    awk -v tol=1e-6 '
        function fields(line, out,   t, v) {
            t = line; sub(/.*"tokens": */, "", t); sub(/[^0-9].*/, "", t); out["tokens"] = t
            t = line; sub(/.*"index": */, "", t); sub(/[^0-9].*/, "", t); out["index"] = t
            out["truncated"] = (line ~ /"truncated": true/) ? 1 : 0
            v = line; sub(/.*"embedding": *\[/, "", v); sub(/\].*/, "", v)
            return split(v, out_vec, /, */)
        }
        NR == FNR { a[FNR] = $0; na = FNR; next }
        { b[FNR] = $0; nb = FNR }
        END {
            bad = 0
            if (na != nb || na == 0) { printf "line counts differ: linux %d, pipe %d\n", na, nb; exit 1 }
            for (i = 1; i <= na; i++) {
                n1 = fields(a[i], f1); for (k = 1; k <= n1; k++) v1[k] = out_vec[k] + 0
                n2 = fields(b[i], f2); for (k = 1; k <= n2; k++) v2[k] = out_vec[k] + 0
                if (f1["tokens"] != f2["tokens"] || f1["index"] != f2["index"] || f1["truncated"] != f2["truncated"]) {
                    printf "line %d: tokens/index/truncated differ\n", i; bad++; continue
                }
                if (n1 != n2 || n1 < 2) { printf "line %d: %d vs %d values\n", i, n1, n2; bad++; continue }
                for (k = 1; k <= n1; k++) {
                    d = v1[k] - v2[k]; if (d < 0) d = -d
                    if (d > tol) { printf "line %d value %d: %s vs %s\n", i, k, v1[k], v2[k]; bad++; break }
                }
            }
            if (bad) exit 1
            printf "pipe-e2e: %d embeddings equal (linux embed vs windows serve/client over a named pipe)\n", na
        }' "$work/linux.jsonl" "$work/pipe.unix.jsonl"
}

# Ctrl-C (wine turns SIGINT into a console CTRL_C_EVENT) stops the server
# gracefully: the same path as SHUTDOWN, exit status 0.
ctrl_c_stop() {
    name="ggembed-ctrlc-$$"
    # Not under timeout(1): it would not pass SIGINT on from a background job.
    "$wine_loader" "$win" serve -m "$(winpath "$work/tiny.gguf")" --pipe "$name" 2>"$work/ctrlc.log" &
    server=$!
    i=0
    until grep -q '^ggembed: ready ' "$work/ctrlc.log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 $server 2>/dev/null; then
            kill -KILL $server 2>/dev/null
            cat "$work/ctrlc.log" >&2
            return 1
        fi
        sleep 0.1
    done
    kill -INT $server
    i=0
    while kill -0 $server 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL $server 2>/dev/null || true
    rc=0
    wait $server || rc=$?
    grep -q '^ggembed: stopped ' "$work/ctrlc.log" && [ $rc -eq 0 ] && return 0
    echo "test-windows.sh: after Ctrl-C the server exited with $rc:" >&2
    cat "$work/ctrlc.log" >&2
    return 1
}

if pipe_e2e && ctrl_c_stop; then
    echo "test-windows.sh: named pipe end-to-end test and Ctrl-C stop passed"
else
    echo "test-windows.sh: named pipe end-to-end test FAILED" >&2
    status=1
fi
# Leave no wineserver behind once the tests are over.
[ -z "$wineserver" ] || "$wineserver" -k >/dev/null 2>&1 || true
# Last, so that it is what the tail of a CI log shows.
[ "$ctest_status" -eq 0 ] || "$root/scripts/ctest.sh" --show-failed "$build" || true
exit $status
