/*
 * win32.c - the platform layer (platform.h) for Windows: file mapping
 * with CreateFileMapping, threads, slim reader/writer locks with condition
 * variables, QueryPerformanceCounter and the process memory counters.
 * Paths arrive as UTF-8 and are converted to UTF-16 for the wide API, so
 * any file name works whatever the ANSI code page.
 */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0601
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 /* Windows 7: SRW locks, condition variables */
#endif
#define WIN32_LEAN_AND_MEAN

#include "platform.h"

#include <windows.h>
#include <malloc.h>
#include <process.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The system's text for an error code, without the trailing newline. */
static const char *os_error_text(DWORD code, char *buf, size_t n) {
    DWORD len = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                               code, 0, buf, (DWORD)n, NULL);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == '.'))
        len--;
    if (len == 0) snprintf(buf, n, "Windows error %lu", (unsigned long)code);
    else buf[len] = '\0';
    return buf;
}

static int fail_os(gg_err *e, const char *path, const char *what) {
    DWORD code = GetLastError();
    char text[256];
    return gg_fail(e, "%s: %s: %s", path, what, os_error_text(code, text, sizeof text));
}

/* ---- file mapping ---- */

/* UTF-8 to a malloc'ed UTF-16 string; NULL when the path is not UTF-8. */
static wchar_t *widen(const char *s) {
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) return NULL;
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        free(w);
        w = NULL;
    }
    return w;
}

int gg_map_file(const char *path, gg_mapping *m, gg_err *e) {
    memset(m, 0, sizeof *m);
    wchar_t *wpath = widen(path);
    if (!wpath) return gg_fail(e, "%s: the path is not valid UTF-8", path);
    /* FILE_SHARE_DELETE lets others replace the file while it is mapped,
     * as they can on POSIX. */
    HANDLE f = CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    free(wpath);
    if (f == INVALID_HANDLE_VALUE) return fail_os(e, path, "cannot open");
    LARGE_INTEGER size;
    if (!GetFileSizeEx(f, &size)) {
        int rc = fail_os(e, path, "cannot get the size");
        CloseHandle(f);
        return rc;
    }
    if (size.QuadPart == 0) { /* a zero-length mapping is refused; empty is no error */
        CloseHandle(f);
        return 0;
    }
    if ((uint64_t)size.QuadPart > (uint64_t)SIZE_MAX) {
        CloseHandle(f);
        return gg_fail(e, "%s: %llu bytes do not fit in the address space", path,
                       (unsigned long long)size.QuadPart);
    }
    HANDLE map = CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0, NULL);
    if (!map) {
        int rc = fail_os(e, path, "cannot map");
        CloseHandle(f);
        return rc;
    }
    const void *view = MapViewOfFile(map, FILE_MAP_READ, 0, 0, 0);
    int rc = view ? 0 : fail_os(e, path, "cannot map a view");
    /* The view holds its own references to the mapping and the file. */
    CloseHandle(map);
    CloseHandle(f);
    if (rc == 0) {
        m->data = view;
        m->size = (uint64_t)size.QuadPart;
    }
    return rc;
}

