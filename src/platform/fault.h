/*
 * fault.h - inside the platform layer only: the table of mappings the
 * fault guard (gg_fault_guard_install) knows. gg_map_file adds to it,
 * gg_unmap_file removes from it, and the fault handler of posix.c or
 * win32.c looks the faulting address up in it.
 */
#ifndef GG_PLATFORM_FAULT_H
#define GG_PLATFORM_FAULT_H

#include "../common.h"

/* Registers [data, data + size) as the mapping of path; the line to print
 * on a fault is prepared now, since the handler may not format. */
void gg_fault_region_add(const void *data, uint64_t size, const char *path);
void gg_fault_region_remove(const void *data);
/* The prepared line for a fault at addr, or NULL when addr is in no
 * registered mapping. Async-signal-safe: only atomic loads. */
const char *gg_fault_region_message(uintptr_t addr, size_t *len);

#endif
