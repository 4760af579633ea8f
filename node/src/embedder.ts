// embedder.ts - the client: spawns and supervises `ggembed serve`, talks
// docs/PROTOCOL.md to it, re-sends requests lost in a crash, isolates texts
// that crash it, and falls back to a local hashing embedding when it cannot
// run. Model data never enters this process: only texts and vectors do.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fsp, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describeBinarySearch, findBinary } from './binary.js';
import { CONNECTION_LOST, Connection } from './connection.js';
import { EmbedderError } from './errors.js';
import { fallbackEmbedding, fallbackTokenCount } from './fallback.js';
import { ensureModel, inspectModel, type ProgressEvent } from './integrity.js';
import {
  MsgType, decodeEmbedOk, decodeHealthOk, decodeStatsOk, decodeTokenizeOk, embedBodyOverhead, encodeCancel, encodeEmbed,
  encodeTokenize, type HelloOk,
} from './protocol.js';

export type Transport = 'auto' | 'socket' | 'pipe' | 'stdio';
export type Pooling = 'default' | 'mean' | 'cls' | 'last';

export interface EmbedderOptions {
  /** path of the GGUF model file */
  model: string;
  /** the ggembed executable; default env GGEMBED_BIN, then `ggembed` on PATH */
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
  /** use the local hashing embedding when the embedder cannot run (default true) */
  fallback?: boolean;
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
  degraded: boolean;
  reason: string | null;
}

export interface EmbedderHealth {
  state: 'starting' | 'ready' | 'restarting' | 'degraded' | 'closed';
  degraded: boolean;
  reason: string | null;
  pid: number | null;
  restarts: number;
  server: { state: number; queue: number; connections: number; uptimeMs: number } | null;
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

type State = EmbedderHealth['state'];

type Item =
  | { kind: 'ok'; vector: Float32Array; tokens: number; truncated: boolean }
  | { kind: 'error'; error: EmbedderError }
  | { kind: 'fallback'; reason: string };

interface ResolvedEmbedOptions {
  pooling: number;
  normalize: number;
  truncate: boolean;
  dims: number;
  prefix: string;
  format: 0 | 1;
}

/** One EMBED request's worth of texts, re-sent until it is answered once. */
interface Op {
  texts: string[];
  opts: ResolvedEmbedOptions;
  deadline: number; // absolute ms, 0: none
  signal?: AbortSignal;
  /** sent only when nothing else is in flight, after a crash it was part of */
  isolated: boolean;
  crashes: number;
  /** answered (done or fail called); done and fail are idempotent */
  settled: boolean;
  /** the op the caller's chunk started as (itself, or the op this half was split from) */
  root?: Op;
  done: (items: Item[]) => void;
  fail: (e: EmbedderError) => void;
  conn?: Connection;
  reqId?: number;
  sentGen?: number;
  cleanup?: () => void;
}

const POOLING: Record<Pooling, number> = { default: -1, mean: 1, cls: 2, last: 3 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// children of every Embedder in this process, killed when the process exits
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      try { c.kill('SIGKILL'); } catch { /* gone */ }
    }
    for (const d of liveDirs) {
      try { rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
    }
  });
}

export interface EmbedderEvents {
  start: [{ pid: number; transport: string; address: string }];
  exit: [{ pid: number; code: number | null; signal: string | null; reason: string }];
  restart: [{ attempt: number; delayMs: number; reason: string }];
  degraded: [{ reason: string }];
  recovered: [{ pid: number }];
  progress: [ProgressEvent];
  redownload: [{ reason: string; url: string }];
  log: [string];
}

export class Embedder extends EventEmitter<EmbedderEvents> {
  private readonly o: Required<Omit<EmbedderOptions, 'binary' | 'threads' | 'sha256' | 'sourceUrl' | 'cacheDir' | 'maxInFlight'>> & EmbedderOptions;
  private state: State = 'starting';
  private reason: string | null = null;
  private binary: string | null = null;
  private transport: Exclude<Transport, 'auto'>;
  private child: ChildProcess | null = null;
  private conn: Connection | null = null;
  private hello: HelloOk | null = null;
  private inspectDims: number | null = null;
  private gen = 0;
  private sockDir: string | null = null;
  private readonly waiting: Op[] = [];
  private readonly inflight = new Set<Op>();
  private failures = 0;
  private stableTimer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private recoveryTimer: NodeJS.Timeout | null = null;
  private busyTimer: NodeJS.Timeout | null = null;
  private restarting: Promise<void> | null = null;
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private stderrTail: string[] = [];
  private readonly cstats: ClientStats = { requests: 0, texts: 0, replayed: 0, restarts: 0, fallbackTexts: 0, poisoned: 0, cancelled: 0, timeouts: 0 };

