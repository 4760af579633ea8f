#!/usr/bin/env node
// mcp.ts - `ggembed-mcp --model FILE`: a stdio MCP server with the tools
// embed, similarity, rerank (for a reranker model) and embedder_status, on
// top of the Embedder client. The
// worked example of using ggembed from an MCP server: the model runs in the
// supervised ggembed process, never in this one.
//
// Answers stay well under the SDK's message limit (10 MiB over stdio: a
// message past it ends the connection): vectors travel once, in the
// structured content, with float32 precision; the text part is a short
// summary; a call whose answer would not fit is refused with a clear error.
// A degraded embedder is said in the text part, where a model reads it.
//
// `--reranker FILE` runs a reranker (a cross-encoder) in a second supervised
// ggembed process beside the embedding model: search_code reorders the best
// candidates of its hybrid search by the reranker's scores, the rerank tool
// uses it, and embedder_status / index_status report it.

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import {
  CliError,
  type DegradedState,
  degradedState,
  EMBEDDER_OPTIONS,
  embedderOptionsFrom,
  HELP_OPTION,
  helpText,
  intOption,
  isMain,
  logTransitions,
  type OptionTable,
  parseCli,
  RERANKER_OPTIONS,
  rerankerOptionsFrom,
  runBin,
  startBinEmbedder,
  startBinReranker,
} from './cli-options.js';
import type { Embedder, EmbedResult } from './embedder.js';
import { isEmbedderError } from './errors.js';
import { RERANK_MAX_CANDIDATES } from './search/search.js';
import { registerSearchTools, STORE_KINDS, type StoreKind } from './search/tools.js';

const BIN = 'ggembed-mcp';

export interface McpServerOptions {
  /** texts per call of embed and similarity (default 512) */
  maxTexts?: number;
  /** bytes of vectors an answer may carry (default 8 MiB, under the SDK's 10 MiB) */
  maxAnswerBytes?: number;
  /** keep indexed repositories current with a file watcher (default true) */
  watch?: boolean;
  /** the code search index's store (default env GGEMBED_STORE, else 'lance') */
  store?: StoreKind;
  /**
   * a reranker model's embedder (a second ggembed process): search_code
   * reorders its hybrid candidates by its scores, and the rerank tool uses it
   * (without it, rerank needs the model itself to be a reranker)
   */
  reranker?: Embedder;
  /** the hybrid candidates the reranker scores per search (default max(limit x 3, 30)) */
  rerankCandidates?: number;
}

export const MCP_DEFAULTS = { maxTexts: 512, maxAnswerBytes: 8 << 20 } as const;

// JSON of one float32 value at 9 significant digits, a comma and a sign, at most
const BYTES_PER_VALUE = 16;
const BYTES_PER_TEXT = 96;

/** float32 values as the shortest decimals that read back as the same float32 (9 significant digits). */
function compact(v: Float32Array): number[] {
  return Array.from(v, (x) => Number(x.toPrecision(9)));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    d += x * y;
    na += x * x;
    nb += y * y;
  }
  return na && nb ? d / Math.sqrt(na * nb) : 0;
}

function degradedWarning(s: DegradedState): string {
  return (
    'WARNING: the embedder is degraded: these vectors come from a local fallback (feature hashing), not from the model, ' +
    `so similarities are only approximate. Reason: ${s.reason ?? 'unknown'}`
  );
}

function errorReply(text: string) {
  return { content: [{ type: 'text' as const, text }], isError: true };
}

function failed(r: EmbedResult[]): string | null {
  const bad = r.filter((x) => x.error);
  return bad.length ? bad.map((x) => `text ${x.index}: ${x.error?.code}: ${x.error?.message}`).join('; ') : null;
}

/** The degraded state of a batch of results (they are all real or all fallback). */
function resultState(r: EmbedResult[]): DegradedState {
  const d = r.find((x) => x.degraded);
  return { degraded: d !== undefined, reason: d?.reason ?? null };
}

const snippet = (s: string, n = 80) => (s.length > n ? `${s.slice(0, n - 1)}…` : s).replace(/\s+/g, ' ');

