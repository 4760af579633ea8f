// indexer.ts - brings a store up to date with a repository, incrementally.
//
// Per file: unchanged size and mtime -> nothing read; same content hash ->
// only the new mtime recorded; otherwise chunked, and only chunks whose text
// hash has no vector yet are embedded (a moved or copied function keeps its
// vector). Files are written to the store after their vectors, a batch at a
// time, so an interrupted run (abort, crash, kill) keeps every finished batch
// and the next run picks up from there. Files gone from the repository
// leave the index at the end of a complete walk (never after an aborted one:
// the unwalked rest is not gone).
//
// Two ways in: indexRepository walks the whole tree (first counting what
// changed, so that progress can say what is left and how long it will
// take); indexPaths takes the paths a file watcher saw change.
//
// The store is asked a batch at a time (the records of the next WALK_BATCH
// walked files, the hashes of one file's chunks, the indexed paths a page at
// a time): what this process holds of the index is that batch and the set of
// paths seen by the walk, never every file's chunk list.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { zip } from '../arrays.js';
import { ChunkWorkerError } from './chunk-worker.js';
import { type Chunk, type ChunkOptions, chunkFile, type FileChunker, inThreadChunker, languageIdOf } from './chunker.js';
import { admitFile, emptyStats, type IgnoreRules, type WalkedFile, type WalkOptions, type WalkStats, walkFiles } from './files.js';
import { languageNeedsText } from './languages.js';
import { type ChunkMeta, type FileRecord, type SearchStore, sha256 } from './store.js';

/** walked files whose records are asked of the store at once */
const WALK_BATCH = 256;
/**
 * Characters of chunk text queued before they are embedded and their files
 * written, whatever their number: small chunks are counted by flushChunks,
 * this bounds the text this process holds when chunks are long (one file
 * queues all its chunks at once, so a large file is flushed alone).
 */
const FLUSH_CHARS = 1 << 20;
/**
 * Chunk rows (new or with a vector already) queued before their files are
 * written: a file whose chunks all have vectors queues no text (a forced
 * run, a copied file), and without this bound a forced run over a whole
 * repository queued every file's record for one write at the end.
 */
const FLUSH_ROWS = 8192;

/** What the indexer needs from an embedder (Embedder satisfies it). */
export interface IndexEmbedder {
  embedBatch(
    texts: string[],
    options?: { prefix?: string; signal?: AbortSignal },
  ): Promise<{ embedding: Float32Array; degraded: boolean; reason?: string; error?: Error }[]>;
  tokenize(text: string): Promise<number[]>;
  /** the number of tokens of a text, without the ids (a chunker asks it of whole files' texts); else tokenize().length */
  countTokens?(text: string): Promise<number>;
}

export interface IndexOptions extends WalkOptions {
  /** prepended to every chunk when embedded (and counted in its tokens), e.g. "search_document: " */
  documentPrefix?: string;
  /** the most tokens a chunk may have (the model's context, or less) */
  maxTokens: number;
  minTokens?: number;
  /** chunks embedded per request (default 64) */
  batchSize?: number;
  /** chunks queued before they are embedded and their files written (default 4 x batchSize): the work an interruption can cost */
  flushChunks?: number;
  /** characters of chunk text queued before a flush, whatever the number of chunks (default 1 Mi) */
  flushChars?: number;
  /** chunk rows of the queued files (new chunks or not) before a flush (default 8192) */
  flushRows?: number;
  /** what chunks the files (default: chunkFile in this thread; the MCP server gives a ChunkWorker) */
  chunker?: FileChunker;
  /** re-chunk every file even when unchanged (vectors are still reused by hash) */
  force?: boolean;
  signal?: AbortSignal;
  /** walk and chunk only: report what would be embedded and estimate the time from a sample; nothing is stored */
  dryRun?: boolean;
  onProgress?: (p: IndexProgress) => void;
}

export interface IndexProgress {
  filesSeen: number;
  chunksEmbedded: number;
  currentFile: string | null;
  /** files whose content may have changed, counted before the run (null while counting) */
  filesToDo: number | null;
  /** of those, the ones not read and chunked yet */
  filesPending: number | null;
  /** chunks chunked but not embedded yet, plus the estimate for the files not chunked yet */
  chunksPending: number | null;
  /** the pending chunks at the chunk rate measured in this run; null until a chunk was embedded */
  etaMs: number | null;
}

