// An exact identifier finds its definition first, on both stores, for the
// names of this repository's node/src that the most other chunks use (the
// ones whose definition the full-text half ranks below their uses), and a
// chunk's own text finds that chunk first, in an index built at once and in
// one built by several runs, a restart and the watcher's per-path updates.
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { at } from '../src/arrays.js';
import type { Embedder } from '../src/index.js';
import { IgnoreRules } from '../src/search/files.js';
import { type IndexEmbedder, type IndexOptions, indexPaths, indexRepository } from '../src/search/indexer.js';
import { LanceStore } from '../src/search/lance-store.js';
import { searchCode } from '../src/search/search.js';
import { allPaths, FileStore, type SearchStore } from '../src/search/store.js';
import { copyRepo, REPO, searchFixture } from './search-helpers.js';

const OPTS: IndexOptions = { maxTokens: 128, batchSize: 16 };
/** the names checked: those used by the most chunks besides their own definition */
const NAMES = 30;

/** every TypeScript file of node/src, relative to the repository, in walk order */
const SOURCES = (readdirSync(path.join(REPO, 'node/src'), { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts'))
  .map((f) => `node/src/${f.split(path.sep).join('/')}`)
  .sort();

const fx = searchFixture();
let dir: string;
let e: Embedder;
/** the embedder with its vectors kept by text: the four indexes below embed each chunk once between them */
let cached: IndexEmbedder;
before(async () => {
  ({ dir, e } = await fx.start());
  const seen = new Map<string, Float32Array>();
  cached = {
    tokenize: (t) => e.tokenize(t),
    embedBatch: async (texts, o) => {
      const todo = [...new Set(texts.filter((t) => !seen.has(t)))];
      const r = todo.length ? await e.embedBatch(todo, o) : [];
      todo.forEach((t, i) => {
        const v = at(r, i);
        assert.ok(!v.degraded && !v.error);
        seen.set(t, v.embedding);
      });
      return texts.map((t) => ({ embedding: seen.get(t) as Float32Array, degraded: false }));
    },
  };
});

/** The segments of a symbol ("A.b, c" -> A, b, c): what a user types to find it. */
const segments = (symbol: string | null) => (symbol ?? '').split(/, |\./).filter(Boolean);

interface Name {
  name: string;
  file: string;
  /** chunks outside the definition whose text has the name as a word */
  uses: number;
}

/**
 * The names defined in exactly one file (as written; a name that differs
 * only in case elsewhere counts: the exact one must come first), the ones
 * used by the most other chunks first.
 */
async function namesOf(root: string, store: SearchStore): Promise<Name[]> {
  const recs = [...(await store.fileRecords(await allPaths(store))).values()];
  const defined = new Map<string, Set<string>>();
  for (const f of recs)
    for (const c of f.chunks) for (const s of segments(c.symbol)) (defined.get(s) ?? defined.set(s, new Set()).get(s))?.add(f.path);
  const chunkTexts = recs.flatMap((f) => {
    const lines = readFileSync(path.join(root, f.path), 'utf8').split('\n');
    return f.chunks.map((c) => ({ file: f.path, symbols: segments(c.symbol), text: lines.slice(c.startLine - 1, c.endLine).join('\n') }));
  });
  const out: Name[] = [];
  for (const [name, files] of defined) {
    if (files.size !== 1 || name.length < 3 || !/^[A-Za-z_$][\w$]*$/.test(name)) continue;
    const word = new RegExp(`(^|[^\\w$])${name.replace(/\$/g, '\\$')}($|[^\\w$])`);
    const uses = chunkTexts.filter((c) => !c.symbols.includes(name) && word.test(c.text)).length;
    out.push({ name, file: [...files][0] as string, uses });
  }
  return out.sort((a, b) => b.uses - a.uses || (a.name < b.name ? -1 : 1));
}

/** Each name's first result (limit 1) is a chunk of its defining file that names it. */
async function assertDefinitionsFirst(root: string, store: SearchStore, names: Name[], how: string): Promise<void> {
  const wrong: string[] = [];
  for (const n of names) {
    const [first] = await searchCode(root, store, e, n.name, { limit: 1 });
    if (!first || first.file !== n.file || !segments(first.symbol).includes(n.name))
      wrong.push(`${n.name} (${n.file}, used by ${n.uses} chunks) -> ${first ? `${first.file} ${first.symbol}` : 'nothing'}`);
  }
  assert.deepEqual(wrong, [], `${how}: the definition first`);
}

/** Every 50th chunk of the index whose text has a word: its own text as the query finds it first (true whatever the weights). */
async function assertOwnTextsFirst(root: string, store: SearchStore, how: string): Promise<void> {
  const recs = [...(await store.fileRecords(await allPaths(store))).values()];
  const chunks = recs.flatMap((f) => {
    const lines = readFileSync(path.join(root, f.path), 'utf8').split('\n');
    return f.chunks.map((c) => ({ file: f.path, c, text: lines.slice(c.startLine - 1, c.endLine).join('\n') }));
  });
  const wrong: string[] = [];
  let checked = 0;
  for (let i = 0; i < chunks.length; i += 50) {
    const x = at(chunks, i);
    // a text of punctuation alone (closing braces) has the same tokens as others of its kind: no way to tell them apart
    if (!/[A-Za-z]/.test(x.text)) continue;
    checked++;
    const [first] = await searchCode(root, store, e, x.text, { limit: 1 });
    // another chunk of the very same text cannot be told apart from this one: it is as right
    const firstText =
      first &&
      readFileSync(path.join(root, first.file), 'utf8')
        .split('\n')
        .slice(first.startLine - 1, first.endLine)
        .join('\n');
    if (!first || (firstText !== x.text && (first.file !== x.file || first.startLine !== x.c.startLine || first.endLine !== x.c.endLine)))
      wrong.push(`${x.file}:${x.c.startLine}-${x.c.endLine} -> ${first ? `${first.file}:${first.startLine}-${first.endLine}` : 'nothing'}`);
  }
  assert.ok(checked >= 20);
  assert.deepEqual(wrong, [], `${how}: a chunk's own text finds it first`);
}

type Open = (idx: string) => Promise<SearchStore & { close?(): Promise<void> }>;

const STORES: [name: string, open: Open][] = [
  ['FileStore', (idx) => FileStore.open(idx)],
  ['LanceStore', (idx) => LanceStore.open(idx)],
];

for (const [storeName, open] of STORES) {
  test(`${storeName}: an exact identifier finds its definition first, and a chunk's own text that chunk, built at once and built incrementally`, async (t) => {
    // a store left open (a failed assertion) would keep its store process and the test file running
    const opened: { close?(): Promise<void> }[] = [];
    t.after(async () => {
      for (const s of opened) await s.close?.().catch(() => {});
    });
    const openTracked = async (idx: string) => {
      const s = await open(idx);
      opened.push(s);
      return s;
    };
    // at once
    const root1 = copyRepo(dir, `${storeName}-once`, SOURCES);
    const once = await openTracked(path.join(dir, `${storeName}-once-idx`));
    await once.setMeta({ model: 'tiny', dims: 64 });
    await indexRepository(root1, cached, once, OPTS);
    const all = await namesOf(root1, once);
    const names = all.slice(0, NAMES);
    assert.ok(all.length > 200 && (names.at(-1)?.uses ?? 0) >= 4, 'the names checked are used widely');
    if (once instanceof LanceStore) {
      // the test's point: for some of these names, the full-text half alone ranks uses above the definition
      let below = 0;
      for (const n of names) {
        const q = await e.embed(n.name, {});
        const r = await once.rank({ vector: q.embedding, text: n.name, k: 4 });
        if (!r.text.some((h) => h.path === n.file && segments(h.symbol).includes(n.name))) below++;
      }
      assert.ok(below >= 5, `the definition is outside the BM25 top 4 for ${below} of ${names.length} names`);
    }
    await assertDefinitionsFirst(root1, once, names, 'built at once');
    await assertOwnTextsFirst(root1, once, 'built at once');
    await once.close?.();

    // incrementally: a third of the files per index_codebase run, a restart, then the watcher's updates
    const root2 = copyRepo(dir, `${storeName}-steps`, []);
    const idx = path.join(dir, `${storeName}-steps-idx`);
    let store = await openTracked(idx);
    await store.setMeta({ model: 'tiny', dims: 64 });
    const third = Math.ceil(SOURCES.length / 3);
    copyRepo(dir, `${storeName}-steps`, SOURCES.slice(0, third));
    await indexRepository(root2, cached, store, OPTS);
    copyRepo(dir, `${storeName}-steps`, SOURCES.slice(third, 2 * third));
    await indexRepository(root2, cached, store, OPTS);
    await store.close?.();
    store = await openTracked(idx);
    const rules = new IgnoreRules(root2);
    const late = SOURCES.slice(2 * third);
    copyRepo(dir, `${storeName}-steps`, late);
    for (let i = 0; i < late.length; i += 4) await indexPaths(rules, late.slice(i, i + 4), cached, store, OPTS);
    // an edit to a file of the first run: its rows are written again
    const edited = at(SOURCES, 0);
    appendFileSync(path.join(root2, edited), '\n// edited\n');
    await indexPaths(rules, [edited], cached, store, OPTS);
    assert.equal((await allPaths(store)).length, SOURCES.length);
    const lateFiles = new Set([...SOURCES.slice(third), edited]);
    const lateNames = names.filter((n) => lateFiles.has(n.file));
    assert.ok(lateNames.length >= NAMES / 2, 'most names checked are defined in files indexed after the first run');
    await assertDefinitionsFirst(root2, store, names, 'built incrementally');
    await assertOwnTextsFirst(root2, store, 'built incrementally');
    await store.close?.();
  });
}
