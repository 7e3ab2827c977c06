/* Micro-benchmark: smelt_matmul_rows per weight type, shape, token count and
 * thread count (not a test).
 * Build: cc -O3 -D_GNU_SOURCE -Iinclude -Isrc bench/kernels/bench_matmul.c src/quant/ *.c \
 *        src/kernels/ *.c src/base/ *.c -lm -lpthread
 *   (or link build-x/libsmelt.a: cc -O3 -D_GNU_SOURCE -Iinclude -Isrc bench/kernels/bench_matmul.c
 *    build-x/libsmelt.a -lm -lpthread)
 * Usage: bench_matmul [types|smollm2|gemma] [-t THREADS] [-n N1,N2,..] [-s SECONDS]
 *   types   every type at 1536x1536 (default)
 *   smollm2 SmolLM2-135M shapes (Q4_1 layers, Q8_0 output)
 *   gemma   gemma-3-270m shapes (Q5_0, Q4_K, Q6_K, Q8_0)
 *   TYPE K M  one shape, e.g. q4_1 576 1536
 * THREADS 2 splits the rows in two halves like the model does (one barrier per call).
 * Run under SMELT_ISA=generic|avx2|avx512 to compare tiers and SMELT_MATMUL=dot
 * to compare the tiled matmul with one vec_dot per output (SMELT_MATMUL=x16: the
 * AVX-512 kernels over x16-packed weights, smelt_x16_matmul, where the type has one). Each figure is the
 * best of several timing rounds (the machine is shared). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kernels/kernels.h"
#include "kernels/x16.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct job {
    const void *w;
    uint32_t type;
    int64_t K, M, nt;
    const void *xq;
    size_t xrs;
    float *y;
    int nth;
    int reps;
    pthread_barrier_t *bar;
    const void *packed; /* x16-packed weight (SMELT_MATMUL=x16), else NULL */
};

struct targ {
    struct job *j;
    int ith;
};

static void run_part(const struct job *j, int ith) {
    if (j->packed) { /* row groups of 16 split between the threads */
        const int64_t ng = j->M / 16, per = (ng + j->nth - 1) / j->nth;
        const int64_t g0 = per * ith, g1 = g0 + per < ng ? g0 + per : ng;
        if (g0 < g1) smelt_x16_matmul(j->type, j->K, j->packed, g0, g1, j->xq, j->xrs, j->nt, j->y, j->M);
        return;
    }
    const int64_t per = (j->M + j->nth - 1) / j->nth;
    const int64_t r0 = per * ith, r1 = r0 + per < j->M ? r0 + per : j->M;
    smelt_matmul_rows(j->w, j->type, j->K, r0, r1, j->xq, j->xrs, j->nt, j->y, j->M,
                      smelt_matmul_path(j->type, j->M));
}

static void *worker(void *p) {
    struct targ *a = p;
    for (int r = 0; r < a->j->reps; r++) {
        pthread_barrier_wait(a->j->bar);
        run_part(a->j, a->ith);
        pthread_barrier_wait(a->j->bar);
    }
    return NULL;
}

/* best time per call over rounds of ~secs/5 each */
static double time_job(struct job *j, double secs) {
    double best = 1e30;
    int reps = 1;
    { /* calibrate: rounds of ~secs/5 */
        double t0 = now();
        for (int k = 0; k < j->nth; k++) run_part(j, k);
        double dt = now() - t0;
        reps = (int)(secs / 5 / (dt > 1e-7 ? dt : 1e-7));
        if (reps < 1) reps = 1;
    }
    const double tend = now() + secs;
    do {
        double dt;
        if (j->nth == 1) {
            double t0 = now();
            for (int r = 0; r < reps; r++) run_part(j, 0);
            dt = now() - t0;
        } else {
            pthread_barrier_t bar;
            pthread_barrier_init(&bar, NULL, (unsigned)j->nth);
            j->bar = &bar;
            j->reps = reps;
            pthread_t th[8];
            struct targ args[8];
            for (int k = 1; k < j->nth; k++) {
                args[k] = (struct targ){j, k};
                pthread_create(&th[k], NULL, worker, &args[k]);
            }
            double t0 = now();
            for (int r = 0; r < reps; r++) {
                pthread_barrier_wait(&bar);
                run_part(j, 0);
                pthread_barrier_wait(&bar);
            }
            dt = now() - t0;
            for (int k = 1; k < j->nth; k++) pthread_join(th[k], NULL);
            pthread_barrier_destroy(&bar);
        }
        if (dt / reps < best) best = dt / reps;
    } while (now() < tend);
    return best;
}

