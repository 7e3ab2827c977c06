/* Reference implementations: plain loops, written to be obviously right and to
 * reproduce llama.cpp's reference numerics (see quant_ref.h). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "quant/quant_blocks.h"
#include "quant/quant_ref.h"

#define FP16(h) smelt_fp16_to_fp32(h)

/* ---- F32 / F16 / BF16 ---- */

void smelt_f32_to_float_ref(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
void smelt_f32_from_float_ref(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
void smelt_f16_to_float_ref(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = smelt_fp16_to_fp32(s[i]);
}
void smelt_f16_from_float_ref(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = smelt_fp32_to_fp16(src[i]);
}
void smelt_bf16_to_float_ref(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = smelt_bf16_to_fp32(s[i]);
}
void smelt_bf16_from_float_ref(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = smelt_fp32_to_bf16(src[i]);
}

/* ---- Q4_0: d = max/-8 where max is the element of largest magnitude (first
 * one on ties), q = min(15, trunc(x/d + 8.5)). ---- */

void smelt_q4_0_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q4_0 *y = dst;
    const int qk = SMELT_QK4_0;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < qk; j++) {
            if (amax < fabsf(xb[j])) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = xb[j] * id;
            const float x1 = xb[qk / 2 + j] * id;
            int8_t t0 = (int8_t)(x0 + 8.5f), t1 = (int8_t)(x1 + 8.5f);
            const uint8_t q0 = (uint8_t)(t0 < 15 ? t0 : 15);
            const uint8_t q1 = (uint8_t)(t1 < 15 ? t1 : 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void smelt_q4_0_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q4_0 *x = src;
    const int qk = SMELT_QK4_0;
    for (int64_t i = 0; i < n / qk; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < qk / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0f) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            y[i * qk + j] = (float)x0 * d;
            y[i * qk + qk / 2 + j] = (float)x1 * d;
        }
    }
}

/* ---- Q4_1: d = (max-min)/15, m = min, q = min(15, trunc((x-min)/d + 0.5)). ---- */

void smelt_q4_1_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q4_1 *y = dst;
    const int qk = SMELT_QK4_1;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < qk; j++) {
            if (xb[j] < min) min = xb[j];
            if (xb[j] > max) max = xb[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        y[i].m = smelt_fp32_to_fp16(min);
        for (int j = 0; j < qk / 2; j++) {
            const float x0 = (xb[j] - min) * id;
            const float x1 = (xb[qk / 2 + j] - min) * id;
            int8_t t0 = (int8_t)(x0 + 0.5f), t1 = (int8_t)(x1 + 0.5f);
            const uint8_t q0 = (uint8_t)(t0 < 15 ? t0 : 15);
            const uint8_t q1 = (uint8_t)(t1 < 15 ? t1 : 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void smelt_q4_1_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q4_1 *x = src;
    const int qk = SMELT_QK4_1;
    for (int64_t i = 0; i < n / qk; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < qk / 2; j++) {
            const int x0 = x[i].qs[j] & 0x0f;
            const int x1 = x[i].qs[j] >> 4;
            y[i * qk + j] = (float)x0 * d + m;
            y[i * qk + qk / 2 + j] = (float)x1 * d + m;
        }
    }
}

/* ---- Q5_0: d = max/-16 (max: the element of largest magnitude, first on
 * ties), q = min(31, trunc(x/d + 16.5)); Q5_1: d = (max-min)/31, m = min,
 * q = trunc((x-min)/d + 0.5). Bit 4 of element j goes to bit j of qh. ---- */

static void put_qh(uint8_t qh[4], uint32_t bits) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(bits >> (8 * k));
}
static uint32_t get_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void smelt_q5_0_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q5_0 *y = dst;
    const int qk = SMELT_QK5_0;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < qk; j++) {
            if (amax < fabsf(xb[j])) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; j++) {
            int8_t t0 = (int8_t)(xb[j] * id + 16.5f), t1 = (int8_t)(xb[qk / 2 + j] * id + 16.5f);
            const uint8_t q0 = (uint8_t)(t0 < 31 ? t0 : 31);
            const uint8_t q1 = (uint8_t)(t1 < 31 ? t1 : 31);
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + qk / 2);
        }
        put_qh(y[i].qh, qh);
    }
}

void smelt_q5_0_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q5_0 *x = src;
    const int qk = SMELT_QK5_0;
    for (int64_t i = 0; i < n / qk; i++) {
        const float d = FP16(x[i].d);
        const uint32_t qh = get_qh(x[i].qh);
        for (int j = 0; j < qk / 2; j++) {
            const int x0 = ((x[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4)) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
            y[i * qk + j] = (float)x0 * d;
            y[i * qk + qk / 2 + j] = (float)x1 * d;
        }
    }
}

void smelt_q5_1_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q5_1 *y = dst;
    const int qk = SMELT_QK5_1;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < qk; j++) {
            if (xb[j] < min) min = xb[j];
            if (xb[j] > max) max = xb[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        y[i].m = smelt_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; j++) {
            const uint8_t q0 = (uint8_t)((xb[j] - min) * id + 0.5f);
            const uint8_t q1 = (uint8_t)((xb[qk / 2 + j] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1u) << j;
            qh |= (uint32_t)((q1 >> 4) & 1u) << (j + qk / 2);
        }
        put_qh(y[i].qh, qh);
    }
}

