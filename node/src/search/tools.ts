// tools.ts - the code search MCP tools: index_codebase, search_code,
// index_status, clear_index. mcp.ts registers them with one call. One index
// per repository root, in <root>/.ggembed/index unless indexDir says
// otherwise (the walk never enters .ggembed); one indexing run at a time per
// root (index_codebase and the watcher's runs take turns). Once a root is
// indexed, a file watcher (watcher.ts) keeps its index current while the
// server runs, unless watching is off; a root indexed before the server
// started is brought up to date and watched from the start. With a reranker
// (a second Embedder, of a cross-encoder) search_code reorders the hybrid
// order's first candidates by its scores (search.ts, searchCodeReranked).

import path from 'node:path';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { Embedder } from '../embedder.js';
import { ChunkProcess, type ChunkProcessOptions } from './chunk-process.js';
import { ChunkWorker, type ChunkWorkerOptions } from './chunk-worker.js';
import { IgnoreRules } from './files.js';
import { type IndexOptions, type IndexProgress, type IndexReport, indexPaths, indexRepository } from './indexer.js';
import { LanceStore } from './lance-store.js';
import { prefixesFor } from './prefixes.js';
import { RERANK_MAX_CANDIDATES, type Reranker, searchCode, searchCodeReranked } from './search.js';
import { FileStore, type SearchStore } from './store.js';
import { RepoWatcher, type WatchBatch, type WatcherOptions } from './watcher.js';

