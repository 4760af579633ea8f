// child.ts - the helper processes of the MCP server (the LanceDB store,
// the chunker): one supervisor for every kind, one description per kind
// (ChildKind), so that the native code and the memory of each (LanceDB's
// caches, tree-sitter's WebAssembly memory, which never shrinks) live and
// die outside the MCP server, as the embedder does.
//
// Both sides speak frames over the child's stdin/stdout: a 4-byte
// little-endian length, then that many bytes of JSON; Float32Arrays travel
// as {"$f32": base64}. A frame with `op` is a request {id, op, args}; one
// without is the answer {id, ok: true, result} or {id, ok: false, error:
// {kind, message}} to the request of that id from the other side (ids are
// per direction). The parent asks the child's operations (the kind's
// module serves them one at a time, in order, through serveParent()); the
// child may ask the parent's (the kind's onRequest: the chunker's token
// counts). A child exits when its stdin closes (its parent is gone, or the
// parent ends it).
//
// The supervisor (ChildProcess) starts the child on the first call, fails
// the calls in flight with an error of kind 'crashed' when it dies (the
// next call starts a new one), and stays 'failed' after more than
// maxCrashes crashes within windowMs. A kind with idleMs ends its child
// when no call has been in flight for that long, so its memory is returned.
//
// States, and the only transitions to() allows:
//
//   down ──call──> starting ──spawned──> up ──child exits──────────────> down
//     ^                │                  │  (a crash: calls in flight fail)
//     │                │                  └──idle / stop()──> stopping ──exits──┘
//     │                └──spawn fails, or too many crashes─────────> failed
//     └── a call while stopping waits for the exit, then starts a child
//   every state ──close()──> closed

import { type ChildProcess as NodeChild, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAX_FRAME = 256 << 20;

export interface Request {
  id: number;
  op: string;
  args: unknown[];
}
export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: { kind: string; message: string } };

export function encodeFrame(msg: unknown): Buffer {
  const json = JSON.stringify(msg, (_k, v: unknown) =>
    v instanceof Float32Array ? { $f32: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') } : v,
  );
  // one buffer, written in place: a write batch's frame is megabytes, and each copy of it is the MCP server's RSS
  const n = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(4 + n);
  out.writeUInt32LE(n, 0);
  out.write(json, 4, 'utf8');
  return out;
}

function revive(_k: string, v: unknown): unknown {
  if (v && typeof v === 'object' && typeof (v as { $f32?: unknown }).$f32 === 'string') {
    const b = Buffer.from((v as { $f32: string }).$f32, 'base64');
    const out = new Float32Array(b.length / 4);
    Buffer.from(out.buffer).set(b);
    return out;
  }
  return v;
}

/** Splits a byte stream into frames; throws on a frame longer than MAX_FRAME (a corrupt stream, not a big request). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** pieces of a frame not complete yet: joined once it is, not at every piece (a write batch is megabytes) */
  private parts: Buffer[] = [];
  private partBytes = 0;
  private want = 0;
  /** the largest answer frame (not a request) read so far, bytes */
  largestReply = 0;
  push(data: Buffer): unknown[] {
    if (this.want) {
      this.parts.push(data);
      this.partBytes += data.length;
      if (this.partBytes < this.want) return [];
      this.buf = Buffer.concat([this.buf, ...this.parts]);
      this.parts = [];
      this.partBytes = 0;
      this.want = 0;
    } else {
      this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    }
    const out: unknown[] = [];
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32LE(0);
      if (n > MAX_FRAME) throw new Error(`frame of ${n} bytes (at most ${MAX_FRAME})`);
      if (this.buf.length < 4 + n) {
        this.want = 4 + n - this.buf.length;
        break;
      }
      const frame = this.buf.toString('utf8', 4, 4 + n);
      // a view of the rest would keep the whole joined buffer (megabytes of chunks) alive until the next frame
      this.buf = this.buf.length > 4 + n ? this.buf.subarray(4 + n) : Buffer.alloc(0);
      const m: unknown = JSON.parse(frame, revive);
      if (!isRequest(m)) this.largestReply = Math.max(this.largestReply, 4 + n);
      out.push(m);
    }
    return out;
  }
}

