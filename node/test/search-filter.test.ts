// search_code's filters (path_glob, language) on both stores: the same
// results as a glob matcher written apart from glob.ts (brace expansion, then
// a match character by character), LanceDB's filter served by its scalar
// indexes (the plan names them) whatever the glob's shape, a filtered search
// ranked as an exhaustive scan of the rows the filter admits would rank them
// (each way the store can state the admitted files), and a filtered search
// that still returns `limit` results when enough rows match, past the vector
// index's threshold.
// No model runs: vectors are seeded and the query vector is given.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { compareCodePoints, globFilter, type PathSelection, prefixRange, selectPaths } from '../src/search/glob.js';
import type { RankHit } from '../src/search/lance.js';
import { LanceStore } from '../src/search/lance-store.js';
import { searchCode } from '../src/search/search.js';
import { type FileRecord, FileStore, type SearchStore, sha256 } from '../src/search/store.js';
import { seededUnitVector, tmpDir } from './helpers.js';

const DIMS = 8;
const PER_FILE = 3;
/** paths a LIKE pattern, an unquoted string or a careless brace would get wrong, and files of several languages */
const ODD: [string, string][] = [
  ['a/b_c/x.ts', 'typescript'],
  ['a/b%c/y.ts', 'typescript'],
  ['a/bxc/z.ts', 'typescript'],
  ["it's/q.ts", 'typescript'],
  ['x{y}/z.ts', 'typescript'],
  ['top.ts', 'typescript'],
  ['README.md', 'text'],
  ['docs/guide.md', 'text'],
  ['lib/deep/er/g.h', 'cpp'],
  ['lib/deep/h.h', 'c'],
  ['tools/gen.py', 'python'],
  // UTF-16 order (z, U+1F600, U+E000) is not the store's (z, U+E000, U+1F600): a range of neighbours must use the store's
  ['u/z.ts', 'typescript'],
  ['u/\u{1f600}.ts', 'typescript'],
  ['u/\u{e000}.ts', 'typescript'],
];
const GENERATED = 2400;
const KINDS: [ext: string, language: string][] = [
  ['.ts', 'typescript'],
  ['.ts', 'typescript'],
  ['.c', 'c'],
  ['.h', 'c'],
  ['.h', 'cpp'],
];
const FILES: [string, string][] = [
  ...ODD,
  ...Array.from({ length: GENERATED }, (_, f): [string, string] => {
    const [ext, language] = KINDS[f % KINDS.length] as [string, string];
    return [`src/d${f % 7}/f${f}${ext}`, language];
  }),
];
const ROWS = FILES.length * PER_FILE;

const vectorOf = (i: number): Float32Array => seededUnitVector(i, DIMS);

async function fill(store: SearchStore): Promise<void> {
  await store.setMeta({ model: 'seeded', dims: DIMS });
  for (let first = 0; first < FILES.length; first += 500) {
    const recs: FileRecord[] = [];
    const items: { hash: string; vector: Float32Array; text: string }[] = [];
    for (let f = first; f < Math.min(FILES.length, first + 500); f++) {
      const [p, language] = FILES[f] as [string, string];
      const chunks = Array.from({ length: PER_FILE }, (_, j) => {
        const text = `file ${f} chunk ${j}`;
        items.push({ hash: sha256(text), vector: vectorOf(f * PER_FILE + j), text });
        return { hash: sha256(text), startLine: j * 10 + 1, endLine: j * 10 + 9, symbol: null, kind: 'lines' };
      });
      recs.push({ path: p, hash: sha256(p), size: 1, mtimeMs: 1, language, chunks });
    }
    await store.putVectors(items);
    if (store.putFiles) await store.putFiles(recs);
    else for (const r of recs) await store.putFile(r);
  }
}

