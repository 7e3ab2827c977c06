/* Internal: the reference (*_ref) implementations of every tensor type, and
 * the hook the kernel dispatcher uses to install the selected implementations
 * into the traits table. The reference functions are the definition of each
 * format's numerics: the quantizers and dequantizers reproduce llama.cpp's
 * ggml-quants.c *_ref functions bit for bit (roundf for Q8, truncation of
 * x+8.5 / x+0.5 for Q4, round-to-nearest-even fp16 scales); the dots are
 * ggml's scalar dots (int32 sum per block, times d_x*d_y in float, blocks
 * summed in order; f32/f16/bf16 dots accumulate in double like ggml_float).
 * Q5_0/Q5_1 follow the Q4 rules with 5-bit quants (x+16.5 / x+0.5). The
 * K-quants, Q8_K (quant_ref_k.c) and IQ4_NL/IQ4_XS (quant_ref_iq4.c) reproduce
 * quantize_row_*_ref including their scale searches, with round-half-even
 * nearest_int; their dots sum integers per super-block (per block for IQ4_NL)
 * and apply the float scales once per super-block. Bit-identity is checked
 * against gguf-py and libggml by tests/quant/test_quant_golden.c.
 *
 * Inputs containing NaN or infinities have unspecified quantized results.
 */
#ifndef SMELT_QUANT_REF_H
#define SMELT_QUANT_REF_H

#include "quant/quant.h"

/* to_float (dequantize) */
void smelt_f32_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_f16_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_bf16_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q4_0_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q4_1_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q8_0_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q8_1_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q5_0_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q5_1_to_float_ref(const void *src, float *dst, int64_t n);

/* from_float (quantize) */
void smelt_f32_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_f16_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_bf16_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q4_0_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q4_1_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q8_0_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q8_0_quantize_act_ref(const float *x, void *dst, int64_t n);
void smelt_q8_1_quantize_act_ref(const float *x, void *dst, int64_t n);
void smelt_q8_1_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q5_0_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q5_1_from_float_ref(const float *src, void *dst, int64_t n);

/* K-quants and Q8_K (quant_ref_k.c) */
void smelt_q2_k_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q3_k_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q4_k_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q5_k_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q6_k_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q8_k_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_q2_k_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q3_k_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q4_k_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q5_k_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q6_k_from_float_ref(const float *src, void *dst, int64_t n);
void smelt_q8_k_from_float_ref(const float *src, void *dst, int64_t n);
float smelt_vec_dot_q2_k_q8_k_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q3_k_q8_k_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q4_k_q8_k_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q5_k_q8_k_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q6_k_q8_k_ref(int64_t n, const void *x, const void *y);

/* IQ4_NL / IQ4_XS (quant_ref_iq4.c) */
void smelt_iq4_nl_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_iq4_xs_to_float_ref(const void *src, float *dst, int64_t n);
void smelt_iq4_nl_from_float_ref(const float *src, void *dst, int64_t n);
/* llama-quantize's IQ4_NL (quantize_iq4_nl without imatrix: scale search with ntry 7, unlike the _ref). */
void smelt_iq4_nl_from_float_file(const float *src, void *dst, int64_t n);
void smelt_iq4_xs_from_float_ref(const float *src, void *dst, int64_t n);
float smelt_vec_dot_iq4_nl_q8_0_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_iq4_xs_q8_k_ref(int64_t n, const void *x, const void *y);

/* vec_dot (x in the weight type, y in its vec_dot_type) */
float smelt_vec_dot_f32_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_f16_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_bf16_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q4_0_q8_0_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q4_1_q8_1_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q8_0_q8_0_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q5_0_q8_0_ref(int64_t n, const void *x, const void *y);
float smelt_vec_dot_q5_1_q8_1_ref(int64_t n, const void *x, const void *y);

/* f32 / f16 vector primitives */
void smelt_vec_mad_f32_ref(int64_t n, float *y, const float *x, float a);
void smelt_vec_scale_f32_ref(int64_t n, float *y, float a);
void smelt_vec_mad_f16_ref(int64_t n, float *y, const uint16_t *x, float a);
void smelt_fp32_to_fp16_row_ref(const float *x, uint16_t *y, int64_t n);
void smelt_fp16_to_fp32_row_ref(const uint16_t *x, float *y, int64_t n);

/* Traits table without triggering kernel selection (used by the dispatcher). */
struct smelt_type_traits *smelt_quant_traits_raw(uint32_t type);

#endif
