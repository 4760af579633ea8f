/*
 * pretok.c - the BPE pre-tokenizers (see pretok.h): a decoder that reads
 * bytes as llama.cpp reads them, one scanner per regex of llama.cpp's
 * lists, and the driver that applies a list piece by piece.
 *
 * Two families of scanner live here. split_gpt2 and split_llama3 follow
 * llama.cpp's own hand-written matchers for those two patterns (they are
 * what llama.cpp runs, not the regex). The match_* functions answer "what
 * does the regex match starting exactly here?" and split_matches turns
 * that into std::regex_iterator's behaviour: search for the leftmost
 * match, keep the text between matches as a word of its own.
 *
 * llama.cpp runs regexes that use \p{..} on a "collapsed" text where
 * each non-ASCII code point stands for its category, and the others on
 * the code points with non-ASCII white space replaced by U+000B. Both
 * tricks are reproduced by the class tests below: \s is white space
 * (ASCII or not), and a literal character range never matches a
 * non-ASCII white-space code point (e.g. U+3000 inside "　-。").
 */
#include "pretok.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

/* ---- character classes (callers keep i inside the piece) ---- */

static bool is_ws(const gg_pretok *p, size_t i) {
    uint32_t c = p->cps[i];
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return (p->flags[i] & GG_UF_WHITESPACE) != 0;
}
static bool is_letter(const gg_pretok *p, size_t i) {
    return !is_ws(p, i) && (p->flags[i] & GG_UF_LETTER);
}
static bool is_number(const gg_pretok *p, size_t i) {
    return !is_ws(p, i) && (p->flags[i] & GG_UF_NUMBER);
}
static bool is_punct(const gg_pretok *p, size_t i) {
    return !is_ws(p, i) && (p->flags[i] & GG_UF_PUNCT);
}
/* [^\s\p{L}\p{N}] */
static bool is_other(const gg_pretok *p, size_t i) {
    return !is_ws(p, i) && !(p->flags[i] & (GG_UF_LETTER | GG_UF_NUMBER));
}
static bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

/* The code point a std::wregex sees: non-ASCII white space is U+000B. */
static uint32_t wide(const gg_pretok *p, size_t i) {
    uint32_t c = p->cps[i];
    return (c > 0x7F && is_ws(p, i)) ? 0x0B : c;
}

typedef struct range {
    uint32_t lo, hi;
} range;

static bool in_ranges(uint32_t c, const range *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi) return true;
    return false;
}

/* ---- the word list ---- */

typedef struct out {
    uint32_t *lens;
    size_t n;
} out;

static void emit(out *o, size_t len) {
    if (len > 0) o->lens[o->n++] = (uint32_t)len;
}

/* ---- llama.cpp's own matchers ---- */

/* How the letters of a contraction are compared: GPT-2's regex is case
 * sensitive, Qwen 2's spells out [sS], llama.cpp's LLaMA 3 matcher
 * lower-cases with the Unicode table. */
enum { FOLD_NONE, FOLD_ASCII, FOLD_UNICODE };

static uint32_t fold(uint32_t c, int how) {
    if (how == FOLD_UNICODE) return gg_unicode_lower(c);
    if (how == FOLD_ASCII && c >= 'A' && c <= 'Z') return c + 32;
    return c;
}

static int contraction(const gg_pretok *p, size_t pos, size_t e, int how) {
    uint32_t a, b;
    if (p->cps[pos] != '\'' || pos + 1 >= e) return 0;
    a = fold(p->cps[pos + 1], how);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= e) return 0;
    b = fold(p->cps[pos + 2], how);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* The end of a white-space run starting at pos, for \s+(?!\S) then \s+. */
