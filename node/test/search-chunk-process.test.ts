// Chunking in a process of its own (chunk-process.ts, the MCP server's
// default chunker; that it gives the chunks chunkFile gives in this thread
// is checked by every test of search-chunker.test.ts): a process killed
// mid-file fails that file alone, which the indexer indexes by line windows
// and index_status shows; the next file gets a new process; the process
// ends when idle and index_status says so.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { at } from '../src/arrays.js';
import { Embedder } from '../src/index.js';
import { ChunkProcess } from '../src/search/chunk-process.js';
import { CHUNK_PIECE_BYTES } from '../src/search/chunk-server.js';
import { ChunkWorkerError } from '../src/search/chunk-worker.js';
import { chunkFile } from '../src/search/chunker.js';
import { FileStore, sha256 } from '../src/search/store.js';
import { registerSearchTools } from '../src/search/tools.js';
import { alive, assertCrashedByLineWindows, makeModel, PKG, requireBinary, tmpDir, until } from './helpers.js';

const CRASHING = new URL('./chunk-crash-process.js', import.meta.url);
let dir: string;
let e: Embedder;
const count = async (t: string) => (await e.tokenize(t)).length;
const OPTS = { countTokens: count, maxTokens: 128 };
const SRC = () => readFileSync(path.join(PKG, 'src/backoff.ts'), 'utf8');

before(async () => {
  dir = tmpDir();
  e = await Embedder.start({ model: makeModel(dir), binary: requireBinary(), healthIntervalMs: 0 });
});
after(async () => {
  await e.close();
  rmSync(dir, { recursive: true, force: true });
});

test("chunkPath: the process reads the file itself; the chunks are chunkFile's, the hash the SHA-256 of its bytes", async () => {
  // (no idle end between the files, however slow the machine: the starts are counted)
  const p = new ChunkProcess({ idleMs: 600_000 });
  try {
    // and a file whose chunks are many pieces
    const big = path.join(dir, 'big.ts');
    writeFileSync(
      big,
      Array.from({ length: 4000 }, (_, i) => `export function f${i}(x: number): number {\n  return x * ${i} + ${i % 7};\n}\n`).join('\n'),
    );
    assert.ok(readFileSync(big).length > 2 * CHUNK_PIECE_BYTES);
    for (const abs of [
      path.join(PKG, '..', 'src/engine.c'),
      path.join(PKG, 'src/search/chunker.ts'),
      path.join(PKG, '..', 'README.md'),
      big,
    ]) {
      const bytes = readFileSync(abs);
      const got = await p.chunkPath(path.basename(abs), abs, OPTS);
      assert.equal(got.hash, sha256(bytes));
      assert.deepEqual(got.chunks, await chunkFile(path.basename(abs), bytes.toString('utf8'), OPTS), abs);
    }
    assert.deepEqual([p.status().starts, p.status().crashes], [1, 0]);
    // big.ts's chunks came back in frames of at most CHUNK_PIECE_BYTES (and a little JSON around them), not one
    const answered = p.frames().answered;
    assert.ok(answered <= CHUNK_PIECE_BYTES + 4096, `largest answer of the chunker process ${answered} bytes`);
    await assert.rejects(
      p.chunkPath('gone.ts', path.join(dir, 'gone.ts'), OPTS),
      (err: unknown) => err instanceof ChunkWorkerError && err.kind === 'failed' && /ENOENT/.test(err.message),
    );
  } finally {
    await p.close();
  }
});

test('a failed token count fails the file (the process is fine), and the process goes on', async () => {
  const p = new ChunkProcess({ idleMs: 600_000 });
  try {
    const src = readFileSync(path.join(PKG, '..', 'src/engine.c'), 'utf8');
    await assert.rejects(
      p.chunk('engine.c', src, { ...OPTS, countTokens: async () => Promise.reject(new Error('no tokenizer')) }),
      (err: unknown) => err instanceof ChunkWorkerError && err.kind === 'failed' && !err.threadLost && /no tokenizer/.test(err.message),
    );
    assert.deepEqual(await p.chunk('engine.c', src, OPTS), await chunkFile('engine.c', src, OPTS));
    assert.deepEqual([p.status().starts, p.status().crashes], [1, 0]);
  } finally {
    await p.close();
  }
});

test('a process killed mid-file (by its pid) fails that file with kind crashed; the next file gets a new process', async () => {
  const p = new ChunkProcess({ idleMs: 600_000 });
  try {
    const src = SRC();
    let killed: number | undefined;
    const killer = async (t: string) => {
      if (killed === undefined) {
        killed = p.pid;
        assert.ok(killed && alive(killed));
        process.kill(killed, 'SIGKILL');
      }
      return count(t);
    };
    await assert.rejects(p.chunk('victim.ts', src, { ...OPTS, countTokens: killer }), (err: unknown) => {
      assert.ok(err instanceof ChunkWorkerError, String(err));
      assert.equal(err.kind, 'crashed');
      assert.ok(err.threadLost);
      assert.match(err.message, /^the chunker crashed: victim\.ts: chunker process \d+ (was killed by SIGKILL|exited with status \d+)/);
      return true;
    });
    assert.deepEqual(await p.chunk('backoff.ts', src, OPTS), await chunkFile('backoff.ts', src, OPTS));
    assert.notEqual(p.pid, killed, 'a new process');
    assert.deepEqual([p.status().starts, p.status().crashes], [2, 1]);
  } finally {
    await p.close();
  }
});

