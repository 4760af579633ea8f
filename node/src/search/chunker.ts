// chunker.ts - splits a file into chunks to embed, by syntax where a grammar
// exists (languages.ts) and by line windows elsewhere.
//
// Code: every function, method and class is a chunk named by its symbol; a
// container (class, impl, namespace) that is too long becomes its members'
// chunks plus its own header; a function that is too long is split at
// statement boundaries, each piece repeating the last OVERLAP lines of the
// one before; code between definitions (imports, top-level statements) forms
// chunks of its own; neighbours smaller than minTokens are merged while the
// result fits. The limit is checked with the model's own tokenizer (the
// caller's countTokens), never guessed from characters: a text whose UTF-8
// length plus a margin is under the limit is the only one not asked about,
// since no tokenizer the engine runs (WordPiece, SentencePiece with byte
// fallback, byte-level BPE) makes more tokens than bytes.

import { createRequire } from 'node:module';
import { at } from '../arrays.js';
import { setProcessFlag } from '../v8-flags.js';
import { type LanguageSpec, languageOf } from './languages.js';

export interface Chunk {
  /** first and last line, 1-based, inclusive */
  startLine: number;
  endLine: number;
  /** function, method or class name (joined with ', ' when neighbours were merged); null for other code and text */
  symbol: string | null;
  kind: 'function' | 'container' | 'code' | 'text';
  text: string;
}

export interface ChunkOptions {
  /** the model's token count of a text as it will be embedded (prefix included) */
  countTokens: (text: string) => Promise<number>;
  /** no chunk has more tokens than this (the model's context, or less) */
  maxTokens: number;
  /** chunks under this many tokens are merged with a neighbour when the sum fits (default maxTokens / 8) */
  minTokens?: number;
  /** lines repeated at the start of each piece of a split function (default 2) */
  overlapLines?: number;
  /** lines per window for files without a grammar (default 40; fewer when the tokens say so) */
  windowLines?: number;
  /** line windows even where a grammar exists (the fallback when parsing a file failed) */
  byLines?: boolean;
}

/** Whatever chunks files: chunkFile in this thread, a ChunkWorker (chunk-worker.ts) or a ChunkProcess (chunk-process.ts). */
export interface FileChunker {
  chunk(file: string, source: string, options: ChunkOptions): Promise<Chunk[]>;
  /**
   * Reads the file at `abs` itself and chunks it: the caller never holds its
   * text (a chunker in another process). `hash` is the SHA-256 of the bytes
   * it chunked, which are what the chunks describe even if the file changed
   * since the caller looked.
   */
  chunkPath?(file: string, abs: string, options: ChunkOptions): Promise<{ hash: string; chunks: Chunk[] }>;
}

/** chunkFile as a FileChunker: the grammars load into (and stay in) the calling thread. */
export const inThreadChunker: FileChunker = { chunk: (file, source, options) => chunkFile(file, source, options) };

/** Tokens a tokenizer can add beyond one per byte (special tokens, a dummy prefix). */
const TOKEN_MARGIN = 16;

// --- the tree-sitter runtime, loaded on first use ---------------------------

// web-tree-sitter's types are a namespace-style default export; only what is used here is declared.
interface TSNode {
  type: string;
  startPosition: { row: number; column: number };
  endPosition: { row: number; column: number };
  namedChildren: TSNode[];
  childForFieldName(name: string): TSNode | null;
  text: string;
}
interface TSParser {
  setLanguage(l: unknown): void;
  parse(text: string): { rootNode: TSNode; delete(): void };
  delete(): void;
}
interface TSModule {
  init(): Promise<void>;
  Language: { load(path: string): Promise<unknown> };
  new (): TSParser;
}

let runtime: Promise<TSModule> | null = null;
const grammars = new Map<string, Promise<unknown>>();
const require = createRequire(import.meta.url);

/** Fails loudly (the optional peer dependencies are missing) instead of silently falling back to line windows. */
function loadRuntime(): Promise<TSModule> {
  runtime ??= (async () => {
    // The grammars are large WebAssembly modules: V8's optimizing tier
    // recompiles their parse tables in the background and keeps both
    // versions, which cost the MCP server ~35 MB of its peak RSS while
    // indexing (issue 11) for parsing time that is small beside embedding.
    // The flag must be set before the first module is compiled; the grammars
    // are the only WebAssembly in the MCP server.
    setProcessFlag('--liftoff-only');
    let mod: { default: TSModule };
    try {
      mod = (await import('web-tree-sitter' as string)) as { default: TSModule };
    } catch (e) {
      throw new Error(
        `code search needs the packages web-tree-sitter and tree-sitter-wasms (npm install web-tree-sitter@0.22.6 tree-sitter-wasms@0.1.13): ${(e as Error).message}`,
      );
    }
    await mod.default.init();
    return mod.default;
  })();
  return runtime;
}