void smelt_q5_1_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q5_1 *x = src;
    const int qk = SMELT_QK5_1;
    for (int64_t i = 0; i < n / qk; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        const uint32_t qh = get_qh(x[i].qh);
        for (int j = 0; j < qk / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            const int x1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            y[i * qk + j] = (float)x0 * d + m;
            y[i * qk + qk / 2 + j] = (float)x1 * d + m;
        }
    }
}

/* ---- Q8_0 / Q8_1: d = amax/127, q = roundf(x/d) (half away from zero). ---- */

void smelt_q8_0_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q8_0 *y = dst;
    const int qk = SMELT_QK8_0;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float amax = 0.0f;
        for (int j = 0; j < qk; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        for (int j = 0; j < qk; j++) y[i].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

void smelt_q8_0_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q8_0 *x = src;
    const int qk = SMELT_QK8_0;
    for (int64_t i = 0; i < n / qk; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < qk; j++) y[i * qk + j] = (float)x[i].qs[j] * d;
    }
}

void smelt_q8_1_from_float_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q8_1 *y = dst;
    const int qk = SMELT_QK8_1;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float amax = 0.0f;
        for (int j = 0; j < qk; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < qk; j++) {
            y[i].qs[j] = (int8_t)roundf(xb[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = smelt_fp32_to_fp16((float)sum * d);
    }
}

/* Run-time activation quantizers (llama.cpp's x86 CPU path): id = 127/amax,
 * round half to even. */
void smelt_q8_0_quantize_act_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q8_0 *y = dst;
    const int qk = SMELT_QK8_0;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float amax = 0.0f;
        for (int j = 0; j < qk; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        for (int j = 0; j < qk; j++) y[i].qs[j] = (int8_t)nearbyintf(xb[j] * id);
    }
}

void smelt_q8_1_quantize_act_ref(const float *x, void *dst, int64_t n) {
    smelt_block_q8_1 *y = dst;
    const int qk = SMELT_QK8_1;
    for (int64_t i = 0; i < n / qk; i++) {
        const float *xb = x + i * qk;
        float amax = 0.0f;
        for (int j = 0; j < qk; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = smelt_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < qk; j++) {
            y[i].qs[j] = (int8_t)nearbyintf(xb[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = smelt_fp32_to_fp16(d * (float)sum);
    }
}

void smelt_q8_1_to_float_ref(const void *src, float *y, int64_t n) {
    const smelt_block_q8_1 *x = src;
    const int qk = SMELT_QK8_1;
    for (int64_t i = 0; i < n / qk; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < qk; j++) y[i * qk + j] = (float)x[i].qs[j] * d;
    }
}

/* ---- dots ---- */

float smelt_vec_dot_f32_ref(int64_t n, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)y[i];
    return (float)s;
}

float smelt_vec_dot_f16_ref(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)FP16(x[i]) * (double)FP16(y[i]);
    return (float)s;
}

float smelt_vec_dot_bf16_ref(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)smelt_bf16_to_fp32(x[i]) * (double)smelt_bf16_to_fp32(y[i]);
    return (float)s;
}

float smelt_vec_dot_q4_0_q8_0_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    const int qk = SMELT_QK8_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / qk; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < qk / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[qk / 2 + j];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi;
    }
    return sumf;
}

float smelt_vec_dot_q4_1_q8_1_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q4_1 *x = vx;
    const smelt_block_q8_1 *y = vy;
    const int qk = SMELT_QK8_1;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / qk; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < qk / 2; j++) {
            sumi += (x[i].qs[j] & 0x0f) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[qk / 2 + j];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    return sumf;
}

float smelt_vec_dot_q5_0_q8_0_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q5_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    const int qk = SMELT_QK8_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / qk; i++) {
        const uint32_t qh = get_qh(x[i].qh);
        int32_t sumi = 0;
        for (int j = 0; j < qk / 2; j++) {
            const int x0 = ((x[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4)) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
            sumi += x0 * y[i].qs[j] + x1 * y[i].qs[qk / 2 + j];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi;
    }
    return sumf;
}

float smelt_vec_dot_q5_1_q8_1_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q5_1 *x = vx;
    const smelt_block_q8_1 *y = vy;
    const int qk = SMELT_QK8_1;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / qk; i++) {
        const uint32_t qh = get_qh(x[i].qh);
        int32_t sumi = 0;
        for (int j = 0; j < qk / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            const int x1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            sumi += x0 * y[i].qs[j] + x1 * y[i].qs[qk / 2 + j];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    return sumf;
}

float smelt_vec_dot_q8_0_q8_0_ref(int64_t n, const void *vx, const void *vy) {
    const smelt_block_q8_0 *x = vx;
    const smelt_block_q8_0 *y = vy;
    const int qk = SMELT_QK8_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / qk; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < qk; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi;
    }
    return sumf;
}

/* ---- vector primitives ---- */

void smelt_vec_mad_f32_ref(int64_t n, float *y, const float *x, float a) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i] * a;
}
void smelt_vec_scale_f32_ref(int64_t n, float *y, float a) {
    for (int64_t i = 0; i < n; i++) y[i] *= a;
}
void smelt_vec_mad_f16_ref(int64_t n, float *y, const uint16_t *x, float a) {
    for (int64_t i = 0; i < n; i++) y[i] += FP16(x[i]) * a;
}
void smelt_fp32_to_fp16_row_ref(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = smelt_fp32_to_fp16(x[i]);
}
void smelt_fp16_to_fp32_row_ref(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = smelt_fp16_to_fp32(x[i]);
}
