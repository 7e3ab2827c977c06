/* Tests of the tensor types and compute kernels.
 *
 *   test_quant kernels      every tier available on this CPU vs the _ref functions
 *   test_quant convert      fp16/bf16 scalar conversions (exhaustive fp16->fp32)
 *   test_quant bounds       quantize->dequantize error bounds of the reference
 *   test_quant matmul       smelt_matmul_rows / smelt_quantize_rows vs a naive f32 matmul
 *   test_quant isa WANT     smelt_kernels_isa() == WANT (run under SMELT_ISA / SMELT_FORCE_REF)
 *
 * Tolerances (stated once):
 *   quantizers, dequantizers, fp16/bf16 row conversions: bit-exact.
 *   dots: |got - ref| <= 2 * n_add * FLT_EPSILON * S + 1e-30, where n_add is the
 *     number of float additions in the longer summation (elements for F32/F16/BF16,
 *     blocks for the quantized types) and S the sum of the magnitudes of the
 *     terms (first-order bound of recursive summation, for each side).
 *   mad/scale: per element |got - ref| <= 2 * FLT_EPSILON * (|y| + |a*x|).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"
#include "quant/quant.h"
#include "quant/quant_blocks.h"
#include "rng.h"

#define GUARD 64
#define GUARD_BYTE 0xcd

/* ---- deterministic random numbers ---- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void) { return test_u32(&rng_state); }
static float rng_unif(void) { return (float)(rng_u32() & 0xffffff) / 16777216.0f; } /* [0,1) */
static float rng_normal(void) {
    float s = 0;
    for (int i = 0; i < 6; i++) s += rng_unif();
    return s - 3.0f;
}

/* Fill n floats with a mix of shapes: gaussian, with outliers, a zero block,
 * a block whose largest magnitude is negative, a constant block. */
static void fill_values(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_normal() * scale;
    for (int64_t i = 0; i < n; i += 97) x[i] *= 8.0f;
    if (n >= 64) memset(x + 32, 0, 32 * sizeof(float)); /* zero block */
    if (n >= 96) x[70] = -20.0f * scale;                 /* negative extreme */
    if (n >= 160) for (int i = 128; i < 160; i++) x[i] = 0.75f * scale;
}

/* ---- guarded buffers ---- */
static void *gbuf_new(size_t n) {
    unsigned char *p = malloc(n + 2 * GUARD);
    if (!p) abort();
    memset(p, GUARD_BYTE, n + 2 * GUARD);
    return p + GUARD;
}
static int gbuf_check(void *b, size_t n) {
    const unsigned char *p = (unsigned char *)b - GUARD;
    for (size_t i = 0; i < GUARD; i++)
        if (p[i] != GUARD_BYTE || p[GUARD + n + i] != GUARD_BYTE) return 0;
    return 1;
}
static void gbuf_free(void *b) {
    if (b) free((unsigned char *)b - GUARD);
}

static const uint32_t all_types[] = {SMELT_TYPE_F32,  SMELT_TYPE_F16,  SMELT_TYPE_BF16, SMELT_TYPE_Q4_0,
                                     SMELT_TYPE_Q4_1, SMELT_TYPE_Q8_0, SMELT_TYPE_Q8_1, SMELT_TYPE_Q5_0,
                                     SMELT_TYPE_Q5_1, SMELT_TYPE_Q8_K, SMELT_TYPE_Q2_K, SMELT_TYPE_Q3_K,
                                     SMELT_TYPE_Q4_K, SMELT_TYPE_Q5_K, SMELT_TYPE_Q6_K, SMELT_TYPE_IQ4_NL,
                                     SMELT_TYPE_IQ4_XS};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* odd block counts (1, 3, 5, 129, ...) so 2- and 4-block loops hit their tails */
static const int64_t block_sizes[] = {32, 64, 96, 160, 4096, 4128};
static const int64_t kblock_sizes[] = {256, 512, 768, 1280, 4352};
static const int64_t elem_sizes[] = {1, 7, 8, 15, 16, 31, 32, 33, 64, 96, 1023, 4096, 4128};

/* Per-element magnitudes |terms| of a dequantized weight row: for the types
 * with an additive min (x = d*q + m, or d*sc*q - dmin*mn) the dot computes the
 * two parts separately, so their magnitudes add: |d*q| + |m|. Computed by
 * dequantizing a copy whose signs are arranged so both parts are >= 0. */
