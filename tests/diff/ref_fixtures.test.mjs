// ref_fixtures.test.mjs - checks that the reference (llama.cpp through
// node-llama-cpp, tests/ref) is set up right: tokenizing every vocab
// fixture's .inp texts (no specials added, none parsed) must give exactly the
// ids in its .out file, which llama.cpp's own tokenizer tests produced.
// Also checks the harness's embedding-style special tokens on each family.
//
// Run: node --test tests/diff/ref_fixtures.test.mjs   (after scripts/setup-ref.sh)

import { test } from "node:test";
import assert from "node:assert/strict";
import { openReference } from "../ref/ref.mjs";
import { vocabFixtures, readInp, readOut, firstDiff, show, showIds, THREADS } from "./util.mjs";

for (const v of vocabFixtures()) {
  test(`reference tokenizes the ${v.name} fixture texts as llama.cpp`, async () => {
    const texts = readInp(v.inp);
    const expected = readOut(v.out);
    assert.equal(texts.length, expected.length, `${v.name}: ${texts.length} texts but ${expected.length} expected lines`);
    assert.ok(texts.length > 0);
    const ref = await openReference(v.gguf, { threads: THREADS, vocabOnly: true });
    try {
      const bad = [];
      for (let i = 0; i < texts.length; i++) {
        const got = ref.tokenize(texts[i]);
        const at = firstDiff(got, expected[i]);
        if (at !== -1) {
          bad.push(`text ${i} ${show(texts[i])}: first difference at ${at}\n  reference: ${showIds(got, at)}\n  expected:  ${showIds(expected[i], at)}`);
        }
      }
      assert.equal(bad.length, 0, `${v.name}: ${bad.length} of ${texts.length} texts differ:\n${bad.join("\n")}`);
    } finally {
      await ref.close();
    }
  });

  test(`reference adds the embedding special tokens for ${v.name}`, async () => {
    const ref = await openReference(v.gguf, { threads: THREADS, vocabOnly: true });
    try {
      const plain = ref.tokenize("Hello world");
      const withSpecials = ref.tokenizeForEmbedding("Hello world");
      const info = ref.info;
      // What llama.cpp's tokenizer adds with add_special=true, from the GGUF's
      // own metadata: WPM always [CLS]...[SEP]; SPM/BPE BOS/EOS as
      // tokenizer.ggml.add_bos_token / add_eos_token say.
      let expected = plain.slice();
      if (info.vocabularyType === "wpm") {
        assert.equal(typeof info.bos, "number", "a BERT vocab has a [CLS] (BOS) id");
        assert.equal(typeof info.sep, "number", "a BERT vocab has a [SEP] id");
        expected = [info.bos, ...plain, info.sep];
      } else {
        if (info.addBos) expected = [info.bos, ...expected];
        if (info.addEos) expected = [...expected, info.eos];
      }
      assert.deepEqual(withSpecials, expected);
      // The families differ as llama.cpp's metadata says: BERT and LLaMA-SPM
      // add a beginning token; the GPT-2-style BPE vocabs here add none.
      const expectBegin = { "bert-bge": 101, "llama-spm": 1 }[v.name];
      if (expectBegin !== undefined) assert.equal(withSpecials[0], expectBegin);
      if (v.name === "bert-bge") assert.equal(withSpecials.at(-1), 102);
      if (["gpt-2", "qwen2", "starcoder"].includes(v.name)) assert.deepEqual(withSpecials, plain);
      // An empty text still gets the specials (llama.cpp: [CLS][SEP] for BERT, [BOS] for SPM).
      const empty = ref.tokenizeForEmbedding("");
      if (info.vocabularyType === "wpm") assert.deepEqual(empty, [info.bos, info.sep]);
      // Parsing specials changes the ids of special-token text, not parsing keeps it plain text.
      if (v.name === "bert-bge") {
        assert.deepEqual(ref.tokenize("[CLS]", { parseSpecial: true }), [101]);
        assert.ok(ref.tokenize("[CLS]").length > 1);
      }
    } finally {
      await ref.close();
    }
  });
}
