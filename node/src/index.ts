// index.ts - the package's public API.

export { findBinary } from './binary.js';
export type { CatalogueEntry } from './catalogue.js';
export { CATALOGUE, pullModel } from './catalogue.js';
export type {
  ClientStats,
  EmbedderEvents,
  EmbedderHealth,
  EmbedderInfo,
  EmbedderOptions,
  EmbedderStatus,
  EmbedOptions,
  EmbedResult,
  FallbackMode,
  Pooling,
  RerankOptions,
  RerankResult,
  StatusEvent,
  SupervisorState,
  Transport,
} from './embedder.js';
export { Embedder } from './embedder.js';
export type { ClientErrorCode, EmbedderErrorCode } from './errors.js';
export { EmbedderError, isEmbedderError } from './errors.js';
export { fallbackEmbedding } from './fallback.js';
export type { DownloadOptions, InspectInfo, ProgressEvent } from './integrity.js';
export { cachedSha256, checkModel, downloadFile, ensureModel, inspectModel, sha256File } from './integrity.js';
export * as protocol from './protocol.js';
