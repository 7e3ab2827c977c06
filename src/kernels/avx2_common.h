/* Helpers shared by the AVX2 kernel files (avx2.c, avx2_ext.c). Include only
 * inside their `#pragma GCC target("avx2,fma,f16c")` region. */
#ifndef SMELT_AVX2_COMMON_H
#define SMELT_AVX2_COMMON_H

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
    /* both halves hold the 16 bytes; the high half shifted right by 4 (vpsrlvd:
     * one instruction instead of a shift and an insert) */
    const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    const __m256i v = _mm256_srlv_epi32(t, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

#endif
