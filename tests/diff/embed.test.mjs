// embed.test.mjs - differential test of `ggembed embed` against llama.cpp
// (through tests/ref) on models made by `ggembed mkmodel`.
//
// For each model: the vectors of `ggembed embed -m MODEL --jsonl` must have
// cosine >= 0.9999 (f32, f16) or >= 0.999 (quantized types) with llama.cpp's
// vector (normalized here: node-llama-cpp returns it raw), and the token
// counts must match, on: very short texts, medium texts in several scripts,
// a text of exactly the model's context (specials included), texts over the
// context, all in one mixed-length batch and each alone.
//
// Over-context texts: llama.cpp refuses them (it never truncates), so the
// expected vector is llama.cpp's on the truncated ids: the first
// n_ctx - (number of specials) ids of the text, with the embedding's
// begin/end specials kept around them (as Hugging Face tokenizers truncate),
// n_tokens = n_ctx. A failure also says whether ggembed's vector matches a
// plain cut of the first n_ctx ids instead.
//
// Models (GGEMBED_DIFF_MODELS, comma-separated), each either
//   - a path to a .gguf file (the threshold follows its general.file_type), or
//   - PRESET:TYPE[:VOCAB][:KEY=VALUE...], made here with
//     `ggembed mkmodel --preset PRESET --type TYPE --vocab VOCAB -o TMP --seed 7
//      [--KEY VALUE...]` (VOCAB: a vocab fixture name, default bert-bge,
//     qwen2 for qwen presets, llama-spm for llama presets; KEY: a mkmodel
//     option such as pooling, embd, ff, layers, ctx, rope-scaling, rope-factor).
// Default: the matrix in DEFAULT_MODELS below (scripts/test-diff.sh runs it):
// BERT with XLM-R's unigram vocabulary (xlmr-tiny; multilingual-e5-small with
// SLOW=1), jina-bert-v2 (jina-tiny, and jina-code-tiny: base-code's Q/K norms,
// attn_norm_2, fused up-gate; jina-v2-small-en and jina-v2-base-code with
// SLOW=1), nomic-bert-moe (nomic-moe-tiny), gemma-embedding (gemma-emb-tiny
// with its dense projection, llama-spm vocab; embeddinggemma-300m with SLOW=1)
// and modern-bert (modernbert-tiny, gpt-2 vocab) in f16, q8_0 and q4_K_M,
// the BERT family (bert-tiny, nomic-tiny) in every type of
// GGEMBED_DIFF_TYPES (default f32,f16,q8_0,q4_0,q4_K_M,q5_K_M), the real
// shapes of minilm, bge-base and nomic-embed-text in the same types
// (GGEMBED_DIFF_REAL=0: not), the decoders (llama-tiny with the llama-spm vocab,
// qwen2-tiny and qwen3-tiny with the qwen2 vocab) in f16, q8_0, q4_K_M and
// q6_K with last (their default) and mean pooling. The tiny shapes are 64
// wide, and a K-quant needs rows that are multiples of 256 (llama.cpp falls
// back to a 32-block type otherwise), so the K-quant entries are made
// 256 wide (embd=256, ff=512) to run the K-quant kernels for real.
// Rotary scaling (ROPE_MODELS): llama-tiny with linear scaling, llama-tiny
// and qwen2-tiny with YaRN, in f16, trained (original) context 32 and factor
// 4, so the texts up to the 256-token context sit far past it; llama-tiny
// with a Llama 3.1 rope_freqs tensor.
// Every text is embedded in one mixed-length batch; alone (one process
// each, about 0.3 s with a 150k-token vocabulary), GGEMBED_DIFF_ALONE=all:
// every text, =some: three (the first, the exact-context one, the last),
// default: every text for tiny f32 and f16 models (rotary-scaled ones
// excepted), three for the others.
// Long contexts (SLOW=1): two-layer nomic-embed-text shapes at 2,048 and
// 8,192 tokens and a jina-v2-small-en one at 8,192, f16.
// Each model's lowest cosine with llama.cpp is printed as a diagnostic.
// Made models go to a temporary directory, removed at the end.
// Both sides run with GGEMBED_DIFF_THREADS threads (default 2).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generateCorpus } from "../corpus/gen.mjs";
import { openReference, normalize, cosine } from "../ref/ref.mjs";
import { ggembedBin, requireGgembed, run, vocabPath, show, THREADS } from "./util.mjs";

