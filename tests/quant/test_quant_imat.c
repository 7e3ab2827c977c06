/* Tests of the importance-weighted quantizers (src/quant/quant_imat.h).
 *
 *   test_quant_imat bounds       quantize -> dequantize relative RMS error under a bound per type,
 *                                F32/F16/BF16 equal to the plain conversions
 *   test_quant_imat vsref        weighted error (heavy-tailed importances) and plain error (no
 *                                importances) <= margin x the *_ref quantizer's (= llama.cpp's
 *                                quantize_row_*_ref) on the same rows
 *   test_quant_imat imatrix      importances change the chosen scales and lower the weighted error
 *   test_quant_imat badargs      invalid arguments return 0 and leave dst untouched
 *   test_quant_imat determinism  same bytes twice, and row by row == all rows at once
 *   test_quant_imat exact        rows that a single-level type represents exactly come back exactly
 *
 * Errors are measured on what smelt's *_to_float_ref (== llama.cpp's dequantizers) gives back.
 * Bounds and margins were measured on these rows (see the comments at the tables) and leave
 * about 10% slack.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "quant/quant.h"
#include "quant/quant_blocks.h"
#include "quant/quant_imat.h"
#include "rng.h"

#define NPR 512
#define NROWS 8

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t rng_u32(void) { return test_u32(&rng_state); }
static float rng_unif(void) { return ((float)(rng_u32() & 0xffffff) + 0.5f) / 16777216.0f; } /* (0,1) */
static float rng_normal(void) {
    return sqrtf(-2 * logf(rng_unif())) * cosf(6.2831853f * rng_unif());
}

/* Rows like weights: gaussian, every 61st value x6 (outliers), a zero block,
 * a constant block, a block of small values. */
static void fill_rows(float *x, int64_t nrows) {
    for (int64_t i = 0; i < nrows * NPR; i++) x[i] = 0.02f * rng_normal();
    for (int64_t i = 0; i < nrows * NPR; i += 61) x[i] *= 6;
    memset(x + 64, 0, 32 * sizeof *x);
    for (int i = 96; i < 128; i++) x[i] = 0.013f;
    for (int i = NPR + 256; i < NPR + 288; i++) x[i] *= 1e-3f;
}

/* Heavy-tailed importances: lognormal (sigma 1.5), 2% of the columns x50. */
static void fill_imp(float *imp) {
    for (int j = 0; j < NPR; j++) imp[j] = expf(1.5f * rng_normal()) * (rng_unif() < 0.02f ? 50.f : 1.f);
}

static double werr(uint32_t type, const float *x, const void *q, int64_t nrows, const float *imp) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    const size_t rs = smelt_quant_row_size(type, NPR);
    float y[NPR];
    double e = 0;
    for (int64_t r = 0; r < nrows; r++) {
        tr->to_float_ref((const uint8_t *)q + r * rs, y, NPR);
        for (int j = 0; j < NPR; j++) {
            const double d = (double)x[r * NPR + j] - y[j];
            e += (imp ? imp[j] : 1.0) * d * d;
        }
    }
    return e;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) abort();
    return p;
}

/* Types with their bounds and margins, measured on these rows (fill_rows,
 * fill_imp) and given ~10% slack.
 * rms: relative RMS error bound without importances (measured: Q8_0 0.0078,
 *   Q4_0 0.124, Q4_1 0.084, Q5_0 0.064, Q5_1 0.041, IQ4_NL 0.097, Q2_K 0.283,
 *   Q3_K 0.181, Q4_K 0.085, Q5_K 0.042, Q6_K 0.024, IQ4_XS 0.098).
 * wmargin / pmargin: largest allowed ratio ours / *_ref of the weighted error
 *   with importances / of the plain error without (measured:
 *   Q8_0 0.51/0.92, Q4_0 0.49/0.93, Q4_1 0.35/0.76, Q5_0 0.58/0.94,
 *   Q5_1 0.34/0.81, IQ4_NL 0.43/0.91, Q2_K 0.24/0.70, Q3_K 0.45/0.91,
 *   Q4_K 0.40/0.91, Q5_K 0.37/0.85, Q6_K 0.44/0.89, IQ4_XS 0.47/0.92). */
