/*
 * cli_util.c - helpers shared by the subcommands: writing JSON strings
 * and floats, reading one JSON string literal, parsing integer options.
 *
 * JSON output must stay valid whatever bytes a model or a user hands us
 * (vocabularies hold arbitrary bytes), so invalid UTF-8 is replaced, not
 * passed through. JSON input, on the other hand, is rejected when it is
 * not valid: guessing what a broken request meant helps nobody.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if the bytes
 * there are not one (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_valid_len(const unsigned char *s, size_t len) {
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
    else return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

void cli_json_string(FILE *out, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': fputs("\\n", out); break;
            case '\r': fputs("\\r", out); break;
            case '\t': fputs("\\t", out); break;
            case '\b': fputs("\\b", out); break;
            case '\f': fputs("\\f", out); break;
            default: fprintf(out, "\\u%04x", c); break;
            }
            i++;
        } else if (c == 0x7F) {
            fputs("\\u007f", out); /* legal raw, but invisible in a terminal */
            i++;
        } else {
            size_t n = utf8_valid_len(p + i, len - i);
            if (n == 0) {
                fputs("\xEF\xBF\xBD", out); /* U+FFFD for one bad byte */
                i++;
            } else {
                fwrite(p + i, 1, n, out);
                i += n;
            }
        }
    }
    fputc('"', out);
}

void cli_json_float(FILE *out, float v) {
    if (isnan(v) || isinf(v)) {
        fputs("null", out); /* JSON has no NaN or infinity */
        return;
    }
    /* The shortest precision that reads back bit-exact; 9 always does. */
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    fputs(buf, out);
}

bool cli_parse_int(const char *opt, const char *val, long lo, long hi, long *out) {
    if (val == NULL || *val == '\0') {
        fprintf(stderr, "ggembed: option %s needs an integer value\n", opt);
        return false;
    }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (*end != '\0' || end == val) {
        fprintf(stderr, "ggembed: option %s: '%s' is not an integer\n", opt, val);
        return false;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "ggembed: option %s: %s is out of range [%ld, %ld]\n", opt, val, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* ---- reading a JSON string literal ---- */

static char *parse_fail(char *buf, char *err, size_t err_len, const char *fmt, ...) {
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    free(buf);
    return NULL;
}

static int hex4(const char *s, size_t left, uint32_t *out) {
    if (left < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the \u escape whose hex digits start at line[*i]; a high
 * surrogate followed by \u and a low one forms a pair. A lone surrogate is
 * legal JSON but not a character: it becomes U+FFFD, as JavaScript's
 * TextEncoder does. Returns -1 on bad hex. */
static int parse_u_escape(const char *line, size_t len, size_t *i, uint32_t *cp) {
    uint32_t hi;
    if (hex4(line + *i, len - *i, &hi) < 0) return -1;
    *i += 4;
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
        *cp = 0xFFFD;
        return 0;
    }
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = hi;
        return 0;
    }
    uint32_t lo;
    if (len - *i >= 6 && line[*i] == '\\' && line[*i + 1] == 'u' &&
        hex4(line + *i + 2, len - *i - 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
        *i += 6;
        *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    } else {
        *cp = 0xFFFD;
    }
    return 0;
}

static bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char *cli_json_parse_string(const char *line, size_t len, size_t *out_len, char *err, size_t err_len) {
    size_t i = 0;
    while (i < len && is_json_space(line[i])) i++;
    if (i == len || line[i] != '"')
        return parse_fail(NULL, err, err_len, "expected a JSON string at byte %zu", i);
    i++;
    /* Escapes never expand: the output fits in the input's length. */
    char *buf = malloc(len + 1);
    if (!buf) return parse_fail(NULL, err, err_len, "out of memory");
    size_t o = 0;
    for (;;) {
        if (i >= len) return parse_fail(buf, err, err_len, "unterminated JSON string");
        unsigned char c = (unsigned char)line[i];
        if (c == '"') {
            i++;
            break;
        }
        if (c < 0x20)
            return parse_fail(buf, err, err_len, "control character 0x%02x in JSON string at byte %zu",
                              c, i);
        if (c != '\\') {
            size_t n = utf8_valid_len((const unsigned char *)line + i, len - i);
            if (n == 0)
                return parse_fail(buf, err, err_len, "invalid UTF-8 in JSON string at byte %zu", i);
            memcpy(buf + o, line + i, n);
            o += n, i += n;
            continue;
        }
        if (++i >= len) return parse_fail(buf, err, err_len, "unterminated JSON string");
        char esc = line[i++];
        switch (esc) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (parse_u_escape(line, len, &i, &cp) < 0)
                return parse_fail(buf, err, err_len, "bad \\u escape in JSON string at byte %zu", i - 2);
            o += utf8_put(cp, buf + o);
            break;
        }
        default:
            return parse_fail(buf, err, err_len, "bad escape '\\%c' in JSON string at byte %zu", esc,
                              i - 2);
        }
    }
    while (i < len && is_json_space(line[i])) i++;
    if (i != len)
        return parse_fail(buf, err, err_len, "unexpected data after the JSON string at byte %zu", i);
    buf[o] = '\0';
    *out_len = o;
    return buf;
}
