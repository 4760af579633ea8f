#!/bin/sh
# build-llama.sh - builds llama.cpp's llama-server and llama-embedding for the
# benchmark tables, from the source node-llama-cpp ships (the git bundle
# tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle; install it with
# scripts/setup-ref.sh). Release, native, CPU only, no curl, no network.
#
# The build lives in a cache directory outside the repository, so it survives
# clean checkouts and worktrees and is never committed; a second run reuses it
# (it only re-runs cmake's incremental build, which does nothing when current).
# Benchmarks only: not part of CI, ggembed never depends on it.
#
# Usage: bench/build-llama.sh [--print-dir] [-j N]
#   --print-dir  print the directory holding the two binaries and exit
#                (0 if both are built, 1 if not), building nothing
# Env: GGEMBED_BENCH_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/ggembed-bench)
#      JOBS                 parallel compile jobs (default 2: this is a shared 2-core box)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${GGEMBED_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ggembed-bench}
src="$cache/llama.cpp"
build="$src/build"
bin="$build/bin"
jobs=${JOBS:-2}
bundle="$root/tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle"

while [ $# -gt 0 ]; do
  case "$1" in
    --print-dir)
      echo "$bin"
      [ -x "$bin/llama-server" ] && [ -x "$bin/llama-embedding" ] && exit 0
      exit 1 ;;
    -j) jobs=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-llama.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

for tool in git cmake c++; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-llama.sh: $tool is required" >&2; exit 1; }
done

# The source: a clone of the bundle at its one head. A clone that stopped half
# way (no HEAD commit) is removed and made again.
if [ ! -f "$src/CMakeLists.txt" ] || ! git -C "$src" rev-parse -q --verify HEAD >/dev/null 2>&1; then
  [ -f "$bundle" ] || { echo "build-llama.sh: $bundle not found: run scripts/setup-ref.sh first" >&2; exit 1; }
  rm -rf "$src"
  mkdir -p "$cache"
  git -c advice.detachedHead=false clone -q "$bundle" "$src"
  echo "build-llama.sh: llama.cpp source $(git -C "$src" rev-parse --short HEAD) in $src"
fi

# Only the two tools; no tests, examples beyond them, or server web UI
# downloads. GGML_NATIVE builds for this CPU (AVX-512 VNNI/BF16 where present),
# as a user compiling llama.cpp for their own machine would. OpenMP stays at
# llama.cpp's default (on when the compiler has it): that is its best setting.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -G "$(command -v ninja >/dev/null 2>&1 && echo Ninja || echo 'Unix Makefiles')" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
    >"$cache/llama-cmake.log" 2>&1 \
    || { echo "build-llama.sh: cmake configure failed; see $cache/llama-cmake.log" >&2; rm -f "$build/CMakeCache.txt"; exit 1; }
fi
cmake --build "$build" -j "$jobs" --target llama-server llama-embedding
if [ ! -x "$bin/llama-server" ] || [ ! -x "$bin/llama-embedding" ]; then
  echo "build-llama.sh: build finished but $bin lacks llama-server or llama-embedding" >&2
  exit 1
fi
echo "build-llama.sh: built $bin/llama-server and $bin/llama-embedding"