static void abs_terms(uint32_t type, const void *x, int64_t n, float *out) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    const size_t rs = smelt_quant_row_size(type, n);
    unsigned char *c = malloc(rs);
    memcpy(c, x, rs);
    for (int64_t b = 0; b < n / tr->blck; b++) {
        unsigned char *blk = c + b * tr->bytes;
        uint16_t *d = NULL, *m = NULL;
        bool neg_min = false; /* x = d*q - dmin*mn: make dmin negative */
        if (type == SMELT_TYPE_Q4_1) d = &((smelt_block_q4_1 *)blk)->d, m = &((smelt_block_q4_1 *)blk)->m;
        if (type == SMELT_TYPE_Q5_1) d = &((smelt_block_q5_1 *)blk)->d, m = &((smelt_block_q5_1 *)blk)->m;
        if (type == SMELT_TYPE_Q2_K) d = &((smelt_block_q2_k *)blk)->d, m = &((smelt_block_q2_k *)blk)->dmin;
        if (type == SMELT_TYPE_Q4_K) d = &((smelt_block_q4_k *)blk)->d, m = &((smelt_block_q4_k *)blk)->dmin;
        if (type == SMELT_TYPE_Q5_K) d = &((smelt_block_q5_k *)blk)->d, m = &((smelt_block_q5_k *)blk)->dmin;
        neg_min = type == SMELT_TYPE_Q2_K || type == SMELT_TYPE_Q4_K || type == SMELT_TYPE_Q5_K;
        if (d) {
            *d &= 0x7fff;
            if (neg_min) *m |= 0x8000; else *m &= 0x7fff;
        }
    }
    tr->to_float_ref(c, out, n);
    for (int64_t i = 0; i < n; i++) out[i] = fabsf(out[i]);
    free(c);
}

/* Magnitude S of the terms summed by vec_dot(x, y) (see header). */
static double dot_magnitude(uint32_t type, const void *x, const void *y, int64_t n) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    const struct smelt_type_traits *vt = smelt_quant_traits(tr->vec_dot_type);
    float *fx = malloc(n * sizeof(float)), *fy = malloc(n * sizeof(float));
    abs_terms(type, x, n, fx);
    vt->to_float_ref(y, fy, n);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)fx[i] * fy[i]);
    if (tr->vec_dot_type == SMELT_TYPE_Q8_1) { /* m * s, s = fp16(d * sum(q)) */
        for (int64_t b = 0; b < n / 32; b++) {
            const uint16_t m = type == SMELT_TYPE_Q4_1 ? ((const smelt_block_q4_1 *)x)[b].m
                                                       : ((const smelt_block_q5_1 *)x)[b].m;
            s += fabs((double)smelt_fp16_to_fp32(m) * smelt_fp16_to_fp32(((const smelt_block_q8_1 *)y)[b].s));
        }
    }
    free(fx);
    free(fy);
    return s;
}

