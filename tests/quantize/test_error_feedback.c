/* Error-feedback quantization (src/model/quantize_gptq.c) on a synthetic layer.
 *
 *   test_error_feedback gain         for every type smelt writes: the output error (x.(w - q))^2
 *                                    on held-out inputs of the calibration distribution is lower
 *                                    with error feedback than with the same quantizer weighted by
 *                                    the diagonal importances alone (ratio under a bound per type)
 *   test_error_feedback rows         rows are independent: all rows at once == two halves (bytes)
 *   test_error_feedback degenerate   an input column that is always 0 and a rank-deficient input
 *                                    still factorise (damping) and give finite, decodable rows
 *   test_error_feedback pos0         position-0 rows weighted k times == those rows observed k times
 *   test_error_feedback shrink       with few calibration rows (fewer than columns, as
 *                                    self-calibration has for ffn_down), shrinking the second
 *                                    moments' off-diagonal (SMELT_SELFCAL_SHRINK) lowers the held-out
 *                                    output error; shrink 1 leaves no feedback across columns; values
 *                                    outside [0, 1] are refused
 *
 * Inputs: x = s * (z + 0.8 * M z) with z ~ N(0, I), per-column scales s (lognormal) and a
 * random low-rank mixing M, so that the columns are strongly correlated as in real layers.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/imatrix_int.h"
#include "model/quantize_int.h"
#include "quant/quant.h"
#include "quant/quant_imat.h"
#include "smelt/quantize.h"
#include "rng.h"

#define D 512     /* input columns */
#define R 48      /* weight rows */
#define T 2048    /* calibration rows (and as many held out) */
#define RANK 16   /* mixing rank */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void) { return test_u32(&rng_state); }
static float rng_unif(void) { return ((float)(rng_u32() & 0xffffff) + 0.5f) / 16777216.0f; }
static float rng_normal(void) { return sqrtf(-2 * logf(rng_unif())) * cosf(6.2831853f * rng_unif()); }

static float g_s[D], g_u[RANK][D], g_v[RANK][D];

static void init_dist(void) {
    for (int j = 0; j < D; j++) g_s[j] = expf(0.7f * rng_normal());
    for (int k = 0; k < RANK; k++)
        for (int j = 0; j < D; j++) {
            g_u[k][j] = rng_normal() / sqrtf((float)D);
            g_v[k][j] = rng_normal();
        }
}

static void sample_x(float *x, int64_t n) {
    float z[D];
    for (int64_t t = 0; t < n; t++) {
        for (int j = 0; j < D; j++) z[j] = rng_normal();
        float *r = x + t * D;
        for (int j = 0; j < D; j++) r[j] = z[j];
        for (int k = 0; k < RANK; k++) {
            float p = 0;
            for (int j = 0; j < D; j++) p += g_u[k][j] * z[j];
            for (int j = 0; j < D; j++) r[j] += 0.8f * p * g_v[k][j];
        }
        for (int j = 0; j < D; j++) r[j] *= g_s[j];
    }
}

static void fill_w(float *w) {
    for (int i = 0; i < R * D; i++) w[i] = 0.05f * rng_normal();
    for (int i = 0; i < R * D; i += 53) w[i] *= 5;
}

/* sum over rows and held-out tokens of (x.(w - deq(q)))^2 */
static double out_err(uint32_t type, const float *w, const void *q, const float *xe, int64_t ne) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    const size_t rs = smelt_quant_row_size(type, D);
    float d[D];
    double s = 0;
    for (int r = 0; r < R; r++) {
        tr->to_float_ref((const char *)q + (size_t)r * rs, d, D);
        for (int j = 0; j < D; j++) d[j] = w[r * D + j] - d[j];
        for (int64_t t = 0; t < ne; t++) {
            double p = 0;
            for (int j = 0; j < D; j++) p += (double)d[j] * xe[t * D + j];
            s += p * p;
        }
    }
    return s;
}

static const char *const NAME[1] = {"blk.0.ffn_up.weight"};
static float g_shrink; /* smelt_gptq_new's shrink for quant_ef */

