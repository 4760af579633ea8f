// binary.ts - finding the ggembed executable: the `binary` option, then
// env GGEMBED_BIN, then `ggembed` on PATH.

import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    if (process.platform !== 'win32') accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of the ggembed binary, or null when none is found. */
export function findBinary(option?: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (option) return isExecutable(option) ? path.resolve(option) : null;
  if (env.GGEMBED_BIN) return isExecutable(env.GGEMBED_BIN) ? path.resolve(env.GGEMBED_BIN) : null;
  const exts = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE').split(';').filter(Boolean) : [''];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = path.join(dir, 'ggembed' + ext);
      if (isExecutable(p)) return p;
    }
  }
  return null;
}

/** Where findBinary looked, for error messages. */
export function describeBinarySearch(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (option) return `option binary=${option}`;
  if (env.GGEMBED_BIN) return `GGEMBED_BIN=${env.GGEMBED_BIN}`;
  return 'ggembed on PATH';
}
