// scheduler.ts - the EMBED and RERANK requests of every caller: split to
// the server's limits, sent through a window of requests in flight, re-sent
// after a server death, and, when the server crashed by itself, re-sent one
// at a time and split in halves until the text (document) that crashes it
// fails alone (POISON). What differs between the two is a RequestKind.

import { at } from './arrays.js';
import { backoffDelay } from './backoff.js';
import type { Connection } from './connection.js';
import { EmbedderError } from './errors.js';
import {
  decodeEmbedOk,
  decodeRerankOk,
  embedBodyOverhead,
  encodeCancel,
  encodeEmbed,
  encodeRerank,
  MsgType,
  rerankBodyOverhead,
} from './protocol.js';
import type { Death, EmbedderStatus, Supervisor, SupervisorHooks } from './supervisor.js';

export type Item =
  | { kind: 'ok'; vector: Float32Array; tokens: number; truncated: boolean }
  | { kind: 'scored'; score: number; tokens: number; truncated: boolean }
  | { kind: 'error'; error: EmbedderError }
  | { kind: 'fallback'; reason: string };

export interface ResolvedEmbedOptions {
  pooling: number;
  normalize: number;
  truncate: boolean;
  dims: number;
  prefix: string;
  format: 0 | 1;
}

/** What one kind of engine request carries: its message, its fixed bytes, its answer. */
export interface RequestKind {
  type: number;
  /** what one of its texts is, in messages */
  item: string;
  /** body bytes besides the texts (documents) */
  overhead: number;
  encode(texts: string[], deadlineMs: number): Buffer;
  /** one item per text; throws when the answer does not fit the request */
  decode(body: Buffer, n: number): Item[];
}

export function embedKind(o: ResolvedEmbedOptions): RequestKind {
  return {
    type: MsgType.EMBED,
    item: 'a text',
    overhead: embedBodyOverhead(Buffer.byteLength(o.prefix)),
    encode: (texts, deadlineMs) =>
      encodeEmbed({
        deadlineMs,
        pooling: o.pooling,
        normalize: o.normalize,
        truncate: o.truncate,
        format: o.format,
        dims: o.dims,
        prefix: o.prefix,
        texts,
      }),
    decode: (body, n) => {
      const r = decodeEmbedOk(body);
      if (r.n !== n) throw new Error(`EMBED_OK has ${r.n} vectors for ${n} texts`);
      // decodeEmbedOk makes tokens and truncated n long, like vectors
      return r.vectors.map((v, i) => ({ kind: 'ok', vector: v, tokens: at(r.tokens, i), truncated: at(r.truncated, i) }));
    },
  };
}

export function rerankKind(query: string, truncate: boolean): RequestKind {
  const q = Buffer.from(query, 'utf8');
  return {
    type: MsgType.RERANK,
    item: 'a document with its query',
    overhead: rerankBodyOverhead(q.length),
    encode: (documents, deadlineMs) => encodeRerank({ deadlineMs, truncate, query: q, documents }),
    decode: (body, n) => {
      const r = decodeRerankOk(body);
      if (r.n !== n) throw new Error(`RERANK_OK has ${r.n} scores for ${n} documents`);
      return r.scores.map((score, i) => ({ kind: 'scored', score, tokens: at(r.tokens, i), truncated: at(r.truncated, i) }));
    },
  };
}

export interface ClientStats {
  requests: number;
  texts: number;
  replayed: number;
  restarts: number;
  fallbackTexts: number;
  poisoned: number;
  cancelled: number;
  timeouts: number;
}

/** One caller's texts, answered once, in order. */
interface Call {
  req: RequestKind;
  deadline: number; // absolute ms, 0: none
  items: Item[];
  remaining: number;
  /** the ops still out for it */
  ops: Set<Op>;
  settled: boolean;
  resolve: (items: Item[]) => void;
  reject: (e: EmbedderError) => void;
  cleanup: () => void;
}

/** One request's worth of a call's texts (documents), from `offset` on. */
interface Op {
  call: Call;
  offset: number;
  texts: string[];
  /** sent only when nothing else is in flight: it was in flight when the server crashed */
  isolated: boolean;
  conn?: Connection;
  reqId?: number;
}

