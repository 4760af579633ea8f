// Test helpers: the real ggembed binary, tiny generated models, references.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { at } from '../src/arrays.js';
import type { FileRecord } from '../src/search/store.js';

/** node/ (this file is node/dist/test/helpers.js once compiled) */
export const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const BIN = path.resolve(PKG, process.env.GGEMBED_BIN ?? '../build/ggembed');
export const FIXTURES = path.resolve(PKG, process.env.GGEMBED_FIXTURES ?? '../../shared/fixtures/vocab');

/** Fails (never skips) when the binary is missing: these tests need the real server. */
export function requireBinary(): string {
  assert.ok(existsSync(BIN), `ggembed binary not found at ${BIN} (set GGEMBED_BIN)`);
  return BIN;
}

export function tmpDir(t?: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ggembed-node-test-'));
  if (t) t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A bert-tiny model with the BGE vocabulary when the fixture is there, else mkmodel's built-in one. */
export function makeModel(dir: string, name = 'tiny.gguf', extra: string[] = []): string {
  requireBinary();
  const out = path.join(dir, name);
  const vocab = path.join(FIXTURES, 'ggml-vocab-bert-bge.gguf');
  const args = ['mkmodel', '--preset', 'bert-tiny', '-o', out, ...extra];
  if (existsSync(vocab)) args.push('--vocab', vocab);
  execFileSync(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/** A tiny BERT reranker (pooling rank) with the BGE vocabulary when the fixture is there. */
export function makeReranker(dir: string, name = 'reranker.gguf'): string {
  requireBinary();
  const out = path.join(dir, name);
  const vocab = path.join(FIXTURES, 'ggml-vocab-bert-bge.gguf');
  const args = ['mkmodel', '--preset', 'bge-reranker-tiny', '-o', out];
  if (existsSync(vocab)) args.push('--vocab', vocab);
  execFileSync(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/** Scores from the C command `ggembed rerank --json`, in input order. */
export function cRerank(model: string, query: string, docs: string[]): { tokens: number; truncated: boolean; score: number }[] {
  const r = spawnSync(BIN, ['rerank', '-m', model, '--json', '--threads', '1', '--', query, ...docs], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `ggembed rerank failed: ${r.stderr}`);
  return r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

/** Vectors from the C command `ggembed embed --jsonl`. */
export function cEmbed(
  model: string,
  texts: string[],
  extra: string[] = [],
): { tokens: number; truncated: boolean; embedding: number[] }[] {
  const r = spawnSync(BIN, ['embed', '-m', model, '--jsonl', '--threads', '1', ...extra], {
    input: `${texts.map((t) => JSON.stringify(t)).join('\n')}\n`,
    maxBuffer: 256 << 20,
  });
  assert.equal(r.status, 0, `ggembed embed failed: ${r.stderr}`);
  return r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

export function copyBinary(dir: string): string {
  const p = path.join(dir, `ggembed-copy${path.extname(BIN)}`); // Windows runs only *.exe
  copyFileSync(BIN, p);
  return p;
}

export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6, msg = ''): void {
  assert.equal(a.length, b.length, `length ${msg}`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(at(a, i) - at(b, i)) <= tol, `value ${i} differs: ${a[i]} vs ${b[i]} ${msg}`);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => delay(ms);

export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Why a test cannot run under wine (scripts/test-windows-node.sh sets
 * GGEMBED_TEST_WINE): fetch() (undici) enables TCP keep-alive on its socket
 * before connecting, and under wine 8 connect() then fails with UV_UNKNOWN;
 * net.connect() followed at once by setKeepAlive(true, ms) does the same, and
 * http.get, without keep-alive, works. Real Windows is not affected.
 */
export const WINE_NO_FETCH = process.env.GGEMBED_TEST_WINE
  ? 'under wine, fetch() cannot connect to 127.0.0.1 (keep-alive set before connect fails with UV_UNKNOWN)'
  : false;

/** Options for fast supervision in tests. */
export const FAST = {
  threads: 1,
  restartBackoffMs: 20,
  reconnectBackoffMs: 20,
  healthIntervalMs: 100,
  healthTimeoutMs: 400,
  recoveryIntervalMs: 150,
  stableMs: 2000,
  startTimeoutMs: 15000,
};

export const texts = (n: number, tag = 'text') =>
  Array.from(
    { length: n },
    (_, i) => `${tag} number ${i}: the quick brown fox ${i % 7 === 0 ? 'jumps over the lazy dog ' : ''}and item ${(i * 31) % 97}`,
  );

/** A unit vector of dims values made from i alone (a seeded LCG), the same on every run and store. */
export function seededUnitVector(i: number, dims: number): Float32Array {
  let s = (i + 1) * 7919;
  const v = Float32Array.from({ length: dims }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/**
 * After a run in which the chunker failed on `crashed`: every file of `files` is recorded with its
 * hash and chunked by syntax, and `crashed` is searchable by line windows and recorded without its
 * hash (so the next run tries its grammar again).
 */
export function assertCrashedByLineWindows(
  store: { file(p: string): FileRecord | undefined },
  files: readonly string[],
  crashed: string,
): void {
  for (const f of files) {
    const rec = store.file(f);
    assert.ok(rec?.hash, `${f} recorded with its hash`);
    assert.ok(
      rec.chunks.some((c) => c.kind === 'function'),
      `${f} chunked by syntax`,
    );
  }
  const rec = store.file(crashed);
  assert.ok(rec && rec.chunks.length > 0, `${crashed} is searchable`);
  assert.ok(
    rec.chunks.every((c) => c.kind === 'text' && c.symbol === null),
    'by line windows',
  );
  assert.equal(rec.hash, '', 'recorded without its hash: chunked by syntax again on the next run');
}
