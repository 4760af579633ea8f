// watcher.ts - keeps an index current while the server runs: file events
// (chokidar) are collected into a bounded set of changed paths and handed to
// one re-index once the tree has been quiet for a moment, so a burst (a
// `git checkout`, a formatter over the tree) is one run over the changed
// files, not thousands. The same ignore rules as the walk decide what is
// watched at all (node_modules and ignored directories get no watches).
//
// States (to() is the only place the state changes):
//
//   starting --ready--> idle --event--> waiting --quiet (or max wait)--> indexing
//                        ^               |   ^                              |
//                        |               +---+ event: the quiet timer       |
//                        |                       starts again               |
//                        +------- run over, nothing came meanwhile ---------+
//                                  run over, events came -> waiting
//   any state --stop()--> stopping --watches closed, run ended--> stopped
//
// A run is aborted by stop() (what it finished is kept; the rest is found
// by the next index_codebase, as after any interruption).

import path from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import type { IgnoreRules } from './files.js';

export const WATCHER_STATES = ['starting', 'idle', 'waiting', 'indexing', 'stopping', 'stopped'] as const;
export type WatcherState = (typeof WATCHER_STATES)[number];

const NEXT: Record<WatcherState, readonly WatcherState[]> = {
  starting: ['idle', 'waiting', 'stopping'],
  idle: ['waiting', 'stopping'],
  waiting: ['indexing', 'stopping'],
  indexing: ['idle', 'waiting', 'stopping'],
  stopping: ['stopped'],
  stopped: [],
};

/** What one re-index is asked to do. */
export interface WatchBatch {
  /** files (relative to the root) that were added, changed or removed */
  paths: string[];
  /** directories that went away: every indexed file under them leaves */
  dirsGone: string[];
  /** walk the whole tree instead: the queue overflowed, or an ignore file changed */
  full: boolean;
}

export interface WatcherOptions {
  /** quiet time after the last event before the re-index starts (default 500 ms) */
  debounceMs?: number;
  /** the longest a change waits under a steady stream of events (default 5 s) */
  maxWaitMs?: number;
  /** changed paths kept; past this the queue is dropped for one full walk (default 10,000) */
  maxPending?: number;
  /** chokidar's polling mode (network file systems) */
  usePolling?: boolean;
  /** called with what a run failed with (the watcher keeps going) */
  onError?: (e: Error) => void;
}

const RULE_FILES = new Set(['.gitignore', '.ggembedignore']);

export class RepoWatcher {
  private _state: WatcherState = 'starting';
  private readonly fsw: FSWatcher;
  private paths = new Set<string>();
  private dirsGone = new Set<string>();
  private full = false;
  private quietTimer: NodeJS.Timeout | null = null;
  private maxTimer: NodeJS.Timeout | null = null;
  private run: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private readonly ready: Promise<void>;
  private readyResolve: () => void = () => {};
  private readonly o: Required<Omit<WatcherOptions, 'onError'>> & Pick<WatcherOptions, 'onError'>;
  /** re-index runs started, and events received: what a burst coalesced into */
  runs = 0;
  events = 0;

