// The incremental index on real code of this repository, with the real embedder (bert-tiny, 128-token context).
import assert from 'node:assert/strict';
import { readFileSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import type { Embedder } from '../src/index.js';
import { chunkFile } from '../src/search/chunker.js';
import { type IndexEmbedder, type IndexOptions, indexRepository } from '../src/search/indexer.js';
import { searchCode } from '../src/search/search.js';
import { type FileRecord, FileStore, sha256 } from '../src/search/store.js';
import { assertOwnTextRanksFirst, type Counted, INDEX_SOURCES, liveHashes, searchFixture } from './search-helpers.js';

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
const { hashesOf, allHashes } = fx;

test('full index, then nothing to do; an edit re-embeds only its changed chunks; a moved function keeps its vector; a deleted file leaves', async () => {
  const root = makeRepo('repo1');
  const store = await FileStore.open(path.join(dir, 'idx1'));
  await store.setMeta({ model: 'tiny', dims: 64 });
  const expected = await allHashes(root, SOURCES);

  // a dry run says what a real run will embed, and stores nothing
  counted.texts = 0;
  const dry = await indexRepository(root, counted, store, { ...OPTS, dryRun: true });
  assert.equal(dry.chunksToEmbed, expected.size);
  assert.ok(dry.estimatedMs !== undefined && dry.estimatedMs >= 0);
  assert.equal(counted.texts, Math.min(16, expected.size), 'only the sample batch is embedded');
  assert.equal([...store.files()].length, 0);
  assert.equal(store.vectorCount, 0);

  counted.texts = 0;
  const r1 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r1.walk.files, SOURCES.length);
  assert.equal(r1.filesChanged, SOURCES.length);
  assert.equal(r1.chunksEmbedded, expected.size);
  assert.equal(counted.texts, expected.size);
  assert.deepEqual(liveHashes(store), expected);
  assert.deepEqual(r1.errors, []);

  // again: nothing read, nothing embedded
  counted.texts = 0;
  const r2 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r2.filesUnchanged, SOURCES.length);
  assert.equal(r2.chunksEmbedded, 0);
  assert.equal(counted.texts, 0);

  // touched but the same content: the hash says unchanged
  utimesSync(path.join(root, 'src/kernels/types.c'), new Date(), new Date(Date.now() + 5000));
  // one line edited inside one function of dot_ref.c
  const rel = 'src/kernels/dot_ref.c';
  const before = new Set(await hashesOf(root, rel));
  const src = readFileSync(path.join(root, rel), 'utf8');
  const lines = src.split('\n');
  const at = lines.findIndex((l) => /^\s+.*sum.*;\s*$/.test(l));
  assert.ok(at > 0, 'a statement to edit');
  lines.splice(at + 1, 0, '    /* edited */');
  writeFileSync(path.join(root, rel), lines.join('\n'));
  const afterEdit = await hashesOf(root, rel);
  const changed = new Set(afterEdit.filter((h) => !before.has(h) && !expected.has(h)));
  assert.ok(
    changed.size >= 1 && changed.size < afterEdit.length / 2,
    `${changed.size} of ${afterEdit.length} chunks changed by a one-line edit`,
  );
  counted.texts = 0;
  const r3 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r3.filesChanged, 1);
  assert.equal(r3.filesUnchanged, SOURCES.length - 1);
  assert.equal(r3.chunksEmbedded, changed.size);
  assert.equal(counted.texts, changed.size);

  // a function moved to another file: its chunk is found by its hash, not embedded again
  const fp = 'src/kernels/fp16.c';
  const fpSrc = readFileSync(path.join(root, fp), 'utf8');
  const fpChunks = await chunkFile(fp, fpSrc, { countTokens: async (t) => (await e.tokenize(t)).length, maxTokens: 128 });
  const moved = fpChunks.find((c) => c.kind === 'function' && !c.symbol?.includes(','))!;
  assert.ok(moved, 'a function chunk in fp16.c');
  const fpLines = fpSrc.split('\n');
  writeFileSync(path.join(root, fp), [...fpLines.slice(0, moved.startLine - 1), ...fpLines.slice(moved.endLine)].join('\n'));
  writeFileSync(path.join(root, 'src/kernels/moved.c'), `${moved.text}\n`);
  const movedHash = sha256(moved.text);
  assert.ok(store.hasVector(movedHash));
  const newHashes = new Set(
    [...(await hashesOf(root, fp)), ...(await hashesOf(root, 'src/kernels/moved.c'))].filter((h) => !store.hasVector(h)),
  );
  counted.texts = 0;
  const r4 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r4.filesChanged, 2);
  assert.equal(r4.chunksEmbedded, newHashes.size);
  assert.ok(store.file('src/kernels/moved.c')!.chunks.some((c) => c.hash === movedHash));

  // deleted: its chunks leave the index
  unlinkSync(path.join(root, 'node/src/connection.ts'));
  const r5 = await indexRepository(root, counted, store, OPTS);
  assert.equal(r5.filesRemoved, 1);
  assert.equal(store.file('node/src/connection.ts'), undefined);
  const reopened = await FileStore.open(path.join(dir, 'idx1'));
  assert.deepEqual([...reopened.files()].map((f) => f.path).sort(), [...store.files()].map((f) => f.path).sort());
  assert.ok(!reopened.file('node/src/connection.ts'));
});

