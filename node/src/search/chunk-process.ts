// chunk-process.ts - chunks files in a process of its own (chunk-server.ts),
// supervised by child.ts as the store process is: the MCP server's default
// chunker (issue 11: the MCP server under 100 MB RSS while indexing). The
// tree-sitter runtime, its grammars and their WebAssembly memory live there,
// and go with the process when it has had no file for idleMs.
//
// One file is in the process at a time: chunk() calls wait their turn here
// (an indexing run awaits each file, so that is one file per run, and the
// walk waits for it). The process asks this side for token counts, answered
// by the file's own countTokens (the embedder lives here), so the check "no
// chunk over the model's context" is the model's tokenizer's, as in-thread.
// It sends the file's chunks in pieces (`chunks` requests) before its
// answer, which gives their number (chunk-server.ts).
//
// A process that dies on a file (killed, out of its heap, a crash, a parser
// trap) fails that file with a ChunkWorkerError whose kind says so
// (threadLost: indexer.ts indexes it by line windows and flags it in the
// run's errors); the next file starts a new process. More than MAX_CRASHES
// crashes within CRASH_WINDOW_MS and every later file fails with kind
// 'gave-up' (line windows, flagged) until the server restarts.
//
// The process's states are the supervisor's (child.ts): down (no process,
// its memory returned), starting, up, stopping (idle, or after a trap),
// failed, closed.

import { ChildProcess, type ChildState } from './child.js';
import { type ChunkErrorKind, ChunkWorkerError } from './chunk-worker.js';
import type { Chunk, ChunkOptions, FileChunker } from './chunker.js';

/** crashes (files that killed the process) tolerated within CRASH_WINDOW_MS before no process is started again */
const MAX_CRASHES = 10;
const CRASH_WINDOW_MS = 60_000;
/**
 * The process's V8 heap: one file's text, its parse tree's JS side, its
 * measured texts and chunks (files are at most 1 MiB by default). A file
 * that needs more crashes the process: it is indexed by line windows.
 */
const CHUNKER_HEAP_MB = 128;

export interface ChunkProcessOptions {
  /** the process ends after this long without a file (default 5000 ms) */
  idleMs?: number;
  /** its V8 old generation, MB (default 128) */
  heapMb?: number;
  /** crashes tolerated within a minute before no process is started again (default 10) */
  maxCrashes?: number;
  /** the process's module (default chunk-server.js beside this one; tests give one that misbehaves) */
  script?: URL;
}

export interface ChunkProcessStatus {
  /** 'down' between runs: no process, its memory returned */
  state: ChildState;
  pid: number | null;
  /** processes started so far */
  starts: number;
  /** processes that died on a file */
  crashes: number;
  /** files waiting for the process (the one in it included) */
  queued: number;
}

/**
 * The error kinds of the process's answers (chunk-server.ts: 'refused',
 * 'trap') and of its supervisor (child.ts), as a file's ChunkWorkerError.
 */
const KINDS: Record<string, ChunkErrorKind> = {
  refused: 'failed',
  trap: 'trap',
  crashed: 'crashed',
  protocol: 'crashed',
  failed: 'gave-up',
  closed: 'closed',
};

export class ChunkProcess implements FileChunker {
  private readonly child: ChildProcess;
  /** the token counter of the file in the process */
  private count: ((t: string) => Promise<number>) | null = null;
  /** the chunks of the file in the process, as its pieces come */
  private received: Chunk[] | null = null;
  /** files take turns through this chain */
  private turn: Promise<unknown> = Promise.resolve();
  private queued = 0;

  constructor(options: ChunkProcessOptions = {}) {
    this.child = new ChildProcess({
      name: 'chunker',
      script: options.script ?? new URL('./chunk-server.js', import.meta.url),
      args: [],
      heapMb: options.heapMb ?? CHUNKER_HEAP_MB,
      maxCrashes: options.maxCrashes ?? MAX_CRASHES,
      windowMs: CRASH_WINDOW_MS,
      closeGraceMs: 5000,
      idleMs: options.idleMs ?? 5000,
      error: (kind, message) => new ChunkWorkerError(KINDS[kind] ?? 'failed', message),
      onRequest: async (op, args) => {
        if (op === 'countTokens' && this.count) return this.count(String(args[0]));
        if (op === 'chunks' && this.received && Array.isArray(args[0])) {
          for (const c of args[0] as Chunk[]) this.received.push(c);
          return null;
        }
        throw new Error(`no ${op} for the chunker now`);
      },
    });
  }

  get state(): ChildState {
    return this.child.state;
  }
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** the largest frames sent to and answered by the process so far, bytes */
  frames(): { sent: number; answered: number } {
    const s = this.child.status();
    return { sent: s.largestFrame, answered: s.largestReply };
  }

  status(): ChunkProcessStatus {
    const s = this.child.status();
    return { state: s.state, pid: s.pid, starts: s.starts, crashes: s.crashes, queued: this.queued };
  }

  async chunk(file: string, source: string, options: ChunkOptions): Promise<Chunk[]> {
    const r = await this.inTurn(file, options, () => this.child.call<{ count: number }>('chunk', file, source, threadOptions(options)));
    return r.chunks;
  }

  /** Chunks the file at `abs`, read by the process (this one never holds its text). */
  async chunkPath(file: string, abs: string, options: ChunkOptions): Promise<{ hash: string; chunks: Chunk[] }> {
    const r = await this.inTurn(file, options, () =>
      this.child.call<{ hash: string; count: number }>('chunkPath', file, abs, threadOptions(options)),
    );
    return { hash: r.hash, chunks: r.chunks };
  }

  /** Runs one file's call in its turn; the answer with the chunks its pieces brought. */
  private inTurn<T extends { count: number }>(
    file: string,
    options: ChunkOptions,
    send: () => Promise<T>,
  ): Promise<T & { chunks: Chunk[] }> {
    this.queued++;
    const mine = this.turn.then(async () => {
      this.count = options.countTokens;
      const chunks: Chunk[] = [];
      this.received = chunks;
      try {
        const r = await send();
        if (r.count !== chunks.length)
          throw new ChunkWorkerError('crashed', `the chunker process answered ${r.count} chunks but sent ${chunks.length}`);
        return { ...r, chunks };
      } catch (e) {
        if (!(e instanceof ChunkWorkerError)) throw e;
        // a trapped parser may have left its memory corrupt: the process goes, the next file gets a new one
        if (e.kind === 'trap') this.child.stop();
        throw new ChunkWorkerError(e.kind, `${file}: ${e.detail}`);
      } finally {
        this.count = null;
        this.received = null;
        this.queued--;
      }
    });
    this.turn = mine.catch(() => {});
    return mine;
  }

  /** Ends the process; files waiting fail with kind 'closed'. */
  close(): Promise<void> {
    return this.child.close();
  }
}

/** The options the process gets: everything but the token counter, which stays here. */
function threadOptions(o: ChunkOptions): Omit<ChunkOptions, 'countTokens'> {
  const { countTokens: _, ...rest } = o;
  return rest;
}
