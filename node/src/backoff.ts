// backoff.ts - the one exponential backoff every retry loop uses (server
// restarts, reconnects, BUSY re-sends, downloads).

import { setTimeout as sleep } from 'node:timers/promises';

/** The delay before retry number `attempt` (1-based): base, 2 base, 4 base, ..., at most maxMs. */
export function backoffDelay(attempt: number, baseMs: number, maxMs = 30_000): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

export interface RetryOptions {
  /** tries in all, the first included */
  attempts: number;
  baseMs: number;
  maxMs?: number;
  signal?: AbortSignal;
  /** false: give up at once with this error */
  retryable?: (e: unknown) => boolean;
}

/**
 * Runs fn until it resolves or `attempts` tries failed (then the last error
 * is thrown). The waits do not keep the process alive on their own: whoever
 * waits for the result does.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= o.attempts || (o.retryable && !o.retryable(e))) throw e;
      await sleep(backoffDelay(attempt, o.baseMs, o.maxMs), undefined, { signal: o.signal, ref: false });
    }
  }
}