const ALL_TYPES = ["f32", "f16", "q8_0", "q4_0", "q4_K_M", "q5_K_M"];
const REAL_PRESETS = ["minilm", "bge-base", "nomic-embed-text"];
const TYPES = (process.env.GGEMBED_DIFF_TYPES || ALL_TYPES.join(",")).split(",").map((s) => s.trim()).filter(Boolean);
// llama_ftype values of general.file_type that are not quantized.
const FTYPE_FLOAT = new Set([0, 1, 32]); // ALL_F32, MOSTLY_F16, MOSTLY_BF16

let tmpDir = null;
function scratch() {
  if (!tmpDir) tmpDir = mkdtempSync(path.join(os.tmpdir(), "ggembed-diff-"));
  return tmpDir;
}
after(() => {
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});

const WIDE = ":embd=256:ff=512"; // rows that are whole K-quant super-blocks

// Rotary scaling entries. rope-attn-factor=1.5 (<arch>.rope.scaling.attn_factor,
// a cos/sin multiplier llama.cpp applies) sharpens the random models'
// attention: at 1.0 their near-uniform attention hides rotary errors in the
// fourth decimal of the cosine (dropping YaRN's magnitude scaling, its ramp,
// or llama.cpp's cancelling of the op's own factor costs 0.9997-0.9999); at
// 1.5 each costs 0.9993 or worse, so the 0.9999 bound catches it.
const ROPE_MODELS = [
  "llama-tiny:f16:rope-scaling=linear:rope-factor=4:rope-attn-factor=1.5",
  "llama-tiny:f16:rope-scaling=yarn:rope-factor=4:rope-orig-ctx=32:rope-attn-factor=1.5",
  "qwen2-tiny:f16:rope-scaling=yarn:rope-factor=4:rope-orig-ctx=32:rope-attn-factor=1.5",
  // Llama 3.1's per-pair divisors (a rope_freqs tensor) over a 32-token
  // original context: most pairs stretched 8 times, a ramp, the fastest kept.
  "llama-tiny:f16:rope-freqs=8:rope-orig-ctx=32:rope-attn-factor=1.5",
];