test('an interrupted run resumes where it stopped: nothing lost, nothing embedded twice', async () => {
  const root = makeRepo('repo2');
  const expected = await allHashes(root, SOURCES);
  const idx = path.join(dir, 'idx2');
  const store = await FileStore.open(idx);
  await store.setMeta({ model: 'tiny', dims: 64 });
  // stopped in the middle of a flush: some vectors stored, the files that use them not yet written
  const ac = new AbortController();
  let calls = 0;
  const stopping: IndexEmbedder = {
    embedBatch: async (t, o) => {
      if (++calls === 3) ac.abort();
      return counted.embedBatch(t, o);
    },
    tokenize: (t) => e.tokenize(t),
  };
  counted.texts = 0;
  const r1 = await indexRepository(root, stopping, store, { ...OPTS, batchSize: 8, flushChunks: 1000, signal: ac.signal });
  assert.equal(r1.aborted, true);
  assert.equal(r1.chunksEmbedded, 16);
  assert.equal([...store.files()].length, 0, 'no file written before its whole flush');
  assert.equal(store.vectorCount, 16);
  const firstTexts = counted.texts - 8; // the third request was cut off by the abort

  // a torn journal line and vector record, as a crash mid-write leaves them
  writeFileSync(path.join(idx, 'journal.jsonl'), `${readFileSync(path.join(idx, 'journal.jsonl'), 'utf8')}{"op":"file","fi`);
  writeFileSync(path.join(idx, 'vectors.bin'), Buffer.concat([readFileSync(path.join(idx, 'vectors.bin')), Buffer.alloc(40, 7)]));

  const resumed = await FileStore.open(idx);
  counted.texts = 0;
  const r2 = await indexRepository(root, counted, resumed, OPTS);
  assert.equal(r2.aborted, false);
  assert.equal(firstTexts + counted.texts, expected.size, 'every distinct chunk embedded exactly once over both runs');
  assert.deepEqual(liveHashes(resumed), expected);
  assert.equal([...resumed.files()].length, SOURCES.length);
});

test('the queue is flushed by the size of its texts too: with long texts, files are written as the run goes, whatever flushChunks says', async () => {
  const root = makeRepo('repo5');
  const expected = await allHashes(root, SOURCES);
  for (const [name, flushChars, interleaved] of [
    ['idx5a', 4096, true],
    ['idx5b', 1 << 30, false],
  ] as const) {
    const store = await FileStore.open(path.join(dir, name));
    await store.setMeta({ model: 'tiny', dims: 64 });
    const events: string[] = [];
    const put = store.putFile.bind(store);
    store.putFile = async (rec) => {
      events.push('file');
      return put(rec);
    };
    const embedder: IndexEmbedder = {
      embedBatch: async (t, o) => {
        events.push('embed');
        return e.embedBatch(t, o);
      },
      tokenize: (t) => e.tokenize(t),
    };
    const r = await indexRepository(root, embedder, store, { ...OPTS, flushChunks: 1_000_000, flushChars });
    assert.deepEqual(r.errors, []);
    assert.equal(events.indexOf('file') < events.lastIndexOf('embed'), interleaved, `flushChars ${flushChars}: ${events.join(' ')}`);
    assert.deepEqual(liveHashes(store), expected);
  }
});

