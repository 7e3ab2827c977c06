/* Batched attention: gathering the cells, and the plain C reference (attn.h). */
#include "kernels/attn.h"

#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "quant/quant.h"

void smelt_attn_gather(const uint16_t *K, const uint16_t *V, const int32_t *pos, const int32_t *cells, int64_t nc,
                       int64_t j0, int64_t j1, int64_t h0, int64_t h1, int64_t n_blk, int64_t kd, int64_t hd,
                       int64_t ld, float *kt, float *vf, int32_t *cpos) {
    for (int64_t j = j0; j < j1;) {
        if (j >= nc) {
            cpos[j] = INT32_MAX;
            for (int64_t h = h0; h < h1; h++) {
                memset(vf + (h * ld + j) * hd, 0, (size_t)hd * sizeof *vf);
                for (int64_t d = 0; d < hd; d++) kt[(h * hd + d) * ld + j] = 0.0f;
            }
            j++;
            continue;
        }
        /* a run of consecutive cells inside one 64-cell block: its keys are
         * contiguous in every tiled row */
        const int64_t cell = cells[j];
        int64_t len = 1;
        while (j + len < j1 && j + len < nc && cells[j + len] == cell + len &&
               (cell + len) % SMELT_ATTN_PAD != 0)
            len++;
        for (int64_t i = 0; i < len; i++) cpos[j + i] = pos[cell + i];
        for (int64_t h = h0; h < h1; h++) {
            for (int64_t i = 0; i < len; i++)
                smelt_fp16_to_fp32_row(V + (cell + i) * kd + h * hd, vf + (h * ld + j + i) * hd, hd);
            if (len >= 16) {
                for (int64_t d = 0; d < hd; d++)
                    smelt_fp16_to_fp32_row(K + smelt_attn_k_index(cell, h, d, hd, n_blk),
                                           kt + (h * hd + d) * ld + j, len);
                continue;
            }
            for (int64_t i = 0; i < len; i++) { /* short runs: one key column at a time */
                uint16_t col[512];
                float tmp[512];
                for (int64_t d0 = 0; d0 < hd; d0 += 512) {
                    const int64_t m = hd - d0 < 512 ? hd - d0 : 512;
                    const uint16_t *src = K + smelt_attn_k_index(cell + i, h, d0, hd, n_blk);
                    for (int64_t d = 0; d < m; d++) col[d] = src[d * SMELT_ATTN_PAD];
                    smelt_fp16_to_fp32_row(col, tmp, m);
                    for (int64_t d = 0; d < m; d++) kt[(h * hd + d0 + d) * ld + j + i] = tmp[d];
                }
            }
        }
        j += len;
    }
}

static bool visible(int32_t cp, int32_t p, int32_t win) { return cp <= p && (win == 0 || p - cp < win); }

/* the reference reads keys and values from gathered f32 copies or, when kh is
 * set, from the cache's tiled keys and value rows */
struct refsrc {
    const float *kt, *vf;
    const uint16_t *kh, *vh;
    int64_t ld, kd, hd;
};

static float ref_k(const struct refsrc *s, int64_t j, int64_t d) {
    if (s->kh) return smelt_fp16_to_fp32(s->kh[(j / SMELT_ATTN_PAD * s->hd + d) * SMELT_ATTN_PAD + j % SMELT_ATTN_PAD]);
    return s->kt[d * s->ld + j];
}

static float ref_v(const struct refsrc *s, int64_t j, int64_t d) {
    if (s->vh) return smelt_fp16_to_fp32(s->vh[j * s->kd + d]);
    return s->vf[j * s->hd + d];
}

static void ref_rows(int G, int64_t hd, const float *q, int64_t q_stride, const struct refsrc *src,
                     const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale, float *sc, int64_t ld,
                     float *o, int64_t o_stride) {
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
            for (int64_t d = 0; d < hd; d++) acc = fmaf(qg[d], ref_k(src, j, d), acc);
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
            for (int64_t d = 0; d < hd; d++) og[d] = fmaf(pr, ref_v(src, j, d), og[d]);
        }
    }
}

void smelt_attn_rows_ref(int G, int64_t hd, const float *q, int64_t q_stride, const float *kt, int64_t ld,
                         const float *vf, const int32_t *cpos, int64_t nc, int32_t p, int32_t win, float scale,
                         float *sc, float *o, int64_t o_stride) {
    const struct refsrc src = {.kt = kt, .vf = vf, .ld = ld, .hd = hd};
    ref_rows(G, hd, q, q_stride, &src, cpos, nc, p, win, scale, sc, ld, o, o_stride);
}

void smelt_attn_rows_cache_ref(int G, int64_t hd, const float *q, int64_t q_stride, const uint16_t *kh,
                               const uint16_t *vh, int64_t kd, const int32_t *cpos, int64_t nc, int32_t p,
                               int32_t win, float scale, float *sc, int64_t ld, float *o, int64_t o_stride) {
    const struct refsrc src = {.kh = kh, .vh = vh, .kd = kd, .hd = hd};
    ref_rows(G, hd, q, q_stride, &src, cpos, nc, p, win, scale, sc, ld, o, o_stride);
}

bool smelt_attn_available(void) { return smelt_kernels_active_isa() >= SMELT_ISA_AVX512; }
