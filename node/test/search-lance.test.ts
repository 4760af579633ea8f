// The LanceDB store: the incremental index and hybrid search on real code of
// this repository with the real embedder (bert-tiny, 64 dims, 128-token
// context), the vector index past its threshold, the store process's crash
// and restart, and the load failure that names the way out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { at } from '../src/arrays.js';
import type { Embedder } from '../src/index.js';
import { chunkFile } from '../src/search/chunker.js';
import { type IndexEmbedder, type IndexOptions, indexRepository } from '../src/search/indexer.js';
import { type ChildEngine, LanceStore, StoreError } from '../src/search/lance-store.js';
import { searchCode } from '../src/search/search.js';
import { allPaths, type FileRecord, sha256 } from '../src/search/store.js';
import { alive, PKG, until } from './helpers.js';
import { assertOwnTextRanksFirst, type Counted, INDEX_SOURCES, searchFixture } from './search-helpers.js';

const SOURCES = INDEX_SOURCES;
const OPTS: IndexOptions = { maxTokens: 128, batchSize: 16 };

const fx = searchFixture();
let dir: string;
let e: Embedder;
let counted: Counted;
before(async () => {
  ({ dir, e, counted } = await fx.start());
});
const makeRepo = (name: string) => fx.makeRepo(name, SOURCES);
const { hashesOf } = fx;

/** every record of the index, through the batched lookups */
async function records(store: LanceStore): Promise<FileRecord[]> {
  return [...(await store.fileRecords(await allPaths(store))).values()];
}

async function fileOf(store: LanceStore, p: string): Promise<FileRecord | undefined> {
  return (await store.fileRecords([p])).get(p);
}

async function liveHashes(store: LanceStore): Promise<Set<string>> {
  return new Set((await records(store)).flatMap((f) => f.chunks.map((c) => c.hash)));
}

async function sortedFiles(store: LanceStore): Promise<FileRecord[]> {
  return (await records(store)).sort((a, b) => (a.path < b.path ? -1 : 1));
}

test('LanceStore: full index, an edit re-embeds only its changed chunks, a moved function keeps its vector, a deleted file leaves, all of it survives a restart', async () => {
  const root = makeRepo('repo1');
  const idx = path.join(dir, 'idx1');
  const store = await LanceStore.open(idx);
  await store.setMeta({ model: 'tiny', dims: 64 });
  const expected = new Set<string>();
  for (const s of SOURCES) for (const h of await hashesOf(root, s)) expected.add(h);

  counted.texts = 0;
  const r1 = await indexRepository(root, counted, store, OPTS);
  assert.deepEqual(r1.errors, []);
  assert.equal(r1.chunksEmbedded, expected.size);
  assert.deepEqual(await liveHashes(store), expected);
  assert.equal(
    (await store.stats()).rows,
    (await records(store)).reduce((n, f) => n + f.chunks.length, 0),
  );

  // one line edited in one function: only that file's changed chunks are embedded
  const rel = 'src/kernels/dot_ref.c';
  const before = new Set(await hashesOf(root, rel));
  const lines = readFileSync(path.join(root, rel), 'utf8').split('\n');
  const i = lines.findIndex((l) => /^\s+.*sum.*;\s*$/.test(l));
  lines.splice(i + 1, 0, '    /* edited */');
  writeFileSync(path.join(root, rel), lines.join('\n'));
  const changed = new Set((await hashesOf(root, rel)).filter((h) => !before.has(h) && !expected.has(h)));
  assert.ok(changed.size >= 1);
  counted.texts = 0;
  const r2 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r2.filesChanged, 1);
  assert.equal(r2.chunksEmbedded, changed.size);
  assert.equal(counted.texts, changed.size);

  // a function moved out of fp16.c (written first in the walk) into a new file: its vector comes along, nothing embedded for it
  const fp = 'src/kernels/fp16.c';
  const fpSrc = readFileSync(path.join(root, fp), 'utf8');
  const fpChunks = await chunkFile(fp, fpSrc, { countTokens: async (t) => (await e.tokenize(t)).length, maxTokens: 128 });
  const moved = fpChunks.find((c) => c.kind === 'function' && !c.symbol?.includes(','));
  assert.ok(moved, 'a function chunk in fp16.c');
  const fpLines = fpSrc.split('\n');
  writeFileSync(path.join(root, fp), [...fpLines.slice(0, moved.startLine - 1), ...fpLines.slice(moved.endLine)].join('\n'));
  writeFileSync(path.join(root, 'src/kernels/moved.c'), `${moved.text}\n`);
  const movedHash = sha256(moved.text);
  const candidates = [...(await hashesOf(root, fp)), ...(await hashesOf(root, 'src/kernels/moved.c'))];
  const stored = await store.haveVectors(candidates);
  const newHashes = new Set(candidates.filter((h) => !stored.has(h)));
  counted.texts = 0;
  const r3 = await indexRepository(root, counted, store, { ...OPTS, flushChunks: 100_000 });
  assert.deepEqual(r3.errors, []);
  assert.equal(r3.chunksEmbedded, newHashes.size);
  const movedRec = await fileOf(store, 'src/kernels/moved.c');
  assert.ok(movedRec?.hash, 'moved.c recorded whole');
  assert.ok(movedRec.chunks.some((c) => c.hash === movedHash));

  // deleted: its rows leave the table
  unlinkSync(path.join(root, 'node/src/connection.ts'));
  const r4 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r4.filesRemoved, 1);
  assert.equal(await fileOf(store, 'node/src/connection.ts'), undefined);
  const q = await e.embed('connection', {});
  const all = await store.rank({ vector: q.embedding, text: 'connection socket', k: 1000 });
  assert.ok(![...all.vector, ...all.text].some((h) => h.path === 'node/src/connection.ts'));
  const rows = (await store.stats()).rows;
  assert.equal(
    rows,
    (await records(store)).reduce((n, f) => n + f.chunks.length, 0),
  );

  // closed and opened again (a new store process): the same files, chunks and rows
  const files = await sortedFiles(store);
  await store.close();
  const reopened = await LanceStore.open(idx);
  assert.deepEqual(await sortedFiles(reopened), files);
  assert.equal((await reopened.stats()).rows, rows);
  assert.equal(reopened.meta?.model, 'tiny');
  counted.texts = 0;
  const r5 = await indexRepository(root, counted, reopened, OPTS);
  assert.equal(r5.filesUnchanged, SOURCES.length);
  assert.equal(counted.texts, 0);
  await reopened.close();
});

