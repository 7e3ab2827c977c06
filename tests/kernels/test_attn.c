/* Batched attention (src/kernels/attn.h): the AVX-512 rows agree with the C
 * reference within float rounding for head sizes 64/128/256, 1..6 query heads
 * per KV head, causal masks, sliding windows, unordered cell lists, a query
 * that sees nothing, and padding; the gather converts and transposes the
 * cache's tiled keys exactly; read in place, the cache gives the same bits as
 * the gathered copies, and never lets through what lies past the cells in use.
 * Exit 77 (skipped) where the AVX-512 tier is not active. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { return test_frand(&rng); }

/* Keys in the cache's tiled layout (attn.h), from row-major keys: cells
 * [0, ncell) of a cache of n_blk blocks; cells past ncell hold NaN, which the
 * kernels must never let through. */
static uint16_t *tile_keys(const uint16_t *K, int64_t ncell, int64_t n_blk, int64_t n_kv, int64_t hd) {
    uint16_t *T = malloc((size_t)(n_blk * 64 * n_kv * hd) * 2);
    for (int64_t cell = 0; cell < n_blk * 64; cell++)
        for (int64_t h = 0; h < n_kv; h++)
            for (int64_t d = 0; d < hd; d++)
                T[smelt_attn_k_index(cell, h, d, hd, n_blk)] = cell < ncell ? K[(cell * n_kv + h) * hd + d] : 0x7e00;
    return T;
}

