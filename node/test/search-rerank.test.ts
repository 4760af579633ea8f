// search_code with a reranker (a tiny cross-encoder from `ggembed mkmodel`,
// random weights): properties that hold whatever the weights. The answer is
// the best `limit` of the hybrid order's first K by the reranker's own
// scores (Embedder.rerank of the same pairs), best first; an exact
// identifier still finds its definition first; a reranker that is down or
// degraded leaves the hybrid order, flagged; configuration mistakes end the
// bin at once. Both stores.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { at } from '../src/arrays.js';
import { Embedder } from '../src/index.js';
import { indexRepository } from '../src/search/indexer.js';
import { LanceStore } from '../src/search/lance-store.js';
import { RERANK_MAX_CANDIDATES, rerankCandidates, type SearchResult, searchCode, searchCodeReranked } from '../src/search/search.js';
import { FileStore, type SearchStore } from '../src/search/store.js';
import { alive, assertClose, FAST, makeReranker, PKG, requireBinary, until } from './helpers.js';
import { INDEX_SOURCES, searchFixture } from './search-helpers.js';

const fx = searchFixture();
let dir: string;
let e: Embedder;
let reranker: Embedder;
let rerankerFile: string;
let root: string;
const stores: { name: string; store: SearchStore }[] = [];

before(async () => {
  ({ dir, e } = await fx.start());
  rerankerFile = makeReranker(dir);
  reranker = await Embedder.start({ model: rerankerFile, binary: requireBinary(), ...FAST, healthIntervalMs: 0 });
  root = fx.makeRepo('repo', INDEX_SOURCES);
  const file = await FileStore.open(path.join(dir, 'idx-file'));
  const lance = await LanceStore.open(path.join(dir, 'idx-lance'));
  for (const [name, store] of [
    ['file', file],
    ['lance', lance],
  ] as const) {
    await store.setMeta({ model: 'tiny', dims: 64 });
    const r = await indexRepository(root, e, store, { maxTokens: 128 });
    assert.deepEqual(r.errors, []);
    stores.push({ name, store });
  }
  await lance.optimize();
});
after(async () => {
  for (const s of stores) await s.store.close();
  await reranker?.close();
});

/** A chunk's text as the reranker is given it: its lines in the file. */
const textOf = (r: SearchResult) =>
  readFileSync(path.join(root, r.file), 'utf8')
    .split(/\r?\n/)
    .slice(r.startLine - 1, r.endLine)
    .join('\n');
/** The names a chunk's symbol answers to: itself, and each of merged neighbours' and a member's parts. */
const names = (symbol: string | null) => (symbol ? [symbol, ...symbol.split(/, |\./)] : []);
const where = (r: SearchResult) => `${r.file}:${r.startLine}-${r.endLine}`;

// sentences: no keyword half, so no exact-name tier; only the vectors, BM25 and the reranker order them
const QUERIES = [
  'convert a half precision floating point number to single precision',
  'wait longer before each retry when the connection keeps failing',
  'multiply two quantized blocks and add up the products',
  'download the model file again when its checksum does not match',
];

test('K: max(limit x 3, 30), at least limit, at most the bound; an override is taken within those', () => {
  assert.equal(rerankCandidates(1), 30);
  assert.equal(rerankCandidates(10), 30);
  assert.equal(rerankCandidates(20), 60);
  assert.equal(rerankCandidates(100), RERANK_MAX_CANDIDATES);
  assert.equal(rerankCandidates(10, 5), 10, 'never fewer than limit');
  assert.equal(rerankCandidates(10, 50), 50);
  assert.equal(rerankCandidates(10, 10_000), RERANK_MAX_CANDIDATES);
});