static int test_tier(enum smelt_isa isa) {
    const int before = check_failures;
    struct smelt_kernel_set ks;
    smelt_kernels_fill(isa, &ks);
    CHECKF(smelt_kernels_probe(&ks), "probe of tier %s", smelt_isa_name(isa));

    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = all_types[ti];
        const struct smelt_type_traits *tr = smelt_quant_traits(type);
        CHECK(tr != NULL);
        if (!tr) continue;
        const bool per_elem = tr->blck == 1;
        const bool kq = tr->blck == 256;
        const int64_t *sizes = per_elem ? elem_sizes : kq ? kblock_sizes : block_sizes;
        const size_t n_sizes = per_elem ? sizeof elem_sizes / sizeof *elem_sizes
                               : kq     ? sizeof kblock_sizes / sizeof *kblock_sizes
                                        : sizeof block_sizes / sizeof *block_sizes;
        for (size_t si = 0; si < n_sizes; si++) {
            const int64_t n = sizes[si];
            const size_t rs = smelt_quant_row_size(type, n);
            float *x = gbuf_new(n * sizeof(float));
            float *fa = gbuf_new(n * sizeof(float)), *fb = gbuf_new(n * sizeof(float));
            unsigned char *qa = gbuf_new(rs), *qb = gbuf_new(rs);
            fill_values(x, n, 0.37f);
            /* from_float: exact */
            tr->from_float_ref(x, qa, n);
            ks.from_float[type](x, qb, n);
            CHECKF(memcmp(qa, qb, rs) == 0, "%s from_float %s n=%lld differs from ref", smelt_isa_name(isa),
                   tr->name, (long long)n);
            /* run-time activation quantizer: exact against its ref */
            tr->quantize_act_ref(x, qa, n);
            ks.quantize_act[type](x, qb, n);
            CHECKF(memcmp(qa, qb, rs) == 0, "%s quantize_act %s n=%lld differs from ref", smelt_isa_name(isa),
                   tr->name, (long long)n);
            tr->from_float_ref(x, qa, n);
            /* to_float: exact */
            tr->to_float_ref(qa, fa, n);
            ks.to_float[type](qa, fb, n);
            CHECKF(memcmp(fa, fb, n * sizeof(float)) == 0, "%s to_float %s n=%lld differs from ref",
                   smelt_isa_name(isa), tr->name, (long long)n);
            CHECKF(gbuf_check(x, n * 4) && gbuf_check(fa, n * 4) && gbuf_check(fb, n * 4) &&
                       gbuf_check(qa, rs) && gbuf_check(qb, rs),
                   "%s %s n=%lld: guard bytes overwritten (conversions)", smelt_isa_name(isa), tr->name,
                   (long long)n);
            /* vec_dot */
            if (tr->vec_dot_ref) {
                const struct smelt_type_traits *vt = smelt_quant_traits(tr->vec_dot_type);
                const size_t rsy = smelt_quant_row_size(tr->vec_dot_type, n);
                unsigned char *qy = gbuf_new(rsy);
                float *y = gbuf_new(n * sizeof(float));
                fill_values(y, n, 1.3f);
                vt->from_float_ref(y, qy, n);
                const float want = tr->vec_dot_ref(n, qa, qy);
                const float got = ks.vec_dot[type](n, qa, qy);
                const double S = dot_magnitude(type, qa, qy, n);
                /* K-quants: per super-block a scaled sum and a scaled min term */
                const double n_add = per_elem ? (double)n : kq ? 2.0 * (n / tr->blck) + 4 : (double)(n / tr->blck);
                const double tol = 2.0 * n_add * FLT_EPSILON * S + 1e-30;
                CHECKF(fabs((double)got - want) <= tol, "%s vec_dot %s n=%lld: got %.9g want %.9g (tol %.3g)",
                       smelt_isa_name(isa), tr->name, (long long)n, got, want, tol);
                CHECKF(gbuf_check(qa, rs) && gbuf_check(qy, rsy), "%s vec_dot %s: guard", smelt_isa_name(isa),
                       tr->name);
                gbuf_free(qy);
                gbuf_free(y);
            }
            gbuf_free(x);
            gbuf_free(fa);
            gbuf_free(fb);
            gbuf_free(qa);
            gbuf_free(qb);
        }
    }

    /* f32 / f16 primitives on odd lengths */
    for (size_t si = 0; si < sizeof elem_sizes / sizeof *elem_sizes; si++) {
        const int64_t n = elem_sizes[si];
        float *x = gbuf_new(n * 4), *y = gbuf_new(n * 4), *ya = gbuf_new(n * 4), *yb = gbuf_new(n * 4);
        uint16_t *hx = gbuf_new(n * 2), *hy = gbuf_new(n * 2), *hb = gbuf_new(n * 2);
        fill_values(x, n, 1.0f);
        fill_values(y, n, 2.0f);
        double S = 0;
        for (int64_t i = 0; i < n; i++) S += fabs((double)x[i] * y[i]);
        const double tol = 2.0 * n * FLT_EPSILON * S + 1e-30;
        const float dref = smelt_quant_traits(SMELT_TYPE_F32)->vec_dot_ref(n, x, y);
        CHECKF(fabs(ks.dot_f32(n, x, y) - dref) <= tol, "%s dot_f32 n=%lld", smelt_isa_name(isa), (long long)n);
        const float a = -0.8125f;
        for (int64_t i = 0; i < n; i++) ya[i] = y[i] + x[i] * a;
        memcpy(yb, y, n * 4);
        ks.mad_f32(n, yb, x, a);
        for (int64_t i = 0; i < n; i++)
            CHECKF(fabsf(yb[i] - ya[i]) <= 2 * FLT_EPSILON * (fabsf(y[i]) + fabsf(a * x[i])),
                   "%s mad_f32 n=%lld i=%lld", smelt_isa_name(isa), (long long)n, (long long)i);
        memcpy(yb, y, n * 4);
        ks.scale_f32(n, yb, a);
        for (int64_t i = 0; i < n; i++)
            CHECKF(yb[i] == y[i] * a, "%s scale_f32 n=%lld i=%lld", smelt_isa_name(isa), (long long)n, (long long)i);
        /* fp16 rows: exact */
        for (int64_t i = 0; i < n; i++) hx[i] = smelt_fp32_to_fp16(x[i]);
        ks.fp32_to_fp16_row(x, hb, n);
        CHECKF(memcmp(hx, hb, n * 2) == 0, "%s fp32_to_fp16_row n=%lld", smelt_isa_name(isa), (long long)n);
        ks.fp16_to_fp32_row(hx, yb, n);
        for (int64_t i = 0; i < n; i++) ya[i] = smelt_fp16_to_fp32(hx[i]);
        CHECKF(memcmp(ya, yb, n * 4) == 0, "%s fp16_to_fp32_row n=%lld", smelt_isa_name(isa), (long long)n);
        for (int64_t i = 0; i < n; i++) hy[i] = smelt_fp32_to_fp16(y[i]);
        double Sh = 0;
        for (int64_t i = 0; i < n; i++) Sh += fabs((double)smelt_fp16_to_fp32(hx[i]) * smelt_fp16_to_fp32(hy[i]));
        const float href = smelt_quant_traits(SMELT_TYPE_F16)->vec_dot_ref(n, hx, hy);
        CHECKF(fabs(ks.dot_f16(n, hx, hy) - href) <= 2.0 * n * FLT_EPSILON * Sh + 1e-30, "%s dot_f16 n=%lld",
               smelt_isa_name(isa), (long long)n);
        for (int64_t i = 0; i < n; i++) ya[i] = y[i] + smelt_fp16_to_fp32(hx[i]) * a;
        memcpy(yb, y, n * 4);
        ks.mad_f16(n, yb, hx, a);
        for (int64_t i = 0; i < n; i++)
            CHECKF(fabsf(yb[i] - ya[i]) <= 2 * FLT_EPSILON * (fabsf(y[i]) + fabsf(a * smelt_fp16_to_fp32(hx[i]))),
                   "%s mad_f16 n=%lld i=%lld", smelt_isa_name(isa), (long long)n, (long long)i);
        CHECKF(gbuf_check(x, n * 4) && gbuf_check(y, n * 4) && gbuf_check(ya, n * 4) && gbuf_check(yb, n * 4) &&
                   gbuf_check(hx, n * 2) && gbuf_check(hy, n * 2) && gbuf_check(hb, n * 2),
               "%s primitives n=%lld: guard bytes", smelt_isa_name(isa), (long long)n);
        gbuf_free(x), gbuf_free(y), gbuf_free(ya), gbuf_free(yb), gbuf_free(hx), gbuf_free(hy), gbuf_free(hb);
    }
    return check_failures == before;
}

