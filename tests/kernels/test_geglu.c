/* smelt_geglu_f16 (the dispatched tier, AVX2 on x86) is bit-identical to its
 * definition: 0 for x <= -10, x for x >= 10, else table[fp16(x)] widened, times
 * u. Every f16 value is fed as x (plus boundaries, infinities, NaN, odd tails),
 * against a random table, so each lookup lands on a checkable entry. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/ggml_numerics.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

static float want(const uint16_t *table, float x, float u) {
    float y;
    if (x <= -10.0f) y = 0.0f;
    else if (x >= 10.0f) y = x;
    else y = smelt_fp16_to_fp32(table[smelt_fp32_to_fp16(x)]);
    return y * u;
}

int main(void) {
    smelt_kernels_init();
    uint16_t *table = malloc(((1 << 16) + 1) * sizeof *table);
    uint32_t r = 7;
    for (int i = 0; i <= (1 << 16); i++) {
        r = r * 1664525u + 1013904223u;
        table[i] = (uint16_t)(r >> 16) & 0x7bff; /* finite f16 values */
    }
    const int64_t n = (1 << 16) + 13;
    float *g = malloc((size_t)n * sizeof *g), *u = malloc((size_t)n * sizeof *u), *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        x[i] = i < (1 << 16) ? smelt_fp16_to_fp32((uint16_t)i) : 0.0f;
        u[i] = 1.0f + (float)(i % 7) * 0.25f;
    }
    const float extra[] = {-10.0f, 10.0f, -9.9999f, 9.9999f, -INFINITY, INFINITY, NAN, 1e-8f, -3.3333333f, 65504.0f,
                           65520.0f, -1e30f, 0.1f};
    memcpy(x + (1 << 16), extra, sizeof extra);
    memcpy(g, x, (size_t)n * sizeof *g);
    smelt_geglu_f16(n, g, u, table);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const float w = want(table, x[i], u[i]);
        if (memcmp(&w, &g[i], sizeof w) != 0 && !(isnan(w) && isnan(g[i]))) {
            if (bad < 5) fprintf(stderr, "x=%g: got %g want %g\n", x[i], g[i], w);
            bad++;
        }
    }
    CHECKF(bad == 0, "%d of %lld outputs differ (tier %s)", bad, (long long)n, smelt_kernels_isa());
    free(table), free(g), free(u), free(x);
    return CHECK_EXIT();
}
