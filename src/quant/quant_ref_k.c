/* Reference implementations of the K-quants (Q2_K..Q6_K) and their
 * activation type Q8_K. The quantizers reproduce llama.cpp's
 * quantize_row_q*_K_ref bit for bit: the same search for sub-block scales
 * (make_qx_quants, make_q3_quants, make_qkx2_quants), the same float
 * expressions in the same order, round-half-to-even via nearest_int; the
 * layouts are described in quant_blocks.h. The dots sum integer products per
 * super-block and scale once per super-block in float (like ggml's scalar
 * dots, up to the order of float additions). */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "quant/quant_blocks.h"
#include "quant/quant_ref.h"

#define FP16(h) smelt_fp16_to_fp32(h)
#define QK SMELT_QK_K
#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Round to nearest, ties to even, for |v| <= 2^22 (ggml's nearest_int: the
 * float addition of 1.5*2^23 rounds away the fraction). */
static inline int nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Symmetric quantization of n values to L in [0, 2*nmax), returns the scale.
 * rmse_type 1: weights x^2 and a search over 18 nearby scales (the only
 * variant the K-quant reference quantizers use). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric 3-bit quantization with x^2-weighted coordinate descent (Q3_K). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = imax(-nmax, imin(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric quantization x ~ scale*L - the_min, L in [0, nmax], searching
 * nstep+1 candidate scales for the least weighted error (|.| if use_mad). */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

#define get_scale_min_k4 smelt_k4_scale_min

/* 6-bit signed scale j (0..15) of Q3_K, minus its bias 32. */
static inline int q3k_scale(const uint8_t *s, int j) {
    const int lo = j < 8 ? (s[j] & 0xf) : (s[j - 8] >> 4);
    return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

/* ---- Q8_K: d = max/-127 as a float (max: largest magnitude, first on ties),
 * q = min(127, nearest_int(x * -127/max)), bsums per 16. ---- */

void smelt_q8_k_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q8_k *y = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) amax = ax, max = x[j];
        }
        if (!amax) {
            /* ggml leaves bsums unset here; zero is what they would sum to */
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK; j++) y[i].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
        for (int g = 0; g < QK / 16; g++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += y[i].qs[16 * g + k];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void smelt_q8_k_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q8_k *x = src;
    for (int64_t i = 0; i < n / QK; i++)
        for (int j = 0; j < QK; j++) *y++ = x[i].d * x[i].qs[j];
}

/* ---- Q2_K ---- */

void smelt_q2_k_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q2_k *y = dst;
    uint8_t L[QK], Laux[16];
    float weights[16], mins[QK / 16], scales[QK / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = smelt_fp32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK / 16; j++) y[i].scales[j] = 0;
            y[i].d = smelt_fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK / 16; j++) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = smelt_fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = smelt_fp32_to_fp16(0.f);
        }
        for (int j = 0; j < QK / 16; j++) {
            const float d = FP16(y[i].d) * (y[i].scales[j] & 0xf);
            if (!d) continue;
            const float dm = FP16(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)imax(0, imin(3, l));
            }
        }
        for (int j = 0; j < QK; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

void smelt_q2_k_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q2_k *x = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int h = 0; h < QK / 128; h++, q += 32) {
            for (int s = 0; s < 4; s++) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xf), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * half + l] >> (2 * s)) & 3) - ml;
                }
            }
        }
    }
}

/* ---- Q3_K ---- */