static int cmd_kernels(void) {
    for (int isa = SMELT_ISA_GENERIC; isa < SMELT_ISA_N; isa++) {
        if (!smelt_isa_supported((enum smelt_isa)isa)) {
            printf("tier %-8s not supported on this CPU/OS: skipped\n", smelt_isa_name((enum smelt_isa)isa));
            continue;
        }
        int ok = test_tier((enum smelt_isa)isa);
        printf("tier %-8s %s\n", smelt_isa_name((enum smelt_isa)isa), ok ? "ok" : "FAILED");
    }
    printf("active tier: %s\n", smelt_kernels_isa());
    return CHECK_EXIT();
}

/* ---- scalar conversions ---- */
static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int cmd_convert(void) {
    /* known values */
    CHECK(smelt_fp32_to_fp16(1.0f) == 0x3c00);
    CHECK(smelt_fp32_to_fp16(-2.0f) == 0xc000);
    CHECK(smelt_fp32_to_fp16(65504.0f) == 0x7bff);
    CHECK(smelt_fp32_to_fp16(65519.99f) == 0x7bff);
    CHECK(smelt_fp32_to_fp16(65520.0f) == 0x7c00); /* tie rounds to even = inf */
    CHECK(smelt_fp32_to_fp16(0x1p-24f) == 0x0001);
    CHECK(smelt_fp32_to_fp16(0x1p-25f) == 0x0000);          /* tie to even */
    CHECK(smelt_fp32_to_fp16(0x1.8p-24f) == 0x0002);        /* 1.5 ulp: tie to even (2) */
    CHECK(smelt_fp32_to_fp16(0x1.0p-25f * 1.0001f) == 0x0001);
    CHECK(smelt_fp32_to_fp16(0x1p-14f) == 0x0400);
    CHECK(smelt_fp32_to_fp16(0x1.ff8p-15f) == 0x03ff); /* largest subnormal */
    CHECK(smelt_fp32_to_fp16(0x1.ffcp-15f) == 0x0400); /* tie between it and 2^-14 */
    CHECK(smelt_fp32_to_fp16(-0.0f) == 0x8000);
    CHECK(smelt_fp32_to_fp16(INFINITY) == 0x7c00);
    CHECK(smelt_fp32_to_fp16(1.0f + 0x1p-11f) == 0x3c00);               /* tie, even down */
    CHECK(smelt_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-12f) == 0x3c01);    /* above tie */
    CHECK(smelt_fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02);           /* tie, even up */
    CHECK((smelt_fp32_to_fp16(NAN) & 0x7e00) == 0x7e00);
    /* fp16 -> fp32 -> fp16 round-trips every non-NaN half exactly; fp16->fp32 is
     * monotonic over positive finite halves. */
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = smelt_fp16_to_fp32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            CHECKF(isnan(f), "h=%04x", h);
            continue;
        }
        CHECKF(smelt_fp32_to_fp16(f) == h, "round trip h=%04x", h);
        if (h > 0 && h < 0x7c00) CHECKF(f > smelt_fp16_to_fp32((uint16_t)(h - 1)), "monotonic h=%04x", h);
    }
    /* fp32 -> fp16 against an independent definition on a sweep of bit patterns:
     * the result must be one of the two neighbouring halves and the nearer one
     * (ties to even). */
    for (uint64_t u = 0; u < 0x47800000u; u += 4099) {
        const float f = u2f((uint32_t)u);
        const uint16_t h = smelt_fp32_to_fp16(f);
        if (h == 0x7c00) {
            CHECKF(f >= 65520.0f, "u=%08llx overflowed", (unsigned long long)u);
            continue;
        }
        const double v = smelt_fp16_to_fp32(h);
        const double lo = smelt_fp16_to_fp32((uint16_t)(h ? h - 1 : 0)), hi = smelt_fp16_to_fp32((uint16_t)(h + 1));
        const double e = fabs(v - f);
        CHECKF(e <= fabs(f - lo) && (h == 0x7bff || e <= fabs(hi - f)), "fp16 nearest u=%08llx h=%04x",
               (unsigned long long)u, h);
        if (e == fabs(f - lo) && h) CHECKF(!(h & 1) || e == 0, "tie not even u=%08llx", (unsigned long long)u);
    }
    /* bf16 (ggml semantics) */
    CHECK(smelt_fp32_to_bf16(1.0f) == 0x3f80);
    CHECK(smelt_fp32_to_bf16(u2f(0x3f808000)) == 0x3f80); /* tie, even down */
    CHECK(smelt_fp32_to_bf16(u2f(0x3f818000)) == 0x3f82); /* tie, even up */
    CHECK(smelt_fp32_to_bf16(u2f(0x3f808001)) == 0x3f81);
    CHECK(smelt_fp32_to_bf16(u2f(0x7f800001)) == 0x7fc0); /* signalling NaN made quiet */
    CHECK(smelt_fp32_to_bf16(u2f(0xff800000)) == 0xff80);
    CHECK(smelt_bf16_to_fp32(0xc040) == -3.0f);
    CHECK(f2u(smelt_bf16_to_fp32(0x0001)) == 0x00010000u);
    return CHECK_EXIT();
}

