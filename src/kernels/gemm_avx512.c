/*
 * gemm_avx512.c - the packed matrix products (gg_gemm_rows) on AVX-512:
 * quantized weights times int8 activations with VNNI, and F16 weights.
 *
 * Quantized weights: the panel and tile of gemm_tile_x86.h at 16 rows a
 * panel and 8 tokens a tile, with vpdpbusd zmm, so that 8 of every 11
 * vector instructions of the tile are vpdpbusd for 32-value sub-blocks
 * (4 of 6 for 16). Here are this width's row unpackers and, for Q4_K,
 * Q5_K, Q6_K and Q8_0, panels (values, scales or both) built straight
 * from the rows' packed bytes, 16 rows at once.
 *
 * What bounds the tile of the types without mins (the pipe table at
 * GT_TILE: an fma, mul, vpmulld, vpmaddwd or vpdpwssd takes a vpdpbusd's
 * slot): Q6_K's 4 vpdpbusd and 1 fma a 16-value sub-block and Q8_0's 8
 * vpdpbusd, 1 mul and 1 fma a block reach at most 4/5 of the peak. An
 * integer scale multiply (vpmulld) costs the fma's slot, and vpmaddwd
 * would need a sub-block's sum in int16, which 16 x 127 x 32 exceeds.
 * Taking the activations as {1to16} operands (the weights, value + 32
 * or + 128, as the unsigned one; the offset out through the activations'
 * sums) measured slower than a vpbroadcastd each (nomic Q8_0 and Q6_K
 * 55% against 60% of the peak at 64 tokens).
 *
 * Activations: packed as gemm_x86.h lays them out (n bytes of value + 128,
 * then the float d of each block, then for Q8_K the sums of each 16 and
 * each 32 values as floats, for the mins), by gemm_avx2.c's packers.
 */
#include "kernels_internal.h"
#include "unpack_avx512.h"
#include "gemm_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

/* ---- this width's parts of the template (gemm_tile_x86.h) ---- */

static inline void store4(int8_t *q, const __m512i v[4], int off) {
    for (int c = 0; c < 4; c++)
        _mm512_storeu_si512(q + 64 * c, _mm512_sub_epi8(v[c], _mm512_set1_epi8((char)off)));
}

/* Q6_K's values alone (its scales go through put_scales16). */
static inline void unpack_q6_K_values(const gg_block_q6_K *w, __m512i v[4]) {
    __m512i scv[4];
    unpack_q6_K(w, v, scv);
}

/* 16 signed bytes of scale times d, to 16 floats. */
static inline void put_scales16(float *dst, __m128i s8, gg_half d) {
    _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8)),
                                        _mm512_set1_ps(half(d))));
}

/* The last step of transpose (gemm_tile_x86.h): u[4g + c] holds in
 * 128-bit lane L column 4L + c of rows 4g..4g+3. */
static inline void transpose_lanes(const __m512i u[16], __m512i r[16]) {
    for (int c = 0; c < 4; c++) {
        __m512i lo01 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
        __m512i hi01 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
        __m512i lo23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
        __m512i hi23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(lo01, lo23, 0xdd);
        r[4 + c] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(hi01, hi23, 0xdd);
    }
}

