#!/usr/bin/env node
// bench.mjs - the Node process's memory and the latency/throughput of
// embedding through the ggembed client (model in the ggembed process),
// compared with node-llama-cpp loading the same model in-process (the
// test-only install in tests/ref: run scripts/setup-ref.sh first).
//
//   node bench/node/bench.mjs [--model FILE] [--bin GGEMBED] [--texts N] [--threads N]
//        [--latency-calls N] [--rounds R] [--preset P] [--type T] [--vocab FILE] [--timeout S]
//        [--sides client,llama]
//
// Without --model a model is generated with `ggembed mkmodel --preset P --type T`
// (default minilm q8_0: 384 dims, 6 layers; token-type embeddings stay f32
// in every type, so llama.cpp loads it). Needs `npm run build` in node/.
//
// Each side runs in its own Node child process (so its RSS is its own),
// with the same texts and thread count, and is killed after --timeout
// seconds (default 900); a side prints one JSON line per finished phase,
// so a side that is stopped still reports what it finished. Phases:
//   latency     one short text, --latency-calls times (default 200): p50, p99
//   throughput  batches of 10 and of 100, interleaved for --rounds rounds
//               (default 3, 200 texts per batch size per round): the median
//               and the best round's texts/s, and CPU ms per text (ggembed:
//               the server process's CPU from /proc plus the Node process's;
//               node-llama-cpp: its process's). node-llama-cpp embeds one
//               text per getEmbeddingFor call, so its "batch" is a loop.
//   memory      --texts texts (default 10,000) in batches of 100 (node-llama-cpp:
//               one call per text): RSS and V8 heapUsed sampled every 20 ms
//               and at every batch; peak RSS and the heap (after a GC) at
//               1k, 5k and the last text. Results are dropped as they come,
//               as a program that stores vectors elsewhere would.
// On a shared machine the numbers move with the load: the CPU ms per text
// is the steadier figure; compare runs, not single numbers.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string' }, bin: { type: 'string' }, texts: { type: 'string' }, threads: { type: 'string' },
    preset: { type: 'string' }, timeout: { type: 'string' }, type: { type: 'string' }, role: { type: 'string' },
    vocab: { type: 'string' }, 'latency-calls': { type: 'string' }, rounds: { type: 'string' }, sides: { type: 'string' },
  },
});
const N = Number(values.texts ?? 10000);
const threads = Number(values.threads ?? 2);
const latencyCalls = Number(values['latency-calls'] ?? 200);
const rounds = Number(values.rounds ?? 3);
const bin = path.resolve(values.bin ?? process.env.GGEMBED_BIN ?? path.join(root, 'build', 'ggembed'));
const MB = 2 ** 20;

const corpus = (n, from = 0) => Array.from({ length: n }, (_, k) => {
  const i = from + k;
  return `function handler${i}(req, res) { // item ${i}: ${['parse the config', 'open a socket', 'sort the list', 'render the page'][i % 4]} and return ${i % 13}`;
});
const short = 'find the config parser';

// ------------------------------------------------------------ a side

/** CPU ms (user + system) of another process, from /proc (null where there is none). */
function procCpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms (USER_HZ 100)
  } catch { return null; }
}
const selfCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

