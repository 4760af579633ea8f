/*
 * test_inspect.c - `ggembed inspect` and the CLI's JSON helpers.
 *
 * The helpers are compiled in from src/cli/cli_util.c (they live in the
 * program, not the library). The command is run as a child process
 * (GGEMBED_BIN) on every vocabulary fixture and on a small model written
 * here; its JSON output is checked for well-formedness by a small parser
 * below and its fields against the GGUF API or hand-computed values.
 */
#include "check.h"
#include "cli/cli_util.c"
#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out_path[1024], err_path[1024];

/* Runs `ggembed inspect ARGS`, stdout and stderr to files; returns the
 * system() status (0 on success) and the stdout text in *text. */
static int run_inspect(const char *args, char **text) {
    const char *bin = getenv("GGEMBED_BIN");
    if (!bin || !*bin) bin = "ggembed";
    char cmd[4096];
#ifdef _WIN32
    /* cmd.exe drops the first and last quote of a line that starts with
     * one, so the whole line gets an extra pair. */
    snprintf(cmd, sizeof cmd, "\"\"%s\" inspect %s > \"%s\" 2> \"%s\"\"", bin, args, out_path, err_path);
#else
    snprintf(cmd, sizeof cmd, "\"%s\" inspect %s > \"%s\" 2> \"%s\"", bin, args, out_path, err_path);
#endif
    int rc = system(cmd);
    size_t n;
    *text = (char *)check_read_file(out_path, &n);
    return rc;
}

/* ---- a minimal JSON checker: true when s is one JSON value ---- */

static const char *ws(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
    return s;
}

static const char *json_value(const char *s, int depth);

static const char *json_str(const char *s) {
    if (*s != '"') return NULL;
    for (s++; *s != '"'; s++) {
        if ((unsigned char)*s < 0x20) return NULL;
        if (*s == '\\') {
            s++;
            if (*s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) return NULL;
                s += 4;
            } else if (!*s || !strchr("\"\\/bfnrt", *s)) {
                return NULL;
            }
        }
    }
    return s + 1;
}

static const char *json_number(const char *s) {
    const char *start = s;
    if (*s == '-') s++;
    if (*s < '0' || *s > '9') return NULL;
    while ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E' || *s == '+' || *s == '-')
        s++;
    return s > start ? s : NULL;
}

static const char *json_list(const char *s, char close, bool keyed, int depth) {
    s = ws(s + 1);
    if (*s == close) return s + 1;
    for (;;) {
        if (keyed) {
            if (!(s = json_str(ws(s)))) return NULL;
            s = ws(s);
            if (*s++ != ':') return NULL;
        }
        if (!(s = json_value(s, depth + 1))) return NULL;
        s = ws(s);
        if (*s == close) return s + 1;
        if (*s++ != ',') return NULL;
    }
}

static const char *json_value(const char *s, int depth) {
    s = ws(s);
    if (depth > 64) return NULL;
    if (*s == '{') return json_list(s, '}', true, depth);
    if (*s == '[') return json_list(s, ']', false, depth);
    if (*s == '"') return json_str(s);
    if (!strncmp(s, "true", 4)) return s + 4;
    if (!strncmp(s, "false", 5)) return s + 5;
    if (!strncmp(s, "null", 4)) return s + 4;
    return json_number(s);
}

static bool json_ok(const char *s) {
    const char *end = s ? json_value(s, 0) : NULL;
    return end && *ws(end) == '\0';
}

/* The string member `name` of the top-level output, decoded; NULL when
 * absent or not a string. Caller frees. */
static char *json_member_str(const char *text, const char *name, size_t *len) {
    char pat[128];
    snprintf(pat, sizeof pat, ",\"%s\":\"", name);
    const char *p = strstr(text, pat);
    if (!p) return NULL;
    p += strlen(pat) - 1;
    const char *end = json_str(p);
    if (!end) return NULL;
    char err[128];
    return cli_json_parse_string(p, (size_t)(end - p), len, err, sizeof err);
}