void gg_unmap_file(gg_mapping *m) {
    if (m->data) UnmapViewOfFile(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- threads ---- */

struct gg_thread {
    HANDLE handle;
    void (*fn)(void *);
    void *arg;
};

struct gg_mutex {
    SRWLOCK lock;
};

struct gg_cond {
    CONDITION_VARIABLE cv;
};

static unsigned __stdcall thread_main(void *p) {
    gg_thread *t = p;
    t->fn(t->arg);
    return 0;
}

gg_thread *gg_thread_start(void (*fn)(void *), void *arg, gg_err *e) {
    gg_thread *t = malloc(sizeof *t);
    if (!t) {
        gg_fail(e, "cannot start a thread: out of memory");
        return NULL;
    }
    t->fn = fn;
    t->arg = arg;
    /* _beginthreadex rather than CreateThread so the C runtime sets up its
     * per-thread state. */
    uintptr_t h = _beginthreadex(NULL, 0, thread_main, t, 0, NULL);
    if (h == 0) {
        char text[256];
        gg_fail(e, "cannot start a thread: %s", os_error_text(GetLastError(), text, sizeof text));
        free(t);
        return NULL;
    }
    t->handle = (HANDLE)h;
    return t;
}

void gg_thread_join(gg_thread *t) {
    if (!t) return;
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    free(t);
}

gg_mutex *gg_mutex_new(void) {
    gg_mutex *m = malloc(sizeof *m);
    if (m) InitializeSRWLock(&m->lock);
    return m;
}

void gg_mutex_free(gg_mutex *m) { free(m); } /* SRW locks need no cleanup */
void gg_mutex_lock(gg_mutex *m) { AcquireSRWLockExclusive(&m->lock); }
void gg_mutex_unlock(gg_mutex *m) { ReleaseSRWLockExclusive(&m->lock); }

gg_cond *gg_cond_new(void) {
    gg_cond *c = malloc(sizeof *c);
    if (c) InitializeConditionVariable(&c->cv);
    return c;
}

void gg_cond_free(gg_cond *c) { free(c); }

void gg_cond_wait(gg_cond *c, gg_mutex *m) {
    SleepConditionVariableSRW(&c->cv, &m->lock, INFINITE, 0);
}

bool gg_cond_timedwait(gg_cond *c, gg_mutex *m, int64_t timeout_ns) {
    /* Windows counts timeouts in scheduler ticks and may give up a little
     * before the time asked; wait again for what is left so a timeout
     * never comes early. */
    int64_t deadline = gg_now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
    for (;;) {
        int64_t left = deadline - gg_now_ns();
        if (left <= 0) return false;
        int64_t ms = (left + 999999) / 1000000;
        DWORD wait = ms >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)ms;
        if (SleepConditionVariableSRW(&c->cv, &m->lock, wait, 0)) return true;
        if (GetLastError() != ERROR_TIMEOUT) return true; /* treat as a wake-up */
    }
}

void gg_cond_signal(gg_cond *c) { WakeConditionVariable(&c->cv); }
void gg_cond_broadcast(gg_cond *c) { WakeAllConditionVariable(&c->cv); }

int gg_cpu_count(void) {
    /* The affinity mask, not the machine, says what we may use. */
    DWORD_PTR process_mask, system_mask;
    if (GetProcessAffinityMask(GetCurrentProcess(), &process_mask, &system_mask)) {
        int n = 0;
        for (; process_mask; process_mask &= process_mask - 1) n++;
        if (n >= 1) return n;
    }
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwNumberOfProcessors >= 1 ? (int)si.dwNumberOfProcessors : 1;
}

void gg_thread_yield(void) { SwitchToThread(); }

/* ---- time ---- */

int64_t gg_now_ns(void) {
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f); /* cheap: read from a shared page */
    QueryPerformanceCounter(&c);
    LONGLONG freq = f.QuadPart;
    /* Split to keep counter * 1e9 from overflowing. */
    return (int64_t)(c.QuadPart / freq) * 1000000000 +
           (int64_t)(c.QuadPart % freq) * 1000000000 / freq;
}

void gg_sleep_ms(int ms) {
    if (ms > 0) Sleep((DWORD)ms);
}

/* ---- process memory ---- */

void gg_mem_usage_get(gg_mem_usage *u) {
    memset(u, 0, sizeof *u);
    /* Windows reports the working set but not how much of it is file
     * backed, so rss_anon and rss_file stay 0. */
    PROCESS_MEMORY_COUNTERS pmc;
    if (GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) {
        u->rss_total = pmc.WorkingSetSize;
        u->peak_rss = pmc.PeakWorkingSetSize;
    }
}

/* ---- aligned memory ---- */

void gg_heap_return_large_blocks(void) {} /* the Windows heap frees large blocks to the OS itself */

void *gg_aligned_alloc(size_t size) { return _aligned_malloc(size ? size : 1, 64); }
void gg_aligned_free(void *p) { _aligned_free(p); }