export interface IndexReport {
  walk: WalkStats;
  filesUnchanged: number;
  filesChanged: number;
  filesRemoved: number;
  chunks: number;
  chunksEmbedded: number;
  chunksReused: number;
  /** files or chunks that failed, with why; the rest of the run went on */
  errors: { path: string; message: string }[];
  aborted: boolean;
  /** dry run: distinct chunks that would be embedded, and the time that would take at the rate of a sample batch */
  chunksToEmbed?: number;
  estimatedMs?: number;
}

interface Pending {
  rec: FileRecord;
  texts: Map<string, string>; // chunk hash -> text, for the chunks without a vector
}

/** The SHA-256 of a file, read in pieces (sha256() of its whole content). */
async function hashFile(abs: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(abs, { highWaterMark: 64 << 10 })) h.update(piece as Buffer);
  return h.digest('hex');
}

/** Whether a file has to be read: its size or mtime differ from its record (or there is none, or force). */
function mayHaveChanged(old: FileRecord | undefined, f: WalkedFile, force: boolean | undefined): boolean {
  if (force || !old?.hash) return true;
  return old.size !== f.size || old.mtimeMs !== f.mtimeMs;
}

/** The walked files in batches of WALK_BATCH, each with the store's records of its files. */
async function* withRecords(
  store: SearchStore,
  files: AsyncIterable<WalkedFile> | Iterable<WalkedFile>,
): AsyncGenerator<{ batch: WalkedFile[]; records: Map<string, FileRecord> }> {
  let batch: WalkedFile[] = [];
  const out = async () => ({ batch, records: await store.fileRecords(batch.map((f) => f.path)) });
  for await (const f of files) {
    batch.push(f);
    if (batch.length >= WALK_BATCH) {
      yield await out();
      batch = [];
    }
  }
  if (batch.length) yield await out();
}

/** One indexing run over any sequence of files: the per-file step, the batched embedding, the progress numbers. */
class Run {
  readonly report: IndexReport = {
    walk: emptyStats(),
    filesUnchanged: 0,
    filesChanged: 0,
    filesRemoved: 0,
    chunks: 0,
    chunksEmbedded: 0,
    chunksReused: 0,
    errors: [],
    aborted: false,
  };
  readonly seen = new Set<string>();
  private readonly prefix: string;
  private readonly batchSize: number;
  private readonly flushChunks: number;
  private readonly flushChars: number;
  private readonly flushRows: number;
  /** characters of the queued chunk texts */
  private queuedChars = 0;
  /** chunk rows of the queued files */
  private queuedRows = 0;
  private queue: Pending[] = [];
  private queued = 0;
  private readonly dryHashes = new Set<string>();
  private readonly sample: string[] = [];
  // progress: the plan (files and bytes that may have changed), and what was done of it
  private filesToDo: number | null = null;
  private bytesToDo = 0;
  private filesDone = 0;
  private bytesDone = 0;
  /** chunks found to need a vector so far (queued or embedded) */
  private chunksFound = 0;
  private startedAt = 0;

  constructor(
    private readonly embedder: IndexEmbedder,
    private readonly store: SearchStore,
    private readonly options: IndexOptions,
  ) {
    this.prefix = options.documentPrefix ?? '';
    this.batchSize = options.batchSize ?? 64;
    this.flushChunks = options.flushChunks ?? 4 * this.batchSize;
    this.flushChars = options.flushChars ?? FLUSH_CHARS;
    this.flushRows = options.flushRows ?? FLUSH_ROWS;
  }

  /** Plans the run from the files that may have changed (names, sizes and heads only), so progress can say what is left. */
  async planFrom(files: AsyncIterable<WalkedFile> | Iterable<WalkedFile>): Promise<void> {
    let n = 0;
    let bytes = 0;
    for await (const { batch, records } of withRecords(this.store, files)) {
      this.options.signal?.throwIfAborted();
      for (const f of batch) {
        if (mayHaveChanged(records.get(f.path), f, this.options.force)) {
          n++;
          bytes += f.size;
        }
      }
    }
    this.plan(n, bytes);
  }

