/* Sampler tests: greedy, seeding, the sampled distribution, exact truncation
 * sets of top-k/top-p/min-p against a straightforward reference, penalties,
 * log-probabilities, non-finite logits and parameter validation. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "smelt/sample.h"

/* test-local PRNG for building inputs (independent of the sampler's) */
static uint64_t t_state = 0x1234567;
static double t_unif(void) {
    t_state = t_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(t_state >> 11) * 0x1.0p-53;
}
static float t_normal(void) {
    double u1 = t_unif(), u2 = t_unif();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static struct smelt_sampler_params plain(void) {
    struct smelt_sampler_params p;
    smelt_sampler_params_default(&p);
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    return p;
}

static struct smelt_sampler *mk(const struct smelt_sampler_params *p, int32_t nv) {
    struct smelt_sampler *s = NULL;
    enum smelt_status st = smelt_sampler_new(p, nv, &s);
    CHECKF(st == SMELT_OK && s, "sampler_new: %s", smelt_last_error());
    return s;
}

static int32_t ref_argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void test_greedy(void) {
    struct smelt_sampler_params p = plain();
    p.temp = 0.0f;
    enum { NV = 1000 };
    static float x[NV];
    struct smelt_sampler *s = mk(&p, NV);
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < NV; i++) x[i] = t_normal() * 3.0f;
        if (trial % 3 == 0) { /* ties: lowest id wins */
            int a = (int)(t_unif() * NV), b = (int)(t_unif() * NV);
            x[a] = x[b] = 100.0f;
        }
        int32_t got = smelt_sampler_sample(s, x, NULL);
        CHECKF(got == ref_argmax(x, NV), "trial %d: got %d want %d", trial, got, ref_argmax(x, NV));
    }
    /* negative temperature is greedy too, and top-k etc. do not matter */
    smelt_sampler_free(s);
    p.temp = -1.0f;
    p.top_k = 3;
    p.top_p = 0.5f;
    p.min_p = 0.2f;
    s = mk(&p, NV);
    for (int i = 0; i < NV; i++) x[i] = t_normal();
    CHECK(smelt_sampler_sample(s, x, NULL) == ref_argmax(x, NV));
    smelt_sampler_free(s);
}

