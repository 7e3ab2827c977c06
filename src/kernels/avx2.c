/* AVX2 + FMA + F16C tier. Compiled with a target pragma so the library needs
 * no -march flag; only called after smelt_isa_supported(SMELT_ISA_AVX2) and the
 * start-up probe. Quantizers and dequantizers are bit-identical to the
 * reference (same operations, same rounding; this relies on the default
 * -ffp-contract=off of ISO C mode so mul+add are not fused). Integer dots use
 * maddubs (u8 x s8 pairs into int16, which cannot saturate for these ranges)
 * and keep per-block partial sums in 8 float lanes, like llama.cpp. */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#include "quant/quant_blocks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "kernels/avx2_common.h"

/* sum over pairs of u8 a * s8 b into 8 int32 lanes */
static inline __m256i dot_u8s8(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

/* roundf() on each lane (half away from zero), exact for |v| < 2^23. */
static inline __m256 round_half_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 ge = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(ge, one));
}

/* ---- dequantize ---- */

static void avx2_q4_0_to_float(const void *src, float *y, int64_t n) {
    const smelt_block_q4_0 *x = src;
    for (int64_t i = 0; i < n / SMELT_QK4_0; i++) {
        const __m256 d = _mm256_set1_ps(FP16(x[i].d));
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(x[i].qs), _mm256_set1_epi8(8));
        const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *o = y + i * SMELT_QK4_0;
        _mm256_storeu_ps(o + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(o + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}

static void avx2_q4_1_to_float(const void *src, float *y, int64_t n) {
    const smelt_block_q4_1 *x = src;
    for (int64_t i = 0; i < n / SMELT_QK4_1; i++) {
        const __m256 d = _mm256_set1_ps(FP16(x[i].d)), m = _mm256_set1_ps(FP16(x[i].m));
        const __m256i q = unpack_nibbles(x[i].qs);
        const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        float *o = y + i * SMELT_QK4_1;
        for (int k = 0; k < 4; k++) {
            const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
            _mm256_storeu_ps(o + 8 * k, _mm256_add_ps(_mm256_mul_ps(f, d), m));
        }
    }
}

static void avx2_q8_0_to_float(const void *src, float *y, int64_t n) {
    const smelt_block_q8_0 *x = src;
    for (int64_t i = 0; i < n / SMELT_QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(FP16(x[i].d));
        float *o = y + i * SMELT_QK8_0;
        for (int k = 0; k < 4; k++) {
            const __m128i q = _mm_loadl_epi64((const __m128i *)(x[i].qs + 8 * k));
            _mm256_storeu_ps(o + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

static void avx2_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = smelt_fp16_to_fp32(x[i]);
}

static void avx2_f16_to_float(const void *src, float *y, int64_t n) {
    avx2_fp16_to_fp32_row(src, y, n);
}

static inline __m256 load_bf16x8(const uint16_t *p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static void avx2_bf16_to_float(const void *src, float *y, int64_t n) {
    const uint16_t *x = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_bf16x8(x + i));
    for (; i < n; i++) y[i] = smelt_bf16_to_fp32(x[i]);
}

/* ---- quantize (bit-identical to the reference) ---- */

/* Quantize 32 floats with scale multiplier id into 32 int8 (roundf), return their sum. */
static inline int quant32_q8(const float *x, float id, int8_t *out) {
    const __m256 mul = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), mul)));
    const int sum = hsum_epi32_256(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    __m256i a = _mm256_packs_epi32(q[0], q[1]);
    __m256i b = _mm256_packs_epi32(q[2], q[3]);
    __m256i c = _mm256_packs_epi16(a, b);
    c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)out, c);
    return sum;
}

static inline float amax32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    for (int k = 1; k < 4; k++) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static void avx2_q8_0_from_float(const float *x, void *dst, int64_t n) {
    smelt_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / SMELT_QK8_0; i++) {
        const float *xb = x + i * SMELT_QK8_0;
        const float d = amax32(xb) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        quant32_q8(xb, id, y[i].qs);
    }
}