const isRequest = (m: unknown): m is Request => typeof (m as { op?: unknown }).op === 'string';

/** The kinds of failure the supervisor itself raises; a kind's own come from its child's answers. */
export type SupervisorErrorKind = 'crashed' | 'failed' | 'protocol' | 'closed';

/** One kind of helper process: what to run and how to treat it. */
export interface ChildKind {
  /** in messages: "<name> process 1234 was killed by SIGKILL" */
  name: string;
  /** the module the child runs (it calls serveParent) */
  script: URL;
  args: string[];
  /** the child's V8 old generation, MB */
  heapMb: number;
  /** more environment for the child (the parent's is passed on, and wins) */
  env?: Record<string, string>;
  /** more than this many crashes within windowMs and the kind is 'failed' for good */
  maxCrashes: number;
  windowMs: number;
  /** how long a closing child gets to finish before it is killed */
  closeGraceMs: number;
  /** the child ends after this long with no call in flight (default: never) */
  idleMs?: number;
  /** the error thrown to callers: the supervisor's kinds, or a kind the child answered with */
  error(kind: string, message: string): Error;
  /** the parent's side of the child's requests */
  onRequest?(op: string, args: unknown[]): Promise<unknown>;
}

export type ChildState = 'down' | 'starting' | 'up' | 'stopping' | 'failed' | 'closed';
const TRANSITIONS: Record<ChildState, readonly ChildState[]> = {
  down: ['starting', 'closed'],
  starting: ['up', 'failed', 'closed'],
  up: ['down', 'stopping', 'failed', 'closed'],
  stopping: ['down', 'closed'],
  failed: ['closed'],
  closed: [],
};
/** stderr lines of the child kept for the message of its crash */
const STDERR_LINES = 20;

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface ChildStatus {
  state: ChildState;
  pid: number | null;
  /** children started so far */
  starts: number;
  /** children that died unasked */
  crashes: number;
  /** the largest request frame sent to a child so far, bytes (what a request costs this process at once) */
  largestFrame: number;
  /** the largest answer frame read from a child so far, bytes */
  largestReply: number;
}

export class ChildProcess {
  private st: ChildState = 'down';
  private child: NodeChild | null = null;
  private reader = new FrameReader();
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private recentCrashes: number[] = [];
  private stderr: string[] = [];
  private failure: Error | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** resolves when the child being stopped has exited */
  private gone: Promise<void> = Promise.resolve();
  private crashes = 0;
  private largestFrame = 0;
  /** of the children before the one running */
  private largestReply = 0;
  /** how many children have been started (a user that caches state reloads when it changes) */
  generation = 0;

  constructor(private readonly kind: ChildKind) {}

