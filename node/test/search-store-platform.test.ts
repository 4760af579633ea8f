// The store on this platform, through the MCP tools: LanceDB (the default)
// works where its platform build is installed and fails loudly, naming the
// package and the file store, where it is not (Windows here: the registry
// has no win32 build of the pinned version); the file store works everywhere.
// scripts/test-windows-node.sh runs this file under Windows Node.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { at } from '../src/arrays.js';
import { registerSearchTools, type StoreKind } from '../src/search/tools.js';
import { copyRepo, searchFixture } from './search-helpers.js';

const fx = searchFixture();
before(async () => {
  await fx.start();
});

/** Whether npm installed LanceDB's native build for this platform (its optional dependency named by platform and CPU). */
function lanceBuildInstalled(): boolean {
  const name = `lancedb-${process.platform}-${process.arch}`;
  const dirs = createRequire(import.meta.url).resolve.paths('@lancedb/lancedb') ?? [];
  return dirs.some((d) => ['-gnu', '-musl', '-msvc', ''].some((s) => existsSync(path.join(d, '@lancedb', `${name}${s}`, 'package.json'))));
}

async function indexWith(store: StoreKind, name: string) {
  const root = copyRepo(fx.dir, name, ['node/src/fallback.ts', 'src/kernels/fp16.c']);
  const server = new McpServer({ name: 'test', version: '0.0.0' });
  const tools = registerSearchTools(server, fx.counted, { root, watch: false, store, maxTokens: 128 });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 'test', version: '0.0.0' });
  await client.connect(b);
  try {
    const call = async (tool: string, args: Record<string, unknown> = {}) => {
      const r = (await client.callTool({ name: tool, arguments: args })) as { content: { text: string }[]; isError?: boolean };
      return { error: r.isError === true, text: at(r.content, 0).text };
    };
    const ix = await call('index_codebase');
    const found = ix.error ? null : await call('search_code', { query: 'float_bits', limit: 1 });
    return { ix, found };
  } finally {
    await tools.close();
    await client.close();
  }
}

test('the file store indexes and searches on every platform', async () => {
  const { ix, found } = await indexWith('file', 'repo-file');
  assert.equal(ix.error, false, ix.text);
  assert.equal(JSON.parse(ix.text).walk.files, 2);
  assert.ok(found && !found.error, found?.text);
  assert.equal(JSON.parse(found.text).results[0].symbol, 'float_bits');
});

test(`store lance on ${process.platform}-${process.arch}: works where LanceDB's build is installed, else fails naming the package and the file store`, async () => {
  const { ix, found } = await indexWith('lance', 'repo-lance');
  if (lanceBuildInstalled()) {
    assert.equal(ix.error, false, ix.text);
    assert.ok(found && !found.error, found?.text);
    assert.equal(JSON.parse(found.text).results[0].symbol, 'float_bits');
  } else {
    assert.equal(ix.error, true, `index_codebase without a LanceDB build answered ${ix.text}`);
    assert.match(ix.text, /@lancedb\/lancedb@0\.37\.1/);
    assert.match(ix.text, /store: 'file'|--store file|GGEMBED_STORE=file/);
  }
});
