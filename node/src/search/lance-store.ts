// lance-store.ts - the default SearchStore: LanceDB (lance.ts), by default in
// a child process (store-server.ts) so that the MCP server stays small.
//
// Nothing of the index is held here: file records, paths and chunk hashes
// are asked of the engine a batch at a time (fileRecords, filesUnder,
// haveVectors), so this process holds the batch in hand and no more, at 1M
// chunks as at 1k. New vectors go to the engine as they come (putVectors),
// in messages of at most STAGE_BYTES, and wait there (staged) until the file
// that refers to them is written (putFile): a file of thousands of chunks is
// never one message, and this process keeps only their hashes (measured on
// node_modules' JS/TS: one write of a .d.ts was a 5 MB frame, built as a
// string and a buffer of that size, the largest allocation of the MCP
// server while indexing). A long chunk list goes ahead of its record the
// same way (stageChunks), and records come back in answers of at most
// STAGE_BYTES (a list that does not fit is read in pages: fileChunks), so
// no message either way grows with a file or with the number of files.
// The store process is ended when it grows past storeRssMb between writes
// (STORE_RSS_MB says why). Searching goes to the engine: rank() returns the
// vector half, the full-text (BM25) half over chunk text and the names half
// (BM25 over symbol names), with the path and language filters applied
// inside the store's query.
//
// The child is supervised (ChildEngine, through child.ts's supervisor): a
// crash fails the calls in flight with a StoreError of kind 'crashed', the
// next call starts a new child, and this side reloads the meta from disk
// before going on (a write that was in flight may or may not have happened).
// Vectors staged in a child that died are gone with it: the write of their
// files fails with kind 'crashed' rather than record the files without them,
// and the next indexing run embeds them again.
// More than MAX_RESTARTS crashes within RESTART_WINDOW_MS and the store is
// 'failed' for good (the supervisor's states: child.ts).

import { ChildProcess, type ChildState } from './child.js';
import {
  type EngineOptions,
  type EngineStats,
  type FileChunksPage,
  type FileHead,
  type FileRecordsAnswer,
  type FileWrite,
  type FreshVector,
  type IndexCounts,
  LanceEngine,
  type RankQuery,
  type RankResult,
  type StoreEngine,
} from './lance.js';
import { type ChunkMeta, type FileRecord, type IndexMeta, PATH_BATCH, type SearchStore } from './store.js';
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
/**
 * Bytes of chunk text and vectors per stageVectors message (a vector counts
 * as its base64 text in the frame). One frame is built at a time, as a JSON
 * string and a buffer of its size: this bounds the largest allocation of the
 * write path, whatever the size of a file (and keeps the string below V8's
 * large-object size, so it dies young in the new space).
 */
export const STAGE_BYTES = 64 << 10;
/**
 * A file's chunk list longer than this (as JSON) is staged ahead of its
 * record (stageChunks), in pieces of at most STAGE_BYTES, instead of riding
 * in the write: 4 such lists fit one write's frame.
 */
const INLINE_CHUNKS_BYTES = STAGE_BYTES >> 2;
/** a chunk hash and its JSON quotes and comma */
const HASH_BYTES = 64 + 3;

/** `items` in consecutive runs of at most `budget` bytes by `size` (an item larger than that alone is a run of its own). */
export function* runs<T>(items: Iterable<T>, size: (x: T) => number, budget = STAGE_BYTES): Generator<T[]> {
  let run: T[] = [];
  let bytes = 0;
  for (const x of items) {
    const n = size(x);
    if (run.length && bytes + n > budget) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(x);
    bytes += n;
  }
  if (run.length) yield run;
}

/** a chunk meta's bytes in a frame (JSON, and the comma after it) */
const chunkBytes = (c: ChunkMeta) => Buffer.byteLength(JSON.stringify(c)) + 1;

export class ChildEngine implements StoreEngine {
  private readonly child: ChildProcess;

