// rerank.test.mjs - differential test of `ggembed rerank` against llama.cpp
// (through tests/ref) on rerankers made by `ggembed mkmodel`.
//
// What is compared: llama.cpp's score for a pair is the first value of its
// rank pooling's output, what llama-server's /v1/rerank returns as
// relevance_score (a logit for a BERT cross-encoder; P(yes) for
// Qwen3-Reranker, whose head ends in a softmax). node-llama-cpp's
// rank()/rankAll() pass that value through a sigmoid (except for qwen3)
// and build the pair its own way (for a template, in pieces; for XLM-R,
// differently from llama-server), so the reference (tests/ref/ref.mjs)
// builds the ids as llama-server does (rerankTokens) and reads the raw
// value (rerankScore). ggembed must give the same token count and a score
// within |ggembed - llama.cpp| <= ATOL + RTOL * |llama.cpp|: ATOL 2e-3 and
// RTOL 2e-3 for f32/f16 weights, 1e-2 and 1e-2 for quantized ones (the
// scores of these random models are of order 0.1-1; the tolerance is of the
// same order as the embeddings' cosine bounds: 0.9999 / 0.999 allow
// relative vector errors of about 1.4e-2 / 4.5e-2, of which a head that
// averages over the width sees a fraction).
//
// Pairs: two queries, each with documents of varied length and script, an
// empty document, and a document over the context (llama.cpp itself
// refuses such a pair): without a template, its expected ids are the pair
// with the document's end cut (specials kept); with one, ggembed keeps the
// longest document prefix whose filled template fits, checked for its
// length only. All of a query's documents go
// through one `ggembed rerank` call (one batch or more), and three pairs
// also alone: the scores must be identical, bit for bit.
//
// Models (GGEMBED_DIFF_RERANK_MODELS, comma-separated PRESET:TYPE[:VOCAB][:KEY=VALUE...]),
// default: bge-reranker-tiny with a WordPiece (bert-bge) and an XLM-R
// unigram (nomic-bert-moe) vocabulary, and qwen3-reranker-tiny (qwen2
// vocabulary, with the Qwen3-Reranker template), each in f16, q8_0 and
// q4_K_M (256 wide for the K-quant); with SLOW=1 or GGEMBED_DIFF_REAL=full
// also the real shapes bge-reranker-v2-m3 (XLM-R vocabulary; context
// capped at 512 here) and qwen3-reranker-0.6b in the same three types.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generateCorpus } from "../corpus/gen.mjs";
import { openReference } from "../ref/ref.mjs";
import { ggembedBin, requireGgembed, run, vocabPath, show, THREADS } from "./util.mjs";

let tmpDir = null;
function scratch() {
  if (!tmpDir) tmpDir = mkdtempSync(path.join(os.tmpdir(), "ggembed-rerank-"));
  return tmpDir;
}
after(() => {
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});

const WIDE = ":embd=256:ff=512";
const TYPES = ["f16", "q8_0", "q4_K_M"];

function defaultModels() {
  const m = [];
  for (const [preset, vocab] of [["bge-reranker-tiny", "bert-bge"], ["bge-reranker-tiny", "nomic-bert-moe"], ["qwen3-reranker-tiny", "qwen2"]])
    for (const type of TYPES) m.push(`${preset}:${type}:${vocab}${/_K/.test(type) ? WIDE : ""}`);
  if (process.env.SLOW || process.env.GGEMBED_DIFF_REAL === "full")
    for (const type of TYPES) m.push(`bge-reranker-v2-m3:${type}:nomic-bert-moe:ctx=512`, `qwen3-reranker-0.6b:${type}:qwen2`);
  return m;
}

function modelSpecs() {
  let list = (process.env.GGEMBED_DIFF_RERANK_MODELS || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) list = defaultModels();
  return list.map((e) => {
    const [preset, type, ...rest] = e.split(":");
    let vocab = /qwen/.test(preset) ? "qwen2" : "bert-bge";
    const opts = [];
    for (const r of rest) {
      const eq = r.indexOf("=");
      if (eq < 0) vocab = r;
      else opts.push([r.slice(0, eq), r.slice(eq + 1)]);
    }
    return { label: e, preset, type, vocab, opts };
  });
}

async function makeModel(spec) {
  const out = path.join(scratch(), `${spec.label.replace(/[^A-Za-z0-9._=-]+/g, "_")}.gguf`);
  const args = ["mkmodel", "--preset", spec.preset, "--type", spec.type, "--vocab", vocabPath(spec.vocab), "-o", out, "--seed", "7"];
  for (const [k, v] of spec.opts) args.push(`--${k}`, v);
  const r = await run(ggembedBin(), args);
  if (r.code !== 0) throw new Error(`ggembed ${args.join(" ")} exited with ${r.code}: ${r.stderr}`);
  return out;
}

