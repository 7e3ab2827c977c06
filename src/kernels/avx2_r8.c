/* AVX2 tiles in the summation orders of llama.cpp's repacked-weight kernels
 * (ggml-cpu/repack.cpp and arch/x86/repack.cpp): on an AVX2 machine llama.cpp
 * interleaves Q4_0 and Q4_K weights 8 rows at a time at load and multiplies
 * them with GEMM/GEMV kernels that turn each block's exact integer sum into
 * one float and accumulate it with a scalar FMA chain per output. smelt keeps
 * the file's row layout; these tiles compute, bit for bit, what those kernels
 * compute (references: smelt_dot_q4_0_r8_ref, smelt_dot_q4_k_r8_ref in
 * ggml_numerics.c). The same framework serves the order of llama.cpp's tiled
 * K-quant matmul (ggml-cpu/tiled: Q4_K, Q5_K, Q6_K weights that are not
 * repacked, 8+ tokens; kernel SMELT_R8_TILED).
 *
 * A tile holds up to 8 outputs (R weight rows x T tokens, R*T <= 8) in the 8
 * lanes of one float accumulator, lane k = r*T + t: the integer sums of the 8
 * outputs, each an 8-lane int32 vector, are reduced into one vector (exact),
 * converted, and FMA-ed with the per-lane scale d_w(r) * d_x(t). Same rules as
 * avx2.c: target pragma, used only after the support check and probe. */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#include "kernels/ggml_numerics.h"
#include "quant/quant_blocks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "kernels/avx2_common.h"

#define R8_INLINE static inline __attribute__((always_inline))
#define R8_YBUF 4096 /* floats of per-block activation scales: 512 blocks x 8 lanes */

/* lane k = sum of the 8 int32 lanes of v[k] */
R8_INLINE __m256i reduce8(const __m256i v[8]) {
    const __m256i a01 = _mm256_hadd_epi32(v[0], v[1]), a23 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i a45 = _mm256_hadd_epi32(v[4], v[5]), a67 = _mm256_hadd_epi32(v[6], v[7]);
    /* b0 = [v0..v3 sums of lanes 0-3 | v0..v3 sums of lanes 4-7], b1 likewise for v4..v7 */
    const __m256i b0 = _mm256_hadd_epi32(a01, a23), b1 = _mm256_hadd_epi32(a45, a67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20), _mm256_permute2x128_si256(b0, b1, 0x31));
}

/* lane k of the weight-side scale: f[k / T] (zero past R*T) */
R8_INLINE __m256 lanes_of_rows(const int R, const int T, const float *f) {
    if (R == 1) return _mm256_set1_ps(f[0]);
    float l[8] = {0};
    for (int k = 0; k < R * T; k++) l[k] = f[k / T];
    return _mm256_loadu_ps(l);
}

R8_INLINE void store_lanes(const int R, const int T, __m256 v, float *y, int64_t ldy) {
    float l[8];
    _mm256_storeu_ps(l, v);
    for (int k = 0; k < R * T; k++) y[(k % T) * ldy + k / T] = l[k];
}

/* ---- Q4_0 x Q8_0: isum = sum(q*y) - 8*sum(y) per block; maddubs pairs of
 * q <= 15 with y: <= 3810, 8*maddubs(1, y) <= 2032 (no int16 saturation). */
R8_INLINE void q4_0_r8_tile(const int R, const int T, int gemm, int64_t nb, const uint8_t *w, size_t ws,
                            const uint8_t *x, size_t xs, const float *yd, float *y, int64_t ldy) {
    (void)gemm; /* llama.cpp's Q4_0 GEMM and GEMV sum alike */
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i qx[8], v[8];
        float dw[8];
        for (int k = R * T; k < 8; k++) v[k] = _mm256_setzero_si256();
        for (int r = 0; r < R; r++) {
            const smelt_block_q4_0 *b = (const smelt_block_q4_0 *)(w + (size_t)r * ws) + i;
            qx[r] = unpack_nibbles(b->qs);
            dw[r] = FP16(b->d);
        }
        for (int t = 0; t < T; t++) {
            const smelt_block_q8_0 *c = (const smelt_block_q8_0 *)(x + (size_t)t * xs) + i;
            const __m256i qy = _mm256_loadu_si256((const __m256i *)c->qs);
            const __m256i sy8 = _mm256_slli_epi16(_mm256_maddubs_epi16(ones8, qy), 3);
            for (int r = 0; r < R; r++)
                v[r * T + t] = _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(qx[r], qy), sy8), ones16);
        }
        const __m256 d = _mm256_mul_ps(lanes_of_rows(R, T, dw), _mm256_loadu_ps(yd + i * 8));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(v)), d, acc);
    }
    store_lanes(R, T, acc, y, ldy);
}