  /** Indexes each file, with the store's record of it. */
  async visitAll(files: AsyncIterable<WalkedFile> | Iterable<WalkedFile>): Promise<void> {
    for await (const { batch, records } of withRecords(this.store, files)) {
      for (const f of batch) await this.visit(f, records.get(f.path));
    }
  }

  /** Ends the run: a dry run estimates what it would take; a real one writes what is queued, then the leaving paths leave. */
  async finish(leaving: string[]): Promise<void> {
    if (this.options.dryRun) {
      await this.estimate();
      this.report.filesRemoved += leaving.length;
      return;
    }
    await this.flush();
    await removeAll(this.store, leaving, this.report);
  }

  plan(files: number, bytes: number): void {
    this.filesToDo = files;
    this.bytesToDo = bytes;
    this.startedAt = performance.now();
  }

  progress(file: string | null): void {
    if (!this.options.onProgress) return;
    this.options.onProgress({
      filesSeen: this.seen.size,
      chunksEmbedded: this.report.chunksEmbedded,
      currentFile: file,
      ...this.pending(),
    });
  }

  /** What is left of this run, and how long it will take at the rate measured so far. */
  pending(): Pick<IndexProgress, 'filesToDo' | 'filesPending' | 'chunksPending' | 'etaMs'> {
    if (this.filesToDo === null) return { filesToDo: null, filesPending: null, chunksPending: null, etaMs: null };
    const bytesLeft = Math.max(0, this.bytesToDo - this.bytesDone);
    // chunks per byte as measured on the files chunked so far; none chunked yet: nothing to go on
    const perByte = this.bytesDone > 0 ? this.chunksFound / this.bytesDone : 0;
    const chunksPending = this.queued + Math.round(bytesLeft * perByte);
    const embedded = this.report.chunksEmbedded;
    // the whole run's time per embedded chunk: chunking and tokenizing are part of what is left too
    const msPerChunk = embedded > 0 ? (performance.now() - this.startedAt) / embedded : null;
    return {
      filesToDo: this.filesToDo,
      filesPending: Math.max(0, this.filesToDo - this.filesDone),
      chunksPending,
      etaMs: msPerChunk === null ? null : Math.round(chunksPending * msPerChunk),
    };
  }