static long long json_member_int(const char *text, const char *name) {
    char pat[128];
    snprintf(pat, sizeof pat, ",\"%s\":", name);
    const char *p = strstr(text, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* ---- the helpers ---- */

static char *capture(void (*fn)(FILE *, const void *), const void *arg) {
    char path[1024];
    snprintf(path, sizeof path, "%s/inspect_capture.txt", check_tmp_dir());
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fn(f, arg);
    fclose(f);
    size_t n;
    return (char *)check_read_file(path, &n);
}

static void put_tricky(FILE *f, const void *arg) {
    (void)arg;
    cli_json_string(f, "q\"b\\n\n\x01\xff\xc3\xa9\x7f", 11);
}
static void put_floats(FILE *f, const void *arg) {
    (void)arg;
    cli_json_float(f, 0.1f);
    fputc(' ', f);
    cli_json_float(f, -1.0f / 3.0f);
    fputc(' ', f);
    cli_json_float(f, 1e30f);
    fputc(' ', f);
    cli_json_float(f, (float)(1e38 * 10.0));
}

static void test_helpers(void) {
    char *s = capture(put_tricky, NULL);
    /* quote, backslash, newline escaped; 0x01 as \u0001; the lone 0xFF
     * becomes U+FFFD; é kept; DEL escaped */
    CHECKF(s && strcmp(s, "\"q\\\"b\\\\n\\n\\u0001\xef\xbf\xbd\xc3\xa9\\u007f\"") == 0, "got %s",
           s ? s : "(null)");
    CHECK(json_ok(s));
    free(s);
    s = capture(put_floats, NULL);
    float a = 0, b = 0, c = 0;
    CHECK(s && sscanf(s, "%f %f %f", &a, &b, &c) == 3 && a == 0.1f && b == -1.0f / 3.0f && c == 1e30f);
    CHECKF(s && strncmp(s, "0.1 ", 4) == 0, "shortest form of 0.1: %s", s ? s : "(null)");
    CHECK(s && strstr(s, "null") != NULL); /* infinity */
    free(s);

    size_t n;
    char err[128];
    const char *in = " \"a\\u00e9\\ud83d\\ude00\\n\\\"\\/\" \r\n";
    char *r = cli_json_parse_string(in, strlen(in), &n, err, sizeof err);
    CHECKF(r && n == 10 && memcmp(r, "a\xc3\xa9\xf0\x9f\x98\x80\n\"/", 10) == 0, "%s", r ? r : err);
    free(r);
    r = cli_json_parse_string("\"\\u0000x\"", 9, &n, err, sizeof err);
    CHECK(r && n == 2 && r[0] == 0 && r[1] == 'x');
    free(r);
    static const char *bad[] = {"\"abc",     "abc",       "\"a\" b", "\"\\x\"",
                                "\"\\u12\"", "\"a\x01\"", "\"\xff\""};
    for (size_t i = 0; i < GG_ARRAY_LEN(bad); i++) {
        err[0] = 0;
        r = cli_json_parse_string(bad[i], strlen(bad[i]), &n, err, sizeof err);
        CHECKF(r == NULL && err[0], "bad input %zu accepted", i);
        free(r);
    }
    long v = 0;
    CHECK(cli_parse_int("--threads", "12", 0, 64, &v) && v == 12);
    CHECK(!cli_parse_int("--threads", "65", 0, 64, &v));
    CHECK(!cli_parse_int("--threads", "1x", 0, 64, &v));
    CHECK(!cli_parse_int("--threads", "", 0, 64, &v));
    CHECK(!cli_parse_int("--threads", "99999999999999999999", 0, 64, &v));
}

/* ---- the command on the fixtures ---- */

static void test_fixtures(void) {
    static const char *names[] = {"ggml-vocab-bert-bge.gguf", "ggml-vocab-deepseek-coder.gguf",
                                  "ggml-vocab-gpt-2.gguf",    "ggml-vocab-llama-spm.gguf",
                                  "ggml-vocab-qwen2.gguf",    "ggml-vocab-starcoder.gguf"};
    for (size_t i = 0; i < GG_ARRAY_LEN(names); i++) {
        char path[1024], args[1200];
        snprintf(path, sizeof path, "%s/%s", check_fixtures_dir(), names[i]);
        gguf_file *f = NULL;
        gg_err e;
        gguf_str model = {"", 0};
        gguf_array toks = {0};
        CHECKF(gguf_open(path, &f, &e) == 0, "%s", e.msg);
        if (!f) continue;
        CHECK(gguf_get_str(f, "tokenizer.ggml.model", &model, NULL) == 0);
        CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &toks, NULL) == 0);

        snprintf(args, sizeof args, "\"%s\" --json", path);
        char *text = NULL;
        int rc = run_inspect(args, &text);
        CHECKF(rc == 0 && text, "%s: inspect --json exit %d", names[i], rc);
        CHECKF(json_ok(text), "%s: output is not one JSON value", names[i]);
        size_t n = 0;
        char *got = text ? json_member_str(text, "tokenizer_model", &n) : NULL;
        CHECKF(got && n == model.len && memcmp(got, model.ptr, n) == 0, "%s: tokenizer_model %s vs %.*s",
               names[i], got ? got : "(none)", (int)model.len, model.ptr);
        CHECK(text && json_member_int(text, "vocab_size") == (long long)toks.n);
        CHECK(text && json_member_int(text, "gguf_version") == gguf_version(f));
        CHECK(text && json_member_int(text, "file_size") == (long long)gguf_file_size(f));
        free(got);
        free(text);

        snprintf(args, sizeof args, "\"%s\"", path);
        rc = run_inspect(args, &text);
        char want[256];
        snprintf(want, sizeof want, "tokenizer model:     \"%.*s\"", (int)model.len, model.ptr);
        CHECKF(rc == 0 && text && strstr(text, want), "%s: text lacks %s", names[i], want);
        CHECK(text && strstr(text, "\"tokenizer.ggml.tokens\""));
        free(text);
        gguf_close(f);
    }
}

