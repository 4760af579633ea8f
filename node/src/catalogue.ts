// catalogue.ts - a small catalogue of well-known GGUF embedding models and a
// resumable, verified download of them (`ggembed-pull NAME`).

import path from 'node:path';
import { EmbedderError } from './errors.js';
import { defaultCacheDir, downloadFile, type ProgressFn, sha256File } from './integrity.js';

export interface CatalogueEntry {
  name: string;
  url: string;
  /** bytes, when known */
  size: number | null;
  /** hex SHA-256, when known; without it a pull prints the digest it got */
  sha256: string | null;
  dims: number;
  description: string;
}

// Digests and sizes are left null where they have not been verified against
// the published file from this project; pass --sha256 to pin one.
export const CATALOGUE: CatalogueEntry[] = [
  {
    name: 'bge-small-en-v1.5-q8_0',
    url: 'https://huggingface.co/CompendiumLabs/bge-small-en-v1.5-gguf/resolve/main/bge-small-en-v1.5-q8_0.gguf',
    size: null,
    sha256: null,
    dims: 384,
    description: 'BAAI bge-small-en v1.5 (BERT, 33M parameters), Q8_0',
  },
  {
    name: 'all-minilm-l6-v2-q8_0',
    url: 'https://huggingface.co/second-state/All-MiniLM-L6-v2-Embedding-GGUF/resolve/main/all-MiniLM-L6-v2-Q8_0.gguf',
    size: null,
    sha256: null,
    dims: 384,
    description: 'sentence-transformers all-MiniLM-L6-v2 (BERT), Q8_0',
  },
  {
    name: 'nomic-embed-text-v1.5-q8_0',
    url: 'https://huggingface.co/nomic-ai/nomic-embed-text-v1.5-GGUF/resolve/main/nomic-embed-text-v1.5.Q8_0.gguf',
    size: null,
    sha256: null,
    dims: 768,
    description: 'nomic-embed-text v1.5 (nomic-bert), Q8_0; prefixes search_query: / search_document:',
  },
  {
    name: 'qwen3-embedding-0.6b-q8_0',
    url: 'https://huggingface.co/Qwen/Qwen3-Embedding-0.6B-GGUF/resolve/main/Qwen3-Embedding-0.6B-Q8_0.gguf',
    size: null,
    sha256: null,
    dims: 1024,
    description: 'Qwen3-Embedding 0.6B (qwen3, last-token pooling), Q8_0',
  },
];

export interface PullOptions {
  /** directory for the file (default: the cache directory's models/) */
  dir?: string;
  /** overrides the catalogue's digest */
  sha256?: string;
  /** extra catalogue entries (e.g. tests, private mirrors) */
  catalogue?: CatalogueEntry[];
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** Downloads a catalogue model (resuming a partial download), verifies it, returns its path and digest. */
export async function pullModel(name: string, opts: PullOptions = {}): Promise<{ file: string; sha256: string }> {
  const all = [...(opts.catalogue ?? []), ...CATALOGUE];
  const e = all.find((c) => c.name === name);
  if (!e) throw new EmbedderError('INVALID', `no model named ${name} in the catalogue (known: ${all.map((c) => c.name).join(', ')})`);
  const dir = opts.dir ?? path.join(defaultCacheDir(), 'models');
  const file = path.join(dir, `${e.name}.gguf`);
  const sha256 = opts.sha256 ?? e.sha256 ?? undefined;
  await downloadFile(e.url, file, { sha256, resume: true, onProgress: opts.onProgress, signal: opts.signal });
  return { file, sha256: sha256 ?? (await sha256File(file)) };
}
