// search_code's filters (path_glob, language) on both stores: the same
// results as a glob matcher written apart from glob.ts (brace expansion, then
// a match character by character), LanceDB's filter served by its scalar
// indexes (the plan names them), and a filtered search that still returns
// `limit` results when enough rows match, past the vector index's threshold.
// No model runs: vectors are seeded and the query vector is given.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { globFilter, prefixRange } from '../src/search/glob.js';
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
});
after(async () => {
  for (const [, s] of stores) await s.close();
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

test("LanceDB serves a glob's prefix from the path B-tree and its extensions from the language bitmap; the expression runs on what they leave", async () => {
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
  const dirOnly = await plan('src/d3/**');
  assert.match(dirOnly, /ScalarIndexQuery: query=\[path >= src\/d3\/ && path < src\/d30\]@path_idx\(BTree\)/);
  assert.match(dirOnly, /refine_filter=path ~/);
  assert.match(await plan('**/*.h'), /ScalarIndexQuery: query=.*language = c.*language_idx\(Bitmap\)/);
  const both = await plan('src/**/*.ts');
  assert.match(both, /path_idx\(BTree\)/);
  assert.match(both, /language_idx\(Bitmap\)/);
  // nothing to narrow by: the expression reads the whole path column
  assert.doesNotMatch(await plan('**/deep/**'), /ScalarIndexQuery/);
});