/* ---- quantize -> dequantize error bounds (reference path) ----
 * With d the float scale, d16 its fp16 rounding, m/m16 likewise:
 *   Q8_0, Q8_1: |x - x'| <= |d|/2 + 127*|d - d16|       (|q| <= 127)
 *   Q4_0:       |x - x'| <= |d|/2 + 8*|d - d16|         (|q-8| <= 8), or |d| + 8|d - d16|
 *               for the element(s) clamped from 16 to 15 (x = -max, i.e. x/d = 8)
 *   Q4_1:       |x - x'| <= |d|/2 + 15*|d - d16| + |m - m16|
 *   Q5_0:       |x - x'| <= |d|/2 + 16*|d - d16|  (d = max/-16), or |d| + 16|d - d16| when clamped
 *   Q5_1:       |x - x'| <= |d|/2 + 31*|d - d16| + |m - m16|   (d = (max-min)/31)
 *   IQ4_NL:     |x - x'| <= 14|d0| + 127|d0 - d16| + 127*2^-10*|d16|, d0 = max/-127 the
 *               scale the indices are chosen with (x/d0 in [-127, 127]; the values span
 *               [-127, 113] with gaps <= 24), d16 the stored least-squares scale
 *   F16: relative error <= 2^-11 (normal range); BF16: relative error <= 2^-8
 * each with a relative slack of 1e-6 of the block's amax for float rounding
 * in x/d. Q8_1 additionally: |s - d*sum(q)| <= |d*sum(q)| * 2^-11. */
