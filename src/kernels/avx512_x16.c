/* AVX-512 VNNI matmul over x16-packed weights (layout and numerics: x16.h).
 *
 * A tile is one group of 16 rows x T tokens (up to 16 for the 32-column
 * types, 8 for the K-quants): per block the weight steps
 * are unpacked once into registers and reused for the T tokens; each token's
 * block dot is 8 vpdpbusd (one per step, the activation's 4 bytes broadcast)
 * into an int32 lane per row; the block is then scaled into a float lane per
 * row. The outer loop runs over token tiles, the inner one over the groups of
 * the caller's row range (whose packed weights stay in L2 across token tiles). */
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/x16.h"
#include "quant/quant_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")

#define TMAX 8     /* tokens per tile, K-quants (two int32 and one float accumulator per token) */
#define TMAX32 16  /* tokens per tile, 32-column types (one float accumulator per token) */
#define AI static inline __attribute__((always_inline))

AI __m512i bc32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

AI __m512 cvt16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

/* 8 steps of a 32-column block of 4-bit codes */
AI void unpack4(const uint8_t *qs, __m512i W[8]) {
    const __m512i m = _mm512_set1_epi8(15);
    for (int i = 0; i < 4; i++) {
        const __m512i v = _mm512_loadu_si512(qs + 64 * i);
        W[2 * i] = _mm512_and_si512(v, m);
        W[2 * i + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    }
}

/* the 8 steps' dot with the activation quants yq in two chains of 4 (shorter
 * latency where few tokens run side by side) */
AI __m512i dot8x2(const __m512i W[8], const int8_t *yq) {
    __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
    _Pragma("GCC unroll 4") for (int s = 0; s < 4; s++) {
        a = _mm512_dpbusd_epi32(a, W[s], bc32(yq + 4 * s));
        b = _mm512_dpbusd_epi32(b, W[4 + s], bc32(yq + 16 + 4 * s));
    }
    return _mm512_add_epi32(a, b);
}

/* I0 + the 8 steps' dot with the activation quants yq */
AI __m512i dot8(__m512i I, const __m512i W[8], const int8_t *yq) {
    _Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) I = _mm512_dpbusd_epi32(I, W[s], bc32(yq + 4 * s));
    return I;
}

/* One activation block of a token tile, laid out [block][token] so that a
 * tile addresses every token at a fixed offset from one pointer: n[i] =
 * minus the block's exact quant sum times the code offset of Q4_0, Q5_0 and
 * Q8_0 (8, 16, 128: the start of the integer dot, broadcast straight from
 * memory) or, for Q4_1, s = the Q8_1 block's d * sum as float; d = the
 * block's scale as float; q = its quants. */
struct xa {
    union {
        int32_t n[3];
        float s;
    };
    float d;
    int8_t q[32];
};
_Static_assert(sizeof(struct xa) == SMELT_X16_XA_BYTES, "x16.h states the size of a prepared block");

/* Q4_0, Q4_1, Q5_0, Q8_0: 32-column blocks over the tile's activations xa
 * ([nb][T]). */
AI void tile32(const int T, const uint32_t type, int64_t nb, const uint8_t *g, const struct xa *xa, float *y,
               int64_t ldy) {
    const size_t gb = type == SMELT_TYPE_Q4_0 ? 288 : type == SMELT_TYPE_Q4_1 ? 320 : type == SMELT_TYPE_Q5_0 ? 352 : 544;
    const int no = type == SMELT_TYPE_Q4_0 ? 0 : type == SMELT_TYPE_Q5_0 ? 1 : 2; /* which n[] */
    __m512 acc[TMAX32];
    _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = g + b * gb;
        const __m512 dw = cvt16(p);
        __m512 mw = _mm512_setzero_ps();
        __m512i W[8];
        if (type == SMELT_TYPE_Q4_0) {
            unpack4(p + 32, W);
        } else if (type == SMELT_TYPE_Q4_1) {
            mw = cvt16(p + 32);
            unpack4(p + 64, W);
        } else if (type == SMELT_TYPE_Q5_0) {
            unpack4(p + 96, W);
            const __m512i sixteen = _mm512_set1_epi8(16);
            for (int s = 0; s < 8; s++) {
                uint64_t bits;
                memcpy(&bits, p + 32 + 8 * s, 8);
                W[s] = _mm512_mask_add_epi8(W[s], _cvtu64_mask64(bits), W[s], sixteen);
            }
        } else {
            for (int s = 0; s < 8; s++) W[s] = _mm512_loadu_si512(p + 32 + 64 * s);
        }
        const struct xa *xb = xa + b * T;
        _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) {
            const __m512i I0 = type == SMELT_TYPE_Q4_1 ? _mm512_setzero_si512() : _mm512_set1_epi32(xb[t].n[no]);
            const __m512i I = dot8(I0, W, xb[t].q);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I), _mm512_mul_ps(dw, _mm512_set1_ps(xb[t].d)), acc[t]);
            if (type == SMELT_TYPE_Q4_1) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xb[t].s), acc[t]);
        }
    }
    _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

