// chunk-worker.ts - chunks files in a worker thread (chunk-thread.ts), so
// that the tree-sitter runtime, its grammars and the parse trees live in a
// heap of their own with a bounded size, and go away with the thread when
// indexing pauses (issue 11: the MCP server under 100 MB while indexing).
//
// The thread starts on the first file and ends after idleMs without one.
// One file is in the thread at a time; further chunk() calls wait in a FIFO
// (an indexing run awaits each file, so that is one file per run). The
// thread asks the main thread for token counts (the embedder lives here).
//
// V8 flags cannot be given to one thread: Node refuses them in a Worker's
// execArgv (ERR_WORKER_INVALID_EXEC_ARGV). They are process-wide, and
// creating a Worker resets them (v8-flags.ts): the main thread's flags
// (the ggembed-mcp bin's --semi-space-growth-factor=1) are set again right
// after, and the thread sets --liftoff-only itself (chunker.ts) before its
// first grammar compiles. The thread's heap sizes are its resourceLimits.
//
// A thread that dies on a file (an uncaught error, a WebAssembly trap in a
// parser, its heap limit) fails that file with a ChunkWorkerError whose
// kind says so; the next file gets a new thread. Nothing is dropped
// silently: the caller decides what the file gets instead (indexer.ts:
// line windows, flagged in the run's errors).
//
// States (to() is the only place the state changes):
//
//   off --chunk()--> busy --file done, another queued--> busy
//    ^                |  --file done, none queued--> idle --chunk()--> busy
//    |                |                               |
//    |                +--thread died: the file fails--+--> off (a queued file: busy on a new thread)
//    |                                                |
//    +--thread exited (a queued file: busy)-- stopping <--idleMs without a file
//   any state --close()--> closed (queued files fail with kind 'closed')

import { Worker } from 'node:worker_threads';
import { reapplyProcessFlags } from '../v8-flags.js';
import type { Chunk, ChunkOptions, FileChunker } from './chunker.js';

/**
 * What went wrong with a file, and whether the chunker (this worker thread,
 * or the chunking process of chunk-process.ts) died of it: a file whose
 * chunker died is indexed by line windows instead, and flagged.
 */
export const CHUNK_ERROR_KINDS = {
  /** chunkFile rejected (a token count failed, ...): the chunker is fine */
  failed: { threadLost: false, what: 'chunking failed' },
  /** a grammar's WebAssembly trapped: its memory may be corrupt, so the chunker is ended */
  trap: { threadLost: true, what: 'the parser trapped' },
  /** the chunker's heap reached its limit */
  'out-of-memory': { threadLost: true, what: 'the chunker ran out of its memory limit' },
  /** an uncaught error, an exit, a kill, or garbage on its pipe */
  crashed: { threadLost: true, what: 'the chunker crashed' },
  /** the chunking process crashed too often in a short time and is not started again */
  'gave-up': { threadLost: true, what: 'the chunker crashed too often and is not restarted' },
  /** close() was called */
  closed: { threadLost: false, what: 'the chunker was closed' },
} as const;
export type ChunkErrorKind = keyof typeof CHUNK_ERROR_KINDS;

export class ChunkWorkerError extends Error {
  constructor(
    readonly kind: ChunkErrorKind,
    readonly detail: string,
  ) {
    super(`${CHUNK_ERROR_KINDS[kind].what}: ${detail}`);
    this.name = 'ChunkWorkerError';
  }
  /** the thread died on this file: its text can still be chunked without a grammar */
  get threadLost(): boolean {
    return CHUNK_ERROR_KINDS[this.kind].threadLost;
  }
}

/** Messages to the thread. */
export type ToThread =
  | { type: 'chunk'; id: number; file: string; source: string; options: Omit<ChunkOptions, 'countTokens'> }
  | { type: 'tokens'; id: number; n?: number; error?: string };
/** Messages from the thread. */
export type FromThread =
  | { type: 'count'; id: number; text: string }
  | { type: 'chunks'; id: number; chunks: Chunk[] }
  | { type: 'failed'; id: number; message: string; trap: boolean };

export const CHUNK_WORKER_STATES = ['off', 'busy', 'idle', 'stopping', 'closed'] as const;
export type ChunkWorkerState = (typeof CHUNK_WORKER_STATES)[number];

const NEXT: Record<ChunkWorkerState, readonly ChunkWorkerState[]> = {
  off: ['busy', 'closed'],
  busy: ['busy', 'idle', 'off', 'closed'],
  idle: ['busy', 'stopping', 'off', 'closed'],
  stopping: ['off', 'closed'],
  closed: [],
};

export interface ChunkWorkerOptions {
  /** the thread ends after this long without a file (default 5000 ms) */
  idleMs?: number;
  /** the thread's heap limits (default: young generation 4 MB, old generation 64 MB) */
  resourceLimits?: { maxYoungGenerationSizeMb?: number; maxOldGenerationSizeMb?: number };
  /** the thread's module (default chunk-thread.js beside this one; tests give one that misbehaves) */
  script?: URL;
}

export interface ChunkWorkerStatus {
  state: ChunkWorkerState;
  /** threads started so far */
  starts: number;
  /** threads that died on a file */
  crashes: number;
  /** files waiting for the thread (the one in it included) */
  queued: number;
}

interface Job {
  id: number;
  file: string;
  source: string;
  options: ChunkOptions;
  resolve: (c: Chunk[]) => void;
  reject: (e: Error) => void;
}

