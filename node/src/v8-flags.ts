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
