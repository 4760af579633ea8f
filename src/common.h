/*
 * common.h - small definitions shared by every part of the library:
 * the error value, checked arithmetic and a few helpers.
 *
 * Errors are values: a function that can fail takes a `gg_err *` and
 * returns a negative number (or NULL) after filling it with a message that
 * names what was wrong, e.g. "tensor 'x': data [4096, 9000) ends past the
 * end of the file (8192 bytes)", and a kind, set where the error happens,
 * that callers branch on (never on the text). A NULL `gg_err *` is allowed
 * and means the caller does not want either.
 */
#ifndef GG_COMMON_H
#define GG_COMMON_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* printf-style argument checking; mingw's C99 printf is gnu_printf. */
#if defined(__MINGW32__)
#define GG_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__)
#define GG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GG_PRINTF(f, a)
#endif

#define GG_ERR_MAX 512

/* The kinds of error: name, and what it means. gg_fail gives INVALID, the
 * input (an argument, or the content of a file being read) is wrong; the
 * others are set explicitly where they happen. */
#define GG_ERR_KINDS(X)                                                                \
    X(GG_E_NONE, "none", "no error")                                                   \
    X(GG_E_INVALID, "invalid", "the input is wrong: an argument, or a file's content") \
    X(GG_E_IO, "io", "the operating system refused: open, map, read, write")           \
    X(GG_E_UNSUPPORTED, "unsupported", "valid, but not something ggembed runs")        \
    X(GG_E_MEMORY, "memory", "an allocation failed or would pass a ceiling")           \
    X(GG_E_TOO_LONG, "too_long", "a text is longer than the context allows")           \
    X(GG_E_CANCELLED, "cancelled", "the caller asked to stop")

typedef enum gg_err_kind {
#define GG_ERR_ENUM(id, name, about) id,
    GG_ERR_KINDS(GG_ERR_ENUM)
#undef GG_ERR_ENUM
        GG_E_KIND_COUNT
} gg_err_kind;

const char *gg_err_kind_name(gg_err_kind k);

typedef struct gg_err {
    char msg[GG_ERR_MAX];
    gg_err_kind kind;
} gg_err;

/* Formats the message into `e` (if not NULL), kind GG_E_INVALID, and
 * returns -1. */
int gg_fail(gg_err *e, const char *fmt, ...) GG_PRINTF(2, 3);
/* The same with another kind. */
int gg_fail_kind(gg_err *e, gg_err_kind kind, const char *fmt, ...) GG_PRINTF(3, 4);
int gg_vfail(gg_err *e, gg_err_kind kind, const char *fmt, va_list ap);

/* Prepends "prefix: " to an existing message, keeping it within bounds
 * (and its kind). */
void gg_err_prefix(gg_err *e, const char *fmt, ...) GG_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool gg_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
#if defined(__GNUC__)
    return !__builtin_mul_overflow(a, b, out);
#else
    if (a != 0 && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
#endif
}

static inline bool gg_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return false;
    *out = a + b;
    return true;
}

/* Bytes held against a limit, shared by threads without a lock: what the
 * server holds for requests and answers (docs/PROTOCOL.md, section 6).
 * gg_budget_reserve and gg_budget_release are the only way in and out. */
typedef struct gg_budget {
    atomic_size_t used;
    atomic_size_t peak;
    size_t limit; /* 0: no limit */
} gg_budget;

/* Adds n and returns true when the total stays within the limit; else
 * changes nothing and returns false. With must, always adds: for the
 * answer to work that was admitted (and so reserved for) already. */
bool gg_budget_reserve(gg_budget *b, size_t n, bool must);
void gg_budget_release(gg_budget *b, size_t n);

#define GG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GG_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Rounds n up to a multiple of the power of two `align`. */
static inline size_t gg_align_up(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

#endif