  constructor(dir: string, options: EngineOptions) {
    this.child = new ChildProcess({
      name: 'store',
      script: new URL('./store-server.js', import.meta.url),
      args: [dir, JSON.stringify(options)],
      heapMb: STORE_HEAP_MB,
      // glibc's malloc gives each query thread an arena of its own (up to 8 per core), and the large
      // Arrow buffers freed there stay in it: at 10k chunks, 200 hybrid queries, 406 MB RSS. Four
      // arenas hold 226 MB at the same CPU time per query (29.7 ms). A fixed 128 KiB mmap threshold
      // (MALLOC_MMAP_THRESHOLD_, used before) held 130 MB but maps and faults in every large buffer
      // afresh: 6.5x the CPU per query at 10k (194 ms, 10,647 page faults a query), and at 1M chunks
      // a `**/*.c` filter 1.38 s of CPU a query against 0.35 s; two arenas cost 44% more CPU at 10k.
      // glibc's setting: ignored elsewhere.
      // The full-text index builder keeps its postings in memory up to LANCE_FTS_PARTITION_SIZE MiB
      // per worker (2 GiB by default) before it spills them: at 1M chunks that step grew the process
      // by ~300 MB, more than any other index build; 64 MiB bounds it (the environment overrides these).
      env: { LANCEDB_LOG: 'error', MALLOC_ARENA_MAX: '4', LANCE_FTS_PARTITION_SIZE: '64' },
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
  /** the supervisor's counts (children started, crashes, the largest frame sent) */
  status() {
    return this.child.status();
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
  fileRecords(paths: string[], budget?: number | null) {
    return this.call<FileRecordsAnswer>('fileRecords', paths, budget ?? null);
  }
  fileChunks(path: string, from: number, budget: number) {
    return this.call<FileChunksPage | null>('fileChunks', path, from, budget);
  }
  listPaths(prefix: string, after: string | null, limit: number) {
    return this.call<string[]>('listPaths', prefix, after, limit);
  }
  haveHashes(hashes: string[]) {
    return this.call<string[]>('haveHashes', hashes);
  }
  stageVectors(fresh: FreshVector[]) {
    return this.call<void>('stageVectors', fresh);
  }
  stageChunks(key: number, chunks: ChunkMeta[]) {
    return this.call<void>('stageChunks', key, chunks);
  }
  counts() {
    return this.call<IndexCounts>('counts');
  }
  setMeta(meta: IndexMeta | null) {
    return this.call<void>('setMeta', meta);
  }
  writeFiles(writes: FileWrite[]) {
    return this.call<Record<string, number>>('writeFiles', writes);
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
  /** the store process's resident set, bytes */
  memory() {
    return this.call<number>('memory');
  }
  /** Ends the store process once it has finished its work (closing the tables writes what is pending); the next call starts another. */
  async restart(): Promise<void> {
    await this.child.stopAndWait();
  }
  async close(): Promise<void> {
    await this.child.close('close');
  }
}

export interface LanceStoreOptions extends EngineOptions {
  /** 'child' (default): LanceDB in a store process of its own; 'inline': in this process */
  process?: 'child' | 'inline';
  /** the store process's RSS, MB, past which it is restarted after a write or optimize() (default 384; 0: never) */
  storeRssMb?: number;
}

/**
 * LanceDB's memory in the store process grows with every write and index
 * upkeep, and closing the tables or the connection gives none of it back
 * (measured on 0.37.1, writes of 256 rows of /usr/include, optimize every
 * 20,000: 172 MB at 20k rows, 376 at 80k, 745 at 190k; closing and opening
 * the connection after each optimize: no less; without the full-text
 * indexes 324 MB at 100k; glibc's own count at 350k rows: 600 of 745 MB
 * of its heap in use, so not freed memory kept by malloc). A new process
 * opens the tables in a fraction of that: so a store process past this
 * many MB is ended between writes, when nothing waits in it, and the next
 * call starts another.
 */
const STORE_RSS_MB = 384;

export class LanceStore implements SearchStore {
  meta: IndexMeta | null = null;
  /** hashes of the vectors staged in the engine, waiting for the file that refers to them */
  private readonly staged = new Set<string>();
  /** the store process they were staged in (a new one does not have them) */
  private stagedIn = 0;
  /** the key of the last chunk list staged (stageChunks) */
  private stageKey = 0;
  private generation = 0;
  /** store processes ended for their size (bounded()) */
  restarts = 0;
  /** the RSS of the store process of that generation at its first check (bounded()) */
  private rssOf = { generation: 0, first: 0 };

  private constructor(
    readonly engine: StoreEngine,
    private readonly rssBound: number,
  ) {}

  /**
   * Opens (or creates) the index in `dir`. A platform without LanceDB fails
   * here with a StoreError of kind 'unavailable' naming the package and the
   * file store as the way out; nothing switches stores silently.
   */
  static async open(dir: string, options: LanceStoreOptions = {}): Promise<LanceStore> {
    const { process: where = 'child', storeRssMb = STORE_RSS_MB, ...engineOptions } = options;
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
    const s = new LanceStore(engine, storeRssMb * 1048576);
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
    this.staged.clear();
  }

  /**
   * The records, in answers of at most STAGE_BYTES: the paths not answered
   * are asked again, a chunk list that did not fit is read a page at a time.
   */
  async fileRecords(paths: readonly string[]): Promise<Map<string, FileRecord>> {
    await this.fresh();
    const out = new Map<string, FileRecord>();
    let rest = [...paths];
    while (rest.length) {
      const { records, answered } = await this.engine.fileRecords(rest, STAGE_BYTES);
      for (const r of records) {
        const rec = r.chunks ? r : await this.pagedRecord(r);
        if (rec) out.set(rec.path, rec);
      }
      rest = rest.slice(Math.max(1, answered));
    }
    return out;
  }

  /**
   * A record whose chunk list is read a page at a time (fileChunks); read
   * again from the first page when a write replaced the record meanwhile
   * (a page's head differs), so that no list is spliced from two versions.
   * Undefined when the file left the index meanwhile.
   */
  private async pagedRecord(first: FileHead): Promise<FileRecord | undefined> {
    const same = (a: FileHead, b: FileHead) =>
      a.hash === b.hash &&
      a.size === b.size &&
      a.mtimeMs === b.mtimeMs &&
      a.language === b.language &&
      a.chunkCount === b.chunkCount &&
      a.chunkBytes === b.chunkBytes;
    let head = first;
    for (let attempt = 0; attempt < 4; attempt++) {
      const chunks: ChunkMeta[] = [];
      let changed = false;
      while (chunks.length < head.chunkCount) {
        const page = await this.engine.fileChunks(head.path, chunks.length, STAGE_BYTES);
        if (!page) return undefined;
        if (!same(page.head, head) || !page.chunks.length) {
          head = page.head;
          changed = true;
          break;
        }
        for (const c of page.chunks) chunks.push(c);
      }
      if (changed) continue;
      const { chunkCount: _n, chunkBytes: _b, ...rec } = head;
      return { ...rec, chunks };
    }
    throw new StoreError('engine', `the record of ${first.path} was rewritten while its chunk list was read, 4 times over`);
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
    const staged = this.stagedHere();
    for (const h of new Set(hashes)) {
      if (staged.has(h)) out.add(h);
      else ask.push(h);
    }
    for (const part of runs(ask, () => HASH_BYTES)) for (const h of await this.engine.haveHashes(part)) out.add(h);
    return out;
  }

  async counts(): Promise<IndexCounts> {
    await this.fresh();
    return this.engine.counts();
  }

  /** The staged hashes, as long as the store process that holds them is the one running (else none). */
  private stagedHere(): Set<string> {
    return this.stagedAlive() ? this.staged : new Set();
  }

  /** Whether the staged vectors are still in the engine: inline, or the same store process, still up. */
  private stagedAlive(): boolean {
    return this.aliveSince(this.stagedIn);
  }

  /** Throws (kind 'crashed') when vectors were staged in a store process that is gone (or going: a call would start another). */
  private stagedOrLost(): void {
    if (!this.staged.size || this.stagedAlive()) return;
    const n = this.staged.size;
    this.staged.clear();
    throw new StoreError(
      'crashed',
      `the store process that held ${n} new vector(s) waiting for their files is gone: those files are not written; the next indexing run embeds them again`,
    );
  }

  /** Sends the vectors to the engine, STAGE_BYTES at a time; they wait there for their files (putFile). */
  async putVectors(items: { hash: string; vector: Float32Array; text?: string }[]): Promise<void> {
    const meta = this.meta;
    if (!meta) throw new Error('index meta (model, dims) must be set before vectors are stored');
    const fresh: FreshVector[] = [];
    for (const x of items) {
      if (x.text === undefined)
        throw new Error('the LanceDB store keeps chunk text for full-text search: putVectors needs each chunk text');
      if (x.vector.length !== meta.dims) throw new Error(`vector of ${x.vector.length} dims for an index of ${meta.dims}`);
      fresh.push({ hash: x.hash, text: x.text, vector: x.vector });
    }
    await this.fresh();
    // JSON escapes at most double a text's length here (quotes, backslashes, newlines); a vector is base64, 4/3 of its bytes
    const size = (f: FreshVector) => 2 * f.text.length + Math.ceil((f.vector.byteLength * 4) / 3) + 128;
    for (const sent of runs(fresh, size)) {
      this.stagedOrLost();
      await this.engine.stageVectors(sent);
      // (a call that found the process gone started another: those staged before are lost)
      this.stagedOrLost();
      this.stagedIn = this.generationNow();
      for (const f of sent) this.staged.add(f.hash);
    }
  }

  /** the store process running now (0 inline) */
  private generationNow(): number {
    return this.engine instanceof ChildEngine ? this.engine.generation : 0;
  }

  /** Whether what was staged in store process `gen` is still there: inline, or that process, still up. */
  private aliveSince(gen: number): boolean {
    const e = this.engine;
    return !(e instanceof ChildEngine) || (e.state === 'up' && e.generation === gen);
  }

  async putFile(rec: FileRecord): Promise<void> {
    await this.putFiles([rec]);
  }

  /**
   * Writes several files in one store transaction each step (far fewer table
   * versions than one file at a time), in writes of at most STAGE_BYTES: a
   * chunk list longer than INLINE_CHUNKS_BYTES goes ahead of its write in
   * pieces (stageChunks), as the new vectors went (putVectors). Fails with
   * kind 'crashed', writing none of the files of the write at hand, when the
   * store process that held its vectors or chunk lists is gone.
   */
  async putFiles(recs: FileRecord[]): Promise<void> {
    await this.fresh();
    this.stagedOrLost();
    /** a file's write, its bytes in the write's frame (the head and the chunk list, unless that goes ahead) */
    type Write = { w: FileWrite; rec: FileRecord; bytes: number; stage: boolean };
    const writes = recs.map((rec): Write => {
      const list = rec.chunks.reduce((n, c) => n + chunkBytes(c), 0);
      const head = Buffer.byteLength(JSON.stringify({ ...rec, chunks: [] })) + 96;
      const stage = list > INLINE_CHUNKS_BYTES;
      return { w: { rec, fresh: [] }, rec, bytes: head + (stage ? 0 : list), stage };
    });
    for (const batch of runs(writes, (x) => x.bytes)) {
      /** the store process the batch's chunk lists were staged in */
      let gen: number | null = null;
      for (const x of batch) {
        if (!x.stage) continue;
        const key = ++this.stageKey;
        for (const piece of runs(x.rec.chunks, chunkBytes)) {
          await this.engine.stageChunks(key, piece);
          gen ??= this.generationNow();
          this.listsOrLost(gen, x.rec.path);
        }
        x.w = { rec: { ...x.rec, chunks: [] }, fresh: [], stagedChunks: { key, count: x.rec.chunks.length } };
      }
      if (gen !== null) this.listsOrLost(gen, batch.find((x) => x.w.stagedChunks)?.rec.path ?? '');
      this.stagedOrLost();
      try {
        await this.engine.writeFiles(batch.map((x) => x.w));
      } finally {
        // written, or not in the store at all: the next run finds the file without its hash and embeds them again
        for (const x of batch) for (const c of x.rec.chunks) this.staged.delete(c.hash);
      }
    }
    await this.bounded();
  }

  /**
   * Ends the store process when it holds more than its bound and nothing
   * waits in it (STORE_RSS_MB). A process that starts near or past the bound
   * (an index so large that opening it takes that much) is ended only once
   * it has grown by half the bound since its first check, not after every write.
   */
  private async bounded(): Promise<void> {
    const e = this.engine;
    if (!(e instanceof ChildEngine) || !this.rssBound || this.staged.size || e.state !== 'up') return;
    const rss = await e.memory();
    if (this.rssOf.generation !== e.generation) this.rssOf = { generation: e.generation, first: rss };
    if (rss <= Math.max(this.rssBound, this.rssOf.first + this.rssBound / 2)) return;
    await e.restart();
    this.restarts++;
  }

  /** Throws (kind 'crashed') when the store process that chunk lists were staged in (gen) is gone or going. */
  private listsOrLost(gen: number, path: string): void {
    if (this.aliveSince(gen)) return;
    // the vectors staged there are gone with it too
    this.staged.clear();
    throw new StoreError(
      'crashed',
      `the store process that held the chunk list of ${path} is gone: the files of its write are not written; the next indexing run writes them`,
    );
  }

  async removeFile(p: string): Promise<void> {
    await this.removeFiles([p]);
  }

  async removeFiles(paths: string[]): Promise<void> {
    await this.fresh();
    for (const part of runs(paths, (p) => 2 * Buffer.byteLength(p) + 3)) await this.engine.removeFiles(part);
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
    const stats = await this.engine.optimize();
    await this.bounded();
    return stats;
  }

  async stats(): Promise<EngineStats> {
    return this.engine.stats();
  }

  async clear(): Promise<void> {
    await this.fresh();
    await this.engine.clear();
    this.meta = null;
    this.staged.clear();
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
