/*
 * gemm_tile_x86.h - the panel and register tile of the packed matrix
 * products, written once for every x86 vector width: gemm_avx2.c
 * instantiates it at 256 bits (8 rows a panel; its tile with vpdpbusd ymm
 * for AVX-VNNI and with vpmaddubsw + vpmaddwd for plain AVX2),
 * gemm_avx512.c at 512 bits (16 rows; vpdpbusd zmm).
 *
 * The scheme. GT_GR weight rows at a time are unpacked, one segment of
 * SEG values, into a panel in L1 that every token of the call then reads:
 * one row per 32-bit lane, 4 consecutive values per lane, so that one dot
 * step of a panel vector with a token's 4 values broadcast to every lane
 * adds to each row's own sum. The panel holds per weight sub-block (the
 * values sharing one scale: 16 or 32) its int8 vectors, the rows' float
 * scales, float mins (types with mins) and -128 * the sum of each row's
 * values there (an activation is packed as its int8 value + 128, unsigned,
 * see gemm_x86.h; starting a sub-block's sum from that correction takes
 * the 128 back out). The types with mins, whose values are all >= 0, need
 * no correction: their weights are the dot's unsigned operand and the
 * packed row's signed copy of the activations its signed one (corr = 0).
 * A register tile of up to GT_TT tokens by GT_GR rows
 * then does, per sub-block si of activation block b (S values a
 * sub-block, SB an activation block; s = si's index within b),
 *     isum = corr[si] + DOT steps over its S/4 panel vectors, in order
 *                                        (exact in int32, any instruction)
 *     f = s == 0 ? float(isum) * sc[si] : fma(float(isum), sc[si], f)
 *     types with mins:  f = fnma(mn[si], bsum[si], f)   (= f - mn * bsum)
 * and per activation block (256 values for Q8_K, 32 for Q8_0)
 *     tot = fma(f, d_act[b], tot)        (tot starts at 0.0f per segment)
 * and per segment of SEG values, y = tot (first segment) or y + tot.
 * Each row and token is one lane going through the same operations in the
 * same order whatever the width, the tile, the batch, the row range or
 * the dot instruction, so a token's results depend on none of them (and
 * the levels agree bit for bit).
 *
 * The row unpackers (the panel's source where no panel_q / panel_sc
 * builds it straight from the packed rows) are here too, on the width's
 * unpackers.
 *
 * The includer defines, before including this file once:
 *   GT_GR, GT_TT, GT_ALIGN   rows a panel (= 32-bit lanes of a vector),
 *                            tokens a tile, the panel's alignment
 *   gt_vi, gt_vf, gt_mask    the integer and float vector types, a lane mask
 *   gt_loadi(p) gt_storei(p, v) gt_loadf(p) gt_storef(p, v)   unaligned
 *   gt_zeroi() gt_zerof() gt_set1i(x) gt_set1f(x) gt_subi(a, b) gt_cvtf(v)
 *   gt_mulf(a, b) gt_addf(a, b) gt_fmaddf(a, b, c) gt_fnmaddf(a, b, c)
 *   gt_unpacklo32 gt_unpackhi32 gt_unpacklo64 gt_unpackhi64   (a, b)
 *   gt_transpose_lanes(u, r) the last step of transpose (see there)
 *   gt_corr_dot(acc, q)      acc + per lane 128 * the sum of q's 4 int8
 *   gt_keep(nr)              the mask of lanes < nr
 *   gt_maskloadf(p, k) gt_maskstoref(p, k, v)   y's lanes of rows
 *   GT_ROW_VECS              vectors of a super-block's 256 int8 values
 *   gt_unpack_k45(qs, qh, v) gt_unpack_q6_K(b, v) gt_unpack_q3_K(b, v)
 *   gt_unpack_2bit(qs, v)    a super-block's values into v[GT_ROW_VECS]
 *   gt_row_store(q, v, off)  those 256 values less off, stored at q
 *   put_scales16(dst, s8, d) 16 signed bytes times half d, as floats
 *   gt_set1b(x) gt_andi(a, b) gt_srli16(a, n) gt_slli16(a, n) gt_subb(a, b)
 *                            bytes, and, 16-bit shifts, bytes' difference
 *   gt_srli32(a, n) gt_slli32(a, n) gt_srai32(a, n) gt_ori(a, b)
 *   gt_pair_transpose(src, off, o)   o[j] lane r = dword j of the 32 bytes
 *                            at src[r] + off (j < 8; GT_PANEL_Q4_K/Q5_K/Q6_K)
 *   gt_head_transpose(src, off, o)   the same for 16 bytes (j < 4)
 *   gt_halves_lo(v) gt_halves_hi(v)  the half floats in the low and high
 *                            16 bits of each lane, as floats
 * and then instantiates tiles with GT_TILE and products with GT_GEMM.
 */

#define SEG GEMM_SEG       /* values per panel, a multiple of 256 */
#define MAX_SUB (SEG / 16) /* sub-blocks per panel, at most */

typedef struct panel {
    int8_t q[SEG / 4][4 * GT_GR]; /* vector j: values 4j..4j+3 of each row */
    int32_t corr[MAX_SUB][GT_GR];
    float sc[MAX_SUB][GT_GR];
    float mn[MAX_SUB][GT_GR];
} panel;

/* The rows as unpacked, before they are turned into a panel. */
typedef struct rows_buf {
    int8_t q[GT_GR][SEG];
    float sc[GT_GR][MAX_SUB];
    float mn[GT_GR][MAX_SUB];
} rows_buf;

/* r[i] lane j <- r[j] lane i, for GT_GR vectors of GT_GR 32-bit lanes:
 * the 4 x 4 blocks inside each 128-bit lane first, then the width's
 * moves of whole 128-bit lanes (gt_transpose_lanes). */
static inline void transpose(gt_vi r[GT_GR]) {
    gt_vi t[GT_GR], u[GT_GR];
    for (int i = 0; i < GT_GR; i += 2) {
        t[i] = gt_unpacklo32(r[i], r[i + 1]);
        t[i + 1] = gt_unpackhi32(r[i], r[i + 1]);
    }
    /* u[4g + c], 128-bit lane L: column 4L + c of rows 4g..4g+3 */
    for (int g = 0; g < GT_GR / 4; g++) {
        u[4 * g] = gt_unpacklo64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = gt_unpackhi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = gt_unpacklo64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = gt_unpackhi64(t[4 * g + 1], t[4 * g + 3]);
    }
    gt_transpose_lanes(u, r);
}

/* ---- unpacking one row (row_unpack_fn) with the width's unpackers ---- */

