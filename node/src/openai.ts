#!/usr/bin/env node
// openai.ts - `ggembed-openai --model FILE [--port N]`: an OpenAI-compatible
// POST /v1/embeddings endpoint on 127.0.0.1, on top of the Embedder client,
// and POST /v1/rerank (also /rerank) in the Jina/Cohere shape for reranker
// models.
//
// A local endpoint is reachable by every web page the user opens, so it
// answers only requests that name a loopback Host (no DNS rebinding), that
// carry no foreign Origin (unless --cors-origin allows it) and JSON bodies
// (a page can send text/plain without a preflight). Every request is bounded
// before any work: body bytes, inputs, tokens, requests at once.

import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import {
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
  runBin,
  startBinEmbedder,
} from './cli-options.js';
import type { Embedder } from './embedder.js';
import { isEmbedderError } from './errors.js';
import { fallbackTokenCount } from './fallback.js';

const BIN = 'ggembed-openai';

export interface OpenAIServerOptions {
  /** the model name reported by GET /v1/models and in answers without one */
  modelName?: string;
  /** inputs per request (default 2048, OpenAI's limit) */
  maxInputs?: number;
  /** tokens per request, all inputs together (default 300000, OpenAI's limit) */
  maxTokens?: number;
  /** request body bytes (default 16 MiB) */
  maxBodyBytes?: number;
  /** embedding requests served at once; more get 429 (default 16) */
  maxConcurrent?: number;
  /** host names accepted in the Host header besides localhost, 127.0.0.1 and [::1] */
  allowHosts?: string[];
  /** browser origins allowed to call the endpoint (CORS); '*' allows any */
  corsOrigins?: string[];
  /** when set, requests need `Authorization: Bearer <apiKey>` */
  apiKey?: string;
  /** answer with (flagged) fallback vectors while degraded instead of 503 */
  allowDegraded?: boolean;
}

export const OPENAI_DEFAULTS = {
  maxInputs: 2048,
  maxTokens: 300_000,
  maxBodyBytes: 16 << 20,
  maxConcurrent: 16,
} as const;

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];
// a text has at most one token per UTF-8 byte, plus special tokens (and a SentencePiece space)
const SPECIAL_TOKENS_BOUND = 4;

type ErrorType = 'invalid_request_error' | 'permission_error' | 'rate_limit_error' | 'server_error';

/** An answer other than 200, in OpenAI's error shape. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const invalid = (status: number, message: string, code: string | null = null, param: string | null = null) =>
  new HttpError(status, message, 'invalid_request_error', code, param);

function bodySchema(maxInputs: number) {
  const tooMany = `'input' must have at most ${maxInputs} items per request; split the inputs into several requests`;
  return z.object(
    {
      // the count is checked before the items: 200,000 bad items must not make 200,000 issues
      input: z.union(
        [
          z.string(),
          z
            .array(z.unknown())
            .min(1, "'input' must not be empty")
            .max(maxInputs, tooMany)
            .pipe(z.array(z.string("'input' must be a string or an array of strings (token arrays are not supported)"))),
        ],
        "'input' must be a string or an array of strings (token arrays are not supported)",
      ),
      model: z.string("'model' must be a string").optional(),
      encoding_format: z.enum(['float', 'base64'], "'encoding_format' must be 'float' or 'base64'").optional(),
      dimensions: z
        .number("'dimensions' must be a positive integer")
        .int("'dimensions' must be a positive integer")
        .positive("'dimensions' must be a positive integer")
        .optional(),
      user: z.string("'user' must be a string").optional(),
    },
    "the body must be a JSON object with 'input'",
  );
}

function rerankSchema(maxInputs: number) {
  const docsMessage = "'documents' must be an array of strings or of objects {text: string}";
  return z.object(
    {
      query: z.string("'query' must be a string"),
      // the count is checked before the items, as for 'input'
      documents: z
        .array(z.unknown(), docsMessage)
        .max(maxInputs, `'documents' must have at most ${maxInputs} items per request; split them into several requests`)
        .pipe(z.array(z.union([z.string(), z.object({ text: z.string() })], docsMessage))),
      model: z.string("'model' must be a string").optional(),
      top_n: z
        .number("'top_n' must be a positive integer")
        .int("'top_n' must be a positive integer")
        .positive("'top_n' must be a positive integer")
        .optional(),
      return_documents: z.boolean("'return_documents' must be a boolean").optional(),
    },
    "the body must be a JSON object with 'query' and 'documents'",
  );
}

/** The message of the first zod issue, looking into a union for the branch that got furthest. */
function firstIssue(issues: z.core.$ZodIssue[]): { message: string; param: string | null } {
  const i = issues[0];
  if (!i) return { message: 'invalid body', param: null };
  if (i.code === 'invalid_union' && i.path[0] === 'input') {
    // an array input: report the array branch's own message (count, emptiness)
    const arrayBranch = i.errors.find((branch) => branch.some((x) => x.code === 'too_big' || x.code === 'too_small'));
    const inner = arrayBranch?.[0];
    if (inner) return { message: inner.message, param: 'input' };
  }
  return { message: i.message, param: i.path.length ? i.path.map(String).join('.') : null };
}

