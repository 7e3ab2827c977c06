/* Element-wise and reduction kernels that reproduce llama.cpp's CPU numerics
 * (AVX2 build) bit for bit, so that smelt's logits can be compared with the
 * oracle exactly:
 *   - exp by the polynomial llama.cpp's vector code uses (a range reduction to
 *     2^n * p(r) with an FMA-evaluated polynomial, as in ARM's optimized
 *     routines), for SiLU and softmax;
 *   - f16 dot products in the two summation orders llama.cpp uses: the
 *     "vec_dot" order (4 x 8-lane accumulators over chunks of 32, then a tree)
 *     for single-token decode, and the "sgemm" order (one 8-lane accumulator,
 *     then a tree) for batches of two or more tokens; f32 dot products in the
 *     same two orders (ggml_vec_dot_f32 and tinyBLAS);
 *   - the summation orders of llama.cpp's repacked weights (repack.cpp: on an
 *     AVX2 machine Q4_0 and Q4_K weights whose row count is a multiple of 8
 *     are interleaved 8 rows at a time at load and multiplied by dedicated
 *     GEMM/GEMV kernels): each block's integer sum becomes one float, scaled
 *     and accumulated by a scalar FMA chain. The *_r8_ref functions give one
 *     output of those kernels; the AVX2 tiles (avx2_r8.c) reproduce them bit
 *     for bit;
 *   - the order of llama.cpp's tiled K-quant matmul (ggml-cpu/tiled/), which
 *     serves Q4_K (not repacked), Q5_K and Q6_K weights in batches of 8
 *     tokens or more: one float per super-block, d_w * isum (minus
 *     dmin_w * msum, fused), then an FMA with the activation scale.
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
/* g[i] = gelu(g[i]) * u[i] with gelu through an f16 table as ggml's CPU
 * backend does (GGML_GELU_FP16): 0 for x <= -10, x for x >= 10, else
 * table[fp16(x)] widened. table: 65536 entries plus one spare (read, unused). */
void smelt_geglu_f16(int64_t n, float *g, const float *u, const uint16_t *table);
/* Sum of the squares x[i]*x[i] (each rounded to float, as ggml squares) in
 * double. In order, as llama.cpp's RMSNorm adds them; with `lanes` in 8 partial
 * sums (element i into lane i % 8, the tail n % 8 into lanes 0.., the lanes
 * then added pairwise: (0+4, 1+5, 2+6, 3+7), then (a+c, b+d), then the two),
 * which the AVX-512 tier uses because the in-order sum is one long dependency
 * chain. smelt_sumsq_f64_lanes_ref is the plain C form of the lane order. */
double smelt_sumsq_f64(const float *x, int64_t n, bool lanes);
double smelt_sumsq_f64_lanes_ref(const float *x, int64_t n);
/* y[i] = exp(x[i] - max), returns the sum accumulated as llama.cpp does */
double smelt_softmax_exp_f32(int64_t n, float *y, const float *x, float max);
/* dot of two f16 vectors in the given order */
float smelt_dot_f16_order(int64_t n, const uint16_t *x, const uint16_t *y, enum smelt_dot_order order);
/* dot of two f32 vectors in the given order (ggml_vec_dot_f32: 4 x 8 lanes,
 * leftovers added with FMA; tinyBLAS: one 8-lane accumulator, n % 8 == 0) */
float smelt_dot_f32_order(int64_t n, const float *x, const float *y, enum smelt_dot_order order);

/* One output of llama.cpp's repacked Q4_0 x Q8_0 kernels (gemv and gemm
 * alike): for each block acc = fma((float)isum, d_w * d_x, acc), isum the
 * exact integer dot of the block. n: elements (multiple of 32). */
float smelt_dot_q4_0_r8_ref(int64_t n, const void *w, const void *x);
/* The llama.cpp kernel whose order an output follows: for a repacked weight
 * GEMM (the first n_tok - n_tok % 4 tokens of a batch of more than 3) or GEMV
 * (the others); TILED: its tiled K-quant matmul (8+ tokens, weights not
 * repacked). */
enum smelt_r8_kernel { SMELT_R8_GEMV = 0, SMELT_R8_GEMM = 1, SMELT_R8_TILED = 2 };
/* One output of llama.cpp's Q4_K x Q8_K kernels. Repacked (GEMV, GEMM): two
 * scalar FMA chains, acc over sum(scale * q.y) with d_w * d_x and accm over
 * sum(min * bsum) with dmin_w * d_x, once per super-block (GEMV) or once per
 * pair of 32-element sub-blocks (GEMM); the result is acc - accm. TILED: per
 * super-block acc = fma(fma(-dmin_w, (float)msum, d_w * (float)isum), d_x,
 * acc). n: elements (multiple of 256). */
float smelt_dot_q4_k_r8_ref(int64_t n, const void *w, const void *x, enum smelt_r8_kernel kernel);

/* One output of llama.cpp's tiled K-quant matmul (ggml-cpu/tiled), which it
 * uses for K-quant weights that are not repacked and batches of 8 or more tokens: per super-block
 * acc = fma(d_w * (float)isum, d_x, acc), isum = sum(scale * (q - 32) . y)
 * exact. n: elements (multiple of 256). */
float smelt_dot_q6_k_tiled_ref(int64_t n, const void *w, const void *x);
/* Q5_K in llama.cpp's tiled order: as Q4_K's TILED, with the fifth bit. */
float smelt_dot_q5_k_tiled_ref(int64_t n, const void *w, const void *x);

/* out[d] = sum_c p[c] * V[rows[c]*stride + d] for c in [0, n_cells), d in
 * [0, hd), with p in f32 holding f16-representable values (zeros skipped), V
 * f16, summed over c in the given order (c decides the lane, as the column
 * index does in llama.cpp). acc: scratch of 32*hd floats. */
void smelt_attn_v_order(int64_t n_cells, const float *p, const uint16_t *V, const int32_t *rows, int64_t stride,
                        int64_t hd, float *out, float *acc, enum smelt_dot_order order);

#endif