/** An AbortSignal's reason as the error callers get. */
function abortError(reason: unknown): EmbedderError {
  if (reason instanceof EmbedderError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError')
    return new EmbedderError('TIMEOUT', 'the request timed out', { cause: reason });
  return new EmbedderError('ABORTED', `the request was aborted${reason instanceof Error ? `: ${reason.message}` : ''}`, { cause: reason });
}

export class Scheduler implements SupervisorHooks {
  private waiting: Op[] = [];
  private readonly inflight = new Set<Op>();
  /** BUSY answers in a row; re-sending waits backoffDelay(busy) */
  private busy = 0;
  private busyTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sup: Supervisor,
    private readonly maxInFlight: number | undefined,
    private readonly stats: ClientStats,
  ) {}

  /** Queues texts; resolves with one item per text, or rejects when the whole call fails. */
  submit(texts: string[], req: RequestKind, deadline: number, signal?: AbortSignal): Promise<Item[]> {
    return new Promise<Item[]>((resolve, reject) => {
      const onAbort = () => {
        const err = abortError(signal?.reason);
        if (err.code === 'TIMEOUT') this.stats.timeouts++;
        else this.stats.cancelled++;
        this.stop(call, err);
      };
      const call: Call = {
        req,
        deadline,
        items: new Array<Item>(texts.length),
        remaining: texts.length,
        ops: new Set(),
        settled: false,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let offset = 0;
      for (const chunk of this.chunk(texts, req)) {
        const op: Op = { call, offset, texts: chunk, isolated: false };
        offset += chunk.length;
        call.ops.add(op);
        this.waiting.push(op);
      }
      this.pump();
    });
  }

  /** Splits texts into chunks that fit the server's max_texts and max_message. */
  private chunk(texts: string[], req: RequestKind): string[][] {
    const hello = this.sup.hello;
    const maxTexts = Math.max(1, hello?.maxTexts ?? 256);
    const maxMessage = hello?.maxMessage ?? 4 << 20;
    const overhead = req.overhead;
    const chunks: string[][] = [];
    let cur: string[] = [];
    let size = overhead;
    for (const t of texts) {
      const n = 4 + Buffer.byteLength(t);
      if (cur.length > 0 && (cur.length >= maxTexts || size + n > maxMessage)) {
        chunks.push(cur);
        cur = [];
        size = overhead;
      }
      cur.push(t);
      size += n;
    }
    if (cur.length) chunks.push(cur);
    return chunks;
  }

  private complete(op: Op, items: Item[]): void {
    const c = op.call;
    if (c.settled) return;
    c.ops.delete(op);
    for (const [i, item] of items.entries()) c.items[op.offset + i] = item;
    c.remaining -= op.texts.length;
    if (c.remaining > 0) return;
    c.settled = true;
    c.cleanup();
    c.resolve(c.items);
  }

  /** Fails a call: its ops leave the queue, those in flight are cancelled on the server. */
  private stop(c: Call, err: EmbedderError): void {
    if (c.settled) return;
    c.settled = true;
    c.cleanup();
    this.waiting = this.waiting.filter((op) => op.call !== c);
    for (const op of c.ops) {
      if (!this.inflight.delete(op)) continue;
      if (op.conn && op.reqId !== undefined && !op.conn.isClosed) {
        op.conn.forget(op.reqId);
        op.conn.send(MsgType.CANCEL, encodeCancel(op.reqId)).promise.catch(() => {});
      }
    }
    c.ops.clear();
    c.reject(err);
    this.pump();
  }

  private window(): number {
    const q = this.sup.hello?.maxQueue ?? 8;
    return Math.max(1, this.maxInFlight ?? Math.min(q, 8));
  }

  /** Sends waiting ops while the window allows; isolated ops go alone. */
  pump(): void {
    const conn = this.sup.conn;
    while (this.sup.state === 'ready' && conn && !conn.isClosed && !this.busyTimer && this.waiting.length > 0) {
      const next = at(this.waiting, 0);
      if (next.call.settled) {
        this.waiting.shift();
        continue;
      }
      if (next.isolated) {
        if (this.inflight.size > 0) return;
      } else {
        if (this.inflight.size >= this.window()) return;
        for (const f of this.inflight) if (f.isolated) return;
      }
      this.waiting.shift();
      this.send(next, conn);
      if (next.isolated) return;
    }
  }

  private owns(op: Op, conn: Connection, id: number): boolean {
    return !op.call.settled && this.inflight.has(op) && op.conn === conn && op.reqId === id;
  }

  private send(op: Op, conn: Connection): void {
    const c = op.call;
    const body = c.req.encode(op.texts, c.deadline ? Math.max(1, c.deadline - Date.now()) : 0);
    const maxMessage = this.sup.hello?.maxMessage;
    if (maxMessage !== undefined && body.length > maxMessage) {
      // one text alone over the server's limit
      this.stop(
        c,
        new EmbedderError(
          'TOO_LARGE',
          `${c.req.item} makes a request of ${body.length} bytes, over the server's max message of ${maxMessage}`,
        ),
      );
      return;
    }
    const { id, promise } = conn.send(c.req.type, body);
    op.conn = conn;
    op.reqId = id;
    this.inflight.add(op);
    promise.then(
      (b) => {
        if (!this.owns(op, conn, id)) return;
        this.inflight.delete(op);
        let items: Item[];
        try {
          items = c.req.decode(b, op.texts.length);
        } catch (e) {
          this.stop(c, new EmbedderError('PROTOCOL', (e as Error).message));
          return;
        }
        this.sup.working();
        this.busy = 0;
        this.complete(op, items);
        this.pump();
      },
      (e: EmbedderError) => {
        if (!this.owns(op, conn, id)) return;
        if (e.code === 'CONNECTION_LOST') return; // the supervisor's lost() takes it back
        this.inflight.delete(op);
        if (e.code === 'BUSY' || e.code === 'SHUTTING_DOWN' || e.code === 'MODEL_CHANGED') {
          // the server's queue is full, or it is stopping (its model changed) and a restart follows: send it again later
          op.conn = undefined;
          op.reqId = undefined;
          this.waiting.unshift(op);
          this.waitBusy();
          return;
        }
        if (e.code === 'TIMEOUT') this.stats.timeouts++;
        this.stop(c, e);
      },
    );
  }

  private waitBusy(): void {
    if (this.busyTimer) return;
    this.busy++;
    this.busyTimer = setTimeout(
      () => {
        this.busyTimer = null;
        this.pump();
      },
      backoffDelay(this.busy, 20, 1000),
    ).unref();
  }

  // ------------------------------------------------ the supervisor's hooks

  ready(): void {
    this.pump();
  }

  /**
   * The server died with these requests in flight; all are re-sent. Only a
   * crash of the server's own (Death.blame) is evidence against them: then
   * they are re-sent one at a time, and one that was alone in flight is
   * split, or, a single text, fails with POISON.
   */
  lost(death: Death): boolean {
    const ops = [...this.inflight];
    this.inflight.clear();
    const alone = death.blame && ops.length === 1 && at(ops, 0).isolated;
    const requeue: Op[] = [];
    let attributed = false;
    for (const op of ops) {
      op.conn = undefined;
      op.reqId = undefined;
      if (op.call.settled) continue;
      if (!alone) {
        if (death.blame) op.isolated = true;
        requeue.push(op);
        continue;
      }
      attributed = true;
      if (op.texts.length === 1) {
        this.stats.poisoned++;
        this.complete(op, [
          {
            kind: 'error',
            error: new EmbedderError(
              'POISON',
              `this text made the embedder crash again, alone, after a restart (${death.reason}); it was not embedded`,
            ),
          },
        ]);
        continue;
      }
      requeue.push(...this.split(op));
    }
    this.stats.replayed += requeue.length;
    this.waiting.unshift(...requeue);
    return attributed;
  }

  /** Splits an op in two isolated halves. */
  private split(op: Op): Op[] {
    const mid = Math.ceil(op.texts.length / 2);
    const halves: Op[] = [
      { call: op.call, offset: op.offset, texts: op.texts.slice(0, mid), isolated: true },
      { call: op.call, offset: op.offset + mid, texts: op.texts.slice(mid), isolated: true },
    ];
    op.call.ops.delete(op);
    for (const h of halves) op.call.ops.add(h);
    return halves;
  }

  /** The embedder went down: the waiting requests get fallback vectors (degraded) or its error. */
  down(status: EmbedderStatus): void {
    for (const op of this.waiting.splice(0)) {
      if (op.call.settled) continue;
      if (status.degraded)
        this.complete(
          op,
          op.texts.map(() => ({ kind: 'fallback', reason: status.reason ?? 'degraded' })),
        );
      else this.stop(op.call, status.error ?? new EmbedderError('UNAVAILABLE', `the embedder is not running: ${status.reason}`));
    }
  }

  closed(): void {
    if (this.busyTimer) {
      clearTimeout(this.busyTimer);
      this.busyTimer = null;
    }
    const calls = new Set([...this.waiting, ...this.inflight].map((op) => op.call));
    for (const c of calls) this.stop(c, new EmbedderError('CLOSED', 'the embedder was closed'));
    this.waiting = [];
    this.inflight.clear();
  }
}
