/* Row-block matmul over quantized weights and pre-quantized activations. */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* Tiled matmul per type, chosen once: the active tier's tile where it is paired
 * with the dispatched vec_dot (so the output is bit-identical), else NULL. */
static smelt_matmul_fn mm_tile[SMELT_TYPE_COUNT];
/* Tiles of the repacked-weight orders, NULL: the reference per output. */
static smelt_matmul_r8_fn mm_r8[SMELT_TYPE_COUNT];
static pthread_once_t mm_once = PTHREAD_ONCE_INIT;

static void mm_init(void) {
    const enum smelt_isa isa = smelt_kernels_active_isa();
    const char *env = getenv("SMELT_MATMUL");
    if (env && strcmp(env, "dot") == 0) return;
    struct smelt_kernel_set ks;
    smelt_kernels_fill(isa, &ks);
    for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
        const struct smelt_type_traits *tr = smelt_quant_traits(t);
        if (tr && ks.matmul[t] && tr->vec_dot && ks.matmul_dot[t] == tr->vec_dot) mm_tile[t] = ks.matmul[t];
        mm_r8[t] = ks.matmul_r8[t];
    }
}

enum smelt_mm_path smelt_matmul_path(uint32_t wtype, int64_t n_rows) {
    /* ggml_repack_get_optimal_repack_type() on a CPU with AVX2 (its IQ4_NL
     * and MXFP4 repacking is not reproduced: IQ4_NL stays on the plain path) */
    const char *off = getenv("SMELT_NO_REPACK"); /* as llama.cpp's --no-repack */
    if (off && *off && strcmp(off, "0") != 0) return SMELT_MM_PLAIN;
    if ((wtype == SMELT_TYPE_Q4_0 || wtype == SMELT_TYPE_Q4_K) && n_rows % 8 == 0) return SMELT_MM_REPACK8;
    return SMELT_MM_PLAIN;
}

/* Tokens [t0, t1) of the batch in the order of llama.cpp's `kernel` (repacked
 * GEMM/GEMV, tiled). */
static void matmul_r8(const char *w, enum smelt_type wtype, int64_t K, size_t w_stride, int64_t row0, int64_t row1,
                      const char *xb, size_t xq_stride, int64_t t0, int64_t t1, float *y, int64_t ld_y,
                      enum smelt_r8_kernel kernel) {
    if (t1 <= t0) return;
    if (mm_r8[wtype]) {
        mm_r8[wtype](K, w + (size_t)row0 * w_stride, w_stride, row1 - row0, xb + (size_t)t0 * xq_stride, xq_stride,
                     t1 - t0, y + t0 * ld_y + row0, ld_y, kernel);
        return;
    }
    for (int64_t r = row0; r < row1; r++)
        for (int64_t t = t0; t < t1; t++) {
            const void *wr = w + (size_t)r * w_stride, *xr = xb + (size_t)t * xq_stride;
            y[t * ld_y + r] = wtype == SMELT_TYPE_Q4_0   ? smelt_dot_q4_0_r8_ref(K, wr, xr)
                              : wtype == SMELT_TYPE_Q4_K ? smelt_dot_q4_k_r8_ref(K, wr, xr, kernel)
                              : wtype == SMELT_TYPE_Q5_K ? smelt_dot_q5_k_tiled_ref(K, wr, xr)
                                                         : smelt_dot_q6_k_tiled_ref(K, wr, xr);
        }
}

/* Fallback tile sizes: a tile of MM_ROWS weight rows is reused for MM_TOKS
 * activation rows, so each weight row is read from memory once per token tile
 * and stays in L1 while the token tile (MM_TOKS rows, ~K bytes each) stays in L2. */
#define MM_ROWS 16
#define MM_TOKS 32