  constructor(
    private readonly rules: IgnoreRules,
    private readonly reindex: (batch: WatchBatch, signal: AbortSignal) => Promise<void>,
    options: WatcherOptions = {},
  ) {
    this.o = { debounceMs: 500, maxWaitMs: 5000, maxPending: 10_000, usePolling: false, ...options };
    const root = rules.absRoot;
    this.fsw = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      usePolling: this.o.usePolling,
      ignored: (p: string, stats?: { isDirectory(): boolean }) => {
        const rel = this.rel(p);
        return rel !== null && rules.ignored(rel, stats?.isDirectory() ?? false);
      },
    });
    this.fsw.on('add', (p) => this.changed(p));
    this.fsw.on('change', (p) => this.changed(p));
    this.fsw.on('unlink', (p) => this.changed(p));
    this.fsw.on('unlinkDir', (p) => {
      const rel = this.rel(p);
      if (rel) this.queue(() => this.dirsGone.add(rel));
    });
    this.fsw.on('error', (e) => this.o.onError?.(e as Error));
    this.ready = new Promise((resolve) => {
      this.readyResolve = resolve;
    });
    this.fsw.once('ready', () => {
      if (this._state === 'starting') this.to(this.pendingCount() ? 'waiting' : 'idle');
      this.readyResolve();
    });
  }

  get state(): WatcherState {
    return this._state;
  }

  /** Resolves once the initial scan is done and every event from then on is seen. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Changes seen and not yet handed to a run (a full walk counts as one). */
  pendingCount(): number {
    return this.paths.size + this.dirsGone.size + (this.full ? 1 : 0);
  }

  /** Resolves when nothing is pending and no run is going (or the watcher stopped). */
  async settled(): Promise<void> {
    while (this._state === 'waiting' || this._state === 'indexing' || this._state === 'starting') {
      await (this.run ?? new Promise((r) => setTimeout(r, 20)));
    }
  }

  private to(next: WatcherState): void {
    if (!NEXT[this._state].includes(next)) throw new Error(`watcher: no transition from ${this._state} to ${next}`);
    this._state = next;
    if (next === 'waiting') this.armTimers();
    else this.clearTimers();
    if (next === 'indexing') this.startRun();
  }

  private rel(p: string): string | null {
    const r = path.relative(this.rules.absRoot, path.resolve(this.rules.absRoot, p));
    if (r.startsWith('..') || path.isAbsolute(r)) return null;
    return r.split(path.sep).join('/');
  }

  private changed(p: string): void {
    const rel = this.rel(p);
    if (!rel) return;
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    if (RULE_FILES.has(base)) {
      // other files may be in or out now: the rules are read again and the whole tree walked
      this.rules.forget(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
      this.queue(() => {
        this.full = true;
      });
      return;
    }
    this.queue(() => this.paths.add(rel));
  }

  private queue(add: () => void): void {
    if (this._state === 'stopping' || this._state === 'stopped') return;
    this.events++;
    if (!this.full) add();
    if (this.paths.size + this.dirsGone.size > this.o.maxPending) {
      // bounded: past the cap the paths are forgotten and one incremental walk finds them all
      this.paths.clear();
      this.dirsGone.clear();
      this.full = true;
    }
    if (this._state === 'idle') this.to('waiting');
    else if (this._state === 'waiting') this.armQuiet();
  }

  private armQuiet(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.to('indexing'), this.o.debounceMs);
  }

  private armTimers(): void {
    this.armQuiet();
    this.maxTimer ??= setTimeout(() => {
      if (this._state === 'waiting') this.to('indexing');
    }, this.o.maxWaitMs);
  }

  private clearTimers(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.quietTimer = null;
    this.maxTimer = null;
  }

  private startRun(): void {
    const batch: WatchBatch = { paths: [...this.paths].sort(), dirsGone: [...this.dirsGone], full: this.full };
    this.paths = new Set();
    this.dirsGone = new Set();
    this.full = false;
    this.runs++;
    const ac = new AbortController();
    this.abort = ac;
    this.run = this.reindex(batch, ac.signal)
      .catch((e: Error) => this.o.onError?.(e))
      .finally(() => {
        this.run = null;
        this.abort = null;
        if (this._state === 'indexing') this.to(this.pendingCount() ? 'waiting' : 'idle');
      });
  }

  /** Stops watching: the run going on is aborted (its finished part is kept), pending changes are dropped. */
  async stop(): Promise<void> {
    if (this._state === 'stopping' || this._state === 'stopped') return;
    this.to('stopping');
    this.abort?.abort();
    await Promise.all([this.fsw.close(), this.run]);
    this.to('stopped');
    this.readyResolve();
  }
}
