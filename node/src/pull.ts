#!/usr/bin/env node
import { z } from 'zod';
// pull.ts - `ggembed-pull [--list] [--dir DIR] [--sha256 HEX] NAME`: downloads a
// catalogue model, resumable, verified.
import { CATALOGUE, pullModel } from './catalogue.js';
import { CliError, HELP_OPTION, helpText, isMain, type OptionTable, parseCli, runBin } from './cli-options.js';

const BIN = 'ggembed-pull';

export const PULL_OPTIONS: OptionTable = {
  list: { type: 'boolean', help: 'list the catalogue (name, dimensions, description)' },
  dir: { type: 'string', value: 'DIR', help: 'directory for the file (default: the cache directory, models/)' },
  sha256: {
    type: 'string',
    value: 'HEX',
    help: "expected SHA-256 of the file (overrides the catalogue's)",
    schema: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hexadecimal digits'),
  },
  ...HELP_OPTION,
};

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2), PULL_OPTIONS, { positionals: { min: 0, max: 1 } });
  if (cli.help) {
    process.stdout.write(
      helpText(
        `${BIN} [--dir DIR] [--sha256 HEX] NAME | ${BIN} --list`,
        'Downloads a model of the catalogue (resumably), verifies it and prints its path and SHA-256.',
        PULL_OPTIONS,
      ),
    );
    return;
  }
  const v = cli.values;
  if (v.list) {
    if (cli.positionals.length) throw new CliError('--list takes no model name');
    for (const c of CATALOGUE) process.stdout.write(`${c.name}\t${c.dims}\t${c.description}\n`);
    return;
  }
  const name = cli.positionals[0];
  if (!name) throw new CliError('which model? give a NAME (ggembed-pull --list shows them)');
  if (!CATALOGUE.some((c) => c.name === name))
    throw new CliError(`no model named '${name}' in the catalogue (ggembed-pull --list shows them)`);
  let progress = false;
  const r = await pullModel(name, {
    ...(v.dir !== undefined ? { dir: v.dir as string } : {}),
    ...(v.sha256 !== undefined ? { sha256: v.sha256 as string } : {}),
    onProgress: (p) => {
      progress = true;
      process.stderr.write(
        `\r${p.phase} ${(p.bytes / 1048576).toFixed(1)} MiB${p.total ? ` of ${(p.total / 1048576).toFixed(1)} MiB` : ''}   `,
      );
    },
  }).finally(() => {
    if (progress) process.stderr.write('\n');
  });
  process.stdout.write(`${r.file}\nsha256 ${r.sha256}\n`);
}

if (isMain(import.meta.url)) runBin(BIN, main);