static int cmd_bounds(void) {
    const int64_t n = 4128;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    unsigned char *q = malloc(n * 4);
    fill_values(x, n, 0.37f);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = all_types[ti];
        const struct smelt_type_traits *tr = smelt_quant_traits(type);
        if (tr->blck == 256) continue; /* super-block types: cmd_bounds_k */
        tr->from_float_ref(x, q, n);
        tr->to_float_ref(q, y, n);
        double worst = 0; /* worst error / bound ratio */
        for (int64_t b = 0; b < n / 32; b++) {
            const float *xb = x + b * 32;
            float amax = 0, mn = FLT_MAX, mx = -FLT_MAX, maxv = 0;
            for (int j = 0; j < 32; j++) {
                if (fabsf(xb[j]) > amax) amax = fabsf(xb[j]), maxv = xb[j];
                mn = fminf(mn, xb[j]);
                mx = fmaxf(mx, xb[j]);
            }
            for (int j = 0; j < 32; j++) {
                const int64_t i = b * 32 + j;
                const double err = fabs((double)x[i] - y[i]);
                double bound;
                if (type == SMELT_TYPE_Q8_0 || type == SMELT_TYPE_Q8_1) {
                    const float d = amax / 127, d16 = smelt_fp16_to_fp32(smelt_fp32_to_fp16(d));
                    bound = d / 2 + 127 * fabs((double)d - d16);
                } else if (type == SMELT_TYPE_Q4_0) {
                    const float d = maxv / -8, d16 = smelt_fp16_to_fp32(smelt_fp32_to_fp16(d));
                    const bool clamped = d != 0 && xb[j] * (1.0f / d) + 8.5f >= 16.0f;
                    bound = (clamped ? fabsf(d) : fabsf(d) / 2) + 8 * fabs((double)d - d16);
                } else if (type == SMELT_TYPE_Q5_0) {
                    const float d = maxv / -16, d16 = smelt_fp16_to_fp32(smelt_fp32_to_fp16(d));
                    const bool clamped = d != 0 && xb[j] * (1.0f / d) + 16.5f >= 32.0f;
                    bound = (clamped ? fabsf(d) : fabsf(d) / 2) + 16 * fabs((double)d - d16);
                } else if (type == SMELT_TYPE_Q5_1) {
                    const float d = (mx - mn) / 31, d16 = smelt_fp16_to_fp32(smelt_fp32_to_fp16(d));
                    const float m16 = smelt_fp16_to_fp32(smelt_fp32_to_fp16(mn));
                    bound = d / 2 + 31 * fabs((double)d - d16) + fabs((double)mn - m16);
                } else if (type == SMELT_TYPE_IQ4_NL) {
                    const float d0 = maxv / -127, d16 = smelt_fp16_to_fp32(((const smelt_block_iq4_nl *)q)[b].d);
                    bound = 14 * fabs(d0) + 127 * fabs((double)d0 - d16) + 127 * 0x1p-10 * fabs(d16);
                } else if (type == SMELT_TYPE_Q4_1) {
                    const float d = (mx - mn) / 15, d16 = smelt_fp16_to_fp32(smelt_fp32_to_fp16(d));
                    const float m16 = smelt_fp16_to_fp32(smelt_fp32_to_fp16(mn));
                    bound = d / 2 + 15 * fabs((double)d - d16) + fabs((double)mn - m16);
                } else if (type == SMELT_TYPE_F16) {
                    bound = fabs(x[i]) * 0x1p-11;
                } else if (type == SMELT_TYPE_BF16) {
                    bound = fabs(x[i]) * 0x1p-8;
                } else {
                    bound = 0;
                }
                bound += 1e-6 * amax;
                CHECKF(err <= bound, "%s block %lld elem %d: |%g - %g| = %g > bound %g", tr->name, (long long)b, j,
                       x[i], y[i], err, bound);
                if (bound > 0 && err / bound > worst) worst = err / bound;
            }
            if (type == SMELT_TYPE_Q8_1) {
                const smelt_block_q8_1 *bq = (const smelt_block_q8_1 *)q + b;
                int sum = 0;
                for (int j = 0; j < 32; j++) sum += bq->qs[j];
                const double ds = (double)(amax / 127) * sum;
                CHECKF(fabs(smelt_fp16_to_fp32(bq->s) - ds) <= fabs(ds) * 0x1p-11 + 1e-7, "Q8_1 s of block %lld",
                       (long long)b);
            }
        }
        printf("%-5s worst error/bound = %.3f\n", tr->name, worst);
        /* a zero block quantizes to all-zero output (d = 0, id = 0) */
        for (int j = 32; j < 64; j++) CHECKF(y[j] == 0.0f, "%s zero block elem %d = %g", tr->name, j, y[j]);
    }
    free(x), free(y), free(q);
    return CHECK_EXIT();
}

/* ---- super-block types: quantize -> dequantize error bounds ----
 * Their scales come from a search, so the bounds are stated per super-block
 * of 256 values drawn from fill_values (gaussian with outliers, plus zero and
 * constant blocks), as the relative RMS error sqrt(sum (x-x')^2 / sum x^2)
 * and the largest error relative to the super-block's max |x|:
 *   Q8_K:   |x - x'| <= d/2 (1 + 2^-20) with d = amax/127 (no fp16 rounding)
 *   Q6_K:   rms <= 0.045, max <= 0.025 amax       Q5_K: rms <= 0.070, max <= 0.045 amax
 *   Q4_K:   rms <= 0.14,  max <= 0.080 amax       Q3_K: rms <= 0.30,  max <= 0.24 amax
 *   Q2_K:   rms <= 0.55,  max <= 0.40 amax       IQ4_XS: rms <= 0.18, max <= 0.09 amax
 * (about 1.3x the worst block of this data, which has outliers of 8 sigma;
 * the rms values are what a uniform quantizer of the bit width over the
 * block's range gives. A regression in the scale search or in the packing
 * shows up as a much larger error.) An all-zero super-block must dequantize
 * to zeros. */
