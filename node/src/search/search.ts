// search.ts - answers a query from the index: the vector half (the query's
// embedding against the chunk vectors) and a keyword half (query words
// against symbol names and paths), fused by reciprocal rank. The keyword
// half is what makes an exact identifier find its definition first whatever
// the model. A store with its own query engine (LanceStore) adds the BM25
// half over chunk text, finds the chunks whose symbol has a query word in its
// own index of names (the keyword half ranks those), and applies the filters
// itself (searchRanked).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { globFilter } from './glob.js';
import type { RankHit } from './lance.js';
import type { ChunkMeta, FileRecord, SearchStore } from './store.js';

export interface SearchOptions {
  limit?: number;
  /** only files matching this glob (`*` within a directory, `**` across, `?` one character, `{a,b}` either; glob.ts) */
  pathGlob?: string;
  language?: string;
  /** prepended to the query when embedded (the model's query instruction) */
  queryPrefix?: string;
}

export interface SearchResult {
  file: string;
  startLine: number;
  endLine: number;
  symbol: string | null;
  language: string;
  score: number;
  snippet: string;
}

export interface QueryEmbedder {
  embed(text: string, options?: { prefix?: string }): Promise<{ embedding: Float32Array; degraded: boolean; reason?: string }>;
}

/** The constant of reciprocal rank fusion (the usual 60: ranks past the first few matter little). */
const RRF_K = 60;
/** queries of more words than this are not matched against names */
const MAX_KEYWORD_WORDS = 4;

interface Located {
  file: FileRecord;
  chunk: ChunkMeta;
}

function words(s: string): string[] {
  return s
    .toLowerCase()
    .split(/[^a-z0-9_$]+/)
    .filter((w) => w.length > 1);
}

/** The names of a symbol: `A.b, c` is itself, A.b, A, b and c. */
function symbolNames(symbol: string): string[] {
  return [symbol, ...symbol.split(', '), ...symbol.split(/, |\./)];
}

/**
 * How far ahead of every other result a chunk goes: the very name asked
 * for as written, then in another case (`pending` before `Pending` when
 * `pending` is asked), then the rest by fused score.
 */
type Tiers = Map<Located, number>;

/** Keyword ranks: an exact symbol match first (as written first), then a symbol containing a query word, then a path that does. */
function keywordRanking(query: string, located: Located[]): { ranked: Located[]; exact: Tiers } {
  const q = words(query);
  const asWritten = query.trim();
  const whole = asWritten.toLowerCase();
  if (!q.length) return { ranked: [], exact: new Map() };
  const scored: { l: Located; s: number; tier: number }[] = [];
  for (const l of located) {
    const names = symbolNames(l.chunk.symbol ?? '');
    const sym = (l.chunk.symbol ?? '').toLowerCase();
    let s = 0;
    let tier = 0;
    if (sym && names.some((n) => n.toLowerCase() === whole)) {
      tier = names.includes(asWritten) ? 2 : 1;
      s += 100;
    }
    const syms = sym.split(/, |\./);
    for (const w of q) {
      if (syms.includes(w)) s += 10;
      else if (sym.includes(w)) s += 3;
      if (l.file.path.toLowerCase().includes(w)) s += 1;
    }
    // a definition beats a merged chunk or a piece of a long function
    if (s && l.chunk.kind !== 'code') s += 0.5;
    if (s) scored.push({ l, s, tier });
  }
  scored.sort((a, b) => b.tier - a.tier || b.s - a.s || a.l.chunk.startLine - b.l.chunk.startLine);
  return { ranked: scored.map((x) => x.l), exact: new Map(scored.filter((x) => x.tier).map((x) => [x.l, x.tier])) };
}

async function snippetOf(root: string, file: string, chunk: ChunkMeta, maxLines = 8): Promise<string> {
  try {
    const lines = (await readFile(path.join(root, file), 'utf8')).split(/\r?\n/);
    return lines.slice(chunk.startLine - 1, Math.min(chunk.endLine, chunk.startLine - 1 + maxLines)).join('\n');
  } catch {
    return '';
  }
}

export async function searchCode(
  root: string,
  store: SearchStore,
  embedder: QueryEmbedder,
  query: string,
  options: SearchOptions = {},
): Promise<SearchResult[]> {
  if (store.rank) return searchRanked(root, store, embedder, query, options);
  const limit = options.limit ?? 10;
  const glob = options.pathGlob ? globFilter(options.pathGlob) : null;
  const byHash = new Map<string, Located[]>();
  const located: Located[] = [];
  // the paths under the glob's literal prefix, then the glob itself: what LanceStore asks its indexes for
  for await (const page of store.filesUnder(glob?.prefix ?? '')) {
    const wanted = glob ? page.filter((p) => glob.regex.test(p)) : page;
    for (const file of (await store.fileRecords(wanted)).values()) {
      if (options.language && file.language !== options.language) continue;
      for (const chunk of file.chunks) {
        const l = { file, chunk };
        located.push(l);
        const a = byHash.get(chunk.hash);
        if (a) a.push(l);
        else byHash.set(chunk.hash, [l]);
      }
    }
  }
  if (!located.length) return [];
  const q = await embedder.embed(query, { prefix: options.queryPrefix });
  if (q.degraded)
    throw new Error(`the embedder is degraded (${q.reason ?? 'fallback vectors'}): its query vector cannot be compared with the index`);
  const hits = await store.nearest(q.embedding, limit * 4, (h) => byHash.has(h));
  const vectorRanked = hits.flatMap((h) => byHash.get(h.hash) ?? []); // nearest() only returns hashes byHash has
  const kw = keywordHalf(query, located);
  const fused = new Map<Located, number>();
  fuse(fused, vectorRanked);
  fuse(fused, kw.ranked.slice(0, limit * 4));
  return results(root, fused, kw.exact, limit);
}

