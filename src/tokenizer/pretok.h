/*
 * pretok.h - the pre-tokenizers of byte-level BPE: they cut a text into
 * the words that BPE merges never cross, exactly as llama.cpp's regex
 * lists do for each tokenizer.ggml.pre value.
 *
 * There is no regex engine here. Each regex of each list is a small
 * hand-written scanner over code points, written to reproduce the match
 * llama.cpp gets: its own scanners for the GPT-2 and LLaMA-3 patterns,
 * and ECMAScript std::regex semantics (leftmost match, ordered
 * alternation, unmatched gaps kept as words) for the others. A list is
 * applied the way llama.cpp applies it: every regex splits each piece
 * the previous one produced.
 *
 * Invalid UTF-8 is decoded as llama.cpp decodes it (see
 * gg_utf8_decode_lax), so a word is a run of code points; the caller
 * re-encodes it as UTF-8 and then as GPT-2 byte symbols.
 */
#ifndef GG_PRETOK_H
#define GG_PRETOK_H

#include "tokenizer_internal.h"

/* Working memory of one split; reuse it across calls to avoid mallocs.
 * Zero-initialise before first use. */
typedef struct gg_pretok {
    uint32_t *cps;   /* code points of the text */
    uint16_t *flags; /* gg_unicode_flags of each code point */
    uint32_t *lens;  /* the words: lengths in code points, in order */
    uint32_t *spare; /* second list, swapped with lens between passes */
    size_t n_cps, n_lens;
    size_t cap_cps, cap_flags, cap_lens, cap_spare;
} gg_pretok;

/* Splits s[0..len) with the pre-tokenizer `kind`; the words are
 * p->lens[0..n_lens) over p->cps. Returns -1 when memory runs out or the
 * text is too long (more than 2^32-2 code points). */
int gg_pretok_split(gg_pretok *p, gg_pre_kind kind, const char *s, size_t len);
void gg_pretok_free(gg_pretok *p);

#endif
