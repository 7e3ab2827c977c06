/* Tensor types: one table describing each type smelt can compute with.
 *
 * Block structs (bit-identical to llama.cpp's layouts so files interchange) live
 * in quant_blocks.h with static size checks. For every type there is a plain
 * reference implementation (*_ref) of to_float / from_float / vec_dot, and the
 * dispatched versions (generic C, AVX2, AVX-512/VNNI) chosen once at start-up by
 * smelt_kernels_init(). SMELT_FORCE_REF=1 in the environment makes the
 * dispatched entries point at the _ref functions (for debugging).
 *
 * A matmul with weights of type T quantizes each activation row once into
 * T's vec_dot_type (F32 -> F32, F16 -> F16, BF16 -> BF16, Q8_0 -> Q8_0,
 * Q4_0/Q5_0/IQ4_NL -> Q8_0, Q4_1/Q5_1 -> Q8_1, Q2_K..Q6_K/IQ4_XS -> Q8_K; the
 * pairing is llama.cpp's, so numerics match; Q8_1 and Q8_K are activation-only
 * types without a vec_dot),
 * then calls vec_dot(weight_row, activation_row) per output.
 */
#ifndef SMELT_QUANT_H
#define SMELT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "smelt/gguf.h"

typedef void (*smelt_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*smelt_from_float_fn)(const float *src, void *dst, int64_t n);
/* Dot product of n elements: x in the weight type, y in its vec_dot_type. */
typedef float (*smelt_vec_dot_fn)(int64_t n, const void *x, const void *y);

struct smelt_type_traits {
    enum smelt_type type;
    const char *name;
    int64_t blck;                  /* elements per block */
    size_t bytes;                  /* bytes per block */
    enum smelt_type vec_dot_type;  /* type activations are converted to */
    /* dispatched (fastest verified implementation on this CPU) */
    smelt_to_float_fn to_float;
    smelt_from_float_fn from_float;
    smelt_vec_dot_fn vec_dot;
    /* plain reference implementations */
    smelt_to_float_fn to_float_ref;
    smelt_from_float_fn from_float_ref;
    smelt_vec_dot_fn vec_dot_ref;
    /* Run-time activation quantizer: what llama.cpp's CPU backend uses to
     * convert activations (for Q8_0/Q8_1 on x86 it scales by 127/amax and
     * rounds half to even, unlike the file-format reference from_float_ref,
     * which uses 1/d and rounds half away from zero). Equal to from_float_ref
     * for every other type. Dispatched version: smelt_quantize_rows. */
    smelt_from_float_fn quantize_act_ref;
};

/* Choose implementations for this CPU (idempotent, thread-safe). */
void smelt_kernels_init(void);
/* Name of the selected instruction-set tier: "avx512", "avx2" or "generic" ("ref" if forced). */
const char *smelt_kernels_isa(void);
/* Traits of a type smelt can compute with, NULL otherwise. Calls smelt_kernels_init. */
const struct smelt_type_traits *smelt_quant_traits(uint32_t type);
/* Bytes of a row of n elements of type t (n must be a multiple of the block size). */
size_t smelt_quant_row_size(uint32_t type, int64_t n);

/* fp16 / bf16 scalar conversions (IEEE half; bf16 rounds to nearest even like ggml). */
float smelt_fp16_to_fp32(uint16_t h);
uint16_t smelt_fp32_to_fp16(float f);
float smelt_bf16_to_fp32(uint16_t h);
uint16_t smelt_fp32_to_bf16(float f);

/* f32 vector primitives used by the model (dispatched). */
float smelt_vec_dot_f32(int64_t n, const float *x, const float *y);
void smelt_vec_mad_f32(int64_t n, float *y, const float *x, float a);   /* y += a*x */
void smelt_vec_scale_f32(int64_t n, float *y, float a);                /* y *= a */
/* f16 vectors (for the KV cache): dot of f16 x with f16 y, accumulate in f32. */
float smelt_vec_dot_f16(int64_t n, const uint16_t *x, const uint16_t *y);
void smelt_vec_mad_f16(int64_t n, float *y, const uint16_t *x, float a); /* y += a*x */
void smelt_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n);
void smelt_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n);

#endif
