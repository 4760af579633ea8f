/*
 * test_pretok.c - the BPE pre-tokenizers against splits worked out by
 * hand from llama.cpp's regex lists (one group per tokenizer.ggml.pre),
 * the lenient UTF-8 decoder, and the invariants on arbitrary bytes: the
 * words cover the text exactly and none is empty.
 */
#include "check.h"
#include "tokenizer/pretok.h"
#include "tokenizer/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits text and joins the words with '|' into buf. */
static const char *words(gg_pretok *p, gg_pre_kind kind, const char *text, char *buf, size_t cap) {
    size_t n = 0, b = 0;
    if (gg_pretok_split(p, kind, text, strlen(text)) != 0) return "<error>";
    for (size_t i = 0; i < p->n_lens; i++) {
        if (i > 0 && n + 1 < cap) buf[n++] = '|';
        for (size_t j = b; j < b + p->lens[i]; j++) {
            char u[4];
            int k = gg_utf8_encode(p->cps[j], u);
            if (n + (size_t)k < cap) memcpy(buf + n, u, (size_t)k), n += (size_t)k;
        }
        b += p->lens[i];
    }
    buf[n] = 0;
    return buf;
}

#define SPLIT(kind, text, expect)                                                                     \
    do {                                                                                              \
        char buf_[512];                                                                               \
        const char *got_ = words(&p, kind, text, buf_, sizeof buf_);                                  \
        CHECKF(strcmp(got_, expect) == 0, "%s on \"%s\": got \"%s\", want \"%s\"", #kind, text, got_, \
               expect);                                                                               \
    } while (0)

static void test_decode(void) {
    size_t used;
    CHECK_EQ_INT(gg_utf8_decode_lax("A", 1, &used), 'A');
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(gg_utf8_decode_lax("\xF0\x9F\x98\x80", 4, &used), 0x1F600);
    CHECK_EQ_INT(used, 4);
    /* llama.cpp accepts overlong forms and surrogates as they are */
    CHECK_EQ_INT(gg_utf8_decode_lax("\xC0\x80", 2, &used), 0);
    CHECK_EQ_INT(used, 2);
    CHECK_EQ_INT(gg_utf8_decode_lax("\xED\xA0\x80", 3, &used), 0xD800);
    CHECK_EQ_INT(used, 3);
    /* and replaces the rest one byte at a time */
    CHECK_EQ_INT(gg_utf8_decode_lax("\x80", 1, &used), 0xFFFD);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(gg_utf8_decode_lax("\xE2\x82", 2, &used), 0xFFFD);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(gg_utf8_decode_lax("\xE2\x41\x41", 3, &used), 0xFFFD);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(gg_utf8_decode_lax("\xF4\x90\x80\x80", 4, &used), 0xFFFD);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(gg_utf8_decode_lax("\xFF", 1, &used), 0xFFFD);
}

static void test_gpt2(gg_pretok *pp) {
    gg_pretok p = *pp;
    SPLIT(GG_PRE_GPT2, "Hello world", "Hello| world");
    SPLIT(GG_PRE_GPT2, "I'm here, don't", "I|'m| here|,| don|'t");
    SPLIT(GG_PRE_GPT2, "It'S", "It|'|S"); /* contractions are case-sensitive */
    SPLIT(GG_PRE_GPT2, "we'll've", "we|'ll|'ve");
    SPLIT(GG_PRE_GPT2, "a  b", "a| | b");
    SPLIT(GG_PRE_GPT2, "a   ", "a|   ");
    SPLIT(GG_PRE_GPT2, "\t\tx", "\t|\t|x");
    SPLIT(GG_PRE_GPT2, "x \n y", "x| \n| y");
    SPLIT(GG_PRE_GPT2, "123abc 456", "123|abc| 456");
    SPLIT(GG_PRE_GPT2, "hello!!! world", "hello|!!!| world");
    SPLIT(GG_PRE_GPT2, "h\xC3\xA9llo w\xC3\xB6rld", "h\xC3\xA9llo| w\xC3\xB6rld");
    SPLIT(GG_PRE_GPT2, "x\xD9\xA3\xD9\xA4", "x|\xD9\xA3\xD9\xA4"); /* Arabic-Indic digits are \p{N} */
    SPLIT(GG_PRE_GPT2,
          "a\xC2\xA0"
          "b",
          "a|\xC2\xA0|b"); /* NBSP is \s but not ' ' */
    SPLIT(GG_PRE_GPT2,
          "a\xFF"
          "b",
          "a|\xEF\xBF\xBD|b"); /* bad byte -> U+FFFD, a symbol */
    SPLIT(GG_PRE_GPT2, " ", " ");
    SPLIT(GG_PRE_MPT, "Hello world", "Hello| world");
    *pp = p;
}

