#!/usr/bin/env node
// bench_bert.mjs - encoders: ggembed against llama.cpp (node-llama-cpp
// in-process, tests/ref) on the same files made by `ggembed mkmodel` (by
// default nomic-embed-text-v1.5's shape with the bert-bge vocabulary), the
// same thread count and the same generated texts (about 60 tokens), batches
// of 1, 10 and 100 texts. Each side runs in its own process.
//
//   node bench/bench_bert.mjs [--threads 2] [--types q8_0,q4_K_M] [--batch-texts 1,10,100]
//        [--tokens 60] [--repeat R] [--bin GGEMBED] [--dir DIR] [--keep]
//        [--preset NAME[:VOCAB][:ctx=N],...] [--vocab VOCAB.gguf] [--ctx N]
//   node bench/bench_bert.mjs --issue10      the architectures of issue 10 (below)
// --preset one or more encoder shapes (`ggembed mkmodel` presets:
// multilingual-e5-small, jina-v2-small-en, gte-modernbert-base,
// embeddinggemma-300m, ...), each with a vocabulary fixture that fits it
// (VOCAB: a name in ../shared/fixtures/vocab such as gpt-2; by default the one
// PRESET_VOCAB names, or --vocab FILE) and a context for the file (ctx=N, or
// --ctx N; both sides size their working memory from it).
// --issue10: EmbeddingGemma-300m (with its dense projection), bge-m3,
// jina-embeddings-v2-base-en and -base-code, gte-modernbert-base and
// nomic-embed-text-v2-moe, in q8_0, 64-token texts, batches of 10, 2 threads,
// files with a 512-token context; ends with one table of texts/s per model.
//
// Needs scripts/setup-ref.sh (node-llama-cpp) and a built ggembed.
// node-llama-cpp embeds one text per getEmbeddingFor() call: its batch of N
// is N calls; ggembed's is one ggembed_embed call with N texts.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { checkRef, f, findBin, loadAvg, machine, MB, mkmodel, runGgembed, runLlama, table, vocabFile } from "./bench_common.mjs";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "2" }, types: { type: "string" },
    "batch-texts": { type: "string" }, tokens: { type: "string" },
    repeat: { type: "string" }, bin: { type: "string" }, dir: { type: "string" }, keep: { type: "boolean" },
    vocab: { type: "string" }, preset: { type: "string" }, ctx: { type: "string" }, issue10: { type: "boolean" },
  },
});
// The vocabulary fixture each preset's real model's tokenizer is closest to.
const PRESET_VOCAB = [
  [/^(embeddinggemma|gemma)/, "llama-spm"], [/^(bge-m3|multilingual|xlmr|nomic-embed-text-v2|nomic-moe)/, "nomic-bert-moe"],
  [/^(gte-modernbert|modernbert|jina-v2-base-code|jina-code)/, "gpt-2"], [/./, "bert-bge"],
];
const ISSUE10 = ["embeddinggemma-300m", "bge-m3", "jina-v2-base-en", "jina-v2-base-code", "gte-modernbert-base",
  "nomic-embed-text-v2-moe"];
const i10 = values.issue10;
const threads = Number(values.threads);
const batches = (values["batch-texts"] ?? (i10 ? "10" : "1,10,100")).split(",").map(Number);
const tokens = Number(values.tokens ?? (i10 ? "64" : "60"));
const types = (values.types ?? (i10 ? "q8_0" : "q8_0,q4_K_M")).split(",");
const repeat = values.repeat ? Number(values.repeat) : 0;
const bin = findBin(values.bin);
const fixture = (name) => vocabFile(`ggml-vocab-${name}.gguf`);
const models = (values.preset ? values.preset.split(",") : i10 ? ISSUE10 : ["nomic-embed-text"]).map((e) => {
  const [preset, ...rest] = e.split(":");
  let vocab = values.vocab, ctx = values.ctx ?? (i10 ? "512" : undefined);
  for (const r of rest) {
    if (r.startsWith("ctx=")) ctx = r.slice(4);
    else vocab = fixture(r);
  }
  vocab ??= fixture(PRESET_VOCAB.find(([re]) => re.test(preset))[1]);
  return { preset, vocab, ctx };
});
checkRef();
const dir = values.dir ?? mkdtempSync(path.join(os.tmpdir(), "ggembed-bench-bert-"));

