#!/usr/bin/env node
// pull.ts - `ggembed-pull [--list] [--dir DIR] [--sha256 HEX] NAME`: downloads a
// catalogue model, resumable, verified.
import { parseArgs } from 'node:util';
import { CATALOGUE, pullModel } from './catalogue.js';

const { values, positionals } = parseArgs({
  options: { list: { type: 'boolean' }, dir: { type: 'string' }, sha256: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  allowPositionals: true,
});
if (values.help || (!values.list && positionals.length !== 1)) {
  process.stderr.write('usage: ggembed-pull [--dir DIR] [--sha256 HEX] NAME | --list\n');
  process.exit(values.help ? 0 : 2);
}
if (values.list) {
  for (const c of CATALOGUE) process.stdout.write(`${c.name}\t${c.dims}\t${c.description}\n`);
  process.exit(0);
}
try {
  const r = await pullModel(positionals[0], {
    dir: values.dir,
    sha256: values.sha256,
    onProgress: (p) => process.stderr.write(`\r${p.phase} ${(p.bytes / 1048576).toFixed(1)} MiB${p.total ? ' of ' + (p.total / 1048576).toFixed(1) + ' MiB' : ''}   `),
  });
  process.stderr.write('\n');
  process.stdout.write(`${r.file}\nsha256 ${r.sha256}\n`);
} catch (e) {
  process.stderr.write(`\nggembed-pull: ${(e as Error).message}\n`);
  process.exit(1);
}
