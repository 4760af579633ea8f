#!/usr/bin/env node
// ref.mjs - the llama.cpp reference for ggembed's differential tests, through
// node-llama-cpp (a test-only dependency; see package.json and
// scripts/setup-ref.sh). Never used by ggembed itself.
//
// CLI:
//   node tests/ref/ref.mjs tokenize --model FILE --threads N [--special] [--embed-specials] < texts.jsonl
//   node tests/ref/ref.mjs embed    --model FILE --threads N [--pooling P] [--context N] < texts.jsonl
//   node tests/ref/ref.mjs info     --model FILE
// Input: one JSON string per line. Output: one JSON line per text, in order:
//   tokenize: {"index": i, "tokens": [ids...]}
//   embed:    {"index": i, "tokens": n, "embedding": [...]}   (or {"index", "error"})
// tokenize options:
//   --special         parse special-token text in the input (e.g. "[CLS]") as
//                     the special token (llama.cpp's parse_special)
//   --embed-specials  add the special tokens an embedding call adds
//                     (BOS/CLS before, EOS/SEP after; see below)
// Neither option: exactly the ids of llama_tokenize(add_special=false,
// parse_special=false), i.e. the convention of the vocab fixtures' .out files.
//
// What node-llama-cpp 3.22 does for an embedding (read from its
// dist/evaluator/LlamaEmbeddingContext.js and llama/addon/AddonContext.cpp):
// - Text: model.tokenize(text, false): llama.cpp's common_tokenize with
//   add_special=false and parse_special=false: special-token text in the input
//   is NOT recognised (it tokenizes as plain text; user-defined added tokens
//   still match, as in llama.cpp).
// - Specials: it then adds, itself, a beginning token unless the ids already
//   start with it: for WPM (BERT) vocabularies always BOS (= [CLS] in BERT
//   GGUFs); for SPM/BPE BOS only when tokenizer.ggml.add_bos_token says so; and
//   an end token unless the ids already end with it: for WPM always SEP, for
//   UGM EOS, otherwise EOS only when add_eos_token says so (and the vocab has a
//   BOS). This equals llama.cpp's own add_special=true except that it never
//   doubles a BOS/EOS already there (which cannot happen without parse_special
//   for the vocabularies we test), and except for UGM (SentencePiece unigram:
//   XLM-R, bge-m3) vocabularies: there node-llama-cpp leaves out the BOS (<s>)
//   that llama.cpp's tokenizer with add_special (llama-server, llama-embedding)
//   and Hugging Face put first, and that these models are trained with (bge-m3
//   pools on it). tokenizeForEmbedding() below gives llama.cpp's add_special
//   ids, <s> included, and embed() hands llama.cpp those ids; the embed test
//   checks that the length equals the embedding context's
//   calculateInputLength() (plus that <s> for UGM).
// - Pooling: the context is created with llama.cpp's default pooling type
//   (UNSPECIFIED), i.e. what the model's GGUF says in <arch>.pooling_type; the
//   JS API cannot override it (only "rank"). So --pooling here only checks
//   that the model's pooling is the one asked for; to compare another pooling,
//   make a model whose metadata says it.
// - Vector: llama_get_embeddings_seq(ctx, 0) (pooled), or for pooling NONE the
//   last token's vector; returned as llama.cpp computed it, NOT normalized.
// - Context: getEmbeddingFor() refuses inputs with length >= contextSize
//   (including the added specials): it never truncates. To allow inputs of
//   exactly the model's training context (n_ctx_train), this harness creates
//   the context with contextSize = n_ctx_train + 1 and batchSize equal to it
//   (a non-causal model must see the whole input in one micro-batch:
//   node-llama-cpp sets n_ubatch = n_batch). embed() refuses more than
//   n_ctx_train tokens unless given a token list (callers truncate themselves).
// - Threads: node-llama-cpp's default thread count is the machine's math
//   cores and at least 4; this harness always passes one (default 2).
// One model and one context stay loaded for all texts.

import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

export const POOLING_NAMES = ["none", "mean", "cls", "last", "rank"];

let llamaPromise = null;

// Log lines that loading a vocabulary-only file always prints (it has no
// weights); anything else at warn level or worse goes to stderr.
function logger(level, message) {
  if (/missing tensor|failed to load model|Failed simulating model resource usage|resulted in a different text|possible training context overflow/i.test(message)) return;
  if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal || level === LlamaLogLevel.warn) {
    process.stderr.write(`[llama.cpp] ${message.trimEnd()}\n`);
  }
}

