// Chunking by syntax, measured with the real model's tokenizer (bert-tiny: a 128-token context).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { at } from '../src/arrays.js';
import { Embedder } from '../src/index.js';
import { ChunkProcess } from '../src/search/chunk-process.js';
import { type Chunk, type ChunkOptions, chunkFile, languageIdOf } from '../src/search/chunker.js';
import { makeModel, PKG, requireBinary, tmpDir } from './helpers.js';

const REPO = path.resolve(PKG, '..');
let dir: string;
let e: Embedder;
let proc: ChunkProcess;
const count = async (t: string) => (await e.tokenize(t)).length;

before(async () => {
  const bin = requireBinary();
  dir = tmpDir();
  e = await Embedder.start({ model: makeModel(dir), binary: bin, healthIntervalMs: 0 });
  proc = new ChunkProcess();
});
after(async () => {
  await proc.close();
  await e.close();
  (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
});

/**
 * Every test chunks both ways: in this thread and in the chunking process
 * (the MCP server's default), which must give the same chunks.
 */
async function chunkBoth(file: string, src: string, options: ChunkOptions): Promise<Chunk[]> {
  const here = await chunkFile(file, src, options);
  assert.deepEqual(await proc.chunk(file, src, options), here, `${file}: the chunking process's chunks`);
  return here;
}

/** [symbol, first line, last line] of each chunk */
const shape = (cs: Chunk[]) => cs.map((c) => [c.symbol, c.startLine, c.endLine]);

// Each fixture: a doc comment on the first definition, a small container with a member, a free function.
// Unmerged (minTokens 0) so that the boundaries are the syntax's own.
const FIXTURES: { file: string; src: string; want: [string | null, number, number][] }[] = [
  {
    file: 'a.ts',
    src: `import { x } from './x';\n\n/** adds */\nexport function add(a: number, b: number): number {\n  return a + b;\n}\n\nexport class Box {\n  get(): number { return 1; }\n}\n\nconst twice = (n: number) => n * 2;\n`,
    want: [
      [null, 1, 1],
      ['add', 3, 6],
      ['Box', 8, 10],
      ['twice', 12, 12],
    ],
  },
  {
    file: 'a.py',
    src: `import os\n\n# says hi\ndef hello(name):\n    return "hi " + name\n\n\nclass Greeter:\n    def greet(self):\n        return hello("x")\n`,
    want: [
      [null, 1, 1],
      ['hello', 3, 5],
      ['Greeter', 8, 10],
    ],
  },
  {
    file: 'a.go',
    src: `package main\n\n// Point is a point.\ntype Point struct {\n\tX int\n}\n\nfunc (p Point) Norm() int {\n\treturn p.X\n}\n\nfunc main() {}\n`,
    want: [
      [null, 1, 1],
      ['Point', 3, 6],
      ['Norm', 8, 10],
      ['main', 12, 12],
    ],
  },
  {
    file: 'a.rs',
    src: `use std::fmt;\n\nstruct S { a: i32 }\n\nimpl S {\n    fn get(&self) -> i32 { self.a }\n}\n\nfn main() {\n    let s = S { a: 1 };\n}\n`,
    want: [
      [null, 1, 1],
      ['S', 3, 3],
      ['S', 5, 7],
      ['main', 9, 11],
    ],
  },
  {
    file: 'A.java',
    src: `package p;\n\npublic class A {\n    public int f() { return 1; }\n}\n\ninterface I {\n    void g();\n}\n`,
    want: [
      [null, 1, 1],
      ['A', 3, 5],
      ['I', 7, 9],
    ],
  },
  {
    file: 'a.c',
    src: `#include <stdio.h>\n\nstruct point { int x; };\n\n/* adds */\nstatic int add(int a, int b)\n{\n    return a + b;\n}\n\nint main(void) { return add(1, 2); }\n`,
    want: [
      [null, 1, 1],
      ['point', 3, 3],
      ['add', 5, 9],
      ['main', 11, 11],
    ],
  },
  {
    // an include guard around the whole header: its definitions are named as at the top level
    file: 'guarded.h',
    src: `#ifndef GUARDED_H\n#define GUARDED_H\n\nstruct point { int x; };\n\n/* adds */\nstatic inline int add(int a, int b)\n{\n    return a + b;\n}\n\n#ifdef WITH_MAIN\nint main(void) { return add(1, 2); }\n#endif\n\n#endif\n`,
    want: [
      [null, 1, 2],
      ['point', 4, 4],
      ['add', 6, 10],
      [null, 12, 12],
      ['main', 13, 13],
      [null, 14, 16],
    ],
  },
  {
    // C++ in a .h (its namespace, template and qualified name read as C++): the C++ grammar names them
    file: 'shapes.h',
    src: `#pragma once\n#include <vector>\n\nnamespace geo {\nclass Circle {\n public:\n  double area() const;\n  double r;\n};\n}\n\ntemplate <typename T>\nT clamp(T v, T lo, T hi) { return v < lo ? lo : v > hi ? hi : v; }\n\ninline double geo::Circle::area() const { return 3.14159 * r * r; }\n`,
    want: [
      [null, 1, 2],
      ['geo', 4, 10],
      ['clamp', 12, 13],
      ['geo::Circle::area', 15, 15],
    ],
  },
  {
    // a C header wrapped in extern "C" for C++ compilers: C, and its definitions named as without the wrapper
    file: 'api.h',
    src: `#ifndef API_H\n#define API_H\n\n#ifdef __cplusplus\nextern "C" {\n#endif\n\nstruct api_point { int x; };\n\n/* adds */\nstatic inline int api_add(int a, int b)\n{\n    return a + b;\n}\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n`,
    want: [
      [null, 1, 6],
      ['api_point', 8, 8],
      ['api_add', 10, 14],
      [null, 16, 20],
    ],
  },
  {
    file: 'a.cpp',
    src: `#include <vector>\n\nnamespace ns {\nclass K {\n  int v;\n};\n}\n\ntemplate <typename T>\nT id(T t) { return t; }\n\nint K::get() const { return v; }\n`,
    want: [
      [null, 1, 1],
      ['ns', 3, 7],
      ['id', 9, 10],
      ['K::get', 12, 12],
    ],
  },
  {
    file: 'A.cs',
    src: `using System;\n\nnamespace N {\n    class C {\n        int F() { return 1; }\n    }\n}\n`,
    want: [
      [null, 1, 1],
      ['N', 3, 7],
    ],
  },
  {
    file: 'a.rb',
    src: `require "x"\n\n# a module\nmodule M\n  def self.f\n    1\n  end\nend\n\ndef top\n  2\nend\n`,
    want: [
      [null, 1, 1],
      ['M', 3, 8],
      ['top', 10, 12],
    ],
  },
  {
    file: 'a.php',
    src: `<?php\n\nfunction f($a) {\n    return $a;\n}\n\nclass C {\n    public function m() { return 1; }\n}\n`,
    want: [
      [null, 1, 1],
      ['f', 3, 5],
      ['C', 7, 9],
    ],
  },
];

for (const f of FIXTURES) {
  test(`boundaries and symbols: ${f.file}`, async () => {
    const cs = await chunkBoth(f.file, f.src, { countTokens: count, maxTokens: 128, minTokens: 0 });
    assert.deepEqual(shape(cs), f.want);
  });
}

test('a .h is C++ when its code reads so (outside comments, strings and __cplusplus blocks), C otherwise', () => {
  const cpp = (FIXTURES.find((f) => f.file === 'shapes.h') as (typeof FIXTURES)[number]).src;
  const c = (FIXTURES.find((f) => f.file === 'api.h') as (typeof FIXTURES)[number]).src;
  assert.equal(languageIdOf('shapes.h', cpp), 'cpp');
  assert.equal(languageIdOf('api.h', c), 'c');
  assert.equal(languageIdOf('x.hpp', c), 'cpp', 'other extensions decide alone');
  assert.equal(languageIdOf('x.h'), 'c', 'without its text a .h is C');
  for (const marker of [
    'namespace n {',
    'template <class T> T f();',
    'class K : public B {',
    'int K::f() { return 0; }',
    'using namespace std;',
  ]) {
    assert.equal(languageIdOf('x.h', `int a;\n${marker}\n`), 'cpp', marker);
    // the same words in a comment, a string or a block for C++ compilers only leave a header C
    assert.equal(languageIdOf('x.h', `int a; /* ${marker} */\n// ${marker}\nconst char *s = "${marker}";\n`), 'c', marker);
    assert.equal(languageIdOf('x.h', `#ifdef __cplusplus\n${marker}\n#endif\nint a;\n`), 'c', marker);
  }
  for (const header of ['/usr/include/stdio.h', '/usr/include/stdlib.h', '/usr/include/string.h', path.join(REPO, 'include/ggembed.h')]) {
    assert.equal(languageIdOf(header, readFileSync(header, 'utf8')), 'c', header);
  }
});

test('this repository\'s public header: its extern "C" wrapper no longer hides the types it defines', async () => {
  const file = path.join(REPO, 'include/ggembed.h');
  const cs = await chunkFile(file, readFileSync(file, 'utf8'), { countTokens: count, maxTokens: 128 });
  const names = new Set(cs.flatMap((c) => (c.symbol ?? '').split(', ')));
  for (const name of ['ggembed_options', 'ggembed_info', 'ggembed_embed_options', 'ggembed_rerank_options'])
    assert.ok(names.has(name), name);
});

/** Every chunk fits (by the tokenizer), its text is its lines, and together they cover every non-blank line. */
async function checkChunks(file: string, src: string, cs: Chunk[], max: number): Promise<void> {
  const lines = src.split(/\r?\n/);
  const covered = new Uint8Array(lines.length + 1);
  for (const c of cs) {
    const n = await count(c.text);
    assert.ok(n <= max, `${file}:${c.startLine}-${c.endLine} has ${n} tokens > ${max}`);
    assert.ok(c.startLine >= 1 && c.endLine >= c.startLine && c.endLine <= lines.length, `${file}: bad range ${c.startLine}-${c.endLine}`);
    const own = lines.slice(c.startLine - 1, c.endLine).join('\n');
    assert.ok(c.startLine === c.endLine ? own.includes(c.text) : own === c.text, `${file}:${c.startLine}: text is not its lines`);
    for (let l = c.startLine; l <= c.endLine; l++) covered[l] = 1;
  }
  lines.forEach((l, i) => {
    assert.ok(!l.trim() || covered[i + 1], `${file}:${i + 1} is in no chunk`);
  });
}

const REAL = [
  path.join(REPO, 'src/engine.c'),
  path.join(REPO, 'src/tokenizer/bpe.c'),
  path.join(REPO, 'node/src/embedder.ts'),
  path.join(REPO, 'tools/gen_unicode.py'),
  path.join(REPO, 'README.md'),
  path.join(PKG, 'node_modules/@modelcontextprotocol/sdk/dist/esm/server/mcp.js'),
  path.join(PKG, 'node_modules/eventsource-parser/src/parse.ts'),
  '/usr/include/stdio.h',
];

for (const file of REAL) {
  test(`real code fits the context and is covered: ${path.relative(REPO, file)}`, async () => {
    const src = readFileSync(file, 'utf8');
    const cs = await chunkBoth(file, src, { countTokens: count, maxTokens: 128 });
    assert.ok(cs.length > 3);
    await checkChunks(file, src, cs, 128);
  });
}

test('C functions of the engine are chunks named by their symbol, starting at their definition or its comment', async () => {
  const file = path.join(REPO, 'src/engine.c');
  const src = readFileSync(file, 'utf8');
  const cs = await chunkBoth(file, src, { countTokens: count, maxTokens: 128, minTokens: 0 });
  const lines = src.split('\n');
  for (const name of ['ggembed_open', 'ggembed_close', 'ggembed_embed']) {
    const def = lines.findIndex((l, i) => new RegExp(`^\\w.*\\b${name}\\(`).test(l) && !l.trimEnd().endsWith(';') && i > 0) + 1;
    assert.ok(def > 0, `${name} is defined in engine.c`);
    const c = cs.find((x) => x.symbol === name);
    assert.ok(c, `a chunk named ${name}`);
    assert.ok(c.startLine <= def && c.endLine >= def, `${name}'s first chunk holds its definition line ${def}`);
    // the lines above the chunk start are not part of the definition: a blank line or the end of something else
    assert.ok(
      c.startLine === 1 || !/^\s*(\/\/|\/?\*)/.test(at(lines, c.startLine - 2)),
      `${name}: a comment above line ${c.startLine} was left out`,
    );
  }
});

test('a long function is split at statement boundaries with a small overlap', async () => {
  const body = Array.from({ length: 60 }, (_, i) => `  const v${i} = compute(${i}, "value number ${i}");`).join('\n');
  const src = `function longOne() {\n${body}\n  return 0;\n}\n`;
  const cs = await chunkBoth('long.js', src, { countTokens: count, maxTokens: 128, overlapLines: 2 });
  assert.ok(cs.length >= 3, `split into ${cs.length}`);
  await checkChunks('long.js', src, cs, 128);
  for (const c of cs) assert.equal(c.symbol, 'longOne');
  for (let i = 1; i < cs.length; i++) {
    const overlap = at(cs, i - 1).endLine - at(cs, i).startLine + 1;
    assert.ok(overlap >= 1 && overlap <= 2, `pieces ${i - 1} and ${i} overlap by ${overlap} lines`);
    // a piece ends at the end of a statement
    assert.match(at(src.split('\n'), at(cs, i - 1).endLine - 1), /;$/);
  }
});

test('small neighbours are merged while the sum fits; merged chunks name every symbol', async () => {
  const src = `${Array.from({ length: 12 }, (_, i) => `function f${i}() { return ${i}; }`).join('\n\n')}\n`;
  const unmerged = await chunkBoth('small.js', src, { countTokens: count, maxTokens: 128, minTokens: 0 });
  assert.equal(unmerged.filter((c) => c.kind === 'function').length, 12);
  const merged = await chunkBoth('small.js', src, { countTokens: count, maxTokens: 128, minTokens: 40 });
  assert.ok(merged.length < unmerged.length / 2, `${merged.length} chunks after merging`);
  await checkChunks('small.js', src, merged, 128);
  const names = merged.flatMap((c) => (c.symbol ?? '').split(', ')).filter(Boolean);
  assert.deepEqual(
    names,
    Array.from({ length: 12 }, (_, i) => `f${i}`),
  );
});

test('one line longer than the context is cut into parts that fit', async () => {
  const src = `const data = [${Array.from({ length: 400 }, (_, i) => i * 7919).join(', ')}];\n`;
  const cs = await chunkBoth('data.js', src, { countTokens: count, maxTokens: 128 });
  assert.ok(cs.length > 1);
  for (const c of cs) assert.ok((await count(c.text)) <= 128);
  assert.equal(cs.map((c) => c.text).join(''), src.trimEnd());
});
