/* Scratch benchmark: time per sample for common settings and vocab sizes.
 * cc -O2 -D_GNU_SOURCE -Iinclude dev/sample/bench_sampler.c build-sample/libsmelt.a -lm -lcrypto -lpcre2-8 -lutf8proc -lcjson -o /tmp/bench_sampler */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "smelt/sample.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
    int sizes[] = {49152, 262144};
    for (int si = 0; si < 2; si++) {
        int nv = sizes[si];
        float *x = malloc(nv * sizeof *x);
        srand(1);
        for (int i = 0; i < nv; i++) x[i] = (float)rand() / RAND_MAX * 10.0f - 5.0f + (i % 97 == 0 ? 8.0f : 0.0f);
        const char *names[] = {"greedy", "default(k40,p.95,minp.05)", "top_p .95 only", "temp only", "default+logprobs5"};
        for (int c = 0; c < 5; c++) {
            struct smelt_sampler_params p;
            smelt_sampler_params_default(&p);
            p.seed = 1;
            if (c == 0) p.temp = 0;
            if (c == 2) { p.top_k = 0; p.min_p = 0; }
            if (c == 3) { p.top_k = 0; p.min_p = 0; p.top_p = 1; }
            if (c == 4) p.n_logprobs = 5;
            struct smelt_sampler *s;
            smelt_sampler_new(&p, nv, &s);
            struct smelt_token_logprobs lp;
            int n = 200;
            double t0 = now();
            for (int i = 0; i < n; i++) smelt_sampler_sample(s, x, c == 4 ? &lp : NULL);
            printf("n_vocab %6d %-28s %8.1f us/sample\n", nv, names[c], (now() - t0) / n * 1e6);
            smelt_sampler_free(s);
        }
        free(x);
    }
}