/* Q4_K: 256-column super-blocks of 8 sub-blocks. pairs[(t*nb + b)*4 + q]: the
 * activation sums of sub-blocks 2q and 2q+1 as two int16 (low, high). */
AI void tile_q4k(const int T, int64_t nb, const uint8_t *g, const uint8_t *x, size_t xs, const int32_t *pairs,
                 float *y, int64_t ldy) {
    __m512 acc[TMAX];
    _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = g + b * 2368;
        __m512i Iacc[TMAX];
        _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) Iacc[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            __m512i W[8];
            unpack4(p + 320 + 256 * j, W);
            const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 64 + 16 * j)));
            _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) {
                const smelt_block_q8_k *yb = (const smelt_block_q8_k *)(x + (size_t)t * xs) + b;
                Iacc[t] = _mm512_add_epi32(Iacc[t], _mm512_mullo_epi32(dot8x2(W, yb->qs + 32 * j), sc));
            }
        }
        const __m512 dw = cvt16(p), dm = cvt16(p + 32);
        __m512i mn[4];
        for (int q = 0; q < 4; q++)
            mn[q] = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(p + 192 + 32 * q)));
        _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) {
            const smelt_block_q8_k *yb = (const smelt_block_q8_k *)(x + (size_t)t * xs) + b;
            const int32_t *pr = pairs + (t * nb + b) * 4;
            __m512i M = _mm512_setzero_si512();
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) M = _mm512_dpwssd_epi32(M, mn[q], _mm512_set1_epi32(pr[q]));
            const __m512 dy = _mm512_set1_ps(yb->d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(Iacc[t]), _mm512_mul_ps(dw, dy), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(M), _mm512_mul_ps(dm, dy), acc[t]);
        }
    }
    _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

