// lance.ts - the LanceDB engine behind LanceStore: one table of chunk rows
// (path, lines, symbol, kind, language, text, hash, vector) with full-text
// (BM25) indexes on the text and on the symbol names and, once the table is
// large, a vector index; one table of file records; meta.json for the model
// the vectors came from.
//
// It runs wherever LanceStore puts it: in the MCP process, or (the default)
// in the store server child (store-server.ts), because LanceDB's native code
// alone takes the Node process past 100 MB RSS. Every method is async and
// takes plain data, so the same calls go over the child's pipe unchanged.
//
// A file is written as: its file row deleted, its chunk rows deleted, the
// new chunk rows added, the new file row added. A crash in between leaves
// the file without a record, which the next indexing run sees as new and
// writes again; no reader ever sees a record whose chunks are missing.
// Vectors of chunks that did not change are taken from the rows being
// replaced (or from any other row of the same hash), so the indexer sends
// only new vectors. Rows removed in one write stay reachable for a while
// (the orphan cache) so that a function moved to a file written later in
// the same run still finds its vector.
//
// New vectors arrive ahead of the file that refers to them (stageVectors,
// in pieces of bounded size: a file of thousands of chunks is never one
// message) and wait here, in the store's process, until a write takes them;
// haveHashes counts them as stored. They are memory only: a store process
// that dies loses them, and LanceStore then fails the write that needed
// them (the next run embeds them again). A long chunk list comes ahead of
// its record the same way (stageChunks), and goes back a page at a time
// (fileRecords leaves out what does not fit its answer, fileChunks pages
// it): no message grows with a file's size or with the number of files.

import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { compareCodePoints, type IndexedPath, type PathSelection, prefixRange, selectPaths } from './glob.js';
import type { ChunkMeta, FileRecord, IndexMeta } from './store.js';

/** The exact version this code is tested with; the README and the load error name it. */
export const LANCEDB_PACKAGE = '@lancedb/lancedb@0.37.1';

export interface FreshVector {
  hash: string;
  text: string;
  vector: Float32Array;
}

export interface FileWrite {
  /** the record; its `chunks` empty when the list was staged (stagedChunks) */
  rec: FileRecord;
  /** vectors the store does not have yet (besides those staged), by chunk hash */
  fresh: FreshVector[];
  /** the chunk list came ahead in pieces (stageChunks) under this key, `count` chunks long */
  stagedChunks?: { key: number; count: number };
}

/**
 * A file's record whose chunk list did not fit in the answer: `chunkCount`
 * chunks, read a page at a time with fileChunks().
 */
export interface FileHead extends Omit<FileRecord, 'chunks'> {
  chunks: null;
  chunkCount: number;
  /** bytes of the stored chunk list: with the rest, tells a page of the same record from one of a rewritten record */
  chunkBytes: number;
}

export interface FileRecordsAnswer {
  /** the records of those of the first `answered` paths asked that are indexed (answered >= 1) */
  records: (FileRecord | FileHead)[];
  answered: number;
}

/** One page of a file's chunk list, with the head of the record it was read from. */
export interface FileChunksPage {
  head: FileHead;
  chunks: ChunkMeta[];
}

/** A path filter as the store's query takes it (glob.ts makes one from a glob). */
export interface PathFilter {
  /** every admitted path starts with this ('' for none) */
  prefix: string;
  /** the exact test, a regular expression (no flags) over the whole path: matched on the indexed paths, not on the rows */
  regex: string;
  /** every admitted path's row has one of these languages (null: any) */
  languages: string[] | null;
}

export interface RankQuery {
  vector: Float32Array;
  text: string;
  /**
   * words to find among the chunks' symbol names (the names half), or none:
   * a definition is found by its name however many chunks use the name in
   * their text, where the text half ranks the uses first
   */
  names?: string;
  /** results per half */
  k: number;
  path?: PathFilter;
  language?: string;
}

export interface RankHit extends ChunkMeta {
  path: string;
  language: string;
  /** cosine similarity (vector half) or BM25 score (text half) */
  score: number;
}

export interface RankResult {
  vector: RankHit[];
  text: RankHit[];
  /** the chunks whose symbol has a word of `names`, best BM25 over the symbols first (empty without `names`) */
  names: RankHit[];
}

export interface EngineStats {
  rows: number;
  vectorIndex: string | null;
  textIndex: boolean;
  /** the full-text index on the symbol column (the names half) */
  namesIndex: boolean;
  /** the scalar indexes (B-tree, bitmap) of the lookups and filters, as table.column */
  scalarIndexes: string[];
}

export interface EngineOptions {
  /** rows from which a vector index is built (below it, exact search is fast enough); default 50,000 */
  vectorIndexRows?: number;
  /** rows written or deleted between automatic optimize() calls; default 20,000 */
  optimizeRows?: number;
  /** rows from which the columns the lookups filter by (chunk hash and path, file path) get B-tree indexes; default 20,000 */
  scalarIndexRows?: number;
  /** bytes of index pages (IVF-PQ partitions, full-text postings) LanceDB keeps in memory; default 64 MiB (LanceDB's own: 6 GB) */
  indexCacheBytes?: number;
  /** bytes of file metadata and schemas LanceDB keeps in memory; default 32 MiB (LanceDB's own: 1 GB) */
  metadataCacheBytes?: number;
  /** a filtered vector search over at most this many rows is exact (the rows the filter leaves, no vector index); default 20,000 */
  flatFilterRows?: number;
  /** paths at most that a filter names one by one (the path index answers the set); default 5,000 */
  filterPaths?: number;
  /** ranges of neighbouring paths at most in a filter (past both, the glob's expression runs on the rows); default 64 */
  filterRuns?: number;
}

/** Counts the index_status tool reports, from the tables themselves. */
export interface IndexCounts {
  files: number;
  chunks: number;
}

/**
 * The calls a LanceStore makes; implemented here and by the store server's
 * client. Every lookup takes or returns one bounded batch, so that the side
 * asking holds no more of the index than that batch.
 */