static void avx2_q8_1_from_float(const float *x, void *dst, int64_t n) {
    smelt_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / SMELT_QK8_1; i++) {
        const float *xb = x + i * SMELT_QK8_1;
        const float d = amax32(xb) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        const int sum = quant32_q8(xb, id, y[i].qs);
        y[i].s = smelt_fp32_to_fp16((float)sum * d);
    }
}

/* run-time activation quantizers: id = 127/amax, round half to even (llama.cpp's x86 path) */
static inline int quant32_q8_even(const float *x, float id, int8_t *out) {
    const __m256 mul = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(
            _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const int sum = hsum_epi32_256(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    __m256i a = _mm256_packs_epi32(q[0], q[1]);
    __m256i b = _mm256_packs_epi32(q[2], q[3]);
    __m256i c = _mm256_packs_epi16(a, b);
    c = _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)out, c);
    return sum;
}

static void avx2_q8_0_quantize_act(const float *x, void *dst, int64_t n) {
    smelt_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / SMELT_QK8_0; i++) {
        const float *xb = x + i * SMELT_QK8_0;
        const float amax = amax32(xb), d = amax / 127;
        y[i].d = smelt_fp32_to_fp16(d);
        quant32_q8_even(xb, amax != 0.0f ? 127.0f / amax : 0.0f, y[i].qs);
    }
}

static void avx2_q8_1_quantize_act(const float *x, void *dst, int64_t n) {
    smelt_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / SMELT_QK8_1; i++) {
        const float *xb = x + i * SMELT_QK8_1;
        const float amax = amax32(xb), d = amax / 127;
        y[i].d = smelt_fp32_to_fp16(d);
        const int sum = quant32_q8_even(xb, amax != 0.0f ? 127.0f / amax : 0.0f, y[i].qs);
        y[i].s = smelt_fp32_to_fp16(d * (float)sum);
    }
}

static void avx2_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = smelt_fp32_to_fp16(x[i]);
}

static void avx2_f16_from_float(const float *x, void *y, int64_t n) {
    avx2_fp32_to_fp16_row(x, y, n);
}

static void avx2_bf16_from_float(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    int64_t i = 0;
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(64);
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
        const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, lsb)), 16);
        const __m256i qn = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
        __m256i v = _mm256_blendv_epi8(r, qn, nan);
        v = _mm256_packus_epi32(v, v); /* values are <= 0xffff: no saturation */
        v = _mm256_permute4x64_epi64(v, _MM_SHUFFLE(3, 1, 2, 0));
        _mm_storeu_si128((__m128i *)(y + i), _mm256_castsi256_si128(v));
    }
    for (; i < n; i++) y[i] = smelt_fp32_to_bf16(x[i]);
}

/* ---- dots ---- */

