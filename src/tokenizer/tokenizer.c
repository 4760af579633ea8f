/*
 * tokenizer.c - what every tokenizer family shares: loading the
 * vocabulary from tokenizer.ggml.* metadata, splitting text around
 * special tokens, adding the model's special tokens, and handing plain
 * fragments to the family encoders (wordpiece.c, spm.c, bpe.c).
 *
 * The rules are llama.cpp's (src/llama-vocab.cpp), so that ids match it:
 *
 *  - Defaults when keys are absent: "bert" BOS(=CLS) 101, UNK 100, SEP
 *    102, PAD 0, MASK 103; "llama" BOS 1, EOS 2, UNK 0, add_bos; "gpt2"
 *    BOS = EOS = 11, add_bos only for the llama3-style, tekken and
 *    chameleon pre-tokenizers. A special-id key whose value is out of
 *    range is ignored; a default out of range is dropped.
 *  - With add_special, "bert" always gets [CLS] text [SEP]; "llama" and
 *    "gpt2" get BOS when add_bos and EOS when add_eos.
 *  - Special tokens are the control, user-defined and unknown types (and
 *    a few texts llama.cpp promotes to control by name, such as
 *    "<|endoftext|>"). Each is searched, longest text first, through the
 *    text not yet claimed; control and unknown ones only when
 *    parse_special, user-defined ones always. Of tokens of equal length
 *    the lower id is searched first (llama.cpp's order there is
 *    whatever its unstable sort gives).
 *  - Special-token text in the input (say "[CLS]" or "<|endoftext|>")
 *    is plain text unless parse_special is set, and the engine never
 *    sets it: an embedding tokenizes the text as llama.cpp's embedding
 *    path does (common_tokenize with parse_special=false), so a user's
 *    text cannot inject control tokens, and "[CLS] x" embeds as the
 *    pieces of "[CLS]" then "x", inside the one real [CLS] ... [SEP]
 *    that add_special puts around it. (User-defined added tokens still
 *    match, as in llama.cpp.) Checked against llama.cpp on the corpus's
 *    special-token look-alikes (tests/diff/tokenize.test.mjs) and in
 *    tests/test_engine.c.
 *  - When token texts repeat, the text maps to the last id, as in
 *    llama.cpp's map. Empty token texts are never matched.
 *
 * Invalid UTF-8: any byte string is accepted and the result is a pure
 * function of the bytes. Special tokens are matched on bytes. The
 * encoders decode with gg_utf8_decode_lax, llama.cpp's rules: a byte
 * that does not start a complete sequence reads as U+FFFD and consumes
 * one byte. WordPiece drops U+FFFD (as llama.cpp does) and also drops
 * values past U+10FFFF (where llama.cpp gives up with an exception);
 * SentencePiece and BPE treat it as their documentation says.
 */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

