// The code search tools of ggembed-mcp, driven by the MCP SDK's client over stdio.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { at } from '../src/arrays.js';
import { FileStore } from '../src/search/store.js';
import { alive, makeModel, PKG, requireBinary, tmpDir, until } from './helpers.js';
import { copyRepo, REPO } from './search-helpers.js';

let dir: string;
let model: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
const body = (r: unknown) => JSON.parse(at((r as ToolResult).content, 0).text);

test('index_codebase (dry run, then with progress), search_code, index_status, clear_index', async () => {
  const root = copyRepo(dir, 'repo', ['node/src/fallback.ts', 'node/src/backoff.ts', 'src/kernels/fp16.c']);
  writeFileSync(path.join(root, '.gitignore'), 'secret/\n');
  mkdirSync(path.join(root, 'secret'));
  writeFileSync(path.join(root, 'secret/keys.ts'), 'export const key = 1;\n');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(PKG, 'dist/src/mcp.js'), '--model', model, '--binary', bin, '--threads', '1'],
    env: { ...(process.env as Record<string, string>), GGEMBED_ROOT: root },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'ggembed-test', version: '0.0.0' });
  await client.connect(transport);
  try {
    const dry = body(await client.callTool({ name: 'index_codebase', arguments: { dry_run: true } }));
    assert.equal(dry.dryRun, true);
    assert.equal(dry.walk.files, 4);
    assert.ok(dry.chunksToEmbed > 0 && dry.estimatedMs >= 0);
    assert.equal(body(await client.callTool({ name: 'index_status', arguments: {} })).files, 0);

    const progress: { progress: number; total?: number; message?: string }[] = [];
    const ix = await client.callTool({ name: 'index_codebase', arguments: {} }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    assert.ok(!(ix as ToolResult).isError, (ix as ToolResult).content[0]?.text);
    const r = body(ix);
    assert.equal(r.walk.files, 4); // the three sources and .gitignore
    assert.equal(r.walk.skipped.ignored, 2); // secret/ by .gitignore, .ggembed/ (the index itself) built in
    assert.equal(r.chunksEmbedded, dry.chunksToEmbed);
    assert.ok(progress.length > 0, 'progress notifications');
    // the files counted first, then done one by one; the chunks pending and the time left once one is embedded
    const last = at(progress, progress.length - 1);
    assert.deepEqual([last.progress, last.total], [4, 4]);
    assert.match(
      last.message ?? '',
      new RegExp(`^4/4 changed files, ${r.chunksEmbedded} chunks embedded, 0 chunks pending, about 0 s left`),
    );
    assert.ok(progress.some((p) => /counting files/.test(p.message ?? '')));

    const again = body(await client.callTool({ name: 'index_codebase', arguments: {} }));
    assert.equal(again.chunksEmbedded, 0);
    assert.equal(again.filesUnchanged, 4);

    const s = body(await client.callTool({ name: 'search_code', arguments: { query: 'float_bits', limit: 3 } }));
    assert.equal(s.results[0].file, 'src/kernels/fp16.c');
    assert.equal(s.results[0].symbol, 'float_bits');
    assert.equal(s.results[0].language, 'c');
    assert.ok(s.results[0].startLine > 0 && s.results[0].endLine >= s.results[0].startLine);
    assert.match(s.results[0].snippet, /float_bits/);
    const bad = (await client.callTool({ name: 'search_code', arguments: { query: '' } })) as ToolResult;
    assert.equal(bad.isError, true);

    const st = body(await client.callTool({ name: 'index_status', arguments: {} }));
    assert.equal(st.files, 4);
    assert.ok(st.chunks >= r.chunks - 1 && st.chunks > 0);
    assert.equal(st.indexing, false);
    assert.ok(st.lastUpdate);
    assert.deepEqual(st.pending, { watcherQueue: 0, files: 0, chunks: 0 });
    assert.equal(st.etaMs, null);
    assert.deepEqual(st.errors, []);
    assert.equal(st.watcher.on, true);

    assert.equal(body(await client.callTool({ name: 'clear_index', arguments: {} })).cleared, true);
    assert.equal(body(await client.callTool({ name: 'index_status', arguments: {} })).files, 0);
    const none = (await client.callTool({ name: 'search_code', arguments: { query: 'float_bits' } })) as ToolResult;
    assert.equal(none.isError, true);
    assert.match(at(none.content, 0).text, /not indexed/);
  } finally {
    await client.close();
  }
});

