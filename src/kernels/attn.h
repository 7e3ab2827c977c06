/* Batched attention for the AVX-512 tier (prompt processing).
 *
 * llama.cpp's order (ggml_numerics.h: one f16 dot per cell, the V sum in its
 * matmul order) is what the AVX2 tier reproduces. For a batch of tokens of one
 * sequence the AVX-512 tier instead gathers the sequence's cells once per
 * layer into f32 working copies, keys transposed (kt[d][j]: dimension d of the
 * j-th listed cell) and values by row (vf[j][d]), and then for each (token, KV
 * head) computes the scores of all query heads sharing that KV head, 16 cells
 * per vector, with the keys of a 64-cell stretch shared by up to 4 heads.
 * Numerics: queries rounded to f16 and probabilities rounded to f16 as in
 * llama.cpp (keys and values are f16 in the cache); scores and the V sum in
 * f32 in smelt's order; exp by a degree-6 polynomial (relative error below
 * 2e-7 on the range used). smelt_attn_rows_ref is the plain C reference.
 *
 * Cell lists are padded to a multiple of 64 (SMELT_ATTN_PAD) with position
 * INT32_MAX (never visible). */
#ifndef SMELT_ATTN_H
#define SMELT_ATTN_H

#include <stdbool.h>
#include <stdint.h>

#define SMELT_ATTN_PAD 64

/* For listed cells j in [j0, j1) (cells[j] = cache cell, j1 <= padded count):
 * kt[(h*hd + d)*ld + j] and vf[(h*ld + j)*hd + d] for each KV head h < n_kv,
 * converted from the f16 cache rows K/V (row stride kd = n_kv*hd elements);
 * cpos[j] = pos[cells[j]]; entries j >= nc are padding (zeros,
 * position INT32_MAX). */
void smelt_attn_gather(const uint16_t *K, const uint16_t *V, const int32_t *pos, const int32_t *cells, int64_t nc,
                       int64_t j0, int64_t j1, int64_t n_kv, int64_t hd, int64_t ld, float *kt, float *vf,
                       int32_t *cpos);

/* G query heads (q: G rows of hd floats, row stride q_stride, f16-rounded by
 * the caller) against one KV head's gathered cells [0, nc): a cell j is
 * visible when cpos[j] <= p and (win == 0 or p - cpos[j] < win). Scores are
 * q.k * scale; softmax over visible cells; o[g*o_stride + d] = sum_j
 * prob_j * v_j[d]. kt/vf point at this KV head's data (ld as above); sc:
 * scratch of G * ld floats. A query with no visible cell gets zeros. hd must
 * be a multiple of 64. */
void smelt_attn_rows(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                     const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc,
                     float *o, int64_t o_stride);
void smelt_attn_rows_ref(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                         const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale,
                         float *sc, float *o, int64_t o_stride);

/* Whether smelt_attn_rows may be called (AVX-512 tier active). */
bool smelt_attn_available(void);

#endif