/** Brace expansion: every brace-free glob a glob stands for (a group needs a comma at its top level). */
function expand(glob: string): string[] {
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] !== '{') continue;
    let depth = 0;
    const cuts: number[] = [];
    for (let j = i; j < glob.length; j++) {
      if (glob[j] === '{') depth++;
      else if (glob[j] === ',' && depth === 1) cuts.push(j);
      else if (glob[j] === '}' && --depth === 0) {
        if (!cuts.length) break;
        const bounds = [i, ...cuts, j];
        const head = glob.slice(0, i);
        const tail = glob.slice(j + 1);
        return bounds.slice(1).flatMap((end, k) => expand(head + glob.slice((bounds[k] as number) + 1, end) + tail));
      }
    }
  }
  return [glob];
}

/** A brace-free glob against a path, a character at a time: `**` (and `**\/`), `*`, `?`, literals. */
function matchPlain(g: string, p: string, i = 0, j = 0): boolean {
  if (i === g.length) return j === p.length;
  if (g.startsWith('**/', i)) {
    if (matchPlain(g, p, i + 3, j)) return true;
    for (let k = j; k < p.length; k++) if (p[k] === '/' && matchPlain(g, p, i + 3, k + 1)) return true;
    return false;
  }
  if (g.startsWith('**', i)) {
    for (let k = j; k <= p.length; k++) if (matchPlain(g, p, i + 2, k)) return true;
    return false;
  }
  if (g[i] === '*') {
    for (let k = j; ; k++) {
      if (matchPlain(g, p, i + 1, k)) return true;
      if (k === p.length || p[k] === '/') return false;
    }
  }
  if (g[i] === '?') return j < p.length && p[j] !== '/' && matchPlain(g, p, i + 1, j + 1);
  return j < p.length && g[i] === p[j] && matchPlain(g, p, i + 1, j + 1);
}

const matches = (glob: string, p: string) => expand(glob).some((g) => matchPlain(g, p));

const GLOBS = [
  'src/**/*.ts',
  'src/d3/*',
  'src/d3/**',
  '**/*.h',
  '*.ts',
  '*.md',
  '**/*.md',
  'src/d?/f1*.ts',
  '**/f2?.{c,h}',
  'src/{d1,d2}/*.{c,h}',
  'src/{d1,d{5,6}}/f1??.ts',
  '**',
  'a/b_c/*',
  'a/b%c/*',
  "it's/*",
  'x{y}/*',
  'lib/**/*.h',
  '**/deep/**',
  'nothing/**',
  // no literal prefix, no extension set: matched on the indexed paths, not on each row
  '**/f1*.ts',
  '**/d3/**',
  // all but the files whose number ends in 0
  'src/**/f*{1,2,3,4,5,6,7,8,9}.*',
  'u/{z,\u{1f600}}.ts',
  'u/{z,\u{e000}}.ts',
];

/** the files search_code returns for a glob (and a language), with the number of rows that should match as the limit */
async function filesFound(store: SearchStore, glob: string, files: number, language?: string): Promise<string[]> {
  const embedder = { embed: async () => ({ embedding: vectorOf(ROWS + 1), degraded: false }) };
  const limit = Math.max(1, files * PER_FILE);
  const rs = await searchCode('/nonexistent', store, embedder, 'zzzz', { limit, pathGlob: glob, language });
  return [...new Set(rs.map((r) => r.file))].sort();
}

