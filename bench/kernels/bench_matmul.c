/* Micro-benchmark: smelt_matmul_rows per weight type and tier (not a test).
 * Build: cc -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/kernels/bench_matmul.c src/quant/ *.c \
 *        src/kernels/ *.c src/base/ *.c -lm -lpthread
 * Run under SMELT_ISA=generic|avx2|avx512 to compare tiers. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
    const int64_t K = 1536, M = 1536; /* K: a multiple of 256 for the K-quants */
    const uint32_t types[] = {SMELT_TYPE_F32,  SMELT_TYPE_F16,  SMELT_TYPE_Q4_0, SMELT_TYPE_Q4_1, SMELT_TYPE_Q8_0,
                              SMELT_TYPE_Q5_0, SMELT_TYPE_Q5_1, SMELT_TYPE_Q2_K, SMELT_TYPE_Q3_K, SMELT_TYPE_Q4_K,
                              SMELT_TYPE_Q5_K, SMELT_TYPE_Q6_K, SMELT_TYPE_IQ4_NL, SMELT_TYPE_IQ4_XS};
    const int64_t ntoks[] = {1, 32};
    float *wf = malloc(M * K * 4), *x = malloc(32 * K * 4), *y = malloc(32 * M * 4);
    for (int64_t i = 0; i < M * K; i++) wf[i] = (float)((i * 7919) % 2001 - 1000) * 1e-4f;
    for (int64_t i = 0; i < 32 * K; i++) x[i] = (float)((i * 104729) % 2001 - 1000) * 1e-3f;
    printf("tier %s, K=%lld M=%lld\n", smelt_kernels_isa(), (long long)K, (long long)M);
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        const struct smelt_type_traits *tr = smelt_quant_traits(types[ti]);
        const size_t wrs = smelt_quant_row_size(tr->type, K), xrs = smelt_quant_row_size(tr->vec_dot_type, K);
        void *w = malloc(M * wrs), *xq = malloc(32 * xrs);
        for (int64_t r = 0; r < M; r++) tr->from_float(wf + r * K, (char *)w + r * wrs, K);
        for (size_t ni = 0; ni < 2; ni++) {
            const int64_t nt = ntoks[ni];
            smelt_quantize_rows(x, nt, K, tr->vec_dot_type, xq);
            int reps = 0;
            double t0 = now(), t;
            do {
                smelt_matmul_rows(w, tr->type, K, 0, M, xq, xrs, nt, y, M);
                reps++;
            } while ((t = now() - t0) < 0.3);
            printf("%-5s n_tok=%-3lld %8.1f us/call  %6.2f GMAC/s\n", tr->name, (long long)nt, t / reps * 1e6,
                   (double)M * K * nt * reps / t * 1e-9);
        }
        free(w), free(xq);
    }
    /* the Q8_K activation quantizer, dispatched vs reference */
    {
        const struct smelt_type_traits *tr = smelt_quant_traits(SMELT_TYPE_Q8_K);
        void *xq = malloc(32 * smelt_quant_row_size(SMELT_TYPE_Q8_K, K));
        for (int pass = 0; pass < 2; pass++) {
            smelt_from_float_fn f = pass ? tr->from_float_ref : tr->from_float;
            int reps = 0;
            double t0 = now(), t;
            do {
                f(x, xq, 32 * K);
                reps++;
            } while ((t = now() - t0) < 0.3);
            printf("Q8_K quantize (%s) %8.1f us per %lld floats\n", pass ? "ref" : "dispatched", t / reps * 1e6,
                   (long long)(32 * K));
        }
        free(xq);
    }
    free(wf), free(x), free(y);
    return 0;
}