  private constructor(opts: EmbedderOptions) {
    super();
    this.o = {
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
      timeoutMs: 0,
      clientName: 'ggembed-node',
      ...opts,
    };
    const t = this.o.transport;
    this.transport = t === 'auto' ? (process.platform === 'win32' ? 'pipe' : 'socket') : t;
  }

  /**
   * Starts the embedder. With fallback enabled (the default) this resolves
   * even when the embedder cannot run: results are then marked degraded and
   * recovery is retried in the background. With fallback off it rejects.
   */
  static async start(opts: EmbedderOptions): Promise<Embedder> {
    if (!opts || !opts.model) throw new TypeError('Embedder.start: option model is required');
    installExitHook();
    const e = new Embedder(opts);
    try {
      await e.bringUp();
      e.setReady();
    } catch (err) {
      if (!e.o.fallback) {
        await e.close();
        throw err;
      }
      await e.learnDims();
      e.enterDegraded((err as Error).message);
    }
    return e;
  }

  /** Fallback vectors use the model's dimension: ask the engine about the file even when it did not start. */
  private async learnDims(): Promise<void> {
    if (this.hello || this.inspectDims) return;
    const b = this.binary ?? findBinary(this.o.binary);
    if (!b) return;
    try {
      const info = await inspectModel(b, this.o.model, 10000);
      if (info.dims) this.inspectDims = info.dims;
    } catch { /* unknown: fallbackDims */ }
  }

  // ------------------------------------------------------------ lifecycle

  /** Finds the binary, checks the model, spawns and connects. */
  private async bringUp(): Promise<void> {
    this.binary = findBinary(this.o.binary);
    if (!this.binary) throw new EmbedderError('UNAVAILABLE', `ggembed binary not found (${describeBinarySearch(this.o.binary)})`);
    const info = await ensureModel({
      binary: this.o.skipInspect ? null : this.binary,
      model: this.o.model,
      sha256: this.o.sha256,
      sourceUrl: this.o.sourceUrl,
      cacheDir: this.o.cacheDir,
      onProgress: (p) => this.emit('progress', p),
      onRedownload: (reason) => this.emit('redownload', { reason, url: this.o.sourceUrl! }),
    });
    if (info?.dims) this.inspectDims = info.dims;
    await this.spawnChild();
  }

  private address(): { serveArgs: string[]; connectTo: string } {
    if (this.transport === 'pipe') {
      const name = `ggembed-${process.pid}-${randomBytes(6).toString('hex')}`;
      return { serveArgs: ['--pipe', name], connectTo: `\\\\.\\pipe\\${name}` };
    }
    const p = path.join(this.sockDir!, 'ggembed.sock');
    return { serveArgs: ['--socket', p], connectTo: p };
  }

