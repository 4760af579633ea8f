// The supervisor's state machine and the behaviour it promises: start-up
// errors are loud, fallback is opted into and flagged, a server that stopped
// because its model changed has the model checked before a restart, timeouts
// and signals leak no listeners, and a script that forgets close() exits.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Embedder, type EmbedderError, fallbackEmbedding, type StatusEvent, type SupervisorState } from '../src/index.js';
import { checkTransition, classifyExit } from '../src/supervisor.js';
import { alive, assertClose, cEmbed, FAST, makeModel, requireBinary, texts, tmpDir, until } from './helpers.js';

let dir: string;
let model: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const STATES: SupervisorState[] = ['starting', 'ready', 'restarting', 'degraded', 'failed', 'closed'];
// the diagram in supervisor.ts, written out again as pairs
const LEGAL = new Set([
  'starting>ready',
  'starting>degraded',
  'starting>closed',
  'ready>restarting',
  'ready>closed',
  'restarting>ready',
  'restarting>degraded',
  'restarting>failed',
  'restarting>closed',
  'degraded>ready',
  'degraded>closed',
  'failed>ready',
  'failed>closed',
]);

test('state machine: exactly the transitions of the diagram; exits classified by who caused them', () => {
  for (const from of STATES) {
    for (const to of STATES) {
      if (LEGAL.has(`${from}>${to}`)) assert.doesNotThrow(() => checkTransition(from, to));
      else assert.throws(() => checkTransition(from, to), /illegal transition/, `${from} -> ${to}`);
    }
  }
  assert.equal(classifyExit(null, 'SIGKILL', 'linux'), 'other');
  assert.equal(classifyExit(null, 'SIGTERM', 'linux'), 'other');
  for (const s of ['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT']) assert.equal(classifyExit(null, s, 'linux'), 'crash');
  assert.equal(classifyExit(3, null, 'linux'), 'crash');
  assert.equal(classifyExit(4, null, 'linux'), 'model-changed');
  assert.equal(classifyExit(0, null, 'linux'), 'other');
  assert.equal(classifyExit(1, null, 'linux'), 'other');
  assert.equal(classifyExit(0xc0000005, null, 'win32'), 'crash');
  assert.equal(classifyExit(-1073741819, null, 'win32'), 'crash'); // the same, signed
  assert.equal(classifyExit(1, null, 'win32'), 'other'); // TerminateProcess by someone else
});

/** Tests that count transitions: no health checks, so a slow machine adds no 'hung' restart. */
const EXACT = { healthIntervalMs: 0 };

function recordStatus(e: Embedder, into: string[]): void {
  e.on('status', (s) => into.push(`${s.from}>${s.state}`));
}

test('configuration errors reject start; fallback "always" resolves degraded, says why, flags every result', async () => {
  const missing = path.join(dir, 'no-such-model.gguf');
  await assert.rejects(
    Embedder.start({ model: missing, binary: bin, ...FAST }),
    (err: EmbedderError) => err.code === 'INTEGRITY' && err.message.includes(missing),
  );
  await assert.rejects(
    Embedder.start({ model, binary: path.join(dir, 'no-such-ggembed'), ...FAST }),
    (err: EmbedderError) => err.code === 'UNAVAILABLE' && /binary not found/.test(err.message),
  );
  const notGguf = path.join(dir, 'not.gguf');
  writeFileSync(notGguf, 'this is not a model file');
  await assert.rejects(
    Embedder.start({ model: notGguf, binary: bin, ...FAST }),
    (err: EmbedderError) => err.code === 'INTEGRITY' && /refuses/.test(err.message),
  );

  const seen: StatusEvent[] = [];
  const e = await Embedder.start({
    model: missing,
    binary: bin,
    ...FAST,
    fallback: 'always',
    recoveryIntervalMs: 60000,
    onStatus: (s) => seen.push(s),
  });
  try {
    assert.equal(e.state, 'degraded');
    assert.equal(e.status.degraded, true);
    assert.ok(e.status.reason!.includes(missing), e.status.reason!);
    assert.deepEqual(
      seen.map((s) => `${s.from}>${s.state}`),
      ['starting>degraded'],
    );
    assert.equal(seen[0]!.degraded, true);
    const r = await e.embedBatch(['one', 'two']);
    r.forEach((x, i) => {
      assert.equal(x.degraded, true);
      assert.ok(x.reason!.includes(missing));
      assert.deepEqual(x.embedding, fallbackEmbedding(['one', 'two'][i]!, 384));
    });
  } finally {
    await e.close();
  }
  assert.equal(seen.at(-1)!.state, 'closed');
});