void smelt_matmul_rows(const void *w, enum smelt_type wtype, int64_t K, int64_t row0, int64_t row1,
                       const void *xq, size_t xq_stride, int64_t n_tok, float *y, int64_t ld_y,
                       enum smelt_mm_path path) {
    const struct smelt_type_traits *tr = smelt_quant_traits(wtype);
    assert(tr && tr->vec_dot && K % tr->blck == 0);
    pthread_once(&mm_once, mm_init);
    const size_t w_stride = smelt_quant_row_size(wtype, K);
    const char *wb = w;
    const char *xb = xq;
    if (row1 <= row0 || n_tok <= 0) return;
    if (path == SMELT_MM_REPACK8 && smelt_matmul_path(wtype, 8) == SMELT_MM_REPACK8) {
        /* llama.cpp's forward_mul_mat: GEMM over whole groups of 4 tokens when
         * there are more than 3, GEMV for the rest */
        const int64_t n_gemm = n_tok > 3 ? n_tok - n_tok % 4 : 0;
        matmul_r8(wb, wtype, K, w_stride, row0, row1, xb, xq_stride, 0, n_gemm, y, ld_y, SMELT_R8_GEMM);
        matmul_r8(wb, wtype, K, w_stride, row0, row1, xb, xq_stride, n_gemm, n_tok, y, ld_y, SMELT_R8_GEMV);
        return;
    }
    if ((wtype == SMELT_TYPE_Q4_K || wtype == SMELT_TYPE_Q5_K || wtype == SMELT_TYPE_Q6_K) && n_tok >= 8) {
        /* llama.cpp's tiled K-quant matmul (ggml_tiled_min_batch: 8 tokens) */
        matmul_r8(wb, wtype, K, w_stride, row0, row1, xb, xq_stride, 0, n_tok, y, ld_y, SMELT_R8_TILED);
        return;
    }
    if (wtype == SMELT_TYPE_F16 || wtype == SMELT_TYPE_F32) {
        /* tinyBLAS for batches (it declines K % 8 != 0), ggml_vec_dot_* else */
        const enum smelt_dot_order order = n_tok >= 2 && K % 8 == 0 ? SMELT_ORDER_SGEMM : SMELT_ORDER_VECDOT;
        for (int64_t r = row0; r < row1; r++)
            for (int64_t t = 0; t < n_tok; t++) {
                const char *wr = wb + (size_t)r * w_stride, *xr = xb + (size_t)t * xq_stride;
                y[t * ld_y + r] = wtype == SMELT_TYPE_F16
                                      ? smelt_dot_f16_order(K, (const uint16_t *)wr, (const uint16_t *)xr, order)
                                      : smelt_dot_f32_order(K, (const float *)wr, (const float *)xr, order);
            }
        return;
    }
    if (mm_tile[wtype]) {
        mm_tile[wtype](K, wb + (size_t)row0 * w_stride, w_stride, row1 - row0, xq, xq_stride, n_tok, y + row0, ld_y);
        return;
    }
    const smelt_vec_dot_fn dot = tr->vec_dot;
    if (n_tok == 1) {
        for (int64_t r = row0; r < row1; r++) y[r] = dot(K, wb + (size_t)r * w_stride, xb);
        return;
    }
    for (int64_t t0 = 0; t0 < n_tok; t0 += MM_TOKS) {
        const int64_t t1 = t0 + MM_TOKS < n_tok ? t0 + MM_TOKS : n_tok;
        for (int64_t r0 = row0; r0 < row1; r0 += MM_ROWS) {
            const int64_t r1 = r0 + MM_ROWS < row1 ? r0 + MM_ROWS : row1;
            for (int64_t r = r0; r < r1; r++) {
                const void *wr = wb + (size_t)r * w_stride;
                for (int64_t t = t0; t < t1; t++)
                    y[t * ld_y + r] = dot(K, wr, xb + (size_t)t * xq_stride);
            }
        }
    }
}

void smelt_quantize_rows(const float *x, int64_t n_tok, int64_t K, enum smelt_type vec_dot_type,
                         void *out) {
    assert(smelt_quant_traits(vec_dot_type) && K % smelt_quant_traits(vec_dot_type)->blck == 0);
    const size_t rs = smelt_quant_row_size(vec_dot_type, K);
    char *o = out;
    const smelt_from_float_fn q = smelt_kernels_quantize_act(vec_dot_type);
    for (int64_t t = 0; t < n_tok; t++) q(x + t * K, o + (size_t)t * rs, K);
}
