// integrity.ts - model file checks before the embedder starts: the engine
// must accept the file (`ggembed inspect --json`), its SHA-256 must match
// when one is configured (streamed, cached by size and mtime), and a bad or
// missing file is downloaded again from its source URL when one is given
// (to a temporary file, verified, renamed into place atomically).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import { z } from 'zod';
import { retry } from './backoff.js';
import { EmbedderError } from './errors.js';

const execFileP = promisify(execFile);

export type ProgressEvent =
  | { phase: 'hash'; file: string; bytes: number; total: number }
  | { phase: 'download'; url: string; file: string; bytes: number; total: number | null };

export type ProgressFn = (e: ProgressEvent) => void;

/**
 * The part of `ggembed inspect --json` the client relies on (src/cli/cmd_inspect.c);
 * other fields pass through. A shape value the file lacks is null.
 */
export const InspectSchema = z.looseObject({
  file: z.string(),
  file_size: z.number().int().nonnegative(),
  architecture: z.string(),
  name: z.string().nullable().optional(),
  embedding_length: z.number().int().positive().nullable(),
  context_length: z.number().int().positive().nullable().optional(),
  pooling: z.string().nullable().optional(),
  engine: z.looseObject({ has_weights: z.boolean().optional(), working_memory: z.number().optional() }).optional(),
});

/** What `ggembed inspect --json` said, with the fields the client uses pulled out. */
export interface InspectInfo {
  raw: z.infer<typeof InspectSchema>;
  dims: number | null;
  arch: string | null;
}

