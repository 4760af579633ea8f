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

import { readFile } from 'node:fs/promises';
import { zip } from '../arrays.js';
import { type Chunk, chunkFile, languageIdOf } from './chunker.js';
import { emptyStats, type WalkOptions, type WalkStats, walkFiles } from './files.js';
import { type ChunkMeta, type FileRecord, type SearchStore, sha256 } from './store.js';

/** What the indexer needs from an embedder (Embedder satisfies it). */
export interface IndexEmbedder {
  embedBatch(
    texts: string[],
    options?: { prefix?: string; signal?: AbortSignal },
  ): Promise<{ embedding: Float32Array; degraded: boolean; reason?: string; error?: Error }[]>;
  tokenize(text: string): Promise<number[]>;
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

export async function indexRepository(
  root: string,
  embedder: IndexEmbedder,
  store: SearchStore,
  options: IndexOptions,
): Promise<IndexReport> {
  const prefix = options.documentPrefix ?? '';
  const batchSize = options.batchSize ?? 64;
  const flushChunks = options.flushChunks ?? 4 * batchSize;
  const report: IndexReport = {
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
  const seen = new Set<string>();
  const dryHashes = new Set<string>();
  const sample: string[] = [];
  let queue: Pending[] = [];
  let queued = 0;
  const countTokens = async (t: string) => (await embedder.tokenize(prefix + t)).length;
  const progress = (file: string | null) =>
    options.onProgress?.({ filesSeen: seen.size, chunksEmbedded: report.chunksEmbedded, currentFile: file });

  const flush = async () => {
    const texts = new Map<string, string>();
    for (const p of queue) for (const [h, t] of p.texts) if (!store.hasVector(h)) texts.set(h, t);
    const entries = [...texts];
    const failed = new Set<string>();
    for (let i = 0; i < entries.length; i += batchSize) {
      const part = entries.slice(i, i + batchSize);
      const res = await embedder.embedBatch(
        part.map(([, t]) => t),
        { prefix, signal: options.signal },
      );
      const good: { hash: string; vector: Float32Array }[] = [];
      // one answer per text
      for (const [[hash], r] of zip(part, res)) {
        // a fallback vector is not the model's: never stored, the chunk is retried next run
        if (r.error || r.degraded) failed.add(hash);
        else good.push({ hash, vector: r.embedding });
      }
      const degraded = res.find((r) => r.degraded);
      if (degraded)
        throw new Error(
          `the embedder is degraded (${degraded.reason ?? 'fallback vectors'}): indexing stopped; it resumes on the next run`,
        );
      await store.putVectors(good);
      report.chunksEmbedded += good.length;
    }
    for (const p of queue) {
      const bad = p.rec.chunks.filter((c) => failed.has(c.hash));
      if (bad.length) {
        report.errors.push({
          path: p.rec.path,
          message: `${bad.length} chunk(s) could not be embedded (lines ${bad.map((c) => `${c.startLine}-${c.endLine}`).join(', ')})`,
        });
        // the file is recorded without them and with no hash, so the next run tries it again
        await store.putFile({ ...p.rec, hash: '', chunks: p.rec.chunks.filter((c) => !failed.has(c.hash)) });
      } else {
        await store.putFile(p.rec);
      }
    }
    queue = [];
    queued = 0;
    progress(null);
  };

  try {
    for await (const f of walkFiles(root, options, report.walk)) {
      options.signal?.throwIfAborted();
      seen.add(f.path);
      const old = store.file(f.path);
      if (!options.force && old && old.hash && old.size === f.size && old.mtimeMs === f.mtimeMs) {
        report.filesUnchanged++;
        report.chunks += old.chunks.length;
        continue;
      }
      let content: Buffer;
      try {
        content = await readFile(f.abs);
      } catch (e) {
        report.errors.push({ path: f.path, message: (e as Error).message });
        continue;
      }
      const hash = sha256(content);
      if (!options.force && old && old.hash === hash) {
        if (!options.dryRun) await store.putFile({ ...old, size: f.size, mtimeMs: f.mtimeMs });
        report.filesUnchanged++;
        report.chunks += old.chunks.length;
        continue;
      }
      report.filesChanged++;
      progress(f.path);
      let chunks: Chunk[];
      try {
        chunks = await chunkFile(f.path, content.toString('utf8'), {
          countTokens,
          maxTokens: options.maxTokens,
          minTokens: options.minTokens,
        });
      } catch (e) {
        if (options.signal?.aborted) throw e;
        report.errors.push({ path: f.path, message: `chunking failed: ${(e as Error).message}` });
        continue;
      }
      const metas: ChunkMeta[] = [];
      const texts = new Map<string, string>();
      for (const c of chunks) {
        const h = sha256(c.text);
        metas.push({ hash: h, startLine: c.startLine, endLine: c.endLine, symbol: c.symbol, kind: c.kind });
        if (store.hasVector(h)) report.chunksReused++;
        else if (!texts.has(h)) texts.set(h, c.text);
      }
      report.chunks += metas.length;
      if (options.dryRun) {
        for (const [h, t] of texts) {
          if (!dryHashes.has(h) && sample.length < batchSize) sample.push(t);
          dryHashes.add(h);
        }
        continue;
      }
      queue.push({ rec: { path: f.path, hash, size: f.size, mtimeMs: f.mtimeMs, language: languageIdOf(f.path), chunks: metas }, texts });
      queued += texts.size;
      if (queued >= flushChunks) await flush();
    }
    if (options.dryRun) {
      report.chunksToEmbed = dryHashes.size;
      if (sample.length) {
        const t0 = performance.now();
        await embedder.embedBatch(sample, { prefix, signal: options.signal });
        report.estimatedMs = Math.round(((performance.now() - t0) / sample.length) * dryHashes.size);
      } else {
        report.estimatedMs = 0;
      }
      for (const f of store.files()) if (!seen.has(f.path)) report.filesRemoved++;
      return report;
    }
    await flush();
    for (const f of [...store.files()]) {
      if (!seen.has(f.path)) {
        await store.removeFile(f.path);
        report.filesRemoved++;
      }
    }
  } catch (e) {
    if (!options.signal?.aborted) throw e;
    report.aborted = true;
  }
  return report;
}
