/* Error-feedback quantization (smelt_quantize_params.stats; the method is
 * described in include/smelt/quantize.h).
 *
 * For an input with second moments H (n x n), the off-diagonal shrunk by a
 * factor (1 - shrink) and damped to A = H/count + lambda*I, let U be the upper-triangular factor with A^-1 = U^T U. Quantizing
 * the columns in blocks B = [c0, c0+b) from left to right, the inverse of A
 * restricted to the columns not yet quantized (R) is U_RR^T U_RR, so fixing
 * block B at q with error e = w_B - q costs ||e V||^2 with V = U_BB^-1 and the
 * best change of the remaining columns is w_rest -= (e V) U_B,rest. The type's
 * own search (smelt_quantize_imat) picks each block, weighted by the diagonal
 * of V V^T (the block's importances given that the later columns adapt).
 *
 * U comes from one Cholesky factorisation: with J the index reversal,
 * J A J = M M^T gives A^-1 = (J M^-1 J)^T (J M^-1 J), and J M^-1 J is upper
 * triangular. LAPACK (dpotrf, dtrtri) in double, BLAS sgemm for the updates.
 * Rows are independent given U, so a chunk of rows goes through all blocks in
 * one worker; the result does not depend on the thread count.
 *
 * SMELT_GPTQ_DEBUG=1 prints, per chunk of rows, the output error e A e^T on
 * the calibration statistics with and without the feedback. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "imatrix_int.h"
#include "quant/quant.h"
#include "quant/quant_imat.h"
#include "quantize_int.h"

/* LAPACK (Fortran interface, column-major; OpenBLAS exports it) */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda, int *info);

#define GPTQ_DAMP 0.01 /* of the mean diagonal, as GPTQ */

struct gptq_blocks { /* per input group and block size */
    int64_t b;       /* block size, 0: not prepared */
    float *v;        /* [nb][b][b] V = U_BB^-1, upper */
    float *imp;      /* [nb][b] diag(V V^T) */
};

struct gptq_group {
    int64_t n;
    const float *cov; /* for SMELT_GPTQ_DEBUG */
    double scale, damp, shrink;
    float *u; /* [n][n] upper, NULL until prepared */
    struct gptq_blocks bl[2]; /* block sizes 32 and 256 */
};

struct smelt_gptq {
    struct smelt_imatrix *stats;
    double shrink; /* off-diagonal of the second moments times (1 - shrink) */
    bool debug; /* SMELT_GPTQ_DEBUG */
    struct gptq_group *g;
    int64_t ng;
};

enum smelt_status smelt_gptq_new(struct smelt_imatrix *stats, float shrink, struct smelt_gptq **out) {
    *out = NULL;
    if (!(shrink >= 0.0f && shrink <= 1.0f))
        return smelt_err(SMELT_ERR_INVALID_ARG, "quantize: second-moment shrinkage %g is not in [0, 1]", (double)shrink);
    struct smelt_gptq *q = smelt_calloc(1, sizeof *q);
    if (!q) return SMELT_ERR_NOMEM;
    q->stats = stats;
    q->shrink = shrink;
    q->ng = smelt_imatrix_n_groups(stats);
    q->g = smelt_calloc((size_t)(q->ng ? q->ng : 1), sizeof *q->g);
    if (!q->g) {
        free(q);
        return SMELT_ERR_NOMEM;
    }
    q->debug = getenv("SMELT_GPTQ_DEBUG") != NULL;
    openblas_set_num_threads(1); /* callers run the rows in their own threads */
    *out = q;
    return SMELT_OK;
}

void smelt_gptq_free(struct smelt_gptq *q) {
    if (!q) return;
    for (int64_t i = 0; i < q->ng; i++) {
        free(q->g[i].u);
        for (int k = 0; k < 2; k++) {
            free(q->g[i].bl[k].v);
            free(q->g[i].bl[k].imp);
        }
    }
    free(q->g);
    free(q);
}

bool smelt_gptq_has(struct smelt_gptq *q, const char *name, int64_t ne0) {
    int64_t n = 0;
    return q && smelt_imatrix_full_of(q->stats, name, &n, NULL, NULL) && n == ne0;
}

/* U of a group from its second moments, the off-diagonal shrunk toward 0 (a shrinkage of the
 * sample covariance toward its diagonal: few calibration tokens estimate the correlations
 * between columns poorly, and the feedback trusts them fully). */
