/*
 * win32.c - the platform layer (platform.h) for Windows: file mapping
 * with CreateFileMapping, file identity from GetFileInformationByHandle,
 * the in-page error guard (a vectored exception handler), threads, slim reader/writer locks with condition
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
#include "fault.h"

#include <windows.h>
#include <malloc.h>
#include <process.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef NDEBUG
#include <stdatomic.h>
#endif

/* The system's text for an error code, without the trailing newline. */
static const char *os_error_text(DWORD code, char *buf, size_t n) {
    DWORD len = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0,
                               buf, (DWORD)n, NULL);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == '.')) len--;
    if (len == 0) snprintf(buf, n, "Windows error %lu", (unsigned long)code);
    else buf[len] = '\0';
    return buf;
}

static int fail_os(gg_err *e, const char *path, const char *what) {
    DWORD code = GetLastError();
    char text[256];
    return gg_fail_kind(e, GG_E_IO, "%s: %s: %s", path, what, os_error_text(code, text, sizeof text));
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

static int64_t filetime_ns(FILETIME t) {
    uint64_t ticks = (uint64_t)t.dwHighDateTime << 32 | t.dwLowDateTime; /* 100 ns */
    return (int64_t)(ticks * 100);
}

static bool identity_of(HANDLE f, gg_file_identity *id) {
    BY_HANDLE_FILE_INFORMATION fi;
    if (!GetFileInformationByHandle(f, &fi)) return false;
    id->size = (uint64_t)fi.nFileSizeHigh << 32 | fi.nFileSizeLow;
    id->mtime_ns = filetime_ns(fi.ftLastWriteTime);
    id->ctime_ns = 0; /* not in BY_HANDLE_FILE_INFORMATION */
    id->device = fi.dwVolumeSerialNumber;
    id->file_id = (uint64_t)fi.nFileIndexHigh << 32 | fi.nFileIndexLow;
    return true;
}

int gg_file_identity_get(const char *path, gg_file_identity *id, gg_err *e) {
    memset(id, 0, sizeof *id);
    wchar_t *wpath = widen(path);
    if (!wpath) return gg_fail(e, "the path is not valid UTF-8");
    /* Attributes only, sharing everything: never in the way of a writer. */
    HANDLE f = CreateFileW(wpath, FILE_READ_ATTRIBUTES,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(wpath);
    char text[256];
    if (f == INVALID_HANDLE_VALUE)
        return gg_fail(e, "%s", os_error_text(GetLastError(), text, sizeof text));
    bool ok = identity_of(f, id);
    DWORD code = GetLastError();
    CloseHandle(f);
    return ok ? 0 : gg_fail(e, "%s", os_error_text(code, text, sizeof text));
}

int gg_map_file(const char *path, gg_mapping *m, gg_err *e) {
    memset(m, 0, sizeof *m);
    wchar_t *wpath = widen(path);
    if (!wpath) return gg_fail(e, "%s: the path is not valid UTF-8", path);
    /* FILE_SHARE_DELETE lets others replace the file while it is mapped,
     * as they can on POSIX. */
    HANDLE f = CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    free(wpath);
    if (f == INVALID_HANDLE_VALUE) return fail_os(e, path, "cannot open");
    LARGE_INTEGER size;
    if (!GetFileSizeEx(f, &size)) {
        int rc = fail_os(e, path, "cannot get the size");
        CloseHandle(f);
        return rc;
    }
    if (!identity_of(f, &m->id)) {
        int rc = fail_os(e, path, "cannot get the file's identity");
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
        gg_fault_region_add(m->data, m->size, path);
    }
    return rc;
}

void gg_unmap_file(gg_mapping *m) {
    if (m->data) {
        gg_fault_region_remove(m->data);
        UnmapViewOfFile(m->data);
    }
    memset(m, 0, sizeof *m);
}

/* ---- the fault guard ---- */

/* Windows refuses to truncate a file while a view of it is mapped; an
 * in-page error still comes when the pages cannot be read back (a network
 * share that went away, a removable disk, a failing drive). */
static volatile LONG guard_status = 1;
static wchar_t *guard_cleanup;
static PVOID guard_handler;

/* Runs on the faulting thread before any frame-based handler: no CRT
 * calls (the faulting thread may hold the CRT's locks), only kernel32. */
static LONG CALLBACK on_exception(EXCEPTION_POINTERS *x) {
    const EXCEPTION_RECORD *r = x->ExceptionRecord;
    if (r->ExceptionCode != EXCEPTION_IN_PAGE_ERROR || r->NumberParameters < 2)
        return EXCEPTION_CONTINUE_SEARCH;
    size_t len;
    const char *line = gg_fault_region_message((uintptr_t)r->ExceptionInformation[1], &len);
    if (!line) return EXCEPTION_CONTINUE_SEARCH;
    DWORD written;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), line, (DWORD)len, &written, NULL);
    if (guard_cleanup) DeleteFileW(guard_cleanup);
    TerminateProcess(GetCurrentProcess(), (UINT)guard_status);
    return EXCEPTION_CONTINUE_SEARCH; /* not reached */
}

