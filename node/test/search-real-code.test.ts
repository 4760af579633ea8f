// Chunking real code of this machine that nobody tuned the chunker on: a
// spread sample of the C headers in /usr/include and of the JavaScript and
// TypeScript the packages in node_modules ship, measured with the real model's
// tokenizer (bert-tiny: a 128-token context). Every chunk fits, the chunks
// cover every line of the file (their overlaps no longer than the split
// overlap), and the definitions a plain pattern finds at the start of a line
// are in a chunk named by their symbol.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { at } from '../src/arrays.js';
import { Embedder } from '../src/index.js';
import { type Chunk, chunkFile } from '../src/search/chunker.js';
import { emptyStats, walkFiles } from '../src/search/files.js';
import { languageOf } from '../src/search/languages.js';
import { makeModel, PKG, requireBinary, tmpDir } from './helpers.js';

const MAX_TOKENS = 128;
/** the chunker's default overlap of the pieces of a split definition */
const OVERLAP_LINES = 2;
/** files per tree, spread over the whole sorted tree */
const SAMPLE = 24;
/** larger files are left out of the sample to bound the test's time (the walk counts them as too_large) */
const MAX_FILE_BYTES = 48 * 1024;

let dir: string;
let e: Embedder;
const count = async (t: string) => (await e.tokenize(t)).length;