static float avx2_dot_f32(int64_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_ps256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static float avx2_vec_dot_f32(int64_t n, const void *x, const void *y) { return avx2_dot_f32(n, x, y); }

static float avx2_dot_f16(int64_t n, const uint16_t *x, const uint16_t *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
#define LH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(LH(x + i), LH(y + i), a0);
        a1 = _mm256_fmadd_ps(LH(x + i + 8), LH(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LH(x + i), LH(y + i), a0);
#undef LH
    float s = hsum_ps256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += smelt_fp16_to_fp32(x[i]) * smelt_fp16_to_fp32(y[i]);
    return s;
}

static float avx2_vec_dot_f16(int64_t n, const void *x, const void *y) { return avx2_dot_f16(n, x, y); }

static float avx2_vec_dot_bf16(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(load_bf16x8(x + i), load_bf16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(x + i + 8), load_bf16x8(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(x + i), load_bf16x8(y + i), a0);
    float s = hsum_ps256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += smelt_bf16_to_fp32(x[i]) * smelt_bf16_to_fp32(y[i]);
    return s;
}

/* Q4_0 . Q8_0: sum((q-8)*y) = sum(q*y) - 8*sum(y), all in int16/int32 lanes. */
static float avx2_vec_dot_q4_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    const __m256i ones8 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK8_0; i++) {
        const __m256i qx = unpack_nibbles(x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i p = _mm256_maddubs_epi16(qx, qy);     /* |.| <= 2*15*128 */
        const __m256i sy = _mm256_maddubs_epi16(ones8, qy); /* |.| <= 2*128 */
        const __m256i q = _mm256_madd_epi16(_mm256_sub_epi16(p, _mm256_slli_epi16(sy, 3)), _mm256_set1_epi16(1));
        const __m256 d = _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    return hsum_ps256(acc);
}

static float avx2_vec_dot_q4_1_q8_1(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_1 *x = vx;
    const smelt_block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK8_1; i++) {
        const __m256i qx = unpack_nibbles(x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256 d = _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8s8(qx, qy)), acc);
        summs += FP16(x[i].m) * FP16(y[i].s);
    }
    return hsum_ps256(acc) + summs;
}

/* Q8_0 . Q8_0 with the sign trick: |x| (as u8) times y*sign(x). Exact when y
 * has no -128 (smelt's and ggml's quantizers produce -127..127). */
static float avx2_vec_dot_q8_0_q8_0(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q8_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SMELT_QK8_0; i++) {
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i q = dot_u8s8(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
        const __m256 d = _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    return hsum_ps256(acc);
}

/* ---- tiled matmuls (kernels.h: smelt_matmul_fn) ----
 * Each tile keeps, for every (row, token) dot, exactly the operations of the
 * paired vec_dot above: the same per-block integer lanes, d = d_x*d_y as a
 * float product, acc = fma(d, lanes, acc) block after block from zero, the
 * same hsum_ps256 tree, and (Q4_1) the scalar m*s sum added last. Lanes of
 * one vector hold one dot; nothing is summed across dots. */

#define MM_YBUF 4096 /* floats per scale buffer: K up to 1024 blocks */
#define MM_INLINE static inline __attribute__((always_inline))

static void mm_prep(const uint8_t *x, size_t xs, int T, int64_t nb, size_t ybsz, int prep, float *yd, float *ys) {
    for (int64_t i = 0; i < nb; i++) {
        for (int t = 0; t < SMELT_MM_TMAX; t++) {
            float d = 0.0f, s = 0.0f;
            if (t < T) {
                const uint8_t *b = x + (size_t)t * xs + (size_t)i * ybsz;
                uint16_t h[2];
                memcpy(h, b, sizeof h);
                d = FP16(h[0]);
                s = FP16(h[1]);
            }
            yd[i * SMELT_MM_TMAX + t] = d;
            if (prep == 2) ys[i * SMELT_MM_TMAX + t] = s;
        }
    }
}

void smelt_avx2_mm_drive(const struct smelt_mm_plan *p, int64_t K, const void *w, size_t ws, int64_t nr,
                         const void *xq, size_t xs, int64_t nt, float *y, int64_t ldy) {
    const int64_t nb = K / p->blck;
    const uint8_t *wb = w, *xb = xq;
    if (p->prep && nb * SMELT_MM_TMAX > MM_YBUF) {
        for (int64_t t = 0; t < nt; t++)
            for (int64_t r = 0; r < nr; r++) y[t * ldy + r] = p->dot(K, wb + (size_t)r * ws, xb + (size_t)t * xs);
        return;
    }
    if (nt == 1 && p->r_dec == 0) { /* decode: this type's vec_dot is as fast as a tile */
        for (int64_t r = 0; r < nr; r++) y[r] = p->dot(K, wb + (size_t)r * ws, xb);
        return;
    }
    float yd[MM_YBUF], ys[MM_YBUF];
    if (nt == 1) {
        /* decode: the R rows of a tile come from R far-apart parts of the row
         * range, so that the weights are read as R sequential streams */
        const int R = p->r_dec;
        const int64_t Q = nr / R;
        if (p->prep) mm_prep(xb, xs, 1, nb, p->ybsz, p->prep, yd, ys);
        const float *pd = p->prep ? yd : NULL, *ps = p->prep == 2 ? ys : NULL;
        for (int64_t j = 0; j < Q; j++) p->tile(R, 1, nb, wb + (size_t)j * ws, (size_t)Q * ws, xb, xs, pd, ps, y + j, ldy, Q);
        for (int64_t r = (int64_t)R * Q; r < nr; r++) p->tile(1, 1, nb, wb + (size_t)r * ws, ws, xb, xs, pd, ps, y + r, ldy, 1);
        return;
    }
    const int R = p->r_pre;
    /* rows per chunk: ~64 KiB of weights, reused (from L2) by every token tile */
    int64_t rb = (int64_t)((64 * 1024) / ws);
    if (rb < 8 * R) rb = 8 * R;
    rb -= rb % R;
    for (int64_t r0 = 0; r0 < nr; r0 += rb) {
        const int64_t r1 = r0 + rb < nr ? r0 + rb : nr;
        for (int64_t t0 = 0; t0 < nt; t0 += p->t_pre) {
            const int T = nt - t0 < p->t_pre ? (int)(nt - t0) : p->t_pre;
            const uint8_t *xt = xb + (size_t)t0 * xs;
            if (p->prep) mm_prep(xt, xs, T, nb, p->ybsz, p->prep, yd, ys);
            for (int64_t r = r0; r < r1; r += R) {
                const int rr = r1 - r < R ? (int)(r1 - r) : R;
                p->tile(rr, T, nb, wb + (size_t)r * ws, ws, xt, xs, p->prep ? yd : NULL, p->prep == 2 ? ys : NULL,
                        y + t0 * ldy + r, ldy, 1);
            }
        }
    }
}

MM_INLINE void mm_store(int R, int T, __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX], float *y, int64_t ldy,
                        int64_t ldr) {
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * ldy + r * ldr] = hsum_ps256(acc[r][t]);
}

