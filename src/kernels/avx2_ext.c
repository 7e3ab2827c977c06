/* AVX2 tier, part 2: the types added after the first set (Q5_0, Q5_1, the
 * K-quants with their Q8_K activations, IQ4_NL, IQ4_XS). Same rules as
 * avx2.c: target pragma, only run after the support check and probe, integer
 * arithmetic per block with maddubs (u8 x s8 -> int16 pairs; every use below
 * states why it cannot saturate), per-block float scaling into 8 lanes.
 * Quantizers are bit-identical to the reference. */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "quant/quant_blocks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "kernels/avx2_common.h"

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

/* ---- Q8_K quantizer (activations of every K-quant matmul), bit-identical to
 * the reference: the same first element of largest magnitude, iscale =
 * -127/max, cvtps (round to nearest even, the reference's nearest_int),
 * saturating packs (the reference's min(127, .); values never go below -127). */
static void avx2_q8_k_from_float(const float *x, void *dst, int64_t n) {
    smelt_block_q8_k *y = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < n / SMELT_QK_K; i++, x += SMELT_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < SMELT_QK_K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const __m256 va = _mm256_set1_ps(amax);
        int idx = 0;
        for (int k = 0; k < SMELT_QK_K; k += 8) {
            const int mask =
                _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), va, _CMP_EQ_OQ));
            if (mask) {
                idx = k + __builtin_ctz((unsigned)mask);
                break;
            }
        }
        const float iscale = -127.f / x[idx];
        const __m256 mul = _mm256_set1_ps(iscale);
        for (int k = 0; k < SMELT_QK_K; k += 32) {
            __m256i q[4];
            for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), mul));
            __m256i c = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            c = _mm256_permutevar8x32_epi32(c, perm);
            _mm256_storeu_si256((__m256i *)(y[i].qs + k), c);
            /* sums of 16: 4-element sums, then two horizontal adds per 128-bit lane */
            __m256i s4 = madd1(_mm256_maddubs_epi16(ones8, c));
            s4 = _mm256_hadd_epi32(s4, s4);
            s4 = _mm256_hadd_epi32(s4, s4);
            y[i].bsums[k / 16] = (int16_t)_mm256_extract_epi32(s4, 0);
            y[i].bsums[k / 16 + 1] = (int16_t)_mm256_extract_epi32(s4, 4);
        }
        y[i].d = 1 / iscale;
    }
}

/* two 16-element groups: int16 scale a for bytes 0..15, b for 16..31 */
static inline __m256i scale_pair(int a, int b) {
    return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

/* the 4 pair sums mins[2p]*(bsums[4p] + bsums[4p+1]) + mins[2p+1]*(bsums[4p+2] + bsums[4p+3]) */
static inline __m128i k4_min_pairs(const int16_t *bsums, const uint8_t *mn) {
    const __m128i b = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums), _mm_loadu_si128((const __m128i *)(bsums + 8)));
    return _mm_madd_epi16(b, _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn)));
}

/* sum over j of (bsums[2j] + bsums[2j+1]) * mins[j] */
static inline int k4_min_sum(const int16_t *bsums, const uint8_t *mn) {
    __m128i p = k4_min_pairs(bsums, mn);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(1, 0, 3, 2)));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(p);
}

/* 4 lanes -> (l0 + l2) + (l1 + l3) */
static inline float hsum_ps128(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

/* ---- Q4_K . Q8_K: maddubs(q <= 15, y): pairs <= 3810; times 6-bit scale
 * via madd into int32. Mins through the Q8_K bsums, as ggml's AVX2 kernel:
 * the 4 pair sums FMA-ed into 4 lanes with -(d_y * dmin), added last. ---- */
static float avx2_vec_dot_q4_k_q8_k(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_k *x = vx;
    const smelt_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        uint8_t sc[16]; /* scales, then mins */
        k4_scales_mins(x[i].scales, sc);
        const __m128 dmin = _mm_set1_ps(-(y[i].d * FP16(x[i].dmin)));
        accm = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(k4_min_pairs(y[i].bsums, sc + 8)), accm);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(q4, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * c]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps256(acc) + hsum_ps128(accm);
}

