/* Reference implementations of the non-linear 4-bit types IQ4_NL (blocks of
 * 32, one fp16 scale) and IQ4_XS (super-blocks of 256 with 6-bit sub-block
 * scales). Each 4-bit index selects one of 16 fixed values (kvalues_iq4nl).
 * The quantizers reproduce llama.cpp's quantize_row_iq4_nl_ref /
 * quantize_row_iq4_xs_ref (quantize_row_iq4_nl_impl without importance
 * weights: weights x^2, nearest value by binary search, a scale search over
 * 2*ntry+1 candidates for IQ4_XS and none for IQ4_NL), including one quirk:
 * an all-zero IQ4_NL block keeps the indices of the previous block of the
 * same call (they multiply a zero scale, so the values are 0 either way). */
#include <math.h>
#include <string.h>

#include "quant/quant_blocks.h"
#include "quant/quant_ref.h"

#define FP16(h) smelt_fp16_to_fp32(h)
#define GROUP_MAX_EPS 1e-15f

const int8_t smelt_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static inline int nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Index of the value nearest to x (the upper one on a tie). */
static inline int best_index(float x) {
    const int8_t *v = smelt_kvalues_iq4nl;
    if (x <= v[0]) return 0;
    if (x >= v[15]) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        const int mid = (ml + mu) / 2;
        if (x < v[mid]) mu = mid;
        else ml = mid;
    }
    return x - v[mu - 1] < v[mu] - x ? mu - 1 : mu;
}

/* One super-block of sb elements in sub-blocks of 32 (sb == 32: IQ4_NL). L
 * holds the indices between calls (see the quirk above). */
static void iq4_impl(int sb, const float *x, uint16_t *dh, uint8_t *q4, uint16_t *scales_h, uint8_t *scales_l,
                     uint8_t *L, int ntry) {
    const int8_t *values = smelt_kvalues_iq4nl;
    float scales[SMELT_QK_K / 32], weight[32];
    memset(q4, 0, (size_t)sb / 2);
    *dh = smelt_fp32_to_fp16(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < sb / 32; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            const float ax = fabsf(xb[j]);
            if (ax > amax) amax = ax, max = xb[j];
        }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            continue;
        }
        float d = ntry > 0 ? -max / values[0] : max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            const int l = best_index(id * xb[j]);
            Lb[j] = (uint8_t)l;
            const float q = values[l], w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                const float q = values[best_index(id * xb[j])], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) amax_scale = fabsf(d), max_scale = d;
    }
    if (sb > 32) {
        *scales_h = 0;
        const float d = -max_scale / 32;
        *dh = smelt_fp32_to_fp16(d);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < sb / 32; ib++) {
            int l = nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * l;
            const float idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)best_index(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0) scales_l[ib / 2] = (uint8_t)(l & 0xf);
            else scales_l[ib / 2] |= (uint8_t)((l & 0xf) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * (ib % 8)));
        }
    } else {
        *dh = smelt_fp32_to_fp16(scales[0]);
        if (ntry > 0) { /* the searched scale gets its own indices */
            const float id = scales[0] ? 1 / scales[0] : 0.f;
            for (int j = 0; j < 32; j++) L[j] = (uint8_t)best_index(id * x[j]);
        }
    }
    for (int i = 0; i < sb / 32; i++)
        for (int j = 0; j < 16; j++) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

void smelt_iq4_nl_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_iq4_nl *y = dst;
    uint8_t L[32] = {0};
    for (int64_t i = 0; i < n / SMELT_QK4_NL; i++)
        iq4_impl(32, x + i * SMELT_QK4_NL, &y[i].d, y[i].qs, NULL, NULL, L, -1);
}

/* What llama.cpp's quantize_iq4_nl (used by llama-quantize) does without an
 * imatrix: the same block quantizer with the 2*7+1-candidate scale search. */
void smelt_iq4_nl_from_float_file(const float *x, void *dst, int64_t n) {
    smelt_block_iq4_nl *y = dst;
    uint8_t L[32] = {0};
    for (int64_t i = 0; i < n / SMELT_QK4_NL; i++)
        iq4_impl(32, x + i * SMELT_QK4_NL, &y[i].d, y[i].qs, NULL, NULL, L, 7);
}

void smelt_iq4_nl_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_iq4_nl *x = src;
    for (int64_t i = 0; i < n / SMELT_QK4_NL; i++, y += SMELT_QK4_NL) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * smelt_kvalues_iq4nl[x[i].qs[j] & 0xf];
            y[j + 16] = d * smelt_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

void smelt_iq4_xs_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_iq4_xs *y = dst;
    uint8_t L[SMELT_QK_K] = {0};
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        uint16_t sh;
        iq4_impl(SMELT_QK_K, x + i * SMELT_QK_K, &y[i].d, y[i].qs, &sh, y[i].scales_l, L, 7);
        y[i].scales_h = sh;
    }
}

/* 6-bit scale of sub-block ib, minus its bias 32. */
static inline int iq4xs_scale(const smelt_block_iq4_xs *b, int ib) {
    return (((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

void smelt_iq4_xs_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_iq4_xs *x = src;
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        const float d = FP16(x[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            const float dl = d * iq4xs_scale(&x[i], ib);
            const uint8_t *qs = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * smelt_kvalues_iq4nl[qs[j] & 0xf];
                y[j + 16] = dl * smelt_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

float smelt_vec_dot_iq4_nl_q8_0_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_iq4_nl *x = vx;
    const smelt_block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / SMELT_QK4_NL; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += y[i].qs[j] * smelt_kvalues_iq4nl[x[i].qs[j] & 0xf];
            sumi += y[i].qs[j + 16] * smelt_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
        sumf += (FP16(y[i].d) * FP16(x[i].d)) * (float)sumi;
    }
    return sumf;
}

float smelt_vec_dot_iq4_xs_q8_k_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_iq4_xs *x = vx;
    const smelt_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / SMELT_QK_K; i++) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *qs = x[i].qs + 16 * ib;
            const int8_t *q8 = y[i].qs + 32 * ib;
            int32_t s = 0;
            for (int j = 0; j < 16; j++)
                s += q8[j] * smelt_kvalues_iq4nl[qs[j] & 0xf] + q8[j + 16] * smelt_kvalues_iq4nl[qs[j] >> 4];
            isum += iq4xs_scale(&x[i], ib) * s;
        }
        sumf += FP16(x[i].d) * y[i].d * (float)isum;
    }
    return sumf;
}
