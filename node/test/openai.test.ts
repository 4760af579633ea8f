// The OpenAI-compatible endpoint, in this process against a real embedder:
// bounds (body, inputs, tokens), OpenAI-shaped errors, Host / Origin / content
// type checks, the bearer token, and degraded answers.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { degradedState } from '../src/cli-options.js';
import { Embedder } from '../src/embedder.js';
import { createOpenAIServer, type OpenAIServerOptions } from '../src/openai.js';
import { assertClose, cEmbed, copyBinary, FAST, makeModel, requireBinary, tmpDir, until } from './helpers.js';

let dir: string;
let model: string;
let embedder: Embedder;
const servers: http.Server[] = [];

before(async () => {
  const bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
  embedder = await Embedder.start({ model, binary: bin, ...FAST });
});
after(async () => {
  for (const s of servers) s.close();
  await embedder.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A server on 127.0.0.1 (any port) with these options; returns its port. */
async function serve(options: OpenAIServerOptions = {}, e: Embedder = embedder): Promise<number> {
  const s = createOpenAIServer(e, options);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => any;
}

/** One HTTP request with exactly these headers (a Host of our choosing, too). */
function request(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { host: `127.0.0.1:${port}`, ...(opts.headers ?? {}) };
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/v1/embeddings',
        headers,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 30000),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        answered = true;
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    // the server may answer (413) and close before the whole body is sent: the answer counts
    let answered = false;
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

const JSON_CT = { 'content-type': 'application/json' };
const post = (port: number, body: unknown, headers: Record<string, string> = {}) =>
  request(port, { headers: { ...JSON_CT, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** An OpenAI-shaped error: {"error": {"message", "type", "param", "code"}}. */
function assertApiError(
  r: Reply,
  status: number,
  code?: string,
): { message: string; type: string; param: string | null; code: string | null } {
  assert.equal(r.status, status, `status of ${r.body.slice(0, 300)}`);
  assert.match(r.headers['content-type'] ?? '', /application\/json/);
  const j = r.json();
  assert.deepEqual(Object.keys(j), ['error']);
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof j.error.message, 'string');
  assert.ok(j.error.message.length > 0);
  assert.equal(typeof j.error.type, 'string');
  if (code !== undefined) assert.equal(j.error.code, code);
  return j.error;
}

// first in this file: the peak RSS of this process is measured from here
test('200,000 inputs in one 2 MB body are refused (400) at once, and peak RSS stays bounded', async (t) => {
  const port = await serve();
  const ok = await post(port, { input: ['warm up'] });
  assert.equal(ok.status, 200);
  const input = Array.from({ length: 200_000 }, (_, i) => `t${i}`);
  const body = JSON.stringify({ input });
  assert.ok(body.length > 1_500_000 && body.length < 2_500_000, `body of ${body.length} bytes`);
  const before = process.resourceUsage().maxRSS; // KiB
  for (let k = 0; k < 3; k++) {
    const t0 = Date.now();
    const r = await request(port, { headers: JSON_CT, body, timeoutMs: 20000 });
    const err = assertApiError(r, 400);
    assert.equal(err.param, 'input');
    assert.match(err.message, /at most 2048/);
    assert.ok(Date.now() - t0 < 10000, 'refused without embedding');
  }
  const grownMiB = (process.resourceUsage().maxRSS - before) / 1024;
  t.diagnostic(`peak RSS grew by ${grownMiB.toFixed(1)} MiB while refusing three 200,000-input bodies`);
  assert.ok(grownMiB < 150, `peak RSS grew by ${grownMiB.toFixed(0)} MiB while refusing`);
  const s = await embedder.stats();
  assert.ok(s.client.texts < 100, `the refused inputs were not embedded (${s.client.texts} texts)`);
});

test('embeddings as before: float and base64, usage, model name; degraded: false', async () => {
  const port = await serve({ modelName: 'tiny' });
  const input = ['first text', 'second text'];
  const ref = cEmbed(model, input);
  const r = await post(port, { model: 'x', input });
  assert.equal(r.status, 200);
  const j = r.json();
  assert.equal(j.object, 'list');
  assert.equal(j.model, 'x');
  assert.equal(j.degraded, false);
  assert.equal(r.headers['x-ggembed-degraded'], undefined);
  assert.equal(j.data.length, 2);
  j.data.forEach((d: { index: number; embedding: number[] }, i: number) => {
    assert.equal(d.index, i);
    assertClose(d.embedding, ref[i]!.embedding);
  });
  assert.equal(j.usage.prompt_tokens, ref[0]!.tokens + ref[1]!.tokens);
  const b = (await post(port, { input: 'first text', encoding_format: 'base64' })).json();
  assert.equal(b.model, 'tiny');
  const raw = Buffer.from(b.data[0].embedding, 'base64');
  assertClose(new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4), ref[0]!.embedding);
  const models = (await request(port, { method: 'GET', path: '/v1/models' })).json();
  assert.equal(models.data[0].id, 'tiny');
});

test('bad bodies get 400 with an OpenAI-shaped error, never 500', async () => {
  const port = await serve();
  for (const [body, param] of [
    ['null', null],
    ['[]', null],
    ['"text"', null],
    ['{}', 'input'],
    ['{"input": 42}', 'input'],
    ['{"input": []}', 'input'],
    ['{"input": [1, 2, 3]}', 'input'],
    ['{"input": ["a", null]}', 'input'],
    ['{"input": "a", "encoding_format": "hex"}', 'encoding_format'],
    ['{"input": "a", "dimensions": -3}', 'dimensions'],
    ['{"input": "a", "dimensions": 1.5}', 'dimensions'],
    ['{"input": "a", "model": 7}', 'model'],
  ] as const) {
    const err = assertApiError(await post(port, body), 400);
    assert.equal(err.type, 'invalid_request_error', body);
    if (param) assert.equal(err.param, param, body);
  }
  assertApiError(await post(port, '{"input": '), 400, 'invalid_json');
  assertApiError(await request(port, { method: 'GET', path: '/v1/nothing' }), 404);
  assertApiError(await request(port, { method: 'GET' }), 405);
});

test('2,049 inputs: 400; 2,048: served', async () => {
  const port = await serve();
  const e = assertApiError(await post(port, { input: Array.from({ length: 2049 }, () => 'a') }), 400);
  assert.equal(e.param, 'input');
  const small = await serve({ maxInputs: 3 });
  assertApiError(await post(small, { input: ['a', 'b', 'c', 'd'] }), 400);
  assert.equal((await post(small, { input: ['a', 'b', 'c'] })).status, 200);
  const full = await post(port, { input: Array.from({ length: 2048 }, (_, i) => `w${i % 10}`) });
  assert.equal(full.status, 200);
  assert.equal(full.json().data.length, 2048);
});

test('a body over the limit gets 413 without being read whole', async () => {
  const port = await serve();
  const big = Buffer.alloc(17 << 20, 0x20);
  // the answer comes before the upload ends (the client may then see the connection close while it writes)
  const r = await request(port, { headers: JSON_CT, body: big });
  assertApiError(r, 413, 'request_too_large');
  assert.equal(r.headers.connection, 'close');
  // a chunked body (no content-length) over a small limit
  const small = await serve({ maxBodyBytes: 1000 });
  const r2 = await new Promise<Reply | Error>((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port: small, method: 'POST', path: '/v1/embeddings', headers: { ...JSON_CT, 'transfer-encoding': 'chunked' } },
      (res) => {
        let b = '';
        res.on('data', (c) => {
          b += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b) }));
      },
    );
    let answered = false;
    req.on('response', () => {
      answered = true;
    });
    req.on('error', (e) => {
      if (!answered) resolve(e);
    });
    req.write(JSON.stringify({ input: ['x'.repeat(800)] }));
    req.end(JSON.stringify({ more: 'y'.repeat(800) }));
  });
  assert.ok(!(r2 instanceof Error), String(r2));
  assertApiError(r2 as Reply, 413, 'request_too_large');
  // the server still answers
  assert.equal((await post(port, { input: 'still here' })).status, 200);
});

