// glob.ts - the path_glob filter of search_code: its one definition (a
// regular expression over the whole relative path) and what a store can ask
// an index for before that expression runs. Both stores answer a glob the
// same way: the candidates are the paths under its literal prefix (and, where
// its last segment is `*.ext` or `*.{ext,...}`, of the languages those
// extensions give), then the expression decides. The prefix and the language
// set only narrow: every path the expression admits is among the candidates.
//
// Syntax: `*` any characters but `/`; `?` one character but `/`; `**` any
// characters, `/` too (`**/` also matches no directory at all); `{a,b}` either
// alternative (each itself a glob; braces nest); anything else, a `{` without
// a comma in its group included, is literal. The glob matches the whole path.
//
// A store that knows its indexed paths (LanceDB's file table: thousands of
// paths where the chunk table has a million rows) matches the glob on them
// first (selectPaths), so that its query filter is a test an index answers
// (the set of files, runs of neighbouring paths) rather than the expression
// run on the path of every row: a glob with no literal prefix and no extension
// set would otherwise read the whole path column at each query.

import { languagesOfExtension } from './languages.js';

export interface GlobFilter {
  /** the exact test: the glob as a regular expression over the whole path (no flags) */
  regex: RegExp;
  /** every path the glob matches starts with this ('' when the glob starts with a wildcard) */
  prefix: string;
  /** every path the glob matches has one of these language ids (null: any) */
  languages: string[] | null;
}

const SPECIAL = /[.+^${}()|[\]\\]/g;

/** The index just past the `}` closing the group that opens at `open`, and its top-level alternatives; null when it is not a group. */
function braceGroup(glob: string, open: number): { end: number; alternatives: string[] } | null {
  let depth = 0;
  let start = open + 1;
  const alternatives: string[] = [];
  for (let i = open; i < glob.length; i++) {
    const c = glob[i];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) {
        alternatives.push(glob.slice(start, i));
        return alternatives.length > 1 ? { end: i + 1, alternatives } : null;
      }
    } else if (c === ',' && depth === 1) {
      alternatives.push(glob.slice(start, i));
      start = i + 1;
    }
  }
  return null;
}

function globSource(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{' && braceGroup(glob, i)) {
      const g = braceGroup(glob, i) as { end: number; alternatives: string[] };
      re += `(?:${g.alternatives.map(globSource).join('|')})`;
      i = g.end - 1;
    } else re += c.replace(SPECIAL, '\\$&');
  }
  return re;
}

/** The glob as a regular expression over the whole path. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${globSource(glob)}$`);
}

/** The literal characters before the glob's first wildcard or brace group. */
function literalPrefix(glob: string): string {
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' || c === '?' || (c === '{' && braceGroup(glob, i))) return glob.slice(0, i);
  }
  return glob;
}

/** The extensions (with their dot) a path the glob matches must end with, when its last segment is `*.ext` or `*.{ext,...}`. */
function extensionSet(glob: string): string[] | null {
  const last = glob.slice(glob.lastIndexOf('/') + 1);
  const one = /^\*[^*?{}]*(\.[\w+-]+)$/.exec(last);
  if (one) return [one[1] as string];
  const set = /^\*[^*?{}]*\.\{([\w+-]+(?:,[\w+-]+)+)\}$/.exec(last);
  return set ? (set[1] as string).split(',').map((e) => `.${e}`) : null;
}

/** The glob, compiled: the exact test and what narrows the candidates before it. */
export function globFilter(glob: string): GlobFilter {
  // (a last segment that is not all outside braces never has the shape extensionSet() reads)
  const exts = extensionSet(glob);
  const languages = exts ? [...new Set(exts.flatMap((e) => languagesOfExtension(e)))].sort() : null;
  return { regex: globToRegExp(glob), prefix: literalPrefix(glob), languages };
}

/**
 * The half-open range [lo, hi) of strings that start with `prefix`, in the
 * byte order of their UTF-8 (which is code point order): hi is the prefix
 * with its last code point raised by one; null when there is no such bound
 * (the prefix is empty or all U+10FFFF).
 */