static int cmd_bounds_k(void) {
    const int64_t n = 4352; /* 17 super-blocks */
    float *x = malloc(n * 4), *y = malloc(n * 4);
    unsigned char *q = malloc(n * 4);
    fill_values(x, n, 0.37f);
    for (int i = 256; i < 512; i++) x[i] = 0.0f; /* zero super-block */
    static const struct {
        uint32_t type;
        double rms, max;
    } lim[] = {{SMELT_TYPE_Q8_K, 0, 0},       {SMELT_TYPE_Q6_K, 0.045, 0.025}, {SMELT_TYPE_Q5_K, 0.070, 0.045},
               {SMELT_TYPE_Q4_K, 0.14, 0.080}, {SMELT_TYPE_Q3_K, 0.30, 0.24},   {SMELT_TYPE_Q2_K, 0.55, 0.40},
               {SMELT_TYPE_IQ4_XS, 0.18, 0.09}};
    for (size_t li = 0; li < sizeof lim / sizeof *lim; li++) {
        const struct smelt_type_traits *tr = smelt_quant_traits(lim[li].type);
        if (!tr) continue;
        tr->from_float_ref(x, q, n);
        tr->to_float_ref(q, y, n);
        double worst_rms = 0, worst_max = 0;
        for (int64_t b = 0; b < n / 256; b++) {
            const float *xb = x + b * 256, *yb = y + b * 256;
            double se = 0, sx = 0, emax = 0, amax = 0;
            for (int j = 0; j < 256; j++) {
                const double e = fabs((double)xb[j] - yb[j]);
                se += e * e;
                sx += (double)xb[j] * xb[j];
                if (e > emax) emax = e;
                if (fabs(xb[j]) > amax) amax = fabs(xb[j]);
            }
            if (amax == 0) {
                for (int j = 0; j < 256; j++) CHECKF(yb[j] == 0.0f, "%s zero block elem %d = %g", tr->name, j, yb[j]);
                continue;
            }
            if (lim[li].type == SMELT_TYPE_Q8_K) {
                const double d = amax / 127;
                CHECKF(emax <= d / 2 * (1 + 0x1p-20), "Q8_K block %lld: max error %g > d/2 = %g", (long long)b, emax,
                       d / 2);
                if (emax / (d / 2) > worst_max) worst_max = emax / (d / 2);
                continue;
            }
            const double rms = sqrt(se / sx), rmax = emax / amax;
            CHECKF(rms <= lim[li].rms, "%s block %lld: relative rms error %.4f > %.4f", tr->name, (long long)b, rms,
                   lim[li].rms);
            CHECKF(rmax <= lim[li].max, "%s block %lld: max error %.4f amax > %.4f", tr->name, (long long)b, rmax,
                   lim[li].max);
            if (rms > worst_rms) worst_rms = rms;
            if (rmax > worst_max) worst_max = rmax;
        }
        if (lim[li].type == SMELT_TYPE_Q8_K)
            printf("%-6s worst error / (d/2) = %.4f\n", tr->name, worst_max);
        else
            printf("%-6s worst relative rms %.4f (bound %.3f), worst max error %.4f amax (bound %.3f)\n", tr->name,
                   worst_rms, lim[li].rms, worst_max, lim[li].max);
    }
    free(x), free(y), free(q);
    return CHECK_EXIT();
}