test('requests at once are capped: one more gets 429 while the others are still sending', async () => {
  const port = await serve({ maxConcurrent: 1 });
  let answer!: (r: Reply) => void;
  const first = new Promise<Reply>((r) => {
    answer = r;
  });
  const slow = http.request(
    { host: '127.0.0.1', port, method: 'POST', path: '/v1/embeddings', headers: { ...JSON_CT, 'transfer-encoding': 'chunked' } },
    (res) => {
      let b = '';
      res.on('data', (c) => {
        b += c;
      });
      res.on('end', () => answer({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b) }));
    },
  );
  slow.write('{"input": ');
  // the first request is being read until its body ends: a second one is over the cap
  await until(async () => (await post(port, { input: 'x' })).status === 429, 'a 429 while the first request is open', 5000);
  const busy = assertApiError(await post(port, { input: 'x' }), 429, 'too_many_requests');
  assert.equal(busy.type, 'rate_limit_error');
  slow.end('"the first"}');
  assert.equal((await first).status, 200);
  assert.equal((await post(port, { input: 'x' })).status, 200);
});

test('tokens per request are capped (exact count when the cheap bound is over the limit)', async () => {
  const texts = ['internationalization internationalization', 'characterization of the unbelievable', 'hello'];
  const counts = await Promise.all(texts.map((t) => embedder.tokenize(t)));
  const total = counts.reduce((s, c) => s + c.length, 0);
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);
  assert.ok(bytes > total, 'the texts take fewer tokens than bytes (the exact count is used)');
  const exact = await serve({ maxTokens: total });
  const ok = await post(exact, { input: texts });
  assert.equal(ok.status, 200);
  assert.equal(ok.json().usage.prompt_tokens, total);
  const under = await serve({ maxTokens: total - 1 });
  const e = assertApiError(await post(under, { input: texts }), 400, 'max_tokens_per_request');
  assert.match(e.message, new RegExp(`${total} tokens; at most ${total - 1}`));
});

