// supervisor.ts - runs one `ggembed serve` child: finds the binary, checks the
// model, spawns, connects, health-checks, restarts it after a failure and
// goes down (degraded or failed) when it cannot run. It knows nothing of
// requests: the scheduler is told when the server is ready, lost or down.
//
// States (Supervisor.state) and the only transitions `to()` allows:
//
//                  up
//   starting ------------> ready <-----------------+------------------+
//     |   |                  |                     | up               | recovered
//     |   |                  | failure: exit,      |                  |
//     |   |                  | hang, lost conn     |                  |
//     |   |                  v                     |                  |
//     |   |              restarting ---------------+                  |
//     |   |               |      |                                    |
//     |   |  restarts     |      | restarts spent, fallback off;      |
//     |   |  spent,       |      | bad model, fallback not 'always'   |
//     |   |  fallback on; |      v                                    |
//     |   |  bad model,   |    failed ------------------------------->+
//     |   |  'always'     v                                           |
//     |   +----------> degraded ------------------------------------->+
//     |  cannot start,
//     |  fallback 'always'
//     v
//   closed   <- close() from every state; a start() that rejects
//
// degraded: fallback vectors, flagged on every result; failed: requests
// reject with the reason's error. Both retry recovery every recoveryIntervalMs.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { promises as fsp, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, retry } from './backoff.js';
import { describeBinarySearch, findBinary } from './binary.js';
import { Connection } from './connection.js';
import { EmbedderError } from './errors.js';
import { ensureModel, inspectModel, type ProgressEvent } from './integrity.js';
import { type HelloOk, MsgType } from './protocol.js';

export type SupervisorState = 'starting' | 'ready' | 'restarting' | 'degraded' | 'failed' | 'closed';

const TRANSITIONS: Record<SupervisorState, readonly SupervisorState[]> = {
  starting: ['ready', 'degraded', 'closed'],
  ready: ['restarting', 'closed'],
  restarting: ['ready', 'degraded', 'failed', 'closed'],
  degraded: ['ready', 'closed'],
  failed: ['ready', 'closed'],
  closed: [],
};

/** Throws on a transition the diagram above does not have. */
export function checkTransition(from: SupervisorState, to: SupervisorState): void {
  if (!TRANSITIONS[from].includes(to)) throw new Error(`supervisor: illegal transition ${from} -> ${to}`);
}

export type Transport = 'auto' | 'socket' | 'pipe' | 'stdio';

/**
 * 'always': also when the embedder cannot start (start resolves degraded);
 * true (default): only after a successful start, when restarts are spent;
 * false: never (requests reject with UNAVAILABLE).
 */
export type FallbackMode = boolean | 'always';

/** What the supervisor is doing, and why, for callers and endpoints. */
export interface EmbedderStatus {
  state: SupervisorState;
  /** results are fallback vectors (each one flagged degraded) */
  degraded: boolean;
  /** why the embedder is not ready (null when ready) */
  reason: string | null;
  /** failed: the error requests get */
  error: EmbedderError | null;
  /** Date.now() when this state began */
  since: number;
}

export interface StatusEvent extends EmbedderStatus {
  from: SupervisorState;
}

/** How a server process ended, as far as the texts it held are concerned. */
export interface Death {
  reason: string;
  /** the server crashed by itself: the texts in flight are suspects */
  blame: boolean;
  /** exit 4: the model file changed under it; check it before a restart */
  modelChanged: boolean;
}

