/* Sampler chain: penalties -> top-k -> top-p -> min-p -> temperature -> draw.
 *
 * Semantics follow llama.cpp's samplers (llama-sampling.cpp):
 *   repetition: for every token seen in the last repeat_last_n accepted tokens,
 *               logit = logit <= 0 ? logit * penalty : logit / penalty
 *   presence/frequency (OpenAI): logit -= presence * (count > 0) + frequency * count
 *   top-k:  keep the k largest logits (ties broken by lower token id)
 *   top-p:  softmax over the candidates, sorted descending; keep the shortest
 *           prefix whose cumulative probability reaches p (at least one token)
 *   min-p:  keep candidates with logit >= max_logit + log(min_p)
 *   temperature and draw: p_i ~ exp((x_i - max) / temp) over the survivors.
 *
 * Working state is allocated once in smelt_sampler_new; sampling allocates nothing.
 * Penalty bookkeeping: counts[n_vocab] always holds the number of occurrences of
 * each token in the penalty window (a ring of the last repeat_last_n tokens, or
 * everything accepted when repeat_last_n == -1) and active[] lists the distinct
 * tokens in it, so applying penalties costs O(window), not O(n_vocab).
 *
 * Non-finite logits: NaN is treated as -inf (never chosen while something else
 * is available), +inf as FLT_MAX. If nothing is above -inf the lowest id that is
 * not NaN is returned (0 if every logit is NaN).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "smelt/sample.h"

struct smelt_sampler {
    struct smelt_sampler_params p;
    int32_t n_vocab;
    uint64_t seed;
    uint64_t rng[4];

    float *work;       /* [n_vocab] penalized, sanitized logits */
    int32_t *cand_id;  /* [n_vocab] candidate token ids */
    float *cand_x;     /* [n_vocab] candidate logits, parallel to cand_id */

    int32_t *counts;   /* [n_vocab] occurrences in the penalty window (NULL if penalties off) */
    int32_t *active;   /* [n_vocab] the distinct tokens with counts > 0, n_active of them */
    int32_t *active_pos; /* [n_vocab] index of a token in active (valid while its count > 0) */
    int32_t n_active;
    int32_t *ring;     /* [repeat_last_n] last accepted tokens (NULL unless repeat_last_n > 0) */
    int32_t ring_len;  /* entries used */
    int32_t ring_pos;  /* next slot to write */
};

/* ---- RNG: xoshiro256** seeded by splitmix64 (Blackman & Vigna) ---------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t st[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) st[i] = splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static uint64_t random_seed(void) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v && v != SMELT_SEED_RANDOM) return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ((uint64_t)getpid() << 32);
    v = splitmix64(&x);
    return v == SMELT_SEED_RANDOM ? 0 : v;
}

/* ---- parameters ---------------------------------------------------------- */

void smelt_sampler_params_default(struct smelt_sampler_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->presence_penalty = 0.0f;
    p->frequency_penalty = 0.0f;
    p->seed = SMELT_SEED_RANDOM;
    p->n_logprobs = 0;
}

static bool penalties_active(const struct smelt_sampler_params *p) {
    return p->repeat_last_n != 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

enum smelt_status smelt_sampler_new(const struct smelt_sampler_params *p, int32_t n_vocab,
                                    struct smelt_sampler **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: out is NULL");
    *out = NULL;
    if (!p) return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: params is NULL");
    if (n_vocab <= 0) return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: n_vocab %d must be > 0", (int)n_vocab);
    if (isnan(p->temp)) return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: temp is NaN");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) /* also rejects NaN; 1 means disabled */
        return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: top_p %g must be in (0, 1]", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: min_p %g must be in [0, 1]", (double)p->min_p);
    if (p->n_logprobs < 0 || p->n_logprobs > SMELT_MAX_TOP_LOGPROBS)
        return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: n_logprobs %d must be in [0, %d]", (int)p->n_logprobs,
                         SMELT_MAX_TOP_LOGPROBS);
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: repeat_penalty %g must be > 0", (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty))
        return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: presence/frequency penalties must be finite");
    if (p->repeat_last_n < -1)
        return smelt_err(SMELT_ERR_INVALID_ARG, "sampler: repeat_last_n %d must be >= -1", (int)p->repeat_last_n);

    struct smelt_sampler *s = smelt_calloc(1, sizeof *s);
    if (!s) return SMELT_ERR_NOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    size_t nv = (size_t)n_vocab;
    s->work = smelt_malloc(nv * sizeof(float));
    s->cand_id = smelt_malloc(nv * sizeof(int32_t));
    s->cand_x = smelt_malloc(nv * sizeof(float));
    if (!s->work || !s->cand_id || !s->cand_x) goto fail;
    if (penalties_active(p)) {
        s->counts = smelt_calloc(nv, sizeof(int32_t));
        s->active = smelt_malloc(nv * sizeof(int32_t));
        s->active_pos = smelt_malloc(nv * sizeof(int32_t));
        if (!s->counts || !s->active || !s->active_pos) goto fail;
        if (p->repeat_last_n > 0) {
            s->ring = smelt_malloc((size_t)p->repeat_last_n * sizeof(int32_t));
            if (!s->ring) goto fail;
        }
    }
    s->seed = p->seed == SMELT_SEED_RANDOM ? random_seed() : p->seed;
    rng_seed(s->rng, s->seed);
    *out = s;
    return SMELT_OK;
