/*
 * bpe.c - the byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2").
 * Not built yet: this file only provides the symbols the library links.
 */
#include "tokenizer_internal.h"

int gg_bpe_init(gg_tokenizer *t, gg_err *e) {
    (void)t;
    return gg_fail(e, "BPE tokenizer: not built yet");
}

int gg_bpe_encode(const gg_tokenizer *t, const char *s, size_t len, gg_tokvec *out, gg_err *e) {
    (void)t, (void)s, (void)len, (void)out;
    return gg_fail(e, "BPE tokenizer: not built yet");
}