static void test_seed(void) {
    enum { NV = 500, N = 200 };
    static float x[NV];
    for (int i = 0; i < NV; i++) x[i] = t_normal();
    struct smelt_sampler_params p = plain();
    p.seed = 7;
    int32_t a[N], b[N], c[N];
    struct smelt_sampler *s1 = mk(&p, NV), *s2 = mk(&p, NV);
    p.seed = 8;
    struct smelt_sampler *s3 = mk(&p, NV);
    for (int i = 0; i < N; i++) {
        a[i] = smelt_sampler_sample(s1, x, NULL);
        b[i] = smelt_sampler_sample(s2, x, NULL);
        c[i] = smelt_sampler_sample(s3, x, NULL);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    int same = 0;
    for (int i = 0; i < N; i++) same += a[i] == c[i];
    /* near-uniform over 500 tokens: agreement by chance is ~N/500 */
    CHECKF(same < 20, "seeds 7 and 8 agree on %d of %d draws", same, N);
    /* reset replays the sequence */
    smelt_sampler_reset(s1);
    for (int i = 0; i < N; i++) b[i] = smelt_sampler_sample(s1, x, NULL);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(smelt_sampler_seed(s1) == 7);
    smelt_sampler_free(s1);
    smelt_sampler_free(s2);
    smelt_sampler_free(s3);
    /* a random seed is resolved to a concrete value */
    p.seed = SMELT_SEED_RANDOM;
    struct smelt_sampler *r1 = mk(&p, NV), *r2 = mk(&p, NV);
    CHECK(smelt_sampler_seed(r1) != SMELT_SEED_RANDOM);
    CHECK(smelt_sampler_seed(r1) != smelt_sampler_seed(r2));
    smelt_sampler_free(r1);
    smelt_sampler_free(r2);
}

/* Pearson chi-square of N draws against probabilities q[k]. */
static double chi_square(const long *cnt, const double *q, int k, long n) {
    double chi = 0;
    for (int i = 0; i < k; i++) {
        double e = q[i] * (double)n;
        chi += ((double)cnt[i] - e) * ((double)cnt[i] - e) / e;
    }
    return chi;
}

static void test_distribution(void) {
    enum { K = 6, N = 100000 };
    const double prob[K] = {0.05, 0.1, 0.15, 0.2, 0.22, 0.28};
    float x[K];
    for (int i = 0; i < K; i++) x[i] = (float)log(prob[i]) + 3.0f; /* shift: softmax-invariant */
    for (int variant = 0; variant < 2; variant++) {
        struct smelt_sampler_params p = plain();
        p.temp = variant == 0 ? 1.0f : 0.5f;
        p.seed = 1000 + (uint64_t)variant;
        double q[K], z = 0;
        for (int i = 0; i < K; i++) z += q[i] = pow(prob[i], 1.0 / p.temp);
        for (int i = 0; i < K; i++) q[i] /= z;
        struct smelt_sampler *s = mk(&p, K);
        long cnt[K] = {0};
        for (int i = 0; i < N; i++) {
            int32_t t = smelt_sampler_sample(s, x, NULL);
            CHECK(t >= 0 && t < K);
            if (t >= 0 && t < K) cnt[t]++;
        }
        double chi = chi_square(cnt, q, K, N);
        /* df = 5: P(chi2 > 25.7) = 1e-4 */
        CHECKF(chi < 25.7, "temp %g: chi-square %g too large", (double)p.temp, chi);
        smelt_sampler_free(s);
    }
}

/* ---- reference truncation ------------------------------------------------ */

static const float *g_ref_x;
static int cmp_rank(const void *a, const void *b) {
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    float xa = g_ref_x[ia], xb = g_ref_x[ib];
    if (xa != xb) return xa > xb ? -1 : 1;
    return ia < ib ? -1 : 1;
}

/* Straightforward reference: full sort, then top-k, top-p, min-p in order.
 * Writes the kept ids to keep (sorted by rank), returns how many. Sets
 * *razor when some boundary is too close to call in float arithmetic. */
static int ref_truncate(const float *x, int n, int top_k, float top_p, float min_p, int32_t *keep, int *razor) {
    g_ref_x = x;
    for (int i = 0; i < n; i++) keep[i] = i;
    qsort(keep, (size_t)n, sizeof *keep, cmp_rank);
    int m = n;
    if (top_k > 0 && top_k < m) m = top_k;
    if (top_p < 1.0f) {
        double z = 0, cum = 0;
        double mx = x[keep[0]];
        for (int i = 0; i < m; i++) z += exp((double)x[keep[i]] - mx);
        for (int i = 0; i < m; i++) {
            cum += exp((double)x[keep[i]] - mx) / z;
            if (fabs(cum - top_p) < 1e-4) *razor = 1;
            if (cum >= top_p) {
                m = i + 1;
                break;
            }
        }
    }
    if (min_p > 0.0f) {
        float thr = x[keep[0]] + logf(min_p);
        int w = 1;
        while (w < m && x[keep[w]] >= thr) w++;
        for (int i = 0; i < m; i++)
            if (fabsf(x[keep[i]] - thr) < 1e-4f) *razor = 1;
        m = w;
    }
    return m;
}

/* Observe the candidate set: with a huge temperature the survivors are drawn
 * almost uniformly, so enough draws reveal exactly which tokens survive. */
static int check_truncation(int nv, const float *x, int top_k, float top_p, float min_p, int draws, const char *what) {
    int32_t *keep = malloc((size_t)nv * sizeof *keep);
    char *in_ref = calloc((size_t)nv, 1), *seen = calloc((size_t)nv, 1);
    int razor = 0, ran = 0;
    int m = ref_truncate(x, nv, top_k, top_p, min_p, keep, &razor);
    if (razor) goto out; /* too close to call: caller retries with other logits */
    ran = 1;
    for (int i = 0; i < m; i++) in_ref[keep[i]] = 1;
    struct smelt_sampler_params p = plain();
    p.temp = 1e6f;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 99;
    struct smelt_sampler *s = mk(&p, nv);
    int outside = 0, n_seen = 0;
    for (int i = 0; i < draws; i++) {
        int32_t t = smelt_sampler_sample(s, x, NULL);
        if (t < 0 || t >= nv) {
            outside++;
            continue;
        }
        if (!in_ref[t]) outside++;
        if (!seen[t]) n_seen++;
        seen[t] = 1;
    }
    CHECKF(outside == 0, "%s: %d draws outside the reference set of %d", what, outside, m);
    CHECKF(n_seen == m, "%s: saw %d distinct tokens, reference keeps %d", what, n_seen, m);
    smelt_sampler_free(s);
out:
    free(keep);
    free(in_ref);
    free(seen);
    return ran;
}

static void test_truncation(void) {
    enum { NV = 64 };
    float x[NV];
    struct {
        int top_k;
        float top_p, min_p;
    } cfg[] = {
        {5, 1.0f, 0.0f},   {1, 1.0f, 0.0f},  {0, 0.5f, 0.0f},   {0, 0.9f, 0.0f},  {0, 1.0f, 0.1f},
        {0, 1.0f, 0.5f},   {10, 0.7f, 0.0f}, {10, 1.0f, 0.3f},  {20, 0.8f, 0.1f}, {0, 0.95f, 0.05f},
        {40, 0.95f, 0.05f}, {63, 0.3f, 0.0f}, {64, 0.99f, 0.0f}, {100, 1.0f, 0.0f},
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        for (int rep = 0; rep < 3; rep++) {
            int ran = 0;
            for (int attempt = 0; attempt < 20 && !ran; attempt++) {
                for (int i = 0; i < NV; i++) x[i] = t_normal() * 1.5f;
                if (rep == 2) x[7] = x[9] = x[11] = x[3]; /* ties */
                char what[96];
                snprintf(what, sizeof what, "cfg %zu (k=%d p=%g min_p=%g) rep %d", c, cfg[c].top_k,
                         (double)cfg[c].top_p, (double)cfg[c].min_p, rep);
                ran = check_truncation(NV, x, cfg[c].top_k, cfg[c].top_p, cfg[c].min_p, 40000, what);
            }
            CHECK(ran);
        }
    }
    /* large vocabulary, top-p without top-k: the nucleus (~hundreds of tokens)
     * needs several widening rounds of partial selection */
    enum { BIG = 5000 };
    static float y[BIG];
    for (int i = 0; i < BIG; i++) y[i] = (i % 25 == 0 ? 5.0f : -5.0f) + t_normal() * 0.3f;
    CHECK(check_truncation(BIG, y, 0, 0.9f, 0.0f, 20000, "big vocab top-p"));
    CHECK(check_truncation(BIG, y, 0, 1.0f, 0.6f, 20000, "big vocab min-p"));
    CHECK(check_truncation(BIG, y, 150, 1.0f, 0.0f, 20000, "big vocab top-k"));
}

/* ---- penalties ----------------------------------------------------------- */

static int32_t greedy_after(struct smelt_sampler_params p, const float *x, int nv, const int32_t *hist, int nh) {
    p.temp = 0.0f;
    struct smelt_sampler *s = mk(&p, nv);
    for (int i = 0; i < nh; i++) smelt_sampler_accept(s, hist[i]);
    int32_t t = smelt_sampler_sample(s, x, NULL);
    smelt_sampler_free(s);
    return t;
}

static void test_penalties(void) {
    struct smelt_sampler_params p = plain();
    const int32_t h0[] = {0}, h00[] = {0, 0};
    /* repetition, positive logit: 2.0 / pen vs 1.5 -> flips at pen = 4/3 */
    float a[] = {2.0f, 1.5f, -3.0f};
    p.repeat_penalty = 1.32f;
    CHECK(greedy_after(p, a, 3, h0, 1) == 0);
    p.repeat_penalty = 1.34f;
    CHECK(greedy_after(p, a, 3, h0, 1) == 1);
    /* count does not matter for the repetition penalty */
    CHECK(greedy_after(p, a, 3, h00, 2) == 1);
    /* repetition, negative logit: -1.0 * pen vs -1.4 -> flips at pen = 1.4 */
    float b[] = {-1.0f, -1.4f, -9.0f};
    p.repeat_penalty = 1.39f;
    CHECK(greedy_after(p, b, 3, h0, 1) == 0);
    p.repeat_penalty = 1.41f;
    CHECK(greedy_after(p, b, 3, h0, 1) == 1);
    /* frequency: 3 - 2 * f vs 2 -> flips at f = 0.5 */
    float c[] = {3.0f, 2.0f, 0.0f};
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.49f;
    CHECK(greedy_after(p, c, 3, h00, 2) == 0);
    p.frequency_penalty = 0.51f;
    CHECK(greedy_after(p, c, 3, h00, 2) == 1);
    /* presence: 3 - pres (count ignored) vs 2 -> flips at 1 */
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.99f;
    CHECK(greedy_after(p, c, 3, h00, 2) == 0);
    p.presence_penalty = 1.01f;
    CHECK(greedy_after(p, c, 3, h00, 2) == 1);
    /* combined: 3 - 0.5 - 2 * f vs 2 -> flips at f = 0.25 */
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.24f;
    CHECK(greedy_after(p, c, 3, h00, 2) == 0);
    p.frequency_penalty = 0.26f;
    CHECK(greedy_after(p, c, 3, h00, 2) == 1);
    /* combined with repetition: (3 / 1.2) - 0.3 = 2.2 vs 2 */
    p.repeat_penalty = 1.2f;
    p.presence_penalty = 0.3f;
    p.frequency_penalty = 0.0f;
    CHECK(greedy_after(p, c, 3, h00, 2) == 0);
    p.presence_penalty = 0.6f; /* 1.9 */
    CHECK(greedy_after(p, c, 3, h00, 2) == 1);
    /* window: token 0 falls out of the last 2 */
    const int32_t h023[] = {0, 2, 2};
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 5.0f;
    p.repeat_last_n = 2;
    CHECK(greedy_after(p, c, 3, h023, 3) == 0);
    p.repeat_last_n = 3;
    CHECK(greedy_after(p, c, 3, h023, 3) == 1);
    p.repeat_last_n = -1; /* everything */
    CHECK(greedy_after(p, c, 3, h023, 3) == 1);
    p.repeat_last_n = 0; /* disabled */
    CHECK(greedy_after(p, c, 3, h023, 3) == 0);
    /* a long history through the ring: only the last n count */
    {
        p.repeat_last_n = 4;
        p.presence_penalty = 0.0f;
        p.frequency_penalty = 0.3f;
        int32_t hist[50];
        for (int i = 0; i < 50; i++) hist[i] = i < 47 ? 0 : 2; /* last 4: 0,2,2,2 -> count(0) = 1 */
        CHECK(greedy_after(p, c, 3, hist, 50) == 0);       /* 3 - 0.3 > 2 */
        p.frequency_penalty = 1.1f;
        CHECK(greedy_after(p, c, 3, hist, 50) == 1); /* 3 - 1.1 < 2 */
    }
    /* reset forgets the history */
    {
        p.repeat_last_n = 64;
        p.presence_penalty = 5.0f;
        p.frequency_penalty = 0.0f;
        p.temp = 0.0f;
        struct smelt_sampler *s = mk(&p, 3);
        smelt_sampler_accept(s, 0);
        CHECK(smelt_sampler_sample(s, c, NULL) == 1);
        smelt_sampler_reset(s);
        CHECK(smelt_sampler_sample(s, c, NULL) == 0);
        smelt_sampler_accept(s, -5); /* out of range: ignored */
        smelt_sampler_accept(s, 3);
        CHECK(smelt_sampler_sample(s, c, NULL) == 0);
        smelt_sampler_free(s);
    }
    /* penalties do not touch the caller's logits */
    CHECK(c[0] == 3.0f && c[1] == 2.0f);
}

/* ---- logprobs ------------------------------------------------------------ */

static void test_logprobs(void) {
    struct smelt_sampler_params p = plain();
    p.n_logprobs = SMELT_MAX_TOP_LOGPROBS;
    enum { NV = 20 };
    float x[NV];
    for (int i = 0; i < NV; i++) x[i] = 500.0f + t_normal() * 4.0f; /* large offset: needs stable lse */
    x[3] = x[4];                                                   /* a tie */
    struct smelt_sampler *s = mk(&p, NV);
    struct smelt_token_logprobs lp;
    int32_t t = smelt_sampler_sample(s, x, &lp);
    CHECK(lp.token == t);
    CHECK(lp.n_top == NV);
    double mx = x[ref_argmax(x, NV)], z = 0;
    for (int i = 0; i < NV; i++) z += exp((double)x[i] - mx);
    double lse = mx + log(z);
    double sum = 0;
    for (int i = 0; i < lp.n_top; i++) {
        sum += exp((double)lp.top[i].logprob);
        int32_t id = lp.top[i].token;
        CHECK(id >= 0 && id < NV);
        if (id >= 0 && id < NV) CHECKF(fabs(lp.top[i].logprob - ((double)x[id] - lse)) < 1e-4, "top %d", i);
        if (i > 0) {
            CHECK(lp.top[i].logprob <= lp.top[i - 1].logprob);
            if (lp.top[i].logprob == lp.top[i - 1].logprob) CHECK(lp.top[i].token > lp.top[i - 1].token);
        }
    }
    CHECKF(fabs(sum - 1.0) < 1e-5, "sum of probabilities %g", sum);
    CHECK(fabs(lp.logprob - ((double)x[t] - lse)) < 1e-4);
    smelt_sampler_free(s);

    /* big vocabulary: top-n matches a reference sort; logprobs are of the raw
     * logits, unaffected by penalties and temperature */
    enum { BIG = 50000 };
    static float y[BIG];
    static int32_t order[BIG];
    for (int i = 0; i < BIG; i++) y[i] = t_normal() * 2.0f;
    p.n_logprobs = 5;
    p.temp = 0.3f;
    p.repeat_penalty = 1.5f;
    s = mk(&p, BIG);
    g_ref_x = y;
    for (int i = 0; i < BIG; i++) order[i] = i;
    qsort(order, BIG, sizeof *order, cmp_rank);
    smelt_sampler_accept(s, order[0]);
    t = smelt_sampler_sample(s, y, &lp);
    mx = y[order[0]];
    z = 0;
    for (int i = 0; i < BIG; i++) z += exp((double)y[i] - mx);
    lse = mx + log(z);
    CHECK(lp.n_top == 5);
    for (int i = 0; i < 5 && i < lp.n_top; i++) {
        CHECKF(lp.top[i].token == order[i], "top %d: %d vs %d", i, lp.top[i].token, order[i]);
        CHECK(fabs(lp.top[i].logprob - ((double)y[order[i]] - lse)) < 1e-4);
    }
    CHECK(fabs(lp.logprob - ((double)y[t] - lse)) < 1e-4);
    smelt_sampler_free(s);

    /* n_logprobs = 0: only the chosen token */
    p = plain();
    s = mk(&p, NV);
    smelt_sampler_sample(s, x, &lp);
    CHECK(lp.n_top == 0);
    smelt_sampler_free(s);
}

/* ---- non-finite logits --------------------------------------------------- */

static void test_nonfinite(void) {
    struct smelt_sampler_params p = plain();
    p.top_k = 0;
    enum { NV = 8 };
    float x[NV];
    struct smelt_token_logprobs lp;
    for (int greedy = 0; greedy < 2; greedy++) {
        p.temp = greedy ? 0.0f : 1.0f;
        p.n_logprobs = 3;
        struct smelt_sampler *s = mk(&p, NV);
        /* NaN is never chosen, even when it sits where the max would be */
        for (int i = 0; i < NV; i++) x[i] = (float)i * 0.1f;
        x[NV - 1] = NAN;
        x[2] = NAN;
        for (int i = 0; i < 2000; i++) {
            int32_t t = smelt_sampler_sample(s, x, &lp);
            CHECK(t != NV - 1 && t != 2);
            CHECK(!isnan(lp.logprob));
        }
        /* all -inf: deterministic lowest id */
        for (int i = 0; i < NV; i++) x[i] = -INFINITY;
        CHECK(smelt_sampler_sample(s, x, &lp) == 0);
        CHECK(smelt_sampler_sample(s, x, NULL) == 0);
        /* NaN at 0, -inf elsewhere: the first non-NaN */
        x[0] = NAN;
        CHECK(smelt_sampler_sample(s, x, &lp) == 1);
        /* all NaN: 0, no crash */
        for (int i = 0; i < NV; i++) x[i] = NAN;
        CHECK(smelt_sampler_sample(s, x, &lp) == 0);
        /* +inf dominates */
        for (int i = 0; i < NV; i++) x[i] = 1.0f;
        x[5] = INFINITY;
        for (int i = 0; i < 200; i++) CHECK(smelt_sampler_sample(s, x, &lp) == 5);
        CHECK(lp.logprob == 0.0f || fabsf(lp.logprob) < 1e-6f);
        /* one finite logit among -inf */
        for (int i = 0; i < NV; i++) x[i] = -INFINITY;
        x[6] = -3.0f;
        for (int i = 0; i < 100; i++) CHECK(smelt_sampler_sample(s, x, NULL) == 6);
        smelt_sampler_free(s);
    }
    /* tiny temperature does not overflow */
    p.temp = 1e-30f;
    p.top_k = 0;
    struct smelt_sampler *s = mk(&p, NV);
    for (int i = 0; i < NV; i++) x[i] = (float)i;
    for (int i = 0; i < 100; i++) CHECK(smelt_sampler_sample(s, x, NULL) == NV - 1);
    smelt_sampler_free(s);
}

static void test_params(void) {
    struct smelt_sampler_params p = plain();
    struct smelt_sampler *s = (struct smelt_sampler *)&p; /* must be reset to NULL on failure */
    CHECK(smelt_sampler_new(&p, 0, &s) == SMELT_ERR_INVALID_ARG && s == NULL);
    p.top_p = 0.0f;
    CHECK(smelt_sampler_new(&p, 10, &s) == SMELT_ERR_INVALID_ARG);
    p.top_p = 1.5f;
    CHECK(smelt_sampler_new(&p, 10, &s) == SMELT_ERR_INVALID_ARG);
    p = plain();
    p.min_p = 1.5f;
    CHECK(smelt_sampler_new(&p, 10, &s) == SMELT_ERR_INVALID_ARG);
    p = plain();
    p.n_logprobs = SMELT_MAX_TOP_LOGPROBS + 1;
    CHECK(smelt_sampler_new(&p, 10, &s) == SMELT_ERR_INVALID_ARG);
    CHECK(strlen(smelt_last_error()) > 0);
    p = plain();
    p.temp = -2.0f; /* greedy, fine */
    CHECK(smelt_sampler_new(&p, 10, &s) == SMELT_OK);
    smelt_sampler_free(s);
    smelt_sampler_free(NULL);
    struct smelt_sampler_params d;
    smelt_sampler_params_default(&d);
    CHECK(d.temp == 0.8f && d.top_k == 40 && d.top_p == 0.95f && d.min_p == 0.05f && d.repeat_penalty == 1.0f &&
          d.repeat_last_n == 64 && d.seed == SMELT_SEED_RANDOM);
    /* the defaults are valid */
    CHECK(smelt_sampler_new(&d, 10, &s) == SMELT_OK);
    smelt_sampler_free(s);
}

int main(void) {
    test_greedy();
    test_seed();
    test_distribution();
    test_truncation();
    test_penalties();
    test_logprobs();
    test_nonfinite();
    test_params();
    return CHECK_EXIT();
}