static void bench_one(uint32_t type, int64_t K, int64_t M, const int64_t *nts, int n_nt, int nth, double secs) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    int64_t ntmax = 1;
    for (int i = 0; i < n_nt; i++) ntmax = nts[i] > ntmax ? nts[i] : ntmax;
    const size_t wrs = smelt_quant_row_size(type, K), xrs = smelt_quant_row_size(tr->vec_dot_type, K);
    float *wf = malloc((size_t)K * sizeof(float)), *x = malloc((size_t)(ntmax * K) * sizeof(float));
    float *y = malloc((size_t)(ntmax * M) * sizeof(float));
    char *w = malloc((size_t)M * wrs), *xq = malloc((size_t)ntmax * xrs);
    for (int64_t r = 0; r < M; r++) {
        for (int64_t i = 0; i < K; i++) wf[i] = (float)(((r * K + i) * 7919) % 2001 - 1000) * 1e-4f;
        tr->from_float(wf, w + r * wrs, K);
    }
    for (int64_t i = 0; i < ntmax * K; i++) x[i] = (float)((i * 104729) % 2001 - 1000) * 1e-3f;
    smelt_quantize_rows(x, ntmax, K, tr->vec_dot_type, xq);
    void *packed = NULL;
    const char *mm = getenv("SMELT_MATMUL");
    if (mm && strcmp(mm, "x16") == 0) {
        if (!smelt_x16_available() || !smelt_x16_supported(type, K, M)) {
            printf("%-6s K=%-5lld M=%-6lld: no x16 kernel here\n", tr->name, (long long)K, (long long)M);
            free(wf), free(x), free(y), free(w), free(xq);
            return;
        }
        packed = malloc(smelt_x16_size(type, K, M));
        smelt_x16_pack(type, K, M, w, packed);
    }
    for (int i = 0; i < n_nt; i++) {
        struct job j = {w, type, K, M, nts[i], xq, xrs, y, nth, 0, NULL, packed};
        const double t = time_job(&j, secs);
        printf("%-6s K=%-5lld M=%-6lld n_tok=%-4lld thr=%d %10.1f us/call %7.2f GMAC/s %6.2f GB/s(w)\n", tr->name,
               (long long)K, (long long)M, (long long)nts[i], nth, t * 1e6, (double)M * K * nts[i] / t * 1e-9,
               (double)M * wrs / t * 1e-9);
        fflush(stdout);
    }
    free(wf), free(x), free(y), free(w), free(xq), free(packed);
}

int main(int argc, char **argv) {
    const char *mode = "types";
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    int nth = 1;
    double secs = 0.5;
    int64_t nts[32] = {1, 32};
    int n_nt = 2;
    bool nt_given = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) nth = atoi(argv[++i]);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) secs = atof(argv[++i]);
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n_nt = 0;
            nt_given = true;
            for (char *p = argv[++i]; *p && n_nt < 32;) {
                nts[n_nt++] = strtoll(p, &p, 10);
                if (*p == ',') p++;
            }
        } else if (npos < 3) pos[npos++] = argv[i];
    }
    if (npos >= 1) mode = pos[0];
    if (npos == 3) {
        for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
            const struct smelt_type_traits *tr = smelt_quant_traits(t);
            if (tr && tr->vec_dot && strcasecmp(tr->name, pos[0]) == 0) {
                printf("tier %s, SMELT_MATMUL=%s, threads %d\n", smelt_kernels_isa(),
                       getenv("SMELT_MATMUL") ? getenv("SMELT_MATMUL") : "(tiled)", nth);
                bench_one(t, atoll(pos[1]), atoll(pos[2]), nts, n_nt, nth, secs);
                return 0;
            }
        }
        fprintf(stderr, "unknown type %s\n", pos[0]);
        return 1;
    }
    if (nth < 1 || nth > 8) nth = 1;
    printf("tier %s, SMELT_MATMUL=%s, threads %d\n", smelt_kernels_isa(),
           getenv("SMELT_MATMUL") ? getenv("SMELT_MATMUL") : "(tiled)", nth);
    if (strcmp(mode, "smollm2") == 0 || strcmp(mode, "gemma") == 0) {
        if (!nt_given) {
            const int64_t d[] = {1, 16, 64, 512};
            memcpy(nts, d, sizeof d);
            n_nt = 4;
        }
        struct shape {
            uint32_t type;
            int64_t K, M;
        };
        const struct shape sm[] = {{SMELT_TYPE_Q4_1, 576, 576},  {SMELT_TYPE_Q4_1, 576, 192},
                                   {SMELT_TYPE_Q4_1, 576, 1536}, {SMELT_TYPE_Q4_1, 1536, 576},
                                   {SMELT_TYPE_Q8_0, 576, 49152}};
        const struct shape gm[] = {{SMELT_TYPE_Q5_0, 640, 1024}, {SMELT_TYPE_Q5_0, 640, 2048}, {SMELT_TYPE_Q4_K, 1024, 640},
                                   {SMELT_TYPE_Q4_K, 2048, 640}, {SMELT_TYPE_Q6_K, 2048, 640}, {SMELT_TYPE_Q8_0, 640, 256},
                                   {SMELT_TYPE_Q8_0, 640, 262144}};
        const bool g = strcmp(mode, "gemma") == 0;
        const struct shape *s = g ? gm : sm;
        const int ns = g ? (int)(sizeof gm / sizeof *gm) : (int)(sizeof sm / sizeof *sm);
        for (int i = 0; i < ns; i++) {
            int64_t nn[32];
            int k = 0;
            for (int q = 0; q < n_nt; q++) /* the output matrix: decode and small batches only */
                if (s[i].M < 100000 || nts[q] <= 16) nn[k++] = nts[q];
            bench_one(s[i].type, s[i].K, s[i].M, nn, k, nth, secs);
        }
        return 0;
    }
    const uint32_t types[] = {SMELT_TYPE_F32,  SMELT_TYPE_F16,  SMELT_TYPE_Q4_0, SMELT_TYPE_Q4_1, SMELT_TYPE_Q8_0,
                              SMELT_TYPE_Q5_0, SMELT_TYPE_Q5_1, SMELT_TYPE_Q2_K, SMELT_TYPE_Q3_K, SMELT_TYPE_Q4_K,
                              SMELT_TYPE_Q5_K, SMELT_TYPE_Q6_K, SMELT_TYPE_IQ4_NL, SMELT_TYPE_IQ4_XS};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) bench_one(types[ti], 1536, 1536, nts, n_nt, nth, secs);
    return 0;
}