function sameSecret(given: string, expected: string): boolean {
  // digests first: timingSafeEqual needs equal lengths, and the length must not leak either
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(obj);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function sendError(res: http.ServerResponse, e: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } }, e.headers);
}

/** An embedder failure as an HTTP answer. */
function fromEmbedderError(e: unknown): HttpError {
  if (!isEmbedderError(e)) return new HttpError(500, `internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error');
  const code = e.code.toLowerCase();
  switch (e.code) {
    case 'TOO_LONG':
    case 'INVALID':
    case 'TOO_LARGE':
    case 'BAD_UTF8':
      return invalid(400, e.message, code);
    case 'BUSY':
      return new HttpError(429, e.message, 'rate_limit_error', code, null, { 'retry-after': '1' });
    case 'UNAVAILABLE':
    case 'CLOSED':
    case 'INTEGRITY':
    case 'DOWNLOAD':
    case 'MODEL_CHANGED':
      return new HttpError(503, e.message, 'server_error', code, null, { 'retry-after': '10' });
    case 'TIMEOUT':
      return new HttpError(504, e.message, 'server_error', code);
    default:
      return new HttpError(500, e.message, 'server_error', code);
  }
}

/** The request handler of the OpenAI-compatible endpoint. */
export function createOpenAIHandler(embedder: Embedder, options: OpenAIServerOptions = {}): http.RequestListener {
  const o = { ...OPENAI_DEFAULTS, ...options };
  const modelName = o.modelName ?? 'ggembed';
  const hosts = new Set([...LOOPBACK_HOSTS, ...(o.allowHosts ?? []).map((h) => h.toLowerCase())]);
  const origins = new Set(o.corsOrigins ?? []);
  const schema = bodySchema(o.maxInputs);
  const rerankBody = rerankSchema(o.maxInputs);
  let active = 0;

  const originAllowed = (origin: string) => origins.has('*') || origins.has(origin);

  /** The Host header must name this endpoint by a loopback (or allowed) name: a rebound DNS name is refused. */
  function checkHost(req: http.IncomingMessage): void {
    const host = req.headers.host;
    let ok = false;
    if (host) {
      try {
        const u = new URL(`http://${host}`);
        const port = u.port === '' ? 80 : Number(u.port);
        ok = hosts.has(u.hostname.toLowerCase()) && port === req.socket.localPort && u.pathname === '/' && !u.username;
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      throw new HttpError(
        403,
        `host '${host ?? ''}' is not allowed: use localhost, 127.0.0.1 or [::1] (or start with --allow-host NAME)`,
        'permission_error',
        'host_not_allowed',
      );
    }
  }

  /** CORS: a browser request from an origin not allowed is refused; allowed ones get the headers. */
  function checkOrigin(req: http.IncomingMessage, res: http.ServerResponse): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (!originAllowed(origin)) {
      throw new HttpError(
        403,
        `origin '${origin}' is not allowed (start with --cors-origin ${origin} to allow it)`,
        'permission_error',
        'origin_not_allowed',
      );
    }
    res.setHeader('access-control-allow-origin', origins.has('*') ? '*' : origin);
    res.setHeader('vary', 'Origin');
    res.setHeader('access-control-expose-headers', 'x-ggembed-degraded');
  }

  function checkAuth(req: http.IncomingMessage): void {
    if (o.apiKey === undefined) return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m?.[1] || !sameSecret(m[1], o.apiKey)) {
      throw new HttpError(
        401,
        m ? 'incorrect API key provided' : "no API key provided: send 'Authorization: Bearer <key>'",
        'invalid_request_error',
        'invalid_api_key',
        null,
        { 'www-authenticate': 'Bearer' },
      );
    }
  }

  async function readBody(req: http.IncomingMessage): Promise<string> {
    const tooLarge = () =>
      new HttpError(413, `the request body is larger than ${o.maxBodyBytes} bytes`, 'invalid_request_error', 'request_too_large', null, {
        connection: 'close',
      });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > o.maxBodyBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req) {
      n += (c as Buffer).length;
      if (n > o.maxBodyBytes) throw tooLarge();
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /**
   * Tokens the texts take (each after `query`, counted with it, when one is
   * given: a rerank pair), counted exactly only when a cheap upper bound
   * exceeds the limit.
   */
  async function tokensOver(texts: string[], query?: string): Promise<number | null> {
    const context = embedder.info().context ?? Number.POSITIVE_INFINITY;
    const qBytes = query === undefined ? 0 : Buffer.byteLength(query);
    let bound = 0;
    for (const t of texts) bound += Math.min(context, qBytes + Buffer.byteLength(t) + SPECIAL_TOKENS_BOUND);
    if (bound <= o.maxTokens) return null;
    const degraded = degradedState(embedder).degraded;
    const count = async (t: string) => (degraded ? fallbackTokenCount(t) : (await embedder.tokenize(t)).length);
    const q = query === undefined ? 0 : await count(query);
    let total = 0;
    for (let i = 0; i < texts.length && total <= o.maxTokens; i += 32) {
      const counts = await Promise.all(texts.slice(i, i + 32).map(count));
      for (const n of counts) total += Math.min(context, q + n);
    }
    return total > o.maxTokens ? total : null;
  }

  function refuseDegraded(): void {
    const s = degradedState(embedder);
    if (s.degraded && !o.allowDegraded) {
      throw new HttpError(
        503,
        `the embedder is degraded and would answer with fallback vectors, not the model's: ${s.reason} (start with --allow-degraded to accept them)`,
        'server_error',
        'embedder_degraded',
        null,
        { 'retry-after': '10' },
      );
    }
  }

  /** The request's JSON body, checked against a schema. */
  async function readJson<T>(req: http.IncomingMessage, bodySchema: z.ZodType<T>): Promise<T> {
    const ctype = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (ctype !== 'application/json') {
      throw invalid(
        415,
        `the body must be JSON with 'content-type: application/json' (got '${req.headers['content-type'] ?? 'none'}')`,
        'unsupported_media_type',
      );
    }
    const text = await readBody(req);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw invalid(400, `the body is not valid JSON: ${(e as Error).message}`, 'invalid_json');
    }
    const parsed = bodySchema.safeParse(json);
    if (!parsed.success) {
      const { message, param } = firstIssue(parsed.error.issues);
      throw invalid(400, message, 'invalid_value', param);
    }
    return parsed.data;
  }

  /** An AbortSignal that fires when the client goes away before its answer. */
  function clientGone(res: http.ServerResponse): AbortSignal {
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    return ac.signal;
  }

  function degradedDuring(reason: string | null | undefined): HttpError {
    // degraded during this request: the state may already be back, the results are not
    return new HttpError(503, `the embedder became degraded during the request: ${reason}`, 'server_error', 'embedder_degraded', null, {
      'retry-after': '10',
    });
  }

  async function embeddings(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJson(req, schema);
    const texts = typeof body.input === 'string' ? [body.input] : body.input;
    refuseDegraded();
    const over = await tokensOver(texts);
    if (over !== null) {
      throw invalid(
        400,
        `the inputs take ${over} tokens; at most ${o.maxTokens} are allowed per request`,
        'max_tokens_per_request',
        'input',
      );
    }
    const r = await embedder.embedBatch(texts, { dims: body.dimensions, signal: clientGone(res) });
    const bad = r.find((x) => x.error);
    if (bad?.error) throw invalid(422, `input ${bad.index}: ${bad.error.message}`, bad.error.code.toLowerCase());
    const degraded = r.some((x) => x.degraded);
    const reason = r.find((x) => x.reason)?.reason ?? null;
    if (degraded && !o.allowDegraded) throw degradedDuring(reason);
    const tokens = r.reduce((s, x) => s + x.tokens, 0);
    const format = body.encoding_format ?? 'float';
    const headers: Record<string, string> = degraded ? { 'x-ggembed-degraded': encodeURIComponent(reason ?? 'degraded') } : {};
    send(
      res,
      200,
      {
        object: 'list',
        data: r.map((x) => ({
          object: 'embedding',
          index: x.index,
          embedding:
            format === 'base64'
              ? Buffer.from(x.embedding.buffer, x.embedding.byteOffset, x.embedding.byteLength).toString('base64')
              : Array.from(x.embedding),
        })),
        model: body.model ?? modelName,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
        // not OpenAI's: fallback vectors are always flagged
        degraded,
        ...(degraded ? { degraded_reason: reason } : {}),
      },
      headers,
    );
  }

  /** POST /v1/rerank: the documents scored against the query, best first (Jina and Cohere's shape). */
  async function rerank(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJson(req, rerankBody);
    if (embedder.info().reranker === false) {
      throw invalid(
        400,
        `the model '${modelName}' is not a reranker: /v1/rerank needs one (use /v1/embeddings with it)`,
        'model_not_reranker',
        'model',
      );
    }
    const docs = body.documents.map((d) => (typeof d === 'string' ? d : d.text));
    refuseDegraded();
    const over = await tokensOver(docs, body.query);
    if (over !== null) {
      throw invalid(
        400,
        `the query and documents take ${over} tokens; at most ${o.maxTokens} are allowed per request`,
        'max_tokens_per_request',
        'documents',
      );
    }
    const r = await embedder.rerank(body.query, docs, { signal: clientGone(res) });
    if (r.degraded && !o.allowDegraded) throw degradedDuring(r.reason);
    const order = r.scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index);
    const tokens = r.tokens.reduce((a, b) => a + b, 0);
    const headers: Record<string, string> = r.degraded ? { 'x-ggembed-degraded': encodeURIComponent(r.reason ?? 'degraded') } : {};
    send(
      res,
      200,
      {
        model: body.model ?? modelName,
        results: order.slice(0, body.top_n ?? order.length).map(({ index, score }) => ({
          index,
          relevance_score: score,
          ...(body.return_documents ? { document: { text: docs[index] } } : {}),
        })),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
        // not Jina's or Cohere's: fallback scores are always flagged
        degraded: r.degraded,
        ...(r.degraded ? { degraded_reason: r.reason } : {}),
      },
      headers,
    );
  }

  const ROUTES: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>> = {
    '/v1/embeddings': embeddings,
    '/v1/rerank': rerank,
    '/rerank': rerank,
  };

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    checkHost(req);
    checkOrigin(req, res);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS') {
      // a preflight; reaching here means the origin is allowed (or the request is not from a browser)
      if (req.headers.origin === undefined) throw invalid(405, 'OPTIONS is only for CORS preflight requests', 'method_not_allowed');
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    checkAuth(req);
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      send(res, 200, { object: 'list', data: [{ id: modelName, object: 'model', created: 0, owned_by: 'ggembed' }] });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/health') {
      send(res, 200, await embedder.health());
      return;
    }
    const handler = Object.hasOwn(ROUTES, url.pathname) ? ROUTES[url.pathname] : undefined;
    if (!handler) throw invalid(404, `no route ${req.method} ${url.pathname}`, 'not_found');
    if (req.method !== 'POST') throw invalid(405, 'use POST', 'method_not_allowed');
    if (active >= o.maxConcurrent) {
      throw new HttpError(
        429,
        `more than ${o.maxConcurrent} requests at once; retry later`,
        'rate_limit_error',
        'too_many_requests',
        null,
        { 'retry-after': '1' },
      );
    }
    active++;
    try {
      await handler(req, res);
    } finally {
      active--;
    }
  }

  return (req, res) => {
    route(req, res).catch((e: unknown) => {
      const err = e instanceof HttpError ? e : fromEmbedderError(e);
      // the rest of the body is not read: the connection closes once the answer is out
      if (err.headers.connection === 'close') res.shouldKeepAlive = false;
      sendError(res, err);
    });
  };
}