/* Q6_K: 256-column super-blocks of 16 sub-blocks of 16 */
AI void tile_q6k(const int T, int64_t nb, const uint8_t *g, const uint8_t *x, size_t xs, float *y, int64_t ldy) {
    __m512 acc[TMAX];
    _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const __m512i m30 = _mm512_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = g + b * 3360;
        __m512i Iacc[TMAX];
        _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) Iacc[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            __m512i W[8];
            unpack4(p + 288 + 256 * j, W);
            const __m512i v0 = _mm512_loadu_si512(p + 2336 + 128 * j), v1 = _mm512_loadu_si512(p + 2336 + 128 * j + 64);
            for (int v = 0; v < 2; v++) {
                const __m512i h = v ? v1 : v0;
                W[4 * v + 0] = _mm512_or_si512(W[4 * v + 0], _mm512_and_si512(_mm512_slli_epi16(h, 4), m30));
                W[4 * v + 1] = _mm512_or_si512(W[4 * v + 1], _mm512_and_si512(_mm512_slli_epi16(h, 2), m30));
                W[4 * v + 2] = _mm512_or_si512(W[4 * v + 2], _mm512_and_si512(h, m30));
                W[4 * v + 3] = _mm512_or_si512(W[4 * v + 3], _mm512_and_si512(_mm512_srli_epi16(h, 2), m30));
            }
            const __m512i sa = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 32 + 16 * (2 * j))));
            const __m512i sb = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 32 + 16 * (2 * j + 1))));
            _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) {
                const smelt_block_q8_k *yb = (const smelt_block_q8_k *)(x + (size_t)t * xs) + b;
                const int8_t *yq = yb->qs + 32 * j;
                __m512i Ia = _mm512_setzero_si512(), Ib = _mm512_setzero_si512();
                for (int s = 0; s < 4; s++) {
                    Ia = _mm512_dpbusd_epi32(Ia, W[s], bc32(yq + 4 * s));
                    Ib = _mm512_dpbusd_epi32(Ib, W[4 + s], bc32(yq + 16 + 4 * s));
                }
                Ia = _mm512_sub_epi32(Ia, _mm512_set1_epi32(32 * yb->bsums[2 * j]));
                Ib = _mm512_sub_epi32(Ib, _mm512_set1_epi32(32 * yb->bsums[2 * j + 1]));
                Iacc[t] = _mm512_add_epi32(Iacc[t], _mm512_add_epi32(_mm512_mullo_epi32(Ia, sa), _mm512_mullo_epi32(Ib, sb)));
            }
        }
        const __m512 dw = cvt16(p);
        _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) {
            const smelt_block_q8_k *yb = (const smelt_block_q8_k *)(x + (size_t)t * xs) + b;
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(Iacc[t]), _mm512_mul_ps(dw, _mm512_set1_ps(yb->d)), acc[t]);
        }
    }
    _Pragma("GCC unroll 16") for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

#define TILE_CASES8(call) \
    case 1: call(1); break;   \
    case 2: call(2); break;   \
    case 3: call(3); break;   \
    case 4: call(4); break;   \
    case 5: call(5); break;   \
    case 6: call(6); break;   \
    case 7: call(7); break;   \
    case 8: call(8); break;
#define TILE_FN(name, call)                                                                                 \
    static void name(int T, int64_t nb, const uint8_t *g, const uint8_t *x, size_t xs, const int32_t *isum, \
                     float *y, int64_t ldy) {                                                               \
        switch (T) { TILE_CASES8(call) }                                                                    \
    }
#define TILE_FN16(name, call)                                                                               \
    static void name(int T, int64_t nb, const uint8_t *g, const uint8_t *x, size_t xs, const int32_t *isum, \
                     float *y, int64_t ldy) {                                                               \
        switch (T) {                                                                                        \
            TILE_CASES8(call)                                                                               \
        case 9: call(9); break;                                                                             \
        case 10: call(10); break;                                                                           \
        case 11: call(11); break;                                                                           \
        case 12: call(12); break;                                                                           \
        case 13: call(13); break;                                                                           \
        case 14: call(14); break;                                                                           \
        case 15: call(15); break;                                                                           \
        default: call(16); break;                                                                           \
        }                                                                                                   \
    }
#define C_Q4_0(t) tile32(t, SMELT_TYPE_Q4_0, nb, g, (const struct xa *)x, y, ldy)
#define C_Q4_1(t) tile32(t, SMELT_TYPE_Q4_1, nb, g, (const struct xa *)x, y, ldy)
#define C_Q5_0(t) tile32(t, SMELT_TYPE_Q5_0, nb, g, (const struct xa *)x, y, ldy)
#define C_Q8_0(t) tile32(t, SMELT_TYPE_Q8_0, nb, g, (const struct xa *)x, y, ldy)
#define C_Q4_K(t) tile_q4k(t, nb, g, x, xs, isum, y, ldy)
#define C_Q6_K(t) tile_q6k(t, nb, g, x, xs, y, ldy)
TILE_FN16(mm_q4_0, C_Q4_0)
TILE_FN16(mm_q4_1, C_Q4_1)
TILE_FN16(mm_q5_0, C_Q5_0)
TILE_FN16(mm_q8_0, C_Q8_0)
TILE_FN(mm_q4_k, C_Q4_K)
TILE_FN(mm_q6_k, C_Q6_K)