static struct smelt_imatrix *collect(const float *x, int64_t n, const int32_t *pos, float pos0_w) {
    struct smelt_imatrix *im = NULL;
    CHECK(smelt_imatrix_new_standalone(false, &im) == SMELT_OK);
    CHECK(smelt_imatrix_collect_full(im, 0, pos0_w) == SMELT_OK);
    for (int64_t t0 = 0; t0 < n; t0 += 100) /* uneven calls, as decode chunks come */
        smelt_imatrix_observe(im, NAME, 1, x + t0 * D, pos ? pos + t0 : NULL, n - t0 < 100 ? n - t0 : 100, D);
    CHECK(smelt_imatrix_has_full(im));
    return im;
}

/* quantize all R rows with error feedback into q; w is not modified */
static void quant_ef(struct smelt_imatrix *im, uint32_t type, const float *w, void *q, int64_t r0, int64_t nr) {
    struct smelt_gptq *g = NULL;
    CHECK(smelt_gptq_new(im, g_shrink, &g) == SMELT_OK);
    CHECK(smelt_gptq_has(g, NAME[0], D));
    CHECK(!smelt_gptq_has(g, NAME[0], D + 32));
    CHECK(smelt_gptq_prepare(g, NAME[0], smelt_quant_traits(type)->blck) == SMELT_OK);
    float *wc = malloc(sizeof(float) * (size_t)(nr * D));
    float *work = malloc(sizeof(float) * smelt_gptq_work_floats(nr));
    memcpy(wc, w + r0 * D, sizeof(float) * (size_t)(nr * D));
    CHECK(smelt_gptq_rows(g, NAME[0], type, wc, nr, D, (char *)q + (size_t)r0 * smelt_quant_row_size(type, D), work));
    free(wc);
    free(work);
    smelt_gptq_free(g);
}

