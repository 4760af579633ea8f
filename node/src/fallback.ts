// fallback.ts - a deterministic local embedding used while the real
// embedder cannot run: feature hashing of words and character trigrams
// into `dims` buckets with a hashed sign, then L2 normalization. Texts that
// share words and spellings get similar vectors; nothing else is promised.

import { at } from './arrays.js';

/** FNV-1a over the UTF-16 code units of s, seeded. */
function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche so nearby inputs spread over buckets
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const WORD = /[\p{L}\p{N}_]+/gu;

function add(v: Float32Array, feature: string, weight: number): void {
  const h = fnv1a(feature, 0);
  const bucket = h % v.length;
  const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1;
  v[bucket] = at(v, bucket) + sign * weight;
}

/** The fallback vector of one text: dims values, L2-normalized (all zero for a text without words). */
export function fallbackEmbedding(text: string, dims: number): Float32Array {
  if (!Number.isInteger(dims) || dims <= 0) throw new RangeError(`fallback dims must be a positive integer, got ${dims}`);
  const v = new Float32Array(dims);
  const words = text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
  for (const w of words) {
    add(v, `w:${w}`, 1);
    const padded = ` ${w} `;
    const chars = Array.from(padded);
    for (let i = 0; i + 3 <= chars.length; i++) add(v, `c:${chars.slice(i, i + 3).join('')}`, 0.5);
  }
  let ss = 0;
  for (const x of v) ss += x * x;
  if (ss > 0) {
    const inv = 1 / Math.sqrt(ss);
    for (const [i, x] of v.entries()) v[i] = x * inv;
  }
  return v;
}

/** A rough token count for fallback results: words and punctuation marks. */
export function fallbackTokenCount(text: string): number {
  return (text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []).length;
}
