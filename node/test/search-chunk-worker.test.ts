// Chunking in a worker thread (chunk-worker.ts): the same chunks as in this
// thread, a thread that dies on a file (an error, an exit, its heap limit)
// fails that file alone and the indexer indexes it by line windows, flagged;
// the thread ends when idle and starts again on demand.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Embedder } from '../src/index.js';
import { ChunkWorker, ChunkWorkerError } from '../src/search/chunk-worker.js';
import { chunkFile } from '../src/search/chunker.js';
import { indexRepository } from '../src/search/indexer.js';
import { FileStore } from '../src/search/store.js';
import { assertCrashedByLineWindows, makeModel, PKG, requireBinary, tmpDir, until } from './helpers.js';

const REPO = path.resolve(PKG, '..');
const CRASHING = new URL('./chunk-crash-thread.js', import.meta.url);
let dir: string;
let e: Embedder;
const count = async (t: string) => (await e.tokenize(t)).length;
const OPTS = { countTokens: count, maxTokens: 128 };

before(async () => {
  dir = tmpDir();
  e = await Embedder.start({ model: makeModel(dir), binary: requireBinary(), healthIntervalMs: 0 });
});
after(async () => {
  await e.close();
  rmSync(dir, { recursive: true, force: true });
});

const FILES = [
  path.join(REPO, 'src/engine.c'),
  path.join(REPO, 'node/src/search/chunker.ts'),
  path.join(REPO, 'tools/gen_unicode.py'),
  path.join(REPO, 'README.md'),
  '/usr/include/stdio.h',
];

test('the worker thread gives the chunks chunkFile gives in this thread', async () => {
  const w = new ChunkWorker();
  try {
    for (const f of FILES) {
      const src = readFileSync(f, 'utf8');
      const here = await chunkFile(f, src, OPTS);
      assert.ok(here.length > 3);
      assert.deepEqual(await w.chunk(f, src, OPTS), here, f);
    }
    assert.equal(w.status().starts, 1, 'one thread for the files that follow one another');
  } finally {
    await w.close();
  }
});

test('a failed token count fails the file, and the thread goes on', async () => {
  const w = new ChunkWorker();
  try {
    const src = readFileSync(path.join(REPO, 'src/engine.c'), 'utf8');
    await assert.rejects(
      w.chunk('engine.c', src, { ...OPTS, countTokens: async () => Promise.reject(new Error('no tokenizer')) }),
      (err: unknown) => err instanceof ChunkWorkerError && err.kind === 'failed' && !err.threadLost && /no tokenizer/.test(err.message),
    );
    assert.equal((await w.chunk('engine.c', src, OPTS)).length > 3, true);
    assert.deepEqual(w.status().crashes, 0);
    assert.equal(w.status().starts, 1);
  } finally {
    await w.close();
  }
});

for (const [how, kind] of [
  ['throw', 'crashed'],
  ['exit', 'crashed'],
  ['oom', 'out-of-memory'],
] as const) {
  test(`a thread that dies mid-file (${how}) fails that file with kind ${kind}; the next file gets a new thread`, async () => {
    const w = new ChunkWorker({ script: CRASHING, resourceLimits: { maxOldGenerationSizeMb: 32 } });
    try {
      const src = readFileSync(path.join(REPO, 'node/src/backoff.ts'), 'utf8');
      await assert.rejects(w.chunk(`crash-${how}.ts`, src, OPTS), (err: unknown) => {
        assert.ok(err instanceof ChunkWorkerError, String(err));
        assert.equal(err.kind, kind);
        assert.ok(err.threadLost);
        assert.match(err.message, new RegExp(`crash-${how}\\.ts`));
        return true;
      });
      assert.deepEqual(await w.chunk('backoff.ts', src, OPTS), await chunkFile('backoff.ts', src, OPTS));
      assert.equal(w.status().crashes, 1);
      assert.equal(w.status().starts, 2);
    } finally {
      await w.close();
    }
  });
}

test('indexing: a file whose thread dies is indexed by line windows and flagged; the others by syntax; the next run tries it again', async () => {
  const root = path.join(dir, 'repo');
  mkdirSync(root, { recursive: true });
  const files = ['backoff.ts', 'fallback.ts', 'arrays.ts'];
  for (const f of files) writeFileSync(path.join(root, f), readFileSync(path.join(PKG, 'src', f)));
  writeFileSync(path.join(root, 'crash-throw.ts'), readFileSync(path.join(PKG, 'src', 'binary.ts')));
  const store = await FileStore.open(path.join(dir, 'idx'));
  await store.setMeta({ model: 'tiny', dims: 64 });
  const w = new ChunkWorker({ script: CRASHING });
  try {
    const r = await indexRepository(root, e, store, { maxTokens: 128, chunker: w });
    assert.equal(r.walk.files, 4);
    assert.deepEqual(
      r.errors.map((x) => x.path),
      ['crash-throw.ts'],
    );
    assert.match(at0(r.errors).message, /the chunker crashed: crash-throw\.ts: .*indexed by line windows instead/);
    assertCrashedByLineWindows(store, files, 'crash-throw.ts');
    const r2 = await indexRepository(root, e, store, { maxTokens: 128, chunker: w });
    assert.equal(r2.filesUnchanged, 3);
    assert.equal(r2.filesChanged, 1);
    assert.equal(r2.errors.length, 1);
    assert.equal(w.status().crashes, 2);
  } finally {
    await w.close();
  }
});

test('the thread ends when idle and starts again for the next file', async () => {
  const w = new ChunkWorker({ idleMs: 50 });
  try {
    const src = readFileSync(path.join(REPO, 'node/src/backoff.ts'), 'utf8');
    assert.equal(w.state, 'off');
    const first = await w.chunk('backoff.ts', src, OPTS);
    await until(() => w.state === 'off', 'the idle thread ended');
    assert.deepEqual(await w.chunk('backoff.ts', src, OPTS), first);
    assert.equal(w.status().starts, 2);
    assert.equal(w.status().crashes, 0);
  } finally {
    await w.close();
  }
  await assert.rejects(w.chunk('backoff.ts', 'x', OPTS), (err: unknown) => err instanceof ChunkWorkerError && err.kind === 'closed');
});

function at0<T>(xs: T[]): T {
  const x = xs[0];
  assert.ok(x !== undefined);
  return x;
}