let dir: string;
const stores: [string, SearchStore][] = [];
/** a LanceStore of the same files without a vector index (every search exact), its scalar indexes built, with each way of stating the admitted files in reach */
const ways: [string, LanceStore, { paths: number; runs: number }][] = [];
let built: Awaited<ReturnType<LanceStore['optimize']>> | undefined;
before(async () => {
  dir = tmpDir();
  const file = await FileStore.open(path.join(dir, 'file'));
  // past every threshold: an IVF-PQ index, B-trees on path, a bitmap on language
  const lanceOptions = { vectorIndexRows: 2000, scalarIndexRows: 1000, optimizeRows: 1_000_000 };
  const lance = await LanceStore.open(path.join(dir, 'lance'), lanceOptions);
  stores.push(['FileStore', file], ['LanceStore', lance]);
  await fill(file);
  await fill(lance);
  built = await lance.optimize();
  // the same table again: a filtered vector search through the IVF partitions, where `lance` searches the rows the filter leaves exactly
  stores.push([
    'LanceStore through the vector index',
    await LanceStore.open(path.join(dir, 'lance'), { ...lanceOptions, flatFilterRows: 0 }),
  ]);
  const exactOptions = { vectorIndexRows: 1_000_000, scalarIndexRows: 1000, optimizeRows: 1_000_000 };
  const exact = await LanceStore.open(path.join(dir, 'exact'), exactOptions);
  await fill(exact);
  await exact.optimize();
  await exact.close();
  for (const [name, limits] of [
    ['a set, runs or the candidates but a set', { paths: 1000, runs: 64 }],
    ['runs of neighbours', { paths: 0, runs: 100_000 }],
    ['the expression on the rows', { paths: 0, runs: 0 }],
  ] as const) {
    const store = await LanceStore.open(path.join(dir, 'exact'), { ...exactOptions, filterPaths: limits.paths, filterRuns: limits.runs });
    ways.push([name, store, limits]);
  }
});
after(async () => {
  for (const [, s] of stores) await s.close();
  for (const [, s] of ways) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the LanceDB table is past every threshold: an IVF-PQ index, B-trees on the paths, a bitmap on the language', () => {
  assert.equal(built?.vectorIndex, 'IvfPq');
  assert.deepEqual(built?.scalarIndexes, ['chunks.hash', 'chunks.language', 'chunks.path', 'files.path']);
});

test('globFilter: the literal prefix, the languages of an extension set, and the regular expression agree with the glob', () => {
  assert.deepEqual(globFilter('src/**/*.ts').prefix, 'src/');
  assert.deepEqual(globFilter('src/**/*.ts').languages, ['typescript']);
  assert.deepEqual(globFilter('**/*.{c,h}').languages, ['c', 'cpp']);
  assert.deepEqual(globFilter('**/*.md').languages, ['text']);
  assert.equal(globFilter('src/d?/x').prefix, 'src/d');
  assert.equal(globFilter('src/{a,b}/x').prefix, 'src/');
  assert.equal(globFilter('x{y}/z').prefix, 'x{y}/z');
  assert.equal(globFilter('*.ts').prefix, '');
  assert.equal(globFilter('src/*').languages, null);
  assert.equal(globFilter('**/*.{c,h}/x').languages, null);
  for (const glob of GLOBS) {
    const f = globFilter(glob);
    for (const [p, language] of FILES) {
      const want = matches(glob, p);
      assert.equal(f.regex.test(p), want, `${glob} against ${p}`);
      // what narrows never drops a match
      if (want) assert.ok(p.startsWith(f.prefix) && (!f.languages || f.languages.includes(language)), `${glob} narrows out ${p}`);
    }
  }
  assert.deepEqual(prefixRange('src/d1'), { lo: 'src/d1', hi: 'src/d2' });
  assert.deepEqual(prefixRange('a\u{10ffff}'), { lo: 'a\u{10ffff}', hi: 'b' });
  assert.deepEqual(prefixRange('\u{d7ff}'), { lo: '\u{d7ff}', hi: '\u{e000}' });
  assert.equal(prefixRange('').hi, null);
});

test('path_glob and language give the files a separate glob matcher admits, on both stores', async () => {
  for (const glob of GLOBS) {
    const want = FILES.filter(([p]) => matches(glob, p))
      .map(([p]) => p)
      .sort();
    for (const [name, store] of stores) assert.deepEqual(await filesFound(store, glob, want.length), want, `${name}: ${glob}`);
  }
  for (const [glob, language] of [
    ['**/*.h', 'cpp'],
    ['src/d1/*', 'c'],
    ['**', 'python'],
    ['*.ts', 'c'],
  ] as const) {
    const want = FILES.filter(([p, l]) => matches(glob, p) && l === language)
      .map(([p]) => p)
      .sort();
    for (const [name, store] of stores) {
      assert.deepEqual(await filesFound(store, glob, want.length, language), want, `${name}: ${glob} ${language}`);
    }
  }
});

