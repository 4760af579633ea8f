// cli-options.ts - command-line options of the package's bins (ggembed-mcp,
// ggembed-openai, ggembed-pull): one table per bin drives parsing, the
// environment fallbacks, validation (zod) and --help. A bad option ends the
// bin with one line naming it; nothing is guessed.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Embedder, type EmbedderOptions, type EmbedderStatus } from './embedder.js';

/** A mistake on the command line or in the environment: the bin prints its message as one line and exits 2. */
export class CliError extends Error {
  override name = 'CliError';
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** may be given several times; the value is then an array */
  multiple?: boolean;
  /** environment variable read when the option is absent */
  env?: string;
  /** shown in --help after the option name, e.g. FILE */
  value?: string;
  help: string;
  /** validates (and converts) the value; by default any string / true */
  schema?: z.ZodType;
}

export type OptionTable = Record<string, OptionSpec>;

export interface ParsedCli {
  help: boolean;
  values: Record<string, unknown>;
  positionals: string[];
}

// ---------------------------------------------------------------- value schemas

/** A whole number in [min, max] given as decimal digits. */
export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .regex(/^[0-9]{1,15}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

export const binBinFallbacks = ['on-failure', 'always', 'never'] as const;
/**
 * on-failure: a configuration error ends the bin; once started, a failing
 * embedder serves fallback vectors (flagged). always: stay up with fallback
 * vectors even when the embedder cannot start. never: no fallback vectors.
 */
export type BinFallback = (typeof binBinFallbacks)[number];

const hex64 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hexadecimal digits');
const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'expected an http:// or https:// URL');

/** The options every embedder-backed bin takes. */
export const EMBEDDER_OPTIONS: OptionTable = {
  model: { type: 'string', short: 'm', env: 'GGEMBED_MODEL', value: 'FILE', help: 'the GGUF model file (required)' },
  binary: {
    type: 'string',
    value: 'FILE',
    help: 'the ggembed executable (default: env GGEMBED_BIN, then the installed platform package, then one built at install)',
  },
  threads: { type: 'string', env: 'GGEMBED_THREADS', value: 'N', help: 'threads of the embedder', schema: intOption(1, 1024) },
  transport: {
    type: 'string',
    env: 'GGEMBED_TRANSPORT',
    value: 'KIND',
    help: 'auto | socket | pipe | stdio (default auto)',
    schema: z.enum(['auto', 'socket', 'pipe', 'stdio'], 'expected auto, socket, pipe or stdio'),
  },
  sha256: { type: 'string', env: 'GGEMBED_SHA256', value: 'HEX', help: 'expected SHA-256 of the model file', schema: hex64 },
  'source-url': {
    type: 'string',
    env: 'GGEMBED_SOURCE_URL',
    value: 'URL',
    help: 'download the model again from here when its check fails',
    schema: httpUrl,
  },
  fallback: {
    type: 'string',
    env: 'GGEMBED_FALLBACK',
    value: 'MODE',
    help:
      'on-failure (default): exit at once on a configuration error, serve flagged fallback vectors if the embedder fails later; ' +
      'always: stay up with fallback vectors even when the embedder cannot start; never: no fallback vectors',
    schema: z.enum(binBinFallbacks, 'expected on-failure, always or never'),
  },
};

/**
 * The reranker of a bin that can use one beside its embedding model
 * (ggembed-mcp's search_code): a second model in a second supervised
 * ggembed process, with the same checks as the model's (the binary, the
 * transport and the fallback mode are the model's).
 */
export const RERANKER_OPTIONS: OptionTable = {
  reranker: {
    type: 'string',
    env: 'GGEMBED_RERANKER',
    value: 'FILE',
    help: 'a reranker GGUF (a cross-encoder such as bge-reranker-v2-m3), run in a second ggembed process; search_code reorders its best candidates by its scores',
  },
  'reranker-threads': {
    type: 'string',
    env: 'GGEMBED_RERANKER_THREADS',
    value: 'N',
    help: "threads of the reranker (default: the model's --threads)",
    schema: intOption(1, 1024),
  },
  'reranker-sha256': {
    type: 'string',
    env: 'GGEMBED_RERANKER_SHA256',
    value: 'HEX',
    help: 'expected SHA-256 of the reranker file',
    schema: hex64,
  },
  'reranker-source-url': {
    type: 'string',
    env: 'GGEMBED_RERANKER_SOURCE_URL',
    value: 'URL',
    help: 'download the reranker again from here when its check fails',
    schema: httpUrl,
  },
};

/** --help, last in every table. */
export const HELP_OPTION: OptionTable = { help: { type: 'boolean', short: 'h', help: 'show this help' } };

// Environment-only tunables (tests, unusual deployments).
const ENV_TUNABLES: Record<string, 'healthIntervalMs' | 'recoveryIntervalMs' | 'restartBackoffMs'> = {
  GGEMBED_HEALTH_INTERVAL_MS: 'healthIntervalMs',
  GGEMBED_RECOVERY_INTERVAL_MS: 'recoveryIntervalMs',
  GGEMBED_RESTART_BACKOFF_MS: 'restartBackoffMs',
};