/* The template's parameters at 512 bits (see gemm_tile_x86.h). */
#define GT_GR 16
#define GT_TT 8
#define GT_ALIGN 64
#define GT_TWO_PANELS 1
typedef __m512i gt_vi;
typedef __m512 gt_vf;
typedef __mmask16 gt_mask;
#define gt_loadi(p) _mm512_loadu_si512(p)
#define gt_storei(p, v) _mm512_storeu_si512(p, v)
#define gt_loadf(p) _mm512_loadu_ps(p)
#define gt_storef(p, v) _mm512_storeu_ps(p, v)
#define gt_zeroi() _mm512_setzero_si512()
#define gt_zerof() _mm512_setzero_ps()
#define gt_set1i(x) _mm512_set1_epi32(x)
#define gt_set1f(x) _mm512_set1_ps(x)
#define gt_subi(a, b) _mm512_sub_epi32(a, b)
#define gt_cvtf(v) _mm512_cvtepi32_ps(v)
#define gt_mulf(a, b) _mm512_mul_ps(a, b)
#define gt_addf(a, b) _mm512_add_ps(a, b)
#define gt_fmaddf(a, b, c) _mm512_fmadd_ps(a, b, c)
#define gt_fnmaddf(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define gt_unpacklo32(a, b) _mm512_unpacklo_epi32(a, b)
#define gt_unpackhi32(a, b) _mm512_unpackhi_epi32(a, b)
#define gt_unpacklo64(a, b) _mm512_unpacklo_epi64(a, b)
#define gt_unpackhi64(a, b) _mm512_unpackhi_epi64(a, b)
#define gt_transpose_lanes(u, r) transpose_lanes(u, r)
#define gt_corr_dot(acc, q) _mm512_dpbusd_epi32(acc, _mm512_set1_epi8((char)0x80), q)
#define gt_keep(nr) ((__mmask16)((1u << (nr)) - 1))
#define gt_maskloadf(p, k) _mm512_maskz_loadu_ps(k, p)
#define gt_maskstoref(p, k, v) _mm512_mask_storeu_ps(p, k, v)
#define GT_ROW_VECS 4
#define gt_unpack_k45(qs, qh, v) unpack_k45(qs, qh, v)
#define gt_unpack_q6_K(b, v) unpack_q6_K_values(b, v)
#define gt_unpack_q3_K(b, v) unpack_q3_K(b, v)
#define gt_unpack_2bit(qs, v) unpack_2bit(qs, v)
#define gt_row_store(q, v, off) store4(q, v, off)
#define gt_set1b(x) _mm512_set1_epi8(x)
#define gt_andi(a, b) _mm512_and_si512(a, b)
#define gt_srli16(a, n) _mm512_srli_epi16(a, n)
#define gt_slli16(a, n) _mm512_slli_epi16(a, n)
#define gt_subb(a, b) _mm512_sub_epi8(a, b)
#define gt_pair_transpose(src, off, o) pair_transpose(src, off, o)
#define gt_head_transpose(src, off, o) head_transpose(src, off, o)
#define gt_srli32(a, n) _mm512_srli_epi32(a, n)
#define gt_slli32(a, n) _mm512_slli_epi32(a, n)
#define gt_srai32(a, n) _mm512_srai_epi32(a, n)
#define gt_ori(a, b) _mm512_or_si512(a, b)
#define gt_halves_lo(v) _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v))
#define gt_halves_hi(v) _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)))

#include "gemm_tile_x86.h"

/* ---- panels straight from the rows' packed bytes ----
 * A panel vector is one dword of each of 16 rows. Gathering 16 rows'
 * 32-byte pieces into panel order is a transpose of 16 x 8 dwords; the
 * row loads do its first step: each register takes two rows' pieces (a
 * 256-bit load and a 256-bit insert from memory, which issue on the load
 * ports and either vector ALU), so three steps of two-source permutes are
 * left (24 vpermt2d for 8 vectors) where transpose() takes four on
 * vectors of one row (32 shuffles for the same 8 vectors' worth). On an
 * Intel Xeon every 512-bit shuffle issues on one port, which made them
 * the bound of the panel build. */

/* Dword indices of the three steps, as functions of the result's lane
 * pos; see pair_transpose. */
#define PT1(s, pos) ((((pos) >> 1) & 1) * 16 + ((pos)&1) * 8 + 4 * (s) + ((pos) >> 2))
#define PT2(c, pos) ((((pos) >> 2) & 1) * 16 + 4 * (2 * (c) + ((pos) >> 3)) + ((pos)&3))
#define PT3(e, pos) (((pos) >> 3) * 16 + 8 * (e) + ((pos)&7))
#define PT_IDX(F, a)                                                                                   \
    _mm512_setr_epi32(F(a, 0), F(a, 1), F(a, 2), F(a, 3), F(a, 4), F(a, 5), F(a, 6), F(a, 7), F(a, 8), \
                      F(a, 9), F(a, 10), F(a, 11), F(a, 12), F(a, 13), F(a, 14), F(a, 15))

