// chunk-server.ts - chunkFile in a process of its own (chunk-process.ts
// supervises it, through child.ts): the tree-sitter runtime, its grammars,
// their WebAssembly memory (which never shrinks once a large file was parsed)
// and the parse trees live here, and are returned to the system when the
// process ends between runs. Requests: `chunk` (file, source, options) and
// `chunkPath` (file, its absolute path, options: read here, answered with
// the SHA-256 of the bytes read). The chunks go to the parent ahead of the
// answer, in requests (`chunks`) of at most CHUNK_PIECE_BYTES of text, and
// the answer says how many there were: a large file is never one frame,
// which the parent (the MCP server) would hold as a buffer, a string and the
// parsed chunks at once. The token counts are asked of the parent
// (`countTokens`), which holds the embedder. A WebAssembly trap is answered with kind 'trap' (the parent then
// ends this process: the parser's memory may be corrupt); any other failure
// with kind 'refused'.

import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { serveParent } from './child.js';
import { type Chunk, type ChunkOptions, chunkFile } from './chunker.js';
import { sha256 } from './store.js';

/** Bytes of chunk text (as JSON: at most twice its characters) per `chunks` request to the parent. */
export const CHUNK_PIECE_BYTES = 64 << 10;

/** Sends the chunks to the parent in pieces, in order; resolves to their number once the parent has them all. */
async function sendChunks(ask: (op: string, ...args: unknown[]) => Promise<unknown>, chunks: Chunk[]): Promise<number> {
  let piece: Chunk[] = [];
  let bytes = 0;
  for (const c of chunks) {
    const size = 2 * c.text.length + 128;
    if (piece.length && bytes + size > CHUNK_PIECE_BYTES) {
      await ask('chunks', piece);
      piece = [];
      bytes = 0;
    }
    piece.push(c);
    bytes += size;
  }
  if (piece.length) await ask('chunks', piece);
  return chunks.length;
}

export function serveChunks(): void {
  serveParent({
    handler: (ask) => async (op, args) => {
      const countTokens = async (t: string) => Number(await ask('countTokens', t));
      if (op === 'chunk') {
        const [file, source, options] = args as [string, string, Omit<ChunkOptions, 'countTokens'>];
        return { count: await sendChunks(ask, await chunkFile(file, source, { ...options, countTokens })) };
      }
      if (op === 'chunkPath') {
        // read here, so that the MCP server never holds the file's text (only the chunks come back)
        const [file, abs, options] = args as [string, string, Omit<ChunkOptions, 'countTokens'>];
        const bytes = await readFile(abs);
        const hash = sha256(bytes);
        return { hash, count: await sendChunks(ask, await chunkFile(file, bytes.toString('utf8'), { ...options, countTokens })) };
      }
      throw Object.assign(new Error(`unknown chunker operation ${op}`), { kind: 'protocol' });
    },
    errorKind: (e) =>
      e instanceof WebAssembly.RuntimeError ? 'trap' : (e as { kind?: string }).kind === 'protocol' ? 'protocol' : 'refused',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) serveChunks();
