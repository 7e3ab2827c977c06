#include "ggml_numerics.h"

#include <math.h>
#include <string.h>

#include "kernels.h"
#include "quant/quant.h"
#include "quant/quant_blocks.h"

static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* exp(x) = 2^n * (1 + p(b)), n = round(x / ln2), b = x - n*ln2 (two-part ln2). */
float smelt_expf_approx(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const uint32_t e = f2u(z) << 23;
    const float k = u2f(e + f2u(1.0f));
    const bool c = fabsf(n) > 126.0f;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         0x1.ffffecp-1f * b);
    if (!c) return fmaf(j, k, k);
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = u2f(g + 0x7f000000u);
    const float s2 = u2f(e - g);
    if (fabsf(n) > 192.0f) return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

/* horizontal sum of 8 lanes as _mm256 -> (hi + lo) -> movehl -> movehdup */
static inline float hsum8_tree(const float *v) {
    const float t0 = v[4] + v[0], t1 = v[5] + v[1], t2 = v[6] + v[2], t3 = v[7] + v[3];
    return (t0 + t2) + (t1 + t3);
}
/* horizontal sum of 8 lanes as lo + hi -> hadd -> hadd */
static inline float hsum8_hadd(const float *v) {
    const float t0 = v[0] + v[4], t1 = v[1] + v[5], t2 = v[2] + v[6], t3 = v[3] + v[7];
    return (t0 + t1) + (t2 + t3);
}

static float gelu_tab(const uint16_t *table, float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return smelt_fp16_to_fp32(table[smelt_fp32_to_fp16(x)]);
}

static void geglu_scalar(int64_t n, float *g, const float *u, const uint16_t *table) {
    for (int64_t i = 0; i < n; i++) g[i] = gelu_tab(table, g[i]) * u[i];
}