/* ---- Q5_K . Q8_K: as Q4_K with bit 4 from qh; pairs <= 2*31*127 = 7874. ---- */
static float avx2_vec_dot_q5_k_q8_k(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q5_k *x = vx;
    const smelt_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        uint8_t sc[16]; /* scales, then mins */
        k4_scales_mins(x[i].scales, sc);
        /* ggml: summs = fma(-(d_y * dmin), msum, summs), FMA-contracted by its compiler */
        accm = fmaf(y[i].d * FP16(x[i].dmin), (float)k4_min_sum(y[i].bsums, sc + 8), accm);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m1), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), m1), 4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4), h1);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * c]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps256(acc) - accm;
}

/* ---- Q6_K . Q8_K: q-32 with q in 0..63: sum(sc*q*y) - 32*sum(sc*bsum);
 * maddubs pairs <= 2*63*128 = 16128; int8 scales via madd. ---- */
static float avx2_vec_dot_q6_k_q8_k(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q6_k *x = vx;
    const smelt_block_q8_k *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        const int8_t *sc = x[i].scales;
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        const __m256i bias = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), sc16);
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 5));
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
            for (int s = 0; s < 4; s++) {
                const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * s));
                const int g = 8 * h + 2 * s;
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q[s], yv), scale_pair(sc[g], sc[g + 1]));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps256(acc);
}

/* ---- Q2_K . Q8_K: q in 0..3 (maddubs pairs <= 2*3*128), 4-bit scales per
 * 16 via madd; mins (high nibbles) through bsums. ---- */
static float avx2_vec_dot_q2_k_q8_k(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q2_k *x = vx;
    const smelt_block_q8_k *y = vy;
    const __m256i m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        const uint8_t *sc = x[i].scales;
        const __m128i s8 = _mm_loadu_si128((const __m128i *)sc);
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0f)));
        const int summs = hsum_epi32_256(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), mins16));
        accm += y[i].d * FP16(x[i].dmin) * (float)summs;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q2 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int s = 0; s < 4; s++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * s), m2);
                const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * s));
                const int g = 8 * h + 2 * s;
                const __m256i p =
                    _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), scale_pair(sc[g] & 0xf, sc[g + 1] & 0xf));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * FP16(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps256(acc) - accm;
}

/* ---- Q3_K . Q8_K: q-4 with q = low 2 bits + 4*hmask bit in 0..7:
 * sum(sc*q*y) - 4*sum(sc*bsum); maddubs pairs <= 2*7*128; signed 6-bit
 * scales via madd. ---- */
static float avx2_vec_dot_q3_k_q8_k(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q3_k *x = vx;
    const smelt_block_q8_k *y = vy;
    const __m256i m2 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        /* 16 6-bit scales: low nibbles from bytes 0..7, high 2 bits from 8..11 */
        uint32_t a[4];
        memcpy(a, x[i].scales, 12);
        const uint32_t k4 = 0x0f0f0f0f, k2 = 0x03030303, t = a[2];
        a[2] = ((a[0] >> 4) & k4) | (((t >> 4) & k2) << 4);
        a[3] = ((a[1] >> 4) & k4) | (((t >> 6) & k2) << 4);
        a[0] = (a[0] & k4) | ((t & k2) << 4);
        a[1] = (a[1] & k4) | (((t >> 2) & k2) << 4);
        const __m256i sc16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)a)),
                                              _mm256_set1_epi16(32));
        int16_t sc[16];
        _mm256_storeu_si256((__m256i *)sc, sc16);
        const __m256i bias = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), sc16);
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 2));
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i q3 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int s = 0; s < 4; s++) {
                const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + s), m1), 2);
                const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q3, 2 * s), m2), hb);
                const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * s));
                const int g = 8 * h + 2 * s;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), scale_pair(sc[g], sc[g + 1])));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps256(acc);
}

