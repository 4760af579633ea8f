// errors.ts - the one error class callers see, with a stable code.

/**
 * Codes: the server's error names (BUSY, TIMEOUT, CANCELLED, TOO_LONG,
 * INVALID, NO_WEIGHTS, TOO_LARGE, BAD_UTF8, INTERNAL, ...) and the client's:
 * ABORTED (the caller's AbortSignal fired), POISON (the text made the embedder
 * exit again after a restart), UNAVAILABLE (no embedder and no fallback),
 * CLOSED (the client was closed), PROTOCOL (the server broke the protocol),
 * INTEGRITY (model file check failed).
 */
export class EmbedderError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbedderError';
    this.code = code;
  }
}

export function isEmbedderError(e: unknown, code?: string): e is EmbedderError {
  return e instanceof EmbedderError && (code === undefined || e.code === code);
}