export function prefixRange(prefix: string): { lo: string; hi: string | null } {
  const cps = [...prefix].map((c) => c.codePointAt(0) as number);
  while (cps.length) {
    const last = cps.pop() as number;
    if (last < 0x10ffff) {
      cps.push(last === 0xd7ff ? 0xe000 : last + 1);
      return { lo: prefix, hi: String.fromCodePoint(...cps) };
    }
  }
  return { lo: prefix, hi: null };
}

/**
 * Orders strings as their UTF-8 bytes order (code point order), the order of
 * a store's string column: JavaScript's own order (UTF-16 units) puts
 * U+E000..U+FFFF after the characters past U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // a surrogate (a code point past U+FFFF) sorts after every unit from U+E000
    if (x >= 0xd800 && y >= 0xd800) {
      x += x >= 0xe000 ? -0x800 : 0x2000;
      y += y >= 0xe000 ? -0x800 : 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** An indexed file as selectPaths() takes it: its path and the language of its rows. */
export interface IndexedPath {
  path: string;
  language: string;
}

/**
 * The files a filter admits, as the cheapest test that admits exactly them
 * among the candidates (the files the prefix and the languages leave):
 * - none: no file (no query runs);
 * - candidates: every candidate (the prefix and language tests alone);
 * - in: these paths (a path index answers the set);
 * - runs: the candidates within these ranges of neighbouring paths, inclusive;
 * - except: the candidates but these paths;
 * - scan: too scattered for any of those (the expression runs on every candidate row).
 * Of in, runs and except the one with the fewest paths or ranges is chosen.
 * `files` is how many files are admitted.
 */
export type PathSelection =
  | { kind: 'none' | 'candidates' | 'scan'; files: number }
  | { kind: 'in' | 'except'; files: number; paths: string[] }
  | { kind: 'runs'; files: number; runs: [string, string][] };

export interface SelectLimits {
  /** paths at most in an `in` or `except` set */
  paths: number;
  /** ranges at most in a `runs` selection */
  runs: number;
}

/**
 * Matches a filter on every indexed file. `sorted` must be in code point
 * order (compareCodePoints), each path once. The prefix and the languages of
 * the filter (and `language`) narrow the candidates; its expression decides.
 */
export function selectPaths(
  sorted: readonly IndexedPath[],
  filter: { prefix: string; regex: RegExp; languages: readonly string[] | null } | null,
  language: string | undefined,
  limits: SelectLimits,
): PathSelection {
  const prefix = filter?.prefix ?? '';
  const languages = filter?.languages ? new Set(filter.languages) : null;
  const admitted: boolean[] = [];
  const candidates: string[] = [];
  const matched: string[] = [];
  for (const f of sorted) {
    if (!f.path.startsWith(prefix) || (languages && !languages.has(f.language)) || (language !== undefined && f.language !== language))
      continue;
    const ok = !filter || filter.regex.test(f.path);
    candidates.push(f.path);
    admitted.push(ok);
    if (ok) matched.push(f.path);
  }
  const files = matched.length;
  if (!files) return { kind: 'none', files };
  if (files === candidates.length) return { kind: 'candidates', files };
  // the shortest of the three (a test per path or range), within its limit
  const runs: [string, string][] = [];
  for (let i = 0; i < candidates.length && runs.length <= limits.runs; i++) {
    if (!admitted[i]) continue;
    const first = candidates[i] as string;
    while (admitted[i + 1]) i++;
    runs.push([first, candidates[i] as string]);
  }
  const excluded = candidates.length - files;
  const fits: [kind: 'in' | 'runs' | 'except', size: number][] = [];
  if (files <= limits.paths) fits.push(['in', files]);
  if (runs.length <= limits.runs) fits.push(['runs', runs.length]);
  if (excluded <= limits.paths) fits.push(['except', excluded]);
  const best = fits.sort((a, b) => a[1] - b[1])[0]?.[0];
  if (best === 'in') return { kind: 'in', files, paths: matched };
  if (best === 'runs') return { kind: 'runs', files, runs };
  if (best === 'except') return { kind: 'except', files, paths: candidates.filter((_, i) => !admitted[i]) };
  return { kind: 'scan', files };
}