test('a filtered search past the vector index threshold still returns `limit` results when enough rows match', async () => {
  // about 1% of the rows, spread over the IVF partitions: probing 32 of them found about a third
  const glob = 'src/d3/f1??.*';
  const matching = FILES.filter(([p]) => matches(glob, p)).length * PER_FILE;
  assert.ok(matching >= 30 && matching < ROWS / 50, `${matching} rows match`);
  for (const [name, store] of stores) {
    for (const q of [0, 7, 5000]) {
      const embedder = { embed: async () => ({ embedding: vectorOf(q), degraded: false }) };
      const rs = await searchCode('/nonexistent', store, embedder, 'zzzz', { limit: 30, pathGlob: glob });
      assert.equal(rs.length, 30, `${name}, query ${q}`);
      assert.ok(rs.every((r) => matches(glob, r.file)));
    }
  }
});

test('a filtered search through the vector index probes a bounded number of partitions first, and more only when they hold too few of its rows', async () => {
  const store = stores[2]?.[1] as LanceStore;
  // typescript: 40% of the rows, so the first partitions hold enough (LanceDB without a maximum probes every one)
  const wide = { vector: vectorOf(11), text: '', k: 25, language: 'typescript' };
  assert.match(await store.explain(wide), /ANNIvfPartition: .*minimum_nprobes=32, maximum_nprobes=Some\(32\)/);
  const hits = (await store.rank(wide)).vector;
  assert.equal(hits.length, 25);
  assert.ok(hits.every((h) => h.language === 'typescript'));
  // one file's rows, wherever they are: every partition in the end
  const f = globFilter('src/d5/f12.c');
  const rare = await store.rank({
    ...wide,
    language: undefined,
    path: { prefix: f.prefix, regex: f.regex.source, languages: f.languages },
  });
  assert.deepEqual(
    rare.vector.map((h) => h.path),
    Array(PER_FILE).fill('src/d5/f12.c'),
  );
});

test('LanceDB serves every glob from its indexes: the prefix and the file sets from the path bitmap, the extensions from the language bitmap', async () => {
  const store = stores[1]?.[1] as LanceStore;
  const plan = async (glob: string) => {
    const f = globFilter(glob);
    return store.explain({
      vector: vectorOf(1),
      text: '',
      k: 10,
      path: { prefix: f.prefix, regex: f.regex.source, languages: f.languages },
    });
  };
  // every file under the prefix passes: the range alone, no expression
  const dirOnly = await plan('src/d3/**');
  assert.match(dirOnly, /ScalarIndexQuery: query=\[path >= src\/d3\/ && path < src\/d30\]@path_idx\(Bitmap\)/);
  assert.match(dirOnly, /refine_filter=--/);
  assert.match(await plan('**/*.h'), /ScalarIndexQuery: query=.*language = c.*language_idx\(Bitmap\)/);
  const both = await plan('src/**/*.ts');
  assert.match(both, /path_idx\(Bitmap\)/);
  assert.match(both, /language_idx\(Bitmap\)/);
  // no prefix, no extension set: the files it admits, from the path index (before: the expression on every row's path)
  for (const glob of ['**/deep/**', '**/f1*.ts', 'src/**/f*{1,2,3,4,5,6,7,8,9}.*']) {
    const p = await plan(glob);
    assert.match(p, /ScalarIndexQuery: .*path_idx\(Bitmap\)/, glob);
    assert.match(p, /refine_filter=--/, glob);
    assert.doesNotMatch(p, /regexp_like|path ~/, glob);
  }
  // a glob no indexed path passes runs no query
  assert.match(await plan('nothing/**'), /no query runs/);
});

