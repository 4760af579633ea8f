// The MCP server (ggembed-mcp), driven by the SDK's own client over stdio:
// its tools, answers that stay under the SDK's message limit, the cap on
// texts per call, and the degraded state where a model reads it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { assertClose, cEmbed, makeModel, PKG, requireBinary, tmpDir } from './helpers.js';

let dir: string;
let model: string;
let wide: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
  // 1024-dimensional vectors, cheap to compute: answers of a few hundred texts reach megabytes
  wide = makeModel(dir, 'wide.gguf', ['--embd', '1024', '--ff', '1024', '--layers', '1']);
});
after(() => rmSync(dir, { recursive: true, force: true }));

type ToolResult = { content: { type: string; text: string }[]; structuredContent?: Record<string, any>; isError?: boolean };

async function connect(args: string[], stderr: string[] = []): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(PKG, 'dist/src/mcp.js'), '--binary', bin, '--threads', '1', ...args],
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const client = new Client({ name: 'ggembed-test', version: '0.0.0' });
  await client.connect(transport);
  return client;
}

const call = async (c: Client, name: string, args: Record<string, unknown>) => (await c.callTool({ name, arguments: args })) as ToolResult;

test('tools: vectors once, in the structured content; the text part is a short summary', async () => {
  const client = await connect(['--model', model]);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      'clear_index',
      'embed',
      'embedder_status',
      'index_codebase',
      'index_status',
      'rerank',
      'search_code',
      'similarity',
    ]);
    assert.ok(tools.find((t) => t.name === 'embed')?.outputSchema, 'embed declares its output schema');

    const input = ['def parse_config(path):', 'class HttpServer:'];
    const ref = cEmbed(model, input);
    const em = await call(client, 'embed', { texts: input });
    assert.ok(!em.isError, em.content[0]?.text);
    const s = em.structuredContent;
    assert.ok(s);
    assert.equal(s.dims, 64);
    assert.equal(s.count, 2);
    assert.equal(s.degraded, false);
    assert.equal(s.tokens, ref[0]!.tokens + ref[1]!.tokens);
    s.embeddings.forEach((x: { tokens: number; embedding: number[] }, i: number) => {
      assert.equal(x.tokens, ref[i]!.tokens);
      assertClose(x.embedding, ref[i]!.embedding);
      // float32 precision is kept exactly
      x.embedding.forEach((v, k) => {
        assert.equal(Math.fround(v), Math.fround(ref[i]!.embedding[k]!));
      });
    });
    assert.equal(em.content.length, 1);
    const text = em.content[0]!.text;
    assert.ok(text.length < 400, `a summary, not the vectors: ${text.length} chars`);
    assert.match(text, /Embedded 2 texts/);
    assert.doesNotMatch(text, /WARNING|degraded/i);
    assert.ok(!text.includes(String(s.embeddings[0].embedding[0])), 'no vector values in the text part');

    const sim = await call(client, 'similarity', {
      query: 'parse config file',
      candidates: ['parse config file', 'zebra', 'the weather today'],
    });
    assert.ok(!sim.isError, sim.content[0]?.text);
    const r = sim.structuredContent?.results as { index: number; score: number; text: string }[];
    assert.equal(r.length, 3);
    assert.equal(r[0]!.text, 'parse config file');
    assert.ok(Math.abs(r[0]!.score - 1) < 1e-4);
    assert.ok(r[0]!.score >= r[1]!.score && r[1]!.score >= r[2]!.score);
    assert.match(sim.content[0]!.text, /^1\. candidate 0 \(score 1\.0000\): parse config file/);

    const st = await call(client, 'embedder_status', {});
    const status = st.structuredContent;
    assert.ok(status);
    assert.equal(status.degraded, false);
    assert.equal(status.health.state, 'ready');
    assert.equal(status.model.dims, 64);
    assert.ok(status.stats.server.texts >= 5);
    assert.match(st.content[0]!.text, /^The embedder is ready/);

    const bad = await call(client, 'embed', { texts: [] });
    assert.equal(bad.isError, true);
  } finally {
    await client.close();
  }
});

test('wide vectors: 400 texts x 1024 dims come back over one connection; 600 are refused with a clear error, and the connection lives', async () => {
  const client = await connect(['--model', wide]);
  try {
    const texts = Array.from({ length: 400 }, (_, i) => `text ${i} about item ${(i * 37) % 101}`);
    const em = await call(client, 'embed', { texts });
    assert.ok(!em.isError, em.content[0]?.text);
    assert.equal(em.structuredContent?.embeddings.length, 400);
    assert.equal(em.structuredContent?.dims, 1024);
    assert.ok(em.content[0]!.text.length < 400);

    const many = Array.from({ length: 600 }, (_, i) => `t${i}`);
    const refused = await call(client, 'embed', { texts: many });
    assert.equal(refused.isError, true);
    assert.match(refused.content[0]!.text, /too many texts in one call: 600; at most \d+ per call/);
    assert.match(refused.content[0]!.text, /Split them/);
    // with fewer dimensions more texts fit
    const narrow = await call(client, 'embed', { texts: many.slice(0, 512), dims: 64 });
    assert.ok(!narrow.isError, narrow.content[0]?.text);
    const st = await call(client, 'embedder_status', {});
    assert.equal(st.structuredContent?.health.state, 'ready');
  } finally {
    await client.close();
  }
});

test('--max-texts caps embed and similarity per call', async () => {
  const client = await connect(['--model', model, '--max-texts', '8']);
  try {
    const nine = Array.from({ length: 9 }, (_, i) => `t${i}`);
    const r = await call(client, 'embed', { texts: nine });
    assert.equal(r.isError, true);
    assert.match(r.content[0]!.text, /too many texts in one call: 9; at most 8 per call/);
    assert.ok(!(await call(client, 'embed', { texts: nine.slice(0, 8) })).isError);
    const s = await call(client, 'similarity', { query: 'q', candidates: nine.slice(0, 8) });
    assert.equal(s.isError, true);
    assert.match(s.content[0]!.text, /too many candidates in one call: 8; at most 7 per call/);
    assert.ok(!(await call(client, 'similarity', { query: 'q', candidates: nine.slice(0, 7) })).isError);
  } finally {
    await client.close();
  }
});

test('--fallback always with a missing model: every tool answer says degraded in its text, stderr says it once', async () => {
  const stderr: string[] = [];
  const client = await connect(['--model', path.join(dir, 'missing.gguf'), '--fallback', 'always'], stderr);
  try {
    const em = await call(client, 'embed', { texts: ['parse the config', 'zebra'] });
    assert.ok(!em.isError);
    assert.match(em.content[0]!.text, /^WARNING: the embedder is degraded/);
    assert.match(em.content[0]!.text, /missing\.gguf/);
    assert.equal(em.structuredContent?.degraded, true);
    assert.match(String(em.structuredContent?.reason), /missing\.gguf/);
    const sim = await call(client, 'similarity', { query: 'config', candidates: ['config', 'zebra'] });
    assert.match(sim.content[0]!.text, /^WARNING: the embedder is degraded/);
    assert.equal(sim.structuredContent?.degraded, true);
    const st = await call(client, 'embedder_status', {});
    assert.match(st.content[0]!.text, /^WARNING: the embedder is degraded/);
    assert.equal(st.structuredContent?.degraded, true);
  } finally {
    await client.close();
  }
  const lines = stderr
    .join('')
    .split('\n')
    .filter((l) => /degraded/.test(l));
  assert.equal(lines.length, 1, stderr.join(''));
  assert.match(lines[0]!, /^ggembed-mcp: degraded: .*missing\.gguf/);
});