static void swiglu_scalar(int64_t n, float *g, const float *u) {
    int64_t i = 0;
    for (; i + 7 < n; i += 8)
        for (int l = 0; l < 8; l++) g[i + l] = g[i + l] / (1.0f + smelt_expf_approx(0.0f - g[i + l])) * u[i + l];
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static double softmax_scalar(int64_t n, float *y, const float *x, float max) {
    int64_t i = 0;
    double sum = 0;
    for (; i + 7 < n; i += 8) {
        for (int l = 0; l < 8; l++) y[i + l] = smelt_expf_approx(x[i + l] - max);
        sum += (double)hsum8_tree(y + i);
    }
    for (; i < n; i++) {
        y[i] = expf(x[i] - max);
        sum += (double)y[i];
    }
    return sum;
}

static float dot_f16_scalar(int64_t n, const uint16_t *x, const uint16_t *y, enum smelt_dot_order order) {
    float acc[32] = {0};
    int64_t i = 0;
    if (order == SMELT_ORDER_SGEMM) {
        for (; i + 7 < n; i += 8)
            for (int l = 0; l < 8; l++) acc[l] = fmaf(smelt_fp16_to_fp32(x[i + l]), smelt_fp16_to_fp32(y[i + l]), acc[l]);
        double s = hsum8_tree(acc);
        for (; i < n; i++) s += (double)(smelt_fp16_to_fp32(x[i]) * smelt_fp16_to_fp32(y[i]));
        return (float)s;
    }
    for (; i + 31 < n; i += 32)
        for (int l = 0; l < 32; l++) acc[l] = fmaf(smelt_fp16_to_fp32(x[i + l]), smelt_fp16_to_fp32(y[i + l]), acc[l]);
    for (int l = 0; l < 8; l++) {
        acc[l] += acc[16 + l];
        acc[8 + l] += acc[24 + l];
        acc[l] += acc[8 + l];
    }
    double s = hsum8_hadd(acc);
    for (; i < n; i++) s += (double)(smelt_fp16_to_fp32(x[i]) * smelt_fp16_to_fp32(y[i]));
    return (float)s;
}

static float dot_f32_scalar(int64_t n, const float *x, const float *y, enum smelt_dot_order order) {
    float acc[32] = {0};
    int64_t i = 0;
    if (order == SMELT_ORDER_SGEMM) {
        for (; i + 7 < n; i += 8)
            for (int l = 0; l < 8; l++) acc[l] = fmaf(x[i + l], y[i + l], acc[l]);
        float s = hsum8_tree(acc);
        for (; i < n; i++) s = fmaf(x[i], y[i], s);
        return s;
    }
    for (; i + 31 < n; i += 32)
        for (int l = 0; l < 32; l++) acc[l] = fmaf(x[i + l], y[i + l], acc[l]);
    for (int l = 0; l < 8; l++) {
        acc[l] += acc[16 + l];
        acc[8 + l] += acc[24 + l];
        acc[l] += acc[8 + l];
    }
    float s = hsum8_hadd(acc);
    /* ggml's float leftover loop, FMA-contracted by its compiler */
    for (; i < n; i++) s = fmaf(x[i], y[i], s);
    return s;
}

static void attn_v_scalar(int64_t n_cells, const float *p, const uint16_t *V, const int32_t *rows, int64_t stride,
                          int64_t hd, float *out, float *acc, enum smelt_dot_order order) {
    /* the row is implicitly zero-padded to a whole number of lane groups (as
     * llama.cpp's KV rows are), so every cell goes to an accumulator */
    const int lanes = order == SMELT_ORDER_SGEMM ? 8 : 32;
    memset(acc, 0, sizeof(float) * (size_t)lanes * (size_t)hd);
    for (int64_t c = 0; c < n_cells; c++) {
        if (p[c] == 0.0f) continue;
        const uint16_t *v = V + (int64_t)rows[c] * stride;
        float *a = acc + (c % lanes) * hd;
        for (int64_t d = 0; d < hd; d++) a[d] = fmaf(smelt_fp16_to_fp32(v[d]), p[c], a[d]);
    }
    for (int64_t d = 0; d < hd; d++) {
        float l8[8];
        if (lanes == 8) {
            for (int l = 0; l < 8; l++) l8[l] = acc[l * hd + d];
            out[d] = hsum8_tree(l8);
        } else {
            for (int l = 0; l < 8; l++) {
                float a0 = acc[l * hd + d], a1 = acc[(8 + l) * hd + d], a2 = acc[(16 + l) * hd + d],
                      a3 = acc[(24 + l) * hd + d];
                a0 += a2;
                a1 += a3;
                l8[l] = a0 + a1;
            }
            out[d] = hsum8_hadd(l8);
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 v_expf(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b =
        _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
    const __m256i c =
        _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(126), _CMP_GT_OQ));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    if (!_mm256_movemask_ps(_mm256_castsi256_ps(c))) return _mm256_fmadd_ps(j, k, k);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256i d =
        _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(192), _CMP_GT_OQ));
    return _mm256_or_ps(
        _mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(_mm256_castsi256_ps(d),
                         _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(c), _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                                      _mm256_andnot_ps(_mm256_castsi256_ps(c), _mm256_fmadd_ps(k, j, k)))));
}

AVX2 static void swiglu_avx2(int64_t n, float *g, const float *u) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1), zero = _mm256_setzero_ps();
    for (; i + 7 < n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, v_expf(_mm256_sub_ps(zero, x))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* the table lookup of 8 lanes: f16 index (F16C, round to nearest even like
 * smelt_fp32_to_fp16), a 32-bit gather of the entry (the table has one spare
 * entry after the last), its low 16 bits widened back to f32 */
AVX2 static void geglu_avx2(int64_t n, float *g, const float *u, const uint16_t *table) {
    int64_t i = 0;
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    for (; i + 7 < n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256i idx = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256i e = _mm256_and_si256(_mm256_i32gather_epi32((const int *)table, idx, 2), _mm256_set1_epi32(0xffff));
        const __m128i h = _mm_packus_epi32(_mm256_castsi256_si128(e), _mm256_extracti128_si256(e, 1));
        __m256 y = _mm256_cvtph_ps(h);
        y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
        y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), y);
        _mm256_storeu_ps(g + i, _mm256_mul_ps(y, _mm256_loadu_ps(u + i)));
    }
    geglu_scalar(n - i, g + i, u + i, table);
}

AVX2 static double softmax_avx2(int64_t n, float *y, const float *x, float max) {
    int64_t i = 0;
    double sum = 0;
    for (; i + 7 < n; i += 8) {
        const __m256 val = v_expf(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(max)));
        _mm256_storeu_ps(y + i, val);
        __m128 v2 = _mm_add_ps(_mm256_extractf128_ps(val, 1), _mm256_castps256_ps128(val));
        v2 = _mm_add_ps(v2, _mm_movehl_ps(v2, v2));
        v2 = _mm_add_ss(v2, _mm_movehdup_ps(v2));
        sum += (double)_mm_cvtss_f32(v2);
    }
    for (; i < n; i++) {
        y[i] = expf(x[i] - max);
        sum += (double)y[i];
    }
    return sum;
}

