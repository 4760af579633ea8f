/*
 * test_unicode.c - UTF-8 decoding and the Unicode tables. Expected values
 * come from the Unicode Standard and UnicodeData.txt itself (quoted next
 * to each check), not from the tables under test.
 */
#include "check.h"
#include "tokenizer/unicode.h"

#include <string.h>

static void check_decode(const char *s, size_t len, uint32_t cp, size_t used) {
    size_t n = 0;
    uint32_t got = gg_utf8_decode(s, len, &n);
    CHECKF(got == cp && n == used, "decode %02X..: got U+%04X/%zu want U+%04X/%zu", (uint8_t)s[0], got,
           n, cp, used);
}

static void check_lax(const char *s, size_t len, uint32_t cp, size_t used) {
    size_t n = 0;
    uint32_t got = gg_utf8_decode_lax(s, len, &n);
    CHECKF(got == cp && n == used, "lax %02X..: got U+%04X/%zu want U+%04X/%zu", (uint8_t)s[0], got, n,
           cp, used);
}

static void test_utf8(void) {
    check_decode("A", 1, 0x41, 1);
    check_decode("\xC3\xA9", 2, 0xE9, 2);
    check_decode("\xE2\x82\xAC", 3, 0x20AC, 3);
    check_decode("\xF0\x9F\x98\x80", 4, 0x1F600, 4);
    check_decode("\xF4\x8F\xBF\xBF", 4, 0x10FFFF, 4);
    /* every malformed form is U+FFFD and one byte */
    check_decode("\x80", 1, 0xFFFD, 1);             /* stray continuation */
    check_decode("\xC3", 1, 0xFFFD, 1);             /* truncated */
    check_decode("\xC3\x41", 2, 0xFFFD, 1);         /* broken */
    check_decode("\xC0\x80", 2, 0xFFFD, 1);         /* overlong NUL */
    check_decode("\xE0\x80\xAF", 3, 0xFFFD, 1);     /* overlong '/' */
    check_decode("\xED\xA0\x80", 3, 0xFFFD, 1);     /* surrogate D800 */
    check_decode("\xF4\x90\x80\x80", 4, 0xFFFD, 1); /* 0x110000 */
    check_decode("\xFF", 1, 0xFFFD, 1);
    check_decode("\xE2\x82", 2, 0xFFFD, 1); /* cut short by len */

    /* llama.cpp's decoder accepts overlongs and surrogates */
    check_lax("\xC0\x80", 2, 0, 2);
    check_lax("\xED\xA0\x80", 3, 0xD800, 3);
    check_lax("\xF4\x90\x80\x80", 4, 0xFFFD, 1); /* past U+10FFFF: llama.cpp throws */
    check_lax("\x80", 1, 0xFFFD, 1);
    check_lax("\xF8\x88\x80\x80\x80", 5, 0xFFFD, 1);
    check_lax("\xE2\x82", 2, 0xFFFD, 1);
    check_lax("\xE2\x82\x41", 3, 0xFFFD, 1);
    check_lax("\xC3\xA9", 2, 0xE9, 2);

    CHECK_EQ_INT(gg_utf8_len(0x41), 1);
    CHECK_EQ_INT(gg_utf8_len(0xC3), 2);
    CHECK_EQ_INT(gg_utf8_len(0xE2), 3);
    CHECK_EQ_INT(gg_utf8_len(0xF0), 4);
    CHECK_EQ_INT(gg_utf8_len(0x80), 1);

    /* encode then decode every scalar value */
    int bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char buf[4];
        int n = gg_utf8_encode(cp, buf);
        size_t used;
        int want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (n != want || gg_utf8_decode(buf, (size_t)n, &used) != cp || used != (size_t)n) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_categories(void) {
    CHECK_EQ_INT(gg_unicode_category('A'), GG_UC_LU);
    CHECK_EQ_INT(gg_unicode_category('z'), GG_UC_LL);
    CHECK_EQ_INT(gg_unicode_category('5'), GG_UC_ND);
    CHECK_EQ_INT(gg_unicode_category('!'), GG_UC_PO);
    CHECK_EQ_INT(gg_unicode_category('$'), GG_UC_SC);
    CHECK_EQ_INT(gg_unicode_category('+'), GG_UC_SM);
    CHECK_EQ_INT(gg_unicode_category('^'), GG_UC_SK);
    CHECK_EQ_INT(gg_unicode_category('_'), GG_UC_PC);
    CHECK_EQ_INT(gg_unicode_category('('), GG_UC_PS);
    CHECK_EQ_INT(gg_unicode_category(' '), GG_UC_ZS);
    CHECK_EQ_INT(gg_unicode_category('\n'), GG_UC_CC);
    CHECK_EQ_INT(gg_unicode_category(0x01C5), GG_UC_LT); /* Dz with caron */
    CHECK_EQ_INT(gg_unicode_category(0x02B0), GG_UC_LM); /* modifier h */
    CHECK_EQ_INT(gg_unicode_category(0x4E2D), GG_UC_LO); /* CJK, inside a First/Last range */
    CHECK_EQ_INT(gg_unicode_category(0xAC00), GG_UC_LO); /* Hangul syllable range */
    CHECK_EQ_INT(gg_unicode_category(0x0301), GG_UC_MN); /* combining acute */
    CHECK_EQ_INT(gg_unicode_category(0x0903), GG_UC_MC); /* Devanagari visarga */
    CHECK_EQ_INT(gg_unicode_category(0x20DD), GG_UC_ME); /* enclosing circle */
    CHECK_EQ_INT(gg_unicode_category(0x2167), GG_UC_NL); /* Roman numeral eight */
    CHECK_EQ_INT(gg_unicode_category(0x00BD), GG_UC_NO); /* one half */
    CHECK_EQ_INT(gg_unicode_category(0x2014), GG_UC_PD); /* em dash */
    CHECK_EQ_INT(gg_unicode_category(0x00AB), GG_UC_PI);
    CHECK_EQ_INT(gg_unicode_category(0x00BB), GG_UC_PF);
    CHECK_EQ_INT(gg_unicode_category(0x1F600), GG_UC_SO); /* emoji */
    CHECK_EQ_INT(gg_unicode_category(0x2028), GG_UC_ZL);
    CHECK_EQ_INT(gg_unicode_category(0x2029), GG_UC_ZP);
    CHECK_EQ_INT(gg_unicode_category(0x200B), GG_UC_CF); /* zero width space */
    CHECK_EQ_INT(gg_unicode_category(0xD800), GG_UC_CS);
    CHECK_EQ_INT(gg_unicode_category(0xE000), GG_UC_CO);
    CHECK_EQ_INT(gg_unicode_category(0x10FFFD), GG_UC_CO); /* plane 16 private use */
    CHECK_EQ_INT(gg_unicode_category(0x0378), GG_UC_CN);   /* unassigned Greek slot */
    CHECK_EQ_INT(gg_unicode_category(0xFFFF), GG_UC_CN);   /* noncharacter */
    CHECK_EQ_INT(gg_unicode_category(0x110000), GG_UC_CN);
    CHECK_EQ_INT(gg_unicode_category(0xFFFFFFFF), GG_UC_CN);
}

static void test_flags(void) {
    /* White_Space in PropList.txt: exactly these 25 code points */
    static const uint32_t ws[] = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x20,   0x85,   0xA0,   0x1680,
                                  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
                                  0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    int n_ws = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++)
        if (gg_unicode_flags(cp) & GG_UF_WHITESPACE) n_ws++;
    CHECK_EQ_INT(n_ws, 25);
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        CHECKF(gg_unicode_flags(ws[i]) & GG_UF_WHITESPACE, "U+%04X is white space", ws[i]);
    CHECK(!(gg_unicode_flags(0x200B) & GG_UF_WHITESPACE));
    CHECK(!(gg_unicode_flags(0x180E) & GG_UF_WHITESPACE)); /* Mongolian vowel separator, Cf since 6.3 */

    CHECK(gg_unicode_flags('A') == (GG_UF_LETTER | GG_UF_UPPER));
    CHECK(gg_unicode_flags('a') == (GG_UF_LETTER | GG_UF_LOWER));
    CHECK(gg_unicode_flags(0x01C5) == (GG_UF_LETTER | GG_UF_UPPER));
    CHECK(gg_unicode_flags('7') == GG_UF_NUMBER);
    CHECK(gg_unicode_flags(0x0301) == GG_UF_MARK);
    CHECK(gg_unicode_flags('.') == GG_UF_PUNCT);
    CHECK(gg_unicode_flags('`') == GG_UF_SYMBOL);
    CHECK(gg_unicode_flags(' ') == (GG_UF_SEPARATOR | GG_UF_WHITESPACE));
    CHECK(gg_unicode_flags('\t') == (GG_UF_CONTROL | GG_UF_WHITESPACE));
    CHECK(gg_unicode_flags(0) == GG_UF_CONTROL);
    CHECK(gg_unicode_flags(0x00AD) == GG_UF_CONTROL); /* soft hyphen, Cf */
    CHECK(gg_unicode_flags(0x0378) == 0);
}

