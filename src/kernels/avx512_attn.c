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

/* Where a KV head's keys and values come from: gathered f32 copies (kt, vf
 * with stride ld) or, with F16 set, the cache itself (kh: tiled keys, block
 * stride hd*64; vh: value rows with stride kd). Both give the same floats. */
struct kvsrc {
    const float *kt, *vf;
    const uint16_t *kh, *vh;
    int64_t ld, kd;
};

/* cells j..j+15 that exist (j + i < nc) and are visible from position p */
AI __mmask16 vis_mask(const int32_t *cpos, int64_t j, int64_t nc, int32_t p, int32_t win) {
    const __mmask16 live = nc - j >= 16 ? (__mmask16)0xffff : nc - j <= 0 ? 0 : (__mmask16)((1u << (nc - j)) - 1);
    const __m512i cp = _mm512_maskz_loadu_epi32(live, cpos + j);
    __mmask16 m = _mm512_mask_cmple_epi32_mask(live, cp, _mm512_set1_epi32(p));
    if (win) m &= _mm512_cmplt_epi32_mask(_mm512_sub_epi32(_mm512_set1_epi32(p), cp), _mm512_set1_epi32(win));
    return m;
}

/* dimension d of the keys of cells j..j+63 (j a multiple of 64) */
AI void load_k64(const int F16, const struct kvsrc *s, int64_t hd, int64_t d, int64_t j, __m512 k[4]) {
    if (F16) {
        const uint16_t *kr = s->kh + (j / 64 * hd + d) * 64;
        for (int b = 0; b < 4; b++) k[b] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + 16 * b)));
    } else {
        const float *kr = s->kt + d * s->ld + j;
        for (int b = 0; b < 4; b++) k[b] = _mm512_loadu_ps(kr + 16 * b);
    }
}

/* dimensions dc..dc+63 of the value of cell j */
AI void load_v64(const int F16, const struct kvsrc *s, int64_t hd, int64_t j, int64_t dc, __m512 v[4]) {
    if (F16) {
        const uint16_t *vr = s->vh + j * s->kd + dc;
        for (int b = 0; b < 4; b++) v[b] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 16 * b)));
    } else {
        const float *vr = s->vf + j * hd + dc;
        for (int b = 0; b < 4; b++) v[b] = _mm512_loadu_ps(vr + 16 * b);
    }
}

/* the q.k sums of GC heads for the first NB 16-cell groups of the stretch at j */
AI void dots(const int GC, const int NB, const int F16, int64_t hd, const float *q, int64_t qs,
             const struct kvsrc *src, int64_t j, __m512 acc[4][4]) {
    for (int64_t d = 0; d < hd; d++) {
        __m512 k[4];
        load_k64(F16, src, hd, d, j, k); /* the unused loads are dropped by the compiler */
        for (int g = 0; g < GC; g++) {
            const __m512 qb = _mm512_set1_ps(q[g * qs + d]);
            for (int b = 0; b < NB; b++) acc[g][b] = _mm512_fmadd_ps(qb, k[b], acc[g][b]);
        }
    }
}

/* scores of GC heads for the 64-cell stretches of [0, npad) that have a visible
 * cell; returns the per-head maxima in mx and the range [*lo, *hi) of those
 * stretches (scores outside it are not written) */
AI void scores(const int GC, const int F16, int64_t hd, const float *q, int64_t qs, const struct kvsrc *src,
               const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc, int64_t ld,
               float *mx, int64_t *lo, int64_t *hi) {
    const int64_t npad = (nc + 63) & ~(int64_t)63;
    *lo = npad;
    *hi = 0;
    const __m512 ninf = _mm512_set1_ps(-INFINITY), vs = _mm512_set1_ps(scale);
    __m512 vmax[4];
    for (int g = 0; g < GC; g++) vmax[g] = ninf;
    for (int64_t j = 0; j < npad; j += 64) {
        __mmask16 m[4];
        int any = 0;
        for (int b = 0; b < 4; b++) any |= (m[b] = vis_mask(cpos, j + 16 * b, nc, p, win));
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
        /* 16-cell groups after the last visible one (the causal diagonal) are left out */
        const int nb = m[3] ? 4 : m[2] ? 3 : m[1] ? 2 : 1;
        switch (nb) {
        case 1: dots(GC, 1, F16, hd, q, qs, src, j, acc); break;
        case 2: dots(GC, 2, F16, hd, q, qs, src, j, acc); break;
        case 3: dots(GC, 3, F16, hd, q, qs, src, j, acc); break;
        default: dots(GC, 4, F16, hd, q, qs, src, j, acc); break;
        }
        /* masked lanes (invisible, or past nc where the cache holds anything) become -inf */
        for (int g = 0; g < GC; g++)
            for (int b = 0; b < 4; b++) {
                const __m512 s = _mm512_mask_mul_ps(ninf, m[b], acc[g][b], vs);
                vmax[g] = _mm512_max_ps(vmax[g], s);
                _mm512_storeu_ps(sc + g * ld + j + 16 * b, s);
            }
    }
    for (int g = 0; g < GC; g++) mx[g] = _mm512_reduce_max_ps(vmax[g]);
}