const FAULT_SIGNALS = new Set(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT']);
/** the test-only GGEMBED_TEST_POISON exit (also abort()'s status on Windows) */
export const EXIT_POISON = 3;
/** the server answered MODEL_CHANGED or faulted reading a truncated mapping */
export const EXIT_MODEL_CHANGED = 4;

/**
 * Whether an exit was the server's own crash. A kill from outside (SIGKILL,
 * SIGTERM, TerminateProcess), our own kill of a hung server or a clean exit
 * says nothing about the texts it held.
 */
export function classifyExit(
  code: number | null,
  signal: string | null,
  platform: string = process.platform,
): 'crash' | 'model-changed' | 'other' {
  if (signal) return FAULT_SIGNALS.has(signal) ? 'crash' : 'other';
  if (code === EXIT_MODEL_CHANGED) return 'model-changed';
  if (code === EXIT_POISON) return 'crash';
  // NTSTATUS error codes (0xC0000005 access violation, ...) are exceptions
  if (platform === 'win32' && code !== null && code >>> 0 >= 0xc0000000) return 'crash';
  return 'other';
}

export interface SupervisorOptions {
  model: string;
  binary?: string;
  threads?: number;
  transport: Transport;
  serveArgs: string[];
  env: NodeJS.ProcessEnv;
  sha256?: string;
  sourceUrl?: string;
  skipInspect: boolean;
  cacheDir?: string;
  fallback: FallbackMode;
  fallbackDims: number;
  maxRestarts: number;
  restartBackoffMs: number;
  maxReconnects: number;
  reconnectBackoffMs: number;
  healthIntervalMs: number;
  healthTimeoutMs: number;
  startTimeoutMs: number;
  recoveryIntervalMs: number;
  stableMs: number;
  clientName: string;
}

/** What the supervisor tells the request scheduler. */
export interface SupervisorHooks {
  /** a connection is ready for requests */
  ready(): void;
  /** the server died: take back the requests in flight; true when the death was attributed to one of them */
  lost(death: Death): boolean;
  /** the embedder went down: answer the waiting requests with fallback vectors (degraded) or the error */
  down(status: EmbedderStatus): void;
  /** close(): fail everything */
  closed(): void;
}

export interface SupervisorEvents {
  start: [{ pid: number; transport: string; address: string }];
  exit: [{ pid: number; code: number | null; signal: string | null; reason: string }];
  restart: [{ attempt: number; delayMs: number; reason: string }];
  degraded: [{ reason: string }];
  recovered: [{ pid: number }];
  /** every state change */
  status: [StatusEvent];
  progress: [ProgressEvent];
  redownload: [{ reason: string; url: string }];
  log: [string];
}

// children of every supervisor in this process, killed when the process exits
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const d of liveDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* ignore */
      }
    }
  });
}

/**
 * Keeps the Node process alive while someone waits for the embedder, and
 * only then: every handle of the supervisor (child, pipes, socket, timers)
 * is unref'd, so a script that forgets close() still exits when idle.
 */
export class KeepAlive {
  private holds = 0;
  private timer: NodeJS.Timeout | null = null;
  hold(): () => void {
    if (this.holds++ === 0) this.timer = setInterval(() => {}, 1 << 30);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }
  async around<T>(p: Promise<T>): Promise<T> {
    const release = this.hold();
    try {
      return await p;
    } finally {
      release();
    }
  }
}

interface Child {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const isIntegrityError = (e: unknown) => e instanceof EmbedderError && (e.code === 'INTEGRITY' || e.code === 'DOWNLOAD');

export class Supervisor extends EventEmitter<SupervisorEvents> {
  private st: SupervisorState = 'starting';
  private since = Date.now();
  private reason: string | null = null;
  private downError: EmbedderError | null = null;
  binary: string | null = null;
  readonly transport: Exclude<Transport, 'auto'>;
  private child: Child | null = null;
  conn: Connection | null = null;
  hello: HelloOk | null = null;
  private inspectDims: number | null = null;
  /** bumped when the current child is given up, so late events of an old one are ignored */
  private gen = 0;
  private sockDir: string | null = null;
  /** failures since the server last worked; past maxRestarts it goes down */
  private failures = 0;
  restarts = 0;
  private stableTimer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private recoveryTimer: NodeJS.Timeout | null = null;
  private stderrTail: string[] = [];
  hooks: SupervisorHooks | null = null;

  constructor(private readonly o: SupervisorOptions) {
    super();
    const t = o.transport;
    this.transport = t === 'auto' ? (process.platform === 'win32' ? 'pipe' : 'socket') : t;
    installExitHook();
  }

  get state(): SupervisorState {
    return this.st;
  }

  get status(): EmbedderStatus {
    return {
      state: this.st,
      degraded: this.st === 'degraded',
      reason: this.reason,
      error: this.st === 'failed' ? this.downError : null,
      since: this.since,
    };
  }

  get pid(): number | null {
    return this.child?.proc.pid ?? null;
  }

  get maxRestarts(): number {
    return this.o.maxRestarts;
  }

  get healthTimeoutMs(): number {
    return this.o.healthTimeoutMs;
  }

  /** The vector size: the server's, else inspect's, else fallbackDims. */
  get dims(): number {
    return this.hello?.dims ?? this.inspectDims ?? this.o.fallbackDims;
  }

  /** The request scheduler calls this when the server answered: it works. */
  working(): void {
    this.failures = 0;
  }

