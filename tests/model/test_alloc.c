/* A decode step (one token, logits for it) and a sampling step make zero heap
 * allocations once the context is warm. malloc & co. are wrapped at link time
 * (-Wl,--wrap) and counted while `counting` is set. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "smelt/model.h"
#include "smelt/sample.h"

static bool counting;
static long n_allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n) {
    if (counting) n_allocs++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t s) {
    if (counting) n_allocs++;
    return __real_calloc(n, s);
}
void *__wrap_realloc(void *p, size_t n) {
    if (counting) n_allocs++;
    return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n) {
    if (counting) n_allocs++;
    return __real_posix_memalign(p, a, n);
}

int main(int argc, char **argv) {
    struct smelt_model *m;
    if (argc < 2 || smelt_model_load(argv[1], &m)) {
        fprintf(stderr, "%s\n", smelt_last_error());
        return 1;
    }
    struct smelt_ctx_params cp;
    smelt_ctx_params_default(&cp);
    cp.n_ctx = 128;
    cp.n_threads = 2;
    struct smelt_ctx *c;
    CHECK(smelt_ctx_new(m, &cp, &c) == SMELT_OK);
    struct smelt_sampler_params sp;
    smelt_sampler_params_default(&sp);
    sp.seed = 1;
    sp.n_logprobs = 5;
    struct smelt_sampler *s;
    CHECK(smelt_sampler_new(&sp, smelt_model_n_vocab(m), &s) == SMELT_OK);
    int32_t prompt[8] = {1, 9690, 198, 2683, 359, 253, 5356, 5646};
    int32_t pos[8], seq[8] = {0};
    for (int i = 0; i < 8; i++) pos[i] = i;
    struct smelt_batch b = {.n = 8, .token = prompt, .pos = pos, .seq = seq};
    CHECK(smelt_decode(c, &b) == SMELT_OK);
    struct smelt_token_logprobs lp;
    int32_t t = smelt_sampler_sample(s, smelt_logits(c, 7), &lp);
    /* warm: one step outside the counted region */
    int32_t p = 8, sq = 0;
    struct smelt_batch one = {.n = 1, .token = &t, .pos = &p, .seq = &sq};
    CHECK(smelt_decode(c, &one) == SMELT_OK);
    for (int step = 0; step < 8; step++) {
        counting = true;
        t = smelt_sampler_sample(s, smelt_logits(c, 0), &lp);
        smelt_sampler_accept(s, t);
        p++;
        enum smelt_status st = smelt_decode(c, &one);
        counting = false;
        CHECK(st == SMELT_OK);
    }
    printf("heap allocations during 8 decode+sample steps: %ld\n", n_allocs);
    CHECK(n_allocs == 0);
    smelt_sampler_free(s);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return CHECK_EXIT();
}