test("the answer is the hybrid order's first K, best `limit` by the reranker's scores of the same pairs, best first", async () => {
  for (const { name, store } of stores) {
    let reordered = 0;
    for (const q of QUERIES) {
      for (const [limit, k] of [
        [5, 30],
        [3, 12],
      ] as const) {
        const hybrid = await searchCode(root, store, e, q, { limit: k });
        assert.ok(hybrid.length > limit, `${name}: ${hybrid.length} candidates for '${q}'`);
        const ref = await reranker.rerank(
          q,
          hybrid.map((r) => textOf(r)),
        );
        const want = hybrid
          .map((r, i) => ({ r, i, s: ref.scores[i] ?? 0 }))
          .sort((a, b) => b.s - a.s || a.i - b.i)
          .slice(0, limit);
        const got = await searchCodeReranked(root, store, e, q, { limit }, { reranker, candidates: k });
        assert.equal(got.reranker.used, true, `${name}: ${got.reranker.reason}`);
        assert.equal(got.reranker.reason, null);
        assert.equal(got.reranker.candidates, hybrid.length);
        assert.deepEqual(
          got.results.map(where),
          want.map((x) => where(x.r)),
          `${name}: '${q}' limit ${limit} of ${k}`,
        );
        assert.deepEqual(
          got.results.map((r) => r.fusedRank),
          want.map((x) => x.i + 1),
        );
        assertClose(
          got.results.map((r) => r.rerankScore ?? Number.NaN),
          want.map((x) => x.s),
          1e-5,
          `${name}: scores`,
        );
        for (const [i, r] of got.results.entries()) {
          assert.equal(r.ranking, 'reranker');
          assert.equal(r.score, r.rerankScore);
          assert.equal(r.fusedScore, at(hybrid, (r.fusedRank ?? 0) - 1).score);
          if (i > 0) assert.ok(r.score <= at(got.results, i - 1).score, 'best first');
        }
        if (want.some((x, i) => x.i !== i)) reordered++;
      }
    }
    // random weights still disagree with the hybrid order: the test sees the reranker's order, not the hybrid one
    assert.ok(reordered > 0, `${name}: the reranker reordered some answer`);
  }
  // the default K: max(limit x 3, 30) of the hybrid order
  const { store } = at(stores, 0);
  const q = at(QUERIES, 0);
  const got = await searchCodeReranked(root, store, e, q, { limit: 4 }, { reranker });
  assert.equal(got.reranker.candidates, Math.min(30, (await searchCode(root, store, e, q, { limit: 30 })).length));
});

test('an exact identifier still finds its definition first: name hits stay on top in their hybrid order', async () => {
  for (const { name, store } of stores) {
    // every function name of the index that is one name (a merged chunk's symbol is several)
    const defined = new Set<string>();
    const fileStore = store instanceof FileStore ? store : (at(stores, 0).store as FileStore);
    for (const f of fileStore.files())
      for (const c of f.chunks) if (c.kind === 'function' && c.symbol && /^[A-Za-z_]\w+$/.test(c.symbol)) defined.add(c.symbol);
    assert.ok(defined.size > 20, `${defined.size} names`);
    let outranked = 0;
    for (const n of defined) {
      const hybrid = await searchCode(root, store, e, n, { limit: rerankCandidates(5) });
      const got = await searchCodeReranked(root, store, e, n, { limit: 5 }, { reranker });
      assert.equal(got.reranker.used, true);
      const first = at(got.results, 0);
      assert.ok(names(first.symbol).includes(n), `${name}: '${n}' first, not ${first.symbol} (${first.ranking})`);
      assert.equal(first.ranking, 'name');
      assert.deepEqual(where(first), where(at(hybrid, 0)), `${name}: '${n}': the hybrid order's first`);
      // the name hits are chunks of that symbol (alone, a member's, or merged with neighbours), in the hybrid order; the reranker orders the rest
      const tops = got.results.filter((r) => r.ranking === 'name');
      assert.ok(tops.every((r) => names(r.symbol).includes(n)));
      assert.deepEqual(
        tops.map((r) => r.fusedRank),
        tops.map((_, i) => i + 1),
      );
      const rest = got.results.filter((r) => r.ranking === 'reranker');
      assert.deepEqual(got.results.slice(tops.length), rest, 'name hits before the rest');
      if (rest.some((r) => (r.rerankScore ?? 0) > (first.rerankScore ?? 0))) outranked++;
    }
    // the rule matters: by the reranker's scores alone some definition would not have come first
    assert.ok(outranked > 0, `${name}: the reranker scored another chunk above the definition for ${outranked} of ${defined.size} names`);
  }
});

test('a degraded reranker (a binary that does not run): the hybrid order, flagged with the reason', async (t) => {
  const bad = await Embedder.start({ model: rerankerFile, binary: '/bin/false', ...FAST, fallback: 'always' });
  t.after(() => bad.close());
  assert.equal(bad.status.degraded, true);
  for (const { name, store } of stores) {
    const q = at(QUERIES, 1);
    const hybrid = await searchCode(root, store, e, q, { limit: 5 });
    const got = await searchCodeReranked(root, store, e, q, { limit: 5 }, { reranker: bad });
    assert.equal(got.reranker.used, false);
    assert.match(got.reranker.reason ?? '', /^the reranker is degraded: /);
    assert.deepEqual(got.results.map(where), hybrid.map(where), name);
    assert.deepEqual(
      got.results.map((r) => r.score),
      hybrid.map((r) => r.score),
    );
    assert.ok(got.results.every((r, i) => r.ranking === 'hybrid' && r.fusedRank === i + 1 && r.rerankScore === undefined));
  }
});

