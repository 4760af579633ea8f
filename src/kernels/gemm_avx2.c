/*
 * gemm_avx2.c - the packed matrix products (gg_gemm_rows) on 256-bit
 * registers: quantized weights times int8 activations, for CPUs with
 * AVX2 (vpmaddubsw + vpmaddwd) and with AVX-VNNI (vpdpbusd on ymm): the
 * panel and tile of gemm_tile_x86.h at 8 rows a panel and 4 tokens a
 * tile, the tile instantiated once per instruction. The row unpackers
 * and the transposes that build Q4_K, Q5_K and Q6_K panels straight from
 * the packed rows (GT_PANEL_* in gemm_tile_x86.h) are this width's; the
 * activation packers serve every width.
 *
 * vpmaddubsw adds two u8 x s8 products into an int16 with saturation: with
 * activations up to 255 that is exact only for weights within +-64, so
 * the vpmaddubsw instance leaves out Q8_0 (whose weights reach 127) and
 * Q8_0 goes through gg_matmul_rows there; the vpdpbusd instance has no
 * such limit.
 */
#include "kernels_internal.h"
#include "gemm_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

/* The compilers that know AVX-VNNI as a function target. */
#if (defined(__clang__) && !defined(__apple_build_version__) && __clang_major__ >= 12) || \
    (defined(__clang__) && defined(__apple_build_version__) && __clang_major__ >= 13) ||  \
    (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define GG_HAVE_AVXVNNI 1
#define AVXVNNI_TARGET __attribute__((target("avxvnni")))
#endif

/* ---- this width's parts of the template (gemm_tile_x86.h) ---- */

static inline void store8(int8_t *q, const __m256i v[8], int off) {
    for (int c = 0; c < 8; c++)
        _mm256_storeu_si256((__m256i *)(q + 32 * c), _mm256_sub_epi8(v[c], _mm256_set1_epi8((char)off)));
}

/* 16 signed bytes of scale times d, to 16 floats. */
static inline void put_scales16(float *dst, __m128i s8, gg_half d) {
    const __m256 dv = _mm256_set1_ps(half(d));
    _mm256_storeu_ps(dst, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s8)), dv));
    _mm256_storeu_ps(dst + 8,
                     _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(s8, 8))), dv));
}

/* The last step of transpose (gemm_tile_x86.h): u[c] holds in 128-bit
 * lane L column 4L + c of rows 0..3, u[4 + c] of rows 4..7. */
static inline void transpose_lanes(const __m256i u[8], __m256i r[8]) {
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
    }
}