  private async spawnChild(): Promise<void> {
    if (this.transport === 'socket' && !this.sockDir) {
      this.sockDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ggembed-'));
      liveDirs.add(this.sockDir);
    }
    const gen = ++this.gen;
    const addr = this.transport === 'stdio' ? { serveArgs: ['--stdio'], connectTo: '' } : this.address();
    const args = ['serve', '-m', this.o.model, ...addr.serveArgs];
    if (this.o.threads) args.push('--threads', String(this.o.threads));
    args.push(...this.o.serveArgs);
    const child = spawn(this.binary!, args, {
      stdio: [this.transport === 'stdio' ? 'pipe' : 'ignore', this.transport === 'stdio' ? 'pipe' : 'ignore', 'pipe'],
      env: { ...process.env, ...this.o.env },
      windowsHide: true,
    });
    this.child = child;
    liveChildren.add(child);
    this.stderrTail = [];

    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new EmbedderError('UNAVAILABLE', `ggembed serve printed no ready line within ${this.o.startTimeoutMs} ms`)), this.o.startTimeoutMs);
      const rl = createInterface({ input: child.stderr! });
      rl.on('line', (line) => {
        this.stderrTail.push(line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
        this.emit('log', line);
        if (line.startsWith('ggembed: ready ')) { clearTimeout(timer); resolve(line); }
      });
      child.once('error', (err) => { clearTimeout(timer); reject(new EmbedderError('UNAVAILABLE', `cannot run ${this.binary}: ${err.message}`, { cause: err })); });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const tail = this.stderrTail.filter((l) => !l.startsWith('ggembed: ready')).slice(-3).join(' / ');
        reject(new EmbedderError('UNAVAILABLE', `ggembed serve exited (${signal ?? 'status ' + code}) before it was ready${tail ? ': ' + tail : ''}`));
      });
    });
    let established = false;
    child.on('exit', (code, signal) => {
      liveChildren.delete(child);
      if (!established || this.state === 'closed') return;
      const reason = `the embedder (pid ${child.pid}) exited with ${signal ? 'signal ' + signal : 'status ' + code}`;
      this.emit('exit', { pid: child.pid ?? -1, code, signal, reason });
      if (gen === this.gen) this.onFailure(reason);
    });

    try {
      const line = await ready;
      let conn: Connection;
      if (this.transport === 'stdio') {
        conn = new Connection(child.stdout!, child.stdin!, () => child.stdin?.end());
      } else {
        void line;
        conn = await this.connect(addr.connectTo);
      }
      const hello = await conn.handshake(this.o.clientName, this.o.startTimeoutMs);
      if (gen !== this.gen) { conn.close(); throw new EmbedderError('UNAVAILABLE', 'the embedder exited while starting'); }
      this.conn = conn;
      this.hello = hello;
      conn.on('close', (reason: string) => {
        if (gen !== this.gen || this.state === 'closed' || this.conn !== conn) return;
        this.onFailure(`lost the connection to the embedder: ${reason}`);
      });
      established = true;
      this.emit('start', { pid: child.pid ?? -1, transport: this.transport, address: addr.connectTo || 'stdio' });
    } catch (err) {
      if (gen === this.gen) this.gen++; // the exit of this child is not a failure of a running one
      this.killChild(child);
      throw err;
    }
  }

  private async connect(address: string): Promise<Connection> {
    let lastErr: Error | null = null;
    for (let attempt = 0; attempt < this.o.maxReconnects; attempt++) {
      if (attempt > 0) await sleep(this.o.reconnectBackoffMs * 2 ** (attempt - 1));
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(address);
          s.once('connect', () => { s.removeListener('error', reject); resolve(s); });
          s.once('error', reject);
        });
        return Connection.fromDuplex(sock);
      } catch (e) {
        lastErr = e as Error;
      }
    }
    throw new EmbedderError('UNAVAILABLE', `cannot connect to the embedder at ${address} after ${this.o.maxReconnects} attempts: ${lastErr?.message}`);
  }

  private killChild(child: ChildProcess | null): void {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }

  private setReady(): void {
    const wasDegraded = this.state === 'degraded';
    this.state = 'ready';
    this.reason = null;
    if (this.recoveryTimer) { clearTimeout(this.recoveryTimer); this.recoveryTimer = null; }
    this.startHealthChecks();
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => { this.failures = 0; }, this.o.stableMs);
    this.stableTimer.unref();
    for (const w of this.readyWaiters.splice(0)) w.resolve();
    if (wasDegraded) this.emit('recovered', { pid: this.child?.pid ?? -1 });
    this.pump();
  }

  private startHealthChecks(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (!this.o.healthIntervalMs) return;
    let checking = false;
    this.healthTimer = setInterval(async () => {
      if (checking || this.state !== 'ready' || !this.conn) return;
      checking = true;
      const conn = this.conn;
      const gen = this.gen;
      try {
        await conn.send(MsgType.HEALTH, Buffer.alloc(0), this.o.healthTimeoutMs).promise;
      } catch (e) {
        if (gen === this.gen && (e as EmbedderError).code === 'TIMEOUT') {
          this.onFailure(`the embedder (pid ${this.child?.pid}) did not answer a health check within ${this.o.healthTimeoutMs} ms (hung)`);
        }
      } finally {
        checking = false;
      }
    }, this.o.healthIntervalMs);
    this.healthTimer.unref();
  }

  /** The embedder died, hung or dropped the connection: take back its requests and restart it. */
  private onFailure(reason: string): void {
    if (this.state === 'closed' || this.state === 'degraded') return;
    this.gen++;
    const child = this.child;
    this.child = null;
    const conn = this.conn;
    this.conn = null;
    conn?.fail(reason);
    this.killChild(child);
    if (this.stableTimer) { clearTimeout(this.stableTimer); this.stableTimer = null; }
    if (this.healthTimer) { clearInterval(this.healthTimer); this.healthTimer = null; }

    // the requests in flight are re-sent; one that was alone in flight is
    // the cause: it is split, and a single text that crashed twice fails alone
    const ops = [...this.inflight];
    this.inflight.clear();
    const alone = ops.length === 1 && ops[0].isolated;
    const requeue: Op[] = [];
    let attributed = false;
    for (const op of ops) {
      op.conn = undefined;
      op.reqId = undefined;
      if (op.settled) continue;
      op.crashes++;
      if (alone) {
        attributed = true;
        if (op.texts.length === 1) {
          this.cstats.poisoned++;
          op.done([{ kind: 'error', error: new EmbedderError('POISON', `this text made the embedder fail again after a restart (${reason}); it was not embedded`) }]);
          this.finish(op);
          continue;
        }
        requeue.push(...this.split(op));
        continue;
      }
      op.isolated = true;
      requeue.push(op);
    }
    this.cstats.replayed += requeue.length;
    this.waiting.unshift(...requeue);
    if (!attributed) this.failures++;
    this.state = 'restarting';
    this.restarting = this.restartLoop(reason);
  }

  /** Splits an op in two halves that answer for it together. */
  private split(op: Op): Op[] {
    const mid = Math.ceil(op.texts.length / 2);
    const parts: (Item[] | null)[] = [null, null];
    return [op.texts.slice(0, mid), op.texts.slice(mid)].map((texts, i): Op => {
      const half: Op = {
        texts,
        opts: op.opts,
        deadline: op.deadline,
        signal: op.signal,
        isolated: true,
        crashes: op.crashes,
        settled: false,
        root: op.root ?? op,
        done: (items) => {
          if (half.settled) return;
          half.settled = true;
          parts[i] = items;
          if (parts[0] && parts[1]) op.done([...parts[0], ...parts[1]]);
        },
        fail: (e) => {
          if (half.settled) return;
          half.settled = true;
          op.fail(e);
        },
      };
      return half;
    });
  }

  private async restartLoop(reason: string): Promise<void> {
    while (this.state === 'restarting') {
      if (this.failures > this.o.maxRestarts) {
        this.enterDegraded(`the embedder failed ${this.o.maxRestarts} restarts: ${reason}`);
        return;
      }
      const attempt = Math.max(1, this.failures);
      const delayMs = this.o.restartBackoffMs * 2 ** (attempt - 1);
      this.emit('restart', { attempt, delayMs, reason });
      this.cstats.restarts++;
      await sleep(delayMs);
      if (this.state !== 'restarting') return;
      try {
        this.binary = findBinary(this.o.binary);
        if (!this.binary) throw new EmbedderError('UNAVAILABLE', `ggembed binary not found (${describeBinarySearch(this.o.binary)})`);
        await this.spawnChild();
        if (this.state !== 'restarting') { this.killChild(this.child); return; }
        this.setReady();
        return;
      } catch (e) {
        reason = (e as Error).message;
        this.failures++;
      }
    }
  }

  private enterDegraded(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'degraded';
    this.reason = reason;
    if (this.healthTimer) { clearInterval(this.healthTimer); this.healthTimer = null; }
    this.emit('degraded', { reason });
    for (const w of this.readyWaiters.splice(0)) w.reject(new EmbedderError('UNAVAILABLE', `the embedder is not running: ${reason}`));
    // the waiting requests are answered now
    for (const op of this.waiting.splice(0)) {
      if (op.settled) continue;
      if (this.o.fallback) op.done(op.texts.map(() => ({ kind: 'fallback', reason })));
      else op.fail(new EmbedderError('UNAVAILABLE', `the embedder is not running: ${reason}`));
      this.finish(op);
    }
    this.scheduleRecovery();
  }

  private scheduleRecovery(): void {
    if (this.recoveryTimer || this.state !== 'degraded') return;
    this.recoveryTimer = setTimeout(async () => {
      this.recoveryTimer = null;
      if (this.state !== 'degraded') return;
      try {
        await this.bringUp();
        if (this.state !== 'degraded') { this.killChild(this.child); return; }
        this.failures = 0;
        this.setReady();
      } catch (e) {
        if (this.state !== 'degraded') return;
        this.reason = (e as Error).message;
        this.scheduleRecovery();
      }
    }, this.o.recoveryIntervalMs);
    this.recoveryTimer.unref();
  }

  /** Stops the embedder (SHUTDOWN, then a kill after a grace period). Requests still waiting fail with CLOSED. */
  async close(graceMs = 2000): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const t of [this.healthTimer, this.recoveryTimer, this.stableTimer, this.busyTimer]) if (t) clearTimeout(t);
    for (const w of this.readyWaiters.splice(0)) w.reject(new EmbedderError('CLOSED', 'the embedder was closed'));
    for (const op of [...this.waiting.splice(0), ...this.inflight]) {
      if (!op.settled) { op.fail(new EmbedderError('CLOSED', 'the embedder was closed')); this.finish(op); }
    }
    this.inflight.clear();
    const child = this.child;
    const conn = this.conn;
    this.child = null;
    this.conn = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        if (conn && !conn.isClosed) {
          await Promise.race([conn.send(MsgType.SHUTDOWN, Buffer.alloc(0), graceMs).promise.catch(() => {}), exited]);
        } else {
          child.kill('SIGTERM');
        }
      } catch { /* ignore */ }
      const t = setTimeout(() => this.killChild(child), graceMs);
      await exited;
      clearTimeout(t);
    }
    conn?.close();
    if (this.sockDir) {
      await fsp.rm(this.sockDir, { recursive: true, force: true }).catch(() => {});
      liveDirs.delete(this.sockDir);
      this.sockDir = null;
    }
  }

  // ------------------------------------------------------------ requests

  private get dims(): number {
    return this.hello?.dims ?? this.inspectDims ?? this.o.fallbackDims;
  }

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

  /** Splits texts into chunks that fit the server's max_texts and max_message. */
  private chunk(texts: string[], opts: ResolvedEmbedOptions): string[][] {
    const maxTexts = Math.max(1, this.hello?.maxTexts ?? 256);
    const maxMessage = this.hello?.maxMessage ?? 4 << 20;
    const overhead = embedBodyOverhead(Buffer.byteLength(opts.prefix));
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

  /** Embeds one text. Rejects when that text fails (e.g. POISON, TOO_LONG). */
  async embed(text: string, options: EmbedOptions = {}): Promise<EmbedResult> {
    const [r] = await this.embedBatch([text], options);
    if (r.error) throw r.error;
    return r;
  }

  /**
   * Embeds many texts: split to the server's limits, sent concurrently,
   * answered in order. Either every vector is the model's or (degraded) every
   * vector is the fallback's; a text that crashes the embedder has `error`.
   */
  async embedBatch(texts: string[], options: EmbedOptions = {}): Promise<EmbedResult[]> {
    if (!Array.isArray(texts)) throw new TypeError('embedBatch: texts must be an array of strings');
    for (const t of texts) if (typeof t !== 'string') throw new TypeError('embedBatch: texts must be strings');
    if (this.state === 'closed') throw new EmbedderError('CLOSED', 'the embedder was closed');
    options.signal?.throwIfAborted?.();
    this.cstats.requests++;
    this.cstats.texts += texts.length;
    if (texts.length === 0) return [];
    const opts = this.resolveOptions(options);
    const timeoutMs = options.timeoutMs ?? this.o.timeoutMs;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : 0;

    let items: Item[];
    if (this.state === 'degraded') {
      if (!this.o.fallback) throw new EmbedderError('UNAVAILABLE', `the embedder is not running: ${this.reason}`);
      items = texts.map(() => ({ kind: 'fallback', reason: this.reason! }));
    } else {
      const batchAbort = new AbortController();
      const onAbort = () => batchAbort.abort(options.signal!.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const parts = await Promise.all(
          this.chunk(texts, opts).map((chunk) => this.submit(chunk, opts, deadline, batchAbort.signal).catch((e) => {
            batchAbort.abort(e);
            throw e;
          })),
        );
        items = parts.flat();
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
    }

    // never a silent mix: one fallback result makes the whole batch fallback
    const fb = items.find((i): i is Extract<Item, { kind: 'fallback' }> => i.kind === 'fallback');
    const dims = opts.dims || this.dims;
    return items.map((it, index): EmbedResult => {
      if (it.kind === 'error') return { index, embedding: new Float32Array(0), tokens: 0, truncated: false, degraded: false, error: it.error };
      if (fb) {
        this.cstats.fallbackTexts++;
        return { index, embedding: fallbackEmbedding(opts.prefix + texts[index], dims), tokens: fallbackTokenCount(texts[index]), truncated: false, degraded: true, reason: fb.reason };
      }
      const ok = it as Extract<Item, { kind: 'ok' }>;
      return { index, embedding: ok.vector, tokens: ok.tokens, truncated: ok.truncated, degraded: false };
    });
  }

  private submit(texts: string[], opts: ResolvedEmbedOptions, deadline: number, signal: AbortSignal): Promise<Item[]> {
    return new Promise<Item[]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.cstats.cancelled++;
        const r = signal.reason;
        this.stopOp(op, r instanceof EmbedderError ? r : new EmbedderError('ABORTED', `the request was aborted${r instanceof Error ? ': ' + r.message : ''}`, { cause: r }));
      };
      const cleanup = () => {
        signal.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
      };
      const op: Op = {
        texts, opts, deadline, signal, isolated: false, crashes: 0, settled: false,
        done: (items) => { if (op.settled) return; op.settled = true; cleanup(); resolve(items); },
        fail: (e) => { if (op.settled) return; op.settled = true; cleanup(); reject(e); },
      };
      if (deadline) {
        timer = setTimeout(() => {
          this.cstats.timeouts++;
          this.stopOp(op, new EmbedderError('TIMEOUT', 'the request timed out'));
        }, Math.max(0, deadline - Date.now()));
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(op);
      this.pump();
    });
  }

  /** Removes from the queue an op removed from waiting/in flight. */
  private finish(op: Op): void {
    this.inflight.delete(op);
  }

  /** Stops an op and the halves split from it, wherever they are; CANCEL for those in flight. */
  private stopOp(op: Op, err: EmbedderError): void {
    const mine = (o: Op) => o === op || o.root === op;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (!mine(this.waiting[i])) continue;
      const w = this.waiting.splice(i, 1)[0];
      if (w !== op) w.settled = true;
    }
    for (const f of [...this.inflight]) {
      if (!mine(f)) continue;
      if (f.conn && f.reqId !== undefined && !f.conn.isClosed) {
        f.conn.forget(f.reqId);
        f.conn.send(MsgType.CANCEL, encodeCancel(f.reqId)).promise.catch(() => {});
      }
      this.inflight.delete(f);
      if (f !== op) f.settled = true;
    }
    op.fail(err);
    this.pump();
  }

  private window(): number {
    const q = this.hello?.maxQueue ?? 8;
    return Math.max(1, this.o.maxInFlight ?? Math.min(q, 8));
  }

  /** Sends waiting ops while the window allows; isolated ops go alone. */
  private pump(): void {
    while (this.state === 'ready' && this.conn && this.waiting.length > 0) {
      const next = this.waiting[0];
      if (next.settled) { this.waiting.shift(); continue; }
      if (next.isolated) {
        if (this.inflight.size > 0) return;
      } else {
        if (this.inflight.size >= this.window()) return;
        if ([...this.inflight].some((f) => f.isolated)) return;
      }
      this.waiting.shift();
      this.sendOp(next);
      if (next.isolated) return;
    }
  }

  private sendOp(op: Op): void {
    const conn = this.conn!;
    const remaining = op.deadline ? Math.max(1, op.deadline - Date.now()) : 0;
    const body = encodeEmbed({
      deadlineMs: remaining,
      pooling: op.opts.pooling,
      normalize: op.opts.normalize,
      truncate: op.opts.truncate,
      format: op.opts.format,
      dims: op.opts.dims,
      prefix: op.opts.prefix,
      texts: op.texts,
    });
    if (this.hello && body.length > this.hello.maxMessage) {
      // one text alone over the server's limit
      op.fail(new EmbedderError('TOO_LARGE', `a text of ${body.length} bytes is over the server's max message of ${this.hello.maxMessage}`));
      this.finish(op);
      this.pump();
      return;
    }
    const { id, promise } = conn.send(MsgType.EMBED, body);
    op.conn = conn;
    op.reqId = id;
    op.sentGen = this.gen;
    this.inflight.add(op);
    promise.then(
      (b) => {
        if (op.settled || op.conn !== conn || op.reqId !== id) return;
        this.finish(op);
        let items: Item[];
        try {
          const r = decodeEmbedOk(b);
          if (r.n !== op.texts.length) throw new Error(`EMBED_OK has ${r.n} vectors for ${op.texts.length} texts`);
          items = r.vectors.map((v, i) => ({ kind: 'ok', vector: v, tokens: r.tokens[i], truncated: r.truncated[i] }));
        } catch (e) {
          op.fail(new EmbedderError('PROTOCOL', (e as Error).message));
          this.pump();
          return;
        }
        this.failures = 0; // the embedder works
        op.done(items);
        this.pump();
      },
      (e: EmbedderError) => {
        if (op.settled || op.conn !== conn || op.reqId !== id) return;
        if (e.code === CONNECTION_LOST) return; // onFailure takes it back
        if (e.code === 'BUSY') {
          // the server's queue is full: try again shortly
          this.inflight.delete(op);
          op.conn = undefined;
          this.waiting.unshift(op);
          if (!this.busyTimer) {
            this.busyTimer = setTimeout(() => { this.busyTimer = null; this.pump(); }, 20);
          }
          return;
        }
        if (e.code === 'SHUTTING_DOWN') {
          this.inflight.delete(op);
          op.conn = undefined;
          this.waiting.unshift(op);
          return; // the exit that follows restarts the server
        }
        this.finish(op);
        if (e.code === 'TIMEOUT') this.cstats.timeouts++;
        op.fail(e);
        this.pump();
      },
    );
  }

  /** Resolves when the embedder is ready; rejects while degraded or closed. */
  private async whenReady(): Promise<Connection> {
    for (;;) {
      if (this.state === 'ready' && this.conn) return this.conn;
      if (this.state === 'closed') throw new EmbedderError('CLOSED', 'the embedder was closed');
      if (this.state === 'degraded') throw new EmbedderError('UNAVAILABLE', `the embedder is not running: ${this.reason}`);
      await new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    }
  }

  /** A request that is answered at once by the server, re-sent after a restart. */
  private async simple(type: number, body: Buffer, timeoutMs = 0): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.whenReady();
      try {
        return await conn.send(type, body, timeoutMs).promise;
      } catch (e) {
        if ((e as EmbedderError).code !== CONNECTION_LOST || attempt >= this.o.maxRestarts + 1) throw e;
      }
    }
  }

  /** Token ids of a text (the model's tokenizer; not available while degraded). */
  async tokenize(text: string, options: { addSpecial?: boolean } = {}): Promise<number[]> {
    return decodeTokenizeOk(await this.simple(MsgType.TOKENIZE, encodeTokenize(text, options.addSpecial !== false)));
  }

  /** What the embedder serves (from HELLO_OK), or what is known while degraded. */
  info(): EmbedderInfo {
    const h = this.hello;
    return {
      model: this.o.model,
      binary: this.binary,
      transport: this.transport,
      server: h?.server ?? null,
      arch: h?.arch ?? null,
      name: h?.name ?? null,
      dims: this.dims,
      context: h?.context ?? null,
      maxTexts: h?.maxTexts ?? null,
      maxMessage: h?.maxMessage ?? null,
      maxQueue: h?.maxQueue ?? null,
      hasWeights: h?.hasWeights ?? null,
      degraded: this.state === 'degraded',
      reason: this.reason,
    };
  }

  /** Supervisor state and, when the server is up, its HEALTH answer. Never throws. */
  async health(): Promise<EmbedderHealth> {
    let server: EmbedderHealth['server'] = null;
    if (this.state === 'ready' && this.conn) {
      try {
        server = decodeHealthOk(await this.conn.send(MsgType.HEALTH, Buffer.alloc(0), this.o.healthTimeoutMs).promise);
      } catch { server = null; }
    }
    return { state: this.state, degraded: this.state === 'degraded', reason: this.reason, pid: this.child?.pid ?? null, restarts: this.cstats.restarts, server };
  }

  /** The client's counters and, when the server is up, its STATS. */
  async stats(): Promise<{ client: ClientStats; server: Record<string, number> | null }> {
    let server: Record<string, number> | null = null;
    if (this.state === 'ready' && this.conn) {
      try {
        server = decodeStatsOk(await this.conn.send(MsgType.STATS, Buffer.alloc(0), this.o.healthTimeoutMs).promise);
      } catch { server = null; }
    }
    return { client: { ...this.cstats }, server };
  }

  /** The running server's process id (for tests and diagnostics). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get status(): State {
    return this.state;
  }
}