before(async () => {
  dir = tmpDir();
  e = await Embedder.start({ model: makeModel(dir), binary: requireBinary(), healthIntervalMs: 0, threads: 1 });
});
after(async () => {
  await e.close();
  (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
});

/** SAMPLE files of a tree that the walk admits and a grammar chunks, every k-th of them in path order. */
async function sampleOf(root: string, extraIgnore: readonly string[] = []): Promise<string[]> {
  const all: string[] = [];
  for await (const f of walkFiles(root, { skipDirs: ['.git'], extraIgnore, maxFileBytes: MAX_FILE_BYTES }, emptyStats()))
    if (languageOf(f.path)) all.push(f.abs);
  all.sort();
  assert.ok(all.length >= SAMPLE, `${root}: only ${all.length} files with a grammar`);
  const step = all.length / SAMPLE;
  return Array.from({ length: SAMPLE }, (_, i) => at(all, Math.floor(i * step)));
}

/**
 * Definitions at the start of a line, found by a pattern apart from the
 * chunker's grammar: [name, 1-based line].
 */
function definitionsIn(src: string, patterns: readonly RegExp[]): [string, number][] {
  const out: [string, number][] = [];
  src.split(/\r?\n/).forEach((l, i) => {
    for (const p of patterns) {
      const m = p.exec(l);
      if (m?.[1]) out.push([m[1], i + 1]);
    }
  });
  return out;
}

interface Problems {
  files: number;
  /** files the patterns were not applied to (C++ in a .h file, which the C grammar cannot parse) */
  notMatched: number;
  chunks: number;
  definitions: number;
  languages: Set<string>;
  problems: string[];
}

/** Every property of the chunks of one file, each broken one written down. */
async function check(file: string, patterns: Patterns, p: Problems): Promise<void> {
  const src = readFileSync(file, 'utf8');
  const cs: Chunk[] = await chunkFile(file, src, { countTokens: count, maxTokens: MAX_TOKENS, overlapLines: OVERLAP_LINES });
  const lines = src.split(/\r?\n/);
  p.files++;
  p.chunks += cs.length;
  p.languages.add(languageOf(file)?.id ?? '?');
  const covered = new Uint8Array(lines.length + 2);
  for (const c of cs) {
    const n = await count(c.text);
    if (n > MAX_TOKENS) p.problems.push(`${file}:${c.startLine}-${c.endLine}: ${n} tokens > ${MAX_TOKENS}`);
    if (c.startLine < 1 || c.endLine < c.startLine || c.endLine > lines.length) {
      p.problems.push(`${file}: bad range ${c.startLine}-${c.endLine}`);
      continue;
    }
    const own = lines.slice(c.startLine - 1, c.endLine).join('\n');
    if (c.startLine === c.endLine ? !own.includes(c.text) : own !== c.text)
      p.problems.push(`${file}:${c.startLine}: text is not its lines`);
    for (let l = c.startLine; l <= c.endLine; l++) covered[l] = 1;
  }
  const gaps = lines.flatMap((l, i) => (l.trim() && !covered[i + 1] ? [i + 1] : []));
  if (gaps.length) p.problems.push(`${file}: lines in no chunk: ${gaps.slice(0, 5).join(', ')}${gaps.length > 5 ? ', ...' : ''}`);
  // in line order, a chunk overlaps the one before by at most the split overlap (the parts of one cut line share it)
  const byStart = [...cs].sort((a, b) => a.startLine - b.startLine || a.endLine - b.endLine);
  for (let i = 1; i < byStart.length; i++) {
    const a = at(byStart, i - 1);
    const b = at(byStart, i);
    const cutLine = a.startLine === a.endLine && b.startLine === b.endLine && a.startLine === b.startLine;
    const overlap = a.endLine - b.startLine + 1;
    if (!cutLine && overlap > OVERLAP_LINES)
      p.problems.push(`${file}: ${a.startLine}-${a.endLine} and ${b.startLine}-${b.endLine} overlap by ${overlap} lines`);
  }
  if (patterns.skip?.test(src)) {
    p.notMatched++;
    return;
  }
  for (const [name, line] of definitionsIn(src, patterns.definitions)) {
    p.definitions++;
    const named = cs.some((c) => c.startLine <= line && line <= c.endLine && (c.symbol ?? '').split(', ').includes(name));
    if (!named) p.problems.push(`${file}:${line}: ${name} is in no chunk named ${name}`);
  }
}

interface Patterns {
  definitions: readonly RegExp[];
  /** files these patterns do not describe */
  skip?: RegExp;
}

const C_DEFINITIONS: Patterns = {
  definitions: [/^(?:struct|union|enum)\s+(\w+)\s*\{/],
  // a .h file is chunked with the C grammar; one that is C++ (namespaces, classes, templates) is not C's to name
  skip: /^\s*(?:namespace|class|template)\b/m,
};
const JS_DEFINITIONS: Patterns = {
  definitions: [
    /^(?:export\s+(?:default\s+)?)?(?:async\s+)?function\s*\*?\s*(\w+)\s*\(/,
    /^(?:export\s+(?:default\s+)?)?(?:abstract\s+)?class\s+(\w+)/,
  ],
};

async function checkTree(label: string, root: string, extraIgnore: readonly string[], patterns: Patterns): Promise<Problems> {
  const p: Problems = { files: 0, notMatched: 0, chunks: 0, definitions: 0, languages: new Set(), problems: [] };
  for (const file of await sampleOf(root, extraIgnore)) await check(file, patterns, p);
  console.log(
    `${label}: ${p.files} files (${[...p.languages].join(', ')}), ${p.chunks} chunks, ${p.definitions} definitions found by pattern (${p.notMatched} files not matched)`,
  );
  assert.deepEqual(p.problems, []);
  return p;
}

test('a sample of /usr/include: chunks fit, cover every line, overlap no more than the split overlap; structs, unions and enums are named', async () => {
  // CI installs the headers (libc6-dev in scripts/install-deps.sh); without them this fails rather than passing on nothing
  assert.ok(existsSync('/usr/include/stdio.h'), '/usr/include/stdio.h is missing: install the C library headers (libc6-dev)');
  const p = await checkTree('/usr/include', '/usr/include', [], C_DEFINITIONS);
  assert.ok(p.definitions >= 10, `${p.definitions} definitions in the sample: too few to say anything`);
});

test('a sample of the JavaScript and TypeScript in node_modules: chunks fit, cover every line, overlap no more than the split overlap; functions and classes are named', async () => {
  const root = path.join(PKG, 'node_modules');
  const jsOnly = ['*', '!*/', '!*.js', '!*.mjs', '!*.cjs', '!*.ts', '!*.mts', '!*.cts'];
  const p = await checkTree('node_modules', root, jsOnly, JS_DEFINITIONS);
  assert.ok(p.definitions >= 10, `${p.definitions} definitions in the sample: too few to say anything`);
  assert.ok(p.languages.has('javascript') && p.languages.has('typescript'), [...p.languages].join(', '));
});