/* The template's parameters at 256 bits (see gemm_tile_x86.h). */
#define GT_GR 8
#define GT_TT 4
#define GT_ALIGN 32
typedef __m256i gt_vi;
typedef __m256 gt_vf;
typedef __m256i gt_mask;
#define gt_loadi(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define gt_storei(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define gt_loadf(p) _mm256_loadu_ps(p)
#define gt_storef(p, v) _mm256_storeu_ps(p, v)
#define gt_zeroi() _mm256_setzero_si256()
#define gt_zerof() _mm256_setzero_ps()
#define gt_set1i(x) _mm256_set1_epi32(x)
#define gt_set1f(x) _mm256_set1_ps(x)
#define gt_subi(a, b) _mm256_sub_epi32(a, b)
#define gt_cvtf(v) _mm256_cvtepi32_ps(v)
#define gt_mulf(a, b) _mm256_mul_ps(a, b)
#define gt_addf(a, b) _mm256_add_ps(a, b)
#define gt_fmaddf(a, b, c) _mm256_fmadd_ps(a, b, c)
#define gt_fnmaddf(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define gt_unpacklo32(a, b) _mm256_unpacklo_epi32(a, b)
#define gt_unpackhi32(a, b) _mm256_unpackhi_epi32(a, b)
#define gt_unpacklo64(a, b) _mm256_unpacklo_epi64(a, b)
#define gt_unpackhi64(a, b) _mm256_unpackhi_epi64(a, b)
#define gt_transpose_lanes(u, r) transpose_lanes(u, r)
/* 128 * (w0 + w1) fits an int16 for any int8 pair: vpmaddubsw is exact */
#define gt_corr_dot(acc, q) dot_maddubs(acc, _mm256_set1_epi8((char)0x80), q)
#define gt_keep(nr) _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define gt_maskloadf(p, k) _mm256_maskload_ps(p, k)
#define gt_maskstoref(p, k, v) _mm256_maskstore_ps(p, k, v)
#define GT_ROW_VECS 8
#define gt_unpack_k45(qs, qh, v) unpack_k45_256(qs, qh, v)
#define gt_unpack_q6_K(b, v) unpack_q6_K_256(b, v)
#define gt_unpack_q3_K(b, v) unpack_q3_K_256(b, v)
#define gt_unpack_2bit(qs, v) unpack_2bit_256(qs, v)
#define gt_row_store(q, v, off) store8(q, v, off)
#define gt_set1b(x) _mm256_set1_epi8(x)
#define gt_andi(a, b) _mm256_and_si256(a, b)
#define gt_srli16(a, n) _mm256_srli_epi16(a, n)
#define gt_slli16(a, n) _mm256_slli_epi16(a, n)
#define gt_subb(a, b) _mm256_sub_epi8(a, b)
#define gt_pair_transpose(src, off, o) pair_transpose8(src, off, o)
#define gt_head_transpose(src, off, o) head_transpose8(src, off, o)
#define gt_srli32(a, n) _mm256_srli_epi32(a, n)
#define gt_slli32(a, n) _mm256_slli_epi32(a, n)
#define gt_srai32(a, n) _mm256_srai_epi32(a, n)
#define gt_ori(a, b) _mm256_or_si256(a, b)
#define gt_halves_lo(v) halves_lo(v)
#define gt_halves_hi(v) halves_lo(_mm256_srli_epi32(v, 16))

/* acc + the sums of four u8 x s8 products per lane. */
ALWAYS_INLINE __m256i dot_maddubs(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#ifdef GG_HAVE_AVXVNNI
AVXVNNI_TARGET ALWAYS_INLINE __m256i dot_vnni(__m256i acc, __m256i u, __m256i s) {
    return _mm256_dpbusd_avx_epi32(acc, u, s);
}
#endif

#include "gemm_tile_x86.h"

/* ---- panels straight from the rows' packed bytes ----
 * A panel vector is one dword of each of 8 rows. The row loads do the
 * lane step of the transpose: register p takes rows p and 4 + p's
 * 16-byte pieces (a load and an insert from memory), so that two steps of
 * in-lane unpacks (8 for 4 vectors) finish it, where build_panel stores
 * each unpacked row, loads it back and transposes it in three steps. */

/* o[j] lane r = dword j of the 32 bytes at src[r] + off (r, j < 8). */
static inline void pair_transpose8(const uint8_t *const src[GT_GR], size_t off, __m256i o[8]) {
    for (int h = 0; h < 2; h++) {
        __m256i v[4];
        for (int p = 0; p < 4; p++)
            v[p] = _mm256_inserti128_si256(
                _mm256_castsi128_si256(
                    _mm_loadu_si128((const __m128i *)(const void *)(src[p] + off + 16 * h))),
                _mm_loadu_si128((const __m128i *)(const void *)(src[4 + p] + off + 16 * h)), 1);
        /* lane e of v[p]: row 4e + p's dwords 4h..4h+3 */
        const __m256i lo01 = _mm256_unpacklo_epi32(v[0], v[1]), hi01 = _mm256_unpackhi_epi32(v[0], v[1]);
        const __m256i lo23 = _mm256_unpacklo_epi32(v[2], v[3]), hi23 = _mm256_unpackhi_epi32(v[2], v[3]);
        o[4 * h] = _mm256_unpacklo_epi64(lo01, lo23);
        o[4 * h + 1] = _mm256_unpackhi_epi64(lo01, lo23);
        o[4 * h + 2] = _mm256_unpacklo_epi64(hi01, hi23);
        o[4 * h + 3] = _mm256_unpackhi_epi64(hi01, hi23);
    }
}

/* o[k] lane r = dword k of the 16 bytes at src[r] + off (r < 8, k < 4):
 * pair_transpose8's steps on one 16-byte piece. */
static inline void head_transpose8(const uint8_t *const src[GT_GR], size_t off, __m256i o[4]) {
    __m256i v[4];
    for (int p = 0; p < 4; p++)
        v[p] = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(src[p] + off))),
            _mm_loadu_si128((const __m128i *)(const void *)(src[4 + p] + off)), 1);
    const __m256i lo01 = _mm256_unpacklo_epi32(v[0], v[1]), hi01 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i lo23 = _mm256_unpacklo_epi32(v[2], v[3]), hi23 = _mm256_unpackhi_epi32(v[2], v[3]);
    o[0] = _mm256_unpacklo_epi64(lo01, lo23);
    o[1] = _mm256_unpackhi_epi64(lo01, lo23);
    o[2] = _mm256_unpacklo_epi64(hi01, hi23);
    o[3] = _mm256_unpackhi_epi64(hi01, hi23);
}