// a client gets this long to send a whole request (a slow sender must not hold a slot for Node's default 5 minutes)
const REQUEST_TIMEOUT_MS = 30_000;

/** An http.Server answering the OpenAI embeddings API with the embedder. */
export function createOpenAIServer(embedder: Embedder, options: OpenAIServerOptions = {}): http.Server {
  const server = http.createServer(createOpenAIHandler(embedder, options));
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  return server;
}

// ---------------------------------------------------------------- the bin

const originSchema = z.string().refine((s) => {
  if (s === '*') return true;
  try {
    return new URL(s).origin === s;
  } catch {
    return false;
  }
}, "expected an origin such as http://localhost:3000 (scheme://host[:port], no path) or '*'");

export const OPENAI_OPTIONS: OptionTable = {
  ...EMBEDDER_OPTIONS,
  port: {
    type: 'string',
    env: 'GGEMBED_PORT',
    value: 'N',
    help: 'TCP port on 127.0.0.1 (default 8089; 0: any free port)',
    schema: intOption(0, 65535),
  },
  'max-inputs': {
    type: 'string',
    value: 'N',
    help: `inputs per request (default ${OPENAI_DEFAULTS.maxInputs})`,
    schema: intOption(1, 1_000_000),
  },
  'max-tokens': {
    type: 'string',
    value: 'N',
    help: `tokens per request, all inputs together (default ${OPENAI_DEFAULTS.maxTokens})`,
    schema: intOption(1, 1e12),
  },
  'api-key': {
    type: 'string',
    env: 'GGEMBED_API_KEY',
    value: 'KEY',
    help: "require 'Authorization: Bearer KEY' (prefer the env variable: a command line is visible to other users)",
    schema: z.string().min(8, 'must be at least 8 characters'),
  },
  'cors-origin': {
    type: 'string',
    multiple: true,
    value: 'ORIGIN',
    help: "allow browser requests from this origin (or '*')",
    schema: originSchema,
  },
  'allow-host': {
    type: 'string',
    multiple: true,
    value: 'NAME',
    help: 'accept this host name in the Host header besides localhost, 127.0.0.1 and [::1]',
    schema: z.string().regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'expected a host name without port'),
  },
  'allow-degraded': { type: 'boolean', help: 'answer with fallback vectors (flagged) while degraded instead of 503' },
  ...HELP_OPTION,
};