fail:
    smelt_sampler_free(s);
    return SMELT_ERR_NOMEM;
}

void smelt_sampler_free(struct smelt_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cand_id);
    free(s->cand_x);
    free(s->counts);
    free(s->active);
    free(s->active_pos);
    free(s->ring);
    free(s);
}

uint64_t smelt_sampler_seed(const struct smelt_sampler *s) { return s ? s->seed : 0; }

void smelt_sampler_accept(struct smelt_sampler *s, int32_t token) {
    if (!s || !s->counts || token < 0 || token >= s->n_vocab) return;
    if (s->ring) {
        int32_t cap = s->p.repeat_last_n;
        if (s->ring_len == cap) {
            int32_t old = s->ring[s->ring_pos];
            if (--s->counts[old] == 0) {
                /* swap-remove from the active list */
                int32_t at = s->active_pos[old], last = s->active[--s->n_active];
                s->active[at] = last;
                s->active_pos[last] = at;
            }
        } else {
            s->ring_len++;
        }
        s->ring[s->ring_pos] = token;
        s->ring_pos = (s->ring_pos + 1) % cap;
    }
    if (s->counts[token] == 0) {
        s->active_pos[token] = s->n_active;
        s->active[s->n_active++] = token;
    }
    if (s->counts[token] < INT32_MAX) s->counts[token]++;
}

void smelt_sampler_reset(struct smelt_sampler *s) {
    if (!s) return;
    if (s->counts) memset(s->counts, 0, (size_t)s->n_vocab * sizeof(int32_t));
    s->ring_len = 0;
    s->ring_pos = 0;
    s->n_active = 0;
    rng_seed(s->rng, s->seed);
}

/* ---- selection helpers --------------------------------------------------- */

/* a ranks before b: larger logit, ties to the lower id. */
static inline bool ranks_before(float xa, int32_t ia, float xb, int32_t ib) {
    return xa > xb || (xa == xb && ia < ib);
}

/* Min-heap (worst candidate at the root) sift-down over parallel arrays. */
static void heap_sift_down(float *x, int32_t *id, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ranks_before(x[w], id[w], x[l], id[l])) w = l;
        if (r < n && ranks_before(x[w], id[w], x[r], id[r])) w = r;
        if (w == i) return;
        float tx = x[i]; x[i] = x[w]; x[w] = tx;
        int32_t ti = id[i]; id[i] = id[w]; id[w] = ti;
        i = w;
    }
}

static void heap_sift_up(float *x, int32_t *id, size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        /* parent must be the worse one: if child is worse than parent, swap */
        if (!ranks_before(x[parent], id[parent], x[i], id[i])) return;
        float tx = x[i]; x[i] = x[parent]; x[parent] = tx;
        int32_t ti = id[i]; id[i] = id[parent]; id[parent] = ti;
        i = parent;
    }
}

/* Select the k best entries of src[0..n) that are > -inf into (x, id), sorted
 * best first. Returns the number selected (<= k). O(n log k). */
static size_t select_top(const float *src, size_t n, size_t k, float *x, int32_t *id) {
    size_t h = 0;
    if (k == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        float v = src[i];
        if (v == -INFINITY) continue;
        if (h < k) {
            x[h] = v;
            id[h] = (int32_t)i;
            heap_sift_up(x, id, h);
            h++;
        } else if (ranks_before(v, (int32_t)i, x[0], id[0])) {
            x[0] = v;
            id[0] = (int32_t)i;
            heap_sift_down(x, id, h, 0);
        }
    }
    /* heap sort: repeatedly move the worst to the end -> best first */
    for (size_t end = h; end > 1; end--) {
        float tx = x[0]; x[0] = x[end - 1]; x[end - 1] = tx;
        int32_t ti = id[0]; id[0] = id[end - 1]; id[end - 1] = ti;
        heap_sift_down(x, id, end - 1, 0);
    }
    return h;
}

