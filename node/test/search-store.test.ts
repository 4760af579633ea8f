// The batched lookups of the SearchStore interface (fileRecords, filesUnder,
// haveVectors, counts), the same checks against both stores: FileStore and
// LanceStore with its store process. No model runs: vectors are seeded.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LanceStore } from '../src/search/lance-store.js';
import { allPaths, type FileRecord, FileStore, PATH_BATCH, type SearchStore, sha256 } from '../src/search/store.js';
import { seededUnitVector, tmpDir } from './helpers.js';

const DIMS = 8;
/** more files than one page of filesUnder, and more paths than one IN list of the LanceDB engine (500) */
const FILES = PATH_BATCH + 700;
const PER_FILE = 3;
/** paths a LIKE pattern or an unquoted string would get wrong */
const ODD = ['a/b_c/x.ts', 'a/b%c/y.ts', 'a/bxc/z.ts', "it's/q.ts", 'a/b_c.ts'];

let dir: string;
before(() => {
  dir = tmpDir();
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const vectorOf = (i: number): Float32Array => seededUnitVector(i, DIMS);

const pathOf = (f: number) => (f < ODD.length ? (ODD[f] as string) : `src/d${f % 7}/f${f}.ts`);
const chunkHash = (f: number, j: number) => sha256(`file ${f} chunk ${j}`);

function recordOf(f: number): FileRecord {
  return {
    path: pathOf(f),
    hash: sha256(`file ${f}`),
    size: f,
    mtimeMs: 1000 + f,
    language: 'typescript',
    chunks: Array.from({ length: PER_FILE }, (_, j) => ({
      hash: chunkHash(f, j),
      startLine: j * 10 + 1,
      endLine: j * 10 + 9,
      symbol: j ? `s${f}_${j}` : null,
      kind: j ? 'function' : 'lines',
    })),
  };
}

async function fill(store: SearchStore): Promise<void> {
  await store.setMeta({ model: 'seeded', dims: DIMS });
  for (let first = 0; first < FILES; first += 400) {
    const recs: FileRecord[] = [];
    const items: { hash: string; vector: Float32Array; text: string }[] = [];
    for (let f = first; f < Math.min(FILES, first + 400); f++) {
      const rec = recordOf(f);
      recs.push(rec);
      rec.chunks.forEach((c, j) => {
        items.push({ hash: c.hash, vector: vectorOf(f * PER_FILE + j), text: `file ${f} chunk ${j}` });
      });
    }
    await store.putVectors(items);
    if (store.putFiles) await store.putFiles(recs);
    else for (const r of recs) await store.putFile(r);
  }
}

async function pages(store: SearchStore, prefix: string): Promise<string[][]> {
  const out: string[][] = [];
  for await (const p of store.filesUnder(prefix)) out.push(p);
  return out;
}

const stores: [string, (d: string) => Promise<SearchStore>][] = [
  ['FileStore', (d) => FileStore.open(d)],
  ['LanceStore', (d) => LanceStore.open(d)],
];

for (const [name, open] of stores) {
  test(`${name}: fileRecords, filesUnder, haveVectors and counts answer from the store, in batches`, async () => {
    const idx = path.join(dir, name);
    const store = await open(idx);
    try {
      await fill(store);

      // filesUnder(''): every path once, in pages of at most PATH_BATCH
      const all = await pages(store, '');
      assert.ok(all.length >= 2, `${all.length} pages`);
      for (const p of all) assert.ok(p.length > 0 && p.length <= PATH_BATCH);
      const flat = all.flat();
      assert.equal(flat.length, FILES);
      assert.deepEqual(new Set(flat), new Set(Array.from({ length: FILES }, (_, f) => pathOf(f))));

      // a prefix is a prefix: not a LIKE pattern (_ and % are plain characters), and a quote is a quote
      assert.deepEqual((await allPaths(store, 'a/b_c/')).sort(), ['a/b_c/x.ts']);
      assert.deepEqual((await allPaths(store, 'a/b%c/')).sort(), ['a/b%c/y.ts']);
      assert.deepEqual((await allPaths(store, 'a/b')).sort(), ['a/b%c/y.ts', 'a/b_c.ts', 'a/b_c/x.ts', 'a/bxc/z.ts']);
      assert.deepEqual(await allPaths(store, "it's/"), ["it's/q.ts"]);
      assert.deepEqual(await allPaths(store, 'nowhere/'), []);
      assert.equal(
        (await allPaths(store, 'src/d3/')).length,
        Array.from({ length: FILES }, (_, f) => f).filter((f) => f >= ODD.length && f % 7 === 3).length,
      );

      // fileRecords: exactly the indexed ones among the asked, with what was written
      const asked = [...Array.from({ length: 600 }, (_, i) => pathOf(i * 2)), 'not/indexed.ts', "it's/q.ts"];
      const recs = await store.fileRecords(asked);
      assert.equal(recs.size, 601);
      assert.equal(recs.get('not/indexed.ts'), undefined);
      for (const f of [0, 3, 4, 500, 1198]) assert.deepEqual(recs.get(pathOf(f)), recordOf(f));
      assert.deepEqual((await store.fileRecords([])).size, 0);

      // haveVectors: exactly the stored hashes among the asked
      const hashes = [...Array.from({ length: 700 }, (_, i) => chunkHash(i, i % PER_FILE)), sha256('never stored'), chunkHash(FILES, 0)];
      const have = await store.haveVectors(hashes);
      assert.equal(have.size, 700);
      assert.ok(!have.has(sha256('never stored')));
      assert.ok(have.has(chunkHash(699, 699 % PER_FILE)));

      assert.deepEqual(await store.counts(), { files: FILES, chunks: FILES * PER_FILE });

      // removed files: gone from every lookup; pages read while removing neither skip nor repeat the others
      const seen: string[] = [];
      const removedPaths = new Set<string>();
      for await (const page of store.filesUnder('src/')) {
        seen.push(...page);
        // each time, a path not yet seen leaves
        const later = Array.from({ length: FILES }, (_, f) => pathOf(FILES - 1 - f)).find((p) => !seen.includes(p) && !removedPaths.has(p));
        if (later?.startsWith('src/')) {
          await store.removeFile(later);
          removedPaths.add(later);
        }
      }
      const removed = removedPaths.size;
      assert.ok(removed >= 1);
      assert.equal(new Set(seen).size, seen.length, 'no path twice');
      const kept = Array.from({ length: FILES }, (_, f) => pathOf(f)).filter((p) => p.startsWith('src/') && !removedPaths.has(p));
      for (const p of kept) assert.ok(seen.includes(p), `${p} seen`);
      const gone = [...removedPaths][0] as string;
      assert.equal((await store.fileRecords([gone])).size, 0);
      assert.deepEqual(await store.counts(), { files: FILES - removed, chunks: (FILES - removed) * PER_FILE });
      if (store instanceof LanceStore) {
        // no chunk row refers to a removed file's chunks any more (FileStore keeps vectors until compact)
        const f = Number(/f(\d+)\.ts$/.exec(gone)?.[1]);
        assert.equal((await store.haveVectors([chunkHash(f, 1)])).size, 0);
        assert.equal((await store.haveVectors([chunkHash(f + 1 < FILES && !removedPaths.has(pathOf(f + 1)) ? f + 1 : 10, 1)])).size, 1);
      }

      // what a fresh open answers is what was stored
      await store.close();
      const again = await open(idx);
      assert.deepEqual(await again.counts(), { files: FILES - removed, chunks: (FILES - removed) * PER_FILE });
      assert.deepEqual((await again.fileRecords([pathOf(42)])).get(pathOf(42)), recordOf(42));
      await again.close();
    } finally {
      await store.close().catch(() => {});
    }
  });
}

test('LanceStore keeps no file records in this process: what the store process wrote is what a lookup answers', async () => {
  const store = await LanceStore.open(path.join(dir, 'mirror'));
  try {
    await store.setMeta({ model: 'seeded', dims: DIMS });
    const rec = recordOf(ODD.length);
    await store.putVectors(rec.chunks.map((c, j) => ({ hash: c.hash, vector: vectorOf(j), text: `t${j}` })));
    await store.putFile(rec);
    // the engine (the store process) changes the record behind this object: a lookup sees the change
    await store.engine.removeFiles([rec.path]);
    assert.equal((await store.fileRecords([rec.path])).size, 0);
    assert.deepEqual(await store.counts(), { files: 0, chunks: 0 });
    assert.deepEqual(await allPaths(store), []);
  } finally {
    await store.close();
  }
});

test('LanceStore past its scalar-index threshold: B-tree indexes on hash and path, and the lookups still find rows written after them', async () => {
  const store = await LanceStore.open(path.join(dir, 'btree'), { scalarIndexRows: 1000, optimizeRows: 1_000_000 });
  try {
    await fill(store);
    assert.deepEqual((await store.stats()).scalarIndexes, [], 'none before optimize()');
    const st = await store.optimize();
    assert.deepEqual(st.scalarIndexes, ['chunks.hash', 'chunks.language', 'chunks.path', 'files.path']);
    // written after the indexes: not in them until the next optimize(), found all the same
    const late = FILES + 5;
    const rec = recordOf(late);
    await store.putVectors(rec.chunks.map((c, j) => ({ hash: c.hash, vector: vectorOf(j), text: `late ${j}` })));
    await store.putFile(rec);
    await store.removeFile(pathOf(ODD.length + 1));
    for (const s of [store, await LanceStore.open(path.join(dir, 'btree'))]) {
      assert.deepEqual((await s.fileRecords([rec.path, pathOf(ODD.length), pathOf(ODD.length + 1)])).size, 2);
      assert.deepEqual((await s.fileRecords([rec.path])).get(rec.path), rec);
      const have = await s.haveVectors([chunkHash(late, 2), chunkHash(ODD.length + 1, 0), chunkHash(7, 1)]);
      assert.deepEqual([...have].sort(), [chunkHash(late, 2), chunkHash(7, 1)].sort());
      const under = await allPaths(s, `src/d${late % 7}/`);
      assert.ok(under.includes(rec.path));
      assert.deepEqual(await s.counts(), { files: FILES, chunks: FILES * PER_FILE });
      if (s !== store) await s.close();
    }
  } finally {
    await store.close();
  }
});
