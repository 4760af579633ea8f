#!/usr/bin/env node
// bench.mjs - the Node process's memory and the latency/throughput of
// embedding through the ggembed client (model in the ggembed process),
// compared with node-llama-cpp loading the same model in-process (the
// test-only install in tests/ref: run scripts/setup-ref.sh first).
//
//   node bench/node/bench.mjs [--model FILE] [--bin GGEMBED] [--texts N] [--threads N] [--preset P] [--type T] [--timeout S]
//
// Without --model a model is generated with `ggembed mkmodel --preset P`
// (default minilm: 384 dims, 6 layers). Needs `npm run build` in node/.
// Each side runs in its own child process so RSS is measured separately.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string' }, bin: { type: 'string' }, texts: { type: 'string' }, threads: { type: 'string' },
    preset: { type: 'string' }, timeout: { type: 'string' }, type: { type: 'string' }, role: { type: 'string' }, vocab: { type: 'string' },
  },
});
const N = Number(values.texts ?? 10000);
const threads = Number(values.threads ?? 2);
const bin = path.resolve(values.bin ?? process.env.GGEMBED_BIN ?? path.join(root, 'build', 'ggembed'));

const corpus = (n) => Array.from({ length: n }, (_, i) =>
  `function handler${i}(req, res) { // item ${i}: ${['parse the config', 'open a socket', 'sort the list', 'render the page'][i % 4]} and return ${i % 13}`);
const short = 'find the config parser';

function mem() {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

async function measure(embedOne, embedMany) {
  const out = {};
  // latency of one short text
  for (let i = 0; i < 5; i++) await embedOne(short);
  const lat = [];
  for (let i = 0; i < 50; i++) {
    const t = process.hrtime.bigint();
    await embedOne(short);
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  lat.sort((a, b) => a - b);
  out.latencyP50Ms = lat[25];
  for (const b of [10, 100]) {
    const texts = corpus(b);
    const reps = Math.max(2, Math.ceil(1000 / b));
    const t = process.hrtime.bigint();
    for (let r = 0; r < reps; r++) await embedMany(texts);
    out[`batch${b}TextsPerS`] = (reps * b) / (Number(process.hrtime.bigint() - t) / 1e9);
  }
  // memory while embedding N texts in batches of 100
  const all = corpus(N);
  const before = mem();
  const samples = [];
  let peakRss = before.rss;
  for (let i = 0; i < N; i += 100) {
    await embedMany(all.slice(i, i + 100));
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    if ((i + 100) % 1000 === 0) samples.push(mem());
  }
  out.rssBeforeMB = before.rss / 2 ** 20;
  out.rssPeakMB = peakRss / 2 ** 20;
  out.heapFirstMB = samples[0].heap / 2 ** 20;
  out.heapLastMB = samples.at(-1).heap / 2 ** 20;
  out.heapMaxMB = Math.max(...samples.map((s) => s.heap)) / 2 ** 20;
  return out;
}

async function roleClient(model) {
  const { Embedder } = await import(pathToFileURL(path.join(root, 'node', 'dist', 'src', 'index.js')).href);
  const e = await Embedder.start({ model, binary: bin, threads, fallback: false });
  try {
    const r = await measure((t) => e.embed(t), (ts) => e.embedBatch(ts));
    const s = await e.stats();
    r.serverRssMB = ((s.server?.rss_anon ?? 0) + (s.server?.rss_file ?? 0)) / 2 ** 20;
    return r;
  } finally {
    await e.close();
  }
}

async function roleLlama(model) {
  const { openReference } = await import(pathToFileURL(path.join(root, 'tests', 'ref', 'ref.mjs')).href);
  const ref = await openReference(model, { threads });
  try {
    // node-llama-cpp embeds one text per call
    const many = async (ts) => { for (const t of ts) await ref.embed(t); };
    return await measure((t) => ref.embed(t), many);
  } finally {
    await ref.close();
  }
}

if (values.role) {
  const r = values.role === 'client' ? await roleClient(values.model) : await roleLlama(values.model);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}

// parent: make a model if needed, run both sides, print a table
let tmp = null;
let model = values.model;
if (!model) {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ggembed-bench-'));
  model = path.join(tmp, 'bench.gguf');
  const vocab = values.vocab ?? path.join(root, '..', 'shared', 'fixtures', 'vocab', 'ggml-vocab-bert-bge.gguf');
  // f32 by default: the prebuilt llama.cpp of node-llama-cpp refuses some f16 ops of a mkmodel file
  const args = ['mkmodel', '--preset', values.preset ?? 'minilm', '--type', values.type ?? 'f32', '-o', model];
  if (existsSync(vocab)) args.push('--vocab', vocab);
  execFileSync(bin, args, { stdio: 'inherit' });
}

function run(role) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--role', role, '--model', model, '--bin', bin, '--texts', String(N), '--threads', String(threads)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    // a side that takes too long is stopped and reported, not waited for forever
    const limit = setTimeout(() => c.kill('SIGKILL'), Number(values.timeout ?? 900) * 1000);
    c.stdout.on('data', (d) => { out += d; });
    c.on('exit', (code) => {
      clearTimeout(limit);
      process.stderr.write(`${role}: ${out.trim()}\n`);
      try { resolve(code === 0 ? JSON.parse(out.trim().split('\n').at(-1)) : { error: `exit ${code}` }); } catch { resolve({ error: out.slice(0, 200) }); }
    });
  });
}

const results = { 'ggembed client': await run('client') };
if (existsSync(path.join(root, 'tests', 'ref', 'node_modules', 'node-llama-cpp'))) results['node-llama-cpp in-process'] = await run('llama');
else results['node-llama-cpp in-process'] = { error: 'not installed (scripts/setup-ref.sh)' };
if (tmp) rmSync(tmp, { recursive: true, force: true });

const rows = [
  ['Node RSS before (MB)', 'rssBeforeMB'], [`Node RSS peak, ${N} texts (MB)`, 'rssPeakMB'],
  ['V8 heap after 1k texts (MB)', 'heapFirstMB'], [`V8 heap after ${N} texts (MB)`, 'heapLastMB'], ['V8 heap max (MB)', 'heapMaxMB'],
  ['latency, 1 short text p50 (ms)', 'latencyP50Ms'], ['throughput, batches of 10 (texts/s)', 'batch10TextsPerS'],
  ['throughput, batches of 100 (texts/s)', 'batch100TextsPerS'], ['ggembed server RSS (MB)', 'serverRssMB'],
];
const cols = Object.keys(results);
const fmt = (v) => (v === undefined ? '-' : typeof v === 'number' ? v.toFixed(v >= 100 ? 0 : 2) : String(v));
console.log(`model: ${path.basename(model)}, threads: ${threads}, texts: ${N}`);
console.log(['metric'.padEnd(40), ...cols.map((c) => c.padStart(26))].join(''));
for (const [label, key] of rows) console.log([label.padEnd(40), ...cols.map((c) => fmt(results[c][key]).padStart(26))].join(''));
for (const c of cols) if (results[c].error) console.log(`${c}: ${results[c].error}`);
const cl = results['ggembed client'];
if (cl.rssPeakMB !== undefined) console.log(`target RSS < 100 MB: ${cl.rssPeakMB < 100 ? 'met' : 'NOT met'}; heap growth 1k->${N}: ${(cl.heapLastMB - cl.heapFirstMB).toFixed(2)} MB`);