function emit(phase, data) {
  process.stdout.write(JSON.stringify({ phase, ...data }) + '\n');
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const median = (xs) => quantile([...xs].sort((a, b) => a - b), 0.5);

/**
 * side: { one(text), many(texts), cpuMs() } - many() resolves when every
 * text of the batch has its vector.
 */
async function measure(side) {
  emit('start', { rssMB: process.memoryUsage().rss / MB, heapMB: process.memoryUsage().heapUsed / MB });

  // latency of one short text
  for (let i = 0; i < 10; i++) await side.one(short);
  const lat = [];
  for (let i = 0; i < latencyCalls; i++) {
    const t = process.hrtime.bigint();
    await side.one(short);
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  lat.sort((a, b) => a - b);
  emit('latency', { latencyP50Ms: quantile(lat, 0.5), latencyP99Ms: quantile(lat, 0.99), latencyCalls });

  // throughput: batch sizes interleaved so a change of machine load hits both
  const per = 200;
  const tp = { 10: [], 100: [] };
  const cpu = { 10: [], 100: [] };
  for (const b of [10, 100]) await side.many(corpus(b)); // warm
  for (let r = 0; r < rounds; r++) {
    for (const b of [10, 100]) {
      const texts = corpus(b, r * 1000);
      const c0 = side.cpuMs();
      const t = process.hrtime.bigint();
      for (let k = 0; k < per / b; k++) await side.many(texts);
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      const c1 = side.cpuMs();
      tp[b].push(per / s);
      if (c0 !== null && c1 !== null) cpu[b].push((c1 - c0) / per);
    }
  }
  const out = {};
  for (const b of [10, 100]) {
    out[`batch${b}TextsPerS`] = median(tp[b]);
    out[`batch${b}BestTextsPerS`] = Math.max(...tp[b]);
    out[`batch${b}Rounds`] = tp[b].map((x) => Math.round(x));
    if (cpu[b].length) out[`batch${b}CpuMsPerText`] = median(cpu[b]);
  }
  emit('throughput', out);

  // memory while embedding N texts
  globalThis.gc?.();
  const m0 = process.memoryUsage();
  let peakRss = m0.rss;
  let peakHeap = m0.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peakRss) peakRss = m.rss;
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  };
  const timer = setInterval(sample, 20);
  const marks = {};
  const at = new Set([1000, 5000, N]);
  const t0 = process.hrtime.bigint();
  const c0 = side.cpuMs();
  for (let i = 0; i < N; i += 100) {
    const n = Math.min(100, N - i);
    await side.many(corpus(n, i));
    sample();
    if (at.has(i + n)) {
      globalThis.gc?.();
      const m = process.memoryUsage();
      marks[i + n] = { rssMB: m.rss / MB, heapMB: m.heapUsed / MB, peakRssMB: peakRss / MB };
      emit('memory-mark', { marks: { ...marks } }); // kept if the side is stopped later
    }
  }
  clearInterval(timer);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c1 = side.cpuMs();
  emit('memory', {
    texts: N, rssBeforeMB: m0.rss / MB, heapBeforeMB: m0.heapUsed / MB, rssPeakMB: peakRss / MB, heapPeakMB: peakHeap / MB,
    marks, textsPerS: N / secs, cpuMsPerText: c0 !== null && c1 !== null ? (c1 - c0) / N : null,
  });
}

async function roleClient(model) {
  const { Embedder } = await import(pathToFileURL(path.join(root, 'node', 'dist', 'src', 'index.js')).href);
  const e = await Embedder.start({ model, binary: bin, threads, fallback: false });
  try {
    const pid = e.pid;
    const cpuMs = () => { const s = procCpuMs(pid); return s === null ? null : s + selfCpuMs(); };
    await measure({ one: (t) => e.embed(t), many: (ts) => e.embedBatch(ts), cpuMs });
    const s = (await e.stats()).server ?? {};
    emit('server', { serverRssMB: ((s.rss_anon ?? 0) + (s.rss_file ?? 0)) / MB, serverBatches: s.batches, serverRequests: s.embed_requests });
  } finally {
    await e.close();
  }
}

async function roleLlama(model) {
  const { openReference } = await import(pathToFileURL(path.join(root, 'tests', 'ref', 'ref.mjs')).href);
  const ref = await openReference(model, { threads });
  try {
    // node-llama-cpp embeds one text per getEmbeddingFor call
    const many = async (ts) => { for (const t of ts) await ref.embed(t); };
    await measure({ one: (t) => ref.embed(t), many, cpuMs: selfCpuMs });
  } finally {
    await ref.close();
  }
}

if (values.role) {
  if (values.role === 'client') await roleClient(values.model);
  else await roleLlama(values.model);
  process.exit(0);
}

// ------------------------------------------------------------ parent

let tmp = null;
let model = values.model;
let modelDesc = model ? path.basename(model) : '';
if (!model) {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ggembed-bench-'));
  model = path.join(tmp, 'bench.gguf');
  const vocab = values.vocab ?? path.join(root, '..', 'shared', 'fixtures', 'vocab', 'ggml-vocab-bert-bge.gguf');
  const preset = values.preset ?? 'minilm';
  const type = values.type ?? 'q8_0';
  const args = ['mkmodel', '--preset', preset, '--type', type, '-o', model];
  if (existsSync(vocab)) args.push('--vocab', vocab);
  execFileSync(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  modelDesc = `mkmodel --preset ${preset} --type ${type}${existsSync(vocab) ? ` --vocab ${path.basename(vocab)}` : ''}`;
}

function run(role) {
  return new Promise((resolve) => {
    const args = ['--expose-gc', fileURLToPath(import.meta.url), '--role', role, '--model', model, '--bin', bin,
      '--texts', String(N), '--threads', String(threads), '--latency-calls', String(latencyCalls), '--rounds', String(rounds)];
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const r = {};
    let buf = '';
    let killed = false;
    const limit = setTimeout(() => { killed = true; c.kill('SIGKILL'); }, Number(values.timeout ?? 900) * 1000);
    c.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        process.stderr.write(`${role}: ${line}\n`);
        try { Object.assign(r, JSON.parse(line)); } catch { /* not ours */ }
      }
    });
    c.on('exit', (code, signal) => {
      clearTimeout(limit);
      if (killed) r.error = `stopped after ${values.timeout ?? 900} s in the phase after '${r.phase ?? 'start'}'`;
      else if (code !== 0) r.error = `exit ${signal ?? code} after phase '${r.phase ?? 'none'}'`;
      resolve(r);
    });
  });
}