/** The default model matrix (see the top comment). */
function defaultModels() {
  const m = [];
  for (const preset of ["bert-tiny", "nomic-tiny"]) {
    for (const type of TYPES) m.push(`${preset}:${type}${/_K/.test(type) ? WIDE : ""}`);
  }
  // BERT with XLM-R's SentencePiece unigram vocabulary (bge-m3,
  // multilingual-e5): the tiny shape, and multilingual-e5-small's real one.
  // jina-bert-v2 (ALiBi, GEGLU): the tiny shape and jina-v2-small-en's real
  // one (its 8,192-token context cut to 512, as nomic-embed-text's is).
  // nomic-bert-moe (its second block a mixture of experts) and
  // gemma-embedding (a 16-token sliding window in five of its six blocks, so
  // the longer texts cross it): the tiny shapes.
  // modern-bert (global attention in blocks 0 and 3, a 16-token window in
  // the others, GPT-2 vocab): the tiny shape.
  for (const preset of ["xlmr-tiny", "jina-tiny", "nomic-moe-tiny", "modernbert-tiny"]) {
    for (const type of ["f16", "q8_0", "q4_K_M"]) m.push(`${preset}:${type}${/_K/.test(type) ? WIDE : ""}`);
  }
  // A ModernBERT derivative with SwiGLU (modern-bert.hidden_activation silu,
  // as IBM's granite-embedding r2 models): at cosine 0.9995 from GeGLU on
  // these weights, so f16's 0.9999 tells them apart.
  m.push("modernbert-tiny:f16:hidden-act=silu");
  // EmbeddingGemma's sentence-transformers projection after pooling
  // (dense_2, dense_3: 64 -> 256 -> 64; 256 -> 256 -> 256 in the K-quant
  // entry), and once without it.
  m.push("gemma-emb-tiny:f16");
  for (const type of ["f16", "q8_0", "q4_K_M"]) m.push(`gemma-emb-tiny:${type}:dense=256${/_K/.test(type) ? WIDE : ""}`);
  // jina-embeddings-v2-base-code: layer norms of whole Q and K rows,
  // attn_norm_2 and the fused up-gate tensor, with a byte-level BPE
  // vocabulary as the real one's (GPT-2's here).
  for (const type of ["f16", "q8_0", "q4_K_M"]) m.push(`jina-code-tiny:${type}:gpt-2${/_K/.test(type) ? WIDE : ""}`);
  // jina-embeddings-v2-base-es, -de and -code: BPE vocabularies whose
  // pre-tokenizer llama.cpp names jina-v2-es, jina-v2-de, jina-v2-code
  // (GPT-2's vocabulary renamed; it has no separator token, so the SEP that
  // jina-v2-code adds is not exercised here).
  for (const pre of ["jina-v2-es", "jina-v2-de"]) m.push(`jina-tiny:f16:gpt-2:pre=${pre}`);
  m.push("jina-code-tiny:f16:gpt-2:pre=jina-v2-code");
  // Their real shapes (a 250k-token vocabulary, 8k contexts) cost minutes
  // more: with SLOW=1 (or GGEMBED_DIFF_REAL=full).
  if (process.env.SLOW || process.env.GGEMBED_DIFF_REAL === "full") {
    for (const type of ["f16", "q8_0", "q4_K_M"]) m.push(`multilingual-e5-small:${type}`);
    for (const type of ["f16", "q8_0", "q4_K_M"]) m.push(`jina-v2-small-en:${type}:ctx=512`);
    // EmbeddingGemma-300m's and jina-embeddings-v2-base-code's real shapes
    // (their contexts cut to 512; vocabularies of the fixtures).
    for (const type of ["f16", "q8_0", "q4_K_M"]) m.push(`embeddinggemma-300m:${type}:ctx=512`);
    for (const type of ["f16", "q8_0", "q4_K_M"]) m.push(`jina-v2-base-code:${type}:gpt-2:ctx=512`);
    // Long contexts through the blocked attention: nomic-embed-text's and
    // jina-embeddings-v2's (ALiBi) shapes at 2,048 and 8,192 tokens, two
    // layers (attention dominates there, and llama.cpp's flash attention
    // rounds keys and values to f16).
    m.push("nomic-embed-text:f16:layers=2:ctx=2048", "nomic-embed-text:f16:layers=2:ctx=8192");
    m.push("jina-v2-small-en:f16:layers=2:ctx=8192");
  }
  // The real shapes of all-MiniLM-L6-v2, bge-base-en-v1.5 and
  // nomic-embed-text-v1.5 in every type (GGEMBED_DIFF_REAL=0 leaves them out).
  if (process.env.GGEMBED_DIFF_REAL !== "0") {
    // nomic-embed-text's 2,048-token context is cut to 512 here: its
    // exact-context and over-context texts would otherwise cost minutes per
    // type; GGEMBED_DIFF_REAL=full keeps it.
    const ctx = (p) => (p === "nomic-embed-text" && process.env.GGEMBED_DIFF_REAL !== "full" ? ":ctx=512" : "");
    for (const preset of REAL_PRESETS) for (const type of TYPES) m.push(`${preset}:${type}${ctx(preset)}`);
  }
  for (const preset of ["llama-tiny", "qwen2-tiny", "qwen3-tiny"]) {
    for (const type of ["f16", "q8_0", "q4_K_M", "q6_K"]) {
      for (const pooling of ["last", "mean"]) {
        m.push(`${preset}:${type}${/_K/.test(type) ? WIDE : ""}${pooling === "last" ? "" : ":pooling=mean"}`);
      }
    }
  }
  m.push(...ROPE_MODELS);
  return m;
}

/** Model specs from GGEMBED_DIFF_MODELS, or the default matrix. */
async function modelSpecs() {
  let list = (process.env.GGEMBED_DIFF_MODELS || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) list = defaultModels();
  return list.map((e) => {
    if (e.endsWith(".gguf") || existsSync(e)) return { label: path.basename(e), file: path.resolve(e) };
    const [preset, type, ...rest] = e.split(":");
    if (!preset || !type) throw new Error(`GGEMBED_DIFF_MODELS entry "${e}": want FILE.gguf or PRESET:TYPE[:VOCAB][:KEY=VALUE...]`);
    let vocab;
    const opts = [];
    for (const r of rest) {
      const eq = r.indexOf("=");
      if (eq < 0) vocab = r;
      else opts.push([r.slice(0, eq), r.slice(eq + 1)]);
    }
    return { label: [preset, type, ...rest].join("/"), preset, type, vocab, opts };
  });
}