int gg_fault_guard_install(int exit_status, const char *cleanup_path, gg_err *e) {
    wchar_t *w = NULL;
    if (cleanup_path && !(w = widen(cleanup_path)))
        return gg_fail(e, "'%s': the path is not valid UTF-8", cleanup_path);
    wchar_t *old = guard_cleanup;
    guard_cleanup = w;
    free(old);
    guard_status = exit_status;
    if (!guard_handler) guard_handler = AddVectoredExceptionHandler(1, on_exception);
    if (!guard_handler) return gg_fail(e, "cannot install the in-page error handler");
    return 0;
}

/* ---- threads ---- */

struct gg_thread {
    HANDLE handle;
    void (*fn)(void *);
    void *arg;
};

struct gg_mutex {
    SRWLOCK lock;
#ifndef NDEBUG
    _Atomic(const char *) owner; /* the holder's this_thread, or NULL */
#endif
};

struct gg_cond {
    CONDITION_VARIABLE cv;
};

#include "mutex_owner.h"

static unsigned __stdcall thread_main(void *p) {
    gg_thread *t = p;
    t->fn(t->arg);
    return 0;
}

gg_thread *gg_thread_start(void (*fn)(void *), void *arg, gg_err *e) {
    gg_thread *t = malloc(sizeof *t);
    if (!t) {
        gg_fail_kind(e, GG_E_MEMORY, "cannot start a thread: out of memory");
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
    gg_mutex *m = calloc(1, sizeof *m);
    if (m) InitializeSRWLock(&m->lock);
    return m;
}

void gg_mutex_free(gg_mutex *m) { free(m); } /* SRW locks need no cleanup */
void gg_mutex_lock(gg_mutex *m) {
    AcquireSRWLockExclusive(&m->lock);
    owner_set(m);
}

void gg_mutex_unlock(gg_mutex *m) {
    owner_clear(m);
    ReleaseSRWLockExclusive(&m->lock);
}

gg_cond *gg_cond_new(void) {
    gg_cond *c = malloc(sizeof *c);
    if (c) InitializeConditionVariable(&c->cv);
    return c;
}

void gg_cond_free(gg_cond *c) { free(c); }

/* A wait lets go of the lock: the owner is cleared for its duration. */
void gg_cond_wait(gg_cond *c, gg_mutex *m) {
    owner_clear(m);
    SleepConditionVariableSRW(&c->cv, &m->lock, INFINITE, 0);
    owner_set(m);
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
        owner_clear(m);
        BOOL woken = SleepConditionVariableSRW(&c->cv, &m->lock, wait, 0);
        DWORD why = woken ? 0 : GetLastError();
        owner_set(m);
        if (woken) return true;
        if (why != ERROR_TIMEOUT) return true; /* treat as a wake-up */
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
    return (int64_t)(c.QuadPart / freq) * 1000000000 + (int64_t)(c.QuadPart % freq) * 1000000000 / freq;
}

void gg_sleep_ms(int ms) {
    if (ms > 0) Sleep((DWORD)ms);
}

int64_t gg_process_cpu_ns(void) {
    FILETIME created, exited, kernel, user;
    if (!GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) return 0;
    uint64_t k = (uint64_t)kernel.dwHighDateTime << 32 | kernel.dwLowDateTime;
    uint64_t u = (uint64_t)user.dwHighDateTime << 32 | user.dwLowDateTime;
    return (int64_t)(k + u) * 100; /* FILETIME counts 100 ns */
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