static const struct tcase {
    uint32_t type;
    double rms, wmargin, pmargin;
} cases[] = {
    {SMELT_TYPE_Q8_0, 0.0086, 0.56, 0.97},  {SMELT_TYPE_Q4_0, 0.136, 0.54, 0.97},
    {SMELT_TYPE_Q4_1, 0.092, 0.39, 0.84},   {SMELT_TYPE_Q5_0, 0.071, 0.64, 0.98},
    {SMELT_TYPE_Q5_1, 0.045, 0.37, 0.89},   {SMELT_TYPE_IQ4_NL, 0.107, 0.47, 0.96},
    {SMELT_TYPE_Q2_K, 0.311, 0.27, 0.77},   {SMELT_TYPE_Q3_K, 0.199, 0.50, 0.96},
    {SMELT_TYPE_Q4_K, 0.094, 0.44, 0.96},   {SMELT_TYPE_Q5_K, 0.047, 0.41, 0.94},
    {SMELT_TYPE_Q6_K, 0.026, 0.48, 0.96},   {SMELT_TYPE_IQ4_XS, 0.108, 0.52, 0.97},
};
#define NCASES (sizeof cases / sizeof *cases)

static int cmd_bounds(void) {
    float *x = xmalloc(NROWS * NPR * sizeof *x);
    fill_rows(x, NROWS);
    double sx2 = 0;
    for (int i = 0; i < NROWS * NPR; i++) sx2 += (double)x[i] * x[i];
    for (size_t c = 0; c < NCASES; c++) {
        const size_t bytes = NROWS * smelt_quant_row_size(cases[c].type, NPR);
        void *q = xmalloc(bytes);
        CHECK(smelt_quantize_imat(cases[c].type, x, q, NROWS, NPR, NULL) == bytes);
        const double rel = sqrt(werr(cases[c].type, x, q, NROWS, NULL) / sx2);
        printf("%-7s relative rms %.4f (bound %.4f)\n", smelt_type_name(cases[c].type), rel, cases[c].rms);
        CHECKF(rel <= cases[c].rms, "%s: relative rms %g > %g", smelt_type_name(cases[c].type), rel, cases[c].rms);
        free(q);
    }
    /* plain conversions */
    const uint32_t plain[] = {SMELT_TYPE_F32, SMELT_TYPE_F16, SMELT_TYPE_BF16};
    for (int p = 0; p < 3; p++) {
        const struct smelt_type_traits *tr = smelt_quant_traits(plain[p]);
        const size_t bytes = NROWS * smelt_quant_row_size(plain[p], NPR);
        uint8_t *a = xmalloc(bytes), *b = xmalloc(bytes);
        CHECK(smelt_quantize_imat(plain[p], x, a, NROWS, NPR, NULL) == bytes);
        tr->from_float_ref(x, b, NROWS * NPR);
        CHECKF(!memcmp(a, b, bytes), "%s differs from from_float_ref", tr->name);
        free(a), free(b);
    }
    free(x);
    return CHECK_EXIT();
}

static int cmd_vsref(void) {
    float *x = xmalloc(NROWS * NPR * sizeof *x), imp[NPR];
    fill_rows(x, NROWS);
    fill_imp(imp);
    for (size_t c = 0; c < NCASES; c++) {
        const uint32_t t = cases[c].type;
        const struct smelt_type_traits *tr = smelt_quant_traits(t);
        const size_t bytes = NROWS * smelt_quant_row_size(t, NPR);
        void *q = xmalloc(bytes), *r = xmalloc(bytes);
        for (int row = 0; row < NROWS; row++)
            tr->from_float_ref(x + row * NPR, (uint8_t *)r + row * smelt_quant_row_size(t, NPR), NPR);
        CHECK(smelt_quantize_imat(t, x, q, NROWS, NPR, imp) == bytes);
        const double wr = werr(t, x, q, NROWS, imp) / werr(t, x, r, NROWS, imp);
        CHECK(smelt_quantize_imat(t, x, q, NROWS, NPR, NULL) == bytes);
        const double pr = werr(t, x, q, NROWS, NULL) / werr(t, x, r, NROWS, NULL);
        printf("%-7s ours/ref weighted %.4f (max %.2f)  plain %.4f (max %.2f)\n", tr->name, wr, cases[c].wmargin, pr,
               cases[c].pmargin);
        CHECKF(wr <= cases[c].wmargin, "%s: weighted error ratio %g > %g", tr->name, wr, cases[c].wmargin);
        CHECKF(pr <= cases[c].pmargin, "%s: plain error ratio %g > %g", tr->name, pr, cases[c].pmargin);
        free(q), free(r);
    }
    free(x);
    return CHECK_EXIT();
}

/* A row whose largest values sit in columns of negligible importance: with
 * the importances the scales follow the important columns instead. */