/* V sum of GC heads over the stretches with a visible cell; cells after a
 * stretch's last visible one (or past nc) have probability 0 and are skipped
 * (adding their zero terms would not change a sum that starts at +0) */
AI void vsum(const int GC, const int F16, int64_t hd, const struct kvsrc *src, const int32_t *cpos, int64_t nc,
             int64_t lo, int64_t hi, int32_t p, int32_t win, const float *sc, int64_t ld, float *o, int64_t os) {
    for (int64_t dc = 0; dc < hd; dc += 64) {
        __m512 acc[4][4];
        for (int g = 0; g < GC; g++)
            for (int k = 0; k < 4; k++) acc[g][k] = _mm512_setzero_ps();
        for (int64_t j0 = lo; j0 < hi; j0 += 64) {
            /* up to the stretch's last visible cell: the rest have probability 0 */
            int64_t je = j0;
            for (int b = 0; b < 4; b++) {
                const uint32_t m = vis_mask(cpos, j0 + 16 * b, nc, p, win);
                if (m) je = j0 + 16 * b + 32 - __builtin_clz(m);
            }
            if (je == j0) continue;
            for (int64_t j = j0; j < je; j++) {
                __m512 v[4];
                load_v64(F16, src, hd, j, dc, v);
                for (int g = 0; g < GC; g++) {
                    const __m512 pb = _mm512_set1_ps(sc[g * ld + j]);
                    for (int k = 0; k < 4; k++) acc[g][k] = _mm512_fmadd_ps(pb, v[k], acc[g][k]);
                }
            }
        }
        for (int g = 0; g < GC; g++)
            for (int k = 0; k < 4; k++) _mm512_storeu_ps(o + g * os + dc + 16 * k, acc[g][k]);
    }
}

AI void heads(const int GC, const int F16, int64_t hd, const float *q, int64_t qs, const struct kvsrc *src,
              const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc, int64_t ld, float *o,
              int64_t os) {
    float mx[4];
    int64_t lo, hi;
    scores(GC, F16, hd, q, qs, src, cpos, nc, p, win, scale, sc, ld, mx, &lo, &hi);
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
    vsum(GC, F16, hd, src, cpos, nc, lo, hi, p, win, sc, ld, o, os);
}

/* query heads in groups of up to 4 sharing each pass over the keys */
AI void rows(const int F16, int G, int64_t hd, const float *q, int64_t q_stride, const struct kvsrc *src,
             const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc, int64_t ld, float *o,
             int64_t o_stride) {
    for (int g0 = 0; g0 < G; g0 += 4) {
        const float *qg = q + g0 * q_stride;
        float *og = o + g0 * o_stride;
        switch (G - g0 < 4 ? G - g0 : 4) {
        case 1: heads(1, F16, hd, qg, q_stride, src, cpos, nc, p, win, scale, sc, ld, og, o_stride); break;
        case 2: heads(2, F16, hd, qg, q_stride, src, cpos, nc, p, win, scale, sc, ld, og, o_stride); break;
        case 3: heads(3, F16, hd, qg, q_stride, src, cpos, nc, p, win, scale, sc, ld, og, o_stride); break;
        default: heads(4, F16, hd, qg, q_stride, src, cpos, nc, p, win, scale, sc, ld, og, o_stride); break;
        }
    }
}

void smelt_attn_rows(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                     const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc,
                     float *o, int64_t o_stride) {
    const struct kvsrc src = {.kt = kt, .vf = vf, .ld = ld};
    rows(0, G, hd, q, q_stride, &src, cpos, nc, p, win, scale, sc, ld, o, o_stride);
}

void smelt_attn_rows_cache(int G, int64_t hd, const float *q, int64_t q_stride, const uint16_t *kh,
                           const uint16_t *vh, int64_t kd, const int32_t *cpos, int64_t nc, int32_t p, int32_t win,
                           float scale, float *sc, int64_t ld, float *o, int64_t o_stride) {
    const struct kvsrc src = {.kh = kh, .vh = vh, .kd = kd};
    rows(1, G, hd, q, q_stride, &src, cpos, nc, p, win, scale, sc, ld, o, o_stride);
}

#pragma GCC pop_options

#else
void smelt_attn_rows(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                     const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc,
                     float *o, int64_t o_stride) {
    smelt_attn_rows_ref(G, hd, q, q_stride, kt, ld, vf, cpos, nc, p, win, scale, sc, o, o_stride);
}
void smelt_attn_rows_cache(int G, int64_t hd, const float *q, int64_t q_stride, const uint16_t *kh,
                           const uint16_t *vh, int64_t kd, const int32_t *cpos, int64_t nc, int32_t p, int32_t win,
                           float scale, float *sc, int64_t ld, float *o, int64_t o_stride) {
    smelt_attn_rows_cache_ref(G, hd, q, q_stride, kh, vh, kd, cpos, nc, p, win, scale, sc, ld, o, o_stride);
}
#endif