/** Runs `binary inspect model --json`; rejects (code INTEGRITY) when the engine refuses the file. */
export async function inspectModel(binary: string, model: string, timeoutMs = 30000): Promise<InspectInfo> {
  let stdout: string;
  try {
    ({ stdout } = await execFileP(binary, ['inspect', model, '--json'], { timeout: timeoutMs, maxBuffer: 64 << 20, windowsHide: true }));
  } catch (err) {
    const e = err as Error & { stderr?: string };
    const msg = (e.stderr || e.message).toString().trim().split('\n').slice(-3).join(' / ');
    throw new EmbedderError('INTEGRITY', `the engine refuses ${model}: ${msg}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (e) {
    throw new EmbedderError('INTEGRITY', `ggembed inspect printed no JSON for ${model}`, { cause: e });
  }
  const r = InspectSchema.safeParse(json);
  if (!r.success) {
    throw new EmbedderError('PROTOCOL', `ggembed inspect --json for ${model} is not what this client expects: ${z.prettifyError(r.error)}`);
  }
  return { raw: r.data, dims: r.data.embedding_length, arch: r.data.architecture || null };
}

/** Streams a file through SHA-256 with progress. */
export async function sha256File(file: string, onProgress?: ProgressFn, startHash?: ReturnType<typeof createHash>): Promise<string> {
  const h = startHash ?? createHash('sha256');
  const total = (await fsp.stat(file)).size;
  let bytes = 0;
  let lastReport = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (onProgress && (bytes - lastReport >= 8 << 20 || bytes === total)) {
      lastReport = bytes;
      onProgress({ phase: 'hash', file, bytes, total });
    }
  }
  if (onProgress && total === 0) onProgress({ phase: 'hash', file, bytes: 0, total: 0 });
  return h.digest('hex');
}

export function defaultCacheDir(): string {
  const base =
    process.env.XDG_CACHE_HOME || (process.platform === 'win32' ? process.env.LOCALAPPDATA : null) || path.join(os.homedir(), '.cache');
  return path.join(base, 'ggembed');
}

interface CacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

async function readCache(cacheDir: string): Promise<Record<string, CacheEntry>> {
  try {
    return JSON.parse(await fsp.readFile(path.join(cacheDir, 'sha256-cache.json'), 'utf8'));
  } catch {
    return {};
  }
}

async function writeCache(cacheDir: string, c: Record<string, CacheEntry>): Promise<void> {
  try {
    await fsp.mkdir(cacheDir, { recursive: true });
    const tmp = path.join(cacheDir, `sha256-cache.json.${process.pid}.tmp`);
    await fsp.writeFile(tmp, JSON.stringify(c));
    await fsp.rename(tmp, path.join(cacheDir, 'sha256-cache.json'));
  } catch {
    /* a cache is optional */
  }
}

/** SHA-256 of a file, from the cache when its size and mtime have not changed. */
export async function cachedSha256(
  file: string,
  opts: { cacheDir?: string; onProgress?: ProgressFn } = {},
): Promise<{ sha256: string; cached: boolean }> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const abs = path.resolve(file);
  const st = await fsp.stat(abs);
  const cache = await readCache(cacheDir);
  const e = cache[abs];
  if (e && e.size === st.size && e.mtimeMs === st.mtimeMs) return { sha256: e.sha256, cached: true };
  const sha256 = await sha256File(abs, opts.onProgress);
  const after = await fsp.stat(abs);
  if (after.size === st.size && after.mtimeMs === st.mtimeMs) {
    cache[abs] = { size: st.size, mtimeMs: st.mtimeMs, sha256 };
    await writeCache(cacheDir, cache);
  }
  return { sha256, cached: false };
}

export interface DownloadOptions {
  sha256?: string;
  /** keep a partial download in DEST.part and continue it with a Range request */
  resume?: boolean;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** extra check of the finished temporary file before it replaces DEST */
  verify?: (tmpFile: string) => Promise<void>;
  /** tries when the network fails or the server answers 5xx (default 3) */
  attempts?: number;
}

/** A download failure worth another try (network, 5xx, cut short); a 4xx or a bad file is not. */
class TransientDownloadError extends EmbedderError {}

/** One try: fetches url into tmp (appending to what is there when resuming). */
async function fetchInto(url: string, dest: string, tmp: string, opts: DownloadOptions): Promise<void> {
  let have = 0;
  if (opts.resume) {
    try {
      have = (await fsp.stat(tmp)).size;
    } catch {
      have = 0;
    }
  }
  const headers: Record<string, string> = {};
  if (have > 0) headers.Range = `bytes=${have}-`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: opts.signal, redirect: 'follow' });
  } catch (e) {
    throw new TransientDownloadError('DOWNLOAD', `cannot download ${url}: ${(e as Error).message}`, { cause: e });
  }
  if (have > 0 && res.status === 416) {
    // the part file is already complete
    await res.body?.cancel();
    return;
  }
  if (!res.ok || !res.body) {
    throw new (res.status >= 500 ? TransientDownloadError : EmbedderError)('DOWNLOAD', `cannot download ${url}: HTTP ${res.status}`);
  }
  const append = have > 0 && res.status === 206;
  if (!append) have = 0;
  const len = res.headers.get('content-length');
  const total = len !== null ? have + Number(len) : null;
  let bytes = have;
  let last = 0;
  const report = () => {
    last = bytes;
    opts.onProgress?.({ phase: 'download', url, file: dest, bytes, total });
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes - last >= 1 << 20 || bytes === total) report();
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
      counter,
      createWriteStream(tmp, { flags: append ? 'a' : 'w' }),
    );
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new TransientDownloadError('DOWNLOAD', `download of ${url} failed after ${bytes} bytes: ${(e as Error).message}`, { cause: e });
  }
  if (last !== bytes) report();
  if (total !== null && bytes !== total) {
    throw new TransientDownloadError('DOWNLOAD', `download of ${url} ended after ${bytes} of ${total} bytes`);
  }
}

/**
 * Downloads url to dest: into a temporary file beside dest, verified
 * (SHA-256 when given, then opts.verify), then renamed over dest, so dest is
 * never a partial file. With resume, the temporary file is DEST.part and an
 * interrupted download continues where it stopped. Network failures are
 * retried with backoff.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<void> {
  await fsp.mkdir(path.dirname(path.resolve(dest)), { recursive: true });
  const tmp = opts.resume ? `${dest}.part` : `${dest}.${process.pid}.${Date.now()}.download`;
  try {
    await retry(() => fetchInto(url, dest, tmp, opts), {
      attempts: opts.attempts ?? 3,
      baseMs: 500,
      signal: opts.signal,
      retryable: (e) => e instanceof TransientDownloadError,
    });
  } catch (e) {
    if (!opts.resume) await fsp.rm(tmp, { force: true });
    throw e;
  }
  try {
    if (opts.sha256) {
      const got = await sha256File(tmp, opts.onProgress);
      if (got.toLowerCase() !== opts.sha256.toLowerCase()) {
        throw new EmbedderError('INTEGRITY', `downloaded ${url} has SHA-256 ${got}, expected ${opts.sha256}`);
      }
    }
    if (opts.verify) await opts.verify(tmp);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsp.rename(tmp, dest);
}

export interface EnsureModelOptions {
  binary: string | null;
  model: string;
  sha256?: string;
  sourceUrl?: string;
  cacheDir?: string;
  onProgress?: ProgressFn;
  /** called when a download starts, with the reason and the URL */
  onRedownload?: (reason: string, url: string) => void;
}

/** Checks a model file (engine accepts it; SHA-256 when configured). Rejects with code INTEGRITY. */
export async function checkModel(opts: EnsureModelOptions): Promise<InspectInfo | null> {
  try {
    await fsp.access(opts.model);
  } catch {
    throw new EmbedderError('INTEGRITY', `model file ${opts.model} does not exist`);
  }
  if (opts.sha256) {
    const { sha256 } = await cachedSha256(opts.model, { cacheDir: opts.cacheDir, onProgress: opts.onProgress });
    if (sha256.toLowerCase() !== opts.sha256.toLowerCase()) {
      throw new EmbedderError('INTEGRITY', `model file ${opts.model} has SHA-256 ${sha256}, expected ${opts.sha256}`);
    }
  }
  return opts.binary ? inspectModel(opts.binary, opts.model) : null;
}

/**
 * Makes sure the model file is usable: checks it and, when the check fails
 * and a source URL is configured, downloads it again and checks that.
 */
export async function ensureModel(opts: EnsureModelOptions): Promise<InspectInfo | null> {
  try {
    return await checkModel(opts);
  } catch (e) {
    if (!opts.sourceUrl || !(e instanceof EmbedderError) || e.code !== 'INTEGRITY') throw e;
    opts.onRedownload?.((e as Error).message, opts.sourceUrl);
    let info: InspectInfo | null = null;
    await downloadFile(opts.sourceUrl, opts.model, {
      sha256: opts.sha256,
      onProgress: opts.onProgress,
      verify: async (tmp) => {
        if (opts.binary) info = await inspectModel(opts.binary, tmp);
      },
    });
    return info;
  }
}