/* The first 4 bytes of R blocks (one per row) as floats [lo0, hi0, lo1, hi1,
 * ...]: d and m of Q4_1 blocks; with pairs false only d (the low halves; the
 * high halves, which hold quants, are zeroed before the conversion). */
MM_INLINE __m256 mm_head_pairs(int R, const uint8_t *w, size_t ws, int64_t i, size_t bsz, bool pairs) {
    int h[SMELT_MM_RMAX] = {0};
    for (int r = 0; r < R; r++) memcpy(&h[r], w + (size_t)r * ws + (size_t)i * bsz, 4);
    __m128i v = _mm_setr_epi32(h[0], R > 1 ? h[1] : 0, R > 2 ? h[2] : 0, R > 3 ? h[3] : 0);
    if (!pairs) v = _mm_and_si128(v, _mm_set1_epi32(0xffff));
    return _mm256_cvtph_ps(v);
}


/* Q4_0 . Q8_0 (avx2_vec_dot_q4_0_q8_0) */
MM_INLINE void q4_0_tile(const int R, const int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
                         size_t xs, const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr) {
    (void)ys;
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i qx[SMELT_MM_RMAX];
        __m256 dx[SMELT_MM_RMAX];
        for (int r = 0; r < R; r++) {
            const smelt_block_q4_0 *b = (const smelt_block_q4_0 *)(w + (size_t)r * ws) + i;
            qx[r] = unpack_nibbles(b->qs);
            dx[r] = _mm256_set1_ps(FP16(b->d));
        }
        for (int t = 0; t < T; t++) {
            const smelt_block_q8_0 *c = (const smelt_block_q8_0 *)(x + (size_t)t * xs) + i;
            const __m256i qy = _mm256_loadu_si256((const __m256i *)c->qs);
            const __m256i sy8 = _mm256_slli_epi16(_mm256_maddubs_epi16(ones8, qy), 3);
            const __m256 dy = _mm256_broadcast_ss(yd + i * SMELT_MM_TMAX + t);
            for (int r = 0; r < R; r++) {
                const __m256i q = _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(qx[r], qy), sy8), ones16);
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), _mm256_cvtepi32_ps(q), acc[r][t]);
            }
        }
    }
    mm_store(R, T, acc, y, ldy, ldr);
}
SMELT_MM_DISPATCH8(q4_0_tiles, q4_0_tile)

