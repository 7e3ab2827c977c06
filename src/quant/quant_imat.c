/* Importance-weighted quantizers for `smelt quantize` (contract in
 * quant_imat.h).
 *
 * Every block minimises E = sum_j w_j (x_j - deq_j)^2 with deq computed the
 * way the dequantizer computes it. Three building blocks:
 *
 * 1. Symmetric scale sweep (x ~ d * v[q], v a sorted grid of levels: linear
 *    for Q8_0/Q4_0/Q5_0/Q3_K/Q6_K, kvalues_iq4nl for IQ4_NL/IQ4_XS). With the
 *    inverse scale s = 1/d, the nearest level of x_j*s only changes where x_j*s
 *    crosses a midpoint between two levels. Sorting those crossings inside a
 *    window of s and updating S_xv = sum w x v and S_vv = sum w v^2 at each
 *    one visits every rounding pattern of the window; each pattern's best
 *    error is S_xx - S_xv^2 / S_vv at d = S_xv / S_vv. The best pattern gives
 *    the optimal float scale of the window (both signs of d: the grids are
 *    not symmetric). llama.cpp tries ~20 fixed candidates instead.
 * 2. Affine fit (x ~ a*q + b, q in 0..nmax): many starting scales, each
 *    iterated "round q, refit a and b by weighted least squares" until q stops
 *    changing (Q4_1/Q5_1 blocks, K-quant sub-blocks with b <= 0).
 * 3. Two-level types (K-quants, IQ4_XS): fit each sub-block as above, then
 *    quantize the sub-block scales (and mins) onto their 4/6/8-bit integer
 *    grids with the symmetric sweep, weighting each by the curvature of its
 *    sub-block's error (sum w v^2, sum w), which picks the fp16 super-block
 *    scale. Then, unlike llama.cpp, every sub-block re-chooses its integer
 *    scale (and min) among the neighbours of the rounded value by the true
 *    error after re-rounding its quants, and the super-block scales are refit
 *    by least squares over the whole super-block; a few rounds, keeping the
 *    best.
 * Stored fp16 scales are always chosen among the neighbours of the rounded
 * value by the true error, with the quants re-rounded against the fp16 value.
 *
 * All sums are in double; nothing depends on FMA contraction or threads, so
 * the bytes are the same on any x86-64.
 */
#include "quant/quant_imat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* baseline on x86-64; the same IEEE results as the scalar code */
#endif

#include "quant/quant.h"
#include "quant/quant_blocks.h"
#include "quant/quant_ref.h"

#define QK SMELT_QK_K
#define FP16(h) smelt_fp16_to_fp32(h)

/* ---- grids of quant levels ---- */

#define GRID_MAX 256

typedef struct {
    int n;           /* number of levels */
    bool linear;     /* v[k] = lo + k */
    int lo;
    float v[GRID_MAX]; /* level values, ascending */
    float b[GRID_MAX]; /* b[k]: midpoint of v[k] and v[k+1] */
} qgrid;

static void grid_linear(qgrid *g, int lo, int hi) {
    g->n = hi - lo + 1;
    g->linear = true;
    g->lo = lo;
    for (int k = 0; k < g->n; k++) g->v[k] = (float)(lo + k);
    for (int k = 0; k + 1 < g->n; k++) g->b[k] = (float)(lo + k) + 0.5f;
}

static void grid_iq4(qgrid *g) {
    g->n = 16;
    g->linear = false;
    g->lo = 0;
    for (int k = 0; k < 16; k++) g->v[k] = smelt_kvalues_iq4nl[k];
    for (int k = 0; k < 15; k++) g->b[k] = 0.5f * (g->v[k] + g->v[k + 1]);
}

/* Index of the level nearest to y. */
static inline int grid_idx(const qgrid *g, float y) {
    if (!(y > g->v[0])) return 0;
    if (y >= g->v[g->n - 1]) return g->n - 1;
    if (g->linear) {
        const int k = (int)(y - (float)g->lo + 0.5f); /* > 0: truncation is floor */
        return k < 0 ? 0 : k >= g->n ? g->n - 1 : k;
    }
    int lo = 0, hi = g->n - 1;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (g->b[mid] < y) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* ---- per-element terms (SSE2 where available, same results as scalar) ---- */

/* t[j] = w[j] * (x[j] - y[j])^2 in double, y[j] a float. */
static inline double sq_term(float x, float y, float w) {
    const double dx = (double)x - (double)y;
    return w * dx * dx;
}

#if defined(__SSE2__)
static inline void sq_terms4(const float *x, __m128 y, const float *w, double *t) {
    const __m128 xv = _mm_loadu_ps(x), wv = _mm_loadu_ps(w);
    const __m128d dl = _mm_sub_pd(_mm_cvtps_pd(xv), _mm_cvtps_pd(y));
    const __m128d dh = _mm_sub_pd(_mm_cvtps_pd(_mm_movehl_ps(xv, xv)), _mm_cvtps_pd(_mm_movehl_ps(y, y)));
    _mm_storeu_pd(t, _mm_mul_pd(_mm_mul_pd(_mm_cvtps_pd(wv), dl), dl));
    _mm_storeu_pd(t + 2, _mm_mul_pd(_mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(wv, wv)), dh), dh));
}

/* a ? b : c per 32-bit lane (mask m all ones or zeros). */
static inline __m128i sel_i(__m128i m, __m128i b, __m128i c) {
    return _mm_or_si128(_mm_and_si128(m, b), _mm_andnot_si128(m, c));
}
#endif

/* Nearest q in 0..nmax of t = (x - b) / a, branch-free. */
static inline int affine_round(float t, int nmax) {
    const float fn = (float)nmax;
    float tc = t < fn ? t : fn; /* keeps the conversion in range */
    tc = tc > 0 ? tc : 0;
    int l = (int)(tc + 0.5f);
    l = t >= fn ? nmax : l;
    return t <= 0 ? 0 : l;
}

/* l[j] = affine_round((x[j] - b) * ia, nmax) (0 if !active), and the terms
 * w (x - (a l + b))^2. */
