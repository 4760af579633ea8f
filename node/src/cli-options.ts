// cli-options.ts - the options shared by the package's servers (MCP, OpenAI):
// command-line flags, then environment variables.
import { parseArgs } from 'node:util';
import type { EmbedderOptions } from './embedder.js';

export function embedderOptionsFromCli(argv: string[], extra: Record<string, { type: 'string' | 'boolean' }> = {}): { opts: EmbedderOptions; values: Record<string, string | boolean | undefined> } {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      binary: { type: 'string' },
      threads: { type: 'string' },
      transport: { type: 'string' },
      sha256: { type: 'string' },
      'source-url': { type: 'string' },
      'no-fallback': { type: 'boolean' },
      ...extra,
    },
    allowPositionals: false,
  });
  const env = process.env;
  const model = (values.model as string | undefined) ?? env.GGEMBED_MODEL;
  if (!model) throw new Error('a model is required: --model FILE or env GGEMBED_MODEL');
  const threads = (values.threads as string | undefined) ?? env.GGEMBED_THREADS;
  const opts: EmbedderOptions = {
    model,
    binary: (values.binary as string | undefined) ?? undefined,
    threads: threads ? Number(threads) : undefined,
    transport: ((values.transport as string | undefined) ?? env.GGEMBED_TRANSPORT ?? 'auto') as EmbedderOptions['transport'],
    sha256: (values.sha256 as string | undefined) ?? env.GGEMBED_SHA256,
    sourceUrl: (values['source-url'] as string | undefined) ?? env.GGEMBED_SOURCE_URL,
    fallback: !(values['no-fallback'] || env.GGEMBED_FALLBACK === '0'),
  };
  if (env.GGEMBED_HEALTH_INTERVAL_MS) opts.healthIntervalMs = Number(env.GGEMBED_HEALTH_INTERVAL_MS);
  if (env.GGEMBED_RECOVERY_INTERVAL_MS) opts.recoveryIntervalMs = Number(env.GGEMBED_RECOVERY_INTERVAL_MS);
  return { opts, values: values as Record<string, string | boolean | undefined> };
}
