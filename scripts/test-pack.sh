#!/bin/sh
# test-pack.sh - the clean-room test of the npm packages. Packs them
# (scripts/pack.sh into build-pack/packages), serves the tarballs from a local
# registry that has nothing else (scripts/pack-registry.mjs), and in empty
# folders outside the checkout:
#   1. `npm install ggembed` picks the platform package by itself; `npx ggembed`
#      makes a model and embeds; the library, given only `model`, gives the same
#      vector; exit status and signals pass through the `ggembed` bin;
#      `ggembed-mcp` says in one line that its peer is missing, then, with the
#      MCP SDK added (from npm's cache, through the local registry), is driven
#      by the SDK's client;
#   2. `npm install --omit=optional ggembed` builds the binary from the shipped
#      C sources with the C compiler directly; without any compiler the install
#      script fails in one line and the library's error names what it tried;
#      `npm rebuild` with CMake builds it again.
# The installs use a fresh npm cache and a proxy that does not exist for any
# host but 127.0.0.1: nothing can come from the public registry unnoticed.
#
#   KEEP=1 scripts/test-pack.sh     keep the work folder
#   PACKED=DIR scripts/test-pack.sh test the packages already in DIR
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
pkgs="$root/build-pack/packages"
work=$(mktemp -d "${TMPDIR:-/tmp}/ggembed-pack-test.XXXXXX")
registry_pid=""
cleanup() {
    [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "test-pack.sh: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "test-pack.sh: FAILED: $*" >&2; exit 1; }
now_ms() { node -p 'Date.now()'; }

if [ -n "${PACKED:-}" ]; then
    pkgs=$PACKED # already packed (while working on this script)
else
    rm -rf "$pkgs"
    "$root/scripts/pack.sh" "$pkgs"
fi
version=$(node -p "require(process.argv[1]).version" "$root/node/package.json")
[ -f "$pkgs/ggembed-linux-x64-$version.tgz" ] || fail "no linux-x64 package was built (this test needs a glibc x86-64 Linux)"

node "$root/scripts/pack-registry.mjs" "$pkgs" "$work/port" "$work/registry.log" \
    "$root/node/package-lock.json" "$(npm config get cache)" &
registry_pid=$!
i=0
until [ -s "$work/port" ]; do
    i=$((i + 1)); [ $i -lt 300 ] || fail "the local registry did not start"; sleep 0.1
done
registry="http://127.0.0.1:$(cat "$work/port")/"
: >"$work/npmrc"; : >"$work/npmrc-global"

# npm with only the local registry: a fresh cache, no user or global npmrc,
# and every other host behind a proxy that refuses connections.
npm_isolated() {
    env -u GGEMBED_BIN -u GGEMBED_BUILD_WITH npm_config_registry="$registry" npm_config_cache="$work/npm-cache" \
        npm_config_userconfig="$work/npmrc" npm_config_globalconfig="$work/npmrc-global" \
        npm_config_proxy=http://127.0.0.1:9 npm_config_https_proxy=http://127.0.0.1:9 npm_config_noproxy=127.0.0.1 \
        npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false "$@"
}
new_app() { # folder
    mkdir -p "$1"
    printf '{ "name": "clean-room-app", "version": "1.0.0", "private": true }\n' >"$1/package.json"
    cp "$root/scripts/pack-check.mjs" "$1/check.mjs"
}
vocab="$root/../shared/fixtures/vocab/ggml-vocab-bert-bge.gguf"
[ -z "${GGEMBED_FIXTURES:-}" ] || vocab="$GGEMBED_FIXTURES/ggml-vocab-bert-bge.gguf"
vocab_args=""
[ ! -f "$vocab" ] || vocab_args="--vocab $vocab"

# ---- 1. the prebuilt binary from the platform package
app="$work/app"
new_app "$app"
cd "$app"
t0=$(now_ms)
npm_isolated npm install ggembed --loglevel=error
t_installed=$(now_ms)
[ -x node_modules/@ggembed/linux-x64/bin/ggembed ] || fail "npm did not install @ggembed/linux-x64"
[ ! -e node_modules/@ggembed/win32-x64 ] || fail "npm installed @ggembed/win32-x64 on Linux"
[ ! -e node_modules/ggembed/native/ggembed ] || fail "the install script built from source although the platform package is there"
# The library depends on zod, ignore and chokidar (with its readdirp) only; the MCP SDK and tree-sitter are optional peers.
extra=$(ls -A node_modules | grep -v -x -e ggembed -e @ggembed -e zod -e ignore -e chokidar -e readdirp -e .bin -e .package-lock.json || true)
[ -z "$extra" ] || fail "the library alone installed more packages: $extra"
grep -q "^200 GET /-/tarballs/[0-9a-f]*/ggembed-linux-x64-$version.tgz" "$work/registry.log" || fail "the platform tarball was not fetched from the local registry"
! grep -q "win32-x64-$version.tgz" "$work/registry.log" || fail "the win32-x64 tarball was fetched on Linux"

# shellcheck disable=SC2086
npm_isolated npx --no ggembed mkmodel --preset bert-tiny -o model.gguf $vocab_args >/dev/null
npm_isolated npx --no ggembed embed -m model.gguf "hello world" >ref.jsonl
t1=$(now_ms)
env -u GGEMBED_BIN node check.mjs embed model.gguf ref.jsonl node_modules/@ggembed/linux-x64/bin/ggembed
t2=$(now_ms)
echo "test-pack.sh: install to first vector: npm install $((t_installed - t0)) ms + node, import, start, embed $((t2 - t1)) ms = $((t_installed - t0 + t2 - t1)) ms"

# Exit status: the bin's is the command's.
rc_bin=0; node_modules/.bin/ggembed embed -m no-such-model.gguf x 2>/dev/null || rc_bin=$?
rc_c=0; node_modules/@ggembed/linux-x64/bin/ggembed embed -m no-such-model.gguf x 2>/dev/null || rc_c=$?
[ "$rc_c" -ne 0 ] && [ "$rc_bin" -eq "$rc_c" ] || fail "exit status through the bin: $rc_bin, the command's: $rc_c"
# A signal to the bin reaches the command, and the bin dies of it too.
mkfifo "$work/stdin"
node_modules/.bin/ggembed embed -m model.gguf <"$work/stdin" >/dev/null &
bin_pid=$!
exec 3>"$work/stdin"
i=0
until pgrep -P "$bin_pid" >/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "the bin started no command"; sleep 0.1
done
c_pid=$(pgrep -P "$bin_pid")
kill -TERM "$bin_pid"
rc=0; wait "$bin_pid" || rc=$?
exec 3>&-
[ "$rc" -eq 143 ] || fail "after SIGTERM the bin exited with $rc, not 143 (killed by SIGTERM)"
! kill -0 "$c_pid" 2>/dev/null || fail "the command outlived the bin's SIGTERM"
echo "test-pack.sh: the ggembed bin passes exit status ($rc_c) and SIGTERM through"

# The MCP SDK is an optional peer: without it, one line says what to install.
rc=0; node_modules/.bin/ggembed-mcp --model model.gguf </dev/null >/dev/null 2>"$work/mcp.err" || rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$work/mcp.err")" -eq 1 ] && grep -q 'npm install @modelcontextprotocol/sdk' "$work/mcp.err" ||
    fail "ggembed-mcp without its peer (exit $rc): $(cat "$work/mcp.err")"
cat "$work/mcp.err"
# With it: the version the package is developed with, which the local
# registry serves from npm's cache (filled by `npm ci` in node/).
sdk=$(node -p "require(process.argv[1]).packages['node_modules/@modelcontextprotocol/sdk'].version" "$root/node/package-lock.json")
npm_isolated npm install --loglevel=error "@modelcontextprotocol/sdk@$sdk"
env -u GGEMBED_BIN node check.mjs mcp model.gguf ref.jsonl

# ---- 2. no platform package: built from the shipped C sources
src_app="$work/app-src"
new_app "$src_app"
cp model.gguf ref.jsonl "$src_app/"
cd "$src_app"
t0=$(now_ms)
npm_isolated env GGEMBED_BUILD_WITH=cc npm install ggembed --omit=optional --foreground-scripts --loglevel=error
t_installed=$(now_ms)
[ ! -e node_modules/@ggembed ] || fail "--omit=optional installed a platform package"
[ -x node_modules/ggembed/native/ggembed ] || fail "the install script built no node_modules/ggembed/native/ggembed"
env -u GGEMBED_BIN node check.mjs embed model.gguf ref.jsonl node_modules/ggembed/native/ggembed
echo "test-pack.sh: from source with cc: npm install $((t_installed - t0)) ms"

# Neither CMake nor a C compiler: the install fails with one line, and the
# library's error names every place it looked and why the build is missing.
mkdir "$work/node-only"
ln -s "$(command -v node)" "$work/node-only/node"
rc=0
env -u CC -u GGEMBED_BIN PATH="$work/node-only" node node_modules/ggembed/scripts/install.mjs 2>"$work/install.err" || rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$work/install.err")" -eq 1 ] && grep -q 'CMake' "$work/install.err" && grep -q 'C compiler' "$work/install.err" ||
    fail "install without compilers (exit $rc): $(cat "$work/install.err")"
cat "$work/install.err"
[ ! -e node_modules/ggembed/native/ggembed ] || fail "a binary is left after the failed build"
env -u GGEMBED_BIN node check.mjs missing model.gguf @ggembed/linux-x64 'not installed' native/ggembed 'install CMake'

t0=$(now_ms)
npm_isolated env GGEMBED_BUILD_WITH=cmake npm rebuild ggembed --foreground-scripts --loglevel=error
t_installed=$(now_ms)
env -u GGEMBED_BIN node check.mjs embed model.gguf ref.jsonl node_modules/ggembed/native/ggembed
echo "test-pack.sh: from source with cmake: npm rebuild $((t_installed - t0)) ms"
echo "test-pack.sh: all clean-room checks passed"