const sides = (values.sides ?? 'client,llama').split(',');
const results = {};
if (sides.includes('client')) results['ggembed client'] = await run('client');
if (sides.includes('llama')) {
  if (existsSync(path.join(root, 'tests', 'ref', 'node_modules', 'node-llama-cpp'))) results['node-llama-cpp in-process'] = await run('llama');
  else results['node-llama-cpp in-process'] = { error: 'not installed (scripts/setup-ref.sh)' };
}
if (tmp) rmSync(tmp, { recursive: true, force: true });

const k = (n) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const mark = (n, f) => (r) => r.marks?.[n]?.[f];
const rows = [
  ['Node RSS after start (MB)', (r) => r.rssMB],
  ...[1000, 5000, N].filter((n, i, a) => n <= N && a.indexOf(n) === i).map((n) => [`Node RSS peak up to ${k(n)} texts (MB)`, mark(n, 'peakRssMB')]),
  ['V8 heap before the run (MB)', (r) => r.heapBeforeMB],
  ...[1000, 5000, N].filter((n, i, a) => n <= N && a.indexOf(n) === i).map((n) => [`V8 heap after GC at ${k(n)} texts (MB)`, mark(n, 'heapMB')]),
  ['V8 heap peak, sampled (MB)', (r) => r.heapPeakMB],
  [`${k(N)} texts: texts/s`, (r) => r.textsPerS],
  [`${k(N)} texts: CPU ms/text`, (r) => r.cpuMsPerText],
  [`latency 1 short text p50 (ms)`, (r) => r.latencyP50Ms],
  [`latency 1 short text p99 (ms)`, (r) => r.latencyP99Ms],
  ['batches of 10: texts/s (median)', (r) => r.batch10TextsPerS],
  ['batches of 10: texts/s (best)', (r) => r.batch10BestTextsPerS],
  ['batches of 10: CPU ms/text', (r) => r.batch10CpuMsPerText],
  ['batches of 100: texts/s (median)', (r) => r.batch100TextsPerS],
  ['batches of 100: texts/s (best)', (r) => r.batch100BestTextsPerS],
  ['batches of 100: CPU ms/text', (r) => r.batch100CpuMsPerText],
  ['ggembed server RSS (MB)', (r) => r.serverRssMB],
];
const cols = Object.keys(results);
const fmt = (v) => (v === undefined || v === null ? '-' : typeof v === 'number' ? v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2) : String(v));
console.log(`model: ${modelDesc}; threads: ${threads} on both sides; ${k(N)} texts; ${latencyCalls} latency calls; ${rounds} throughput rounds; ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}`);
console.log(['| metric'.padEnd(40), ...cols.map((c) => `| ${c}`.padEnd(28)), '|'].join(''));
console.log(['|', '-'.repeat(39), ...cols.map(() => `|${'-'.repeat(27)}`), '|'].join(''));
for (const [label, get] of rows) console.log([`| ${label}`.padEnd(40), ...cols.map((c) => `| ${fmt(get(results[c]))}`.padEnd(28)), '|'].join(''));
for (const c of cols) {
  const r = results[c];
  if (r.batch10Rounds) console.log(`${c}: rounds (texts/s) batches of 10 ${r.batch10Rounds.join(' ')}, of 100 ${r.batch100Rounds.join(' ')}`);
  if (r.error) console.log(`${c}: ${r.error}`);
}
const cl = results['ggembed client'];
const peak = cl?.marks?.[N]?.peakRssMB;
if (peak !== undefined) {
  const h = [1000, 5000, N].map((n) => cl.marks[n]?.heapMB).filter((x) => x !== undefined);
  console.log(`target Node RSS < 100 MB: ${peak < 100 ? 'met' : 'NOT met'} (peak ${peak.toFixed(1)} MB); heap after GC 1k..${k(N)}: ${h.map((x) => x.toFixed(2)).join(' / ')} MB (growth ${(h.at(-1) - h[0]).toFixed(2)} MB)`);
}
