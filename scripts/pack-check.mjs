// pack-check.mjs - the checks scripts/test-pack.sh runs inside a folder where
// the packed tarballs were installed (copied there, so that `ggembed` and the
// MCP SDK resolve from that folder's node_modules, never from the checkout).
//
//   node check.mjs embed MODEL REF.jsonl WHERE   the library, given only `model`, embeds
//                                                "hello world" as REF.jsonl (from `npx
//                                                ggembed embed`) says, with a binary whose
//                                                path contains WHERE
//   node check.mjs missing MODEL WORDS...        no binary: start fails with UNAVAILABLE and
//                                                a message naming every WORD
//   node check.mjs mcp MODEL REF.jsonl           the ggembed-mcp bin, driven by the MCP SDK's
//                                                client: lists its tools, calls `embed`
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [mode, model, ...rest] = process.argv.slice(2);

function reference(file) {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1, `${file}: one JSON line`);
  const r = JSON.parse(lines[0]);
  assert.ok(Array.isArray(r.embedding) && r.embedding.length > 0, `${file}: an embedding`);
  return r;
}

function assertClose(a, b, what) {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-6, `${what}: value ${i}: ${a[i]} vs ${b[i]}`);
}

if (mode === 'embed') {
  const [refFile, where] = rest;
  const started = performance.now();
  const { Embedder } = await import('ggembed');
  const e = await Embedder.start({ model });
  try {
    const r = await e.embed('hello world');
    const ms = performance.now() - started;
    const info = e.info();
    assert.equal(r.degraded, false, `a real vector, not the fallback (${r.reason})`);
    assert.ok(info.binary && info.binary.includes(where), `the binary ${info.binary} comes from ${where}`);
    const ref = reference(refFile);
    assert.equal(r.tokens, ref.tokens);
    assertClose(r.embedding, ref.embedding, 'library vs `npx ggembed embed`');
    console.log(`pack-check: library embedded with ${path.relative(process.cwd(), info.binary)} (${r.embedding.length} dims) ${ms.toFixed(0)} ms after import`);
  } finally {
    await e.close();
  }
} else if (mode === 'missing') {
  const { Embedder } = await import('ggembed');
  await assert.rejects(Embedder.start({ model, fallback: false }), (err) => {
    assert.equal(err.code, 'UNAVAILABLE');
    for (const w of rest) assert.ok(err.message.includes(w), `the error names ${w}: ${err.message}`);
    console.log(`pack-check: without a binary: ${err.message}`);
    return true;
  });
} else if (mode === 'mcp') {
  const [refFile] = rest;
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  const bin = path.resolve('node_modules', '.bin', process.platform === 'win32' ? 'ggembed-mcp.cmd' : 'ggembed-mcp');
  const transport = new StdioClientTransport({ command: bin, args: ['--model', model], stderr: 'inherit' });
  const client = new Client({ name: 'ggembed-pack-check', version: '0.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'embed'), `tools: ${tools.map((t) => t.name)}`);
    const res = await client.callTool({ name: 'embed', arguments: { texts: ['hello world'] } });
    assert.ok(!res.isError, res.content?.[0]?.text);
    const body = res.structuredContent;
    assert.ok(body, 'the embed tool answers with structured content');
    assert.equal(body.degraded, false);
    assertClose(body.embeddings[0].embedding, reference(refFile).embedding, 'ggembed-mcp vs `npx ggembed embed`');
    console.log(`pack-check: ggembed-mcp lists ${tools.map((t) => t.name).join(', ')} and embeds (${body.dims} dims)`);
  } finally {
    await client.close();
  }
} else {
  console.error(`pack-check: unknown mode ${mode}`);
  process.exit(2);
}