/** The shared Llama instance: CPU only, prebuilt binary, never builds or downloads. */
export function getReferenceLlama() {
  if (!llamaPromise) {
    llamaPromise = getLlama({
      gpu: false,
      build: "never",
      skipDownload: true,
      logLevel: LlamaLogLevel.warn,
      logger,
      progressLogs: false,
    });
  }
  return llamaPromise;
}

/** L2-normalizes a vector (returns a new array of numbers). */
export function normalize(v) {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  return Array.from(v, (x) => (n > 0 ? x / n : 0));
}

/** Cosine similarity of two equal-length vectors. */
export function cosine(a, b) {
  if (a.length !== b.length) throw new Error(`cosine: lengths differ (${a.length} vs ${b.length})`);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa === 0 || bb === 0) return aa === bb ? 1 : 0;
  return ab / Math.sqrt(aa * bb);
}

export class Reference {
  constructor(model, { path: modelPath, threads, vocabOnly, contextSize }) {
    this.model = model;
    this._path = modelPath;
    this.threads = threads;
    this.vocabOnly = vocabOnly;
    this._contextSizeOpt = contextSize;
    this._embCtx = null;
    const md = model.fileInfo.metadata;
    const arch = md.general?.architecture;
    const archMd = (arch && md[arch]) || {};
    const tok = md.tokenizer?.ggml || {};
    const t = model.tokens;
    this.info = {
      path: this._path,
      architecture: arch,
      vocabularyType: model.vocabularyType, // "wpm" | "spm" | "bpe" | "ugm" | ...
      tokenizerModel: tok.model,
      tokenizerPre: tok.pre ?? "default",
      nCtxTrain: model.trainContextSize,
      nEmbd: vocabOnly ? null : model.embeddingVectorSize,
      pooling: typeof archMd.pooling_type === "number" ? POOLING_NAMES[archMd.pooling_type] : null,
      causal: archMd.attention?.causal,
      bos: t.bos,
      eos: t.eos,
      sep: t.sep,
      addBos: t.shouldPrependBosToken,
      addEos: t.shouldAppendEosToken,
    };
  }

  /**
   * Token ids of text. parseSpecial: recognise special-token text;
   * addSpecial: add the specials an embedding call adds (see the top comment).
   */
  tokenize(text, { parseSpecial = false, addSpecial = false } = {}) {
    const ids = this.model.tokenize(text, parseSpecial);
    return addSpecial ? this.addEmbeddingSpecials(ids) : ids;
  }

  /** The ids an embedding of `text` evaluates (specials added, none parsed). */
  tokenizeForEmbedding(text) {
    return this.tokenize(text, { addSpecial: true });
  }

  /** Adds BOS/EOS as node-llama-cpp's LlamaEmbeddingContext does (returns a new array). */
  addEmbeddingSpecials(ids) {
    const out = ids.slice();
    const { begin, end } = this.embeddingSpecials();
    if (begin != null && out[0] !== begin) out.unshift(begin);
    if (end != null && out[out.length - 1] !== end) out.push(end);
    return out;
  }

  /** {begin, end}: the token ids an embedding call puts around the text (null: none). */
  embeddingSpecials() {
    const vt = this.model.vocabularyType;
    const t = this.model.tokens;
    let begin = null, end = null;
    if (vt === "wpm") { begin = t.bos; end = t.sep; }
    else if (vt !== "rwkv") { // UGM too: llama.cpp's add_special, not node-llama-cpp's (see the top)
      if (t.shouldPrependBosToken) begin = t.bos;
      if (t.shouldAppendEosToken) end = t.eos;
    }
    return { begin, end };
  }

  /** The most tokens (specials included) embed() accepts: the training context. */
  get maxTokens() {
    return this.info.nCtxTrain;
  }

  async _context() {
    if (this.vocabOnly) throw new Error(`${this.info.path}: opened vocabulary-only; cannot embed`);
    if (!this._embCtx) {
      const size = this._contextSizeOpt ?? this.info.nCtxTrain + 1;
      this._embCtx = await this.model.createEmbeddingContext({
        contextSize: size,
        batchSize: size,
        threads: this.threads,
      });
    }
    return this._embCtx;
  }

  /** The embedding context's own count of the tokens it would evaluate. */
  async calculateInputLength(text) {
    return (await this._context()).calculateInputLength(text);
  }