  /**
   * Every state change goes through here, with what entering the new state
   * does: timers, events, telling the scheduler.
   */
  private to(next: SupervisorState, reason: string | null, error: EmbedderError | null = null): void {
    const from = this.st;
    checkTransition(from, next);
    this.st = next;
    this.since = Date.now();
    this.reason = reason;
    this.downError = error;
    if (next !== 'ready') this.stopTimers();
    const status = this.status;
    this.emit('status', { ...status, from });
    switch (next) {
      case 'ready':
        if (from === 'degraded' || from === 'failed') this.emit('recovered', { pid: this.pid ?? -1 });
        this.startHealthChecks();
        this.stableTimer = setTimeout(() => {
          this.failures = 0;
        }, this.o.stableMs).unref();
        this.hooks?.ready();
        break;
      case 'degraded':
      case 'failed':
        if (next === 'degraded') this.emit('degraded', { reason: reason ?? 'degraded' });
        this.hooks?.down(status);
        this.scheduleRecovery();
        break;
      case 'closed':
        this.hooks?.closed();
        break;
      case 'starting':
      case 'restarting':
        break;
    }
  }

  private stopTimers(): void {
    for (const t of [this.stableTimer, this.healthTimer, this.recoveryTimer]) if (t) clearTimeout(t);
    this.stableTimer = this.healthTimer = this.recoveryTimer = null;
  }

  /** The first start: rejects on any error unless fallback is 'always' (then it resolves degraded). */
  async start(): Promise<void> {
    try {
      await this.bringUp(true);
    } catch (err) {
      if (this.st !== 'starting') throw err; // closed meanwhile
      if (this.o.fallback !== 'always') throw err;
      await this.learnDims();
      if (this.st !== 'starting') throw err;
      this.to('degraded', (err as Error).message);
      return;
    }
    if (this.st !== 'starting') {
      this.giveUpChild();
      throw new EmbedderError('CLOSED', 'the embedder was closed');
    }
    this.to('ready', null);
  }

  /** Fallback vectors use the model's dimension: ask the engine about the file even when it did not start. */
  private async learnDims(): Promise<void> {
    if (this.hello || this.inspectDims) return;
    const b = this.binary ?? findBinary(this.o.binary);
    if (!b) return;
    try {
      const info = await inspectModel(b, this.o.model, 10000);
      if (info.dims) this.inspectDims = info.dims;
    } catch {
      /* unknown: fallbackDims */
    }
  }

  /** Finds the binary, checks the model (when asked), spawns and connects. */
  private async bringUp(checkModel: boolean): Promise<void> {
    const binary = findBinary(this.o.binary);
    if (!binary) throw new EmbedderError('UNAVAILABLE', `ggembed binary not found (${describeBinarySearch(this.o.binary)})`);
    this.binary = binary;
    if (checkModel) {
      const info = await ensureModel({
        binary: this.o.skipInspect ? null : binary,
        model: this.o.model,
        sha256: this.o.sha256,
        sourceUrl: this.o.sourceUrl,
        cacheDir: this.o.cacheDir,
        onProgress: (p) => this.emit('progress', p),
        onRedownload: (reason, url) => this.emit('redownload', { reason, url }),
      });
      if (info?.dims) this.inspectDims = info.dims;
    }
    await this.spawnChild(binary);
  }

  private address(): { serveArgs: string[]; connectTo: string } {
    if (this.transport === 'stdio') return { serveArgs: ['--stdio'], connectTo: '' };
    if (this.transport === 'pipe') {
      const name = `ggembed-${process.pid}-${randomBytes(6).toString('hex')}`;
      return { serveArgs: ['--pipe', name], connectTo: `\\\\.\\pipe\\${name}` };
    }
    // spawnChild makes the directory before it asks for the address
    if (!this.sockDir) throw new Error('Supervisor.address: no socket directory');
    const p = path.join(this.sockDir, 'ggembed.sock');
    return { serveArgs: ['--socket', p], connectTo: p };
  }