test('a forced run, every chunk with a vector already, writes its files as it goes: no write takes more than flushRows rows and one file', async () => {
  const root = makeRepo('repo-rows');
  const store = await FileStore.open(path.join(dir, 'idx-rows'));
  await store.setMeta({ model: 'tiny', dims: 64 });
  assert.deepEqual((await indexRepository(root, e, store, OPTS)).errors, []);
  const counts = await store.counts();
  const largestFile = Math.max(...[...store.files()].map((f) => f.chunks.length));
  const flushRows = 10;
  assert.ok(counts.chunks > flushRows + largestFile, `${counts.chunks} chunks: more than one write's worth`);
  /** the rows of each write */
  const writes: number[] = [];
  const put = store.putFile.bind(store);
  const withBatches = Object.assign(store, {
    async putFiles(recs: FileRecord[]) {
      writes.push(recs.reduce((n, r) => n + r.chunks.length, 0));
      for (const r of recs) await put(r);
    },
  });
  const before = counted.texts;
  const r = await indexRepository(root, counted, withBatches, { ...OPTS, force: true, flushRows });
  assert.deepEqual(r.errors, []);
  assert.equal(counted.texts, before, 'nothing embedded: every chunk had its vector');
  assert.equal(
    writes.reduce((a, b) => a + b, 0),
    counts.chunks,
    'every row written',
  );
  assert.ok(writes.length >= 2, `written in ${writes.length} writes`);
  for (const w of writes)
    assert.ok(w < flushRows + largestFile, `a write of ${w} rows (flushRows ${flushRows}, largest file ${largestFile})`);
  assert.deepEqual(await store.counts(), counts);
});

test("search: a chunk's own text finds that chunk first; an exact identifier finds its definition first; filters apply", async () => {
  const root = makeRepo('repo3');
  const store = await FileStore.open(path.join(dir, 'idx3'));
  await store.setMeta({ model: 'tiny', dims: 64 });
  await indexRepository(root, e, store, OPTS);
  await assertOwnTextRanksFirst(root, store, e, 'src/kernels/dot_ref.c');
  const named: [name: string, file: string][] = [
    ['fallbackEmbedding', 'node/src/fallback.ts'],
    ['float_bits', 'src/kernels/fp16.c'],
  ];
  for (const [name, file] of named) {
    const [first] = await searchCode(root, store, e, name, { limit: 5 });
    assert.ok(first, `a result for ${name}`);
    assert.equal(first.file, file);
    assert.equal(first.symbol, name);
    assert.match(first.snippet, new RegExp(name));
  }
  const onlyTs = await searchCode(root, store, e, 'float_bits', { limit: 5, pathGlob: 'node/**/*.ts' });
  assert.ok(onlyTs.length > 0 && onlyTs.every((r) => r.file.startsWith('node/') && r.file.endsWith('.ts')));
  const onlyC = await searchCode(root, store, e, 'backoff', { limit: 5, language: 'c' });
  assert.ok(onlyC.length > 0 && onlyC.every((r) => r.language === 'c'));
});

test('nearest() rejects a query vector of other dims than the index instead of scoring it', async () => {
  const store = await FileStore.open(path.join(dir, 'idx-dims'));
  await store.setMeta({ model: 'tiny', dims: 4 });
  await store.putVectors([{ hash: sha256('a'), vector: new Float32Array([1, 0, 0, 0]) }]);
  assert.equal((await store.nearest(new Float32Array([1, 0, 0, 0]), 1, () => true)).length, 1);
  await assert.rejects(
    store.nearest(new Float32Array([1, 0]), 1, () => true),
    /query vector of 2 dims for an index of 4/,
  );
  await assert.rejects(
    store.nearest(new Float32Array(8), 1, () => true),
    /query vector of 8 dims for an index of 4/,
  );
});
