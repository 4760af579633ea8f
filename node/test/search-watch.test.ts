// The file watcher keeps the index current: real files in a temp dir, the real
// embedder (bert-tiny), the tools driven through the MCP SDK's client in memory.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { at } from '../src/arrays.js';
import { LanceStore } from '../src/search/lance-store.js';
import { allPaths, type FileRecord, FileStore } from '../src/search/store.js';
import { registerSearchTools, type SearchToolsOptions, STORE_KINDS, type StoreKind } from '../src/search/tools.js';
import { until } from './helpers.js';
import { type Counted, searchFixture } from './search-helpers.js';

const SOURCES = ['node/src/backoff.ts', 'node/src/fallback.ts', 'node/src/catalogue.ts', 'src/kernels/dot_ref.c', 'src/kernels/fp16.c'];

const fx = searchFixture();
let dir: string;
/** the embedder as the tools see it, counting the texts it embeds */
let counted: Counted;
before(async () => {
  ({ dir, counted } = await fx.start());
});
const makeRepo = (name: string) => fx.makeRepo(name, SOURCES);
const { hashesOf } = fx;

type Status = {
  files: number;
  chunks: number;
  lastRun: { by: string; filesChanged: number; filesRemoved: number; chunksEmbedded: number } | null;
  pending: { watcherQueue: number; files: number; chunks: number };
  watcher: { on: boolean; state: string; runs: number; events: number };
};

/** where the tools keep the index of a root in these tests */
const indexDirOf = (root: string) => path.join(root, '..', `${path.basename(root)}-index`);

/**
 * The files of the index as they are on disk now, read apart from the
 * server's own store: the file store's files, or LanceDB's tables through a
 * second, in-process reader.
 */
async function indexedFiles(kind: StoreKind, root: string): Promise<Map<string, FileRecord>> {
  const store =
    kind === 'file'
      ? await FileStore.open(indexDirOf(root))
      : await LanceStore.open(path.join(indexDirOf(root), 'lance'), { process: 'inline' });
  try {
    return await store.fileRecords(await allPaths(store));
  } finally {
    await store.close();
  }
}

async function connect(root: string, options: SearchToolsOptions) {
  const server = new McpServer({ name: 'test', version: '0.0.0' });
  const tools = registerSearchTools(server, counted, {
    root,
    indexDir: indexDirOf,
    store: 'file',
    ...options,
  });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 'test', version: '0.0.0' });
  await client.connect(b);
  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const r = (await client.callTool({ name, arguments: args })) as { content: { text: string }[]; isError?: boolean };
    assert.ok(!r.isError, at(r.content, 0).text);
    return JSON.parse(at(r.content, 0).text);
  };
  const status = () => call('index_status') as Promise<Status>;
  /** Waits until the watcher has started runs beyond `runs` and is idle again. */
  const settled = async (runs: number) => {
    let s = await status();
    await until(async () => {
      s = await status();
      return s.watcher.runs > runs && s.watcher.state === 'idle';
    }, `a watcher run after run ${runs}`);
    return s;
  };
  return { tools, client, call, status, settled };
}

