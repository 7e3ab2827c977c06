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
 * INT32_MAX (never visible).
 *
 * On this tier the cache stores keys tiled (smelt_attn_k_index): per KV head,
 * blocks of 64 cells, each block [head_dim][64] f16, so that the 64-cell
 * stretches the score loop reads are contiguous rows of the cache itself.
 * Values stay one f16 row per cell. A sequence whose cells are one run
 * starting at a block boundary (the usual single-sequence case) is read in
 * place by smelt_attn_rows_cache, with no gather; its results are bit-identical
 * to gathering the same cells and calling smelt_attn_rows. */
#ifndef SMELT_ATTN_H
#define SMELT_ATTN_H

#include <stdbool.h>
#include <stdint.h>

#define SMELT_ATTN_PAD 64

/* Element (cell, KV head h, dimension d) of one layer's tiled keys, for a
 * cache of n_blk 64-cell blocks. */
static inline int64_t smelt_attn_k_index(int64_t cell, int64_t h, int64_t d, int64_t hd, int64_t n_blk) {
    return ((h * n_blk + cell / SMELT_ATTN_PAD) * hd + d) * SMELT_ATTN_PAD + cell % SMELT_ATTN_PAD;
}

/* For listed cells j in [j0, j1) (cells[j] = cache cell, j1 <= padded count)
 * and KV heads [h0, h1): kt[(h*hd + d)*ld + j] and vf[(h*ld + j)*hd + d],
 * converted from one layer's tiled keys K (n_blk blocks) and f16 value rows V
 * (row stride kd elements); cpos[j] = pos[cells[j]]; entries j >= nc are
 * padding (zeros, position INT32_MAX). */
void smelt_attn_gather(const uint16_t *K, const uint16_t *V, const int32_t *pos, const int32_t *cells, int64_t nc,
                       int64_t j0, int64_t j1, int64_t h0, int64_t h1, int64_t n_blk, int64_t kd, int64_t hd,
                       int64_t ld, float *kt, float *vf, int32_t *cpos);

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

/* smelt_attn_rows on the cells [c0, c0 + nc) of the cache in place, c0 a
 * multiple of 64: kh = the KV head's tiled keys from block c0/64 on, vh = its
 * value row of cell c0 (row stride kd), cpos = the positions of those cells
 * (only the first nc are read). sc: scratch of G * ld floats, ld >= nc rounded
 * up to 64. */
void smelt_attn_rows_cache(int G, int64_t hd, const float *q, int64_t q_stride, const uint16_t *kh,
                           const uint16_t *vh, int64_t kd, const int32_t *cpos, int64_t nc, int32_t p, int32_t win,
                           float scale, float *sc, int64_t ld, float *o, int64_t o_stride);
void smelt_attn_rows_cache_ref(int G, int64_t hd, const float *q, int64_t q_stride, const uint16_t *kh,
                               const uint16_t *vh, int64_t kd, const int32_t *cpos, int64_t nc, int32_t p,
                               int32_t win, float scale, float *sc, int64_t ld, float *o, int64_t o_stride);

/* Whether smelt_attn_rows may be called (AVX-512 tier active). */
bool smelt_attn_available(void);

#endif
