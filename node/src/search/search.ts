// search.ts - answers a query from the index: the vector half (the query's
// embedding against the chunk vectors) and a keyword half (query words
// against symbol names and paths), fused by reciprocal rank. The keyword
// half is what makes an exact identifier find its definition first whatever
// the model. A store with its own query engine (LanceStore) adds the BM25
// half over chunk text, finds the chunks whose symbol has a query word in its
// own index of names (the keyword half ranks those), and applies the filters
// itself (searchRanked). With a reranker (a cross-encoder in its own ggembed
// process) searchCodeReranked scores the hybrid order's first candidates
// against the query and answers in the reranker's order, the exact name's
// definitions still first; a reranker that is down or degraded leaves the
// hybrid order, flagged.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EmbedderStatus, RerankOptions, RerankResult } from '../embedder.js';
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
  /** the score of the ranking that placed the result: the fused score, or the reranker's ('reranker') */
  score: number;
  snippet: string;
  /** with a reranker configured (searchCodeReranked): which ranking placed this result (RANKINGS) */
  ranking?: Ranking;
  /** with a reranker configured: the result's rank (1-based) and score in the hybrid order */
  fusedRank?: number;
  fusedScore?: number;
  /** the reranker's score of (query, chunk text), when it scored the candidates */
  rerankScore?: number;
}

/**
 * Which ranking placed a result of searchCodeReranked: 'name' an exact
 * symbol match of an identifier query, kept first in the hybrid order
 * whatever the reranker says; 'reranker' the reranker's order among the
 * hybrid order's first candidates; 'hybrid' the fused order itself, when
 * the reranker could not score them (down, degraded or failing: flagged).
 */
export const RANKINGS = ['name', 'reranker', 'hybrid'] as const;
export type Ranking = (typeof RANKINGS)[number];

/** What searchCodeReranked needs of a reranker (an Embedder of a reranker model). */
export interface Reranker {
  rerank(query: string, documents: string[], options?: RerankOptions): Promise<RerankResult>;
  info(): { model: string; name: string | null };
  readonly status: EmbedderStatus;
}

/**
 * How many of the hybrid order's candidates a reranker scores: max(limit x
 * RERANK_FACTOR, RERANK_MIN_CANDIDATES), or the caller's number, never fewer
 * than limit nor more than RERANK_MAX_CANDIDATES (each candidate is one
 * cross-encoder pass of query and chunk: the cost of a search grows with K).
 */
export const RERANK_FACTOR = 3;
export const RERANK_MIN_CANDIDATES = 30;
export const RERANK_MAX_CANDIDATES = 200;

/** The candidates a reranker scores for `limit` results (see RERANK_FACTOR). */
export function rerankCandidates(limit: number, requested?: number): number {
  const k = requested ?? Math.max(limit * RERANK_FACTOR, RERANK_MIN_CANDIDATES);
  return Math.min(Math.max(k, limit), RERANK_MAX_CANDIDATES);
}

/**
 * Characters of a chunk's text sent to the reranker at most. The pair is
 * cut to the reranker's context by its tokens in the server (RERANK's
 * truncate flag: the document's end goes); this bound only keeps a file
 * rewritten since it was indexed (one huge line) from making a huge message.
 */
const RERANK_MAX_CHARS = 32_768;

