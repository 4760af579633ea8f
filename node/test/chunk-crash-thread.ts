// A chunking thread for the tests of chunk-worker.ts: the real one
// (chunk-thread.ts), except that it dies in the middle of a file whose name
// says how (after the main thread has answered its first token count):
// crash-throw* (an uncaught error), crash-exit* (process.exit in the thread),
// crash-oom* (allocates until the thread's heap limit).
import { isMainThread, parentPort } from 'node:worker_threads';

if (!isMainThread && parentPort) {
  // the real thread first: a message that came before its listener would be lost to it
  await import('../src/search/chunk-thread.js');
  let file = '';
  parentPort.on('message', (m: { type: string; file?: string }) => {
    if (m.type === 'chunk') file = m.file ?? '';
    if (m.type !== 'tokens') return;
    // thrown here, not in a later turn: under load the real thread could
    // finish the file (its continuation runs first) before a later turn came
    if (/crash-throw/.test(file)) throw new Error(`test thread: dies on ${file}`);
    if (/crash-exit/.test(file)) process.exit(7);
    if (/crash-oom/.test(file)) {
      const hold: number[][] = [];
      for (;;) hold.push(new Array(1 << 16).fill(hold.length));
    }
  });
}