export interface StoreEngine {
  load(): Promise<{ meta: IndexMeta | null }>;
  setMeta(meta: IndexMeta | null): Promise<void>;
  /**
   * The records of those of these paths that are indexed, in an answer of
   * about `budget` bytes at most (default: no bound): the paths from the
   * first `answered` on are to be asked again, and a chunk list that does
   * not fit is left out (a FileHead, its list read with fileChunks()).
   */
  fileRecords(paths: string[], budget?: number | null): Promise<FileRecordsAnswer>;
  /** the chunks of a file's record from the `from`-th on, about `budget` bytes of them (at least one); null when it is not indexed */
  fileChunks(path: string, from: number, budget: number): Promise<FileChunksPage | null>;
  /** up to `limit` indexed paths starting with `prefix`, in the store's order, after `after` (null: from the first); fewer than `limit`: the last page */
  listPaths(prefix: string, after: string | null, limit: number): Promise<string[]>;
  /** those of these chunk hashes that some stored chunk row, or a staged vector, has */
  haveHashes(hashes: string[]): Promise<string[]>;
  /** keeps new vectors (with their chunk text) for the writes of the files that refer to them */
  stageVectors(fresh: FreshVector[]): Promise<void>;
  /** appends to the chunk list kept under `key` for the write that names it (FileWrite.stagedChunks) */
  stageChunks(key: number, chunks: ChunkMeta[]): Promise<void>;
  counts(): Promise<IndexCounts>;
  /**
   * How many chunks of each path had no vector (the file is written without
   * them, and without its hash). A write whose staged chunk list is not
   * whole here (the store process restarted since) fails with kind
   * 'crashed' before anything is written.
   */
  writeFiles(writes: FileWrite[]): Promise<Record<string, number>>;
  removeFiles(paths: string[]): Promise<void>;
  rank(q: RankQuery): Promise<RankResult>;
  /** LanceDB's plan of a query's vector half, its indexes named */
  explain(q: RankQuery): Promise<string>;
  optimize(): Promise<EngineStats>;
  stats(): Promise<EngineStats>;
  clear(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_VECTOR_INDEX_ROWS = 50_000;
/**
 * What an optimize() costs as the table grows: LanceDB 0.37.1's optimize()
 * compacts with its default target of 1,048,576 rows a fragment (the Node
 * API takes no compaction options), and merges every fragment below that
 * target with its neighbours covered by the same indexes. Rows written after
 * an optimize() form a fragment of their own, which that optimize() indexes;
 * the next one merges it with the rest, so below 1Mi rows every optimize()
 * after the first rewrites the whole table (measured at 100k rows: the first
 * after 1,000 new rows merged nothing, 3.6 s; each later one 2 fragments into
 * 1, 7.0-7.4 s). Optimizing less often is no way out: rows not yet indexed
 * make every search slower (300k rows, 20,000 of them unindexed: 2.5 s a
 * query against 0.15 s with none, at load 16), and an interval that grew
 * with the table saved 12% of the CPU of indexing 300k rows.
 */
const DEFAULT_OPTIMIZE_ROWS = 20_000;
const DEFAULT_INDEX_CACHE_BYTES = 64 << 20;
const DEFAULT_METADATA_CACHE_BYTES = 32 << 20;
/** chunk rows per add() call: the Arrow batch a write holds at once */
const ADD_ROWS = 8192;
const DEFAULT_SCALAR_INDEX_ROWS = 20_000;
const DEFAULT_FLAT_FILTER_ROWS = 20_000;
const DEFAULT_FILTER_PATHS = 5000;
const DEFAULT_FILTER_RUNS = 64;
/** filters of recent queries kept */
const FILTERS_KEPT = 16;
/** IVF partitions a vector search looks in at least (of about sqrt(rows)) */
const NPROBES = 32;
/** candidates per result the vector index's search re-ranks by their full vectors */
const REFINE_FACTOR = 20;
/** values per IN (...) list of a filter */
const IN_LIST = 500;
/** orphaned rows kept for a later write of the same run, at most this many bytes of vectors */
const ORPHAN_BYTES = 16 << 20;
/**
 * Staged vectors kept at most (bytes of vectors and text). A write takes
 * what it refers to; only a run stopped between its vectors and its files
 * leaves any behind, for the next run. Past this, the oldest go: a file
 * written later without one of them is recorded without its hash and read
 * again by the next run.
 */
const STAGED_BYTES = 256 << 20;
const CHUNKS = 'chunks';
const FILES = 'files';

/**
 * The IVF-PQ index the store builds over `rows` vectors of `dims` dimensions
 * (bench/bench_recall.mjs measures its recall against exact search with the
 * query settings of VECTOR_QUERY).
 */
export function vectorIndexOptions(rows: number, dims: number) {
  // one PQ sub-vector per 8 dimensions (or 4, 2, 1: whatever divides the width into an even
  // number of sub-vectors, as 4-bit codes need; an odd width gets 8-bit codes, one per dimension)
  const sub = [8, 4, 2, 1].find((s) => dims % s === 0 && (dims / s) % 2 === 0);
  return {
    distanceType: 'cosine' as const,
    // about sqrt(rows) partitions
    numPartitions: Math.max(1, Math.round(Math.sqrt(rows))),
    numSubVectors: sub ? dims / sub : dims,
    // 16 centroids per sub-vector, not 256: LanceDB trains the PQ codebook on 256 samples per
    // centroid whatever the table's size, so 8-bit codes cost 65,536 samples x 256 centroids at
    // every build: 82 CPU s of a 200k-row index against 5 with 4 bits (4,096 x 16). At 1M rows
    // the IVF assignment and encoding of every vector then dominates. The codes only pick the
    // candidates, re-ranked by
    // their full vectors (REFINE_FACTOR): bench_recall.mjs, 200k clustered vectors, recall@1 and
    // @10 against exact search 1.000 and 0.999 with 8 bits, 1.000 and 0.998 with 4 (0.995 and
    // 0.996 with 4 bits and 4 dimensions a sub-vector)
    numBits: sub ? 4 : 8,
    // k-means on 64 (not 256) sample vectors per partition, at most 20 (not 50) rounds
    sampleRate: 64,
    maxIterations: 20,
  };
}

/** How a vector search uses the index: partitions probed (at least), candidates re-ranked per result. */
export const VECTOR_QUERY = { nprobes: NPROBES, refineFactor: REFINE_FACTOR };

type Lance = typeof import('@lancedb/lancedb');
type FtsOptions = Parameters<Lance['Index']['fts']>[0];

/**
 * The chunk table's full-text indexes, by column. Both are built once the
 * table has its first rows; rows added later are searched without the index
 * (LanceDB 0.37.1 scans them and merges their scores in) until optimize()
 * indexes them, so a search sees every row either way.
 */
const FULL_TEXT: Record<'text' | 'symbol', FtsOptions> = {
  // LanceDB's defaults: the simple tokenizer (split at whitespace and punctuation, so `a_b` is two
  // words and `camelCase` one), lower case, English stems and stop words (comments are prose)
  text: {},
  // names as written: no stems (`embedding` is not `embed`), no stop words (`then`, `is` are names
  // here), and identifiers longer than the default 40 characters kept
  symbol: { stem: false, removeStopWords: false, maxTokenLength: 128 },
};
type FullTextColumn = keyof typeof FULL_TEXT;

type Arrow = typeof import('apache-arrow');
type Table = import('@lancedb/lancedb').Table;
type Connection = import('@lancedb/lancedb').Connection;

/** Raised when the native module cannot be loaded: names the package and the way out. */
export class StoreUnavailableError extends Error {
  readonly kind = 'unavailable';
}

async function loadLance(): Promise<{ lance: Lance; arrow: Arrow }> {
  try {
    const [lance, arrow] = await Promise.all([import('@lancedb/lancedb'), import('apache-arrow')]);
    return { lance, arrow };
  } catch (e) {
    throw new StoreUnavailableError(
      `the LanceDB store needs ${LANCEDB_PACKAGE} (with apache-arrow@18.1.0) and its native build for ${process.platform}-${process.arch}, ` +
        `which could not be loaded (${(e as Error).message.split('\n')[0]}). Install them, or choose the file store (option store: 'file', ggembed-mcp --store file).`,
    );
  }
}

/** The chunk table's columns; the order is the one chunkTable() builds. */
export function chunkSchema(a: Arrow, dims: number): InstanceType<Arrow['Schema']> {
  const str = (n: string, nullable = false) => new a.Field(n, new a.Utf8(), nullable);
  return new a.Schema([
    str('path'),
    new a.Field('start_line', new a.Int32(), false),
    new a.Field('end_line', new a.Int32(), false),
    str('symbol', true),
    str('kind'),
    str('language'),
    str('text'),
    str('hash'),
    new a.Field('vector', new a.FixedSizeList(dims, new a.Field('item', new a.Float32(), true)), false),
  ]);
}

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

interface FileRow {
  path: string;
  hash: string;
  size: number;
  mtime_ms: number;
  language: string;
  chunks: string;
}

/** A query's filter (LanceEngine.filter). */
interface Filter {
  where: string | null;
  /** no row passes */
  none: boolean;
  /** the scalar indexes answer it (counting its rows is cheap) */
  indexed: boolean;
  selection: PathSelection | null;
}

interface ChunkRow {
  path: string;
  start_line: number;
  end_line: number;
  symbol: string | null;
  kind: string;
  language: string;
  text: string;
  hash: string;
  vector: Float32Array;
}

export class LanceEngine implements StoreEngine {
  private chunks: Table | null = null;
  private files: Table | null = null;
  private meta: IndexMeta | null = null;
  private sinceOptimize = 0;
  private vectorIndex: string | null = null;
  /** the columns of FULL_TEXT that have their index */
  private readonly fullText = new Set<FullTextColumn>();
  /** the chunk table's columns with a scalar index (B-tree, bitmap) */
  private scalarColumns = new Set<string>();
  /** rows removed by recent writes, by hash, oldest first (Map order) */
  private readonly orphans = new Map<string, { text: string; vector: Float32Array }>();
  private orphanBytes = 0;
  /** new vectors waiting for their files' write, oldest first (Map order) */
  private readonly staged = new Map<string, FreshVector>();
  private stagedBytes = 0;
  /**
   * Every indexed path and its language (the file table's), read at the
   * first filtered query and kept current by the writes: what a path_glob is
   * matched on (selectPaths). null: not read yet.
   */
  private paths: Map<string, string> | null = null;
  /** the same, in code point order (null: to sort again) */
  private sortedPaths: IndexedPath[] | null = null;
  /** the filters of recent queries (a glob is asked again and again), until the paths or the indexes change */
  private readonly filters = new Map<string, Filter>();
  /** raised by every change that clears `filters`: a filter made across one is not kept */
  private filtersGeneration = 0;
  /**
   * chunk lists staged for the writes that name their keys (FileWrite.stagedChunks): only
   * those of the write about to come (a write drops every key up to its own, taken or left by
   * a write that never came)
   */
  private readonly stagedLists = new Map<number, ChunkMeta[]>();

  private constructor(
    private readonly dir: string,
    private readonly lance: Lance,
    private readonly arrow: Arrow,
    private readonly db: Connection,
    private readonly options: Required<EngineOptions>,
  ) {}

  static async open(dir: string, options: EngineOptions = {}): Promise<LanceEngine> {
    const { lance, arrow } = await loadLance();
    const o: Required<EngineOptions> = {
      vectorIndexRows: options.vectorIndexRows ?? DEFAULT_VECTOR_INDEX_ROWS,
      optimizeRows: options.optimizeRows ?? DEFAULT_OPTIMIZE_ROWS,
      scalarIndexRows: options.scalarIndexRows ?? DEFAULT_SCALAR_INDEX_ROWS,
      indexCacheBytes: options.indexCacheBytes ?? DEFAULT_INDEX_CACHE_BYTES,
      metadataCacheBytes: options.metadataCacheBytes ?? DEFAULT_METADATA_CACHE_BYTES,
      flatFilterRows: options.flatFilterRows ?? DEFAULT_FLAT_FILTER_ROWS,
      filterPaths: options.filterPaths ?? DEFAULT_FILTER_PATHS,
      filterRuns: options.filterRuns ?? DEFAULT_FILTER_RUNS,
    };
    // LanceDB's default caches (6 GB of index, 1 GB of metadata) grow with every partition and
    // fragment a query touches: bounded here, the store process's memory does not follow the index size
    const session = new lance.Session(BigInt(o.indexCacheBytes), BigInt(o.metadataCacheBytes));
    const db = await lance.connect(dir, {}, session);
    const e = new LanceEngine(dir, lance, arrow, db, o);
    await e.openTables();
    return e;
  }

  private get metaPath(): string {
    return path.join(this.dir, 'meta.json');
  }

  private async openTables(): Promise<void> {
    try {
      this.meta = JSON.parse(await readFile(this.metaPath, 'utf8')) as IndexMeta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`index meta ${this.metaPath} is damaged: ${(e as Error).message}`);
      this.meta = null;
    }
    const names = new Set(await this.db.tableNames());
    this.chunks = names.has(CHUNKS) ? await this.db.openTable(CHUNKS) : null;
    this.files = names.has(FILES) ? await this.db.openTable(FILES) : null;
    this.vectorIndex = null;
    this.fullText.clear();
    this.scalarColumns.clear();
    this.paths = null;
    this.pathsChanged();
    if (this.chunks) {
      for (const ix of await this.chunks.listIndices()) {
        if (ix.columns.includes('vector')) this.vectorIndex = ix.indexType;
        if (ix.indexType === 'FTS') for (const c of ix.columns) if (c in FULL_TEXT) this.fullText.add(c as FullTextColumn);
        if (ix.indexType === 'BTree' || ix.indexType === 'Bitmap') for (const c of ix.columns) this.scalarColumns.add(c);
      }
      // an index written before the names index existed gets it now, once
      await this.ensureFullText(this.chunks);
    }
  }

  /** Builds the full-text indexes the table lacks, once it has rows (LanceDB cannot index an empty table). */
  private async ensureFullText(chunks: Table): Promise<void> {
    const missing = (Object.keys(FULL_TEXT) as FullTextColumn[]).filter((c) => !this.fullText.has(c));
    if (!missing.length || (await chunks.countRows()) === 0) return;
    for (const c of missing) {
      await chunks.createIndex(c, { config: this.lance.Index.fts(FULL_TEXT[c]) });
      this.fullText.add(c);
    }
  }

  /**
   * Chunk rows as one Arrow record batch in the table's schema, the vectors
   * one Float32Array: what LanceDB writes as it is (rows of plain objects
   * would go through JavaScript number arrays, 4 x the memory, and a
   * conversion of each value).
   */
  private chunkTable(rows: ChunkRow[], dims: number): InstanceType<Arrow['Table']> {
    const a = this.arrow;
    const schema = chunkSchema(a, dims);
    const n = rows.length;
    const enc = new TextEncoder();
    const utf8 = (get: (r: ChunkRow) => string | null) => {
      const bytes = rows.map((r) => {
        const v = get(r);
        return v === null ? null : enc.encode(v);
      });
      const valueOffsets = new Int32Array(n + 1);
      const nullBitmap = new Uint8Array((n + 7) >> 3);
      let total = 0;
      let nullCount = 0;
      bytes.forEach((b, i) => {
        if (b) {
          total += b.length;
          nullBitmap[i >> 3] = (nullBitmap[i >> 3] ?? 0) | (1 << (i & 7));
        } else nullCount++;
        valueOffsets[i + 1] = total;
      });
      const data = new Uint8Array(total);
      bytes.forEach((b, i) => {
        if (b) data.set(b, valueOffsets[i] ?? 0);
      });
      return a.makeData({ type: new a.Utf8(), length: n, nullCount, nullBitmap: nullCount ? nullBitmap : null, valueOffsets, data });
    };
    const int32 = (get: (r: ChunkRow) => number) => a.makeData({ type: new a.Int32(), length: n, data: Int32Array.from(rows, get) });
    const flat = new Float32Array(n * dims);
    rows.forEach((r, i) => {
      flat.set(r.vector, i * dims);
    });
    const vectorType = schema.fields[8]?.type as InstanceType<Arrow['FixedSizeList']>;
    const vector = a.makeData({
      type: vectorType,
      length: n,
      nullCount: 0,
      child: a.makeData({ type: new a.Float32(), length: n * dims, data: flat }),
    });
    const children = [
      utf8((r) => r.path),
      int32((r) => r.start_line),
      int32((r) => r.end_line),
      utf8((r) => r.symbol),
      utf8((r) => r.kind),
      utf8((r) => r.language),
      utf8((r) => r.text),
      utf8((r) => r.hash),
      vector,
    ];
    const struct = a.makeData({ type: new a.Struct(schema.fields), length: n, nullCount: 0, children });
    return new a.Table(schema, [new a.RecordBatch(schema, struct)]);
  }

  /** Creates both tables for vectors of `dims` (the schema fixes the width). */
  private async createTables(dims: number): Promise<void> {
    const a = this.arrow;
    const str = (n: string, nullable = false) => new a.Field(n, new a.Utf8(), nullable);
    const fileSchema = new a.Schema([
      str('path'),
      str('hash'),
      new a.Field('size', new a.Float64(), false),
      new a.Field('mtime_ms', new a.Float64(), false),
      str('language'),
      str('chunks'),
    ]);
    this.chunks = await this.db.createEmptyTable(CHUNKS, chunkSchema(a, dims), { mode: 'overwrite' });
    this.files = await this.db.createEmptyTable(FILES, fileSchema, { mode: 'overwrite' });
    this.vectorIndex = null;
    this.fullText.clear();
    this.scalarColumns.clear();
    this.paths = new Map();
    this.pathsChanged();
  }

  async load(): Promise<{ meta: IndexMeta | null }> {
    return { meta: this.meta };
  }

  /** The record of a row without its chunk list (counted: `chunks` is the list, parsed here unless the caller has it). */
  private static head(r: FileRow, chunks = JSON.parse(r.chunks) as ChunkMeta[]): FileHead {
    return {
      path: r.path,
      hash: r.hash,
      size: r.size,
      mtimeMs: r.mtime_ms,
      language: r.language,
      chunks: null,
      chunkCount: chunks.length,
      chunkBytes: Buffer.byteLength(r.chunks),
    };
  }

  async fileRecords(paths: string[], bound?: number | null): Promise<FileRecordsAnswer> {
    // (null: what an absent bound is once it has been through JSON)
    const budget = bound ?? Number.POSITIVE_INFINITY;
    const files = this.files;
    if (!files || !paths.length) return { records: [], answered: paths.length };
    const records: (FileRecord | FileHead)[] = [];
    let bytes = 0;
    let answered = 0;
    for (let i = 0; i < paths.length; i += IN_LIST) {
      const part = paths.slice(i, i + IN_LIST);
      const rows = new Map<string, FileRow>();
      for (const r of (await files
        .query()
        .where(`path IN ${LanceEngine.inList(part)}`)
        .toArray()) as FileRow[])
        rows.set(r.path, r);
      // in the order asked, so that the caller knows which paths are answered
      for (const p of part) {
        const r = rows.get(p);
        if (r) {
          const list = JSON.parse(r.chunks) as ChunkMeta[];
          const head = LanceEngine.head(r, list);
          // the answer's bytes: each record's JSON (the list as stored, or the head without it)
          const headBytes = Buffer.byteLength(JSON.stringify(head));
          if (answered && bytes + headBytes > budget) return { records, answered };
          if (bytes + headBytes + head.chunkBytes <= budget) {
            bytes += headBytes + head.chunkBytes;
            const { chunkCount: _n, chunkBytes: _b, ...rec } = head;
            records.push({ ...rec, chunks: list });
          } else {
            bytes += headBytes;
            records.push(head);
          }
        }
        answered++;
      }
    }
    return { records, answered };
  }

  async fileChunks(p: string, from: number, budget: number): Promise<FileChunksPage | null> {
    const rows = this.files
      ? ((await this.files
          .query()
          .where(`path = ${sqlString(p)}`)
          .toArray()) as FileRow[])
      : [];
    const r = rows[0];
    if (!r) return null;
    const all = JSON.parse(r.chunks) as ChunkMeta[];
    const chunks: ChunkMeta[] = [];
    let bytes = 0;
    for (let i = from; i < all.length; i++) {
      const c = all[i] as ChunkMeta;
      bytes += Buffer.byteLength(JSON.stringify(c)) + 1;
      if (chunks.length && bytes > budget) break;
      chunks.push(c);
    }
    return { head: LanceEngine.head(r, all), chunks };
  }

  async listPaths(prefix: string, after: string | null, limit: number): Promise<string[]> {
    const files = this.files;
    if (!files) return [];
    // a range on the sort key, not LIKE (whose _ and % a path may hold): the paths with the prefix
    // are the ones from `prefix` on, up to the first without it
    const parts = [`path >= ${sqlString(prefix)}`];
    if (after !== null) parts.push(`path > ${sqlString(after)}`);
    const rows = await files
      .query()
      .where(parts.join(' AND '))
      .select(['path'])
      .orderBy({ columnName: 'path', ascending: true })
      .limit(Math.max(1, limit))
      .toArray();
    const out: string[] = [];
    for (const r of rows as { path: string }[]) {
      if (!r.path.startsWith(prefix)) break;
      out.push(r.path);
    }
    return out;
  }

  async haveHashes(hashes: string[]): Promise<string[]> {
    const out = new Set(hashes.filter((h) => this.staged.has(h)));
    const chunks = this.chunks;
    const ask = hashes.filter((h) => !out.has(h));
    if (!chunks || !ask.length) return [...out];
    for (let i = 0; i < ask.length; i += IN_LIST) {
      const rows = await chunks
        .query()
        .where(`hash IN ${LanceEngine.inList(ask.slice(i, i + IN_LIST))}`)
        .select(['hash'])
        .toArray();
      for (const r of rows as { hash: string }[]) out.add(r.hash);
    }
    return [...out];
  }

  async counts(): Promise<IndexCounts> {
    return {
      files: this.files ? await this.files.countRows() : 0,
      chunks: this.chunks ? await this.chunks.countRows() : 0,
    };
  }

  async setMeta(meta: IndexMeta | null): Promise<void> {
    if (meta && this.meta && this.meta.dims === meta.dims && this.meta.model === meta.model) return;
    await this.clear();
    if (!meta) return;
    const tmp = `${this.metaPath}.tmp`;
    await writeFile(tmp, JSON.stringify(meta));
    await rename(tmp, this.metaPath);
    this.meta = meta;
  }

  private requireTables(): { chunks: Table; files: Table; dims: number } {
    if (!this.meta) throw new Error('index meta (model, dims) must be set before files are stored');
    if (!this.chunks || !this.files) throw new Error('the index tables are missing');
    return { chunks: this.chunks, files: this.files, dims: this.meta.dims };
  }

  private orphan(hash: string, text: string, vector: Float32Array): void {
    if (this.orphans.has(hash)) return;
    this.orphans.set(hash, { text, vector });
    this.orphanBytes += vector.byteLength + text.length;
    for (const [h, o] of this.orphans) {
      if (this.orphanBytes <= ORPHAN_BYTES) break;
      this.orphans.delete(h);
      this.orphanBytes -= o.vector.byteLength + o.text.length;
    }
  }

  async stageVectors(fresh: FreshVector[]): Promise<void> {
    const dims = this.meta?.dims;
    if (dims === undefined) throw new Error('index meta (model, dims) must be set before vectors are stored');
    for (const f of fresh) {
      if (f.vector.length !== dims) throw new Error(`vector of ${f.vector.length} dims for an index of ${dims}`);
      if (typeof f.text !== 'string') throw new Error(`staged vector ${f.hash} has no chunk text`);
    }
    for (const f of fresh) {
      if (this.staged.has(f.hash)) continue;
      this.staged.set(f.hash, f);
      this.stagedBytes += LanceEngine.stagedSize(f);
    }
    for (const [h, f] of this.staged) {
      if (this.stagedBytes <= STAGED_BYTES) break;
      this.staged.delete(h);
      this.stagedBytes -= LanceEngine.stagedSize(f);
    }
  }

  async stageChunks(key: number, chunks: ChunkMeta[]): Promise<void> {
    const list = this.stagedLists.get(key);
    if (list) for (const c of chunks) list.push(c);
    else this.stagedLists.set(key, chunks);
  }

  private static stagedSize(f: FreshVector): number {
    return f.vector.byteLength + 2 * f.text.length;
  }

  private unstage(hash: string): void {
    const f = this.staged.get(hash);
    if (!f) return;
    this.staged.delete(hash);
    this.stagedBytes -= LanceEngine.stagedSize(f);
  }

  private static inList(values: Iterable<string>): string {
    return `(${[...values].map(sqlString).join(', ')})`;
  }

  /** Rows of these hashes anywhere in the table, one per hash. */
  private async rowsOfHashes(chunks: Table, hashes: Set<string>): Promise<Map<string, { text: string; vector: Float32Array }>> {
    const out = new Map<string, { text: string; vector: Float32Array }>();
    const list = [...hashes];
    for (let i = 0; i < list.length; i += IN_LIST) {
      const part = list.slice(i, i + IN_LIST);
      const rows = await chunks
        .query()
        .where(`hash IN ${LanceEngine.inList(part)}`)
        .select(['hash', 'text', 'vector'])
        .toArray();
      for (const r of rows as { hash: string; text: string; vector: { toArray(): Float32Array } }[]) {
        if (!out.has(r.hash)) out.set(r.hash, { text: r.text, vector: Float32Array.from(r.vector.toArray()) });
      }
    }
    return out;
  }

  /**
   * The writes with their staged chunk lists in place; throws (kind 'crashed')
   * when one is not whole, and drops every list staged up to the last key named.
   */
  private takeStagedLists(writes: FileWrite[]): FileWrite[] {
    const keys = writes.flatMap((w) => (w.stagedChunks ? [w.stagedChunks.key] : []));
    if (!keys.length) return writes;
    const last = Math.max(...keys);
    try {
      return writes.map((w) => {
        if (!w.stagedChunks) return w;
        const list = this.stagedLists.get(w.stagedChunks.key) ?? [];
        if (list.length !== w.stagedChunks.count || w.rec.chunks.length)
          throw Object.assign(
            new Error(
              `the chunk list of ${w.rec.path} is not whole in this store process (${list.length} of ${w.stagedChunks.count} chunks staged: ` +
                'it was restarted since): no file of this write is written; the next indexing run writes them',
            ),
            { kind: 'crashed' },
          );
        return { ...w, rec: { ...w.rec, chunks: list } };
      });
    } finally {
      for (const k of this.stagedLists.keys()) if (k <= last) this.stagedLists.delete(k);
    }
  }

  async writeFiles(given: FileWrite[]): Promise<Record<string, number>> {
    if (!given.length) return {};
    const writes = this.takeStagedLists(given);
    if (!this.chunks || !this.files) {
      if (!this.meta) throw new Error('index meta (model, dims) must be set before files are stored');
      await this.createTables(this.meta.dims);
    }
    const { chunks, files, dims } = this.requireTables();
    const paths = writes.map((w) => w.rec.path);
    const pathList = LanceEngine.inList(paths);
    const known = new Map<string, { text: string; vector: Float32Array }>();
    for (const w of writes) {
      for (const f of w.fresh) {
        if (f.vector.length !== dims) throw new Error(`vector of ${f.vector.length} dims for an index of ${dims}`);
        known.set(f.hash, f);
      }
    }
    const wanted = new Set<string>();
    for (const w of writes) for (const c of w.rec.chunks) if (!known.has(c.hash)) wanted.add(c.hash);
    for (const h of wanted) {
      const o = this.staged.get(h) ?? this.orphans.get(h);
      if (o) known.set(h, o);
    }
    for (const [h, v] of await this.rowsOfHashes(chunks, new Set([...wanted].filter((h) => !known.has(h))))) known.set(h, v);
    // what the replaced rows held, kept for a file written later that takes a chunk from them
    const keepNew = new Set(writes.flatMap((w) => w.rec.chunks.map((c) => c.hash)));
    const old = await chunks.query().where(`path IN ${pathList}`).select(['hash', 'text', 'vector']).toArray();
    for (const r of old as { hash: string; text: string; vector: { toArray(): Float32Array } }[]) {
      if (!keepNew.has(r.hash)) this.orphan(r.hash, r.text, Float32Array.from(r.vector.toArray()));
    }

    const missing: Record<string, number> = {};
    const rows: ChunkRow[] = [];
    const fileRows: Record<string, unknown>[] = [];
    for (const { rec } of writes) {
      const kept: ChunkMeta[] = [];
      for (const c of rec.chunks) {
        const v = known.get(c.hash);
        if (!v) {
          missing[rec.path] = (missing[rec.path] ?? 0) + 1;
          continue;
        }
        kept.push(c);
        rows.push({
          path: rec.path,
          start_line: c.startLine,
          end_line: c.endLine,
          symbol: c.symbol,
          kind: c.kind,
          language: rec.language,
          text: v.text,
          hash: c.hash,
          vector: v.vector,
        });
      }
      // a file with a chunk missing is recorded without a hash, so the next run reads it again
      const hash = missing[rec.path] ? '' : rec.hash;
      fileRows.push({ path: rec.path, hash, size: rec.size, mtime_ms: rec.mtimeMs, language: rec.language, chunks: JSON.stringify(kept) });
    }
    await files.delete(`path IN ${pathList}`);
    await chunks.delete(`path IN ${pathList}`);
    this.forgetPaths(paths);
    for (let i = 0; i < rows.length; i += ADD_ROWS) await chunks.add(this.chunkTable(rows.slice(i, i + ADD_ROWS), dims));
    await files.add(fileRows);
    if (this.paths) {
      for (const { rec } of writes) this.paths.set(rec.path, rec.language);
      this.pathsChanged();
    }
    // taken: the rows hold them now
    for (const r of rows) this.unstage(r.hash);
    await this.wrote(rows.length + old.length);
    return missing;
  }

  async removeFiles(paths: string[]): Promise<void> {
    if (!paths.length || !this.chunks || !this.files) return;
    const pathList = LanceEngine.inList(paths);
    const old = await this.chunks.query().where(`path IN ${pathList}`).select(['hash', 'text', 'vector']).toArray();
    for (const r of old as { hash: string; text: string; vector: { toArray(): Float32Array } }[]) {
      this.orphan(r.hash, r.text, Float32Array.from(r.vector.toArray()));
    }
    await this.files.delete(`path IN ${pathList}`);
    await this.chunks.delete(`path IN ${pathList}`);
    this.forgetPaths(paths);
    await this.wrote(old.length);
  }

  private async wrote(rows: number): Promise<void> {
    const chunks = this.chunks;
    if (!chunks) return;
    // a full-text index must exist for its column to be searched at all; rows added later are searched unindexed until optimize()
    await this.ensureFullText(chunks);
    this.sinceOptimize += rows;
    if (this.sinceOptimize >= this.options.optimizeRows) await this.optimize();
  }

  private pathsChanged(): void {
    this.sortedPaths = null;
    this.filters.clear();
    this.filtersGeneration++;
  }

  /** Drops paths from the set of indexed paths (their file rows are gone). */
  private forgetPaths(paths: string[]): void {
    if (!this.paths) return;
    for (const p of paths) this.paths.delete(p);
    this.pathsChanged();
  }

  /** Every indexed path with its language, in code point order (read from the file table once, then kept by the writes). */
  private async indexedPaths(): Promise<IndexedPath[]> {
    if (!this.paths) {
      const paths = new Map<string, string>();
      if (this.files) {
        for await (const batch of this.files.query().select(['path', 'language'])) {
          const p = batch.getChild('path');
          const l = batch.getChild('language');
          for (let i = 0; i < batch.numRows; i++) paths.set(p?.get(i) as string, l?.get(i) as string);
        }
      }
      this.paths = paths;
      this.pathsChanged();
    }
    if (!this.sortedPaths) {
      this.sortedPaths = [...this.paths].map(([path, language]) => ({ path, language }));
      this.sortedPaths.sort((a, b) => compareCodePoints(a.path, b.path));
    }
    return this.sortedPaths;
  }

  /**
   * The filter of a query as LanceDB's scalar indexes answer it. A path
   * filter is matched on the indexed paths here (selectPaths), so the query
   * tests what the path and language indexes serve: the prefix as a range
   * (LIKE would need its `_` and `%` escaped), the languages (the bitmap),
   * and the admitted files as a set, as runs of neighbouring paths, or as
   * the candidates but a few. Only a selection too scattered for those runs
   * the expression on the rows the indexes leave (measured at 1M chunks on
   * 0.37.1: a glob with neither a prefix nor an extension set read the whole
   * path column, 315 ms a query). `none`: no row can pass.
   */
  private async filter(q: RankQuery): Promise<Filter> {
    const key = JSON.stringify([q.path ?? null, q.language ?? null]);
    const known = this.filters.get(key);
    if (known) return known;
    const generation = this.filtersGeneration;
    const f = await this.newFilter(q);
    if (generation !== this.filtersGeneration) return f;
    if (this.filters.size >= FILTERS_KEPT) this.filters.delete(this.filters.keys().next().value as string);
    this.filters.set(key, f);
    return f;
  }

  private async newFilter(q: RankQuery): Promise<Filter> {
    const indexed = this.scalarColumns.has('path') && this.scalarColumns.has('language');
    const parts: string[] = [];
    if (q.language) parts.push(`language = ${sqlString(q.language)}`);
    if (!q.path)
      return { where: parts.length ? parts.join(' AND ') : null, none: false, indexed: indexed && !!q.language, selection: null };
    const { prefix, regex, languages } = q.path;
    const selection = selectPaths(await this.indexedPaths(), { prefix, regex: new RegExp(regex), languages }, q.language, {
      paths: this.options.filterPaths,
      runs: this.options.filterRuns,
    });
    if (selection.kind === 'none') return { where: null, none: true, indexed, selection };
    if (selection.kind === 'in') return { where: `path IN ${LanceEngine.inList(selection.paths)}`, none: false, indexed, selection };
    if (prefix) {
      const { lo, hi } = prefixRange(prefix);
      parts.push(`path >= ${sqlString(lo)}`);
      if (hi !== null) parts.push(`path < ${sqlString(hi)}`);
    }
    if (languages) parts.push(languages.length ? `language IN ${LanceEngine.inList(languages)}` : 'false');
    if (selection.kind === 'runs') {
      const range = ([lo, hi]: [string, string]) =>
        lo === hi ? `path = ${sqlString(lo)}` : `(path >= ${sqlString(lo)} AND path <= ${sqlString(hi)})`;
      parts.push(`(${selection.runs.map(range).join(' OR ')})`);
    } else if (selection.kind === 'except') parts.push(`path NOT IN ${LanceEngine.inList(selection.paths)}`);
    else if (selection.kind === 'scan') parts.push(`regexp_like(path, ${sqlString(regex)})`);
    const where = parts.length ? parts.join(' AND ') : null;
    return { where, none: false, indexed: indexed && (selection.kind !== 'scan' || parts.length > 1), selection };
  }

  /**
   * The vector half's query, and whether it is exact. Past the vector
   * index's threshold, a filter that leaves at most flatFilterRows rows is
   * searched exactly over those rows (the scalar indexes find them); any
   * other query goes through the index (probed(): vectorRows() says how far).
   */
  private async vectorQuery(chunks: Table, q: RankQuery, filter: Filter, cols: string[]) {
    const where = filter.where;
    let vq = chunks
      .vectorSearch(Array.from(q.vector))
      .distanceType('cosine')
      .select([...cols, '_distance'])
      .limit(q.k);
    if (where) vq = vq.where(where);
    if (!this.vectorIndex) return { vq, exact: true };
    // only where an index finds the rows: an exact search under a filter no index serves reads every vector
    // (measured at 1M chunks: a glob with no prefix, no language bitmap, 87 s instead of 7)
    if (
      where &&
      filter.indexed &&
      !(await this.surelyWide(chunks, filter)) &&
      (await chunks.countRows(where)) <= this.options.flatFilterRows
    )
      return { vq: vq.bypassVectorIndex(), exact: true };
    return { vq, exact: false };
  }

  /**
   * Whether a path filter admits so many files that its rows, at the
   * table's rows per file, are surely past flatFilterRows: their count is
   * not worth taking (at 1M chunks, counting the 110,000 rows of 2,200 files
   * took 22-72 ms, as long as the search). Short of 4x, they are counted.
   */
  private async surelyWide(chunks: Table, filter: Filter): Promise<boolean> {
    const files = this.sortedPaths?.length;
    if (!filter.selection || !files) return false;
    return (filter.selection.files * (await chunks.countRows())) / files > 4 * this.options.flatFilterRows;
  }

  /**
   * A query through the index: at most `probes` IVF partitions (0: all), at
   * least NPROBES, and re-ranked by the full vectors so that a chunk's own
   * text still finds it first. (The maximum first: a minimum above the
   * current maximum, 20 by default, is refused.)
   */
  private static probed(vq: ReturnType<Table['vectorSearch']>, probes: number) {
    return vq.maximumNprobes(probes).minimumNprobes(NPROBES).refineFactor(REFINE_FACTOR);
  }

  /**
   * The vector half's rows. A filtered search through the index must not
   * come back with fewer than k rows because the partitions it probed held
   * few of the filter's rows, nor probe every partition when the first
   * NPROBES hold enough (LanceDB without a maximum probes them all whatever
   * the filter leaves: 998 of 1,000 at 1M chunks for a language filter that
   * admits half the rows, 471 against 205 ms). So NPROBES first; when they
   * held fewer than k, as many partitions as the rows found say are needed,
   * twice over; when they held none, or that would be half of them, all.
   */
  private async vectorRows(chunks: Table, q: RankQuery, filter: Filter, cols: string[]) {
    const { vq, exact } = await this.vectorQuery(chunks, q, filter, cols);
    if (exact) return vq.toArray();
    let probes = NPROBES;
    let rows = await LanceEngine.probed(vq, probes).toArray();
    // (unfiltered too: a limit past the rows the first partitions hold, as a glob that admits every file asks)
    const partitions = Math.max(1, Math.round(Math.sqrt(await chunks.countRows())));
    while (rows.length < q.k && probes !== 0) {
      probes = rows.length ? Math.ceil((2 * probes * q.k) / rows.length) : 0;
      if (probes * 2 >= partitions) probes = 0;
      rows = await LanceEngine.probed(vq, probes).toArray();
    }
    return rows;
  }

  private static hits(rows: Record<string, unknown>[], score: (r: Record<string, unknown>) => number): RankHit[] {
    return rows.map((r) => ({
      path: r.path as string,
      hash: r.hash as string,
      startLine: r.start_line as number,
      endLine: r.end_line as number,
      symbol: (r.symbol as string | null) ?? null,
      kind: r.kind as string,
      language: r.language as string,
      score: score(r),
    }));
  }

  async rank(q: RankQuery): Promise<RankResult> {
    const chunks = this.chunks;
    if (!chunks || !this.meta) return { vector: [], text: [], names: [] };
    if (q.vector.length !== this.meta.dims) throw new Error(`query vector of ${q.vector.length} dims for an index of ${this.meta.dims}`);
    const cols = ['path', 'hash', 'start_line', 'end_line', 'symbol', 'kind', 'language'];
    const filter = await this.filter(q);
    if (filter.none) return { vector: [], text: [], names: [] };
    const where = filter.where;
    // BM25 over one column: with two full-text indexes a search must name its column (it would search both)
    const fullText = async (column: FullTextColumn, words: string | undefined): Promise<RankHit[]> => {
      const w = words?.trim();
      if (!w || !this.fullText.has(column)) return [];
      let tq = chunks
        .search(w, 'fts', column)
        .select([...cols, '_score'])
        .limit(q.k);
      if (where) tq = tq.where(where);
      return LanceEngine.hits(await tq.toArray(), (r) => r._score as number);
    };
    const vectorHits = async () => LanceEngine.hits(await this.vectorRows(chunks, q, filter, cols), (r) => 1 - (r._distance as number));
    const [vector, text, names] = await Promise.all([vectorHits(), fullText('text', q.text), fullText('symbol', q.names)]);
    return { vector, text, names };
  }

  /** LanceDB's plan of a query's vector half (for tests and benchmarks: which indexes the filter uses) */
  async explain(q: RankQuery): Promise<string> {
    const chunks = this.chunks;
    if (!chunks) return '';
    const filter = await this.filter(q);
    if (filter.none) return 'no indexed path passes the filter: no query runs';
    const { vq, exact } = await this.vectorQuery(chunks, q, filter, ['path']);
    return (exact ? vq : LanceEngine.probed(vq, NPROBES)).explainPlan(true);
  }

  async stats(): Promise<EngineStats> {
    return {
      rows: this.chunks ? await this.chunks.countRows() : 0,
      vectorIndex: this.vectorIndex,
      textIndex: this.fullText.has('text'),
      namesIndex: this.fullText.has('symbol'),
      scalarIndexes: await this.scalarIndexList(),
    };
  }

  /** Compacts the tables, brings the indexes up to date, drops old versions; builds the vector index past the threshold. */
  async optimize(): Promise<EngineStats> {
    this.sinceOptimize = 0;
    // (a filter's `indexed` follows the scalar indexes this may build)
    this.filters.clear();
    this.filtersGeneration++;
    const chunks = this.chunks;
    if (!chunks || !this.files || !this.meta) return this.stats();
    const rows = await chunks.countRows();
    if (!this.vectorIndex && rows >= this.options.vectorIndexRows) {
      await chunks.createIndex('vector', { config: this.lance.Index.ivfPq(vectorIndexOptions(rows, this.meta.dims)) });
      this.vectorIndex = 'IvfPq';
    }
    await this.scalarIndexes(chunks, this.files, rows);
    const older = new Date(Date.now() - 1000);
    await chunks.optimize({ cleanupOlderThan: older });
    await this.files.optimize({ cleanupOlderThan: older });
    return this.stats();
  }

  /**
   * Scalar indexes on the columns lookups and filters test: B-trees on the
   * chunk hash and the file path (without them each `hash IN (...)` of one
   * file's chunks scans the whole hash column), bitmaps on the chunk path and
   * language. The path's is a bitmap (one row set per file) because a filter
   * names sets of files: at 1M chunks in 20,000 files, counting the rows of
   * 200 scattered paths took 2.7 ms against 89 ms with a B-tree, of 1,000
   * paths 16 against 81 ms, and a prefix range is as fast on either. Built
   * once the table is large (an index of an older version gets the kind
   * named here); rows added later are scanned until the next optimize()
   * brings them in.
   */
  private async scalarIndexes(chunks: Table, files: Table, rows: number): Promise<void> {
    if (rows < this.options.scalarIndexRows) return;
    const btree = () => this.lance.Index.btree();
    const bitmap = () => this.lance.Index.bitmap();
    for (const [table, columns] of [
      [
        chunks,
        [
          ['hash', 'BTree', btree],
          ['path', 'Bitmap', bitmap],
          ['language', 'Bitmap', bitmap],
        ],
      ],
      [files, [['path', 'BTree', btree]]],
    ] as const) {
      const have = new Map((await table.listIndices()).flatMap((ix) => ix.columns.map((c) => [c, ix.indexType])));
      // (an index of another kind on the column is replaced: the same name)
      for (const [c, kind, config] of columns) if (have.get(c) !== kind) await table.createIndex(c, { config: config(), replace: true });
    }
    for (const c of ['hash', 'path', 'language']) this.scalarColumns.add(c);
  }

  private async scalarIndexList(): Promise<string[]> {
    const out: string[] = [];
    for (const [name, table] of [
      [CHUNKS, this.chunks],
      [FILES, this.files],
    ] as const) {
      if (!table) continue;
      for (const ix of await table.listIndices()) {
        if (ix.indexType === 'BTree' || ix.indexType === 'Bitmap') out.push(...ix.columns.map((c) => `${name}.${c}`));
      }
    }
    return out.sort();
  }

  async clear(): Promise<void> {
    for (const t of [CHUNKS, FILES]) if ((await this.db.tableNames()).includes(t)) await this.db.dropTable(t);
    await rm(this.metaPath, { force: true });
    this.chunks = null;
    this.files = null;
    this.meta = null;
    this.vectorIndex = null;
    this.fullText.clear();
    this.scalarColumns.clear();
    this.orphans.clear();
    this.orphanBytes = 0;
    this.staged.clear();
    this.stagedBytes = 0;
    this.paths = null;
    this.pathsChanged();
    this.stagedLists.clear();
  }

  async close(): Promise<void> {
    if (this.sinceOptimize) await this.optimize();
    this.chunks?.close();
    this.files?.close();
    this.db.close();
  }
}