test("LanceStore hybrid search: a chunk's own text ranks it first, an exact identifier its definition first (BM25 half), filters go into the store's query", async () => {
  const root = makeRepo('repo2');
  const store = await LanceStore.open(path.join(dir, 'idx2'));
  await store.setMeta({ model: 'tiny', dims: 64 });
  await indexRepository(root, e, store, OPTS);
  await assertOwnTextRanksFirst(root, store, e, 'src/kernels/dot_ref.c');
  const named: [name: string, file: string][] = [
    ['fallbackEmbedding', 'node/src/fallback.ts'],
    ['float_bits', 'src/kernels/fp16.c'],
  ];
  for (const [name, file] of named) {
    // the full-text half on its own finds the chunks that use the name
    const q = await e.embed(name, {});
    const halves = await store.rank({ vector: q.embedding, text: name, k: 20 });
    assert.ok(
      halves.text.some((h) => h.path === file && h.symbol === name),
      `BM25 finds the definition of ${name}`,
    );
    const [first] = await searchCode(root, store, e, name, { limit: 5 });
    assert.ok(first, `a result for ${name}`);
    assert.equal(first.file, file);
    assert.equal(first.symbol, name);
    assert.match(first.snippet, new RegExp(name));
  }
  const onlyTs = await searchCode(root, store, e, 'float_bits', { limit: 5, pathGlob: 'node/**/*.ts' });
  assert.ok(onlyTs.length > 0 && onlyTs.every((r) => r.file.startsWith('node/') && r.file.endsWith('.ts')));
  const onlyKernels = await searchCode(root, store, e, 'float', { limit: 50, pathGlob: 'src/kernels/*.c' });
  assert.ok(onlyKernels.length > 0 && onlyKernels.every((r) => /^src\/kernels\/[^/]+\.c$/.test(r.file)));
  const onlyC = await searchCode(root, store, e, 'backoff', { limit: 5, language: 'c' });
  assert.ok(onlyC.length > 0 && onlyC.every((r) => r.language === 'c'));
  // a quote in a filter is data, not SQL
  assert.deepEqual(await searchCode(root, store, e, 'backoff', { limit: 5, language: "c' OR '1'='1" }), []);
  await store.close();
});

/** The counted embedder, which aborts `ac` as its `n`th request starts (the request itself is answered). */
function abortingAt(n: number, ac: AbortController): IndexEmbedder {
  let calls = 0;
  return {
    embedBatch: async (t, o) => {
      if (++calls === n) ac.abort();
      return counted.embedBatch(t, o);
    },
    tokenize: (t) => e.tokenize(t),
  };
}