/* ---- IQ4_NL . Q8_0 and IQ4_XS . Q8_K: indices -> int8 values by pshufb,
 * signed x signed with the sign trick (|x| as u8 times y*sign(x)): pairs
 * <= 2*127*127, exact when y has no -128 (the quantizers give -127..127). */
static inline __m256i iq4_values(const uint8_t *qs) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)smelt_kvalues_iq4nl));
    return _mm256_shuffle_epi8(table, unpack_nibbles(qs));
}

static inline __m256i dot_s8s8_pairs(__m256i x, __m256i y) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static float avx2_vec_dot_iq4_nl_q8_0(int64_t n, const void *vx, const void *vy) {
    const smelt_block_iq4_nl *x = vx;
    const smelt_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK4_NL; i++) {
        const __m256i xv = iq4_values(x[i].qs);
        const __m256i yv = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i q = madd1(dot_s8s8_pairs(xv, yv));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(y[i].d) * FP16(x[i].d)), _mm256_cvtepi32_ps(q), acc);
    }
    return hsum_ps256(acc);
}

static float avx2_vec_dot_iq4_xs_q8_k(int64_t n, const void *vx, const void *vy) {
    const smelt_block_iq4_xs *x = vx;
    const smelt_block_q8_k *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const int ls = (((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((x[i].scales_h >> (2 * ib)) & 3) << 4)) - 32;
            const __m256i xv = iq4_values(x[i].qs + 16 * ib);
            const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * ib));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(dot_s8s8_pairs(xv, yv), _mm256_set1_epi16((short)ls)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps256(acc);
}

/* ---- tiled matmuls (kernels.h: smelt_matmul_fn, driver in avx2.c) ----
 * Every (row, token) dot keeps the operations of the paired vec_dot above:
 * the same int32 lanes per block (integer sums, exact in any order), the same
 * float products and fma chain from zero block after block, the same hsum
 * and (Q4_K) the same scalar min correction subtracted last. Scale vectors
 * are built once per row and super-block instead of once per dot. */
#define MM_INLINE static inline __attribute__((always_inline))

MM_INLINE void mm_store(int R, int T, __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX], float *y, int64_t ldy,
                        int64_t ldr) {
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * ldy + r * ldr] = hsum_ps256(acc[r][t]);
}

/* The fp16 d at the start of R blocks (one per row) as floats in lanes 2r. */
MM_INLINE __m256 mm_head_d(int R, const uint8_t *w, size_t ws, int64_t i, size_t bsz) {
    uint16_t h[SMELT_MM_RMAX] = {0};
    for (int r = 0; r < R; r++) memcpy(&h[r], w + (size_t)r * ws + (size_t)i * bsz, 2);
    return _mm256_cvtph_ps(_mm_setr_epi32(h[0], R > 1 ? h[1] : 0, R > 2 ? h[2] : 0, R > 3 ? h[3] : 0));
}

/* Q5_0 . Q8_0, one token: the R rows' d converted and multiplied by d_y in one vector. */
MM_INLINE void q5_0_tile_dec(const int R, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x, float *y,
                             int64_t ldr) {
    const smelt_block_q8_0 *c = (const smelt_block_q8_0 *)x;
    const __m256i ones8 = _mm256_set1_epi8(1), bit4 = _mm256_set1_epi8(0x10);
    __m256 acc[SMELT_MM_RMAX];
    _Alignas(32) float pr[8];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        _mm256_store_ps(pr, _mm256_mul_ps(mm_head_d(R, w, ws, i, sizeof(smelt_block_q5_0)), _mm256_set1_ps(FP16(c[i].d))));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)c[i].qs);
        const __m256i sy16 = _mm256_slli_epi16(_mm256_maddubs_epi16(ones8, qy), 4);
        for (int r = 0; r < R; r++) {
            const smelt_block_q5_0 *b = (const smelt_block_q5_0 *)(w + (size_t)r * ws) + i;
            const __m256i qx = _mm256_or_si256(unpack_nibbles(b->qs), _mm256_and_si256(bits_to_bytes(b->qh), bit4));
            const __m256i q = madd1(_mm256_sub_epi16(_mm256_maddubs_epi16(qx, qy), sy16));
            acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&pr[2 * r]), _mm256_cvtepi32_ps(q), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) y[r * ldr] = hsum_ps256(acc[r]);
}