test('killed mid-run, the server restarted: the index is completed without embedding a stored chunk again', async () => {
  const root = path.join(dir, 'big');
  for (const d of ['src/server', 'src/models', 'src/gguf']) cpSync(path.join(REPO, d), path.join(root, d), { recursive: true });
  const start = (watch: string) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      // over stdio the embedder ends with its parent: a killed server leaves no ggembed behind
      args: [path.join(PKG, 'dist/src/mcp.js'), '--model', model, '--binary', bin, '--threads', '1', '--transport', 'stdio'],
      // the file store: the test counts the vectors stored before the kill by reading its files
      env: { ...(process.env as Record<string, string>), GGEMBED_ROOT: root, GGEMBED_WATCH: watch, GGEMBED_STORE: 'file' },
      stderr: 'ignore',
    });
    return { transport, client: new Client({ name: 'ggembed-test', version: '0.0.0' }) };
  };
  // how many distinct chunks the tree has: a dry run
  const a = start('on');
  await a.client.connect(a.transport);
  let total: number;
  try {
    total = body(await a.client.callTool({ name: 'index_codebase', arguments: { dry_run: true } })).chunksToEmbed;
    assert.ok(total > 500, `${total} chunks`);
    // killed (SIGKILL) once some batches are stored
    let embedded = 0;
    const run = a.client
      .callTool({ name: 'index_codebase', arguments: {} }, undefined, {
        onprogress: (p) => {
          embedded = Number(/(\d+) chunks embedded/.exec(p.message ?? '')?.[1] ?? 0);
        },
      })
      .catch((e: Error) => e);
    await until(() => embedded >= 200, 'some chunks embedded', 120_000);
    // while it runs: what is left, and how long it will take at the rate measured so far
    const mid = body(await a.client.callTool({ name: 'index_status', arguments: {} }));
    assert.equal(mid.indexing, true);
    assert.ok(mid.pending.chunks > 0 && mid.pending.chunks <= total, `${mid.pending.chunks} chunks pending`);
    assert.ok(mid.etaMs > 0, `${mid.etaMs} ms left`);
    assert.match(mid.progress, /changed files, \d+ chunks embedded, \d+ chunks pending, about \d+ s left/);
    const pid = a.transport.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    assert.ok((await run) instanceof Error, 'the call ended with the server');
    await until(() => !alive(pid), 'the server gone');
  } finally {
    await a.client.close().catch(() => {});
  }
  const killed = await FileStore.open(path.join(root, '.ggembed', 'index'));
  const stored = killed.vectorCount;
  assert.ok(stored > 0 && stored < total, `${stored} of ${total} vectors stored before the kill`);

  // restarted: the root was indexed before, so the server brings it up to date by itself
  const b = start('on');
  await b.client.connect(b.transport);
  try {
    let st = body(await b.client.callTool({ name: 'index_status', arguments: {} }));
    await until(
      async () => {
        st = body(await b.client.callTool({ name: 'index_status', arguments: {} }));
        return st.lastRun !== null && !st.indexing;
      },
      'the catch-up run',
      300_000,
    );
    assert.equal(st.lastRun.by, 'watcher');
    assert.equal(st.lastRun.aborted, false);
    assert.equal(st.lastRun.chunksEmbedded, total - stored, 'every stored chunk reused, every other one embedded once');
    const again = body(await b.client.callTool({ name: 'index_codebase', arguments: {} }));
    assert.equal(again.chunksEmbedded, 0);
  } finally {
    await b.client.close();
  }
  const done = await FileStore.open(path.join(root, '.ggembed', 'index'));
  assert.equal(done.vectorCount, total);
});
