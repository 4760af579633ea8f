// embedder.ts - the public API: Embedder.start(), embed, embedBatch, rerank,
// tokenize, info, health, stats, close. The supervisor (supervisor.ts) runs
// the `ggembed serve` child; the scheduler (scheduler.ts) carries the EMBED
// and RERANK requests. Model data never enters this process: only texts,
// vectors and scores do.

import { EventEmitter, once } from 'node:events';
import { zip } from './arrays.js';
import type { Connection } from './connection.js';
import { EmbedderError } from './errors.js';
import { fallbackEmbedding, fallbackTokenCount } from './fallback.js';
import { decodeHealthOk, decodeStatsOk, decodeTokenCount, decodeTokenizeOk, encodeTokenize, MsgType, POOLING_RANK } from './protocol.js';
import { type ClientStats, embedKind, type Item, type ResolvedEmbedOptions, rerankKind, Scheduler } from './scheduler.js';
import {
  type EmbedderStatus,
  type FallbackMode,
  KeepAlive,
  type StatusEvent,
  Supervisor,
  type SupervisorEvents,
  type SupervisorState,
  type Transport,
} from './supervisor.js';

export type { ClientStats } from './scheduler.js';
export type { EmbedderStatus, FallbackMode, StatusEvent, SupervisorState, Transport } from './supervisor.js';
export type Pooling = 'default' | 'mean' | 'cls' | 'last';

export interface EmbedderOptions {
  /** path of the GGUF model file */
  model: string;
  /** the ggembed executable; default env GGEMBED_BIN, then the platform package, then one built at install */
  binary?: string;
  threads?: number;
  /** 'auto': a named pipe on Windows, a Unix socket elsewhere */
  transport?: Transport;
  /** extra arguments for `ggembed serve` */
  serveArgs?: string[];
  /** extra environment for the server process */
  env?: NodeJS.ProcessEnv;
  /** expected SHA-256 of the model file (hex) */
  sha256?: string;
  /** where to download the model again when the check fails */
  sourceUrl?: string;
  /** skip `ggembed inspect` before starting */
  skipInspect?: boolean;
  /** directory of the SHA-256 cache */
  cacheDir?: string;
  /**
   * Local hashing vectors when the embedder cannot run. true (default): only
   * after a successful start, once restarts are spent; 'always': also when it
   * cannot start (start then resolves degraded, with status.reason); false:
   * never (requests reject with UNAVAILABLE). Start-up errors (binary not
   * found, model missing or refused, failed SHA-256 or re-download) reject
   * start unless 'always'.
   */
  fallback?: FallbackMode;
  /** dimensions of fallback vectors when the model's are unknown (default 384) */
  fallbackDims?: number;
  /** restarts after a failure before degrading (default 3) */
  maxRestarts?: number;
  /** first restart delay, doubled each attempt (default 250 ms) */
  restartBackoffMs?: number;
  /** connection attempts to a started server (default 5) */
  maxReconnects?: number;
  reconnectBackoffMs?: number;
  /** health check interval (default 5000 ms; 0 disables) */
  healthIntervalMs?: number;
  /** a health check without answer for this long means hung (default 5000 ms) */
  healthTimeoutMs?: number;
  /** time for the server to print its ready line (default 60000 ms) */
  startTimeoutMs?: number;
  /** how often to try to recover while degraded (default 10000 ms) */
  recoveryIntervalMs?: number;
  /** a child up this long without failing resets the restart count (default 10000 ms) */
  stableMs?: number;
  /** default per-request timeout (0: none) */
  timeoutMs?: number;
  /** EMBED requests this client keeps in flight at once (default: min(max_queue, 8)) */
  maxInFlight?: number;
  /** name sent in HELLO */
  clientName?: string;
  /** called on every state change, from the first one on (start() has not resolved yet then) */
  onStatus?: (s: StatusEvent) => void;
}