function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (e.code === 'EADDRINUSE') reject(new Error(`port ${port} on ${host} is already in use (choose another with --port)`));
      else if (e.code === 'EACCES') reject(new Error(`not allowed to listen on port ${port} on ${host} (choose another with --port)`));
      else reject(new Error(`cannot listen on ${host}:${port}: ${e.message}`));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2), OPENAI_OPTIONS);
  if (cli.help) {
    process.stdout.write(
      helpText(
        `${BIN} --model FILE [--port N] [options]`,
        'An OpenAI-compatible embeddings endpoint (POST /v1/embeddings, GET /v1/models, GET /health) on 127.0.0.1,\n' +
          'and POST /v1/rerank (Jina/Cohere shape) for a reranker model.\n' +
          'Only loopback Host names, no cross-origin browser requests and JSON bodies are accepted unless allowed below.',
        OPENAI_OPTIONS,
      ),
    );
    return;
  }
  const v = cli.values;
  const { opts, fallback } = embedderOptionsFrom(v);
  const port = (v.port as number | undefined) ?? 8089;
  const host = '127.0.0.1';
  // the port first: a taken port is known before a model is loaded
  const server = http.createServer((_req, res) =>
    sendError(res, new HttpError(503, 'the embedder is starting', 'server_error', 'starting', null, { 'retry-after': '1' })),
  );
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  const addr = await listen(server, port, host);
  let embedder: Embedder;
  try {
    embedder = await startBinEmbedder(opts, fallback);
  } catch (e) {
    server.close();
    throw e;
  }
  logTransitions(embedder, BIN);
  server.removeAllListeners('request');
  server.on(
    'request',
    createOpenAIHandler(embedder, {
      modelName: embedder.info().name || 'ggembed',
      ...(v['max-inputs'] !== undefined ? { maxInputs: v['max-inputs'] as number } : {}),
      ...(v['max-tokens'] !== undefined ? { maxTokens: v['max-tokens'] as number } : {}),
      ...(v['api-key'] !== undefined ? { apiKey: v['api-key'] as string } : {}),
      ...(v['cors-origin'] !== undefined ? { corsOrigins: v['cors-origin'] as string[] } : {}),
      ...(v['allow-host'] !== undefined ? { allowHosts: v['allow-host'] as string[] } : {}),
      allowDegraded: v['allow-degraded'] === true,
    }),
  );
  process.stderr.write(`${BIN}: listening on http://${host}:${addr.port}/v1/embeddings\n`);
  const shutdown = async () => {
    server.close();
    await embedder.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (isMain(import.meta.url)) runBin(BIN, main);
