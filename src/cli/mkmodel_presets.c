/*
 * mkmodel_presets.c - the model shapes, file types and built-in
 * vocabulary of `ggembed mkmodel` (see mkmodel.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ggembed.h"
#include "mkmodel.h"

/* clang-format off */
static const mk_preset presets[] = {
    {"minilm", "bert", "all-MiniLM-L6-v2", 0, 384, 6, 12, 12, 32, 1536, 512, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1, 1},
    {"bge-base", "bert", "bge-base-en-v1.5", 0, 768, 12, 12, 12, 64, 3072, 512, 1e-12f, 0, GGEMBED_POOLING_CLS, -1, 1},
    {"nomic-embed-text", "nomic-bert", "nomic-embed-text-v1.5", 0, 768, 12, 12, 12, 64, 3072, 2048, 1e-12f, 1000.0f, GGEMBED_POOLING_MEAN, -1, 1},
    /* XLM-RoBERTa bodies: BERT with the SentencePiece unigram vocabulary
     * (--vocab an XLM-R vocabulary, such as ggml-vocab-nomic-bert-moe) */
    {"multilingual-e5-small", "bert", "multilingual-e5-small (XLM-R vocabulary)", 0, 384, 12, 12, 12, 32, 1536, 512, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1},
    {"bge-m3", "bert", "bge-m3 (XLM-RoBERTa large)", 0, 1024, 24, 16, 16, 64, 4096, 8192, 1e-5f, 0, GGEMBED_POOLING_CLS, -1},
    {"xlmr-tiny", "bert", "a tiny XLM-R-style BERT for tests", 0, 64, 2, 4, 4, 16, 128, 128, 1e-5f, 0, GGEMBED_POOLING_MEAN, -1},
    /* jina-embeddings-v2: BERT with ALiBi and a GEGLU FFN (base-code: --vocab
     * a BPE vocabulary with the jina-v2-code pre-tokenizer; its Q/K layer
     * norms, attn_norm_2 and fused up-gate as today's converter writes them) */
    {"jina-v2-base-en", "jina-bert-v2", "jina-embeddings-v2-base-en", 0, 768, 12, 12, 12, 64, 3072, 8192, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1, 1},
    {"jina-v2-small-en", "jina-bert-v2", "jina-embeddings-v2-small-en", 0, 512, 4, 8, 8, 64, 2048, 8192, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1, 1},
    {"jina-v2-base-code", "jina-bert-v2", "jina-embeddings-v2-base-code (Q/K layer norms, attn_norm_2, fused up-gate)", 0, 768, 12, 12, 12, 64, 3072, 8192, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1, 1, 0, 0, 0, 0, 1, 0, 1},
    {"jina-code-tiny", "jina-bert-v2", "a tiny jina-v2-base-code, for tests", 0, 64, 2, 4, 4, 16, 128, 128, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1, 1, 0, 0, 0, 0, 1, 0, 1},
    {"jina-tiny", "jina-bert-v2", "a tiny jina-bert-v2 for tests", 0, 64, 2, 4, 4, 16, 128, 128, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1, 1},
    /* nomic-bert-moe: nomic-bert's attention, XLM-R's vocabulary, every second
     * block a mixture of 8 GELU experts of which 2 run (--vocab an XLM-R
     * vocabulary) */
    {"nomic-embed-text-v2-moe", "nomic-bert-moe", "nomic-embed-text-v2-moe", 0, 768, 12, 12, 12, 64, 3072, 512, 1e-5f, 10000.0f, GGEMBED_POOLING_MEAN, -1, 0, 8, 2, 2},
    {"nomic-moe-tiny", "nomic-bert-moe", "a tiny nomic-bert-moe for tests", 0, 64, 2, 4, 4, 16, 128, 128, 1e-5f, 10000.0f, GGEMBED_POOLING_MEAN, -1, 0, 4, 2, 2},
    /* EmbeddingGemma: Gemma 3's sandwich-normed blocks, bidirectional, five
     * of every six within a 512-token window, the sentence-transformers
     * projection after pooling (--vocab a SentencePiece vocabulary; the real
     * one is Gemma 3's) */
    {"embeddinggemma-300m", "gemma-embedding", "EmbeddingGemma-300m (dense 768-3072-768)", 0, 768, 24, 3, 1, 256, 1152, 2048, 1e-6f, 1000000.0f, GGEMBED_POOLING_MEAN, -1, 0, 0, 0, 0, 512, 0, 3072},
    {"gemma-emb-tiny", "gemma-embedding", "a tiny gemma-embedding for tests (window 16)", 0, 64, 6, 2, 1, 32, 128, 256, 1e-6f, 1000000.0f, GGEMBED_POOLING_MEAN, -1, 0, 0, 0, 0, 16},
    /* ModernBERT: pre-norm without biases, GEGLU, global attention every third
     * block from the first, the others within a 128-token window (--vocab a
     * BPE vocabulary) */
    {"gte-modernbert-base", "modern-bert", "gte-modernbert-base (ModernBERT base)", 0, 768, 22, 12, 12, 64, 1152, 8192, 1e-5f, 160000.0f, GGEMBED_POOLING_CLS, -1, 0, 0, 0, 0, 128},
    {"modernbert-tiny", "modern-bert", "a tiny ModernBERT for tests (window 16)", 0, 64, 4, 4, 4, 16, 128, 256, 1e-5f, 160000.0f, GGEMBED_POOLING_MEAN, -1, 0, 0, 0, 0, 16},
    /* rerankers (pooling rank): bge-reranker-v2-m3 is XLM-RoBERTa large with a
     * classification head (--vocab an XLM-R vocabulary; the tiny one also
     * takes the built-in WordPiece one); Qwen3-Reranker is Qwen3 with the
     * LM head's "yes" and "no" rows and a prompt template (--vocab a
     * Qwen2/Qwen3 vocabulary) */
    {"bge-reranker-v2-m3", "bert", "bge-reranker-v2-m3 (XLM-RoBERTa large, classification head)", 0, 1024, 24, 16, 16, 64, 4096, 8192, 1e-5f, 0, GGEMBED_POOLING_RANK, -1},
    {"bge-reranker-tiny", "bert", "a tiny BERT reranker for tests", 0, 64, 2, 4, 4, 16, 128, 128, 1e-5f, 0, GGEMBED_POOLING_RANK, -1, 1},
    {"qwen3-reranker-0.6b", "qwen3", "Qwen3-Reranker-0.6B", 0, 1024, 28, 16, 8, 128, 3072, 40960, 1e-6f, 1000000.0f, GGEMBED_POOLING_RANK, -1},
    {"qwen3-reranker-tiny", "qwen3", "a tiny Qwen3-Reranker for tests", 0, 64, 2, 4, 2, 32, 160, 256, 1e-6f, 1000000.0f, GGEMBED_POOLING_RANK, -1},
    {"bert-tiny", "bert", "a tiny BERT for tests", 0, 64, 2, 4, 4, 16, 128, 128, 1e-12f, 0, GGEMBED_POOLING_MEAN, -1, 1},
    {"nomic-tiny", "nomic-bert", "a tiny nomic-bert for tests", 0, 64, 2, 4, 4, 16, 128, 256, 1e-12f, 1000.0f, GGEMBED_POOLING_MEAN, -1, 1},
    {"llama-tiny", "llama", "a tiny LLaMA/Mistral decoder for tests", 0, 64, 2, 4, 2, 16, 160, 256, 1e-5f, 10000.0f, GGEMBED_POOLING_LAST, 1},
    {"qwen2-tiny", "qwen2", "a tiny Qwen2 decoder for tests", 0, 64, 2, 4, 2, 16, 160, 256, 1e-6f, 1000000.0f, GGEMBED_POOLING_LAST, -1},
    {"qwen3-tiny", "qwen3", "a tiny Qwen3 decoder for tests (head 32 wide)", 0, 64, 2, 4, 2, 32, 160, 256, 1e-6f, 1000000.0f, GGEMBED_POOLING_LAST, 1},
    {"qwen3-embedding-0.6b", "qwen3", "Qwen3-Embedding-0.6B", 0, 1024, 28, 16, 8, 128, 3072, 32768, 1e-6f, 1000000.0f, GGEMBED_POOLING_LAST, 1},
    {"nomic-embed-code", "qwen2", "nomic-embed-code (Qwen2.5-Coder-7B body)", 152064, 3584, 28, 28, 4, 128, 18944, 32768, 1e-6f, 1000000.0f, GGEMBED_POOLING_LAST, -1},
    {"e5-mistral-7b", "llama", "e5-mistral-7b-instruct", 32000, 4096, 32, 32, 8, 128, 14336, 32768, 1e-5f, 10000.0f, GGEMBED_POOLING_LAST, 1},
};
/* clang-format on */