/** The stores an index can live in: LanceDB (the default) or the plain files of FileStore, for platforms without a LanceDB build. */
export const STORE_KINDS = ['lance', 'file'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/**
 * Opens the index of one root in the chosen store. A LanceDB that cannot be
 * loaded is an error naming the package and `store: 'file'`; it never falls
 * back to the file store by itself (the two keep different files).
 */
export async function openStore(kind: StoreKind, dir: string): Promise<SearchStore> {
  if (kind === 'file') return FileStore.open(dir);
  return LanceStore.open(path.join(dir, 'lance'));
}

export interface SearchToolsOptions {
  /** the repository indexed when index_codebase gets no path (default: the working directory) */
  root?: string;
  /** where the index of a root lives (default <root>/.ggembed/index) */
  indexDir?: (root: string) => string;
  /** override the model's own (prefixes.ts); default env GGEMBED_DOCUMENT_PREFIX / GGEMBED_QUERY_PREFIX */
  documentPrefix?: string;
  queryPrefix?: string;
  /** tokens per chunk at most (default: the model's context, at most 512) */
  maxTokens?: number;
  /** keep indexed roots current with a file watcher (default true) */
  watch?: boolean;
  watcher?: WatcherOptions;
  /** where the index lives (default env GGEMBED_STORE, else 'lance') */
  store?: StoreKind;
  /**
   * where files are chunked (default env GGEMBED_CHUNKER, else 'process'): in
   * a process of its own that ends when idle (chunk-process.ts), in this
   * thread, or in a worker thread that ends when idle (chunk-worker.ts). The
   * process keeps tree-sitter's WebAssembly memory out of the MCP server
   * (bench/bench_search.mjs --index ... --chunker compares them).
   */
  chunker?: ChunkerKind;
  /** the chunking thread's idle time and heap limits (chunker 'worker') */
  chunkWorker?: ChunkWorkerOptions;
  /** the chunking process's idle time and heap (chunker 'process') */
  chunkProcess?: ChunkProcessOptions;
  /** a reranker model's embedder: search_code reorders the hybrid order's first candidates by its scores */
  reranker?: Reranker & Pick<Embedder, 'pid'>;
  /** the hybrid order's candidates the reranker scores (default search.ts rerankCandidates: max(limit x 3, 30)) */
  rerankCandidates?: number;
}

export const CHUNKER_KINDS = ['process', 'thread', 'worker'] as const;
export type ChunkerKind = (typeof CHUNKER_KINDS)[number];

/** The chunker named by GGEMBED_CHUNKER (unset: 'process'); any other value is a configuration error at once. */
export function chunkerKindFrom(v: string | undefined): ChunkerKind {
  if (v === undefined || v === '') return 'process';
  if ((CHUNKER_KINDS as readonly string[]).includes(v)) return v as ChunkerKind;
  throw new Error(`GGEMBED_CHUNKER=${v}: expected ${CHUNKER_KINDS.join(' or ')}`);
}

/** The errors index_status shows: the last ones, from index_codebase and watcher runs alike. */
const MAX_ERRORS = 50;

interface RootState {
  root: string;
  store: SearchStore;
  rules: IgnoreRules;
  lastRun: { at: string; report: IndexReport; ms: number; by: 'index_codebase' | 'watcher' } | null;
  /** an index_codebase call going on */
  running: Promise<IndexReport> | null;
  /** the progress of the run going on (either kind), null between runs */
  progress: IndexProgress | null;
  /** runs take turns through this chain */
  turn: Promise<unknown>;
  watcher: RepoWatcher | null;
  errors: { at: string; path: string; message: string }[];
}

export interface SearchTools {
  /** stops every watcher (aborting a run it has going) and closes the stores (LanceDB's store process ends) */
  close(): Promise<void>;
}

function reply(obj: Record<string, unknown>) {
  return { content: [{ type: 'text' as const, text: JSON.stringify(obj) }], structuredContent: obj };
}

function fail(message: string) {
  return { content: [{ type: 'text' as const, text: message }], isError: true };
}

/** The store named by GGEMBED_STORE (unset: 'lance'); any other value is a configuration error at once. */
export function storeKindFrom(v: string | undefined): StoreKind {
  if (v === undefined || v === '') return 'lance';
  if ((STORE_KINDS as readonly string[]).includes(v)) return v as StoreKind;
  throw new Error(`GGEMBED_STORE=${v}: expected ${STORE_KINDS.join(' or ')}`);
}

/** The progress of a run in one line: what a notification says and what index_status shows. */
export function progressLine(p: IndexProgress): string {
  const done = p.filesToDo === null ? 'counting files' : `${p.filesToDo - (p.filesPending ?? 0)}/${p.filesToDo} changed files`;
  const left = p.chunksPending === null ? '' : `, ${p.chunksPending} chunks pending`;
  const eta = p.etaMs === null ? '' : `, about ${Math.ceil(p.etaMs / 1000)} s left`;
  return `${done}, ${p.chunksEmbedded} chunks embedded${left}${eta}${p.currentFile ? `: ${p.currentFile}` : ''}`;
}

/** The reranker as index_status shows it: its model, its process's state and whether search_code can use it. */
export function rerankerStatus(r: Reranker & Pick<Embedder, 'pid'>) {
  const i = r.info();
  const st = r.status;
  return { model: i.name ?? path.basename(i.model), file: i.model, state: st.state, degraded: st.degraded, reason: st.reason, pid: r.pid };
}

/** Takes its turn after the runs before it, whatever they ended with. */
function inTurn<T>(st: RootState, fn: () => Promise<T>): Promise<T> {
  const p = st.turn.then(fn, fn);
  st.turn = p.catch(() => {});
  return p;
}

export function registerSearchTools(server: McpServer, embedder: Embedder, options: SearchToolsOptions = {}): SearchTools {
  const defaultRoot = path.resolve(options.root ?? process.cwd());
  const indexDir = options.indexDir ?? ((r: string) => path.join(r, '.ggembed', 'index'));
  const watchOn = options.watch ?? true;
  const roots = new Map<string, Promise<RootState>>();
  const storeKind = options.store ?? storeKindFrom(process.env.GGEMBED_STORE);
  let current = defaultRoot;
  let closed = false;
  // one chunker for every root: the grammars load once, and go when no run needs them
  const chunkerKind = options.chunker ?? chunkerKindFrom(process.env.GGEMBED_CHUNKER);
  const chunker =
    chunkerKind === 'process'
      ? new ChunkProcess(options.chunkProcess)
      : chunkerKind === 'worker'
        ? new ChunkWorker(options.chunkWorker)
        : null;

  const stateOf = (root: string): Promise<RootState> => {
    let s = roots.get(root);
    if (!s) {
      s = openStore(storeKind, indexDir(root)).then((store) => ({
        root,
        store,
        rules: new IgnoreRules(root),
        lastRun: null,
        running: null,
        progress: null,
        turn: Promise.resolve(),
        watcher: null,
        errors: [],
      }));
      // a failed open is tried again on the next call (the package may have been installed meanwhile), not cached
      s.catch(() => roots.delete(root));
      roots.set(root, s);
    }
    return s;
  };
  const prefixes = () => {
    const i = embedder.info();
    return prefixesFor([i.name, path.basename(i.model)], {
      query: options.queryPrefix ?? process.env.GGEMBED_QUERY_PREFIX,
      document: options.documentPrefix ?? process.env.GGEMBED_DOCUMENT_PREFIX,
    });
  };
  // the document prefix is part of what made the vectors: another prefix is another index
  const modelId = () => {
    const i = embedder.info();
    return {
      model: `${i.name ?? i.arch ?? 'model'} (${path.basename(i.model)}) document prefix ${JSON.stringify(prefixes().document)}`,
      dims: i.dims,
    };
  };
  const indexOptions = (st: RootState, extra: Partial<IndexOptions>): IndexOptions => ({
    maxTokens: options.maxTokens ?? Math.min(embedder.info().context ?? 512, 512),
    documentPrefix: prefixes().document,
    ...(chunker ? { chunker } : {}),
    ...extra,
    onProgress: (p) => {
      st.progress = p;
      extra.onProgress?.(p);
    },
  });
  const finished = (st: RootState, report: IndexReport, t0: number, by: 'index_codebase' | 'watcher') => {
    const at = new Date().toISOString();
    st.lastRun = { at, report, ms: Date.now() - t0, by };
    st.errors.push(...report.errors.map((e) => ({ at, ...e })));
    st.errors.splice(0, Math.max(0, st.errors.length - MAX_ERRORS));
  };

  /** One watcher run: the changed paths (or the whole tree), in its turn. */
  const reindex = (st: RootState) => (batch: WatchBatch, signal: AbortSignal) =>
    inTurn(st, async () => {
      if (signal.aborted) return;
      const t0 = Date.now();
      const o = indexOptions(st, { signal });
      let report: IndexReport;
      try {
        if (batch.full) {
          report = await indexRepository(st.root, embedder, st.store, o);
        } else {
          const paths = new Set(batch.paths);
          for (const d of batch.dirsGone) for await (const page of st.store.filesUnder(`${d}/`)) for (const f of page) paths.add(f);
          report = await indexPaths(st.rules, paths, embedder, st.store, o);
        }
      } catch (e) {
        st.errors.push({ at: new Date().toISOString(), path: st.root, message: `watcher re-index failed: ${(e as Error).message}` });
        st.errors.splice(0, Math.max(0, st.errors.length - MAX_ERRORS));
        return;
      } finally {
        st.progress = null;
      }
      finished(st, report, t0, 'watcher');
    });

  const startWatching = (st: RootState, catchUp: boolean): void => {
    if (!watchOn || closed || st.watcher) return;
    const w = new RepoWatcher(st.rules, reindex(st), {
      ...options.watcher,
      onError: (e) => {
        st.errors.push({ at: new Date().toISOString(), path: st.root, message: `watcher: ${e.message}` });
        st.errors.splice(0, Math.max(0, st.errors.length - MAX_ERRORS));
        options.watcher?.onError?.(e);
      },
    });
    st.watcher = w;
    // its first scan of a large tree takes a while: nobody waits for it; what changed while nobody
    // watched is found by one incremental walk once every change from then on is seen
    if (catchUp)
      void w.whenReady().then(() => {
        if (st.watcher === w && w.state !== 'stopping' && w.state !== 'stopped')
          void reindex(st)({ paths: [], dirsGone: [], full: true }, new AbortController().signal);
      });
  };
  const stopWatching = async (st: RootState) => {
    const w = st.watcher;
    st.watcher = null;
    await w?.stop();
  };

  // a root indexed (or being indexed, then stopped) by an earlier server with this model is
  // completed and kept current from the start; a cleared index has no meta and stays cleared
  if (watchOn) {
    void stateOf(defaultRoot)
      .then(async (st) => {
        if (st.store.meta?.model === modelId().model) startWatching(st, true);
      })
      .catch(() => {});
  }

  server.registerTool(
    'index_codebase',
    {
      description:
        'Index (or bring up to date) a repository for search_code: only new or changed code is embedded. Honours .gitignore and .ggembedignore. ' +
        'Afterwards a file watcher keeps the index current while the server runs.',
      inputSchema: {
        path: z.string().optional().describe("repository root (default: the server's root)"),
        force: z.boolean().optional().describe('re-chunk every file (vectors of unchanged chunks are still reused)'),
        dry_run: z.boolean().optional().describe('only report what would be indexed and embedded, with an estimate of the time'),
      },
    },
    async ({ path: p, force, dry_run }, extra) => {
      const root = path.resolve(defaultRoot, p ?? '.');
      current = root;
      const st = await stateOf(root);
      if (st.running) return fail(`already indexing ${root}`);
      const token = extra._meta?.progressToken;
      const t0 = Date.now();
      const o = indexOptions(st, {
        force,
        dryRun: dry_run,
        signal: extra.signal,
        onProgress: (pr) => {
          if (token === undefined) return;
          void extra
            .sendNotification({
              method: 'notifications/progress',
              params: {
                progressToken: token,
                progress: pr.filesToDo === null ? 0 : pr.filesToDo - (pr.filesPending ?? 0),
                ...(pr.filesToDo === null ? {} : { total: pr.filesToDo }),
                message: progressLine(pr),
              },
            })
            .catch(() => {});
        },
      });
      st.running = inTurn(st, async () => {
        if (!dry_run) await st.store.setMeta(modelId());
        try {
          return await indexRepository(root, embedder, st.store, o);
        } finally {
          st.progress = null;
        }
      });
      try {
        const report = await st.running;
        if (dry_run) return reply({ root, dryRun: true, ...report, ms: Date.now() - t0 });
        // compaction and index upkeep (the vector index once the table is large) after each run
        if (st.store instanceof LanceStore) await st.store.optimize();
        finished(st, report, t0, 'index_codebase');
        if (!report.aborted) startWatching(st, false);
        return reply({ root, ...report, ms: Date.now() - t0, watching: st.watcher !== null });
      } catch (e) {
        return fail(`indexing ${root} failed: ${(e as Error).message}`);
      } finally {
        st.running = null;
      }
    },
  );

  const reranker = options.reranker ?? null;
  server.registerTool(
    'search_code',
    {
      description:
        'Find code by meaning or by name in the indexed repository. Returns file, line range, symbol, language, score and a snippet.' +
        (reranker
          ? ' A reranker (cross-encoder) orders the best candidates of the hybrid search; each result says which ranking placed it ' +
            '(name: the exact identifier asked for, kept first; reranker; hybrid: the reranker could not score, see warning).'
          : ''),
      inputSchema: {
        query: z.string().min(1).describe('what the code does, or an identifier'),
        limit: z.number().int().min(1).max(100).optional().describe('results (default 10)'),
        path_glob: z.string().optional().describe('only files whose path matches this glob (* ? ** {a,b}), e.g. "src/**/*.{ts,tsx}"'),
        language: z.string().optional().describe('only this language, e.g. "typescript", "python", "c"'),
        ...(reranker
          ? {
              rerank_candidates: z
                .number()
                .int()
                .min(1)
                .max(RERANK_MAX_CANDIDATES)
                .optional()
                .describe('candidates of the hybrid search the reranker scores (default max(limit x 3, 30)); more is slower'),
            }
          : {}),
      },
    },
    async ({ query, limit, path_glob, language, rerank_candidates }, extra) => {
      const st = await stateOf(current);
      if ((await st.store.counts()).files === 0) return fail(`${current} is not indexed: call index_codebase first`);
      const o = { limit, pathGlob: path_glob, language, queryPrefix: prefixes().query };
      try {
        if (!reranker) return reply({ root: current, results: await searchCode(current, st.store, embedder, query, o) });
        const r = await searchCodeReranked(current, st.store, embedder, query, o, {
          reranker,
          candidates: (rerank_candidates as number | undefined) ?? options.rerankCandidates,
          signal: extra.signal,
        });
        // a hybrid answer where a reranker is configured is said first, where a model reads it
        const warning = r.reranker.used
          ? {}
          : { warning: `NOT RERANKED: ${r.reranker.reason}; these results are in the hybrid order (vector + full-text + names)` };
        return reply({
          ...warning,
          root: current,
          ranking: r.reranker.used ? 'reranker' : 'hybrid',
          reranker: r.reranker,
          results: r.results,
        });
      } catch (e) {
        return fail((e as Error).message);
      }
    },
  );

  server.registerTool(
    'index_status',
    {
      description:
        'What is indexed: files, chunks, model, last update; changes pending (watcher queue and the run going on) with the estimated time left; ' +
        'the last errors; whether the file watcher is on.',
      inputSchema: {},
    },
    async () => {
      const st = await stateOf(current);
      // from the store: nothing here holds every file's record
      const { files, chunks } = await st.store.counts();
      const pr = st.progress;
      const queued = st.watcher?.pendingCount() ?? 0;
      return reply({
        root: current,
        files,
        chunks,
        model: st.store.meta?.model ?? null,
        indexing: pr !== null || st.running !== null,
        lastUpdate: st.lastRun?.at ?? null,
        lastRun: st.lastRun ? { by: st.lastRun.by, ...st.lastRun.report, ms: st.lastRun.ms } : null,
        pending: {
          /** changed paths the watcher holds for its next run */
          watcherQueue: queued,
          /** files of the run going on not chunked yet, and its chunks not embedded yet */
          files: pr?.filesPending ?? 0,
          chunks: pr?.chunksPending ?? 0,
        },
        etaMs: pr?.etaMs ?? null,
        progress: pr ? progressLine(pr) : null,
        errors: st.errors,
        // runs against events: what bursts of changes were coalesced into
        watcher: st.watcher
          ? { on: true, state: st.watcher.state, runs: st.watcher.runs, events: st.watcher.events }
          : { on: false, state: 'off', runs: 0, events: 0 },
        // the chunker: where it runs, its state ('down' / 'off' between runs: its grammars' memory returned), starts and deaths
        chunker: chunker ? { kind: chunkerKind, ...chunker.status() } : { kind: chunkerKind },
        // the reranker search_code uses (null: none configured, the hybrid order)
        reranker: reranker ? rerankerStatus(reranker) : null,
      });
    },
  );

  server.registerTool(
    'clear_index',
    {
      description: 'Delete the index of the repository (and stop watching it until it is indexed again).',
      inputSchema: {},
    },
    async () => {
      const st = await stateOf(current);
      if (st.running) return fail('an indexing run is going on');
      await stopWatching(st);
      await inTurn(st, () => st.store.clear());
      st.lastRun = null;
      st.errors = [];
      return reply({ root: current, cleared: true });
    },
  );

  return {
    close: async () => {
      closed = true;
      const open = [...roots.values()];
      // a later call opens its root's store again (index_status still answers); closing again closes that one
      roots.clear();
      for (const s of open) {
        const st = await s.catch(() => null);
        if (!st) continue;
        await stopWatching(st);
        // after the run going on, if any: a LanceDB store process left open would outlive the server
        await inTurn(st, () => st.store.close());
      }
      await chunker?.close();
    },
  };
}
