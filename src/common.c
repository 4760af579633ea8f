/*
 * common.c - the error value helpers and the byte budget of common.h.
 */
#include "common.h"

#include <stdio.h>
#include <string.h>

const char *gg_err_kind_name(gg_err_kind k) {
    static const char *const names[] = {
#define GG_ERR_NAME(id, name, about) name,
        GG_ERR_KINDS(GG_ERR_NAME)
#undef GG_ERR_NAME
    };
    return (unsigned)k < GG_E_KIND_COUNT ? names[k] : "unknown";
}

int gg_vfail(gg_err *e, gg_err_kind kind, const char *fmt, va_list ap) {
    if (!e) return -1;
    e->kind = kind;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int gg_fail(gg_err *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gg_vfail(e, GG_E_INVALID, fmt, ap);
    va_end(ap);
    return -1;
}

int gg_fail_kind(gg_err *e, gg_err_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gg_vfail(e, kind, fmt, ap);
    va_end(ap);
    return -1;
}

void gg_err_prefix(gg_err *e, const char *fmt, ...) {
    if (!e) return;
    char prefix[GG_ERR_MAX / 2 - 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* The message keeps its start when the two do not fit together. */
    char old[GG_ERR_MAX / 2];
    memcpy(old, e->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
}

bool gg_budget_reserve(gg_budget *b, size_t n, bool must) {
    if (!b) return true;
    size_t used = atomic_load(&b->used);
    do {
        if (!must && b->limit && (n > b->limit || used > b->limit - n)) return false;
    } while (!atomic_compare_exchange_weak(&b->used, &used, used + n));
    size_t peak = atomic_load(&b->peak);
    while (used + n > peak && !atomic_compare_exchange_weak(&b->peak, &peak, used + n)) {}
    return true;
}

void gg_budget_release(gg_budget *b, size_t n) {
    if (b && n) atomic_fetch_sub(&b->used, n);
}