static void affine_terms(const float *x, const float *w, int n, int nmax, bool active, float a, float b, float ia,
                         int *l, double *t) {
    int j = 0;
#if defined(__SSE2__)
    const __m128 fn = _mm_set1_ps((float)nmax), zero = _mm_setzero_ps(), half = _mm_set1_ps(0.5f);
    const __m128 av = _mm_set1_ps(a), bv = _mm_set1_ps(b), iav = _mm_set1_ps(ia);
    const __m128i nm = _mm_set1_epi32(nmax), act = _mm_set1_epi32(active ? -1 : 0);
    for (; j + 4 <= n; j += 4) {
        const __m128 tt = _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(x + j), bv), iav);
        const __m128 tc = _mm_max_ps(_mm_min_ps(tt, fn), zero);
        __m128i li = _mm_cvttps_epi32(_mm_add_ps(tc, half));
        li = sel_i(_mm_castps_si128(_mm_cmpge_ps(tt, fn)), nm, li);
        li = _mm_andnot_si128(_mm_castps_si128(_mm_cmple_ps(tt, zero)), li);
        li = _mm_and_si128(li, act);
        _mm_storeu_si128((__m128i *)(l + j), li);
        sq_terms4(x + j, _mm_add_ps(_mm_mul_ps(av, _mm_cvtepi32_ps(li)), bv), w + j, t + j);
    }
#endif
    for (; j < n; j++) {
        l[j] = active ? affine_round((x[j] - b) * ia, nmax) : 0;
        t[j] = sq_term(x[j], a * (float)l[j] + b, w[j]);
    }
}

/* ---- fp16 helpers ---- */

/* fp16 of f, saturated to the largest finite value. */
static uint16_t to_h(float f) {
    uint16_t h = smelt_fp32_to_fp16(f);
    if ((h & 0x7fff) > 0x7bff) h = (uint16_t)((h & 0x8000) | 0x7bff);
    return h;
}

/* h moved k units in the last place of its magnitude (h itself if that leaves
 * the finite range). */
static uint16_t h_step(uint16_t h, int k) {
    const int m = (h & 0x7fff) + k;
    if (m < 0 || m > 0x7bff) return h;
    return (uint16_t)((h & 0x8000) | m);
}

/* ---- symmetric scale sweep ---- */

#define SWEEP_MAX_N 256

/* Inverse scale at which y*s leaves level k (moving away from 0), INFINITY if never. */
static inline float next_cross(const qgrid *g, float y, int k) {
    if (y > 0) return k + 1 < g->n ? g->b[k] / y : INFINITY;
    if (y < 0 && k > 0) {
        const float s = g->b[k - 1] / y;
        return s > 0 ? s : INFINITY;
    }
    return INFINITY;
}

/* Capacity of the event list of one sweep; a sweep with more crossings
 * falls back to merging the elements' streams with a heap (same order). */
#ifndef SWEEP_MAX_EV
#define SWEEP_MAX_EV 2048
#endif

static inline bool ev_less(float sa, int ja, float sb, int jb) { return sa < sb || (sa == sb && ja < jb); }

/* Min-heap of pending crossings (inverse scale hs, element hj). */
static void heap_down(float *hs, int *hj, int m, int i) {
    for (;;) {
        const int l = 2 * i + 1, r = l + 1;
        int b = i;
        if (l < m && ev_less(hs[l], hj[l], hs[b], hj[b])) b = l;
        if (r < m && ev_less(hs[r], hj[r], hs[b], hj[b])) b = r;
        if (b == i) return;
        const float ts = hs[i];
        const int tj = hj[i];
        hs[i] = hs[b], hj[i] = hj[b], hs[b] = ts, hj[b] = tj;
        i = b;
    }
}

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Sorts the events (key: bits of the positive inverse scale << 32 | element)
 * ascending: a bucket pass on the high bits of the keys (bits of positive
 * floats are ordered like the floats), then insertion sort of the nearly
 * sorted result. */
static void sort_events(uint64_t *ev, uint64_t *tmp, int m, uint32_t bmin, uint32_t bmax) {
    if (m < 2) return;
    int nb = 16;
    while (nb < m && nb < 1024) nb *= 2;
    int shift = 0;
    while (((bmax - bmin) >> shift) >= (uint32_t)nb) shift++;
    uint16_t cnt[1025];
    memset(cnt, 0, (size_t)(nb + 1) * sizeof *cnt);
    for (int i = 0; i < m; i++) cnt[(((uint32_t)(ev[i] >> 32) - bmin) >> shift) + 1]++;
    for (int b = 0; b < nb; b++) cnt[b + 1] = (uint16_t)(cnt[b + 1] + cnt[b]);
    for (int i = 0; i < m; i++) tmp[cnt[((uint32_t)(ev[i] >> 32) - bmin) >> shift]++] = ev[i];
    for (int i = 1; i < m; i++) {
        const uint64_t k = tmp[i];
        int p = i;
        while (p > 0 && tmp[p - 1] > k) tmp[p] = tmp[p - 1], p--;
        tmp[p] = k;
    }
    memcpy(ev, tmp, (size_t)m * sizeof *ev);
}

/* Best t > 0 for y ~ t * v[idx] over inverse scales s = 1/t in [s_lo, s_hi]:
 * returns the gain S_yv^2 / S_vv of the best pattern (error = S_yy - gain),
 * *t_out its least-squares scale; 0 when no pattern has S_yv > 0. The
 * crossings are visited in order of s (ties by element): every element's
 * crossings are listed and sorted (or, past SWEEP_MAX_EV of them, merged from
 * a heap that holds each element's next one). */