static enum smelt_status factor(struct gptq_group *gr, const float *cov, uint64_t count, int64_t n, double shrink,
                                const char *name) {
    double *a = malloc((size_t)(n * n) * sizeof *a);
    if (!a) return SMELT_ERR_NOMEM;
    const double cnt = (double)(count ? count : 1); /* sums -> means */
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += cov[i * n + i];
    mean /= (double)n * cnt;
    if (!(mean > 0) || !isfinite(mean)) mean = 1;
    const int ni = (int)n;
    int info = 1;
    /* 1% (0.1 and 0.3 measured no better on SmolLM2); more if the matrix is not positive definite */
    for (double damp = GPTQ_DAMP; info != 0 && damp <= 10.0; damp *= 10) {
        /* a (column-major, lower part used) = J A J */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                a[i + j * n] = (double)cov[(n - 1 - i) * n + (n - 1 - j)] / cnt * (i == j ? 1.0 : 1.0 - shrink);
        for (int64_t i = 0; i < n; i++) a[i + i * n] += damp * mean;
        dpotrf_("L", &ni, a, &ni, &info);
        if (info == 0) dtrtri_("L", "N", &ni, a, &ni, &info);
    }
    if (info != 0) {
        free(a);
        return smelt_err(SMELT_ERR_INTERNAL, "quantize: the second moments of '%s' cannot be factorised", name);
    }
    gr->u = smelt_aligned_alloc(64, (size_t)(n * n) * sizeof(float));
    if (!gr->u) {
        free(a);
        return SMELT_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            gr->u[i * n + j] = j >= i ? (float)a[(n - 1 - i) + (n - 1 - j) * n] : 0.0f;
    gr->n = n;
    gr->cov = cov;
    gr->shrink = shrink;
    gr->scale = 1.0 / cnt;
    gr->damp = mean * GPTQ_DAMP;
    free(a);
    return SMELT_OK;
}

/* V and the importances of every block of size b. */
static enum smelt_status blocks(struct gptq_group *gr, struct gptq_blocks *bl, int64_t b) {
    const int64_t n = gr->n, nb = n / b;
    const int bi = (int)b;
    bl->v = smelt_aligned_alloc(64, (size_t)(nb * b * b) * sizeof(float));
    bl->imp = malloc((size_t)(nb * b) * sizeof(float));
    double *t = malloc((size_t)(b * b) * sizeof *t);
    if (!bl->v || !bl->imp || !t) {
        free(t);
        return SMELT_ERR_NOMEM;
    }
    for (int64_t k = 0; k < nb; k++) {
        const int64_t c0 = k * b;
        /* U_BB row-major read as column-major is its transpose (lower); inverting that gives V^T
         * column-major = V row-major */
        for (int64_t i = 0; i < b; i++)
            for (int64_t j = 0; j < b; j++) t[i * b + j] = gr->u[(c0 + i) * n + c0 + j];
        int info = 0;
        dtrtri_("L", "N", &bi, t, &bi, &info);
        if (info != 0) {
            free(t);
            return smelt_err(SMELT_ERR_INTERNAL, "quantize: singular block in the error-feedback factor");
        }
        float *v = bl->v + k * b * b, *imp = bl->imp + k * b;
        for (int64_t i = 0; i < b; i++) {
            double s = 0;
            for (int64_t j = 0; j < b; j++) {
                const double x = j >= i ? t[i * b + j] : 0.0;
                v[i * b + j] = (float)x;
                s += x * x;
            }
            imp[i] = (float)s;
        }
    }
    free(t);
    bl->b = b;
    return SMELT_OK;
}

static struct gptq_blocks *blocks_of(struct gptq_group *gr, int64_t b) {
    for (int k = 0; k < 2; k++)
        if (gr->bl[k].b == b) return &gr->bl[k];
    return NULL;
}

enum smelt_status smelt_gptq_prepare(struct smelt_gptq *q, const char *name, int64_t block) {
    int64_t n = 0, gi = -1;
    uint64_t count = 0;
    const float *cov = smelt_imatrix_full_of(q->stats, name, &n, &count, &gi);
    if (!cov || gi < 0 || gi >= q->ng || n % block)
        return smelt_err(SMELT_ERR_INTERNAL, "quantize: no second moments for '%s'", name);
    struct gptq_group *gr = &q->g[gi];
    enum smelt_status s;
    if (!gr->u && (s = factor(gr, cov, count, n, q->shrink, name))) return s;
    if (blocks_of(gr, block)) return SMELT_OK;
    for (int k = 0; k < 2; k++)
        if (!gr->bl[k].b) return blocks(gr, &gr->bl[k], block);
    return smelt_err(SMELT_ERR_INTERNAL, "quantize: too many block sizes for one input");
}

size_t smelt_gptq_work_floats(int64_t nrows_max) { return (size_t)(2 * nrows_max * 256 + 256); }

/* (e A e^T) of a row error e under the damped (and shrunk) second moments */
static double quad(const struct gptq_group *gr, const float *e) {
    double s = 0;
    for (int64_t i = 0; i < gr->n; i++) {
        double r = 0;
        for (int64_t j = 0; j < gr->n; j++)
            r += (double)gr->cov[i * gr->n + j] * e[j] * (i == j ? 1.0 : 1.0 - gr->shrink);
        s += e[i] * (r * gr->scale + gr->damp * e[i]);
    }
    return s;
}

static void debug_rows(const struct gptq_group *gr, uint32_t type, const char *name, const float *w0, const void *dst,
                       int64_t nr, int64_t ne0) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    const size_t row_bytes = smelt_quant_row_size(type, ne0);
    float *q = malloc((size_t)ne0 * sizeof *q), *imp = malloc((size_t)ne0 * sizeof *imp);
    void *plain = malloc(row_bytes);
    double l_ef = 0, l_plain = 0;
    for (int64_t j = 0; j < ne0; j++) imp[j] = gr->cov[j * ne0 + j];
    for (int64_t r = 0; r < nr; r++) {
        tr->to_float_ref((const char *)dst + (size_t)r * row_bytes, q, ne0);
        for (int64_t j = 0; j < ne0; j++) q[j] = w0[r * ne0 + j] - q[j];
        l_ef += quad(gr, q);
        smelt_quantize_imat(type, w0 + r * ne0, plain, 1, ne0, imp);
        tr->to_float_ref(plain, q, ne0);
        for (int64_t j = 0; j < ne0; j++) q[j] = w0[r * ne0 + j] - q[j];
        l_plain += quad(gr, q);
    }
    fprintf(stderr, "gptq %-28s %-6s rows %3lld: output error %.4e vs %.4e without feedback (%.3fx)\n", name,
            tr->name, (long long)nr, l_ef, l_plain, l_ef / l_plain);
    free(q);
    free(imp);
    free(plain);
}