async function ggembedRerank(model, query, docs) {
  const input = docs.map((t) => JSON.stringify(t)).join("\n") + "\n";
  const args = ["rerank", "-m", model, "--json", "--jsonl", "--threads", String(THREADS), "--", query, "-"];
  const r = await run(ggembedBin(), args, input);
  if (r.code !== 0) throw new Error(`ggembed ${args.slice(0, 6).join(" ")} ... exited with ${r.code}: ${r.stderr.slice(0, 2000)}`);
  const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, docs.length, `ggembed rerank printed ${lines.length} lines for ${docs.length} documents`);
  return lines.map((l, i) => {
    const v = JSON.parse(l);
    assert.equal(v.index, i, "scores in input order");
    return v;
  });
}

/** Documents whose pair with query fits n tokens, then one far over it (the last). */
function buildDocs(ref, query, n) {
  const corpus = generateCorpus({ seed: 23, count: 300 });
  const docs = ["", "Paris is the capital of France.", "é 😀 42"];
  const want = [/[а-я]/, /[\u4e00-\u9fff]/, /[\u0600-\u06ff]/, /[{};]/, /https?:/, /\t/];
  for (const re of want) {
    const t = corpus.find((s) => re.test(s) && s.length > 20 && !docs.includes(s) && ref.rerankTokens(query, s).length <= n);
    if (t !== undefined) docs.push(t);
  }
  let long = "";
  for (const s of corpus) {
    long += s + "\n";
    if (long.length > n * 12) break;
  }
  docs.push(long);
  return docs;
}

/** llama-server's ids for the pair, the document's end cut to fit n. */
function expectedIds(ref, query, doc, n) {
  const ids = ref.rerankTokens(query, doc);
  if (ids.length <= n) return { ids, truncated: false };
  const sp = ref.rerankSpecials();
  const q = Array.from(ref.model.tokenize(query, false));
  const d = Array.from(ref.model.tokenize(doc, false));
  const fixed = ref.pairIds([], [], sp).length;
  return { ids: ref.pairIds(q, d.slice(0, Math.max(0, n - fixed - q.length)), sp), truncated: true };
}

const specs = (() => { try { return modelSpecs(); } catch (e) { return e; } })();

test("rerank: model list", () => {
  if (specs instanceof Error) throw specs;
  assert.ok(specs.length > 0);
});

for (const spec of specs instanceof Error ? [] : specs) {
  test(`ggembed rerank matches llama.cpp: ${spec.label}`, async (t) => {
    if (!(await requireGgembed(t, "rerank"))) return;
    const model = await makeModel(spec);
    const info = JSON.parse((await run(ggembedBin(), ["inspect", model, "--json"])).stdout);
    const ctxTrain = spec.opts.find(([k]) => k === "ctx")?.[1];
    const nCtx = Math.min(Number(ctxTrain ?? 1e9), /qwen3/.test(spec.preset) ? 512 : 1e9, info.context_length ?? info.n_ctx ?? 1e9);
    const ref = await openReference(model, { threads: THREADS, contextSize: Math.min(nCtx, 4096) + 1 });
    try {
      const float = spec.type === "f16" || spec.type === "f32";
      const [atol, rtol] = float ? [2e-3, 2e-3] : [1e-2, 1e-2];
      const template = typeof ref.model.fileInfo.metadata.tokenizer?.["chat_template.rerank"] === "string";
      const n = Math.min(nCtx, ref.info.nCtxTrain);
      let worst = 0;
      for (const query of ["what is the capital of France?", "Как работает этот код"]) {
        const docs = buildDocs(ref, query, n);
        const got = await ggembedRerank(model, query, docs);
        for (let i = 0; i < docs.length; i++) {
          if (template && i === docs.length - 1) {
            // cut by ggembed (llama.cpp refuses it): the longest document
            // prefix whose filled template fits; not compared with llama.cpp
            assert.ok(got[i].truncated && got[i].tokens <= n && got[i].tokens > n - 64, `over-long pair: ${JSON.stringify(got[i])}`);
            continue;
          }
          const { ids, truncated } = expectedIds(ref, query, docs[i], n);
          assert.equal(got[i].tokens, ids.length, `pair ${i} (${show(docs[i], 80)}): tokens`);
          assert.equal(got[i].truncated, truncated, `pair ${i}: truncated`);
          const want = await ref.rerankScore(ids);
          const err = Math.abs(got[i].score - want);
          worst = Math.max(worst, err / (atol + rtol * Math.abs(want)));
          assert.ok(err <= atol + rtol * Math.abs(want),
            `pair ${i} (${show(docs[i], 80)}): ggembed ${got[i].score}, llama.cpp ${want} (|diff| ${err.toExponential(2)})`);
        }
        for (const i of [1, 3, docs.length - 1]) { // alone: the same score, bit for bit
          const [alone] = await ggembedRerank(model, query, [docs[i]]);
          assert.equal(alone.score, got[i].score, `pair ${i} alone vs batched`);
        }
      }
      t.diagnostic(`worst |diff| / tolerance: ${worst.toFixed(3)}`);
    } finally {
      await ref.close();
    }
  });
}
