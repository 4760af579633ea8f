#!/bin/sh
# bench_decoder.sh - decoder models: ggembed against llama.cpp (node-llama-cpp,
# tests/ref) on a nomic-embed-code-shape Q4_K_M file made by `ggembed mkmodel`
# (about 4.2 GB, in the temporary directory, deleted afterwards): mkmodel's
# time, cold start with the page cache dropped (when root) and warm, seconds
# per 512-token text, peak RssAnon and RssFile. See bench_decoder.mjs.
#
#   bench/bench_decoder.sh [--threads 2] [--tokens 512] [--model FILE] [--dir DIR] [--keep]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
df -h "${TMPDIR:-/tmp}" >&2
exec node "$here/bench_decoder.mjs" "$@"
