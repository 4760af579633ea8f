#!/usr/bin/env node
// bench_bert.mjs - BERT family: ggembed against llama.cpp (node-llama-cpp
// in-process, tests/ref) on the same nomic-embed-text-v1.5-shape files
// (`ggembed mkmodel --preset nomic-embed-text --vocab <bert-bge vocab>`),
// the same thread count and the same generated texts (about 60 tokens),
// batches of 1, 10 and 100 texts. Each side runs in its own process.
//
//   node bench/bench_bert.mjs [--threads 2] [--types q8_0,q4_K_M] [--batch-texts 1,10,100]
//        [--tokens 60] [--repeat R] [--bin GGEMBED] [--dir DIR] [--keep]
//        [--preset NAME] [--vocab VOCAB.gguf] [--ctx N]
// --preset another encoder shape (a `ggembed mkmodel` preset: multilingual-e5-small,
// jina-v2-small-en, gte-modernbert-base, embeddinggemma-300m, ...) with a
// vocabulary that fits it; --ctx its context for the file (both sides size
// their working memory from it).
//
// Needs scripts/setup-ref.sh (node-llama-cpp) and a built ggembed.
// node-llama-cpp embeds one text per getEmbeddingFor() call: its batch of N
// is N calls; ggembed's is one ggembed_embed call with N texts.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { checkRef, f, findBin, machine, MB, mkmodel, root, runGgembed, runLlama, table } from "./bench_common.mjs";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "2" }, types: { type: "string", default: "q8_0,q4_K_M" },
    "batch-texts": { type: "string", default: "1,10,100" }, tokens: { type: "string", default: "60" },
    repeat: { type: "string" }, bin: { type: "string" }, dir: { type: "string" }, keep: { type: "boolean" },
    vocab: { type: "string" }, preset: { type: "string", default: "nomic-embed-text" }, ctx: { type: "string" },
  },
});
const threads = Number(values.threads);
const batches = values["batch-texts"].split(",").map(Number);
const tokens = Number(values.tokens);
const repeat = values.repeat ? Number(values.repeat) : 0;
const bin = findBin(values.bin);
const vocab = values.vocab ?? path.join(root, "..", "shared", "fixtures", "vocab", "ggml-vocab-bert-bge.gguf");
checkRef();
const dir = values.dir ?? mkdtempSync(path.join(os.tmpdir(), "ggembed-bench-bert-"));

const preset = values.preset;
console.log(`# encoder: ${preset} shape, ${threads} threads, texts of about ${tokens} tokens`);
console.log(`# ${machine()}`);
const rows = [], memRows = [], coldRows = [];
try {
  for (const type of values.types.split(",")) {
    const model = path.join(dir, `${preset}-${type}.gguf`);
    const mk = mkmodel(bin, ["--preset", preset, "--type", type, "--vocab", vocab,
      ...(values.ctx ? ["--ctx", values.ctx] : [])], model);
    const textsFile = path.join(dir, `texts-${type}.jsonl`);
    process.stderr.write(`bench_bert: ${type}: ${MB(mk.bytes).toFixed(1)} MB file; ggembed...\n`);
    const g = runGgembed(bin, model, { threads, batches, tokens, repeat, textsFile });
    process.stderr.write(`bench_bert: ${type}: llama.cpp...\n`);
    const l = runLlama(model, { threads, batches, repeat, textsFile });
    const base = l.rss_anon_baseline;
    for (let i = 0; i < batches.length; i++) {
      const gb = g.batches[i], lb = l.batches[i];
      rows.push([type, `${gb.texts} (${lb.texts} calls)`, f(gb.tokens_per_text), f(gb.texts_per_s, 2), f(lb.texts_per_s, 2),
        f(gb.texts_per_s / lb.texts_per_s, 2), f(gb.ms_per_text), f(lb.ms_per_text), f(gb.cpu_ms_per_text), f(lb.cpu_ms_per_text),
        f(lb.cpu_ms_per_text / gb.cpu_ms_per_text, 2)]);
      memRows.push([type, String(gb.texts), f(MB(gb.peak_rss_anon)), f(MB(lb.peak_rss_anon)), f(MB(lb.peak_rss_anon - base)),
        f(MB(gb.peak_rss_anon) / MB(lb.peak_rss_anon - base), 3), f(MB(gb.peak_rss_file)), f(MB(lb.peak_rss_file))]);
    }
    coldRows.push([type, f(MB(mk.bytes)), f(g.load_ms), f(l.load_ms), f(g.first_embed_ms), f(l.first_embed_ms),
      f(MB(g.working_memory), 2), f(MB(base)), String(l.context_size)]);
  }
  console.log("\n## speed (wall time; CPU time = process user+sys, all threads)");
  table(["type", "texts/batch (llama.cpp calls)", "tokens/text", "ggembed texts/s", "llama.cpp texts/s", "ratio g/l",
    "ggembed ms/text", "llama.cpp ms/text", "ggembed CPU ms/text", "llama.cpp CPU ms/text", "CPU ratio l/g"], rows);
  console.log("\n## peak memory, MB (RssAnon/RssFile sampled every 5 ms and after each call)");
  table(["type", "texts/batch", "ggembed RssAnon", "node+llama.cpp RssAnon", "llama.cpp share (minus node baseline)",
    "ratio g/l share", "ggembed RssFile", "node+llama.cpp RssFile"], memRows);
  console.log("\n## load and first embedding (page cache warm)");
  table(["type", "file MB", "ggembed load ms", "llama.cpp load ms (model + context)", "ggembed first embed ms",
    "llama.cpp first embed ms", "ggembed working MB", "node baseline RssAnon MB", "llama.cpp contextSize"], coldRows);
  console.log("\nnode baseline: node with node-llama-cpp and its llama.cpp binary loaded, no model.");
  console.log("llama.cpp embeds one text per getEmbeddingFor() call: a batch of N is N calls in a row.");
} finally {
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
}
