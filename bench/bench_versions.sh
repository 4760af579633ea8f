#!/bin/sh
# bench_versions.sh - two ggembed binaries (say, main's and a branch's) side
# by side on the same generated files: CPU seconds per text (steadier than
# wall time on a shared machine) and peak RssAnon, for the shapes of the
# performance table: e5-mistral-7b (the 7B llama shape) and nomic-embed-code
# (qwen2-7B) in Q4_K_M at 13 and 406 tokens, nomic-embed-text-v1.5 and
# all-MiniLM-L6-v2 in Q8_0 at 64 tokens. The 7B files are made with
# --layers L (default 4: about 0.6 GB each instead of 4.3) and their times
# scaled to the whole model, the embedding and output work being small
# beside the layers'; --layers 0 keeps every layer.
#
#   bench/bench_versions.sh OLD_BIN NEW_BIN [--threads 2] [--layers 4] [--dir DIR]
set -eu
[ $# -ge 2 ] || { echo "usage: bench_versions.sh OLD_BIN NEW_BIN [--threads N] [--layers L] [--dir DIR]" >&2; exit 2; }
old=$1 new=$2
shift 2
threads=2 layers=4 dir=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case $1 in
    --threads) threads=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "bench_versions.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
vocab=$root/../shared/fixtures/vocab
work=$(mktemp -d "$dir/ggembed-versions-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# make FILE PRESET TYPE FULL_LAYERS [VOCAB]: prints the time scale factor
make() {
    file=$1 preset=$2 type=$3 full=$4 voc=${5:-}
    set -- --preset "$preset" --type "$type" -o "$file"
    [ -n "$voc" ] && set -- "$@" --vocab "$vocab/$voc"
    if [ "$full" -gt 0 ] && [ "$layers" -gt 0 ]; then
        set -- "$@" --layers "$layers"
        "$new" mkmodel "$@" >/dev/null
        echo "$full $layers" | awk '{printf "%.4f", $1 / $2}'
    else
        "$new" mkmodel "$@" >/dev/null
        echo 1
    fi
}

# cpu BIN FILE TOKENS TEXTS: CPU seconds per text and peak RssAnon MB
cpu() {
    "$1" bench -m "$2" --threads "$threads" --tokens "$3" --batch-texts "$4" --repeat 3 --json |
        sed -n 's/.*"batches":\[{.*"peak_rss_anon":\([0-9]*\),.*"cpu_ms_per_text":\([0-9.]*\)}.*/\2 \1/p' |
        awk '{printf "%s %.1f", $1, $2 / 1048576}' 
}

printf '%-42s %12s %12s %7s %9s %9s\n' "work ($threads threads)" "old CPU s" "new CPU s" "ratio" "old anon" "new anon"
row() {
    label=$1 file=$2 scale=$3 tokens=$4 texts=$5
    o=$(cpu "$old" "$file" "$tokens" "$texts") n=$(cpu "$new" "$file" "$tokens" "$texts")
    echo "$o $n $scale" | awk -v l="$label" '{
        os = $1 / 1000 * $5; ns = $3 / 1000 * $5
        printf "%-42s %12.3f %12.3f %7.2f %8.1fM %8.1fM\n", l, os, ns, os / ns, $2, $4 }'
}

f=$work/mistral.gguf
s=$(make "$f" e5-mistral-7b q4_K_M 32 ggml-vocab-llama-spm.gguf)
row "7B Q4_K_M (Mistral), 13-token text" "$f" "$s" 13 1
row "7B Q4_K_M (Mistral), 406-token text" "$f" "$s" 406 1
rm -f "$f"
f=$work/code.gguf
s=$(make "$f" nomic-embed-code q4_K_M 28 ggml-vocab-qwen2.gguf)
row "nomic-embed-code Q4_K_M, 13-token text" "$f" "$s" 13 1
row "nomic-embed-code Q4_K_M, 406-token text" "$f" "$s" 406 1
rm -f "$f"
f=$work/nomic.gguf
s=$(make "$f" nomic-embed-text q8_0 0)
row "nomic-embed-text-v1.5 Q8_0, 100 x 64 tokens" "$f" "$s" 64 100
rm -f "$f"
f=$work/minilm.gguf
s=$(make "$f" minilm q8_0 0)
row "all-MiniLM-L6-v2 Q8_0, 100 x 64 tokens" "$f" "$s" 64 100