console.log(`# encoders: ${models.map((m) => m.preset).join(", ")}; ${threads} threads, texts of about ${tokens} tokens`);
console.log(`# ${machine()}`);
const rows = [], memRows = [], coldRows = [], summary = [];
try {
  for (const { preset, vocab, ctx } of models) for (const type of types) {
    const model = path.join(dir, `${preset}-${type}.gguf`);
    const mk = mkmodel(bin, ["--preset", preset, "--type", type, "--vocab", vocab, ...(ctx ? ["--ctx", ctx] : [])], model);
    const textsFile = path.join(dir, `texts-${preset}-${type}.jsonl`);
    process.stderr.write(`bench_bert: ${preset} ${type}: ${MB(mk.bytes).toFixed(1)} MB file; ggembed...\n`);
    const g = runGgembed(bin, model, { threads, batches, tokens, repeat, textsFile });
    process.stderr.write(`bench_bert: ${preset} ${type}: llama.cpp...\n`);
    const l = runLlama(model, { threads, batches, repeat, textsFile });
    if (!values.keep && !values.dir) rmSync(model, { force: true }); // the next file may be large
    const base = l.rss_anon_baseline;
    for (let i = 0; i < batches.length; i++) {
      const gb = g.batches[i], lb = l.batches[i];
      rows.push([preset, type, `${gb.texts} (${lb.texts} calls)`, f(gb.tokens_per_text), f(gb.texts_per_s, 2), f(lb.texts_per_s, 2),
        f(gb.texts_per_s / lb.texts_per_s, 2), f(gb.ms_per_text), f(lb.ms_per_text), f(gb.cpu_ms_per_text), f(lb.cpu_ms_per_text),
        f(lb.cpu_ms_per_text / gb.cpu_ms_per_text, 2)]);
      memRows.push([preset, type, String(gb.texts), f(MB(gb.peak_rss_anon)), f(MB(lb.peak_rss_anon)), f(MB(lb.peak_rss_anon - base)),
        f(MB(gb.peak_rss_anon) / MB(lb.peak_rss_anon - base), 3), f(MB(gb.peak_rss_file)), f(MB(lb.peak_rss_file))]);
      summary.push([preset, g.arch ?? "-", type, String(gb.texts), f(gb.texts_per_s, 2), f(lb.texts_per_s, 2),
        f(gb.texts_per_s / lb.texts_per_s, 2), f(lb.cpu_ms_per_text / gb.cpu_ms_per_text, 2), loadAvg()]);
    }
    coldRows.push([preset, type, f(MB(mk.bytes)), f(g.load_ms), f(l.load_ms), f(g.first_embed_ms), f(l.first_embed_ms),
      f(MB(g.working_memory), 2), f(MB(base)), String(l.context_size)]);
  }
  console.log("\n## speed (wall time; CPU time = process user+sys, all threads)");
  table(["model", "type", "texts/batch (llama.cpp calls)", "tokens/text", "ggembed texts/s", "llama.cpp texts/s", "ratio g/l",
    "ggembed ms/text", "llama.cpp ms/text", "ggembed CPU ms/text", "llama.cpp CPU ms/text", "CPU ratio l/g"], rows);
  console.log("\n## peak memory, MB (RssAnon/RssFile sampled every 5 ms and after each call)");
  table(["model", "type", "texts/batch", "ggembed RssAnon", "node+llama.cpp RssAnon", "llama.cpp share (minus node baseline)",
    "ratio g/l share", "ggembed RssFile", "node+llama.cpp RssFile"], memRows);
  console.log("\n## load and first embedding (page cache warm)");
  table(["model", "type", "file MB", "ggembed load ms", "llama.cpp load ms (model + context)", "ggembed first embed ms",
    "llama.cpp first embed ms", "ggembed working MB", "node baseline RssAnon MB", "llama.cpp contextSize"], coldRows);
  console.log("\nnode baseline: node with node-llama-cpp and its llama.cpp binary loaded, no model.");
  console.log("llama.cpp embeds one text per getEmbeddingFor() call: a batch of N is N calls in a row.");
  if (models.length > 1) {
    console.log("\n## texts/s per model (wall time; the last column: the 1-minute load average when it ended)");
    table(["model", "architecture", "type", "texts/batch", "ggembed texts/s", "llama.cpp texts/s", "ratio g/l",
      "CPU ratio l/g", "load"], summary);
  }
} finally {
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
}