int gg_tokvec_push(gg_tokvec *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *ids = realloc(v->ids, cap * sizeof(int32_t));
        if (!ids) return -1;
        v->ids = ids;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

/* ---- loading ---- */

/* Reads an optional bool key, leaving *v alone when it is absent. */
static int opt_bool(const gguf_file *f, const char *key, bool *v, gg_err *e) {
    return gguf_get_bool_or(f, key, *v, v, e);
}

/* A special-id key overrides the default only when it names a token. */
static void opt_id(const gg_tokenizer *t, const char *key, int32_t *id) {
    if (*id >= t->n_vocab) *id = -1;
    uint32_t v;
    if (gguf_find_kv(t->file, key) && gguf_get_u32(t->file, key, &v, NULL) == 0 &&
        v < (uint32_t)t->n_vocab)
        *id = (int32_t)v;
}

static bool pre_is(gguf_str pre, const char *const *names) {
    for (; *names; names++)
        if (gguf_str_eq(pre, *names)) return true;
    return false;
}

/* Defaults per family, before the file's own keys override them. */
static int set_family(gg_tokenizer *t, gguf_str model, gguf_str pre, gg_err *e) {
    gg_tok_info *in = &t->info;
    in->bos = in->eos = in->unk = in->sep = in->pad = in->cls = in->mask = -1;
    in->add_bos = in->add_eos = in->add_sep = false;
    t->spm_add_space_prefix = false;
    t->wpm_lowercase = t->wpm_strip_accents = true;
    if (gguf_str_eq(model, "bert")) {
        in->kind = GG_TOK_WPM, in->model_name = "bert";
        in->bos = 101, in->unk = 100, in->sep = 102, in->pad = 0, in->mask = 103;
        in->add_bos = in->add_sep = true;
    } else if (gguf_str_eq(model, "llama")) {
        in->kind = GG_TOK_SPM, in->model_name = "llama";
        in->bos = 1, in->eos = 2, in->unk = 0;
        in->add_bos = true;
        t->spm_add_space_prefix = true;
    } else if (gguf_str_eq(model, "gpt2")) {
        static const char *const bos_pres[] = {"llama3",       "llama-v3", "llama-bpe", "falcon3",
                                               "falcon-h1",    "pixtral",  "midm-2.0",  "lfm2",
                                               "jina-v5-nano", "tekken",   "chameleon", NULL};
        static const char *const sep_pres[] = {"jina-v1-en", "jina-v2-code", "roberta-bpe", NULL};
        static const char *const no_bos_pres[] = {"glm4", "chatglm-bpe", NULL};
        in->kind = GG_TOK_BPE, in->model_name = "gpt2";
        in->bos = in->eos = 11;
        in->add_bos = pre_is(pre, bos_pres);
        in->add_sep = pre_is(pre, sep_pres);
        if (pre_is(pre, no_bos_pres)) in->bos = -1;
    } else if (gguf_str_eq(model, "t5")) {
        in->kind = GG_TOK_UGM, in->model_name = "t5";
        in->eos = 1, in->unk = 2, in->pad = 0;
        in->add_eos = true;
    } else {
        return gg_fail_kind(
            e, GG_E_UNSUPPORTED,
            "unknown tokenizer '%.*s' (tokenizer.ggml.model); supported: bert, llama, gpt2, t5",
            (int)GG_MIN(model.len, 64), model.ptr);
    }
    return 0;
}

static int load_tokens(gg_tokenizer *t, gg_err *e) {
    gguf_array a;
    if (gguf_get_arr(t->file, "tokenizer.ggml.tokens", GGUF_STRING, &a, e)) return -1;
    if (a.n == 0 || a.n > INT32_MAX / 2)
        return gg_fail(e, "tokenizer.ggml.tokens: %llu tokens", (unsigned long long)a.n);
    t->n_vocab = (int32_t)a.n;
    size_t n = (size_t)a.n;
    t->tokens = malloc(n * sizeof(gguf_str));
    t->scores = calloc(n, sizeof(float));
    t->types = malloc(n * sizeof(int32_t));
    t->memory += n * (sizeof(gguf_str) + sizeof(float) + sizeof(int32_t));
    if (!t->tokens || !t->scores || !t->types || gg_strmap_init(&t->vocab, n))
        return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory for %zu tokens", n);
    gguf_arr_strs(&a, t->tokens);
    for (size_t i = 0; i < n; i++) {
        t->types[i] = GG_TOKTYPE_NORMAL;
        if ((int64_t)t->tokens[i].len > t->max_token_len)
            t->max_token_len = (int32_t)GG_MIN(t->tokens[i].len, INT32_MAX);
    }
    /* last id first: a repeated text keeps its last id, as in llama.cpp */
    for (size_t i = n; i-- > 0;)
        if (t->tokens[i].len > 0)
            gg_strmap_put(&t->vocab, t->tokens[i].ptr, t->tokens[i].len, (int32_t)i);
    return 0;
}

static int load_scores_types(gg_tokenizer *t, gg_err *e) {
    gguf_array a;
    if (gguf_find_kv(t->file, "tokenizer.ggml.scores")) {
        if (gguf_get_arr(t->file, "tokenizer.ggml.scores", GGUF_VTYPE_COUNT, &a, e)) return -1;
        if (a.type != GGUF_FLOAT32 && a.type != GGUF_INT32)
            return gg_fail(e, "tokenizer.ggml.scores: elements are %s, want f32 or i32",
                           gguf_vtype_name(a.type));
        if (a.n < (uint64_t)t->n_vocab)
            return gg_fail(e, "tokenizer.ggml.scores: %llu scores for %d tokens",
                           (unsigned long long)a.n, t->n_vocab);
        for (int32_t i = 0; i < t->n_vocab; i++)
            t->scores[i] = a.type == GGUF_FLOAT32 ? gguf_arr_f32(&a, (uint64_t)i)
                                                  : (float)gguf_arr_i32(&a, (uint64_t)i);
    }
    if (gguf_find_kv(t->file, "tokenizer.ggml.token_type")) {
        if (gguf_get_arr(t->file, "tokenizer.ggml.token_type", GGUF_INT32, &a, e)) return -1;
        if (a.n < (uint64_t)t->n_vocab)
            return gg_fail(e, "tokenizer.ggml.token_type: %llu types for %d tokens",
                           (unsigned long long)a.n, t->n_vocab);
        for (int32_t i = 0; i < t->n_vocab; i++) t->types[i] = gguf_arr_i32(&a, (uint64_t)i);
    }
    return 0;
}

static int load_merges(gg_tokenizer *t, gg_err *e) {
    gguf_array a;
    if (!gguf_find_kv(t->file, "tokenizer.ggml.merges")) {
        if (t->info.kind == GG_TOK_BPE) return gg_fail(e, "BPE tokenizer: no tokenizer.ggml.merges");
        return 0;
    }
    if (gguf_get_arr(t->file, "tokenizer.ggml.merges", GGUF_STRING, &a, e)) return -1;
    if (a.n > INT32_MAX / 2)
        return gg_fail(e, "tokenizer.ggml.merges: %llu merges", (unsigned long long)a.n);
    size_t n = (size_t)a.n;
    t->n_merges = (int32_t)n;
    t->merges = malloc((n ? n : 1) * sizeof(gguf_str));
    t->memory += n * sizeof(gguf_str);
    if (!t->merges || gg_strmap_init(&t->merge_rank, n))
        return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory for %zu merges", n);
    gguf_arr_strs(&a, t->merges);
    /* first occurrence wins, as llama.cpp's emplace does */
    for (size_t i = 0; i < n; i++)
        gg_strmap_put(&t->merge_rank, t->merges[i].ptr, t->merges[i].len, (int32_t)i);
    return 0;
}

static int load_ids(gg_tokenizer *t, gg_err *e) {
    gg_tok_info *in = &t->info;
    opt_id(t, "tokenizer.ggml.bos_token_id", &in->bos);
    opt_id(t, "tokenizer.ggml.eos_token_id", &in->eos);
    opt_id(t, "tokenizer.ggml.unknown_token_id", &in->unk);
    opt_id(t, "tokenizer.ggml.seperator_token_id", &in->sep);
    opt_id(t, "tokenizer.ggml.padding_token_id", &in->pad);
    opt_id(t, "tokenizer.ggml.cls_token_id", &in->cls);
    opt_id(t, "tokenizer.ggml.mask_token_id", &in->mask);
    if (opt_bool(t->file, "tokenizer.ggml.add_bos_token", &in->add_bos, e) ||
        opt_bool(t->file, "tokenizer.ggml.add_eos_token", &in->add_eos, e) ||
        opt_bool(t->file, "tokenizer.ggml.add_sep_token", &in->add_sep, e) ||
        opt_bool(t->file, "tokenizer.ggml.add_space_prefix", &t->spm_add_space_prefix, e) ||
        opt_bool(t->file, "tokenizer.ggml.remove_extra_whitespaces", &t->ugm_remove_extra_ws, e) ||
        opt_bool(t->file, "tokenizer.ggml.normalizer.lowercase", &t->wpm_lowercase, e))
        return -1;
    t->wpm_strip_accents = t->wpm_lowercase;
    return opt_bool(t->file, "tokenizer.ggml.normalizer.strip_accents", &t->wpm_strip_accents, e);
}

static int pre_name(gg_tokenizer *t, gguf_str pre, gg_err *e) {
    if (!pre.ptr) pre = (gguf_str){"default", 7}; /* no tokenizer.ggml.pre */
    char *name = malloc(pre.len + 1);
    if (!name) return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory");
    if (pre.len) memcpy(name, pre.ptr, pre.len);
    name[pre.len] = 0;
    t->info.pre_name = name;
    return 0;
}

/* ---- special tokens ---- */

/* Texts llama.cpp marks as control even when the file says otherwise
 * (its end-of-turn, end-of-generation and fill-in-the-middle guesses). */
/* clang-format off */
static const char *const promoted_control[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
    "<end_of_utterance>", "<|eom_id|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "</s>", "<eos>", "<turn|>", "<|tool_response>", "[e~[",
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>",
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>",
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>",
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
};
/* clang-format on */

static bool is_special_type(int32_t type) {
    return type == GG_TOKTYPE_CONTROL || type == GG_TOKTYPE_USER_DEFINED || type == GG_TOKTYPE_UNKNOWN;
}

static void promote_controls(gg_tokenizer *t) {
    for (size_t i = 0; i < GG_ARRAY_LEN(promoted_control); i++) {
        const char *s = promoted_control[i];
        int32_t id = gg_strmap_get(&t->vocab, s, strlen(s));
        if (id >= 0 && !is_special_type(t->types[id])) t->types[id] = GG_TOKTYPE_CONTROL;
    }
}

typedef struct special_key {
    uint64_t len;
    int32_t id;
} special_key;

static int by_length_desc(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool str_has(gguf_str s, const char *needle) {
    size_t n = strlen(needle);
    for (uint64_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.ptr + i, needle, n) == 0) return true;
    return false;
}

static gguf_str opt_str(const gguf_file *f, const char *key) {
    gguf_str s = {"", 0};
    if (gguf_find_kv(f, key) && gguf_get_str(f, key, &s, NULL)) s = (gguf_str){"", 0};
    return s;
}

/* Per-model strip flags that llama.cpp sets by model name. */
static void set_strip(gg_tokenizer *t, const char *text, uint8_t flag, bool on) {
    int32_t id = gg_strmap_get(&t->vocab, text, strlen(text));
    for (int32_t i = 0; id >= 0 && i < t->n_specials; i++)
        if (t->specials[i] == id)
            t->special_strip[i] = on ? (uint8_t)(t->special_strip[i] | flag)
                                     : (uint8_t)(t->special_strip[i] & ~flag);
}

static void model_strips(gg_tokenizer *t) {
    gguf_str pre = opt_str(t->file, "tokenizer.ggml.pre");
    gguf_str arch = opt_str(t->file, "general.architecture");
    gguf_str name = opt_str(t->file, "general.name");
    char lower[256];
    size_t n = GG_MIN(name.len, sizeof lower);
    for (size_t i = 0; i < n; i++) {
        char c = name.ptr[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    gguf_str lname = {lower, n};
    if (str_has(pre, "jina-v2-de") || str_has(pre, "jina-v2-es") || str_has(pre, "jina-v2-code") ||
        str_has(arch, "nomic-bert-moe") || str_has(arch, "jina-bert-v3")) {
        set_strip(t, "<mask>", GG_STRIP_LEFT, true);
    } else if (str_has(lname, "phi-3") || str_has(lname, "phi3")) {
        for (int32_t i = 0; i < t->n_specials; i++) t->special_strip[i] |= GG_STRIP_RIGHT;
        set_strip(t, "</s>", GG_STRIP_RIGHT, true);
        set_strip(t, "<unk>", GG_STRIP_RIGHT, false);
        set_strip(t, "<s>", GG_STRIP_RIGHT, false);
        set_strip(t, "<|endoftext|>", GG_STRIP_RIGHT, false);
    } else if (str_has(lname, "modern-bert")) {
        set_strip(t, "[MASK]", GG_STRIP_LEFT, true);
    }
}

static int load_specials(gg_tokenizer *t, gg_err *e) {
    promote_controls(t);
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (is_special_type(t->types[i]) && t->tokens[i].len > 0) n++;
    t->specials = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    t->special_strip = calloc((size_t)(n ? n : 1), 1);
    t->memory += (size_t)n * (sizeof(int32_t) + 1);
    if (!t->specials || !t->special_strip)
        return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory");
    special_key *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    if (!keys) return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory");
    for (int32_t i = 0, k = 0; i < t->n_vocab; i++)
        if (is_special_type(t->types[i]) && t->tokens[i].len > 0)
            keys[k++] = (special_key){t->tokens[i].len, i};
    qsort(keys, (size_t)n, sizeof *keys, by_length_desc);
    for (int32_t k = 0; k < n; k++) t->specials[k] = keys[k].id;
    t->n_specials = n;
    free(keys);
    model_strips(t);
    return 0;
}

int gg_tokenizer_load(const gguf_file *f, gg_tokenizer **out, gg_err *e) {
    *out = NULL;
    gg_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory");
    t->file = f;
    for (int b = 0; b < 256; b++) t->byte_ids[b] = -1;
    gguf_str model, pre = {NULL, 0};
    int rc = gguf_get_str(f, "tokenizer.ggml.model", &model, e);
    if (!rc && gguf_find_kv(f, "tokenizer.ggml.pre"))
        rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, e);
    if (!rc) rc = set_family(t, model, pre, e);
    if (!rc) rc = pre_name(t, pre, e);
    if (!rc) rc = load_tokens(t, e);
    if (!rc) rc = load_scores_types(t, e);
    if (!rc) rc = load_merges(t, e);
    if (!rc) rc = load_ids(t, e);
    if (!rc) rc = load_specials(t, e);
    if (!rc) {
        t->info.n_vocab = t->n_vocab;
        switch (t->info.kind) {
        case GG_TOK_WPM: rc = gg_wpm_init(t, e); break;
        case GG_TOK_SPM: rc = gg_spm_init(t, e); break;
        case GG_TOK_BPE: rc = gg_bpe_init(t, e); break;
        case GG_TOK_UGM: rc = gg_ugm_init(t, e); break;
        }
    }
    if (rc) {
        gg_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void gg_tokenizer_free(gg_tokenizer *t) {
    if (!t) return;
    free(t->tokens);
    free(t->scores);
    free(t->types);
    gg_strmap_free(&t->vocab);
    free(t->merges);
    gg_strmap_free(&t->merge_rank);
    free(t->specials);
    free(t->special_strip);
    free(t->ugm_sorted);
    free((char *)t->info.pre_name);
    free(t);
}

const gg_tok_info *gg_tokenizer_info(const gg_tokenizer *t) { return &t->info; }

gguf_str gg_token_text(const gg_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return (gguf_str){"", 0};
    return t->tokens[id];
}

size_t gg_tokenizer_memory(const gg_tokenizer *t) {
    return sizeof *t + t->memory + gg_strmap_bytes(&t->vocab) + gg_strmap_bytes(&t->merge_rank);
}

/* ---- tokenizing ---- */

/* A piece of the input: raw text [off, off+len) when id < 0, else a
 * special token found there. */
typedef struct fragment {
    size_t off, len;
    int32_t id;
} fragment;

typedef struct fragvec {
    fragment *f;
    size_t n, cap;
} fragvec;

static int frag_push(fragvec *v, size_t off, size_t len, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        fragment *f = realloc(v->f, cap * sizeof *f);
        if (!f) return -1;
        v->f = f;
        v->cap = cap;
    }
    v->f[v->n++] = (fragment){off, len, id};
    return 0;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    const char *p = hay, *last = hay + (n - m);
    while (p <= last) {
        p = memchr(p, needle[0], (size_t)(last - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, needle, m) == 0) return p;
        p++;
    }
    return NULL;
}

/* isspace() in the C locale, which is what llama.cpp's strip uses. */
static bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Splits every raw fragment of `in` around each occurrence of special
 * number k, writing the result to `out`. */
static int split_special(const gg_tokenizer *t, int32_t k, const char *text, const fragvec *in,
                         fragvec *out) {
    int32_t id = t->specials[k];
    gguf_str tok = t->tokens[id];
    uint8_t strip = t->special_strip[k];
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        fragment fr = in->f[i];
        if (fr.id >= 0) {
            if (frag_push(out, fr.off, fr.len, fr.id)) return -1;
            continue;
        }
        size_t off = fr.off, len = fr.len;
        while (len > 0) {
            const char *p = find_bytes(text + off, len, tok.ptr, tok.len);
            if (!p) {
                if (frag_push(out, off, len, -1)) return -1;
                break;
            }
            size_t at = (size_t)(p - text), left = at - off, end = off + len;
            if (strip & GG_STRIP_LEFT)
                while (left > 0 && ascii_space(text[off + left - 1])) left--;
            if (left > 0 && frag_push(out, off, left, -1)) return -1;
            if (frag_push(out, at, tok.len, id)) return -1;
            off = at + tok.len;
            len = end - off;
            if (strip & GG_STRIP_RIGHT)
                while (len > 0 && ascii_space(text[off])) off++, len--;
        }
    }
    return 0;
}

/* The input as raw fragments and special tokens, llama.cpp's way: each
 * special in turn (longest first) claims its occurrences in what is
 * still raw text. */
static int partition(const gg_tokenizer *t, const char *text, size_t len, bool parse_special, fragvec *a,
                     fragvec *b) {
    if (len == 0) return 0;
    if (frag_push(a, 0, len, -1)) return -1;
    for (int32_t k = 0; k < t->n_specials; k++) {
        if (!parse_special && t->types[t->specials[k]] != GG_TOKTYPE_USER_DEFINED) continue;
        if (split_special(t, k, text, a, b)) return -1;
        fragvec tmp = *a;
        *a = *b;
        *b = tmp;
    }
    return 0;
}

static int encode_fragment(const gg_tokenizer *t, const char *s, size_t len, bool first, gg_tokvec *v,
                           gg_err *e) {
    switch (t->info.kind) {
    case GG_TOK_WPM: return gg_wpm_encode(t, s, len, v, e);
    case GG_TOK_SPM: return gg_spm_encode(t, s, len, first, v, e);
    case GG_TOK_BPE: return gg_bpe_encode(t, s, len, v, e);
    case GG_TOK_UGM: return gg_ugm_encode(t, s, len, v, e);
    }
    return gg_fail(e, "tokenizer: unknown kind %d", (int)t->info.kind);
}

static int push_special(gg_tokvec *v, int32_t id, const char *what, gg_err *e) {
    if (id < 0) return gg_fail(e, "tokenizer: the model adds a %s token but has none", what);
    if (gg_tokvec_push(v, id)) return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory");
    return 0;
}

static int tokenize_all(const gg_tokenizer *t, const char *text, const fragvec *frags,
                        const gg_tok_options *opt, gg_tokvec *v, gg_err *e) {
    const gg_tok_info *in = &t->info;
    bool wpm = in->kind == GG_TOK_WPM;
    if (opt->add_special && (wpm || in->add_bos) && push_special(v, in->bos, wpm ? "CLS" : "BOS", e))
        return -1;
    bool after_special = true; /* SentencePiece prefixes a space here */
    for (size_t i = 0; i < frags->n; i++) {
        const fragment *fr = &frags->f[i];
        if (fr->id >= 0) {
            if (gg_tokvec_push(v, fr->id))
                return gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory");
            after_special = true;
            continue;
        }
        if (encode_fragment(t, text + fr->off, fr->len, after_special, v, e)) return -1;
        after_special = false;
    }
    if (opt->add_special && wpm) return push_special(v, in->sep, "SEP", e);
    if (opt->add_special && in->add_eos) return push_special(v, in->eos, "EOS", e);
    return 0;
}

int64_t gg_tokenize(const gg_tokenizer *t, const char *text, size_t len, const gg_tok_options *opt,
                    int32_t *out, int64_t cap, gg_err *e) {
    static const gg_tok_options defaults = {false, false};
    if (!opt) opt = &defaults;
    if (!text && len) return gg_fail(e, "tokenize: NULL text of %zu bytes", len);
    fragvec a = {0}, b = {0};
    gg_tokvec v = {0};
    int64_t rc;
    if (partition(t, text, len, opt->parse_special, &a, &b)) {
        rc = gg_fail_kind(e, GG_E_MEMORY, "tokenizer: out of memory");
    } else if (tokenize_all(t, text, &a, opt, &v, e)) {
        rc = -1;
    } else {
        rc = (int64_t)v.n;
        if (out && cap > 0 && v.n > 0)
            memcpy(out, v.ids, (size_t)GG_MIN((int64_t)v.n, cap) * sizeof(int32_t));
    }
    free(a.f);
    free(b.f);
    free(v.ids);
    return rc;
}