/** The paths a selection admits among the fixture's files, read as the store's filter reads it. */
function admittedBy(sel: PathSelection, glob: ReturnType<typeof globFilter>, language: string | undefined): string[] {
  const candidates = FILES.filter(
    ([p, l]) => p.startsWith(glob.prefix) && (!glob.languages || glob.languages.includes(l)) && (language === undefined || l === language),
  ).map(([p]) => p);
  const inRuns = (p: string, runs: [string, string][]) =>
    runs.some(([lo, hi]) => compareCodePoints(lo, p) <= 0 && compareCodePoints(p, hi) <= 0);
  const admitted = {
    none: () => [],
    candidates: () => candidates,
    scan: () => candidates.filter((p) => glob.regex.test(p)),
    in: () => candidates.filter((p) => sel.kind === 'in' && sel.paths.includes(p)),
    except: () => candidates.filter((p) => sel.kind === 'except' && !sel.paths.includes(p)),
    runs: () => candidates.filter((p) => sel.kind === 'runs' && inRuns(p, sel.runs)),
  }[sel.kind]();
  return admitted.sort();
}

const LANGUAGE_FILTERS: [string, string | undefined][] = [
  ...GLOBS.map((g): [string, undefined] => [g, undefined]),
  ['**/*.h', 'cpp'],
  ['src/d1/*', 'c'],
  ['**', 'python'],
  ['*.ts', 'c'],
  ['**/f1*', 'c'],
];

test('compareCodePoints orders as UTF-8 bytes do', () => {
  const chars = ['a', 'z', '/', '\u{7f}', '\u{ff}', '\u{d7ff}', '\u{e000}', '\u{fffd}', '\u{10000}', '\u{1f600}', '\u{10ffff}'];
  const strings = chars.flatMap((a) => ['', ...chars].map((b) => a + b));
  for (const a of strings) {
    for (const b of strings)
      assert.equal(Math.sign(compareCodePoints(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))), `${a} ${b}`);
  }
});

test('selectPaths: every way of stating the admitted files admits exactly the files the glob (and the language) admit', () => {
  const sorted = FILES.map(([p, language]) => ({ path: p, language })).sort((a, b) => compareCodePoints(a.path, b.path));
  const kinds = new Set<string>();
  for (const limits of [
    { paths: 1000, runs: 64 },
    { paths: 0, runs: 100_000 },
    { paths: 100_000, runs: 0 },
    { paths: 0, runs: 0 },
    { paths: 3, runs: 3 },
  ]) {
    for (const [g, language] of LANGUAGE_FILTERS) {
      const glob = globFilter(g);
      const sel = selectPaths(sorted, glob, language, limits);
      kinds.add(sel.kind);
      const want = FILES.filter(([p, l]) => matches(g, p) && (language === undefined || l === language))
        .map(([p]) => p)
        .sort();
      assert.deepEqual(admittedBy(sel, glob, language), want, `${g} ${language ?? ''}: ${sel.kind}`);
      assert.equal(sel.files, want.length);
      if (sel.kind === 'in' || sel.kind === 'except') assert.ok(sel.paths.length <= limits.paths);
      if (sel.kind === 'runs') assert.ok(sel.runs.length <= limits.runs);
    }
  }
  assert.deepEqual([...kinds].sort(), ['candidates', 'except', 'in', 'none', 'runs', 'scan']);
});