export function createMcpServer(embedder: Embedder, options: McpServerOptions = {}): McpServer {
  const o = { ...MCP_DEFAULTS, ...options };
  const server = new McpServer({ name: 'ggembed', version: '0.1.0' });

  /** Texts one call may take with vectors of `dims` values. */
  const maxTexts = (dims: number) =>
    Math.max(1, Math.min(o.maxTexts, Math.floor(o.maxAnswerBytes / (dims * BYTES_PER_VALUE + BYTES_PER_TEXT))));
  const tooMany = (n: number, dims: number, what: string) => {
    const limit = maxTexts(dims);
    return n > limit
      ? `too many ${what} in one call: ${n}; at most ${limit} per call with ${dims}-dimensional vectors (so the answer fits in one MCP message). Split them into several calls.`
      : null;
  };

  server.registerTool(
    'embed',
    {
      description:
        'Embed texts with the local embedding model. The vectors are in the structured content (embeddings[i].embedding), ' +
        'one per text, with token counts; the text part is a summary. degraded=true means a local fallback embedding was used, not the model.',
      inputSchema: {
        texts: z.array(z.string()).min(1).describe(`texts to embed (at most ${o.maxTexts} per call)`),
        dims: z.number().int().positive().optional().describe('keep the first N dimensions (Matryoshka models)'),
        prefix: z.string().optional().describe('prepended to every text, e.g. "search_query: "'),
      },
      outputSchema: {
        model: z.string().nullable(),
        count: z.number(),
        dims: z.number(),
        tokens: z.number(),
        degraded: z.boolean(),
        reason: z.string().nullable(),
        embeddings: z.array(z.object({ index: z.number(), tokens: z.number(), truncated: z.boolean(), embedding: z.array(z.number()) })),
      },
    },
    async ({ texts, dims, prefix }) => {
      const info = embedder.info();
      const over = tooMany(texts.length, dims ?? info.dims, 'texts');
      if (over) return errorReply(over);
      const r = await embedder.embedBatch(texts, { dims, prefix });
      const err = failed(r);
      if (err) return errorReply(err);
      const state = resultState(r);
      const d = r[0]?.embedding.length ?? 0;
      const tokens = r.reduce((s, x) => s + x.tokens, 0);
      const truncated = r.filter((x) => x.truncated).length;
      const summary = [
        ...(state.degraded ? [degradedWarning(state)] : []),
        `Embedded ${r.length} text${r.length === 1 ? '' : 's'} (${tokens} tokens${truncated ? `, ${truncated} truncated to the model's context` : ''}) ` +
          `into ${d}-dimensional vectors with ${info.name ?? info.model}. The vectors are in the structured content: embeddings[i].embedding.`,
      ].join('\n');
      return {
        content: [{ type: 'text' as const, text: summary }],
        structuredContent: {
          model: info.name,
          count: r.length,
          dims: d,
          tokens,
          degraded: state.degraded,
          reason: state.reason,
          embeddings: r.map((x) => ({ index: x.index, tokens: x.tokens, truncated: x.truncated, embedding: compact(x.embedding) })),
        },
      };
    },
  );

  server.registerTool(
    'similarity',
    {
      description: 'Rank candidate texts by cosine similarity of their embeddings to a query text.',
      inputSchema: {
        query: z.string(),
        candidates: z
          .array(z.string())
          .min(1)
          .describe(`at most ${o.maxTexts - 1} per call`),
        top_k: z.number().int().positive().optional(),
      },
      outputSchema: {
        degraded: z.boolean(),
        reason: z.string().nullable(),
        results: z.array(z.object({ index: z.number(), score: z.number(), text: z.string() })),
      },
    },
    async ({ query, candidates, top_k }) => {
      // the vectors stay here, only scores go back; the cap is the texts per call
      if (candidates.length + 1 > o.maxTexts) {
        return errorReply(
          `too many candidates in one call: ${candidates.length}; at most ${o.maxTexts - 1} per call. Split them into several calls.`,
        );
      }
      const r = await embedder.embedBatch([query, ...candidates]);
      const err = failed(r);
      if (err) return errorReply(err);
      const q = r[0]?.embedding ?? new Float32Array(0);
      const ranked = candidates
        .map((text, i) => ({ index: i, score: cosine(q, r[i + 1]?.embedding ?? new Float32Array(0)), text }))
        .sort((a, b) => b.score - a.score)
        .slice(0, top_k ?? candidates.length);
      const state = resultState(r);
      const lines = ranked.map((x, k) => `${k + 1}. candidate ${x.index} (score ${x.score.toFixed(4)}): ${snippet(x.text)}`);
      const text = [...(state.degraded ? [degradedWarning(state)] : []), ...lines].join('\n');
      return {
        content: [{ type: 'text' as const, text }],
        structuredContent: { degraded: state.degraded, reason: state.reason, results: ranked },
      };
    },
  );

  // the configured reranker, else the model itself (which must then be one)
  const ranker = o.reranker ?? embedder;
  server.registerTool(
    'rerank',
    {
      description:
        'Rank documents by relevance to a query with the local reranker model (a cross-encoder such as bge-reranker: ' +
        'more accurate than embedding similarity). Works only when a reranker is configured or the model is one. degraded=true means the scores ' +
        'are the cosine similarity of local fallback vectors, not the reranker.',
      inputSchema: {
        query: z.string(),
        documents: z.array(z.string()).min(1).describe(`at most ${o.maxTexts} per call`),
        top_n: z.number().int().positive().optional().describe('keep the N most relevant'),
      },
      outputSchema: {
        model: z.string().nullable(),
        degraded: z.boolean(),
        reason: z.string().nullable(),
        results: z.array(z.object({ index: z.number(), relevance_score: z.number(), text: z.string() })),
      },
    },
    async ({ query, documents, top_n }) => {
      if (documents.length > o.maxTexts) {
        return errorReply(
          `too many documents in one call: ${documents.length}; at most ${o.maxTexts} per call. Split them into several calls.`,
        );
      }
      let r: Awaited<ReturnType<Embedder['rerank']>>;
      try {
        r = await ranker.rerank(query, documents);
      } catch (e) {
        if (isEmbedderError(e, 'NOT_RERANKER')) return errorReply(`${e.message}. Use the similarity tool with an embedding model instead.`);
        throw e;
      }
      const ranked = documents
        .map((text, index) => ({ index, relevance_score: r.scores[index] ?? 0, text }))
        .sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index)
        .slice(0, top_n ?? documents.length);
      const state: DegradedState = { degraded: r.degraded, reason: r.reason ?? null };
      const warning =
        'WARNING: the reranker is degraded: these scores are the cosine similarity of local fallback vectors (feature hashing), ' +
        `not the reranker's, so the order is only approximate. Reason: ${state.reason ?? 'unknown'}`;
      const lines = ranked.map((x, k) => `${k + 1}. document ${x.index} (score ${x.relevance_score.toFixed(4)}): ${snippet(x.text)}`);
      return {
        content: [{ type: 'text' as const, text: [...(state.degraded ? [warning] : []), ...lines].join('\n') }],
        structuredContent: { model: ranker.info().name, degraded: state.degraded, reason: state.reason, results: ranked },
      };
    },
  );

  server.registerTool(
    'embedder_status',
    {
      description:
        'The embedding model and the health of the embedder process: state, degraded flag and reason, restarts, statistics; ' +
        'the same for the reranker when one is configured.',
      inputSchema: {},
    },
    async () => {
      const [health, stats] = await Promise.all([embedder.health(), embedder.stats()]);
      const state = degradedState(embedder);
      const obj: Record<string, unknown> = { model: embedder.info(), health, degraded: state.degraded, reason: state.reason, stats };
      const head = [state.degraded ? degradedWarning(state) : `The embedder is ${health.state}; vectors come from the model.`];
      if (o.reranker) {
        const [rh, rs] = await Promise.all([o.reranker.health(), o.reranker.stats()]);
        const rst = degradedState(o.reranker);
        obj.reranker = { model: o.reranker.info(), health: rh, degraded: rst.degraded, reason: rst.reason, stats: rs };
        head.push(
          rst.degraded || rh.state === 'failed'
            ? `WARNING: the reranker is ${rst.degraded ? 'degraded' : 'failed'}: search_code answers in the hybrid order. Reason: ${rst.reason ?? 'unknown'}`
            : `The reranker is ${rh.state}; search_code orders its candidates by its scores.`,
        );
      } else obj.reranker = null;
      return { content: [{ type: 'text' as const, text: `${head.join('\n')}\n${JSON.stringify(obj)}` }], structuredContent: obj };
    },
  );

  const search = registerSearchTools(server, embedder, {
    root: process.env.GGEMBED_ROOT,
    watch: o.watch,
    store: o.store,
    ...(o.reranker ? { reranker: o.reranker } : {}),
    ...(o.rerankCandidates !== undefined ? { rerankCandidates: o.rerankCandidates } : {}),
  });
  // closing the server stops the file watchers too (an indexing run they have going is aborted, resumably)
  const close = server.close.bind(server);
  server.close = async () => {
    await search.close();
    await close();
  };
  return server;
}

