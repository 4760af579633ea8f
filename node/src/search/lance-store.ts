// lance-store.ts - the default SearchStore: LanceDB (lance.ts), by default in
// a child process (store-server.ts) so that the MCP server stays small.
//
// Nothing of the index is held here: file records, paths and chunk hashes
// are asked of the engine a batch at a time (fileRecords, filesUnder,
// haveVectors), so this process holds the batch in hand and no more, at 1M
// chunks as at 1k. New vectors wait here (putVectors) until the file that
// refers to them is written (putFile), and go to the engine with it: at most
// one indexer flush of them. Searching goes to the engine: rank() returns the
// vector half, the full-text (BM25) half over chunk text and the names half
// (BM25 over symbol names), with the path and language filters applied
// inside the store's query.
//
// The child is supervised (ChildEngine, through child.ts's supervisor): a
// crash fails the calls in flight with a StoreError of kind 'crashed', the
// next call starts a new child, and this side reloads the meta from disk
// before going on (a write that was in flight may or may not have happened).
// More than MAX_RESTARTS crashes within RESTART_WINDOW_MS and the store is
// 'failed' for good (the supervisor's states: child.ts).

import { ChildProcess, type ChildState } from './child.js';
import {
  type EngineOptions,
  type EngineStats,
  type FileWrite,
  type FreshVector,
  type IndexCounts,
  LanceEngine,
  type RankQuery,
  type RankResult,
  type StoreEngine,
} from './lance.js';
import { type FileRecord, type IndexMeta, PATH_BATCH, type SearchStore } from './store.js';
import type { StoreOp } from './store-server.js';

/** Every way the store can fail, one row each: what the caller can do about it follows from the kind. */
export const STORE_ERROR_KINDS = {
  unavailable: 'the LanceDB package or its native build cannot be loaded on this platform',
  crashed: 'the store process died; the call may or may not have taken effect, the next call restarts it',
  failed: 'the store process crashed too often and is not restarted',
  protocol: 'the store process sent or received something that is not a valid frame',
  engine: 'LanceDB refused the operation',
  closed: 'the store was closed',
} as const;
export type StoreErrorKind = keyof typeof STORE_ERROR_KINDS;

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;
/** how long a closing store process gets to finish its writes before it is killed */
const CLOSE_GRACE_MS = 30_000;
/**
 * The store process's V8 heap: frames of one write batch, the orphan cache
 * and query answers (LanceDB's own memory is native, bounded by its caches).
 */
const STORE_HEAP_MB = 256;

export class ChildEngine implements StoreEngine {
  private readonly child: ChildProcess;

  constructor(dir: string, options: EngineOptions) {
    this.child = new ChildProcess({
      name: 'store',
      script: new URL('./store-server.js', import.meta.url),
      args: [dir, JSON.stringify(options)],
      heapMb: STORE_HEAP_MB,
      // glibc's malloc raises its mmap threshold to the largest block freed (up to 32 MB), so the
      // query threads' large Arrow buffers come from their arenas and stay there once freed: a fixed
      // 128 KiB threshold returns them to the system. At 10k chunks, 200 hybrid queries: 417 -> 236 MB
      // RSS with the same latency (two arenas instead gave 172 MB but 10x the latency, the query
      // threads waiting for each other's arena). glibc's setting: ignored elsewhere.
      // The full-text index builder keeps its postings in memory up to LANCE_FTS_PARTITION_SIZE MiB
      // per worker (2 GiB by default) before it spills them: at 1M chunks that step grew the process
      // by ~300 MB, more than any other index build; 64 MiB bounds it (the environment overrides these).
      env: { LANCEDB_LOG: 'error', MALLOC_MMAP_THRESHOLD_: String(128 << 10), LANCE_FTS_PARTITION_SIZE: '64' },
      maxCrashes: MAX_RESTARTS,
      windowMs: RESTART_WINDOW_MS,
      closeGraceMs: CLOSE_GRACE_MS,
      error: (kind, message) => new StoreError((kind in STORE_ERROR_KINDS ? kind : 'engine') as StoreErrorKind, message),
    });
  }

