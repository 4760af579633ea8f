#!/bin/sh
# test-diff.sh - the differential tests against llama.cpp (tests/diff/*.mjs,
# the reference is node-llama-cpp, test-only): token ids of the 2,400-text
# corpus for every vocab fixture (with and without the specials an embedding
# adds), the fixtures' own expected ids, and embeddings of models made by
# `ggembed mkmodel` (the matrix is in tests/diff/embed.test.mjs: BERT,
# nomic-bert, minilm, XLM-R BERT, jina-bert-v2, nomic-bert-moe,
# gemma-embedding, modern-bert, LLaMA, Qwen2, Qwen3; float, 32-block and K-quant
# types; last and mean pooling; linear, YaRN and Llama 3.1 rotary scaling;
# batched and alone), and reranker scores (tests/diff/rerank.test.mjs:
# bge-reranker with WordPiece and XLM-R vocabularies, Qwen3-Reranker with its
# template; f16, q8_0, q4_K_M). About 6.5 CPU-minutes (4-5
# minutes on two idle cores). Nothing skips silently: a missing binary or
# subcommand fails.
#
#   scripts/test-diff.sh                 installs the reference if needed, runs all
#   GGEMBED_BIN=build-asan/ggembed scripts/test-diff.sh    another binary
#   GGEMBED_DIFF_MODELS=bert-tiny:q8_0,qwen3-tiny:f16:pooling=mean scripts/test-diff.sh
#   GGEMBED_DIFF_VOCABS=qwen2 ...  GGEMBED_DIFF_ALONE=all|some ...  (see tests/diff/*.mjs)
#   scripts/test-diff.sh tests/diff/tokenize.test.mjs      only some test files
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/setup-ref.sh"

bin=${GGEMBED_BIN:-build/ggembed}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if [ ! -x "$bin" ]; then
    echo "test-diff.sh: $bin is not there: build it (cmake -S . -B build && cmake --build build) or set GGEMBED_BIN" >&2
    exit 1
fi

if [ "$#" -eq 0 ]; then set -- tests/diff/; fi
GGEMBED_BIN=$bin GGEMBED_DIFF_REQUIRE_BIN=1 GGEMBED_DIFF_THREADS=${GGEMBED_DIFF_THREADS:-2} \
    exec node --test --test-concurrency=1 "$@"
