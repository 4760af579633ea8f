// The package's bins as a user runs them: --help, one clear line on a bad
// option or a configuration error, a taken port, the endpoint over HTTP, and
// degraded transitions logged once each.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { copyFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CliError, embedderOptionsFrom, logTransitions, parseCli } from '../src/cli-options.js';
import type { Embedder, EmbedderStatus } from '../src/embedder.js';
import { MCP_OPTIONS } from '../src/mcp.js';
import { OPENAI_OPTIONS } from '../src/openai.js';
import { PULL_OPTIONS } from '../src/pull.js';
import { assertClose, cEmbed, copyBinary, makeModel, PKG, requireBinary, tmpDir, until } from './helpers.js';

let dir: string;
let model: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const script = (name: string) => path.join(PKG, 'dist/src', `${name}.js`);

function run(name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [script(name), ...args], {
    encoding: 'utf8',
    timeout: 30000,
    env: { ...process.env, GGEMBED_MODEL: '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exactly one line on stderr, starting with the bin's name. */
function oneLine(name: string, stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.ok(lines[0]!.startsWith(`${name}: `), lines[0]);
  return lines[0]!;
}

test('--help on every bin: usage and every option on stdout, status 0', () => {
  for (const [name, options] of [
    ['mcp', ['--model', '--fallback', '--max-texts', '--threads']],
    [
      'openai',
      ['--model', '--port', '--api-key', '--cors-origin', '--allow-host', '--allow-degraded', '--max-inputs', '--max-tokens', '--fallback'],
    ],
    ['pull', ['--list', '--dir', '--sha256']],
  ] as const) {
    const r = run(name, ['--help']);
    assert.equal(r.status, 0, `${name} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: ggembed-${name} `));
    for (const o of options) assert.ok(r.stdout.includes(o), `${name} --help names ${o}`);
    assert.equal(r.stderr, '');
  }
  assert.equal(parseCli(['-h'], MCP_OPTIONS).help, true);
});

const TABLES = { mcp: MCP_OPTIONS, openai: OPENAI_OPTIONS, pull: PULL_OPTIONS };

/** What a bin does with its arguments before it starts anything. */
function parseLikeBin(name: keyof typeof TABLES, args: string[], env: NodeJS.ProcessEnv = {}): void {
  const cli = parseCli(args, TABLES[name], { env, ...(name === 'pull' ? { positionals: { min: 0, max: 1 } } : {}) });
  if (name !== 'pull' && !cli.help) embedderOptionsFrom(cli.values, env);
}

test('bad options and environment values: a CliError naming the option and the mistake', () => {
  const cases: [keyof typeof TABLES, string[], RegExp, NodeJS.ProcessEnv?][] = [
    ['mcp', ['--model', model, '--bogus'], /^unknown option --bogus$/],
    ['openai', ['--model', model, '--prot', '1'], /^unknown option --prot$/],
    ['pull', ['-x'], /^unknown option -x$/],
    ['mcp', ['--model'], /^option --model needs a value$/],
    ['openai', ['--model', '--port', '80'], /^option --model needs a value$/],
    ['openai', ['--model', model, '--port', 'eighty'], /^--port: expected a whole number \(got 'eighty'\)$/],
    ['openai', ['--model', model, '--port', '70000'], /^--port: must be at most 65535/],
    ['mcp', ['--model', model, '--threads', '0'], /^--threads: must be at least 1/],
    ['mcp', ['--model', model, '--threads', '2x'], /^--threads: expected a whole number/],
    ['mcp', ['--model', model, '--threads', ''], /^--threads: expected a whole number/],
    ['mcp', ['--model', model, '--fallback', 'sometimes'], /^--fallback: expected on-failure, always or never/],
    ['mcp', ['--model', model, '--transport', 'carrier-pigeon'], /^--transport: expected auto, socket, pipe or stdio/],
    ['mcp', ['--model', model, '--max-texts', '-5'], /^option --max-texts needs a value$/],
    ['mcp', ['--model', model, 'stray'], /^unexpected argument 'stray'$/],
    ['mcp', ['--model', model, '--model', model], /^option --model is given more than once$/],
    ['mcp', ['--help=yes'], /^option --help takes no value$/],
    ['openai', ['--model', model, '--cors-origin', 'localhost:3000'], /^--cors-origin: expected an origin/],
    [
      'openai',
      ['--model', model, '--cors-origin', 'http://a.example', '--cors-origin', 'http://b.example/path'],
      /^--cors-origin: expected an origin.*got 'http:\/\/b\.example\/path'/,
    ],
    ['openai', ['--model', model, '--api-key', 'short'], /^--api-key: must be at least 8 characters/],
    ['openai', ['--model', model, '--sha256', 'abc'], /^--sha256: expected 64 hexadecimal digits/],
    ['openai', ['--model', model, '--source-url', 'ftp://x/y'], /^--source-url: expected an http/],
    ['openai', ['--model', model], /^env GGEMBED_PORT: expected a whole number \(got 'x'\)$/, { GGEMBED_PORT: 'x' }],
    ['mcp', [], /^env GGEMBED_THREADS: must be at least 1/, { GGEMBED_MODEL: model, GGEMBED_THREADS: '0' }],
    ['mcp', ['--model', model], /^env GGEMBED_RECOVERY_INTERVAL_MS: expected a whole number/, { GGEMBED_RECOVERY_INTERVAL_MS: 'soon' }],
    ['mcp', [], /^a model is required: --model FILE or env GGEMBED_MODEL$/],
    ['pull', ['a', 'b'], /^unexpected argument 'b'$/],
    ['pull', ['--sha256', 'xyz', 'bge-small-en-v1.5-q8_0'], /^--sha256: expected 64 hexadecimal digits/],
  ];
  for (const [name, args, re, env] of cases) {
    assert.throws(
      () => parseLikeBin(name, args, env),
      (e: unknown) => e instanceof CliError && re.test(e.message),
      `${name} ${args.join(' ')}`,
    );
  }
  // and what is right is taken
  const ok = parseCli(
    ['-m', model, '--port=0', '--cors-origin', 'http://a.example:8080', '--cors-origin', '*', '--allow-degraded'],
    OPENAI_OPTIONS,
    {
      env: {},
    },
  );
  assert.deepEqual(ok.values, { model, port: 0, 'cors-origin': ['http://a.example:8080', '*'], 'allow-degraded': true });
  const { opts, fallback } = embedderOptionsFrom(
    parseCli(['--threads', '3', '--fallback', 'always'], MCP_OPTIONS, { env: { GGEMBED_MODEL: model } }).values,
    {},
  );
  assert.equal(fallback, 'always');
  assert.equal(opts.model, model);
  assert.equal(opts.threads, 3);
});

test('a bad option ends a bin with one line and status 2, no stack trace', () => {
  for (const [name, args, re] of [
    ['mcp', ['--model', model, '--bogus'], /unknown option --bogus/],
    ['openai', ['--model', model, '--port', 'eighty'], /--port: expected a whole number \(got 'eighty'\)/],
    ['pull', [], /give a NAME/],
    ['pull', ['no-such-model'], /no model named 'no-such-model'/],
  ] as const) {
    const r = run(name, [...args]);
    assert.equal(r.status, 2, `${name} ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
    const line = oneLine(`ggembed-${name}`, r.stderr);
    assert.match(line, re);
    assert.match(line, new RegExp(`\\(see ggembed-${name} --help\\)$`));
  }
});

test('a configuration error ends the bins with one line and status 1 (no silent fallback vectors)', () => {
  for (const name of ['mcp', 'openai']) {
    const port = name === 'openai' ? ['--port', '0'] : [];
    const missing = run(name, ['--model', path.join(dir, 'missing.gguf'), '--binary', bin, ...port]);
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(oneLine(`ggembed-${name}`, missing.stderr), /cannot start the embedder: .*missing\.gguf.*--fallback always/);
    const nobin = run(name, ['--model', model, '--binary', path.join(dir, 'no-ggembed'), ...port]);
    assert.equal(nobin.status, 1, nobin.stderr);
    assert.match(oneLine(`ggembed-${name}`, nobin.stderr), /binary not found/);
  }
});

/** Starts ggembed-openai; resolves with its URL once it listens. */
async function startOpenAI(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [script('openai'), '--threads', '1', '--port', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let buf = '';
  child.stderr?.on('data', (d) => {
    buf += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
      if (m?.[1]) {
        clearInterval(t);
        resolve(m[1]);
      }
    }, 20);
    child.once('exit', (c) => {
      clearInterval(t);
      reject(new Error(`ggembed-openai exited ${c}: ${buf}`));
    });
  });
  return { child, url, stderr: () => buf };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

test('ggembed-openai over HTTP: vectors equal the C command, text/plain refused', async () => {
  const { child, url } = await startOpenAI(['--model', model, '--binary', bin]);
  try {
    const input = ['first text', 'second text'];
    const ref = cEmbed(model, input);
    const res = await fetch(`${url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x', input }),
    });
    assert.equal(res.status, 200);
    const j = (await res.json()) as { data: { embedding: number[] }[]; degraded: boolean };
    j.data.forEach((d, i) => {
      assertClose(d.embedding, ref[i]!.embedding);
    });
    assert.equal(j.degraded, false);
    // fetch sends a string body as text/plain, as a web page can without a preflight
    const plain = await fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input }) });
    assert.equal(plain.status, 415);
  } finally {
    await stop(child);
  }
});

