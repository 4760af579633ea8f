// tools.ts - the code search MCP tools: index_codebase, search_code,
// index_status, clear_index. mcp.ts registers them with one call. One index
// per repository root, in <root>/.ggembed/index unless indexDir says
// otherwise (the walk never enters .ggembed); one indexing run at a time.

import path from 'node:path';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { Embedder } from '../embedder.js';
import { type IndexReport, indexRepository } from './indexer.js';
import { prefixesFor } from './prefixes.js';
import { searchCode } from './search.js';
import { FileStore } from './store.js';

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
}

interface RootState {
  root: string;
  store: FileStore;
  lastRun: { at: string; report: IndexReport; ms: number } | null;
  running: Promise<IndexReport> | null;
}

function reply(obj: Record<string, unknown>) {
  return { content: [{ type: 'text' as const, text: JSON.stringify(obj) }], structuredContent: obj };
}

function fail(message: string) {
  return { content: [{ type: 'text' as const, text: message }], isError: true };
}

export function registerSearchTools(server: McpServer, embedder: Embedder, options: SearchToolsOptions = {}): void {
  const defaultRoot = path.resolve(options.root ?? process.cwd());
  const indexDir = options.indexDir ?? ((r: string) => path.join(r, '.ggembed', 'index'));
  const roots = new Map<string, Promise<RootState>>();
  let current = defaultRoot;

  const stateOf = (root: string): Promise<RootState> => {
    let s = roots.get(root);
    if (!s) {
      s = FileStore.open(indexDir(root)).then((store) => ({ root, store, lastRun: null, running: null }));
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

  server.registerTool(
    'index_codebase',
    {
      description:
        'Index (or bring up to date) a repository for search_code: only new or changed code is embedded. Honours .gitignore and .ggembedignore.',
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
      if (!dry_run) await st.store.setMeta(modelId());
      const token = extra._meta?.progressToken;
      const t0 = Date.now();
      const maxTokens = options.maxTokens ?? Math.min(embedder.info().context ?? 512, 512);
      st.running = indexRepository(root, embedder, st.store, {
        maxTokens,
        force,
        dryRun: dry_run,
        documentPrefix: prefixes().document,
        signal: extra.signal,
        onProgress: (pr) => {
          if (token === undefined) return;
          void extra
            .sendNotification({
              method: 'notifications/progress',
              params: {
                progressToken: token,
                progress: pr.filesSeen,
                message: `${pr.filesSeen} files, ${pr.chunksEmbedded} chunks embedded${pr.currentFile ? `: ${pr.currentFile}` : ''}`,
              },
            })
            .catch(() => {});
        },
      });
      try {
        const report = await st.running;
        if (dry_run) return reply({ root, dryRun: true, ...report, ms: Date.now() - t0 });
        st.lastRun = { at: new Date().toISOString(), report, ms: Date.now() - t0 };
        return reply({ root, ...report, ms: st.lastRun.ms });
      } catch (e) {
        return fail(`indexing ${root} failed: ${(e as Error).message}`);
      } finally {
        st.running = null;
      }
    },
  );

  server.registerTool(
    'search_code',
    {
      description:
        'Find code by meaning or by name in the indexed repository. Returns file, line range, symbol, language, score and a snippet.',
      inputSchema: {
        query: z.string().min(1).describe('what the code does, or an identifier'),
        limit: z.number().int().min(1).max(100).optional().describe('results (default 10)'),
        path_glob: z.string().optional().describe('only files matching, e.g. "src/**/*.ts"'),
        language: z.string().optional().describe('only this language, e.g. "typescript", "python", "c"'),
      },
    },
    async ({ query, limit, path_glob, language }) => {
      const st = await stateOf(current);
      if (![...st.store.files()].length) return fail(`${current} is not indexed: call index_codebase first`);
      try {
        const results = await searchCode(current, st.store, embedder, query, {
          limit,
          pathGlob: path_glob,
          language,
          queryPrefix: prefixes().query,
        });
        return reply({ root: current, results });
      } catch (e) {
        return fail((e as Error).message);
      }
    },
  );

  server.registerTool(
    'index_status',
    {
      description: 'What is indexed: files, chunks, model, last update and its errors, whether a run is going on.',
      inputSchema: {},
    },
    async () => {
      const st = await stateOf(current);
      let chunks = 0,
        files = 0;
      for (const f of st.store.files()) {
        files++;
        chunks += f.chunks.length;
      }
      return reply({
        root: current,
        files,
        chunks,
        model: st.store.meta?.model ?? null,
        indexing: st.running !== null,
        lastUpdate: st.lastRun?.at ?? null,
        lastRun: st.lastRun ? { ...st.lastRun.report, ms: st.lastRun.ms } : null,
        errors: st.lastRun?.report.errors ?? [],
      });
    },
  );

  server.registerTool(
    'clear_index',
    {
      description: 'Delete the index of the repository.',
      inputSchema: {},
    },
    async () => {
      const st = await stateOf(current);
      if (st.running) return fail('an indexing run is going on');
      await st.store.clear();
      st.lastRun = null;
      return reply({ root: current, cleared: true });
    },
  );
}