static void test_lower(void) {
    CHECK_EQ_INT(gg_unicode_lower('A'), 'a');
    CHECK_EQ_INT(gg_unicode_lower('Z'), 'z');
    CHECK_EQ_INT(gg_unicode_lower('a'), 'a');
    CHECK_EQ_INT(gg_unicode_lower('@'), '@');
    CHECK_EQ_INT(gg_unicode_lower(0xC9), 0xE9);     /* E acute */
    CHECK_EQ_INT(gg_unicode_lower(0xD7), 0xD7);     /* multiplication sign, inside A-grave..thorn */
    CHECK_EQ_INT(gg_unicode_lower(0x0100), 0x0101); /* alternating pairs */
    CHECK_EQ_INT(gg_unicode_lower(0x0101), 0x0101);
    CHECK_EQ_INT(gg_unicode_lower(0x0130), 0x0069);   /* I with dot: simple mapping is i */
    CHECK_EQ_INT(gg_unicode_lower(0x0178), 0x00FF);   /* Y diaeresis */
    CHECK_EQ_INT(gg_unicode_lower(0x01C5), 0x01C6);   /* title case to lower */
    CHECK_EQ_INT(gg_unicode_lower(0x0391), 0x03B1);   /* Alpha */
    CHECK_EQ_INT(gg_unicode_lower(0x03A3), 0x03C3);   /* Sigma: simple mapping, no final form */
    CHECK_EQ_INT(gg_unicode_lower(0x0410), 0x0430);   /* Cyrillic A */
    CHECK_EQ_INT(gg_unicode_lower(0x1E9E), 0x00DF);   /* capital sharp s */
    CHECK_EQ_INT(gg_unicode_lower(0x2126), 0x03C9);   /* Ohm sign */
    CHECK_EQ_INT(gg_unicode_lower(0x212A), 0x006B);   /* Kelvin sign */
    CHECK_EQ_INT(gg_unicode_lower(0xFF21), 0xFF41);   /* fullwidth A */
    CHECK_EQ_INT(gg_unicode_lower(0x10400), 0x10428); /* Deseret */
    CHECK_EQ_INT(gg_unicode_lower(0x1E900), 0x1E922); /* Adlam */
    CHECK_EQ_INT(gg_unicode_lower(0x4E2D), 0x4E2D);
    CHECK_EQ_INT(gg_unicode_lower(0x110000), 0x110000);
}

