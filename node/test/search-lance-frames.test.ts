// The LanceDB store's messages in bounded frames: a file whose new vectors
// and texts, and whose chunk list, are many times one frame goes to the store
// process in pieces of at most STAGE_BYTES ahead of its record, is stored
// whole and every chunk of it is found; records come back in answers of at
// most STAGE_BYTES whatever the size of a file or the number asked; a store
// process killed while a file's vectors or chunk list wait there fails that
// write (never a file recorded without them) and the next run brings the
// index to what a clean run gives.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { at } from '../src/arrays.js';
import type { Embedder } from '../src/index.js';
import { type IndexOptions, indexRepository } from '../src/search/indexer.js';
import { LanceEngine } from '../src/search/lance.js';
import { type ChildEngine, LanceStore, STAGE_BYTES, StoreError } from '../src/search/lance-store.js';
import { searchCode } from '../src/search/search.js';
import { allPaths, type FileRecord, sha256 } from '../src/search/store.js';
import { seededUnitVector, until } from './helpers.js';
import { type Counted, searchFixture } from './search-helpers.js';

const fx = searchFixture();
let dir: string;
let e: Embedder;
let counted: Counted;
before(async () => {
  ({ dir, e, counted } = await fx.start());
});

/** a word of consonants only, one per number: the full-text tokenizer splits digits from letters, and its stemmer takes endings like -ed, -e off */
const word = (i: number) => `w${String(i).replace(/\d/g, (d) => 'bcdfghjkmp'[Number(d)] ?? '')}zq`;

/** the largest frame either way between this process and the store process may exceed STAGE_BYTES by this much (the message around a run) */
const SLACK = 4096;

test('a file whose new vectors and whose chunk list are many frames long reaches the store process in frames of at most STAGE_BYTES, is stored whole, and each chunk is found', async () => {
  const store = await LanceStore.open(path.join(dir, 'big'));
  await store.setMeta({ model: 'synthetic', dims: 64 });
  const engine = store.engine as ChildEngine;
  const n = 1500;
  const items = Array.from({ length: n }, (_, i) => {
    const body = Array.from({ length: 16 }, (_, k) => `  total += value_${k} * ${word(i)};`).join('\n');
    const text = `export function ${word(i)}() {\n${body}\n}`;
    return { hash: sha256(text), vector: seededUnitVector(i, 64), text };
  });
  const textChars = items.reduce((s, x) => s + x.text.length, 0);
  assert.ok(textChars > 2 * STAGE_BYTES, `the file's texts (${textChars} chars) are several frames`);
  const rec: FileRecord = {
    path: 'src/big.ts',
    hash: sha256('big'),
    size: textChars,
    mtimeMs: 1,
    language: 'typescript',
    chunks: items.map((x, i) => ({ hash: x.hash, startLine: 18 * i + 1, endLine: 18 * i + 18, symbol: word(i), kind: 'function' })),
  };
  const record = Buffer.byteLength(JSON.stringify(rec));
  assert.ok(record > 2 * STAGE_BYTES, `the record (${record} bytes) is several frames`);
  await store.putVectors(items);
  await store.putFile(rec);
  // no frame carried more than STAGE_BYTES of vectors and texts, or of the chunk list (and the JSON around them)
  const sent = engine.status().largestFrame;
  assert.ok(sent <= STAGE_BYTES + SLACK, `largest frame to the store process ${sent} bytes, at most ${STAGE_BYTES} + ${SLACK}`);

  const stored = (await store.fileRecords([rec.path])).get(rec.path);
  assert.deepEqual(stored, rec, 'the record whole');
  const answered = engine.status().largestReply;
  assert.ok(answered <= STAGE_BYTES + SLACK, `largest answer of the store process ${answered} bytes, at most ${STAGE_BYTES} + ${SLACK}`);
  assert.equal((await store.stats()).rows, n);
  for (const i of [0, 1, 749, 750, n - 2, n - 1]) {
    const it = at(items, i);
    const r = await store.rank({ vector: it.vector, text: word(i), k: 3 });
    assert.equal(at(r.vector, 0).hash, it.hash, `chunk ${i} first by its vector`);
    assert.equal(at(r.text, 0).hash, it.hash, `chunk ${i} first by its own word`);
    assert.equal(at(r.text, 0).symbol, word(i));
  }
  // the staged vectors were taken by the write: nothing waits in the store process
  assert.deepEqual(await store.engine.haveHashes([sha256('never stored')]), []);
  await store.close();
});

/** A file of `n` chunks with their vectors staged: short texts, so the chunk list is most of what the store is sent. */
function fileOf(p: string, n: number, seed: number) {
  const items = Array.from({ length: n }, (_, i) => {
    const text = `const ${word(seed * 10_000 + i)} = ${i}; // ${p}`;
    return { hash: sha256(text), vector: seededUnitVector(seed * 10_000 + i, 64), text };
  });
  const rec: FileRecord = {
    path: p,
    hash: sha256(p),
    size: n * 40,
    mtimeMs: seed,
    language: 'typescript',
    chunks: items.map((x, i) => ({
      hash: x.hash,
      startLine: i + 1,
      endLine: i + 1,
      symbol: word(seed * 10_000 + i),
      kind: 'lexical_declaration',
    })),
  };
  return { items, rec };
}