/* Q5_0 . Q8_0 (avx2_vec_dot_q5_0_q8_0) */
MM_INLINE void q5_0_tile(const int R, const int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
                         size_t xs, const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr) {
    (void)ys;
    if (T == 1) {
        q5_0_tile_dec(R, nb, w, ws, x, y, ldr);
        return;
    }
    const __m256i ones8 = _mm256_set1_epi8(1), bit4 = _mm256_set1_epi8(0x10);
    __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i qx[SMELT_MM_RMAX];
        __m256 dx[SMELT_MM_RMAX];
        for (int r = 0; r < R; r++) {
            const smelt_block_q5_0 *b = (const smelt_block_q5_0 *)(w + (size_t)r * ws) + i;
            qx[r] = _mm256_or_si256(unpack_nibbles(b->qs), _mm256_and_si256(bits_to_bytes(b->qh), bit4));
            dx[r] = _mm256_set1_ps(FP16(b->d));
        }
        for (int t = 0; t < T; t++) {
            const smelt_block_q8_0 *c = (const smelt_block_q8_0 *)(x + (size_t)t * xs) + i;
            const __m256i qy = _mm256_loadu_si256((const __m256i *)c->qs);
            const __m256i sy16 = _mm256_slli_epi16(_mm256_maddubs_epi16(ones8, qy), 4);
            const __m256 dy = _mm256_broadcast_ss(yd + i * SMELT_MM_TMAX + t);
            for (int r = 0; r < R; r++) {
                const __m256i q = madd1(_mm256_sub_epi16(_mm256_maddubs_epi16(qx[r], qy), sy16));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), _mm256_cvtepi32_ps(q), acc[r][t]);
            }
        }
    }
    mm_store(R, T, acc, y, ldy, ldr);
}
SMELT_MM_DISPATCH8(q5_0_tiles, q5_0_tile)

/* Q4_K . Q8_K (avx2_vec_dot_q4_k_q8_k) */
MM_INLINE void q4_k_tile(const int R, const int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
                         size_t xs, const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr) {
    (void)yd, (void)ys;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX];
    __m128 accm[SMELT_MM_RMAX][SMELT_MM_TMAX];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps(), accm[r][t] = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i scv[SMELT_MM_RMAX][8];
        for (int r = 0; r < R; r++) {
            const smelt_block_q4_k *b = (const smelt_block_q4_k *)(w + (size_t)r * ws) + i;
            uint8_t sc[16]; /* scales, then mins */
            k4_scales_mins(b->scales, sc);
            for (int j = 0; j < 8; j++) scv[r][j] = _mm256_set1_epi16(sc[j]);
            const float dmin = FP16(b->dmin);
            for (int t = 0; t < T; t++) {
                const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                accm[r][t] = _mm_fmadd_ps(_mm_set1_ps(-(c->d * dmin)), _mm_cvtepi32_ps(k4_min_pairs(c->bsums, sc + 8)),
                                          accm[r][t]);
            }
        }
        __m256i sumi[SMELT_MM_RMAX][SMELT_MM_TMAX];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++) sumi[r][t] = _mm256_setzero_si256();
        for (int ch = 0; ch < 4; ch++) {
            for (int r = 0; r < R; r++) {
                const smelt_block_q4_k *b = (const smelt_block_q4_k *)(w + (size_t)r * ws) + i;
                const __m256i q4 = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * ch));
                const __m256i lo = _mm256_and_si256(q4, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
                for (int t = 0; t < T; t++) {
                    const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                    const __m256i y0 = _mm256_loadu_si256((const __m256i *)(c->qs + 64 * ch));
                    const __m256i y1 = _mm256_loadu_si256((const __m256i *)(c->qs + 64 * ch + 32));
                    const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), scv[r][2 * ch]);
                    const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), scv[r][2 * ch + 1]);
                    sumi[r][t] = _mm256_add_epi32(sumi[r][t], _mm256_add_epi32(p0, p1));
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const __m256 dx = _mm256_set1_ps(FP16(((const smelt_block_q4_k *)(w + (size_t)r * ws) + i)->d));
            for (int t = 0; t < T; t++) {
                const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                const __m256 d = _mm256_mul_ps(dx, _mm256_broadcast_ss(&c->d));
                acc[r][t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi[r][t]), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * ldy + r * ldr] = hsum_ps256(acc[r][t]) + hsum_ps128(accm[r][t]);
}
SMELT_MM_DISPATCH8(q4_k_tiles, q4_k_tile)