/* Q4_1 . Q8_1, one token: the R rows' d and m side by side in one vector,
 * times [d_y, s_y, ...]: d products for the fma (lanes 2r) and m*s products
 * summed per row (lanes 2r+1) in one add, block after block from zero. */
MM_INLINE void q4_1_tile_dec(const int R, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x, float *y,
                             int64_t ldr) {
    const smelt_block_q8_1 *c = (const smelt_block_q8_1 *)x;
    __m256 acc[SMELT_MM_RMAX], sm = _mm256_setzero_ps();
    _Alignas(32) float pr[8];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        int ds;
        memcpy(&ds, &c[i], 4);
        const __m256 p = _mm256_mul_ps(mm_head_pairs(R, w, ws, i, sizeof(smelt_block_q4_1), true),
                                       _mm256_cvtph_ps(_mm_set1_epi32(ds)));
        sm = _mm256_add_ps(sm, p);
        _mm256_store_ps(pr, p);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)c[i].qs);
        for (int r = 0; r < R; r++) {
            const smelt_block_q4_1 *b = (const smelt_block_q4_1 *)(w + (size_t)r * ws) + i;
            acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&pr[2 * r]), _mm256_cvtepi32_ps(dot_u8s8(unpack_nibbles(b->qs), qy)),
                                     acc[r]);
        }
    }
    _mm256_store_ps(pr, sm);
    for (int r = 0; r < R; r++) y[r * ldr] = hsum_ps256(acc[r]) + pr[2 * r + 1];
}

/* Q4_1 . Q8_1 (avx2_vec_dot_q4_1_q8_1): the m*s sums run in a second pass,
 * tokens in the lanes of one vector per row, block after block from zero. */
MM_INLINE void q4_1_tile(const int R, const int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
                         size_t xs, const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr) {
    if (T == 1) {
        q4_1_tile_dec(R, nb, w, ws, x, y, ldr);
        return;
    }
    __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i qx[SMELT_MM_RMAX];
        __m256 dx[SMELT_MM_RMAX];
        for (int r = 0; r < R; r++) {
            const smelt_block_q4_1 *b = (const smelt_block_q4_1 *)(w + (size_t)r * ws) + i;
            qx[r] = unpack_nibbles(b->qs);
            dx[r] = _mm256_set1_ps(FP16(b->d));
        }
        for (int t = 0; t < T; t++) {
            const smelt_block_q8_1 *c = (const smelt_block_q8_1 *)(x + (size_t)t * xs) + i;
            const __m256i qy = _mm256_loadu_si256((const __m256i *)c->qs);
            const __m256 dy = _mm256_broadcast_ss(yd + i * SMELT_MM_TMAX + t);
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), _mm256_cvtepi32_ps(dot_u8s8(qx[r], qy)), acc[r][t]);
        }
    }
    __m256 sm[SMELT_MM_RMAX];
    for (int r = 0; r < R; r++) sm[r] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256 s = _mm256_loadu_ps(ys + i * SMELT_MM_TMAX);
        for (int r = 0; r < R; r++) {
            const smelt_block_q4_1 *b = (const smelt_block_q4_1 *)(w + (size_t)r * ws) + i;
            sm[r] = _mm256_add_ps(sm[r], _mm256_mul_ps(_mm256_set1_ps(FP16(b->m)), s));
        }
    }
    for (int r = 0; r < R; r++) {
        float s[8];
        _mm256_storeu_ps(s, sm[r]);
        for (int t = 0; t < T; t++) y[t * ldy + r * ldr] = hsum_ps256(acc[r][t]) + s[t];
    }
}
SMELT_MM_DISPATCH8(q4_1_tiles, q4_1_tile)


