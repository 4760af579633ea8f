// errors.ts - the one error class callers see, with a stable code.

import type { ServerErrorName } from './protocol.js';

/**
 * The codes the client itself sets (the rest are the server's error names,
 * docs/PROTOCOL.md). node/README.md documents each.
 */
export type ClientErrorCode =
  | 'ABORTED' // the caller's AbortSignal fired
  | 'POISON' // the text alone made the server crash, twice: it was not embedded
  | 'UNAVAILABLE' // the server cannot run and fallback is off (or the binary is missing)
  | 'CLOSED' // close() was called
  | 'INTEGRITY' // the model file is missing, not GGUF, or its SHA-256 is wrong
  | 'DOWNLOAD' // downloading the model failed
  | 'PROTOCOL' // the server broke the protocol
  | 'NOT_RERANKER' // rerank() on a model that is not a reranker (HELLO_OK pooling is not rank)
  | 'CONNECTION_LOST'; // low-level Connection only: Embedder methods re-send instead

export type EmbedderErrorCode = ServerErrorName | ClientErrorCode;

export class EmbedderError extends Error {
  readonly code: EmbedderErrorCode;
  constructor(code: EmbedderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbedderError';
    this.code = code;
  }
}

export function isEmbedderError(e: unknown, code?: EmbedderErrorCode): e is EmbedderError {
  return e instanceof EmbedderError && (code === undefined || e.code === code);
}