AVX2 static inline float hsum_tree_avx(__m256 x) {
    __m128 v = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}
AVX2 static inline float hsum_hadd_avx(__m256 x) {
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}
AVX2 static inline __m256 ld16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

AVX2 static float dot_f16_avx2(int64_t n, const uint16_t *x, const uint16_t *y, enum smelt_dot_order order) {
    int64_t i = 0;
    double s;
    if (order == SMELT_ORDER_SGEMM) {
        __m256 acc = _mm256_setzero_ps();
        for (; i + 7 < n; i += 8) acc = _mm256_fmadd_ps(ld16(x + i), ld16(y + i), acc);
        s = hsum_tree_avx(acc);
    } else {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (; i + 31 < n; i += 32) {
            a0 = _mm256_fmadd_ps(ld16(x + i), ld16(y + i), a0);
            a1 = _mm256_fmadd_ps(ld16(x + i + 8), ld16(y + i + 8), a1);
            a2 = _mm256_fmadd_ps(ld16(x + i + 16), ld16(y + i + 16), a2);
            a3 = _mm256_fmadd_ps(ld16(x + i + 24), ld16(y + i + 24), a3);
        }
        a0 = _mm256_add_ps(a0, a2);
        a1 = _mm256_add_ps(a1, a3);
        a0 = _mm256_add_ps(a0, a1);
        s = hsum_hadd_avx(a0);
    }
    for (; i < n; i++) s += (double)(smelt_fp16_to_fp32(x[i]) * smelt_fp16_to_fp32(y[i]));
    return (float)s;
}

AVX2 static float dot_f32_avx2(int64_t n, const float *x, const float *y, enum smelt_dot_order order) {
    int64_t i = 0;
    float s;
    if (order == SMELT_ORDER_SGEMM) {
        __m256 acc = _mm256_setzero_ps();
        for (; i + 7 < n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc);
        s = hsum_tree_avx(acc);
    } else {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (; i + 31 < n; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
        }
        a0 = _mm256_add_ps(a0, a2);
        a1 = _mm256_add_ps(a1, a3);
        s = hsum_hadd_avx(_mm256_add_ps(a0, a1));
    }
    for (; i < n; i++) s = fmaf(x[i], y[i], s);
    return s;
}

AVX2 static void attn_v_avx2(int64_t n_cells, const float *p, const uint16_t *V, const int32_t *rows, int64_t stride, int64_t hd, float *out,
                             float *acc, enum smelt_dot_order order) {
    if (hd % 8) {
        attn_v_scalar(n_cells, p, V, rows, stride, hd, out, acc, order);
        return;
    }
    const int lanes = order == SMELT_ORDER_SGEMM ? 8 : 32;
    memset(acc, 0, sizeof(float) * (size_t)lanes * (size_t)hd);
    for (int64_t c = 0; c < n_cells; c++) {
        if (p[c] == 0.0f) continue;
        const uint16_t *v = V + (int64_t)rows[c] * stride;
        float *a = acc + (c % lanes) * hd;
        const __m256 pc = _mm256_set1_ps(p[c]);
        for (int64_t d = 0; d < hd; d += 8)
            _mm256_storeu_ps(a + d, _mm256_fmadd_ps(ld16(v + d), pc, _mm256_loadu_ps(a + d)));
    }
    for (int64_t d = 0; d < hd; d += 8) {
        __m256 l[8];
        if (lanes == 8) {
            for (int k = 0; k < 8; k++) l[k] = _mm256_loadu_ps(acc + k * hd + d);
            /* tree over lanes: (l4 + l0, ...) then (t0 + t2), (t1 + t3), then sum */
            const __m256 t0 = _mm256_add_ps(l[4], l[0]), t1 = _mm256_add_ps(l[5], l[1]), t2 = _mm256_add_ps(l[6], l[2]),
                         t3 = _mm256_add_ps(l[7], l[3]);
            _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(t0, t2), _mm256_add_ps(t1, t3)));
        } else {
            for (int k = 0; k < 8; k++) {
                __m256 a0 = _mm256_loadu_ps(acc + k * hd + d), a1 = _mm256_loadu_ps(acc + (8 + k) * hd + d),
                       a2 = _mm256_loadu_ps(acc + (16 + k) * hd + d), a3 = _mm256_loadu_ps(acc + (24 + k) * hd + d);
                a0 = _mm256_add_ps(a0, a2);
                a1 = _mm256_add_ps(a1, a3);
                l[k] = _mm256_add_ps(a0, a1);
            }
            const __m256 t0 = _mm256_add_ps(l[0], l[4]), t1 = _mm256_add_ps(l[1], l[5]), t2 = _mm256_add_ps(l[2], l[6]),
                         t3 = _mm256_add_ps(l[3], l[7]);
            _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(t0, t1), _mm256_add_ps(t2, t3)));
        }
    }
}
#endif