void smelt_q3_k_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q3_k *y = dst;
    int8_t L[QK];
    float scales[QK / 16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = fabsf(scales[j]);
            if (scale > amax) amax = scale, max_scale = scales[j];
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK / 16; j++) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                l = (int8_t)(imax(-32, imin(31, l)) + 32);
                if (j < 8)
                    y[i].scales[j] = l & 0xf;
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 0xf) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = smelt_fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = smelt_fp32_to_fp16(0.f);
        }
        for (int j = 0; j < QK / 16; j++) {
            const float d = FP16(y[i].d) * q3k_scale(y[i].scales, j);
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-4, imin(3, l)) + 4);
            }
        }
        memset(y[i].hmask, 0, QK / 8);
        int m = 0;
        uint8_t hm = 1;
        for (int j = 0; j < QK; j++) {
            if (L[j] > 3) {
                y[i].hmask[m] |= hm;
                L[j] -= 4;
            }
            if (++m == QK / 8) m = 0, hm <<= 1;
        }
        for (int j = 0; j < QK; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

void smelt_q3_k_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q3_k *x = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d_all = FP16(x[i].d);
        const uint8_t *q = x[i].qs;
        uint8_t m = 1;
        int is = 0;
        for (int h = 0; h < QK / 128; h++, q += 32) {
            for (int s = 0; s < 4; s++, m <<= 1) {
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * q3k_scale(x[i].scales, is++);
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        *y++ = dl * (float)((int)((q[l] >> (2 * s)) & 3) - ((x[i].hmask[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

/* ---- Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins ---- */

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): sub-block scales/mins into
 * packed 6-bit form, then the final L against the stored scales. */
static void qkx_superblock(const float *x, int nmax, float rmin, int nstep, uint8_t *L, uint16_t *d_out,
                           uint16_t *dmin_out, uint8_t *packed) {
    uint8_t Laux[32];
    float weights[32], mins[QK / 32], scales[QK / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep,
                                     false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = smelt_fp32_to_fp16(max_scale / 63.f);
    *dmin_out = smelt_fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < QK / 32; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, packed, &sc, &m);
        const float d = FP16(*d_out) * sc;
        if (!d) continue;
        const float dm = FP16(*dmin_out) * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
        }
    }
}

void smelt_q4_k_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q4_k *y = dst;
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        qkx_superblock(x, 15, -1.f, 20, L, &y[i].d, &y[i].dmin, y[i].scales);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void smelt_q4_k_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q4_k *x = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < QK / 64; c++, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void smelt_q5_k_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q5_k *y = dst;
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        qkx_superblock(x, 31, -0.5f, 15, L, &y[i].d, &y[i].dmin, y[i].scales);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, QK / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int c = 0; c < QK; c += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[c + j], l2 = L[c + j + 32];
                if (l1 > 15) l1 -= 16, qh[j] |= m1;
                if (l2 > 15) l2 -= 16, qh[j] |= m2;
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

void smelt_q5_k_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q5_k *x = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int c = 0; c < QK / 64; c++, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* ---- Q6_K ---- */

void smelt_q6_k_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q6_k *y = dst;
    int8_t L[QK];
    float scales[QK / 16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) max_abs_scale = fabsf(scale), max_scale = scale;
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = smelt_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK / 16; ib++) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK / 16; j++) {
            const float d = FP16(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, l)) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf;
                const uint8_t q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

/* q of element 128*h + 32*s + l of a Q6_K block, minus its bias 32. */
static inline int q6k_get(const smelt_block_q6_k *b, int h, int s, int l) {
    const uint8_t lo = b->ql[64 * h + 32 * (s & 1) + l];
    const int nib = s >= 2 ? lo >> 4 : lo & 0xf;
    return (nib | (((b->qh[32 * h + l] >> (2 * s)) & 3) << 4)) - 32;
}

void smelt_q6_k_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q6_k *x = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = FP16(x[i].d);
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) {
                    const int e = 128 * h + 32 * s + l;
                    *y++ = d * x[i].scales[e / 16] * (float)q6k_get(&x[i], h, s, l);
                }
    }
}

/* ---- dots with Q8_K ---- */

/* Sub-block (16 elements) quant of element e of a Q2_K/Q3_K low-bits array. */
static inline int q2_bits(const uint8_t *qs, int e) {
    const int h = e / 128, s = (e % 128) / 32, l = e % 32;
    return (qs[32 * h + l] >> (2 * s)) & 3;
}

float smelt_vec_dot_q2_k_q8_k_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q2_k *x = vx;
    const smelt_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t summs = 0, isum = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int k = 0; k < 16; k++) s += y[i].qs[16 * j + k] * q2_bits(x[i].qs, 16 * j + k);
            isum += (x[i].scales[j] & 0xf) * s;
        }
        const float dall = y[i].d * FP16(x[i].d), dmin = y[i].d * FP16(x[i].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

float smelt_vec_dot_q3_k_q8_k_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q3_k *x = vx;
    const smelt_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int k = 0; k < 16; k++) {
                const int e = 16 * j + k;
                const int hbit = (x[i].hmask[e % 32] >> (e / 32)) & 1;
                s += y[i].qs[e] * (q2_bits(x[i].qs, e) - (hbit ? 0 : 4));
            }
            isum += q3k_scale(x[i].scales, j) * s;
        }
        sumf += FP16(x[i].d) * y[i].d * (float)isum;
    }
    return sumf;
}

/* Q4_K/Q5_K: quant of element e (0..255). */
static inline int q4k_get(const uint8_t *qs, int e) {
    const uint8_t b = qs[32 * (e / 64) + e % 32];
    return (e % 64) < 32 ? b & 0xf : b >> 4;
}

float smelt_vec_dot_q4_k_q8_k_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_k *x = vx;
    const smelt_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t isum = 0, summs = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[i].scales, &sc, &m);
            summs += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
            int32_t s = 0;
            for (int k = 0; k < 32; k++) s += y[i].qs[32 * j + k] * q4k_get(x[i].qs, 32 * j + k);
            isum += sc * s;
        }
        sumf += FP16(x[i].d) * y[i].d * (float)isum;
        sumf -= FP16(x[i].dmin) * y[i].d * (float)summs;
    }
    return sumf;
}

float smelt_vec_dot_q5_k_q8_k_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q5_k *x = vx;
    const smelt_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t isum = 0, summs = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[i].scales, &sc, &m);
            summs += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
            int32_t s = 0;
            for (int k = 0; k < 32; k++) {
                const int e = 32 * j + k;
                const int q = q4k_get(x[i].qs, e) + (((x[i].qh[e % 32] >> j) & 1) << 4);
                s += y[i].qs[e] * q;
            }
            isum += sc * s;
        }
        sumf += FP16(x[i].d) * y[i].d * (float)isum;
        sumf -= FP16(x[i].dmin) * y[i].d * (float)summs;
    }
    return sumf;
}

float smelt_vec_dot_q6_k_q8_k_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q6_k *x = vx;
    const smelt_block_q8_k *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int k = 0; k < 16; k++) {
                const int e = 16 * j + k;
                s += y[i].qs[e] * q6k_get(&x[i], e / 128, (e % 128) / 32, e % 32);
            }
            isum += x[i].scales[j] * s;
        }
        sumf += FP16(x[i].d) * y[i].d * (float)isum;
    }
    return sumf;
}
