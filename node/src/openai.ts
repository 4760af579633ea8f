#!/usr/bin/env node
// openai.ts - `ggembed-openai --model FILE [--port N]`: an OpenAI-compatible
// POST /v1/embeddings endpoint on 127.0.0.1, on top of the Embedder client.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { embedderOptionsFromCli } from './cli-options.js';
import { Embedder } from './embedder.js';

const MAX_BODY = 16 << 20;

function send(res: http.ServerResponse, status: number, obj: unknown): void {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function apiError(res: http.ServerResponse, status: number, message: string, type = 'invalid_request_error'): void {
  send(res, status, { error: { message, type, param: null, code: null } });
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An http.Server answering the OpenAI embeddings API with the embedder. */
export function createOpenAIServer(embedder: Embedder, modelName: string): http.Server {
  return http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/v1/models') {
        send(res, 200, { object: 'list', data: [{ id: modelName, object: 'model', created: 0, owned_by: 'ggembed' }] });
        return;
      }
      if (req.method === 'GET' && url.pathname === '/health') {
        send(res, 200, await embedder.health());
        return;
      }
      if (url.pathname !== '/v1/embeddings') { apiError(res, 404, `no route ${req.method} ${url.pathname}`); return; }
      if (req.method !== 'POST') { apiError(res, 405, 'use POST'); return; }
      let body: { input?: unknown; encoding_format?: unknown; dimensions?: unknown; model?: unknown };
      try { body = JSON.parse(await readBody(req)); } catch (e) { apiError(res, 400, `bad JSON body: ${(e as Error).message}`); return; }
      const input = body.input;
      let texts: string[];
      if (typeof input === 'string') texts = [input];
      else if (Array.isArray(input) && input.every((t) => typeof t === 'string')) texts = input as string[];
      else { apiError(res, 400, "'input' must be a string or an array of strings (token arrays are not supported)"); return; }
      if (texts.length === 0) { apiError(res, 400, "'input' must not be empty"); return; }
      const format = body.encoding_format ?? 'float';
      if (format !== 'float' && format !== 'base64') { apiError(res, 400, "'encoding_format' must be 'float' or 'base64'"); return; }
      const dims = body.dimensions;
      if (dims !== undefined && (!Number.isInteger(dims) || (dims as number) <= 0)) { apiError(res, 400, "'dimensions' must be a positive integer"); return; }
      const ac = new AbortController();
      res.on('close', () => { if (!res.writableFinished) ac.abort(); });
      const r = await embedder.embedBatch(texts, { dims: dims as number | undefined, signal: ac.signal });
      const bad = r.find((x) => x.error);
      if (bad) { apiError(res, 422, `input ${bad.index}: ${bad.error!.message}`); return; }
      const tokens = r.reduce((s, x) => s + x.tokens, 0);
      const degraded = r.some((x) => x.degraded);
      if (degraded) res.setHeader('x-ggembed-degraded', encodeURIComponent(r[0].reason ?? 'degraded'));
      send(res, 200, {
        object: 'list',
        data: r.map((x) => ({
          object: 'embedding',
          index: x.index,
          embedding: format === 'base64' ? Buffer.from(x.embedding.buffer, x.embedding.byteOffset, x.embedding.byteLength).toString('base64') : Array.from(x.embedding),
        })),
        model: typeof body.model === 'string' ? body.model : modelName,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!res.headersSent) apiError(res, code === 'TOO_LONG' || code === 'INVALID' || code === 'TOO_LARGE' ? 400 : 500, (e as Error).message, code === 'UNAVAILABLE' ? 'server_error' : 'invalid_request_error');
    }
  });
}

async function main(): Promise<void> {
  const { opts, values } = embedderOptionsFromCli(process.argv.slice(2), { port: { type: 'string' } });
  const port = Number(values.port ?? process.env.GGEMBED_PORT ?? 8089);
  const embedder = await Embedder.start(opts);
  const server = createOpenAIServer(embedder, embedder.info().name || 'ggembed');
  server.listen(port, '127.0.0.1', () => {
    const a = server.address() as AddressInfo;
    process.stderr.write(`ggembed-openai: listening on http://127.0.0.1:${a.port}/v1/embeddings\n`);
  });
  const shutdown = async () => {
    server.close();
    await embedder.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e) => {
  process.stderr.write(`ggembed-openai: ${(e as Error).message}\n`);
  process.exit(1);
});
