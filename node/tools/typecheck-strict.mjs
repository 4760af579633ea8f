// typecheck-strict.mjs - type-checks with noUncheckedIndexedAccess
// (tsconfig.strict.json) and fails on errors in every file except those
// matched by "notYetStrict" there (paths, or globs with * and ** as in
// biome.json), whose errors are only counted: the option cannot be set per
// file, and the build (tsconfig.json) must not fail on files not yet
// converted. New files are strict from the start.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
// tsconfig files allow comments; strip whole-line ones before JSON.parse
const text = readFileSync(path.join(pkg, 'tsconfig.strict.json'), 'utf8')
  .split('\n')
  .filter((l) => !/^\s*\/\//.test(l))
  .join('\n');
const globToRegExp = (glob) =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*\*|\*/g, (m) => (m === '**' ? '.*' : '[^/]*'))}$`);
const notYet = (JSON.parse(text).notYetStrict ?? []).map(globToRegExp);
const excluded = (file) => notYet.some((re) => re.test(file));

const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.strict.json', '--pretty', 'false'], { cwd: pkg, encoding: 'utf8' });
if (r.error) throw r.error;
const errors = r.stdout.split('\n').filter((l) => /^\S+\(\d+,\d+\): error /.test(l));
const mine = errors.filter((l) => !excluded(l.slice(0, l.indexOf('('))));
const others = errors.length - mine.length;
for (const l of mine) process.stderr.write(`${l}\n`);
if (r.status !== 0 && errors.length === 0) {
  process.stderr.write(r.stdout + r.stderr);
  process.exit(1);
}
if (others) process.stderr.write(`typecheck-strict: ${others} errors in files not yet converted (notYetStrict)\n`);
process.exit(mine.length ? 1 : 0);