static double sweep_one_sign(const float *y, const float *w, int n, const qgrid *g, float s_lo, float s_hi,
                             float *t_out) {
    int idx[SWEEP_MAX_N];
    double wd[SWEEP_MAX_N], wyd[SWEEP_MAX_N];
    double sxv = 0, svv = 0;
    if (!(s_hi <= 3.4028234e38f)) s_hi = 3.4028234e38f; /* never list the "no crossing" INFINITY */
    for (int j = 0; j < n; j++) {
        idx[j] = grid_idx(g, y[j] * s_lo);
        const double v = g->v[idx[j]];
        wd[j] = (double)w[j];
        wyd[j] = (double)w[j] * y[j];
        sxv += (double)w[j] * y[j] * v;
        svv += (double)w[j] * v * v;
    }
    double best = 0;
    *t_out = 0;
    if (sxv > 0 && svv > 0) {
        best = sxv * sxv / svv;
        *t_out = (float)(sxv / svv);
    }
    uint64_t ev[SWEEP_MAX_EV], tmp[SWEEP_MAX_EV];
    int m = 0;
    uint32_t bmin = UINT32_MAX, bmax = 0;
    bool overflow = false;
    for (int j = 0; j < n && !overflow; j++) {
        for (int k = idx[j];;) {
            const float s = next_cross(g, y[j], k);
            if (!(s <= s_hi)) break;
            if (m == SWEEP_MAX_EV) {
                overflow = true;
                break;
            }
            const uint32_t sb = f32_bits(s);
            bmin = sb < bmin ? sb : bmin;
            bmax = sb > bmax ? sb : bmax;
            ev[m++] = (uint64_t)sb << 32 | (uint32_t)j;
            k += y[j] > 0 ? 1 : -1;
        }
    }
    if (!overflow) {
        sort_events(ev, tmp, m, bmin, bmax);
        for (int e = 0; e < m; e++) {
            const int j = (int)(uint32_t)ev[e], k0 = idx[j], k1 = k0 + (y[j] > 0 ? 1 : -1);
            idx[j] = k1;
            const double v0 = g->v[k0], v1 = g->v[k1];
            sxv += wyd[j] * (v1 - v0);
            svv += wd[j] * (v1 * v1 - v0 * v0);
            if (sxv > 0 && svv > 0 && sxv * sxv > best * svv) {
                best = sxv * sxv / svv;
                *t_out = (float)(sxv / svv);
            }
        }
        return best;
    }
    int hj[SWEEP_MAX_N];
    float hs[SWEEP_MAX_N];
    m = 0;
    for (int j = 0; j < n; j++) {
        const float s = next_cross(g, y[j], idx[j]);
        if (s <= s_hi) hs[m] = s, hj[m] = j, m++;
    }
    for (int i = m / 2 - 1; i >= 0; i--) heap_down(hs, hj, m, i);
    while (m > 0) {
        const int j = hj[0], k0 = idx[j], k1 = k0 + (y[j] > 0 ? 1 : -1);
        idx[j] = k1;
        const double v0 = g->v[k0], v1 = g->v[k1];
        sxv += wyd[j] * (v1 - v0);
        svv += wd[j] * (v1 * v1 - v0 * v0);
        if (sxv > 0 && svv > 0 && sxv * sxv > best * svv) {
            best = sxv * sxv / svv;
            *t_out = (float)(sxv / svv);
        }
        const float s = next_cross(g, y[j], k1);
        if (s <= s_hi) {
            hs[0] = s;
        } else {
            m--;
            hs[0] = hs[m], hj[0] = hj[m];
        }
        heap_down(hs, hj, m, 0);
    }
    return best;
}

/* Best float scales of x ~ d * v[idx] with d > 0 and with d < 0, |1/d| in
 * [c_lo, c_hi] * G / amax (G: largest level magnitude). *d_best: the better
 * one, *d_other: the best of the other sign (0 if none). Returns the gain
 * of d_best (error = sum w x^2 - gain). */
static double sym_scales(const float *x, const float *w, int n, const qgrid *g, float c_lo, float c_hi,
                         float *d_best, float *d_other) {
    float amax = 0;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    *d_best = *d_other = 0;
    if (!(amax > 0)) return 0;
    const float G = fmaxf(g->v[g->n - 1], -g->v[0]);
    const float s_lo = c_lo * G / amax, s_hi = c_hi * G / amax;
    float y[SWEEP_MAX_N], tp, tn;
    const double gp = sweep_one_sign(x, w, n, g, s_lo, s_hi, &tp);
    double gn = 0;
    tn = 0;
    if (g->v[0] != -g->v[g->n - 1]) { /* asymmetric grid: try d < 0 too */
        for (int j = 0; j < n; j++) y[j] = -x[j];
        gn = sweep_one_sign(y, w, n, g, s_lo, s_hi, &tn);
    }
    if (gn > gp) {
        *d_best = -tn;
        *d_other = tp;
        return gn;
    }
    *d_best = tp;
    *d_other = -tn;
    return gp;
}

/* Error of x ~ d * v[idx] with nearest levels (idx written if non-NULL).
 * The levels and the terms w (x - d v)^2 are computed in loops the compiler
 * can vectorize; the terms are summed in order. */
static double sym_eval(const float *x, const float *w, int n, const qgrid *g, float d, uint8_t *idx) {
    double err = 0;
    if (d == 0) {
        const int k = grid_idx(g, 0);
        for (int j = 0; j < n; j++) {
            if (idx) idx[j] = (uint8_t)k;
            const double dx = x[j] - 0 * g->v[k];
            err += w[j] * dx * dx;
        }
        return err;
    }
    const float id = 1 / d;
    int kk[SWEEP_MAX_N];
    double t[SWEEP_MAX_N];
    if (g->linear) {
        /* grid_idx of a linear grid, branch-free */
        const float v0 = g->v[0], vn = g->v[g->n - 1], flo = (float)g->lo;
        const int top = g->n - 1;
        for (int j = 0; j < n; j++) {
            const float y = x[j] * id;
            float yc = y < vn ? y : vn; /* keeps the conversion in range; */
            yc = yc > v0 ? yc : v0;     /* the selects below decide there */
            int k = (int)(yc - flo + 0.5f);
            k = k < 0 ? 0 : k > top ? top : k;
            k = y >= vn ? top : k;
            k = y > v0 ? k : 0;
            kk[j] = k;
        }
        for (int j = 0; j < n; j++) {
            const double dx = (double)x[j] - (double)(d * (float)(kk[j] + g->lo));
            t[j] = w[j] * dx * dx;
        }
    } else {
        /* the nearest level's index is the number of midpoints below y */
        for (int j = 0; j < n; j++) {
            const float y = x[j] * id;
            int k = 0;
            for (int u = 0; u + 1 < g->n; u++) k += g->b[u] < y;
            kk[j] = k;
        }
        for (int j = 0; j < n; j++) {
            const double dx = (double)x[j] - (double)(d * g->v[kk[j]]);
            t[j] = w[j] * dx * dx;
        }
    }
    for (int j = 0; j < n; j++) err += t[j];
    if (idx)
        for (int j = 0; j < n; j++) idx[j] = (uint8_t)kk[j];
    return err;
}

/* Least-squares scale for fixed levels: sum w x v / sum w v^2 (0 if none). */
static float sym_refit(const float *x, const float *w, int n, const qgrid *g, const uint8_t *idx) {
    double sxv = 0, svv = 0;
    for (int j = 0; j < n; j++) {
        const double v = g->v[idx[j]];
        sxv += (double)w[j] * x[j] * v;
        svv += (double)w[j] * v * v;
    }
    return svv > 0 ? (float)(sxv / svv) : 0.f;
}