UNPACK_32(unpack_row_q8_0, gg_block_q8_0, unpack_q8_0)
UNPACK_32(unpack_row_q4_0, gg_block_q4_0, unpack_q4_0)
UNPACK_32(unpack_row_q5_0, gg_block_q5_0, unpack_q5_0)

/* A NULL q or sc is skipped (a panel_q or panel_sc makes that part). */
#define UNPACK_K45(name, wtype, qh_of)                                                          \
    static void name(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc, float *mn) { \
        const wtype *w = (const wtype *)row + k0 / GG_QK_K;                                     \
        for (int64_t j = 0; j < m / GG_QK_K; j++) {                                             \
            if (q) {                                                                            \
                gt_vi v[GT_ROW_VECS];                                                           \
                gt_unpack_k45(w[j].qs, qh_of, v);                                               \
                gt_row_store(q + 256 * j, v, 0);                                                \
            }                                                                                   \
            if (sc) k45_scales(w[j].scales, w[j].d, w[j].dmin, sc + 8 * j, mn + 8 * j);         \
        }                                                                                       \
    }
UNPACK_K45(unpack_row_q4_K, gg_block_q4_K, NULL)
UNPACK_K45(unpack_row_q5_K, gg_block_q5_K, w[j].qh)

static void unpack_row_q6_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc, float *mn) {
    (void)mn;
    const gg_block_q6_K *w = (const gg_block_q6_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        if (q) { /* NULL: a panel_q makes the values */
            gt_vi v[GT_ROW_VECS];
            gt_unpack_q6_K(&w[j], v);
            gt_row_store(q + 256 * j, v, 32);
        }
        put_scales16(sc + 16 * j, _mm_loadu_si128((const __m128i *)w[j].scales), w[j].d);
    }
}

static void unpack_row_q3_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc, float *mn) {
    (void)mn;
    const gg_block_q3_K *w = (const gg_block_q3_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        gt_vi v[GT_ROW_VECS];
        gt_unpack_q3_K(&w[j], v);
        gt_row_store(q + 256 * j, v, 4);
        put_scales16(sc + 16 * j, q3scales(w[j].scales), w[j].d);
    }
}

static void unpack_row_q2_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc, float *mn) {
    const gg_block_q2_K *w = (const gg_block_q2_K *)row + k0 / GG_QK_K;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        gt_vi v[GT_ROW_VECS];
        gt_unpack_2bit(w[j].qs, v);
        gt_row_store(q + 256 * j, v, 0);
        __m128i raw = _mm_loadu_si128((const __m128i *)w[j].scales);
        put_scales16(sc + 16 * j, _mm_and_si128(raw, m4), w[j].d);
        put_scales16(mn + 16 * j, _mm_and_si128(_mm_srli_epi16(raw, 4), m4), w[j].dmin);
    }
}

/* ---- the panel ---- */

/* dst[j][r] = src[r][j] for the rows and j < n (the caller zeroes src
 * from n to n rounded up to GT_GR). */
static void transpose_cols(const float (*src)[MAX_SUB], int n, float (*dst)[GT_GR]) {
    for (int j0 = 0; j0 < n; j0 += GT_GR) {
        gt_vi v[GT_GR];
        for (int r = 0; r < GT_GR; r++) v[r] = gt_loadi(src[r] + j0);
        transpose(v);
        for (int j = 0; j < GT_GR && j0 + j < n; j++) gt_storei(dst[j0 + j], v[j]);
    }
}

/* Block b0 of rows rb..rb + GT_GR - 1, for the panel_q that read them
 * straight; a missing row (r >= nr) reads `blank` instead: a segment's
 * blocks whose values are 0 (q4_K_blank, q5_K_blank, q6_K_blank). */
