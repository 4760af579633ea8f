// The LanceDB store's write path in bounded frames: a file whose new vectors
// and texts are many times one frame goes to the store process in pieces of
// at most STAGE_BYTES ahead of its record (which carries its chunk list only), is stored whole and every chunk of
// it is found; a store process killed while a file's vectors wait there
// fails that write (never a file recorded without them) and the next run
// brings the index to what a clean run gives.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { at } from '../src/arrays.js';
import type { Embedder } from '../src/index.js';
import { type IndexOptions, indexRepository } from '../src/search/indexer.js';
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

test('a file whose new vectors are many frames long reaches the store process in frames of at most STAGE_BYTES, is stored whole, and each chunk is found', async () => {
  const store = await LanceStore.open(path.join(dir, 'big'));
  await store.setMeta({ model: 'synthetic', dims: 64 });
  const engine = store.engine as ChildEngine;
  const n = 600;
  const items = Array.from({ length: n }, (_, i) => {
    const body = Array.from({ length: 40 }, (_, k) => `  total += value_${k} * ${word(i)};`).join('\n');
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
    chunks: items.map((x, i) => ({ hash: x.hash, startLine: 42 * i + 1, endLine: 42 * i + 42, symbol: word(i), kind: 'function' })),
  };
  await store.putVectors(items);
  await store.putFile(rec);
  // no frame carried more than STAGE_BYTES of vectors and texts (and the JSON around them), or more than the record alone
  const largest = engine.status().largestFrame;
  const record = Buffer.byteLength(JSON.stringify(rec)) + 1024;
  assert.ok(record < textChars / 2, 'the record alone is a fraction of its chunks');
  assert.ok(
    largest <= Math.max(STAGE_BYTES + 4096, record),
    `largest frame to the store process ${largest} bytes, at most ${STAGE_BYTES} + 4 KiB or the record's ${record}`,
  );

  const stored = (await store.fileRecords([rec.path])).get(rec.path);
  assert.deepEqual(stored, rec, 'the record whole');
  assert.equal((await store.stats()).rows, n);
  for (const i of [0, 1, 299, 300, 598, 599]) {
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

for (const when of ['while its vectors are staged', 'after its vectors, before its record'] as const) {
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
