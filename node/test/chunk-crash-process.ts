// A chunking process for the tests of chunk-process.ts: the real one
// (chunk-server.ts), except that it dies in the middle of a file whose name
// says how (after the parent has answered its first token count):
// crash-kill* (SIGKILL to itself), crash-exit* (process.exit),
// crash-oom* (allocates until its heap limit).
import { FrameReader } from '../src/search/child.js';
import { serveChunks } from '../src/search/chunk-server.js';

// only as a chunking process (node --test runs every .js file of the test folder, this one too)
if (process.env.GGEMBED_CHILD === 'chunker') serve();

function serve(): void {
  serveChunks();
  const reader = new FrameReader();
  let file = '';
  process.stdin.on('data', (d: Buffer) => {
    for (const m of reader.push(d) as { op?: string; args?: unknown[] }[]) {
      if (m.op === 'chunk' || m.op === 'chunkPath') file = String(m.args?.[0] ?? '');
      if (m.op !== undefined) continue;
      // the answer to a token count
      if (/crash-kill/.test(file)) process.kill(process.pid, 'SIGKILL');
      if (/crash-exit/.test(file)) process.exit(7);
      if (/crash-oom/.test(file)) {
        const hold: number[][] = [];
        for (;;) hold.push(new Array(1 << 16).fill(hold.length));
      }
    }
  });
}