export interface EmbedOptions {
  pooling?: Pooling;
  /** L2-normalize (default: the server's default) */
  normalize?: boolean;
  /** cut texts over the context (default true); false: such a text fails with TOO_LONG */
  truncate?: boolean;
  /** keep the first dims values (Matryoshka) */
  dims?: number;
  /** prepended to every text, e.g. "search_query: " */
  prefix?: string;
  /** request f16 on the wire (half the bytes; values rounded) */
  half?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface EmbedResult {
  index: number;
  /** the vector; empty when error is set */
  embedding: Float32Array;
  tokens: number;
  truncated: boolean;
  /** true when the vector is the local fallback, not the model's */
  degraded: boolean;
  /** why the result is degraded */
  reason?: string;
  /** set when this text alone failed (e.g. code POISON) */
  error?: EmbedderError;
}

export interface RerankOptions {
  /** cut a pair over the context (the document's end; default true); false: such a pair fails with TOO_LONG */
  truncate?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RerankResult {
  /** one per document, in input order (not sorted): the reranker's relevance score, higher is more relevant */
  scores: number[];
  /** tokens of each (query, document) pair as run, special tokens included */
  tokens: number[];
  /** each pair was cut to the context */
  truncated: boolean[];
  /** true when the scores are not the reranker's but the cosine similarity of fallback vectors */
  degraded: boolean;
  /** why the result is degraded */
  reason?: string;
}

export interface EmbedderInfo {
  model: string;
  binary: string | null;
  transport: Exclude<Transport, 'auto'>;
  server: string | null;
  arch: string | null;
  name: string | null;
  dims: number;
  context: number | null;
  maxTexts: number | null;
  maxMessage: number | null;
  maxQueue: number | null;
  hasWeights: boolean | null;
  /** the model is a reranker (rerank() works); null while unknown */
  reranker: boolean | null;
  /** the model's pooling (none, mean, cls, last, rank); null while unknown */
  pooling: string | null;
  degraded: boolean;
  reason: string | null;
}

export interface EmbedderHealth {
  state: SupervisorState;
  degraded: boolean;
  reason: string | null;
  pid: number | null;
  restarts: number;
  server: { state: number; queue: number; connections: number; uptimeMs: number } | null;
}

export type EmbedderEvents = SupervisorEvents;

const POOLING: Record<Pooling, number> = { default: -1, mean: 1, cls: 2, last: 3 };
const POOLING_NAMES: Record<number, string> = { 0: 'none', 1: 'mean', 2: 'cls', 3: 'last', 4: 'rank' };

/** Dot product: the cosine of two L2-normalized vectors. */
function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
}

const EVENTS: (keyof SupervisorEvents)[] = ['start', 'exit', 'restart', 'degraded', 'recovered', 'status', 'progress', 'redownload', 'log'];

export class Embedder extends EventEmitter<EmbedderEvents> {
  private readonly sup: Supervisor;
  private readonly sched: Scheduler;
  private readonly keepAlive = new KeepAlive();
  private readonly timeoutMs: number;
  private readonly model: string;
  private readonly cstats: ClientStats = {
    requests: 0,
    texts: 0,
    replayed: 0,
    restarts: 0,
    fallbackTexts: 0,
    poisoned: 0,
    cancelled: 0,
    timeouts: 0,
  };

  private constructor(opts: EmbedderOptions) {
    super();
    this.model = opts.model;
    this.timeoutMs = opts.timeoutMs ?? 0;
    this.sup = new Supervisor({
      transport: 'auto',
      serveArgs: [],
      env: {},
      skipInspect: false,
      fallback: true,
      fallbackDims: 384,
      maxRestarts: 3,
      restartBackoffMs: 250,
      maxReconnects: 5,
      reconnectBackoffMs: 50,
      healthIntervalMs: 5000,
      healthTimeoutMs: 5000,
      startTimeoutMs: 60000,
      recoveryIntervalMs: 10000,
      stableMs: 10000,
      clientName: 'ggembed-node',
      ...opts,
    });
    this.sched = new Scheduler(this.sup, opts.maxInFlight, this.cstats);
    this.sup.hooks = this.sched;
    for (const name of EVENTS)
      this.sup.on(name, (...args: unknown[]) => (this.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args));
    if (opts.onStatus) this.sup.on('status', opts.onStatus);
  }

