#!/bin/sh
# big_model_memory.sh - the memory bound on a 7B model (slow: run by
# `SLOW=1 scripts/test.sh`): makes a nomic-embed-code-shape Q4_K_M file
# (Qwen2.5-Coder-7B body, about 4.2 GB) with `ggembed mkmodel` in the
# temporary directory, embeds one 512-token text with `ggembed bench`, and
# asserts that the process's peak anonymous memory (RssAnon) stays under
# 50 MB: the weights must be read through the file mapping (RssFile), never
# copied.
#
# The kernel keeps no peak of RssAnon (VmHWM is the peak of the whole
# resident set, mapping included), so the peak is measured twice:
#  - by ggembed bench itself: a thread reads /proc/self/status every 5 ms,
#    and it reads it again after the open and after the embedding
#    (peak_rss_anon in its JSON);
#  - from outside: this script reads /proc/PID/status every 50 ms.
# Both must be under the bound.
#
#   tests/slow/big_model_memory.sh [GGEMBED]   (default: build/ggembed)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${GGEMBED_BIN:-$root/build/ggembed}}
vocab=${VOCAB:-$root/../shared/fixtures/vocab/ggml-vocab-qwen2.gguf}
limit_kb=$((50 * 1024))
threads=${THREADS:-2}
[ -x "$bin" ] || { echo "big_model_memory: no ggembed binary at $bin" >&2; exit 1; }
[ -f "$vocab" ] || { echo "big_model_memory: no vocabulary at $vocab" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggembed-slow-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
free_kb=$(df -Pk "$tmp" | awk 'NR==2 {print $4}')
if [ "$free_kb" -lt $((6 * 1024 * 1024)) ]; then
    echo "big_model_memory: $tmp has $((free_kb / 1024)) MB free; 6 GB needed" >&2
    exit 1
fi

model=$tmp/nomic-embed-code-q4_K_M.gguf
start=$(date +%s)
"$bin" mkmodel --preset nomic-embed-code --type q4_K_M --vocab "$vocab" -o "$model"
echo "big_model_memory: mkmodel took $(( $(date +%s) - start )) s for $(($(wc -c < "$model") / 1048576)) MB"

"$bin" bench -m "$model" --threads "$threads" --tokens 512 --batch-texts none --json > "$tmp/bench.json" &
pid=$!
peak_kb=0
samples=0
while kill -0 "$pid" 2>/dev/null; do
    kb=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$kb" ]; then
        samples=$((samples + 1))
        [ "$kb" -gt "$peak_kb" ] && peak_kb=$kb
    fi
    sleep 0.05
done
wait "$pid" || { echo "big_model_memory: ggembed bench failed" >&2; exit 1; }

json=$(cat "$tmp/bench.json")
field() { printf '%s' "$json" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
self_peak=$(field peak_rss_anon)
self_file=$(field peak_rss_file)
tokens=$(field first_embed_tokens)
first_ms=$(field first_embed_ms)
[ -n "$self_peak" ] && [ -n "$tokens" ] || { echo "big_model_memory: no figures in: $json" >&2; exit 1; }
self_kb=$((self_peak / 1024))
echo "big_model_memory: $tokens tokens embedded in ${first_ms} ms (first embedding, $threads threads)"
echo "big_model_memory: peak RssAnon: $self_kb kB (ggembed's own sampling), $peak_kb kB (outside, $samples samples); peak RssFile $((self_file / 1048576)) MB; bound $limit_kb kB"
status=0
if [ "$tokens" -lt 500 ]; then echo "big_model_memory: FAIL: only $tokens tokens embedded" >&2; status=1; fi
if [ "$self_kb" -ge "$limit_kb" ]; then echo "big_model_memory: FAIL: self-reported peak RssAnon over the bound" >&2; status=1; fi
if [ "$peak_kb" -ge "$limit_kb" ]; then echo "big_model_memory: FAIL: sampled peak RssAnon over the bound" >&2; status=1; fi
if [ "$samples" -eq 0 ]; then echo "big_model_memory: FAIL: could not read /proc/$pid/status" >&2; status=1; fi
[ "$status" -eq 0 ] && echo "big_model_memory: ok"
exit "$status"
