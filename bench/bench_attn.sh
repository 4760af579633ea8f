#!/bin/sh
# bench_attn.sh - attention's share of a forward pass at long contexts (issue
# 12, item 5): one text of N tokens, 1 thread, `ggembed bench` under
# `perf record` with call stacks (DWARF, 499 samples a second), the share
# being the samples inside gg_op_attention or gg_op_attn_pack: everything
# attention calls, the scalar kernel's dot products and expf included
# (counting functions named *attn* alone left those out).
# Models are made by `ggembed mkmodel` (q8_0) in a temporary directory: the
# nomic-embed-text shape (12 layers at 512 and 2,048 tokens; 2 layers with an
# 8,192-token context for 8,192, where attention's share is what matters)
# and Qwen3-Embedding-0.6B's (GQA, 128-wide heads, causal; 2 layers).
# Prints CPU ms per text and the share per binary, so two builds compare
# side by side in one run. Needs perf (linux-tools).
#
#   bench/bench_attn.sh [--level L] [--tokens N,N] BIN [BIN2 ...]
#       e.g. build/ggembed /tmp/ggembed-old
# --level: the kernels of that level (GGEMBED_SIMD=L: scalar, avx2,
# avxvnni, avx512-plain, avx512) for every binary; --tokens: only the rows
# of those lengths (512, 2048, 8192).
set -eu
usage="usage: bench/bench_attn.sh [--level L] [--tokens N,N] BIN [BIN2 ...]"
level= tokens=512,2048,8192
while [ "$#" -gt 0 ]; do
    case $1 in
    --level) [ "$#" -ge 2 ] || { echo "$usage" >&2; exit 2; }; level=$2; shift 2 ;;
    --tokens) [ "$#" -ge 2 ] || { echo "$usage" >&2; exit 2; }; tokens=$2; shift 2 ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ "$#" -ge 1 ] || { echo "$usage" >&2; exit 2; }
if [ -n "$level" ]; then export GGEMBED_SIMD="$level"; fi
command -v perf >/dev/null 2>&1 || { echo "bench_attn.sh: perf is required" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
vocab=${GGEMBED_FIXTURES:-$here/../../shared/fixtures/vocab}/ggml-vocab-qwen2.gguf
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mk=$1
"$mk" mkmodel --preset nomic-embed-text --type q8_0 -o "$dir/nomic.gguf" >/dev/null
"$mk" mkmodel --preset nomic-embed-text --type q8_0 --layers 2 --ctx 8192 -o "$dir/nomic2.gguf" >/dev/null
"$mk" mkmodel --preset qwen3-embedding-0.6b --type q8_0 --layers 2 --ctx 8192 --vocab "$vocab" \
    -o "$dir/qwen3.gguf" >/dev/null

# run BIN MODEL TOKENS: "CPU-ms share%"
run() {
    perf record -q -F 499 --call-graph dwarf,16384 -o "$dir/perf.data" "$1" bench -m "$2" --threads 1 \
        --tokens "$3" --batch-texts 1 --repeat 1 --batch-tokens 8192 >"$dir/out" 2>&1
    cpu=$(awk '$1 == 1 && NF >= 7 {print $5}' "$dir/out")
    share=$(perf report -i "$dir/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -v '^#' | awk '$4 == "gg_op_attention" || $4 == "gg_op_attn_pack" {s += $1} END {printf "%.1f", s}')
    rm -f "$dir/perf.data"
    echo "$cpu $share%"
}

echo "kernels: ${GGEMBED_SIMD:-the best this CPU has}"
printf '%-40s %-26s %8s %14s %16s\n' binary model tokens "CPU ms/text" "attention share"
for bin in "$@"; do
    for c in "nomic.gguf nomic-embed-text 512" "nomic.gguf nomic-embed-text 2048" \
             "nomic2.gguf nomic-embed-text,2-layers 8192" "qwen3.gguf qwen3-0.6b,2-layers 2048" \
             "qwen3.gguf qwen3-0.6b,2-layers 8192"; do
        set -- $c
        case ",$tokens," in *",$3,"*) ;; *) continue ;; esac
        r=$(run "$bin" "$dir/$1" "$3")
        printf '%-40s %-26s %8s %14s %16s\n' "$bin" "$2" "$3" ${r% *} ${r#* }
    done
done