/* Q6_K . Q8_K (avx2_vec_dot_q6_k_q8_k) */
MM_INLINE void q6_k_tile(const int R, const int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
                         size_t xs, const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr) {
    (void)yd, (void)ys;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i scv[SMELT_MM_RMAX][8];
        __m256i sumi[SMELT_MM_RMAX][SMELT_MM_TMAX];
        for (int r = 0; r < R; r++) {
            const smelt_block_q6_k *b = (const smelt_block_q6_k *)(w + (size_t)r * ws) + i;
            const int8_t *sc = b->scales;
            for (int g = 0; g < 8; g++) scv[r][g] = scale_pair(sc[2 * g], sc[2 * g + 1]);
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
            for (int t = 0; t < T; t++) {
                const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                const __m256i bias = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)c->bsums), sc16);
                sumi[r][t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 5));
            }
        }
        for (int h = 0; h < 2; h++) {
            for (int s = 0; s < 4; s++) {
                for (int r = 0; r < R; r++) {
                    const smelt_block_q6_k *b = (const smelt_block_q6_k *)(w + (size_t)r * ws) + i;
                    const __m256i ql = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (s & 1)));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
                    const __m256i lo4 = (s & 2) ? _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4) : _mm256_and_si256(ql, m4);
                    const __m256i hi2 = s == 0 ? _mm256_and_si256(qh, m2) : _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), m2);
                    const __m256i q = _mm256_or_si256(lo4, _mm256_slli_epi16(hi2, 4));
                    for (int t = 0; t < T; t++) {
                        const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                        const __m256i yv = _mm256_loadu_si256((const __m256i *)(c->qs + 128 * h + 32 * s));
                        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), scv[r][4 * h + s]);
                        sumi[r][t] = _mm256_add_epi32(sumi[r][t], p);
                    }
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const __m256 dx = _mm256_set1_ps(FP16(((const smelt_block_q6_k *)(w + (size_t)r * ws) + i)->d));
            for (int t = 0; t < T; t++) {
                const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                const __m256 d = _mm256_mul_ps(dx, _mm256_broadcast_ss(&c->d));
                acc[r][t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi[r][t]), acc[r][t]);
            }
        }
    }
    mm_store(R, T, acc, y, ldy, ldr);
}
SMELT_MM_DISPATCH8(q6_k_tiles, q6_k_tile)

/* tile shapes for n_tok > 1 (bench_matmul on Zen 3; K-quants: one row, 8 tokens) */
#ifndef MM_Q50_R
#define MM_Q50_R 2
#define MM_Q50_T 8
#endif
#ifndef MM_QK_R
#define MM_QK_R 1
#define MM_QK_T 8
#endif
_Static_assert(SMELT_MM_SHAPE8_OK(MM_Q50_R, MM_Q50_T), "tile shape without a compiled case");
_Static_assert(SMELT_MM_SHAPE8_OK(MM_QK_R, MM_QK_T), "tile shape without a compiled case");
static const struct smelt_mm_plan plan_q5_0 = {q5_0_tiles, avx2_vec_dot_q5_0_q8_0, SMELT_QK5_0,
                                               sizeof(smelt_block_q8_0), 1, MM_Q50_R, MM_Q50_T, 4};