/* o[j] lane r = dword j of the 32 bytes at src[r] + off (r < 16, j < 8).
 * v[p] holds rows 2p (low half) and 2p + 1 (high half): lane 8e + j is
 * row 2p + e's dword j. Step 1 makes x[a][s], lane 4jj + 2q + e = row
 * 4a + 2q + e's dword 4s + jj, from v[2a] and v[2a + 1]; step 2 y[b][c],
 * lane 8e + rr = row 8b + rr's dword 2c + e, from x[2b][c / 2] and
 * x[2b + 1][c / 2]; step 3 o[2c + e], lane 8b + rr = row 8b + rr's dword
 * 2c + e, from y[0][c] and y[1][c]. */
static inline void pair_transpose(const uint8_t *const src[GT_GR], size_t off, __m512i o[8]) {
    __m512i v[8], x[4][2], y[2][4];
    for (int p = 0; p < 8; p++)
        v[p] =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(
                                   (const __m256i *)(const void *)(src[2 * p] + off))),
                               _mm256_loadu_si256((const __m256i *)(const void *)(src[2 * p + 1] + off)),
                               1);
    const __m512i i10 = PT_IDX(PT1, 0), i11 = PT_IDX(PT1, 1);
    for (int a = 0; a < 4; a++) {
        x[a][0] = _mm512_permutex2var_epi32(v[2 * a], i10, v[2 * a + 1]);
        x[a][1] = _mm512_permutex2var_epi32(v[2 * a], i11, v[2 * a + 1]);
    }
    const __m512i i20 = PT_IDX(PT2, 0), i21 = PT_IDX(PT2, 1);
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 4; c++)
            y[b][c] = _mm512_permutex2var_epi32(x[2 * b][c / 2], c % 2 ? i21 : i20, x[2 * b + 1][c / 2]);
    const __m512i i30 = PT_IDX(PT3, 0), i31 = PT_IDX(PT3, 1);
    for (int c = 0; c < 4; c++) {
        o[2 * c] = _mm512_permutex2var_epi32(y[0][c], i30, y[1][c]);
        o[2 * c + 1] = _mm512_permutex2var_epi32(y[0][c], i31, y[1][c]);
    }
}

/* o[k] lane r = dword k of the 16 bytes at src[r] + off (r < 16, k < 4):
 * a block's leading fields over the rows, for the panel's scales. v[g]'s
 * 128-bit lane L is row 4g + L's 16 bytes (a load and three inserts from
 * memory); step 1 makes a[h][t], lane 8e + rr = row 8h + rr's dword
 * 2t + e, from v[2h] and v[2h + 1]; step 2 is pair_transpose's last.
 * (4 gathers of 16 dwords measured the same here.) */
#define HD1(t, pos) (16 * (((pos)&7) >> 2) + 4 * ((pos)&3) + 2 * (t) + ((pos) >> 3))
static inline void head_transpose(const uint8_t *const src[GT_GR], size_t off, __m512i o[4]) {
    __m512i v[4], a[2][2];
    for (int g = 0; g < 4; g++) {
        v[g] = _mm512_castsi128_si512(
            _mm_loadu_si128((const __m128i *)(const void *)(src[4 * g] + off)));
#define HD_ROW(l) _mm_loadu_si128((const __m128i *)(const void *)(src[4 * g + (l)] + off))
        v[g] = _mm512_inserti32x4(v[g], HD_ROW(1), 1); /* immediates even unoptimized */
        v[g] = _mm512_inserti32x4(v[g], HD_ROW(2), 2);
        v[g] = _mm512_inserti32x4(v[g], HD_ROW(3), 3);
#undef HD_ROW
    }
    const __m512i i10 = PT_IDX(HD1, 0), i11 = PT_IDX(HD1, 1);
    for (int h = 0; h < 2; h++) {
        a[h][0] = _mm512_permutex2var_epi32(v[2 * h], i10, v[2 * h + 1]);
        a[h][1] = _mm512_permutex2var_epi32(v[2 * h], i11, v[2 * h + 1]);
    }
    const __m512i i30 = PT_IDX(PT3, 0), i31 = PT_IDX(PT3, 1);
    for (int t = 0; t < 2; t++) {
        o[2 * t] = _mm512_permutex2var_epi32(a[0][t], i30, a[1][t]);
        o[2 * t + 1] = _mm512_permutex2var_epi32(a[0][t], i31, a[1][t]);
    }
}