test('Host header: loopback names with this port only (no DNS rebinding), unless allowed', async () => {
  const port = await serve();
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
    assert.equal((await post(port, { input: 'x' }, { host })).status, 200, host);
  }
  for (const host of [
    `evil.example:${port}`,
    'evil.example',
    `127.0.0.1:${port + 1}`,
    'localhost',
    `localhost.evil.example:${port}`,
    `127.0.0.2:${port}`,
  ]) {
    const e = assertApiError(await post(port, { input: 'x' }, { host }), 403, 'host_not_allowed');
    assert.equal(e.type, 'permission_error');
  }
  // GET routes too
  assertApiError(
    await request(port, { method: 'GET', path: '/health', headers: { host: `evil.example:${port}` } }),
    403,
    'host_not_allowed',
  );
  const named = await serve({ allowHosts: ['embed.internal'] });
  assert.equal((await post(named, { input: 'x' }, { host: `embed.internal:${named}` })).status, 200);
  assertApiError(await post(named, { input: 'x' }, { host: `other.internal:${named}` }), 403);
});

test('browsers: a foreign Origin and non-JSON bodies are refused; --cors-origin allows one, with a proper preflight', async () => {
  const port = await serve();
  // a page can POST text/plain (or a body without a type) without a preflight
  assertApiError(await request(port, { headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: '{"input":"x"}' }), 415);
  assertApiError(await request(port, { body: '{"input":"x"}' }), 415);
  assertApiError(await request(port, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"input":"x"}' }), 415);
  assertApiError(await post(port, { input: 'x' }, { origin: 'http://evil.example' }), 403, 'origin_not_allowed');
  assertApiError(
    await request(port, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } }),
    403,
  );

  const app = 'http://localhost:5173';
  const cors = await serve({ corsOrigins: [app] });
  const pre = await request(cors, {
    method: 'OPTIONS',
    headers: { origin: app, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], app);
  assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
  assert.match(String(pre.headers['access-control-allow-headers']), /content-type/);
  assert.match(String(pre.headers['access-control-allow-headers']), /authorization/);
  assert.match(String(pre.headers.vary), /Origin/);
  const r = await post(cors, { input: 'x' }, { origin: app });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], app);
  assertApiError(await post(cors, { input: 'x' }, { origin: 'http://localhost:5174' }), 403, 'origin_not_allowed');
  // non-browser clients (no Origin) are unaffected
  assert.equal((await post(cors, { input: 'x' })).status, 200);
});

test('bearer token: 401 without or with a wrong key, served with the right one; preflight needs none', async () => {
  const key = 'sk-local-0123456789';
  const port = await serve({ apiKey: key, corsOrigins: ['http://localhost:3000'] });
  let e = assertApiError(await post(port, { input: 'x' }), 401, 'invalid_api_key');
  assert.match(e.message, /Authorization: Bearer/);
  assertApiError(await post(port, { input: 'x' }, { authorization: `Bearer ${key}x` }), 401, 'invalid_api_key');
  assertApiError(await post(port, { input: 'x' }, { authorization: 'Bearer s' }), 401, 'invalid_api_key');
  e = assertApiError(await post(port, { input: 'x' }, { authorization: key }), 401, 'invalid_api_key');
  const r401 = await request(port, { method: 'GET', path: '/v1/models' });
  assert.equal(r401.status, 401);
  assert.match(String(r401.headers['www-authenticate']), /Bearer/);
  assert.equal((await post(port, { input: 'x' }, { authorization: `Bearer ${key}` })).status, 200);
  assert.equal((await request(port, { method: 'GET', path: '/v1/models', headers: { authorization: `bearer ${key}` } })).status, 200);
  const pre = await request(port, {
    method: 'OPTIONS',
    headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
  });
  assert.equal(pre.status, 204);
});

test('degraded: 503 with an OpenAI-shaped error; --allow-degraded answers flagged fallback vectors', async (t) => {
  const d = tmpDir(t);
  const copy = copyBinary(d);
  const e = await Embedder.start({ model, binary: copy, ...FAST, maxRestarts: 1 });
  t.after(() => e.close());
  const strict = await serve({}, e);
  const lenient = await serve({ allowDegraded: true }, e);
  assert.equal((await post(strict, { input: 'x' })).status, 200);
  rmSync(copy);
  process.kill(e.pid ?? 0, 'SIGKILL');
  await until(() => degradedState(e).degraded, 'degraded');
  const err = assertApiError(await post(strict, { input: ['a', 'b'] }), 503, 'embedder_degraded');
  assert.equal(err.type, 'server_error');
  assert.match(err.message, /fallback/);
  const r = await post(lenient, { input: ['parse the config', 'zebra'] });
  assert.equal(r.status, 200);
  const j = r.json();
  assert.equal(j.degraded, true);
  assert.equal(typeof j.degraded_reason, 'string');
  assert.ok(r.headers['x-ggembed-degraded']);
  assert.equal(j.data.length, 2);
  assert.equal(j.data[0].embedding.length, 64);
});
