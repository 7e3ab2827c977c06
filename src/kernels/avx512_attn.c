/* AVX-512 batched attention rows (attn.h): scores of up to 4 query heads x 64
 * cells per pass over the transposed keys, vectorized exp, V sum with the
 * probabilities broadcast. Bit-level agreement with smelt_attn_rows_ref is not
 * expected (summation order, exp polynomial); tests/kernels bound the error. */
#include <math.h>
#include <string.h>

#include "kernels/attn.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")

#define AI static inline __attribute__((always_inline))

/* e^x for x <= 0 (Cephes expf reduction and polynomial, scaled by 2^n with vscalefps) */
AI __m512 exp512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

AI __mmask16 vis_mask(const int32_t *cpos, int32_t p, int32_t win) {
    const __m512i cp = _mm512_loadu_si512(cpos);
    __mmask16 m = _mm512_cmple_epi32_mask(cp, _mm512_set1_epi32(p));
    if (win) m &= _mm512_cmplt_epi32_mask(_mm512_sub_epi32(_mm512_set1_epi32(p), cp), _mm512_set1_epi32(win));
    return m;
}

/* scores of GC heads for the 64-cell stretches of [0, npad) that have a visible
 * cell; returns the per-head maxima in mx and the range [*lo, *hi) of those
 * stretches (scores outside it are not written) */
AI void scores(const int GC, int64_t hd, const float *q, int64_t qs, const float *kt, int64_t ld,
               const int32_t *cpos, int64_t npad, int32_t p, int32_t win, float scale, float *sc, float *mx,
               int64_t *lo, int64_t *hi) {
    *lo = npad;
    *hi = 0;
    const __m512 ninf = _mm512_set1_ps(-INFINITY), vs = _mm512_set1_ps(scale);
    __m512 vmax[4];
    for (int g = 0; g < GC; g++) vmax[g] = ninf;
    for (int64_t j = 0; j < npad; j += 64) {
        __mmask16 m[4];
        int any = 0;
        for (int b = 0; b < 4; b++) any |= (m[b] = vis_mask(cpos + j + 16 * b, p, win));
        if (!any) {
            for (int g = 0; g < GC; g++)
                for (int b = 0; b < 4; b++) _mm512_storeu_ps(sc + g * ld + j + 16 * b, ninf);
            continue;
        }
        if (*lo > j) *lo = j;
        *hi = j + 64;
        __m512 acc[4][4];
        for (int g = 0; g < GC; g++)
            for (int b = 0; b < 4; b++) acc[g][b] = _mm512_setzero_ps();
        for (int64_t d = 0; d < hd; d++) {
            const float *kr = kt + d * ld + j;
            const __m512 k0 = _mm512_loadu_ps(kr), k1 = _mm512_loadu_ps(kr + 16), k2 = _mm512_loadu_ps(kr + 32),
                         k3 = _mm512_loadu_ps(kr + 48);
            for (int g = 0; g < GC; g++) {
                const __m512 qb = _mm512_set1_ps(q[g * qs + d]);
                acc[g][0] = _mm512_fmadd_ps(qb, k0, acc[g][0]);
                acc[g][1] = _mm512_fmadd_ps(qb, k1, acc[g][1]);
                acc[g][2] = _mm512_fmadd_ps(qb, k2, acc[g][2]);
                acc[g][3] = _mm512_fmadd_ps(qb, k3, acc[g][3]);
            }
        }
        for (int g = 0; g < GC; g++)
            for (int b = 0; b < 4; b++) {
                const __m512 s = _mm512_mask_mul_ps(ninf, m[b], acc[g][b], vs);
                vmax[g] = _mm512_max_ps(vmax[g], s);
                _mm512_storeu_ps(sc + g * ld + j + 16 * b, s);
            }
    }
    for (int g = 0; g < GC; g++) mx[g] = _mm512_reduce_max_ps(vmax[g]);
}