function loadGrammar(ts: TSModule, spec: LanguageSpec): Promise<unknown> {
  let g = grammars.get(spec.id);
  if (!g) {
    g = ts.Language.load(require.resolve(`tree-sitter-wasms/out/${spec.grammar}`));
    grammars.set(spec.id, g);
  }
  return g;
}

// --- segments: line ranges with a name, before they are measured -----------

interface Segment {
  start: number; // 0-based rows, inclusive
  end: number;
  symbol: string | null;
  kind: Chunk['kind'];
  node: TSNode | null;
}

const NAME_TYPES =
  /^(identifier|type_identifier|field_identifier|property_identifier|name|constant|qualified_identifier|scoped_identifier|scoped_type_identifier|destructor_name|operator_name)$/;

/** The name of a definition: its `name` field, else through declarators (C, C++), else its first identifier. */
export function symbolOf(node: TSNode): string | null {
  const name = node.childForFieldName('name');
  if (name) return name.text;
  let d = node.childForFieldName('declarator');
  for (let i = 0; d && i < 8; i++) {
    if (NAME_TYPES.test(d.type)) return d.text;
    d = d.childForFieldName('declarator') ?? d.namedChildren.find((c) => NAME_TYPES.test(c.type)) ?? null;
  }
  const ty = node.childForFieldName('type'); // Rust impl blocks
  if (ty && node.type === 'impl_item') {
    const tr = node.childForFieldName('trait');
    return tr ? `${tr.text} for ${ty.text}` : ty.text;
  }
  for (const c of node.namedChildren) {
    if (NAME_TYPES.test(c.type)) return c.text;
    if (c.type === 'type_spec' || c.type === 'type_alias') return symbolOf(c); // Go
  }
  return null;
}

type DefKind = 'function' | 'container';

/** The definition a node is or wraps (export statements, decorators, templates, C declarations of a struct). */
function definitionIn(node: TSNode, spec: LanguageSpec, depth = 0): { node: TSNode; kind: DefKind } | null {
  if (spec.functions.includes(node.type)) return { node, kind: 'function' };
  if (spec.containers.includes(node.type)) {
    // a C `struct x;` or a use of a type in a declaration has no body: not a definition
    if (node.childForFieldName('body') === null && /specifier$/.test(node.type)) return null;
    return { node, kind: 'container' };
  }
  if (depth < 2 && (spec.wrappers.includes(node.type) || depth > 0)) {
    for (const c of node.namedChildren) {
      const d = definitionIn(c, spec, depth + 1);
      if (d) return d;
    }
  }
  // JS/TS: const f = () => {...} and const f = function () {...}
  if (depth === 0 && (node.type === 'lexical_declaration' || node.type === 'variable_declaration')) {
    const decl = node.namedChildren.find((c) => c.type === 'variable_declarator');
    const v = decl?.childForFieldName('value');
    if (decl && v && /function|arrow_function|class/.test(v.type))
      return { node: decl, kind: v.type === 'class' ? 'container' : 'function' };
  }
  return null;
}

/** The node whose children are the body's statements or members. */
function bodyOf(node: TSNode): TSNode | null {
  let b = node.childForFieldName('body') ?? node.childForFieldName('value')?.childForFieldName('body') ?? null;
  // Go type declarations, C typedefs and wrappers: the body is one level down
  if (!b)
    for (const c of node.namedChildren) {
      b = c.childForFieldName('body') ?? c.childForFieldName('type')?.childForFieldName('body') ?? null;
      if (b) break;
    }
  return b;
}

/** The children, with those of the language's transparent blocks (preprocessor conditionals) in their place. */
function flatten(children: TSNode[], spec: LanguageSpec): TSNode[] {
  return children.flatMap((c) => (spec.transparent?.includes(c.type) ? flatten(c.namedChildren, spec) : [c]));
}