test('a reranker process killed for good: the hybrid order, flagged; while it restarts, the search waits for it', async (t) => {
  const { store } = at(stores, 0);
  const q = at(QUERIES, 2);
  const hybrid = await searchCode(root, store, e, q, { limit: 5 });
  // restarted once: the search is reranked by the new process
  const once = await Embedder.start({ model: rerankerFile, binary: requireBinary(), ...FAST, healthIntervalMs: 0 });
  t.after(() => once.close());
  const pid1 = once.pid;
  assert.ok(pid1);
  process.kill(pid1, 'SIGKILL');
  const again = await searchCodeReranked(root, store, e, q, { limit: 5 }, { reranker: once });
  assert.equal(again.reranker.used, true, again.reranker.reason ?? '');
  assert.notEqual(once.pid, pid1);
  // no restarts left: degraded (fallback scores, which search_code does not use) or failed (no fallback)
  for (const fallback of [true, false]) {
    const r = await Embedder.start({ model: rerankerFile, binary: requireBinary(), ...FAST, maxRestarts: 0, fallback });
    t.after(() => r.close());
    const pid = r.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await until(() => !alive(pid) && r.state !== 'ready' && r.state !== 'restarting', 'the reranker down');
    const got = await searchCodeReranked(root, store, e, q, { limit: 5 }, { reranker: r });
    assert.equal(got.reranker.used, false);
    assert.match(got.reranker.reason ?? '', fallback ? /^the reranker is degraded: / : /^the reranker is failed: /);
    assert.deepEqual(got.results.map(where), hybrid.map(where));
    assert.ok(got.results.every((x) => x.ranking === 'hybrid'));
  }
});

// ---------------------------------------------------------------- the bin

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
const body = (r: unknown) => JSON.parse(at((r as ToolResult).content, 0).text);

async function connect(args: string[], env: Record<string, string> = {}): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(PKG, 'dist/src/mcp.js'), '--model', e.info().model, '--binary', requireBinary(), '--threads', '1', ...args],
    env: { ...(process.env as Record<string, string>), GGEMBED_ROOT: root, GGEMBED_STORE: 'file', ...env },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'ggembed-test', version: '0.0.0' });
  await client.connect(transport);
  return client;
}

test('ggembed-mcp --reranker: search_code reranked, index_status and embedder_status report it, the rerank tool uses it', async () => {
  const client = await connect(['--reranker', rerankerFile, '--watch', 'off']);
  try {
    const ix = body(await client.callTool({ name: 'index_codebase', arguments: {} }));
    assert.deepEqual(ix.errors, []);
    const q = at(QUERIES, 0);
    const s = body(await client.callTool({ name: 'search_code', arguments: { query: q, limit: 4 } }));
    assert.equal(s.warning, undefined);
    assert.equal(s.ranking, 'reranker');
    assert.equal(s.reranker.used, true);
    assert.equal(s.reranker.candidates, 30);
    assert.match(s.reranker.model, /bge-reranker-tiny/);
    assert.equal(s.results.length, 4);
    // the same pairs through the reranker directly: the same scores
    const ref = await reranker.rerank(q, s.results.map(textOf));
    assertClose(
      s.results.map((r: SearchResult) => r.rerankScore ?? Number.NaN),
      ref.scores,
      1e-5,
    );
    for (const [i, r] of (s.results as SearchResult[]).entries()) {
      assert.equal(r.ranking, 'reranker');
      assert.ok((r.fusedRank ?? 0) >= 1 && (r.fusedRank ?? 0) <= 30);
      if (i > 0) assert.ok(r.score <= at(s.results as SearchResult[], i - 1).score);
    }
    const k = body(await client.callTool({ name: 'search_code', arguments: { query: q, limit: 4, rerank_candidates: 6 } }));
    assert.equal(k.reranker.candidates, 6);
    assert.ok(k.results.every((r: SearchResult) => (r.fusedRank ?? 0) <= 6));
    const n = body(await client.callTool({ name: 'search_code', arguments: { query: 'float_bits', limit: 3 } }));
    assert.equal(n.results[0].symbol, 'float_bits');
    assert.equal(n.results[0].ranking, 'name');

    const st = body(await client.callTool({ name: 'index_status', arguments: {} }));
    assert.equal(st.reranker.state, 'ready');
    assert.equal(st.reranker.degraded, false);
    assert.equal(st.reranker.file, rerankerFile);
    assert.ok(alive(st.reranker.pid));
    const es = (await client.callTool({ name: 'embedder_status', arguments: {} })) as ToolResult & { structuredContent: any };
    assert.equal(es.structuredContent.reranker.model.reranker, true);
    assert.equal(es.structuredContent.reranker.health.state, 'ready');
    assert.equal(es.structuredContent.model.reranker, false);
    assert.match(at(es.content, 0).text, /The reranker is ready/);
    // rerank goes to the reranker, not to the embedding model
    const rr = (await client.callTool({ name: 'rerank', arguments: { query: q, documents: ['a', 'b c'] } })) as ToolResult;
    assert.ok(!rr.isError, at(rr.content, 0).text);
  } finally {
    await client.close();
  }
});

