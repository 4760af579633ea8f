#!/usr/bin/env node
// mcp_transcript.mjs - the code search tools of ggembed-mcp in use, driven
// through the MCP SDK's client over stdio exactly as a coding assistant
// drives them, printed as the transcript README.md shows (so that it stays
// true: run this again and paste its output when the tools change).
// index_codebase (with its progress notifications), index_status,
// search_code, clear_index, on a folder of this repository (default
// node/src) with a small model made by `ggembed mkmodel` (default bert-tiny
// with the BGE vocabulary when the fixture is there) and a small reranker
// (`--reranker-preset`, default bge-reranker-tiny; none: no reranker). The
// index it writes in that folder's .ggembed/ is removed at the end.
//
//   node tools/mcp_transcript.mjs [--path node/src] [--preset bert-tiny] [--reranker-preset bge-reranker-tiny|none] [--bin build/ggembed]
//
// Needs the Node package built: cd node && npm ci && npm run build.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// the SDK is the Node package's (dev) dependency
const require = createRequire(path.join(repo, 'node', 'package.json'));
const { Client } = await import(require.resolve('@modelcontextprotocol/sdk/client/index.js'));
const { StdioClientTransport } = await import(require.resolve('@modelcontextprotocol/sdk/client/stdio.js'));

const { values } = parseArgs({
  options: {
    path: { type: 'string', default: 'node/src' },
    preset: { type: 'string', default: 'bert-tiny' },
    'reranker-preset': { type: 'string', default: 'bge-reranker-tiny' },
    bin: { type: 'string', default: path.join(repo, 'build', 'ggembed') },
  },
});
const root = path.resolve(repo, values.path);
const indexDir = path.join(root, '.ggembed');
const hadIndex = existsSync(indexDir);
const work = mkdtempSync(path.join(os.tmpdir(), 'ggembed-transcript-'));
const model = path.join(work, `${values.preset}.gguf`);
const vocab = path.resolve(repo, process.env.GGEMBED_FIXTURES ?? '../shared/fixtures/vocab', 'ggml-vocab-bert-bge.gguf');
const mkmodel = (preset, out) =>
  execFileSync(values.bin, ['mkmodel', '--preset', preset, '-o', out, ...(existsSync(vocab) ? ['--vocab', vocab] : [])], { stdio: 'ignore' });
mkmodel(values.preset, model);
const rerankerPreset = values['reranker-preset'];
const reranker = rerankerPreset === 'none' ? null : path.join(work, `${rerankerPreset}.gguf`);
if (reranker) mkmodel(rerankerPreset, reranker);
const cleanup = () => {
  rmSync(work, { recursive: true, force: true });
  if (!hadIndex) rmSync(indexDir, { recursive: true, force: true });
};
process.on('exit', cleanup);

/** The walk's counts, the skip reasons that occurred only. */
const walkOf = (w) => ({ ...w, skipped: Object.fromEntries(Object.entries(w.skipped).filter(([, n]) => n > 0)) });
/** Paths of this machine out of the transcript. */
const clean = (s) => s.split(root).join(`<repo>/${values.path}`).split(work).join('<models>');
const show = (v) => clean(JSON.stringify(v, null, 2));

const transport = new StdioClientTransport({
  command: process.execPath,
  args: [
    path.join(repo, 'node', 'dist', 'src', 'mcp.js'),
    '--model',
    model,
    ...(reranker ? ['--reranker', reranker] : []),
    '--binary',
    values.bin,
    '--threads',
    '2',
  ],
  env: { ...process.env, GGEMBED_ROOT: root },
  stderr: 'ignore',
});
const client = new Client({ name: 'transcript', version: '0.0.0' });
await client.connect(transport);

async function call(name, args = {}, trim = (x) => x) {
  console.log(`> ${name} ${JSON.stringify(args)}`);
  const progress = [];
  const r = await client.callTool({ name, arguments: args }, undefined, {
    onprogress: (p) => progress.push(`  progress ${p.progress}${p.total === undefined ? '' : `/${p.total}`}: ${clean(p.message ?? '')}`),
  });
  // the first notifications and the last: one per file and per batch is too many to read
  if (progress.length > 6) progress.splice(3, progress.length - 5, `  ... ${progress.length - 5} more`);
  for (const l of progress) console.log(l);
  const text = r.content[0]?.text ?? '';
  if (r.isError) console.log(`< error: ${clean(text)}`);
  else console.log(`< ${show(trim(JSON.parse(text)))}`);
  console.log();
  return r;
}

try {
  const st = (x) => ({ ...x, lastRun: x.lastRun && { by: x.lastRun.by, chunksEmbedded: x.lastRun.chunksEmbedded, ms: x.lastRun.ms } });
  await call('index_codebase', { dry_run: true }, ({ root: r, walk, chunksToEmbed, estimatedMs }) => ({ root: r, walk: walkOf(walk), chunksToEmbed, estimatedMs }));
  await call('index_codebase', {}, ({ root: r, walk, filesChanged, chunks, chunksEmbedded, chunksReused, errors, watching, ms }) => ({
    root: r,
    walk: walkOf(walk),
    filesChanged,
    chunks,
    chunksEmbedded,
    chunksReused,
    errors,
    watching,
    ms,
  }));
  await call('index_status', {}, st);
  const results = ({ root: _r, results: rs, ...rest }) => ({
    ...rest,
    results: rs.map((h) => ({ ...h, snippet: h.snippet.split('\n').slice(0, 2).join('\n') })),
  });
  // the models' weights are random: only the keyword half (names, paths) means something here
  await call('search_code', { query: 'fallbackEmbedding', limit: 2 }, results);
  // a sentence: the reranker orders the hybrid search's first 30 candidates
  if (reranker) await call('search_code', { query: 'wait before restarting the embedder after a crash', limit: 2 }, results);
  await call('search_code', { query: 'backoffDelay', limit: 2, path_glob: '*.ts', language: 'typescript' }, results);
  await call('clear_index');
  await call('index_status', {}, st);
} finally {
  await client.close();
}