test('a filtered search ranks as an exhaustive scan of the rows the filter admits, however the store states the admitted files', async () => {
  const rowsOf = (admit: (p: string, l: string) => boolean) =>
    FILES.flatMap(([p, l], f) =>
      admit(p, l) ? Array.from({ length: PER_FILE }, (_, j) => ({ key: `${p}:${j * 10 + 1}`, row: f * PER_FILE + j })) : [],
    );
  const k = 12;
  const exact = ways[0]?.[1] as LanceStore;
  // each query's scores of every row, and its unfiltered BM25 ranking of every row
  const queries = await Promise.all(
    [5, 4321].map(async (q) => {
      const vector = vectorOf(ROWS + q);
      const scores = Array.from({ length: ROWS }, (_, row) => vectorOf(row).reduce((acc, x, d) => acc + x * (vector[d] as number), 0));
      const text = `file ${q % FILES.length}`;
      return { q, vector, scores, text, everything: await exact.rank({ vector, text, k: ROWS }) };
    }),
  );
  for (const [g, language] of LANGUAGE_FILTERS) {
    const glob = globFilter(g);
    const admit = (p: string, l: string) => matches(g, p) && (language === undefined || l === language);
    for (const { q, vector, scores, text, everything } of queries) {
      const dot = (row: number) => scores[row] as number;
      const want = rowsOf(admit)
        .map((r) => ({ ...r, score: dot(r.row) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, k);
      // the text half: the admitted rows in the unfiltered ranking's order
      const wantText = everything.text.filter((h) => admit(h.path, h.language)).slice(0, k);
      for (const [name, store] of ways) {
        const r = await store.rank({
          vector,
          text,
          k,
          path: { prefix: glob.prefix, regex: glob.regex.source, languages: glob.languages },
          language,
        });
        const where = `${name}: ${g} ${language ?? ''}, query ${q}`;
        assert.equal(r.vector.length, want.length, where);
        r.vector.forEach((h, i) => {
          assert.ok(admit(h.path, h.language), `${where}: ${h.path} admitted`);
          // the same rows in the same order (a tie within float rounding may swap two)
          assert.ok(
            Math.abs(h.score - (want[i]?.score as number)) < 1e-5,
            `${where}: rank ${i} ${h.path}:${h.startLine} ${h.score} against ${want[i]?.key} ${want[i]?.score}`,
          );
        });
        assert.deepEqual(new Set(r.vector.map((h) => `${h.path}:${h.startLine}`)), new Set(want.map((w) => w.key)), where);
        // BM25 ties abound here (every text is `file N chunk J`): the same scores rank by rank, each row admitted, and the same rows above the last score
        assert.deepEqual(
          r.text.map((h) => h.score.toFixed(5)),
          wantText.map((h) => h.score.toFixed(5)),
          `${where}: text half`,
        );
        assert.ok(
          r.text.every((h) => admit(h.path, h.language)),
          `${where}: text half admitted`,
        );
        const last = wantText.at(-1)?.score ?? 0;
        const above = (hs: RankHit[]) =>
          new Set(hs.filter((h) => h.score.toFixed(5) !== last.toFixed(5)).map((h) => `${h.path}:${h.startLine}`));
        assert.deepEqual(above(r.text), above(wantText), `${where}: text half above the last score`);
      }
    }
  }
});

test('a path_glob sees the files written and removed after the store matched it (LanceStore keeps its indexed paths current)', async () => {
  const store = await LanceStore.open(path.join(dir, 'current'), { scalarIndexRows: 1, optimizeRows: 1_000_000 });
  try {
    await store.setMeta({ model: 'seeded', dims: DIMS });
    const put = async (p: string, n: number) => {
      const text = `current ${p}`;
      await store.putVectors([{ hash: sha256(text), vector: vectorOf(n), text }]);
      await store.putFile({
        path: p,
        hash: sha256(p),
        size: 1,
        mtimeMs: 1,
        language: 'typescript',
        chunks: [{ hash: sha256(text), startLine: 1, endLine: 2, symbol: null, kind: 'lines' }],
      });
    };
    await put('a/one.ts', 1);
    await put('b/two.ts', 2);
    await store.optimize();
    const found = async (glob: string) => filesFound(store, glob, 10);
    assert.deepEqual(await found('**/t*.ts'), ['b/two.ts']);
    assert.deepEqual(await found('**/nine.ts'), []);
    await put('c/three.ts', 3);
    await put('d/nine.ts', 9);
    assert.deepEqual(await found('**/t*.ts'), ['b/two.ts', 'c/three.ts']);
    assert.deepEqual(await found('**/nine.ts'), ['d/nine.ts']);
    await store.removeFile('b/two.ts');
    assert.deepEqual(await found('**/t*.ts'), ['c/three.ts']);
    // a store opened afresh reads them from its file table
    await store.close();
    const again = await LanceStore.open(path.join(dir, 'current'), { scalarIndexRows: 1, optimizeRows: 1_000_000 });
    try {
      assert.deepEqual(await filesFound(again, '**/{t,n}*.ts', 10), ['c/three.ts', 'd/nine.ts']);
    } finally {
      await again.close();
    }
  } finally {
    await store.close().catch(() => {});
  }
});
