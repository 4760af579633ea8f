// chunk-server.ts - chunkFile in a process of its own (chunk-process.ts
// supervises it, through child.ts): the tree-sitter runtime, its grammars,
// their WebAssembly memory (which never shrinks once a large file was parsed)
// and the parse trees live here, and are returned to the system when the
// process ends between runs. Requests: `chunk` (file, source, options) and
// `chunkPath` (file, its absolute path, options: read here, answered with
// the SHA-256 of the bytes read and the chunks);
// the token counts are asked of the parent (`countTokens`), which holds the
// embedder. A WebAssembly trap is answered with kind 'trap' (the parent then
// ends this process: the parser's memory may be corrupt); any other failure
// with kind 'refused'.

import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { serveParent } from './child.js';
import { type ChunkOptions, chunkFile } from './chunker.js';
import { sha256 } from './store.js';

export function serveChunks(): void {
  serveParent({
    handler: (ask) => async (op, args) => {
      const countTokens = async (t: string) => Number(await ask('countTokens', t));
      if (op === 'chunk') {
        const [file, source, options] = args as [string, string, Omit<ChunkOptions, 'countTokens'>];
        return chunkFile(file, source, { ...options, countTokens });
      }
      if (op === 'chunkPath') {
        // read here, so that the MCP server never holds the file's text (only the chunks come back)
        const [file, abs, options] = args as [string, string, Omit<ChunkOptions, 'countTokens'>];
        const bytes = await readFile(abs);
        const hash = sha256(bytes);
        return { hash, chunks: await chunkFile(file, bytes.toString('utf8'), { ...options, countTokens }) };
      }
      throw Object.assign(new Error(`unknown chunker operation ${op}`), { kind: 'protocol' });
    },
    errorKind: (e) =>
      e instanceof WebAssembly.RuntimeError ? 'trap' : (e as { kind?: string }).kind === 'protocol' ? 'protocol' : 'refused',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) serveChunks();
