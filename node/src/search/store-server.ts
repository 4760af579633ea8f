// store-server.ts - the LanceDB engine in a process of its own, so that its
// native code (100+ MB RSS once it has touched a table) stays out of the MCP
// server's process, as the embedder does. Run as
//
//   node store-server.js DIR OPTIONS_JSON
//
// by the supervisor of child.ts (lance-store.ts describes this kind), whose
// frames it speaks over stdin/stdout: the requests are StoreEngine's
// operations, served one at a time in the order they came, so writes happen
// in the order they were made. It exits when stdin closes (its parent is
// gone) or after `close`.

import { pathToFileURL } from 'node:url';
import { serveParent } from './child.js';
import { LanceEngine, type StoreEngine, StoreUnavailableError } from './lance.js';

/** the engine's operations, and `memory`: the store process's resident set, bytes (LanceStore restarts a process past its bound) */
export type StoreOp = keyof StoreEngine | 'memory';

async function main(): Promise<void> {
  const [dir, opts] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: store-server DIR [OPTIONS_JSON]\n');
    process.exit(2);
  }
  const engineP = LanceEngine.open(dir, opts ? JSON.parse(opts) : {});
  // an open failure is the answer to every request, so the parent learns why
  engineP.catch(() => {});
  serveParent({
    handler: () => async (op, args) => {
      if (op === 'memory') return process.memoryUsage.rss();
      const engine = await engineP;
      const fn = engine[op as keyof StoreEngine] as (...a: unknown[]) => Promise<unknown>;
      if (typeof fn !== 'function') throw Object.assign(new Error(`unknown store operation ${op}`), { kind: 'protocol' });
      return fn.apply(engine, args);
    },
    errorKind: (e) => (e instanceof StoreUnavailableError ? 'unavailable' : ((e as { kind?: string }).kind ?? 'engine')),
    onEnd: async () => {
      await (await engineP.catch(() => null))?.close();
    },
    exitAfter: 'close',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