/* One block of a single-level symmetric type: fp16 scale and level indices. */
static void sym_block(const float *x, const float *w, int n, const qgrid *g, float c_lo, float c_hi,
                      uint16_t *dh, uint8_t *idx) {
    float d, d2;
    sym_scales(x, w, n, g, c_lo, c_hi, &d, &d2);
    uint8_t tmp[SWEEP_MAX_N];
    uint16_t best_h = 0;
    double best = sym_eval(x, w, n, g, 0.f, idx);
    const float cands[2] = {d, d2};
    for (int c = 0; c < 2; c++) {
        if (cands[c] == 0) continue;
        const uint16_t h0 = to_h(cands[c]);
        for (int k = -2; k <= 2; k++) {
            const uint16_t h = h_step(h0, k);
            const double e = sym_eval(x, w, n, g, FP16(h), tmp);
            if (e < best) best = e, best_h = h, memcpy(idx, tmp, (size_t)n);
        }
    }
    /* One Lloyd step from the chosen levels. */
    for (int it = 0; it < 2 && best_h; it++) {
        const uint16_t h = to_h(sym_refit(x, w, n, g, idx));
        if (h == best_h) break;
        const double e = sym_eval(x, w, n, g, FP16(h), tmp);
        if (!(e < best)) break;
        best = e, best_h = h, memcpy(idx, tmp, (size_t)n);
    }
    *dh = best_h;
}

/* ---- affine fit x ~ a*q + b ---- */

/* The sums over a pattern q that the least-squares fit needs, and its 64-bit
 * FNV-1a hash, in one pass (the chains are independent, so they overlap).
 * wd[j] = w[j], wx[j] = w[j] x[j] (in double). */
typedef struct {
    double sq, sqq, sxq;
    uint64_t h;
} qsums;

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static void q_sums(const double *wd, const double *wx, const uint8_t *q, int n, qsums *r) {
    double sq = 0, sqq = 0, sxq = 0;
    uint64_t h = FNV_OFFSET;
    for (int j = 0; j < n; j++) {
        const double qj = q[j];
        h = (h ^ q[j]) * FNV_PRIME;
        sq += wd[j] * qj;
        sqq += wd[j] * qj * qj;
        sxq += wx[j] * qj;
    }
    r->sq = sq, r->sqq = sqq, r->sxq = sxq, r->h = h;
}

/* Weighted least squares of (a, b) for fixed q (sums r; sw = sum w, sx =
 * sum w x); b <= 0 if nonpos. Returns false when the q do not determine a. */
static bool affine_lsq(double sw, double sx, const qsums *r, bool nonpos, float *a, float *b) {
    const double sq = r->sq, sqq = r->sqq, sxq = r->sxq;
    if (!(sqq > 0)) return false;
    const double det = sw * sqq - sq * sq;
    double aa, bb;
    if (det > 1e-9 * sw * sqq) {
        aa = (sw * sxq - sq * sx) / det, bb = (sqq * sx - sq * sxq) / det;
        if (nonpos && bb > 0) bb = 0, aa = sxq / sqq;
    } else { /* all q equal: a alone fits them */
        aa = sxq / sqq, bb = 0;
    }
    if (!(aa > 0)) return false;
    *a = (float)aa;
    *b = (float)bb;
    return true;
}

static double affine_eval(const float *x, const float *w, int n, int nmax, float a, float b, uint8_t *q) {
    double err = 0, t[SWEEP_MAX_N];
    int l[SWEEP_MAX_N];
    affine_terms(x, w, n, nmax, a > 0, a, b, a > 0 ? 1 / a : 0.f, l, t);
    for (int j = 0; j < n; j++) err += t[j];
    for (int j = 0; j < n; j++) q[j] = (uint8_t)l[j];
    return err;
}

/* Records the pattern with hash h; false if it was recorded before. */
static bool note_pattern(uint64_t *seen, int *nseen, int cap, uint64_t h) {
    for (int i = 0; i < *nseen; i++)
        if (seen[i] == h) return false;
    if (*nseen < cap) seen[(*nseen)++] = h;
    return true;
}

/* affine_eval (a > 0) that also returns the sums and hash of the new q. */
static double affine_eval_sums(const float *x, const float *w, const double *wd, const double *wx, int n, int nmax,
                               float a, float b, uint8_t *q, qsums *r) {
    double t[SWEEP_MAX_N];
    int l[SWEEP_MAX_N];
    affine_terms(x, w, n, nmax, true, a, b, 1 / a, l, t);
    double err = 0, sq = 0, sqq = 0, sxq = 0;
    uint64_t h = FNV_OFFSET;
    for (int j = 0; j < n; j++) {
        const double qj = l[j];
        err += t[j];
        h = (h ^ (uint8_t)l[j]) * FNV_PRIME;
        sq += wd[j] * qj;
        sqq += wd[j] * qj * qj;
        sxq += wx[j] * qj;
    }
    for (int j = 0; j < n; j++) q[j] = (uint8_t)l[j];
    r->sq = sq, r->sqq = sqq, r->sxq = sxq, r->h = h;
    return err;
}

/* Best (a >= 0, b) for x ~ a*q + b, q in 0..nmax (b <= 0 if nonpos), from
 * ncand starting scales (nmax + delta) / (max - min), delta in [-1, 1.5],
 * each iterated to a fixed point. Writes q, returns the error. */
