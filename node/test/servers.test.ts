// The package's bins: the MCP server driven by the SDK's own client over
// stdio, and the OpenAI-compatible HTTP endpoint.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { PKG, assertClose, cEmbed, makeModel, requireBinary, tmpDir } from './helpers.js';

let dir: string;
let model: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

type ToolResult = { content: { type: string; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean };

test('MCP server: lists its tools and answers each (SDK client over stdio)', async () => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(PKG, 'dist/src/mcp.js'), '--model', model, '--binary', bin, '--threads', '1'],
    stderr: 'ignore',
  });
  const client = new Client({ name: 'ggembed-test', version: '0.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['embed', 'embedder_status', 'similarity']);

    const input = ['def parse_config(path):', 'class HttpServer:'];
    const ref = cEmbed(model, input);
    const em = (await client.callTool({ name: 'embed', arguments: { texts: input } })) as ToolResult;
    assert.ok(!em.isError, em.content[0]?.text);
    const body = JSON.parse(em.content[0].text);
    assert.equal(body.dims, 64);
    assert.equal(body.degraded, false);
    body.embeddings.forEach((x: { tokens: number; embedding: number[] }, i: number) => {
      assert.equal(x.tokens, ref[i].tokens);
      assertClose(x.embedding, ref[i].embedding);
    });

    const sim = (await client.callTool({ name: 'similarity', arguments: { query: 'parse config file', candidates: ['parse config file', 'zebra', 'the weather today'] } })) as ToolResult;
    const s = JSON.parse(sim.content[0].text);
    assert.equal(s.results.length, 3);
    assert.equal(s.results[0].text, 'parse config file');
    assert.ok(Math.abs(s.results[0].score - 1) < 1e-4);
    assert.ok(s.results[0].score >= s.results[1].score && s.results[1].score >= s.results[2].score);

    const st = (await client.callTool({ name: 'embedder_status', arguments: {} })) as ToolResult;
    const status = JSON.parse(st.content[0].text);
    assert.equal(status.degraded, false);
    assert.equal(status.health.state, 'ready');
    assert.equal(status.model.dims, 64);
    assert.ok(status.stats.server.texts >= 5);

    const bad = (await client.callTool({ name: 'embed', arguments: { texts: [] } })) as ToolResult;
    assert.equal(bad.isError, true);
  } finally {
    await client.close();
  }
});

test('OpenAI-compatible POST /v1/embeddings on 127.0.0.1', async () => {
  const child = spawn(process.execPath, [path.join(PKG, 'dist/src/openai.js'), '--model', model, '--binary', bin, '--threads', '1', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stderr.on('data', (d) => {
        buf += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
        if (m) resolve(m[1]);
      });
      child.once('exit', (c) => reject(new Error(`openai server exited ${c}: ${buf}`)));
    });
    const input = ['first text', 'second text'];
    const ref = cEmbed(model, input);
    const res = await fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', input }) });
    assert.equal(res.status, 200);
    const j = await res.json() as { object: string; data: { index: number; embedding: number[] }[]; usage: { prompt_tokens: number } };
    assert.equal(j.object, 'list');
    assert.equal(j.data.length, 2);
    j.data.forEach((d, i) => { assert.equal(d.index, i); assertClose(d.embedding, ref[i].embedding); });
    assert.equal(j.usage.prompt_tokens, ref[0].tokens + ref[1].tokens);

    const b64 = await (await fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input: 'first text', encoding_format: 'base64' }) })).json() as { data: { embedding: string }[] };
    const raw = Buffer.from(b64.data[0].embedding, 'base64');
    assertClose(new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4), ref[0].embedding);

    const bad = await fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input: 42 }) });
    assert.equal(bad.status, 400);
    assert.ok(((await bad.json()) as { error: { message: string } }).error.message);
    assert.equal((await fetch(`${url}/v1/nothing`)).status, 404);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
