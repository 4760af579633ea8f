// store.ts - where the index lives, behind a small interface (SearchStore)
// so that another engine (LanceDB in-process, Qdrant or Milvus for a team)
// can replace it without touching the indexer.
//
// FileStore is the simple on-disk engine used today. Vectors are
// content-addressed: one record per distinct chunk text, keyed by the
// SHA-256 of that text, so a chunk that moves (within a file or to another)
// keeps its vector. Two append-only files in the index directory:
//
//   vectors.bin    records of [32-byte chunk hash][dims x float32]
//   journal.jsonl  one line per change: meta, file (its hash and chunks), del, clear
//
// Crash safety: vectors are written before the file line that refers to
// them, so an interrupted run leaves at worst vectors nobody refers to yet,
// which the next run finds and does not embed again; a torn last journal
// line or vector record is dropped on open. Search streams vectors.bin
// (memory does not grow with the index); what is kept in memory is one
// entry per file and one offset per vector. Unreferenced vectors stay until
// compact() rewrites both files.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { at } from '../arrays.js';
import type { IndexCounts, RankQuery, RankResult } from './lance.js';

export type { IndexCounts } from './lance.js';

export interface ChunkMeta {
  /** SHA-256 of the chunk text, hex */
  hash: string;
  startLine: number;
  endLine: number;
  symbol: string | null;
  kind: string;
}

export interface FileRecord {
  path: string;
  /** SHA-256 of the file content, hex */
  hash: string;
  size: number;
  mtimeMs: number;
  language: string;
  chunks: ChunkMeta[];
}

export interface IndexMeta {
  /** what made the vectors (model name, file, dims, prefix): vectors of another model are never mixed in */
  model: string;
  dims: number;
}

export interface VectorHit {
  hash: string;
  score: number;
}

/**
 * Every lookup is asynchronous and takes or yields one batch: a store may
 * keep its file records and hashes elsewhere (LanceStore: in its store
 * process, on disk), so that the process asking holds only the batch in
 * hand, whatever the size of the index.
 */
export interface SearchStore {
  readonly meta: IndexMeta | null;
  setMeta(meta: IndexMeta): Promise<void>;
  /** the records of those of these paths that are indexed (the caller bounds the batch) */
  fileRecords(paths: readonly string[]): Promise<Map<string, FileRecord>>;
  /** every indexed path that starts with `prefix` ('' for all), a batch at a time, each path once */
  filesUnder(prefix?: string): AsyncIterable<string[]>;
  /** those of these chunk hashes the store has a vector for */
  haveVectors(hashes: Iterable<string>): Promise<Set<string>>;
  /** files and chunk rows in the index */
  counts(): Promise<IndexCounts>;
  /** stores vectors (before any file refers to them); text is the chunk's, for a store with full-text search */
  putVectors(items: { hash: string; vector: Float32Array; text?: string }[]): Promise<void>;
  putFile(rec: FileRecord): Promise<void>;
  /** several files at once, where the store writes a batch cheaper than each file alone */
  putFiles?(recs: FileRecord[]): Promise<void>;
  removeFile(path: string): Promise<void>;
  /** several paths at once, where the store removes a batch cheaper than each path alone */
  removeFiles?(paths: string[]): Promise<void>;
  /** the k nearest chunk hashes by cosine (vectors are normalized) among those accept() admits */
  nearest(query: Float32Array, k: number, accept: (hash: string) => boolean): Promise<VectorHit[]>;
  /**
   * A store with its own query engine ranks in it: the vector half and the
   * full-text (BM25) half, path and language filters applied in the store.
   * Without it, search.ts reads the file records (filesUnder, fileRecords) and calls nearest().
   */
  rank?(q: RankQuery): Promise<RankResult>;
  clear(): Promise<void>;
  close(): Promise<void>;
}

/** paths per batch of filesUnder() */
export const PATH_BATCH = 1000;

/** Every indexed path under `prefix`, collected (for a caller that must not read while it writes). */
export async function allPaths(store: SearchStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.filesUnder(prefix)) out.push(...b);
  return out;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

type JournalLine = { op: 'meta'; meta: IndexMeta } | { op: 'file'; file: FileRecord } | { op: 'del'; path: string } | { op: 'clear' };

export class FileStore implements SearchStore {
  meta: IndexMeta | null = null;
  private readonly byPath = new Map<string, FileRecord>();
  /** chunk hash -> byte offset of its record in vectors.bin */
  private readonly offsets = new Map<string, number>();
  private vectorBytes = 0;