for (const how of ['exit', 'oom'] as const) {
  test(`a process that dies mid-file (${how}) fails that file with kind crashed; the next file gets a new process`, async () => {
    const p = new ChunkProcess({ script: CRASHING, heapMb: 32, idleMs: 600_000 });
    try {
      const src = SRC();
      await assert.rejects(p.chunk(`crash-${how}.ts`, src, OPTS), (err: unknown) => {
        assert.ok(err instanceof ChunkWorkerError, String(err));
        assert.equal(err.kind, 'crashed');
        assert.match(err.message, new RegExp(`crash-${how}\\.ts: chunker process \\d+ (exited|was killed)`));
        return true;
      });
      assert.deepEqual(await p.chunk('backoff.ts', src, OPTS), await chunkFile('backoff.ts', src, OPTS));
      assert.deepEqual([p.status().starts, p.status().crashes], [2, 1]);
    } finally {
      await p.close();
    }
  });
}

test('more crashes than allowed within a minute: the process is not started again, every later file fails with kind gave-up (line windows for the indexer)', async () => {
  const p = new ChunkProcess({ script: CRASHING, maxCrashes: 1, idleMs: 600_000 });
  try {
    const src = SRC();
    const kinds: string[] = [];
    for (const f of ['crash-exit-1.ts', 'crash-exit-2.ts', 'backoff.ts']) {
      await assert.rejects(p.chunk(f, src, OPTS), (err: unknown) => {
        assert.ok(err instanceof ChunkWorkerError && err.threadLost, String(err));
        kinds.push(err.kind);
        return true;
      });
    }
    assert.deepEqual(kinds, ['crashed', 'gave-up', 'gave-up']);
    assert.deepEqual([p.status().state, p.status().starts, p.status().crashes], ['failed', 2, 2]);
  } finally {
    await p.close();
  }
});

test('the process ends when idle (its state down, no pid) and starts again for the next file; closed, it refuses files', async () => {
  const p = new ChunkProcess({ idleMs: 50 });
  const src = SRC();
  try {
    assert.equal(p.state, 'down');
    const first = await p.chunk('backoff.ts', src, OPTS);
    const pid = p.pid;
    assert.ok(pid);
    await until(() => p.state === 'down', 'the idle process ended');
    await until(() => !alive(pid), 'its pid gone');
    assert.deepEqual(await p.chunk('backoff.ts', src, OPTS), first);
    assert.deepEqual([p.status().starts, p.status().crashes], [2, 0]);
  } finally {
    await p.close();
  }
  await assert.rejects(p.chunk('backoff.ts', src, OPTS), (err: unknown) => err instanceof ChunkWorkerError && err.kind === 'closed');
});

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
const body = (r: unknown) => JSON.parse(at((r as ToolResult).content, 0).text);

test('index_codebase: a file whose chunker process is killed mid-file is an error in index_status, indexed by line windows; the rest by syntax; the process ends when idle', async () => {
  const root = path.join(dir, 'repo');
  mkdirSync(root, { recursive: true });
  const files = ['backoff.ts', 'fallback.ts', 'arrays.ts'];
  for (const f of files) writeFileSync(path.join(root, f), readFileSync(path.join(PKG, 'src', f)));
  writeFileSync(path.join(root, 'crash-kill.ts'), readFileSync(path.join(PKG, 'src', 'binary.ts')));
  const server = new McpServer({ name: 'test', version: '0' });
  const tools = registerSearchTools(server, e, {
    root,
    store: 'file',
    watch: false,
    maxTokens: 128,
    chunker: 'process',
    chunkProcess: { script: CRASHING, idleMs: 300 },
  });
  const [a, b] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'test', version: '0' });
  await Promise.all([server.connect(a), client.connect(b)]);
  try {
    const r = body(await client.callTool({ name: 'index_codebase', arguments: {} }));
    assert.equal(r.walk.files, 4);
    assert.equal(r.filesChanged, 4);
    const st = body(await client.callTool({ name: 'index_status', arguments: {} }));
    assert.equal(st.files, 4, 'every file is in the index');
    const errors: { path: string; message: string }[] = st.errors;
    assert.deepEqual(
      errors.map((x) => x.path),
      ['crash-kill.ts'],
    );
    // (a kill on Windows is an exit status)
    assert.match(
      at(errors, 0).message,
      /the chunker crashed: crash-kill\.ts: chunker process \d+ (was killed by SIGKILL|exited with status \d+).*: indexed by line windows instead/,
    );
    assert.equal(st.chunker.kind, 'process');
    assert.equal(st.chunker.crashes, 1);
    // the files after the crash went to a new process (more than one if it idled out between files on a slow machine)
    assert.ok(st.chunker.starts >= 2, `${st.chunker.starts} processes started`);
    // no file in flight: the process ends, and index_status says so
    await until(async () => body(await client.callTool({ name: 'index_status', arguments: {} })).chunker.state === 'down', 'idle end');
    assert.equal(body(await client.callTool({ name: 'index_status', arguments: {} })).chunker.pid, null);
  } finally {
    await client.close();
    await tools.close();
  }
  const store = await FileStore.open(path.join(root, '.ggembed', 'index'));
  assertCrashedByLineWindows(store, files, 'crash-kill.ts');
});