test('ggembed-openai: a port in use is one line and status 1, before any model is loaded', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const t0 = Date.now();
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [script('openai'), '--model', model, '--binary', bin, '--port', String(port)], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      c.stderr.on('data', (d) => {
        err += d;
      });
      c.once('exit', (status) => resolve({ status, stderr: err }));
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(oneLine('ggembed-openai', r.stderr), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.ok(Date.now() - t0 < 15000);
  } finally {
    blocker.close();
  }
});

test('ggembed-openai --fallback always: stays up, 503 by default, one stderr line per degraded/recovered transition', async () => {
  const d = tmpDir();
  const copy = copyBinary(d);
  const env = { GGEMBED_RECOVERY_INTERVAL_MS: '150', GGEMBED_RESTART_BACKOFF_MS: '20', GGEMBED_HEALTH_INTERVAL_MS: '100' };
  const { child, url, stderr } = await startOpenAI(['--model', model, '--binary', copy, '--fallback', 'always'], env);
  const post = () =>
    fetch(`${url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'x' }),
    });
  try {
    assert.equal((await post()).status, 200);
    const health = (await (await fetch(`${url}/health`)).json()) as { pid: number };
    rmSync(copy);
    process.kill(health.pid, 'SIGKILL');
    await until(() => /degraded/.test(stderr()), 'the degraded line');
    const res = await post();
    assert.equal(res.status, 503);
    const body = (await res.json()) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'embedder_degraded');
    // recovery attempts keep failing for a while: no more lines
    await new Promise((r) => setTimeout(r, 800));
    copyFileSync(bin, copy);
    await until(() => /recovered/.test(stderr()), 'the recovered line');
    assert.equal((await post()).status, 200);
    const lines = stderr()
      .split('\n')
      .filter((l) => /degraded|recovered/.test(l));
    assert.equal(lines.length, 2, stderr());
    assert.match(lines[0]!, /^ggembed-openai: degraded: serving fallback vectors/);
    assert.match(lines[1]!, /^ggembed-openai: recovered/);
  } finally {
    await stop(child);
    rmSync(d, { recursive: true, force: true });
  }
});

test('transitions are logged once each: degraded, failed, recovered; restarts and reason changes are not', () => {
  const fake = Object.assign(new EventEmitter(), {
    status: { state: 'ready', degraded: false, reason: null, error: null, since: 0 } as EmbedderStatus,
  });
  const lines: string[] = [];
  logTransitions(fake as unknown as Embedder, 'ggembed-x', (l) => lines.push(l));
  const to = (state: EmbedderStatus['state'], reason: string | null = null) => {
    const from = fake.status.state;
    fake.status = { state, degraded: state === 'degraded', reason, error: null, since: 0 };
    fake.emit('status', { ...fake.status, from });
  };
  to('restarting', 'exited');
  to('degraded', 'restarts spent');
  to('degraded', 'binary not found');
  to('ready');
  to('restarting', 'exited');
  to('ready');
  to('restarting', 'model changed');
  to('failed', 'model file is not GGUF');
  to('ready');
  to('closed');
  assert.deepEqual(lines, [
    "ggembed-x: degraded: serving fallback vectors (not the model's): restarts spent\n",
    "ggembed-x: recovered: serving the model's vectors again\n",
    'ggembed-x: failed: requests get errors: model file is not GGUF\n',
    "ggembed-x: recovered: serving the model's vectors again\n",
  ]);
  // a bin that starts degraded says so at once
  const started: string[] = [];
  const deg = Object.assign(new EventEmitter(), {
    status: { state: 'degraded', degraded: true, reason: 'no model', error: null, since: 0 } as EmbedderStatus,
  });
  logTransitions(deg as unknown as Embedder, 'ggembed-x', (l) => started.push(l));
  assert.deepEqual(started, ["ggembed-x: degraded: serving fallback vectors (not the model's): no model\n"]);
});