double smelt_sumsq_f64_lanes_ref(const float *x, int64_t n) {
    double l[8] = {0};
    const int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i++) l[i % 8] += (double)(x[i] * x[i]);
    for (int64_t i = n8; i < n; i++) l[i - n8] += (double)(x[i] * x[i]);
    const double a = l[0] + l[4], b = l[1] + l[5], c = l[2] + l[6], d = l[3] + l[7];
    return (a + c) + (b + d);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double sumsq_avx512(const float *x, int64_t n) {
    __m512d acc = _mm512_setzero_pd();
    const int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_mul_ps(v, v)));
    }
    double l[8];
    _mm512_storeu_pd(l, acc);
    for (int64_t i = n8; i < n; i++) l[i - n8] += (double)(x[i] * x[i]);
    const double a = l[0] + l[4], b = l[1] + l[5], c = l[2] + l[6], d = l[3] + l[7];
    return (a + c) + (b + d);
}
#endif

double smelt_sumsq_f64(const float *x, int64_t n, bool lanes) {
    if (lanes) {
#if defined(__x86_64__)
        if (smelt_kernels_active_isa() >= SMELT_ISA_AVX512) return sumsq_avx512(x, n);
#endif
        return smelt_sumsq_f64_lanes_ref(x, n);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    return sum;
}

static bool use_avx2(void) {
#if defined(__x86_64__)
    return smelt_kernels_active_isa() >= SMELT_ISA_AVX2;
#else
    return false;
#endif
}

void smelt_swiglu_f32(int64_t n, float *g, const float *u) {
#if defined(__x86_64__)
    if (use_avx2()) return swiglu_avx2(n, g, u);
#endif
    swiglu_scalar(n, g, u);
}

void smelt_geglu_f16(int64_t n, float *g, const float *u, const uint16_t *table) {
#if defined(__x86_64__)
    if (use_avx2()) return geglu_avx2(n, g, u, table);
#endif
    geglu_scalar(n, g, u, table);
}

double smelt_softmax_exp_f32(int64_t n, float *y, const float *x, float max) {
#if defined(__x86_64__)
    if (use_avx2()) return softmax_avx2(n, y, x, max);
#endif
    return softmax_scalar(n, y, x, max);
}

float smelt_dot_f16_order(int64_t n, const uint16_t *x, const uint16_t *y, enum smelt_dot_order order) {
#if defined(__x86_64__)
    if (use_avx2()) return dot_f16_avx2(n, x, y, order);
#endif
    return dot_f16_scalar(n, x, y, order);
}

float smelt_dot_f32_order(int64_t n, const float *x, const float *y, enum smelt_dot_order order) {
#if defined(__x86_64__)
    if (use_avx2()) return dot_f32_avx2(n, x, y, order);
#endif
    return dot_f32_scalar(n, x, y, order);
}

void smelt_attn_v_order(int64_t n_cells, const float *p, const uint16_t *V, const int32_t *rows, int64_t stride, int64_t hd, float *out,
                        float *acc, enum smelt_dot_order order) {
#if defined(__x86_64__)
    if (use_avx2()) return attn_v_avx2(n_cells, p, V, rows, stride, hd, out, acc, order);
#endif
    attn_v_scalar(n_cells, p, V, rows, stride, hd, out, acc, order);
}

/* ---- repacked-weight orders (references; avx2_r8.c has the tiles) ---- */

float smelt_dot_q4_0_r8_ref(int64_t n, const void *w, const void *x) {
    const smelt_block_q4_0 *a = w;
    const smelt_block_q8_0 *b = x;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK4_0; i++) {
        int32_t isum = 0;
        for (int j = 0; j < SMELT_QK4_0 / 2; j++)
            isum += ((a[i].qs[j] & 15) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        acc = fmaf((float)isum, smelt_fp16_to_fp32(a[i].d) * smelt_fp16_to_fp32(b[i].d), acc);
    }
    return acc;
}

/* the 6-bit scale and min of sub-block j of a Q4_K block */
static void q4_k_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

float smelt_dot_q4_k_r8_ref(int64_t n, const void *w, const void *x, enum smelt_r8_kernel kernel) {
    const smelt_block_q4_k *a = w;
    const smelt_block_q8_k *b = x;
    float acc = 0.0f, accm = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        const float d = smelt_fp16_to_fp32(a[i].d) * b[i].d, dm = smelt_fp16_to_fp32(a[i].dmin) * b[i].d;
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) { /* sub-block j: 32 quants, nibbles of bytes 32*(j/2).. (low for even j) */
            int sc, m, dot = 0;
            q4_k_scale_min(j, a[i].scales, &sc, &m);
            for (int l = 0; l < 32; l++) {
                const uint8_t q = a[i].qs[32 * (j / 2) + l];
                dot += ((j & 1) ? q >> 4 : q & 15) * b[i].qs[32 * j + l];
            }
            isum += sc * dot;
            imin += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
            if (kernel == SMELT_R8_GEMM && (j & 1)) { /* one FMA per pair of sub-blocks */
                acc = fmaf((float)isum, d, acc);
                accm = fmaf((float)imin, dm, accm);
                isum = imin = 0;
            }
        }
        if (kernel == SMELT_R8_GEMV) {
            acc = fmaf((float)isum, d, acc);
            accm = fmaf((float)imin, dm, accm);
        } else if (kernel == SMELT_R8_TILED) {
            const float res = fmaf(-smelt_fp16_to_fp32(a[i].dmin), (float)imin, smelt_fp16_to_fp32(a[i].d) * (float)isum);
            acc = fmaf(res, b[i].d, acc);
        }
    }
    return acc - accm;
}