/* V sum of GC heads over the stretches with a visible cell */
AI void vsum(const int GC, int64_t hd, const float *vf, const int32_t *cpos, int64_t lo, int64_t hi, int32_t p,
             int32_t win, const float *sc, int64_t ld, float *o, int64_t os) {
    for (int64_t dc = 0; dc < hd; dc += 64) {
        __m512 acc[4][4];
        for (int g = 0; g < GC; g++)
            for (int k = 0; k < 4; k++) acc[g][k] = _mm512_setzero_ps();
        for (int64_t j0 = lo; j0 < hi; j0 += 64) {
            int any = 0;
            for (int b = 0; b < 4; b++) any |= vis_mask(cpos + j0 + 16 * b, p, win);
            if (!any) continue;
            for (int64_t j = j0; j < j0 + 64; j++) {
                const float *vr = vf + j * hd + dc;
                const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16), v2 = _mm512_loadu_ps(vr + 32),
                             v3 = _mm512_loadu_ps(vr + 48);
                for (int g = 0; g < GC; g++) {
                    const __m512 pb = _mm512_set1_ps(sc[g * ld + j]);
                    acc[g][0] = _mm512_fmadd_ps(pb, v0, acc[g][0]);
                    acc[g][1] = _mm512_fmadd_ps(pb, v1, acc[g][1]);
                    acc[g][2] = _mm512_fmadd_ps(pb, v2, acc[g][2]);
                    acc[g][3] = _mm512_fmadd_ps(pb, v3, acc[g][3]);
                }
            }
        }
        for (int g = 0; g < GC; g++)
            for (int k = 0; k < 4; k++) _mm512_storeu_ps(o + g * os + dc + 16 * k, acc[g][k]);
    }
}

AI void heads(const int GC, int64_t hd, const float *q, int64_t qs, const float *kt, int64_t ld, const float *vf,
              const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc, float *o, int64_t os) {
    const int64_t npad = (nc + 63) & ~(int64_t)63;
    float mx[4];
    int64_t lo, hi;
    scores(GC, hd, q, qs, kt, ld, cpos, npad, p, win, scale, sc, mx, &lo, &hi);
    for (int g = 0; g < GC; g++) {
        float *s = sc + g * ld;
        if (mx[g] == -INFINITY) { /* no finite score: zero probabilities */
            for (int64_t j = lo; j < hi; j += 16) _mm512_storeu_ps(s + j, _mm512_setzero_ps());
            continue;
        }
        const __m512 vm = _mm512_set1_ps(mx[g]);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t j = lo; j < hi; j += 16) {
            const __m512 v = _mm512_loadu_ps(s + j);
            const __mmask16 live = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
            const __m512 e = _mm512_maskz_mov_ps(live, exp512(_mm512_sub_ps(v, vm)));
            sum = _mm512_add_ps(sum, e);
            _mm512_storeu_ps(s + j, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        for (int64_t j = lo; j < hi; j += 16) {
            const __m512 pr = _mm512_mul_ps(_mm512_loadu_ps(s + j), inv);
            _mm512_storeu_ps(s + j, _mm512_cvtph_ps(_mm512_cvtps_ph(pr, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
        }
    }
    vsum(GC, hd, vf, cpos, lo, hi, p, win, sc, ld, o, os);
}

void smelt_attn_rows(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                     const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc,
                     float *o, int64_t o_stride) {
    for (int g0 = 0; g0 < G; g0 += 4) {
        const float *qg = q + g0 * q_stride;
        float *og = o + g0 * o_stride;
        switch (G - g0 < 4 ? G - g0 : 4) {
        case 1: heads(1, hd, qg, q_stride, kt, ld, vf, cpos, nc, p, win, scale, sc, og, o_stride); break;
        case 2: heads(2, hd, qg, q_stride, kt, ld, vf, cpos, nc, p, win, scale, sc, og, o_stride); break;
        case 3: heads(3, hd, qg, q_stride, kt, ld, vf, cpos, nc, p, win, scale, sc, og, o_stride); break;
        default: heads(4, hd, qg, q_stride, kt, ld, vf, cpos, nc, p, win, scale, sc, og, o_stride); break;
        }
    }
}

#pragma GCC pop_options

#else
void smelt_attn_rows(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                     const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc,
                     float *o, int64_t o_stride) {
    smelt_attn_rows_ref(G, hd, q, q_stride, kt, ld, vf, cpos, nc, p, win, scale, sc, o, o_stride);
}
#endif