test('fallback after a successful start is on by default and loud: one status event per transition', async () => {
  const d = tmpDir();
  const copy = path.join(d, 'ggembed');
  copyFileSync(bin, copy);
  const e = await Embedder.start({ model, binary: copy, ...FAST, maxRestarts: 1, ...EXACT });
  const seen: string[] = [];
  recordStatus(e, seen);
  try {
    rmSync(copy);
    process.kill(e.pid!, 'SIGKILL');
    await until(() => e.state === 'degraded', 'degraded');
    assert.deepEqual(seen, ['ready>restarting', 'restarting>degraded']);
    assert.equal(e.status.degraded, true);
    assert.match(e.status.reason!, /restarts/);
    const r = await e.embed('x');
    assert.equal(r.degraded, true);
    copyFileSync(bin, copy);
    await until(() => e.state === 'ready', 'recovery');
    assert.deepEqual(seen, ['ready>restarting', 'restarting>degraded', 'degraded>ready']);
    assert.equal(e.status.degraded, false);
    assert.equal(e.status.reason, null);
  } finally {
    await e.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('1,000 concurrent calls and a 1,200-text batch on one AbortSignal with timeouts: no warning at all', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const e = await Embedder.start({ model, binary: bin, ...FAST, serveArgs: ['--max-texts', '10'] });
  try {
    const ac = new AbortController();
    const corpus = texts(1200, 'listeners');
    const ref = cEmbed(model, corpus.slice(0, 3));
    const singles = await Promise.all(corpus.slice(0, 1000).map((t) => e.embed(t, { signal: ac.signal, timeoutMs: 120000 })));
    assert.equal(singles.length, 1000);
    const batch = await e.embedBatch(corpus, { signal: ac.signal, timeoutMs: 120000 });
    assert.equal(batch.length, 1200);
    for (let i = 0; i < 3; i++) assertClose(batch[i]!.embedding, ref[i]!.embedding);
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
    await e.close();
  }
  assert.deepEqual(
    warnings.map((w) => `${w.name}: ${w.message}`),
    [],
  );
});

test('a script that forgets close() exits when idle, and its server with it; asyncDispose closes', async () => {
  const idx = fileURLToPath(new URL('../src/index.js', import.meta.url));
  for (const transport of ['socket', 'stdio']) {
    const script = `import { Embedder } from ${JSON.stringify(idx)};
      const e = await Embedder.start({ model: ${JSON.stringify(model)}, binary: ${JSON.stringify(bin)}, threads: 1, transport: '${transport}', healthIntervalMs: 50 });
      const r = await e.embed('still answered before the exit');
      console.log(e.pid, r.embedding.length);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 15000);
      child.once('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    assert.equal(code, 0, `the script (${transport}) exited by itself`);
    const [pid, dims] = out.trim().split(' ').map(Number);
    assert.equal(dims, 64);
    await until(() => !alive(pid!), 'the server to exit with the script', 5000);
  }

  let pid: number;
  {
    await using e = await Embedder.start({ model, binary: bin, ...FAST });
    pid = e.pid!;
    assert.equal((await e.embed('disposed')).degraded, false);
  }
  await until(() => !alive(pid), 'the server to exit after asyncDispose', 5000);
});

/** The wrapper below is a shell script (and finds the server with pgrep). */
const POSIX_SH = { skip: process.platform === 'win32' ? 'the exit-4 wrapper is a shell script' : false };

/**
 * A binary that runs the real server and, when FLAG exists, exits 4 after it
 * (the server's "model changed" status) however the server ended.
 */
function exit4Wrapper(d: string): { binary: string; flag: string; serverPid: (wrapperPid: number) => number } {
  const binary = path.join(d, 'ggembed-exit4');
  const flag = path.join(d, 'exit4');
  writeFileSync(binary, `#!/bin/sh\n"${bin}" "$@"\nst=$?\nif [ -f "${flag}" ]; then rm -f "${flag}"; exit 4; fi\nexit $st\n`);
  chmodSync(binary, 0o755);
  const serverPid = (w: number) =>
    Number(
      execFileSync('pgrep', ['-P', String(w)])
        .toString()
        .trim()
        .split('\n')[0],
    );
  return { binary, flag, serverPid };
}

function breakModel(m: string): void {
  const fd = openSync(m, 'r+');
  writeSync(fd, Buffer.from('NOTGGUF!'), 0, 8, 0);
  closeSync(fd);
}

test(
  'exit 4 (model changed): the model is checked before the restart; a bad file without a source fails loudly, then recovers',
  POSIX_SH,
  async () => {
    const d = tmpDir();
    const m = path.join(d, 'm.gguf');
    copyFileSync(model, m);
    const w = exit4Wrapper(d);
    const e = await Embedder.start({ model: m, binary: w.binary, ...FAST, ...EXACT });
    const seen: string[] = [];
    recordStatus(e, seen);
    const exits: (number | null)[] = [];
    e.on('exit', (x) => exits.push(x.code));
    try {
      assert.equal((await e.embed('before')).degraded, false);
      writeFileSync(w.flag, '');
      breakModel(m);
      process.kill(w.serverPid(e.pid!), 'SIGKILL');
      await until(() => e.state === 'failed', 'failed');
      assert.deepEqual(exits, [4]);
      assert.deepEqual(seen, ['ready>restarting', 'restarting>failed']);
      assert.equal(e.status.degraded, false, 'a bad model is an error, not fallback vectors');
      assert.equal(e.status.error?.code, 'INTEGRITY');
      assert.match(e.status.reason!, /refuses/);
      await assert.rejects(e.embed('x'), (err: EmbedderError) => err.code === 'INTEGRITY');
      copyFileSync(model, m);
      await until(() => e.state === 'ready', 'recovery once the file is good');
      assertClose((await e.embed('after')).embedding, cEmbed(model, ['after'])[0]!.embedding);
    } finally {
      await e.close();
      rmSync(d, { recursive: true, force: true });
    }
  },
);

test('exit 4 (model changed) with a source URL: downloaded again and verified before the restart', POSIX_SH, async () => {
  const good = readFileSync(model);
  const sha = createHash('sha256').update(good).digest('hex');
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': good.length });
    res.end(good);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const d = tmpDir();
  const m = path.join(d, 'm.gguf');
  copyFileSync(model, m);
  const w = exit4Wrapper(d);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m.gguf`;
  const e = await Embedder.start({ model: m, binary: w.binary, ...FAST, sha256: sha, sourceUrl: url, cacheDir: d, ...EXACT });
  const seen: string[] = [];
  recordStatus(e, seen);
  const redownloads: string[] = [];
  e.on('redownload', (r) => redownloads.push(r.reason));
  const exits: (number | null)[] = [];
  e.on('exit', (x) => exits.push(x.code));
  try {
    writeFileSync(w.flag, '');
    breakModel(m); // no request until the kill: a server that checks its file itself finds nothing while idle
    process.kill(w.serverPid(e.pid!), 'SIGKILL');
    const r = await e.embedBatch(['during', 'the', 'change']);
    for (const x of r) assert.equal(x.degraded, false);
    await until(() => exits.length === 1 && e.state === 'ready', 'the restart');
    assert.deepEqual(exits, [4]);
    assert.equal(redownloads.length, 1);
    assert.deepEqual(readFileSync(m), good);
    assert.ok(!seen.includes('restarting>failed') && !seen.includes('restarting>degraded'), seen.join(', '));
    assert.ok(!existsSync(w.flag));
  } finally {
    await e.close();
    server.close();
    rmSync(d, { recursive: true, force: true });
  }
});

/** Whether this ggembed stops with MODEL_CHANGED and status 4 (its `serve --help` says so). */
function serverHasModelChanged(): boolean {
  const r = spawnSync(requireBinary(), ['serve', '--help'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.includes('MODEL_CHANGED');
}
const REAL_EXIT4 = { skip: serverHasModelChanged() ? false : 'this ggembed predates MODEL_CHANGED and exit status 4' };

test(
  'the real server: a model truncated under it ends in MODEL_CHANGED and exit 4; the check fails loudly without a source',
  REAL_EXIT4,
  async () => {
    const d = tmpDir();
    const m = path.join(d, 'm.gguf');
    copyFileSync(model, m);
    const e = await Embedder.start({ model: m, binary: bin, ...FAST, ...EXACT });
    const seen: string[] = [];
    recordStatus(e, seen);
    const exits: (number | null)[] = [];
    e.on('exit', (x) => exits.push(x.code));
    try {
      assert.equal((await e.embed('before')).degraded, false);
      truncateSync(m, Math.floor(readFileSync(m).length / 2));
      await assert.rejects(e.embed('after the truncation'), (err: EmbedderError) => err.code === 'INTEGRITY');
      assert.deepEqual(exits, [4]);
      assert.deepEqual(seen, ['ready>restarting', 'restarting>failed']);
      assert.equal(e.status.degraded, false);
      copyFileSync(model, m);
      await until(() => e.state === 'ready', 'recovery once the file is good');
      assertClose((await e.embed('after')).embedding, cEmbed(model, ['after'])[0]!.embedding);
    } finally {
      await e.close();
      rmSync(d, { recursive: true, force: true });
    }
  },
);

test(
  'the real server: a model overwritten in place is downloaded again (SHA-256 differs) and the request answered from it',
  REAL_EXIT4,
  async () => {
    const good = readFileSync(model);
    const sha = createHash('sha256').update(good).digest('hex');
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': good.length });
      res.end(good);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const d = tmpDir();
    const m = path.join(d, 'm.gguf');
    copyFileSync(model, m);
    const other = makeModel(d, 'other.gguf', ['--seed', '7']);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m.gguf`;
    const e = await Embedder.start({ model: m, binary: bin, ...FAST, ...EXACT, sha256: sha, sourceUrl: url, cacheDir: d });
    const exits: (number | null)[] = [];
    e.on('exit', (x) => exits.push(x.code));
    try {
      writeFileSync(m, readFileSync(other)); // cp other.gguf model.gguf
      const r = await e.embed('answered by the right model');
      assert.equal(r.degraded, false);
      assertClose(r.embedding, cEmbed(model, ['answered by the right model'])[0]!.embedding);
      assert.deepEqual(exits, [4]);
      assert.deepEqual(readFileSync(m), good);
    } finally {
      await e.close();
      server.close();
      rmSync(d, { recursive: true, force: true });
    }
  },
);