static const struct {
    uint32_t type;
    double max_ratio; /* held-out output error with / without feedback; measured + ~10-20% slack */
} CASES[] = {
    /* blocks of 32: 0.17-0.21 measured; blocks of 256 (no feedback inside a block): 0.55-0.63 */
    {SMELT_TYPE_Q8_0, 0.25},  {SMELT_TYPE_Q4_0, 0.25},   {SMELT_TYPE_Q4_1, 0.25}, {SMELT_TYPE_Q5_0, 0.25},
    {SMELT_TYPE_Q5_1, 0.25},  {SMELT_TYPE_IQ4_NL, 0.25}, {SMELT_TYPE_Q2_K, 0.70}, {SMELT_TYPE_Q3_K, 0.70},
    {SMELT_TYPE_Q4_K, 0.70},  {SMELT_TYPE_Q5_K, 0.70},   {SMELT_TYPE_Q6_K, 0.70}, {SMELT_TYPE_IQ4_XS, 0.70},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static void test_gain(void) {
    float *xc = malloc(sizeof(float) * T * D), *xe = malloc(sizeof(float) * T * D), *w = malloc(sizeof(float) * R * D);
    sample_x(xc, T);
    sample_x(xe, T);
    fill_w(w);
    struct smelt_imatrix *im = collect(xc, T, NULL, 1.0f);
    float imp[D]; /* the diagonal: mean squared activation, as an imatrix gives */
    for (int j = 0; j < D; j++) {
        double s = 0;
        for (int64_t t = 0; t < T; t++) s += (double)xc[t * D + j] * xc[t * D + j];
        imp[j] = (float)(s / T);
    }
    for (size_t k = 0; k < N_CASES; k++) {
        const uint32_t type = CASES[k].type;
        const size_t bytes = smelt_quant_row_size(type, D) * R;
        void *qe = malloc(bytes), *qd = malloc(bytes);
        quant_ef(im, type, w, qe, 0, R);
        CHECK(smelt_quantize_imat(type, w, qd, R, D, imp) == bytes);
        const double e_ef = out_err(type, w, qe, xe, 256), e_d = out_err(type, w, qd, xe, 256);
        const double ratio = e_ef / e_d;
        fprintf(stderr, "  %-7s held-out output error with feedback / without: %.3f (bound %.2f)\n",
                smelt_type_name(type), ratio, CASES[k].max_ratio);
        CHECK(isfinite(ratio) && ratio < CASES[k].max_ratio);
        free(qe);
        free(qd);
    }
    smelt_imatrix_free(im);
    free(xc);
    free(xe);
    free(w);
}

static void test_rows(void) {
    float *xc = malloc(sizeof(float) * T * D), *w = malloc(sizeof(float) * R * D);
    sample_x(xc, T);
    fill_w(w);
    struct smelt_imatrix *im = collect(xc, T, NULL, 1.0f);
    const uint32_t types[] = {SMELT_TYPE_Q4_K, SMELT_TYPE_Q8_0};
    for (int k = 0; k < 2; k++) {
        const size_t bytes = smelt_quant_row_size(types[k], D) * R;
        char *a = malloc(bytes), *b = malloc(bytes);
        quant_ef(im, types[k], w, a, 0, R);
        quant_ef(im, types[k], w, b, 0, 17);
        quant_ef(im, types[k], w, b, 17, R - 17);
        CHECK(memcmp(a, b, bytes) == 0);
        free(a);
        free(b);
    }
    smelt_imatrix_free(im);
    free(xc);
    free(w);
}

static void test_degenerate(void) {
    const int64_t n = 64; /* fewer tokens than columns: rank-deficient */
    float *x = malloc(sizeof(float) * (size_t)(n * D)), *w = malloc(sizeof(float) * R * D), d[D];
    sample_x(x, n);
    for (int64_t t = 0; t < n; t++) x[t * D + 7] = 0; /* a dead column */
    fill_w(w);
    struct smelt_imatrix *im = collect(x, n, NULL, 1.0f);
    const uint32_t type = SMELT_TYPE_Q4_0;
    const size_t rs = smelt_quant_row_size(type, D);
    char *q = malloc(rs * R);
    quant_ef(im, type, w, q, 0, R);
    for (int r = 0; r < R; r++) {
        smelt_quant_traits(type)->to_float_ref(q + (size_t)r * rs, d, D);
        for (int j = 0; j < D; j++) CHECK(isfinite(d[j]) && fabsf(d[j]) < 10.0f);
    }
    smelt_imatrix_free(im);
    free(q);
    free(x);
    free(w);
}

static void test_pos0(void) {
    /* 64 rows, two of them at position 0, weighted 3x; against the same rows with the position-0
     * rows observed three times */
    const int64_t n = 64;
    float *x = malloc(sizeof(float) * (size_t)(n + 4) * D), *w = malloc(sizeof(float) * R * D);
    int32_t pos[64];
    sample_x(x, n);
    fill_w(w);
    for (int64_t t = 0; t < n; t++) pos[t] = (int32_t)(t % 32);
    struct smelt_imatrix *a = collect(x, n, pos, 3.0f);
    memcpy(x + n * D, x, sizeof(float) * D); /* rows 0 and 32 twice more */
    memcpy(x + (n + 1) * D, x, sizeof(float) * D);
    memcpy(x + (n + 2) * D, x + 32 * D, sizeof(float) * D);
    memcpy(x + (n + 3) * D, x + 32 * D, sizeof(float) * D);
    struct smelt_imatrix *b = collect(x, n + 4, NULL, 1.0f);
    int64_t na = 0, nb = 0;
    const float *ca = smelt_imatrix_full_of(a, NAME[0], &na, NULL, NULL);
    const float *cb = smelt_imatrix_full_of(b, NAME[0], &nb, NULL, NULL);
    CHECK(ca && cb && na == D && nb == D);
    double md = 0, mx = 0;
    for (int64_t i = 0; i < (int64_t)D * D; i++) {
        md = fmax(md, fabs((double)ca[i] - cb[i]));
        mx = fmax(mx, fabs((double)cb[i]));
    }
    CHECK(md <= 1e-5 * mx);
    for (int64_t i = 0; i < D; i++) /* symmetric after completion */
        CHECK(ca[i * D + (D - 1 - i)] == ca[(D - 1 - i) * D + i]);
    smelt_imatrix_free(a);
    smelt_imatrix_free(b);
    free(x);
    free(w);
}

static void test_shrink(void) {
    const int64_t n = 320; /* calibration rows < D columns */
    float *xc = malloc(sizeof(float) * (size_t)n * D), *xe = malloc(sizeof(float) * T * D);
    float *w = malloc(sizeof(float) * R * D);
    sample_x(xc, n);
    sample_x(xe, T);
    fill_w(w);
    struct smelt_imatrix *im = collect(xc, n, NULL, 1.0f);
    const uint32_t types[] = {SMELT_TYPE_Q8_0, SMELT_TYPE_Q4_0, SMELT_TYPE_Q6_K};
    for (int k = 0; k < 3; k++) {
        const size_t bytes = smelt_quant_row_size(types[k], D) * R;
        void *q0 = malloc(bytes), *qs = malloc(bytes), *q1 = malloc(bytes), *qd = malloc(bytes);
        g_shrink = 0.0f;
        quant_ef(im, types[k], w, q0, 0, R);
        g_shrink = SMELT_SELFCAL_SHRINK;
        quant_ef(im, types[k], w, qs, 0, R);
        g_shrink = 1.0f;
        quant_ef(im, types[k], w, q1, 0, R);
        /* shrink 1: diagonal second moments, so the feedback changes no other column: each block as the
         * type's search alone picks it with importances mean x^2 + damping */
        const int64_t bl = smelt_quant_traits(types[k])->blck;
        float imp[D];
        double mean = 0;
        const float *cov = smelt_imatrix_full_of(im, NAME[0], NULL, NULL, NULL);
        for (int j = 0; j < D; j++) mean += cov[j * D + j] / (double)n / D;
        for (int j = 0; j < D; j++) imp[j] = (float)(cov[j * D + j] / (double)n + 0.01 * mean);
        const size_t rs = smelt_quant_row_size(types[k], D), bb = smelt_quant_traits(types[k])->bytes;
        for (int r = 0; r < R; r++)
            for (int64_t c0 = 0; c0 < D; c0 += bl)
                CHECK(smelt_quantize_imat(types[k], w + r * D + c0, (char *)qd + r * rs + (c0 / bl) * bb, 1, bl,
                                          imp + c0) == bb);
        const double e0 = out_err(types[k], w, q0, xe, 256), es = out_err(types[k], w, qs, xe, 256);
        const double e1 = out_err(types[k], w, q1, xe, 256), ed = out_err(types[k], w, qd, xe, 256);
        fprintf(stderr, "  %-5s %lld calibration rows: held-out output error, shrink %.2f / 0: %.3f; shrink 1 / "
                "diagonal: %.4f\n", smelt_type_name(types[k]), (long long)n, (double)SMELT_SELFCAL_SHRINK, es / e0,
                e1 / ed);
        /* measured 0.93 (Q8_0), 0.91 (Q4_0); 1.00 for Q6_K, whose 256-blocks get no feedback inside */
        CHECK(isfinite(es / e0) && es / e0 < (bl == 32 ? 0.96 : 1.02));
        CHECK(fabs(e1 / ed - 1) < 0.02);
        free(q0);
        free(qs);
        free(q1);
        free(qd);
    }
    struct smelt_gptq *g = NULL;
    CHECK(smelt_gptq_new(im, -0.1f, &g) == SMELT_ERR_INVALID_ARG && !g);
    CHECK(smelt_gptq_new(im, 1.5f, &g) == SMELT_ERR_INVALID_ARG && !g);
    CHECK(smelt_gptq_new(im, NAN, &g) == SMELT_ERR_INVALID_ARG && !g);
    smelt_imatrix_free(im);
    free(xc);
    free(xe);
    free(w);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_error_feedback gain|rows|degenerate|pos0|shrink\n");
        return 2;
    }
    smelt_kernels_init();
    init_dist();
    if (!strcmp(argv[1], "gain")) test_gain();
    else if (!strcmp(argv[1], "rows")) test_rows();
    else if (!strcmp(argv[1], "degenerate")) test_degenerate();
    else if (!strcmp(argv[1], "pos0")) test_pos0();
    else if (!strcmp(argv[1], "shrink")) test_shrink();
    else {
        fprintf(stderr, "unknown test '%s'\n", argv[1]);
        return 2;
    }
    return CHECK_EXIT();
}