/* ---- Q4_K x Q8_K: per 32-element sub-block j, scale_j * sum(q*y) (maddubs
 * pairs <= 3810, then madd by the 6-bit scale into int32) and min_j * (sum of
 * the two Q8_K bsums of j); summed per pair of sub-blocks (GEMM) or per
 * super-block (GEMV) before the float FMA. */
R8_INLINE void q4_k_r8_tile(const int R, const int T, int gemm, int64_t nb, const uint8_t *w, size_t ws,
                            const uint8_t *x, size_t xs, const float *yd, float *y, int64_t ldy) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8][16]; /* per row: scales, then mins */
        float dw[8], dmw[8];
        __m128i mins[8], ps[8];
        for (int r = 0; r < R; r++) {
            const smelt_block_q4_k *b = (const smelt_block_q4_k *)(w + (size_t)r * ws) + i;
            k4_scales_mins(b->scales, sc[r]);
            mins[r] = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sc[r] + 8)));
            dw[r] = FP16(b->d);
            dmw[r] = FP16(b->dmin);
        }
        const __m256 ydv = _mm256_loadu_ps(yd + i * 8);
        const __m256 d = _mm256_mul_ps(lanes_of_rows(R, T, dw), ydv);
        const __m256 dm = _mm256_mul_ps(lanes_of_rows(R, T, dmw), ydv);
        /* min terms: ps[k] = the 4 pair sums min_2p*bsum32_2p + min_2p+1*bsum32_2p+1 */
        for (int k = R * T; k < 8; k++) ps[k] = _mm_setzero_si128();
        for (int t = 0; t < T; t++) {
            const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
            const __m128i b32 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)c->bsums),
                                               _mm_loadu_si128((const __m128i *)(c->bsums + 8)));
            for (int r = 0; r < R; r++) ps[r * T + t] = _mm_madd_epi16(b32, mins[r]);
        }
        /* transpose: m[p] lane k = ps[k][p] */
        const __m256i x0 = _mm256_set_m128i(ps[4], ps[0]), x1 = _mm256_set_m128i(ps[5], ps[1]);
        const __m256i x2 = _mm256_set_m128i(ps[6], ps[2]), x3 = _mm256_set_m128i(ps[7], ps[3]);
        const __m256i t0 = _mm256_unpacklo_epi32(x0, x1), t1 = _mm256_unpackhi_epi32(x0, x1);
        const __m256i t2 = _mm256_unpacklo_epi32(x2, x3), t3 = _mm256_unpackhi_epi32(x2, x3);
        const __m256i m[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                              _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
        __m256i sumi[8];
        for (int k = 0; k < 8; k++) sumi[k] = _mm256_setzero_si256();
        for (int ch = 0; ch < 4; ch++) { /* sub-blocks 2ch (low nibbles) and 2ch+1 (high) */
            __m256i v[8];
            for (int k = R * T; k < 8; k++) v[k] = _mm256_setzero_si256();
            for (int r = 0; r < R; r++) {
                const smelt_block_q4_k *b = (const smelt_block_q4_k *)(w + (size_t)r * ws) + i;
                const __m256i q4 = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * ch));
                const __m256i lo = _mm256_and_si256(q4, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
                const __m256i s0 = _mm256_set1_epi16(sc[r][2 * ch]), s1 = _mm256_set1_epi16(sc[r][2 * ch + 1]);
                for (int t = 0; t < T; t++) {
                    const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                    const __m256i y0 = _mm256_loadu_si256((const __m256i *)(c->qs + 64 * ch));
                    const __m256i y1 = _mm256_loadu_si256((const __m256i *)(c->qs + 64 * ch + 32));
                    v[r * T + t] = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0),
                                                    _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1));
                }
            }
            if (gemm == SMELT_R8_GEMM) {
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(v)), d, acc);
                accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m[ch]), dm, accm);
            } else {
                for (int k = 0; k < R * T; k++) sumi[k] = _mm256_add_epi32(sumi[k], v[k]);
            }
        }
        if (gemm != SMELT_R8_GEMM) {
            const __m256i msum = _mm256_add_epi32(_mm256_add_epi32(m[0], m[1]), _mm256_add_epi32(m[2], m[3]));
            if (gemm == SMELT_R8_TILED) { /* fma(-dmin, msum, d_w * isum), then fma with d_x */
                const __m256 res = _mm256_fnmadd_ps(lanes_of_rows(R, T, dmw), _mm256_cvtepi32_ps(msum),
                                                    _mm256_mul_ps(lanes_of_rows(R, T, dw), _mm256_cvtepi32_ps(reduce8(sumi))));
                acc = _mm256_fmadd_ps(res, ydv, acc);
            } else {
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(sumi)), d, acc);
                accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), dm, accm);
            }
        }
    }
    store_lanes(R, T, _mm256_sub_ps(acc, accm), y, ldy);
}

