#!/usr/bin/env node
// bench_decoder.mjs - decoder models (run it through bench_decoder.sh):
// ggembed against llama.cpp (node-llama-cpp in-process, tests/ref) on a
// nomic-embed-code-shape Q4_K_M file (Qwen2.5-Coder-7B body, about 4.2 GB,
// made by `ggembed mkmodel`, timed), same threads, same 512-token text:
//  - cold start with the page cache dropped (root only; said when not possible):
//    load time and first embedding, each side in a fresh process;
//  - cold start with the page cache warm (another fresh process);
//  - seconds per 512-token text: the warm-cache first embedding, or with
//    --steady one more embedding after it;
//  - peak RssAnon and RssFile (sampled every 5 ms and after each call).
//
//   bench/bench_decoder.sh [--threads 2] [--tokens 512] [--model FILE] [--dir DIR] [--keep] [--bin GGEMBED]
//
// Without --model the file is made in DIR (default: a new directory in the
// system temporary directory, deleted at the end unless --keep) after
// checking there is room for it.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { checkRef, dropCaches, f, findBin, freeBytes, loadAvg, machine, MB, mkmodel, runGgembed, runLlama, table, vocabFile } from "./bench_common.mjs";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "2" }, tokens: { type: "string", default: "512" }, model: { type: "string" },
    dir: { type: "string" }, keep: { type: "boolean" }, bin: { type: "string" }, vocab: { type: "string" },
    steady: { type: "boolean" }, preset: { type: "string", default: "nomic-embed-code" }, type: { type: "string", default: "q4_K_M" },
  },
});
const threads = Number(values.threads);
const tokens = Number(values.tokens);
const bin = findBin(values.bin);
checkRef();
const vocab = values.vocab ?? vocabFile("ggml-vocab-qwen2.gguf");
const made = !values.model;
const dir = values.dir ?? mkdtempSync(path.join(os.tmpdir(), "ggembed-bench-decoder-"));
const log = (m) => process.stderr.write(`bench_decoder: ${m}\n`);

console.log(`# decoder: ${values.preset} shape, ${values.type}, ${threads} threads, a text of about ${tokens} tokens`);
console.log(`# ${machine()}`);
try {
  let model = values.model, mk = null;
  if (made) {
    model = path.join(dir, `${values.preset}-${values.type}.gguf`);
    const free = freeBytes(dir);
    if (free < 6 * 2 ** 30) throw new Error(`${dir}: ${f(free / 2 ** 30)} GB free; the model needs about 4.5 GB (+ margin)`);
    log(`making ${model} (${f(free / 2 ** 30)} GB free)...`);
    mk = mkmodel(bin, ["--preset", values.preset, "--type", values.type, "--vocab", vocab], model);
    console.log(`# mkmodel: ${f(mk.bytes / 1e9, 2)} GB written in ${f(mk.seconds)} s (${f(mk.bytes / 1e6 / mk.seconds)} MB/s), load average ${loadAvg()}`);
  }
  const textsFile = path.join(dir, "texts.jsonl");
  const ctx = tokens + 1; // node-llama-cpp refuses inputs as long as the context
  const runs = {};
  for (const side of ["ggembed", "llama.cpp"]) {
    const run = (batches) => side === "ggembed"
      ? runGgembed(bin, model, { threads, batches, tokens, repeat: 1, textsFile })
      : runLlama(model, { threads, batches, repeat: 1, textsFile, context: ctx });
    const dropped = dropCaches();
    log(`${side}: ${dropped ? "page cache dropped" : "cannot drop the page cache (not root?)"}; cold run...`);
    const cold = run([]); // the first embedding, page cache cold
    log(`${side}: warm-cache start...`);
    // page cache warm: the first embedding is the steady state but for the
    // mapping's minor faults; --steady times one more embedding after it
    const warm = run(values.steady ? [1] : []);
    runs[side] = { cold, warm, dropped };
  }
  const g = runs.ggembed, l = runs["llama.cpp"];
  const coldLabel = g.dropped ? "page cache dropped" : "page cache NOT dropped (no permission): warm";
  const row = (name, r) => [name, f(r.cold.load_ms / 1000, 2), f(r.cold.first_embed_ms / 1000, 2), f(r.cold.cold_start_ms / 1000, 2),
    f(r.warm.load_ms / 1000, 2), f(r.warm.first_embed_ms / 1000, 2), f(r.warm.cold_start_ms / 1000, 2),
    f((r.warm.batches[0]?.ms_per_text ?? r.warm.first_embed_ms) / 1000, 2),
    f((r.warm.batches[0]?.cpu_ms_per_text ?? r.warm.first_embed_cpu_ms) / 1000, 2),
    f(MB(Math.max(r.cold.peak_rss_anon, r.warm.peak_rss_anon))), f(MB(Math.max(r.cold.peak_rss_file, r.warm.peak_rss_file))),
    String(r.cold.first_embed_tokens)];
  console.log(`\n## seconds and peak MB (cold = ${coldLabel})`);
  table(["side", "cold load s", "cold first embed s", "cold: process start to first vector s", "warm load s",
    "warm first embed s", "warm: start to first vector s", values.steady ? "s per text (steady)" : "s per text (= warm first embed)", "CPU s per text", "peak RssAnon MB",
    "peak RssFile MB", "tokens"], [row("ggembed", g), row("llama.cpp (node-llama-cpp)", l)]);
  console.log(`\nllama.cpp: node baseline RssAnon ${f(MB(l.cold.rss_anon_baseline))} MB (node + node-llama-cpp, no model) is included in its peak;`);
  console.log(`llama.cpp share of RssAnon: ${f(MB(l.cold.peak_rss_anon - l.cold.rss_anon_baseline))} MB; contextSize ${l.cold.context_size}.`);
  console.log(`ggembed working memory (allocated at open): ${f(MB(g.cold.working_memory), 2)} MB; tokenizer ${f(MB(g.cold.tokenizer_memory), 2)} MB.`);
  console.log(`"start to first vector": from the process's own start (ggembed: the bench command; node: the script) to the first vector.`);
  console.log(`load average at the end: ${loadAvg()} (2 shared cores: wall times include other work; CPU s is the process's own).`);
} finally {
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
}
