/*
 * unicode.c - UTF-8 decoding and the Unicode properties the tokenizers
 * ask about, read from the generated tables in unicode_tables.c.
 *
 * Lookups are constant time (category, white space) or a binary search
 * over a few hundred to two thousand entries (lower case, decomposition),
 * with ASCII answered before any table is touched since it dominates
 * most text.
 */
#include "unicode.h"

/* ---- UTF-8 ---- */

int gg_utf8_len(uint8_t lead) {
    if (lead < 0x80) return 1;
    if (lead < 0xC2) return 1; /* continuation byte or overlong lead */
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    if (lead < 0xF5) return 4;
    return 1;
}

static int is_cont(const char *s, size_t i) { return ((uint8_t)s[i] & 0xC0) == 0x80; }

uint32_t gg_utf8_decode(const char *s, size_t len, size_t *consumed) {
    const uint8_t *u = (const uint8_t *)s;
    int n = gg_utf8_len(u[0]);
    *consumed = 1;
    if (n == 1) return u[0] < 0x80 ? u[0] : 0xFFFD;
    if ((size_t)n > len) return 0xFFFD;
    for (int i = 1; i < n; i++)
        if (!is_cont(s, (size_t)i)) return 0xFFFD;
    uint32_t cp;
    if (n == 2) {
        cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    } else if (n == 3) {
        cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
    } else {
        cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
             ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
        if (cp < 0x10000 || cp > 0x10FFFF) return 0xFFFD;
    }
    *consumed = (size_t)n;
    return cp;
}

uint32_t gg_utf8_decode_lax(const char *s, size_t len, size_t *consumed) {
    const uint8_t *u = (const uint8_t *)s;
    size_t n;
    uint32_t cp;
    *consumed = 1;
    if (u[0] < 0x80) return u[0];
    if (u[0] < 0xC0) return 0xFFFD;
    if (u[0] < 0xE0) n = 2, cp = u[0] & 0x1F;
    else if (u[0] < 0xF0) n = 3, cp = u[0] & 0x0F;
    else if (u[0] < 0xF8) n = 4, cp = u[0] & 0x07;
    else return 0xFFFD;
    if (n > len) return 0xFFFD;
    for (size_t i = 1; i < n; i++) {
        if (!is_cont(s, i)) return 0xFFFD;
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    if (cp > 0x10FFFF) return 0xFFFD; /* no such code point: one byte at a time */
    *consumed = n;
    return cp;
}

int gg_utf8_encode(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | ((cp >> 18) & 0x07));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- categories and flags ---- */

static unsigned table_byte(uint32_t cp) {
    if (cp >= 0x110000) return GG_UC_CN;
    unsigned block = gg_utab_block[cp >> GG_UTAB_SHIFT];
    return gg_utab_cat[((size_t)block << GG_UTAB_SHIFT) | (cp & ((1u << GG_UTAB_SHIFT) - 1))];
}

gg_ucat gg_unicode_category(uint32_t cp) { return (gg_ucat)(table_byte(cp) & (GG_UTAB_WS - 1)); }

static const uint16_t category_flags[GG_UC_COUNT] = {
    [GG_UC_CN] = 0,
    [GG_UC_LU] = GG_UF_LETTER | GG_UF_UPPER,
    [GG_UC_LL] = GG_UF_LETTER | GG_UF_LOWER,
    [GG_UC_LT] = GG_UF_LETTER | GG_UF_UPPER,
    [GG_UC_LM] = GG_UF_LETTER,
    [GG_UC_LO] = GG_UF_LETTER,
    [GG_UC_MN] = GG_UF_MARK,
    [GG_UC_MC] = GG_UF_MARK,
    [GG_UC_ME] = GG_UF_MARK,
    [GG_UC_ND] = GG_UF_NUMBER,
    [GG_UC_NL] = GG_UF_NUMBER,
    [GG_UC_NO] = GG_UF_NUMBER,
    [GG_UC_PC] = GG_UF_PUNCT,
    [GG_UC_PD] = GG_UF_PUNCT,
    [GG_UC_PS] = GG_UF_PUNCT,
    [GG_UC_PE] = GG_UF_PUNCT,
    [GG_UC_PI] = GG_UF_PUNCT,
    [GG_UC_PF] = GG_UF_PUNCT,
    [GG_UC_PO] = GG_UF_PUNCT,
    [GG_UC_SM] = GG_UF_SYMBOL,
    [GG_UC_SC] = GG_UF_SYMBOL,
    [GG_UC_SK] = GG_UF_SYMBOL,
    [GG_UC_SO] = GG_UF_SYMBOL,
    [GG_UC_ZS] = GG_UF_SEPARATOR,
    [GG_UC_ZL] = GG_UF_SEPARATOR,
    [GG_UC_ZP] = GG_UF_SEPARATOR,
    [GG_UC_CC] = GG_UF_CONTROL,
    [GG_UC_CF] = GG_UF_CONTROL,
    [GG_UC_CS] = GG_UF_CONTROL,
    [GG_UC_CO] = GG_UF_CONTROL,
};

unsigned gg_unicode_flags(uint32_t cp) {
    unsigned b = table_byte(cp);
    unsigned f = category_flags[b & (GG_UTAB_WS - 1)];
    if (b & GG_UTAB_WS) f |= GG_UF_WHITESPACE;
    return f;
}

/* ---- lower case ---- */

uint32_t gg_unicode_lower(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    int lo = 0, hi = gg_utab_lower_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const int32_t *r = gg_utab_lower[mid];
        if (cp < (uint32_t)r[0]) hi = mid - 1;
        else if (cp > (uint32_t)r[1]) lo = mid + 1;
        else return ((cp - (uint32_t)r[0]) % (uint32_t)r[2]) ? cp : (uint32_t)((int32_t)cp + r[3]);
    }
    return cp;
}