/* ---- Q5_K x Q8_K in the tiled order (as Q4_K's, bit 4 of sub-block j from
 * bit j of qh; maddubs pairs of q <= 31 with y: <= 7874). `gemm` unused. */
R8_INLINE void q5_k_tiled_tile(const int R, const int T, int gemm, int64_t nb, const uint8_t *w, size_t ws,
                               const uint8_t *x, size_t xs, const float *yd, float *y, int64_t ldy) {
    (void)gemm;
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8][16];
        float dw[8], dmw[8];
        __m128i mins[8], ps[8];
        for (int r = 0; r < R; r++) {
            const smelt_block_q5_k *b = (const smelt_block_q5_k *)(w + (size_t)r * ws) + i;
            k4_scales_mins(b->scales, sc[r]);
            mins[r] = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sc[r] + 8)));
            dw[r] = FP16(b->d);
            dmw[r] = FP16(b->dmin);
        }
        for (int k = R * T; k < 8; k++) ps[k] = _mm_setzero_si128();
        for (int t = 0; t < T; t++) {
            const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
            const __m128i b32 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)c->bsums),
                                               _mm_loadu_si128((const __m128i *)(c->bsums + 8)));
            for (int r = 0; r < R; r++) ps[r * T + t] = _mm_madd_epi16(b32, mins[r]);
        }
        __m256i sumi[8];
        for (int k = 0; k < 8; k++) sumi[k] = _mm256_setzero_si256();
        for (int ch = 0; ch < 4; ch++)
            for (int r = 0; r < R; r++) {
                const smelt_block_q5_k *b = (const smelt_block_q5_k *)(w + (size_t)r * ws) + i;
                const __m256i q4 = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * ch));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)b->qh);
                const __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, m4),
                                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * ch), one), 4));
                const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4),
                                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * ch + 1), one), 4));
                const __m256i s0 = _mm256_set1_epi16(sc[r][2 * ch]), s1 = _mm256_set1_epi16(sc[r][2 * ch + 1]);
                for (int t = 0; t < T; t++) {
                    const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                    const __m256i y0 = _mm256_loadu_si256((const __m256i *)(c->qs + 64 * ch));
                    const __m256i y1 = _mm256_loadu_si256((const __m256i *)(c->qs + 64 * ch + 32));
                    sumi[r * T + t] = _mm256_add_epi32(sumi[r * T + t],
                        _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0),
                                         _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1)));
                }
            }
        /* msum lane k = the sum of the 4 pair sums of ps[k] */
        const __m256i x0 = _mm256_set_m128i(ps[4], ps[0]), x1 = _mm256_set_m128i(ps[5], ps[1]);
        const __m256i x2 = _mm256_set_m128i(ps[6], ps[2]), x3 = _mm256_set_m128i(ps[7], ps[3]);
        const __m256i t0 = _mm256_unpacklo_epi32(x0, x1), t1 = _mm256_unpackhi_epi32(x0, x1);
        const __m256i t2 = _mm256_unpacklo_epi32(x2, x3), t3 = _mm256_unpackhi_epi32(x2, x3);
        const __m256i msum = _mm256_add_epi32(_mm256_add_epi32(_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2)),
                                              _mm256_add_epi32(_mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)));
        const __m256 res = _mm256_fnmadd_ps(lanes_of_rows(R, T, dmw), _mm256_cvtepi32_ps(msum),
                                            _mm256_mul_ps(lanes_of_rows(R, T, dw), _mm256_cvtepi32_ps(reduce8(sumi))));
        acc = _mm256_fmadd_ps(res, _mm256_loadu_ps(yd + i * 8), acc);
    }
    store_lanes(R, T, acc, y, ldy);
}