static double affine_fit(const float *x, const float *w, int n, int nmax, bool nonpos, int ncand, float *a_out,
                         float *b_out, uint8_t *q_out) {
    float mn = x[0], mx = x[0];
    double sw = 0, sx = 0, wd[SWEEP_MAX_N], wx[SWEEP_MAX_N];
    for (int j = 0; j < n; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
        wd[j] = w[j];
        wx[j] = (double)w[j] * x[j];
        sw += w[j];
        sx += (double)w[j] * x[j];
    }
    if (nonpos && mn > 0) mn = 0;
    /* Constant fallback: a = 0, b = weighted mean. */
    float best_a = 0, best_b = sw > 0 ? (float)(sx / sw) : 0.f;
    if (nonpos && best_b > 0) best_b = 0;
    double best = affine_eval(x, w, n, nmax, 0, best_b, q_out);
    if (!(mx > mn)) {
        *a_out = best_a, *b_out = best_b;
        return best;
    }
    /* Chains from different starts often meet: a pattern evaluated before
     * (by 64-bit hash) would continue as before, so the chain stops there. */
    uint8_t q[SWEEP_MAX_N], q2[SWEEP_MAX_N], q_prev[SWEEP_MAX_N];
    uint64_t seen[8 * 64];
    if (ncand > 64) ncand = 64;
    int nseen = 0;
    for (int c = 0; c < ncand; c++) {
        const float delta = ncand > 1 ? -1.f + 2.5f * (float)c / (float)(ncand - 1) : 0.f;
        const float is = ((float)nmax + delta) / (mx - mn);
        int l[SWEEP_MAX_N];
        double unused[SWEEP_MAX_N];
        affine_terms(x, w, n, nmax, true, 0.f, mn, is, l, unused);
        for (int j = 0; j < n; j++) q[j] = (uint8_t)l[j];
        /* the previous start's pattern was noted (the list never fills:
         * ncand * 8 <= its size), so the same pattern would stop at once */
        if (c > 0 && !memcmp(q, q_prev, (size_t)n)) continue;
        memcpy(q_prev, q, (size_t)n);
        qsums r;
        q_sums(wd, wx, q, n, &r);
        for (int it = 0; it < 8; it++) {
            if (!note_pattern(seen, &nseen, (int)(sizeof seen / sizeof *seen), r.h)) break;
            float a, b;
            if (!affine_lsq(sw, sx, &r, nonpos, &a, &b)) break;
            const double e = affine_eval_sums(x, w, wd, wx, n, nmax, a, b, q2, &r);
            if (e < best) best = e, best_a = a, best_b = b, memcpy(q_out, q2, (size_t)n);
            if (!memcmp(q, q2, (size_t)n)) break;
            memcpy(q, q2, (size_t)n);
        }
    }
    *a_out = best_a, *b_out = best_b;
    return best;
}

/* ---- single-level types ---- */

static void put_nibbles32(uint8_t *qs, const uint8_t *idx) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((idx[j] & 15) | ((idx[j + 16] & 15) << 4));
}

