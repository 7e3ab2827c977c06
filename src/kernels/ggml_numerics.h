/* Element-wise and reduction kernels that reproduce llama.cpp's CPU numerics
 * (AVX2 build) bit for bit, so that smelt's logits can be compared with the
 * oracle exactly:
 *   - exp by the polynomial llama.cpp's vector code uses (a range reduction to
 *     2^n * p(r) with an FMA-evaluated polynomial, as in ARM's optimized
 *     routines), for SiLU and softmax;
 *   - f16 dot products in the two summation orders llama.cpp uses: the
 *     "vec_dot" order (4 x 8-lane accumulators over chunks of 32, then a tree)
 *     for single-token decode, and the "sgemm" order (one 8-lane accumulator,
 *     then a tree) for batches of two or more tokens.
 * Every function has a scalar version (using fmaf) and an AVX2+FMA version
 * selected at run time; both give identical results. */
#ifndef SMELT_GGML_NUMERICS_H
#define SMELT_GGML_NUMERICS_H

#include <stdbool.h>
#include <stdint.h>

enum smelt_dot_order { SMELT_ORDER_VECDOT = 0, SMELT_ORDER_SGEMM = 1 };

/* scalar exp approximation (identical to the vector one, lane by lane) */
float smelt_expf_approx(float x);
/* g[i] = silu(g[i]) * u[i]; n % 8 tail uses libm expf like llama.cpp */
void smelt_swiglu_f32(int64_t n, float *g, const float *u);
/* y[i] = exp(x[i] - max), returns the sum accumulated as llama.cpp does */
double smelt_softmax_exp_f32(int64_t n, float *y, const float *x, float max);
/* dot of two f16 vectors in the given order */
float smelt_dot_f16_order(int64_t n, const uint16_t *x, const uint16_t *y, enum smelt_dot_order order);
/* out[d] = sum_c p[c] * V[rows[c]*stride + d] for c in [0, n_cells), d in
 * [0, hd), with p in f32 holding f16-representable values (zeros skipped), V
 * f16, summed over c in the given order (c decides the lane, as the column
 * index does in llama.cpp). acc: scratch of 32*hd floats. */
void smelt_attn_v_order(int64_t n_cells, const float *p, const uint16_t *V, const int32_t *rows, int64_t stride,
                        int64_t hd, float *out, float *acc, enum smelt_dot_order order);

#endif
