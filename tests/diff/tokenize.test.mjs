// tokenize.test.mjs - differential test of `ggembed tokenize` against
// llama.cpp (through tests/ref) on the generated corpus, for each vocab
// fixture (GGEMBED_DIFF_VOCABS=bert-bge,qwen2 to choose; default all).
//
// Two modes per vocab:
// - default: `ggembed tokenize -m VOCAB --jsonl` must give the ids an
//   embedding call evaluates in llama.cpp: the specials added as
//   node-llama-cpp's embedding context adds them (see tests/ref/ref.mjs),
//   special-token text in the input not parsed;
// - `--no-special`: the plain ids (llama_tokenize with add_special=false,
//   parse_special=false), the convention of the fixtures' .out files.
// A mismatch report names the text, both id lists and the first differing
// position, and the count of matching texts.
//
// Env: GGEMBED_BIN, GGEMBED_FIXTURES, GGEMBED_DIFF_VOCABS, GGEMBED_DIFF_REQUIRE_BIN
// (see util.mjs); GGEMBED_DIFF_CORPUS_SEED / GGEMBED_DIFF_CORPUS_COUNT
// (defaults 1 and 2400); GGEMBED_DIFF_SHOW (mismatches listed, default 20).

import { test } from "node:test";
import assert from "node:assert/strict";
import { generateCorpus } from "../corpus/gen.mjs";
import { openReference } from "../ref/ref.mjs";
import { vocabFixtures, ggembedBin, requireGgembed, run, firstDiff, show, showIds, THREADS } from "./util.mjs";

const SEED = Number(process.env.GGEMBED_DIFF_CORPUS_SEED || 1);
const COUNT = Number(process.env.GGEMBED_DIFF_CORPUS_COUNT || 2400);
const SHOW = Number(process.env.GGEMBED_DIFF_SHOW || 20);

const corpus = generateCorpus({ seed: SEED, count: COUNT });
const corpusJsonl = corpus.map((t) => JSON.stringify(t)).join("\n") + "\n";

/** Parses ggembed's output: one line of space-separated ids per text. */
function parseIdLines(stdout, n) {
  const lines = stdout.split("\n");
  if (lines.length === n + 1 && lines[n] === "") lines.pop();
  if (lines.length !== n) throw new Error(`ggembed printed ${lines.length} lines for ${n} texts`);
  return lines.map((l, i) => {
    const t = l.trim();
    if (t === "") return [];
    return t.split(/\s+/).map((s) => {
      if (!/^\d+$/.test(s)) throw new Error(`line ${i + 1}: "${s}" is not a token id`);
      return Number(s);
    });
  });
}

function compare(name, texts, got, want) {
  const bad = [];
  for (let i = 0; i < texts.length; i++) {
    const at = firstDiff(got[i], want[i]);
    if (at !== -1) bad.push({ i, at });
  }
  const lines = bad.slice(0, SHOW).map(
    ({ i, at }) =>
      `#${i} ${show(texts[i], 200)}\n    first difference at position ${at}\n    ggembed:   ${showIds(got[i], at)}\n    llama.cpp: ${showIds(want[i], at)}`,
  );
  const summary = `${name}: ${texts.length - bad.length} of ${texts.length} texts match`;
  return { ok: bad.length === 0, report: `${summary}${bad.length ? `; ${bad.length} differ:\n` + lines.join("\n") : ""}` };
}

test("corpus is deterministic and large enough", () => {
  assert.ok(corpus.length >= 2000, `corpus has ${corpus.length} texts`);
  const again = generateCorpus({ seed: SEED, count: COUNT });
  assert.deepEqual(again, corpus);
  const other = generateCorpus({ seed: SEED + 1, count: 50 });
  assert.notDeepEqual(other, corpus.slice(0, 50));
  assert.ok(new Set(corpus).size > corpus.length * 0.9, "corpus texts are mostly distinct");
});

for (const v of vocabFixtures()) {
  test(`ggembed tokenize matches llama.cpp on the corpus: ${v.name}`, async (t) => {
    // Reference side first, so a broken harness shows even without ggembed.
    const ref = await openReference(v.gguf, { threads: THREADS, vocabOnly: true });
    let wantSpecial, wantPlain;
    try {
      wantPlain = corpus.map((s) => ref.tokenize(s));
      wantSpecial = corpus.map((s) => ref.tokenizeForEmbedding(s));
    } finally {
      await ref.close();
    }
    assert.equal(wantSpecial.length, corpus.length);
    // Sanity of the reference on the corpus: every non-empty text gives ids,
    // and the embedding form is the plain form plus the specials around it.
    for (let i = 0; i < corpus.length; i++) {
      const p = wantPlain[i], s = wantSpecial[i];
      assert.ok(s.length >= p.length && s.length <= p.length + 2, `#${i}: specials add 0 to 2 ids`);
      const off = s.length > p.length && s[0] !== p[0] ? 1 : 0;
      assert.deepEqual(s.slice(off, off + p.length), p, `#${i}: embedding ids contain the plain ids`);
    }

    if (!(await requireGgembed(t, "tokenize"))) return;
    const bin = ggembedBin();

    const r1 = await run(bin, ["tokenize", "-m", v.gguf, "--jsonl"], corpusJsonl);
    assert.equal(r1.code, 0, `ggembed tokenize exited with ${r1.code} ${r1.signal ?? ""}: ${r1.stderr.slice(0, 2000)}`);
    const gotSpecial = parseIdLines(r1.stdout, corpus.length);

    const r2 = await run(bin, ["tokenize", "-m", v.gguf, "--no-special", "--jsonl"], corpusJsonl);
    assert.equal(r2.code, 0, `ggembed tokenize --no-special exited with ${r2.code} ${r2.signal ?? ""}: ${r2.stderr.slice(0, 2000)}`);
    const gotPlain = parseIdLines(r2.stdout, corpus.length);

    const a = compare(`${v.name} (specials added)`, corpus, gotSpecial, wantSpecial);
    const b = compare(`${v.name} (--no-special)`, corpus, gotPlain, wantPlain);
    t.diagnostic(a.report.split("\n")[0]);
    t.diagnostic(b.report.split("\n")[0]);
    assert.ok(a.ok && b.ok, `${a.report}\n${b.report}`);
  });
}