  get state(): ChildState {
    return this.st;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  status(): ChildStatus {
    return {
      state: this.st,
      pid: this.child?.pid ?? null,
      starts: this.generation,
      crashes: this.crashes,
      largestFrame: this.largestFrame,
      largestReply: Math.max(this.largestReply, this.reader.largestReply),
    };
  }

  private to(next: ChildState): void {
    if (!TRANSITIONS[this.st].includes(next)) throw new Error(`${this.kind.name} process: no transition ${this.st} -> ${next}`);
    this.st = next;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private start(): void {
    this.to('starting');
    const k = this.kind;
    const child = spawn(process.execPath, [`--max-old-space-size=${k.heapMb}`, fileURLToPath(k.script), ...k.args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // GGEMBED_CHILD: which kind of helper this process is (a module can tell it was started to serve)
      env: { ...k.env, ...process.env, GGEMBED_CHILD: k.name },
      windowsHide: true,
    });
    this.child = child;
    this.largestReply = Math.max(this.largestReply, this.reader.largestReply);
    this.reader = new FrameReader();
    this.stderr = [];
    this.generation++;
    child.stdout?.on('data', (d: Buffer) => {
      let msgs: unknown[];
      try {
        msgs = this.reader.push(d);
      } catch (e) {
        child.kill('SIGKILL');
        this.failAll(k.error('protocol', `${k.name} process ${child.pid}: ${(e as Error).message}`));
        return;
      }
      for (const m of msgs) {
        if (isRequest(m)) this.serve(child, m);
        else this.answer(m as Reply);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) {
        if (!line) continue;
        this.stderr.push(line);
        if (this.stderr.length > STDERR_LINES) this.stderr.shift();
        // loud: the MCP server's stderr is its log
        process.stderr.write(`ggembed ${k.name}: ${line}\n`);
      }
    });
    child.stdin?.on('error', () => {}); // a dead child: reported by 'exit'
    let exited!: () => void;
    this.gone = new Promise((r) => {
      exited = r;
    });
    child.on('error', (e) => {
      exited();
      this.exited(child, `could not be started: ${e.message}`);
    });
    child.on('exit', (code, signal) => {
      exited();
      this.exited(child, signal ? `was killed by ${signal}` : `exited with status ${code}`);
    });
    this.to('up');
  }

  private exited(child: NodeChild, how: string): void {
    if (child !== this.child) return;
    this.child = null;
    if (this.st === 'closed') return;
    if (this.st === 'stopping') {
      // asked to go: not a crash (a call sent meanwhile fails as one, below)
      this.to('down');
      this.failAll(this.kind.error('crashed', `${this.kind.name} process ${child.pid ?? '?'} ${how} while it was being stopped`));
      return;
    }
    const now = Date.now();
    this.crashes++;
    this.recentCrashes = [...this.recentCrashes.filter((t) => now - t < this.kind.windowMs), now];
    const tail = this.stderr.length ? `; its last words: ${this.stderr.slice(-3).join(' | ')}` : '';
    const msg = `${this.kind.name} process ${child.pid ?? '?'} ${how}${tail}`;
    if (this.recentCrashes.length > this.kind.maxCrashes) {
      this.failure = this.kind.error(
        'failed',
        `${msg}; ${this.recentCrashes.length} crashes within ${this.kind.windowMs / 1000}s, not restarted`,
      );
      this.to('failed');
      this.failAll(this.failure);
    } else {
      this.to('down');
      this.failAll(this.kind.error('crashed', msg));
    }
  }

  private failAll(e: Error): void {
    const w = [...this.waiting.values()];
    this.waiting.clear();
    for (const x of w) x.reject(e);
  }

  private answer(r: Reply): void {
    const w = this.waiting.get(r.id);
    if (!w) return;
    this.waiting.delete(r.id);
    if (r.ok) w.resolve(r.result);
    else w.reject(this.kind.error(r.error.kind, r.error.message));
    this.idleCheck();
  }

  /** A request of the child: answered by the kind's onRequest, to this child only. */
  private serve(child: NodeChild, req: Request): void {
    const handle = this.kind.onRequest ?? (() => Promise.reject(new Error(`no parent operation ${req.op}`)));
    const send = (r: Reply) => {
      if (child === this.child) child.stdin?.write(encodeFrame(r));
    };
    handle(req.op, req.args).then(
      (result) => send({ id: req.id, ok: true, result: result ?? null }),
      (e: unknown) => send({ id: req.id, ok: false, error: { kind: 'parent', message: e instanceof Error ? e.message : String(e) } }),
    );
  }

  private idleCheck(): void {
    const ms = this.kind.idleMs;
    if (ms === undefined || this.st !== 'up' || this.waiting.size || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.st === 'up' && !this.waiting.size) this.stop();
    }, ms);
    this.idleTimer.unref();
  }

  /** Ends the child (its memory returned); the next call starts another. */
  stop(): void {
    if (this.st !== 'up') return;
    this.to('stopping');
    this.child?.stdin?.end();
  }

