/* x16 weight layout (src/kernels/x16.h): the AVX-512 VNNI matmul over packed
 * weights is bit-identical to smelt_x16_dot_ref on the original rows, for every
 * packed type, odd block counts, token counts across the 8-token tile, partial
 * row ranges and guard values around the output (and, for the 32-column types,
 * with the activations prepared once per token); the reference agrees with the
 * type's own vec_dot_ref to float rounding. Exit 77 (skipped) without AVX-512. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "kernels/kernels.h"
#include "kernels/x16.h"
#include "quant/quant.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) { return test_frand(&rng); }

static void run(uint32_t type, int64_t K, int64_t M, int64_t n_tok) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type), *vt = smelt_quant_traits(tr->vec_dot_type);
    const size_t rs = smelt_quant_row_size(type, K), xs = smelt_quant_row_size(tr->vec_dot_type, K) + 8;
    float *f = malloc((size_t)(K * (M > n_tok ? M : n_tok)) * sizeof *f);
    uint8_t *w = malloc(rs * (size_t)M), *x = calloc((size_t)n_tok, xs);
    uint8_t *pk = malloc(smelt_x16_size(type, K, M));
    const int64_t ldy = M + 5;
    float *y = malloc((size_t)(n_tok * ldy) * sizeof *y);
    for (int64_t r = 0; r < M; r++) {
        const float amp = r % 7 == 3 ? 40.0f : 1.0f + (float)r * 0.1f;
        for (int64_t k = 0; k < K; k++) f[r * K + k] = frand() * amp + (r % 5 == 1 ? 0.3f * amp : 0.0f);
        tr->from_float_ref(f + r * K, w + (size_t)r * rs, K);
    }
    for (int64_t t = 0; t < n_tok; t++) {
        for (int64_t k = 0; k < K; k++) f[k] = frand() * (t % 3 == 2 ? 100.0f : 1.0f) - (t % 4 == 1 ? 0.5f : 0.0f);
        vt->quantize_act_ref(f, x + (size_t)t * xs, K);
    }
    smelt_x16_pack(type, K, M, w, pk);
    /* groups [1, G-1) when there are 3+, else all */
    const int64_t G = M / 16, g0 = G >= 3 ? 1 : 0, g1 = G >= 3 ? G - 1 : G;
    for (int64_t i = 0; i < n_tok * ldy; i++) y[i] = -7.25f;
    smelt_x16_matmul(type, K, pk, g0, g1, x, xs, n_tok, y, ldy);
    int bad = 0, far = 0;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < ldy; r++) {
            const float got = y[t * ldy + r];
            if (r < 16 * g0 || r >= 16 * g1) {
                bad += got != -7.25f; /* outside the range: untouched */
                continue;
            }
            const void *wr = w + (size_t)r * rs, *xr = x + (size_t)t * xs;
            const float want = smelt_x16_dot_ref(type, K, wr, xr);
            if (memcmp(&got, &want, sizeof got) != 0) {
                if (bad < 3) fprintf(stderr, "%s K=%lld row %lld tok %lld: %.9g vs ref %.9g\n", smelt_type_name(type),
                                     (long long)K, (long long)r, (long long)t, got, want);
                bad++;
            }
            /* the reference is the type's own dot in another order */
            const float other = tr->vec_dot_ref(K, wr, xr);
            if (fabsf(want - other) > 2e-5f * (fabsf(other) + 1.0f) + 1e-4f * fabsf(want)) {
                if (far < 3) fprintf(stderr, "%s: ref %.9g vs vec_dot_ref %.9g\n", smelt_type_name(type), want, other);
                far++;
            }
        }
    /* activations prepared once per token (smelt_x16_matmul_xa): the same bits */
    if (K % 32 == 0 && (tr->vec_dot_type == SMELT_TYPE_Q8_0 || tr->vec_dot_type == SMELT_TYPE_Q8_1)) {
        uint8_t *xa = malloc((size_t)(n_tok * (K / 32)) * SMELT_X16_XA_BYTES);
        float *y2 = malloc((size_t)(n_tok * ldy) * sizeof *y2);
        for (int64_t i = 0; i < n_tok * ldy; i++) y2[i] = -7.25f;
        for (int64_t t = n_tok - 1; t >= 0; t--) /* any order */
            smelt_x16_xa_prep(tr->vec_dot_type, x + (size_t)t * xs, K, t, n_tok, xa);
        smelt_x16_matmul_xa(type, K, pk, g0, g1, xa, n_tok, y2, ldy);
        CHECKF(memcmp(y, y2, (size_t)(n_tok * ldy) * sizeof *y) == 0, "%s K=%lld n_tok=%lld: prepared != per call",
               smelt_type_name(type), (long long)K, (long long)n_tok);
        free(xa), free(y2);
    }
    /* rows back out of the packed form = to_float_ref of the original rows */
    if (smelt_x16_has_rows(type)) {
        float *a = malloc((size_t)K * sizeof *a), *b = malloc((size_t)K * sizeof *b);
        int rows_bad = 0;
        for (int64_t r = 0; r < M; r++) {
            tr->to_float_ref(w + (size_t)r * rs, a, K);
            CHECK(smelt_x16_row_to_float(type, K, pk, r, b));
            rows_bad += memcmp(a, b, (size_t)K * sizeof *a) != 0;
        }
        CHECKF(rows_bad == 0, "%s: %d rows differ from to_float_ref", smelt_type_name(type), rows_bad);
        free(a), free(b);
    } else {
        CHECK(!smelt_x16_row_to_float(type, K, pk, 0, f));
    }
    CHECKF(bad == 0, "%s K=%lld M=%lld n_tok=%lld: %d outputs differ", smelt_type_name(type), (long long)K,
           (long long)M, (long long)n_tok, bad);
    CHECKF(far == 0, "%s K=%lld: %d references far from vec_dot_ref", smelt_type_name(type), (long long)K, far);
    free(f), free(w), free(x), free(pk), free(y);
}

