// index.ts - the package's public API.
export { Embedder } from './embedder.js';
export type {
  EmbedderOptions,
  EmbedOptions,
  EmbedResult,
  EmbedderInfo,
  EmbedderHealth,
  ClientStats,
  Transport,
  Pooling,
  EmbedderEvents,
  EmbedderStatus,
  FallbackMode,
  StatusEvent,
  SupervisorState,
} from './embedder.js';
export { EmbedderError, isEmbedderError } from './errors.js';
export type { EmbedderErrorCode, ClientErrorCode } from './errors.js';
export { fallbackEmbedding } from './fallback.js';
export { findBinary } from './binary.js';
export { inspectModel, sha256File, cachedSha256, downloadFile, checkModel, ensureModel } from './integrity.js';
export type { ProgressEvent, InspectInfo, DownloadOptions } from './integrity.js';
export { CATALOGUE, pullModel } from './catalogue.js';
export type { CatalogueEntry } from './catalogue.js';
export * as protocol from './protocol.js';
