#!/usr/bin/env node
// llama_side.mjs - the llama.cpp side of the benchmarks: node-llama-cpp
// in-process, through tests/ref's module API (test-only; scripts/setup-ref.sh
// installs it). Prints one JSON object shaped like `ggembed bench --json`.
//
//   node bench/llama_side.mjs --model FILE --texts TEXTS.jsonl --threads N
//        [--batch-texts 1,10,100] [--repeat R] [--context N] [--sample-ms 5]
//
// TEXTS.jsonl: one JSON string per line (`ggembed bench --dump-texts` writes
// them, so both sides embed the same texts). node-llama-cpp embeds one text
// per getEmbeddingFor() call, so a "batch" of N texts is N calls, one after
// the other.
//
// Memory: RssAnon/RssFile from /proc/self/status, read every --sample-ms by a
// timer (getEmbeddingFor runs in the addon's worker thread, so the timer fires
// while llama.cpp computes) and after every call; the kernel has no peak of
// RssAnon alone. "baseline" is node with node-llama-cpp and its llama.cpp
// binary loaded, before the model: subtract it to see llama.cpp's own share.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const t_start = process.hrtime.bigint();
const here = path.dirname(fileURLToPath(import.meta.url));

function parse(argv) {
  const o = { batches: [1, 10, 100], repeat: 0, threads: 2, sampleMs: 5, context: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--model" || a === "-m") o.model = val();
    else if (a === "--texts") o.texts = val();
    else if (a === "--threads") o.threads = Number(val());
    else if (a === "--batch-texts") {
      const v = val();
      o.batches = v === "none" ? [] : v.split(",").map(Number);
    }
    else if (a === "--repeat") o.repeat = Number(val());
    else if (a === "--context") o.context = Number(val());
    else if (a === "--sample-ms") o.sampleMs = Number(val());
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.model || !o.texts) throw new Error("--model FILE and --texts FILE are required");
  if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error("--threads must be an integer >= 1");
  return o;
}

function status() {
  const s = readFileSync("/proc/self/status", "utf8");
  const kb = (k) => {
    const m = s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { anon: kb("RssAnon"), file: kb("RssFile"), hwm: kb("VmHWM") };
}

const mem = { anon: 0, file: 0, allAnon: 0, allFile: 0, samples: 0 };
function sample() {
  const s = status();
  mem.anon = Math.max(mem.anon, s.anon);
  mem.file = Math.max(mem.file, s.file);
  mem.allAnon = Math.max(mem.allAnon, s.anon);
  mem.allFile = Math.max(mem.allFile, s.file);
  mem.samples++;
}
function phaseReset() {
  const s = status();
  mem.anon = s.anon;
  mem.file = s.file;
}
function phasePeaks() {
  sample();
  return { anon: mem.anon, file: mem.file };
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

async function main() {
  const o = parse(process.argv.slice(2));
  const texts = readFileSync(o.texts, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  const need = Math.max(1, ...o.batches);
  if (texts.length < need) throw new Error(`${o.texts} has ${texts.length} texts, fewer than ${need}`);
  const timer = o.sampleMs > 0 ? setInterval(sample, o.sampleMs) : null;
  sample();
  const out = {};
  const ref = await import(pathToFileURL(path.join(here, "..", "tests", "ref", "ref.mjs")).href);
  await ref.getReferenceLlama();
  globalThis.gc?.();
  const base = status();
  out.rss_anon_baseline = base.anon; // node + node-llama-cpp + llama.cpp binary, no model
  out.rss_file_baseline = base.file;

  let t0 = process.hrtime.bigint();
  const r = await ref.openReference(o.model, { threads: o.threads, contextSize: o.context });
  const ctx = await r._context(); // the embedding context is part of loading
  out.load_ms = ms(t0);
  out.context_size = ctx.context?.contextSize ?? o.context ?? r.info.nCtxTrain + 1;
  const after = phasePeaks();
  out.rss_anon_after_open = after.anon;
  out.rss_file_after_open = after.file;
  out.threads = o.threads;

  phaseReset();
  t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await ctx.getEmbeddingFor(texts[0]);
  out.first_embed_ms = ms(t0);
  const c1 = process.cpuUsage(c0);
  out.first_embed_cpu_ms = (c1.user + c1.system) / 1000;
  out.cold_start_ms = ms(t_start);
  out.first_embed_tokens = ctx.calculateInputLength(texts[0]);
  const fp = phasePeaks();
  out.first_embed_peak_rss_anon = fp.anon;
  out.first_embed_peak_rss_file = fp.file;

  out.batches = [];
  for (const n of o.batches) {
    phaseReset();
    let calls = 0;
    const tb = process.hrtime.bigint();
    const cb = process.cpuUsage();
    for (;;) {
      for (let i = 0; i < n; i++) await ctx.getEmbeddingFor(texts[i]);
      calls++;
      sample();
      const el = ms(tb) / 1000;
      if (o.repeat ? calls >= o.repeat : el >= 3 || calls >= 50) break;
    }
    const seconds = ms(tb) / 1000;
    const cpu = process.cpuUsage(cb);
    let tok = 0;
    for (let i = 0; i < n; i++) tok += ctx.calculateInputLength(texts[i]);
    const p = phasePeaks();
    const perCall = seconds / calls;
    out.batches.push({
      texts: n, calls, seconds, tokens_per_text: tok / n, texts_per_s: n / perCall, ms_per_text: (perCall * 1000) / n,
      tokens_per_s: tok / perCall, peak_rss_anon: p.anon, peak_rss_file: p.file,
      cpu_ms_per_text: (cpu.user + cpu.system) / 1000 / calls / n,
    });
    process.stderr.write(`llama_side: ${n} texts: ${calls} calls in ${seconds.toFixed(2)} s\n`);
  }
  if (timer) clearInterval(timer);
  sample();
  out.peak_rss_anon = mem.allAnon;
  out.peak_rss_file = mem.allFile;
  out.vm_hwm = status().hwm;
  out.samples = mem.samples;
  out.sample_ms = o.sampleMs;
  process.stdout.write(JSON.stringify(out) + "\n");
  await r.close();
}

main().catch((e) => {
  process.stderr.write(`llama_side.mjs: ${e.stack || e.message}\n`);
  process.exit(1);
});