/* The half floats in the low 16 bits of each lane, as floats. */
static inline __m256 halves_lo(__m256i v) {
    const __m256i lo = _mm256_and_si256(v, _mm256_set1_epi32(0xffff));
    return _mm256_cvtph_ps(
        _mm_packus_epi32(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1)));
}

GT_PANEL_Q4_K(panel_q_q4_K, , gt_hi_nibbles)
GT_PANEL_Q5_K(panel_q_q5_K, , gt_q5_value)
GT_PANEL_Q6_K(panel_q_q6_K, , gt_q6_value)
GT_PANEL_SC_K45(panel_sc_k45)
GT_PANEL_SC_Q6_K(panel_sc_q6_K)

GT_TILE(tile_maddubs, , dot_maddubs)
#ifdef GG_HAVE_AVXVNNI
GT_TILE(tile_vnni, AVXVNNI_TARGET, dot_vnni)
#endif

/* Every type, for one instruction (Q8_0 apart: see the top). */
#define GEMM_TYPES(sfx, ATTR, tilefn)                                                               \
    GT_GEMM(gemm_q4_0_##sfx, ATTR, tilefn, 32, 32, 0, unpack_row_q4_0, NULL, NULL)                  \
    GT_GEMM(gemm_q5_0_##sfx, ATTR, tilefn, 32, 32, 0, unpack_row_q5_0, NULL, NULL)                  \
    GT_GEMM(gemm_q2_K_##sfx, ATTR, tilefn, 256, 16, 1, unpack_row_q2_K, NULL, NULL)                 \
    GT_GEMM(gemm_q3_K_##sfx, ATTR, tilefn, 256, 16, 0, unpack_row_q3_K, NULL, NULL)                 \
    GT_GEMM(gemm_q4_K_##sfx, ATTR, tilefn, 256, 32, 1, unpack_row_q4_K, panel_q_q4_K, panel_sc_k45) \
    GT_GEMM(gemm_q5_K_##sfx, ATTR, tilefn, 256, 32, 1, unpack_row_q5_K, panel_q_q5_K, panel_sc_k45) \
    GT_GEMM(gemm_q6_K_##sfx, ATTR, tilefn, 256, 16, 0, unpack_row_q6_K, panel_q_q6_K, panel_sc_q6_K)

GEMM_TYPES(maddubs, , tile_maddubs)
#ifdef GG_HAVE_AVXVNNI
GEMM_TYPES(vnni, AVXVNNI_TARGET, tile_vnni)
GT_GEMM(gemm_q8_0_vnni, AVXVNNI_TARGET, tile_vnni, 32, 32, 0, unpack_row_q8_0, NULL, NULL)
#endif

/* ---- activations ---- */

#define QSEG 2048 /* values quantized per call of the quantizer */

static void pack_q8_0_act(const float *x, void *dst, int64_t n) {
    uint8_t *qs = dst;
    float *ad = (float *)(void *)(qs + n);
    gg_block_q8_0 tmp[QSEG / 32];
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t i0 = 0; i0 < n; i0 += QSEG) {
        int64_t m = GG_MIN(QSEG, n - i0);
        gg_quantize_act(GG_TYPE_Q8_0, x + i0, tmp, m);
        for (int64_t b = 0; b < m / 32; b++) {
            _mm256_storeu_si256((__m256i *)(qs + i0 + 32 * b),
                                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)tmp[b].qs), flip));
            ad[i0 / 32 + b] = half(tmp[b].d);
        }
    }
}

static void pack_q8_K_act(const float *x, void *dst, int64_t n) {
    uint8_t *qs = dst;
    float *ad = (float *)(void *)(qs + n), *bs16 = ad + n / 256, *bs32 = bs16 + n / 16;
    int8_t *sq = (int8_t *)qs + gemm_q8_K_signed_off(n);
    gg_block_q8_K tmp[QSEG / GG_QK_K];
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t i0 = 0; i0 < n; i0 += QSEG) {
        int64_t m = GG_MIN(QSEG, n - i0);
        gg_quantize_act(GG_TYPE_Q8_K, x + i0, tmp, m);
        for (int64_t b = 0; b < m / GG_QK_K; b++) {
            int64_t i = i0 + GG_QK_K * b;
            for (int c = 0; c < 8; c++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(tmp[b].qs + 32 * c));
                _mm256_storeu_si256((__m256i *)(qs + i + 32 * c), _mm256_xor_si256(v, flip));
                _mm256_storeu_si256((__m256i *)(sq + i + 32 * c), v);
            }
            ad[i / 256] = tmp[b].d;
            for (int j = 0; j < 16; j++) bs16[i / 16 + j] = (float)tmp[b].bsums[j];
            for (int j = 0; j < 8; j++)
                bs32[i / 32 + j] = (float)(tmp[b].bsums[2 * j] + tmp[b].bsums[2 * j + 1]);
        }
    }
}

bool gg_gemm_avxvnni_compiled(void) {
#ifdef GG_HAVE_AVXVNNI
    return true;
#else
    return false;
#endif
}

void gg_gemm_fill_avx2(gg_kernel_table *t, bool vnni) {
    t->gemm_act_bytes = gemm_q8_act_bytes;
    t->gemm_pack[GG_TYPE_Q8_0] = pack_q8_0_act;
    t->gemm_pack[GG_TYPE_Q8_K] = pack_q8_K_act;
#define SET(sfx)                                                                       \
    (t->gemm[GG_TYPE_Q4_0] = gemm_q4_0_##sfx, t->gemm[GG_TYPE_Q5_0] = gemm_q5_0_##sfx, \
     t->gemm[GG_TYPE_Q2_K] = gemm_q2_K_##sfx, t->gemm[GG_TYPE_Q3_K] = gemm_q3_K_##sfx, \
     t->gemm[GG_TYPE_Q4_K] = gemm_q4_K_##sfx, t->gemm[GG_TYPE_Q5_K] = gemm_q5_K_##sfx, \
     t->gemm[GG_TYPE_Q6_K] = gemm_q6_K_##sfx)
#ifdef GG_HAVE_AVXVNNI
    if (vnni) {
        SET(vnni);
        t->gemm[GG_TYPE_Q8_0] = gemm_q8_0_vnni;
        return;
    }
#else
    (void)vnni;
#endif
    SET(maddubs);
#undef SET
}