/* Q8_0 . Q8_0 (avx2_vec_dot_q8_0_q8_0) */
MM_INLINE void q8_0_tile(const int R, const int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
                         size_t xs, const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr) {
    (void)ys;
    __m256 acc[SMELT_MM_RMAX][SMELT_MM_TMAX];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i qx[SMELT_MM_RMAX], ax[SMELT_MM_RMAX];
        __m256 dx[SMELT_MM_RMAX];
        for (int r = 0; r < R; r++) {
            const smelt_block_q8_0 *b = (const smelt_block_q8_0 *)(w + (size_t)r * ws) + i;
            qx[r] = _mm256_loadu_si256((const __m256i *)b->qs);
            ax[r] = _mm256_sign_epi8(qx[r], qx[r]);
            dx[r] = _mm256_set1_ps(FP16(b->d));
        }
        for (int t = 0; t < T; t++) {
            const smelt_block_q8_0 *c = (const smelt_block_q8_0 *)(x + (size_t)t * xs) + i;
            const __m256i qy = _mm256_loadu_si256((const __m256i *)c->qs);
            const __m256 dy = _mm256_broadcast_ss(yd + i * SMELT_MM_TMAX + t);
            for (int r = 0; r < R; r++) {
                const __m256i q = dot_u8s8(ax[r], _mm256_sign_epi8(qy, qx[r]));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), _mm256_cvtepi32_ps(q), acc[r][t]);
            }
        }
    }
    mm_store(R, T, acc, y, ldy, ldr);
}
SMELT_MM_DISPATCH8(q8_0_tiles, q8_0_tile)

/* Tile shapes (rows x tokens) for n_tok > 1, chosen with bench_matmul on Zen 3
 * (16 ymm registers: R*T accumulators plus the unpacked rows); -D to retune. */
#ifndef MM_Q40_R
#define MM_Q40_R 2
#define MM_Q40_T 8
#endif
#ifndef MM_Q41_R
#define MM_Q41_R 2
#define MM_Q41_T 8
#endif
#ifndef MM_Q80_R
#define MM_Q80_R 3
#define MM_Q80_T 4
#endif
_Static_assert(SMELT_MM_SHAPE8_OK(MM_Q40_R, MM_Q40_T), "tile shape without a compiled case");
_Static_assert(SMELT_MM_SHAPE8_OK(MM_Q41_R, MM_Q41_T), "tile shape without a compiled case");
_Static_assert(SMELT_MM_SHAPE8_OK(MM_Q80_R, MM_Q80_T), "tile shape without a compiled case");
static const struct smelt_mm_plan plan_q4_0 = {q4_0_tiles, avx2_vec_dot_q4_0_q8_0, SMELT_QK4_0,
                                               sizeof(smelt_block_q8_0), 1, MM_Q40_R, MM_Q40_T, 4};
static const struct smelt_mm_plan plan_q4_1 = {q4_1_tiles, avx2_vec_dot_q4_1_q8_1, SMELT_QK4_1,
                                               sizeof(smelt_block_q8_1), 2, MM_Q41_R, MM_Q41_T, 4};
static const struct smelt_mm_plan plan_q8_0 = {q8_0_tiles, avx2_vec_dot_q8_0_q8_0, SMELT_QK8_0,
                                               sizeof(smelt_block_q8_0), 1, MM_Q80_R, MM_Q80_T, 4};

static void avx2_mm_q4_0(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                         float *y, int64_t ldy) {
    smelt_avx2_mm_drive(&plan_q4_0, K, w, ws, nr, xq, xs, nt, y, ldy);
}
static void avx2_mm_q4_1(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                         float *y, int64_t ldy) {
    smelt_avx2_mm_drive(&plan_q4_1, K, w, ws, nr, xq, xs, nt, y, ldy);
}
static void avx2_mm_q8_0(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                         float *y, int64_t ldy) {
    smelt_avx2_mm_drive(&plan_q8_0, K, w, ws, nr, xq, xs, nt, y, ldy);
}