/* One Q8_0 block (Q8_1 for Q4_1) as struct xa. */
static inline void prep_block(uint32_t type, const uint8_t *blk, struct xa *o) {
    if (type == SMELT_TYPE_Q4_1) {
        const smelt_block_q8_1 *yb = (const smelt_block_q8_1 *)blk;
        o->s = _cvtsh_ss(yb->s);
        o->d = _cvtsh_ss(yb->d);
        memcpy(o->q, yb->qs, 32);
        return;
    }
    const smelt_block_q8_0 *yb = (const smelt_block_q8_0 *)blk;
    const __m256i q = _mm256_loadu_si256((const __m256i *)yb->qs);
    /* exact sum: (q + 128) as unsigned bytes summed, minus the bias */
    const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
    const int32_t sum = (int32_t)(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)) - 32 * 128;
    o->n[0] = -8 * sum;
    o->n[1] = -16 * sum;
    o->n[2] = -128 * sum;
    o->d = _cvtsh_ss(yb->d);
    _mm256_storeu_si256((__m256i *)o->q, q);
}

/* The tile's activations in struct xa form ([nb][T]): Q8_0 rows (Q8_1 for Q4_1). */
static void prep_act(uint32_t type, const uint8_t *x, size_t xs, int T, int64_t nb, struct xa *xa) {
    const size_t bs = type == SMELT_TYPE_Q4_1 ? sizeof(smelt_block_q8_1) : sizeof(smelt_block_q8_0);
    for (int t = 0; t < T; t++)
        for (int64_t b = 0; b < nb; b++) prep_block(type, x + (size_t)t * xs + (size_t)b * bs, xa + b * T + t);
}

/* Q4_K: the activation sums of sub-block pairs of T rows, packed as int16 pairs */
static void pair_sums(const uint8_t *x, size_t xs, int T, int64_t nb, int32_t *pairs) {
    for (int t = 0; t < T; t++) {
        const smelt_block_q8_k *yb = (const smelt_block_q8_k *)(x + (size_t)t * xs);
        for (int64_t b = 0; b < nb; b++)
            for (int q = 0; q < 4; q++) {
                const int16_t *bs = yb[b].bsums + 4 * q;
                const uint32_t lo = (uint16_t)(bs[0] + bs[1]), hi = (uint16_t)(bs[2] + bs[3]);
                pairs[(t * nb + b) * 4 + q] = (int32_t)(lo | hi << 16);
            }
    }
}

#pragma GCC pop_options

void smelt_x16_matmul(uint32_t type, int64_t K, const void *packed, int64_t g0, int64_t g1, const void *xq,
                      size_t xs, int64_t n_tok, float *y, int64_t ldy) {
    const int64_t nb = K / smelt_quant_traits(type)->blck;
    const size_t gsz = smelt_x16_size(type, K, 16);
    void (*fn)(int, int64_t, const uint8_t *, const uint8_t *, size_t, const int32_t *, float *, int64_t);
    switch (type) {
    case SMELT_TYPE_Q4_0: fn = mm_q4_0; break;
    case SMELT_TYPE_Q4_1: fn = mm_q4_1; break;
    case SMELT_TYPE_Q5_0: fn = mm_q5_0; break;
    case SMELT_TYPE_Q8_0: fn = mm_q8_0; break;
    case SMELT_TYPE_Q4_K: fn = mm_q4_k; break;
    case SMELT_TYPE_Q6_K: fn = mm_q6_k; break;
    default: return;
    }
    const bool kq = type == SMELT_TYPE_Q4_K || type == SMELT_TYPE_Q6_K;
    const int tmax = kq ? TMAX : TMAX32;
    /* per token tile: struct xa activations (32-column types) or Q4_K's pair sums */
    _Alignas(64) struct xa xa[TMAX32 * SMELT_X16_MAX_BLOCKS];
    int32_t *pairs = (int32_t *)xa; /* TMAX * 4 * (SMELT_X16_MAX_BLOCKS / 2) ints fit */
    for (int64_t t0 = 0; t0 < n_tok; t0 += tmax) {
        const int T = (int)(n_tok - t0 < tmax ? n_tok - t0 : tmax);
        const uint8_t *x = (const uint8_t *)xq + (size_t)t0 * xs;
        if (!kq) prep_act(type, x, xs, T, nb, xa);
        if (type == SMELT_TYPE_Q4_K) pair_sums(x, xs, T, nb, pairs);
        for (int64_t g = g0; g < g1; g++)
            fn(T, nb, (const uint8_t *)packed + (size_t)g * gsz, kq ? x : (const uint8_t *)xa, xs, pairs,
               y + t0 * ldy + 16 * g, ldy);
    }
}

