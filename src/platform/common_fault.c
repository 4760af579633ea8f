/*
 * common_fault.c - the table of guarded mappings (fault.h). A fixed array,
 * because the fault handler can neither lock nor allocate: a slot is
 * claimed with a compare-and-swap, filled, then published with a release
 * store that the handler's acquire load pairs with.
 */
#include "fault.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "platform.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_LIVE };

typedef struct region {
    atomic_int state;
    uintptr_t start, end;
    size_t len;
    char line[1024];
} region;

static region regions[GG_FAULT_REGIONS];

void gg_fault_region_add(const void *data, uint64_t size, const char *path) {
    if (!data || size == 0) return;
    for (size_t i = 0; i < GG_FAULT_REGIONS; i++) {
        region *r = &regions[i];
        int expect = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&r->state, &expect, SLOT_FILLING)) continue;
        r->start = (uintptr_t)data;
        r->end = r->start + (uintptr_t)size;
        int n = snprintf(r->line, sizeof r->line,
                         "ggembed: error: %s: reading the mapped model file failed: it was "
                         "truncated or became unreadable while in use; stopping\n",
                         path);
        if (n < 0 || (size_t)n >= sizeof r->line) { /* a very long path: keep the line whole */
            n = (int)sizeof r->line - 1;
            r->line[n - 1] = '\n';
        }
        r->len = (size_t)n;
        atomic_store_explicit(&r->state, SLOT_LIVE, memory_order_release);
        return;
    }
}

void gg_fault_region_remove(const void *data) {
    for (size_t i = 0; i < GG_FAULT_REGIONS; i++) {
        region *r = &regions[i];
        if (atomic_load_explicit(&r->state, memory_order_acquire) == SLOT_LIVE &&
            r->start == (uintptr_t)data) {
            atomic_store_explicit(&r->state, SLOT_FREE, memory_order_release);
            return;
        }
    }
}

const char *gg_fault_region_message(uintptr_t addr, size_t *len) {
    for (size_t i = 0; i < GG_FAULT_REGIONS; i++) {
        const region *r = &regions[i];
        if (atomic_load_explicit(&r->state, memory_order_acquire) != SLOT_LIVE) continue;
        if (addr >= r->start && addr < r->end) {
            *len = r->len;
            return r->line;
        }
    }
    return NULL;
}