  /** The per-file step, given its record: skip it if unchanged, else chunk it and queue its new chunks (embedded at the next flush). */
  async visit(f: WalkedFile, old: FileRecord | undefined): Promise<void> {
    const { options, store, report } = this;
    options.signal?.throwIfAborted();
    this.seen.add(f.path);
    if (!mayHaveChanged(old, f, options.force) && old) {
      report.filesUnchanged++;
      report.chunks += old.chunks.length;
      return;
    }
    this.filesDone++;
    this.bytesDone += f.size;
    let hash: string;
    try {
      // streamed: a chunker in another process reads the file itself, so this process never holds it whole
      hash = await hashFile(f.abs);
    } catch (e) {
      report.errors.push({ path: f.path, message: (e as Error).message });
      return;
    }
    if (!options.force && old && old.hash === hash) {
      if (!options.dryRun) await store.putFile({ ...old, size: f.size, mtimeMs: f.mtimeMs });
      report.filesUnchanged++;
      report.chunks += old.chunks.length;
      return;
    }
    report.filesChanged++;
    this.progress(f.path);
    let chunks: Chunk[];
    const count = this.embedder.countTokens?.bind(this.embedder);
    const chunkOptions: ChunkOptions = {
      countTokens: count ? (t) => count(this.prefix + t) : async (t) => (await this.embedder.tokenize(this.prefix + t)).length,
      maxTokens: options.maxTokens,
      minTokens: options.minTokens,
    };
    const chunker = options.chunker ?? inThreadChunker;
    /** set when the file is in by line windows because its parse killed the chunker */
    let byLines = false;
    try {
      if (chunker.chunkPath) {
        // the chunks describe the bytes the chunker read: their hash is the file's from now on
        ({ hash, chunks } = await chunker.chunkPath(f.path, f.abs, chunkOptions));
      } else {
        const bytes = await readFile(f.abs);
        hash = sha256(bytes);
        chunks = await chunker.chunk(f.path, bytes.toString('utf8'), chunkOptions);
      }
    } catch (e) {
      if (options.signal?.aborted) throw e;
      if (!(e instanceof ChunkWorkerError && e.threadLost)) {
        report.errors.push({ path: f.path, message: `chunking failed: ${(e as Error).message}` });
        return;
      }
      // indexed by line windows meanwhile, and recorded without its hash so that the next run tries its grammar again
      try {
        chunks = await chunkFile(f.path, await readFile(f.abs, 'utf8'), { ...chunkOptions, byLines: true });
      } catch (e2) {
        if (options.signal?.aborted) throw e2;
        report.errors.push({
          path: f.path,
          message: `chunking failed: ${(e as Error).message}; by line windows: ${(e2 as Error).message}`,
        });
        return;
      }
      byLines = true;
      report.errors.push({ path: f.path, message: `${(e as Error).message}: indexed by line windows instead` });
    }
    const metas: ChunkMeta[] = [];
    const hashes = chunks.map((c) => sha256(c.text));
    const have = await store.haveVectors(hashes);
    const texts = new Map<string, string>();
    for (const [c, h] of zip(chunks, hashes)) {
      metas.push({ hash: h, startLine: c.startLine, endLine: c.endLine, symbol: c.symbol, kind: c.kind });
      if (have.has(h)) report.chunksReused++;
      else if (!texts.has(h)) texts.set(h, c.text);
    }
    report.chunks += metas.length;
    this.chunksFound += texts.size;
    if (options.dryRun) {
      for (const [h, t] of texts) {
        if (!this.dryHashes.has(h) && this.sample.length < this.batchSize) this.sample.push(t);
        this.dryHashes.add(h);
      }
      return;
    }
    this.queue.push({
      rec: {
        path: f.path,
        hash: byLines ? '' : hash,
        size: f.size,
        mtimeMs: f.mtimeMs,
        language: languageIdOf(f.path, await textDecidingLanguage(f.path, f.abs)),
        chunks: metas,
      },
      texts,
    });
    this.queued += texts.size;
    this.queuedRows += metas.length;
    for (const t of texts.values()) this.queuedChars += t.length;
    if (this.queued >= this.flushChunks || this.queuedChars >= this.flushChars || this.queuedRows >= this.flushRows) await this.flush();
  }

  /** Embeds the queued chunks that still have no vector, then writes their files. */
  async flush(): Promise<void> {
    const { store, report, options } = this;
    const texts = new Map<string, string>();
    for (const p of this.queue) {
      for (const [h, t] of p.texts) texts.set(h, t);
      p.texts.clear();
    }
    for (const h of await store.haveVectors(texts.keys())) texts.delete(h);
    const entries: ([string, string] | null)[] = [...texts];
    texts.clear();
    const failed = new Set<string>();
    for (let i = 0; i < entries.length; i += this.batchSize) {
      const part = entries.slice(i, i + this.batchSize).filter((x) => x !== null);
      // each text is dropped here once its batch is sent: the store has it from putVectors on
      entries.fill(null, i, i + this.batchSize);
      const res = await this.embedder.embedBatch(
        part.map(([, t]) => t),
        { prefix: this.prefix, signal: options.signal },
      );
      const good: { hash: string; vector: Float32Array; text: string }[] = [];
      // one answer per text
      for (const [[hash, text], r] of zip(part, res)) {
        // a fallback vector is not the model's: never stored, the chunk is retried next run
        if (r.error || r.degraded) failed.add(hash);
        else good.push({ hash, vector: r.embedding, text });
      }
      const degraded = res.find((r) => r.degraded);
      if (degraded)
        throw new Error(
          `the embedder is degraded (${degraded.reason ?? 'fallback vectors'}): indexing stopped; it resumes on the next run`,
        );
      await store.putVectors(good);
      report.chunksEmbedded += good.length;
      this.queued = Math.max(0, this.queued - part.length);
      this.progress(null);
    }
    const recs: FileRecord[] = [];
    for (const p of this.queue) {
      const bad = p.rec.chunks.filter((c) => failed.has(c.hash));
      if (bad.length) {
        report.errors.push({
          path: p.rec.path,
          message: `${bad.length} chunk(s) could not be embedded (lines ${bad.map((c) => `${c.startLine}-${c.endLine}`).join(', ')})`,
        });
        // the file is recorded without them and with no hash, so the next run tries it again
        recs.push({ ...p.rec, hash: '', chunks: p.rec.chunks.filter((c) => !failed.has(c.hash)) });
      } else {
        recs.push(p.rec);
      }
    }
    if (store.putFiles) await store.putFiles(recs);
    else for (const r of recs) await store.putFile(r);
    this.queue = [];
    this.queued = 0;
    this.queuedChars = 0;
    this.queuedRows = 0;
    this.progress(null);
  }

