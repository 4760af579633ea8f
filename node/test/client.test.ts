// Every client method against the real `ggembed serve` on a generated model.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { at } from '../src/arrays.js';
import { Embedder, type EmbedderError } from '../src/index.js';
import { alive, assertClose, cEmbed, FAST, makeModel, requireBinary, texts, tmpDir, until } from './helpers.js';

let dir: string;
let model: string;
let bin: string;
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
});
after(async () => {
  (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
});

// Windows has named pipes where other systems have Unix sockets.
for (const transport of [process.platform === 'win32' ? 'pipe' : 'socket', 'stdio'] as const) {
  test(`every method over ${transport}; vectors equal the C command's`, async () => {
    const e = await Embedder.start({ model, binary: bin, transport, ...FAST });
    try {
      assert.equal(e.state, 'ready');
      const info = e.info();
      assert.equal(info.transport, transport);
      assert.equal(info.arch, 'bert');
      assert.equal(info.dims, 64);
      assert.equal(info.context, 128);
      assert.equal(info.hasWeights, true);
      assert.equal(info.degraded, false);

      const input = ['hello world', 'The quick brown fox jumps over the lazy dog.', '', 'naïve café — ünïcödé ✓', 'x '.repeat(300)];
      const ref = cEmbed(model, input);
      const r = await e.embedBatch(input);
      assert.equal(r.length, input.length);
      r.forEach((x, i) => {
        assert.equal(x.index, i);
        assert.equal(x.degraded, false);
        assert.equal(x.error, undefined);
        assert.ok(x.embedding instanceof Float32Array);
        assert.equal(x.tokens, at(ref, i).tokens, `tokens of text ${i}`);
        assert.equal(x.truncated, at(ref, i).truncated, `truncated of text ${i}`);
        assertClose(x.embedding, at(ref, i).embedding, 1e-6, `text ${i}`);
      });
      assert.equal(at(r, 4).truncated, true);

      const one = await e.embed('hello world');
      assertClose(one.embedding, at(ref, 0).embedding);

      const ids = await e.tokenize('hello world');
      assert.equal(ids.length, at(ref, 0).tokens);
      const plain = await e.tokenize('hello world', { addSpecial: false });
      assert.deepEqual(plain, ids.slice(1, -1));
      assert.equal(await e.countTokens('hello world'), ids.length);
      assert.equal(await e.countTokens('hello world', { addSpecial: false }), plain.length);

      const h = await e.health();
      assert.equal(h.state, 'ready');
      assert.equal(h.degraded, false);
      assert.ok(h.pid && alive(h.pid));
      assert.ok(h.server && h.server.state === 0 && h.server.connections >= 1);

      // the server counts a text once its answer is written: that may be just after the client read it
      await until(
        async () => ((await e.stats()).server?.texts ?? 0) >= input.length + 1,
        `the server to count ${input.length + 1} texts`,
        5000,
      );
      const s = await e.stats();
      assert.ok(s.server);
      assert.equal(s.client.texts, input.length + 1);

      const pid = h.pid!;
      await e.close();
      assert.equal(e.state, 'closed');
      await until(() => !alive(pid), 'the server to exit');
      await assert.rejects(e.embed('x'), (err: EmbedderError) => err.code === 'CLOSED');
    } finally {
      await e.close();
    }
  });
}

test('options: dims, normalize, prefix, f16, no-truncate match the C command', async () => {
  const e = await Embedder.start({ model, binary: bin, ...FAST });
  try {
    const t = ['search for a needle', 'in a haystack'];
    const d = await e.embedBatch(t, { dims: 16 });
    const refD = cEmbed(model, t, ['--dims', '16']);
    d.forEach((x, i) => {
      assertClose(x.embedding, at(refD, i).embedding);
    });
    const raw = await e.embedBatch(t, { normalize: false });
    const refRaw = cEmbed(model, t, ['--no-normalize']);
    raw.forEach((x, i) => {
      assertClose(x.embedding, at(refRaw, i).embedding, 1e-5);
    });
    const p = await e.embedBatch(t, { prefix: 'query: ' });
    const refP = cEmbed(model, t, ['--prefix', 'query: ']);
    p.forEach((x, i) => {
      assertClose(x.embedding, at(refP, i).embedding);
      assert.equal(x.tokens, at(refP, i).tokens);
    });
    const half = await e.embedBatch(t, { half: true });
    const full = cEmbed(model, t);
    half.forEach((x, i) => {
      assertClose(x.embedding, at(full, i).embedding, 2e-3);
    });
    await assert.rejects(e.embed('word '.repeat(400), { truncate: false }), (err: EmbedderError) => err.code === 'TOO_LONG');
    await assert.rejects(e.embed('x', { dims: 1000 }), (err: EmbedderError) => err.code === 'INVALID');
  } finally {
    await e.close();
  }
});

test('a large batch is split to the server limits (max-texts 7, max-frame 4096) and answered in order', async () => {
  const e = await Embedder.start({ model, binary: bin, ...FAST, serveArgs: ['--max-texts', '7', '--max-frame', '4096'] });
  try {
    assert.equal(e.info().maxTexts, 7);
    const t = texts(100);
    const ref = cEmbed(model, t);
    const r = await e.embedBatch(t);
    assert.equal(r.length, 100);
    r.forEach((x, i) => {
      assertClose(x.embedding, at(ref, i).embedding, 1e-6, `text ${i}`);
    });
    const embedRequests = (await e.stats()).server?.embed_requests;
    assert.ok(embedRequests !== undefined && embedRequests >= 15, `expected >= 15 EMBED requests, got ${embedRequests}`);
    // concurrent callers are multiplexed on one connection
    const many = await Promise.all(t.slice(0, 20).map((x) => e.embed(x)));
    many.forEach((x, i) => {
      assertClose(x.embedding, at(ref, i).embedding);
    });
  } finally {
    await e.close();
  }
});

test('AbortSignal sends CANCEL; per-request timeout', async () => {
  const e = await Embedder.start({ model, binary: bin, ...FAST, env: { GGEMBED_TEST_DELAY_MS: '300' }, serveArgs: ['--max-texts', '4'] });
  try {
    const ac = new AbortController();
    const p = e.embedBatch(texts(40), { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(p, (err: EmbedderError) => err.code === 'ABORTED');
    await until(async () => ((await e.stats()).server?.cancelled ?? 0) >= 1, 'the server to count a cancelled request');
    await assert.rejects(e.embed('slow', { timeoutMs: 50 }), (err: EmbedderError) => err.code === 'TIMEOUT');
    const already = AbortSignal.abort();
    await assert.rejects(e.embed('x', { signal: already }));
    // the client still works afterwards
    const ok = await e.embed('after abort');
    assert.equal(ok.degraded, false);
  } finally {
    await e.close();
  }
});

test('the server process does not outlive the Node process', async () => {
  const { spawn } = await import('node:child_process');
  const idx = new URL('../src/index.js', import.meta.url).href; // a URL: a Windows path is no import specifier
  for (const how of ['exit', 'SIGKILL']) {
    const script = `import { Embedder } from ${JSON.stringify(idx)};
      const e = await Embedder.start({ model: ${JSON.stringify(model)}, binary: ${JSON.stringify(bin)}, threads: 1, fallback: false });
      console.log(e.pid);
      setTimeout(() => process.exit(0), 30000);
      ${how === 'exit' ? 'process.exit(0);' : ''}`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
    assert.ok(pid > 0);
    if (how === 'SIGKILL') child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await until(() => !alive(pid), `the server to exit after the Node process ${how}`, 5000);
  }
});