/* Prepared activations: token t of a batch of n_tok sits in the tile of
 * tokens [16*(t/16), +16) (the last tile may be shorter), laid out like the
 * tiles smelt_x16_matmul prepares for itself. */
static size_t xa_index(int64_t t, int64_t b, int64_t nb, int64_t n_tok) {
    const int64_t t0 = t / TMAX32 * TMAX32, T = n_tok - t0 < TMAX32 ? n_tok - t0 : TMAX32;
    return (size_t)(t0 * nb + b * T + (t - t0));
}

void smelt_x16_xa_prep(uint32_t vdt, const void *row, int64_t K, int64_t t, int64_t n_tok, void *xa) {
    const uint32_t type = vdt == SMELT_TYPE_Q8_1 ? SMELT_TYPE_Q4_1 : SMELT_TYPE_Q8_0;
    const size_t bs = type == SMELT_TYPE_Q4_1 ? sizeof(smelt_block_q8_1) : sizeof(smelt_block_q8_0);
    const int64_t nb = K / 32;
    for (int64_t b = 0; b < nb; b++)
        prep_block(type, (const uint8_t *)row + (size_t)b * bs, (struct xa *)xa + xa_index(t, b, nb, n_tok));
}

void smelt_x16_matmul_xa(uint32_t type, int64_t K, const void *packed, int64_t g0, int64_t g1, const void *xa,
                         int64_t n_tok, float *y, int64_t ldy) {
    const int64_t nb = K / 32;
    const size_t gsz = smelt_x16_size(type, K, 16);
    void (*fn)(int, int64_t, const uint8_t *, const uint8_t *, size_t, const int32_t *, float *, int64_t);
    switch (type) {
    case SMELT_TYPE_Q4_0: fn = mm_q4_0; break;
    case SMELT_TYPE_Q4_1: fn = mm_q4_1; break;
    case SMELT_TYPE_Q5_0: fn = mm_q5_0; break;
    case SMELT_TYPE_Q8_0: fn = mm_q8_0; break;
    default: return;
    }
    for (int64_t t0 = 0; t0 < n_tok; t0 += TMAX32) {
        const int T = (int)(n_tok - t0 < TMAX32 ? n_tok - t0 : TMAX32);
        const uint8_t *xt = (const uint8_t *)((const struct xa *)xa + t0 * nb);
        for (int64_t g = g0; g < g1; g++)
            fn(T, nb, (const uint8_t *)packed + (size_t)g * gsz, xt, 0, NULL, y + t0 * ldy + 16 * g, ldy);
    }
}

/* the AVX-512 tier is active only after its start-up probe ran its VNNI kernels */
bool smelt_x16_available(void) { return smelt_kernels_active_isa() >= SMELT_ISA_AVX512; }

#else
void smelt_x16_matmul(uint32_t type, int64_t K, const void *packed, int64_t g0, int64_t g1, const void *xq,
                      size_t xs, int64_t n_tok, float *y, int64_t ldy) {
    (void)type, (void)K, (void)packed, (void)g0, (void)g1, (void)xq, (void)xs, (void)n_tok, (void)y, (void)ldy;
}
bool smelt_x16_available(void) { return false; }
void smelt_x16_xa_prep(uint32_t vdt, const void *row, int64_t K, int64_t t, int64_t n_tok, void *xa) {
    (void)vdt, (void)row, (void)K, (void)t, (void)n_tok, (void)xa;
}
void smelt_x16_matmul_xa(uint32_t type, int64_t K, const void *packed, int64_t g0, int64_t g1, const void *xa,
                         int64_t n_tok, float *y, int64_t ldy) {
    (void)type, (void)K, (void)packed, (void)g0, (void)g1, (void)xa, (void)n_tok, (void)y, (void)ldy;
}
#endif