  /** Dry run: the distinct chunks to embed, and the time they take at the rate of one sample batch. */
  async estimate(): Promise<void> {
    const { report } = this;
    report.chunksToEmbed = this.dryHashes.size;
    if (this.sample.length) {
      const t0 = performance.now();
      await this.embedder.embedBatch(this.sample, { prefix: this.prefix, signal: this.options.signal });
      report.estimatedMs = Math.round(((performance.now() - t0) / this.sample.length) * this.dryHashes.size);
    } else {
      report.estimatedMs = 0;
    }
  }
}

export async function indexRepository(
  root: string,
  embedder: IndexEmbedder,
  store: SearchStore,
  options: IndexOptions,
): Promise<IndexReport> {
  const run = new Run(embedder, store, options);
  const { report } = run;
  try {
    // counted first (a walk of names, sizes and heads), then walked again to index
    run.progress(null);
    await run.planFrom(walkFiles(root, options));
    await run.visitAll(walkFiles(root, options, report.walk));
    // the indexed paths the walk did not see: collected first, so that no page is read while removing
    const gone: string[] = [];
    for await (const page of store.filesUnder('')) for (const p of page) if (!run.seen.has(p)) gone.push(p);
    await run.finish(gone);
  } catch (e) {
    if (!options.signal?.aborted) throw e;
    report.aborted = true;
  }
  return report;
}

/**
 * Brings the index up to date for these paths only (relative to the root):
 * each is indexed, or leaves the index when it is gone or now skipped. Files
 * are indexed before any leaves, so that a rename finds the vectors of the
 * old name still there (never embedded again, whatever the store keeps).
 */
export async function indexPaths(
  rules: IgnoreRules,
  paths: Iterable<string>,
  embedder: IndexEmbedder,
  store: SearchStore,
  options: IndexOptions,
): Promise<IndexReport> {
  const run = new Run(embedder, store, options);
  const { report } = run;
  const present: WalkedFile[] = [];
  const absent: string[] = [];
  try {
    for (const rel of paths) {
      const a = await admitFile(rules, rel, options);
      if ('file' in a) {
        present.push(a.file);
        report.walk.files++;
        report.walk.bytes += a.file.size;
      } else {
        if ('skip' in a) report.walk.skipped[a.skip]++;
        absent.push(rel);
      }
    }
    // of the absent paths, those indexed leave
    const leaving: string[] = [];
    for (let i = 0; i < absent.length; i += WALK_BATCH) {
      const part = absent.slice(i, i + WALK_BATCH);
      const recs = await store.fileRecords(part);
      for (const rel of part) if (recs.has(rel)) leaving.push(rel);
    }
    await run.planFrom(present);
    await run.visitAll(present);
    await run.finish(leaving);
  } catch (e) {
    if (!options.signal?.aborted) throw e;
    report.aborted = true;
  }
  return report;
}

/** Takes these paths out of the index, a batch at a time where the store can. */
async function removeAll(store: SearchStore, paths: string[], report: IndexReport): Promise<void> {
  for (let i = 0; i < paths.length; i += WALK_BATCH) {
    const part = paths.slice(i, i + WALK_BATCH);
    if (store.removeFiles) await store.removeFiles(part);
    else for (const p of part) await store.removeFile(p);
    report.filesRemoved += part.length;
  }
}

/** The text of a file whose language its text decides (a .h: C or C++), read again here since the chunker read it apart; undefined for the others. */
async function textDecidingLanguage(rel: string, abs: string): Promise<string | undefined> {
  if (!languageNeedsText(rel)) return undefined;
  return readFile(abs, 'utf8').catch(() => undefined);
}