test('ggembed-mcp without a reranker: search_code answers as before (root and results, no ranking fields)', async () => {
  const client = await connect(['--watch', 'off']);
  try {
    const s = body(await client.callTool({ name: 'search_code', arguments: { query: at(QUERIES, 0), limit: 3 } }));
    assert.deepEqual(Object.keys(s), ['root', 'results']);
    assert.deepEqual(Object.keys(at(s.results as SearchResult[], 0)), [
      'file',
      'startLine',
      'endLine',
      'symbol',
      'language',
      'score',
      'snippet',
    ]);
    assert.equal(body(await client.callTool({ name: 'index_status', arguments: {} })).reranker, null);
  } finally {
    await client.close();
  }
});

test('ggembed-mcp --fallback always with a reranker that cannot start: search_code answers in the hybrid order with a warning', async () => {
  const client = await connect(['--watch', 'off', '--fallback', 'always'], { GGEMBED_RERANKER: path.join(dir, 'missing.gguf') });
  try {
    const s = body(await client.callTool({ name: 'search_code', arguments: { query: at(QUERIES, 0), limit: 3 } }));
    assert.deepEqual(Object.keys(s)[0], 'warning', 'the warning comes first');
    assert.match(s.warning, /^NOT RERANKED: the reranker is degraded: .*missing\.gguf/);
    assert.equal(s.ranking, 'hybrid');
    assert.equal(s.reranker.used, false);
    assert.ok(s.results.length === 3 && s.results.every((r: SearchResult) => r.ranking === 'hybrid'));
    const st = body(await client.callTool({ name: 'index_status', arguments: {} }));
    assert.equal(st.reranker.degraded, true);
    assert.match(st.reranker.reason, /missing\.gguf/);
    const es = (await client.callTool({ name: 'embedder_status', arguments: {} })) as ToolResult;
    assert.match(at(es.content, 0).text, /WARNING: the reranker is degraded/);
  } finally {
    await client.close();
  }
});

test('configuration mistakes end ggembed-mcp at once, naming what was wrong', () => {
  const run = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(
      process.execPath,
      [path.join(PKG, 'dist/src/mcp.js'), '--model', e.info().model, '--binary', requireBinary(), '--threads', '1', ...args],
      { env: { ...process.env, GGEMBED_ROOT: root, ...env }, input: '', encoding: 'utf8', timeout: 60_000 },
    );
    return { status: r.status, stderr: r.stderr };
  };
  const missing = path.join(dir, 'missing.gguf');
  const gone = run(['--reranker', missing]);
  assert.equal(gone.status, 1, gone.stderr);
  assert.match(gone.stderr, new RegExp(`cannot start the reranker ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*does not exist`));
  // an embedding model given as the reranker (here through the environment)
  const emb = run([], { GGEMBED_RERANKER: e.info().model });
  assert.equal(emb.status, 1, emb.stderr);
  assert.match(emb.stderr, /--reranker .*tiny\.gguf: the model \(bert .*\) is not a reranker: its pooling is mean, not rank/);
  const threads = run(['--reranker', rerankerFile, '--reranker-threads', '0']);
  assert.equal(threads.status, 2);
  assert.match(threads.stderr, /--reranker-threads: must be at least 1/);
  const k = run(['--rerank-candidates', '10']);
  assert.equal(k.status, 2);
  assert.match(k.stderr, /--rerank-candidates needs a reranker/);
  const sha = run(['--reranker', rerankerFile, '--reranker-sha256', '0'.repeat(64)]);
  assert.equal(sha.status, 1);
  assert.match(sha.stderr, /cannot start the reranker .*reranker\.gguf: .*SHA-256/i);
});