static void check_nfd(uint32_t cp, const uint32_t *want, int n) {
    uint32_t got[GG_NFD_MAX];
    int k = gg_unicode_nfd(cp, got, GG_NFD_MAX);
    bool ok = k == n && memcmp(got, want, (size_t)n * sizeof(uint32_t)) == 0;
    CHECKF(ok, "nfd U+%04X: %d code points, first U+%04X", cp, k, k > 0 ? got[0] : 0);
    CHECKF(gg_unicode_nfd_first(cp) == want[0], "nfd_first U+%04X", cp);
}

static void test_nfd(void) {
    check_nfd('a', (const uint32_t[]){'a'}, 1);
    check_nfd(0xE9, (const uint32_t[]){0x65, 0x301}, 2);
    check_nfd(0xC5, (const uint32_t[]){0x41, 0x30A}, 2);
    check_nfd(0x212B, (const uint32_t[]){0x41, 0x30A}, 2); /* Angstrom: singleton then recursive */
    check_nfd(0x1E69, (const uint32_t[]){0x73, 0x323, 0x307}, 3); /* s dot below dot above */
    check_nfd(0x1F82, (const uint32_t[]){0x3B1, 0x313, 0x300, 0x345}, 4);
    check_nfd(0xAC00, (const uint32_t[]){0x1100, 0x1161}, 2);         /* Hangul LV */
    check_nfd(0xD55C, (const uint32_t[]){0x1112, 0x1161, 0x11AB}, 3); /* Hangul LVT */
    check_nfd(0xD7A3, (const uint32_t[]){0x1112, 0x1175, 0x11C2}, 3); /* last syllable */
    check_nfd(0xFB01, (const uint32_t[]){0xFB01}, 1);            /* fi ligature: compatibility only */
    check_nfd(0x00A0, (const uint32_t[]){0x00A0}, 1);            /* no-break space: compatibility only */
    check_nfd(0x2260, (const uint32_t[]){0x3D, 0x338}, 2);       /* not equal */
    check_nfd(0xF900, (const uint32_t[]){0x8C48}, 1);            /* CJK compatibility ideograph */
    check_nfd(0x1D15E, (const uint32_t[]){0x1D157, 0x1D165}, 2); /* musical half note */

    /* a small cap truncates without overrunning */
    uint32_t two[2] = {0, 0};
    gg_unicode_nfd(0x1F82, two, 2);
    CHECK(two[0] == 0x3B1 && two[1] == 0x313);
}

int main(void) {
    test_utf8();
    test_categories();
    test_flags();
    test_lower();
    test_nfd();
    CHECK(strlen(gg_unicode_version) >= 5);
    return check_done("test_unicode");
}