async function makeModel(spec) {
  if (spec.file) return spec.file;
  const vocab = spec.vocab || (/qwen/i.test(spec.preset) ? "qwen2" : /modernbert/i.test(spec.preset) ? "gpt-2" : /llama|mistral|gemma/i.test(spec.preset) ? "llama-spm"
    : /xlmr|multilingual|bge-m3|moe/i.test(spec.preset) ? "nomic-bert-moe" : "bert-bge");
  const out = path.join(scratch(), `${spec.label.replace(/[^A-Za-z0-9._=-]+/g, "_")}-${vocab}.gguf`);
  const args = ["mkmodel", "--preset", spec.preset, "--type", spec.type, "--vocab", vocabPath(vocab), "-o", out, "--seed", "7"];
  for (const [k, v] of spec.opts || []) args.push(`--${k}`, v);
  const r = await run(ggembedBin(), args);
  if (r.code !== 0) throw new Error(`ggembed ${args.join(" ")} exited with ${r.code}: ${r.stderr}`);
  return out;
}

/** The thread option `ggembed embed` documents in its --help (empty if none). */
let threadArgsCache = null;
async function threadArgs() {
  if (threadArgsCache) return threadArgsCache;
  const r = await run(ggembedBin(), ["embed", "--help"]);
  const help = r.stdout + r.stderr;
  if (/--threads\b/.test(help)) threadArgsCache = ["--threads", String(THREADS)];
  else if (/(^|\s)-t\b/m.test(help)) threadArgsCache = ["-t", String(THREADS)];
  else threadArgsCache = [];
  return threadArgsCache;
}

/**
 * Parses `ggembed embed --jsonl` output: one JSON value per text, either an
 * object with the vector in "embedding" (or "vector") and the token count in
 * "n_tokens" (or "tokens"), or a bare array (then without a count).
 */
function parseEmbedLines(stdout, n) {
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  if (lines.length !== n) throw new Error(`ggembed embed printed ${lines.length} lines for ${n} texts:\n${stdout.slice(0, 500)}`);
  return lines.map((l, i) => {
    const v = JSON.parse(l);
    if (Array.isArray(v)) return { embedding: v, tokens: undefined, truncated: undefined };
    const emb = v.embedding ?? v.vector;
    if (!Array.isArray(emb)) throw new Error(`line ${i + 1}: no "embedding" array: ${l.slice(0, 200)}`);
    const tokens = typeof v.n_tokens === "number" ? v.n_tokens : typeof v.tokens === "number" ? v.tokens : undefined;
    return { embedding: emb, tokens, truncated: v.truncated };
  });
}

/**
 * `ggembed embed` of texts with a context of n tokens, llama.cpp's here
 * (--batch: ggembed's own default caps a decoder's at 512, where llama.cpp
 * would see a longer text whole).
 */
async function ggembedEmbed(model, texts, n) {
  const input = texts.map((t) => JSON.stringify(t)).join("\n") + "\n";
  const args = ["embed", "-m", model, "--jsonl", "--batch", String(n), ...(await threadArgs())];
  const r = await run(ggembedBin(), args, input);
  if (r.code !== 0) throw new Error(`ggembed ${args.join(" ")} exited with ${r.code} ${r.signal ?? ""}: ${r.stderr.slice(0, 2000)}`);
  return parseEmbedLines(r.stdout, texts.length);
}

// Single-token words in the BERT and GPT-2-style vocabularies (with the
// leading space BPE attaches), used to reach an exact token count.
const FILLER = ["the", "of", "and", "to", "in", "is", "was", "for", "on", "with", "as", "by", "at", "from", "that", "it"];

/** A text whose embedding ids (specials included) number exactly n, or null. */
function textWithTokens(ref, n) {
  const make = (k) => Array.from({ length: k }, (_, i) => FILLER[i % FILLER.length]).join(" ");
  const count = (s) => ref.tokenizeForEmbedding(s).length;
  let lo = 1, hi = n + 2;
  while (lo < hi) { // largest k with count(make(k)) <= n
    const mid = (lo + hi + 1) >> 1;
    if (count(make(mid)) <= n) lo = mid; else hi = mid - 1;
  }
  let s = make(lo);
  for (const extra of [" a", " x", "!", " 1", ".", ","]) {
    if (count(s) === n) break;
    if (count(s + extra) <= n) s += extra;
  }
  return count(s) === n ? s : null;
}