  /** stop(), and resolves once the child has exited (after it finished what it was asked) */
  async stopAndWait(): Promise<void> {
    this.stop();
    if (this.st === 'stopping') await this.gone;
  }

  async call<T>(op: string, ...args: unknown[]): Promise<T> {
    if (this.st === 'stopping') await this.gone;
    if (this.st === 'closed') throw this.kind.error('closed', `the ${this.kind.name} was closed`);
    if (this.st === 'failed') throw this.failure ?? this.kind.error('failed', `the ${this.kind.name} process failed`);
    if (this.st === 'down') this.start();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const child = this.child;
    if (!child?.stdin) throw this.kind.error('crashed', `the ${this.kind.name} process has no pipe`);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const frame = encodeFrame({ id, op, args } satisfies Request);
      this.largestFrame = Math.max(this.largestFrame, frame.length);
      child.stdin?.write(frame);
    });
  }

  /** Ends the child: `closeOp` asked first if it is up (so it finishes its work), then its stdin closed; killed after the grace time. */
  async close(closeOp?: string): Promise<void> {
    const child = this.child;
    if (this.st === 'up' && child) {
      if (closeOp) {
        try {
          await this.call<void>(closeOp);
        } catch {
          // it died on the way out: nothing left to close
        }
      }
      child.stdin?.end();
      await new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        const t = setTimeout(() => child.kill('SIGKILL'), this.kind.closeGraceMs);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    } else if (this.st === 'stopping') {
      await this.gone;
    }
    if (this.st !== 'closed') this.to('closed');
    this.failAll(this.kind.error('closed', `the ${this.kind.name} was closed`));
  }
}

/**
 * The child's side: serves the parent's requests with the handler made by
 * `handler(ask)`, one at a time in the order they came; `ask` calls the
 * parent's operations. An op's error is answered with `errorKind(e)` (else
 * its `kind`, else 'failed'); the child exits when its stdin closes, after
 * `onEnd`, or after answering `exitAfter`.
 */
export function serveParent(options: {
  handler: (ask: (op: string, ...args: unknown[]) => Promise<unknown>) => (op: string, args: unknown[]) => Promise<unknown>;
  errorKind?: (e: unknown) => string | undefined;
  onEnd?: () => Promise<void>;
  /** an op after whose answer the child exits */
  exitAfter?: string;
}): void {
  const reader = new FrameReader();
  const asked = new Map<number, Waiting>();
  let nextAsk = 1;
  const write = (m: unknown) => process.stdout.write(encodeFrame(m));
  const ask = (op: string, ...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextAsk++;
      asked.set(id, { resolve, reject });
      write({ id, op, args } satisfies Request);
    });
  const handle = options.handler(ask);
  let chain: Promise<void> = Promise.resolve();
  const serve = async (req: Request): Promise<void> => {
    try {
      const result = await handle(req.op, req.args);
      write({ id: req.id, ok: true, result: result ?? null } satisfies Reply);
      if (req.op === options.exitAfter) process.stdout.end(() => process.exit(0));
    } catch (e) {
      const kind = options.errorKind?.(e) ?? (e as { kind?: string }).kind ?? 'failed';
      write({ id: req.id, ok: false, error: { kind, message: e instanceof Error ? e.message : String(e) } } satisfies Reply);
    }
  };
  process.stdin.on('data', (d: Buffer) => {
    let msgs: unknown[];
    try {
      msgs = reader.push(d);
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(3);
    }
    for (const m of msgs) {
      if (isRequest(m)) {
        chain = chain.then(() => serve(m));
        continue;
      }
      // the answer to one of ours: handled at once, the op waiting for it is in the chain
      const r = m as Reply;
      const w = asked.get(r.id);
      asked.delete(r.id);
      if (r.ok) w?.resolve(r.result);
      else w?.reject(new Error(r.error.message));
    }
  });
  process.stdin.on('end', () => {
    void chain.then(async () => {
      await options.onEnd?.();
      process.exit(0);
    });
  });
}