  get state(): ChildState {
    return this.child.state;
  }
  get pid(): number | undefined {
    return this.child.pid;
  }
  /** how many children have been started: LanceStore reloads when it changes */
  get generation(): number {
    return this.child.generation;
  }

  private call<T>(op: StoreOp, ...args: unknown[]): Promise<T> {
    return this.child.call<T>(op, ...args);
  }

  load() {
    return this.call<{ meta: IndexMeta | null }>('load');
  }
  fileRecords(paths: string[]) {
    return this.call<FileRecord[]>('fileRecords', paths);
  }
  listPaths(prefix: string, after: string | null, limit: number) {
    return this.call<string[]>('listPaths', prefix, after, limit);
  }
  haveHashes(hashes: string[]) {
    return this.call<string[]>('haveHashes', hashes);
  }
  counts() {
    return this.call<IndexCounts>('counts');
  }
  setMeta(meta: IndexMeta | null) {
    return this.call<void>('setMeta', meta);
  }
  writeFiles(writes: FileWrite[]) {
    return this.call<Record<string, string[]>>('writeFiles', writes);
  }
  removeFiles(paths: string[]) {
    return this.call<void>('removeFiles', paths);
  }
  rank(q: RankQuery) {
    return this.call<RankResult>('rank', q);
  }
  explain(q: RankQuery) {
    return this.call<string>('explain', q);
  }
  optimize() {
    return this.call<EngineStats>('optimize');
  }
  stats() {
    return this.call<EngineStats>('stats');
  }
  clear() {
    return this.call<void>('clear');
  }
  async close(): Promise<void> {
    await this.child.close('close');
  }
}

export interface LanceStoreOptions extends EngineOptions {
  /** 'child' (default): LanceDB in a store process of its own; 'inline': in this process */
  process?: 'child' | 'inline';
}

export class LanceStore implements SearchStore {
  meta: IndexMeta | null = null;
  /** vectors waiting for the file that refers to them */
  private readonly pending = new Map<string, FreshVector>();
  private generation = 0;

  private constructor(readonly engine: StoreEngine) {}

  /**
   * Opens (or creates) the index in `dir`. A platform without LanceDB fails
   * here with a StoreError of kind 'unavailable' naming the package and the
   * file store as the way out; nothing switches stores silently.
   */
  static async open(dir: string, options: LanceStoreOptions = {}): Promise<LanceStore> {
    const { process: where = 'child', ...engineOptions } = options;
    let engine: StoreEngine;
    if (where === 'inline') {
      try {
        engine = await LanceEngine.open(dir, engineOptions);
      } catch (e) {
        throw new StoreError((e as { kind?: string }).kind === 'unavailable' ? 'unavailable' : 'engine', (e as Error).message);
      }
    } else {
      engine = new ChildEngine(dir, engineOptions);
    }
    const s = new LanceStore(engine);
    try {
      await s.reload();
    } catch (e) {
      await engine.close().catch(() => {});
      throw e;
    }
    return s;
  }

  private async reload(): Promise<void> {
    const { meta } = await this.engine.load();
    this.meta = meta;
    if (this.engine instanceof ChildEngine) this.generation = this.engine.generation;
  }

  /** after a crash and restart of the store process, what is on disk is the truth */
  private async fresh(): Promise<void> {
    if (this.engine instanceof ChildEngine && this.engine.generation !== this.generation && this.engine.state !== 'closed') {
      await this.reload();
    }
  }

  async setMeta(meta: IndexMeta): Promise<void> {
    await this.fresh();
    if (this.meta && this.meta.model === meta.model && this.meta.dims === meta.dims) return;
    await this.engine.setMeta(meta);
    this.meta = meta;
    this.pending.clear();
  }

