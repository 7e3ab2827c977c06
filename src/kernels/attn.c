/* Batched attention: gathering the cells, and the plain C reference (attn.h). */
#include "kernels/attn.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "quant/quant.h"

void smelt_attn_gather(const uint16_t *K, const uint16_t *V, const int32_t *pos, const int32_t *cells, int64_t nc,
                       int64_t j0, int64_t j1, int64_t n_kv, int64_t hd, int64_t ld, float *kt, float *vf,
                       int32_t *cpos) {
    const int64_t kd = n_kv * hd;
    for (int64_t j = j0; j < j1; j++) {
        if (j >= nc) {
            cpos[j] = INT32_MAX;
            for (int64_t h = 0; h < n_kv; h++) {
                memset(vf + (h * ld + j) * hd, 0, (size_t)hd * sizeof *vf);
                for (int64_t d = 0; d < hd; d++) kt[(h * hd + d) * ld + j] = 0.0f;
            }
            continue;
        }
        const int64_t cell = cells[j];
        cpos[j] = pos[cell];
        for (int64_t h = 0; h < n_kv; h++) {
            smelt_fp16_to_fp32_row(V + cell * kd + h * hd, vf + (h * ld + j) * hd, hd);
            /* the key row, converted 64 dimensions at a time, then transposed */
            float tmp[64];
            for (int64_t d0 = 0; d0 < hd; d0 += 64) {
                const int64_t m = hd - d0 < 64 ? hd - d0 : 64;
                smelt_fp16_to_fp32_row(K + cell * kd + h * hd + d0, tmp, m);
                for (int64_t d = 0; d < m; d++) kt[(h * hd + d0 + d) * ld + j] = tmp[d];
            }
        }
    }
}

static bool visible(int32_t cp, int32_t p, int32_t win) { return cp <= p && (win == 0 || p - cp < win); }

void smelt_attn_rows_ref(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                         const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale,
                         float *sc, float *o, int64_t o_stride) {
    for (int g = 0; g < G; g++) {
        const float *qg = q + g * q_stride;
        float *s = sc + g * ld, *og = o + g * o_stride;
        float mx = -INFINITY;
        for (int64_t j = 0; j < nc; j++) {
            if (!visible(cpos[j], p, win)) {
                s[j] = -INFINITY;
                continue;
            }
            float acc = 0.0f;
            for (int64_t d = 0; d < hd; d++) acc = fmaf(qg[d], kt[d * ld + j], acc);
            s[j] = acc * scale;
            if (s[j] > mx) mx = s[j];
        }
        memset(og, 0, (size_t)hd * sizeof *og);
        if (mx == -INFINITY) continue;
        float sum = 0.0f;
        for (int64_t j = 0; j < nc; j++) {
            s[j] = s[j] == -INFINITY ? 0.0f : expf(s[j] - mx);
            sum += s[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < nc; j++) {
            if (s[j] == 0.0f) continue;
            const float pr = smelt_fp16_to_fp32(smelt_fp32_to_fp16(s[j] * inv));
            for (int64_t d = 0; d < hd; d++) og[d] = fmaf(pr, vf[j * hd + d], og[d]);
        }
    }
}

bool smelt_attn_available(void) { return smelt_kernels_active_isa() >= SMELT_ISA_AVX512; }