static void run(int64_t hd, int G, int64_t n_kv, int64_t nc, int32_t win, bool shuffle) {
    const int64_t kd = n_kv * hd, ncell = nc + 7, ld = (nc + 63) / 64 * 64 + 64, n_blk = (ncell + 63) / 64 + 1;
    uint16_t *K = malloc((size_t)(ncell * kd) * 2), *V = malloc((size_t)(n_blk * 64 * kd) * 2);
    int32_t *pos = malloc((size_t)ncell * 4), *cells = malloc((size_t)nc * 4), *cpos = malloc((size_t)ld * 4);
    float *kt = malloc((size_t)(kd * ld) * 4), *vf = malloc((size_t)(kd * ld) * 4);
    float *q = malloc((size_t)(G * hd) * 4), *sc = malloc((size_t)(G * ld) * 4), *sr = malloc((size_t)(G * ld) * 4);
    float *o = malloc((size_t)(G * hd) * 4), *orf = malloc((size_t)(G * hd) * 4), *oc = malloc((size_t)(G * hd) * 4);
    for (int64_t i = 0; i < ncell * kd; i++) {
        K[i] = smelt_fp32_to_fp16(frand() * 2.0f);
        V[i] = smelt_fp32_to_fp16(frand());
    }
    for (int64_t i = ncell * kd; i < n_blk * 64 * kd; i++) V[i] = 0x7e00; /* NaN past the cells in use */
    uint16_t *Kt = tile_keys(K, ncell, n_blk, n_kv, hd);
    for (int64_t i = 0; i < ncell; i++) pos[i] = (int32_t)i;
    for (int64_t j = 0; j < nc; j++) cells[j] = (int32_t)(j + 3); /* cells 3.. hold positions 3.. */
    if (shuffle)
        for (int64_t j = nc - 1; j > 0; j--) {
            const int64_t k = (int64_t)((frand() * 0.5f + 0.5f) * (float)j);
            const int32_t t = cells[j];
            cells[j] = cells[k];
            cells[k] = t;
        }
    const int64_t npad = (nc + 63) / 64 * 64;
    /* two threads' halves, the second half with the heads in two calls */
    smelt_attn_gather(Kt, V, pos, cells, nc, 0, npad / 2, 0, n_kv, n_blk, kd, hd, ld, kt, vf, cpos);
    smelt_attn_gather(Kt, V, pos, cells, nc, npad / 2, npad, 0, n_kv / 2, n_blk, kd, hd, ld, kt, vf, cpos);
    smelt_attn_gather(Kt, V, pos, cells, nc, npad / 2, npad, n_kv / 2, n_kv, n_blk, kd, hd, ld, kt, vf, cpos);
    int bad_gather = 0;
    for (int64_t h = 0; h < n_kv; h++)
        for (int64_t j = 0; j < npad; j++)
            for (int64_t d = 0; d < hd; d++) {
                const float wk = j < nc ? smelt_fp16_to_fp32(K[cells[j] * kd + h * hd + d]) : 0.0f;
                const float wv = j < nc ? smelt_fp16_to_fp32(V[cells[j] * kd + h * hd + d]) : 0.0f;
                bad_gather += kt[(h * hd + d) * ld + j] != wk || vf[(h * ld + j) * hd + d] != wv;
            }
    for (int64_t j = 0; j < npad; j++) bad_gather += cpos[j] != (j < nc ? pos[cells[j]] : INT32_MAX);
    CHECKF(bad_gather == 0, "gather: %d wrong entries", bad_gather);
    const int32_t ps[] = {0, 2, 3, 5, (int32_t)(nc / 2), (int32_t)nc + 2, (int32_t)nc + 40};
    const float scale = 1.0f / sqrtf((float)hd);
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++)
        for (int64_t h = 0; h < n_kv; h++) {
            for (int64_t i = 0; i < G * hd; i++) q[i] = smelt_fp16_to_fp32(smelt_fp32_to_fp16(frand() * 3.0f));
            const float *kth = kt + h * hd * ld, *vfh = vf + h * ld * hd;
            smelt_attn_rows(G, hd, q, hd, kth, ld, vfh, cpos, nc, ps[pi], win, scale, sc, o, hd);
            smelt_attn_rows_ref(G, hd, q, hd, kth, ld, vfh, cpos, nc, ps[pi], win, scale, sr, orf, hd);
            float err = 0.0f, mag = 0.0f;
            for (int64_t i = 0; i < G * hd; i++) {
                err = fmaxf(err, fabsf(o[i] - orf[i]));
                mag = fmaxf(mag, fabsf(orf[i]));
            }
            /* probabilities are f16-rounded: a tie-near product may round one f16 step apart */
            CHECKF(err <= 2e-4f * (mag + 1e-3f), "hd=%lld G=%d nc=%lld win=%d p=%d: max err %g (max |o| %g)",
                   (long long)hd, G, (long long)nc, win, ps[pi], err, mag);
            if (ps[pi] < 3) /* positions 0..2 are not in the list: nothing visible */
                for (int64_t i = 0; i < G * hd; i++) CHECK(o[i] == 0.0f);
            if (shuffle) continue;
            /* the same cells read in place from the block at cell 64: identical to
             * the gathered call on those cells (cells 64.. hold positions 64..) */
            if (ncell <= 65) continue;
            const int64_t c0 = 64, n2 = ncell - c0 < nc ? ncell - c0 : nc;
            int32_t cl[2048];
            for (int64_t j = 0; j < n2; j++) cl[j] = (int32_t)(c0 + j);
            smelt_attn_gather(Kt, V, pos, cl, n2, 0, (n2 + 63) / 64 * 64, h, h + 1, n_blk, kd, hd, ld, kt, vf, cpos);
            const int32_t p2 = ps[pi] + 64;
            smelt_attn_rows(G, hd, q, hd, kth, ld, vfh, cpos, n2, p2, win, scale, sc, o, hd);
            smelt_attn_rows_cache(G, hd, q, hd, Kt + smelt_attn_k_index(c0, h, 0, hd, n_blk), V + c0 * kd + h * hd,
                                  kd, pos + c0, n2, p2, win, scale, sr, ld, oc, hd);
            CHECKF(memcmp(o, oc, (size_t)(G * hd) * 4) == 0, "in place != gathered: hd=%lld G=%d nc=%lld p=%d",
                   (long long)hd, G, (long long)n2, p2);
            smelt_attn_rows_cache_ref(G, hd, q, hd, Kt + smelt_attn_k_index(c0, h, 0, hd, n_blk),
                                      V + c0 * kd + h * hd, kd, pos + c0, n2, p2, win, scale, sr, ld, orf, hd);
            err = mag = 0.0f;
            for (int64_t i = 0; i < G * hd; i++) {
                err = fmaxf(err, fabsf(oc[i] - orf[i]));
                mag = fmaxf(mag, fabsf(orf[i]));
            }
            CHECKF(err <= 2e-4f * (mag + 1e-3f), "in place vs ref: max err %g (max |o| %g)", err, mag);
        }
    free(K), free(Kt), free(V), free(pos), free(cells), free(cpos), free(kt), free(vf), free(q), free(sc), free(sr),
        free(o), free(orf), free(oc);
}

int main(void) {
    smelt_kernels_init();
    if (!smelt_attn_available()) {
        fprintf(stderr, "test_attn: AVX-512 tier not active here; skipped\n");
        return 77;
    }
    run(64, 3, 3, 200, 0, false);
    run(64, 1, 2, 64, 0, true);
    run(64, 6, 1, 130, 17, true);
    run(128, 2, 2, 77, 0, false);
    run(256, 4, 1, 300, 64, false);
    run(256, 5, 1, 1, 0, false);
    run(64, 4, 1, 700, 0, false); /* in place over several blocks */
    run(64, 3, 2, 191, 100, false);
    return CHECK_EXIT();
}