export const MCP_OPTIONS: OptionTable = {
  ...EMBEDDER_OPTIONS,
  ...RERANKER_OPTIONS,
  'rerank-candidates': {
    type: 'string',
    env: 'GGEMBED_RERANK_CANDIDATES',
    value: 'N',
    help: `candidates of search_code's hybrid search the reranker scores (default max(limit x 3, 30), at least limit; each is one pass of the reranker)`,
    schema: intOption(1, RERANK_MAX_CANDIDATES),
  },
  'max-texts': {
    type: 'string',
    value: 'N',
    help: `texts per call of embed, similarity and rerank (default ${MCP_DEFAULTS.maxTexts}; fewer for wide vectors, so answers fit in one MCP message)`,
    schema: intOption(2, 100_000),
  },
  watch: {
    type: 'string',
    env: 'GGEMBED_WATCH',
    value: 'on|off',
    help: 'keep indexed repositories current with a file watcher while the server runs (default on)',
    schema: z.enum(['on', 'off'], 'expected on or off'),
  },
  store: {
    type: 'string',
    value: 'KIND',
    help: "where search_code's index lives: lance (default; LanceDB in a store process) or file (plain files, for platforms without a LanceDB build); env GGEMBED_STORE",
    schema: z.enum(STORE_KINDS, 'expected lance or file'),
  },
  ...HELP_OPTION,
};