float smelt_dot_q5_k_tiled_ref(int64_t n, const void *w, const void *x) {
    const smelt_block_q5_k *a = w;
    const smelt_block_q8_k *b = x;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) { /* sub-block j: nibbles as Q4_K, bit 4 = bit j of qh[l] */
            int sc, m, dot = 0;
            q4_k_scale_min(j, a[i].scales, &sc, &m);
            for (int l = 0; l < 32; l++) {
                const uint8_t q = a[i].qs[32 * (j / 2) + l];
                const int v = ((j & 1) ? q >> 4 : q & 15) | (((a[i].qh[l] >> j) & 1) << 4);
                dot += v * b[i].qs[32 * j + l];
            }
            isum += sc * dot;
            imin += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        const float res = fmaf(-smelt_fp16_to_fp32(a[i].dmin), (float)imin, smelt_fp16_to_fp32(a[i].d) * (float)isum);
        acc = fmaf(res, b[i].d, acc);
    }
    return acc;
}

float smelt_dot_q6_k_tiled_ref(int64_t n, const void *w, const void *x) {
    const smelt_block_q6_k *a = w;
    const smelt_block_q8_k *b = x;
    float acc = 0.0f;
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) /* 128-element halves: 4 groups of 32 from ql nibbles and qh bit pairs */
            for (int l = 0; l < 32; l++) {
                const uint8_t lo = a[i].ql[64 * h + l], hi = a[i].ql[64 * h + l + 32], qh = a[i].qh[32 * h + l];
                const int q[4] = {(lo & 15) | ((qh & 3) << 4), (hi & 15) | (((qh >> 2) & 3) << 4),
                                  (lo >> 4) | (((qh >> 4) & 3) << 4), (hi >> 4) | (((qh >> 6) & 3) << 4)};
                for (int g = 0; g < 4; g++) {
                    const int e = 128 * h + 32 * g + l; /* element; its scale covers 16 elements */
                    isum += a[i].scales[e / 16] * (q[g] - 32) * b[i].qs[e];
                }
            }
        acc = fmaf(smelt_fp16_to_fp32(a[i].d) * (float)isum, b[i].d, acc);
    }
    return acc;
}