  private async spawnChild(binary: string): Promise<void> {
    if (this.transport === 'socket' && !this.sockDir) {
      this.sockDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ggembed-'));
      liveDirs.add(this.sockDir);
    }
    const gen = ++this.gen;
    const addr = this.address();
    const args = ['serve', '-m', this.o.model, ...addr.serveArgs];
    if (this.o.threads) args.push('--threads', String(this.o.threads));
    args.push(...this.o.serveArgs);
    const stdio = this.transport === 'stdio';
    const proc = spawn(binary, args, {
      stdio: [stdio ? 'pipe' : 'ignore', stdio ? 'pipe' : 'ignore', 'pipe'],
      env: { ...process.env, ...this.o.env },
      windowsHide: true,
    });
    const { stderr } = proc;
    // cannot happen: stderr is always 'pipe' above
    if (!stderr) throw new Error('Supervisor.spawnChild: the child has no stderr pipe');
    // nothing of the child keeps the process alive: KeepAlive does, while someone waits
    proc.unref();
    for (const s of [proc.stdin, proc.stdout, proc.stderr]) (s as unknown as net.Socket | null)?.unref?.();
    const child: Child = {
      proc,
      exited: new Promise((resolve) =>
        proc.once('exit', (code, signal) => {
          liveChildren.delete(proc);
          resolve({ code, signal });
        }),
      ),
    };
    this.child = child;
    liveChildren.add(proc);
    this.stderrTail = [];

    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new EmbedderError('UNAVAILABLE', `ggembed serve printed no ready line within ${this.o.startTimeoutMs} ms`)),
        this.o.startTimeoutMs,
      ).unref();
      const rl = createInterface({ input: stderr });
      rl.on('line', (line) => {
        this.stderrTail.push(line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
        this.emit('log', line);
        if (line.startsWith('ggembed: ready ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(new EmbedderError('UNAVAILABLE', `cannot run ${this.binary}: ${err.message}`, { cause: err }));
      });
      void child.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        const tail = this.stderrTail
          .filter((l) => !l.startsWith('ggembed: ready'))
          .slice(-3)
          .join(' / ');
        reject(
          new EmbedderError(
            'UNAVAILABLE',
            `ggembed serve exited (${signal ?? `status ${code}`}) before it was ready${tail ? `: ${tail}` : ''}`,
          ),
        );
      });
    });

    try {
      await ready;
      const conn = stdio ? stdioConnection(proc) : await this.connect(addr.connectTo);
      const hello = await conn.handshake(this.o.clientName, this.o.startTimeoutMs);
      if (gen !== this.gen) {
        conn.close();
        throw new EmbedderError('UNAVAILABLE', 'the embedder exited while starting');
      }
      this.conn = conn;
      this.hello = hello;
      conn.on('close', (reason: string) => {
        if (gen === this.gen) this.fail(`lost the connection to the embedder: ${reason}`);
      });
      void child.exited.then(({ code, signal }) => {
        if (gen === this.gen) this.fail(`exited with ${signal ? `signal ${signal}` : `status ${code}`}`);
      });
      this.emit('start', { pid: proc.pid ?? -1, transport: this.transport, address: addr.connectTo || 'stdio' });
    } catch (err) {
      if (gen === this.gen) this.gen++; // the exit of this child is not a failure of a running one
      this.killChild(child);
      this.child = null;
      throw err;
    }
  }

  private async connect(address: string): Promise<Connection> {
    try {
      return await retry(
        async () => {
          const sock = net.connect(address);
          try {
            await once(sock, 'connect');
          } catch (e) {
            sock.destroy();
            throw e;
          }
          sock.unref();
          return Connection.fromDuplex(sock);
        },
        { attempts: this.o.maxReconnects, baseMs: this.o.reconnectBackoffMs },
      );
    } catch (e) {
      throw new EmbedderError(
        'UNAVAILABLE',
        `cannot connect to the embedder at ${address} after ${this.o.maxReconnects} attempts: ${(e as Error).message}`,
      );
    }
  }

  private killChild(child: Child | null): void {
    const p = child?.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }

  /** A child that started after close() or a give-up: not ours to keep. */
  private giveUpChild(): void {
    this.gen++;
    this.conn?.close();
    this.conn = null;
    this.killChild(this.child);
    this.child = null;
  }

  private startHealthChecks(): void {
    if (!this.o.healthIntervalMs) return;
    let checking = false;
    this.healthTimer = setInterval(async () => {
      if (checking || this.st !== 'ready' || !this.conn) return;
      checking = true;
      const conn = this.conn;
      const gen = this.gen;
      try {
        await conn.send(MsgType.HEALTH, Buffer.alloc(0), this.o.healthTimeoutMs).promise;
      } catch (e) {
        if (gen === this.gen && (e as EmbedderError).code === 'TIMEOUT') {
          this.fail(`did not answer a health check within ${this.o.healthTimeoutMs} ms (hung)`, true);
        }
      } finally {
        checking = false;
      }
    }, this.o.healthIntervalMs).unref();
  }

  /**
   * The running server died, hung or dropped the connection: learn how it
   * ended (its exit tells whether the texts in flight are suspects), let the
   * scheduler take back its requests, and restart it.
   */
  private fail(what: string, hung = false): void {
    if (this.st !== 'ready') return;
    const child = this.child;
    if (!child) throw new Error('Supervisor.fail: ready without a child');
    this.gen++;
    this.child = null;
    const conn = this.conn;
    this.conn = null;
    this.to('restarting', what);
    conn?.fail(what);
    if (hung) this.killChild(child);
    void this.afterDeath(child, what, hung);
  }

  private async afterDeath(child: Child, what: string, hung: boolean): Promise<void> {
    const pid = child.proc.pid ?? -1;
    // a dropped connection comes just before the exit; a server that stays up without it is killed
    const ac = new AbortController();
    const exit = await Promise.race([child.exited, sleep(2000, null, { ref: false, signal: ac.signal }).catch(() => null)]);
    ac.abort();
    let death: Death;
    if (exit) {
      const kind = classifyExit(exit.code, exit.signal);
      const how = exit.signal ? `signal ${exit.signal}` : `status ${exit.code}`;
      death = {
        reason: `the embedder (pid ${pid}) exited with ${how}${kind === 'model-changed' ? ' (the model file changed)' : ''}`,
        blame: kind === 'crash',
        modelChanged: kind === 'model-changed',
      };
      if (hung) death.reason = `the embedder (pid ${pid}) ${what}`;
      this.emit('exit', { pid, code: exit.code, signal: exit.signal, reason: death.reason });
    } else {
      this.killChild(child);
      death = { reason: `the embedder (pid ${pid}): ${what}`, blame: false, modelChanged: false };
    }
    if (this.st !== 'restarting') return; // closed meanwhile
    const attributed = this.hooks?.lost(death) ?? false;
    if (!attributed) this.failures++;
    await this.restartLoop(death);
  }

  private async restartLoop(death: Death): Promise<void> {
    let reason = death.reason;
    const checkModel = death.modelChanged;
    while (this.st === 'restarting') {
      if (this.failures > this.o.maxRestarts) {
        const msg = `the embedder failed ${this.o.maxRestarts} restarts: ${reason}`;
        if (this.o.fallback) this.to('degraded', msg);
        else this.to('failed', msg, new EmbedderError('UNAVAILABLE', `the embedder is not running: ${msg}`));
        return;
      }
      const attempt = Math.max(1, this.failures);
      const delayMs = backoffDelay(attempt, this.o.restartBackoffMs);
      this.emit('restart', { attempt, delayMs, reason });
      this.restarts++;
      await sleep(delayMs, undefined, { ref: false });
      if (this.st !== 'restarting') return;
      try {
        await this.bringUp(checkModel);
      } catch (e) {
        if (this.st !== 'restarting') return;
        if (isIntegrityError(e)) {
          // the model itself is wrong: a configuration error, not a crash to retry
          const err = e as EmbedderError;
          if (this.o.fallback === 'always') this.to('degraded', err.message);
          else this.to('failed', err.message, new EmbedderError(err.code, `the embedder is not running: ${err.message}`, { cause: err }));
          return;
        }
        reason = (e as Error).message;
        this.failures++;
        continue;
      }
      if (this.st !== 'restarting') {
        this.giveUpChild();
        return;
      }
      this.to('ready', null);
      return;
    }
  }

  private scheduleRecovery(): void {
    const state = this.st;
    this.recoveryTimer = setTimeout(async () => {
      this.recoveryTimer = null;
      if (this.st !== state) return;
      try {
        await this.bringUp(true);
      } catch (e) {
        if (this.st !== state) return;
        this.reason = (e as Error).message;
        this.scheduleRecovery();
        return;
      }
      if (this.st !== state) {
        this.giveUpChild();
        return;
      }
      this.failures = 0;
      this.to('ready', null);
    }, this.o.recoveryIntervalMs).unref();
  }

  /** SHUTDOWN, then a kill after graceMs. */
  async close(graceMs: number): Promise<void> {
    if (this.st === 'closed') return;
    this.to('closed', 'the embedder was closed');
    const child = this.child;
    const conn = this.conn;
    this.child = null;
    this.conn = null;
    this.gen++;
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
      try {
        if (conn && !conn.isClosed) {
          await Promise.race([conn.send(MsgType.SHUTDOWN, Buffer.alloc(0), graceMs).promise.catch(() => {}), child.exited]);
        } else {
          child.proc.kill('SIGTERM');
        }
      } catch {
        /* gone */
      }
      const t = setTimeout(() => this.killChild(child), graceMs);
      await child.exited;
      clearTimeout(t);
    }
    conn?.close();
    if (this.sockDir) {
      await fsp.rm(this.sockDir, { recursive: true, force: true }).catch(() => {});
      liveDirs.delete(this.sockDir);
      this.sockDir = null;
    }
  }
}

function stdioConnection(proc: ChildProcess): Connection {
  const { stdout, stdin } = proc;
  // cannot happen: both are 'pipe' with the stdio transport
  if (!stdout || !stdin) throw new Error('Supervisor: the child has no stdio pipes');
  return new Connection(stdout, stdin, () => stdin.end());
}
