// Reranking end to end with a real server and a tiny reranker model:
// Embedder.rerank (scores equal to the C command's, split over max_texts,
// NOT_RERANKER before sending, timeouts, aborts, a poison document, flagged
// fallback scores), POST /v1/rerank, and the MCP rerank tool.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Embedder, type EmbedderError, fallbackEmbedding } from '../src/index.js';
import { createOpenAIServer, type OpenAIServerOptions } from '../src/openai.js';
import { assertClose, cRerank, FAST, makeModel, makeReranker, PKG, requireBinary, tmpDir } from './helpers.js';

let dir: string;
let bin: string;
let reranker: string;
let embedding: string;
const servers: http.Server[] = [];

before(() => {
  bin = requireBinary();
  dir = tmpDir();
  reranker = makeReranker(dir);
  embedding = makeModel(dir);
});
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const QUERY = 'what is a giant panda';
const DOCS = [
  'The giant panda is a bear species endemic to China.',
  'Paris is the capital of France.',
  'def parse_config(path): return json.load(open(path))',
  '',
  'Pandas eat bamboo almost exclusively, and a lot of it every day.',
  'naïve café – 東京',
  'The llama is a domesticated South American camelid.',
  'x '.repeat(300), // over the tiny model's context of 128 tokens with the query: truncated
];

test('Embedder.rerank: the C command scores, in input order, split over max_texts', async (t) => {
  const e = await Embedder.start({ model: reranker, binary: bin, ...FAST, serveArgs: ['--max-texts', '3'] });
  t.after(() => e.close());
  assert.equal(e.info().reranker, true);
  const ref = cRerank(reranker, QUERY, DOCS);
  const r = await e.rerank(QUERY, DOCS);
  assert.equal(r.degraded, false);
  assert.equal(r.reason, undefined);
  assertClose(
    r.scores,
    ref.map((x) => x.score),
    1e-5,
    'scores',
  );
  assert.deepEqual(
    r.tokens,
    ref.map((x) => x.tokens),
  );
  assert.deepEqual(
    r.truncated,
    ref.map((x) => x.truncated),
  );
  assert.equal(r.truncated.at(-1), true, 'the long document is cut');
  // the scores differ between documents: the model is not a constant
  assert.ok(new Set(r.scores.map((s) => s.toFixed(6))).size > 4);
  const st = (await e.stats()).server;
  assert.equal(st?.rerank_requests, Math.ceil(DOCS.length / 3), 'one RERANK per max_texts documents');
  assert.equal(st?.pairs, DOCS.length);
  assert.equal(st?.embed_requests, 0);
  // no documents: nothing to send
  assert.deepEqual(await e.rerank(QUERY, []), { scores: [], tokens: [], truncated: [], degraded: false });
  // truncate false: the long pair fails the call
  await assert.rejects(e.rerank(QUERY, DOCS, { truncate: false }), (err: EmbedderError) => err.code === 'TOO_LONG');
  // embedding with a reranker needs a pooling
  await assert.rejects(e.embed('x'), (err: EmbedderError) => err.code === 'INVALID' && /RERANK/.test(err.message));
  assert.equal((await e.embed('x', { pooling: 'mean' })).embedding.length, 64);
  await assert.rejects(e.rerank('q', ['a', 3 as unknown as string]), TypeError);
  // one document over the server's max message is refused here, by name
  await assert.rejects(
    e.rerank('q', ['x'.repeat(5 << 20)]),
    (err: EmbedderError) => err.code === 'TOO_LARGE' && /a document with its query/.test(err.message),
  );
});

test('Embedder.rerank on an embedding model: NOT_RERANKER before anything is sent', async (t) => {
  const e = await Embedder.start({ model: embedding, binary: bin, ...FAST });
  t.after(() => e.close());
  assert.equal(e.info().reranker, false);
  await assert.rejects(
    e.rerank(QUERY, DOCS),
    (err: EmbedderError) => err.code === 'NOT_RERANKER' && /not a reranker/.test(err.message) && /mean/.test(err.message),
  );
  const st = (await e.stats()).server;
  assert.equal(st?.rerank_requests, 0, 'nothing was sent');
});