const mk_preset *mk_find_preset(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name)) return &presets[i];
    return NULL;
}

void mk_list_presets(void) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const mk_preset *p = &presets[i];
        fprintf(stderr, "  %-22s %-10s %4d x %2d layers, %2d/%d heads, ffn %5d  (%s)\n", p->name,
                p->arch, p->n_embd, p->n_layer, p->n_head, p->n_head_kv, p->n_ff, p->about);
    }
}

static const mk_ftype ftypes[] = {
    /* clang-format off */
    {"f32", GG_TYPE_F32, 0, 0},     {"f16", GG_TYPE_F16, 0, 1},     {"bf16", GG_TYPE_BF16, 0, 32},
    {"q8_0", GG_TYPE_Q8_0, 0, 7},   {"q4_0", GG_TYPE_Q4_0, 0, 2},   {"q4_1", GG_TYPE_Q4_1, 0, 3},
    {"q5_0", GG_TYPE_Q5_0, 0, 8},   {"q5_1", GG_TYPE_Q5_1, 0, 9},   {"q2_K", GG_TYPE_Q2_K, 0, 10},
    {"q3_K", GG_TYPE_Q3_K, 0, 12},  {"q4_K", GG_TYPE_Q4_K, 0, 14},  {"q5_K", GG_TYPE_Q5_K, 0, 16},
    {"q6_K", GG_TYPE_Q6_K, 0, 18},  {"q4_K_M", GG_TYPE_Q4_K, 4, 15}, {"q5_K_M", GG_TYPE_Q5_K, 5, 17},
};
/* clang-format on */