/* ---- matmul ---- */
static int cmd_matmul(void) {
    const uint32_t wtypes[] = {SMELT_TYPE_F32, SMELT_TYPE_F16, SMELT_TYPE_BF16, SMELT_TYPE_Q4_0,
                               SMELT_TYPE_Q4_1, SMELT_TYPE_Q8_0, SMELT_TYPE_Q5_0, SMELT_TYPE_Q5_1,
                               SMELT_TYPE_Q2_K, SMELT_TYPE_Q3_K, SMELT_TYPE_Q4_K, SMELT_TYPE_Q5_K,
                               SMELT_TYPE_Q6_K, SMELT_TYPE_IQ4_NL, SMELT_TYPE_IQ4_XS};
    const int64_t Ks32[] = {96, 576}, Ks256[] = {256, 768};
    const int64_t ntoks[] = {1, 3, 37};
    const int64_t M = 45; /* rows: not a multiple of the row tile */
    for (size_t wi = 0; wi < sizeof wtypes / sizeof *wtypes; wi++)
        for (size_t ki = 0; ki < 2; ki++)
            for (size_t ni = 0; ni < 3; ni++) {
                const uint32_t wt = wtypes[wi];
                const struct smelt_type_traits *tr = smelt_quant_traits(wt);
                const bool kq = tr->blck == 256 || smelt_quant_traits(tr->vec_dot_type)->blck == 256;
                const int64_t K = kq ? Ks256[ki] : Ks32[ki], nt = ntoks[ni], ld = M + 3;
                const struct smelt_type_traits *vt = smelt_quant_traits(tr->vec_dot_type);
                const size_t wrs = smelt_quant_row_size(wt, K), xrs = smelt_quant_row_size(tr->vec_dot_type, K);
                float *wf = malloc(M * K * 4), *xf = malloc(nt * K * 4), *wd = malloc(M * K * 4),
                      *xd = malloc(nt * K * 4), *wa = malloc(M * K * 4);
                unsigned char *tmp = malloc(xrs);
                unsigned char *w = malloc(M * wrs), *xq = gbuf_new(nt * xrs);
                float *y = gbuf_new(nt * ld * 4);
                fill_values(wf, M * K, 0.05f);
                fill_values(xf, nt * K, 1.0f);
                for (int64_t r = 0; r < M; r++) tr->from_float_ref(wf + r * K, w + r * wrs, K);
                smelt_quantize_rows(xf, nt, K, tr->vec_dot_type, xq);
                for (int64_t t = 0; t < nt; t++) {
                    vt->from_float_ref(xf + t * K, tmp, K);
                    CHECKF(memcmp(tmp, xq + t * xrs, xrs) == 0, "quantize_rows %s row %lld", vt->name, (long long)t);
                }
                for (int64_t r = 0; r < M; r++) tr->to_float_ref(w + r * wrs, wd + r * K, K);
                for (int64_t r = 0; r < M; r++) abs_terms(wt, w + r * wrs, K, wa + r * K);
                for (int64_t t = 0; t < nt; t++) vt->to_float_ref(xq + t * xrs, xd + t * K, K);
                /* both paths (the repacked-weight order applies to Q4_0 and Q4_K only) */
                for (int pi = 0; pi < 2; pi++) {
                    const enum smelt_mm_path path = pi ? SMELT_MM_REPACK8 : SMELT_MM_PLAIN;
                    for (int64_t i = 0; i < nt * ld; i++) y[i] = -12345.0f;
                    /* two calls splitting the rows like two threads would */
                    smelt_matmul_rows(w, wt, K, 0, 17, xq, xrs, nt, y, ld, path);
                    smelt_matmul_rows(w, wt, K, 17, M, xq, xrs, nt, y, ld, path);
                    for (int64_t t = 0; t < nt; t++) {
                        for (int64_t r = 0; r < M; r++) {
                            double s = 0, S = 0;
                            for (int64_t k = 0; k < K; k++) {
                                s += (double)wd[r * K + k] * xd[t * K + k];
                                S += fabs((double)wa[r * K + k] * xd[t * K + k]);
                            }
                            /* Q8_1's s = fp16(d * sum(q)) is rounded: allow 2^-10 of the magnitudes */
                            const bool q81 = tr->vec_dot_type == SMELT_TYPE_Q8_1;
                            const double tol = (q81 ? 0x1p-10 * 4 : 2.0 * K * FLT_EPSILON) * S + 1e-6;
                            CHECKF(fabs(y[t * ld + r] - s) <= tol, "matmul %s path %d K=%lld nt=%lld t=%lld r=%lld: %g vs %g",
                                   tr->name, (int)path, (long long)K, (long long)nt, (long long)t, (long long)r, y[t * ld + r], s);
                        }
                        for (int64_t r = M; r < ld; r++) CHECK(y[t * ld + r] == -12345.0f);
                    }
                }
                CHECK(gbuf_check(y, nt * ld * 4) && gbuf_check(xq, nt * xrs));
                free(wf), free(xf), free(wd), free(xd), free(wa), free(tmp), free(w), gbuf_free(xq), gbuf_free(y);
            }
    return CHECK_EXIT();
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_quant kernels|convert|bounds|matmul|isa WANT\n");
        return 2;
    }
    if (!strcmp(argv[1], "kernels")) return cmd_kernels();
    if (!strcmp(argv[1], "convert")) return cmd_convert();
    if (!strcmp(argv[1], "bounds")) return cmd_bounds() | cmd_bounds_k();
    if (!strcmp(argv[1], "matmul")) return cmd_matmul();
    if (!strcmp(argv[1], "isa") && argc == 3) {
        const char *got = smelt_kernels_isa();
        CHECKF(strcmp(got, argv[2]) == 0, "active tier %s, expected %s", got, argv[2]);
        return CHECK_EXIT();
    }
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
