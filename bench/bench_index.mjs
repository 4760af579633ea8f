#!/usr/bin/env node
// bench_index.mjs - code search indexing speed: files/s and chunks/s for a
// full index of real trees (this repository, the JavaScript and TypeScript of
// node/node_modules, /usr/include, or --root DIR), with a MiniLM-shaped model
// and a 7B-shaped one (nomic-embed-code, qwen2-7B, Q4_K_M), both made with
// `ggembed mkmodel` (seeded random weights: the speed is the shape's). The 7B
// file has --layers L of its 28 (default 2) and its embedding time is scaled
// to 28 layers, as bench_versions.sh does: the layers are nearly all the
// work. --file-7b FILE uses a whole 7B file as it is instead (all its layers,
// no scaling; e.g. one from `ggembed mkmodel --preset e5-mistral-7b --type
// q4_K_M`). The 7B row indexes only the first --max-files-7b files of each tree.
// chunks/CPU s divides by the CPU time of both processes (Node and
// ggembed, the latter scaled like the time): the figure to compare on a
// loaded machine, where wall time is mostly waiting. Node's RSS is sampled every 20 ms while indexing; it is reported before
// the tree and at its peak (the model runs in the ggembed process, not in
// Node; one process indexes every row, so later rows start from what earlier
// ones left, the tree-sitter grammars loaded among it).
//
//   node bench/bench_index.mjs [--root DIR]... [--bin build/ggembed] [--threads 2]
//        [--trees repo,node_modules,usr-include] [--models minilm,7b] [--layers 2] [--file-7b FILE]
//        [--max-files 2000] [--max-files-7b 10]
//
// Needs the Node package built: cd node && npm ci && npm run build.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';

// the ggembed-mcp bin's young-generation bound, so that the RSS here is the MCP server's
setFlagsFromString('--semi-space-growth-factor=1');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'node', 'dist', 'src');
const { Embedder } = await import(path.join(dist, 'index.js'));
const { indexPaths } = await import(path.join(dist, 'search', 'indexer.js'));
const { IgnoreRules, walkFiles } = await import(path.join(dist, 'search', 'files.js'));
const { FileStore } = await import(path.join(dist, 'search', 'store.js'));

const { values } = parseArgs({
  options: {
    root: { type: 'string', multiple: true },
    trees: { type: 'string', default: 'repo,node_modules,usr-include' },
    bin: { type: 'string', default: path.join(repo, 'build', 'ggembed') },
    threads: { type: 'string', default: '2' },
    models: { type: 'string', default: 'minilm,7b' },
    layers: { type: 'string', default: '2' },
    'file-7b': { type: 'string' },
    'max-files': { type: 'string', default: '2000' },
    'max-files-7b': { type: 'string', default: '10' },
  },
});
const FULL_LAYERS_7B = 28;
const layers = Number(values.layers);
const vocab = path.resolve(repo, process.env.GGEMBED_FIXTURES ?? '../shared/fixtures/vocab');
// node_modules: everything its packages ship (their dist/ and build/ folders too), JavaScript and TypeScript only
const JS_ONLY = ['*', '!*/', '!*.js', '!*.mjs', '!*.cjs', '!*.ts', '!*.mts', '!*.cts'];
const named = {
  repo: { label: 'this repository', root: repo, walk: {} },
  node_modules: { label: 'node_modules JS/TS', root: path.join(repo, 'node', 'node_modules'), walk: { skipDirs: ['.git'], extraIgnore: JS_ONLY } },
  'usr-include': { label: '/usr/include', root: '/usr/include', walk: {} },
};
const trees = values.root
  ? values.root.map((r) => ({ label: r, root: path.resolve(r), walk: {} }))
  : values.trees.split(',').map((t) => {
      if (!named[t]) throw new Error(`unknown tree ${t} (${Object.keys(named).join(', ')})`);
      return named[t];
    });
for (const t of trees) if (!existsSync(t.root)) throw new Error(`${t.root} does not exist: no row for ${t.label}`);