/* ---- a small model written here ---- */

static void test_model(void) {
    char path[1024], args[1200];
    snprintf(path, sizeof path, "%s/inspect_model.gguf", check_tmp_dir());
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "bert");
    gguf_set_str(w, "general.name", "tiny \"test\"");
    gguf_set_u32(w, "bert.embedding_length", 64);
    gguf_set_u32(w, "bert.block_count", 2);
    gguf_set_u32(w, "bert.attention.head_count", 4);
    gguf_set_u32(w, "bert.pooling_type", 2);
    int32_t many[20];
    for (int i = 0; i < 20; i++) many[i] = i * 10;
    gguf_set_arr(w, "test.many", GGUF_INT32, many, 20);
    int64_t ne1[2] = {64, 100}, ne2[1] = {64}, ne3[2] = {64, 64};
    gguf_add_tensor(w, "token_embd.weight", GG_TYPE_F16, 2, ne1);    /* 6400 elements, 12800 bytes */
    gguf_add_tensor(w, "norm.weight", GG_TYPE_F32, 1, ne2);          /* 64, 256 bytes */
    gguf_add_tensor(w, "blk.0.attn_q.weight", GG_TYPE_Q8_0, 2, ne3); /* 4096, 128 blocks * 34 */
    static uint8_t data[12800 + 256 + 128 * 34];
    gg_err e;
    CHECKF(gguf_writer_begin(w, path, 3, &e) == 0, "%s", e.msg);
    CHECK(gguf_write_data(w, data, sizeof data - 4352 - 256, &e) == 0);
    CHECK(gguf_write_data(w, data, 256, &e) == 0);
    CHECK(gguf_write_data(w, data, 4352, &e) == 0);
    CHECKF(gguf_writer_finish(w, &e) == 0, "%s", e.msg);
    gguf_writer_free(w);

    snprintf(args, sizeof args, "--json \"%s\"", path);
    char *text = NULL;
    CHECK(run_inspect(args, &text) == 0 && text);
    if (text) {
        CHECK(json_ok(text));
        CHECK_EQ_INT(json_member_int(text, "parameters"), 6400 + 64 + 4096);
        CHECK_EQ_INT(json_member_int(text, "embedding_length"), 64);
        CHECK_EQ_INT(json_member_int(text, "block_count"), 2);
        CHECK(strstr(text, ",\"head_count_kv\":null") != NULL);
        CHECK(strstr(text, ",\"pooling\":\"cls\"") != NULL);
        CHECK(strstr(text, ",\"name\":\"tiny \\\"test\\\"\"") != NULL);
        CHECK(strstr(text, "{\"type\":\"f16\",\"count\":1,\"bytes\":12800}") != NULL);
        CHECK(strstr(text, "{\"type\":\"q8_0\",\"count\":1,\"bytes\":4352}") != NULL);
        CHECK(strstr(text, "\"test.many\":{\"type\":\"array\",\"element_type\":\"int32\",\"length\":20,"
                           "\"value\":[0,10,20,30,40,50,60,70]}") != NULL);
        free(text);
    }
    snprintf(args, sizeof args, "\"%s\"", path);
    CHECK(run_inspect(args, &text) == 0 && text);
    CHECK(text && strstr(text, "pooling type:        2 (cls)"));
    CHECK(text && strstr(text, "int32[20]") &&
          strstr(text, "[0, 10, 20, 30, 40, 50, 60, 70, ... 12 more]"));
    CHECK(text && strstr(text, "KV heads:            -"));
    free(text);
    remove(path);
}

static void test_bad_file(void) {
    char path[1024], args[1200];
    snprintf(path, sizeof path, "%s/inspect_bad.gguf", check_tmp_dir());
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite("GGUF\x01\x00\x00\x00", 1, 8, f);
        fclose(f);
    }
    snprintf(args, sizeof args, "\"%s\"", path);
    char *text = NULL;
    CHECK(run_inspect(args, &text) != 0);
    free(text);
    size_t n;
    char *err = (char *)check_read_file(err_path, &n);
    CHECKF(err && strstr(err, "version 1 is not supported"), "stderr: %s", err ? err : "(none)");
    free(err);
    remove(path);
    CHECK(run_inspect("", &text) != 0); /* no model named */
    free(text);
}

int main(void) {
    snprintf(out_path, sizeof out_path, "%s/inspect_out.txt", check_tmp_dir());
    snprintf(err_path, sizeof err_path, "%s/inspect_err.txt", check_tmp_dir());
    test_helpers();
    test_fixtures();
    test_model();
    test_bad_file();
    return check_done("test_inspect");
}
