// chunk-thread.ts - the body of the chunking worker thread (chunk-worker.ts
// starts it): chunkFile for the file texts the main thread sends, with the
// token counts asked back of the main thread (which holds the embedder).
// The tree-sitter runtime and grammars load here, so their memory goes when
// the thread ends. Messages: see ToThread / FromThread in chunk-worker.ts.

import { parentPort } from 'node:worker_threads';
import type { FromThread, ToThread } from './chunk-worker.js';
import { chunkFile } from './chunker.js';

const port = parentPort;
if (!port) throw new Error('chunk-thread.js runs only as a worker thread (chunk-worker.ts starts it)');

const counts = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void }>();
let nextCount = 0;
const send = (m: FromThread) => port.postMessage(m);

function countTokens(text: string): Promise<number> {
  const id = nextCount++;
  return new Promise((resolve, reject) => {
    counts.set(id, { resolve, reject });
    send({ type: 'count', id, text });
  });
}

port.on('message', (m: ToThread) => {
  if (m.type === 'tokens') {
    const c = counts.get(m.id);
    counts.delete(m.id);
    if (m.error !== undefined) c?.reject(new Error(m.error));
    else c?.resolve(m.n ?? 0);
    return;
  }
  chunkFile(m.file, m.source, { ...m.options, countTokens }).then(
    (chunks) => send({ type: 'chunks', id: m.id, chunks }),
    (e: unknown) =>
      send({ type: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e), trap: e instanceof WebAssembly.RuntimeError }),
  );
});