static bool same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

const mk_ftype *mk_find_ftype(const char *name) {
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (same_name(ftypes[i].name, name)) return &ftypes[i];
    return NULL;
}

void mk_list_ftypes(void) {
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++) fprintf(stderr, " %s", ftypes[i].name);
    fprintf(stderr, "\n");
}

/* llama.cpp gives a few layers more bits: the first and last eighth and
 * every third in between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static bool has(const char *name, const char *part) { return strstr(name, part) != NULL; }

/* A K-quant needs rows that are whole super-blocks; llama.cpp falls back
 * to a 32-block type of similar size otherwise. */
static gg_type fit_row(gg_type t, int64_t ne0) {
    if (ne0 % GG_QK_K == 0) return t;
    switch (t) {
    case GG_TYPE_Q2_K:
    case GG_TYPE_Q3_K: return GG_TYPE_Q4_0;
    case GG_TYPE_Q4_K: return GG_TYPE_Q5_0;
    case GG_TYPE_Q5_K: return GG_TYPE_Q5_1;
    case GG_TYPE_Q6_K: return GG_TYPE_Q8_0;
    default: return t;
    }
}

gg_type mk_tensor_type(const mk_ftype *ft, const char *name, int layer, int n_layer, int64_t ne0,
                       int n_dims) {
    if (n_dims == 1) return GG_TYPE_F32;
    /* llama.cpp adds the token-type row to f32 activations directly, so
     * the converter keeps it f32; it never quantizes position embeddings. */
    if (has(name, "token_types")) return GG_TYPE_F32;
    bool plain = ft->base == GG_TYPE_F32 || ft->base == GG_TYPE_F16 || ft->base == GG_TYPE_BF16;
    if (!plain && has(name, "position_embd")) return GG_TYPE_F32;
    gg_type t = ft->base;
    if (ft->mix && has(name, "attn_qkv.weight")) t = ft->mix == 4 ? GG_TYPE_Q5_K : GG_TYPE_Q6_K;
    else if (ft->mix && (has(name, "attn_v.weight") || has(name, "ffn_down.weight")) &&
             use_more_bits(layer, n_layer))
        t = GG_TYPE_Q6_K;
    t = fit_row(t, ne0);
    if (ne0 % gg_type_info(t)->block_size != 0) return GG_TYPE_F16;
    return t;
}

/* ---------------- built-in vocabulary ---------------- */