/* GFNI's affine byte map (vgf2p8affineqb) does in one instruction what
 * takes a shift and a mask or more: output bit i of each byte is the XOR
 * of the input bits that row i of an 8 x 8 bit matrix selects, then XOR
 * bit i of a constant. GF_BIT(i, j): output bit i takes input bit j (the
 * matrix's byte 7 - i is output bit i's row). Not every AVX-512 CPU has
 * GFNI (Skylake-SP and Cascade Lake, with VNNI, do not): each panel that
 * uses it has a twin without, chosen at run time (panel_gfni). */
#define GF_BIT(i, j) ((long long)((1ull << (j)) << (8 * (7 - (i)))))
#define GFNI_TARGET __attribute__((target("gfni")))

/* 0: never; else where the CPU has it (gg_gemm_avx512_gfni) */
static atomic_int gfni_mode = -1;

void gg_gemm_avx512_gfni(int mode) { atomic_store_explicit(&gfni_mode, mode, memory_order_relaxed); }

static bool panel_gfni(void) {
    return atomic_load_explicit(&gfni_mode, memory_order_relaxed) != 0 && gg_cpu_get()->gfni;
}

/* name(): name_gf where the CPU has GFNI, else name_plain. */
#define GFNI_TWIN(name)                                                                         \
    static void name(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) { \
        if (panel_gfni()) name##_gf(w, rb, nr, k0, m, p);                                       \
        else name##_plain(w, rb, nr, k0, m, p);                                                 \
    }

/* Q4_K values: chunk c of a super-block is 32 bytes whose byte l holds
 * value 64c + l in its low nibble and 64c + 32 + l in its high one, so
 * dword d of the chunk, transposed over the rows, is the panel vector of
 * values 64c + 4d.. (low nibbles) and 64c + 32 + 4d.. (high nibbles).
 * The GFNI twins of gemm_tile_x86.h's value steps follow. */
GFNI_TARGET static inline __m512i hi_nibbles_gf(__m512i x) {
    const long long mat = GF_BIT(0, 4) | GF_BIT(1, 5) | GF_BIT(2, 6) | GF_BIT(3, 7);
    return _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64(mat), 0);
}
GT_PANEL_Q4_K(panel_q_q4_K_plain, , gt_hi_nibbles)
GT_PANEL_Q4_K(panel_q_q4_K_gf, GFNI_TARGET, hi_nibbles_gf)
GFNI_TWIN(panel_q_q4_K)

GFNI_TARGET static inline __m512i q5_value_gf(__m512i lo, __m512i hv, int k) {
    const __m512i b4 = _mm512_gf2p8affine_epi64_epi8(hv, _mm512_set1_epi64(GF_BIT(4, k)), 0);
    return _mm512_ternarylogic_epi32(lo, b4, _mm512_set1_epi8(0x0f), 0xec);
}
GT_PANEL_Q5_K(panel_q_q5_K_plain, , gt_q5_value)
GT_PANEL_Q5_K(panel_q_q5_K_gf, GFNI_TARGET, q5_value_gf)
GFNI_TWIN(panel_q_q5_K)

/* The same by one affine map of hi: (2 bits h << 4) - 32 is h0 at bit 4
 * and NOT h1 at bits 5-7 (h = 0..3 give 0xe0, 0xf0, 0x00, 0x10), which
 * is then or'ed under lo's low nibble. */
GFNI_TARGET static inline __m512i q6_value_gf(int i, __m512i lo, __m512i hi) {
    const long long mat = GF_BIT(4, 2 * i) | GF_BIT(5, 2 * i + 1) | GF_BIT(6, 2 * i + 1) |
                          GF_BIT(7, 2 * i + 1);
    const __m512i top = _mm512_gf2p8affine_epi64_epi8(hi, _mm512_set1_epi64(mat), 0xe0);
    return _mm512_ternarylogic_epi32(lo, top, _mm512_set1_epi8(0x0f), 0xec); /* (lo & m4) | top */
}
GT_PANEL_Q6_K(panel_q_q6_K_plain, , gt_q6_value)
GT_PANEL_Q6_K(panel_q_q6_K_gf, GFNI_TARGET, q6_value_gf)
GFNI_TWIN(panel_q_q6_K)