  private constructor(readonly dir: string) {}

  private get journalPath(): string {
    return path.join(this.dir, 'journal.jsonl');
  }
  private get vectorsPath(): string {
    return path.join(this.dir, 'vectors.bin');
  }
  private get recordBytes(): number {
    return 32 + 4 * (this.meta?.dims ?? 0);
  }

  static async open(dir: string): Promise<FileStore> {
    await mkdir(dir, { recursive: true });
    const s = new FileStore(dir);
    await s.load();
    return s;
  }

  private async load(): Promise<void> {
    let text = '';
    try {
      text = await readFile(this.journalPath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const lines = text.split('\n');
    let good = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = at(lines, i);
      if (!line) {
        good += 1;
        continue;
      }
      let j: JournalLine;
      try {
        j = JSON.parse(line) as JournalLine;
      } catch {
        // only the last line can be torn (a crash mid-append); anything else is damage
        if (i < lines.length - 1) throw new Error(`index journal ${this.journalPath} is damaged at line ${i + 1}`);
        break;
      }
      this.apply(j);
      good += Buffer.byteLength(line) + 1;
    }
    if (good < Buffer.byteLength(text)) await truncate(this.journalPath, good);
    await this.loadVectors();
  }

  private apply(j: JournalLine): void {
    if (j.op === 'meta') this.meta = j.meta;
    else if (j.op === 'file') this.byPath.set(j.file.path, j.file);
    else if (j.op === 'del') this.byPath.delete(j.path);
    else if (j.op === 'clear') this.byPath.clear();
  }

  private async loadVectors(): Promise<void> {
    this.offsets.clear();
    this.vectorBytes = 0;
    if (!this.meta) return;
    let size = 0;
    try {
      size = (await stat(this.vectorsPath)).size;
    } catch {
      return;
    }
    const rec = this.recordBytes;
    const whole = size - (size % rec);
    if (whole !== size) await truncate(this.vectorsPath, whole);
    const fh = await open(this.vectorsPath, 'r');
    try {
      const buf = Buffer.alloc(32);
      for (let off = 0; off < whole; off += rec) {
        await fh.read(buf, 0, 32, off);
        this.offsets.set(buf.toString('hex'), off);
      }
    } finally {
      await fh.close();
    }
    this.vectorBytes = whole;
  }

  private async append(j: JournalLine): Promise<void> {
    await appendFile(this.journalPath, `${JSON.stringify(j)}\n`);
    this.apply(j);
  }

  async setMeta(meta: IndexMeta): Promise<void> {
    if (this.meta && (this.meta.model !== meta.model || this.meta.dims !== meta.dims)) {
      // other vectors: start over rather than mix them
      await this.clear();
    }
    if (!this.meta || this.meta.model !== meta.model) await this.append({ op: 'meta', meta });
  }

  // the journal is replayed into memory on open: these answer from there

  /** FileStore only (it holds its records): the record of one path */
  file(p: string): FileRecord | undefined {
    return this.byPath.get(p);
  }
  /** FileStore only: every record */
  files(): IterableIterator<FileRecord> {
    return this.byPath.values();
  }
  /** FileStore only: whether vectors.bin has this chunk's vector */
  hasVector(hash: string): boolean {
    return this.offsets.has(hash);
  }

  async fileRecords(paths: readonly string[]): Promise<Map<string, FileRecord>> {
    const out = new Map<string, FileRecord>();
    for (const p of paths) {
      const r = this.byPath.get(p);
      if (r) out.set(p, r);
    }
    return out;
  }

  async *filesUnder(prefix = ''): AsyncIterable<string[]> {
    // a snapshot: the caller may remove files between batches
    const all = [...this.byPath.keys()].filter((p) => p.startsWith(prefix));
    for (let i = 0; i < all.length; i += PATH_BATCH) yield all.slice(i, i + PATH_BATCH);
  }

  async haveVectors(hashes: Iterable<string>): Promise<Set<string>> {
    const out = new Set<string>();
    for (const h of hashes) if (this.offsets.has(h)) out.add(h);
    return out;
  }

  async counts(): Promise<IndexCounts> {
    let chunks = 0;
    for (const f of this.byPath.values()) chunks += f.chunks.length;
    return { files: this.byPath.size, chunks };
  }
  get vectorCount(): number {
    return this.offsets.size;
  }

  async putVectors(items: { hash: string; vector: Float32Array }[]): Promise<void> {
    if (!this.meta) throw new Error('index meta (model, dims) must be set before vectors are stored');
    const dims = this.meta.dims;
    const taken = new Set<string>();
    const fresh = items.filter((x) => !this.offsets.has(x.hash) && !taken.has(x.hash) && taken.add(x.hash));
    if (!fresh.length) return;
    const buf = Buffer.alloc(fresh.length * this.recordBytes);
    fresh.forEach((x, i) => {
      if (x.vector.length !== dims) throw new Error(`vector of ${x.vector.length} dims for an index of ${dims}`);
      const off = i * this.recordBytes;
      Buffer.from(x.hash, 'hex').copy(buf, off);
      Buffer.from(x.vector.buffer, x.vector.byteOffset, dims * 4).copy(buf, off + 32);
    });
    const fh = await open(this.vectorsPath, 'a');
    try {
      await fh.write(buf);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    fresh.forEach((x, i) => {
      this.offsets.set(x.hash, this.vectorBytes + i * this.recordBytes);
    });
    this.vectorBytes += buf.length;
  }

  async putFile(rec: FileRecord): Promise<void> {
    for (const c of rec.chunks) if (!this.offsets.has(c.hash)) throw new Error(`chunk ${c.hash} of ${rec.path} has no vector`);
    await this.append({ op: 'file', file: rec });
  }

  async removeFile(p: string): Promise<void> {
    if (this.byPath.has(p)) await this.append({ op: 'del', path: p });
  }

  async nearest(query: Float32Array, k: number, accept: (hash: string) => boolean): Promise<VectorHit[]> {
    if (!this.meta || !this.vectorBytes) return [];
    const dims = this.meta.dims;
    if (query.length !== dims) throw new Error(`query vector of ${query.length} dims for an index of ${dims}`);
    const rec = this.recordBytes;
    const hits: VectorHit[] = [];
    let carry = Buffer.alloc(0);
    const stream = createReadStream(this.vectorsPath, { start: 0, end: this.vectorBytes - 1, highWaterMark: rec * 256 });
    for await (const part of stream) {
      const b = carry.length ? Buffer.concat([carry, part as Buffer]) : (part as Buffer);
      const n = Math.floor(b.length / rec);
      for (let r = 0; r < n; r++) {
        const off = r * rec;
        const hash = b.toString('hex', off, off + 32);
        if (!accept(hash)) continue;
        let dot = 0;
        for (let d = 0; d < dims; d++) dot += at(query, d) * b.readFloatLE(off + 32 + 4 * d);
        if (hits.length < k || dot > at(hits, hits.length - 1).score) {
          hits.push({ hash, score: dot });
          hits.sort((x, y) => y.score - x.score);
          if (hits.length > k) hits.pop();
        }
      }
      carry = Buffer.from(b.subarray(n * rec));
    }
    return hits;
  }

  /** Rewrites both files with only what live files refer to. */
  async compact(): Promise<void> {
    if (!this.meta) return;
    const live = new Set<string>();
    for (const f of this.byPath.values()) for (const c of f.chunks) live.add(c.hash);
    const rec = this.recordBytes;
    const tmp = `${this.vectorsPath}.tmp`;
    const src = await open(this.vectorsPath, 'r');
    const dst = await open(tmp, 'w');
    try {
      const buf = Buffer.alloc(rec);
      for (const h of live) {
        const off = this.offsets.get(h);
        if (off === undefined) continue;
        await src.read(buf, 0, rec, off);
        await dst.write(buf);
      }
      await dst.datasync();
    } finally {
      await src.close();
      await dst.close();
    }
    const lines = [{ op: 'meta', meta: this.meta }, ...[...this.byPath.values()].map((file) => ({ op: 'file', file }))];
    await writeFile(`${this.journalPath}.tmp`, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    await rename(tmp, this.vectorsPath);
    await rename(`${this.journalPath}.tmp`, this.journalPath);
    await this.loadVectors();
  }

  async clear(): Promise<void> {
    await rm(this.vectorsPath, { force: true });
    await rm(this.journalPath, { force: true });
    this.byPath.clear();
    this.offsets.clear();
    this.vectorBytes = 0;
    this.meta = null;
  }

  async close(): Promise<void> {
    // every write is complete when its call resolves; nothing is buffered
  }
}