/** Expected ids of an over-context text: content cut, specials kept. */
function truncateKeepingSpecials(ref, ids, n) {
  const { begin, end } = ref.embeddingSpecials();
  const hasBegin = begin != null && ids[0] === begin;
  const hasEnd = end != null && ids[ids.length - 1] === end;
  const content = ids.slice(hasBegin ? 1 : 0, hasEnd ? -1 : undefined);
  const room = n - (hasBegin ? 1 : 0) - (hasEnd ? 1 : 0);
  return [...(hasBegin ? [begin] : []), ...content.slice(0, room), ...(hasEnd ? [end] : [])];
}

function buildTexts(ref) {
  const n = ref.maxTokens;
  const corpus = generateCorpus({ seed: 11, count: 400 });
  const texts = [];
  const add = (kind, text) => texts.push({ kind, text });
  // Very short.
  // "" has no tokens on a model that adds no specials (Qwen2): llama.cpp has
  // nothing to evaluate, ggembed gives the zero vector with 0 tokens.
  for (const s of ["", "a", "Hi", "é", "😀", "?", " x ", "42"]) add("short", s);
  // Medium: corpus texts in several scripts and shapes that fit the context.
  const want = [/[а-я]/, /[\u4e00-\u9fff]/, /[\u0600-\u06ff]/, /[\u0900-\u097f]/, /\u200d/, /\r\n/, /[{};]/, /https?:/, /[àéèêëîïôûüç]/, /\t/];
  for (const re of want) {
    const t = corpus.find((s) => re.test(s) && s.length > 20 && ref.tokenizeForEmbedding(s).length < n / 2);
    if (t !== undefined) add("medium", t);
  }
  add("medium", "The quick brown fox jumps over the lazy dog.");
  // Exactly at the context, and one less.
  const exact = textWithTokens(ref, n);
  if (exact === null) throw new Error(`could not build a text of exactly ${n} tokens`);
  add("exact", exact);
  const minus = textWithTokens(ref, n - 1);
  if (minus !== null) add("exact-1", minus);
  // Over the context: a bit over, and far over with varied content.
  add("over", exact + " and the rest of it");
  let long = "";
  for (const s of corpus) {
    long += s + "\n";
    if (long.length > n * 12) break;
  }
  add("over", long);
  return texts;
}

const specs = await modelSpecs().catch((e) => e);

test("embed: model list", async (t) => {
  if (!(await requireGgembed(t, "embed"))) return;
  if (!process.env.GGEMBED_DIFF_MODELS && !(await requireGgembed(t, "mkmodel"))) return;
  if (specs instanceof Error) throw specs;
  assert.ok(specs.length > 0);
  t.diagnostic(`models: ${specs.map((s) => s.label).join(", ")}`);
});