test('Embedder.rerank: timeouts and aborts as for embed; a document that crashes the server fails alone', async (t) => {
  const slow = await Embedder.start({ model: reranker, binary: bin, ...FAST, env: { GGEMBED_TEST_DELAY_MS: '400' } });
  t.after(() => slow.close());
  await assert.rejects(slow.rerank(QUERY, DOCS, { timeoutMs: 100 }), (err: EmbedderError) => err.code === 'TIMEOUT');
  const ac = new AbortController();
  const p = slow.rerank(QUERY, DOCS, { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, (err: EmbedderError) => err.code === 'ABORTED');
  // the server answered the cancelled requests and serves on
  assert.equal((await slow.rerank(QUERY, DOCS.slice(0, 2))).scores.length, 2);

  const poisoned = await Embedder.start({ model: reranker, binary: bin, ...FAST, env: { GGEMBED_TEST_POISON: 'POISONPILL' } });
  t.after(() => poisoned.close());
  const docs = [...DOCS.slice(0, 5), 'a POISONPILL document', ...DOCS.slice(5)];
  await assert.rejects(poisoned.rerank(QUERY, docs), (err: EmbedderError) => err.code === 'POISON' && /^document 5: /.test(err.message));
  // the server was restarted and the others still score as before
  const ref = cRerank(reranker, QUERY, DOCS);
  assertClose(
    (await poisoned.rerank(QUERY, DOCS)).scores,
    ref.map((x) => x.score),
    1e-5,
  );
});

test('Embedder.rerank degraded: cosine of fallback vectors, flagged with the reason', async (t) => {
  const e = await Embedder.start({ model: path.join(dir, 'missing.gguf'), binary: bin, ...FAST, fallback: 'always' });
  t.after(() => e.close());
  const r = await e.rerank(QUERY, DOCS.slice(0, 3));
  assert.equal(r.degraded, true);
  assert.match(r.reason ?? '', /missing\.gguf/);
  assert.match(r.reason ?? '', /cosine similarity of local fallback vectors/);
  const dims = e.info().dims;
  const q = fallbackEmbedding(QUERY, dims);
  const want = DOCS.slice(0, 3).map((d) => {
    const v = fallbackEmbedding(d, dims);
    return v.reduce((s, x, i) => s + x * (q[i] ?? 0), 0);
  });
  assertClose(r.scores, want, 1e-6);
  assert.ok((r.scores[0] ?? 0) > (r.scores[1] ?? 0), 'the document sharing words with the query ranks first');
});

// ---------------------------------------------------------------- HTTP

async function serve(e: Embedder, options: OpenAIServerOptions = {}): Promise<number> {
  const s = createOpenAIServer(e, options);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

async function post(port: number, body: unknown, route = '/v1/rerank', headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, json: (await r.json()) as any };
}

test('POST /v1/rerank: Jina/Cohere shape, best first, top_n, return_documents, {text} documents; /rerank too', async (t) => {
  const e = await Embedder.start({ model: reranker, binary: bin, ...FAST });
  t.after(() => e.close());
  const port = await serve(e, { maxInputs: 8, modelName: 'tiny-reranker', apiKey: 'secret-key-123' });
  const auth = { authorization: 'Bearer secret-key-123' };
  const ref = cRerank(reranker, QUERY, DOCS).map((x) => x.score);
  const order = ref.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);

  const r = await post(port, { query: QUERY, documents: DOCS }, '/v1/rerank', auth);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(Object.keys(r.json).sort(), ['degraded', 'model', 'results', 'usage']);
  assert.equal(r.json.model, 'tiny-reranker');
  assert.equal(r.json.degraded, false);
  assert.deepEqual(
    r.json.results.map((x: any) => x.index),
    order.map((x) => x.i),
  );
  assertClose(
    r.json.results.map((x: any) => x.relevance_score),
    order.map((x) => x.s),
    1e-5,
  );
  assert.equal(r.json.results[0].document, undefined, 'documents only when asked');
  const tokens = cRerank(reranker, QUERY, DOCS).reduce((s, x) => s + x.tokens, 0);
  assert.deepEqual(r.json.usage, { prompt_tokens: tokens, total_tokens: tokens });

  const top = await post(
    port,
    { model: 'mine', query: QUERY, documents: DOCS.map((text) => ({ text })), top_n: 2, return_documents: true },
    '/rerank',
    auth,
  );
  assert.equal(top.status, 200, JSON.stringify(top.json));
  assert.equal(top.json.model, 'mine');
  assert.equal(top.json.results.length, 2);
  for (const [k, x] of top.json.results.entries()) {
    assert.equal(x.index, order[k]?.i);
    assert.deepEqual(x.document, { text: DOCS[x.index] });
  }

  // the gateway's rules hold here too
  assert.equal((await post(port, { query: QUERY, documents: DOCS })).status, 401);
  const many = await post(port, { query: QUERY, documents: [...DOCS, 'one more'] }, '/v1/rerank', auth);
  assert.equal(many.status, 400);
  assert.match(many.json.error.message, /at most 8/);
  for (const bad of [
    { documents: DOCS },
    { query: QUERY },
    { query: QUERY, documents: [1] },
    { query: QUERY, documents: DOCS, top_n: 0 },
  ]) {
    const b = await post(port, bad, '/v1/rerank', auth);
    assert.equal(b.status, 400, JSON.stringify(bad));
    assert.equal(b.json.error.type, 'invalid_request_error');
  }
  const get = await fetch(`http://127.0.0.1:${port}/v1/rerank`, { headers: auth });
  assert.equal(get.status, 405);
});