test('the records of many files come back in answers of at most STAGE_BYTES, each whole; a record rewritten between two pages of its chunk list comes back as one version', async () => {
  const store = await LanceStore.open(path.join(dir, 'many'));
  await store.setMeta({ model: 'synthetic', dims: 64 });
  const engine = store.engine as ChildEngine;
  // 24 files whose chunk lists are several frames each, 100 small ones, in one write
  const files = [
    ...Array.from({ length: 24 }, (_, i) => fileOf(`src/large${i}.ts`, 700, i + 1)),
    ...Array.from({ length: 100 }, (_, i) => fileOf(`src/small${i}.ts`, 3, 100 + i)),
  ];
  for (const f of files) await store.putVectors(f.items);
  await store.putFiles(files.map((f) => f.rec));
  const all = files.reduce((n, f) => n + Buffer.byteLength(JSON.stringify(f.rec)), 0);
  assert.ok(all > 20 * STAGE_BYTES, `the records are ${all} bytes together`);
  assert.ok(engine.status().largestFrame <= STAGE_BYTES + SLACK, `largest frame sent ${engine.status().largestFrame}`);

  const asked = [...files.map((f) => f.rec.path), 'src/none.ts'].reverse();
  const got = await store.fileRecords(asked);
  assert.equal(got.size, files.length);
  for (const f of files) assert.deepEqual(got.get(f.rec.path), f.rec, f.rec.path);
  const answered = engine.status().largestReply;
  assert.ok(answered <= STAGE_BYTES + SLACK, `largest answer of the store process ${answered} bytes, at most ${STAGE_BYTES} + ${SLACK}`);

  // rewritten (another content: other chunks) while its first page is on the way: the new version, whole
  const old = at(files, 0).rec;
  const next = fileOf(old.path, 900, 50);
  await store.putVectors(next.items);
  const pages = engine.fileChunks.bind(engine);
  let rewritten = false;
  engine.fileChunks = async (p, from, budget) => {
    const page = await pages(p, from, budget);
    if (!rewritten) {
      rewritten = true;
      await store.putFile(next.rec);
    }
    return page;
  };
  assert.deepEqual((await store.fileRecords([old.path])).get(old.path), next.rec);
  assert.ok(rewritten);
  await store.close();
});

test('the engine refuses a write whose staged chunk list is not whole (its store process restarted between): nothing of it is written', async () => {
  const engine = await LanceEngine.open(path.join(dir, 'refuse'));
  await engine.setMeta({ model: 'synthetic', dims: 64 });
  const { items, rec } = fileOf('src/half.ts', 40, 7);
  const other = fileOf('src/other.ts', 3, 8);
  await engine.stageVectors([...items, ...other.items]);
  // half the list staged, as a store process started anew after the first pieces would hold it
  await engine.stageChunks(1, rec.chunks.slice(0, 20));
  const write = { rec: { ...rec, chunks: [] }, fresh: [], stagedChunks: { key: 1, count: rec.chunks.length } };
  await assert.rejects(engine.writeFiles([{ rec: other.rec, fresh: [] }, write]), (err: unknown) => {
    return (err as { kind?: string }).kind === 'crashed' && /src\/half\.ts is not whole.*20 of 40/.test((err as Error).message);
  });
  assert.deepEqual((await engine.fileRecords([rec.path, other.rec.path])).records, [], 'neither file of the write');
  // the same write with its list whole: both files, whole
  await engine.stageChunks(2, rec.chunks.slice(0, 25));
  await engine.stageChunks(2, rec.chunks.slice(25));
  assert.deepEqual(
    await engine.writeFiles([
      { rec: other.rec, fresh: [] },
      { ...write, stagedChunks: { key: 2, count: 40 } },
    ]),
    {},
  );
  assert.deepEqual((await engine.fileRecords([rec.path, other.rec.path])).records, [rec, other.rec]);
  await engine.close();
});

/** a text file of `lines` distinct lines: line windows, hundreds of chunks with a 128-token context */
function bigNotes(root: string, lines: number): string {
  const rel = 'docs/notes.txt';
  mkdirSync(path.join(root, 'docs'), { recursive: true });
  const text = Array.from({ length: lines }, (_, i) => `note ${word(i)} on item ${i}: keep the ${word(i * 7)} bounded`).join('\n');
  writeFileSync(path.join(root, rel), `${text}\n`);
  return rel;
}

/** Every record of the store, by path. */
async function records(store: LanceStore): Promise<Map<string, FileRecord>> {
  return store.fileRecords(await allPaths(store));
}

const OPTS: IndexOptions = { maxTokens: 128, batchSize: 16 };