static void test_llama3_qwen2(gg_pretok *pp) {
    gg_pretok p = *pp;
    SPLIT(GG_PRE_LLAMA3, "Hello world", "Hello| world");
    SPLIT(GG_PRE_LLAMA3, "It'S", "It|'S"); /* (?i:...) */
    SPLIT(GG_PRE_LLAMA3, "'ll've", "'ll|'ve");
    SPLIT(GG_PRE_LLAMA3, "12345", "123|45");
    SPLIT(GG_PRE_LLAMA3, "1234567", "123|456|7");
    SPLIT(GG_PRE_LLAMA3, "x  \n\n  y", "x|  \n\n| | y");
    SPLIT(GG_PRE_LLAMA3, "!!!\n\nabc", "!!!\n\n|abc");
    SPLIT(GG_PRE_LLAMA3, "a.b", "a|.b"); /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    SPLIT(GG_PRE_LLAMA3, "\tab", "\tab");
    SPLIT(GG_PRE_LLAMA3, "\nab", "\n|ab");
    SPLIT(GG_PRE_LLAMA3, " 12", " |12");
    SPLIT(GG_PRE_LLAMA3, "x  ", "x|  ");
    SPLIT(GG_PRE_LLAMA3, "a ,b", "a| ,|b");
    SPLIT(GG_PRE_QWEN2, "12345", "1|2|3|4|5"); /* \p{N} one at a time */
    SPLIT(GG_PRE_QWEN2, "It'S a.b", "It|'S| a|.b");
    SPLIT(GG_PRE_QWEN2, "x  \n\n  y", "x|  \n\n| | y");
    SPLIT(GG_PRE_QWEN2, "int main() {\n  return 0;\n}", "int| main|()| {\n| | return| |0|;\n|}");
    *pp = p;
}

