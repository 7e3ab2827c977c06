/* The "x16" weight layout: 16 rows interleaved for the AVX-512 VNNI matmul.
 *
 * Rows are taken in groups of 16 (a weight qualifies only when its row count
 * is a multiple of 16). Within a group, the blocks of the 16 rows that cover
 * the same columns are stored together as one group-block, in column order,
 * and the quants are interleaved so that one 64-byte vector holds four
 * consecutive columns of each of the 16 rows ("a step"): byte 4*r + k of step
 * s is row r, column 4*s + k of the block. One vpdpbusd of a step with the
 * activation's four bytes broadcast to every lane then adds four products to
 * each row's 32-bit lane: no horizontal sums. Scales keep their file
 * precision (fp16 stays fp16), so the packed weight is the size of the
 * original (Q4_K: +2.8 %: its 6-bit scales are stored as bytes).
 *
 * Layouts per group-block ("code" = the unsigned quant as stored, d/m fp16):
 *   Q4_0 (288 B): d[16] | qs[256]
 *   Q4_1 (320 B): d[16] | m[16] | qs[256]
 *   Q5_0 (352 B): d[16] | qh[64] | qs[256]
 *   Q8_0 (544 B): d[16] | q[512]            q = code + 128 (u8), step s at 64*s
 *   Q4_K (2368 B, 256 columns): d[16] | dmin[16] | sc[8][16] (u8, [sub][row])
 *                 | mn[4][16][2] (u8: m of sub-blocks 2p, 2p+1 of row r at 32p + 2r)
 *                 | qs of sub-block j (32 columns) at 256*j
 *   Q6_K (3360 B, 256 columns): d[16] | sc[16][16] (int8, [sub][row])
 *                 | low nibbles of 32-column chunk j at 256*j (2048 B)
 *                 | high bits of chunk j at 128*j (1024 B)
 * 4-bit nibbles of a 32-column block (qs[256]): byte 64*i + 4*r + k holds
 * column 8*i + k in its low nibble and column 8*i + 4 + k in its high nibble
 * (so the low nibbles of vector i are step 2*i, the high ones step 2*i + 1).
 * Q5_0 high bits: 8 bytes per step s at 8*s, bit 4*r + k = bit 4 of the code
 * of row r, column 4*s + k. Q6_K high bits of chunk j: two vectors (steps
 * 0..3, 4..7); in vector v, byte 4*r + k bits 2u..2u+1 are the high two bits
 * of row r, column 4*(4*v + u) + k.
 *
 * Numerics (the reference smelt_x16_dot_ref is the definition; the AVX-512
 * kernel is bit-identical to it): per block the integer dot of codes and
 * activation quants is exact; the offset of the codes (8 for Q4_0, 16 for
 * Q5_0, 32 for Q6_K) is removed with the activation block's exact integer sum;
 * then acc = fmaf((float)I, d_w * d_x, acc), blocks in column order (Q4_1:
 * then acc = fmaf(m, s_x, acc); Q4_K: I = sum_j sc_j * I_j over the 8
 * sub-blocks, then acc = fmaf(-(float)M, dmin * d_x, acc) with M = sum_j m_j *
 * (sum of the activation quants of sub-block j); Q6_K: I = sum_k sc_k * I_k
 * over the 16 sub-blocks). This is not llama.cpp's summation order (its AVX2
 * order is what the AVX2 tier reproduces); it agrees with it to float rounding.
 * Activations: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1, Q8_K for Q4_K/Q6_K (each
 * type's vec_dot_type, so the forward pass quantizes as before). */
#ifndef SMELT_X16_H
#define SMELT_X16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* at most this many blocks per row (K <= 16384 for 32-column blocks; Q4_K: half as many) */
#define SMELT_X16_MAX_BLOCKS 512

/* Whether a weight of `type` with rows of K columns and M rows can be packed. */
bool smelt_x16_supported(uint32_t type, int64_t K, int64_t M);
/* Bytes of the packed form of a whole M x K weight (= bytes per group * M / 16). */
size_t smelt_x16_size(uint32_t type, int64_t K, int64_t M);
/* Pack M rows (row stride smelt_quant_row_size(type, K)) from src into dst
 * (smelt_x16_size bytes). Only for supported shapes. */
void smelt_x16_pack(uint32_t type, int64_t K, int64_t M, const void *src, void *dst);
/* Row r of a packed weight back as floats (K of them), equal to the type's
 * to_float of the original row; for the 32-column types only (false for
 * others). For lookups in a packed tied embedding matrix. */
bool smelt_x16_row_to_float(uint32_t type, int64_t K, const void *packed, int64_t r, float *out);
/* Whether smelt_x16_row_to_float supports `type`. */
bool smelt_x16_has_rows(uint32_t type);
/* The reference: one output from an original (not packed) weight row and one
 * activation row of the type's vec_dot_type. */
float smelt_x16_dot_ref(uint32_t type, int64_t K, const void *wrow, const void *xrow);
/* Whether the AVX-512 x16 kernels can run here (CPU + OS + compiled in). */
bool smelt_x16_available(void);
/* y[t*ldy + 16*g + r] for groups g in [g0, g1), rows r < 16, tokens t <
 * n_tok: packed is the whole packed weight, xq the activation rows (stride
 * xs bytes), y points at output column 0 of token 0. AVX-512 only: call only
 * when smelt_x16_available(). Allocates nothing. */
void smelt_x16_matmul(uint32_t type, int64_t K, const void *packed, int64_t g0, int64_t g1, const void *xq,
                      size_t xs, int64_t n_tok, float *y, int64_t ldy);

/* Activations prepared once per token and shared by every x16 matmul of a
 * 32-column type that multiplies them (instead of each call preparing its
 * tiles): SMELT_X16_XA_BYTES per 32 columns per token. smelt_x16_xa_prep
 * converts token t's quantized row (vdt: Q8_0, or Q8_1 for Q4_1) of a batch
 * of n_tok tokens into xa; once all n_tok are prepared, smelt_x16_matmul_xa
 * gives the same bits as smelt_x16_matmul on those rows. AVX-512 only. */
#define SMELT_X16_XA_BYTES 48
void smelt_x16_xa_prep(uint32_t vdt, const void *row, int64_t K, int64_t t, int64_t n_tok, void *xa);
void smelt_x16_matmul_xa(uint32_t type, int64_t K, const void *packed, int64_t g0, int64_t g1, const void *xa,
                         int64_t n_tok, float *y, int64_t ldy);

#endif