/* ---- Q6_K x Q8_K in the order of llama.cpp's tiled K-quant matmul (batches
 * of 8 or more tokens): isum = sum(scale * q . y) - 32 * sum(scale * bsum)
 * (maddubs pairs of q <= 63 with y: <= 16002), then per super-block
 * acc = fma(d_w * (float)isum, d_x, acc). `gemm` is unused. */
R8_INLINE void q6_k_tiled_tile(const int R, const int T, int gemm, int64_t nb, const uint8_t *w, size_t ws,
                               const uint8_t *x, size_t xs, const float *yd, float *y, int64_t ldy) {
    (void)gemm;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i v[8], sc16[8];
        float dw[8];
        for (int k = R * T; k < 8; k++) v[k] = _mm256_setzero_si256();
        for (int r = 0; r < R; r++) {
            const smelt_block_q6_k *b = (const smelt_block_q6_k *)(w + (size_t)r * ws) + i;
            sc16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            dw[r] = FP16(b->d);
            for (int t = 0; t < T; t++) {
                const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                const __m256i bias = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)c->bsums), sc16[r]);
                v[r * T + t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 5));
            }
        }
        for (int h = 0; h < 2; h++)
            for (int s4 = 0; s4 < 4; s4++)
                for (int r = 0; r < R; r++) {
                    const smelt_block_q6_k *b = (const smelt_block_q6_k *)(w + (size_t)r * ws) + i;
                    const __m256i ql = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (s4 & 1)));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
                    const __m256i lo4 =
                        (s4 & 2) ? _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4) : _mm256_and_si256(ql, m4);
                    const __m256i hi2 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s4), m2);
                    const __m256i q = _mm256_or_si256(lo4, _mm256_slli_epi16(hi2, 4));
                    const int g = 8 * h + 2 * s4;
                    const __m256i sp = _mm256_set_m128i(_mm_set1_epi16(b->scales[g + 1]), _mm_set1_epi16(b->scales[g]));
                    for (int t = 0; t < T; t++) {
                        const smelt_block_q8_k *c = (const smelt_block_q8_k *)(x + (size_t)t * xs) + i;
                        const __m256i yv = _mm256_loadu_si256((const __m256i *)(c->qs + 128 * h + 32 * s4));
                        v[r * T + t] = _mm256_add_epi32(v[r * T + t], _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), sp));
                    }
                }
        const __m256 res = _mm256_mul_ps(lanes_of_rows(R, T, dw), _mm256_cvtepi32_ps(reduce8(v)));
        acc = _mm256_fmadd_ps(res, _mm256_loadu_ps(yd + i * 8), acc);
    }
    store_lanes(R, T, acc, y, ldy);
}

/* The tile shapes the driver uses: R*T = 8 (or T tokens left with 8/T rows),
 * and one row at a time for the rows left over. */
typedef void (*r8_tile_fn)(int R, int T, int gemm, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,
                           size_t xs, const float *yd, float *y, int64_t ldy);