/* ---- canonical decomposition ---- */

/* Hangul syllables decompose by arithmetic (Unicode chapter 3.12). */
#define HANGUL_S 0xAC00
#define HANGUL_L 0x1100
#define HANGUL_V 0x1161
#define HANGUL_T 0x11A7
#define HANGUL_N_V 21
#define HANGUL_N_T 28
#define HANGUL_COUNT 11172

static const uint32_t *find_decomp(uint32_t cp) {
    if (cp < 0xC0) return NULL; /* the first canonical decomposition is U+00C0 */
    int lo = 0, hi = gg_utab_decomp_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < gg_utab_decomp[mid][0]) hi = mid - 1;
        else if (cp > gg_utab_decomp[mid][0]) lo = mid + 1;
        else return gg_utab_decomp[mid];
    }
    return NULL;
}

static int nfd_into(uint32_t cp, uint32_t *out, int n, int cap) {
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_COUNT) {
        uint32_t s = cp - HANGUL_S, t = s % HANGUL_N_T;
        uint32_t parts[3] = {HANGUL_L + s / (HANGUL_N_V * HANGUL_N_T),
                             HANGUL_V + (s % (HANGUL_N_V * HANGUL_N_T)) / HANGUL_N_T, HANGUL_T + t};
        for (int i = 0; i < (t ? 3 : 2); i++)
            if (n < cap) out[n++] = parts[i];
        return n;
    }
    const uint32_t *d = find_decomp(cp);
    if (!d) {
        if (n < cap) out[n++] = cp;
        return n;
    }
    n = nfd_into(d[1], out, n, cap);
    return d[2] ? nfd_into(d[2], out, n, cap) : n;
}

/* The recursive expansion of one code point; canonical reordering of
 * marks only matters between neighbouring characters, so it is left to
 * callers that normalize whole strings. */
int gg_unicode_nfd(uint32_t cp, uint32_t *out, int cap) { return nfd_into(cp, out, 0, cap); }

uint32_t gg_unicode_nfd_first(uint32_t cp) {
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_COUNT)
        return HANGUL_L + (cp - HANGUL_S) / (HANGUL_N_V * HANGUL_N_T);
    for (const uint32_t *d; (d = find_decomp(cp)) != NULL;) cp = d[1];
    return cp;
}