/* ---- primitives ---- */

static void avx2_mad_f32(int64_t n, float *y, const float *x, float a) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(x + i), va, _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += x[i] * a;
}

static void avx2_scale_f32(int64_t n, float *y, float a) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), va));
    for (; i < n; i++) y[i] *= a;
}

static void avx2_mad_f16(int64_t n, float *y, const uint16_t *x, float a) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(vx, va, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++) y[i] += smelt_fp16_to_fp32(x[i]) * a;
}

#pragma GCC pop_options

void smelt_kernels_fill_avx2(struct smelt_kernel_set *ks) {
    ks->to_float[SMELT_TYPE_Q4_0] = avx2_q4_0_to_float;
    ks->to_float[SMELT_TYPE_Q4_1] = avx2_q4_1_to_float;
    ks->to_float[SMELT_TYPE_Q8_0] = avx2_q8_0_to_float;
    ks->to_float[SMELT_TYPE_F16] = avx2_f16_to_float;
    ks->to_float[SMELT_TYPE_BF16] = avx2_bf16_to_float;
    ks->from_float[SMELT_TYPE_Q8_0] = avx2_q8_0_from_float;
    ks->from_float[SMELT_TYPE_Q8_1] = avx2_q8_1_from_float;
    ks->quantize_act[SMELT_TYPE_Q8_0] = avx2_q8_0_quantize_act;
    ks->quantize_act[SMELT_TYPE_Q8_1] = avx2_q8_1_quantize_act;
    ks->from_float[SMELT_TYPE_F16] = avx2_f16_from_float;
    ks->from_float[SMELT_TYPE_BF16] = avx2_bf16_from_float;
    ks->vec_dot[SMELT_TYPE_F32] = avx2_vec_dot_f32;
    ks->vec_dot[SMELT_TYPE_F16] = avx2_vec_dot_f16;
    ks->vec_dot[SMELT_TYPE_BF16] = avx2_vec_dot_bf16;
    ks->vec_dot[SMELT_TYPE_Q4_0] = avx2_vec_dot_q4_0_q8_0;
    ks->vec_dot[SMELT_TYPE_Q4_1] = avx2_vec_dot_q4_1_q8_1;
    ks->vec_dot[SMELT_TYPE_Q8_0] = avx2_vec_dot_q8_0_q8_0;
    ks->dot_f32 = avx2_dot_f32;
    ks->mad_f32 = avx2_mad_f32;
    ks->scale_f32 = avx2_scale_f32;
    ks->dot_f16 = avx2_dot_f16;
    ks->mad_f16 = avx2_mad_f16;
    ks->fp32_to_fp16_row = avx2_fp32_to_fp16_row;
    ks->fp16_to_fp32_row = avx2_fp16_to_fp32_row;
    ks->matmul[SMELT_TYPE_Q4_0] = avx2_mm_q4_0;
    ks->matmul_dot[SMELT_TYPE_Q4_0] = avx2_vec_dot_q4_0_q8_0;
    ks->matmul[SMELT_TYPE_Q4_1] = avx2_mm_q4_1;
    ks->matmul_dot[SMELT_TYPE_Q4_1] = avx2_vec_dot_q4_1_q8_1;
    ks->matmul[SMELT_TYPE_Q8_0] = avx2_mm_q8_0;
    ks->matmul_dot[SMELT_TYPE_Q8_0] = avx2_vec_dot_q8_0_q8_0;
    smelt_kernels_fill_avx2_ext(ks);
    smelt_kernels_fill_avx2_r8(ks);
}

#else
void smelt_kernels_fill_avx2(struct smelt_kernel_set *ks) { (void)ks; }
#endif