#define R8_CASE(fn, r, t)                               \
    case (r) * 16 + (t):                                \
        fn(r, t, gemm, nb, w, ws, x, xs, yd, y, ldy); \
        return;
#define R8_DISPATCH(name, fn)                                                                                   \
    static void name(int R, int T, int gemm, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x,        \
                     size_t xs, const float *yd, float *y, int64_t ldy) {                                       \
        switch (R * 16 + T) {                                                                                   \
            R8_CASE(fn, 1, 1) R8_CASE(fn, 1, 2) R8_CASE(fn, 1, 3) R8_CASE(fn, 1, 4) R8_CASE(fn, 1, 5)          \
            R8_CASE(fn, 1, 6) R8_CASE(fn, 1, 7) R8_CASE(fn, 1, 8) R8_CASE(fn, 2, 3) R8_CASE(fn, 2, 4)          \
            R8_CASE(fn, 4, 2) R8_CASE(fn, 8, 1) default : __builtin_trap();                                     \
        }                                                                                                       \
    }
R8_DISPATCH(q4_0_r8_tiles, q4_0_r8_tile)
R8_DISPATCH(q4_k_r8_tiles, q4_k_r8_tile)
R8_DISPATCH(q5_k_tiled_tiles, q5_k_tiled_tile)
R8_DISPATCH(q6_k_tiled_tiles, q6_k_tiled_tile)

/* per block i and lane k = r*T + t: the activation scale of token t (zero for
 * unused lanes); fp16 (Q8_0) or float (Q8_K) at the start of each block */
static void r8_prep(const uint8_t *x, size_t xs, int R, int T, int64_t nb, size_t ybsz, bool f16, float *yd) {
    for (int64_t i = 0; i < nb; i++)
        for (int k = 0; k < 8; k++) {
            float d = 0.0f;
            if (k < R * T) {
                const uint8_t *b = x + (size_t)(k % T) * xs + (size_t)i * ybsz;
                if (f16) {
                    uint16_t h;
                    memcpy(&h, b, 2);
                    d = FP16(h);
                } else {
                    memcpy(&d, b, 4);
                }
            }
            yd[i * 8 + k] = d;
        }
}

struct r8_plan {
    r8_tile_fn tile;
    int64_t blck;
    size_t ybsz;
    bool f16; /* activation scale is fp16 */
    int t_max; /* tokens per tile (lanes left to rows: 8 / T rows) */
};

static void r8_drive(const struct r8_plan *p, int64_t K, const void *w, size_t ws, int64_t nr, const void *xq,
                     size_t xs, int64_t nt, float *y, int64_t ldy, enum smelt_r8_kernel kernel, float (*ref)(int64_t, const void *, const void *, enum smelt_r8_kernel)) {
    const int64_t nb = K / p->blck;
    const uint8_t *wb = w, *xb = xq;
    if (nb * 8 > R8_YBUF) { /* too long for the scale buffer: the reference, per output */
        for (int64_t t = 0; t < nt; t++)
            for (int64_t r = 0; r < nr; r++) y[t * ldy + r] = ref(K, wb + (size_t)r * ws, xb + (size_t)t * xs, kernel);
        return;
    }
    float yd[R8_YBUF];
    const int gemm = (int)kernel; /* tiles compare it with SMELT_R8_GEMM / SMELT_R8_TILED */
    /* rows per chunk: ~64 KiB of weights, reused (from L2) by every token tile */
    int64_t rb = (int64_t)((64 * 1024) / ws);
    if (rb < 8) rb = 8;
    rb -= rb % 8;
    for (int64_t r0 = 0; r0 < nr; r0 += rb) {
        const int64_t r1 = r0 + rb < nr ? r0 + rb : nr;
        for (int64_t t0 = 0; t0 < nt; t0 += p->t_max) {
            const int T = nt - t0 < p->t_max ? (int)(nt - t0) : p->t_max, R = 8 / T;
            const uint8_t *xt = xb + (size_t)t0 * xs;
            r8_prep(xt, xs, R, T, nb, p->ybsz, p->f16, yd);
            int64_t r = r0;
            for (; r + R <= r1; r += R) p->tile(R, T, gemm, nb, wb + (size_t)r * ws, ws, xt, xs, yd, y + t0 * ldy + r, ldy);
            if (r < r1) {
                r8_prep(xt, xs, 1, T, nb, p->ybsz, p->f16, yd);
                for (; r < r1; r++) p->tile(1, T, gemm, nb, wb + (size_t)r * ws, ws, xt, xs, yd, y + t0 * ldy + r, ldy);
            }
        }
    }
}