static size_t space_run_end(const gg_pretok *p, size_t pos, size_t e) {
    size_t w = pos;
    while (w < e && is_ws(p, w)) w++;
    if (w - pos > 1 && w < e) return w - 1; /* leave one space for the next word */
    if (w > pos) return w;
    return pos + 1; /* nothing matched: one character */
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(gg_pretok *p, size_t b, size_t e, out *o) {
    size_t pos = b;
    while (pos < e) {
        size_t start = pos, q = pos + (p->cps[pos] == ' ');
        int k = contraction(p, pos, e, FOLD_NONE);
        if (k) {
            pos += (size_t)k;
        } else if (q < e && is_letter(p, q)) {
            for (pos = q; pos < e && is_letter(p, pos); pos++) {}
        } else if (q < e && is_number(p, q)) {
            for (pos = q; pos < e && is_number(p, pos); pos++) {}
        } else if (q < e && is_other(p, q)) {
            for (pos = q; pos < e && is_other(p, pos); pos++) {}
        } else {
            pos = space_run_end(p, pos, e);
        }
        emit(o, pos - start);
    }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * LLaMA 3 (max 3, llama.cpp's matcher) and Qwen 2 (max 1, std::regex,
 * which matches the same words). */
static void split_llama3_like(gg_pretok *p, size_t b, size_t e, out *o, size_t max_digits, int how) {
    size_t pos = b;
    while (pos < e) {
        size_t start = pos, q = pos + (p->cps[pos] == ' ');
        uint32_t c = p->cps[pos];
        int k = contraction(p, pos, e, how);
        if (k) {
            pos += (size_t)k;
        } else if (!is_crlf(c) && !is_number(p, pos) &&
                   (is_letter(p, pos) || (pos + 1 < e && is_letter(p, pos + 1)))) {
            for (pos++; pos < e && is_letter(p, pos); pos++) {}
        } else if (is_number(p, pos)) {
            /* a long number is cut into groups of max_digits from the left */
            while (pos < e && is_number(p, pos) && pos - start < max_digits) pos++;
        } else if (q < e && is_other(p, q)) {
            for (pos = q; pos < e && is_other(p, pos); pos++) {}
            while (pos < e && is_crlf(p->cps[pos])) pos++;
        } else {
            size_t w = pos, after_nl = 0;
            for (; w < e && is_ws(p, w); w++)
                if (is_crlf(p->cps[w])) after_nl = w + 1;
            pos = after_nl ? after_nl : space_run_end(p, pos, e);
        }
        emit(o, pos - start);
    }
}

static void split_llama3(gg_pretok *p, size_t b, size_t e, out *o) {
    split_llama3_like(p, b, e, o, 3, FOLD_UNICODE);
}
static void split_qwen2(gg_pretok *p, size_t b, size_t e, out *o) {
    split_llama3_like(p, b, e, o, 1, FOLD_ASCII);
}

/* \s+$ : the white space that ends the piece, if any. */
static void split_trailing_space(gg_pretok *p, size_t b, size_t e, out *o) {
    size_t k = e;
    while (k > b && is_ws(p, k - 1)) k--;
    emit(o, k - b);
    emit(o, e - k);
}

/* ---- std::regex-style matchers: length matched at pos, 0 for none ---- */

typedef bool (*class_fn)(const gg_pretok *p, size_t i);

static size_t run_of(const gg_pretok *p, size_t pos, size_t e, class_fn in) {
    size_t q = pos;
    while (q < e && in(p, q)) q++;
    return q - pos;
}

/* \s?X+ : an optional white space is taken only when X follows it. */
static size_t space_then_run(const gg_pretok *p, size_t pos, size_t e, class_fn in) {
    if (is_ws(p, pos) && pos + 1 < e && in(p, pos + 1)) return 1 + run_of(p, pos + 1, e, in);
    return run_of(p, pos, e, in);
}

static size_t match_newline(const gg_pretok *p, size_t pos, size_t e) {
    return is_crlf(p->cps[pos]) ? 1 : 0;
}
static size_t match_space_letters(const gg_pretok *p, size_t pos, size_t e) {
    return space_then_run(p, pos, e, is_letter);
}
static size_t match_space_punct(const gg_pretok *p, size_t pos, size_t e) {
    return space_then_run(p, pos, e, is_punct);
}
static size_t match_number(const gg_pretok *p, size_t pos, size_t e) {
    return is_number(p, pos) ? 1 : 0;
}
static size_t match_numbers(const gg_pretok *p, size_t pos, size_t e) {
    return run_of(p, pos, e, is_number);
}
static size_t match_digits3(const gg_pretok *p, size_t pos, size_t e) {
    if (e - pos < 3) return 0;
    for (size_t i = pos; i < pos + 3; i++)
        if (p->cps[i] < '0' || p->cps[i] > '9') return 0;
    return 3;
}

/* [\p{P}\$\+<=>\^~\|`]+ (falcon) and the same without ` (default) */
static bool is_falcon_punct(const gg_pretok *p, size_t i) {
    uint32_t c = p->cps[i];
    return is_punct(p, i) || (c < 0x80 && c && strchr("$+<=>^~|`", (int)c));
}
static bool is_default_punct(const gg_pretok *p, size_t i) {
    return p->cps[i] != '`' && is_falcon_punct(p, i);
}
static size_t match_falcon_punct(const gg_pretok *p, size_t pos, size_t e) {
    return run_of(p, pos, e, is_falcon_punct);
}
static size_t match_default_punct(const gg_pretok *p, size_t pos, size_t e) {
    return run_of(p, pos, e, is_default_punct);
}

/* [一-龥ࠀ-一가-퟿]+ of the DeepSeek pre-tokenizers */
static const range cjk_ranges[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};
static bool is_cjk(const gg_pretok *p, size_t i) {
    return in_ranges(wide(p, i), cjk_ranges, GG_ARRAY_LEN(cjk_ranges));
}
static size_t match_cjk(const gg_pretok *p, size_t pos, size_t e) { return run_of(p, pos, e, is_cjk); }

/* The cased letters of DeepSeek LLM's \s?[A-Za-zµÀ-Ö...]+ , as code points. */
/* clang-format off */
static const range ds_letter_ranges[] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6},
    {0x00D8, 0x00F6}, {0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293},
    {0x0295, 0x02AF}, {0x0370, 0x0373}, {0x0376, 0x0377}, {0x037B, 0x037D},
    {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A}, {0x038C, 0x038C},
    {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC},
    {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115},
    {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D},
    {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E},
    {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
/* clang-format on */
static bool is_ds_letter(const gg_pretok *p, size_t i) {
    uint32_t c = wide(p, i);
    if (c < 0x80) return (c | 32) >= 'a' && (c | 32) <= 'z';
    return in_ranges(c, ds_letter_ranges, GG_ARRAY_LEN(ds_letter_ranges));
}
static size_t match_ds_letters(const gg_pretok *p, size_t pos, size_t e) {
    return space_then_run(p, pos, e, is_ds_letter);
}

/* \s?[!-/:-~！-／：-～‘-‟　-。]+ of DeepSeek LLM */
static const range ds_punct_ranges[] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
                                        {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}};
static bool is_ds_punct(const gg_pretok *p, size_t i) {
    return in_ranges(wide(p, i), ds_punct_ranges, GG_ARRAY_LEN(ds_punct_ranges));
}
static size_t match_ds_punct(const gg_pretok *p, size_t pos, size_t e) {
    return space_then_run(p, pos, e, is_ds_punct);
}

/* ---- the driver ---- */

typedef void (*split_fn)(gg_pretok *p, size_t b, size_t e, out *o);
typedef size_t (*match_fn)(const gg_pretok *p, size_t pos, size_t e);

typedef struct pass {
    split_fn split; /* one of the two is set */
    match_fn match;
} pass;

/* std::regex_iterator over one piece: matches and the gaps between them. */
static void split_matches(gg_pretok *p, size_t b, size_t e, out *o, match_fn m) {
    size_t pos = b, gap = b;
    while (pos < e) {
        size_t n = m(p, pos, e);
        if (n == 0) {
            pos++;
            continue;
        }
        emit(o, pos - gap);
        emit(o, n);
        pos += n;
        gap = pos;
    }
    emit(o, e - gap);
}

static void run_pass(gg_pretok *p, const pass *ps) {
    out o = {p->spare, 0};
    size_t b = 0, cap = p->cap_spare;
    for (size_t i = 0; i < p->n_lens; i++) {
        size_t e = b + p->lens[i];
        if (ps->split) ps->split(p, b, e, &o);
        else split_matches(p, b, e, &o, ps->match);
        b = e;
    }
    p->spare = p->lens;
    p->cap_spare = p->cap_lens;
    p->lens = o.lens;
    p->cap_lens = cap;
    p->n_lens = o.n;
}

#define MAX_PASSES 6

/* llama.cpp's regex list for each pre-tokenizer, in order. */
static int passes_for(gg_pre_kind kind, pass *ps) {
    switch (kind) {
    case GG_PRE_GPT2:
    case GG_PRE_MPT: ps[0] = (pass){split_gpt2, NULL}; return 1;
    case GG_PRE_STARCODER:
    case GG_PRE_REFACT:
        ps[0] = (pass){NULL, match_number};
        ps[1] = (pass){split_gpt2, NULL};
        return 2;
    case GG_PRE_FALCON:
        ps[0] = (pass){NULL, match_falcon_punct};
        ps[1] = (pass){split_gpt2, NULL};
        ps[2] = (pass){NULL, match_digits3};
        return 3;
    case GG_PRE_LLAMA3: ps[0] = (pass){split_llama3, NULL}; return 1;
    case GG_PRE_QWEN2: ps[0] = (pass){split_qwen2, NULL}; return 1;
    case GG_PRE_DEEPSEEK_CODER:
        ps[0] = (pass){NULL, match_newline};
        ps[1] = (pass){NULL, match_space_letters};
        ps[2] = (pass){NULL, match_space_punct};
        ps[3] = (pass){NULL, match_cjk};
        ps[4] = (pass){NULL, match_number};
        return 5;
    case GG_PRE_DEEPSEEK_LLM:
        ps[0] = (pass){NULL, match_newline};
        ps[1] = (pass){NULL, match_ds_letters};
        ps[2] = (pass){NULL, match_ds_punct};
        ps[3] = (pass){split_trailing_space, NULL};
        ps[4] = (pass){NULL, match_cjk};
        ps[5] = (pass){NULL, match_numbers};
        return 6;
    default: /* GG_PRE_DEFAULT */
        ps[0] = (pass){NULL, match_default_punct};
        ps[1] = (pass){split_gpt2, NULL};
        ps[2] = (pass){NULL, match_numbers};
        ps[3] = (pass){NULL, match_digits3};
        return 4;
    }
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    void *nb;
    if (need <= *cap) return 0;
    if (need > SIZE_MAX / elem) return -1;
    nb = realloc(*buf, need * elem);
    if (!nb) return -1;
    *buf = nb;
    *cap = need;
    return 0;
}

static int decode_all(gg_pretok *p, const char *s, size_t len) {
    size_t i = 0, n = 0;
    if (grow((void **)&p->cps, &p->cap_cps, len, sizeof *p->cps)) return -1;
    if (grow((void **)&p->flags, &p->cap_flags, len, sizeof *p->flags)) return -1;
    while (i < len) {
        size_t used;
        uint32_t cp = gg_utf8_decode_lax(s + i, len - i, &used);
        p->cps[n] = cp;
        p->flags[n] = (uint16_t)gg_unicode_flags(cp);
        n++;
        i += used;
    }
    p->n_cps = n;
    return 0;
}

int gg_pretok_split(gg_pretok *p, gg_pre_kind kind, const char *s, size_t len) {
    pass ps[MAX_PASSES];
    int np;
    p->n_cps = p->n_lens = 0;
    if (len == 0) return 0;
    if (len >= UINT32_MAX) return -1;
    if (decode_all(p, s, len)) return -1;
    /* every word holds at least one code point, so n_cps bounds both lists */
    if (grow((void **)&p->lens, &p->cap_lens, p->n_cps, sizeof *p->lens)) return -1;
    if (grow((void **)&p->spare, &p->cap_spare, p->n_cps, sizeof *p->spare)) return -1;
    p->lens[0] = (uint32_t)p->n_cps;
    p->n_lens = 1;
    np = passes_for(kind, ps);
    for (int i = 0; i < np; i++) run_pass(p, &ps[i]);
    return 0;
}

void gg_pretok_free(gg_pretok *p) {
    free(p->cps);
    free(p->flags);
    free(p->lens);
    free(p->spare);
    memset(p, 0, sizeof *p);
}