/** The named children as segments: definitions alone, the code between them grouped. */
function segmentsOf(nodes: TSNode[], spec: LanguageSpec, owner: string | null, from: number, to: number): Segment[] {
  const children = flatten(nodes, spec);
  const out: Segment[] = [];
  let gapStart = from;
  const closeGap = (end: number) => {
    if (end >= gapStart) out.push({ start: gapStart, end, symbol: owner, kind: 'code', node: null });
  };
  // comments right above a definition belong to it (doc comments say what it is for)
  let lead: number | null = null;
  let prevEnd = -2;
  for (const c of children) {
    if (/comment/.test(c.type)) {
      if (lead === null || c.startPosition.row > prevEnd + 1) lead = c.startPosition.row;
      prevEnd = c.endPosition.row;
      continue;
    }
    const def = definitionIn(c, spec);
    const docStart = lead !== null && c.startPosition.row <= prevEnd + 1 ? lead : c.startPosition.row;
    lead = null;
    prevEnd = c.endPosition.row;
    if (!def) continue;
    const start = Math.max(docStart, gapStart);
    const end = c.endPosition.column === 0 && c.endPosition.row > start ? c.endPosition.row - 1 : c.endPosition.row;
    if (end < start) continue;
    closeGap(start - 1);
    const name = symbolOf(def.node);
    const symbol = owner && name ? `${owner}.${name}` : (name ?? owner);
    out.push({ start, end, symbol, kind: def.kind, node: def.node });
    gapStart = end + 1;
  }
  closeGap(to);
  return out;
}

// --- measuring and splitting -----------------------------------------------

class Measure {
  private cache = new Map<string, number>();
  constructor(
    private readonly count: (t: string) => Promise<number>,
    readonly max: number,
  ) {}
  /** true when text has at most max tokens */
  async fits(text: string): Promise<boolean> {
    return (await this.tokens(text, true)) <= this.max;
  }
  /** the token count, or (when bound is set and the byte length proves it fits) that upper bound */
  async tokens(text: string, bound = false): Promise<number> {
    const bytes = Buffer.byteLength(text, 'utf8') + TOKEN_MARGIN;
    if (bound && bytes <= this.max) return bytes;
    let n = this.cache.get(text);
    if (n === undefined) {
      n = await this.count(text);
      this.cache.set(text, n);
    }
    return n;
  }
}

class Splitter {
  constructor(
    private readonly lines: string[],
    private readonly m: Measure,
    private readonly overlap: number,
    private readonly spec: LanguageSpec | null,
  ) {}

  text(start: number, end: number): string {
    return this.lines.slice(start, end + 1).join('\n');
  }

  /** Segments that each fit, in line order. */
  async fit(seg: Segment): Promise<Segment[]> {
    if (await this.m.fits(this.text(seg.start, seg.end))) return [seg];
    if (seg.node && this.spec && seg.kind === 'container') {
      const body = bodyOf(seg.node);
      if (body) {
        const members = segmentsOf(body.namedChildren, this.spec, seg.symbol, seg.start, seg.end);
        if (members.some((s) => s.kind !== 'code')) {
          // the header (and code between members) stays named by the container
          const out: Segment[] = [];
          for (const s of members) out.push(...(await this.fit(s)));
          return out;
        }
      }
    }
    return this.byStatements(seg);
  }

  /** Splits at the boundaries of the statements inside (or at lines when there are none). */
  private async byStatements(seg: Segment): Promise<Segment[]> {
    const inner = seg.node ? (bodyOf(seg.node) ?? seg.node) : null;
    const units: [number, number][] = [];
    if (inner) {
      let next = seg.start;
      for (const c of inner.namedChildren) {
        const s = Math.max(c.startPosition.row, next);
        const e = Math.min(c.endPosition.row, seg.end);
        if (e < s) continue;
        if (s > next) units.push([next, s - 1]);
        units.push([s, e]);
        next = e + 1;
      }
      if (next <= seg.end) units.push([next, seg.end]);
    }
    if (units.length < 2) {
      units.length = 0;
      for (let r = seg.start; r <= seg.end; r++) units.push([r, r]);
    }
    const out: Segment[] = [];
    let i = 0;
    while (i < units.length) {
      const pieceStart = out.length ? Math.max(at(units, i)[0] - this.overlap, at(out, out.length - 1).start + 1) : at(units, i)[0];
      let j = i;
      // grow while it fits
      while (j + 1 < units.length && (await this.m.fits(this.text(pieceStart, at(units, j + 1)[1])))) j++;
      if (!(await this.m.fits(this.text(pieceStart, at(units, j)[1])))) {
        // one unit alone is too long: a statement with a body of its own, or a very long line
        const [s, e] = at(units, i);
        if (e > s) {
          const child = inner?.namedChildren.find((c) => c.startPosition.row <= s && c.endPosition.row >= e) ?? null;
          const sub = { start: s, end: e, symbol: seg.symbol, kind: seg.kind, node: child && child !== seg.node ? child : null };
          out.push(...(await this.byStatements(sub)));
        } else {
          out.push(...(await this.cutLine(seg, s)));
        }
        i++;
        continue;
      }
      out.push({ start: pieceStart, end: at(units, j)[1], symbol: seg.symbol, kind: seg.kind, node: null });
      i = j + 1;
    }
    return out;
  }