/* Copy logits into s->work applying penalties; NaN -> -inf, +inf -> FLT_MAX.
 * Returns the maximum and counts the entries above -inf. The two full passes
 * are branch-free so the compiler vectorizes them. */
static float prepare(struct smelt_sampler *s, const float *logits, size_t *n_live) {
    const size_t n = (size_t)s->n_vocab;
    float *restrict w = s->work;
    for (size_t i = 0; i < n; i++) {
        float v = logits[i];
        v = v != v ? -INFINITY : v;
        w[i] = v > FLT_MAX ? FLT_MAX : v;
    }
    if (s->counts) {
        const float rp = s->p.repeat_penalty, pres = s->p.presence_penalty, freq = s->p.frequency_penalty;
        for (int32_t a = 0; a < s->n_active; a++) {
            int32_t t = s->active[a];
            float v = w[t];
            if (v == -INFINITY) continue;
            v = v <= 0.0f ? v * rp : v / rp;
            v -= (float)s->counts[t] * freq + pres;
            if (isnan(v)) v = -INFINITY;
            else if (v > FLT_MAX) v = FLT_MAX;
            w[t] = v;
        }
    }
    /* max and live count in 16 independent lanes (vectorizes without fast-math) */
    float lm[16];
    int32_t lc[16];
    for (int j = 0; j < 16; j++) {
        lm[j] = -INFINITY;
        lc[j] = 0;
    }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) {
            float v = w[i + (size_t)j];
            lm[j] = v > lm[j] ? v : lm[j];
            lc[j] += v != -INFINITY;
        }
    }
    float m = -INFINITY;
    size_t live = 0;
    for (int j = 0; j < 16; j++) {
        m = lm[j] > m ? lm[j] : m;
        live += (size_t)lc[j];
    }
    for (; i < n; i++) {
        m = w[i] > m ? w[i] : m;
        live += w[i] != -INFINITY;
    }
    *n_live = live;
    return m;
}

static int32_t first_not_nan(const float *logits, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (!isnan(logits[i])) return i;
    return 0;
}

static void fill_logprobs(const struct smelt_sampler *s, const float *logits, int32_t tok,
                          struct smelt_token_logprobs *lp) {
    const int32_t n = s->n_vocab;
    float m = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        float v = logits[i];
        if (v == INFINITY) v = FLT_MAX;
        if (v > m) m = v; /* NaN compares false */
    }
    double lse;
    if (m == -INFINITY) {
        lse = INFINITY; /* no mass anywhere: every logprob is -inf */
    } else {
        double sum = 0.0;
        for (int32_t i = 0; i < n; i++) {
            float v = logits[i];
            if (isnan(v) || v == -INFINITY) continue;
            if (v == INFINITY) v = FLT_MAX;
            sum += (double)expf(v - m);
        }
        lse = (double)m + log(sum);
    }
#define LOGPROB_OF(v)                                                                                   \
    ((isnan(v) || (v) == -INFINITY || lse == INFINITY) ? -INFINITY                                     \
                                                       : (float)((double)((v) == INFINITY ? FLT_MAX : (v)) - lse))
    lp->token = tok;
    lp->logprob = LOGPROB_OF(logits[tok]);
    lp->n_top = 0;
    int32_t k = s->p.n_logprobs < n ? s->p.n_logprobs : n;
    if (k <= 0) return;
    /* Top-k over raw logits with a small insertion list (k <= 20). NaN ranks last. */
    float bx[SMELT_MAX_TOP_LOGPROBS];
    int32_t bi[SMELT_MAX_TOP_LOGPROBS];
    int32_t h = 0;
    for (int32_t i = 0; i < n; i++) {
        float v = logits[i];
        if (isnan(v)) v = -INFINITY;
        if (h == k && !ranks_before(v, i, bx[h - 1], bi[h - 1])) continue;
        int32_t j = h < k ? h++ : k - 1;
        while (j > 0 && ranks_before(v, i, bx[j - 1], bi[j - 1])) {
            bx[j] = bx[j - 1];
            bi[j] = bi[j - 1];
            j--;
        }
        bx[j] = v;
        bi[j] = i;
    }
    for (int32_t j = 0; j < h; j++) {
        lp->top[j].token = bi[j];
        lp->top[j].logprob = LOGPROB_OF(logits[bi[j]]);
    }
    lp->n_top = h;
#undef LOGPROB_OF
}

/* Truncate the sorted candidate prefix [0, n) for top-p. Returns the new count,
 * or 0 if the mass within [0, n) does not reach the target (caller widens). */
static size_t top_p_cut(const float *x, size_t n, float m, double target) {
    double cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += (double)expf(x[i] - m);
        if (cum >= target) return i + 1;
    }
    return 0;
}

