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