  /**
   * Starts the embedder. Rejects when it cannot start (binary not found,
   * model missing, refused or failing its check, server not starting),
   * unless fallback is 'always': then it resolves degraded, status.reason
   * says why, and recovery is retried in the background.
   */
  static async start(opts: EmbedderOptions): Promise<Embedder> {
    if (!opts?.model) throw new TypeError('Embedder.start: option model is required');
    const e = new Embedder(opts);
    try {
      await e.keepAlive.around(e.sup.start());
    } catch (err) {
      await e.close();
      throw err;
    }
    return e;
  }

  /** Stops the embedder (SHUTDOWN, then a kill after a grace period). Requests still waiting fail with CLOSED. */
  async close(graceMs = 2000): Promise<void> {
    await this.keepAlive.around(this.sup.close(graceMs));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------ requests

  private resolveOptions(o: EmbedOptions): ResolvedEmbedOptions {
    return {
      pooling: POOLING[o.pooling ?? 'default'] ?? -1,
      normalize: o.normalize === undefined ? -1 : o.normalize ? 1 : 0,
      truncate: o.truncate !== false,
      dims: o.dims ?? 0,
      prefix: o.prefix ?? '',
      format: o.half ? 1 : 0,
    };
  }

  /** Embeds one text. Rejects when that text fails (e.g. POISON, TOO_LONG). */
  async embed(text: string, options: EmbedOptions = {}): Promise<EmbedResult> {
    const [r] = await this.embedBatch([text], options);
    // cannot happen: embedBatch answers every text
    if (!r) throw new Error('Embedder.embed: no result');
    if (r.error) throw r.error;
    return r;
  }

  /**
   * Embeds many texts: split to the server's limits, sent concurrently,
   * answered in order. Either every vector is the model's or (degraded) every
   * vector is the fallback's, flagged; a text that crashes the embedder has `error`.
   */
  async embedBatch(texts: string[], options: EmbedOptions = {}): Promise<EmbedResult[]> {
    if (!Array.isArray(texts)) throw new TypeError('embedBatch: texts must be an array of strings');
    for (const t of texts) if (typeof t !== 'string') throw new TypeError('embedBatch: texts must be strings');
    if (this.sup.state === 'closed') throw new EmbedderError('CLOSED', 'the embedder was closed');
    options.signal?.throwIfAborted();
    this.cstats.requests++;
    this.cstats.texts += texts.length;
    if (texts.length === 0) return [];
    const opts = this.resolveOptions(options);

    let items: Item[];
    const st = this.sup.status;
    if (st.state === 'failed') throw failedError(st);
    if (st.degraded) {
      items = texts.map(() => ({ kind: 'fallback', reason: st.reason ?? 'degraded' }));
    } else {
      const { signal, deadline } = this.callSignal(options);
      items = await this.keepAlive.around(this.sched.submit(texts, embedKind(opts), deadline, signal));
    }

    // never a silent mix: one fallback result makes the whole batch fallback
    const fb = items.find((i): i is Extract<Item, { kind: 'fallback' }> => i.kind === 'fallback');
    const dims = opts.dims || this.sup.dims;
    return zip(texts, items).map(([text, it], index): EmbedResult => {
      if (it.kind === 'error')
        return { index, embedding: new Float32Array(0), tokens: 0, truncated: false, degraded: false, error: it.error };
      if (fb) {
        this.cstats.fallbackTexts++;
        return {
          index,
          embedding: fallbackEmbedding(opts.prefix + text, dims),
          tokens: fallbackTokenCount(text),
          truncated: false,
          degraded: true,
          reason: fb.reason,
        };
      }
      const ok = it as Extract<Item, { kind: 'ok' }>;
      return { index, embedding: ok.vector, tokens: ok.tokens, truncated: ok.truncated, degraded: false };
    });
  }

  /** The caller's signal and the timeout as one signal (never a listener per chunk on the caller's), and the deadline. */
  private callSignal(o: { timeoutMs?: number; signal?: AbortSignal }): { signal?: AbortSignal; deadline: number } {
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const sources = [o.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    return { signal: sources.length ? AbortSignal.any(sources) : undefined, deadline: timeoutMs > 0 ? Date.now() + timeoutMs : 0 };
  }

  /**
   * Scores each document against the query with a reranker model (split
   * to the server's limits and supervised like embedBatch). Rejects with
   * NOT_RERANKER when the model is not one, before sending anything; with
   * POISON (the message names the document) when a document alone crashes
   * the server. While degraded the scores are the cosine similarity of the
   * fallback vectors of query and document, flagged degraded with a reason.
   */
  async rerank(query: string, documents: string[], options: RerankOptions = {}): Promise<RerankResult> {
    if (typeof query !== 'string') throw new TypeError('rerank: query must be a string');
    if (!Array.isArray(documents)) throw new TypeError('rerank: documents must be an array of strings');
    for (const d of documents) if (typeof d !== 'string') throw new TypeError('rerank: documents must be strings');
    if (this.sup.state === 'closed') throw new EmbedderError('CLOSED', 'the embedder was closed');
    options.signal?.throwIfAborted();
    const h = this.sup.hello;
    if (h && h.pooling !== POOLING_RANK)
      throw new EmbedderError(
        'NOT_RERANKER',
        `the model (${h.arch}${h.name ? ` ${h.name}` : ''}) is not a reranker: its pooling is ${POOLING_NAMES[h.pooling] ?? h.pooling}, not rank; use a reranker such as bge-reranker-v2-m3`,
      );
    this.cstats.requests++;
    this.cstats.texts += documents.length;
    if (documents.length === 0) return { scores: [], tokens: [], truncated: [], degraded: false };
    const st = this.sup.status;
    if (st.state === 'failed') throw failedError(st);
    let items: Item[];
    if (st.degraded) {
      items = documents.map(() => ({ kind: 'fallback', reason: st.reason ?? 'degraded' }));
    } else {
      const { signal, deadline } = this.callSignal(options);
      items = await this.keepAlive.around(this.sched.submit(documents, rerankKind(query, options.truncate !== false), deadline, signal));
    }
    for (const [i, it] of items.entries())
      if (it.kind === 'error') throw new EmbedderError(it.error.code, `document ${i}: ${it.error.message}`, { cause: it.error });
    // never a silent mix: one fallback result makes the whole call fallback
    const fb = items.find((i): i is Extract<Item, { kind: 'fallback' }> => i.kind === 'fallback');
    if (fb) {
      this.cstats.fallbackTexts += documents.length;
      const dims = this.sup.dims;
      const q = fallbackEmbedding(query, dims);
      return {
        scores: documents.map((d) => dot(q, fallbackEmbedding(d, dims))),
        tokens: documents.map((d) => fallbackTokenCount(query) + fallbackTokenCount(d)),
        truncated: documents.map(() => false),
        degraded: true,
        reason: `${fb.reason}; the scores are the cosine similarity of local fallback vectors, not the reranker's`,
      };
    }
    const scored = items as Extract<Item, { kind: 'scored' }>[];
    return {
      scores: scored.map((x) => x.score),
      tokens: scored.map((x) => x.tokens),
      truncated: scored.map((x) => x.truncated),
      degraded: false,
    };
  }

  /** The connection once the embedder is ready; rejects while it is down or closed. */
  private async whenReady(): Promise<Connection> {
    for (;;) {
      const s = this.sup.status;
      if (s.state === 'ready' && this.sup.conn) return this.sup.conn;
      if (s.state === 'closed') throw new EmbedderError('CLOSED', 'the embedder was closed');
      if (s.state === 'failed') throw failedError(s);
      if (s.state === 'degraded') throw new EmbedderError('UNAVAILABLE', `the embedder is not running: ${s.reason}`);
      await once(this.sup, 'status');
    }
  }

  /** A request the server answers at once, re-sent after a restart. */
  private async simple(type: number, body: Buffer): Promise<Buffer> {
    return this.keepAlive.around(
      (async () => {
        for (let attempt = 0; ; attempt++) {
          const conn = await this.whenReady();
          try {
            return await conn.send(type, body).promise;
          } catch (e) {
            if ((e as EmbedderError).code !== 'CONNECTION_LOST') throw e;
            if (attempt >= this.sup.maxRestarts)
              throw new EmbedderError('UNAVAILABLE', `the embedder kept failing: ${(e as Error).message}`, { cause: e });
          }
        }
      })(),
    );
  }

  /** Token ids of a text (the model's tokenizer; not available while degraded). */
  async tokenize(text: string, options: { addSpecial?: boolean } = {}): Promise<number[]> {
    return decodeTokenizeOk(await this.simple(MsgType.TOKENIZE, encodeTokenize(text, options.addSpecial !== false)));
  }

  /** The number of tokens of a text (tokenize's length, without making the ids). */
  async countTokens(text: string, options: { addSpecial?: boolean } = {}): Promise<number> {
    return decodeTokenCount(await this.simple(MsgType.TOKENIZE, encodeTokenize(text, options.addSpecial !== false)));
  }

  /** What the embedder serves (from HELLO_OK), or what is known while degraded. */
  info(): EmbedderInfo {
    const h = this.sup.hello;
    const s = this.sup.status;
    return {
      model: this.model,
      binary: this.sup.binary,
      transport: this.sup.transport,
      server: h?.server ?? null,
      arch: h?.arch ?? null,
      name: h?.name ?? null,
      dims: this.sup.dims,
      context: h?.context ?? null,
      maxTexts: h?.maxTexts ?? null,
      maxMessage: h?.maxMessage ?? null,
      maxQueue: h?.maxQueue ?? null,
      hasWeights: h?.hasWeights ?? null,
      reranker: h ? h.pooling === POOLING_RANK : null,
      pooling: h ? (POOLING_NAMES[h.pooling] ?? String(h.pooling)) : null,
      degraded: s.degraded,
      reason: s.reason,
    };
  }

  private async ask(type: number): Promise<Buffer | null> {
    const conn = this.sup.conn;
    if (this.sup.state !== 'ready' || !conn) return null;
    try {
      return await this.keepAlive.around(conn.send(type, Buffer.alloc(0), this.sup.healthTimeoutMs).promise);
    } catch {
      return null;
    }
  }

  /** Supervisor state and, when the server is up, its HEALTH answer. Never throws. */
  async health(): Promise<EmbedderHealth> {
    const b = await this.ask(MsgType.HEALTH);
    const s = this.sup.status;
    return {
      state: s.state,
      degraded: s.degraded,
      reason: s.reason,
      pid: this.sup.pid,
      restarts: this.sup.restarts,
      server: b ? decodeHealthOk(b) : null,
    };
  }

  /** The client's counters and, when the server is up, its STATS. */
  async stats(): Promise<{ client: ClientStats; server: Record<string, number> | null }> {
    const b = await this.ask(MsgType.STATS);
    return { client: { ...this.cstats, restarts: this.sup.restarts }, server: b ? decodeStatsOk(b) : null };
  }

  /** The running server's process id (for tests and diagnostics). */
  get pid(): number | null {
    return this.sup.pid;
  }

  /** The supervisor's state: starting, ready, restarting, degraded, failed or closed. */
  get state(): SupervisorState {
    return this.sup.state;
  }

  /** The state with whether results are fallback vectors and why; the 'status' event carries each change. */
  get status(): EmbedderStatus {
    return this.sup.status;
  }
}

function failedError(s: EmbedderStatus): EmbedderError {
  // the supervisor sets the error whenever it enters 'failed'
  return s.error ?? new EmbedderError('UNAVAILABLE', `the embedder failed: ${s.reason}`);
}