test('LanceStore: an interrupted run resumes where it stopped, in the same server and after a restart: nothing lost, nothing embedded twice', async (t) => {
  const root = makeRepo('repo-resume');
  const expected = new Set<string>();
  for (const s of SOURCES) for (const h of await hashesOf(root, s)) expected.add(h);
  const opened: LanceStore[] = [];
  t.after(async () => {
    for (const s of opened) await s.close().catch(() => {});
  });
  const open = async (idx: string) => {
    const s = await LanceStore.open(idx);
    opened.push(s);
    return s;
  };

  // cancelled in the middle of a flush, the server stays up: the vectors made so far wait for their files
  let store = await open(path.join(dir, 'idx-resume1'));
  await store.setMeta({ model: 'tiny', dims: 64 });
  let ac = new AbortController();
  counted.texts = 0;
  const r1 = await indexRepository(root, abortingAt(3, ac), store, { ...OPTS, batchSize: 8, flushChunks: 1000, signal: ac.signal });
  assert.equal(r1.aborted, true);
  assert.equal(r1.chunksEmbedded, 16);
  assert.deepEqual(await allPaths(store), [], 'no file written before its whole flush');
  const firstTexts = counted.texts - 8; // the third request was cut off by the abort
  counted.texts = 0;
  const r2 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r2.aborted, false);
  assert.deepEqual(r2.errors, []);
  assert.equal(firstTexts + counted.texts, expected.size, 'every distinct chunk embedded exactly once over both runs');
  assert.deepEqual(await liveHashes(store), expected);
  assert.equal((await records(store)).filter((f) => f.hash).length, SOURCES.length);

  // stopped after some flushes, then the server restarts (a new store process): what was written stays, the rest is done
  store = await open(path.join(dir, 'idx-resume2'));
  await store.setMeta({ model: 'tiny', dims: 64 });
  ac = new AbortController();
  const r3 = await indexRepository(root, abortingAt(6, ac), store, { ...OPTS, batchSize: 8, flushChunks: 24, signal: ac.signal });
  assert.equal(r3.aborted, true);
  const written = await records(store);
  assert.ok(written.length > 0 && written.length < SOURCES.length, `${written.length} files written before the stop`);
  for (const f of written) assert.deepEqual(new Set(f.chunks.map((c) => c.hash)), new Set(await hashesOf(root, f.path)), `${f.path} whole`);
  await store.close();
  store = await open(path.join(dir, 'idx-resume2'));
  const stored = await store.haveVectors(expected);
  assert.ok(stored.size > 0);
  counted.texts = 0;
  const r4 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r4.aborted, false);
  assert.equal(r4.filesUnchanged, written.length, 'the files written before the stop are not read again');
  assert.equal(counted.texts, expected.size - stored.size, 'only the chunks not stored are embedded');
  assert.deepEqual(await liveHashes(store), expected);
  assert.equal((await records(store)).filter((f) => f.hash).length, SOURCES.length);
  assert.equal(
    (await store.stats()).rows,
    (await records(store)).reduce((n, f) => n + f.chunks.length, 0),
  );
});

test('an index written before the names half existed gets its full-text index on symbols when the store opens', async (t) => {
  const root = makeRepo('repo-names');
  const idx = path.join(dir, 'idx-names');
  let store = await LanceStore.open(idx, { process: 'inline' });
  // a failed assertion must not leave a store process running
  t.after(() => store.close().catch(() => {}));
  await store.setMeta({ model: 'tiny', dims: 64 });
  await indexRepository(root, e, store, OPTS);
  assert.equal((await store.stats()).namesIndex, true);
  await store.close();
  // as the code before it left the table: the text index only
  const lance = await import('@lancedb/lancedb');
  const db = await lance.connect(idx);
  const chunks = await db.openTable('chunks');
  for (const ix of await chunks.listIndices()) if (ix.columns.includes('symbol')) await chunks.dropIndex(ix.name);
  assert.ok(!(await chunks.listIndices()).some((ix) => ix.columns.includes('symbol')));
  chunks.close();
  db.close();
  store = await LanceStore.open(idx);
  const st = await store.stats();
  assert.equal(st.namesIndex, true);
  assert.equal(st.textIndex, true);
  const q = await e.embed('fallbackEmbedding', {});
  const r = await store.rank({ vector: q.embedding, text: 'fallbackEmbedding', names: 'fallbackEmbedding', k: 5 });
  assert.ok(r.names.some((h) => h.path === 'node/src/fallback.ts' && h.symbol === 'fallbackEmbedding'));
  // the names half matches whole names only, as written in any case
  assert.ok(r.names.every((h) => (h.symbol ?? '').toLowerCase().split(/, |\./).includes('fallbackembedding')));
  await store.close();
});