export class ChunkWorker implements FileChunker {
  private _state: ChunkWorkerState = 'off';
  private thread: Worker | null = null;
  /** the first job is the one in the thread while busy */
  private readonly jobs: Job[] = [];
  private nextId = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** why the current thread is dying, from its 'error' event, for its 'exit' */
  private death: { kind: ChunkErrorKind; detail: string } | null = null;
  private starts = 0;
  private crashes = 0;
  private readonly idleMs: number;
  private readonly limits: { maxYoungGenerationSizeMb: number; maxOldGenerationSizeMb: number };
  private readonly script: URL;

  constructor(options: ChunkWorkerOptions = {}) {
    this.idleMs = options.idleMs ?? 5000;
    this.limits = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64, ...options.resourceLimits };
    this.script = options.script ?? new URL('./chunk-thread.js', import.meta.url);
  }

  get state(): ChunkWorkerState {
    return this._state;
  }

  status(): ChunkWorkerStatus {
    return { state: this._state, starts: this.starts, crashes: this.crashes, queued: this.jobs.length };
  }

  chunk(file: string, source: string, options: ChunkOptions): Promise<Chunk[]> {
    if (this._state === 'closed') return Promise.reject(new ChunkWorkerError('closed', file));
    return new Promise((resolve, reject) => {
      this.jobs.push({ id: this.nextId++, file, source, options, resolve, reject });
      if (this._state === 'off' || this._state === 'idle') this.to('busy');
    });
  }

  /** Ends the thread; waiting files fail with kind 'closed'. */
  async close(): Promise<void> {
    if (this._state === 'closed') return;
    const t = this.thread;
    this.to('closed');
    for (const j of this.jobs.splice(0)) j.reject(new ChunkWorkerError('closed', j.file));
    await t?.terminate();
  }

  private to(next: ChunkWorkerState): void {
    if (!NEXT[this._state].includes(next)) throw new Error(`chunk worker: no transition from ${this._state} to ${next}`);
    this._state = next;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    switch (next) {
      case 'busy': {
        const job = this.jobs[0];
        if (!job) throw new Error('chunk worker: busy without a file');
        this.send({ type: 'chunk', id: job.id, file: job.file, source: job.source, options: threadOptions(job.options) });
        break;
      }
      case 'idle':
        this.idleTimer = setTimeout(() => this.to('stopping'), this.idleMs);
        this.idleTimer.unref();
        break;
      case 'stopping':
        void this.thread?.terminate();
        break;
      case 'off':
      case 'closed':
        if (next === 'closed') this.thread?.unref();
        this.thread = null;
        break;
    }
  }

  private send(m: ToThread): void {
    (this.thread ?? this.start()).postMessage(m);
  }

  private start(): Worker {
    const w = new Worker(this.script, { resourceLimits: this.limits });
    // Node resets V8's flags while a Worker starts up: the main thread's are set again once it is up (v8-flags.ts)
    w.once('online', reapplyProcessFlags);
    this.thread = w;
    this.death = null;
    this.starts++;
    w.on('message', (m: FromThread) => {
      if (w === this.thread) this.onMessage(w, m);
    });
    w.on('error', (e: Error & { code?: string }) => {
      if (w !== this.thread) return;
      const kind = e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out-of-memory' : 'crashed';
      this.death = { kind, detail: e.message };
    });
    w.on('exit', (code) => {
      if (w === this.thread) this.onExit(code);
    });
    return w;
  }

  private onMessage(w: Worker, m: FromThread): void {
    const job = this.jobs[0];
    if (this._state !== 'busy' || !job) return;
    if (m.type === 'count') {
      job.options.countTokens(m.text).then(
        (n) => w === this.thread && w.postMessage({ type: 'tokens', id: m.id, n } satisfies ToThread),
        (e: unknown) =>
          w === this.thread && w.postMessage({ type: 'tokens', id: m.id, error: String((e as Error)?.message ?? e) } satisfies ToThread),
      );
      return;
    }
    if (m.id !== job.id) return;
    if (m.type === 'failed' && m.trap) {
      // a trapped parser may have left its memory corrupt: the thread goes, the file fails as a lost thread's
      this.death = { kind: 'trap', detail: m.message };
      void w.terminate();
      return;
    }
    this.jobs.shift();
    if (m.type === 'chunks') job.resolve(m.chunks);
    else job.reject(new ChunkWorkerError('failed', m.message));
    this.to(this.jobs.length ? 'busy' : 'idle');
  }

  private onExit(code: number): void {
    if (this._state === 'closed') return;
    if (this._state === 'stopping') {
      this.to('off');
      if (this.jobs.length) this.to('busy');
      return;
    }
    // busy or idle: the thread was not asked to go
    this.crashes++;
    const death = this.death ?? { kind: 'crashed', detail: `exit code ${code}` };
    const job = this._state === 'busy' ? this.jobs.shift() : undefined;
    this.to('off');
    job?.reject(new ChunkWorkerError(death.kind, `${job.file}: ${death.detail}`));
    if (this.jobs.length) this.to('busy');
  }
}

/** The options a thread gets: everything but the token counter, which stays here. */
function threadOptions(o: ChunkOptions): Omit<ChunkOptions, 'countTokens'> {
  const { countTokens: _, ...rest } = o;
  return rest;
}