static int cmd_imatrix(void) {
    float x[NPR], imp[NPR];
    for (int j = 0; j < NPR; j++) {
        x[j] = 0.05f * rng_normal();
        imp[j] = 1.f;
    }
    for (int j = 5; j < NPR; j += 32) x[j] = 1.f, imp[j] = 1e-4f; /* one unimportant outlier per block */
    for (size_t c = 0; c < NCASES; c++) {
        const uint32_t t = cases[c].type;
        const size_t bytes = smelt_quant_row_size(t, NPR);
        uint8_t *a = xmalloc(bytes), *b = xmalloc(bytes);
        CHECK(smelt_quantize_imat(t, x, a, 1, NPR, imp) == bytes);
        CHECK(smelt_quantize_imat(t, x, b, 1, NPR, NULL) == bytes);
        /* the first two bytes of every type's block hold an fp16 scale, except Q2_K..Q6_K (d after
         * the quants) -- compare whole blocks instead: the scales move, so the bytes differ */
        CHECKF(memcmp(a, b, bytes) != 0, "%s: importances did not change the result", smelt_type_name(t));
        const double ew = werr(t, x, a, 1, imp), en = werr(t, x, b, 1, imp);
        printf("%-7s weighted error with importances %.4g, without %.4g\n", smelt_type_name(t), ew, en);
        CHECKF(ew < 0.9 * en, "%s: weighted error %g not below 0.9 x %g", smelt_type_name(t), ew, en);
        free(a), free(b);
    }
    /* Q4_0: the block scale itself changes (outlier no longer sets it) */
    smelt_block_q4_0 qa[NPR / 32], qb[NPR / 32];
    smelt_quantize_imat(SMELT_TYPE_Q4_0, x, qa, 1, NPR, imp);
    smelt_quantize_imat(SMELT_TYPE_Q4_0, x, qb, 1, NPR, NULL);
    for (int i = 0; i < NPR / 32; i++)
        CHECKF(fabsf(smelt_fp16_to_fp32(qa[i].d)) < 0.5f * fabsf(smelt_fp16_to_fp32(qb[i].d)),
               "block %d: scale %g with importances, %g without", i, smelt_fp16_to_fp32(qa[i].d),
               smelt_fp16_to_fp32(qb[i].d));
    /* an all-zero importance vector behaves like none */
    float zero[NPR] = {0};
    uint8_t a[NPR * 2], b[NPR * 2];
    const size_t bytes = smelt_quant_row_size(SMELT_TYPE_Q4_K, NPR);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_K, x, a, 1, NPR, zero) == bytes);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_K, x, b, 1, NPR, NULL) == bytes);
    CHECK(!memcmp(a, b, bytes));
    return CHECK_EXIT();
}

static int cmd_badargs(void) {
    float x[NPR], imp[NPR];
    for (int j = 0; j < NPR; j++) x[j] = rng_normal(), imp[j] = 1.f;
    uint8_t dst[4 * NPR];
    memset(dst, 0xab, sizeof dst);
    /* n_per_row not a multiple of the block */
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, x, dst, 1, 48, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_K, x, dst, 1, 288, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_IQ4_XS, x, dst, 1, 32, NULL) == 0);
    /* unsupported types */
    const uint32_t bad[] = {SMELT_TYPE_Q8_1, SMELT_TYPE_Q8_K, SMELT_TYPE_IQ2_XXS, SMELT_TYPE_TQ1_0, 4, 99, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(!smelt_quantize_imat_supported(bad[i]));
        CHECK(smelt_quantize_imat(bad[i], x, dst, 1, 256, NULL) == 0);
    }
    for (size_t c = 0; c < NCASES; c++) CHECK(smelt_quantize_imat_supported(cases[c].type));
    /* sizes and pointers */
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, x, dst, 0, NPR, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, x, dst, -1, NPR, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, x, dst, 1, 0, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, x, dst, 1, -32, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, NULL, dst, 1, NPR, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, x, NULL, 1, NPR, NULL) == 0);
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_0, x, dst, INT64_MAX / 2, NPR, NULL) == 0); /* size overflows */
    /* importances: negative, NaN, infinite */
    const float badw[] = {-1.f, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        imp[100] = badw[i];
        CHECK(smelt_quantize_imat(SMELT_TYPE_Q4_K, x, dst, 1, NPR, imp) == 0);
        CHECK(smelt_quantize_imat(SMELT_TYPE_F16, x, dst, 1, NPR, imp) == 0);
    }
    imp[100] = 1.f;
    /* non-finite source values */
    x[7] = NAN;
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q8_0, x, dst, 1, NPR, imp) == 0);
    x[7] = -INFINITY;
    CHECK(smelt_quantize_imat(SMELT_TYPE_Q6_K, x, dst, 1, NPR, NULL) == 0);
    for (size_t i = 0; i < sizeof dst; i++)
        if (dst[i] != 0xab) {
            CHECKF(0, "dst byte %zu written by a failing call", i);
            break;
        }
    return CHECK_EXIT();
}

