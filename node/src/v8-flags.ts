// v8-flags.ts - the V8 flags this process sets at run time, kept so that
// they can be set again: a Worker starting up resets V8's flags (measured on
// Node 20.20: once a Worker had started, the main thread's young generation
// grew to 2 x 16 MB despite --semi-space-growth-factor=1 set before; set
// again on the Worker's 'online' event, it held). V8 flags are process-wide:
// one list per process, kept by the main thread.

import { setFlagsFromString } from 'node:v8';

const flags = new Set<string>();

/** Sets a V8 flag now and again whenever reapplyProcessFlags() is called (after a Worker starts). */
export function setProcessFlag(flag: string): void {
  flags.add(flag);
  setFlagsFromString(flag);
}

/** Call when a Worker is online: sets the flags of setProcessFlag() again. */
export function reapplyProcessFlags(): void {
  for (const f of flags) setFlagsFromString(f);
}

/**
 * The ggembed-mcp bin's flags (issue 11: the MCP server under 100 MB RSS
 * while indexing), in one place so that bench/bench_search.mjs measures with
 * the bin's settings.
 *
 * --semi-space-growth-factor=1: indexing allocates steadily (chunk texts,
 * frames) and V8 answers by doubling the young generation up to 3 x 16 MB,
 * which stays committed. With no growth the scavenger runs more often on the
 * small initial semi-space instead (a few % of Node's CPU while indexing).
 *
 * --heap-growing-percent=20: what the server holds live while indexing is
 * 10-20 MB, but V8 lets the old generation grow to up to 4x the live size
 * after each full collection when collecting is cheap (as it is here): the
 * garbage of a run (frames of chunks and write batches) then piled up to
 * 40-60 MB before the next one. A factor of 1.2 collects at 1.2x (at least
 * V8's minimum step); the full collections this adds are ~10-30 ms on a
 * 15 MB heap, a few per second of indexing at most.
 *
 * Both are read by V8 each time it sizes a space, so setting them at run
 * time (after start, before indexing) works.
 */
export const MCP_SERVER_FLAGS = ['--semi-space-growth-factor=1', '--heap-growing-percent=20'] as const;

/** Sets MCP_SERVER_FLAGS in this process (again after a Worker starts: reapplyProcessFlags). */
export function setMcpServerFlags(): void {
  for (const f of MCP_SERVER_FLAGS) setProcessFlag(f);
}