const work = mkdtempSync(path.join(os.tmpdir(), 'ggembed-bench-index-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function mkmodel(name, args) {
  const out = path.join(work, name);
  execFileSync(values.bin, ['mkmodel', ...args, '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}
const withVocab = (file) => (existsSync(path.join(vocab, file)) ? ['--vocab', path.join(vocab, file)] : []);

const models = [];
for (const m of values.models.split(',')) {
  if (m === 'minilm')
    models.push({
      label: 'MiniLM-L6 Q8_0',
      file: mkmodel('minilm.gguf', ['--preset', 'minilm', '--type', 'q8_0', ...withVocab('ggml-vocab-bert-bge.gguf')]),
      scale: 1,
      maxFiles: Number(values['max-files']),
    });
  else if (m === '7b' && values['file-7b'])
    models.push({
      label: `7B ${path.basename(values['file-7b'])} (whole)`,
      file: path.resolve(values['file-7b']),
      scale: 1,
      maxFiles: Number(values['max-files-7b']),
    });
  else if (m === '7b')
    models.push({
      label: `7B qwen2 Q4_K_M (${layers}/${FULL_LAYERS_7B} layers, x${FULL_LAYERS_7B / layers})`,
      file: mkmodel('code7b.gguf', [
        '--preset',
        'nomic-embed-code',
        '--type',
        'q4_K_M',
        '--layers',
        String(layers),
        ...withVocab('ggml-vocab-qwen2.gguf'),
      ]),
      scale: FULL_LAYERS_7B / layers,
      maxFiles: Number(values['max-files-7b']),
    });
  else throw new Error(`unknown model ${m} (minilm, 7b)`);
}

/** CPU seconds (user + system) of a process so far, from /proc (Linux); null elsewhere. */
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (100 per second on Linux)
  } catch {
    return null;
  }
}

/** Indexes one tree from nothing; returns the numbers of one table row. */
async function indexTree(model, tree) {
  const e = await Embedder.start({ model: model.file, binary: values.bin, threads: Number(values.threads), healthIntervalMs: 0 });
  // the embedder's time, to scale a reduced model's to the whole one
  let embedMs = 0;
  const timed = {
    tokenize: (t) => e.tokenize(t),
    embedBatch: async (t, o) => {
      const t0 = performance.now();
      try {
        return await e.embedBatch(t, o);
      } finally {
        embedMs += performance.now() - t0;
      }
    },
  };
  const store = await FileStore.open(path.join(work, `idx-${Math.random().toString(36).slice(2)}`));
  await store.setMeta({ model: model.label, dims: e.info().dims });
  let peak = process.memoryUsage.rss();
  const base = peak;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const child0 = cpuOf(e.pid);
  const paths = [];
  for await (const f of walkFiles(tree.root, tree.walk)) {
    paths.push(f.path);
    if (paths.length >= model.maxFiles) break;
  }
  const r = await indexPaths(new IgnoreRules(tree.root, tree.walk), paths, timed, store, {
    ...tree.walk,
    maxTokens: Math.min(e.info().context ?? 512, 512),
  });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const child1 = cpuOf(e.pid);
  // CPU seconds of both processes, the embedder's scaled like its time: steadier than wall time on a loaded machine
  const embedCpu = child0 === null || child1 === null ? null : (child1 - child0) * model.scale;
  const nodeCpu = (cpu.user + cpu.system) / 1e6;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  await e.close();
  await store.clear();
  const files = r.filesChanged + r.filesUnchanged;
  // the reduced model's embedding time stands for the whole model's; the rest (walk, chunking, tokenizing, store) as measured
  const scaledMs = ms + embedMs * (model.scale - 1);
  return {
    files,
    chunks: r.chunks,
    embedded: r.chunksEmbedded,
    s: scaledMs / 1000,
    filesPerS: files / (scaledMs / 1000),
    chunksPerS: r.chunksEmbedded / (scaledMs / 1000),
    embedShare: (embedMs * model.scale) / scaledMs,
    chunksPerCpuS: embedCpu === null ? null : r.chunksEmbedded / (embedCpu + nodeCpu),
    nodeCpu,
    rssMB: peak / 1048576,
    baseMB: base / 1048576,
    capped: paths.length >= model.maxFiles,
    errors: r.errors.length,
  };
}

console.log(`threads ${values.threads}; ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} at the start`);
console.log(
  `${'model'.padEnd(44)} ${'tree'.padEnd(20)} ${'files'.padStart(6)} ${'chunks'.padStart(7)} ${'s'.padStart(8)} ${'files/s'.padStart(8)} ${'chunks/s'.padStart(9)} ${'embed %'.padStart(8)} ${'chunks/CPU s'.padStart(13)} ${'Node CPU s'.padStart(11)} ${'Node RSS before, peak'.padStart(22)}`,
);
for (const model of models) {
  for (const tree of trees) {
    const x = await indexTree(model, tree);
    console.log(
      `${model.label.padEnd(44)} ${tree.label.padEnd(20)} ${String(x.files).padStart(6)} ${String(x.embedded).padStart(7)} ${x.s.toFixed(1).padStart(8)} ${x.filesPerS.toFixed(1).padStart(8)} ${x.chunksPerS.toFixed(1).padStart(9)} ${(100 * x.embedShare).toFixed(0).padStart(7)}% ${(x.chunksPerCpuS === null ? '-' : x.chunksPerCpuS.toFixed(1)).padStart(13)} ${x.nodeCpu.toFixed(1).padStart(11)} ${`${x.baseMB.toFixed(0)} MB, ${x.rssMB.toFixed(0)} MB`.padStart(22)}${x.capped ? ' (first files only)' : ''}${x.errors ? ` ${x.errors} errors` : ''}`,
    );
  }
}
console.log(`load average ${os.loadavg()[0].toFixed(1)} at the end (wall times include the other work of a shared machine)`);