  /**
   * Embeds a text (string) or a token id list (specials are added to a list
   * as to a text, unless already there; addSpecial: false evaluates the list
   * exactly as given). Returns {tokens, embedding} with the raw
   * (unnormalized) vector as an array of numbers. Unlike node-llama-cpp's
   * getEmbeddingFor(""), an empty text still evaluates its specials (e.g.
   * [CLS][SEP]), as llama.cpp's tokenizer with add_special does.
   */
  async embed(input, { addSpecial = true } = {}) {
    const ctx = await this._context();
    let ids;
    if (typeof input === "string") ids = this.tokenizeForEmbedding(input);
    else ids = addSpecial ? this.addEmbeddingSpecials(input) : input.slice();
    if (ids.length > this.maxTokens) {
      throw new Error(`input has ${ids.length} tokens, more than the model's context of ${this.maxTokens}`);
    }
    if (ids.length === 0) return { tokens: 0, embedding: [] };
    // getEmbeddingFor(ids) would add missing specials again; to evaluate a
    // list exactly, hand it the ids through the same internal path it uses.
    const e = addSpecial || typeof input === "string" ? await ctx.getEmbeddingFor(ids) : await this._embedExact(ctx, ids);
    return { tokens: ids.length, embedding: Array.from(e.vector) };
  }

  async _embedExact(ctx, ids) {
    // LlamaEmbeddingContext.getEmbeddingFor() appends the end token when the
    // list does not end with it; with addSpecial false the caller wants the
    // list as it is, so temporarily bypass its _prepareInput (node-llama-cpp
    // 3.22's internal; checked by the length assertion below).
    if (typeof ctx._prepareInput !== "function") throw new Error("node-llama-cpp internals changed: no _prepareInput");
    ctx._prepareInput = () => {}; // an own property shadowing the class method
    try {
      const e = await ctx.getEmbeddingFor(ids);
      if (ctx.calculateInputLength(ids) !== ids.length) throw new Error("could not evaluate ids exactly");
      return e;
    } finally {
      delete ctx._prepareInput;
    }
  }

  /**
   * The ids llama-server's /v1/rerank evaluates for a pair
   * (format_prompt_rerank in tools/server): the model's
   * tokenizer.chat_template.rerank with {query} and {document} replaced,
   * tokenized whole with special-token text recognised and no specials
   * added; otherwise BOS query EOS SEP document EOS, each where the
   * vocabulary adds it (EOS falling back to SEP), the texts tokenized
   * without specials. node-llama-cpp's own LlamaRankingContext builds the
   * same ids for vocabularies without a template (BOS, EOS and SEP
   * whenever they exist, which is where these vocabularies add them), but
   * tokenizes a template in pieces, so the reference builds them itself.
   */
  rerankTokens(query, doc) {
    const md = this.model.fileInfo.metadata;
    const tpl = md.tokenizer?.["chat_template.rerank"];
    if (typeof tpl === "string") {
      const text = tpl.split("{query}").join(query).split("{document}").join(doc);
      return Array.from(this.model.tokenize(text, true));
    }
    const t = this.model.tokens;
    const g = md.tokenizer?.ggml || {};
    const addSep = g.add_sep_token ?? this.model.vocabularyType === "wpm";
    const eos = t.eos ?? t.sep;
    const q = Array.from(this.model.tokenize(query, false));
    const d = Array.from(this.model.tokenize(doc, false));
    return this.pairIds(q, d, { bos: t.shouldPrependBosToken ? t.bos : null, eos: t.shouldAppendEosToken ? eos : null, sep: addSep ? t.sep : null });
  }

  /** lead query mid document trail, for the specials of rerankTokens (null: absent). */
  pairIds(q, d, { bos, eos, sep }) {
    return [...(bos == null ? [] : [bos]), ...q, ...(eos == null ? [] : [eos]), ...(sep == null ? [] : [sep]), ...d, ...(eos == null ? [] : [eos])];
  }

  /** The specials rerankTokens puts around a pair without a template. */
  rerankSpecials() {
    const t = this.model.tokens;
    const g = this.model.fileInfo.metadata.tokenizer?.ggml || {};
    const addSep = g.add_sep_token ?? this.model.vocabularyType === "wpm";
    return { bos: t.shouldPrependBosToken ? t.bos : null, eos: t.shouldAppendEosToken ? (t.eos ?? t.sep) : null, sep: addSep ? t.sep : null };
  }

  async _rankContext() {
    if (!this._rankCtx) {
      const size = this._contextSizeOpt ?? this.info.nCtxTrain + 1;
      this._rankCtx = await this.model.createRankingContext({ contextSize: size, batchSize: size, threads: this.threads });
    }
    return this._rankCtx;
  }

