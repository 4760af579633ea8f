// Model integrity: inspect, SHA-256 (streamed, cached), re-download from a
// source URL on 127.0.0.1, refusal of a wrong digest, resumable pull.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { at } from '../src/arrays.js';
import { cachedSha256, Embedder, type EmbedderError, type ProgressEvent, pullModel } from '../src/index.js';
import { assertClose, cEmbed, FAST, makeModel, requireBinary, tmpDir, WINE_NO_FETCH } from './helpers.js';

let dir: string;
let model: string;
let bin: string;
let good: Buffer;
let goodSha: string;
let server: http.Server;
let base: string;
const ranges: string[] = [];

before(async () => {
  bin = requireBinary();
  dir = tmpDir();
  model = makeModel(dir);
  good = readFileSync(model);
  goodSha = createHash('sha256').update(good).digest('hex');
  server = http.createServer((req, res) => {
    if (req.url !== '/model.gguf') {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      ranges.push(req.headers.range!);
      const start = Number(m[1]);
      res.writeHead(206, { 'content-length': good.length - start, 'content-range': `bytes ${start}-${good.length - 1}/${good.length}` });
      res.end(good.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': good.length });
    res.end(good);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function corruptCopy(d: string): string {
  const m = path.join(d, 'm.gguf');
  const b = Buffer.from(good);
  for (let i = 0; i < 4096; i++) {
    const j = b.length - 1 - i * 97;
    b[j] = at(b, j) ^ 0x5a; // weights damaged, header intact
  }
  writeFileSync(m, b);
  return m;
}

test('SHA-256 is streamed with progress and cached by size and mtime', async () => {
  const d = tmpDir();
  try {
    const progress: ProgressEvent[] = [];
    const a = await cachedSha256(model, { cacheDir: d, onProgress: (p) => progress.push(p) });
    assert.equal(a.sha256, goodSha);
    assert.equal(a.cached, false);
    assert.ok(progress.length >= 1 && progress.at(-1)!.bytes === good.length);
    const b = await cachedSha256(model, { cacheDir: d });
    assert.deepEqual(b, { sha256: goodSha, cached: true });
    const m2 = path.join(d, 'm2.gguf');
    copyFileSync(model, m2);
    await cachedSha256(m2, { cacheDir: d });
    writeFileSync(m2, Buffer.concat([good, Buffer.from('x')])); // size changes: hashed again
    const c = await cachedSha256(m2, { cacheDir: d });
    assert.equal(c.cached, false);
    assert.notEqual(c.sha256, goodSha);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a corrupted model with a source URL is downloaded again, verified and used', { skip: WINE_NO_FETCH }, async () => {
  const d = tmpDir();
  try {
    const m = corruptCopy(d);
    const events: string[] = [];
    const progress: ProgressEvent[] = [];
    const e = await Embedder.start({
      model: m,
      binary: bin,
      ...FAST,
      sha256: goodSha,
      sourceUrl: `${base}/model.gguf`,
      cacheDir: d,
      fallback: false,
    }).catch((err) => {
      throw err;
    });
    // events before start resolved are not observable here; check the result instead
    try {
      assert.equal(e.state, 'ready');
      assert.equal(createHash('sha256').update(readFileSync(m)).digest('hex'), goodSha, 'the file was replaced by the good one');
      const ref = cEmbed(model, ['integrity']);
      assertClose((await e.embed('integrity')).embedding, at(ref, 0).embedding);
    } finally {
      await e.close();
    }
    // the same again, watching progress through ensureModel's hooks
    corruptCopy(d);
    const { ensureModel } = await import('../src/integrity.js');
    await ensureModel({
      binary: bin,
      model: m,
      sha256: goodSha,
      sourceUrl: `${base}/model.gguf`,
      cacheDir: d,
      onProgress: (p) => progress.push(p),
      onRedownload: (r) => events.push(r),
    });
    assert.equal(events.length, 1);
    assert.match(at(events, 0), /SHA-256/);
    assert.ok(progress.some((p) => p.phase === 'download' && p.bytes === good.length));
    assert.ok(progress.some((p) => p.phase === 'hash'));
    assert.equal(statSync(m).size, good.length);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a wrong SHA-256 is refused: no start unless fallback is "always", then degraded; the file is not replaced by an unverified one', {
  skip: WINE_NO_FETCH,
}, async () => {
  const d = tmpDir();
  try {
    const m = path.join(d, 'm.gguf');
    copyFileSync(model, m);
    const wrong = 'ab'.repeat(32);
    await assert.rejects(
      Embedder.start({ model: m, binary: bin, ...FAST, sha256: wrong, sourceUrl: `${base}/model.gguf`, cacheDir: d, fallback: false }),
      (err: EmbedderError) => err.code === 'INTEGRITY' && /expected/.test(err.message),
    );
    await assert.rejects(
      Embedder.start({ model: m, binary: bin, ...FAST, sha256: wrong, cacheDir: d }),
      (err: EmbedderError) => err.code === 'INTEGRITY',
    );
    const e = await Embedder.start({
      model: m,
      binary: bin,
      ...FAST,
      sha256: wrong,
      cacheDir: d,
      recoveryIntervalMs: 60000,
      fallback: 'always',
    });
    try {
      assert.equal(e.state, 'degraded');
      const r = await e.embed('x');
      assert.equal(r.degraded, true);
      assert.match(r.reason!, /SHA-256/);
      assert.equal(r.embedding.length, 64, 'fallback dims from ggembed inspect');
    } finally {
      await e.close();
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('pull: a catalogue model is downloaded, resumed from a partial file, and verified', { skip: WINE_NO_FETCH }, async () => {
  const d = tmpDir();
  try {
    const entry = { name: 'test-tiny', url: `${base}/model.gguf`, size: good.length, sha256: goodSha, dims: 64, description: 'test' };
    writeFileSync(path.join(d, 'test-tiny.gguf.part'), good.subarray(0, 1000));
    ranges.length = 0;
    const r = await pullModel('test-tiny', { dir: d, catalogue: [entry] });
    assert.deepEqual(ranges, ['bytes=1000-']);
    assert.equal(r.sha256, goodSha);
    assert.deepEqual(readFileSync(r.file), good);
    await assert.rejects(
      pullModel('test-tiny', { dir: tmpDir(), catalogue: [{ ...entry, sha256: '00'.repeat(32) }] }),
      (err: EmbedderError) => err.code === 'INTEGRITY',
    );
    await assert.rejects(pullModel('no-such-model', { dir: d }), (err: EmbedderError) => err.code === 'INVALID');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a download cut short or answered 503 is tried again (with backoff) and resumed', { skip: WINE_NO_FETCH }, async () => {
  const d = tmpDir();
  let calls = 0;
  const seenRanges: (string | undefined)[] = [];
  const flaky = http.createServer((req, res) => {
    calls++;
    seenRanges.push(req.headers.range);
    if (calls === 1) {
      res.writeHead(503).end();
      return;
    }
    if (calls === 2) {
      // half the file, then the connection drops
      res.writeHead(200, { 'content-length': good.length });
      res.write(good.subarray(0, 5000), () => setTimeout(() => res.destroy(), 200));
      return;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    res.writeHead(start ? 206 : 200, { 'content-length': good.length - start });
    res.end(good.subarray(start));
  });
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
  try {
    const { downloadFile } = await import('../src/integrity.js');
    const dest = path.join(d, 'm.gguf');
    await downloadFile(`http://127.0.0.1:${(flaky.address() as AddressInfo).port}/m.gguf`, dest, { sha256: goodSha, resume: true });
    assert.deepEqual(readFileSync(dest), good);
    assert.equal(calls, 3);
    assert.deepEqual(seenRanges, [undefined, undefined, 'bytes=5000-']);
  } finally {
    flaky.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('ggembed inspect --json is checked against its schema: unexpected output is a PROTOCOL error', {
  skip: process.platform === 'win32' ? 'the fake binary is a shell script' : false,
}, async () => {
  const d = tmpDir();
  try {
    const { inspectModel } = await import('../src/integrity.js');
    const ok = await inspectModel(bin, model);
    assert.equal(ok.dims, 64);
    assert.equal(ok.arch, 'bert');
    const fake = path.join(d, 'fake-ggembed');
    writeFileSync(fake, '#!/bin/sh\necho \'{"file": "x", "embedding_length": "sixty-four"}\'\n');
    chmodSync(fake, 0o755);
    await assert.rejects(
      inspectModel(fake, model),
      (err: EmbedderError) => err.code === 'PROTOCOL' && /embedding_length|architecture/.test(err.message),
    );
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
