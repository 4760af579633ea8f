import assert from 'node:assert/strict';
import { test } from 'node:test';
import { at } from '../src/arrays.js';
import { fallbackEmbedding } from '../src/fallback.js';

const dot = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  return a.reduce((s, v, i) => s + v * at(b, i), 0);
};

test('fallback vectors: model dimension, L2-normalized, deterministic', () => {
  const a = fallbackEmbedding('The quick brown fox jumps', 64);
  assert.equal(a.length, 64);
  assert.ok(Math.abs(dot(a, a) - 1) < 1e-5);
  assert.deepEqual(fallbackEmbedding('The quick brown fox jumps', 64), a);
  assert.notDeepEqual(fallbackEmbedding('something else entirely', 64), a);
});

test('fallback vectors: shared words score higher than unrelated text', () => {
  const q = fallbackEmbedding('parse the config file', 256);
  const near = fallbackEmbedding('function to parse a config file from disk', 256);
  const far = fallbackEmbedding('zebra migration patterns in savannah', 256);
  assert.ok(dot(q, near) > dot(q, far) + 0.2, `${dot(q, near)} vs ${dot(q, far)}`);
});

test('fallback vectors: empty text is all zeros, bad dims refused', () => {
  assert.ok(fallbackEmbedding('', 8).every((v) => v === 0));
  assert.throws(() => fallbackEmbedding('x', 0), RangeError);
});