// ---------------------------------------------------------------- parsing

function label(name: string, spec: OptionSpec, fromEnv: boolean): string {
  return fromEnv ? `env ${spec.env}` : `--${name}`;
}

/**
 * Parses argv against the table (strictly: unknown options, missing values
 * and stray arguments are errors), fills absent options from their
 * environment variables, validates every value. Throws CliError.
 */
export function parseCli(
  argv: string[],
  table: OptionTable,
  opts: { positionals?: { min: number; max: number }; env?: NodeJS.ProcessEnv } = {},
): ParsedCli {
  const env = opts.env ?? process.env;
  const { tokens } = parseArgs({
    args: argv,
    options: Object.fromEntries(
      Object.entries(table).map(([k, s]) => [k, { type: s.type, multiple: s.multiple ?? false, ...(s.short ? { short: s.short } : {}) }]),
    ),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const raw: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    const spec = table[t.name];
    if (!spec) throw new CliError(`unknown option ${t.rawName}`);
    if (spec.type === 'boolean') {
      if (t.inlineValue) throw new CliError(`option ${t.rawName} takes no value`);
      raw[t.name] = true;
      continue;
    }
    // parseArgs (not strict) takes the next word as the value even when it is an option
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-') && t.value.length > 1)) {
      throw new CliError(`option ${t.rawName} needs a value`);
    }
    if (spec.multiple) {
      const prev = raw[t.name];
      raw[t.name] = Array.isArray(prev) ? [...prev, t.value] : [t.value];
    } else {
      if (t.name in raw) throw new CliError(`option ${t.rawName} is given more than once`);
      raw[t.name] = t.value;
    }
  }
  const help = raw.help === true;
  const pos = opts.positionals ?? { min: 0, max: 0 };
  if (!help && positionals.length > pos.max) {
    throw new CliError(pos.max === 0 ? `unexpected argument '${positionals[0]}'` : `unexpected argument '${positionals[pos.max]}'`);
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    let v: string | boolean | string[] | undefined = raw[name];
    let fromEnv = false;
    if (v === undefined && spec.env && env[spec.env] !== undefined && env[spec.env] !== '') {
      v = spec.multiple ? (env[spec.env] as string).split(',').map((s) => s.trim()) : env[spec.env];
      fromEnv = true;
    }
    if (v === undefined) continue;
    if (!spec.schema) {
      values[name] = v;
      continue;
    }
    const items = Array.isArray(v) ? v : [v];
    const out: unknown[] = [];
    for (const item of items) {
      const r = spec.schema.safeParse(item);
      if (!r.success) {
        throw new CliError(`${label(name, spec, fromEnv)}: ${r.error.issues[0]?.message ?? 'invalid value'} (got '${String(item)}')`);
      }
      out.push(r.data);
    }
    values[name] = spec.multiple ? out : out[0];
  }
  return { help, values, positionals };
}