/* Lane r: row rb + r's byte offset from row rb (r < 16; the gathers'
 * index, so 15 rows must span less than 2 GiB). */
static inline __m512i row_offsets(const gg_matrix *w) {
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_mullo_epi32(iota, _mm512_set1_epi32((int)w->row_bytes));
}

static const gg_block_q8_0 q8_0_blank[SEG / 32];

/* Q8_0 values straight from 16 rows' blocks: dword j of a block's 32
 * values, transposed over the rows, is the panel vector of values 4j.. */
static void panel_q_q8_0(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) {
    const uint8_t *rows[GT_GR];
    panel_rows(w, rb, nr, k0 / 32, sizeof(gg_block_q8_0), q8_0_blank, rows);
    for (int64_t b = 0; b < m / 32; b++) {
        __m512i o[8];
        pair_transpose(rows, b * sizeof(gg_block_q8_0) + offsetof(gg_block_q8_0, qs), o);
        for (int j = 0; j < 8; j++) _mm512_storeu_si512(p->q[8 * b + j], o[j]);
    }
}

/* Q8_0 scales of 16 rows at once: each block's leading dword (d and two
 * values) gathered, one row a lane, and d widened as half() does. */
static void panel_sc_q8_0(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) {
    const __mmask16 live = (__mmask16)((1u << nr) - 1);
    const __m512i idx = row_offsets(w);
    const uint8_t *base = (const uint8_t *)w->data + (size_t)rb * w->row_bytes +
                          (size_t)(k0 / 32) * sizeof(gg_block_q8_0);
    for (int64_t b = 0; b < m / 32; b++) {
        const __m512i dd = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, idx,
                                                       base + (size_t)b * sizeof(gg_block_q8_0), 1);
        _mm512_storeu_ps(p->sc[b], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd)));
    }
}

GT_PANEL_SC_Q6_K(panel_sc_q6_K)
GT_PANEL_SC_K45(panel_sc_k45)

#define VNNI_DOT(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
GT_TILE(tile, , VNNI_DOT)
GT_TILE2P(tile2p, , VNNI_DOT)

GT_GEMM(gemm_q8_0, , tile, 32, 32, 0, unpack_row_q8_0, panel_q_q8_0, panel_sc_q8_0)
GT_GEMM(gemm_q4_0, , tile, 32, 32, 0, unpack_row_q4_0, NULL, NULL)
GT_GEMM(gemm_q5_0, , tile, 32, 32, 0, unpack_row_q5_0, NULL, NULL)
GT_GEMM(gemm_q2_K, , tile, 256, 16, 1, unpack_row_q2_K, NULL, NULL)
GT_GEMM(gemm_q3_K, , tile, 256, 16, 0, unpack_row_q3_K, NULL, NULL)
GT_GEMM(gemm_q4_K, , tile, 256, 32, 1, unpack_row_q4_K, panel_q_q4_K, panel_sc_k45)
GT_GEMM(gemm_q5_K, , tile, 256, 32, 1, unpack_row_q5_K, panel_q_q5_K, panel_sc_k45)
GT_GEMM(gemm_q6_K, , tile, 256, 16, 0, unpack_row_q6_K, panel_q_q6_K, panel_sc_q6_K)

/* ---- activations ----
 * Packed by gemm_avx2.c's packers (the AVX2 table, which this level's
 * starts from), in the layout of gemm_x86.h. */

/* ---- F16 ---- */

#define F_SEG 2048 /* values per weight segment */
#define F_TR 4     /* weight rows per tile */
#define F_TT 4     /* tokens per tile */

static void prefetch_tile(const gg_matrix *w, int64_t r0, int64_t r1, int64_t k0, int64_t m) {
    size_t b0 = (size_t)k0 * 2, b1 = (size_t)(k0 + m) * 2;
    for (int64_t r = r0; r < r1; r++) {
        const char *row = (const char *)w->data + (size_t)r * w->row_bytes;
        for (size_t o = b0; o < b1; o += 64) _mm_prefetch(row + o, _MM_HINT_T0);
    }
}

/* F16: weights widened to floats per tile of rows, activations kept as
 * the F16 row gg_quantize_act makes (widened as they are loaded, once
 * for the 4 rows of a tile); one FMA per row, token and 16 values. */
