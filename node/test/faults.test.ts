// Fault handling against the real server: kill -9, SIGSTOP, a deleted
// binary, a corrupted model, a poison text. No request is lost or answered
// twice, the right error or degraded flag appears, recovery follows.
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { at } from '../src/arrays.js';
import { Embedder, EmbedderError, fallbackEmbedding } from '../src/index.js';
import { alive, assertClose, cEmbed, copyBinary, FAST, makeModel, requireBinary, sleep, texts, tmpDir, until } from './helpers.js';

let dir: string;
let model: string;
let bin: string;
let corpus: string[];
let ref: { tokens: number; embedding: number[] }[];
before(() => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
  corpus = texts(1000, 'fault');
  ref = cEmbed(model, corpus);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function record(e: Embedder) {
  const ev: { name: string; arg: unknown }[] = [];
  for (const name of ['start', 'exit', 'restart', 'degraded', 'recovered'] as const) e.on(name, (arg: unknown) => ev.push({ name, arg }));
  return ev;
}

function assertAllReal(r: Awaited<ReturnType<Embedder['embedBatch']>>, expect: typeof ref) {
  assert.equal(r.length, expect.length);
  r.forEach((x, i) => {
    assert.equal(x.index, i);
    assert.equal(x.error, undefined, `text ${i}: ${x.error?.message}`);
    assert.equal(x.degraded, false, `text ${i} degraded`);
    assert.equal(x.tokens, at(expect, i).tokens);
    assertClose(x.embedding, at(expect, i).embedding, 1e-6, `text ${i}`);
  });
}

test('kill -9 during a batch of 1,000 texts: restarted, every text answered once with the right vector', async () => {
  // small requests and a slow engine so the kill lands mid-batch
  const e = await Embedder.start({ model, binary: bin, ...FAST, env: { GGEMBED_TEST_DELAY_MS: '5' }, serveArgs: ['--max-texts', '25'] });
  const ev = record(e);
  try {
    const pid = e.pid!;
    const p = e.embedBatch(corpus);
    await until(async () => ((await e.stats()).server?.texts ?? 0) >= 100, 'the batch to be under way');
    process.kill(pid, 'SIGKILL');
    const r = await p;
    assertAllReal(r, ref);
    assert.ok(
      ev.some((x) => x.name === 'exit'),
      'an exit event',
    );
    assert.ok(
      ev.some((x) => x.name === 'restart'),
      'a restart event',
    );
    assert.equal(ev.filter((x) => x.name === 'degraded').length, 0);
    assert.notEqual(e.pid, pid);
    assert.ok(!alive(pid));
    const s = await e.stats();
    assert.ok(s.client.replayed >= 1, 'requests in flight were re-sent');
    assert.equal(s.client.fallbackTexts, 0);
    assert.equal(e.state, 'ready');
  } finally {
    await e.close();
  }
});

test('SIGSTOP (hung): the health check notices, the server is replaced, the batch completes', {
  skip: process.platform === 'win32' && 'Windows has no SIGSTOP: no signal suspends a process there',
}, async () => {
  const e = await Embedder.start({ model, binary: bin, ...FAST, env: { GGEMBED_TEST_DELAY_MS: '5' }, serveArgs: ['--max-texts', '25'] });
  const ev = record(e);
  try {
    const pid = e.pid!;
    const sub = corpus.slice(0, 300);
    const p = e.embedBatch(sub);
    await until(async () => ((await e.stats()).server?.texts ?? 0) >= 50, 'the batch to be under way');
    process.kill(pid, 'SIGSTOP');
    const r = await p;
    assertAllReal(r, ref.slice(0, 300));
    const restart = ev.find((x) => x.name === 'restart');
    assert.ok(restart, 'a restart event');
    assert.match((restart!.arg as { reason: string }).reason, /hung|health/);
    await until(() => !alive(pid), 'the stopped server to be killed');
    assert.equal(e.state, 'ready');
  } finally {
    await e.close();
  }
});

test('binary deleted: restarts exhausted, degraded fallback for whole batches, recovery when it is back', async () => {
  const d = tmpDir();
  const copy = copyBinary(d);
  const e = await Embedder.start({ model, binary: copy, ...FAST, maxRestarts: 2 });
  const ev = record(e);
  try {
    const first = await e.embed('before');
    assert.equal(first.degraded, false);
    renameSync(copy, `${copy}.gone`); // gone from its path; Windows deletes no running program, but moves it
    process.kill(e.pid!, 'SIGKILL');
    await until(() => e.state === 'degraded', 'degraded');
    const deg = ev.find((x) => x.name === 'degraded');
    assert.ok(deg);
    assert.match((deg!.arg as { reason: string }).reason, /not found|restarts/);
    assert.equal(ev.filter((x) => x.name === 'restart').length, 2, 'two restart attempts (maxRestarts 2)');
    const r = await e.embedBatch(corpus.slice(0, 30));
    assert.equal(r.length, 30);
    r.forEach((x, i) => {
      assert.equal(x.degraded, true);
      assert.ok(x.reason && x.reason.length > 0);
      assert.equal(x.embedding.length, 64, 'fallback in the model dimension');
      assert.deepEqual(x.embedding, fallbackEmbedding(at(corpus, i), 64));
    });
    const h = await e.health();
    assert.equal(h.degraded, true);
    await assert.rejects(e.tokenize('x'), (err: EmbedderError) => err.code === 'UNAVAILABLE');
    copyFileSync(bin, copy);
    await until(() => e.state === 'ready', 'recovery');
    assert.ok(ev.some((x) => x.name === 'recovered'));
    assertAllReal(await e.embedBatch(corpus.slice(0, 30)), ref.slice(0, 30));
  } finally {
    await e.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('binary missing with fallback off: callers get the error', async () => {
  await assert.rejects(
    Embedder.start({ model, binary: path.join(dir, 'no-such-ggembed'), ...FAST, fallback: false }),
    (err: EmbedderError) => err.code === 'UNAVAILABLE' && /not found/.test(err.message),
  );
  const d = tmpDir();
  const copy = copyBinary(d);
  const e = await Embedder.start({ model, binary: copy, ...FAST, maxRestarts: 1, fallback: false });
  try {
    renameSync(copy, `${copy}.gone`); // gone from its path; Windows deletes no running program, but moves it
    const p = e.embedBatch(corpus.slice(0, 5));
    process.kill(e.pid!, 'SIGKILL');
    // the batch either finished before the kill or fails with UNAVAILABLE; never fallback vectors
    try {
      const r = await p;
      r.forEach((x) => {
        assert.equal(x.degraded, false);
      });
    } catch (err) {
      assert.equal((err as EmbedderError).code, 'UNAVAILABLE');
    }
    await until(() => e.state === 'failed', 'failed');
    assert.equal(e.status.degraded, false);
    await assert.rejects(e.embed('x'), (err: EmbedderError) => err.code === 'UNAVAILABLE');
  } finally {
    await e.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('corrupted model: start rejects; with fallback always: degraded, recovered once the file is good again', async () => {
  const d = tmpDir();
  const m = path.join(d, 'm.gguf');
  copyFileSync(model, m);
  const fd = openSync(m, 'r+');
  writeSync(fd, Buffer.from('NOTGGUF!'), 0, 8, 0);
  closeSync(fd);
  await assert.rejects(
    Embedder.start({ model: m, binary: bin, ...FAST, fallback: false }),
    (err: EmbedderError) => err.code === 'INTEGRITY',
  );
  await assert.rejects(Embedder.start({ model: m, binary: bin, ...FAST }), (err: EmbedderError) => err.code === 'INTEGRITY');
  const e = await Embedder.start({ model: m, binary: bin, ...FAST, fallbackDims: 64, fallback: 'always' });
  const ev = record(e);
  try {
    assert.equal(e.state, 'degraded');
    assert.match(e.info().reason!, /refuses/);
    const r = await e.embed('hello');
    assert.equal(r.degraded, true);
    assert.match(r.reason!, /refuses/);
    copyFileSync(model, m);
    await until(() => e.state === 'ready', 'recovery');
    assert.ok(ev.some((x) => x.name === 'recovered'));
    const ok = await e.embed(at(corpus, 0));
    assert.equal(ok.degraded, false);
    assertClose(ok.embedding, at(ref, 0).embedding);
  } finally {
    await e.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('poison text: isolated by splitting the batch, fails alone with POISON; the rest are right', async () => {
  const e = await Embedder.start({
    model,
    binary: bin,
    ...FAST,
    env: { GGEMBED_TEST_POISON: 'POISONPILL' },
    serveArgs: ['--max-texts', '64'],
  });
  const ev = record(e);
  try {
    const batch = corpus.slice(0, 200);
    const bad = 137;
    batch[bad] = 'this text has a POISONPILL in it';
    const r = await e.embedBatch(batch);
    assert.equal(r.length, 200);
    r.forEach((x, i) => {
      if (i === bad) {
        assert.ok(x.error instanceof EmbedderError);
        assert.equal(x.error!.code, 'POISON');
        assert.equal(x.embedding.length, 0);
      } else {
        assert.equal(x.error, undefined, `text ${i}`);
        assert.equal(x.degraded, false);
        assertClose(x.embedding, at(ref, i).embedding, 1e-6, `text ${i}`);
      }
    });
    const exits = ev.filter((x) => x.name === 'exit').length;
    assert.ok(exits >= 2 && exits <= 12, `bounded number of crashes: ${exits}`);
    assert.equal(ev.filter((x) => x.name === 'degraded').length, 0, 'never degraded');
    await assert.rejects(e.embed('POISONPILL alone'), (err: EmbedderError) => err.code === 'POISON' && /restart/.test(err.message));
    await until(() => e.state === 'ready', 'the embedder to be back after the poison');
    assertClose((await e.embed(at(corpus, 1))).embedding, at(ref, 1).embedding);
    assert.equal((await e.stats()).client.poisoned, 2);
  } finally {
    await e.close();
  }
});

test('concurrent callers across a crash: every promise settles exactly once', async () => {
  const e = await Embedder.start({ model, binary: bin, ...FAST, env: { GGEMBED_TEST_DELAY_MS: '3' }, serveArgs: ['--max-texts', '10'] });
  try {
    const settled = new Array(60).fill(0);
    const ps = corpus.slice(0, 60).map((t, i) =>
      e.embed(t).then((x) => {
        settled[i]++;
        return x;
      }),
    );
    await sleep(30);
    process.kill(e.pid!, 'SIGKILL');
    const r = await Promise.all(ps);
    r.forEach((x, i) => {
      assertClose(x.embedding, at(ref, i).embedding, 1e-6, `text ${i}`);
    });
    await sleep(100);
    assert.deepEqual(settled, new Array(60).fill(1));
  } finally {
    await e.close();
  }
});