static void put_qh32(uint8_t *qh, const uint8_t *idx) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((idx[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* Q4_1 / Q5_1: fp16 d and m among the neighbours of the float fit. */
static void affine_block_fp16(const float *x, const float *w, int nmax, uint16_t *dh, uint16_t *mh, uint8_t *q) {
    float a, b;
    uint8_t tmp[32];
    affine_fit(x, w, 32, nmax, false, 24, &a, &b, q);
    *dh = *mh = 0;
    const uint16_t a0 = to_h(a), b0 = to_h(b);
    double best = INFINITY;
    for (int i = -1; i <= 1; i++) {
        for (int k = -1; k <= 1; k++) {
            const uint16_t ah = h_step(a0, i), bh = h_step(b0, k);
            const float af = FP16(ah);
            const double e = affine_eval(x, w, 32, nmax, af > 0 ? af : 0.f, FP16(bh), tmp);
            if (e < best) best = e, *dh = af > 0 ? ah : 0, *mh = bh, memcpy(q, tmp, 32);
        }
    }
}

/* ---- two-level symmetric types: Q3_K, Q6_K, IQ4_XS ---- */

/* Each sub-block tries its integer scale rounded from the float fit +- KSYM_R
 * (and from the best fit of the other sign), its min +- KAFF_R. */
#ifndef KSYM_R
#define KSYM_R 1
#endif
#ifndef KAFF_R
#define KAFF_R 1
#endif

typedef struct {
    int nsub, sublen;
    const qgrid *g;      /* levels of the quants */
    const qgrid *scg;    /* integer sub-block scales */
    float c_lo, c_hi;    /* sweep window of the sub-block fits */
    float sc_lo, sc_hi;  /* sweep window of the scale quantization */
} ksym_cfg;

/* Sub-block errors for a super-block scale d: each sub-block takes the best
 * of its candidate integer scales (neighbours of a/d and a2/d). */
static double ksym_eval(const ksym_cfg *c, const float *x, const float *w, const float *a, const float *a2, float d,
                        int *sc, uint8_t *idx) {
    const int L = c->sublen, lo = (int)c->scg->v[0], hi = (int)c->scg->v[c->scg->n - 1];
    double total = 0;
    uint8_t tmp[32];
    for (int s = 0; s < c->nsub; s++) {
        const float *xs = x + s * L, *ws = w + s * L;
        int cand[2 * (2 * KSYM_R + 1)], nc = 0;
        for (int t = 0; t < 2; t++) {
            const float r = t == 0 ? a[s] : a2[s];
            if (t == 1 && r == 0) break;
            const int base = d != 0 ? (int)floorf(fminf(fmaxf(r / d, -1e4f), 1e4f) + 0.5f) : 0;
            for (int k = -KSYM_R; k <= KSYM_R; k++) {
                int v = base + k;
                v = v < lo ? lo : v > hi ? hi : v;
                bool dup = false;
                for (int u = 0; u < nc; u++) dup |= cand[u] == v;
                if (!dup) cand[nc++] = v;
            }
        }
        double best = INFINITY;
        for (int u = 0; u < nc; u++) {
            const double e = sym_eval(xs, ws, L, c->g, d * (float)cand[u], tmp);
            if (e < best) best = e, sc[s] = cand[u], memcpy(idx + s * L, tmp, (size_t)L);
        }
        total += best;
    }
    return total;
}

static void ksym_superblock(const ksym_cfg *c, const float *x, const float *w, uint16_t *dh, int *sc,
                            uint8_t *idx) {
    const int L = c->sublen, ns = c->nsub;
    float a[16], a2[16], H[16];
    uint8_t tmp[32];
    bool any = false;
    for (int s = 0; s < ns; s++) {
        sym_scales(x + s * L, w + s * L, L, c->g, c->c_lo, c->c_hi, &a[s], &a2[s]);
        sym_eval(x + s * L, w + s * L, L, c->g, a[s], tmp);
        double h = 0;
        for (int j = 0; j < L; j++) h += (double)w[s * L + j] * c->g->v[tmp[j]] * c->g->v[tmp[j]];
        H[s] = (float)h;
        any |= a[s] != 0;
    }
    int sc_t[16];
    uint8_t idx_t[QK];
    double best = ksym_eval(c, x, w, a, a2, 0.f, sc, idx);
    uint16_t best_h = 0;
    if (any) {
        float d, d2;
        sym_scales(a, H, ns, c->scg, c->sc_lo, c->sc_hi, &d, &d2);
        uint16_t tried[16];
        int ntried = 0;
        uint16_t start[6];
        int nstart = 0;
        for (int k = -1; k <= 1; k++) start[nstart++] = h_step(to_h(d), k);
        if (d2 != 0) start[nstart++] = to_h(d2);
        for (int st = 0; st < nstart; st++) {
            uint16_t h = start[st];
            for (int it = 0; it < 4; it++) {
                bool seen = h == 0;
                for (int u = 0; u < ntried; u++) seen |= tried[u] == h;
                if (seen) break;
                if (ntried < 16) tried[ntried++] = h;
                const double e = ksym_eval(c, x, w, a, a2, FP16(h), sc_t, idx_t);
                if (e < best) best = e, best_h = h, memcpy(sc, sc_t, sizeof sc_t), memcpy(idx, idx_t, QK);
                else if (it > 0) break;
                /* refit d over the super-block for these integer scales and levels */
                double sxv = 0, svv = 0;
                for (int j = 0; j < ns * L; j++) {
                    const double v = (double)sc_t[j / L] * c->g->v[idx_t[j]];
                    sxv += (double)w[j] * x[j] * v;
                    svv += (double)w[j] * v * v;
                }
                if (!(svv > 0)) break;
                h = to_h((float)(sxv / svv));
            }
        }
    }
    *dh = best_h;
}

/* ---- two-level affine types: Q2_K, Q4_K, Q5_K ---- */

typedef struct {
    int nsub, sublen, nmax, ncand;
    const qgrid *scg; /* 0..15 or 0..63 */
} kaff_cfg;

static double kaff_sub(const float *x, const float *w, int n, int nmax, float e, float mm, uint8_t *q) {
    double err = 0, t[32];
    int l[32];
    /* x + mm == x - (-mm) and e l - mm == e l + (-mm) exactly */
    affine_terms(x, w, n, nmax, e != 0, e, -mm, e != 0 ? 1 / e : 0.f, l, t);
    for (int j = 0; j < n; j++) err += t[j];
    for (int j = 0; j < n; j++) q[j] = (uint8_t)l[j];
    return err;
}

static void int_cands(float r, float d, int hi, int *cand, int *nc) {
    const int base = d > 0 ? (int)floorf(fminf(fmaxf(r / d, -1e4f), 1e4f) + 0.5f) : 0;
    *nc = 0;
    for (int k = -KAFF_R; k <= KAFF_R; k++) {
        int v = base + k;
        v = v < 0 ? 0 : v > hi ? hi : v;
        if (*nc == 0 || cand[*nc - 1] != v) cand[(*nc)++] = v;
        if (d <= 0) break;
    }
}

static double kaff_eval(const kaff_cfg *c, const float *x, const float *w, const float *a, const float *m, float d,
                        float dmin, int *sc, int *mi, uint8_t *q) {
    const int L = c->sublen, hi = (int)c->scg->v[c->scg->n - 1];
    double total = 0;
    uint8_t tmp[32];
    for (int s = 0; s < c->nsub; s++) {
        int cs[2 * KAFF_R + 1], cm[2 * KAFF_R + 1], ncs, ncm;
        int_cands(a[s], d, hi, cs, &ncs);
        int_cands(m[s], dmin, hi, cm, &ncm);
        double best = INFINITY;
        for (int u = 0; u < ncs; u++) {
            for (int v = 0; v < ncm; v++) {
                const double e =
                    kaff_sub(x + s * L, w + s * L, L, c->nmax, d * (float)cs[u], dmin * (float)cm[v], tmp);
                if (e < best) best = e, sc[s] = cs[u], mi[s] = cm[v], memcpy(q + s * L, tmp, (size_t)L);
            }
        }
        total += best;
    }
    return total;
}

static void kaff_superblock(const kaff_cfg *c, const float *x, const float *w, uint16_t *dh,
                            uint16_t *dminh, int *sc, int *mi, uint8_t *q) {
    const int L = c->sublen, ns = c->nsub;
    float a[16], m[16], Ha[16], Hm[16];
    uint8_t tmp[32];
    for (int s = 0; s < ns; s++) {
        float b;
        affine_fit(x + s * L, w + s * L, L, c->nmax, true, c->ncand, &a[s], &b, tmp);
        m[s] = -b;
        double ha = 0, hm = 0;
        for (int j = 0; j < L; j++) {
            ha += (double)w[s * L + j] * tmp[j] * tmp[j];
            hm += w[s * L + j];
        }
        Ha[s] = (float)ha;
        Hm[s] = (float)hm;
    }
    float d, dmin, unused;
    sym_scales(a, Ha, ns, c->scg, 0.6f, 1.4f, &d, &unused);
    sym_scales(m, Hm, ns, c->scg, 0.6f, 1.4f, &dmin, &unused);
    if (d < 0) d = 0;
    if (dmin < 0) dmin = 0;
    int sc_t[16], mi_t[16];
    uint8_t q_t[QK];
    uint16_t h = to_h(d), hm = to_h(dmin);
    double best = INFINITY;
    uint16_t best_h = 0, best_hm = 0;
    for (int it = 0; it < 4; it++) {
        const double e = kaff_eval(c, x, w, a, m, FP16(h), FP16(hm), sc_t, mi_t, q_t);
        if (e < best) {
            best = e, best_h = h, best_hm = hm;
            memcpy(sc, sc_t, sizeof sc_t), memcpy(mi, mi_t, sizeof mi_t), memcpy(q, q_t, QK);
        } else {
            break;
        }
        /* refit (d, dmin): x ~ d * (sc q) - dmin * mi */
        double s11 = 0, s12 = 0, s22 = 0, r1 = 0, r2 = 0;
        for (int j = 0; j < ns * L; j++) {
            const double u = (double)sc_t[j / L] * q_t[j], v = -(double)mi_t[j / L], wj = w[j];
            s11 += wj * u * u, s12 += wj * u * v, s22 += wj * v * v;
            r1 += wj * u * x[j], r2 += wj * v * x[j];
        }
        const double det = s11 * s22 - s12 * s12;
        double nd, ndm;
        if (det > 0 && s22 > 0) {
            nd = (s22 * r1 - s12 * r2) / det;
            ndm = (s11 * r2 - s12 * r1) / det;
            if (ndm < 0) ndm = 0, nd = s11 > 0 ? r1 / s11 : 0;
        } else if (s11 > 0) {
            nd = r1 / s11, ndm = 0;
        } else {
            break;
        }
        if (nd < 0) nd = 0;
        const uint16_t nh = to_h((float)nd), nhm = to_h((float)ndm);
        if (nh == h && nhm == hm) break;
        h = nh, hm = nhm;
    }
    /* neighbours of the fp16 scales */
    const uint16_t h0 = best_h, hm0 = best_hm;
    for (int i = -1; i <= 1; i++) {
        for (int k = -1; k <= 1; k++) {
            if ((i != 0) == (k != 0)) continue; /* the four axis neighbours */
            const uint16_t th = h_step(h0, i), thm = h_step(hm0, k);
            const double e = kaff_eval(c, x, w, a, m, FP16(th), FP16(thm), sc_t, mi_t, q_t);
            if (e < best) {
                best = e, best_h = th, best_hm = thm;
                memcpy(sc, sc_t, sizeof sc_t), memcpy(mi, mi_t, sizeof mi_t), memcpy(q, q_t, QK);
            }
        }
    }
    *dh = best_h, *dminh = best_hm;
}

/* ---- packing ---- */

static void pack_q2_k(smelt_block_q2_k *y, uint16_t dh, uint16_t mh, const int *sc, const int *mi, const uint8_t *L) {
    y->d = dh, y->dmin = mh;
    for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(sc[j] | (mi[j] << 4));
    for (int j = 0; j < QK; j += 128)
        for (int l = 0; l < 32; l++)
            y->qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

static void pack_q3_k(smelt_block_q3_k *y, uint16_t dh, const int *sc, const uint8_t *L) {
    y->d = dh;
    memset(y->scales, 0, sizeof y->scales);
    memset(y->hmask, 0, sizeof y->hmask);
    for (int j = 0; j < 16; j++) {
        const int l = sc[j] + 32;
        if (j < 8) y->scales[j] = (uint8_t)(l & 0xf);
        else y->scales[j - 8] |= (uint8_t)((l & 0xf) << 4);
        y->scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
    for (int j = 0; j < QK; j++)
        if (L[j] > 3) y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
    for (int j = 0; j < QK; j += 128)
        for (int l = 0; l < 32; l++)
            y->qs[j / 4 + l] = (uint8_t)((L[j + l] & 3) | ((L[j + l + 32] & 3) << 2) | ((L[j + l + 64] & 3) << 4) |
                                         ((L[j + l + 96] & 3) << 6));
}

static void pack_k4_scales(uint8_t *p, const int *sc, const int *mi) {
    memset(p, 0, SMELT_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        const int ls = sc[j], lm = mi[j];
        if (j < 4) {
            p[j] = (uint8_t)ls;
            p[j + 4] = (uint8_t)lm;
        } else {
            p[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
            p[j - 4] |= (uint8_t)((ls >> 4) << 6);
            p[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
}

static void pack_q4_k(smelt_block_q4_k *y, uint16_t dh, uint16_t mh, const int *sc, const int *mi, const uint8_t *L) {
    y->d = dh, y->dmin = mh;
    pack_k4_scales(y->scales, sc, mi);
    uint8_t *q = y->qs;
    for (int j = 0; j < QK; j += 64, q += 32)
        for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

static void pack_q5_k(smelt_block_q5_k *y, uint16_t dh, uint16_t mh, const int *sc, const int *mi, const uint8_t *L) {
    y->d = dh, y->dmin = mh;
    pack_k4_scales(y->scales, sc, mi);
    uint8_t *qh = y->qh, *ql = y->qs;
    memset(qh, 0, QK / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int c = 0; c < QK; c += 64, ql += 32, m1 = (uint8_t)(m1 << 2), m2 = (uint8_t)(m2 << 2)) {
        for (int j = 0; j < 32; j++) {
            int l1 = L[c + j], l2 = L[c + j + 32];
            if (l1 > 15) l1 -= 16, qh[j] |= m1;
            if (l2 > 15) l2 -= 16, qh[j] |= m2;
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
    }
}

static void pack_q6_k(smelt_block_q6_k *y, uint16_t dh, const int *sc, const uint8_t *L) {
    y->d = dh;
    for (int j = 0; j < 16; j++) y->scales[j] = (int8_t)sc[j];
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < QK; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((L[j + l] & 0xf) | ((L[j + l + 64] & 0xf) << 4));
            ql[l + 32] = (uint8_t)((L[j + l + 32] & 0xf) | ((L[j + l + 96] & 0xf) << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                              ((L[j + l + 96] >> 4) << 6));
        }
    }
}

static void pack_iq4_xs(smelt_block_iq4_xs *y, uint16_t dh, const int *sc, const uint8_t *L) {
    y->d = dh;
    uint16_t sh = 0;
    memset(y->scales_l, 0, sizeof y->scales_l);
    for (int ib = 0; ib < 8; ib++) {
        const int l = sc[ib] + 32;
        y->scales_l[ib / 2] |= (uint8_t)((l & 0xf) << (4 * (ib % 2)));
        sh |= (uint16_t)((l >> 4) << (2 * ib));
        put_nibbles32(y->qs + 16 * ib, L + 32 * ib);
    }
    y->scales_h = sh;
}

/* ---- driver ---- */

bool smelt_quantize_imat_supported(uint32_t type) {
    switch (type) {
    case SMELT_TYPE_F32: case SMELT_TYPE_F16: case SMELT_TYPE_BF16:
    case SMELT_TYPE_Q8_0: case SMELT_TYPE_Q4_0: case SMELT_TYPE_Q4_1: case SMELT_TYPE_Q5_0: case SMELT_TYPE_Q5_1:
    case SMELT_TYPE_Q2_K: case SMELT_TYPE_Q3_K: case SMELT_TYPE_Q4_K: case SMELT_TYPE_Q5_K: case SMELT_TYPE_Q6_K:
    case SMELT_TYPE_IQ4_NL: case SMELT_TYPE_IQ4_XS:
        return true;
    default:
        return false;
    }
}

/* Quantize one row (weights w) of a block type. */
static void quantize_row(uint32_t type, const float *x, const float *w, uint8_t *dst, int64_t n) {
    qgrid g, scg;
    uint8_t L[QK];
    int sc[16], mi[16];
    switch (type) {
    case SMELT_TYPE_Q8_0: {
        grid_linear(&g, -127, 127);
        smelt_block_q8_0 *y = (smelt_block_q8_0 *)dst;
        for (int64_t i = 0; i < n / 32; i++) {
            sym_block(x + 32 * i, w + 32 * i, 32, &g, 0.98f, 1.06f, &y[i].d, L);
            for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)(L[j] - 127);
        }
        break;
    }
    case SMELT_TYPE_Q4_0: case SMELT_TYPE_Q5_0: case SMELT_TYPE_IQ4_NL: {
        if (type == SMELT_TYPE_Q4_0) grid_linear(&g, -8, 7);
        else if (type == SMELT_TYPE_Q5_0) grid_linear(&g, -16, 15);
        else grid_iq4(&g);
        for (int64_t i = 0; i < n / 32; i++) {
            uint16_t dh;
            sym_block(x + 32 * i, w + 32 * i, 32, &g, 0.7f, 2.0f, &dh, L);
            if (type == SMELT_TYPE_Q4_0) {
                smelt_block_q4_0 *y = (smelt_block_q4_0 *)dst + i;
                y->d = dh, put_nibbles32(y->qs, L);
            } else if (type == SMELT_TYPE_Q5_0) {
                smelt_block_q5_0 *y = (smelt_block_q5_0 *)dst + i;
                y->d = dh, put_nibbles32(y->qs, L), put_qh32(y->qh, L);
            } else {
                smelt_block_iq4_nl *y = (smelt_block_iq4_nl *)dst + i;
                y->d = dh, put_nibbles32(y->qs, L);
            }
        }
        break;
    }
    case SMELT_TYPE_Q4_1: case SMELT_TYPE_Q5_1: {
        for (int64_t i = 0; i < n / 32; i++) {
            uint16_t dh, mh;
            if (type == SMELT_TYPE_Q4_1) {
                smelt_block_q4_1 *y = (smelt_block_q4_1 *)dst + i;
                affine_block_fp16(x + 32 * i, w + 32 * i, 15, &dh, &mh, L);
                y->d = dh, y->m = mh, put_nibbles32(y->qs, L);
            } else {
                smelt_block_q5_1 *y = (smelt_block_q5_1 *)dst + i;
                affine_block_fp16(x + 32 * i, w + 32 * i, 31, &dh, &mh, L);
                y->d = dh, y->m = mh, put_nibbles32(y->qs, L), put_qh32(y->qh, L);
            }
        }
        break;
    }
    case SMELT_TYPE_Q3_K: case SMELT_TYPE_Q6_K: case SMELT_TYPE_IQ4_XS: {
        ksym_cfg c = {16, 16, &g, &scg, 0.7f, 2.0f, 0.6f, 1.4f};
        if (type == SMELT_TYPE_Q3_K) grid_linear(&g, -4, 3), grid_linear(&scg, -32, 31);
        else if (type == SMELT_TYPE_Q6_K) grid_linear(&g, -32, 31), grid_linear(&scg, -128, 127), c.c_lo = 0.7f, c.c_hi = 1.4f, c.sc_lo = 0.8f, c.sc_hi = 1.25f;
        else grid_iq4(&g), grid_linear(&scg, -32, 31), c.nsub = 8, c.sublen = 32;
        for (int64_t i = 0; i < n / QK; i++) {
            uint16_t dh;
            ksym_superblock(&c, x + QK * i, w + QK * i, &dh, sc, L);
            if (type == SMELT_TYPE_Q3_K) pack_q3_k((smelt_block_q3_k *)dst + i, dh, sc, L);
            else if (type == SMELT_TYPE_Q6_K) pack_q6_k((smelt_block_q6_k *)dst + i, dh, sc, L);
            else pack_iq4_xs((smelt_block_iq4_xs *)dst + i, dh, sc, L);
        }
        break;
    }
    case SMELT_TYPE_Q2_K: case SMELT_TYPE_Q4_K: case SMELT_TYPE_Q5_K: {
        kaff_cfg c = {8, 32, 15, 16, &scg};
        if (type == SMELT_TYPE_Q2_K) c.nsub = 16, c.sublen = 16, c.nmax = 3, grid_linear(&scg, 0, 15);
        else grid_linear(&scg, 0, 63), c.nmax = type == SMELT_TYPE_Q4_K ? 15 : 31;
        for (int64_t i = 0; i < n / QK; i++) {
            uint16_t dh, mh;
            kaff_superblock(&c, x + QK * i, w + QK * i, &dh, &mh, sc, mi, L);
            if (type == SMELT_TYPE_Q2_K) pack_q2_k((smelt_block_q2_k *)dst + i, dh, mh, sc, mi, L);
            else if (type == SMELT_TYPE_Q4_K) pack_q4_k((smelt_block_q4_k *)dst + i, dh, mh, sc, mi, L);
            else pack_q5_k((smelt_block_q5_k *)dst + i, dh, mh, sc, mi, L);
        }
        break;
    }
    default:
        break;
    }
}

size_t smelt_quantize_imat(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix) {
    if (!smelt_quantize_imat_supported(type) || !src || !dst || nrows <= 0 || n_per_row <= 0) return 0;
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    if (!tr || n_per_row % tr->blck) return 0;
    const size_t row_size = smelt_quant_row_size(type, n_per_row);
    if (!row_size || (uint64_t)nrows > SIZE_MAX / row_size || (uint64_t)nrows > (uint64_t)INT64_MAX / (uint64_t)n_per_row)
        return 0;
    const int64_t total = nrows * n_per_row;
    for (int64_t i = 0; i < total; i++)
        if (!isfinite(src[i])) return 0;
    double imean = 0;
    if (imatrix) {
        for (int64_t j = 0; j < n_per_row; j++) {
            if (!isfinite(imatrix[j]) || imatrix[j] < 0) return 0;
            imean += imatrix[j];
        }
        imean /= (double)n_per_row;
    }
    if (type == SMELT_TYPE_F32 || type == SMELT_TYPE_F16 || type == SMELT_TYPE_BF16) {
        for (int64_t r = 0; r < nrows; r++)
            tr->from_float_ref(src + r * n_per_row, (uint8_t *)dst + (size_t)r * row_size, n_per_row);
        return (size_t)nrows * row_size;
    }
    float *w = malloc((size_t)n_per_row * sizeof *w);
    if (!w) return 0;
    const float floor_w = (float)(1e-5 * imean);
    for (int64_t j = 0; j < n_per_row; j++) w[j] = imatrix && imean > 0 ? imatrix[j] + floor_w : 1.f;
    for (int64_t r = 0; r < nrows; r++)
        quantize_row(type, src + r * n_per_row, w, (uint8_t *)dst + (size_t)r * row_size, n_per_row);
    free(w);
    return (size_t)nrows * row_size;
}