static void test_multi(gg_pretok *pp) {
    gg_pretok p = *pp;
    /* starcoder: \p{N} first, then GPT-2 on every piece */
    SPLIT(GG_PRE_STARCODER, "abc123 def", "abc|1|2|3| def");
    SPLIT(GG_PRE_STARCODER, "x 12", "x| |1|2");
    SPLIT(GG_PRE_REFACT, "x 12", "x| |1|2");
    /* falcon: symbol runs, GPT-2, then [0-9]{3} */
    SPLIT(GG_PRE_FALCON, "a+b=3 1234", "a|+|b|=|3| |123|4");
    SPLIT(GG_PRE_FALCON, "a`b", "a|`|b");
    /* default: like falcon but also \p{N}+ */
    SPLIT(GG_PRE_DEFAULT, "12345", "123|45");
    SPLIT(GG_PRE_DEFAULT, "x:=1", "x|:=|1");
    /* deepseek-coder: [\r\n], \s?\p{L}+, \s?\p{P}+, CJK runs, \p{N} */
    SPLIT(GG_PRE_DEEPSEEK_CODER, "Hello, world!\n123 \xE4\xB8\xAD\xE6\x96\x87",
          "Hello|,| world|!|\n|1|2|3| |\xE4\xB8\xAD\xE6\x96\x87");
    SPLIT(GG_PRE_DEEPSEEK_CODER, "a\r\n\r\nb", "a|\r|\n|\r|\n|b");
    SPLIT(GG_PRE_DEEPSEEK_CODER, "x  ..y", "x| | ..|y");
    /* deepseek-llm: its own letter and punctuation sets, \s+$ */
    SPLIT(GG_PRE_DEEPSEEK_LLM, "Hello  world \n", "Hello| | world| |\n");
    SPLIT(GG_PRE_DEEPSEEK_LLM, "ab 12345", "ab| |12345");
    SPLIT(GG_PRE_DEEPSEEK_LLM, "x, y!", "x|,| y|!");
    /* U+3000 is white space, so std::wregex sees it as U+000B and the
     * range "　-。" does not contain it: the run stops at it */
    SPLIT(GG_PRE_DEEPSEEK_LLM, "\xE3\x80\x82\xE3\x80\x80\xE3\x80\x80",
          "\xE3\x80\x82|\xE3\x80\x80\xE3\x80\x80");
    /* the letter set holds µ and é but not U+01BB; the Kelvin sign is in
     * it too, but the later [ࠀ-一]+ (U+0800-U+4E00) cuts it out again.
     * (Non-ASCII letters only: [!-/:-~] of the next regex re-splits ASCII.) */
    SPLIT(GG_PRE_DEEPSEEK_LLM, "\xC3\xA9\xC2\xB5", "\xC3\xA9\xC2\xB5");
    SPLIT(GG_PRE_DEEPSEEK_LLM, "\xC3\xA9\xC6\xBB", "\xC3\xA9|\xC6\xBB");
    SPLIT(GG_PRE_DEEPSEEK_LLM, "\xC3\xA9\xE2\x84\xAA", "\xC3\xA9|\xE2\x84\xAA");
    /* [:-~] takes ASCII letters too, so a word with a foreign letter inside
     * falls apart at the third regex */
    SPLIT(GG_PRE_DEEPSEEK_LLM,
          "a\xC2\xB5"
          "b",
          "a|\xC2\xB5|b");
    *pp = p;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* Any bytes: the words tile the text and none is empty. */
static void test_random(gg_pretok *p) {
    static const char pieces[][5] = {" ",
                                     "\n",
                                     "\r",
                                     "\t",
                                     "a",
                                     "Z",
                                     "7",
                                     "'",
                                     "s",
                                     ".",
                                     "\xC3\xA9",
                                     "\xE4\xB8\xAD",
                                     "\xE3\x80\x80",
                                     "\xC2\xA0",
                                     "\xF0\x9F\x98\x80",
                                     "\xFF",
                                     "\x80",
                                     "\xE2\x82",
                                     "\xED\xA0\x80",
                                     "\xD9\xA3"};
    char text[600];
    for (int round = 0; round < 400; round++) {
        size_t n = 0;
        while (n < 500) {
            const char *s = pieces[rnd() % GG_ARRAY_LEN(pieces)];
            if (rnd() % 4 == 0) text[n++] = (char)(rnd() & 0xFF);
            else memcpy(text + n, s, strlen(s)), n += strlen(s);
        }
        for (int kind = 0; kind < GG_PRE_COUNT; kind++) {
            size_t sum = 0;
            bool ok = gg_pretok_split(p, (gg_pre_kind)kind, text, n) == 0, empty = false;
            for (size_t i = 0; ok && i < p->n_lens; i++) {
                sum += p->lens[i];
                empty |= p->lens[i] == 0;
            }
            if (!ok || empty || sum != p->n_cps) {
                CHECKF(false, "kind %d round %d: split broke (ok %d, empty %d, %zu of %zu)", kind, round,
                       ok, empty, sum, p->n_cps);
                return;
            }
        }
    }
    CHECK(true);
}

int main(void) {
    gg_pretok p;
    memset(&p, 0, sizeof p);
    test_decode();
    test_gpt2(&p);
    test_llama3_qwen2(&p);
    test_multi(&p);
    test_random(&p);
    CHECK(gg_pretok_split(&p, GG_PRE_GPT2, "", 0) == 0 && p.n_lens == 0);
    gg_pretok_free(&p);
    return check_done("test_pretok");
}