static const struct smelt_mm_plan plan_q4_k = {q4_k_tiles, avx2_vec_dot_q4_k_q8_k, SMELT_QK_K,
                                               sizeof(smelt_block_q8_k), 0, MM_QK_R, MM_QK_T, 0};
static const struct smelt_mm_plan plan_q6_k = {q6_k_tiles, avx2_vec_dot_q6_k_q8_k, SMELT_QK_K,
                                               sizeof(smelt_block_q8_k), 0, MM_QK_R, MM_QK_T, 0};

static void avx2_mm_q5_0(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                         float *y, int64_t ldy) {
    smelt_avx2_mm_drive(&plan_q5_0, K, w, ws, nr, xq, xs, nt, y, ldy);
}
static void avx2_mm_q4_k(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                         float *y, int64_t ldy) {
    smelt_avx2_mm_drive(&plan_q4_k, K, w, ws, nr, xq, xs, nt, y, ldy);
}
static void avx2_mm_q6_k(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                         float *y, int64_t ldy) {
    smelt_avx2_mm_drive(&plan_q6_k, K, w, ws, nr, xq, xs, nt, y, ldy);
}

#pragma GCC pop_options

void smelt_kernels_fill_avx2_ext(struct smelt_kernel_set *ks) {
    ks->vec_dot[SMELT_TYPE_Q5_0] = avx2_vec_dot_q5_0_q8_0;
    ks->vec_dot[SMELT_TYPE_Q5_1] = avx2_vec_dot_q5_1_q8_1;
    ks->from_float[SMELT_TYPE_Q8_K] = avx2_q8_k_from_float;
    /* activations of K-quant matmuls: llama.cpp quantizes them with the file-format
     * quantizer, which avx2_q8_k_from_float reproduces bit for bit (the start-up
     * probe compares it with quantize_act_ref byte by byte) */
    ks->quantize_act[SMELT_TYPE_Q8_K] = avx2_q8_k_from_float;
    ks->vec_dot[SMELT_TYPE_Q2_K] = avx2_vec_dot_q2_k_q8_k;
    ks->vec_dot[SMELT_TYPE_Q3_K] = avx2_vec_dot_q3_k_q8_k;
    ks->vec_dot[SMELT_TYPE_Q4_K] = avx2_vec_dot_q4_k_q8_k;
    ks->vec_dot[SMELT_TYPE_Q5_K] = avx2_vec_dot_q5_k_q8_k;
    ks->vec_dot[SMELT_TYPE_Q6_K] = avx2_vec_dot_q6_k_q8_k;
    ks->vec_dot[SMELT_TYPE_IQ4_NL] = avx2_vec_dot_iq4_nl_q8_0;
    ks->vec_dot[SMELT_TYPE_IQ4_XS] = avx2_vec_dot_iq4_xs_q8_k;
    ks->matmul[SMELT_TYPE_Q5_0] = avx2_mm_q5_0;
    ks->matmul_dot[SMELT_TYPE_Q5_0] = avx2_vec_dot_q5_0_q8_0;
    ks->matmul[SMELT_TYPE_Q4_K] = avx2_mm_q4_k;
    ks->matmul_dot[SMELT_TYPE_Q4_K] = avx2_vec_dot_q4_k_q8_k;
    ks->matmul[SMELT_TYPE_Q6_K] = avx2_mm_q6_k;
    ks->matmul_dot[SMELT_TYPE_Q6_K] = avx2_vec_dot_q6_k_q8_k;
}

#else
void smelt_kernels_fill_avx2_ext(struct smelt_kernel_set *ks) { (void)ks; }
#endif