/** The keyword half of a short query; a long one (a sentence, a pasted snippet) is matched by meaning alone. */
function keywordHalf(query: string, located: Located[]): { ranked: Located[]; exact: Tiers } {
  return isNameQuery(query) ? keywordRanking(query, located) : { ranked: [], exact: new Map() };
}

/** Whether a query is short enough to be names (what the keyword half and the store's names half match). */
function isNameQuery(query: string): boolean {
  return words(query).length <= MAX_KEYWORD_WORDS;
}

/** The first `limit` chunks: the exact name's definitions first (whatever the vectors say), then by fused score. */
async function results(root: string, fused: Map<Located, number>, exact: Tiers, limit: number): Promise<SearchResult[]> {
  const tier = (l: Located) => exact.get(l) ?? 0;
  const top = [...fused.entries()].sort((a, b) => tier(b[0]) - tier(a[0]) || b[1] - a[1]).slice(0, limit);
  const out: SearchResult[] = [];
  for (const [l, score] of top) {
    out.push({
      file: l.file.path,
      startLine: l.chunk.startLine,
      endLine: l.chunk.endLine,
      symbol: l.chunk.symbol,
      language: l.file.language,
      score: Number(score.toFixed(6)),
      snippet: await snippetOf(root, l.file.path, l.chunk),
    });
  }
  return out;
}

/** Adds the reciprocal rank of each entry of a ranked list to its fused score. */
function fuse(fused: Map<Located, number>, ranked: Located[]): void {
  ranked.forEach((l, i) => {
    fused.set(l, (fused.get(l) ?? 0) + 1 / (RRF_K + i + 1));
  });
}

/**
 * Hybrid search in a store with a query engine (LanceStore): the store
 * returns the vector half, the BM25 half over chunk text and the names half
 * (the chunks whose symbol has a query word, from its index of names), each
 * filtered inside its query; the symbol/path ranking runs over those
 * candidates only (never over the whole index), and an exact symbol match
 * still comes first. Without the names half an identifier that many chunks
 * use would find its uses: the text half ranks a short chunk that repeats
 * the name above the longer one that defines it.
 */
async function searchRanked(
  root: string,
  store: SearchStore,
  embedder: QueryEmbedder,
  query: string,
  options: SearchOptions,
): Promise<SearchResult[]> {
  const limit = options.limit ?? 10;
  const rank = store.rank;
  if (!rank) throw new Error('searchRanked needs a store with rank()');
  const q = await embedder.embed(query, { prefix: options.queryPrefix });
  if (q.degraded)
    throw new Error(`the embedder is degraded (${q.reason ?? 'fallback vectors'}): its query vector cannot be compared with the index`);
  const glob = options.pathGlob ? globFilter(options.pathGlob) : null;
  const r = await rank.call(store, {
    vector: q.embedding,
    text: query,
    names: isNameQuery(query) ? query : undefined,
    k: limit * 4,
    path: glob ? { prefix: glob.prefix, regex: glob.regex.source, languages: glob.languages } : undefined,
    language: options.language,
  });
  // the glob's own test is the definition; the store's filter must have applied it already
  const admitted = (h: RankHit) => !glob || glob.regex.test(h.path);
  // one Located per chunk row, shared by both halves so that fusion adds up
  const byKey = new Map<string, Located>();
  const locate = (h: (typeof r.vector)[number]): Located => {
    const key = `${h.path}\0${h.startLine}\0${h.hash}`;
    let l = byKey.get(key);
    if (!l) {
      // the hit carries what ranking and the answer need of its file: no record is looked up
      const file = { path: h.path, hash: '', size: 0, mtimeMs: 0, language: h.language, chunks: [] };
      l = { file, chunk: { hash: h.hash, startLine: h.startLine, endLine: h.endLine, symbol: h.symbol, kind: h.kind } };
      byKey.set(key, l);
    }
    return l;
  };
  const vectorRanked = r.vector.filter(admitted).map(locate);
  const textRanked = r.text.filter(admitted).map(locate);
  // the names half's chunks are candidates too: a definition whose name many chunks use is in it when the text half ranks the uses first
  r.names.filter(admitted).forEach(locate);
  const kw = keywordHalf(query, [...byKey.values()]);
  const fused = new Map<Located, number>();
  fuse(fused, vectorRanked);
  fuse(fused, textRanked);
  fuse(fused, kw.ranked);
  return results(root, fused, kw.exact, limit);
}
