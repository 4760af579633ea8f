/*
 * common_cpu.c - which SIMD instruction sets this CPU and OS let us use,
 * and the pause hint for spin loops. Shared by every OS: the kernels pick
 * their AVX2 or AVX-512 versions from gg_cpu_get() at run time, so one
 * binary runs on any x86-64.
 *
 * An instruction set is usable only when the CPU has it (cpuid) and the
 * OS saves its registers on a context switch (xgetbv reads XCR0); the
 * second check matters on old kernels and in some virtual machines.
 */
#include "platform.h"

#include <stdatomic.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define GG_CPUID 1
#include <cpuid.h>
#endif

#if defined(GG_CPUID)
static bool bit(unsigned reg, int n) { return (reg >> n) & 1u; }

/* XCR0 lists the register states the OS preserves. Inline assembly rather
 * than _xgetbv(), which would need -mxsave for this whole file. */
static uint64_t read_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(gg_cpu_features *f) {
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1 || !__get_cpuid(1, &a, &b, &c, &d)) return;
    bool avx = bit(c, 28), fma = bit(c, 12), f16c = bit(c, 29);
    if (!bit(c, 27) || !avx) return; /* no OSXSAVE: no AVX state at all */
    uint64_t xcr0 = read_xcr0();
    bool os_avx = (xcr0 & 0x6) == 0x6;      /* XMM and YMM state */
    bool os_avx512 = (xcr0 & 0xe6) == 0xe6; /* plus opmask, ZMM0-15 high, ZMM16-31 */
    if (!os_avx) return;
    f->fma = fma;
    f->f16c = f16c;
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned max_sub7 = a;
    f->avx2 = bit(b, 5);
    f->gfni = bit(c, 8);
    if (os_avx512) {
        f->avx512f = bit(b, 16);
        f->avx512dq = bit(b, 17) && f->avx512f;
        f->avx512bw = bit(b, 30) && f->avx512f;
        f->avx512vl = bit(b, 31) && f->avx512f;
        f->avx512vnni = bit(c, 11) && f->avx512f;
    }
    if (max_sub7 >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f->avxvnni = bit(a, 4) && f->avx2;
        f->avx512bf16 = bit(a, 5) && f->avx512f;
    }
}
#else
static void detect(gg_cpu_features *f) { (void)f; }
#endif

static gg_cpu_features features;
static atomic_int features_state; /* 0 unknown, 1 being written, 2 ready */

const gg_cpu_features *gg_cpu_get(void) {
    if (atomic_load_explicit(&features_state, memory_order_acquire) == 2) return &features;
    gg_cpu_features f = {0};
    detect(&f);
    int expected = 0;
    if (atomic_compare_exchange_strong(&features_state, &expected, 1)) {
        features = f;
        atomic_store_explicit(&features_state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&features_state, memory_order_acquire) != 2) gg_cpu_relax();
    }
    return &features;
}

void gg_cpu_relax(void) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __asm__ volatile("pause" ::: "memory");
#elif (defined(__aarch64__) || defined(__arm__)) && defined(__GNUC__)
    __asm__ volatile("yield" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}