  async fileRecords(paths: readonly string[]): Promise<Map<string, FileRecord>> {
    await this.fresh();
    const recs = await this.engine.fileRecords([...paths]);
    return new Map(recs.map((r) => [r.path, r]));
  }

  async *filesUnder(prefix = ''): AsyncIterable<string[]> {
    await this.fresh();
    // keyset pages: a file written or removed between two pages neither shifts nor repeats the others
    let after: string | null = null;
    for (;;) {
      const page: string[] = await this.engine.listPaths(prefix, after, PATH_BATCH);
      if (page.length) yield page;
      if (page.length < PATH_BATCH) return;
      after = page[page.length - 1] ?? null;
    }
  }

  async haveVectors(hashes: Iterable<string>): Promise<Set<string>> {
    await this.fresh();
    const out = new Set<string>();
    const ask: string[] = [];
    for (const h of new Set(hashes)) {
      if (this.pending.has(h)) out.add(h);
      else ask.push(h);
    }
    if (ask.length) for (const h of await this.engine.haveHashes(ask)) out.add(h);
    return out;
  }

  async counts(): Promise<IndexCounts> {
    await this.fresh();
    return this.engine.counts();
  }

  async putVectors(items: { hash: string; vector: Float32Array; text?: string }[]): Promise<void> {
    if (!this.meta) throw new Error('index meta (model, dims) must be set before vectors are stored');
    for (const x of items) {
      if (x.text === undefined)
        throw new Error('the LanceDB store keeps chunk text for full-text search: putVectors needs each chunk text');
      if (x.vector.length !== this.meta.dims) throw new Error(`vector of ${x.vector.length} dims for an index of ${this.meta.dims}`);
      this.pending.set(x.hash, { hash: x.hash, text: x.text, vector: x.vector });
    }
  }

  async putFile(rec: FileRecord): Promise<void> {
    await this.putFiles([rec]);
  }

  /** Writes several files in one store transaction each step (far fewer table versions than one file at a time). */
  async putFiles(recs: FileRecord[]): Promise<void> {
    await this.fresh();
    const writes: FileWrite[] = recs.map((rec) => {
      const fresh: FreshVector[] = [];
      const seen = new Set<string>();
      for (const c of rec.chunks) {
        const p = this.pending.get(c.hash);
        if (p && !seen.has(c.hash)) {
          seen.add(c.hash);
          fresh.push(p);
        }
      }
      return { rec, fresh };
    });
    const missing = await this.engine.writeFiles(writes);
    for (const rec of recs) {
      const gone = new Set(missing[rec.path] ?? []);
      for (const c of rec.chunks) if (!gone.has(c.hash)) this.pending.delete(c.hash);
    }
  }

  async removeFile(p: string): Promise<void> {
    await this.removeFiles([p]);
  }

  async removeFiles(paths: string[]): Promise<void> {
    await this.fresh();
    if (paths.length) await this.engine.removeFiles(paths);
  }

  /** unused by search (rank() replaces it); exact nearest neighbours through the store's own query */
  async nearest(query: Float32Array, k: number, accept: (hash: string) => boolean) {
    const r = await this.rank({ vector: query, text: '', k: k * 4 });
    return r.vector.filter((h) => accept(h.hash)).slice(0, k);
  }

  async rank(q: RankQuery): Promise<RankResult> {
    await this.fresh();
    return this.engine.rank(q);
  }

  /** LanceDB's plan of the query's vector half: which indexes its filter uses */
  async explain(q: RankQuery): Promise<string> {
    await this.fresh();
    return this.engine.explain(q);
  }

  /** Compaction and index upkeep; the vector index is built here once the table passes its threshold. */
  async optimize(): Promise<EngineStats> {
    await this.fresh();
    return this.engine.optimize();
  }

  async stats(): Promise<EngineStats> {
    return this.engine.stats();
  }

  async clear(): Promise<void> {
    await this.fresh();
    await this.engine.clear();
    this.meta = null;
    this.pending.clear();
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
