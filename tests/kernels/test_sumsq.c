/* smelt_sumsq_f64 (RMSNorm's sum of squares): in order it is the plain
 * sequential double sum llama.cpp uses; in lanes (the AVX-512 tier) the
 * dispatched kernel is bit-identical to smelt_sumsq_f64_lanes_ref for every
 * length 0..1100 including the tails, and within 1e-13 relative of the
 * in-order sum. Also run with SMELT_ISA=generic (the C lane order). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "rng.h"
#include "kernels/ggml_numerics.h"
#include "kernels/kernels.h"

int main(void) {
    smelt_kernels_init();
    uint64_t rng = 0x2545f4914f6cdd1dull;
    float *x = malloc(1100 * sizeof *x);
    int bad_lanes = 0, bad_order = 0;
    double worst = 0;
    for (int n = 0; n <= 1100; n++) {
        for (int i = 0; i < n; i++) x[i] = test_frand(&rng) * (i % 97 == 0 ? 40.0f : 1.5f); /* some outliers */
        double seq = 0;
        for (int i = 0; i < n; i++) seq += (double)(x[i] * x[i]);
        bad_order += smelt_sumsq_f64(x, n, false) != seq;
        const double lanes = smelt_sumsq_f64(x, n, true);
        bad_lanes += lanes != smelt_sumsq_f64_lanes_ref(x, n);
        if (seq > 0) worst = fmax(worst, fabs(lanes - seq) / seq);
    }
    CHECKF(bad_order == 0, "in order: %d lengths differ from the sequential sum", bad_order);
    CHECKF(bad_lanes == 0, "lanes: %d lengths differ from the reference lane order", bad_lanes);
    CHECKF(worst < 1e-13, "lanes vs in order: relative difference %g", worst);
    printf("sumsq: lanes vs in order max relative difference %g\n", worst);
    free(x);
    return CHECK_EXIT();
}
