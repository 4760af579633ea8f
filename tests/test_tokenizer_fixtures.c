/*
 * test_tokenizer_fixtures.c - every vocabulary fixture in
 * ../shared/fixtures/vocab: tokenizes each text of NAME.gguf.inp (no
 * special tokens added, none parsed) and compares with the ids llama.cpp
 * produced, NAME.gguf.out (see the README there for the format).
 */
#include "check.h"
#include "tokenizer/tokenizer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEPARATOR "\n__ggml_vocab_test__\n"

/* Parses one line of .out (" 1 2 3") into ids; returns the count. */
static int parse_ids(const char *line, size_t len, int32_t *ids, int cap) {
    int n = 0;
    const char *p = line, *end = line + len;
    while (p < end) {
        while (p < end && *p == ' ') p++;
        if (p == end) break;
        long v = strtol(p, (char **)&p, 10);
        if (n < cap) ids[n] = (int32_t)v;
        n++;
    }
    return n;
}

static void print_ids(const char *what, const int32_t *ids, int64_t n) {
    fprintf(stderr, "    %s:", what);
    for (int64_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static void check_case(const char *name, const gg_tokenizer *t, const char *text, size_t len,
                       const char *line, size_t line_len, int index) {
    enum { CAP = 4096 };
    static int32_t want[CAP], got[CAP];
    int n_want = parse_ids(line, line_len, want, CAP);
    gg_tok_options opt = {.add_special = false, .parse_special = false};
    gg_err e = {{0}};
    int64_t n = gg_tokenize(t, text, len, &opt, got, CAP, &e);
    bool ok = n == n_want && n <= CAP && memcmp(got, want, (size_t)n * sizeof(int32_t)) == 0;
    CHECKF(ok, "%s case %d (%zu bytes \"%.*s\"): %s", name, index, len, (int)GG_MIN(len, 60), text,
           n < 0 ? e.msg : "ids differ");
    if (!ok && n >= 0) {
        print_ids("want", want, n_want);
        print_ids("got ", got, GG_MIN(n, CAP));
    }
}

static void run_fixture(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gguf_file *f = NULL;
    gg_tokenizer *t = NULL;
    gg_err e = {{0}};
    if (gguf_open(path, &f, &e)) {
        CHECKF(false, "%s: %s", name, e.msg);
        return;
    }
    if (gg_tokenizer_load(f, &t, &e)) {
        CHECKF(false, "%s: %s", name, e.msg);
        gguf_close(f);
        return;
    }
    size_t in_len = 0, out_len = 0;
    snprintf(path, sizeof path, "%s/%s.inp", dir, name);
    char *inp = (char *)check_read_file(path, &in_len);
    snprintf(path, sizeof path, "%s/%s.out", dir, name);
    char *out = (char *)check_read_file(path, &out_len);
    CHECKF(inp && out, "%s: cannot read .inp/.out", name);
    int cases = 0;
    const char *p = inp, *q = out;
    while (inp && out && p < inp + in_len) {
        const char *sep = strstr(p, SEPARATOR);
        if (!sep) break;
        const char *nl = memchr(q, '\n', (size_t)(out + out_len - q));
        CHECKF(nl != NULL, "%s: .out has fewer lines than .inp has texts", name);
        if (!nl) break;
        check_case(name, t, p, (size_t)(sep - p), q, (size_t)(nl - q), cases);
        cases++;
        p = sep + strlen(SEPARATOR);
        q = nl + 1;
    }
    CHECKF(cases > 0, "%s: no test texts found", name);
    fprintf(stderr, "%s: %d cases (%s)\n", name, cases, gg_tokenizer_info(t)->model_name);
    free(inp);
    free(out);
    gg_tokenizer_free(t);
    gguf_close(f);
}

int main(void) {
    const char *dir = check_fixtures_dir();
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open fixtures directory %s", dir);
    int files = 0;
    while (d) {
        struct dirent *ent = readdir(d);
        if (!ent) break;
        size_t n = strlen(ent->d_name);
        if (n < 5 || strcmp(ent->d_name + n - 5, ".gguf") != 0) continue;
        run_fixture(dir, ent->d_name);
        files++;
    }
    if (d) closedir(d);
    CHECKF(files >= 6, "found %d fixture files, expected at least 6", files);
    return check_done("test_tokenizer_fixtures");
}
