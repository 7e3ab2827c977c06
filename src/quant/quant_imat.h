/* Internal: the quantizers `smelt quantize` writes files with.
 *
 * Unlike the *_ref quantizers (quant_ref.h), which reproduce llama.cpp's file
 * format reference bit for bit, these choose the scales, mins and quants of
 * each block to minimise the weighted squared error of a row,
 *
 *     E = sum_j w_j * (x_j - deq_j)^2,
 *
 * where deq is what the type's dequantizer (smelt's *_to_float_ref, equal to
 * llama.cpp's) gives back, so the output loads anywhere a llama.cpp file does.
 * Weights: w_j = imatrix[j] + 1e-5 * mean(imatrix) (the tiny floor keeps
 * columns that calibration never activated from being arbitrary), or w_j = 1
 * (plain squared error) when imatrix is NULL or all zero.
 * These weights were chosen by end-to-end KLD (SmolLM2-135M, dev/quant/
 * NOTES.md): the diagonal output-error weights beat llama.cpp's
 * imatrix * sqrt(sigma2 + x^2) with an imatrix, and w = 1 beats x^2 without.
 *
 * Search (quant_imat.c describes it in full): single-level symmetric types
 * (Q8_0, Q4_0, Q5_0, IQ4_NL) get the exact best float scale over a window of
 * scales by sweeping every rounding change, then the best fp16 neighbour;
 * affine types (Q4_1, Q5_1) many starts of "round, refit scale and min by
 * weighted least squares"; K-quants and IQ4_XS fit every sub-block, quantize
 * the sub-block scales with their error curvatures as weights, then pick each
 * sub-block's integer scale (and min) by its true error and refit the fp16
 * super-block scales by least squares, a few rounds.
 */
#ifndef SMELT_QUANT_IMAT_H
#define SMELT_QUANT_IMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Quantize nrows rows of n_per_row floats (row-major, contiguous) into
 * `type`, written contiguously to dst (nrows * smelt_quant_row_size(type,
 * n_per_row) bytes).
 *
 * imatrix: NULL, or n_per_row per-column importances (mean squared activation
 * of input column j, as llama.cpp's imatrix gives), shared by all rows.
 *
 * Returns the bytes written, or 0 with nothing written when: the type is not
 * supported (smelt_quantize_imat_supported), src/dst are NULL, nrows < 0 or
 * n_per_row <= 0, n_per_row is not a multiple of the type's block size, the
 * size overflows, an importance is negative, NaN or infinite, or a source
 * value is NaN or infinite. nrows == 0 returns 0 too.
 *
 * Deterministic (same input, same bytes on any x86-64: plain C, no threads)
 * and thread-safe: callers may quantize disjoint row ranges in parallel.
 * F32/F16/BF16 are plain conversions (imatrix ignored). */
size_t smelt_quantize_imat(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);

/* True for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K,
 * Q5_K, Q6_K, IQ4_NL, IQ4_XS. */
bool smelt_quantize_imat_supported(uint32_t type);

#endif
