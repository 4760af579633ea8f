#!/bin/sh
# demo.sh - builds ggembed, makes a small embedding model (the shape of
# all-MiniLM-L6-v2, seeded random weights, a built-in WordPiece
# vocabulary, Q8_0) and embeds a few texts with it, printing one JSON line
# per text. Any GGUF embedding model works the same way:
#   build/ggembed embed -m MODEL.gguf "some text"
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${JOBS:-2}" --target ggembed
model=${MODEL:-build/demo-minilm-q8_0.gguf}
[ -f "$model" ] || build/ggembed mkmodel --preset minilm --type q8_0 -o "$model"
build/ggembed inspect "$model" | head -n 12
printf 'the quick brown fox\nsearch for a function that parses json\nwater is wet\n' |
    build/ggembed embed -m "$model" --dims 8