for (const spec of specs instanceof Error ? [] : specs) {
  test(`ggembed embed matches llama.cpp: ${spec.label}`, async (t) => {
    if (!(await requireGgembed(t, "embed"))) return;
    if (spec.preset && !(await requireGgembed(t, "mkmodel"))) return;
    const model = await makeModel(spec);
    const ref = await openReference(model, { threads: THREADS });
    try {
      const info = ref.info;
      const ftype = ref.model.fileInfo.metadata.general?.file_type;
      const minCos = FTYPE_FLOAT.has(ftype) ? 0.9999 : 0.999;
      const n = ref.maxTokens;
      assert.ok(Number.isInteger(n) && n > 8, `model context ${n}`);
      t.diagnostic(`${spec.label}: arch ${info.architecture}, pooling ${info.pooling}, n_ctx ${n}, n_embd ${info.nEmbd}, file_type ${ftype}, min cosine ${minCos}`);

      const texts = buildTexts(ref);
      // Reference vectors (normalized here) and token counts.
      const expect = [];
      for (const { kind, text } of texts) {
        const full = ref.tokenizeForEmbedding(text);
        // node-llama-cpp's own count leaves out a UGM vocabulary's <s> (ref.mjs).
        const ugmBos = ref.info.vocabularyType === "ugm" && full[0] === ref.info.bos ? 1 : 0;
        assert.equal(full.length, ugmBos + await ref.calculateInputLength(text), `harness: token count of ${show(text, 80)} agrees with node-llama-cpp's`);
        if (kind === "exact") assert.equal(full.length, n);
        if (kind === "over") assert.ok(full.length > n);
        const ids = full.length > n ? truncateKeepingSpecials(ref, full, n) : full;
        const r = ids.length > 0 ? await ref.embed(ids) : { tokens: 0, embedding: new Array(info.nEmbd).fill(0) };
        assert.equal(r.embedding.length, info.nEmbd);
        const e = { kind, text, tokens: ids.length, vec: normalize(r.embedding), truncated: full.length > n };
        if (full.length > n) e.naive = normalize((await ref.embed(full.slice(0, n), { addSpecial: false })).embedding);
        expect.push(e);
      }
      // The comparison can only fail if different texts give different vectors.
      let minPair = 1;
      for (let i = 0; i < expect.length; i++) {
        for (let j = i + 1; j < expect.length; j++) {
          if (texts[i].text !== texts[j].text) minPair = Math.min(minPair, cosine(expect[i].vec, expect[j].vec));
        }
      }
      assert.ok(minPair < minCos, `reference vectors of different texts are all within cosine ${minPair} of each other: the test could not tell them apart`);

      // ggembed: all texts as one mixed-length batch, then some alone.
      const batch = await ggembedEmbed(model, texts.map((x) => x.text), n);
      const small = !REAL_PRESETS.includes(spec.preset);
      // A rotary-scaled model tests position math, which a batch exercises
      // as well as a text alone: three alone keep its cost down.
      const scaled = (spec.opts || []).some(([k]) => k.startsWith("rope-"));
      const aloneMode = process.env.GGEMBED_DIFF_ALONE ||
        ((["f32", "f16"].includes(spec.type) && small && !scaled) || spec.file ? "all" : "some");
      const alone = aloneMode === "all"
        ? texts.map((_, i) => i)
        : [0, texts.findIndex((x) => x.kind === "exact"), texts.length - 1];
      const single = [];
      for (const i of alone) single.push([i, (await ggembedEmbed(model, [texts[i].text], n))[0]]);

      const problems = [];
      let worst = 1;
      const check = (label, i, got) => {
        const e = expect[i];
        const where = `${label} #${i} (${e.kind}) ${show(e.text, 120)}`;
        if (got.embedding.length !== info.nEmbd) {
          problems.push(`${where}: ${got.embedding.length} dimensions, llama.cpp ${info.nEmbd}`);
          return;
        }
        if (got.tokens === undefined) problems.push(`${where}: ggembed printed no token count`);
        else if (got.tokens !== e.tokens) problems.push(`${where}: ${got.tokens} tokens, llama.cpp ${e.tokens}`);
        if (got.truncated !== undefined && Boolean(got.truncated) !== e.truncated) {
          problems.push(`${where}: truncated=${got.truncated}, expected ${e.truncated}`);
        }
        const c = cosine(got.embedding, e.vec);
        if (e.tokens > 0) worst = Math.min(worst, c);
        if (!(c >= minCos)) {
          let hint = "";
          if (e.naive) hint = `; cosine with a plain cut of the first ${n} ids: ${cosine(got.embedding, e.naive).toFixed(6)}`;
          problems.push(`${where}: cosine ${c.toFixed(6)} < ${minCos}${hint}`);
        }
        // ggembed normalizes by default: the printed vector has unit length.
        const norm = Math.hypot(...got.embedding);
        const wantNorm = e.tokens > 0 ? 1 : 0;
        if (Math.abs(norm - wantNorm) > 1e-3) problems.push(`${where}: vector norm ${norm}, expected ${wantNorm}${wantNorm ? " (normalized)" : " (no tokens)"}`);
      };
      batch.forEach((got, i) => check("batch", i, got));
      for (const [i, got] of single) check("alone", i, got);
      // A text's vector must not depend on its batch.
      for (const [i, got] of single) {
        const c = cosine(got.embedding, batch[i].embedding);
        if (!(c >= 0.99999)) problems.push(`#${i}: alone vs in batch cosine ${c.toFixed(7)}`);
      }
      t.diagnostic(`${spec.label}: ${texts.length} texts in a batch + ${single.length} alone, lowest cosine with llama.cpp 1 - ${(1 - worst).toExponential(2)}, ${problems.length} problems`);
      assert.equal(problems.length, 0, `${spec.label}:\n${problems.join("\n")}`);
    } finally {
      await ref.close();
    }
  });
}