/** Unit vectors of a fixed seed (a small LCG), so that runs repeat. */
function vectors(n: number, dims: number, seed = 7): Float32Array[] {
  let s = seed;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return Array.from({ length: n }, () => {
    const v = Float32Array.from({ length: dims }, rnd);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

/** Chunks first..first+vs.length-1 (hash of "chunk i"), in files of perFile chunks. */
async function fill(store: LanceStore, vs: Float32Array[], first = 0, perFile = 20): Promise<void> {
  const recs: FileRecord[] = [];
  const items = vs.map((vector, j) => {
    const i = first + j;
    return { hash: sha256(`chunk ${i}`), vector, text: `function f${i}() { return ${i}; }` };
  });
  await store.putVectors(items);
  for (let f = 0; f * perFile < vs.length; f++) {
    const chunks = items.slice(f * perFile, (f + 1) * perFile).map((it, j) => ({
      hash: it.hash,
      startLine: j * 3 + 1,
      endLine: j * 3 + 3,
      symbol: `f${first + f * perFile + j}`,
      kind: 'function',
    }));
    const name = first / perFile + f;
    recs.push({ path: `src/file${name}.ts`, hash: sha256(`file ${name}`), size: 1, mtimeMs: 1, language: 'typescript', chunks });
  }
  await store.putFiles(recs);
}

test('LanceStore: past its row threshold the table gets a vector index, and a stored vector still finds its own chunk first', async () => {
  const store = await LanceStore.open(path.join(dir, 'idx3'), { vectorIndexRows: 600, optimizeRows: 1_000_000 });
  await store.setMeta({ model: 'synthetic', dims: 64 });
  const vs = vectors(1000, 64);
  await fill(store, vs.slice(0, 500));
  assert.equal((await store.optimize()).vectorIndex, null, 'no index below the threshold');
  await fill(store, vs.slice(500), 500);
  const st = await store.optimize();
  assert.ok(st.vectorIndex, `a vector index past the threshold (${st.rows} rows)`);
  for (const i of [0, 123, 456, 789, 999]) {
    const r = await store.rank({ vector: at(vs, i), text: '', k: 5 });
    assert.equal(at(r.vector, 0).hash, sha256(`chunk ${i}`), `chunk ${i} first`);
    assert.ok(at(r.vector, 0).score > 0.999);
  }
  await store.close();
});

test('the store process: a crash fails the call in flight with a typed error, the next call restarts it with the data intact; too many crashes and it stays failed', async () => {
  const store = await LanceStore.open(path.join(dir, 'idx4'));
  await store.setMeta({ model: 'synthetic', dims: 16 });
  const vs = vectors(200, 16, 3);
  await fill(store, vs);
  const engine = store.engine as ChildEngine;
  const pid = engine.pid;
  assert.ok(pid && alive(pid));
  const inFlight = store.rank({ vector: at(vs, 5), text: 'f5', k: 3 });
  process.kill(pid, 'SIGKILL');
  await assert.rejects(inFlight, (err: unknown) => err instanceof StoreError && err.kind === 'crashed' && /SIGKILL/.test(err.message));
  await until(() => engine.state === 'down', 'the store process seen gone');
  const r = await store.rank({ vector: at(vs, 5), text: 'f5', k: 3 });
  assert.equal(at(r.vector, 0).hash, sha256('chunk 5'));
  assert.notEqual(engine.pid, pid, 'a new store process');
  assert.equal((await allPaths(store)).length, 10);

  for (let n = 0; n < 3; n++) {
    const p = engine.pid;
    assert.ok(p);
    process.kill(p, 'SIGKILL');
    await until(() => engine.state !== 'up', 'the store process seen gone');
    if (engine.state === 'down') await store.stats();
  }
  assert.equal(engine.state, 'failed');
  await assert.rejects(store.stats(), (err: unknown) => err instanceof StoreError && err.kind === 'failed');
  await store.close();
});

test('without the LanceDB package the store fails at open with an error naming the package and the file store, never a silent switch', async () => {
  // the compiled sources alone, where no node_modules can be found
  const lone = path.join(dir, 'lone');
  cpSync(path.join(PKG, 'dist', 'src'), path.join(lone, 'src'), { recursive: true });
  writeFileSync(path.join(lone, 'package.json'), '{"type":"module"}');
  const script = `
    const { LanceStore } = await import(${JSON.stringify(path.join(lone, 'src/search/lance-store.js'))});
    for (const where of ['child', 'inline']) {
      try { await LanceStore.open(${JSON.stringify(path.join(dir, 'idx5'))}, { process: where }); console.log(where, 'opened'); }
      catch (e) { console.log(JSON.stringify({ where, name: e.name, kind: e.kind, message: e.message })); }
    }`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: lone, encoding: 'utf8' });
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { where: string; name: string; kind: string; message: string });
  assert.equal(lines.length, 2);
  for (const l of lines) {
    assert.equal(l.name, 'StoreError');
    assert.equal(l.kind, 'unavailable', l.where);
    assert.match(l.message, /@lancedb\/lancedb@0\.37\.1/);
    assert.match(l.message, /store: 'file'/);
  }
});