static float q4_0_ref(int64_t n, const void *w, const void *x, enum smelt_r8_kernel kernel) {
    (void)kernel;
    return smelt_dot_q4_0_r8_ref(n, w, x);
}

/* tile shapes (bench_matmul on Zen 3): Q4_0 2 rows x 4 tokens, K-quants 1 x 8 */
#ifndef R8_Q40_T
#define R8_Q40_T 4
#endif
static const struct r8_plan plan_q4_0 = {q4_0_r8_tiles, SMELT_QK4_0, sizeof(smelt_block_q8_0), true, R8_Q40_T};
static const struct r8_plan plan_q4_k = {q4_k_r8_tiles, SMELT_QK_K, sizeof(smelt_block_q8_k), false, 8};
static const struct r8_plan plan_q5_k = {q5_k_tiled_tiles, SMELT_QK_K, sizeof(smelt_block_q8_k), false, 8};
static const struct r8_plan plan_q6_k = {q6_k_tiled_tiles, SMELT_QK_K, sizeof(smelt_block_q8_k), false, 8};

static float q5_k_ref(int64_t n, const void *w, const void *x, enum smelt_r8_kernel kernel) {
    (void)kernel;
    return smelt_dot_q5_k_tiled_ref(n, w, x);
}
static float q6_k_ref(int64_t n, const void *w, const void *x, enum smelt_r8_kernel kernel) {
    (void)kernel;
    return smelt_dot_q6_k_tiled_ref(n, w, x);
}

static void avx2_mm_r8_q4_0(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                            float *y, int64_t ldy, enum smelt_r8_kernel kernel) {
    r8_drive(&plan_q4_0, K, w, ws, nr, xq, xs, nt, y, ldy, kernel, q4_0_ref);
}
static void avx2_mm_r8_q4_k(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs, int64_t nt,
                            float *y, int64_t ldy, enum smelt_r8_kernel kernel) {
    r8_drive(&plan_q4_k, K, w, ws, nr, xq, xs, nt, y, ldy, kernel, smelt_dot_q4_k_r8_ref);
}

static void avx2_mm_tiled_q5_k(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs,
                               int64_t nt, float *y, int64_t ldy, enum smelt_r8_kernel kernel) {
    r8_drive(&plan_q5_k, K, w, ws, nr, xq, xs, nt, y, ldy, kernel, q5_k_ref);
}
static void avx2_mm_tiled_q6_k(int64_t K, const void *w, size_t ws, int64_t nr, const void *xq, size_t xs,
                               int64_t nt, float *y, int64_t ldy, enum smelt_r8_kernel kernel) {
    r8_drive(&plan_q6_k, K, w, ws, nr, xq, xs, nt, y, ldy, kernel, q6_k_ref);
}

#pragma GCC pop_options

void smelt_kernels_fill_avx2_r8(struct smelt_kernel_set *ks) {
    ks->matmul_r8[SMELT_TYPE_Q4_0] = avx2_mm_r8_q4_0;
    ks->matmul_r8[SMELT_TYPE_Q4_K] = avx2_mm_r8_q4_k;
    ks->matmul_r8[SMELT_TYPE_Q5_K] = avx2_mm_tiled_q5_k;
    ks->matmul_r8[SMELT_TYPE_Q6_K] = avx2_mm_tiled_q6_k;
}

#else
void smelt_kernels_fill_avx2_r8(struct smelt_kernel_set *ks) { (void)ks; }
#endif