  /**
   * llama.cpp's score for exactly these ids: the first value of the rank
   * pooling's output (llama_get_embeddings_seq), which llama-server returns
   * as relevance_score. node-llama-cpp's rank() returns sigmoid of it
   * (except for qwen3, whose head ends in a softmax already); this reads the
   * raw value through the same internal path rank() uses (3.22's
   * _sequence and _llamaContext._ctx.getEmbedding).
   */
  async rerankScore(ids) {
    const rc = await this._rankContext();
    const seq = rc._sequence;
    if (!seq || typeof rc._llamaContext?._ctx?.getEmbedding !== "function") throw new Error("node-llama-cpp internals changed");
    await seq.eraseContextTokenRanges([{ start: 0, end: seq.nextTokenIndex }]);
    for await (const _ of seq.evaluate(ids, { _noSampling: true })) break;
    const e = rc._llamaContext._ctx.getEmbedding(ids.length, 1);
    if (e.length === 0) throw new Error("llama.cpp returned no score");
    return e[0];
  }

  /** node-llama-cpp's public rankAll (probabilities; its own pair building). */
  async rankAll(query, docs) {
    return (await this._rankContext()).rankAll(query, docs);
  }

  async close() {
    if (this._rankCtx) await this._rankCtx.dispose();
    this._rankCtx = null;
    if (this._embCtx) await this._embCtx.dispose();
    this._embCtx = null;
    await this.model.dispose();
  }
}

/**
 * Opens a model for the reference. vocabOnly: load only the tokenizer (works
 * on the vocab fixtures, which have no tensors). threads is required.
 */
export async function openReference(modelPath, { threads, vocabOnly = false, contextSize } = {}) {
  if (!Number.isInteger(threads) || threads < 1) throw new Error("openReference: pass threads (an integer >= 1)");
  const llama = await getReferenceLlama();
  const model = await llama.loadModel({ modelPath, vocabOnly, gpuLayers: 0 });
  return new Reference(model, { path: modelPath, threads, vocabOnly, contextSize });
}

// ---------------------------------------------------------------- CLI

function usage(msg) {
  if (msg) process.stderr.write(`ref.mjs: ${msg}\n`);
  process.stderr.write(
    "usage: node ref.mjs tokenize|embed|info --model FILE [--threads N] [--special] [--embed-specials]\n" +
      "       [--pooling none|mean|cls|last] [--context N]   (texts: one JSON string per stdin line)\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { cmd: argv[0], threads: 2, special: false, embedSpecials: false, pooling: null, model: null, context: undefined };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--model" || a === "-m") o.model = val();
    else if (a === "--threads" || a === "-t") o.threads = Number(val());
    else if (a === "--special") o.special = true;
    else if (a === "--embed-specials") o.embedSpecials = true;
    else if (a === "--pooling") o.pooling = val();
    else if (a === "--context") o.context = Number(val());
    else usage(`unknown option ${a}`);
  }
  if (!["tokenize", "embed", "info"].includes(o.cmd)) usage("first argument: tokenize, embed or info");
  if (!o.model) usage("--model FILE is required");
  if (!Number.isInteger(o.threads) || o.threads < 1) usage("--threads must be an integer >= 1");
  if (o.pooling && !POOLING_NAMES.includes(o.pooling)) usage(`unknown pooling ${o.pooling}`);
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const vocabOnly = o.cmd !== "embed";
  const ref = await openReference(o.model, { threads: o.threads, vocabOnly, contextSize: o.context });
  if (o.cmd === "info") {
    process.stdout.write(JSON.stringify(ref.info) + "\n");
    await ref.close();
    return;
  }
  if (o.pooling && o.pooling !== ref.info.pooling) {
    process.stderr.write(
      `ref.mjs: the model's pooling is ${ref.info.pooling}; node-llama-cpp cannot use ${o.pooling} instead\n`,
    );
    await ref.close();
    process.exit(2);
  }
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let index = 0;
  let status = 0;
  for await (const line of rl) {
    if (line.trim() === "") continue;
    const i = index++;
    let text;
    try {
      text = JSON.parse(line);
      if (typeof text !== "string") throw new Error("not a JSON string");
    } catch (e) {
      process.stdout.write(JSON.stringify({ index: i, error: `line ${i + 1}: ${e.message}` }) + "\n");
      status = 1;
      continue;
    }
    if (o.cmd === "tokenize") {
      const tokens = ref.tokenize(text, { parseSpecial: o.special, addSpecial: o.embedSpecials });
      process.stdout.write(JSON.stringify({ index: i, tokens }) + "\n");
    } else {
      try {
        const r = await ref.embed(text);
        process.stdout.write(JSON.stringify({ index: i, tokens: r.tokens, embedding: r.embedding }) + "\n");
      } catch (e) {
        process.stdout.write(JSON.stringify({ index: i, error: e.message }) + "\n");
        status = 1;
      }
    }
  }
  await ref.close();
  process.exitCode = status;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`ref.mjs: ${e.stack || e.message}\n`);
    process.exit(1);
  });
}