/** The --help text of a bin. */
export function helpText(usage: string, summary: string, table: OptionTable, footer = ''): string {
  const rows = Object.entries(table).map(([name, s]) => {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.value ? ` ${s.value}` : ''}`;
    const env = s.env ? ` [env ${s.env}]` : '';
    const again = s.multiple ? ' (repeatable)' : '';
    return { flag, text: `${s.help}${again}${env}` };
  });
  const w = Math.max(...rows.map((r) => r.flag.length)) + 2;
  const lines = rows.map((r) => `  ${r.flag.padEnd(w)}${r.text}`);
  return `usage: ${usage}\n\n${summary}\n\noptions:\n${lines.join('\n')}\n${footer ? `\n${footer}\n` : ''}`;
}

/** The Embedder options and the fallback mode from parsed embedder options (see EMBEDDER_OPTIONS). */
export function embedderOptionsFrom(
  values: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): { opts: EmbedderOptions; fallback: BinFallback } {
  const model = values.model as string | undefined;
  if (!model) throw new CliError('a model is required: --model FILE or env GGEMBED_MODEL');
  const fallback = (values.fallback as BinFallback | undefined) ?? 'on-failure';
  const opts: EmbedderOptions = {
    model,
    transport: (values.transport as EmbedderOptions['transport']) ?? 'auto',
    fallback: fallback === 'always' ? 'always' : fallback !== 'never',
  };
  if (values.binary !== undefined) opts.binary = values.binary as string;
  if (values.threads !== undefined) opts.threads = values.threads as number;
  if (values.sha256 !== undefined) opts.sha256 = values.sha256 as string;
  if (values['source-url'] !== undefined) opts.sourceUrl = values['source-url'] as string;
  const ms = intOption(0, 3_600_000);
  for (const [name, key] of Object.entries(ENV_TUNABLES)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const r = ms.safeParse(v);
    if (!r.success) throw new CliError(`env ${name}: ${r.error.issues[0]?.message ?? 'invalid value'} (got '${v}')`);
    opts[key] = r.data;
  }
  return { opts, fallback };
}

/**
 * The reranker's Embedder options from parsed RERANKER_OPTIONS, on top of
 * the model's (binary, transport, fallback and tunables shared), or null
 * when no reranker is configured. Its own checks (--reranker-sha256) never
 * borrow the model's.
 */
export function rerankerOptionsFrom(values: Record<string, unknown>, model: EmbedderOptions): EmbedderOptions | null {
  const file = values.reranker as string | undefined;
  if (!file) {
    for (const k of ['reranker-threads', 'reranker-sha256', 'reranker-source-url'])
      if (values[k] !== undefined) throw new CliError(`--${k} needs a reranker: --reranker FILE or env GGEMBED_RERANKER`);
    return null;
  }
  const { sha256: _sha, sourceUrl: _url, ...shared } = model;
  const opts: EmbedderOptions = { ...shared, model: file };
  if (values['reranker-threads'] !== undefined) opts.threads = values['reranker-threads'] as number;
  if (values['reranker-sha256'] !== undefined) opts.sha256 = values['reranker-sha256'] as string;
  if (values['reranker-source-url'] !== undefined) opts.sourceUrl = values['reranker-source-url'] as string;
  return opts;
}

// ---------------------------------------------------------------- the embedder of a bin

/** The degraded state as the bins report it. */
export interface DegradedState {
  degraded: boolean;
  reason: string | null;
}

/** Whether the embedder's results are fallback vectors, and why. */
export function degradedState(e: Embedder): DegradedState {
  const s = e.status;
  return { degraded: s.degraded, reason: s.reason };
}

/**
 * Starts the embedder for a bin. With fallback 'on-failure' or 'never' an
 * embedder that cannot start is an error (the bin exits with one line);
 * with 'always' the bin stays up with flagged fallback vectors.
 */
export async function startBinEmbedder(opts: EmbedderOptions, fallback: BinFallback): Promise<Embedder> {
  try {
    return await Embedder.start(opts);
  } catch (err) {
    const hint = fallback === 'always' ? '' : ' (--fallback always serves fallback vectors instead)';
    throw new Error(`cannot start the embedder: ${err instanceof Error ? err.message : String(err)}${hint}`);
  }
}

/**
 * Starts a bin's reranker like its embedder (startBinEmbedder) and checks
 * that the model is one: an embedding model given as the reranker is an
 * error at once, naming the file and its pooling. With fallback 'always' a
 * reranker that cannot start leaves it degraded (search_code then answers
 * in the hybrid order, flagged) and the check waits for a model to check.
 */
export async function startBinReranker(opts: EmbedderOptions, fallback: BinFallback): Promise<Embedder> {
  let e: Embedder;
  try {
    e = await Embedder.start(opts);
  } catch (err) {
    const hint = fallback === 'always' ? '' : ' (--fallback always keeps the server up without it)';
    throw new Error(`cannot start the reranker ${opts.model}: ${err instanceof Error ? err.message : String(err)}${hint}`);
  }
  const i = e.info();
  if (i.reranker === false) {
    await e.close();
    throw new Error(
      `--reranker ${opts.model}: the model (${[i.arch, i.name].filter(Boolean).join(' ')}) is not a reranker: its pooling is ${i.pooling}, not rank; ` +
        'give a cross-encoder such as bge-reranker-v2-m3 (the embedding model goes in --model)',
    );
  }
  return e;
}

/** What a bin tells its user about the embedder: the model's vectors, fallback vectors, or errors. */
function serving(s: EmbedderStatus): 'model' | 'fallback' | 'failed' {
  return s.degraded ? 'fallback' : s.state === 'failed' ? 'failed' : 'model';
}

/** Logs each change between the model's vectors, fallback vectors and failure once, as one stderr line. */
export function logTransitions(e: Embedder, bin: string, write: (line: string) => void = (l) => process.stderr.write(l)): void {
  let last = serving(e.status);
  const say = (s: EmbedderStatus) => {
    const now = serving(s);
    if (now === 'fallback') write(`${bin}: degraded: serving fallback vectors (not the model's): ${s.reason}\n`);
    else if (now === 'failed') write(`${bin}: failed: requests get errors: ${s.reason}\n`);
    else write(`${bin}: recovered: serving the model's vectors again\n`);
  };
  if (last !== 'model') say(e.status);
  e.on('status', (s) => {
    if (s.state === 'closed') return;
    const now = serving(s);
    if (now !== last) say(s);
    last = now;
  });
}

/** True when the module of this URL is the script node was started with (also through an npm bin link). */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** Runs a bin's main: a CliError or a failure becomes one stderr line and a non-zero exit. */
export function runBin(bin: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    const cli = e instanceof CliError;
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`${bin}: ${msg.replace(/\s*\n\s*/g, ' ')}${cli ? ` (see ${bin} --help)` : ''}\n`);
    process.exit(cli ? 2 : 1);
  });
}
