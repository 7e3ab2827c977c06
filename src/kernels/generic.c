/* Generic C tier: portable loops shaped for the compiler's auto-vectorizer
 * (several independent accumulators). The quantized kernels of this tier are
 * the reference ones: without SIMD there is nothing to gain by rewriting them. */
#include "kernels/kernels.h"

static float generic_dot_f32(int64_t n, const float *x, const float *y) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k] * y[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static float generic_vec_dot_f32(int64_t n, const void *x, const void *y) {
    return generic_dot_f32(n, x, y);
}

static float generic_dot_f16(int64_t n, const uint16_t *x, const uint16_t *y) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += smelt_fp16_to_fp32(x[i + k]) * smelt_fp16_to_fp32(y[i + k]);
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += smelt_fp16_to_fp32(x[i]) * smelt_fp16_to_fp32(y[i]);
    return s;
}

static float generic_vec_dot_f16(int64_t n, const void *x, const void *y) {
    return generic_dot_f16(n, x, y);
}

static float generic_vec_dot_bf16(int64_t n, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += smelt_bf16_to_fp32(x[i + k]) * smelt_bf16_to_fp32(y[i + k]);
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += smelt_bf16_to_fp32(x[i]) * smelt_bf16_to_fp32(y[i]);
    return s;
}

void smelt_kernels_fill_generic(struct smelt_kernel_set *ks) {
    ks->dot_f32 = generic_dot_f32;
    ks->dot_f16 = generic_dot_f16;
    ks->vec_dot[SMELT_TYPE_F32] = generic_vec_dot_f32;
    ks->vec_dot[SMELT_TYPE_F16] = generic_vec_dot_f16;
    ks->vec_dot[SMELT_TYPE_BF16] = generic_vec_dot_bf16;
}
