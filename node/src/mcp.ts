#!/usr/bin/env node
// mcp.ts - `ggembed-mcp --model FILE`: a stdio MCP server with the tools
// embed, similarity and embedder_status, on top of the Embedder client. The
// worked example of using ggembed from an MCP server: the model runs in the
// supervised ggembed process, never in this one.

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { embedderOptionsFromCli } from './cli-options.js';
import { Embedder, type EmbedResult } from './embedder.js';

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return na && nb ? d / Math.sqrt(na * nb) : 0;
}

function reply(obj: Record<string, unknown>) {
  return { content: [{ type: 'text' as const, text: JSON.stringify(obj) }], structuredContent: obj };
}

function failed(r: EmbedResult[]): string | null {
  const bad = r.filter((x) => x.error);
  return bad.length ? bad.map((x) => `text ${x.index}: ${x.error!.code}: ${x.error!.message}`).join('; ') : null;
}

export function createMcpServer(embedder: Embedder): McpServer {
  const server = new McpServer({ name: 'ggembed', version: '0.1.0' });

  server.registerTool('embed', {
    description: 'Embed texts with the local embedding model. Returns one vector per text, with token counts; degraded=true means a local fallback embedding was used.',
    inputSchema: {
      texts: z.array(z.string()).min(1).describe('texts to embed'),
      dims: z.number().int().positive().optional().describe('keep the first N dimensions (Matryoshka models)'),
      prefix: z.string().optional().describe('prepended to every text, e.g. "search_query: "'),
    },
  }, async ({ texts, dims, prefix }) => {
    const r = await embedder.embedBatch(texts, { dims, prefix });
    const err = failed(r);
    if (err) return { content: [{ type: 'text' as const, text: err }], isError: true };
    return reply({
      dims: r[0]?.embedding.length ?? 0,
      degraded: r.some((x) => x.degraded),
      reason: r.find((x) => x.reason)?.reason ?? null,
      embeddings: r.map((x) => ({ index: x.index, tokens: x.tokens, truncated: x.truncated, embedding: Array.from(x.embedding) })),
    });
  });

  server.registerTool('similarity', {
    description: 'Rank candidate texts by cosine similarity of their embeddings to a query text.',
    inputSchema: {
      query: z.string(),
      candidates: z.array(z.string()).min(1),
      top_k: z.number().int().positive().optional(),
    },
  }, async ({ query, candidates, top_k }) => {
    const r = await embedder.embedBatch([query, ...candidates]);
    const err = failed(r);
    if (err) return { content: [{ type: 'text' as const, text: err }], isError: true };
    const q = r[0].embedding;
    const ranked = candidates
      .map((text, i) => ({ index: i, text, score: cosine(q, r[i + 1].embedding) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, top_k ?? candidates.length);
    return reply({ degraded: r[0].degraded, reason: r[0].reason ?? null, results: ranked });
  });

  server.registerTool('embedder_status', {
    description: 'The embedding model and the health of the embedder process: state, degraded flag and reason, restarts, statistics.',
    inputSchema: {},
  }, async () => {
    const [health, stats] = await Promise.all([embedder.health(), embedder.stats()]);
    return reply({ model: embedder.info(), health, degraded: health.degraded, reason: health.reason, stats });
  });

  return server;
}

async function main(): Promise<void> {
  const { opts } = embedderOptionsFromCli(process.argv.slice(2));
  const embedder = await Embedder.start(opts);
  embedder.on('degraded', ({ reason }) => process.stderr.write(`ggembed-mcp: degraded: ${reason}\n`));
  embedder.on('recovered', () => process.stderr.write('ggembed-mcp: recovered\n'));
  const server = createMcpServer(embedder);
  const transport = new StdioServerTransport();
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await embedder.close().catch(() => {});
    process.exit(0);
  };
  transport.onclose = shutdown;
  process.stdin.on('end', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  await server.connect(transport);
}

main().catch((e) => {
  process.stderr.write(`ggembed-mcp: ${(e as Error).message}\n`);
  process.exit(1);
});