  /** A single line over the limit (a data literal): cut it by halving until each part fits. */
  private async cutLine(seg: Segment, row: number): Promise<Segment[]> {
    const line = at(this.lines, row);
    const parts: string[] = [];
    const cut = async (t: string): Promise<void> => {
      if (t.length <= 1 || (await this.m.fits(t))) {
        parts.push(t);
        return;
      }
      const h = t.length >> 1;
      await cut(t.slice(0, h));
      await cut(t.slice(h));
    };
    await cut(line);
    return parts.map((t) => ({ start: row, end: row, symbol: seg.symbol, kind: seg.kind, node: null, cutText: t }) as Segment);
  }
}

/** Merges neighbours while one of them is small and the sum fits. */
async function mergeSmall(segs: Segment[], sp: Splitter, m: Measure, minTokens: number): Promise<Segment[]> {
  const out: Segment[] = [];
  for (const s of segs) {
    const prev = out[out.length - 1];
    if (prev && !('cutText' in prev) && !('cutText' in s) && s.start > prev.end) {
      const small = (await m.tokens(sp.text(prev.start, prev.end))) < minTokens || (await m.tokens(sp.text(s.start, s.end))) < minTokens;
      if (small && (await m.fits(sp.text(prev.start, s.end)))) {
        const names = [prev.symbol, s.symbol].filter((x): x is string => !!x);
        const symbol = [...new Set(names.flatMap((n) => n.split(', ')))].join(', ') || null;
        const kind = prev.kind === s.kind ? s.kind : prev.kind === 'code' ? s.kind : s.kind === 'code' ? prev.kind : 'code';
        out[out.length - 1] = { start: prev.start, end: s.end, symbol, kind, node: null };
        continue;
      }
    }
    out.push(s);
  }
  return out;
}

/** The language id chunkFile uses for a file (its path, and for a `.h` its text): a grammar's id, or 'text'. */
export function languageIdOf(file: string, source?: string): string {
  return languageOf(file, source)?.id ?? 'text';
}

/**
 * Chunks one file's text. Every chunk has at most maxTokens tokens by
 * countTokens; blank chunks are dropped.
 */
export async function chunkFile(file: string, source: string, options: ChunkOptions): Promise<Chunk[]> {
  const m = new Measure(options.countTokens, options.maxTokens);
  const lines = source.split(/\r?\n/);
  const spec = options.byLines ? null : languageOf(file, source);
  const sp = new Splitter(lines, m, options.overlapLines ?? 2, spec);
  let segs: Segment[];
  if (spec) {
    const ts = await loadRuntime();
    const parser = new ts();
    parser.setLanguage(await loadGrammar(ts, spec));
    const tree = parser.parse(spec.parserText ? spec.parserText(source) : source);
    try {
      const top = segmentsOf(tree.rootNode.namedChildren, spec, null, 0, lines.length - 1);
      segs = [];
      for (const s of top) segs.push(...(await sp.fit(s)));
    } finally {
      tree.delete();
      parser.delete();
    }
  } else {
    const w = options.windowLines ?? 40;
    segs = [];
    for (let r = 0; r < lines.length; r += w) {
      segs.push(...(await sp.fit({ start: r, end: Math.min(r + w, lines.length) - 1, symbol: null, kind: 'text', node: null })));
    }
  }
  segs = await mergeSmall(segs, sp, m, options.minTokens ?? Math.floor(options.maxTokens / 8));
  const chunks: Chunk[] = [];
  for (const s of segs) {
    if ('cutText' in s) {
      chunks.push({
        startLine: s.start + 1,
        endLine: s.end + 1,
        symbol: s.symbol,
        kind: s.kind,
        text: (s as Segment & { cutText: string }).cutText,
      });
      continue;
    }
    // blank lines at either end are dropped: a chunk's text (and so its hash) must not depend on the spacing around it
    let a = s.start,
      b = s.end;
    while (a <= b && !at(lines, a).trim()) a++;
    while (b >= a && !at(lines, b).trim()) b--;
    if (a > b) continue;
    chunks.push({ startLine: a + 1, endLine: b + 1, symbol: s.symbol, kind: s.kind, text: sp.text(a, b) });
  }
  return chunks;
}