static const char *builtin_words =
    "the of and to a in is it you that he was for on are with as i his they be at one have this "
    "from or had by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would like so "
    "these her long make thing see him two has look more day could go come did number sound no "
    "most people my over know water than call first who may down side been now find any new work "
    "part take get place made live where after back little only round man year came show every "
    "good me give our under name very through just form sentence great think say help low line "
    "differ turn cause much mean before move right boy old too same tell does set three want air "
    "well also play small end put home read hand port large spell add even land here must big "
    "high such follow act why ask men change went light kind off need house picture try us again "
    "animal point mother world near build self earth father head stand own page should country "
    "found answer school grow study still learn plant cover food sun four between state keep eye "
    "never last let thought city tree cross farm hard start might story saw far sea draw left late "
    "run while press close night real life few north open seem together next white children begin "
    "got walk example ease paper group always music those both mark often letter until mile river "
    "car feet care second book carry took science eat room friend began idea fish mountain stop "
    "once base hear horse cut sure watch color face wood main enough plain girl usual young ready "
    "above ever red list though feel talk bird soon body dog family direct pose leave song measure "
    "door product black short numeral class wind question happen complete ship area half rock order "
    "fire south problem piece told knew pass since top whole king space heard best hour better true "
    "during hundred five remember step early hold west ground interest reach fast verb sing listen "
    "six table travel less morning ten simple several vowel toward war lay against pattern slow "
    "center love person money serve appear road map rain rule govern pull cold notice voice unit "
    "power town fine certain fly fall lead cry dark machine note wait plan figure star box noun "
    "field rest correct able pound done beauty drive stood contain front teach week final gave "
    "green oh quick develop ocean warm free minute strong special mind behind clear tail produce "
    "fact street inch multiply nothing course stay wheel full force blue object decide surface deep "
    "moon island foot system busy test record boat common gold possible plane stead dry wonder laugh "
    "thousand ago ran check game shape equate miss brought heat snow tire bring yes distant fill "
    "east paint language among code function return class import const value error file data "
    "search query embedding model vector string number array object null true false";

static const char *builtin_pieces[] = {"ing", "ed", "s", "es", "er", "ly", "ion", "tion", "al", "ment"};

static void push(gguf_str *toks, int32_t *types, int *n, const char *s, size_t len, int32_t type) {
    toks[*n] = (gguf_str){s, len};
    types[*n] = type;
    (*n)++;
}

static bool known(const gguf_str *toks, int n, const char *s, size_t len) {
    for (int i = 0; i < n; i++)
        if (toks[i].len == len && !memcmp(toks[i].ptr, s, len)) return true;
    return false;
}

void mk_builtin_vocab(gguf_writer *w, int *n_vocab) {
    static char chars[2 * 95][8];
    static gguf_str toks[4096];
    static int32_t types[4096];
    int n = 0;
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++) push(toks, types, &n, specials[i], strlen(specials[i]), 3);
    types[1] = 2;
    int nc = 0;
    for (int c = 33; c < 127; c++) { /* "▁c" starts a word, "c" continues one */
        snprintf(chars[nc], sizeof chars[nc], "\xe2\x96\x81%c", c);
        push(toks, types, &n, chars[nc], strlen(chars[nc]), 1);
        nc++;
        snprintf(chars[nc], sizeof chars[nc], "%c", c);
        push(toks, types, &n, chars[nc], 1, 1);
        nc++;
    }
    static char words[8192];
    size_t wl = 0;
    for (const char *p = builtin_words; *p && n < 4000;) {
        const char *q = strchr(p, ' ');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (wl + len + 4 >= sizeof words) break;
        memcpy(words + wl, "\xe2\x96\x81", 3);
        memcpy(words + wl + 3, p, len);
        if (!known(toks, n, words + wl, len + 3)) {
            push(toks, types, &n, words + wl, len + 3, 1);
            wl += len + 3;
        }
        p += len + (q ? 1 : 0);
    }
    for (size_t i = 0; i < sizeof builtin_pieces / sizeof builtin_pieces[0]; i++)
        push(toks, types, &n, builtin_pieces[i], strlen(builtin_pieces[i]), 1);
    gguf_set_str(w, "tokenizer.ggml.model", "bert");
    gguf_set_str(w, "tokenizer.ggml.pre", "default");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n);
    gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_INT32, types, (uint64_t)n);
    gguf_set_u32(w, "tokenizer.ggml.token_type_count", 2);
    gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 1);
    gguf_set_u32(w, "tokenizer.ggml.cls_token_id", 2);
    gguf_set_u32(w, "tokenizer.ggml.seperator_token_id", 3);
    gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    gguf_set_u32(w, "tokenizer.ggml.mask_token_id", 4);
    *n_vocab = n;
}
