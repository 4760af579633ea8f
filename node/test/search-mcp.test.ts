// The code search tools of ggembed-mcp, driven by the MCP SDK's client over stdio.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { at } from '../src/arrays.js';
import { makeModel, PKG, requireBinary, tmpDir } from './helpers.js';

const REPO = path.resolve(PKG, '..');
let dir: string;
let model: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
const body = (r: unknown) => JSON.parse(at((r as ToolResult).content, 0).text);

test('index_codebase (dry run, then with progress), search_code, index_status, clear_index', async () => {
  const root = path.join(dir, 'repo');
  for (const s of ['node/src/fallback.ts', 'node/src/backoff.ts', 'src/kernels/fp16.c']) {
    mkdirSync(path.dirname(path.join(root, s)), { recursive: true });
    copyFileSync(path.join(REPO, s), path.join(root, s));
  }
  writeFileSync(path.join(root, '.gitignore'), 'secret/\n');
  mkdirSync(path.join(root, 'secret'));
  writeFileSync(path.join(root, 'secret/keys.ts'), 'export const key = 1;\n');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(PKG, 'dist/src/mcp.js'), '--model', model, '--binary', bin, '--threads', '1'],
    env: { ...(process.env as Record<string, string>), GGEMBED_ROOT: root },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'ggembed-test', version: '0.0.0' });
  await client.connect(transport);
  try {
    const dry = body(await client.callTool({ name: 'index_codebase', arguments: { dry_run: true } }));
    assert.equal(dry.dryRun, true);
    assert.equal(dry.walk.files, 4);
    assert.ok(dry.chunksToEmbed > 0 && dry.estimatedMs >= 0);
    assert.equal(body(await client.callTool({ name: 'index_status', arguments: {} })).files, 0);

    const progress: string[] = [];
    const ix = await client.callTool({ name: 'index_codebase', arguments: {} }, undefined, {
      onprogress: (p) => progress.push(p.message ?? ''),
    });
    assert.ok(!(ix as ToolResult).isError, (ix as ToolResult).content[0]?.text);
    const r = body(ix);
    assert.equal(r.walk.files, 4); // the three sources and .gitignore
    assert.equal(r.walk.skipped.ignored, 2); // secret/ by .gitignore, .ggembed/ (the index itself) built in
    assert.equal(r.chunksEmbedded, dry.chunksToEmbed);
    assert.ok(progress.length > 0, 'progress notifications');

    const again = body(await client.callTool({ name: 'index_codebase', arguments: {} }));
    assert.equal(again.chunksEmbedded, 0);
    assert.equal(again.filesUnchanged, 4);

    const s = body(await client.callTool({ name: 'search_code', arguments: { query: 'float_bits', limit: 3 } }));
    assert.equal(s.results[0].file, 'src/kernels/fp16.c');
    assert.equal(s.results[0].symbol, 'float_bits');
    assert.equal(s.results[0].language, 'c');
    assert.ok(s.results[0].startLine > 0 && s.results[0].endLine >= s.results[0].startLine);
    assert.match(s.results[0].snippet, /float_bits/);
    const bad = (await client.callTool({ name: 'search_code', arguments: { query: '' } })) as ToolResult;
    assert.equal(bad.isError, true);

    const st = body(await client.callTool({ name: 'index_status', arguments: {} }));
    assert.equal(st.files, 4);
    assert.ok(st.chunks >= r.chunks - 1 && st.chunks > 0);
    assert.equal(st.indexing, false);
    assert.ok(st.lastUpdate);

    assert.equal(body(await client.callTool({ name: 'clear_index', arguments: {} })).cleared, true);
    assert.equal(body(await client.callTool({ name: 'index_status', arguments: {} })).files, 0);
    const none = (await client.callTool({ name: 'search_code', arguments: { query: 'float_bits' } })) as ToolResult;
    assert.equal(none.isError, true);
    assert.match(at(none.content, 0).text, /not indexed/);
  } finally {
    await client.close();
  }
});