int main(void) {
    smelt_kernels_init();
    if (!smelt_x16_available()) {
        fprintf(stderr, "test_x16: AVX-512 VNNI tier not active here; skipped\n");
        return 77;
    }
    const uint32_t t32[] = {SMELT_TYPE_Q4_0, SMELT_TYPE_Q4_1, SMELT_TYPE_Q5_0, SMELT_TYPE_Q8_0};
    const uint32_t t256[] = {SMELT_TYPE_Q4_K, SMELT_TYPE_Q6_K};
    const int64_t toks[] = {1, 3, 8, 11, 17};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) {
            run(t32[i], 32 * 7, 48, toks[j]);
            run(t32[i], 576, 32, toks[j]);
        }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 5; j++) {
            run(t256[i], 256 * 3, 48, toks[j]);
            run(t256[i], 256, 16, toks[j]);
        }
    CHECK(!smelt_x16_supported(SMELT_TYPE_Q4_0, 64, 24));  /* rows not a multiple of 16 */
    CHECK(!smelt_x16_supported(SMELT_TYPE_Q4_K, 320, 32)); /* K not a multiple of 256 */
    CHECK(!smelt_x16_supported(SMELT_TYPE_Q5_1, 64, 32));  /* type without a layout */
    CHECK(!smelt_x16_supported(SMELT_TYPE_Q8_0, 32 * (SMELT_X16_MAX_BLOCKS + 1), 16));
    CHECK(!smelt_x16_supported(SMELT_TYPE_Q4_K, 256 * (SMELT_X16_MAX_BLOCKS / 2 + 1), 16));
    CHECK(smelt_x16_supported(SMELT_TYPE_Q6_K, 256 * SMELT_X16_MAX_BLOCKS, 16));
    CHECK(smelt_x16_size(SMELT_TYPE_Q4_1, 64, 32) == smelt_quant_row_size(SMELT_TYPE_Q4_1, 64) * 32);
    return CHECK_EXIT();
}