export interface RerankReport {
  /** the reranker's model (its name, or its file) */
  model: string;
  /** the hybrid order's candidates it was given (K, or fewer when the index has fewer) */
  candidates: number;
  /** whether its scores ordered the results; false: the hybrid order, and reason says why */
  used: boolean;
  reason: string | null;
  /** time spent reranking: reading the candidates' lines and scoring them (the hybrid search before is not counted) */
  ms: number;
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

/** A search's reader of files: each file's lines read once, or null when it cannot be read. */
type FileLines = (file: string) => Promise<string[] | null>;

function fileLines(root: string): FileLines {
  const files = new Map<string, Promise<string[] | null>>();
  return (file) => {
    let p = files.get(file);
    if (!p) {
      p = readFile(path.join(root, file), 'utf8').then(
        (s) => s.split(/\r?\n/),
        () => null,
      );
      files.set(file, p);
    }
    return p;
  };
}

async function snippetOf(lines: FileLines, file: string, chunk: ChunkMeta, maxLines = 8): Promise<string> {
  const all = await lines(file);
  return all ? all.slice(chunk.startLine - 1, Math.min(chunk.endLine, chunk.startLine - 1 + maxLines)).join('\n') : '';
}

export async function searchCode(
  root: string,
  store: SearchStore,
  embedder: QueryEmbedder,
  query: string,
  options: SearchOptions = {},
): Promise<SearchResult[]> {
  const limit = options.limit ?? 10;
  const out: SearchResult[] = [];
  const lines = fileLines(root);
  for (const c of (await hybrid(store, embedder, query, options, limit)).slice(0, limit)) out.push(await resultOf(lines, c));
  return out;
}

/**
 * The hybrid order as searchCode gives it for `depth` results (each half
 * asked for depth x 4): the exact name's definitions first, then by fused
 * score. searchCodeReranked takes its candidates from here, so that they
 * are what searchCode answers with limit K.
 */
async function hybrid(
  store: SearchStore,
  embedder: QueryEmbedder,
  query: string,
  options: SearchOptions,
  depth: number,
): Promise<Candidate[]> {
  if (store.rank) return searchRanked(store, embedder, query, options, depth);
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
  const hits = await store.nearest(q.embedding, depth * 4, (h) => byHash.has(h));
  const vectorRanked = hits.flatMap((h) => byHash.get(h.hash) ?? []); // nearest() only returns hashes byHash has
  const kw = keywordHalf(query, located);
  const fused = new Map<Located, number>();
  fuse(fused, vectorRanked);
  fuse(fused, kw.ranked.slice(0, depth * 4));
  return ordered(fused, kw.exact);
}

/** The keyword half of a short query; a long one (a sentence, a pasted snippet) is matched by meaning alone. */
function keywordHalf(query: string, located: Located[]): { ranked: Located[]; exact: Tiers } {
  return isNameQuery(query) ? keywordRanking(query, located) : { ranked: [], exact: new Map() };
}

/** Whether a query is short enough to be names (what the keyword half and the store's names half match). */
function isNameQuery(query: string): boolean {
  return words(query).length <= MAX_KEYWORD_WORDS;
}

/** A chunk of the hybrid order: its fused score, its exact-name tier (0: none) and its rank there (1-based). */
interface Candidate {
  l: Located;
  fused: number;
  tier: number;
  rank: number;
}

/** The hybrid order: the exact name's definitions first (whatever the vectors say), then by fused score. */
function ordered(fused: Map<Located, number>, exact: Tiers): Candidate[] {
  return [...fused.entries()]
    .map(([l, score]) => ({ l, fused: score, tier: exact.get(l) ?? 0, rank: 0 }))
    .sort((a, b) => b.tier - a.tier || b.fused - a.fused)
    .map((c, i) => ({ ...c, rank: i + 1 }));
}

async function resultOf(lines: FileLines, c: Candidate): Promise<SearchResult> {
  const l = c.l;
  return {
    file: l.file.path,
    startLine: l.chunk.startLine,
    endLine: l.chunk.endLine,
    symbol: l.chunk.symbol,
    language: l.file.language,
    score: Number(c.fused.toFixed(6)),
    snippet: await snippetOf(lines, l.file.path, l.chunk),
  };
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
  store: SearchStore,
  embedder: QueryEmbedder,
  query: string,
  options: SearchOptions,
  depth: number,
): Promise<Candidate[]> {
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
    k: depth * 4,
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
  return ordered(fused, kw.exact);
}

export interface RerankSearchOptions {
  reranker: Reranker;
  /** the hybrid order's candidates to score (default rerankCandidates(limit)) */
  candidates?: number;
  /** aborts the reranker's request (the MCP call's cancellation) */
  signal?: AbortSignal;
}

/**
 * searchCode with a reranker: the first K chunks of the hybrid order (what
 * searchCode answers with limit K) are scored as (query, chunk text) pairs
 * by the reranker, and the best `limit` come back in its order, best first
 * (equal scores in the hybrid order). An identifier query's exact symbol
 * matches (the names half's contract: its definition first) stay on top in
 * their hybrid order, ranked 'name': a cross-encoder reads a bare name as
 * a short, vague query and may score a chunk that only uses it higher.
 *
 * The chunk text is the chunk's lines as the file has them now (the
 * snippet's source: both stores know where a chunk is, only LanceStore
 * keeps its text). When the reranker cannot score them (degraded: its
 * scores would be the fallback's cosine; failed; an error), the answer is
 * the hybrid order, ranked 'hybrid', and the report says why (used false).
 */
export async function searchCodeReranked(
  root: string,
  store: SearchStore,
  embedder: QueryEmbedder,
  query: string,
  options: SearchOptions,
  rerank: RerankSearchOptions,
): Promise<{ results: SearchResult[]; reranker: RerankReport }> {
  const limit = options.limit ?? 10;
  const info = rerank.reranker.info();
  const report = (candidates: number, reason: string | null, ms: number): RerankReport => ({
    model: info.name ?? path.basename(info.model),
    candidates,
    used: reason === null,
    reason,
    ms: Math.round(ms),
  });
  // a reranker known to be down: the answer searchCode gives, flagged, without asking for K candidates
  const down = rerankerDown(rerank.reranker);
  if (down) return { results: hybridResults(await searchCode(root, store, embedder, query, options)), reranker: report(0, down, 0) };
  const k = rerankCandidates(limit, rerank.candidates);
  const pool = (await hybrid(store, embedder, query, options, k)).slice(0, k);
  const t0 = performance.now();
  const lines = fileLines(root); // the candidates' files, read once for their texts and snippets
  const scored = await scoreCandidates(lines, query, pool, rerank);
  const ms = performance.now() - t0;
  const out: SearchResult[] = [];
  const scores = scored.scores;
  if (scores === null) {
    // it failed on these candidates: their hybrid order (each half was asked for K x 4, not limit x 4)
    for (const c of pool.slice(0, limit))
      out.push({ ...(await resultOf(lines, c)), ranking: 'hybrid', fusedRank: c.rank, fusedScore: round(c.fused) });
    return { results: out, reranker: report(pool.length, scored.reason, ms) };
  }
  const score = (c: Candidate) => scores[c.rank - 1] ?? Number.NEGATIVE_INFINITY;
  const names = pool.filter((c) => c.tier > 0);
  const rest = pool.filter((c) => c.tier === 0).sort((a, b) => score(b) - score(a) || a.rank - b.rank);
  for (const c of [...names, ...rest].slice(0, limit)) {
    const r = await resultOf(lines, c);
    const s = round(score(c));
    out.push({
      ...r,
      score: c.tier > 0 ? r.score : s,
      ranking: c.tier > 0 ? 'name' : 'reranker',
      fusedRank: c.rank,
      fusedScore: r.score,
      rerankScore: s,
    });
  }
  return { results: out, reranker: report(pool.length, null, ms) };
}

/** searchCode's results marked as the hybrid order's. */
function hybridResults(rs: SearchResult[]): SearchResult[] {
  return rs.map((r, i) => ({ ...r, ranking: 'hybrid', fusedRank: i + 1, fusedScore: r.score }));
}

/** Why a reranker cannot score now (degraded: its scores would be the fallback vectors' cosine; failed; closed), or null. */
function rerankerDown(r: Reranker): string | null {
  const st = r.status;
  if (!st.degraded && st.state !== 'failed' && st.state !== 'closed') return null;
  return `the reranker is ${st.degraded ? 'degraded' : st.state}: ${st.reason ?? 'no reason given'}`;
}

const round = (x: number) => Number(x.toFixed(6));

/** The reranker's scores of the candidates (index: rank - 1), or null and why when it cannot give them. */
async function scoreCandidates(
  lines: FileLines,
  query: string,
  pool: Candidate[],
  rerank: RerankSearchOptions,
): Promise<{ scores: number[] | null; reason: string | null }> {
  if (!pool.length) return { scores: [], reason: null };
  const texts = await chunkTexts(lines, pool);
  try {
    const r = await rerank.reranker.rerank(query, texts, { truncate: true, signal: rerank.signal });
    if (r.degraded) return { scores: null, reason: `the reranker is degraded: ${r.reason ?? 'no reason given'}` };
    return { scores: r.scores, reason: null };
  } catch (e) {
    // the caller's own cancellation is not the reranker's failure
    if (rerank.signal?.aborted) throw e;
    return { scores: null, reason: `the reranker failed: ${(e as Error).message}` };
  }
}

/** The candidates' texts: each chunk's lines as its file has them now. */
async function chunkTexts(lines: FileLines, pool: Candidate[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of pool) {
    const all = await lines(c.l.file.path);
    const text = all ? all.slice(c.l.chunk.startLine - 1, c.l.chunk.endLine).join('\n') : '';
    out.push(text.length > RERANK_MAX_CHARS ? text.slice(0, RERANK_MAX_CHARS) : text);
  }
  return out;
}
