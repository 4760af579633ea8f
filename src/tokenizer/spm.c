/*
 * spm.c - the SentencePiece tokenizer (tokenizer.ggml.model = "llama").
 * Not built yet: this file only provides the symbols the library links.
 */
#include "tokenizer_internal.h"

int gg_spm_init(gg_tokenizer *t, gg_err *e) {
    (void)t;
    return gg_fail(e, "SentencePiece tokenizer: not built yet");
}

int gg_spm_encode(const gg_tokenizer *t, const char *s, size_t len, bool first, gg_tokvec *out,
                  gg_err *e) {
    (void)t, (void)s, (void)len, (void)first, (void)out;
    return gg_fail(e, "SentencePiece tokenizer: not built yet");
}