/** The bin (src/bin/ggembed-mcp.ts runs it once its peer dependency is found). */
export async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2), MCP_OPTIONS);
  if (cli.help) {
    process.stdout.write(
      helpText(
        `${BIN} --model FILE [--reranker FILE] [options]`,
        'A stdio MCP server with the tools embed, similarity, rerank (reranker models) and embedder_status, and code search (index_codebase, search_code, index_status, clear_index); the model (and the reranker, if any) runs in a supervised ggembed process.',
        MCP_OPTIONS,
        `Register it with a coding assistant, e.g.:\n  {"mcpServers": {"ggembed": {"command": "npx", "args": ["-y", "--package", "ggembed", "--package", "@modelcontextprotocol/sdk", "${BIN}", "--model", "/path/to/model.gguf"]}}}`,
      ),
    );
    return;
  }
  const { opts, fallback } = embedderOptionsFrom(cli.values);
  const rerankerOpts = rerankerOptionsFrom(cli.values, opts);
  if (!rerankerOpts && cli.values['rerank-candidates'] !== undefined)
    throw new CliError('--rerank-candidates needs a reranker: --reranker FILE or env GGEMBED_RERANKER');
  // both at once; a mistake in either ends the bin, with the other closed first (no ggembed left behind)
  const [emb, rr] = await Promise.allSettled([
    startBinEmbedder(opts, fallback),
    rerankerOpts ? startBinReranker(rerankerOpts, fallback) : Promise.resolve(null),
  ]);
  if (emb.status === 'rejected' || rr.status === 'rejected') {
    if (emb.status === 'fulfilled') await emb.value.close().catch(() => {});
    if (rr.status === 'fulfilled') await rr.value?.close().catch(() => {});
    throw emb.status === 'rejected' ? emb.reason : (rr as PromiseRejectedResult).reason;
  }
  const embedder = emb.value;
  const reranker = rr.value;
  logTransitions(embedder, BIN);
  if (reranker) logTransitions(reranker, `${BIN} (reranker ${rerankerOpts?.model})`);
  const server = createMcpServer(embedder, {
    ...(cli.values['max-texts'] !== undefined ? { maxTexts: cli.values['max-texts'] as number } : {}),
    watch: cli.values.watch !== 'off',
    ...(cli.values.store !== undefined ? { store: cli.values.store as StoreKind } : {}),
    ...(reranker ? { reranker } : {}),
    ...(cli.values['rerank-candidates'] !== undefined ? { rerankCandidates: cli.values['rerank-candidates'] as number } : {}),
  });
  const transport = new StdioServerTransport();
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await server.close().catch(() => {});
    await Promise.all([embedder.close().catch(() => {}), reranker?.close().catch(() => {})]);
    process.exit(0);
  };
  transport.onclose = shutdown;
  process.stdin.on('end', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  await server.connect(transport);
}

if (isMain(import.meta.url)) runBin(BIN, main);