int32_t smelt_sampler_sample(struct smelt_sampler *s, const float *logits, struct smelt_token_logprobs *lp) {
    if (!s || !logits) return 0;
    const size_t nv = (size_t)s->n_vocab;
    const struct smelt_sampler_params *p = &s->p;
    size_t n_live = 0;
    float m = prepare(s, logits, &n_live);
    int32_t tok;

    if (m == -INFINITY) {
        tok = first_not_nan(logits, s->n_vocab);
        goto done;
    }
    if (!(p->temp > 0.0f)) {
        /* greedy: first index holding the maximum */
        tok = 0;
        for (size_t i = 0; i < nv; i++)
            if (s->work[i] == m) { tok = (int32_t)i; break; }
        goto done;
    }

    float *cx = s->cand_x;
    int32_t *ci = s->cand_id;
    size_t n = 0;
    bool sorted = false;
    const bool use_top_k = p->top_k > 0 && (size_t)p->top_k < n_live;
    const bool use_top_p = p->top_p < 1.0f;

    if (use_top_k) {
        n = select_top(s->work, nv, (size_t)p->top_k, cx, ci);
        sorted = true;
        if (use_top_p) {
            double z = 0.0;
            for (size_t i = 0; i < n; i++) z += (double)expf(cx[i] - m);
            size_t c = top_p_cut(cx, n, m, (double)p->top_p * z);
            if (c) n = c;
        }
    } else if (use_top_p) {
        /* No top-k. A histogram of the probability mass by distance below the
         * maximum (1/8 nat buckets) predicts how many tokens the nucleus
         * needs; one partial selection of that many (plus a bucket of margin)
         * is then cut exactly. If rounding makes it fall short, widen. */
        enum { NB = 256 };
        double bmass[NB];
        size_t bcnt[NB];
        for (int b = 0; b < NB; b++) {
            bmass[b] = 0.0;
            bcnt[b] = 0;
        }
        double z = 0.0;
        for (size_t i = 0; i < nv; i++) {
            float d = m - s->work[i];
            if (!(d < 1e30f)) continue; /* -inf: no mass */
            double e = (double)expf(-d);
            int b = d < (float)(NB - 1) / 8.0f ? (int)(d * 8.0f) : NB - 1;
            bmass[b] += e;
            bcnt[b]++;
            z += e;
        }
        const double target = (double)p->top_p * z;
        size_t k = 0;
        double cum = 0.0;
        for (int b = 0; b < NB; b++) {
            cum += bmass[b];
            k += bcnt[b];
            if (cum >= target) {
                if (b + 1 < NB) k += bcnt[b + 1];
                break;
            }
        }
        if (k < 64) k = 64;
        for (;;) {
            if (k >= n_live) k = n_live;
            n = select_top(s->work, nv, k, cx, ci);
            size_t c = top_p_cut(cx, n, m, target);
            if (c) { n = c; break; }
            if (k == n_live) break; /* rounding: keep everything */
            k *= 8;
        }
        sorted = true;
    } else {
        for (size_t i = 0; i < nv; i++) {
            if (s->work[i] == -INFINITY) continue;
            cx[n] = s->work[i];
            ci[n] = (int32_t)i;
            n++;
        }
    }

    if (p->min_p > 0.0f && n > 1) {
        const float thr = m + logf(p->min_p); /* the maximum m is always a candidate */
        size_t w = 0;
        if (sorted) {
            w = 1;
            while (w < n && cx[w] >= thr) w++;
        } else {
            for (size_t i = 0; i < n; i++) {
                if (cx[i] >= thr) {
                    cx[w] = cx[i];
                    ci[w] = ci[i];
                    w++;
                }
            }
        }
        if (w > 0) n = w;
    }

    /* temperature + draw */
    {
        double inv_td = 1.0 / (double)p->temp;
        const float inv_t = inv_td > (double)FLT_MAX ? FLT_MAX : (float)inv_td;
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
            cx[i] = expf((cx[i] - m) * inv_t); /* reuse as weights */
            sum += (double)cx[i];
        }
        tok = ci[0];
        if (sum > 0.0 && isfinite(sum)) {
            double u = rng_uniform(s->rng) * sum, acc = 0.0;
            tok = ci[n - 1];
            for (size_t i = 0; i < n; i++) {
                acc += (double)cx[i];
                if (u < acc) { tok = ci[i]; break; }
            }
        } else {
            /* cannot happen (the maximum always survives with weight 1); stay deterministic */
            (void)rng_next(s->rng);
        }
    }

done:
    if (lp) fill_logprobs(s, logits, tok, lp);
    return tok;
}