test('POST /v1/rerank on an embedding model: 400 saying it is not a reranker; degraded: 503 unless allowed', async (t) => {
  const e = await Embedder.start({ model: embedding, binary: bin, ...FAST });
  t.after(() => e.close());
  const port = await serve(e);
  const r = await post(port, { query: QUERY, documents: DOCS });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'model_not_reranker');
  assert.match(r.json.error.message, /not a reranker/);

  const d = await Embedder.start({ model: path.join(dir, 'missing.gguf'), binary: bin, ...FAST, fallback: 'always' });
  t.after(() => d.close());
  const strict = await post(await serve(d), { query: QUERY, documents: DOCS });
  assert.equal(strict.status, 503);
  assert.equal(strict.json.error.code, 'embedder_degraded');
  const lenient = await post(await serve(d, { allowDegraded: true }), { query: QUERY, documents: DOCS });
  assert.equal(lenient.status, 200);
  assert.equal(lenient.json.degraded, true);
  assert.match(lenient.json.degraded_reason, /fallback vectors/);
  assert.ok(lenient.headers.get('x-ggembed-degraded'));
});

// ---------------------------------------------------------------- MCP

async function connect(args: string[]): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(PKG, 'dist/src/mcp.js'), '--binary', bin, '--threads', '1', ...args],
    stderr: 'pipe',
  });
  const client = new Client({ name: 'ggembed-test', version: '0.0.0' });
  await client.connect(transport);
  return client;
}

type ToolResult = { content: { type: string; text: string }[]; structuredContent?: Record<string, any>; isError?: boolean };

test('MCP rerank tool: best first with the C command scores; top_n; schema checked; a clear error on an embedding model', async () => {
  const ref = cRerank(reranker, QUERY, DOCS).map((x) => x.score);
  const order = ref.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
  const client = await connect(['--model', reranker]);
  try {
    const r = (await client.callTool({ name: 'rerank', arguments: { query: QUERY, documents: DOCS, top_n: 3 } })) as ToolResult;
    assert.ok(!r.isError, r.content[0]?.text);
    const s = r.structuredContent;
    assert.equal(s?.degraded, false);
    assert.deepEqual(
      s?.results.map((x: any) => x.index),
      order.slice(0, 3).map((x) => x.i),
    );
    assertClose(
      s?.results.map((x: any) => x.relevance_score),
      order.slice(0, 3).map((x) => x.s),
      1e-5,
    );
    assert.equal(s?.results[0].text, DOCS[order[0]?.i ?? 0]);
    assert.match(r.content[0]?.text ?? '', /^1\. document \d+ \(score /);
    const bad = (await client.callTool({ name: 'rerank', arguments: { query: QUERY, documents: [] } })) as ToolResult;
    assert.equal(bad.isError, true);
  } finally {
    await client.close();
  }
  const other = await connect(['--model', embedding]);
  try {
    const r = (await other.callTool({ name: 'rerank', arguments: { query: QUERY, documents: DOCS } })) as ToolResult;
    assert.equal(r.isError, true);
    assert.match(r.content[0]?.text ?? '', /not a reranker/);
  } finally {
    await other.close();
  }
});