static int cmd_determinism(void) {
    float *x = xmalloc(NROWS * NPR * sizeof *x), imp[NPR];
    fill_rows(x, NROWS);
    fill_imp(imp);
    for (size_t c = 0; c < NCASES; c++) {
        const uint32_t t = cases[c].type;
        const size_t rs = smelt_quant_row_size(t, NPR), bytes = NROWS * rs;
        uint8_t *a = xmalloc(bytes), *b = xmalloc(bytes), *r = xmalloc(bytes);
        CHECK(smelt_quantize_imat(t, x, a, NROWS, NPR, imp) == bytes);
        CHECK(smelt_quantize_imat(t, x, b, NROWS, NPR, imp) == bytes);
        for (int row = NROWS - 1; row >= 0; row--)
            CHECK(smelt_quantize_imat(t, x + row * NPR, r + row * rs, 1, NPR, imp) == rs);
        CHECKF(!memcmp(a, b, bytes), "%s: two runs differ", smelt_type_name(t));
        CHECKF(!memcmp(a, r, bytes), "%s: row by row differs from all rows", smelt_type_name(t));
        free(a), free(b), free(r);
    }
    free(x);
    return CHECK_EXIT();
}

/* Random valid blocks (using both extreme levels, fp16 scale 2^-6..2^-3)
 * dequantized: the quantizer must find them again, error 0. (A bug that cut
 * the affine search short lost such solutions in ~1e-4 of real blocks,
 * too rarely for these 16 blocks per type; dev/quant/cmp_llama.c showed it
 * on the SmolLM2 Q4_1 tensors re-quantized to Q4_1.) */
static int cmd_exact(void) {
    const uint32_t types[] = {SMELT_TYPE_Q8_0, SMELT_TYPE_Q4_0, SMELT_TYPE_Q4_1, SMELT_TYPE_Q5_0, SMELT_TYPE_Q5_1,
                              SMELT_TYPE_IQ4_NL};
    float x[NPR], y[NPR];
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        const struct smelt_type_traits *tr = smelt_quant_traits(types[t]);
        const size_t bs = tr->bytes, bytes = smelt_quant_row_size(types[t], NPR);
        uint8_t *blk = xmalloc(bytes), *q = xmalloc(bytes);
        for (int i = 0; i < NPR / 32; i++) {
            uint8_t *b = blk + i * bs;
            for (size_t k = 0; k < bs; k++) b[k] = (uint8_t)rng_u32();
            const uint16_t d = smelt_fp32_to_fp16(ldexpf(1.f + rng_unif(), -6 - (int)(rng_u32() % 3)));
            memcpy(b, &d, 2);
            if (types[t] == SMELT_TYPE_Q4_1 || types[t] == SMELT_TYPE_Q5_1) {
                const uint16_t m = smelt_fp32_to_fp16(-ldexpf(1.f + rng_unif(), -3));
                memcpy(b + 2, &m, 2);
            }
            /* element 0 at the lowest level, element 1 at the highest */
            if (types[t] == SMELT_TYPE_Q8_0) {
                for (int k = 2; k < 34; k++) b[k] = b[k] == 0x80 ? 0 : b[k]; /* the quantizers never give -128 */
                b[2] = (uint8_t)(int8_t)-127, b[3] = 127;
            } else {
                uint8_t *qs = b + bs - 16; /* nibbles are the last 16 bytes of every 32-block type */
                qs[0] &= 0xf0, qs[1] |= 0x0f;
                if (types[t] == SMELT_TYPE_Q5_0 || types[t] == SMELT_TYPE_Q5_1) {
                    uint8_t *qh = b + bs - 20;
                    qh[0] = (uint8_t)((qh[0] & ~1u) | 2u);
                }
            }
        }
        tr->to_float_ref(blk, x, NPR);
        CHECK(smelt_quantize_imat(types[t], x, q, 1, NPR, NULL) == bytes);
        tr->to_float_ref(q, y, NPR);
        int bad = 0;
        for (int j = 0; j < NPR; j++) bad += x[j] != y[j];
        CHECKF(bad == 0, "%s: %d of %d values not reproduced", tr->name, bad, NPR);
        free(blk), free(q);
    }
    return CHECK_EXIT();
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_quant_imat bounds|vsref|imatrix|badargs|determinism|exact\n");
        return 2;
    }
    if (!strcmp(argv[1], "bounds")) return cmd_bounds();
    if (!strcmp(argv[1], "vsref")) return cmd_vsref();
    if (!strcmp(argv[1], "imatrix")) return cmd_imatrix();
    if (!strcmp(argv[1], "badargs")) return cmd_badargs();
    if (!strcmp(argv[1], "determinism")) return cmd_determinism();
    if (!strcmp(argv[1], "exact")) return cmd_exact();
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