static void panel_rows(const gg_matrix *w, int64_t rb, int nr, int64_t b0, size_t block_bytes,
                       const void *blank, const uint8_t *rows[GT_GR]) {
    for (int r = 0; r < GT_GR; r++)
        rows[r] = r < nr ? (const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes +
                               (size_t)b0 * block_bytes
                         : (const uint8_t *)blank;
}

static const gg_block_q4_K q4_K_blank[SEG / GG_QK_K];
static const gg_block_q5_K q5_K_blank[SEG / GG_QK_K];

/* Q6_K: ql 0 and qh 0xaa (each 2-bit field 2), values 32 - 32 = 0. */
#define AA8 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa
#define Q6_BLANK                                         \
    {                                                    \
        .qh = { AA8, AA8, AA8, AA8, AA8, AA8, AA8, AA8 } \
    }
static const gg_block_q6_K q6_K_blank[] = {Q6_BLANK, Q6_BLANK, Q6_BLANK, Q6_BLANK};
_Static_assert(sizeof q6_K_blank / sizeof q6_K_blank[0] == SEG / GG_QK_K, "a segment's blocks");
_Static_assert(offsetof(gg_block_q6_K, d) + 2 == sizeof(gg_block_q6_K), "d ends the block");

/* The panels' value steps on the width's plain operations, for the
 * GT_PANEL_* below (the AVX-512 file adds GFNI twins of them).
 * gt_hi_nibbles(x): x's high nibbles, as bytes. */
static inline gt_vi gt_hi_nibbles(gt_vi x) { return gt_andi(gt_srli16(x, 4), gt_set1b(0x0f)); }

/* (lo & 0x0f) | (bit k of hv) << 4; a 16-bit shift by at most 4 keeps
 * each byte's bit 4 its own */
static inline gt_vi gt_q5_value(gt_vi lo, gt_vi hv, int k) {
    const gt_vi b4 = gt_andi(k < 4 ? gt_slli16(hv, 4 - k) : gt_srli16(hv, k - 4), gt_set1b(0x10));
    return gt_ori(gt_andi(lo, gt_set1b(0x0f)), b4);
}

/* (lo & 0x0f) | (bits 2i, 2i + 1 of hi) << 4, less 32 */
static inline gt_vi gt_q6_value(int i, gt_vi lo, gt_vi hi) {
    const gt_vi top = i == 0   ? gt_slli16(hi, 4)
                      : i == 1 ? gt_slli16(hi, 2)
                      : i == 2 ? hi
                               : gt_srli16(hi, 2);
    const gt_vi v = gt_ori(gt_andi(lo, gt_set1b(0x0f)), gt_andi(top, gt_set1b(0x30)));
    return gt_subb(v, gt_set1b(32));
}

/* Q4_K values straight from the rows' packed bytes (a panel_q): chunk c
 * of a super-block is 32 bytes whose byte l holds value 64c + l in its
 * low nibble and 64c + 32 + l in its high one, so dword d of the chunk,
 * transposed over the rows, is the panel vector of values 64c + 4d..
 * (low nibbles) and 64c + 32 + 4d.. (high nibbles). HI(x): x's high
 * nibbles, as bytes. */
#define GT_PANEL_Q4_K(name, ATTR, HI)                                                                   \
    ATTR static void name(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) {    \
        const uint8_t *rows[GT_GR];                                                                     \
        panel_rows(w, rb, nr, k0 / GG_QK_K, sizeof(gg_block_q4_K), q4_K_blank, rows);                   \
        const gt_vi m4 = gt_set1b(0x0f);                                                                \
        for (int64_t b = 0; b < m / GG_QK_K; b++)                                                       \
            for (int c = 0; c < 4; c++) {                                                               \
                gt_vi o[8];                                                                             \
                gt_pair_transpose(rows,                                                                 \
                                  b * sizeof(gg_block_q4_K) + offsetof(gg_block_q4_K, qs) + 32 * c, o); \
                int8_t(*q)[4 * GT_GR] = p->q + 16 * (4 * b + c);                                        \
                for (int d = 0; d < 8; d++) {                                                           \
                    gt_storei(q[d], gt_andi(o[d], m4));                                                 \
                    gt_storei(q[8 + d], HI(o[d]));                                                      \
                }                                                                                       \
            }                                                                                           \
    }

/* Q5_K values likewise: Q4_K's nibbles, bit 4 from qh, whose byte l
 * holds value 64c + l's at bit 2c and 64c + 32 + l's at bit 2c + 1; the
 * 32 qh bytes transposed over the rows line up with every chunk's.
 * Q5(lo, hv, k): (lo & 0x0f) | (bit k of hv) << 4. */
#define GT_PANEL_Q5_K(name, ATTR, Q5)                                                                   \
    ATTR static void name(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) {    \
        const uint8_t *rows[GT_GR];                                                                     \
        panel_rows(w, rb, nr, k0 / GG_QK_K, sizeof(gg_block_q5_K), q5_K_blank, rows);                   \
        for (int64_t b = 0; b < m / GG_QK_K; b++) {                                                     \
            gt_vi hv[8];                                                                                \
            gt_pair_transpose(rows, b * sizeof(gg_block_q5_K) + offsetof(gg_block_q5_K, qh), hv);       \
            for (int c = 0; c < 4; c++) {                                                               \
                gt_vi o[8];                                                                             \
                gt_pair_transpose(rows,                                                                 \
                                  b * sizeof(gg_block_q5_K) + offsetof(gg_block_q5_K, qs) + 32 * c, o); \
                int8_t(*q)[4 * GT_GR] = p->q + 16 * (4 * b + c);                                        \
                for (int d = 0; d < 8; d++) {                                                           \
                    gt_storei(q[d], Q5(o[d], hv[d], 2 * c));                                            \
                    gt_storei(q[8 + d], Q5(gt_srli16(o[d], 4), hv[d], 2 * c + 1));                      \
                }                                                                                       \
            }                                                                                           \
        }                                                                                               \
    }

/* Q6_K values likewise. Half h of a super-block (values 128h..128h+127):
 * value 128h + 32i + l (i < 4, l < 32) has its low 4 bits in ql byte
 * 64h + l (i = 0, 2: low and high nibble) or 64h + 32 + l (i = 1, 3), and
 * its top 2 in bits 2i, 2i + 1 of qh byte 32h + l. The ql and qh pieces
 * transposed over the rows line those bytes up dword by dword; Q6(i, lo,
 * hi) makes the panel vector of value - 32 from the transposed ql bytes
 * lo (i's nibble moved to the low one, the high bits left as they are)
 * and qh bytes hi. */
#define GT_PANEL_Q6_K(name, ATTR, Q6)                                                                \
    ATTR static void name(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) { \
        const uint8_t *rows[GT_GR];                                                                  \
        panel_rows(w, rb, nr, k0 / GG_QK_K, sizeof(gg_block_q6_K), q6_K_blank, rows);                \
        for (int64_t b = 0; b < m / GG_QK_K; b++)                                                    \
            for (int h = 0; h < 2; h++) {                                                            \
                const size_t o = b * sizeof(gg_block_q6_K);                                          \
                gt_vi hv[8], l0[8], l1[8];                                                           \
                gt_pair_transpose(rows, o + offsetof(gg_block_q6_K, qh) + 32 * h, hv);               \
                gt_pair_transpose(rows, o + offsetof(gg_block_q6_K, ql) + 64 * h, l0);               \
                gt_pair_transpose(rows, o + offsetof(gg_block_q6_K, ql) + 64 * h + 32, l1);          \
                int8_t(*q)[4 * GT_GR] = p->q + 64 * b + 32 * h;                                      \
                for (int d = 0; d < 8; d++) {                                                        \
                    gt_storei(q[d], Q6(0, l0[d], hv[d]));                                            \
                    gt_storei(q[8 + d], Q6(1, l1[d], hv[d]));                                        \
                    gt_storei(q[16 + d], Q6(2, gt_srli16(l0[d], 4), hv[d]));                         \
                    gt_storei(q[24 + d], Q6(3, gt_srli16(l1[d], 4), hv[d]));                         \
                }                                                                                    \
            }                                                                                        \
    }

/* Q4_K/Q5_K scales and mins straight from the rows (a panel_sc): a
 * super-block's first 16 bytes (d, dmin, then the 12 bytes kscales
 * reads) as four dwords a row, transposed over the rows
 * (gt_head_transpose), and the 6-bit fields cut out per lane, times d or
 * dmin, as k45_scales makes them row by row. */
#define GT_PANEL_SC_K45(name)                                                                   \
    static void name(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) { \
        const size_t bb = gg_type_info(w->type)->type_size;                                     \
        const gt_vi lo6 = gt_set1i(63), lo4 = gt_set1i(15), top2 = gt_set1i(0x30);              \
        const uint8_t *rows[GT_GR];                                                             \
        panel_rows(w, rb, nr, k0 / GG_QK_K, bb, q5_K_blank, rows); /* the larger blank */       \
        for (int64_t b = 0; b < m / GG_QK_K; b++) {                                             \
            gt_vi h[4];                                                                         \
            gt_head_transpose(rows, (size_t)b *bb, h);                                          \
            const gt_vi u0 = h[1], u1 = h[2], u2 = h[3];                                        \
            const gt_vf d = gt_halves_lo(h[0]), dm = gt_halves_hi(h[0]);                        \
            for (int j = 0; j < 4; j++) {                                                       \
                const gt_vi s0 = gt_andi(gt_srli32(u0, 8 * j), lo6);                            \
                const gt_vi m0 = gt_andi(gt_srli32(u1, 8 * j), lo6);                            \
                const gt_vi s1 = gt_ori(gt_andi(gt_srli32(u2, 8 * j), lo4),                     \
                                        gt_andi(gt_srli32(u0, 8 * j + 2), top2));               \
                const gt_vi m1 = gt_ori(gt_andi(gt_srli32(u2, 8 * j + 4), lo4),                 \
                                        gt_andi(gt_srli32(u1, 8 * j + 2), top2));               \
                gt_storef(p->sc[8 * b + j], gt_mulf(gt_cvtf(s0), d));                           \
                gt_storef(p->mn[8 * b + j], gt_mulf(gt_cvtf(m0), dm));                          \
                gt_storef(p->sc[8 * b + 4 + j], gt_mulf(gt_cvtf(s1), d));                       \
                gt_storef(p->mn[8 * b + 4 + j], gt_mulf(gt_cvtf(m1), dm));                      \
            }                                                                                   \
        }                                                                                       \
    }

/* Q6_K scales straight from the rows (a panel_sc): a super-block's 16
 * int8 scales and the 16 bytes that end with d (the block's last, so no
 * load reads past it: d is the high half of their dword 3), transposed
 * over the rows; each scale sign-extended from its byte and times d, as
 * put_scales16 makes them row by row. */
#define GT_PANEL_SC_Q6_K(name)                                                                  \
    static void name(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p) { \
        const uint8_t *rows[GT_GR];                                                             \
        panel_rows(w, rb, nr, k0 / GG_QK_K, sizeof(gg_block_q6_K), q6_K_blank, rows);           \
        for (int64_t b = 0; b < m / GG_QK_K; b++) {                                             \
            const size_t o = (size_t)b * sizeof(gg_block_q6_K);                                 \
            gt_vi s4[4], t[4];                                                                  \
            gt_head_transpose(rows, o + offsetof(gg_block_q6_K, scales), s4);                   \
            gt_head_transpose(rows, o + offsetof(gg_block_q6_K, d) + 2 - 16, t);                \
            const gt_vf d = gt_halves_hi(t[3]);                                                 \
            for (int j = 0; j < 4; j++)                                                         \
                for (int k = 0; k < 4; k++) {                                                   \
                    const gt_vi sk = gt_srai32(gt_slli32(s4[j], 24 - 8 * k), 24);               \
                    gt_storef(p->sc[16 * b + 4 * j + k], gt_mulf(gt_cvtf(sk), d));              \
                }                                                                               \
        }                                                                                       \
    }

typedef struct gdesc {
    int sb;  /* values per activation scale */
    int sub; /* values per weight scale */
    bool mins;
    row_unpack_fn unpack;
    /* optional: the panel's values straight from the rows' packed bytes,
     * unpack then being asked for scales only (q == NULL) */
    void (*panel_q)(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p);
    /* optional: the panel's scales and mins likewise (unpack given NULL) */
    void (*panel_sc)(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p);
    /* the register tile over nt <= GT_TT tokens (see GT_TILE) */
    void (*micro)(int nt, const panel *p, int64_t b0, int64_t b1, const uint8_t *a, size_t stride,
                  ptrdiff_t ad_off, ptrdiff_t bs_off, float *out);
} gdesc;

static void build_panel(const gdesc *g, const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m,
                        rows_buf *rw, panel *p) {
    const int nsub = (int)(m / g->sub), nsub_r = (nsub + GT_GR - 1) / GT_GR * GT_GR;
    for (int r = 0; r < GT_GR && !(g->panel_q && g->panel_sc); r++) {
        if (r < nr) {
            g->unpack((const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes, k0, m,
                      g->panel_q ? NULL : rw->q[r], g->panel_sc ? NULL : rw->sc[r],
                      g->panel_sc ? NULL : rw->mn[r]);
        } else {
            /* lanes of no row: zeros, computed and never stored */
            if (!g->panel_q) memset(rw->q[r], 0, (size_t)m);
            memset(rw->sc[r], 0, sizeof(float) * (size_t)nsub);
            memset(rw->mn[r], 0, sizeof(float) * (size_t)nsub);
        }
        for (int s = nsub; s < nsub_r; s++) rw->sc[r][s] = rw->mn[r][s] = 0;
    }
    if (g->panel_q) g->panel_q(w, rb, nr, k0, m, p);
    for (int64_t c = 0; !g->panel_q && c < m / (4 * GT_GR); c++) {
        gt_vi v[GT_GR];
        for (int r = 0; r < GT_GR; r++) v[r] = gt_loadi(rw->q[r] + 4 * GT_GR * c);
        transpose(v);
        for (int j = 0; j < GT_GR; j++) gt_storei(p->q[GT_GR * c + j], v[j]);
    }
    if (g->panel_sc) {
        g->panel_sc(w, rb, nr, k0, m, p);
    } else {
        transpose_cols(rw->sc, nsub, p->sc);
        if (g->mins) transpose_cols(rw->mn, nsub, p->mn);
    }
    const int steps = g->sub / 4;
    for (int s = 0; s < nsub && !g->mins; s++) {
        gt_vi acc = gt_zeroi();
        for (int j = 0; j < steps; j++) acc = gt_corr_dot(acc, gt_loadi(p->q[s * steps + j]));
        gt_storei(p->corr[s], gt_subi(gt_zeroi(), acc));
    }
}

/* The lines of a panel's packed bytes (rows [rb, min(rb + GT_GR, r1)),
 * values [k0, k0 + m)), handed out a few at a time to prefetch while
 * earlier panels compute: a burst of them all at once stalls on the
 * core's outstanding misses, spread over the tiles it overlaps them. */
typedef struct pf_cursor {
    const char *row, *end_row; /* the current row's first byte; past the last row */
    size_t row_bytes, b0, b1;  /* bytes per row; the byte range in each row */
    size_t o;                  /* the next line's offset in the current row */
} pf_cursor;

static void pf_start(pf_cursor *c, const gg_matrix *w, int64_t rb, int64_t r1, int64_t k0, int64_t m) {
    const gg_type_traits *ti = gg_type_info(w->type);
    c->row_bytes = w->row_bytes;
    c->b0 = (size_t)(k0 / ti->block_size) * ti->type_size;
    c->b1 = (size_t)((k0 + m) / ti->block_size) * ti->type_size;
    c->row = (const char *)w->data + (size_t)rb * w->row_bytes;
    c->end_row = c->row + (size_t)(GG_MIN(rb + GT_GR, r1) - rb) * w->row_bytes;
    c->o = c->b0;
}

static inline int64_t pf_lines(const pf_cursor *c) {
    return (int64_t)((c->end_row - c->row) / (ptrdiff_t)c->row_bytes) *
           (int64_t)((c->b1 - c->b0 + 63) / 64);
}

static inline void pf_step(pf_cursor *c, int64_t n) {
    for (; n > 0 && c->row < c->end_row; n--) {
        _mm_prefetch(c->row + c->o, _MM_HINT_T0);
        if ((c->o += 64) >= c->b1) c->o = c->b0, c->row += c->row_bytes;
    }
}

static inline gt_vi bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return gt_set1i(v);
}

/* The register tile name(SB, S, MINS, NT, ...) for one dot instruction
 * DOT(acc, u8 activations, s8 weights), on functions with the target
 * attribute ATTR (a function target must be on every function that
 * inlines the instruction, hence a macro): out[t] += the sums of the
 * panel's activation blocks [b0, b1) for token t (out[] zeroed first when
 * b0 == 0; calls over consecutive block ranges add the blocks in the same
 * order as one call over all of them), whose values are at a + t * stride
 * and whose block scales and sub-block sums at ad_off and bs_off bytes
 * from there. The running sums tot stay in registers over the call (the
 * 8-token AVX-512 tile has 32: 24 for the int32 sums, f and tot) and go
 * to out[] once at its end; loading and storing them per block, and
 * zeroing out[] first, measured 1-9% slower at 64 tokens.
 * What the tile may add around its dots (bench/bench_pipes, AMD Zen 5,
 * one thread; the dots' rate with 16 vpdpbusd zmm a round and 8 of the
 * other, against the dots alone): vfmadd231ps 65-75%, vmulps 63-71%,
 * vpmulld 62-67%, vpdpwssd 64-70% (16 / 24 = 67% if each takes a dot's
 * slot: they do); vcvtdq2ps 97-106%, vpaddd 97-101%, vpbroadcastd m32
 * 96-103%, a {1to16} memory operand on every dot 89-100% (they issue
 * elsewhere: free). So a 32-value sub-block costs a token 8 dots, 1 fma
 * (its scale), 1 fnma (its min) and 1/8 fma (the block's d): at best
 * 8 / 10.125 = 79% of the peak (this mix, cvt + fma + fnma per 8 dots,
 * measured 73-84%). Integer mins (a vpdpwssd per pair of sub-blocks,
 * 763c512) would make it 8 / 9.625 = 83%, but measured no faster on a
 * whole 7B pass (406 tokens: 1.03-1.04x the CPU time).
 * On an Intel Xeon with AVX-512 VNNI (same bench, three runs, load 4-7)
 * every vector instruction took a dot's slot, vcvtdq2ps and vpaddd too
 * (8 a round: 67%), so this mix caps the tile at 8 / 11 = 73% (measured
 * 73-74%). Two more limits showed there: 16 dots on 8 sums ran at 74-81%
 * of 16 sums' rate (latency: the tile's 8 tokens are 8 chains a
 * sub-block), and a vpbroadcastd per dot (the tile's ratio) left the
 * dots 73-78%. Two sub-blocks at once (16 chains, as many broadcasts)
 * measured no faster on the 7B shapes. */
#define GT_TILE(name, ATTR, DOT)                                                                \
    ATTR ALWAYS_INLINE void name(int SB, int S, int MINS, int NT, const panel *p, int64_t b0,   \
                                 int64_t b1, const uint8_t *a, size_t stride, ptrdiff_t ad_off, \
                                 ptrdiff_t bs_off, float *out) {                                \
        const int nsb = SB / S, steps = S / 4;                                                  \
        const uint8_t *at[GT_TT];                                                               \
        for (int t = 0; t < NT; t++) at[t] = a + (size_t)t * stride;                            \
        gt_vf tot[GT_TT];                                                                       \
        for (int t = 0; t < NT; t++) tot[t] = b0 == 0 ? gt_zerof() : gt_loadf(out + GT_GR * t); \
        for (int64_t b = b0; b < b1; b++) {                                                     \
            gt_vf f[GT_TT];                                                                     \
            for (int s = 0; s < nsb; s++) {                                                     \
                const int64_t si = b * nsb + s;                                                 \
                gt_vi acc[GT_TT];                                                               \
                const gt_vi corr = MINS ? gt_zeroi() : gt_loadi(p->corr[si]);                   \
                for (int t = 0; t < NT; t++) acc[t] = corr;                                     \
                for (int j = 0; j < steps; j++) {                                               \
                    const gt_vi wv = gt_loadi(p->q[si * steps + j]);                            \
                    for (int t = 0; t < NT; t++)                                                \
                        acc[t] = MINS ? DOT(acc[t], wv, bcast4(at[t] + si * S + 4 * j))         \
                                      : DOT(acc[t], bcast4(at[t] + si * S + 4 * j), wv);        \
                }                                                                               \
                const gt_vf sc = gt_loadf(p->sc[si]);                                           \
                for (int t = 0; t < NT; t++) {                                                  \
                    gt_vf x = gt_cvtf(acc[t]);                                                  \
                    f[t] = s == 0 ? gt_mulf(x, sc) : gt_fmaddf(x, sc, f[t]);                    \
                }                                                                               \
                if (MINS) {                                                                     \
                    const gt_vf mn = gt_loadf(p->mn[si]);                                       \
                    for (int t = 0; t < NT; t++) {                                              \
                        const float *bs = (const float *)(const void *)(at[t] + bs_off);        \
                        f[t] = gt_fnmaddf(mn, gt_set1f(bs[si]), f[t]);                          \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
            for (int t = 0; t < NT; t++) {                                                      \
                const float *ad = (const float *)(const void *)(at[t] + ad_off);                \
                tot[t] = gt_fmaddf(f[t], gt_set1f(ad[b]), tot[t]);                              \
            }                                                                                   \
        }                                                                                       \
        for (int t = 0; t < NT; t++) gt_storef(out + GT_GR * t, tot[t]);                        \
    }

/* A buffer on the stack aligned by hand: the stack of a mingw thread is
 * not aligned for vectors. mem has GT_ALIGN bytes to spare. */
static inline void *gt_align_up(unsigned char *mem) {
    return mem + (GT_ALIGN - (uintptr_t)mem % GT_ALIGN) % GT_ALIGN;
}

/* Where a row of n quantized activations keeps what the tile reads
 * (gemm_q8_K's layout): its blocks' scales at ad_off, its sub-blocks'
 * sums at bs_off, and its values at a_off: the signed ones for a type
 * with mins. */
typedef struct {
    size_t ad_off, bs_off, a_off;
} act_layout;

static inline act_layout act_layout_of(const gdesc *g, int64_t n) {
    act_layout L;
    L.ad_off = (size_t)n;
    L.bs_off = L.ad_off + 4 * (size_t)(n / g->sb) + (g->sub == 32 ? 4 * (size_t)(n / 16) : 0);
    L.a_off = g->mins ? gemm_q8_K_signed_off(n) : 0;
    return L;
}

/* not inlined: see gemm_run2 */
__attribute__((noinline)) static void gemm_run(const gdesc *g, const gg_matrix *w, const void *act,
                                               size_t stride, int n_tok, float *y, int64_t ldy,
                                               int64_t r0, int64_t r1) {
    unsigned char pmem[sizeof(panel) + GT_ALIGN], rmem[sizeof(rows_buf) + GT_ALIGN];
    panel *p = (panel *)gt_align_up(pmem);
    rows_buf *rw = (rows_buf *)gt_align_up(rmem);
    const int64_t n = w->cols;
    const act_layout L = act_layout_of(g, n);
    const size_t ad_off = L.ad_off, bs_off = L.bs_off, a_off = L.a_off;
    /* the prefetches of the panel PF_AHEAD panels on (panels in the order
     * they are built) go out in PF_SLICES shares, one after each tile
     * call; with fewer tile calls than that, each runs on a part of the
     * panel's blocks */
    if (n_tok <= 0) return;
    enum { PF_SLICES = 8, PF_AHEAD = 2 /* panels (3 measured no better) */ };
    const int64_t n_tiles = (n_tok + GT_TT - 1) / GT_TT;
    const int64_t n_chunks = GG_MAX(1, PF_SLICES / n_tiles);
    pf_cursor pf;
    const int64_t n_seg = (n + SEG - 1) / SEG;
    const int64_t n_panels = (r1 - r0 + GT_GR - 1) / GT_GR * n_seg;
    int64_t i_panel = 0;
    for (int64_t rb = r0; rb < r1; rb += GT_GR) {
        const int nr = (int)GG_MIN(GT_GR, r1 - rb);
        const gt_mask keep = gt_keep(nr);
        for (int64_t k0 = 0; k0 < n; k0 += SEG, i_panel++) {
            const int64_t m = GG_MIN(SEG, n - k0);
            /* the panels before the first one prefetched while another computes */
            for (int64_t i = 1; i_panel == 0 && i < PF_AHEAD && i < n_panels; i++) {
                const int64_t ki = i % n_seg * SEG;
                pf_start(&pf, w, r0 + i / n_seg * GT_GR, r1, ki, GG_MIN(SEG, n - ki));
                pf_step(&pf, pf_lines(&pf));
            }
            build_panel(g, w, rb, nr, k0, m, rw, p);
            const int64_t ip = i_panel + PF_AHEAD, kp = ip % n_seg * SEG;
            if (ip < n_panels) pf_start(&pf, w, r0 + ip / n_seg * GT_GR, r1, kp, GG_MIN(SEG, n - kp));
            else pf_start(&pf, w, r1, r1, 0, 0); /* none */
            const int64_t nb = m / g->sb, nb_chunk = (nb + n_chunks - 1) / n_chunks;
            const int64_t n_slices = n_tiles * ((nb + nb_chunk - 1) / nb_chunk);
            const int64_t per_slice = (pf_lines(&pf) + n_slices - 1) / n_slices;
            for (int t0 = 0; t0 < n_tok; t0 += GT_TT) {
                const int nt = GG_MIN(GT_TT, n_tok - t0);
                const uint8_t *a = (const uint8_t *)act + (size_t)t0 * stride + k0 + a_off;
                const ptrdiff_t ado = (ptrdiff_t)(ad_off - (size_t)k0 + 4 * (size_t)(k0 / g->sb)) -
                                      (ptrdiff_t)a_off;
                const ptrdiff_t bso = (ptrdiff_t)(bs_off - (size_t)k0 + 4 * (size_t)(k0 / g->sub)) -
                                      (ptrdiff_t)a_off;
                float out[GT_TT * GT_GR]; /* not vectors: mingw does not align the stack */
                for (int64_t b0 = 0; b0 < nb; b0 += nb_chunk) {
                    g->micro(nt, p, b0, GG_MIN(nb, b0 + nb_chunk), a, stride, ado, bso, out);
                    pf_step(&pf, per_slice);
                }
                for (int t = 0; t < nt; t++) {
                    float *yt = y + (int64_t)(t0 + t) * ldy + rb;
                    gt_vf v = gt_loadf(out + GT_GR * t);
                    if (k0 > 0) v = gt_addf(gt_maskloadf(yt, keep), v);
                    gt_maskstoref(yt, keep, v);
                }
            }
        }
    }
}

#ifdef GT_TWO_PANELS
/* The includer may define GT_TWO_PANELS (gemm_avx512.c does): the products
 * then run over two panels at once, rows rb..rb+GT_GR-1 and the GT_GR
 * after them, with a tile of up to TT2 tokens (GT_TILE2P) that gives each
 * token's broadcast 4 values to both panels' dots. Against GT_TILE's 8
 * tokens by one panel it has half the broadcasts a dot and 12 sums in
 * flight instead of 8 (what its 32 registers allow with f: the running
 * sums tot go through out[] once a block). On an Intel Xeon (see GT_TILE:
 * a broadcast per dot left the dots 73-78%, 8 sums 74-81%), bench_gemm
 * --cold at 64 tokens, three alternating pairs (load 1.5-3.4): 7B q,o
 * 41-43% -> 45%, down Q6_K 37-39% -> 39-41%, qwen2-7B q,o 42-44% -> 45-49%
 * and down Q6_K 32-38% -> 38-40% of the peak; 7B gate,up unchanged (39-43%
 * -> 40-43%). Each row and token is a lane going through GT_TILE's
 * operations in GT_TILE's order, so the results are its bits. */
#define GT_TILE2P(name, ATTR, DOT)                                                                  \
    ATTR ALWAYS_INLINE void name(int SB, int S, int MINS, int NT, const panel *p0, const panel *p1, \
                                 int64_t b0, int64_t b1, const uint8_t *a, size_t stride,           \
                                 ptrdiff_t ad_off, ptrdiff_t bs_off, float *out0, float *out1) {    \
        const int nsb = SB / S, steps = S / 4;                                                      \
        const uint8_t *at[GT_TT];                                                                   \
        for (int t = 0; t < NT; t++) at[t] = a + (size_t)t * stride;                                \
        if (b0 == 0)                                                                                \
            for (int t = 0; t < NT; t++) {                                                          \
                gt_storef(out0 + GT_GR * t, gt_zerof());                                            \
                gt_storef(out1 + GT_GR * t, gt_zerof());                                            \
            }                                                                                       \
        for (int64_t b = b0; b < b1; b++) {                                                         \
            gt_vf f0[GT_TT], f1[GT_TT];                                                             \
            for (int s = 0; s < nsb; s++) {                                                         \
                const int64_t si = b * nsb + s;                                                     \
                gt_vi acc0[GT_TT], acc1[GT_TT];                                                     \
                const gt_vi c0 = MINS ? gt_zeroi() : gt_loadi(p0->corr[si]);                        \
                const gt_vi c1 = MINS ? gt_zeroi() : gt_loadi(p1->corr[si]);                        \
                for (int t = 0; t < NT; t++) acc0[t] = c0, acc1[t] = c1;                            \
                for (int j = 0; j < steps; j++) {                                                   \
                    const gt_vi w0 = gt_loadi(p0->q[si * steps + j]);                               \
                    const gt_vi w1 = gt_loadi(p1->q[si * steps + j]);                               \
                    for (int t = 0; t < NT; t++) {                                                  \
                        const gt_vi bc = bcast4(at[t] + si * S + 4 * j);                            \
                        acc0[t] = MINS ? DOT(acc0[t], w0, bc) : DOT(acc0[t], bc, w0);               \
                        acc1[t] = MINS ? DOT(acc1[t], w1, bc) : DOT(acc1[t], bc, w1);               \
                    }                                                                               \
                }                                                                                   \
                const gt_vf sc0 = gt_loadf(p0->sc[si]), sc1 = gt_loadf(p1->sc[si]);                 \
                for (int t = 0; t < NT; t++) {                                                      \
                    gt_vf x0 = gt_cvtf(acc0[t]), x1 = gt_cvtf(acc1[t]);                             \
                    f0[t] = s == 0 ? gt_mulf(x0, sc0) : gt_fmaddf(x0, sc0, f0[t]);                  \
                    f1[t] = s == 0 ? gt_mulf(x1, sc1) : gt_fmaddf(x1, sc1, f1[t]);                  \
                }                                                                                   \
                if (MINS) {                                                                         \
                    const gt_vf mn0 = gt_loadf(p0->mn[si]), mn1 = gt_loadf(p1->mn[si]);             \
                    for (int t = 0; t < NT; t++) {                                                  \
                        const float *bs = (const float *)(const void *)(at[t] + bs_off);            \
                        const gt_vf bv = gt_set1f(bs[si]);                                          \
                        f0[t] = gt_fnmaddf(mn0, bv, f0[t]);                                         \
                        f1[t] = gt_fnmaddf(mn1, bv, f1[t]);                                         \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
            for (int t = 0; t < NT; t++) {                                                          \
                const float *ad = (const float *)(const void *)(at[t] + ad_off);                    \
                const gt_vf dv = gt_set1f(ad[b]);                                                   \
                gt_storef(out0 + GT_GR * t, gt_fmaddf(f0[t], dv, gt_loadf(out0 + GT_GR * t)));      \
                gt_storef(out1 + GT_GR * t, gt_fmaddf(f1[t], dv, gt_loadf(out1 + GT_GR * t)));      \
            }                                                                                       \
        }                                                                                           \
    }

/* GT_TILE2P's shape made constant per token count (GT_MICRO2) */
typedef void (*micro2_fn)(int nt, const panel *p0, const panel *p1, int64_t b0, int64_t b1,
                          const uint8_t *a, size_t stride, ptrdiff_t ad_off, ptrdiff_t bs_off,
                          float *out0, float *out1);
enum { TT2 = 6 };

/* gemm_run over pairs of panels (rows [r0, r1) an even number of row
 * groups): the same products, bit for bit. The pair after this one is
 * prefetched while this one computes (as gemm_run prefetches 2 panels
 * on). Not inlined: its two panels and gemm_run's one are never on a
 * thread's stack at once (gemm_runs below). */
__attribute__((noinline)) static void gemm_run2(const gdesc *g, micro2_fn micro2, const gg_matrix *w,
                                                const void *act, size_t stride, int n_tok, float *y,
                                                int64_t ldy, int64_t r0, int64_t r1) {
    unsigned char pmem[2 * sizeof(panel) + GT_ALIGN], rmem[sizeof(rows_buf) + GT_ALIGN];
    panel *pp = (panel *)gt_align_up(pmem);
    rows_buf *rw = (rows_buf *)gt_align_up(rmem);
    const int64_t n = w->cols;
    const act_layout L = act_layout_of(g, n);
    const size_t ad_off = L.ad_off, bs_off = L.bs_off, a_off = L.a_off;
    if (n_tok <= 0) return;
    const int64_t n_seg = (n + SEG - 1) / SEG;
    const int64_t n_pairs = (r1 - r0 + 2 * GT_GR - 1) / (2 * GT_GR);
    const int64_t n_steps = n_pairs * n_seg;
    const int64_t n_tiles = (n_tok + TT2 - 1) / TT2;
    const int64_t n_chunks = GG_MAX(1, 8 / n_tiles);
    pf_cursor pf[2];
    int64_t i_step = 0;
    for (int64_t rb = r0; rb < r1; rb += 2 * GT_GR) {
        const int nr0 = (int)GG_MIN(GT_GR, r1 - rb), nr1 = (int)GG_MIN(GT_GR, r1 - rb - GT_GR);
        for (int64_t k0 = 0; k0 < n; k0 += SEG, i_step++) {
            const int64_t m = GG_MIN(SEG, n - k0);
            if (i_step == 0) {
                for (int h = 0; h < 2; h++) {
                    pf_start(&pf[h], w, GG_MIN(r1, rb + h * GT_GR), r1, k0, m);
                    pf_step(&pf[h], pf_lines(&pf[h]));
                }
            }
            build_panel(g, w, rb, nr0, k0, m, rw, &pp[0]);
            build_panel(g, w, rb + GT_GR, nr1, k0, m, rw, &pp[1]); /* nr1 >= 1: pairs only */
            const int64_t ip = i_step + 1, kp = ip % n_seg * SEG, rp = r0 + ip / n_seg * 2 * GT_GR;
            for (int h = 0; h < 2; h++) {
                if (ip < n_steps && rp + h * GT_GR < r1)
                    pf_start(&pf[h], w, rp + h * GT_GR, r1, kp, GG_MIN(SEG, n - kp));
                else pf_start(&pf[h], w, r1, r1, 0, 0);
            }
            const int64_t nb = m / g->sb, nb_chunk = (nb + n_chunks - 1) / n_chunks;
            const int64_t n_slices = n_tiles * ((nb + nb_chunk - 1) / nb_chunk);
            const int64_t per0 = (pf_lines(&pf[0]) + n_slices - 1) / n_slices;
            const int64_t per1 = (pf_lines(&pf[1]) + n_slices - 1) / n_slices;
            /* tiles of even sizes: 13 tokens as 5 + 4 + 4, not 6 + 6 + 1 */
            for (int t0 = 0, ti = 0, nt; t0 < n_tok; t0 += nt, ti++) {
                nt = (int)((n_tok - t0 + (n_tiles - ti) - 1) / (n_tiles - ti));
                const uint8_t *a = (const uint8_t *)act + (size_t)t0 * stride + k0 + a_off;
                const ptrdiff_t ado = (ptrdiff_t)(ad_off - (size_t)k0 + 4 * (size_t)(k0 / g->sb)) -
                                      (ptrdiff_t)a_off;
                const ptrdiff_t bso = (ptrdiff_t)(bs_off - (size_t)k0 + 4 * (size_t)(k0 / g->sub)) -
                                      (ptrdiff_t)a_off;
                float out[2][GT_TT * GT_GR];
                for (int64_t b0 = 0; b0 < nb; b0 += nb_chunk) {
                    micro2(nt, &pp[0], &pp[1], b0, GG_MIN(nb, b0 + nb_chunk), a, stride, ado, bso,
                           out[0], out[1]);
                    pf_step(&pf[0], per0);
                    pf_step(&pf[1], per1);
                }
                for (int h = 0; h < 2; h++) {
                    const gt_mask keep = gt_keep(h ? nr1 : nr0);
                    for (int t = 0; t < nt; t++) {
                        float *yt = y + (int64_t)(t0 + t) * ldy + rb + h * GT_GR;
                        gt_vf v = gt_loadf(out[h] + GT_GR * t);
                        if (k0 > 0) v = gt_addf(gt_maskloadf(yt, keep), v);
                        gt_maskstoref(yt, keep, v);
                    }
                }
            }
        }
    }
}

/* The products of rows [r0, r1): pairs of row groups through gemm_run2,
 * a lone last group through gemm_run (a pair would compute 2 panels for
 * it), and types of one sub-block a block (Q8_0, Q4_0, Q5_0) all through
 * gemm_run: GT_TILE2P's running sums would go through out[] every 32
 * values there, and GT_TILE, which keeps them in registers, measured
 * faster (nomic Q8_0 at 256 tokens: 50-55% of the peak against 44-52%,
 * three pairs). */
static void gemm_runs(const gdesc *g, micro2_fn micro2, const gg_matrix *w, const void *act,
                      size_t stride, int n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t n_groups = (r1 - r0 + GT_GR - 1) / GT_GR;
    /* the pairs end at r1 when the range's last group is short and even */
    const int64_t r2 = g->sb == g->sub ? r0 : GG_MIN(r1, r0 + n_groups / 2 * 2 * GT_GR);
    if (r2 > r0) gemm_run2(g, micro2, w, act, stride, n_tok, y, ldy, r0, r2);
    if (r1 > r2) gemm_run(g, w, act, stride, n_tok, y, ldy, r2, r1);
}
#endif

/* clang-format off */
/* The tile made constant in its shape by a switch on the token count. */
#define GT_CASE(tilefn, SB, S, MINS, N)                                                  \
    case N: tilefn(SB, S, MINS, N, p, b0, b1, a, st, ado, bso, out); break;
#define GT_CASES_4(tilefn, SB, S, MINS)                                                  \
    GT_CASE(tilefn, SB, S, MINS, 4) GT_CASE(tilefn, SB, S, MINS, 3)                      \
    GT_CASE(tilefn, SB, S, MINS, 2)
#define GT_CASES_8(tilefn, SB, S, MINS)                                                  \
    GT_CASE(tilefn, SB, S, MINS, 8) GT_CASE(tilefn, SB, S, MINS, 7)                      \
    GT_CASE(tilefn, SB, S, MINS, 6) GT_CASE(tilefn, SB, S, MINS, 5)                      \
    GT_CASES_4(tilefn, SB, S, MINS)
/* clang-format on */
#if GT_TT == 8
#define GT_CASES GT_CASES_8
#elif GT_TT == 4
#define GT_CASES GT_CASES_4
#else
#error "GT_TT must be 4 or 8"
#endif

#ifdef GT_TWO_PANELS
#define GT_RUN(name, g, ...) gemm_runs(g, name##_micro2, __VA_ARGS__)
#define GT_MICRO2(name, ATTR, SB, S, MINS)                                                           \
    ATTR static void name##_micro2(int nt, const panel *p0, const panel *p1, int64_t b0, int64_t b1, \
                                   const uint8_t *a, size_t st, ptrdiff_t ado, ptrdiff_t bso,        \
                                   float *o0, float *o1) {                                           \
        switch (nt) {                                                                                \
        case 6: tile2p(SB, S, MINS, 6, p0, p1, b0, b1, a, st, ado, bso, o0, o1); break;              \
        case 5: tile2p(SB, S, MINS, 5, p0, p1, b0, b1, a, st, ado, bso, o0, o1); break;              \
        case 4: tile2p(SB, S, MINS, 4, p0, p1, b0, b1, a, st, ado, bso, o0, o1); break;              \
        case 3: tile2p(SB, S, MINS, 3, p0, p1, b0, b1, a, st, ado, bso, o0, o1); break;              \
        case 2: tile2p(SB, S, MINS, 2, p0, p1, b0, b1, a, st, ado, bso, o0, o1); break;              \
        default: tile2p(SB, S, MINS, 1, p0, p1, b0, b1, a, st, ado, bso, o0, o1); break;             \
        }                                                                                            \
    }
#else
#define GT_RUN(name, g, ...) gemm_run(g, __VA_ARGS__)
#define GT_MICRO2(name, ATTR, SB, S, MINS)
#endif
/* One product name(...) (gg_gemm_rows' signature) per weight type and
 * tile: SB values per activation scale, S per weight scale, MINS whether
 * the type has mins; panel_q and panel_sc as in gdesc (NULL: none). */
#define GT_GEMM(name, ATTR, tilefn, SB, S, MINS, unpack_fn, panel_q, panel_sc)                      \
    ATTR static void name##_micro(int nt, const panel *p, int64_t b0, int64_t b1, const uint8_t *a, \
                                  size_t st, ptrdiff_t ado, ptrdiff_t bso, float *out) {            \
        switch (nt) {                                                                               \
            GT_CASES(tilefn, SB, S, MINS)                                                           \
        default: tilefn(SB, S, MINS, 1, p, b0, b1, a, st, ado, bso, out); break;                    \
        }                                                                                           \
    }                                                                                               \
    GT_MICRO2(name, ATTR, SB, S, MINS)                                                              \
    static void name(const gg_matrix *w, const void *act, size_t stride, int n_tok, float *y,       \
                     int64_t ldy, int64_t r0, int64_t r1) {                                         \
        static const gdesc g = {SB, S, MINS, unpack_fn, panel_q, panel_sc, name##_micro};           \
        GT_RUN(name, &g, w, act, stride, n_tok, y, ldy, r0, r1);                                    \
    }
