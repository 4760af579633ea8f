#!/usr/bin/env node
// ggembed.ts - the `ggembed` bin (`npx ggembed embed -m MODEL.gguf hello`):
// runs the C command the library would use, with this process's arguments
// and stdio, and ends as it ends (the same exit status, or the same signal).

import { spawn } from 'node:child_process';
import { describeBinarySearch, findBinary } from '../binary.js';

const bin = findBinary();
if (!bin) {
  process.stderr.write(`ggembed: no ggembed executable for ${process.platform}-${process.arch} (${describeBinarySearch()})\n`);
  process.exit(127);
}

const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit' });

// A signal sent to this process alone (a supervisor, `kill`) must reach the
// command too; a terminal's Ctrl-C reaches both, and a second SIGINT is harmless.
const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGBREAK'] as const;
const forward = (sig: NodeJS.Signals) => {
  child.kill(sig);
};
for (const sig of forwarded) {
  if (process.platform === 'win32' && (sig === 'SIGHUP' || sig === 'SIGQUIT')) continue;
  if (process.platform !== 'win32' && sig === 'SIGBREAK') continue;
  process.on(sig, forward);
}

child.on('error', (err) => {
  process.stderr.write(`ggembed: cannot run ${bin}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so a shell or supervisor sees what the command saw.
    for (const sig of forwarded) process.removeAllListeners(sig);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
