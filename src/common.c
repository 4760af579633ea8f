/*
 * common.c - the error value helpers declared in common.h.
 */
#include "common.h"

#include <stdio.h>
#include <string.h>

int gg_vfail(gg_err *e, const char *fmt, va_list ap) {
    if (e) vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int gg_fail(gg_err *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gg_vfail(e, fmt, ap);
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