typedef struct fbuf {
    float w[F_TR][F_SEG];
} fbuf;

static void pack_f16_act(const float *x, void *dst, int64_t n) {
    gg_quantize_act(GG_TYPE_F16, x, dst, n);
}

ALWAYS_INLINE void micro_f16(int NR, int NT, int64_t m, const fbuf *b, const gg_half *const *a,
                             float out[F_TR][F_TT]) {
    __m512 acc[F_TR][F_TT];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < m; i += 16) {
        __m512 w[F_TR];
        for (int r = 0; r < NR; r++) w[r] = _mm512_loadu_ps(b->w[r] + i);
        for (int t = 0; t < NT; t++) {
            __m512 av = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a[t] + i)));
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(w[r], av, acc[r][t]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out[r][t] = _mm512_reduce_add_ps(acc[r][t]);
}

static void micro_f16_any(int nr, int nt, int64_t m, const fbuf *b, const gg_half *const *a,
                          float out[F_TR][F_TT]) {
/* clang-format off */
#define CASE(R, T) \
    case (R) * 8 + (T): micro_f16(R, T, m, b, a, out); break;
    switch (nr * 8 + nt) {
        CASE(4, 4) CASE(4, 3) CASE(4, 2) CASE(4, 1)
        CASE(3, 4) CASE(3, 3) CASE(3, 2) CASE(3, 1)
        CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1)
        CASE(1, 4) CASE(1, 3) CASE(1, 2) CASE(1, 1)
    default: break;
    }
/* clang-format on */
#undef CASE
}

static void gemm_f16(const gg_matrix *w, const void *act, size_t stride, int n_tok, float *y,
                     int64_t ldy, int64_t r0, int64_t r1) {
    fbuf buf;
    const int64_t n = w->cols;
    for (int64_t rb = r0; rb < r1; rb += F_TR) {
        int nr = (int)GG_MIN(F_TR, r1 - rb);
        for (int64_t k0 = 0; k0 < n; k0 += F_SEG) {
            int64_t m = GG_MIN(F_SEG, n - k0);
            for (int r = 0; r < nr; r++) {
                const gg_half *row =
                    (const gg_half *)((const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes) + k0;
                for (int64_t i = 0; i < m; i += 16)
                    _mm512_storeu_ps(buf.w[r] + i,
                                     _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i))));
            }
            prefetch_tile(w, rb + F_TR, GG_MIN(rb + 2 * F_TR, r1), k0, m);
            for (int t0 = 0; t0 < n_tok; t0 += F_TT) {
                int nt = GG_MIN(F_TT, n_tok - t0);
                const gg_half *a[F_TT];
                float out[F_TR][F_TT];
                for (int t = 0; t < nt; t++)
                    a[t] = (const gg_half *)((const uint8_t *)act + (size_t)(t0 + t) * stride) + k0;
                micro_f16_any(nr, nt, m, &buf, a, out);
                for (int t = 0; t < nt; t++) {
                    float *yt = y + (int64_t)(t0 + t) * ldy + rb;
                    for (int r = 0; r < nr; r++) yt[r] = k0 == 0 ? out[r][t] : yt[r] + out[r][t];
                }
            }
        }
    }
}

static size_t gemm_act_bytes(gg_type vdt, int64_t n) {
    if (vdt == GG_TYPE_F16) return (size_t)n * 2;
    return gemm_q8_act_bytes(vdt, n);
}

void gg_gemm_fill_avx512(gg_kernel_table *t, bool ext) {
    t->gemm_act_bytes = gemm_act_bytes;
    t->gemm_pack[GG_TYPE_F16] = pack_f16_act;
    t->gemm[GG_TYPE_F16] = gemm_f16;
    if (!ext || !gg_cpu_get()->avx512vnni) return;
    memset(t->gemm_few, 0, sizeof t->gemm_few); /* they were the vpmaddubsw products' */
    t->gemm[GG_TYPE_Q8_0] = gemm_q8_0;
    t->gemm[GG_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[GG_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[GG_TYPE_Q2_K] = gemm_q2_K;
    t->gemm[GG_TYPE_Q3_K] = gemm_q3_K;
    t->gemm[GG_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[GG_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[GG_TYPE_Q6_K] = gemm_q6_K;
}
