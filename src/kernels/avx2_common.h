/* Helpers shared by the AVX2 kernel files (avx2.c, avx2_ext.c, avx2_r8.c). Include only
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

/* The 8 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K block,
 * unpacked with 32-bit masks (get_scale_min_k4 for all j at once). */
static inline void k4_scales_mins(const uint8_t *q, uint8_t out[16]) {
    uint32_t u[4];
    memcpy(u, q, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);
    const uint32_t mins_lo = u[1] & m6;
    u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);
    u[2] = mins_lo;
    u[0] &= m6;
    memcpy(out, u, 16);
}

#endif
