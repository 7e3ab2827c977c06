/* AVX-512 tier (F/BW/VL + VNNI). Only the kernels where the wider registers or
 * vpdpbusd pay off are here; everything else comes from the AVX2 tier.
 *
 * Integer dots use vpdpbusd (u8 x s8, four products summed into each int32
 * lane, no saturation), two 32-element blocks per 512-bit register:
 *   Q4_0 . Q8_0: sum((q-8)*y) = dpbusd(q, y) - 8*dpbusd(1, y)
 *   Q4_1 . Q8_1: dpbusd(q, y), plus m*s per block
 *   Q8_0 . Q8_0: sum(x*y) = dpbusd(x+128, y) - 128*dpbusd(1, y)   (exact for all inputs)
 * Per-block int32 lanes are converted to float and multiplied by d_x*d_y into
 * 16 float accumulators; an odd last block uses the 256-bit (VL) form. */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "quant/quant_blocks.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")

#define FP16(h) _cvtsh_ss(h) /* F16C; exact, same as smelt_fp16_to_fp32 */

static inline float hsum256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline __m256i nibbles256(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

static inline __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m256i load256(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* d0 in lanes 0..7, d1 in lanes 8..15 */
static inline __m512 two_scales(float d0, float d1) {
    return _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(d0), _mm512_set1_ps(d1));
}

static float avx512_vec_dot_q4_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    const int64_t nb = n / SMELT_QK8_0;
    const __m512i ones = _mm512_set1_epi8(1);
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i qx = join256(nibbles256(x[i].qs), nibbles256(x[i + 1].qs));
        const __m512i qy = join256(load256(y[i].qs), load256(y[i + 1].qs));
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qx, qy);
        const __m512i sy = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, qy);
        const __m512i q = _mm512_sub_epi32(dot, _mm512_slli_epi32(sy, 3));
        const __m512 d = two_scales(FP16(x[i].d) * FP16(y[i].d), FP16(x[i + 1].d) * FP16(y[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(q), acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        const __m256i qx = nibbles256(x[i].qs), qy = load256(y[i].qs);
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qx, qy);
        const __m256i sy = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), qy);
        const __m256i q = _mm256_sub_epi32(dot, _mm256_slli_epi32(sy, 3));
        s += hsum256(_mm256_mul_ps(_mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), _mm256_cvtepi32_ps(q)));
    }
    return s;
}

static float avx512_vec_dot_q4_1_q8_1(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_1 *x = vx;
    const smelt_block_q8_1 *y = vy;
    const int64_t nb = n / SMELT_QK8_1;
    __m512 acc = _mm512_setzero_ps();
    float summs = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i qx = join256(nibbles256(x[i].qs), nibbles256(x[i + 1].qs));
        const __m512i qy = join256(load256(y[i].qs), load256(y[i + 1].qs));
        const __m512i q = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qx, qy);
        const __m512 d = two_scales(FP16(x[i].d) * FP16(y[i].d), FP16(x[i + 1].d) * FP16(y[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(q), acc);
        summs += FP16(x[i].m) * FP16(y[i].s);
        summs += FP16(x[i + 1].m) * FP16(y[i + 1].s);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        const __m256i q = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles256(x[i].qs), load256(y[i].qs));
        s += hsum256(_mm256_mul_ps(_mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), _mm256_cvtepi32_ps(q)));
        summs += FP16(x[i].m) * FP16(y[i].s);
    }
    return s + summs;
}

static float avx512_vec_dot_q8_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q8_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    const int64_t nb = n / SMELT_QK8_0;
    const __m512i ones = _mm512_set1_epi8(1), bias = _mm512_set1_epi8((char)0x80);
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i qx = _mm512_xor_si512(join256(load256(x[i].qs), load256(x[i + 1].qs)), bias);
        const __m512i qy = join256(load256(y[i].qs), load256(y[i + 1].qs));
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qx, qy);
        const __m512i sy = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, qy);
        const __m512i q = _mm512_sub_epi32(dot, _mm512_slli_epi32(sy, 7));
        const __m512 d = two_scales(FP16(x[i].d) * FP16(y[i].d), FP16(x[i + 1].d) * FP16(y[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(q), acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        const __m256i qx = _mm256_xor_si256(load256(x[i].qs), _mm256_set1_epi8((char)0x80));
        const __m256i qy = load256(y[i].qs);
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qx, qy);
        const __m256i sy = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), qy);
        const __m256i q = _mm256_sub_epi32(dot, _mm256_slli_epi32(sy, 7));
        s += hsum256(_mm256_mul_ps(_mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), _mm256_cvtepi32_ps(q)));
    }
    return s;
}

static float avx512_dot_f32(int64_t n, const float *x, const float *y) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static float avx512_vec_dot_f32(int64_t n, const void *x, const void *y) { return avx512_dot_f32(n, x, y); }

static void avx512_mad_f32(int64_t n, float *y, const float *x, float a) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), va, _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

#pragma GCC pop_options

void smelt_kernels_fill_avx512(struct smelt_kernel_set *ks) {
    ks->vec_dot[SMELT_TYPE_Q4_0] = avx512_vec_dot_q4_0_q8_0;
    ks->vec_dot[SMELT_TYPE_Q4_1] = avx512_vec_dot_q4_1_q8_1;
    ks->vec_dot[SMELT_TYPE_Q8_0] = avx512_vec_dot_q8_0_q8_0;
    ks->vec_dot[SMELT_TYPE_F32] = avx512_vec_dot_f32;
    ks->dot_f32 = avx512_dot_f32;
    ks->mad_f32 = avx512_mad_f32;
}

#else
void smelt_kernels_fill_avx512(struct smelt_kernel_set *ks) { (void)ks; }
#endif