test('a store process past its RSS bound is ended between writes and the next call starts another: the index is what a clean run gives', async () => {
  const root = fx.makeRepo('bounded', ['node/src/backoff.ts', 'node/src/binary.ts', 'src/kernels/fp16.c']);
  const clean = await LanceStore.open(path.join(dir, 'bounded-clean'), { storeRssMb: 0 });
  await clean.setMeta({ model: 'tiny', dims: 64 });
  assert.deepEqual((await indexRepository(root, e, clean, { ...OPTS, flushChunks: 32 })).errors, []);
  const want = await records(clean);
  assert.equal(clean.restarts, 0, 'no bound, no restart');
  await clean.close();

  // a bound every store process is past from its start: each is ended once it has grown by half the bound (0.5 MB) since
  // its first check, not at every write
  const store = await LanceStore.open(path.join(dir, 'bounded-store'), { storeRssMb: 1 });
  await store.setMeta({ model: 'tiny', dims: 64 });
  const engine = store.engine as ChildEngine;
  let writes = 0;
  const putFiles = store.putFiles.bind(store);
  store.putFiles = async (recs) => {
    writes++;
    return putFiles(recs);
  };
  const r = await indexRepository(root, e, store, { ...OPTS, flushChunks: 8 });
  assert.deepEqual(r.errors, []);
  assert.ok(store.restarts >= 1 && store.restarts < writes, `${store.restarts} restarts in ${writes} writes`);
  assert.equal(engine.status().crashes, 0, 'ended, not crashed');
  assert.deepEqual(await records(store), want);
  assert.equal(engine.status().starts, store.restarts + 1, 'a store process started after each restart, as the next call came');
  const [first] = await searchCode(root, store, e, 'fallbackDelay', { limit: 1 });
  assert.ok(first);
  await store.close();
});

for (const when of ['while its vectors are staged', 'after its vectors, before its record', 'while its chunk list is staged'] as const) {
  test(`a store process killed mid-file (${when}): the write fails as 'crashed', no file is recorded without its vectors, and the next run loses nothing`, async () => {
    const root = fx.makeRepo(`kill-${when.length}`, ['node/src/backoff.ts', 'src/kernels/fp16.c']);
    const big = bigNotes(root, 8000);
    // what a clean run gives: the reference
    const clean = await LanceStore.open(path.join(dir, `clean-${when.length}`));
    await clean.setMeta({ model: 'tiny', dims: 64 });
    const r0 = await indexRepository(root, e, clean, OPTS);
    assert.deepEqual(r0.errors, []);
    const want = await records(clean);
    const bigChunks = want.get(big)?.chunks.length ?? 0;
    assert.ok(bigChunks > 100, `the big file has ${bigChunks} chunks`);
    const listBytes = Buffer.byteLength(JSON.stringify(want.get(big)?.chunks));
    assert.ok(listBytes > STAGE_BYTES, `the big file's chunk list (${listBytes} bytes) is more than one frame`);
    await clean.close();

    const store = await LanceStore.open(path.join(dir, `killed-${when.length}`));
    await store.setMeta({ model: 'tiny', dims: 64 });
    const engine = store.engine as ChildEngine;
    let stages = 0;
    let killed = false;
    const kill = async () => {
      const pid = engine.pid;
      assert.ok(pid);
      process.kill(pid, 'SIGKILL');
      killed = true;
      await until(() => engine.state === 'down', 'the store process seen gone');
    };
    const stage = engine.stageVectors.bind(engine);
    engine.stageVectors = async (fresh) => {
      const r = await stage(fresh);
      if (++stages === 10 && when === 'while its vectors are staged') await kill();
      return r;
    };
    const stageChunks = engine.stageChunks.bind(engine);
    engine.stageChunks = async (key, chunks) => {
      const r = await stageChunks(key, chunks);
      if (!killed && when === 'while its chunk list is staged') await kill();
      return r;
    };
    const putFiles = store.putFiles.bind(store);
    store.putFiles = async (recs) => {
      if (!killed && when === 'after its vectors, before its record' && recs.some((r) => r.path === big)) await kill();
      return putFiles(recs);
    };
    await assert.rejects(
      indexRepository(root, counted, store, OPTS),
      (err: unknown) => err instanceof StoreError && err.kind === 'crashed' && /not written/.test(err.message),
    );
    assert.ok(killed, 'killed mid-file');
    const after = await records(store);
    assert.equal(after.get(big), undefined, 'the big file is not recorded without its vectors');
    for (const [p, rec] of after) assert.deepEqual(rec, want.get(p), `${p} as a clean run writes it`);

    // resumed: the index a clean run gives, and the big file's chunks found
    const r2 = await indexRepository(root, counted, store, OPTS);
    assert.deepEqual(r2.errors, []);
    assert.deepEqual(await records(store), want);
    assert.equal(
      (await store.stats()).rows,
      [...want.values()].reduce((s, f) => s + f.chunks.length, 0),
    );
    const lines = readFileSync(path.join(root, big), 'utf8').split('\n');
    const chunks = want.get(big)?.chunks ?? [];
    for (const c of [at(chunks, 0), at(chunks, chunks.length >> 1), at(chunks, chunks.length - 1)]) {
      const text = lines.slice(c.startLine - 1, c.endLine).join('\n');
      const [first] = await searchCode(root, store, e, text, { limit: 3 });
      assert.deepEqual([first?.file, first?.startLine, first?.endLine], [big, c.startLine, c.endLine]);
    }
    await store.close();
  });
}