// each store: LanceDB in its store process (the default) and the plain files of FileStore
for (const kind of STORE_KINDS) {
  test(`the watcher (${kind} store): an edit re-embeds only its changed chunks, a delete removes them, a rename embeds nothing, a burst of 500 is one run`, async () => {
    const root = makeRepo(`repo-w-${kind}`);
    const m = await connect(root, { maxTokens: 128, watcher: { debounceMs: 700, maxWaitMs: 60_000 }, store: kind });
    try {
      const first = await m.call('index_codebase');
      assert.equal(first.walk.files, SOURCES.length);
      assert.equal(first.watching, true);
      let s = await m.status();
      assert.deepEqual([s.watcher.on, s.watcher.runs], [true, 0]);
      await until(async () => (await m.status()).watcher.state === 'idle', 'the watcher ready');

      // one line added inside one function
      const rel = 'src/kernels/dot_ref.c';
      const before = new Set(await hashesOf(root, rel));
      const lines = readFileSync(path.join(root, rel), 'utf8').split('\n');
      const line = lines.findIndex((l) => /^\s+.*sum.*;\s*$/.test(l));
      assert.ok(line > 0, 'a statement to edit');
      lines.splice(line + 1, 0, '    /* edited */');
      counted.texts = 0;
      writeFileSync(path.join(root, rel), lines.join('\n'));
      const changed = new Set((await hashesOf(root, rel)).filter((h) => !before.has(h)));
      assert.ok(changed.size >= 1 && changed.size < before.size / 2, `${changed.size} of ${before.size} chunks changed`);
      s = await m.settled(0);
      assert.equal(s.lastRun?.by, 'watcher');
      assert.equal(s.lastRun?.filesChanged, 1);
      assert.equal(s.lastRun?.chunksEmbedded, changed.size);
      assert.equal(counted.texts, changed.size, 'only the changed chunks were embedded');
      let runs = s.watcher.runs;

      // deleted: its chunks leave the index
      const gone = 'node/src/catalogue.ts';
      unlinkSync(path.join(root, gone));
      s = await m.settled(runs);
      runs = s.watcher.runs;
      assert.equal(s.files, SOURCES.length - 1);
      let files = await indexedFiles(kind, root);
      assert.equal(files.get(gone), undefined);
      assert.equal(
        s.chunks,
        [...files.values()].reduce((n, f) => n + f.chunks.length, 0),
      );

      // renamed: the same chunks under the new name, nothing embedded
      const from = 'node/src/fallback.ts';
      const to = 'node/src/fallback-renamed.ts';
      const oldChunks = files.get(from)?.chunks.map((c) => c.hash);
      assert.ok(oldChunks?.length);
      counted.texts = 0;
      renameSync(path.join(root, from), path.join(root, to));
      await until(async () => {
        const st = await m.status();
        runs = st.watcher.runs;
        if (st.watcher.state !== 'idle') return false;
        const f = await indexedFiles(kind, root);
        return !f.has(from) && f.has(to);
      }, 'the rename seen');
      files = await indexedFiles(kind, root);
      assert.deepEqual(
        files.get(to)?.chunks.map((c) => c.hash),
        oldChunks,
      );
      assert.equal(counted.texts, 0, 'a rename embeds nothing');

      // a burst: 500 new files at once are one re-index of those files
      const before500 = (await m.status()).files;
      mkdirSync(path.join(root, 'burst'));
      for (let i = 0; i < 500; i++)
        writeFileSync(path.join(root, 'burst', `f${i}.ts`), `export function burst${i}(x: number) {\n  return x * ${i};\n}\n`);
      s = await m.settled(runs);
      assert.equal(s.watcher.runs, runs + 1, 'one run for the whole burst');
      assert.ok(s.watcher.events >= 500, `${s.watcher.events} events`);
      assert.equal(s.files, before500 + 500);
      assert.equal(s.lastRun?.filesChanged, 500);
      runs = s.watcher.runs;

      // stopped: no more runs, a change is left for the next index_codebase
      await m.tools.close();
      s = await m.status();
      assert.deepEqual([s.watcher.on, s.watcher.state], [false, 'off']);
    } finally {
      await m.tools.close();
      await m.client.close();
    }
  });
}

test('ignored files make no run; an ignore file change walks the tree again; watch: false leaves the index alone', async () => {
  const root = makeRepo('repo-i');
  writeFileSync(path.join(root, '.gitignore'), 'secret/\n*.log\n');
  const m = await connect(root, { maxTokens: 128, watcher: { debounceMs: 300, maxWaitMs: 60_000 } });
  try {
    await m.call('index_codebase');
    await until(async () => (await m.status()).watcher.state === 'idle', 'the watcher ready');
    const files = (await m.status()).files;
    mkdirSync(path.join(root, 'secret'));
    writeFileSync(path.join(root, 'secret/keys.ts'), 'export const key = 1;\n');
    writeFileSync(path.join(root, 'debug.log'), 'noise\n');
    writeFileSync(path.join(root, 'node/src/new.ts'), 'export function fresh() {\n  return 1;\n}\n');
    let s = await m.settled(0);
    assert.equal(s.files, files + 1, 'only new.ts came in');
    const store = await FileStore.open(path.join(dir, 'repo-i-index'));
    assert.ok(store.file('node/src/new.ts'));
    assert.equal(store.file('secret/keys.ts'), undefined);
    assert.equal(store.file('debug.log'), undefined);

    // the ignore rules change: debug.log is in now, new.ts out
    writeFileSync(path.join(root, '.gitignore'), 'secret/\nnode/src/new.ts\n');
    s = await m.settled(s.watcher.runs);
    const after = await FileStore.open(path.join(dir, 'repo-i-index'));
    assert.ok(after.file('debug.log'), 'no longer ignored');
    assert.equal(after.file('node/src/new.ts'), undefined, 'ignored now');
  } finally {
    await m.tools.close();
    await m.client.close();
  }

  const off = await connect(makeRepo('repo-off'), { maxTokens: 128, watch: false });
  try {
    const r = await off.call('index_codebase');
    assert.equal(r.watching, false);
    const s = await off.status();
    assert.deepEqual([s.watcher.on, s.watcher.state], [false, 'off']);
  } finally {
    await off.client.close();
  }
});
