// The setup the code search tests share: the real embedder (bert-tiny, 64 dims,
// 128-token context) counting the texts it embeds, repositories made of real
// files of this one, and chunk hashes computed apart from the indexer.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { at } from '../src/arrays.js';
import { Embedder } from '../src/index.js';
import { chunkFile } from '../src/search/chunker.js';
import { searchCode } from '../src/search/search.js';
import { type FileRecord, type SearchStore, sha256 } from '../src/search/store.js';
import { makeModel, PKG, requireBinary, tmpDir } from './helpers.js';

/** this repository (the tests read its real sources) */
export const REPO = path.resolve(PKG, '..');

/** real C and TypeScript sources of this repository, the index tests' repository */
export const INDEX_SOURCES = [
  'node/src/backoff.ts',
  'node/src/binary.ts',
  'node/src/fallback.ts',
  'node/src/catalogue.ts',
  'node/src/connection.ts',
  'src/kernels/types.c',
  'src/kernels/fp16.c',
  'src/kernels/dot_ref.c',
  'src/platform/common_cpu.c',
] as const;

/** the embedder as the indexer and the tools see it, counting the texts it embeds */
export type Counted = Embedder & { texts: number };

export interface SearchFixture {
  /** a temporary directory, removed after the file's tests */
  dir: string;
  e: Embedder;
  counted: Counted;
  /** dir/name holding copies of these files of this repository, at the same relative paths */
  makeRepo(name: string, sources: readonly string[]): string;
  /** the distinct chunk hashes of root/rel, as chunkFile gives them */
  hashesOf(root: string, rel: string): Promise<string[]>;
  allHashes(root: string, files: readonly string[]): Promise<Set<string>>;
}

/** dir/name holding copies of these files of this repository, at the same relative paths. */
export function copyRepo(dir: string, name: string, sources: readonly string[]): string {
  const root = path.join(dir, name);
  for (const s of sources) {
    mkdirSync(path.dirname(path.join(root, s)), { recursive: true });
    copyFileSync(path.join(REPO, s), path.join(root, s));
  }
  return root;
}

/**
 * The shared setup of one test file: `start()` (in the file's `before` hook)
 * starts the embedder and fills the fields; it is stopped after the file's
 * tests.
 */
export function searchFixture(): SearchFixture & { start(): Promise<SearchFixture> } {
  const countTokens = async (t: string) => (await f.e.tokenize(t)).length;
  const f: SearchFixture & { start(): Promise<SearchFixture> } = {
    dir: '',
    e: undefined as unknown as Embedder,
    counted: undefined as unknown as Counted,
    makeRepo: (name, sources) => copyRepo(f.dir, name, sources),
    async hashesOf(root, rel) {
      const cs = await chunkFile(rel, readFileSync(path.join(root, rel), 'utf8'), { countTokens, maxTokens: 128 });
      return cs.map((c) => sha256(c.text));
    },
    async allHashes(root, files) {
      const s = new Set<string>();
      for (const file of files) for (const h of await f.hashesOf(root, file)) s.add(h);
      return s;
    },
    async start() {
      f.dir = tmpDir();
      const e = await Embedder.start({ model: makeModel(f.dir), binary: requireBinary(), healthIntervalMs: 0, threads: 1 });
      f.e = e;
      const c = {
        texts: 0,
        info: () => e.info(),
        tokenize: (t: string) => e.tokenize(t),
        embed: (t: string, o?: { prefix?: string }) => e.embed(t, o),
        embedBatch: async (t: string[], o?: { prefix?: string; signal?: AbortSignal }) => {
          c.texts += t.length;
          return e.embedBatch(t, o);
        },
      };
      f.counted = c as unknown as Counted;
      return f;
    },
  };
  // node:test runs a file's top-level before hooks at once, not one after another: the file's own hook calls start()
  after(async () => {
    await f.e?.close();
    if (f.dir) rmSync(f.dir, { recursive: true, force: true });
  });
  return f;
}

/** A chunk's own text as the query finds that chunk first (true whatever the weights): three chunks of root/rel. */
export async function assertOwnTextRanksFirst(root: string, store: SearchStore, e: Embedder, rel: string): Promise<void> {
  const cs = await chunkFile(rel, readFileSync(path.join(root, rel), 'utf8'), {
    countTokens: async (t) => (await e.tokenize(t)).length,
    maxTokens: 128,
  });
  for (const c of [at(cs, 1), at(cs, Math.floor(cs.length / 2)), at(cs, cs.length - 1)]) {
    const [first] = await searchCode(root, store, e, c.text, { limit: 5 });
    assert.ok(first, `a result for chunk ${c.startLine}-${c.endLine}`);
    // chunks of the very same text (a repeated macro line, say) cannot be told apart: any of them is right
    const same = cs.filter((x) => x.text === c.text).map((x) => `${rel}:${x.startLine}-${x.endLine}`);
    assert.ok(
      same.includes(`${first.file}:${first.startLine}-${first.endLine}`),
      `${same[0]} first, not ${first.file}:${first.startLine}-${first.endLine}`,
    );
  }
}

/** Every chunk hash the files of a store that lists them (FileStore) refer to. */
export function liveHashes(store: { files(): Iterable<FileRecord> }): Set<string> {
  return new Set([...store.files()].flatMap((f) => f.chunks.map((c) => c.hash)));
}