bool smelt_gptq_rows(struct smelt_gptq *q, const char *name, uint32_t type, float *w, int64_t nr, int64_t ne0,
                     void *dst, float *work) {
    int64_t gi = -1, n = 0;
    if (!smelt_imatrix_full_of(q->stats, name, &n, NULL, &gi) || n != ne0) return false;
    const struct gptq_group *gr = &q->g[gi];
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    const int64_t b = tr->blck;
    const struct gptq_blocks *bl = blocks_of((struct gptq_group *)gr, b);
    if (!gr->u || !bl || ne0 % b) return false;
    const size_t row_bytes = smelt_quant_row_size(type, ne0), blk_bytes = tr->bytes;
    float *e = work, *z = work + nr * b, *deq = work + 2 * nr * b;
    const int64_t nb = ne0 / b;
    float *w0 = NULL;
    if (q->debug && (w0 = malloc((size_t)(nr * ne0) * sizeof *w0))) memcpy(w0, w, (size_t)(nr * ne0) * sizeof *w0);
    for (int64_t k = 0; k < nb; k++) {
        const int64_t c0 = k * b, rest = ne0 - c0 - b;
        for (int64_t r = 0; r < nr; r++) {
            char *out = (char *)dst + (size_t)r * row_bytes + (size_t)k * blk_bytes;
            if (smelt_quantize_imat(type, w + r * ne0 + c0, out, 1, b, bl->imp + k * b) != blk_bytes) return false;
            tr->to_float_ref(out, deq, b);
            for (int64_t j = 0; j < b; j++) e[r * b + j] = w[r * ne0 + c0 + j] - deq[j];
        }
        if (rest <= 0) break;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)nr, (blasint)b, (blasint)b, 1.0f, e,
                    (blasint)b, bl->v + k * b * b, (blasint)b, 0.0f, z, (blasint)b);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)nr, (blasint)rest, (blasint)b, -1.0f, z,
                    (blasint)b, gr->u + c0 * ne0 + c0 + b, (blasint)ne0, 1.0f, w + c0 + b, (blasint)ne0);
    }
    if (w0) {
        debug_rows(gr, type, name, w0, dst, nr, ne0);
        free(w0);
    }
    return true;
}
